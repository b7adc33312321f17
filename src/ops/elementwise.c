/* elementwise.c -- the loops of every elementwise op in float64, generated
 * from the rule table (elementwise_loops.h stamps them; elementwise_f32.c
 * stamps the same rows in float32). The ops themselves are defined in elementwise_rules.h, one
 * line each (a scalar function and its derivatives); nothing below names an
 * op but the public functions of the ops with parameters, at the end.
 *
 * Each row is stamped into:
 *   forward  y[k]   = f(a[ia], b[ib])                     (unary: f(x[k]))
 *   vjp      ga[ia] += gy[k] * df/da,   gb[ib] += gy[k] * df/db
 *   jvp      ty[k]  = df/da * ta[ia] + df/db * tb[ib]
 * as inline functions for the rule, then loops that apply them: same-shape
 * operands (a unary op's only case) go straight to the op's own loops, and
 * a tiny tensor's (at most TINY_ELEMENTS, TestNet's) run as straight code;
 * the common broadcasts (a scalar, a bias row [C] over [N,C], a column [R,1]
 * over [R,C]; see broadcast.h) run loops over a 2-d view, so they make no
 * call per element either; any other broadcast visits the elements one by
 * one through the rule's function pointers. Every way applies the same
 * formula in the same order, so they give the same bits. A large tensor's
 * pass is split over the kernel threads (AG_PARALLEL_RANGE).
 *
 * The loops are written in `real`, the element type: double here; float in
 * elementwise_f32.c, which includes the same generator and table. */
#include "broadcast.h"
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef double real;

#include "elementwise_loops.h"

/* the public functions of the ops with parameters */
ag_node *ag_pow(ag_node *a, double p) { return ag_record1(&ag_op_pow, a, &(ag_exponent_params){p}); }
ag_node *ag_leaky_relu(ag_node *a, double slope)
{
    return ag_record1(&ag_op_leaky_relu, a, &(ag_slope_params){slope});
}
ag_node *ag_clamp(ag_node *a, double lo, double hi)
{
    return ag_record1(&ag_op_clamp, a, &(ag_bounds_params){lo, hi});
}
