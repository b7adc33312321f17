/* test_float32.c -- the float32 element type: every op with float32 kernels
 * against the same op in float64, the type rules and their messages,
 * ag_cast, the optimisers, checkpoints and a small network's training.
 *
 * How the float32 kernels are checked. Each op's registry recipe (tests/
 * recipes*.c) is run with recipe_float32 set: its tensors become float32
 * (their values rounded to float) and the op is recorded in float32. The
 * same recipe is then re-recorded in float64 on exact float64 copies of
 * those float32 tensors, so both graphs see the very same numbers; the
 * float64 graph is the reference (its own kernels are checked against
 * finite differences, PyTorch and closed forms elsewhere). The value and,
 * after one backward with the same random seed, every parameter's gradient
 * must agree element by element within float32 rounding:
 *     |x32 - x64| <= F32_RTOL * max_k |x64_k| + F32_ATOL
 * with F32_RTOL 2e-5 (about 170 float ulps: the recipes' ops chain a few
 * operations of a handful of terms each, each rounding by 2^-24 relative).
 * A wrong index, a wrong formula or a missing term moves an element by a
 * sizeable fraction of the tensor's scale, far beyond that. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"
#include "testnet_hand.h"
#include "testnet_model.h"

#define F32_RTOL 2e-5
#define F32_ATOL 1e-6
#define CASES_PER_OP 12

/* ---- every float32 kernel against float64 ----------------------------------------- */

/* The registry's ops that have float32 kernels, in registry order (a loop
 * test runs over them; the list is made when the suite is). */
static const ag_op *f32_ops[128];
static int n_f32_ops;

static void collect_f32_ops(void)
{
    n_f32_ops = 0;
    for (size_t i = 0; i < ag_n_ops; i++)
        if (ag_all_ops[i]->f32 && n_f32_ops < (int)(sizeof f32_ops / sizeof f32_ops[0]))
            f32_ops[n_f32_ops++] = ag_all_ops[i];
}

/* Worst |a - b| against the bound, over n elements of a (float32 side, read
 * as doubles) and b (the float64 reference). */
static void assert_close_f32(const char *what, const char *op, size_t n, double (*a)(const void *, size_t),
                             const void *pa, double (*b)(const void *, size_t), const void *pb)
{
    double scale = 0.0;
    for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(b(pb, k)));
    double bound = F32_RTOL * scale + F32_ATOL;
    for (size_t k = 0; k < n; k++) {
        double x = a(pa, k), y = b(pb, k);
        ck_assert_in_loop(fabs(x - y) <= bound || (isnan(x) && isnan(y)),
                          "%s: %s element %zu: float32 %.9g, float64 %.17g (bound %.3g)", op, what, k, x, y, bound);
    }
}

static double node_element(const void *n, size_t k) { return ag_node_get(n, k); }
static double grad_element(const void *t, size_t k)
{
    const ag_tensor *p = t;
    return ag_tensor_dtype(p) == AG_FLOAT32 ? (double)ag_tensor_grad_f32(p)[k] : ag_tensor_grad(p)[k];
}

/* c64 takes float64 copies (exact) of c32's tensors, to be re-recorded */
static void widen_case(const op_case *c32, op_case *c64)
{
    memset(c64, 0, sizeof *c64);
    for (int k = 0; k < c32->n_params; k++) c64->params[k] = ag_tensor_to_dtype(c32->params[k], AG_FLOAT64);
    for (int k = 0; k < c32->n_extra; k++) c64->extra[k] = ag_tensor_to_dtype(c32->extra[k], AG_FLOAT64);
    c64->rerecord = true;
}

static void check_f32_case(const ag_op *op, uint64_t seed)
{
    op_recipe recipe = recipe_for(op->name);
    ck_assert_msg(recipe != NULL, "op '%s' has float32 kernels but no recipe", op->name);
    ag_graph *g32 = ag_graph_new(), *g64 = ag_graph_new();
    op_case c32 = {0}, c64;
    test_rng r = {seed};
    recipe_float32 = true;
    bool ok = recipe(g32, &r, &c32);
    recipe_float32 = false;
    ck_assert_msg(ok && c32.out, "%s in float32: %s", op->name, ag_graph_error(g32));
    for (int k = 0; k < c32.n_params; k++) ck_assert_int_eq(ag_tensor_dtype(c32.params[k]), AG_FLOAT32);
    widen_case(&c32, &c64);
    int n_params = c32.n_params, n_extra = c32.n_extra;
    r = (test_rng){seed};
    ck_assert_msg(recipe(g64, &r, &c64) && c64.out, "%s in float64: %s", op->name, ag_graph_error(g64));
    ck_assert_int_eq(c64.n_params, n_params);
    ck_assert_int_eq(c64.n_extra, n_extra);
    ck_assert_int_eq(ag_node_dtype(c64.out), AG_FLOAT64);
    ck_assert_uint_eq(ag_node_size(c32.out), ag_node_size(c64.out));
    assert_close_f32("value", op->name, ag_node_size(c64.out), node_element, c32.out, node_element, c64.out);

    size_t n = ag_node_size(c64.out);
    double *seed_grad = malloc(n * sizeof *seed_grad);
    test_rng sr = {seed ^ 0x5eed};
    for (size_t k = 0; k < n; k++) seed_grad[k] = (double)(float)rng_uniform(&sr, -1.0, 1.0);
    ck_assert_msg(ag_backward_seed(g32, c32.out, seed_grad), "%s: %s", op->name, ag_graph_error(g32));
    ck_assert_msg(ag_backward_seed(g64, c64.out, seed_grad), "%s: %s", op->name, ag_graph_error(g64));
    for (int k = 0; k < n_params; k++) {
        char what[32];
        snprintf(what, sizeof what, "gradient of operand %d", k + 1);
        assert_close_f32(what, op->name, ag_tensor_size(c64.params[k]), grad_element, c32.params[k], grad_element,
                         c64.params[k]);
    }
    free(seed_grad);
    op_case_free(&c32);
    op_case_free(&c64);
    ag_graph_free(g32);
    ag_graph_free(g64);
}

/* _i indexes f32_ops */
START_TEST(float32_kernels_agree_with_float64)
{
    for (uint64_t seed = 1; seed <= CASES_PER_OP; seed++) check_f32_case(f32_ops[_i], 1000 * (uint64_t)_i + seed);
}
END_TEST

/* ag_op_supports_dtype's documentation (include/agrad.h): every op has
 * float32 kernels, and the registry's loop above ran them all. */
START_TEST(every_op_has_float32_kernels)
{
    for (size_t i = 0; i < ag_n_ops; i++) {
        ck_assert_msg(ag_op_supports_dtype(ag_all_ops[i]->name, AG_FLOAT32), "%s has no float32 kernel",
                      ag_all_ops[i]->name);
        ck_assert(ag_op_supports_dtype(ag_all_ops[i]->name, AG_FLOAT64));
    }
    ck_assert_int_eq(n_f32_ops, (int)ag_n_ops);
    ck_assert(!ag_op_supports_dtype("no_such_op", AG_FLOAT64));
    ck_assert(!ag_op_supports_dtype("no_such_op", AG_FLOAT32));
    ck_assert(!ag_op_supports_dtype(NULL, AG_FLOAT32));
}
END_TEST

/* batch_norm on float32 x moves its running statistics as PyTorch's does:
 *   running_mean = (1 - m) running_mean + m mean_c(x),
 *   running_var  = (1 - m) running_var  + m var_c(x) n / (n - 1)
 * (the expected values formed here in two passes over the float values,
 * in double), whether the running tensors are float32 (rounded once) or
 * float64 (then to double precision: the statistics are kept in double);
 * eval mode then normalises with them: y = gamma (x - rm) / sqrt(rv + eps)
 * + beta. */
START_TEST(batch_norm_in_float32_moves_its_running_statistics)
{
    enum { N = 5, C = 3, P = 4 };
    const double momentum = 0.3, eps = 1e-5;
    test_rng r = {77};
    ag_tensor *x = ag_tensor_zeros_dtype(4, (int[]){N, C, 2, 2}, AG_FLOAT32);
    for (size_t k = 0; k < ag_tensor_size(x); k++) ag_tensor_set(x, k, rng_uniform(&r, -2.0, 3.0));
    for (int wide = 0; wide <= 1; wide++) {
        ag_dtype stats = wide ? AG_FLOAT64 : AG_FLOAT32;
        ag_tensor *rm = ag_tensor_zeros_dtype(1, (int[]){C}, stats), *rv = ag_tensor_zeros_dtype(1, (int[]){C}, stats);
        double rm0[C], rv0[C];
        for (int c = 0; c < C; c++) {
            ag_tensor_set(rm, c, rng_uniform(&r, -1.0, 1.0));
            ag_tensor_set(rv, c, rng_uniform(&r, 0.5, 2.0));
            rm0[c] = ag_tensor_get(rm, c), rv0[c] = ag_tensor_get(rv, c);
        }
        ag_graph *g = ag_graph_new();
        ag_node *y = ag_batch_norm(ag_input(g, x), NULL, NULL, rm, rv, momentum, eps, true);
        ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
        ck_assert_int_eq(ag_node_dtype(y), AG_FLOAT32);
        double tol = wide ? 1e-13 : 2e-7;
        for (int c = 0; c < C; c++) {
            double mean = 0.0, var = 0.0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < P; i++) mean += ag_tensor_get(x, (size_t)((n * C + c) * P + i));
            mean /= N * P;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < P; i++) {
                    double d = ag_tensor_get(x, (size_t)((n * C + c) * P + i)) - mean;
                    var += d * d;
                }
            double want_mean = (1 - momentum) * rm0[c] + momentum * mean;
            double want_var = (1 - momentum) * rv0[c] + momentum * var / (N * P - 1);
            ck_assert_msg(fabs(ag_tensor_get(rm, c) - want_mean) <= tol * fmax(1.0, fabs(want_mean)),
                          "%s running_mean[%d] %.17g, want %.17g", ag_dtype_name(stats), c, ag_tensor_get(rm, c),
                          want_mean);
            ck_assert_msg(fabs(ag_tensor_get(rv, c) - want_var) <= tol * want_var, "%s running_var[%d] %.17g, want %.17g",
                          ag_dtype_name(stats), c, ag_tensor_get(rv, c), want_var);
        }
        ag_graph_reset(g);
        ag_node *e = ag_batch_norm(ag_input(g, x), NULL, NULL, rm, rv, momentum, eps, false);
        ck_assert_msg(e != NULL, "%s", ag_graph_error(g));
        for (size_t k = 0; k < ag_tensor_size(x); k++) {
            int c = (int)(k / P) % C;
            double want = (ag_tensor_get(x, k) - ag_tensor_get(rm, c)) / sqrt(ag_tensor_get(rv, c) + eps);
            ck_assert_msg(fabs(ag_node_get(e, k) - want) <= 2e-7 * fmax(1.0, fabs(want)), "eval y[%zu] %.9g, want %.9g",
                          k, ag_node_get(e, k), want);
        }
        ag_graph_free(g);
        ag_tensor_free(rm);
        ag_tensor_free(rv);
    }
    ag_tensor_free(x);
}
END_TEST

/* float64 x with float32 running statistics in eval mode: the fast vjp and
 * the recorded gradient (ag_grad, which rebuilds the statistics as leaves
 * of the running tensors) agree; both are gamma / sqrt(rv + eps) per
 * channel for d sum(y) / dx, the closed form checked too. */
START_TEST(batch_norm_eval_reads_float32_running_statistics_from_float64)
{
    enum { N = 2, C = 3 };
    const double eps = 1e-5;
    test_rng r = {5};
    ag_tensor *x = ag_tensor_zeros(2, (int[]){N, C});
    ag_tensor_requires_grad(x, true);
    for (size_t k = 0; k < ag_tensor_size(x); k++) ag_tensor_set(x, k, rng_uniform(&r, -1.0, 1.0));
    ag_tensor *rm = ag_tensor_zeros_dtype(1, (int[]){C}, AG_FLOAT32), *rv = ag_tensor_zeros_dtype(1, (int[]){C}, AG_FLOAT32);
    for (int c = 0; c < C; c++) ag_tensor_set(rm, c, 0.1 * c), ag_tensor_set(rv, c, 0.5 + c);
    ag_graph *g = ag_graph_new();
    ag_node *xn = ag_param(g, x), *loss = ag_sum(ag_batch_norm(xn, NULL, NULL, rm, rv, 0.1, eps, false)), *gx;
    ck_assert_msg(loss != NULL, "%s", ag_graph_error(g));
    ck_assert_msg(ag_grad(g, loss, 1, &xn, &gx, true), "%s", ag_graph_error(g));
    ck_assert(ag_backward(g, loss));
    for (size_t k = 0; k < ag_tensor_size(x); k++) {
        double want = 1.0 / sqrt(ag_tensor_get(rv, k % C) + eps);
        ck_assert_double_eq_tol(ag_node_value(gx)[k], want, 1e-15);
        ck_assert_double_eq_tol(ag_tensor_grad(x)[k], want, 1e-15);
    }
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_tensor_free(rm);
    ag_tensor_free(rv);
}
END_TEST

/* ag_lstm and ag_gru in float32 (the initial states NULL: zeros in
 * float32) against the same layers in float64 on the
 * same float32 values (the float64 layers are checked against PyTorch and
 * finite differences in test_recurrent.c): outputs and every gradient to
 * float32 rounding. */
static ag_tensor *random_f32(test_rng *r, int ndim, const int *dims, double bound)
{
    ag_tensor *t = ag_tensor_zeros_dtype(ndim, dims, AG_FLOAT32);
    ck_assert_ptr_nonnull(t);
    for (size_t k = 0; k < ag_tensor_size(t); k++) ag_tensor_set(t, k, rng_uniform(r, -bound, bound));
    ag_tensor_requires_grad(t, true);
    return t;
}

static ag_node *recurrent_layer(ag_graph *g, bool gru, ag_tensor *const *t)
{
    ag_node *n[5];
    for (int k = 0; k < 5; k++) n[k] = ag_param(g, t[k]);
    ag_node *out = NULL, *h_n = NULL, *c_n = NULL;
    bool ok = gru ? ag_gru(n[0], NULL, n[1], n[2], n[3], n[4], &out, &h_n)
                  : ag_lstm(n[0], NULL, NULL, n[1], n[2], n[3], n[4], &out, &h_n, &c_n);
    ck_assert_msg(ok, "%s: %s", gru ? "ag_gru" : "ag_lstm", ag_graph_error(g));
    /* a loss that reads every output and the final state */
    ag_node *loss = ag_add(ag_sum(ag_mul(out, out)), ag_sum(h_n));
    return gru ? loss : ag_add(loss, ag_sum(c_n));
}

START_TEST(recurrent_layers_run_in_float32)
{
    enum { T = 5, N = 3, I = 4, H = 6 };
    for (int gru = 0; gru <= 1; gru++) {
        int G = gru ? 3 : 4;
        test_rng r = {31 + (uint64_t)gru};
        ag_tensor *t32[5] = {random_f32(&r, 3, (int[]){T, N, I}, 1.0), random_f32(&r, 2, (int[]){G * H, I}, 0.4),
                             random_f32(&r, 2, (int[]){G * H, H}, 0.4), random_f32(&r, 1, (int[]){G * H}, 0.4),
                             random_f32(&r, 1, (int[]){G * H}, 0.4)};
        ag_tensor *t64[5];
        for (int k = 0; k < 5; k++) t64[k] = ag_tensor_to_dtype(t32[k], AG_FLOAT64);
        ag_graph *g32 = ag_graph_new(), *g64 = ag_graph_new();
        ag_node *l32 = recurrent_layer(g32, gru, t32), *l64 = recurrent_layer(g64, gru, t64);
        ck_assert_int_eq(ag_node_dtype(l32), AG_FLOAT32);
        ck_assert(ag_backward(g32, l32) && ag_backward(g64, l64));
        assert_close_f32("loss", gru ? "gru" : "lstm", 1, node_element, l32, node_element, l64);
        for (int k = 0; k < 5; k++)
            assert_close_f32("gradient", gru ? "gru" : "lstm", ag_tensor_size(t64[k]), grad_element, t32[k],
                             grad_element, t64[k]);
        ag_graph_free(g32);
        ag_graph_free(g64);
        for (int k = 0; k < 5; k++) ag_tensor_free(t32[k]), ag_tensor_free(t64[k]);
    }
}
END_TEST

/* ---- tensors and the type rules -------------------------------------------------- */

START_TEST(float32_tensors_round_their_values_and_refuse_float64_access)
{
    ag_tensor *t = ag_tensor_zeros_dtype(2, (int[]){2, 3}, AG_FLOAT32);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(ag_tensor_dtype(t), AG_FLOAT32);
    ck_assert(ag_tensor_set(t, 4, 1.0 / 3.0));
    /* the float nearest 1/3 is 11184811 / 2^25 */
    ck_assert_double_eq(ag_tensor_get(t, 4), 11184811.0 / 33554432.0);
    ck_assert_float_eq(ag_tensor_data_f32(t)[4], (float)(1.0 / 3.0));
    ck_assert_ptr_null(ag_tensor_data(t));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "float32"));
    ck_assert(!ag_tensor_set(t, 6, 1.0));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "out of range"));
    ag_tensor *wide = ag_tensor_to_dtype(t, AG_FLOAT64);
    ck_assert_double_eq(ag_tensor_data(wide)[4], 11184811.0 / 33554432.0);
    ck_assert_ptr_null(ag_tensor_data_f32(wide));
    ck_assert_ptr_null(ag_tensor_zeros_dtype(1, (int[]){2}, (ag_dtype)7));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "unknown element type"));
    ck_assert_str_eq(ag_dtype_name(AG_FLOAT32), "float32");
    ck_assert_str_eq(ag_dtype_name(AG_FLOAT64), "float64");
    ag_tensor_free(t);
    ag_tensor_free(wide);
}
END_TEST

START_TEST(mixing_types_in_one_op_is_an_error_naming_both)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *a = ag_tensor_zeros(2, (int[]){2, 3});
    ag_tensor *b = ag_tensor_zeros_dtype(2, (int[]){2, 3}, AG_FLOAT32);
    ck_assert_ptr_null(ag_add(ag_input(g, a), ag_input(g, b)));
    const char *e = ag_graph_error(g);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(e, "ag_add") && strstr(e, "float64") && strstr(e, "float32") && strstr(e, "ag_cast"), "%s", e);
    ag_graph_reset(g);
    /* indices are in the data's type too: float64 indices of float32 data are refused */
    ag_tensor *idx = ag_tensor_zeros(1, (int[]){2});
    ck_assert_ptr_null(ag_index_select(ag_input(g, b), 1, ag_input(g, idx)));
    e = ag_graph_error(g);
    ck_assert_msg(e && strstr(e, "ag_index_select") && strstr(e, "float64") && strstr(e, "float32"), "%s",
                  e ? e : "(none)");
    ag_tensor_free(idx);
    ag_graph_reset(g);
    /* a float32 node refuses the float64 accessors and the study calls */
    ag_node *x = ag_input(g, b);
    ck_assert_int_eq(ag_node_dtype(x), AG_FLOAT32);
    ck_assert_ptr_null(ag_node_value(x));
    ck_assert_ptr_nonnull(ag_node_value_f32(x));
    ck_assert_ptr_null(ag_jacobian_rev(g, ag_sum(x), x));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "float32"));
    ag_graph_free(g);
    ag_tensor_free(a);
    ag_tensor_free(b);
}
END_TEST

/* cast(x) rounds to nearest; its gradient is the seed converted back:
 * d sum(w * cast(x)) / dx = w */
START_TEST(cast_rounds_and_passes_the_gradient_back)
{
    ag_graph *g = ag_graph_new();
    double xs[3] = {1.0 / 3.0, -2.5, 1e-3};
    ag_tensor *x = ag_tensor_from(1, (int[]){3}, xs);
    ag_tensor_requires_grad(x, true);
    float ws[3] = {0.5f, -1.25f, 3.0f};
    ag_tensor *w = ag_tensor_from_f32(1, (int[]){3}, ws);
    ag_node *y = ag_cast(ag_param(g, x), AG_FLOAT32);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_node_dtype(y), AG_FLOAT32);
    for (int k = 0; k < 3; k++) ck_assert_float_eq(ag_node_value_f32(y)[k], (float)xs[k]);
    ag_node *loss = ag_sum(ag_mul(ag_input(g, w), y));
    ck_assert(ag_backward(g, loss));
    for (int k = 0; k < 3; k++) ck_assert_double_eq(ag_tensor_grad(x)[k], (double)ws[k]);
    /* back to float64: exact */
    ag_node *back = ag_cast(y, AG_FLOAT64);
    for (int k = 0; k < 3; k++) ck_assert_double_eq(ag_node_value(back)[k], (double)(float)xs[k]);
    ck_assert_ptr_null(ag_cast(y, (ag_dtype)9));
    ck_assert_ptr_nonnull(strstr(ag_graph_error(g), "unknown element type"));
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_tensor_free(w);
}
END_TEST

/* ---- optimisers ------------------------------------------------------------------------ */

/* One Adam step from p = 1 with gradient 0.5 (PyTorch's formula, in float):
 * m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25, p' = 1 - lr 0.5 / (0.5 + eps).
 * SGD with momentum 0.9, two steps of gradient 0.5: b1 = 0.5, p1 = 1 - 0.05;
 * b2 = 0.9 * 0.5 + 0.5 = 0.95, p2 = p1 - 0.095. */
START_TEST(optimisers_update_float32_parameters_in_float)
{
    ag_tensor *p = ag_tensor_zeros_dtype(1, (int[]){1}, AG_FLOAT32);
    ag_tensor_requires_grad(p, true);
    ag_tensor_data_f32(p)[0] = 1.0f;
    ag_optimizer_config adam = ag_adam_config(0.1);
    ag_optimizer *o = ag_optimizer_new(1, &p, &adam);
    ck_assert_ptr_nonnull(o);
    ag_tensor_grad_f32(p)[0] = 0.5f;
    ag_optimizer_step(o);
    float expect = 1.0f - 0.1f * (0.5f / (0.5f + 1e-8f));
    ck_assert_float_eq_tol(ag_tensor_data_f32(p)[0], expect, 3e-7f); /* a few float ulps of 0.9 */
    ag_optimizer_zero_grad(o);
    ck_assert_float_eq(ag_tensor_grad_f32(p)[0], 0.0f);
    ag_optimizer_free(o);

    ag_tensor_data_f32(p)[0] = 1.0f;
    ag_optimizer_config sgd = ag_sgd_config(0.1);
    sgd.momentum = 0.9;
    o = ag_optimizer_new(1, &p, &sgd);
    for (int step = 0; step < 2; step++) {
        ag_tensor_grad_f32(p)[0] = 0.5f;
        ag_optimizer_step(o);
    }
    ck_assert_float_eq_tol(ag_tensor_data_f32(p)[0], 1.0f - 0.05f - 0.095f, 3e-7f);
    ag_optimizer_free(o);
    ag_tensor_free(p);
}
END_TEST

/* ---- a small network trained in both types ------------------------------------------- */

enum { NET_IN = 6, NET_HIDDEN = 16, NET_OUT = 3, NET_BATCH = 32, NET_STEPS = 30 };

typedef struct net {
    ag_tensor *w1, *b1, *w2, *b2, *x, *y;
    ag_tensor *params[4];
    ag_optimizer *opt;
    ag_graph *g;
    ag_node *loss;
} net;

/* The same draws for both types (float32 ones rounded from them) */
static void net_make(net *n, ag_dtype dtype, uint64_t seed)
{
    ag_rng state = ag_rng_new(seed), *rng = &state;
    n->w1 = ag_tensor_zeros_dtype(2, (int[]){NET_IN, NET_HIDDEN}, dtype);
    n->b1 = ag_tensor_zeros_dtype(1, (int[]){NET_HIDDEN}, dtype);
    n->w2 = ag_tensor_zeros_dtype(2, (int[]){NET_HIDDEN, NET_OUT}, dtype);
    n->b2 = ag_tensor_zeros_dtype(1, (int[]){NET_OUT}, dtype);
    n->x = ag_tensor_zeros_dtype(2, (int[]){NET_BATCH, NET_IN}, dtype);
    n->y = ag_tensor_zeros_dtype(1, (int[]){NET_BATCH}, dtype);
    ag_init_he_uniform(n->w1, rng);
    ag_init_uniform(n->b1, rng, -0.1, 0.1);
    ag_init_he_uniform(n->w2, rng);
    ag_init_uniform(n->b2, rng, -0.1, 0.1);
    ag_init_normal(n->x, rng, 0.0, 1.0);
    for (int i = 0; i < NET_BATCH; i++) /* the class is the sign pattern of two inputs */
        ag_tensor_set(n->y, (size_t)i, (ag_tensor_get(n->x, (size_t)i * NET_IN) > 0) + (ag_tensor_get(n->x, (size_t)i * NET_IN + 1) > 0));
    ag_tensor *ps[4] = {n->w1, n->b1, n->w2, n->b2};
    for (int k = 0; k < 4; k++) {
        n->params[k] = ps[k];
        ag_tensor_requires_grad(ps[k], true);
    }
    ag_optimizer_config c = ag_adam_config(1e-2);
    n->opt = ag_optimizer_new(4, n->params, &c);
    n->g = ag_graph_new();
    ag_node *h = ag_relu(ag_linear(ag_input(n->g, n->x), ag_param(n->g, n->w1), ag_param(n->g, n->b1)));
    n->loss = ag_softmax_xent(ag_linear(h, ag_param(n->g, n->w2), ag_param(n->g, n->b2)), ag_input(n->g, n->y));
    ck_assert_msg(n->loss != NULL, "%s", ag_graph_error(n->g));
}

static double net_step(net *n)
{
    ck_assert(ag_graph_forward(n->g));
    double loss = ag_node_get(n->loss, 0);
    ag_optimizer_zero_grad(n->opt);
    ck_assert(ag_backward(n->g, n->loss));
    ag_optimizer_step(n->opt);
    return loss;
}

static void net_free(net *n)
{
    ag_graph_free(n->g);
    ag_optimizer_free(n->opt);
    ag_tensor *all[6] = {n->w1, n->b1, n->w2, n->b2, n->x, n->y};
    for (int k = 0; k < 6; k++) ag_tensor_free(all[k]);
}

/* The loss curves of the two types agree to float rounding, amplified a
 * little by 30 Adam steps (2e-3 relative), and the network learns (the
 * loss falls by more than a third). */
START_TEST(a_network_trains_alike_in_float32_and_float64)
{
    net a, b;
    net_make(&a, AG_FLOAT32, 7);
    net_make(&b, AG_FLOAT64, 7);
    ck_assert_int_eq(ag_node_dtype(a.loss), AG_FLOAT32);
    double first = 0.0, last32 = 0.0, last64 = 0.0;
    for (int s = 0; s < NET_STEPS; s++) {
        last32 = net_step(&a);
        last64 = net_step(&b);
        if (s == 0) first = last64;
        ck_assert_msg(fabs(last32 - last64) <= 2e-3 * fabs(last64), "step %d: float32 loss %.9g, float64 %.17g", s,
                      last32, last64);
    }
    ck_assert_msg(last64 < 0.66 * first, "loss %.6g -> %.6g", first, last64);
    net_free(&a);
    net_free(&b);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------------------------- */

/* A store of float32 tensors saves as F32 (the header says so, and the data
 * is 4 bytes an element) and restores bit for bit into float32 tensors. */
START_TEST(float32_parameters_checkpoint_as_f32_and_restore_exactly)
{
    char dir[64], path[128];
    scratch_create(dir, path, "f32", "f32.safetensors");
    ag_params *ps = ag_params_new();
    ag_tensor *w = ag_params_add_dtype(ps, "w", 2, (int[]){2, 2}, AG_FLOAT32);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(ag_tensor_dtype(w), AG_FLOAT32);
    ck_assert_ptr_nonnull(ag_tensor_grad_f32(w)); /* a parameter: it requires grad */
    ck_assert_uint_eq(ag_params_trainable(ps, NULL, 0), 1);
    const float vals[4] = {1.0f / 3.0f, -2.5f, 1e-30f, 65504.0f};
    memcpy(ag_tensor_data_f32(w), vals, sizeof vals);
    ck_assert(ag_checkpoint_save(ps, path));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char head[8];
    ck_assert_uint_eq(fread(head, 1, 8, f), 8);
    size_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen * 256 + head[k];
    char *header = calloc(hlen + 1, 1);
    ck_assert_uint_eq(fread(header, 1, hlen, f), hlen);
    fclose(f);
    ck_assert_msg(strstr(header, "\"dtype\":\"F32\"") && strstr(header, "\"data_offsets\":[0,16]"), "%s", header);
    free(header);
    memset(ag_tensor_data_f32(w), 0, sizeof vals);
    ck_assert_msg(ag_checkpoint_load(ps, path), "%s", ag_last_error());
    ck_assert_mem_eq(ag_tensor_data_f32(w), vals, sizeof vals);
    ag_params_free(ps);
    scratch_remove(dir, path);
}
END_TEST

/* A float32 network in a store, trained with Adam: 2N steps in one run
 * equal N steps, a training checkpoint, a fresh store and optimiser loading
 * it, and N more steps, bit for bit (the moments are saved as F32, so
 * nothing is rounded on the way). */
typedef struct stored_net {
    ag_params *ps;
    ag_tensor *w, *x, *y;
    ag_optimizer *opt;
    ag_graph *g;
    ag_node *loss;
} stored_net;

static void stored_net_make(stored_net *n)
{
    n->ps = ag_params_new();
    n->w = ag_params_add_dtype(n->ps, "w", 2, (int[]){4, 3}, AG_FLOAT32);
    ag_rng rng = ag_rng_new(11);
    ag_init_normal(n->w, &rng, 0.0, 0.5);
    n->x = ag_tensor_zeros_dtype(2, (int[]){8, 4}, AG_FLOAT32);
    n->y = ag_tensor_zeros_dtype(1, (int[]){8}, AG_FLOAT32);
    ag_init_normal(n->x, &rng, 0.0, 1.0);
    for (size_t i = 0; i < 8; i++) ag_tensor_set(n->y, i, (double)(i % 3));
    ag_optimizer_config c = ag_adam_config(0.05);
    n->opt = ag_optimizer_new(1, &n->w, &c);
    n->g = ag_graph_new();
    n->loss = ag_softmax_xent(ag_matmul(ag_input(n->g, n->x), ag_param(n->g, n->w)), ag_input(n->g, n->y));
    ck_assert_msg(n->loss && n->opt, "%s", n->g ? ag_graph_error(n->g) : ag_last_error());
}

static void stored_net_steps(stored_net *n, int steps)
{
    for (int s = 0; s < steps; s++) {
        ck_assert(ag_graph_forward(n->g));
        ag_optimizer_zero_grad(n->opt);
        ck_assert(ag_backward(n->g, n->loss));
        ag_optimizer_step(n->opt);
    }
}

static void stored_net_free(stored_net *n)
{
    ag_graph_free(n->g);
    ag_optimizer_free(n->opt);
    ag_params_free(n->ps);
    ag_tensor_free(n->x);
    ag_tensor_free(n->y);
}

START_TEST(float32_training_resumes_bit_for_bit)
{
    char dir[64], path[128];
    scratch_create(dir, path, "f32resume", "train.safetensors");
    stored_net once, first, second;
    stored_net_make(&once);
    stored_net_steps(&once, 10);
    stored_net_make(&first);
    stored_net_steps(&first, 5);
    ck_assert(ag_checkpoint_save_training(first.ps, &(ag_training_state){.optimizer = first.opt}, path));
    stored_net_make(&second);
    ck_assert_msg(ag_checkpoint_load_training(second.ps, &(ag_training_state){.optimizer = second.opt}, path), "%s",
                  ag_last_error());
    ck_assert_int_eq(ag_optimizer_steps(second.opt), 5);
    stored_net_steps(&second, 5);
    ck_assert_mem_eq(ag_tensor_data_f32(second.w), ag_tensor_data_f32(once.w), 12 * sizeof(float));
    /* and the run was not standing still */
    ck_assert(ag_tensor_data_f32(once.w)[0] != ag_tensor_data_f32(first.w)[0]);
    stored_net_free(&once);
    stored_net_free(&first);
    stored_net_free(&second);
    scratch_remove(dir, path);
}
END_TEST

/* ---- TestNet in float32 against the hand derivation ---------------------------------- */

/* The seed's TestNet and random ones (weights in [-1, 1]) in float32: J and
 * every gradient within 1e-6 (the seed's) or 1e-5 (random ones, whose sums
 * may cancel) of the float64 hand derivation, relative to the gradient
 * vector's largest element (a few float roundings of 2^-24 each; the
 * derivation is in testnet_hand.c). */
static void check_testnet_f32(const testnet_params *P, const double a0[TN_IN], int label, double rtol)
{
    testnet_forward F;
    testnet_grads G;
    testnet_hand_forward(P, a0, label, &F);
    testnet_hand_backward(P, a0, label, &F, &G);
    testnet_f32_result r;
    ck_assert_msg(testnet_float32_run(P, a0, label, &r), "%s", ag_last_error());
    ck_assert_msg(fabs(r.J - F.J) <= rtol * fabs(F.J), "J %.9g vs %.17g", r.J, F.J);
    const double *got[4] = {&r.W1[0][0], r.b1, &r.W2[0][0], r.b2};
    const double *want[4] = {&G.W1[0][0], G.b1, &G.W2[0][0], G.b2};
    const size_t n[4] = {12, 4, 8, 2};
    for (int k = 0; k < 4; k++) {
        double scale = 0.0;
        for (size_t i = 0; i < n[k]; i++) scale = fmax(scale, fabs(want[k][i]));
        for (size_t i = 0; i < n[k]; i++)
            ck_assert_msg(fabs(got[k][i] - want[k][i]) <= rtol * scale + 1e-12,
                          "gradient %d element %zu: float32 %.9g, hand %.17g", k, i, got[k][i], want[k][i]);
    }
}

START_TEST(testnet_in_float32_matches_the_hand_derivation_to_float_precision)
{
    check_testnet_f32(&testnet_weights, testnet_a0, testnet_label, 1e-6);
    test_rng r = {2024};
    for (int trial = 0; trial < 20; trial++) {
        testnet_params P;
        double *w = &P.W1[0][0];
        for (size_t i = 0; i < sizeof P / sizeof(double); i++) w[i] = rng_uniform(&r, -1.0, 1.0);
        double a0[TN_IN] = {rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2)};
        check_testnet_f32(&P, a0, rng_int(&r, 0, 1), 1e-5); /* sums that cancel lose more digits */
    }
}
END_TEST

Suite *float32_suite(void)
{
    collect_f32_ops();
    Suite *s = suite_create("float32");
    TCase *ops = tcase_create("float32 kernels");
    tcase_add_loop_test(ops, float32_kernels_agree_with_float64, 0, n_f32_ops);
    tcase_add_test(ops, every_op_has_float32_kernels);
    tcase_add_test(ops, batch_norm_in_float32_moves_its_running_statistics);
    tcase_add_test(ops, recurrent_layers_run_in_float32);
    tcase_add_test(ops, batch_norm_eval_reads_float32_running_statistics_from_float64);
    suite_add_tcase(s, ops);
    TCase *types = tcase_create("types");
    tcase_add_test(types, float32_tensors_round_their_values_and_refuse_float64_access);
    tcase_add_test(types, mixing_types_in_one_op_is_an_error_naming_both);
    tcase_add_test(types, cast_rounds_and_passes_the_gradient_back);
    suite_add_tcase(s, types);
    TCase *training = tcase_create("training");
    tcase_add_test(training, optimisers_update_float32_parameters_in_float);
    tcase_add_test(training, a_network_trains_alike_in_float32_and_float64);
    tcase_add_test(training, float32_parameters_checkpoint_as_f32_and_restore_exactly);
    tcase_add_test(training, testnet_in_float32_matches_the_hand_derivation_to_float_precision);
    tcase_add_test(training, float32_training_resumes_bit_for_bit);
    suite_add_tcase(s, training);
    return s;
}
