/* gb_check.c -- see gb_check.h */
#include "gb_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

json_t *gb_check_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(j != NULL, "bad JSON in a test: %s", jerr.text);
    return j;
}

static json_t *answer_of(const char *eval, const char *function, const json_t *input, gb_mode mode)
{
    const gb_eval *e = gb_find_eval(eval);
    ck_assert_msg(e != NULL, "no eval %s", eval);
    json_t *answer = gb_evaluate(e, function, input, mode);
    ck_assert_ptr_nonnull(answer);
    return answer;
}

json_t *gb_check_call_mode(const char *eval, const char *function, const json_t *input, gb_mode mode)
{
    json_t *answer = answer_of(eval, function, input, mode);
    ck_assert_msg(json_is_true(json_object_get(answer, "success")), "%s %s failed: %s", eval, function,
                  json_string_value(json_object_get(answer, "error")));
    json_t *output = json_incref(json_object_get(answer, "output"));
    json_decref(answer);
    return output;
}

json_t *gb_check_call(const char *eval, const char *function, const json_t *input)
{
    return gb_check_call_mode(eval, function, input, GB_REPLAY);
}

double gb_check_scalar(const char *eval, const char *function, const json_t *input)
{
    json_t *output = gb_check_call(eval, function, input);
    ck_assert_msg(json_is_number(output), "%s %s: the output is not a number", eval, function);
    double v = json_number_value(output);
    json_decref(output);
    return v;
}

char *gb_check_error(const char *eval, const char *function, const json_t *input)
{
    json_t *answer = answer_of(eval, function, input, GB_REPLAY);
    ck_assert_msg(json_is_false(json_object_get(answer, "success")), "%s %s succeeded on bad input", eval,
                  function);
    const char *message = json_string_value(json_object_get(answer, "error"));
    ck_assert_ptr_nonnull(message);
    char *copy = strdup(message);
    json_decref(answer);
    return copy;
}

void gb_check_modes_agree(const char *eval, const char *function, const json_t *input)
{
    json_t *replay = gb_check_call_mode(eval, function, input, GB_REPLAY);
    json_t *rebuild = gb_check_call_mode(eval, function, input, GB_REBUILD);
    ck_assert_msg(json_equal(replay, rebuild), "%s %s: replay and rebuild differ", eval, function);
    json_decref(replay);
    json_decref(rebuild);
}

void gb_check_errors_name(size_t n, const char *const cases[][3], const char *const named[])
{
    for (size_t i = 0; i < n; i++) {
        json_t *input = gb_check_json(cases[i][2]);
        char *message = gb_check_error(cases[i][0], cases[i][1], input);
        ck_assert_msg(strstr(message, named[i]) != NULL, "case %zu: \"%s\" does not name %s", i, message, named[i]);
        free(message);
        json_decref(input);
    }
}

static size_t flatten_into(const json_t *a, double *out, size_t cap, size_t at)
{
    if (json_is_number(a)) {
        if (at < cap)
            out[at] = json_number_value(a);
        return at + 1;
    }
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) at = flatten_into(x, out, cap, at);
    return at;
}

size_t gb_check_flatten(const json_t *array, double *out, size_t cap) { return flatten_into(array, out, cap, 0); }

/* Finds the index-th number (row-major) of a nested array: its array and
 * position there. *index counts down as numbers pass. */
static bool find_number(json_t *a, size_t *index, json_t **parent, size_t *pos)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        if (json_is_number(x)) {
            if ((*index)-- == 0) {
                *parent = a;
                *pos = i;
                return true;
            }
        } else if (find_number(x, index, parent, pos)) {
            return true;
        }
    }
    return false;
}

/* A copy of input with delta added to the index-th number of field (field
 * may be a bare number, index 0). */
static json_t *perturbed(const json_t *input, const char *field, size_t index, double delta)
{
    json_t *copy = json_deep_copy(input), *f = json_object_get(copy, field), *parent;
    size_t left = index, pos;
    if (json_is_number(f) && index == 0) {
        json_object_set_new(copy, field, json_real(json_number_value(f) + delta));
        return copy;
    }
    ck_assert_msg(json_is_array(f) && find_number(f, &left, &parent, &pos), "input has no number %zu in \"%s\"",
                  index, field);
    json_array_set_new(parent, pos, json_real(json_number_value(json_array_get(parent, pos)) + delta));
    return copy;
}

static double value_with(const char *eval, const char *function, const json_t *input, const char *field,
                         size_t index, double delta, double (*read)(const json_t *output))
{
    json_t *copy = perturbed(input, field, index, delta);
    double v;
    if (read) {
        json_t *output = gb_check_call(eval, function, copy);
        v = read(output);
        json_decref(output);
    } else {
        v = gb_check_scalar(eval, function, copy);
    }
    json_decref(copy);
    return v;
}

double gb_check_central_difference(const char *eval, const char *function, const json_t *input,
                                   const char *field, size_t index, double h,
                                   double (*read)(const json_t *output))
{
    double up = value_with(eval, function, input, field, index, h, read);
    double down = value_with(eval, function, input, field, index, -h, read);
    return (up - down) / (2.0 * h);
}
