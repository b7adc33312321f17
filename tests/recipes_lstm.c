/* recipes_lstm.c -- test recipes for the LSTM's fused pointwise ops,
 * lstm_state and lstm_output (see recipes.c for the rules a recipe
 * follows), and their NaN/Inf cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---- recipes ------------------------------------------------------------------- */

/* gates [N, 4H] and a state [N, H], N and H in 1 .. 4, values in +-[0.1, 2]:
 * both ops are smooth everywhere, so any value is away from a kink; |a| <= 2
 * keeps sigmoid' and tanh' well above 0 */
static void lstm_operands(ag_graph *g, test_rng *r, op_case *c, ag_node **gates, ag_node **state)
{
    int N = rng_int(r, 1, 4), H = rng_int(r, 1, 4);
    *gates = add_param(g, c, random_param(r, 2, (int[]){N, 4 * H}, 0.1, 2.0, true));
    *state = add_param(g, c, random_param(r, 2, (int[]){N, H}, 0.1, 2.0, true));
}

static bool lstm_state_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    ag_node *gates, *state;
    lstm_operands(g, r, c, &gates, &state);
    c->out = ag_lstm_state(gates, state);
    return c->out != NULL;
}

static bool lstm_output_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    ag_node *gates, *state;
    lstm_operands(g, r, c, &gates, &state);
    c->out = ag_lstm_output(gates, state);
    return c->out != NULL;
}

/* gates_x [T,N,4H] (or, one trial in two, its rows [T N, 4H]), w_hh [4H,H],
 * h0, c0 [N,H], T, N, H in 1 .. 3: smooth everywhere; |w_hh| <= 0.5 keeps
 * the pre-activations of later steps small */
static bool lstm_sequence_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int T = rng_int(r, 1, 3), N = rng_int(r, 1, 3), H = rng_int(r, 1, 3);
    bool rows = rng_int(r, 0, 1);
    ag_node *x = add_param(g, c, rows ? random_param(r, 2, (int[]){T * N, 4 * H}, 0.1, 1.5, true)
                                      : random_param(r, 3, (int[]){T, N, 4 * H}, 0.1, 1.5, true));
    ag_node *w = add_param(g, c, random_param(r, 2, (int[]){4 * H, H}, 0.1, 0.5, true));
    ag_node *h0 = add_param(g, c, random_param(r, 2, (int[]){N, H}, 0.1, 1.0, true));
    ag_node *c0 = add_param(g, c, random_param(r, 2, (int[]){N, H}, 0.1, 1.0, true));
    c->out = ag_lstm_sequence(x, w, h0, c0);
    return c->out != NULL;
}

static const recipe_entry recipes[] = {
    {"lstm_sequence", lstm_sequence_recipe},
    {"lstm_state", lstm_state_recipe},
    {"lstm_output", lstm_output_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_lstm(const char *name) { return recipe_in(recipes, name); }

/* ---- NaN and +-Inf ---------------------------------------------------------------
 * The reference: the definitions element by element in IEEE arithmetic,
 * s(x) = 1 / (1 + e^-x) (s(-Inf) = 1 / Inf = 0, s(+Inf) = 1) and libm's
 * tanh, with the derivatives s' = s (1 - s), tanh' = 1 - tanh^2 (PyTorch's
 * sigmoid_backward and tanh_backward, which give NaN for 0 * Inf the same
 * way). Gates [N, 4H] and the state both hold specials. */

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* c' = s(a_f) c + s(a_i) tanh(a_g) */
static void lstm_state_special(int N, int H, unsigned period)
{
    special_case c;
    special_begin(&c, "lstm_state");
    ag_node *a = special_operand(&c, 2, (int[]){N, 4 * H}, 3, period);
    ag_node *s = special_operand(&c, 2, (int[]){N, H}, 8, period);
    special_recorded(&c, ag_lstm_state(a, s));
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++) {
            size_t at = (size_t)(n * 4 * H + j), k = (size_t)(n * H + j);
            double i = sig(c.v[0][at]), f = sig(c.v[0][at + H]), g = tanh(c.v[0][at + 2 * H]);
            double cp = c.v[1][k], gy = c.gy[k];
            c.y[k] = f * cp + i * g;
            c.gx[0][at] = gy * g * (i * (1.0 - i));
            c.gx[0][at + H] = gy * cp * (f * (1.0 - f));
            c.gx[0][at + 2 * H] = gy * i * (1.0 - g * g);
            c.gx[1][k] = gy * f;
        }
    special_check(&c);
}

/* h' = s(a_o) tanh(c) */
static void lstm_output_special(int N, int H, unsigned period)
{
    special_case c;
    special_begin(&c, "lstm_output");
    ag_node *a = special_operand(&c, 2, (int[]){N, 4 * H}, 5, period);
    ag_node *s = special_operand(&c, 2, (int[]){N, H}, 2, period);
    special_recorded(&c, ag_lstm_output(a, s));
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++) {
            size_t at = (size_t)(n * 4 * H + 3 * H + j), k = (size_t)(n * H + j);
            double o = sig(c.v[0][at]), t = tanh(c.v[1][k]), gy = c.gy[k];
            c.y[k] = o * t;
            c.gx[0][at] = gy * t * (o * (1.0 - o));
            c.gx[1][k] = gy * o * (1.0 - t * t);
        }
    special_check(&c);
}

/* The recurrence written out afresh, one step after the other, with plain
 * sums for the products: a = X[t] + h W^T, the gates, c, h; then the
 * backward through time with the carries dh, dc. */
static void lstm_sequence_special(int T, int N, int H, unsigned period)
{
    special_case c;
    special_begin(&c, "lstm_sequence");
    ag_node *x = special_operand(&c, 3, (int[]){T, N, 4 * H}, 3, period);
    ag_node *w = special_operand(&c, 2, (int[]){4 * H, H}, 5, period);
    ag_node *h0 = special_operand(&c, 2, (int[]){N, H}, 8, period);
    ag_node *c0 = special_operand(&c, 2, (int[]){N, H}, 2, period);
    special_recorded(&c, ag_lstm_sequence(x, w, h0, c0));
    size_t G = (size_t)(4 * H), S = (size_t)(N * H);
    double *act = calloc((size_t)T * N * G, sizeof *act), *hp = calloc((size_t)(T + 1) * S, sizeof *hp);
    double *cp = calloc((size_t)(T + 1) * S, sizeof *cp), *dh = calloc(S, sizeof *dh), *dc = calloc(S, sizeof *dc);
    double *da = calloc((size_t)N * G, sizeof *da);
    memcpy(hp, c.v[2], S * sizeof *hp);
    memcpy(cp, c.v[3], S * sizeof *cp);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double *a = act + ((size_t)t * N + n) * G;
            for (size_t k = 0; k < G; k++) {
                double s = c.v[0][((size_t)t * N + n) * G + k];
                for (int j = 0; j < H; j++) s += hp[(size_t)t * S + n * H + j] * c.v[1][k * H + j];
                a[k] = k < (size_t)2 * H || k >= (size_t)3 * H ? sig(s) : tanh(s);
            }
            for (int j = 0; j < H; j++) {
                size_t at = (size_t)t * S + n * H + j;
                cp[at + S] = a[H + j] * cp[at] + a[j] * a[2 * H + j];
                hp[at + S] = a[3 * H + j] * tanh(cp[at + S]);
                c.y[at] = hp[at + S];
                c.y[(size_t)T * S + at] = cp[at + S];
            }
        }
    for (int t = T - 1; t >= 0; t--) {
        for (int n = 0; n < N; n++)
            for (int j = 0; j < H; j++) {
                size_t at = (size_t)t * S + n * H + j, k = (size_t)(n * H + j);
                const double *a = act + ((size_t)t * N + n) * G;
                double i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], tc = tanh(cp[at + S]);
                double dht = c.gy[at] + dh[k];
                double dct = c.gy[(size_t)T * S + at] + dc[k] + dht * o * (1.0 - tc * tc);
                double *d = da + (size_t)n * G, *gx = c.gx[0] + ((size_t)t * N + n) * G;
                d[j] = dct * g * (i * (1.0 - i));
                d[H + j] = dct * cp[at] * (f * (1.0 - f));
                d[2 * H + j] = dct * i * (1.0 - g * g);
                d[3 * H + j] = dht * tc * (o * (1.0 - o));
                for (int q = 0; q < 4; q++) gx[q * H + j] = d[q * H + j];
                dc[k] = dct * f;
            }
        for (int n = 0; n < N; n++)
            for (int j = 0; j < H; j++) {
                double s = 0.0;
                for (size_t k = 0; k < G; k++) s += da[(size_t)n * G + k] * c.v[1][k * H + j];
                dh[(size_t)n * H + j] = s;
                for (size_t k = 0; k < G; k++) /* gW[k, j] += da[n, k] h_{t-1}[n, j] */
                    c.gx[1][k * H + j] += da[(size_t)n * G + k] * hp[(size_t)t * S + n * H + j];
            }
    }
    memcpy(c.gx[2], dh, S * sizeof *dh);
    memcpy(c.gx[3], dc, S * sizeof *dc);
    free(act), free(hp), free(cp), free(dh), free(dc), free(da);
    special_check(&c);
}

bool ieee_specials_lstm(const char *name)
{
    if (strcmp(name, "lstm_sequence") == 0) {
        lstm_sequence_special(1, 2, 3, 11);
        lstm_sequence_special(3, 2, 2, 13);
        return true;
    }
    if (strcmp(name, "lstm_state") == 0) {
        lstm_state_special(3, 4, 11);
        lstm_state_special(5, 7, 13);
        return true;
    }
    if (strcmp(name, "lstm_output") == 0) {
        lstm_output_special(3, 4, 11);
        lstm_output_special(5, 7, 13);
        return true;
    }
    return false;
}
