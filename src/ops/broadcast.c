/* broadcast.c -- shape rule and iteration plan for broadcasting. */
#include "broadcast.h"

#include <stdio.h>

/* dims of s left-padded with 1 to AG_MAX_DIMS */
static void padded_dims(const ag_shape *s, int out[AG_MAX_DIMS])
{
    int pad = AG_MAX_DIMS - s->ndim;
    for (int i = 0; i < AG_MAX_DIMS; i++) out[i] = i < pad ? 1 : s->dims[i - pad];
}

bool bcast_shape(const ag_shape *a, const ag_shape *b, ag_shape *out, char *why, size_t len)
{
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
