/* linalg.c -- matmul, the matrix product with torch.matmul's rules (its
 * routine, shared with linear, in product.c):
 *   [M,K] @ [K,N] -> [M,N]
 *   [K] @ [K,N] -> [N],  [M,K] @ [K] -> [M],  [K] @ [K] -> []  (a 1-d
 *     operand is a row on the left, a column on the right, and that
 *     dimension is dropped from the result)
 *   batches: [..., M,K] @ [..., K,N] -> [..., M,N], the batch dims (those
 *     before the last two, at most two) broadcasting as ag_add's; a 1-d
 *     operand against a batched one is a vector against each matrix
 *     ([K] @ [B,K,N] -> [B,N])
 *   forward  C = A @ B for each batch matrix
 *   vjp      dA += dC @ B^T,  dB += A^T @ dC  (summed over the batch
 *            matrices a broadcast operand served)
 *   jvp      tC  = tA @ B + A @ tB                                          */
#include "product.h"

#include <stdio.h>

/* "2x3" for the operand's batch dims (which come first in its shape) */
static const char *batch_dims_str(const ag_shape *s, const product_operand *p, char *buf, size_t len)
{
    return ag_shape_string(p->batch_ndim, s->dims, buf, len);
}

/* The result's shape for operands of any of the forms above (not both 2-d).
 * Out of line: the common case, two matrices, keeps a small frame. */
__attribute__((noinline)) static bool batched_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape;
    if (a->ndim == 0 || b->ndim == 0) {
        snprintf(why, len, "both operands must be at least 1-d (a scalar is no vector or matrix)");
        return false;
    }
    product_operand pa = ag_product_operand(a, true), pb = ag_product_operand(b, false);
    if (pa.cols != pb.rows) {
        snprintf(why, len, "inner dimensions differ (%d vs %d)", pa.cols, pb.rows);
        return false;
    }
    int batch[2];
    for (int d = 0; d < 2; d++) {
        if (pa.batch[d] != pb.batch[d] && pa.batch[d] != 1 && pb.batch[d] != 1) {
            char da[32], db[32];
            snprintf(why, len, "batch dimensions (%s) and (%s) do not broadcast (%d vs %d)",
                     batch_dims_str(a, &pa, da, sizeof da), batch_dims_str(b, &pb, db, sizeof db),
                     pa.batch[d], pb.batch[d]);
            return false;
        }
        batch[d] = pa.batch[d] > pb.batch[d] ? pa.batch[d] : pb.batch[d];
    }
    /* the result: the broadcast batch dims, then M unless a is a vector, N
     * unless b is one */
    int batch_ndim = pa.batch_ndim > pb.batch_ndim ? pa.batch_ndim : pb.batch_ndim;
    ag_shape s = {.dims = {1, 1, 1, 1}};
    for (int d = 2 - batch_ndim; d < 2; d++) s.dims[s.ndim++] = batch[d];
    if (a->ndim >= 2) s.dims[s.ndim++] = pa.rows;
    if (b->ndim >= 2) s.dims[s.ndim++] = pb.cols;
    /* each factor is at most 2^40, so the count is exact enough in a double */
    double count = (double)batch[0] * batch[1] * pa.rows * pb.cols;
    if (count > (double)AG_MAX_ELEMENTS) {
        snprintf(why, len, "the product would have %.0f elements (over 2^40)", count);
        return false;
    }
    s.size = (size_t)count;
    out->shape = s;
    return true;
}

static bool matmul_shape(ag_node *out, char *why, size_t len)
{
    if (out->in[0]->shape.ndim == 2 && out->in[1]->shape.ndim == 2)
        return ag_product_shape_2d(out, why, len); /* the common case: two matrices */
    return batched_shape(out, why, len);
}

static bool matmul_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    ag_product_forward(out, NULL);
    return true;
}

static void matmul_vjp(ag_node *out) { ag_product_vjp(out, NULL); }
static void matmul_jvp(ag_node *out) { ag_product_jvp(out, NULL); }

const ag_op ag_op_matmul = {.name = "matmul", .arity = 2, .symbol = "@",
                            .shape = matmul_shape, .specialize = ag_product_specialize,
                            .kernels = {matmul_forward, matmul_vjp}, .jvp = matmul_jvp};

ag_node *ag_matmul(ag_node *a, ag_node *b) { return ag_record2(&ag_op_matmul, a, b, NULL); }
