/* linalg.c -- matrix product (its kernels in matmul_kernels.h, shared with
 * linear.c).
 *   forward  C[M,N] = A[M,K] @ B[K,N]
 *   vjp      dA += dC @ B^T,  dB += A^T @ dC   (no transpose is materialised)
 *   jvp      tC  = tA @ B + A @ tB                                          */
#include "matmul_kernels.h"

#include <stdio.h>

/* The product's shape (also linear's) */
bool ag_matmul_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape;
    if (a->ndim != 2 || b->ndim != 2) {
        snprintf(why, len, "both operands must be 2-d matrices");
        return false;
    }
    if (a->dims[1] != b->dims[0]) {
        snprintf(why, len, "inner dimensions differ (%d vs %d)", a->dims[1], b->dims[0]);
        return false;
    }
    /* both factors are valid shapes; only the product's size can be too big */
    size_t size = (size_t)a->dims[0] * (size_t)b->dims[1];
    if (size > (size_t)1 << 40) {
        snprintf(why, len, "the product would have %zu elements (over 2^40)", size);
        return false;
    }
    out->shape = (ag_shape){.ndim = 2, .dims = {a->dims[0], b->dims[1], 1, 1}, .size = size};
    return true;
}

static bool matmul_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    matmul_values(out);
    return true;
}

static void matmul_vjp(ag_node *out) { matmul_grads(out); }

void ag_matmul_jvp(ag_node *out)
{
    ag_node *a = out->in[0], *b = out->in[1];
    int M = a->shape.dims[0], K = a->shape.dims[1], N = b->shape.dims[1];
    double beta = 0.0;
    for (size_t i = 0; i < out->shape.size; i++) out->tangent[i] = 0.0;
    if (a->tangent) {
        ag_gemm(false, false, M, N, K, a->tangent, K, b->value, N, beta, out->tangent, N);
        beta = 1.0;
    }
    if (b->tangent) ag_gemm(false, false, M, N, K, a->value, K, b->tangent, N, beta, out->tangent, N);
}

/* a matrix times a short vector (K = 1 .. SMALL_K_MAX) */
MATVEC_KERNEL_TABLE(matmul_matvec_kernels, matmul_matvec, false)

static const ag_kernels *matmul_specialize(const ag_node *out)
{
    int M = out->shape.dims[0], N = out->shape.dims[1], K = out->in[0]->shape.dims[1];
    return takes_matvec_variant(M, N, K) ? &matmul_matvec_kernels[K - 1] : NULL;
}

const ag_op ag_op_matmul = {.name = "matmul", .arity = 2, .symbol = "@",
                            .shape = ag_matmul_shape, .specialize = matmul_specialize,
                            .forward = matmul_forward, .vjp = matmul_vjp, .jvp = ag_matmul_jvp};

ag_node *ag_matmul(ag_node *a, ag_node *b) { return ag_record2(&ag_op_matmul, a, b, NULL); }
