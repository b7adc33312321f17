/* alloc.c -- every allocation of the library goes through here, so a user (or
 * a test) can replace the allocator: count allocations, inject failures. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_allocator current_allocator = {malloc, realloc, free};

static _Thread_local char last_error[AG_ERROR_SIZE];

void ag_set_allocator(const ag_allocator *allocator)
{
    if (allocator && allocator->malloc_fn && allocator->realloc_fn && allocator->free_fn) {
        current_allocator = *allocator;
        return;
    }
    if (allocator)
        ag_set_last_error("ag_set_allocator: malloc_fn, realloc_fn and free_fn must all be set; "
                          "malloc, realloc and free are used");
    current_allocator = (ag_allocator){malloc, realloc, free};
}

void *ag_malloc(size_t size)
{
    void *p = current_allocator.malloc_fn(size ? size : 1);
    if (!p) ag_set_last_error("out of memory (%zu bytes)", size);
    return p;
}

void *ag_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        ag_set_last_error("allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = ag_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *ag_realloc(void *ptr, size_t size)
{
    void *p = current_allocator.realloc_fn(ptr, size ? size : 1);
    if (!p) ag_set_last_error("out of memory (%zu bytes)", size);
    return p;
}

void ag_free(void *ptr)
{
    if (ptr) current_allocator.free_fn(ptr);
}

char *ag_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = ag_malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

void ag_set_last_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
}

const char *ag_last_error(void)
{
    return last_error;
}
