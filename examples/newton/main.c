/* examples/newton -- what second derivatives are for: Newton's method
 * against gradient descent.
 *
 * Logistic regression of Iris versicolor (0) against virginica (1), the two
 * classes that overlap (setosa would be separable and its fit unbounded):
 * 100 rows of data/iris.csv, the 4 measurements standardised, and a bias.
 * All three fitters start at theta = 0 (loss log 2):
 *   Newton        theta -= (H + 1e-9 I)^-1 grad, H = ag_hessian (5 x 5),
 *                 solved by Cholesky;
 *   Hessian-free  the same system by conjugate gradient, each step one
 *                 Hessian-vector product (ag_hvp), H never formed;
 *   GD            theta -= 1.0 grad (a fixed step: the loss's curvature is
 *                 at most 0.25 lambda_max(X^T X / N) = 0.74 here, so 1.0 is
 *                 stable, under 2 / curvature).
 * Newton converges quadratically (the digits double per iteration);
 * gradient descent linearly, at a rate set by the condition number of H.
 * Exits 1 unless Newton's gradient is under 1e-8 after 10 iterations and
 * its loss below what gradient descent reaches in 1000. */
#include <stdio.h>

#include "newton.h"

#define NEWTON_ITERATIONS 10
#define GD_ITERATIONS 1000
#define DAMPING 1e-9
#define GD_STEP 1.0

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/iris.csv";
    logreg m;
    static double newton_loss[NEWTON_ITERATIONS + 1], newton_grad[NEWTON_ITERATIONS + 1],
        cg_loss[NEWTON_ITERATIONS + 1], gd_loss[GD_ITERATIONS + 1];
    lr_run newton = {.loss = newton_loss, .grad = newton_grad}, cg = {.loss = cg_loss}, gd = {.loss = gd_loss};
    if (!logreg_init(&m, path) || !logreg_fit(&m, LR_NEWTON, NEWTON_ITERATIONS, DAMPING, &newton) ||
        !logreg_fit(&m, LR_NEWTON_CG, NEWTON_ITERATIONS, DAMPING, &cg) ||
        !logreg_fit(&m, LR_GD, GD_ITERATIONS, GD_STEP, &gd)) {
        fprintf(stderr, "newton: %s\n", logreg_error(&m));
        logreg_free(&m);
        return 1;
    }
    printf("Logistic regression, Iris versicolor vs virginica: %d rows, %d standardised features + bias\n",
           ag_tensor_dim(m.X, 0), LR_FEATURES);
    printf("loss L = mean softplus(z) - y z, z = X theta, from theta = 0\n\n");
    printf("iter  Newton (ag_hessian)  |grad L|   Hessian-free (CG, ag_hvp)  gradient descent (step %.1f)\n",
           GD_STEP);
    for (int k = 0; k <= NEWTON_ITERATIONS; k++)
        printf("%4d  %.15f    %-9.3g  %.15f          %.15f\n", k, newton_loss[k], newton_grad[k], cg_loss[k],
               gd_loss[k]);
    const int later[] = {20, 50, 100, 200, 500, GD_ITERATIONS};
    for (size_t i = 0; i < sizeof later / sizeof *later; i++)
        printf("%4d  %59s%.15f\n", later[i], "", gd_loss[later[i]]);
    printf("\n|grad L| at the end: Newton %.3g after %d iterations, Hessian-free %.3g (%ld Hessian-vector "
           "products), gradient descent %.3g after %d\n",
           newton.grad_norm, NEWTON_ITERATIONS, cg.grad_norm, cg.hvps, gd.grad_norm, GD_ITERATIONS);
    bool ok = newton.grad_norm < 1e-8 && newton_loss[NEWTON_ITERATIONS] < gd_loss[GD_ITERATIONS];
    printf("%s: Newton's gradient %s 1e-8 and its loss %s gradient descent's after %d steps\n",
           ok ? "PASS" : "FAIL", newton.grad_norm < 1e-8 ? "<" : "NOT <",
           newton_loss[NEWTON_ITERATIONS] < gd_loss[GD_ITERATIONS] ? "below" : "NOT below", GD_ITERATIONS);
    logreg_free(&m);
    return ok ? 0 : 1;
}
