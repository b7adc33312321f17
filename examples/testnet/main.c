/* examples/testnet -- the seed's TestNet, hand derivation vs autograd.
 *
 * Prints the forward values with the seed's symbols, the hand-derived
 * gradients (plain loops, testnet_hand.c) beside the engine's, the
 * Jacobians and the Hessians of J (w.r.t. z2 and W2) beside their closed
 * forms, and a few SGD steps. Exits 1 when any difference exceeds 1e-12. */
#include <agrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testnet_hand.h"
#include "testnet_model.h"

#define TOLERANCE 1e-12

static void print_node(const char *formula, const ag_node *n)
{
    printf("%-36s ", formula);
    ag_node_print(n, stdout, 17);
}

static void print_forward(const testnet_model *m)
{
    printf("== Forward pass (input a0 = [0.5, -1, 2]^T, label y = class 1 of {0, 1}) ==\n");
    print_node("z1 = W1 a0 + b1", m->z1);
    print_node("a1 = relu(z1)", m->a1);
    print_node("z2 = W2 a1 + b2", m->z2);
    print_node("p = softmax(z2)", m->p);
    print_node("J = -sum_k y^_k log p_k", m->J);
    for (int i = 0; i < TN_HID; i++)
        if (ag_node_value(m->z1)[i] == 0.0)
            printf("note: z1[%d] is exactly 0; agrad uses relu'(0) = 0 (as PyTorch)\n", i);
}

/* Compare one array and fold its verdict into *ok. */
static void check(bool *ok, const char *title, size_t n, const double *hand, const double *engine)
{
    ag_diff d = ag_compare(stdout, title, "hand (seed derivation)", "autograd", n, hand, engine,
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

/* Print a row-major rows x cols matrix, indented, with `decimals` digits
 * (+ 0.0 prints a -0 product, S[i][k] * 0, as 0). */
static void print_matrix(const char *title, int rows, int cols, const double *v, int decimals)
{
    printf("  %s\n", title);
    for (int r = 0; r < rows; r++) {
        printf("    [");
        for (int c = 0; c < cols; c++) printf("%s%*.*f", c ? " " : "", decimals + 4, decimals, v[r * cols + c] + 0.0);
        printf(" ]\n");
    }
}

/* The engine's Jacobian d(out)/d(wrt), by reverse and by forward mode, beside
 * the closed form; folds the verdicts into *ok. */
static void check_jacobian(bool *ok, ag_graph *g, const char *title, ag_node *out, ag_node *wrt,
                           const double *closed_form)
{
    ag_tensor *rev = ag_jacobian_rev(g, out, wrt), *fwd = ag_jacobian_fwd(g, out, wrt);
    if (!rev || !fwd) {
        printf("%s: %s\n", title, ag_graph_error(g));
        *ok = false;
    } else {
        int rows = ag_tensor_dim(rev, 0), cols = ag_tensor_dim(rev, 1);
        printf("%s\n", title);
        print_matrix("closed form (seed):", rows, cols, closed_form, 8);
        print_matrix("engine, reverse mode (one VJP per row):", rows, cols, ag_tensor_data(rev), 8);
        size_t n = (size_t)rows * cols;
        ag_diff d_rev = ag_compare(NULL, NULL, NULL, NULL, n, closed_form, ag_tensor_data(rev), TOLERANCE);
        ag_diff d_fwd = ag_compare(NULL, NULL, NULL, NULL, n, closed_form, ag_tensor_data(fwd), TOLERANCE);
        printf("  max |diff| vs closed form: reverse %.3g, forward mode (one JVP per column) "
               "%.3g: %s\n", d_rev.max_abs, d_fwd.max_abs, d_rev.pass && d_fwd.pass ? "PASS" : "FAIL");
        *ok = *ok && d_rev.pass && d_fwd.pass;
    }
    ag_tensor_free(rev);
    ag_tensor_free(fwd);
}

/* da1/dz1 = diag(relu'(z1)) and dp/dz2 = diag(p) - p p^T, as the seed writes them */
static bool print_jacobians(const testnet_model *m, ag_graph *g, const testnet_forward *F)
{
    double relu_jac[TN_HID * TN_HID] = {0}, softmax_jac[TN_OUT * TN_OUT];
    for (int i = 0; i < TN_HID; i++) relu_jac[i * TN_HID + i] = F->z1[i] > 0.0 ? 1.0 : 0.0;
    for (int i = 0; i < TN_OUT; i++)
        for (int j = 0; j < TN_OUT; j++)
            softmax_jac[i * TN_OUT + j] = (i == j ? F->p[i] : 0.0) - F->p[i] * F->p[j];
    bool ok = true;
    printf("\n== Jacobians ==\n");
    check_jacobian(&ok, g, "da1/dz1 = diag(relu'(z1))", m->a1, m->z1, relu_jac);
    check_jacobian(&ok, g, "dp/dz2 = diag(p) - p p^T", m->p, m->z2, softmax_jac);
    return ok;
}

/* The Hessian d^2 root / d wrt^2 by reverse over reverse (ag_hessian) and
 * forward over reverse (ag_hessian_fwd), beside the closed form; prints the
 * title, the note (unless NULL), the tables with `decimals` digits and the
 * largest difference of each mode. */
static bool check_hessian(ag_graph *g, const char *title, const char *note, ag_node *root,
                          ag_node *wrt, const double *closed_form, int decimals)
{
    ag_tensor *rr = ag_hessian(g, root, wrt), *fr = ag_hessian_fwd(g, root, wrt);
    bool ok = rr && fr;
    if (!ok) {
        printf("%s: %s\n", title, ag_graph_error(g));
    } else {
        int n = ag_tensor_dim(rr, 0);
        printf("%s\n", title);
        if (note) printf("  %s\n", note);
        print_matrix("closed form:", n, n, closed_form, decimals);
        print_matrix("engine, reverse over reverse (ag_hessian: one backward sweep per row):", n, n,
                     ag_tensor_data(rr), decimals);
        if (n <= TN_OUT)
            print_matrix("engine, forward over reverse (ag_hessian_fwd: one forward sweep per column):",
                         n, n, ag_tensor_data(fr), decimals);
        size_t size = (size_t)n * n;
        ag_diff d_rr = ag_compare(NULL, NULL, NULL, NULL, size, closed_form, ag_tensor_data(rr), TOLERANCE);
        ag_diff d_fr = ag_compare(NULL, NULL, NULL, NULL, size, closed_form, ag_tensor_data(fr), TOLERANCE);
        printf("  max |diff| vs closed form: reverse over reverse %.3g, forward over reverse %.3g: %s\n",
               d_rr.max_abs, d_fr.max_abs, d_rr.pass && d_fr.pass ? "PASS" : "FAIL");
        ok = d_rr.pass && d_fr.pass;
    }
    ag_tensor_free(rr);
    ag_tensor_free(fr);
    return ok;
}

/* Second derivatives of J (closed forms: testnet_hand_hessians), on a graph
 * of their own: the recorded gradients they add stay out of the main
 * graph's picture and replays. */
static bool print_hessians(const testnet_forward *F)
{
    double Hz2[TN_OUT][TN_OUT], HW2[TN_OUT * TN_HID][TN_OUT * TN_HID];
    testnet_hand_hessians(F, Hz2, HW2);
    printf("\n== Second derivatives (the gradient recorded as nodes, then differentiated) ==\n");
    testnet_model m;
    ag_graph *g = ag_graph_new();
    if (!g || !testnet_model_init(&m, &testnet_weights, testnet_a0, testnet_label)) {
        printf("second derivatives: %s\n", ag_last_error());
        ag_graph_free(g);
        return false;
    }
    bool ok = testnet_model_record(&m, g);
    ok = ok && check_hessian(g, "d2J/dz2^2 = diag(p) - p p^T = S  [2x2]", NULL, m.J, m.z2, &Hz2[0][0], 8);
    ok = check_hessian(g, "d2J/dW2^2 = S (x) a1 a1^T  [8x8]",
                       "(W2 [2x4] flattened row-major, W2[i][j] at 4i + j; for the column-stacked vec(W2) "
                       "the same matrix is (a1 a1^T) (x) S)",
                       m.J, m.W2_leaf, &HW2[0][0], 6) && ok;
    ag_graph_free(g);
    testnet_model_free(&m);
    return ok;
}

/* The backward walk once more, narrated node by node. */
static bool print_trace(const testnet_model *m, ag_graph *g)
{
    printf("\n== The backward walk, step by step (the chain rule with numbers) ==\n");
    ag_graph_zero_grad(g);
    ag_graph_set_trace(g, stdout);
    bool ok = ag_backward(g, m->J);
    ag_graph_set_trace(g, NULL);
    return ok;
}

/* Graphviz picture of the graph with values and gradients, in dir/testnet.dot */
static bool write_picture(const ag_graph *g, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/testnet.dot", dir);
    bool ok = ag_graph_save_dot(g, path);
    printf("\n== Graph picture ==\n%s %s\n", ok ? "wrote" : "could not write", ok ? path : ag_last_error());
    return ok;
}

/* W <- W - lr dJ/dW for every parameter */
/* Largest |a - b| / max(|b|, 1e-300) over n values */
static double worst_relative(size_t n, const double *a, const double *b)
{
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs(a[k] - b[k]) / fmax(fabs(b[k]), 1e-300);
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* The same TestNet in float32, beside the hand derivation (float64): each
 * value off by a few float roundings, 2^-24 = 6e-8 relative each; more than
 * 1e-6 would be a fault, not rounding. */
static bool print_float32(const testnet_forward *F, const testnet_grads *G)
{
    testnet_f32_result r;
    printf("\n== The same TestNet in float32 (a lesson in precision) ==\n");
    if (!testnet_float32_run(&testnet_weights, testnet_a0, testnet_label, &r)) {
        printf("float32 TestNet: %s\n", ag_last_error());
        return false;
    }
    printf("J: float32 %.9g, float64 %.17g\n", r.J, F->J);
    const struct { const char *name; size_t n; const double *f32, *hand; } rows[] = {
        {"J", 1, &r.J, &F->J},
        {"dJ/dW1", 12, &r.W1[0][0], &G->W1[0][0]}, {"dJ/db1", 4, r.b1, G->b1},
        {"dJ/dW2", 8, &r.W2[0][0], &G->W2[0][0]}, {"dJ/db2", 2, r.b2, G->b2}};
    bool ok = true;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double rel = worst_relative(rows[i].n, rows[i].f32, rows[i].hand);
        printf("  %-7s largest relative difference from the hand derivation: %.1e (%.1f u, u = 2^-24)\n",
               rows[i].name, rel, rel / 0x1p-24);
        ok = ok && rel <= 1e-6;
    }
    printf("  float32 keeps about 7 significant digits: the float64 check above is to 1e-12, this one to 1e-6\n");
    return ok;
}

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

int main(int argc, char **argv)
{
    const char *picture_dir = argc > 1 ? argv[1] : ".";
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
    ok = print_jacobians(&m, g, &F) && ok;
    ok = print_hessians(&F) && ok;
    ok = print_trace(&m, g) && ok;
    ok = write_picture(g, picture_dir) && ok;
    ok = print_float32(&F, &G) && ok;
    bool trained = train(&m, g);
    printf("\n%s: every difference %s %.0e; J %s over the SGD steps\n", ok ? "PASS" : "FAIL",
           ok ? "<=" : "NOT <=", TOLERANCE, trained ? "decreased" : "did NOT decrease");
    if (ag_graph_error(g)) fprintf(stderr, "testnet: %s\n", ag_graph_error(g));
    ag_graph_free(g);
    testnet_model_free(&m);
    return ok && trained ? 0 : 1;
}
