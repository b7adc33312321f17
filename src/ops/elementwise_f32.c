/* elementwise_f32.c -- the loops of every elementwise op in float32: the
 * rows of elementwise_rules.h stamped a second time, with real = float, by
 * the generator elementwise.c uses (elementwise_loops.h). It exports each
 * op's float32 kernels as ag_f32_<op>, which the op's descriptor (in
 * elementwise.c) points at; ag_record picks them for float32 operands.
 *
 * <tgmath.h> makes the rows' math functions float ones (exp(x) on a float
 * is expf). A double literal in a row (1.0 - y * y) makes that operation
 * double, rounded back to float when the result is stored: never less
 * accurate than the float operation, and the same row serves both types. */
#include "broadcast.h"
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

/* the float32 pass stamps the jvps and recorded derivatives too, which no
 * descriptor here refers to */
#pragma GCC diagnostic ignored "-Wunused-function"

#define ELEMENTWISE_FLOAT32
typedef float real;

#include "elementwise_loops.h"
