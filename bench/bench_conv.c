/* bench_conv.c -- conv2d forward + backward (3x3, padding 1, stride 1, batch
 * 64, float64) on the layers of the Fashion CNN, conv(1->32) on 28x28 and
 * conv(32->64) on 14x14, and a narrower pair, conv(1->16) on 28x28 and
 * conv(16->32) on 14x14, as bench/conv_torch.py times F.conv2d. One step is a
 * replay of the recorded conv (ag_graph_forward) and a backward from it with
 * a fixed seed, x, w and b all taking gradients; GFLOP/s counts
 * 6 N O C kh kw H' W' per step (2 each for y, dL/dx and dL/dw; the bias's
 * sums are left out). Beside it, ag_gemm alone on the same products, one
 * sample at a time as the conv runs them: y_n = w @ col_n, dw += dy_n @
 * col_n^T, col = w^T @ dy_n -- the most the im2col path could reach with
 * these kernels (it runs the products on one thread each, the batch split
 * over the threads; this runs each product on the threads ag_gemm picks). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "internal.h"

enum { CONV_BATCH = 64 };

typedef struct conv_layer {
    const char *name;
    int C, O, H; /* channels in and out, a square H x H input */
} conv_layer;

static const conv_layer layers[] = {
    {"conv_1x28_to_32", 1, 32, 28},
    {"conv_32x14_to_64", 32, 64, 14},
    {"conv_1x28_to_16", 1, 16, 28},
    {"conv_16x14_to_32", 16, 32, 14},
};

static double layer_flop(const conv_layer *L)
{
    return 6.0 * CONV_BATCH * L->O * (L->C * 9.0) * L->H * L->H;
}

static ag_tensor *random_tensor(int nd, const int *dims)
{
    ag_tensor *t = ag_tensor_zeros(nd, dims);
    double *v = ag_tensor_data(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) v[i] = bench_uniform();
    ag_tensor_requires_grad(t, true);
    return t;
}

/* steps per repetition so that one takes about 0.15 s */
static int steps_for(double one_step_s) { return (int)(0.15 / one_step_s) + 1; }

static void bench_conv_layer(const conv_layer *L)
{
    ag_tensor *x = random_tensor(4, (int[]){CONV_BATCH, L->C, L->H, L->H});
    ag_tensor *w = random_tensor(4, (int[]){L->O, L->C, 3, 3});
    ag_tensor *b = random_tensor(1, (int[]){L->O});
    size_t ny = (size_t)CONV_BATCH * L->O * L->H * L->H;
    double *seed = malloc(ny * sizeof *seed), ms[BENCH_REPS], gf[BENCH_REPS];
    for (size_t i = 0; i < ny; i++) seed[i] = bench_uniform();
    ag_graph *g = ag_graph_new();
    ag_node *y = ag_conv2d(ag_param(g, x), ag_param(g, w), ag_param(g, b), 1, 1);
    if (!y || !ag_backward_seed(g, y, seed)) {
        printf("# %s: %s\n", L->name, ag_graph_error(g));
        return;
    }
    size_t bytes = ag_graph_bytes(g);
    double t0 = bench_now();
    ag_graph_forward(g), ag_backward_seed(g, y, seed);
    int steps = steps_for(bench_now() - t0);
    for (int r = 0; r < BENCH_REPS; r++) {
        t0 = bench_now();
        for (int s = 0; s < steps; s++) ag_graph_forward(g), ag_backward_seed(g, y, seed);
        double step = (bench_now() - t0) / steps;
        ms[r] = step * 1e3;
        gf[r] = layer_flop(L) / step * 1e-9;
    }
    char name[96], extra[64];
    snprintf(extra, sizeof extra, "steps/rep=%d, replay grew the graph by %zu bytes", steps,
             ag_graph_bytes(g) - bytes);
    snprintf(name, sizeof name, "%s_agrad_fwd_bwd_ms", L->name);
    bench_report(name, ms, BENCH_REPS, "ms", extra);
    snprintf(name, sizeof name, "%s_agrad_fwd_bwd", L->name);
    bench_report(name, gf, BENCH_REPS, "GFLOP/s", NULL);
    ag_graph_free(g);
    ag_tensor_free(x), ag_tensor_free(w), ag_tensor_free(b);
    free(seed);
}

/* the conv's three products per sample, on ag_gemm alone */
static void gemm_products(const conv_layer *L, const double *wv, const double *col, const double *dy,
                          double *y, double *dw, double *colg)
{
    int CK = L->C * 9, P = L->H * L->H;
    for (int n = 0; n < CONV_BATCH; n++) {
        ag_gemm(false, false, L->O, P, CK, wv, CK, col, P, 0.0, y, P);
        ag_gemm(false, true, L->O, CK, P, dy, P, col, P, 1.0, dw, CK);
        ag_gemm(true, false, CK, P, L->O, wv, CK, dy, P, 0.0, colg, P);
    }
}

static void bench_gemm_layer(const conv_layer *L)
{
    size_t CK = (size_t)L->C * 9, P = (size_t)L->H * L->H;
    double *wv = malloc(L->O * CK * sizeof *wv), *col = malloc(CK * P * sizeof *col);
    double *dy = malloc(L->O * P * sizeof *dy), *y = malloc(L->O * P * sizeof *y);
    double *dw = calloc(L->O * CK, sizeof *dw), *colg = malloc(CK * P * sizeof *colg), gf[BENCH_REPS];
    for (size_t i = 0; i < L->O * CK; i++) wv[i] = bench_uniform();
    for (size_t i = 0; i < CK * P; i++) col[i] = bench_uniform();
    for (size_t i = 0; i < L->O * P; i++) dy[i] = bench_uniform();
    double t0 = bench_now();
    gemm_products(L, wv, col, dy, y, dw, colg);
    int steps = steps_for(bench_now() - t0);
    for (int r = 0; r < BENCH_REPS; r++) {
        t0 = bench_now();
        for (int s = 0; s < steps; s++) gemm_products(L, wv, col, dy, y, dw, colg);
        gf[r] = layer_flop(L) / ((bench_now() - t0) / steps) * 1e-9;
    }
    char name[96];
    snprintf(name, sizeof name, "%s_ag_gemm_same_products", L->name);
    bench_report(name, gf, BENCH_REPS, "GFLOP/s", NULL);
    free(wv), free(col), free(dy), free(y), free(dw), free(colg);
}

void bench_conv(void)
{
    printf("# conv2d 3x3 padding 1, batch %d, float64, forward + backward (x, w, b); "
           "GFLOP/s = 6 N O C 9 H W / step\n", CONV_BATCH);
    for (size_t k = 0; k < sizeof layers / sizeof layers[0]; k++) {
        bench_conv_layer(&layers[k]);
        bench_gemm_layer(&layers[k]);
    }
}
