/* fuzz_idx.c -- ag_idx_load on arbitrary bytes, both as they are (a gzip
 * file when they start 1f 8b, plain otherwise) and gzip-compressed by the
 * harness. Unless the input is itself gzip, both files hold the same IDX
 * bytes, so they must load to the same tensor or both fail. */
#include <agrad.h>
#include <zlib.h>

#include "fuzz_common.h"

static bool same(const ag_tensor *a, const ag_tensor *b)
{
    if (ag_tensor_ndim(a) != ag_tensor_ndim(b) || ag_tensor_size(a) != ag_tensor_size(b)) return false;
    for (int d = 0; d < ag_tensor_ndim(a); d++)
        if (ag_tensor_dim(a, d) != ag_tensor_dim(b, d)) return false;
    return memcmp(ag_tensor_data(a), ag_tensor_data(b), ag_tensor_size(a) * sizeof(double)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *plain = fuzz_temp_path(0, "idx"), *packed = fuzz_temp_path(1, "idxgz");
    fuzz_write(plain, data, size);
    gzFile gz = gzopen(packed, "wb1");
    if (!gz || (size && gzwrite(gz, data, (unsigned)size) != (int)size) || gzclose(gz) != Z_OK)
        abort();
    ag_tensor *a = ag_idx_load(plain);
    if (!a) fuzz_check_error("ag_idx_load: ");
    ag_tensor *b = ag_idx_load(packed);
    if (!b) fuzz_check_error("ag_idx_load: ");
    bool gzip_input = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip_input && ((a == NULL) != (b == NULL) || (a && !same(a, b)))) abort();
    if (b && ag_tensor_size(b) > size) abort(); /* at least a byte per element */
    ag_tensor_free(a);
    ag_tensor_free(b);
    return 0;
}
