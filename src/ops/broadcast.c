/* broadcast.c -- shape rule and iteration plan for broadcasting. */
#include "broadcast.h"

#include <stdio.h>

/* dims of s left-padded with 1 to AG_MAX_DIMS */
static void padded_dims(const ag_shape *s, int out[AG_MAX_DIMS])
{
    int pad = AG_MAX_DIMS - s->ndim;
    for (int i = 0; i < AG_MAX_DIMS; i++) out[i] = i < pad ? 1 : s->dims[i - pad];
}

/* "the result would have N elements (over 2^40 ...)", N counted in double
 * precision: it may not fit a size_t */
static void too_large(const int da[AG_MAX_DIMS], const int db[AG_MAX_DIMS], int ndim, char *why,
                      size_t len)
{
    double count = 1.0;
    for (int i = AG_MAX_DIMS - ndim; i < AG_MAX_DIMS; i++) count *= da[i] > db[i] ? da[i] : db[i];
    snprintf(why, len, "the broadcast result would have %.0f elements, over the limit of 2^40 "
                       "(1099511627776)", count);
}

bool bcast_shape(const ag_shape *a, const ag_shape *b, ag_shape *out, char *why, size_t len)
{
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->dims[i] == b->dims[i];
    if (same) { /* the common case, and the answer is a's shape */
        *out = *a;
        return true;
    }
    int da[AG_MAX_DIMS], db[AG_MAX_DIMS];
    padded_dims(a, da);
    padded_dims(b, db);
    int ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = ndim;
    out->size = 1;
    for (int i = 0; i < AG_MAX_DIMS; i++) out->dims[i] = 1;
    for (int i = AG_MAX_DIMS - ndim; i < AG_MAX_DIMS; i++) {
        if (da[i] != db[i] && da[i] != 1 && db[i] != 1) {
            snprintf(why, len, "shapes do not broadcast (dimension %d from the right: %d vs %d)",
                     AG_MAX_DIMS - i, da[i], db[i]);
            return false;
        }
        int d = da[i] > db[i] ? da[i] : db[i];
        out->dims[i - (AG_MAX_DIMS - ndim)] = d;
        if (out->size > AG_MAX_ELEMENTS / (size_t)d) { /* before it can overflow */
            too_large(da, db, ndim, why, len);
            return false;
        }
        out->size *= (size_t)d;
    }
    return true;
}

/* strides of s over the padded output dims (0 where s is broadcast) */
static void padded_strides(const ag_shape *s, const int out_dims[AG_MAX_DIMS],
                           size_t stride[AG_MAX_DIMS])
{
    int dims[AG_MAX_DIMS];
    padded_dims(s, dims);
    size_t step = 1;
    for (int i = AG_MAX_DIMS - 1; i >= 0; i--) {
        stride[i] = (dims[i] == 1 && out_dims[i] != 1) ? 0 : step;
        step *= (size_t)dims[i];
    }
}

void bcast_plan_make(bcast_plan *plan, const ag_shape *a, const ag_shape *b, const ag_shape *out)
{
    padded_dims(out, plan->dims);
    padded_strides(a, plan->dims, plan->stride_a);
    padded_strides(b, plan->dims, plan->stride_b);
}

/* How one operand reads dims [from, to) of the output: 'd' dense (its strides
 * are the row-major strides of those output dims, times `unit`), 'z' zero
 * (broadcast over all of them), or 0 (neither). Dims of size 1 do not count. */
static char stride_kind(const int dims[AG_MAX_DIMS], const size_t stride[AG_MAX_DIMS], int from,
                        int to, size_t unit)
{
    bool dense = true, zero = true;
    size_t step = unit;
    for (int i = to - 1; i >= from; i--) {
        if (dims[i] == 1) continue;
        dense &= stride[i] == step;
        zero &= stride[i] == 0;
        step *= (size_t)dims[i];
    }
    return dense ? 'd' : zero ? 'z' : 0;
}

/* One operand over a split at dim s: its (row, column) strides, or false. */
static bool operand_2d(const int dims[AG_MAX_DIMS], const size_t stride[AG_MAX_DIMS], int s,
                       size_t cols, size_t *rs, size_t *cs)
{
    char inner = stride_kind(dims, stride, s, AG_MAX_DIMS, 1);
    if (!inner) return false;
    /* rows of a column-dense operand are `cols` apart; of a broadcast one, 1 */
    char outer = stride_kind(dims, stride, 0, s, inner == 'd' ? cols : 1);
    if (!outer) return false;
    *cs = inner == 'd' ? 1 : 0;
    *rs = outer == 'd' ? (inner == 'd' ? cols : 1) : 0;
    return true;
}

bool bcast_view_make(const bcast_plan *plan, bcast_view *view)
{
    /* the first split (the longest inner loop) that both operands fit */
    for (int s = 0; s <= AG_MAX_DIMS; s++) {
        size_t rows = 1, cols = 1;
        for (int i = 0; i < AG_MAX_DIMS; i++) *(i < s ? &rows : &cols) *= (size_t)plan->dims[i];
        if (operand_2d(plan->dims, plan->stride_a, s, cols, &view->a_rs, &view->a_cs) &&
            operand_2d(plan->dims, plan->stride_b, s, cols, &view->b_rs, &view->b_cs)) {
            view->rows = rows;
            view->cols = cols;
            return true;
        }
    }
    return false;
}

/* ---- any number of operands ------------------------------------------------ */

bool bcast_shape_n(int n, const ag_shape *const *in, ag_shape *out, char *why, size_t len)
{
    ag_shape so_far = *in[0];
    for (int p = 1; p < n; p++) {
        ag_shape next;
        if (!bcast_shape(&so_far, in[p], &next, why, len)) return false;
        so_far = next;
    }
    *out = so_far;
    return true;
}

void bcast_iter_start(bcast_iter *it, int n, const ag_shape *const *in, const ag_shape *out)
{
    it->n = n;
    padded_dims(out, it->dims);
    for (int p = 0; p < n; p++) {
        padded_strides(in[p], it->dims, it->stride[p]);
        it->offset[p] = 0;
    }
    for (int d = 0; d < AG_MAX_DIMS; d++) it->index[d] = 0;
    it->k = 0;
    it->size = out->size;
}
