/* helpers.c -- see helpers.h. */
#include "helpers.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

uint64_t rng_next(test_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double rng_uniform(test_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) * 0x1.0p-53);
}

int rng_int(test_rng *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

double rng_signed(test_rng *r, double lo, double hi)
{
    double v = rng_uniform(r, lo, hi);
    return (rng_next(r) & 1) ? v : -v;
}

/* ---- counting allocator ------------------------------------------------------- */

static long n_allocations, n_live, fail_at_allocation;

static void *counting_malloc(size_t size)
{
    if (++n_allocations == fail_at_allocation) return NULL;
    void *p = malloc(size);
    if (p) n_live++;
    return p;
}

static void *counting_realloc(void *ptr, size_t size)
{
    if (++n_allocations == fail_at_allocation) return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr) n_live++;
    return p;
}

static void counting_free(void *ptr)
{
    if (ptr) n_live--;
    free(ptr);
}

void counting_allocator_install(long fail_at)
{
    n_allocations = n_live = 0;
    fail_at_allocation = fail_at;
    ag_set_allocator(&(ag_allocator){counting_malloc, counting_realloc, counting_free});
}

void counting_allocator_remove(void) { ag_set_allocator(NULL); }
void counting_allocator_fail_at(long fail_at) { fail_at_allocation = n_allocations + fail_at; }
long counting_allocations(void) { return n_allocations; }
long counting_live_blocks(void) { return n_live; }

/* ---- tensors kept for a test ---------------------------------------------------- */

static ag_tensor *kept[KEPT_MAX];
static int n_kept;

ag_tensor *keep_tensor(ag_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_lt(n_kept, KEPT_MAX);
    return kept[n_kept++] = t;
}

ag_tensor *kept_tensor_from(int nd, const int *dims, const double *values, bool requires_grad)
{
    ag_tensor *t = keep_tensor(ag_tensor_from(nd, dims, values));
    ck_assert(ag_tensor_requires_grad(t, requires_grad));
    return t;
}

ag_tensor *kept_tensor(int k)
{
    ck_assert_int_lt(k, n_kept);
    return kept[k];
}

void free_kept_tensors(void)
{
    for (int i = 0; i < n_kept; i++) ag_tensor_free(kept[i]);
    n_kept = 0;
}

/* ---- registry --------------------------------------------------------------------- */

size_t registry_size(void) { return ag_n_ops; }
const char *registry_name(size_t i) { return ag_all_ops[i]->name; }

/* ---- gradient checking -------------------------------------------------------------- */

/* <u, out> after replaying the graph's forward pass */
static double seeded_output(ag_graph *g, const op_case *c, const double *u)
{
    ck_assert_msg(ag_graph_forward(g), "replay failed: %s", ag_graph_error(g));
    const double *y = ag_node_value(c->out);
    double s = 0.0;
    for (size_t i = 0; i < ag_node_size(c->out); i++) s += u[i] * y[i];
    return s;
}

void assert_vjp_matches_fd(ag_graph *g, op_case *c, test_rng *r, const char *opname)
{
    size_t n_out = ag_node_size(c->out);
    double *u = malloc(n_out * sizeof *u);
    for (size_t i = 0; i < n_out; i++) u[i] = rng_uniform(r, -1.0, 1.0);
    for (int p = 0; p < c->n_params; p++) ag_tensor_zero_grad(c->params[p]);
    ck_assert_msg(ag_backward_seed(g, c->out, u), "%s: %s", opname, ag_graph_error(g));
    const double h = 1e-6;
    double largest = 0.0;
    for (int p = 0; p < c->n_params; p++) {
        double *x = ag_tensor_data(c->params[p]);
        const double *grad = ag_tensor_grad(c->params[p]);
        for (size_t i = 0; i < ag_tensor_size(c->params[p]); i++) {
            double saved = x[i];
            x[i] = saved + h;
            double plus = seeded_output(g, c, u);
            x[i] = saved - h;
            double minus = seeded_output(g, c, u);
            x[i] = saved;
            double numeric = (plus - minus) / (2 * h);
            ck_assert_in_loop(fabs(grad[i] - numeric) <= 1e-6 + 1e-5 * fabs(numeric),
                              "%s: operand %d element %zu: vjp %.12g vs finite difference %.12g",
                              opname, p, i, grad[i], numeric);
            largest = fmax(largest, fabs(grad[i]));
        }
    }
    seeded_output(g, c, u); /* restore the values at the unperturbed point */
    ck_assert_msg(largest > 1e-8, "%s: gradient is all zero; the check would prove nothing",
                  opname);
    free(u);
}

/* ---- NaN and +-Inf cases -------------------------------------------------------------- */

void special_begin(special_case *c, const char *op)
{
    *c = (special_case){.op = op, .g = ag_graph_new()};
    ck_assert_ptr_nonnull(c->g);
}

void special_fill(double *x, size_t n, unsigned salt, unsigned period)
{
    ck_assert_msg(period >= 3 && period % 5 != 0 && period % 7 != 0, "special_fill: period %u", period);
    for (size_t i = 0; i < n; i++) {
        unsigned h = (unsigned)((5 * i + 7 * salt) % period);
        x[i] = h == 0 ? NAN : h == 1 ? INFINITY : h == 2 ? -INFINITY
                                                         : ((int)((7 * i + 3 * salt) % 11) - 5) * 0.375;
    }
}

/* operand k: a zeroed parameter of the shape, its reference gradient zeroed */
static ag_tensor *special_parameter(special_case *c, int nd, const int *dims)
{
    int k = c->n++;
    ck_assert_int_lt(k, SPECIAL_OPERANDS);
    c->t[k] = ag_tensor_zeros(nd, dims);
    ck_assert_ptr_nonnull(c->t[k]);
    ag_tensor_requires_grad(c->t[k], true);
    c->v[k] = ag_tensor_data(c->t[k]);
    c->gx[k] = calloc(ag_tensor_size(c->t[k]), sizeof(double));
    return c->t[k];
}

ag_node *special_operand(special_case *c, int nd, const int *dims, unsigned salt, unsigned period)
{
    ag_tensor *t = special_parameter(c, nd, dims);
    special_fill(ag_tensor_data(t), ag_tensor_size(t), salt, period);
    return ag_param(c->g, t);
}

ag_node *special_operand_of(special_case *c, int nd, const int *dims, const double *values)
{
    ag_tensor *t = special_parameter(c, nd, dims);
    memcpy(ag_tensor_data(t), values, ag_tensor_size(t) * sizeof(double));
    return ag_param(c->g, t);
}

ag_node *special_extra(special_case *c, int nd, const int *dims, const double *values)
{
    ck_assert_ptr_null(c->extra);
    c->extra = ag_tensor_from(nd, dims, values);
    ck_assert_ptr_nonnull(c->extra);
    return ag_input(c->g, c->extra);
}

void special_recorded(special_case *c, ag_node *out)
{
    ck_assert_msg(out != NULL, "%s: %s", c->op, ag_graph_error(c->g));
    c->out = out;
    size_t n = ag_node_size(out);
    c->y = calloc(n, sizeof(double));
    c->gy = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) c->gy[i] = (i % 2 ? -0.5 : 0.75) + 0.125 * (double)(i % 5);
}

void assert_ieee_close(const char *what, size_t i, double got, double want)
{
    if (isnan(want))
        ck_assert_in_loop(isnan(got), "%s element %zu is %.17g, reference NaN", what, i, got);
    else if (isinf(want))
        ck_assert_in_loop(got == want, "%s element %zu is %.17g, reference %g", what, i, got, want);
    else
        ck_assert_in_loop(fabs(got - want) <= 1e-12 * (1.0 + fabs(want)), "%s element %zu is %.17g, reference %.17g",
                          what, i, got, want);
}

void special_check(special_case *c)
{
    const double *y = ag_node_value(c->out);
    char what[64];
    snprintf(what, sizeof what, "%s: value", c->op);
    for (size_t i = 0; i < ag_node_size(c->out); i++) assert_ieee_close(what, i, y[i], c->y[i]);
    ck_assert_msg(ag_backward_seed(c->g, c->out, c->gy), "%s: %s", c->op, ag_graph_error(c->g));
    for (int k = 0; k < c->n; k++) {
        const double *gx = ag_tensor_grad(c->t[k]);
        snprintf(what, sizeof what, "%s: gradient of operand %d", c->op, k);
        for (size_t i = 0; i < ag_tensor_size(c->t[k]); i++) assert_ieee_close(what, i, gx[i], c->gx[k][i]);
        ag_tensor_free(c->t[k]);
        free(c->gx[k]);
    }
    ag_tensor_free(c->extra);
    free(c->y);
    free(c->gy);
    ag_graph_free(c->g);
}

void scratch_create(char *dir, char *path, const char *tag, const char *name)
{
    snprintf(dir, 64, "/tmp/agrad_%s_XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, 128, "%s/%s", dir, name);
}

void scratch_remove(const char *dir, const char *path)
{
    unlink(path);
    rmdir(dir);
}

void write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* A race can only live in the thread split, which is one piece of code for
 * every kernel, so under ThreadSanitizer the check runs on the chosen kernel
 * alone (the plain and AddressSanitizer builds still run it on each). Every
 * kernel there took the perf suite from 19 s to 48 s and gemm_f32 from 14 s
 * to 36 s (AMD EPYC Zen 4). */
#if defined(__SANITIZE_THREAD__)
#define UNDER_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_THREAD_SANITIZER 1
#endif
#endif

void on_every_gemm_kernel(void (*check)(void))
{
#ifdef UNDER_THREAD_SANITIZER
    const char *isas[] = {NULL};
#else
    const char *isas[] = {"generic", "avx2", "avx512"};
#endif
    int tried = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!ag_gemm_use_isa(isas[i])) continue; /* this CPU cannot run it */
        tried++;
        check();
    }
    ck_assert_int_ge(tried, 1);
    ck_assert(ag_gemm_use_isa(NULL));
}
