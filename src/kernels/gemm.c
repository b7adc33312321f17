/* gemm.c -- the matrix product used by matmul and its vjp/jvp.
 * C[M,N] = beta*C + op(A) @ op(B), row-major; see internal.h.
 *
 * Three paths, by size:
 *  - tiny products (TestNet's 4x3 @ 3x1) and matrix-vector shapes: direct
 *    loops by the definition, no setup at all (gemm_direct);
 *  - the rest: cache-blocked and packed with a register tile (gemm_tile.h),
 *    compiled once per instruction set and chosen at run time (AVX-512,
 *    AVX2+FMA, or plain C vectors for any other CPU, aarch64 included);
 *  - large products are split over the cores by the pool in parallel.c.
 * Built with BLAS=openblas (mk/bench.mk), the last two call cblas_dgemm.
 * AG_GEMM_ISA=generic|avx2|avx512 in the environment caps the instruction
 * set (for comparisons); AG_NUM_THREADS caps the threads. */
#include "../internal.h"
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_USE_CBLAS
#include <cblas.h>
#endif

/* One product (or one thread's share of it): op(A)[i][p] is
 * A[i*a_rs + p*a_cs], op(B)[p][j] is B[p*b_rs + j*b_cs]. */
typedef struct gemm_problem {
    int M, N, K;
    const double *A, *B;
    size_t a_rs, a_cs, b_rs, b_cs;
    double beta;
    double *C;
    int ldc;
    const double *packed_a; /* op(A) already packed for every block, or NULL */
} gemm_problem;

/* Block sizes shared by every instruction set (each MR and NR divides them):
 * an MC x KC block of A (288 KiB) stays in L2, a KC x NR micro-panel of B in
 * L1, and the KC x NC panel of B (1 MiB) in L2 or L3. */
#define GEMM_MC 144
#define GEMM_KC 256
#define GEMM_NC 512
#define GEMM_WS_DOUBLES (GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC)
/* Up to this many columns the blocked path reads op(A) in place instead of
 * packing it: each of its micro-panels would serve at most four register
 * tiles, too few to repay the packing (a scalar transpose). On GMM's
 * [1000, D] @ [D, D] products and their gradients, one thread: D = 10 and
 * 20 run 20-30% faster, D = 64 about 5%. */
#define GEMM_IN_PLACE_A_MAX_N 64

/* Products with fewer multiply-adds than this skip packing; with more than
 * GEMM_PARALLEL_MIN they are split over the threads. */
#define GEMM_TINY_MAX 4096
#define GEMM_PARALLEL_MIN ((long long)1 << 21)

/* The step that cuts n into the fewest blocks of at most max_step, evenly,
 * rounded up to a multiple of `multiple` (784 -> 196 x 4, not 256 x 3 + 16). */
static int balanced_step(int n, int max_step, int multiple)
{
    int blocks = (n + max_step - 1) / max_step;
    int step = (n + blocks - 1) / blocks;
    return (step + multiple - 1) / multiple * multiple;
}

/* ---- the register-tiled kernels, one instance per instruction set ---------- */

#define GT_ROWS4(X) X(0) X(1) X(2) X(3)
#define GT_ROWS6(X) GT_ROWS4(X) X(4) X(5)
#define GT_ROWS12(X) GT_ROWS6(X) X(6) X(7) X(8) X(9) X(10) X(11)

/* any CPU: 128-bit vectors (SSE2 on x86-64, NEON on aarch64), 4 x 4 tile */
#define GT_NAME(x) x##_generic
#define GT_TARGET
#define GT_VL 2
#define GT_MR 4
#define GT_ROWS GT_ROWS4
#include "gemm_tile.h"
#undef GT_NAME
#undef GT_TARGET
#undef GT_VL
#undef GT_MR
#undef GT_ROWS

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
/* AVX2 + FMA (Zen, Haswell and later): 6 x 8 tile, 12 of 16 ymm registers */
#define GT_NAME(x) x##_avx2
#define GT_TARGET __attribute__((target("avx2,fma")))
#define GT_VL 4
#define GT_MR 6
#define GT_ROWS GT_ROWS6
#include "gemm_tile.h"
#undef GT_NAME
#undef GT_TARGET
#undef GT_VL
#undef GT_MR
#undef GT_ROWS

/* AVX-512: 12 x 16 tile, 24 of 32 zmm registers */
#define GT_NAME(x) x##_avx512
#define GT_TARGET __attribute__((target("avx512f,avx2,fma")))
#define GT_VL 8
#define GT_MR 12
#define GT_ROWS GT_ROWS12
#include "gemm_tile.h"
#undef GT_NAME
#undef GT_TARGET
#undef GT_VL
#undef GT_MR
#undef GT_ROWS
#endif

typedef struct gemm_kernel {
    void (*blocked)(const gemm_problem *pr, double *ws);
    void (*pack_a_blocks)(const gemm_problem *pr, double *dst, int part, int parts);
    const char *isa;
    int mr, nr;
} gemm_kernel;

static gemm_kernel kernel = {blocked_generic, pack_a_blocks_generic, "generic", 4, 4};
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

/* The best kernel this CPU runs, no better than `cap` (NULL: no cap). */
static gemm_kernel kernel_best(const char *cap)
{
    gemm_kernel best = {blocked_generic, pack_a_blocks_generic, "generic", 4, 4};
#ifdef GEMM_X86
    bool allow_avx2 = !cap || strcmp(cap, "generic") != 0;
    bool allow_avx512 = allow_avx2 && (!cap || strcmp(cap, "avx2") != 0);
    __builtin_cpu_init();
    if (allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = (gemm_kernel){blocked_avx2, pack_a_blocks_avx2, "avx2", 6, 8};
    if (allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        best = (gemm_kernel){blocked_avx512, pack_a_blocks_avx512, "avx512", 12, 16};
#else
    (void)cap;
#endif
    return best;
}

static void kernel_choose(void) { kernel = kernel_best(getenv("AG_GEMM_ISA")); }

static const gemm_kernel *kernel_get(void)
{
    pthread_once(&kernel_once, kernel_choose);
    return &kernel;
}

bool ag_gemm_use_isa(const char *isa)
{
    kernel_get();
    gemm_kernel k = kernel_best(isa);
    if (isa && strcmp(k.isa, isa) != 0) return false;
    kernel = k;
    return true;
}

const char *ag_gemm_isa(void)
{
#ifdef AG_USE_CBLAS
    return "openblas";
#else
    return kernel_get()->isa;
#endif
}

int ag_gemm_threads(void) { return ag_parallel_threads(); }

/* ---- the direct path ----------------------------------------------------------- */

/* C = beta*C + op(A) op(B) by the definition, for tiny and matrix-vector
 * shapes, where any setup would cost more than the arithmetic. op(A)[i][p] is
 * A[i*a_rs + p*a_cs], op(B)[p][j] is B[p*b_rs + j*b_cs]. The outer product
 * (K = 1: a matmul vjp on vectors), vector-matrix products that can run
 * along contiguous rows, and unit-stride dot products (a matrix times a
 * vector) have loops of their own. */
__attribute__((always_inline)) static inline void gemm_direct(int M, int N, int K, const double *A, size_t a_rs, size_t a_cs,
                               const double *B, size_t b_rs, size_t b_cs, bool accumulate,
                               double *C, size_t ldc)
{
    if (K == 1) {
        for (int i = 0; i < M; i++) {
            double a = A[i * a_rs], *c = C + i * ldc;
            for (int j = 0; j < N; j++) {
                double v = a * B[j * b_cs];
                c[j] = accumulate ? c[j] + v : v;
            }
        }
        return;
    }
    if ((M == 1 && b_cs == 1) || (N == 1 && a_rs == 1)) {
        /* a row vector times B, or A^T times a vector: C's one row (column)
         * is a sum of contiguous rows of B (of A) scaled by the vector */
        const double *v = M == 1 ? A : B, *rows = M == 1 ? B : A;
        size_t v_step = M == 1 ? a_cs : b_rs, row_step = M == 1 ? b_rs : a_cs;
        size_t c_step = M == 1 ? 1 : ldc;
        int n = M == 1 ? N : M;
        if (!accumulate)
            for (int j = 0; j < n; j++) C[j * c_step] = 0.0;
        for (int p = 0; p < K; p++) {
            double x = v[p * v_step];
            const double *row = rows + p * row_step;
            for (int j = 0; j < n; j++) C[j * c_step] += x * row[j];
        }
        return;
    }
    if (N == 1 && a_cs == 1 && b_rs == 1) { /* matrix times a vector: row dot products */
        for (int i = 0; i < M; i++) {
            const double *a = A + i * a_rs;
            double s = 0.0;
            for (int p = 0; p < K; p++) s += a[p] * B[p];
            if (accumulate) s += C[i * ldc];
            C[i * ldc] = s;
        }
        return;
    }
    for (int i = 0; i < M; i++) {
        const double *a = A + i * a_rs;
        double *c = C + i * ldc;
        for (int j = 0; j < N; j++) {
            const double *b = B + j * b_cs;
            double s = 0.0;
            if (a_cs == 1 && b_rs == 1)
                for (int p = 0; p < K; p++) s += a[p] * b[p];
            else
                for (int p = 0; p < K; p++) s += a[p * a_cs] * b[p * b_rs];
            if (accumulate) s += c[j];
            c[j] = s;
        }
    }
}

/* ---- workspaces: packing buffers, static so a step never allocates --------- */

#define GEMM_SLOTS AG_PARALLEL_MAX
static _Alignas(64) double workspace[GEMM_SLOTS][GEMM_WS_DOUBLES];
static atomic_int slot_taken[GEMM_SLOTS];

static int slot_claim(void)
{
    for (int s = 0; s < GEMM_SLOTS; s++)
        if (atomic_exchange(&slot_taken[s], 1) == 0) return s;
    return -1;
}

static void slot_release(int s) { atomic_store(&slot_taken[s], 0); }

static void gemm_blocked(const gemm_problem *pr)
{
    int slot = slot_claim();
    if (slot < 0) { /* more concurrent callers than slots: correct, slower */
        gemm_direct(pr->M, pr->N, pr->K, pr->A, pr->a_rs, pr->a_cs, pr->B, pr->b_rs, pr->b_cs,
                    pr->beta != 0.0, pr->C, (size_t)pr->ldc);
        return;
    }
    kernel_get()->blocked(pr, workspace[slot]);
    slot_release(slot);
}

/* ---- splitting a product over threads ------------------------------------------ */

typedef struct gemm_split {
    gemm_problem pr;
    bool along_n; /* each thread takes a band of columns (else of rows) */
    int unit;     /* bands are multiples of the register tile */
} gemm_split;

static void gemm_part(void *ctx, int tid, int nthreads)
{
    const gemm_split *sp = ctx;
    gemm_problem sub = sp->pr;
    int extent = sp->along_n ? sub.N : sub.M;
    int units = (extent + sp->unit - 1) / sp->unit;
    int lo = (int)((long long)units * tid / nthreads) * sp->unit;
    int hi = (int)((long long)units * (tid + 1) / nthreads) * sp->unit;
    if (hi > extent) hi = extent;
    if (lo >= hi) return;
    if (sp->along_n) {
        sub.N = hi - lo;
        sub.B += (size_t)lo * sub.b_cs;
        sub.C += lo;
    } else {
        sub.M = hi - lo;
        sub.A += (size_t)lo * sub.a_rs;
        sub.C += (size_t)lo * sub.ldc;
    }
    gemm_blocked(&sub);
}

/* Bands of columns all read the whole of op(A): it is packed once, the
 * threads sharing the work, into this buffer (4 MiB, static so a step never
 * allocates), and every band reads it from there. One product at a time
 * uses it; a concurrent one, or an op(A) too large for it, has each band
 * pack op(A) itself. The packed values and the sums are the same either
 * way, so are the results. */
#define GEMM_SHARED_A_DOUBLES ((size_t)1 << 19)
static _Alignas(64) double shared_a[GEMM_SHARED_A_DOUBLES];
static atomic_int shared_a_taken;

static void pack_a_part(void *ctx, int tid, int nthreads)
{
    const gemm_split *sp = ctx;
    kernel_get()->pack_a_blocks(&sp->pr, shared_a, tid, nthreads);
}

/* Whether op(A) of pr fits the shared buffer (padded to the tile's rows),
 * and the buffer was free; true claims it. */
static bool shared_a_claim(const gemm_problem *pr, int mr)
{
    size_t doubles = (size_t)((pr->M + mr - 1) / mr) * (size_t)mr * (size_t)pr->K;
    return doubles <= GEMM_SHARED_A_DOUBLES && atomic_exchange(&shared_a_taken, 1) == 0;
}

/* The packed path for everything that is not tiny, split over the threads
 * when large; kept out of ag_gemm so the tiny path pays for none of it. */
__attribute__((noinline)) static void gemm_large(const gemm_problem *pr)
{
    const gemm_kernel *k = kernel_get();
    /* split the dimension whose band leaves the smaller operand to re-pack:
     * bands of columns each read all of op(A) (M x K), bands of rows all of
     * op(B) (K x N) */
    bool along_n = pr->M <= pr->N;
    int unit = along_n ? k->nr : k->mr;
    long long work = (long long)pr->M * pr->N * pr->K;
    int nthreads = work >= GEMM_PARALLEL_MIN ? ag_parallel_threads() : 1;
    int units = ((along_n ? pr->N : pr->M) + unit - 1) / unit;
    if (nthreads > units) nthreads = units;
    gemm_split sp = {.pr = *pr, .along_n = along_n, .unit = unit};
    if (nthreads < 2) {
        gemm_part(&sp, 0, 1);
        return;
    }
    bool share_a = along_n && shared_a_claim(pr, k->mr);
    if (share_a) {
        ag_parallel_run(nthreads, pack_a_part, &sp);
        sp.pr.packed_a = shared_a;
    }
    ag_parallel_run(nthreads, gemm_part, &sp);
    if (share_a) atomic_store(&shared_a_taken, 0);
}

void ag_gemm(bool trans_a, bool trans_b, int M, int N, int K,
             const double *A, int lda, const double *B, int ldb,
             double beta, double *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    size_t a_rs = trans_a ? 1 : (size_t)lda, a_cs = trans_a ? (size_t)lda : 1;
    size_t b_rs = trans_b ? 1 : (size_t)ldb, b_cs = trans_b ? (size_t)ldb : 1;
    if ((long long)M * N * K <= GEMM_TINY_MAX || M == 1 || N == 1 || K <= 0) {
        gemm_direct(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, beta != 0.0, C, (size_t)ldc);
        return;
    }
#ifdef AG_USE_CBLAS
    /* OpenBLAS blocks and threads by itself */
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
    return;
#endif
    gemm_problem pr = {.M = M, .N = N, .K = K, .A = A, .B = B, .a_rs = a_rs, .a_cs = a_cs,
                       .b_rs = b_rs, .b_cs = b_cs, .beta = beta, .C = C, .ldc = ldc,
                       .packed_a = NULL};
    gemm_large(&pr);
}
