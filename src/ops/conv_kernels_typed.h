/* conv_kernels_typed.h -- im2col, col2im and the per-sample products of a
 * convolution pass in one element type, `real`: included by conv_kernels.c
 * (real = double, GEMM = ag_gemm) and conv_kernels_f32.c (real = float,
 * GEMM = ag_gemm_f32), which define AG_TYPED (the exported names: conv_run,
 * conv_run_f32; the pass: conv_pass, conv_pass_f32). See conv.h for the
 * math and the layout of col. The scratch is the node's aux, counted in
 * doubles (conv_aux_doubles); a float pass lays the same element counts
 * over it, so it uses half of it. */
#include "../kernels/parallel.h"

#include <string.h>

/* Passes of fewer multiply-adds run their samples on the caller (ag_gemm
 * may still split each product): waking the workers costs microseconds. */
#define CONV_PARALLEL_MIN ((size_t)1 << 17)

static inline size_t col_rows(const conv_geometry *g) { return (size_t)g->C * g->kh * g->kw; }
static inline size_t positions(const conv_geometry *g) { return (size_t)g->Ho * g->Wo; }

/* The threads a pass over the batch uses: one per sample at most (the same
 * count in both types, so one aux size serves both). */
static inline int conv_threads(const conv_geometry *g)
{
    size_t work = (size_t)g->N * g->O * col_rows(g) * positions(g);
    if (g->N < 2 || work < CONV_PARALLEL_MIN) return 1;
    int t = ag_parallel_threads();
    return t < g->N ? t : g->N;
}

/* per thread, in elements: col [C kh kw, H'W'], then partial sums of the
 * weight's gradient [O, C kh kw] and of the bias's [O] */
static inline size_t block_elements(const conv_geometry *g)
{
    return col_rows(g) * positions(g) + (size_t)g->O * col_rows(g) + (size_t)g->O;
}

/* The output columns j < out_len whose input column j*stride + offset lies
 * in [0, len): [*lo, *hi) (offset = v - pad, kernel column v). */
static inline void inside_range(int len, int out_len, int stride, int offset, int *lo, int *hi)
{
    int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;   /* j s + offset >= 0 */
    int last = len - 1 - offset < 0 ? -1 : (len - 1 - offset) / stride; /* j s + offset <= len-1 */
    *lo = first < out_len ? first : out_len;
    *hi = last + 1 < *lo ? *lo : last + 1 < out_len ? last + 1 : out_len;
}

/* col[(c kh + u) kw + v, i W' + j] = x_pad[c, i s + u, j s + v] for one sample x [C,H,W] */
static void im2col(const conv_geometry *g, const real *x, real *restrict col)
{
    size_t P = positions(g);
    for (int c = 0; c < g->C; c++)
        for (int u = 0; u < g->kh; u++)
            for (int v = 0; v < g->kw; v++, col += P) {
                int lo, hi;
                inside_range(g->W, g->Wo, g->stride_w, v - g->pad_w, &lo, &hi);
                for (int i = 0; i < g->Ho; i++) {
                    real *r = col + (size_t)i * g->Wo;
                    int a = i * g->stride_h + u - g->pad_h;
                    if (a < 0 || a >= g->H) {
                        memset(r, 0, (size_t)g->Wo * sizeof *r);
                        continue;
                    }
                    const real *xr = x + ((size_t)c * g->H + a) * g->W;
                    int off = v - g->pad_w; /* column j reads xr[j s + off] */
                    for (int j = 0; j < lo; j++) r[j] = 0.0;
                    if (g->stride_w == 1)
                        memcpy(r + lo, xr + lo + off, (size_t)(hi - lo) * sizeof *r);
                    else
                        for (int j = lo; j < hi; j++) r[j] = xr[j * g->stride_w + off];
                    for (int j = hi; j < g->Wo; j++) r[j] = 0.0;
                }
            }
}

/* the transpose of im2col: gx[c, a, b] += col[(c kh + u) kw + v, i W' + j]
 * for every (i, j, u, v) with i s + u - p = a, j s + v - p = b inside x */
static void col2im_add(const conv_geometry *g, const real *col, real *restrict gx)
{
    size_t P = positions(g);
    for (int c = 0; c < g->C; c++)
        for (int u = 0; u < g->kh; u++)
            for (int v = 0; v < g->kw; v++, col += P) {
                int lo, hi;
                inside_range(g->W, g->Wo, g->stride_w, v - g->pad_w, &lo, &hi);
                for (int i = 0; i < g->Ho; i++) {
                    int a = i * g->stride_h + u - g->pad_h;
                    if (a < 0 || a >= g->H) continue;
                    const real *r = col + (size_t)i * g->Wo;
                    real *xr = gx + ((size_t)c * g->H + a) * g->W;
                    int off = v - g->pad_w;
                    for (int j = lo; j < hi; j++) xr[j * g->stride_w + off] += r[j];
                }
            }
}

/* y_n [O,P] += bias[o] along each row o */
static void add_bias(const real *bias, int O, int P, real *restrict yn)
{
    for (int o = 0; o < O; o++, yn += P)
        for (int p = 0; p < P; p++) yn[p] += bias[o];
}

/* b_sum[o] += sum_p y_n[o,p] */
static void sum_rows(const real *yn, int O, int P, real *restrict b_sum)
{
    for (int o = 0; o < O; o++, yn += P) {
        double s = 0.0; /* in double whatever real is: one rounding per row */
        for (int p = 0; p < P; p++) s += yn[p];
        b_sum[o] += (real)s;
    }
}

/* Samples [lo, hi) of the pass, with one col buffer; the weight's share
 * goes to w_sum (added to it when w_add, else it is overwritten first),
 * the bias's is added to b_sum. */
static void conv_samples(const conv_geometry *g, const AG_TYPED(conv_pass) *ps, int lo, int hi, real *col,
                         real *w_sum, bool w_add, real *b_sum)
{
    int CK = (int)col_rows(g), P = (int)positions(g), O = g->O;
    size_t x_step = (size_t)g->C * g->H * g->W, y_step = (size_t)O * P;
    for (int n = lo; n < hi; n++) {
        const real *yn = ps->y ? ps->y + n * y_step : NULL;
        if (ps->y_out || ps->w_out) im2col(g, ps->x + n * x_step, col);
        if (ps->y_out) { /* y_n [O,P] (+)= w [O,CK] @ col [CK,P] (+ bias) */
            GEMM(false, false, O, P, CK, ps->w, CK, col, P, ps->add_y ? 1.0 : 0.0,
                    ps->y_out + n * y_step, P);
            if (ps->bias) add_bias(ps->bias, O, P, ps->y_out + n * y_step);
        }
        if (ps->bias_out) sum_rows(yn, O, P, b_sum);
        if (ps->w_out) /* gw [O,CK] (+)= gy_n [O,P] @ col^T [P,CK] */
            GEMM(false, true, O, CK, P, yn, P, col, P, w_add || n > lo ? 1.0 : 0.0, w_sum, CK);
        if (ps->x_out) { /* col [CK,P] = w^T [CK,O] @ gy_n [O,P], then back into gx_n */
            real *xn = ps->x_out + n * x_step;
            GEMM(true, false, CK, P, O, ps->w, CK, yn, P, 0.0, col, P);
            if (!ps->add_x) memset(xn, 0, x_step * sizeof *xn);
            col2im_add(g, col, xn);
        }
    }
}

typedef struct conv_job {
    const conv_geometry *g;
    const AG_TYPED(conv_pass) *pass;
    real *aux;
    int used; /* the threads that ran (the pool may give fewer than asked) */
} conv_job;

/* thread tid's share of the batch; its weight share into its own partial */
static void conv_part(void *ctx, int tid, int nthreads)
{
    conv_job *job = ctx;
    const conv_geometry *g = job->g;
    if (tid == 0) job->used = nthreads;
    int lo = (int)((long long)g->N * tid / nthreads), hi = (int)((long long)g->N * (tid + 1) / nthreads);
    real *col = job->aux + (size_t)tid * block_elements(g);
    real *w_part = col + col_rows(g) * positions(g), *b_part = w_part + (size_t)g->O * col_rows(g);
    if (job->pass->bias_out) memset(b_part, 0, (size_t)g->O * sizeof *b_part);
    conv_samples(g, job->pass, lo, hi, col, w_part, false, b_part);
}

/* out (+)= the threads' partial sums of n doubles at `at` in each block, in thread order */
static void add_partials(const conv_geometry *g, const real *aux, int used, size_t at, size_t n,
                         real *out, bool add)
{
    for (int t = 0; t < used; t++) {
        const real *part = aux + (size_t)t * block_elements(g) + at;
        bool keep = add || t > 0;
        for (size_t k = 0; k < n; k++) out[k] = (keep ? out[k] : 0.0) + part[k];
    }
}

void AG_TYPED(conv_run)(const conv_geometry *g, const AG_TYPED(conv_pass) *pass, double *aux_doubles)
{
    real *aux = (real *)(void *)aux_doubles; /* conv_aux_doubles(g) doubles hold as many reals */
    size_t w_size = (size_t)g->O * col_rows(g);
    if (g->N == 0) { /* no samples: the weight's sum is empty */
        if (pass->w_out && !pass->add_w) memset(pass->w_out, 0, w_size * sizeof(real));
        return;
    }
    int threads = conv_threads(g);
    if (threads < 2) {
        conv_samples(g, pass, 0, g->N, aux, pass->w_out, pass->add_w, pass->bias_out);
        return;
    }
    conv_job job = {g, pass, aux, 1};
    ag_parallel_run(threads, conv_part, &job);
    /* the partial sums in thread order: the same bits for the same thread count */
    size_t col_size = col_rows(g) * positions(g);
    if (pass->w_out) add_partials(g, aux, job.used, col_size, w_size, pass->w_out, pass->add_w);
    if (pass->bias_out)
        add_partials(g, aux, job.used, col_size + w_size, (size_t)g->O, pass->bias_out, true);
}
