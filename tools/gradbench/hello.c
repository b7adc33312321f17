/* hello.c -- GradBench's hello eval: square(x) = x^2 and double(x), its
 * derivative 2x, by agrad's reverse mode. The protocol's smallest test. */
#include "gradbench.h"

/* square(x) = x * x */
static bool build_square(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    ag_node *x = ag_param(g, o->params[0]);
    o->root = ag_mul(x, x);
    return o->root != NULL;
}

static json_t *derivative_output(const gb_objective *o) { return gb_json_number(ag_tensor_grad(o->params[0])[0]); }

/* The input is the number x itself. */
static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    if (!json_is_number(input))
        return gb_fail(err, "hello: the input is not a number");
    double x = json_number_value(input);
    gb_objective *o = gb_objective_new(err);
    if (!o || !gb_objective_param(o, 0, NULL, &x, err)) {
        gb_objective_free(o);
        return false;
    }
    o->build = build_square;
    o->gradient = variant == GB_GRADIENT;
    o->output = o->gradient ? derivative_output : NULL;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"square", prepare, GB_PRIMAL}, {"double", prepare, GB_GRADIENT}};
const gb_eval gb_eval_hello = {"hello", functions, 2};
