/* tools/iris_predict.c -- load an MLP trained in PyTorch
 * (tools/torch_train_iris.py: F32 or BF16 .safetensors, nn.Linear layout)
 * and check that agrad predicts the classes PyTorch did on every row.
 *
 *   iris_predict MODEL.safetensors data/iris.csv CLASSES.txt
 *
 * PyTorch's nn.Linear keeps weight [out, in] and computes x W^T + b;
 * ag_dense takes W [in, out] and computes x W + b, so each weight is
 * copied transposed into a store tensor of ag_dense's layout. The values
 * are widened exactly to double by the loader, and the forward pass runs
 * in double: the classes match unless a row is a near tie (none is).
 * Exit status 0 when every class matches. */
#include <agrad.h>
#include <stdio.h>
#include <stdlib.h>

#define FEATURES 4
#define ROWS 150

/* dst [in, out] = src^T for src [out, in]; false if src is not 2-d. */
static bool transpose_into(ag_tensor *dst, const ag_tensor *src)
{
    if (!src || ag_tensor_ndim(src) != 2) return false;
    int out = ag_tensor_dim(src, 0), in = ag_tensor_dim(src, 1);
    if (ag_tensor_dim(dst, 0) != in || ag_tensor_dim(dst, 1) != out) return false;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) ag_tensor_data(dst)[i * out + o] = ag_tensor_data(src)[o * in + i];
    return true;
}

/* The two dense layers, PyTorch's tensors moved into ag_dense's layout. */
static bool layers_from(const ag_params *torch_model, ag_tensor *W[2], ag_tensor *b[2])
{
    const char *weights[2] = {"0.weight", "2.weight"}, *biases[2] = {"0.bias", "2.bias"};
    for (int l = 0; l < 2; l++) {
        const ag_tensor *w = ag_params_get(torch_model, weights[l]);
        const ag_tensor *bias = ag_params_get(torch_model, biases[l]);
        if (!w || !bias || ag_tensor_ndim(w) != 2) return false;
        W[l] = ag_tensor_zeros(2, (int[]){ag_tensor_dim(w, 1), ag_tensor_dim(w, 0)});
        b[l] = ag_tensor_from(1, (int[]){ag_tensor_dim(w, 0)}, ag_tensor_data(bias));
        if (!W[l] || !b[l] || !transpose_into(W[l], w)) return false;
    }
    return true;
}

/* x [150, 4] standardised with the model's stored mean and std. */
static ag_tensor *standardised_rows(const char *csv, const ag_params *model, ag_tensor **labels)
{
    ag_tensor *m = ag_csv_load(csv, 1), *x = NULL;
    const ag_tensor *mean = ag_params_get(model, "norm.mean"), *std = ag_params_get(model, "norm.std");
    if (!m || !mean || !std || !ag_split_labels(m, -1, 3, &x, labels)) {
        ag_tensor_free(m);
        return NULL;
    }
    ag_tensor_free(m);
    for (size_t i = 0; i < ag_tensor_size(x); i++) {
        double *v = &ag_tensor_data(x)[i];
        *v = (*v - ag_tensor_data(mean)[i % FEATURES]) / ag_tensor_data(std)[i % FEATURES];
    }
    return x;
}

static int argmax_row(const double *logits, int classes)
{
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (logits[c] > logits[best]) best = c;
    return best;
}

/* Rows whose class differs from the expected file's (-1 on a bad file). */
static int mismatches(const ag_node *logits, const char *expected_path, int rows)
{
    FILE *f = fopen(expected_path, "r");
    if (!f) return -1;
    int bad = 0, expected;
    for (int r = 0; r < rows; r++) {
        if (fscanf(f, "%d", &expected) != 1) {
            bad = -1;
            break;
        }
        int got = argmax_row(ag_node_value(logits) + 3 * r, 3);
        if (got != expected) {
            printf("row %d: agrad predicts %d, PyTorch %d\n", r, got, expected);
            bad++;
        }
    }
    fclose(f);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: iris_predict MODEL.safetensors iris.csv CLASSES.txt\n");
        return 2;
    }
    ag_params *model = ag_checkpoint_read(argv[1]);
    ag_tensor *W[2] = {0}, *b[2] = {0}, *labels = NULL;
    ag_tensor *x = model ? standardised_rows(argv[2], model, &labels) : NULL;
    int bad = -1;
    ag_graph *g = ag_graph_new();
    if (x && layers_from(model, W, b)) {
        ag_node *h = ag_dense(g, ag_input(g, x), W[0], b[0], AG_ACT_RELU);
        ag_node *logits = ag_dense(g, h, W[1], b[1], AG_ACT_NONE);
        if (logits && ag_tensor_dim(x, 0) == ROWS) bad = mismatches(logits, argv[3], ROWS);
    }
    if (bad == 0)
        printf("iris_predict: %s: agrad predicts PyTorch's class on all %d rows\n", argv[1], ROWS);
    else if (bad > 0)
        printf("iris_predict: %s: %d of %d rows differ from PyTorch\n", argv[1], bad, ROWS);
    else
        fprintf(stderr, "iris_predict: %s: %s\n", argv[1], ag_last_error());
    ag_graph_free(g);
    for (int l = 0; l < 2; l++) {
        ag_tensor_free(W[l]);
        ag_tensor_free(b[l]);
    }
    ag_tensor_free(x);
    ag_tensor_free(labels);
    ag_params_free(model);
    return bad == 0 ? 0 : 1;
}
