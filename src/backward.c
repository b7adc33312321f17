/* backward.c -- the reverse-mode sweep and replay of a recorded graph.
 *
 * Recording order is a topological order (an op's inputs exist before it), so
 * the reverse walk needs no sort and no recursion: one pass zeroes the
 * intermediate gradients, a second walks down from the root, and each node it
 * reaches (marked by a consumer, all of which come after it) marks its inputs
 * and applies its vector-Jacobian product. */
#include "internal.h"

#include <string.h>

static bool root_is_valid(ag_graph *g, const ag_node *root, const char *who)
{
    if (!g) return false;
    if (g->failed) return false;
    if (!root) {
        ag_graph_fail(g, "%s: root is NULL (an earlier call failed?)", who);
        return false;
    }
    if (root->graph != g || root->index >= g->n_nodes || g->nodes[root->index] != root) {
        ag_graph_fail(g, "%s: root node is not in this graph (another graph, or recorded "
                         "before the last reset)", who);
        return false;
    }
    if (!root->grad) {
        ag_graph_fail(g, "%s: root does not depend on any tensor that requires grad (a tensor "
                         "marked after it was recorded counts from the next recording)", who);
        return false;
    }
    return true;
}

/* Zero every intermediate gradient (a loop for the many tiny buffers). */
static void zero_intermediate_grads(ag_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (!n->grad || n->leaf) continue;
        if (n->shape.size <= 8)
            for (size_t k = 0; k < n->shape.size; k++) n->grad[k] = 0.0;
        else
            memset(n->grad, 0, n->shape.size * sizeof(double));
    }
}

/* Mark the inputs of n that take a gradient: they are on the root's path. */
static void mark_inputs(ag_node *n)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k]->grad) n->in[k]->mark = 1;
}

bool ag_backward_seed(ag_graph *g, ag_node *root, const double *seed)
{
    if (!root_is_valid(g, root, "ag_backward")) return false;
    zero_intermediate_grads(g);
    double *root_grad = root->grad;
    if (root->leaf) {
        for (size_t i = 0; i < root->shape.size; i++) root_grad[i] += seed ? seed[i] : 1.0;
        return true;
    }
    root->mark = 1;
    for (size_t i = 0; i < root->shape.size; i++) root_grad[i] = seed ? seed[i] : 1.0;
    if (g->trace) ag_trace_begin(g, root);
    for (size_t i = root->index + 1; i-- > 0;) {
        ag_node *n = g->nodes[i];
        if (!n->mark) continue; /* final: every consumer of n came before */
        n->mark = 0;
        if (!n->op->vjp) continue;
        mark_inputs(n);
        if (g->trace)
            ag_trace_vjp(g, n, root);
        else
            n->op->vjp(n);
        if (g->detect_anomaly && !ag_check_input_grads(g, n)) {
            for (size_t k = i; k-- > 0;) g->nodes[k]->mark = 0; /* leave marks clean */
            return false;
        }
    }
    return true;
}

bool ag_backward(ag_graph *g, ag_node *root)
{
    if (root && root->shape.size != 1 && g && !g->failed) {
        char shape[64];
        ag_graph_fail(g, "ag_backward: root has shape (%s); backward needs a scalar root "
                         "(or ag_backward_seed with a seed gradient)",
                      ag_shape_str(&root->shape, shape, sizeof shape));
        return false;
    }
    return ag_backward_seed(g, root, NULL);
}

void ag_graph_zero_grad(ag_graph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (n->leaf && n->grad) memset(n->grad, 0, n->shape.size * sizeof(double));
    }
}

bool ag_graph_forward(ag_graph *g)
{
    if (g && g->failed && g->failed_in_replay) g->failed = false; /* new data, new try */
    if (!g || g->failed) return false;
    char why[256];
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (n->leaf || !n->op->forward) continue;
        bool ok = n->op->forward(n, why, sizeof why);
        if (!ok) ag_graph_fail(g, "ag_%s: %s", n->op->name, why);
        if (ok && g->detect_anomaly) ok = ag_check_value(g, n);
        if (!ok) {
            g->failed_in_replay = true;
            return false;
        }
    }
    return true;
}
