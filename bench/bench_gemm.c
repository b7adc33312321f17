/* bench_gemm.c -- `agrad_bench gemm`: the float32 matrix product at 1024^3,
 * agrad's ag_gemm_f32 on every kernel this CPU runs, beside OpenBLAS's
 * cblas_sgemm (when the bench is linked with it, mk/bench.mk), and the
 * float64 ag_gemm for the ratio of the two types.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE when it is loaded, so each of its kernels
 * runs in a child process of its own: the one OpenBLAS picks itself
 * (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the child's
 * environment, as some machines set them for older builds), its AVX2
 * (Haswell) kernel and, where the CPU has AVX-512, its SkylakeX one. The
 * fastest of those is then measured against agrad in pairs, in one child
 * started with that kernel: each repetition of ag_gemm_f32 right next to one
 * of cblas_sgemm in the same process, the median of the pair ratios (these
 * shared machines swing by 40 % from one minute to the next; a pair shares
 * its minute). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "internal.h"

#ifdef BENCH_OPENBLAS
#include <cblas.h>
#endif

enum { GEMM_N = 1024 };
#define GEMM_FLOP (2.0 * GEMM_N * GEMM_N * (double)GEMM_N)

typedef void (*sgemm_fn)(int n, const float *A, const float *B, float *C);

static void agrad_sgemm(int n, const float *A, const float *B, float *C)
{
    ag_gemm_f32(false, false, n, n, n, A, n, B, n, 0.0f, C, n);
}

#ifdef BENCH_OPENBLAS
static void openblas_sgemm(int n, const float *A, const float *B, float *C)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
}
#endif

/* float32 operands for C = A B at GEMM_N^3 */
typedef struct sgemm_operands {
    float *A, *B, *C;
} sgemm_operands;

static sgemm_operands operands_new(void)
{
    size_t n2 = (size_t)GEMM_N * GEMM_N;
    sgemm_operands o = {malloc(n2 * sizeof(float)), malloc(n2 * sizeof(float)), malloc(n2 * sizeof(float))};
    for (size_t i = 0; i < n2; i++) o.A[i] = (float)bench_uniform(), o.B[i] = (float)bench_uniform();
    return o;
}

static void operands_free(sgemm_operands *o)
{
    free(o->A);
    free(o->B);
    free(o->C);
}

/* calls per repetition so that one lasts >= 0.3 s (after one warm-up call) */
static int calls_per_rep(sgemm_fn fn, const sgemm_operands *o)
{
    double t0 = bench_now();
    fn(GEMM_N, o->A, o->B, o->C);
    return (int)(0.3 / (bench_now() - t0)) + 1;
}

/* GFLOP/s of one repetition of `calls` products */
static double rep_gflops(sgemm_fn fn, const sgemm_operands *o, int calls)
{
    double t0 = bench_now();
    for (int c = 0; c < calls; c++) fn(GEMM_N, o->A, o->B, o->C);
    return GEMM_FLOP * calls / (bench_now() - t0) * 1e-9;
}

/* median GFLOP/s over `reps` repetitions, printed as figure `name` */
static double time_sgemm(sgemm_fn fn, const char *name, int reps)
{
    sgemm_operands o = operands_new();
    double gf[BENCH_REPS];
    if (reps < 1 || reps > BENCH_REPS) reps = BENCH_REPS;
    int calls = calls_per_rep(fn, &o);
    for (int r = 0; r < reps; r++) gf[r] = rep_gflops(fn, &o, calls);
    char extra[32];
    snprintf(extra, sizeof extra, "calls/rep=%d", calls);
    double med = bench_report(name, gf, reps, "GFLOP/s", extra);
    operands_free(&o);
    return med;
}

#ifdef BENCH_OPENBLAS
/* `agrad_bench openblas-sgemm NAME [REPS]`: cblas_sgemm at 1024^3 in this
 * process (started with the kernel's OPENBLAS_CORETYPE), as figure NAME. */
void bench_openblas_sgemm(const char *name, int reps)
{
    printf("# OpenBLAS: %s, core %s, %d threads\n", openblas_get_config(), openblas_get_corename(),
           openblas_get_num_threads());
    time_sgemm(openblas_sgemm, name, reps);
}

/* `agrad_bench gemm-f32-paired`: in this one process (started with the
 * kernel to compare against), BENCH_REPS pairs of repetitions: ag_gemm_f32
 * then cblas_sgemm, alternating which goes first; figures for each and the
 * median of the pair ratios. */
void bench_gemm_f32_paired(void)
{
    printf("# paired in one process: agrad %s kernel, %d threads; OpenBLAS core %s, %d threads\n",
           ag_gemm_isa(), ag_gemm_threads(), openblas_get_corename(), openblas_get_num_threads());
    sgemm_operands o = operands_new();
    int own_calls = calls_per_rep(agrad_sgemm, &o), blas_calls = calls_per_rep(openblas_sgemm, &o);
    double own[BENCH_REPS], blas[BENCH_REPS], ratio[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        if (r % 2 == 0) {
            own[r] = rep_gflops(agrad_sgemm, &o, own_calls);
            blas[r] = rep_gflops(openblas_sgemm, &o, blas_calls);
        } else {
            blas[r] = rep_gflops(openblas_sgemm, &o, blas_calls);
            own[r] = rep_gflops(agrad_sgemm, &o, own_calls);
        }
        ratio[r] = own[r] / blas[r];
    }
    char against[96];
    snprintf(against, sizeof against, "OpenBLAS %s kernel; target >= 0.95", openblas_get_corename());
    bench_report("agrad_sgemm_n1024_paired", own, BENCH_REPS, "GFLOP/s", NULL);
    bench_report("openblas_best_sgemm_n1024_paired", blas, BENCH_REPS, "GFLOP/s", NULL);
    bench_report("agrad_sgemm_over_openblas_best_sgemm_paired", ratio, BENCH_REPS, "x", against);
    operands_free(&o);
}

/* The environment prefix that makes a child run OpenBLAS kernel `core`
 * (NULL: OpenBLAS's own choice, with the machine's settings removed). */
static void env_for_core(const char *core, char *env, size_t size)
{
    if (core)
        snprintf(env, size, "env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=%s", core);
    else
        snprintf(env, size, "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE");
}

/* Run `agrad_bench ARGS` under kernel `core`, echoing its output; returns
 * the value of figure `figure` it printed (0 if none), and the core OpenBLAS
 * reports in ran[32] (when not NULL). */
static double run_child(const char *core, const char *args, const char *figure, char *ran)
{
    char env[96], cmd[sizeof bench_self + 256], line[512];
    env_for_core(core, env, sizeof env);
    snprintf(cmd, sizeof cmd, "%s '%s' %s", env, bench_self, args);
    fflush(stdout);
    FILE *child = popen(cmd, "r");
    if (!child) return 0.0;
    double value = 0.0;
    size_t len = strlen(figure);
    while (fgets(line, sizeof line, child)) {
        fputs(line, stdout);
        if (strncmp(line, figure, len) == 0 && line[len] == ':') value = strtod(line + len + 1, NULL);
        const char *corename = strstr(line, ", core ");
        if (ran && strncmp(line, "# OpenBLAS:", 11) == 0 && corename) sscanf(corename + 7, "%31[^,\n]", ran);
    }
    pclose(child);
    return value;
}

/* time each candidate kernel of OpenBLAS's; returns the fastest (NULL: its
 * own choice) */
static const char *fastest_openblas_sgemm(void)
{
    static char own_core[32] = "?";
    const char *best = NULL;
    double best_gf = run_child(NULL, "openblas-sgemm openblas_ownchoice_sgemm_n1024", "openblas_ownchoice_sgemm_n1024",
                               own_core);
    printf("# OpenBLAS's own choice of kernel here (OPENBLAS_CORETYPE unset): %s\n", own_core);
#if defined(__x86_64__)
    static const char *const named[] = {"Haswell", "SkylakeX"};
    for (int i = 0; i < 2; i++) {
        if (i == 0 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) continue;
        if (i == 1 && !__builtin_cpu_supports("avx512f")) continue;
        char args[96], figure[64];
        snprintf(figure, sizeof figure, "openblas_%s_sgemm_n1024", named[i]);
        snprintf(args, sizeof args, "openblas-sgemm %s", figure);
        double gf = run_child(named[i], args, figure, NULL);
        if (gf > best_gf) best_gf = gf, best = named[i];
    }
#endif
    printf("# fastest OpenBLAS sgemm kernel here: %s\n", best ? best : own_core);
    return best;
}
#endif

void bench_gemm(void)
{
    printf("# GEMM C = A B at %d^3, float32 (ag_gemm_f32) and float64 (ag_gemm); %d threads\n", GEMM_N,
           ag_gemm_threads());
    static const char *const isas[] = {"avx512", "avx2", "generic"};
    for (int i = 0; i < 3; i++) {
        if (!ag_gemm_use_isa(isas[i])) continue;
        char name[64];
        snprintf(name, sizeof name, "agrad_sgemm_%s_n1024", isas[i]);
        time_sgemm(agrad_sgemm, name, BENCH_REPS);
    }
    ag_gemm_use_isa(NULL);
    double f32 = time_sgemm(agrad_sgemm, "agrad_sgemm_n1024", BENCH_REPS);
    double f64 = bench_time_agrad_dgemm("agrad_dgemm_n1024");
    printf("agrad_sgemm_over_dgemm: %.2f (float32 GFLOP/s over float64's, %s kernel)\n", f32 / f64,
           ag_gemm_isa());
#ifdef BENCH_OPENBLAS
    const char *best = fastest_openblas_sgemm();
    run_child(best, "gemm-f32-paired", "agrad_sgemm_over_openblas_best_sgemm_paired", NULL);
#else
    printf("# OpenBLAS not found (pkg-config openblas): no sgemm comparison in this run\n");
#endif
    fflush(stdout);
}
