/* join.c -- concat and stack: n >= 1 operands xs[0 .. n) joined along an
 * axis (AG_VARIADIC: out->inputs[k], k < out->n_in).
 *   concat: along an existing axis, the other sizes equal
 *           y = [x_0 | x_1 | ...] along axis
 *   stack:  along a new axis (inserted at `axis` of 0 .. ndim), one shape
 *           y[.., k, ..] = x_k
 * Both are the same copy: y viewed as [outer, row] where outer is the
 * product of y's sizes before the axis, each x_k as [outer, block_k] (block_k
 * = its size / outer), and row = sum_k block_k; x_k fills columns
 * [start_k, start_k + block_k) of every one of the outer rows.
 *   vjp  gx_k[o, j] += gy[o, start_k + j]     jvp  the same copy of the tangents */
#include "axis.h"
#include "recorded.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* the product of y's sizes before the joined axis */
static size_t outer_of(const ag_node *out) { return ag_axis_view(&out->shape, ag_axis_of(out)).outer; }

/* y[o, start_k + j] = x_k[o, j] from each operand's value (elements of
 * `size` bytes: the node's type), or its tangent (doubles; zeros where it
 * has none) */
static void join_copy(const ag_node *out, bool tangents, size_t size, void *y)
{
    size_t outer = outer_of(out), row = out->shape.size / outer, start = 0;
    for (uint32_t k = 0; k < out->n_in; k++) {
        const ag_node *x = out->inputs[k];
        const char *src = (const char *)(const void *)(tangents ? x->tangent : x->value);
        size_t block = x->shape.size / outer;
        for (size_t o = 0; o < outer; o++) {
            char *dst = (char *)y + (o * row + start) * size;
            if (src)
                memcpy(dst, src + o * block * size, block * size);
            else
                ag_zero_doubles((double *)(void *)dst, block);
        }
        start += block;
    }
}

static bool join_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    join_copy(out, false, ag_dtype_bytes((ag_dtype)out->dtype), out->value);
    return true;
}

/* gx_k[o, j] += gy[o, start_k + j], over elements of type `real`: stamped
 * for double (join_vjp) and float (join_vjp_f32) */
#define JOIN_VJP(real, SUFFIX)                                                             \
    static void join_vjp##SUFFIX(ag_node *out)                                             \
    {                                                                                      \
        size_t outer = outer_of(out), row = out->shape.size / outer, start = 0;            \
        for (uint32_t k = 0; k < out->n_in; k++) {                                         \
            const ag_node *x = out->inputs[k];                                             \
            size_t block = x->shape.size / outer;                                          \
            if (x->grad) /* NULL: no gradient flows to this operand */                     \
                for (size_t o = 0; o < outer; o++) {                                       \
                    const real *gy = (const real *)(const void *)out->grad + o * row + start; \
                    real *gx = (real *)(void *)x->grad + o * block;                        \
                    for (size_t j = 0; j < block; j++) gx[j] += gy[j];                     \
                }                                                                          \
            start += block;                                                                \
        }                                                                                  \
    }

JOIN_VJP(double, )
JOIN_VJP(float, _f32)
static const ag_typed_kernels join_f32 = {{join_forward, join_vjp_f32}, NULL};

static void join_jvp(ag_node *out) { join_copy(out, true, sizeof(double), out->tangent); }

/* out->shape from dims, or false with why set when it would be too large */
static bool result_shape(ag_node *out, int ndim, const int *dims, char *why, size_t len)
{
    const char *bad = NULL;
    if (ag_shape_make(&out->shape, ndim, dims, &bad)) return true;
    snprintf(why, len, "the result would be too large: %s", bad);
    return false;
}

/* ---- concat ----------------------------------------------------------------------- */

/* xs[k] against xs[0]: the same number of dimensions and the same sizes but
 * along the axis */
static bool concat_operand_fits(const ag_shape *first, const ag_shape *x, uint32_t k, int axis,
                                char *why, size_t len)
{
    if (x->ndim != first->ndim) {
        snprintf(why, len, "xs[%u] has %d dimensions where xs[0] has %d", (unsigned)k, x->ndim, first->ndim);
        return false;
    }
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && x->dims[d] != first->dims[d]) {
            snprintf(why, len, "xs[%u] differs from xs[0] in dimension %d (%d vs %d); only axis %d may differ",
                     (unsigned)k, d, x->dims[d], first->dims[d], axis);
            return false;
        }
    return true;
}

static bool concat_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *first = &out->inputs[0]->shape;
    ag_axis_params *p = out->params;
    if (first->ndim == 0) {
        snprintf(why, len, "a 0-d operand has no axis to join along (ag_stack makes one)");
        return false;
    }
    if (!ag_resolve_axis(&p->axis, first->ndim, why, len)) return false;
    long long joined = 0;
    for (uint32_t k = 0; k < out->n_in; k++) {
        const ag_shape *x = &out->inputs[k]->shape;
        if (!concat_operand_fits(first, x, k, p->axis, why, len)) return false;
        joined += x->dims[p->axis];
    }
    if (joined > INT_MAX) {
        snprintf(why, len, "the joined axis would have %lld elements (over %d)", joined, INT_MAX);
        return false;
    }
    int dims[AG_MAX_DIMS];
    memcpy(dims, first->dims, sizeof dims);
    dims[p->axis] = (int)joined;
    return result_shape(out, first->ndim, dims, why, len);
}

/* Recorded: x_k fills y's positions [start_k, start_k + n_k) along the
 * axis (start_k = n_0 + .. + n_{k-1}), so
 *   gx_k = slice(gy, axis, start_k, start_k + n_k, 1)
 * (gy itself when there is one operand); the jvp is ag_rec_same_op_jvp. */
static bool concat_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    int axis = ag_axis_of(out), start = 0;
    for (uint32_t k = 0; k < out->n_in; k++) {
        int n = out->inputs[k]->shape.dims[axis];
        if (ag_rec_takes_grad(out, k)) {
            gx[k] = out->n_in == 1 ? gy : ag_slice(gy, axis, start, start + n, 1);
            if (!gx[k]) return false;
        }
        start += n;
    }
    return true;
}

const ag_op ag_op_concat = {.name = "concat", .arity = AG_VARIADIC,
                            .params_size = sizeof(ag_axis_params),
                            .print_params = ag_print_axis_params, .shape = concat_shape,
                            .kernels = {join_forward, join_vjp}, .jvp = join_jvp,
                            .vjp_nodes = concat_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                            .f32 = &join_f32};

ag_node *ag_concat(size_t n, ag_node *const *xs, int axis)
{
    return ag_record(&ag_op_concat, n, xs, &(ag_axis_params){axis}, NULL);
}

/* ---- stack ------------------------------------------------------------------------ */

/* The new axis may be 0 .. ndim (negative: ndim + 1 + axis). */
static bool stack_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *first = &out->inputs[0]->shape;
    ag_axis_params *p = out->params;
    if (first->ndim + 1 > AG_MAX_DIMS) {
        snprintf(why, len, "stacking %d-d operands would make %d dimensions (at most %d)", first->ndim,
                 first->ndim + 1, AG_MAX_DIMS);
        return false;
    }
    int axis = ag_axis_index(p->axis, first->ndim + 1);
    if (axis < 0) {
        snprintf(why, len, "axis %d is out of range for stacking %d-d operands (%d .. %d)", p->axis,
                 first->ndim, -first->ndim - 1, first->ndim);
        return false;
    }
    p->axis = axis;
    for (uint32_t k = 1; k < out->n_in; k++)
        if (!ag_shape_equal(&out->inputs[k]->shape, first)) {
            snprintf(why, len, "xs[%u]'s shape differs from xs[0]'s (stacked operands have one shape)",
                     (unsigned)k);
            return false;
        }
    /* n_in <= AG_MAX_INPUTS, which an axis (an int) holds */
    int dims[AG_MAX_DIMS];
    for (int d = 0, from = 0; d <= first->ndim; d++)
        dims[d] = d == p->axis ? (int)out->n_in : first->dims[from++];
    return result_shape(out, first->ndim + 1, dims, why, len);
}

/* Recorded: x_k is y's position k along the new axis, so
 *   gx_k = reshape(slice(gy, axis, k, k + 1, 1), x_k's shape)
 * (the slice keeps the axis with size 1, the reshape drops it); the jvp is
 * ag_rec_same_op_jvp. */
static bool stack_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    int axis = ag_axis_of(out);
    for (uint32_t k = 0; k < out->n_in; k++) {
        if (!ag_rec_takes_grad(out, k)) continue;
        ag_node *row = ag_slice(gy, axis, (int)k, (int)k + 1, 1);
        gx[k] = ag_rec_reshape_to(row, &out->inputs[k]->shape);
        if (!gx[k]) return false;
    }
    return true;
}

const ag_op ag_op_stack = {.name = "stack", .arity = AG_VARIADIC,
                           .params_size = sizeof(ag_axis_params),
                           .print_params = ag_print_axis_params, .shape = stack_shape,
                           .kernels = {join_forward, join_vjp}, .jvp = join_jvp,
                           .vjp_nodes = stack_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                           .f32 = &join_f32};

ag_node *ag_stack(size_t n, ag_node *const *xs, int axis)
{
    return ag_record(&ag_op_stack, n, xs, &(ag_axis_params){axis}, NULL);
}
