/* ode.c -- GradBench's ode eval (evals/ode/README.md), cmpad's an_ode: the
 * ODE y'(t) = f(y), y(0) = 0, with parameters x [n],
 *   f(y)_0 = x_0,   f(y)_i = x_i y_{i-1}   (i > 0),
 * solved to t = 2 by s steps of classical Runge-Kutta (h = 2 / s):
 *   k1 = f(y),  k2 = f(y + h/2 k1),  k3 = f(y + h/2 k2),  k4 = f(y + h k3),
 *   y <- y + h/6 (k1 + 2 k2 + 2 k3 + k4).
 * "primal" answers y(2) [n]; "gradient" the gradient of its last element
 * y_{n-1}(2) with respect to x, by agrad's reverse mode through the s steps.
 * (The exact solution is y_i(t) = x_0 ... x_i t^{i+1} / (i+1)!; the manual
 * tool answers the gradient of that, which RK4 approximates.) */
#include "gradbench.h"

#include <stdlib.h>

#define ODE_MAX_WORK (1L << 24) /* n s: the graph takes ~400 bytes per step and element */

typedef struct ode_data {
    int n;
    long steps;
    ag_tensor *zeros; /* y(0) [n] */
} ode_data;

static void free_data(void *data)
{
    ode_data *d = data;
    if (d)
        ag_tensor_free(d->zeros);
    free(d);
}

/* the parts of x that f reads, recorded once: x_0 [1] and x_1.. [n-1] */
typedef struct ode_f {
    ag_node *x_first, *x_rest;
    int n;
} ode_f;

/* f(y) = (x_0, x_1 y_0, ..., x_{n-1} y_{n-2}): [n] -> [n] */
static ag_node *f(const ode_f *p, ag_node *y)
{
    if (p->n == 1)
        return p->x_first;
    ag_node *parts[2] = {p->x_first, ag_mul(p->x_rest, ag_slice(y, 0, 0, p->n - 1, 1))};
    return ag_concat(2, parts, 0);
}

/* y + c k */
static ag_node *axpy(ag_node *y, ag_node *c, ag_node *k) { return ag_add(y, ag_mul(c, k)); }

/* x: [n] -> y(2): [n] */
static bool build_ode(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    const ode_data *d = o->data;
    ag_node *x = ag_param(g, o->params[0]);
    ode_f p = {ag_slice(x, 0, 0, 1, 1), d->n > 1 ? ag_slice(x, 0, 1, d->n, 1) : NULL, d->n};
    double h = 2.0 / (double)d->steps;
    ag_node *half_h = ag_scalar(g, h / 2.0), *whole_h = ag_scalar(g, h), *sixth_h = ag_scalar(g, h / 6.0),
            *two = ag_scalar(g, 2.0);
    ag_node *y = ag_input(g, d->zeros); /* y(0) = 0 */
    for (long step = 0; step < d->steps; step++) {
        ag_node *k1 = f(&p, y);
        ag_node *k2 = f(&p, axpy(y, half_h, k1));
        ag_node *k3 = f(&p, axpy(y, half_h, k2));
        ag_node *k4 = f(&p, axpy(y, whole_h, k3));
        /* k1 + 2 k2 + 2 k3 + k4 = (k1 + k4) + 2 (k2 + k3) */
        y = axpy(y, sixth_h, axpy(ag_add(k1, k4), two, ag_add(k2, k3)));
    }
    o->value_node = y;
    o->root = o->gradient ? ag_index(y, (size_t)d->n - 1) : y;
    return o->root != NULL;
}

/* the primal answers a vector even when n = 1 */
static json_t *primal_output(const gb_objective *o)
{
    return gb_json_vector(ag_node_value(o->value_node), ag_node_size(o->value_node));
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *x;
    size_t n;
    long steps;
    if (!gb_get_vector(input, "x", &x, &n, err))
        return false;
    bool ok = gb_get_int(input, "s", &steps, err);
    if (ok && (n == 0 || n > (size_t)ODE_MAX_WORK || steps < 1 || steps > ODE_MAX_WORK / (long)n))
        ok = gb_fail(err, "ode: sizes n = %zu, s = %ld (n >= 1, s >= 1, n s <= 2^24)", n, steps);
    gb_objective *o = ok ? gb_objective_new(err) : NULL;
    ode_data *d = o ? calloc(1, sizeof *d) : NULL;
    if (o && d) {
        o->data = d;
        o->free_data = free_data;
        d->n = (int)n;
        d->steps = steps;
        int shape[1] = {(int)n};
        d->zeros = ag_tensor_zeros(1, shape);
        ok = d->zeros && gb_objective_param(o, 1, shape, x, err);
    }
    free(x);
    if (!ok || !o || !d) {
        gb_objective_free(o);
        return ok ? gb_fail(err, "ode: out of memory") : false;
    }
    o->build = build_ode;
    o->gradient = variant == GB_GRADIENT;
    if (!o->gradient)
        o->output = primal_output;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"primal", prepare, GB_PRIMAL}, {"gradient", prepare, GB_GRADIENT}};
const gb_eval gb_eval_ode = {"ode", functions, 2};
