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
static void report_builder_failure(ag_graph *g, const ag_node *loss)
{
    char builder_error[AG_ERROR_SIZE];
    snprintf(builder_error, sizeof builder_error, "%s", ag_last_error());
    const char *graph_error = ag_graph_error(g);
    char shape[64];
    if (!loss && (graph_error || builder_error[0]))
        ag_set_last_error("ag_gradcheck: the loss builder returned NULL: %s",
                          graph_error ? graph_error : builder_error);
    else if (!loss)
        ag_set_last_error("ag_gradcheck: the loss builder returned NULL (and left no error)");
    else if (graph_error)
        ag_set_last_error("ag_gradcheck: the loss builder failed: %s", graph_error);
    else
        ag_set_last_error("ag_gradcheck: the loss has shape (%s); it must be a scalar (one element)",
                          ag_shape_str(&loss->shape, shape, sizeof shape));
}

/* Build the loss on a reset graph; its value, or NAN with *ok = false. */
static double loss_value(ag_graph *g, ag_loss_builder build, void *user, ag_node **root, bool *ok)
{
    ag_graph_reset(g);
    ag_set_last_error("%s", ""); /* so an error the builder sets is told from an older one */
    ag_node *loss = build(g, user);
    *ok = loss && !ag_graph_error(g) && loss->shape.size == 1;
    if (!*ok) {
        report_builder_failure(g, loss);
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
        double plus = loss_value(g, build, user, NULL, &ok);
        p->data[i] = saved - o->eps;
        double minus = ok ? loss_value(g, build, user, NULL, &ok) : NAN;
        p->data[i] = saved;
        judge(r, o, i, analytic[i], (plus - minus) / (2 * o->eps), &worst_excess);
    }
    return ok;
}

static void report(FILE *out, const ag_tensor *p, const ag_gradcheck_result *r)
{
    if (!out) return;
    fprintf(out, "gradcheck %-10s max abs err %.3g, max rel err %.3g, worst element %zu "
                 "(autograd %.12g, numeric %.12g): %s\n",
            p->name ? p->name : "", r->max_abs_error, r->max_rel_error, r->worst,
            r->worst_analytic, r->worst_numeric, r->pass ? "PASS" : "FAIL");
}

/* Autograd gradients of every parameter, concatenated, into `analytic`. */
static bool analytic_gradients(ag_graph *g, ag_loss_builder build, void *user, size_t n_params,
                               ag_tensor *const *params, double *analytic)
{
    bool ok;
    ag_node *root = NULL;
    for (size_t k = 0; k < n_params; k++) ag_tensor_zero_grad(params[k]);
    loss_value(g, build, user, &root, &ok);
    if (!ok) return false;
    if (!ag_backward(g, root)) {
        ag_set_last_error("ag_gradcheck: %s", ag_graph_error(g));
        return false;
    }
    for (size_t k = 0, at = 0; k < n_params; at += params[k]->shape.size, k++)
        memcpy(analytic + at, params[k]->grad, params[k]->shape.size * sizeof(double));
    return true;
}

static bool params_are_valid(size_t n_params, ag_tensor *const *params, size_t *total)
{
    *total = 0;
    if (!ag_params_require_grad("ag_gradcheck", n_params, params)) return false;
    for (size_t k = 0; k < n_params; k++) *total += params[k]->shape.size;
    return true;
}

static bool options_are_valid(const ag_gradcheck_options *o)
{
    if (!(isfinite(o->eps) && o->eps > 0.0))
        ag_set_last_error("ag_gradcheck: eps is %g; it must be finite and > 0", o->eps);
    else if (!(isfinite(o->atol) && o->atol >= 0.0))
        ag_set_last_error("ag_gradcheck: atol is %g; it must be finite and >= 0", o->atol);
    else if (!(isfinite(o->rtol) && o->rtol >= 0.0))
        ag_set_last_error("ag_gradcheck: rtol is %g; it must be finite and >= 0", o->rtol);
    else
        return true;
    return false;
}

/* The parameters' gradients into `saved`, or back from it (to_params). */
static void copy_grads(size_t n_params, ag_tensor *const *params, double *saved, bool to_params)
{
    for (size_t k = 0, at = 0; k < n_params; at += params[k]->shape.size, k++) {
        size_t bytes = params[k]->shape.size * sizeof(double);
        if (to_params)
            memcpy(params[k]->grad, saved + at, bytes);
        else
            memcpy(saved + at, params[k]->grad, bytes);
    }
}

bool ag_gradcheck(ag_loss_builder build, void *user, size_t n_params, ag_tensor *const *params,
                  const ag_gradcheck_options *options, ag_gradcheck_result *results)
{
    if (!build) {
        ag_set_last_error("ag_gradcheck: the loss builder is NULL");
        return false;
    }
    ag_gradcheck_options o = options ? *options : ag_gradcheck_defaults();
    size_t total;
    if (!params_are_valid(n_params, params, &total) || !options_are_valid(&o)) return false;
    double *analytic = ag_malloc(2 * total * sizeof(double) + 1);
    ag_graph *g = ag_graph_new();
    if (!analytic || !g) {
        ag_set_last_error("ag_gradcheck: out of memory");
        ag_graph_free(g);
        ag_free(analytic);
        return false;
    }
    double *saved_grads = analytic + total;
    copy_grads(n_params, params, saved_grads, false);
    bool ok = analytic_gradients(g, build, user, n_params, params, analytic);
    bool all_pass = ok;
    for (size_t k = 0, at = 0; ok && k < n_params; at += params[k]->shape.size, k++) {
        ag_gradcheck_result r;
        ok = check_param(g, build, user, params[k], analytic + at, &o, &r);
        all_pass = all_pass && ok && r.pass;
        report(o.report, params[k], &r);
        if (results) results[k] = r;
    }
    copy_grads(n_params, params, saved_grads, true);
    ag_graph_free(g);
    ag_free(analytic);
    return ok && all_pass;
}
