/* testnet_model.h -- TestNet written with the engine (the autograd side). */
#ifndef TESTNET_MODEL_H
#define TESTNET_MODEL_H

#include <agrad.h>

#include "testnet_hand.h"

typedef struct testnet_model {
    ag_tensor *W1, *b1, *W2, *b2; /* parameters: [4,3] [4,1] [2,4] [2,1] */
    ag_params *store;             /* owns the parameters when not NULL */
    ag_tensor *a0;                /* input [3,1] */
    ag_tensor *label;             /* class index, a scalar */
    ag_node *z1, *a1, *z2, *p, *J;
    ag_node *W1_leaf, *b1_leaf, *W2_leaf, *b2_leaf; /* the parameters' leaves in that graph */
} testnet_model;

/* Tensors from the hand-side parameters; false (ag_last_error) on failure. */
bool testnet_model_init(testnet_model *m, const testnet_params *P, const double a0[TN_IN],
                        int label);
/* Same, with the parameters created in `store` as "W1", "b1", "W2", "b2" (the
 * store owns them), so they can be checkpointed. */
bool testnet_model_init_in(testnet_model *m, ag_params *store, const testnet_params *P,
                           const double a0[TN_IN], int label);
/* Copy the hand-side parameters into the model's tensors. */
void testnet_model_set(testnet_model *m, const testnet_params *P);
/* Record the forward pass on g: z1, a1, z2, p = softmax(z2), J (named),
 * keeping the parameters' leaves. */
bool testnet_model_record(testnet_model *m, ag_graph *g);
void testnet_model_free(testnet_model *m);

/* TestNet once more in float32 (a lesson in precision): the same network
 * from float32 copies of the parameters, input and label (each rounded to
 * the nearest float), z1 = W1 a0 + b1, a1 = relu(z1), z2 = W2 a1 + b2, J,
 * one backward; J and the four gradients widened to double. The rounding
 * of the inputs alone moves them by about 2^-24 (6e-8) relative. */
typedef struct testnet_f32_result {
    double J;
    double W1[TN_HID][TN_IN], b1[TN_HID], W2[TN_OUT][TN_HID], b2[TN_OUT];
} testnet_f32_result;
bool testnet_float32_run(const testnet_params *P, const double a0[TN_IN], int label, testnet_f32_result *r);

#endif
