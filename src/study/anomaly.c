/* anomaly.c -- find the first op that makes a NaN or an Inf, forward or
 * backward, and say which one (PyTorch's detect_anomaly). */
#include "../internal.h"

#include <math.h>

void ag_graph_set_detect_anomaly(ag_graph *g, bool on)
{
    if (!g) {
        ag_graph_is_null("ag_graph_set_detect_anomaly");
        return;
    }
    g->detect_anomaly = on;
}

/* Index of the first non-finite value of a buffer of n elements of type
 * dtype, or -1. */
static long first_non_finite(const double *v, size_t n, unsigned dtype)
{
    if (dtype == AG_FLOAT32) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(AG_F32(v)[i])) return (long)i;
        return -1;
    }
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
    for (int k = 0; k < (int)n->n_in && used < len; k++) {
        char shape[32];
        int w = snprintf(buf + used, len - used, "%s(%s)", k ? ", " : "",
                         ag_shape_str(&n->inputs[k]->shape, shape, sizeof shape));
        if (w < 0) break;
        used += (size_t)w;
    }
}

/* "parameter 'W1'", "input 'x'", "constant #3" */
static const char *leaf_label(const ag_node *leaf, char *buf, size_t len)
{
    const char *kind = leaf->op == &ag_op_param ? "parameter" : leaf->op == &ag_op_input ? "input" : "constant";
    if (leaf->name && leaf->name[0])
        snprintf(buf, len, "%s '%s'", kind, leaf->name);
    else
        snprintf(buf, len, "%s #%u", kind, (unsigned)leaf->index);
    return buf;
}

/* The first input of n whose value holds a NaN or an Inf (its element in
 * *at), or -1: the non-finite value came in rather than being made by n. */
static int non_finite_input(const ag_node *n, long *at)
{
    for (int k = 0; k < (int)n->n_in; k++) {
        *at = first_non_finite(n->inputs[k]->value, n->inputs[k]->shape.size, n->inputs[k]->dtype);
        if (*at >= 0) return k;
    }
    return -1;
}

/* A NaN or an Inf that came into n through input k: a leaf is named as
 * its source; an op's node held it already (it ran before detection was on). */
static void came_in(ag_graph *g, const ag_node *n, int k, long at, const char *pass)
{
    const ag_node *in = n->inputs[k];
    char label[64], in_label[80];
    ag_node_label(n, label, sizeof label);
    if (ag_node_is_leaf(in))
        ag_graph_fail(g, "anomaly: %s holds %s at element %ld: it came in through that leaf (operand %d of "
                         "ag_%s, node %s, in the %s pass), no op made it",
                      leaf_label(in, in_label, sizeof in_label), non_finite_name(ag_typed_get(in->value, (ag_dtype)in->dtype, (size_t)at)), at, k + 1,
                      n->op->name, label, pass);
    else
        ag_graph_fail(g, "anomaly: operand %d of ag_%s (node %s, %s pass) already held %s at element %ld: "
                         "node %s was made before anomaly detection was turned on",
                      k + 1, n->op->name, label, pass, non_finite_name(ag_typed_get(in->value, (ag_dtype)in->dtype, (size_t)at)), at,
                      ag_node_label(in, in_label, sizeof in_label));
}

bool ag_check_value(ag_graph *g, const ag_node *n)
{
    long bad = first_non_finite(n->value, n->shape.size, n->dtype);
    if (bad < 0) return true;
    long at;
    int k = non_finite_input(n, &at);
    if (k >= 0) {
        came_in(g, n, k, at, "forward");
        return false;
    }
    char label[64], shapes[160];
    input_shapes(n, shapes, sizeof shapes);
    ag_graph_fail(g, "anomaly: ag_%s made %s at element %ld of node %s in the forward pass (inputs %s)",
                  n->op->name, non_finite_name(ag_typed_get(n->value, (ag_dtype)n->dtype, (size_t)bad)), bad, ag_node_label(n, label, sizeof label), shapes);
    return false;
}

bool ag_check_input_grads(ag_graph *g, const ag_node *n)
{
    for (int k = 0; k < (int)n->n_in; k++) {
        const ag_node *in = n->inputs[k];
        long bad = in->grad ? first_non_finite(in->grad, in->shape.size, in->dtype) : -1;
        if (bad < 0) continue;
        long at;
        int source = non_finite_input(n, &at);
        if (source >= 0) { /* the vjp read a NaN or an Inf that came in */
            came_in(g, n, source, at, "backward");
            return false;
        }
        char label[64], in_label[64], shapes[160];
        input_shapes(n, shapes, sizeof shapes);
        ag_graph_fail(g, "anomaly: the backward of ag_%s (node %s, inputs %s) sent %s to element %ld "
                         "of the gradient of input %d (%s)",
                      n->op->name, ag_node_label(n, label, sizeof label), shapes, non_finite_name(ag_typed_get(in->grad, (ag_dtype)in->dtype, (size_t)bad)), bad, k,
                      ag_node_label(in, in_label, sizeof in_label));
        return false;
    }
    return true;
}

bool ag_check_leaf_grads(ag_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ag_node *n = g->nodes[i];
        const ag_tensor *t = ag_param_tensor(n);
        if (t && t->grad_zero_pending && n->grad == t->grad) continue; /* zeros, to be written */
        long bad = ag_node_is_leaf(n) && n->grad ? first_non_finite(n->grad, n->shape.size, n->dtype) : -1;
        if (bad < 0) continue;
        char label[80];
        ag_graph_fail(g, "anomaly: the gradient of %s already held %s at element %ld before this backward "
                         "(left from an earlier one: zero it, e.g. ag_graph_zero_grad)",
                      leaf_label(n, label, sizeof label), non_finite_name(ag_typed_get(n->grad, (ag_dtype)n->dtype, (size_t)bad)), bad);
        return false;
    }
    return true;
}
