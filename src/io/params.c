/* params.c -- the parameter store: named tensors owned by the store, found by
 * name through a uthash table and kept in insertion order in an array (so
 * ag_params_at is O(1) and checkpoints list tensors in the order they were
 * added). Each tensor is a parameter or state (ag_params_add_state: saved,
 * never trained). The store also holds string metadata (key -> value, in
 * insertion order, found by a linear scan: a checkpoint carries a handful),
 * which checkpoints write to and read from the safetensors __metadata__. */
#include "io_internal.h"

#include <string.h>

/* uthash allocates through the library's allocator and reports OOM instead of
 * exiting: a failed add leaves entry->hh.tbl NULL. */
#define uthash_malloc(size) ag_malloc(size)
#define uthash_free(ptr, size) ag_free(ptr)
#define HASH_NONFATAL_OOM 1
/* Every key comparison the table makes is counted (ag_io_store_key_compares):
 * a test reads it to see that a lookup compares about one key, not many. */
static _Thread_local long key_compares;
long ag_io_store_key_compares(void) { return key_compares; }
#define HASH_KEYCMP(a, b, n) (key_compares++, memcmp(a, b, n))
#include <uthash.h>

typedef struct param_entry {
    char *name; /* the key, owned here (the tensor's own name may be changed) */
    ag_tensor *tensor;
    bool is_state; /* added by ag_params_add_state */
    UT_hash_handle hh;
} param_entry;

typedef struct meta_entry {
    char *key, *value;
} meta_entry;

struct ag_params {
    param_entry *table;  /* uthash head */
    param_entry **order; /* insertion order */
    size_t count, cap;
    size_t numel;
    meta_entry *meta;    /* insertion order */
    size_t n_meta;
};

ag_params *ag_params_new(void)
{
    return ag_calloc(1, sizeof(ag_params));
}

static void entry_free(param_entry *e)
{
    if (!e) return;
    ag_tensor_free(e->tensor);
    ag_free(e->name);
    ag_free(e);
}

void ag_params_truncate(ag_params *ps, size_t count)
{
    while (ps && ps->count > count) {
        param_entry *e = ps->order[--ps->count];
        HASH_DEL(ps->table, e);
        ps->numel -= e->tensor->shape.size;
        entry_free(e);
    }
}

static void meta_free(meta_entry *meta, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ag_free(meta[i].key);
        ag_free(meta[i].value);
    }
    ag_free(meta);
}

void ag_params_free(ag_params *ps)
{
    if (!ps) return;
    HASH_CLEAR(hh, ps->table);
    for (size_t i = 0; i < ps->count; i++) entry_free(ps->order[i]);
    ag_free(ps->order);
    meta_free(ps->meta, ps->n_meta);
    ag_free(ps);
}

static param_entry *find(const ag_params *ps, const char *name)
{
    param_entry *e = NULL;
    if (ps && name) HASH_FIND_STR(ps->table, name, e);
    return e;
}

/* A new entry holding a zero tensor of the shape, named, requiring grad
 * unless it is state. */
static param_entry *entry_new(const char *name, int ndim, const int *shape, bool is_state, ag_dtype dtype)
{
    param_entry *e = ag_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->name = ag_strdup(name);
    e->is_state = is_state;
    e->tensor = e->name ? ag_tensor_zeros_dtype(ndim, shape, dtype) : NULL;
    if (!e->tensor || (!is_state && !ag_tensor_requires_grad(e->tensor, true)) ||
        !ag_tensor_set_name(e->tensor, name)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

static ag_tensor *add(const char *fn, ag_params *ps, const char *name, int ndim, const int *shape,
                      bool is_state, ag_dtype dtype)
{
    if (!ps || !name) {
        ag_set_last_error("%s: %s is NULL", fn, ps ? "name" : "store");
        return NULL;
    }
    if (!name[0] || strcmp(name, "__metadata__") == 0) {
        ag_set_last_error("%s: name '%s' is %s", fn, name,
                          name[0] ? "reserved (safetensors metadata)" : "empty");
        return NULL;
    }
    char shown[AG_IO_SHOWN_SIZE];
    if (find(ps, name)) {
        ag_set_last_error("%s: a tensor named '%s' is already in the store", fn,
                          ag_io_name(name, shown));
        return NULL;
    }
    ag_shape s;
    const char *why;
    if (!ag_shape_make(&s, ndim, shape, &why)) {
        ag_set_last_error("%s: '%s': bad shape: %s", fn, ag_io_name(name, shown), why);
        return NULL;
    }
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        param_entry **order = ag_realloc(ps->order, cap * sizeof *order);
        if (!order) goto oom;
        ps->order = order;
        ps->cap = cap;
    }
    if (dtype != AG_FLOAT64 && dtype != AG_FLOAT32) {
        ag_set_last_error("%s: '%s': unknown element type %d (AG_FLOAT64 or AG_FLOAT32)", fn,
                          ag_io_name(name, shown), (int)dtype);
        return NULL;
    }
    param_entry *e = entry_new(name, ndim, shape, is_state, dtype);
    if (!e) goto oom;
    HASH_ADD_KEYPTR(hh, ps->table, e->name, strlen(e->name), e);
    if (!e->hh.tbl) { /* uthash ran out of memory; the table is unchanged */
        entry_free(e);
        goto oom;
    }
    ps->order[ps->count++] = e;
    ps->numel += s.size;
    return e->tensor;
oom:
    ag_set_last_error("%s: '%s': out of memory", fn, ag_io_name(name, shown));
    return NULL;
}

ag_tensor *ag_params_add(ag_params *ps, const char *name, int ndim, const int *shape)
{
    return add("ag_params_add", ps, name, ndim, shape, false, AG_FLOAT64);
}

ag_tensor *ag_params_add_dtype(ag_params *ps, const char *name, int ndim, const int *shape, ag_dtype dtype)
{
    return add("ag_params_add_dtype", ps, name, ndim, shape, false, dtype);
}

ag_tensor *ag_params_add_state(ag_params *ps, const char *name, int ndim, const int *shape)
{
    return add("ag_params_add_state", ps, name, ndim, shape, true, AG_FLOAT64);
}

ag_tensor *ag_params_add_state_dtype(ag_params *ps, const char *name, int ndim, const int *shape, ag_dtype dtype)
{
    return add("ag_params_add_state_dtype", ps, name, ndim, shape, true, dtype);
}

bool ag_params_is_state(const ag_params *ps, const char *name)
{
    param_entry *e = find(ps, name);
    return e && e->is_state;
}

size_t ag_params_trainable(const ag_params *ps, ag_tensor **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        const param_entry *e = ps->order[i];
        if (e->is_state || !e->tensor->requires_grad) continue;
        if (out && n < cap) out[n] = e->tensor;
        n++;
    }
    return n;
}

ag_tensor *ag_params_get(const ag_params *ps, const char *name)
{
    param_entry *e = find(ps, name);
    return e ? e->tensor : NULL;
}

size_t ag_params_count(const ag_params *ps) { return ps ? ps->count : 0; }
size_t ag_params_numel(const ag_params *ps) { return ps ? ps->numel : 0; }

ag_tensor *ag_params_at(const ag_params *ps, size_t i)
{
    return ps && i < ps->count ? ps->order[i]->tensor : NULL;
}

const char *ag_params_name_at(const ag_params *ps, size_t i)
{
    return ps && i < ps->count ? ps->order[i]->name : NULL;
}

void ag_params_zero_grad(ag_params *ps)
{
    for (size_t i = 0; i < ag_params_count(ps); i++) ag_tensor_zero_grad(ps->order[i]->tensor);
}

/* ---- metadata ------------------------------------------------------------- */

static meta_entry *meta_find(const ag_params *ps, const char *key)
{
    for (size_t i = 0; ps && key && i < ps->n_meta; i++)
        if (strcmp(ps->meta[i].key, key) == 0) return &ps->meta[i];
    return NULL;
}

bool ag_io_meta_key_reserved(const char *key)
{
    return strcmp(key, "producer") == 0 || strncmp(key, "agrad.", 6) == 0;
}

bool ag_params_set_meta_unchecked(ag_params *ps, const char *key, const char *value)
{
    meta_entry *e = meta_find(ps, key);
    char *copy = ag_strdup(value);
    if (!copy) return false;
    if (e) {
        ag_free(e->value);
        e->value = copy;
        return true;
    }
    char *key_copy = ag_strdup(key);
    meta_entry *bigger = key_copy ? ag_realloc(ps->meta, (ps->n_meta + 1) * sizeof *bigger) : NULL;
    if (!bigger) {
        ag_free(copy);
        ag_free(key_copy);
        return false;
    }
    ps->meta = bigger;
    ps->meta[ps->n_meta++] = (meta_entry){key_copy, copy};
    return true;
}

bool ag_params_set_meta(ag_params *ps, const char *key, const char *value)
{
    char shown[AG_IO_SHOWN_SIZE];
    if (!ps || !key || !value) {
        ag_set_last_error("ag_params_set_meta: %s is NULL", !ps ? "store" : !key ? "key" : "value");
        return false;
    }
    if (!key[0] || ag_io_meta_key_reserved(key)) {
        ag_set_last_error("ag_params_set_meta: key '%s' is %s", ag_io_name(key, shown),
                          key[0] ? "reserved (\"producer\" and \"agrad.*\" are agrad's own)" : "empty");
        return false;
    }
    if (!ag_io_utf8_valid(key, strlen(key)) || !ag_io_utf8_valid(value, strlen(value))) {
        ag_set_last_error("ag_params_set_meta: '%s': the %s is not valid UTF-8 (safetensors "
                          "metadata is JSON text)", ag_io_name(key, shown),
                          ag_io_utf8_valid(key, strlen(key)) ? "value" : "key");
        return false;
    }
    if (!ag_params_set_meta_unchecked(ps, key, value)) {
        ag_set_last_error("ag_params_set_meta: '%s': out of memory", ag_io_name(key, shown));
        return false;
    }
    return true;
}

const char *ag_params_meta(const ag_params *ps, const char *key)
{
    const meta_entry *e = meta_find(ps, key);
    return e ? e->value : NULL;
}

size_t ag_params_meta_count(const ag_params *ps) { return ps ? ps->n_meta : 0; }

const char *ag_params_meta_key(const ag_params *ps, size_t i)
{
    return ps && i < ps->n_meta ? ps->meta[i].key : NULL;
}

bool ag_params_merge_meta(ag_params *ps, const char *const *keys, const char *const *values, size_t n)
{
    /* Build the merged list aside, then swap it in: on OOM nothing changed. */
    meta_entry *merged = ag_calloc(ps->n_meta + n ? ps->n_meta + n : 1, sizeof *merged);
    size_t count = 0;
    bool ok = merged != NULL;
    for (size_t i = 0; ok && i < ps->n_meta; i++, count++) {
        merged[i].key = ag_strdup(ps->meta[i].key);
        merged[i].value = ag_strdup(ps->meta[i].value);
        ok = merged[i].key && merged[i].value;
    }
    for (size_t j = 0; ok && j < n; j++) {
        size_t at = 0;
        while (at < count && strcmp(merged[at].key, keys[j]) != 0) at++;
        char *value = ag_strdup(values[j]);
        ok = value != NULL;
        if (ok && at < count) {
            ag_free(merged[at].value);
            merged[at].value = value;
        } else if (ok) {
            merged[count].value = value;
            ok = (merged[count++].key = ag_strdup(keys[j])) != NULL;
        }
    }
    if (!ok) {
        if (merged) meta_free(merged, ps->n_meta + n); /* unused slots are zeroed */
        return false;
    }
    meta_free(ps->meta, ps->n_meta);
    ps->meta = merged;
    ps->n_meta = count;
    return true;
}

void ag_params_remove_meta(ag_params *ps, const char *key)
{
    meta_entry *e = meta_find(ps, key);
    if (!e) return;
    ag_free(e->key);
    ag_free(e->value);
    size_t i = (size_t)(e - ps->meta);
    memmove(e, e + 1, (ps->n_meta - i - 1) * sizeof *e);
    ps->n_meta--;
}
