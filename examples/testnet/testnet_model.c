/* testnet_model.c -- TestNet with the engine's ops, column-vector form. */
#include "testnet_model.h"

#include <string.h>

static ag_tensor *named(ag_tensor *t, const char *name, bool param)
{
    if (t) ag_tensor_set_name(t, name);
    if (t && param) ag_tensor_requires_grad(t, true);
    return t;
}

/* A parameter tensor: standalone, or created in the store (zeros, named). */
static ag_tensor *parameter(ag_params *store, const char *name, int rows, int cols)
{
    int dims[2] = {rows, cols};
    return store ? ag_params_add(store, name, 2, dims) : named(ag_tensor_zeros(2, dims), name, true);
}

void testnet_model_set(testnet_model *m, const testnet_params *P)
{
    memcpy(ag_tensor_data(m->W1), P->W1, sizeof P->W1);
    memcpy(ag_tensor_data(m->b1), P->b1, sizeof P->b1);
    memcpy(ag_tensor_data(m->W2), P->W2, sizeof P->W2);
    memcpy(ag_tensor_data(m->b2), P->b2, sizeof P->b2);
}

bool testnet_model_init(testnet_model *m, const testnet_params *P, const double a0[TN_IN],
                        int label)
{
    return testnet_model_init_in(m, NULL, P, a0, label);
}

bool testnet_model_init_in(testnet_model *m, ag_params *store, const testnet_params *P,
                           const double a0[TN_IN], int label)
{
    memset(m, 0, sizeof *m);
    m->store = store;
    m->W1 = parameter(store, "W1", TN_HID, TN_IN);
    m->b1 = parameter(store, "b1", TN_HID, 1);
    m->W2 = parameter(store, "W2", TN_OUT, TN_HID);
    m->b2 = parameter(store, "b2", TN_OUT, 1);
    if (m->W1 && m->b1 && m->W2 && m->b2) testnet_model_set(m, P);
    m->a0 = named(ag_tensor_from(2, (int[]){TN_IN, 1}, a0), "a0", false);
    m->label = named(ag_tensor_scalar(label), "y", false);
    bool ok = m->W1 && m->b1 && m->W2 && m->b2 && m->a0 && m->label;
    if (!ok) testnet_model_free(m);
    return ok;
}

bool testnet_model_record(testnet_model *m, ag_graph *g)
{
    ag_node *W1 = m->W1_leaf = ag_param(g, m->W1), *b1 = m->b1_leaf = ag_param(g, m->b1);
    ag_node *W2 = m->W2_leaf = ag_param(g, m->W2), *b2 = m->b2_leaf = ag_param(g, m->b2);
    ag_node *a0 = ag_input(g, m->a0), *y = ag_input(g, m->label);
    m->z1 = ag_node_set_name(ag_add(ag_node_set_name(ag_matmul(W1, a0), "W1a0"), b1), "z1");
    m->a1 = ag_node_set_name(ag_relu(m->z1), "a1");
    m->z2 = ag_node_set_name(ag_add(ag_node_set_name(ag_matmul(W2, m->a1), "W2a1"), b2), "z2");
    m->p = ag_node_set_name(ag_softmax(m->z2), "p");
    m->J = ag_node_set_name(ag_softmax_xent(m->z2, y), "J");
    return ag_graph_error(g) == NULL;
}

void testnet_model_free(testnet_model *m)
{
    ag_tensor *params[] = {m->W1, m->b1, m->W2, m->b2};
    for (size_t i = 0; !m->store && i < 4; i++) ag_tensor_free(params[i]);
    ag_tensor_free(m->a0);
    ag_tensor_free(m->label);
    memset(m, 0, sizeof *m);
}
