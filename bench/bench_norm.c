/* bench_norm.c -- batch_norm on a convolutional layer's activations,
 * [64, 32, 28, 28] (1.6 M doubles), training mode with running statistics:
 * one replayed forward and one backward seeded with a random w (gradients
 * of x, gamma and beta; the graph is the op alone),
 * beside the product a 3x3 convolution 32 -> 32 over the same activations
 * costs (its im2col matrix [64*28*28, 32*9] @ [32*9, 32] by ag_gemm, the
 * forward alone: 0.46 G multiply-adds), to say what "cheap relative to a
 * conv" is on this machine. Then layer_norm over [4096, 1024]. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "internal.h"

enum { N = 64, C = 32, HW = 28, PLANE = HW * HW, TAPS = C * 9, NORM_REPS = 7, CONV_REPS = 3 };

static ag_tensor *filled(int nd, const int *dims, bool param)
{
    ag_tensor *t = ag_tensor_zeros(nd, dims);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = bench_uniform();
    if (param) ag_tensor_requires_grad(t, true);
    return t;
}

/* median ms of a replayed forward of y and of a backward seeded with w */
static void time_norm_step(const char *name, ag_graph *g, ag_node *y, const ag_tensor *w)
{
    double fwd[NORM_REPS], bwd[NORM_REPS];
    ag_backward_seed(g, y, ag_tensor_data(w)); /* the first sweep writes the schedule */
    for (int r = 0; r < NORM_REPS; r++) {
        double t0 = bench_now();
        ag_graph_forward(g);
        double t1 = bench_now();
        ag_backward_seed(g, y, ag_tensor_data(w));
        fwd[r] = 1e3 * (t1 - t0), bwd[r] = 1e3 * (bench_now() - t1);
    }
    char label[96];
    snprintf(label, sizeof label, "%s_forward_ms", name);
    bench_report(label, fwd, NORM_REPS, "ms", NULL);
    snprintf(label, sizeof label, "%s_backward_ms", name);
    bench_report(label, bwd, NORM_REPS, "ms", NULL);
}

/* per channel of x [N,C,H,W] in the view [N,C,P]: mean and biased variance
 * by mean_axis, y = gamma (x - mean) (var + eps)^-1/2 + beta (no running
 * statistics): 14 nodes */
static ag_node *composed_batch_norm(ag_node *x, ag_node *gamma, ag_node *beta, double eps)
{
    int view[3] = {N, C, PLANE}, channel[3] = {1, C, 1};
    ag_node *xv = ag_reshape(x, 3, view);
    ag_node *mean = ag_reshape(ag_mean_axis(ag_mean_axis(xv, 2), 0), 3, channel);
    ag_node *centred = ag_sub(xv, mean);
    ag_node *var = ag_reshape(ag_mean_axis(ag_mean_axis(ag_mul(centred, centred), 2), 0), 3, channel);
    ag_node *inv = ag_pow(ag_add(var, ag_scalar(ag_node_graph(x), eps)), -0.5);
    ag_node *y = ag_add(ag_mul(ag_mul(centred, inv), ag_reshape(gamma, 3, channel)), ag_reshape(beta, 3, channel));
    return ag_reshape(y, 4, (int[]){N, C, HW, HW});
}

static void bench_batch_norm(void)
{
    ag_tensor *x = filled(4, (int[]){N, C, HW, HW}, true), *w = filled(4, (int[]){N, C, HW, HW}, false);
    ag_tensor *gamma = filled(1, (int[]){C}, true), *beta = filled(1, (int[]){C}, true);
    ag_tensor *rm = ag_tensor_zeros(1, (int[]){C}), *rv = ag_tensor_ones(1, (int[]){C});
    ag_graph *g = ag_graph_new();
    ag_node *y = ag_batch_norm(ag_param(g, x), ag_param(g, gamma), ag_param(g, beta), rm, rv, 0.1, 1e-5, true);
    if (y)
        time_norm_step("batch_norm_64x32x28x28", g, y, w);
    else
        printf("# batch_norm bench failed: %s\n", ag_graph_error(g));
    ag_graph_free(g);

    /* the same normalisation composed of public ops (what the fused op saves) */
    g = ag_graph_new();
    y = composed_batch_norm(ag_param(g, x), ag_param(g, gamma), ag_param(g, beta), 1e-5);
    if (y) time_norm_step("batch_norm_composed_64x32x28x28", g, y, w);
    ag_graph_free(g);

    /* the 3x3 conv's product on the same activations (im2col), for scale */
    double *cols = malloc(sizeof(double) * (size_t)N * PLANE * TAPS);
    double *kernel = malloc(sizeof(double) * TAPS * C), *out = malloc(sizeof(double) * (size_t)N * PLANE * C);
    if (cols && kernel && out) {
        for (size_t i = 0; i < (size_t)N * PLANE * TAPS; i++) cols[i] = bench_uniform();
        for (size_t i = 0; i < (size_t)TAPS * C; i++) kernel[i] = bench_uniform();
        double conv[CONV_REPS];
        for (int r = 0; r < CONV_REPS; r++) {
            double t0 = bench_now();
            ag_gemm(false, false, N * PLANE, C, TAPS, cols, TAPS, kernel, C, 0.0, out, C);
            conv[r] = 1e3 * (bench_now() - t0);
        }
        bench_report("conv3x3_32to32_64x28x28_gemm_forward_ms", conv, CONV_REPS, "ms", "(for scale)");
    }
    free(cols), free(kernel), free(out);
    ag_tensor_free(x), ag_tensor_free(w), ag_tensor_free(gamma), ag_tensor_free(beta);
    ag_tensor_free(rm), ag_tensor_free(rv);
}

static void bench_layer_norm(void)
{
    ag_tensor *x = filled(2, (int[]){4096, 1024}, true), *w = filled(2, (int[]){4096, 1024}, false);
    ag_tensor *gamma = filled(1, (int[]){1024}, true), *beta = filled(1, (int[]){1024}, true);
    ag_graph *g = ag_graph_new();
    ag_node *y = ag_layer_norm(ag_param(g, x), ag_param(g, gamma), ag_param(g, beta), 1e-5);
    if (y) time_norm_step("layer_norm_4096x1024", g, y, w);
    ag_graph_free(g);
    ag_tensor_free(x), ag_tensor_free(w), ag_tensor_free(gamma), ag_tensor_free(beta);
}

void bench_norm(void)
{
    bench_batch_norm();
    bench_layer_norm();
}
