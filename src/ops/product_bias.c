/* product_bias.c -- linear's bias laid over the product Y [M,N] along its
 * broadcast (the view in product.h: element (i, j) of the bias is
 * c[i*rs + j*cs], or c[i*N + j] read straight when flat):
 *   same    [M,N]            (flat)       dc[i,j] += dY[i,j]
 *   row     [N] or [1,N]     rs 0, cs 1   dc[j]   += sum_i dY[i,j]
 *   column  [M,1]            rs 1, cs 0   dc[i]   += sum_j dY[i,j]
 *   scalar  [], [1], [1,1]   rs 0, cs 0   dc      += sum dY
 * set and add serve the forward (and add the tangent), grad the vjp. */
#include "product.h"

#include <string.h>

/* One pass between Y [M,N] and the bias, split over the kernel threads when
 * large (AG_PARALLEL_RANGE): each piece is a range of Y's elements (flat
 * bias), of its rows, or of its columns (a row bias summing dY down them).
 * ag_bias_set's range functions are inlined where called directly, and
 * ag_bias_grad adds a tiny flat bias's gradient before any job is built, so
 * a tiny layer (TestNet's) pays neither a call nor a store. */
typedef double real;
#define AG_TYPED(name) name
#include "product_bias_typed.h"
