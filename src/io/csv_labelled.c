/* csv_labelled.c -- a labelled table: a header row of column names, numeric
 * feature columns and one label column (strings or numbers) mapped to class
 * indices, as pandas.read_csv followed by sklearn's LabelEncoder.
 *   classes derived: the distinct labels sorted (numerically when every
 *     label is a number, else by their bytes, which for UTF-8 is code point
 *     order), class k being the k-th: "setosa" < "versicolor" < "virginica";
 *     labels 0, 1, 2 stay 0, 1, 2;
 *   classes given (a checkpoint's): each label must be one of them (the same
 *     text, or the same number), its index that class's position.
 * Records come from csv_records.c (RFC 4180 quoting). */
#include "io_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FN "ag_csv_load_labelled"

/* One row's label while the classes are worked out. */
typedef struct label_row {
    char *text;
    double number; /* its value when numeric (NAN when not) */
    size_t row;
} label_row;

typedef struct labelled_state {
    ag_csv_reader r;
    ag_labelled_csv *d;
    size_t label_col;  /* in the file's columns */
    size_t n_cols;
    double *values;    /* rows x features */
    size_t rows, cap;
    label_row *labels; /* rows of them */
    size_t *lines;     /* each row's line, for messages */
} labelled_state;

/* The field as a finite number (strtod, the whole text); false if not. */
static bool to_number(const char *text, size_t len, double *out)
{
    if (len == 0) return false;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end != text + len || !isfinite(v)) return false;
    *out = v;
    return true;
}

static const char *column_name(const labelled_state *s, size_t col)
{
    return col < s->n_cols ? s->d->feature_names[col - (col > s->label_col)] : "";
}

/* The name of file column col (0-based) for a message. */
static const char *shown_column(const labelled_state *s, size_t col, char buf[AG_IO_SHOWN_SIZE])
{
    return ag_io_name(col == s->label_col ? s->d->label_name : column_name(s, col), buf);
}

static bool fail_row(const labelled_state *s, size_t line, size_t col, const char *what, const char *text,
                     size_t len)
{
    char name[AG_IO_SHOWN_SIZE], shown[AG_IO_SHOWN_SIZE];
    ag_set_last_error(FN ": %s line %zu column %zu ('%s'): %s%s%s%s", s->r.path, line, col + 1,
                      shown_column(s, col, name), text ? "'" : "", text ? ag_io_shown(text, len, shown) : "",
                      text ? "' " : "", what);
    return false;
}

/* ---- the header ----------------------------------------------------------- */

static bool read_header(labelled_state *s, const char *label_column)
{
    int got = ag_csv_read_record(&s->r);
    if (got <= 0) {
        if (got == 0) ag_set_last_error(FN ": %s: the file is empty (it needs a header row)", s->r.path);
        return false;
    }
    size_t n = s->r.n_fields, len;
    if (n < 2) {
        ag_set_last_error(FN ": %s line %zu: the header has %zu column; a labelled table needs a "
                          "label column and at least one feature column", s->r.path, s->r.record_line, n);
        return false;
    }
    s->n_cols = n;
    s->label_col = n - 1;
    char shown[AG_IO_SHOWN_SIZE];
    for (size_t k = 0; k < n; k++) {
        const char *name = ag_csv_field(&s->r, k, &len);
        if (len == 0) {
            ag_set_last_error(FN ": %s line %zu column %zu: empty column name", s->r.path,
                              s->r.record_line, k + 1);
            return false;
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp(ag_csv_field(&s->r, j, &len), name) == 0) {
                ag_set_last_error(FN ": %s line %zu: columns %zu and %zu are both named '%s'",
                                  s->r.path, s->r.record_line, j + 1, k + 1, ag_io_name(name, shown));
                return false;
            }
    }
    if (label_column) {
        size_t k = 0;
        while (k < n && strcmp(ag_csv_field(&s->r, k, &len), label_column) != 0) k++;
        if (k == n) {
            ag_set_last_error(FN ": %s line %zu: no column is named '%s' (the header's first is '%s', "
                              "its last '%s')", s->r.path, s->r.record_line, ag_io_name(label_column, shown),
                              ag_csv_field(&s->r, 0, &len), ag_csv_field(&s->r, n - 1, &len));
            return false;
        }
        s->label_col = k;
    }
    ag_labelled_csv *d = s->d;
    d->n_features = (int)(n - 1);
    d->feature_names = ag_calloc(n - 1, sizeof *d->feature_names);
    if (!d->feature_names) return false;
    for (size_t k = 0, f = 0; k < n; k++) {
        char *copy = ag_strdup(ag_csv_field(&s->r, k, &len));
        if (!copy) return false;
        if (k == s->label_col)
            d->label_name = copy;
        else
            d->feature_names[f++] = copy;
    }
    return true;
}

/* ---- the rows ---------------------------------------------------------------- */

static bool reserve_row(labelled_state *s)
{
    size_t features = s->n_cols - 1;
    if (s->rows == INT_MAX || features > AG_MAX_ELEMENTS / (s->rows + 1)) {
        ag_set_last_error(FN ": %s line %zu: too many rows", s->r.path, s->r.record_line);
        return false;
    }
    if (s->rows < s->cap) return true;
    size_t cap = s->cap ? 2 * s->cap : 256;
    double *values = ag_realloc(s->values, cap * features * sizeof *values);
    if (values) s->values = values;
    label_row *labels = values ? ag_realloc(s->labels, cap * sizeof *labels) : NULL;
    if (labels) s->labels = labels;
    size_t *lines = labels ? ag_realloc(s->lines, cap * sizeof *lines) : NULL;
    if (!lines) {
        ag_set_last_error(FN ": %s line %zu: out of memory", s->r.path, s->r.record_line);
        return false;
    }
    s->lines = lines;
    s->cap = cap;
    return true;
}

static bool read_row(labelled_state *s)
{
    size_t line = s->r.record_line, len;
    if (s->r.n_fields != s->n_cols) {
        ag_set_last_error(FN ": %s line %zu: expected %zu fields (as the header has), found %zu",
                          s->r.path, line, s->n_cols, s->r.n_fields);
        return false;
    }
    if (!reserve_row(s)) return false;
    double *out = s->values + s->rows * (s->n_cols - 1);
    for (size_t k = 0; k < s->n_cols; k++) {
        const char *text = ag_csv_field(&s->r, k, &len);
        if (k == s->label_col) continue;
        if (len == 0) return fail_row(s, line, k, "empty field", NULL, 0);
        if (!to_number(text, len, out++)) return fail_row(s, line, k, "is not a finite number", text, len);
    }
    const char *text = ag_csv_field(&s->r, s->label_col, &len);
    if (len == 0) return fail_row(s, line, s->label_col, "empty label", NULL, 0);
    label_row *l = &s->labels[s->rows];
    *l = (label_row){ag_strdup(text), NAN, s->rows};
    if (!l->text) {
        ag_set_last_error(FN ": %s line %zu: out of memory", s->r.path, line);
        return false;
    }
    to_number(text, len, &l->number);
    s->lines[s->rows++] = line;
    return true;
}

/* ---- classes ------------------------------------------------------------------ */

static bool all_numeric(const labelled_state *s)
{
    for (size_t i = 0; i < s->rows; i++)
        if (isnan(s->labels[i].number)) return false;
    return true;
}

/* Order for the derived classes: by number (or text), then by row, so the
 * first of a run of equal labels is its earliest row. */
static int by_number(const void *a, const void *b)
{
    const label_row *x = a, *y = b;
    if (x->number != y->number) return x->number < y->number ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int by_text(const void *a, const void *b)
{
    const label_row *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Sort, number the distinct labels, and name each class by the spelling of
 * its earliest row. */
static bool derive_classes(labelled_state *s, double *labels)
{
    bool numeric = all_numeric(s);
    qsort(s->labels, s->rows, sizeof *s->labels, numeric ? by_number : by_text);
    ag_labelled_csv *d = s->d;
    d->class_names = ag_calloc(s->rows, sizeof *d->class_names);
    if (!d->class_names) return false;
    for (size_t i = 0; i < s->rows; i++) {
        const label_row *l = &s->labels[i];
        bool same = i > 0 && (numeric ? l->number == l[-1].number : strcmp(l->text, l[-1].text) == 0);
        if (!same && !(d->class_names[d->n_classes++] = ag_strdup(l->text))) return false;
        labels[l->row] = d->n_classes - 1;
    }
    return true;
}

/* Each label's index among the given classes. */
static bool match_classes(labelled_state *s, const char *const *classes, int n_classes, double *labels)
{
    ag_labelled_csv *d = s->d;
    d->class_names = ag_calloc((size_t)n_classes, sizeof *d->class_names);
    if (!d->class_names) return false;
    for (int k = 0; k < n_classes; k++)
        if (!(d->class_names[d->n_classes++] = ag_strdup(classes[k]))) return false;
    for (size_t i = 0; i < s->rows; i++) {
        const label_row *l = &s->labels[i];
        int found = -1;
        for (int k = 0; k < n_classes && found < 0; k++) /* the same text first */
            if (strcmp(classes[k], l->text) == 0) found = k;
        for (int k = 0; k < n_classes && found < 0 && !isnan(l->number); k++) { /* then the same number */
            double v;
            if (to_number(classes[k], strlen(classes[k]), &v) && v == l->number) found = k;
        }
        if (found < 0) {
            char list[160];
            size_t at = 0;
            for (int k = 0; k < n_classes && at < sizeof list - 8; k++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%.40s", k ? ", " : "", classes[k]);
            char what[AG_ERROR_SIZE / 2];
            snprintf(what, sizeof what, "is not one of the %d classes given (%s)", n_classes, list);
            return fail_row(s, s->lines[i], s->label_col, what, l->text, strlen(l->text));
        }
        labels[i] = found;
    }
    return true;
}

/* ---- the whole load --------------------------------------------------------------- */

void ag_labelled_csv_free(ag_labelled_csv *d)
{
    if (!d) return;
    ag_tensor_free(d->features);
    ag_tensor_free(d->labels);
    for (int k = 0; d->feature_names && k < d->n_features; k++) ag_free(d->feature_names[k]);
    ag_free(d->feature_names);
    ag_free(d->label_name);
    ag_strings_free(d->class_names, (size_t)d->n_classes);
    ag_free(d);
}

static bool load(labelled_state *s, const char *label_column, const char *const *classes, int n_classes)
{
    if (!read_header(s, label_column)) return false;
    int got;
    while ((got = ag_csv_read_record(&s->r)) > 0)
        if (!read_row(s)) return false;
    if (got < 0) return false;
    if (s->rows == 0) {
        ag_set_last_error(FN ": %s: no data rows after the header", s->r.path);
        return false;
    }
    ag_labelled_csv *d = s->d;
    int features = d->n_features, rows = (int)s->rows;
    d->features = ag_tensor_from(2, (int[]){rows, features}, s->values);
    d->labels = d->features ? ag_tensor_zeros(1, (int[]){rows}) : NULL;
    if (!d->labels) return false;
    return classes ? match_classes(s, classes, n_classes, ag_tensor_data(d->labels))
                   : derive_classes(s, ag_tensor_data(d->labels));
}

ag_labelled_csv *ag_csv_load_labelled(const char *path, const char *label_column,
                                      const char *const *classes, int n_classes)
{
    if (!path || (classes && n_classes <= 0) || (!classes && n_classes != 0)) {
        ag_set_last_error(FN ": %s", !path ? "path is NULL"
                                           : classes ? "classes given with n_classes <= 0"
                                                     : "n_classes must be 0 when classes is NULL");
        return NULL;
    }
    for (int k = 0; classes && k < n_classes; k++)
        if (!classes[k]) {
            ag_set_last_error(FN ": classes[%d] is NULL", k);
            return NULL;
        }
    size_t len;
    char *text = ag_csv_read_all(FN, path, &len);
    if (!text) return NULL;
    labelled_state s = {.d = ag_calloc(1, sizeof(ag_labelled_csv))};
    ag_csv_reader_init(&s.r, FN, path, text, len);
    bool ok = s.d && load(&s, label_column, classes, n_classes);
    if (!ok && strncmp(ag_last_error(), FN ":", strlen(FN ":")) != 0) /* an allocation's message */
        ag_set_last_error(FN ": %s: out of memory", path);
    for (size_t i = 0; i < s.rows; i++) ag_free(s.labels[i].text);
    ag_free(s.labels);
    ag_free(s.lines);
    ag_free(s.values);
    ag_csv_reader_free(&s.r);
    ag_free(text);
    if (!ok) {
        ag_labelled_csv_free(s.d);
        return NULL;
    }
    return s.d;
}
