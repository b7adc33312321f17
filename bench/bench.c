/* bench.c -- `make bench`: TestNet step, MLP step, deep scalar chain,
 * second order (an HVP against a gradient, the recorded backward's memory),
 * the Fashion-MNIST CNN's step and the float32 GEMM beside OpenBLAS's.
 * Run from the repository root; takes about a minute. Context lines (#) give
 * the machine, the kernel's instruction set and threads, and the load. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_report(const char *name, double *v, int n, const char *unit, const char *extra)
{
    double med = bench_median(v, n);
    printf("%s: %.2f %s (min %.2f max %.2f n=%d%s%s)\n", name, med, unit, v[0], v[n - 1], n,
           extra ? " " : "", extra ? extra : "");
    fflush(stdout);
    return med;
}

double bench_uniform(void)
{
    static unsigned long long state = 12345;
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void print_context(void)
{
    char model[128] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    char load[64] = "?";
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load, sizeof load, f)) load[0] = '\0';
        load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    printf("# agrad %s bench: cpu %s; gemm kernel %s, %d threads; loadavg %s\n", AGRAD_VERSION,
           model, ag_gemm_isa(), ag_gemm_threads(), load);
}

char bench_self[4096];

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL; /* testnet | mlp | chain | second | conv | pool | norm | lstm
                                                     | cnn | gemm */
    ssize_t len = readlink("/proc/self/exe", bench_self, sizeof bench_self - 1);
    if (len > 0)
        bench_self[len] = '\0';
    else
        snprintf(bench_self, sizeof bench_self, "%s", argv[0]);
    if (only && strcmp(only, "testnet-steps") == 0 && argc > 3)
        return bench_testnet_steps(argv[2], atol(argv[3]));
#ifdef BENCH_OPENBLAS
    if (only && strcmp(only, "openblas-gemm") == 0 && argc > 2) {
        bench_openblas_gemm(argv[2], argc > 3 ? atoi(argv[3]) : BENCH_REPS);
        return 0;
    }
    if (only && strcmp(only, "openblas-sgemm") == 0 && argc > 2) {
        bench_openblas_sgemm(argv[2], argc > 3 ? atoi(argv[3]) : BENCH_REPS);
        return 0;
    }
    if (only && strcmp(only, "gemm-f32-paired") == 0) {
        bench_gemm_f32_paired();
        return 0;
    }
#endif
    print_context();
    if (!only || strcmp(only, "testnet") == 0) bench_testnet();
    if (!only || strcmp(only, "chain") == 0) bench_chain();
    if (!only || strcmp(only, "pool") == 0) bench_pool();
    if (!only || strcmp(only, "norm") == 0) bench_norm();
    if (!only || strcmp(only, "second") == 0) {
        bench_testnet_hvp();
        bench_chain_memory();
        bench_mlp_hvp();
    }
    if (!only || strcmp(only, "conv") == 0) bench_conv();
    if (!only || strcmp(only, "lstm") == 0) bench_lstm();
    if (!only || strcmp(only, "cnn") == 0) bench_cnn();
    if (!only || strcmp(only, "gemm") == 0) bench_gemm();
    if (!only || strcmp(only, "mlp") == 0) bench_mlp(); /* last: OpenBLAS threads linger */
    return 0;
}
