/* softmax_kernels.h -- softmax.c's row loops, one definition stamped for
 * each element type: softmax.c includes it with `real` defined as double
 * and SOFTMAX(name) as name, then as float and name##_f32. The row's max,
 * exponentials, sums and dot products are formed in double whatever the
 * type, each stored value rounded to `real` when written (for double: no
 * rounding, the float64 kernels as they were before there were two types).
 * A float softmax is rounded twice: the exponential when stored, then the
 * normalised value (no second exp per element). */


/* p = exp(x - max) / sum exp(x - max) over one row of n; *max and
 * *log_sum = log sum exp(x - max) for log_softmax and the loss */
static inline void SOFTMAX(softmax_row)(const real *x, size_t n, real *p, double *max, double *log_sum)
{
    double m = x[0], s = 0.0;
    size_t top = 0; /* x[top] = m */
    for (size_t c = 1; c < n; c++)
        if (x[c] > m) m = x[c], top = c;
    /* exp(x[top] - m) = exp(0) = 1 exactly when m is finite: one call fewer
     * (half of a two-class row's) */
    size_t skip = isfinite(m) ? top : n;
    for (size_t c = 0; c < n; c++) {
        double e = c == skip ? 1.0 : exp((double)x[c] - m);
        p[c] = (real)e;
        s += e;
    }
    double inv = 1.0 / s; /* one division; p then carries one rounding more */
    for (size_t c = 0; c < n; c++) p[c] = (real)(p[c] * inv);
    *max = m;
    *log_sum = log(s);
}

static bool SOFTMAX(softmax_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    size_t rows = softmax_rows(&out->shape), cols = softmax_cols(&out->shape);
    const real *x = (const real *)(const void *)out->in[0]->value;
    real *p = (real *)(void *)out->value;
    double m, log_s;
    for (size_t r = 0; r < rows; r++) SOFTMAX(softmax_row)(x + r * cols, cols, p + r * cols, &m, &log_s);
    return true;
}

/* dst[c] (+)= p[c] * (v[c] - <v, p>) over each row: the product with the
 * symmetric Jacobian diag(p) - p p^T, used by both vjp and jvp */
static void SOFTMAX(softmax_jacobian_apply)(const ag_node *out, const real *v, real *dst, bool add)
{
    size_t rows = softmax_rows(&out->shape), cols = softmax_cols(&out->shape);
    for (size_t r = 0; r < rows; r++) {
        const real *p = (const real *)(const void *)out->value + r * cols, *vr = v + r * cols;
        real *d = dst + r * cols;
        double dotp = 0.0;
        for (size_t c = 0; c < cols; c++) dotp += (double)vr[c] * p[c];
        for (size_t c = 0; c < cols; c++) d[c] = (real)((add ? d[c] : 0.0) + p[c] * ((double)vr[c] - dotp));
    }
}

static void SOFTMAX(softmax_vjp)(ag_node *out)
{
    SOFTMAX(softmax_jacobian_apply)(out, (const real *)(const void *)out->grad, (real *)(void *)out->in[0]->grad,
                                    true);
}

/* y_c = x_c - m - log sum_j exp(x_j - m) */
static bool SOFTMAX(log_softmax_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    size_t rows = softmax_rows(&out->shape), cols = softmax_cols(&out->shape);
    for (size_t r = 0; r < rows; r++) {
        const real *x = (const real *)(const void *)out->in[0]->value + r * cols;
        real *y = (real *)(void *)out->value + r * cols;
        double m, log_s;
        SOFTMAX(softmax_row)(x, cols, y, &m, &log_s); /* y holds p for a moment */
        for (size_t c = 0; c < cols; c++) y[c] = (real)((double)x[c] - m - log_s);
    }
    return true;
}

/* gx = gy - p * sum_c gy_c, p = exp(y) */
static void SOFTMAX(log_softmax_vjp)(ag_node *out)
{
    size_t rows = softmax_rows(&out->shape), cols = softmax_cols(&out->shape);
    for (size_t r = 0; r < rows; r++) {
        const real *y = (const real *)(const void *)out->value + r * cols;
        const real *gy = (const real *)(const void *)out->grad + r * cols;
        real *gx = (real *)(void *)out->in[0]->grad + r * cols;
        double total = 0.0;
        for (size_t c = 0; c < cols; c++) total += gy[c];
        for (size_t c = 0; c < cols; c++) gx[c] += (real)((double)gy[c] - exp((double)y[c]) * total);
    }
}
