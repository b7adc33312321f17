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
