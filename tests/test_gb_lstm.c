/* test_gb_lstm.c -- the lstm eval: its objective against a plain scalar
 * computation of ADBench's model written here from the formulas of
 * evals/lstm/README.md and cpp/gradbench/evals/lstm.hpp, its jacobian entry
 * by entry against central differences of the objective, and replay
 * against rebuild. */
#include "gb_check.h"
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { L = 2, B = 3, C = 4 }; /* layers, state width, characters */

/* A random input of the eval's form: parameters and state uniform in [0, 1),
 * characters as 0/1 bits. */
static json_t *random_matrix(test_rng *r, int rows, int cols, bool bits)
{
    json_t *m = json_array();
    for (int i = 0; i < rows; i++) {
        json_t *row = json_array();
        for (int j = 0; j < cols; j++)
            json_array_append_new(row, json_real(bits ? (double)(rng_next(r) & 1) : rng_uniform(r, 0.0, 1.0)));
        json_array_append_new(m, row);
    }
    return m;
}

static json_t *lstm_input(uint64_t seed)
{
    test_rng r = {seed};
    json_t *main_params = random_matrix(&r, 2 * L, 4 * B, false), *extra_params = random_matrix(&r, 3, B, false);
    json_t *state = random_matrix(&r, 2 * L, B, false), *sequence = random_matrix(&r, C, B, true);
    return json_pack("{s:o,s:o,s:o,s:o}", "main_params", main_params, "extra_params", extra_params, "state", state,
                     "sequence", sequence);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The objective element by element, as the spec's loops read:
 * per step t < C - 1, x = sequence[t] in_weight; per layer i, with
 * w = main[2i], bw = main[2i + 1] (blocks forget, ingate, outgate, change
 * of B each), h = state[2i], s = state[2i + 1]:
 *   f = sig(x w_f + b_f), in = sig(h w_i + b_i), o = sig(x w_o + b_o),
 *   g = tanh(h w_c + b_c), s = s f + in g, h = o tanh(s), x = h;
 * then y = x out_weight + out_bias, lse = log(2 + sum exp y), and the loss
 * is -sum_t sum_j sequence[t + 1][j] (y_j - lse) / ((C - 1) B). */
static double reference_objective(const json_t *input)
{
    double main[2 * L][4 * B], extra[3][B], state[2 * L][B], seq[C][B];
    gb_check_flatten(json_object_get(input, "main_params"), &main[0][0], sizeof main / sizeof(double));
    gb_check_flatten(json_object_get(input, "extra_params"), &extra[0][0], sizeof extra / sizeof(double));
    gb_check_flatten(json_object_get(input, "state"), &state[0][0], sizeof state / sizeof(double));
    gb_check_flatten(json_object_get(input, "sequence"), &seq[0][0], sizeof seq / sizeof(double));
    double total = 0.0;
    for (int t = 0; t < C - 1; t++) {
        double x[B], y[B];
        for (int j = 0; j < B; j++)
            x[j] = seq[t][j] * extra[0][j];
        for (int i = 0; i < L; i++) {
            const double *w = main[2 * i], *bw = main[2 * i + 1];
            double *h = state[2 * i], *s = state[2 * i + 1];
            for (int j = 0; j < B; j++) {
                double f = sigmoid(x[j] * w[j] + bw[j]);
                double in = sigmoid(h[j] * w[B + j] + bw[B + j]);
                double o = sigmoid(x[j] * w[2 * B + j] + bw[2 * B + j]);
                double g = tanh(h[j] * w[3 * B + j] + bw[3 * B + j]);
                s[j] = s[j] * f + in * g;
                h[j] = o * tanh(s[j]);
                x[j] = h[j];
            }
        }
        double sum = 2.0;
        for (int j = 0; j < B; j++) {
            y[j] = x[j] * extra[1][j] + extra[2][j];
            sum += exp(y[j]);
        }
        for (int j = 0; j < B; j++)
            total += seq[t + 1][j] * (y[j] - log(sum));
    }
    return -total / ((C - 1) * B);
}

START_TEST(objective_matches_the_model_written_out)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        json_t *input = lstm_input(seed);
        ck_assert_rel(gb_check_scalar("lstm", "objective", input), reference_objective(input), 1e-14);
        json_decref(input);
    }
}
END_TEST

/* The jacobian is main_params' gradient row after row, then extra_params':
 * entry k against the central difference of the objective in that number. */
START_TEST(jacobian_matches_central_differences)
{
    json_t *input = lstm_input(7);
    json_t *jac = gb_check_call("lstm", "jacobian", input);
    enum { N_MAIN = 2 * L * 4 * B, N = N_MAIN + 3 * B };
    double g[N + 1];
    ck_assert_uint_eq(gb_check_flatten(jac, g, N + 1), N);
    for (size_t k = 0; k < N; k++) {
        const char *field = k < N_MAIN ? "main_params" : "extra_params";
        size_t index = k < N_MAIN ? k : k - N_MAIN;
        double fd = gb_check_central_difference("lstm", "objective", input, field, index, 1e-5, NULL);
        ck_assert_msg(fabs(g[k] - fd) <= 1e-9, "jacobian[%zu] (%s[%zu]) = %.17g, central difference %.17g", k,
                      field, index, g[k], fd);
    }
    json_decref(jac);
    json_decref(input);
}
END_TEST

START_TEST(replay_and_rebuild_agree)
{
    json_t *input = lstm_input(5);
    json_object_set_new(input, "min_runs", json_integer(3));
    const char *functions[] = {"objective", "jacobian"};
    for (int i = 0; i < 2; i++)
        gb_check_modes_agree("lstm", functions[i], input);
    json_decref(input);
}
END_TEST

/* Mismatched sizes are named: the field, its size and what it should be. */
START_TEST(bad_sizes_name_the_field)
{
    struct {
        const char *field, *value, *named;
    } cases[] = {
        {"main_params", "[[1,2,3]]", "\"main_params\" is 1 x 3"},              /* odd rows, not 4b wide */
        {"state", "[[1,2,3]]", "\"state\" is 1 x 3, not 2l x b = 4 x 3"},      /* l = 2 wants 4 rows */
        {"sequence", "[[1,0,1]]", "\"sequence\" is 1 x 3"},                    /* one character */
        {"extra_params", "[[1,2],[3,4],[5,6]]", "\"main_params\" is 4 x 12, not 2l x 4b = 2l x 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *input = lstm_input(2);
        json_object_set_new(input, cases[i].field, gb_check_json(cases[i].value));
        char *message = gb_check_error("lstm", "jacobian", input);
        ck_assert_msg(strstr(message, cases[i].named) != NULL, "case %zu: \"%s\" does not name %s", i, message,
                      cases[i].named);
        free(message);
        json_decref(input);
    }
}
END_TEST

Suite *gb_lstm_suite(void)
{
    Suite *s = suite_create("gb_lstm");
    TCase *tc = tcase_create("lstm");
    tcase_add_test(tc, objective_matches_the_model_written_out);
    tcase_add_test(tc, jacobian_matches_central_differences);
    tcase_add_test(tc, replay_and_rebuild_agree);
    tcase_add_test(tc, bad_sizes_name_the_field);
    suite_add_tcase(s, tc);
    return s;
}
