/* parallel.h -- a tiny fork-join pool for the large kernels: matrix
 * products, optimiser updates and the passes of elementwise ops, bias adds
 * and gradient zeroing over large tensors.
 *
 * Why not OpenMP: libgomp allocates at load time and keeps the block until
 * exit, so every program linked with it shows a "still reachable" block under
 * `valgrind --errors-for-leak-kinds=all` even if it never runs a parallel
 * region. This pool costs nothing until a kernel first asks for two or more
 * threads; between jobs its workers poll briefly, then sleep on a condition
 * variable, and they are joined when the library is unloaded (or the process
 * exits). */
#ifndef AGRAD_KERNELS_PARALLEL_H
#define AGRAD_KERNELS_PARALLEL_H

#include <stddef.h>

/* fn(ctx, tid, nthreads) is called once for each tid in [0, nthreads). */
typedef void (*ag_parallel_fn)(void *ctx, int tid, int nthreads);

/* Threads a kernel may use, fixed when the pool is first asked: AG_NUM_THREADS
 * from the environment when it is a positive decimal integer (1 disables
 * threading), otherwise the online CPUs; at most AG_PARALLEL_MAX. */
#define AG_PARALLEL_MAX 8
int ag_parallel_threads(void);

/* AG_NUM_THREADS's parse rule: decimal digits only, blanks (spaces, tabs)
 * allowed around them, value >= 1, capped at AG_PARALLEL_MAX ("99999999999"
 * gives AG_PARALLEL_MAX). Anything else -- NULL, "", "0", "-3", "+2", "4x",
 * "garbage" -- gives `fallback`. */
int ag_parse_thread_count(const char *s, int fallback);

/* Run fn on `nthreads` threads, the caller being tid 0, and return when all
 * are done. Runs fn(ctx, 0, 1) on the caller alone when nthreads < 2, when
 * the pool is busy with another caller's job, or when a worker cannot be
 * started; fn must therefore split its work by the nthreads it is given. */
void ag_parallel_run(int nthreads, ag_parallel_fn fn, void *ctx);

/* fn(ctx, lo, hi) handles items [lo, hi) of a loop over n independent items
 * (elements, rows or columns: each item writes only its own outputs). */
typedef void (*ag_range_fn)(void *ctx, size_t lo, size_t hi);

/* fn over [0, n) on nthreads threads (fewer when the pool is busy), one
 * contiguous piece each, every piece but the last a multiple of `align`
 * items: the ceil(n / align) units of align items go evenly, units
 * [u tid / nthreads, u (tid + 1) / nthreads) to thread tid. */
void ag_parallel_bands(int nthreads, size_t n, size_t align, ag_range_fn fn, void *ctx);

/* Loops over fewer doubles than this run on the caller alone: waking a worker
 * (microseconds) costs more than half of a shorter pass saves. */
#define AG_PARALLEL_RANGE_MIN ((size_t)1 << 15)

/* fn over [0, n) in one contiguous piece per thread. Items of fewer than 8
 * doubles go in multiples of 8 items (a 64-byte line's worth, so threads
 * share at most the lines at piece ends when the base is not line-aligned). */
void ag_parallel_range_split(size_t n, size_t doubles_per_item, ag_range_fn fn, void *ctx);

/* The loop over n items of doubles_per_item doubles each: on the caller when
 * small (the common, tiny case pays one comparison), else split. A macro, so
 * the small case is a direct call of fn, which the compiler inlines (through
 * an inline function it stays a call through a pointer). */
#define AG_PARALLEL_RANGE(n, doubles_per_item, fn, ctx)                                    \
    do {                                                                                   \
        size_t ag_range_n_ = (n), ag_range_per_item_ = (doubles_per_item);                 \
        if (ag_range_n_ * ag_range_per_item_ < AG_PARALLEL_RANGE_MIN)                      \
            fn((ctx), 0, ag_range_n_);                                                     \
        else                                                                               \
            ag_parallel_range_split(ag_range_n_, ag_range_per_item_, fn, (ctx));           \
    } while (0)

#endif
