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

/* dJ/dz2 = p - y^ and dp_i/dz2_k = p_i (delta_ik - p_k), so
 *   d^2J / dz2_i dz2_k = S[i][k] = delta_ik p_i - p_i p_k.
 * z2_i = sum_j W2[i][j] a1[j] + b2[i], so dz2_i / dW2[k][l] = delta_ik a1[l]
 * and z2 is linear in W2 (a1 does not depend on W2): the chain rule has no
 * second term, and
 *   d^2J / dW2[i][j] dW2[k][l] = S[i][k] a1[j] a1[l].
 * In the row-major flattening of W2 [2,4] (element [i][j] at i*4 + j, the
 * seed's W^(2) in R^{2x4} as testnet_model.c stores it) that is the
 * Kronecker product S (x) (a1 a1^T): block (i, k) is S[i][k] a1 a1^T. The
 * issue's (a1 a1^T) (x) S is the same matrix for the column-stacked vec(W2)
 * (element [i][j] at j*2 + i); the two differ by that permutation only. */
void testnet_hand_hessians(const testnet_forward *F, double Hz2[TN_OUT][TN_OUT],
                           double HW2[TN_OUT * TN_HID][TN_OUT * TN_HID])
{
    for (int i = 0; i < TN_OUT; i++)
        for (int k = 0; k < TN_OUT; k++) Hz2[i][k] = (i == k ? F->p[i] : 0.0) - F->p[i] * F->p[k];
    for (int i = 0; i < TN_OUT; i++)
        for (int j = 0; j < TN_HID; j++)
            for (int k = 0; k < TN_OUT; k++)
                for (int l = 0; l < TN_HID; l++)
                    HW2[i * TN_HID + j][k * TN_HID + l] = Hz2[i][k] * F->a1[j] * F->a1[l];
}
