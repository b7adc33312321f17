/* softmax.c -- softmax on its own (the loss uses the fused softmax_xent).
 * Rows: a vector (1-d, [C,1] or [1,C]) is one row; an [N,C] matrix with N,C > 1
 * is N rows of C. Per row, shifted by its max:
 *   p_c = exp(x_c - m) / sum_j exp(x_j - m)
 *   vjp  gx = p * (gy - <gy, p>)      (the Jacobian is diag(p) - p p^T)
 *   jvp  ty = p * (tx - <tx, p>)
 * The recorded derivatives (vjp_nodes, jvp_nodes) are the same products
 * built from ops, p being the node itself and <., .> a sum along each row
 * (row_sum).                                                               */
#include "recorded.h"

#include <math.h>
#include <stdio.h>

static bool is_matrix(const ag_shape *s) { return s->ndim == 2 && s->dims[0] > 1 && s->dims[1] > 1; }
static size_t softmax_rows(const ag_shape *s) { return is_matrix(s) ? (size_t)s->dims[0] : 1; }
/* no division: an integer one costs more than a small softmax */
static size_t softmax_cols(const ag_shape *s) { return is_matrix(s) ? (size_t)s->dims[1] : s->size; }

static bool softmax_shape(ag_node *out, char *why, size_t len)
{
    if (out->in[0]->shape.ndim > 2) {
        snprintf(why, len, "softmax takes a vector or an [N,C] matrix");
        return false;
    }
    out->shape = out->in[0]->shape;
    return true;
}

#define real double
#define SOFTMAX(name) name
#include "softmax_kernels.h"
#undef real
#undef SOFTMAX

#define real float
#define SOFTMAX(name) name##_f32
#include "softmax_kernels.h"
#undef real
#undef SOFTMAX

static const ag_typed_kernels softmax_f32 = {{softmax_forward_f32, softmax_vjp_f32}, NULL};
static const ag_typed_kernels log_softmax_f32 = {{log_softmax_forward_f32, log_softmax_vjp_f32}, NULL};

/* the float64 row, for the loss (loss.c) */
void ag_softmax_row(const double *x, size_t n, double *p, double *max, double *log_sum)
{
    softmax_row(x, n, p, max, log_sum);
}

/* v (out's shape) summed along each row, to broadcast against out: an
 * [N,1] column for N rows, a scalar for one row (a vector) */
static ag_node *row_sum(const ag_node *out, ag_node *v)
{
    if (!v) return NULL;
    if (!is_matrix(&out->shape)) return ag_sum(v);
    return ag_reshape(ag_sum_axis(v, 1), 2, (int[]){out->shape.dims[0], 1});
}

/* p * (v - <v, p>), p = out, rows as the forward's */
static ag_node *softmax_jacobian_node(ag_node *out, ag_node *v)
{
    return ag_mul(out, ag_sub(v, row_sum(out, ag_mul(v, out))));
}

static bool softmax_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = softmax_jacobian_node(out, gy);
    return gx[0] != NULL;
}

static ag_node *softmax_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    return softmax_jacobian_node(out, tx[0]);
}

static void softmax_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    if (tx) {
        softmax_jacobian_apply(out, tx, out->tangent, false);
        return;
    }
    for (size_t i = 0; i < out->shape.size; i++) out->tangent[i] = 0.0;
}

const ag_op ag_op_softmax = {.name = "softmax", .arity = 1, .shape = softmax_shape,
                             .kernels = {softmax_forward, softmax_vjp},
                             .jvp = softmax_jvp, .vjp_nodes = softmax_vjp_nodes,
                             .jvp_nodes = softmax_jvp_nodes, .f32 = &softmax_f32};

ag_node *ag_softmax(ag_node *a) { return ag_record1(&ag_op_softmax, a, NULL); }

/* ---- log_softmax -------------------------------------------------------------
 * Same rows as softmax: y_c = x_c - m - log sum_j exp(x_j - m)
 *   vjp gx = gy - p * sum_c gy_c        (p = exp(y))
 *   jvp ty = tx - <p, tx>
 * recorded alike, with p = ag_exp(out) and the sums by row_sum.             */

static void log_softmax_jvp(ag_node *out)
{
    size_t rows = softmax_rows(&out->shape), cols = softmax_cols(&out->shape);
    for (size_t r = 0; r < rows; r++) {
        const double *y = out->value + r * cols, *tx = out->in[0]->tangent + r * cols;
        double *ty = out->tangent + r * cols, dotp = 0.0;
        for (size_t c = 0; c < cols; c++) dotp += exp(y[c]) * tx[c];
        for (size_t c = 0; c < cols; c++) ty[c] = tx[c] - dotp;
    }
}

/* gx = gy - p * sum_c gy_c */
static bool log_softmax_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = ag_sub(gy, ag_mul(ag_exp(out), row_sum(out, gy)));
    return gx[0] != NULL;
}

/* ty = tx - <p, tx> */
static ag_node *log_softmax_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    return ag_sub(tx[0], row_sum(out, ag_mul(ag_exp(out), tx[0])));
}

const ag_op ag_op_log_softmax = {.name = "log_softmax", .arity = 1, .shape = softmax_shape,
                                 .kernels = {log_softmax_forward, log_softmax_vjp},
                                 .jvp = log_softmax_jvp, .vjp_nodes = log_softmax_vjp_nodes,
                                 .jvp_nodes = log_softmax_jvp_nodes, .f32 = &log_softmax_f32};

ag_node *ag_log_softmax(ag_node *a) { return ag_record1(&ag_op_log_softmax, a, NULL); }
