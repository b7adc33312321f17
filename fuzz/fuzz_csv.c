/* fuzz_csv.c -- ag_csv_load on arbitrary bytes, skipping 0 or 1 lines (the
 * first byte's low bit). A loaded table is [R,C] of finite numbers. */
#include <agrad.h>
#include <math.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_temp_path(0, "csv");
    fuzz_write(path, data, size);
    int skip = size > 0 ? data[0] & 1 : 0;
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
