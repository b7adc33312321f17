/* jacobian.c -- full Jacobians d(out)/d(wrt) by reverse mode (one VJP per
 * output element: row i = e_i^T J) and by forward mode (one JVP per input
 * element: column j = J e_j). */
#include "../internal.h"

#include <string.h>

const char *ag_not_in_graph(const ag_graph *g, const ag_node *n)
{
    if (!n) return "is NULL (an earlier call failed?)";
    if (n->graph != g) return "belongs to another graph";
    if (!ag_node_is_current(g, n))
        return "is a node recorded before the last reset of this graph";
    return "";
}

static ag_tensor *jacobian_alloc(ag_graph *g, const char *who, const ag_node *out,
                                 const ag_node *wrt)
{
    const char *why_out = ag_not_in_graph(g, out), *why_wrt = ag_not_in_graph(g, wrt);
    if (why_out[0] || why_wrt[0]) {
        ag_graph_fail(g, "%s: %s %s", who, why_out[0] ? "out" : "wrt", why_out[0] ? why_out : why_wrt);
        return NULL;
    }
    if (wrt->index > out->index) {
        ag_graph_fail(g, "%s: wrt was recorded after out, so out cannot depend on it", who);
        return NULL;
    }
    ag_tensor *J = ag_tensor_zeros(2, (int[]){(int)out->shape.size, (int)wrt->shape.size});
    if (!J) ag_graph_fail(g, "%s: %s", who, ag_last_error());
    return J;
}

bool ag_save_grads(ag_graph *g, ag_saved_grads *s, int which)
{
    s->count = g->n_nodes;
    s->intermediates = which == AG_SAVE_ALL_GRADS;
    s->copies = ag_calloc(s->count, sizeof *s->copies);
    if (!s->copies) return false;
    for (size_t i = 0; i < s->count; i++) {
        ag_node *n = g->nodes[i];
        if (!n->grad || (!s->intermediates && !ag_node_is_leaf(n))) continue;
        ag_node_grad_settle(n); /* saved as the zeros it counts as */
        s->copies[i] = ag_malloc(n->shape.size * sizeof(double));
        if (!s->copies[i]) return false;
        memcpy(s->copies[i], n->grad, n->shape.size * sizeof(double));
    }
    return true;
}

void ag_restore_grads(ag_graph *g, ag_saved_grads *s)
{
    for (size_t i = 0; s->copies && i < s->count; i++) {
        if (s->copies[i]) memcpy(g->nodes[i]->grad, s->copies[i], g->nodes[i]->shape.size * sizeof(double));
        ag_free(s->copies[i]);
    }
    ag_free(s->copies);
    /* the sweeps wrote the backward schedule down for their root: the next
     * backward walks afresh (zeroing every intermediate gradient first) */
    if (s->intermediates) g->schedule.walk_for = 0;
}

/* J when every sweep went through; otherwise J is freed and the graph fails
 * with "who: out of memory" (unless an earlier error stands: a sweep's own). */
static ag_tensor *jacobian_done(ag_graph *g, const char *who, ag_tensor *J, bool ok)
{
    if (ok) return J;
    ag_graph_fail(g, "%s: out of memory", who);
    ag_tensor_free(J);
    return NULL;
}

/* Row i = e_i^T J: one backward sweep from out seeded with e_i. Every
 * gradient of the graph (parameters' and intermediate nodes') is saved
 * first and restored after, so ag_node_grad and the graph's picture show
 * the last ag_backward's gradients again. */
ag_tensor *ag_jacobian_rev_sweeps(ag_graph *g, ag_node *out, ag_node *wrt)
{
    ag_tensor *J = jacobian_alloc(g, "ag_jacobian_rev", out, wrt);
    if (!J) return NULL;
    if (!wrt->grad || !out->grad) {
        ag_graph_fail(g, "ag_jacobian_rev: no gradient flows from out to wrt (make a tensor "
                         "it depends on require grad, or use ag_jacobian_fwd)");
        ag_tensor_free(J);
        return NULL;
    }
    size_t m = out->shape.size, n = wrt->shape.size;
    ag_saved_grads saved = {0};
    double *seed = ag_calloc(m, sizeof(double));
    bool ok = seed && ag_save_grads(g, &saved, AG_SAVE_ALL_GRADS);
    /* A leaf's gradient is its tensor's, shared by every leaf of that tensor
     * (y = p1 * p2 with p1, p2 leaves of one tensor would give dy/dp1 +
     * dy/dp2): for the sweeps wrt gathers into a buffer of its own, so the
     * rows are d out / d wrt for this node alone, as forward mode's are. */
    double *tensor_grad = wrt->grad, *own = NULL;
    if (ok && ag_node_is_leaf(wrt)) {
        own = ag_calloc(n, sizeof(double));
        ok = own != NULL;
        if (ok) wrt->grad = own;
    }
    for (size_t i = 0; ok && i < m; i++) {
        ag_graph_zero_grad(g); /* leaves accumulate; each row starts from zero */
        seed[i] = 1.0;
        ok = ag_backward_seed(g, out, seed);
        seed[i] = 0.0;
        if (ok) memcpy(J->data + i * n, wrt->grad, n * sizeof(double));
    }
    wrt->grad = tensor_grad;
    ag_free(own);
    ag_restore_grads(g, &saved);
    ag_free(seed);
    return jacobian_done(g, "ag_jacobian_rev", J, ok);
}

/* Column j = J e_j: one forward sweep with tangent e_j at wrt. */
ag_tensor *ag_jacobian_fwd_sweeps(ag_graph *g, ag_node *out, ag_node *wrt)
{
    ag_tensor *J = jacobian_alloc(g, "ag_jacobian_fwd", out, wrt);
    if (!J) return NULL;
    size_t m = out->shape.size, n = wrt->shape.size;
    double *tangent = ag_calloc(n, sizeof(double));
    bool ok = tangent != NULL;
    for (size_t j = 0; ok && j < n; j++) {
        tangent[j] = 1.0;
        ok = ag_jvp_sweep(g, 1, &wrt, (const double *const[]){tangent});
        tangent[j] = 0.0;
        for (size_t i = 0; ok && i < m; i++) J->data[i * n + j] = out->tangent ? out->tangent[i] : 0.0;
    }
    ag_free(tangent);
    return jacobian_done(g, "ag_jacobian_fwd", J, ok);
}

ag_tensor *ag_jacobian_rev(ag_graph *g, ag_node *out, ag_node *wrt)
{
    if (!ag_study_begin(g, "ag_jacobian_rev")) return NULL;
    return ag_study_end_tensor(g, "ag_jacobian_rev", ag_jacobian_rev_sweeps(g, out, wrt));
}

ag_tensor *ag_jacobian_fwd(ag_graph *g, ag_node *out, ag_node *wrt)
{
    if (!ag_study_begin(g, "ag_jacobian_fwd")) return NULL;
    return ag_study_end_tensor(g, "ag_jacobian_fwd", ag_jacobian_fwd_sweeps(g, out, wrt));
}
