/* io_util.c -- small helpers shared by the io loaders. */
#include "io_internal.h"

ag_tensor *ag_tensor_adopt(const ag_shape *shape, double *data)
{
    ag_tensor *t = ag_calloc(1, sizeof *t);
    if (!t) {
        ag_free(data);
        return NULL;
    }
    t->shape = *shape;
    t->data = data;
    return t;
}
