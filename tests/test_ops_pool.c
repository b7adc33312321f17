/* test_ops_pool.c -- max_pool2d, avg_pool2d and dropout on cases worked out
 * by hand (the arithmetic in the comments; PyTorch 1.13's float64 results
 * for ties and NaNs, observed with torch.nn.functional.max_pool2d, quoted
 * where they decide), the errors, replays (the argmax and the mask are
 * recomputed by every forward, the recorded derivatives follow them), the
 * threaded loops against plain ones, and dropout's statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

GRAPH_FIXTURE_WITH_PARAM()

static void assert_array(const char *what, const double *got, size_t count, const double *expected)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < count; i++)
        ck_assert_in_loop(got[i] == expected[i] || (isnan(got[i]) && isnan(expected[i])),
                          "%s element %zu: %.17g, expected %.17g", what, i, got[i], expected[i]);
}

static void assert_values(const ag_node *n, size_t count, const double *expected)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(n), count);
    assert_array("value", ag_node_value(n), count, expected);
}

static void assert_dims4(const ag_node *n, int a, int b, int c, int d)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_ndim(n), 4);
    int want[4] = {a, b, c, d};
    for (int k = 0; k < 4; k++) ck_assert_int_eq(ag_node_dim(n, k), want[k]);
}

/* the gradient d<seed, out>/d(leaf) after a seeded backward */
static void assert_grad(ag_node *out, const double *seed, ag_node *leaf, const double *expected)
{
    ck_assert_msg(ag_backward_seed(g, out, seed), "%s", ag_graph_error(g));
    assert_array("gradient", ag_node_grad(leaf), ag_node_size(leaf), expected);
}

static ag_node *param4(int n, int c, int h, int w, const double *values)
{
    return param(4, (int[]){n, c, h, w}, values);
}

/* ---- max_pool2d -------------------------------------------------------------------- */

START_TEST(max_pool2d_by_hand)
{
    /* x [1,1,4,4], kernel 2, stride 2: four windows
     *   [[1 5],[3 2]] -> 5 at (0,1)    [[0 -1],[4 7]] -> 7 at (1,3)
     *   [[8 6],[-2 9]] -> 9 at (3,1)   [[-3 -4],[-5 -6]] -> -3 at (2,2)
     * y [1,1,2,2] = [5, 7, 9, -3]; a seed [10, 20, 30, 40] goes to those
     * four positions, 0 elsewhere */
    ag_node *x = param4(1, 1, 4, 4,
                        (double[]){1, 5, 0, -1,
                                   3, 2, 4, 7,
                                   8, 6, -3, -4,
                                   -2, 9, -5, -6});
    ag_node *y = ag_max_pool2d(x, 2, 2);
    assert_dims4(y, 1, 1, 2, 2);
    assert_values(y, 4, (double[]){5, 7, 9, -3});
    assert_grad(y, (double[]){10, 20, 30, 40}, x,
                (double[]){0, 10, 0, 0,
                           0, 0, 0, 20,
                           0, 0, 40, 0,
                           0, 30, 0, 0});
    char buf[64];
    y->op->print_params(y, buf, sizeof buf);
    ck_assert_str_eq(buf, "kernel=2, stride=2");
}
END_TEST

START_TEST(max_pool2d_overlapping_windows_and_floors)
{
    /* x [1,1,3,4] = [[1 2 3 4],[5 9 7 8],[0 1 2 3]], kernel 2, stride 1:
     * H' = (3-2)/1+1 = 2, W' = (4-2)/1+1 = 3;
     *   row 0: [[1 2],[5 9]] 9, [[2 3],[9 7]] 9, [[3 4],[7 8]] 8
     *   row 1: [[5 9],[0 1]] 9, [[9 7],[1 2]] 9, [[7 8],[2 3]] 8
     * the 9 at (1,1) is the max of four windows: its gradient is the sum
     * of their seeds 1 + 2 + 4 + 5 = 12; the 8 at (1,3) gets 3 + 6 = 9.
     * Kernel 2, stride 3 on [1,1,5,5]: H' = W' = (5-2)/3+1 = 2 (floor: the
     * last row and column are in no window, gradient 0). */
    ag_node *x = param4(1, 1, 3, 4, (double[]){1, 2, 3, 4, 5, 9, 7, 8, 0, 1, 2, 3});
    ag_node *y = ag_max_pool2d(x, 2, 1);
    assert_dims4(y, 1, 1, 2, 3);
    assert_values(y, 6, (double[]){9, 9, 8, 9, 9, 8});
    assert_grad(y, (double[]){1, 2, 3, 4, 5, 6}, x, (double[]){0, 0, 0, 0, 0, 12, 0, 9, 0, 0, 0, 0});

    double v[25];
    for (int i = 0; i < 25; i++) v[i] = i; /* v[r*5+c] = 5r + c: each window's max at its bottom right */
    ag_node *x5 = param4(1, 1, 5, 5, v);
    ag_node *y5 = ag_max_pool2d(x5, 2, 3);
    assert_dims4(y5, 1, 1, 2, 2);
    /* windows at (0,0), (0,3), (3,0), (3,3): bottom right (1,1)=6, (1,4)=9, (4,1)=21, (4,4)=24 */
    assert_values(y5, 4, (double[]){6, 9, 21, 24});
    double want[25] = {0};
    want[6] = 1, want[9] = 2, want[21] = 3, want[24] = 4;
    assert_grad(y5, (double[]){1, 2, 3, 4}, x5, want);
}
END_TEST

START_TEST(max_pool2d_ties_go_to_the_first_maximum_and_nan_wins)
{
    /* What PyTorch 1.13 gives (float64, CPU) for
     *   x = [[0, 0, 1, 3], [0, 0, 3, 2], [NaN, 5, NaN, -1], [9, NaN, 2, -Inf]]
     * max_pool2d(x, 2, 2) = [[0, 3], [NaN, NaN]], and for the seed
     * [[10, 20], [30, 40]] the gradient
     *   [[10, 0, 0, 20], [0, 0, 0, 0], [0, 0, 40, 0], [0, 30, 0, 0]]:
     * a window of zeros (as after a ReLU) sends it to its top-left element,
     * [[1, 3], [3, 2]] to its first 3 in row-major order, [[NaN, 5], [9, NaN]]
     * to its last NaN, [[NaN, -1], [2, -Inf]] to its NaN. An all -Inf window
     * gives -Inf, its gradient to its first element (PyTorch: the same). */
    ag_node *x = param4(1, 1, 4, 4,
                        (double[]){0, 0, 1, 3,
                                   0, 0, 3, 2,
                                   NAN, 5, NAN, -1,
                                   9, NAN, 2, -INFINITY});
    ag_node *y = ag_max_pool2d(x, 2, 2);
    assert_values(y, 4, (double[]){0, 3, NAN, NAN});
    assert_grad(y, (double[]){10, 20, 30, 40}, x,
                (double[]){10, 0, 0, 20,
                           0, 0, 0, 0,
                           0, 0, 40, 0,
                           0, 30, 0, 0});
    ag_node *low = param4(1, 1, 2, 2, (double[]){-INFINITY, -INFINITY, -INFINITY, -INFINITY});
    ag_node *ylow = ag_max_pool2d(low, 2, 2);
    assert_values(ylow, 1, (double[]){-INFINITY});
    assert_grad(ylow, (double[]){1}, low, (double[]){1, 0, 0, 0});
}
END_TEST

START_TEST(max_pool2d_tangent_and_planes)
{
    /* x [2,2,2,2]: four planes, kernel 2 stride 2 -> one max each:
     *   plane 0 [1 4 2 3] -> 4 (pos 1), plane 1 [8 7 6 5] -> 8 (pos 4),
     *   plane 2 [0 0 0 1] -> 1 (pos 11), plane 3 [2 9 9 1] -> first 9 (pos 13)
     * the tangent picks tx at those positions: tx[k] = k/10 -> [0.1, 0.4, 1.1, 1.3] */
    ag_node *x = param4(2, 2, 2, 2, (double[]){1, 4, 2, 3, 8, 7, 6, 5, 0, 0, 0, 1, 2, 9, 9, 1});
    ag_node *y = ag_max_pool2d(x, 2, 2);
    assert_dims4(y, 2, 2, 1, 1);
    assert_values(y, 4, (double[]){4, 8, 1, 9});
    double t[16];
    for (int k = 0; k < 16; k++) t[k] = k / 10.0;
    ck_assert(ag_jvp(g, 1, &x, (const double *const[]){t}));
    assert_array("tangent", ag_node_tangent(y), 4, (double[]){1 / 10.0, 4 / 10.0, 11 / 10.0, 13 / 10.0});
}
END_TEST

/* ---- avg_pool2d -------------------------------------------------------------------- */

START_TEST(avg_pool2d_by_hand)
{
    /* x [1,1,3,3] = [[1 2 3],[4 5 6],[7 8 9]], kernel 2, stride 1:
     *   [[1 2],[4 5]] 12/4 = 3, [[2 3],[5 6]] 16/4 = 4,
     *   [[4 5],[7 8]] 24/4 = 6, [[5 6],[8 9]] 28/4 = 7
     * a seed [4, 8, 12, 16] spreads a quarter of each over its window:
     *   corner (0,0) 1, (0,1) 1+2 = 3, (0,2) 2, (1,0) 1+3 = 4, centre
     *   1+2+3+4 = 10, (1,2) 2+4 = 6, (2,0) 3, (2,1) 3+4 = 7, (2,2) 4 */
    ag_node *x = param4(1, 1, 3, 3, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    ag_node *y = ag_avg_pool2d(x, 2, 1);
    assert_dims4(y, 1, 1, 2, 2);
    assert_values(y, 4, (double[]){3, 4, 6, 7});
    assert_grad(y, (double[]){4, 8, 12, 16}, x, (double[]){1, 3, 2, 4, 10, 6, 3, 7, 4});
    /* kernel 3, stride 2 on [1,1,4,4] of ones: (4-3)/2+1 = 1 window, mean 1;
     * its gradient 1/9 on the 3x3 top-left corner, 0 on the last row and column */
    double ones[16];
    for (int i = 0; i < 16; i++) ones[i] = 1.0;
    ag_node *o = param4(1, 1, 4, 4, ones);
    ag_node *yo = ag_avg_pool2d(o, 3, 2);
    assert_dims4(yo, 1, 1, 1, 1);
    assert_values(yo, 1, (double[]){1});
    const double n = 1.0 / 9.0;
    assert_grad(yo, (double[]){1}, o, (double[]){n, n, n, 0, n, n, n, 0, n, n, n, 0, 0, 0, 0, 0});
}
END_TEST

START_TEST(pool_errors_name_the_op_and_the_shapes)
{
    static const double zeros[30] = {0};
    ag_node *x3 = param(3, (int[]){1, 4, 4}, zeros);
    ck_assert_ptr_null(ag_max_pool2d(x3, 2, 2));
    ck_assert_graph_error(g, "ag_max_pool2d: (1x4x4): x must be [N,C,H,W] (4-d), not 3-d");
    ag_graph_reset(g);
    ag_node *x = param4(1, 2, 3, 5, zeros);
    ck_assert_ptr_null(ag_avg_pool2d(x, 0, 1));
    ck_assert_graph_error(g, "ag_avg_pool2d: (1x2x3x5): kernel = 0 and stride = 1 must both be at least 1");
    ag_graph_reset(g);
    x = param4(1, 2, 3, 5, zeros);
    ck_assert_ptr_null(ag_max_pool2d(x, 2, 0));
    ck_assert_graph_error(g, "kernel = 2 and stride = 0 must both be at least 1");
    ag_graph_reset(g);
    x = param4(1, 2, 3, 5, zeros);
    ck_assert_ptr_null(ag_max_pool2d(x, 4, 1));
    ck_assert_graph_error(g, "ag_max_pool2d: (1x2x3x5): kernel = 4 does not fit in the 3x5 planes (no padding)");
    ck_assert_ptr_null(ag_avg_pool2d(NULL, 2, 2));
}
END_TEST

/* ---- replays: the argmax is recomputed, and the recorded gradient with it -------------- */

START_TEST(max_pool2d_replay_moves_the_argmax_and_the_recorded_gradient)
{
    /* x [1,1,2,2] = [1, 4, 2, 3]: m = max 4 at position 1. L = m^2 / 2 has
     * dL/dx = m e_argmax = [0, 4, 0, 0], recorded with create_graph. Then
     * x becomes [7, 4, 2, 3] and the graph is replayed: m = 7 at 0, and the
     * recorded gradient must read [7, 0, 0, 0] (its companion op reads the
     * argmax of the replay). Differentiated again: <gradient, v> = x_a v_a
     * for the argmax a, so its gradient is v_a e_a = [1, 0, 0, 0] for
     * v = [1, 2, 3, 4]; the plain backward agrees with the recorded one. */
    ag_tensor *t = kept_tensor_from(4, (int[]){1, 1, 2, 2}, (double[]){1, 4, 2, 3}, true);
    ag_node *x = ag_param(g, t);
    ag_node *m = ag_max_pool2d(x, 2, 2);
    ag_node *L = ag_mul(ag_mul(m, m), ag_scalar(g, 0.5)); /* [1,1,1,1] */
    ag_node *grad;
    ck_assert_msg(ag_grad(g, ag_sum(L), 1, &x, &grad, true), "%s", ag_graph_error(g));
    assert_array("recorded gradient", ag_node_value(grad), 4, (double[]){0, 4, 0, 0});
    ag_tensor_data(t)[0] = 7;
    ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    assert_values(m, 1, (double[]){7});
    assert_array("recorded gradient after the replay", ag_node_value(grad), 4, (double[]){7, 0, 0, 0});
    ag_node *v = ag_constant(g, 4, (int[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    ag_node *second;
    ck_assert_msg(ag_grad(g, ag_sum(ag_mul(grad, v)), 1, &x, &second, false), "%s", ag_graph_error(g));
    assert_array("second derivative", ag_node_value(second), 4, (double[]){1, 0, 0, 0});
    ck_assert(ag_backward(g, ag_sum(L)));
    assert_array("plain gradient", ag_tensor_grad(t), 4, (double[]){7, 0, 0, 0});
}
END_TEST

/* ---- the threaded loops against plain ones ------------------------------------------ */

START_TEST(large_pools_match_a_plain_loop)
{
    /* [8,16,32,32]: 131072 doubles, over the threads' threshold (2^15).
     * Values (37 k mod 101) / 7: repeats, so ties too. The reference,
     * written here: max as the first largest of each 3x3 window (stride 2),
     * avg as the sum / 9; the gradient of sum(y) by counting windows. */
    enum { N = 8, C = 16, H = 32, W = 32, K = 3, S = 2, OH = (H - K) / S + 1, OW = (W - K) / S + 1 };
    size_t n = (size_t)N * C * H * W, on = (size_t)N * C * OH * OW;
    double *v = malloc(n * sizeof *v), *ymax = malloc(on * sizeof *ymax), *yavg = malloc(on * sizeof *yavg);
    double *gmax = calloc(n, sizeof *gmax), *gavg = calloc(n, sizeof *gavg);
    for (size_t k = 0; k < n; k++) v[k] = (double)((37 * k) % 101) / 7.0;
    for (size_t plane = 0; plane < (size_t)N * C; plane++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                size_t o = (plane * OH + (size_t)i) * OW + (size_t)j, best = SIZE_MAX;
                double sum = 0.0;
                for (int a = 0; a < K; a++)
                    for (int b = 0; b < K; b++) {
                        size_t at = (plane * H + (size_t)(i * S + a)) * W + (size_t)(j * S + b);
                        sum += v[at];
                        if (best == SIZE_MAX || v[at] > v[best]) best = at;
                        gavg[at] += 1.0 / 9.0;
                    }
                ymax[o] = v[best], gmax[best] += 1.0, yavg[o] = sum / 9.0;
            }
    ag_tensor *t = keep_tensor(ag_tensor_from(4, (int[]){N, C, H, W}, v));
    ag_tensor_requires_grad(t, true);
    ag_node *x = ag_param(g, t);
    ag_node *mx = ag_max_pool2d(x, K, S), *av = ag_avg_pool2d(x, K, S);
    assert_values(mx, on, ymax);
    ck_assert(ag_backward(g, ag_sum(mx)));
    assert_array("max gradient", ag_tensor_grad(t), n, gmax);
    ag_tensor_zero_grad(t);
    ck_assert(ag_backward(g, ag_sum(av)));
    for (size_t k = 0; k < on; k++) ck_assert_close(ag_node_value(av)[k], yavg[k], 1e-14);
    for (size_t k = 0; k < n; k++) ck_assert_close(ag_tensor_grad(t)[k], gavg[k], 1e-14);
    /* the recorded gradients (the companions' threaded loops) say the same */
    ag_node *recorded[2];
    ck_assert(ag_grad(g, ag_sum(mx), 1, &x, &recorded[0], true));
    ck_assert(ag_grad(g, ag_sum(av), 1, &x, &recorded[1], true));
    assert_array("recorded max gradient", ag_node_value(recorded[0]), n, gmax);
    for (size_t k = 0; k < n; k++) ck_assert_close(ag_node_value(recorded[1])[k], gavg[k], 1e-14);
    free(v), free(ymax), free(yavg), free(gmax), free(gavg);
}
END_TEST

/* ---- dropout ----------------------------------------------------------------------------- */

START_TEST(dropout_keeps_a_binomial_fraction_scaled_by_one_over_one_minus_p)
{
    /* n = 10000 elements of x = 1 + k mod 3, p = 0.3: the kept count is
     * Binomial(n, 0.7), mean 7000, sd sqrt(n 0.7 0.3) = 45.8; six sd
     * (a chance of 2e-9 to fail) is 275. Every kept y is x / 0.7 (inverted
     * dropout: the mean of y is x's), every dropped one 0, and the gradient
     * of sum(y) is the mask: 1/0.7 where kept, 0 where dropped. */
    enum { n = 10000 };
    double *v = malloc(n * sizeof *v);
    for (int k = 0; k < n; k++) v[k] = 1 + k % 3;
    ag_node *x = param(1, (int[]){n}, v);
    ag_rng rng = ag_rng_new(42);
    ag_node *y = ag_dropout(x, 0.3, &rng, true);
    ck_assert_msg(y && y != x, "%s", ag_graph_error(g));
    ck_assert(ag_backward(g, ag_sum(y)));
    int kept = 0;
    const double *yv = ag_node_value(y), *gx = ag_node_grad(x);
    for (int k = 0; k < n; k++) {
        if (yv[k] == 0.0) {
            ck_assert_close(gx[k], 0.0, 0.0);
            continue;
        }
        kept++;
        ck_assert_close(yv[k], v[k] / 0.7, 1e-15 * v[k]);
        ck_assert_close(gx[k], 1 / 0.7, 1e-15);
    }
    ck_assert_msg(abs(kept - 7000) <= 275, "kept %d of 10000 at p = 0.3", kept);
    char buf[64];
    y->op->print_params(y, buf, sizeof buf);
    ck_assert_str_eq(buf, "p=0.29999999999999999");
    free(v);
}
END_TEST

START_TEST(dropout_is_the_identity_when_not_training_and_at_p_zero)
{
    ag_node *x = param(1, (int[]){3}, (double[]){1, 2, 3});
    ag_rng rng = ag_rng_new(1), untouched = rng;
    ck_assert_ptr_eq(ag_dropout(x, 0.5, &rng, false), x);
    ck_assert_ptr_eq(ag_dropout(x, 0.5, NULL, false), x); /* nothing to draw */
    ck_assert_ptr_eq(ag_dropout(x, 0.0, &rng, true), x); /* PyTorch returns its input */
    ck_assert(rng.state == untouched.state);
    ck_assert_ptr_null(ag_dropout(NULL, 0.5, &rng, true));
}
END_TEST

START_TEST(dropout_p_one_gives_zeros_and_bad_p_is_refused)
{
    /* p = 1: y = x * 0, so 0 for finite x and NaN for Inf (PyTorch 1.13:
     * dropout([1, Inf, NaN], 1) = [0, NaN, NaN]); the gradient is 0 */
    ag_node *x = param(1, (int[]){3}, (double[]){1, INFINITY, NAN});
    ag_rng rng = ag_rng_new(3);
    ag_node *y = ag_dropout(x, 1.0, &rng, true);
    assert_values(y, 3, (double[]){0, NAN, NAN});
    assert_grad(y, (double[]){1, 1, 1}, x, (double[]){0, 0, 0});
    ck_assert_ptr_null(ag_dropout(x, 1.5, &rng, true));
    ck_assert_graph_error(g, "ag_dropout: (3): p = 1.5 is not a probability in [0, 1]");
    ag_graph_reset(g);
    x = param(1, (int[]){3}, (double[]){1, 2, 3});
    ck_assert_ptr_null(ag_dropout(x, -0.1, &rng, false)); /* refused in eval mode too, as PyTorch */
    ck_assert_graph_error(g, "p = -0.1 is not a probability in [0, 1]");
    ag_graph_reset(g);
    x = param(1, (int[]){3}, (double[]){1, 2, 3});
    ck_assert_ptr_null(ag_dropout(x, NAN, &rng, true));
    ck_assert_graph_error(g, "p = nan is not a probability in [0, 1]");
    ag_graph_reset(g);
    x = param(1, (int[]){3}, (double[]){1, 2, 3});
    ck_assert_ptr_null(ag_dropout(x, 0.5, NULL, true));
    ck_assert_graph_error(g, "ag_dropout: (3): the generator (rng) is NULL");
}
END_TEST

/* the mask of a dropout of x as y / x (x holds no zeros) */
static void mask_of(const ag_node *y, const double *x, size_t n, double *m)
{
    for (size_t k = 0; k < n; k++) m[k] = ag_node_value(y)[k] / x[k];
}

START_TEST(dropout_redraws_at_every_replay_and_its_gradients_follow)
{
    /* x [200] = 1 .. 200, p = 0.5. Each replay draws a new mask m; the
     * plain gradient of sum(w y) (w = 3) and the recorded one (ag_grad,
     * create_graph) must be 3 m of that replay, m_k in {0, 2}. Two masks of
     * 200 fair draws agree everywhere with probability 2^-200. */
    enum { n = 200 };
    double v[n], w[n], m0[n], m1[n];
    for (int k = 0; k < n; k++) v[k] = k + 1, w[k] = 3;
    ag_node *x = param(1, (int[]){n}, v);
    ag_rng rng = ag_rng_new(7);
    ag_node *y = ag_dropout(x, 0.5, &rng, true);
    ag_node *loss = ag_sum(ag_mul(y, ag_constant(g, 1, (int[]){n}, w)));
    ag_node *grad;
    ck_assert_msg(ag_grad(g, loss, 1, &x, &grad, true), "%s", ag_graph_error(g));
    for (int replay = 0; replay < 3; replay++) {
        if (replay > 0) ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
        mask_of(y, v, n, replay == 0 ? m0 : m1);
        const double *m = replay == 0 ? m0 : m1;
        ag_graph_zero_grad(g); /* a backward adds to the parameter's gradient */
        ck_assert(ag_backward(g, loss));
        for (int k = 0; k < n; k++) {
            ck_assert_msg(m[k] == 0.0 || m[k] == 2.0, "mask %d = %g", k, m[k]);
            ck_assert_double_eq(ag_node_grad(x)[k], 3 * m[k]);
            ck_assert_double_eq(ag_node_value(grad)[k], 3 * m[k]);
        }
        if (replay > 0) ck_assert_msg(memcmp(m0, m1, sizeof m0) != 0, "replay %d drew the same mask", replay);
    }
}
END_TEST

START_TEST(dropout_same_seed_same_mask)
{
    /* two graphs, generators of the same seed: the same mask; another seed:
     * another one (equal with probability 2^-100) */
    enum { n = 100 };
    double v[n], a[n], b[n], c[n];
    for (int k = 0; k < n; k++) v[k] = k + 1;
    ag_graph *h = ag_graph_new();
    ag_tensor *t = kept_tensor_from(1, (int[]){n}, v, false);
    ag_rng r1 = ag_rng_new(99), r2 = ag_rng_new(99), r3 = ag_rng_new(100);
    mask_of(ag_dropout(ag_input(g, t), 0.5, &r1, true), v, n, a);
    mask_of(ag_dropout(ag_input(h, t), 0.5, &r2, true), v, n, b);
    mask_of(ag_dropout(ag_input(h, t), 0.5, &r3, true), v, n, c);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    ck_assert(r1.state == r2.state);
    ag_graph_free(h);
}
END_TEST

START_TEST(dropout_held_mask_stays_for_the_registry_checks)
{
    /* the tests' hook (ag_dropout_hold_mask): replays draw the recorded
     * mask again and leave the generator alone */
    enum { n = 64 };
    double v[n], m0[n], m1[n];
    for (int k = 0; k < n; k++) v[k] = k + 1;
    ag_node *x = param(1, (int[]){n}, v);
    ag_rng rng = ag_rng_new(5);
    ag_node *y = ag_dropout(x, 0.5, &rng, true);
    ck_assert(ag_dropout_hold_mask(y));
    ck_assert(!ag_dropout_hold_mask(x));
    ag_rng after = rng;
    mask_of(y, v, n, m0);
    ck_assert(ag_graph_forward(g));
    mask_of(y, v, n, m1);
    ck_assert(memcmp(m0, m1, sizeof m0) == 0);
    ck_assert(rng.state == after.state);
}
END_TEST

Suite *ops_pool_suite(void)
{
    Suite *s = suite_create("ops pool");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, max_pool2d_by_hand);
    tcase_add_test(tc, max_pool2d_overlapping_windows_and_floors);
    tcase_add_test(tc, max_pool2d_ties_go_to_the_first_maximum_and_nan_wins);
    tcase_add_test(tc, max_pool2d_tangent_and_planes);
    tcase_add_test(tc, avg_pool2d_by_hand);
    tcase_add_test(tc, pool_errors_name_the_op_and_the_shapes);
    tcase_add_test(tc, max_pool2d_replay_moves_the_argmax_and_the_recorded_gradient);
    tcase_add_test(tc, large_pools_match_a_plain_loop);
    tcase_add_test(tc, dropout_keeps_a_binomial_fraction_scaled_by_one_over_one_minus_p);
    tcase_add_test(tc, dropout_is_the_identity_when_not_training_and_at_p_zero);
    tcase_add_test(tc, dropout_p_one_gives_zeros_and_bad_p_is_refused);
    tcase_add_test(tc, dropout_redraws_at_every_replay_and_its_gradients_follow);
    tcase_add_test(tc, dropout_same_seed_same_mask);
    tcase_add_test(tc, dropout_held_mask_stays_for_the_registry_checks);
    suite_add_tcase(s, tc);
    return s;
}
