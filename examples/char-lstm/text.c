/* text.c -- reading the fortunes into one shuffled text of symbol indices. */
#include "text.h"

#include <agrad.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHUFFLE_SEED 1977 /* the fortunes' order: fixed, so every run sees one text */

/* A growing byte buffer. */
typedef struct buffer {
    char *data;
    size_t length, capacity;
} buffer;

static bool buffer_reserve(buffer *b, size_t more)
{
    if (b->length + more <= b->capacity) return true;
    size_t cap = b->capacity ? b->capacity : 1 << 16;
    while (cap < b->length + more) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return false;
    b->data = p;
    b->capacity = cap;
    return true;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The databases' names in dir, sorted; NULL on failure. */
static char **database_names(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8") ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *names);
            if (!p) break;
            names = p;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
}

/* A fortune: [start, start + length) of the kept bytes. */
typedef struct span {
    size_t start, length;
} span;

typedef struct fortunes {
    buffer bytes;
    span *spans;
    size_t n, cap;
} fortunes;

static bool keep_byte(int ch) { return ch == '\t' || ch == '\n' || (ch >= 32 && ch <= 126); }

static bool add_fortune(fortunes *f, size_t start)
{
    if (f->bytes.length == start) return true; /* empty: two "%" lines in a row */
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        span *p = realloc(f->spans, cap * sizeof *p);
        if (!p) return false;
        f->spans = p;
        f->cap = cap;
    }
    f->spans[f->n++] = (span){start, f->bytes.length - start};
    return true;
}

/* Append the fortunes of one database, line by line: a line "%" ends one. */
static bool read_database(const char *path, fortunes *f)
{
    FILE *in = fopen(path, "rb");
    if (!in) return false;
    char line[8192];
    size_t start = f->bytes.length;
    bool ok = true;
    while (ok && fgets(line, sizeof line, in)) {
        if (!strcmp(line, "%\n") || !strcmp(line, "%")) {
            ok = add_fortune(f, start);
            start = f->bytes.length;
            continue;
        }
        size_t n = strlen(line);
        ok = buffer_reserve(&f->bytes, n);
        for (size_t i = 0; ok && i < n; i++)
            if (keep_byte((unsigned char)line[i])) f->bytes.data[f->bytes.length++] = line[i];
    }
    ok = ok && add_fortune(f, start);
    fclose(in);
    return ok;
}

/* Fisher-Yates with agrad's seeded generator */
static void shuffle(span *s, size_t n)
{
    ag_rng r = ag_rng_new(SHUFFLE_SEED);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ag_rng_below(&r, i);
        span t = s[i - 1];
        s[i - 1] = s[j];
        s[j] = t;
    }
}

/* The shuffled fortunes joined, each followed by "%\n", as indices. */
static bool encode(const fortunes *f, corpus *c)
{
    size_t total = 0;
    for (size_t i = 0; i < f->n; i++) total += f->spans[i].length + 2;
    c->symbols = malloc(total);
    if (!c->symbols) return false;
    int index_of[256];
    bool present[256] = {false};
    present['%'] = present['\n'] = true;
    for (size_t i = 0; i < f->bytes.length; i++) present[(unsigned char)f->bytes.data[i]] = true;
    c->n_symbols = 0;
    for (int b = 0; b < 256; b++) {
        index_of[b] = present[b] ? c->n_symbols : -1;
        if (present[b]) c->alphabet[c->n_symbols++] = (char)b;
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        for (size_t j = 0; j < f->spans[i].length; j++)
            c->symbols[k++] = (unsigned char)index_of[(unsigned char)f->bytes.data[f->spans[i].start + j]];
        c->symbols[k++] = (unsigned char)index_of['%'];
        c->symbols[k++] = (unsigned char)index_of['\n'];
    }
    c->length = total;
    return true;
}

static void split(corpus *c, double valid_fraction, double held_fraction)
{
    size_t held = (size_t)(held_fraction * c->length), valid = (size_t)(valid_fraction * c->length);
    size_t train = c->length - held - valid;
    c->train = (text_part){c->symbols, train};
    c->valid = (text_part){c->symbols + train, valid};
    c->held_out = (text_part){c->symbols + train + valid, held};
}

bool corpus_load(const char *dir, double valid_fraction, double held_fraction, corpus *c)
{
    memset(c, 0, sizeof *c);
    int n_names = 0;
    char **names = database_names(dir, &n_names);
    fortunes f = {0};
    bool ok = names && n_names > 0;
    for (int i = 0; ok && i < n_names; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ok = names[i] && read_database(path, &f);
        if (!ok) fprintf(stderr, "char-lstm: cannot read %s\n", path);
    }
    if (ok) {
        shuffle(f.spans, f.n);
        ok = f.n > 0 && encode(&f, c);
    }
    if (ok) {
        c->n_files = n_names;
        c->n_fortunes = (int)f.n;
        split(c, valid_fraction, held_fraction);
    } else {
        fprintf(stderr, "char-lstm: no fortunes read from %s\n", dir);
    }
    for (int i = 0; i < n_names; i++) free(names[i]);
    free(names);
    free(f.bytes.data);
    free(f.spans);
    return ok;
}

void corpus_free(corpus *c)
{
    free(c->symbols);
    c->symbols = NULL;
}

int corpus_symbol(const corpus *c, char ch)
{
    for (int i = 0; i < c->n_symbols; i++)
        if (c->alphabet[i] == ch) return i;
    return -1;
}
