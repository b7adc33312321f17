/* recipes_elementwise.c -- test recipes for the new elementwise ops (unary, maximum/minimum)
 * (see recipes.c for the shared helpers and the rules a recipe follows).
 * Operands are 1-d to 4-d, up to 81 elements (the straight code of tiny
 * tensors and the loops), inside each op's domain and at least 0.05 from
 * its kinks and ties, so central differences of step ~1e-6 hold. */
#include <math.h>

#include "helpers.h"

/* a parameter of a random shape (1 to 4 dimensions of 1..3 each), values
 * uniform in [lo, hi] (signed: with a random sign) */
static ag_node *operand(ag_graph *g, test_rng *r, op_case *c, double lo, double hi, bool signed_values)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    return add_param(g, c, random_param(r, nd, dims, lo, hi, signed_values));
}

/* ---- unary ops -------------------------------------------------------------------- */

#define UNARY_RECIPE(opname, lo, hi, signed_values)                                   \
    static bool opname##_recipe(ag_graph *g, test_rng *r, op_case *c)               \
    {                                                                                 \
        c->out = ag_##opname(operand(g, r, c, lo, hi, signed_values));                \
        return c->out != NULL;                                                        \
    }

UNARY_RECIPE(sqrt, 0.5, 3.0, false)      /* x > 0: away from the pole of 1 / (2 sqrt x) */
UNARY_RECIPE(abs, 0.1, 2.0, true)        /* away from the kink at 0 */
UNARY_RECIPE(sin, -3.0, 3.0, false)
UNARY_RECIPE(cos, -3.0, 3.0, false)
UNARY_RECIPE(log1p, -0.5, 2.0, false)    /* x > -1 */
UNARY_RECIPE(expm1, -2.0, 2.0, false)
UNARY_RECIPE(softplus, 0.1, 8.0, true)   /* both signs, up to where e^-|x| is tiny */
UNARY_RECIPE(gelu, -3.0, 3.0, false)     /* smooth everywhere */
UNARY_RECIPE(normal_cdf, -3.0, 3.0, false)

/* |x| >= 0.1 (the kink at 0) with slopes below 1, above 1 and negative */
static bool leaky_relu_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    static const double slopes[] = {0.01, 0.2, -0.5, 1.5};
    c->out = ag_leaky_relu(operand(g, r, c, 0.1, 2.0, true), slopes[rng_int(r, 0, 3)]);
    return c->out != NULL;
}

/* bounds lo in [-1.2, -0.2], hi in [0.2, 1.2]; values in [-2, 2] moved 0.1
 * off any bound they come within 0.05 of, and the first one between them
 * (so some gradient flows) */
static bool clamp_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    double lo = rng_uniform(r, -1.2, -0.2), hi = rng_uniform(r, 0.2, 1.2);
    ag_node *x = operand(g, r, c, -2.0, 2.0, false);
    ag_tensor *t = c->params[0]; /* float64, or float32 (test_float32.c): read and set by value */
    for (size_t i = 0; i < ag_tensor_size(t); i++) {
        double v = ag_tensor_get(t, i);
        if (fabs(v - lo) < 0.05) ag_tensor_set(t, i, lo - 0.1);
        if (fabs(v - hi) < 0.05) ag_tensor_set(t, i, hi + 0.1);
    }
    ag_tensor_set(t, 0, 0.5 * (lo + hi));
    c->out = ag_clamp(x, lo, hi);
    return c->out != NULL;
}

/* ---- maximum, minimum ------------------------------------------------------------- */

typedef struct shape_pair { int nd_a, a[4], nd_b, b[4]; } shape_pair;

static const shape_pair broadcast_cases[] = {
    {2, {2, 3}, 2, {2, 3}},          /* same shapes, tiny */
    {2, {3, 3}, 2, {3, 3}},          /* same shapes, the loops */
    {2, {4, 3}, 1, {3}},             /* a bias row over a batch */
    {2, {3, 1}, 2, {3, 4}},          /* a column over a matrix */
    {2, {2, 3}, 0, {0}},             /* a matrix and a scalar */
    {0, {0}, 2, {2, 2}},             /* a scalar and a matrix */
    {3, {2, 1, 3}, 2, {4, 1}},       /* both broadcast */
    {4, {2, 1, 2, 3}, 3, {3, 1, 3}}, /* 4-d, the element-by-element visit */
};

/* values n + [0, 0.3] for integers n in -2..1, shifted by `offset`: one
 * operand's with offset 0 and the other's with 0.5 are at least 0.2 apart,
 * however they pair up, so no tie is within reach of the differences, and
 * either operand is the larger at some pairs */
static ag_tensor *off_grid_param(test_rng *r, int nd, const int *dims, double offset)
{
    ag_tensor *t = random_param(r, nd, dims, 0.0, 0.3, false);
    double *x = ag_tensor_data(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) x[i] += rng_int(r, -2, 1) + offset;
    return t;
}

static bool extremum_recipe(ag_graph *g, test_rng *r, op_case *c, ag_node *(*op)(ag_node *, ag_node *))
{
    const shape_pair *s = &broadcast_cases[rng_int(r, 0, (int)(sizeof broadcast_cases / sizeof broadcast_cases[0]) - 1)];
    double offset_a = rng_int(r, 0, 1) ? 0.5 : 0.0;
    ag_node *a = add_param(g, c, off_grid_param(r, s->nd_a, s->a, offset_a));
    ag_node *b = add_param(g, c, off_grid_param(r, s->nd_b, s->b, 0.5 - offset_a));
    c->out = op(a, b);
    return c->out != NULL;
}

static bool maximum_recipe(ag_graph *g, test_rng *r, op_case *c) { return extremum_recipe(g, r, c, ag_maximum); }
static bool minimum_recipe(ag_graph *g, test_rng *r, op_case *c) { return extremum_recipe(g, r, c, ag_minimum); }

/* ---- lookup ---------------------------------------------------------------------- */

static const recipe_entry recipes[] = {
    {"sqrt", sqrt_recipe},         {"abs", abs_recipe},         {"sin", sin_recipe},
    {"cos", cos_recipe},           {"log1p", log1p_recipe},     {"expm1", expm1_recipe},
    {"softplus", softplus_recipe}, {"leaky_relu", leaky_relu_recipe},
    {"clamp", clamp_recipe},       {"maximum", maximum_recipe}, {"minimum", minimum_recipe},
    {"gelu", gelu_recipe},
    {"normal_cdf", normal_cdf_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_elementwise(const char *name) { return recipe_in(recipes, name); }

/* The elementwise ops' NaN/Inf cases are rows of the unary_refs and
 * binary_refs tables in tests/test_gradients.c (which run each row on tiny
 * tensors, the loops, the threads and the broadcasts). */
