/* io_internal.h -- helpers shared by the io files (src/io/), and test hooks. */
#ifndef AGRAD_IO_INTERNAL_H
#define AGRAD_IO_INTERNAL_H

#include "../internal.h"

#include <stdint.h>
#include <string.h>

/* ---- byte order: explicit, so files are the same on every host ------------ */
static inline uint64_t ag_load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void ag_store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline double ag_bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline uint64_t ag_double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* ---- a tensor that takes over an ag_malloc'ed buffer ------------------------ */
/* New tensor of `shape` whose data is `data` (shape->size doubles, from
 * ag_malloc/ag_realloc); on failure data is freed and NULL returned. */
ag_tensor *ag_tensor_adopt(const ag_shape *shape, double *data);

/* ---- parameter store internals (params.c) --------------------------------- */
/* The name the i-th tensor was added under (insertion order), NULL past the end. */
const char *ag_params_name_at(const ag_params *ps, size_t i);

/* ---- test hooks: write-failure injection for ag_checkpoint_save ------------ */
/* Make the k-th fallible step (each write, flush, fsync, close, chmod, rename
 * and directory open/fsync) of later saves fail as if with EIO; 0 disables.
 * Counting restarts at every save. Thread-local. */
void ag_io_fail_write_at(long k);

/* jansson allocates through agrad's allocator (ag_set_allocator) during a
 * checkpoint call, so its allocations are counted and can be failed too;
 * the previous functions come back at the end. The setting is jansson's,
 * process-wide: do not use jansson in another thread during such a call. */
typedef struct ag_json_alloc_saved {
    void *(*malloc_fn)(size_t);
    void (*free_fn)(void *);
} ag_json_alloc_saved;
void ag_json_alloc_begin(ag_json_alloc_saved *saved);
void ag_json_alloc_end(const ag_json_alloc_saved *saved);
/* Whether jansson ran out of memory since ag_json_alloc_begin (its parser
 * then reports a syntax error instead). */
bool ag_json_out_of_memory(void);
/* Number of fallible steps the last save went through (its last one failing
 * when the injection fired). */
long ag_io_write_steps(void);

#endif
