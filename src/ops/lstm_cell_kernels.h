/* lstm_cell_kernels.h -- lstm.c's row loops, one definition stamped for
 * each element type: lstm.c includes it with `real` defined as double and
 * CELL(name) as name, then as float and name##_f32. The activations are
 * computed in double from the gates (lstm_math.h) and kept in the aux in
 * double whatever the type; each stored value and gradient is rounded to
 * `real` once (for double: not at all, the float64 loops unchanged). */


/* row n's gate k of a [N, 4H]: a + n 4H + k H */
static inline const real *CELL(gate_at)(const double *a, const lstm_view *v, size_t n, int k)
{
    return (const real *)(const void *)a + n * 4 * v->H + (size_t)k * v->H;
}
static inline real *CELL(gate_at_mut)(double *a, const lstm_view *v, size_t n, int k)
{
    return (real *)(void *)a + n * 4 * v->H + (size_t)k * v->H;
}

/* ---- lstm_state: c' = f c + i g ------------------------------------------------------ */

/* rows [lo, hi): i, f, g into aux (row n: i[H], f[H], g[H]), then c' */
static inline __attribute__((always_inline)) void CELL(state_rows_body)(void *ctx, size_t lo, size_t hi)
{
    const lstm_job *job = ctx;
    const ag_node *out = job->out;
    const lstm_view *v = &job->v;
    size_t H = v->H;
    for (size_t n = lo; n < hi; n++) {
        const double *a = out->in[0]->value;
        const real *c = (const real *)(const void *)out->in[1]->value + n * H;
        double *i = out->aux + n * 3 * H, *f = i + H, *g = f + H;
        real *y = (real *)(void *)out->value + n * H;
        CELL(lstm_sigmoid_row)(CELL(gate_at)(a, v, n, GATE_I), H, i);
        CELL(lstm_sigmoid_row)(CELL(gate_at)(a, v, n, GATE_F), H, f);
        CELL(lstm_tanh_row)(CELL(gate_at)(a, v, n, GATE_G), H, g);
        for (size_t j = 0; j < H; j++) y[j] = (real)(f[j] * c[j] + i[j] * g[j]);
    }
}

/* rows [lo, hi) of  ga_i += gc' g i (1 - i), ga_f += gc' c f (1 - f),
 * ga_g += gc' i (1 - g^2), gc += gc' f */
static void CELL(state_grad_rows)(void *ctx, size_t lo, size_t hi)
{
    const lstm_job *job = ctx;
    const ag_node *out = job->out;
    const lstm_view *v = &job->v;
    size_t H = v->H;
    double *ga = out->in[0]->grad;
    real *gc = (real *)(void *)out->in[1]->grad;
    for (size_t n = lo; n < hi; n++) {
        const double *i = out->aux + n * 3 * H, *f = i + H, *g = f + H;
        const real *gy = (const real *)(const void *)out->grad + n * H;
        const real *c = (const real *)(const void *)out->in[1]->value + n * H;
        if (ga) {
            real *ga_i = CELL(gate_at_mut)(ga, v, n, GATE_I), *ga_f = CELL(gate_at_mut)(ga, v, n, GATE_F);
            real *ga_g = CELL(gate_at_mut)(ga, v, n, GATE_G);
            for (size_t j = 0; j < H; j++) {
                ga_i[j] += (real)(gy[j] * g[j] * (i[j] * (1.0 - i[j])));
                ga_f[j] += (real)(gy[j] * c[j] * (f[j] * (1.0 - f[j])));
                ga_g[j] += (real)(gy[j] * i[j] * (1.0 - g[j] * g[j]));
            }
        }
        if (gc)
            for (size_t j = 0; j < H; j++) gc[n * H + j] += (real)(gy[j] * f[j]);
    }
}

/* ---- lstm_output: h' = o tanh(c') ------------------------------------------------------ */

/* rows [lo, hi): o and t = tanh c' into aux (row n: o[H], t[H]), then h' */
static inline __attribute__((always_inline)) void CELL(output_rows_body)(void *ctx, size_t lo, size_t hi)
{
    const lstm_job *job = ctx;
    const ag_node *out = job->out;
    const lstm_view *v = &job->v;
    size_t H = v->H;
    for (size_t n = lo; n < hi; n++) {
        double *o = out->aux + n * 2 * H, *t = o + H;
        real *y = (real *)(void *)out->value + n * H;
        CELL(lstm_sigmoid_row)(CELL(gate_at)(out->in[0]->value, v, n, GATE_O), H, o);
        CELL(lstm_tanh_row)((const real *)(const void *)out->in[1]->value + n * H, H, t);
        for (size_t j = 0; j < H; j++) y[j] = (real)(o[j] * t[j]);
    }
}

/* rows [lo, hi) of  ga_o += gh' t o (1 - o),  gc' += gh' o (1 - t^2) */
static void CELL(output_grad_rows)(void *ctx, size_t lo, size_t hi)
{
    const lstm_job *job = ctx;
    const ag_node *out = job->out;
    const lstm_view *v = &job->v;
    size_t H = v->H;
    double *ga = out->in[0]->grad;
    real *gc = (real *)(void *)out->in[1]->grad;
    for (size_t n = lo; n < hi; n++) {
        const double *o = out->aux + n * 2 * H, *t = o + H;
        const real *gy = (const real *)(const void *)out->grad + n * H;
        if (ga) {
            real *ga_o = CELL(gate_at_mut)(ga, v, n, GATE_O);
            for (size_t j = 0; j < H; j++) ga_o[j] += (real)(gy[j] * t[j] * (o[j] * (1.0 - o[j])));
        }
        if (gc)
            for (size_t j = 0; j < H; j++) gc[n * H + j] += (real)(gy[j] * o[j] * (1.0 - t[j] * t[j]));
    }
}
