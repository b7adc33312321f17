/* bench.h -- shared pieces of `make bench` (timing lives here, never in tests).
 * Every figure line reads `name: value unit (min X max Y n=R)`, the median of
 * R repetitions, as the peer scripts in ../shared/peers print them; lines
 * starting with '#' are context. */
#ifndef AGRAD_BENCH_H
#define AGRAD_BENCH_H

#include <agrad.h>

#define BENCH_REPS 7

/* ---- TestNet (3 -> 4 relu -> 2, softmax cross-entropy, one sample) ---------- */
#define BN_IN 3
#define BN_HID 4
#define BN_OUT 2
typedef struct hand_params {
    double W1[BN_HID][BN_IN], b1[BN_HID], W2[BN_OUT][BN_HID], b2[BN_OUT];
} hand_params;
/* forward + loss + backward by hand; returns J, writes every gradient to G */
double hand_testnet_step(const hand_params *P, const double *a0, int y, hand_params *G);

/* ---- helpers (bench.c) ---------------------------------------------------------- */
double bench_now(void);              /* seconds, monotonic */
double bench_median(double *v, int n); /* sorts v */
/* print the figure line for n values (sorts v) and return the median */
double bench_report(const char *name, double *v, int n, const char *unit, const char *extra);
/* a 0.5-scaled uniform random number in [-1, 1) from a fixed seed */
double bench_uniform(void);

/* the path of this executable (bench_mlp runs itself to time OpenBLAS) */
extern char bench_self[4096];

/* ---- the three benchmarks ------------------------------------------------------ */
void bench_testnet(void);
/* `agrad_bench testnet-steps WAY N`: N TestNet steps of one way (hand,
 * rebuild, replay, linear-rebuild, linear-replay) and no timing, for
 * counting instructions (bench/instructions.sh); 2 for an unknown way */
int bench_testnet_steps(const char *way, long n);
void bench_mlp(void);
/* the Fashion-MNIST CNN's training step beside PyTorch's (bench_cnn.c) */
void bench_cnn(void);
void bench_chain(void);
/* conv2d forward + backward on the Fashion CNN's layers, and ag_gemm on the
 * same products (`agrad_bench conv`) */
void bench_conv(void);
/* pooling and dropout at a small CNN's sizes, beside relu (bench_pool.c) */
void bench_pool(void);
/* batch_norm and layer_norm on layer-sized tensors (`agrad_bench norm`) */
void bench_norm(void);
/* the char-LSTM training step beside PyTorch's (bench/lstm_torch.py) */
void bench_lstm(void);
/* second order (`agrad_bench second`): an HVP's time over a gradient's on
 * TestNet and on the MLP, and the graph's bytes per node after the plain
 * backward against the recorded one (ag_grad with create_graph) */
void bench_testnet_hvp(void);
void bench_chain_memory(void);
void bench_mlp_hvp(void);
/* the child mode `agrad_bench openblas-gemm NAME [REPS]` (bench_mlp.c) */
void bench_openblas_gemm(const char *name, int reps);
/* float64 ag_gemm at 1024^3, median GFLOP/s reported as NAME (bench_mlp.c) */
double bench_time_agrad_dgemm(const char *name);
/* the float32 product at 1024^3 beside OpenBLAS's cblas_sgemm (`agrad_bench
 * gemm`, bench_gemm.c), and its child modes `openblas-sgemm NAME [REPS]`
 * and `gemm-f32-paired` */
void bench_gemm(void);
void bench_openblas_sgemm(const char *name, int reps);
void bench_gemm_f32_paired(void);

#endif
