/* product.c -- the matrix product of matmul and linear (see product.h for
 * the math): the layout of a batched product, the plain loops that run
 * small products, the routine that runs each batch matrix on them or on
 * ag_gemm with linear's bias, and the matrix-times-short-vector kernels
 * that the specialise step gives TestNet-shaped nodes. */
#include "product.h"

/* ---- layout ------------------------------------------------------------------ */

product_operand ag_product_operand(const ag_shape *s, bool left)
{
    product_operand p = {.batch = {1, 1}};
    if (s->ndim == 1) { /* a vector: one row on the left, one column on the right */
        p.rows = left ? 1 : s->dims[0];
        p.cols = left ? s->dims[0] : 1;
        return p;
    }
    p.rows = s->dims[s->ndim - 2];
    p.cols = s->dims[s->ndim - 1];
    p.batch_ndim = s->ndim - 2;
    for (int d = 0; d < p.batch_ndim; d++) p.batch[2 - p.batch_ndim + d] = s->dims[d];
    return p;
}

/* Elements between an operand's consecutive matrices along each batch dim,
 * 0 where it has size 1 (broadcast, or not the operand's at all). */
static void batch_steps(const product_operand *p, size_t step[2])
{
    size_t matrix = (size_t)p->rows * (size_t)p->cols;
    step[1] = p->batch[1] == 1 ? 0 : matrix;
    step[0] = p->batch[0] == 1 ? 0 : matrix * (size_t)p->batch[1];
}

product_layout ag_product_layout(const ag_node *out)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape;
    if (a->ndim == 2 && b->ndim == 2) /* one matrix each (every linear, an MLP's layers) */
        return (product_layout){.M = a->dims[0], .N = b->dims[1], .K = a->dims[1], .batch = {1, 1}};
    product_operand pa = ag_product_operand(a, true), pb = ag_product_operand(b, false);
    product_layout L = {.M = pa.rows, .N = pb.cols, .K = pa.cols};
    for (int d = 0; d < 2; d++) L.batch[d] = pa.batch[d] > pb.batch[d] ? pa.batch[d] : pb.batch[d];
    batch_steps(&pa, L.a_step);
    batch_steps(&pb, L.b_step);
    return L;
}

/* the product's loops in float64 */
typedef double real;
#define GEMM ag_gemm
#define AG_TYPED(name) name
#include "product_typed.h"

void ag_product_jvp(const ag_node *out, const bias_view *bias)
{
    const ag_node *a = out->in[0], *b = out->in[1];
    if (a->tangent || b->tangent) { /* each output matrix written whole (beta 0 first) */
        product_layout L = ag_product_layout(out);
        for (int i = 0; i < L.batch[0]; i++)
            for (int j = 0; j < L.batch[1]; j++) {
                batch_offsets at = batch_matrix(&L, i, j);
                matrix_tangent(&L, a->value + at.a, at_or_null(a->tangent, at.a), b->value + at.b,
                               at_or_null(b->tangent, at.b), out->tangent + at.c);
            }
    } else { /* only the bias moves */
        ag_zero_doubles(out->tangent, out->shape.size);
    }
    if (bias && out->in[2]->tangent) ag_bias_add(bias, out->in[2]->tangent, out->tangent);
}

/* ---- specialised: a matrix times a short vector -----------------------------------
 * y [M] = c + A [M,K] @ x [K] with K a constant 1 .. SMALL_K_MAX (M read
 * from A), the product small, and a bias c of M values read straight
 * (with_bias: linear) or none (matmul): TestNet's layers, a 4-feature
 * sample. Such a
 * node runs these kernels, chosen by ag_product_specialize when it is
 * recorded, so a replay goes straight to the loops above with K unrolled,
 * past the layout, size, shape and bias tests: the same loops in the same
 * order as the general path, so the same bits (but for the sign of a NaN,
 * which IEEE leaves open and the compiler's operand order decides).
 *   y = c + A x;  dA += dy x^T,  dx += A^T dy,  dc += dy                    */
static ALWAYS_INLINE void matvec_forward(const ag_node *out, const int K, bool with_bias)
{
    matvec_fixed_k(out->in[0]->shape.dims[0], K, out->in[0]->value, out->in[1]->value,
                   with_bias ? out->in[2]->value : NULL, out->value);
}

static ALWAYS_INLINE void matvec_vjp(const ag_node *out, const int K, bool with_bias)
{
    const ag_node *a = out->in[0], *x = out->in[1];
    int M = a->shape.dims[0];
    if (a->grad) outer_fixed_k(M, K, out->grad, x->value, a->grad);
    if (x->grad) matvec_t_fixed_k(M, K, a->value, out->grad, x->grad);
    if (with_bias && out->in[2]->grad) {
        double *restrict dc = out->in[2]->grad;
        for (int i = 0; i < M; i++) dc[i] += out->grad[i];
    }
}

/* The two pairs for one K as ag_kernels functions, matvecK_forward and
 * matvecK_vjp without a bias, matvecK_bias_forward and matvecK_bias_vjp with
 * one: matvec_forward and matvec_vjp with K and with_bias constants. */
#define MATVEC_KERNELS(K)                                                                   \
    static bool matvec##K##_forward(ag_node *out, char *why, size_t len)                    \
    {                                                                                       \
        (void)why, (void)len;                                                               \
        matvec_forward(out, K, false);                                                      \
        return true;                                                                        \
    }                                                                                       \
    static void matvec##K##_vjp(ag_node *out) { matvec_vjp(out, K, false); }                \
    static bool matvec##K##_bias_forward(ag_node *out, char *why, size_t len)               \
    {                                                                                       \
        (void)why, (void)len;                                                               \
        matvec_forward(out, K, true);                                                       \
        return true;                                                                        \
    }                                                                                       \
    static void matvec##K##_bias_vjp(ag_node *out) { matvec_vjp(out, K, true); }

MATVEC_KERNELS(1)
MATVEC_KERNELS(2)
MATVEC_KERNELS(3)
MATVEC_KERNELS(4)

/* matvec_kernels[with_bias][K - 1] */
static const ag_kernels matvec_kernels[2][SMALL_K_MAX] = {
    {{matvec1_forward, matvec1_vjp}, {matvec2_forward, matvec2_vjp},
     {matvec3_forward, matvec3_vjp}, {matvec4_forward, matvec4_vjp}},
    {{matvec1_bias_forward, matvec1_bias_vjp}, {matvec2_bias_forward, matvec2_bias_vjp},
     {matvec3_bias_forward, matvec3_bias_vjp}, {matvec4_bias_forward, matvec4_bias_vjp}},
};

/* A [M,K] @ x with x of K elements: [K,1], [K] (matmul's vector form), or
 * [1,K,1] and alike (a batch of one: the result [1,M,1] holds the same M
 * values). linear's bias has M values when it is a column [M,1], or one
 * value for M = 1 ([1], [1,1] or a scalar), read straight either way. This
 * runs for every product recorded: the fewest tests that decide it. */
const ag_kernels *ag_product_specialize(const ag_node *out)
{
    const ag_shape *a = &out->in[0]->shape;
    int K = a->dims[1];
    if (a->ndim != 2 || out->in[1]->shape.size != (size_t)K || K > SMALL_K_MAX ||
        a->size > MATMUL_SMALL_MAX) /* a->size = M*K multiply-adds */
        return NULL;
    if (out->n_in == 2) return &matvec_kernels[0][K - 1]; /* matmul */
    if (out->in[2]->shape.size == (size_t)a->dims[0]) return &matvec_kernels[1][K - 1]; /* linear */
    return NULL;
}
