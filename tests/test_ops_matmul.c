/* test_ops_matmul.c -- matmul with torch.matmul's rules: each vector form,
 * batches with broadcast batch dims and their summed gradients (worked by
 * hand in the comments), the shape errors, the specialised matrix-vector
 * kernels on the vector form, and every form's gradient and tangent against
 * central differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

GRAPH_FIXTURE_WITH_PARAM()


static ag_node *constant(int ndim, const int *dims, const double *v) { return ag_constant(g, ndim, dims, v); }

/* n's shape is (ndim; dims...) and its values are `expected` (exact: every
 * value below is a small integer) */
static void assert_node(const ag_node *n, int ndim, const int *dims, const double *expected)
{
    ck_assert_msg(n != NULL, "matmul failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_ndim(n), ndim);
    size_t size = 1;
    for (int d = 0; d < ndim; d++) {
        ck_assert_int_eq(ag_node_dim(n, d), dims[d]);
        size *= (size_t)dims[d];
    }
    ck_assert_int_eq(ag_node_size(n), size);
    for (size_t i = 0; i < size; i++)
        ck_assert_msg(ag_node_value(n)[i] == expected[i], "element %zu: %.17g, expected %.17g", i,
                      ag_node_value(n)[i], expected[i]);
}

static void assert_grad(const ag_tensor *t, size_t n, const double *expected)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ag_tensor_grad(t)[i] == expected[i], "gradient element %zu: %.17g, expected %.17g",
                      i, ag_tensor_grad(t)[i], expected[i]);
}

/* ---- the vector forms ------------------------------------------------------------- */

/* [1 2] @ [1 2 3; 4 5 6] = [1+8, 2+10, 3+12] = [9 12 15], a vector [3] */
START_TEST(row_vector_times_matrix)
{
    ag_node *y = ag_matmul(constant(1, (int[]){2}, (double[]){1, 2}),
                           constant(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6}));
    assert_node(y, 1, (int[]){3}, (double[]){9, 12, 15});
}
END_TEST

/* [1 2; 3 4; 5 6] @ [2 1] = [2+2, 6+4, 10+6] = [4 10 16], a vector [3];
 * gradient for seed u = [1 2 3]: dA = u x^T = [2 1; 4 2; 6 3],
 * dx = A^T u = [1+6+15, 2+8+18] = [22 28] */
START_TEST(matrix_times_vector)
{
    ag_node *A = param(2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *x = param(1, (int[]){2}, (double[]){2, 1});
    ag_node *y = ag_matmul(A, x);
    assert_node(y, 1, (int[]){3}, (double[]){4, 10, 16});
    ck_assert(ag_backward_seed(g, y, (double[]){1, 2, 3}));
    assert_grad(kept_tensor(0), 6, (double[]){2, 1, 4, 2, 6, 3});
    assert_grad(kept_tensor(1), 2, (double[]){22, 28});
}
END_TEST

/* [1 2 3] @ [4 5 6] = 4 + 10 + 18 = 32, a 0-d scalar; d/da = b, d/db = a */
START_TEST(vector_dot_vector_is_a_scalar)
{
    ag_node *a = param(1, (int[]){3}, (double[]){1, 2, 3});
    ag_node *b = param(1, (int[]){3}, (double[]){4, 5, 6});
    ag_node *y = ag_matmul(a, b);
    assert_node(y, 0, NULL, (double[]){32});
    ck_assert(ag_backward(g, y));
    assert_grad(kept_tensor(0), 3, (double[]){4, 5, 6});
    assert_grad(kept_tensor(1), 3, (double[]){1, 2, 3});
}
END_TEST

/* ---- batches ---------------------------------------------------------------------- */

/* A [2,2,2] = {[1 2; 3 4], [5 6; 7 8]} @ b [2,1] = [1; 10] (one column for
 * both matrices) = {[21; 43], [65; 87]}, [2,2,1]. With a seed of ones:
 * dA_i = 1 b^T = [1 10; 1 10] for each i; db = sum_i A_i^T [1; 1]
 * = [1+3; 2+4] + [5+7; 6+8] = [16; 20], summed over the batch b is
 * broadcast on. */
START_TEST(batch_times_one_matrix_sums_its_gradient)
{
    ag_node *A = param(3, (int[]){2, 2, 2}, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
    ag_node *b = param(2, (int[]){2, 1}, (double[]){1, 10});
    ag_node *y = ag_matmul(A, b);
    assert_node(y, 3, (int[]){2, 2, 1}, (double[]){21, 43, 65, 87});
    ck_assert(ag_backward(g, ag_sum(y)));
    assert_grad(kept_tensor(0), 8, (double[]){1, 10, 1, 10, 1, 10, 1, 10});
    assert_grad(kept_tensor(1), 2, (double[]){16, 20});
}
END_TEST

/* Both broadcast, 4-d: A [2,1,1,2] holds the rows a_0 = [1 2], a_1 = [3 4];
 * B [3,2,1] the columns b_0 = [1; 0], b_1 = [0; 1], b_2 = [1; 1]. Batch dims
 * (2,1) and (3) broadcast to (2,3): Y [2,3,1,1], Y_ij = a_i b_j =
 * [1 2 3; 3 4 7]. Seed u = [1 2 3; 4 5 6]:
 *   dA_i = sum_j u_ij b_j^T: a_0: 1[1 0] + 2[0 1] + 3[1 1] = [4 5],
 *                            a_1: 4[1 0] + 5[0 1] + 6[1 1] = [10 11]
 *   dB_j = sum_i a_i^T u_ij: b_0: [1;2] 1 + [3;4] 4 = [13; 18],
 *        b_1: [1;2] 2 + [3;4] 5 = [17; 24], b_2: [1;2] 3 + [3;4] 6 = [21; 30] */
START_TEST(four_d_batches_broadcast_both_ways)
{
    ag_node *A = param(4, (int[]){2, 1, 1, 2}, (double[]){1, 2, 3, 4});
    ag_node *B = param(3, (int[]){3, 2, 1}, (double[]){1, 0, 0, 1, 1, 1});
    ag_node *y = ag_matmul(A, B);
    assert_node(y, 4, (int[]){2, 3, 1, 1}, (double[]){1, 2, 3, 3, 4, 7});
    ck_assert(ag_backward_seed(g, y, (double[]){1, 2, 3, 4, 5, 6}));
    assert_grad(kept_tensor(0), 4, (double[]){4, 5, 10, 11});
    assert_grad(kept_tensor(1), 6, (double[]){13, 18, 17, 24, 21, 30});
}
END_TEST

/* A vector against a batch, as torch: x [2] = [1 2] @ B [2,2,2] =
 * {[1 2; 3 4], [5 6; 7 8]} gives x B_i for each i: [1+6, 2+8] = [7 10] and
 * [5+14, 6+16] = [19 22], [2,2]. Seed of ones: dx = sum_i B_i [1; 1]
 * = [3; 7] + [11; 15] = [14 22]; dB_i = x^T [1 1] = [1 1; 2 2].
 * The other side: B [2,2,2] @ [1 10] = [21 43; 65 87] (rows i: B_i [1; 10]). */
START_TEST(vector_against_a_batch)
{
    ag_node *x = param(1, (int[]){2}, (double[]){1, 2});
    ag_node *B = param(3, (int[]){2, 2, 2}, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
    ag_node *y = ag_matmul(x, B);
    assert_node(y, 2, (int[]){2, 2}, (double[]){7, 10, 19, 22});
    ck_assert(ag_backward(g, ag_sum(y)));
    assert_grad(kept_tensor(0), 2, (double[]){14, 22});
    assert_grad(kept_tensor(1), 8, (double[]){1, 1, 2, 2, 1, 1, 2, 2});
    ag_node *z = ag_matmul(B, constant(1, (int[]){2}, (double[]){1, 10}));
    assert_node(z, 2, (int[]){2, 2}, (double[]){21, 43, 65, 87});
}
END_TEST

/* Batches of matrices over the small-product limit run ag_gemm on each
 * matrix read in place: each batch matrix of A [3,9,8] @ B [8,10] is the 2-d
 * product of its slice, to the bit, and close to the sum written out. */
START_TEST(batch_of_large_matrices_is_each_product)
{
    test_rng r = {77};
    enum { NB = 3, M = 9, K = 8, N = 10 };
    double a[NB * M * K], b[K * N];
    for (int i = 0; i < NB * M * K; i++) a[i] = rng_uniform(&r, -1, 1);
    for (int i = 0; i < K * N; i++) b[i] = rng_uniform(&r, -1, 1);
    ag_node *B = constant(2, (int[]){K, N}, b);
    ag_node *y = ag_matmul(constant(3, (int[]){NB, M, K}, a), B);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    for (int i = 0; i < NB; i++) {
        ag_node *slice = ag_matmul(constant(2, (int[]){M, K}, a + i * M * K), B);
        for (int e = 0; e < M * N; e++) {
            ck_assert(ag_node_value(y)[i * M * N + e] == ag_node_value(slice)[e]);
            double s = 0.0;
            for (int k = 0; k < K; k++) s += a[i * M * K + (e / N) * K + k] * b[k * N + e % N];
            ck_assert_close(ag_node_value(y)[i * M * N + e], s, 1e-14);
        }
    }
}
END_TEST

/* A batch of matrices each large enough for ag_gemm to split over the
 * threads ([160,128] @ [128,128]: 2.6M multiply-adds, over 2^21) runs whole
 * matrices on each thread (product.c, when there are several threads):
 * values and both gradients are those of each matrix's own 2-d product, to
 * the bit. The upstream gradient is W (loss = sum(y * W)), so dA = W B^T
 * and dB = A^T W per matrix. */
START_TEST(batch_over_the_threads_is_each_product)
{
    test_rng r = {91};
    enum { NB = 4, M = 160, K = 128, N = 128 };
    const int a_dims[3] = {NB, M, K}, b_dims[3] = {NB, K, N}, w_dims[3] = {NB, M, N};
    double *a = malloc(sizeof(double) * NB * M * K), *b = malloc(sizeof(double) * NB * K * N);
    double *w = malloc(sizeof(double) * NB * M * N);
    for (int i = 0; i < NB * M * K; i++) a[i] = rng_uniform(&r, -1, 1);
    for (int i = 0; i < NB * K * N; i++) b[i] = rng_uniform(&r, -1, 1);
    for (int i = 0; i < NB * M * N; i++) w[i] = rng_uniform(&r, -1, 1);
    ag_node *A = param(3, a_dims, a), *B = param(3, b_dims, b);
    ag_node *y = ag_matmul(A, B);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert(ag_backward(g, ag_sum(ag_mul(y, constant(3, w_dims, w)))));
    const ag_tensor *ta = kept_tensor(0), *tb = kept_tensor(1);
    for (int i = 0; i < NB; i++) {
        ag_node *As = param(2, (int[]){M, K}, a + i * M * K), *Bs = param(2, (int[]){K, N}, b + i * K * N);
        ag_node *ys = ag_matmul(As, Bs);
        ck_assert(ag_backward(g, ag_sum(ag_mul(ys, constant(2, (int[]){M, N}, w + i * M * N)))));
        for (int e = 0; e < M * N; e++)
            ck_assert_in_loop(ag_node_value(y)[i * M * N + e] == ag_node_value(ys)[e], "batch %d: y[%d]", i, e);
        const double *ga = ag_tensor_grad(kept_tensor(2 + 2 * i)), *gb = ag_tensor_grad(kept_tensor(3 + 2 * i));
        for (int e = 0; e < M * K; e++)
            ck_assert_in_loop(ag_tensor_grad(ta)[i * M * K + e] == ga[e], "batch %d: grad a[%d]", i, e);
        for (int e = 0; e < K * N; e++)
            ck_assert_in_loop(ag_tensor_grad(tb)[i * K * N + e] == gb[e], "batch %d: grad b[%d]", i, e);
    }
    /* and one gradient element against the sum written out: dA[0][3][5] = sum_j W[0][3][j] B[0][5][j] */
    double s = 0.0;
    for (int j = 0; j < N; j++) s += w[3 * N + j] * b[5 * N + j];
    ck_assert_close(ag_tensor_grad(ta)[3 * K + 5], s, 1e-13);
    free(a), free(b), free(w);
}
END_TEST

/* ---- the specialised kernels on the vector form ----------------------------------------- */

extern const ag_op ag_op_matmul;

/* [M,K] @ [K] with K <= 4 runs the matrix-vector kernels, as [M,K] @ [K,1]
 * and [M,K] @ [1,K,1] (-> [1,M,1], the same M values) do; each gives the
 * definition's sum in order, bit for bit. A batch of one on the left,
 * [1,M,K] @ [K,1], keeps the general path, and gives the same values. */
START_TEST(vector_form_takes_the_matvec_kernels)
{
    test_rng r = {5};
    enum { M = 5, K = 3 };
    double a[M * K], x[K];
    for (int i = 0; i < M * K; i++) a[i] = rng_uniform(&r, -1, 1);
    for (int i = 0; i < K; i++) x[i] = rng_uniform(&r, -1, 1);
    ag_node *A = constant(2, (int[]){M, K}, a);
    ag_node *y1 = ag_matmul(A, constant(1, (int[]){K}, x));
    ag_node *y2 = ag_matmul(A, constant(2, (int[]){K, 1}, x));
    ag_node *y3 = ag_matmul(constant(3, (int[]){1, M, K}, a), constant(2, (int[]){K, 1}, x));
    ag_node *y4 = ag_matmul(A, constant(3, (int[]){1, K, 1}, x));
    ck_assert(y1 && y2 && y3 && y4);
    ck_assert(y1->kernels != &ag_op_matmul.kernels && y2->kernels == y1->kernels &&
              y4->kernels == y1->kernels);
    ck_assert(y3->kernels == &ag_op_matmul.kernels);
    ck_assert_int_eq(ag_node_ndim(y1), 1);
    ck_assert_int_eq(ag_node_ndim(y3), 3);
    ck_assert(ag_node_ndim(y4) == 3 && ag_node_dim(y4, 0) == 1 && ag_node_dim(y4, 1) == M);
    for (int i = 0; i < M; i++) {
        double s = 0.0;
        for (int p = 0; p < K; p++) s += a[i * K + p] * x[p];
        ck_assert(ag_node_value(y1)[i] == s && ag_node_value(y2)[i] == s && ag_node_value(y3)[i] == s &&
                  ag_node_value(y4)[i] == s);
    }
}
END_TEST

/* ---- shape errors ---------------------------------------------------------------------- */

#define ck_assert_error(expected)                                                     \
    do {                                                                              \
        const char *e_ = ag_graph_error(g);                                           \
        ck_assert_msg(e_ != NULL, "no error recorded");                               \
        ck_assert_msg(strcmp(e_, expected) == 0, "error '%s', expected '%s'", e_, expected); \
    } while (0)

static ag_node *zeros(int ndim, const int *dims)
{
    static double z[64];
    return ag_constant(g, ndim, dims, z);
}

START_TEST(shape_errors_name_both_shapes)
{
    ck_assert_ptr_null(ag_matmul(zeros(3, (int[]){2, 3, 4}), zeros(2, (int[]){5, 6})));
    ck_assert_error("ag_matmul: (2x3x4) @ (5x6): inner dimensions differ (4 vs 5)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_matmul(zeros(1, (int[]){3}), zeros(1, (int[]){4})));
    ck_assert_error("ag_matmul: (3) @ (4): inner dimensions differ (3 vs 4)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_matmul(zeros(1, (int[]){3}), zeros(3, (int[]){2, 4, 5})));
    ck_assert_error("ag_matmul: (3) @ (2x4x5): inner dimensions differ (3 vs 4)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_matmul(zeros(2, (int[]){3, 2}), zeros(0, NULL)));
    ck_assert_error("ag_matmul: (3x2) @ (scalar): both operands must be at least 1-d "
                    "(a scalar is no vector or matrix)");
    ag_graph_reset(g);
    /* batch dims (2) and (3) */
    ck_assert_ptr_null(ag_matmul(zeros(3, (int[]){2, 3, 4}), zeros(3, (int[]){3, 4, 5})));
    ck_assert_error("ag_matmul: (2x3x4) @ (3x4x5): batch dimensions (2) and (3) do not broadcast "
                    "(2 vs 3)");
    ag_graph_reset(g);
    /* batch dims (2,3) and (4): the last ones, 3 and 4, clash */
    ck_assert_ptr_null(ag_matmul(zeros(4, (int[]){2, 3, 1, 2}), zeros(3, (int[]){4, 2, 1})));
    ck_assert_error("ag_matmul: (2x3x1x2) @ (4x2x1): batch dimensions (2x3) and (4) do not "
                    "broadcast (3 vs 4)");
    ag_graph_reset(g);
    /* linear stays 2-d */
    ck_assert_ptr_null(ag_linear(zeros(1, (int[]){3}), zeros(2, (int[]){3, 2}), zeros(1, (int[]){2})));
    ck_assert_error("ag_linear: (3) @ (3x2) + (2): both operands must be 2-d matrices");
}
END_TEST

/* [1024,1,1024,1] @ [1024,1,2048]: batch dims (1024,1) and (1024) broadcast
 * to (1024,1024), so the result [1024,1024,1024,2048] would have 2^41
 * elements. Refused by the shape rule, before anything is allocated. */
START_TEST(too_large_a_product_is_refused)
{
    ag_tensor *a = ag_tensor_zeros(4, (int[]){1024, 1, 1024, 1});
    ag_tensor *b = ag_tensor_zeros(3, (int[]){1024, 1, 2048});
    ck_assert(a && b);
    ck_assert_ptr_null(ag_matmul(ag_input(g, a), ag_input(g, b)));
    ck_assert_error("ag_matmul: (1024x1x1024x1) @ (1024x1x2048): the product would have "
                    "2199023255552 elements (over 2^40)");
    ag_tensor_free(a);
    ag_tensor_free(b);
}
END_TEST

/* ---- every form against central differences ----------------------------------------------- */

static const char *const form_names[MATMUL_FORMS] = {
    "matrices", "large matrices", "row vector", "column vector", "dot",
    "batched",  "batched vector", "batched large"};

/* The vjp of each form against central differences (assert_vjp_matches_fd),
 * and its jvp: the product is bilinear, so along a tangent (tA, tB) the
 * central difference (f(A + h tA, B + h tB) - f(A - h tA, B - h tB)) / 2h
 * is tA B + A tB up to rounding. _i is the form. */
START_TEST(form_gradient_and_tangent_match_differences)
{
    test_rng r = {0x3a7a0000u + (uint64_t)_i};
    for (int trial = 0; trial < 6; trial++) {
        ag_graph *h = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(matmul_form_case(h, &r, &c, _i), "%s: %s", form_names[_i], ag_graph_error(h));
        assert_vjp_matches_fd(h, &c, &r, form_names[_i]);
        double *t[2], *x[2];
        for (int p = 0; p < 2; p++) {
            size_t n = ag_tensor_size(c.params[p]);
            t[p] = malloc(n * sizeof(double));
            x[p] = malloc(n * sizeof(double));
            memcpy(x[p], ag_tensor_data(c.params[p]), n * sizeof(double));
            for (size_t k = 0; k < n; k++) t[p][k] = rng_uniform(&r, -1, 1);
        }
        ck_assert(ag_jvp(h, 2, c.param_nodes, (const double *const *)t));
        size_t m = ag_node_size(c.out);
        double *tangent = malloc(m * sizeof(double)), *plus = malloc(m * sizeof(double));
        memcpy(tangent, ag_node_tangent(c.out), m * sizeof(double));
        const double step = 1e-6;
        for (int sign = 1; sign >= -1; sign -= 2) {
            for (int p = 0; p < 2; p++)
                for (size_t k = 0; k < ag_tensor_size(c.params[p]); k++)
                    ag_tensor_data(c.params[p])[k] = x[p][k] + sign * step * t[p][k];
            ck_assert(ag_graph_forward(h));
            for (size_t k = 0; k < m; k++) {
                if (sign > 0) {
                    plus[k] = ag_node_value(c.out)[k];
                    continue;
                }
                double numeric = (plus[k] - ag_node_value(c.out)[k]) / (2 * step);
                ck_assert_msg(fabs(tangent[k] - numeric) <= 1e-6 + 1e-6 * fabs(numeric),
                              "%s: tangent element %zu: %.12g vs difference %.12g", form_names[_i], k,
                              tangent[k], numeric);
            }
        }
        for (int p = 0; p < 2; p++) free(t[p]), free(x[p]);
        free(tangent);
        free(plus);
        op_case_free(&c);
        ag_graph_free(h);
    }
}
END_TEST

Suite *ops_matmul_suite(void)
{
    Suite *s = suite_create("ops_matmul");
    TCase *tc = tcase_create("forms");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, row_vector_times_matrix);
    tcase_add_test(tc, matrix_times_vector);
    tcase_add_test(tc, vector_dot_vector_is_a_scalar);
    tcase_add_test(tc, batch_times_one_matrix_sums_its_gradient);
    tcase_add_test(tc, four_d_batches_broadcast_both_ways);
    tcase_add_test(tc, vector_against_a_batch);
    tcase_add_test(tc, batch_of_large_matrices_is_each_product);
    tcase_add_test(tc, batch_over_the_threads_is_each_product);
    tcase_add_test(tc, vector_form_takes_the_matvec_kernels);
    tcase_add_test(tc, shape_errors_name_both_shapes);
    tcase_add_test(tc, too_large_a_product_is_refused);
    suite_add_tcase(s, tc);
    TCase *fd = tcase_create("differences");
    tcase_add_loop_test(fd, form_gradient_and_tangent_match_differences, 0, MATMUL_FORMS);
    suite_add_tcase(s, fd);
    return s;
}
