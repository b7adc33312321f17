/* gemm_tile.h -- the blocked, packed matrix product for one instruction set
 * and one element type.
 *
 * Included by gemm.c once per (instruction set, element type) with these
 * macros defined (and #undef'd again at the end of this file):
 *   GT_T         the element type (double or float)
 *   GT_PROBLEM   the problem type for GT_T (GT_PROBLEM_f64 or _f32)
 *   GT_NAME(x)   prefix for the generated static functions (x ## _avx2_f64, ...)
 *   GT_TARGET    function attribute selecting the ISA (may be empty)
 *   GT_VL        elements of GT_T per vector register (2 to 16)
 *   GT_MR        rows of the register tile; GT_ROWS(X) expands X(0) .. X(GT_MR-1)
 *                (gemm.c also defines GT_ROWS4 and GT_ROWS8 for the short tiles)
 *   GT_MC, GT_KC, GT_NC  the cache blocks, in elements (GT_MR divides GT_MC,
 *                GT_NR divides GT_NC); gemm.c's workspace holds
 *                GT_MC*GT_KC + GT_KC*GT_NC elements
 * The register tile is GT_MR x GT_NR with GT_NR = 2 * GT_VL: two vectors per
 * row of C, GT_MR broadcasts of A per step of k. Plain C with GCC vector
 * extensions: the compiler picks the instructions (vfmadd231pd/ps on AVX2/FMA
 * and AVX-512 once gemm.c is built with -ffp-contract=fast, see mk/bench.mk).
 * The sums run in GT_T: a float product accumulates in float.
 *
 * Blocking (BLIS order): for each NC-wide panel of columns, for each KC-deep
 * slice of k, pack op(B)[KC x NC] into GT_NR-wide micro-panels; then for each
 * MC-tall block of rows pack op(A)[MC x KC] into GT_MR-tall micro-panels and
 * run the register tile over the block. Packing reads op(A) and op(B) through
 * (row, column) strides, so transposed operands are never materialised. */

#define GT_NR (2 * GT_VL)
#ifdef __clang__
#define GT_UNROLL _Pragma("unroll 4")
#else
#define GT_UNROLL _Pragma("GCC unroll 4")
#endif

typedef GT_T GT_NAME(vec) __attribute__((vector_size(GT_VL * sizeof(GT_T))));
/* the same vector with the alignment of one element: loads and stores of C */
typedef GT_T GT_NAME(vec_u) __attribute__((vector_size(GT_VL * sizeof(GT_T)), aligned(sizeof(GT_T))));

/* Pack rows [0, mc) x k [0, kc) of op(A) (element (i, p) at a[i*rs + p*cs])
 * into micro-panels of GT_MR rows: dst[panel][p][r], zero-padded rows. */
static GT_TARGET void GT_NAME(pack_a)(int mc, int kc, const GT_T *a, size_t rs, size_t cs,
                                      GT_T *restrict dst)
{
    for (int i0 = 0; i0 < mc; i0 += GT_MR) {
        int m = mc - i0 < GT_MR ? mc - i0 : GT_MR;
        const GT_T *src = a + (size_t)i0 * rs;
        if (m == GT_MR && rs == 1) { /* op(A) = A^T: a row of A is contiguous in r */
            for (int p = 0; p < kc; p++) {
                const GT_T *from = src + (size_t)p * cs;
                GT_T *to = dst + (size_t)p * GT_MR;
                /* written out, not a loop: GCC would make a short copy loop a
                 * memcpy call per row */
#define GT_COPY(r) to[r] = from[r];
                GT_ROWS(GT_COPY)
#undef GT_COPY
            }
        } else if (m == GT_MR && cs == 1) { /* A not transposed: GT_MR row streams */
            for (int p = 0; p < kc; p++)
                for (int r = 0; r < GT_MR; r++) dst[(size_t)p * GT_MR + r] = src[(size_t)r * rs + p];
        } else if (rs == 1) { /* a partial panel of A^T: its m rows are contiguous at each p */
            for (int p = 0; p < kc; p++)
                for (int r = 0; r < GT_MR; r++) dst[(size_t)p * GT_MR + r] = r < m ? src[(size_t)p * cs + r] : (GT_T)0;
        } else {
            for (int r = 0; r < GT_MR; r++) {
                const GT_T *row = src + (size_t)r * rs;
                for (int p = 0; p < kc; p++)
                    dst[(size_t)p * GT_MR + r] = r < m ? row[(size_t)p * cs] : (GT_T)0;
            }
        }
        dst += (size_t)kc * GT_MR;
    }
}

/* Pack k [0, kc) x columns [0, nc) of op(B) (element (p, j) at b[p*rs + j*cs])
 * into micro-panels of GT_NR columns: dst[panel][p][c], zero-padded columns. */
static GT_TARGET void GT_NAME(pack_b)(int kc, int nc, const GT_T *b, size_t rs, size_t cs,
                                      GT_T *restrict dst)
{
    int full = nc / GT_NR * GT_NR; /* columns in whole panels */
    if (cs == 1) {
        /* B not transposed: read each row of the block once, front to back,
         * handing GT_NR-wide pieces to every panel (two vector copies each:
         * a copy loop would become a memcpy call) */
        for (int p = 0; p < kc; p++) {
            const GT_T *row = b + (size_t)p * rs;
            GT_T *to = dst + (size_t)p * GT_NR;
            for (int j0 = 0; j0 < full; j0 += GT_NR, to += (size_t)kc * GT_NR) {
                const GT_NAME(vec_u) *from = (const GT_NAME(vec_u) *)(row + j0);
                ((GT_NAME(vec) *)to)[0] = from[0];
                ((GT_NAME(vec) *)to)[1] = from[1];
            }
        }
    } else {
        /* B^T: GT_NR column streams per panel, contiguous stores, 16 values
         * of k from each column at a time (a cache line of floats): packing
         * a 1024 x 1024 W^T went from 1.43 to 0.65-0.84 ms (float64, AMD
         * Zen 4), against 0.6 ms for W itself */
        for (int j0 = 0; j0 < full; j0 += GT_NR) {
            const GT_T *src = b + (size_t)j0 * cs;
            GT_T *to = dst + (size_t)j0 * kc;
            for (int p0 = 0; p0 < kc; p0 += 16) {
                int p_end = kc - p0 < 16 ? kc : p0 + 16;
                for (int c = 0; c < GT_NR; c++)
                    for (int p = p0; p < p_end; p++) to[(size_t)p * GT_NR + c] = src[(size_t)c * cs + (size_t)p * rs];
            }
        }
    }
    if (full == nc) return;
    /* the last, partial panel, zero-padded: along B's rows when they are
     * contiguous, else down its columns */
    int n = nc - full;
    const GT_T *src = b + (size_t)full * cs;
    GT_T *to = dst + (size_t)full * kc;
    if (cs == 1) {
        for (int p = 0; p < kc; p++)
            for (int c = 0; c < GT_NR; c++) to[(size_t)p * GT_NR + c] = c < n ? src[(size_t)p * rs + c] : (GT_T)0;
        return;
    }
    for (int c = 0; c < GT_NR; c++) {
        const GT_T *col = src + (size_t)c * cs;
        for (int p = 0; p < kc; p++) to[(size_t)p * GT_NR + c] = c < n ? col[(size_t)p * rs] : (GT_T)0;
    }
}

/* The register tiles (gemm_tile_at.h): the full one, GT_MR rows, and the
 * shorter ones for a last micro-panel with few real rows. */
#define GTA_NAME GT_NAME(tile_at)
#define GTA_ROWS GT_MR
#define GTA_EACH GT_ROWS
#include "gemm_tile_at.h"
#if GT_MR > 4
#define GTA_NAME GT_NAME(tile_at4)
#define GTA_ROWS 4
#define GTA_EACH GT_ROWS4
#include "gemm_tile_at.h"
#endif
#if GT_MR > 8
#define GTA_NAME GT_NAME(tile_at8)
#define GTA_ROWS 8
#define GTA_EACH GT_ROWS8
#include "gemm_tile_at.h"
#endif

/* the tile on a packed micro-panel of A (m of its rows real): the shortest
 * tile that covers them */
static GT_TARGET void GT_NAME(tile)(int kc, const GT_T *restrict a, const GT_T *restrict b,
                                    GT_T *restrict c, int ldc, bool accumulate, int m, int n)
{
#if GT_MR > 4
    if (m <= 4) {
        GT_NAME(tile_at4)(kc, a, 1, GT_MR, b, c, ldc, accumulate, m, n);
        return;
    }
#endif
#if GT_MR > 8
    if (m <= 8) {
        GT_NAME(tile_at8)(kc, a, 1, GT_MR, b, c, ldc, accumulate, m, n);
        return;
    }
#endif
    GT_NAME(tile_at)(kc, a, 1, GT_MR, b, c, ldc, accumulate, m, n);
}

/* the tile on GT_MR whole rows of op(A) in place (strides rs, cs) */
static GT_TARGET void GT_NAME(tile_rows)(int kc, const GT_T *restrict a, size_t rs, size_t cs,
                                         const GT_T *restrict b, GT_T *restrict c, int ldc,
                                         bool accumulate, int n)
{
    GT_NAME(tile_at)(kc, a, rs, cs, b, c, ldc, accumulate, GT_MR, n);
}

/* elements pack_a writes for an mc x kc block: whole micro-panels of GT_MR rows */
static inline size_t GT_NAME(packed_a_size)(int mc, int kc)
{
    return (size_t)(mc + GT_MR - 1) / GT_MR * GT_MR * (size_t)kc;
}

/* op(A) packed block by block, (pc, ic) in the order blocked() visits them,
 * each block as pack_a leaves it (ceil(mc / GT_MR) micro-panels of kc x
 * GT_MR): the blocks whose index is part modulo parts, so that threads can
 * share the packing of one op(A) (gemm.c's shared path). */
static GT_TARGET void GT_NAME(pack_a_blocks)(const GT_PROBLEM *pr, GT_T *dst, int part, int parts)
{
    int kc_step = balanced_step(pr->K, GT_KC, 1);
    int mc_step = balanced_step(pr->M, GT_MC, GT_MR);
    int block = 0;
    for (int pc = 0; pc < pr->K; pc += kc_step) {
        int kc = pr->K - pc < kc_step ? pr->K - pc : kc_step;
        for (int ic = 0; ic < pr->M; ic += mc_step, block++) {
            int mc = pr->M - ic < mc_step ? pr->M - ic : mc_step;
            if (block % parts == part)
                GT_NAME(pack_a)(mc, kc, pr->A + (size_t)ic * pr->a_rs + (size_t)pc * pr->a_cs,
                                pr->a_rs, pr->a_cs, dst);
            dst += GT_NAME(packed_a_size)(mc, kc);
        }
    }
}

/* One mc x kc block of op(A) (at a, strides pr->a_rs, pr->a_cs) times the
 * packed kc x nc panel pb into C's block c: whole micro-panels of GT_MR rows
 * read in place, the last partial one packed into pa (zero-padded rows, so
 * no row past op(A)'s end is read). The sums are those of the packed path,
 * in the same order. */
static GT_TARGET void GT_NAME(block_in_place)(const GT_PROBLEM *pr, int mc, int kc, int nc,
                                              const GT_T *a, const GT_T *pb, GT_T *pa,
                                              GT_T *c, bool accumulate)
{
    int full = mc / GT_MR * GT_MR;
    for (int jr = 0; jr < nc; jr += GT_NR) {
        int n = nc - jr < GT_NR ? nc - jr : GT_NR;
        for (int ir = 0; ir < full; ir += GT_MR)
            GT_NAME(tile_rows)(kc, a + (size_t)ir * pr->a_rs, pr->a_rs, pr->a_cs, pb + (size_t)jr * kc,
                               c + (size_t)ir * pr->ldc + jr, pr->ldc, accumulate, n);
    }
    if (full == mc) return;
    GT_NAME(pack_a)(mc - full, kc, a + (size_t)full * pr->a_rs, pr->a_rs, pr->a_cs, pa);
    for (int jr = 0; jr < nc; jr += GT_NR) {
        int n = nc - jr < GT_NR ? nc - jr : GT_NR;
        GT_NAME(tile)(kc, pa, pb + (size_t)jr * kc, c + (size_t)full * pr->ldc + jr, pr->ldc, accumulate,
                      mc - full, n);
    }
}

/* C[M,N] (= or +=) op(A) op(B) for one thread, using workspace ws (at least
 * GT_MC*GT_KC + GT_KC*GT_NC elements, 64-byte aligned); op(A) is read from
 * pr->packed_a when set (pack_a_blocks' layout), else packed block by block
 * into ws; op(B) likewise from pr->packed_b when set. */
static GT_TARGET void GT_NAME(blocked)(const GT_PROBLEM *pr, GT_T *ws)
{
    GT_T *pa = ws, *pb = ws + GT_MC * GT_KC;
    int nc_step = balanced_step(pr->N, GT_NC, GT_NR);
    int kc_step = balanced_step(pr->K, GT_KC, 1);
    int mc_step = balanced_step(pr->M, GT_MC, GT_MR);
    for (int jc = 0; jc < pr->N; jc += nc_step) {
        int nc = pr->N - jc < nc_step ? pr->N - jc : nc_step;
        const GT_T *shared_a = pr->packed_a;
        /* few columns: each micro-panel of op(A) would serve only a few
         * tiles, too few to repay packing it; read op(A) in place */
        bool in_place_a = !shared_a && nc <= GEMM_IN_PLACE_A_MAX_N;
        for (int pc = 0; pc < pr->K; pc += kc_step) {
            int kc = pr->K - pc < kc_step ? pr->K - pc : kc_step;
            bool accumulate = pc > 0 || pr->beta != 0.0;
            const GT_T *b_panel = pb;
            if (pr->packed_b)
                b_panel = pr->packed_b + (size_t)pc * pr->packed_b_ld + (size_t)(pr->packed_b_col + jc) * kc;
            else
                GT_NAME(pack_b)(kc, nc, pr->B + (size_t)pc * pr->b_rs + (size_t)jc * pr->b_cs, pr->b_rs,
                                pr->b_cs, pb);
            for (int ic = 0; ic < pr->M; ic += mc_step) {
                int mc = pr->M - ic < mc_step ? pr->M - ic : mc_step;
                const GT_T *a_block = pa, *a_src = pr->A + (size_t)ic * pr->a_rs + (size_t)pc * pr->a_cs;
                GT_T *cblock = pr->C + (size_t)ic * pr->ldc + jc;
                if (in_place_a) {
                    GT_NAME(block_in_place)(pr, mc, kc, nc, a_src, b_panel, pa, cblock, accumulate);
                    continue;
                }
                if (shared_a) {
                    a_block = shared_a;
                    shared_a += GT_NAME(packed_a_size)(mc, kc);
                } else {
                    GT_NAME(pack_a)(mc, kc, a_src, pr->a_rs, pr->a_cs, pa);
                }
                for (int jr = 0; jr < nc; jr += GT_NR) {
                    int n = nc - jr < GT_NR ? nc - jr : GT_NR;
                    for (int ir = 0; ir < mc; ir += GT_MR) {
                        int m = mc - ir < GT_MR ? mc - ir : GT_MR;
                        GT_NAME(tile)(kc, a_block + (size_t)ir * kc, b_panel + (size_t)jr * kc,
                                      cblock + (size_t)ir * pr->ldc + jr, pr->ldc, accumulate, m, n);
                    }
                }
            }
        }
    }
}

#undef GT_NR
#undef GT_UNROLL
#undef GT_T
#undef GT_PROBLEM
#undef GT_NAME
#undef GT_TARGET
#undef GT_VL
#undef GT_MR
#undef GT_ROWS
#undef GT_MC
#undef GT_KC
#undef GT_NC
