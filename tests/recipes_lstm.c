/* recipes_lstm.c -- test recipes for the LSTM's fused pointwise ops,
 * lstm_state and lstm_output (see recipes.c for the rules a recipe
 * follows), and their NaN/Inf cases. */
#include <math.h>
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

static const recipe_entry recipes[] = {
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

bool ieee_specials_lstm(const char *name)
{
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
