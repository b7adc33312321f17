/* norm.c -- layer normalisation (over the last axis) and batch normalisation
 * (per channel, axis 1), fused: one pass for the statistics, one for the
 * output, PyTorch's closed-form backward.
 *
 * Both normalise a set S of m values with its mean and biased variance,
 *   xhat = (x - mean) * inv,   inv = 1 / sqrt(var + eps),   y = gamma xhat + beta,
 * S being a row of D values (layer_norm: gamma, beta [D], indexed along the
 * row) or a channel's N*P values (batch_norm on [N,C,P...]: gamma, beta [C],
 * one value for the whole set). With the batch's own statistics the
 * Jacobian of xhat over S is (inv)(I - 11^T/m - xhat xhat^T/m), symmetric,
 * so vjp and jvp both apply
 *   proj(v) = inv * (v - mean_S(v) - xhat * mean_S(v xhat))
 * and
 *   vjp  gx = proj(gamma gy),  ggamma = sum gy xhat,  gbeta = sum gy
 *   jvp  ty = gamma proj(tx) + tgamma xhat + tbeta
 * (sums over every set for layer_norm's [D] parameters, over the channel's
 * set for batch_norm's). batch_norm in eval mode normalises with the running
 * statistics, constants: proj(v) = inv * v there, the op is affine in x.
 *
 * The statistics come from one pass over S with the shift k = S's first
 * value (sums of x - k and (x - k)^2; var = (s2 - s1^2 / m) / m): one pass,
 * and no cancellation while the values lie within a few deviations of each
 * other. aux keeps (mean, inv) per set for the backward.
 *
 * The recorded derivatives (vjp_nodes, jvp_nodes) are the same formulas in
 * public ops, the statistics recomputed as nodes of x (batch_norm in eval
 * mode: input leaves of the running tensors), so they differentiate again.
 *
 * Why fused: the same batch_norm composed of public ops (14 nodes: two
 * mean_axis per statistic, sub, mul, pow, ...) took 89 ms forward and
 * 182 ms backward on [64,32,28,28], as much as a 3x3 conv's product there
 * (73 ms, forward alone); fused, 9-14 ms and 17-24 ms (`agrad_bench norm`,
 * 2-core VM, shared). */
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>

/* ---- shared ---------------------------------------------------------------------- */

/* mean and biased variance of m values from their shifted sums; a variance
 * that rounds below 0 is 0 (a NaN stays NaN) */
static inline void moments(double k, double s1, double s2, double m, double *mean, double *var)
{
    *mean = k + s1 / m;
    double v = (s2 - s1 * s1 / m) / m;
    *var = v < 0.0 ? 0.0 : v;
}

static bool eps_is_valid(double eps, char *why, size_t len)
{
    if (eps > 0.0 && isfinite(eps)) return true;
    snprintf(why, len, "eps = %g must be a finite number > 0", eps);
    return false;
}

/* `what` (gamma, beta, running_mean...) of shape s is [n] */
static bool is_vector_of(const ag_shape *s, int n, const char *what, const char *size_name, char *why,
                         size_t len)
{
    if (s->ndim == 1 && s->dims[0] == n) return true;
    char buf[64];
    snprintf(why, len, "%s must be [%s] = [%d], not %s", what, size_name, n, ag_shape_str(s, buf, sizeof buf));
    return false;
}

/* The mean of v over its last axis, kept as an axis of 1 ([..., D] -> [..., 1]) */
static ag_node *mean_last_kept(ag_node *v)
{
    if (!v) return NULL;
    ag_shape kept = v->shape;
    kept.dims[kept.ndim - 1] = 1;
    return ag_rec_reshape_to(ag_mean_axis(v, -1), &kept);
}

/* ---- views and kernels ------------------------------------------------------------
 * layer_norm: x [..., D] viewed as R rows of D. batch_norm: x [N,C],
 * [N,C,L] or [N,C,H,W] viewed as [N, C, P] (P the plane, 1 for [N,C]);
 * channel c's set is the N planes x[n, c, :], each contiguous. */

typedef struct rows_view { size_t rows, d; } rows_view;

static rows_view rows_of(const ag_node *out)
{
    size_t d = (size_t)out->shape.dims[out->shape.ndim - 1];
    return (rows_view){out->shape.size / d, d};
}

typedef struct layer_norm_job { ag_node *out; rows_view v; } layer_norm_job;

typedef struct channels_view { size_t n, c, plane; } channels_view;

static channels_view channels_of(const ag_shape *s)
{
    size_t plane = 1;
    for (int d = 2; d < s->ndim; d++) plane *= (size_t)s->dims[d];
    return (channels_view){(size_t)s->dims[0], (size_t)s->dims[1], plane};
}

typedef struct batch_norm_job { ag_node *out; channels_view v; } batch_norm_job;

#define real double
#define NORM(name) name
#include "norm_kernels.h"
#undef real
#undef NORM

#define real float
#define NORM(name) name##_f32
#include "norm_kernels.h"
#undef real
#undef NORM

static const ag_typed_kernels layer_norm_f32 = {{layer_norm_forward_f32, layer_norm_vjp_f32}, NULL};
static const ag_typed_kernels batch_norm_f32 = {{batch_norm_forward_f32, batch_norm_vjp_f32}, NULL};

/* ---- layer_norm ----------------------------------------------------------------------
 * x [..., D] viewed as R rows of D; gamma, beta [D] (a constant 1 and 0
 * when not given). */

static int layer_norm_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "eps=%.17g", AG_PARAMS(out, const ag_layer_norm_params)->eps);
}

static bool layer_norm_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    if (x->ndim == 0) {
        snprintf(why, len, "x needs an axis to normalise over (it is 0-d)");
        return false;
    }
    int d = x->dims[x->ndim - 1];
    if (!is_vector_of(&out->in[1]->shape, d, "gamma", "D", why, len) ||
        !is_vector_of(&out->in[2]->shape, d, "beta", "D", why, len) ||
        !eps_is_valid(AG_PARAMS(out, ag_layer_norm_params)->eps, why, len))
        return false;
    out->shape = *x;
    return true;
}

static size_t layer_norm_aux_size(const ag_node *out) { return 2 * rows_of(out).rows; }

/* ty = gamma inv (tx - mean(tx) - xhat mean(tx xhat)) + tgamma xhat + tbeta */
static void layer_norm_jvp(ag_node *out)
{
    rows_view v = rows_of(out);
    const double *tgamma = out->in[1]->tangent, *tbeta = out->in[2]->tangent;
    const double *gamma = out->in[1]->value;
    for (size_t r = 0; r < v.rows; r++) {
        const double *x = out->in[0]->value + r * v.d;
        const double *tx = out->in[0]->tangent ? out->in[0]->tangent + r * v.d : NULL;
        double *ty = out->tangent + r * v.d, mean = out->aux[2 * r], inv = out->aux[2 * r + 1];
        double a = 0.0, b = 0.0;
        for (size_t j = 0; tx && j < v.d; j++) a += tx[j], b += tx[j] * ((x[j] - mean) * inv);
        a /= (double)v.d, b /= (double)v.d;
        for (size_t j = 0; j < v.d; j++) {
            double xhat = (x[j] - mean) * inv;
            ty[j] = (tx ? gamma[j] * inv * (tx[j] - a - xhat * b) : 0.0) + (tgamma ? tgamma[j] * xhat : 0.0) +
                    (tbeta ? tbeta[j] : 0.0);
        }
    }
}

/* The statistics of x's rows as nodes: inv = (var + eps)^-1/2 and xhat */
typedef struct norm_nodes { ag_node *inv, *xhat; } norm_nodes;

static norm_nodes layer_norm_nodes(ag_node *out)
{
    ag_node *x = out->in[0];
    ag_node *centred = ag_sub(x, mean_last_kept(x));
    ag_node *var = mean_last_kept(ag_mul(centred, centred));
    ag_node *inv = ag_pow(ag_add(var, ag_rec_scalar(out->graph, AG_PARAMS(out, ag_layer_norm_params)->eps)), -0.5);
    return (norm_nodes){inv, ag_mul(centred, inv)};
}

/* inv (v - mean(v) - xhat mean(v xhat)) over each row */
static ag_node *layer_norm_proj(const norm_nodes *s, ag_node *v)
{
    ag_node *centred = ag_sub(v, mean_last_kept(v));
    return ag_mul(s->inv, ag_sub(centred, ag_mul(s->xhat, mean_last_kept(ag_mul(v, s->xhat)))));
}

static bool layer_norm_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    norm_nodes s = layer_norm_nodes(out);
    gy = ag_rec_expand_to(gy, &out->shape);
    if (ag_rec_takes_grad(out, 0)) gx[0] = layer_norm_proj(&s, ag_mul(out->in[1], gy));
    if (ag_rec_takes_grad(out, 1)) gx[1] = ag_rec_sum_to(ag_mul(gy, s.xhat), &out->in[1]->shape);
    if (ag_rec_takes_grad(out, 2)) gx[2] = ag_rec_sum_to(gy, &out->in[2]->shape);
    return !out->graph->failed;
}

static ag_node *layer_norm_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    norm_nodes s = layer_norm_nodes(out);
    ag_node *ty = tx[0] ? ag_mul(out->in[1], layer_norm_proj(&s, tx[0])) : NULL;
    ty = ag_rec_add(ty, ag_rec_mul(tx[1], s.xhat));
    ty = ag_rec_add(ty, tx[2]);
    return ag_rec_expand_to(ty, &out->shape);
}

const ag_op ag_op_layer_norm = {.name = "layer_norm", .arity = 3, .params_size = sizeof(ag_layer_norm_params),
                                .print_params = layer_norm_print_params, .shape = layer_norm_shape,
                                .kernels = {layer_norm_forward, layer_norm_vjp}, .jvp = layer_norm_jvp,
                                .vjp_nodes = layer_norm_vjp_nodes, .jvp_nodes = layer_norm_jvp_nodes,
                                .aux_size = layer_norm_aux_size, .f32 = &layer_norm_f32};

/* gamma, or the constant `fill` [n] in x's type when not given */
static ag_node *affine_or_fill(ag_node *x, ag_node *given, int n, double fill)
{
    if (given) return given;
    ag_shape s = {.ndim = 1, .dims = {n, 1, 1, 1}, .size = (size_t)n};
    ag_node *c = ag_rec_filled(x->graph, &s, fill);
    return x->dtype == AG_FLOAT32 ? ag_cast(c, AG_FLOAT32) : c;
}

ag_node *ag_layer_norm(ag_node *x, ag_node *gamma, ag_node *beta, double eps)
{
    if (!x) return NULL;
    int d = x->shape.ndim ? x->shape.dims[x->shape.ndim - 1] : 1; /* 0-d: the shape rule refuses it */
    ag_node *in[3] = {x, affine_or_fill(x, gamma, d, 1.0), affine_or_fill(x, beta, d, 0.0)};
    return ag_record(&ag_op_layer_norm, 3, in, &(ag_layer_norm_params){.eps = eps}, NULL);
}

/* ---- batch_norm ----------------------------------------------------------------------
 * x [N,C], [N,C,L] or [N,C,H,W] in the [N, C, P] view; gamma, beta [C] (a
 * constant 1 and 0 when not given); the running tensors [C], of either type. */

static int batch_norm_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_batch_norm_params *p = AG_PARAMS(out, const ag_batch_norm_params);
    return snprintf(buf, len, "momentum=%.17g, eps=%.17g, training=%d, running=%d", p->momentum, p->eps,
                    p->training, p->running_mean != NULL);
}

static bool running_stats_valid(const ag_batch_norm_params *p, int channels, char *why, size_t len)
{
    if (!p->running_mean != !p->running_var) {
        snprintf(why, len, "running_mean and running_var come together (one of them is NULL)");
        return false;
    }
    if (!p->running_mean) {
        if (p->training) return true;
        snprintf(why, len, "eval mode (training false) needs running_mean and running_var (they are NULL)");
        return false;
    }
    return is_vector_of(&p->running_mean->shape, channels, "running_mean", "C", why, len) &&
           is_vector_of(&p->running_var->shape, channels, "running_var", "C", why, len);
}

static bool batch_norm_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    const ag_batch_norm_params *p = AG_PARAMS(out, const ag_batch_norm_params);
    if (x->ndim < 2) {
        snprintf(why, len, "x must be [N,C], [N,C,L] or [N,C,H,W]");
        return false;
    }
    int channels = x->dims[1];
    if (!is_vector_of(&out->in[1]->shape, channels, "gamma", "C", why, len) ||
        !is_vector_of(&out->in[2]->shape, channels, "beta", "C", why, len) ||
        !running_stats_valid(p, channels, why, len) || !eps_is_valid(p->eps, why, len))
        return false;
    if (!(p->momentum >= 0.0 && p->momentum <= 1.0)) {
        snprintf(why, len, "momentum = %g must be in [0, 1]", p->momentum);
        return false;
    }
    channels_view v = channels_of(x);
    if (p->training && v.n * v.plane == 1) {
        snprintf(why, len, "expected more than 1 value per channel when training (N*H*W = 1)");
        return false;
    }
    out->shape = *x;
    return true;
}

static size_t batch_norm_aux_size(const ag_node *out) { return 2 * channels_of(&out->shape).c; }

/* ty = scale (tx - mean(tx) - xhat mean(tx xhat)) + tgamma xhat + tbeta
 * (eval: scale tx + tgamma xhat + tbeta), per channel */
static void batch_norm_jvp(ag_node *out)
{
    channels_view v = channels_of(&out->shape);
    bool training = AG_PARAMS(out, const ag_batch_norm_params)->training;
    const double *tx = out->in[0]->tangent, *tgamma = out->in[1]->tangent, *tbeta = out->in[2]->tangent;
    double m = (double)(v.n * v.plane);
    for (size_t c = 0; c < v.c; c++) {
        double mean = out->aux[2 * c], inv = out->aux[2 * c + 1], a = 0.0, b = 0.0;
        for (size_t n = 0; training && tx && n < v.n; n++) {
            size_t at = (n * v.c + c) * v.plane;
            for (size_t i = 0; i < v.plane; i++)
                a += tx[at + i], b += tx[at + i] * ((out->in[0]->value[at + i] - mean) * inv);
        }
        a /= m, b /= m;
        double scale = out->in[1]->value[c] * inv;
        for (size_t n = 0; n < v.n; n++) {
            size_t at = (n * v.c + c) * v.plane;
            for (size_t i = 0; i < v.plane; i++) {
                double xhat = (out->in[0]->value[at + i] - mean) * inv;
                double proj = !tx ? 0.0 : training ? tx[at + i] - a - xhat * b : tx[at + i];
                out->tangent[at + i] = scale * proj +
                                       (tgamma ? tgamma[c] * xhat : 0.0) + (tbeta ? tbeta[c] : 0.0);
            }
        }
    }
}

/* ---- batch_norm recorded: in the [N, C, P] view, per-channel values [1,C,1] */

static ag_shape view_shape(const ag_node *out)
{
    channels_view v = channels_of(&out->shape);
    return (ag_shape){.ndim = 3, .dims = {(int)v.n, (int)v.c, (int)v.plane, 1}, .size = out->shape.size};
}

static ag_node *per_channel(const ag_node *out, ag_node *c_values)
{
    int c = out->shape.dims[1];
    return ag_rec_reshape_to(c_values, &(ag_shape){.ndim = 3, .dims = {1, c, 1, 1}, .size = (size_t)c});
}

/* v [N,C,P] summed over N and P -> [C] */
static ag_node *channel_sum(ag_node *v) { return ag_sum_axis(ag_sum_axis(v, 2), 0); }
/* ... its mean, [1,C,1] */
static ag_node *channel_mean(const ag_node *out, ag_node *v)
{
    return per_channel(out, ag_mean_axis(ag_mean_axis(v, 2), 0));
}

/* a running tensor as an input leaf, in x's type (it may be the other) */
static ag_node *running_leaf(const ag_node *out, const ag_tensor *running)
{
    ag_node *leaf = ag_input(out->graph, running);
    if (!leaf || leaf->dtype == out->in[0]->dtype) return leaf;
    return ag_cast(leaf, (ag_dtype)out->in[0]->dtype);
}

/* inv [1,C,1] and xhat [N,C,P]: from the batch (training) or the running
 * tensors (eval, read as input leaves, so a replay sees their values) */
static norm_nodes batch_norm_nodes(ag_node *out)
{
    const ag_batch_norm_params *p = AG_PARAMS(out, const ag_batch_norm_params);
    ag_shape view = view_shape(out);
    ag_node *x = ag_rec_reshape_to(out->in[0], &view), *eps = ag_rec_scalar(out->graph, p->eps);
    ag_node *mean, *var, *centred;
    if (p->training) {
        mean = channel_mean(out, x);
        centred = ag_sub(x, mean);
        var = channel_mean(out, ag_mul(centred, centred));
    } else {
        mean = per_channel(out, running_leaf(out, p->running_mean));
        centred = ag_sub(x, mean);
        var = per_channel(out, running_leaf(out, p->running_var));
    }
    ag_node *inv = ag_pow(ag_add(var, eps), -0.5);
    return (norm_nodes){inv, ag_mul(centred, inv)};
}

/* v [N,C,P] -> gamma inv (v - mean(v) - xhat mean(v xhat)), or gamma inv v in eval mode */
static ag_node *batch_norm_scaled_proj(ag_node *out, const norm_nodes *s, ag_node *v)
{
    ag_node *scale = ag_mul(per_channel(out, out->in[1]), s->inv);
    if (!AG_PARAMS(out, const ag_batch_norm_params)->training) return ag_mul(scale, v);
    ag_node *centred = ag_sub(v, channel_mean(out, v));
    return ag_mul(scale, ag_sub(centred, ag_mul(s->xhat, channel_mean(out, ag_mul(v, s->xhat)))));
}

static bool batch_norm_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_shape view = view_shape(out);
    norm_nodes s = batch_norm_nodes(out);
    gy = ag_rec_reshape_to(ag_rec_expand_to(gy, &out->shape), &view);
    if (ag_rec_takes_grad(out, 0)) gx[0] = ag_rec_reshape_to(batch_norm_scaled_proj(out, &s, gy), &out->shape);
    if (ag_rec_takes_grad(out, 1)) gx[1] = channel_sum(ag_mul(gy, s.xhat));
    if (ag_rec_takes_grad(out, 2)) gx[2] = channel_sum(gy);
    return !out->graph->failed;
}

static ag_node *batch_norm_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_shape view = view_shape(out);
    norm_nodes s = batch_norm_nodes(out);
    ag_node *ty = tx[0] ? batch_norm_scaled_proj(out, &s, ag_rec_reshape_to(tx[0], &view)) : NULL;
    ty = ag_rec_add(ty, ag_rec_mul(per_channel(out, tx[1]), s.xhat));
    ty = ag_rec_add(ty, per_channel(out, tx[2]));
    return ag_rec_reshape_to(ag_rec_expand_to(ty, &view), &out->shape);
}

const ag_op ag_op_batch_norm = {.name = "batch_norm", .arity = 3, .params_size = sizeof(ag_batch_norm_params),
                                .print_params = batch_norm_print_params, .shape = batch_norm_shape,
                                .kernels = {batch_norm_forward, batch_norm_vjp}, .jvp = batch_norm_jvp,
                                .vjp_nodes = batch_norm_vjp_nodes, .jvp_nodes = batch_norm_jvp_nodes,
                                .aux_size = batch_norm_aux_size, .f32 = &batch_norm_f32};

ag_node *ag_batch_norm(ag_node *x, ag_node *gamma, ag_node *beta, ag_tensor *running_mean,
                       ag_tensor *running_var, double momentum, double eps, bool training)
{
    if (!x) return NULL;
    int c = x->shape.ndim >= 2 ? x->shape.dims[1] : 1; /* under 2-d: the shape rule refuses it */
    ag_node *in[3] = {x, affine_or_fill(x, gamma, c, 1.0), affine_or_fill(x, beta, c, 0.0)};
    ag_batch_norm_params p = {.momentum = momentum, .eps = eps, .training = training,
                              .running_mean = running_mean, .running_var = running_var};
    return ag_record(&ag_op_batch_norm, 3, in, &p, NULL);
}
