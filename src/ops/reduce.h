/* reduce.h -- a tensor seen around the axis a reduction runs along (axis.h's
 * view), shared by the reductions (reduce.c: sum, mean, prod;
 * reduce_extreme.c: max, min, logsumexp). */
#ifndef AGRAD_OPS_REDUCE_H
#define AGRAD_OPS_REDUCE_H

#include "recorded.h"
#include "axis.h"

/* A reduction's result drops the axis of x's view [outer, len, inner]: it is
 * [outer, inner], element j = o * inner + i reducing the slice
 * x[start(j) + a * inner] for a = 0 .. len-1. A reduction of all n elements
 * to a scalar is the view {1, n, 1}. */

/* The view of a reduction node's input: along the node's axis for an op
 * with ag_axis_params, over every element for an op without parameters. */
axis_view ag_reduced_view(const ag_node *out);

/* where the slice of result element j starts in x; its elements are
 * v->inner apart */
static inline size_t axis_slice_start(const axis_view *v, size_t j)
{
    return (j / v->inner) * v->len * v->inner + j % v->inner;
}

/* The shape rule of a reduction of every element: a scalar. */
bool ag_reduce_all_shape(ag_node *out, char *why, size_t len);

/* The shape rule of a reduction along an axis (ag_axis_params): the axis
 * normalised by ag_resolve_axis and removed from the shape. */
bool ag_axis_shape(ag_node *out, char *why, size_t len);

/* ---- for the recorded derivatives (vjp_nodes, jvp_nodes) ------------------
 * y, a node of the reduction out's shape, reshaped to out's input's shape
 * with the reduced axis kept as 1 ([.., 1, ..]), so it broadcasts against
 * the input; y itself for a reduction of every element (a scalar
 * broadcasts as it is). NULL stays NULL. */
ag_node *ag_rec_keep_axis(const ag_node *out, ag_node *y);
/* v (out's input's shape) summed the way out reduces: along its axis
 * (ag_sum_axis), or every element (ag_sum). NULL stays NULL. */
ag_node *ag_rec_sum_reduced(const ag_node *out, ag_node *v);

#endif
