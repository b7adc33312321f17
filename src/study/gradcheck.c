/* gradcheck.c -- autograd against central differences, per element, signed:
 *   numeric = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
 *   pass   |analytic - numeric| <= atol + rtol |numeric|                   */
#include "../internal.h"

#include <math.h>
#include <string.h>

ag_gradcheck_options ag_gradcheck_defaults(void)
{
    return (ag_gradcheck_options){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .report = NULL};
}

/* Say why the builder gave no usable loss: it returned NULL (with the error it
 * left on the graph or in ag_last_error, if any), or a failed or non-scalar node. */
static void report_builder_failure(ag_graph *g, const ag_node *loss, const char *who)
{
    char builder_error[AG_ERROR_SIZE];
    snprintf(builder_error, sizeof builder_error, "%s", ag_last_error());
    const char *graph_error = ag_graph_error(g);
    char shape[64];
    if (!loss && (graph_error || builder_error[0]))
        ag_set_last_error("%s: the loss builder returned NULL: %s", who,
                          graph_error ? graph_error : builder_error);
    else if (!loss)
        ag_set_last_error("%s: the loss builder returned NULL (and left no error)", who);
    else if (graph_error)
        ag_set_last_error("%s: the loss builder failed: %s", who, graph_error);
    else
        ag_set_last_error("%s: the loss has shape (%s); it must be a scalar (one element)", who,
                          ag_shape_str(&loss->shape, shape, sizeof shape));
}

/* Build the loss on a reset graph; its value, or NAN with *ok = false. */
static double loss_value(ag_graph *g, ag_loss_builder build, void *user, ag_node **root, bool *ok,
                         const char *who)
{
    ag_graph_reset(g);
    ag_set_last_error("%s", ""); /* so an error the builder sets is told from an older one */
    ag_node *loss = build(g, user);
    *ok = loss && !ag_graph_error(g) && loss->shape.size == 1;
    if (!*ok) {
        report_builder_failure(g, loss, who);
        return NAN;
    }
    if (root) *root = loss;
    return loss->value[0];
}

/* Fold one element's comparison into r. */
static void judge(ag_gradcheck_result *r, const ag_gradcheck_options *o, size_t i,
                  double analytic, double numeric, double *worst_excess)
{
    double err = fabs(analytic - numeric);
    double excess = err - (o->atol + o->rtol * fabs(numeric));
    if (!(err <= o->atol + o->rtol * fabs(numeric))) r->pass = false;
    if (err > r->max_abs_error || isnan(err)) r->max_abs_error = err;
    if (numeric != 0.0 && err / fabs(numeric) > r->max_rel_error) r->max_rel_error = err / fabs(numeric);
    if (excess > *worst_excess || isnan(err) || i == 0) {
        *worst_excess = isnan(err) ? INFINITY : excess;
        r->worst = i;
        r->worst_analytic = analytic;
        r->worst_numeric = numeric;
    }
}

/* Check one parameter; `analytic` holds its autograd gradient. */
static bool check_param(ag_graph *g, ag_loss_builder build, void *user, ag_tensor *p,
                        const double *analytic, const ag_gradcheck_options *o,
                        ag_gradcheck_result *r)
{
    *r = (ag_gradcheck_result){.pass = true};
    double worst_excess = -INFINITY;
    bool ok = true;
    for (size_t i = 0; ok && i < p->shape.size; i++) {
        double saved = p->data[i];
        p->data[i] = saved + o->eps;
        double plus = loss_value(g, build, user, NULL, &ok, "ag_gradcheck");
        p->data[i] = saved - o->eps;
        double minus = ok ? loss_value(g, build, user, NULL, &ok, "ag_gradcheck") : NAN;
        p->data[i] = saved;
        judge(r, o, i, analytic[i], (plus - minus) / (2 * o->eps), &worst_excess);
    }
    return ok;
}

static void report(FILE *out, const char *what, const ag_tensor *p, const ag_gradcheck_result *r)
{
    if (!out) return;
    fprintf(out, "%s %-10s max abs err %.3g, max rel err %.3g, worst element %zu "
                 "(autograd %.12g, numeric %.12g): %s\n",
            what, p->name ? p->name : "", r->max_abs_error, r->max_rel_error, r->worst,
            r->worst_analytic, r->worst_numeric, r->pass ? "PASS" : "FAIL");
}

/* The loss's gradient for every parameter, concatenated into grad[total],
 * by the plain backward sweep on a fresh recording; errors said as who's. */
static bool plain_gradients(ag_graph *g, ag_loss_builder build, void *user, size_t n_params,
                            ag_tensor *const *params, double *grad, const char *who)
{
    bool ok;
    ag_node *root = NULL;
    for (size_t k = 0; k < n_params; k++) ag_tensor_zero_grad(params[k]);
    loss_value(g, build, user, &root, &ok, who);
    if (!ok) return false;
    if (!ag_backward(g, root)) {
        ag_set_last_error("%s: %s", who, ag_graph_error(g));
        return false;
    }
    for (size_t k = 0, at = 0; k < n_params; at += params[k]->shape.size, k++)
        memcpy(grad + at, params[k]->grad, params[k]->shape.size * sizeof(double));
    return true;
}

static bool params_are_valid(size_t n_params, ag_tensor *const *params, size_t *total, const char *who)
{
    *total = 0;
    if (!ag_params_require_grad(who, n_params, params)) return false;
    for (size_t k = 0; k < n_params; k++) {
        if (params[k]->dtype != AG_FLOAT64) {
            ag_set_last_error("%s: parameter %zu ('%s') is float32; the gradient checks work in float64 "
                              "(ag_tensor_to_dtype)", who, k, ag_tensor_name(params[k]));
            return false;
        }
        *total += params[k]->shape.size;
    }
    return true;
}

static bool options_are_valid(const ag_gradcheck_options *o, const char *who)
{
    if (!(isfinite(o->eps) && o->eps > 0.0))
        ag_set_last_error("%s: eps is %g; it must be finite and > 0", who, o->eps);
    else if (!(isfinite(o->atol) && o->atol >= 0.0))
        ag_set_last_error("%s: atol is %g; it must be finite and >= 0", who, o->atol);
    else if (!(isfinite(o->rtol) && o->rtol >= 0.0))
        ag_set_last_error("%s: rtol is %g; it must be finite and >= 0", who, o->rtol);
    else
        return true;
    return false;
}

/* The builder, parameters and options of a check (NULL options: the
 * defaults, written to *o); *total counts the parameters' elements. */
static bool arguments_are_valid(const char *who, ag_loss_builder build, size_t n_params,
                                ag_tensor *const *params, const ag_gradcheck_options *options,
                                ag_gradcheck_options *o, size_t *total)
{
    if (!build) {
        ag_set_last_error("%s: the loss builder is NULL", who);
        return false;
    }
    *o = options ? *options : ag_gradcheck_defaults();
    return params_are_valid(n_params, params, total, who) && options_are_valid(o, who);
}

/* A check's scratch of `count` doubles and its graph (both freed by the
 * caller); NULL with ag_last_error "who: out of memory". */
static double *workspace_new(const char *who, size_t count, ag_graph **g)
{
    double *work = ag_malloc(count * sizeof(double) + 1);
    *g = ag_graph_new();
    if (work && *g) return work;
    ag_set_last_error("%s: out of memory", who);
    ag_graph_free(*g);
    ag_free(work);
    return NULL;
}

/* The parameters' gradients into `saved`, or back from it (to_params). */
static void copy_grads(size_t n_params, ag_tensor *const *params, double *saved, bool to_params)
{
    for (size_t k = 0, at = 0; k < n_params; at += params[k]->shape.size, k++) {
        size_t bytes = params[k]->shape.size * sizeof(double);
        ag_tensor_grad_settle(params[k]); /* saved as the zeros it counts as */
        if (to_params)
            memcpy(params[k]->grad, saved + at, bytes);
        else
            memcpy(saved + at, params[k]->grad, bytes);
    }
}

bool ag_gradcheck(ag_loss_builder build, void *user, size_t n_params, ag_tensor *const *params,
                  const ag_gradcheck_options *options, ag_gradcheck_result *results)
{
    ag_gradcheck_options o;
    size_t total;
    if (!arguments_are_valid("ag_gradcheck", build, n_params, params, options, &o, &total)) return false;
    ag_graph *g;
    double *analytic = workspace_new("ag_gradcheck", 2 * total, &g);
    if (!analytic) return false;
    double *saved_grads = analytic + total;
    copy_grads(n_params, params, saved_grads, false);
    bool ok = plain_gradients(g, build, user, n_params, params, analytic, "ag_gradcheck");
    bool all_pass = ok;
    for (size_t k = 0, at = 0; ok && k < n_params; at += params[k]->shape.size, k++) {
        ag_gradcheck_result r;
        ok = check_param(g, build, user, params[k], analytic + at, &o, &r);
        all_pass = all_pass && ok && r.pass;
        report(o.report, "gradcheck", params[k], &r);
        if (results) results[k] = r;
    }
    copy_grads(n_params, params, saved_grads, true);
    ag_graph_free(g);
    ag_free(analytic);
    return ok && all_pass;
}

/* ---- second derivatives ------------------------------------------------------ */

#define AG_MAX_HESSIAN_ELEMENTS ((size_t)1 << 26)

/* The numeric Hessian H[total, total]: column j = (grad(x + eps e_j) -
 * grad(x - eps e_j)) / (2 eps); scratch holds two gradients. */
static bool numeric_hessian(ag_graph *g, ag_loss_builder build, void *user, size_t n_params,
                            ag_tensor *const *params, size_t total, double eps, double *H,
                            double *scratch)
{
    double *plus = scratch, *minus = scratch + total;
    bool ok = true;
    for (size_t k = 0, j = 0; ok && k < n_params; k++) {
        for (size_t e = 0; ok && e < params[k]->shape.size; e++, j++) {
            double *x = &params[k]->data[e], saved = *x;
            *x = saved + eps;
            ok = plain_gradients(g, build, user, n_params, params, plus, "ag_gradgradcheck");
            *x = saved - eps;
            ok = ok && plain_gradients(g, build, user, n_params, params, minus, "ag_gradgradcheck");
            *x = saved;
            for (size_t i = 0; ok && i < total; i++) H[i * total + j] = (plus[i] - minus[i]) / (2 * eps);
        }
    }
    return ok;
}

/* The gradient with respect to tensor p as recorded nodes: the sum over
 * every leaf of p in the graph (NULL when p has none: its rows are 0). */
static bool recorded_tensor_gradient(ag_graph *g, ag_node *root, const ag_tensor *p, ag_node **grad)
{
    *grad = NULL;
    size_t count = g->n_nodes;
    for (size_t i = 0; i < count; i++) {
        ag_node *leaf = g->nodes[i];
        if (leaf->op != &ag_op_param || leaf->value != p->data || !leaf->grad) continue;
        ag_node *share;
        if (!ag_grad(g, root, 1, &leaf, &share, true)) return false;
        *grad = *grad ? ag_add(*grad, share) : share;
        if (!*grad) return false;
    }
    return true;
}

/* The recorded Hessian H[total, total]: row i of parameter p's block from a
 * backward sweep over p's recorded gradient seeded with e_i. */
static bool recorded_hessian(ag_graph *g, ag_loss_builder build, void *user, size_t n_params,
                             ag_tensor *const *params, size_t total, double *H, double *seed)
{
    bool ok;
    ag_node *root = NULL;
    loss_value(g, build, user, &root, &ok, "ag_gradgradcheck");
    for (size_t k = 0, row = 0; ok && k < n_params; k++) {
        ag_node *grad;
        ok = recorded_tensor_gradient(g, root, params[k], &grad);
        for (size_t i = 0; ok && i < params[k]->shape.size; i++, row++) {
            double *h = H + row * total;
            memset(h, 0, total * sizeof(double));
            if (!grad || !grad->grad) continue; /* a constant gradient: zero row */
            memset(seed, 0, params[k]->shape.size * sizeof(double));
            seed[i] = 1.0;
            for (size_t q = 0; q < n_params; q++) ag_tensor_zero_grad(params[q]);
            ok = ag_backward_seed(g, grad, seed);
            for (size_t q = 0, at = 0; ok && q < n_params; at += params[q]->shape.size, q++)
                memcpy(h + at, params[q]->grad, params[q]->shape.size * sizeof(double));
        }
    }
    if (!ok && ag_graph_error(g)) ag_set_last_error("ag_gradgradcheck: %s", ag_graph_error(g));
    return ok;
}

bool ag_gradgradcheck(ag_loss_builder build, void *user, size_t n_params, ag_tensor *const *params,
                      const ag_gradcheck_options *options, ag_gradcheck_result *results)
{
    static const char who[] = "ag_gradgradcheck";
    ag_gradcheck_options o;
    size_t total;
    if (!arguments_are_valid(who, build, n_params, params, options, &o, &total)) return false;
    if (total > AG_MAX_HESSIAN_ELEMENTS) { /* beyond, 2 total^2 doubles cannot be counted */
        ag_set_last_error("%s: the parameters have %zu elements; a full Hessian takes at most %zu",
                          who, total, AG_MAX_HESSIAN_ELEMENTS);
        return false;
    }
    /* two Hessians, then the saved gradients and two gradients of scratch */
    ag_graph *g;
    double *analytic = workspace_new(who, 2 * total * total + 3 * total, &g);
    if (!analytic) return false;
    double *numeric = analytic + total * total, *saved_grads = numeric + total * total;
    double *scratch = saved_grads + total;
    copy_grads(n_params, params, saved_grads, false);
    bool ok = recorded_hessian(g, build, user, n_params, params, total, analytic, scratch) &&
              numeric_hessian(g, build, user, n_params, params, total, o.eps, numeric, scratch);
    bool all_pass = ok;
    for (size_t k = 0, row = 0; ok && k < n_params; row += params[k]->shape.size, k++) {
        ag_gradcheck_result r = {.pass = true};
        double worst_excess = -INFINITY;
        for (size_t i = 0; i < params[k]->shape.size * total; i++)
            judge(&r, &o, i, analytic[row * total + i], numeric[row * total + i], &worst_excess);
        all_pass = all_pass && r.pass;
        report(o.report, "gradgradcheck", params[k], &r);
        if (results) results[k] = r;
    }
    copy_grads(n_params, params, saved_grads, true);
    ag_graph_free(g);
    ag_free(analytic);
    return ok && all_pass;
}
