/* test_testnet.c -- TestNet: the seed's hand derivation (testnet_hand.c,
 * plain loops) against autograd, every number to 1e-12. */
#include <math.h>

#include "helpers.h"
#include "testnet_model.h"

static void assert_same(const char *what, size_t n, const double *hand, const double *engine)
{
    ck_assert_ptr_nonnull(engine);
    ag_diff d = ag_compare(NULL, what, "hand", "engine", n, hand, engine, 1e-12);
    ck_assert_msg(d.pass, "%s: element %zu differs by %g", what, d.worst, d.max_abs);
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
    assert_same("dJ/dW1", 12, &G.W1[0][0], ag_tensor_grad(m.W1));
    assert_same("dJ/db1", 4, G.b1, ag_tensor_grad(m.b1));
    assert_same("dJ/dW2", 8, &G.W2[0][0], ag_tensor_grad(m.W2));
    assert_same("dJ/db2", 2, G.b2, ag_tensor_grad(m.b2));
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

Suite *testnet_suite(void)
{
    Suite *s = suite_create("testnet");
    TCase *tc = tcase_create("hand vs autograd");
    tcase_add_test(tc, fixed_example_matches_hand_derivation);
    tcase_add_test(tc, random_weights_match_hand_derivation);
    suite_add_tcase(s, tc);
    return s;
}
