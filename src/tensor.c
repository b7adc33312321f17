/* tensor.c -- shapes and user-owned tensors: creation, access, printing. */
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

bool ag_shape_make(ag_shape *shape, int ndim, const int *dims, const char **why)
{
    if (ndim < 0 || ndim > AG_MAX_DIMS) {
        *why = "number of dimensions must be 0 to 4";
        return false;
    }
    if (ndim > 0 && !dims) {
        *why = "shape array is NULL";
        return false;
    }
    shape->ndim = ndim;
    shape->size = 1;
    for (int i = 0; i < AG_MAX_DIMS; i++) shape->dims[i] = i < ndim ? dims[i] : 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0) {
            *why = "every dimension must be positive";
            return false;
        }
        /* keep element counts (and byte counts) far from overflow */
        if (shape->size > AG_MAX_ELEMENTS / (size_t)dims[i]) {
            *why = "element count is too large (over 2^40)";
            return false;
        }
        shape->size *= (size_t)dims[i];
    }
    return true;
}

bool ag_shape_equal(const ag_shape *a, const ag_shape *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* "(bad ndim 7)" / "(NULL dims)" for what cannot be a shape: dims is only
 * read for 0 < ndim <= AG_MAX_DIMS, so a wrong ndim never reads past it. */
char *ag_shape_string(int ndim, const int *dims, char *buf, size_t bufsize)
{
    if (!buf || !bufsize) {
        ag_set_last_error("ag_shape_string: %s", buf ? "bufsize is 0" : "buf is NULL");
        return buf;
    }
    if (ndim < 0 || ndim > AG_MAX_DIMS) {
        ag_set_last_error("ag_shape_string: ndim is %d (must be 0 to %d)", ndim, AG_MAX_DIMS);
        snprintf(buf, bufsize, "(bad ndim %d)", ndim);
        return buf;
    }
    if (ndim == 0) {
        snprintf(buf, bufsize, "scalar");
        return buf;
    }
    if (!dims) {
        ag_set_last_error("ag_shape_string: dims is NULL for ndim %d", ndim);
        snprintf(buf, bufsize, "(NULL dims)");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < bufsize; i++) {
        int n = snprintf(buf + used, bufsize - used, i ? "x%d" : "%d", dims[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return buf;
}

char *ag_shape_str(const ag_shape *s, char *buf, size_t bufsize)
{
    return ag_shape_string(s->ndim, s->dims, buf, bufsize);
}

/* A zeroed tensor of `dtype`; `fn` names the public function in the
 * message on a bad shape. */
static ag_tensor *tensor_alloc_typed(const char *fn, int ndim, const int *dims, ag_dtype dtype)
{
    ag_shape shape;
    const char *why = NULL;
    if (dtype != AG_FLOAT64 && dtype != AG_FLOAT32) {
        ag_set_last_error("%s: unknown element type %d (AG_FLOAT64 or AG_FLOAT32)", fn, (int)dtype);
        return NULL;
    }
    if (!ag_shape_make(&shape, ndim, dims, &why)) {
        ag_set_last_error("%s: bad shape: %s (ndim %d)", fn, why, ndim);
        return NULL;
    }
    ag_tensor *t = ag_calloc(1, sizeof *t);
    double *data = t ? ag_calloc(shape.size, ag_dtype_bytes(dtype)) : NULL;
    if (!data) {
        ag_free(t);
        ag_set_last_error("%s: out of memory for %zu elements", fn, shape.size);
        return NULL;
    }
    t->shape = shape;
    t->data = data;
    t->dtype = dtype;
    return t;
}

static ag_tensor *tensor_alloc(const char *fn, int ndim, const int *dims)
{
    return tensor_alloc_typed(fn, ndim, dims, AG_FLOAT64);
}

ag_tensor *ag_tensor_zeros(int ndim, const int *shape)
{
    return tensor_alloc("ag_tensor_zeros", ndim, shape);
}

ag_tensor *ag_tensor_zeros_dtype(int ndim, const int *shape, ag_dtype dtype)
{
    return tensor_alloc_typed("ag_tensor_zeros_dtype", ndim, shape, dtype);
}

ag_tensor *ag_tensor_from_f32(int ndim, const int *shape, const float *data)
{
    if (!data) {
        ag_set_last_error("ag_tensor_from_f32: data is NULL");
        return NULL;
    }
    ag_tensor *t = tensor_alloc_typed("ag_tensor_from_f32", ndim, shape, AG_FLOAT32);
    if (t) memcpy(t->data, data, t->shape.size * sizeof(float));
    return t;
}

const char *ag_dtype_name(ag_dtype dtype)
{
    return dtype == AG_FLOAT64 ? "float64" : dtype == AG_FLOAT32 ? "float32" : "?";
}

ag_dtype ag_tensor_dtype(const ag_tensor *t) { return t ? t->dtype : AG_FLOAT64; }

/* element i of a buffer of `dtype`, as a double; and stored from one */
double ag_typed_get(const double *buf, ag_dtype dtype, size_t i)
{
    return dtype == AG_FLOAT32 ? (double)AG_F32(buf)[i] : buf[i];
}
void ag_typed_put(double *buf, ag_dtype dtype, size_t i, double v)
{
    if (dtype == AG_FLOAT32)
        AG_F32(buf)[i] = (float)v;
    else
        buf[i] = v;
}

ag_tensor *ag_tensor_to_dtype(const ag_tensor *t, ag_dtype dtype)
{
    if (!t) {
        ag_set_last_error("ag_tensor_to_dtype: tensor is NULL");
        return NULL;
    }
    ag_tensor *c = tensor_alloc_typed("ag_tensor_to_dtype", t->shape.ndim, t->shape.dims, dtype);
    if (!c) return NULL;
    for (size_t i = 0; i < t->shape.size; i++) ag_typed_put(c->data, dtype, i, ag_typed_get(t->data, t->dtype, i));
    if ((t->name && !ag_tensor_set_name(c, t->name)) || (t->requires_grad && !ag_tensor_requires_grad(c, true))) {
        ag_tensor_free(c);
        return NULL;
    }
    return c;
}

bool ag_tensor_set(ag_tensor *t, size_t index, double value)
{
    if (!t || index >= t->shape.size) {
        if (t)
            ag_set_last_error("ag_tensor_set: index %zu is out of range (%zu elements)", index, t->shape.size);
        else
            ag_set_last_error("ag_tensor_set: tensor is NULL");
        return false;
    }
    ag_typed_put(t->data, t->dtype, index, value);
    return true;
}

static ag_tensor *filled(const char *fn, int ndim, const int *shape, double value)
{
    ag_tensor *t = tensor_alloc(fn, ndim, shape);
    if (t)
        for (size_t i = 0; i < t->shape.size; i++) t->data[i] = value;
    return t;
}

ag_tensor *ag_tensor_constant(int ndim, const int *shape, double value)
{
    return filled("ag_tensor_constant", ndim, shape, value);
}

ag_tensor *ag_tensor_ones(int ndim, const int *shape)
{
    return filled("ag_tensor_ones", ndim, shape, 1.0);
}

ag_tensor *ag_tensor_from(int ndim, const int *shape, const double *data)
{
    if (!data) {
        ag_set_last_error("ag_tensor_from: data is NULL");
        return NULL;
    }
    ag_tensor *t = tensor_alloc("ag_tensor_from", ndim, shape);
    if (t) memcpy(t->data, data, t->shape.size * sizeof(double));
    return t;
}

ag_tensor *ag_tensor_scalar(double value)
{
    return filled("ag_tensor_scalar", 0, NULL, value);
}

void ag_tensor_free(ag_tensor *t)
{
    if (!t) return;
    if (t->grad_zero_pending) ag_tensor_grad_settle(t); /* the count goes down */
    ag_free(t->data);
    ag_free(t->grad);
    ag_free(t->name);
    ag_free(t);
}

int ag_tensor_ndim(const ag_tensor *t) { return t ? t->shape.ndim : 0; }

int ag_tensor_dim(const ag_tensor *t, int dim)
{
    return t && dim >= 0 && dim < t->shape.ndim ? t->shape.dims[dim] : 0;
}

size_t ag_tensor_size(const ag_tensor *t) { return t ? t->shape.size : 0; }

/* A float64 accessor given a float32 tensor: NULL, and say so. */
__attribute__((noinline, cold)) static double *float32_refused(const char *fn, const ag_tensor *t)
{
    ag_set_last_error("%s: tensor%s%s%s is float32 (use %s_f32)", fn, t->name ? " \"" : "",
                      t->name ? t->name : "", t->name ? "\"" : "", fn);
    return NULL;
}

double *ag_tensor_data(const ag_tensor *t)
{
    if (t && t->dtype == AG_FLOAT32) return float32_refused("ag_tensor_data", t);
    return t ? t->data : NULL;
}
/* The accessors hand out the buffer, so a pending zero is written first
 * (the tensor is the caller's to change: const says the accessor does not
 * change its values, which a pending zero already counts as zero). */
double *ag_tensor_grad(const ag_tensor *t)
{
    if (t && t->dtype == AG_FLOAT32) return float32_refused("ag_tensor_grad", t);
    if (!t || !t->requires_grad) return NULL;
    if (t->grad_zero_pending) ag_tensor_grad_settle((ag_tensor *)t);
    return t->grad;
}
float *ag_tensor_data_f32(const ag_tensor *t) { return t && t->dtype == AG_FLOAT32 ? AG_F32(t->data) : NULL; }
float *ag_tensor_grad_f32(const ag_tensor *t)
{
    if (!t || t->dtype != AG_FLOAT32 || !t->requires_grad) return NULL;
    if (t->grad_zero_pending) ag_tensor_grad_settle((ag_tensor *)t);
    return AG_F32(t->grad);
}
const char *ag_tensor_name(const ag_tensor *t) { return t && t->name ? t->name : ""; }

double ag_tensor_get(const ag_tensor *t, size_t index)
{
    return t && index < t->shape.size ? ag_typed_get(t->data, t->dtype, index) : NAN;
}

bool ag_params_require_grad(const char *fn, size_t n, ag_tensor *const *params)
{
    if (n && !params) {
        ag_set_last_error("%s: params is NULL for n_params %zu", fn, n);
        return false;
    }
    for (size_t k = 0; k < n; k++)
        if (!params[k] || !params[k]->requires_grad) {
            ag_set_last_error("%s: parameter %zu %s", fn, k,
                              params[k] ? "does not require grad" : "is NULL");
            return false;
        }
    return true;
}

bool ag_tensor_requires_grad(ag_tensor *t, bool requires)
{
    if (!t) {
        ag_set_last_error("ag_tensor_requires_grad: tensor is NULL");
        return false;
    }
    /* the buffer is kept when turned off: a graph recorded earlier may still
     * write into it, and turning it on again finds it */
    if (requires && !t->grad) t->grad = ag_calloc(t->shape.size, ag_dtype_bytes(t->dtype));
    t->requires_grad = requires && t->grad != NULL;
    if (requires && !t->grad)
        ag_set_last_error("ag_tensor_requires_grad: out of memory for the gradient (%zu elements)",
                          t->shape.size);
    return !requires || t->grad != NULL;
}

static void zero_range(void *ctx, size_t lo, size_t hi)
{
    memset((double *)ctx + lo, 0, (hi - lo) * sizeof(double));
}

void ag_zero_doubles_large(double *x, size_t n) { ag_parallel_range_split(n, 1, zero_range, x); }

void ag_tensor_zero_grad(ag_tensor *t)
{
    if (!t || !t->grad) return;
    if (t->grad_zero_pending)
        ag_tensor_grad_settle(t); /* zeroes it */
    else
        ag_zero_typed(t->grad, t->shape.size, t->dtype);
}

/* ---- gradients zeroed lazily (internal.h) ---------------------------------- */

static atomic_long grad_zeros_pending;

long ag_grad_zeros_pending(void) { return atomic_load_explicit(&grad_zeros_pending, memory_order_relaxed); }

void ag_tensor_grad_defer_zero(ag_tensor *t)
{
    if (!t->grad || t->grad_zero_pending) return;
    t->grad_zero_pending = true;
    atomic_fetch_add_explicit(&grad_zeros_pending, 1, memory_order_relaxed);
}

/* the mark taken off (the caller writes the zeros, or has the buffer written) */
static void pending_zero_clear(ag_tensor *t)
{
    t->grad_zero_pending = false;
    atomic_fetch_sub_explicit(&grad_zeros_pending, 1, memory_order_relaxed);
}

void ag_tensor_grad_settle(ag_tensor *t)
{
    if (!t->grad_zero_pending) return;
    ag_zero_typed(t->grad, t->shape.size, t->dtype);
    pending_zero_clear(t);
}

bool ag_grad_take_pending_zero(const ag_node *n)
{
    ag_tensor *t = ag_param_tensor(n);
    if (!t || !t->grad_zero_pending || n->grad != t->grad) return false;
    pending_zero_clear(t);
    return true;
}

bool ag_tensor_set_name(ag_tensor *t, const char *name)
{
    if (!t || !name) {
        ag_set_last_error("ag_tensor_set_name: %s is NULL", t ? "name" : "tensor");
        return false;
    }
    char *copy = ag_strdup(name);
    if (!copy) {
        ag_set_last_error("ag_tensor_set_name: out of memory");
        return false;
    }
    ag_free(t->name);
    t->name = copy;
    return true;
}

/* Print `values` laid out by `shape`: scalars bare, vectors in [ ], matrices
 * one row per line; higher dimensions as flat rows of the last dimension. */
void ag_print_values(const ag_shape *shape, const double *values, FILE *out, int digits)
{
    if (!out) return;
    int prec = digits > 0 && digits < 17 ? digits : 17; /* 17 digits round-trip a double */
    if (shape->ndim == 0) {
        fprintf(out, "%.*g\n", prec, values[0]);
        return;
    }
    size_t cols = (size_t)shape->dims[shape->ndim - 1];
    size_t rows = shape->size / cols;
    for (size_t r = 0; r < rows; r++) {
        fputs(r == 0 ? "[" : " ", out);
        fputs(shape->ndim > 1 ? "[" : "", out);
        for (size_t c = 0; c < cols; c++)
            fprintf(out, "%s%*.*g", c ? ", " : "", prec + 7, prec, values[r * cols + c]);
        fputs(shape->ndim > 1 ? "]" : "", out);
        fputs(r + 1 == rows ? "]\n" : "\n", out);
    }
}

void ag_print_typed_values(const ag_shape *shape, const double *values, ag_dtype dtype, FILE *out,
                           int digits)
{
    if (dtype == AG_FLOAT64) {
        ag_print_values(shape, values, out, digits);
        return;
    }
    double *wide = ag_malloc(shape->size * sizeof *wide);
    if (!wide) {
        if (out) fprintf(out, "(out of memory to print %zu float32 values)\n", shape->size);
        return;
    }
    for (size_t i = 0; i < shape->size; i++) wide[i] = AG_F32(values)[i];
    /* 9 significant digits round-trip a float */
    ag_print_values(shape, wide, out, digits > 0 && digits < 9 ? digits : 9);
    ag_free(wide);
}

void ag_tensor_print(const ag_tensor *t, FILE *out, int digits)
{
    if (!out) {
        ag_set_last_error("ag_tensor_print: out (the FILE) is NULL");
        return;
    }
    if (!t) {
        fprintf(out, "(null tensor)\n");
        return;
    }
    char shape[64];
    fprintf(out, "%s (%s%s)\n", ag_tensor_name(t), ag_shape_str(&t->shape, shape, sizeof shape),
            t->dtype == AG_FLOAT32 ? ", float32" : "");
    ag_print_typed_values(&t->shape, t->data, t->dtype, out, digits);
}
