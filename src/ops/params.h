/* params.h -- the typed parameters of the ops that have any. A node holds a
 * copy of its op's struct (node->params, read with AG_PARAMS); the op's
 * descriptor gives its size (.params_size = sizeof(struct ...)). The shape
 * rule may normalise them (a negative axis counted from the end becomes the
 * axis itself), so the forward and vjp read them ready to use. */
#ifndef AGRAD_OPS_PARAMS_H
#define AGRAD_OPS_PARAMS_H

#include "../internal.h"

/* one axis: the reductions along an axis, concat, stack, index_select,
 * gather, scatter_add (normalised to 0 .. ndim-1 by the shape rule) */
typedef struct ag_axis_params {
    int axis;
} ag_axis_params;

/* print_params for the structs below that ops share */
int ag_print_axis_params(const ag_node *out, char *buf, size_t len);

/* pow: y = x^exponent */
typedef struct ag_exponent_params {
    double exponent;
} ag_exponent_params;

/* leaky_relu: y = x for x > 0, slope * x otherwise */
typedef struct ag_slope_params {
    double slope;
} ag_slope_params;

/* clamp: y = min(max(x, lo), hi) */
typedef struct ag_bounds_params {
    double lo, hi;
} ag_bounds_params;

/* slice: elements start, start + step, ... before stop along axis (Python's
 * rules for negative and out-of-range bounds; normalised by the shape rule
 * to the first index; the count is the output's size along axis) */
typedef struct ag_slice_params {
    int axis, start, stop, step;
} ag_slice_params;

/* index: one element of the flattened tensor */
typedef struct ag_flat_index_params {
    size_t flat;
} ag_flat_index_params;

/* permute: output axis d is input axis perm[d] */
typedef struct ag_permute_params {
    int perm[AG_MAX_DIMS];
} ag_permute_params;

/* expand: the target shape, ndim dims; -1 keeps the input's size for that
 * dimension (not allowed for a new leading one). The shape rule puts the
 * kept sizes in place of the -1s. */
typedef struct ag_expand_params {
    int ndim;
    int dims[AG_MAX_DIMS];
} ag_expand_params;

/* conv2d, conv1d and their derivatives (conv.c): stride >= 1 and zero
 * padding on every side of each spatial dim; extent is the spatial size
 * the operands do not fix -- the input's for *_input_grad, the kernel's for
 * *_weight_grad, 0 for the convolution itself (1-d: extent[0] is 1) */
typedef struct ag_conv_params {
    int stride, padding;
    int extent[2];
} ag_conv_params;
/* max_pool2d, avg_pool2d: square windows of kernel x kernel, stride apart,
 * no padding; and the recorded derivative of avg_pool2d (avg_pool2d_spread),
 * which also needs the input's height and width (the floor in H' loses
 * them). height and width are 0 for the pools themselves. */
typedef struct ag_pool_params {
    int kernel, stride;
    int height, width;
} ag_pool_params;

/* dropout: zero with probability p, scale the rest by 1 / (1 - p), the mask
 * drawn from *rng at every forward. held (tests only, ag_dropout_hold_mask):
 * every forward draws from a copy of drawn_from, the generator's state
 * before the last draw, so the mask stays the one last drawn. */
typedef struct ag_dropout_params {
    double p;
    ag_rng *rng;
    ag_rng drawn_from;
    bool held;
} ag_dropout_params;
/* cast: the result's element type */
typedef struct ag_cast_params {
    ag_dtype to;
} ag_cast_params;

/* layer_norm: y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis */
typedef struct ag_layer_norm_params {
    double eps;
} ag_layer_norm_params;

/* batch_norm: per channel (axis 1), batch statistics when training (and the
 * running ones, user tensors [C] or NULL, updated with momentum), the
 * running statistics otherwise */
typedef struct ag_batch_norm_params {
    double momentum, eps;
    bool training;
    ag_tensor *running_mean, *running_var;
} ag_batch_norm_params;

#endif
