/* interop_cells.c -- the recurrent cells and layers on random operands,
 * written out for tools/torch_compare_cells.py to redo with torch.nn.LSTMCell,
 * GRUCell, LSTM and GRU (float64) loaded with the same weights.
 *
 * Each of K cases (seeded, the same on every machine) draws:
 *   kind      lstm_cell, gru_cell, lstm or gru (in turn);
 *   sizes     batch N 1..4, features I 1..5, state H 1..5, steps T 1..7
 *             (layers; T 0 for a cell);
 *   bias      both biases or neither (bias=False);
 *   initial   a layer's h0 (and c0) given, or NULL (zeros); a cell's always;
 *   values    x, state, weights and biases uniform in [-1, 1), every one a
 *             parameter (so each gets a gradient);
 *   seeds     a random cotangent for each result: the backward root is
 *             sum(seed_h * h') [+ sum(seed_c * c')] [+ sum(seed_out * out)].
 * DIR/cells.json:
 *   {"format": "agrad-interop-cells 1", "seed": S,
 *    "cases": [{"case": 0, "kind": "lstm", "T": 3, "N": 2, "I": 4, "H": 5,
 *               "bias": true, "initial": false,
 *               "inputs": {"x": {"shape": [...], "values": [...]}, "w_ih": ...},
 *               "seeds": {"h": ..., "c": ..., "out": ...},
 *               "results": {"h": [...], "c": [...], "out": [...]},
 *               "grads": {"x": [...], "w_ih": [...], ...}}, ...]}
 * ("h", "c" are h', c' of a cell or h_n, c_n of a layer; an input that is
 * not there, such as the biases with bias false, is left out.)
 *
 *   interop_cells DIR [K]    (K cases, default 48)                          */
#include <agrad.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_CASES = 48, MAX_CASES = 10000 };
#define SEED 20261202ULL

typedef enum { LSTM_CELL, GRU_CELL, LSTM, GRU } cell_kind;
static const char *const kind_names[] = {"lstm_cell", "gru_cell", "lstm", "gru"};

enum { X, H0, C0, W_IH, W_HH, B_IH, B_HH, N_INPUTS };
static const char *const input_names[] = {"x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"};
enum { OUT_H, OUT_C, OUT_SEQ, N_RESULTS };
static const char *const result_names[] = {"h", "c", "out"};

typedef struct cell_case {
    cell_kind kind;
    int T, N, I, H;
    bool bias, initial;
    ag_tensor *in[N_INPUTS];     /* NULL where not used */
    ag_tensor *seed[N_RESULTS];  /* NULL where the result is not made */
} cell_case;

static bool is_lstm(cell_kind k) { return k == LSTM_CELL || k == LSTM; }
static bool is_layer(cell_kind k) { return k == LSTM || k == GRU; }

static ag_tensor *random_tensor(ag_rng *r, int nd, const int *dims, bool param)
{
    ag_tensor *t = ag_tensor_zeros(nd, dims);
    if (!t) return NULL;
    ag_init_uniform(t, r, -1.0, 1.0);
    if (param) ag_tensor_requires_grad(t, true);
    return t;
}

static void case_free(cell_case *c)
{
    for (int k = 0; k < N_INPUTS; k++) ag_tensor_free(c->in[k]);
    for (int k = 0; k < N_RESULTS; k++) ag_tensor_free(c->seed[k]);
}

/* Input k is part of the case: x and the weights always, the initial
 * state when given (c0 for an LSTM only), the biases with bias. */
static bool input_wanted(const cell_case *c, int k)
{
    switch (k) {
    case H0: return c->initial;
    case C0: return c->initial && is_lstm(c->kind);
    case B_IH: case B_HH: return c->bias;
    default: return true;
    }
}

/* The shape of input k: x [T,N,I] (a cell's [N,I]), states [N,H], weights
 * [gates H, I or H], biases [gates H]; returns the count of dimensions. */
static int input_dims(const cell_case *c, int k, int dims[3])
{
    int gates = is_lstm(c->kind) ? 4 : 3;
    switch (k) {
    case X:
        if (!c->T) return dims[0] = c->N, dims[1] = c->I, 2;
        return dims[0] = c->T, dims[1] = c->N, dims[2] = c->I, 3;
    case H0: case C0: return dims[0] = c->N, dims[1] = c->H, 2;
    case W_IH: return dims[0] = gates * c->H, dims[1] = c->I, 2;
    case W_HH: return dims[0] = gates * c->H, dims[1] = c->H, 2;
    default: return dims[0] = gates * c->H, 1;
    }
}

static bool case_draw(cell_case *c, ag_rng *r, int index)
{
    memset(c, 0, sizeof *c);
    c->kind = (cell_kind)(index % 4);
    c->N = 1 + (int)ag_rng_below(r, 4);
    c->I = 1 + (int)ag_rng_below(r, 5);
    c->H = 1 + (int)ag_rng_below(r, 5);
    c->T = is_layer(c->kind) ? 1 + (int)ag_rng_below(r, 7) : 0;
    c->bias = ag_rng_below(r, 4) != 0;
    c->initial = !is_layer(c->kind) || ag_rng_below(r, 2);
    bool ok = true;
    for (int k = 0; k < N_INPUTS; k++) {
        int dims[3], nd = input_dims(c, k, dims);
        if (input_wanted(c, k)) ok = ok && (c->in[k] = random_tensor(r, nd, dims, true));
    }
    int state[2] = {c->N, c->H};
    ok = ok && (c->seed[OUT_H] = random_tensor(r, 2, state, false));
    if (is_lstm(c->kind)) ok = ok && (c->seed[OUT_C] = random_tensor(r, 2, state, false));
    if (c->T) ok = ok && (c->seed[OUT_SEQ] = random_tensor(r, 3, (int[]){c->T, c->N, c->H}, false));
    return ok;
}

/* Record the case on g; results[] get h', c', out (NULL where not made). */
static bool case_record(const cell_case *c, ag_graph *g, ag_node **results)
{
    ag_node *in[N_INPUTS];
    for (int k = 0; k < N_INPUTS; k++) in[k] = c->in[k] ? ag_param(g, c->in[k]) : NULL;
    for (int k = 0; k < N_RESULTS; k++) results[k] = NULL;
    switch (c->kind) {
    case LSTM_CELL:
        return ag_lstm_cell(in[X], in[H0], in[C0], in[W_IH], in[W_HH], in[B_IH], in[B_HH], &results[OUT_H],
                            &results[OUT_C]);
    case GRU_CELL:
        results[OUT_H] = ag_gru_cell(in[X], in[H0], in[W_IH], in[W_HH], in[B_IH], in[B_HH]);
        return results[OUT_H] != NULL;
    case LSTM:
        return ag_lstm(in[X], in[H0], in[C0], in[W_IH], in[W_HH], in[B_IH], in[B_HH], &results[OUT_SEQ],
                       &results[OUT_H], &results[OUT_C]);
    case GRU:
        return ag_gru(in[X], in[H0], in[W_IH], in[W_HH], in[B_IH], in[B_HH], &results[OUT_SEQ], &results[OUT_H]);
    }
    return false;
}

static json_t *json_doubles(const double *x, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_real(x[i]));
    return list;
}

static json_t *json_tensor(const ag_tensor *t)
{
    json_t *rec = json_object(), *shape = json_array();
    for (int d = 0; d < ag_tensor_ndim(t); d++) json_array_append_new(shape, json_integer(ag_tensor_dim(t, d)));
    json_object_set_new(rec, "shape", shape);
    json_object_set_new(rec, "values", json_doubles(ag_tensor_data(t), ag_tensor_size(t)));
    return rec;
}

/* The case run and backpropagated on g; NULL (message on stderr) on failure. */
static json_t *case_json(const cell_case *c, ag_graph *g, int index)
{
    ag_node *results[N_RESULTS];
    ag_node *root = NULL;
    if (case_record(c, g, results)) {
        for (int k = 0; k < N_RESULTS; k++) {
            if (!results[k]) continue;
            ag_node *term = ag_sum(ag_mul(ag_input(g, c->seed[k]), results[k]));
            root = root ? ag_add(root, term) : term;
        }
    }
    if (!root || !ag_backward(g, root)) {
        fprintf(stderr, "interop_cells: case %d (%s): %s\n", index, kind_names[c->kind],
                ag_graph_error(g) ? ag_graph_error(g) : "failed");
        return NULL;
    }
    json_t *rec = json_object(), *inputs = json_object(), *seeds = json_object(), *values = json_object(),
           *grads = json_object();
    json_object_set_new(rec, "case", json_integer(index));
    json_object_set_new(rec, "kind", json_string(kind_names[c->kind]));
    json_object_set_new(rec, "T", json_integer(c->T));
    json_object_set_new(rec, "N", json_integer(c->N));
    json_object_set_new(rec, "I", json_integer(c->I));
    json_object_set_new(rec, "H", json_integer(c->H));
    json_object_set_new(rec, "bias", json_boolean(c->bias));
    json_object_set_new(rec, "initial", json_boolean(c->initial));
    for (int k = 0; k < N_INPUTS; k++) {
        if (!c->in[k]) continue;
        json_object_set_new(inputs, input_names[k], json_tensor(c->in[k]));
        json_object_set_new(grads, input_names[k], json_doubles(ag_tensor_grad(c->in[k]), ag_tensor_size(c->in[k])));
    }
    for (int k = 0; k < N_RESULTS; k++) {
        if (!results[k]) continue;
        json_object_set_new(seeds, result_names[k], json_tensor(c->seed[k]));
        json_object_set_new(values, result_names[k], json_doubles(ag_node_value(results[k]), ag_node_size(results[k])));
    }
    json_object_set_new(rec, "inputs", inputs);
    json_object_set_new(rec, "seeds", seeds);
    json_object_set_new(rec, "results", values);
    json_object_set_new(rec, "grads", grads);
    return rec;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DIR [cases]\n", argv[0]);
        return 2;
    }
    long n_cases = argc == 3 ? strtol(argv[2], NULL, 10) : DEFAULT_CASES;
    if (n_cases < 1 || n_cases > MAX_CASES) {
        fprintf(stderr, "interop_cells: cases must be 1..%d\n", MAX_CASES);
        return 2;
    }
    ag_rng r = ag_rng_new(SEED);
    ag_graph *g = ag_graph_new();
    json_t *root = json_object(), *cases = json_array();
    json_object_set_new(root, "format", json_string("agrad-interop-cells 1"));
    json_object_set_new(root, "seed", json_integer((json_int_t)SEED));
    int failed = 0;
    for (int i = 0; i < n_cases && g; i++) {
        cell_case c;
        json_t *rec = NULL;
        if (case_draw(&c, &r, i)) rec = case_json(&c, g, i);
        else fprintf(stderr, "interop_cells: case %d: out of memory\n", i);
        if (rec) json_array_append_new(cases, rec);
        else failed++;
        case_free(&c);
        ag_graph_reset(g);
    }
    json_object_set_new(root, "cases", cases);
    char path[4096];
    snprintf(path, sizeof path, "%s/cells.json", argv[1]);
    bool ok = g && failed == 0 && json_dump_file(root, path, JSON_COMPACT | JSON_REAL_PRECISION(17)) == 0;
    json_decref(root);
    ag_graph_free(g);
    if (!ok) {
        fprintf(stderr, "interop_cells: %d cases failed or %s could not be written\n", failed, path);
        return 1;
    }
    printf("interop_cells: %ld cases written to %s\n", n_cases, path);
    return 0;
}
