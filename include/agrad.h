/*
 * agrad.h -- a small reverse-mode (and forward-mode) automatic-differentiation
 * engine in C11, double precision.
 *
 * Two lifetimes:
 *   ag_tensor  owned by the user (parameters, data); lives until ag_tensor_free.
 *   ag_node    a value recorded in an ag_graph; lives until ag_graph_reset or
 *              ag_graph_free, which release every node at once.
 *
 * Errors are sticky: the first failing op stores a message on its graph
 * (ag_graph_error) and returns NULL; every later op on that graph, or given a
 * NULL operand, returns NULL too, so a whole forward pass is checked once.
 * Functions without a graph (tensor creation), and graph functions given a
 * NULL graph (ag_backward(NULL, ...), ag_jvp, the Jacobians, ag_graph_forward,
 * ag_graph_zero_grad, ag_graph_set_trace, ag_graph_set_detect_anomaly),
 * report through ag_last_error(), naming the function.
 * Study calls are the exception to stickiness: the Jacobians, the Hessians,
 * ag_hvp and ag_jvp only look at a graph, so when one fails (misused, or out
 * of memory) it returns NULL or false and the graph is left usable, its
 * recording, values and gradients as they were: the message is in
 * ag_last_error() and, until the next node is recorded, the next study call
 * or a reset, in ag_graph_error(g) (unless the graph has an error of its
 * own). Called on a graph that has already failed, they do nothing and say
 * so in ag_last_error().
 * The library never aborts, asserts on user input or exits.
 *
 * Shapes: row-major, 0-d (scalar) to AG_MAX_DIMS dimensions.
 */
#ifndef AGRAD_H
#define AGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGRAD_VERSION_MAJOR 0
#define AGRAD_VERSION_MINOR 1
#define AGRAD_VERSION_PATCH 0
#define AGRAD_VERSION "0.1.0"

#define AG_MAX_DIMS 4

typedef struct ag_tensor ag_tensor;
typedef struct ag_graph ag_graph;
typedef struct ag_node ag_node;
typedef struct ag_rng ag_rng; /* defined under "random numbers" */

/* ---- errors and memory ------------------------------------------------- */

/** Message of the last failed call that has no graph to report on (tensor
 * creation, allocator); "" when none. Thread-local. */
const char *ag_last_error(void);

/** malloc/realloc/free replacements for ag_set_allocator. */
typedef struct ag_allocator {
    void *(*malloc_fn)(size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} ag_allocator;
/** Replace the allocator used for every allocation the library makes (NULL
 * restores malloc/realloc/free; so does one with a NULL function, which also
 * sets ag_last_error). Call before creating any object, or free everything
 * made with the old one first. The setting is process-wide and not
 * synchronised: call it before other threads use agrad. It covers agrad's
 * own allocations only: jansson (checkpoint headers) and zlib (gzip IDX
 * files) allocate with their own allocators, and agrad never changes
 * jansson's or zlib's settings. */
void ag_set_allocator(const ag_allocator *allocator);

/* ---- threads -------------------------------------------------------------
 * Different objects may be used from different threads at the same time:
 * each thread its own graphs, tensors, parameter stores, optimisers, batch
 * iterators and files (checkpoints, DOT, CSV, IDX), including saving and
 * loading checkpoints concurrently. One object must not be used from two
 * threads at once, except for reads that change nothing: several threads
 * may read a tensor (ag_tensor_data, ag_input / ag_param of a tensor no
 * thread writes or backpropagates into, ag_checkpoint_save of a store no
 * thread changes) as long as no thread writes it meanwhile. A graph is never
 * read-only (ag_graph_forward and ag_backward write its nodes), and a tensor
 * given to ag_param in two graphs receives gradients from both: keep such
 * graphs in one thread. Two threads saving to the same path at once leave
 * one of the two complete files (each save is atomic), never a mix.
 * ag_last_error() is thread-local. ag_set_allocator is the one call that
 * must not run while other threads use agrad.
 *
 * Large kernels (matrix products, optimiser updates, passes over big tensors)
 * run on one shared pool of up to AG_NUM_THREADS threads. A large product or
 * pass issued while another thread's job runs on the pool runs on the
 * calling thread alone instead of waiting for it, and the gemm packing
 * buffers are claimed atomically, falling back to unshared packing when
 * taken. AG_NUM_THREADS is read from the environment once, when a kernel
 * first asks: a positive decimal integer, blanks allowed around it, capped
 * at 8 (1 disables threading). Any other value ("", "0", "-3", "4x",
 * "garbage") means the default, the number of online CPUs (at most 8), as
 * when it is unset. */

/* ---- tensors (user-owned) ----------------------------------------------
 * The accessors below accept a NULL tensor and answer 0, NULL, "" or NAN
 * (ag_tensor_free, ag_tensor_zero_grad: nothing happens); the functions that
 * create or change a tensor fail with an ag_last_error message naming
 * themselves instead. */

/**@{*/
/** New tensor of the given shape filled with zeros; ndim 0 makes a scalar
 * (shape may then be NULL). Returns NULL (see ag_last_error, which names the
 * function) on a bad shape: ndim outside 0..AG_MAX_DIMS, shape NULL, a size
 * not positive, over 2^40 elements; or out of memory. */
ag_tensor *ag_tensor_zeros(int ndim, const int *shape);
/** Same, filled with ones / with `value`. */
ag_tensor *ag_tensor_ones(int ndim, const int *shape);
ag_tensor *ag_tensor_constant(int ndim, const int *shape, double value);
/**@}*/
/** New tensor holding a copy of `data` (row-major, one double per element;
 * NULL data is an error). */
ag_tensor *ag_tensor_from(int ndim, const int *shape, const double *data);
/** New 0-d tensor holding `value`. */
ag_tensor *ag_tensor_scalar(double value);
/** Free a tensor and its gradient; NULL is ignored. Do not free a tensor that
 * a live graph still records (reset the graph first). */
void ag_tensor_free(ag_tensor *t);

/** Number of dimensions (0 for a scalar). */
int ag_tensor_ndim(const ag_tensor *t);
/** Size of dimension `dim` (0-based); 0 when out of range. */
int ag_tensor_dim(const ag_tensor *t, int dim);
/** Number of elements (1 for a scalar). */
size_t ag_tensor_size(const ag_tensor *t);
/** The elements, row-major; writable. */
double *ag_tensor_data(const ag_tensor *t);
/** Element at a flat row-major index (NAN when out of range). */
double ag_tensor_get(const ag_tensor *t, size_t index);
/** Mark the tensor as a parameter (or freeze it with false): backward
 * accumulates d(root)/d(tensor) into its gradient buffer (allocated on the
 * first call, zeroed, kept until the tensor is freed). It applies to graph
 * nodes recorded afterwards; an optimiser skips a frozen tensor. Returns
 * false (ag_last_error) on OOM or a NULL tensor. */
bool ag_tensor_requires_grad(ag_tensor *t, bool requires);
/** The gradient buffer (same size as data), or NULL if the tensor does not
 * require grad. It first writes the zeros that ag_optimizer_zero_grad_lazily
 * left pending, so it is a write, not a read, for the threads rule above. */
double *ag_tensor_grad(const ag_tensor *t);
/** Set the gradient to zero (no-op without a gradient). */
void ag_tensor_zero_grad(ag_tensor *t);
/** Attach a name ("W1", "fc1.b"), copied; shown by printing and graph export.
 * False (ag_last_error) on a NULL tensor or name, or OOM. */
bool ag_tensor_set_name(ag_tensor *t, const char *name);
/** The tensor's name, "" when it has none. */
const char *ag_tensor_name(const ag_tensor *t);
/** Print "name (RxC) [[...]]" with `digits` significant digits, 17 (full
 * precision, %.17g) when digits <= 0 or above 17. A NULL tensor prints
 * "(null tensor)"; a NULL out prints nothing and sets ag_last_error. */
void ag_tensor_print(const ag_tensor *t, FILE *out, int digits);
/** Write "4x3" (or "scalar" for ndim 0) into buf, truncated to bufsize - 1
 * characters; returns buf. dims must hold ndim ints and is read only for ndim
 * 1 to AG_MAX_DIMS: another ndim writes "(bad ndim 7)", NULL dims "(NULL
 * dims)", both with ag_last_error set. A NULL buf or bufsize 0 writes nothing
 * (ag_last_error set). */
char *ag_shape_string(int ndim, const int *shape, char *buf, size_t bufsize);

/* ---- element types -----------------------------------------------------
 * A tensor holds float64 (double, the default: every function above makes
 * one, and exactness to 1e-12 needs it) or float32 (float: PyTorch's
 * default, twice the numbers per instruction), chosen when it is created.
 * A graph's ops compute in their operands' type: a leaf of a float32 tensor
 * makes float32 nodes all the way down, their gradients float32, and the
 * optimiser's state and a checkpoint follow the parameter's type. Mixing
 * the types in one op fails, naming both; ag_cast converts, differentiably.
 * The float64 accessors (ag_tensor_data, ag_node_value, ...) answer NULL
 * for a float32 tensor or node, with ag_last_error saying so; the _f32 ones
 * answer NULL for a float64 one. Every op has kernels for both types
 * (ag_op_supports_dtype); the study calls (Jacobians, Hessians, forward
 * mode, ag_grad) work in float64 only. */

typedef enum ag_dtype { AG_FLOAT64 = 0, AG_FLOAT32 = 1 } ag_dtype;

/** "float64" or "float32" ("?" for anything else). */
const char *ag_dtype_name(ag_dtype dtype);
/** ag_tensor_zeros with an element type. */
ag_tensor *ag_tensor_zeros_dtype(int ndim, const int *shape, ag_dtype dtype);
/** New float32 tensor holding a copy of `data` (NULL data is an error). */
ag_tensor *ag_tensor_from_f32(int ndim, const int *shape, const float *data);
/** A new tensor of `dtype` holding t's values converted (rounded to
 * nearest when narrowing), with t's name and requires_grad (its gradient
 * starts at zero). NULL (ag_last_error) on a NULL tensor or out of memory. */
ag_tensor *ag_tensor_to_dtype(const ag_tensor *t, ag_dtype dtype);
/** The tensor's element type (AG_FLOAT64 for NULL). */
ag_dtype ag_tensor_dtype(const ag_tensor *t);
/** A float32 tensor's elements and gradient (NULL for a float64 one). */
float *ag_tensor_data_f32(const ag_tensor *t);
float *ag_tensor_grad_f32(const ag_tensor *t);
/** Write element `index` (flat, row-major) in the tensor's type, from a
 * double (rounded for float32). False (ag_last_error) out of range. */
bool ag_tensor_set(ag_tensor *t, size_t index, double value);

/* ---- graphs ------------------------------------------------------------ */

/** A new empty graph; NULL (ag_last_error) on out of memory. */
ag_graph *ag_graph_new(void);
/** Free the graph and every node in it; NULL is ignored. */
void ag_graph_free(ag_graph *g);
/** Drop every recorded node and the sticky error, keeping the memory, so the
 * next step records without allocating. A node recorded before the reset
 * must not be used again: given as an operand, a backward root, a
 * Jacobian's out or wrt, a JVP seed or to ag_node_set_name, it fails with
 * "... a node recorded before the last reset" (each node carries its
 * graph's reset stamp). A reset keeps the old nodes' memory and nodes are
 * stored apart from values, so the check holds until a new node is recorded
 * at that very address; a pointer to such a node then is that new node.
 * After ag_graph_free no node may be used at all. */
void ag_graph_reset(ag_graph *g);
/** The first error recorded on the graph, or NULL when there is none. */
const char *ag_graph_error(const ag_graph *g);
/** Number of nodes recorded since the last reset. */
size_t ag_graph_size(const ag_graph *g);
/** Bytes the graph holds now: arena chunks plus the node list (its capacity). */
size_t ag_graph_bytes(const ag_graph *g);

/* ---- leaves -------------------------------------------------------------- */

/** A parameter leaf: the node reads t's data (no copy, so updates and replays
 * see new values) and, if t requires grad, backward accumulates into t's
 * gradient. NULL if t is NULL. */
ag_node *ag_param(ag_graph *g, ag_tensor *t);
/** An input leaf: reads t's data, no gradient flows to it. */
ag_node *ag_input(ag_graph *g, const ag_tensor *t);
/** A constant leaf holding a copy of `data` in the graph. */
ag_node *ag_constant(ag_graph *g, int ndim, const int *shape, const double *data);
/** A 0-d constant. */
ag_node *ag_scalar(ag_graph *g, double value);

/* ---- ops (each records one node; NULL operand => NULL result) -------- */

/**@{*/
/** Elementwise with NumPy/PyTorch broadcasting: shapes are aligned on the
 * right and each pair of sizes must be equal or one of them 1 (a scalar
 * broadcasts everywhere, a bias [C] over a matrix [N,C], a column [R,1] over
 * [R,C]). A broadcast operand's gradient is summed back to its shape. A
 * result of more than 2^40 elements (the most a tensor may hold, as for
 * matmul) is an error naming the op, both shapes and the element count. */
ag_node *ag_add(ag_node *a, ag_node *b);
ag_node *ag_sub(ag_node *a, ag_node *b);
ag_node *ag_mul(ag_node *a, ag_node *b);
ag_node *ag_div(ag_node *a, ag_node *b);
/**@}*/

/**@{*/
/** Elementwise unary. */
ag_node *ag_neg(ag_node *a);
ag_node *ag_exp(ag_node *a);
ag_node *ag_log(ag_node *a);
ag_node *ag_tanh(ag_node *a);
/**@}*/
/** max(x, 0); its derivative at exactly 0 is 0 (as PyTorch, JAX, ggml). A NaN
 * stays NaN and its gradient passes through (derivative 1), as in PyTorch.
 * Every op follows IEEE arithmetic on NaN and +-Inf as its definition
 * does; softmax and its relatives shift by the row's max first (PyTorch's
 * definition), so a row holding +Inf or only -Inf gives NaN. */
ag_node *ag_relu(ag_node *a);
/** 1 / (1 + exp(-x)), computed without overflow for large |x|. */
ag_node *ag_sigmoid(ag_node *a);
/** x^p for a constant exponent p. */
ag_node *ag_pow(ag_node *a, double p);
/**@{*/
/** sqrt(x); |x| (derivative sign(x), 0 at 0); sin; cos; log(1 + x) and
 * exp(x) - 1, accurate near 0. */
ag_node *ag_sqrt(ag_node *a);
ag_node *ag_abs(ag_node *a);
ag_node *ag_sin(ag_node *a);
ag_node *ag_cos(ag_node *a);
ag_node *ag_log1p(ag_node *a);
ag_node *ag_expm1(ag_node *a);
/**@}*/
/** log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|): no overflow, and
 * exact where PyTorch returns x itself (x > 20). */
ag_node *ag_softplus(ag_node *a);
/** x for x > 0, slope * x otherwise (derivative slope at 0, as PyTorch). */
ag_node *ag_leaky_relu(ag_node *a, double slope);
/** x * Phi(x), the exact (erf) form of GELU (PyTorch's default), Phi the
 * standard normal CDF; derivative Phi(x) + x phi(x). gelu(-Inf) and the
 * derivative at +-Inf are NaN (Inf * 0), as in PyTorch. Far left (x < -5)
 * Phi is computed with erfc, so gelu(-25) = -7.6e-137 where PyTorch's
 * 1 + erf cancels to -0. */
ag_node *ag_gelu(ag_node *a);
/** min(max(x, lo), hi); the gradient passes where lo <= x <= hi (bounds
 * included, as PyTorch). lo > hi or a NaN bound is an error. */
ag_node *ag_clamp(ag_node *a, double lo, double hi);
/**@{*/
/** Elementwise larger / smaller of a and b, broadcasting as ag_add; where
 * a == b the gradient is split evenly, half to each (as PyTorch). */
ag_node *ag_maximum(ag_node *a, ag_node *b);
ag_node *ag_minimum(ag_node *a, ag_node *b);
/**@}*/
/**@{*/
/** Comparisons, 1.0 where the relation holds and 0.0 where not (a NaN on
 * either side: 0.0), broadcasting as ag_add: torch.eq, gt, ge, lt, le as
 * doubles. Piecewise constant, so their derivatives are zero (they pass no
 * gradient); they make the masks of the recorded derivatives (relu's is
 * 1 - le(x, 0)) and conditions for ag_where. */
ag_node *ag_eq(ag_node *a, ag_node *b);
ag_node *ag_gt(ag_node *a, ag_node *b);
ag_node *ag_ge(ag_node *a, ag_node *b);
ag_node *ag_lt(ag_node *a, ag_node *b);
ag_node *ag_le(ag_node *a, ag_node *b);
/**@}*/
/** The standard normal distribution function Phi(x) = P(Z <= x) =
 * erfc(-x / sqrt 2) / 2 (torch.special.ndtr); its derivative is the density
 * e^(-x^2/2) / sqrt(2 pi). gelu's derivative is Phi(x) + x Phi'(x). */
ag_node *ag_normal_cdf(ag_node *a);
/** cond != 0 ? a : b elementwise, the three broadcasting together; cond gets
 * no gradient (it may be an input, a constant or even a parameter: its
 * gradient is never written). A NaN in cond is != 0, so it picks a. */
ag_node *ag_where(ag_node *cond, ag_node *a, ag_node *b);

/** Matrix product with torch.matmul's rules: [M,K] @ [K,N] -> [M,N]; a 1-d
 * operand is a vector ([K] @ [K,N] -> [N], [M,K] @ [K] -> [M], [K] @ [K] ->
 * scalar); 3-d and 4-d operands are batches of matrices, their batch
 * dimensions broadcasting as ag_add ([B,M,K] @ [K,N] -> [B,M,N]). A vector
 * against a batch meets each matrix ([K] @ [B,K,N] -> [B,N]); a broadcast
 * operand's gradient is summed over the batch. A 0-d operand is an error. */
ag_node *ag_matmul(ag_node *a, ag_node *b);
/** a @ b + bias in one node (a dense layer; PyTorch's addmm): [M,K] @ [K,N]
 * plus a bias of shape [M,N], [N] or [1,N] (added to every row), [M,1]
 * (added to every column) or a single value ([], [1] or [1,1]: added
 * everywhere). bias NULL: no bias, the same as ag_matmul(a, b). The values
 * are those of ag_add(ag_matmul(a, b), bias) up to rounding (a bias laid out
 * as the product starts each sum, as a hand-written layer does), with one
 * node and one pass fewer. */
ag_node *ag_linear(ag_node *a, ag_node *b, ag_node *bias);

/**@{*/
/** Sum / mean of every element -> scalar (0-d). */
/** x converted to `dtype` (float64 <-> float32, rounded to nearest when
 * narrowing; the same type: x's values copied). Its vjp converts the
 * gradient back to x's type: d cast(x)/dx = 1. */
ag_node *ag_cast(ag_node *x, ag_dtype dtype);
/** Whether op `name` ("matmul", "exp") has kernels for `dtype`: every op of
 * the registry (the differentiable ones) has both, float64 and float32
 * (false for an unknown name, and for the comparisons, ag_gt ..., which
 * are not in it and work in both types). In
 * float32 the ops that take data besides values take it in float32 too: a
 * condition (ag_where) and indices (ag_gather, ag_index_select,
 * ag_scatter_add), whole numbers exact up to 2^24; batch norm's running
 * statistics may be either type. */
bool ag_op_supports_dtype(const char *name, ag_dtype dtype);
ag_node *ag_sum(ag_node *a);
ag_node *ag_mean(ag_node *a);
/**@}*/
/**@{*/
/** Sum / mean along one axis (negative counts from the end), which is removed:
 * [N,C] along 0 -> [C], along 1 -> [N] (PyTorch's keepdim=False). */
ag_node *ag_sum_axis(ag_node *a, int axis);
ag_node *ag_mean_axis(ag_node *a, int axis);
/**@}*/
/**@{*/
/** Largest / smallest element -> scalar. Tied elements share the gradient
 * evenly (as torch.amax / torch.amin). A NaN anywhere makes the result NaN
 * and, as in torch.amax's backward, every element's gradient NaN. */
ag_node *ag_max(ag_node *a);
ag_node *ag_min(ag_node *a);
/**@}*/
/**@{*/
/** Largest / smallest along an axis, which is removed. The gradient goes to
 * the elements equal to the result, split evenly among ties (torch.amax);
 * NaN as ag_max, slice by slice. A 0-d input has no axis (an error). */
ag_node *ag_max_axis(ag_node *a, int axis);
ag_node *ag_min_axis(ag_node *a, int axis);
/**@}*/
/** log(sum(exp(x))) along an axis, shifted by the axis's max (stable); an
 * all -Inf slice gives -Inf, one with +Inf gives +Inf (torch.logsumexp). */
ag_node *ag_logsumexp_axis(ag_node *a, int axis);
/** Product along an axis; its gradient is exact when elements are 0 (the
 * product of the others, not y / x: so [2, Inf] has gradient [Inf, 2] where
 * PyTorch's y / x gives [Inf, NaN]). Its recorded gradient (ag_grad) keeps
 * that exactness with a product over an [A, A] layout per slice (A the
 * axis's length): A times the input's memory. */
ag_node *ag_prod_axis(ag_node *a, int axis);

/** [M,N] -> [N,M]. */
ag_node *ag_transpose(ag_node *a);
/** Same elements in a new shape (row-major order kept); one dimension may be
 * -1 and is then inferred. The element count must not change. */
ag_node *ag_reshape(ag_node *a, int ndim, const int *dims);

/* Indexing and joining. Indices are doubles holding whole numbers (as labels
 * are), negative ones counting from the end; one out of range, a fraction or
 * a NaN is an error naming the op, the position and the value. Axes may be
 * negative (counted from the end). */
/** Element `flat` of the row-major flattened tensor -> scalar. */
ag_node *ag_index(ag_node *a, size_t flat);
/** Elements start, start + step, ... up to (not including) stop along axis,
 * with Python's rules: negative bounds count from the end, bounds out of
 * range are clipped, step may be negative (not 0); INT_MAX / INT_MIN as
 * open ends (a[::-1] is start INT_MAX, stop INT_MIN, step -1). An empty
 * range is an error. The axis stays, with as many elements as were taken. */
ag_node *ag_slice(ag_node *a, int axis, int start, int stop, int step);
/** The entries of a along axis at the 1-d `indices` (rows of an embedding
 * table: a [V,D], axis 0, indices [N] -> [N,D]); repeated indices add up
 * their gradients. A 0-d index is one index (the axis kept, of size 1). */
ag_node *ag_index_select(ag_node *a, int axis, ag_node *indices);
/** torch.gather: out[i][j] = a[indices[i][j]][j] along axis 0 (likewise for
 * any axis); indices has a's number of dimensions and the output its shape;
 * along the other axes indices may be shorter than a, not longer (torch's rule). */
ag_node *ag_gather(ag_node *a, int axis, ag_node *indices);
/** torch.scatter_add: a copy of a with src[i][j] added at [indices[i][j]][j]
 * along axis 0 (likewise for any axis); indices and src have one shape
 * (torch allows a larger src), along the other axes no longer than a. */
ag_node *ag_scatter_add(ag_node *a, int axis, ag_node *indices, ag_node *src);
/** xs[0 .. n) joined along an existing axis (their other sizes equal);
 * 1 <= n <= 65535. 0-d operands have no axis: stack them. With n = 0 or xs
 * NULL there is no graph to tell: NULL, and ag_last_error says why. */
ag_node *ag_concat(size_t n, ag_node *const *xs, int axis);
/** xs[0 .. n) of one shape stacked along a new axis (0 .. ndim, negative:
 * ndim + 1 + axis); 1 <= n <= 65535 (n = 0: as ag_concat), at most
 * AG_MAX_DIMS dimensions in the result. */
ag_node *ag_stack(size_t n, ag_node *const *xs, int axis);
/** Axes reordered: output axis d is input axis perm[d] (a transpose of any
 * order; perm holds ndim entries listing each of 0 .. ndim-1 once, negative
 * ones counting from the end as torch.permute's). */
ag_node *ag_permute(ag_node *a, const int *perm);
/** a broadcast to shape (torch.broadcast_to / expand, -1 keeping a size;
 * new leading dimensions allowed, -1 not there); the gradient is summed
 * back to a's shape. */
ag_node *ag_expand(ag_node *a, int ndim, const int *shape);

/** Softmax, shifted by the max so large inputs stay finite. A vector (1-d,
 * [C,1] or [1,C]) is one distribution; an [N,C] matrix (N, C > 1) is N rows. */
ag_node *ag_softmax(ag_node *a);

/** log(softmax(x)) computed stably (rows as ag_softmax). */
ag_node *ag_log_softmax(ag_node *a);

/** Mean squared error: mean((prediction - target)^2), equal shapes -> scalar. */
ag_node *ag_mse(ag_node *prediction, ag_node *target);

/** Softmax followed by cross-entropy, fused and shifted by the max logit so
 * logits of +-1000 stay finite; returns a scalar.
 *  - one sample: logits with C elements in a 1-d, [C,1] or [1,C] shape and
 *    `labels` holding 1 element;
 *  - a batch: logits [N,C] and `labels` holding N elements; the loss is the
 *    mean over the rows.
 * Labels are 0-based class indices stored as doubles; an index that is not a
 * whole number in [0, C) is an error naming the row. */
ag_node *ag_softmax_xent(ag_node *logits, ag_node *labels);
/** Single-sample form with a constant class index. */
ag_node *ag_softmax_xent_label(ag_node *logits, int label);

/* ---- convolution and pooling ------------------------------------------------ */

/** 2-d convolution, torch.nn.functional.conv2d's (a cross-correlation;
 * dilation 1, groups 1): x [N,C,H,W], w [O,C,kh,kw] (PyTorch's layout), b [O]
 * or NULL -> [N,O,H',W'], H' = (H + 2 padding - kh) / stride + 1 (floor),
 * likewise W'; zeros pad every side. stride >= 1, padding >= 0, and the
 * kernel must fit in the padded input. */
ag_node *ag_conv2d(ag_node *x, ag_node *w, ag_node *b, int stride, int padding);
/** 1-d convolution, torch.nn.functional.conv1d's: x [N,C,L], w [O,C,k], b [O]
 * or NULL -> [N,O,L'], L' = (L + 2 padding - k) / stride + 1. */
ag_node *ag_conv1d(ag_node *x, ag_node *w, ag_node *b, int stride, int padding);
/** conv2d's derivatives as ops (torch.nn.grad.conv2d_input and
 * conv2d_weight), each linear in either operand: for y = conv2d(x, w) with
 * x [N,C,height,width] and a cotangent gy of y's shape [N,O,H',W'],
 * dL/dx = ag_conv2d_input_grad(gy, w, ...), and with w [O,C,kh,kw]
 * dL/dw = ag_conv2d_weight_grad(x, gy, ...). The sizes the operands do not
 * fix (H' is floored) are given. */
ag_node *ag_conv2d_input_grad(ag_node *gy, ag_node *w, int height, int width, int stride, int padding);
ag_node *ag_conv2d_weight_grad(ag_node *x, ag_node *gy, int kh, int kw, int stride, int padding);
/** conv1d's, likewise: x [N,C,length], w [O,C,k]. */
ag_node *ag_conv1d_input_grad(ag_node *gy, ag_node *w, int length, int stride, int padding);
ag_node *ag_conv1d_weight_grad(ag_node *x, ag_node *gy, int k, int stride, int padding);
/** 2-d pooling of x [N,C,H,W] (4-d only) over kernel x kernel windows, stride
 * apart, no padding: [N,C,H',W'], H' = (H - kernel) / stride + 1 (floor), W'
 * alike (torch.nn.functional.max_pool2d / avg_pool2d, padding 0, ceil_mode
 * False). kernel and stride >= 1, kernel <= H and W. max: the gradient goes
 * to one element per window, the first maximum in row-major window order (a
 * window of equal values sends it to its top-left element); a NaN in a
 * window makes that output NaN, its gradient going to the window's last NaN
 * (PyTorch's CPU kernel). avg: the mean of the kernel^2 elements. */
ag_node *ag_max_pool2d(ag_node *x, int kernel, int stride);
ag_node *ag_avg_pool2d(ag_node *x, int kernel, int stride);

/** Inverted dropout (torch.nn.functional.dropout): each element zeroed with
 * probability p, the rest scaled by 1/(1 - p); y = x * mask, so a dropped
 * Inf or NaN gives NaN, as PyTorch. Element k is kept when u_k < 1 - p, u_k
 * = ag_rng_uniform(rng, 0, 1) drawn in element order (the same seed gives the
 * same mask; PyTorch's generator gives others). p in [0, 1] (outside or NaN: an error,
 * even when not training); p = 1 gives zeros and a zero gradient. When
 * !training, or p = 0, x itself is returned (no node, nothing drawn). The
 * mask is drawn from rng when recorded and redrawn at every replay
 * (ag_graph_forward), so a replayed graph trains as a rebuilt one; the node
 * keeps the pointer: rng must outlive the graph's replays. */
ag_node *ag_dropout(ag_node *x, double p, ag_rng *rng, bool training);
/* ---- normalisation ----------------------------------------------------------
 * PyTorch's F.layer_norm and F.batch_norm: the values normalised with their
 * mean and BIASED variance, xhat = (x - mean) / sqrt(var + eps), then
 * y = gamma xhat + beta. gamma and beta may be NULL (no scale: 1, no shift:
 * 0). eps must be a finite number > 0. Bad shapes or settings are an error
 * naming the op and the shapes. Both are one fused node with PyTorch's
 * closed-form backward; their recorded derivatives (ag_grad) differentiate
 * again. */

/** Normalise over the last axis of x [..., D]; gamma, beta [D] or NULL
 * (F.layer_norm(x, [D], gamma, beta, eps)). */
ag_node *ag_layer_norm(ag_node *x, ag_node *gamma, ag_node *beta, double eps);
/** Normalise each channel (axis 1) of x [N,C], [N,C,L] or [N,C,H,W] over N
 * and the plane; gamma, beta [C] or NULL (F.batch_norm).
 *  - training: with the batch's statistics; N*H*W must be above 1 ("Expected
 *    more than 1 value per channel when training"). When running_mean and
 *    running_var ([C] tensors) are given, every forward -- the recording and
 *    each ag_graph_forward replay, a replay being a training step -- updates
 *    them once: running_mean = (1 - momentum) running_mean + momentum mean,
 *    running_var likewise with the UNBIASED batch variance (var n/(n-1)),
 *    n = N*H*W. Both NULL: no tracking (track_running_stats=False).
 *  - eval (!training): with running_mean and running_var (required; read at
 *    each forward, never changed); the op is then affine in x.
 * momentum must be in [0, 1]. */
ag_node *ag_batch_norm(ag_node *x, ag_node *gamma, ag_node *beta, ag_tensor *running_mean,
                       ag_tensor *running_var, double momentum, double eps, bool training);

/* ---- nodes ---------------------------------------------------------------- */

/** Number of dimensions of the node's value. */
int ag_node_ndim(const ag_node *n);
/** Size of dimension dim (0 when out of range). */
int ag_node_dim(const ag_node *n, int dim);
/** Number of elements of the node's value. */
size_t ag_node_size(const ag_node *n);
/** The node's value (valid until reset). */
const double *ag_node_value(const ag_node *n);
/** The node's gradient, or NULL if it has none (no tensor that requires
 * grad below it; for a leaf, its tensor did not require grad when the leaf
 * was recorded, or it is an input or a constant). Valid until reset.
 *  - an op's node: d(root)/d(node) for the root of the last backward (zeros
 *    when that root does not depend on it); each backward starts it afresh.
 *  - a parameter leaf: its tensor's gradient, ag_tensor_grad (PyTorch's
 *    leaf .grad): the sum over every backward since the gradient was last
 *    zeroed and over every leaf of that tensor in the graph (ag_param(g, t)
 *    twice makes two leaves that share it). For the derivative with respect
 *    to one leaf alone, use ag_jacobian_rev or ag_jacobian_fwd. */
const double *ag_node_grad(const ag_node *n);
/** The node's element type (its operands', or its tensor's at a leaf). */
ag_dtype ag_node_dtype(const ag_node *n);
/** A float32 node's value and gradient (NULL for a float64 node, or no
 * gradient). Valid until reset. */
const float *ag_node_value_f32(const ag_node *n);
const float *ag_node_grad_f32(const ag_node *n);
/** Element `index` of the node's value as a double, whatever its type (NAN
 * when out of range or n is NULL). */
double ag_node_get(const ag_node *n, size_t index);
/** Name of the op that made the node ("matmul", "param", ...). */
const char *ag_node_op(const ag_node *n);
/** Name the node for printing and graph pictures (copied into the graph). */
ag_node *ag_node_set_name(ag_node *n, const char *name);
/** The node's name ("" when it has none). */
const char *ag_node_name(const ag_node *n);
/** The graph the node was recorded in. */
ag_graph *ag_node_graph(const ag_node *n);
/** Print the node's name, op, shape and value (as ag_tensor_print). A NULL
 * node prints "(null node)"; a NULL out prints nothing and sets ag_last_error. */
void ag_node_print(const ag_node *n, FILE *out, int digits);

/* ---- backward ------------------------------------------------------------ */

/** Reverse-mode sweep from a scalar root: every parameter leaf that root
 * depends on gets d(root)/d(leaf) ADDED to its gradient (call
 * ag_tensor_zero_grad / ag_graph_zero_grad between steps). Intermediate
 * gradients are recomputed from zero on each call, so a second backward on
 * the same graph adds the same gradient to the parameters again, as PyTorch
 * does with retain_graph=True. Returns false (graph error set) on a bad root. */
bool ag_backward(ag_graph *g, ag_node *root);
/** Same with a seed gradient u of root's shape (for non-scalar roots: one
 * vector-Jacobian product u^T J); a NULL seed means all ones. */
bool ag_backward_seed(ag_graph *g, ag_node *root, const double *seed);
/** Zero the gradients of every parameter leaf recorded in the graph. */
void ag_graph_zero_grad(ag_graph *g);
/** Re-run every recorded node's forward, in recording order, reading the
 * current values of parameter and input tensors (record once, replay many).
 * Returns false (graph error set) if an op fails on the data, e.g. a label
 * out of range; such an error is cleared by the next replay, so fixing the
 * data and replaying again works. An error made while recording stays. */
bool ag_graph_forward(ag_graph *g);

/* ---- forward mode and Jacobians ---------------------------------------------- */

/** Forward-mode sweep (Jacobian-vector products) over the recorded graph:
 * node seeds[i] gets tangent tangents[i] (its size), every node recorded
 * after it that depends on a seed gets d(node) = J d(seed) (other inputs held
 * fixed); read it with ag_node_tangent. Seeds may be leaves or intermediate
 * nodes. Tangent memory comes from the graph's arena until reset; a node's
 * buffer is reused by the next sweep that reaches it (so a loop of sweeps
 * from the same seeds allocates nothing after the first). false on misuse,
 * as a study call (the graph stays usable; tangents are then undefined). */
bool ag_jvp(ag_graph *g, size_t n_seeds, ag_node *const *seeds, const double *const *tangents);
/** The tangent of the last ag_jvp sweep (overwritten by the next), or NULL if the node does not depend
 * on any seed. */
const double *ag_node_tangent(const ag_node *n);

/**@{*/
/** Full Jacobian d(out)/d(wrt) as a new [size(out), size(wrt)] tensor (the
 * caller frees it): row i is d out_i / d wrt. By reverse mode (one VJP sweep
 * per output element; wrt must receive a gradient, i.e. depend on a tensor that
 * requires grad) or by forward mode (one JVP sweep per element of wrt). wrt
 * may be a leaf or an intermediate node recorded before out. The Jacobian is
 * with respect to the node wrt alone: where one tensor has several leaves
 * in the graph (two ag_param calls), the others are held fixed, in both
 * modes. Every gradient is left as it was: ag_jacobian_rev's sweeps
 * overwrite the gradients of the parameters and of the nodes between wrt
 * and out, and it puts them back after, so ag_node_grad and the graph's
 * picture show the last ag_backward's gradients again. NULL on misuse, as a
 * study call (see the top of this file: the graph stays usable, so after
 * "no gradient flows ... use ag_jacobian_fwd", ag_jacobian_fwd works). */
ag_tensor *ag_jacobian_rev(ag_graph *g, ag_node *out, ag_node *wrt);
ag_tensor *ag_jacobian_fwd(ag_graph *g, ag_node *out, ag_node *wrt);
/**@}*/

/* ---- gradcheck ------------------------------------------------------------------ */

/** Builds a scalar loss on g (a fresh or reset graph) from the parameters the
 * caller passed to ag_gradcheck; returns the loss node or NULL on error. */
typedef ag_node *(*ag_loss_builder)(ag_graph *g, void *user);

typedef struct ag_gradcheck_options {
    double eps;   /**< central-difference step (default 1e-6) */
    double atol;  /**< pass when |analytic - numeric| <= atol + rtol |numeric| */
    double rtol;  /**< (defaults 1e-5 and 1e-3, as PyTorch's gradcheck) */
    FILE *report; /**< one line per parameter when not NULL */
} ag_gradcheck_options;

typedef struct ag_gradcheck_result {
    double max_abs_error; /**< largest |analytic - numeric| */
    double max_rel_error; /**< largest |analytic - numeric| / |numeric| (numeric != 0) */
    size_t worst;         /**< element with the largest excess over the tolerance */
    double worst_analytic, worst_numeric;
    bool pass;
} ag_gradcheck_result;

/** The options gradcheck uses when given NULL. */
ag_gradcheck_options ag_gradcheck_defaults(void);
/** Compare autograd with central differences, element by element and signed,
 * for every parameter (each must require grad). results (n_params entries)
 * may be NULL. Returns true when every element passes; false on a mismatch,
 * or with an ag_last_error message on misuse: a NULL builder, params NULL
 * (n_params > 0) or a parameter NULL or not requiring grad, options with eps
 * not finite and > 0 or atol / rtol not finite and >= 0; or when the builder
 * fails: it returned NULL (the message quotes the error it left on the graph
 * or in ag_last_error), a node of a failed graph, or a loss that is not a
 * scalar (its shape is named). Parameter values and gradients are restored. */
bool ag_gradcheck(ag_loss_builder build, void *user, size_t n_params, ag_tensor *const *params,
                  const ag_gradcheck_options *options, ag_gradcheck_result *results);

/* ---- derivatives of derivatives --------------------------------------------------
 * ag_backward fills gradient buffers with numbers. ag_grad instead records the
 * gradient as new nodes of the graph: each op's vector-Jacobian product is
 * itself recorded as ops (mul's is two muls, matmul's two matmuls with a
 * transpose, relu's a mul by the mask 1 - le(x, 0)). Those nodes are
 * differentiable like any other, so ag_grad can be applied to them again
 * (Hessians, third derivatives), ag_jvp_nodes records forward mode the same
 * way, and the numeric sweeps (ag_backward, ag_jvp, ag_jacobian_*) run over
 * them too. Recorded nodes stay until ag_graph_reset, and ag_graph_forward
 * replays them with the rest: record a gradient once (with create_graph),
 * replay it on new data.
 * The four nestings of a second derivative:
 *   reverse over reverse  ag_grad(create_graph), then ag_grad / ag_backward_seed
 *   forward over reverse  ag_grad(create_graph), then ag_jvp_nodes / ag_jvp
 *   reverse over forward  ag_jvp_nodes, then ag_grad / ag_backward
 *   forward over forward  ag_jvp_nodes twice (or then ag_jvp). */

/** d root / d wrt[i] for each i, as new nodes recorded in g (shape of wrt[i])
 * written to grads[i]; with create_graph they are differentiable like any
 * node (they depend on the tensors root does), without it they are constants
 * holding the numbers (computed by the plain backward sweep, which leaves
 * every parameter's gradient as it was but, as any backward, the
 * intermediate nodes' ag_node_grad values its own; a replay does not
 * update such constants). root must be a scalar node of g;
 * each wrt[i] a node of g recorded before it through which a gradient flows
 * (it depends on a tensor that requires grad). A wrt[i] that root does not
 * depend on gets zeros (as JAX; PyTorch would need allow_unused). The
 * gradient is with respect to the node wrt[i] alone (another leaf of the
 * same tensor is held fixed), as ag_jacobian_rev's. false (graph error set)
 * on misuse; grads[i] are then NULL. */
bool ag_grad(ag_graph *g, ag_node *root, size_t n, ag_node *const *wrt, ag_node **grads,
             bool create_graph);

/** Forward mode recorded as nodes: for each outs[j], a new node holding
 * J_j t = sum_i d outs[j] / d seeds[i] . tangents[i] (out_tangents[j], shape
 * of outs[j]), where tangents[i] is a node of seeds[i]'s shape. Like ag_jvp,
 * a seed may be a leaf or an intermediate node (its own inputs are then
 * ignored); an output that depends on no seed gets zeros. The tangent nodes
 * are differentiable in every way: by ag_grad, by ag_jvp_nodes again, and
 * through the tangents given (a tangent may depend on parameters). false
 * (graph error set) on misuse; out_tangents[j] are then NULL. */
bool ag_jvp_nodes(ag_graph *g, size_t n_seeds, ag_node *const *seeds, ag_node *const *tangents,
                  size_t n_out, ag_node *const *outs, ag_node **out_tangents);

/** H v for the Hessian H of scalar root with respect to wrt (flattened,
 * row-major), written to hv (size(wrt) doubles): forward over reverse, a
 * recorded gradient (ag_grad) and one forward sweep over it, a few gradients'
 * cost. The recorded gradient is kept on the graph and reused by the next
 * call with the same root and wrt while nothing else is recorded, so a
 * conjugate-gradient loop records it once. false on misuse (as ag_grad's,
 * and v or hv NULL), as a study call: the graph stays usable. */
bool ag_hvp(ag_graph *g, ag_node *root, ag_node *wrt, const double *v, double *hv);
/** The full Hessian d^2 root / d wrt^2 as a new [size(wrt), size(wrt)] tensor
 * (the caller frees it), row i the gradient of (d root / d wrt)_i: reverse
 * over reverse (one backward sweep over the recorded gradient per row).
 * ag_hessian_fwd gives the same by forward over reverse (one forward sweep
 * per column). NULL on misuse (as ag_grad's), as a study call: the graph
 * stays usable. Gradients are left as they were (see ag_jacobian_rev). */
ag_tensor *ag_hessian(ag_graph *g, ag_node *root, ag_node *wrt);
ag_tensor *ag_hessian_fwd(ag_graph *g, ag_node *root, ag_node *wrt);

/** Second derivatives against central differences of the first, as
 * PyTorch's gradgradcheck, per element and signed: for the loss L the
 * builder makes, every second derivative d^2 L / d params[p]_i d params[q]_j
 * from the recorded gradient (ag_grad, then a backward sweep per row) is
 * compared with (dL/dparams[p]_i (x + eps e_j) - dL/dparams[p]_i (x - eps e_j))
 * / (2 eps), the gradients by the plain backward. results[p] summarises the
 * rows of params[p], element index i * N + j over the N elements of all
 * parameters (j counting through params[0], params[1], ...). Options,
 * misuse and restoring as ag_gradcheck's. */
bool ag_gradgradcheck(ag_loss_builder build, void *user, size_t n_params, ag_tensor *const *params,
                      const ag_gradcheck_options *options, ag_gradcheck_result *results);

/* ---- seeing the graph -------------------------------------------------------- */

/** When out is not NULL, every ag_backward on g prints the walk: for each node
 * in the order visited, the gradient that arrived and the contribution sent
 * to each input (the chain rule with numbers). NULL turns it off. */
void ag_graph_set_trace(ag_graph *g, FILE *out);

/** Anomaly detection (off by default, as PyTorch's detect_anomaly): when on,
 * every op's value and every gradient a backward sends are checked for NaN
 * and Inf; the first one found stops the pass with an error naming the op,
 * the node and its inputs' shapes. A NaN or an Inf that came in rather
 * than being made (an operand's value already holds it) names the leaf it
 * came through ("parameter 'w' holds NaN at element 1: it came in through
 * that leaf"), or the operand made before detection was turned on. Before
 * a backward, a parameter gradient that already holds one (left from an
 * earlier backward, not zeroed) is reported as such, naming the parameter.
 * It costs a pass over each buffer. */
void ag_graph_set_detect_anomaly(ag_graph *g, bool on);

/** Write the graph as Graphviz DOT: one box per node (name, op, shape, value
 * and gradient; tensors over 12 elements summarised), edges in data-flow
 * direction, parameters, inputs and constants styled apart. */
bool ag_graph_write_dot(const ag_graph *g, FILE *out);
/** Same, to a file, written atomically like a checkpoint (temporary file
 * renamed over path, see ag_checkpoint_save): on any failure, a NULL graph
 * included, an old file at path is left as it was. False with ag_last_error
 * set when it cannot be written. */
bool ag_graph_save_dot(const ag_graph *g, const char *path);

/* ---- random numbers ------------------------------------------------------ */

/** A seeded generator (splitmix64 for the stream, Box-Muller for normals): the
 * same seed gives the same numbers, bit for bit, on every machine. */
typedef struct ag_rng {
    unsigned long long state;
    double spare_normal;
    bool has_spare;
} ag_rng;
/** A generator started from seed. The functions below given a NULL
 * generator set ag_last_error (naming the function) and return 0, or NAN
 * for the doubles, drawing nothing. */
ag_rng ag_rng_new(unsigned long long seed);
/** The next 64 random bits. */
unsigned long long ag_rng_next(ag_rng *r);
/** Uniform in [lo, hi). */
double ag_rng_uniform(ag_rng *r, double lo, double hi);
/** Normal with the given mean and standard deviation. */
double ag_rng_normal(ag_rng *r, double mean, double stddev);
/** Uniform integer in [0, n) without modulo bias; 0 when n is 0. */
unsigned long long ag_rng_below(ag_rng *r, unsigned long long n);

/* ---- recurrent cells ------------------------------------------------------
 * PyTorch's equations and weight layouts, so its weights load and give the
 * same numbers: nn.LSTMCell (gates i, f, g, o, in that order down the rows of
 * the weights), nn.GRUCell (r, z, n), and one layer of nn.LSTM / nn.GRU
 * unrolled over a time-major sequence (batch_first=False). Built from the
 * ops above, so every derivative works through them: backward, forward
 * mode, ag_grad and second order. Operands are nodes of one graph; a NULL
 * one (an earlier call failed) makes the call fail, a bias may be NULL
 * (none, as bias=False), and a shape that does not fit fails the graph with
 * a message naming the function, the operand, its shape and the one
 * expected. Weights as PyTorch initialises them: every one uniform in
 * +-1/sqrt(H) (ag_init_uniform). */

/** LSTM cell, x [N,I], h, c [N,H], w_ih [4H,I], w_hh [4H,H], b_ih, b_hh
 * [4H] or NULL:
 *   gates = x w_ih^T + b_ih + h w_hh^T + b_hh   [N,4H], columns i, f, g, o
 *   i, f, o = sigmoid(their columns), g = tanh(its columns)
 *   c' = f * c + i * g,   h' = o * tanh(c')
 * writes h' and c' ([N,H]) to *h_out and *c_out; false (both NULL) on error. */
bool ag_lstm_cell(ag_node *x, ag_node *h, ag_node *c, ag_node *w_ih, ag_node *w_hh,
                  ag_node *b_ih, ag_node *b_hh, ag_node **h_out, ag_node **c_out);
/** The pointwise half of ag_lstm_cell, one op each (ag_lstm_cell and ag_lstm
 * record them): from the gate pre-activations gates [N,4H] (columns i, f,
 * g, o) and a state c [N,H],
 *   ag_lstm_state:  c' = sigmoid(gates_f) * c + sigmoid(gates_i) * tanh(gates_g)
 *   ag_lstm_output: h' = sigmoid(gates_o) * tanh(c)    (c: the c' just made)
 * each [N,H]; NULL, the graph failed, when the shapes do not fit. */
ag_node *ag_lstm_state(ag_node *gates, ag_node *c);
ag_node *ag_lstm_output(ag_node *gates, ag_node *c);
/** An LSTM layer's recurrence over a whole sequence as one op (ag_lstm
 * records it): from every step's input share gates_x [T,N,4H] (x_t w_ih^T +
 * b_ih + b_hh, columns i, f, g, o; or the same rows as [T N, 4H], N taken
 * from h0), w_hh [4H,H] and the initial state h0, c0 [N,H], step t = 0 ..
 * T-1 is
 *   gates = gates_x[t] + h w_hh^T,  then c and h as ag_lstm_state, ag_lstm_output;
 * returns [2,T,N,H]: [0,t] the h and [1,t] the c after step t. NULL, the
 * graph failed, when the shapes do not fit. */
ag_node *ag_lstm_sequence(ag_node *gates_x, ag_node *w_hh, ag_node *h0, ag_node *c0);
/** GRU cell, x [N,I], h [N,H], w_ih [3H,I], w_hh [3H,H], b_ih, b_hh [3H] or
 * NULL; returns h' [N,H]:
 *   r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
 *   z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
 *   n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
 *   h' = (1 - z) * n + z * h                                              */
ag_node *ag_gru_cell(ag_node *x, ag_node *h, ag_node *w_ih, ag_node *w_hh,
                     ag_node *b_ih, ag_node *b_hh);

/** One LSTM layer over a sequence x [T,N,I] (time, batch, features), as
 * torch.nn.LSTM(I, H) with its weight_ih_l0, weight_hh_l0, bias_ih_l0,
 * bias_hh_l0: the input's share of every step is one product
 * ([T N, I] @ w_ih^T), then ag_lstm_cell's equations step by step, recorded
 * as one op (ag_lstm_sequence) whose backward is one pass through time. h0, c0
 * [N,H] are the initial state, NULL for zeros (in x's type). Writes, each pointer
 * optional (NULL: not wanted): *out the outputs h_1 .. h_T stacked [T,N,H]
 * (second derivatives: T <= 65535), *h_n and *c_n the final state [N,H]. For truncated
 * backpropagation through time, copy h_n's and c_n's values
 * (ag_node_value, or ag_node_value_f32 in float32) into tensors before
 * the graph is reset, and pass them as
 * ag_input leaves for h0 and c0 of the next segment: the state carries
 * over, the gradient stops there. Layers stack by feeding *out to the
 * next. false (every result NULL) on error. */
bool ag_lstm(ag_node *x, ag_node *h0, ag_node *c0, ag_node *w_ih, ag_node *w_hh,
             ag_node *b_ih, ag_node *b_hh, ag_node **out, ag_node **h_n, ag_node **c_n);
/** One GRU layer over x [T,N,I], as torch.nn.GRU(I, H) (ag_gru_cell's
 * equations): h0 [N,H] or NULL for zeros; *out [T,N,H] and *h_n [N,H] as
 * ag_lstm's, each optional. false (both NULL) on error. */
bool ag_gru(ag_node *x, ag_node *h0, ag_node *w_ih, ag_node *w_hh, ag_node *b_ih,
            ag_node *b_hh, ag_node **out, ag_node **h_n);

/* ---- networks: initialisers, layers, optimisers ---------------------------- */

typedef struct ag_params ag_params; /**< the parameter store (agrad_io.h) */

/**@{*/
/** Fill a tensor. For a 2-d weight W [in, out] (x @ W), fan_in = rows and
 * fan_out = cols. Xavier/Glorot: uniform +-sqrt(6/(in+out)) or normal with
 * std sqrt(2/(in+out)); He/Kaiming: uniform +-sqrt(6/in) or std sqrt(2/in).
 * A NULL tensor (or generator) changes nothing and sets ag_last_error. */
void ag_init_zeros(ag_tensor *t);
void ag_init_constant(ag_tensor *t, double value);
void ag_init_uniform(ag_tensor *t, ag_rng *rng, double lo, double hi);
void ag_init_normal(ag_tensor *t, ag_rng *rng, double mean, double stddev);
void ag_init_xavier_uniform(ag_tensor *t, ag_rng *rng);
void ag_init_xavier_normal(ag_tensor *t, ag_rng *rng);
void ag_init_he_uniform(ag_tensor *t, ag_rng *rng);
void ag_init_he_normal(ag_tensor *t, ag_rng *rng);
/**@}*/

typedef enum ag_activation { AG_ACT_NONE, AG_ACT_RELU, AG_ACT_TANH, AG_ACT_SIGMOID } ag_activation;

/** Apply an activation (AG_ACT_NONE returns x). */
ag_node *ag_activate(ag_node *x, ag_activation act);
/** Dense layer, rows are samples: act(x [N,in] @ W [in,out] + b [out]), the
 * product and the bias in one ag_linear node; b may be NULL. NULL x gives
 * NULL (an earlier op failed); a NULL g or W is an error on x's graph. */
ag_node *ag_dense(ag_graph *g, ag_node *x, ag_tensor *W, ag_tensor *b, ag_activation act);

/** A multi-layer perceptron: n_layers dense layers of widths[0] -> widths[1]
 * -> ... -> widths[n_layers], activations[k] after layer k. Its tensors are
 * added to the store as "<prefix>1.W", "<prefix>1.b", ... (He uniform before a
 * ReLU, Xavier uniform otherwise, zero biases). The store owns the tensors;
 * free the mlp with ag_mlp_free before or after the store. NULL, with
 * ag_last_error, on a NULL argument, n_layers 0, a width not positive, a
 * weight over 2^40 elements, an activation that is not an ag_activation, a
 * name over 127 characters or one the store already holds: all checked
 * before any tensor is added, so the store is unchanged. Out of memory while
 * adding a later layer removes the tensors the call added: the store is
 * again as it was. */
typedef struct ag_mlp ag_mlp;
ag_mlp *ag_mlp_new(ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                   const ag_activation *activations, ag_rng *rng);
/** ag_mlp_new with float32 (or float64) weights: the same draws, rounded;
 * give ag_mlp_forward an input of that type (ag_cast a float64 batch). */
ag_mlp *ag_mlp_new_dtype(ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                         const ag_activation *activations, ag_rng *rng, ag_dtype dtype);
/** ag_mlp_new also describes the MLP in the store's metadata, under
 * "agrad.mlp.<prefix>": "widths=4,16,3 activations=relu,none", which a
 * checkpoint of the store keeps. ag_mlp_from_params builds the MLP again
 * from that description and the store's tensors (a store ag_checkpoint_read
 * gave: the predict program needs only the file, as Keras' load_model):
 * prefix names the MLP, NULL for the only one the store describes. NULL
 * (ag_last_error) when the description is missing or malformed (the
 * message shows it and says what is wrong) or a tensor it needs is missing
 * or of another shape. The store keeps the tensors; free the mlp with
 * ag_mlp_free. */
ag_mlp *ag_mlp_from_params(ag_params *ps, const char *prefix);
/** Record the forward pass on g from x [N, widths[0]]; returns [N, widths[n]]. */
ag_node *ag_mlp_forward(const ag_mlp *m, ag_graph *g, ag_node *x);
/** Its parameters in order W1, b1, W2, b2, ...; *count gets their number. */
ag_tensor *const *ag_mlp_params(const ag_mlp *m, size_t *count);
/** Free the MLP (not its tensors, which the store owns); NULL ok. */
void ag_mlp_free(ag_mlp *m);

/** Fraction of the first `rows` rows of logits [N,C] whose largest entry is
 * at the class index in labels; -1 (ag_last_error names the shapes) on a
 * NULL argument, a shape mismatch or rows 0. */
double ag_accuracy(const ag_node *logits, const ag_tensor *labels, size_t rows);
/** The predicted class of each of the first `rows` rows of logits [N,C]: the
 * index of its largest entry (the first on ties), as
 * logits.argmax(dim=1); a new [rows] tensor. NULL (ag_last_error) on a NULL
 * or non-[N,C] logits, or rows 0 or past N. */
ag_tensor *ag_predict_classes(const ag_node *logits, size_t rows);

/** A confusion matrix over n_classes classes, as sklearn's
 * confusion_matrix: count(i, j) = samples of true class i predicted as j
 * (rows true, columns predicted). ag_confusion_add counts the first `rows`
 * (label, prediction) pairs, both class indices (checked first: on error
 * nothing is counted); call it once per batch. Precision of class k =
 * count(k,k) / column k's sum, recall = count(k,k) / row k's sum, accuracy =
 * trace / total; a 0/0 is 0, as sklearn's zero_division default reports it.
 * ag_confusion_print writes the matrix and a classification_report-style
 * table (precision, recall, f1-score, support, then accuracy), naming the
 * classes by class_names (NULL: their indices). */
typedef struct ag_confusion ag_confusion;
ag_confusion *ag_confusion_new(int n_classes);
bool ag_confusion_add(ag_confusion *c, const ag_tensor *labels, const ag_tensor *predicted, size_t rows);
int ag_confusion_classes(const ag_confusion *c);
/** count(true_class, predicted_class); 0 out of range. */
long ag_confusion_count(const ag_confusion *c, int true_class, int predicted_class);
/** NAN for a NULL matrix or a class out of range. */
double ag_confusion_precision(const ag_confusion *c, int k);
double ag_confusion_recall(const ag_confusion *c, int k);
double ag_confusion_accuracy(const ag_confusion *c);
bool ag_confusion_print(FILE *out, const ag_confusion *c, const char *const *class_names);
void ag_confusion_free(ag_confusion *c);

typedef enum ag_optim_kind { AG_OPTIM_SGD, AG_OPTIM_ADAM, AG_OPTIM_ADAMW } ag_optim_kind;

/** Settings, with PyTorch's meaning (torch.optim.SGD / Adam / AdamW). */
typedef struct ag_optimizer_config {
    ag_optim_kind kind;
    double lr;
    double weight_decay; /**< SGD, Adam: L2 added to the gradient; AdamW: decoupled */
    double momentum;     /**< SGD */
    double dampening;    /**< SGD */
    bool nesterov;       /**< SGD; needs momentum > 0 and dampening 0 */
    double beta1, beta2, eps; /**< Adam, AdamW */
} ag_optimizer_config;

/**@{*/
/** Defaults: plain SGD; Adam (0.9, 0.999, 1e-8); AdamW (same, weight decay 0.01). */
ag_optimizer_config ag_sgd_config(double lr);
ag_optimizer_config ag_adam_config(double lr);
ag_optimizer_config ag_adamw_config(double lr);
/**@}*/

typedef struct ag_optimizer ag_optimizer;
/** An optimiser over n_params tensors that require grad (not owned). Its state
 * is allocated here, so a step allocates nothing. NULL, with ag_last_error
 * naming the field and its value or the parameter's index, when:
 *  - config is NULL, or its kind is not AG_OPTIM_SGD, _ADAM or _ADAMW;
 *  - lr or weight_decay is not a finite number >= 0;
 *  - SGD: momentum is not finite and >= 0, dampening is not finite, or
 *    nesterov is set without momentum > 0 and dampening 0;
 *  - Adam, AdamW: beta1 or beta2 is not in [0, 1), eps not finite and > 0;
 *  - n_params is 0, params is NULL, a parameter is NULL or does not
 *    require grad, or the same tensor is listed twice (both positions named).
 * Fields a kind does not use are not read. On OOM too. */
ag_optimizer *ag_optimizer_new(size_t n_params, ag_tensor *const *params, const ag_optimizer_config *config);
/** Update every parameter from its gradient (NULL: nothing happens). */
void ag_optimizer_step(ag_optimizer *o);
/** Zero the gradients of the optimiser's parameters (NULL: nothing happens). */
void ag_optimizer_zero_grad(ag_optimizer *o);
/** The same without writing them now (PyTorch's zero_grad(set_to_none=True),
 * the training loop's faster choice): each gradient counts as zero, and the
 * next backward writes it instead of adding to it (a weight's product then
 * neither reads nor zeroes the buffer first). The values are the same as
 * after ag_optimizer_zero_grad, to the bit, for every agrad call that reads
 * them (ag_tensor_grad, ag_node_grad, the optimisers, ag_clip_grad_norm, the
 * study calls). One difference: a pointer taken from ag_tensor_grad before
 * this call reads the old values until the next backward writes them (or
 * ag_tensor_grad is called again, which writes the zeros): take it afresh
 * after a backward. NULL: nothing happens. */
void ag_optimizer_zero_grad_lazily(ag_optimizer *o);
/** Change the learning rate (schedules). A negative or non-finite lr, or a
 * NULL optimiser, changes nothing and sets ag_last_error. */
void ag_optimizer_set_lr(ag_optimizer *o, double lr);
/** Steps taken so far. */
long ag_optimizer_steps(const ag_optimizer *o);
/** Free the optimiser and its state; NULL ok. */
void ag_optimizer_free(ag_optimizer *o);

/* ---- learning-rate schedules and gradient clipping ------------------------
 * The schedules are torch.optim.lr_scheduler's closed forms, pure functions
 * of the epoch (or step) count t >= 0, so resuming needs no scheduler state:
 * set ag_optimizer_set_lr(o, ag_lr_cosine(..., t)) before each epoch. A bad
 * argument (t < 0, step_size / t_max < 1, warmup < 0, a non-finite rate or
 * factor) returns NAN and sets ag_last_error naming the function. */

/** StepLR: base_lr * gamma^floor(t / step_size). */
double ag_lr_step(double base_lr, double gamma, long step_size, long t);
/** CosineAnnealingLR:
 * eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2
 * (past t_max the closed form goes on, rising again, as PyTorch's does). */
double ag_lr_cosine(double base_lr, double eta_min, long t_max, long t);
/** LinearLR from start_factor to 1 over `warmup` steps:
 * base_lr * (start_factor + (1 - start_factor) * min(t, warmup) / warmup);
 * base_lr when warmup is 0. */
double ag_lr_warmup(double base_lr, double start_factor, long warmup, long t);

/** torch.nn.utils.clip_grad_norm_ (2-norm, error_if_nonfinite false):
 * total = sqrt(sum of every gradient element^2) over the n tensors (those
 * without a gradient buffer are skipped); every gradient is multiplied by
 * min(1, max_norm / (total + 1e-6)). Returns total. As in PyTorch a NaN total
 * makes every gradient NaN, and an infinite total multiplies by 0 (finite
 * elements become 0, infinite ones NaN): check the returned norm to skip
 * such a step. max_norm may be +Inf (no clipping). NAN with ag_last_error,
 * nothing changed, on params NULL with n > 0, a NULL tensor, or max_norm
 * NaN or negative. */
double ag_clip_grad_norm(size_t n, ag_tensor *const *params, double max_norm);

/* ---- study tools ----------------------------------------------------------- */

/** Result of comparing two arrays element by element. */
typedef struct ag_diff {
    double max_abs;   /**< largest |left - right| */
    double max_rel;   /**< largest |left - right| / max(|left|, |right|) (0 when both 0) */
    size_t worst;     /**< index of the element with the largest absolute difference */
    bool pass;        /**< max_abs <= tolerance and no NaN */
} ag_diff;

/** Print `left` and `right` side by side (index, both values, difference),
 * headed by `title` and the two column names, then the largest absolute and
 * relative difference and PASS/FAIL against `tolerance`. out may be NULL to
 * compare silently; so may the names and title. left or right NULL with
 * n > 0 fails (pass false, max_abs and max_rel NAN, ag_last_error set);
 * n = 0 passes with zero differences. */
ag_diff ag_compare(FILE *out, const char *title, const char *left_name, const char *right_name,
                   size_t n, const double *left, const double *right, double tolerance);

#ifdef __cplusplus
}
#endif

#include "agrad_io.h"

#endif
