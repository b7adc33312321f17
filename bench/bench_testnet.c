/* bench_testnet.c -- one TestNet training step (forward + loss + backward, one
 * sample, the network of examples/testnet) five ways:
 *   hand     plain loops derived by hand (hand_testnet.c)
 *   rebuild  agrad recording the graph anew each step (reset, record,
 *            zero the parameter gradients, backward)
 *   replay   agrad re-running one recorded graph (new input values, forward,
 *            zero gradients, backward)
 * each of the two agrad ways with the layers written as matmul then add (as
 * examples/testnet does, node for node like the derivation) and as one
 * ag_linear node per layer (as ag_dense records them).
 * Inputs and labels cycle through a 1024-entry table so nothing is constant.
 * The three are interleaved repetition by repetition so that machine noise
 * hits them alike; the ratios are of the medians. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define TABLE 1024

typedef struct engine_net {
    ag_tensor *W1, *b1, *W2, *b2, *a0, *y;
    ag_graph *g;
    ag_node *J;
    bool fused; /* layers as ag_linear instead of ag_matmul + ag_add */
} engine_net;

static double inputs[TABLE][BN_IN];
static int labels[TABLE];

static ag_tensor *param(int rows, int cols, const double *data)
{
    ag_tensor *t = ag_tensor_from(2, (int[]){rows, cols}, data);
    ag_tensor_requires_grad(t, true);
    return t;
}

/* W x + b, as one node or two */
static ag_node *layer(const engine_net *n, ag_tensor *W, ag_node *x, ag_tensor *b)
{
    ag_node *Wn = ag_param(n->g, W), *bn = ag_param(n->g, b);
    return n->fused ? ag_linear(Wn, x, bn) : ag_add(ag_matmul(Wn, x), bn);
}

/* z1 = W1 a0 + b1, a1 = relu(z1), z2 = W2 a1 + b2, J = softmax_xent(z2, y) */
static void engine_record(engine_net *n)
{
    ag_node *z1 = layer(n, n->W1, ag_input(n->g, n->a0), n->b1);
    ag_node *z2 = layer(n, n->W2, ag_relu(z1), n->b2);
    n->J = ag_softmax_xent(z2, ag_input(n->g, n->y));
}

static void engine_zero_grads(engine_net *n)
{
    ag_tensor_zero_grad(n->W1);
    ag_tensor_zero_grad(n->b1);
    ag_tensor_zero_grad(n->W2);
    ag_tensor_zero_grad(n->b2);
}

static void engine_set_input(engine_net *n, long i)
{
    double *a0 = ag_tensor_data(n->a0);
    for (int j = 0; j < BN_IN; j++) a0[j] = inputs[i & (TABLE - 1)][j];
    ag_tensor_data(n->y)[0] = labels[i & (TABLE - 1)];
}

static double engine_rebuild_step(engine_net *n, long i)
{
    engine_set_input(n, i);
    ag_graph_reset(n->g);
    engine_record(n);
    engine_zero_grads(n);
    ag_backward(n->g, n->J);
    return ag_node_value(n->J)[0];
}

static double engine_replay_step(engine_net *n, long i)
{
    engine_set_input(n, i);
    ag_graph_forward(n->g);
    engine_zero_grads(n);
    ag_backward(n->g, n->J);
    return ag_node_value(n->J)[0];
}

/* largest |engine - hand| over the loss and every gradient, for one sample */
static double engine_vs_hand(engine_net *n, const hand_params *P)
{
    hand_params G;
    double J = hand_testnet_step(P, inputs[5], labels[5], &G);
    double J2 = engine_rebuild_step(n, 5), worst = J > J2 ? J - J2 : J2 - J;
    const ag_tensor *t[] = {n->W1, n->b1, n->W2, n->b2};
    const double *h[] = {&G.W1[0][0], G.b1, &G.W2[0][0], G.b2};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < ag_tensor_size(t[k]); i++) {
            double d = ag_tensor_grad(t[k])[i] - h[k][i];
            worst = d > worst ? d : -d > worst ? -d : worst;
        }
    return worst;
}

/* Random parameters and input table; the two engine nets on the same
 * parameter tensors, each with a graph of its own. */
static void testnet_setup(hand_params *P, engine_net *split, engine_net *fused)
{
    double *p = &P->W1[0][0];
    for (size_t i = 0; i < sizeof *P / sizeof(double); i++) p[i] = 0.5 * bench_uniform();
    for (int t = 0; t < TABLE; t++) {
        for (int j = 0; j < BN_IN; j++) inputs[t][j] = 2.0 * bench_uniform();
        labels[t] = bench_uniform() > 0.0;
    }
    *split = (engine_net){
        .W1 = param(BN_HID, BN_IN, &P->W1[0][0]), .b1 = param(BN_HID, 1, P->b1),
        .W2 = param(BN_OUT, BN_HID, &P->W2[0][0]), .b2 = param(BN_OUT, 1, P->b2),
        .a0 = ag_tensor_zeros(2, (int[]){BN_IN, 1}), .y = ag_tensor_scalar(0), .g = ag_graph_new()};
    *fused = *split;
    fused->fused = true;
    fused->g = ag_graph_new();
}

static void testnet_teardown(engine_net *split, engine_net *fused)
{
    ag_graph_free(split->g);
    ag_graph_free(fused->g);
    ag_tensor *all[] = {split->W1, split->b1, split->W2, split->b2, split->a0, split->y};
    for (int k = 0; k < 6; k++) ag_tensor_free(all[k]);
}

static double engine_hvp_step(engine_net *n, long i, const double *v, double *hv);
static double hvp_v[BN_HID * BN_IN], hvp_out[BN_HID * BN_IN];

int bench_testnet_steps(const char *way, long n)
{
    hand_params P, G;
    engine_net split, fused;
    testnet_setup(&P, &split, &fused);
    bool linear = strncmp(way, "linear-", 7) == 0;
    const char *what = linear ? way + 7 : way;
    engine_net *net = linear ? &fused : &split;
    double sink = engine_rebuild_step(net, 0); /* recorded once, as for replay */
    int known = 1;
    if (strcmp(way, "hand") == 0)
        for (long i = 0; i < n; i++)
            sink += hand_testnet_step(&P, inputs[i & (TABLE - 1)], labels[i & (TABLE - 1)], &G);
    else if (strcmp(what, "rebuild") == 0)
        for (long i = 0; i < n; i++) sink += engine_rebuild_step(net, i);
    else if (strcmp(what, "replay") == 0)
        for (long i = 0; i < n; i++) sink += engine_replay_step(net, i);
    else if (strcmp(what, "hvp") == 0) { /* second order (below): record, ag_hvp w.r.t. W1 */
        for (int k = 0; k < BN_HID * BN_IN; k++) hvp_v[k] = bench_uniform();
        for (long i = 0; i < n; i++) sink += engine_hvp_step(net, i, hvp_v, hvp_out);
    }
    else
        known = 0;
    if (known)
        printf("# %ld %s steps, checksum %.6g\n", n, way, sink);
    else
        fprintf(stderr, "agrad_bench testnet-steps: unknown way '%s' (hand, rebuild, replay, "
                        "linear-rebuild, linear-replay, hvp or linear-hvp)\n", way);
    testnet_teardown(&split, &fused);
    return known ? 0 : 2;
}

void bench_testnet(void)
{
    hand_params P, G;
    engine_net split, fused;
    testnet_setup(&P, &split, &fused);
    engine_net *nets[2] = {&split, &fused};
    printf("# TestNet step: agrad vs hand max |difference| over J and all gradients: %.1e "
           "(matmul + add), %.1e (linear)\n", engine_vs_hand(&split, &P), engine_vs_hand(&fused, &P));

    enum { HAND_ITERS = 4000000, REBUILD_ITERS = 400000, REPLAY_ITERS = 1000000 };
    double hand[BENCH_REPS], rebuild[2][BENCH_REPS], replay[2][BENCH_REPS], sink = 0.0;
    /* warm up, and leave each recorded graph in place for replay */
    for (long i = 0; i < 100000; i++) sink += hand_testnet_step(&P, inputs[i & (TABLE - 1)], labels[i & (TABLE - 1)], &G);
    for (int k = 0; k < 2; k++) {
        for (long i = 0; i < 100000; i++) sink += engine_rebuild_step(nets[k], i);
        for (long i = 0; i < 100000; i++) sink += engine_replay_step(nets[k], i);
    }
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (long i = 0; i < HAND_ITERS; i++)
            sink += hand_testnet_step(&P, inputs[i & (TABLE - 1)], labels[i & (TABLE - 1)], &G);
        hand[r] = (bench_now() - t0) * 1e9 / HAND_ITERS;
        for (int k = 0; k < 2; k++) {
            double t1 = bench_now();
            for (long i = 0; i < REBUILD_ITERS; i++) sink += engine_rebuild_step(nets[k], i);
            double t2 = bench_now();
            for (long i = 0; i < REPLAY_ITERS; i++) sink += engine_replay_step(nets[k], i);
            double t3 = bench_now();
            rebuild[k][r] = (t2 - t1) * 1e9 / REBUILD_ITERS;
            replay[k][r] = (t3 - t2) * 1e9 / REPLAY_ITERS;
        }
    }
    printf("# TestNet checksum %.6g (keeps every step alive)\n", sink + G.W1[0][0]);
    double h = bench_report("testnet_hand_ns_per_step", hand, BENCH_REPS, "ns", NULL);
    const char *way[2] = {"", "_linear"}, *what[2] = {"matmul + add", "ag_linear"};
    for (int k = 0; k < 2; k++) {
        char name[96];
        printf("# agrad with each layer as %s (%zu nodes, %zu bytes of graph)\n", what[k],
               ag_graph_size(nets[k]->g), ag_graph_bytes(nets[k]->g));
        snprintf(name, sizeof name, "testnet_agrad%s_rebuild_ns_per_step", way[k]);
        double rb = bench_report(name, rebuild[k], BENCH_REPS, "ns", NULL);
        snprintf(name, sizeof name, "testnet_agrad%s_replay_ns_per_step", way[k]);
        double rp = bench_report(name, replay[k], BENCH_REPS, "ns", NULL);
        printf("testnet%s_ratio_rebuild_over_hand: %.2f x (target <= 5)\n", way[k], rb / h);
        printf("testnet%s_ratio_replay_over_hand: %.2f x (target <= 2)\n", way[k], rp / h);
    }
    fflush(stdout);

    testnet_teardown(&split, &fused);
}

/* ---- second order: a Hessian-vector product against a gradient ---------------
 * The gradient is the rebuild step above (reset, record, zero, ag_backward);
 * the HVP the same recording, then ag_hvp with respect to W1 for a fixed v:
 * ag_hvp records d J / d W1 as nodes (ag_grad with create_graph) and pushes
 * v through one forward sweep (ag_jvp) over the forward and gradient nodes.
 * Both rebuild the graph each step, so the ratio is of like with like. */

/* engine_record's graph, node for node, returning W1's leaf (the HVP's wrt) */
static ag_node *engine_record_keeping_w1(engine_net *n)
{
    ag_graph *g = n->g;
    ag_node *a0 = ag_input(g, n->a0), *W1 = ag_param(g, n->W1), *b1 = ag_param(g, n->b1);
    ag_node *z1 = n->fused ? ag_linear(W1, a0, b1) : ag_add(ag_matmul(W1, a0), b1);
    ag_node *z2 = layer(n, n->W2, ag_relu(z1), n->b2);
    n->J = ag_softmax_xent(z2, ag_input(g, n->y));
    return W1;
}

static double engine_hvp_step(engine_net *n, long i, const double *v, double *hv)
{
    engine_set_input(n, i);
    ag_graph_reset(n->g);
    ag_node *W1 = engine_record_keeping_w1(n);
    ag_hvp(n->g, n->J, W1, v, hv);
    return hv[0];
}

/* largest |agrad's H v - central difference of the hand gradient| for one
 * sample: (grad(W1 + eps v) - grad(W1 - eps v)) / (2 eps), eps 1e-6 (no
 * pre-activation of TestNet's sample crosses relu's kink within it) */
static double hvp_vs_hand(engine_net *n, const hand_params *P, const double *v)
{
    enum { SAMPLE = 5 };
    const double eps = 1e-6;
    double hv[BN_HID * BN_IN], worst = 0.0;
    engine_hvp_step(n, SAMPLE, v, hv);
    if (ag_graph_error(n->g)) return -1.0;
    hand_params plus = *P, minus = *P, Gp, Gm;
    for (int k = 0; k < BN_HID * BN_IN; k++) {
        (&plus.W1[0][0])[k] += eps * v[k];
        (&minus.W1[0][0])[k] -= eps * v[k];
    }
    hand_testnet_step(&plus, inputs[SAMPLE], labels[SAMPLE], &Gp);
    hand_testnet_step(&minus, inputs[SAMPLE], labels[SAMPLE], &Gm);
    for (int k = 0; k < BN_HID * BN_IN; k++) {
        double d = hv[k] - ((&Gp.W1[0][0])[k] - (&Gm.W1[0][0])[k]) / (2 * eps);
        worst = d > worst ? d : -d > worst ? -d : worst;
    }
    return worst;
}

void bench_testnet_hvp(void)
{
    hand_params P;
    engine_net split, fused;
    testnet_setup(&P, &split, &fused);
    engine_net *nets[2] = {&split, &fused};
    double v[BN_HID * BN_IN], hv[BN_HID * BN_IN];
    for (int k = 0; k < BN_HID * BN_IN; k++) v[k] = bench_uniform();
    for (int k = 0; k < 2; k++) {
        double d = hvp_vs_hand(nets[k], &P, v);
        if (d < 0.0) {
            printf("# TestNet HVP (%s): ag_hvp failed: %s\n", k ? "ag_linear" : "matmul + add",
                   ag_graph_error(nets[k]->g));
            testnet_teardown(&split, &fused);
            return;
        }
        printf("# TestNet HVP w.r.t. W1 (%s): %zu nodes after ag_hvp (%zu bytes of graph); max |ag_hvp - "
               "central difference of the hand gradient| %.1e\n", k ? "ag_linear" : "matmul + add",
               ag_graph_size(nets[k]->g), ag_graph_bytes(nets[k]->g), d);
    }

    enum { GRAD_ITERS = 200000, HVP_ITERS = 50000 };
    double grad[2][BENCH_REPS], hvp[2][BENCH_REPS], sink = 0.0;
    for (int k = 0; k < 2; k++) /* warm up */
        for (long i = 0; i < 20000; i++) sink += engine_rebuild_step(nets[k], i) + engine_hvp_step(nets[k], i, v, hv);
    for (int r = 0; r < BENCH_REPS; r++)
        for (int k = 0; k < 2; k++) {
            double t0 = bench_now();
            for (long i = 0; i < GRAD_ITERS; i++) sink += engine_rebuild_step(nets[k], i);
            double t1 = bench_now();
            for (long i = 0; i < HVP_ITERS; i++) sink += engine_hvp_step(nets[k], i, v, hv);
            double t2 = bench_now();
            grad[k][r] = (t1 - t0) * 1e9 / GRAD_ITERS;
            hvp[k][r] = (t2 - t1) * 1e9 / HVP_ITERS;
        }
    printf("# TestNet HVP checksum %.6g\n", sink);
    const char *way[2] = {"", "_linear"};
    for (int k = 0; k < 2; k++) {
        char name[96];
        snprintf(name, sizeof name, "testnet%s_gradient_rebuild_ns", way[k]);
        double gr = bench_report(name, grad[k], BENCH_REPS, "ns", NULL);
        snprintf(name, sizeof name, "testnet%s_hvp_w1_rebuild_ns", way[k]);
        double hp = bench_report(name, hvp[k], BENCH_REPS, "ns", NULL);
        printf("testnet%s_ratio_hvp_over_gradient: %.2f x (target <= 5)\n", way[k], hp / gr);
    }
    fflush(stdout);
    testnet_teardown(&split, &fused);
}
