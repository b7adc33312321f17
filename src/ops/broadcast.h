/* broadcast.h -- NumPy-style broadcasting of two operands, shared by the
 * elementwise ops. Shapes are padded on the left to AG_MAX_DIMS; an operand's
 * stride is 0 along a dimension it is broadcast over. */
#ifndef AGRAD_BROADCAST_H
#define AGRAD_BROADCAST_H

#include "../internal.h"

typedef struct bcast_plan {
    int dims[AG_MAX_DIMS];          /* output dims, left-padded with 1 */
    size_t stride_a[AG_MAX_DIMS];   /* element strides of a over those dims */
    size_t stride_b[AG_MAX_DIMS];
} bcast_plan;

/* Output shape of a (op) b; false with why set when they do not broadcast. */
bool bcast_shape(const ag_shape *a, const ag_shape *b, ag_shape *out, char *why, size_t len);
/* The iteration plan for out = a (op) b (shapes already checked). */
void bcast_plan_make(bcast_plan *plan, const ag_shape *a, const ag_shape *b, const ag_shape *out);

/* The common broadcasts seen as a 2-d loop: the output is `rows` x `cols`
 * (row-major) and an operand's element (r, c) is at r*rs + c*cs, each stride
 * being 0 (broadcast) or the dense one. Covers same shapes (1 x n), a scalar
 * with anything, a bias row [C] over [N,C] (rs 0, cs 1), a column [R,1] over
 * [R,C] (rs 1, cs 0) and the same with more leading dimensions. */
typedef struct bcast_view {
    size_t rows, cols;
    size_t a_rs, a_cs, b_rs, b_cs;
} bcast_view;

/* Fill `view` for a plan; false when the broadcast is not of that kind (then
 * BCAST_FOR_EACH visits it). */
bool bcast_view_make(const bcast_plan *plan, bcast_view *view);

/* Visit every output element: `body` sees k (output index), ia and ib. */
#define BCAST_FOR_EACH(plan, k, ia, ib, body)                                           \
    do {                                                                                \
        size_t k = 0;                                                                   \
        for (int i0_ = 0; i0_ < (plan)->dims[0]; i0_++)                                 \
            for (int i1_ = 0; i1_ < (plan)->dims[1]; i1_++)                             \
                for (int i2_ = 0; i2_ < (plan)->dims[2]; i2_++)                         \
                    for (int i3_ = 0; i3_ < (plan)->dims[3]; i3_++, k++) {              \
                        size_t ia = i0_ * (plan)->stride_a[0] + i1_ * (plan)->stride_a[1] \
                                  + i2_ * (plan)->stride_a[2] + i3_ * (plan)->stride_a[3]; \
                        size_t ib = i0_ * (plan)->stride_b[0] + i1_ * (plan)->stride_b[1] \
                                  + i2_ * (plan)->stride_b[2] + i3_ * (plan)->stride_b[3]; \
                        body                                                            \
                    }                                                                   \
    } while (0)

/* ---- any number of operands (where, expand) ---------------------------------
 * A plain walk over the output in row-major order that keeps, for each
 * operand, the offset of its element broadcast to the current position:
 *     bcast_iter it;
 *     for (bcast_iter_start(&it, n, shapes, &out_shape); it.k < it.size; bcast_iter_next(&it))
 *         y[it.k] = f(x0[it.offset[0]], x1[it.offset[1]], ...);
 * For any operand shapes (up to AG_MAX_DIMS dims) that broadcast to the
 * output shape (bcast_shape_n). */
#define BCAST_MAX_OPERANDS 4

typedef struct bcast_iter {
    int n;                                          /* operands */
    int dims[AG_MAX_DIMS];                          /* output dims, left-padded with 1 */
    size_t stride[BCAST_MAX_OPERANDS][AG_MAX_DIMS]; /* per operand, 0 where broadcast */
    int index[AG_MAX_DIMS];                         /* the current output position */
    size_t offset[BCAST_MAX_OPERANDS];              /* each operand's element there */
    size_t k, size;                                 /* that position's output index; the count */
} bcast_iter;

/* The shape n operands (1 .. BCAST_MAX_OPERANDS) broadcast to, folding
 * bcast_shape over them left to right; false with why set when they do
 * not broadcast. */
bool bcast_shape_n(int n, const ag_shape *const *in, ag_shape *out, char *why, size_t len);

/* Start at output element 0 (every offset 0). */
void bcast_iter_start(bcast_iter *it, int n, const ag_shape *const *in, const ag_shape *out);

/* The next output element: the last dimension's index steps, and an index
 * that reaches its dimension goes back to 0 and carries into the one before
 * (each operand's offset following by its strides). */
static inline void bcast_iter_next(bcast_iter *it)
{
    it->k++;
    for (int d = AG_MAX_DIMS - 1; d >= 0; d--) {
        it->index[d]++;
        for (int p = 0; p < it->n; p++) it->offset[p] += it->stride[p][d];
        if (it->index[d] < it->dims[d]) return;
        it->index[d] = 0;
        for (int p = 0; p < it->n; p++) it->offset[p] -= it->stride[p][d] * (size_t)it->dims[d];
    }
}

#endif
