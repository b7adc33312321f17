/* test_ops_elementwise.c -- the new elementwise ops on cases worked out by
 * hand (the arithmetic in the comments): values, the gradient a seed of
 * ones sends back, the edges (kinks at 0, clamp's bounds, ties of maximum
 * and minimum, softplus far out) and the errors of bad parameters or shapes.
 * Where a value is PyTorch's convention rather than calculus, the comment
 * says so. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

GRAPH_FIXTURE()

/* a 1-d parameter leaf holding v[0 .. n) (its gradient read with ag_node_grad) */
static ag_node *param(int n, const double *v) { return ag_param(g, kept_tensor_from(1, (int[]){n}, v, true)); }

/* |got[i] - want[i]| <= rel |want[i]| + abs for i < n */
static void assert_array(const char *what, const double *got, size_t n, const double *want, double rel,
                         double abs)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= rel * fabs(want[i]) + abs,
                      "%s element %zu: %.17g, expected %.17g", what, i, got[i], want[i]);
}

/* to 1e-15 of |want|, for values far below 1 whose digits are the point */
#define assert_relative(got, want) assert_array(#got, &(double){got}, 1, &(double){want}, 1e-15, 0)

static void assert_values(const ag_node *y, size_t n, const double *want)
{
    ck_assert_msg(y != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(y), n);
    assert_array("value", ag_node_value(y), n, want, 1e-15, 1e-16);
}

/* backward from y with a seed of ones, then x's gradient against want */
static void assert_gradient(ag_node *y, const ag_node *x, size_t n, const double *want)
{
    ck_assert_msg(ag_backward_seed(g, y, NULL), "%s", ag_graph_error(g));
    assert_array("gradient", ag_node_grad(x), n, want, 1e-15, 1e-16);
}

/* the op's parameters as print_params writes them */
static const char *printed_params(const ag_node *y)
{
    static char buf[128];
    ck_assert(y->op->print_params != NULL);
    y->op->print_params(y, buf, sizeof buf);
    return buf;
}

START_TEST(sqrt_and_abs)
{
    /* sqrt [4, 1/4, 9/4] = [2, 1/2, 3/2]; d/dx = 1 / (2 sqrt x) = [1/4, 1, 1/3] */
    ag_node *x = param(3, (double[]){4, 0.25, 2.25});
    ag_node *y = ag_sqrt(x);
    assert_values(y, 3, (double[]){2, 0.5, 1.5});
    assert_gradient(y, x, 3, (double[]){0.25, 1, 1.0 / 3.0});
    /* |x| at [-2, 0, 3, -0]: [2, 0, 3, 0]; its derivative is sign(x), and 0
     * at 0 (either sign: PyTorch's sgn) */
    ag_node *u = param(4, (double[]){-2, 0, 3, -0.0});
    ag_node *v = ag_abs(u);
    assert_values(v, 4, (double[]){2, 0, 3, 0});
    ck_assert(!signbit(ag_node_value(v)[3])); /* |-0| = +0 */
    assert_gradient(v, u, 4, (double[]){-1, 0, 1, 0});
}
END_TEST

START_TEST(sin_and_cos)
{
    /* at 0, pi/6, pi/2: sin = [0, 1/2, 1], cos = [1, sqrt(3)/2, 0]; sin' = cos,
     * cos' = -sin = [0, -1/2, -1]. pi/6 and pi/2 carry rounding errors of
     * ~1e-16, which the tolerance covers (cos(pi/2) is 6.1e-17, not 0). */
    const double pi = 3.14159265358979323846;
    ag_node *x = param(3, (double[]){0, pi / 6, pi / 2});
    ag_node *s = ag_sin(x);
    assert_values(s, 3, (double[]){0, 0.5, 1});
    assert_gradient(s, x, 3, (double[]){1, sqrt(3.0) / 2, 0});
    ag_tensor_zero_grad(kept_tensor(0));
    ag_node *c = ag_cos(x);
    assert_values(c, 3, (double[]){1, sqrt(3.0) / 2, 0});
    assert_gradient(c, x, 3, (double[]){0, -0.5, -1});
}
END_TEST

START_TEST(log1p_and_expm1_keep_the_digits_near_zero)
{
    /* log1p(1e-10) = 1e-10 - 1e-20 / 2 + 1e-30 / 3 - ... = 9.9999999995e-11
     * to 17 digits (log(1 + 1e-10) would give 1.00000008274e-10, wrong in the
     * 8th digit: 1 + 1e-10 is rounded first); expm1(1e-10) = 1e-10 + 1e-20 / 2
     * + ... = 1.00000000005e-10. log1p(1) = ln 2; expm1(ln 2) = 1. */
    const double ln2 = 0.69314718055994530942;
    ag_node *x = param(2, (double[]){1e-10, 1});
    ag_node *y = ag_log1p(x);
    assert_values(y, 2, (double[]){9.9999999995e-11, ln2});
    assert_relative(ag_node_value(y)[0], 9.9999999995e-11);
    /* d/dx log1p(x) = 1 / (1 + x): [1 / (1 + 1e-10), 1/2] */
    assert_gradient(y, x, 2, (double[]){1.0 / (1.0 + 1e-10), 0.5});
    ag_node *u = param(2, (double[]){1e-10, ln2});
    ag_node *v = ag_expm1(u);
    assert_values(v, 2, (double[]){1.00000000005e-10, 1});
    assert_relative(ag_node_value(v)[0], 1.00000000005e-10);
    /* d/dx expm1(x) = e^x: [1 + 1e-10, 2] */
    assert_gradient(v, u, 2, (double[]){1 + 1e-10, 2});
    /* far left expm1(x) rounds to -1, so y + 1 (PyTorch's form) would give
     * 0; the derivative is e^-40 = 4.248354255291589e-18 */
    ag_node *w = param(1, (double[]){-40});
    ck_assert(ag_backward_seed(g, ag_expm1(w), NULL));
    ck_assert_msg(fabs(ag_node_grad(w)[0] - 4.248354255291589e-18) <= 1e-15 * 4.248354255291589e-18,
                  "d expm1/dx at -40: %.17g", ag_node_grad(w)[0]);
}
END_TEST

START_TEST(softplus_is_finite_and_exact_far_out)
{
    /* softplus(x) = log(1 + e^x) at 800, -800, 0, ln 3, -40:
     *   800: 800 + log(1 + e^-800) = 800 exactly in doubles (e^-800 ~ 3.7e-348
     *        is below the smallest one, 4.9e-324), where e^800 overflows
     *   -800: e^-800, which rounds to 0: 0 is the exact result in doubles
     *   0: ln 2; ln 3: ln 4 = 2 ln 2
     *   -40: log(1 + e^-40) = e^-40 - e^-80 / 2 + ... = e^-40 (1 - 2e-18),
     *        which log(1 + e^-40) gets as 0 (1 + e^-40 rounds to 1)
     * derivative sigmoid(x) = [1, 0, 1/2, 3/4, e^-40 / (1 + e^-40) = e^-40 to 17 digits] */
    const double ln2 = 0.69314718055994530942;
    ag_node *x = param(5, (double[]){800, -800, 0, log(3.0), -40});
    ag_node *y = ag_softplus(x);
    assert_values(y, 5, (double[]){800, 0, ln2, 2 * ln2, exp(-40.0)});
    ck_assert(ag_node_value(y)[0] == 800.0 && ag_node_value(y)[1] == 0.0);
    assert_relative(ag_node_value(y)[4], exp(-40.0));
    assert_gradient(y, x, 5, (double[]){1, 0, 0.5, 0.75, exp(-40.0)});
    ck_assert(ag_node_grad(x)[0] == 1.0 && ag_node_grad(x)[1] == 0.0);
    assert_relative(ag_node_grad(x)[4], exp(-40.0));
}
END_TEST

START_TEST(leaky_relu_at_zero_takes_the_slope)
{
    /* slope 0.1: [-2, 0, 3, -0.5] -> [-0.2, 0, 3, -0.05]; the derivative is 1
     * for x > 0 and the slope otherwise, at 0 too (PyTorch's
     * leaky_relu_backward: x > 0 ? g : g * slope) */
    ag_node *x = param(4, (double[]){-2, 0, 3, -0.5});
    ag_node *y = ag_leaky_relu(x, 0.1);
    assert_values(y, 4, (double[]){-0.2, 0, 3, -0.05});
    assert_gradient(y, x, 4, (double[]){0.1, 0.1, 1, 0.1});
    ck_assert_str_eq(printed_params(y), "slope=0.10000000000000001"); /* 0.1 to 17 digits */
    /* a negative slope: -0.5 * -2 = 1 */
    assert_values(ag_leaky_relu(x, -0.5), 4, (double[]){1, 0, 3, 0.25});
}
END_TEST

START_TEST(clamp_passes_the_gradient_at_its_bounds)
{
    /* clamp to [-1, 2]: [-3, -1, 0.5, 2, 5] -> [-1, -1, 0.5, 2, 2]; the
     * gradient passes where -1 <= x <= 2, the bounds included (PyTorch's
     * clamp_backward): [0, 1, 1, 1, 0] */
    ag_node *x = param(5, (double[]){-3, -1, 0.5, 2, 5});
    ag_node *y = ag_clamp(x, -1, 2);
    assert_values(y, 5, (double[]){-1, -1, 0.5, 2, 2});
    assert_gradient(y, x, 5, (double[]){0, 1, 1, 1, 0});
    ck_assert_str_eq(printed_params(y), "lo=-1, hi=2");
    /* lo == hi: every value becomes 1, and only x = 1 passes the gradient;
     * an infinite bound is no bound: clamp(x, 0, Inf) = max(x, 0) */
    ag_tensor_zero_grad(kept_tensor(0));
    ag_node *one = ag_clamp(x, 1, 1);
    assert_values(one, 5, (double[]){1, 1, 1, 1, 1});
    assert_gradient(one, x, 5, (double[]){0, 0, 0, 0, 0});
    assert_values(ag_clamp(x, 0, INFINITY), 5, (double[]){0, 0, 0.5, 2, 5});
    ag_node *u = param(3, (double[]){0.5, 1, 1.5});
    ag_node *v = ag_clamp(u, 1, 1);
    assert_values(v, 3, (double[]){1, 1, 1});
    assert_gradient(v, u, 3, (double[]){0, 1, 0});
}
END_TEST

START_TEST(clamp_refuses_crossed_or_nan_bounds)
{
    ag_node *x = param(5, (double[]){-3, -1, 0.5, 2, 5});
    ck_assert_ptr_null(ag_clamp(x, 2, 1));
    ck_assert_str_eq(ag_graph_error(g), "ag_clamp: (5): lo = 2 is greater than hi = 1");
    ag_graph *h = ag_graph_new();
    ag_node *y = ag_param(h, kept_tensor(0));
    ck_assert_ptr_null(ag_clamp(y, NAN, 1));
    ck_assert_str_eq(ag_graph_error(h), "ag_clamp: (5): a bound is NaN (lo = nan, hi = 1)");
    ag_graph_free(h);
}
END_TEST

START_TEST(maximum_and_minimum_split_ties_half_and_half)
{
    /* maximum([1, 2, 3], [3, 2, 1]) = [3, 2, 3]: the larger takes the
     * gradient, a tie (2, 2) gives half to each (PyTorch: where(a == b,
     * g / 2, g) masked to 0 where a < b): a gets [0, 1/2, 1], b [1, 1/2, 0] */
    ag_node *a = param(3, (double[]){1, 2, 3}), *b = param(3, (double[]){3, 2, 1});
    ag_node *hi = ag_maximum(a, b);
    assert_values(hi, 3, (double[]){3, 2, 3});
    assert_gradient(hi, a, 3, (double[]){0, 0.5, 1});
    assert_array("gradient of b", ag_node_grad(b), 3, (double[]){1, 0.5, 0}, 0, 0);
    /* minimum: [1, 2, 1]; a gets [1, 1/2, 0], b [0, 1/2, 1] */
    ag_tensor_zero_grad(kept_tensor(0));
    ag_tensor_zero_grad(kept_tensor(1));
    ag_node *lo = ag_minimum(a, b);
    assert_values(lo, 3, (double[]){1, 2, 1});
    assert_gradient(lo, a, 3, (double[]){1, 0.5, 0});
    assert_array("gradient of b", ag_node_grad(b), 3, (double[]){0, 0.5, 1}, 0, 0);
}
END_TEST

START_TEST(maximum_and_minimum_broadcast_and_sum_the_shares)
{
    /* m = [2, 1, 3] against the scalar s = 2: maximum = [2, 2, 3], m gets
     * [1/2, 0, 1] and s, summed over the elements it meets, 1/2 + 1 + 0 =
     * 3/2; minimum = [2, 1, 2], m gets [1/2, 1, 0], s 1/2 + 0 + 1 = 3/2 */
    ag_node *m = param(3, (double[]){2, 1, 3});
    ag_tensor *st = keep_tensor(ag_tensor_scalar(2));
    ag_tensor_requires_grad(st, true);
    ag_node *s = ag_param(g, st);
    ag_node *hi = ag_maximum(m, s);
    assert_values(hi, 3, (double[]){2, 2, 3});
    assert_gradient(hi, m, 3, (double[]){0.5, 0, 1});
    ck_assert_close(ag_tensor_grad(st)[0], 1.5, 0);
    ag_tensor_zero_grad(kept_tensor(0));
    ag_tensor_zero_grad(st);
    ag_node *lo = ag_minimum(m, s);
    assert_values(lo, 3, (double[]){2, 1, 2});
    assert_gradient(lo, m, 3, (double[]){0.5, 1, 0});
    ck_assert_close(ag_tensor_grad(st)[0], 1.5, 0);
    /* a [2,2] matrix against a row [3, 3]: maximum([[1, 5], [4, 2]], [3, 3])
     * = [[3, 5], [4, 3]]; the row's first entry wins in row 0, its second in
     * row 1: row gradient [1, 1], the matrix's [[0, 1], [1, 0]] */
    ag_tensor *mt = kept_tensor_from(2, (int[]){2, 2}, (double[]){1, 5, 4, 2}, true);
    ag_node *mat = ag_param(g, mt), *row = param(2, (double[]){3, 3});
    ag_node *y = ag_maximum(mat, row);
    assert_values(y, 4, (double[]){3, 5, 4, 3});
    assert_gradient(y, row, 2, (double[]){1, 1});
    assert_array("gradient of the matrix", ag_tensor_grad(mt), 4, (double[]){0, 1, 1, 0}, 0, 0);
}
END_TEST

START_TEST(maximum_and_minimum_propagate_nan)
{
    /* PyTorch's maximum and minimum return NaN when either operand is NaN
     * (unlike fmax), and as no comparison with NaN holds, the gradient goes
     * whole to both operands */
    ag_node *a = param(2, (double[]){NAN, 1}), *b = param(2, (double[]){1, NAN});
    ag_node *hi = ag_maximum(a, b), *lo = ag_minimum(a, b);
    ck_assert(hi && lo);
    for (int i = 0; i < 2; i++) ck_assert(isnan(ag_node_value(hi)[i]) && isnan(ag_node_value(lo)[i]));
    assert_gradient(hi, a, 2, (double[]){1, 1});
    assert_array("gradient of b", ag_node_grad(b), 2, (double[]){1, 1}, 0, 0);
}
END_TEST

START_TEST(gelu_by_the_normal_distribution)
{
    /* gelu(x) = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2. From the
     * 68-95-99.7 rule, P(|Z| < 1) = erf(1 / sqrt 2) = 0.6826894921370859 and
     * P(|Z| < 2) = erf(sqrt 2) = 0.9544997361036416, so
     *   gelu(0) = 0
     *   gelu(1) = Phi(1) = (1 + 0.6826894921370859) / 2 = 0.84134474606854295
     *   gelu(-1) = -Phi(-1) = -(1 - Phi(1)) = -0.15865525393145705
     *   gelu(2) = 2 Phi(2) = 1 + 0.9544997361036416 = 1.9544997361036416
     *   gelu(-10) = -10 Phi(-10) = -7.61985302416e-23 (the normal tail
     *     Q(10) = 7.61985302416e-24 of the tables, to 12 digits; 1 + erf(-10 / sqrt 2)
     *     cancels to 0 in doubles, where agrad's erfc form keeps it)
     * The derivative Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi):
     *   at 0: 1/2; at 1: Phi(1) + phi(1); at -1: Phi(-1) - phi(1); at 2: Phi(2) + 2 phi(2) */
    const double phi1 = 0.84134474606854295, phi2 = (1 + 0.9544997361036416) / 2;
    const double pdf1 = exp(-0.5) / sqrt(2 * 3.14159265358979323846);
    const double pdf2 = exp(-2.0) / sqrt(2 * 3.14159265358979323846);
    ag_node *x = param(4, (double[]){0, 1, -1, 2});
    ag_node *y = ag_gelu(x);
    assert_values(y, 4, (double[]){0, phi1, -(1 - phi1), 2 * phi2});
    assert_gradient(y, x, 4, (double[]){0.5, phi1 + pdf1, (1 - phi1) - pdf1, phi2 + 2 * pdf2});
    ag_node *tail = ag_gelu(param(1, (double[]){-10}));
    ck_assert_ptr_nonnull(tail);
    assert_array("gelu(-10)", ag_node_value(tail), 1, (double[]){-7.61985302416e-23}, 1e-11, 0);
}
END_TEST

START_TEST(maximum_names_shapes_that_do_not_broadcast)
{
    ag_tensor *t = keep_tensor(ag_tensor_zeros(2, (int[]){2, 3}));
    ck_assert_ptr_null(ag_maximum(ag_input(g, t), param(4, (double[]){1, 2, 3, 4})));
    ck_assert_graph_error(g, "ag_maximum: (2x3) and (4): shapes do not broadcast");
}
END_TEST

/* The comparisons against their definitions (IEEE: no relation holds with a
 * NaN), broadcasting a row against a column, as torch.eq/gt/ge/lt/le give
 * them as doubles. */
START_TEST(comparisons_hold_or_not_and_never_with_nan)
{
    const double a[3] = {1.0, NAN, -INFINITY}, b[2] = {1.0, -2.0};
    ag_node *x = ag_constant(g, 2, (int[]){3, 1}, a), *y = ag_constant(g, 1, (int[]){2}, b);
    ag_node *(*const ops[5])(ag_node *, ag_node *) = {ag_eq, ag_gt, ag_ge, ag_lt, ag_le};
    for (int op = 0; op < 5; op++) {
        ag_node *c = ops[op](x, y);
        ck_assert_int_eq(ag_node_dim(c, 0), 3);
        ck_assert_int_eq(ag_node_dim(c, 1), 2);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                double u = a[i], v = b[j];
                bool holds[5] = {u == v, u > v, u >= v, u < v, u <= v};
                ck_assert_double_eq(ag_node_value(c)[i * 2 + j], holds[op] ? 1.0 : 0.0);
            }
    }
}
END_TEST

/* A comparison passes no gradient and no tangent: relu written as x * (x > 0)
 * has the gradient (x > 0) alone, and the mask's node has no gradient. */
START_TEST(comparisons_pass_no_gradient)
{
    ag_node *x = param(4, (double[]){-1.0, 2.0, 0.5, -3.0});
    ag_node *mask = ag_gt(x, ag_scalar(g, 0.0)), *y = ag_sum(ag_mul(x, mask));
    ck_assert_ptr_null(ag_node_grad(mask));
    ck_assert(ag_backward(g, y));
    const double want[4] = {0.0, 1.0, 1.0, 0.0};
    for (int i = 0; i < 4; i++) ck_assert_double_eq(ag_node_grad(x)[i], want[i]);
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){(double[]){1, 1, 1, 1}}));
    ck_assert_ptr_null(ag_node_tangent(mask));
    ck_assert_double_eq(ag_node_tangent(y)[0], 2.0); /* the mask's entries that are 1 */
    ck_assert_ptr_null(ag_le(x, param(3, (double[]){1, 2, 3})));
    ck_assert_graph_error(g, "ag_le: (4) <= (3): shapes do not broadcast");
}
END_TEST

Suite *ops_elementwise_suite(void)
{
    Suite *s = suite_create("ops elementwise");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sqrt_and_abs);
    tcase_add_test(tc, sin_and_cos);
    tcase_add_test(tc, log1p_and_expm1_keep_the_digits_near_zero);
    tcase_add_test(tc, softplus_is_finite_and_exact_far_out);
    tcase_add_test(tc, leaky_relu_at_zero_takes_the_slope);
    tcase_add_test(tc, clamp_passes_the_gradient_at_its_bounds);
    tcase_add_test(tc, clamp_refuses_crossed_or_nan_bounds);
    tcase_add_test(tc, maximum_and_minimum_split_ties_half_and_half);
    tcase_add_test(tc, maximum_and_minimum_broadcast_and_sum_the_shares);
    tcase_add_test(tc, maximum_and_minimum_propagate_nan);
    tcase_add_test(tc, gelu_by_the_normal_distribution);
    tcase_add_test(tc, maximum_names_shapes_that_do_not_broadcast);
    tcase_add_test(tc, comparisons_hold_or_not_and_never_with_nan);
    tcase_add_test(tc, comparisons_pass_no_gradient);
    suite_add_tcase(s, tc);
    return s;
}
