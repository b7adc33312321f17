/* ode.c -- GradBench's ode eval (evals/ode/README.md), cmpad's an_ode: the
 * ODE y'(t) = f(y), y(0) = 0, with parameters x [n],
 *   f(y)_0 = x_0,   f(y)_i = x_i y_{i-1}   (i > 0),
 * as cmpad, the reference (cpp/gradbench/evals/ode.hpp) and the manual tool
 * compute it (the eval's README writes sum_{j=1}^{i} x_j y_{i-1}, which
 * none of them computes),
 * solved to t = 2 by s steps of classical Runge-Kutta (h = 2 / s):
 *   k1 = f(y),  k2 = f(y + h/2 k1),  k3 = f(y + h/2 k2),  k4 = f(y + h k3),
 *   y <- y + h/6 (k1 + 2 k2 + 2 k3 + k4).
 * "primal" answers y(2) [n]; "gradient" the gradient of its last element
 * y_{n-1}(2) with respect to x, by agrad's reverse mode through the s steps.
 * (The exact solution is y_i(t) = x_0 ... x_i t^{i+1} / (i+1)!; the manual
 * tool answers the gradient of that, which RK4 approximates.) */
#include "gradbench.h"

#include <stdlib.h>

#define ODE_MAX_WORK (1L << 24) /* n s: the graph takes ~340 bytes per step and element */

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

/* c f(y), for a constant c: f's parameters scaled once, c x, in the parts
 * f reads, c x_0 [1] and c x_1.. [n-1] */
typedef struct ode_f {
    ag_node *x_first, *x_rest;
    int n;
} ode_f;

static ode_f scaled_f(ag_graph *g, ag_node *x, int n, double c)
{
    ag_node *cx = ag_mul(ag_scalar(g, c), x);
    return (ode_f){ag_slice(cx, 0, 0, 1, 1), n > 1 ? ag_slice(cx, 0, 1, n, 1) : NULL, n};
}

/* c f(y) = (c x_0, c x_1 y_0, ..., c x_{n-1} y_{n-2}): [n] -> [n] */
static ag_node *f(const ode_f *cf, ag_node *y)
{
    if (cf->n == 1)
        return cf->x_first;
    ag_node *parts[2] = {cf->x_first, ag_mul(cf->x_rest, ag_slice(y, 0, 0, cf->n - 1, 1))};
    return ag_concat(2, parts, 0);
}

/* x: [n] -> y(2): [n]. RK4 with each stage's factor folded into f:
 *   a1 = h/2 f(y),  a2 = h/2 f(y + a1),  a3 = h f(y + a2),  a4 = h/6 f(y + a3)
 * (a_i = c_i k_i), so the step y + h/6 (k1 + 2 k2 + 2 k3 + k4) is
 *   y + a4 + (a1 + 2 a2 + a3) / 3.
 * 21 nodes a step: per f a slice of y, a product and a concat, and the
 * stage sums, all on [n] (or [n-1]) shapes, none broadcasting a scalar. */
static bool build_ode(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    const ode_data *d = o->data;
    ag_node *x = ag_param(g, o->params[0]);
    double h = 2.0 / (double)d->steps;
    ode_f half_h = scaled_f(g, x, d->n, h / 2.0), whole_h = scaled_f(g, x, d->n, h),
          sixth_h = scaled_f(g, x, d->n, h / 6.0);
    ag_node *third = ag_expand(ag_scalar(g, 1.0 / 3.0), 1, &d->n); /* [n]: no broadcast in the loop */
    ag_node *y = ag_input(g, d->zeros);                            /* y(0) = 0 */
    for (long step = 0; step < d->steps; step++) {
        ag_node *a1 = f(&half_h, y);
        ag_node *a2 = f(&half_h, ag_add(y, a1));
        ag_node *a3 = f(&whole_h, ag_add(y, a2));
        ag_node *a4 = f(&sixth_h, ag_add(y, a3));
        ag_node *a123 = ag_add(ag_add(a1, a3), ag_add(a2, a2));
        y = ag_add(ag_add(y, a4), ag_mul(third, a123));
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
    gb_objective *o = ok ? gb_objective_with_data(sizeof(ode_data), free_data, err) : NULL;
    ode_data *d = o ? o->data : NULL;
    if (d) {
        d->n = (int)n;
        d->steps = steps;
        int shape[1] = {(int)n};
        d->zeros = ag_tensor_zeros(1, shape);
        ok = (d->zeros || gb_fail(err, "ode: %s", ag_last_error())) && gb_objective_param(o, 1, shape, x, err);
    }
    free(x);
    if (!ok || !d) {
        gb_objective_free(o);
        return false; /* err is set */
    }
    o->build = build_ode;
    o->gradient = variant == GB_GRADIENT;
    if (!o->gradient)
        o->output = primal_output;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"primal", prepare, GB_PRIMAL}, {"gradient", prepare, GB_GRADIENT}};
const gb_eval gb_eval_ode = {"ode", functions, 2};
