/* bench_cnn.c -- the Fashion-MNIST CNN's training step (`agrad_bench cnn`):
 * examples/fashion-cnn's model (cnn.h, CNN_DEFAULT_CONFIG), batch 64 of
 * [1,28,28] images, softmax cross-entropy, forward + backward + Adam, float64,
 * the graph recorded once and replayed as the example trains (the batch
 * copied in by ag_batches_next from a set of 640 random images, the
 * accuracy read after: the example's step but for the mirroring). Allocations
 * during the timed steps are counted (ag_set_allocator): a replayed step
 * should make none. GFLOP/s counts
 * the conventional 3 x the forward's 2 x multiply-adds (the first
 * convolution's input gradient, which no one needs, included).
 *
 * Beside it PyTorch's figure for the same step (bench/cnn_torch.py, run from
 * here right after when /usr/bin/python3 has torch) and the ratio the target
 * is stated in: PyTorch's best thread setting's ms over agrad's (>= 1.2).
 * Then where agrad's step goes: every recorded node's forward and vjp timed
 * one by one, summed by op, against the whole step (the rest is the
 * optimiser, the gradient zeroing and the sweep's bookkeeping). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cnn.h"
#include "internal.h"

enum { BATCH = 64, SET = 10 * BATCH, STEPS_PER_REP = 5, MAX_OPS = 32 };

typedef struct cnn_step {
    ag_params *store;
    cnn model;
    ag_rng dropout_rng;
    ag_tensor *set_x, *set_y; /* SET random images and labels */
    ag_batches *batches;
    ag_tensor *x, *labels;    /* the batch */
    ag_graph *g;
    ag_node *logits, *loss;
    ag_optimizer *adam;
} cnn_step;

/* Allocations through agrad's allocator while counting is on (the kernel
 * threads may allocate too, hence atomic). */
static atomic_long allocations;
static void *counting_malloc(size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return malloc(size);
}
static void *counting_realloc(void *ptr, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return realloc(ptr, size);
}
static const ag_allocator counting = {counting_malloc, counting_realloc, free};

static bool cnn_step_init(cnn_step *s)
{
    cnn_config config = CNN_DEFAULT_CONFIG;
    ag_rng init = ag_rng_new(1);
    s->store = ag_params_new();
    s->dropout_rng = ag_rng_new(2);
    if (!s->store || !cnn_init(&s->model, s->store, &config, &init)) return false;
    s->set_x = ag_tensor_zeros(4, (int[]){SET, 1, CNN_SIDE, CNN_SIDE});
    s->set_y = ag_tensor_zeros(1, (int[]){SET});
    s->x = ag_tensor_zeros(4, (int[]){BATCH, 1, CNN_SIDE, CNN_SIDE});
    s->labels = ag_tensor_zeros(1, (int[]){BATCH});
    if (!s->set_x || !s->set_y || !s->x || !s->labels) return false;
    for (size_t i = 0; i < ag_tensor_size(s->set_x); i++) ag_tensor_data(s->set_x)[i] = bench_uniform();
    for (int i = 0; i < SET; i++) ag_tensor_data(s->set_y)[i] = i % CNN_CLASSES;
    s->batches = ag_batches_new(s->set_x, s->set_y, BATCH, AG_BATCHES_SHUFFLE | AG_BATCHES_DROP_LAST, 3);
    s->g = ag_graph_new();
    s->logits = cnn_forward(&s->model, ag_input(s->g, s->x), true, &s->dropout_rng);
    s->loss = ag_softmax_xent(s->logits, ag_input(s->g, s->labels));
    ag_optimizer_config adam = ag_adam_config(1e-3);
    s->adam = ag_optimizer_new(s->model.n_trainable, s->model.trainable, &adam);
    return s->batches && s->loss && s->adam;
}

static void cnn_step_free(cnn_step *s)
{
    ag_optimizer_free(s->adam);
    ag_graph_free(s->g);
    ag_batches_free(s->batches);
    ag_tensor_free(s->x);
    ag_tensor_free(s->labels);
    ag_tensor_free(s->set_x);
    ag_tensor_free(s->set_y);
    ag_params_free(s->store);
}

/* one training step as the example takes it */
static bool cnn_step_run(cnn_step *s)
{
    int rows = ag_batches_next(s->batches, s->x, s->labels);
    if (rows == 0) rows = ag_batches_next(s->batches, s->x, s->labels); /* the next epoch */
    ag_optimizer_zero_grad(s->adam);
    if (rows != BATCH || !ag_graph_forward(s->g) || !ag_backward(s->g, s->loss)) return false;
    ag_optimizer_step(s->adam);
    return ag_accuracy(s->logits, s->labels, BATCH) >= 0;
}

/* ---- PyTorch's figure (bench/cnn_torch.py) ---------------------------------- */

/* Run cnn_torch.py, echo what it prints, return its best ms per step (0 when
 * it could not run). */
static double torch_best_ms(void)
{
    const cnn_config c = CNN_DEFAULT_CONFIG;
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 bench/cnn_torch.py --channels %d,%d --hidden %d --dropout %g --steps 5 --reps 7 "
             "--warmup 2 2>/dev/null",
             c.c1, c.c2, c.hidden, c.dropout);
    fflush(stdout);
    FILE *child = popen(cmd, "r");
    if (!child) return 0.0;
    double best = 0.0;
    const char *key = "cnn_torch_f64_best_ms_per_step:";
    while (fgets(line, sizeof line, child)) {
        fputs(line, stdout);
        if (strncmp(line, key, strlen(key)) == 0) best = strtod(line + strlen(key), NULL);
    }
    pclose(child);
    return best;
}

/* ---- where the step goes ------------------------------------------------------ */

typedef struct op_time {
    const char *name;
    double forward, vjp; /* seconds over the sweeps */
} op_time;

static op_time *op_slot(op_time *ops, int *n_ops, const char *name)
{
    for (int i = 0; i < *n_ops; i++)
        if (strcmp(ops[i].name, name) == 0) return &ops[i];
    if (*n_ops == MAX_OPS) return NULL;
    ops[*n_ops] = (op_time){.name = name};
    return &ops[(*n_ops)++];
}

/* Each node's forward in recording order, then each vjp in reverse (their
 * gradients hold the last backward's values and accumulate further: the
 * numbers are meaningless, the work is the step's), `sweeps` times. */
static void profile_ops(cnn_step *s, int sweeps, double step_ms)
{
    op_time ops[MAX_OPS];
    int n_ops = 0;
    char why[AG_ERROR_SIZE];
    for (int r = 0; r < sweeps; r++) {
        for (size_t i = 0; i < s->g->n_nodes; i++) {
            ag_node *n = s->g->nodes[i];
            op_time *t = ag_node_is_leaf(n) ? NULL : op_slot(ops, &n_ops, n->op->name);
            if (!t || !n->kernels->forward) continue;
            double t0 = bench_now();
            n->kernels->forward(n, why, sizeof why);
            t->forward += bench_now() - t0;
        }
        for (size_t i = s->g->n_nodes; i-- > 0;) {
            ag_node *n = s->g->nodes[i];
            op_time *t = ag_node_is_leaf(n) ? NULL : op_slot(ops, &n_ops, n->op->name);
            if (!t || !n->kernels->vjp || !n->grad) continue;
            double t0 = bench_now();
            n->kernels->vjp(n);
            t->vjp += bench_now() - t0;
        }
    }
    double total = 0.0;
    for (int i = 0; i < n_ops; i++) total += ops[i].forward + ops[i].vjp;
    printf("# where a step goes (each node timed alone, ms per step; %% of the step's %.2f ms):\n", step_ms);
    for (int i = 0; i < n_ops; i++) {
        double f = ops[i].forward * 1e3 / sweeps, v = ops[i].vjp * 1e3 / sweeps;
        printf("#   %-14s forward %7.3f  vjp %7.3f  (%4.1f %%)\n", ops[i].name, f, v, 100 * (f + v) / step_ms);
    }
    double rest = step_ms - total * 1e3 / sweeps;
    printf("#   %-14s %7.3f ms (%4.1f %%): optimiser, gradient zeroing, sweep\n", "the rest", rest,
           100 * rest / step_ms);
}

void bench_cnn(void)
{
    cnn_step s = {0};
    const cnn_config c = CNN_DEFAULT_CONFIG;
    ag_set_allocator(&counting); /* before any object: each is freed with it */
    if (!cnn_step_init(&s)) {
        printf("# cnn: could not set up the step: %s\n", s.g && ag_graph_error(s.g) ? ag_graph_error(s.g)
                                                                                  : ag_last_error());
        cnn_step_free(&s);
        ag_set_allocator(NULL);
        return;
    }
    double flop = 3.0 * 2.0 * BATCH * cnn_forward_macs(&c);
    printf("# CNN (examples/fashion-cnn) conv 1->%d, conv %d->%d, linear %d, dropout %g; batch %d float64, "
           "forward + backward + Adam, replayed; %.3f GFLOP/step; gemm %s, %d threads\n",
           c.c1, c.c1, c.c2, c.hidden, c.dropout, BATCH, flop * 1e-9, ag_gemm_isa(), ag_gemm_threads());
    double ms[BENCH_REPS], gf[BENCH_REPS];
    bool ok = cnn_step_run(&s) && cnn_step_run(&s);
    atomic_store(&allocations, 0);
    for (int r = 0; ok && r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int k = 0; ok && k < STEPS_PER_REP; k++) ok = cnn_step_run(&s);
        ms[r] = (bench_now() - t0) * 1e3 / STEPS_PER_REP;
        gf[r] = flop / (ms[r] * 1e-3) * 1e-9;
    }
    long allocated = atomic_load(&allocations);
    if (!ok) {
        printf("# cnn: a step failed: %s\n", ag_graph_error(s.g) ? ag_graph_error(s.g) : ag_last_error());
        cnn_step_free(&s);
        ag_set_allocator(NULL);
        return;
    }
    double agrad_ms = bench_report("cnn_agrad_ms_per_step", ms, BENCH_REPS, "ms", "steps/rep=5");
    bench_report("cnn_agrad_gflops", gf, BENCH_REPS, "GFLOP/s", NULL);
    printf("cnn_agrad_allocations_per_step: %.2f (over the %d timed steps; target 0)\n",
           (double)allocated / (BENCH_REPS * STEPS_PER_REP), BENCH_REPS * STEPS_PER_REP);
    profile_ops(&s, 3, agrad_ms);
    double torch_ms = torch_best_ms();
    if (torch_ms > 0.0)
        printf("cnn_torch_best_over_agrad: %.2f (PyTorch's faster thread setting's ms per step / agrad's; "
               "target >= 1.2)\n", torch_ms / agrad_ms);
    else
        printf("# PyTorch not found (/usr/bin/python3 with torch): no comparison in this run\n");
    fflush(stdout);
    cnn_step_free(&s);
    ag_set_allocator(NULL);
}
