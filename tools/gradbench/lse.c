/* lse.c -- GradBench's lse eval (evals/lse/README.md): LogSumExp and its
 * gradient, written from its primitives with the LogSumExp trick,
 *   a = max_i x_i,   lse(x) = a + log sum_i exp(x_i - a),
 * and differentiated by agrad's reverse mode (no built-in logsumexp).
 * Its gradient is softmax(x): the share through a is 1 - sum softmax = 0,
 * up to rounding, and lands on the largest element. */
#include "gradbench.h"

#include <stdlib.h>

/* x: [n] -> lse(x): [] */
static bool build_lse(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    ag_node *x = ag_param(g, o->params[0]);
    ag_node *a = ag_max(x);
    ag_node *sum = ag_sum(ag_exp(ag_sub(x, a)));
    o->root = ag_add(a, ag_log(sum));
    return o->root != NULL;
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *x;
    size_t n;
    if (!gb_get_vector(input, "x", &x, &n, err))
        return false;
    if (n == 0 || n > (size_t)1 << 30) {
        free(x);
        return gb_fail(err, "lse: \"x\" has %zu elements (1 to 2^30 allowed)", n);
    }
    int shape[1] = {(int)n};
    gb_objective *o = gb_objective_new(err);
    bool ok = o && gb_objective_param(o, 1, shape, x, err);
    free(x);
    if (!ok) {
        gb_objective_free(o);
        return false;
    }
    o->build = build_lse;
    o->gradient = variant == GB_GRADIENT;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"primal", prepare, GB_PRIMAL}, {"gradient", prepare, GB_GRADIENT}};
const gb_eval gb_eval_lse = {"lse", functions, 2};
