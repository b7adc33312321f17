/* gemm_tile_at.h -- one register tile of gemm_tile.h: GTA_ROWS rows of C,
 * two vectors (GT_NR columns) each.
 *
 * Included by gemm_tile.h (within one instruction set and element type, so
 * GT_T, GT_NAME, GT_TARGET, GT_VL, GT_NR are set) with these macros defined
 * (and #undef'd again at the end of this file):
 *   GTA_NAME     the generated function's name
 *   GTA_ROWS     the number of rows, at most GT_MR
 *   GTA_EACH(X)  expands X(0) .. X(GTA_ROWS-1)
 * The full tile has GT_MR rows; the shorter ones serve the last micro-panel
 * of a block when few of its rows are real (M = 16 on a 12-row tile leaves
 * 4), so that the padding rows are not multiplied. Every element of C gets
 * the same multiply-adds in the same order whichever tile computes it, so
 * the results are the same bits.
 *
 * C[m x n] (= or +=) sum_p a(r, p) (x) b[p][0..GT_NR) for rows r < GTA_ROWS,
 * m <= GTA_ROWS, n <= GT_NR, where a(r, p) = a[r*rs + p*cs]: a packed
 * micro-panel (rs 1, cs GT_MR), or whole rows of op(A) read in place; b is a
 * packed micro-panel (64-byte aligned). */
static GT_TARGET inline __attribute__((always_inline)) void
    GTA_NAME(int kc, const GT_T *restrict a, size_t rs, size_t cs, const GT_T *restrict b,
             GT_T *restrict c, int ldc, bool accumulate, int m, int n)
{
    typedef GT_NAME(vec) vec;
    typedef GT_NAME(vec_u) vec_u;
#define GT_DECL(i) vec c##i##0 = {0}, c##i##1 = {0};
    GTA_EACH(GT_DECL)
#undef GT_DECL
    /* C's rows are far apart (a large ldc): start fetching them now so the
     * misses overlap the k loop instead of stalling the stores after it */
#define GT_PREFETCH(i)                                                                     \
    __builtin_prefetch(c + (size_t)(i) * ldc, 1);                                          \
    __builtin_prefetch(c + (size_t)(i) * ldc + GT_NR - 1, 1);
    GTA_EACH(GT_PREFETCH)
#undef GT_PREFETCH
    GT_UNROLL
    for (int p = 0; p < kc; p++) {
        vec b0 = *(const vec *)b, b1 = *(const vec *)(b + GT_VL);
#define GT_FMA(i)                                                                          \
    c##i##0 += b0 * a[(i) * rs];                                                           \
    c##i##1 += b1 * a[(i) * rs];
        GTA_EACH(GT_FMA)
#undef GT_FMA
        a += cs;
        b += GT_NR;
    }
    if (m == GTA_ROWS && n == GT_NR) {
#define GT_STORE(i)                                                                        \
    {                                                                                      \
        vec_u *row = (vec_u *)(c + (size_t)(i) * ldc);                                     \
        row[0] = accumulate ? row[0] + c##i##0 : c##i##0;                                  \
        row[1] = accumulate ? row[1] + c##i##1 : c##i##1;                                  \
    }
        GTA_EACH(GT_STORE)
#undef GT_STORE
        return;
    }
    /* an edge tile: spill the registers, then copy the valid part */
    vec tile[GTA_ROWS][2];
#define GT_SPILL(i) tile[i][0] = c##i##0, tile[i][1] = c##i##1;
    GTA_EACH(GT_SPILL)
#undef GT_SPILL
    const GT_T *t = (const GT_T *)tile;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            GT_T *cij = c + (size_t)i * ldc + j;
            *cij = (accumulate ? *cij : (GT_T)0) + t[i * GT_NR + j];
        }
}

#undef GTA_NAME
#undef GTA_ROWS
#undef GTA_EACH
