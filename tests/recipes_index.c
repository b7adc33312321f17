/* recipes_index.c -- test recipes for indexing, slicing, gathering, joining and permuting
 * (see recipes.c for the shared helpers and the rules a recipe follows), and their
 * NaN/Inf cases. Every op here is linear in its differentiable operands, so any
 * values are away from kinks; index tensors are inputs (add_extra) holding random
 * whole numbers in [-n, n), negative ones counting from the end. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static ag_node *random_operand(ag_graph *g, test_rng *r, op_case *c, int nd, const int *dims)
{
    return add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
}

/* An index tensor of the given shape, entries whole numbers in [-n, n). */
static ag_node *random_indices(ag_graph *g, test_rng *r, op_case *c, int nd, const int *dims, int n)
{
    ag_tensor *t = ag_tensor_zeros(nd, dims);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = rng_int(r, -n, n - 1);
    return add_extra(g, c, t);
}

static bool index_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 0, 4, 3, dims);
    ag_node *x = random_operand(g, r, c, nd, dims);
    c->out = ag_index(x, (size_t)rng_int(r, 0, (int)ag_node_size(x) - 1));
    return c->out != NULL;
}

/* Bounds for a non-empty slice of an axis of n: first index f and a step,
 * then start and stop in one of the forms Python allows for them (the
 * index itself, counted from the end, an open end, a clipped bound). */
static void random_slice(test_rng *r, int n, int *start, int *stop, int *step)
{
    static const int steps[] = {1, 2, 3, -1, -2, -3};
    *step = steps[rng_int(r, 0, 5)];
    int f = rng_int(r, 0, n - 1), form = rng_int(r, 0, 2);
    if (*step > 0) {
        bool at_edge = f == 0;
        *start = form == 0 ? f : form == 1 ? f - n : at_edge ? INT_MIN : f;
        int end = rng_int(r, f + 1, n + 2); /* past the last index taken */
        int stop_form = rng_int(r, 0, 2);
        *stop = end >= n ? (stop_form == 0 ? INT_MAX : end) : stop_form == 1 ? end - n : end;
    } else {
        bool at_edge = f == n - 1;
        *start = form == 0 ? f : form == 1 ? f - n : at_edge ? (rng_int(r, 0, 1) ? INT_MAX : n + 3) : f;
        int end = rng_int(r, -1, f - 1); /* before the last index taken; -1: the beginning */
        int stop_form = rng_int(r, 0, 2);
        if (end < 0)
            *stop = stop_form == 0 ? INT_MIN : -n - 1 - stop_form;
        else
            *stop = stop_form == 1 ? end - n : end;
    }
}

static bool slice_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims), axis = random_axis(r, nd);
    dims[axis < 0 ? axis + nd : axis] = rng_int(r, 1, 7);
    ag_node *x = random_operand(g, r, c, nd, dims);
    int start, stop, step;
    random_slice(r, dims[axis < 0 ? axis + nd : axis], &start, &stop, &step);
    c->out = ag_slice(x, axis, start, stop, step);
    return c->out != NULL;
}

/* 1-d indices (sometimes 0-d, one index), repeats likely: rows of an embedding */
static bool index_select_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims), axis = random_axis(r, nd);
    ag_node *x = random_operand(g, r, c, nd, dims);
    int n_idx = rng_int(r, 1, 5), idx_nd = rng_int(r, 0, 3) == 0 ? 0 : 1;
    ag_node *idx = random_indices(g, r, c, idx_nd, &n_idx, dims[axis < 0 ? axis + nd : axis]);
    c->out = ag_index_select(x, axis, idx);
    return c->out != NULL;
}

/* indices of a's rank: at most a's size along the other axes, any along axis */
static void gather_index_dims(test_rng *r, int nd, const int *a_dims, int axis, int idx_dims[4])
{
    for (int d = 0; d < nd; d++) idx_dims[d] = d == axis ? rng_int(r, 1, 4) : rng_int(r, 1, a_dims[d]);
}

static bool gather_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims), axis = random_axis(r, nd), idx_dims[4];
    int ax = axis < 0 ? axis + nd : axis;
    ag_node *x = random_operand(g, r, c, nd, dims);
    gather_index_dims(r, nd, dims, ax, idx_dims);
    c->out = ag_gather(x, axis, random_indices(g, r, c, nd, idx_dims, dims[ax]));
    return c->out != NULL;
}

static bool scatter_add_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims), axis = random_axis(r, nd), idx_dims[4];
    int ax = axis < 0 ? axis + nd : axis;
    ag_node *x = random_operand(g, r, c, nd, dims);
    gather_index_dims(r, nd, dims, ax, idx_dims);
    ag_node *idx = random_indices(g, r, c, nd, idx_dims, dims[ax]);
    ag_node *src = random_operand(g, r, c, nd, idx_dims);
    c->out = ag_scatter_add(x, axis, idx, src);
    return c->out != NULL;
}

/* n = 1 .. 4 operands, each its own size along the axis */
static bool concat_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims), axis = random_axis(r, nd), n = rng_int(r, 1, 4);
    ag_node *xs[4];
    for (int k = 0; k < n; k++) {
        dims[axis < 0 ? axis + nd : axis] = rng_int(r, 1, 3);
        xs[k] = random_operand(g, r, c, nd, dims);
    }
    c->out = ag_concat((size_t)n, xs, axis);
    return c->out != NULL;
}

/* n = 1 .. 4 operands of 0 .. 3 dimensions; the new axis anywhere in 0 .. nd */
static bool stack_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 0, 3, 3, dims), n = rng_int(r, 1, 4);
    ag_node *xs[4];
    for (int k = 0; k < n; k++) xs[k] = random_operand(g, r, c, nd, dims);
    c->out = ag_stack((size_t)n, xs, rng_int(r, -nd - 1, nd));
    return c->out != NULL;
}

/* a random order of 0 .. 4 axes, some entries written counting from the end */
static bool permute_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 0, 4, 3, dims), perm[4] = {0, 1, 2, 3};
    for (int d = nd - 1; d > 0; d--) { /* Fisher-Yates */
        int e = rng_int(r, 0, d), t = perm[d];
        perm[d] = perm[e], perm[e] = t;
    }
    for (int d = 0; d < nd; d++)
        if (rng_int(r, 0, 3) == 0) perm[d] -= nd;
    c->out = ag_permute(random_operand(g, r, c, nd, dims), perm);
    return c->out != NULL;
}

static const recipe_entry recipes[] = {
    {"index", index_recipe},     {"slice", slice_recipe},   {"index_select", index_select_recipe},
    {"gather", gather_recipe},   {"scatter_add", scatter_add_recipe},
    {"concat", concat_recipe},   {"stack", stack_recipe},   {"permute", permute_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_index(const char *name) { return recipe_in(recipes, name); }

/* ---- NaN and +-Inf ------------------------------------------------------------------
 * These ops move values (scatter_add also adds them), so a NaN or an infinity
 * goes where its element goes, and the gradient a finite seed sends back goes
 * where the element came from. Each reference below is the op's definition
 * written with index arithmetic of its own, in IEEE arithmetic (scatter_add's
 * sums in the order of the indices' positions, as torch's CPU kernel). */

/* The cases use helpers.h's harness (special_case). Their operands hold NaN,
 * +Inf or -Inf at 3 of every INDEX_PERIOD elements (special_fill): so many
 * that even an operand of 6 elements holds all three. */
#define INDEX_PERIOD 6

/* index: y = x[flat], gx[flat] = gy, for every flat index of x [R,C] */
static void index_specials(int R, int C)
{
    for (int flat = 0; flat < R * C; flat++) {
        special_case c;
        special_begin(&c, "index");
        ag_node *x = special_operand(&c, 2, (int[]){R, C}, 0, INDEX_PERIOD);
        special_recorded(&c, ag_index(x, (size_t)flat));
        c.y[0] = c.v[0][flat];
        c.gx[0][flat] = c.gy[0];
        special_check(&c);
    }
}

/* x [R,C] sliced as x[:, ::-2] (the columns C-1, C-3, .. >= 0) and as
 * x[1::2, :] (rows 1, 3, ..) */
static void slice_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "slice");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 1, INDEX_PERIOD);
    special_recorded(&c, ag_slice(x, -1, INT_MAX, INT_MIN, -2));
    int cols = (C + 1) / 2;
    for (int i = 0; i < R; i++)
        for (int k = 0, j = C - 1; j >= 0; k++, j -= 2) {
            c.y[i * cols + k] = c.v[0][i * C + j];
            c.gx[0][i * C + j] = c.gy[i * cols + k];
        }
    special_check(&c);

    special_begin(&c, "slice");
    x = special_operand(&c, 2, (int[]){R, C}, 2, INDEX_PERIOD);
    special_recorded(&c, ag_slice(x, 0, 1, INT_MAX, 2));
    for (int k = 0, i = 1; i < R; k++, i += 2)
        for (int j = 0; j < C; j++) {
            c.y[k * C + j] = c.v[0][i * C + j];
            c.gx[0][i * C + j] = c.gy[k * C + j];
        }
    special_check(&c);
}

/* rows [2, -1, 2, 0] of x [R,C] (R >= 3; -1 is row R-1): y[k,:] = x[row_k,:],
 * gx[row_k,:] += gy[k,:] (row 2 twice) */
static void index_select_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "index_select");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 3, INDEX_PERIOD);
    ag_node *idx = special_extra(&c, 1, (int[]){4}, (double[]){2, -1, 2, 0});
    special_recorded(&c, ag_index_select(x, 0, idx));
    const int rows[4] = {2, R - 1, 2, 0};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < C; j++) {
            c.y[k * C + j] = c.v[0][rows[k] * C + j];
            c.gx[0][rows[k] * C + j] += c.gy[k * C + j];
        }
    special_check(&c);
}

/* along axis 1 of x [R,C], indices [R,3] with entry (i*5 + k*2) mod C:
 * y[i,k] = x[i, idx[i,k]], gx[i, idx[i,k]] += gy[i,k] */
static void gather_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "gather");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 4, INDEX_PERIOD);
    double *values = malloc((size_t)R * 3 * sizeof *values);
    for (int i = 0; i < R; i++)
        for (int k = 0; k < 3; k++) values[i * 3 + k] = (i * 5 + k * 2) % C;
    ag_node *idx = special_extra(&c, 2, (int[]){R, 3}, values);
    special_recorded(&c, ag_gather(x, 1, idx));
    for (int i = 0; i < R; i++)
        for (int k = 0; k < 3; k++) {
            int j = (int)values[i * 3 + k];
            c.y[i * 3 + k] = c.v[0][i * C + j];
            c.gx[0][i * C + j] += c.gy[i * 3 + k];
        }
    free(values);
    special_check(&c);
}

/* along axis 0 of a [R,C], indices and src [K,C] with entry (k*3 + j) mod R:
 * y = a, then y[idx[k,j], j] += src[k,j] for k = 0, 1, ..; ga = gy,
 * gsrc[k,j] = gy[idx[k,j], j] */
static void scatter_add_specials(int R, int C, int K)
{
    special_case c;
    special_begin(&c, "scatter_add");
    ag_node *a = special_operand(&c, 2, (int[]){R, C}, 5, INDEX_PERIOD);
    double *values = malloc((size_t)K * C * sizeof *values);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < C; j++) values[k * C + j] = (k * 3 + j) % R;
    ag_node *idx = special_extra(&c, 2, (int[]){K, C}, values);
    ag_node *src = special_operand(&c, 2, (int[]){K, C}, 6, INDEX_PERIOD);
    special_recorded(&c, ag_scatter_add(a, 0, idx, src));
    for (int i = 0; i < R * C; i++) c.y[i] = c.v[0][i], c.gx[0][i] = c.gy[i];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < C; j++) {
            int row = (int)values[k * C + j];
            c.y[row * C + j] += c.v[1][k * C + j];
            c.gx[1][k * C + j] = c.gy[row * C + j];
        }
    free(values);
    special_check(&c);
}

/* [R,2] | [R,C] | [R,1] along axis 1: row i of y is row i of each in turn */
static void concat_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "concat");
    int widths[3] = {2, C, 1}, total = 3 + C;
    ag_node *xs[3];
    for (int k = 0; k < 3; k++)
        xs[k] = special_operand(&c, 2, (int[]){R, widths[k]}, 7 + (unsigned)k, INDEX_PERIOD);
    special_recorded(&c, ag_concat(3, xs, 1));
    for (int i = 0; i < R; i++)
        for (int k = 0, col = 0; k < 3; k++)
            for (int j = 0; j < widths[k]; j++, col++) {
                c.y[i * total + col] = c.v[k][i * widths[k] + j];
                c.gx[k][i * widths[k] + j] = c.gy[i * total + col];
            }
    special_check(&c);
}

/* two [R,C] along a new axis 1: y[i,k,j] = x_k[i,j] */
static void stack_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "stack");
    ag_node *xs[2] = {special_operand(&c, 2, (int[]){R, C}, 9, INDEX_PERIOD),
                      special_operand(&c, 2, (int[]){R, C}, 10, INDEX_PERIOD)};
    special_recorded(&c, ag_stack(2, xs, 1));
    for (int i = 0; i < R; i++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < C; j++) {
                c.y[(i * 2 + k) * C + j] = c.v[k][i * C + j];
                c.gx[k][i * C + j] = c.gy[(i * 2 + k) * C + j];
            }
    special_check(&c);
}

/* x [A,B,D] permuted by [2,0,1]: y [D,A,B], y[k,i,j] = x[i,j,k] */
static void permute_specials(int A, int B, int D)
{
    special_case c;
    special_begin(&c, "permute");
    ag_node *x = special_operand(&c, 3, (int[]){A, B, D}, 11, INDEX_PERIOD);
    special_recorded(&c, ag_permute(x, (int[]){2, 0, 1}));
    for (int i = 0; i < A; i++)
        for (int j = 0; j < B; j++)
            for (int k = 0; k < D; k++) {
                c.y[(k * A + i) * B + j] = c.v[0][(i * B + j) * D + k];
                c.gx[0][(i * B + j) * D + k] = c.gy[(k * A + i) * B + j];
            }
    special_check(&c);
}

bool ieee_specials_index(const char *name)
{
    if (strcmp(name, "index") == 0) return index_specials(2, 4), true;
    if (strcmp(name, "slice") == 0) return slice_specials(2, 3), slice_specials(7, 9), true;
    if (strcmp(name, "index_select") == 0) return index_select_specials(3, 2), index_select_specials(8, 9), true;
    if (strcmp(name, "gather") == 0) return gather_specials(2, 3), gather_specials(7, 9), true;
    if (strcmp(name, "scatter_add") == 0) return scatter_add_specials(3, 2, 4), scatter_add_specials(7, 9, 5), true;
    if (strcmp(name, "concat") == 0) return concat_specials(2, 3), concat_specials(7, 9), true;
    if (strcmp(name, "stack") == 0) return stack_specials(2, 3), stack_specials(7, 9), true;
    if (strcmp(name, "permute") == 0) return permute_specials(2, 3, 4), permute_specials(5, 7, 3), true;
    return false;
}
