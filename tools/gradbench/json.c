/* json.c -- reading an eval's input fields and writing its output (jansson),
 * with errors that name the field. */
#include "gradbench.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool gb_fail(gb_error *err, const char *fmt, ...)
{
    if (err && err->message[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool gb_fail_graph(gb_error *err, ag_graph *g, const char *what)
{
    const char *why = g ? ag_graph_error(g) : NULL;
    if (!why || !*why)
        why = ag_last_error();
    return gb_fail(err, "%s: %s", what, why && *why ? why : "failed");
}

static const json_t *field_of(const json_t *obj, const char *field, gb_error *err)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;
    if (!v)
        gb_fail(err, "input: no field \"%s\"", field);
    return v;
}

bool gb_get_int(const json_t *obj, const char *field, long *value, gb_error *err)
{
    const json_t *v = field_of(obj, field, err);
    if (!v)
        return false;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < LONG_MIN || i > LONG_MAX)
            return gb_fail(err, "input: \"%s\" is out of range", field);
        *value = (long)i;
        return true;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9.0e15) {
        *value = (long)json_real_value(v);
        return true;
    }
    return gb_fail(err, "input: \"%s\" is not an integer", field);
}

bool gb_get_double(const json_t *obj, const char *field, double *value, gb_error *err)
{
    const json_t *v = field_of(obj, field, err);
    if (!v)
        return false;
    if (!json_is_number(v))
        return gb_fail(err, "input: \"%s\" is not a number", field);
    *value = json_number_value(v);
    return true;
}

/* Copies the numbers of array a into out[0 .. n-1]; false if one is not a number. */
static bool copy_numbers(const json_t *a, double *out, const char *field, size_t row, gb_error *err)
{
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) {
        if (!json_is_number(x))
            return gb_fail(err, "input: \"%s\"[%zu][%zu] is not a number", field, row, i);
        out[i] = json_number_value(x);
    }
    return true;
}

bool gb_get_vector(const json_t *obj, const char *field, double **data, size_t *n, gb_error *err)
{
    const json_t *v = field_of(obj, field, err);
    *data = NULL;
    if (!v)
        return false;
    if (!json_is_array(v))
        return gb_fail(err, "input: \"%s\" is not an array", field);
    *n = json_array_size(v);
    *data = malloc((*n ? *n : 1) * sizeof **data);
    if (!*data)
        return gb_fail(err, "input: \"%s\": out of memory", field);
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_number(x)) {
            free(*data);
            *data = NULL;
            return gb_fail(err, "input: \"%s\"[%zu] is not a number", field, i);
        }
        (*data)[i] = json_number_value(x);
    }
    return true;
}

bool gb_get_matrix(const json_t *obj, const char *field, double **data, size_t *rows, size_t *cols,
                   gb_error *err)
{
    const json_t *v = field_of(obj, field, err);
    *data = NULL;
    if (!v)
        return false;
    if (!json_is_array(v))
        return gb_fail(err, "input: \"%s\" is not an array of arrays", field);
    *rows = json_array_size(v);
    *cols = *rows ? json_array_size(json_array_get(v, 0)) : 0;
    size_t count = *rows * *cols;
    *data = malloc((count ? count : 1) * sizeof **data);
    if (!*data)
        return gb_fail(err, "input: \"%s\": out of memory", field);
    for (size_t r = 0; r < *rows; r++) {
        const json_t *row = json_array_get(v, r);
        bool ok = json_is_array(row) && json_array_size(row) == *cols;
        if (!json_is_array(row))
            gb_fail(err, "input: \"%s\"[%zu] is not an array (of numbers)", field, r);
        else if (!ok)
            gb_fail(err, "input: \"%s\"[%zu] has %zu numbers, row 0 has %zu", field, r, json_array_size(row), *cols);
        if (!ok || !copy_numbers(row, *data + r * *cols, field, r, err)) {
            free(*data);
            *data = NULL;
            return false;
        }
    }
    return true;
}

json_t *gb_json_number(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *gb_json_vector(const double *data, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, gb_json_number(data[i]));
    return a;
}

json_t *gb_json_matrix(const double *data, size_t rows, size_t cols)
{
    json_t *a = json_array();
    for (size_t r = 0; a && r < rows; r++)
        json_array_append_new(a, gb_json_vector(data + r * cols, cols));
    return a;
}

ag_tensor *gb_tensor(int ndim, const int *shape, const double *data, gb_error *err)
{
    ag_tensor *t = ag_tensor_from(ndim, shape, data);
    if (!t)
        gb_fail(err, "tensor: %s", ag_last_error());
    return t;
}
