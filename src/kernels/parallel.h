/* parallel.h -- a tiny fork-join pool for the large kernels (kernels only).
 *
 * Why not OpenMP: libgomp allocates at load time and keeps the block until
 * exit, so every program linked with it shows a "still reachable" block under
 * `valgrind --errors-for-leak-kinds=all` even if it never runs a parallel
 * region. This pool costs nothing until a kernel first asks for two or more
 * threads; its workers sleep on a condition variable between jobs and are
 * joined when the library is unloaded (or the process exits). */
#ifndef AGRAD_KERNELS_PARALLEL_H
#define AGRAD_KERNELS_PARALLEL_H

/* fn(ctx, tid, nthreads) is called once for each tid in [0, nthreads). */
typedef void (*ag_parallel_fn)(void *ctx, int tid, int nthreads);

/* Threads a kernel may use: AG_NUM_THREADS from the environment when set (1
 * disables threading), otherwise the online CPUs; at most AG_PARALLEL_MAX. */
#define AG_PARALLEL_MAX 8
int ag_parallel_threads(void);

/* Run fn on `nthreads` threads, the caller being tid 0, and return when all
 * are done. Runs fn(ctx, 0, 1) on the caller alone when nthreads < 2, when
 * the pool is busy with another caller's job, or when a worker cannot be
 * started; fn must therefore split its work by the nthreads it is given. */
void ag_parallel_run(int nthreads, ag_parallel_fn fn, void *ctx);

#endif
