/* testnet_hand.h -- TestNet (3 -> 4 ReLU -> 2, softmax, cross-entropy, one
 * sample) derived by hand, in plain loops that never call the engine. This is
 * the independent reference the engine's numbers are checked against, in the
 * example and in the tests. Column-vector convention of the seed. */
#ifndef TESTNET_HAND_H
#define TESTNET_HAND_H

#define TN_IN 3
#define TN_HID 4
#define TN_OUT 2

typedef struct testnet_params {
    double W1[TN_HID][TN_IN], b1[TN_HID], W2[TN_OUT][TN_HID], b2[TN_OUT];
} testnet_params;

typedef struct testnet_forward {
    double z1[TN_HID], a1[TN_HID], z2[TN_OUT], p[TN_OUT], J;
} testnet_forward;

typedef struct testnet_grads {
    double dz2[TN_OUT], da1[TN_HID], dz1[TN_HID]; /* the residuals, DESIGN.md 1 */
    double W1[TN_HID][TN_IN], b1[TN_HID], W2[TN_OUT][TN_HID], b2[TN_OUT];
} testnet_grads;

/* The fixed example: weights, input a0 and 0-based label (the seed's y = 2). */
extern const testnet_params testnet_weights;
extern const double testnet_a0[TN_IN];
extern const int testnet_label;

/* z1 = W1 a0 + b1, a1 = relu(z1), z2 = W2 a1 + b2, p = softmax(z2), J = -log p_y */
void testnet_hand_forward(const testnet_params *P, const double a0[TN_IN], int label,
                          testnet_forward *F);
/* dz2 = p - y^, dW2 = dz2 a1^T, db2 = dz2, da1 = W2^T dz2,
 * dz1 = da1 * relu'(z1) (relu'(0) = 0), dW1 = dz1 a0^T, db1 = dz1 */
void testnet_hand_backward(const testnet_params *P, const double a0[TN_IN], int label,
                           const testnet_forward *F, testnet_grads *G);

/* Second derivatives of J, from p and a1 alone (J = logsumexp(z2) - z2_y):
 *   Hz2 = d^2J/dz2^2 = dp/dz2 = S = diag(p) - p p^T                  [2x2]
 *   HW2 = d^2J/dW2^2, W2 [2,4] flattened row-major (W2[i][j] at i*4 + j):
 *         HW2[i*4+j][k*4+l] = S[i][k] a1[j] a1[l]                     [8x8]
 * (derivation in testnet_hand.c). */
void testnet_hand_hessians(const testnet_forward *F, double Hz2[TN_OUT][TN_OUT],
                           double HW2[TN_OUT * TN_HID][TN_OUT * TN_HID]);

#endif
