/* indices.c -- index values checked and resolved, and strided views (see
 * indices.h). */
#include "indices.h"

#include <math.h>
#include <stdio.h>

bool ag_resolve_index(double value, size_t position, int axis, int size, size_t *index, char *why,
                      size_t len)
{
    if (!(value == floor(value))) { /* a fraction, or a NaN (floor(NaN) is NaN) */
        snprintf(why, len, "index %.17g at position %zu is not a whole number", value, position);
        return false;
    }
    if (!(value >= -(double)size && value < (double)size)) { /* an infinity too */
        snprintf(why, len, "index %.17g at position %zu is out of range for axis %d of size %d", value,
                 position, axis, size);
        return false;
    }
    long long i = (long long)value; /* in range, so the conversion is exact */
    *index = (size_t)(i < 0 ? i + size : i);
    return true;
}

void ag_row_major_strides(const ag_shape *shape, ptrdiff_t strides[AG_MAX_DIMS])
{
    ptrdiff_t step = 1;
    for (int d = AG_MAX_DIMS - 1; d >= 0; d--) {
        strides[d] = d < shape->ndim ? step : 0;
        if (d < shape->ndim) step *= shape->dims[d];
    }
}

/* The view with exactly AG_MAX_DIMS axes: axes of size 1 (stride 0) put in
 * front, which changes neither the elements nor their row-major order. */
static ag_strided_view padded(const ag_strided_view *v)
{
    ag_strided_view p = {.ndim = AG_MAX_DIMS, .offset = v->offset};
    int pad = AG_MAX_DIMS - v->ndim;
    for (int d = 0; d < AG_MAX_DIMS; d++) {
        p.dims[d] = d < pad ? 1 : v->dims[d - pad];
        p.strides[d] = d < pad ? 0 : v->strides[d - pad];
    }
    return p;
}

/* for every view element k (row-major), at = its source position: STMT */
#define FOR_VIEW(v, k, at, STMT)                                                           \
    do {                                                                                   \
        ag_strided_view p_ = padded(v);                                                    \
        size_t k = 0;                                                                      \
        for (ptrdiff_t i0 = 0; i0 < p_.dims[0]; i0++)                                      \
            for (ptrdiff_t i1 = 0; i1 < p_.dims[1]; i1++)                                  \
                for (ptrdiff_t i2 = 0; i2 < p_.dims[2]; i2++) {                            \
                    ptrdiff_t row_ = p_.offset + i0 * p_.strides[0] + i1 * p_.strides[1] + \
                                     i2 * p_.strides[2];                                   \
                    for (ptrdiff_t i3 = 0; i3 < p_.dims[3]; i3++, k++) {                   \
                        ptrdiff_t at = row_ + i3 * p_.strides[3];                          \
                        STMT;                                                              \
                    }                                                                      \
                }                                                                          \
    } while (0)

/* float32: dst[k] = src[at] and dsrc[at] += dy[k] over float buffers, the
 * same walk (FOR_VIEW) as the double ones below */
static void strided_read_f32(const ag_strided_view *v, const float *src, float *dst)
{
    FOR_VIEW(v, k, at, dst[k] = src[at]);
}

static void strided_add_back_f32(const ag_strided_view *v, const float *dy, float *dsrc)
{
    FOR_VIEW(v, k, at, dsrc[at] += dy[k]);
}

void ag_strided_read(const ag_strided_view *v, const double *src, double *dst)
{
    if (!src) { /* a zero tangent */
        size_t size = 1;
        for (int d = 0; d < v->ndim; d++) size *= (size_t)v->dims[d];
        ag_zero_doubles(dst, size);
        return;
    }
    FOR_VIEW(v, k, at, dst[k] = src[at]);
}

void ag_strided_add_back(const ag_strided_view *v, const double *dy, double *dsrc)
{
    FOR_VIEW(v, k, at, dsrc[at] += dy[k]);
}

/* ---- ops whose result is a strided view of their input ---------------------------- */

static ag_strided_view view_of(const ag_node *out)
{
    return ((const ag_view_rule *)out->op->rule)->view(out);
}

bool ag_view_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    ag_strided_view v = view_of(out);
    ag_strided_read(&v, out->in[0]->value, out->value);
    return true;
}

void ag_view_vjp(ag_node *out)
{
    ag_strided_view v = view_of(out);
    ag_strided_add_back(&v, out->grad, out->in[0]->grad);
}

void ag_view_jvp(ag_node *out)
{
    ag_strided_view v = view_of(out);
    ag_strided_read(&v, out->in[0]->tangent, out->tangent);
}

static bool view_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    ag_strided_view v = view_of(out);
    strided_read_f32(&v, AG_F32(out->in[0]->value), AG_F32(out->value));
    return true;
}

static void view_vjp_f32(ag_node *out)
{
    ag_strided_view v = view_of(out);
    strided_add_back_f32(&v, AG_F32(out->grad), AG_F32(out->in[0]->grad));
}

const ag_typed_kernels ag_view_f32_kernels = {{view_forward_f32, view_vjp_f32}, NULL};
