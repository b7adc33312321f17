/* fuzz_csv.c -- ag_csv_load on arbitrary bytes, skipping 0 or 1 lines (the
 * first byte's low bit). A loaded table is [R,C] of finite numbers. The same
 * bytes go to ag_csv_load_labelled: a table it loads has finite features,
 * labels that are class indices, and loads again with its own class list
 * given to the same labels. */
#include <agrad.h>
#include <math.h>

#include "fuzz_common.h"

/* The labelled loader's invariants on the file at path. */
static void check_labelled(const char *path)
{
    ag_labelled_csv *d = ag_csv_load_labelled(path, NULL, NULL, 0);
    if (!d) {
        fuzz_check_error("ag_csv_load_labelled: ");
        return;
    }
    int rows = ag_tensor_dim(d->features, 0);
    if (d->n_features < 1 || ag_tensor_dim(d->features, 1) != d->n_features || d->n_classes < 1 ||
        d->n_classes > rows || ag_tensor_dim(d->labels, 0) != rows || !d->label_name)
        abort();
    for (size_t i = 0; i < ag_tensor_size(d->features); i++)
        if (!isfinite(ag_tensor_data(d->features)[i])) abort();
    for (int k = 0; k < d->n_classes; k++)
        if (!d->class_names[k]) abort();
    ag_labelled_csv *again = ag_csv_load_labelled(path, NULL, (const char *const *)d->class_names, d->n_classes);
    if (!again) abort(); /* its own classes always fit */
    for (int r = 0; r < rows; r++) {
        double label = ag_tensor_data(d->labels)[r];
        if (!(label >= 0 && label < d->n_classes) || ag_tensor_data(again->labels)[r] != label) abort();
    }
    ag_labelled_csv_free(again);
    ag_labelled_csv_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_temp_path(0, "csv");
    fuzz_write(path, data, size);
    int skip = size > 0 ? data[0] & 1 : 0;
    check_labelled(path);
    ag_tensor *t = ag_csv_load(path, skip);
    if (!t) {
        fuzz_check_error("ag_csv_load: ");
        return 0;
    }
    size_t n = ag_tensor_size(t);
    if (ag_tensor_ndim(t) != 2 || n != (size_t)ag_tensor_dim(t, 0) * (size_t)ag_tensor_dim(t, 1) ||
        n > size)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!isfinite(ag_tensor_data(t)[i])) abort();
    if (ag_tensor_dim(t, 1) >= 2) { /* and the label split agrees with the table */
        ag_tensor *x, *y;
        if (!ag_split_labels(t, -1, 0, &x, &y)) abort();
        int cols = ag_tensor_dim(t, 1);
        for (int r = 0; r < ag_tensor_dim(t, 0); r++)
            if (ag_tensor_data(y)[r] != ag_tensor_data(t)[(size_t)r * cols + cols - 1]) abort();
        ag_tensor_free(x);
        ag_tensor_free(y);
    }
    ag_tensor_free(t);
    return 0;
}
