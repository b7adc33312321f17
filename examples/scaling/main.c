/* examples/scaling -- the seed's last section in numbers: gradients grow with
 * the input scale, so unnormalised inputs force a tiny learning rate.
 *
 * The network is TestNet's shape (3 -> 4 ReLU -> 2, softmax cross-entropy) on
 * a batch of 64 two-class samples, rows are samples. The inputs are scaled
 * by 1, 10 and 1000, raw or standardised per feature (mean 0, std 1). For each
 * case: the gradient norm of every parameter at the same initial weights,
 * and the largest learning rate on a grid (10^1 down to 10^-8, half-decade
 * steps) for which 20 SGD steps still lower the loss. */
#include <agrad.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N 64
#define D 3
#define H 4
#define C 2
#define STEPS 20

typedef struct net {
    ag_tensor *W1, *b1, *W2, *b2, *X, *y;
    ag_graph *g;
    ag_node *J;
} net;

/* Two Gaussian blobs in 3-d, labels 0 and 1 alternating; fixed seed. */
static void make_data(double x[N][D], double y[N])
{
    ag_rng r = ag_rng_new(7);
    const double centre[C][D] = {{1.0, -1.0, 0.5}, {-1.0, 1.0, -0.5}};
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        for (int j = 0; j < D; j++) x[i][j] = centre[i % 2][j] + ag_rng_normal(&r, 0.0, 1.5);
    }
}

/* Standardise each column of x in place (mean 0, standard deviation 1). */
static void standardise(double x[N][D])
{
    for (int j = 0; j < D; j++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < N; i++) mean += x[i][j] / N;
        for (int i = 0; i < N; i++) var += (x[i][j] - mean) * (x[i][j] - mean) / N;
        for (int i = 0; i < N; i++) x[i][j] = (x[i][j] - mean) / sqrt(var);
    }
}

/* Same initial weights every time: normal(0, 0.5) from seed 42, zero biases. */
static void init_weights(net *m)
{
    ag_rng r = ag_rng_new(42);
    ag_tensor *w[] = {m->W1, m->W2};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ag_tensor_size(w[k]); i++) ag_tensor_data(w[k])[i] = ag_rng_normal(&r, 0.0, 0.5);
    memset(ag_tensor_data(m->b1), 0, H * sizeof(double));
    memset(ag_tensor_data(m->b2), 0, C * sizeof(double));
}

static bool net_init(net *m, double x[N][D], const double y[N])
{
    m->W1 = ag_tensor_zeros(2, (int[]){D, H});
    m->b1 = ag_tensor_zeros(1, (int[]){H});
    m->W2 = ag_tensor_zeros(2, (int[]){H, C});
    m->b2 = ag_tensor_zeros(1, (int[]){C});
    m->X = ag_tensor_from(2, (int[]){N, D}, &x[0][0]);
    m->y = ag_tensor_from(1, (int[]){N}, y);
    ag_tensor *params[] = {m->W1, m->b1, m->W2, m->b2};
    for (int k = 0; k < 4; k++)
        if (!params[k] || !ag_tensor_requires_grad(params[k], true)) return false;
    m->g = ag_graph_new();
    if (!m->X || !m->y || !m->g) return false;
    /* J = mean softmax_xent(relu(X W1 + b1) W2 + b2, y) */
    ag_graph *g = m->g;
    ag_node *h = ag_relu(ag_add(ag_matmul(ag_input(g, m->X), ag_param(g, m->W1)), ag_param(g, m->b1)));
    m->J = ag_softmax_xent(ag_add(ag_matmul(h, ag_param(g, m->W2)), ag_param(g, m->b2)), ag_input(g, m->y));
    return m->J != NULL;
}

static void net_free(net *m)
{
    ag_tensor *all[] = {m->W1, m->b1, m->W2, m->b2, m->X, m->y};
    for (int k = 0; k < 6; k++) ag_tensor_free(all[k]);
    ag_graph_free(m->g);
}

/* Loss and gradients at the current weights (replaying the recorded graph). */
static double loss_and_grads(net *m)
{
    ag_graph_zero_grad(m->g);
    if (!ag_graph_forward(m->g) || !ag_backward(m->g, m->J)) return NAN;
    return ag_node_value(m->J)[0];
}

static double norm(const ag_tensor *t)
{
    double s = 0.0;
    for (size_t i = 0; i < ag_tensor_size(t); i++) s += ag_tensor_grad(t)[i] * ag_tensor_grad(t)[i];
    return sqrt(s);
}

/* Loss after STEPS steps of SGD at learning rate lr from the initial weights. */
static double train(net *m, double lr)
{
    init_weights(m);
    ag_tensor *params[] = {m->W1, m->b1, m->W2, m->b2};
    double J = loss_and_grads(m);
    for (int s = 0; s < STEPS && isfinite(J); s++) {
        for (int k = 0; k < 4; k++)
            for (size_t i = 0; i < ag_tensor_size(params[k]); i++)
                ag_tensor_data(params[k])[i] -= lr * ag_tensor_grad(params[k])[i];
        J = loss_and_grads(m);
    }
    return J;
}

static void report(net *m, double scale, bool normalised)
{
    init_weights(m);
    double J0 = loss_and_grads(m);
    printf("%6g  %-12s %10.4g %10.4g %10.4g %10.4g %10.4g", scale, normalised ? "standardised" : "raw", J0,
           norm(m->W1), norm(m->b1), norm(m->W2), norm(m->b2));
    for (int e = 2; e >= -16; e--) { /* lr = 10^(e/2), largest first */
        double lr = pow(10.0, e / 2.0), J = train(m, lr);
        if (isfinite(J) && J < J0) {
            printf("   %10.3g  %10.4g\n", lr, J);
            return;
        }
    }
    printf("   %10s\n", "none");
}

int main(void)
{
    static double base[N][D], x[N][D];
    double y[N];
    make_data(base, y);
    printf("Input scale and gradients (TestNet shape, batch of %d, same initial weights)\n\n", N);
    printf("%6s  %-12s %10s %10s %10s %10s %10s   %10s  %10s\n", "scale", "inputs", "J", "|dJ/dW1|",
           "|dJ/db1|", "|dJ/dW2|", "|dJ/db2|", "largest lr", "J after 20");
    static const double scales[] = {1, 10, 1000};
    for (int norm_pass = 0; norm_pass < 2; norm_pass++)
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < N; i++)
                for (int j = 0; j < D; j++) x[i][j] = scales[k] * base[i][j];
            if (norm_pass) standardise(x);
            net m = {0};
            if (!net_init(&m, x, y)) {
                fprintf(stderr, "scaling: %s\n", m.g ? ag_graph_error(m.g) : ag_last_error());
                net_free(&m);
                return 1;
            }
            report(&m, scales[k], norm_pass);
            net_free(&m);
        }
    printf("\nRaw inputs: |dJ/dW1| grows with the scale, so the usable learning rate shrinks.\n"
           "Standardised inputs: the same gradients and learning rate at every scale.\n");
    return 0;
}
