/* shape.c -- ops that move elements without arithmetic.
 *   transpose: Y[j,i] = X[i,j]           vjp gX[i,j] += gY[j,i]
 *   reshape:   same elements, new shape  vjp/jvp copy through
 *   permute:   Y[i_0, .., i_{n-1}] = X at coordinate i_d on axis perm[d]
 *              for each d                vjp adds gY back the same way, jvp
 *                                        permutes tX                        */
#include "axis.h"
#include "indices.h"
#include "recorded.h"

#include <stdio.h>
#include <string.h>

/* Y[c,r] = X[r,c] (+= when accumulate), X being rows x cols; stamped for
 * double and for float (the float32 kernels), one definition */
#define TRANSPOSE_INTO(real, SUFFIX)                                                                 \
    static void transpose_into##SUFFIX(const real *x, int rows, int cols, real *y, bool accumulate) \
    {                                                                                                \
        for (int r = 0; r < rows; r++)                                                               \
            for (int c = 0; c < cols; c++) {                                                         \
                real v = x[(size_t)r * cols + c];                                                    \
                real *dst = &y[(size_t)c * rows + r];                                                \
                *dst = accumulate ? *dst + v : v;                                                    \
            }                                                                                        \
    }
TRANSPOSE_INTO(double, )
TRANSPOSE_INTO(float, _f32)

static bool transpose_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    if (x->ndim != 2) {
        snprintf(why, len, "transpose takes a 2-d matrix");
        return false;
    }
    const char *bad = NULL;
    return ag_shape_make(&out->shape, 2, (int[]){x->dims[1], x->dims[0]}, &bad);
}

static bool transpose_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const ag_shape *x = &out->in[0]->shape;
    transpose_into(out->in[0]->value, x->dims[0], x->dims[1], out->value, false);
    return true;
}

static void transpose_vjp(ag_node *out)
{
    transpose_into(out->grad, out->shape.dims[0], out->shape.dims[1], out->in[0]->grad, true);
}

static void transpose_jvp(ag_node *out)
{
    const ag_shape *x = &out->in[0]->shape;
    transpose_into(out->in[0]->tangent, x->dims[0], x->dims[1], out->tangent, false);
}

/* float32: the same moves over float buffers */
static bool transpose_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const ag_shape *x = &out->in[0]->shape;
    transpose_into_f32(AG_F32(out->in[0]->value), x->dims[0], x->dims[1], AG_F32(out->value), false);
    return true;
}

static void transpose_vjp_f32(ag_node *out)
{
    transpose_into_f32(AG_F32(out->grad), out->shape.dims[0], out->shape.dims[1], AG_F32(out->in[0]->grad),
                       true);
}

static const ag_typed_kernels transpose_f32 = {{transpose_forward_f32, transpose_vjp_f32}, NULL};

/* ---- reshape --------------------------------------------------------------- */

static bool reshape_shape(ag_node *out, char *why, size_t len)
{
    char want[64];
    if (out->shape.size != out->in[0]->shape.size) {
        snprintf(why, len, "cannot reshape %zu elements to (%s)", out->in[0]->shape.size,
                 ag_shape_str(&out->shape, want, sizeof want));
        return false;
    }
    return true;
}

/* y = x, gx += gy, stamped for double and float */
#define RESHAPE_KERNELS(real, SUFFIX)                                                       \
    static bool reshape_forward##SUFFIX(ag_node *out, char *why, size_t len)               \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        memcpy(out->value, out->in[0]->value, out->shape.size * sizeof(real));             \
        return true;                                                                       \
    }                                                                                      \
    static void reshape_vjp##SUFFIX(ag_node *out)                                          \
    {                                                                                      \
        real *gx = (real *)(void *)out->in[0]->grad;                                       \
        const real *gy = (const real *)(const void *)out->grad;                            \
        for (size_t i = 0; i < out->shape.size; i++) gx[i] += gy[i];                       \
    }
RESHAPE_KERNELS(double, )
RESHAPE_KERNELS(float, _f32)
static const ag_typed_kernels reshape_f32 = {{reshape_forward_f32, reshape_vjp_f32}, NULL};

static void reshape_jvp(ag_node *out)
{
    memcpy(out->tangent, out->in[0]->tangent, out->shape.size * sizeof(double));
}

/* Recorded (both ops are linear, so ty = op(tx), ag_rec_same_op_jvp):
 *   transpose  gX = transpose(gY)                [c, r] -> [r, c]
 *   reshape    gX = reshape(gY, X's shape)                          */
static bool transpose_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    gx[0] = ag_transpose(gy);
    return gx[0] != NULL;
}

static bool reshape_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    gx[0] = ag_rec_reshape_to(gy, &out->in[0]->shape);
    return gx[0] != NULL;
}

const ag_op ag_op_transpose = {.name = "transpose", .arity = 1, .shape = transpose_shape,
                               .kernels = {transpose_forward, transpose_vjp},
                               .jvp = transpose_jvp, .vjp_nodes = transpose_vjp_nodes,
                               .jvp_nodes = ag_rec_same_op_jvp, .f32 = &transpose_f32};
const ag_op ag_op_reshape = {.name = "reshape", .arity = 1, .shape = reshape_shape,
                             .kernels = {reshape_forward, reshape_vjp}, .jvp = reshape_jvp,
                             .vjp_nodes = reshape_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                             .f32 = &reshape_f32};

ag_node *ag_transpose(ag_node *a) { return ag_record1(&ag_op_transpose, a, NULL); }

/* Resolve one -1 in dims from the element count of a; false on a bad request. */
static bool resolve_dims(const ag_node *a, int ndim, const int *dims, int out[AG_MAX_DIMS])
{
    size_t known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        out[i] = dims[i];
        if (dims[i] == -1 && infer < 0)
            infer = i;
        else if (dims[i] > 0)
            known *= (size_t)dims[i];
        else
            return false;
    }
    if (infer >= 0) {
        if (known == 0 || a->shape.size % known != 0 || a->shape.size / known > 0x7fffffff) return false;
        out[infer] = (int)(a->shape.size / known);
    }
    return true;
}

ag_node *ag_reshape(ag_node *a, int ndim, const int *dims)
{
    if (!a) return NULL;
    int resolved[AG_MAX_DIMS];
    ag_shape shape;
    const char *why = "";
    bool counted = ndim >= 0 && ndim <= AG_MAX_DIMS && (ndim == 0 || dims);
    if (!counted || !resolve_dims(a, ndim, dims, resolved) || !ag_shape_make(&shape, ndim, resolved, &why)) {
        char have[64], want[64] = "?";
        if (counted) ag_shape_string(ndim, dims, want, sizeof want);
        ag_graph_fail(a->graph, "ag_reshape: (%s) to (%s): bad target shape (%s; at most one -1 "
                                "that divides %zu elements, other dimensions positive, 0 to 4 of them)",
                      ag_shape_str(&a->shape, have, sizeof have), want, why[0] ? why : "no such shape",
                      a->shape.size);
        return NULL;
    }
    return ag_record(&ag_op_reshape, 1, &a, NULL, &shape);
}

/* ---- permute ------------------------------------------------------------------
 * Y is a strided view of X (indices.h): output axis d has X's size along
 * axis perm[d] and X's stride along it, so stepping along output axis d
 * steps along input axis perm[d]. Any number of dimensions, 0 to 4. */

/* "[2,0,1,3]": the first n entries of perm */
static void perm_text(const int *perm, int n, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < n && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ",%d" : "%d", perm[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

static int permute_print_params(const ag_node *out, char *buf, size_t len)
{
    char perm[64];
    perm_text(AG_PARAMS(out, const ag_permute_params)->perm, out->shape.ndim, perm, sizeof perm);
    return snprintf(buf, len, "perm=%s", perm);
}

/* Normalises perm: a negative entry counts from the end (as torch.permute). */
static bool permute_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    ag_permute_params *p = out->params;
    int resolved[AG_MAX_DIMS], dims[AG_MAX_DIMS];
    bool seen[AG_MAX_DIMS] = {false};
    for (int d = 0; d < x->ndim; d++) {
        int axis = ag_axis_index(p->perm[d], x->ndim);
        if (axis < 0 || seen[axis]) {
            char perm[64];
            perm_text(p->perm, x->ndim, perm, sizeof perm);
            snprintf(why, len, "perm %s must list each axis of 0 .. %d once", perm, x->ndim - 1);
            return false;
        }
        seen[axis] = true;
        resolved[d] = axis;
        dims[d] = x->dims[axis];
    }
    for (int d = 0; d < x->ndim; d++) p->perm[d] = resolved[d];
    const char *bad = NULL;
    return ag_shape_make(&out->shape, x->ndim, dims, &bad);
}

static ag_strided_view permute_view(const ag_node *out)
{
    const ag_permute_params *p = out->params;
    ptrdiff_t x_strides[AG_MAX_DIMS];
    ag_row_major_strides(&out->in[0]->shape, x_strides);
    ag_strided_view v = {.ndim = out->shape.ndim, .offset = 0};
    for (int d = 0; d < v.ndim; d++) {
        v.dims[d] = out->shape.dims[d];
        v.strides[d] = x_strides[p->perm[d]];
    }
    return v;
}

static const ag_view_rule permute_rule = {permute_view};

/* Recorded: Y's axis d is X's axis perm[d], so gX = permute(gY, inv) with
 * inv[perm[d]] = d (X's axis j is gY's axis inv[j]); ty = permute(tx). */
static bool permute_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    const int *perm = AG_PARAMS(out, const ag_permute_params)->perm;
    int inv[AG_MAX_DIMS] = {0};
    for (int d = 0; d < out->shape.ndim; d++) inv[perm[d]] = d;
    gx[0] = ag_permute(gy, inv);
    return gx[0] != NULL;
}

const ag_op ag_op_permute = {.name = "permute", .arity = 1, .params_size = sizeof(ag_permute_params),
                             .print_params = permute_print_params, .shape = permute_shape,
                             .kernels = {ag_view_forward, ag_view_vjp}, .jvp = ag_view_jvp,
                             .vjp_nodes = permute_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                             .rule = &permute_rule, .f32 = &ag_view_f32_kernels};

/* perm holds a's number of dimensions of entries; they are copied. */
ag_node *ag_permute(ag_node *a, const int *perm)
{
    ag_permute_params p = {{0}};
    if (a && !perm && ag_node_is_current(a->graph, a)) {
        char have[64];
        ag_graph_fail(a->graph, "ag_permute: (%s): perm is NULL", ag_shape_str(&a->shape, have, sizeof have));
        return NULL;
    }
    if (a && perm)
        for (int d = 0; d < a->shape.ndim; d++) p.perm[d] = perm[d];
    return ag_record1(&ag_op_permute, a, &p);
}
