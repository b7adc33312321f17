/* test_study.c -- the study tools: forward mode, Jacobians, gradcheck,
 * compare, the backward trace and the graph picture. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"
#include "testnet_model.h"

#define TRIALS 8

/* The seed's fixed TestNet recorded on a new graph (and its backward run
 * when asked); free with ag_graph_free and testnet_model_free. */
static ag_graph *testnet_recorded(testnet_model *m, bool run_backward)
{
    ck_assert(testnet_model_init(m, &testnet_weights, testnet_a0, testnet_label));
    ag_graph *g = ag_graph_new();
    ck_assert_msg(testnet_model_record(m, g), "%s", ag_graph_error(g));
    if (run_backward) ck_assert(ag_backward(g, m->J));
    return g;
}

/* The first node of g named `name`, or NULL. */
static ag_node *node_named(const ag_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (strcmp(ag_node_name(g->nodes[i]), name) == 0) return g->nodes[i];
    return NULL;
}

/* <u, J v> from a JVP must equal <J^T u, v> from a VJP, for random u and v. */
START_TEST(jvp_and_vjp_are_adjoint_for_every_op)
{
    const char *name = registry_name((size_t)_i);
    test_rng r = {0xad7u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe_for(name) != NULL, "op '%s' has no recipe", name);
        ck_assert_msg(recipe_for(name)(g, &r, &c), "%s: %s", name, ag_graph_error(g));
        size_t m = ag_node_size(c.out);
        double *u = malloc(m * sizeof *u), *v[OP_CASE_MAX] = {NULL};
        for (size_t i = 0; i < m; i++) u[i] = rng_uniform(&r, -1, 1);
        for (int p = 0; p < c.n_params; p++) {
            v[p] = malloc(ag_tensor_size(c.params[p]) * sizeof(double));
            for (size_t j = 0; j < ag_tensor_size(c.params[p]); j++) v[p][j] = rng_uniform(&r, -1, 1);
        }
        ck_assert(ag_jvp(g, (size_t)c.n_params, c.param_nodes, (const double *const *)v));
        ck_assert(ag_backward_seed(g, c.out, u));
        double u_Jv = 0.0, JTu_v = 0.0, scale = 0.0;
        for (size_t i = 0; i < m; i++) u_Jv += u[i] * ag_node_tangent(c.out)[i];
        for (int p = 0; p < c.n_params; p++)
            for (size_t j = 0; j < ag_tensor_size(c.params[p]); j++) {
                JTu_v += ag_tensor_grad(c.params[p])[j] * v[p][j];
                scale += fabs(ag_tensor_grad(c.params[p])[j] * v[p][j]);
            }
        ck_assert_msg(fabs(u_Jv - JTu_v) <= 1e-12 * (1 + scale), "%s: <u,Jv> = %.17g, <J^T u,v> = %.17g",
                      name, u_Jv, JTu_v);
        ck_assert_msg(scale > 1e-8, "%s: all-zero products prove nothing", name);
        for (int p = 0; p < c.n_params; p++) free(v[p]);
        free(u);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

static void assert_jacobians_agree(ag_graph *g, ag_node *out, ag_node *wrt, const char *what)
{
    ag_tensor *rev = ag_jacobian_rev(g, out, wrt), *fwd = ag_jacobian_fwd(g, out, wrt);
    ck_assert_msg(rev && fwd, "%s: %s", what, ag_graph_error(g));
    ck_assert_int_eq(ag_tensor_dim(rev, 0), ag_node_size(out));
    ck_assert_int_eq(ag_tensor_dim(rev, 1), ag_node_size(wrt));
    ag_diff d = ag_compare(NULL, NULL, NULL, NULL, ag_tensor_size(rev), ag_tensor_data(rev),
                           ag_tensor_data(fwd), 1e-12);
    ck_assert_msg(d.pass, "%s: reverse and forward Jacobians differ by %g at %zu", what, d.max_abs, d.worst);
    ag_tensor_free(rev);
    ag_tensor_free(fwd);
}

START_TEST(jacobians_agree_for_every_op)
{
    const char *name = registry_name((size_t)_i);
    test_rng r = {0x7acu + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe_for(name) != NULL, "op '%s' has no recipe", name);
        ck_assert(recipe_for(name)(g, &r, &c));
        for (int p = 0; p < c.n_params; p++) assert_jacobians_agree(g, c.out, c.param_nodes[p], name);
        /* a second leaf of the first operand's tensor: a Jacobian is with
         * respect to one node, not to every leaf of its tensor */
        ag_node *twin = ag_param(g, c.params[0]);
        ag_node *shared = ag_add(ag_sum(c.out), ag_sum(ag_mul(twin, twin)));
        ck_assert_msg(shared != NULL, "%s: %s", name, ag_graph_error(g));
        for (int p = 0; p < c.n_params; p++) assert_jacobians_agree(g, shared, c.param_nodes[p], name);
        assert_jacobians_agree(g, shared, twin, name);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

START_TEST(testnet_jacobians)
{
    testnet_model m;
    ag_graph *g = testnet_recorded(&m, true);
    double dW1_before = ag_tensor_grad(m.W1)[0];
    assert_jacobians_agree(g, m.a1, m.z1, "da1/dz1");
    assert_jacobians_agree(g, m.p, m.z2, "dp/dz2");
    assert_jacobians_agree(g, m.z2, m.a1, "dz2/da1");
    assert_jacobians_agree(g, m.J, m.z1, "dJ/dz1");
    ag_node *W1 = node_named(g, "W1"); /* the parameter leaf */
    ck_assert_ptr_nonnull(W1);
    assert_jacobians_agree(g, m.z2, W1, "dz2/dW1");
    ck_assert(ag_tensor_grad(m.W1)[0] == dW1_before); /* parameter gradients left as they were */

    /* closed forms: dp/dz2 = diag(p) - p p^T; dz2/da1 = W2 */
    testnet_forward F;
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    ag_tensor *Jp = ag_jacobian_fwd(g, m.p, m.z2), *Jz = ag_jacobian_rev(g, m.z2, m.a1);
    for (int i = 0; i < TN_OUT; i++) {
        for (int j = 0; j < TN_OUT; j++)
            ck_assert_close(ag_tensor_data(Jp)[i * TN_OUT + j], (i == j ? F.p[i] : 0) - F.p[i] * F.p[j], 1e-14);
        for (int j = 0; j < TN_HID; j++)
            ck_assert_close(ag_tensor_data(Jz)[i * TN_HID + j], testnet_weights.W2[i][j], 1e-15);
    }
    ag_tensor_free(Jp);
    ag_tensor_free(Jz);
    ag_graph_free(g);
    testnet_model_free(&m);
}
END_TEST

START_TEST(jacobian_of_one_of_two_leaves_of_a_tensor)
{
    /* y = p1 * p2, p1 and p2 two leaves of t = (3, 5): dy/dp1 = diag(p2) =
     * diag(3, 5) by either mode (the reverse mode gave diag(6, 10), the sum
     * over both leaves) */
    ag_graph *g = ag_graph_new();
    ag_tensor *t = ag_tensor_from(1, (int[]){2}, (double[]){3, 5});
    ag_tensor_requires_grad(t, true);
    ag_node *p1 = ag_param(g, t), *p2 = ag_param(g, t), *y = ag_mul(p1, p2);
    ag_tensor *rev = ag_jacobian_rev(g, y, p1), *fwd = ag_jacobian_fwd(g, y, p1);
    ck_assert_msg(rev && fwd, "%s", ag_graph_error(g));
    const double expected[4] = {3, 0, 0, 5};
    for (int k = 0; k < 4; k++) {
        ck_assert_close(ag_tensor_data(rev)[k], expected[k], 0);
        ck_assert_close(ag_tensor_data(fwd)[k], expected[k], 0);
    }
    ck_assert(ag_tensor_grad(t)[0] == 0 && ag_tensor_grad(t)[1] == 0); /* left as they were */
    /* the tensor's gradient, once a backward runs, sums both leaves: 2t */
    ck_assert(ag_backward(g, ag_sum(y)));
    ck_assert_close(ag_tensor_grad(t)[0], 6.0, 0);
    ck_assert_close(ag_tensor_grad(t)[1], 10.0, 0);
    ag_tensor_free(rev);
    ag_tensor_free(fwd);
    ag_tensor_free(t);
    ag_graph_free(g);
}
END_TEST

START_TEST(jacobian_misuse)
{
    /* the sequence: a reverse-mode Jacobian with respect to an input
     * fails and advises ag_jacobian_fwd, which then works on the same graph,
     * with no reset and no recording again */
    ag_graph *g = ag_graph_new();
    ag_tensor *x = ag_tensor_ones(1, (int[]){2});
    ag_node *xn = ag_input(g, x), *y = ag_exp(xn);
    ck_assert_ptr_null(ag_jacobian_rev(g, y, xn)); /* no gradient flows to an input */
    ck_assert_graph_error(g, "ag_jacobian_rev: no gradient flows from out to wrt");
    ck_assert_graph_error(g, "use ag_jacobian_fwd");
    ck_assert_last_error("ag_jacobian_rev: no gradient flows from out to wrt");
    ag_tensor *J = ag_jacobian_fwd(g, y, xn); /* forward mode needs no gradient: diag(e^x) */
    ck_assert_msg(J != NULL, "%s", ag_graph_error(g));
    ck_assert_ptr_null(ag_graph_error(g)); /* the failed call's message went with it */
    ck_assert_close(ag_tensor_data(J)[0], exp(1.0), 1e-15);
    ck_assert_close(ag_tensor_data(J)[1], 0.0, 0);
    ck_assert_close(ag_tensor_data(J)[3], exp(1.0), 1e-15);
    ck_assert_ptr_null(ag_jacobian_fwd(g, xn, y)); /* wrt after out */
    ck_assert_graph_error(g, "ag_jacobian_fwd: wrt was recorded after out");
    /* the graph records on: a new node clears the study message */
    ag_node *s = ag_sum(y);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(ag_graph_error(g));
    ck_assert_close(ag_node_value(s)[0], 2 * exp(1.0), 1e-15);
    ag_tensor_free(J);
    ag_tensor_free(x);
    ag_graph_free(g);
}
END_TEST

START_TEST(second_order_misuse_leaves_the_graph_usable)
{
    /* f(x) = sum(x^3) on x = [1, 2]: gradient 3x^2, Hessian diag(6x) */
    ag_graph *g = ag_graph_new();
    ag_tensor *x = ag_tensor_from(1, (int[]){2}, (double[]){1.0, 2.0});
    ag_tensor *c = ag_tensor_ones(1, (int[]){2}); /* an input: takes no gradient */
    ag_tensor_requires_grad(x, true);
    ag_node *xn = ag_param(g, x), *cn = ag_input(g, c);
    ag_node *f = ag_sum(ag_add(ag_mul(ag_mul(xn, xn), xn), cn));
    ck_assert_ptr_nonnull(f);
    double v[2] = {1.0, 0.0}, hv[2];
    ck_assert(!ag_hvp(g, f, cn, v, hv));
    ck_assert_graph_error(g, "ag_hvp: wrt[0] takes no gradient");
    ck_assert(!ag_hvp(g, f, xn, NULL, hv));
    ck_assert_graph_error(g, "ag_hvp: v is NULL");
    ck_assert_ptr_null(ag_hessian(g, f, cn));
    ck_assert_graph_error(g, "ag_hessian: wrt[0] takes no gradient");
    ck_assert_ptr_null(ag_hessian_fwd(g, ag_mul(xn, xn), xn)); /* not a scalar */
    ck_assert_graph_error(g, "ag_hessian_fwd: root has shape (2)");
    ck_assert(!ag_jvp(g, 1, &xn, (const double *const[]){NULL}));
    ck_assert_graph_error(g, "ag_jvp: seed 0 is NULL, has no tangent");
    /* and each works right after, on the same graph */
    ck_assert_msg(ag_hvp(g, f, xn, v, hv), "%s", ag_graph_error(g));
    ck_assert_close(hv[0], 6.0, 1e-15);
    ck_assert_close(hv[1], 0.0, 0);
    ag_tensor *H = ag_hessian(g, f, xn), *Hf = ag_hessian_fwd(g, f, xn);
    ck_assert_msg(H && Hf, "%s", ag_graph_error(g));
    double expected[4] = {6.0, 0.0, 0.0, 12.0};
    for (int k = 0; k < 4; k++) {
        ck_assert_close(ag_tensor_data(H)[k], expected[k], 1e-15);
        ck_assert_close(ag_tensor_data(Hf)[k], expected[k], 1e-15);
    }
    ck_assert(ag_jvp(g, 1, &xn, (const double *const[]){v}));
    ck_assert(ag_backward(g, f));
    ck_assert_close(ag_tensor_grad(x)[1], 12.0, 1e-15); /* 3 x^2 at 2 */
    ck_assert_ptr_null(ag_graph_error(g));
    ag_tensor_free(H);
    ag_tensor_free(Hf);
    ag_tensor_free(x);
    ag_tensor_free(c);
    ag_graph_free(g);
}
END_TEST

START_TEST(study_calls_on_a_failed_graph_say_so)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *x = ag_tensor_ones(1, (int[]){2});
    ag_node *xn = ag_input(g, x);
    ck_assert_ptr_null(ag_reshape(xn, 1, (int[]){3})); /* the graph's own, sticky error */
    const char *own = "ag_reshape";
    ck_assert_graph_error(g, own);
    ck_assert_ptr_null(ag_jacobian_fwd(g, xn, xn));
    ck_assert_last_error("ag_jacobian_fwd: the graph failed earlier: ag_reshape");
    ck_assert_graph_error(g, own); /* still the graph's error */
    ck_assert_ptr_null(ag_exp(xn)); /* and still sticky */
    ag_tensor_free(x);
    ag_graph_free(g);
}
END_TEST

/* Every node's gradient equals the hand derivation's after the backward,
 * and again after each study call. */
static void assert_testnet_grads(const testnet_model *m, const testnet_grads *G, const char *after)
{
    const struct {
        const char *what;
        const ag_node *node;
        const double *hand;
        size_t n;
    } expected[] = {
        {"dJ/dz2", m->z2, G->dz2, TN_OUT}, {"dJ/da1", m->a1, G->da1, TN_HID},
        {"dJ/dz1", m->z1, G->dz1, TN_HID}, {"dJ/dW1", m->W1_leaf, &G->W1[0][0], TN_HID * TN_IN},
        {"dJ/db1", m->b1_leaf, G->b1, TN_HID}, {"dJ/dW2", m->W2_leaf, &G->W2[0][0], TN_OUT * TN_HID},
        {"dJ/db2", m->b2_leaf, G->b2, TN_OUT},
    };
    for (size_t e = 0; e < sizeof expected / sizeof expected[0]; e++)
        for (size_t k = 0; k < expected[e].n; k++)
            ck_assert_msg(fabs(ag_node_grad(expected[e].node)[k] - expected[e].hand[k]) <= 1e-15,
                          "after %s: %s[%zu] = %.17g, the backward's %.17g", after, expected[e].what, k,
                          ag_node_grad(expected[e].node)[k], expected[e].hand[k]);
    ck_assert_msg(ag_node_grad(m->J)[0] == 1.0, "after %s: dJ/dJ = %g", after, ag_node_grad(m->J)[0]);
}

START_TEST(jacobian_rev_restores_every_gradient)
{
    testnet_model m;
    ag_graph *g = testnet_recorded(&m, true);
    testnet_forward F;
    testnet_grads G;
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    testnet_hand_backward(&testnet_weights, testnet_a0, testnet_label, &F, &G);
    assert_testnet_grads(&m, &G, "ag_backward");
    ag_tensor *Ja = ag_jacobian_rev(g, m.a1, m.z1), *Jp = ag_jacobian_rev(g, m.p, m.z2);
    ck_assert_msg(Ja && Jp, "%s", ag_graph_error(g));
    assert_testnet_grads(&m, &G, "ag_jacobian_rev");
    ag_tensor *H = ag_hessian(g, m.J, m.z2);
    ck_assert_msg(H != NULL, "%s", ag_graph_error(g));
    assert_testnet_grads(&m, &G, "ag_hessian");
    /* the picture drawn now shows J's gradient, 1, not a sweep's seed */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert(ag_graph_write_dot(g, out));
    fclose(out);
    char dz2[96];
    snprintf(dz2, sizeof dz2, "z2 = add [2x1]\\lvalue [0.235; -0.4475]\\lgrad  [%.4g; %.4g]", G.dz2[0], G.dz2[1]);
    ck_assert_msg(strstr(text, dz2), "the picture lacks '%s':\n%s", dz2, text);
    free(text);
    /* a backward after them walks afresh: the same gradients again */
    ag_graph_zero_grad(g);
    ck_assert(ag_backward(g, m.J));
    assert_testnet_grads(&m, &G, "a second ag_backward");
    ag_tensor_free(Ja);
    ag_tensor_free(Jp);
    ag_tensor_free(H);
    ag_graph_free(g);
    testnet_model_free(&m);
}
END_TEST

/* ---- anomaly detection: where a NaN came from -------------------------------- */

static ag_tensor *named_tensor(const char *name, int n, const double *values, bool requires_grad)
{
    ag_tensor *t = ag_tensor_from(1, (int[]){n}, values);
    ag_tensor_set_name(t, name);
    ag_tensor_requires_grad(t, requires_grad);
    return t;
}

START_TEST(anomaly_names_the_leaf_a_nan_came_in_through)
{
    /* forward: the NaN is in the leaves' data, ag_add only passes it on */
    ag_graph *g = ag_graph_new();
    ag_tensor *w = named_tensor("w", 2, (double[]){1.0, NAN}, true);
    ag_tensor *x = named_tensor("x", 2, (double[]){-INFINITY, 2.0}, false);
    ag_graph_set_detect_anomaly(g, true);
    ck_assert_ptr_null(ag_add(ag_scalar(g, 1.0), ag_param(g, w)));
    ck_assert_graph_error(g, "anomaly: parameter 'w' holds NaN at element 1: it came in through that leaf "
                             "(operand 2 of ag_add");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_neg(ag_input(g, x)));
    ck_assert_graph_error(g, "anomaly: input 'x' holds -Inf at element 0: it came in through that leaf");
    /* backward of a graph recorded with detection off: mul's vjp sends
     * d(w u)/du = w, NaN, to u's gradient */
    ag_graph_reset(g);
    ag_graph_set_detect_anomaly(g, false);
    ag_tensor *u = named_tensor("u", 2, (double[]){3.0, 4.0}, true);
    ag_node *root = ag_sum(ag_mul(ag_param(g, w), ag_param(g, u)));
    ck_assert_ptr_nonnull(root);
    ag_graph_set_detect_anomaly(g, true);
    ck_assert(!ag_backward(g, root));
    ck_assert_graph_error(g, "anomaly: parameter 'w' holds NaN at element 1: it came in through that leaf");
    ck_assert_graph_error(g, "(operand 1 of ag_mul");
    ck_assert_graph_error(g, "backward pass");
    ag_graph_free(g);
    ag_tensor_free(u);
    ag_tensor_free(w);
    ag_tensor_free(x);
}
END_TEST

START_TEST(anomaly_names_a_stale_parameter_gradient)
{
    /* d sqrt(v)/dv at v = 0 is Inf: a backward without detection leaves it in
     * v's gradient; the next backward, with detection, is fine itself
     * (tanh's gradient is finite) and says the gradient was stale */
    ag_graph *g = ag_graph_new();
    ag_tensor *v = named_tensor("v", 1, (double[]){0.0}, true);
    ck_assert(ag_backward(g, ag_sum(ag_pow(ag_param(g, v), 0.5))));
    ck_assert(isinf(ag_tensor_grad(v)[0]));
    ag_graph_reset(g);
    ag_graph_set_detect_anomaly(g, true);
    ck_assert(!ag_backward(g, ag_sum(ag_tanh(ag_param(g, v)))));
    ck_assert_graph_error(g, "anomaly: the gradient of parameter 'v' already held Inf at element 0 "
                             "before this backward");
    ck_assert_msg(!strstr(ag_graph_error(g), "ag_tanh"), "%s", ag_graph_error(g));
    /* zeroed, the same backward runs */
    ag_graph_reset(g);
    ag_tensor_zero_grad(v);
    ck_assert_msg(ag_backward(g, ag_sum(ag_tanh(ag_param(g, v)))), "%s", ag_graph_error(g));
    ck_assert_close(ag_tensor_grad(v)[0], 1.0, 0); /* tanh'(0) = 1 */
    ag_graph_free(g);
    ag_tensor_free(v);
}
END_TEST

/* ---- gradcheck ------------------------------------------------------------- */

static ag_node *testnet_loss(ag_graph *g, void *user)
{
    testnet_model *m = user;
    return testnet_model_record(m, g) ? m->J : NULL;
}

START_TEST(gradcheck_passes_on_testnet)
{
    testnet_model m;
    ck_assert(testnet_model_init(&m, &testnet_weights, testnet_a0, testnet_label));
    ag_tensor *params[] = {m.W1, m.b1, m.W2, m.b2};
    ag_gradcheck_result res[4];
    char *text = NULL;
    size_t len = 0;
    ag_gradcheck_options o = ag_gradcheck_defaults();
    ck_assert(o.eps == 1e-6 && o.atol == 1e-5 && o.rtol == 1e-3); /* PyTorch's defaults */
    o.report = open_memstream(&text, &len);
    ck_assert(ag_gradcheck(testnet_loss, &m, 4, params, &o, res));
    fclose(o.report);
    for (int k = 0; k < 4; k++) {
        ck_assert(res[k].pass);
        ck_assert(res[k].max_abs_error < 1e-8);
    }
    ck_assert_msg(strstr(text, "gradcheck W1") && strstr(text, "PASS"), "%s", text);
    free(text);
    testnet_model_free(&m);
}
END_TEST

/* An op whose vjp has the wrong sign: y = x^2 with dy/dx claimed -2x. */
static bool square_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->shape = out->in[0]->shape;
    return true;
}
static bool square_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    for (size_t i = 0; i < out->shape.size; i++) out->value[i] = out->in[0]->value[i] * out->in[0]->value[i];
    return true;
}
static void square_wrong_vjp(ag_node *out)
{
    for (size_t i = 0; i < out->shape.size; i++)
        out->in[0]->grad[i] += out->grad[i] * -2.0 * out->in[0]->value[i];
}
static const ag_op wrong_square = {.name = "wrong_square", .arity = 1, .shape = square_shape,
                                   .kernels = {square_forward, square_wrong_vjp}};

static ag_node *wrong_loss(ag_graph *g, void *user)
{
    return ag_sum(ag_record1(&wrong_square, ag_param(g, user), NULL));
}

START_TEST(gradcheck_catches_a_wrong_vjp)
{
    ag_tensor *x = ag_tensor_from(1, (int[]){3}, (double[]){0.5, -1.0, 2.0});
    ag_tensor_requires_grad(x, true);
    ag_gradcheck_result res;
    ck_assert(!ag_gradcheck(wrong_loss, x, 1, &x, NULL, &res));
    ck_assert(!res.pass);
    ck_assert_int_eq(res.worst, 2); /* largest error at x = 2: -4 vs 4 */
    ck_assert_close(res.worst_analytic, -4.0, 1e-12);
    ck_assert_close(res.worst_numeric, 4.0, 1e-6);
    ck_assert_close(res.max_abs_error, 8.0, 1e-6);
    ag_tensor_free(x);
}
END_TEST

/* ---- compare, trace, dot ---------------------------------------------------- */

START_TEST(compare_reports_differences)
{
    double a[] = {1.0, 2.0, 3.0}, b[] = {1.0, 2.5, 3.0}, c[] = {1.0, NAN, 3.0};
    ag_diff d = ag_compare(NULL, NULL, NULL, NULL, 3, a, b, 0.1);
    ck_assert(!d.pass);
    ck_assert_int_eq(d.worst, 1);
    ck_assert_close(d.max_abs, 0.5, 0);
    ck_assert_close(d.max_rel, 0.2, 1e-15);
    ck_assert(ag_compare(NULL, NULL, NULL, NULL, 3, a, b, 0.5).pass);
    ck_assert(!ag_compare(NULL, NULL, NULL, NULL, 3, a, c, 1e9).pass); /* NaN never passes */
}
END_TEST

/* the trace of TestNet's backward, into *text (caller frees) */
static void capture_testnet_trace(char **text, size_t *len)
{
    testnet_model m;
    ag_graph *g = testnet_recorded(&m, false);
    FILE *out = open_memstream(text, len);
    ag_graph_set_trace(g, out);
    ck_assert(ag_backward(g, m.J));
    fclose(out);
    ag_graph_free(g);
    testnet_model_free(&m);
}

/* offset of needle in text, or -1 */
static long position(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    return at ? (long)(at - text) : -1;
}

START_TEST(trace_reads_as_the_derivation)
{
    char *text = NULL;
    size_t len = 0;
    capture_testnet_trace(&text, &len);
    /* the numbers of docs/hand-derivation.md's backward table (the seed's
     * derivation by hand, testnet_hand.c), laid out as the shapes are:
     * z2, a1 and z1 are columns [2x1] and [4x1], W2 a [2x4] matrix */
    const char *dz2 = "dJ/dz2 = [[ 0.664296],\n"
                      "          [-0.664296]]\n"
                      "    at z2 = add(W2a1, b2) [2x1]\n";
    const char *dW2 = "    sends dJ/dW2 += [[ 0.597867, 0, 0,  0.0498222],\n"
                      "                     [-0.597867, 0, 0, -0.0498222]]\n";
    const char *da1 = "dJ/da1 = [[ 0.465008],\n"
                      "          [-0.265719],\n"
                      "          [ 0.398578],\n"
                      "          [ 0.199289]]\n";
    const char *dz1 = "dJ/dz1 = [[0.465008],\n"
                      "          [       0],\n"
                      "          [       0],\n"
                      "          [0.199289]]\n";
    const char *dW1 = "    sends dJ/dW1 += [[ 0.232504, -0.465008, 0.930015],\n"
                      "                     [        0,         0,        0],\n"
                      "                     [        0,         0,        0],\n"
                      "                     [0.0996445, -0.199289, 0.398578]]\n";
    long at_J = position(text, "backward from J (softmax_xent, scalar): dJ/dJ = 1\ndJ/dJ = [1]\n");
    long at_dz2 = position(text, dz2), at_dW2 = position(text, dW2), at_da1 = position(text, da1);
    long at_dz1 = position(text, dz1), at_dW1 = position(text, dW1);
    ck_assert_msg(at_J >= 0 && at_dz2 >= 0 && at_dW2 >= 0 && at_da1 >= 0 && at_dz1 >= 0 && at_dW1 >= 0,
                  "trace lacks a line:\n%s", text);
    ck_assert_msg(at_J < at_dz2 && at_dz2 < at_dW2 && at_dW2 < at_da1 && at_da1 < at_dz1 && at_dz1 < at_dW1,
                  "wrong order:\n%s", text);
    free(text);
}
END_TEST

/* The trace of y = sum(W * C) for a [rows x cols] W, C holding 1, 2, 3, ...
 * row by row: dy/dW = C. */
static char *trace_of_a_matrix_gradient(int rows, int cols)
{
    ag_tensor *W = ag_tensor_zeros(2, (int[]){rows, cols}), *C = ag_tensor_zeros(2, (int[]){rows, cols});
    for (int k = 0; k < rows * cols; k++) ag_tensor_data(C)[k] = k + 1;
    ag_tensor_requires_grad(W, true);
    ag_graph *g = ag_graph_new();
    ag_node *w = ag_node_set_name(ag_param(g, W), "W"), *c = ag_node_set_name(ag_input(g, C), "C");
    ag_node *y = ag_node_set_name(ag_sum(ag_node_set_name(ag_mul(w, c), "m")), "y");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ag_graph_set_trace(g, out);
    ck_assert_msg(ag_backward(g, y), "%s", ag_graph_error(g));
    fclose(out);
    ag_graph_free(g);
    ag_tensor_free(W);
    ag_tensor_free(C);
    return text;
}

START_TEST(trace_prints_a_matrix_as_rows)
{
    /* the issue's [3x4]: three rows of four, each column right-aligned */
    char *text = trace_of_a_matrix_gradient(3, 4);
    const char *dW = "    sends dy/dW += [[1,  2,  3,  4],\n"
                     "                    [5,  6,  7,  8],\n"
                     "                    [9, 10, 11, 12]]\n";
    ck_assert_msg(strstr(text, dW), "expected\n%s\nin\n%s", dW, text);
    ck_assert_msg(strstr(text, "dy/dm = [[1, 1, 1, 1],\n"
                               "         [1, 1, 1, 1],\n"
                               "         [1, 1, 1, 1]]\n"
                               "    at m = mul(W, C) [3x4]\n"), "%s", text);
    free(text);
    /* a large one: the first 8 rows of the first 12 values, and the count */
    text = trace_of_a_matrix_gradient(10, 20);
    const char *first = "    sends dy/dW += [[  1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12, ...],\n"
                        "                    [ 21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31,  32, ...],\n";
    const char *last = "                    [141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, ...],\n"
                       "                    ...] (200 values)\n";
    ck_assert_msg(strstr(text, first) && strstr(text, last), "%s", text);
    free(text);
}
END_TEST

START_TEST(dot_picture_is_valid_graphviz)
{
    testnet_model m;
    ag_graph *g = testnet_recorded(&m, true);
    char dir[] = "/tmp/agrad-dot-XXXXXX", path[64], cmd[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/g.dot", dir);
    ck_assert(ag_graph_save_dot(g, path));
    FILE *f = fopen(path, "r");
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "W1 = parameter [4x3]") && strstr(text, "a0 = input [3x1]"), "%s", text);

    size_t edges = 0;
    for (const char *s = text; (s = strstr(s, " -> ")); s++) edges++;
    ck_assert_int_eq(edges, 12); /* 2 matmul x2, 2 add x2, relu, softmax, xent x2 */
    ck_assert_msg(system("command -v dot >/dev/null 2>&1") == 0,
                  "Graphviz 'dot' is missing: run sh scripts/install-deps.sh graphviz");
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o %s/g.svg", path, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert(!ag_graph_save_dot(g, "/nonexistent-dir/x.dot"));
    ck_assert_msg(strstr(ag_last_error(), "/nonexistent-dir/x.dot"), "%s", ag_last_error());
    ag_graph_free(g);
    testnet_model_free(&m);
}
END_TEST

Suite *study_suite(void)
{
    Suite *s = suite_create("study");
    TCase *tc = tcase_create("forward mode and Jacobians");
    tcase_add_loop_test(tc, jvp_and_vjp_are_adjoint_for_every_op, 0, (int)registry_size());
    tcase_add_loop_test(tc, jacobians_agree_for_every_op, 0, (int)registry_size());
    tcase_add_test(tc, testnet_jacobians);
    tcase_add_test(tc, jacobian_of_one_of_two_leaves_of_a_tensor);
    tcase_add_test(tc, jacobian_misuse);
    tcase_add_test(tc, second_order_misuse_leaves_the_graph_usable);
    tcase_add_test(tc, study_calls_on_a_failed_graph_say_so);
    tcase_add_test(tc, jacobian_rev_restores_every_gradient);
    tcase_add_test(tc, anomaly_names_the_leaf_a_nan_came_in_through);
    tcase_add_test(tc, anomaly_names_a_stale_parameter_gradient);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradcheck, compare, trace, dot");
    tcase_add_test(tc, gradcheck_passes_on_testnet);
    tcase_add_test(tc, gradcheck_catches_a_wrong_vjp);
    tcase_add_test(tc, compare_reports_differences);
    tcase_add_test(tc, trace_reads_as_the_derivation);
    tcase_add_test(tc, trace_prints_a_matrix_as_rows);
    tcase_add_test(tc, dot_picture_is_valid_graphviz);
    suite_add_tcase(s, tc);
    return s;
}
