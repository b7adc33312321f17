/* examples/iris -- a small MLP on Fisher's Iris data.
 *
 * data/iris.csv: 150 rows of 4 measurements (cm) and a class (0 setosa,
 * 1 versicolor, 2 virginica), UCI Machine Learning Repository (CC BY 4.0).
 * Fixed held-out split: every 5th row (30 rows, 10 per class) is the test
 * set, the other 120 train. Features are standardised with the training
 * set's mean and standard deviation. MLP 4-8-3 (ReLU), softmax
 * cross-entropy, Adam, mini-batches of 12 shuffled with a fixed seed: the
 * same numbers on every run and machine. */
#include <agrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FEATURES 4
#define CLASSES 3
#define BATCH 12
#define EPOCHS 100

/* Split rows of x/y: every 5th row to the test set. */
static bool split(const ag_tensor *x, const ag_tensor *y, ag_tensor *out[4])
{
    int n = ag_tensor_dim(x, 0), n_test = (n + 4) / 5, n_train = n - n_test;
    out[0] = ag_tensor_zeros(2, (int[]){n_train, FEATURES});
    out[1] = ag_tensor_zeros(1, (int[]){n_train});
    out[2] = ag_tensor_zeros(2, (int[]){n_test, FEATURES});
    out[3] = ag_tensor_zeros(1, (int[]){n_test});
    if (!out[0] || !out[1] || !out[2] || !out[3]) return false;
    for (int i = 0, tr = 0, te = 0; i < n; i++) {
        bool test = i % 5 == 4;
        double *dst = ag_tensor_data(out[test ? 2 : 0]) + (test ? te : tr) * FEATURES;
        for (int j = 0; j < FEATURES; j++) dst[j] = ag_tensor_data(x)[i * FEATURES + j];
        ag_tensor_data(out[test ? 3 : 1])[test ? te++ : tr++] = ag_tensor_data(y)[i];
    }
    return true;
}

/* Standardise both sets with the training set's column statistics. */
static void standardise(ag_tensor *train, ag_tensor *test)
{
    int n = ag_tensor_dim(train, 0);
    for (int j = 0; j < FEATURES; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += ag_tensor_data(train)[i * FEATURES + j] / n;
        for (int i = 0; i < n; i++) {
            double d = ag_tensor_data(train)[i * FEATURES + j] - mean;
            var += d * d / n;
        }
        ag_tensor *sets[2] = {train, test};
        for (int s = 0; s < 2; s++)
            for (size_t i = 0; i < ag_tensor_size(sets[s]) / FEATURES; i++) {
                double *v = &ag_tensor_data(sets[s])[i * FEATURES + j];
                *v = (*v - mean) / sqrt(var);
            }
    }
}

/* Accuracy of the MLP on a whole set (a graph of its own). */
static double evaluate(const ag_mlp *m, const ag_tensor *x, const ag_tensor *y)
{
    ag_graph *g = ag_graph_new();
    ag_node *logits = ag_mlp_forward(m, g, ag_input(g, x));
    double acc = ag_accuracy(logits, y, ag_tensor_size(y));
    ag_graph_free(g);
    return acc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/iris.csv";
    ag_tensor *table = ag_csv_load(path, 1), *x = NULL, *y = NULL, *sets[4] = {NULL};
    if (!table || !ag_split_labels(table, -1, CLASSES, &x, &y) || !split(x, y, sets)) {
        fprintf(stderr, "iris: %s\n", ag_last_error());
        return 1;
    }
    standardise(sets[0], sets[2]);
    printf("Iris: %d training rows, %d test rows (every 5th row held out)\n", ag_tensor_dim(sets[0], 0),
           ag_tensor_dim(sets[2], 0));

    ag_params *ps = ag_params_new();
    ag_rng rng = ag_rng_new(2024);
    ag_mlp *mlp = ag_mlp_new(ps, "fc", 2, (int[]){FEATURES, 8, CLASSES},
                             (ag_activation[]){AG_ACT_RELU, AG_ACT_NONE}, &rng);
    size_t n_params;
    ag_tensor *const *params = ag_mlp_params(mlp, &n_params);
    ag_optimizer_config config = ag_adam_config(0.01);
    ag_optimizer *opt = ag_optimizer_new(n_params, params, &config);
    ag_batches *batches = ag_batches_new(sets[0], sets[1], BATCH, AG_BATCHES_SHUFFLE, 7);
    ag_tensor *bx = ag_tensor_zeros(2, (int[]){BATCH, FEATURES}), *by = ag_tensor_zeros(1, (int[]){BATCH});
    ag_graph *g = ag_graph_new();
    /* recorded once on the batch tensors, replayed for every batch */
    ag_node *loss = ag_softmax_xent(ag_mlp_forward(mlp, g, ag_input(g, bx)), ag_input(g, by));
    if (!mlp || !opt || !batches || !loss) {
        fprintf(stderr, "iris: %s\n", g && ag_graph_error(g) ? ag_graph_error(g) : ag_last_error());
        return 1;
    }
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        double total = 0;
        int n_batches = 0;
        while (ag_batches_next(batches, bx, by) > 0) { /* 120 = 10 full batches */
            ag_optimizer_zero_grad(opt);
            if (!ag_graph_forward(g) || !ag_backward(g, loss)) break;
            ag_optimizer_step(opt);
            total += ag_node_value(loss)[0];
            n_batches++;
        }
        if (epoch % 25 == 0 || epoch == 1)
            printf("epoch %3d  loss %.4f  train acc %5.1f%%  test acc %5.1f%%\n", epoch, total / n_batches,
                   100 * evaluate(mlp, sets[0], sets[1]), 100 * evaluate(mlp, sets[2], sets[3]));
    }
    double test_acc = evaluate(mlp, sets[2], sets[3]);
    printf("test accuracy: %.1f%% (%s the 95%% goal)\n", 100 * test_acc, test_acc >= 0.95 ? "meets" : "MISSES");
    if (ag_graph_error(g)) fprintf(stderr, "iris: %s\n", ag_graph_error(g));

    ag_graph_free(g);
    ag_tensor_free(bx);
    ag_tensor_free(by);
    ag_batches_free(batches);
    ag_optimizer_free(opt);
    ag_mlp_free(mlp);
    ag_params_free(ps);
    for (int i = 0; i < 4; i++) ag_tensor_free(sets[i]);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(table);
    return test_acc >= 0.95 ? 0 : 1;
}
