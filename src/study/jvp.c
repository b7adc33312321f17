/* jvp.c -- forward mode: push tangents through the recorded graph in
 * recording order, each op applying its Jacobian-vector product. */
#include "../internal.h"

#include <string.h>

/* Position of n among the seeds, or -1. */
static long seed_index(const ag_node *n, size_t n_seeds, ag_node *const *seeds)
{
    for (size_t i = 0; i < n_seeds; i++)
        if (seeds[i] == n) return (long)i;
    return -1;
}

static bool any_input_has_tangent(const ag_node *n)
{
    for (int k = 0; k < (int)n->n_in; k++)
        if (n->inputs[k]->tangent) return true;
    return false;
}

static bool seeds_are_valid(ag_graph *g, size_t n_seeds, ag_node *const *seeds,
                            const double *const *tangents)
{
    if (n_seeds && (!seeds || !tangents)) {
        ag_graph_fail(g, "ag_jvp: seeds or tangents is NULL");
        return false;
    }
    for (size_t i = 0; i < n_seeds; i++) {
        const ag_node *s = seeds[i];
        if (!s || s->graph != g || !tangents[i]) {
            ag_graph_fail(g, "ag_jvp: seed %zu is NULL, has no tangent, or is not in this graph", i);
            return false;
        }
        if (!ag_node_is_current(g, s)) {
            ag_graph_fail(g, "ag_jvp: seed %zu is a node recorded before the last reset of this graph", i);
            return false;
        }
    }
    return true;
}

bool ag_jvp_sweep(ag_graph *g, size_t n_seeds, ag_node *const *seeds, const double *const *tangents)
{
    if (!seeds_are_valid(g, n_seeds, seeds, tangents)) return false;
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        long s = seed_index(n, n_seeds, seeds);
        bool active = s >= 0 || (n->op->jvp && any_input_has_tangent(n));
        /* a node's buffer from the last sweep is reused (tangents are the
         * graph's own, never the caller's), so a repeated sweep from the
         * same seeds (a Hessian-vector product in a loop, ag_jacobian_fwd's
         * columns) allocates nothing */
        double *t = n->tangent;
        n->tangent = NULL;
        if (!active) continue;
        if (!t) t = ag_arena_alloc(&g->arena, n->shape.size * sizeof(double));
        if (!t) {
            ag_graph_fail(g, "ag_jvp: out of memory");
            return false;
        }
        if (s >= 0)
            memcpy(t, tangents[s], n->shape.size * sizeof(double));
        n->tangent = t;
        if (s < 0) n->op->jvp(n);
    }
    return true;
}

bool ag_jvp(ag_graph *g, size_t n_seeds, ag_node *const *seeds, const double *const *tangents)
{
    if (!ag_study_begin(g, "ag_jvp")) return false;
    return ag_study_end(g, "ag_jvp", ag_jvp_sweep(g, n_seeds, seeds, tangents));
}

const double *ag_node_tangent(const ag_node *n) { return n ? n->tangent : NULL; }
