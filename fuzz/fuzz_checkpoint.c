/* fuzz_checkpoint.c -- ag_checkpoint_read / ag_checkpoint_load on arbitrary
 * bytes, twice per input: the bytes as a file, and (so that mutated JSON
 * keeps a matching length field) the input split at its first NUL into
 * header JSON and data, written as u64 length + JSON + data. A file that
 * reads must also load into the store it produced, giving back the same bits;
 * its state tensors have no gradient, and an MLP described in its metadata
 * is rebuilt or refused with a message. */
#include <agrad.h>

#include "fuzz_common.h"

static void check_file(const char *path, size_t size)
{
    ag_params *ps = ag_checkpoint_read(path);
    if (!ps) {
        fuzz_check_error("ag_checkpoint_read: ");
        return;
    }
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        ag_tensor *t = ag_params_at(ps, i);
        if (ag_params_is_state(ps, ag_tensor_name(t)) == (ag_tensor_grad(t) != NULL)) abort();
    }
    ag_mlp *mlp = ag_mlp_from_params(ps, NULL);
    if (!mlp) fuzz_check_error("ag_mlp_from_params: ");
    ag_mlp_free(mlp);
    size_t total = 0;
    for (size_t i = 0; i < ag_params_count(ps); i++) total += ag_tensor_size(ag_params_at(ps, i));
    if (total != ag_params_numel(ps) || 8 * total > size) abort();
    double *copy = malloc(total * sizeof(double) + 1);
    size_t at = 0;
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        ag_tensor *t = ag_params_at(ps, i);
        memcpy(copy + at, ag_tensor_data(t), ag_tensor_size(t) * sizeof(double));
        memset(ag_tensor_data(t), 0, ag_tensor_size(t) * sizeof(double));
        at += ag_tensor_size(t);
    }
    if (!ag_checkpoint_load(ps, path)) abort();
    at = 0;
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        ag_tensor *t = ag_params_at(ps, i);
        if (memcmp(copy + at, ag_tensor_data(t), ag_tensor_size(t) * sizeof(double)) != 0) abort();
        at += ag_tensor_size(t);
    }
    free(copy);
    ag_params_free(ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_temp_path(0, "ckpt");
    fuzz_write(path, data, size);
    check_file(path, size);

    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    size_t hlen = nul ? (size_t)(nul - data) : size, rest = nul ? size - hlen - 1 : 0;
    uint8_t *file = malloc(8 + hlen + rest + 1);
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    if (hlen) memcpy(file + 8, data, hlen);
    if (rest) memcpy(file + 8 + hlen, nul + 1, rest);
    fuzz_write(path, file, 8 + hlen + rest);
    free(file);
    check_file(path, 8 + hlen + rest);
    return 0;
}
