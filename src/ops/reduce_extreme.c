/* reduce_extreme.c -- the largest or smallest element, of all (max, min) or
 * along one axis (max_axis, min_axis), and its smooth form, logsumexp along
 * an axis. Each result element reduces one slice x_0 .. x_{n-1} of the
 * input (reduce.h's view; every element for max and min).
 *
 * max (min alike), with torch.amax's rules:
 *   y    = max_a x_a                NaN when any x_a is NaN (NaN propagates)
 *   vjp  gx_a += (gy / c) [x_a == y]    c = #{a : x_a == y}: ties share gy evenly
 *   jvp  ty   = sum_{a : x_a == y} tx_a / c
 * A slice holding a NaN has y = NaN and c = 0: every element of it gets a
 * NaN gradient (gy / 0 * 0, as torch.amax's backward) and y a NaN tangent.
 * Recorded (vjp_nodes, jvp_nodes), the same with ops, y kept as [.., 1, ..]:
 *   mask = ag_eq(x, y)  (1.0 / 0.0; 0.0 against a NaN y, so c = 0 again)
 *   c    = sum of mask along the axis
 *   gx   = mask * (gy / c);   ty = sum(where(mask, tx, 0)) / c
 * The mask and c are piecewise constant: the second derivative is 0.
 *
 * logsumexp, as torch.logsumexp:
 *   y    = m + log sum_a exp(x_a - m)   m = max_a x_a, taken as 0 when infinite
 *   vjp  gx_a += gy exp(x_a - y)        (the softmax of the slice)
 *   jvp  ty   = sum_a exp(x_a - y) tx_a
 * An all -Inf slice gives log 0 = -Inf and a slice with +Inf gives +Inf
 * (never Inf - Inf in the shift); their gradients are torch's exp(x_a - y):
 * NaN where x_a = y = +-Inf. Recorded, with s = exp(x - y) (y kept as
 * [.., 1, ..]), the softmax of each slice:
 *   gx = gy s;   ty = sum_a s_a tx_a                                        */
#include "reduce.h"

#include <math.h>

/* op->rule of max / min: which extreme */
static const bool largest = true, smallest = false;

static bool wants_largest(const ag_node *out) { return *(const bool *)out->op->rule; }

#define real double
#define EXTREME(name) name
#include "reduce_extreme_kernels.h"
#undef real
#undef EXTREME

#define real float
#define EXTREME(name) name##_f32
#include "reduce_extreme_kernels.h"
#undef real
#undef EXTREME

static const ag_typed_kernels extreme_f32 = {{extreme_forward_f32, extreme_vjp_f32}, NULL};
static const ag_typed_kernels logsumexp_f32 = {{logsumexp_forward_f32, logsumexp_vjp_f32}, NULL};

/* ty = sum_{a : x_a == y} tx_a / c */
static void extreme_jvp(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    for (size_t j = 0; j < out->shape.size; j++) {
        size_t start = axis_slice_start(&v, j);
        const double *xs = out->in[0]->value + start, *ts = out->in[0]->tangent + start;
        double y = out->value[j], t = 0.0;
        for (size_t a = 0; a < v.len; a++)
            if (xs[a * v.inner] == y) t += ts[a * v.inner];
        out->tangent[j] = t / count_equal(xs, v.len, v.inner, y);
    }
}

/* [x == y] for each element of x, y broadcast along the reduced axis */
static ag_node *extreme_mask(ag_node *out) { return ag_eq(out->in[0], ag_rec_keep_axis(out, out)); }

/* gx = mask * (gy / c), c = sum of the mask over the slice (ties share) */
static bool extreme_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_node *mask = extreme_mask(out);
    ag_node *share = ag_div(gy, ag_rec_sum_reduced(out, mask));
    gx[0] = ag_mul(ag_rec_keep_axis(out, share), mask);
    return gx[0] != NULL;
}

/* ty = sum(where(mask, tx, 0)) / c: where, as the fast jvp, never reads a
 * tangent off the mask (an Inf there is not 0 * Inf) */
static ag_node *extreme_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *mask = extreme_mask(out);
    ag_node *picked = ag_where(mask, tx[0], ag_rec_scalar(out->graph, 0.0));
    return ag_div(ag_rec_sum_reduced(out, picked), ag_rec_sum_reduced(out, mask));
}

const ag_op ag_op_max = {.name = "max", .arity = 1, .shape = ag_reduce_all_shape,
                         .kernels = {extreme_forward, extreme_vjp}, .jvp = extreme_jvp,
                         .vjp_nodes = extreme_vjp_nodes, .jvp_nodes = extreme_jvp_nodes,
                         .rule = &largest, .f32 = &extreme_f32};
const ag_op ag_op_min = {.name = "min", .arity = 1, .shape = ag_reduce_all_shape,
                         .kernels = {extreme_forward, extreme_vjp}, .jvp = extreme_jvp,
                         .vjp_nodes = extreme_vjp_nodes, .jvp_nodes = extreme_jvp_nodes,
                         .rule = &smallest, .f32 = &extreme_f32};
const ag_op ag_op_max_axis = {.name = "max_axis", .arity = 1, .params_size = sizeof(ag_axis_params),
                              .print_params = ag_print_axis_params, .shape = ag_axis_shape,
                              .kernels = {extreme_forward, extreme_vjp}, .jvp = extreme_jvp,
                              .vjp_nodes = extreme_vjp_nodes, .jvp_nodes = extreme_jvp_nodes,
                              .rule = &largest, .f32 = &extreme_f32};
const ag_op ag_op_min_axis = {.name = "min_axis", .arity = 1, .params_size = sizeof(ag_axis_params),
                              .print_params = ag_print_axis_params, .shape = ag_axis_shape,
                              .kernels = {extreme_forward, extreme_vjp}, .jvp = extreme_jvp,
                              .vjp_nodes = extreme_vjp_nodes, .jvp_nodes = extreme_jvp_nodes,
                              .rule = &smallest, .f32 = &extreme_f32};

ag_node *ag_max(ag_node *a) { return ag_record1(&ag_op_max, a, NULL); }
ag_node *ag_min(ag_node *a) { return ag_record1(&ag_op_min, a, NULL); }
ag_node *ag_max_axis(ag_node *a, int axis) { return ag_record1(&ag_op_max_axis, a, &(ag_axis_params){axis}); }
ag_node *ag_min_axis(ag_node *a, int axis) { return ag_record1(&ag_op_min_axis, a, &(ag_axis_params){axis}); }

/* ---- logsumexp (formulas at the top) ----------------------------------------- */

/* ty = sum_a exp(x_a - y) tx_a */
static void logsumexp_jvp(ag_node *out)
{
    axis_view v = ag_reduced_view(out);
    for (size_t j = 0; j < out->shape.size; j++) {
        size_t start = axis_slice_start(&v, j);
        const double *xs = out->in[0]->value + start, *ts = out->in[0]->tangent + start;
        double y = out->value[j], t = 0.0;
        for (size_t a = 0; a < v.len; a++) t += exp(xs[a * v.inner] - y) * ts[a * v.inner];
        out->tangent[j] = t;
    }
}

/* s = exp(x - y), the softmax of each slice */
static ag_node *slice_softmax(ag_node *out) { return ag_exp(ag_sub(out->in[0], ag_rec_keep_axis(out, out))); }

/* gx = gy s */
static bool logsumexp_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = ag_mul(ag_rec_keep_axis(out, gy), slice_softmax(out));
    return gx[0] != NULL;
}

/* ty = sum_a s_a tx_a */
static ag_node *logsumexp_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    return ag_rec_sum_reduced(out, ag_mul(slice_softmax(out), tx[0]));
}

const ag_op ag_op_logsumexp_axis = {.name = "logsumexp_axis", .arity = 1,
                                    .params_size = sizeof(ag_axis_params),
                                    .print_params = ag_print_axis_params, .shape = ag_axis_shape,
                                    .kernels = {logsumexp_forward, logsumexp_vjp},
                                    .jvp = logsumexp_jvp, .vjp_nodes = logsumexp_vjp_nodes,
                                    .jvp_nodes = logsumexp_jvp_nodes, .f32 = &logsumexp_f32};

ag_node *ag_logsumexp_axis(ag_node *a, int axis)
{
    return ag_record1(&ag_op_logsumexp_axis, a, &(ag_axis_params){axis});
}
