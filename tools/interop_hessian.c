/* interop_hessian.c -- second derivatives of random smooth MLPs, written out
 * for tools/torch_compare_hessian.py to redo with
 * torch.autograd.functional.hessian and hvp (float64).
 *
 * Each of K networks (seeded, the same on every machine) is drawn as:
 *   widths[0..L]  L = 1..3 layers, every width 1..6, a batch of N = 1..4 rows;
 *   layer l       h_l = act_l(h_{l-1} @ W_l + b_l),  W_l [w_{l-1}, w_l],
 *                 b_l [w_l], recorded either as one ag_linear node or as
 *                 ag_add(ag_matmul(h, W), b) (drawn per layer);
 *   act_l         tanh, sigmoid or softplus (drawn per layer); the last
 *                 layer may have none (identity);
 *   loss          "mean_square":  mean((h_L - T)^2)  (ag_sub, ag_mul, ag_mean)
 *                 "weighted_sum": sum(h_L * T)        (ag_mul, ag_sum)
 *                 with T [N, w_L] drawn at random (targets or weights).
 * x [N, w_0] is a parameter leaf too, so the loss can be differentiated with
 * respect to it. For every wrt among x, W_1, b_1, ..., W_L, b_L (the others
 * held fixed), on one graph per network:
 *   hvp   ag_hvp for a random v of wrt's size (records the gradient),
 *   rev   ag_hessian     (reverse over reverse, reuses that gradient),
 *   fwd   ag_hessian_fwd (forward over reverse),
 * each Hessian [n, n] row-major over wrt flattened row-major. So the ops
 * whose recorded rules this exercises (to second order) are add, sub, mul,
 * matmul, linear, tanh, sigmoid, softplus, sum and mean.
 *
 * DIR/hessian.json:
 *   {"format": "agrad-interop-hessian 1", "seed": S,
 *    "mlps": [{"mlp": 0, "batch": N, "widths": [...],
 *              "layers": [{"act": "tanh", "form": "linear"}, ...],
 *              "loss": "mean_square", "x": {"shape": [...], "values": [...]},
 *              "target": {...}, "params": [{"name": "W1", "shape": [...],
 *              "values": [...]}, ...], "loss_value": L,
 *              "wrt": [{"name": "x", "n": n, "v": [...], "hvp": [...],
 *                       "rev": [...], "fwd": [...]}, ...]}, ...]}
 * Doubles are written with 17 significant digits (they read back exactly).
 *
 *   interop_hessian DIR [K]    (K networks, default 40)                      */
#include <agrad.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_MLPS = 40, MAX_MLPS = 10000, MAX_LAYERS = 3, MAX_WIDTH = 6, MAX_BATCH = 4 };
#define SEED 20261215ULL

typedef enum { ACT_NONE, ACT_TANH, ACT_SIGMOID, ACT_SOFTPLUS } act_kind;
static const char *const act_names[] = {"none", "tanh", "sigmoid", "softplus"};
typedef enum { LOSS_MEAN_SQUARE, LOSS_WEIGHTED_SUM } loss_kind;
static const char *const loss_names[] = {"mean_square", "weighted_sum"};

/* One drawn network: its shape and its tensors (x and the parameters
 * require grad; T does not). */
typedef struct mlp {
    int n_layers, batch, widths[MAX_LAYERS + 1];
    act_kind act[MAX_LAYERS];
    bool linear[MAX_LAYERS]; /* ag_linear, or ag_matmul then ag_add */
    loss_kind loss;
    ag_tensor *x, *T, *W[MAX_LAYERS], *b[MAX_LAYERS];
} mlp;

/* ---- drawing a network ------------------------------------------------------ */

static int draw_between(ag_rng *r, int lo, int hi) /* lo..hi inclusive */
{
    return lo + (int)ag_rng_below(r, (unsigned long long)(hi - lo + 1));
}

static ag_tensor *drawn_tensor(ag_rng *r, int ndim, const int *dims, const char *name, bool param)
{
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    if (!t) return NULL;
    ag_init_uniform(t, r, -1.0, 1.0);
    ag_tensor_set_name(t, name);
    if (param && !ag_tensor_requires_grad(t, true)) {
        ag_tensor_free(t);
        return NULL;
    }
    return t;
}

static bool mlp_draw(mlp *m, ag_rng *r)
{
    memset(m, 0, sizeof *m);
    m->n_layers = draw_between(r, 1, MAX_LAYERS);
    m->batch = draw_between(r, 1, MAX_BATCH);
    for (int l = 0; l <= m->n_layers; l++) m->widths[l] = draw_between(r, 1, MAX_WIDTH);
    for (int l = 0; l < m->n_layers; l++) {
        bool last = l == m->n_layers - 1;
        m->act[l] = (act_kind)draw_between(r, last ? ACT_NONE : ACT_TANH, ACT_SOFTPLUS);
        m->linear[l] = ag_rng_below(r, 2);
    }
    m->loss = (loss_kind)ag_rng_below(r, 2);
    m->x = drawn_tensor(r, 2, (int[]){m->batch, m->widths[0]}, "x", true);
    m->T = drawn_tensor(r, 2, (int[]){m->batch, m->widths[m->n_layers]}, "T", false);
    bool ok = m->x && m->T;
    for (int l = 0; l < m->n_layers && ok; l++) {
        char name[8];
        snprintf(name, sizeof name, "W%d", l + 1);
        m->W[l] = drawn_tensor(r, 2, (int[]){m->widths[l], m->widths[l + 1]}, name, true);
        snprintf(name, sizeof name, "b%d", l + 1);
        m->b[l] = drawn_tensor(r, 1, (int[]){m->widths[l + 1]}, name, true);
        ok = m->W[l] && m->b[l];
    }
    return ok;
}

static void mlp_free(mlp *m)
{
    ag_tensor_free(m->x);
    ag_tensor_free(m->T);
    for (int l = 0; l < m->n_layers; l++) {
        ag_tensor_free(m->W[l]);
        ag_tensor_free(m->b[l]);
    }
}

/* ---- recording it --------------------------------------------------------------- */

static ag_node *activate(ag_node *z, act_kind act)
{
    switch (act) {
    case ACT_TANH: return ag_tanh(z);
    case ACT_SIGMOID: return ag_sigmoid(z);
    case ACT_SOFTPLUS: return ag_softplus(z);
    case ACT_NONE: break;
    }
    return z;
}

/* The loss node; wrt[0] = x's leaf, wrt[1 + 2l] = W_l's, wrt[2 + 2l] = b_l's. */
static ag_node *mlp_record(const mlp *m, ag_graph *g, ag_node **wrt)
{
    ag_node *h = wrt[0] = ag_param(g, m->x);
    for (int l = 0; l < m->n_layers; l++) {
        ag_node *W = wrt[1 + 2 * l] = ag_param(g, m->W[l]);
        ag_node *b = wrt[2 + 2 * l] = ag_param(g, m->b[l]);
        h = activate(m->linear[l] ? ag_linear(h, W, b) : ag_add(ag_matmul(h, W), b), m->act[l]);
    }
    ag_node *T = ag_input(g, m->T);
    if (m->loss == LOSS_MEAN_SQUARE) {
        ag_node *d = ag_sub(h, T);
        return ag_mean(ag_mul(d, d));
    }
    return ag_sum(ag_mul(h, T));
}

/* ---- JSON --------------------------------------------------------------------------- */

static json_t *json_doubles(const double *x, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_real(x[i]));
    return list;
}

static json_t *json_tensor(const ag_tensor *t, bool named)
{
    json_t *rec = json_object(), *shape = json_array();
    for (int d = 0; d < ag_tensor_ndim(t); d++) json_array_append_new(shape, json_integer(ag_tensor_dim(t, d)));
    if (named) json_object_set_new(rec, "name", json_string(ag_tensor_name(t)));
    json_object_set_new(rec, "shape", shape);
    json_object_set_new(rec, "values", json_doubles(ag_tensor_data(t), ag_tensor_size(t)));
    return rec;
}

static json_t *json_ints(const int *x, int n)
{
    json_t *list = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(list, json_integer(x[i]));
    return list;
}

/* the network itself: everything torch needs to rebuild it */
static json_t *mlp_record_json(const mlp *m, int index)
{
    json_t *rec = json_object(), *layers = json_array(), *params = json_array();
    json_object_set_new(rec, "mlp", json_integer(index));
    json_object_set_new(rec, "batch", json_integer(m->batch));
    json_object_set_new(rec, "widths", json_ints(m->widths, m->n_layers + 1));
    for (int l = 0; l < m->n_layers; l++) {
        json_t *layer = json_object();
        json_object_set_new(layer, "act", json_string(act_names[m->act[l]]));
        json_object_set_new(layer, "form", json_string(m->linear[l] ? "linear" : "matmul_add"));
        json_array_append_new(layers, layer);
        json_array_append_new(params, json_tensor(m->W[l], true));
        json_array_append_new(params, json_tensor(m->b[l], true));
    }
    json_object_set_new(rec, "layers", layers);
    json_object_set_new(rec, "loss", json_string(loss_names[m->loss]));
    json_object_set_new(rec, "x", json_tensor(m->x, false));
    json_object_set_new(rec, "target", json_tensor(m->T, false));
    json_object_set_new(rec, "params", params);
    return rec;
}

/* ---- one network's second derivatives ---------------------------------------------- */

/* H v, H (both ways) of the loss with respect to one leaf, as a JSON record;
 * NULL with the graph's error on failure. */
static json_t *second_derivatives(ag_graph *g, ag_node *loss, ag_node *wrt, const char *name, ag_rng *r)
{
    size_t n = ag_node_size(wrt);
    double *v = malloc(n * sizeof *v), *hv = malloc(n * sizeof *hv);
    ag_tensor *rev = NULL, *fwd = NULL;
    json_t *rec = NULL;
    if (!v || !hv) goto done;
    for (size_t i = 0; i < n; i++) v[i] = ag_rng_uniform(r, -1.0, 1.0);
    if (!ag_hvp(g, loss, wrt, v, hv)) goto done;
    rev = ag_hessian(g, loss, wrt);
    fwd = rev ? ag_hessian_fwd(g, loss, wrt) : NULL;
    if (!fwd) goto done;
    rec = json_object();
    json_object_set_new(rec, "name", json_string(name));
    json_object_set_new(rec, "n", json_integer((json_int_t)n));
    json_object_set_new(rec, "v", json_doubles(v, n));
    json_object_set_new(rec, "hvp", json_doubles(hv, n));
    json_object_set_new(rec, "rev", json_doubles(ag_tensor_data(rev), n * n));
    json_object_set_new(rec, "fwd", json_doubles(ag_tensor_data(fwd), n * n));
done:
    free(v);
    free(hv);
    ag_tensor_free(rev);
    ag_tensor_free(fwd);
    return rec;
}

/* Draw network `index`, record it, take every second derivative; the record,
 * or NULL after printing why. */
static json_t *export_mlp(ag_rng *r, int index)
{
    mlp m;
    ag_graph *g = ag_graph_new();
    json_t *rec = NULL;
    if (!g || !mlp_draw(&m, r)) {
        fprintf(stderr, "interop_hessian: network %d: %s\n", index, ag_last_error());
        if (g) mlp_free(&m);
        ag_graph_free(g);
        return NULL;
    }
    ag_node *wrt[1 + 2 * MAX_LAYERS];
    ag_node *loss = mlp_record(&m, g, wrt);
    if (loss) {
        rec = mlp_record_json(&m, index);
        json_object_set_new(rec, "loss_value", json_real(ag_node_value(loss)[0]));
        json_t *list = json_array();
        json_object_set_new(rec, "wrt", list);
        for (int k = 0; k < 1 + 2 * m.n_layers; k++) {
            const char *name = k == 0 ? "x" : ag_tensor_name(k % 2 ? m.W[(k - 1) / 2] : m.b[(k - 1) / 2]);
            json_t *d = second_derivatives(g, loss, wrt[k], name, r);
            if (!d) {
                json_decref(rec);
                rec = NULL;
                break;
            }
            json_array_append_new(list, d);
        }
    }
    if (!rec)
        fprintf(stderr, "interop_hessian: network %d (%d layers): %s\n", index, m.n_layers,
                ag_graph_error(g) ? ag_graph_error(g) : "out of memory");
    ag_graph_free(g);
    mlp_free(&m);
    return rec;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: interop_hessian DIR [K]\n");
        return 2;
    }
    int k_mlps = DEFAULT_MLPS;
    if (argc == 3) {
        char *end;
        long k = strtol(argv[2], &end, 10);
        if (*end || k < 1 || k > MAX_MLPS) {
            fprintf(stderr, "interop_hessian: K must be a whole number from 1 to %d, not '%s'\n",
                    MAX_MLPS, argv[2]);
            return 2;
        }
        k_mlps = (int)k;
    }
    ag_rng r = ag_rng_new(SEED);
    json_t *root = json_object(), *mlps = json_array();
    json_object_set_new(root, "format", json_string("agrad-interop-hessian 1"));
    json_object_set_new(root, "seed", json_integer((json_int_t)SEED));
    json_object_set_new(root, "mlps", mlps);
    int failed = 0;
    for (int i = 0; i < k_mlps; i++) {
        json_t *rec = export_mlp(&r, i);
        if (rec)
            json_array_append_new(mlps, rec);
        else
            failed++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/hessian.json", argv[1]);
    /* 17 significant digits: every double reads back as itself */
    bool ok = failed == 0 && json_dump_file(root, path, JSON_COMPACT | JSON_REAL_PRECISION(17)) == 0;
    if (ok)
        printf("agrad: %d random smooth MLPs, Hessians (reverse and forward over reverse) and HVPs "
               "w.r.t. x and each parameter; wrote %s\n", k_mlps, path);
    else if (failed)
        fprintf(stderr, "interop_hessian: %d of %d networks failed\n", failed, k_mlps);
    else
        fprintf(stderr, "interop_hessian: cannot write %s\n", path);
    json_decref(root);
    return ok ? 0 : 1;
}
