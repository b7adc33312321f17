/* lstm_sequence_kernels.h -- lstm_sequence.c's forward and vjp, one
 * definition stamped for each element type: lstm_sequence.c includes it
 * with `real` defined as double and SEQ(name) as name, then as float and
 * name##_f32 (so SEQ(ag_gemm) is ag_gemm_f32 there). The products run in `real`
 * (ag_gemm_f32 for float); the activations and tanh(c_t) are computed in
 * double from the pre-activations and kept in the aux in double, as are
 * the carried dc; the values and gradients stored (c_t, h_t, dA, dh, the
 * inputs' gradients) are rounded to `real` once. For double nothing is
 * rounded: the float64 op as it was before there were two types. */


/* ---- forward ----------------------------------------------------------------------- */

/* One step's pointwise half, rows n of the batch: from the pre-activations
 * a [N,4H] and c_{t-1} [N,H], the activations act [N,4H], c_t, tanh(c_t)
 * and h_t (compiled per instruction set: ISA_COPIES). */
static inline __attribute__((always_inline)) void SEQ(step_rows_body)(size_t N, size_t H, const real *a,
                                                                      const real *c_prev, double *act, real *c,
                                                                      double *tanh_c, real *h)
{
    for (size_t n = 0; n < N; n++) {
        const real *an = a + n * 4 * H, *cp = c_prev + n * H;
        double *i = act + n * 4 * H, *f = i + H, *g = f + H, *o = g + H;
        real *cn = c + n * H, *hn = h + n * H;
        double *tn = tanh_c + n * H;
        SEQ(lstm_sigmoid_row)(an, 2 * H, i); /* i and f are adjacent */
        SEQ(lstm_tanh_row)(an + 2 * H, H, g);
        SEQ(lstm_sigmoid_row)(an + 3 * H, H, o);
        for (size_t j = 0; j < H; j++) cn[j] = (real)(f[j] * cp[j] + i[j] * g[j]);
        SEQ(lstm_tanh_row)(cn, H, tn);
        for (size_t j = 0; j < H; j++) hn[j] = (real)(o[j] * tn[j]);
    }
}

typedef void SEQ(step_rows_fn)(size_t N, size_t H, const real *a, const real *c_prev, double *act, real *c,
                               double *tanh_c, real *h);
ISA_COPIES_OF(SEQ(step_rows), SEQ(step_rows_choice), SEQ(step_rows_fn), SEQ(step_rows_body),
              (size_t N, size_t H, const real *a, const real *c_prev, double *act, real *c, double *tanh_c,
               real *h),
              (N, H, a, c_prev, act, c, tanh_c, h))

/* what each thread of a pass reads: the node, its views and W packed */
typedef struct SEQ(seq_job) {
    ag_node *out;
    seq_view v;
    seq_aux aux;
    SEQ(ag_gemm_packed) w; /* forward: op(B) = W^T [H,4H]; backward: W [4H,H] */
} SEQ(seq_job);

/* Y[which, t] ([N,H]) of a [2,T,N,H] buffer of `real` */
static inline real *SEQ(state_of)(double *y, const seq_view *v, int which, size_t t)
{
    return (real *)(void *)y + ((size_t)which * v->T + t) * v->N * v->H;
}

/* Every step for rows [lo, hi) of the batch (r = hi - lo of them); ctx is the seq_job. */
static void SEQ(forward_band)(void *ctx, size_t lo, size_t hi)
{
    const SEQ(seq_job) *job = ctx;
    const seq_view *v = &job->v;
    const seq_aux *aux = &job->aux;
    ag_node *out = job->out;
    SEQ(step_rows_fn) *rows = SEQ(step_rows_choice)();
    const real *X = (const real *)(const void *)out->inputs[IN_X]->value;
    real *scratch = (real *)(void *)aux->scratch;
    size_t gates = v->N * 4 * v->H, state = v->N * v->H, r = hi - lo;
    size_t g0 = lo * 4 * v->H, s0 = lo * v->H; /* the band's first element in a gates or state row block */
    for (size_t t = 0; t < v->T; t++) {
        const real *h_prev = t ? SEQ(state_of)(out->value, v, 0, t - 1)
                               : (const real *)(const void *)out->inputs[IN_H0]->value;
        const real *c_prev = t ? SEQ(state_of)(out->value, v, 1, t - 1)
                               : (const real *)(const void *)out->inputs[IN_C0]->value;
        /* a = X[t] + h_{t-1} W^T   ([r,H] @ [H,4H]) */
        memcpy(scratch + g0, X + t * gates + g0, r * 4 * v->H * sizeof(real));
        SEQ(ag_gemm_packed_b)(false, (int)r, h_prev + s0, (int)v->H, &job->w, 1, scratch + g0, 4 * (int)v->H);
        rows(r, v->H, scratch + g0, c_prev + s0, aux->act + t * gates + g0, SEQ(state_of)(out->value, v, 1, t) + s0,
             aux->tanh_c + t * state + s0, SEQ(state_of)(out->value, v, 0, t) + s0);
    }
}

static bool SEQ(sequence_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    SEQ(seq_job) job = {.out = out, .v = seq_view_of(out), .aux = seq_aux_of(out)};
    int H = (int)job.v.H;
    SEQ(ag_gemm_pack_b)(true, H, 4 * H, (const real *)(const void *)out->inputs[IN_W]->value, H,
               (real *)(void *)job.aux.packed_wt, &job.w);
    ag_parallel_bands(sequence_threads(&job.v), job.v.N, BAND_ROWS, SEQ(forward_band), &job);
    return true;
}

/* ---- vjp: backpropagation through time ---------------------------------------------- */

/* Step t's da_t into dA[t] from gY, the carries dh, dc (updated: dc becomes
 * dc_t f; dh is left for the product that replaces it) and c_{t-1}. */
static inline __attribute__((always_inline)) void
    SEQ(step_grad_rows_body)(const seq_view *v, const double *restrict act, const double *restrict tanh_c,
                             const real *restrict c_prev, const real *restrict gy_h, const real *restrict gy_c,
                             const real *restrict dh, double *restrict dc, real *restrict da)
{
    size_t H = v->H;
    for (size_t n = 0; n < v->N; n++) {
        const double *i = act + n * 4 * H, *f = i + H, *g = f + H, *o = g + H;
        const double *tn = tanh_c + n * H;
        const real *cp = c_prev + n * H, *gh = gy_h + n * H, *gc = gy_c + n * H, *dhn = dh + n * H;
        double *dcn = dc + n * H;
        real *da_i = da + n * 4 * H, *da_f = da_i + H, *da_g = da_f + H, *da_o = da_g + H;
        for (size_t j = 0; j < H; j++) {
            double dh_t = (double)gh[j] + dhn[j];
            double dc_t = gc[j] + dcn[j] + dh_t * o[j] * (1.0 - tn[j] * tn[j]);
            da_o[j] = (real)(dh_t * tn[j] * (o[j] * (1.0 - o[j])));
            da_i[j] = (real)(dc_t * g[j] * (i[j] * (1.0 - i[j])));
            da_f[j] = (real)(dc_t * cp[j] * (f[j] * (1.0 - f[j])));
            da_g[j] = (real)(dc_t * i[j] * (1.0 - g[j] * g[j]));
            dcn[j] = dc_t * f[j];
        }
    }
}

typedef void SEQ(step_grad_rows_fn)(const seq_view *v, const double *act, const double *tanh_c, const real *c_prev,
                                    const real *gy_h, const real *gy_c, const real *dh, double *dc, real *da);
ISA_COPIES_OF(SEQ(step_grad_rows), SEQ(step_grad_rows_choice), SEQ(step_grad_rows_fn), SEQ(step_grad_rows_body),
              (const seq_view *v, const double *act, const double *tanh_c, const real *c_prev, const real *gy_h,
               const real *gy_c, const real *dh, double *dc, real *da),
              (v, act, tanh_c, c_prev, gy_h, gy_c, dh, dc, da))

/* The loop over steps, from T-1 down, for rows [lo, hi) of the batch: dA's
 * rows and the carries dh, dc of those rows; ctx is the seq_job. */
static void SEQ(backward_band)(void *ctx, size_t lo, size_t hi)
{
    const SEQ(seq_job) *job = ctx;
    const seq_view *v = &job->v;
    const seq_aux *aux = &job->aux;
    ag_node *out = job->out;
    SEQ(step_grad_rows_fn) *grad_rows = SEQ(step_grad_rows_choice)();
    bool h0_takes = out->inputs[IN_H0]->grad != NULL;
    real *dh = (real *)(void *)aux->dh, *dA = (real *)(void *)aux->dA;
    size_t gates = v->N * 4 * v->H, state = v->N * v->H;
    size_t g0 = lo * 4 * v->H, s0 = lo * v->H;
    seq_view band = {v->T, hi - lo, v->H};
    memset(dh + s0, 0, band.N * v->H * sizeof(real));
    memset(aux->dc + s0, 0, band.N * v->H * sizeof(double));
    for (size_t s = v->T; s-- > 0;) {
        const real *c_prev = s ? SEQ(state_of)(out->value, v, 1, s - 1)
                               : (const real *)(const void *)out->inputs[IN_C0]->value;
        real *da = dA + s * gates + g0;
        grad_rows(&band, aux->act + s * gates + g0, aux->tanh_c + s * state + s0, c_prev + s0,
                  SEQ(state_of)(out->grad, v, 0, s) + s0, SEQ(state_of)(out->grad, v, 1, s) + s0, dh + s0,
                  aux->dc + s0, da);
        /* dh = da_t W   ([r,4H] @ [4H,H]); not needed past step 0 unless h0 takes it */
        if (s || h0_takes)
            SEQ(ag_gemm_packed_b)(false, (int)band.N, da, 4 * (int)v->H, &job->w, 0, dh + s0, (int)v->H);
    }
}

static void SEQ(sequence_vjp)(ag_node *out)
{
    SEQ(seq_job) job = {.out = out, .v = seq_view_of(out), .aux = seq_aux_of(out)};
    const seq_view *v = &job.v;
    const seq_aux *aux = &job.aux;
    ag_node *x = out->inputs[IN_X], *w = out->inputs[IN_W], *h0 = out->inputs[IN_H0], *c0 = out->inputs[IN_C0];
    int N = (int)v->N, H = (int)v->H, T = (int)v->T;
    size_t gates = v->N * 4 * v->H, state = v->N * v->H;
    const real *dh = (const real *)(const void *)aux->dh, *dA = (const real *)(const void *)aux->dA;
    SEQ(ag_gemm_pack_b)(false, 4 * H, H, (const real *)(const void *)w->value, H, (real *)(void *)aux->packed_w, &job.w);
    ag_parallel_bands(sequence_threads(v), v->N, BAND_ROWS, SEQ(backward_band), &job);
    real *gh0 = (real *)(void *)h0->grad, *gc0 = (real *)(void *)c0->grad, *gx = (real *)(void *)x->grad;
    if (gh0)
        for (size_t k = 0; k < state; k++) gh0[k] += dh[k];
    if (gc0)
        for (size_t k = 0; k < state; k++) gc0[k] += (real)aux->dc[k];
    if (gx)
        for (size_t k = 0; k < v->T * gates; k++) gx[k] += dA[k];
    if (w->grad) {
        /* gW [4H,H] += dA^T Hprev: step 0's rows against h0, then steps 1 .. T-1
         * against h_0 .. h_{T-2}, which Y[0] holds one after the other */
        real *gw = (real *)(void *)w->grad;
        SEQ(ag_gemm)(true, false, 4 * H, H, N, dA, 4 * H, (const real *)(const void *)h0->value, H, 1, gw, H);
        if (T > 1)
            SEQ(ag_gemm)(true, false, 4 * H, H, (T - 1) * N, dA + gates, 4 * H, (const real *)(const void *)out->value,
                     H, 1, gw, H);
    }
}
