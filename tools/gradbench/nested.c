/* nested.c -- the pieces the nested-AD evals share (nested.h): the inner
 * derivative as nodes, the outer one as numbers, and the solver. */
#include "nested.h"

#include <math.h>
#include <string.h>

#define MAX_DIM 4

ag_node *gb_recorded_gradient(ag_graph *g, ag_node *f, ag_node *x, gb_ad_mode mode)
{
    ag_node *grad = NULL;
    if (mode == GB_REVERSE) {
        ag_grad(g, f, 1, &x, &grad, true);
        return grad;
    }
    /* forward: df/dx_i = the tangent of f when x moves along e_i */
    size_t m = ag_node_size(x);
    ag_node *partial[MAX_DIM];
    if (m > MAX_DIM)
        return NULL; /* not asked for: the evals' points are [2] */
    for (size_t i = 0; i < m; i++) {
        double e[MAX_DIM] = {0};
        e[i] = 1.0;
        ag_node *direction = ag_constant(g, 1, (int[]){(int)m}, e);
        if (!direction || !ag_jvp_nodes(g, 1, &x, &direction, 1, &f, &partial[i]))
            return NULL;
    }
    return ag_stack(m, partial, 0);
}

bool gb_number_gradient(ag_graph *g, ag_node *f, ag_node *x, gb_ad_mode mode, double *grad, gb_error *err)
{
    size_t m = ag_node_size(x);
    if (mode == GB_REVERSE) {
        ag_node *d;
        if (!ag_grad(g, f, 1, &x, &d, false))
            return gb_fail_graph(err, g, "outer gradient");
        memcpy(grad, ag_node_value(d), m * sizeof *grad);
        return true;
    }
    if (m > MAX_DIM)
        return gb_fail(err, "outer tangent: %zu directions (at most %d)", m, MAX_DIM);
    for (size_t i = 0; i < m; i++) {
        double e[MAX_DIM] = {0};
        e[i] = 1.0;
        const double *tangent = e;
        if (!ag_jvp(g, 1, &x, &tangent))
            return gb_fail_graph(err, g, "outer tangent");
        const double *df = ag_node_tangent(f);
        grad[i] = df ? df[0] : 0.0; /* no tangent: f does not depend on x */
    }
    return true;
}

ag_tensor *gb_variable(int n, const double *values)
{
    ag_tensor *t = ag_tensor_from(1, (int[]){n}, values);
    if (t && !ag_tensor_requires_grad(t, true)) {
        ag_tensor_free(t);
        t = NULL;
    }
    return t;
}

double gb_distance(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s);
}

static double norm(const double *a, size_t n)
{
    double zero[MAX_DIM] = {0};
    return gb_distance(a, zero, n);
}

/* Gradient descent with a learning rate eta that adapts:
 *   stop when |grad f(x)| <= tol, or when the step x' = x - eta grad f(x)
 *   moves less than tol;
 *   a step that lowers f is taken; after GROW_AFTER steps taken in a row,
 *   eta doubles;
 *   a step that does not lower f is not taken, and eta halves.
 * eta starts at 1e-5, tol is 1e-5 (GradBench's gd.hpp: every tool follows
 * the same path, so all reach the same point). */
bool gb_argmin(const gb_descent *f, const double *start, double *x, gb_error *err)
{
    size_t n = f->n;
    double fx, gx[MAX_DIM], x_new[MAX_DIM], eta = GB_DESCENT_ETA;
    if (n == 0 || n > MAX_DIM)
        return gb_fail(err, "gradient descent: %zu variables (1 to %d)", n, MAX_DIM);
    memcpy(x, start, n * sizeof *x);
    if (!f->value(f->ctx, x, &fx, err) || !f->gradient(f->ctx, x, gx, err))
        return false;
    int taken = 0;
    for (long step = 0; step < GB_DESCENT_MAX_STEPS; step++) {
        if (!isfinite(norm(gx, n)))
            return gb_fail(err, "gradient descent: the gradient is not finite at step %ld", step);
        if (norm(gx, n) <= GB_DESCENT_TOLERANCE)
            return true;
        if (taken == GB_DESCENT_GROW_AFTER) {
            eta *= 2.0;
            taken = 0;
            continue;
        }
        for (size_t j = 0; j < n; j++)
            x_new[j] = x[j] - eta * gx[j];
        if (gb_distance(x, x_new, n) <= GB_DESCENT_TOLERANCE)
            return true;
        double f_new;
        if (!f->value(f->ctx, x_new, &f_new, err))
            return false;
        if (f_new < fx) {
            memcpy(x, x_new, n * sizeof *x);
            fx = f_new;
            if (!f->gradient(f->ctx, x, gx, err))
                return false;
            taken++;
        } else {
            eta /= 2.0;
            taken = 0;
        }
    }
    return gb_fail(err, "gradient descent: no convergence in %d steps", GB_DESCENT_MAX_STEPS);
}
