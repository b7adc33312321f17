/* test_gb_nested.c -- agrad-gradbench's kmeans, particle and saddle evals
 * without the GradBench kit: kmeans against a brute-force cost and finite
 * differences, the nested-AD evals' four variants against the answers the
 * kit's validators expect. */
#include "gb_check.h"
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- kmeans ------------------------------------------------------------------------ */

enum { N = 40, K = 6, D = 3 };

/* n random points in [0, 1)^d and, as the eval makes them, the last k of
 * them as centroids (so no cluster is empty) */
static json_t *kmeans_input_at(uint64_t seed, double points[N][D], double offset)
{
    test_rng r = {seed};
    json_t *p = json_array(), *c = json_array();
    for (int i = 0; i < N; i++) {
        json_t *row = json_array();
        for (int l = 0; l < D; l++) {
            points[i][l] = offset + rng_uniform(&r, 0.0, 1.0);
            json_array_append_new(row, json_real(points[i][l]));
        }
        json_array_append_new(p, row);
        if (i >= N - K)
            json_array_append(c, row);
    }
    return json_pack("{s:o, s:o}", "points", p, "centroids", c);
}

/* points uniform in [0, 1)^D; the last K of them are the centroids */
static json_t *kmeans_input(uint64_t seed, double points[N][D]) { return kmeans_input_at(seed, points, 0.0); }

/* sum_i min_j |C_j - P_i|^2, the differences taken directly */
static double brute_force_cost(double P[N][D], double C[K][D])
{
    double cost = 0.0;
    for (int i = 0; i < N; i++) {
        double nearest = INFINITY;
        for (int j = 0; j < K; j++) {
            double s = 0.0;
            for (int l = 0; l < D; l++)
                s += (C[j][l] - P[i][l]) * (C[j][l] - P[i][l]);
            nearest = fmin(nearest, s);
        }
        cost += nearest;
    }
    return cost;
}

START_TEST(kmeans_cost_is_the_sum_of_nearest_squared_distances)
{
    double P[N][D], C[K][D];
    json_t *input = kmeans_input(7, P);
    memcpy(C, P[N - K], sizeof C);
    ck_assert_rel(gb_check_scalar("kmeans", "cost", input), brute_force_cost(P, C), 1e-13);
    /* moved centroids: no longer points themselves */
    for (int j = 0; j < K; j++)
        for (int l = 0; l < D; l++)
            C[j][l] += 0.05 * (l + 1) - 0.03 * j;
    json_t *moved = json_array();
    for (int j = 0; j < K; j++)
        json_array_append_new(moved, gb_json_vector(C[j], D));
    json_object_set_new(input, "centroids", moved);
    ck_assert_rel(gb_check_scalar("kmeans", "cost", input), brute_force_cost(P, C), 1e-13);
    json_decref(input);
}
END_TEST

/* Far from the origin (unit spread, 1e5 away), the expansion |P|^2 + |C|^2
 * - 2 P.C loses ~10 digits to cancellation unless the data is centred:
 * before it was, the cost was off by 1e-4 relative (wrong nearest
 * centroids). */
START_TEST(kmeans_cost_far_from_the_origin)
{
    double P[N][D], C[K][D];
    json_t *input = kmeans_input_at(5, P, 1e5);
    memcpy(C, P[N - K], sizeof C);
    ck_assert_rel(gb_check_scalar("kmeans", "cost", input), brute_force_cost(P, C), 1e-8);
    json_decref(input);
}
END_TEST

/* the cost with delta added to centroid coordinate `index` (row-major) */
static double cost_moved(const json_t *input, size_t index, double delta)
{
    json_t *copy = json_deep_copy(input);
    json_t *row = json_array_get(json_object_get(copy, "centroids"), index / D);
    json_array_set_new(row, index % D, json_real(json_number_value(json_array_get(row, index % D)) + delta));
    double cost = gb_check_scalar("kmeans", "cost", copy);
    json_decref(copy);
    return cost;
}

/* The cost is quadratic in each centroid coordinate while no point changes
 * its nearest centroid (here, for steps of 1e-3), so the central difference
 * is its derivative J and the second difference its curvature H_jj, both
 * exact up to rounding. */
START_TEST(kmeans_dir_is_j_over_diag_h_by_differences)
{
    double P[N][D];
    json_t *input = kmeans_input(19, P);
    json_t *dir = gb_check_call("kmeans", "dir", input);
    double step[K * D];
    ck_assert_uint_eq(gb_check_flatten(dir, step, K * D), K * D);
    ck_assert_uint_eq(json_array_size(dir), K);
    double h = 1e-3, f = gb_check_scalar("kmeans", "cost", input);
    for (size_t e = 0; e < K * D; e++) {
        double up = cost_moved(input, e, h), down = cost_moved(input, e, -h);
        double J = (up - down) / (2 * h), H = (up - 2 * f + down) / (h * h);
        ck_assert_msg(H > 1.0, "H_%zu = %g: every centroid has a point", e, H);
        ck_assert_rel(step[e], J / H, 1e-7);
    }
    json_decref(dir);
    json_decref(input);
}
END_TEST

/* ---- particle and saddle ------------------------------------------------------------ */

static const char *const variants[4] = {"ff", "fr", "rf", "rr"};

/* the eval's expected answer, python/gradbench/gradbench/evals/particle/run.py */
static const double particle_w = 0.2071918746486116;
/* and saddle's (each of the four numbers), evals/saddle/run.py */
static const double saddle_point = 8.246324826140356e-06;

/* The validator accepts |a - b| / max(1, |a| + |b|) <= 1e-4. Every variant
 * follows the same descent (the same rules, derivatives equal up to
 * rounding), so each also lands within 1e-9 of the answer: the four agree. */
START_TEST(particle_variants_give_the_known_answer)
{
    json_t *input = gb_check_json("{\"w\":0.0}");
    double w = gb_check_scalar("particle", variants[_i], input);
    ck_assert_msg(fabs(w - particle_w) / fmax(1.0, fabs(w) + fabs(particle_w)) <= 1e-4, "%s: w = %.17g",
                  variants[_i], w);
    ck_assert_msg(fabs(w - particle_w) <= 1e-9, "%s: w = %.17g, the others' %.17g", variants[_i], w, particle_w);
    json_decref(input);
}
END_TEST

START_TEST(saddle_variants_give_the_known_answer)
{
    json_t *input = gb_check_json("{\"start\":[1.0,1.0]}");
    json_t *out = gb_check_call("saddle", variants[_i], input);
    double pq[4];
    ck_assert_uint_eq(gb_check_flatten(out, pq, 4), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(fabs(pq[i] - saddle_point) <= 1e-4, "%s: [%d] = %.17g", variants[_i], i, pq[i]);
        ck_assert_msg(fabs(pq[i] - saddle_point) <= 1e-12, "%s: [%d] = %.17g, the others' %.17g", variants[_i],
                      i, pq[i], saddle_point);
    }
    json_decref(out);
    json_decref(input);
}
END_TEST

/* f(p, q) = |p|^2 - |q|^2 has its saddle at p = q = 0 from any start; the
 * descent stops when the gradient (2 p, 2 q) or the step eta 2 p is below
 * 1e-5, so within 1e-4 of it (eta has grown past 0.05 by then). */
START_TEST(saddle_finds_the_origin_from_elsewhere)
{
    json_t *input = gb_check_json("{\"start\":[-0.5,0.25]}");
    json_t *out = gb_check_call("saddle", "fr", input);
    double pq[4];
    ck_assert_uint_eq(gb_check_flatten(out, pq, 4), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(pq[i]) <= 1e-4, "[%d] = %g", i, pq[i]);
    json_decref(out);
    json_decref(input);
}
END_TEST

/* ---- both modes, bad inputs ------------------------------------------------------------ */

START_TEST(replay_and_rebuild_agree)
{
    double P[N][D];
    json_t *km = kmeans_input(3, P);
    json_object_set_new(km, "min_runs", json_integer(2));
    /* (particle and saddle have no record step: both modes run the same code) */
    gb_check_modes_agree("kmeans", "cost", km);
    gb_check_modes_agree("kmeans", "dir", km);
    json_decref(km);
}
END_TEST

START_TEST(bad_inputs_name_the_eval_and_field)
{
    const char *const cases[][3] = {
        {"kmeans", "dir", "{\"points\":[[1,2],[3,4]],\"centroids\":[[1,2,3]]}"}, /* d differs */
        {"kmeans", "cost", "{\"points\":[[1,2]]}"},                             /* no centroids */
        {"particle", "rr", "{\"v\":0}"},                                        /* no w */
        {"saddle", "fr", "{\"start\":[1,2,3]}"},                                /* not 2 numbers */
    };
    const char *const named[] = {"kmeans: \"points\" is 2 x 2 and \"centroids\" 1 x 3", "\"centroids\"", "\"w\"",
                           "saddle: \"start\""};
    gb_check_errors_name(sizeof cases / sizeof cases[0], cases, named);
}
END_TEST

/* ---- the library, as kmeans uses it ----------------------------------------------------- */

/* ag_jvp_nodes records tangents only for the nodes its outputs depend on:
 * kmeans asks for the tangent of the recorded gradient, beside which lies
 * the cost itself ([n, k] distances). A graph with an unneeded branch
 * (sum(exp(x))) gets as many tangent nodes as one without, and the
 * tangent is the hand one: d(x x) = 2 x v. */
START_TEST(jvp_nodes_skips_what_the_outputs_do_not_need)
{
    size_t added[2];
    for (int branch = 0; branch < 2; branch++) {
        ag_graph *g = ag_graph_new();
        ag_tensor *t = ag_tensor_from(1, (int[]){3}, (double[]){1.0, 2.0, 3.0});
        ck_assert(ag_tensor_requires_grad(t, true));
        ag_node *x = ag_param(g, t), *ty;
        if (branch)
            ck_assert_ptr_nonnull(ag_sum(ag_exp(x)));
        ag_node *y = ag_mul(x, x);
        ag_node *v = ag_constant(g, 1, (int[]){3}, (double[]){1.0, -1.0, 0.5});
        size_t before = ag_graph_size(g);
        ck_assert(ag_jvp_nodes(g, 1, &x, &v, 1, &y, &ty));
        added[branch] = ag_graph_size(g) - before;
        const double expected[3] = {2.0, -4.0, 3.0};
        for (int i = 0; i < 3; i++)
            ck_assert_double_eq_tol(ag_node_value(ty)[i], expected[i], 1e-15);
        ag_graph_free(g);
        ag_tensor_free(t);
    }
    ck_assert_uint_eq(added[0], added[1]);
}
END_TEST

Suite *gb_nested_suite(void)
{
    Suite *s = suite_create("gb_nested");
    TCase *kmeans = tcase_create("kmeans");
    tcase_add_test(kmeans, kmeans_cost_is_the_sum_of_nearest_squared_distances);
    tcase_add_test(kmeans, kmeans_cost_far_from_the_origin);
    tcase_add_test(kmeans, kmeans_dir_is_j_over_diag_h_by_differences);
    suite_add_tcase(s, kmeans);
    TCase *nested = tcase_create("particle and saddle");
    tcase_add_loop_test(nested, particle_variants_give_the_known_answer, 0, 4);
    tcase_add_loop_test(nested, saddle_variants_give_the_known_answer, 0, 4);
    tcase_add_test(nested, saddle_finds_the_origin_from_elsewhere);
    suite_add_tcase(s, nested);
    TCase *modes = tcase_create("modes and errors");
    tcase_add_test(modes, replay_and_rebuild_agree);
    tcase_add_test(modes, bad_inputs_name_the_eval_and_field);
    suite_add_tcase(s, modes);
    TCase *library = tcase_create("library");
    tcase_add_test(library, jvp_nodes_skips_what_the_outputs_do_not_need);
    suite_add_tcase(s, library);
    return s;
}
