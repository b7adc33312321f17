/* test_ops_reduce.c -- max, min (of all and along an axis), logsumexp and
 * prod along an axis, where and expand on small cases worked out by hand
 * (the arithmetic in the comments; PyTorch's semantics where stated), their
 * gradients and tangents, and their error messages. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

GRAPH_FIXTURE_WITH_PARAM()


static ag_node *vec_param(int n, const double *values) { return param(1, (int[]){n}, values); }

/* equal within 1e-12 relative (the gradient of logsumexp [1000, 1000] carries
 * the rounding of y = 1000 + log 2, an ulp of 1000 being 1.1e-13), NaN
 * where NaN is expected, the same infinity where one is (assert_ieee_close) */
static void assert_doubles(const char *what, const double *got, size_t count, const double *expected)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < count; i++) assert_ieee_close(what, i, got[i], expected[i]);
}

static void assert_values(const ag_node *n, size_t count, const double *expected)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(n), count);
    assert_doubles("value", ag_node_value(n), count, expected);
}

/* the gradient of leaf x after a backward from `out` seeded with `seed` */
static void assert_grad(ag_node *out, const double *seed, const ag_node *x, size_t count, const double *expected)
{
    ck_assert_msg(ag_backward_seed(g, out, seed), "%s", ag_graph_error(g));
    assert_doubles("gradient", ag_node_grad(x), count, expected);
}

#define assert_error(expected) ck_assert_graph_error(g, expected)

/* ---- max and min ------------------------------------------------------------------ */

/* max [1, 3, 3] = 3, tied at two places: each gets half, grad [0, .5, .5];
 * min = 1, grad [1, 0, 0] */
START_TEST(max_and_min_split_the_gradient_among_ties)
{
    ag_node *x = vec_param(3, (double[]){1, 3, 3});
    ag_node *mx = ag_max(x);
    assert_values(mx, 1, (double[]){3});
    ck_assert_int_eq(ag_node_ndim(mx), 0);
    assert_grad(mx, NULL, x, 3, (double[]){0, 0.5, 0.5});
    ag_tensor_zero_grad(kept_tensor(0));
    ag_node *mn = ag_min(x);
    assert_values(mn, 1, (double[]){1});
    assert_grad(mn, (double[]){2}, x, 3, (double[]){2, 0, 0});
}
END_TEST

/* [[1, 5, -2], [5, 0, 3]]: max 5 at two places (seed 3: 1.5 each), min -2 */
START_TEST(max_of_a_matrix_by_hand)
{
    ag_node *x = param(2, (int[]){2, 3}, (double[]){1, 5, -2, 5, 0, 3});
    ag_node *mx = ag_max(x);
    assert_values(mx, 1, (double[]){5});
    assert_grad(mx, (double[]){3}, x, 6, (double[]){0, 1.5, 0, 1.5, 0, 0});
    assert_values(ag_min(x), 1, (double[]){-2});
}
END_TEST

/* torch.amax: a NaN anywhere makes the result NaN, and its backward
 * (gy / count) * [x == y] has count 0, so every gradient is NaN; an
 * infinity is an ordinary largest element */
START_TEST(max_propagates_nan_as_torch_amax)
{
    ag_node *x = vec_param(3, (double[]){1, NAN, 3});
    ag_node *mx = ag_max(x);
    assert_values(mx, 1, (double[]){NAN});
    assert_grad(mx, NULL, x, 3, (double[]){NAN, NAN, NAN});
    ag_node *y = vec_param(3, (double[]){1, INFINITY, -INFINITY});
    ag_node *ymax = ag_max(y), *ymin = ag_min(y);
    assert_values(ymax, 1, (double[]){INFINITY});
    assert_values(ymin, 1, (double[]){-INFINITY});
    assert_grad(ymax, NULL, y, 3, (double[]){0, 1, 0});
}
END_TEST

/* [[1, 3, 3], [4, 2, 0]]:
 *   max along 1 (and -1): [3, 4]; seed [1, 2]: [0, .5, .5, 2, 0, 0]
 *   max along 0: [4, 3, 3]; seed [1, 1, 1]: [0, 1, 1, 1, 0, 0]
 *   min along 0: [1, 2, 0]; min along 1: [1, 0] */
START_TEST(max_and_min_along_an_axis_by_hand)
{
    const double v[] = {1, 3, 3, 4, 2, 0};
    ag_node *x = param(2, (int[]){2, 3}, v);
    ag_node *rows = ag_max_axis(x, 1);
    assert_values(rows, 2, (double[]){3, 4});
    ck_assert_int_eq(ag_node_ndim(rows), 1);
    assert_grad(rows, (double[]){1, 2}, x, 6, (double[]){0, 0.5, 0.5, 2, 0, 0});
    assert_values(ag_max_axis(x, -1), 2, (double[]){3, 4});

    ag_node *x2 = param(2, (int[]){2, 3}, v);
    ag_node *cols = ag_max_axis(x2, 0);
    assert_values(cols, 3, (double[]){4, 3, 3});
    assert_grad(cols, NULL, x2, 6, (double[]){0, 1, 1, 1, 0, 0});
    assert_values(ag_min_axis(x2, 0), 3, (double[]){1, 2, 0});
    assert_values(ag_min_axis(x2, -2), 3, (double[]){1, 2, 0});
    assert_values(ag_min_axis(x2, 1), 2, (double[]){1, 0});
}
END_TEST

/* [2, 2, 2] (x[i][j][k] = v[4i + 2j + k]) along 1: y[i][k] = max(x[i][0][k], x[i][1][k])
 *   v = [1, 8, 5, 2,  7, 7, 3, 9] -> [max(1,5), max(8,2), max(7,3), max(7,9)] = [5, 8, 7, 9] */
START_TEST(max_along_the_middle_of_three_axes)
{
    ag_node *x = param(3, (int[]){2, 2, 2}, (double[]){1, 8, 5, 2, 7, 7, 3, 9});
    ag_node *y = ag_max_axis(x, 1);
    assert_values(y, 4, (double[]){5, 8, 7, 9});
    ck_assert_int_eq(ag_node_dim(y, 0), 2);
    ck_assert_int_eq(ag_node_dim(y, 1), 2);
    assert_grad(y, (double[]){1, 2, 3, 4}, x, 8, (double[]){0, 2, 1, 0, 3, 0, 0, 4});
}
END_TEST

/* forward mode through a tie: max [1, 3, 3] with tangent [10, 20, 40]
 * moves by the tied elements' mean, (20 + 40) / 2 = 30 (torch.amax's jvp) */
START_TEST(max_tangent_averages_the_ties)
{
    ag_node *x = vec_param(3, (double[]){1, 3, 3});
    ag_node *y = ag_max(x);
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){(double[]){10, 20, 40}}));
    assert_doubles("tangent", ag_node_tangent(y), 1, (double[]){30});
}
END_TEST

/* ---- logsumexp ---------------------------------------------------------------------- */

/* [0, log 3]: log(1 + 3) = log 4, gradient softmax = [1/4, 3/4];
 * [1000, 1000]: 1000 + log 2 (exp(1000) would overflow), gradient [1/2, 1/2] */
START_TEST(logsumexp_by_hand_and_for_large_values)
{
    ag_node *x = param(2, (int[]){2, 2}, (double[]){0, log(3.0), 1000, 1000});
    ag_node *y = ag_logsumexp_axis(x, 1);
    assert_values(y, 2, (double[]){log(4.0), 1000 + log(2.0)});
    assert_grad(y, (double[]){1, 2}, x, 4, (double[]){0.25, 0.75, 1, 1});
    /* along 0: log(e^0 + e^1000) = 1000 (+ e^-1000, below rounding), gradient [0, 1] */
    ag_node *x2 = param(2, (int[]){2, 2}, (double[]){0, log(3.0), 1000, 1000});
    ag_node *cols = ag_logsumexp_axis(x2, -2);
    assert_values(cols, 2, (double[]){1000, 1000});
    assert_grad(cols, NULL, x2, 4, (double[]){0, 0, 1, 1});
}
END_TEST

/* torch.logsumexp: [-Inf, -Inf] -> log 0 = -Inf (the shift taken as 0, not
 * -Inf - -Inf = NaN); [1, Inf] -> Inf; [-Inf, 0] -> 0. The backward is
 * gy exp(x - y): [-Inf, -Inf] gets exp(-Inf - -Inf) = NaN, [1, Inf] gets
 * [exp(-Inf), exp(Inf - Inf)] = [0, NaN], [-Inf, 0] gets [0, 1]. */
START_TEST(logsumexp_of_infinities_as_torch)
{
    ag_node *x = param(2, (int[]){3, 2}, (double[]){-INFINITY, -INFINITY, 1, INFINITY, -INFINITY, 0});
    ag_node *y = ag_logsumexp_axis(x, 1);
    assert_values(y, 3, (double[]){-INFINITY, INFINITY, 0});
    assert_grad(y, NULL, x, 6, (double[]){NAN, NAN, 0, NAN, 0, 1});
}
END_TEST

/* jvp = sum softmax * t: [0, log 3] with tangent [4, 8]: 4/4 + 8 * 3/4 = 7 */
START_TEST(logsumexp_tangent_is_the_softmax_mean)
{
    ag_node *x = vec_param(2, (double[]){0, log(3.0)});
    ag_node *y = ag_logsumexp_axis(x, 0);
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){(double[]){4, 8}}));
    assert_doubles("tangent", ag_node_tangent(y), 1, (double[]){7});
}
END_TEST

/* ---- prod ------------------------------------------------------------------------------- */

/* [2, 3, 4]: 24, gradient the others' products [12, 8, 6];
 * one zero [2, 0, 4]: 0, gradient [0 * 4, 2 * 4, 2 * 0] = [0, 8, 0];
 * two zeros [0, 3, 0]: 0, gradient [3 * 0, 0 * 0, 0 * 3] = [0, 0, 0] */
START_TEST(prod_gradient_is_the_product_of_the_others_even_at_zero)
{
    ag_node *x = param(2, (int[]){3, 3}, (double[]){2, 3, 4, 2, 0, 4, 0, 3, 0});
    ag_node *y = ag_prod_axis(x, 1);
    assert_values(y, 3, (double[]){24, 0, 0});
    assert_grad(y, NULL, x, 9, (double[]){12, 8, 6, 0, 8, 0, 0, 0, 0});
}
END_TEST

/* along 0 of [[1, 2], [0, 5], [3, 4]]: [1 * 0 * 3, 2 * 5 * 4] = [0, 40];
 * seed [1, 2]: column 0 gets [0 * 3, 1 * 3, 1 * 0] = [0, 3, 0],
 * column 1 gets 2 * [5 * 4, 2 * 4, 2 * 5] = [40, 16, 20] */
START_TEST(prod_along_the_first_axis_by_hand)
{
    ag_node *x = param(2, (int[]){3, 2}, (double[]){1, 2, 0, 5, 3, 4});
    ag_node *y = ag_prod_axis(x, 0);
    assert_values(y, 2, (double[]){0, 40});
    assert_grad(y, (double[]){1, 2}, x, 6, (double[]){0, 40, 3, 16, 0, 20});
}
END_TEST

/* jvp of prod [2, 0, 4] with tangent [1, 1, 1]: 0*4*1 + 2*4*1 + 2*0*1 = 8 */
START_TEST(prod_tangent_through_a_zero)
{
    ag_node *x = vec_param(3, (double[]){2, 0, 4});
    ag_node *y = ag_prod_axis(x, -1);
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){(double[]){1, 1, 1}}));
    assert_doubles("tangent", ag_node_tangent(y), 1, (double[]){8});
}
END_TEST

/* ---- where -------------------------------------------------------------------------------- */

/* cond [1, 0, NaN, -0]: NaN != 0 picks a, -0 == 0 picks b:
 * where(cond, [10, 20, 30, 40], [-1, -2, -3, -4]) = [10, -2, 30, -4];
 * seed ones: ga = [1, 0, 1, 0], gb = [0, 1, 0, 1] */
START_TEST(where_picks_by_the_condition)
{
    ag_node *cond = ag_constant(g, 1, (int[]){4}, (double[]){1, 0, NAN, -0.0});
    ag_node *a = vec_param(4, (double[]){10, 20, 30, 40}), *b = vec_param(4, (double[]){-1, -2, -3, -4});
    ag_node *y = ag_where(cond, a, b);
    assert_values(y, 4, (double[]){10, -2, 30, -4});
    assert_grad(y, NULL, a, 4, (double[]){1, 0, 1, 0});
    assert_doubles("gradient of b", ag_node_grad(b), 4, (double[]){0, 1, 0, 1});
}
END_TEST

/* cond [2, 1] = [[1], [0]], a [3] = [1, 2, 3], b a scalar 7 -> [2, 3]:
 * [[1, 2, 3], [7, 7, 7]]; seed [[1, 2, 3], [4, 5, 6]]: ga = the first row
 * [1, 2, 3], gb = 4 + 5 + 6 = 15 */
START_TEST(where_broadcasts_its_three_operands)
{
    ag_node *cond = ag_constant(g, 2, (int[]){2, 1}, (double[]){1, 0});
    ag_node *a = vec_param(3, (double[]){1, 2, 3}), *b = param(0, NULL, (double[]){7});
    ag_node *y = ag_where(cond, a, b);
    assert_values(y, 6, (double[]){1, 2, 3, 7, 7, 7});
    ck_assert_int_eq(ag_node_dim(y, 0), 2);
    ck_assert_int_eq(ag_node_dim(y, 1), 3);
    assert_grad(y, (double[]){1, 2, 3, 4, 5, 6}, a, 3, (double[]){1, 2, 3});
    assert_doubles("gradient of b", ag_node_grad(b), 1, (double[]){15});
}
END_TEST

/* A condition that is a parameter requiring grad takes none: its gradient
 * (set to 0.25 by hand) is untouched by the backward. */
START_TEST(where_never_writes_the_condition_gradient)
{
    ag_node *cond = vec_param(2, (double[]){0, 1});
    double *cond_grad = ag_tensor_grad(kept_tensor(0));
    cond_grad[0] = cond_grad[1] = 0.25;
    ag_node *a = vec_param(2, (double[]){1, 2}), *b = vec_param(2, (double[]){3, 4});
    ag_node *y = ag_where(cond, a, b);
    assert_values(y, 2, (double[]){3, 2});
    assert_grad(y, (double[]){5, 6}, a, 2, (double[]){0, 6});
    assert_doubles("gradient of b", ag_node_grad(b), 2, (double[]){5, 0});
    assert_doubles("gradient of the condition", cond_grad, 2, (double[]){0.25, 0.25});
}
END_TEST

/* forward mode: tangents [1, 2] on a, [30, 40] on b, cond [0, 1] -> [30, 2];
 * with no tangent on b (a zero one): [0, 2] */
START_TEST(where_tangent_follows_the_pick)
{
    ag_node *cond = ag_constant(g, 1, (int[]){2}, (double[]){0, 1});
    ag_node *a = vec_param(2, (double[]){1, 2}), *b = vec_param(2, (double[]){3, 4});
    ag_node *y = ag_where(cond, a, b);
    ag_node *seeds[] = {a, b};
    ck_assert(ag_jvp(g, 2, seeds, (const double *const[]){(double[]){1, 2}, (double[]){30, 40}}));
    assert_doubles("tangent", ag_node_tangent(y), 2, (double[]){30, 2});
    ck_assert(ag_jvp(g, 1, seeds, (const double *const[]){(double[]){1, 2}}));
    assert_doubles("tangent", ag_node_tangent(y), 2, (double[]){0, 2});
}
END_TEST

/* ---- expand --------------------------------------------------------------------------------- */

/* [3, 1] = [1, 2, 3] to (2, 3, 4): y[l][i][j] = x[i]; seed ones: each x
 * element is copied 2 * 4 = 8 times, gradient [8, 8, 8] */
START_TEST(expand_copies_and_sums_the_gradient_back)
{
    ag_node *x = param(2, (int[]){3, 1}, (double[]){1, 2, 3});
    ag_node *y = ag_expand(x, 3, (int[]){2, 3, 4});
    double want[24];
    for (int k = 0; k < 24; k++) want[k] = 1 + (k / 4) % 3;
    assert_values(y, 24, want);
    ck_assert_int_eq(ag_node_ndim(y), 3);
    assert_grad(y, NULL, x, 3, (double[]){8, 8, 8});
}
END_TEST

/* -1 keeps the size: [3, 1] to (2, -1, 2) is (2, 3, 2), and the node's
 * parameters read shape=[2,3,2]; seed k + 1 over [2, 3, 2]: x[i] gets
 * the seeds at (l, i, j), i.e. k = 6l + 2i + j: x[0]: 1+2+7+8 = 18,
 * x[1]: 3+4+9+10 = 26, x[2]: 5+6+11+12 = 34 */
START_TEST(expand_keeps_minus_one_dims)
{
    ag_node *x = param(2, (int[]){3, 1}, (double[]){1, 2, 3});
    ag_node *y = ag_expand(x, 3, (int[]){2, -1, 2});
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_dim(y, 1), 3);
    char text[64];
    y->op->print_params(y, text, sizeof text);
    ck_assert_str_eq(text, "shape=[2,3,2]");
    double seed[12];
    for (int k = 0; k < 12; k++) seed[k] = k + 1;
    assert_grad(y, seed, x, 3, (double[]){18, 26, 34});
}
END_TEST

/* a scalar 5 to (2, 2): [5, 5, 5, 5], gradient 4 for a seed of ones;
 * the same shape is a copy */
START_TEST(expand_a_scalar_and_to_the_same_shape)
{
    ag_node *s = param(0, NULL, (double[]){5});
    ag_node *y = ag_expand(s, 2, (int[]){2, 2});
    assert_values(y, 4, (double[]){5, 5, 5, 5});
    assert_grad(y, NULL, s, 1, (double[]){4});
    assert_values(ag_expand(vec_param(2, (double[]){1, 2}), 1, (int[]){2}), 2, (double[]){1, 2});
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------------- */

static ag_node *zeros(int nd, const int *dims)
{
    static const double v[64] = {0};
    return ag_constant(g, nd, dims, v);
}

START_TEST(axis_errors_name_the_op_the_shape_and_the_axis)
{
    ck_assert_ptr_null(ag_max_axis(zeros(2, (int[]){2, 3}), 2));
    assert_error("ag_max_axis: (2x3): axis 2 is out of range for 2 dimensions (-2 .. 1)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_min_axis(zeros(2, (int[]){2, 3}), -3));
    assert_error("ag_min_axis: (2x3): axis -3 is out of range for 2 dimensions (-2 .. 1)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_logsumexp_axis(zeros(1, (int[]){4}), 1));
    assert_error("ag_logsumexp_axis: (4): axis 1 is out of range for 1 dimension (-1 .. 0)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_prod_axis(ag_scalar(g, 2), 0));
    assert_error("ag_prod_axis: (scalar): axis 0 is out of range for 0 dimensions (a scalar has no axis)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_max_axis(ag_scalar(g, 2), -1));
    assert_error("ag_max_axis: (scalar): axis -1 is out of range for 0 dimensions (a scalar has no axis)");
}
END_TEST

START_TEST(where_error_names_the_three_shapes)
{
    ck_assert_ptr_null(ag_where(zeros(2, (int[]){2, 3}), zeros(1, (int[]){4}), zeros(2, (int[]){2, 3})));
    assert_error("ag_where: (2x3), (4), (2x3): shapes do not broadcast (dimension 1 from the right: 3 vs 4)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_where(zeros(1, (int[]){3}), zeros(2, (int[]){2, 3}), zeros(2, (int[]){3, 1})));
    assert_error("ag_where: (3), (2x3), (3x1): shapes do not broadcast (dimension 2 from the right: 2 vs 3)");
}
END_TEST

START_TEST(expand_errors_name_the_shapes_and_the_request)
{
    ck_assert_ptr_null(ag_expand(zeros(2, (int[]){2, 3}), 2, (int[]){4, 3}));
    assert_error("ag_expand: (2x3): cannot expand to (4x3): dimension 0: the input's size 2 must be 1 or 4");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(2, (int[]){2, 3}), 2, (int[]){1, 3})); /* not "1 or 1" */
    assert_error("ag_expand: (2x3): cannot expand to (1x3): dimension 0: the input's size 2 cannot become 1 "
                 "(expand repeats a dimension of size 1, it never shrinks one)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(1, (int[]){3}), 2, (int[]){-1, 3}));
    assert_error("ag_expand: (3): cannot expand to (-1x3): -1 is not allowed for the new leading dimension 0");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(2, (int[]){2, 3}), 1, (int[]){3}));
    assert_error("ag_expand: (2x3): cannot expand to (3): the target has fewer dimensions than the input (1 < 2)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(1, (int[]){3}), 2, (int[]){0, 3}));
    assert_error("ag_expand: (3): cannot expand to (0x3): dimension 0 is 0 (a size must be positive, or -1");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(1, (int[]){3}), 5, (int[]){1, 1, 1, 1, 3}));
    assert_error("ag_expand: (3): cannot expand to 5 dimensions (0 to 4)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(zeros(1, (int[]){3}), 2, NULL));
    assert_error("ag_expand: (3): the target shape is NULL (for 2 dimensions)");
    /* a stale operand is named as such, whatever the shape (the old code
     * blamed the NULL shape) */
    ag_graph_reset(g);
    ag_node *old = zeros(1, (int[]){3});
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_expand(old, 2, NULL));
    assert_error("ag_expand: operand 1 is a node recorded before the last reset");
}
END_TEST

Suite *ops_reduce_suite(void)
{
    Suite *s = suite_create("ops_reduce");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, max_and_min_split_the_gradient_among_ties);
    tcase_add_test(tc, max_of_a_matrix_by_hand);
    tcase_add_test(tc, max_propagates_nan_as_torch_amax);
    tcase_add_test(tc, max_and_min_along_an_axis_by_hand);
    tcase_add_test(tc, max_along_the_middle_of_three_axes);
    tcase_add_test(tc, max_tangent_averages_the_ties);
    tcase_add_test(tc, logsumexp_by_hand_and_for_large_values);
    tcase_add_test(tc, logsumexp_of_infinities_as_torch);
    tcase_add_test(tc, logsumexp_tangent_is_the_softmax_mean);
    tcase_add_test(tc, prod_gradient_is_the_product_of_the_others_even_at_zero);
    tcase_add_test(tc, prod_along_the_first_axis_by_hand);
    tcase_add_test(tc, prod_tangent_through_a_zero);
    tcase_add_test(tc, where_picks_by_the_condition);
    tcase_add_test(tc, where_broadcasts_its_three_operands);
    tcase_add_test(tc, where_never_writes_the_condition_gradient);
    tcase_add_test(tc, where_tangent_follows_the_pick);
    tcase_add_test(tc, expand_copies_and_sums_the_gradient_back);
    tcase_add_test(tc, expand_keeps_minus_one_dims);
    tcase_add_test(tc, expand_a_scalar_and_to_the_same_shape);
    suite_add_tcase(s, tc);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, axis_errors_name_the_op_the_shape_and_the_axis);
    tcase_add_test(errors, where_error_names_the_three_shapes);
    tcase_add_test(errors, expand_errors_name_the_shapes_and_the_request);
    suite_add_tcase(s, errors);
    return s;
}
