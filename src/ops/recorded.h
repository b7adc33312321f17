/* recorded.h -- pieces the ops' recorded derivatives (vjp_nodes, jvp_nodes;
 * see struct ag_op) are built from. Each records nodes with the public ops,
 * so whatever they build can itself be differentiated again. On failure
 * they return NULL with the graph's error set (by the op that failed); a
 * NULL operand where the helper says "NULL: zero" is not a failure. */
#ifndef AGRAD_OPS_RECORDED_H
#define AGRAD_OPS_RECORDED_H

#include "../internal.h"

/* Input k of out takes a gradient and its share is wanted: while ag_grad
 * records, only inputs that lead to a node it differentiates with respect
 * to (a share of W2 is not recorded for d/dW1). */
static inline bool ag_rec_takes_grad(const ag_node *out, size_t k)
{
    const ag_node *x = out->inputs[k];
    const ag_graph *g = out->graph;
    if (!x->grad) return false;
    if (!g->recording.reach) return true;
    return x->index >= g->recording.lo && g->recording.reach[x->index - g->recording.lo];
}

/* A zeroed list of n node pointers for an op's operands: `inline_list`
 * (AG_INLINE_INPUTS long) when they fit, else allocated (ag_free it when it
 * is not inline_list); NULL, with the graph failed, when memory is short. */
ag_node **ag_rec_node_list(ag_graph *g, size_t n, ag_node **inline_list);

/* The 0-d constant c, shared by the recorded derivatives of a generation
 * (a graph records its 1 once, not once per relu). */
ag_node *ag_rec_scalar(ag_graph *g, double c);

/* A constant of zeros, or of `value` everywhere, of the given shape. */
ag_node *ag_rec_zeros(ag_graph *g, const ag_shape *shape);
ag_node *ag_rec_filled(ag_graph *g, const ag_shape *shape, double value);

/* x summed down to `shape` (NumPy's broadcast run backwards: leading
 * dimensions x has more of are summed away, a dimension of size 1 in
 * shape is summed and kept); x itself when its shape already is shape. */
ag_node *ag_rec_sum_to(ag_node *x, const ag_shape *shape);
/* x broadcast up to `shape` (ag_expand); x itself when it already is. */
ag_node *ag_rec_expand_to(ag_node *x, const ag_shape *shape);
/* x's elements in `shape` (ag_reshape); x itself when it already is. */
ag_node *ag_rec_reshape_to(ag_node *x, const ag_shape *shape);

/* c x, for a constant c (x itself when c is 1) */
ag_node *ag_rec_scale(ag_node *x, double c);
/* x * gy for a cotangent gy, or x itself when gy is the root's seed, the
 * shared 0-d constant 1 (the root's own op then records one node less) */
ag_node *ag_rec_times(ag_node *x, ag_node *gy);
/* a + b where NULL is zero: NULL when both are */
ag_node *ag_rec_add(ag_node *a, ag_node *b);
/* d * t where a NULL t is zero: NULL then (a tangent's share) */
ag_node *ag_rec_mul(ag_node *d, ag_node *t);

/* The jvp_nodes of an op that is linear in its inputs, whose derivative is
 * the op itself applied to the tangents (reshape, transpose, permute,
 * slice, concat, ...: ty = op(tx) with out's parameters, a NULL tangent as
 * zeros of its operand's shape). */
ag_node *ag_rec_same_op_jvp(ag_node *out, ag_node *const *tx);
/* Record `op` again on new inputs, with out's parameters. */
ag_node *ag_rec_again(const ag_node *out, size_t n_in, ag_node *const *in);

#endif
