/* nested.h -- what the nested-AD evals (particle.c, saddle.c) share: the
 * AD modes of their four variants, the inner derivative taken as nodes
 * (so the outer derivative differentiates through it), the outer
 * derivative as numbers, and GradBench's gradient-descent solver.
 *
 * Each of those evals optimises, by gradient descent, a function whose
 * definition itself takes a derivative: particle's path is driven by the
 * force -grad_x p(x; w), saddle's inner maximum is found by following
 * grad_y f(x, y). The variants name the two modes, outer first:
 *   "ff", "fr", "rf", "rr"  (f forward, r reverse).
 * The inner derivative is recorded on the graph (ag_grad with create_graph,
 * or ag_jvp_nodes one direction at a time), so that the outer one (a
 * backward sweep, or ag_jvp sweeps) runs through it as through any op.
 * The loops stop on values (a path crossing an axis, a descent
 * converging), so these functions cannot be replayed: the solver records
 * the function anew (after ag_graph_reset) at every point it visits. */
#ifndef AGRAD_GRADBENCH_NESTED_H
#define AGRAD_GRADBENCH_NESTED_H

#include "gradbench.h"

typedef enum gb_ad_mode { GB_FORWARD = 0, GB_REVERSE = 1 } gb_ad_mode;

/* A variant's number: outer * 2 + inner ("fr" is GB_NESTED(GB_FORWARD, GB_REVERSE)). */
#define GB_NESTED(outer, inner) ((outer) * 2 + (inner))
/* The four functions of a nested eval, each the same prepare with its modes:
 * static const gb_function functions[] = GB_NESTED_FUNCTIONS(prepare); */
#define GB_NESTED_FUNCTIONS(prepare)                            \
    {                                                           \
        {"ff", prepare, GB_NESTED(GB_FORWARD, GB_FORWARD)},     \
        {"fr", prepare, GB_NESTED(GB_FORWARD, GB_REVERSE)},     \
        {"rf", prepare, GB_NESTED(GB_REVERSE, GB_FORWARD)},     \
        {"rr", prepare, GB_NESTED(GB_REVERSE, GB_REVERSE)},     \
    }
static inline gb_ad_mode gb_outer_mode(int variant) { return (gb_ad_mode)(variant / 2); }
static inline gb_ad_mode gb_inner_mode(int variant) { return (gb_ad_mode)(variant % 2); }

/* The gradient of the scalar node f with respect to the node x (a vector
 * [m], m <= 4), recorded as a node of x's shape that can be differentiated
 * again:
 *   reverse  ag_grad(create_graph) from f;
 *   forward  ag_jvp_nodes seeded at x with e_i, giving df/dx_i, one sweep
 *            per direction, stacked.
 * In reverse mode x must take a gradient (depend on a tensor that requires
 * grad), as ag_grad asks. NULL on failure (the graph's error set). */
ag_node *gb_recorded_gradient(ag_graph *g, ag_node *f, ag_node *x, gb_ad_mode mode);

/* The gradient of the scalar node f with respect to the leaf x ([m]) as
 * numbers, into grad (m doubles):
 *   reverse  one backward sweep (ag_grad without create_graph);
 *   forward  one ag_jvp sweep per direction e_i, reading f's tangent. */
bool gb_number_gradient(ag_graph *g, ag_node *f, ag_node *x, gb_ad_mode mode, double *grad, gb_error *err);

/* A function R^n -> R for the solver: value(x) and gradient(x), each
 * recording what it needs on its own. */
typedef struct gb_descent {
    void *ctx;
    size_t n; /* 1 to 4 */
    bool (*value)(void *ctx, const double *x, double *fx, gb_error *err);
    bool (*gradient)(void *ctx, const double *x, double *gx, gb_error *err);
} gb_descent;

/* A tensor [n] of the values that requires grad (NULL, see ag_last_error,
 * when it cannot be made). */
ag_tensor *gb_variable(int n, const double *values);
/* |a - b|, Euclidean, of two points of n coordinates */
double gb_distance(const double *a, const double *b, size_t n);

/* GradBench's gradient descent (the rules of the kit's gd.hpp, shared by
 * every tool, stated in nested.c), from start; the minimiser into x. False
 * with err set when the function fails or the descent does not end. */
bool gb_argmin(const gb_descent *f, const double *start, double *x, gb_error *err);

/* The solver's rules, in numbers (nested.c's comment):
 * the first learning rate, the rate's growth after this many accepted
 * steps, and the tolerance on the gradient and on the step. */
#define GB_DESCENT_ETA 1e-5
#define GB_DESCENT_GROW_AFTER 10
#define GB_DESCENT_TOLERANCE 1e-5
/* Steps after which a descent that has not ended is an error. */
#define GB_DESCENT_MAX_STEPS 1000000

#endif
