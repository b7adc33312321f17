/* lstm.c -- GradBench's lstm eval (evals/lstm/README.md): ADBench's LSTM,
 * whose weight "matrices" are diagonal, so every gate is elementwise.
 *
 * Sizes: l layers, b the state (and character) width, c characters.
 * Inputs: main_params [2l, 4b]: row 2i is layer i's weights, row 2i + 1 its
 * biases, each four blocks of b for the gates forget, ingate, outgate,
 * change; extra_params [3, b]: in_weight, out_weight, out_bias; state
 * [2l, b]: row 2i layer i's hidden state, row 2i + 1 its cell state;
 * sequence [c, b]: the characters, one bit vector each.
 *
 * One layer on its input x (elementwise, h and s the layer's state):
 *   forget  = sigmoid(x w_f + b_f)      ingate = sigmoid(h w_i + b_i)
 *   outgate = sigmoid(x w_o + b_o)      change = tanh(h w_c + b_c)
 *   s' = s forget + ingate change,      h' = outgate tanh(s').
 * One prediction from character x_t: layer 0 reads x_t in_weight, layer i
 * reads layer i - 1's new hidden state, and
 *   y_t = h_last out_weight + out_bias.
 * The objective, over t = 0 .. c - 2, predicting character t + 1:
 *   loss = -1 / ((c - 1) b) sum_t sum_j x_{t+1, j} (y_tj - lse(y_t)),
 *   lse(y) = log(2 + sum_j exp(y_j))      (ADBench's "+ 2", kept as is).
 * The input and output layers do not take part in the recurrence, so they
 * are applied to all time steps at once ([c - 1, b] ops); the recurrence is
 * one [1, b] op per gate and update, 17 nodes per layer per step.
 *
 * "jacobian" is the gradient with respect to main_params and then
 * extra_params, each flattened row after row, by one backward sweep. */
#include "gradbench.h"

#include <stdlib.h>

typedef struct gate {
    ag_node *weight, *bias; /* [1, b] each */
} gate;

typedef struct layer {
    gate forget, ingate, outgate, change;
} layer;

typedef struct lstm_data {
    int l, b, c;
    ag_tensor *state;    /* [2l, b] */
    ag_tensor *sequence; /* [c, b] */
    /* scratch for recording: per layer its gates and its state, and the
     * last layer's hidden state at each step */
    layer *layers;               /* [l] */
    ag_node **hidden, **cell;    /* [l] */
    ag_node **outputs;           /* [c - 1] */
} lstm_data;

static void free_data(void *data)
{
    lstm_data *d = data;
    if (!d)
        return;
    ag_tensor_free(d->state);
    ag_tensor_free(d->sequence);
    free(d->layers);
    free(d->hidden);
    free(d->cell);
    free(d->outputs);
    free(d);
}

/* row r of m [R, b] -> [1, b] */
static ag_node *row(ag_node *m, int r) { return ag_slice(m, 0, r, r + 1, 1); }

/* x w + b, elementwise */
static ag_node *affine(gate g, ag_node *x) { return ag_add(ag_mul(x, g.weight), g.bias); }

/* Layer i's gates from main_params viewed as [8l, b]: row 8i + k is gate
 * k's weight, row 8i + 4 + k its bias. */
static layer layer_params(ag_node *main_rows, int i)
{
    gate g[4];
    for (int k = 0; k < 4; k++)
        g[k] = (gate){row(main_rows, 8 * i + k), row(main_rows, 8 * i + 4 + k)};
    return (layer){g[0], g[1], g[2], g[3]};
}

/* One layer's step on input x [1, b]: updates *hidden and *cell [1, b]. */
static void lstm_model(const layer *p, ag_node **hidden, ag_node **cell, ag_node *x)
{
    ag_node *forget = ag_sigmoid(affine(p->forget, x));
    ag_node *ingate = ag_sigmoid(affine(p->ingate, *hidden));
    ag_node *outgate = ag_sigmoid(affine(p->outgate, x));
    ag_node *change = ag_tanh(affine(p->change, *hidden));
    *cell = ag_add(ag_mul(*cell, forget), ag_mul(ingate, change));
    *hidden = ag_mul(outgate, ag_tanh(*cell));
}

/* main_params, extra_params -> loss: [] */
static bool build_lstm(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    lstm_data *d = o->data;
    int l = d->l, b = d->b, steps = d->c - 1;
    int rows_shape[2] = {8 * l, b};
    ag_node *main_rows = ag_reshape(ag_param(g, o->params[0]), 2, rows_shape); /* [8l, b] */
    ag_node *extra = ag_param(g, o->params[1]);                                /* [3, b] */
    ag_node *state = ag_input(g, d->state), *sequence = ag_input(g, d->sequence);
    for (int i = 0; i < l; i++) {
        d->layers[i] = layer_params(main_rows, i);
        d->hidden[i] = row(state, 2 * i);
        d->cell[i] = row(state, 2 * i + 1);
    }

    /* the input layer on every character read: [c - 1, b] */
    ag_node *inputs = ag_mul(ag_slice(sequence, 0, 0, steps, 1), row(extra, 0));
    for (int t = 0; t < steps; t++) {
        ag_node *x = row(inputs, t);
        for (int i = 0; i < l; i++) {
            lstm_model(&d->layers[i], &d->hidden[i], &d->cell[i], x);
            x = d->hidden[i];
        }
        d->outputs[t] = x;
    }
    /* the output layer on every step's last hidden state: y [c - 1, b] */
    ag_node *y = ag_add(ag_mul(ag_concat((size_t)steps, d->outputs, 0), row(extra, 1)), row(extra, 2));

    /* ynorm = y - lse(y) row by row, against the characters that follow */
    int column[2] = {steps, 1};
    ag_node *lse = ag_log(ag_add(ag_sum_axis(ag_exp(y), 1), ag_scalar(g, 2.0)));
    ag_node *ynorm = ag_sub(y, ag_reshape(lse, 2, column));
    ag_node *ygold = ag_slice(sequence, 0, 1, d->c, 1);
    ag_node *total = ag_sum(ag_mul(ygold, ynorm));
    o->root = ag_mul(total, ag_scalar(g, -1.0 / ((double)steps * b)));
    return o->root != NULL;
}

/* Reads the four matrices and checks their sizes against each other. */
static bool read_input(const json_t *input, double *m[4], size_t rows[4], size_t cols[4], gb_error *err)
{
    const char *fields[4] = {"main_params", "extra_params", "state", "sequence"};
    for (int k = 0; k < 4; k++)
        if (!gb_get_matrix(input, fields[k], &m[k], &rows[k], &cols[k], err))
            return false;
    size_t b = cols[1];
    if (b == 0 || b > (1u << 20) || rows[1] != 3)
        return gb_fail(err, "lstm: \"extra_params\" is %zu x %zu, not 3 x b (1 <= b <= 2^20)", rows[1], b);
    if (rows[0] == 0 || rows[0] % 2 || rows[0] > 2000 || cols[0] != 4 * b)
        return gb_fail(err, "lstm: \"main_params\" is %zu x %zu, not 2l x 4b = 2l x %zu (1 <= l <= 1000)",
                       rows[0], cols[0], 4 * b);
    if (rows[2] != rows[0] || cols[2] != b)
        return gb_fail(err, "lstm: \"state\" is %zu x %zu, not 2l x b = %zu x %zu", rows[2], cols[2], rows[0], b);
    if (rows[3] < 2 || rows[3] > 65536 || cols[3] != b)
        return gb_fail(err, "lstm: \"sequence\" is %zu x %zu, not c x b = c x %zu (2 <= c <= 65536)", rows[3],
                       cols[3], b);
    return true;
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *m[4] = {NULL};
    size_t rows[4], cols[4];
    bool ok = read_input(input, m, rows, cols, err);
    gb_objective *o = ok ? gb_objective_with_data(sizeof(lstm_data), free_data, err) : NULL;
    lstm_data *d = o ? o->data : NULL;
    if (d) {
        d->l = (int)rows[0] / 2;
        d->b = (int)cols[1];
        d->c = (int)rows[3];
        int main_shape[2] = {2 * d->l, 4 * d->b}, extra_shape[2] = {3, d->b};
        int state_shape[2] = {2 * d->l, d->b}, sequence_shape[2] = {d->c, d->b};
        d->state = gb_tensor(2, state_shape, m[2], err);
        d->sequence = gb_tensor(2, sequence_shape, m[3], err);
        d->layers = malloc((size_t)d->l * sizeof *d->layers);
        d->hidden = malloc((size_t)d->l * sizeof *d->hidden);
        d->cell = malloc((size_t)d->l * sizeof *d->cell);
        d->outputs = malloc((size_t)(d->c - 1) * sizeof *d->outputs);
        ok = d->state && d->sequence && gb_objective_param(o, 2, main_shape, m[0], err) &&
             gb_objective_param(o, 2, extra_shape, m[1], err);
        if (ok && (!d->layers || !d->hidden || !d->cell || !d->outputs))
            ok = gb_fail(err, "lstm: out of memory");
    }
    for (int k = 0; k < 4; k++)
        free(m[k]);
    if (!ok || !d) {
        gb_objective_free(o);
        return false; /* err is set */
    }
    o->build = build_lstm;
    o->gradient = variant == GB_GRADIENT;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"objective", prepare, GB_PRIMAL}, {"jacobian", prepare, GB_GRADIENT}};
const gb_eval gb_eval_lstm = {"lstm", functions, 2};
