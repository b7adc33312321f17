/* recipes_pool.c -- test recipes for max_pool2d, avg_pool2d and dropout (see
 * recipes.c for the shared helpers and the rules a recipe follows), and
 * their NaN/Inf cases. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

/* ---- recipes ------------------------------------------------------------------- */

/* x [N,C,H,W] with a kernel and stride that fit: N, C 1..2, kernel 1..3,
 * stride 1..3, H and W from kernel to kernel + 4 (so floors are taken) */
static void pool_geometry(test_rng *r, int dims[4], int *kernel, int *stride)
{
    *kernel = rng_int(r, 1, 3);
    *stride = rng_int(r, 1, 3);
    dims[0] = rng_int(r, 1, 2);
    dims[1] = rng_int(r, 1, 2);
    dims[2] = *kernel + rng_int(r, 0, 4);
    dims[3] = *kernel + rng_int(r, 0, 4);
}

/* Values 0.1 apart, centred on 0 (distinct_param): no ties in any window. */
static ag_tensor *pool_input(test_rng *r, const int dims[4])
{
    double n = (double)dims[0] * dims[1] * dims[2] * dims[3];
    return distinct_param(r, 4, dims, -0.05 * n, 0.1);
}

static bool max_pool2d_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], kernel, stride;
    pool_geometry(r, dims, &kernel, &stride);
    c->out = ag_max_pool2d(add_param(g, c, pool_input(r, dims)), kernel, stride);
    return c->out != NULL;
}

static bool avg_pool2d_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], kernel, stride;
    pool_geometry(r, dims, &kernel, &stride);
    c->out = ag_avg_pool2d(add_param(g, c, random_param(r, 4, dims, -2.0, 2.0, false)), kernel, stride);
    return c->out != NULL;
}

/* The generator the recipe's dropout nodes keep. A held node (below) never
 * draws from it again, so one for all cases is enough. */
static ag_rng recipe_rng;

/* Dropout holds its mask still (ag_dropout_hold_mask), and why: every
 * registry check (finite differences, the Jacobians, <u, Jv> = <J^T u, v>,
 * the second derivatives, PyTorch's values) replays the graph and treats
 * it as one function of the parameters; a mask redrawn at every replay
 * would make each replay a different function, and a difference quotient
 * across two masks measures nothing. For a fixed mask dropout is the linear
 * map x -> m x, and that is what the vjp, jvp and recorded derivatives
 * claim to differentiate, so the checks test exactly the op's derivative
 * with the mask drawn when recorded. The generator is seeded from the
 * recipe's random state, so a re-recorded case (the second-order check
 * rebuilds it) draws the same mask again. Redrawing at replays is tested
 * on its own in tests/test_ops_pool.c. A mask that keeps nothing has a zero
 * gradient, which the finite-difference check rightly refuses as proving
 * nothing: the recipe then draws again from the next seed (a new node; the
 * refused one stays in the graph, unused). */
static bool dropout_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    static const double ps[] = {0.2, 0.5, 0.8};
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    double p = ps[rng_int(r, 0, 2)];
    ag_node *x = add_param(g, c, random_param(r, nd, dims, 0.1, 2.0, true));
    for (int attempt = 0; attempt < 100; attempt++) {
        recipe_rng = ag_rng_new(rng_next(r));
        c->out = ag_dropout(x, p, &recipe_rng, true);
        if (!c->out || !ag_dropout_hold_mask(c->out)) return false;
        for (size_t k = 0; k < ag_node_size(c->out); k++) /* ag_node_get: float32 too */
            if (ag_node_get(c->out, k) != 0.0) return true;
    }
    return false;
}

static const recipe_entry recipes[] = {
    {"max_pool2d", max_pool2d_recipe},
    {"avg_pool2d", avg_pool2d_recipe},
    {"dropout", dropout_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_pool(const char *name) { return recipe_in(recipes, name); }

/* ---- NaN and +-Inf cases --------------------------------------------------------- */

enum { POOL_PERIOD = 11 };

/* The reference for one window of max_pool2d, PyTorch's semantics written
 * afresh: a window holding a NaN gives NaN, its gradient to its last NaN;
 * otherwise the largest value, its gradient to the first element equal to
 * it in row-major order. Returns the flat position the gradient goes to. */
static size_t window_max_at(const double *x, size_t first, int W, int k)
{
    size_t last_nan = SIZE_MAX;
    double largest = -INFINITY;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double v = x[first + (size_t)(a * W + b)];
            if (isnan(v)) last_nan = first + (size_t)(a * W + b);
            else largest = fmax(largest, v);
        }
    if (last_nan != SIZE_MAX) return last_nan;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
            if (x[first + (size_t)(a * W + b)] == largest) return first + (size_t)(a * W + b);
    return first; /* not reached: the largest is one of them */
}

/* x [N,C,H,W] filled with NaN, +-Inf and repeated multiples of 0.375 (ties);
 * max: y = x[at], gx[at] += gy; avg: y = the window's IEEE sum / k^2 (Inf -
 * Inf = NaN), gx += gy / k^2 over the window whatever x holds (torch) */
static void pool_specials(const char *op, int N, int C, int H, int W, int k, int s)
{
    bool max = strcmp(op, "max_pool2d") == 0;
    special_case c;
    special_begin(&c, op);
    ag_node *x = special_operand(&c, 4, (int[]){N, C, H, W}, 5, POOL_PERIOD);
    special_recorded(&c, max ? ag_max_pool2d(x, k, s) : ag_avg_pool2d(x, k, s));
    int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    for (int plane = 0; plane < N * C; plane++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                size_t out = (size_t)((plane * OH + i) * OW + j), first = (size_t)((plane * H + i * s) * W + j * s);
                if (max) {
                    size_t at = window_max_at(c.v[0], first, W, k);
                    c.y[out] = c.v[0][at];
                    c.gx[0][at] += c.gy[out];
                    continue;
                }
                double sum = 0.0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) sum += c.v[0][first + (size_t)(a * W + b)];
                c.y[out] = sum / (k * k);
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) c.gx[0][first + (size_t)(a * W + b)] += c.gy[out] / (k * k);
            }
    special_check(&c);
}

/* dropout of x [R,C] holding NaN and +-Inf: y = x m in IEEE (a dropped Inf or
 * NaN gives NaN, as PyTorch's input * noise), gx = gy m, the mask by the
 * definition in include/agrad.h: u_k uniform in [0, 1) from a generator
 * seeded alike, kept when u_k < 1 - p, m_k = 1/(1 - p) kept, 0 dropped */
static void dropout_specials(int R, int C, double p)
{
    special_case c;
    special_begin(&c, "dropout");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 7, POOL_PERIOD);
    ag_rng drawn = ag_rng_new(1717), same = drawn;
    special_recorded(&c, ag_dropout(x, p, &drawn, true));
    for (int k = 0; k < R * C; k++) {
        double m = ag_rng_uniform(&same, 0.0, 1.0) < 1.0 - p ? 1.0 / (1.0 - p) : 0.0;
        c.y[k] = c.v[0][k] * m;
        c.gx[0][k] = c.gy[k] * m;
    }
    special_check(&c);
}

bool ieee_specials_pool(const char *name)
{
    if (strcmp(name, "max_pool2d") == 0 || strcmp(name, "avg_pool2d") == 0) {
        pool_specials(name, 1, 1, 4, 4, 2, 2);
        pool_specials(name, 2, 3, 7, 6, 3, 2); /* overlapping rows: stride 2 < kernel 3 */
        pool_specials(name, 1, 2, 5, 5, 2, 1);
        return true;
    }
    if (strcmp(name, "dropout") == 0) {
        dropout_specials(3, 4, 0.5);
        dropout_specials(9, 7, 0.2);
        dropout_specials(2, 5, 1.0); /* all dropped: NaN where x is NaN or infinite */
        return true;
    }
    return false;
}
