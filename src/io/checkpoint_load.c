/* checkpoint_load.c -- read .safetensors checkpoints (F64, F32, F16, BF16,
 * each widened exactly to double), checking every field before any tensor
 * is created or changed:
 *   file >= 8 bytes; header length <= 100 MB and <= the bytes after it;
 *   header a JSON object (no duplicate keys); "__metadata__" an object of
 *   strings; each entry {"dtype":D,"shape":[dims],"data_offsets":[b,e]}
 *   with a valid shape (ag_shape_make) and e - b == width(D) x elements;
 *   the ranges, in offset order, tile the data section exactly (no overlap,
 *   no gap, nothing past the end, nothing left over).
 * A training checkpoint (metadata "agrad.optimizer") also holds the
 * optimiser's buffers "__optimizer__.<k>.<name>": they are matched to the
 * optimiser, not the store, and its "agrad.*" metadata is parsed by
 * training.c; everything is checked before anything changes.
 * The store's metadata comes back from __metadata__ (metadata.c says which
 * keys), and "agrad.state" says which tensors ag_checkpoint_read makes state.
 * The limits are those of io_internal.h, which save checks too. Names are
 * matched to the store through its hash table (linear in the tensors).
 * jansson is used with its own allocator; its out-of-memory is told apart
 * from bad JSON by json_error_code. */
#include "io_internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* A tensor name for a message (escaped, long ones cut); two slots so one
 * message can show two names. */
static const char *shown(const char *name, int slot)
{
    static _Thread_local char buf[2][AG_IO_SHOWN_SIZE];
    return ag_io_name(name, buf[slot]);
}

typedef enum ck_dtype { CK_F64, CK_F32, CK_F16, CK_BF16 } ck_dtype;

/* The dtypes read, their safetensors names and widths in bytes. */
static const struct {
    const char *name;
    int width;
} dtypes[] = {[CK_F64] = {"F64", 8}, [CK_F32] = {"F32", 4}, [CK_F16] = {"F16", 2}, [CK_BF16] = {"BF16", 2}};

typedef struct ck_entry {
    const char *name; /* points into the parsed JSON header */
    ck_dtype dtype;
    ag_shape shape;
    uint64_t begin, end; /* byte range in the data section */
    double *values;      /* shape.size doubles once read */
} ck_entry;

typedef struct ck_file {
    const char *fn, *path;
    FILE *f;
    uint64_t size; /* bytes in the file */
    uint64_t hlen; /* bytes of JSON header */
    json_t *root;
    ck_entry *entries; /* in data order after check_layout */
    size_t n;
    bool skip_buffers; /* a training file: "__optimizer__." entries are not the store's */
} ck_file;

/* Set "fn: path: <message>" and return false. */
static bool fail(const ck_file *c, const char *fmt, ...)
{
    char msg[AG_ERROR_SIZE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    ag_set_last_error("%s: %s: %s", c->fn, c->path, msg);
    return false;
}

static bool open_file(ck_file *c)
{
    struct stat st;
    c->f = fopen(c->path, "rb");
    if (!c->f) return fail(c, "cannot open: %s", strerror(errno));
    if (fstat(fileno(c->f), &st) != 0) return fail(c, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail(c, "not a regular file");
    c->size = (uint64_t)st.st_size;
    return true;
}

static bool read_bytes(ck_file *c, void *buf, size_t n, uint64_t offset)
{
    if (fread(buf, 1, n, c->f) == n) return true;
    return fail(c, "read of %zu bytes at byte %llu failed (file changed?)", n,
                (unsigned long long)offset);
}

/* Header length (u64 LE at byte 0) and the JSON object after it. */
static bool read_header(ck_file *c)
{
    unsigned char len[8];
    if (c->size < 8)
        return fail(c, "file is %llu bytes, too short for the 8-byte header length",
                    (unsigned long long)c->size);
    if (!read_bytes(c, len, 8, 0)) return false;
    c->hlen = ag_load_le64(len);
    char limit[32];
    if (c->hlen > ag_ckpt_max_header())
        return fail(c, "byte 0: header length %llu is over the %s limit",
                    (unsigned long long)c->hlen, ag_ckpt_limit_text(limit));
    if (c->hlen > c->size - 8)
        return fail(c, "byte 0: header length %llu exceeds the %llu bytes after it",
                    (unsigned long long)c->hlen, (unsigned long long)(c->size - 8));
    char *text = ag_malloc(c->hlen);
    if (!text) return fail(c, "out of memory for the %llu-byte header", (unsigned long long)c->hlen);
    bool ok = read_bytes(c, text, c->hlen, 8);
    json_error_t err;
    if (ok) {
        c->root = json_loadb(text, c->hlen, JSON_REJECT_DUPLICATES, &err);
        /* jansson gives every syntax error a message; an empty one means an
         * allocation failed before parsing started */
        if (!c->root && (json_error_code(&err) == json_error_out_of_memory || !err.text[0]))
            ok = fail(c, "out of memory while parsing the JSON header");
        else if (!c->root)
            ok = fail(c, "byte %llu: invalid JSON header: %s",
                      (unsigned long long)(8 + (err.position > 0 ? err.position : 0)), err.text);
        else if (!json_is_object(c->root))
            ok = fail(c, "the JSON header is not an object");
    }
    ag_free(text);
    return ok;
}

static bool check_metadata(const ck_file *c, json_t *meta)
{
    const char *key;
    json_t *value;
    if (!json_is_object(meta)) return fail(c, "__metadata__ is not an object");
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return fail(c, "__metadata__ value of '%s' is not a string", shown(key, 0));
    }
    return true;
}

/* A JSON integer in [0, max] into *out. */
static bool get_uint(json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return *out <= max;
}

static bool parse_shape(const ck_file *c, const char *name, json_t *arr, ag_shape *shape)
{
    int dims[AG_MAX_DIMS];
    size_t nd = json_array_size(arr);
    if (!json_is_array(arr) || nd > AG_MAX_DIMS)
        return fail(c, "tensor '%s': shape must be an array of at most %d integers", shown(name, 0),
                    AG_MAX_DIMS);
    for (size_t d = 0; d < nd; d++) {
        uint64_t v;
        if (!get_uint(json_array_get(arr, d), INT_MAX, &v))
            return fail(c, "tensor '%s': shape[%zu] is not an integer in [0, %d]", shown(name, 0), d, INT_MAX);
        dims[d] = (int)v;
    }
    const char *why;
    if (!ag_shape_make(shape, (int)nd, dims, &why))
        return fail(c, "tensor '%s': bad shape: %s", shown(name, 0), why);
    return true;
}

static bool dtype_of(const char *name, ck_dtype *out)
{
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        if (strcmp(name, dtypes[d].name) == 0) {
            *out = (ck_dtype)d;
            return true;
        }
    return false;
}

static bool parse_entry(const ck_file *c, const char *name, json_t *v, ck_entry *e)
{
    e->name = name;
    if (!json_is_object(v)) return fail(c, "tensor '%s': entry is not an object", shown(name, 0));
    json_t *dtype = json_object_get(v, "dtype"), *offsets = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype))
        return fail(c, "tensor '%s': dtype is missing or not a string", shown(name, 0));
    if (!dtype_of(json_string_value(dtype), &e->dtype))
        return fail(c, "tensor '%s': dtype '%.16s' is not supported (F64, F32, F16 or BF16)",
                    shown(name, 0), json_string_value(dtype));
    const uint64_t width = (uint64_t)dtypes[e->dtype].width;
    if (!parse_shape(c, name, json_object_get(v, "shape"), &e->shape)) return false;
    if (json_array_size(offsets) != 2 || !get_uint(json_array_get(offsets, 0), INT64_MAX, &e->begin) ||
        !get_uint(json_array_get(offsets, 1), INT64_MAX, &e->end) || e->end < e->begin)
        return fail(c, "tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end",
                    shown(name, 0));
    uint64_t data = c->size - 8 - c->hlen;
    if (e->end > data)
        return fail(c, "tensor '%s': data_offsets [%llu, %llu] reach past the end of the "
                    "%llu-byte data section", shown(name, 0), (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)data);
    if (e->end - e->begin != width * e->shape.size) {
        char s[64];
        return fail(c, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s shape "
                    "(%s) needs %llu", shown(name, 0), (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                    dtypes[e->dtype].name, ag_shape_str(&e->shape, s, sizeof s),
                    (unsigned long long)(width * e->shape.size));
    }
    return true;
}

static bool parse_entries(ck_file *c)
{
    const char *key;
    json_t *value;
    size_t n = json_object_size(c->root);
    c->entries = ag_calloc(n ? n : 1, sizeof *c->entries);
    if (!c->entries) return fail(c, "out of memory for %zu header entries", n);
    json_object_foreach(c->root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!check_metadata(c, value)) return false;
        } else if (!parse_entry(c, key, value, &c->entries[c->n++])) {
            return false;
        }
    }
    return true;
}

static int by_begin(const void *a, const void *b)
{
    const ck_entry *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Sort by offset; the ranges must tile [0, data section size) exactly. */
static bool check_layout(ck_file *c)
{
    qsort(c->entries, c->n, sizeof *c->entries, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < c->n; i++) {
        const ck_entry *e = &c->entries[i];
        if (e->begin < at)
            return fail(c, "tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and "
                        "[%llu, %llu])", shown(c->entries[i - 1].name, 0), shown(e->name, 1),
                        (unsigned long long)c->entries[i - 1].begin, (unsigned long long)at,
                        (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->begin > at)
            return fail(c, "data section bytes [%llu, %llu) belong to no tensor (gap before '%s')",
                        (unsigned long long)at, (unsigned long long)e->begin, shown(e->name, 0));
        at = e->end;
    }
    uint64_t data = c->size - 8 - c->hlen;
    if (at != data)
        return fail(c, "the tensors cover %llu bytes of the %llu-byte data section (extra data "
                    "at byte %llu)", (unsigned long long)at, (unsigned long long)data,
                    (unsigned long long)(8 + c->hlen + at));
    return true;
}

/* F16 (1 sign, 5 exponent bits biased by 15, 10 mantissa bits) to double,
 * exactly: exponent 0 is +-m * 2^-24 (subnormals and +-0), 31 is +-Inf (m
 * 0) or NaN (its payload kept in the top mantissa bits), otherwise
 * +-(1024 + m) * 2^(e - 25). */
static double f16_to_double(uint16_t h)
{
    const uint64_t sign = (uint64_t)(h >> 15), exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    if (exponent == 0x1F)
        return ag_bits_to_double(sign << 63 | 0x7FFull << 52 | mantissa << 42);
    double magnitude = exponent == 0 ? ldexp((double)mantissa, -24)
                                     : ldexp((double)(1024 + mantissa), (int)exponent - 25);
    return sign ? -magnitude : magnitude;
}

/* BF16 is the top half of an F32: shifted back, then widened (exact). */
static double bf16_to_double(uint16_t h)
{
    return (double)ag_bits_to_float((uint32_t)h << 16);
}

/* The k-th little-endian element of `bytes` in dtype d, as a double. */
static double element(ck_dtype d, const unsigned char *bytes, size_t k)
{
    switch (d) {
    case CK_F32: return (double)ag_bits_to_float(ag_load_le32(bytes + 4 * k));
    case CK_F16: return f16_to_double((uint16_t)(bytes[2 * k] | bytes[2 * k + 1] << 8));
    case CK_BF16: return bf16_to_double((uint16_t)(bytes[2 * k] | bytes[2 * k + 1] << 8));
    case CK_F64: break;
    }
    return ag_bits_to_double(ag_load_le64(bytes + 8 * k));
}

/* Read every entry's values (the entries are contiguous in file order),
 * into a buffer of doubles that first holds the raw bytes: converting
 * forwards would overwrite bytes not yet read for the narrow dtypes, so
 * they are converted from the last element back. */
static bool read_data(ck_file *c)
{
    uint64_t offset = 8 + c->hlen;
    for (size_t i = 0; i < c->n; i++) {
        ck_entry *e = &c->entries[i];
        size_t bytes_n = (size_t)dtypes[e->dtype].width * e->shape.size;
        e->values = ag_malloc(e->shape.size * sizeof(double));
        if (!e->values) return fail(c, "tensor '%s': out of memory", shown(e->name, 0));
        unsigned char *bytes = (unsigned char *)e->values;
        if (!read_bytes(c, bytes, bytes_n, offset)) return false;
        for (size_t k = e->shape.size; k-- > 0;) e->values[k] = element(e->dtype, bytes, k);
        offset += bytes_n;
    }
    return true;
}

/* Open, parse and check a checkpoint; on false the message is set and
 * close_file must still be called. */
static bool open_checked(ck_file *c, const char *fn, const char *path)
{
    *c = (ck_file){.fn = fn, .path = path ? path : "(null)"};
    if (!path) return fail(c, "path is NULL");
    return open_file(c) && read_header(c) && parse_entries(c) && check_layout(c);
}

static void close_file(ck_file *c)
{
    for (size_t i = 0; c->entries && i < c->n; i++) ag_free(c->entries[i].values);
    ag_free(c->entries);
    json_decref(c->root);
    if (c->f) fclose(c->f);
}

static _Thread_local long name_lookups;
long ag_io_name_lookups(void) { return name_lookups; }

/* A file written by ag_checkpoint_save_training with an optimiser: its
 * "__optimizer__." tensors are the optimiser's, not the store's. */
static bool has_optimizer_buffers(const ck_file *c)
{
    return json_object_get(json_object_get(c->root, "__metadata__"), "agrad.optimizer") != NULL;
}

static bool is_store_entry(const ck_file *c, const ck_entry *e)
{
    return !(c->skip_buffers && ag_training_is_buffer_name(e->name));
}

/* Every store entry of the file is in the store with the same shape, and
 * every store tensor is in the file. Names are unique on both sides (the
 * store's by construction, the file's by JSON_REJECT_DUPLICATES), so once
 * every entry is found, equal counts make a one-to-one match; only when the
 * counts differ is the missing store tensor looked for, in the header's own
 * hash table. One hash lookup per tensor either way. */
static bool match_store(const ck_file *c, const ag_params *ps)
{
    char s1[64], s2[64];
    size_t in_file = 0;
    name_lookups = 0;
    for (size_t i = 0; i < c->n; i++) {
        const ck_entry *e = &c->entries[i];
        if (!is_store_entry(c, e)) continue;
        in_file++;
        const ag_tensor *t = ag_params_get(ps, e->name);
        name_lookups++;
        if (!t) return fail(c, "tensor '%s' in the file is not in the store", shown(e->name, 0));
        if (!ag_shape_equal(&t->shape, &e->shape))
            return fail(c, "tensor '%s' has shape (%s) in the file but (%s) in the store",
                        shown(e->name, 0), ag_shape_str(&e->shape, s1, sizeof s1),
                        ag_shape_str(&t->shape, s2, sizeof s2));
    }
    for (size_t i = 0; in_file != ag_params_count(ps) && i < ag_params_count(ps); i++) {
        const char *name = ag_params_name_at(ps, i);
        name_lookups++;
        if (!json_object_get(c->root, name))
            return fail(c, "store tensor '%s' is missing from the file", shown(name, 0));
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const ck_entry *const *)a)->name, (*(const ck_entry *const *)b)->name);
}

/* The entry named `name` in `sorted` (entries sorted by name), or NULL. */
static const ck_entry *find_entry(const ck_entry *const *sorted, size_t n, const char *name)
{
    ck_entry key = {.name = name};
    const ck_entry *k = &key, *const *hit = n ? bsearch(&k, sorted, n, sizeof *sorted, by_name) : NULL;
    return hit ? *hit : NULL;
}

/* Index (in c->entries) of every buffer the optimiser needs, into
 * slot[k * per + which]: each present, of its parameter's shape. Found
 * through the entries sorted by name (n log n, not a scan per buffer). */
static bool match_optimizer(const ck_file *c, const ag_optimizer *o, size_t *slot)
{
    ag_optim_kind kind = ag_optimizer_kind(o);
    size_t per = (size_t)ag_training_buffers(kind), n = ag_optimizer_param_count(o);
    char name[AG_TRAINING_NAME_SIZE], s1[64], s2[64];
    const ck_entry **sorted = ag_calloc(c->n ? c->n : 1, sizeof *sorted);
    if (!sorted) return fail(c, "out of memory");
    for (size_t i = 0; i < c->n; i++) sorted[i] = &c->entries[i];
    qsort(sorted, c->n, sizeof *sorted, by_name);
    bool ok = true;
    for (size_t k = 0; ok && k < n; k++)
        for (size_t which = 0; ok && which < per; which++) {
            ag_training_buffer_name(name, kind, k, (int)which);
            const ck_entry *e = find_entry(sorted, c->n, name);
            if (!e) {
                ok = fail(c, "optimiser buffer '%s' is missing from the file", name);
                break;
            }
            size_t i = (size_t)(e - c->entries);
            const ag_shape *want = &ag_optimizer_param(o, k)->shape;
            if (!ag_shape_equal(want, &e->shape))
                ok = fail(c, "optimiser buffer '%s' has shape (%s) in the file but parameter "
                          "%zu has shape (%s)", name, ag_shape_str(&e->shape, s1, sizeof s1), k,
                          ag_shape_str(want, s2, sizeof s2));
            slot[k * per + which] = i;
        }
    ag_free(sorted);
    return ok;
}

/* The state's parts, checked against the file; slots gets the optimiser's
 * buffers' entries (see match_optimizer). */
static bool match_state(const ck_file *c, const ag_training_state *s, ag_training_restore *r,
                        size_t *slot)
{
    char why[AG_ERROR_SIZE / 2];
    if (!ag_training_parse(json_object_get(c->root, "__metadata__"), s, r, why, sizeof why))
        return fail(c, "%s", why);
    return !s->optimizer || match_optimizer(c, s->optimizer, slot);
}

void ag_ckpt_store_values(double *dst, ag_dtype dtype, const double *values, size_t n)
{
    if (dtype == AG_FLOAT32)
        for (size_t k = 0; k < n; k++) AG_F32(dst)[k] = (float)values[k];
    else
        memcpy(dst, values, n * sizeof(double));
}

/* Everything is valid and in memory: nothing here can fail. */
static void restore(const ck_file *c, ag_params *ps, ag_training_state *s,
                    const ag_training_restore *r, const size_t *slot)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!is_store_entry(c, &c->entries[i])) continue;
        ag_tensor *t = ag_params_get(ps, c->entries[i].name);
        ag_ckpt_store_values(t->data, t->dtype, c->entries[i].values, t->shape.size);
    }
    if (!s) return;
    if (s->optimizer) {
        ag_optimizer *o = s->optimizer;
        size_t per = (size_t)ag_training_buffers(ag_optimizer_kind(o));
        for (size_t k = 0; k < ag_optimizer_param_count(o); k++)
            for (size_t which = 0; which < per; which++)
                ag_ckpt_store_values(ag_optimizer_buffer(o, k, (int)which), ag_optimizer_param(o, k)->dtype,
                                     c->entries[slot[k * per + which]].values, ag_optimizer_param(o, k)->shape.size);
        ag_optimizer_restore_step(o, r->step);
    }
    if (s->batches) ag_batches_set_state(s->batches, &r->batches);
    for (size_t i = 0; i < s->n_rngs; i++) *s->rngs[i] = r->rngs[i];
}

/* ---- the file's metadata ----------------------------------------------------- */

/* A store tensor of the file named `name` (for the "agrad.state" check),
 * found in the header's own hash table. */
static bool file_has_tensor(const void *ctx, const char *name)
{
    const ck_file *c = ctx;
    return strcmp(name, "__metadata__") != 0 && json_object_get(c->root, name) &&
           !(c->skip_buffers && ag_training_is_buffer_name(name));
}

/* The checked "agrad.state" list of the file (new reference; NULL: none). */
static bool state_names(const ck_file *c, json_t **names)
{
    char why[AG_ERROR_SIZE / 2];
    if (ag_ckpt_state_names(json_object_get(c->root, "__metadata__"), file_has_tensor, c, names, why,
                            sizeof why))
        return true;
    return fail(c, "%s", why);
}

static bool is_state_name(json_t *names, const char *name)
{
    return names && json_object_get(names, name) != NULL;
}

/* Copy the file's user metadata and MLP descriptions into the store, all or
 * nothing. Loading into an existing store (check_mlps), an MLP description
 * the store already holds must be the file's: the same tensors with other
 * activations would load without a word otherwise. */
static bool merge_meta(const ck_file *c, ag_params *ps, bool check_mlps)
{
    json_t *meta = json_object_get(c->root, "__metadata__"), *value;
    size_t n = json_object_size(meta), k = 0;
    const char **keys = ag_calloc(n ? n : 1, sizeof *keys), **values = ag_calloc(n ? n : 1, sizeof *values);
    const char *key;
    bool ok = keys && values;
    if (!ok) fail(c, "out of memory");
    json_object_foreach(meta, key, value) {
        if (!ok || !ag_ckpt_meta_kept(key)) continue;
        const char *mine = ag_params_meta(ps, key);
        if (check_mlps && mine && strncmp(key, AG_MLP_META_PREFIX, strlen(AG_MLP_META_PREFIX)) == 0 &&
            strcmp(mine, json_string_value(value)) != 0) {
            char a[AG_IO_SHOWN_SIZE], b[AG_IO_SHOWN_SIZE];
            ok = fail(c, "__metadata__ '%s' is '%s' in the file but '%s' in the store (another "
                      "architecture)", shown(key, 0), ag_io_name(json_string_value(value), a),
                      ag_io_name(mine, b));
            continue;
        }
        keys[k] = key;
        values[k++] = json_string_value(value);
    }
    if (ok && !ag_params_merge_meta(ps, keys, values, k)) ok = fail(c, "out of memory (metadata)");
    ag_free(keys);
    ag_free(values);
    return ok;
}

static bool load(const char *fn, ag_params *ps, ag_training_state *s, const char *path)
{
    ck_file c;
    ag_training_restore r = {0};
    size_t *slot = NULL;
    bool ok = open_checked(&c, fn, path);
    if (ok && !ps) ok = fail(&c, "store is NULL");
    if (ok && !ag_training_state_valid(fn, s)) ok = false;
    if (ok && s) {
        size_t slots = s->optimizer ? ag_optimizer_param_count(s->optimizer) * 2 : 0;
        slot = ag_calloc(slots ? slots : 1, sizeof *slot);
        r.rngs = ag_calloc(s->n_rngs ? s->n_rngs : 1, sizeof *r.rngs);
        if (!slot || !r.rngs) ok = fail(&c, "out of memory");
    }
    c.skip_buffers = ok && has_optimizer_buffers(&c);
    ok = ok && match_store(&c, ps) && (!s || match_state(&c, s, &r, slot)) && read_data(&c);
    json_t *states = NULL; /* checked, not used: kinds are the store's */
    ok = ok && state_names(&c, &states) && merge_meta(&c, ps, true);
    json_decref(states);
    if (ok) restore(&c, ps, s, &r, slot); /* cannot fail: the metadata went first */
    ag_free(slot);
    ag_free(r.rngs);
    close_file(&c);
    return ok;
}

bool ag_checkpoint_load(ag_params *ps, const char *path)
{
    return load("ag_checkpoint_load", ps, NULL, path);
}

bool ag_checkpoint_load_training(ag_params *ps, ag_training_state *state, const char *path)
{
    return load("ag_checkpoint_load_training", ps, state, path);
}

ag_params *ag_checkpoint_read(const char *path)
{
    ck_file c;
    ag_params *ps = NULL;
    if (open_checked(&c, "ag_checkpoint_read", path) && read_data(&c)) {
        c.skip_buffers = has_optimizer_buffers(&c);
        json_t *states = NULL;
        bool states_ok = state_names(&c, &states);
        ps = states_ok ? ag_params_new() : NULL;
        if (states_ok && !ps) fail(&c, "out of memory");
        for (size_t i = 0; ps && i < c.n; i++) {
            const ck_entry *e = &c.entries[i];
            if (!is_store_entry(&c, e)) continue;
            ag_tensor *t = is_state_name(states, e->name)
                               ? ag_params_add_state(ps, e->name, e->shape.ndim, e->shape.dims)
                               : ag_params_add(ps, e->name, e->shape.ndim, e->shape.dims);
            if (!t) {
                fail(&c, "%s", ag_last_error());
                ag_params_free(ps);
                ps = NULL;
            } else {
                memcpy(t->data, e->values, e->shape.size * sizeof(double));
            }
        }
        if (ps && !merge_meta(&c, ps, false)) {
            ag_params_free(ps);
            ps = NULL;
        }
        json_decref(states);
    }
    close_file(&c);
    return ps;
}
