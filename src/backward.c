/* backward.c -- the reverse-mode sweep and replay of a recorded graph.
 *
 * Recording order is a topological order (an op's inputs exist before it), so
 * the reverse walk needs no sort and no recursion: it goes down from the
 * root, and each node it reaches (marked by a consumer, all of which come
 * after it) marks its inputs and applies its vector-Jacobian product.
 *
 * Replay: the walk writes down what it did (the schedule, see internal.h);
 * the next backward from the same root on the unchanged graph runs that
 * list straight through. ag_graph_forward likewise keeps the list of nodes
 * to recompute. */
#include "internal.h"

static bool root_is_valid(ag_graph *g, const ag_node *root, const char *who)
{
    if (!g) return ag_graph_is_null(who);
    if (g->failed) return false;
    if (!root) {
        ag_graph_fail(g, "%s: root is NULL (an earlier call failed?)", who);
        return false;
    }
    if (root->graph != g) {
        ag_graph_fail(g, "%s: root node is not in this graph (it belongs to another graph)", who);
        return false;
    }
    if (!ag_node_is_current(g, root)) {
        ag_graph_fail(g, "%s: root is a node recorded before the last reset of this graph "
                         "(ag_graph_reset releases every node)", who);
        return false;
    }
    if (!root->grad) {
        ag_graph_fail(g, "%s: root does not depend on any tensor that requires grad (a tensor "
                         "marked after it was recorded counts from the next recording)", who);
        return false;
    }
    return true;
}

/* Room for the lists of the schedule: the forward list and the walk (at
 * most one entry per node each), the sweep (at most two: a node's vjp and
 * the zeroing of its gradient); the graph fails when memory is short. */
static bool schedule_reserve(ag_graph *g, const char *who)
{
    ag_schedule *s = &g->schedule;
    if (s->capacity < 4 * g->n_nodes) {
        size_t cap = 4 * g->cap_nodes;
        ag_node **grown = ag_realloc(s->storage, cap * sizeof *grown);
        if (!grown) {
            ag_graph_fail(g, "%s: out of memory", who);
            return false;
        }
        s->storage = grown;
        s->capacity = cap;
        s->forward_for = s->walk_for = 0; /* the lists moved */
    }
    return true;
}

/* The three lists in the schedule's storage. */
static ag_node **forward_list(const ag_schedule *s) { return s->storage; }
static ag_node **walk_list(const ag_schedule *s) { return s->storage + s->capacity / 4; }
static ag_node **sweep_list(const ag_schedule *s) { return s->storage + s->capacity / 2; }

/* A sweep entry is a node whose vjp runs, or, tagged in the pointer's low
 * bit (nodes are 8-byte aligned), a node whose gradient is zeroed: each
 * node's, just before the first vjp that adds to it. A repeated backward
 * then clears a gradient while it is about to be written, instead of in a
 * pass over every gradient of the walk first, which reads each node twice. */
static ag_node *zeroing_entry(ag_node *n) { return (ag_node *)((uintptr_t)n | 1u); }
static bool entry_zeroes(const ag_node *e) { return (uintptr_t)e & 1u; }
static ag_node *entry_node(ag_node *e) { return (ag_node *)((uintptr_t)e & ~(uintptr_t)1u); }

/* Zero every intermediate gradient: a backward ran before, possibly from
 * another root, so even nodes this walk does not reach hold old values. */
static void zero_intermediate_grads(ag_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (n->grad && !ag_node_is_leaf(n)) ag_zero_typed(n->grad, n->shape.size, n->dtype);
    }
}

/* The same for the float32 ones alone but the root's, which holds its seed
 * (a scheduled sweep's entries zero the others) */
__attribute__((noinline)) static void zero_float32_intermediate_grads(ag_graph *g, const ag_node *root)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (n->grad && !ag_node_is_leaf(n) && n->dtype == AG_FLOAT32 && n != root)
            ag_zero_floats(AG_F32(n->grad), n->shape.size);
    }
}

/* Before n's vjp, with zeros pending somewhere: write those of n's
 * parameter inputs, unless n's vjp takes them itself (not while tracing,
 * which prints each input's gradient before and after the vjp). */
static void settle_inputs(const ag_graph *g, const ag_node *n)
{
    if (ag_vjp_takes_pending_zero(n) && !g->trace) return;
    for (uint32_t k = 0, count = n->n_in; k < count; k++) ag_node_grad_settle(n->inputs[k]);
}

/* Mark the inputs of n that take a gradient: they are on the root's path. */
static ALWAYS_INLINE void mark_inputs(const ag_node *n)
{
    /* the list and its length read once: a store to a mark (a char) could
     * otherwise change them, as far as the compiler knows */
    ag_node *const *in = n->inputs;
    for (uint32_t k = 0, count = n->n_in; k < count; k++)
        if (in[k]->grad) in[k]->mark = 1;
}

/* The walk from the root (whose gradient is seeded), writing the schedule
 * down; `settle`: some gradient has a zero pending (the plain walk, the
 * common case, pays nothing for them). */
static ALWAYS_INLINE bool walk_from(ag_graph *g, ag_node *root, const bool settle)
{
    ag_schedule *s = &g->schedule;
    ag_node **walk = walk_list(s);
    size_t n_walk = 0;
    root->mark = 1;
    if (g->trace) ag_trace_begin(g, root);
    for (size_t i = root->index + 1; i-- > 0;) {
        ag_node *n = g->nodes[i];
        if (!n->mark) continue; /* final: every consumer of n came before */
        n->mark = 0;
        if (ag_node_is_leaf(n) || !n->kernels->vjp) continue;
        walk[n_walk++] = n;
        if (settle) settle_inputs(g, n);
        mark_inputs(n);
        if (g->trace)
            ag_trace_vjp(g, n, root);
        else
            n->kernels->vjp(n);
        if (g->detect_anomaly && !ag_check_input_grads(g, n)) {
            for (size_t k = i; k-- > 0;) g->nodes[k]->mark = 0; /* leave marks clean */
            return false;
        }
    }
    s->n_walk = n_walk;
    s->n_sweep = 0; /* written by the first repeat */
    s->walk_for = g->n_nodes;
    s->root = root;
    return true;
}

__attribute__((noinline)) static bool walk_settling(ag_graph *g, ag_node *root)
{
    return walk_from(g, root, true);
}

static bool backward_walk(ag_graph *g, ag_node *root)
{
    if (__builtin_expect(ag_grad_zeros_pending() != 0, 0)) return walk_settling(g, root);
    return walk_from(g, root, false);
}

/* How many entries ahead a long sweep asks for the node it will read:
 * on a long graph of tiny nodes (GradBench's lstm: 10^5 to 10^6 nodes of 14
 * elements) the sweep waits on each node's header, read from memory; asked
 * for 32 entries ahead, it is in cache when its turn comes (a quarter off
 * the sweep there, see the commit). A walk of fewer than PREFETCH_FROM
 * entries (TestNet's: a dozen) is in cache anyway and is not asked for. */
#define PREFETCH_AHEAD 32
#define PREFETCH_FROM 4096

/* Ask for the first two cache lines of a node (op, inputs, shape, value and
 * gradient pointers). */
static ALWAYS_INLINE void prefetch_node(const ag_node *n)
{
    __builtin_prefetch(n);
    __builtin_prefetch((const char *)n + 64);
}

/* The sweep from the walk (its vjps in order): ahead of each vjp, the
 * zeroing of the gradients of its inputs that no earlier vjp adds to (not
 * marked yet; leaves are left out, their gradients accumulate). The marks
 * are cleared again after. Written once, by the first repeat of a walk, so
 * a backward that is never repeated (a graph recorded anew each step)
 * does not pay for it. A float32 node gets no zeroing entry (the entries
 * zero doubles): backward_scheduled zeroes those gradients before the
 * sweep, in a graph that has them. */
static void write_sweep(ag_schedule *s)
{
    ag_node *const *walk = walk_list(s);
    ag_node **sweep = sweep_list(s);
    size_t n = 0;
    for (size_t k = 0; k < s->n_walk; k++) {
        ag_node *const *in = walk[k]->inputs;
        for (uint32_t j = 0, count = walk[k]->n_in; j < count; j++) {
            ag_node *x = in[j];
            if (x->grad && !x->mark && !ag_node_is_leaf(x)) {
                x->mark = 1;
                if (x->dtype == AG_FLOAT64) sweep[n++] = zeroing_entry(x);
            }
        }
        sweep[n++] = walk[k];
    }
    for (size_t k = 0; k < s->n_walk; k++) /* every mark set above, zeroing entry or not */
        for (uint32_t j = 0, count = walk[k]->n_in; j < count; j++) walk[k]->inputs[j]->mark = 0;
    s->n_sweep = n;
}

/* sweep[0 .. n): zero the tagged entries' gradients, run the others' vjps;
 * `settle`: some gradient has a zero pending (as in the walk) */
static ALWAYS_INLINE void run_sweep(const ag_graph *g, ag_node *const *sweep, size_t n, bool prefetch,
                                    bool settle)
{
    for (size_t k = 0; k < n; k++) {
        ag_node *e = sweep[k];
        if (prefetch && k + PREFETCH_AHEAD < n) prefetch_node(entry_node(sweep[k + PREFETCH_AHEAD]));
        if (entry_zeroes(e)) {
            ag_node *x = entry_node(e);
            ag_zero_doubles(x->grad, x->shape.size);
        } else {
            if (settle) settle_inputs(g, e);
            e->kernels->vjp(e);
        }
    }
}

__attribute__((noinline)) static void run_sweep_settling(const ag_graph *g, ag_node *const *sweep, size_t n)
{
    run_sweep(g, sweep, n, n >= PREFETCH_FROM, true);
}

/* A repeat of the scheduled walk: the same vjps in the same order, each
 * gradient but the root's (seeded) zeroed before the first adds to it. */
static void backward_scheduled(ag_graph *g)
{
    ag_schedule *s = &g->schedule;
    if (!s->n_sweep) write_sweep(s);
    if (__builtin_expect(g->has_float32, 0)) zero_float32_intermediate_grads(g, s->root);
    if (__builtin_expect(ag_grad_zeros_pending() != 0, 0))
        run_sweep_settling(g, sweep_list(s), s->n_sweep);
    else if (s->n_sweep >= PREFETCH_FROM)
        run_sweep(g, sweep_list(s), s->n_sweep, true, false);
    else
        run_sweep(g, sweep_list(s), s->n_sweep, false, false);
}

/* The root's gradient: the seed (all ones when NULL), written or, for a
 * leaf root whose gradient accumulates, added. */
static inline void seed_root(ag_node *root, const double *seed, bool add)
{
    if (root->dtype == AG_FLOAT32) { /* the seed rounded to float */
        float *g = AG_F32(root->grad);
        for (size_t i = 0; i < root->shape.size; i++) {
            float s = seed ? (float)seed[i] : 1.0f;
            g[i] = add ? g[i] + s : s;
        }
        return;
    }
    for (size_t i = 0; i < root->shape.size; i++) {
        double s = seed ? seed[i] : 1.0;
        root->grad[i] = add ? root->grad[i] + s : s;
    }
}

static bool schedule_fits(const ag_graph *g, const ag_node *root)
{
    const ag_schedule *s = &g->schedule;
    return s->walk_for == g->n_nodes && s->root == root && !g->trace && !g->detect_anomaly;
}

/* ag_backward_seed's body, inlined into ag_backward too: a replayed step's
 * backward then costs one call */
static ALWAYS_INLINE bool backward_from(ag_graph *g, ag_node *root, const double *seed,
                                        const char *who)
{
    /* the same root as the last walk on the unchanged graph: it was valid then */
    if (g && !g->failed && root && schedule_fits(g, root)) {
        seed_root(root, seed, false);
        backward_scheduled(g);
        return true;
    }
    if (!root_is_valid(g, root, who)) return false;
    if (g->trace && g->has_float32) {
        ag_graph_fail(g, "%s: the trace prints float64 graphs only (this one holds float32 nodes)", who);
        return false;
    }
    if (g->detect_anomaly && !ag_check_leaf_grads(g)) return false;
    if (ag_node_is_leaf(root)) {
        ag_node_grad_settle(root); /* the seed adds to its gradient */
        seed_root(root, seed, true);
        return true;
    }
    if (!schedule_reserve(g, who)) return false;
    g->schedule.walk_for = 0; /* until this walk completes */
    if (g->grads_dirty) zero_intermediate_grads(g);
    g->grads_dirty = true;
    seed_root(root, seed, false);
    return backward_walk(g, root);
}

bool ag_backward_seed(ag_graph *g, ag_node *root, const double *seed)
{
    return backward_from(g, root, seed, "ag_backward_seed");
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
    return backward_from(g, root, NULL, "ag_backward");
}

void ag_graph_zero_grad(ag_graph *g)
{
    if (!g) {
        ag_graph_is_null("ag_graph_zero_grad");
        return;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        if (!ag_node_is_leaf(n) || !n->grad) continue;
        ag_node_grad_settle(n); /* then zeroed again: no pending mark left */
        ag_zero_typed(n->grad, n->shape.size, n->dtype);
    }
}

/* The nodes ag_graph_forward recomputes: every one with a forward, in
 * recording order (leaves hold the user's tensors and need nothing). */
static bool forward_schedule(ag_graph *g)
{
    ag_schedule *s = &g->schedule;
    if (s->forward_for == g->n_nodes) return true;
    if (!schedule_reserve(g, "ag_graph_forward")) return false;
    ag_node **forward = forward_list(s);
    size_t count = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->kernels->forward) forward[count++] = g->nodes[i];
    s->n_forward = count;
    s->forward_for = g->n_nodes;
    return true;
}

/* A replay stopped at node n: its op refused the data (why) or, with
 * anomaly detection on, produced a NaN or an Inf (why NULL, error set). */
static bool replay_failed(ag_graph *g, const ag_node *n, const char *why)
{
    if (why) ag_graph_fail(g, "ag_%s: %s", n->op->name, why);
    g->failed_in_replay = true;
    return false;
}

bool ag_graph_forward(ag_graph *g)
{
    if (!g) return ag_graph_is_null("ag_graph_forward");
    if (g->failed && g->failed_in_replay) g->failed = false; /* new data, new try */
    if (g->failed) return false;
    if (!forward_schedule(g)) return false;
    const ag_schedule *s = &g->schedule;
    ag_node **forward = forward_list(s);
    char why[256];
    for (size_t k = 0; k < s->n_forward; k++) {
        ag_node *n = forward[k];
        if (!n->kernels->forward(n, why, sizeof why)) return replay_failed(g, n, why);
        if (g->detect_anomaly && !ag_check_value(g, n)) return replay_failed(g, n, NULL);
    }
    return true;
}
