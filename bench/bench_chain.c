/* bench_chain.c -- a chain of 10^6 scalar nodes, y = y * c repeated, from one
 * parameter x (c is one constant node). Reports the backward time per node,
 * the recording (forward) time per node, and the graph's bytes per node
 * (ag_graph_bytes / nodes: arena chunks plus the node list). The gradient
 * must be c^n, checked against pow(). */
#include <math.h>
#include <stdio.h>

#include "bench.h"

#define CHAIN_N 1000000
#define CHAIN_C 1.0000001

static ag_node *record_chain(ag_graph *g, ag_tensor *x)
{
    ag_graph_reset(g);
    ag_node *c = ag_scalar(g, CHAIN_C), *y = ag_param(g, x);
    for (long i = 0; i < CHAIN_N; i++) y = ag_mul(y, c);
    return y;
}

void bench_chain(void)
{
    ag_tensor *x = ag_tensor_scalar(1.0);
    ag_tensor_requires_grad(x, true);
    ag_graph *g = ag_graph_new();
    double fwd[BENCH_REPS], bwd[BENCH_REPS];
    ag_node *y = NULL;
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        y = record_chain(g, x);
        double t1 = bench_now();
        ag_tensor_zero_grad(x);
        if (!ag_backward(g, y)) {
            printf("# chain: backward failed: %s\n", ag_graph_error(g));
            break;
        }
        double t2 = bench_now();
        fwd[r] = (t1 - t0) * 1e9 / CHAIN_N;
        bwd[r] = (t2 - t1) * 1e9 / CHAIN_N;
    }
    double expected = pow(CHAIN_C, CHAIN_N), got = ag_tensor_grad(x)[0];
    printf("# chain y = y*c, %d mul nodes (%zu in the graph): dy/dx = %.15g, c^n = %.15g, "
           "relative error %.1e\n",
           CHAIN_N, ag_graph_size(g), got, expected, fabs(got - expected) / expected);
    bench_report("chain_1e6_backward_ns_per_node", bwd, BENCH_REPS, "ns", "target <= 100");
    bench_report("chain_1e6_record_ns_per_node", fwd, BENCH_REPS, "ns", NULL);
    printf("chain_1e6_bytes_per_node: %.1f B (ag_graph_bytes %zu / %d nodes; target <= 200)\n",
           (double)ag_graph_bytes(g) / CHAIN_N, ag_graph_bytes(g), CHAIN_N);
    fflush(stdout);
    ag_graph_free(g);
    ag_tensor_free(x);
}
