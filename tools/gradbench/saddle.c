/* saddle.c -- GradBench's saddle eval (evals/saddle/README.md), after
 * Pearlmutter and Siskind: the saddle point of
 *   f(p, q) = (p_1^2 + p_2^2) - (q_1^2 + q_2^2),   p, q in R^2
 * (the README's (x_1, y_1) is the point p, its (x_2, y_2) the point q, as
 * the kit's saddle.hpp calls objective(x1, y1, x2, y2)), found as
 *   p* = argmin_p max_q f(p, q),   q* = argmax_q f(p*, q),
 * both by gradient descent from the input's start s (nested.h's solver
 * rules), the maximum as the minimum of -f. The answer is (p*, q*).
 *
 * Nested AD: the outer function is
 *   g(p) = max_q f(p, q) = f(p, argmax_q f(p, q)),
 * whose inner argmax follows grad_q f (the inner derivative), and the
 * outer descent needs grad_p g, which goes through every step of that
 * inner descent. So the inner descent is written on nodes (every point q
 * it visits is recorded, its gradient by gb_recorded_gradient), the outer
 * one on numbers (gb_argmin, recording g anew at every p it tries). The
 * variants name the modes, outer first; the second argmax, of f(p*, q),
 * is not nested and uses the outer mode (as the README asks). */
#include "nested.h"

#include <math.h>
#include <stdlib.h>

typedef struct saddle_ctx {
    gb_ad_mode outer, inner;
    double start[2], answer[4];
    ag_tensor *p_point; /* p: [2], requires grad (the outer derivative is in it) */
    ag_tensor *q_start; /* q's start s: [2], requires grad (see argmax_q) */
    ag_graph *g;        /* the run's graph, recorded anew at every p the outer descent tries */
} saddle_ctx;

/* f(p, q) = |p|^2 - |q|^2 */
static ag_node *saddle_f(ag_node *p, ag_node *q) { return ag_sub(ag_sum(ag_mul(p, p)), ag_sum(ag_mul(q, q))); }

/* A point of the inner descent: q, h = -f(p, q) (minimised), grad_q h */
typedef struct inner_point {
    ag_node *q, *h, *grad;
} inner_point;

static bool inner_point_at(ag_graph *g, ag_node *p, ag_node *q, gb_ad_mode mode, inner_point *at)
{
    at->q = q;
    at->h = ag_neg(saddle_f(p, q));
    at->grad = gb_recorded_gradient(g, at->h, q, mode);
    return at->grad != NULL;
}

/* argmax_q f(p, q) from s, recorded on g as a function of the node p: the
 * rules of gb_argmin (nested.c) on nodes, so that the steps q - eta grad
 * are differentiable in p. In reverse mode ag_grad asks that q take a
 * gradient: s is a leaf of a tensor that requires grad (the outer
 * derivative is taken with respect to p alone). */
static ag_node *argmax_q(saddle_ctx *c, ag_graph *g, ag_node *p, gb_ad_mode mode, gb_error *err)
{
    inner_point at, next;
    if (!inner_point_at(g, p, ag_param(g, c->q_start), mode, &at))
        return NULL;
    double eta = GB_DESCENT_ETA;
    int taken = 0;
    for (long step = 0; step < GB_DESCENT_MAX_STEPS; step++) {
        const double *gq = ag_node_value(at.grad), zero[2] = {0.0, 0.0};
        if (!isfinite(gb_distance(gq, zero, 2))) {
            gb_fail(err, "saddle: the inner gradient is not finite at step %ld", step);
            return NULL;
        }
        if (gb_distance(gq, zero, 2) <= GB_DESCENT_TOLERANCE)
            return at.q;
        if (taken == GB_DESCENT_GROW_AFTER) {
            eta *= 2.0;
            taken = 0;
            continue;
        }
        ag_node *q_new = ag_sub(at.q, ag_mul(ag_scalar(g, eta), at.grad));
        if (!q_new)
            return NULL;
        if (gb_distance(ag_node_value(at.q), ag_node_value(q_new), 2) <= GB_DESCENT_TOLERANCE)
            return at.q;
        if (!inner_point_at(g, p, q_new, mode, &next))
            return NULL;
        if (ag_node_value(next.h)[0] < ag_node_value(at.h)[0]) {
            at = next;
            taken++;
        } else {
            eta /= 2.0;
            taken = 0;
        }
    }
    gb_fail(err, "saddle: the inner descent did not converge in %d steps", GB_DESCENT_MAX_STEPS);
    return NULL;
}

/* g(p) = f(p, argmax_q f(p, q)) recorded at p on a reset graph */
static ag_node *record_at(saddle_ctx *c, const double *p, ag_node **p_node, gb_error *err)
{
    ag_graph_reset(c->g);
    ag_tensor_data(c->p_point)[0] = p[0];
    ag_tensor_data(c->p_point)[1] = p[1];
    *p_node = ag_param(c->g, c->p_point);
    ag_node *q = argmax_q(c, c->g, *p_node, c->inner, err);
    ag_node *value = q ? saddle_f(*p_node, q) : NULL;
    if (!value)
        gb_fail_graph(err, c->g, "saddle");
    return value;
}

static bool value_at(void *ctx, const double *p, double *value, gb_error *err)
{
    ag_node *p_node, *v = record_at(ctx, p, &p_node, err);
    if (v)
        *value = ag_node_value(v)[0];
    return v != NULL;
}

/* grad_p g in the outer mode */
static bool gradient_at(void *ctx, const double *p, double *grad, gb_error *err)
{
    saddle_ctx *c = ctx;
    ag_node *p_node, *v = record_at(c, p, &p_node, err);
    return v && gb_number_gradient(c->g, v, p_node, c->outer, grad, err);
}

static bool run(void *ctx, ag_graph *g, gb_error *err)
{
    saddle_ctx *c = ctx;
    c->g = g;
    gb_descent outer = {c, 2, value_at, gradient_at};
    double *p = c->answer, *q = c->answer + 2;
    if (!gb_argmin(&outer, c->start, p, err)) /* step 1: p* */
        return false;
    ag_graph_reset(g); /* step 2: q* = argmax_q f(p*, q), not nested */
    ag_tensor_data(c->p_point)[0] = p[0];
    ag_tensor_data(c->p_point)[1] = p[1];
    ag_node *q_node = argmax_q(c, g, ag_param(g, c->p_point), c->outer, err);
    if (!q_node)
        return gb_fail_graph(err, g, "saddle");
    q[0] = ag_node_value(q_node)[0];
    q[1] = ag_node_value(q_node)[1];
    return true;
}

static json_t *output(void *ctx) { return gb_json_vector(((saddle_ctx *)ctx)->answer, 4); }

static void free_ctx(void *ctx)
{
    saddle_ctx *c = ctx;
    if (!c)
        return;
    ag_tensor_free(c->p_point);
    ag_tensor_free(c->q_start);
    free(c);
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *start;
    size_t n;
    if (!gb_get_vector(input, "start", &start, &n, err))
        return false;
    bool ok = n == 2 && isfinite(start[0]) && isfinite(start[1]);
    if (!ok) {
        free(start);
        return gb_fail(err, "saddle: \"start\" must be 2 finite numbers (it has %zu)", n);
    }
    saddle_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        free(start);
        return gb_fail(err, "saddle: out of memory");
    }
    *c = (saddle_ctx){gb_outer_mode(variant), gb_inner_mode(variant), {start[0], start[1]}, {0}, NULL, NULL, NULL};
    free(start);
    c->p_point = gb_variable(2, c->start);
    c->q_start = gb_variable(2, c->start);
    if (!c->p_point || !c->q_start) {
        gb_fail(err, "saddle: %s", ag_last_error());
        free_ctx(c);
        return false;
    }
    *p = (gb_program){c, NULL, run, output, free_ctx};
    return true;
}

static const gb_function functions[] = GB_NESTED_FUNCTIONS(prepare);
const gb_eval gb_eval_saddle = {"saddle", functions, 4};
