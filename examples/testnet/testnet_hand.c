/* testnet_hand.c -- the seed's derivation of TestNet, in plain loops. */
#include "testnet_hand.h"

#include <math.h>

/* Chosen so that no pre-activation is exactly 0 (z1 = 0.9, -2, -2.05, 0.075):
 * relu'(z1) is then unambiguous, and two hidden units are switched off so the
 * ReLU mask matters. */
const testnet_params testnet_weights = {
    .W1 = {{0.1, -0.2, 0.3}, {-0.4, 0.5, -0.6}, {0.7, 0.8, -0.9}, {-0.15, 0.25, 0.35}},
    .b1 = {0.05, -0.1, 0.2, -0.3},
    .W2 = {{0.2, -0.3, 0.4, 0.6}, {-0.5, 0.1, -0.2, 0.3}},
    .b2 = {0.01, -0.02},
};
const double testnet_a0[TN_IN] = {0.5, -1.0, 2.0};
const int testnet_label = 1;

void testnet_hand_forward(const testnet_params *P, const double a0[TN_IN], int label,
                          testnet_forward *F)
{
    for (int i = 0; i < TN_HID; i++) {
        F->z1[i] = P->b1[i];
        for (int j = 0; j < TN_IN; j++) F->z1[i] += P->W1[i][j] * a0[j];
        F->a1[i] = F->z1[i] > 0.0 ? F->z1[i] : 0.0;
    }
    for (int k = 0; k < TN_OUT; k++) {
        F->z2[k] = P->b2[k];
        for (int i = 0; i < TN_HID; i++) F->z2[k] += P->W2[k][i] * F->a1[i];
    }
    double m = fmax(F->z2[0], F->z2[1]), s = 0.0;
    for (int k = 0; k < TN_OUT; k++) s += exp(F->z2[k] - m);
    for (int k = 0; k < TN_OUT; k++) F->p[k] = exp(F->z2[k] - m) / s;
    F->J = -log(F->p[label]);
}

void testnet_hand_backward(const testnet_params *P, const double a0[TN_IN], int label,
                           const testnet_forward *F, testnet_grads *G)
{
    for (int k = 0; k < TN_OUT; k++) {
        G->dz2[k] = F->p[k] - (k == label ? 1.0 : 0.0);
        G->b2[k] = G->dz2[k];
        for (int i = 0; i < TN_HID; i++) G->W2[k][i] = G->dz2[k] * F->a1[i];
    }
    for (int i = 0; i < TN_HID; i++) {
        G->da1[i] = 0.0;
        for (int k = 0; k < TN_OUT; k++) G->da1[i] += P->W2[k][i] * G->dz2[k];
        G->dz1[i] = G->da1[i] * (F->z1[i] > 0.0 ? 1.0 : 0.0);
        G->b1[i] = G->dz1[i];
        for (int j = 0; j < TN_IN; j++) G->W1[i][j] = G->dz1[i] * a0[j];
    }
}
