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

/* ---- second order: what the recorded backward costs ------------------------------
 * The same chain, on a fresh graph each: forward + ag_backward (numbers in
 * gradient buffers) against forward + ag_grad(create_graph) (the gradient
 * recorded as nodes: here one mul by c per forward node, plus the seed),
 * ag_graph_bytes per forward node after each, and the recorded walk's time
 * per node beside the plain backward's. */
void bench_chain_memory(void)
{
    ag_tensor *x = ag_tensor_scalar(1.0);
    ag_tensor_requires_grad(x, true);
    ag_graph *g = ag_graph_new();
    ag_node *y = record_chain(g, x);
    size_t fwd_nodes = ag_graph_size(g);
    double t0 = bench_now();
    bool ok = ag_backward(g, y);
    double plain_ns = (bench_now() - t0) * 1e9 / CHAIN_N;
    size_t plain = ag_graph_bytes(g);
    ag_graph_free(g);

    g = ag_graph_new();
    ag_node *c = ag_scalar(g, CHAIN_C), *leaf = ag_param(g, x), *dy;
    y = leaf;
    for (long i = 0; i < CHAIN_N; i++) y = ag_mul(y, c);
    t0 = bench_now();
    ok = ok && ag_grad(g, y, 1, &leaf, &dy, true);
    double recorded_ns = (bench_now() - t0) * 1e9 / CHAIN_N;
    if (!ok) {
        printf("# chain memory: %s\n", ag_graph_error(g));
    } else {
        size_t recorded = ag_graph_bytes(g), all_nodes = ag_graph_size(g);
        double expected = pow(CHAIN_C, CHAIN_N);
        printf("# chain, recorded gradient: dy/dx = %.15g (relative error %.1e), %zu nodes: %zu "
               "forward + %zu recorded\n", ag_node_value(dy)[0],
               fabs(ag_node_value(dy)[0] - expected) / expected, all_nodes, fwd_nodes,
               all_nodes - fwd_nodes);
        printf("chain_1e6_plain_backward_bytes_per_node: %.1f B (ag_graph_bytes %zu after forward + "
               "ag_backward / %zu forward nodes)\n", (double)plain / fwd_nodes, plain, fwd_nodes);
        printf("chain_1e6_recorded_backward_bytes_per_node: %.1f B (ag_graph_bytes %zu after forward + "
               "ag_grad(create_graph) / %zu forward nodes; %.2f x the plain; %.1f B per recorded node "
               "above the plain graph)\n", (double)recorded / fwd_nodes, recorded, fwd_nodes,
               (double)recorded / plain, (double)(recorded - plain) / (all_nodes - fwd_nodes));
        printf("chain_1e6_plain_backward_once_ns_per_node: %.2f ns (one run)\n", plain_ns);
        printf("chain_1e6_recorded_backward_once_ns_per_node: %.2f ns (one run of ag_grad with "
               "create_graph: the walk and the recording of each share)\n", recorded_ns);
    }
    fflush(stdout);
    ag_graph_free(g);
    ag_tensor_free(x);
}
