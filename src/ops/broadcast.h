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

#endif
