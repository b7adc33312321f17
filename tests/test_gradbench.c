/* test_gradbench.c -- agrad-gradbench without the GradBench kit: the
 * protocol, the timing loop, and the hello, lse and llsq evals against
 * closed forms and central finite differences. */
#include "gb_check.h"
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the protocol ---------------------------------------------------------------- */

/* The answers gb_serve writes for the given message lines. */
static char *serve(const char *messages, int *status)
{
    FILE *in = fmemopen((void *)messages, strlen(messages), "r");
    char *out_text = NULL;
    size_t out_size = 0;
    FILE *out = open_memstream(&out_text, &out_size);
    ck_assert(in && out);
    *status = gb_serve(in, out, GB_REPLAY);
    fclose(in);
    fclose(out);
    return out_text;
}

/* The n-th line of text as JSON. */
static json_t *line_json(const char *text, int n)
{
    const char *p = text;
    for (int i = 0; i < n; i++) {
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    const char *end = strchr(p, '\n');
    ck_assert_ptr_nonnull(end);
    char *line = strndup(p, (size_t)(end - p));
    json_t *j = gb_check_json(line);
    free(line);
    return j;
}

START_TEST(a_session_is_answered_line_by_line)
{
    const char *messages =
        "{\"id\":0,\"kind\":\"start\",\"eval\":\"lse\"}\n"
        "{\"id\":1,\"kind\":\"define\",\"module\":\"lse\"}\n"
        "{\"id\":2,\"kind\":\"evaluate\",\"module\":\"lse\",\"function\":\"gradient\","
        "\"input\":{\"x\":[1,2,3],\"min_runs\":3,\"min_seconds\":0}}\n"
        "{\"id\":3,\"kind\":\"analysis\",\"of\":2,\"valid\":true}\n"
        "{\"id\":4,\"kind\":\"define\",\"module\":\"ba\"}\n";
    int status;
    char *out = serve(messages, &status);
    ck_assert_int_eq(status, 0);

    json_t *start = line_json(out, 0), *define = line_json(out, 1), *eval = line_json(out, 2),
           *analysis = line_json(out, 3), *unknown = line_json(out, 4);
    ck_assert_str_eq(json_string_value(json_object_get(start, "tool")), "agrad");
    ck_assert_int_eq(json_integer_value(json_object_get(start, "id")), 0);
    ck_assert(json_is_true(json_object_get(define, "success")));
    ck_assert_int_eq(json_integer_value(json_object_get(define, "id")), 1);

    /* d lse / dx_i = exp(x_i) / sum_j exp(x_j) */
    ck_assert(json_is_true(json_object_get(eval, "success")));
    ck_assert_int_eq(json_integer_value(json_object_get(eval, "id")), 2);
    double grad[3], z = exp(1.0) + exp(2.0) + exp(3.0);
    ck_assert_uint_eq(gb_check_flatten(json_object_get(eval, "output"), grad, 3), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_rel(grad[i], exp(i + 1.0) / z, 1e-15);
    /* one prepare timing, then one evaluate timing per run: min_runs 3 */
    json_t *timings = json_object_get(eval, "timings");
    ck_assert_uint_eq(json_array_size(timings), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(timings, 0), "name")), "prepare");
    for (size_t i = 1; i < 4; i++) {
        json_t *t = json_array_get(timings, i);
        ck_assert_str_eq(json_string_value(json_object_get(t, "name")), "evaluate");
        ck_assert(json_integer_value(json_object_get(t, "nanoseconds")) > 0);
    }

    ck_assert_int_eq(json_integer_value(json_object_get(analysis, "id")), 3);
    ck_assert_uint_eq(json_object_size(analysis), 1);
    ck_assert(json_is_false(json_object_get(unknown, "success")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(unknown, "error")), "ba"));
    json_decref(start), json_decref(define), json_decref(eval), json_decref(analysis), json_decref(unknown);
    free(out);
}
END_TEST

START_TEST(min_seconds_repeats_the_runs)
{
    json_t *input = gb_check_json("{\"x\":[0.5,-1.5],\"min_runs\":1,\"min_seconds\":0.02}");
    json_t *answer = gb_evaluate(gb_find_eval("lse"), "primal", input, GB_REBUILD);
    json_t *timings = json_object_get(answer, "timings");
    long long total = 0;
    size_t i;
    json_t *t;
    json_array_foreach(timings, i, t) if (i > 0) total += json_integer_value(json_object_get(t, "nanoseconds"));
    ck_assert(total >= 20000000LL);
    ck_assert(json_array_size(timings) > 2);
    json_decref(answer);
    json_decref(input);
}
END_TEST

START_TEST(a_bad_line_is_answered_and_skipped)
{
    int status;
    char *out = serve("not json\n{\"id\":7,\"kind\":\"start\"}\n", &status);
    ck_assert_int_eq(status, 1);
    json_t *bad = line_json(out, 0), *start = line_json(out, 1);
    ck_assert(json_is_false(json_object_get(bad, "success")));
    ck_assert_int_eq(json_integer_value(json_object_get(start, "id")), 7);
    json_decref(bad), json_decref(start);
    free(out);
}
END_TEST

START_TEST(bad_inputs_name_the_field)
{
    const char *const cases[][3] = {
        {"lse", "gradient", "{\"y\":[1]}"},                  /* no x */
        {"lse", "primal", "{\"x\":[1,\"two\"]}"},           /* not a number */
        {"lse", "primal", "{\"x\":[]}"},                    /* empty */
        {"llsq", "gradient", "{\"x\":[1,2],\"n\":0}"},      /* n < 1 */
        {"llsq", "primal", "{\"x\":[1,2]}"},                /* no n */
        {"lse", "primal", "{\"x\":[1],\"min_runs\":0}"},    /* min_runs < 1 */
        {"lse", "hessian", "{\"x\":[1]}"},                  /* no such function */
    };
    const char *const named[] = {"\"x\"", "\"x\"[1]", "\"x\"", "n = 0", "\"n\"", "min_runs", "hessian"};
    gb_check_errors_name(sizeof cases / sizeof cases[0], cases, named);
}
END_TEST

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Every error leads with the eval and function unless it names the eval
 * already (then not twice). */
START_TEST(errors_lead_with_the_eval)
{
    json_t *bad_x = gb_check_json("{\"x\":\"abc\"}"), *bad_n = gb_check_json("{\"x\":[1],\"n\":0}");
    json_t *big_ell = gb_check_json("{\"A\":[1],\"ell\":12}");
    char *a = gb_check_error("lse", "primal", bad_x), *b = gb_check_error("llsq", "primal", bad_n),
         *c = gb_check_error("det", "gradient", big_ell);
    ck_assert_msg(starts_with(a, "lse primal: input: \"x\" is not an array"), "%s", a);
    ck_assert_msg(starts_with(b, "llsq: ") && !strstr(b, "llsq primal"), "%s", b);
    ck_assert_msg(starts_with(c, "det: \"ell\" is 12"), "%s", c);
    free(a), free(b), free(c);
    json_decref(bad_x), json_decref(bad_n), json_decref(big_ell);

    int status;
    char *out = serve("{\"id\":1,\"kind\":\"evaluate\",\"module\":\"zzz\",\"function\":\"f\",\"input\":{}}\n", &status);
    json_t *answer = line_json(out, 0);
    ck_assert_str_eq(json_string_value(json_object_get(answer, "error")), "unknown module zzz");
    json_decref(answer);
    free(out);
}
END_TEST

/* JSON has no inf or NaN: such an answer is null (the eval finds it
 * invalid), for a number as for an array's elements; it is no failure of
 * the tool. det [[1e200, 0], [0, 1e200]] = 1e400 overflows. */
START_TEST(a_non_finite_answer_is_null)
{
    json_t *input = gb_check_json("{\"A\":[1e200,0,0,1e200],\"ell\":2}"), *big = json_real(1e200);
    json_t *det = gb_check_call("det", "primal", input), *square = gb_check_call("hello", "square", big);
    ck_assert(json_is_null(det));
    ck_assert(json_is_null(square));
    json_decref(det), json_decref(square), json_decref(input), json_decref(big);
}
END_TEST

/* ---- hello -------------------------------------------------------------------------- */

START_TEST(hello_squares_and_doubles)
{
    json_t *x = json_real(-3.25);
    ck_assert_double_eq(gb_check_scalar("hello", "square", x), 10.5625);
    ck_assert_double_eq(gb_check_scalar("hello", "double", x), -6.5);
    json_decref(x);
}
END_TEST

/* ---- lse ----------------------------------------------------------------------------- */

/* x_i in [-100, 100] as the eval draws them */
static json_t *random_vector_input(const char *field, int n, uint64_t seed, double lo, double hi)
{
    test_rng r = {seed};
    json_t *x = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(x, json_real(rng_uniform(&r, lo, hi)));
    return json_pack("{s:o}", field, x);
}

START_TEST(lse_is_the_log_of_the_sum_of_exponentials)
{
    json_t *input = random_vector_input("x", 50, 11, -100.0, 100.0);
    double x[50], a = -INFINITY;
    gb_check_flatten(json_object_get(input, "x"), x, 50);
    for (int i = 0; i < 50; i++)
        a = fmax(a, x[i]);
    long double sum = 0.0L; /* the closed form, in extended precision */
    for (int i = 0; i < 50; i++)
        sum += expl((long double)x[i] - a);
    double expected = (double)(a + logl(sum));
    ck_assert_rel(gb_check_scalar("lse", "primal", input), expected, 1e-15);

    json_t *grad = gb_check_call("lse", "gradient", input);
    double g[50];
    ck_assert_uint_eq(gb_check_flatten(grad, g, 50), 50);
    for (int i = 0; i < 50; i++) {
        ck_assert_rel(g[i], (double)(expl((long double)x[i] - a) / sum), 1e-14); /* softmax */
        double fd = gb_check_central_difference("lse", "primal", input, "x", (size_t)i, 1e-5, NULL);
        ck_assert_msg(fabs(g[i] - fd) <= 1e-8, "d lse/dx_%d = %.17g, central difference %.17g", i, g[i], fd);
    }
    json_decref(grad);
    json_decref(input);
}
END_TEST

START_TEST(lse_does_not_overflow)
{
    json_t *input = gb_check_json("{\"x\":[1000, 1000]}");
    ck_assert_rel(gb_check_scalar("lse", "primal", input), 1000.0 + log(2.0), 1e-15);
    json_t *grad = gb_check_call("lse", "gradient", input);
    double g[2];
    gb_check_flatten(grad, g, 2);
    ck_assert_rel(g[0], 0.5, 1e-15);
    ck_assert_rel(g[1], 0.5, 1e-15);
    json_decref(grad);
    json_decref(input);
}
END_TEST

/* ---- llsq ---------------------------------------------------------------------------- */

/* n = 3: t = (-1, 0, 1), s = (-1, 0, 1); m = 2:
 *   y = 1/2 [(-1 - x0 + x1)^2 + x0^2 + (1 - x0 - x1)^2],
 *   dy/dx0 = 3 x0,  dy/dx1 = 2 x1 - 2. */
START_TEST(llsq_matches_the_hand_derivation)
{
    json_t *input = gb_check_json("{\"x\":[0.25,-0.5],\"n\":3}");
    double x0 = 0.25, x1 = -0.5;
    double y = 0.5 * ((-1 - x0 + x1) * (-1 - x0 + x1) + x0 * x0 + (1 - x0 - x1) * (1 - x0 - x1));
    ck_assert_rel(gb_check_scalar("llsq", "primal", input), y, 1e-15);
    json_t *grad = gb_check_call("llsq", "gradient", input);
    double g[2];
    ck_assert_uint_eq(gb_check_flatten(grad, g, 2), 2);
    ck_assert_rel(g[0], 3 * x0, 1e-15);
    ck_assert_rel(g[1], 2 * x1 - 2, 1e-15);
    json_decref(grad);
    json_decref(input);
}
END_TEST

START_TEST(llsq_gradient_matches_central_differences)
{
    json_t *input = random_vector_input("x", 6, 5, -1.0, 1.0);
    json_object_set_new(input, "n", json_integer(40));
    json_t *grad = gb_check_call("llsq", "gradient", input);
    double g[6];
    ck_assert_uint_eq(gb_check_flatten(grad, g, 6), 6);
    for (size_t j = 0; j < 6; j++) {
        /* y is quadratic in x: the central difference is exact up to rounding */
        double fd = gb_check_central_difference("llsq", "primal", input, "x", j, 1e-3, NULL);
        ck_assert_rel(g[j], fd, 1e-9);
    }
    json_decref(grad);
    json_decref(input);
}
END_TEST

/* Both timing modes compute the same numbers: replay recomputes the recorded
 * graph, rebuild records it again. */
START_TEST(replay_and_rebuild_agree)
{
    const char *evals[][2] = {{"lse", "gradient"}, {"llsq", "gradient"}, {"lse", "primal"}, {"llsq", "primal"}};
    json_t *input = random_vector_input("x", 9, 3, -2.0, 2.0);
    json_object_set_new(input, "n", json_integer(17));
    json_object_set_new(input, "min_runs", json_integer(2));
    for (size_t i = 0; i < 4; i++)
        gb_check_modes_agree(evals[i][0], evals[i][1], input);
    json_decref(input);
}
END_TEST

Suite *gradbench_suite(void)
{
    Suite *s = suite_create("gradbench");
    TCase *protocol = tcase_create("protocol and timing");
    tcase_add_test(protocol, a_session_is_answered_line_by_line);
    tcase_add_test(protocol, min_seconds_repeats_the_runs);
    tcase_add_test(protocol, a_bad_line_is_answered_and_skipped);
    tcase_add_test(protocol, bad_inputs_name_the_field);
    tcase_add_test(protocol, errors_lead_with_the_eval);
    tcase_add_test(protocol, a_non_finite_answer_is_null);
    suite_add_tcase(s, protocol);
    TCase *evals = tcase_create("hello, lse, llsq");
    tcase_add_test(evals, hello_squares_and_doubles);
    tcase_add_test(evals, lse_is_the_log_of_the_sum_of_exponentials);
    tcase_add_test(evals, lse_does_not_overflow);
    tcase_add_test(evals, llsq_matches_the_hand_derivation);
    tcase_add_test(evals, llsq_gradient_matches_central_differences);
    tcase_add_test(evals, replay_and_rebuild_agree);
    suite_add_tcase(s, evals);
    return s;
}
