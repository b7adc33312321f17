/* test_ops_index.c -- indexing and joining ops on cases worked out by hand:
 * values, gradients and tangents (the arithmetic in the comments, PyTorch's
 * and Python's semantics stated where they decide), and the errors: bad
 * shapes, empty slices, index values out of range, fractional or NaN, in
 * the first forward and in a replay. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

GRAPH_FIXTURE_WITH_PARAM()

static ag_node *vec(int n, const double *v) { return ag_constant(g, 1, (int[]){n}, v); }

static void assert_array(const char *what, const double *got, size_t count, const double *expected)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(got[i] == expected[i], "%s element %zu: %.17g, expected %.17g", what, i, got[i],
                      expected[i]);
}

static void assert_values(const ag_node *n, size_t count, const double *expected)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(n), count);
    assert_array("value", ag_node_value(n), count, expected);
}

static void assert_dims(const ag_node *n, int nd, const int *dims)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(ag_node_ndim(n), nd);
    for (int d = 0; d < nd; d++) ck_assert_int_eq(ag_node_dim(n, d), dims[d]);
}

#define assert_error(expected) ck_assert_graph_error(g, expected)

static void assert_params_text(const ag_node *n, const char *expected)
{
    char buf[128];
    ck_assert_ptr_nonnull(n);
    n->op->print_params(n, buf, sizeof buf);
    ck_assert_str_eq(buf, expected);
}

/* the gradient d<seed, out>/d(leaf) after a seeded backward */
static void assert_grad(ag_node *out, const double *seed, ag_node *leaf, const double *expected)
{
    ck_assert_msg(ag_backward_seed(g, out, seed), "%s", ag_graph_error(g));
    assert_array("gradient", ag_node_grad(leaf), ag_node_size(leaf), expected);
}

/* ---- index ----------------------------------------------------------------------- */

START_TEST(index_picks_one_flat_element)
{
    /* x [2,3] = [[1,2,3],[4,5,6]]: flat 4 is row 1, column 1 -> 5; its
     * gradient is the seed at that one element */
    ag_node *x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *y = ag_index(x, 4);
    assert_dims(y, 0, NULL);
    assert_values(y, 1, (double[]){5});
    assert_params_text(y, "flat=4");
    assert_grad(y, (double[]){2.5}, x, (double[]){0, 0, 0, 0, 2.5, 0});
    ck_assert_ptr_null(ag_index(x, 6));
    assert_error("ag_index: (2x3): flat index 6 is out of range for 6 elements");
}
END_TEST

/* ---- slice: Python's x[start:stop:step] ---------------------------------------- */

START_TEST(slice_follows_python_with_negative_steps)
{
    ag_node *x = vec(5, (double[]){0, 1, 2, 3, 4});
    /* x[::-2] = [4, 2, 0]: from the end, every second element */
    ag_node *rev2 = ag_slice(x, 0, INT_MAX, INT_MIN, -2);
    assert_values(rev2, 3, (double[]){4, 2, 0});
    assert_dims(rev2, 1, (int[]){3});
    /* normalised: the first index 4, the count 3; stop and step as given */
    assert_params_text(rev2, "axis=0, start=4, stop=-2147483648, step=-2, count=3");
    /* x[-1:0:-1] = [4, 3, 2, 1]: stop 0 is excluded */
    assert_values(ag_slice(x, 0, -1, 0, -1), 4, (double[]){4, 3, 2, 1});
    /* x[1:4:2] = [1, 3]; x[-10:10] = x (both bounds clipped); x[10:-10:-1]
     * = [4, 3, 2, 1, 0] (start clipped to 4, stop to before the beginning) */
    assert_values(ag_slice(x, 0, 1, 4, 2), 2, (double[]){1, 3});
    assert_values(ag_slice(x, -1, -10, 10, 1), 5, (double[]){0, 1, 2, 3, 4});
    assert_values(ag_slice(x, 0, 10, -10, -1), 5, (double[]){4, 3, 2, 1, 0});
    /* x[-2::-3] = [3, 0]: start -2 is index 3 */
    assert_values(ag_slice(x, 0, -2, INT_MIN, -3), 2, (double[]){3, 0});
}
END_TEST

START_TEST(slice_gradient_scatters_back_and_tangent_is_sliced)
{
    /* x [2,3] = [[1,2,3],[4,5,6]] sliced x[:, ::-2] along axis -1: the
     * columns 2 and 0 -> [[3,1],[6,4]], shape [2,2]. Seed [[1,2],[3,4]]:
     * column 2 gets 1 and 3, column 0 gets 2 and 4, column 1 nothing ->
     * [[2,0,1],[4,0,3]]. A tangent is sliced the same way. */
    ag_node *x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *y = ag_slice(x, -1, INT_MAX, INT_MIN, -2);
    assert_dims(y, 2, (int[]){2, 2});
    assert_values(y, 4, (double[]){3, 1, 6, 4});
    assert_grad(y, (double[]){1, 2, 3, 4}, x, (double[]){2, 0, 1, 4, 0, 3});
    const double tx[] = {10, 20, 30, 40, 50, 60};
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){tx}));
    assert_array("tangent", ag_node_tangent(y), 4, (double[]){30, 10, 60, 40});
}
END_TEST

START_TEST(empty_slices_and_step_zero_are_refused)
{
    ag_node *x = vec(5, (double[]){0, 1, 2, 3, 4});
    ck_assert_ptr_null(ag_slice(x, 0, 3, 1, 1)); /* x[3:1] is empty */
    assert_error("ag_slice: (5): the slice [3:1:1] of axis 0 (size 5) is empty");
    ag_graph_reset(g);
    x = vec(5, (double[]){0, 1, 2, 3, 4});
    ck_assert_ptr_null(ag_slice(x, 0, INT_MIN, INT_MAX, -1)); /* x[-inf:inf:-1]: walks away */
    assert_error("ag_slice: (5): the slice [-2147483648:2147483647:-1] of axis 0 (size 5) is empty");
    ag_graph_reset(g);
    x = vec(5, (double[]){0, 1, 2, 3, 4});
    ck_assert_ptr_null(ag_slice(x, 0, 7, INT_MAX, 1)); /* x[7:] is empty */
    assert_error("ag_slice: (5): the slice [7::1] of axis 0 (size 5) is empty");
    ag_graph_reset(g);
    x = vec(5, (double[]){0, 1, 2, 3, 4});
    ck_assert_ptr_null(ag_slice(x, 0, 0, 5, 0));
    assert_error("ag_slice: (5): slice step must not be 0");
    ag_graph_reset(g);
    x = vec(5, (double[]){0, 1, 2, 3, 4});
    ck_assert_ptr_null(ag_slice(x, 1, 0, 5, 1));
    assert_error("ag_slice: (5): axis 1 is out of range for 1 dimension (-1 .. 0)");
}
END_TEST

/* ---- index_select ------------------------------------------------------------------ */

START_TEST(index_select_repeated_row_sums_its_gradient)
{
    /* table [3,2] = [[1,2],[3,4],[5,6]], rows [2, 0, -1] (-1 is row 2) ->
     * [[5,6],[1,2],[5,6]]. Seed [[1,2],[3,4],[5,6]]: row 2 gets [1,2] +
     * [5,6] = [6,8], row 0 gets [3,4], row 1 nothing. */
    ag_node *table = param(2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *rows = ag_index_select(table, 0, vec(3, (double[]){2, 0, -1}));
    assert_dims(rows, 2, (int[]){3, 2});
    assert_values(rows, 6, (double[]){5, 6, 1, 2, 5, 6});
    assert_params_text(rows, "axis=0");
    assert_grad(rows, (double[]){1, 2, 3, 4, 5, 6}, table, (double[]){3, 4, 0, 0, 6, 8});
    /* along axis -1 (columns): column 1 -> [[2],[4],[6]]; a 0-d index is
     * one index, the axis kept with size 1 */
    ag_node *col = ag_index_select(table, -1, vec(1, (double[]){1}));
    assert_dims(col, 2, (int[]){3, 1});
    assert_values(col, 3, (double[]){2, 4, 6});
    ag_node *col0 = ag_index_select(table, 1, ag_scalar(g, 0));
    assert_dims(col0, 2, (int[]){3, 1});
    assert_values(col0, 3, (double[]){1, 3, 5});
}
END_TEST

/* ---- gather and scatter_add (torch.gather / torch.scatter_add) --------------------- */

START_TEST(gather_by_hand_with_repeated_indices)
{
    /* a [2,3] = [[1,2,3],[4,5,6]] along axis 1, idx [[0,0],[2,-3]]:
     * out[i][j] = a[i][idx[i][j]] -> [[1,1],[6,4]] (-3 is column 0).
     * Seed [[1,2],[3,4]]: a[0][0] gets 1 + 2, a[1][2] gets 3, a[1][0] 4. */
    ag_node *a = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *idx = ag_constant(g, 2, (int[]){2, 2}, (double[]){0, 0, 2, -3});
    ag_node *y = ag_gather(a, 1, idx);
    assert_dims(y, 2, (int[]){2, 2});
    assert_values(y, 4, (double[]){1, 1, 6, 4});
    assert_grad(y, (double[]){1, 2, 3, 4}, a, (double[]){3, 0, 0, 4, 0, 3});
    /* along axis 0 (given as -2), idx [[1,0,1]]: out[0][j] = a[idx[0][j]][j] -> [[4,2,6]] */
    ag_node *down = ag_gather(a, -2, ag_constant(g, 2, (int[]){1, 3}, (double[]){1, 0, 1}));
    assert_dims(down, 2, (int[]){1, 3});
    assert_values(down, 3, (double[]){4, 2, 6});
    assert_params_text(down, "axis=0");
}
END_TEST

START_TEST(scatter_add_by_hand_with_repeated_indices)
{
    /* a = [10,20,30], idx = [0,2,0,-1] (-1 is 2), src = [1,2,3,4]:
     * out = [10+1+3, 20, 30+2+4] = [14,20,36]. Seed [1,2,3]: da = [1,2,3];
     * dsrc[p] = seed[idx[p]] = [1,3,1,3]. */
    ag_node *a = param(1, (int[]){3}, (double[]){10, 20, 30});
    ag_node *src = param(1, (int[]){4}, (double[]){1, 2, 3, 4});
    ag_node *y = ag_scatter_add(a, 0, vec(4, (double[]){0, 2, 0, -1}), src);
    assert_values(y, 3, (double[]){14, 20, 36});
    assert_grad(y, (double[]){1, 2, 3}, a, (double[]){1, 2, 3});
    assert_array("gradient of src", ag_node_grad(src), 4, (double[]){1, 3, 1, 3});
    /* tangent: ta + the scattered tsrc: [1,1,1] + [0.5+0.25, 0, 0.125+2] */
    ag_node *seeds[2] = {a, src};
    ck_assert(ag_jvp(g, 2, seeds, (const double *const[]){(double[]){1, 1, 1}, (double[]){0.5, 0.125, 0.25, 2}}));
    assert_array("tangent", ag_node_tangent(y), 3, (double[]){1.75, 1, 3.125});
    /* 2-d along axis 1: zeros [2,3], idx [[1,1],[0,2]], src [[5,6],[7,8]]:
     * row 0 column 1 gets 5 + 6, row 1 columns 0 and 2 get 7 and 8 */
    ag_node *z = ag_constant(g, 2, (int[]){2, 3}, (double[]){0, 0, 0, 0, 0, 0});
    ag_node *y2 = ag_scatter_add(z, 1, ag_constant(g, 2, (int[]){2, 2}, (double[]){1, 1, 0, 2}),
                                 ag_constant(g, 2, (int[]){2, 2}, (double[]){5, 6, 7, 8}));
    assert_values(y2, 6, (double[]){0, 11, 0, 7, 0, 8});
}
END_TEST

START_TEST(gather_and_scatter_shapes_are_checked)
{
    ag_node *a = ag_constant(g, 2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_gather(a, 0, vec(2, (double[]){0, 1})));
    assert_error("ag_gather: (2x3) at (2): indices must have the 2 dimensions of the tensor indexed, not 1");
    ag_graph_reset(g);
    a = ag_constant(g, 2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    /* torch's rule: indices no larger than a along the other axes (4 > 3 here) */
    ck_assert_ptr_null(ag_gather(a, 0, ag_constant(g, 2, (int[]){1, 4}, (double[]){0, 0, 0, 0})));
    assert_error("ag_gather: (2x3) at (1x4): indices have 4 entries along dimension 1, where the tensor "
                 "indexed has 3 (only axis 0 may be larger)");
    ag_graph_reset(g);
    a = ag_constant(g, 2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *idx = ag_constant(g, 2, (int[]){1, 3}, (double[]){0, 0, 0});
    ck_assert_ptr_null(ag_scatter_add(a, 0, idx, ag_constant(g, 2, (int[]){1, 2}, (double[]){1, 1})));
    assert_error("ag_scatter_add: (2x3), (1x3), (1x2): src must have the shape of the indices");
    ag_graph_reset(g);
    a = ag_constant(g, 2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(a, 0, ag_constant(g, 2, (int[]){1, 1}, (double[]){0})));
    assert_error("ag_index_select: (2x3) at (1x1): indices must be 1-d (or 0-d, one index), not 2-d");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_gather(ag_scalar(g, 1), 0, ag_scalar(g, 0)));
    assert_error("ag_gather: (scalar) at (scalar): axis 0 is out of range for 0 dimensions (a scalar has no axis)");
}
END_TEST

/* ---- index values: whole numbers in [-n, n) ---------------------------------------- */

START_TEST(index_values_out_of_range_fractional_or_nan_are_named)
{
    ag_node *table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(table, 0, vec(2, (double[]){0, 3})));
    assert_error("ag_index_select: index 3 at position 1 is out of range for axis 0 of size 3");
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(table, 0, vec(2, (double[]){-1, -4}))); /* -4 < -3 */
    assert_error("ag_index_select: index -4 at position 1 is out of range for axis 0 of size 3");
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_gather(table, 1, ag_constant(g, 2, (int[]){2, 2}, (double[]){0, 1, 1, 0.5})));
    assert_error("ag_gather: index 0.5 at position 3 is not a whole number");
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *idx = ag_constant(g, 2, (int[]){1, 2}, (double[]){1, NAN});
    ck_assert_ptr_null(ag_scatter_add(table, 0, idx, ag_constant(g, 2, (int[]){1, 2}, (double[]){1, 1})));
    assert_error("ag_scatter_add: index nan at position 1 is not a whole number");
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(table, 1, vec(1, (double[]){INFINITY})));
    assert_error("ag_index_select: index inf at position 0 is out of range for axis 1 of size 2");
    /* the value as it is, not rounded to 6 digits (%g made these
     * "1.23457e+06" and "9.0072e+15") */
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(table, 0, vec(2, (double[]){1234567, 9007199254740993.0})));
    assert_error("ag_index_select: index 1234567 at position 0 is out of range for axis 0 of size 3");
    ag_graph_reset(g);
    table = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_index_select(table, 0, vec(1, (double[]){1000000.5})));
    assert_error("ag_index_select: index 1000000.5 at position 0 is not a whole number");
}
END_TEST

START_TEST(replay_checks_new_index_values)
{
    /* indices are data: a replay reads them afresh and checks them */
    ag_tensor *idx = kept_tensor_from(1, (int[]){2}, (double[]){0, 2}, false);
    ag_node *a = param(1, (int[]){3}, (double[]){10, 20, 30});
    ag_node *y = ag_gather(a, 0, ag_input(g, idx));
    assert_values(y, 2, (double[]){10, 30});
    ag_tensor_data(idx)[1] = 7.5;
    ck_assert(!ag_graph_forward(g));
    assert_error("ag_gather: index 7.5 at position 1 is not a whole number");
    ag_tensor_data(idx)[1] = -2; /* fixed: the next replay clears the error; -2 is 1 */
    ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    assert_values(y, 2, (double[]){10, 20});
    /* and the gradient follows the indices the replay used */
    assert_grad(y, (double[]){1, 5}, a, (double[]){1, 5, 0});
}
END_TEST

START_TEST(an_index_parameter_gets_no_gradient)
{
    /* indices given as a parameter by mistake: a still gets its gradient,
     * the indices' gradient is never written */
    ag_node *a = param(1, (int[]){3}, (double[]){10, 20, 30});
    ag_node *idx = param(1, (int[]){2}, (double[]){1, 1});
    ag_node *src = param(1, (int[]){2}, (double[]){1, 2});
    ag_node *y = ag_add(ag_sum(ag_gather(a, 0, idx)), ag_sum(ag_index_select(a, 0, idx)));
    y = ag_add(y, ag_sum(ag_scatter_add(a, 0, idx, src)));
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    /* d/da: gather 2 at a[1], index_select 2 at a[1], scatter_add 1 everywhere */
    assert_grad(y, NULL, a, (double[]){1, 5, 1});
    assert_array("gradient of src", ag_node_grad(src), 2, (double[]){1, 1});
    assert_array("gradient of the indices", ag_node_grad(idx), 2, (double[]){0, 0});
    /* only the indices take a gradient: the vjp runs and writes nothing */
    ag_node *c = ag_constant(g, 1, (int[]){3}, (double[]){1, 2, 3});
    ag_node *only = ag_sum(ag_gather(c, 0, idx));
    ck_assert_msg(ag_backward(g, only), "%s", ag_graph_error(g));
    assert_array("gradient of the indices", ag_node_grad(idx), 2, (double[]){0, 0});
}
END_TEST

/* ---- concat and stack --------------------------------------------------------------- */

START_TEST(concat_by_hand)
{
    /* concat of one is a copy, its gradient passed straight back */
    ag_node *x = param(2, (int[]){2, 2}, (double[]){1, 2, 3, 4});
    ag_node *one = ag_concat(1, &x, 0);
    assert_dims(one, 2, (int[]){2, 2});
    assert_values(one, 4, (double[]){1, 2, 3, 4});
    assert_grad(one, (double[]){5, 6, 7, 8}, x, (double[]){5, 6, 7, 8});
    /* [2,2] | [2,1] along axis -1: [[1,2,9],[3,4,10]] */
    ag_node *b = param(2, (int[]){2, 1}, (double[]){9, 10});
    ag_node *xs[2] = {x, b};
    ag_node *wide = ag_concat(2, xs, -1);
    assert_dims(wide, 2, (int[]){2, 3});
    assert_values(wide, 6, (double[]){1, 2, 9, 3, 4, 10});
    assert_params_text(wide, "axis=1");
    ag_tensor_zero_grad(kept_tensor(0));
    assert_grad(wide, (double[]){1, 2, 3, 4, 5, 6}, x, (double[]){1, 2, 4, 5});
    assert_array("gradient of b", ag_node_grad(b), 2, (double[]){3, 6});
    /* five operands along axis 0 (more than a node holds inline) */
    ag_node *rows[5];
    for (int k = 0; k < 5; k++) rows[k] = vec(1, (double[]){(double)k});
    assert_values(ag_concat(5, rows, 0), 5, (double[]){0, 1, 2, 3, 4});
}
END_TEST

START_TEST(concat_errors_name_every_shape_and_the_dim)
{
    ag_node *xs[3] = {ag_constant(g, 2, (int[]){2, 3}, (double[6]){0}),
                      ag_constant(g, 2, (int[]){2, 4}, (double[8]){0}),
                      ag_constant(g, 2, (int[]){3, 3}, (double[9]){0})};
    ck_assert_ptr_null(ag_concat(3, xs, 1));
    assert_error("ag_concat: (2x3), (2x4), (3x3): xs[2] differs from xs[0] in dimension 0 (3 vs 2); "
                 "only axis 1 may differ");
    ag_graph_reset(g);
    ag_node *ys[2] = {ag_constant(g, 1, (int[]){2}, (double[2]){0}),
                      ag_constant(g, 2, (int[]){1, 2}, (double[2]){0})};
    ck_assert_ptr_null(ag_concat(2, ys, 0));
    assert_error("ag_concat: (2) and (1x2): xs[1] has 2 dimensions where xs[0] has 1");
    ag_graph_reset(g);
    ag_node *s = ag_scalar(g, 1);
    ck_assert_ptr_null(ag_concat(1, &s, 0));
    assert_error("ag_concat: (scalar): a 0-d operand has no axis to join along");
    ck_assert_ptr_null(ag_concat(0, &s, 0));
    ck_assert_last_error("ag_concat: no operands (n is 0)");
    ck_assert_ptr_null(ag_concat(2, NULL, 0));
    ck_assert_last_error("ag_concat: the list of operands is NULL");
}
END_TEST

START_TEST(stack_by_hand)
{
    /* [1,2] and [3,4] stacked: along axis 0 [[1,2],[3,4]]; along axis 1
     * (or -1) [[1,3],[2,4]], the k-th operand in column k */
    ag_node *a = param(1, (int[]){2}, (double[]){1, 2});
    ag_node *b = param(1, (int[]){2}, (double[]){3, 4});
    ag_node *xs[2] = {a, b};
    ag_node *rows = ag_stack(2, xs, 0);
    assert_dims(rows, 2, (int[]){2, 2});
    assert_values(rows, 4, (double[]){1, 2, 3, 4});
    ag_node *cols = ag_stack(2, xs, -1);
    assert_dims(cols, 2, (int[]){2, 2});
    assert_values(cols, 4, (double[]){1, 3, 2, 4});
    assert_params_text(cols, "axis=1");
    /* seed [[1,2],[3,4]] on the columns: a gets [1,3], b [2,4] */
    assert_grad(cols, (double[]){1, 2, 3, 4}, a, (double[]){1, 3});
    assert_array("gradient of b", ag_node_grad(b), 2, (double[]){2, 4});
    /* scalars stack into a vector */
    ag_node *s[3] = {ag_scalar(g, 7), ag_scalar(g, 8), ag_scalar(g, 9)};
    assert_values(ag_stack(3, s, 0), 3, (double[]){7, 8, 9});
}
END_TEST

START_TEST(stack_errors)
{
    ag_node *xs[2] = {ag_constant(g, 1, (int[]){2}, (double[2]){0}),
                      ag_constant(g, 1, (int[]){3}, (double[3]){0})};
    ck_assert_ptr_null(ag_stack(2, xs, 0));
    assert_error("ag_stack: (2) and (3): xs[1]'s shape differs from xs[0]'s");
    ag_graph_reset(g);
    ag_node *v = ag_constant(g, 1, (int[]){2}, (double[2]){0});
    ck_assert_ptr_null(ag_stack(1, &v, 2));
    assert_error("ag_stack: (2): axis 2 is out of range for stacking 1-d operands (-2 .. 1)");
    ag_graph_reset(g);
    ag_node *four = ag_constant(g, 4, (int[]){1, 1, 1, 2}, (double[2]){0});
    ck_assert_ptr_null(ag_stack(1, &four, 0));
    assert_error("ag_stack: (1x1x1x2): stacking 4-d operands would make 5 dimensions (at most 4)");
}
END_TEST

/* ---- permute ----------------------------------------------------------------------- */

START_TEST(permute_of_a_4d_tensor_by_index_arithmetic)
{
    /* x [2,3,4,5] with x[i,j,k,l] = 1000 i + 100 j + 10 k + l. perm
     * [2,0,3,1]: y has dims [4,2,5,3] and y[a,b,c,d] = x at i = b, j = d,
     * k = a, l = c (output axis d is input axis perm[d]), so
     * y[a,b,c,d] = 1000 b + 100 d + 10 a + c. y[3,1,4,2] is at flat
     * ((3*2 + 1)*5 + 4)*3 + 2 = 119 and holds 1234. */
    double values[120];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 5; l++) values[((i * 3 + j) * 4 + k) * 5 + l] = 1000 * i + 100 * j + 10 * k + l;
    ag_node *x = param(4, (int[]){2, 3, 4, 5}, values);
    ag_node *y = ag_permute(x, (int[]){2, 0, 3, 1});
    assert_dims(y, 4, (int[]){4, 2, 5, 3});
    assert_params_text(y, "perm=[2,0,3,1]");
    const double *v = ag_node_value(y);
    ck_assert_double_eq(v[119], 1234);
    ck_assert_double_eq(v[0], 0);
    /* y[0,0,0,1] (flat 1) is j = 1: 100; y[1,0,0,0] (flat 30) is k = 1: 10 */
    ck_assert_double_eq(v[1], 100);
    ck_assert_double_eq(v[30], 10);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 5; c++)
                for (int d = 0; d < 3; d++)
                    ck_assert_double_eq(v[((a * 2 + b) * 5 + c) * 3 + d], 1000 * b + 100 * d + 10 * a + c);
    /* gradient with seed = y's own values: gx[i,j,k,l] = seed at [k,i,l,j] = x[i,j,k,l] */
    assert_grad(y, v, x, values);
}
END_TEST

START_TEST(permute_small_cases_and_errors)
{
    /* [-1, 0] on 2-d is [1, 0]: the transpose */
    ag_node *m = ag_constant(g, 2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *t = ag_permute(m, (int[]){-1, 0});
    assert_dims(t, 2, (int[]){3, 2});
    assert_values(t, 6, (double[]){1, 4, 2, 5, 3, 6});
    assert_params_text(t, "perm=[1,0]");
    /* a 0-d permute is a copy */
    assert_values(ag_permute(ag_scalar(g, 4), (int[]){0}), 1, (double[]){4});
    ck_assert_ptr_null(ag_permute(m, (int[]){0, 0}));
    assert_error("ag_permute: (2x3): perm [0,0] must list each axis of 0 .. 1 once");
    ag_graph_reset(g);
    m = ag_constant(g, 3, (int[]){1, 2, 3}, (double[6]){0});
    ck_assert_ptr_null(ag_permute(m, (int[]){0, 3, 1}));
    assert_error("ag_permute: (1x2x3): perm [0,3,1] must list each axis of 0 .. 2 once");
    ag_graph_reset(g);
    m = ag_constant(g, 1, (int[]){2}, (double[2]){0});
    ck_assert_ptr_null(ag_permute(m, NULL));
    assert_error("ag_permute: (2): perm is NULL");
}
END_TEST

/* A node holds at most AG_MAX_INPUTS = 65535 inputs (n_in is 16 bits):
 * concat of 65535 one-element vectors works, of 65536 is refused by name. */
START_TEST(concat_of_more_inputs_than_a_node_holds_is_refused)
{
    enum { MOST = 65535 };
    ag_node *one = vec(1, (double[]){2.5});
    ag_node **xs = malloc((MOST + 1) * sizeof *xs);
    ck_assert_ptr_nonnull(xs);
    for (int k = 0; k <= MOST; k++) xs[k] = one;
    ag_node *all = ag_concat(MOST, xs, 0);
    ck_assert_msg(all != NULL, "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(all), MOST);
    ck_assert(ag_node_value(all)[MOST - 1] == 2.5);
    ck_assert_ptr_null(ag_concat(MOST + 1, xs, 0));
    ck_assert_str_eq(ag_graph_error(g), "ag_concat: takes 1 to 65535 operands (got 65536)");
    free(xs);
}
END_TEST

Suite *ops_index_suite(void)
{
    Suite *s = suite_create("ops index");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, index_picks_one_flat_element);
    tcase_add_test(tc, slice_follows_python_with_negative_steps);
    tcase_add_test(tc, slice_gradient_scatters_back_and_tangent_is_sliced);
    tcase_add_test(tc, empty_slices_and_step_zero_are_refused);
    tcase_add_test(tc, index_select_repeated_row_sums_its_gradient);
    tcase_add_test(tc, gather_by_hand_with_repeated_indices);
    tcase_add_test(tc, scatter_add_by_hand_with_repeated_indices);
    tcase_add_test(tc, gather_and_scatter_shapes_are_checked);
    tcase_add_test(tc, index_values_out_of_range_fractional_or_nan_are_named);
    tcase_add_test(tc, replay_checks_new_index_values);
    tcase_add_test(tc, an_index_parameter_gets_no_gradient);
    tcase_add_test(tc, concat_by_hand);
    tcase_add_test(tc, concat_errors_name_every_shape_and_the_dim);
    tcase_add_test(tc, stack_by_hand);
    tcase_add_test(tc, stack_errors);
    tcase_add_test(tc, permute_of_a_4d_tensor_by_index_arithmetic);
    tcase_add_test(tc, permute_small_cases_and_errors);
    tcase_add_test(tc, concat_of_more_inputs_than_a_node_holds_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
