/* gemm.c -- the matrix product used by matmul and its vjp/jvp, in float64
 * (ag_gemm) and float32 (ag_gemm_f32).
 * C[M,N] = beta*C + op(A) @ op(B), row-major; see internal.h.
 *
 * Three paths, by size:
 *  - tiny products (TestNet's 4x3 @ 3x1) and matrix-vector shapes: direct
 *    loops by the definition, no setup at all (gemm_direct);
 *  - the rest: cache-blocked and packed with a register tile (gemm_tile.h),
 *    compiled once per instruction set and element type and chosen at run
 *    time (AVX-512, AVX2+FMA, or plain C vectors for any other CPU, aarch64
 *    included);
 *  - large products are split over the cores by the pool in parallel.c.
 * One definition serves both types: gemm_tile.h (the kernel) and
 * gemm_driver.h (the paths above) are included once per type, with the
 * element type as a macro. This file holds what the types share: the
 * choice of instruction set, the block sizes and the static buffers.
 * Built with BLAS=openblas (mk/bench.mk), the last two call cblas_dgemm
 * (cblas_sgemm). AG_GEMM_ISA=generic|avx2|avx512 in the environment caps the
 * instruction set (for comparisons); AG_NUM_THREADS caps the threads. */
#include "../internal.h"
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_USE_CBLAS
#include <cblas.h>
#endif

/* One product (or one thread's share of it), in element type T: op(A)[i][p]
 * is A[i*a_rs + p*a_cs], op(B)[p][j] is B[p*b_rs + j*b_cs]. */
#define GEMM_PROBLEM_OF(T, name)                                                           \
    typedef struct name {                                                                  \
        int M, N, K;                                                                       \
        const T *A, *B;                                                                    \
        size_t a_rs, a_cs, b_rs, b_cs;                                                     \
        T beta;                                                                            \
        T *C;                                                                              \
        int ldc;                                                                           \
        const T *packed_a; /* op(A) already packed for every block, or NULL */             \
        /* op(B) already packed (gemm_driver.h's pack_b_all layout), or NULL: k-slice pc  \
         * starts at packed_b + pc * packed_b_ld, and within it the micro-panel of          \
         * column j (of the whole product) at j * kc, this share's columns starting at     \
         * packed_b_col */                                                                 \
        const T *packed_b;                                                                 \
        int packed_b_ld, packed_b_col;                                                     \
    } name;
GEMM_PROBLEM_OF(double, gemm_problem_f64)
GEMM_PROBLEM_OF(float, gemm_problem_f32)

/* Block sizes, in elements, shared by every instruction set (each MR and NR
 * divides them).
 * float64 (96 x 384 x 512): an MC x KC block of A (288 KiB) stays in L2, a
 * KC x NR micro-panel of B (24 KiB at NR 8, 48 KiB at NR 16) in L1 or L2,
 * and the KC x NC panel of B (1.5 MiB) in L2 or L3.
 * float32 (96 x 512 x 512): A's block 192 KiB, B's micro-panel 32 KiB at
 * NR 16, 64 KiB at NR 32, B's panel 1 MiB. Earlier both were 144 x 256
 * (a larger float32 KC was kept out of a 32 KiB L1), measured at 1024^3 on
 * the AVX2 kernel, one thread, GFLOP per CPU-second (AMD EPYC Zen 1, a
 * machine shared with four other jobs, load 5-6; 8 alternating rounds):
 * MC x KC = 144 x 256, 288 x 256, 144 x 384 and 72 x 512 within 3 % of
 * each other (median ratios 1.00, 1.00, 0.97, 0.97), under the noise; the
 * float64 sizes were kept.
 * Intel Xeon Sapphire Rapids (AVX-512 12 x 16 / 12 x 32 tiles, 2 cores shared
 * with other jobs, load 0.5-3.6), one thread, 1024^3, median of 15 (11)
 * ratios to OpenBLAS SkylakeX paired in one process: float64 MC x KC =
 * 144 x 256 gave 0.87-0.90, 96 x 384 gave 0.935-0.954 (fewer passes over C
 * per product), 96 x 512 0.94, 72 x 512 0.99 with a wide spread; float32
 * 144 x 256 gave 0.82, 96 x 512 1.04 (spread 0.88-1.25). The sizes now:
 * float64 96 x 384 (A block 288 KiB), float32 96 x 512 (192 KiB). Each may
 * be overridden with -DGEMM_MC_F64=... for such sweeps. */
#ifndef GEMM_MC_F64
#define GEMM_MC_F64 96
#endif
#ifndef GEMM_KC_F64
#define GEMM_KC_F64 384
#endif
#ifndef GEMM_NC_F64
#define GEMM_NC_F64 512
#endif
#ifndef GEMM_MC_F32
#define GEMM_MC_F32 96
#endif
#ifndef GEMM_KC_F32
#define GEMM_KC_F32 512
#endif
#ifndef GEMM_NC_F32
#define GEMM_NC_F32 512
#endif
#define GEMM_WS_F64 (GEMM_MC_F64 * GEMM_KC_F64 + GEMM_KC_F64 * GEMM_NC_F64)
#define GEMM_WS_F32 (GEMM_MC_F32 * GEMM_KC_F32 + GEMM_KC_F32 * GEMM_NC_F32)
/* Up to this many columns the blocked path reads op(A) in place instead of
 * packing it: each of its micro-panels would serve at most four register
 * tiles, too few to repay the packing (a scalar transpose). On GMM's
 * [1000, D] @ [D, D] products and their gradients, one thread: D = 10 and
 * 20 run 20-30% faster, D = 64 about 5% (float64). */
#define GEMM_IN_PLACE_A_MAX_N 64

/* Products with fewer multiply-adds than this skip packing; with more than
 * GEMM_PARALLEL_MIN they are split over the threads. */
#define GEMM_TINY_MAX AG_GEMM_TINY_MAX
#define GEMM_PARALLEL_MIN ((long long)1 << 21)

/* The step that cuts n into the fewest blocks of at most max_step, evenly,
 * rounded up to a multiple of `multiple` (784 -> 196 x 4, not 256 x 3 + 16). */
static int balanced_step(int n, int max_step, int multiple)
{
    int blocks = (n + max_step - 1) / max_step;
    int step = (n + blocks - 1) / blocks;
    return (step + multiple - 1) / multiple * multiple;
}

/* ---- the register-tiled kernels, one instance per instruction set and type -- */

#define GT_ROWS4(X) X(0) X(1) X(2) X(3)
#define GT_ROWS6(X) GT_ROWS4(X) X(4) X(5)
#define GT_ROWS8(X) GT_ROWS6(X) X(6) X(7)
#define GT_ROWS12(X) GT_ROWS8(X) X(8) X(9) X(10) X(11)

/* any CPU: 128-bit vectors (SSE2 on x86-64, NEON on aarch64), 4 x 4 tile in
 * float64, 4 x 8 in float32 (8 of 16 registers on SSE2, of 32 on NEON) */
#define GT_T double
#define GT_PROBLEM gemm_problem_f64
#define GT_NAME(x) x##_generic_f64
#define GT_TARGET
#define GT_VL 2
#define GT_MR 4
#define GT_ROWS GT_ROWS4
#define GT_MC GEMM_MC_F64
#define GT_KC GEMM_KC_F64
#define GT_NC GEMM_NC_F64
#include "gemm_tile.h"

#define GT_T float
#define GT_PROBLEM gemm_problem_f32
#define GT_NAME(x) x##_generic_f32
#define GT_TARGET
#define GT_VL 4
#define GT_MR 4
#define GT_ROWS GT_ROWS4
#define GT_MC GEMM_MC_F32
#define GT_KC GEMM_KC_F32
#define GT_NC GEMM_NC_F32
#include "gemm_tile.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
/* AVX2 + FMA (Zen, Haswell and later): 6 x 8 tile in float64, 6 x 16 in
 * float32: 12 of the 16 ymm registers hold C, 2 the row of B and 1 the
 * broadcast of A, so 6 rows are the most a two-vector row allows. In float32
 * it ran at OpenBLAS's sgemm speed at 1024^3 (bench/README.md), so no other
 * shape was tried. */
#define GT_T double
#define GT_PROBLEM gemm_problem_f64
#define GT_NAME(x) x##_avx2_f64
#define GT_TARGET __attribute__((target("avx2,fma")))
#define GT_VL 4
#define GT_MR 6
#define GT_ROWS GT_ROWS6
#define GT_MC GEMM_MC_F64
#define GT_KC GEMM_KC_F64
#define GT_NC GEMM_NC_F64
#include "gemm_tile.h"

#define GT_T float
#define GT_PROBLEM gemm_problem_f32
#define GT_NAME(x) x##_avx2_f32
#define GT_TARGET __attribute__((target("avx2,fma")))
#define GT_VL 8
#define GT_MR 6
#define GT_ROWS GT_ROWS6
#define GT_MC GEMM_MC_F32
#define GT_KC GEMM_KC_F32
#define GT_NC GEMM_NC_F32
#include "gemm_tile.h"

/* AVX-512: 12 x 16 tile in float64, 12 x 32 in float32 (24 of 32 zmm
 * registers hold C). The float32 instance is the float64 one's shape at
 * twice the lanes. It was written on a CPU without AVX-512, where its tests
 * skip it: compiled (vfmadd231ps on zmm), not yet run or timed. */
#define GT_T double
#define GT_PROBLEM gemm_problem_f64
#define GT_NAME(x) x##_avx512_f64
#define GT_TARGET __attribute__((target("avx512f,avx2,fma")))
#define GT_VL 8
#define GT_MR 12
#define GT_ROWS GT_ROWS12
#define GT_MC GEMM_MC_F64
#define GT_KC GEMM_KC_F64
#define GT_NC GEMM_NC_F64
#include "gemm_tile.h"

#define GT_T float
#define GT_PROBLEM gemm_problem_f32
#define GT_NAME(x) x##_avx512_f32
#define GT_TARGET __attribute__((target("avx512f,avx2,fma")))
#define GT_VL 16
#define GT_MR 12
#define GT_ROWS GT_ROWS12
#define GT_MC GEMM_MC_F32
#define GT_KC GEMM_KC_F32
#define GT_NC GEMM_NC_F32
#include "gemm_tile.h"
#endif

/* the widest register tile's columns, per type: a packed op(B) sized for it
 * fits every kernel's */
#define GEMM_NR_MAX_F64 16
#define GEMM_NR_MAX_F32 32

/* every tile's MR divides MC and its NR divides NC (gemm_tile.h's packing
 * relies on it): MR 4, 6, 12; NR 8, 16 (float64), 8, 16, 32 (float32) */
_Static_assert(GEMM_MC_F64 % 12 == 0 && GEMM_MC_F32 % 12 == 0, "MC: a multiple of every MR");
_Static_assert(GEMM_NC_F64 % 16 == 0 && GEMM_NC_F32 % 32 == 0, "NC: a multiple of every NR");

/* One instruction set's kernels, for both element types. */
typedef struct gemm_kernel {
    const char *isa;
    void (*blocked_f64)(const gemm_problem_f64 *pr, double *ws);
    void (*pack_a_blocks_f64)(const gemm_problem_f64 *pr, double *dst, int part, int parts);
    void (*pack_b_f64)(int kc, int nc, const double *b, size_t rs, size_t cs, double *dst);
    int mr_f64, nr_f64;
    void (*blocked_f32)(const gemm_problem_f32 *pr, float *ws);
    void (*pack_a_blocks_f32)(const gemm_problem_f32 *pr, float *dst, int part, int parts);
    void (*pack_b_f32)(int kc, int nc, const float *b, size_t rs, size_t cs, float *dst);
    int mr_f32, nr_f32;
} gemm_kernel;

#define GEMM_KERNEL(isa, mr64, mr32)                                                       \
    (gemm_kernel)                                                                          \
    {                                                                                      \
        #isa, blocked_##isa##_f64, pack_a_blocks_##isa##_f64, pack_b_##isa##_f64, mr64,    \
            2 * GEMM_VL_##isa, blocked_##isa##_f32, pack_a_blocks_##isa##_f32,             \
            pack_b_##isa##_f32, mr32, 4 * GEMM_VL_##isa                                    \
    }
/* float64 lanes per vector register */
#define GEMM_VL_generic 2
#define GEMM_VL_avx2 4
#define GEMM_VL_avx512 8

static gemm_kernel kernel;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

/* The best kernel this CPU runs, no better than `cap` (NULL: no cap). */
static gemm_kernel kernel_best(const char *cap)
{
    gemm_kernel best = GEMM_KERNEL(generic, 4, 4);
#ifdef GEMM_X86
    bool allow_avx2 = !cap || strcmp(cap, "generic") != 0;
    bool allow_avx512 = allow_avx2 && (!cap || strcmp(cap, "avx2") != 0);
    __builtin_cpu_init();
    if (allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = GEMM_KERNEL(avx2, 6, 6);
    if (allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        best = GEMM_KERNEL(avx512, 12, 12);
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

/* ---- buffers, static so a step never allocates, shared by both types ------- */

/* Per-thread workspaces for the blocked kernels: one slot per caller, in
 * whichever type that caller runs (the members alias the same bytes). */
#define GEMM_SLOTS AG_PARALLEL_MAX
static union gemm_workspace {
    _Alignas(64) double f64[GEMM_WS_F64];
    _Alignas(64) float f32[GEMM_WS_F32];
} workspace[GEMM_SLOTS];
static atomic_int slot_taken[GEMM_SLOTS];

static int slot_claim(void)
{
    for (int s = 0; s < GEMM_SLOTS; s++)
        if (atomic_exchange(&slot_taken[s], 1) == 0) return s;
    return -1;
}

static void slot_release(int s) { atomic_store(&slot_taken[s], 0); }

/* Bands of columns all read the whole of op(A): it is packed once, the
 * threads sharing the work, into this buffer (4 MiB, static so a step never
 * allocates), and every band reads it from there. One product at a time
 * uses it; a concurrent one, or an op(A) too large for it, has each band
 * pack op(A) itself. The packed values and the sums are the same either
 * way, so are the results. */
static union gemm_shared_a {
    _Alignas(64) double f64[(size_t)1 << 19];
    _Alignas(64) float f32[(size_t)1 << 20];
} shared_a;
static atomic_int shared_a_taken;

/* ---- the paths, once per element type (gemm_driver.h) -------------------- */

#define GD_T double
#define GD_NAME(x) x##_f64
#define GD_BUF f64
#define GD_NR_MAX GEMM_NR_MAX_F64
#define GD_GEMM ag_gemm
#define GD_CBLAS_GEMM cblas_dgemm
#define GD_PACKED ag_gemm_packed
#define GD_PACKED_SIZE ag_gemm_packed_size
#define GD_PACK_B ag_gemm_pack_b
#define GD_GEMM_PACKED_B ag_gemm_packed_b
#include "gemm_driver.h"

#define GD_T float
#define GD_NAME(x) x##_f32
#define GD_BUF f32
#define GD_NR_MAX GEMM_NR_MAX_F32
#define GD_GEMM ag_gemm_f32
#define GD_CBLAS_GEMM cblas_sgemm
#define GD_PACKED ag_gemm_packed_f32
#define GD_PACKED_SIZE ag_gemm_packed_size_f32
#define GD_PACK_B ag_gemm_pack_b_f32
#define GD_GEMM_PACKED_B ag_gemm_packed_b_f32
#include "gemm_driver.h"
