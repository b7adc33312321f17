/* bench_pool.c -- pooling and dropout at a small CNN's sizes: x [32,16,28,28]
 * (a batch of 32 MNIST-sized maps, 16 channels; 401408 doubles, 3.2 MB),
 * max_pool2d and avg_pool2d with 2x2 windows, stride 2, and dropout p = 0.5,
 * each replayed (ag_graph_forward + ag_backward of sum(op(x))) beside relu on
 * the same x, the cheapest op that reads and writes every element. The
 * figures: ms per replayed step, the ratio to relu's, and the bytes the
 * graph grew by over the replays (0: nothing allocated per replay). */
#include <stdio.h>

#include "bench.h"

enum { PB_N = 32, PB_C = 16, PB_H = 28, PB_W = 28 };

typedef enum { POOL_RELU, POOL_MAX, POOL_AVG, POOL_DROPOUT } pool_kind;

static ag_node *pooled(ag_node *x, pool_kind kind, ag_rng *rng)
{
    switch (kind) {
    case POOL_MAX: return ag_max_pool2d(x, 2, 2);
    case POOL_AVG: return ag_avg_pool2d(x, 2, 2);
    case POOL_DROPOUT: return ag_dropout(x, 0.5, rng, true);
    default: return ag_relu(x);
    }
}

/* the median ms of a replayed forward + backward; *growth: graph bytes added */
static double time_replays(ag_tensor *x, pool_kind kind, const char *name, size_t *growth)
{
    ag_graph *g = ag_graph_new();
    ag_rng rng = ag_rng_new(17);
    ag_node *loss = ag_sum(pooled(ag_param(g, x), kind, &rng));
    double ms[BENCH_REPS];
    size_t before = 0;
    for (int r = -1; r < BENCH_REPS; r++) { /* r = -1: a warm-up replay */
        double t0 = bench_now();
        if (!loss || !ag_graph_forward(g) || !ag_backward(g, loss)) {
            printf("# %s: failed: %s\n", name, ag_graph_error(g));
            ag_graph_free(g);
            return 0.0;
        }
        if (r >= 0) ms[r] = (bench_now() - t0) * 1e3;
        else before = ag_graph_bytes(g);
    }
    *growth = ag_graph_bytes(g) - before;
    ag_graph_free(g);
    return bench_report(name, ms, BENCH_REPS, "ms", NULL);
}

void bench_pool(void)
{
    int dims[4] = {PB_N, PB_C, PB_H, PB_W};
    ag_tensor *x = ag_tensor_zeros(4, dims);
    for (size_t k = 0; k < ag_tensor_size(x); k++) ag_tensor_data(x)[k] = bench_uniform();
    ag_tensor_requires_grad(x, true);
    printf("# pooling: x [%d,%d,%d,%d], 2x2 windows stride 2, dropout p = 0.5; replayed forward + backward "
           "of sum(op(x))\n", PB_N, PB_C, PB_H, PB_W);
    static const struct { pool_kind kind; const char *name; } ops[] = {
        {POOL_RELU, "pool_relu_replay_ms"}, {POOL_MAX, "pool_max_pool2d_replay_ms"},
        {POOL_AVG, "pool_avg_pool2d_replay_ms"}, {POOL_DROPOUT, "pool_dropout_replay_ms"},
    };
    double relu = 0.0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t growth = 0;
        double t = time_replays(x, ops[i].kind, ops[i].name, &growth);
        if (ops[i].kind == POOL_RELU) relu = t;
        else if (relu > 0.0)
            printf("%s_over_relu: %.2f x (graph growth over the replays %zu B)\n", ops[i].name, t / relu,
                   growth);
    }
    fflush(stdout);
    ag_tensor_free(x);
}
