/* llsq.c -- GradBench's llsq eval (evals/llsq/README.md), cmpad's linear
 * least-squares objective:
 *   y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2,
 *   t_i = -1 + 2 i / (n - 1),  s_i = sign(t_i),  i < n, j < m,
 * written with the Vandermonde matrix T[i][j] = t_i^j as
 *   r = s - T x,  y = 1/2 sum r^2,
 * and differentiated by agrad's reverse mode (dy/dx = -T^T r). T and s are
 * data, filled when the graph is recorded: inside every timed run in
 * rebuild mode, once (untimed, with the recording) in replay mode, where the
 * reference computes the powers t_i^j in every run. */
#include "gradbench.h"

#include <stdlib.h>

typedef struct llsq_data {
    size_t n, m;
    ag_tensor *t_powers; /* T: [n, m], filled when recording (timed in rebuild mode) */
    ag_tensor *s;        /* [n] */
} llsq_data;

static void free_data(void *data)
{
    llsq_data *d = data;
    if (!d)
        return;
    ag_tensor_free(d->t_powers);
    ag_tensor_free(d->s);
    free(d);
}

static double t_at(size_t i, size_t n) { return n > 1 ? -1.0 + (double)i * 2.0 / (double)(n - 1) : -1.0; }

/* T[i][j] = t_i^j and s_i = sign(t_i) */
static void fill_data(llsq_data *d)
{
    double *tp = ag_tensor_data(d->t_powers), *s = ag_tensor_data(d->s);
    for (size_t i = 0; i < d->n; i++) {
        double t = t_at(i, d->n), power = 1.0;
        s[i] = (t > 0.0) - (t < 0.0);
        for (size_t j = 0; j < d->m; j++, power *= t)
            tp[i * d->m + j] = power;
    }
}

/* x: [m] -> y: [] */
static bool build_llsq(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    llsq_data *d = o->data;
    fill_data(d);
    ag_node *x = ag_param(g, o->params[0]);
    ag_node *r = ag_sub(ag_input(g, d->s), ag_matmul(ag_input(g, d->t_powers), x)); /* [n] */
    o->root = ag_mul(ag_scalar(g, 0.5), ag_sum(ag_mul(r, r)));
    return o->root != NULL;
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *x;
    size_t m;
    long n;
    if (!gb_get_vector(input, "x", &x, &m, err))
        return false;
    bool ok = gb_get_int(input, "n", &n, err);
    /* T takes 8 n m bytes (GradBench's largest: n m = 16392 * 128, 16 MiB) */
    if (ok && (m == 0 || n < 1 || m > (1u << 20) || n > (1L << 24) || (size_t)n * m > ((size_t)1 << 26)))
        ok = gb_fail(err, "llsq: sizes n = %ld, m = %zu (1 <= n <= 2^24, 1 <= m <= 2^20, n m <= 2^26)", n, m);
    gb_objective *o = ok ? gb_objective_with_data(sizeof(llsq_data), free_data, err) : NULL;
    llsq_data *d = o ? o->data : NULL;
    if (d) {
        d->n = (size_t)n;
        d->m = m;
        int shape_t[2] = {(int)n, (int)m}, shape_s[1] = {(int)n}, shape_x[1] = {(int)m};
        d->t_powers = ag_tensor_zeros(2, shape_t);
        d->s = ag_tensor_zeros(1, shape_s);
        ok = ((d->t_powers && d->s) || gb_fail(err, "llsq: %s", ag_last_error())) &&
             gb_objective_param(o, 1, shape_x, x, err);
    }
    free(x);
    if (!ok || !d) {
        gb_objective_free(o);
        return false; /* err is set */
    }
    o->build = build_llsq;
    o->gradient = variant == GB_GRADIENT;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"primal", prepare, GB_PRIMAL}, {"gradient", prepare, GB_GRADIENT}};
const gb_eval gb_eval_llsq = {"llsq", functions, 2};
