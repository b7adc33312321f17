/* reduce_extreme_kernels.h -- reduce_extreme.c's slice loops and its
 * forward and vjp kernels, one definition stamped for each element type:
 * reduce_extreme.c includes it with `real` defined as double and
 * EXTREME(name) as name, then as float and name##_f32. A max or min is an
 * element of the slice (no rounding); logsumexp's sums and exponentials are
 * formed in double and rounded to `real` when stored (for double: none). */


/* The largest (or smallest) of a contiguous x[0 .. n-1] without NaNs in it:
 * a select per element (no branch to mispredict), and whether a NaN was seen
 * (then *m is meaningless and the caller looks again). */
static bool EXTREME(contiguous_extreme)(const real *x, size_t n, bool find_largest, real *m)
{
    real e = x[0];
    bool nan = isnan(e);
    if (find_largest)
        for (size_t a = 1; a < n; a++) e = x[a] > e ? x[a] : e, nan |= isnan(x[a]);
    else
        for (size_t a = 1; a < n; a++) e = x[a] < e ? x[a] : e, nan |= isnan(x[a]);
    *m = e;
    return !nan;
}

/* the largest (or smallest) of x[a * step], a < n; NaN if one is NaN (the
 * first NaN met) */
static real EXTREME(slice_extreme)(const real *x, size_t n, size_t step, bool find_largest)
{
    real e;
    if (step == 1 && EXTREME(contiguous_extreme)(x, n, find_largest, &e))
        return e;
    real m = x[0];
    for (size_t a = 1; a < n && !isnan(m); a++) {
        real v = x[a * step];
        if (isnan(v) || (find_largest ? v > m : v < m)) m = v;
    }
    return m;
}

/* c: how many of x[a * step] equal y (an integer count: a loop without a
 * floating-point dependency chain, vectorised where the slice is contiguous) */
static double EXTREME(count_equal)(const real *x, size_t n, size_t step, real y)
{
    size_t c = 0;
    if (step == 1)
        for (size_t a = 0; a < n; a++) c += x[a] == y;
    else
        for (size_t a = 0; a < n; a++) c += x[a * step] == y;
    return (double)c;
}

/* g[a * step] += share * [x[a * step] == y] */
static void EXTREME(add_share_where_equal)(real *g, const real *x, size_t n, size_t step, real y, double share)
{
    if (step == 1)
        for (size_t a = 0; a < n; a++) g[a] += (real)(share * (double)(x[a] == y));
    else
        for (size_t a = 0; a < n; a++) g[a * step] += (real)(share * (double)(x[a * step] == y));
}

static bool EXTREME(extreme_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    axis_view v = ag_reduced_view(out);
    const real *x = (const real *)(const void *)out->in[0]->value;
    real *y = (real *)(void *)out->value;
    for (size_t j = 0; j < out->shape.size; j++)
        y[j] = EXTREME(slice_extreme)(x + axis_slice_start(&v, j), v.len, v.inner, wants_largest(out));
    return true;
}

/* gx_a += (gy / c) [x_a == y], the mask a factor of 1 or 0 as in torch (so a
 * NaN slice, c = 0, gets NaN everywhere) */
static void EXTREME(extreme_vjp)(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    const real *y = (const real *)(const void *)out->value, *gy = (const real *)(const void *)out->grad;
    for (size_t j = 0; j < out->shape.size; j++) {
        size_t start = axis_slice_start(&v, j);
        const real *xs = (const real *)(const void *)out->in[0]->value + start;
        real *gs = (real *)(void *)out->in[0]->grad + start;
        double count = EXTREME(count_equal)(xs, v.len, v.inner, y[j]);
        EXTREME(add_share_where_equal)(gs, xs, v.len, v.inner, y[j], (double)gy[j] / count);
    }
}

/* y = m + log sum_a exp(x_a - m), m the slice's max (0 when infinite) */
static bool EXTREME(logsumexp_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    axis_view v = ag_reduced_view(out);
    real *y = (real *)(void *)out->value;
    for (size_t j = 0; j < out->shape.size; j++) {
        const real *xs = (const real *)(const void *)out->in[0]->value + axis_slice_start(&v, j);
        double m = EXTREME(slice_extreme)(xs, v.len, v.inner, true), s = 0.0;
        if (isinf(m)) m = 0.0;
        for (size_t a = 0; a < v.len; a++) s += exp((double)xs[a * v.inner] - m);
        y[j] = (real)(log(s) + m);
    }
    return true;
}

/* gx_a += gy exp(x_a - y) */
static void EXTREME(logsumexp_vjp)(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    const real *y = (const real *)(const void *)out->value, *gy = (const real *)(const void *)out->grad;
    for (size_t j = 0; j < out->shape.size; j++) {
        size_t start = axis_slice_start(&v, j);
        const real *xs = (const real *)(const void *)out->in[0]->value + start;
        real *gs = (real *)(void *)out->in[0]->grad + start;
        for (size_t a = 0; a < v.len; a++)
            gs[a * v.inner] += (real)(gy[j] * exp((double)xs[a * v.inner] - y[j]));
    }
}
