/* registry.c -- leaf descriptors and the list of every differentiable op.
 * Tests iterate ag_all_ops, so a new op is gradient-checked once listed. */
#include "../internal.h"

/* Leaves have no forward or vjp: their value is the user's tensor (or a
 * copied constant) and gradients stop there. */
const ag_op ag_op_param = {.name = "param"};
const ag_op ag_op_input = {.name = "input"};
const ag_op ag_op_constant = {.name = "constant"};

/* by family, as the files in src/ops/ */
extern const ag_op /* elementwise (elementwise_rules.h) */
    ag_op_add, ag_op_sub, ag_op_mul, ag_op_div, ag_op_maximum, ag_op_minimum, ag_op_neg, ag_op_exp,
    ag_op_log, ag_op_tanh, ag_op_relu, ag_op_pow, ag_op_sigmoid, ag_op_sqrt, ag_op_abs, ag_op_sin,
    ag_op_cos, ag_op_log1p, ag_op_expm1, ag_op_softplus, ag_op_leaky_relu, ag_op_clamp, ag_op_gelu, ag_op_normal_cdf,
    /* selection and broadcasting (select.c, expand.c) */
    ag_op_where, ag_op_expand,
    /* products (linalg.c, linear.c) */
    ag_op_matmul, ag_op_linear,
    /* reductions (reduce.c, reduce_extreme.c) */
    ag_op_sum, ag_op_mean, ag_op_sum_axis, ag_op_mean_axis, ag_op_prod_axis, ag_op_max, ag_op_min,
    ag_op_max_axis, ag_op_min_axis, ag_op_logsumexp_axis,
    /* softmax and losses (softmax.c, loss.c) */
    ag_op_softmax, ag_op_log_softmax, ag_op_softmax_xent, ag_op_mse,
    /* convolution and its derivatives (conv.c) */
    ag_op_conv2d, ag_op_conv2d_input_grad, ag_op_conv2d_weight_grad, ag_op_conv1d,
    ag_op_conv1d_input_grad, ag_op_conv1d_weight_grad,
    /* shape, indexing and joining (shape.c, index.c, gather.c, join.c) */
    ag_op_transpose, ag_op_reshape, ag_op_permute, ag_op_index, ag_op_slice, ag_op_index_select,
    ag_op_gather, ag_op_scatter_add, ag_op_concat, ag_op_stack,
    /* pooling and dropout (pool.c, dropout.c) */
    ag_op_max_pool2d, ag_op_avg_pool2d, ag_op_dropout,
    /* normalisation (norm.c) */
    ag_op_layer_norm, ag_op_batch_norm,
    /* the LSTM step's pointwise half (lstm.c) and the recurrence over a sequence (lstm_sequence.c) */
    ag_op_lstm_state, ag_op_lstm_output, ag_op_lstm_sequence,
    /* element types (cast.c) */
    ag_op_cast;

const ag_op *const ag_all_ops[] = {
    &ag_op_add, &ag_op_sub, &ag_op_mul, &ag_op_div, &ag_op_maximum, &ag_op_minimum, &ag_op_neg,
    &ag_op_exp, &ag_op_log, &ag_op_tanh, &ag_op_relu, &ag_op_pow, &ag_op_sigmoid, &ag_op_sqrt,
    &ag_op_abs, &ag_op_sin, &ag_op_cos, &ag_op_log1p, &ag_op_expm1, &ag_op_softplus,
    &ag_op_leaky_relu, &ag_op_clamp, &ag_op_gelu, &ag_op_normal_cdf,
    &ag_op_where, &ag_op_expand,
    &ag_op_matmul, &ag_op_linear,
    &ag_op_sum, &ag_op_mean, &ag_op_sum_axis, &ag_op_mean_axis, &ag_op_prod_axis, &ag_op_max,
    &ag_op_min, &ag_op_max_axis, &ag_op_min_axis, &ag_op_logsumexp_axis,
    &ag_op_softmax, &ag_op_log_softmax, &ag_op_softmax_xent, &ag_op_mse,
    &ag_op_conv2d, &ag_op_conv2d_input_grad, &ag_op_conv2d_weight_grad, &ag_op_conv1d,
    &ag_op_conv1d_input_grad, &ag_op_conv1d_weight_grad,
    &ag_op_transpose, &ag_op_reshape, &ag_op_permute, &ag_op_index, &ag_op_slice,
    &ag_op_index_select, &ag_op_gather, &ag_op_scatter_add, &ag_op_concat, &ag_op_stack,
    &ag_op_max_pool2d, &ag_op_avg_pool2d, &ag_op_dropout,
    &ag_op_layer_norm, &ag_op_batch_norm,
    &ag_op_lstm_state, &ag_op_lstm_output, &ag_op_lstm_sequence, &ag_op_cast,
};
const size_t ag_n_ops = sizeof ag_all_ops / sizeof ag_all_ops[0];
/* The comparisons (eq, gt, ge, lt, le) are ops too, but not in this list of
 * differentiable ones: they pass no gradient (tests/test_ops_elementwise.c).
 * Nor are the companions that record max_pool2d's, avg_pool2d's and
 * dropout's derivatives (pool.c, dropout.c): the higher-order suite checks
 * them through those ops, and tests/test_ops_pool.c on replays. */
