/* anomaly.c -- find the first op that makes a NaN or an Inf, forward or
 * backward, and say which one (PyTorch's detect_anomaly). */
#include "../internal.h"

#include <math.h>

void ag_graph_set_detect_anomaly(ag_graph *g, bool on)
{
    if (g) g->detect_anomaly = on;
}

/* Index of the first non-finite value, or -1. */
static long first_non_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return (long)i;
    return -1;
}

/* "NaN", "Inf" or "-Inf" (printf's spelling of NaN varies by platform) */
static const char *non_finite_name(double v)
{
    return isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
}

/* "(2x3), (scalar)": the shapes of n's inputs */
static void input_shapes(const ag_node *n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < n->n_in && used < len; k++) {
        char shape[32];
        int w = snprintf(buf + used, len - used, "%s(%s)", k ? ", " : "",
                         ag_shape_str(&n->in[k]->shape, shape, sizeof shape));
        if (w < 0) break;
        used += (size_t)w;
    }
}

bool ag_check_value(ag_graph *g, const ag_node *n)
{
    long bad = first_non_finite(n->value, n->shape.size);
    if (bad < 0) return true;
    char label[64], shapes[160];
    input_shapes(n, shapes, sizeof shapes);
    ag_graph_fail(g, "anomaly: ag_%s made %s at element %ld of node %s in the forward pass (inputs %s)",
                  n->op->name, non_finite_name(n->value[bad]), bad, ag_node_label(n, label, sizeof label), shapes);
    return false;
}

bool ag_check_input_grads(ag_graph *g, const ag_node *n)
{
    for (int k = 0; k < n->n_in; k++) {
        const ag_node *in = n->in[k];
        long bad = in->grad ? first_non_finite(in->grad, in->shape.size) : -1;
        if (bad < 0) continue;
        char label[64], in_label[64], shapes[160];
        input_shapes(n, shapes, sizeof shapes);
        ag_graph_fail(g, "anomaly: the backward of ag_%s (node %s, inputs %s) sent %s to element %ld "
                         "of the gradient of input %d (%s)",
                      n->op->name, ag_node_label(n, label, sizeof label), shapes, non_finite_name(in->grad[bad]), bad, k,
                      ag_node_label(in, in_label, sizeof in_label));
        return false;
    }
    return true;
}
