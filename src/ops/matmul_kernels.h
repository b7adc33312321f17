/* matmul_kernels.h -- the matrix product's values and gradients, small or
 * large, shared by matmul (linalg.c) and linear (linear.c). Static inline so
 * that TestNet-sized products cost no call beyond the op's own. */
#ifndef AGRAD_OPS_MATMUL_KERNELS_H
#define AGRAD_OPS_MATMUL_KERNELS_H

#include "../internal.h"

/* Products with at most this many multiply-adds run the plain loops below:
 * for TestNet's 4x3 @ 3x1 any call into the blocked kernel costs more than
 * the arithmetic. Every operand here is row-major and contiguous. */
#define MATMUL_SMALL_MAX 512

static inline bool is_small(int M, int N, int K) { return (long long)M * N * K <= MATMUL_SMALL_MAX; }

/* The loops below run over rows through pointers. N = 1 (a matrix times a
 * vector: TestNet's case) has loops of its own: for a short vector (K <= 4,
 * as TestNet's 3 and 4, or iris's 4 features) a copy of each loop with K a
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
static inline void small_product(int M, int N, int K, const double *A, const double *B,
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
static inline void small_grad_a(int M, int N, int K, const double *dC, const double *B,
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
static inline void small_grad_b(int M, int N, int K, const double *A, const double *dC,
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

/* out->value = in[0] @ in[1] */
static inline void matmul_values(const ag_node *out)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    int M = a->shape.dims[0], K = a->shape.dims[1], N = b->shape.dims[1];
    if (is_small(M, N, K))
        small_product(M, N, K, a->value, b->value, NULL, out->value);
    else
        ag_gemm(false, false, M, N, K, a->value, K, b->value, N, 0.0, out->value, N);
}

/* in[0]->grad += dY @ B^T, in[1]->grad += A^T @ dY (those that exist) */
static inline void matmul_grads(const ag_node *out)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    int M = a->shape.dims[0], K = a->shape.dims[1], N = b->shape.dims[1];
    if (is_small(M, N, K)) {
        if (a->grad) small_grad_a(M, N, K, out->grad, b->value, a->grad);
        if (b->grad) small_grad_b(M, N, K, a->value, out->grad, b->grad);
        return;
    }
    if (a->grad) ag_gemm(false, true, M, K, N, out->grad, N, b->value, N, 1.0, a->grad, K);
    if (b->grad) ag_gemm(true, false, K, N, M, a->value, K, out->grad, N, 1.0, b->grad, N);
}

/* Kernels for a matrix times a short vector: Y [M,1] = A [M,K] @ x [K,1]
 * (+ a bias c of M values when WITH_BIAS), K a constant in 1..SMALL_K_MAX
 * and the product small (TestNet's layers; a 4-feature sample). The
 * specialise step of matmul or linear gives such a node these kernels (see
 * struct ag_op), so a replay goes straight to the loops above with K
 * unrolled, past the size, shape and bias tests: the same loops in the same
 * order as the general path, so the same bits (but for the sign of a NaN,
 * which IEEE leaves open and the compiler's operand order decides).
 *   y = c + A x;  dA += dy x^T,  dx += A^T dy,  dc += dy                    */
#define MATVEC_KERNELS(prefix, K, WITH_BIAS)                                               \
    static bool prefix##K##_forward(ag_node *out, char *why, size_t len)                   \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        matvec_fixed_k(out->shape.dims[0], K, out->in[0]->value, out->in[1]->value,        \
                       WITH_BIAS ? out->in[2]->value : NULL, out->value);                  \
        return true;                                                                       \
    }                                                                                      \
    static void prefix##K##_vjp(ag_node *out)                                              \
    {                                                                                      \
        const ag_node *a = out->in[0], *x = out->in[1];                                    \
        int M = out->shape.dims[0];                                                        \
        if (a->grad) outer_fixed_k(M, K, out->grad, x->value, a->grad);                    \
        if (x->grad) matvec_t_fixed_k(M, K, a->value, out->grad, x->grad);                 \
        if (WITH_BIAS && out->in[2]->grad) {                                               \
            double *restrict dc = out->in[2]->grad;                                        \
            for (int i = 0; i < M; i++) dc[i] += out->grad[i];                             \
        }                                                                                  \
    }

/* The four pairs' functions (prefix1_forward .. prefix4_vjp) and the table
 * of them, table[K - 1] for K = 1 .. SMALL_K_MAX. */
#define MATVEC_KERNEL_TABLE(table, prefix, WITH_BIAS)                                      \
    MATVEC_KERNELS(prefix, 1, WITH_BIAS)                                                   \
    MATVEC_KERNELS(prefix, 2, WITH_BIAS)                                                   \
    MATVEC_KERNELS(prefix, 3, WITH_BIAS)                                                   \
    MATVEC_KERNELS(prefix, 4, WITH_BIAS)                                                   \
    static const ag_kernels table[SMALL_K_MAX] = {                                         \
        {prefix##1_forward, prefix##1_vjp}, {prefix##2_forward, prefix##2_vjp},            \
        {prefix##3_forward, prefix##3_vjp}, {prefix##4_forward, prefix##4_vjp}};

/* Whether a product of A [M,K] and B [K,N] takes a matrix-vector variant. */
static inline bool takes_matvec_variant(int M, int N, int K)
{
    return N == 1 && K <= SMALL_K_MAX && is_small(M, N, K);
}

#endif
