/* shape.c -- ops that move elements without arithmetic.
 *   transpose: Y[j,i] = X[i,j]           vjp gX[i,j] += gY[j,i]
 *   reshape:   same elements, new shape  vjp/jvp copy through              */
#include "../internal.h"

#include <stdio.h>
#include <string.h>

/* Y[c,r] = X[r,c] (+= when accumulate), X being rows x cols */
static void transpose_into(const double *x, int rows, int cols, double *y, bool accumulate)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double v = x[(size_t)r * cols + c];
            double *dst = &y[(size_t)c * rows + r];
            *dst = accumulate ? *dst + v : v;
        }
}

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

static bool reshape_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    memcpy(out->value, out->in[0]->value, out->shape.size * sizeof(double));
    return true;
}

static void reshape_vjp(ag_node *out)
{
    for (size_t i = 0; i < out->shape.size; i++) out->in[0]->grad[i] += out->grad[i];
}

static void reshape_jvp(ag_node *out)
{
    memcpy(out->tangent, out->in[0]->tangent, out->shape.size * sizeof(double));
}

const ag_op ag_op_transpose = {.name = "transpose", .arity = 1, .shape = transpose_shape,
                               .forward = transpose_forward, .vjp = transpose_vjp,
                               .jvp = transpose_jvp};
const ag_op ag_op_reshape = {.name = "reshape", .arity = 1, .shape = reshape_shape,
                             .forward = reshape_forward, .vjp = reshape_vjp, .jvp = reshape_jvp};

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
