/* product.h -- the matrix product that matmul (linalg.c) and linear
 * (linear.c) both run: one routine for its value, gradient and tangent,
 * with an optional bias (linear's), on plain loops when small and on ag_gemm
 * otherwise, over a batch of matrices (product.c); and the one specialise
 * step that gives a matrix-times-short-vector node kernels of its own.
 *
 * For each of the result's batch matrices (one for a 2-d product):
 *   forward  C[M,N] = c + A[M,K] @ B[K,N]   (c: the bias along its broadcast;
 *                                            none for matmul)
 *   vjp      dA += dC @ B^T,  dB += A^T @ dC,  dc += dC summed over the
 *            dimensions the bias is repeated along
 *   jvp      tC  = tA @ B + A @ tB + tc
 * An operand broadcast over a batch dimension (absent, or of size 1) serves
 * several of the result's matrices, so its gradient is the sum of theirs. */
#ifndef AGRAD_OPS_PRODUCT_H
#define AGRAD_OPS_PRODUCT_H

#include "../internal.h"

#include <stdio.h>

/* ---- shapes ---------------------------------------------------------------- */

/* One operand of matmul seen as torch.matmul sees it: a batch of matrices
 * [batch[0], batch[1], rows, cols], batch dims padded with 1 on the left. A
 * 1-d left operand [K] is one row [1,K], a 1-d right operand [K] one
 * column [K,1]; 3-d and 4-d operands have one and two batch dims. */
typedef struct product_operand {
    int rows, cols;
    int batch[2];
    int batch_ndim; /* how many of batch[] the operand itself has (0 to 2) */
} product_operand;

product_operand ag_product_operand(const ag_shape *s, bool left);

/* How a product reads its operands: for each of the result's batch matrices
 * (i, j), i < batch[0] and j < batch[1], C_ij [M,N] = A_ij [M,K] @ B_ij [K,N]
 * where A_ij starts at element i*a_step[0] + j*a_step[1] of A (0 along a
 * batch dim A is broadcast over: its matrix is read again), B_ij likewise,
 * and C_ij at (i*batch[1] + j)*M*N. Every matrix is row-major and
 * contiguous: the operands are read in place. */
typedef struct product_layout {
    int M, N, K;
    int batch[2];
    size_t a_step[2], b_step[2];
} product_layout;

/* The layout of out = in[0] @ in[1] (shapes already checked). */
product_layout ag_product_layout(const ag_node *out);

/* Where batch matrix (i, j) of A, B and the result C start. */
typedef struct batch_offsets {
    size_t a, b, c;
} batch_offsets;

static inline batch_offsets batch_matrix(const product_layout *L, int i, int j)
{
    return (batch_offsets){
        .a = (size_t)i * L->a_step[0] + (size_t)j * L->a_step[1],
        .b = (size_t)i * L->b_step[0] + (size_t)j * L->b_step[1],
        .c = ((size_t)i * (size_t)L->batch[1] + (size_t)j) * (size_t)L->M * (size_t)L->N};
}


/* The shape rule of a product of two matrices, A [M,K] @ B [K,N] -> [M,N]:
 * linear's, and matmul's for 2-d operands (inlined there: every layer
 * records one). */
static inline bool ag_product_shape_2d(ag_node *out, char *why, size_t len)
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
    if (size > AG_MAX_ELEMENTS) {
        snprintf(why, len, "the product would have %zu elements (over 2^40)", size);
        return false;
    }
    out->shape = (ag_shape){.ndim = 2, .dims = {a->dims[0], b->dims[1], 1, 1}, .size = size};
    return true;
}

/* ---- the bias (product_bias.c) --------------------------------------------------
 * linear's bias c over the product Y [M,N]: element (i, j) of it is
 * c[i*rs + j*cs]; flat when it has Y's size, and so Y's layout (read
 * straight; its strides are then never used). */
typedef struct bias_view {
    int M, N;
    size_t rs, cs;
    bool flat;
} bias_view;

/* y[M,N] = c along its broadcast (split over the kernel threads when large) */
void ag_bias_set(const bias_view *v, const double *c, double *y);
/* y[M,N] += c along its broadcast, on one thread */
void ag_bias_add(const bias_view *v, const double *c, double *y);
/* dc += dy[M,N] summed over the bias's broadcast dimensions, in row order */
void ag_bias_grad(const bias_view *v, const double *dy, double *dc);
/* the same three over float (product_bias_f32.c) */
void ag_bias_set_f32(const bias_view *v, const float *c, float *y);
void ag_bias_add_f32(const bias_view *v, const float *c, float *y);
void ag_bias_grad_f32(const bias_view *v, const float *dy, float *dc);

/* ---- the product (product.c) ---------------------------------------------------
 * out = in[0] @ in[1] (+ in[2] along `bias` when bias is not NULL: linear,
 * 2-d). The vjp adds into the gradients that are not NULL; the jvp takes a
 * NULL tangent as zero. */
void ag_product_forward(const ag_node *out, const bias_view *bias);
void ag_product_vjp(const ag_node *out, const bias_view *bias);
void ag_product_jvp(const ag_node *out, const bias_view *bias);
/* The forward and vjp of float32 nodes (product_f32.c: the same loops over
 * float, on ag_gemm_f32). */
void ag_product_forward_f32(const ag_node *out, const bias_view *bias);
void ag_product_vjp_f32(const ag_node *out, const bias_view *bias);

/* The same vjp and jvp recorded as nodes (linalg.c; see there for the
 * forms): gx[0] = dA, gx[1] = dB (for the inputs that take a gradient) and
 * tA @ B + A @ tB, of in[0] and in[1] alone; linear adds its bias's share.
 * matmul's vjp_nodes and jvp_nodes. */
bool ag_product_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx);
ag_node *ag_product_jvp_nodes(ag_node *out, ag_node *const *tx);

/* Step 2 of recording (the ops' .specialize), for matmul and linear alike:
 * a matrix A [M,K] times a vector x ([K,1], or [K] for matmul) with
 * 1 <= K <= 4 and a small product, plus (linear) a bias of M values read
 * straight, gets the kernels made for that K (TestNet's layers); any other
 * product keeps the op's forward and vjp (NULL). */
const ag_kernels *ag_product_specialize(const ag_node *out);

#endif
