/* checkpoint_save.c -- write a parameter store as a .safetensors file (F64,
 * or F32 on request; training checkpoints add their tensors and metadata),
 * with the store's metadata (metadata.c) in __metadata__,
 * atomically (ag_atomic_open / ag_atomic_commit: temporary file in the
 * target's directory, fsync, rename, fsync of the directory). The header is
 * built and checked against the limits load enforces before the target's
 * directory is touched, so whatever is saved loads back. jansson is used
 * with its own allocator, as the program set it up. */
#include "io_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

/* Bytes per element of item t in the file: 4 (F32) for a float32 item or an
 * all-F32 file, else 8 (F64). */
static int item_width(const ag_ckpt_out *o, const ag_ckpt_item *t)
{
    return t->dtype == AG_FLOAT32 ? 4 : o->width;
}

/* One tensor's header entry: {"dtype":"F64","shape":[..],"data_offsets":[b,e]}.
 * The json_*_new calls take ownership of their value even on failure, so a
 * NULL anywhere just makes the result NULL. */
static json_t *entry_json(const ag_ckpt_item *t, int width, uint64_t begin)
{
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    bool ok = true;
    for (int d = 0; d < t->shape->ndim; d++)
        ok = json_array_append_new(shape, json_integer(t->shape->dims[d])) == 0 && ok;
    uint64_t end = begin + (uint64_t)width * t->shape->size;
    ok = json_array_append_new(offsets, json_integer((json_int_t)begin)) == 0 && ok;
    ok = json_array_append_new(offsets, json_integer((json_int_t)end)) == 0 && ok;
    ok = json_object_set_new(entry, "dtype", json_string(width == 4 ? "F32" : "F64")) == 0 && ok;
    ok = json_object_set_new(entry, "shape", shape) == 0 && ok;
    ok = json_object_set_new(entry, "data_offsets", offsets) == 0 && ok;
    if (!ok) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

/* The JSON header, padded with spaces so that 8 + length is a multiple of 8
 * (the data then starts 8-aligned); ag_malloc'ed, NULL on error. `meta`
 * (the caller's "agrad.*" strings, or NULL) is consumed. */
static char *header_text(const ag_ckpt_out *o, json_t *meta, size_t *len)
{
    json_t *root = json_object();
    if (!meta) meta = json_object();
    if (json_object_set_new(meta, "producer", json_string("agrad " AGRAD_VERSION)) != 0) {
        json_decref(meta); /* not yet owned by root */
        meta = NULL;
    }
    if (json_object_set_new(root, "__metadata__", meta) != 0) {
        json_decref(root);
        root = NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; root && i < o->n; i++) {
        const ag_ckpt_item *t = &o->items[i];
        json_t *entry = entry_json(t, item_width(o, t), offset);
        if (!entry || json_object_set_new(root, t->name, entry) != 0) {
            char shown[AG_IO_SHOWN_SIZE];
            ag_set_last_error("%s: %s: cannot encode tensor '%s' in the JSON header (name not "
                              "UTF-8, or out of memory)", o->fn, o->path, ag_io_name(t->name, shown));
            json_decref(root);
            return NULL;
        }
        offset += (uint64_t)item_width(o, t) * t->shape->size;
    }
    size_t n = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
    size_t padded = (n + 7) / 8 * 8;
    char *text = NULL, limit[32];
    if (n && padded > ag_ckpt_max_header())
        ag_set_last_error("%s: %s: the JSON header would be %zu bytes, over the %s limit that "
                          "ag_checkpoint_load enforces (%zu tensors: names too long or too "
                          "many); nothing was written", o->fn, o->path, padded,
                          ag_ckpt_limit_text(limit), o->n);
    else if (n && (text = ag_malloc(padded)) && json_dumpb(root, text, n, JSON_COMPACT) == n) {
        memset(text + n, ' ', padded - n);
        *len = padded;
    } else {
        ag_free(text);
        text = NULL;
        ag_set_last_error("%s: %s: cannot build the JSON header (out of memory)", o->fn, o->path);
    }
    json_decref(root);
    return text;
}

typedef struct writer {
    const char *fn;
    FILE *f;
    const char *tmp;
    uint64_t offset; /* bytes written so far */
} writer;

static bool put(writer *w, const void *bytes, size_t n)
{
    if (ag_io_injected() || fwrite(bytes, 1, n, w->f) != n) {
        ag_set_last_error("%s: %s: write failed at byte %llu: %s", w->fn, w->tmp,
                          (unsigned long long)w->offset, strerror(errno));
        return false;
    }
    w->offset += n;
    return true;
}

/* Header length, header, then every tensor's values little-endian (F64, or
 * F32 rounded to nearest even by the conversion), in 4096-byte chunks. */
static bool write_contents(writer *w, const ag_ckpt_out *o, const char *header, size_t hlen)
{
    unsigned char buf[4096];
    ag_store_le64(buf, hlen);
    if (!put(w, buf, 8) || !put(w, header, hlen)) return false;
    for (size_t i = 0; i < o->n; i++) {
        const ag_ckpt_item *t = &o->items[i];
        int width = item_width(o, t);
        for (size_t k = 0; k < t->shape->size;) {
            size_t n = 0;
            for (; n < sizeof buf / 8 && k < t->shape->size; n++, k++)
                if (t->dtype == AG_FLOAT32)
                    ag_store_le32(buf + 4 * n, ag_float_to_bits(AG_F32(t->data)[k]));
                else if (width == 4)
                    ag_store_le32(buf + 4 * n, ag_float_to_bits((float)t->data[k]));
                else
                    ag_store_le64(buf + 8 * n, ag_double_to_bits(t->data[k]));
            if (!put(w, buf, (size_t)width * n)) return false;
        }
    }
    return true;
}

/* A finite double whose float rounding overflows to +-Inf: |x| at or past
 * FLT_MAX + half an ulp (2^128 - 2^103), where round to nearest even goes
 * to Inf (Annex F: the conversion gives Inf, it is not undefined). */
static bool f32_overflows(double x)
{
    return isfinite(x) && fabs(x) >= 0x1.ffffffp127;
}

static bool fits_f32(const ag_ckpt_out *o)
{
    for (size_t i = 0; i < o->n; i++)
        for (size_t k = 0; o->items[i].dtype == AG_FLOAT64 && k < o->items[i].shape->size; k++)
            if (f32_overflows(o->items[i].data[k])) {
                char shown[AG_IO_SHOWN_SIZE];
                ag_set_last_error("%s: %s: tensor '%s' element %zu is %g, too large for F32 "
                                  "(it would round to Inf); nothing was written", o->fn, o->path,
                                  ag_io_name(o->items[i].name, shown), k, o->items[i].data[k]);
                return false;
            }
    return true;
}

bool ag_ckpt_write(const ag_ckpt_out *o, json_t *meta)
{
    if (o->width == 4 && !fits_f32(o)) {
        json_decref(meta);
        return false;
    }
    size_t hlen = 0;
    char *header = header_text(o, meta, &hlen);
    ag_atomic_file a;
    if (!header || !ag_atomic_open(&a, o->fn, o->path)) {
        ag_free(header);
        return false;
    }
    writer w = {o->fn, a.f, a.tmp, 0};
    bool ok = write_contents(&w, o, header, hlen);
    ag_free(header);
    if (!ok) {
        ag_atomic_abort(&a);
        return false;
    }
    return ag_atomic_commit(&a);
}

/* The store's tensors as items, in insertion order (ag_free the result);
 * `extra` more slots are left zeroed at the end. */
ag_ckpt_item *ag_ckpt_store_items(const ag_params *ps, size_t extra)
{
    size_t n = ag_params_count(ps);
    ag_ckpt_item *items = ag_calloc(n + extra ? n + extra : 1, sizeof *items);
    for (size_t i = 0; items && i < n; i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        items[i] = (ag_ckpt_item){ag_params_name_at(ps, i), &t->shape, t->data, t->dtype};
    }
    return items;
}

static bool save_store(const char *fn, const ag_params *ps, const char *path, int width)
{
    if (!ps || !path || !path[0]) {
        ag_set_last_error("%s: %s", fn, ps ? "path is NULL or empty" : "store is NULL");
        return false;
    }
    ag_ckpt_item *items = ag_ckpt_store_items(ps, 0);
    if (!items) {
        ag_set_last_error("%s: %s: out of memory", fn, path);
        return false;
    }
    json_t *meta = ag_ckpt_store_meta(ps);
    if (!meta) {
        ag_free(items);
        ag_set_last_error("%s: %s: out of memory (metadata)", fn, path);
        return false;
    }
    ag_ckpt_out o = {fn, path, items, ag_params_count(ps), width};
    bool ok = ag_ckpt_write(&o, meta);
    ag_free(items);
    return ok;
}

bool ag_checkpoint_save(const ag_params *ps, const char *path)
{
    return save_store("ag_checkpoint_save", ps, path, 8);
}

bool ag_checkpoint_save_f32(const ag_params *ps, const char *path)
{
    return save_store("ag_checkpoint_save_f32", ps, path, 4);
}
