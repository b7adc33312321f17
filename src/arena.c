/* arena.c -- the graph's bump allocator. Reset rewinds to the first chunk and
 * keeps every chunk, so a step that records the same graph again allocates
 * nothing.
 *
 * Density matters for long scalar chains (10^6 nodes): small requests (a
 * node, a 1-element value) are only 8-byte aligned, so a scalar node and its
 * value and gradient take 128 + 8 + 8 bytes with no padding; requests of 256
 * bytes and more (tensor buffers) start on a cache line. Chunks double from
 * 64 KiB up to 4 MiB and then stay at 4 MiB, so at most one partly used
 * chunk is wasted however large the graph grows; a request larger than that
 * gets a chunk of its own size. */
#include "internal.h"

#include <string.h>

#define ARENA_SMALL_ALIGN 8
#define ARENA_LARGE_ALIGN 64
#define ARENA_MIN_CHUNK ((size_t)1 << 16)
#define ARENA_MAX_CHUNK ((size_t)1 << 22)

struct ag_arena_chunk {
    ag_arena_chunk *next;
    size_t capacity; /* bytes in data[] */
    size_t used;     /* of the current chunk: as of the last slow-path call
                        (the inline path bumps the arena's cursor) */
    _Alignas(16) unsigned char data[];
};

/* The inline path allocates from [cursor, limit): the current chunk's rest. */
static void set_current(ag_arena *arena, ag_arena_chunk *chunk)
{
    arena->current = chunk;
    arena->cursor = chunk ? chunk->data + chunk->used : NULL;
    arena->limit = chunk ? chunk->data + chunk->capacity : NULL;
}

static ag_arena_chunk *chunk_new(size_t capacity)
{
    ag_arena_chunk *chunk = ag_malloc(sizeof *chunk + capacity);
    if (!chunk) return NULL;
    chunk->next = NULL;
    chunk->capacity = capacity;
    chunk->used = 0;
    return chunk;
}

/* `size` bytes aligned to `align` (a power of two) from the chunk, or NULL */
static void *chunk_take(ag_arena_chunk *chunk, size_t size, size_t align)
{
    uintptr_t base = (uintptr_t)chunk->data;
    size_t start = (size_t)(((base + chunk->used + align - 1) & ~(uintptr_t)(align - 1)) - base);
    if (start > chunk->capacity || chunk->capacity - start < size) return NULL;
    chunk->used = start + size;
    return chunk->data + start;
}

/* Every chunk's data starts 16-byte aligned and `used` stays a multiple of 8,
 * so a small request is 8-byte aligned at data + used with no arithmetic. */
void *ag_arena_alloc_slow(ag_arena *arena, size_t size)
{
    if (size > SIZE_MAX / 2) {
        ag_set_last_error("arena allocation of %zu bytes overflows", size);
        return NULL;
    }
    if (arena->current) arena->current->used = (size_t)(arena->cursor - arena->current->data);
    size_t align = size >= AG_ARENA_LARGE_FROM ? ARENA_LARGE_ALIGN : ARENA_SMALL_ALIGN;
    size = (size + ARENA_SMALL_ALIGN - 1) & ~(size_t)(ARENA_SMALL_ALIGN - 1);
    /* try the current chunk, then the kept chunks after it (after a reset) */
    for (ag_arena_chunk *c = arena->current; c; c = c->next) {
        void *p = chunk_take(c, size, align);
        if (p) {
            set_current(arena, c);
            return p;
        }
    }
    size_t capacity = ARENA_MIN_CHUNK;
    if (arena->last && arena->last->capacity < ARENA_MAX_CHUNK) capacity = arena->last->capacity * 2;
    if (arena->last && arena->last->capacity >= ARENA_MAX_CHUNK) capacity = ARENA_MAX_CHUNK;
    if (capacity < size + align) capacity = size + align; /* room for the alignment too */
    ag_arena_chunk *chunk = chunk_new(capacity);
    if (!chunk) return NULL;
    /* append at the end of the chain so reset keeps it in order */
    if (arena->last) {
        arena->last->next = chunk;
    } else {
        arena->first = chunk;
        arena->first_data = chunk->data;
    }
    arena->last = chunk;
    void *p = chunk_take(chunk, size, align);
    set_current(arena, chunk);
    return p;
}

void ag_arena_reset_chunks(ag_arena *arena)
{
    for (ag_arena_chunk *c = arena->first; c; c = c->next) c->used = 0;
    set_current(arena, arena->first);
}

void ag_arena_release(ag_arena *arena)
{
    ag_arena_chunk *c = arena->first;
    while (c) {
        ag_arena_chunk *next = c->next;
        ag_free(c);
        c = next;
    }
    arena->first = arena->last = NULL;
    arena->first_data = NULL;
    set_current(arena, NULL);
}

size_t ag_arena_capacity(const ag_arena *arena)
{
    size_t total = 0;
    for (const ag_arena_chunk *c = arena->first; c; c = c->next) total += sizeof *c + c->capacity;
    return total;
}
