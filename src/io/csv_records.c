/* csv_records.c -- split CSV text into records of fields, RFC 4180:
 *   record = field *("," field), ended by LF or CRLF (or the end of the text);
 *   field  = unquoted text without '"', ',' or a line break, or
 *            '"' any text, "" standing for one '"', commas and line breaks
 *            included, '"'.
 * As is usual in practice (and pandas does), spaces and tabs around a field
 * are dropped (inside the quotes they are kept), lines holding only blanks
 * are skipped, and a UTF-8 byte order mark at the start is ignored. Strict
 * otherwise: a quote inside an unquoted field, text after a closing quote,
 * a quote never closed and a NUL byte are errors naming the line and the
 * field's column (1-based). */
#include "io_internal.h"

#include <stdarg.h>
#include <stdio.h>

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

void ag_csv_reader_init(ag_csv_reader *r, const char *fn, const char *path, const char *text, size_t len)
{
    *r = (ag_csv_reader){.fn = fn, .path = path, .p = text, .end = text + len, .line = 1};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) r->p += 3;
}

void ag_csv_reader_free(ag_csv_reader *r)
{
    ag_free(r->text);
    ag_free(r->starts);
    ag_free(r->quoted);
}

/* "fn: path line L column C: ..." and false. */
static bool fail_at(const ag_csv_reader *r, size_t line, size_t column, const char *fmt, ...)
{
    char msg[AG_ERROR_SIZE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    ag_set_last_error("%s: %s line %zu column %zu: %s", r->fn, r->path, line, column, msg);
    return false;
}

static bool put_char(ag_csv_reader *r, char c)
{
    if (r->text_len == r->text_cap) {
        size_t cap = r->text_cap ? 2 * r->text_cap : 256;
        char *bigger = ag_realloc(r->text, cap);
        if (!bigger) {
            ag_set_last_error("%s: %s line %zu: out of memory", r->fn, r->path, r->line);
            return false;
        }
        r->text = bigger;
        r->text_cap = cap;
    }
    r->text[r->text_len++] = c;
    return true;
}

/* Start field number r->n_fields at the current end of r->text. */
static bool start_field(ag_csv_reader *r, bool quoted)
{
    if (r->n_fields == r->fields_cap) {
        size_t cap = r->fields_cap ? 2 * r->fields_cap : 16;
        size_t *starts = ag_realloc(r->starts, cap * sizeof *starts);
        if (starts) r->starts = starts;
        bool *q = starts ? ag_realloc(r->quoted, cap * sizeof *q) : NULL;
        if (!q) {
            ag_set_last_error("%s: %s line %zu: out of memory", r->fn, r->path, r->line);
            return false;
        }
        r->quoted = q;
        r->fields_cap = cap;
    }
    r->starts[r->n_fields] = r->text_len;
    r->quoted[r->n_fields++] = quoted;
    return true;
}

/* A quoted field, r->p just after its opening quote; up to its closing one. */
static bool read_quoted(ag_csv_reader *r, size_t column)
{
    size_t opened = r->line;
    for (;;) {
        if (r->p == r->end)
            return fail_at(r, opened, column, "the quoted field opened here is never closed");
        char c = *r->p++;
        if (c == '"') {
            if (r->p < r->end && *r->p == '"') {
                r->p++; /* "" is one quote */
            } else {
                return true;
            }
        } else if (c == '\n') {
            r->line++;
        } else if (c == '\0') {
            return fail_at(r, r->line, column, "NUL byte in a field");
        }
        if (!put_char(r, c)) return false;
    }
}

/* An unquoted field: up to ',', a line break or the end; trailing blanks
 * (and a CR before LF) dropped. */
static bool read_unquoted(ag_csv_reader *r, size_t column)
{
    size_t kept = r->text_len; /* the length without trailing blanks */
    while (r->p < r->end && *r->p != ',' && *r->p != '\n') {
        char c = *r->p++;
        if (c == '"')
            return fail_at(r, r->line, column, "a quote inside an unquoted field (quote the whole "
                           "field and double the quote: \"a \"\"b\"\"\")");
        if (c == '\0') return fail_at(r, r->line, column, "NUL byte in a field");
        if (!put_char(r, c)) return false;
        if (!is_blank(c) && !(c == '\r' && (r->p == r->end || *r->p == '\n'))) kept = r->text_len;
    }
    r->text_len = kept;
    return true;
}

/* After a field: blanks, then ',' (true, *more), a line break or the end. */
static bool end_field(ag_csv_reader *r, size_t column, bool *more)
{
    while (r->p < r->end && is_blank(*r->p)) r->p++;
    if (r->p < r->end && *r->p == '\r' && (r->p + 1 == r->end || r->p[1] == '\n')) r->p++;
    *more = r->p < r->end && *r->p == ',';
    if (*more || r->p == r->end) {
        if (*more) r->p++;
        return true;
    }
    if (*r->p == '\n') {
        r->p++;
        r->line++;
        return true;
    }
    char shown[AG_IO_SHOWN_SIZE];
    return fail_at(r, r->line, column, "'%s' after the closing quote (expected a comma or the end "
                   "of the line)", ag_io_shown(r->p, 1, shown));
}

/* Skip lines that hold only blanks (and a CR). */
static void skip_blank_lines(ag_csv_reader *r)
{
    for (;;) {
        const char *q = r->p;
        while (q < r->end && (is_blank(*q) || *q == '\r')) q++;
        if (q < r->end && *q != '\n') return;
        if (q == r->end) {
            r->p = q;
            return;
        }
        r->p = q + 1;
        r->line++;
    }
}

int ag_csv_read_record(ag_csv_reader *r)
{
    skip_blank_lines(r);
    r->n_fields = r->text_len = 0;
    if (r->p == r->end) return 0;
    r->record_line = r->line;
    for (bool more = true; more;) {
        size_t column = r->n_fields + 1;
        while (r->p < r->end && is_blank(*r->p)) r->p++;
        bool quoted = r->p < r->end && *r->p == '"';
        if (quoted) r->p++;
        if (!start_field(r, quoted)) return -1;
        if (!(quoted ? read_quoted(r, column) : read_unquoted(r, column))) return -1;
        if (!put_char(r, '\0') || !end_field(r, column, &more)) return -1;
    }
    return 1;
}

const char *ag_csv_field(const ag_csv_reader *r, size_t k, size_t *len)
{
    size_t next = k + 1 < r->n_fields ? r->starts[k + 1] : r->text_len;
    *len = next - r->starts[k] - 1; /* its NUL not counted */
    return r->text + r->starts[k];
}
