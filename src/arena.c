/* arena.c -- the graph's bump allocator. Reset rewinds to the first chunk and
 * keeps every chunk, so a step that records the same graph again allocates
 * nothing. */
#include "internal.h"

#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK ((size_t)1 << 16)

struct ag_arena_chunk {
    ag_arena_chunk *next;
    size_t capacity; /* bytes in data[] */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static ag_arena_chunk *chunk_new(size_t capacity)
{
    ag_arena_chunk *chunk = ag_malloc(sizeof *chunk + capacity);
    if (!chunk) return NULL;
    chunk->next = NULL;
    chunk->capacity = capacity;
    chunk->used = 0;
    return chunk;
}

static void *chunk_take(ag_arena_chunk *chunk, size_t size)
{
    if (chunk->capacity - chunk->used < size) return NULL;
    void *p = chunk->data + chunk->used;
    chunk->used += size;
    return p;
}

void *ag_arena_alloc(ag_arena *arena, size_t size)
{
    if (size > SIZE_MAX - ARENA_ALIGN) {
        ag_set_last_error("arena allocation of %zu bytes overflows", size);
        return NULL;
    }
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    /* try the current chunk, then the kept chunks after it (after a reset) */
    for (ag_arena_chunk *c = arena->current; c; c = c->next) {
        void *p = chunk_take(c, size);
        if (p) {
            arena->current = c;
            return p;
        }
    }
    size_t capacity = size > ARENA_MIN_CHUNK ? size : ARENA_MIN_CHUNK;
    if (arena->current && arena->current->capacity * 2 > capacity && capacity < ((size_t)1 << 26))
        capacity = arena->current->capacity * 2;
    ag_arena_chunk *chunk = chunk_new(capacity);
    if (!chunk) return NULL;
    /* append at the end of the chain so reset keeps it in order */
    ag_arena_chunk **tail = &arena->first;
    while (*tail) tail = &(*tail)->next;
    *tail = chunk;
    arena->current = chunk;
    return chunk_take(chunk, size);
}

void ag_arena_reset(ag_arena *arena)
{
    for (ag_arena_chunk *c = arena->first; c; c = c->next) c->used = 0;
    arena->current = arena->first;
}

void ag_arena_release(ag_arena *arena)
{
    ag_arena_chunk *c = arena->first;
    while (c) {
        ag_arena_chunk *next = c->next;
        ag_free(c);
        c = next;
    }
    arena->first = arena->current = NULL;
}

size_t ag_arena_capacity(const ag_arena *arena)
{
    size_t total = 0;
    for (const ag_arena_chunk *c = arena->first; c; c = c->next) total += sizeof *c + c->capacity;
    return total;
}
