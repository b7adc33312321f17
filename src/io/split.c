/* split.c -- split a loaded data matrix into features and labels. */
#include "io_internal.h"

#include <math.h>

/* m [N,C] -> features [N,C-1] (columns other than col, in order), labels [N]. */
bool ag_split_labels(const ag_tensor *m, int label_col, int n_classes, ag_tensor **features,
                     ag_tensor **labels)
{
    if (!features || !labels) {
        ag_set_last_error("ag_split_labels: output pointers are NULL");
        return false;
    }
    *features = *labels = NULL;
    char s[64];
    if (!m || m->shape.ndim != 2 || m->shape.dims[1] < 2) {
        ag_set_last_error("ag_split_labels: expected an [N,C] matrix with C >= 2, got (%s)",
                          m ? ag_shape_str(&m->shape, s, sizeof s) : "NULL");
        return false;
    }
    int n = m->shape.dims[0], c = m->shape.dims[1];
    int col = label_col < 0 ? c + label_col : label_col;
    if (col < 0 || col >= c) {
        ag_set_last_error("ag_split_labels: label column %d is out of range for %d columns",
                          label_col, c);
        return false;
    }
    for (int r = 0; n_classes > 0 && r < n; r++) {
        double v = m->data[(size_t)r * (size_t)c + (size_t)col];
        if (!(v >= 0 && v < n_classes && v == floor(v))) {
            ag_set_last_error("ag_split_labels: row %d: label %.17g is not a class index in "
                              "[0, %d)", r, v, n_classes);
            return false;
        }
    }
    ag_tensor *x = ag_tensor_zeros(2, (int[]){n, c - 1});
    ag_tensor *y = x ? ag_tensor_zeros(1, (int[]){n}) : NULL;
    if (!y) {
        ag_tensor_free(x);
        ag_set_last_error("ag_split_labels: out of memory");
        return false;
    }
    for (size_t r = 0; r < (size_t)n; r++) {
        const double *row = m->data + r * (size_t)c;
        double *out = x->data + r * (size_t)(c - 1);
        for (int k = 0, j = 0; k < c; k++) {
            if (k == col)
                y->data[r] = row[k];
            else
                out[j++] = row[k];
        }
    }
    *features = x;
    *labels = y;
    return true;
}
