/* expand.c -- a broadcast to a given shape (torch.expand / broadcast_to):
 *   y[k] = x[at(k)]          at(k): output position k with x's size-1 (and
 *                            missing leading) dimensions held at 0
 *   vjp  gx[at(k)] += gy[k]  (summed over the dimensions x is broadcast along)
 *   jvp  ty[k] = tx[at(k)]
 * The target shape is the op's parameter (ag_expand_params, its -1s
 * resolved by the shape rule). y is a strided view of x (indices.h): x's
 * strides, 0 along the dimensions x is broadcast along.
 * Recorded: gx = sum_to(gy, x's shape) (ag_rec_sum_to); ty = expand(tx). */
#include "indices.h"
#include "params.h"
#include "recorded.h"

#include <stdio.h>

/* "shape=[4,2,3]" ("shape=[]" for a scalar) */
static int expand_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_expand_params *p = out->params;
    char list[AG_MAX_DIMS * 12 + 1] = ""; /* an int is at most 11 characters, and a comma */
    size_t used = 0;
    for (int i = 0; i < p->ndim; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, i ? ",%d" : "%d", p->dims[i]);
    return snprintf(buf, len, "shape=[%s]", list);
}

/* Target dimension i of the request: -1 or a size, kept or broadcast from
 * the input's size `have` (0 for a new leading dimension, which has none);
 * the size it resolves to, or 0 with why set. */
static int resolve_dim(int i, int want, int have, char *why, size_t len)
{
    if (want == -1 && have == 0) {
        snprintf(why, len, "-1 is not allowed for the new leading dimension %d", i);
        return 0;
    }
    if (want == -1) return have;
    if (want <= 0) {
        snprintf(why, len, "dimension %d is %d (a size must be positive, or -1 to keep the input's)", i, want);
        return 0;
    }
    if (have > 1 && want != have) {
        if (want == 1) /* not "must be 1 or 1" */
            snprintf(why, len, "dimension %d: the input's size %d cannot become 1 (expand repeats a "
                               "dimension of size 1, it never shrinks one)", i, have);
        else
            snprintf(why, len, "dimension %d: the input's size %d must be 1 or %d", i, have, want);
        return 0;
    }
    return want;
}

/* "<reason>" -> "cannot expand to (4x-1x3): <reason>" */
static void name_the_request(const ag_expand_params *p, char *why, size_t len)
{
    char reason[160], want[64];
    snprintf(reason, sizeof reason, "%s", why);
    ag_shape_string(p->ndim, p->dims, want, sizeof want);
    snprintf(why, len, "cannot expand to (%s): %s", want, reason);
}

/* The input's dims right-aligned with the target's, new leading ones new;
 * the -1s resolved into p->dims. */
static bool expand_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    ag_expand_params *p = out->params;
    if (p->ndim < 0 || p->ndim > AG_MAX_DIMS) {
        snprintf(why, len, "cannot expand to %d dimensions (0 to %d)", p->ndim, AG_MAX_DIMS);
        return false;
    }
    if (p->ndim < x->ndim) {
        snprintf(why, len, "the target has fewer dimensions than the input (%d < %d)", p->ndim, x->ndim);
        name_the_request(p, why, len);
        return false;
    }
    int lead = p->ndim - x->ndim, dims[AG_MAX_DIMS];
    for (int i = 0; i < p->ndim; i++) {
        dims[i] = resolve_dim(i, p->dims[i], i < lead ? 0 : x->dims[i - lead], why, len);
        if (dims[i] == 0) {
            name_the_request(p, why, len);
            return false;
        }
    }
    const char *bad = "";
    if (!ag_shape_make(&out->shape, p->ndim, dims, &bad)) {
        snprintf(why, len, "%s", bad);
        name_the_request(p, why, len);
        return false;
    }
    for (int i = 0; i < p->ndim; i++) p->dims[i] = dims[i];
    return true;
}

/* x's dims right-aligned with y's; stride 0 along a new leading dimension
 * or a size-1 one (broadcast), x's own stride elsewhere */
static ag_strided_view expand_view(const ag_node *out)
{
    const ag_shape *x = &out->in[0]->shape;
    ptrdiff_t x_strides[AG_MAX_DIMS];
    ag_row_major_strides(x, x_strides);
    ag_strided_view v = {.ndim = out->shape.ndim, .offset = 0};
    int lead = out->shape.ndim - x->ndim;
    for (int d = 0; d < v.ndim; d++) {
        v.dims[d] = out->shape.dims[d];
        v.strides[d] = d < lead || x->dims[d - lead] == 1 ? 0 : x_strides[d - lead];
    }
    return v;
}

static const ag_view_rule expand_rule = {expand_view};

static bool expand_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = ag_rec_sum_to(gy, &out->in[0]->shape);
    return gx[0] != NULL;
}

const ag_op ag_op_expand = {.name = "expand", .arity = 1, .params_size = sizeof(ag_expand_params),
                            .print_params = expand_print_params, .shape = expand_shape,
                            .kernels = {ag_view_forward, ag_view_vjp}, .jvp = ag_view_jvp,
                            .vjp_nodes = expand_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                            .rule = &expand_rule, .f32 = &ag_view_f32_kernels};

/* The request goes in as the op's parameters, checked by the shape rule
 * (after the operand: a NULL or stale one is reported as such). */
ag_node *ag_expand(ag_node *a, int ndim, const int *shape)
{
    ag_expand_params p = {.ndim = ndim};
    /* a NULL or stale operand: ag_record below names it */
    if (ndim > 0 && !shape && a && ag_node_is_current(a->graph, a)) {
        char have[64];
        ag_graph_fail(a->graph, "ag_expand: (%s): the target shape is NULL (for %d dimensions)",
                      ag_shape_str(&a->shape, have, sizeof have), ndim);
        return NULL;
    }
    for (int i = 0; shape && i < ndim && i < AG_MAX_DIMS; i++) p.dims[i] = shape[i];
    return ag_record1(&ag_op_expand, a, &p);
}
