/* conv_kernels.c -- a convolution pass in float64: conv_kernels_typed.h
 * with real = double on ag_gemm (see conv.h for the math and the layout of
 * col), and the scratch size both types share. */
#include "conv.h"

typedef double real;
#define GEMM ag_gemm
#define AG_TYPED(name) name
#include "conv_kernels_typed.h"

size_t conv_aux_doubles(const conv_geometry *g) { return (size_t)conv_threads(g) * block_elements(g); }
