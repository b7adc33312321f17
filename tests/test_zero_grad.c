/* test_zero_grad.c -- gradients zeroed lazily (ag_optimizer_zero_grad_lazily).
 *
 * The expectation is the eager call's: a network trained with
 * ag_optimizer_zero_grad and its copy trained with the lazy one reach the
 * same parameters after every step, in both element types, replayed and
 * rebuilt, with SGD (momentum) and Adam. The network has the cases the
 * backward tells apart: weights whose first vjp is a large product (it
 * writes the gradient with beta 0), one weight used by two products (the
 * second adds), biases, and a parameter first reached by an elementwise op
 * (zeroed by the sweep). Then every reader of a pending gradient sees
 * zeros: the accessors, a leaf's gradient, the optimiser, clipping,
 * ag_grad, anomaly detection, a backward that does not reach it. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

enum { BATCH = 32, IN = 40, HID = 48, OUT = 5, N_PARAMS = 6 };

typedef struct net {
    ag_tensor *x, *labels, *p[N_PARAMS]; /* W1 [IN,HID], b1, W2 [HID,HID], W3 [HID,OUT], b3, scale [OUT] */
    ag_graph *g;
    ag_node *loss;
    ag_optimizer *opt;
} net;

static ag_tensor *uniform(test_rng *r, int ndim, const int *dims, double bound, ag_dtype dtype)
{
    ag_tensor *t = ag_tensor_zeros_dtype(ndim, dims, dtype);
    ck_assert_ptr_nonnull(t);
    for (size_t k = 0; k < ag_tensor_size(t); k++) ag_tensor_set(t, k, rng_uniform(r, -bound, bound));
    return t;
}

/* the same network (same seed) in `dtype` */
static void net_init(net *n, ag_dtype dtype, const ag_optimizer_config *cfg)
{
    test_rng r = {2024};
    n->x = uniform(&r, 2, (int[]){BATCH, IN}, 1.0, dtype);
    n->labels = ag_tensor_zeros_dtype(1, (int[]){BATCH}, dtype);
    for (int i = 0; i < BATCH; i++) ag_tensor_set(n->labels, (size_t)i, i % OUT);
    const int dims[N_PARAMS][2] = {{IN, HID}, {HID, 0}, {HID, HID}, {HID, OUT}, {OUT, 0}, {OUT, 0}};
    for (int k = 0; k < N_PARAMS; k++) {
        int nd = dims[k][1] ? 2 : 1;
        n->p[k] = uniform(&r, nd, dims[k], k == 5 ? 2.0 : 0.3, dtype);
        ck_assert(ag_tensor_requires_grad(n->p[k], true));
    }
    n->g = ag_graph_new();
    n->opt = ag_optimizer_new(N_PARAMS, n->p, cfg);
    ck_assert_ptr_nonnull(n->opt);
}

static void net_record(net *n)
{
    ag_graph *g = n->g;
    ag_node *P[N_PARAMS];
    for (int k = 0; k < N_PARAMS; k++) P[k] = ag_param(g, n->p[k]);
    ag_node *h = ag_relu(ag_linear(ag_input(g, n->x), P[0], P[1]));
    h = ag_matmul(ag_tanh(ag_matmul(h, P[2])), P[2]); /* W2 twice */
    ag_node *logits = ag_mul(ag_linear(h, P[3], P[4]), P[5]);
    n->loss = ag_softmax_xent(logits, ag_input(g, n->labels));
    ck_assert_ptr_nonnull(n->loss);
}

static void net_free(net *n)
{
    ag_optimizer_free(n->opt);
    ag_graph_free(n->g);
    for (int k = 0; k < N_PARAMS; k++) ag_tensor_free(n->p[k]);
    ag_tensor_free(n->x);
    ag_tensor_free(n->labels);
}

static void net_step(net *n, bool replay, bool lazily)
{
    if (replay && n->loss) {
        ck_assert(ag_graph_forward(n->g));
    } else {
        ag_graph_reset(n->g);
        net_record(n);
    }
    ck_assert_msg(ag_backward(n->g, n->loss), "%s", ag_graph_error(n->g));
    ag_optimizer_step(n->opt);
    if (lazily)
        ag_optimizer_zero_grad_lazily(n->opt);
    else
        ag_optimizer_zero_grad(n->opt);
}

/* every parameter of a equal to b's (the same arithmetic: 0 + s is s) */
static void assert_same_params(const net *a, const net *b, const char *what, int step)
{
    for (int k = 0; k < N_PARAMS; k++)
        for (size_t i = 0; i < ag_tensor_size(a->p[k]); i++) {
            double u = ag_tensor_get(a->p[k], i), v = ag_tensor_get(b->p[k], i);
            ck_assert_in_loop(u == v, "%s step %d: param %d[%zu] %.17g eager, %.17g lazily", what, step, k, i, u,
                              v);
        }
}

static void train_both_ways(ag_dtype dtype, const ag_optimizer_config *cfg, bool replay, const char *what)
{
    net eager = {0}, lazy = {0};
    net_init(&eager, dtype, cfg);
    net_init(&lazy, dtype, cfg);
    for (int step = 0; step < 4; step++) {
        net_step(&eager, replay, false);
        net_step(&lazy, replay, true);
        assert_same_params(&eager, &lazy, what, step);
        ck_assert(ag_tensor_get(eager.p[0], 0) != ag_tensor_get(eager.p[0], 1)); /* it trained */
    }
    /* and the lazily zeroed gradients read as zeros */
    for (int k = 0; k < N_PARAMS; k++) {
        bool f32 = dtype == AG_FLOAT32;
        for (size_t i = 0; i < ag_tensor_size(lazy.p[k]); i++) {
            double gv = f32 ? ag_tensor_grad_f32(lazy.p[k])[i] : ag_tensor_grad(lazy.p[k])[i];
            ck_assert_in_loop(gv == 0.0, "%s: param %d grad[%zu] = %g after the lazy zero", what, k, i, gv);
        }
    }
    ck_assert_int_eq(ag_grad_zeros_pending(), 0);
    net_free(&eager);
    net_free(&lazy);
}

START_TEST(lazily_zeroed_training_matches_eager_zeroing)
{
    ag_optimizer_config sgd = ag_sgd_config(0.05), adam = ag_adam_config(0.01);
    sgd.momentum = 0.9;
    const ag_dtype types[2] = {AG_FLOAT64, AG_FLOAT32};
    for (int t = 0; t < 2; t++)
        for (int replay = 0; replay < 2; replay++) {
            char what[64];
            snprintf(what, sizeof what, "%s %s sgd", t ? "float32" : "float64", replay ? "replay" : "rebuild");
            train_both_ways(types[t], &sgd, replay, what);
            snprintf(what, sizeof what, "%s %s adam", t ? "float32" : "float64", replay ? "replay" : "rebuild");
            train_both_ways(types[t], &adam, replay, what);
        }
}
END_TEST

/* a gradient filled with v, then zeroed lazily */
static void fill_then_defer(ag_tensor *t, double v)
{
    double *g = ag_tensor_grad(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) g[i] = v;
}

START_TEST(pending_zeros_read_as_zeros_everywhere)
{
    test_rng r = {7};
    ag_tensor *w = uniform(&r, 2, (int[]){3, 2}, 1.0, AG_FLOAT64);
    ag_tensor *u = uniform(&r, 1, (int[]){3}, 1.0, AG_FLOAT64);
    ck_assert(ag_tensor_requires_grad(w, true) && ag_tensor_requires_grad(u, true));
    ag_tensor *params[2] = {w, u};
    ag_optimizer_config cfg = ag_sgd_config(0.1);
    cfg.weight_decay = 0.5; /* the step moves w by 0.1 * 0.5 * w when its gradient is zero */
    ag_optimizer *o = ag_optimizer_new(2, params, &cfg);
    double *raw = w->grad; /* the buffer itself, as a pointer kept from before would see it */

    /* the accessors write the zeros */
    fill_then_defer(w, NAN);
    ag_optimizer_zero_grad_lazily(o);
    ck_assert_int_eq(ag_grad_zeros_pending(), 2);
    ck_assert(isnan(raw[0])); /* not written yet */
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_grad(w)[i] == 0.0);
    ck_assert_int_eq(ag_grad_zeros_pending(), 1);

    /* a leaf's gradient, a graph that does not reach u, anomaly detection */
    fill_then_defer(w, NAN);
    fill_then_defer(u, 7.0);
    ag_optimizer_zero_grad_lazily(o);
    ag_graph *g = ag_graph_new();
    ag_graph_set_detect_anomaly(g, true);
    ag_node *lw = ag_param(g, w), *lu = ag_param(g, u);
    ag_node *loss = ag_sum(ag_mul(lw, lw)); /* d/dw = 2 w */
    ck_assert_msg(ag_backward(g, loss), "anomaly on a pending gradient: %s", ag_graph_error(g));
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_tensor_grad(w)[i], 2 * ag_tensor_get(w, (size_t)i));
    ck_assert(ag_node_grad(lu)[0] == 0.0 && ag_node_grad(lu)[2] == 0.0);

    /* clipping and the optimiser read zeros */
    fill_then_defer(w, 1e6);
    ag_optimizer_zero_grad_lazily(o);
    ck_assert_double_eq(ag_clip_grad_norm(2, params, 1.0), 0.0);
    fill_then_defer(w, 1e6);
    ag_optimizer_zero_grad_lazily(o);
    double before = ag_tensor_get(w, 1);
    ag_optimizer_step(o);
    ck_assert_double_eq_tol(ag_tensor_get(w, 1), before * (1 - 0.1 * 0.5), 1e-15);

    /* ag_grad gathers into buffers of its own and leaves the tensor's as it was: zeros */
    fill_then_defer(w, 3.0);
    ag_optimizer_zero_grad_lazily(o);
    ag_node *dw;
    ck_assert(ag_grad(g, loss, 1, &lw, &dw, false));
    ck_assert_double_eq(ag_node_get(dw, 1), 2 * ag_tensor_get(w, 1));
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_grad(w)[i] == 0.0);

    /* a tensor freed with its zero pending leaves no count behind */
    ag_optimizer_zero_grad_lazily(o);
    ag_graph_free(g);
    ag_optimizer_free(o);
    ag_tensor_free(w);
    ag_tensor_free(u);
    ck_assert_int_eq(ag_grad_zeros_pending(), 0);
}
END_TEST

Suite *zero_grad_suite(void)
{
    Suite *s = suite_create("zero_grad");
    TCase *tc = tcase_create("lazily");
    tcase_add_test(tc, lazily_zeroed_training_matches_eager_zeroing);
    tcase_add_test(tc, pending_zeros_read_as_zeros_everywhere);
    suite_add_tcase(s, tc);
    return s;
}
