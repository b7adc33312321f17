/* reduce.c -- reductions of every element to a scalar.
 *   sum:  y = sum_i x_i       dy/dx_i = 1
 *   mean: y = sum_i x_i / n   dy/dx_i = 1/n                                   */
#include "../internal.h"

static bool scalar_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const char *bad = NULL;
    return ag_shape_make(&out->shape, 0, NULL, &bad);
}

/* the factor each element is weighted by: 1 for sum, 1/n for mean */
static double weight(const ag_node *out)
{
    return out->op->rule ? 1.0 / (double)out->in[0]->shape.size : 1.0;
}

static bool reduce_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const double *x = out->in[0]->value;
    double s = 0.0;
    for (size_t i = 0; i < out->in[0]->shape.size; i++) s += x[i];
    out->value[0] = s * weight(out);
    return true;
}

static void reduce_vjp(ag_node *out)
{
    double g = out->grad[0] * weight(out);
    double *gx = out->in[0]->grad;
    for (size_t i = 0; i < out->in[0]->shape.size; i++) gx[i] += g;
}

static void reduce_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    double s = 0.0;
    if (tx)
        for (size_t i = 0; i < out->in[0]->shape.size; i++) s += tx[i];
    out->tangent[0] = s * weight(out);
}

static const char mean_marker = 1; /* rule != NULL marks the mean */

const ag_op ag_op_sum = {.name = "sum", .arity = 1, .shape = scalar_shape,
                         .forward = reduce_forward, .vjp = reduce_vjp, .jvp = reduce_jvp};
const ag_op ag_op_mean = {.name = "mean", .arity = 1, .shape = scalar_shape,
                          .forward = reduce_forward, .vjp = reduce_vjp, .jvp = reduce_jvp,
                          .rule = &mean_marker};

ag_node *ag_sum(ag_node *a) { return ag_record(&ag_op_sum, a, NULL, 0); }
ag_node *ag_mean(ag_node *a) { return ag_record(&ag_op_mean, a, NULL, 0); }
