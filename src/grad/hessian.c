/* hessian.c -- second derivatives of a scalar root with respect to one node,
 * from its gradient recorded as nodes (ag_grad with create_graph):
 *   H v    forward over reverse: one forward sweep (ag_jvp) over the
 *          recorded gradient G, seeded with v at wrt, gives G's tangent H v;
 *   H      reverse over reverse: row i = d G_i / d wrt, one backward sweep
 *          over G per row (ag_jacobian_rev), or forward over reverse: column
 *          j = H e_j, one forward sweep per column (ag_jacobian_fwd).
 * The recorded gradient is kept (g->second_order) and reused while nothing
 * new is recorded, so repeated products record it once. */
#include "../ops/recorded.h"

#include <limits.h>
#include <string.h>

/* G = d root / d wrt as nodes: the kept one when it is for this root and
 * wrt and the graph has not changed since, or newly recorded. */
static ag_node *recorded_gradient(ag_graph *g, ag_node *root, ag_node *wrt, const char *who)
{
    if (root && wrt && g->second_order.root == root && g->second_order.wrt == wrt &&
        g->second_order.n_nodes == g->n_nodes && ag_node_is_current(g, root))
        return (ag_node *)g->second_order.grad;
    ag_node *grad;
    if (!ag_grad_as(who, g, root, 1, &wrt, &grad, true)) return NULL;
    g->second_order.root = root;
    g->second_order.wrt = wrt;
    g->second_order.grad = grad;
    g->second_order.n_nodes = g->n_nodes;
    return grad;
}

static bool hvp(ag_graph *g, ag_node *root, ag_node *wrt, const double *v, double *hv)
{
    if (!v || !hv) {
        ag_graph_fail(g, "ag_hvp: %s is NULL", !v ? "v" : "hv");
        return false;
    }
    ag_node *grad = recorded_gradient(g, root, wrt, "ag_hvp");
    if (!grad) return false;
    if (!ag_jvp_sweep(g, 1, &wrt, &v)) return false;
    if (grad->tangent)
        memcpy(hv, grad->tangent, wrt->shape.size * sizeof(double));
    else /* the gradient does not depend on wrt: root is linear in it */
        memset(hv, 0, wrt->shape.size * sizeof(double));
    return true;
}

bool ag_hvp(ag_graph *g, ag_node *root, ag_node *wrt, const double *v, double *hv)
{
    if (!ag_study_begin(g, "ag_hvp")) return false;
    return ag_study_end(g, "ag_hvp", hvp(g, root, wrt, v, hv));
}

/* The Hessian from the recorded gradient by `jacobian` (either mode). */
static ag_tensor *hessian_by(ag_graph *g, ag_node *root, ag_node *wrt, const char *who,
                             ag_tensor *(*jacobian)(ag_graph *, ag_node *, ag_node *))
{
    ag_node *grad = recorded_gradient(g, root, wrt, who);
    if (!grad) return NULL;
    size_t n = wrt->shape.size;
    if (n > INT_MAX) {
        ag_graph_fail(g, "%s: wrt has %zu elements; a full Hessian takes at most %d", who, n, INT_MAX);
        return NULL;
    }
    /* the gradient is a constant, or a node recorded before wrt (mul's
     * share of x in x * y is y itself): it cannot depend on wrt */
    if (!grad->grad || grad->index < wrt->index) {
        ag_tensor *H = ag_tensor_zeros(2, (int[]){(int)n, (int)n});
        if (!H) ag_graph_fail(g, "%s: %s", who, ag_last_error());
        return H;
    }
    return jacobian(g, grad, wrt);
}

ag_tensor *ag_hessian(ag_graph *g, ag_node *root, ag_node *wrt)
{
    if (!ag_study_begin(g, "ag_hessian")) return NULL;
    return ag_study_end_tensor(g, "ag_hessian", hessian_by(g, root, wrt, "ag_hessian", ag_jacobian_rev_sweeps));
}

ag_tensor *ag_hessian_fwd(ag_graph *g, ag_node *root, ag_node *wrt)
{
    if (!ag_study_begin(g, "ag_hessian_fwd")) return NULL;
    return ag_study_end_tensor(g, "ag_hessian_fwd",
                               hessian_by(g, root, wrt, "ag_hessian_fwd", ag_jacobian_fwd_sweeps));
}
