/* dot.c -- the graph as a Graphviz DOT picture: a box per node with its op,
 * name, shape, value and gradient; edges run in data-flow direction. */
#include "../io/io_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define DOT_MAX_FULL 12 /* tensors up to this many elements are shown in full */

/* Values as a label line: all of them, or a summary of a large tensor. */
static void dot_values(FILE *out, const char *what, const ag_node *n, const double *v)
{
    size_t size = n->shape.size;
    fprintf(out, "%s ", what);
    if (size <= DOT_MAX_FULL) {
        size_t cols = n->shape.ndim >= 2 ? (size_t)n->shape.dims[n->shape.ndim - 1] : size;
        fputc('[', out);
        for (size_t i = 0; i < size; i++)
            fprintf(out, "%s%.4g", i == 0 ? "" : (i % cols == 0 ? "; " : ", "), v[i]);
        fputs("]\\l", out);
        return;
    }
    double lo = v[0], hi = v[0], sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < size; i++) {
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
        sum += v[i];
        sq += v[i] * v[i];
    }
    fprintf(out, "min %.4g, max %.4g, mean %.4g, norm %.4g\\l", lo, hi, sum / (double)size, sqrt(sq));
}

/* Graphviz-escaped copy of a name into buf */
static const char *dot_escape(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 2 < len; i++) {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '{' || s[i] == '}' || s[i] == '<' || s[i] == '>' || s[i] == '|')
            buf[j++] = '\\';
        buf[j++] = s[i];
    }
    buf[j] = '\0';
    return buf;
}

static const char *dot_style(const ag_node *n)
{
    if (n->op == &ag_op_param)
        return n->grad ? "shape=box, style=\"filled,bold\", fillcolor=\"#cfe2ff\""
                       : "shape=box, style=filled, fillcolor=\"#e9ecef\"";
    if (n->op == &ag_op_input) return "shape=box, style=filled, fillcolor=\"#e9ecef\"";
    if (n->op == &ag_op_constant) return "shape=box, style=dashed";
    return "shape=box, style=rounded";
}

static void dot_node(FILE *out, const ag_node *n)
{
    char shape[32], name[128];
    const char *kind = n->op == &ag_op_param ? (n->grad ? "parameter" : "tensor")
                     : n->op == &ag_op_input ? "input"
                     : n->op->name;
    fprintf(out, "  n%u [%s, fontname=\"monospace\", label=\"", (unsigned)n->index, dot_style(n));
    if (n->name && n->name[0]) fprintf(out, "%s = ", dot_escape(n->name, name, sizeof name));
    char params[128] = "";
    if (n->op->print_params && n->params) { /* "sum_axis(axis=1)" */
        char text[120];
        n->op->print_params(n, text, sizeof text);
        snprintf(params, sizeof params, "(%s)", dot_escape(text, name, sizeof name));
    }
    fprintf(out, "%s%s [%s]\\l", kind, params, ag_shape_str(&n->shape, shape, sizeof shape));
    dot_values(out, "value", n, n->value);
    ag_node_grad_settle(n); /* a parameter's zeros still pending */
    if (n->grad) dot_values(out, "grad ", n, n->grad);
    fputs("\"];\n", out);
}

bool ag_graph_write_dot(const ag_graph *g, FILE *out)
{
    if (!g || !out) {
        ag_set_last_error("ag_graph_write_dot: graph or file is NULL");
        return false;
    }
    fputs("digraph agrad {\n  rankdir=LR;\n  node [fontsize=10];\n", out);
    for (size_t i = 0; i < g->n_nodes; i++) dot_node(out, g->nodes[i]);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ag_node *n = g->nodes[i];
        for (int k = 0; k < (int)n->n_in; k++)
            fprintf(out, "  n%u -> n%u;\n", (unsigned)n->inputs[k]->index, (unsigned)n->index);
    }
    fputs("}\n", out);
    return !ferror(out);
}

/* Written like a checkpoint (ag_atomic_open): a temporary file renamed over
 * path only once the whole picture is written, so a failure leaves an old
 * file at path as it was. */
bool ag_graph_save_dot(const ag_graph *g, const char *path)
{
    if (!g || !path || !path[0]) {
        ag_set_last_error("ag_graph_save_dot: %s", g ? "path is NULL or empty" : "graph is NULL");
        return false;
    }
    ag_atomic_file a;
    if (!ag_atomic_open(&a, "ag_graph_save_dot", path)) return false;
    errno = 0;
    if (!ag_graph_write_dot(g, a.f) || ag_io_injected()) {
        ag_set_last_error("ag_graph_save_dot: %s: write failed: %s", a.tmp,
                          errno ? strerror(errno) : "the stream reported an error");
        ag_atomic_abort(&a);
        return false;
    }
    return ag_atomic_commit(&a);
}
