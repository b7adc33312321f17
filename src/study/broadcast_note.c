/* broadcast_note.c -- where a surprising shape came from.
 *
 * With column vectors a 1-d bias is the classic slip: W1 x is [4,1], b1
 * given as [4] instead of [4,1], and ag_add, following NumPy's rules (as
 * PyTorch), pairs the [4,1] column with the [4] row into every sum b1[j] +
 * (W1 x)[i], a [4,4] matrix. That is no error, so the error comes ops later,
 * where a shape stops fitting, far from its cause. A shape error then adds
 * a note naming the nearest such broadcast among the failing node's
 * ancestors: an elementwise op of two operands, a column [r,1] and a row
 * ([c] or [1,c]), that made an [r,c] matrix (r, c > 1). A product's outer
 * product ([r,1] @ [1,c]) is meant, and never named. Runs on the error
 * path only. */
#include "../internal.h"

#include <string.h>

static bool is_column(const ag_shape *s) { return s->ndim == 2 && s->dims[0] > 1 && s->dims[1] == 1; }
static bool is_row(const ag_shape *s)
{
    return (s->ndim == 1 && s->dims[0] > 1) || (s->ndim == 2 && s->dims[0] == 1 && s->dims[1] > 1);
}

/* n is an elementwise op that broadcast a column and a row into a matrix */
static bool column_meets_row(const ag_node *n)
{
    if (n->n_in != 2 || n->shape.ndim != 2 || (n->op->symbol && strcmp(n->op->symbol, "@") == 0)) return false;
    const ag_shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
    return (is_column(a) && is_row(b)) || (is_row(a) && is_column(b));
}

void ag_broadcast_note(const ag_node *failed, char *buf, size_t len)
{
    buf[0] = '\0';
    const ag_graph *g = failed->graph;
    size_t top = 0;
    for (uint32_t k = 0; k < failed->n_in; k++)
        if (failed->inputs[k]->index + 1 > top) top = failed->inputs[k]->index + 1;
    unsigned char *ancestor = ag_calloc(top ? top : 1, 1);
    if (!ancestor) return; /* no note then; the error itself stands */
    for (uint32_t k = 0; k < failed->n_in; k++) ancestor[failed->inputs[k]->index] = 1;
    /* down the recording order, the nearest ancestor first */
    for (size_t i = top; i-- > 0;) {
        if (!ancestor[i]) continue;
        const ag_node *n = g->nodes[i];
        if (column_meets_row(n)) {
            char label[64], a[32], b[32], y[32];
            snprintf(buf, len, " (note: the (%s) of %s = ag_%s((%s), (%s)) is a column and a row "
                               "broadcast to every pair, by NumPy's rules; with column vectors a bias is "
                               "a column too, [%d,1])",
                     ag_shape_str(&n->shape, y, sizeof y), ag_node_label(n, label, sizeof label), n->op->name,
                     ag_shape_str(&n->in[0]->shape, a, sizeof a), ag_shape_str(&n->in[1]->shape, b, sizeof b),
                     n->shape.dims[0]);
            break;
        }
        for (uint32_t k = 0; k < n->n_in; k++) ancestor[n->inputs[k]->index] = 1;
    }
    ag_free(ancestor);
}
