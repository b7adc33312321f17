/* product_bias_typed.h -- the bias passes of product_bias.c in one element
 * type, `real`, with exported names AG_TYPED(ag_bias_set) and the like:
 * included by product_bias.c (double) and product_bias_f32.c (float). */

typedef struct bias_pass {
    const bias_view *v;
    const real *from;
    real *to;
} bias_pass;

/* y = y + c (add) or c, elements [lo, hi) of a flat bias */
static ALWAYS_INLINE void bias_add_flat(const real *c, real *restrict y, bool add, size_t lo,
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
    real *restrict y = job->to + r0 * (size_t)v->N;
    for (size_t i = r0; i < r1; i++, y += v->N) {
        const real *ci = job->from + i * v->rs;
        if (v->cs) /* a row of the bias: contiguous (at -O2 a copy loop stays scalar) */
            memcpy(y, ci, (size_t)v->N * sizeof *y);
        else /* one bias value for the whole row */
            for (int j = 0; j < v->N; j++) y[j] = ci[0];
    }
}

/* y[M,N] = the bias c along its broadcast (the blocked kernel then adds the
 * product onto it) */
void AG_TYPED(ag_bias_set)(const bias_view *v, const real *c, real *y)
{
    bias_pass job = {v, c, y};
    if (v->flat)
        AG_PARALLEL_RANGE((size_t)v->M * v->N, 1, bias_set_flat_range, &job);
    else
        AG_PARALLEL_RANGE((size_t)v->M, (size_t)v->N, bias_set_rows_range, &job);
}

/* y[M,N] += the bias c along its broadcast, on one thread (a small
 * product's bias, and the tangent's in the jvp) */
void AG_TYPED(ag_bias_add)(const bias_view *v, const real *c, real *restrict y)
{
    if (v->flat) {
        bias_add_flat(c, y, true, 0, (size_t)v->M * v->N);
        return;
    }
    for (int i = 0; i < v->M; i++, y += v->N) {
        const real *ci = c + (size_t)i * v->rs;
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
    const real *dy = job->from;
    real *restrict dc = job->to;
    for (size_t k = lo; k < hi; k++) dc[k] += dy[k];
}

/* a row bias: dc[j] += sum_i dy[i,j] top to bottom, for the columns of
 * blocks [lo, hi); a whole block's 8 sums stay in registers down the rows
 * (a loop of a constant 8 vectorises at -O2) */
static void bias_grad_columns_range(void *ctx, size_t lo, size_t hi)
{
    const bias_pass *job = ctx;
    size_t N = (size_t)job->v->N, M = (size_t)job->v->M;
    real *restrict dc = job->to;
    for (size_t block = lo; block < hi; block++) {
        size_t j0 = block * BIAS_COLUMN_BLOCK;
        const real *dy = job->from + j0;
        if (j0 + BIAS_COLUMN_BLOCK > N) { /* the last, partial block */
            for (size_t i = 0; i < M; i++, dy += N)
                for (size_t j = 0; j < N - j0; j++) dc[j0 + j] += dy[j];
            continue;
        }
        real sum[BIAS_COLUMN_BLOCK];
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
    real *dc = job->to;
    for (size_t i = lo; i < hi; i++) {
        const real *dy = job->from + i * N;
        real *ci = dc + i * job->v->rs, s = ci[0];
        for (size_t j = 0; j < N; j++) s += dy[j];
        ci[0] = s;
    }
}

/* dc += dy[M,N] summed over the bias's broadcast dimensions, in row order */
void AG_TYPED(ag_bias_grad)(const bias_view *v, const real *dy, real *dc)
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
