/* gather.c -- picking entries by an index tensor: index_select, gather and
 * scatter_add (PyTorch's). The indices (in[1]) are data: whole numbers held
 * as doubles, checked and resolved by every forward into the node's aux
 * buffer, which the vjp and jvp read; they never receive a gradient.
 *
 * index_select, a viewed as [outer, A, inner] around the axis, indices [N]:
 *   y[o, n, i] = a[o, idx[n], i]             y is [outer, N, inner]
 *   vjp  ga[o, idx[n], i] += gy[o, n, i]     (repeated indices add up)
 *   jvp  the same selection of ta
 * gather, indices of a's rank, y of the indices' shape:
 *   y[p] = a[p with its axis coordinate replaced by idx[p]]   =: a[at(p)]
 *   vjp  ga[at(p)] += gy[p];   jvp  ty[p] = ta[at(p)]
 * scatter_add, src of the indices' shape, y of a's shape:
 *   y = a;  y[at(p)] += src[p] for every p in row-major order
 *   vjp  ga += gy;  gsrc[p] += gy[at(p)] (= gather(gy));  jvp  ty = ta, ty[at(p)] += tsrc[p]
 * For gather and scatter_add aux holds at(p), the flat position in a (and
 * y), for every position p of the indices; for index_select the resolved
 * indices themselves. Positions below 2^40 are exact as doubles. The
 * indices are in the operands' one type: float32 holds whole numbers up to
 * 2^24 exactly (the kernels: gather_kernels.h, stamped for both types). */
#include "axis.h"
#include "indices.h"
#include "recorded.h"

#include <stdio.h>
#include <string.h>

/* the indices, aux: one resolved entry per index */
static size_t one_per_index(const ag_node *out) { return out->in[1]->shape.size; }

/* aux[p] as a position */
static size_t position(const ag_node *out, size_t p) { return (size_t)out->aux[p]; }

#define real double
#define GATHER(name) name
#include "gather_kernels.h"
#undef real
#undef GATHER

#define real float
#define GATHER(name) name##_f32
#include "gather_kernels.h"
#undef real
#undef GATHER

static const ag_typed_kernels index_select_f32 = {{index_select_forward_f32, index_select_vjp_f32}, NULL};
static const ag_typed_kernels gather_f32 = {{gather_forward_f32, gather_vjp_f32}, NULL};
static const ag_typed_kernels scatter_add_f32 = {{scatter_add_forward_f32, scatter_add_vjp_f32}, NULL};

/* ---- index_select ---------------------------------------------------------------- */

/* Indices 1-d, or 0-d as one index (an axis of size 1 in the result, as
 * torch.index_select with a 0-d index). */
static bool index_select_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *idx = &out->in[1]->shape;
    ag_axis_params *p = out->params;
    if (!ag_resolve_axis(&p->axis, a->ndim, why, len)) return false;
    if (idx->ndim > 1) {
        snprintf(why, len, "indices must be 1-d (or 0-d, one index), not %d-d", idx->ndim);
        return false;
    }
    int dims[AG_MAX_DIMS];
    memcpy(dims, a->dims, sizeof dims);
    dims[p->axis] = (int)idx->size; /* a 1-d size is an int */
    const char *bad = NULL;
    if (!ag_shape_make(&out->shape, a->ndim, dims, &bad)) {
        snprintf(why, len, "the result would be too large: %s", bad);
        return false;
    }
    return true;
}

static void index_select_jvp(ag_node *out) { select_rows(out, out->in[0]->tangent, out->tangent); }

/* Recorded, with the forward's own index node (so a replay re-reads it):
 *   ga = scatter_add(zeros of a's shape, axis, I, gy)   (repeated indices add up)
 *   I  = idx [N] reshaped to [1, .., N, .., 1] (N at the axis) and expanded
 *        to gy's shape [.., N, ..]: I[o, n, i] = idx[n]
 *   ty = index_select(ta, axis, idx)
 * The indices take no gradient and their tangent is never read. */
static bool index_select_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    int axis = ag_axis_of(out), ones[AG_MAX_DIMS];
    for (int d = 0; d < out->shape.ndim; d++) ones[d] = d == axis ? (int)one_per_index(out) : 1;
    ag_node *lined_up = ag_reshape(out->in[1], out->shape.ndim, ones);
    ag_node *at = ag_rec_expand_to(lined_up, &out->shape);
    ag_node *zeros = ag_rec_zeros(out->graph, &out->in[0]->shape);
    gx[0] = at && zeros ? ag_scatter_add(zeros, axis, at, gy) : NULL;
    return gx[0] != NULL;
}

/* ty = op(ta, axis, idx) for index_select and gather; zeros when only the
 * indices had a tangent (they are data: the output does not move with them) */
static ag_node *select_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    if (!tx[0]) return ag_rec_zeros(out->graph, &out->shape);
    return ag_rec_again(out, 2, (ag_node *[]){tx[0], out->in[1]});
}

const ag_op ag_op_index_select = {.name = "index_select", .arity = 2, .symbol = "at",
                                  .params_size = sizeof(ag_axis_params),
                                  .print_params = ag_print_axis_params, .shape = index_select_shape,
                                  .kernels = {index_select_forward, index_select_vjp},
                                  .jvp = index_select_jvp, .vjp_nodes = index_select_vjp_nodes,
                                  .jvp_nodes = select_jvp_nodes, .aux_size = one_per_index,
                                  .f32 = &index_select_f32};

ag_node *ag_index_select(ag_node *a, int axis, ag_node *indices)
{
    return ag_record2(&ag_op_index_select, a, indices, &(ag_axis_params){axis});
}

/* ---- gather and scatter_add: positions at(p) ---------------------------------------- */

/* torch's rule for both: indices of a's rank, no larger than a along every
 * axis but the gathered one */
static bool indices_fit(const ag_shape *a, const ag_shape *idx, int axis, char *why, size_t len)
{
    if (idx->ndim != a->ndim) {
        snprintf(why, len, "indices must have the %d dimension%s of the tensor indexed, not %d", a->ndim,
                 a->ndim == 1 ? "" : "s", idx->ndim);
        return false;
    }
    for (int d = 0; d < a->ndim; d++)
        if (d != axis && idx->dims[d] > a->dims[d]) {
            snprintf(why, len, "indices have %d entries along dimension %d, where the tensor indexed has %d "
                               "(only axis %d may be larger)", idx->dims[d], d, a->dims[d], axis);
            return false;
        }
    return true;
}

/* ---- gather ------------------------------------------------------------------------ */

static bool gather_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *idx = &out->in[1]->shape;
    ag_axis_params *p = out->params;
    if (!ag_resolve_axis(&p->axis, a->ndim, why, len) || !indices_fit(a, idx, p->axis, why, len))
        return false;
    out->shape = *idx;
    return true;
}

static void gather_jvp(ag_node *out) { gather_values(out, out->in[0]->tangent, out->tangent); }

/* Recorded, idx the forward's own index node:
 *   ga = scatter_add(zeros of a's shape, axis, idx, gy)   (ga[at(p)] += gy[p])
 *   ty = gather(ta, axis, idx) (select_jvp_nodes) */
static bool gather_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    ag_node *zeros = ag_rec_zeros(out->graph, &out->in[0]->shape);
    gx[0] = zeros ? ag_scatter_add(zeros, ag_axis_of(out), out->in[1], gy) : NULL;
    return gx[0] != NULL;
}

const ag_op ag_op_gather = {.name = "gather", .arity = 2, .symbol = "at",
                            .params_size = sizeof(ag_axis_params),
                            .print_params = ag_print_axis_params, .shape = gather_shape,
                            .kernels = {gather_forward, gather_vjp}, .jvp = gather_jvp,
                            .vjp_nodes = gather_vjp_nodes, .jvp_nodes = select_jvp_nodes,
                            .aux_size = one_per_index, .f32 = &gather_f32};

ag_node *ag_gather(ag_node *a, int axis, ag_node *indices)
{
    return ag_record2(&ag_op_gather, a, indices, &(ag_axis_params){axis});
}

/* ---- scatter_add ---------------------------------------------------------------------
 * Inputs a, indices, src. torch allows src larger than the indices (its
 * extra entries unused); here src has the indices' shape exactly. */

static bool scatter_add_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *idx = &out->in[1]->shape, *src = &out->in[2]->shape;
    ag_axis_params *p = out->params;
    if (!ag_resolve_axis(&p->axis, a->ndim, why, len) || !indices_fit(a, idx, p->axis, why, len))
        return false;
    if (!ag_shape_equal(src, idx)) {
        snprintf(why, len, "src must have the shape of the indices");
        return false;
    }
    out->shape = *a;
    return true;
}

static void scatter_add_jvp(ag_node *out)
{
    scatter_values(out, out->in[0]->tangent, out->in[2]->tangent, out->tangent);
}

/* Recorded, idx the forward's own index node:
 *   ga   = gy
 *   gsrc = gather(gy, axis, idx)                 (gsrc[p] = gy[at(p)])
 *   ty   = scatter_add(ta, axis, idx, tsrc), a NULL tangent as zeros; ta
 *          itself when tsrc is NULL (the scatter would add nothing) */
static bool scatter_add_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (ag_rec_takes_grad(out, 0)) gx[0] = gy;
    if (ag_rec_takes_grad(out, 2)) {
        gx[2] = ag_gather(gy, ag_axis_of(out), out->in[1]);
        if (!gx[2]) return false;
    }
    return true;
}

static ag_node *scatter_add_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *ta = tx[0], *tsrc = tx[2];
    if (!tsrc) return ta ? ta : ag_rec_zeros(out->graph, &out->shape);
    if (!ta) ta = ag_rec_zeros(out->graph, &out->shape);
    return ta ? ag_rec_again(out, 3, (ag_node *[]){ta, out->in[1], tsrc}) : NULL;
}

const ag_op ag_op_scatter_add = {.name = "scatter_add", .arity = 3,
                                 .params_size = sizeof(ag_axis_params),
                                 .print_params = ag_print_axis_params, .shape = scatter_add_shape,
                                 .kernels = {scatter_add_forward, scatter_add_vjp},
                                 .jvp = scatter_add_jvp, .vjp_nodes = scatter_add_vjp_nodes,
                                 .jvp_nodes = scatter_add_jvp_nodes, .aux_size = one_per_index,
                                 .f32 = &scatter_add_f32};

ag_node *ag_scatter_add(ag_node *a, int axis, ag_node *indices, ag_node *src)
{
    ag_node *in[3] = {a, indices, src};
    return ag_record(&ag_op_scatter_add, 3, in, &(ag_axis_params){axis}, NULL);
}
