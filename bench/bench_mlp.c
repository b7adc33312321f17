/* bench_mlp.c -- the MLP step of the peers (mlp_torch.py): 784 -> 1024 relu
 * -> 1024 relu -> 10, softmax cross-entropy with labels, batch 256 (rows are
 * samples), forward + backward + plain SGD (ag_optimizer), float64. GFLOP/s counts the
 * conventional 6 * batch * sum(in*out) per step, as the peers do (agrad does
 * not compute the input's gradient, which that count includes).
 * Then the matrix product alone at 1024^3: agrad's ag_gemm, and OpenBLAS's
 * cblas_dgemm when the bench was linked with it (mk/bench.mk), measured here
 * in the same run, with the ratio the target is stated in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "internal.h"

#ifdef BENCH_OPENBLAS
#include <cblas.h>
#endif

enum { BATCH = 256, IN = 784, HID = 1024, OUT = 10, N_PARAMS = 6, STEPS_PER_REP = 3 };
#define MLP_FLOP (6.0 * BATCH * ((double)IN * HID + (double)HID * HID + (double)HID * OUT))

typedef struct mlp {
    ag_tensor *x, *labels, *p[N_PARAMS]; /* W1 b1 W2 b2 W3 b3 */
    ag_graph *g;
    ag_node *loss;
    ag_optimizer *sgd;
} mlp;

static ag_tensor *random_tensor(int ndim, const int *dims, double scale, bool param)
{
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = scale * bench_uniform();
    if (param) ag_tensor_requires_grad(t, true);
    return t;
}

static void mlp_init(mlp *m)
{
    const int sizes[] = {IN, HID, HID, OUT};
    m->x = random_tensor(2, (int[]){BATCH, IN}, 1.0, false);
    m->labels = ag_tensor_zeros(1, (int[]){BATCH});
    for (int i = 0; i < BATCH; i++) ag_tensor_data(m->labels)[i] = i % OUT;
    for (int l = 0; l < 3; l++) {
        m->p[2 * l] = random_tensor(2, (int[]){sizes[l], sizes[l + 1]}, 1.0 / sizes[l], true);
        m->p[2 * l + 1] = random_tensor(1, (int[]){sizes[l + 1]}, 0.01, true);
    }
    m->g = ag_graph_new();
    ag_optimizer_config sgd = ag_sgd_config(0.01);
    m->sgd = ag_optimizer_new(N_PARAMS, m->p, &sgd);
}

/* The same network in float32: every tensor of m rounded to float (the
 * float32 step of issue 18, beside the float64 one) */
static void mlp_init_f32(const mlp *m, mlp *m32)
{
    m32->x = ag_tensor_to_dtype(m->x, AG_FLOAT32);
    m32->labels = ag_tensor_to_dtype(m->labels, AG_FLOAT32);
    for (int i = 0; i < N_PARAMS; i++) m32->p[i] = ag_tensor_to_dtype(m->p[i], AG_FLOAT32);
    m32->g = ag_graph_new();
    ag_optimizer_config sgd = ag_sgd_config(0.01);
    m32->sgd = ag_optimizer_new(N_PARAMS, m32->p, &sgd);
}

static void mlp_free(mlp *m)
{
    ag_optimizer_free(m->sgd);
    ag_graph_free(m->g);
    for (int i = 0; i < N_PARAMS; i++) ag_tensor_free(m->p[i]);
    ag_tensor_free(m->x);
    ag_tensor_free(m->labels);
}

static void mlp_record(mlp *m)
{
    ag_graph *g = m->g;
    ag_node *h = ag_input(g, m->x);
    for (int l = 0; l < 3; l++) {
        h = ag_linear(h, ag_param(g, m->p[2 * l]), ag_param(g, m->p[2 * l + 1]));
        if (l < 2) h = ag_relu(h);
    }
    m->loss = ag_softmax_xent(h, ag_input(g, m->labels));
}

static void mlp_step(mlp *m, bool replay)
{
    if (replay) {
        ag_graph_forward(m->g);
    } else {
        ag_graph_reset(m->g);
        mlp_record(m);
    }
    ag_backward(m->g, m->loss);
    ag_optimizer_step(m->sgd); /* w -= 0.01 dw */
    ag_optimizer_zero_grad_lazily(m->sgd); /* torch: zero_grad(set_to_none=True) */
}

/* GFLOP/s of one repetition: STEPS_PER_REP steps */
static double mlp_rep(mlp *m, bool replay, double *ms)
{
    double t0 = bench_now();
    for (int s = 0; s < STEPS_PER_REP; s++) mlp_step(m, replay);
    *ms = (bench_now() - t0) * 1e3 / STEPS_PER_REP;
    return MLP_FLOP / (*ms * 1e-3) * 1e-9;
}

/* ms per step over BENCH_REPS repetitions; prints ms and GFLOP/s, returns
 * the median GFLOP/s */
static double time_mlp(mlp *m, bool replay, const char *name)
{
    double ms[BENCH_REPS], gf[BENCH_REPS];
    mlp_step(m, replay);
    mlp_step(m, replay);
    for (int r = 0; r < BENCH_REPS; r++) gf[r] = mlp_rep(m, replay, &ms[r]);
    char label[128];
    snprintf(label, sizeof label, "%s_ms_per_step", name);
    bench_report(label, ms, BENCH_REPS, "ms", "steps/rep=3");
    snprintf(label, sizeof label, "%s_gflops", name);
    return bench_report(label, gf, BENCH_REPS, "GFLOP/s", NULL);
}

typedef void (*gemm_fn)(int n, const double *A, const double *B, double *C);

static void agrad_gemm(int n, const double *A, const double *B, double *C)
{
    ag_gemm(false, false, n, n, n, A, n, B, n, 0.0, C, n);
}

#ifdef BENCH_OPENBLAS
static void openblas_gemm(int n, const double *A, const double *B, double *C)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
}
#endif

/* GFLOP/s of C = A B at n^3, median of `reps` repetitions of >= 0.3 s,
 * printed as figure `name` (NULL: not printed) */
static double time_gemm(gemm_fn fn, const char *name, int reps)
{
    enum { N = 1024 };
    double *A = malloc(sizeof(double) * N * N), *B = malloc(sizeof(double) * N * N);
    double *C = malloc(sizeof(double) * N * N), gf[BENCH_REPS];
    if (reps < 1 || reps > BENCH_REPS) reps = BENCH_REPS;
    for (size_t i = 0; i < (size_t)N * N; i++) A[i] = bench_uniform(), B[i] = bench_uniform();
    double t0 = bench_now();
    fn(N, A, B, C);
    double one = bench_now() - t0;
    int calls = (int)(0.3 / one) + 1;
    for (int r = 0; r < reps; r++) {
        t0 = bench_now();
        for (int c = 0; c < calls; c++) fn(N, A, B, C);
        gf[r] = 2.0 * N * N * (double)N * calls / (bench_now() - t0) * 1e-9;
    }
    char extra[32];
    snprintf(extra, sizeof extra, "calls/rep=%d", calls);
    double med = name ? bench_report(name, gf, reps, "GFLOP/s", extra) : bench_median(gf, reps);
    free(A);
    free(B);
    free(C);
    return med;
}

/* ag_gemm at 1024^3 as figure NAME (bench.h; the float32 bench's reference) */
double bench_time_agrad_dgemm(const char *name)
{
    return time_gemm(agrad_gemm, name, BENCH_REPS);
}

#ifdef BENCH_OPENBLAS
/* `agrad_bench openblas-gemm NAME [REPS]`: OpenBLAS's dgemm at 1024^3 in
 * this process, as figure NAME (run as a child with OPENBLAS_CORETYPE set). */
void bench_openblas_gemm(const char *name, int reps)
{
    printf("# OpenBLAS: %s, core %s, %d threads\n", openblas_get_config(), openblas_get_corename(),
           openblas_get_num_threads());
    time_gemm(openblas_gemm, name, reps);
}

/* Which kernel a child should run. OpenBLAS reads OPENBLAS_CORETYPE (and
 * OPENBLAS_L2_SIZE) when it is loaded, hence one process per kernel. Some
 * machines set both for old OpenBLAS builds; they then hold every program on
 * the machine, PyTorch included, to an older kernel, so "OpenBLAS's own
 * choice" is measured with both removed, and the setting the environment
 * makes is measured apart, under its own name. */
typedef enum { KERNEL_OWN_CHOICE, KERNEL_AS_ENVIRONMENT_SETS, KERNEL_NAMED } kernel_choice;

/* Run `agrad_bench openblas-gemm NAME REPS` with the kernel `core` (for
 * KERNEL_NAMED), echo what it prints when `echo`, write the kernel OpenBLAS
 * reports having run into ran[RAN_SIZE] (when not NULL) and return its
 * median GFLOP/s (0 if it failed). */
enum { RAN_SIZE = 32 };
static double openblas_child(kernel_choice choice, const char *core, const char *name, int reps,
                             bool echo, char *ran)
{
    char cmd[sizeof bench_self + 160], line[512];
    const char *env = choice == KERNEL_OWN_CHOICE ? "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
                      : choice == KERNEL_NAMED    ? "env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="
                                                  : "";
    snprintf(cmd, sizeof cmd, "%s%s '%s' openblas-gemm %s %d", env,
             choice == KERNEL_NAMED ? core : "", bench_self, name, reps);
    fflush(stdout);
    FILE *child = popen(cmd, "r");
    if (!child) return 0.0;
    double gflops = 0.0;
    size_t len = strlen(name);
    if (ran) snprintf(ran, RAN_SIZE, "unknown");
    while (fgets(line, sizeof line, child)) {
        if (echo) fputs(line, stdout);
        if (strncmp(line, name, len) == 0 && line[len] == ':') gflops = strtod(line + len + 1, NULL);
        const char *corename = strstr(line, ", core ");
        if (ran && strncmp(line, "# OpenBLAS:", 11) == 0 && corename)
            sscanf(corename + 7, "%31[^,\n]", ran);
    }
    pclose(child);
    return gflops;
}

/* The machines are shared and noisy (the same product swings by 40% from
 * one minute to the next), so the ratio the target is stated in is also
 * measured in pairs: a repetition of the MLP step, then right after it a
 * repetition of OpenBLAS's fastest kernel; the median of the pair ratios. */
static void paired_mlp_over_openblas(mlp *m, kernel_choice choice, const char *core)
{
    double ratio[BENCH_REPS], gemm_ratio[BENCH_REPS], ms;
    char name[64], against[96];
    snprintf(name, sizeof name, "openblas_%s_pair", core);
    snprintf(against, sizeof against, "OpenBLAS %s kernel", core);
    for (int r = 0; r < BENCH_REPS; r++) {
        double mlp_gf = mlp_rep(m, false, &ms);
        double own_gf = time_gemm(agrad_gemm, NULL, 1);
        double blas_gf = openblas_child(choice, core, name, 1, false, NULL);
        ratio[r] = blas_gf > 0.0 ? mlp_gf / blas_gf : 0.0;
        gemm_ratio[r] = blas_gf > 0.0 ? own_gf / blas_gf : 0.0;
    }
    printf("# in pairs, each agrad repetition next to one of OpenBLAS's fastest kernel "
           "(%s):\n", core);
    char target[128];
    snprintf(target, sizeof target, "%s; target >= 0.85", against);
    bench_report("mlp_agrad_over_openblas_best_dgemm_paired", ratio, BENCH_REPS, "x", target);
    bench_report("agrad_gemm_over_openblas_best_dgemm_paired", gemm_ratio, BENCH_REPS, "x",
                 against);
}
#endif

void bench_mlp(void)
{
    mlp m;
    mlp_init(&m);
    mlp_record(&m);
    printf("# MLP 784-1024-1024-10 batch 256 float64, %.3f GFLOP/step; initial loss %.4f; "
           "gemm %s, %d threads\n",
           MLP_FLOP * 1e-9, ag_node_value(m.loss)[0], ag_gemm_isa(), ag_gemm_threads());
    double mlp_gf = time_mlp(&m, false, "mlp_agrad_rebuild");
    double replay_gf = time_mlp(&m, true, "mlp_agrad_replay");
    mlp m32;
    mlp_init_f32(&m, &m32);
    mlp_record(&m32);
    printf("# the same MLP in float32 (every tensor rounded from the float64 one); initial loss %.4f\n",
           ag_node_get(m32.loss, 0));
    time_mlp(&m32, false, "mlp_agrad_f32_rebuild");
    double replay32_gf = time_mlp(&m32, true, "mlp_agrad_f32_replay");
    printf("mlp_agrad_f32_speedup_over_f64: %.2f x (replayed steps, float64 ms / float32 ms)\n",
           replay32_gf / replay_gf);
    mlp_free(&m32);
    double own_gf = time_gemm(agrad_gemm, "agrad_gemm_n1024", BENCH_REPS);
    /* the AVX2 kernel alone: what a Zen 3 (no AVX-512) runs */
    double mlp_avx2_gf = 0.0, own_avx2_gf = 0.0;
    if (strcmp(ag_gemm_isa(), "avx512") == 0 && ag_gemm_use_isa("avx2")) {
        mlp_avx2_gf = time_mlp(&m, false, "mlp_agrad_rebuild_avx2kernel");
        own_avx2_gf = time_gemm(agrad_gemm, "agrad_gemm_avx2kernel_n1024", BENCH_REPS);
    }
    ag_gemm_use_isa(NULL);
#ifdef BENCH_OPENBLAS
    /* OpenBLAS 0.3.21 does not know every CPU (it falls back to its SSE3
     * "Prescott" kernel on some recent Xeons): time the kernel it picks, the
     * one the environment's OPENBLAS_CORETYPE holds it to (if set), and its
     * AVX2 (Haswell) and AVX-512 (SkylakeX) kernels where the CPU has them */
    char own_core[RAN_SIZE], best_core[RAN_SIZE];
    double blas_gf = openblas_child(KERNEL_OWN_CHOICE, NULL, "openblas_ownchoice_dgemm_n1024",
                                    BENCH_REPS, true, own_core);
    printf("# OpenBLAS's own choice of kernel here (OPENBLAS_CORETYPE unset): %s\n", own_core);
    snprintf(best_core, sizeof best_core, "%s", own_core);
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    if (env_core && env_core[0]) {
        char ran[RAN_SIZE];
        openblas_child(KERNEL_AS_ENVIRONMENT_SETS, NULL, "openblas_envcoretype_dgemm_n1024",
                       BENCH_REPS, true, ran);
        printf("# the environment sets OPENBLAS_CORETYPE=%s: OpenBLAS ran %s (PyTorch and numpy "
               "get it too unless they drop it)\n", env_core, ran);
    }
    double haswell_gf = 0.0, skx_gf = 0.0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        haswell_gf = openblas_child(KERNEL_NAMED, "Haswell", "openblas_haswell_dgemm_n1024",
                                    BENCH_REPS, true, NULL);
        if (haswell_gf > blas_gf) snprintf(best_core, sizeof best_core, "Haswell");
    }
    if (__builtin_cpu_supports("avx512f")) {
        skx_gf = openblas_child(KERNEL_NAMED, "SkylakeX", "openblas_skylakex_dgemm_n1024",
                                BENCH_REPS, true, NULL);
        if (skx_gf > (haswell_gf > blas_gf ? haswell_gf : blas_gf))
            snprintf(best_core, sizeof best_core, "SkylakeX");
    }
#endif
    bool best_is_own = strcmp(best_core, own_core) == 0;
    paired_mlp_over_openblas(&m, best_is_own ? KERNEL_OWN_CHOICE : KERNEL_NAMED, best_core);
    double best_gf = blas_gf > haswell_gf ? blas_gf : haswell_gf;
    best_gf = best_gf > skx_gf ? best_gf : skx_gf;
    if (blas_gf > 0.0) {
        printf("mlp_agrad_over_openblas_ownchoice_dgemm: %.2f (MLP step GFLOP/s / dgemm GFLOP/s "
               "of the kernel OpenBLAS picks, %s)\n", mlp_gf / blas_gf, own_core);
        printf("mlp_agrad_over_openblas_best_dgemm: %.2f (against OpenBLAS's fastest kernel "
               "here, %s; target >= 0.85)\n", mlp_gf / best_gf, best_core);
        printf("agrad_gemm_over_openblas_best_dgemm: %.2f (1024^3 product alone, against %s)\n",
               own_gf / best_gf, best_core);
    }
    if (haswell_gf > 0.0 && mlp_avx2_gf > 0.0) {
        printf("mlp_agrad_avx2kernel_over_openblas_haswell_dgemm: %.2f (both AVX2, as on Zen 3)\n",
               mlp_avx2_gf / haswell_gf);
        printf("agrad_gemm_avx2kernel_over_openblas_haswell_dgemm: %.2f (1024^3 product alone)\n",
               own_avx2_gf / haswell_gf);
    }
#else
    (void)mlp_gf, (void)own_gf, (void)mlp_avx2_gf, (void)own_avx2_gf;
    printf("# OpenBLAS not found (pkg-config openblas): no dgemm comparison in this run\n");
#endif
    fflush(stdout);
    mlp_free(&m);
}

/* ---- second order: a Hessian-vector product against a gradient ---------------
 * On the same MLP: a gradient is reset, record, ag_backward (the step above
 * without SGD, so the weights stay put); an HVP is reset, record, ag_hvp with
 * respect to W1 [784,1024] for a fixed v. ag_hvp records d loss / d W1 as
 * nodes (ag_grad, create_graph) and runs one forward sweep (ag_jvp) over the
 * forward and gradient nodes. Then the graph's memory: ag_graph_bytes after
 * forward + ag_backward against forward + ag_grad(create_graph) for all six
 * parameters. */

/* mlp_record's graph, node for node, returning W1's leaf (the HVP's wrt) */
static ag_node *mlp_record_keeping_w1(mlp *m)
{
    ag_graph *g = m->g;
    ag_node *h = ag_input(g, m->x), *W1 = NULL;
    for (int l = 0; l < 3; l++) {
        ag_node *W = ag_param(g, m->p[2 * l]);
        if (l == 0) W1 = W;
        h = ag_linear(h, W, ag_param(g, m->p[2 * l + 1]));
        if (l < 2) h = ag_relu(h);
    }
    m->loss = ag_softmax_xent(h, ag_input(g, m->labels));
    return W1;
}

static void mlp_gradient(mlp *m)
{
    ag_graph_reset(m->g);
    mlp_record(m);
    ag_backward(m->g, m->loss);
    ag_optimizer_zero_grad_lazily(m->sgd); /* torch: zero_grad(set_to_none=True) */
}

/* reset, record, H v w.r.t. W1; W1's leaf to *wrt */
static bool mlp_hvp(mlp *m, const double *v, double *hv, ag_node **wrt)
{
    ag_graph_reset(m->g);
    *wrt = mlp_record_keeping_w1(m);
    return ag_hvp(m->g, m->loss, *wrt, v, hv);
}

/* The relu pre-activations' signs of the graph just recorded (2 x 256 x 1024
 * of them) into signs, or, when compare, the number that differ from it. */
enum { RELU_UNITS = 2 * BATCH * HID };
static size_t relu_signs(const ag_graph *g, unsigned char *signs, bool compare)
{
    size_t at = 0, changed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ag_node *node = g->nodes[i];
        if (strcmp(node->op->name, "relu") != 0) continue;
        const double *z = node->inputs[0]->value;
        for (size_t k = 0; k < node->shape.size && at < RELU_UNITS; k++, at++) {
            unsigned char positive = z[k] > 0.0;
            if (compare)
                changed += signs[at] != positive;
            else
                signs[at] = positive;
        }
    }
    return changed;
}

/* d loss / d W1 by the plain backward into out; the number of relu
 * pre-activations whose sign differs from signs */
static size_t mlp_w1_gradient(mlp *m, double *out, const unsigned char *signs)
{
    ag_graph_reset(m->g);
    mlp_record(m);
    ag_backward(m->g, m->loss);
    memcpy(out, ag_tensor_grad(m->p[0]), ag_tensor_size(m->p[0]) * sizeof *out);
    ag_optimizer_zero_grad_lazily(m->sgd); /* torch: zero_grad(set_to_none=True) */
    return relu_signs(m->g, (unsigned char *)signs, true);
}

/* ||H v - d|| / ||d||, d = (grad(W1 + eps v) - grad(W1 - eps v)) / (2 eps)
 * the central difference of plain gradients, with *eps_used; -1 when it
 * could not be made. relu makes the loss piecewise smooth: a pre-activation
 * (of 2 x 256 x 1024) that changes sign between W1 - eps v and W1 + eps v
 * puts a jump in the gradient that the difference divides by 2 eps (the
 * relative error then reads about 1). So eps starts at 1e-5 and is divided
 * by 4 until no sign changes; rounding over 2 eps then leaves 1e-4 to 1e-3
 * (a wrong H v reads about 1). */
static double mlp_hvp_vs_differences(mlp *m, const double *v, const double *hv, double *eps_used)
{
    size_t n = ag_tensor_size(m->p[0]);
    double *w = ag_tensor_data(m->p[0]), num = 0.0, den = 0.0, eps = 1e-5;
    double *plus = malloc(n * sizeof *plus), *minus = malloc(n * sizeof *minus);
    double *w0 = malloc(n * sizeof *w0);
    unsigned char *signs = malloc(RELU_UNITS);
    bool found = false;
    if (plus && minus && w0 && signs) {
        memcpy(w0, w, n * sizeof *w0);
        ag_graph_reset(m->g);
        mlp_record(m);
        relu_signs(m->g, signs, false);
        for (int tries = 0; tries < 6 && !found; tries++, eps /= 4) {
            for (size_t i = 0; i < n; i++) w[i] = w0[i] + eps * v[i];
            size_t changed = mlp_w1_gradient(m, plus, signs);
            for (size_t i = 0; i < n; i++) w[i] = w0[i] - eps * v[i];
            changed += mlp_w1_gradient(m, minus, signs);
            found = changed == 0;
        }
        eps *= 4; /* the last one tried */
        memcpy(w, w0, n * sizeof *w0);
        for (size_t i = 0; found && i < n; i++) {
            double d = (plus[i] - minus[i]) / (2 * eps);
            num += (hv[i] - d) * (hv[i] - d);
            den += d * d;
        }
    }
    bool ok = found && den > 0.0;
    free(plus);
    free(minus);
    free(w0);
    free(signs);
    *eps_used = eps;
    return ok ? sqrt(num / den) : -1.0;
}

/* ag_graph_bytes and nodes after forward + ag_backward, then after forward +
 * ag_grad(create_graph) for every parameter, on fresh graphs */
static void mlp_memory(mlp *m)
{
    ag_graph *g = m->g;
    ag_graph_free(g);
    m->g = g = ag_graph_new();
    mlp_record(m);
    size_t fwd_nodes = ag_graph_size(g);
    ag_backward(g, m->loss);
    size_t plain = ag_graph_bytes(g);
    ag_optimizer_zero_grad_lazily(m->sgd); /* torch: zero_grad(set_to_none=True) */
    ag_graph_free(g);
    m->g = g = ag_graph_new();
    ag_node *h = ag_input(g, m->x), *wrt[N_PARAMS], *grads[N_PARAMS];
    for (int l = 0; l < 3; l++) {
        wrt[2 * l] = ag_param(g, m->p[2 * l]);
        wrt[2 * l + 1] = ag_param(g, m->p[2 * l + 1]);
        h = ag_linear(h, wrt[2 * l], wrt[2 * l + 1]);
        if (l < 2) h = ag_relu(h);
    }
    m->loss = ag_softmax_xent(h, ag_input(g, m->labels));
    if (!ag_grad(g, m->loss, N_PARAMS, wrt, grads, true)) {
        printf("# MLP memory: ag_grad failed: %s\n", ag_graph_error(g));
        return;
    }
    size_t recorded = ag_graph_bytes(g), all_nodes = ag_graph_size(g);
    printf("mlp_plain_backward_graph_bytes: %.1f MB (%zu forward nodes, %.2f MB per node)\n",
           plain / 1e6, fwd_nodes, plain / 1e6 / fwd_nodes);
    printf("mlp_recorded_backward_graph_bytes: %.1f MB (%zu nodes: %zu forward + %zu recorded "
           "gradient; %.2f MB per forward node, %.2f x the plain backward's)\n",
           recorded / 1e6, all_nodes, fwd_nodes, all_nodes - fwd_nodes, recorded / 1e6 / fwd_nodes,
           (double)recorded / plain);
}

/* Bytes a replayed HVP adds: ag_graph_forward, then ag_hvp on the kept
 * recorded gradient; ag_jvp takes its tangents from the graph's arena, which
 * only a reset returns (a rebuilt step reuses that memory). */
static double mlp_hvp_replay_growth(mlp *m, const double *v, double *hv)
{
    enum { REPLAYS = 3 };
    ag_node *W1;
    if (!mlp_hvp(m, v, hv, &W1)) return -1.0;
    size_t before = ag_graph_bytes(m->g);
    for (int r = 0; r < REPLAYS; r++)
        if (!ag_graph_forward(m->g) || !ag_hvp(m->g, m->loss, W1, v, hv)) return -1.0;
    return (double)(ag_graph_bytes(m->g) - before) / REPLAYS;
}

static double mlp_hvp_rep(mlp *m, const double *v, double *hv)
{
    ag_node *W1;
    double t0 = bench_now();
    for (int s = 0; s < STEPS_PER_REP; s++) mlp_hvp(m, v, hv, &W1);
    return (bench_now() - t0) * 1e3 / STEPS_PER_REP;
}

static double mlp_gradient_rep(mlp *m)
{
    double t0 = bench_now();
    for (int s = 0; s < STEPS_PER_REP; s++) mlp_gradient(m);
    return (bench_now() - t0) * 1e3 / STEPS_PER_REP;
}

void bench_mlp_hvp(void)
{
    mlp m;
    mlp_init(&m);
    size_t n = ag_tensor_size(m.p[0]);
    double *v = malloc(n * sizeof *v), *hv = malloc(n * sizeof *hv);
    ag_node *W1;
    if (!v || !hv) {
        printf("# MLP HVP: out of memory\n");
    } else {
        for (size_t i = 0; i < n; i++) v[i] = bench_uniform() / IN; /* W1's scale */
    }
    if (v && hv && !mlp_hvp(&m, v, hv, &W1)) {
        printf("# MLP HVP: ag_hvp failed: %s\n", ag_graph_error(m.g));
    } else if (v && hv) {
        size_t nodes = ag_graph_size(m.g), bytes = ag_graph_bytes(m.g);
        double eps, err = mlp_hvp_vs_differences(&m, v, hv, &eps);
        printf("# MLP HVP w.r.t. W1 [%d,%d]: %zu nodes after ag_hvp (%.1f MB of graph); against "
               "central differences of plain gradients (eps %.2g, no relu input changing sign): "
               "relative error %.1e%s\n", IN, HID, nodes, bytes / 1e6, eps, err,
               err < 0.0 ? " (not made)" : "");
        double grad_ms[BENCH_REPS], hvp_ms[BENCH_REPS];
        mlp_gradient(&m);
        mlp_hvp(&m, v, hv, &W1);
        for (int r = 0; r < BENCH_REPS; r++) {
            grad_ms[r] = mlp_gradient_rep(&m);
            hvp_ms[r] = mlp_hvp_rep(&m, v, hv);
        }
        double gr = bench_report("mlp_gradient_rebuild_ms", grad_ms, BENCH_REPS, "ms", "steps/rep=3");
        double hp = bench_report("mlp_hvp_w1_rebuild_ms", hvp_ms, BENCH_REPS, "ms", "steps/rep=3");
        printf("mlp_ratio_hvp_over_gradient: %.2f x (target <= 5)\n", hp / gr);
        printf("mlp_hvp_replay_graph_growth: %.1f MB per replayed ag_hvp (0: the tangents of the "
               "last sweep are reused)\n", mlp_hvp_replay_growth(&m, v, hv) / 1e6);
        mlp_memory(&m);
    }
    fflush(stdout);
    free(v);
    free(hv);
    mlp_free(&m);
}
