/* recurrent.c -- LSTM and GRU cells and the layers that unroll them over a
 * sequence, with PyTorch's equations and weight layouts (nn.LSTMCell,
 * nn.GRUCell, one layer of nn.LSTM / nn.GRU, time-major), composed of the
 * public ops: every derivative (backward, forward mode, recorded second
 * order) is the ops' own; the LSTM's pointwise step is two fused ops
 * (ag_lstm_state, ag_lstm_output: ops/lstm.c).
 *
 * Shapes: x [N,I], h, c [N,H]; an LSTM's w_ih [4H,I], w_hh [4H,H] and
 * biases [4H] hold the gates i, f, g, o one after the other (rows kH ..
 * (k+1)H - 1 for gate k); a GRU's w_ih [3H,I], w_hh [3H,H], biases [3H] the
 * gates r, z, n. */
#include "../internal.h"
#include "../ops/recorded.h"

/* ---- checking the operands ------------------------------------------------------ */

typedef struct named_operand {
    const char *name;
    ag_node *node;
    bool optional; /* a bias: NULL means none */
} named_operand;

/* Every required operand present, and all of one graph's current generation.
 * Returns that graph, or NULL: with nothing reported when every operand is
 * NULL or the graph already failed (an earlier call did), else with the
 * graph's error naming `who` and the operand. */
static ag_graph *operands_graph(const char *who, const named_operand *ops, size_t n)
{
    ag_graph *g = NULL;
    for (size_t k = 0; k < n && !g; k++)
        if (ops[k].node) g = ops[k].node->graph;
    if (!g || g->failed) return NULL;
    for (size_t k = 0; k < n; k++) {
        if (!ops[k].node && ops[k].optional) continue;
        const char *why = ag_not_in_graph(g, ops[k].node);
        if (why[0]) {
            ag_graph_fail(g, "%s: %s %s", who, ops[k].name, why);
            return NULL;
        }
    }
    return g;
}

/* n has shape [rows, cols]; rows or cols 0 accept any size. Otherwise the
 * graph fails with "<who>: <name> is 3x5, expected <expected>". */
static bool shape_is(ag_graph *g, const char *who, const char *name, const ag_node *n, int rows, int cols,
                     const char *expected)
{
    if (n->shape.ndim == 2 && (!rows || n->shape.dims[0] == rows) && (!cols || n->shape.dims[1] == cols))
        return true;
    char got[64];
    ag_graph_fail(g, "%s: %s is %s, expected %s", who, name, ag_shape_str(&n->shape, got, sizeof got), expected);
    return false;
}

/* A bias of `size` elements, 1-d: absent, or [size]. */
static bool bias_is(ag_graph *g, const char *who, const char *name, const ag_node *b, int size, int gates)
{
    if (!b || (b->shape.ndim == 1 && b->shape.dims[0] == size)) return true;
    char got[64];
    ag_graph_fail(g, "%s: %s is %s, expected [%d] (%dH with H = %d)", who, name,
                  ag_shape_str(&b->shape, got, sizeof got), size, gates, size / gates);
    return false;
}

/* The weights of a cell with `gates` gates: w_ih [gates H, I], w_hh
 * [gates H, H], biases [gates H] or NULL, for inputs of I features and a
 * state of H. */
static bool weights_are(ag_graph *g, const char *who, int gates, int I, int H, const ag_node *w_ih,
                        const ag_node *w_hh, const ag_node *b_ih, const ag_node *b_hh)
{
    char expected[96];
    snprintf(expected, sizeof expected, "[%d, %d] ([%dH, I] with H = %d, I = %d)", gates * H, I, gates, H, I);
    if (!shape_is(g, who, "w_ih", w_ih, gates * H, I, expected)) return false;
    snprintf(expected, sizeof expected, "[%d, %d] ([%dH, H] with H = %d)", gates * H, H, gates, H);
    return shape_is(g, who, "w_hh", w_hh, gates * H, H, expected) &&
           bias_is(g, who, "b_ih", b_ih, gates * H, gates) && bias_is(g, who, "b_hh", b_hh, gates * H, gates);
}

/* A state s [N, H] for a batch of N: h or c. */
static bool state_is(ag_graph *g, const char *who, const char *name, const ag_node *s, int N, int H)
{
    char expected[64];
    snprintf(expected, sizeof expected, "[%d, %d] ([N, H] with N = %d from x)", N, H, N);
    return shape_is(g, who, name, s, N, H, expected);
}

/* ---- the steps, on weights already transposed ------------------------------------ */

/* Columns [k H, (k+1) H) of m [N, gates H]: gate k. */
static ag_node *gate(ag_node *m, int k, int H) { return ag_slice(m, 1, k * H, (k + 1) * H, 1); }

/* One LSTM step from its gate pre-activations
 *   gates [N,4H] = x w_ih^T + b_ih + h w_hh^T + b_hh   (i, f, g, o):
 *   i = sigmoid(gates_i)  f = sigmoid(gates_f)  g = tanh(gates_g)  o = sigmoid(gates_o)
 *   c' = f * c + i * g    h' = o * tanh(c')
 * as the two fused ops (ops/lstm.c), which read the gates' columns in place;
 * tests/test_recurrent.c checks them against these equations composed of
 * slice, sigmoid, tanh, mul and add. */
static void lstm_from_gates(ag_node *gates, ag_node *c, ag_node **h_out, ag_node **c_out)
{
    *c_out = ag_lstm_state(gates, c);
    *h_out = ag_lstm_output(gates, *c_out);
}

/* One GRU step from the input's share gi [N,3H] = x w_ih^T + b_ih and h [N,H]:
 *   gh = h w_hh^T + b_hh                                    (r, z, n)
 *   r = sigmoid(gi_r + gh_r)   z = sigmoid(gi_z + gh_z)
 *   n = tanh(gi_n + r * gh_n)
 *   h' = (1 - z) * n + z * h = n + z * (h - n)              (PyTorch's form)  */
static ag_node *gru_from_input_gates(ag_node *gi, ag_node *h, ag_node *w_hh_t, ag_node *b_hh, int H)
{
    ag_node *gh = ag_linear(h, w_hh_t, b_hh);
    ag_node *rz = ag_sigmoid(ag_add(ag_slice(gi, 1, 0, 2 * H, 1), ag_slice(gh, 1, 0, 2 * H, 1)));
    ag_node *r = gate(rz, 0, H), *z = gate(rz, 1, H);
    ag_node *n = ag_tanh(ag_add(gate(gi, 2, H), ag_mul(r, gate(gh, 2, H))));
    return ag_add(n, ag_mul(z, ag_sub(h, n)));
}

/* b_ih + b_hh, or whichever is there (NULL when neither is) */
static ag_node *bias_sum(ag_node *b_ih, ag_node *b_hh)
{
    if (b_ih && b_hh) return ag_add(b_ih, b_hh);
    return b_ih ? b_ih : b_hh;
}

/* ---- cells ---------------------------------------------------------------------- */

bool ag_lstm_cell(ag_node *x, ag_node *h, ag_node *c, ag_node *w_ih, ag_node *w_hh, ag_node *b_ih,
                  ag_node *b_hh, ag_node **h_out, ag_node **c_out)
{
    static const char who[] = "ag_lstm_cell";
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    const named_operand ops[] = {{"x", x, false},       {"h", h, false},       {"c", c, false},
                                 {"w_ih", w_ih, false}, {"w_hh", w_hh, false}, {"b_ih", b_ih, true},
                                 {"b_hh", b_hh, true}};
    ag_graph *g = operands_graph(who, ops, sizeof ops / sizeof ops[0]);
    if (!g) return false;
    if (!h_out || !c_out) {
        ag_graph_fail(g, "%s: h_out and c_out must not be NULL", who);
        return false;
    }
    if (!shape_is(g, who, "x", x, 0, 0, "[N, I]")) return false;
    int N = x->shape.dims[0], I = x->shape.dims[1];
    if (!shape_is(g, who, "h", h, N, 0, "[N, H] with N from x")) return false;
    int H = h->shape.dims[1];
    if (!state_is(g, who, "c", c, N, H) || !weights_are(g, who, 4, I, H, w_ih, w_hh, b_ih, b_hh)) return false;
    /* gates = h w_hh^T + (x w_ih^T + (b_ih + b_hh)): two products, each a linear */
    ag_node *gates = ag_linear(h, ag_transpose(w_hh), ag_linear(x, ag_transpose(w_ih), bias_sum(b_ih, b_hh)));
    ag_node *h_new, *c_new;
    lstm_from_gates(gates, c, &h_new, &c_new);
    if (!h_new || !c_new) return false;
    *h_out = h_new;
    *c_out = c_new;
    return true;
}

ag_node *ag_gru_cell(ag_node *x, ag_node *h, ag_node *w_ih, ag_node *w_hh, ag_node *b_ih, ag_node *b_hh)
{
    static const char who[] = "ag_gru_cell";
    const named_operand ops[] = {{"x", x, false},       {"h", h, false},      {"w_ih", w_ih, false},
                                 {"w_hh", w_hh, false}, {"b_ih", b_ih, true}, {"b_hh", b_hh, true}};
    ag_graph *g = operands_graph(who, ops, sizeof ops / sizeof ops[0]);
    if (!g) return NULL;
    if (!shape_is(g, who, "x", x, 0, 0, "[N, I]")) return NULL;
    int N = x->shape.dims[0], I = x->shape.dims[1];
    if (!shape_is(g, who, "h", h, N, 0, "[N, H] with N from x")) return NULL;
    int H = h->shape.dims[1];
    if (!weights_are(g, who, 3, I, H, w_ih, w_hh, b_ih, b_hh)) return NULL;
    ag_node *gi = ag_linear(x, ag_transpose(w_ih), b_ih);
    return gru_from_input_gates(gi, h, ag_transpose(w_hh), b_hh, H);
}

/* ---- layers over a sequence -------------------------------------------------------- */

typedef struct sequence_shape {
    int T, N, I, H;
} sequence_shape;

/* x [T,N,I] and the weights of `gates` gates; H from w_hh. */
static bool sequence_shape_of(ag_graph *g, const char *who, int gates, const ag_node *x, const ag_node *w_ih,
                              const ag_node *w_hh, const ag_node *b_ih, const ag_node *b_hh, sequence_shape *s)
{
    if (x->shape.ndim != 3) {
        char got[64];
        ag_graph_fail(g, "%s: x is %s, expected [T, N, I] (time, batch, features)", who,
                      ag_shape_str(&x->shape, got, sizeof got));
        return false;
    }
    s->T = x->shape.dims[0];
    s->N = x->shape.dims[1];
    s->I = x->shape.dims[2];
    char expected[64];
    snprintf(expected, sizeof expected, "[%dH, H]", gates);
    if (!shape_is(g, who, "w_hh", w_hh, 0, 0, expected)) return false;
    s->H = w_hh->shape.dims[1];
    return weights_are(g, who, gates, s->I, s->H, w_ih, w_hh, b_ih, b_hh);
}

/* The initial state given (checked to be [N,H]) or zeros in x's type. */
static ag_node *initial_state(ag_graph *g, const char *who, const char *name, ag_node *s0, const ag_node *x,
                              const sequence_shape *s)
{
    if (s0) return state_is(g, who, name, s0, s->N, s->H) ? s0 : NULL;
    ag_shape shape;
    const char *why;
    if (!ag_shape_make(&shape, 2, (int[]){s->N, s->H}, &why)) {
        ag_graph_fail(g, "%s: %s: %s", who, name, why);
        return NULL;
    }
    ag_node *zeros = ag_rec_zeros(g, &shape);
    return x->dtype == AG_FLOAT64 ? zeros : ag_cast(zeros, (ag_dtype)x->dtype);
}

/* Every step's input share at once, as PyTorch does: x [T,N,I] as [T N, I]
 * times w_ih^T, plus bias -> [T N, gates H]; step t's rows are t N .. t N + N - 1. */
static ag_node *input_projection(ag_node *x, ag_node *w_ih, ag_node *bias, const sequence_shape *s)
{
    return ag_linear(ag_reshape(x, 2, (int[]){s->T * s->N, s->I}), ag_transpose(w_ih), bias);
}

static ag_node *step_rows(ag_node *projection, int t, int N) { return ag_slice(projection, 0, t * N, (t + 1) * N, 1); }

/* outputs: the T states h_1 .. h_T [N,H] stacked into [T,N,H] (out NULL: not wanted) */
static bool stack_outputs(size_t T, ag_node *const *hs, ag_node **out)
{
    if (!out) return true;
    *out = ag_stack(T, hs, 0);
    return *out != NULL;
}

/* A list of T node pointers, NULL with the graph failed when memory is short. */
static ag_node **step_list(ag_graph *g, const char *who, int T)
{
    ag_node **list = ag_calloc((size_t)T, sizeof *list);
    if (!list) ag_graph_fail(g, "%s: out of memory for %d steps", who, T);
    return list;
}

/* A layer's end: the steps' outputs hs[0 .. T) stacked into *out (when
 * asked for) and the list freed; false, *out NULL, when recording failed. */
static bool finish_sequence(ag_graph *g, int T, ag_node **hs, ag_node **out)
{
    bool ok = !g->failed && stack_outputs((size_t)T, hs, out) && !g->failed;
    ag_free(hs);
    if (!ok && out) *out = NULL;
    return ok;
}

/* y[which] of the sequence op's [2,T,N,H] as [T,N,H] */
static ag_node *sequence_part(ag_node *y, int which, const sequence_shape *s)
{
    return ag_reshape(ag_slice(y, 0, which, which + 1, 1), 3, (int[]){s->T, s->N, s->H});
}

/* the last step of a [T,N,H] sequence as [N,H] */
static ag_node *last_step(ag_node *seq, const sequence_shape *s)
{
    return ag_reshape(ag_slice(seq, 0, s->T - 1, s->T, 1), 2, (int[]){s->N, s->H});
}

bool ag_lstm(ag_node *x, ag_node *h0, ag_node *c0, ag_node *w_ih, ag_node *w_hh, ag_node *b_ih, ag_node *b_hh,
             ag_node **out, ag_node **h_n, ag_node **c_n)
{
    static const char who[] = "ag_lstm";
    if (out) *out = NULL;
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    const named_operand ops[] = {{"x", x, false},      {"h0", h0, true},      {"c0", c0, true},
                                 {"w_ih", w_ih, false}, {"w_hh", w_hh, false}, {"b_ih", b_ih, true},
                                 {"b_hh", b_hh, true}};
    ag_graph *g = operands_graph(who, ops, sizeof ops / sizeof ops[0]);
    sequence_shape s;
    if (!g || !sequence_shape_of(g, who, 4, x, w_ih, w_hh, b_ih, b_hh, &s)) return false;
    ag_node *h = initial_state(g, who, "h0", h0, x, &s), *c = initial_state(g, who, "c0", c0, x, &s);
    if (!h || !c) return false;
    /* every step's input share [T N, 4H] (taken as it is: a reshape to
     * [T, N, 4H] would copy it and its gradient), then the recurrence as one
     * op (ops/lstm_sequence.c): y [2,T,N,H], y[0] the h_t, y[1] the c_t */
    ag_node *projection = input_projection(x, w_ih, bias_sum(b_ih, b_hh), &s);
    ag_node *y = ag_lstm_sequence(projection, w_hh, h, c);
    ag_node *hs = sequence_part(y, 0, &s), *cs = sequence_part(y, 1, &s); /* [T,N,H] each */
    ag_node *h_last = last_step(hs, &s), *c_last = last_step(cs, &s);
    if (g->failed || !h_last || !c_last) return false;
    if (out) *out = hs;
    if (h_n) *h_n = h_last;
    if (c_n) *c_n = c_last;
    return true;
}

bool ag_gru(ag_node *x, ag_node *h0, ag_node *w_ih, ag_node *w_hh, ag_node *b_ih, ag_node *b_hh,
            ag_node **out, ag_node **h_n)
{
    static const char who[] = "ag_gru";
    if (out) *out = NULL;
    if (h_n) *h_n = NULL;
    const named_operand ops[] = {{"x", x, false},       {"h0", h0, true},     {"w_ih", w_ih, false},
                                 {"w_hh", w_hh, false}, {"b_ih", b_ih, true}, {"b_hh", b_hh, true}};
    ag_graph *g = operands_graph(who, ops, sizeof ops / sizeof ops[0]);
    sequence_shape s;
    if (!g || !sequence_shape_of(g, who, 3, x, w_ih, w_hh, b_ih, b_hh, &s)) return false;
    ag_node *h = initial_state(g, who, "h0", h0, x, &s);
    ag_node **hs = h ? step_list(g, who, s.T) : NULL;
    if (!hs) return false;
    ag_node *projection = input_projection(x, w_ih, b_ih, &s); /* [T N, 3H] */
    ag_node *w_hh_t = ag_transpose(w_hh);                      /* [H, 3H], once */
    for (int t = 0; t < s.T && !g->failed; t++) {
        h = gru_from_input_gates(step_rows(projection, t, s.N), h, w_hh_t, b_hh, s.H);
        hs[t] = h;
    }
    if (!finish_sequence(g, s.T, hs, out)) return false;
    if (h_n) *h_n = h;
    return true;
}
