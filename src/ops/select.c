/* select.c -- where: elements of a or of b chosen by a condition, the three
 * broadcasting together as ag_add's operands (NumPy rules, right-aligned):
 *   y[k] = c[k] != 0 ? a[k] : b[k]        (c NaN: NaN != 0, so a)
 *   vjp  ga[k] += c[k] != 0 ? gy[k] : 0,  gb[k] += c[k] != 0 ? 0 : gy[k]
 *        (summed over the dimensions a and b are broadcast along)
 *   jvp  ty[k] = c[k] != 0 ? ta[k] : tb[k]
 * Indices k are positions in the output; each operand's element there comes
 * from a broadcast walk (broadcast.h). The condition takes no gradient,
 * whatever it is: its grad is never written. Recorded, with the condition
 * node itself (linear in a and b, so the rules are where again):
 *   ga = sum_to(where(c, gy, 0), a's shape),  gb = sum_to(where(c, 0, gy), b's shape)
 *   ty = where(c, ta, tb)    (a NULL tangent as zeros)                   */
#include "broadcast.h"
#include "recorded.h"

/* the operands' shapes in order: condition, a, b */
static void operand_shapes(const ag_node *out, const ag_shape *shapes[3])
{
    for (int p = 0; p < 3; p++) shapes[p] = &out->in[p]->shape;
}

static bool where_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *shapes[3];
    operand_shapes(out, shapes);
    return bcast_shape_n(3, shapes, &out->shape, why, len);
}

/* forward and vjp over elements of type `real` (the condition too, in the
 * operands' one type): stamped for double (where_forward, where_vjp) and
 * float (_f32) */
#define WHERE_KERNELS(real, SUFFIX)                                                        \
    static bool where_forward##SUFFIX(ag_node *out, char *why, size_t len)                 \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        const real *c = (const real *)(const void *)out->in[0]->value;                     \
        const real *a = (const real *)(const void *)out->in[1]->value;                     \
        const real *b = (const real *)(const void *)out->in[2]->value;                     \
        real *y = (real *)(void *)out->value;                                              \
        const ag_shape *shapes[3];                                                         \
        operand_shapes(out, shapes);                                                       \
        bcast_iter it;                                                                     \
        for (bcast_iter_start(&it, 3, shapes, &out->shape); it.k < it.size; bcast_iter_next(&it)) \
            y[it.k] = c[it.offset[0]] != 0 ? a[it.offset[1]] : b[it.offset[2]];           \
        return true;                                                                       \
    }                                                                                      \
    static void where_vjp##SUFFIX(ag_node *out)                                            \
    {                                                                                      \
        const real *c = (const real *)(const void *)out->in[0]->value;                     \
        const real *gy = (const real *)(const void *)out->grad;                            \
        real *ga = (real *)(void *)out->in[1]->grad, *gb = (real *)(void *)out->in[2]->grad; \
        const ag_shape *shapes[3];                                                         \
        operand_shapes(out, shapes);                                                       \
        bcast_iter it;                                                                     \
        for (bcast_iter_start(&it, 3, shapes, &out->shape); it.k < it.size; bcast_iter_next(&it)) { \
            bool picks_a = c[it.offset[0]] != 0;                                           \
            if (picks_a && ga) ga[it.offset[1]] += gy[it.k];                               \
            if (!picks_a && gb) gb[it.offset[2]] += gy[it.k];                              \
        }                                                                                  \
    }

WHERE_KERNELS(double, )
WHERE_KERNELS(float, _f32)
static const ag_typed_kernels where_f32 = {{where_forward_f32, where_vjp_f32}, NULL};

/* a NULL tangent is zero */
static void where_jvp(ag_node *out)
{
    const double *c = out->in[0]->value, *ta = out->in[1]->tangent, *tb = out->in[2]->tangent;
    const ag_shape *shapes[3];
    operand_shapes(out, shapes);
    bcast_iter it;
    for (bcast_iter_start(&it, 3, shapes, &out->shape); it.k < it.size; bcast_iter_next(&it)) {
        bool picks_a = c[it.offset[0]] != 0.0;
        const double *t = picks_a ? ta : tb;
        size_t at = picks_a ? it.offset[1] : it.offset[2];
        out->tangent[it.k] = t ? t[at] : 0.0;
    }
}

static bool where_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_node *c = out->in[0], *zero = ag_rec_scalar(out->graph, 0.0);
    if (ag_rec_takes_grad(out, 1)) gx[1] = ag_rec_sum_to(ag_where(c, gy, zero), &out->in[1]->shape);
    if (ag_rec_takes_grad(out, 2)) gx[2] = ag_rec_sum_to(ag_where(c, zero, gy), &out->in[2]->shape);
    return !out->graph->failed;
}

/* the condition is kept, not replaced by its tangent */
static ag_node *where_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_graph *g = out->graph;
    ag_node *ta = tx[1] ? tx[1] : ag_rec_zeros(g, &out->in[1]->shape);
    ag_node *tb = tx[2] ? tx[2] : ag_rec_zeros(g, &out->in[2]->shape);
    return ag_where(out->in[0], ta, tb);
}

const ag_op ag_op_where = {.name = "where", .arity = 3, .shape = where_shape,
                           .kernels = {where_forward, where_vjp}, .jvp = where_jvp,
                           .vjp_nodes = where_vjp_nodes, .jvp_nodes = where_jvp_nodes,
                           .f32 = &where_f32};

ag_node *ag_where(ag_node *cond, ag_node *a, ag_node *b)
{
    ag_node *in[3] = {cond, a, b};
    return ag_record(&ag_op_where, 3, in, NULL, NULL);
}
