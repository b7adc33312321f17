/* linear.c -- the dense layer's op, fused: Y[M,N] = A[M,K] @ B[K,N] + bias.
 * One node instead of a matmul and an add: one pass fewer over Y, no
 * intermediate product to keep or to zero, one op fewer to dispatch.
 * The bias is added along its broadcast (attr holds which):
 *   same    [M,N]            Y[i,j] += c[i,j]   dc[i,j] += dY[i,j]
 *   row     [N] or [1,N]     Y[i,j] += c[j]     dc[j]   += sum_i dY[i,j]
 *   column  [M,1]            Y[i,j] += c[i]     dc[i]   += sum_j dY[i,j]
 *   scalar  [], [1], [1,1]   Y[i,j] += c        dc      += sum dY
 *   vjp  dA += dY @ B^T, dB += A^T @ dY (matmul_grads)
 *   jvp  tY = tA @ B + A @ tB + broadcast(tc)                             */
#include "matmul_kernels.h"

#include <stdio.h>
#include <string.h>

enum bias_kind { BIAS_SAME, BIAS_ROW, BIAS_COLUMN, BIAS_SCALAR };

static enum bias_kind bias_kind(const ag_node *out) { return (enum bias_kind)out->attr; }

static bool linear_shape(ag_node *out, char *why, size_t len)
{
    if (!ag_matmul_shape(out, why, len)) return false;
    int M = out->shape.dims[0], N = out->shape.dims[1];
    const ag_shape *c = &out->in[2]->shape;
    if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == N)
        out->attr = BIAS_SAME;
    else if ((c->ndim == 1 && c->dims[0] == N) || (c->ndim == 2 && c->dims[0] == 1 && c->dims[1] == N))
        out->attr = BIAS_ROW;
    else if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == 1)
        out->attr = BIAS_COLUMN;
    else if (c->size == 1) /* a scalar, [1] or [1,1]: added everywhere, as ag_add would */
        out->attr = BIAS_SCALAR;
    else {
        snprintf(why, len, "the bias must be [%d,%d], [%d] or [1,%d] (a row), [%d,1] (a column) "
                           "or one value for the [%d,%d] product", M, N, N, N, M, M, N);
        return false;
    }
    return true;
}

/* y[M,N] += the bias c along its broadcast. A bias that matches y element
 * for element (same shape, or a column when N = 1: TestNet's) is one flat loop. */
static void add_bias(enum bias_kind kind, int M, int N, const double *c, double *restrict y)
{
    size_t size = (size_t)M * N;
    if (kind == BIAS_SAME || (kind == BIAS_COLUMN && N == 1)) {
        for (size_t k = 0; k < size; k++) y[k] += c[k];
    } else if (kind == BIAS_SCALAR) {
        for (size_t k = 0; k < size; k++) y[k] += c[0];
    } else if (kind == BIAS_ROW) {
        for (int i = 0; i < M; i++, y += N)
            for (int j = 0; j < N; j++) y[j] += c[j];
    } else {
        for (int i = 0; i < M; i++, y += N)
            for (int j = 0; j < N; j++) y[j] += c[i];
    }
}

/* dc += dy[M,N] summed over the bias's broadcast dimensions */
static void bias_grad(enum bias_kind kind, int M, int N, const double *dy, double *restrict dc)
{
    size_t size = (size_t)M * N;
    if (kind == BIAS_SAME || (kind == BIAS_COLUMN && N == 1)) {
        for (size_t k = 0; k < size; k++) dc[k] += dy[k];
    } else if (kind == BIAS_SCALAR) {
        double s = dc[0];
        for (size_t k = 0; k < size; k++) s += dy[k];
        dc[0] = s;
    } else if (kind == BIAS_ROW) {
        for (int i = 0; i < M; i++, dy += N)
            for (int j = 0; j < N; j++) dc[j] += dy[j];
    } else {
        for (int i = 0; i < M; i++, dy += N) {
            double s = dc[i];
            for (int j = 0; j < N; j++) s += dy[j];
            dc[i] = s;
        }
    }
}

/* The bias laid out as Y itself: each sum can start from it. */
static bool bias_is_flat(enum bias_kind kind, int M, int N)
{
    return kind == BIAS_SAME || (kind == BIAS_COLUMN && N == 1) || (kind == BIAS_ROW && M == 1);
}

/* y[M,N] = the bias c along its broadcast */
static void set_bias(enum bias_kind kind, int M, int N, const double *c, double *restrict y)
{
    size_t size = (size_t)M * N;
    if (bias_is_flat(kind, M, N)) {
        memcpy(y, c, size * sizeof(double));
    } else if (kind == BIAS_SCALAR) {
        for (size_t k = 0; k < size; k++) y[k] = c[0];
    } else if (kind == BIAS_ROW) {
        for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, c, (size_t)N * sizeof(double));
    } else {
        for (int i = 0; i < M; i++, y += N)
            for (int j = 0; j < N; j++) y[j] = c[i];
    }
}

static bool linear_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    enum bias_kind kind = bias_kind(out);
    const ag_node *a = out->in[0], *b = out->in[1], *c = out->in[2];
    int M = out->shape.dims[0], N = out->shape.dims[1], K = a->shape.dims[1];
    if (bias_is_flat(kind, M, N)) {
        matmul_values(out, c->value); /* each sum starts from its bias */
    } else if (is_small(M, N, K)) {
        matmul_values(out, NULL);
        add_bias(kind, M, N, c->value, out->value);
    } else { /* the blocked kernel adds the product onto Y holding the bias */
        set_bias(kind, M, N, c->value, out->value);
        ag_gemm(false, false, M, N, K, a->value, K, b->value, N, 1.0, out->value, N);
    }
    return true;
}

static void linear_vjp(ag_node *out)
{
    matmul_grads(out);
    if (out->in[2]->grad)
        bias_grad(bias_kind(out), out->shape.dims[0], out->shape.dims[1], out->grad, out->in[2]->grad);
}

static void linear_jvp(ag_node *out)
{
    ag_matmul_jvp(out);
    if (out->in[2]->tangent)
        add_bias(bias_kind(out), out->shape.dims[0], out->shape.dims[1], out->in[2]->tangent,
                 out->tangent);
}

const ag_op ag_op_linear = {.name = "linear", .arity = 3, .symbol = "@",
                            .shape = linear_shape, .forward = linear_forward,
                            .vjp = linear_vjp, .jvp = linear_jvp};

ag_node *ag_linear(ag_node *a, ag_node *b, ag_node *bias)
{
    /* no bias: the product alone (a NULL left by a failed call has already
     * failed the graph, and matmul then returns NULL too) */
    if (!bias) return ag_matmul(a, b);
    ag_node *in[AG_MAX_INPUTS] = {a, b, bias};
    return ag_record_n(&ag_op_linear, in, 0, NULL);
}
