/* reduce.c -- sums: of every element to a scalar (sum, mean) and along one
 * axis (sum_axis, mean_axis); the product along an axis (prod_axis); the
 * view around an axis that every reduction uses (reduce.h).
 *   sum:  y = sum_i x_i       dy/dx_i = 1
 *   mean: y = sum_i x_i / n   dy/dx_i = 1/n
 * The recorded derivatives (vjp_nodes, jvp_nodes) are the same products
 * built from ops: each op's formulas stand by it.                          */
#include "reduce.h"

#include <limits.h>


bool ag_reduce_all_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->shape = ag_scalar_shape();
    return true;
}

/* the factor each element is weighted by: 1 for sum, 1/n for mean */
static double weight(const ag_node *out)
{
    return out->op->rule ? 1.0 / (double)out->in[0]->shape.size : 1.0;
}

/* forward and vjp over elements of type `real`, named name and name##SUFFIX:
 * stamped for double and float (the sum is kept in a double either way, so
 * a float32 sum of many elements loses no more than its final rounding) */
#define REDUCE_KERNELS(real, SUFFIX)                                                       \
    static bool reduce_forward##SUFFIX(ag_node *out, char *why, size_t len)               \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        const real *x = (const real *)(const void *)out->in[0]->value;                     \
        double s = 0.0;                                                                    \
        for (size_t i = 0; i < out->in[0]->shape.size; i++) s += x[i];                     \
        ((real *)(void *)out->value)[0] = (real)(s * weight(out));                         \
        return true;                                                                       \
    }                                                                                      \
    static void reduce_vjp##SUFFIX(ag_node *out)                                           \
    {                                                                                      \
        real g = (real)(((real *)(void *)out->grad)[0] * weight(out));                     \
        real *gx = (real *)(void *)out->in[0]->grad;                                       \
        for (size_t i = 0; i < out->in[0]->shape.size; i++) gx[i] += g;                    \
    }

REDUCE_KERNELS(double, )
REDUCE_KERNELS(float, _f32)
static const ag_typed_kernels reduce_f32 = {{reduce_forward_f32, reduce_vjp_f32}, NULL};

static void reduce_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    double s = 0.0;
    if (tx)
        for (size_t i = 0; i < out->in[0]->shape.size; i++) s += tx[i];
    out->tangent[0] = s * weight(out);
}

/* recorded: gx = expand(w gy) to x's shape (gy a scalar); ty = op(tx), the
 * same sum of the tangent (linear) */
static bool reduce_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = ag_rec_expand_to(ag_rec_scale(gy, weight(out)), &out->in[0]->shape);
    return gx[0] != NULL;
}

static const char mean_marker = 1; /* rule != NULL marks the mean */

const ag_op ag_op_sum = {.name = "sum", .arity = 1, .shape = ag_reduce_all_shape,
                         .kernels = {reduce_forward, reduce_vjp}, .jvp = reduce_jvp,
                         .vjp_nodes = reduce_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                         .f32 = &reduce_f32};
const ag_op ag_op_mean = {.name = "mean", .arity = 1, .shape = ag_reduce_all_shape,
                          .kernels = {reduce_forward, reduce_vjp}, .jvp = reduce_jvp,
                          .vjp_nodes = reduce_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                          .rule = &mean_marker, .f32 = &reduce_f32};

ag_node *ag_sum(ag_node *a) { return ag_record1(&ag_op_sum, a, NULL); }
ag_node *ag_mean(ag_node *a) { return ag_record1(&ag_op_mean, a, NULL); }

/* ---- along one axis -----------------------------------------------------------
 * x viewed as [outer, A, inner] around axis (A its length); y is [outer, inner]
 *   y[o,i] = w * sum_a x[o,a,i]   (w = 1 for sum, 1/A for mean)
 *   vjp gx[o,a,i] += w * gy[o,i];  jvp ty[o,i] = w * sum_a tx[o,a,i]          */

axis_view ag_reduced_view(const ag_node *out)
{
    const ag_shape *x = &out->in[0]->shape;
    if (out->op->params_size == 0) return (axis_view){1, x->size, 1};
    return ag_axis_view(x, ag_axis_of(out));
}

static double axis_weight(const ag_node *out)
{
    return out->op->rule ? 1.0 / (double)out->in[0]->shape.dims[ag_axis_of(out)] : 1.0;
}

bool ag_axis_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    ag_axis_params *p = out->params;
    if (!ag_resolve_axis(&p->axis, x->ndim, why, len)) return false;
    int dims[AG_MAX_DIMS], n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != p->axis) dims[n++] = x->dims[i];
    const char *bad = NULL;
    return ag_shape_make(&out->shape, n, dims, &bad);
}

/* y[o,i] = w * sum_a x[o,a,i], each sum from 0 in the order a = 0, 1, ..
 * With inner > 1 the rows x[o,a,:] are added into y[o,:] in turn, so every
 * pass reads contiguous memory (summing down the columns strided was a
 * cache miss per element on tall inputs); the sums are the same, in the same
 * order. Stamped for double (axis_reduce, axis_forward, axis_vjp) and for
 * float (the same names with _f32: sums in float, as PyTorch's). */
#define AXIS_KERNELS(real, SUFFIX)                                                         \
    static void axis_reduce##SUFFIX(const ag_node *out, const real *x, real *y)            \
    {                                                                                      \
        axis_view v = ag_reduced_view(out);                                                \
        real w = (real)axis_weight(out);                                                   \
        for (size_t o = 0; o < v.outer; o++) {                                             \
            real *yo = y + o * v.inner;                                                    \
            if (v.inner == 1) {                                                            \
                real s = 0.0;                                                              \
                for (size_t a = 0; a < v.len; a++) s += x[o * v.len + a];                  \
                yo[0] = w * s;                                                             \
                continue;                                                                  \
            }                                                                              \
            for (size_t i = 0; i < v.inner; i++) yo[i] = 0.0;                              \
            for (size_t a = 0; a < v.len; a++) {                                           \
                const real *row = x + (o * v.len + a) * v.inner;                           \
                for (size_t i = 0; i < v.inner; i++) yo[i] += row[i];                      \
            }                                                                              \
            for (size_t i = 0; i < v.inner; i++) yo[i] *= w;                               \
        }                                                                                  \
    }                                                                                      \
    static bool axis_forward##SUFFIX(ag_node *out, char *why, size_t len)                  \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        axis_reduce##SUFFIX(out, (const real *)(const void *)out->in[0]->value,            \
                            (real *)(void *)out->value);                                   \
        return true;                                                                       \
    }                                                                                      \
    static void axis_vjp##SUFFIX(ag_node *out)                                             \
    {                                                                                      \
        axis_view v = ag_reduced_view(out);                                                \
        real w = (real)axis_weight(out);                                                   \
        real *gx = (real *)(void *)out->in[0]->grad;                                       \
        const real *gy = (const real *)(const void *)out->grad;                            \
        for (size_t o = 0; o < v.outer; o++)                                               \
            for (size_t a = 0; a < v.len; a++)                                             \
                for (size_t i = 0; i < v.inner; i++)                                       \
                    gx[(o * v.len + a) * v.inner + i] += w * gy[o * v.inner + i];          \
    }

AXIS_KERNELS(double, )
AXIS_KERNELS(float, _f32)
static const ag_typed_kernels axis_f32 = {{axis_forward_f32, axis_vjp_f32}, NULL};

static void axis_jvp(ag_node *out)
{
    axis_reduce(out, out->in[0]->tangent, out->tangent);
}

ag_node *ag_rec_keep_axis(const ag_node *out, ag_node *y)
{
    if (!y || out->op->params_size == 0) return y;
    ag_shape kept = out->in[0]->shape; /* [.., A, ..] -> [.., 1, ..] */
    kept.dims[ag_axis_of(out)] = 1;
    kept.size = out->shape.size;
    return ag_rec_reshape_to(y, &kept);
}

ag_node *ag_rec_sum_reduced(const ag_node *out, ag_node *v)
{
    if (!v) return NULL;
    return out->op->params_size == 0 ? ag_sum(v) : ag_sum_axis(v, ag_axis_of(out));
}

/* recorded: gx = expand(w reshape(gy, [outer, 1, inner])) to x's shape
 * [outer, A, inner]; ty = op(tx) (linear) */
static bool axis_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_node *kept = ag_rec_keep_axis(out, ag_rec_scale(gy, axis_weight(out)));
    gx[0] = ag_rec_expand_to(kept, &out->in[0]->shape);
    return gx[0] != NULL;
}

const ag_op ag_op_sum_axis = {.name = "sum_axis", .arity = 1, .params_size = sizeof(ag_axis_params),
                              .print_params = ag_print_axis_params,
                              .shape = ag_axis_shape,
                              .kernels = {axis_forward, axis_vjp}, .jvp = axis_jvp,
                              .vjp_nodes = axis_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                              .f32 = &axis_f32};
const ag_op ag_op_mean_axis = {.name = "mean_axis", .arity = 1, .params_size = sizeof(ag_axis_params),
                               .print_params = ag_print_axis_params,
                               .shape = ag_axis_shape,
                               .kernels = {axis_forward, axis_vjp}, .jvp = axis_jvp,
                               .vjp_nodes = axis_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                               .rule = &mean_marker, .f32 = &axis_f32};

ag_node *ag_sum_axis(ag_node *a, int axis) { return ag_record1(&ag_op_sum_axis, a, &(ag_axis_params){axis}); }
ag_node *ag_mean_axis(ag_node *a, int axis) { return ag_record1(&ag_op_mean_axis, a, &(ag_axis_params){axis}); }

/* ---- product along one axis ------------------------------------------------------
 * Over each slice x_0 .. x_{n-1} of the axis (reduce.h):
 *   y    = prod_a x_a
 *   vjp  gx_a += gy * P_a,   P_a = prod_{b != a} x_b = (prod_{b < a} x_b) (prod_{b > a} x_b)
 *   jvp  ty   = sum_a P_a tx_a
 * P_a is a suffix product times a running prefix product (aux holds one
 * slice's P): O(n) per slice and exact when elements are 0, where
 * y / x_a would be 0 / 0. (PyTorch divides, y / x_a, when no element of the
 * tensor is 0; with an infinite element the two differ: P of [2, Inf] is
 * [Inf, 2] here and [Inf, NaN] there.)                                      */

/* P[a] = prod_{b != a} x[b * step] for a < n: prod_{b > a}, then times
 * prod_{b < a}; the forward (y = prod_a x_a) and vjp (gx_a += gy * P_a).
 * Stamped for double and for float (_f32: the products formed in double,
 * P in the aux as for double, each stored value rounded to float once). */
#define PROD_KERNELS(real, SUFFIX)                                                         \
    static void products_of_others##SUFFIX(const real *x, size_t n, size_t step, double *P) \
    {                                                                                      \
        double suffix = 1.0, prefix = 1.0;                                                 \
        for (size_t a = n; a-- > 0;) {                                                     \
            P[a] = suffix;                                                                 \
            suffix *= x[a * step];                                                         \
        }                                                                                  \
        for (size_t a = 0; a < n; a++) {                                                   \
            P[a] *= prefix;                                                                \
            prefix *= x[a * step];                                                         \
        }                                                                                  \
    }                                                                                      \
    static bool prod_forward##SUFFIX(ag_node *out, char *why, size_t len)                  \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        axis_view v = ag_reduced_view(out);                                                \
        const real *x = (const real *)(const void *)out->in[0]->value;                     \
        for (size_t j = 0; j < out->shape.size; j++) {                                     \
            const real *xs = x + axis_slice_start(&v, j);                                  \
            double p = 1.0;                                                                \
            for (size_t a = 0; a < v.len; a++) p *= xs[a * v.inner];                       \
            ((real *)(void *)out->value)[j] = (real)p;                                     \
        }                                                                                  \
        return true;                                                                       \
    }                                                                                      \
    static void prod_vjp##SUFFIX(ag_node *out)                                             \
    {                                                                                      \
        axis_view v = ag_reduced_view(out);                                                \
        double *P = out->aux;                                                              \
        const real *gy = (const real *)(const void *)out->grad;                            \
        for (size_t j = 0; j < out->shape.size; j++) {                                     \
            size_t start = axis_slice_start(&v, j);                                        \
            real *gs = (real *)(void *)out->in[0]->grad + start;                           \
            products_of_others##SUFFIX((const real *)(const void *)out->in[0]->value + start, \
                                       v.len, v.inner, P);                                 \
            for (size_t a = 0; a < v.len; a++) gs[a * v.inner] += (real)(gy[j] * P[a]);    \
        }                                                                                  \
    }

PROD_KERNELS(double, )
PROD_KERNELS(float, _f32)
static const ag_typed_kernels prod_f32 = {{prod_forward_f32, prod_vjp_f32}, NULL};

/* ty = sum_a P_a tx_a */
static void prod_jvp(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    double *P = out->aux;
    for (size_t j = 0; j < out->shape.size; j++) {
        size_t start = axis_slice_start(&v, j);
        const double *ts = out->in[0]->tangent + start;
        double t = 0.0;
        products_of_others(out->in[0]->value + start, v.len, v.inner, P);
        for (size_t a = 0; a < v.len; a++) t += P[a] * ts[a * v.inner];
        out->tangent[j] = t;
    }
}

/* room for one slice's P */
static size_t prod_aux_size(const ag_node *out) { return ag_reduced_view(out).len; }

/* Recorded, P exactly as above (zeros and infinities included: the same
 * factors, multiplied in another order), as a product along a new axis:
 *   M[o, a, b, i] = a == b ? 1 : x[o, b, i]        [outer, A, A, inner]
 *   P[o, a, i]    = prod_b M[o, a, b, i]           (ag_prod_axis along b)
 * x reshaped to [outer, 1, A, inner] broadcasts along a; the diagonal is set
 * by ag_where with the identity pattern I[a, b, 0] = [a == b], a constant
 * of the shape alone (so a replay needs nothing recomputed). M holds A
 * times x's elements, and each further derivative A times more: the price
 * of exactness at zeros (y / x_a is 0 / 0 there). */
static ag_node *products_of_others_node(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    ag_graph *g = out->graph;
    if (v.outer > INT_MAX || v.inner > INT_MAX) {
        ag_graph_fail(g, "ag_grad: prod_axis: the recorded derivative views the input as [outer, A, inner] "
                         "and %zu x %zu x %zu is too large for that", v.outer, v.len, v.inner);
        return NULL;
    }
    int outer = (int)v.outer, A = (int)v.len, inner = (int)v.inner;
    ag_shape identity_shape = {.ndim = 3, .dims = {A, A, 1}, .size = (size_t)A * (size_t)A};
    ag_node *I = ag_constant_of_shape(g, &identity_shape);
    for (size_t e = 0; I && e < identity_shape.size; e++) I->value[e] = e % ((size_t)A + 1) == 0;
    ag_node *xb = ag_reshape(out->in[0], 4, (int[]){outer, 1, A, inner});
    ag_node *M = ag_where(I, ag_rec_scalar(g, 1.0), xb);
    return ag_rec_reshape_to(ag_prod_axis(M, 2), &out->in[0]->shape);
}

/* recorded: gx = expand(gy kept) * P;  ty = sum_a P_a tx_a */
static bool prod_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = ag_mul(ag_rec_keep_axis(out, gy), products_of_others_node(out));
    return gx[0] != NULL;
}

static ag_node *prod_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    return ag_rec_sum_reduced(out, ag_mul(products_of_others_node(out), tx[0]));
}

const ag_op ag_op_prod_axis = {.name = "prod_axis", .arity = 1, .params_size = sizeof(ag_axis_params),
                               .print_params = ag_print_axis_params,
                               .shape = ag_axis_shape,
                               .kernels = {prod_forward, prod_vjp}, .jvp = prod_jvp,
                               .vjp_nodes = prod_vjp_nodes, .jvp_nodes = prod_jvp_nodes,
                               .aux_size = prod_aux_size, .f32 = &prod_f32};

ag_node *ag_prod_axis(ag_node *a, int axis) { return ag_record1(&ag_op_prod_axis, a, &(ag_axis_params){axis}); }
