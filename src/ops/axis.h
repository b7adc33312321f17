/* axis.h -- one axis of a tensor: an axis argument normalised (negative ones
 * counting from the end, as PyTorch's dim), and the tensor seen around it.
 * Shared by the reductions, the indexing and joining ops and permute. */
#ifndef AGRAD_OPS_AXIS_H
#define AGRAD_OPS_AXIS_H

#include "params.h"

/* `axis` as one of the n positions 0 .. n-1, counted from the end when
 * negative (-1 is n-1); -1 when it is none of them. n is ndim for the axes
 * of a tensor, ndim + 1 for the places stack can insert one. */
static inline int ag_axis_index(int axis, int n)
{
    int resolved = axis < 0 ? axis + n : axis;
    return resolved >= 0 && resolved < n ? resolved : -1;
}

/* *axis made an axis of a tensor of ndim dimensions (ag_axis_index); false
 * with why set when there is none: "axis 3 is out of range for 2 dimensions
 * (-2 .. 1)", "axis 0 is out of range for 0 dimensions (a scalar has no
 * axis)". */
bool ag_resolve_axis(int *axis, int ndim, char *why, size_t len);

/* the axis of an op with ag_axis_params, as its shape rule normalised it */
static inline int ag_axis_of(const ag_node *out) { return AG_PARAMS(out, const ag_axis_params)->axis; }

/* x seen as [outer, len, inner] around an axis of length len: element
 * (o, a, i) is at (o * len + a) * inner + i. All n elements seen as one
 * axis is the view {1, n, 1}. */
typedef struct axis_view {
    size_t outer, len, inner;
} axis_view;

/* the view of x around `axis` (0 .. ndim-1) */
static inline axis_view ag_axis_view(const ag_shape *x, int axis)
{
    axis_view v = {1, (size_t)x->dims[axis], 1};
    for (int d = 0; d < axis; d++) v.outer *= (size_t)x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++) v.inner *= (size_t)x->dims[d];
    return v;
}

#endif
