/* test_gb_det_ode.c -- agrad-gradbench's det and ode evals against closed
 * forms, methods written independently here (Gauss-Jordan inversion, a
 * scalar RK4 loop) and central finite differences. */
#include "gb_check.h"
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- inputs ---------------------------------------------------------------------------- */

static json_t *det_input(int ell, const double *a)
{
    return json_pack("{s:o,s:i}", "A", gb_json_vector(a, (size_t)(ell * ell)), "ell", ell);
}

static void random_matrix(int ell, uint64_t seed, double *a)
{
    test_rng r = {seed};
    for (int i = 0; i < ell * ell; i++) a[i] = rng_uniform(&r, -1.0, 1.0);
}

/* the gradient's ell^2 numbers into g */
static void det_gradient(const json_t *input, int ell, double *g)
{
    json_t *grad = gb_check_call("det", "gradient", input);
    ck_assert_uint_eq(gb_check_flatten(grad, g, (size_t)(ell * ell)), (size_t)(ell * ell));
    json_decref(grad);
}

/* ---- det: closed forms ------------------------------------------------------------------- */

/* det [[a, b], [c, d]] = a d - b c; its gradient [[d, -c], [-b, a]] */
START_TEST(det_of_a_2x2)
{
    double a[4] = {1.5, -2.0, 0.25, 3.0}, g[4];
    json_t *input = det_input(2, a);
    ck_assert_rel(gb_check_scalar("det", "primal", input), 1.5 * 3.0 - (-2.0) * 0.25, 1e-15);
    det_gradient(input, 2, g);
    double expected[4] = {3.0, -0.25, 2.0, 1.5};
    for (int i = 0; i < 4; i++) ck_assert_rel(g[i], expected[i], 1e-15);
    json_decref(input);
}
END_TEST

/* A = [[2, -1, 0], [1, 3, 2], [0, 1, 4]], by hand: the cofactors C_ij =
 * (-1)^(i+j) M_ij are
 *   C00 = 3*4 - 2*1 = 10    C01 = -(1*4 - 2*0) = -4   C02 = 1*1 - 3*0 = 1
 *   C10 = -(-1*4 - 0*1) = 4 C11 = 2*4 - 0*0 = 8       C12 = -(2*1 - -1*0) = -2
 *   C20 = -1*2 - 0*3 = -2   C21 = -(2*2 - 0*1) = -4   C22 = 2*3 - -1*1 = 7
 * det A = 2*10 + -1*-4 + 0*1 = 24 (rows 1 and 2 give 24 too); d det / dA = C. */
START_TEST(det_of_a_3x3_by_hand)
{
    double a[9] = {2, -1, 0, 1, 3, 2, 0, 1, 4}, g[9];
    double cofactors[9] = {10, -4, 1, 4, 8, -2, -2, -4, 7};
    json_t *input = det_input(3, a);
    ck_assert_rel(gb_check_scalar("det", "primal", input), 24.0, 1e-15);
    det_gradient(input, 3, g);
    for (int i = 0; i < 9; i++) ck_assert_rel(g[i], cofactors[i], 1e-15);
    json_decref(input);
}
END_TEST

/* An upper triangular 7x7: det = the product of the diagonal (every other
 * permutation meets a zero below it); 7 rows take every layout the eval
 * uses (three axes, then a reshape). d det / dA_ii = prod_{j != i} A_jj,
 * and above the diagonal 0: moving such an entry keeps A triangular. (Below
 * it the cofactors are not zero in general.) */
START_TEST(det_of_a_triangular_matrix)
{
    enum { L = 7 };
    double a[L * L], g[L * L];
    random_matrix(L, 3, a);
    for (int i = 0; i < L; i++)
        for (int j = 0; j < i; j++) a[i * L + j] = 0.0;
    double product = 1.0;
    for (int i = 0; i < L; i++) product *= a[i * L + i];
    json_t *input = det_input(L, a);
    ck_assert_rel(gb_check_scalar("det", "primal", input), product, 1e-14);
    det_gradient(input, L, g);
    for (int i = 0; i < L; i++) ck_assert_rel(g[i * L + i], product / a[i * L + i], 1e-13);
    for (int i = 0; i < L; i++)
        for (int j = i + 1; j < L; j++) ck_assert_rel(g[i * L + j], 0.0, 1e-15); /* above: no effect */
    json_decref(input);
}
END_TEST

/* Gauss-Jordan with partial pivoting: inv = A^{-1}, returns det A (the
 * product of the pivots, signed by the row swaps) */
static double invert(int n, const double *a, double *inv)
{
    double m[8][16], det = 1.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2 * n; j++) m[i][j] = j < n ? a[i * n + j] : (j - n == i);
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(m[r][c]) > fabs(m[p][c])) p = r;
        if (p != c) {
            for (int j = 0; j < 2 * n; j++) {
                double t = m[c][j];
                m[c][j] = m[p][j];
                m[p][j] = t;
            }
            det = -det;
        }
        double pivot = m[c][c];
        det *= pivot;
        for (int j = 0; j < 2 * n; j++) m[c][j] /= pivot;
        for (int r = 0; r < n; r++)
            if (r != c) {
                double f = m[r][c];
                for (int j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
            }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) inv[i * n + j] = m[i][n + j];
    return det;
}

/* d det / dA = det(A) A^{-T} (Jacobi's formula), A^{-1} by Gauss-Jordan;
 * 4x4 and 6x6 (the second through a reshape of the layout) */
START_TEST(det_gradient_is_det_times_inverse_transpose)
{
    for (int ell = 4; ell <= 6; ell += 2) {
        double a[36], inv[36], g[36];
        random_matrix(ell, 10 + (uint64_t)ell, a);
        double det = invert(ell, a, inv);
        json_t *input = det_input(ell, a);
        ck_assert_rel(gb_check_scalar("det", "primal", input), det, 1e-13);
        det_gradient(input, ell, g);
        for (int i = 0; i < ell; i++)
            for (int j = 0; j < ell; j++) ck_assert_rel(g[i * ell + j], det * inv[j * ell + i], 1e-13);
        json_decref(input);
    }
}
END_TEST

/* det is linear in each entry: the central difference is exact up to rounding */
START_TEST(det_gradient_matches_central_differences)
{
    enum { L = 5 };
    double a[L * L], g[L * L];
    random_matrix(L, 21, a);
    json_t *input = det_input(L, a);
    det_gradient(input, L, g);
    for (size_t i = 0; i < L * L; i++) {
        double fd = gb_check_central_difference("det", "primal", input, "A", i, 1e-3, NULL);
        ck_assert_rel(g[i], fd, 1e-11);
    }
    json_decref(input);
}
END_TEST

/* ---- ode ------------------------------------------------------------------------------------ */

static json_t *ode_input(int n, const double *x, int s)
{
    return json_pack("{s:o,s:i}", "x", gb_json_vector(x, (size_t)n), "s", s);
}

static void ode_output(const char *function, const json_t *input, int n, double *out)
{
    json_t *y = gb_check_call("ode", function, input);
    ck_assert(json_is_array(y));
    ck_assert_uint_eq(gb_check_flatten(y, out, (size_t)n), (size_t)n);
    json_decref(y);
}

/* y_i(t) = x_0 ... x_i t^{i+1} / (i+1)! is a polynomial of degree i + 1, and
 * one RK4 step of this linear ODE is the degree-4 Taylor polynomial of its
 * flow: exact for i <= 3 whatever s, and y_4 = 0 after a single step (only
 * i + 1 <= 4 products reach it). */
START_TEST(ode_is_exact_for_the_first_four)
{
    double x[5] = {0.5, 1.5, -0.75, 2.0, 1.25}, y[5], g[4];
    for (int s = 1; s <= 3; s += 2) {
        json_t *input = ode_input(4, x, s);
        ode_output("primal", input, 4, y);
        double expected = 1.0, t_power = 1.0, factorial = 1.0;
        for (int i = 0; i < 4; i++) {
            expected *= x[i];
            t_power *= 2.0;
            factorial *= i + 1;
            ck_assert_rel(y[i], expected * t_power / factorial, 1e-14);
        }
        /* d y_3 / dx_j = y_3 / x_j */
        ode_output("gradient", input, 4, g);
        for (int j = 0; j < 4; j++) ck_assert_rel(g[j], y[3] / x[j], 1e-14);
        json_decref(input);
    }
    json_t *input = ode_input(5, x, 1);
    ode_output("primal", input, 5, y);
    ck_assert(y[4] == 0.0);
    json_decref(input);
}
END_TEST

/* The reference's loop, one scalar at a time (cpp/gradbench/evals/ode.hpp). */
static void f_scalar(int n, const double *x, const double *y, double *z)
{
    z[0] = x[0];
    for (int i = 1; i < n; i++) z[i] = x[i] * y[i - 1];
}

static void rk4_scalar(int n, const double *x, int s, double *y)
{
    double h = 2.0 / s, k1[16], k2[16], k3[16], k4[16], t[16];
    for (int i = 0; i < n; i++) y[i] = 0.0;
    for (int step = 0; step < s; step++) {
        f_scalar(n, x, y, k1);
        for (int i = 0; i < n; i++) t[i] = y[i] + h * k1[i] / 2;
        f_scalar(n, x, t, k2);
        for (int i = 0; i < n; i++) t[i] = y[i] + h * k2[i] / 2;
        f_scalar(n, x, t, k3);
        for (int i = 0; i < n; i++) t[i] = y[i] + h * k3[i];
        f_scalar(n, x, t, k4);
        for (int i = 0; i < n; i++) y[i] += h * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) / 6;
    }
}

static double last_element(const json_t *output)
{
    return json_real_value(json_array_get(output, json_array_size(output) - 1));
}

/* n = 9, s = 3: against the scalar loop, and the gradient of y_8 against
 * central differences (y_8 is a polynomial of degree 9 in x: h = 1e-4) */
START_TEST(ode_matches_a_scalar_rk4_and_central_differences)
{
    enum { N = 9, S = 3 };
    double x[N], y[N], expected[N], g[N];
    test_rng r = {7};
    for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, 0.5, 1.5);
    rk4_scalar(N, x, S, expected);
    ck_assert(expected[N - 1] != 0.0);
    json_t *input = ode_input(N, x, S);
    ode_output("primal", input, N, y);
    for (int i = 0; i < N; i++) ck_assert_rel(y[i], expected[i], 1e-14);
    ode_output("gradient", input, N, g);
    for (size_t j = 0; j < N; j++) {
        double fd = gb_check_central_difference("ode", "primal", input, "x", j, 1e-4, last_element);
        ck_assert_rel(g[j], fd, 1e-8);
    }
    json_decref(input);
}
END_TEST

/* ---- both ------------------------------------------------------------------------------------ */

START_TEST(replay_and_rebuild_agree)
{
    double a[36], x[12];
    random_matrix(6, 5, a);
    test_rng r = {9};
    for (int i = 0; i < 12; i++) x[i] = rng_uniform(&r, 0.0, 1.0);
    json_t *inputs[2] = {det_input(6, a), ode_input(12, x, 4)};
    const char *evals[2] = {"det", "ode"}, *functions[2] = {"primal", "gradient"};
    for (int e = 0; e < 2; e++) {
        json_object_set_new(inputs[e], "min_runs", json_integer(2));
        for (int f = 0; f < 2; f++)
            gb_check_modes_agree(evals[e], functions[f], inputs[e]);
        json_decref(inputs[e]);
    }
}
END_TEST

START_TEST(bad_inputs_name_the_eval_and_field)
{
    json_t *det = gb_check_json("{\"A\":[1,2,3],\"ell\":2}");
    char *message = gb_check_error("det", "gradient", det);
    ck_assert_msg(strstr(message, "det") && strstr(message, "\"A\" has 3 elements"), "%s", message);
    free(message);
    json_t *ode = gb_check_json("{\"x\":[1,2,3],\"s\":0}");
    message = gb_check_error("ode", "primal", ode);
    ck_assert_msg(strstr(message, "ode") && strstr(message, "s = 0"), "%s", message);
    free(message);
    json_decref(det);
    json_decref(ode);
}
END_TEST

Suite *gb_det_ode_suite(void)
{
    Suite *s = suite_create("gb_det_ode");
    TCase *det = tcase_create("det");
    tcase_add_test(det, det_of_a_2x2);
    tcase_add_test(det, det_of_a_3x3_by_hand);
    tcase_add_test(det, det_of_a_triangular_matrix);
    tcase_add_test(det, det_gradient_is_det_times_inverse_transpose);
    tcase_add_test(det, det_gradient_matches_central_differences);
    suite_add_tcase(s, det);
    TCase *ode = tcase_create("ode");
    tcase_add_test(ode, ode_is_exact_for_the_first_four);
    tcase_add_test(ode, ode_matches_a_scalar_rk4_and_central_differences);
    suite_add_tcase(s, ode);
    TCase *both = tcase_create("det and ode");
    tcase_add_test(both, replay_and_rebuild_agree);
    tcase_add_test(both, bad_inputs_name_the_eval_and_field);
    suite_add_tcase(s, both);
    return s;
}
