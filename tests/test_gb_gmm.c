/* test_gb_gmm.c -- agrad-gradbench's gmm eval: the objective against the
 * eval's definition computed naively (densities multiplied out, then one
 * log), every jacobian entry against central differences of the objective,
 * replay against rebuild, and bad inputs. */
#include "gb_check.h"
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_D 4
#define MAX_K 2
#define MAX_N 3
#define MAX_L (MAX_D * (MAX_D - 1) / 2)

typedef struct gmm_case {
    int d, k, n, m;
    double gamma;
    double alpha[MAX_K], mu[MAX_K][MAX_D], q[MAX_K][MAX_D], l[MAX_K][MAX_L], x[MAX_N][MAX_D];
} gmm_case;

/* d = 4, k = 2, n = 3, m = 1, gamma = 0.7: numbers of the size the eval draws.
 * d = 4 is the smallest d where l's order matters: column by column it
 * fills Q at (1,0) (2,0) (3,0) (2,1) (3,1) (3,2), row by row it would put
 * l2 at (2,1). */
static const gmm_case case_4 = {
    .d = 4, .k = 2, .n = 3, .m = 1, .gamma = 0.7,
    .alpha = {0.3, -0.8},
    .mu = {{0.2, 0.9, 0.4, -0.1}, {0.7, 0.1, 0.5, 0.3}},
    .q = {{0.1, -0.3, 0.25, 0.05}, {-0.2, 0.15, 0.05, -0.1}},
    .l = {{0.5, -0.4, 0.3, 0.2, -0.1, 0.6}, {-0.6, 0.2, 0.8, -0.3, 0.4, 0.1}},
    .x = {{0.1, 0.5, -0.3, 0.2}, {1.2, -0.7, 0.4, -0.5}, {-0.5, 0.3, 0.9, 0.6}},
};

/* d = 1: no l at all (k empty rows) */
static const gmm_case case_1 = {
    .d = 1, .k = 2, .n = 3, .m = 0, .gamma = 1.0,
    .alpha = {0.5, -0.25},
    .mu = {{0.3}, {-0.6}},
    .q = {{0.2}, {-0.1}},
    .x = {{0.1}, {-1.0}, {0.8}},
};

static json_t *matrix_json(const double *rows, int n_rows, int cols, int stride)
{
    json_t *a = json_array();
    for (int r = 0; r < n_rows; r++) {
        json_t *row = json_array();
        for (int c = 0; c < cols; c++)
            json_array_append_new(row, json_real(rows[r * stride + c]));
        json_array_append_new(a, row);
    }
    return a;
}

static json_t *case_json(const gmm_case *c)
{
    json_t *alpha = json_array();
    for (int i = 0; i < c->k; i++)
        json_array_append_new(alpha, json_real(c->alpha[i]));
    int l_size = c->d * (c->d - 1) / 2;
    return json_pack("{s:i,s:i,s:i,s:i,s:f,s:o,s:o,s:o,s:o,s:o}", "d", c->d, "k", c->k, "n", c->n, "m", c->m,
                     "gamma", c->gamma, "alpha", alpha, "mu", matrix_json(&c->mu[0][0], c->k, c->d, MAX_D), "q",
                     matrix_json(&c->q[0][0], c->k, c->d, MAX_D), "l",
                     matrix_json(&c->l[0][0], c->k, l_size, MAX_L), "x",
                     matrix_json(&c->x[0][0], c->n, c->d, MAX_D));
}

/* ---- the definition, naively (README "Definition") -------------------------------- */

/* Q_k: exp(q) on the diagonal, l below it column by column; for d = 3
 *   Q = [[e^q0, 0, 0], [l0, e^q1, 0], [l1, l2, e^q2]],
 * for d = 4 column 0 holds l0 l1 l2, column 1 l3 l4, column 2 l5. */
static void q_matrix(const gmm_case *c, int k, long double Q[MAX_D][MAX_D])
{
    int next = 0;
    for (int j = 0; j < c->d; j++)
        for (int i = 0; i < c->d; i++)
            Q[i][j] = i == j ? expl(c->q[k][j]) : i > j ? c->l[k][next++] : 0.0L;
}

/* det of a d x d matrix by Gaussian elimination with partial pivoting */
static long double determinant(int d, long double A[MAX_D][MAX_D])
{
    long double M[MAX_D][MAX_D], det = 1.0L;
    memcpy(M, A, sizeof M);
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int r = c + 1; r < d; r++)
            if (fabsl(M[r][c]) > fabsl(M[p][c]))
                p = r;
        if (p != c) {
            for (int j = 0; j < d; j++) {
                long double t = M[c][j];
                M[c][j] = M[p][j];
                M[p][j] = t;
            }
            det = -det;
        }
        det *= M[c][c];
        for (int r = c + 1; r < d; r++) {
            long double f = M[r][c] / M[c][c];
            for (int j = c; j < d; j++)
                M[r][j] -= f * M[c][j];
        }
    }
    return det;
}

/* Gamma_p(a) = pi^(p(p-1)/4) prod_{j=1..p} Gamma(a + (1 - j)/2) */
static long double multivariate_gamma(int p, long double a)
{
    long double g = powl(3.14159265358979323846264338327950288L, p * (p - 1) / 4.0L);
    for (int j = 1; j <= p; j++)
        g *= tgammal(a + (1 - j) / 2.0L);
    return g;
}

/* log( prod_i sum_k phi_k N(x_i; mu_k, Sigma_k) * prod_k W_D(Sigma_k^-1; I / gamma^2, D + m + 1) ),
 * Sigma_k^-1 = P_k = Q_k^T Q_k */
static double naive_log_posterior(const gmm_case *c)
{
    const long double two_pi = 2.0L * 3.14159265358979323846264338327950288L;
    int d = c->d;
    long double P[MAX_K][MAX_D][MAX_D], exp_alpha_sum = 0.0L;
    for (int k = 0; k < c->k; k++) {
        long double Q[MAX_D][MAX_D];
        q_matrix(c, k, Q);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                P[k][i][j] = 0.0L;
                for (int r = 0; r < d; r++)
                    P[k][i][j] += Q[r][i] * Q[r][j];
            }
        exp_alpha_sum += expl(c->alpha[k]);
    }
    long double likelihood = 1.0L;
    for (int i = 0; i < c->n; i++) {
        long double mixture = 0.0L;
        for (int k = 0; k < c->k; k++) {
            long double quad = 0.0L, phi = expl(c->alpha[k]) / exp_alpha_sum;
            for (int a = 0; a < d; a++)
                for (int b = 0; b < d; b++)
                    quad += (c->x[i][a] - c->mu[k][a]) * P[k][a][b] * (c->x[i][b] - c->mu[k][b]);
            /* det(Sigma) = 1 / det(P) */
            mixture += phi * expl(-quad / 2) / sqrtl(powl(two_pi, d) / determinant(d, P[k]));
        }
        likelihood *= mixture;
    }
    /* V = I / gamma^2: tr(V^-1 X) = gamma^2 tr X, det V = gamma^(-2D) */
    long double prior = 1.0L, g2 = (long double)c->gamma * c->gamma;
    int wn = d + c->m + 1;
    for (int k = 0; k < c->k; k++) {
        long double trace = 0.0L;
        for (int a = 0; a < d; a++)
            trace += P[k][a][a];
        prior *= powl(determinant(d, P[k]), (wn - d - 1) / 2.0L) * expl(-g2 * trace / 2) /
                 (powl(2.0L, wn * d / 2.0L) * powl(1.0L / g2, d * wn / 2.0L) * multivariate_gamma(d, wn / 2.0L));
    }
    return (double)logl(likelihood * prior);
}

/* ---- the tests ------------------------------------------------------------------- */

static void check_objective(const gmm_case *c)
{
    json_t *input = case_json(c);
    double expected = naive_log_posterior(c);
    ck_assert_rel(gb_check_scalar("gmm", "objective", input), expected, 1e-12);
    json_decref(input);
}

START_TEST(objective_is_the_log_posterior)
{
    check_objective(&case_4);
    check_objective(&case_1);
}
END_TEST

/* Every entry of the jacobian, field by field, against central differences
 * of the objective (h = 1e-5: truncation ~ h^2 F''' ~ 1e-9 here). */
static void check_jacobian(const gmm_case *c)
{
    json_t *input = case_json(c);
    json_t *jacobian = gb_check_call("gmm", "jacobian", input);
    ck_assert_uint_eq(json_object_size(jacobian), 4);
    const char *fields[] = {"alpha", "mu", "q", "l"};
    size_t sizes[] = {(size_t)c->k, (size_t)(c->k * c->d), (size_t)(c->k * c->d),
                      (size_t)(c->k * c->d * (c->d - 1) / 2)};
    for (int f = 0; f < 4; f++) {
        json_t *part = json_object_get(jacobian, fields[f]);
        ck_assert_msg(json_is_array(part), "no \"%s\" in the jacobian", fields[f]);
        if (f > 0) /* nested as the input: k rows */
            ck_assert_uint_eq(json_array_size(part), (size_t)c->k);
        double g[MAX_K * MAX_D * MAX_D];
        ck_assert_uint_eq(gb_check_flatten(part, g, sizeof g / sizeof g[0]), sizes[f]);
        for (size_t i = 0; i < sizes[f]; i++) {
            double fd = gb_check_central_difference("gmm", "objective", input, fields[f], i, 1e-5, NULL);
            ck_assert_msg(fabs(g[i] - fd) <= 1e-7 * fmax(1.0, fabs(fd)), "d = %d: dF/d%s[%zu] = %.12g, central difference %.12g",
                          c->d, fields[f], i, g[i], fd);
        }
    }
    json_decref(jacobian);
    json_decref(input);
}

START_TEST(jacobian_matches_central_differences)
{
    check_jacobian(&case_4);
    check_jacobian(&case_1);
}
END_TEST

START_TEST(replay_and_rebuild_agree)
{
    json_t *input = case_json(&case_4);
    json_object_set_new(input, "min_runs", json_integer(2));
    const char *functions[] = {"objective", "jacobian"};
    for (int i = 0; i < 2; i++)
        gb_check_modes_agree("gmm", functions[i], input);
    json_decref(input);
}
END_TEST

START_TEST(bad_inputs_name_the_field)
{
    json_t *input = case_json(&case_4);
    /* mu with a row too short */
    json_t *short_mu = json_deep_copy(input);
    json_array_remove(json_array_get(json_object_get(short_mu, "mu"), 1), 0);
    char *message = gb_check_error("gmm", "jacobian", short_mu);
    ck_assert_msg(strstr(message, "\"mu\"[1]") != NULL, "\"%s\" does not name mu[1]", message);
    free(message);
    /* k = 3 but two alphas */
    json_t *more_k = json_deep_copy(input);
    json_object_set_new(more_k, "k", json_integer(3));
    message = gb_check_error("gmm", "objective", more_k);
    ck_assert_msg(strstr(message, "\"alpha\"") && strstr(message, "k = 3"), "\"%s\" does not name alpha and k", message);
    free(message);
    /* l of the wrong width */
    json_t *wide_l = json_deep_copy(input);
    json_object_set_new(wide_l, "l", gb_check_json("[[1,2],[3,4]]"));
    message = gb_check_error("gmm", "objective", wide_l);
    ck_assert_msg(strstr(message, "\"l\" is 2 x 2, expected 2 x 6"), "\"%s\" does not give l's sizes", message);
    free(message);
    json_decref(short_mu), json_decref(more_k), json_decref(wide_l), json_decref(input);
}
END_TEST

Suite *gb_gmm_suite(void)
{
    Suite *s = suite_create("gb_gmm");
    TCase *t = tcase_create("gmm");
    tcase_add_test(t, objective_is_the_log_posterior);
    tcase_add_test(t, jacobian_matches_central_differences);
    tcase_add_test(t, replay_and_rebuild_agree);
    tcase_add_test(t, bad_inputs_name_the_field);
    suite_add_tcase(s, t);
    return s;
}
