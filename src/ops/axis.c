/* axis.c -- an axis argument checked and normalised (see axis.h), and the
 * printer of the ops whose one parameter is an axis. */
#include "axis.h"

#include <stdio.h>

bool ag_resolve_axis(int *axis, int ndim, char *why, size_t len)
{
    int resolved = ag_axis_index(*axis, ndim);
    if (resolved < 0) {
        if (ndim == 0)
            snprintf(why, len, "axis %d is out of range for 0 dimensions (a scalar has no axis)", *axis);
        else
            snprintf(why, len, "axis %d is out of range for %d dimension%s (%d .. %d)", *axis, ndim,
                     ndim == 1 ? "" : "s", -ndim, ndim - 1);
        return false;
    }
    *axis = resolved;
    return true;
}

int ag_print_axis_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "axis=%d", ag_axis_of(out));
}
