/* jvp_nodes.c -- forward mode recorded as nodes (ag_jvp_nodes): ag_jvp's
 * sweep in recording order, each op's jvp_nodes recording its output's
 * tangent from its inputs' tangent nodes, so the tangents can be
 * differentiated again (forward over forward, reverse over forward). Only
 * the nodes the outputs depend on get a tangent (wanted_tangents). */
#include "../ops/recorded.h"

static bool seeds_are_valid(ag_graph *g, size_t n_seeds, ag_node *const *seeds, ag_node *const *tangents,
                            size_t n_out, ag_node *const *outs, ag_node **out_tangents)
{
    static const char who[] = "ag_jvp_nodes";
    if (!g) return ag_graph_is_null(who);
    if (g->failed) return false;
    if ((n_seeds && (!seeds || !tangents)) || (n_out && (!outs || !out_tangents))) {
        ag_graph_fail(g, "%s: seeds, tangents, outs or out_tangents is NULL", who);
        return false;
    }
    for (size_t i = 0; i < n_seeds; i++) {
        const char *why = ag_not_in_graph(g, seeds[i]);
        if (!why[0]) why = ag_not_in_graph(g, tangents[i]);
        if (why[0]) {
            ag_graph_fail(g, "%s: %s[%zu] %s", who, ag_not_in_graph(g, seeds[i])[0] ? "seeds" : "tangents",
                          i, why);
            return false;
        }
        if (!ag_shape_equal(&seeds[i]->shape, &tangents[i]->shape)) {
            char a[64], b[64];
            ag_graph_fail(g, "%s: tangents[%zu] has shape (%s), its seed (%s)", who, i,
                          ag_shape_str(&tangents[i]->shape, a, sizeof a),
                          ag_shape_str(&seeds[i]->shape, b, sizeof b));
            return false;
        }
    }
    for (size_t j = 0; j < n_out; j++) {
        const char *why = ag_not_in_graph(g, outs[j]);
        if (why[0]) {
            ag_graph_fail(g, "%s: outs[%zu] %s", who, j, why);
            return false;
        }
    }
    return true;
}

/* The tangent node of `node` from its inputs' (tangent[] by node index from
 * lo; NULL: zero), or NULL when none of them has one (or on failure). An op
 * without a jvp (a comparison) is piecewise constant: no tangent, as in
 * ag_jvp; every other op has its jvp_nodes (checked by the higher_order
 * suite). */
static ag_node *node_tangent(ag_graph *g, ag_node *node, ag_node **tangent, size_t lo)
{
    if (!node->op->jvp) return NULL;
    ag_node *inline_tx[AG_INLINE_INPUTS], **tx = ag_rec_node_list(g, node->n_in, inline_tx);
    if (!tx) return NULL;
    bool any = false;
    for (uint32_t k = 0; k < node->n_in; k++) {
        size_t at = node->inputs[k]->index;
        tx[k] = at >= lo ? tangent[at - lo] : NULL;
        any = any || tx[k];
    }
    ag_node *t = any ? node->op->jvp_nodes(node, tx) : NULL;
    if (tx != inline_tx) ag_free(tx);
    return t;
}

/* wanted[i - lo] = 1 for the nodes from lo to hi whose tangent an output
 * needs: the outputs, and going down, the inputs of a wanted node whose op
 * has a forward derivative. A node no output depends on (the loss beside
 * its recorded gradient, when the tangent of the gradient is asked for)
 * records no tangent. */
static unsigned char *wanted_tangents(ag_graph *g, size_t lo, size_t hi, size_t n_out, ag_node *const *outs)
{
    unsigned char *wanted = ag_calloc(hi - lo + 1, 1);
    if (!wanted) return NULL;
    for (size_t j = 0; j < n_out; j++)
        if (outs[j]->index >= lo) wanted[outs[j]->index - lo] = 1;
    for (size_t i = hi + 1; i-- > lo;) {
        const ag_node *node = g->nodes[i];
        if (!wanted[i - lo] || ag_node_is_leaf(node) || !node->op->jvp) continue;
        for (uint32_t k = 0; k < node->n_in; k++) {
            size_t at = node->inputs[k]->index;
            if (at >= lo) wanted[at - lo] = 1;
        }
    }
    return wanted;
}

bool ag_jvp_nodes(ag_graph *g, size_t n_seeds, ag_node *const *seeds, ag_node *const *tangents,
                  size_t n_out, ag_node *const *outs, ag_node **out_tangents)
{
    for (size_t j = 0; out_tangents && j < n_out; j++) out_tangents[j] = NULL;
    if (!seeds_are_valid(g, n_seeds, seeds, tangents, n_out, outs, out_tangents)) return false;
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t i = 0; i < n_seeds; i++) lo = seeds[i]->index < lo ? seeds[i]->index : lo;
    for (size_t j = 0; j < n_out; j++) hi = outs[j]->index > hi ? outs[j]->index : hi;
    bool ok = true;
    ag_node **tangent = NULL;
    unsigned char *wanted = NULL;
    if (n_seeds && lo <= hi) {
        tangent = ag_calloc(hi - lo + 1, sizeof *tangent);
        wanted = wanted_tangents(g, lo, hi, n_out, outs);
        ok = tangent && wanted;
        if (!ok) ag_graph_fail(g, "ag_jvp_nodes: out of memory");
    }
    for (size_t i = 0; ok && tangent && i < n_seeds; i++) {
        if (seeds[i]->index > hi) continue; /* after every output: no output depends on it */
        ag_node **t = &tangent[seeds[i]->index - lo];
        if (!*t) *t = tangents[i]; /* a seed listed twice keeps its first tangent, as in ag_jvp */
    }
    for (size_t i = lo + 1; ok && tangent && i <= hi; i++) {
        ag_node *node = g->nodes[i]; /* re-read: recording may move the array */
        if (ag_node_is_leaf(node) || tangent[i - lo] || !wanted[i - lo]) continue; /* a seed keeps its tangent */
        tangent[i - lo] = node_tangent(g, node, tangent, lo);
        ok = !g->failed;
    }
    for (size_t j = 0; ok && j < n_out; j++) {
        size_t at = outs[j]->index;
        out_tangents[j] = tangent && at >= lo ? tangent[at - lo] : NULL;
        if (!out_tangents[j]) out_tangents[j] = ag_rec_zeros(g, &outs[j]->shape);
        ok = out_tangents[j] != NULL;
    }
    ag_free(tangent);
    ag_free(wanted);
    if (!ok)
        for (size_t j = 0; j < n_out; j++) out_tangents[j] = NULL;
    return ok;
}
