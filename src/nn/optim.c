/* optim.c -- optimisers with the update rules PyTorch documents.
 * g = grad (+ weight_decay * p for SGD and Adam: L2 added to the gradient).
 *   SGD:       b = momentum * b + (1 - dampening) * g   (b = g on step 1)
 *              g = nesterov ? g + momentum * b : b;   p -= lr * g
 *   Adam:      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *              p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *   AdamW:     p -= lr * weight_decay * p first (decoupled), then Adam on
 *              the plain gradient.                                          */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

/* Updates of at least this many elements in all are split over the kernel
 * threads: an MLP's 1.9 million weights take milliseconds on one core. */
#define OPTIM_PARALLEL_MIN ((size_t)1 << 16)

struct ag_optimizer {
    ag_optimizer_config config;
    size_t n_params;
    ag_tensor **params;
    double **state1; /* momentum buffer b (SGD) or first moment m (Adam) */
    double **state2; /* second moment v (Adam); both of the parameter's type */
    long step;
};

ag_optimizer_config ag_sgd_config(double lr)
{
    return (ag_optimizer_config){.kind = AG_OPTIM_SGD, .lr = lr};
}

ag_optimizer_config ag_adam_config(double lr)
{
    return (ag_optimizer_config){.kind = AG_OPTIM_ADAM, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

ag_optimizer_config ag_adamw_config(double lr)
{
    ag_optimizer_config c = ag_adam_config(lr);
    c.kind = AG_OPTIM_ADAMW;
    c.weight_decay = 0.01; /* PyTorch's AdamW default */
    return c;
}

/* A setting that must be a finite number >= 0: false with why filled in. */
static bool finite_nonnegative(const char *field, double v, char *why, size_t len)
{
    if (isfinite(v) && v >= 0.0) return true;
    snprintf(why, len, "%s is %g; it must be finite and >= 0", field, v);
    return false;
}

static bool finite(const char *field, double v, char *why, size_t len)
{
    if (isfinite(v)) return true;
    snprintf(why, len, "%s is %g; it must be finite", field, v);
    return false;
}

static bool beta_in_range(const char *field, double v, char *why, size_t len)
{
    if (v >= 0.0 && v < 1.0) return true;
    snprintf(why, len, "%s is %g; it must be in [0, 1)", field, v);
    return false;
}

static bool sgd_settings_valid(const ag_optimizer_config *c, char *why, size_t len)
{
    if (!finite_nonnegative("momentum", c->momentum, why, len) ||
        !finite("dampening", c->dampening, why, len))
        return false;
    if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0)) {
        snprintf(why, len, "Nesterov momentum needs momentum > 0 and zero dampening "
                           "(momentum %g, dampening %g)", c->momentum, c->dampening);
        return false;
    }
    return true;
}

static bool adam_settings_valid(const ag_optimizer_config *c, char *why, size_t len)
{
    if (!beta_in_range("beta1", c->beta1, why, len) || !beta_in_range("beta2", c->beta2, why, len))
        return false;
    if (isfinite(c->eps) && c->eps > 0.0) return true;
    snprintf(why, len, "eps is %g; it must be finite and > 0", c->eps);
    return false;
}

/* Every setting the kind uses, checked once here so the update loops need
 * no checks; false with ag_last_error set naming the field and value. */
static bool config_is_valid(const ag_optimizer_config *c)
{
    char why[160];
    bool ok;
    if (c->kind != AG_OPTIM_SGD && c->kind != AG_OPTIM_ADAM && c->kind != AG_OPTIM_ADAMW) {
        snprintf(why, sizeof why, "kind is %d, not an optimiser kind (valid: AG_OPTIM_SGD = %d, "
                 "AG_OPTIM_ADAM = %d, AG_OPTIM_ADAMW = %d)", (int)c->kind, AG_OPTIM_SGD,
                 AG_OPTIM_ADAM, AG_OPTIM_ADAMW);
        ok = false;
    } else {
        ok = finite_nonnegative("lr (learning rate)", c->lr, why, sizeof why) &&
             finite_nonnegative("weight_decay", c->weight_decay, why, sizeof why) &&
             (c->kind == AG_OPTIM_SGD ? sgd_settings_valid(c, why, sizeof why)
                                      : adam_settings_valid(c, why, sizeof why));
    }
    if (!ok) ag_set_last_error("ag_optimizer_new: %s", why);
    return ok;
}

/* Every parameter present, requiring grad, and listed once (a tensor listed
 * twice would be updated twice per step). */
static bool params_are_valid(size_t n, ag_tensor *const *params)
{
    if (n == 0) {
        ag_set_last_error("ag_optimizer_new: no parameters (n_params is 0)");
        return false;
    }
    if (!ag_params_require_grad("ag_optimizer_new", n, params)) return false;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (params[j] == params[i]) {
                ag_set_last_error("ag_optimizer_new: parameters %zu and %zu are the same tensor "
                                  "('%s'); list each tensor once", j, i, ag_tensor_name(params[i]));
                return false;
            }
    }
    return true;
}

void ag_optimizer_free(ag_optimizer *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n_params; i++) {
        if (o->state1) ag_free(o->state1[i]);
        if (o->state2) ag_free(o->state2[i]);
    }
    ag_free(o->state1);
    ag_free(o->state2);
    ag_free(o->params);
    ag_free(o);
}

/* One zeroed state buffer per parameter (all allocated here, none per step). */
static double **state_new(size_t n, ag_tensor *const *params)
{
    double **s = ag_calloc(n, sizeof *s);
    for (size_t i = 0; s && i < n; i++)
        if (!(s[i] = ag_calloc(params[i]->shape.size, ag_dtype_bytes(params[i]->dtype)))) {
            for (size_t k = 0; k < i; k++) ag_free(s[k]);
            ag_free(s);
            return NULL;
        }
    return s;
}

ag_optimizer *ag_optimizer_new(size_t n_params, ag_tensor *const *params, const ag_optimizer_config *config)
{
    if (!config) {
        ag_set_last_error("ag_optimizer_new: config is NULL (start from ag_sgd_config, "
                          "ag_adam_config or ag_adamw_config)");
        return NULL;
    }
    if (!config_is_valid(config) || !params_are_valid(n_params, params))
        return NULL;
    ag_optimizer *o = ag_calloc(1, sizeof *o);
    if (!o) {
        ag_set_last_error("ag_optimizer_new: out of memory");
        return NULL;
    }
    o->config = *config;
    o->n_params = n_params;
    o->params = ag_calloc(n_params, sizeof *o->params);
    o->state1 = state_new(n_params, params);
    o->state2 = config->kind == AG_OPTIM_SGD ? NULL : state_new(n_params, params);
    if (!o->params || !o->state1 || (config->kind != AG_OPTIM_SGD && !o->state2)) {
        ag_optimizer_free(o);
        ag_set_last_error("ag_optimizer_new: out of memory (state for %zu parameters)", n_params);
        return NULL;
    }
    memcpy(o->params, params, n_params * sizeof *params);
    return o;
}

/* the update loops, stamped for double and for float (optim_loops.h) */
#define real double
#include "optim_loops.h"
#undef real
#define real float
#define momentum_loop momentum_loop_f32
#define sgd_update sgd_update_f32
#define adam_loop adam_loop_f32
#define adam_update adam_update_f32
#include "optim_loops.h"
#undef real
#undef momentum_loop
#undef sgd_update
#undef adam_loop
#undef adam_update

/* Elements [lo, hi) of every parameter: thread tid's share of each of
 * nthreads equal slices, so each thread touches every tensor once. */
static void slice(size_t n, int tid, int nthreads, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)tid / (size_t)nthreads;
    *hi = n * (size_t)(tid + 1) / (size_t)nthreads;
}

/* elements [lo, hi) of float32 parameter k, its state float32 too */
static void update_f32(ag_optimizer *o, size_t k, size_t lo, size_t hi)
{
    ag_tensor *t = o->params[k];
    float *p = AG_F32(t->data) + lo, *grad = AG_F32(t->grad) + lo, *s1 = AG_F32(o->state1[k]) + lo;
    if (o->config.kind == AG_OPTIM_SGD)
        sgd_update_f32(&o->config, o->step, hi - lo, p, grad, s1);
    else
        adam_update_f32(&o->config, o->step, hi - lo, p, grad, s1, AG_F32(o->state2[k]) + lo);
}

static void step_part(void *ctx, int tid, int nthreads)
{
    ag_optimizer *o = ctx;
    for (size_t k = 0; k < o->n_params; k++) {
        ag_tensor *t = o->params[k];
        if (!t->requires_grad) continue; /* frozen since the optimiser was made */
        size_t lo, hi;
        slice(t->shape.size, tid, nthreads, &lo, &hi);
        if (t->dtype == AG_FLOAT32)
            update_f32(o, k, lo, hi);
        else if (o->config.kind == AG_OPTIM_SGD)
            sgd_update(&o->config, o->step, hi - lo, t->data + lo, t->grad + lo, o->state1[k] + lo);
        else
            adam_update(&o->config, o->step, hi - lo, t->data + lo, t->grad + lo, o->state1[k] + lo,
                        o->state2[k] + lo);
    }
}

static void zero_part(void *ctx, int tid, int nthreads)
{
    ag_optimizer *o = ctx;
    for (size_t k = 0; k < o->n_params; k++) {
        ag_tensor *t = o->params[k];
        if (!t->grad) continue;
        size_t lo, hi;
        slice(t->shape.size, tid, nthreads, &lo, &hi);
        if (t->dtype == AG_FLOAT32)
            ag_zero_floats(AG_F32(t->grad) + lo, hi - lo);
        else
            ag_zero_doubles(t->grad + lo, hi - lo);
    }
}

/* fn over every parameter, on the kernel threads when there is enough work */
static void for_all_params(ag_optimizer *o, ag_parallel_fn fn)
{
    size_t total = 0;
    for (size_t k = 0; k < o->n_params; k++) total += o->params[k]->shape.size;
    ag_parallel_run(total >= OPTIM_PARALLEL_MIN ? ag_parallel_threads() : 1, fn, o);
}

void ag_optimizer_step(ag_optimizer *o)
{
    if (!o) return;
    o->step++;
    /* a gradient still pending its zero (no backward reached it) is read as zeros */
    for (size_t k = 0; k < o->n_params; k++) ag_tensor_grad_settle(o->params[k]);
    for_all_params(o, step_part);
}

void ag_optimizer_zero_grad(ag_optimizer *o)
{
    if (!o) return;
    for_all_params(o, zero_part);
    for (size_t k = 0; k < o->n_params; k++) ag_tensor_grad_settle(o->params[k]); /* zeroed above */
}

void ag_optimizer_zero_grad_lazily(ag_optimizer *o)
{
    if (!o) return;
    for (size_t k = 0; k < o->n_params; k++) ag_tensor_grad_defer_zero(o->params[k]);
}

void ag_optimizer_set_lr(ag_optimizer *o, double lr)
{
    if (!o) {
        ag_set_last_error("ag_optimizer_set_lr: optimiser is NULL");
        return;
    }
    char why[96];
    if (!finite_nonnegative("lr (learning rate)", lr, why, sizeof why)) {
        ag_set_last_error("ag_optimizer_set_lr: %s (%g kept)", why, o->config.lr);
        return;
    }
    o->config.lr = lr;
}

long ag_optimizer_steps(const ag_optimizer *o) { return o ? o->step : 0; }

/* ---- state for training checkpoints (internal.h) ------------------------- */

ag_optim_kind ag_optimizer_kind(const ag_optimizer *o) { return o->config.kind; }

size_t ag_optimizer_param_count(const ag_optimizer *o) { return o->n_params; }

const ag_tensor *ag_optimizer_param(const ag_optimizer *o, size_t k) { return o->params[k]; }

double *ag_optimizer_buffer(const ag_optimizer *o, size_t k, int which)
{
    if (which == 0) return o->state1[k];
    return o->state2 ? o->state2[k] : NULL;
}

void ag_optimizer_restore_step(ag_optimizer *o, long step) { o->step = step; }
