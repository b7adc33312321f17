/* standardize.c -- feature standardisation, as sklearn's StandardScaler:
 *   mean_j  = (1/N) sum_i x_ij
 *   scale_j = sqrt((1/N) sum_i (x_ij - mean_j)^2)   (population std, two passes)
 *             or 1 when every x_ij of column j is the same value
 *   x'_ij   = (x_ij - mean_j) / scale_j
 * fitted on the training rows, applied to every set. mean and scale are the
 * caller's [F] tensors, typically state tensors of the store
 * (ag_params_add_state), so a checkpoint carries them. */
#include "io_internal.h"

#include <math.h>

/* x [N,F] and t [F]; false with "fn: ..." set. */
static bool shapes_fit(const char *fn, const ag_tensor *x, const ag_tensor *mean, const ag_tensor *scale)
{
    char s1[64], s2[64], s3[64];
    if (!x || !mean || !scale || x->shape.ndim != 2 || mean->shape.ndim != 1 || scale->shape.ndim != 1 ||
        mean->shape.dims[0] != x->shape.dims[1] || scale->shape.dims[0] != x->shape.dims[1]) {
        ag_set_last_error("%s: needs x [N,F], mean [F] and scale [F]; got x (%s), mean (%s), scale (%s)", fn,
                          x ? ag_shape_str(&x->shape, s1, sizeof s1) : "NULL",
                          mean ? ag_shape_str(&mean->shape, s2, sizeof s2) : "NULL",
                          scale ? ag_shape_str(&scale->shape, s3, sizeof s3) : "NULL");
        return false;
    }
    return true;
}

bool ag_standardizer_fit(const ag_tensor *x, ag_tensor *mean, ag_tensor *scale)
{
    if (!shapes_fit("ag_standardizer_fit", x, mean, scale)) return false;
    size_t n = (size_t)x->shape.dims[0], f = (size_t)x->shape.dims[1];
    for (size_t j = 0; j < f; j++) {
        double sum = 0, squares = 0;
        bool constant = true;
        for (size_t i = 0; i < n; i++) {
            sum += x->data[i * f + j];
            constant = constant && x->data[i * f + j] == x->data[j];
        }
        double m = sum / (double)n;
        for (size_t i = 0; i < n; i++) squares += (x->data[i * f + j] - m) * (x->data[i * f + j] - m);
        if (!isfinite(m) || !isfinite(squares)) {
            ag_set_last_error("ag_standardizer_fit: column %zu: the mean or variance is not finite", j);
            return false;
        }
        mean->data[j] = constant ? x->data[j] : m;
        scale->data[j] = constant ? 1.0 : sqrt(squares / (double)n);
    }
    return true;
}

bool ag_standardizer_apply(const ag_tensor *mean, const ag_tensor *scale, ag_tensor *x)
{
    if (!shapes_fit("ag_standardizer_apply", x, mean, scale)) return false;
    size_t n = (size_t)x->shape.dims[0], f = (size_t)x->shape.dims[1];
    for (size_t j = 0; j < f; j++)
        if (!(scale->data[j] > 0 && isfinite(scale->data[j]) && isfinite(mean->data[j]))) {
            ag_set_last_error("ag_standardizer_apply: column %zu: mean %g, scale %g (the scale must be "
                              "finite and positive: was the standardiser fitted?)", j, mean->data[j],
                              scale->data[j]);
            return false;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < f; j++) x->data[i * f + j] = (x->data[i * f + j] - mean->data[j]) / scale->data[j];
    return true;
}
