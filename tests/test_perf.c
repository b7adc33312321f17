/* test_perf.c -- what the fast paths must keep true, never timings:
 *  - a training step allocates nothing after the first one (rebuilding the
 *    graph each step, or replaying it), for TestNet and for a small MLP whose
 *    matrix products take the packed, multi-threaded path;
 *  - ag_gemm agrees with the definition C = beta*C + op(A) op(B), computed
 *    here by a plain triple loop, for every kernel this CPU runs, every
 *    transpose combination, beta 0 (C not read: it starts as NaN) and 1,
 *    padded leading dimensions, and shapes that cross the register tile and
 *    cache block edges;
 *  - the broadcasting fast paths of the elementwise ops give the same values
 *    and gradients as the definition for bias rows, columns and scalars;
 *  - so do the passes over large tensors that are split over the threads
 *    (elementwise ops, linear's bias, the zeroing of intermediate gradients). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"
#include "testnet_model.h"

/* ---- zero allocations per step ------------------------------------------------ */

/* w -= lr * dw for each parameter, then zero its gradient */
static void sgd(ag_tensor *const *params, int n, double lr)
{
    for (int i = 0; i < n; i++) {
        double *w = ag_tensor_data(params[i]);
        const double *dw = ag_tensor_grad(params[i]);
        for (size_t k = 0; k < ag_tensor_size(params[i]); k++) w[k] -= lr * dw[k];
        ag_tensor_zero_grad(params[i]);
    }
}

static void testnet_step(testnet_model *m, ag_graph *g, bool replay)
{
    if (replay) {
        ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    } else {
        ag_graph_reset(g);
        ck_assert_msg(testnet_model_record(m, g), "%s", ag_graph_error(g));
    }
    ck_assert_msg(ag_backward(g, m->J), "%s", ag_graph_error(g));
    ag_tensor *params[] = {m->W1, m->b1, m->W2, m->b2};
    sgd(params, 4, 0.1);
}

static void testnet_allocations(bool replay)
{
    counting_allocator_install(0);
    testnet_model m;
    ck_assert(testnet_model_init(&m, &testnet_weights, testnet_a0, testnet_label));
    ag_graph *g = ag_graph_new();
    ck_assert(testnet_model_record(&m, g));
    double first_loss = ag_node_value(m.J)[0];
    testnet_step(&m, g, replay);
    long after_first = counting_allocations();
    for (int step = 0; step < 20; step++) {
        /* a new input each step, as a training loop over data would */
        ag_tensor_data(m.a0)[step % TN_IN] += 0.01;
        testnet_step(&m, g, replay);
        ck_assert_int_eq(counting_allocations(), after_first);
    }
    /* the steps did train: the loss fell */
    ck_assert(ag_graph_forward(g));
    ck_assert_double_lt(ag_node_value(m.J)[0], first_loss);
    ag_graph_free(g);
    testnet_model_free(&m);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}

START_TEST(testnet_rebuild_allocates_nothing_after_step_one) { testnet_allocations(false); }
END_TEST

START_TEST(testnet_replay_allocates_nothing_after_step_one) { testnet_allocations(true); }
END_TEST

/* An MLP sized so that its products take the packed path and the threads:
 * X[32,256] -> 256 relu -> 256 relu -> 10, softmax cross-entropy. */
enum { MLP_BATCH = 32, MLP_IN = 256, MLP_HID = 256, MLP_OUT = 10, MLP_PARAMS = 6 };

typedef struct mlp {
    ag_tensor *x, *labels, *p[MLP_PARAMS]; /* W1 b1 W2 b2 W3 b3 */
    ag_node *loss;
} mlp;

static ag_tensor *random_tensor(test_rng *r, int ndim, const int *dims, double scale, bool param)
{
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = rng_uniform(r, -scale, scale);
    if (param) ck_assert(ag_tensor_requires_grad(t, true));
    return t;
}

static void mlp_init(mlp *m, test_rng *r)
{
    const int sizes[] = {MLP_IN, MLP_HID, MLP_HID, MLP_OUT};
    m->x = random_tensor(r, 2, (int[]){MLP_BATCH, MLP_IN}, 1.0, false);
    m->labels = ag_tensor_zeros(1, (int[]){MLP_BATCH});
    for (int i = 0; i < MLP_BATCH; i++) ag_tensor_data(m->labels)[i] = rng_int(r, 0, MLP_OUT - 1);
    for (int l = 0; l < 3; l++) {
        double scale = sqrt(6.0 / sizes[l]);
        m->p[2 * l] = random_tensor(r, 2, (int[]){sizes[l], sizes[l + 1]}, scale, true);
        m->p[2 * l + 1] = random_tensor(r, 1, (int[]){sizes[l + 1]}, 0.1, true);
    }
}

static void mlp_record(mlp *m, ag_graph *g)
{
    ag_node *h = ag_input(g, m->x);
    for (int l = 0; l < 3; l++) {
        h = ag_add(ag_matmul(h, ag_param(g, m->p[2 * l])), ag_param(g, m->p[2 * l + 1]));
        if (l < 2) h = ag_relu(h);
    }
    m->loss = ag_softmax_xent(h, ag_input(g, m->labels));
    ck_assert_msg(m->loss != NULL, "%s", ag_graph_error(g));
}

static void mlp_step(mlp *m, ag_graph *g, bool replay)
{
    if (replay) {
        ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    } else {
        ag_graph_reset(g);
        mlp_record(m, g);
    }
    ck_assert_msg(ag_backward(g, m->loss), "%s", ag_graph_error(g));
    sgd(m->p, MLP_PARAMS, 0.05);
}

static void mlp_allocations(bool replay)
{
    counting_allocator_install(0);
    test_rng r = {42};
    mlp m;
    mlp_init(&m, &r);
    ag_graph *g = ag_graph_new();
    mlp_record(&m, g);
    double first_loss = ag_node_value(m.loss)[0];
    mlp_step(&m, g, replay);
    long after_first = counting_allocations();
    for (int step = 0; step < 5; step++) {
        ag_tensor_data(m.x)[step] += 0.5;
        mlp_step(&m, g, replay);
        ck_assert_int_eq(counting_allocations(), after_first);
    }
    ck_assert(ag_graph_forward(g));
    ck_assert_double_lt(ag_node_value(m.loss)[0], first_loss);
    ag_graph_free(g);
    for (int i = 0; i < MLP_PARAMS; i++) ag_tensor_free(m.p[i]);
    ag_tensor_free(m.x);
    ag_tensor_free(m.labels);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}

START_TEST(mlp_rebuild_allocates_nothing_after_step_one) { mlp_allocations(false); }
END_TEST

START_TEST(mlp_replay_allocates_nothing_after_step_one) { mlp_allocations(true); }
END_TEST

/* ---- gemm against the definition ------------------------------------------------ */

/* The same product with op(B) packed first (ag_gemm_pack_b): the same bits
 * as ag_gemm's C `expected` (from C0 [M, ldc]), on the same kernel; and
 * still right when the kernel changes after the packing (it then runs from
 * B itself). */
static void check_gemm_packed_b(bool ta, bool tb, int M, int N, int K, const double *A, int lda, const double *B,
                                int ldb, double beta, const double *C0, const double *expected, int ldc)
{
    size_t c_size = (size_t)M * ldc;
    double *C = malloc(c_size * sizeof *C);
    double *buf = malloc((ag_gemm_packed_size(K, N) + 1) * sizeof *buf);
    ag_gemm_packed packed;
    ag_gemm_pack_b(tb, K, N, B, ldb, buf + 1, &packed); /* + 1: not 64-byte aligned */
    memcpy(C, C0, c_size * sizeof *C);
    ag_gemm_packed_b(ta, M, A, lda, &packed, beta, C, ldc);
    for (size_t k = 0; k < c_size; k++)
        ck_assert_in_loop(memcmp(&C[k], &expected[k], sizeof *C) == 0,
                          "%s packed-B gemm ta=%d tb=%d %dx%dx%d beta=%g: C[%zu] = %.17g, ag_gemm gave %.17g",
                          ag_gemm_isa(), ta, tb, M, N, K, beta, k, C[k], expected[k]);
    const char *isa = ag_gemm_isa();
    if (strcmp(isa, "generic") != 0 && ag_gemm_use_isa("generic")) {
        memcpy(C, C0, c_size * sizeof *C);
        ag_gemm_packed_b(ta, M, A, lda, &packed, beta, C, ldc);
        for (size_t k = 0; k < c_size; k++) /* the padding columns: C0's bits (NaN with beta 0) */
            ck_assert_in_loop(k % ldc >= (size_t)N ? memcmp(&C[k], &C0[k], sizeof *C) == 0
                                                   : fabs(C[k] - expected[k]) <= 1e-13 * (1.0 + K),
                              "packed for %s, run on generic: %dx%dx%d C[%zu] = %.17g, expected %.17g", isa, M, N,
                              K, k, C[k], expected[k]);
        ck_assert(ag_gemm_use_isa(isa));
    }
    free(buf);
    free(C);
}

/* Check ag_gemm on one shape: op(A) is M x K, op(B) is K x N, each stored
 * with `pad` spare columns; and ag_gemm_packed_b beside it. */
static void check_gemm(test_rng *r, bool ta, bool tb, int M, int N, int K, double beta, int pad)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t a_rows = ta ? K : M, b_rows = tb ? N : K;
    double *A = malloc(a_rows * lda * sizeof *A), *B = malloc(b_rows * ldb * sizeof *B);
    double *C = malloc((size_t)M * ldc * sizeof *C), *C0 = malloc((size_t)M * ldc * sizeof *C0);
    for (size_t i = 0; i < a_rows * lda; i++) A[i] = rng_uniform(r, -1.0, 1.0);
    for (size_t i = 0; i < b_rows * ldb; i++) B[i] = rng_uniform(r, -1.0, 1.0);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = beta != 0.0 ? rng_uniform(r, -1.0, 1.0) : NAN;
    memcpy(C, C0, (size_t)M * ldc * sizeof *C);

    ag_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    check_gemm_packed_b(ta, tb, M, N, K, A, lda, B, ldb, beta, C0, C, ldc);

    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0, scale = 1.0;
            for (int p = 0; p < K; p++) {
                double a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                double b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
                scale += fabs(a * b);
            }
            double expected = (beta != 0.0 ? C0[(size_t)i * ldc + j] : 0.0) + s;
            double got = C[(size_t)i * ldc + j];
            ck_assert_in_loop(fabs(got - expected) <= 1e-13 * scale,
                              "%s gemm ta=%d tb=%d %dx%dx%d beta=%g pad=%d: C[%d,%d] = %.17g, "
                              "expected %.17g",
                              ag_gemm_isa(), ta, tb, M, N, K, beta, pad, i, j, got, expected);
        }
        /* the padding columns of C are never written */
        for (int j = N; j < ldc; j++)
            ck_assert_in_loop(memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof *C) == 0,
                              "gemm wrote into the padding of C");
    }
    free(A);
    free(B);
    free(C);
    free(C0);
}

/* shapes around the edges: 1, primes, the tiles (4, 6, 8, 12, 16; the
 * last micro-panel of rows on the short tiles: 16 = 12 + 4, 20 = 12 + 8,
 * 44 = 3 x 12 + 8; the char-LSTM's recurrent products 16 x 512 x 128 and
 * 16 x 128 x 512), the cache
 * blocks (float64 MC 96, KC 384, NC 512: 385 is one past KC), and products large enough to be split
 * over the threads: by rows (M > N), and by columns with
 * op(A) packed once and shared (M <= N): one block of it, several blocks
 * of rows and of depth, and bands wider than NC that read it again; up to
 * 64 columns op(A) is read in place, not packed (157 = 13 tiles of 12 rows
 * and one row over, 64 and 65 columns either side of that limit) */
static const int gemm_shapes[][3] = {
    {1, 1, 1},     {1, 7, 5},      {6, 1, 9},      {4, 1, 3},     {2, 3, 1},    {13, 17, 19},
    {6, 8, 256},   {12, 16, 257},  {7, 9, 300},    {25, 33, 4},   {64, 64, 64}, {145, 23, 11},
    {5, 1025, 3},  {289, 17, 70},  {17, 130, 513}, {150, 300, 260}, {97, 31, 1},
    {40, 530, 30}, {97, 1100, 129}, {150, 520, 270}, {33, 2000, 300}, {400, 60, 200},
    {157, 64, 70}, {157, 65, 70},  {1000, 10, 10}, {97, 40, 385},
    {16, 512, 128}, {16, 128, 512}, {20, 40, 33}, {44, 1040, 100},
};

static void check_all_shapes(void)
{
    test_rng r = {7};
    size_t n_shapes = sizeof gemm_shapes / sizeof gemm_shapes[0];
    for (size_t s = 0; s < n_shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int beta = 0; beta < 2; beta++)
                check_gemm(&r, t & 1, t & 2, gemm_shapes[s][0], gemm_shapes[s][1],
                           gemm_shapes[s][2], beta, (int)(s % 3));
    /* and random shapes */
    for (int i = 0; i < 40; i++) {
        int M = rng_int(&r, 1, 80), N = rng_int(&r, 1, 80), K = rng_int(&r, 1, 300);
        check_gemm(&r, rng_int(&r, 0, 1), rng_int(&r, 0, 1), M, N, K, rng_int(&r, 0, 1),
                   rng_int(&r, 0, 2));
    }
}

START_TEST(gemm_matches_definition_for_every_kernel)
{
    on_every_gemm_kernel(check_all_shapes);
}
END_TEST

/* A row of C = A op(B) has the same bits whichever rows are multiplied with
 * it: rows [lo, hi) of A alone give rows [lo, hi) of the whole product, on
 * the full register tile, the short 8- and 4-row tiles and the padded last
 * micro-panel alike (lstm_sequence splits its batch into bands of rows over
 * the threads and relies on this for results that do not depend on the
 * thread count). Through ag_gemm and ag_gemm_packed_b, W^T and W as the
 * LSTM's products take them, on every kernel this CPU runs. */
static void check_rows_alone(bool tb, int M, int N, int K)
{
    test_rng r = {29};
    double *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B);
    double *C = malloc((size_t)M * N * sizeof *C), *band = malloc((size_t)M * N * sizeof *band);
    double *buf = malloc(ag_gemm_packed_size(K, N) * sizeof *buf);
    for (int i = 0; i < M * K; i++) A[i] = rng_uniform(&r, -1.0, 1.0);
    for (int i = 0; i < K * N; i++) B[i] = rng_uniform(&r, -1.0, 1.0);
    int ldb = tb ? K : N;
    ag_gemm_packed packed;
    ag_gemm_pack_b(tb, K, N, B, ldb, buf, &packed);
    ag_gemm(false, tb, M, N, K, A, K, B, ldb, 0.0, C, N);
    static const int bands[][2] = {{0, 4}, {4, 8}, {8, 16}, {0, 8}, {4, 16}, {3, 16}, {12, 16}, {0, 13}, {13, 16}};
    for (size_t b = 0; b < sizeof bands / sizeof bands[0]; b++) {
        int lo = bands[b][0], hi = bands[b][1] < M ? bands[b][1] : M;
        for (int packed_b = 0; packed_b < 2; packed_b++) {
            const double *a = A + (size_t)lo * K;
            if (packed_b)
                ag_gemm_packed_b(false, hi - lo, a, K, &packed, 0.0, band, N);
            else
                ag_gemm(false, tb, hi - lo, N, K, a, K, B, ldb, 0.0, band, N);
            ck_assert_msg(memcmp(band, C + (size_t)lo * N, (size_t)(hi - lo) * N * sizeof *C) == 0,
                          "%s gemm%s tb=%d %dx%dx%d: rows [%d, %d) alone differ from the whole product's",
                          ag_gemm_isa(), packed_b ? "_packed_b" : "", tb, M, N, K, lo, hi);
        }
    }
    free(A);
    free(B);
    free(C);
    free(band);
    free(buf);
}

static void check_lstm_bands(void)
{
    check_rows_alone(true, 16, 512, 128); /* h W^T, the char-LSTM's forward */
    check_rows_alone(false, 16, 128, 512); /* da W, its backward */
    check_rows_alone(true, 16, 128, 32);
    check_rows_alone(false, 16, 32, 128);
}

START_TEST(gemm_rows_do_not_depend_on_their_band)
{
    on_every_gemm_kernel(check_lstm_bands);
}
END_TEST

/* ---- broadcasting fast paths against the definition ---------------------------- */

/* The binary ops (index 0-3), and each one's value and
 * partial derivatives at (x, z) written from the definitions. */
static ag_node *(*const BINARY_OPS[])(ag_node *, ag_node *) = {ag_add, ag_sub, ag_mul, ag_div};

static void binary_reference(int op, double x, double z, double *f, double *df_dx, double *df_dz)
{
    *f = op == 0 ? x + z : op == 1 ? x - z : op == 2 ? x * z : x / z;
    *df_dx = op == 2 ? z : op == 3 ? 1.0 / z : 1.0;
    *df_dz = op == 0 ? 1.0 : op == 1 ? -1.0 : op == 2 ? x : -x / (z * z);
}

/* out = a (op) b for a [R,C] matrix and b of shape b_dims, then the vjp with
 * seed u; compared with loops written from the definition. From
 * AG_PARALLEL_RANGE_MIN elements on, the loops run split over the threads. */
static void check_broadcast(int R, int C, int nd_b, const int *b_dims, int b_row_stride,
                            int b_col_stride)
{
    test_rng r = {11};
    ag_tensor *ta = random_tensor(&r, 2, (int[]){R, C}, 2.0, true);
    ag_tensor *tb = random_tensor(&r, nd_b, b_dims, 2.0, true);
    for (size_t i = 0; i < ag_tensor_size(tb); i++) ag_tensor_data(tb)[i] += 3.0; /* away from 0 */
    for (int o = 0; o < 4; o++) {
        ag_graph *g = ag_graph_new();
        ag_node *y = BINARY_OPS[o](ag_param(g, ta), ag_param(g, tb));
        ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
        double *u = malloc((size_t)R * C * sizeof *u), *gb = malloc((size_t)R * C * sizeof *gb);
        for (int k = 0; k < R * C; k++) u[k] = rng_uniform(&r, -1.0, 1.0);
        /* gradients accumulate: start them away from 0 */
        for (size_t k = 0; k < ag_tensor_size(ta); k++) ag_tensor_grad(ta)[k] = 0.5;
        for (size_t k = 0; k < ag_tensor_size(tb); k++) ag_tensor_grad(tb)[k] = 0.5;
        ck_assert(ag_backward_seed(g, y, u));
        const double *a = ag_tensor_data(ta), *b = ag_tensor_data(tb);
        for (int k = 0; k < R * C; k++) gb[k] = 0.5;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                double x = a[i * C + j], z = b[i * b_row_stride + j * b_col_stride];
                double v, da, db;
                binary_reference(o, x, z, &v, &da, &db);
                ck_assert_close(ag_node_value(y)[i * C + j], v, 1e-15);
                ck_assert_close(ag_tensor_grad(ta)[i * C + j], 0.5 + u[i * C + j] * da, 1e-15);
                gb[i * b_row_stride + j * b_col_stride] += u[i * C + j] * db;
            }
        /* b's gradient sums its terms in the order of these loops (row by
         * row), however the rows are split over the threads: equal exactly,
         * so a split that reorders or races the sum fails here */
        for (size_t k = 0; k < ag_tensor_size(tb); k++)
            ck_assert_in_loop(ag_tensor_grad(tb)[k] == gb[k], "%dx%d: grad b[%zu] = %.17g, expected %.17g",
                              R, C, k, ag_tensor_grad(tb)[k], gb[k]);
        free(u);
        free(gb);
        ag_graph_free(g);
    }
    ag_tensor_free(ta);
    ag_tensor_free(tb);
}

static void check_broadcasts(int R, int C)
{
    check_broadcast(R, C, 2, (int[]){R, C}, C, 1); /* same shape */
    check_broadcast(R, C, 1, (int[]){C}, 0, 1);    /* bias row */
    check_broadcast(R, C, 2, (int[]){1, C}, 0, 1); /* bias row, 2-d */
    check_broadcast(R, C, 2, (int[]){R, 1}, 1, 0); /* column */
    check_broadcast(R, C, 0, NULL, 0, 0);          /* scalar */
}

START_TEST(broadcast_fast_paths_match_definition)
{
    check_broadcasts(5, 7);
    /* above AG_PARALLEL_RANGE_MIN: rows split over the threads, odd widths */
    ck_assert_int_ge(301 * 131, AG_PARALLEL_RANGE_MIN);
    check_broadcasts(301, 131);
}
END_TEST

/* ---- large tensors: the passes split over the threads ---------------------------- */

/* relu, tanh and exp on a tensor of n elements, n past AG_PARALLEL_RANGE_MIN
 * and not a multiple of the 8-element pieces: each value and gradient element
 * against its closed form. */
START_TEST(unary_ops_on_large_tensors_match_closed_forms)
{
    enum { N = 40009 };
    ck_assert_int_ge(N, AG_PARALLEL_RANGE_MIN);
    test_rng r = {21};
    ag_tensor *x = random_tensor(&r, 1, (int[]){N}, 2.0, true);
    for (int op = 0; op < 3; op++) {
        ag_graph *g = ag_graph_new();
        ag_node *xn = ag_param(g, x);
        ag_node *y = op == 0 ? ag_relu(xn) : op == 1 ? ag_tanh(xn) : ag_exp(xn);
        ag_node *loss = ag_sum(ag_mul(y, ag_input(g, x))); /* d loss / dy = x */
        ag_tensor_zero_grad(x);
        ck_assert_msg(ag_backward(g, loss), "%s", ag_graph_error(g));
        const double *xv = ag_tensor_data(x), *yv = ag_node_value(y), *gx = ag_tensor_grad(x);
        for (int k = 0; k < N; k++) {
            double v = xv[k];
            double f = op == 0 ? (v > 0.0 ? v : 0.0) : op == 1 ? tanh(v) : exp(v);
            double df = op == 0 ? (v > 0.0 ? 1.0 : 0.0) : op == 1 ? 1.0 - f * f : f;
            ck_assert_close(yv[k], f, 1e-15 * (1.0 + fabs(f)));
            /* x enters the product as an input (no gradient there): f'(x) x */
            ck_assert_close(gx[k], df * v, 1e-14 * (1.0 + fabs(f)));
        }
        ag_graph_free(g);
    }
    ag_tensor_free(x);
}
END_TEST

/* x (op) c and c (op) x for a scalar input c on a large x: a one-row view,
 * split by columns forward, and in the vjp when only x takes a gradient;
 * loss = sum(y * w) so dy = w, and dx = w * df/dx, exactly (one product each) */
START_TEST(scalar_broadcast_on_large_tensors_matches_definition)
{
    enum { N = 40009 };
    test_rng r = {51};
    ag_tensor *x = random_tensor(&r, 1, (int[]){N}, 2.0, true);
    ag_tensor *w = random_tensor(&r, 1, (int[]){N}, 1.0, false);
    for (size_t k = 0; k < N; k++) ag_tensor_data(x)[k] += 3.0; /* away from 0: c / x */
    ag_tensor *c = ag_tensor_scalar(1.7);
    for (int o = 0; o < 8; o++) {
        bool x_first = o < 4;
        ag_graph *g = ag_graph_new();
        ag_node *xn = ag_param(g, x), *cn = ag_input(g, c);
        ag_node *y = x_first ? BINARY_OPS[o % 4](xn, cn) : BINARY_OPS[o % 4](cn, xn);
        ag_node *loss = ag_sum(ag_mul(y, ag_input(g, w)));
        ag_tensor_zero_grad(x);
        ck_assert_msg(ag_backward(g, loss), "%s", ag_graph_error(g));
        const double *xv = ag_tensor_data(x), *wv = ag_tensor_data(w);
        for (int k = 0; k < N; k++) {
            double f, df_da, df_db;
            binary_reference(o % 4, x_first ? xv[k] : 1.7, x_first ? 1.7 : xv[k], &f, &df_da, &df_db);
            double df = x_first ? df_da : df_db; /* d/dx: x is a, or b */
            ck_assert_in_loop(ag_node_value(y)[k] == f, "op %d: y[%d] = %.17g, expected %.17g", o, k,
                              ag_node_value(y)[k], f);
            ck_assert_in_loop(ag_tensor_grad(x)[k] == wv[k] * df, "op %d: dx[%d] = %.17g, expected %.17g",
                              o, k, ag_tensor_grad(x)[k], wv[k] * df);
        }
        ag_graph_free(g);
    }
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(c);
}
END_TEST

/* y = A @ B + bias for every bias shape on a [M,N] product past
 * AG_PARALLEL_RANGE_MIN, backward with seed u; the bias gradient (sums of u
 * over rows, columns or everything) and the values against plain loops. */
static void check_large_linear(int nd_c, const int *c_dims, int c_rs, int c_cs)
{
    enum { M = 203, K = 3, N = 173 };
    test_rng r = {31};
    ag_tensor *a = random_tensor(&r, 2, (int[]){M, K}, 1.0, false);
    ag_tensor *b = random_tensor(&r, 2, (int[]){K, N}, 1.0, false);
    ag_tensor *c = random_tensor(&r, nd_c, c_dims, 1.0, true);
    ag_graph *g = ag_graph_new();
    ag_node *y = ag_linear(ag_input(g, a), ag_input(g, b), ag_param(g, c));
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    double *u = malloc((size_t)M * N * sizeof *u), *dc = calloc(ag_tensor_size(c), sizeof *dc);
    for (int k = 0; k < M * N; k++) u[k] = rng_uniform(&r, -1.0, 1.0);
    ag_tensor_zero_grad(c);
    ck_assert(ag_backward_seed(g, y, u));
    const double *A = ag_tensor_data(a), *B = ag_tensor_data(b), *C = ag_tensor_data(c);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = C[i * c_rs + j * c_cs];
            for (int p = 0; p < K; p++) s += A[i * K + p] * B[p * N + j];
            ck_assert_close(ag_node_value(y)[i * N + j], s, 1e-14);
            dc[i * c_rs + j * c_cs] += u[i * N + j];
        }
    /* the bias gradient is summed in this loop's order on any thread count */
    for (size_t k = 0; k < ag_tensor_size(c); k++)
        ck_assert_in_loop(ag_tensor_grad(c)[k] == dc[k], "grad c[%zu] = %.17g, expected %.17g", k,
                          ag_tensor_grad(c)[k], dc[k]);
    free(u);
    free(dc);
    ag_graph_free(g);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(c);
}

START_TEST(linear_bias_on_large_products_matches_definition)
{
    enum { M = 203, N = 173 };
    ck_assert_int_ge(M * N, AG_PARALLEL_RANGE_MIN);
    check_large_linear(2, (int[]){M, N}, N, 1); /* same shape */
    check_large_linear(1, (int[]){N}, 0, 1);    /* row: by blocks of columns */
    check_large_linear(2, (int[]){M, 1}, 1, 0); /* column: by rows */
    check_large_linear(0, NULL, 0, 0);          /* scalar */
}
END_TEST

/* A repeated backward zeroes large intermediate gradients (split over the
 * threads) before the walk: loss = sum(relu(w * x) * x) twice gives the
 * parameter 2 x (relu'(w x) x^2), not 1 + 2 times it. */
START_TEST(repeated_backward_zeroes_large_intermediates)
{
    enum { N = 50003 };
    test_rng r = {41};
    ag_tensor *w = random_tensor(&r, 1, (int[]){N}, 1.0, true);
    ag_tensor *x = random_tensor(&r, 1, (int[]){N}, 1.0, false);
    ag_graph *g = ag_graph_new();
    ag_node *xn = ag_input(g, x);
    ag_node *loss = ag_sum(ag_mul(ag_relu(ag_mul(ag_param(g, w), xn)), xn));
    ag_tensor_zero_grad(w);
    ck_assert(ag_backward(g, loss));
    ck_assert(ag_backward(g, loss)); /* the scheduled repeat */
    const double *wv = ag_tensor_data(w), *xv = ag_tensor_data(x);
    for (int k = 0; k < N; k++) {
        double expected = wv[k] * xv[k] > 0.0 ? 2.0 * xv[k] * xv[k] : 0.0;
        ck_assert_close(ag_tensor_grad(w)[k], expected, 1e-15);
    }
    ag_graph_free(g);
    ag_tensor_free(w);
    ag_tensor_free(x);
}
END_TEST

/* ---- tiny products and tensors: the specialised paths ----------------------------- */

extern const ag_op ag_op_matmul, ag_op_linear;

/* y = A x (+ c) for A [M,K] and x [K,1], recorded as matmul, or linear with
 * a column bias, for each set of operands taking a gradient (mask bit 0: A,
 * 1: x, 2: c); backward with seed u onto gradients that start at 0.5. K up to
 * 4 takes the matrix-vector variant, K = 5 the general path: the values
 * equal the definition's sum taken in order (c, then p = 0 .. K-1), exactly,
 * as the hand derivation of TestNet computes them. */
static void check_matvec(int M, int K, bool with_bias, int mask)
{
    test_rng r = {61};
    ag_tensor *a = random_tensor(&r, 2, (int[]){M, K}, 1.0, mask & 1);
    ag_tensor *x = random_tensor(&r, 2, (int[]){K, 1}, 1.0, mask & 2);
    ag_tensor *c = random_tensor(&r, 2, (int[]){M, 1}, 1.0, mask & 4);
    ag_tensor *ts[3] = {a, x, c};
    ag_graph *g = ag_graph_new();
    ag_node *in[3];
    for (int k = 0; k < 3; k++) in[k] = mask & (1 << k) ? ag_param(g, ts[k]) : ag_input(g, ts[k]);
    ag_node *y = with_bias ? ag_linear(in[0], in[1], in[2]) : ag_matmul(in[0], in[1]);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_str_eq(ag_node_op(y), with_bias ? "linear" : "matmul");
    /* the specialised kernels are chosen for K <= 4 (a forward of their
     * own), not for K = 5; the node's op stays the op */
    const ag_op *general = with_bias ? &ag_op_linear : &ag_op_matmul;
    ck_assert_ptr_eq(y->op, general);
    ck_assert_msg((y->kernels != &general->kernels) == (K <= 4), "%dx%d: specialised %s", M, K,
                  y->kernels != &general->kernels ? "chosen" : "not chosen");
    double u[8];
    for (int i = 0; i < M; i++) u[i] = rng_uniform(&r, -1.0, 1.0);
    for (int k = 0; k < 3; k++)
        if (mask & (1 << k))
            for (size_t e = 0; e < ag_tensor_size(ts[k]); e++) ag_tensor_grad(ts[k])[e] = 0.5;
    bool takes_grad = (mask & 3) || (with_bias && (mask & 4)); /* else: no backward */
    ck_assert(!takes_grad || ag_backward_seed(g, y, u));
    const double *A = ag_tensor_data(a), *X = ag_tensor_data(x), *C = ag_tensor_data(c);
    for (int i = 0; i < M; i++) {
        double s = with_bias ? C[i] : 0.0;
        for (int p = 0; p < K; p++) s += A[i * K + p] * X[p];
        ck_assert_msg(ag_node_value(y)[i] == s, "%dx%d bias %d: y[%d] = %.17g, expected %.17g",
                      M, K, with_bias, i, ag_node_value(y)[i], s);
    }
    for (int i = 0; i < M; i++)
        for (int p = 0; p < K && (mask & 1); p++) /* dA = u x^T, one product per element */
            ck_assert(ag_tensor_grad(a)[i * K + p] == 0.5 + u[i] * X[p]);
    for (int p = 0; p < K && (mask & 2); p++) { /* dx = A^T u, added row by row */
        double s = 0.5;
        for (int i = 0; i < M; i++) s += A[i * K + p] * u[i];
        if (K <= 4) /* the variant: this order exactly */
            ck_assert_msg(ag_tensor_grad(x)[p] == s, "%dx%d: dx[%d] = %.17g, expected %.17g", M, K,
                          p, ag_tensor_grad(x)[p], s);
        else /* the general loops add two rows at a time */
            ck_assert_close(ag_tensor_grad(x)[p], s, 1e-15);
    }
    for (int i = 0; i < M && with_bias && (mask & 4); i++) /* dc = u */
        ck_assert(ag_tensor_grad(c)[i] == 0.5 + u[i]);
    ag_graph_free(g);
    for (int k = 0; k < 3; k++) ag_tensor_free(ts[k]);
}

START_TEST(matvec_variants_match_definition)
{
    const int rows[] = {1, 2, 4, 7};
    for (int K = 1; K <= 5; K++)
        for (int m = 0; m < 4; m++)
            for (int mask = 0; mask < 8; mask++) {
                check_matvec(rows[m], K, false, mask);
                check_matvec(rows[m], K, true, mask);
            }
}
END_TEST

/* A replayed TestNet-shaped layer with new values in every operand: the
 * variant reads its operands afresh at each replay (it keeps no copy). */
START_TEST(matvec_variant_replays_with_new_values)
{
    ag_tensor *W = ag_tensor_from(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *x = ag_tensor_from(2, (int[]){3, 1}, (double[]){1, 0, -1});
    ag_tensor *b = ag_tensor_from(2, (int[]){2, 1}, (double[]){0.5, -0.5});
    ag_tensor_requires_grad(W, true);
    ag_graph *g = ag_graph_new();
    ag_node *y = ag_linear(ag_param(g, W), ag_input(g, x), ag_input(g, b));
    ag_node *loss = ag_sum(y);
    /* y = (1 - 3 + 0.5, 4 - 6 - 0.5) = (-1.5, -2.5) */
    ck_assert(ag_node_value(y)[0] == -1.5 && ag_node_value(y)[1] == -2.5);
    ag_tensor_data(W)[0] = 10;
    ag_tensor_data(x)[2] = 2;
    ag_tensor_data(b)[1] = 1;
    ck_assert(ag_graph_forward(g));
    /* y = (10 + 6 + 0.5, 4 + 12 + 1) = (16.5, 17); dW = 1 x^T in each row */
    ck_assert(ag_node_value(y)[0] == 16.5 && ag_node_value(y)[1] == 17.0);
    ag_tensor_zero_grad(W);
    ck_assert(ag_backward(g, loss));
    const double dW[6] = {1, 0, 2, 1, 0, 2};
    for (int k = 0; k < 6; k++) ck_assert(ag_tensor_grad(W)[k] == dW[k]);
    ag_graph_free(g);
    ag_tensor_free(W);
    ag_tensor_free(x);
    ag_tensor_free(b);
}
END_TEST

/* Each unary op on tensors of 1 to 9 elements (straight code up to 8, the
 * loop from 9) against its closed form, and relu also at its special points:
 * relu(x) = x for x > 0 and for NaN, else +0 (-0 and -inf too); relu'(x) =
 * 1 for x > 0 and for NaN, else 0 (PyTorch: relu(NaN) = NaN, and its
 * backward passes the gradient at NaN). */
enum { UNARY_TINY_CASES = 8 };
static ag_node *unary_tiny_op(int op, ag_node *x)
{
    switch (op) {
    case 0: return ag_neg(x);
    case 1: return ag_exp(x);
    case 2: return ag_log(x);
    case 3: return ag_tanh(x);
    case 4: return ag_sigmoid(x);
    case 5: return ag_pow(x, 3.0);
    default: return ag_relu(x); /* 6: random values, 7: the special points */
    }
}

/* f(v) and f'(v) of case op, written from the definitions */
static void unary_tiny_reference(int op, double v, double *f, double *df)
{
    switch (op) {
    case 0: *f = -v, *df = -1.0; break;
    case 1: *f = exp(v), *df = *f; break;
    case 2: *f = log(v), *df = 1.0 / v; break;
    case 3: *f = tanh(v), *df = 1.0 - *f * *f; break;
    case 4: *f = v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v)), *df = *f * (1.0 - *f); break;
    case 5: *f = pow(v, 3.0), *df = 3.0 * pow(v, 2.0); break;
    default: *f = isnan(v) || v > 0.0 ? v : 0.0, *df = isnan(v) || v > 0.0 ? 1.0 : 0.0;
    }
}

START_TEST(unary_ops_on_tiny_tensors_match_closed_forms)
{
    static const double specials[9] = {-INFINITY, -2.0, -0.0, 0.0, NAN, 5e-324, 3.0, INFINITY, -5e-324};
    test_rng r = {71};
    for (int n = 1; n <= 9; n++)
        for (int op = 0; op < UNARY_TINY_CASES; op++) {
            ag_tensor *x = random_tensor(&r, 1, (int[]){n}, 2.0, true);
            double *xv = ag_tensor_data(x);
            if (op == 2)
                for (int k = 0; k < n; k++) xv[k] = fabs(xv[k]) + 0.1; /* log's domain */
            if (op == 7) memcpy(xv, specials, (size_t)n * sizeof(double));
            ag_tensor *w = random_tensor(&r, 1, (int[]){n}, 1.0, false);
            ag_graph *g = ag_graph_new();
            ag_node *y = unary_tiny_op(op, ag_param(g, x));
            ag_tensor_zero_grad(x);
            ck_assert(ag_backward_seed(g, y, ag_tensor_data(w)));
            for (int k = 0; k < n; k++) {
                double f, df, wk = ag_tensor_data(w)[k], got = ag_node_value(y)[k];
                unary_tiny_reference(op, xv[k], &f, &df);
                ck_assert_msg(isnan(f) ? isnan(got) : got == f && signbit(got) == signbit(f),
                              "op %d n %d: y[%d] = %g, expected %g", op, n, k, got, f);
                ck_assert_msg(ag_tensor_grad(x)[k] == wk * df, "op %d n %d: dx[%d] = %.17g, expected %.17g",
                              op, n, k, ag_tensor_grad(x)[k], wk * df);
            }
            ag_graph_free(g);
            ag_tensor_free(x);
            ag_tensor_free(w);
        }
}
END_TEST

/* The four binary ops on same-shape tensors of 1 to 9 elements against the
 * definitions, both operands taking gradients from a seed u. */
START_TEST(binary_ops_on_tiny_tensors_match_definition)
{
    test_rng r = {81};
    for (int n = 1; n <= 9; n++)
        for (int o = 0; o < 4; o++) {
            ag_tensor *a = random_tensor(&r, 1, (int[]){n}, 2.0, true);
            ag_tensor *b = random_tensor(&r, 1, (int[]){n}, 2.0, true);
            ag_tensor *u = random_tensor(&r, 1, (int[]){n}, 1.0, false);
            for (int k = 0; k < n; k++) ag_tensor_data(b)[k] += 3.0; /* away from 0 */
            ag_graph *g = ag_graph_new();
            ag_node *y = BINARY_OPS[o](ag_param(g, a), ag_param(g, b));
            ag_tensor_zero_grad(a);
            ag_tensor_zero_grad(b);
            ck_assert(ag_backward_seed(g, y, ag_tensor_data(u)));
            for (int k = 0; k < n; k++) {
                double f, da, db, uk = ag_tensor_data(u)[k];
                binary_reference(o, ag_tensor_data(a)[k], ag_tensor_data(b)[k], &f, &da, &db);
                ck_assert_msg(ag_node_value(y)[k] == f, "op %d n %d: y[%d]", o, n, k);
                ck_assert_msg(ag_tensor_grad(a)[k] == uk * da, "op %d n %d: da[%d]", o, n, k);
                ck_assert_msg(ag_tensor_grad(b)[k] == uk * db, "op %d n %d: db[%d]", o, n, k);
            }
            ag_graph_free(g);
            ag_tensor_free(a);
            ag_tensor_free(b);
            ag_tensor_free(u);
        }
}
END_TEST

/* One operand in both places on tiny sizes, so both gradient updates land in
 * one buffer, one after the other: x * x gives dx = (u x) + (u x) exactly,
 * W @ W for a [1,1] W gives 2 u w, and linear(W, x, x) with x [M,1] for
 * M = 1 adds u to dx after W^T u. */
START_TEST(tiny_ops_with_one_operand_twice_match_definition)
{
    test_rng r = {91};
    for (int n = 1; n <= 9; n++) {
        ag_tensor *x = random_tensor(&r, 1, (int[]){n}, 2.0, true);
        ag_tensor *u = random_tensor(&r, 1, (int[]){n}, 1.0, false);
        ag_graph *g = ag_graph_new();
        ag_node *xn = ag_param(g, x);
        ag_node *y = ag_mul(xn, xn);
        ag_tensor_zero_grad(x);
        ck_assert(ag_backward_seed(g, y, ag_tensor_data(u)));
        for (int k = 0; k < n; k++) {
            double v = ag_tensor_data(x)[k], uk = ag_tensor_data(u)[k];
            ck_assert(ag_node_value(y)[k] == v * v);
            ck_assert_msg(ag_tensor_grad(x)[k] == uk * v + uk * v, "n %d: dx[%d]", n, k);
        }
        ag_graph_free(g);
        ag_tensor_free(x);
        ag_tensor_free(u);
    }
    ag_tensor *w = ag_tensor_from(2, (int[]){1, 1}, (double[]){1.5});
    ag_tensor_requires_grad(w, true);
    ag_graph *g = ag_graph_new();
    ag_node *wn = ag_param(g, w);
    ag_node *ww = ag_matmul(wn, wn), *lin = ag_linear(wn, wn, wn);
    ck_assert(ag_node_value(ww)[0] == 2.25 && ag_node_value(lin)[0] == 3.75);
    ag_tensor_zero_grad(w);
    ck_assert(ag_backward_seed(g, ww, (double[]){0.5}));
    ck_assert(ag_tensor_grad(w)[0] == 0.75 + 0.75); /* d(w^2) = 2 w u */
    ag_tensor_zero_grad(w);
    ck_assert(ag_backward_seed(g, lin, (double[]){0.5}));
    ck_assert(ag_tensor_grad(w)[0] == 0.75 + 0.75 + 0.5); /* d(w^2 + w) = (2 w + 1) u */
    ag_graph_free(g);
    ag_tensor_free(w);
}
END_TEST

/* Softmax rows of 1 to 5 values, with ties, infinities and NaN: each p and
 * the cross-entropy against the definition with every exp called,
 * p_c = exp(x_c - m) * (1 / sum), J = log(sum) - (x_y - m), bit for bit
 * (NaN where the definition gives NaN). The op skips the call for the
 * maximum, exp(0) = 1, when the maximum is finite. */
static void check_softmax_row(const double *x, int n)
{
    double m = x[0], s = 0.0, e[8];
    for (int c = 1; c < n; c++) m = x[c] > m ? x[c] : m;
    for (int c = 0; c < n; c++) s += e[c] = exp(x[c] - m);
    ag_tensor *t = ag_tensor_from(1, (int[]){n}, x);
    ag_graph *g = ag_graph_new();
    ag_node *p = ag_softmax(ag_input(g, t));
    ag_node *J = ag_softmax_xent_label(ag_input(g, t), n - 1);
    ck_assert_msg(p && J, "%s", ag_graph_error(g));
    for (int c = 0; c < n; c++) {
        double want = e[c] * (1.0 / s), got = ag_node_value(p)[c];
        ck_assert_msg(got == want || (isnan(got) && isnan(want)), "n %d: p[%d] = %.17g, expected %.17g",
                      n, c, got, want);
    }
    double want_J = log(s) - (x[n - 1] - m), got_J = ag_node_value(J)[0];
    ck_assert_msg(got_J == want_J || (isnan(got_J) && isnan(want_J)), "n %d: J = %.17g, expected %.17g",
                  n, got_J, want_J);
    ag_graph_free(g);
    ag_tensor_free(t);
}

START_TEST(softmax_rows_match_definition_at_special_values)
{
    static const double rows[][5] = {
        {0.3, -1.2, 2.5, 2.5, 0.0},         /* a tie for the maximum */
        {-700.0, 710.0, 3.0, -1e-300, 5e-324},
        {-INFINITY, 1.0, -INFINITY, 0.5, 2.0},
        {INFINITY, 1.0, 2.0, INFINITY, 0.0}, /* an infinite maximum: NaN, as defined */
        {NAN, 1.0, 2.0, 3.0, 4.0},           /* NaN first: the maximum stays NaN */
        {1.0, NAN, 2.0, 0.5, -3.0},
        {-0.0, 0.0, -0.0, 0.0, -0.0},
    };
    test_rng r = {101};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        for (int n = 1; n <= 5; n++) check_softmax_row(rows[k], n);
    for (int i = 0; i < 200; i++) { /* and random rows */
        double x[5];
        int n = rng_int(&r, 1, 5);
        for (int c = 0; c < n; c++) x[c] = rng_uniform(&r, -30.0, 30.0);
        check_softmax_row(x, n);
    }
}
END_TEST

Suite *perf_suite(void)
{
    Suite *s = suite_create("perf");
    TCase *tc = tcase_create("no allocation per step, kernels against definitions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, testnet_rebuild_allocates_nothing_after_step_one);
    tcase_add_test(tc, testnet_replay_allocates_nothing_after_step_one);
    tcase_add_test(tc, mlp_rebuild_allocates_nothing_after_step_one);
    tcase_add_test(tc, mlp_replay_allocates_nothing_after_step_one);
    tcase_add_test(tc, gemm_matches_definition_for_every_kernel);
    tcase_add_test(tc, gemm_rows_do_not_depend_on_their_band);
    tcase_add_test(tc, broadcast_fast_paths_match_definition);
    tcase_add_test(tc, unary_ops_on_large_tensors_match_closed_forms);
    tcase_add_test(tc, scalar_broadcast_on_large_tensors_matches_definition);
    tcase_add_test(tc, linear_bias_on_large_products_matches_definition);
    tcase_add_test(tc, repeated_backward_zeroes_large_intermediates);
    tcase_add_test(tc, matvec_variants_match_definition);
    tcase_add_test(tc, matvec_variant_replays_with_new_values);
    tcase_add_test(tc, unary_ops_on_tiny_tensors_match_closed_forms);
    tcase_add_test(tc, binary_ops_on_tiny_tensors_match_definition);
    tcase_add_test(tc, tiny_ops_with_one_operand_twice_match_definition);
    tcase_add_test(tc, softmax_rows_match_definition_at_special_values);
    suite_add_tcase(s, tc);
    return s;
}
