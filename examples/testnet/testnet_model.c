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

/* tensor t rounded to float32, requiring grad when a parameter */
static ag_tensor *narrowed(const double *values, int rows, int cols, bool param)
{
    ag_tensor *wide = ag_tensor_from(2, (int[]){rows, cols}, values);
    ag_tensor *t = wide ? ag_tensor_to_dtype(wide, AG_FLOAT32) : NULL;
    ag_tensor_free(wide);
    if (t && param) ag_tensor_requires_grad(t, true);
    return t;
}

static void widen_grad(const ag_tensor *t, double *out)
{
    for (size_t k = 0; k < ag_tensor_size(t); k++) out[k] = ag_tensor_grad_f32(t)[k];
}

bool testnet_float32_run(const testnet_params *P, const double a0[TN_IN], int label, testnet_f32_result *r)
{
    double y = label;
    ag_tensor *t[6] = {narrowed(&P->W1[0][0], TN_HID, TN_IN, true), narrowed(P->b1, TN_HID, 1, true),
                       narrowed(&P->W2[0][0], TN_OUT, TN_HID, true), narrowed(P->b2, TN_OUT, 1, true),
                       narrowed(a0, TN_IN, 1, false), narrowed(&y, 1, 1, false)};
    ag_graph *g = ag_graph_new();
    bool ok = g != NULL;
    for (int k = 0; k < 6; k++) ok = ok && t[k];
    if (ok) {
        ag_node *z1 = ag_add(ag_matmul(ag_param(g, t[0]), ag_input(g, t[4])), ag_param(g, t[1]));
        ag_node *z2 = ag_add(ag_matmul(ag_param(g, t[2]), ag_relu(z1)), ag_param(g, t[3]));
        ag_node *J = ag_softmax_xent(z2, ag_input(g, t[5]));
        ok = J && ag_backward(g, J);
        if (ok) {
            r->J = ag_node_get(J, 0);
            widen_grad(t[0], &r->W1[0][0]);
            widen_grad(t[1], r->b1);
            widen_grad(t[2], &r->W2[0][0]);
            widen_grad(t[3], r->b2);
        }
    }
    ag_graph_free(g);
    for (int k = 0; k < 6; k++) ag_tensor_free(t[k]);
    return ok;
}
