/* linalg.c -- matrix product (and its parts, which linear.c reuses).
 *   forward  C[M,N] = A[M,K] @ B[K,N]
 *   vjp      dA += dC @ B^T,  dB += A^T @ dC   (no transpose is materialised)
 *   jvp      tC  = tA @ B + A @ tB                                          */
#include "../internal.h"

#include <stdio.h>

bool ag_matmul_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape;
    if (a->ndim != 2 || b->ndim != 2) {
        snprintf(why, len, "both operands must be 2-d matrices");
        return false;
    }
    if (a->dims[1] != b->dims[0]) {
        snprintf(why, len, "inner dimensions differ (%d vs %d)", a->dims[1], b->dims[0]);
        return false;
    }
    /* both factors are valid shapes; only the product's size can be too big */
    size_t size = (size_t)a->dims[0] * (size_t)b->dims[1];
    if (size > (size_t)1 << 40) {
        snprintf(why, len, "the product would have %zu elements (over 2^40)", size);
        return false;
    }
    out->shape = (ag_shape){.ndim = 2, .dims = {a->dims[0], b->dims[1], 1, 1}, .size = size};
    return true;
}

/* Products with at most this many multiply-adds run the plain loops below:
 * for TestNet's 4x3 @ 3x1 any call into the blocked kernel costs more than
 * the arithmetic. Every operand here is row-major and contiguous. */
#define MATMUL_SMALL_MAX 512

static bool is_small(int M, int N, int K) { return (long long)M * N * K <= MATMUL_SMALL_MAX; }

/* The loops below run over rows through pointers. N = 1 (a matrix times a
 * vector: TestNet's case) has loops of its own, two rows at a time so that
 * each load of the vector serves both. */

/* y[M] = init + A[M,K] @ x[K] (init NULL: 0), each sum started from init
 * as a hand-written layer starts from its bias */
static void small_matvec(int M, int K, const double *A, const double *x, const double *init,
                         double *restrict y)
{
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
static void small_outer_acc(int M, int K, const double *dy, const double *x, double *restrict dA)
{
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

/* dx[K] += A[M,K]^T dy[M] */
static void small_matvec_t_acc(int M, int K, const double *A, const double *dy, double *restrict dx)
{
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

bool ag_matmul_is_small(const ag_node *out)
{
    return is_small(out->in[0]->shape.dims[0], out->in[1]->shape.dims[1], out->in[0]->shape.dims[1]);
}

void ag_matmul_small(const ag_node *out, const double *init)
{
    int M = out->in[0]->shape.dims[0], K = out->in[0]->shape.dims[1];
    small_product(M, out->in[1]->shape.dims[1], K, out->in[0]->value, out->in[1]->value, init,
                  out->value);
}

bool ag_matmul_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    int M = out->in[0]->shape.dims[0], K = out->in[0]->shape.dims[1];
    int N = out->in[1]->shape.dims[1];
    if (is_small(M, N, K))
        small_product(M, N, K, out->in[0]->value, out->in[1]->value, NULL, out->value);
    else
        ag_gemm(false, false, M, N, K, out->in[0]->value, K, out->in[1]->value, N, 0.0,
                out->value, N);
    return true;
}

void ag_matmul_vjp(ag_node *out)
{
    ag_node *a = out->in[0], *b = out->in[1];
    int M = a->shape.dims[0], K = a->shape.dims[1], N = b->shape.dims[1];
    if (is_small(M, N, K)) {
        if (a->grad) small_grad_a(M, N, K, out->grad, b->value, a->grad);
        if (b->grad) small_grad_b(M, N, K, a->value, out->grad, b->grad);
        return;
    }
    if (a->grad) ag_gemm(false, true, M, K, N, out->grad, N, b->value, N, 1.0, a->grad, K);
    if (b->grad) ag_gemm(true, false, K, N, M, a->value, K, out->grad, N, 1.0, b->grad, N);
}

void ag_matmul_jvp(ag_node *out)
{
    ag_node *a = out->in[0], *b = out->in[1];
    int M = a->shape.dims[0], K = a->shape.dims[1], N = b->shape.dims[1];
    double beta = 0.0;
    for (size_t i = 0; i < out->shape.size; i++) out->tangent[i] = 0.0;
    if (a->tangent) {
        ag_gemm(false, false, M, N, K, a->tangent, K, b->value, N, beta, out->tangent, N);
        beta = 1.0;
    }
    if (b->tangent) ag_gemm(false, false, M, N, K, a->value, K, b->tangent, N, beta, out->tangent, N);
}

const ag_op ag_op_matmul = {.name = "matmul", .arity = 2, .symbol = "@",
                            .shape = ag_matmul_shape, .forward = ag_matmul_forward,
                            .vjp = ag_matmul_vjp, .jvp = ag_matmul_jvp};

ag_node *ag_matmul(ag_node *a, ag_node *b) { return ag_record(&ag_op_matmul, a, b, 0); }
