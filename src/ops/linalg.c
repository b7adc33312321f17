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
 *   jvp      tC  = tA @ B + A @ tB
 *   recorded (vjp_nodes, jvp_nodes: the same, as nodes) at the end        */
#include "product.h"
#include "recorded.h"

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

/* float32 nodes: the same product over float */
static bool matmul_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    ag_product_forward_f32(out, NULL);
    return true;
}
static void matmul_vjp_f32(ag_node *out) { ag_product_vjp_f32(out, NULL); }
static const ag_typed_kernels matmul_f32 = {{matmul_forward_f32, matmul_vjp_f32}, NULL};

/* ---- recorded derivatives (vjp_nodes, jvp_nodes) ------------------------------
 * The vjp and jvp above recorded with the public ops, so that they can be
 * differentiated again. A 1-d operand is first made the matrix matmul reads
 * it as (A: [K] -> a row [1,K]; B: [K] -> a column [K,1]) and dC [..] the
 * product of those ([..., M, N], a dropped M or N put back as 1); then for
 * every form
 *   dA = sum_to(dC @ B^T, A's shape),   dB = sum_to(A^T @ dC, B's shape)
 * where ^T swaps the last two dimensions and sum_to sums a broadcast
 * operand's share over the batch dims it served (ag_rec_sum_to: summed
 * away where the operand lacks them, kept as 1 where it has size 1), and a
 * 1-d operand's share is reshaped back to [K]. Two matrices record neither
 * reshape nor sum: dA = dC @ B^T, dB = A^T @ dC. For instance
 *   [K] @ [B,K,N] -> [B,N]:  dC -> [B,1,N];
 *     dA = sum over B of ([B,1,N] @ [B,N,K] -> [B,1,K]) -> [1,K] -> [K]
 *     dB = [K,1] @ [B,1,N] -> [B,K,N]  (the outer product A dC_b per batch)
 *   [K] @ [K] -> []:  dC -> [1,1];  dA = [1,1] @ [1,K] -> [K] (dC B),
 *     dB = [K,1] @ [1,1] -> [K] (dC A)
 * The tangent needs none of this: matmul's own rules give each term the
 * result's shape, tC = tA @ B + A @ tB (a NULL tangent's term left out). */

/* x [..., R, C] -> [..., C, R] (x 2-d or more) */
static ag_node *swap_last_two(ag_node *x)
{
    if (!x) return NULL;
    int n = x->shape.ndim;
    if (n == 2) return ag_transpose(x);
    int perm[AG_MAX_DIMS];
    for (int d = 0; d < n; d++) perm[d] = d;
    perm[n - 2] = n - 1, perm[n - 1] = n - 2;
    return ag_permute(x, perm);
}

/* The shape matmul reads operand s as: [K] is [1,K] on the left and [K,1]
 * on the right; a matrix or batch is read as it is. */
static ag_shape as_matrix(const ag_shape *s, bool left)
{
    if (s->ndim != 1) return *s;
    int K = s->dims[0];
    return (ag_shape){.ndim = 2, .dims = {left ? 1 : K, left ? K : 1, 1, 1}, .size = s->size};
}

/* out's shape as the product of as_matrix(A) and as_matrix(B): M = 1 put
 * back before N where A is a vector, N = 1 appended where B is one
 * ([..., N] -> [..., 1, N]; [..., M] -> [..., M, 1]; [] -> [1,1]). */
static ag_shape result_as_matrix(const ag_node *out)
{
    ag_shape s = out->shape;
    bool a_vector = out->in[0]->shape.ndim == 1, b_vector = out->in[1]->shape.ndim == 1;
    if (a_vector) { /* insert M = 1 before N, or at the end when B is a vector too */
        int at = b_vector ? s.ndim : s.ndim - 1;
        for (int d = s.ndim; d > at; d--) s.dims[d] = s.dims[d - 1];
        s.dims[at] = 1;
        s.ndim++;
    }
    if (b_vector) s.dims[s.ndim++] = 1;
    return s;
}

bool ag_product_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_node *a = out->in[0], *b = out->in[1];
    ag_shape sa = as_matrix(&a->shape, true), sb = as_matrix(&b->shape, false);
    ag_shape sc = result_as_matrix(out);
    ag_node *gc = ag_rec_reshape_to(gy, &sc); /* dC [..., M, N] */
    if (ag_rec_takes_grad(out, 0)) { /* dA = sum_to(dC @ B^T) [.., M, K] -> A's shape */
        ag_node *b_t = swap_last_two(ag_rec_reshape_to(b, &sb));
        gx[0] = ag_rec_reshape_to(ag_rec_sum_to(ag_matmul(gc, b_t), &sa), &a->shape);
        if (!gx[0]) return false;
    }
    if (ag_rec_takes_grad(out, 1)) { /* dB = sum_to(A^T @ dC) [.., K, N] -> B's shape */
        ag_node *a_t = swap_last_two(ag_rec_reshape_to(a, &sa));
        gx[1] = ag_rec_reshape_to(ag_rec_sum_to(ag_matmul(a_t, gc), &sb), &b->shape);
        if (!gx[1]) return false;
    }
    return !out->graph->failed;
}

ag_node *ag_product_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *a = out->in[0], *b = out->in[1];
    ag_node *ta_b = tx[0] ? ag_matmul(tx[0], b) : NULL; /* tA @ B */
    ag_node *a_tb = tx[1] ? ag_matmul(a, tx[1]) : NULL; /* A @ tB */
    ag_node *t = ag_rec_add(ta_b, a_tb);
    return out->graph->failed ? NULL : t;
}

const ag_op ag_op_matmul = {.name = "matmul", .arity = 2, .symbol = "@",
                            .shape = matmul_shape, .specialize = ag_product_specialize,
                            .kernels = {matmul_forward, matmul_vjp},
                            .jvp = matmul_jvp,
                            .vjp_nodes = ag_product_vjp_nodes, .jvp_nodes = ag_product_jvp_nodes,
                            .f32 = &matmul_f32, .vjp_takes_pending_zero = true};

ag_node *ag_matmul(ag_node *a, ag_node *b) { return ag_record2(&ag_op_matmul, a, b, NULL); }
