/* test_newton.c -- examples/newton: logistic regression on Iris versicolor
 * vs virginica. The engine's Hessian against its closed form, and Newton's
 * method (ag_hessian), Hessian-free Newton (ag_hvp) and gradient descent
 * compared, with the gradient at the end recomputed here in plain loops. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "newton.h"

/* grad L = X^T (s(X theta) - y) / N in plain loops (s = sigmoid), |grad L| */
static double plain_gradient_norm(const logreg *m)
{
    int n = ag_tensor_dim(m->X, 0);
    const double *X = ag_tensor_data(m->X), *y = ag_tensor_data(m->y), *theta = ag_tensor_data(m->theta);
    double g[LR_DIM] = {0}, norm2 = 0.0;
    for (int i = 0; i < n; i++) {
        double z = 0.0;
        for (int j = 0; j < LR_DIM; j++) z += X[i * LR_DIM + j] * theta[j];
        double s = 1.0 / (1.0 + exp(-z));
        for (int j = 0; j < LR_DIM; j++) g[j] += X[i * LR_DIM + j] * (s - y[i]) / n;
    }
    for (int j = 0; j < LR_DIM; j++) norm2 += g[j] * g[j];
    return sqrt(norm2);
}

static void init(logreg *m)
{
    ck_assert_msg(logreg_init(m, "data/iris.csv"), "%s", logreg_error(m));
    ck_assert_int_eq(ag_tensor_dim(m->X, 0), 100); /* 50 versicolor + 50 virginica */
}

/* At theta = 0 every s(z) = 1/2, so L = log 2 and
 * H = X^T diag(1/4) X / N = (X^T X) / (4 N), computed here from X. */
START_TEST(hessian_at_zero_is_a_quarter_of_the_gram_matrix)
{
    logreg m;
    init(&m);
    memset(ag_tensor_data(m.theta), 0, LR_DIM * sizeof(double));
    ck_assert(ag_graph_forward(m.g));
    ck_assert_close(ag_node_value(m.loss)[0], log(2.0), 1e-15);
    ag_tensor *H = ag_hessian(m.g, m.loss, m.theta_leaf);
    ck_assert_msg(H != NULL, "%s", ag_graph_error(m.g));
    int n = ag_tensor_dim(m.X, 0);
    const double *X = ag_tensor_data(m.X);
    for (int j = 0; j < LR_DIM; j++)
        for (int k = 0; k < LR_DIM; k++) {
            double want = 0.0;
            for (int i = 0; i < n; i++) want += X[i * LR_DIM + j] * X[i * LR_DIM + k] / (4.0 * n);
            ck_assert_close(ag_tensor_data(H)[j * LR_DIM + k], want, 1e-14);
        }
    ck_assert_close(ag_tensor_data(H)[LR_DIM * LR_DIM - 1], 0.25, 1e-15); /* bias column: mean 1/4 */
    ag_tensor_free(H);
    logreg_free(&m);
}
END_TEST

/* After 10 iterations Newton's gradient is below 1e-8 (in plain loops) and
 * its loss below what gradient descent reaches in 10 and in 1000 steps;
 * Hessian-free Newton (CG on ag_hvp) lands on the same minimum. */
START_TEST(newton_converges_where_gradient_descent_crawls)
{
    logreg m;
    init(&m);
    double newton_loss[11], cg_loss[11], gd_loss[1001];
    lr_run newton = {.loss = newton_loss}, cg = {.loss = cg_loss}, gd = {.loss = gd_loss};
    ck_assert_msg(logreg_fit(&m, LR_NEWTON, 10, 1e-9, &newton), "%s", logreg_error(&m));
    double newton_grad = plain_gradient_norm(&m);
    ck_assert_msg(newton_grad < 1e-8, "Newton's |grad| after 10 iterations: %g", newton_grad);
    ck_assert_msg(logreg_fit(&m, LR_NEWTON_CG, 10, 1e-9, &cg), "%s", logreg_error(&m));
    double cg_grad = plain_gradient_norm(&m);
    ck_assert_msg(cg_grad < 1e-8, "Hessian-free |grad| after 10 iterations: %g", cg_grad);
    ck_assert(cg.hvps > 0 && cg.hvps <= 10 * 2 * LR_DIM); /* CG stops by 2 * 5 steps */
    ck_assert_close(cg_loss[10], newton_loss[10], 1e-14);
    ck_assert_msg(logreg_fit(&m, LR_GD, 1000, 1.0, &gd), "%s", logreg_error(&m));
    ck_assert_msg(newton_loss[10] < gd_loss[10], "Newton %.17g, GD %.17g after 10", newton_loss[10], gd_loss[10]);
    ck_assert_msg(newton_loss[10] < gd_loss[1000], "Newton %.17g after 10, GD %.17g after 1000", newton_loss[10],
                  gd_loss[1000]);
    ck_assert_msg(plain_gradient_norm(&m) > 1e-4, "GD's gradient after 1000 steps is small already");
    for (int k = 1; k <= 1000; k++) ck_assert(gd_loss[k] < gd_loss[k - 1]); /* step 1 < 2 / curvature */
    ck_assert_close(newton_loss[0], log(2.0), 1e-15);
    logreg_free(&m);
}
END_TEST

START_TEST(a_missing_file_is_named)
{
    logreg m;
    ck_assert(!logreg_init(&m, "data/no-such-iris.csv"));
    ck_assert_ptr_nonnull(strstr(logreg_error(&m), "data/no-such-iris.csv"));
    logreg_free(&m);
}
END_TEST

Suite *newton_suite(void)
{
    Suite *s = suite_create("newton");
    TCase *tc = tcase_create("Newton vs gradient descent");
    tcase_add_test(tc, hessian_at_zero_is_a_quarter_of_the_gram_matrix);
    tcase_add_test(tc, newton_converges_where_gradient_descent_crawls);
    tcase_add_test(tc, a_missing_file_is_named);
    suite_add_tcase(s, tc);
    return s;
}
