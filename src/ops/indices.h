/* indices.h -- index tensors and strided views, shared by the indexing ops.
 *
 * Indices are data: doubles holding whole numbers, negative ones counting
 * from the end (as Python's a[-1]). They are resolved in every forward, so a
 * replay with new index values is checked too, and the resolved positions
 * are kept in the node's aux buffer, so the vjp and jvp always use the
 * indices the forward used. An index operand never receives a gradient. */
#ifndef AGRAD_OPS_INDICES_H
#define AGRAD_OPS_INDICES_H

#include "../internal.h"

#include <stddef.h>

/* `value`, found at flat `position` of an index tensor, as an index into an
 * axis of `size` elements: *index in [0, size), a negative value counting
 * from the end. False, with why set to "index 7.5 at position 2 is not a
 * whole number" or "index 9 at position 2 is out of range for axis 1 of
 * size 3", for a fraction, a NaN, an infinity or a value outside
 * [-size, size). */
bool ag_resolve_index(double value, size_t position, int axis, int size, size_t *index, char *why,
                      size_t len);

/* Row-major strides of a shape, in elements: strides[ndim-1] = 1 and
 * strides[d] = strides[d+1] * dims[d+1]. */
void ag_row_major_strides(const ag_shape *shape, ptrdiff_t strides[AG_MAX_DIMS]);

/* A strided view of a source buffer: view element (i0, .., i{ndim-1}), in
 * row-major order over dims, is source element
 *   offset + i0 * strides[0] + ... + i{ndim-1} * strides[ndim-1]
 * (strides may be negative: a reversed slice; or 0: a broadcast). A
 * permute, a slice, a transpose and an expand are all such views. */
typedef struct ag_strided_view {
    int ndim;
    int dims[AG_MAX_DIMS];
    ptrdiff_t strides[AG_MAX_DIMS];
    ptrdiff_t offset;
} ag_strided_view;

/* dst[i] = src[view position of i], for every element i of the view
 * (src NULL: dst is zeroed, a zero tangent) */
void ag_strided_read(const ag_strided_view *v, const double *src, double *dst);
/* dsrc[view position of i] += dy[i]: the vjp of ag_strided_read */
void ag_strided_add_back(const ag_strided_view *v, const double *dy, double *dsrc);

/* An op whose result is a strided view of its one input (slice, permute, expand)
 * points its op->rule at one of these and takes the kernels below:
 *   forward  y = x at the view's positions
 *   vjp      gx[view position of i] += gy[i]
 *   jvp      ty = tx at the view's positions */
typedef struct ag_view_rule {
    ag_strided_view (*view)(const ag_node *out); /* the view of out's input */
} ag_view_rule;
bool ag_view_forward(ag_node *out, char *why, size_t len);
void ag_view_vjp(ag_node *out);
void ag_view_jvp(ag_node *out);
/* The same forward and vjp over float32 buffers (a float32 node's view op) */
extern const ag_typed_kernels ag_view_f32_kernels;

#endif
