/* checkpoint_save.c -- write a parameter store as a .safetensors file (F64),
 * atomically (ag_atomic_open / ag_atomic_commit: temporary file in the
 * target's directory, fsync, rename, fsync of the directory). The header is
 * built and checked against the limits load enforces before the target's
 * directory is touched, so whatever is saved loads back. jansson is used
 * with its own allocator, as the program set it up. */
#include "io_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>

/* One tensor's header entry: {"dtype":"F64","shape":[..],"data_offsets":[b,e]}.
 * The json_*_new calls take ownership of their value even on failure, so a
 * NULL anywhere just makes the result NULL. */
static json_t *entry_json(const ag_tensor *t, uint64_t begin)
{
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    bool ok = true;
    for (int d = 0; d < t->shape.ndim; d++)
        ok = json_array_append_new(shape, json_integer(t->shape.dims[d])) == 0 && ok;
    uint64_t end = begin + 8 * (uint64_t)t->shape.size;
    ok = json_array_append_new(offsets, json_integer((json_int_t)begin)) == 0 && ok;
    ok = json_array_append_new(offsets, json_integer((json_int_t)end)) == 0 && ok;
    ok = json_object_set_new(entry, "dtype", json_string("F64")) == 0 && ok;
    ok = json_object_set_new(entry, "shape", shape) == 0 && ok;
    ok = json_object_set_new(entry, "data_offsets", offsets) == 0 && ok;
    if (!ok) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

/* The JSON header, padded with spaces so that 8 + length is a multiple of 8
 * (the data then starts 8-aligned); ag_malloc'ed, NULL on error. */
static char *header_text(const ag_params *ps, const char *path, size_t *len)
{
    json_t *root = json_object(), *meta = json_object();
    if (json_object_set_new(meta, "producer", json_string("agrad " AGRAD_VERSION)) != 0) {
        json_decref(meta); /* not yet owned by root */
        meta = NULL;
    }
    if (json_object_set_new(root, "__metadata__", meta) != 0) {
        json_decref(root);
        root = NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; root && i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        const char *name = ag_params_name_at(ps, i);
        json_t *entry = entry_json(t, offset);
        if (!entry || json_object_set_new(root, name, entry) != 0) {
            char shown[AG_IO_SHOWN_SIZE];
            ag_set_last_error("ag_checkpoint_save: %s: cannot encode tensor '%s' in the JSON "
                              "header (name not UTF-8, or out of memory)", path,
                              ag_io_name(name, shown));
            json_decref(root);
            return NULL;
        }
        offset += 8 * (uint64_t)t->shape.size;
    }
    size_t n = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
    size_t padded = (n + 7) / 8 * 8;
    char *text = NULL, limit[32];
    if (n && padded > ag_ckpt_max_header())
        ag_set_last_error("ag_checkpoint_save: %s: the JSON header would be %zu bytes, over the "
                          "%s limit that ag_checkpoint_load enforces (%zu tensors: names too "
                          "long or too many); nothing was written", path, padded,
                          ag_ckpt_limit_text(limit), ag_params_count(ps));
    else if (n && (text = ag_malloc(padded)) && json_dumpb(root, text, n, JSON_COMPACT) == n) {
        memset(text + n, ' ', padded - n);
        *len = padded;
    } else {
        ag_free(text);
        text = NULL;
        ag_set_last_error("ag_checkpoint_save: %s: cannot build the JSON header (out of memory)",
                          path);
    }
    json_decref(root);
    return text;
}

typedef struct writer {
    FILE *f;
    const char *tmp;
    uint64_t offset; /* bytes written so far */
} writer;

static bool put(writer *w, const void *bytes, size_t n)
{
    if (ag_io_injected() || fwrite(bytes, 1, n, w->f) != n) {
        ag_set_last_error("ag_checkpoint_save: %s: write failed at byte %llu: %s", w->tmp,
                          (unsigned long long)w->offset, strerror(errno));
        return false;
    }
    w->offset += n;
    return true;
}

/* Header length, header, then every tensor's values little-endian, in
 * chunks of 512 doubles. */
static bool write_contents(writer *w, const ag_params *ps, const char *header, size_t hlen)
{
    unsigned char buf[4096];
    ag_store_le64(buf, hlen);
    if (!put(w, buf, 8) || !put(w, header, hlen)) return false;
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        for (size_t k = 0; k < t->shape.size;) {
            size_t n = 0;
            for (; n < sizeof buf / 8 && k < t->shape.size; n++, k++)
                ag_store_le64(buf + 8 * n, ag_double_to_bits(t->data[k]));
            if (!put(w, buf, 8 * n)) return false;
        }
    }
    return true;
}

bool ag_checkpoint_save(const ag_params *ps, const char *path)
{
    if (!ps || !path || !path[0]) {
        ag_set_last_error("ag_checkpoint_save: %s", ps ? "path is NULL or empty" : "store is NULL");
        return false;
    }
    size_t hlen = 0;
    char *header = header_text(ps, path, &hlen);
    ag_atomic_file a;
    if (!header || !ag_atomic_open(&a, "ag_checkpoint_save", path)) {
        ag_free(header);
        return false;
    }
    writer w = {a.f, a.tmp, 0};
    bool ok = write_contents(&w, ps, header, hlen);
    ag_free(header);
    if (!ok) {
        ag_atomic_abort(&a);
        return false;
    }
    return ag_atomic_commit(&a);
}
