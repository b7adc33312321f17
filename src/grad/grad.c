/* grad.c -- gradients recorded as nodes (ag_grad), so they can be
 * differentiated again.
 *
 * The walk is ag_backward's, with nodes for numbers: going down from the
 * root in reverse recording order, each node's cotangent (a node holding
 * d root / d node) is handed to its op's vjp_nodes, which records the
 * inputs' shares; a node reached from several consumers sums their shares
 * with ag_add. Only nodes between a wrt and the root take part: a share
 * sent to a node that reaches no wrt would be recorded for nothing. */
#include "../ops/recorded.h"

#include <string.h>

/* The walk's state: cotangent[i] for node index i (NULL: none yet), and
 * which nodes depend on a wrt (so a share sent there is wanted). */
typedef struct reverse_walk {
    ag_graph *g;
    size_t lo, hi;          /* node indices from the lowest wrt to the root */
    ag_node **cotangent;    /* [hi - lo + 1] */
    unsigned char *reaches; /* [hi - lo + 1]: 1 when a wrt is among the node's ancestors, or it */
} reverse_walk;

static bool wrt_are_valid(ag_graph *g, const ag_node *root, size_t n, ag_node *const *wrt,
                          ag_node **grads, const char *who, bool scalar_root)
{
    if (!g) return ag_graph_is_null(who);
    if (g->failed) return false;
    if (n && (!wrt || !grads)) {
        ag_graph_fail(g, "%s: wrt or grads is NULL (n = %zu)", who, n);
        return false;
    }
    const char *why = ag_not_in_graph(g, root);
    if (why[0]) {
        ag_graph_fail(g, "%s: root %s", who, why);
        return false;
    }
    if (scalar_root && root->shape.size != 1) {
        char shape[64];
        ag_graph_fail(g, "%s: root has shape (%s); it must be a scalar (one element)", who,
                      ag_shape_str(&root->shape, shape, sizeof shape));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        why = ag_not_in_graph(g, wrt[i]);
        if (why[0]) {
            ag_graph_fail(g, "%s: wrt[%zu] %s", who, i, why);
            return false;
        }
        if (wrt[i]->index > root->index) {
            ag_graph_fail(g, "%s: wrt[%zu] was recorded after root, so root cannot depend on it", who, i);
            return false;
        }
        if (!wrt[i]->grad) {
            ag_graph_fail(g, "%s: wrt[%zu] takes no gradient (it depends on no tensor that requires grad)",
                          who, i);
            return false;
        }
    }
    return true;
}

static bool walk_start(reverse_walk *w, ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt)
{
    w->g = g;
    w->hi = root->index;
    w->lo = root->index;
    for (size_t i = 0; i < n; i++)
        if (wrt[i]->index < w->lo) w->lo = wrt[i]->index;
    size_t count = w->hi - w->lo + 1;
    w->cotangent = ag_calloc(count, sizeof *w->cotangent);
    w->reaches = ag_calloc(count, 1);
    if (!w->cotangent || !w->reaches) {
        ag_graph_fail(g, "ag_grad: out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) w->reaches[wrt[i]->index - w->lo] = 1;
    /* forward in recording order: a node reaches a wrt when an input does */
    for (size_t i = w->lo; i <= w->hi; i++) {
        ag_node *node = g->nodes[i];
        for (uint32_t k = 0; k < node->n_in && !w->reaches[i - w->lo]; k++) {
            size_t at = node->inputs[k]->index;
            w->reaches[i - w->lo] = at >= w->lo && w->reaches[at - w->lo];
        }
    }
    return true;
}

static void walk_end(reverse_walk *w)
{
    ag_free(w->cotangent);
    ag_free(w->reaches);
}

/* Hand node's cotangent to its op and add the shares into its inputs'.
 * Nothing is recorded for an op that passes no gradient (a comparison) or
 * whose inputs lead to no wrt (d/dh of h = tanh(x) needs nothing of tanh):
 * ag_rec_takes_grad reads the walk's reach (g->recording). Every op with a
 * vjp has its vjp_nodes (the higher_order suite checks the registry). */
static bool send_shares(reverse_walk *w, ag_node *node, ag_node *gy)
{
    if (!node->kernels->vjp) return true;
    bool wanted = false;
    for (uint32_t k = 0; k < node->n_in && !wanted; k++) wanted = ag_rec_takes_grad(node, k);
    if (!wanted) return true;
    ag_node *inline_gx[AG_INLINE_INPUTS], **gx = ag_rec_node_list(w->g, node->n_in, inline_gx);
    if (!gx) return false;
    bool ok = node->op->vjp_nodes(node, gy, gx);
    for (uint32_t k = 0; ok && k < node->n_in; k++) {
        if (!gx[k] || !ag_rec_takes_grad(node, k)) continue;
        ag_node **acc = &w->cotangent[node->inputs[k]->index - w->lo];
        *acc = ag_rec_add(*acc, gx[k]);
        ok = *acc != NULL;
    }
    if (gx != inline_gx) ag_free(gx);
    return ok && !w->g->failed;
}

/* The recorded reverse walk from root's cotangent `seed`: cotangent[wrt]
 * for every wrt. */
static bool recorded_walk(reverse_walk *w, ag_node *seed)
{
    w->cotangent[w->hi - w->lo] = seed;
    for (size_t i = w->hi + 1; i-- > w->lo;) {
        ag_node *node = w->g->nodes[i]; /* re-read: recording may move the array */
        ag_node *gy = w->cotangent[i - w->lo];
        if (!gy || ag_node_is_leaf(node)) continue;
        if (!send_shares(w, node, gy)) return false;
    }
    return true;
}

static bool grad_recorded(ag_graph *g, ag_node *root, ag_node *seed, size_t n, ag_node *const *wrt,
                          ag_node **grads)
{
    reverse_walk w = {0};
    bool ok = walk_start(&w, g, root, n, wrt);
    if (ok) {
        /* the ops' vjp_nodes record only the shares that lead to a wrt */
        g->recording.reach = w.reaches;
        g->recording.lo = w.lo;
        ok = recorded_walk(&w, seed);
        g->recording.reach = NULL;
    }
    for (size_t i = 0; ok && i < n; i++) {
        grads[i] = w.cotangent[wrt[i]->index - w.lo];
        if (!grads[i]) grads[i] = ag_rec_zeros(g, &wrt[i]->shape);
        ok = grads[i] != NULL;
    }
    walk_end(&w);
    return ok;
}

/* Without create_graph: the numbers from the plain backward sweep, as
 * constants. Each wrt leaf gathers into a buffer of its own (so the
 * gradient is the node's alone, as the recorded one is) and every
 * parameter's gradient is restored afterwards. */
static bool grad_numbers(ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt, ag_node **grads)
{
    ag_saved_grads saved = {0};
    double **tensor_grad = ag_calloc(n + 1, sizeof *tensor_grad);
    bool ok = tensor_grad && ag_save_grads(g, &saved, AG_SAVE_LEAF_GRADS);
    for (size_t i = 0; ok && i < n; i++) {
        if (!ag_node_is_leaf(wrt[i]) || !wrt[i]->grad) continue;
        bool own = false; /* a wrt listed twice already has its own buffer */
        for (size_t j = 0; j < i; j++) own = own || wrt[j] == wrt[i];
        if (own) continue;
        tensor_grad[i] = wrt[i]->grad;
        wrt[i]->grad = ag_calloc(wrt[i]->shape.size, sizeof(double));
        if (!wrt[i]->grad) {
            wrt[i]->grad = tensor_grad[i];
            tensor_grad[i] = NULL;
            ok = false;
        }
    }
    if (!ok) ag_graph_fail(g, "ag_grad: out of memory");
    ok = ok && (!root->grad || ag_backward(g, root));
    for (size_t i = 0; ok && i < n; i++) {
        grads[i] = root->grad ? ag_constant(g, wrt[i]->shape.ndim, wrt[i]->shape.dims, wrt[i]->grad)
                              : ag_rec_zeros(g, &wrt[i]->shape);
        ok = grads[i] != NULL;
    }
    for (size_t i = 0; tensor_grad && i < n; i++) {
        if (!tensor_grad[i]) continue;
        ag_free(wrt[i]->grad);
        wrt[i]->grad = tensor_grad[i];
    }
    ag_restore_grads(g, &saved);
    ag_free(tensor_grad);
    return ok;
}

bool ag_grad(ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt, ag_node **grads,
             bool create_graph)
{
    return ag_grad_as("ag_grad", g, root, n, wrt, grads, create_graph);
}

/* grads[i] stay NULL unless the whole call went through */
static bool all_or_none(bool ok, size_t n, ag_node **grads)
{
    for (size_t i = 0; !ok && i < n; i++) grads[i] = NULL;
    return ok;
}

bool ag_grad_as(const char *who, ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt,
                ag_node **grads, bool create_graph)
{
    for (size_t i = 0; grads && i < n; i++) grads[i] = NULL;
    if (g && g->has_float32) {
        ag_graph_fail(g, "%s: the graph holds float32 nodes; ag_grad works in float64 (ag_backward "
                         "trains in float32)", who);
        return false;
    }
    if (!wrt_are_valid(g, root, n, wrt, grads, who, true)) return false;
    if (!create_graph) return all_or_none(grad_numbers(g, root, n, wrt, grads), n, grads);
    ag_node *seed = ag_rec_filled(g, &root->shape, 1.0);
    return all_or_none(seed && grad_recorded(g, root, seed, n, wrt, grads), n, grads);
}

bool ag_grad_seeded(ag_graph *g, ag_node *root, ag_node *seed, size_t n, ag_node *const *wrt,
                    ag_node **grads)
{
    for (size_t i = 0; grads && i < n; i++) grads[i] = NULL;
    if (!wrt_are_valid(g, root, n, wrt, grads, "ag_grad_seeded", false)) return false;
    const char *why = ag_not_in_graph(g, seed);
    if (why[0] || !ag_shape_equal(&seed->shape, &root->shape)) {
        ag_graph_fail(g, "ag_grad_seeded: seed %s", why[0] ? why : "has not root's shape");
        return false;
    }
    return all_or_none(grad_recorded(g, root, seed, n, wrt, grads), n, grads);
}
