/* internal.h -- structures and helpers shared by the library's files. */
#ifndef AGRAD_INTERNAL_H
#define AGRAD_INTERNAL_H

#include "agrad.h"
#include "kernels/parallel.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* For the loops of tiny tensors' hot paths: GCC does not inline a function
 * with several call sites on its own, and on TestNet's sizes the call costs
 * as much as the loop. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Unroll the next loop n times (completely, for a loop of a constant n):
 * GCC at -O2 does not on its own, and short constant loops then keep their
 * values in registers. GCC 8 and clang know the pragma; older compilers
 * would warn, so they go without. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define AG_PRAGMA(x) _Pragma(#x)
#define AG_UNROLL(n) AG_PRAGMA(GCC unroll n)
#else
#define AG_UNROLL(n)
#endif

/* ---- memory (alloc.c) ---------------------------------------------------- */
void *ag_malloc(size_t size);
void *ag_calloc(size_t count, size_t size);
void *ag_realloc(void *ptr, size_t size);
void ag_free(void *ptr);
char *ag_strdup(const char *s);
/* Record a message for ag_last_error (printf-style). */
void ag_set_last_error(const char *fmt, ...);

/* ---- random (random.c) -------------------------------------------------- */
/* Shuffles idx[0..n) in place by Fisher-Yates from the back: for i = n-1
 * down to 1, swap idx[i] with idx[j], j = ag_rng_below(r, i + 1). */
void ag_shuffle_indices(ag_rng *r, size_t *idx, size_t n);

/* ---- shapes (tensor.c) ---------------------------------------------------- */
/* The most elements a tensor, an op's result or a CSV table may have. */
#define AG_MAX_ELEMENTS ((size_t)1 << 40)

typedef struct ag_shape {
    int ndim;
    int dims[AG_MAX_DIMS];
    size_t size; /* product of dims, 1 for a scalar */
} ag_shape;

/* Fill `shape` from (ndim, dims); false with *why set on a bad shape. */
bool ag_shape_make(ag_shape *shape, int ndim, const int *dims, const char **why);
bool ag_shape_equal(const ag_shape *a, const ag_shape *b);
/* The shape of a scalar (0-d, one element). */
static inline ag_shape ag_scalar_shape(void) { return (ag_shape){.ndim = 0, .dims = {1, 1, 1, 1}, .size = 1}; }
char *ag_shape_str(const ag_shape *s, char *buf, size_t bufsize);
/* Print values laid out by shape (scalar, vector or rows of a matrix). */
void ag_print_values(const ag_shape *shape, const double *values, FILE *out, int digits);
/* The same for a buffer of `dtype` (float32 printed to 9 digits at most). */
void ag_print_typed_values(const ag_shape *shape, const double *values, ag_dtype dtype, FILE *out,
                           int digits);
/* Element i of a buffer of `dtype` as a double; and written from one. */
double ag_typed_get(const double *buf, ag_dtype dtype, size_t i);
void ag_typed_put(double *buf, ag_dtype dtype, size_t i, double v);

/* A tensor's or node's buffers hold elements of its dtype: doubles for
 * AG_FLOAT64, floats for AG_FLOAT32 (then the double pointer is a float
 * buffer in disguise, read through AG_F32: only kernels made for float32
 * touch it, which ag_record guarantees). */
#define AG_F32(p) ((float *)(void *)(p))
static inline size_t ag_dtype_bytes(ag_dtype t) { return t == AG_FLOAT32 ? sizeof(float) : sizeof(double); }

struct ag_tensor {
    ag_shape shape;
    double *data;
    double *grad; /* allocated on the first requires_grad(true), kept until freed
                     (recorded nodes may still point at it) */
    bool requires_grad;
    /* The gradient counts as zero, its buffer not yet written
     * (ag_optimizer_zero_grad_lazily): the first vjp to reach it writes it
     * instead of adding, and any other reader zeroes it first
     * (ag_tensor_grad_settle). Counted in ag_grad_zeros_pending. */
    bool grad_zero_pending;
    ag_dtype dtype; /* the elements' type (data and grad) */
    char *name;
};

/* ---- arena (arena.c): bump allocator, reset keeps its chunks ------------- */
typedef struct ag_arena_chunk ag_arena_chunk;
typedef struct ag_arena {
    ag_arena_chunk *first;
    ag_arena_chunk *current; /* where the next allocation is tried first */
    ag_arena_chunk *last;    /* new chunks are appended here */
    unsigned char *cursor, *limit; /* the free bytes of `current` */
    unsigned char *first_data;     /* where the first chunk's bytes start */
} ag_arena;

#define AG_ARENA_LARGE_FROM 256

/* 8-byte aligned, and 64-byte (cache line) aligned from 256 bytes up: a
 * scalar node's value and gradient sit right after the node, with no padding.
 * A small request that fits the current chunk is a pointer bump, inline
 * (recording makes two or three per node); the rest goes to arena.c. */
void *ag_arena_alloc_slow(ag_arena *arena, size_t size);
static inline void *ag_arena_alloc(ag_arena *arena, size_t size)
{
    size_t need = (size + 7) & ~(size_t)7;
    if (size < AG_ARENA_LARGE_FROM &&
        need <= (uintptr_t)arena->limit - (uintptr_t)arena->cursor) {
        void *p = arena->cursor;
        arena->cursor += need;
        return p;
    }
    return ag_arena_alloc_slow(arena, size);
}
/* Rewind to the first chunk, keeping every chunk. A graph that fits its
 * first chunk (TestNet's) rewinds the cursor only: no later chunk was used
 * since the last reset, and the first chunk's `used` is brought up to date
 * from the cursor by the next slow-path call. */
void ag_arena_reset_chunks(ag_arena *arena);
static inline void ag_arena_reset(ag_arena *arena)
{
    if (arena->current && arena->current == arena->first)
        arena->cursor = arena->first_data;
    else
        ag_arena_reset_chunks(arena);
}
void ag_arena_release(ag_arena *arena);
size_t ag_arena_capacity(const ag_arena *arena); /* bytes in all chunks */

/* ---- graph and nodes (graph.c) -------------------------------------------- */
typedef struct ag_op ag_op;

/* The first inputs of a node are held in the node itself (in[]), where the
 * fixed-arity ops read them with one load; `inputs` lists all n_in of them
 * (it points at in[] when there are at most AG_INLINE_INPUTS). */
#define AG_INLINE_INPUTS 3 /* linear: a, b and the bias */

/* What runs a node: its forward and its vector-Jacobian product. A node
 * points at its op's pair or at the one its op's specialise step chose when
 * it was recorded (see struct ag_op), so a replay calls them with no
 * dispatch. */
typedef bool (*ag_forward_fn)(ag_node *out, char *why, size_t whylen);
typedef void (*ag_vjp_fn)(ag_node *out);
typedef struct ag_kernels {
    ag_forward_fn forward;
    ag_vjp_fn vjp;
} ag_kernels;

struct ag_node {
    const ag_op *op;
    const ag_kernels *kernels; /* &op->kernels, or the specialised pair (NULL
                                  functions at leaves) */
    ag_graph *graph;
    ag_node *in[AG_INLINE_INPUTS]; /* inputs 0..2 (NULL past n_in) */
    ag_node *const *inputs;        /* all n_in inputs (== in when n_in <= 3);
                                      unset at a leaf, which has none */
    ag_shape shape;
    double *value;
    double *grad;    /* NULL when no gradient flows here */
    double *tangent; /* forward-mode tangent, NULL until a JVP sweep */
    double *aux;     /* op-private saved buffer (softmax probabilities) */
    void *params;    /* the op's typed parameters (ops/params.h), a copy in
                        the graph's arena; NULL for an op without any */
    const char *name;
    uint64_t stamp;  /* the graph's stamp when recorded (ag_node_is_current) */
    uint32_t index;  /* position in the graph's recording order */
    uint16_t n_in;   /* at most AG_MAX_INPUTS */
    uint8_t mark;    /* scratch flag for graph walks, 0 between walks */
    uint8_t dtype;   /* ag_dtype of value, grad and tangent (fills padding); an op's
                        node takes its operands' (a cast's shape rule sets its own) */
};

/* The most inputs a node may have (n_in is 16 bits: the node stays at 152
 * bytes, a scalar chain's node and buffers under 200). */
#define AG_MAX_INPUTS 65535

/* A leaf: a parameter, an input or a constant (its value is given, not
 * computed; gradients stop there). Every op has at least one input. */
static inline bool ag_node_is_leaf(const ag_node *n) { return n->n_in == 0; }

/* The node's parameters as the op's parameter struct: AG_PARAMS(out, ag_axis_params)->axis */
#define AG_PARAMS(node, type) ((type *)(node)->params)

#define AG_ERROR_SIZE 512

/* Replay schedules, worked out from the graph once and reused while it does
 * not change (backward.c). The forward list: the nodes ag_graph_forward runs, in
 * order. The walk: the nodes with a vjp the last backward from `root`
 * reached, in the order it reached them (root first). The sweep, written
 * from the walk by its first repeat: the same vjps, each preceded by the
 * zeroing of the gradients it is the first to add to (backward.c); a repeat
 * from the same root runs it with no marking pass. Storage (4 pointers per
 * node) grows with the graph and is kept across resets, so a replayed or
 * rebuilt step allocates nothing. */
typedef struct ag_schedule {
    ag_node **storage;     /* the forward list, the walk (from capacity / 4),
                              the sweep (from capacity / 2) */
    size_t capacity;       /* pointers in storage */
    size_t n_forward, n_walk, n_sweep; /* n_sweep 0: not written yet */
    size_t forward_for;    /* graph size the forward list was made for; 0: none */
    size_t walk_for;       /* same for the walk */
    const ag_node *root;   /* the walk's root */
} ag_schedule;

struct ag_graph {
    /* Nodes have an arena of their own, values, gradients and the rest
     * another: every allocation of node_arena is one node, so after a reset
     * a pointer to an old node lands on an old node's untouched memory or
     * on exactly a new node, never inside a buffer (ag_node_is_current). */
    ag_arena node_arena;
    ag_arena arena;
    ag_node **nodes; /* recording order == a topological order */
    size_t n_nodes, cap_nodes;
    bool failed;
    char error[AG_ERROR_SIZE];
    FILE *trace; /* backward prints its walk here when set */
    bool detect_anomaly; /* check every value and gradient for NaN/Inf */
    bool failed_in_replay; /* the error came from data in a replay: the next
                              replay may clear it */
    bool study_failed; /* error holds the message of a study call that failed
                          (study/scope.c); the graph itself has not failed:
                          cleared by the next recorded node, study call or reset */
    bool grads_dirty; /* a backward ran since the reset: intermediate gradients
                         hold its values (recording zeroes new ones) */
    bool has_float32; /* a float32 node was recorded since the reset: ag_record
                         then checks operand types, and the study calls and
                         the trace refuse the graph */
    ag_schedule schedule;
    /* While ag_grad records a gradient: which nodes lead to a wrt (reach[i -
     * lo] for node index i), so an op's vjp_nodes records the shares that
     * are wanted only (ag_rec_takes_grad); reach NULL otherwise. */
    struct {
        const unsigned char *reach;
        size_t lo;
    } recording;
    /* Scalar constants the recorded derivatives share (ag_rec_scalar): 1, 0,
     * -1, 0.5 and the like, recorded once a generation (emptied at reset). */
    struct {
        double value[8];
        ag_node *node[8];
        int count;
    } rec_constants;
    struct {        /* the gradient ag_hvp and ag_hessian recorded last */
        const ag_node *root, *wrt, *grad;
        size_t n_nodes; /* the graph's size just after: valid while unchanged */
    } second_order;
    uint64_t stamp; /* new at creation and at every reset, unique over all graphs:
                       a node whose stamp differs was recorded before the last
                       reset (or in another graph) */
};

/* n was recorded in g since its last reset (and is in g's node list). A
 * node released by a reset keeps its memory (the node arena holds nodes
 * only, at the same places each generation), so its fields are an old
 * node's until a new node is recorded at that very address; the pointer
 * then is that new node. */
static inline bool ag_node_is_current(const ag_graph *g, const ag_node *n)
{
    return n->stamp == g->stamp && n->graph == g && n->index < g->n_nodes && g->nodes[n->index] == n;
}

/* For a public function given a NULL graph, which has nowhere to keep the
 * error: sets ag_last_error to "<who>: graph is NULL"; returns false. */
bool ag_graph_is_null(const char *who);

/* Each of params[0, n) present and requiring grad (params may be NULL only
 * when n is 0): the check of a parameter list given to ag_optimizer_new or
 * ag_gradcheck; false with "<fn>: ..." in ag_last_error (tensor.c). */
bool ag_params_require_grad(const char *fn, size_t n, ag_tensor *const *params);

/* An optimiser's state, read and written by training checkpoints (optim.c):
 * its kind, its parameters, buffer `which` (0: SGD's momentum buffer or
 * Adam's first moment; 1: Adam's second moment, NULL for SGD) of parameter
 * k, each of the parameter's size, and the step count. */
ag_optim_kind ag_optimizer_kind(const ag_optimizer *o);
size_t ag_optimizer_param_count(const ag_optimizer *o);
const ag_tensor *ag_optimizer_param(const ag_optimizer *o, size_t k);
double *ag_optimizer_buffer(const ag_optimizer *o, size_t k, int which);
void ag_optimizer_restore_step(ag_optimizer *o, long step);

/* Zero n >= AG_PARALLEL_RANGE_MIN doubles on the kernel threads (tensor.c). */
void ag_zero_doubles_large(double *x, size_t n);

/* Zero n doubles. Tiny gradients (TestNet's) are the common case: glibc's
 * memset costs a call and a dispatch, and GCC turns a short zeroing loop
 * into `rep stos`, slow to start; straight stores avoid both. Large ones
 * (an MLP's activations) are split over the kernel threads. */
static inline void ag_zero_doubles(double *x, size_t n)
{
    switch (n) {
    case 16: x[15] = 0.0; /* fall through */
    case 15: x[14] = 0.0; /* fall through */
    case 14: x[13] = 0.0; /* fall through */
    case 13: x[12] = 0.0; /* fall through */
    case 12: x[11] = 0.0; /* fall through */
    case 11: x[10] = 0.0; /* fall through */
    case 10: x[9] = 0.0; /* fall through */
    case 9: x[8] = 0.0; /* fall through */
    case 8: x[7] = 0.0; /* fall through */
    case 7: x[6] = 0.0; /* fall through */
    case 6: x[5] = 0.0; /* fall through */
    case 5: x[4] = 0.0; /* fall through */
    case 4: x[3] = 0.0; /* fall through */
    case 3: x[2] = 0.0; /* fall through */
    case 2: x[1] = 0.0; /* fall through */
    case 1: x[0] = 0.0; /* fall through */
    case 0: return;
    default:
        if (n < AG_PARALLEL_RANGE_MIN)
            memset(x, 0, n * sizeof(double));
        else
            ag_zero_doubles_large(x, n);
    }
}

/* Zero n floats (a float32 gradient). */
static inline void ag_zero_floats(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* Zero n elements of type `dtype` (a gradient buffer, typed as the node). */
static inline void ag_zero_typed(double *x, size_t n, unsigned dtype)
{
    if (dtype == AG_FLOAT32)
        ag_zero_floats(AG_F32(x), n);
    else
        ag_zero_doubles(x, n);
}

/* Anomaly detection (study/anomaly.c): false, with the graph's error set
 * naming the op, the node and its inputs' shapes, when n's value (after its
 * forward) or an input's gradient (after n's vjp) holds a NaN or an Inf. */
bool ag_check_value(ag_graph *g, const ag_node *n);
bool ag_check_input_grads(ag_graph *g, const ag_node *n);
/* A NaN or an Inf that came in rather than being made by n (an input's value
 * holds it) is reported as such, naming the leaf it came through. Before a
 * backward: false, the error naming the leaf, when a parameter leaf's
 * gradient already holds a NaN or an Inf (left from an earlier backward). */
bool ag_check_leaf_grads(ag_graph *g);

/* Backward tracing (study/trace.c): header line, and one node's vjp with
 * the gradient that arrived and each input's share printed. */
void ag_trace_begin(ag_graph *g, const ag_node *root);
void ag_trace_vjp(ag_graph *g, ag_node *n, const ag_node *root);
/* " (note: ...)" naming the nearest ancestor of the failed node's inputs
 * that broadcast a column [r,1] and a row into an [r,c] matrix (the 1-d
 * bias slip of column vectors), or "" (study/broadcast_note.c). */
void ag_broadcast_note(const ag_node *failed, char *buf, size_t len);
/* "z2" for a named node, "#7 matmul" otherwise. */
const char *ag_node_label(const ag_node *n, char *buf, size_t len);

/* Gradients a sweep would disturb, saved to restore later (study/jacobian.c):
 * one copy per node with a gradient, by node index: the leaves' (their
 * tensors' gradients) only, or every node's (AG_SAVE_ALL_GRADS: the
 * intermediate ones too, so ag_node_grad and the graph's picture show the
 * last ag_backward's again). */
typedef struct ag_saved_grads {
    double **copies; /* NULL where nothing was saved */
    size_t count;
    bool intermediates; /* the intermediate nodes' were saved too */
} ag_saved_grads;
enum { AG_SAVE_LEAF_GRADS, AG_SAVE_ALL_GRADS };
bool ag_save_grads(ag_graph *g, ag_saved_grads *s, int which); /* false: out of memory */
void ag_restore_grads(ag_graph *g, ag_saved_grads *s);        /* and frees the copies */

/* "" when n is a current node of g, else why not ("is NULL ...", "belongs
 * to another graph", "is a node recorded before the last reset ...") */
const char *ag_not_in_graph(const ag_graph *g, const ag_node *n);

/* ag_grad with its misuse reported as `who`'s (ag_hvp, ag_hessian). */
bool ag_grad_as(const char *who, ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt,
                ag_node **grads, bool create_graph);
/* ag_grad (create_graph) from a root of any shape whose cotangent is the
 * node `seed` (root's shape): the recorded u^T J (grad/grad.c). */
bool ag_grad_seeded(ag_graph *g, ag_node *root, ag_node *seed, size_t n, ag_node *const *wrt,
                    ag_node **grads);

/* Store the graph's first error (later ones are dropped). */
void ag_graph_fail(ag_graph *g, const char *fmt, ...);

/* A study call (the Jacobians, the Hessians, ag_hvp, ag_jvp) looks at a
 * graph without becoming part of it, so its failure must not stop the
 * recording it studies (study/scope.c):
 *   if (!ag_study_begin(g, who)) return NULL;   refused: g NULL or failed
 *   ... the call, reporting with ag_graph_fail as anywhere ...
 *   return ag_study_end(g, who, ok) ? result : NULL;
 * ag_study_end turns an error the call left on the graph into a study
 * message (ag_graph_error and ag_last_error read it) and the graph is
 * usable again. */
bool ag_study_begin(ag_graph *g, const char *who);
bool ag_study_end(ag_graph *g, const char *who, bool ok);
/* ag_study_end for a call that returns a tensor (NULL: failed; freed when
 * the graph failed all the same). */
ag_tensor *ag_study_end_tensor(ag_graph *g, const char *who, ag_tensor *result);
/* The Jacobians without the study scope (study/jacobian.c), for the Hessians. */
ag_tensor *ag_jacobian_rev_sweeps(ag_graph *g, ag_node *out, ag_node *wrt);
ag_tensor *ag_jacobian_fwd_sweeps(ag_graph *g, ag_node *out, ag_node *wrt);
/* ag_jvp without the study scope, for study calls built on it. */
bool ag_jvp_sweep(ag_graph *g, size_t n_seeds, ag_node *const *seeds, const double *const *tangents);

/* ---- ops (src/ops/) -----------------------------------------------------------
 * An op is a descriptor: its shape rule, forward, vector-Jacobian product
 * (vjp) and Jacobian-vector product (jvp) stand side by side. Recording a
 * node (ag_record) runs four named steps, in this order:
 *  1. shape:      set out->shape from the inputs' shapes and out->params
 *                 (it may normalise them: a negative axis made positive);
 *                 on a mismatch write the reason into why, return false.
 *  2. specialise: (optional) pick kernels made for the shapes just found,
 *                 or NULL to keep the op's forward and vjp. matmul and
 *                 linear pick a matrix-times-short-vector pair (TestNet's
 *                 layers). A specialised pair computes the same sums in the
 *                 same order, so it gives the same bits; the op (its name,
 *                 shape rule, jvp) stays the node's op.
 *  3. buffers:    value, gradient (when an input takes one) and aux_size()
 *                 doubles of op-private storage.
 *  4. forward:    compute out->value from the inputs' values; false + why
 *                 on a value error (a label out of range).
 * Then, in a backward sweep:
 *  vjp:     given out->grad, ADD the contribution to each input's grad
 *           that is not NULL.
 *  jvp:     compute out->tangent from the inputs' tangents (NULL tangent =
 *           zero).
 * And recorded, as new nodes (ag_grad, ag_jvp_nodes: the same products as
 * vjp and jvp, built from ops, so they can be differentiated again):
 *  vjp_nodes: given out and gy, a node of out's shape holding d root/d out,
 *           set gx[k] to a node of input k's shape holding its share (new,
 *           or gy itself where the share is gy unchanged)
 *           (what vjp adds) for each input k that takes a gradient
 *           (ag_rec_takes_grad); gx[k] may stay NULL for the others and for
 *           a share that is zero. false when recording failed (graph error).
 *  jvp_nodes: given tangent nodes tx[k] of the inputs' shapes (NULL: zero;
 *           one at least is not), return a node of out's shape holding
 *           out's tangent (what jvp computes); NULL when recording failed.
 *           Both are written with the public ops and ops/recorded.h.
 * Parameters: params_size bytes of the op's own struct (ops/params.h), copied
 * into the graph's arena when recorded (zeroed when the caller gives none).
 * print_params writes them as "key=value" pairs joined by ", " (a value is a
 * number, %.17g for a double, a word, or a list "[2,0,1]"), snprintf-style: for the
 * graph's picture, the trace and the PyTorch cross-check (tools/). An op
 * with params_size > 0 has one.
 * arity: the number of inputs, or AG_VARIADIC for any number from 1 (concat).
 * Every field is named at each definition, so adding one breaks nothing.
 * A new op goes into the registry (ops/registry.c) and gets a test recipe
 * (tests/recipes*.c): docs/adding-an-op.md walks through it. */
#define AG_VARIADIC (-1)

struct ag_op {
    const char *name;
    int arity;
    const char *symbol; /* between operand shapes in messages ("@"), or NULL */
    size_t params_size;
    int (*print_params)(const ag_node *out, char *buf, size_t len);
    bool (*shape)(ag_node *out, char *why, size_t whylen);
    const ag_kernels *(*specialize)(const ag_node *out);
    ag_kernels kernels; /* {forward, vjp} */
    void (*jvp)(ag_node *out);
    bool (*vjp_nodes)(ag_node *out, ag_node *gy, ag_node **gx);
    ag_node *(*jvp_nodes)(ag_node *out, ag_node *const *tx);
    size_t (*aux_size)(const ag_node *out);
    const void *rule; /* op-family data: an elementwise op's scalar rule, which of
                         a family's ops this is (mean, not sum; max, not min) */
    const struct ag_typed_kernels *f32; /* the float32 kernels, NULL: none yet */
    /* the op's vjp (float64 and float32, not a specialised one) settles each
     * parameter input's pending zero itself, writing the gradient rather
     * than adding to it (ag_grad_take_pending_zero): a backward leaves that
     * to it (the product's: a weight gradient neither zeroed nor read) */
    bool vjp_takes_pending_zero;
};

/* An op's kernels for float32 nodes: forward and vjp written over float,
 * and the op-family data they read in place of `rule` (the elementwise
 * rules stamped with real = float). No specialise step, jvp or recorded
 * derivatives: float32 graphs are for training (ag_backward, replays). */
typedef struct ag_typed_kernels {
    ag_kernels kernels;
    const void *rule;
} ag_typed_kernels;


/* Record a node for `op` on in[0 .. n_in) (the graph taken from the inputs):
 * runs the four steps above. params points at the op's parameter struct (or
 * NULL); shape, when not NULL, is the output shape proposed by the caller
 * (reshape), which the shape rule then validates. NULL on error (recorded on
 * the graph, naming the op and every operand's shape). */
ag_node *ag_record(const ag_op *op, size_t n_in, ag_node *const *in, const void *params,
                   const ag_shape *shape);
static inline ag_node *ag_record1(const ag_op *op, ag_node *a, const void *params)
{
    return ag_record(op, 1, &a, params, NULL);
}
static inline ag_node *ag_record2(const ag_op *op, ag_node *a, ag_node *b, const void *params)
{
    ag_node *in[2] = {a, b};
    return ag_record(op, 2, in, params, NULL);
}

/* p = softmax(x) over n values, shifted by m = max x; *max = m and
 * *log_sum = log sum exp(x - m), so log p_c = x_c - m - log_sum (ops/softmax.c). */
void ag_softmax_row(const double *x, size_t n, double *p, double *max, double *log_sum);

/* For the registry's checks (tests/recipes_pool.c), which replay one graph
 * and differentiate it as one function of its parameters: from now on the
 * dropout node n redraws, at every forward, the mask its last forward drew
 * (from a copy of the generator's state then, which the node kept), leaving
 * the generator alone. False when n is not a dropout node. */
bool ag_dropout_hold_mask(ag_node *n);

/* The registry of every differentiable op, for tests that iterate it. */
extern const ag_op *const ag_all_ops[];
extern const size_t ag_n_ops;

/* A new constant leaf of `shape` whose values the caller writes into
 * n->value before the node is used (ag_constant without the copy); NULL
 * with the graph failed on OOM (graph.c). */
ag_node *ag_constant_of_shape(ag_graph *g, const ag_shape *shape);

/* Leaf op descriptors (no vjp: leaves are where gradients stop). */
extern const ag_op ag_op_param, ag_op_input, ag_op_constant;

/* ---- gradients zeroed lazily (tensor.c) -----------------------------------
 * ag_optimizer_zero_grad_lazily marks its parameters' gradients as zero
 * without writing them (PyTorch's zero_grad(set_to_none=True)): the next
 * backward's first vjp into such a gradient writes it (a weight's product
 * with beta 0), every other reader zeroes it first. A parameter leaf keeps
 * its tensor in `params` (a leaf has no op parameters) to find the mark. */
static inline ag_tensor *ag_param_tensor(const ag_node *n)
{
    return n->op == &ag_op_param ? (ag_tensor *)n->params : NULL;
}
/* Tensors with a zero pending, over all threads: while there are none a
 * backward looks at no parameter's tensor. Each thread's own marks are
 * counted before its backward reads the count, which is all a backward
 * needs (a relaxed atomic). */
long ag_grad_zeros_pending(void);
/* Mark t's gradient as zero without writing it (nothing for a tensor
 * without one). */
void ag_tensor_grad_defer_zero(ag_tensor *t);
/* Write the zeros of a pending zero, if any: for every reader but the vjp
 * that writes the gradient whole. */
void ag_tensor_grad_settle(ag_tensor *t);
/* The same for a node: a parameter leaf's tensor (nothing for other nodes). */
static inline void ag_node_grad_settle(const ag_node *n)
{
    ag_tensor *t = ag_param_tensor(n);
    if (t && t->grad_zero_pending) ag_tensor_grad_settle(t);
}
/* For a vjp whose kernels take pending zeros, before it writes input n's
 * gradient: true when that gradient is its tensor's with a zero pending,
 * which this clears; the vjp then writes every element of it (or zeroes it
 * and adds). False for any other input (and for a leaf whose gradient the
 * caller swapped for a buffer of its own, ag_grad's): the vjp adds. */
bool ag_grad_take_pending_zero(const ag_node *n);
/* Whether the vjp node n runs takes its inputs' pending zeros (its op's
 * own kernels, in either type, not a specialised pair). */
static inline bool ag_vjp_takes_pending_zero(const ag_node *n)
{
    const ag_op *op = n->op;
    return op->vjp_takes_pending_zero &&
           (n->kernels == &op->kernels || (op->f32 && n->kernels == &op->f32->kernels));
}

/* ---- kernels (kernels/gemm.c) ---------------------------------------------
 * C[M,N] = beta*C + A' @ B' where A' is A [M,K] (or A^T when trans_a, A being
 * [K,M]) and B' is B [K,N] (or B^T when trans_b, B being [N,K]). Row-major,
 * leading dimensions lda/ldb/ldc. beta is 0 or 1 (beta 0: C is not read).
 * Never allocates; large products use the kernel thread pool.
 * Products of at most AG_GEMM_TINY_MAX multiply-adds (M N K), or with one
 * row or one column, take a direct loop without packing, whose sums may
 * round differently from the blocked kernel's (which fuses multiply-adds):
 * a caller that splits a product and wants the whole's bits keeps every
 * piece above it. */
#define AG_GEMM_TINY_MAX 4096
void ag_gemm(bool trans_a, bool trans_b, int M, int N, int K,
             const double *A, int lda, const double *B, int ldb,
             double beta, double *C, int ldc);
/* The same product in float32: the same contract, float operands, sums in
 * float (each element within about K * 2^-24 of the exact sum, relative to
 * the sum of the terms' magnitudes). Runs on the same kernel choice, threads
 * and buffers as ag_gemm (the two may run concurrently). */
void ag_gemm_f32(bool trans_a, bool trans_b, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* op(B) [K,N] packed once for many products that share it (w_hh over an
 * LSTM's sequence): packing costs about as much as a product with few rows
 * of op(A), so a recurrence that multiplies by the same matrix at every
 * step packs it once. buf holds ag_gemm_packed_size(K, N) elements (any
 * alignment); B must stay unchanged while the packed copy is used, which
 * keeps pointers to both. With BLAS=openblas nothing is packed and the
 * product calls cblas_dgemm.
 *   ag_gemm_packed_b: C[M,N] = beta*C + op(A) @ op(B), ag_gemm's contract
 * and the same results bit for bit; when the kernel has changed since the
 * packing (ag_gemm_use_isa), it runs from op(B) itself. */
typedef struct ag_gemm_packed {
    const double *B; /* op(B) as given: B [K,N], or [N,K] when trans_b */
    int ldb, K, N;
    bool trans_b;
    const double *data; /* the packed copy (NULL: none, use B) */
    int ld, nr;         /* elements per k-row of a slice; the tile's columns it was packed for */
} ag_gemm_packed;
size_t ag_gemm_packed_size(int K, int N);
void ag_gemm_pack_b(bool trans_b, int K, int N, const double *B, int ldb, double *buf, ag_gemm_packed *out);
void ag_gemm_packed_b(bool trans_a, int M, const double *A, int lda, const ag_gemm_packed *b, double beta,
                      double *C, int ldc);
/* the same in float32 */
typedef struct ag_gemm_packed_f32 {
    const float *B;
    int ldb, K, N;
    bool trans_b;
    const float *data;
    int ld, nr;
} ag_gemm_packed_f32;
size_t ag_gemm_packed_size_f32(int K, int N);
void ag_gemm_pack_b_f32(bool trans_b, int K, int N, const float *B, int ldb, float *buf,
                        ag_gemm_packed_f32 *out);
void ag_gemm_packed_b_f32(bool trans_a, int M, const float *A, int lda, const ag_gemm_packed_f32 *b,
                          float beta, float *C, int ldc);

/* The instruction set ag_gemm (and ag_gemm_f32) runs with ("avx512", "avx2", "generic", or
 * "openblas" when built with BLAS=openblas) and the threads it may use. */
const char *ag_gemm_isa(void);
int ag_gemm_threads(void);
/* Switch ag_gemm and ag_gemm_f32 to the kernel for `isa` ("generic", "avx2", "avx512"); false
 * (nothing changed) when this CPU cannot run it. NULL picks the best one.
 * For tests and benchmarks: not safe while another thread runs ag_gemm. */
bool ag_gemm_use_isa(const char *isa);

#endif
