/* bench_lstm.c -- the char-LSTM training step (`agrad_bench lstm`): the model
 * of examples/char-lstm at its sizes, float64, beside PyTorch's
 * (bench/lstm_torch.py, run as a child in the same sitting):
 *
 *   embedding [V,E] rows -> ag_lstm (E -> H, the state carried in as
 *   inputs) -> linear H -> V -> softmax cross-entropy (mean), backward,
 *   Adam (lr 2e-3)
 *
 * V 97, E 64, H 256, batch N 32 (the example's sizes), sequence T 64; and
 * H 128, N 16, the example's sizes before 2026-12-03 (lines named
 * lstm_h128_*). Timed
 * replaying one recorded graph (as the example trains) and recording it
 * afresh each step; and the first sizes' step in float32, replayed
 * (lstm_agrad_f32_*). */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 97, E = 64, T = 64, STEPS_PER_REP = 4 };

typedef struct lstm_model {
    ag_tensor *embedding, *w_ih, *w_hh, *b_ih, *b_hh, *head_w, *head_b;
    ag_tensor *inputs, *targets, *h0, *c0;
    ag_tensor *params[7];
    int H, N;
    ag_optimizer *opt;
    ag_graph *g;
    ag_node *loss;
} lstm_model;

static ag_tensor *uniform_tensor(int nd, const int *dims, double scale)
{
    ag_tensor *t = ag_tensor_zeros(nd, dims);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = scale * bench_uniform();
    ag_tensor_requires_grad(t, true);
    return t;
}

/* t converted to dtype (t itself, or a rounded copy and t freed) */
static ag_tensor *in_dtype(ag_tensor *t, ag_dtype dtype)
{
    if (dtype == AG_FLOAT64) return t;
    ag_tensor *c = ag_tensor_to_dtype(t, dtype);
    ag_tensor_free(t);
    return c;
}

static void lstm_init(lstm_model *m, int H, int N, ag_dtype dtype)
{
    m->H = H;
    m->N = N;
    double s = 1.0 / sqrt(H);
    m->embedding = uniform_tensor(2, (int[]){V, E}, 1.0);
    m->w_ih = uniform_tensor(2, (int[]){4 * H, E}, s);
    m->w_hh = uniform_tensor(2, (int[]){4 * H, H}, s);
    m->b_ih = uniform_tensor(1, (int[]){4 * H}, s);
    m->b_hh = uniform_tensor(1, (int[]){4 * H}, s);
    m->head_w = uniform_tensor(2, (int[]){V, H}, s);
    m->head_b = uniform_tensor(1, (int[]){V}, s);
    ag_tensor **all[7] = {&m->embedding, &m->w_ih, &m->w_hh, &m->b_ih, &m->b_hh, &m->head_w, &m->head_b};
    for (int k = 0; k < 7; k++) m->params[k] = *all[k] = in_dtype(*all[k], dtype);
    m->inputs = ag_tensor_zeros_dtype(1, (int[]){T * N}, dtype);
    m->targets = ag_tensor_zeros_dtype(1, (int[]){T * N}, dtype);
    for (int i = 0; i < T * N; i++) {
        ag_tensor_set(m->inputs, (size_t)i, (i * 37) % V);
        ag_tensor_set(m->targets, (size_t)i, (i * 53 + 11) % V);
    }
    m->h0 = ag_tensor_zeros_dtype(2, (int[]){N, H}, dtype);
    m->c0 = ag_tensor_zeros_dtype(2, (int[]){N, H}, dtype);
    ag_optimizer_config cfg = ag_adam_config(2e-3);
    m->opt = ag_optimizer_new(7, m->params, &cfg);
    m->g = ag_graph_new();
}

static void lstm_record(lstm_model *m)
{
    ag_graph *g = m->g;
    int H = m->H, N = m->N;
    ag_graph_reset(g);
    ag_node *x = ag_index_select(ag_param(g, m->embedding), 0, ag_input(g, m->inputs));
    ag_node *out;
    ag_lstm(ag_reshape(x, 3, (int[]){T, N, E}), ag_input(g, m->h0), ag_input(g, m->c0), ag_param(g, m->w_ih),
            ag_param(g, m->w_hh), ag_param(g, m->b_ih), ag_param(g, m->b_hh), &out, NULL, NULL);
    ag_node *logits = ag_linear(ag_reshape(out, 2, (int[]){T * N, H}), ag_transpose(ag_param(g, m->head_w)),
                                ag_param(g, m->head_b));
    m->loss = ag_softmax_xent(logits, ag_input(g, m->targets));
}

static void lstm_step(lstm_model *m, bool replay)
{
    ag_optimizer_zero_grad(m->opt);
    if (replay)
        ag_graph_forward(m->g);
    else
        lstm_record(m);
    ag_backward(m->g, m->loss);
    ag_optimizer_step(m->opt);
}

static double time_lstm(lstm_model *m, bool replay, const char *name)
{
    double ms[BENCH_REPS];
    lstm_step(m, replay);
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int s = 0; s < STEPS_PER_REP; s++) lstm_step(m, replay);
        ms[r] = (bench_now() - t0) * 1e3 / STEPS_PER_REP;
    }
    char extra[32];
    snprintf(extra, sizeof extra, "steps/rep=%d", STEPS_PER_REP);
    return bench_report(name, ms, BENCH_REPS, "ms", extra);
}

static void lstm_free(lstm_model *m)
{
    ag_graph_free(m->g);
    ag_optimizer_free(m->opt);
    for (int k = 0; k < 7; k++) ag_tensor_free(m->params[k]);
    ag_tensor_free(m->inputs);
    ag_tensor_free(m->targets);
    ag_tensor_free(m->h0);
    ag_tensor_free(m->c0);
}

/* PyTorch's step (bench/lstm_torch.py, every thread setting), echoed; its
 * best median in ms, 0 when it could not run or AG_BENCH_TORCH=0 skips it
 * (for quick comparisons of agrad builds). */
static double torch_best_ms(int H, int N)
{
    const char *run = getenv("AG_BENCH_TORCH");
    if (run && strcmp(run, "0") == 0) return 0.0;
    fflush(stdout);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/lstm_torch.py --hidden %d --batch %d 2>&1", H, N);
    FILE *child = popen(cmd, "r");
    if (!child) return 0.0;
    char line[512];
    double best = 0.0;
    while (fgets(line, sizeof line, child)) {
        fputs(line, stdout);
        if (strncmp(line, "lstm_torch_step_best:", 21) == 0) best = strtod(line + 21, NULL);
    }
    pclose(child);
    return best;
}

/* agrad's step and PyTorch's at hidden size H, batch N; `prefix` names the
 * lines; returns agrad's replayed step in ms */
static double bench_lstm_at(int H, int N, const char *prefix, const char *which)
{
    lstm_model m;
    lstm_init(&m, H, N, AG_FLOAT64);
    lstm_record(&m);
    printf("# char-LSTM V=%d E=%d H=%d N=%d T=%d float64 (%s): embedding, ag_lstm, "
           "linear, cross-entropy, backward, Adam; %zu nodes, initial loss %.4f\n",
           V, E, H, N, T, which, ag_graph_size(m.g), m.loss ? ag_node_get(m.loss, 0) : -1.0);
    char name[64];
    snprintf(name, sizeof name, "%s_agrad_replay_step", prefix);
    double replay = time_lstm(&m, true, name);
    snprintf(name, sizeof name, "%s_agrad_rebuild_step", prefix);
    double rebuild = time_lstm(&m, false, name);
    lstm_free(&m);
    double torch = torch_best_ms(H, N);
    double best = replay < rebuild ? replay : rebuild;
    if (torch > 0.0)
        printf("%s_agrad_speedup_over_torch: %.2f x (PyTorch's best setting %.2f ms / agrad's %.2f ms; "
               "target >= 2)\n", prefix, torch / best, torch, best);
    else
        printf("# PyTorch not run (bench/lstm_torch.py needs /usr/bin/python3 with torch)\n");
    return replay;
}

/* The same step in float32 (issue 18: every tensor float32, the indices
 * too), replayed, beside float64's */
static void bench_lstm_f32(int H, int N, double f64_ms)
{
    lstm_model m;
    lstm_init(&m, H, N, AG_FLOAT32);
    lstm_record(&m);
    printf("# the same step in float32: initial loss %.4f\n", m.loss ? ag_node_get(m.loss, 0) : -1.0);
    double ms = time_lstm(&m, true, "lstm_agrad_f32_replay_step");
    lstm_free(&m);
    printf("lstm_agrad_f32_speedup_over_f64: %.2f x (replayed steps, float64 %.2f ms / float32 %.2f ms)\n",
           f64_ms / ms, f64_ms, ms);
}

void bench_lstm(void)
{
    double f64_ms = bench_lstm_at(256, 32, "lstm", "examples/char-lstm's sizes");
    bench_lstm_f32(256, 32, f64_ms);
    bench_lstm_at(128, 16, "lstm_h128", "the example's sizes before 2026-12-03");
}
