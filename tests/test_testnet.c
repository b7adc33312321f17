/* test_testnet.c -- TestNet: the seed's hand derivation (testnet_hand.c,
 * plain loops) against autograd, every number to 1e-12. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "testnet_model.h"

static void assert_same(const char *what, size_t n, const double *hand, const double *engine)
{
    ck_assert_ptr_nonnull(engine);
    ag_diff d = ag_compare(NULL, what, "hand", "engine", n, hand, engine, 1e-12);
    ck_assert_msg(d.pass, "%s: element %zu differs by %g", what, d.worst, d.max_abs);
}

/* The four parameter gradients against the hand's. */
static void assert_param_grads(const testnet_grads *G, const testnet_model *m)
{
    assert_same("dJ/dW1", 12, &G->W1[0][0], ag_tensor_grad(m->W1));
    assert_same("dJ/db1", 4, G->b1, ag_tensor_grad(m->b1));
    assert_same("dJ/dW2", 8, &G->W2[0][0], ag_tensor_grad(m->W2));
    assert_same("dJ/db2", 2, G->b2, ag_tensor_grad(m->b2));
}

/* Run the comparison for one parameter set, input and label. */
static void check_testnet(const testnet_params *P, const double a0[TN_IN], int label)
{
    testnet_model m;
    ck_assert(testnet_model_init(&m, P, a0, label));
    ag_graph *g = ag_graph_new();
    ck_assert_msg(testnet_model_record(&m, g), "%s", ag_graph_error(g));
    ck_assert(ag_backward(g, m.J));
    testnet_forward F;
    testnet_grads G;
    testnet_hand_forward(P, a0, label, &F);
    testnet_hand_backward(P, a0, label, &F, &G);
    assert_same("z1", TN_HID, F.z1, ag_node_value(m.z1));
    assert_same("a1", TN_HID, F.a1, ag_node_value(m.a1));
    assert_same("z2", TN_OUT, F.z2, ag_node_value(m.z2));
    assert_same("p", TN_OUT, F.p, ag_node_value(m.p));
    assert_same("J", 1, &F.J, ag_node_value(m.J));
    assert_same("dJ/dz2", TN_OUT, G.dz2, ag_node_grad(m.z2));
    assert_same("dJ/da1", TN_HID, G.da1, ag_node_grad(m.a1));
    assert_same("dJ/dz1", TN_HID, G.dz1, ag_node_grad(m.z1));
    assert_param_grads(&G, &m);
    ag_graph_free(g);
    testnet_model_free(&m);
}

START_TEST(fixed_example_matches_hand_derivation)
{
    check_testnet(&testnet_weights, testnet_a0, testnet_label);
    /* and the residual at the output is p - y^ with p summing to 1 */
    testnet_forward F;
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    ck_assert_close(F.p[0] + F.p[1], 1.0, 1e-15);
}
END_TEST

START_TEST(random_weights_match_hand_derivation)
{
    test_rng r = {2024};
    for (int trial = 0; trial < 50; trial++) {
        testnet_params P;
        double *w = &P.W1[0][0];
        for (size_t i = 0; i < sizeof P / sizeof(double); i++) w[i] = rng_uniform(&r, -1, 1);
        double a0[TN_IN] = {rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2)};
        check_testnet(&P, a0, rng_int(&r, 0, 1));
    }
}
END_TEST

/* Each layer as one ag_linear node, recorded once and replayed on 50 random
 * inputs and labels (the replay's kept walk against the hand derivation).
 * linear starts each sum from the bias, in the hand loop's order, so z1 and
 * z2 are the hand's numbers bit for bit. */
START_TEST(replayed_linear_layers_match_hand_derivation)
{
    testnet_model m;
    ck_assert(testnet_model_init(&m, &testnet_weights, testnet_a0, testnet_label));
    ag_graph *g = ag_graph_new();
    ag_node *a0 = ag_input(g, m.a0);
    ag_node *z1 = ag_linear(ag_param(g, m.W1), a0, ag_param(g, m.b1));
    ag_node *z2 = ag_linear(ag_param(g, m.W2), ag_relu(z1), ag_param(g, m.b2));
    ag_node *J = ag_softmax_xent(z2, ag_input(g, m.label));
    ck_assert_msg(J != NULL, "%s", ag_graph_error(g));
    test_rng r = {77};
    for (int step = 0; step < 50; step++) {
        double x[TN_IN] = {rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2)};
        int label = rng_int(&r, 0, 1);
        memcpy(ag_tensor_data(m.a0), x, sizeof x);
        ag_tensor_data(m.label)[0] = label;
        ag_graph_zero_grad(g);
        ck_assert(ag_graph_forward(g) && ag_backward(g, J));
        testnet_forward F;
        testnet_grads G;
        testnet_hand_forward(&testnet_weights, x, label, &F);
        testnet_hand_backward(&testnet_weights, x, label, &F, &G);
        for (int i = 0; i < TN_HID; i++) ck_assert(ag_node_value(z1)[i] == F.z1[i]);
        for (int k = 0; k < TN_OUT; k++) ck_assert(ag_node_value(z2)[k] == F.z2[k]);
        assert_same("J", 1, &F.J, ag_node_value(J));
        assert_same("dJ/dz2", TN_OUT, G.dz2, ag_node_grad(z2));
        assert_same("dJ/dz1", TN_HID, G.dz1, ag_node_grad(z1));
        assert_param_grads(&G, &m);
    }
    ag_graph_free(g);
    testnet_model_free(&m);
}
END_TEST

/* The Hessians of J w.r.t. z2 and W2, by reverse over reverse and forward
 * over reverse, against the closed forms S = diag(p) - p p^T and
 * S (x) a1 a1^T (testnet_hand_hessians, from the hand's p and a1), 1e-12. */
static void check_testnet_hessians(const testnet_params *P, const double a0[TN_IN], int label)
{
    testnet_forward F;
    double Hz2[TN_OUT][TN_OUT], HW2[TN_OUT * TN_HID][TN_OUT * TN_HID];
    testnet_hand_forward(P, a0, label, &F);
    testnet_hand_hessians(&F, Hz2, HW2);
    testnet_model m;
    ck_assert(testnet_model_init(&m, P, a0, label));
    ag_graph *g = ag_graph_new();
    ck_assert_msg(testnet_model_record(&m, g), "%s", ag_graph_error(g));
    ag_tensor *H[4] = {ag_hessian(g, m.J, m.z2), ag_hessian_fwd(g, m.J, m.z2),
                       ag_hessian(g, m.J, m.W2_leaf), ag_hessian_fwd(g, m.J, m.W2_leaf)};
    const char *what[4] = {"d2J/dz2^2 (reverse over reverse)", "d2J/dz2^2 (forward over reverse)",
                           "d2J/dW2^2 (reverse over reverse)", "d2J/dW2^2 (forward over reverse)"};
    for (int h = 0; h < 4; h++) {
        ck_assert_msg(H[h] != NULL, "%s: %s", what[h], ag_graph_error(g));
        size_t n = h < 2 ? TN_OUT : TN_OUT * TN_HID;
        ck_assert_int_eq(ag_tensor_dim(H[h], 0), (int)n);
        ck_assert_int_eq(ag_tensor_dim(H[h], 1), (int)n);
        assert_same(what[h], n * n, h < 2 ? &Hz2[0][0] : &HW2[0][0], ag_tensor_data(H[h]));
        ag_tensor_free(H[h]);
    }
    ag_graph_free(g);
    testnet_model_free(&m);
}

START_TEST(hessians_match_closed_forms)
{
    check_testnet_hessians(&testnet_weights, testnet_a0, testnet_label);
    /* the closed form itself, at the fixed example's p and a1: S's rows
     * sum to 0 (p sums to 1), S[0][0] = p0 p1, and the W2 block for
     * hidden units 0 and 3 (a1 = 0.9, 0.075) is S[0][0] * 0.9 * 0.075 */
    testnet_forward F;
    double Hz2[TN_OUT][TN_OUT], HW2[TN_OUT * TN_HID][TN_OUT * TN_HID];
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    testnet_hand_hessians(&F, Hz2, HW2);
    ck_assert_close(Hz2[0][0] + Hz2[0][1], 0.0, 1e-16);
    ck_assert_close(Hz2[0][0], F.p[0] * F.p[1], 1e-16);
    ck_assert_close(HW2[0][3], F.p[0] * F.p[1] * 0.9 * 0.075, 1e-16);
    ck_assert_close(HW2[4 + 3][0], -F.p[0] * F.p[1] * 0.075 * 0.9, 1e-16);
    ck_assert(HW2[1][1] == 0.0); /* hidden unit 1 is off: a1[1] = 0 */
    test_rng r = {31};
    for (int trial = 0; trial < 20; trial++) {
        testnet_params P;
        double *w = &P.W1[0][0];
        for (size_t i = 0; i < sizeof P / sizeof(double); i++) w[i] = rng_uniform(&r, -1, 1);
        double a0[TN_IN] = {rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2), rng_uniform(&r, -2, 2)};
        check_testnet_hessians(&P, a0, rng_int(&r, 0, 1));
    }
}
END_TEST

Suite *testnet_suite(void)
{
    Suite *s = suite_create("testnet");
    TCase *tc = tcase_create("hand vs autograd");
    tcase_add_test(tc, fixed_example_matches_hand_derivation);
    tcase_add_test(tc, random_weights_match_hand_derivation);
    tcase_add_test(tc, replayed_linear_layers_match_hand_derivation);
    tcase_add_test(tc, hessians_match_closed_forms);
    suite_add_tcase(s, tc);
    return s;
}
