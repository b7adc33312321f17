/* recipes.c -- one recipe per op: random operands inside the op's domain,
 * away from kinks (relu at 0) and poles (log at 0, div by 0). */
#include <math.h>
#include <string.h>

#include "helpers.h"

ag_tensor *random_param(test_rng *r, int ndim, const int *dims, double lo, double hi,
                               bool signed_values)
{
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    ck_assert_ptr_nonnull(t);
    double *x = ag_tensor_data(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++)
        x[i] = signed_values ? rng_signed(r, lo, hi) : rng_uniform(r, lo, hi);
    ag_tensor_requires_grad(t, true);
    return t;
}

ag_tensor *distinct_param(test_rng *r, int ndim, const int *dims, double first, double spacing)
{
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    ck_assert_ptr_nonnull(t);
    double *x = ag_tensor_data(t);
    size_t n = ag_tensor_size(t);
    for (size_t i = 0; i < n; i++) x[i] = first + spacing * (double)i + rng_uniform(r, 0.0, 0.05);
    for (size_t i = n; i-- > 1;) { /* Fisher-Yates */
        size_t j = (size_t)rng_int(r, 0, (int)i);
        double swap = x[i];
        x[i] = x[j];
        x[j] = swap;
    }
    ag_tensor_requires_grad(t, true);
    return t;
}

bool recipe_float32 = false;

/* The tensor to record in slot k of kept[]: t itself (as float32 when
 * recipe_float32 is set: its values rounded), or when re-recording the one
 * kept there before (t, the same values drawn again, is freed). */
static ag_tensor *kept_or_new(bool rerecord, ag_tensor **kept, int k, ag_tensor *t)
{
    if (rerecord) {
        ag_tensor_free(t);
        return kept[k];
    }
    if (recipe_float32 && ag_tensor_dtype(t) == AG_FLOAT64) {
        ag_tensor *narrow = ag_tensor_to_dtype(t, AG_FLOAT32);
        ck_assert_ptr_nonnull(narrow);
        ag_tensor_free(t);
        t = narrow;
    }
    return kept[k] = t;
}

ag_node *add_param(ag_graph *g, op_case *c, ag_tensor *t)
{
    ck_assert_int_lt(c->n_params, OP_CASE_MAX);
    t = kept_or_new(c->rerecord, c->params, c->n_params, t);
    return c->param_nodes[c->n_params++] = ag_param(g, t);
}

ag_node *add_extra(ag_graph *g, op_case *c, ag_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_lt(c->n_extra, OP_CASE_MAX);
    t = kept_or_new(c->rerecord, c->extra, c->n_extra++, t);
    return ag_input(g, t);
}

int random_dims(test_rng *r, int min_nd, int max_nd, int max_size, int dims[4])
{
    int nd = rng_int(r, min_nd, max_nd);
    for (int d = 0; d < 4; d++) dims[d] = rng_int(r, 1, max_size);
    return nd;
}

int random_axis(test_rng *r, int nd) { return rng_int(r, -nd, nd - 1); }

/* Random shape of 1 or 2 dims, each 1..4. */
static int random_shape(test_rng *r, int dims[2])
{
    dims[0] = rng_int(r, 1, 4);
    dims[1] = rng_int(r, 1, 4);
    return rng_int(r, 1, 2);
}

/* ---- broadcasting binary ops ----------------------------------------------- */

typedef struct shape_pair { int nd_a, a[3], nd_b, b[3]; } shape_pair;

static const shape_pair broadcast_cases[] = {
    {2, {2, 3}, 2, {2, 3}},  /* equal */
    {2, {4, 3}, 1, {3}},     /* bias row over a batch */
    {2, {3, 1}, 2, {3, 4}},  /* column over a matrix */
    {2, {2, 3}, 0, {0}},     /* matrix and scalar */
    {0, {0}, 2, {2, 2}},     /* scalar and matrix */
    {3, {2, 1, 3}, 2, {4, 1}}, /* both broadcast */
    {1, {5}, 1, {5}},
};

static bool binary_recipe(ag_graph *g, test_rng *r, op_case *c, ag_node *(*op)(ag_node *, ag_node *),
                          bool b_away_from_zero)
{
    const shape_pair *s = &broadcast_cases[rng_int(r, 0, 6)];
    ag_node *a = add_param(g, c, random_param(r, s->nd_a, s->a, -2.0, 2.0, false));
    ag_node *b = add_param(g, c, b_away_from_zero ? random_param(r, s->nd_b, s->b, 0.5, 2.0, true)
                                                  : random_param(r, s->nd_b, s->b, -2.0, 2.0, false));
    c->out = op(a, b);
    return c->out != NULL;
}

static bool add_recipe(ag_graph *g, test_rng *r, op_case *c) { return binary_recipe(g, r, c, ag_add, false); }
static bool sub_recipe(ag_graph *g, test_rng *r, op_case *c) { return binary_recipe(g, r, c, ag_sub, false); }
static bool mul_recipe(ag_graph *g, test_rng *r, op_case *c) { return binary_recipe(g, r, c, ag_mul, false); }
static bool div_recipe(ag_graph *g, test_rng *r, op_case *c) { return binary_recipe(g, r, c, ag_div, true); }

/* ---- unary ops ---------------------------------------------------------------- */

static ag_node *unary_operand(ag_graph *g, test_rng *r, op_case *c, double lo, double hi,
                              bool signed_values)
{
    int dims[2], nd = random_shape(r, dims);
    return add_param(g, c, random_param(r, nd, dims, lo, hi, signed_values));
}

#define UNARY_RECIPE(opname, lo, hi, signed_values)                                   \
    static bool opname##_recipe(ag_graph *g, test_rng *r, op_case *c)               \
    {                                                                                 \
        c->out = ag_##opname(unary_operand(g, r, c, lo, hi, signed_values));          \
        return c->out != NULL;                                                        \
    }

UNARY_RECIPE(neg, -2.0, 2.0, false)
UNARY_RECIPE(exp, -2.0, 2.0, false)
UNARY_RECIPE(log, 0.5, 3.0, false)       /* away from the pole at 0 */
UNARY_RECIPE(tanh, -2.0, 2.0, false)
UNARY_RECIPE(sigmoid, -3.0, 3.0, false)
UNARY_RECIPE(sum, -2.0, 2.0, false)
UNARY_RECIPE(mean, -2.0, 2.0, false)

/* values at least 0.1 from the kink, one of them positive so some gradient flows */
static bool relu_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    ag_node *x = unary_operand(g, r, c, 0.1, 2.0, true);
    ag_tensor_set(c->params[0], 0, fabs(ag_tensor_get(c->params[0], 0))); /* either type */
    c->out = ag_relu(x);
    return c->out != NULL;
}

/* at least two classes: the softmax of one element is constant */
static bool softmax_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2] = {rng_int(r, 1, 4), rng_int(r, 2, 4)};
    int nd = rng_int(r, 1, 2);
    c->out = ag_softmax(add_param(g, c, random_param(r, nd, nd == 1 ? dims + 1 : dims, -2.0, 2.0, false)));
    return c->out != NULL;
}

static bool pow_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    static const double exponents[] = {2.0, 3.0, 0.5, -1.5, 1.0};
    double p = exponents[rng_int(r, 0, 4)];
    c->out = ag_pow(unary_operand(g, r, c, 0.5, 2.0, false), p);
    return c->out != NULL;
}

/* ---- linear (matmul's recipe is in recipes_matmul.c) and the loss ------------------ */

/* a @ b + bias with each bias broadcast; sometimes large enough (over 512
 * multiply-adds) for the blocked kernel instead of the small loops */
static bool linear_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    bool large = rng_int(r, 0, 2) == 0;
    int M = large ? rng_int(r, 9, 12) : rng_int(r, 1, 5), K = large ? rng_int(r, 7, 9) : rng_int(r, 1, 5);
    int N = large ? rng_int(r, 9, 12) : rng_int(r, 1, 5);
    ag_node *a = add_param(g, c, random_param(r, 2, (int[]){M, K}, -2.0, 2.0, false));
    ag_node *b = add_param(g, c, random_param(r, 2, (int[]){K, N}, -2.0, 2.0, false));
    int kind = rng_int(r, 0, 5), nd[] = {2, 1, 2, 2, 0, 1};
    int dims[6][2] = {{M, N}, {N, 0}, {1, N}, {M, 1}, {0, 0}, {1, 0}};
    ag_node *bias = add_param(g, c, random_param(r, nd[kind], dims[kind], -2.0, 2.0, false));
    c->out = ag_linear(a, b, bias);
    return c->out != NULL;
}

static bool softmax_xent_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int N = rng_int(r, 1, 4), C = rng_int(r, 2, 5);
    ag_node *z = add_param(g, c, random_param(r, 2, (int[]){N, C}, -3.0, 3.0, false));
    ag_tensor *labels = ag_tensor_zeros(1, (int[]){N});
    for (int i = 0; i < N; i++) ag_tensor_data(labels)[i] = rng_int(r, 0, C - 1);
    c->out = ag_softmax_xent(z, add_extra(g, c, labels)); /* re-recorded: the kept labels */
    return c->out != NULL;
}

/* ---- shape ops, axis reductions, other losses ------------------------------- */

static bool transpose_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2] = {rng_int(r, 1, 4), rng_int(r, 1, 4)};
    c->out = ag_transpose(add_param(g, c, random_param(r, 2, dims, -2.0, 2.0, false)));
    return c->out != NULL;
}

static bool reshape_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2] = {rng_int(r, 1, 4), 2 * rng_int(r, 1, 3)};
    ag_node *x = add_param(g, c, random_param(r, 2, dims, -2.0, 2.0, false));
    c->out = ag_reshape(x, 3, (int[]){2, -1, dims[0]});
    return c->out != NULL;
}

static bool axis_recipe(ag_graph *g, test_rng *r, op_case *c, ag_node *(*op)(ag_node *, int))
{
    int dims[3] = {rng_int(r, 1, 4), rng_int(r, 1, 4), rng_int(r, 1, 3)};
    int nd = rng_int(r, 1, 3);
    ag_node *x = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    c->out = op(x, rng_int(r, -nd, nd - 1));
    return c->out != NULL;
}

static bool sum_axis_recipe(ag_graph *g, test_rng *r, op_case *c) { return axis_recipe(g, r, c, ag_sum_axis); }
static bool mean_axis_recipe(ag_graph *g, test_rng *r, op_case *c) { return axis_recipe(g, r, c, ag_mean_axis); }

static bool log_softmax_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2] = {rng_int(r, 1, 4), rng_int(r, 2, 4)};
    c->out = ag_log_softmax(add_param(g, c, random_param(r, 2, dims, -2.0, 2.0, false)));
    return c->out != NULL;
}

static bool mse_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2], nd = random_shape(r, dims);
    ag_node *a = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    ag_node *b = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    c->out = ag_mse(a, b);
    return c->out != NULL;
}

/* cast to float64: the identity on a float64 operand (the registry's
 * checks), a widening on a float32 one (test_float32.c's recipe_float32) */
static bool cast_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[2], nd = random_shape(r, dims);
    c->out = ag_cast(add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false)), AG_FLOAT64);
    return c->out != NULL;
}

/* ---- lookup -------------------------------------------------------------------------- */

static const recipe_entry recipes[] = {
    {"add", add_recipe},         {"sub", sub_recipe},         {"mul", mul_recipe},
    {"div", div_recipe},         {"neg", neg_recipe},         {"exp", exp_recipe},
    {"log", log_recipe},         {"tanh", tanh_recipe},       {"relu", relu_recipe},
    {"pow", pow_recipe},         {"sigmoid", sigmoid_recipe},
    {"sum", sum_recipe},         {"mean", mean_recipe},       {"softmax", softmax_recipe},
    {"softmax_xent", softmax_xent_recipe}, {"transpose", transpose_recipe},
    {"reshape", reshape_recipe},   {"sum_axis", sum_axis_recipe}, {"mean_axis", mean_axis_recipe},
    {"log_softmax", log_softmax_recipe}, {"mse", mse_recipe}, {"linear", linear_recipe},
    {"cast", cast_recipe},
    {NULL, NULL},
};

op_recipe recipe_in(const recipe_entry *table, const char *name)
{
    for (size_t i = 0; table[i].name; i++)
        if (strcmp(table[i].name, name) == 0) return table[i].recipe;
    return NULL;
}

op_recipe recipe_for(const char *name)
{
    op_recipe (*const groups[])(const char *) = {recipe_for_elementwise, recipe_for_reduce,
                                                 recipe_for_index, recipe_for_matmul,
                                                 recipe_for_conv, recipe_for_pool, recipe_for_norm,
                                                 recipe_for_lstm};
    op_recipe found = recipe_in(recipes, name);
    for (size_t i = 0; !found && i < sizeof groups / sizeof groups[0]; i++) found = groups[i](name);
    return found;
}

void op_case_free(op_case *c)
{
    for (int i = 0; i < c->n_params; i++) ag_tensor_free(c->params[i]);
    for (int i = 0; i < c->n_extra; i++) ag_tensor_free(c->extra[i]);
    memset(c, 0, sizeof *c);
}
