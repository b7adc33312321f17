/* hand_testnet.c -- the TestNet step derived by hand in plain loops, the floor
 * agrad's TestNet step is compared with. Its own file, so the step is a real
 * call (as an engine call is) and nothing is hoisted into the timing loop.
 *   z1 = W1 a0 + b1, a1 = relu(z1), z2 = W2 a1 + b2, J = -log softmax(z2)_y
 *   dz2 = p - onehot(y), dW2 = dz2 a1^T, db2 = dz2, da1 = W2^T dz2,
 *   dz1 = da1 * (z1 > 0), dW1 = dz1 a0^T, db1 = dz1
 * Gradients are written with '=' (no zeroing pass needed). */
#include "bench.h"

#include <math.h>

__attribute__((noinline)) double hand_testnet_step(const hand_params *P, const double *a0, int y,
                                                   hand_params *G)
{
    double z1[BN_HID], a1[BN_HID], z2[BN_OUT], p[BN_OUT], dz1[BN_HID];
    for (int i = 0; i < BN_HID; i++) {
        double s = P->b1[i];
        for (int j = 0; j < BN_IN; j++) s += P->W1[i][j] * a0[j];
        z1[i] = s;
        a1[i] = s > 0.0 ? s : 0.0;
    }
    for (int k = 0; k < BN_OUT; k++) {
        double s = P->b2[k];
        for (int i = 0; i < BN_HID; i++) s += P->W2[k][i] * a1[i];
        z2[k] = s;
    }
    double m = z2[0] > z2[1] ? z2[0] : z2[1], sum = 0.0;
    for (int k = 0; k < BN_OUT; k++) sum += p[k] = exp(z2[k] - m);
    for (int k = 0; k < BN_OUT; k++) p[k] /= sum;
    double J = log(sum) - (z2[y] - m);

    for (int k = 0; k < BN_OUT; k++) {
        double dz2 = p[k] - (k == y ? 1.0 : 0.0);
        G->b2[k] = dz2;
        for (int i = 0; i < BN_HID; i++) G->W2[k][i] = dz2 * a1[i];
    }
    for (int i = 0; i < BN_HID; i++) {
        double da1 = 0.0;
        for (int k = 0; k < BN_OUT; k++) da1 += P->W2[k][i] * G->b2[k];
        dz1[i] = z1[i] > 0.0 ? da1 : 0.0;
        G->b1[i] = dz1[i];
        for (int j = 0; j < BN_IN; j++) G->W1[i][j] = dz1[i] * a0[j];
    }
    return J;
}
