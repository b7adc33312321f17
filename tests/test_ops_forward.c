/* test_ops_forward.c -- forward values of each op on small cases worked out
 * by hand (closed forms in the comments). */
#include <math.h>
#include <string.h>

#include "helpers.h"

static ag_graph *g;
static void setup(void) { g = ag_graph_new(); }
static void teardown(void) { ag_graph_free(g); }

static ag_node *mat(int r, int c, const double *v) { return ag_constant(g, 2, (int[]){r, c}, v); }
static ag_node *vec(int n, const double *v) { return ag_constant(g, 1, (int[]){n}, v); }

static void assert_values(const ag_node *n, size_t count, const double *expected)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(n), count);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabs(ag_node_value(n)[i] - expected[i]) <= 1e-15 * (1 + fabs(expected[i])),
                      "element %zu: %.17g, expected %.17g", i, ag_node_value(n)[i], expected[i]);
}

START_TEST(add_sub_mul_div_broadcast)
{
    ag_node *m = mat(2, 2, (double[]){1, 2, 3, 4});
    ag_node *bias = vec(2, (double[]){10, 20});
    ag_node *col = mat(2, 1, (double[]){100, 200});
    assert_values(ag_add(m, bias), 4, (double[]){11, 22, 13, 24});
    assert_values(ag_add(m, col), 4, (double[]){101, 102, 203, 204});
    assert_values(ag_sub(m, ag_scalar(g, 1)), 4, (double[]){0, 1, 2, 3});
    assert_values(ag_sub(ag_scalar(g, 1), m), 4, (double[]){0, -1, -2, -3});
    assert_values(ag_mul(m, m), 4, (double[]){1, 4, 9, 16});
    assert_values(ag_div(m, bias), 4, (double[]){0.1, 0.1, 0.3, 0.2});
    ag_node *outer = ag_mul(col, vec(3, (double[]){1, 2, 3})); /* [2,1] * [3] -> [2,3] */
    ck_assert_int_eq(ag_node_dim(outer, 0), 2);
    ck_assert_int_eq(ag_node_dim(outer, 1), 3);
    assert_values(outer, 6, (double[]){100, 200, 300, 200, 400, 600});
}
END_TEST

START_TEST(unary_maps)
{
    ag_node *x = vec(3, (double[]){-1, 0, 2});
    assert_values(ag_neg(x), 3, (double[]){1, 0, -2});
    assert_values(ag_relu(x), 3, (double[]){0, 0, 2});
    assert_values(ag_exp(x), 3, (double[]){1 / exp(1.0), 1, exp(1.0) * exp(1.0)});
    assert_values(ag_log(vec(2, (double[]){exp(1.0), 1})), 2, (double[]){1, 0});
    /* tanh(1/2) = (e - 1)/(e + 1); sigmoid(ln 3) = 3/4 */
    assert_values(ag_tanh(vec(1, (double[]){0.5})), 1, (double[]){(exp(1.0) - 1) / (exp(1.0) + 1)});
    assert_values(ag_sigmoid(vec(3, (double[]){0, log(3.0), -800})), 3, (double[]){0.5, 0.75, 0});
    assert_values(ag_pow(vec(2, (double[]){2, 4}), 3), 2, (double[]){8, 64});
    assert_values(ag_pow(vec(2, (double[]){4, 9}), 0.5), 2, (double[]){2, 3});
}
END_TEST

START_TEST(matmul_by_hand)
{
    /* [1 2 3; 4 5 6] @ [7 8; 9 10; 11 12] = [58 64; 139 154] */
    ag_node *a = mat(2, 3, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *b = mat(3, 2, (double[]){7, 8, 9, 10, 11, 12});
    ag_node *c = ag_matmul(a, b);
    assert_values(c, 4, (double[]){58, 64, 139, 154});
    ck_assert_int_eq(ag_node_dim(c, 0), 2);
    ck_assert_int_eq(ag_node_dim(c, 1), 2);
}
END_TEST

START_TEST(linear_by_hand)
{
    /* the product above, [58 64; 139 154], plus each kind of bias:
     * [1 2; 3 4] -> [59 66; 142 158]; row [10 20] -> [68 84; 149 174];
     * column [100; 200] -> [158 164; 339 354]; one value 0.5 (0-d, [1] or
     * [1,1]) -> +0.5; no bias -> the product */
    ag_node *a = mat(2, 3, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *b = mat(3, 2, (double[]){7, 8, 9, 10, 11, 12});
    assert_values(ag_linear(a, b, mat(2, 2, (double[]){1, 2, 3, 4})), 4, (double[]){59, 66, 142, 158});
    assert_values(ag_linear(a, b, vec(2, (double[]){10, 20})), 4, (double[]){68, 84, 149, 174});
    assert_values(ag_linear(a, b, mat(1, 2, (double[]){10, 20})), 4, (double[]){68, 84, 149, 174});
    assert_values(ag_linear(a, b, mat(2, 1, (double[]){100, 200})), 4, (double[]){158, 164, 339, 354});
    assert_values(ag_linear(a, b, ag_scalar(g, 0.5)), 4, (double[]){58.5, 64.5, 139.5, 154.5});
    assert_values(ag_linear(a, b, vec(1, (double[]){0.5})), 4, (double[]){58.5, 64.5, 139.5, 154.5});
    assert_values(ag_linear(a, b, mat(1, 1, (double[]){0.5})), 4, (double[]){58.5, 64.5, 139.5, 154.5});
    ag_node *no_bias = ag_linear(a, b, NULL); /* the product alone */
    assert_values(no_bias, 4, (double[]){58, 64, 139, 154});
    ck_assert_str_eq(ag_node_op(no_bias), "matmul");
}
END_TEST

START_TEST(reductions)
{
    ag_node *m = mat(2, 3, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *s = ag_sum(m);
    assert_values(s, 1, (double[]){21});
    ck_assert_int_eq(ag_node_ndim(s), 0);
    assert_values(ag_mean(m), 1, (double[]){3.5});
}
END_TEST

START_TEST(softmax_and_xent)
{
    /* softmax([0, ln 3]) = [1/4, 3/4]; -log(3/4) for label 1 */
    ag_node *z = vec(2, (double[]){0, log(3.0)});
    assert_values(ag_softmax(z), 2, (double[]){0.25, 0.75});
    assert_values(ag_softmax_xent_label(z, 1), 1, (double[]){-log(0.75)});
    /* rows: [[0, ln 3], [ln 2, 0]] labels {0, 0}: mean(-log 1/4, -log 2/3) */
    ag_node *Z = mat(2, 2, (double[]){0, log(3.0), log(2.0), 0});
    assert_values(ag_softmax(Z), 4, (double[]){0.25, 0.75, 2.0 / 3, 1.0 / 3});
    ag_node *labels = vec(2, (double[]){0, 0});
    assert_values(ag_softmax_xent(Z, labels), 1, (double[]){(log(4.0) + log(1.5)) / 2});
}
END_TEST

START_TEST(xent_with_huge_logits)
{
    /* logits 1000 + [0, ln 3]: p = [1/4, 3/4], loss for label 0 = ln 4 */
    ag_tensor *zt = ag_tensor_from(1, (int[]){2}, (double[]){1000, 1000 + log(3.0)});
    ag_tensor_requires_grad(zt, true);
    ag_node *loss = ag_softmax_xent_label(ag_param(g, zt), 0);
    /* 1000 + ln 3 carries a rounding error of ~1e-13 itself */
    ck_assert_close(ag_node_value(loss)[0], log(4.0), 1e-12);
    ck_assert(ag_backward(g, loss));
    ck_assert_close(ag_tensor_grad(zt)[0], 0.25 - 1, 1e-12); /* p - y^ */
    ck_assert_close(ag_tensor_grad(zt)[1], 0.75, 1e-12);
    /* +-1000: p = [1, e^-2000 = 0]; loss for label 1 = 2000, gradient [1, -1] */
    double *z = ag_tensor_data(zt);
    z[0] = 1000, z[1] = -1000;
    ag_tensor_zero_grad(zt);
    ag_graph_reset(g);
    loss = ag_softmax_xent_label(ag_param(g, zt), 1);
    ck_assert(isfinite(ag_node_value(loss)[0]));
    ck_assert_close(ag_node_value(loss)[0], 2000.0, 1e-9);
    ck_assert(ag_backward(g, loss));
    ck_assert_close(ag_tensor_grad(zt)[0], 1.0, 1e-12);
    ck_assert_close(ag_tensor_grad(zt)[1], -1.0, 1e-12);
    ag_tensor_free(zt);
}
END_TEST

START_TEST(shape_ops_and_axis_reductions)
{
    ag_node *m = mat(2, 3, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *t = ag_transpose(m);
    ck_assert_int_eq(ag_node_dim(t, 0), 3);
    assert_values(t, 6, (double[]){1, 4, 2, 5, 3, 6});
    ag_node *r = ag_reshape(m, 2, (int[]){3, -1});
    ck_assert_int_eq(ag_node_dim(r, 1), 2);
    assert_values(r, 6, (double[]){1, 2, 3, 4, 5, 6});
    assert_values(ag_sum_axis(m, 0), 3, (double[]){5, 7, 9});
    assert_values(ag_sum_axis(m, -1), 2, (double[]){6, 15});
    assert_values(ag_mean_axis(m, 1), 2, (double[]){2, 5});
    ck_assert_int_eq(ag_node_ndim(ag_sum_axis(m, 0)), 1);
}
END_TEST

START_TEST(log_softmax_and_mse)
{
    /* log softmax([0, ln 3]) = [ln 1/4, ln 3/4]; mse([1,2],[0,4]) = (1 + 4)/2 */
    assert_values(ag_log_softmax(vec(2, (double[]){0, log(3.0)})), 2, (double[]){log(0.25), log(0.75)});
    assert_values(ag_mse(vec(2, (double[]){1, 2}), vec(2, (double[]){0, 4})), 1, (double[]){2.5});
}
END_TEST

START_TEST(broadcast_too_large_names_op_shapes_count_and_limit)
{
    /* (4096x1x4096x1) + (4096x1x4096) broadcasts to 4096^4 = 2^48 elements;
     * the operands are zeros the allocator hands out untouched, so the test
     * costs no memory. The limit is the tensors' (and matmul's) 2^40. */
    ag_tensor *ta = ag_tensor_zeros(4, (int[]){4096, 1, 4096, 1});
    ag_tensor *tb = ag_tensor_zeros(3, (int[]){4096, 1, 4096});
    ck_assert(ta && tb);
    ck_assert_ptr_null(ag_add(ag_input(g, ta), ag_input(g, tb)));
    ck_assert_graph_error(g, "ag_add: (4096x1x4096x1) + (4096x1x4096): the broadcast result would "
                             "have 281474976710656 elements, over the limit of 2^40");
    ag_tensor_free(ta);
    ag_tensor_free(tb);
}
END_TEST

Suite *ops_forward_suite(void)
{
    Suite *s = suite_create("ops forward");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, add_sub_mul_div_broadcast);
    tcase_add_test(tc, unary_maps);
    tcase_add_test(tc, matmul_by_hand);
    tcase_add_test(tc, linear_by_hand);
    tcase_add_test(tc, reductions);
    tcase_add_test(tc, softmax_and_xent);
    tcase_add_test(tc, xent_with_huge_logits);
    tcase_add_test(tc, shape_ops_and_axis_reductions);
    tcase_add_test(tc, log_softmax_and_mse);
    tcase_add_test(tc, broadcast_too_large_names_op_shapes_count_and_limit);
    suite_add_tcase(s, tc);
    return s;
}
