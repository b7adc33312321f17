/* layers.c -- the dense layer and multi-layer perceptrons built from it.
 * Rows are samples: x [N, in] @ W [in, out] + b [out] -> [N, out].
 * An MLP describes itself in its store's metadata, so a checkpoint of the
 * store is enough to build it again (ag_mlp_from_params):
 *   "agrad.mlp.<prefix>": "widths=4,16,3 activations=relu,none" */
#include "../internal.h"
#include "../io/io_internal.h" /* ag_params_truncate, metadata */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

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
static bool add_layer(ag_mlp *m, ag_params *ps, const char *prefix, size_t k, int in, int out, ag_rng *rng,
                      ag_dtype dtype)
{
    char name[AG_MLP_NAME_MAX];
    layer_name(name, sizeof name, prefix, k, 'W'); /* fits: checked up front */
    ag_tensor *W = ag_params_add_dtype(ps, name, 2, (int[]){in, out}, dtype);
    layer_name(name, sizeof name, prefix, k, 'b');
    ag_tensor *b = W ? ag_params_add_dtype(ps, name, 1, (int[]){out}, dtype) : NULL;
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

static bool describe(const ag_mlp *m, ag_params *ps, const char *prefix, const int *widths);

ag_mlp *ag_mlp_new(ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                   const ag_activation *activations, ag_rng *rng)
{
    return ag_mlp_new_dtype(ps, prefix, n_layers, widths, activations, rng, AG_FLOAT64);
}

ag_mlp *ag_mlp_new_dtype(ag_params *ps, const char *prefix, size_t n_layers, const int *widths,
                         const ag_activation *activations, ag_rng *rng, ag_dtype dtype)
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
        if (!add_layer(m, ps, prefix, k, widths[k], widths[k + 1], rng, dtype)) {
            char why[AG_ERROR_SIZE];
            snprintf(why, sizeof why, "%s", ag_last_error());
            ag_set_last_error("ag_mlp_new: layer %zu: %s", k + 1, why);
            ag_params_truncate(ps, store_count);
            ag_mlp_free(m);
            return NULL;
        }
    }
    if (!describe(m, ps, prefix, widths)) {
        ag_set_last_error("ag_mlp_new: out of memory (its description in the store's metadata)");
        ag_params_truncate(ps, store_count);
        ag_mlp_free(m);
        return NULL;
    }
    return m;
}

/* ---- the description in the store's metadata -------------------------------- */

static const char *const activation_names[] = {
    [AG_ACT_NONE] = "none", [AG_ACT_RELU] = "relu", [AG_ACT_TANH] = "tanh", [AG_ACT_SIGMOID] = "sigmoid"};

/* "agrad.mlp.<prefix>" = "widths=4,16,3 activations=relu,none"; false on OOM. */
static bool describe(const ag_mlp *m, ag_params *ps, const char *prefix, const int *widths)
{
    size_t len = strlen(AG_MLP_META_PREFIX) + strlen(prefix) + 1;
    size_t value_len = 32 + 12 * (m->n_layers + 1) + 8 * m->n_layers;
    char *key = ag_malloc(len), *value = ag_malloc(value_len);
    bool ok = key && value;
    if (ok) {
        snprintf(key, len, "%s%s", AG_MLP_META_PREFIX, prefix);
        size_t at = (size_t)snprintf(value, value_len, "widths=");
        for (size_t k = 0; k <= m->n_layers; k++)
            at += (size_t)snprintf(value + at, value_len - at, "%s%d", k ? "," : "", widths[k]);
        at += (size_t)snprintf(value + at, value_len - at, " activations=");
        for (size_t k = 0; k < m->n_layers; k++)
            at += (size_t)snprintf(value + at, value_len - at, "%s%s", k ? "," : "",
                                   activation_names[m->activations[k]]);
        ok = ag_params_set_meta_unchecked(ps, key, value);
    }
    ag_free(key);
    ag_free(value);
    return ok;
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

/* ---- an MLP from a store's description (a checkpoint read back) ------------ */

/* The architecture parsed from a description. */
typedef struct mlp_arch {
    size_t n_layers;
    int *widths;                /* n_layers + 1 */
    ag_activation *activations; /* n_layers */
} mlp_arch;

/* Comma-separated positive ints after "widths=" at *p; false with why. */
static bool parse_widths(const char **p, mlp_arch *a, char *why, size_t len)
{
    if (strncmp(*p, "widths=", 7) != 0) return snprintf(why, len, "it does not start with 'widths='"), false;
    *p += 7;
    for (size_t k = 0;; k++) {
        char *end;
        errno = 0;
        long w = strtol(*p, &end, 10);
        if (end == *p || errno || w <= 0 || w > INT_MAX)
            return snprintf(why, len, "width %zu is not a positive integer", k), false;
        int *bigger = ag_realloc(a->widths, (k + 1) * sizeof *bigger);
        if (!bigger) return snprintf(why, len, "out of memory"), false;
        a->widths = bigger;
        a->widths[k] = (int)w;
        *p = end;
        if (**p != ',') {
            a->n_layers = k;
            return a->n_layers > 0 || (snprintf(why, len, "it has one width; an MLP needs two or more"), false);
        }
        ++*p;
    }
}

/* " activations=" then n_layers comma-separated names, then the end. */
static bool parse_activations(const char *p, mlp_arch *a, char *why, size_t len)
{
    if (strncmp(p, " activations=", 13) != 0)
        return snprintf(why, len, "' activations=' does not follow the widths"), false;
    p += 13;
    a->activations = ag_calloc(a->n_layers, sizeof *a->activations);
    if (!a->activations) return snprintf(why, len, "out of memory"), false;
    for (size_t k = 0; k < a->n_layers; k++) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int act = 0; act < (int)(sizeof activation_names / sizeof *activation_names); act++)
            if (strlen(activation_names[act]) == n && strncmp(p, activation_names[act], n) == 0) found = act;
        if (found < 0)
            return snprintf(why, len, "activation %zu is not none, relu, tanh or sigmoid", k), false;
        a->activations[k] = (ag_activation)found;
        p += n;
        bool last = k + 1 == a->n_layers;
        if (*p != (last ? '\0' : ','))
            return snprintf(why, len, "it needs %zu activations (one per layer), %s", a->n_layers,
                            last ? "has more" : "has fewer"), false;
        if (!last) p++;
    }
    return true;
}

/* The key of the only MLP description in the store; NULL with the message set. */
static const char *only_description(const ag_params *ps)
{
    const char *found = NULL;
    size_t count = 0;
    for (size_t i = 0; i < ag_params_meta_count(ps); i++) {
        const char *key = ag_params_meta_key(ps, i);
        if (strncmp(key, AG_MLP_META_PREFIX, strlen(AG_MLP_META_PREFIX)) == 0) {
            found = key;
            count++;
        }
    }
    if (count != 1) {
        ag_set_last_error("ag_mlp_from_params: prefix NULL needs exactly one MLP description in the "
                          "store's metadata (\"" AG_MLP_META_PREFIX "<prefix>\"), found %zu%s", count,
                          count ? ": name the prefix" : " (was the checkpoint saved from a store "
                                                        "ag_mlp_new filled?)");
        return NULL;
    }
    return found;
}

/* Layer k's tensor in the store, of the shape the description gives. */
static ag_tensor *layer_tensor(const ag_params *ps, const char *prefix, size_t k, char which,
                               int rows, int cols)
{
    char name[AG_MLP_NAME_MAX], want_s[64], got_s[64];
    if (!layer_name(name, sizeof name, prefix, k, which)) {
        ag_set_last_error("ag_mlp_from_params: prefix '%.32s...' is too long", prefix);
        return NULL;
    }
    ag_tensor *t = ag_params_get(ps, name);
    ag_shape want;
    const char *why;
    bool shape_ok = which == 'W' ? ag_shape_make(&want, 2, (int[]){rows, cols}, &why)
                                 : ag_shape_make(&want, 1, (int[]){cols}, &why);
    if (!t || !shape_ok || !ag_shape_equal(&t->shape, &want)) {
        if (!t)
            ag_set_last_error("ag_mlp_from_params: the description needs tensor '%s', which the store "
                              "does not hold", name);
        else
            ag_set_last_error("ag_mlp_from_params: tensor '%s' is (%s) but the description needs (%s)",
                              name, ag_shape_str(&t->shape, got_s, sizeof got_s),
                              shape_ok ? ag_shape_str(&want, want_s, sizeof want_s) : why);
        return NULL;
    }
    return t;
}

/* The MLP of architecture a over the store's tensors "<prefix>k.W", ".b"
 * (a's activations move into it); NULL with the message set. */
static ag_mlp *bind_tensors(const ag_params *ps, const char *prefix, mlp_arch *a)
{
    ag_mlp *m = ag_calloc(1, sizeof *m);
    ag_tensor **params = ag_calloc(2 * a->n_layers, sizeof *params);
    if (!m || !params) {
        ag_free(m);
        ag_free(params);
        ag_set_last_error("ag_mlp_from_params: out of memory");
        return NULL;
    }
    for (size_t k = 0; k < a->n_layers; k++) {
        params[2 * k] = layer_tensor(ps, prefix, k, 'W', a->widths[k], a->widths[k + 1]);
        params[2 * k + 1] = params[2 * k] ? layer_tensor(ps, prefix, k, 'b', a->widths[k], a->widths[k + 1]) : NULL;
        if (!params[2 * k + 1]) {
            ag_free(params);
            ag_free(m);
            return NULL;
        }
    }
    *m = (ag_mlp){a->n_layers, params, a->activations};
    a->activations = NULL;
    return m;
}

ag_mlp *ag_mlp_from_params(ag_params *ps, const char *prefix)
{
    if (!ps) {
        ag_set_last_error("ag_mlp_from_params: store is NULL");
        return NULL;
    }
    char key_buf[AG_MLP_NAME_MAX + sizeof AG_MLP_META_PREFIX];
    const char *key = key_buf;
    if (prefix) {
        snprintf(key_buf, sizeof key_buf, "%s%.*s", AG_MLP_META_PREFIX, AG_MLP_NAME_MAX - 1, prefix);
    } else if ((key = only_description(ps))) {
        prefix = key + strlen(AG_MLP_META_PREFIX);
    } else {
        return NULL;
    }
    const char *text = ag_params_meta(ps, key);
    char shown[AG_IO_SHOWN_SIZE], shown_text[AG_IO_SHOWN_SIZE], why[160] = "";
    if (!text) {
        ag_set_last_error("ag_mlp_from_params: the store has no metadata '%s' (is the prefix right? "
                          "was the checkpoint saved from a store ag_mlp_new filled?)",
                          ag_io_name(key, shown));
        return NULL;
    }
    mlp_arch a = {0};
    const char *p = text;
    ag_mlp *m = NULL;
    if (parse_widths(&p, &a, why, sizeof why) && parse_activations(p, &a, why, sizeof why))
        m = bind_tensors(ps, prefix, &a);
    else
        ag_set_last_error("ag_mlp_from_params: metadata '%s' = '%s': %s", ag_io_name(key, shown),
                          ag_io_name(text, shown_text), why);
    ag_free(a.widths);
    ag_free(a.activations);
    return m;
}
