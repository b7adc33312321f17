/* particle.c -- GradBench's particle eval (evals/particle/README.md), after
 * Pearlmutter and Siskind: a particle of mass 1 and charge 1 starts at
 * x(0) = (0, 8) with velocity (0.75, 0) and is pushed by two fixed charges
 * at (10, 10 - w) and (10, 0), whose potential is
 *   p(x; w) = |x - (10, 10 - w)|^-1 + |x - (10, 0)|^-1,
 * so the force on it is F = -grad_x p(x; w). Its path, by Euler steps of
 * dt = 0.1,
 *   x_new = x + dt xdot;  xdot_new = xdot + dt F(x),
 * crosses the x axis during some step; going back along xdot to the
 * crossing, dt_f = -x_new[1] / xdot[1] and x(t_f) = x_new + dt_f xdot.
 * The answer is the control w that brings the crossing to the origin,
 *   argmin_w x_0(t_f)^2,
 * by gradient descent from the input's w (nested.c's solver).
 *
 * Nested AD: the force is a derivative (the inner one, of p in x), and
 * the descent needs d x_0(t_f)^2 / dw (the outer one), which goes through
 * every force along the path. The variants name the modes, outer first
 * ("fr": outer forward, inner reverse); see nested.h. */
#include "nested.h"

#include <math.h>
#include <stdlib.h>

#define DT 0.1
/* Euler steps after which a path that has not reached the x axis is an error */
#define MAX_STEPS 10000

typedef struct particle_ctx {
    gb_ad_mode outer, inner;
    double w_start, w;  /* the input, the answer */
    ag_tensor *control; /* w: [1], requires grad (the outer derivative is in it) */
    ag_tensor *x_start; /* x(0): [2], requires grad (see naive_euler) */
    ag_tensor *v_start; /* xdot(0): [2] */
    ag_graph *g;        /* the run's graph, recorded anew at every w the descent tries */
} particle_ctx;

/* p(x; w) for x [2] and the charges' positions [2] each */
static ag_node *potential(ag_node *x, ag_node *const charges[2])
{
    ag_node *p = NULL;
    for (int i = 0; i < 2; i++) {
        ag_node *d = ag_sub(x, charges[i]);
        ag_node *inverse_distance = ag_pow(ag_sqrt(ag_sum(ag_mul(d, d))), -1.0);
        p = p ? ag_add(p, inverse_distance) : inverse_distance;
    }
    return p;
}

/* x_0(t_f)^2 as a function of the node w ([1]). The inner derivative
 * grad_x p is taken at every step in the inner mode; in reverse mode
 * ag_grad asks that x take a gradient, so x(0) is a leaf of a tensor that
 * requires grad (the outer derivative is taken with respect to w alone). */
static ag_node *naive_euler(particle_ctx *c, ag_graph *g, ag_node *w, gb_error *err)
{
    ag_node *ten = ag_constant(g, 1, (int[]){1}, (double[]){10.0});
    ag_node *charges[2] = {ag_concat(2, (ag_node *[]){ten, ag_sub(ten, w)}, 0),
                           ag_constant(g, 1, (int[]){2}, (double[]){10.0, 0.0})};
    ag_node *x = ag_param(g, c->x_start), *xdot = ag_input(g, c->v_start), *dt = ag_scalar(g, DT);
    for (int step = 0; step < MAX_STEPS; step++) {
        ag_node *x_new = ag_add(x, ag_mul(dt, xdot));
        if (!x_new)
            return NULL;
        if (ag_node_value(x_new)[1] <= 0.0) { /* crossed the x axis in this step */
            ag_node *dt_f = ag_div(ag_neg(ag_index(x_new, 1)), ag_index(xdot, 1));
            ag_node *x_f = ag_add(x_new, ag_mul(dt_f, xdot));
            ag_node *x0_f = ag_index(x_f, 0);
            return ag_mul(x0_f, x0_f);
        }
        ag_node *grad_p = gb_recorded_gradient(g, potential(x, charges), x, c->inner);
        ag_node *force = ag_neg(grad_p); /* = xddot */
        xdot = ag_add(xdot, ag_mul(dt, force));
        x = x_new;
    }
    gb_fail(err, "particle: the path has not reached the x axis after %d steps (w = %g)", MAX_STEPS,
            ag_node_value(w)[0]);
    return NULL;
}

/* records x_0(t_f)^2 at w on a reset graph */
static ag_node *record_at(particle_ctx *c, double w, ag_node **w_node, gb_error *err)
{
    ag_graph_reset(c->g);
    ag_tensor_data(c->control)[0] = w;
    *w_node = ag_param(c->g, c->control);
    ag_node *y = naive_euler(c, c->g, *w_node, err);
    if (!y)
        gb_fail_graph(err, c->g, "particle");
    return y;
}

static bool value_at(void *ctx, const double *w, double *y, gb_error *err)
{
    ag_node *w_node, *y_node = record_at(ctx, *w, &w_node, err);
    if (y_node)
        *y = ag_node_value(y_node)[0];
    return y_node != NULL;
}

/* d x_0(t_f)^2 / dw in the outer mode */
static bool gradient_at(void *ctx, const double *w, double *dy, gb_error *err)
{
    particle_ctx *c = ctx;
    ag_node *w_node, *y_node = record_at(c, *w, &w_node, err);
    return y_node && gb_number_gradient(c->g, y_node, w_node, c->outer, dy, err);
}

static bool run(void *ctx, ag_graph *g, gb_error *err)
{
    particle_ctx *c = ctx;
    c->g = g;
    gb_descent f = {c, 1, value_at, gradient_at};
    return gb_argmin(&f, &c->w_start, &c->w, err);
}

static json_t *output(void *ctx) { return gb_json_number(((particle_ctx *)ctx)->w); }

static void free_ctx(void *ctx)
{
    particle_ctx *c = ctx;
    if (!c)
        return;
    ag_tensor_free(c->control);
    ag_tensor_free(c->x_start);
    ag_tensor_free(c->v_start);
    free(c);
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double w;
    if (!gb_get_double(input, "w", &w, err))
        return false;
    if (!isfinite(w))
        return gb_fail(err, "particle: \"w\" must be finite");
    particle_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return gb_fail(err, "particle: out of memory");
    *c = (particle_ctx){gb_outer_mode(variant), gb_inner_mode(variant), w, w, NULL, NULL, NULL, NULL};
    c->control = gb_variable(1, &w);
    c->x_start = gb_variable(2, (double[]){0.0, 8.0});
    c->v_start = ag_tensor_from(1, (int[]){2}, (double[]){0.75, 0.0});
    if (!c->control || !c->x_start || !c->v_start) {
        gb_fail(err, "particle: %s", ag_last_error());
        free_ctx(c);
        return false;
    }
    *p = (gb_program){c, NULL, run, output, free_ctx};
    return true;
}

static const gb_function functions[] = GB_NESTED_FUNCTIONS(prepare);
const gb_eval gb_eval_particle = {"particle", functions, 4};
