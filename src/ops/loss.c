/* loss.c -- softmax cross-entropy, fused.
 * For each of N rows of C logits z with label y (0-based):
 *   m = max_c z_c,  s = sum_c exp(z_c - m),  p_c = exp(z_c - m) / s
 *   J_row = log s - (z_y - m)   (= -log p_y, never exp of a large number)
 *   J = mean over rows;  dJ/dz_c = (p_c - [c == y]) / N
 * The probabilities p, and the label of each row as the forward read it,
 * are kept in the node's aux buffer for the vjp and jvp, so a gradient always
 * matches the forward that made p (labels changed without a replay are not
 * read).
 * Recorded (vjp_nodes, jvp_nodes), with r = p - onehot(labels) [rows x classes]:
 *   dz = r * gy / N;   t = sum(r * tz) / N
 * p is ag_softmax of the logits (one row for a vector, rows for [N,C]) and
 * onehot_{n,c} = [label_n == c], ag_eq of the labels node (as a column
 * [N,1], or a scalar for one row) against a constant 0 .. C-1 laid out as a
 * row [1,C] (or as the logits, for one row): a replay recomputes both. Its
 * labels are read from the labels node when the derivative is recorded,
 * not from aux, which are the same unless they changed without a replay. */
#include "recorded.h"

#include <math.h>
#include <stdio.h>

/* rows N and classes C: a vector is one row of all its values, an [N,C]
 * matrix N rows of C. The shape rule allows one label per row and no
 * other count, so N is the number of labels ([3,1] logits with one label
 * are one row of 3 classes, with three labels three rows of 1). */
static size_t rows_of(const ag_node *out) { return out->in[1]->shape.size; }
static size_t classes_of(const ag_node *out)
{
    const ag_shape *z = &out->in[0]->shape;
    return rows_of(out) == 1 ? z->size : (size_t)z->dims[1];
}

static bool xent_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *z = &out->in[0]->shape;
    size_t n_labels = out->in[1]->shape.size;
    bool vector_like = z->ndim == 1 || (z->ndim == 2 && (z->dims[0] == 1 || z->dims[1] == 1));
    if (z->ndim == 0 || z->ndim > 2) {
        snprintf(why, len, "logits must be a vector or an [N,C] matrix");
        return false;
    }
    if (!(vector_like && n_labels == 1) && !(z->ndim == 2 && n_labels == (size_t)z->dims[0])) {
        snprintf(why, len, "%zu labels for logits of %d rows (one label per row of [N,C] "
                           "logits, or one label for a vector)",
                 n_labels, z->ndim == 2 ? z->dims[0] : 1);
        return false;
    }
    out->shape = ag_scalar_shape();
    return true;
}

/* aux: p [rows x classes], then the rows' label indices (as doubles) */
static size_t xent_aux(const ag_node *out) { return out->in[0]->shape.size + rows_of(out); }
static double *labels_seen(const ag_node *out) { return out->aux + out->in[0]->shape.size; }

/* label value y as an index, or -1 if it is not a whole number in [0, C) */
static long label_index(double y, size_t classes)
{
    if (!(y >= 0.0 && y < (double)classes)) return -1;
    long index = (long)y; /* in range, so the conversion is defined */
    return (double)index == y ? index : -1;
}

/* label of row r as an index, or -1 if it is not a whole number in [0, C) */
static long label_of(const ag_node *out, size_t r, size_t classes)
{
    return label_index(out->in[1]->value[r], classes);
}

static bool xent_forward(ag_node *out, char *why, size_t len)
{
    size_t rows = rows_of(out), classes = classes_of(out);
    const double *z = out->in[0]->value;
    double *p = out->aux, *seen = labels_seen(out), total = 0.0;
    for (size_t r = 0; r < rows; r++, z += classes, p += classes) {
        long y = label_of(out, r, classes);
        if (y < 0) {
            snprintf(why, len, "label %g in row %zu is not a class index in [0, %zu)",
                     out->in[1]->value[r], r, classes);
            return false;
        }
        seen[r] = (double)y;
        double m, log_s;
        ag_softmax_row(z, classes, p, &m, &log_s);
        total += log_s - (z[y] - m);
    }
    out->value[0] = rows == 1 ? total : total / (double)rows; /* a division is slow */
    return true;
}

/* dz += g (p - onehot(y)) row by row, g = dJ / N */
static void xent_vjp(ag_node *out)
{
    double *gz = out->in[0]->grad;
    if (!gz) return;
    size_t rows = rows_of(out), classes = classes_of(out);
    double g = rows == 1 ? out->grad[0] : out->grad[0] / (double)rows;
    const double *p = out->aux, *seen = labels_seen(out);
    for (size_t r = 0; r < rows; r++, gz += classes, p += classes) {
        for (size_t c = 0; c < classes; c++) gz[c] += g * p[c];
        gz[(long)seen[r]] -= g;
    }
}

static void xent_jvp(ag_node *out)
{
    const double *tz = out->in[0]->tangent;
    size_t rows = rows_of(out), classes = classes_of(out);
    const double *p = out->aux, *seen = labels_seen(out);
    double t = 0.0;
    if (tz)
        for (size_t r = 0; r < rows; r++, p += classes, tz += classes) {
            for (size_t c = 0; c < classes; c++) t += p[c] * tz[c];
            t -= tz[(long)seen[r]];
        }
    out->tangent[0] = t / (double)rows;
}

/* p - onehot(labels), of the logits' shape (rows and classes as the forward) */
static ag_node *xent_residual(ag_node *out)
{
    ag_node *z = out->in[0];
    ag_graph *g = out->graph;
    size_t rows = rows_of(out), classes = classes_of(out);
    /* the class of each position: 0 .. C-1 along a row [1,C], or through
     * the logits' shape for a single row */
    ag_shape row = rows == 1 ? z->shape : (ag_shape){.ndim = 2, .dims = {1, (int)classes}, .size = classes};
    ag_node *classes_at = ag_constant_of_shape(g, &row);
    for (size_t c = 0; classes_at && c < classes; c++) classes_at->value[c] = (double)c;
    ag_shape label_shape = rows == 1 ? ag_scalar_shape()
                                     : (ag_shape){.ndim = 2, .dims = {(int)rows, 1}, .size = rows};
    ag_node *onehot = ag_eq(ag_rec_reshape_to(out->in[1], &label_shape), classes_at);
    /* [N,1] logits of N > 1 rows have one class each: p = 1 whatever z (its
     * softmax would take the column for one row) */
    ag_node *p = rows > 1 && classes == 1 ? ag_rec_filled(g, &z->shape, 1.0) : ag_softmax(z);
    return ag_sub(p, onehot);
}

/* dz = (p - onehot) * gy / N */
static bool xent_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true; /* the labels take none */
    gx[0] = ag_rec_times(xent_residual(out), ag_rec_scale(gy, 1.0 / (double)rows_of(out)));
    return gx[0] != NULL;
}

/* t = sum((p - onehot) * tz) / N; 0 for a tangent on the labels alone */
static ag_node *xent_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    if (!tx[0]) return ag_rec_zeros(out->graph, &out->shape);
    return ag_rec_scale(ag_sum(ag_mul(xent_residual(out), tx[0])), 1.0 / (double)rows_of(out));
}

/* float32 logits and labels: each row widened to double into p (aux, in
 * doubles for both types), where the softmax is taken in place, so the
 * probabilities, the loss and the gradient's factors are those of the
 * float64 op on the float logits; the loss and gradient are rounded to
 * float when stored. */
static bool xent_forward_f32(ag_node *out, char *why, size_t len)
{
    size_t rows = rows_of(out), classes = classes_of(out);
    const float *z = AG_F32(out->in[0]->value), *labels = AG_F32(out->in[1]->value);
    double *p = out->aux, *seen = labels_seen(out), total = 0.0;
    for (size_t r = 0; r < rows; r++, z += classes, p += classes) {
        long y = label_index(labels[r], classes);
        if (y < 0) {
            snprintf(why, len, "label %g in row %zu is not a class index in [0, %zu)", (double)labels[r], r,
                     classes);
            return false;
        }
        seen[r] = (double)y;
        for (size_t c = 0; c < classes; c++) p[c] = z[c];
        double m, log_s;
        ag_softmax_row(p, classes, p, &m, &log_s);
        total += log_s - ((double)z[y] - m);
    }
    AG_F32(out->value)[0] = (float)(total / (double)rows);
    return true;
}

static void xent_vjp_f32(ag_node *out)
{
    float *gz = AG_F32(out->in[0]->grad);
    if (!gz) return;
    size_t rows = rows_of(out), classes = classes_of(out);
    double g = (double)AG_F32(out->grad)[0] / (double)rows;
    const double *p = out->aux, *seen = labels_seen(out);
    for (size_t r = 0; r < rows; r++, gz += classes, p += classes) {
        for (size_t c = 0; c < classes; c++) gz[c] += (float)(g * p[c]);
        gz[(long)seen[r]] -= (float)g;
    }
}

static const ag_typed_kernels xent_f32 = {{xent_forward_f32, xent_vjp_f32}, NULL};

const ag_op ag_op_softmax_xent = {.name = "softmax_xent", .arity = 2, .symbol = "with labels",
                                  .shape = xent_shape, .kernels = {xent_forward,
                                  xent_vjp}, .jvp = xent_jvp, .vjp_nodes = xent_vjp_nodes,
                                  .jvp_nodes = xent_jvp_nodes, .aux_size = xent_aux,
                                  .f32 = &xent_f32};

ag_node *ag_softmax_xent(ag_node *logits, ag_node *labels)
{
    return ag_record2(&ag_op_softmax_xent, logits, labels, NULL);
}

ag_node *ag_softmax_xent_label(ag_node *logits, int label)
{
    ag_node *labels = logits ? ag_scalar(logits->graph, (double)label) : NULL;
    return ag_softmax_xent(logits, labels);
}

/* ---- mean squared error --------------------------------------------------------
 *   J = (1/n) sum_i (a_i - b_i)^2,  dJ/da_i = 2 (a_i - b_i) / n = -dJ/db_i
 * recorded: ga = (a - b) (2 gy / n), gb = (a - b) (-2 gy / n);
 *           t  = sum((a - b) (ta - tb)) 2 / n                                 */

static bool mse_shape(ag_node *out, char *why, size_t len)
{
    if (!ag_shape_equal(&out->in[0]->shape, &out->in[1]->shape)) {
        snprintf(why, len, "prediction and target must have the same shape");
        return false;
    }
    out->shape = ag_scalar_shape();
    return true;
}

/* forward and vjp over `real`, for double (mse_forward, mse_vjp) and float
 * (_f32: the sum kept in a double, the gradient's factor rounded once) */
#define MSE_KERNELS(real, SUFFIX)                                                          \
    static bool mse_forward##SUFFIX(ag_node *out, char *why, size_t len)                   \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        const real *a = (const real *)(const void *)out->in[0]->value;                     \
        const real *b = (const real *)(const void *)out->in[1]->value;                     \
        size_t n = out->in[0]->shape.size;                                                 \
        double s = 0.0;                                                                    \
        for (size_t i = 0; i < n; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);         \
        ((real *)(void *)out->value)[0] = (real)(s / (double)n);                           \
        return true;                                                                       \
    }                                                                                      \
    static void mse_vjp##SUFFIX(ag_node *out)                                              \
    {                                                                                      \
        const real *a = (const real *)(const void *)out->in[0]->value;                     \
        const real *b = (const real *)(const void *)out->in[1]->value;                     \
        real *ga = (real *)(void *)out->in[0]->grad, *gb = (real *)(void *)out->in[1]->grad; \
        size_t n = out->in[0]->shape.size;                                                 \
        real k = (real)(2.0 * ((real *)(void *)out->grad)[0] / (double)n);                 \
        for (size_t i = 0; i < n; i++) {                                                   \
            if (ga) ga[i] += k * (a[i] - b[i]);                                            \
            if (gb) gb[i] -= k * (a[i] - b[i]);                                            \
        }                                                                                  \
    }

MSE_KERNELS(double, )
MSE_KERNELS(float, _f32)
static const ag_typed_kernels mse_f32 = {{mse_forward_f32, mse_vjp_f32}, NULL};

static void mse_jvp(ag_node *out)
{
    const double *a = out->in[0]->value, *b = out->in[1]->value;
    const double *ta = out->in[0]->tangent, *tb = out->in[1]->tangent;
    size_t n = out->in[0]->shape.size;
    double t = 0.0;
    for (size_t i = 0; i < n; i++) t += 2.0 * (a[i] - b[i]) * ((ta ? ta[i] : 0.0) - (tb ? tb[i] : 0.0));
    out->tangent[0] = t / (double)n;
}

static bool mse_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    double k = 2.0 / (double)out->in[0]->shape.size;
    ag_node *d = ag_sub(out->in[0], out->in[1]);
    if (ag_rec_takes_grad(out, 0)) gx[0] = ag_mul(d, ag_rec_scale(gy, k));
    if (ag_rec_takes_grad(out, 1)) gx[1] = ag_mul(d, ag_rec_scale(gy, -k));
    return !out->graph->failed;
}

static ag_node *mse_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *ta = tx[0], *tb = tx[1];
    ag_node *dt = !tb ? ta : !ta ? ag_neg(tb) : ag_sub(ta, tb); /* ta - tb, NULL as 0 */
    ag_node *d = ag_sub(out->in[0], out->in[1]);
    return ag_rec_scale(ag_sum(ag_mul(d, dt)), 2.0 / (double)out->in[0]->shape.size);
}

const ag_op ag_op_mse = {.name = "mse", .arity = 2, .symbol = "vs", .shape = mse_shape,
                         .kernels = {mse_forward, mse_vjp}, .jvp = mse_jvp,
                         .vjp_nodes = mse_vjp_nodes, .jvp_nodes = mse_jvp_nodes, .f32 = &mse_f32};

ag_node *ag_mse(ag_node *prediction, ag_node *target)
{
    return ag_record2(&ag_op_mse, prediction, target, NULL);
}
