/* linear.c -- the dense layer's op, fused: Y[M,N] = A[M,K] @ B[K,N] + bias,
 * the product of matmul's routine (product.c) with a bias, 2-d only.
 * One node instead of a matmul and an add: one pass fewer over Y, no
 * intermediate product to keep or to zero, one op fewer to dispatch.
 * The bias c is added along its broadcast, element (i, j) of it being
 * c[i*rs + j*cs] (bias_kind_of tells which broadcast; the strides follow; a
 * bias of Y's size is read straight; the passes are in product_bias.c):
 *   same    [M,N]            (flat)       dc[i,j] += dY[i,j]
 *   row     [N] or [1,N]     rs 0, cs 1   dc[j]   += sum_i dY[i,j]
 *   column  [M,1]            rs 1, cs 0   dc[i]   += sum_j dY[i,j]
 *   scalar  [], [1], [1,1]   rs 0, cs 0   dc      += sum dY
 *   vjp  dA += dY @ B^T, dB += A^T @ dY
 *   jvp  tY = tA @ B + A @ tB + broadcast(tc)
 * Every bias layout above is NumPy's broadcast of c to [M,N] (a row [N] or
 * [1,N], a column [M,1], one value), so the recorded forms (vjp_nodes,
 * jvp_nodes) read it as ag_add would:
 *   dA = dY @ B^T, dB = A^T @ dY (matmul's, ag_product_vjp_nodes),
 *   dc = sum_to(dY, c's shape)   (summed over the dims c is repeated along),
 *   tY = tA @ B + A @ tB + tc    (tc broadcast by ag_add, or expanded to
 *                                 [M,N] when only the bias moves)        */
#include "product.h"
#include "recorded.h"

#include <stdio.h>

enum bias_kind { BIAS_SAME, BIAS_ROW, BIAS_COLUMN, BIAS_NONE_SUCH, BIAS_SCALAR };

/* How a bias of shape c lies over the product Y [M,N] (BIAS_NONE_SUCH: it
 * cannot). Worked out from the shapes whenever needed: the general path
 * pays a few compares per pass, TestNet's specialised kernels none. */
static enum bias_kind bias_kind_of(const ag_shape *c, int M, int N)
{
    if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == N) return BIAS_SAME;
    if ((c->ndim == 1 && c->dims[0] == N) || (c->ndim == 2 && c->dims[0] == 1 && c->dims[1] == N))
        return BIAS_ROW;
    if (c->ndim == 2 && c->dims[0] == M && c->dims[1] == 1) return BIAS_COLUMN;
    if (c->size == 1) return BIAS_SCALAR; /* [], [1] or [1,1]: added everywhere, as ag_add would */
    return BIAS_NONE_SUCH;
}

/* How the bias lies over Y [M,N]: flat when it has Y's size, and so Y's
 * layout (same shape, a column when N = 1, a row when M = 1, one value for a
 * 1x1 Y). */
static bias_view bias_of(const ag_node *out)
{
    /* by kind (same, row, column, -, scalar); a same-shape bias is always
     * flat, and a flat bias is read straight, so its strides are never used */
    static const unsigned char row_step[] = {0, 0, 1, 0, 0}, col_step[] = {1, 1, 0, 0, 0};
    int M = out->shape.dims[0], N = out->shape.dims[1];
    enum bias_kind kind = bias_kind_of(&out->in[2]->shape, M, N);
    return (bias_view){.M = M, .N = N, .rs = row_step[kind], .cs = col_step[kind],
                       .flat = out->in[2]->shape.size == out->shape.size};
}

/* The bias shapes a [M,N] product accepts, each named once (bias_kind_of's
 * kinds; where two coincide, one entry says both):
 *   [4,3]: "[4,3] (the product's shape); [3] or [1,3] (a row); [4,1] (a
 *           column); one value (a scalar, [1] or [1,1])"
 *   [4,1]: "[4,1] (the product's shape, a column); one value (...)"
 *   [1,3]: "[1,3] (the product's shape, a row) or [3]; one value (...)"
 *   [1,1]: "one value (a scalar, [1] or [1,1])"                       */
static void accepted_biases(int M, int N, char *buf, size_t len)
{
    const char *one_value = "one value (a scalar, [1] or [1,1])";
    if (M == 1 && N == 1)
        snprintf(buf, len, "%s", one_value);
    else if (M == 1)
        snprintf(buf, len, "[1,%d] (the product's shape, a row) or [%d]; %s", N, N, one_value);
    else if (N == 1)
        snprintf(buf, len, "[%d,1] (the product's shape, a column); %s", M, one_value);
    else
        snprintf(buf, len, "[%d,%d] (the product's shape); [%d] or [1,%d] (a row); [%d,1] (a column); %s", M,
                 N, N, N, M, one_value);
}

static bool linear_shape(ag_node *out, char *why, size_t len)
{
    if (!ag_product_shape_2d(out, why, len)) return false;
    int M = out->shape.dims[0], N = out->shape.dims[1];
    if (bias_kind_of(&out->in[2]->shape, M, N) == BIAS_NONE_SUCH) {
        char accepted[160];
        accepted_biases(M, N, accepted, sizeof accepted);
        snprintf(why, len, "the bias must be one of: %s, for the [%d,%d] product", accepted, M, N);
        return false;
    }
    return true;
}

static bool linear_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    bias_view v = bias_of(out);
    ag_product_forward(out, &v);
    return true;
}

static void linear_vjp(ag_node *out)
{
    bias_view v = bias_of(out);
    ag_product_vjp(out, &v);
}

static void linear_jvp(ag_node *out)
{
    bias_view v = bias_of(out);
    ag_product_jvp(out, &v);
}

/* float32 nodes: the same product and bias over float */
static bool linear_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    bias_view v = bias_of(out);
    ag_product_forward_f32(out, &v);
    return true;
}

static void linear_vjp_f32(ag_node *out)
{
    bias_view v = bias_of(out);
    ag_product_vjp_f32(out, &v);
}

static const ag_typed_kernels linear_f32 = {{linear_forward_f32, linear_vjp_f32}, NULL};

static bool linear_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_product_vjp_nodes(out, gy, gx)) return false; /* dA, dB */
    if (!ag_rec_takes_grad(out, 2)) return true;
    gx[2] = ag_rec_sum_to(gy, &out->in[2]->shape); /* dc = dY [M,N] summed to c's shape */
    return gx[2] != NULL;
}

static ag_node *linear_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *product = tx[0] || tx[1] ? ag_product_jvp_nodes(out, tx) : NULL; /* tA @ B + A @ tB */
    ag_node *t = !tx[2] ? product                                /* the bias stays */
                 : product ? ag_add(product, tx[2])              /* + tc, broadcast */
                 : ag_rec_expand_to(tx[2], &out->shape);         /* tc alone, [M,N] */
    return out->graph->failed ? NULL : t;
}

const ag_op ag_op_linear = {.name = "linear", .arity = 3, .symbol = "@",
                            .shape = linear_shape, .specialize = ag_product_specialize,
                            .kernels = {linear_forward, linear_vjp},
                            .jvp = linear_jvp,
                            .vjp_nodes = linear_vjp_nodes, .jvp_nodes = linear_jvp_nodes,
                            .f32 = &linear_f32, .vjp_takes_pending_zero = true};

ag_node *ag_linear(ag_node *a, ag_node *b, ag_node *bias)
{
    /* no bias: the product alone (a NULL left by a failed call has already
     * failed the graph, and matmul then returns NULL too) */
    if (!bias) return ag_matmul(a, b);
    ag_node *in[3] = {a, b, bias};
    return ag_record(&ag_op_linear, 3, in, NULL, NULL);
}
