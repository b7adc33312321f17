/* test_threads.c -- the thread-safety rule of agrad.h: independent objects
 * in different threads at once. N threads each build their own graph (with
 * products large enough to be split over the kernel thread pool), run
 * backward and an optimiser step, and save, read and load their own
 * checkpoint, all with a custom allocator (a size header before every block,
 * so a block freed through the wrong allocator is caught) set before the
 * threads start. Run under SAN=1 and SAN=thread. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define N_THREADS 4
#define ROUNDS 10
#define DIM 128 /* 128^3 multiply-adds: at the kernels' threshold for splitting */

/* ---- an allocator with a header, counting live blocks atomically ---------- */

#define HEADER 16 /* size, then a magic word; keeps the returned block 16-aligned */
static const uint64_t MAGIC = 0x61677261642d6f6bull; /* "agrad-ok" */
static atomic_long live_blocks, allocations, foreign_frees;

static void *header_malloc(size_t size)
{
    unsigned char *p = malloc(size + HEADER);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    memcpy(p + 8, &MAGIC, sizeof MAGIC);
    atomic_fetch_add(&live_blocks, 1);
    atomic_fetch_add(&allocations, 1);
    return p + HEADER;
}

/* A block this allocator did not hand out (no magic before it), or one
 * freed twice (magic cleared), is counted and left alone, not freed. */
static bool ours(void *ptr)
{
    uint64_t magic;
    memcpy(&magic, (unsigned char *)ptr - 8, sizeof magic);
    if (magic == MAGIC) return true;
    atomic_fetch_add(&foreign_frees, 1);
    return false;
}

static void header_free(void *ptr)
{
    if (!ptr || !ours(ptr)) return;
    memset((unsigned char *)ptr - 8, 0, 8);
    atomic_fetch_sub(&live_blocks, 1);
    free((unsigned char *)ptr - HEADER);
}

static void *header_realloc(void *ptr, size_t size)
{
    if (!ptr) return header_malloc(size);
    if (!ours(ptr)) return NULL;
    unsigned char *p = realloc((unsigned char *)ptr - HEADER, size + HEADER);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    atomic_fetch_add(&allocations, 1);
    return p + HEADER;
}

/* ---- one thread's work ---------------------------------------------------------- */

typedef struct job {
    int id;
    char dir[64];
    double loss[ROUNDS];
    double checksum; /* sum of W after the last step */
    bool ok;
    char why[256];
} job;

static bool job_fail(job *j, const char *what, const char *detail)
{
    snprintf(j->why, sizeof j->why, "thread %d: %s: %s", j->id, what, detail ? detail : "");
    j->ok = false;
    return false;
}

/* The checkpoint at path holds exactly ps's values: read it into a new store
 * and load it into a copy, both compared bit for bit. */
static bool check_round_trip(job *j, const ag_params *ps, const char *path)
{
    ag_params *back = ag_checkpoint_read(path);
    if (!back) return job_fail(j, "ag_checkpoint_read", ag_last_error());
    ag_params *into = ag_params_new();
    bool ok = true;
    for (size_t i = 0; ok && i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        const ag_tensor *b = ag_params_get(back, ag_tensor_name(t));
        size_t n = ag_tensor_size(t);
        int dims[4] = {0};
        for (int d = 0; d < ag_tensor_ndim(t); d++) dims[d] = ag_tensor_dim(t, d);
        ag_tensor *c = ag_params_add(into, ag_tensor_name(t), ag_tensor_ndim(t), dims);
        ok = b && c && ag_tensor_size(b) == n &&
             memcmp(ag_tensor_data(b), ag_tensor_data(t), n * sizeof(double)) == 0;
    }
    if (!ok) job_fail(j, "read back", "values differ");
    if (ok && !ag_checkpoint_load(into, path)) ok = job_fail(j, "ag_checkpoint_load", ag_last_error());
    for (size_t i = 0; ok && i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        ok = memcmp(ag_tensor_data(ag_params_at(into, i)), ag_tensor_data(t),
                    ag_tensor_size(t) * sizeof(double)) == 0;
        if (!ok) job_fail(j, "load", "values differ");
    }
    ag_params_free(into);
    ag_params_free(back);
    return ok;
}

/* Fill t from the generator. */
static void fill(ag_tensor *t, ag_rng *r)
{
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = ag_rng_uniform(r, -1, 1);
}

static void *run_job(void *arg)
{
    job *j = arg;
    j->ok = true;
    ag_rng r = ag_rng_new(1000 + (unsigned long long)j->id);
    ag_params *ps = ag_params_new();
    ag_tensor *W = ag_params_add(ps, "W", 2, (int[]){DIM, DIM});
    ag_tensor *b = ag_params_add(ps, "b", 1, (int[]){DIM});
    ag_tensor *x = ag_tensor_zeros(2, (int[]){DIM, DIM});
    ag_tensor *y = ag_tensor_zeros(2, (int[]){DIM, DIM});
    ag_graph *g = ag_graph_new();
    if (!ps || !W || !b || !x || !y || !g) {
        job_fail(j, "setup", ag_last_error());
        goto done;
    }
    fill(W, &r);
    fill(b, &r);
    fill(x, &r);
    fill(y, &r);
    ag_tensor *params[] = {W, b};
    ag_optimizer_config cfg = ag_adam_config(0.01);
    ag_optimizer *opt = ag_optimizer_new(2, params, &cfg);
    /* two products: x W (forward) and, in backward, x^T dY and dY W^T */
    ag_node *h = ag_tanh(ag_linear(ag_input(g, x), ag_param(g, W), ag_param(g, b)));
    ag_node *loss = ag_mse(ag_matmul(h, ag_param(g, W)), ag_input(g, y));
    char path[128];
    snprintf(path, sizeof path, "%s/thread%d.safetensors", j->dir, j->id);
    for (int k = 0; j->ok && k < ROUNDS; k++) {
        if (!opt || !loss || !ag_graph_forward(g)) {
            job_fail(j, "forward", ag_graph_error(g));
            break;
        }
        j->loss[k] = ag_node_value(loss)[0];
        ag_optimizer_zero_grad(opt);
        if (!ag_backward(g, loss)) {
            job_fail(j, "backward", ag_graph_error(g));
            break;
        }
        ag_optimizer_step(opt);
        if (!ag_checkpoint_save(ps, path)) {
            job_fail(j, "ag_checkpoint_save", ag_last_error());
            break;
        }
        check_round_trip(j, ps, path);
    }
    j->checksum = 0;
    for (size_t i = 0; i < ag_tensor_size(W); i++) j->checksum += ag_tensor_data(W)[i];
    unlink(path);
    ag_optimizer_free(opt);
done:
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_params_free(ps);
    return NULL;
}

START_TEST(independent_graphs_and_checkpoints_in_threads)
{
    char dir[64] = "/tmp/agrad_threads_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ag_set_allocator(&(ag_allocator){header_malloc, header_realloc, header_free});
    atomic_store(&live_blocks, 0);
    atomic_store(&foreign_frees, 0);
    /* the reference: every job alone, one after the other */
    job alone[N_THREADS], together[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        alone[t] = (job){.id = t};
        strcpy(alone[t].dir, dir);
        run_job(&alone[t]);
        ck_assert_msg(alone[t].ok, "%s", alone[t].why);
    }
    pthread_t threads[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        together[t] = (job){.id = t};
        strcpy(together[t].dir, dir);
        ck_assert_int_eq(pthread_create(&threads[t], NULL, run_job, &together[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    for (int t = 0; t < N_THREADS; t++) {
        ck_assert_msg(together[t].ok, "%s", together[t].why);
        for (int k = 0; k < ROUNDS; k++)
            ck_assert_msg(together[t].loss[k] == alone[t].loss[k],
                          "thread %d round %d: loss %.17g, alone %.17g", t, k,
                          together[t].loss[k], alone[t].loss[k]);
        ck_assert(together[t].checksum == alone[t].checksum);
        ck_assert(together[t].loss[ROUNDS - 1] < together[t].loss[0]); /* it trains */
    }
    ck_assert_int_eq(atomic_load(&foreign_frees), 0); /* nothing of another allocator's */
    ck_assert_int_eq(atomic_load(&live_blocks), 0);   /* every block came back to us */
    ck_assert_int_gt(atomic_load(&allocations), 0);
    ag_set_allocator(NULL);
    ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
}
END_TEST

Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("independent objects in threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, independent_graphs_and_checkpoints_in_threads);
    suite_add_tcase(s, tc);
    return s;
}
