/* io_util.c -- small helpers shared by the io loaders. */
#include "io_internal.h"

#include <jansson.h>

ag_tensor *ag_tensor_adopt(const ag_shape *shape, double *data)
{
    ag_tensor *t = ag_calloc(1, sizeof *t);
    if (!t) {
        ag_free(data);
        return NULL;
    }
    t->shape = *shape;
    t->data = data;
    return t;
}

static bool json_alloc_failed; /* an allocation failed since the last begin */

static void *json_malloc(size_t size)
{
    void *p = ag_malloc(size);
    if (!p) json_alloc_failed = true;
    return p;
}

void ag_json_alloc_begin(ag_json_alloc_saved *saved)
{
    json_get_alloc_funcs(&saved->malloc_fn, &saved->free_fn);
    json_set_alloc_funcs(json_malloc, ag_free);
    json_alloc_failed = false;
}

bool ag_json_out_of_memory(void) { return json_alloc_failed; }

void ag_json_alloc_end(const ag_json_alloc_saved *saved)
{
    json_set_alloc_funcs(saved->malloc_fn, saved->free_fn);
}
