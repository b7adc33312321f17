/* recipes_reduce.c -- test recipes for max/min, the axis reductions added with them, where and expand
 * (see recipes.c for the shared helpers and the rules a recipe follows),
 * and their NaN/Inf cases. */
#include <math.h>
#include <string.h>

#include "helpers.h"

/* ---- recipes ------------------------------------------------------------------- */

static bool max_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    c->out = ag_max(add_param(g, c, distinct_param(r, nd, dims, -2.0, 0.25)));
    return c->out != NULL;
}

static bool min_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    c->out = ag_min(add_param(g, c, distinct_param(r, nd, dims, -2.0, 0.25)));
    return c->out != NULL;
}

/* op along a random axis of a random shape, negative axes too */
static bool extreme_axis_recipe(ag_graph *g, test_rng *r, op_case *c, ag_node *(*op)(ag_node *, int))
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    c->out = op(add_param(g, c, distinct_param(r, nd, dims, -2.0, 0.25)), random_axis(r, nd));
    return c->out != NULL;
}

static bool max_axis_recipe(ag_graph *g, test_rng *r, op_case *c) { return extreme_axis_recipe(g, r, c, ag_max_axis); }
static bool min_axis_recipe(ag_graph *g, test_rng *r, op_case *c) { return extreme_axis_recipe(g, r, c, ag_min_axis); }

static bool logsumexp_axis_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    ag_node *x = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    c->out = ag_logsumexp_axis(x, random_axis(r, nd));
    return c->out != NULL;
}

/* |x| in [0.5, 1.5] with random signs, and in half the cases one element
 * exactly 0 (the product is linear in each element, so finite differences
 * are exact there too; one zero leaves its slice a non-zero gradient) */
static bool prod_axis_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    ag_tensor *t = random_param(r, nd, dims, 0.5, 1.5, true);
    if (rng_int(r, 0, 1)) ag_tensor_data(t)[rng_int(r, 0, (int)ag_tensor_size(t) - 1)] = 0.0;
    c->out = ag_prod_axis(add_param(g, c, t), random_axis(r, nd));
    return c->out != NULL;
}

/* condition, a, b shapes that broadcast together (right-aligned) */
typedef struct where_shapes { int nd_c, c[4], nd_a, a[4], nd_b, b[4]; } where_shapes;

static const where_shapes where_cases[] = {
    {2, {2, 3}, 2, {2, 3}, 2, {2, 3}},                   /* equal */
    {1, {3}, 2, {2, 3}, 0, {0}},                         /* a row condition, a scalar b */
    {2, {2, 1}, 2, {1, 3}, 2, {2, 3}},                   /* column and row */
    {0, {0}, 1, {4}, 1, {4}},                            /* one condition for all */
    {4, {2, 1, 3, 1}, 2, {3, 2}, 4, {2, 1, 1, 2}},       /* 4-d */
    {1, {2}, 3, {3, 1, 2}, 3, {1, 2, 1}},                /* the result larger than each */
    {3, {1, 2, 1}, 1, {1}, 3, {3, 1, 4}},                /* each broadcast along some dims */
};

/* cond: random 0s and 1s, an input without gradient */
static bool where_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    const where_shapes *s = &where_cases[rng_int(r, 0, 6)];
    ag_tensor *cond = ag_tensor_zeros(s->nd_c, s->c);
    ck_assert_ptr_nonnull(cond);
    for (size_t i = 0; i < ag_tensor_size(cond); i++) ag_tensor_data(cond)[i] = rng_int(r, 0, 1);
    ag_node *cn = add_extra(g, c, cond);
    ag_node *a = add_param(g, c, random_param(r, s->nd_a, s->a, -2.0, 2.0, false));
    ag_node *b = add_param(g, c, random_param(r, s->nd_b, s->b, -2.0, 2.0, false));
    c->out = ag_where(cn, a, b);
    return c->out != NULL;
}

/* a of 0 to 3 dims, some of size 1, to a target with up to 4 - ndim new
 * leading dims; each kept dim asked for as -1 or its size, each size-1 dim
 * broadcast to 1..3 */
static bool expand_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int nd = rng_int(r, 0, 3), dims[4], target[4];
    for (int i = 0; i < nd; i++) dims[i] = rng_int(r, 0, 1) ? 1 : rng_int(r, 2, 3);
    int lead = rng_int(r, 0, 4 - nd);
    for (int i = 0; i < lead; i++) target[i] = rng_int(r, 1, 3);
    for (int i = 0; i < nd; i++) {
        bool keep = rng_int(r, 0, 1);
        target[lead + i] = dims[i] == 1 && !keep ? rng_int(r, 1, 3) : rng_int(r, 0, 1) ? -1 : dims[i];
    }
    ag_node *x = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    c->out = ag_expand(x, lead + nd, target);
    return c->out != NULL;
}

static const recipe_entry recipes[] = {
    {"max", max_recipe},
    {"min", min_recipe},
    {"max_axis", max_axis_recipe},
    {"min_axis", min_axis_recipe},
    {"logsumexp_axis", logsumexp_axis_recipe},
    {"prod_axis", prod_axis_recipe},
    {"where", where_recipe},
    {"expand", expand_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_reduce(const char *name) { return recipe_in(recipes, name); }

/* ---- NaN and +-Inf ------------------------------------------------------------
 * As in test_gradients.c, with helpers.h's harness: operands holding NaN,
 * +Inf and -Inf among ordinary values (zeros and ties included), the op's
 * value and the gradient a finite seed sends back compared with a reference
 * written here from the op's definition in IEEE arithmetic, following
 * PyTorch's where it says more (each op's case states it). */

/* ---- the reductions: slices of an [R, C] matrix ---- */

#define EVERY_ELEMENT (-99) /* the "axis" of max / min over every element */
#define SLICE_MAX 64

/* slices along axis 0 (columns), 1 (rows) or of every element (one) */
static int slice_count(int R, int C, int axis) { return axis == 0 ? C : axis == 1 ? R : 1; }
static int slice_length(int R, int C, int axis) { return axis == 0 ? R : axis == 1 ? C : R * C; }

/* the row-major index of element i of slice j */
static size_t slice_at(int C, int axis, int j, int i)
{
    return axis == 0 ? (size_t)(i * C + j) : axis == 1 ? (size_t)(j * C + i) : (size_t)i;
}

/* A slice's reference: returns y, and sets gx[i] = dy/dx_i * gy. */
typedef double (*slice_ref)(const double *x, int n, double gy, double *gx);

/* torch.amax / amin: the extreme, NaN if an element is NaN */
static double ref_amax(const double *x, int n, bool largest)
{
    double y = x[0];
    for (int i = 0; i < n && !isnan(y); i++)
        if (isnan(x[i]) || (largest ? x[i] > y : x[i] < y)) y = x[i];
    return y;
}

/* torch.amax's backward: gx_i = (gy / c) * [x_i == y], c the number of
 * elements equal to y (so every gradient of a NaN slice is NaN: gy / 0 * 0) */
static double ref_extreme(const double *x, int n, double gy, double *gx, bool largest)
{
    double y = ref_amax(x, n, largest), c = 0.0;
    for (int i = 0; i < n; i++) c += x[i] == y;
    for (int i = 0; i < n; i++) gx[i] = gy / c * (x[i] == y ? 1.0 : 0.0);
    return y;
}
static double ref_max(const double *x, int n, double gy, double *gx) { return ref_extreme(x, n, gy, gx, true); }
static double ref_min(const double *x, int n, double gy, double *gx) { return ref_extreme(x, n, gy, gx, false); }

/* torch.logsumexp: m = amax(x), 0 when infinite; y = log sum exp(x_i - m) + m;
 * its backward gx_i = gy exp(x_i - y) (NaN where x_i = y = +-Inf) */
static double ref_logsumexp(const double *x, int n, double gy, double *gx)
{
    double m = ref_amax(x, n, true), s = 0.0;
    if (isinf(m)) m = 0.0;
    for (int i = 0; i < n; i++) s += exp(x[i] - m);
    double y = log(s) + m;
    for (int i = 0; i < n; i++) gx[i] = gy * exp(x[i] - y);
    return y;
}

/* y = prod x_i; gx_i = gy prod_{k != i} x_k, the product of the others in
 * order (not torch's y / x_i: see ops/reduce.c) */
static double ref_prod(const double *x, int n, double gy, double *gx)
{
    double y = 1.0;
    for (int i = 0; i < n; i++) {
        double others = 1.0;
        for (int k = 0; k < n; k++)
            if (k != i) others *= x[k];
        gx[i] = gy * others;
        y *= x[i];
    }
    return y;
}

typedef struct reduction_ref {
    const char *op;
    ag_node *(*build)(ag_node *x, int axis);
    slice_ref ref;
} reduction_ref;

static ag_node *build_max(ag_node *x, int axis) { return axis == EVERY_ELEMENT ? ag_max(x) : ag_max_axis(x, axis); }
static ag_node *build_min(ag_node *x, int axis) { return axis == EVERY_ELEMENT ? ag_min(x) : ag_min_axis(x, axis); }

static const reduction_ref reduction_refs[] = {
    {"max", build_max, ref_max},
    {"min", build_min, ref_min},
    {"max_axis", build_max, ref_max},
    {"min_axis", build_min, ref_min},
    {"logsumexp_axis", ag_logsumexp_axis, ref_logsumexp},
    {"prod_axis", ag_prod_axis, ref_prod},
};

/* rows that matter for a slice of two: [1, Inf], [1, -Inf], [-Inf, -Inf],
 * [NaN, 1], [1, NaN], [Inf, Inf], [Inf, -Inf], [-Inf, 0.5], [2, 2], [0, Inf] */
static const double pairs[10][2] = {
    {1.0, INFINITY}, {1.0, -INFINITY}, {-INFINITY, -INFINITY}, {NAN, 1.0}, {1.0, NAN},
    {INFINITY, INFINITY}, {INFINITY, -INFINITY}, {-INFINITY, 0.5}, {2.0, 2.0}, {0.0, INFINITY},
};

/* The op along `axis` of an [R, C] matrix (the values given, or filled
 * when NULL) against its slices' reference. */
static void reduction_special(const reduction_ref *r, int R, int C, int axis, const double *values)
{
    special_case c;
    special_begin(&c, r->op);
    ag_node *x = values ? special_operand_of(&c, 2, (int[]){R, C}, values)
                        : special_operand(&c, 2, (int[]){R, C}, 3, 13);
    special_recorded(&c, r->build(x, axis));
    int n = slice_length(R, C, axis);
    ck_assert_int_le(n, SLICE_MAX);
    for (int j = 0; j < slice_count(R, C, axis); j++) {
        double xs[SLICE_MAX], gxs[SLICE_MAX];
        for (int i = 0; i < n; i++) xs[i] = c.v[0][slice_at(C, axis, j, i)];
        c.y[j] = r->ref(xs, n, c.gy[j], gxs);
        for (int i = 0; i < n; i++) c.gx[0][slice_at(C, axis, j, i)] = gxs[i];
    }
    special_check(&c);
}

static void reduction_specials(const reduction_ref *r)
{
    static const double infinite_ties[6] = {1.0, INFINITY, -INFINITY, INFINITY, 0.0, -INFINITY};
    static const double finite_ties[4] = {2.0, -1.0, 2.0, -1.0};
    if (strcmp(r->op, "max") == 0 || strcmp(r->op, "min") == 0) {
        reduction_special(r, 2, 3, EVERY_ELEMENT, infinite_ties);
        reduction_special(r, 1, 4, EVERY_ELEMENT, finite_ties);
        reduction_special(r, 3, 4, EVERY_ELEMENT, NULL); /* a NaN in it */
        for (int k = 0; k < 10; k++) reduction_special(r, 1, 2, EVERY_ELEMENT, pairs[k]);
        return;
    }
    reduction_special(r, 10, 2, 1, &pairs[0][0]);
    reduction_special(r, 2, 10, 0, &pairs[0][0]); /* the same numbers, other pairs */
    for (int axis = 0; axis < 2; axis++)
        reduction_special(r, 6, 5, axis, NULL), reduction_special(r, 4, 9, axis, NULL);
}

/* ---- where ---- */

/* where(cond, a, b) for cond [R, 1], a [C], b [R, C] (cond_kind 0), or all
 * [R, C] (1), or cond a scalar (2): the condition (values given, holding
 * NaN, +-Inf, +-0) is a constant; y = cond != 0 ? a : b, so a NaN condition
 * picks a; ga += gy where cond != 0, gb += gy elsewhere (torch.where's
 * backward: where(cond, gy, 0) summed back to a's shape) */
static void where_special(int R, int C, int cond_kind, const double *cond)
{
    special_case c;
    special_begin(&c, "where");
    int nd_c[] = {2, 2, 0}, dims_c[3][2] = {{R, 1}, {R, C}, {0, 0}};
    ag_node *cn = ag_constant(c.g, nd_c[cond_kind], dims_c[cond_kind], cond);
    ag_node *a = cond_kind == 1 ? special_operand(&c, 2, (int[]){R, C}, 1, 11)
                                : special_operand(&c, 1, (int[]){C}, 1, 11);
    ag_node *b = special_operand(&c, 2, (int[]){R, C}, 2, 13);
    special_recorded(&c, ag_where(cn, a, b));
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            size_t k = (size_t)(i * C + j), ic = cond_kind == 0 ? (size_t)i : cond_kind == 1 ? k : 0;
            size_t ia = cond_kind == 1 ? k : (size_t)j;
            bool picks_a = cond[ic] != 0.0;
            c.y[k] = picks_a ? c.v[0][ia] : c.v[1][k];
            if (picks_a)
                c.gx[0][ia] += c.gy[k];
            else
                c.gx[1][k] += c.gy[k];
        }
    special_check(&c);
}

static void where_specials(void)
{
    static const double column[5] = {NAN, 0.0, -0.0, 1.0, INFINITY};
    static const double full[8] = {1.0, 0.0, NAN, -0.0, INFINITY, -INFINITY, 0.5, 0.0};
    static const double scalar_nan[1] = {NAN};
    where_special(5, 4, 0, column);
    where_special(2, 4, 1, full);
    where_special(3, 3, 2, scalar_nan);
}

/* ---- expand ---- */

/* x [R, 1] to [L, R, C]: y[l, i, j] = x[i]; gx[i] = sum_{l, j} gy[l, i, j] */
static void expand_special(int L, int R, int C)
{
    special_case c;
    special_begin(&c, "expand");
    ag_node *x = special_operand(&c, 2, (int[]){R, 1}, 4, 6);
    special_recorded(&c, ag_expand(x, 3, (int[]){L, -1, C}));
    for (int l = 0; l < L; l++)
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                size_t k = ((size_t)l * (size_t)R + (size_t)i) * (size_t)C + (size_t)j;
                c.y[k] = c.v[0][i];
                c.gx[0][i] += c.gy[k];
            }
    special_check(&c);
}

bool ieee_specials_reduce(const char *name)
{
    for (size_t i = 0; i < sizeof reduction_refs / sizeof reduction_refs[0]; i++)
        if (strcmp(name, reduction_refs[i].op) == 0) return reduction_specials(&reduction_refs[i]), true;
    if (strcmp(name, "where") == 0) return where_specials(), true;
    if (strcmp(name, "expand") == 0) return expand_special(2, 5, 3), expand_special(1, 7, 1), true;
    return false;
}
