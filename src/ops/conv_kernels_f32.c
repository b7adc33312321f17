/* conv_kernels_f32.c -- a convolution pass in float32: conv_kernels_typed.h
 * with real = float on ag_gemm_f32 (products summed in float; the bias's
 * gradient row sums in double). */
#include "conv.h"

typedef float real;
#define GEMM ag_gemm_f32
#define AG_TYPED(name) name##_f32
#include "conv_kernels_typed.h"
