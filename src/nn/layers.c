/* layers.c -- the dense layer and multi-layer perceptrons built from it.
 * Rows are samples: x [N, in] @ W [in, out] + b [out] -> [N, out]. */
#include "../internal.h"
#include "../io/io_internal.h" /* ag_params_truncate */

#include <stdio.h>

/* Longest tensor name ag_mlp_new makes, with its terminating NUL. */
#define AG_MLP_NAME_MAX 128

struct ag_mlp {
    size_t n_layers;
    ag_tensor **params;          /* W1, b1, W2, b2, ... (owned by the store) */
    ag_activation *activations;  /* after each layer */
};

ag_node *ag_activate(ag_node *x, ag_activation act)
{
    switch (act) {
    case AG_ACT_RELU: return ag_relu(x);
    case AG_ACT_TANH: return ag_tanh(x);
    case AG_ACT_SIGMOID: return ag_sigmoid(x);
    case AG_ACT_NONE: return x;
    }
    if (x) ag_graph_fail(x->graph, "ag_activate: unknown activation %d", (int)act);
    return NULL;
}

ag_node *ag_dense(ag_graph *g, ag_node *x, ag_tensor *W, ag_tensor *b, ag_activation act)
{
    if (!g) { /* the parameters could not be recorded: say so on x's graph */
        if (x) ag_graph_fail(x->graph, "ag_dense: graph is NULL");
        return NULL;
    }
    ag_node *y = b ? ag_linear(x, ag_param(g, W), ag_param(g, b)) : ag_matmul(x, ag_param(g, W));
    return ag_activate(y, act);
}

void ag_mlp_free(ag_mlp *m)
{
    if (!m) return;
    ag_free(m->params);
    ag_free(m->activations);
    ag_free(m);
}

/* Layer k's tensor name: "<prefix><k+1>.W" or ".b"; false if it does not fit. */
static bool layer_name(char *name, size_t len, const char *prefix, size_t k, char which)
{
    int n = snprintf(name, len, "%s%zu.%c", prefix, k + 1, which);
    return n >= 0 && (size_t)n < len;
}

/* Add layer k's W [in,out] and b [out] to the store and initialise them:
 * He uniform before a ReLU, Xavier uniform otherwise; biases zero. */
static bool add_layer(ag_mlp *m, ag_params *ps, const char *prefix, size_t k, int in, int out, ag_rng *rng)
{
    char name[AG_MLP_NAME_MAX];
    layer_name(name, sizeof name, prefix, k, 'W'); /* fits: checked up front */
    ag_tensor *W = ag_params_add(ps, name, 2, (int[]){in, out});
    layer_name(name, sizeof name, prefix, k, 'b');
    ag_tensor *b = W ? ag_params_add(ps, name, 1, (int[]){out}) : NULL;
    if (!W || !b) return false;
    if (m->activations[k] == AG_ACT_RELU)
        ag_init_he_uniform(W, rng);
    else
        ag_init_xavier_uniform(W, rng);
    ag_init_zeros(b);
    m->params[2 * k] = W;
    m->params[2 * k + 1] = b;
    return true;
}

static bool is_activation(ag_activation act)
{
    return act == AG_ACT_NONE || act == AG_ACT_RELU || act == AG_ACT_TANH || act == AG_ACT_SIGMOID;
}

/* Everything that can be checked before the store changes: widths, weight
 * sizes, activations, and names that fit and are not taken yet. */
static bool mlp_args_valid(const ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                           const ag_activation *activations)
{
    char name[AG_MLP_NAME_MAX];
    for (size_t k = 0; k <= n_layers; k++)
        if (widths[k] <= 0) {
            ag_set_last_error("ag_mlp_new: width %zu is %d; every width must be positive", k, widths[k]);
            return false;
        }
    for (size_t k = 0; k < n_layers; k++) {
        ag_shape weight;
        const char *why;
        if (!ag_shape_make(&weight, 2, (int[]){widths[k], widths[k + 1]}, &why)) {
            ag_set_last_error("ag_mlp_new: layer %zu's weight (%dx%d): %s", k + 1, widths[k],
                              widths[k + 1], why);
            return false;
        }
        if (!is_activation(activations[k])) {
            ag_set_last_error("ag_mlp_new: activation %zu is %d, not an ag_activation", k, (int)activations[k]);
            return false;
        }
        for (int which = 0; which < 2; which++) {
            if (!layer_name(name, sizeof name, prefix, k, which ? 'b' : 'W')) {
                ag_set_last_error("ag_mlp_new: prefix '%.32s...' is too long (names are at most %d "
                                  "characters)", prefix, AG_MLP_NAME_MAX - 1);
                return false;
            }
            if (ag_params_get(ps, name)) {
                ag_set_last_error("ag_mlp_new: the store already holds a tensor named '%s'", name);
                return false;
            }
        }
    }
    return true;
}

ag_mlp *ag_mlp_new(ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                   const ag_activation *activations, ag_rng *rng)
{
    if (!ps || !prefix || !widths || !activations || !rng || n_layers == 0) {
        ag_set_last_error("ag_mlp_new: %s", !ps ? "store is NULL" : !prefix ? "prefix is NULL"
                                            : !widths ? "widths is NULL" : !activations ? "activations is NULL"
                                            : !rng ? "rng is NULL" : "n_layers is 0");
        return NULL;
    }
    if (!mlp_args_valid(ps, prefix, n_layers, widths, activations)) return NULL;
    ag_mlp *m = ag_calloc(1, sizeof *m);
    if (!m) {
        ag_set_last_error("ag_mlp_new: out of memory");
        return NULL;
    }
    m->n_layers = n_layers;
    m->params = ag_calloc(2 * n_layers, sizeof *m->params);
    m->activations = ag_calloc(n_layers, sizeof *m->activations);
    if (!m->params || !m->activations) {
        ag_mlp_free(m);
        ag_set_last_error("ag_mlp_new: out of memory");
        return NULL;
    }
    size_t store_count = ag_params_count(ps); /* rolled back to on failure */
    for (size_t k = 0; k < n_layers; k++) {
        m->activations[k] = activations[k];
        if (!add_layer(m, ps, prefix, k, widths[k], widths[k + 1], rng)) {
            char why[AG_ERROR_SIZE];
            snprintf(why, sizeof why, "%s", ag_last_error());
            ag_set_last_error("ag_mlp_new: layer %zu: %s", k + 1, why);
            ag_params_truncate(ps, store_count);
            ag_mlp_free(m);
            return NULL;
        }
    }
    return m;
}

ag_node *ag_mlp_forward(const ag_mlp *m, ag_graph *g, ag_node *x)
{
    if (!m) {
        if (g) ag_graph_fail(g, "ag_mlp_forward: mlp is NULL (did ag_mlp_new fail? %s)", ag_last_error());
        return NULL;
    }
    for (size_t k = 0; k < m->n_layers && x; k++)
        x = ag_dense(g, x, m->params[2 * k], m->params[2 * k + 1], m->activations[k]);
    return x;
}

ag_tensor *const *ag_mlp_params(const ag_mlp *m, size_t *count)
{
    if (count) *count = m ? 2 * m->n_layers : 0;
    return m ? m->params : NULL;
}
