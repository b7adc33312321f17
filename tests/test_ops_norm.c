/* test_ops_norm.c -- layer_norm and batch_norm on small cases worked out by
 * hand (the arithmetic in the comments), the running statistics against
 * PyTorch's update formula, eval mode, replays, finite differences, and the
 * error messages. */
#include <math.h>
#include <string.h>

#include "helpers.h"

GRAPH_FIXTURE_WITH_PARAM()

static void assert_doubles(const char *what, const double *got, size_t count, const double *expected)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < count; i++) assert_ieee_close(what, i, got[i], expected[i]);
}

static void assert_values(const ag_node *n, size_t count, const double *expected)
{
    ck_assert_msg(n != NULL, "op failed: %s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_size(n), count);
    assert_doubles("value", ag_node_value(n), count, expected);
}

static ag_node *vec_param(int n, const double *values) { return param(1, (int[]){n}, values); }
static ag_tensor *vec_tensor(int n, const double *values)
{
    return kept_tensor_from(1, (int[]){n}, values, false);
}

#define assert_error(expected) ck_assert_graph_error(g, expected)

/* ---- layer_norm ------------------------------------------------------------------- */

/* x = [[0, 2], [5, 7]], eps = 3: each row has mean m (1, 6) and biased
 * variance ((-1)^2 + 1^2) / 2 = 1, so inv = 1 / sqrt(1 + 3) = 1/2 and
 * xhat = [-1/2, 1/2] in both rows. gamma = [2, 3], beta = [10, 20]:
 *   y = [2 (-1/2) + 10, 3 (1/2) + 20] = [9, 21.5] per row.
 * Seed gy = [[1, 0], [0, 1]]; per row g = gamma gy,
 *   gx = inv (g - mean g - xhat mean(g xhat)):
 *   row 0: g = [2, 0], mean 1, mean(g xhat) = (-1 + 0) / 2 = -1/2:
 *          gx = 1/2 ([1, -1] - [1/4, -1/4]) = [3/8, -3/8]
 *   row 1: g = [0, 3], mean 3/2, mean(g xhat) = 3/4:
 *          gx = 1/2 ([-3/2, 3/2] - [-3/8, 3/8]) = [-9/16, 9/16]
 *   ggamma = sum over rows gy xhat = [-1/2, 1/2], gbeta = sum gy = [1, 1] */
START_TEST(layer_norm_2x2_by_hand)
{
    ag_node *x = param(2, (int[]){2, 2}, (double[]){0, 2, 5, 7});
    ag_node *gamma = vec_param(2, (double[]){2, 3}), *beta = vec_param(2, (double[]){10, 20});
    ag_node *y = ag_layer_norm(x, gamma, beta, 3.0);
    assert_values(y, 4, (double[]){9, 21.5, 9, 21.5});
    ck_assert(ag_backward_seed(g, y, (double[]){1, 0, 0, 1}));
    assert_doubles("gx", ag_node_grad(x), 4, (double[]){0.375, -0.375, -0.5625, 0.5625});
    assert_doubles("ggamma", ag_node_grad(gamma), 2, (double[]){-0.5, 0.5});
    assert_doubles("gbeta", ag_node_grad(beta), 2, (double[]){1, 1});
}
END_TEST

/* Without gamma and beta (1 and 0): y = xhat = [-1/2, 1/2] per row; with the
 * same seed, g = gy: row 0 mean 1/2, mean(g xhat) = -1/4:
 *   gx = 1/2 ([1/2, -1/2] - [1/8, -1/8]) = [3/16, -3/16], row 1 the negation.
 * A 1-d x is one row. */
START_TEST(layer_norm_without_gamma_and_beta)
{
    ag_node *x = param(2, (int[]){2, 2}, (double[]){0, 2, 5, 7});
    ag_node *y = ag_layer_norm(x, NULL, NULL, 3.0);
    assert_values(y, 4, (double[]){-0.5, 0.5, -0.5, 0.5});
    ck_assert(ag_backward_seed(g, y, (double[]){1, 0, 0, 1}));
    assert_doubles("gx", ag_node_grad(x), 4, (double[]){0.1875, -0.1875, -0.1875, 0.1875});
    /* [1, 2, 3, 6]: mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5, eps 0.5: inv 1/2 */
    ag_node *v = ag_layer_norm(vec_param(4, (double[]){1, 2, 3, 6}), NULL, vec_param(4, (double[]){1, 1, 1, 1}), 0.5);
    assert_values(v, 4, (double[]){0, 0.5, 1, 2.5});
}
END_TEST

/* ---- batch_norm: by hand ----------------------------------------------------------- */

/* x [N=2, C=2] = [[1, 10], [3, 12]]: channel 0 holds [1, 3], channel 1
 * [10, 12]; means 2 and 11, biased variances 1, eps 3: inv = 1/2, xhat =
 * [-1/2, 1/2] down each column. gamma [2, 3], beta [10, 20]:
 *   y = [[2 (-1/2) + 10, 3 (-1/2) + 20], [2 (1/2) + 10, 3 (1/2) + 20]]
 *     = [[9, 18.5], [11, 21.5]].
 * Running statistics from mean [0, 0], var [1, 1] with momentum 0.1: the
 * unbiased variance of two values 1 from their mean is 2, so
 *   running_mean = 0.9 [0, 0] + 0.1 [2, 11] = [0.2, 1.1]
 *   running_var  = 0.9 [1, 1] + 0.1 [2, 2]  = [1.1, 1.1].
 * Seed gy = [[1, 0], [0, 1]]: channel 0 gets gy [1, 0] (mean 1/2, mean(gy
 * xhat) = -1/4), scale gamma inv = 1:
 *   gx = 1 ([1/2, -1/2] - [1/8, -1/8]) = [3/8, -3/8];
 * channel 1 gets [0, 1] (mean 1/2, mean(gy xhat) = 1/4), scale 3/2:
 *   gx = 3/2 ([-1/2, 1/2] - [-1/8, 1/8]) = [-9/16, 9/16];
 * ggamma = [sum gy xhat] = [-1/2, 1/2], gbeta = [1, 1]. */
START_TEST(batch_norm_2x2_training_by_hand)
{
    ag_tensor *rm = vec_tensor(2, (double[]){0, 0}), *rv = vec_tensor(2, (double[]){1, 1});
    ag_node *x = param(2, (int[]){2, 2}, (double[]){1, 10, 3, 12});
    ag_node *gamma = vec_param(2, (double[]){2, 3}), *beta = vec_param(2, (double[]){10, 20});
    ag_node *y = ag_batch_norm(x, gamma, beta, rm, rv, 0.1, 3.0, true);
    assert_values(y, 4, (double[]){9, 18.5, 11, 21.5});
    assert_doubles("running_mean", ag_tensor_data(rm), 2, (double[]){0.2, 1.1});
    assert_doubles("running_var", ag_tensor_data(rv), 2, (double[]){1.1, 1.1});
    ck_assert(ag_backward_seed(g, y, (double[]){1, 0, 0, 1}));
    assert_doubles("gx", ag_node_grad(x), 4, (double[]){0.375, -0.5625, -0.375, 0.5625});
    assert_doubles("ggamma", ag_node_grad(gamma), 2, (double[]){-0.5, 0.5});
    assert_doubles("gbeta", ag_node_grad(beta), 2, (double[]){1, 1});
    /* the backward leaves the running statistics alone */
    assert_doubles("running_mean after backward", ag_tensor_data(rm), 2, (double[]){0.2, 1.1});
}
END_TEST

/* Eval mode: running mean [1, 2], var [3, 0], eps 1: inv = [1/2, 1]; x =
 * [[1, 10], [3, 14]] gives xhat = [[0, 8], [1, 12]]; gamma [2, 3], beta
 * [10, 20]: y = [[10, 44], [12, 56]]. The op is affine in x: d sum(y) / dx =
 * gamma inv = [[1, 3], [1, 3]]; ggamma = [0 + 1, 8 + 12] = [1, 20], gbeta =
 * [2, 2]. The running statistics stay; N = 1 is allowed in eval mode. */
START_TEST(batch_norm_eval_uses_the_running_statistics)
{
    ag_tensor *rm = vec_tensor(2, (double[]){1, 2}), *rv = vec_tensor(2, (double[]){3, 0});
    ag_node *x = param(2, (int[]){2, 2}, (double[]){1, 10, 3, 14});
    ag_node *gamma = vec_param(2, (double[]){2, 3}), *beta = vec_param(2, (double[]){10, 20});
    ag_node *y = ag_batch_norm(x, gamma, beta, rm, rv, 0.1, 1.0, false);
    assert_values(y, 4, (double[]){10, 44, 12, 56});
    ck_assert(ag_backward(g, ag_sum(y)));
    assert_doubles("gx", ag_node_grad(x), 4, (double[]){1, 3, 1, 3});
    assert_doubles("ggamma", ag_node_grad(gamma), 2, (double[]){1, 20});
    assert_doubles("gbeta", ag_node_grad(beta), 2, (double[]){2, 2});
    assert_doubles("running_mean", ag_tensor_data(rm), 2, (double[]){1, 2});
    assert_doubles("running_var", ag_tensor_data(rv), 2, (double[]){3, 0});
    ag_node *one = ag_batch_norm(param(2, (int[]){1, 2}, (double[]){3, 2}), NULL, NULL, rm, rv, 0.1, 1.0, false);
    assert_values(one, 2, (double[]){1, 0});
}
END_TEST

/* The 2x2 case again: each forward is one training step. After the
 * recording [0.2, 1.1] and [1.1, 1.1] (above); a replay:
 *   mean 0.9 [0.2, 1.1] + 0.1 [2, 11] = [0.38, 2.09], var 0.9 (1.1) + 0.2 = 1.19;
 * a backward changes nothing; a second replay:
 *   mean 0.9 [0.38, 2.09] + [0.2, 1.1] = [0.542, 2.981], var 0.9 (1.19) + 0.2 = 1.271 */
START_TEST(batch_norm_replay_updates_running_statistics_once_per_forward)
{
    ag_tensor *rm = vec_tensor(2, (double[]){0, 0}), *rv = vec_tensor(2, (double[]){1, 1});
    ag_node *x = param(2, (int[]){2, 2}, (double[]){1, 10, 3, 12});
    ag_node *y = ag_batch_norm(x, vec_param(2, (double[]){2, 3}), vec_param(2, (double[]){10, 20}), rm, rv, 0.1,
                               3.0, true);
    ag_node *loss = ag_sum(ag_mul(y, y));
    ck_assert(ag_graph_forward(g));
    assert_doubles("running_mean", ag_tensor_data(rm), 2, (double[]){0.38, 2.09});
    assert_doubles("running_var", ag_tensor_data(rv), 2, (double[]){1.19, 1.19});
    ck_assert(ag_backward(g, loss));
    assert_doubles("running_mean after backward", ag_tensor_data(rm), 2, (double[]){0.38, 2.09});
    ck_assert(ag_graph_forward(g));
    assert_doubles("running_mean", ag_tensor_data(rm), 2, (double[]){0.542, 2.981});
    assert_doubles("running_var", ag_tensor_data(rv), 2, (double[]){1.271, 1.271});
    assert_values(y, 4, (double[]){9, 18.5, 11, 21.5});
}
END_TEST

/* ---- batch_norm on [N,C,H,W] against the definition ------------------------------ */

/* x [3, 2, 2, 3] random; per channel, over its 3 * 6 = 18 values, mean and
 * variance by two passes here; y against gamma (x - mean) / sqrt(var + eps)
 * + beta, and the running statistics against PyTorch's update with the
 * unbiased variance (var * 18 / 17). */
START_TEST(batch_norm_4d_matches_the_definition_and_the_update_formula)
{
    enum { N = 3, C = 2, H = 2, W = 3, P = H * W, M = N * P };
    test_rng r = {17};
    double xv[N * C * P], rm0[C] = {0.5, -1}, rv0[C] = {2, 0.25}, gam[C] = {1.5, -0.5}, bet[C] = {0.25, 3};
    for (int i = 0; i < N * C * P; i++) xv[i] = rng_uniform(&r, -3.0, 3.0) + (i / P % C) * 4.0;
    ag_tensor *rm = vec_tensor(C, rm0), *rv = vec_tensor(C, rv0);
    ag_node *y = ag_batch_norm(param(4, (int[]){N, C, H, W}, xv), vec_param(C, gam), vec_param(C, bet), rm, rv,
                               0.3, 1e-5, true);
    ck_assert_ptr_nonnull(y);
    for (int c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) sum += xv[(n * C + c) * P + p];
        double mean = sum / M;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) sq += pow(xv[(n * C + c) * P + p] - mean, 2);
        double var = sq / M;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) {
                int k = (n * C + c) * P + p;
                assert_ieee_close("y", (size_t)k, ag_node_value(y)[k], gam[c] * (xv[k] - mean) / sqrt(var + 1e-5) + bet[c]);
            }
        assert_ieee_close("running_mean", (size_t)c, ag_tensor_data(rm)[c], 0.7 * rm0[c] + 0.3 * mean);
        assert_ieee_close("running_var", (size_t)c, ag_tensor_data(rv)[c], 0.7 * rv0[c] + 0.3 * var * M / (M - 1));
    }
}
END_TEST

/* ---- large tensors: the passes split over the threads --------------------------------- */

/* x [8, 4, 32, 32] (4 channels of 8192 values: over the threads' limit, so
 * the channels are split between them) against the definition by two passes
 * here: y, the running statistics, and gx for a seed gy by the closed form
 *   gx = gamma inv (gy - mean(gy) - xhat mean(gy xhat))   (written out per
 * channel with the sums gathered first). */
START_TEST(batch_norm_on_a_large_batch_matches_the_definition)
{
    enum { N = 8, C = 4, P = 32 * 32, M = N * P, SIZE = N * C * P };
    test_rng r = {23};
    ag_tensor *xt = keep_tensor(ag_tensor_zeros(4, (int[]){N, C, 32, 32}));
    ag_tensor *seed_t = keep_tensor(ag_tensor_zeros(1, (int[]){SIZE}));
    double *xv = ag_tensor_data(xt), *gy = ag_tensor_data(seed_t);
    for (int i = 0; i < SIZE; i++) xv[i] = rng_uniform(&r, -1.0, 3.0), gy[i] = rng_uniform(&r, -1.0, 1.0);
    ag_tensor_requires_grad(xt, true);
    double gam[C] = {1, -2, 0.5, 3}, bet[C] = {0, 1, 2, 3};
    ag_tensor *rm = vec_tensor(C, (double[]){0, 0, 0, 0}), *rv = vec_tensor(C, (double[]){1, 1, 1, 1});
    ag_node *x = ag_param(g, xt);
    ag_node *y = ag_batch_norm(x, vec_param(C, gam), vec_param(C, bet), rm, rv, 0.25, 1e-5, true);
    ck_assert_msg(y && ag_backward_seed(g, y, gy), "%s", ag_graph_error(g));
    for (int c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0, sum_gy = 0.0, sum_gy_xhat = 0.0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) sum += xv[(n * C + c) * P + p];
        double mean = sum / M;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) sq += pow(xv[(n * C + c) * P + p] - mean, 2);
        double var = sq / M, inv = 1.0 / sqrt(var + 1e-5);
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) {
                int k = (n * C + c) * P + p;
                sum_gy += gy[k], sum_gy_xhat += gy[k] * (xv[k] - mean) * inv;
            }
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) {
                int k = (n * C + c) * P + p;
                double xhat = (xv[k] - mean) * inv;
                ck_assert_close(ag_node_value(y)[k], gam[c] * xhat + bet[c], 1e-12);
                ck_assert_close(ag_node_grad(x)[k], gam[c] * inv * (gy[k] - sum_gy / M - xhat * sum_gy_xhat / M),
                                1e-11);
            }
        ck_assert_close(ag_tensor_data(rm)[c], 0.25 * mean, 1e-13);
        ck_assert_close(ag_tensor_data(rv)[c], 0.75 + 0.25 * var * M / (M - 1), 1e-13);
    }
}
END_TEST

/* x [64, 1024] (65536 values: rows split over the threads for gx, columns
 * for ggamma and gbeta) against the definition, row by row: y and the
 * gradients for the seed gy = y, with gamma_j = 1 + j / 1024, beta_j = j / 512:
 *   gx = inv (g - mean g - xhat mean(g xhat)), g = gamma gy,
 *   ggamma = sum over rows of gy xhat, gbeta = sum over rows of gy */
START_TEST(layer_norm_on_large_rows_matches_the_definition)
{
    enum { R = 64, D = 1024 };
    test_rng r = {29};
    ag_tensor *xt = keep_tensor(ag_tensor_zeros(2, (int[]){R, D}));
    ag_tensor *gt = keep_tensor(ag_tensor_zeros(1, (int[]){D})), *bt = keep_tensor(ag_tensor_zeros(1, (int[]){D}));
    double *xv = ag_tensor_data(xt), *gam = ag_tensor_data(gt), *bet = ag_tensor_data(bt);
    for (int i = 0; i < R * D; i++) xv[i] = rng_uniform(&r, -2.0, 2.0) + i / D;
    for (int j = 0; j < D; j++) gam[j] = 1.0 + j / 1024.0, bet[j] = j / 512.0;
    ag_tensor_requires_grad(xt, true), ag_tensor_requires_grad(gt, true), ag_tensor_requires_grad(bt, true);
    ag_node *x = ag_param(g, xt);
    ag_node *y = ag_layer_norm(x, ag_param(g, gt), ag_param(g, bt), 1e-5);
    ck_assert_msg(y && ag_backward_seed(g, y, ag_node_value(y)), "%s", ag_graph_error(g));
    static double ggamma[D], gbeta[D];
    memset(ggamma, 0, sizeof ggamma), memset(gbeta, 0, sizeof gbeta);
    for (int i = 0; i < R; i++) {
        const double *row = xv + i * D;
        double sum = 0.0, sq = 0.0, sum_g = 0.0, sum_gxhat = 0.0;
        for (int j = 0; j < D; j++) sum += row[j];
        double mean = sum / D;
        for (int j = 0; j < D; j++) sq += pow(row[j] - mean, 2);
        double inv = 1.0 / sqrt(sq / D + 1e-5);
        for (int j = 0; j < D; j++) {
            double xhat = (row[j] - mean) * inv, gy = gam[j] * xhat + bet[j];
            sum_g += gam[j] * gy, sum_gxhat += gam[j] * gy * xhat;
            ggamma[j] += gy * xhat, gbeta[j] += gy;
        }
        for (int j = 0; j < D; j++) {
            double xhat = (row[j] - mean) * inv, gy = gam[j] * xhat + bet[j];
            ck_assert_close(ag_node_value(y)[i * D + j], gy, 1e-12);
            ck_assert_close(ag_node_grad(x)[i * D + j], inv * (gam[j] * gy - sum_g / D - xhat * sum_gxhat / D),
                            1e-10);
        }
    }
    for (int j = 0; j < D; j++) {
        ck_assert_close(ag_tensor_grad(gt)[j], ggamma[j], 1e-10);
        ck_assert_close(ag_tensor_grad(bt)[j], gbeta[j], 1e-10);
    }
}
END_TEST

/* ---- finite differences ---------------------------------------------------------------- */

typedef struct norm_case { ag_tensor *x, *gamma, *beta, *weights; bool batch; } norm_case;

/* sum(w * norm(x)): a loss whose gradient is the vjp with seed w */
static ag_node *weighted_norm_loss(ag_graph *graph, void *user)
{
    norm_case *k = user;
    ag_node *x = ag_param(graph, k->x), *gm = ag_param(graph, k->gamma), *bt = ag_param(graph, k->beta);
    ag_node *y = k->batch ? ag_batch_norm(x, gm, bt, NULL, NULL, 0.1, 1e-5, true) : ag_layer_norm(x, gm, bt, 1e-5);
    return ag_sum(ag_mul(y, ag_input(graph, k->weights)));
}

static ag_tensor *random_tensor(test_rng *r, int nd, const int *dims, bool requires_grad)
{
    ag_tensor *t = keep_tensor(ag_tensor_zeros(nd, dims));
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = rng_uniform(r, -2.0, 2.0);
    if (requires_grad) ag_tensor_requires_grad(t, true);
    return t;
}

START_TEST(norms_match_finite_differences)
{
    test_rng r = {5};
    for (int batch = 0; batch < 2; batch++) {
        int dims[4] = {3, 4, 2, 3}, affine = batch ? dims[1] : dims[3];
        norm_case k = {random_tensor(&r, 4, dims, true), random_tensor(&r, 1, &affine, true),
                       random_tensor(&r, 1, &affine, true), random_tensor(&r, 4, dims, false), batch};
        ag_tensor *params[3] = {k.x, k.gamma, k.beta};
        ck_assert_msg(ag_gradcheck(weighted_norm_loss, &k, 3, params, NULL, NULL), "%s: %s",
                      batch ? "batch_norm" : "layer_norm", ag_last_error());
        free_kept_tensors();
    }
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

START_TEST(layer_norm_errors_name_the_shapes)
{
    ag_node *x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_layer_norm(x, vec_param(2, (double[]){1, 1}), NULL, 1e-5));
    assert_error("layer_norm");
    assert_error("gamma must be [D] = [3], not 2");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_layer_norm(x, NULL, param(2, (int[]){1, 3}, (double[]){0, 0, 0}), 1e-5));
    assert_error("beta must be [D] = [3], not 1x3");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_layer_norm(x, NULL, NULL, 0.0));
    assert_error("eps = 0 must be a finite number > 0");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_ptr_null(ag_layer_norm(x, NULL, NULL, NAN));
    assert_error("must be a finite number > 0");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_layer_norm(ag_scalar(g, 1.0), NULL, NULL, 1e-5));
    assert_error("0-d");
}
END_TEST

START_TEST(batch_norm_errors_name_the_shapes)
{
    double six[6] = {1, 2, 3, 4, 5, 6};
    ag_tensor *rm = vec_tensor(3, (double[]){0, 0, 0}), *rv = vec_tensor(3, (double[]){1, 1, 1});
    ag_tensor *short_var = vec_tensor(2, (double[]){1, 1});
    ag_node *x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, vec_param(2, (double[]){1, 1}), NULL, rm, rv, 0.1, 1e-5, true));
    assert_error("batch_norm");
    assert_error("gamma must be [C] = [3], not 2");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, rm, short_var, 0.1, 1e-5, true));
    assert_error("running_var must be [C] = [3], not 2");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, rm, rv, 0.1, -1.0, true));
    assert_error("eps = -1 must be a finite number > 0");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, rm, rv, 1.5, 1e-5, true));
    assert_error("momentum = 1.5 must be in [0, 1]");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, rm, rv, NAN, 1e-5, true));
    assert_error("must be in [0, 1]");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, NULL, NULL, 0.1, 1e-5, false));
    assert_error("eval mode (training false) needs running_mean and running_var");
    ag_graph_reset(g);
    x = param(2, (int[]){2, 3}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, rm, NULL, 0.1, 1e-5, true));
    assert_error("running_mean and running_var come together");
    ag_graph_reset(g);
    x = param(4, (int[]){1, 3, 1, 1}, six);
    ck_assert_ptr_null(ag_batch_norm(x, NULL, NULL, NULL, NULL, 0.1, 1e-5, true));
    assert_error("expected more than 1 value per channel when training");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_batch_norm(param(1, (int[]){3}, six), NULL, NULL, rm, rv, 0.1, 1e-5, true));
    assert_error("x must be [N,C], [N,C,L] or [N,C,H,W]");
    /* nothing was updated by the failed calls */
    assert_doubles("running_mean", ag_tensor_data(rm), 3, (double[]){0, 0, 0});
}
END_TEST

/* Replaying a training step (forward, backward) allocates nothing: the
 * statistics live in the node's aux buffer. x [8, 4, 32, 32] takes the
 * threaded passes. */
START_TEST(batch_norm_replay_allocates_nothing)
{
    counting_allocator_install(0);
    ag_graph *graph = ag_graph_new();
    ag_tensor *xt = ag_tensor_constant(4, (int[]){8, 4, 32, 32}, 0.0);
    ag_tensor *gamma = ag_tensor_constant(1, (int[]){4}, 1.0), *rm = ag_tensor_zeros(1, (int[]){4});
    ag_tensor *rv = ag_tensor_constant(1, (int[]){4}, 1.0);
    for (size_t i = 0; i < ag_tensor_size(xt); i++) ag_tensor_data(xt)[i] = (double)(i % 7);
    ag_tensor_requires_grad(xt, true);
    ag_tensor_requires_grad(gamma, true);
    ag_node *y = ag_batch_norm(ag_param(graph, xt), ag_param(graph, gamma), NULL, rm, rv, 0.1, 1e-5, true);
    ag_node *loss = ag_sum(ag_mul(y, y));
    ck_assert_msg(loss && ag_backward(graph, loss), "%s", ag_graph_error(graph));
    ck_assert(ag_graph_forward(graph) && ag_backward(graph, loss));
    long after_first = counting_allocations();
    for (int step = 0; step < 5; step++) {
        ag_tensor_data(xt)[step] += 1.0;
        ck_assert(ag_graph_forward(graph) && ag_backward(graph, loss));
    }
    ck_assert_int_eq(counting_allocations(), after_first);
    ag_graph_free(graph);
    ag_tensor_free(xt), ag_tensor_free(gamma), ag_tensor_free(rm), ag_tensor_free(rv);
    counting_allocator_remove();
}
END_TEST

Suite *ops_norm_suite(void)
{
    Suite *s = suite_create("ops_norm");
    TCase *tc = tcase_create("norm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, layer_norm_2x2_by_hand);
    tcase_add_test(tc, layer_norm_without_gamma_and_beta);
    tcase_add_test(tc, batch_norm_2x2_training_by_hand);
    tcase_add_test(tc, batch_norm_eval_uses_the_running_statistics);
    tcase_add_test(tc, batch_norm_replay_updates_running_statistics_once_per_forward);
    tcase_add_test(tc, batch_norm_4d_matches_the_definition_and_the_update_formula);
    tcase_add_test(tc, batch_norm_on_a_large_batch_matches_the_definition);
    tcase_add_test(tc, layer_norm_on_large_rows_matches_the_definition);
    tcase_add_test(tc, norms_match_finite_differences);
    tcase_add_test(tc, layer_norm_errors_name_the_shapes);
    tcase_add_test(tc, batch_norm_errors_name_the_shapes);
    suite_add_tcase(s, tc);
    TCase *alloc = tcase_create("allocations");
    tcase_add_test(alloc, batch_norm_replay_allocates_nothing);
    suite_add_tcase(s, alloc);
    return s;
}
