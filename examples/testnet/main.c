/* examples/testnet -- the seed's TestNet, hand derivation vs autograd.
 *
 * Prints the forward values with the seed's symbols, the hand-derived
 * gradients (plain loops, testnet_hand.c) beside the engine's, and a few SGD
 * steps. Exits 1 when any difference exceeds 1e-12. */
#include <agrad.h>
#include <stdio.h>
#include <stdlib.h>

#include "testnet_hand.h"
#include "testnet_model.h"

#define TOLERANCE 1e-12

static void print_node(const char *symbol, const ag_node *n)
{
    printf("%-4s ", symbol);
    ag_node_print(n, stdout, 17);
}

static void print_forward(const testnet_model *m)
{
    printf("== Forward pass (input a0 = [0.5, -1, 2]^T, label y = class 1 of {0, 1}) ==\n");
    print_node("z1", m->z1);
    print_node("a1", m->a1);
    print_node("z2", m->z2);
    print_node("p", m->p);
    print_node("J", m->J);
    for (int i = 0; i < TN_HID; i++)
        if (ag_node_value(m->z1)[i] == 0.0)
            printf("note: z1[%d] is exactly 0; agrad uses relu'(0) = 0 (as PyTorch)\n", i);
}

/* Compare one array and fold its verdict into *ok. */
static void check(bool *ok, const char *title, size_t n, const double *hand, const double *engine)
{
    ag_diff d = ag_compare(stdout, title, "hand (DESIGN.md 1)", "autograd", n, hand, engine,
                           TOLERANCE);
    *ok = *ok && d.pass;
}

static bool compare_all(const testnet_model *m, const testnet_forward *F, const testnet_grads *G)
{
    bool ok = true;
    printf("\n== Forward: hand vs engine ==\n");
    check(&ok, "z1", TN_HID, F->z1, ag_node_value(m->z1));
    check(&ok, "p", TN_OUT, F->p, ag_node_value(m->p));
    check(&ok, "J", 1, &F->J, ag_node_value(m->J));
    printf("\n== Backward: residuals dJ/dz (hand vs engine) ==\n");
    check(&ok, "dJ/dz2 = p - y^", TN_OUT, G->dz2, ag_node_grad(m->z2));
    check(&ok, "dJ/da1 = W2^T dJ/dz2", TN_HID, G->da1, ag_node_grad(m->a1));
    check(&ok, "dJ/dz1 = dJ/da1 * relu'(z1)", TN_HID, G->dz1, ag_node_grad(m->z1));
    printf("\n== Backward: parameter gradients (hand vs engine) ==\n");
    check(&ok, "dJ/dW2 = dJ/dz2 a1^T  [2x4]", 8, &G->W2[0][0], ag_tensor_grad(m->W2));
    check(&ok, "dJ/db2 = dJ/dz2  [2x1]", 2, G->b2, ag_tensor_grad(m->b2));
    check(&ok, "dJ/dW1 = dJ/dz1 a0^T  [4x3]", 12, &G->W1[0][0], ag_tensor_grad(m->W1));
    check(&ok, "dJ/db1 = dJ/dz1  [4x1]", 4, G->b1, ag_tensor_grad(m->b1));
    return ok;
}

/* W <- W - lr dJ/dW for every parameter */
static void sgd_update(const testnet_model *m, double lr)
{
    ag_tensor *params[] = {m->W1, m->b1, m->W2, m->b2};
    for (int i = 0; i < 4; i++) {
        double *w = ag_tensor_data(params[i]);
        const double *g = ag_tensor_grad(params[i]);
        for (size_t k = 0; k < ag_tensor_size(params[i]); k++) w[k] -= lr * g[k];
    }
}

/* Plain SGD by replaying the recorded graph; false if J ever goes up. */
static bool train(testnet_model *m, ag_graph *g)
{
    const double lr = 0.5;
    printf("\n== SGD, learning rate %.2g (replaying the recorded graph) ==\n", lr);
    double previous = ag_node_value(m->J)[0];
    bool decreasing = true;
    for (int step = 1; step <= 5; step++) {
        sgd_update(m, lr);
        ag_graph_zero_grad(g);
        if (!ag_graph_forward(g) || !ag_backward(g, m->J)) return false;
        double J = ag_node_value(m->J)[0];
        printf("step %d: J = %.17g\n", step, J);
        decreasing = decreasing && J < previous;
        previous = J;
    }
    return decreasing;
}

int main(void)
{
    testnet_model m;
    if (!testnet_model_init(&m, &testnet_weights, testnet_a0, testnet_label)) {
        fprintf(stderr, "testnet: %s\n", ag_last_error());
        return 1;
    }
    ag_graph *g = ag_graph_new();
    if (!g || !testnet_model_record(&m, g) || !ag_backward(g, m.J)) {
        fprintf(stderr, "testnet: %s\n", g ? ag_graph_error(g) : ag_last_error());
        ag_graph_free(g);
        testnet_model_free(&m);
        return 1;
    }
    testnet_forward F;
    testnet_grads G;
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    testnet_hand_backward(&testnet_weights, testnet_a0, testnet_label, &F, &G);

    print_forward(&m);
    bool ok = compare_all(&m, &F, &G);
    bool trained = train(&m, g);
    printf("\n%s: every difference %s %.0e; J %s over the SGD steps\n", ok ? "PASS" : "FAIL",
           ok ? "<=" : "NOT <=", TOLERANCE, trained ? "decreased" : "did NOT decrease");
    if (ag_graph_error(g)) fprintf(stderr, "testnet: %s\n", ag_graph_error(g));
    ag_graph_free(g);
    testnet_model_free(&m);
    return ok && trained ? 0 : 1;
}
