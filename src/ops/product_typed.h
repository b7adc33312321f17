/* product_typed.h -- the matrix product over its batch in one element
 * type, `real`: included by product.c (real = double, GEMM = ag_gemm) and
 * product_f32.c (real = float, GEMM = ag_gemm_f32), which define AG_TYPED
 * (the exported names: ag_product_forward, ag_product_forward_f32). The
 * small products' plain loops, the routine that runs each batch matrix on
 * them or on the blocked kernel with linear's bias, and the batch over the
 * threads. See product.h for the math. */
#define VAL(n) ((real *)(void *)(n)->value)
#define GRD(n) ((real *)(void *)(n)->grad)

/* ---- small products: plain loops ----------------------------------------------
 * Products with at most this many multiply-adds run the loops below: for
 * TestNet's 4x3 @ 3x1 any call into the blocked kernel costs more than the
 * arithmetic. Every operand here is row-major and contiguous. */
#define MATMUL_SMALL_MAX 512

static inline bool is_small(int M, int N, int K) { return (long long)M * N * K <= MATMUL_SMALL_MAX; }

/* The loops run over rows through pointers. N = 1 (a matrix times a vector:
 * TestNet's case) has loops of its own: for a short vector (K <= 4, as
 * TestNet's 3 and 4, or iris's 4 features) a copy of each loop with K a
 * constant, so the loop over p unrolls and the vector stays in registers;
 * for longer ones two rows at a time, so each load of the vector serves both. */
#define SMALL_K_MAX 4
/* Unroll a loop over K <= SMALL_K_MAX completely: the vector's K values
 * then live in registers. */
#define AG_UNROLL_K AG_UNROLL(4)

/* Return after fn(M, K, ...) with K as a constant when 1 <= K <= SMALL_K_MAX
 * (fn's loop over K then unrolls); otherwise go on to the general loops. */
#define SMALL_K_DISPATCH(fn, M, K, ...)                                                    \
    switch (K) {                                                                           \
    case 1: fn(M, 1, __VA_ARGS__); return;                                                 \
    case 2: fn(M, 2, __VA_ARGS__); return;                                                 \
    case 3: fn(M, 3, __VA_ARGS__); return;                                                 \
    case 4: fn(M, 4, __VA_ARGS__); return;                                                 \
    default: break;                                                                        \
    }

/* y[M] = init + A[M,K] @ x[K] (init NULL: 0), each sum started from init
 * as a hand-written layer starts from its bias */
static ALWAYS_INLINE void matvec_fixed_k(int M, const int K, const real *A, const real *x,
                                         const real *init, real *restrict y)
{
    real xr[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) xr[p] = x[p];
    for (int i = 0; i < M; i++, A += K) {
        real s = init ? init[i] : 0.0;
        AG_UNROLL_K
        for (int p = 0; p < K; p++) s += A[p] * xr[p];
        y[i] = s;
    }
}

static inline void small_matvec(int M, int K, const real *A, const real *x, const real *init,
                                real *restrict y)
{
    SMALL_K_DISPATCH(matvec_fixed_k, M, K, A, x, init, y);
    int i = 0;
    for (; i + 1 < M; i += 2, A += 2 * K) {
        const real *a1 = A + K;
        real s0 = init ? init[i] : 0.0, s1 = init ? init[i + 1] : 0.0;
        for (int p = 0; p < K; p++) {
            s0 += A[p] * x[p];
            s1 += a1[p] * x[p];
        }
        y[i] = s0;
        y[i + 1] = s1;
    }
    if (i < M) {
        real s = init ? init[i] : 0.0;
        for (int p = 0; p < K; p++) s += A[p] * x[p];
        y[i] = s;
    }
}

/* dA[M,K] += dy[M] x[K]^T (the outer product) */
static ALWAYS_INLINE void outer_fixed_k(int M, const int K, const real *dy, const real *x,
                                        real *restrict dA)
{
    real xr[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) xr[p] = x[p];
    for (int i = 0; i < M; i++, dA += K) {
        const real g = dy[i];
        AG_UNROLL_K
        for (int p = 0; p < K; p++) dA[p] += g * xr[p];
    }
}

static inline void small_outer_acc(int M, int K, const real *dy, const real *x, real *restrict dA)
{
    SMALL_K_DISPATCH(outer_fixed_k, M, K, dy, x, dA);
    int i = 0;
    for (; i + 1 < M; i += 2, dA += 2 * K) {
        const real g0 = dy[i], g1 = dy[i + 1];
        real *d1 = dA + K;
        for (int p = 0; p < K; p++) {
            dA[p] += g0 * x[p];
            d1[p] += g1 * x[p];
        }
    }
    if (i < M)
        for (int p = 0; p < K; p++) dA[p] += dy[i] * x[p];
}

/* dx[K] += A[M,K]^T dy[M], the sums for x in registers row after row */
static ALWAYS_INLINE void matvec_t_fixed_k(int M, const int K, const real *A, const real *dy,
                                           real *restrict dx)
{
    real acc[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) acc[p] = dx[p];
    for (int i = 0; i < M; i++, A += K) {
        const real g = dy[i];
        AG_UNROLL_K
        for (int p = 0; p < K; p++) acc[p] += A[p] * g;
    }
    AG_UNROLL_K
    for (int p = 0; p < K; p++) dx[p] = acc[p];
}

static inline void small_matvec_t_acc(int M, int K, const real *A, const real *dy, real *restrict dx)
{
    SMALL_K_DISPATCH(matvec_t_fixed_k, M, K, A, dy, dx);
    int i = 0;
    for (; i + 1 < M; i += 2, A += 2 * K) {
        const real g0 = dy[i], g1 = dy[i + 1], *a1 = A + K;
        for (int p = 0; p < K; p++) dx[p] += A[p] * g0 + a1[p] * g1;
    }
    if (i < M)
        for (int p = 0; p < K; p++) dx[p] += A[p] * dy[i];
}

/* C[M,N] = init + A[M,K] @ B[K,N] (init NULL: 0, else [M,N]) */
static void small_product(int M, int N, int K, const real *A, const real *B,
                          const real *init, real *restrict C)
{
    if (N == 1) {
        small_matvec(M, K, A, B, init, C);
        return;
    }
    for (int i = 0; i < M; i++, A += K, C += N) {
        for (int j = 0; j < N; j++) C[j] = init ? init[(size_t)i * N + j] : 0.0;
        for (int p = 0; p < K; p++) {
            const real a = A[p], *b = B + (size_t)p * N;
            for (int j = 0; j < N; j++) C[j] += a * b[j];
        }
    }
}

/* dA[M,K] += dC[M,N] @ B^T, B being [K,N] */
static void small_grad_a(int M, int N, int K, const real *dC, const real *B,
                         real *restrict dA)
{
    if (N == 1) {
        small_outer_acc(M, K, dC, B, dA);
        return;
    }
    for (int i = 0; i < M; i++, dC += N, dA += K)
        for (int p = 0; p < K; p++) {
            const real *b = B + (size_t)p * N;
            real s = 0.0;
            for (int j = 0; j < N; j++) s += dC[j] * b[j];
            dA[p] += s;
        }
}

/* dB[K,N] += A^T @ dC, A being [M,K] and dC [M,N] */
static void small_grad_b(int M, int N, int K, const real *A, const real *dC,
                         real *restrict dB)
{
    if (N == 1) {
        small_matvec_t_acc(M, K, A, dC, dB);
        return;
    }
    for (int i = 0; i < M; i++, A += K, dC += N)
        for (int p = 0; p < K; p++) {
            const real a = A[p];
            real *db = dB + (size_t)p * N;
            for (int j = 0; j < N; j++) db[j] += a * dC[j];
        }
}

/* ---- one matrix of the product: small loops or ag_gemm --------------------------- */

/* C[M,N] = c + A[M,K] @ B[K,N], c the bias along its view (bias NULL: none).
 * Small: a flat bias starts each sum, as a hand-written layer does, any
 * other is added after. Large: C is set to the bias and the blocked kernel
 * adds the product onto it (beta 1), or writes it (beta 0) when there is none. */
static void matrix_values(const product_layout *L, const real *A, const real *B,
                          const bias_view *bias, const real *c, real *C)
{
    int M = L->M, N = L->N, K = L->K;
    if (is_small(M, N, K)) {
        small_product(M, N, K, A, B, bias && bias->flat ? c : NULL, C);
        if (bias && !bias->flat) AG_TYPED(ag_bias_add)(bias, c, C);
        return;
    }
    if (bias) AG_TYPED(ag_bias_set)(bias, c, C);
    GEMM(false, false, M, N, K, A, K, B, N, bias ? 1.0 : 0.0, C, N);
}

/* dA[M,K] = beta_a dA + dC[M,N] @ B^T and dB[K,N] = beta_b dB + A^T @ dC,
 * each when not NULL (no transpose is materialised: ag_gemm reads B and A
 * transposed). A beta is 0 only for a large product (written_grad). */
static void matrix_grads(const product_layout *L, const real *A, const real *B,
                         const real *dC, real *dA, real *dB, real beta_a, real beta_b)
{
    int M = L->M, N = L->N, K = L->K;
    if (is_small(M, N, K)) {
        if (dA) small_grad_a(M, N, K, dC, B, dA);
        if (dB) small_grad_b(M, N, K, A, dC, dB);
        return;
    }
    if (dA) GEMM(false, true, M, K, N, dC, N, B, N, beta_a, dA, K);
    if (dB) GEMM(true, false, K, N, M, A, K, dC, N, beta_b, dB, N);
}

/* tC[M,N] = tA @ B + A @ tB, a NULL tangent being zero (tC was zeroed). */
static void matrix_tangent(const product_layout *L, const real *A, const real *tA,
                           const real *B, const real *tB, real *tC)
{
    int M = L->M, N = L->N, K = L->K;
    real beta = 0.0;
    if (tA) {
        GEMM(false, false, M, N, K, tA, K, B, N, beta, tC, N);
        beta = 1.0;
    }
    if (tB) GEMM(false, false, M, N, K, A, K, tB, N, beta, tC, N);
}

/* ---- the product over its batch ------------------------------------------------- */

/* A pointer `at` elements into buffer p, or NULL for a NULL buffer (a
 * gradient or tangent that does not flow). */
static inline real *at_or_null(real *p, size_t at) { return p ? p + at : NULL; }

/* ---- the batch over the threads --------------------------------------------------
 * A batch of matrices each large enough for ag_gemm to split over the
 * threads (GMM's [1000, 64] @ [64, 64]) runs a contiguous run of whole
 * matrices on each thread instead: one fork-join for the op instead of one
 * per matrix, each thread on its own matrices. Only where no operand is
 * broadcast over the batch (no two matrices write one gradient matrix).
 * Smaller matrices keep the plain loop, one thread each as before. Each
 * matrix is computed by the same calls as in the plain loop (ag_gemm called
 * from inside a job runs on its caller alone, and a split product gives the
 * same sums as a whole one), so the values are the same to the bit. */
#define BATCH_SPLIT_MIN ((long long)1 << 21) /* multiply-adds: gemm.c's GEMM_PARALLEL_MIN */

typedef struct batch_job {
    const ag_node *out;
    const bias_view *bias;
    product_layout L;
    real beta_a, beta_b; /* the vjp's: 0 writes the gradient (written_grad), 1 adds */
} batch_job;

/* Whether out's batch runs over the threads: a matrix per thread at least,
 * each one large enough that ag_gemm would split it, none broadcast. */
static bool batch_in_parallel(const product_layout *L)
{
    int count = L->batch[0] * L->batch[1], threads = ag_parallel_threads();
    for (int d = 0; d < 2; d++)
        if (L->batch[d] > 1 && (L->a_step[d] == 0 || L->b_step[d] == 0)) return false;
    return threads > 1 && count >= threads && (long long)L->M * L->N * L->K >= BATCH_SPLIT_MIN;
}

/* The matrices [lo, hi) of the batch, counted row-major over (i, j). */
static void forward_matrices(const ag_node *out, const bias_view *bias, const product_layout *L, int lo, int hi)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    const real *c = bias ? VAL(out->in[2]) : NULL;
    for (int m = lo; m < hi; m++) {
        batch_offsets at = batch_matrix(L, m / L->batch[1], m % L->batch[1]);
        matrix_values(L, VAL(a) + at.a, VAL(b) + at.b, bias, c, VAL(out) + at.c);
    }
}

static void grad_matrices(const batch_job *job, int lo, int hi)
{
    const ag_node *a = job->out->in[0], *b = job->out->in[1];
    const product_layout *L = &job->L;
    for (int m = lo; m < hi; m++) {
        batch_offsets at = batch_matrix(L, m / L->batch[1], m % L->batch[1]);
        matrix_grads(L, VAL(a) + at.a, VAL(b) + at.b, GRD(job->out) + at.c, at_or_null(GRD(a), at.a),
                     at_or_null(GRD(b), at.b), job->beta_a, job->beta_b);
    }
}

/* thread tid's share of the batch's matrices */
static void share_of(const product_layout *L, int tid, int nthreads, int *lo, int *hi)
{
    long long count = (long long)L->batch[0] * L->batch[1];
    *lo = (int)(count * tid / nthreads);
    *hi = (int)(count * (tid + 1) / nthreads);
}

static void forward_part(void *ctx, int tid, int nthreads)
{
    const batch_job *job = ctx;
    int lo, hi;
    share_of(&job->L, tid, nthreads, &lo, &hi);
    forward_matrices(job->out, job->bias, &job->L, lo, hi);
}

static void grad_part(void *ctx, int tid, int nthreads)
{
    const batch_job *job = ctx;
    int lo, hi;
    share_of(&job->L, tid, nthreads, &lo, &hi);
    grad_matrices(job, lo, hi);
}

void AG_TYPED(ag_product_forward)(const ag_node *out, const bias_view *bias)
{
    batch_job job = {out, bias, ag_product_layout(out), 1.0, 1.0};
    if (batch_in_parallel(&job.L))
        ag_parallel_run(ag_parallel_threads(), forward_part, &job);
    else
        forward_matrices(out, bias, &job.L, 0, job.L.batch[0] * job.L.batch[1]);
}

/* The beta for input x's gradient: 0 (write it) when it is a parameter's
 * with a zero pending (ag_optimizer_zero_grad_lazily) and the product is
 * one matrix large enough for ag_gemm; the weight gradient of a layer then
 * is neither zeroed nor read. Otherwise 1: a pending zero is written first
 * (the small loops add, and so does each matrix of a batch into a
 * broadcast operand's gradient). Called for a, then b, as matrix_grads
 * writes them: for a product of a parameter with itself, dA is written and
 * dB added. */
static real grad_beta(const ag_node *x, const product_layout *L)
{
    if (!GRD(x) || !ag_grad_take_pending_zero(x)) return 1.0;
    if (L->batch[0] * L->batch[1] == 1 && !is_small(L->M, L->N, L->K)) return 0.0;
    ag_zero_typed(x->grad, x->shape.size, x->dtype);
    return 1.0;
}

/* Batch matrices that share an operand's matrix (broadcast) add their
 * shares into its one gradient, in the result's batch order. */
void AG_TYPED(ag_product_vjp)(const ag_node *out, const bias_view *bias)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    if (GRD(a) || GRD(b)) {
        batch_job job = {out, bias, ag_product_layout(out), 1.0, 1.0};
        job.beta_a = grad_beta(a, &job.L);
        job.beta_b = grad_beta(b, &job.L);
        if (batch_in_parallel(&job.L))
            ag_parallel_run(ag_parallel_threads(), grad_part, &job);
        else
            grad_matrices(&job, 0, job.L.batch[0] * job.L.batch[1]);
    }
    if (bias && GRD(out->in[2])) {
        ag_node_grad_settle(out->in[2]); /* the bias gradient is added to */
        AG_TYPED(ag_bias_grad)(bias, GRD(out), GRD(out->in[2]));
    }
}


#undef VAL
#undef GRD
