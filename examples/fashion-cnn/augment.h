/* augment.h -- random mirroring and shifting of training images
 * (examples/fashion-cnn). Validation and test images are never augmented. */
#ifndef FASHION_AUGMENT_H
#define FASHION_AUGMENT_H

#include <agrad.h>
#include <stdbool.h>

typedef struct augment_config {
    bool flip;      /* mirror left-right with probability 1/2 */
    int shift;      /* translate by (dx, dy), each uniform in [-shift, shift] */
    double blank;   /* the value shifted-in pixels get (a blank pixel, standardised) */
} augment_config;

/* Augment the first `rows` images of x [B,1,side,side] in place. Per image,
 * in row order, the draws from rng are: one for the mirror (when flip), then
 * dx, then dy (when shift > 0). Mirroring comes first, then
 *   out[y][x] = in[y - dy][x - dx]  (blank where y - dy or x - dx is outside). */
void augment_batch(ag_tensor *x, int rows, int side, const augment_config *c, ag_rng *rng);

#endif
