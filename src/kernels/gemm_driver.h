/* gemm_driver.h -- the matrix product for one element type: the direct path
 * for tiny shapes, and the split of a larger product over the threads, each
 * share run by the chosen instruction set's blocked kernel (gemm_tile.h).
 *
 * Included by gemm.c once per element type with these macros defined (and
 * #undef'd again at the end of this file):
 *   GD_T           the element type (double or float)
 *   GD_NAME(x)     x with the type's suffix (x ## _f64, x ## _f32): the
 *                  generated static functions, and the fields of gemm.c's
 *                  kernel table and buffers for this type
 *   GD_BUF         the member of gemm.c's workspace unions for this type
 *   GD_GEMM        the public function (ag_gemm, ag_gemm_f32)
 *   GD_CBLAS_GEMM  the CBLAS routine for BLAS=openblas (cblas_dgemm, cblas_sgemm)
 *   GD_NR_MAX      the widest register tile's columns for GD_T
 *   GD_PACKED, GD_PACKED_SIZE, GD_PACK_B, GD_GEMM_PACKED_B
 *                  the packed-operand type and public functions (internal.h)
 * gemm.c defines the problem type GD_NAME(gemm_problem) and the workspace
 * before including this. */

/* ---- the direct path ----------------------------------------------------------- */

/* C = beta*C + op(A) op(B) by the definition, for tiny and matrix-vector
 * shapes, where any setup would cost more than the arithmetic. op(A)[i][p] is
 * A[i*a_rs + p*a_cs], op(B)[p][j] is B[p*b_rs + j*b_cs]. The outer product
 * (K = 1: a matmul vjp on vectors), vector-matrix products that can run
 * along contiguous rows, and unit-stride dot products (a matrix times a
 * vector) have loops of their own. Sums run in GD_T. */
__attribute__((always_inline)) static inline void
    GD_NAME(gemm_direct)(int M, int N, int K, const GD_T *A, size_t a_rs, size_t a_cs, const GD_T *B,
                         size_t b_rs, size_t b_cs, bool accumulate, GD_T *C, size_t ldc)
{
    if (K == 1) {
        for (int i = 0; i < M; i++) {
            GD_T a = A[i * a_rs], *c = C + i * ldc;
            for (int j = 0; j < N; j++) {
                GD_T v = a * B[j * b_cs];
                c[j] = accumulate ? c[j] + v : v;
            }
        }
        return;
    }
    if ((M == 1 && b_cs == 1) || (N == 1 && a_rs == 1)) {
        /* a row vector times B, or A^T times a vector: C's one row (column)
         * is a sum of contiguous rows of B (of A) scaled by the vector */
        const GD_T *v = M == 1 ? A : B, *rows = M == 1 ? B : A;
        size_t v_step = M == 1 ? a_cs : b_rs, row_step = M == 1 ? b_rs : a_cs;
        size_t c_step = M == 1 ? 1 : ldc;
        int n = M == 1 ? N : M;
        if (!accumulate)
            for (int j = 0; j < n; j++) C[j * c_step] = 0;
        for (int p = 0; p < K; p++) {
            GD_T x = v[p * v_step];
            const GD_T *row = rows + p * row_step;
            for (int j = 0; j < n; j++) C[j * c_step] += x * row[j];
        }
        return;
    }
    if (N == 1 && a_cs == 1 && b_rs == 1) { /* matrix times a vector: row dot products */
        for (int i = 0; i < M; i++) {
            const GD_T *a = A + i * a_rs;
            GD_T s = 0;
            for (int p = 0; p < K; p++) s += a[p] * B[p];
            if (accumulate) s += C[i * ldc];
            C[i * ldc] = s;
        }
        return;
    }
    for (int i = 0; i < M; i++) {
        const GD_T *a = A + i * a_rs;
        GD_T *c = C + i * ldc;
        for (int j = 0; j < N; j++) {
            const GD_T *b = B + j * b_cs;
            GD_T s = 0;
            if (a_cs == 1 && b_rs == 1)
                for (int p = 0; p < K; p++) s += a[p] * b[p];
            else
                for (int p = 0; p < K; p++) s += a[p * a_cs] * b[p * b_rs];
            if (accumulate) s += c[j];
            c[j] = s;
        }
    }
}

/* ---- one thread's share: the blocked kernel in a workspace slot ------------- */

static void GD_NAME(gemm_blocked)(const GD_NAME(gemm_problem) * pr)
{
    int slot = slot_claim();
    if (slot < 0) { /* more concurrent callers than slots: correct, slower */
        GD_NAME(gemm_direct)(pr->M, pr->N, pr->K, pr->A, pr->a_rs, pr->a_cs, pr->B, pr->b_rs, pr->b_cs,
                             pr->beta != 0, pr->C, (size_t)pr->ldc);
        return;
    }
    kernel_get()->GD_NAME(blocked)(pr, workspace[slot].GD_BUF);
    slot_release(slot);
}

/* ---- splitting a product over threads ------------------------------------------ */

typedef struct GD_NAME(gemm_split) {
    GD_NAME(gemm_problem) pr;
    bool along_n; /* each thread takes a band of columns (else of rows) */
    int unit;     /* bands are multiples of the register tile */
} GD_NAME(gemm_split);

static void GD_NAME(gemm_part)(void *ctx, int tid, int nthreads)
{
    const GD_NAME(gemm_split) *sp = ctx;
    GD_NAME(gemm_problem) sub = sp->pr;
    int extent = sp->along_n ? sub.N : sub.M;
    int units = (extent + sp->unit - 1) / sp->unit;
    int lo = (int)((long long)units * tid / nthreads) * sp->unit;
    int hi = (int)((long long)units * (tid + 1) / nthreads) * sp->unit;
    if (hi > extent) hi = extent;
    if (lo >= hi) return;
    if (sp->along_n) {
        sub.N = hi - lo;
        sub.B += (size_t)lo * sub.b_cs;
        sub.packed_b_col += lo;
        sub.C += lo;
    } else {
        sub.M = hi - lo;
        sub.A += (size_t)lo * sub.a_rs;
        sub.C += (size_t)lo * sub.ldc;
    }
    GD_NAME(gemm_blocked)(&sub);
}

static void GD_NAME(pack_a_part)(void *ctx, int tid, int nthreads)
{
    const GD_NAME(gemm_split) *sp = ctx;
    kernel_get()->GD_NAME(pack_a_blocks)(&sp->pr, shared_a.GD_BUF, tid, nthreads);
}

/* Whether op(A) of pr fits the shared buffer (padded to the tile's rows),
 * and the buffer was free; true claims it. */
static bool GD_NAME(shared_a_claim)(const GD_NAME(gemm_problem) * pr, int mr)
{
    size_t elements = (size_t)((pr->M + mr - 1) / mr) * (size_t)mr * (size_t)pr->K;
    return elements * sizeof(GD_T) <= sizeof shared_a && atomic_exchange(&shared_a_taken, 1) == 0;
}

/* The packed path for everything that is not tiny, split over the threads
 * when large; kept out of the public function so the tiny path pays for
 * none of it. */
__attribute__((noinline)) static void GD_NAME(gemm_large)(const GD_NAME(gemm_problem) * pr)
{
    const gemm_kernel *k = kernel_get();
    int mr = k->GD_NAME(mr), nr = k->GD_NAME(nr);
    /* split the dimension whose band leaves the smaller operand to re-pack:
     * bands of columns each read all of op(A) (M x K), bands of rows all of
     * op(B) (K x N) */
    bool along_n = pr->M <= pr->N;
    int unit = along_n ? nr : mr;
    long long work = (long long)pr->M * pr->N * pr->K;
    int nthreads = work >= GEMM_PARALLEL_MIN ? ag_parallel_threads() : 1;
    int units = ((along_n ? pr->N : pr->M) + unit - 1) / unit;
    if (nthreads > units) nthreads = units;
    GD_NAME(gemm_split) sp = {.pr = *pr, .along_n = along_n, .unit = unit};
    if (nthreads < 2) {
        GD_NAME(gemm_part)(&sp, 0, 1);
        return;
    }
    bool share_a = along_n && GD_NAME(shared_a_claim)(pr, mr);
    if (share_a) {
        ag_parallel_run(nthreads, GD_NAME(pack_a_part), &sp);
        sp.pr.packed_a = shared_a.GD_BUF;
    }
    ag_parallel_run(nthreads, GD_NAME(gemm_part), &sp);
    if (share_a) atomic_store(&shared_a_taken, 0);
}

void GD_GEMM(bool trans_a, bool trans_b, int M, int N, int K, const GD_T *A, int lda, const GD_T *B,
             int ldb, GD_T beta, GD_T *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    size_t a_rs = trans_a ? 1 : (size_t)lda, a_cs = trans_a ? (size_t)lda : 1;
    size_t b_rs = trans_b ? 1 : (size_t)ldb, b_cs = trans_b ? (size_t)ldb : 1;
    if ((long long)M * N * K <= GEMM_TINY_MAX || M == 1 || N == 1 || K <= 0) {
        GD_NAME(gemm_direct)(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, beta != 0, C, (size_t)ldc);
        return;
    }
#ifdef AG_USE_CBLAS
    /* OpenBLAS blocks and threads by itself */
    GD_CBLAS_GEMM(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                  M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
    return;
#endif
    GD_NAME(gemm_problem) pr = {.M = M, .N = N, .K = K, .A = A, .B = B, .a_rs = a_rs, .a_cs = a_cs,
                                .b_rs = b_rs, .b_cs = b_cs, .beta = beta, .C = C, .ldc = ldc,
                                .packed_a = NULL};
    GD_NAME(gemm_large)(&pr);
}

/* ---- op(B) packed once for many products (internal.h) -------------------------- */

size_t GD_PACKED_SIZE(int K, int N)
{
    if (K <= 0 || N <= 0) return 0;
    size_t padded = ((size_t)N + GD_NR_MAX - 1) / GD_NR_MAX * GD_NR_MAX;
    return (size_t)K * padded + 64 / sizeof(GD_T); /* and room to align the start */
}

/* The blocked kernel's layout, for every column at once: for each k-slice
 * (the kernel's, balanced_step(K, KC)), the slice's rows of op(B) as pack_b
 * leaves them, micro-panels of NR columns side by side (the last one
 * zero-padded), so that any column band of a product finds its panels at a
 * fixed offset in every slice. */
static void GD_NAME(pack_b_all)(const gemm_kernel *k, int K, int N, const GD_T *B, size_t b_rs, size_t b_cs,
                                GD_T *dst, int ld)
{
    int kc_step = balanced_step(K, sizeof(GD_T) == sizeof(double) ? GEMM_KC_F64 : GEMM_KC_F32, 1);
    for (int pc = 0; pc < K; pc += kc_step) {
        int kc = K - pc < kc_step ? K - pc : kc_step;
        k->GD_NAME(pack_b)(kc, N, B + (size_t)pc * b_rs, b_rs, b_cs, dst + (size_t)pc * ld);
    }
}

void GD_PACK_B(bool trans_b, int K, int N, const GD_T *B, int ldb, GD_T *buf, GD_PACKED *out)
{
    *out = (GD_PACKED){.B = B, .ldb = ldb, .trans_b = trans_b, .K = K, .N = N};
#ifndef AG_USE_CBLAS
    if (K <= 0 || N <= 0 || !buf) return;
    const gemm_kernel *k = kernel_get();
    int nr = k->GD_NAME(nr);
    GD_T *data = (GD_T *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    out->ld = (N + nr - 1) / nr * nr;
    out->nr = nr;
    GD_NAME(pack_b_all)(k, K, N, B, trans_b ? 1 : (size_t)ldb, trans_b ? (size_t)ldb : 1, data, out->ld);
    out->data = data;
#endif
}

void GD_GEMM_PACKED_B(bool trans_a, int M, const GD_T *A, int lda, const GD_PACKED *b, GD_T beta, GD_T *C,
                      int ldc)
{
    int N = b->N, K = b->K;
    /* not packed (a CBLAS build), packed for another kernel's tile since, or
     * a shape the direct path takes: the product from op(B) itself */
    if (!b->data || b->nr != kernel_get()->GD_NAME(nr) || (long long)M * N * K <= GEMM_TINY_MAX || M == 1 ||
        N == 1) {
        GD_GEMM(trans_a, b->trans_b, M, N, K, A, lda, b->B, b->ldb, beta, C, ldc);
        return;
    }
    if (M <= 0) return;
    size_t a_rs = trans_a ? 1 : (size_t)lda, a_cs = trans_a ? (size_t)lda : 1;
    size_t b_rs = b->trans_b ? 1 : (size_t)b->ldb, b_cs = b->trans_b ? (size_t)b->ldb : 1;
    GD_NAME(gemm_problem) pr = {.M = M, .N = N, .K = K, .A = A, .B = b->B, .a_rs = a_rs, .a_cs = a_cs,
                                .b_rs = b_rs, .b_cs = b_cs, .beta = beta, .C = C, .ldc = ldc,
                                .packed_b = b->data, .packed_b_ld = b->ld};
    GD_NAME(gemm_large)(&pr);
}

#undef GD_T
#undef GD_NAME
#undef GD_BUF
#undef GD_GEMM
#undef GD_CBLAS_GEMM
#undef GD_NR_MAX
#undef GD_PACKED
#undef GD_PACKED_SIZE
#undef GD_PACK_B
#undef GD_GEMM_PACKED_B
