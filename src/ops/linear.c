/* linear.c -- the dense layer's op, fused: Y[M,N] = A[M,K] @ B[K,N] + bias.
 * One node instead of a matmul and an add: one pass fewer over Y, no
 * intermediate product to keep or to zero, one op fewer to dispatch.
 * The bias c is added along its broadcast, element (i, j) of it being
 * c[i*rs + j*cs] (linear_params holds which broadcast; the strides follow; a bias of
 * Y's size is read straight):
 *   same    [M,N]            (flat)       dc[i,j] += dY[i,j]
 *   row     [N] or [1,N]     rs 0, cs 1   dc[j]   += sum_i dY[i,j]
 *   column  [M,1]            rs 1, cs 0   dc[i]   += sum_j dY[i,j]
 *   scalar  [], [1], [1,1]   rs 0, cs 0   dc      += sum dY
 *   vjp  dA += dY @ B^T, dB += A^T @ dY (matmul_grads)
 *   jvp  tY = tA @ B + A @ tB + broadcast(tc)                             */
#include "matmul_kernels.h"

#include <stdio.h>
#include <string.h>

enum bias_kind { BIAS_SAME, BIAS_ROW, BIAS_COLUMN, BIAS_SCALAR };

/* set by the shape rule */
typedef struct linear_params {
    enum bias_kind bias;
} linear_params;

/* How the bias lies over Y [M,N]: element (i, j) is c[i*rs + j*cs]; flat
 * when it has Y's size, and so Y's layout (same shape, a column when N = 1,
 * a row when M = 1, one value for a 1x1 Y). */
typedef struct bias_view {
    int M, N;
    size_t rs, cs;
    bool flat;
} bias_view;

static bias_view bias_of(const ag_node *out)
{
    /* by kind (same, row, column, scalar); a same-shape bias is always flat,
     * and a flat bias is read straight, so its strides are never used */
    static const unsigned char row_step[] = {0, 0, 1, 0}, col_step[] = {1, 1, 0, 0};
    int kind = (int)AG_PARAMS(out, const linear_params)->bias;
    return (bias_view){.M = out->shape.dims[0], .N = out->shape.dims[1],
                       .rs = row_step[kind], .cs = col_step[kind],
                       .flat = out->in[2]->shape.size == out->shape.size};
}

static int linear_print_params(const ag_node *out, char *buf, size_t len)
{
    static const char *const kinds[] = {"same", "row", "column", "scalar"};
    return snprintf(buf, len, "bias=%s", kinds[AG_PARAMS(out, const linear_params)->bias]);
}

static bool linear_shape(ag_node *out, char *why, size_t len)
{
    if (!ag_matmul_shape(out, why, len)) return false;
    int M = out->shape.dims[0], N = out->shape.dims[1];
    const ag_shape *c = &out->in[2]->shape;
    linear_params *p = out->params;
    if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == N)
        p->bias = BIAS_SAME;
    else if ((c->ndim == 1 && c->dims[0] == N) || (c->ndim == 2 && c->dims[0] == 1 && c->dims[1] == N))
        p->bias = BIAS_ROW;
    else if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == 1)
        p->bias = BIAS_COLUMN;
    else if (c->size == 1) /* a scalar, [1] or [1,1]: added everywhere, as ag_add would */
        p->bias = BIAS_SCALAR;
    else {
        snprintf(why, len, "the bias must be [%d,%d], [%d] or [1,%d] (a row), [%d,1] (a column) "
                           "or one value for the [%d,%d] product", M, N, N, N, M, M, N);
        return false;
    }
    return true;
}

/* One pass between Y [M,N] and the bias, split over the kernel threads when
 * large (AG_PARALLEL_RANGE): each piece is a range of Y's elements (flat
 * bias), of its rows, or of its columns (a row bias summing dY down them).
 * set_bias's range functions are inlined where called directly, and
 * bias_grad adds a tiny flat bias's gradient before any job is built, so a
 * tiny layer (TestNet's) pays neither a call nor a store. */
typedef struct bias_pass {
    const bias_view *v;
    const double *from;
    double *to;
} bias_pass;

/* y = y + c (add) or c, elements [lo, hi) of a flat bias */
static ALWAYS_INLINE void bias_add_flat(const double *c, double *restrict y, bool add, size_t lo,
                                        size_t hi)
{
    for (size_t k = lo; k < hi; k++) y[k] = add ? y[k] + c[k] : c[k];
}

static ALWAYS_INLINE void bias_set_flat_range(void *ctx, size_t lo, size_t hi)
{
    const bias_pass *job = ctx;
    bias_add_flat(job->from, job->to, false, lo, hi);
}

/* y = c along its broadcast, rows [r0, r1) of Y */
static ALWAYS_INLINE void bias_set_rows_range(void *ctx, size_t r0, size_t r1)
{
    const bias_pass *job = ctx;
    const bias_view *v = job->v;
    double *restrict y = job->to + r0 * (size_t)v->N;
    for (size_t i = r0; i < r1; i++, y += v->N) {
        const double *ci = job->from + i * v->rs;
        if (v->cs) /* a row of the bias: contiguous (at -O2 a copy loop stays scalar) */
            memcpy(y, ci, (size_t)v->N * sizeof *y);
        else /* one bias value for the whole row */
            for (int j = 0; j < v->N; j++) y[j] = ci[0];
    }
}

/* y[M,N] = the bias c along its broadcast (the blocked kernel then adds the
 * product onto it) */
static void set_bias(const bias_view *v, const double *c, double *y)
{
    bias_pass job = {v, c, y};
    if (v->flat)
        AG_PARALLEL_RANGE((size_t)v->M * v->N, 1, bias_set_flat_range, &job);
    else
        AG_PARALLEL_RANGE((size_t)v->M, (size_t)v->N, bias_set_rows_range, &job);
}

/* y[M,N] += the bias c along its broadcast, on one thread (a small
 * product's bias, and the tangent's in linear_jvp) */
static void add_bias(const bias_view *v, const double *c, double *restrict y)
{
    if (v->flat) {
        bias_add_flat(c, y, true, 0, (size_t)v->M * v->N);
        return;
    }
    for (int i = 0; i < v->M; i++, y += v->N) {
        const double *ci = c + (size_t)i * v->rs;
        for (int j = 0; j < v->N; j++) y[j] += ci[j * v->cs];
    }
}

/* Columns of a row bias's gradient go to the threads in blocks of 8 (a
 * cache line's worth of dc each): whole vectors per thread, and little
 * sharing of lines between threads. */
#define BIAS_COLUMN_BLOCK 8

/* dc[k] += dy[k], elements [lo, hi) (a flat bias) */
static void bias_grad_flat_range(void *ctx, size_t lo, size_t hi)
{
    const bias_pass *job = ctx;
    const double *dy = job->from;
    double *restrict dc = job->to;
    for (size_t k = lo; k < hi; k++) dc[k] += dy[k];
}

/* a row bias: dc[j] += sum_i dy[i,j] top to bottom, for the columns of
 * blocks [lo, hi); a whole block's 8 sums stay in registers down the rows
 * (a loop of a constant 8 vectorises at -O2) */
static void bias_grad_columns_range(void *ctx, size_t lo, size_t hi)
{
    const bias_pass *job = ctx;
    size_t N = (size_t)job->v->N, M = (size_t)job->v->M;
    double *restrict dc = job->to;
    for (size_t block = lo; block < hi; block++) {
        size_t j0 = block * BIAS_COLUMN_BLOCK;
        const double *dy = job->from + j0;
        if (j0 + BIAS_COLUMN_BLOCK > N) { /* the last, partial block */
            for (size_t i = 0; i < M; i++, dy += N)
                for (size_t j = 0; j < N - j0; j++) dc[j0 + j] += dy[j];
            continue;
        }
        double sum[BIAS_COLUMN_BLOCK];
        for (int j = 0; j < BIAS_COLUMN_BLOCK; j++) sum[j] = dc[j0 + j];
        for (size_t i = 0; i < M; i++, dy += N) {
            AG_UNROLL(8)
            for (int j = 0; j < BIAS_COLUMN_BLOCK; j++) sum[j] += dy[j];
        }
        for (int j = 0; j < BIAS_COLUMN_BLOCK; j++) dc[j0 + j] = sum[j];
    }
}

/* a column bias (rs 1) or, over all rows, a scalar (rs 0): each row of dy
 * summed into its bias value, rows [lo, hi) */
static void bias_grad_rows_range(void *ctx, size_t lo, size_t hi)
{
    const bias_pass *job = ctx;
    size_t N = (size_t)job->v->N;
    double *dc = job->to;
    for (size_t i = lo; i < hi; i++) {
        const double *dy = job->from + i * N;
        double *ci = dc + i * job->v->rs, s = ci[0];
        for (size_t j = 0; j < N; j++) s += dy[j];
        ci[0] = s;
    }
}

/* dc += dy[M,N] summed over the bias's broadcast dimensions, in row order */
static void bias_grad(const bias_view *v, const double *dy, double *dc)
{
    size_t M = (size_t)v->M, N = (size_t)v->N;
    if (v->flat && M * N < AG_PARALLEL_RANGE_MIN) { /* a tiny layer: no job in memory */
        for (size_t k = 0; k < M * N; k++) dc[k] += dy[k];
        return;
    }
    bias_pass job = {v, dy, dc};
    if (v->flat)
        ag_parallel_range_split(M * N, 1, bias_grad_flat_range, &job);
    else if (v->cs) /* a row bias: by blocks of columns */
        AG_PARALLEL_RANGE((N + BIAS_COLUMN_BLOCK - 1) / BIAS_COLUMN_BLOCK, M * BIAS_COLUMN_BLOCK,
                          bias_grad_columns_range, &job);
    else if (v->rs) /* a column bias: by rows */
        AG_PARALLEL_RANGE(M, N, bias_grad_rows_range, &job);
    else /* a scalar: one sum, on one thread */
        bias_grad_rows_range(&job, 0, M);
}

static bool linear_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    bias_view v = bias_of(out);
    const ag_node *a = out->in[0], *b = out->in[1], *c = out->in[2];
    int K = a->shape.dims[1];
    if (is_small(v.M, v.N, K)) {
        /* a flat bias starts each sum, as a hand-written layer does */
        small_product(v.M, v.N, K, a->value, b->value, v.flat ? c->value : NULL, out->value);
        if (!v.flat) add_bias(&v, c->value, out->value);
    } else { /* the blocked kernel adds the product onto Y holding the bias */
        set_bias(&v, c->value, out->value);
        ag_gemm(false, false, v.M, v.N, K, a->value, K, b->value, v.N, 1.0, out->value, v.N);
    }
    return true;
}

static void linear_vjp(ag_node *out)
{
    matmul_grads(out);
    if (out->in[2]->grad) {
        bias_view v = bias_of(out);
        bias_grad(&v, out->grad, out->in[2]->grad);
    }
}

static void linear_jvp(ag_node *out)
{
    ag_matmul_jvp(out);
    if (out->in[2]->tangent) {
        bias_view v = bias_of(out);
        add_bias(&v, out->in[2]->tangent, out->tangent);
    }
}

/* a matrix times a short vector with a bias of M values (a column [M,1], or
 * [M] or [1,M] when M = 1, all read straight): TestNet's layers */
MATVEC_KERNEL_TABLE(linear_matvec_kernels, linear_matvec, true)

static const ag_kernels *linear_specialize(const ag_node *out)
{
    int M = out->shape.dims[0], N = out->shape.dims[1], K = out->in[0]->shape.dims[1];
    if (takes_matvec_variant(M, N, K) && out->in[2]->shape.size == (size_t)M)
        return &linear_matvec_kernels[K - 1];
    return NULL;
}

const ag_op ag_op_linear = {.name = "linear", .arity = 3, .symbol = "@",
                            .params_size = sizeof(linear_params), .print_params = linear_print_params,
                            .shape = linear_shape,
                            .specialize = linear_specialize, .forward = linear_forward,
                            .vjp = linear_vjp, .jvp = linear_jvp};

ag_node *ag_linear(ag_node *a, ag_node *b, ag_node *bias)
{
    /* no bias: the product alone (a NULL left by a failed call has already
     * failed the graph, and matmul then returns NULL too) */
    if (!bias) return ag_matmul(a, b);
    ag_node *in[3] = {a, b, bias};
    return ag_record(&ag_op_linear, 3, in, NULL, NULL);
}
