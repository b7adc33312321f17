/* parallel.c -- the fork-join pool behind the large kernels; see parallel.h.
 *
 * One job at a time: a caller takes `pool.busy` with a trylock, publishes the
 * job, bumps the generation and wakes the workers; each worker runs its tid
 * and counts itself done; the caller runs tid 0 and waits for the count.
 * Workers are started on the first job that wants them; between jobs they
 * poll the generation for a while, then sleep on `wake`. After fork() the
 * child has no workers: an atfork handler forgets them so the child starts
 * its own if it needs them. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static struct {
    pthread_mutex_t busy;  /* held by the caller whose job is running */
    pthread_mutex_t lock;  /* guards everything below */
    pthread_cond_t wake;   /* generation changed, or quit */
    pthread_cond_t done;   /* pending reached 0 */
    pthread_t workers[AG_PARALLEL_MAX];
    int n_workers;         /* started so far (tids 1 .. n_workers) */
    atomic_ulong generation; /* written under lock; read without it by spinners */
    unsigned long spawn_generation; /* generation when the last worker was started */
    atomic_int pending;    /* workers that have not finished the current job */
    bool quit;
    ag_parallel_fn fn;
    void *ctx;
    int nthreads;
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int max_threads = 1;

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

int ag_parse_thread_count(const char *s, int fallback)
{
    if (!s) return fallback;
    while (is_blank(*s)) s++;
    long n = 0;
    const char *digits = s;
    for (; *s >= '0' && *s <= '9'; s++)
        if (n <= AG_PARALLEL_MAX) n = 10 * n + (*s - '0'); /* past the cap the value no longer matters */
    while (is_blank(*s)) s++;
    if (s == digits || *s != '\0' || n < 1) return fallback;
    return n > AG_PARALLEL_MAX ? AG_PARALLEL_MAX : (int)n;
}

static void threads_init(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int fallback = cpus < 1 ? 1 : cpus > AG_PARALLEL_MAX ? AG_PARALLEL_MAX : (int)cpus;
    max_threads = ag_parse_thread_count(getenv("AG_NUM_THREADS"), fallback);
}

int ag_parallel_threads(void)
{
    pthread_once(&threads_once, threads_init);
    return max_threads;
}

/* Polls before sleeping: a training step runs dozens of jobs back to back,
 * and a worker woken from a condition variable starts tens of microseconds
 * late, while a polling one starts at once. 2000 pause instructions: about
 * 30 us on the Xeon this was measured on; less on CPUs with a shorter pause. */
#define POOL_SPINS 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Poll until `*value` differs from `old` or the spins run out. */
static void spin_while_ulong(const atomic_ulong *value, unsigned long old)
{
    for (int i = 0; i < POOL_SPINS && atomic_load_explicit(value, memory_order_acquire) == old; i++)
        cpu_relax();
}

static void spin_while_positive(const atomic_int *value)
{
    for (int i = 0; i < POOL_SPINS && atomic_load_explicit(value, memory_order_acquire) > 0; i++)
        cpu_relax();
}

static void *worker_main(void *arg)
{
    int tid = (int)(long)arg;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = pool.spawn_generation; /* a job may be published before we run */
    for (;;) {
        if (!pool.quit && pool.generation == seen) {
            pthread_mutex_unlock(&pool.lock);
            spin_while_ulong(&pool.generation, seen);
            pthread_mutex_lock(&pool.lock);
        }
        while (!pool.quit && pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        if (pool.quit) break;
        seen = pool.generation;
        if (tid >= pool.nthreads) continue;
        ag_parallel_fn fn = pool.fn;
        void *ctx = pool.ctx;
        int nthreads = pool.nthreads;
        pthread_mutex_unlock(&pool.lock);
        fn(ctx, tid, nthreads);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* In a forked child only the forking thread exists: forget the workers. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.n_workers = 0;
    pool.pending = 0;
    pool.quit = false;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* Start workers up to tid nthreads-1 (caller holds pool.busy, not pool.lock);
 * returns how many threads can take part. */
static int start_workers(int nthreads)
{
    pthread_once(&atfork_once, register_atfork);
    while (pool.n_workers < nthreads - 1) {
        pthread_mutex_lock(&pool.lock);
        int tid = pool.n_workers + 1;
        pool.spawn_generation = pool.generation;
        int rc = pthread_create(&pool.workers[tid - 1], NULL, worker_main, (void *)(long)tid);
        if (rc == 0) pool.n_workers++;
        pthread_mutex_unlock(&pool.lock);
        if (rc != 0) break;
    }
    return pool.n_workers + 1 < nthreads ? pool.n_workers + 1 : nthreads;
}

void ag_parallel_run(int nthreads, ag_parallel_fn fn, void *ctx)
{
    if (nthreads > ag_parallel_threads()) nthreads = ag_parallel_threads();
    if (nthreads < 2 || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(ctx, 0, 1);
        return;
    }
    nthreads = start_workers(nthreads);
    if (nthreads < 2) {
        pthread_mutex_unlock(&pool.busy);
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.nthreads = nthreads;
    pool.pending = nthreads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    fn(ctx, 0, nthreads);

    spin_while_positive(&pool.pending);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}

typedef struct range_job {
    size_t n, align;
    ag_range_fn fn;
    void *ctx;
} range_job;

/* piece tid of nthreads: the n items as ceil(n / align) units of align
 * items, units [u*tid/nthreads, u*(tid+1)/nthreads) going to thread tid
 * (the last unit may be short) */
static void range_part(void *ctx, int tid, int nthreads)
{
    const range_job *job = ctx;
    size_t units = (job->n + job->align - 1) / job->align;
    size_t lo = units * (size_t)tid / (size_t)nthreads * job->align;
    size_t hi = units * (size_t)(tid + 1) / (size_t)nthreads * job->align;
    if (hi > job->n) hi = job->n;
    if (lo < hi) job->fn(job->ctx, lo, hi);
}

void ag_parallel_bands(int nthreads, size_t n, size_t align, ag_range_fn fn, void *ctx)
{
    range_job job = {.n = n, .align = align, .fn = fn, .ctx = ctx};
    ag_parallel_run(nthreads, range_part, &job);
}

void ag_parallel_range_split(size_t n, size_t doubles_per_item, ag_range_fn fn, void *ctx)
{
    /* 8 doubles: a 64-byte cache line */
    size_t align = doubles_per_item >= 8 ? 1 : 8, pieces = n / align;
    int nthreads = ag_parallel_threads();
    if ((size_t)nthreads > pieces) nthreads = pieces < 1 ? 1 : (int)pieces;
    ag_parallel_bands(nthreads, n, align, fn, ctx);
}

/* Join the workers when the library is unloaded or the process exits, so
 * leak checkers see no thread state left behind. */
__attribute__((destructor)) static void stop_workers(void)
{
    if (pool.n_workers == 0) return;
    pthread_mutex_lock(&pool.lock);
    pool.quit = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.workers[i], NULL);
    pool.n_workers = 0;
    pool.quit = false;
}
