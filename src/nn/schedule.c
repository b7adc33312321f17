/* schedule.c -- learning-rate schedules (torch.optim.lr_scheduler's closed
 * forms, pure functions of the step so resuming needs no state) and
 * clipping of the gradients by their global 2-norm
 * (torch.nn.utils.clip_grad_norm_). */
#include "../internal.h"

#include <math.h>

/* NAN with "fn: why" as the last error. */
static double bad(const char *fn, const char *why, long value)
{
    ag_set_last_error("%s: %s (got %ld)", fn, why, value);
    return NAN;
}

static bool rates_finite(const char *fn, double a, double b)
{
    if (isfinite(a) && isfinite(b)) return true;
    ag_set_last_error("%s: the rates and factors must be finite (got %g and %g)", fn, a, b);
    return false;
}

/* StepLR: lr_t = base * gamma^floor(t / step_size) */
double ag_lr_step(double base_lr, double gamma, long step_size, long t)
{
    if (!rates_finite("ag_lr_step", base_lr, gamma)) return NAN;
    if (step_size < 1) return bad("ag_lr_step", "step_size must be at least 1", step_size);
    if (t < 0) return bad("ag_lr_step", "t must be >= 0", t);
    return base_lr * pow(gamma, (double)(t / step_size));
}

/* CosineAnnealingLR: lr_t = eta_min + (base - eta_min) (1 + cos(pi t / T)) / 2 */
double ag_lr_cosine(double base_lr, double eta_min, long t_max, long t)
{
    if (!rates_finite("ag_lr_cosine", base_lr, eta_min)) return NAN;
    if (t_max < 1) return bad("ag_lr_cosine", "t_max must be at least 1", t_max);
    if (t < 0) return bad("ag_lr_cosine", "t must be >= 0", t);
    const double pi = 3.14159265358979323846;
    return eta_min + (base_lr - eta_min) * (1.0 + cos(pi * (double)t / (double)t_max)) / 2.0;
}

/* LinearLR to end factor 1: lr_t = base (s + (1 - s) min(t, W) / W) */
double ag_lr_warmup(double base_lr, double start_factor, long warmup, long t)
{
    if (!rates_finite("ag_lr_warmup", base_lr, start_factor)) return NAN;
    if (warmup < 0) return bad("ag_lr_warmup", "warmup must be >= 0", warmup);
    if (t < 0) return bad("ag_lr_warmup", "t must be >= 0", t);
    if (warmup == 0) return base_lr;
    double done = (double)(t < warmup ? t : warmup) / (double)warmup;
    return base_lr * (start_factor + (1.0 - start_factor) * done);
}

static bool clip_args_valid(size_t n, ag_tensor *const *params, double max_norm)
{
    if (n > 0 && !params) {
        ag_set_last_error("ag_clip_grad_norm: params is NULL with n = %zu", n);
        return false;
    }
    for (size_t k = 0; k < n; k++)
        if (!params[k]) {
            ag_set_last_error("ag_clip_grad_norm: tensor %zu of %zu is NULL", k, n);
            return false;
        }
    if (isnan(max_norm) || max_norm < 0.0) {
        ag_set_last_error("ag_clip_grad_norm: max_norm is %g; it must be >= 0 (+Inf: no "
                          "clipping)", max_norm);
        return false;
    }
    return true;
}

/* total = sqrt(sum_k sum_i grad_k[i]^2); grads *= min(1, max_norm / (total + 1e-6)).
 * The factor is applied when it is not >= 1, so a NaN factor (NaN total)
 * reaches every gradient, as torch.clamp(NaN, max=1) does in PyTorch. */
double ag_clip_grad_norm(size_t n, ag_tensor *const *params, double max_norm)
{
    if (!clip_args_valid(n, params, max_norm)) return NAN;
    double squares = 0.0;
    for (size_t k = 0; k < n; k++) ag_tensor_grad_settle(params[k]); /* zeros still pending */
    for (size_t k = 0; k < n; k++) {
        const ag_tensor *t = params[k];
        for (size_t i = 0; t->grad && i < t->shape.size; i++) squares += t->grad[i] * t->grad[i];
    }
    double total = sqrt(squares);
    double factor = max_norm / (total + 1e-6);
    if (!(factor >= 1.0))
        for (size_t k = 0; k < n; k++) {
            ag_tensor *t = params[k];
            for (size_t i = 0; t->grad && i < t->shape.size; i++) t->grad[i] *= factor;
        }
    return total;
}
