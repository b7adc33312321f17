/* csv.c -- read a numeric CSV file into an [R,C] tensor.
 * The file is read into memory, then parsed line by line: every field is
 * trimmed of spaces and tabs and must be a finite number; every data row has
 * the same number of fields. Line and column numbers in messages are
 * 1-based and count every line of the file, skipped ones included. */
#include "io_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_FIELD 255 /* characters in one field, after trimming */

/* Limits, so that a file with no end (/dev/zero, a pipe) or no newline
 * fails with a message instead of filling memory. */
#define CSV_MAX_LINE_BYTES ((size_t)4 << 20) /* one line, its newline excluded */
#define CSV_MAX_FILE_BYTES ((size_t)1 << 30) /* the whole file is shorter than this */

/* Count the lines in bytes[0, n) into *line and the length of the last
 * (unfinished) one into *line_len; false when that passes the line limit. */
static bool track_lines(const char *bytes, size_t n, size_t *line, size_t *line_len)
{
    const char *p = bytes, *end = bytes + n;
    for (const char *nl; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
        *line_len += (size_t)(nl - p);
        if (*line_len > CSV_MAX_LINE_BYTES) return false;
        *line_len = 0;
        ++*line;
    }
    *line_len += (size_t)(end - p);
    return *line_len <= CSV_MAX_LINE_BYTES;
}

/* The whole file, NUL-terminated, in an ag_malloc'ed buffer; NULL on error. */
char *ag_csv_read_all(const char *fn, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ag_set_last_error("%s: %s: cannot open: %s", fn, path, strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 4096, line = 1, line_len = 0;
    char *buf = ag_malloc(cap);
    bool too_long = false;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        too_long = !track_lines(buf + n, got, &line, &line_len);
        n += got;
        if (too_long || n < cap - 1) break; /* too long, end of file or error */
        if (2 * cap > CSV_MAX_FILE_BYTES) { /* the buffer stays within the limit */
            too_long = true;
            break;
        }
        char *bigger = ag_realloc(buf, 2 * cap);
        if (!bigger) ag_free(buf);
        buf = bigger;
        cap *= 2;
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf) {
        ag_set_last_error("%s: %s: out of memory reading the file", fn, path);
        return NULL;
    }
    if (too_long || failed) {
        if (line_len > CSV_MAX_LINE_BYTES)
            ag_set_last_error("%s: %s line %zu: the line is longer than %zu bytes (the "
                              "limit for one line)", fn, path, line, CSV_MAX_LINE_BYTES);
        else if (too_long)
            ag_set_last_error("%s: %s: the file reaches the limit of %zu bytes", fn, path,
                              CSV_MAX_FILE_BYTES - 1);
        else
            ag_set_last_error("%s: %s: read error at byte %zu", fn, path, n);
        ag_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

typedef struct csv_state {
    const char *path;
    size_t line;     /* 1-based number of the current line */
    size_t cols;     /* fields per row, 0 until the first row */
    size_t rows;
    double *values;  /* rows * cols, row-major */
    size_t cap;      /* doubles allocated in values */
} csv_state;

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Make room for one more row of s->cols values (geometric growth). */
static bool reserve_row(csv_state *s)
{
    if (s->cols > AG_MAX_ELEMENTS / (s->rows + 1)) {
        ag_set_last_error("ag_csv_load: %s line %zu: more than 2^40 values", s->path, s->line);
        return false;
    }
    size_t need = (s->rows + 1) * s->cols;
    if (need <= s->cap) return true;
    size_t cap = s->cap ? 2 * s->cap : 1024;
    while (cap < need) cap *= 2;
    double *bigger = ag_realloc(s->values, cap * sizeof(double));
    if (!bigger) {
        ag_set_last_error("ag_csv_load: %s line %zu: out of memory", s->path, s->line);
        return false;
    }
    s->values = bigger;
    s->cap = cap;
    return true;
}

/* Parse the field [b, e) (trimmed here) into *out. */
static bool parse_field(const csv_state *s, size_t column, const char *b, const char *e,
                        double *out)
{
    while (b < e && is_blank(*b)) b++;
    while (e > b && is_blank(e[-1])) e--;
    size_t n = (size_t)(e - b);
    if (n == 0) {
        ag_set_last_error("ag_csv_load: %s line %zu column %zu: empty field", s->path, s->line,
                          column);
        return false;
    }
    char field[MAX_FIELD + 1];
    if (n > MAX_FIELD) {
        ag_set_last_error("ag_csv_load: %s line %zu column %zu: field is longer than %d "
                          "characters", s->path, s->line, column, MAX_FIELD);
        return false;
    }
    memcpy(field, b, n);
    field[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(field, &end);
    if (end != field + n || !isfinite(v)) {
        char shown[AG_IO_SHOWN_SIZE]; /* CR, NUL and other control bytes escaped */
        ag_set_last_error("ag_csv_load: %s line %zu column %zu: '%s' is not a %snumber",
                          s->path, s->line, column, ag_io_shown(field, n, shown),
                          end == field + n ? "finite " : "");
        return false;
    }
    *out = v;
    return true;
}

/* One data line [b, e) (no newline, no CR): count its fields, check the
 * count, then parse each into the next row. */
static bool parse_line(csv_state *s, const char *b, const char *e)
{
    size_t fields = 1;
    for (const char *p = b; p < e; p++) fields += *p == ',';
    if (s->cols == 0) s->cols = fields;
    if (fields != s->cols) {
        ag_set_last_error("ag_csv_load: %s line %zu: expected %zu fields, found %zu", s->path,
                          s->line, s->cols, fields);
        return false;
    }
    if (s->rows == INT_MAX) {
        ag_set_last_error("ag_csv_load: %s line %zu: more than %d rows", s->path, s->line, INT_MAX);
        return false;
    }
    if (!reserve_row(s)) return false;
    double *row = s->values + s->rows * s->cols;
    const char *field = b;
    for (size_t k = 0; k < fields; k++) {
        const char *comma = field;
        while (comma < e && *comma != ',') comma++;
        if (!parse_field(s, k + 1, field, comma, &row[k])) return false;
        field = comma + 1;
    }
    s->rows++;
    return true;
}

/* Parse text[0, len) (NUL-terminated) after skipping skip_lines lines. */
static bool parse_text(csv_state *s, const char *text, size_t len, int skip_lines)
{
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 byte order mark */
    for (s->line = 1; p < end; s->line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol) eol = end;
        if (eol > p && eol[-1] == '\r') eol--;
        const char *q = p;
        while (q < eol && is_blank(*q)) q++;
        if (s->line > (size_t)skip_lines && q < eol && !parse_line(s, p, eol)) return false;
        p = next;
    }
    if (s->rows == 0) {
        ag_set_last_error("ag_csv_load: %s: no data rows (after skipping %d lines)", s->path,
                          skip_lines);
        return false;
    }
    return true;
}

ag_tensor *ag_csv_load(const char *path, int skip_lines)
{
    if (!path || skip_lines < 0) {
        ag_set_last_error("ag_csv_load: %s", path ? "skip_lines is negative" : "path is NULL");
        return NULL;
    }
    size_t len;
    char *text = ag_csv_read_all("ag_csv_load", path, &len);
    if (!text) return NULL;
    csv_state s = {.path = path};
    bool ok = parse_text(&s, text, len, skip_lines);
    ag_free(text);
    ag_shape shape;
    const char *why;
    if (ok && !ag_shape_make(&shape, 2, (int[]){(int)s.rows, (int)s.cols}, &why)) {
        ag_set_last_error("ag_csv_load: %s: %zu rows of %zu fields: %s", path, s.rows, s.cols, why);
        ok = false;
    }
    if (!ok) {
        ag_free(s.values);
        return NULL;
    }
    double *fit = ag_realloc(s.values, shape.size * sizeof(double)); /* give back the slack */
    if (fit) s.values = fit;
    ag_tensor *t = ag_tensor_adopt(&shape, s.values);
    if (!t) ag_set_last_error("ag_csv_load: %s: out of memory", path);
    return t;
}
