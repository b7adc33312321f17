/* norm_kernels.h -- norm.c's forward and vjp kernels, one definition stamped
 * for each element type: norm.c includes it with `real` defined as double
 * and NORM(name) as name, then as float and name##_f32. Whatever the type,
 * the statistics (sums, mean, inv, kept in the aux) and every value are
 * formed in double and rounded to `real` once when stored, as PyTorch's CPU
 * kernels accumulate float32 in double; for double the rounding is none, so
 * the float64 kernels are the ones written before there were two types. */


/* Adds sum (x - k) and sum (x - k)^2 over x[0 .. n) to *s1, *s2. */
static inline void NORM(shifted_sums)(const real *x, size_t n, double k, double *s1, double *s2)
{
    double a = 0.0, b = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - k;
        a += d;
        b += d * d;
    }
    *s1 += a;
    *s2 += b;
}

/* ---- layer_norm: x [R, D], gamma, beta [D] ------------------------------------------ */

/* rows [lo, hi): aux = (mean, inv), y = gamma xhat + beta */
static void NORM(layer_norm_rows)(void *ctx, size_t lo, size_t hi)
{
    const layer_norm_job *job = ctx;
    const ag_node *out = job->out;
    size_t D = job->v.d;
    double eps = AG_PARAMS(out, const ag_layer_norm_params)->eps;
    const real *gamma = (const real *)(const void *)out->in[1]->value;
    const real *beta = (const real *)(const void *)out->in[2]->value;
    for (size_t r = lo; r < hi; r++) {
        const real *x = (const real *)(const void *)out->in[0]->value + r * D;
        real *y = (real *)(void *)out->value + r * D;
        double s1 = 0.0, s2 = 0.0, mean, var, k = (double)x[0];
        NORM(shifted_sums)(x, D, k, &s1, &s2);
        moments(k, s1, s2, (double)D, &mean, &var);
        double inv = 1.0 / sqrt(var + eps);
        out->aux[2 * r] = mean, out->aux[2 * r + 1] = inv;
        for (size_t j = 0; j < D; j++) y[j] = (real)((double)gamma[j] * (((double)x[j] - mean) * inv) + beta[j]);
    }
}

static bool NORM(layer_norm_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    layer_norm_job job = {out, rows_of(out)};
    AG_PARALLEL_RANGE(job.v.rows, job.v.d, NORM(layer_norm_rows), &job);
    return true;
}

/* rows [lo, hi): gx += inv (g - mean(g) - xhat mean(g xhat)), g = gamma gy */
static void NORM(layer_norm_x_grad_rows)(void *ctx, size_t lo, size_t hi)
{
    const layer_norm_job *job = ctx;
    const ag_node *out = job->out;
    size_t D = job->v.d;
    const real *gamma = (const real *)(const void *)out->in[1]->value;
    for (size_t r = lo; r < hi; r++) {
        const real *x = (const real *)(const void *)out->in[0]->value + r * D;
        const real *gy = (const real *)(const void *)out->grad + r * D;
        real *gx = (real *)(void *)out->in[0]->grad + r * D;
        double mean = out->aux[2 * r], inv = out->aux[2 * r + 1];
        double sum_g = 0.0, sum_gxhat = 0.0;
        for (size_t j = 0; j < D; j++) {
            double g = (double)gamma[j] * gy[j];
            sum_g += g;
            sum_gxhat += g * (((double)x[j] - mean) * inv);
        }
        double a = sum_g / (double)D, b = sum_gxhat / (double)D;
        for (size_t j = 0; j < D; j++)
            gx[j] += (real)(inv * ((double)gamma[j] * gy[j] - a - ((double)x[j] - mean) * inv * b));
    }
}

/* columns [lo, hi) of every row (a thread owns its columns of gamma and
 * beta): ggamma += sum over rows of gy xhat, gbeta += sum over rows of gy */
static void NORM(layer_norm_affine_grad_columns)(void *ctx, size_t lo, size_t hi)
{
    const layer_norm_job *job = ctx;
    const ag_node *out = job->out;
    size_t D = job->v.d;
    real *ggamma = (real *)(void *)out->in[1]->grad, *gbeta = (real *)(void *)out->in[2]->grad;
    for (size_t r = 0; r < job->v.rows; r++) {
        const real *x = (const real *)(const void *)out->in[0]->value + r * D;
        const real *gy = (const real *)(const void *)out->grad + r * D;
        double mean = out->aux[2 * r], inv = out->aux[2 * r + 1];
        if (ggamma)
            for (size_t j = lo; j < hi; j++) ggamma[j] += (real)((double)gy[j] * (((double)x[j] - mean) * inv));
        if (gbeta)
            for (size_t j = lo; j < hi; j++) gbeta[j] += gy[j];
    }
}

static void NORM(layer_norm_vjp)(ag_node *out)
{
    layer_norm_job job = {out, rows_of(out)};
    if (out->in[0]->grad) AG_PARALLEL_RANGE(job.v.rows, job.v.d, NORM(layer_norm_x_grad_rows), &job);
    if (out->in[1]->grad || out->in[2]->grad)
        AG_PARALLEL_RANGE(job.v.d, job.v.rows, NORM(layer_norm_affine_grad_columns), &job);
}

/* ---- batch_norm: x [N, C, P], gamma, beta [C] --------------------------------------- */

/* Channel c's (mean, inv): the batch's when training, which also moves the
 * running statistics (the variance unbiased, times m / (m - 1)):
 *   running = (1 - momentum) running + momentum batch;
 * the running ones otherwise. The running tensors may be float64 or
 * float32 whatever x's type (each read and written in its own). */
static void NORM(channel_statistics)(const ag_node *out, const channels_view *v, size_t c, double *mean,
                                     double *inv)
{
    const ag_batch_norm_params *p = AG_PARAMS(out, const ag_batch_norm_params);
    ag_tensor *rm = p->running_mean, *rv = p->running_var;
    if (!p->training) {
        *mean = ag_typed_get(rm->data, rm->dtype, c);
        *inv = 1.0 / sqrt(ag_typed_get(rv->data, rv->dtype, c) + p->eps);
        return;
    }
    const real *x = (const real *)(const void *)out->in[0]->value + c * v->plane;
    double k = (double)x[0], s1 = 0.0, s2 = 0.0, var, m = (double)(v->n * v->plane);
    for (size_t n = 0; n < v->n; n++) NORM(shifted_sums)(x + n * v->c * v->plane, v->plane, k, &s1, &s2);
    moments(k, s1, s2, m, mean, &var);
    *inv = 1.0 / sqrt(var + p->eps);
    if (rm) {
        double old_mean = ag_typed_get(rm->data, rm->dtype, c), old_var = ag_typed_get(rv->data, rv->dtype, c);
        ag_typed_put(rm->data, rm->dtype, c, (1.0 - p->momentum) * old_mean + p->momentum * *mean);
        ag_typed_put(rv->data, rv->dtype, c, (1.0 - p->momentum) * old_var + p->momentum * (var * m / (m - 1.0)));
    }
}

/* channels [lo, hi): statistics into aux, y = x scale + shift with
 * scale = gamma inv and shift = beta - mean scale (= gamma xhat + beta) */
static void NORM(batch_norm_channels)(void *ctx, size_t lo, size_t hi)
{
    const batch_norm_job *job = ctx;
    const ag_node *out = job->out;
    const channels_view *v = &job->v;
    const real *gamma = (const real *)(const void *)out->in[1]->value;
    const real *beta = (const real *)(const void *)out->in[2]->value;
    for (size_t c = lo; c < hi; c++) {
        double mean, inv;
        NORM(channel_statistics)(out, v, c, &mean, &inv);
        out->aux[2 * c] = mean, out->aux[2 * c + 1] = inv;
        double scale = (double)gamma[c] * inv, shift = (double)beta[c] - mean * scale;
        for (size_t n = 0; n < v->n; n++) {
            size_t at = (n * v->c + c) * v->plane;
            const real *x = (const real *)(const void *)out->in[0]->value + at;
            real *y = (real *)(void *)out->value + at;
            for (size_t i = 0; i < v->plane; i++) y[i] = (real)((double)x[i] * scale + shift);
        }
    }
}

static bool NORM(batch_norm_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    batch_norm_job job = {out, channels_of(&out->shape)};
    AG_PARALLEL_RANGE(job.v.c, job.v.n * job.v.plane, NORM(batch_norm_channels), &job);
    return true;
}

/* channels [lo, hi): per channel (its gamma and beta are its own, so the
 * channels split over threads without sharing a gradient)
 *   ggamma += sum gy xhat,  gbeta += sum gy,
 *   gx += scale (gy - mean(gy) - xhat mean(gy xhat))   (training)
 *   gx += scale gy                                     (eval)        */
static void NORM(batch_norm_grad_channels)(void *ctx, size_t lo, size_t hi)
{
    const batch_norm_job *job = ctx;
    const ag_node *out = job->out;
    const channels_view *v = &job->v;
    bool training = AG_PARAMS(out, const ag_batch_norm_params)->training;
    double m = (double)(v->n * v->plane);
    const real *gamma = (const real *)(const void *)out->in[1]->value;
    real *ggamma = (real *)(void *)out->in[1]->grad, *gbeta = (real *)(void *)out->in[2]->grad;
    for (size_t c = lo; c < hi; c++) {
        double mean = out->aux[2 * c], inv = out->aux[2 * c + 1], sum_gy = 0.0, sum_gy_xhat = 0.0;
        for (size_t n = 0; n < v->n; n++) {
            size_t at = (n * v->c + c) * v->plane;
            const real *x = (const real *)(const void *)out->in[0]->value + at;
            const real *gy = (const real *)(const void *)out->grad + at;
            for (size_t i = 0; i < v->plane; i++)
                sum_gy += gy[i], sum_gy_xhat += (double)gy[i] * (((double)x[i] - mean) * inv);
        }
        if (ggamma) ggamma[c] += (real)sum_gy_xhat;
        if (gbeta) gbeta[c] += (real)sum_gy;
        if (!out->in[0]->grad) continue;
        double scale = (double)gamma[c] * inv, a = sum_gy / m, b = sum_gy_xhat / m;
        for (size_t n = 0; n < v->n; n++) {
            size_t at = (n * v->c + c) * v->plane;
            const real *x = (const real *)(const void *)out->in[0]->value + at;
            const real *gy = (const real *)(const void *)out->grad + at;
            real *gx = (real *)(void *)out->in[0]->grad + at;
            if (training)
                for (size_t i = 0; i < v->plane; i++)
                    gx[i] += (real)(scale * ((double)gy[i] - a - ((double)x[i] - mean) * inv * b));
            else /* no xhat term: an infinite x has a finite gradient */
                for (size_t i = 0; i < v->plane; i++) gx[i] += (real)(scale * gy[i]);
        }
    }
}

static void NORM(batch_norm_vjp)(ag_node *out)
{
    batch_norm_job job = {out, channels_of(&out->shape)};
    AG_PARALLEL_RANGE(job.v.c, job.v.n * job.v.plane, NORM(batch_norm_grad_channels), &job);
}
