/* test_gemm_f32.c -- ag_gemm_f32, the float32 matrix product, against the
 * definition C = beta*C + op(A) op(B) computed here in double from the same
 * float inputs, for every kernel this CPU runs (ag_gemm_use_isa), every
 * transpose combination, beta 0 (C not read: it starts as NaN) and 1,
 * padded leading dimensions (the padding must stay untouched), and shapes
 * that take each path: direct (tiny and matrix-vector), blocked on one
 * thread, op(A) read in place (N <= 64), and split over the threads by
 * rows and by columns with op(A) packed once and shared.
 *
 * The bound. Each element is a sum of n = K + 1 terms t_0 = beta*C0 and
 * t_p = a_ip b_pj, formed in float (u = 2^-24, the unit roundoff). Whatever
 * the order of the additions, and whether or not each product is fused into
 * its addition (FMA: exact product; SSE2's generic kernel: the product
 * rounded once more), the computed sum s satisfies (Higham, "Accuracy and
 * Stability of Numerical Algorithms", 2nd ed., section 4.2 and 3.1)
 *     |s - sum t| <= gamma_{n+1} * sum |t|,   gamma_m = m u / (1 - m u).
 * The reference is the double sum of the same terms (the products of two
 * floats are exact in double), itself within gamma_n(2^-53) * sum |t|,
 * which the bound absorbs. A missing, doubled or misplaced term shifts an
 * element by about |a b| ~ 0.25 on these uniform(-1, 1) entries, thousands
 * of times the bound at the K used here (K u sum|t| <= 2e-3 at K = 513). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

#define U32 (1.0 / 16777216.0) /* 2^-24 */
#define U64 (1.0 / 9007199254740992.0) /* 2^-53 */

static double gamma_of(int m, double u) { return m * u / (1.0 - m * u); }

static float *random_floats(test_rng *r, size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (float)rng_uniform(r, -1.0, 1.0);
    return v;
}

/* Check ag_gemm_f32 on one shape: op(A) is M x K, op(B) is K x N, each
 * stored with `pad` spare columns. */
static void check_gemm_f32(test_rng *r, bool ta, bool tb, int M, int N, int K, float beta, int pad)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t a_rows = ta ? K : M, b_rows = tb ? N : K;
    float *A = random_floats(r, a_rows * lda), *B = random_floats(r, b_rows * ldb);
    float *C0 = random_floats(r, (size_t)M * ldc), *C = malloc((size_t)M * ldc * sizeof *C);
    if (beta == 0.0f)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C0[(size_t)i * ldc + j] = NAN; /* must not be read */
    memcpy(C, C0, (size_t)M * ldc * sizeof *C);

    ag_gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);

    double bound_factor = gamma_of(K + 2, U32) + gamma_of(K + 1, U64);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double c0 = beta != 0.0f ? C0[(size_t)i * ldc + j] : 0.0;
            double s = c0, magnitude = fabs(c0);
            for (int p = 0; p < K; p++) {
                double a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                double b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
                magnitude += fabs(a * b);
            }
            double got = C[(size_t)i * ldc + j];
            ck_assert_in_loop(fabs(got - s) <= bound_factor * magnitude,
                              "%s gemm_f32 ta=%d tb=%d %dx%dx%d beta=%g pad=%d: C[%d,%d] = %.9g, "
                              "expected %.9g (bound %.3g)",
                              ag_gemm_isa(), ta, tb, M, N, K, beta, pad, i, j, got, s,
                              bound_factor * magnitude);
        }
        /* the padding columns of C are never written */
        for (int j = N; j < ldc; j++)
            ck_assert_in_loop(memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof *C) == 0,
                              "gemm_f32 wrote into the padding of C");
    }
    free(A);
    free(B);
    free(C);
    free(C0);
}

/* M x N x K. Tiles: 4 x 8 (generic), 6 x 16 (AVX2), 12 x 32 (AVX-512) in
 * float32; blocks MC 96, KC 512, NC 512. Direct: MNK <= 4096, M = 1 or
 * N = 1, K = 1. Threaded from MNK >= 2^21: by rows when M > N, else by
 * columns with op(A) shared. op(A) in place: N <= 64 on one band. */
static const int shapes_f32[][3] = {
    /* the direct path: tiny, vector shapes, outer product */
    {1, 1, 1}, {1, 7, 5}, {6, 1, 9}, {4, 1, 3}, {2, 3, 1}, {13, 17, 19}, {1, 300, 40}, {97, 31, 1},
    /* one whole tile of each kernel, and one over in each direction */
    {4, 8, 200}, {6, 16, 200}, {12, 32, 257}, {5, 9, 130}, {7, 17, 130}, {13, 33, 130},
    /* edge tiles on both sides, several depth blocks (KC 512) */
    {25, 47, 513}, {31, 65, 300}, {145, 23, 11},
    /* op(A) read in place (N <= 64) over many row tiles, either side of 64 */
    {157, 64, 70}, {157, 65, 70}, {1000, 10, 10},
    /* several row blocks (MC 96) and column panels (NC 512) on one thread */
    {289, 17, 70}, {17, 530, 200}, {150, 300, 40},
    /* threaded: by rows (M > N), by columns with op(A) shared (M <= N),
     * bands wider than NC, op(A) over several blocks of rows and depth */
    {400, 60, 200}, {97, 1100, 129}, {150, 520, 270}, {33, 2000, 300}, {300, 300, 300},
};

static void check_all_shapes_f32(void)
{
    test_rng r = {19};
    size_t n_shapes = sizeof shapes_f32 / sizeof shapes_f32[0];
    for (size_t s = 0; s < n_shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int beta = 0; beta < 2; beta++)
                check_gemm_f32(&r, t & 1, t & 2, shapes_f32[s][0], shapes_f32[s][1], shapes_f32[s][2],
                               (float)beta, (int)(s % 3));
    for (int i = 0; i < 40; i++) { /* and random shapes */
        int M = rng_int(&r, 1, 80), N = rng_int(&r, 1, 80), K = rng_int(&r, 1, 300);
        check_gemm_f32(&r, rng_int(&r, 0, 1), rng_int(&r, 0, 1), M, N, K, (float)rng_int(&r, 0, 1),
                       rng_int(&r, 0, 2));
    }
}

START_TEST(gemm_f32_matches_definition_for_every_kernel)
{
    on_every_gemm_kernel(check_all_shapes_f32);
}
END_TEST

/* The sums run in float, not in double: on a sum built to cancel, a double
 * accumulation would return the exact 1.0, float accumulation returns 0.
 * Row of A: (2^24, 1, -2^24), column of B: (1, 1, 1). In float,
 * 2^24 + 1 rounds to 2^24 (ties to even), so the sum is 0; the blocked
 * path sums along k in this order within a tile, as the direct path does.
 * This guards the contract (float32 is float32, as in PyTorch), and that
 * the float path is the one running. */
START_TEST(gemm_f32_accumulates_in_float)
{
    enum { M = 24, N = 40, K = 3 };
    const float big = 16777216.0f;
    /* 24 rows: the direct path (MNK 2880 <= 4096); 48 rows: the blocked one */
    for (int rows = M; rows <= 2 * M; rows += M) {
        float *A = malloc((size_t)rows * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B);
        float *C = malloc((size_t)rows * N * sizeof *C);
        for (int i = 0; i < rows; i++) A[i * K + 0] = big, A[i * K + 1] = 1.0f, A[i * K + 2] = -big;
        for (int i = 0; i < K * N; i++) B[i] = 1.0f;
        ag_gemm_f32(false, false, rows, N, K, A, K, B, N, 0.0f, C, N);
        for (int i = 0; i < rows * N; i++)
            ck_assert_msg(C[i] == 0.0f, "rows=%d: C[%d] = %g, expected 0 (float sums)", rows, i, C[i]);
        free(A);
        free(B);
        free(C);
    }
}
END_TEST

/* Concurrent float32 and float64 products share the workspace slots and the
 * shared op(A) buffer: each result must still match its own definition.
 * Two threads, one per type, each running a threaded-size product. */
typedef struct concurrent_job {
    bool f32;
    bool ok;
} concurrent_job;

static void *concurrent_product(void *arg)
{
    concurrent_job *job = arg;
    enum { M = 130, N = 700, K = 150 }; /* M <= N: bands of columns, op(A) shared */
    test_rng r = {job->f32 ? 5u : 6u};
    job->ok = true;
    float *A = random_floats(&r, (size_t)M * K), *B = random_floats(&r, (size_t)K * N);
    float *C = malloc((size_t)M * N * sizeof *C);
    double *A64 = malloc((size_t)M * K * sizeof *A64), *B64 = malloc((size_t)K * N * sizeof *B64);
    double *C64 = malloc((size_t)M * N * sizeof *C64);
    for (int i = 0; i < M * K; i++) A64[i] = A[i];
    for (int i = 0; i < K * N; i++) B64[i] = B[i];
    for (int rep = 0; rep < 20 && job->ok; rep++) {
        if (job->f32)
            ag_gemm_f32(false, false, M, N, K, A, K, B, N, 0.0f, C, N);
        else
            ag_gemm(false, false, M, N, K, A64, K, B64, N, 0.0, C64, N);
        for (int i = 0; i < M && job->ok; i += 37)
            for (int j = 0; j < N; j += 53) {
                double s = 0.0, magnitude = 0.0;
                for (int p = 0; p < K; p++) {
                    double t = A64[i * K + p] * B64[p * N + j];
                    s += t;
                    magnitude += fabs(t);
                }
                double got = job->f32 ? C[i * N + j] : C64[i * N + j];
                double tol = (job->f32 ? gamma_of(K + 2, U32) : gamma_of(K + 2, U64)) * magnitude;
                if (fabs(got - s) > tol) job->ok = false;
            }
    }
    free(A), free(B), free(C), free(A64), free(B64), free(C64);
    return NULL;
}

START_TEST(gemm_f32_and_f64_run_concurrently)
{
    pthread_t threads[2];
    concurrent_job jobs[2] = {{.f32 = true}, {.f32 = false}};
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, concurrent_product, &jobs[t]), 0);
    for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
    ck_assert_msg(jobs[0].ok, "float32 product wrong while a float64 one ran");
    ck_assert_msg(jobs[1].ok, "float64 product wrong while a float32 one ran");
}
END_TEST

Suite *gemm_f32_suite(void)
{
    Suite *s = suite_create("gemm_f32");
    TCase *tc = tcase_create("float32 gemm against the definition");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_f32_matches_definition_for_every_kernel);
    tcase_add_test(tc, gemm_f32_accumulates_in_float);
    tcase_add_test(tc, gemm_f32_and_f64_run_concurrently);
    suite_add_tcase(s, tc);
    return s;
}
