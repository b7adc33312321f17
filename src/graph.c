/* graph.c -- the graph: recording nodes into the arena, leaves, the sticky
 * error, reset, and node accessors. */
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* The next graph stamp: one counter for all graphs and threads, so two
 * graphs or two generations of one never share a stamp (2^64 never wraps). */
static uint64_t next_stamp(void)
{
    static atomic_uint_fast64_t counter = 1;
    return (uint64_t)atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

ag_graph *ag_graph_new(void)
{
    ag_graph *g = ag_calloc(1, sizeof *g);
    if (!g) {
        ag_set_last_error("ag_graph_new: out of memory");
        return NULL;
    }
    g->stamp = next_stamp();
    return g;
}

void ag_graph_free(ag_graph *g)
{
    if (!g) return;
    ag_arena_release(&g->node_arena);
    ag_arena_release(&g->arena);
    ag_free(g->nodes);
    ag_free(g->schedule.storage);
    ag_free(g);
}

void ag_graph_reset(ag_graph *g)
{
    if (!g) return;
    ag_arena_reset(&g->node_arena);
    ag_arena_reset(&g->arena);
    g->stamp = next_stamp(); /* every node recorded so far is stale */
    g->n_nodes = 0;
    g->failed = false;
    g->failed_in_replay = false;
    g->study_failed = false;
    g->error[0] = '\0';
    g->grads_dirty = false;
    g->has_float32 = false;
    memset(&g->second_order, 0, sizeof g->second_order); /* its gradient node was released */
    g->rec_constants.count = 0;
    ag_schedule *s = &g->schedule;
    s->forward_for = s->walk_for = s->n_forward = s->n_walk = 0;
    s->root = NULL;
}

__attribute__((noinline, cold)) bool ag_graph_is_null(const char *who)
{
    ag_set_last_error("%s: graph is NULL", who);
    return false;
}

const char *ag_graph_error(const ag_graph *g)
{
    if (!g) return "graph is NULL";
    return g->failed || g->study_failed ? g->error : NULL;
}

size_t ag_graph_size(const ag_graph *g) { return g ? g->n_nodes : 0; }

size_t ag_graph_bytes(const ag_graph *g)
{
    if (!g) return 0;
    return sizeof *g + ag_arena_capacity(&g->node_arena) + ag_arena_capacity(&g->arena) +
           g->cap_nodes * sizeof *g->nodes +
           g->schedule.capacity * sizeof *g->schedule.storage;
}

void ag_graph_fail(ag_graph *g, const char *fmt, ...)
{
    if (g->failed) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, args);
    va_end(args);
    g->failed = true;
    g->failed_in_replay = false;
    g->study_failed = false; /* the graph's own error replaces a study call's message */
}

/* Grow the recording-order array (kept across reset). */
__attribute__((noinline)) static bool grow_nodes(ag_graph *g)
{
    size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 256;
    if (cap > UINT32_MAX) return false;
    ag_node **grown = ag_realloc(g->nodes, cap * sizeof *grown);
    if (!grown) return false;
    g->nodes = grown;
    g->cap_nodes = cap;
    return true;
}

/* Append `node` to the recording order. */
static inline bool push_node(ag_graph *g, ag_node *node)
{
    if (g->n_nodes == g->cap_nodes && !grow_nodes(g)) return false;
    node->index = (uint32_t)g->n_nodes;
    g->nodes[g->n_nodes++] = node;
    g->study_failed = false; /* a study call's message is about the graph before this node */
    return true;
}

static double *arena_doubles(ag_graph *g, size_t count)
{
    return ag_arena_alloc(&g->arena, count * sizeof(double));
}

__attribute__((noinline, cold)) static void node_out_of_memory(ag_graph *g, const ag_op *op)
{
    ag_graph_fail(g, "ag_%s: out of memory", op->name);
}

/* A fresh zeroed node for `op` in g's node arena; NULL (graph failed) on OOM.
 * Inlined (its call cost as much as its body), the failure out of line. */
static ALWAYS_INLINE ag_node *node_new(ag_graph *g, const ag_op *op)
{
    ag_node *n = ag_arena_alloc(&g->node_arena, sizeof *n);
    if (!n) {
        node_out_of_memory(g, op);
        return NULL;
    }
    /* field by field (a new field goes here too): GCC zeroes a whole struct
     * with `rep stos`, slow to start */
    n->op = op;
    n->kernels = &op->kernels;
    n->graph = g;
    /* in[], inputs: written by the caller (node_inputs, leaf_new) */
    /* shape: set by every caller (a leaf from its tensor, an op's node by
     * its shape rule or the proposed shape) */
    n->grad = n->tangent = n->aux = NULL; /* value: set by every caller */
    n->name = NULL;
    n->params = NULL;
    n->stamp = g->stamp;
    n->n_in = n->mark = n->dtype = 0; /* index: set by push_node; float64 until said otherwise */
    return n;
}

/* The separator before operand k in an error message: "(4x3) @ (3x1)",
 * linear's bias after " + ", "(2x3) and (4)" for two operands of an op
 * without a symbol, and ", " between longer lists ("(2), (3), (1)"). */
static const char *operand_separator(const ag_node *n, uint32_t k)
{
    if (k == 0) return "";
    if (n->op->symbol) return k == 1 ? " " : (k == 2 ? " + " : ", ");
    return n->n_in == 2 ? " and " : ", ";
}

/* Describe the operands' shapes for an error message, cut with "..." when
 * they do not fit (a concat of many). */
static void describe_operands(const ag_node *n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t k = 0; k < n->n_in; k++) {
        char shape[64];
        const char *symbol = k == 1 && n->op->symbol ? n->op->symbol : "";
        int w = snprintf(buf + used, len - used, "%s%s%s(%s)", operand_separator(n, k), symbol,
                         symbol[0] ? " " : "", ag_shape_str(&n->inputs[k]->shape, shape, sizeof shape));
        if (w < 0 || (size_t)w >= len - used) {
            if (len >= 4) memcpy(buf + len - 4, "...", 4);
            return;
        }
        used += (size_t)w;
    }
}

/* The forward refused the values (a label out of range): "ag_op: why". */
__attribute__((noinline, cold)) static void forward_failed(ag_graph *g, const ag_op *op, const char *why)
{
    ag_graph_fail(g, "ag_%s: %s", op->name, why);
}

/* The shape rule refused the operands: "ag_matmul: (4x3) @ (2x1): why".
 * Out of line, so recording keeps a small stack frame. */
__attribute__((noinline, cold)) static void shape_failed(ag_graph *g, const ag_node *n,
                                                         const char *why)
{
    char operands[224], note[256];
    describe_operands(n, operands, sizeof operands);
    ag_broadcast_note(n, note, sizeof note);
    ag_graph_fail(g, "ag_%s: %s: %s%s", n->op->name, operands, why, note);
}

/* Allocate value, gradient and op-private buffers after the shape is known:
 * `size` elements each of value and gradient, in doubles (in a graph with
 * float32 data (typed), a float32 node's take half as many, rounded up; a
 * float32 cast of float64 operands recorded as the graph's first float32
 * node keeps the float64 count, twice what it needs); aux_size() doubles
 * of op-private storage whatever the type. */
static ALWAYS_INLINE bool node_buffers(ag_graph *g, ag_node *n, const bool typed)
{
    size_t elements = n->shape.size;
    size_t size = typed ? (elements + n->dtype) >> n->dtype : elements; /* AG_FLOAT32 is 1: half */
    /* in[] past n_in is NULL; inputs[] holds the rest of a longer list */
    bool wants_grad = n->in[0]->grad || (n->in[1] && n->in[1]->grad) || (n->in[2] && n->in[2]->grad);
    for (uint32_t k = AG_INLINE_INPUTS; k < n->n_in && !wants_grad; k++) wants_grad = n->inputs[k]->grad != NULL;
    wants_grad = wants_grad && n->kernels->vjp; /* an op without one (a comparison) passes none */
    if (wants_grad && 2 * size * sizeof(double) < AG_ARENA_LARGE_FROM) {
        /* a small node's value and gradient side by side: one allocation
         * (large ones each get their own, cache-line aligned) */
        n->value = arena_doubles(g, 2 * size);
        n->grad = n->value ? n->value + size : NULL;
    } else {
        n->value = arena_doubles(g, size);
        if (wants_grad) n->grad = arena_doubles(g, size);
    }
    if (n->grad) ag_zero_doubles(n->grad, size); /* backward adds into it (zero bits are 0.0f too) */
    size_t aux = n->op->aux_size ? n->op->aux_size(n) : 0;
    if (aux) n->aux = arena_doubles(g, aux);
    return n->value && (!wants_grad || n->grad) && (!aux || n->aux);
}

/* Why the operands cannot be used: one NULL, from another graph than the
 * first (said on every graph involved), or recorded before the last reset.
 * Operands are counted from 1 in the messages. */
__attribute__((noinline, cold)) static ag_graph *operands_refused(const ag_op *op, size_t n_in,
                                                                  ag_node *const *in)
{
    ag_graph *g = NULL;
    for (size_t k = 0; k < n_in && !g; k++) g = in[k] ? in[k]->graph : NULL;
    if (!g) return NULL; /* nothing to report on; the NULL came from a failed op */
    for (size_t k = 0; k < n_in; k++) {
        if (!in[k]) {
            ag_graph_fail(g, "ag_%s: operand %zu is NULL (an earlier call failed?)", op->name, k + 1);
            return NULL;
        }
    }
    /* none is NULL now, so g is operand 1's graph; a mix is said on both
     * graphs: either may be the one the caller goes on with */
    bool mixed = false;
    for (size_t k = 1; k < n_in; k++) {
        if (in[k]->graph == g) continue;
        ag_graph_fail(in[k]->graph, "ag_%s: operand %zu belongs to another graph than operand 1",
                      op->name, k + 1);
        if (!mixed)
            ag_graph_fail(g, "ag_%s: operand %zu belongs to another graph than operand 1", op->name, k + 1);
        mixed = true;
    }
    if (mixed) return NULL;
    for (size_t k = 0; k < n_in; k++) {
        if (!ag_node_is_current(g, in[k])) {
            ag_graph_fail(g, "ag_%s: operand %zu is a node recorded before the last reset of its "
                             "graph (ag_graph_reset releases every node)", op->name, k + 1);
            return NULL;
        }
    }
    return g->failed ? NULL : g;
}

/* The graph of an op's operands; NULL (recorded on the graph when there is
 * one) when an operand is NULL, operands come from two graphs, one was
 * recorded before the graph's last reset, or the graph has already failed. */
static ag_graph *operands_graph(const ag_op *op, size_t n_in, ag_node *const *in)
{
    /* the common case first: every operand there, all of one graph's current
     * generation (equal stamps: the same graph, since stamps are unique) */
    ag_node *a = in[0], *b = n_in > 1 ? in[1] : a, *c = n_in > 2 ? in[2] : a;
    bool current = a && b && c && b->stamp == a->stamp && c->stamp == a->stamp && a->stamp == a->graph->stamp;
    for (size_t k = 3; k < n_in && current; k++) current = in[k] && in[k]->stamp == a->stamp;
    if (current) return a->graph->failed ? NULL : a->graph;
    return operands_refused(op, n_in, in);
}

__attribute__((noinline, cold)) static ag_node *arity_refused(const ag_op *op, size_t n_in,
                                                              ag_node *const *in)
{
    ag_graph *g = NULL;
    for (size_t k = 0; k < n_in && !g; k++) g = in && in[k] ? in[k]->graph : NULL;
    if (g && op->arity == AG_VARIADIC)
        ag_graph_fail(g, "ag_%s: takes 1 to %d operands (got %zu)", op->name, AG_MAX_INPUTS, n_in);
    else if (g)
        ag_graph_fail(g, "ag_%s: takes %d operands (got %zu)", op->name, op->arity, n_in);
    else
        ag_set_last_error("ag_%s: %s", op->name, !in ? "the list of operands is NULL" : "no operands (n is 0)");
    return NULL;
}

/* Copy the inputs into the node: in[] holds the first three, and a longer
 * list gets an array of its own in the graph's arena. */
static ALWAYS_INLINE bool node_inputs(ag_graph *g, ag_node *n, size_t n_in, ag_node *const *in)
{
    n->inputs = n->in;
    n->in[0] = in[0]; /* the rest of in[] NULL */
    n->in[1] = n_in > 1 ? in[1] : NULL;
    n->in[2] = n_in > 2 ? in[2] : NULL;
    n->n_in = (uint16_t)n_in;
    if (n_in <= AG_INLINE_INPUTS) return true;
    ag_node **all = ag_arena_alloc(&g->arena, n_in * sizeof *all);
    if (!all) return false;
    memcpy(all, in, n_in * sizeof *all);
    n->inputs = all;
    return true;
}

/* A copy of the op's parameters in the graph's arena (zeroed when none are
 * given), so the node keeps them however long the caller's struct lives. */
static ALWAYS_INLINE bool node_params(ag_graph *g, ag_node *n, const void *params)
{
    size_t size = n->op->params_size;
    if (!size) return true;
    n->params = ag_arena_alloc(&g->arena, size);
    if (!n->params) return false;
    if (params)
        memcpy(n->params, params, size);
    else
        memset(n->params, 0, size);
    return true;
}

/* The operands' element type, which the node takes: -1 (graph failed, naming
 * the op, both types and the operands) when they differ, or when the type is
 * float32 and the op has no float32 kernels yet. Called only once the graph
 * holds float32 data (has_float32). */
__attribute__((noinline, cold)) static int dtype_refused(ag_graph *g, const ag_op *op, size_t n_in,
                                                         ag_node *const *in, size_t k)
{
    char a[64], b[64];
    if (k < n_in)
        ag_graph_fail(g, "ag_%s: operands of different types: operand 1 (%s) is %s, operand %zu (%s) is %s "
                         "(convert one with ag_cast)",
                      op->name, ag_shape_str(&in[0]->shape, a, sizeof a), ag_dtype_name(in[0]->dtype), k + 1,
                      ag_shape_str(&in[k]->shape, b, sizeof b), ag_dtype_name(in[k]->dtype));
    else
        ag_graph_fail(g, "ag_%s: no float32 kernel for this op yet (operand 1 (%s) is float32); record it in "
                         "float64 (ag_cast) or see ag_op_supports_dtype",
                      op->name, ag_shape_str(&in[0]->shape, a, sizeof a));
    return -1;
}

__attribute__((noinline)) static int operands_dtype(ag_graph *g, const ag_op *op, size_t n_in, ag_node *const *in)
{
    unsigned dtype = in[0]->dtype;
    for (size_t k = 1; k < n_in; k++)
        if (in[k]->dtype != dtype) return dtype_refused(g, op, n_in, in, k);
    if (dtype == AG_FLOAT32 && !op->f32) return dtype_refused(g, op, n_in, in, n_in);
    return (int)dtype;
}

/* Step 2 of recording: the kernels made for these shapes, if the op has any. */
static ALWAYS_INLINE void node_specialise(ag_node *n)
{
    if (!n->op->specialize) return;
    const ag_kernels *k = n->op->specialize(n);
    if (k) n->kernels = k;
}

/* Recording after the operands' checks, in two copies: `typed` (the graph
 * holds float32 data: the operands' types are checked, and the node takes
 * theirs and their kernels) and not (every node float64, as before there
 * were two types: a float64 graph pays one load and branch for them). */
static ALWAYS_INLINE ag_node *record_on(ag_graph *g, const ag_op *op, size_t n_in, ag_node *const *in,
                                        const void *params, const ag_shape *shape, const bool typed)
{
    int dtype = typed ? operands_dtype(g, op, n_in, in) : AG_FLOAT64;
    if (dtype < 0) return NULL;
    ag_node *n = node_new(g, op);
    if (!n) return NULL;
    if (typed) n->dtype = (uint8_t)dtype; /* the shape rule of a cast sets its own */
    if (shape) n->shape = *shape;
    if (!node_inputs(g, n, n_in, in) || !node_params(g, n, params)) {
        node_out_of_memory(g, op);
        return NULL;
    }
    char why[256];
    why[0] = '\0'; /* not the whole buffer: this runs for every recorded node */
    if (!op->shape(n, why, sizeof why)) { /* 1. shape */
        shape_failed(g, n, why);
        return NULL;
    }
    if (typed && dtype == AG_FLOAT32) /* 2. the op's float32 kernels (none specialised) */
        n->kernels = &op->f32->kernels;
    else
        node_specialise(n); /* 2. specialise */
    if (!node_buffers(g, n, typed) || !push_node(g, n)) { /* 3. buffers */
        node_out_of_memory(g, op);
        return NULL;
    }
    if (!n->kernels->forward(n, why, sizeof why)) {    /* 4. forward */
        forward_failed(g, op, why);
        return NULL;
    }
    if (g->detect_anomaly && !ag_check_value(g, n)) return NULL;
    return n;
}

__attribute__((noinline)) static ag_node *record_typed(ag_graph *g, const ag_op *op, size_t n_in,
                                                       ag_node *const *in, const void *params,
                                                       const ag_shape *shape)
{
    return record_on(g, op, n_in, in, params, shape, true);
}

ag_node *ag_record(const ag_op *op, size_t n_in, ag_node *const *in, const void *params,
                   const ag_shape *shape)
{
    /* one compare for a fixed arity; a variadic op's count is checked here */
    if (n_in != (size_t)op->arity &&
        (op->arity != AG_VARIADIC || !in || n_in == 0 || n_in > AG_MAX_INPUTS))
        return arity_refused(op, n_in, in);
    ag_graph *g = operands_graph(op, n_in, in);
    if (!g) return NULL;
    if (__builtin_expect(g->has_float32, 0)) return record_typed(g, op, n_in, in, params, shape);
    return record_on(g, op, n_in, in, params, shape, false);
}

/* ---- leaves ---------------------------------------------------------------- */

/* A leaf of a NULL tensor: say so, with the error that likely made it NULL. */
__attribute__((noinline, cold)) static void leaf_of_null(ag_graph *g, const ag_op *op)
{
    const char *earlier = ag_last_error();
    ag_graph_fail(g, "ag_%s: tensor is NULL%s%s%s", op->name, earlier[0] ? " (did its creation fail? " : "",
                  earlier, earlier[0] ? ")" : "");
}

/* Inlined into ag_param and ag_input, the failures out of line, as node_new. */
static ALWAYS_INLINE ag_node *leaf_new(ag_graph *g, const ag_op *op, const ag_tensor *t)
{
    if (!g || g->failed) return NULL;
    if (!t) {
        leaf_of_null(g, op);
        return NULL;
    }
    ag_node *n = node_new(g, op);
    if (!n) return NULL;
    n->in[0] = n->in[1] = n->in[2] = NULL;
    n->shape = t->shape;
    n->value = t->data;
    if (__builtin_expect(t->dtype, 0)) { /* node_new made it float64 */
        n->dtype = AG_FLOAT32;
        g->has_float32 = true;
    }
    n->name = t->name;
    if (!push_node(g, n)) {
        node_out_of_memory(g, op);
        return NULL;
    }
    return n;
}

ag_node *ag_param(ag_graph *g, ag_tensor *t)
{
    ag_node *n = leaf_new(g, &ag_op_param, t);
    if (n && t->requires_grad) {
        n->grad = t->grad;
        n->params = t; /* ag_param_tensor: for its pending zero */
    }
    return n;
}

ag_node *ag_input(ag_graph *g, const ag_tensor *t)
{
    return leaf_new(g, &ag_op_input, t);
}

ag_node *ag_constant(ag_graph *g, int ndim, const int *shape, const double *data)
{
    if (!g || g->failed) return NULL;
    const char *why = NULL;
    ag_shape s;
    if (!ag_shape_make(&s, ndim, shape, &why)) {
        ag_graph_fail(g, "ag_constant: bad shape: %s", why);
        return NULL;
    }
    if (!data) {
        ag_graph_fail(g, "ag_constant: data is NULL");
        return NULL;
    }
    ag_node *n = ag_constant_of_shape(g, &s);
    if (n) memcpy(n->value, data, s.size * sizeof(double));
    return n;
}

ag_node *ag_constant_of_shape(ag_graph *g, const ag_shape *shape)
{
    if (g->failed) return NULL;
    ag_node *n = node_new(g, &ag_op_constant);
    if (!n) return NULL;
    n->in[0] = n->in[1] = n->in[2] = NULL;
    n->shape = *shape;
    n->value = arena_doubles(g, shape->size);
    if (!n->value || !push_node(g, n)) {
        ag_graph_fail(g, "ag_constant: out of memory");
        return NULL;
    }
    return n;
}

ag_node *ag_scalar(ag_graph *g, double value)
{
    return ag_constant(g, 0, NULL, &value);
}

/* ---- node accessors ---------------------------------------------------------- */

int ag_node_ndim(const ag_node *n) { return n ? n->shape.ndim : 0; }

int ag_node_dim(const ag_node *n, int dim)
{
    return n && dim >= 0 && dim < n->shape.ndim ? n->shape.dims[dim] : 0;
}

size_t ag_node_size(const ag_node *n) { return n ? n->shape.size : 0; }
/* A float64 accessor given a float32 node: NULL, and say so. */
__attribute__((noinline, cold)) static const double *float32_node_refused(const char *fn)
{
    ag_set_last_error("%s: the node is float32 (use %s_f32)", fn, fn);
    return NULL;
}

const double *ag_node_value(const ag_node *n)
{
    if (n && n->dtype == AG_FLOAT32) return float32_node_refused("ag_node_value");
    return n ? n->value : NULL;
}
const double *ag_node_grad(const ag_node *n)
{
    if (n && n->dtype == AG_FLOAT32) return float32_node_refused("ag_node_grad");
    if (n) ag_node_grad_settle(n);
    return n ? n->grad : NULL;
}
ag_dtype ag_node_dtype(const ag_node *n) { return n ? (ag_dtype)n->dtype : AG_FLOAT64; }
const float *ag_node_value_f32(const ag_node *n) { return n && n->dtype == AG_FLOAT32 ? AG_F32(n->value) : NULL; }
const float *ag_node_grad_f32(const ag_node *n)
{
    if (!n || n->dtype != AG_FLOAT32) return NULL;
    ag_node_grad_settle(n);
    return AG_F32(n->grad);
}
double ag_node_get(const ag_node *n, size_t index)
{
    return n && index < n->shape.size ? ag_typed_get(n->value, (ag_dtype)n->dtype, index) : NAN;
}
const char *ag_node_op(const ag_node *n) { return n ? n->op->name : ""; }
const char *ag_node_name(const ag_node *n) { return n && n->name ? n->name : ""; }
ag_graph *ag_node_graph(const ag_node *n) { return n ? n->graph : NULL; }

ag_node *ag_node_set_name(ag_node *n, const char *name)
{
    if (!n || !name) return n;
    if (!ag_node_is_current(n->graph, n)) { /* its memory may be a new node's */
        ag_graph_fail(n->graph, "ag_node_set_name: the node is a node recorded before the last reset "
                                "of its graph (ag_graph_reset releases every node)");
        return NULL;
    }
    size_t len = strlen(name) + 1;
    char *copy = ag_arena_alloc(&n->graph->arena, len);
    if (!copy) {
        ag_graph_fail(n->graph, "ag_node_set_name: out of memory");
        return NULL;
    }
    memcpy(copy, name, len);
    n->name = copy;
    return n;
}

void ag_node_print(const ag_node *n, FILE *out, int digits)
{
    if (!out) {
        ag_set_last_error("ag_node_print: out (the FILE) is NULL");
        return;
    }
    if (!n) {
        fprintf(out, "(null node)\n");
        return;
    }
    char shape[64];
    fprintf(out, "%s = %s (%s%s)\n", n->name ? n->name : "?", n->op->name,
            ag_shape_str(&n->shape, shape, sizeof shape), n->dtype == AG_FLOAT32 ? ", float32" : "");
    ag_print_typed_values(&n->shape, n->value, (ag_dtype)n->dtype, out, digits);
}
