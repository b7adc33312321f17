/* gather_kernels.h -- gather.c's forward and vjp kernels (and the value
 * loops its jvps share), one definition stamped for each element type:
 * gather.c includes it with `real` defined as double and GATHER(name) as
 * name, then as float and name##_f32. The indices are read in the same
 * type as the data (the operands have one type); entries are copied or
 * added, never rounded further. */


/* ---- index_select: a viewed as [outer, A, inner], indices [N] ------------------- */

/* rows y[o, n, :] = x[o, idx[n], :] (x NULL: zeros) */
static void GATHER(select_rows)(const ag_node *out, const real *x, real *y)
{
    axis_view a = ag_axis_view(&out->in[0]->shape, ag_axis_of(out));
    size_t n_idx = one_per_index(out);
    if (!x) {
        memset(y, 0, out->shape.size * sizeof *y);
        return;
    }
    for (size_t o = 0; o < a.outer; o++)
        for (size_t n = 0; n < n_idx; n++)
            memcpy(y + (o * n_idx + n) * a.inner, x + (o * a.len + (size_t)out->aux[n]) * a.inner,
                   a.inner * sizeof *y);
}

/* aux[n] = idx[n] resolved (a negative one from the end), then the rows */
static bool GATHER(index_select_forward)(ag_node *out, char *why, size_t len)
{
    const real *idx = (const real *)(const void *)out->in[1]->value;
    int axis = ag_axis_of(out), size = out->in[0]->shape.dims[axis];
    for (size_t n = 0; n < one_per_index(out); n++) {
        size_t resolved;
        if (!ag_resolve_index(idx[n], n, axis, size, &resolved, why, len)) return false;
        out->aux[n] = (double)resolved;
    }
    GATHER(select_rows)(out, (const real *)(const void *)out->in[0]->value, (real *)(void *)out->value);
    return true;
}

/* ga[o, idx[n], :] += gy[o, n, :] */
static void GATHER(index_select_vjp)(ag_node *out)
{
    real *ga = (real *)(void *)out->in[0]->grad;
    if (!ga) return; /* the gradient came for the indices (a parameter by mistake) */
    axis_view a = ag_axis_view(&out->in[0]->shape, ag_axis_of(out));
    size_t n_idx = one_per_index(out);
    for (size_t o = 0; o < a.outer; o++)
        for (size_t n = 0; n < n_idx; n++) {
            const real *gy = (const real *)(const void *)out->grad + (o * n_idx + n) * a.inner;
            real *row = ga + (o * a.len + (size_t)out->aux[n]) * a.inner;
            for (size_t i = 0; i < a.inner; i++) row[i] += gy[i];
        }
}

/* ---- gather and scatter_add: positions at(p) ------------------------------------- */

/* aux[p] = at(p) for every position p of the indices: the flat position in
 * a (shape a) of p's coordinates with the axis coordinate idx[p] */
static bool GATHER(resolve_positions)(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *idx = &out->in[1]->shape;
    const real *value = (const real *)(const void *)out->in[1]->value;
    int axis = ag_axis_of(out);
    ptrdiff_t stride[AG_MAX_DIMS];
    ag_row_major_strides(a, stride);
    for (size_t p = 0; p < idx->size; p++) {
        size_t at = 0, rest = p, resolved;
        for (int d = idx->ndim - 1; d >= 0; d--) { /* p's coordinates, the last first */
            size_t coordinate = rest % (size_t)idx->dims[d];
            rest /= (size_t)idx->dims[d];
            if (d != axis) at += coordinate * (size_t)stride[d];
        }
        if (!ag_resolve_index(value[p], p, axis, a->dims[axis], &resolved, why, len)) return false;
        out->aux[p] = (double)(at + resolved * (size_t)stride[axis]);
    }
    return true;
}

/* y[p] = x[at(p)] (x NULL: zeros) */
static void GATHER(gather_values)(const ag_node *out, const real *x, real *y)
{
    for (size_t p = 0; p < out->shape.size; p++) y[p] = x ? x[position(out, p)] : 0;
}

static bool GATHER(gather_forward)(ag_node *out, char *why, size_t len)
{
    if (!GATHER(resolve_positions)(out, why, len)) return false;
    GATHER(gather_values)(out, (const real *)(const void *)out->in[0]->value, (real *)(void *)out->value);
    return true;
}

/* ga[at(p)] += gy[p] */
static void GATHER(gather_vjp)(ag_node *out)
{
    real *ga = (real *)(void *)out->in[0]->grad;
    const real *gy = (const real *)(const void *)out->grad;
    if (!ga) return; /* the gradient came for the indices (a parameter by mistake) */
    for (size_t p = 0; p < out->shape.size; p++) ga[position(out, p)] += gy[p];
}

/* y = x (zeros when NULL), then y[at(p)] += s[p] (nothing when s is NULL) */
static void GATHER(scatter_values)(const ag_node *out, const real *x, const real *s, real *y)
{
    if (x)
        memcpy(y, x, out->shape.size * sizeof *y);
    else
        memset(y, 0, out->shape.size * sizeof *y);
    if (s)
        for (size_t p = 0; p < out->in[1]->shape.size; p++) y[position(out, p)] += s[p];
}

static bool GATHER(scatter_add_forward)(ag_node *out, char *why, size_t len)
{
    if (!GATHER(resolve_positions)(out, why, len)) return false;
    GATHER(scatter_values)(out, (const real *)(const void *)out->in[0]->value,
                           (const real *)(const void *)out->in[2]->value, (real *)(void *)out->value);
    return true;
}

/* ga += gy;  gsrc[p] += gy[at(p)] */
static void GATHER(scatter_add_vjp)(ag_node *out)
{
    real *ga = (real *)(void *)out->in[0]->grad, *gsrc = (real *)(void *)out->in[2]->grad;
    const real *gy = (const real *)(const void *)out->grad;
    if (ga)
        for (size_t i = 0; i < out->shape.size; i++) ga[i] += gy[i];
    if (gsrc)
        for (size_t p = 0; p < out->in[1]->shape.size; p++) gsrc[p] += gy[position(out, p)];
}
