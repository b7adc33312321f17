/* trace.c -- narrate the backward walk: for each node visited, the gradient
 * that arrived and what its vector-Jacobian product sent to each input. */
#include "../internal.h"

#include <string.h>

/* What a trace line shows of a gradient: a vector's first TRACE_MAX_SHOWN
 * values; of a matrix (or more dimensions, as rows of the last one) the
 * first TRACE_MAX_ROWS rows, each cut at TRACE_MAX_SHOWN values. */
#define TRACE_MAX_SHOWN 12
#define TRACE_MAX_ROWS 8

void ag_graph_set_trace(ag_graph *g, FILE *out)
{
    if (!g) {
        ag_graph_is_null("ag_graph_set_trace");
        return;
    }
    g->trace = out;
}

/* "z2" for a named node, "#7 matmul" otherwise */
const char *ag_node_label(const ag_node *n, char *buf, size_t len)
{
    if (n->name && n->name[0])
        snprintf(buf, len, "%s", n->name);
    else
        snprintf(buf, len, "#%u %s", (unsigned)n->index, n->op->name);
    return buf;
}

/* [v0, v1, ...] on one line, the first TRACE_MAX_SHOWN values */
static void print_inline(FILE *out, const double *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n && i < TRACE_MAX_SHOWN; i++) fprintf(out, "%s%.6g", i ? ", " : "", v[i]);
    if (n > TRACE_MAX_SHOWN) fprintf(out, ", ... (%zu values)", n);
    fputs("]\n", out);
}

/* A matrix as the tensor printer lays it out, one row per line, the rows
 * after the first indented by `indent` columns (where the first row's
 * bracket stands) and each column right-aligned:
 *     sends dJ/dW2 += [[ 0.597867, 0, 0,  0.0498222],
 *                      [-0.597867, 0, 0, -0.0498222]]           */
static void print_rows(FILE *out, const double *v, const ag_shape *shape, int indent)
{
    size_t cols = (size_t)shape->dims[shape->ndim - 1], rows = shape->size / cols;
    size_t shown_rows = rows < TRACE_MAX_ROWS ? rows : TRACE_MAX_ROWS;
    size_t shown_cols = cols < TRACE_MAX_SHOWN ? cols : TRACE_MAX_SHOWN;
    int width[TRACE_MAX_SHOWN] = {0};
    char text[32];
    for (size_t r = 0; r < shown_rows; r++)
        for (size_t c = 0; c < shown_cols; c++) {
            int w = snprintf(text, sizeof text, "%.6g", v[r * cols + c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r < shown_rows; r++) {
        fprintf(out, "%*s%s", r ? indent : 0, "", r ? " [" : "[[");
        for (size_t c = 0; c < shown_cols; c++) fprintf(out, "%s%*.6g", c ? ", " : "", width[c], v[r * cols + c]);
        if (cols > shown_cols) fputs(", ...", out);
        fputs(r + 1 < shown_rows ? "],\n" : "]", out);
    }
    if (rows > shown_rows) fprintf(out, ",\n%*s ...", indent, "");
    fputs("]", out);
    if (rows > shown_rows || cols > shown_cols) fprintf(out, " (%zu values)", shape->size);
    fputc('\n', out);
}

/* A gradient after a prefix of `indent` characters: a scalar or a vector on
 * the line, a matrix as rows. */
static void print_gradient(FILE *out, const double *v, const ag_shape *shape, int indent)
{
    if (shape->ndim >= 2)
        print_rows(out, v, shape, indent);
    else
        print_inline(out, v, shape->size);
}

void ag_trace_begin(ag_graph *g, const ag_node *root)
{
    char label[64], shape[32];
    fprintf(g->trace, "backward from %s (%s, %s): d%s/d%s = 1\n", ag_node_label(root, label, sizeof label),
            root->op->name, ag_shape_str(&root->shape, shape, sizeof shape), label, label);
}

/* Apply n's vjp, printing the arriving gradient and each input's share. */
void ag_trace_vjp(ag_graph *g, ag_node *n, const ag_node *root)
{
    char label[64], in_label[64], root_label[64], shape[32];
    FILE *out = g->trace;
    ag_node_label(root, root_label, sizeof root_label);
    int indent = fprintf(out, "d%s/d%s = ", root_label, ag_node_label(n, label, sizeof label));
    print_gradient(out, n->grad, &n->shape, indent);
    fprintf(out, "    at %s = %s(", label, n->op->name);
    for (int k = 0; k < (int)n->n_in; k++)
        fprintf(out, "%s%s", k ? ", " : "", ag_node_label(n->inputs[k], in_label, sizeof in_label));
    fprintf(out, ") [%s]\n", ag_shape_str(&n->shape, shape, sizeof shape));
    /* each input's gradient before the vjp (NULL: none, or a repeat) */
    double **before = ag_calloc(n->n_in, sizeof *before);
    for (int k = 0; k < (int)n->n_in; k++) {
        const ag_node *in = n->inputs[k];
        bool repeated = false; /* an operand used twice gets one combined share */
        for (int j = 0; j < k; j++) repeated |= n->inputs[j] == in;
        if (!before || !in->grad || repeated) continue;
        before[k] = ag_malloc(in->shape.size * sizeof(double));
        if (before[k]) memcpy(before[k], in->grad, in->shape.size * sizeof(double));
    }
    n->kernels->vjp(n);
    for (int k = 0; k < (int)n->n_in; k++) {
        const ag_node *in = n->inputs[k];
        if (!before || !before[k]) continue;
        for (size_t i = 0; i < in->shape.size; i++) before[k][i] = in->grad[i] - before[k][i];
        indent = fprintf(out, "    sends d%s/d%s += ", root_label, ag_node_label(in, in_label, sizeof in_label));
        print_gradient(out, before[k], &in->shape, indent);
        ag_free(before[k]);
    }
    ag_free(before);
}
