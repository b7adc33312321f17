/* params.c -- the parameter store: named tensors owned by the store, found by
 * name through a uthash table and kept in insertion order in an array (so
 * ag_params_at is O(1) and checkpoints list tensors in the order they were
 * added). */
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
    UT_hash_handle hh;
} param_entry;

struct ag_params {
    param_entry *table;  /* uthash head */
    param_entry **order; /* insertion order */
    size_t count, cap;
    size_t numel;
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

void ag_params_free(ag_params *ps)
{
    if (!ps) return;
    HASH_CLEAR(hh, ps->table);
    for (size_t i = 0; i < ps->count; i++) entry_free(ps->order[i]);
    ag_free(ps->order);
    ag_free(ps);
}

static param_entry *find(const ag_params *ps, const char *name)
{
    param_entry *e = NULL;
    if (ps && name) HASH_FIND_STR(ps->table, name, e);
    return e;
}

/* A new entry holding a zero tensor of the shape, requiring grad, named. */
static param_entry *entry_new(const char *name, int ndim, const int *shape)
{
    param_entry *e = ag_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->name = ag_strdup(name);
    e->tensor = e->name ? ag_tensor_zeros(ndim, shape) : NULL;
    if (!e->tensor || !ag_tensor_requires_grad(e->tensor, true) ||
        !ag_tensor_set_name(e->tensor, name)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

ag_tensor *ag_params_add(ag_params *ps, const char *name, int ndim, const int *shape)
{
    if (!ps || !name) {
        ag_set_last_error("ag_params_add: %s is NULL", ps ? "name" : "store");
        return NULL;
    }
    if (!name[0] || strcmp(name, "__metadata__") == 0) {
        ag_set_last_error("ag_params_add: name '%s' is %s", name,
                          name[0] ? "reserved (safetensors metadata)" : "empty");
        return NULL;
    }
    char shown[AG_IO_SHOWN_SIZE];
    if (find(ps, name)) {
        ag_set_last_error("ag_params_add: a tensor named '%s' is already in the store",
                          ag_io_name(name, shown));
        return NULL;
    }
    ag_shape s;
    const char *why;
    if (!ag_shape_make(&s, ndim, shape, &why)) {
        ag_set_last_error("ag_params_add: '%s': bad shape: %s", ag_io_name(name, shown), why);
        return NULL;
    }
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        param_entry **order = ag_realloc(ps->order, cap * sizeof *order);
        if (!order) goto oom;
        ps->order = order;
        ps->cap = cap;
    }
    param_entry *e = entry_new(name, ndim, shape);
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
    ag_set_last_error("ag_params_add: '%s': out of memory", ag_io_name(name, shown));
    return NULL;
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
