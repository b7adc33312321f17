/* product_f32.c -- the matrix product of float32 matmul and linear nodes:
 * product.c's loops over the batch (product_typed.h) stamped with real =
 * float on ag_gemm_f32. Float32 nodes take no specialise step, so the
 * TestNet-sized kernels of product.c have no float32 twin. */
#include "product.h"

/* the small-product loops the specialised float64 kernels use are stamped
 * here too, unused */
#pragma GCC diagnostic ignored "-Wunused-function"

typedef float real;
#define GEMM ag_gemm_f32
#define AG_TYPED(name) name##_f32
#include "product_typed.h"
