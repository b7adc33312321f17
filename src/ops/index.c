/* index.c -- one element, and a slice along one axis.
 *   index:  y = x[flat] (x flattened row-major)      vjp gx[flat] += gy
 *                                                    jvp ty = tx[flat]
 *   slice:  along axis, y[.., k, ..] = x[.., start + k * step, ..] for
 *           k = 0 .. count-1 (the other axes kept whole)
 *                                                    vjp gx[.., start + k step, ..] += gy[.., k, ..]
 *                                                    jvp the same slice of tx
 * A slice is a strided view of x (indices.h): the axis's stride times step,
 * starting at element start along it. */
#include "axis.h"
#include "indices.h"
#include "recorded.h"

#include <limits.h>
#include <stdio.h>

/* ---- index --------------------------------------------------------------------- */

static size_t flat_of(const ag_node *out) { return AG_PARAMS(out, const ag_flat_index_params)->flat; }

static int index_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "flat=%zu", flat_of(out));
}

static bool index_shape(ag_node *out, char *why, size_t len)
{
    size_t size = out->in[0]->shape.size;
    if (flat_of(out) >= size) {
        snprintf(why, len, "flat index %zu is out of range for %zu element%s", flat_of(out), size,
                 size == 1 ? "" : "s");
        return false;
    }
    out->shape = ag_scalar_shape();
    return true;
}

static bool index_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->value[0] = out->in[0]->value[flat_of(out)];
    return true;
}

static void index_vjp(ag_node *out) { out->in[0]->grad[flat_of(out)] += out->grad[0]; }

/* the same in float32 */
static bool index_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    AG_F32(out->value)[0] = AG_F32(out->in[0]->value)[flat_of(out)];
    return true;
}

static void index_vjp_f32(ag_node *out) { AG_F32(out->in[0]->grad)[flat_of(out)] += AG_F32(out->grad)[0]; }

static const ag_typed_kernels index_f32 = {{index_forward_f32, index_vjp_f32}, NULL};

static void index_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    out->tangent[0] = tx ? tx[flat_of(out)] : 0.0;
}

/* Recorded: gx is zero but gy at flat, built on x's flat view [N]:
 *   gx = reshape(scatter_add(zeros[N], 0, [flat], reshape(gy, [1])), x's shape)
 * (a scatter, not gy times a one-hot mask: 0 * Inf would put NaNs where the
 * fast vjp adds nothing); ty = index(tx) (ag_rec_same_op_jvp). */
static bool index_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    ag_graph *g = out->graph;
    const ag_shape *x = &out->in[0]->shape;
    if (x->size > INT_MAX) { /* a flat view's one dimension is an int */
        ag_graph_fail(g, "ag_grad: index: the recorded derivative takes at most %d elements, "
                         "not %zu", INT_MAX, x->size);
        return false;
    }
    ag_shape flat_view = {.ndim = 1, .dims = {(int)x->size, 1, 1, 1}, .size = x->size};
    ag_node *at = ag_constant(g, 1, (int[]){1}, (double[]){(double)flat_of(out)});
    ag_node *src = ag_reshape(gy, 1, (int[]){1});
    ag_node *zeros = ag_rec_zeros(g, &flat_view);
    gx[0] = ag_rec_reshape_to(ag_scatter_add(zeros, 0, at, src), x);
    return gx[0] != NULL;
}

const ag_op ag_op_index = {.name = "index", .arity = 1,
                           .params_size = sizeof(ag_flat_index_params),
                           .print_params = index_print_params, .shape = index_shape,
                           .kernels = {index_forward, index_vjp}, .jvp = index_jvp,
                           .vjp_nodes = index_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                           .f32 = &index_f32};

ag_node *ag_index(ag_node *a, size_t flat)
{
    return ag_record1(&ag_op_index, a, &(ag_flat_index_params){.flat = flat});
}

/* ---- slice ----------------------------------------------------------------------- */

/* Python's slice(start, stop, step).indices(n), then len(range(...)): a
 * negative bound counts from the end, one still out of range is clipped to
 * [0, n] (step > 0) or [-1, n-1] (step < 0). *first is the first index
 * taken, *count how many (0: the range is empty). */
static void python_slice(long long start, long long stop, long long step, long long n,
                         long long *first, long long *count)
{
    long long lower = step > 0 ? 0 : -1, upper = step > 0 ? n : n - 1;
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    start = start < lower ? lower : start > upper ? upper : start;
    stop = stop < lower ? lower : stop > upper ? upper : stop;
    if (step > 0)
        *count = start < stop ? (stop - start - 1) / step + 1 : 0;
    else
        *count = stop < start ? (start - stop - 1) / -step + 1 : 0;
    *first = start;
}

static int slice_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_slice_params *p = out->params;
    return snprintf(buf, len, "axis=%d, start=%d, stop=%d, step=%d, count=%d", p->axis, p->start,
                    p->stop, p->step, out->shape.dims[p->axis]);
}

/* a bound as Python writes it: "" for an open end (INT_MIN / INT_MAX on
 * the side the step walks from or towards), the number otherwise */
static const char *bound_text(int bound, bool open, char *buf, size_t len)
{
    if (open) return "";
    snprintf(buf, len, "%d", bound);
    return buf;
}

static void say_empty(const ag_slice_params *p, int size, char *why, size_t len)
{
    char start[16], stop[16];
    bool up = p->step > 0;
    snprintf(why, len, "the slice [%s:%s:%d] of axis %d (size %d) is empty",
             bound_text(p->start, p->start == (up ? INT_MIN : INT_MAX), start, sizeof start),
             bound_text(p->stop, p->stop == (up ? INT_MAX : INT_MIN), stop, sizeof stop), p->step,
             p->axis, size);
}

/* Normalises the params: axis in 0 .. ndim-1, start the first index taken
 * (in 0 .. n-1); step and stop stay as given, so Python's
 * x[start:stop:step] along axis is still the same slice. */
static bool slice_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    ag_slice_params *p = out->params;
    if (!ag_resolve_axis(&p->axis, x->ndim, why, len)) return false;
    int axis = p->axis;
    if (p->step == 0) {
        snprintf(why, len, "slice step must not be 0");
        return false;
    }
    long long first, count;
    python_slice(p->start, p->stop, p->step, x->dims[axis], &first, &count);
    if (count == 0) {
        say_empty(p, x->dims[axis], why, len);
        return false;
    }
    p->start = (int)first;
    out->shape = *x;
    out->shape.dims[axis] = (int)count;
    out->shape.size = x->size / (size_t)x->dims[axis] * (size_t)count;
    return true;
}

/* the output as a strided view of the input */
static ag_strided_view slice_view(const ag_node *out)
{
    const ag_slice_params *p = out->params;
    ag_strided_view v = {.ndim = out->shape.ndim};
    ag_row_major_strides(&out->in[0]->shape, v.strides);
    for (int d = 0; d < v.ndim; d++) v.dims[d] = out->shape.dims[d];
    v.offset = (ptrdiff_t)p->start * v.strides[p->axis];
    v.strides[p->axis] *= p->step;
    return v;
}

static const ag_view_rule slice_rule = {slice_view};

/* Recorded: gy [.., count, ..] goes back to the positions it was taken
 * from, zeros elsewhere, by one scatter along the axis:
 *   gx = scatter_add(zeros of x's shape, axis, I, gy),
 *   I of gy's shape, I[o, k, i] = start + k step   (k < count)
 * which holds for a negative step as for a positive one (start is the
 * first index taken); the positions are distinct, so the scatter copies.
 * I is a constant: it comes from the params, not from data.
 * ty = slice(tx) (ag_rec_same_op_jvp). */
static ag_node *slice_positions(const ag_node *out)
{
    const ag_slice_params *p = out->params;
    axis_view v = ag_axis_view(&out->shape, p->axis); /* v.len = count */
    ag_node *at = ag_constant_of_shape(out->graph, &out->shape);
    for (size_t e = 0; at && e < out->shape.size; e++) {
        long long k = (long long)(e / v.inner % v.len);
        at->value[e] = (double)(p->start + k * p->step);
    }
    return at;
}

static bool slice_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    ag_node *zeros = ag_rec_zeros(out->graph, &out->in[0]->shape);
    ag_node *at = slice_positions(out);
    gx[0] = zeros && at ? ag_scatter_add(zeros, AG_PARAMS(out, const ag_slice_params)->axis, at, gy) : NULL;
    return gx[0] != NULL;
}

const ag_op ag_op_slice = {.name = "slice", .arity = 1, .params_size = sizeof(ag_slice_params),
                           .print_params = slice_print_params, .shape = slice_shape,
                           .kernels = {ag_view_forward, ag_view_vjp}, .jvp = ag_view_jvp,
                           .vjp_nodes = slice_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                           .rule = &slice_rule, .f32 = &ag_view_f32_kernels};

ag_node *ag_slice(ag_node *a, int axis, int start, int stop, int step)
{
    ag_slice_params p = {.axis = axis, .start = start, .stop = stop, .step = step};
    return ag_record1(&ag_op_slice, a, &p);
}
