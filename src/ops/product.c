/* product.c -- the matrix product of matmul and linear (see product.h for
 * the math): the layout of a batched product, the plain loops that run
 * small products, the routine that runs each batch matrix on them or on
 * ag_gemm with linear's bias, and the matrix-times-short-vector kernels
 * that the specialise step gives TestNet-shaped nodes. */
#include "product.h"

/* ---- layout ------------------------------------------------------------------ */

product_operand ag_product_operand(const ag_shape *s, bool left)
{
    product_operand p = {.batch = {1, 1}};
    if (s->ndim == 1) { /* a vector: one row on the left, one column on the right */
        p.rows = left ? 1 : s->dims[0];
        p.cols = left ? s->dims[0] : 1;
        return p;
    }
    p.rows = s->dims[s->ndim - 2];
    p.cols = s->dims[s->ndim - 1];
    p.batch_ndim = s->ndim - 2;
    for (int d = 0; d < p.batch_ndim; d++) p.batch[2 - p.batch_ndim + d] = s->dims[d];
    return p;
}

/* Elements between an operand's consecutive matrices along each batch dim,
 * 0 where it has size 1 (broadcast, or not the operand's at all). */
static void batch_steps(const product_operand *p, size_t step[2])
{
    size_t matrix = (size_t)p->rows * (size_t)p->cols;
    step[1] = p->batch[1] == 1 ? 0 : matrix;
    step[0] = p->batch[0] == 1 ? 0 : matrix * (size_t)p->batch[1];
}

product_layout ag_product_layout(const ag_node *out)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape;
    if (a->ndim == 2 && b->ndim == 2) /* one matrix each (every linear, an MLP's layers) */
        return (product_layout){.M = a->dims[0], .N = b->dims[1], .K = a->dims[1], .batch = {1, 1}};
    product_operand pa = ag_product_operand(a, true), pb = ag_product_operand(b, false);
    product_layout L = {.M = pa.rows, .N = pb.cols, .K = pa.cols};
    for (int d = 0; d < 2; d++) L.batch[d] = pa.batch[d] > pb.batch[d] ? pa.batch[d] : pb.batch[d];
    batch_steps(&pa, L.a_step);
    batch_steps(&pb, L.b_step);
    return L;
}

/* Where batch matrix (i, j) of A, B and the result C start. */
typedef struct batch_offsets {
    size_t a, b, c;
} batch_offsets;

static inline batch_offsets batch_matrix(const product_layout *L, int i, int j)
{
    return (batch_offsets){
        .a = (size_t)i * L->a_step[0] + (size_t)j * L->a_step[1],
        .b = (size_t)i * L->b_step[0] + (size_t)j * L->b_step[1],
        .c = ((size_t)i * (size_t)L->batch[1] + (size_t)j) * (size_t)L->M * (size_t)L->N};
}

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
static ALWAYS_INLINE void matvec_fixed_k(int M, const int K, const double *A, const double *x,
                                         const double *init, double *restrict y)
{
    double xr[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) xr[p] = x[p];
    for (int i = 0; i < M; i++, A += K) {
        double s = init ? init[i] : 0.0;
        AG_UNROLL_K
        for (int p = 0; p < K; p++) s += A[p] * xr[p];
        y[i] = s;
    }
}

static inline void small_matvec(int M, int K, const double *A, const double *x, const double *init,
                                double *restrict y)
{
    SMALL_K_DISPATCH(matvec_fixed_k, M, K, A, x, init, y);
    int i = 0;
    for (; i + 1 < M; i += 2, A += 2 * K) {
        const double *a1 = A + K;
        double s0 = init ? init[i] : 0.0, s1 = init ? init[i + 1] : 0.0;
        for (int p = 0; p < K; p++) {
            s0 += A[p] * x[p];
            s1 += a1[p] * x[p];
        }
        y[i] = s0;
        y[i + 1] = s1;
    }
    if (i < M) {
        double s = init ? init[i] : 0.0;
        for (int p = 0; p < K; p++) s += A[p] * x[p];
        y[i] = s;
    }
}

/* dA[M,K] += dy[M] x[K]^T (the outer product) */
static ALWAYS_INLINE void outer_fixed_k(int M, const int K, const double *dy, const double *x,
                                        double *restrict dA)
{
    double xr[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) xr[p] = x[p];
    for (int i = 0; i < M; i++, dA += K) {
        const double g = dy[i];
        AG_UNROLL_K
        for (int p = 0; p < K; p++) dA[p] += g * xr[p];
    }
}

static inline void small_outer_acc(int M, int K, const double *dy, const double *x, double *restrict dA)
{
    SMALL_K_DISPATCH(outer_fixed_k, M, K, dy, x, dA);
    int i = 0;
    for (; i + 1 < M; i += 2, dA += 2 * K) {
        const double g0 = dy[i], g1 = dy[i + 1];
        double *d1 = dA + K;
        for (int p = 0; p < K; p++) {
            dA[p] += g0 * x[p];
            d1[p] += g1 * x[p];
        }
    }
    if (i < M)
        for (int p = 0; p < K; p++) dA[p] += dy[i] * x[p];
}

/* dx[K] += A[M,K]^T dy[M], the sums for x in registers row after row */
static ALWAYS_INLINE void matvec_t_fixed_k(int M, const int K, const double *A, const double *dy,
                                           double *restrict dx)
{
    double acc[SMALL_K_MAX];
    AG_UNROLL_K
    for (int p = 0; p < K; p++) acc[p] = dx[p];
    for (int i = 0; i < M; i++, A += K) {
        const double g = dy[i];
        AG_UNROLL_K
        for (int p = 0; p < K; p++) acc[p] += A[p] * g;
    }
    AG_UNROLL_K
    for (int p = 0; p < K; p++) dx[p] = acc[p];
}

static inline void small_matvec_t_acc(int M, int K, const double *A, const double *dy, double *restrict dx)
{
    SMALL_K_DISPATCH(matvec_t_fixed_k, M, K, A, dy, dx);
    int i = 0;
    for (; i + 1 < M; i += 2, A += 2 * K) {
        const double g0 = dy[i], g1 = dy[i + 1], *a1 = A + K;
        for (int p = 0; p < K; p++) dx[p] += A[p] * g0 + a1[p] * g1;
    }
    if (i < M)
        for (int p = 0; p < K; p++) dx[p] += A[p] * dy[i];
}

/* C[M,N] = init + A[M,K] @ B[K,N] (init NULL: 0, else [M,N]) */
static void small_product(int M, int N, int K, const double *A, const double *B,
                          const double *init, double *restrict C)
{
    if (N == 1) {
        small_matvec(M, K, A, B, init, C);
        return;
    }
    for (int i = 0; i < M; i++, A += K, C += N) {
        for (int j = 0; j < N; j++) C[j] = init ? init[(size_t)i * N + j] : 0.0;
        for (int p = 0; p < K; p++) {
            const double a = A[p], *b = B + (size_t)p * N;
            for (int j = 0; j < N; j++) C[j] += a * b[j];
        }
    }
}

/* dA[M,K] += dC[M,N] @ B^T, B being [K,N] */
static void small_grad_a(int M, int N, int K, const double *dC, const double *B,
                         double *restrict dA)
{
    if (N == 1) {
        small_outer_acc(M, K, dC, B, dA);
        return;
    }
    for (int i = 0; i < M; i++, dC += N, dA += K)
        for (int p = 0; p < K; p++) {
            const double *b = B + (size_t)p * N;
            double s = 0.0;
            for (int j = 0; j < N; j++) s += dC[j] * b[j];
            dA[p] += s;
        }
}

/* dB[K,N] += A^T @ dC, A being [M,K] and dC [M,N] */
static void small_grad_b(int M, int N, int K, const double *A, const double *dC,
                         double *restrict dB)
{
    if (N == 1) {
        small_matvec_t_acc(M, K, A, dC, dB);
        return;
    }
    for (int i = 0; i < M; i++, A += K, dC += N)
        for (int p = 0; p < K; p++) {
            const double a = A[p];
            double *db = dB + (size_t)p * N;
            for (int j = 0; j < N; j++) db[j] += a * dC[j];
        }
}

/* ---- one matrix of the product: small loops or ag_gemm --------------------------- */

/* C[M,N] = c + A[M,K] @ B[K,N], c the bias along its view (bias NULL: none).
 * Small: a flat bias starts each sum, as a hand-written layer does, any
 * other is added after. Large: C is set to the bias and the blocked kernel
 * adds the product onto it (beta 1), or writes it (beta 0) when there is none. */
static void matrix_values(const product_layout *L, const double *A, const double *B,
                          const bias_view *bias, const double *c, double *C)
{
    int M = L->M, N = L->N, K = L->K;
    if (is_small(M, N, K)) {
        small_product(M, N, K, A, B, bias && bias->flat ? c : NULL, C);
        if (bias && !bias->flat) ag_bias_add(bias, c, C);
        return;
    }
    if (bias) ag_bias_set(bias, c, C);
    ag_gemm(false, false, M, N, K, A, K, B, N, bias ? 1.0 : 0.0, C, N);
}

/* dA[M,K] += dC[M,N] @ B^T and dB[K,N] += A^T @ dC, each when not NULL (no
 * transpose is materialised: ag_gemm reads B and A transposed). */
static void matrix_grads(const product_layout *L, const double *A, const double *B,
                         const double *dC, double *dA, double *dB)
{
    int M = L->M, N = L->N, K = L->K;
    if (is_small(M, N, K)) {
        if (dA) small_grad_a(M, N, K, dC, B, dA);
        if (dB) small_grad_b(M, N, K, A, dC, dB);
        return;
    }
    if (dA) ag_gemm(false, true, M, K, N, dC, N, B, N, 1.0, dA, K);
    if (dB) ag_gemm(true, false, K, N, M, A, K, dC, N, 1.0, dB, N);
}

/* tC[M,N] = tA @ B + A @ tB, a NULL tangent being zero (tC was zeroed). */
static void matrix_tangent(const product_layout *L, const double *A, const double *tA,
                           const double *B, const double *tB, double *tC)
{
    int M = L->M, N = L->N, K = L->K;
    double beta = 0.0;
    if (tA) {
        ag_gemm(false, false, M, N, K, tA, K, B, N, beta, tC, N);
        beta = 1.0;
    }
    if (tB) ag_gemm(false, false, M, N, K, A, K, tB, N, beta, tC, N);
}

/* ---- the product over its batch ------------------------------------------------- */

/* A pointer `at` elements into buffer p, or NULL for a NULL buffer (a
 * gradient or tangent that does not flow). */
static inline double *at_or_null(double *p, size_t at) { return p ? p + at : NULL; }

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
    const double *c = bias ? out->in[2]->value : NULL;
    for (int m = lo; m < hi; m++) {
        batch_offsets at = batch_matrix(L, m / L->batch[1], m % L->batch[1]);
        matrix_values(L, a->value + at.a, b->value + at.b, bias, c, out->value + at.c);
    }
}

static void grad_matrices(const ag_node *out, const product_layout *L, int lo, int hi)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    for (int m = lo; m < hi; m++) {
        batch_offsets at = batch_matrix(L, m / L->batch[1], m % L->batch[1]);
        matrix_grads(L, a->value + at.a, b->value + at.b, out->grad + at.c, at_or_null(a->grad, at.a),
                     at_or_null(b->grad, at.b));
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
    grad_matrices(job->out, &job->L, lo, hi);
}

void ag_product_forward(const ag_node *out, const bias_view *bias)
{
    batch_job job = {out, bias, ag_product_layout(out)};
    if (batch_in_parallel(&job.L))
        ag_parallel_run(ag_parallel_threads(), forward_part, &job);
    else
        forward_matrices(out, bias, &job.L, 0, job.L.batch[0] * job.L.batch[1]);
}

/* Batch matrices that share an operand's matrix (broadcast) add their
 * shares into its one gradient, in the result's batch order. */
void ag_product_vjp(const ag_node *out, const bias_view *bias)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    if (a->grad || b->grad) {
        batch_job job = {out, bias, ag_product_layout(out)};
        if (batch_in_parallel(&job.L))
            ag_parallel_run(ag_parallel_threads(), grad_part, &job);
        else
            grad_matrices(out, &job.L, 0, job.L.batch[0] * job.L.batch[1]);
    }
    if (bias && out->in[2]->grad) ag_bias_grad(bias, out->grad, out->in[2]->grad);
}

void ag_product_jvp(const ag_node *out, const bias_view *bias)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    if (a->tangent || b->tangent) { /* each output matrix written whole (beta 0 first) */
        product_layout L = ag_product_layout(out);
        for (int i = 0; i < L.batch[0]; i++)
            for (int j = 0; j < L.batch[1]; j++) {
                batch_offsets at = batch_matrix(&L, i, j);
                matrix_tangent(&L, a->value + at.a, at_or_null(a->tangent, at.a), b->value + at.b,
                               at_or_null(b->tangent, at.b), out->tangent + at.c);
            }
    } else { /* only the bias moves */
        ag_zero_doubles(out->tangent, out->shape.size);
    }
    if (bias && out->in[2]->tangent) ag_bias_add(bias, out->in[2]->tangent, out->tangent);
}

/* ---- specialised: a matrix times a short vector -----------------------------------
 * y [M] = c + A [M,K] @ x [K] with K a constant 1 .. SMALL_K_MAX (M read
 * from A), the product small, and a bias c of M values read straight
 * (with_bias: linear) or none (matmul): TestNet's layers, a 4-feature
 * sample. Such a
 * node runs these kernels, chosen by ag_product_specialize when it is
 * recorded, so a replay goes straight to the loops above with K unrolled,
 * past the layout, size, shape and bias tests: the same loops in the same
 * order as the general path, so the same bits (but for the sign of a NaN,
 * which IEEE leaves open and the compiler's operand order decides).
 *   y = c + A x;  dA += dy x^T,  dx += A^T dy,  dc += dy                    */
static ALWAYS_INLINE void matvec_forward(const ag_node *out, const int K, bool with_bias)
{
    matvec_fixed_k(out->in[0]->shape.dims[0], K, out->in[0]->value, out->in[1]->value,
                   with_bias ? out->in[2]->value : NULL, out->value);
}

static ALWAYS_INLINE void matvec_vjp(const ag_node *out, const int K, bool with_bias)
{
    const ag_node *a = out->in[0], *x = out->in[1];
    int M = a->shape.dims[0];
    if (a->grad) outer_fixed_k(M, K, out->grad, x->value, a->grad);
    if (x->grad) matvec_t_fixed_k(M, K, a->value, out->grad, x->grad);
    if (with_bias && out->in[2]->grad) {
        double *restrict dc = out->in[2]->grad;
        for (int i = 0; i < M; i++) dc[i] += out->grad[i];
    }
}

/* The two pairs for one K as ag_kernels functions, matvecK_forward and
 * matvecK_vjp without a bias, matvecK_bias_forward and matvecK_bias_vjp with
 * one: matvec_forward and matvec_vjp with K and with_bias constants. */
#define MATVEC_KERNELS(K)                                                                   \
    static bool matvec##K##_forward(ag_node *out, char *why, size_t len)                    \
    {                                                                                       \
        (void)why, (void)len;                                                               \
        matvec_forward(out, K, false);                                                      \
        return true;                                                                        \
    }                                                                                       \
    static void matvec##K##_vjp(ag_node *out) { matvec_vjp(out, K, false); }                \
    static bool matvec##K##_bias_forward(ag_node *out, char *why, size_t len)               \
    {                                                                                       \
        (void)why, (void)len;                                                               \
        matvec_forward(out, K, true);                                                       \
        return true;                                                                        \
    }                                                                                       \
    static void matvec##K##_bias_vjp(ag_node *out) { matvec_vjp(out, K, true); }

MATVEC_KERNELS(1)
MATVEC_KERNELS(2)
MATVEC_KERNELS(3)
MATVEC_KERNELS(4)

/* matvec_kernels[with_bias][K - 1] */
static const ag_kernels matvec_kernels[2][SMALL_K_MAX] = {
    {{matvec1_forward, matvec1_vjp}, {matvec2_forward, matvec2_vjp},
     {matvec3_forward, matvec3_vjp}, {matvec4_forward, matvec4_vjp}},
    {{matvec1_bias_forward, matvec1_bias_vjp}, {matvec2_bias_forward, matvec2_bias_vjp},
     {matvec3_bias_forward, matvec3_bias_vjp}, {matvec4_bias_forward, matvec4_bias_vjp}},
};

/* A [M,K] @ x with x of K elements: [K,1], [K] (matmul's vector form), or
 * [1,K,1] and alike (a batch of one: the result [1,M,1] holds the same M
 * values). linear's bias has M values when it is a column [M,1], or one
 * value for M = 1 ([1], [1,1] or a scalar), read straight either way. This
 * runs for every product recorded: the fewest tests that decide it. */
const ag_kernels *ag_product_specialize(const ag_node *out)
{
    const ag_shape *a = &out->in[0]->shape;
    int K = a->dims[1];
    if (a->ndim != 2 || out->in[1]->shape.size != (size_t)K || K > SMALL_K_MAX ||
        a->size > MATMUL_SMALL_MAX) /* a->size = M*K multiply-adds */
        return NULL;
    if (out->n_in == 2) return &matvec_kernels[0][K - 1]; /* matmul */
    if (out->in[2]->shape.size == (size_t)a->dims[0]) return &matvec_kernels[1][K - 1]; /* linear */
    return NULL;
}
