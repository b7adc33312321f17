/* recorded.c -- the pieces of the recorded derivatives (recorded.h). */
#include "recorded.h"

#include <string.h>

ag_node *ag_rec_scalar(ag_graph *g, double c)
{
    if (g->failed) return NULL;
    for (int i = 0; i < g->rec_constants.count; i++) /* bit for bit: -0 is not 0 */
        if (memcmp(&g->rec_constants.value[i], &c, sizeof c) == 0) return g->rec_constants.node[i];
    ag_node *n = ag_scalar(g, c);
    int slot = g->rec_constants.count < 8 ? g->rec_constants.count++ : 7; /* the last one rotates */
    g->rec_constants.value[slot] = c;
    g->rec_constants.node[slot] = n;
    return n;
}

ag_node **ag_rec_node_list(ag_graph *g, size_t n, ag_node **inline_list)
{
    if (n <= AG_INLINE_INPUTS) {
        for (size_t k = 0; k < AG_INLINE_INPUTS; k++) inline_list[k] = NULL;
        return inline_list;
    }
    ag_node **list = ag_calloc(n, sizeof *list);
    if (!list) ag_graph_fail(g, "ag_grad: out of memory");
    return list;
}

ag_node *ag_rec_filled(ag_graph *g, const ag_shape *shape, double value)
{
    if (g->failed) return NULL;
    if (shape->ndim == 0) return ag_rec_scalar(g, value);
    ag_node *n = ag_constant_of_shape(g, shape);
    for (size_t i = 0; n && i < shape->size; i++) n->value[i] = value;
    return n;
}

ag_node *ag_rec_zeros(ag_graph *g, const ag_shape *shape) { return ag_rec_filled(g, shape, 0.0); }

ag_node *ag_rec_reshape_to(ag_node *x, const ag_shape *shape)
{
    if (!x || ag_shape_equal(&x->shape, shape)) return x;
    return ag_reshape(x, shape->ndim, shape->dims);
}

ag_node *ag_rec_expand_to(ag_node *x, const ag_shape *shape)
{
    if (!x || ag_shape_equal(&x->shape, shape)) return x;
    return ag_expand(x, shape->ndim, shape->dims);
}

/* Sum x [.., d_0 .. d_{n-1}] over its leading dimensions past shape's
 * count, then over every dimension where shape has 1 and x more; the sums
 * drop the dimension (ag_sum_axis), the final reshape puts the 1s back. */
ag_node *ag_rec_sum_to(ag_node *x, const ag_shape *shape)
{
    if (!x || ag_shape_equal(&x->shape, shape)) return x;
    int extra = x->shape.ndim - shape->ndim;
    while (x && extra-- > 0) x = ag_sum_axis(x, 0);
    /* now x has shape's ndim; sum the broadcast ones from the last back, so
     * the axes still to come keep their positions */
    for (int d = shape->ndim - 1; x && d >= 0; d--)
        if (shape->dims[d] == 1 && x->shape.dims[d] != 1) x = ag_sum_axis(x, d);
    return ag_rec_reshape_to(x, shape);
}

ag_node *ag_rec_scale(ag_node *x, double c)
{
    if (!x || c == 1.0) return x;
    return ag_mul(x, ag_rec_scalar(x->graph, c));
}

ag_node *ag_rec_times(ag_node *x, ag_node *gy)
{
    if (!x || !gy) return NULL;
    ag_graph *g = gy->graph;
    const double one = 1.0;
    for (int i = 0; i < g->rec_constants.count; i++)
        if (g->rec_constants.node[i] == gy && memcmp(&g->rec_constants.value[i], &one, sizeof one) == 0)
            return x; /* 0-d: x * 1 has x's shape and values */
    return ag_mul(x, gy);
}

ag_node *ag_rec_add(ag_node *a, ag_node *b)
{
    if (!a) return b;
    if (!b) return a;
    return ag_add(a, b);
}

ag_node *ag_rec_mul(ag_node *d, ag_node *t) { return t && d ? ag_mul(d, t) : NULL; }

ag_node *ag_rec_again(const ag_node *out, size_t n_in, ag_node *const *in)
{
    return ag_record(out->op, n_in, in, out->params, &out->shape);
}

ag_node *ag_rec_same_op_jvp(ag_node *out, ag_node *const *tx)
{
    ag_graph *g = out->graph;
    ag_node *inline_in[AG_INLINE_INPUTS], **in = ag_rec_node_list(g, out->n_in, inline_in);
    bool ok = in != NULL;
    for (size_t k = 0; ok && k < out->n_in; k++) {
        in[k] = tx[k] ? tx[k] : ag_rec_zeros(g, &out->inputs[k]->shape);
        ok = in[k] != NULL;
    }
    ag_node *ty = ok ? ag_rec_again(out, out->n_in, in) : NULL;
    if (in != inline_in) ag_free(in);
    return ty;
}
