/* augment.c -- see augment.h. */
#include "augment.h"

#include <string.h>

/* image [side,side]: row y becomes its mirror image, x <-> side-1-x */
static void mirror(double *image, int side)
{
    for (int y = 0; y < side; y++)
        for (int x = 0, last = side - 1; x < last - x; x++) {
            double keep = image[y * side + x];
            image[y * side + x] = image[y * side + last - x];
            image[y * side + last - x] = keep;
        }
}

/* image [side,side] <- image translated by (dx, dy), blank filled in;
 * scratch holds side*side values. */
static void translate(double *image, double *scratch, int side, int dx, int dy, double blank)
{
    memcpy(scratch, image, (size_t)side * side * sizeof(double));
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int sy = y - dy, sx = x - dx;
            bool inside = sy >= 0 && sy < side && sx >= 0 && sx < side;
            image[y * side + x] = inside ? scratch[sy * side + sx] : blank;
        }
}

void augment_batch(ag_tensor *x, int rows, int side, const augment_config *c, ag_rng *rng)
{
    double scratch[64 * 64];
    if (side > 64) return; /* the scratch image; Fashion-MNIST's side is 28 */
    for (int r = 0; r < rows; r++) {
        double *image = ag_tensor_data(x) + (size_t)r * side * side;
        if (c->flip && ag_rng_below(rng, 2)) mirror(image, side);
        if (c->shift > 0) {
            int span = 2 * c->shift + 1;
            int dx = (int)ag_rng_below(rng, (unsigned long long)span) - c->shift;
            int dy = (int)ag_rng_below(rng, (unsigned long long)span) - c->shift;
            if (dx || dy) translate(image, scratch, side, dx, dy, c->blank);
        }
    }
}
