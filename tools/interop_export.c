/* interop_export.c -- writes what tools/torch_compare.py needs to redo one
 * agrad step in PyTorch: the weights of an MLP (params.safetensors), a batch
 * (batch.safetensors: X [N,D], y [N]) and agrad's loss and gradients on it
 * (grads.safetensors: one tensor per parameter, same names, plus "loss").
 *
 *   interop_export DIR                                                     */
#include <agrad.h>
#include <stdio.h>
#include <string.h>

enum { N = 16, D = 4, H1 = 12, H2 = 8, C = 3 };

/* Copy each parameter's gradient into a store of the same names. */
static bool store_gradients(ag_params *grads, ag_tensor *const *params, size_t n, double loss)
{
    for (size_t k = 0; k < n; k++) {
        ag_tensor *p = params[k];
        int dims[AG_MAX_DIMS];
        for (int i = 0; i < ag_tensor_ndim(p); i++) dims[i] = ag_tensor_dim(p, i);
        ag_tensor *g = ag_params_add(grads, ag_tensor_name(p), ag_tensor_ndim(p), dims);
        if (!g) return false;
        memcpy(ag_tensor_data(g), ag_tensor_grad(p), ag_tensor_size(p) * sizeof(double));
    }
    ag_tensor *l = ag_params_add(grads, "loss", 0, NULL);
    if (l) ag_tensor_data(l)[0] = loss;
    return l != NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[512];
    ag_rng rng = ag_rng_new(31);
    ag_params *ps = ag_params_new(), *batch = ag_params_new(), *grads = ag_params_new();
    ag_mlp *m = ag_mlp_new(ps, "fc", 3, (int[]){D, H1, H2, C},
                           (ag_activation[]){AG_ACT_TANH, AG_ACT_RELU, AG_ACT_NONE}, &rng);
    ag_tensor *X = ag_params_add(batch, "X", 2, (int[]){N, D}), *y = ag_params_add(batch, "y", 1, (int[]){N});
    if (!m || !X || !y) return fprintf(stderr, "interop_export: %s\n", ag_last_error()), 1;
    ag_init_normal(X, &rng, 0.0, 1.5);
    for (int i = 0; i < N; i++) ag_tensor_data(y)[i] = (double)ag_rng_below(&rng, C);
    /* move the biases off zero so their gradients are checked in general */
    size_t n;
    ag_tensor *const *params = ag_mlp_params(m, &n);
    for (size_t k = 1; k < n; k += 2) ag_init_uniform(params[k], &rng, -0.5, 0.5);

    ag_graph *g = ag_graph_new();
    ag_node *loss = ag_softmax_xent(ag_mlp_forward(m, g, ag_input(g, X)), ag_input(g, y));
    bool ok = loss && ag_backward(g, loss) && store_gradients(grads, params, n, ag_node_value(loss)[0]);
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    ok = ok && ag_checkpoint_save(ps, path);
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    ok = ok && ag_checkpoint_save(batch, path);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    ok = ok && ag_checkpoint_save(grads, path);
    if (ok)
        printf("agrad: MLP %d-%d-%d-%d (tanh, relu), batch of %d, loss %.17g; wrote %s/{params,batch,grads}.safetensors\n",
               D, H1, H2, C, N, ag_node_value(loss)[0], dir);
    else
        fprintf(stderr, "interop_export: %s\n", ag_graph_error(g) ? ag_graph_error(g) : ag_last_error());
    ag_graph_free(g);
    ag_mlp_free(m);
    ag_params_free(ps);
    ag_params_free(batch);
    ag_params_free(grads);
    return ok ? 0 : 1;
}
