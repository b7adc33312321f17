/* test_higher_order.c -- derivatives of derivatives: every op's recorded
 * vector-Jacobian and Jacobian-vector products against its fast numeric
 * ones, second derivatives against central differences of the gradient
 * (ag_gradgradcheck), and the nestings against closed forms. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "../src/ops/recorded.h"
#include "helpers.h"

#define TRIALS_PER_OP 6

/* |got - want| <= tol (1 + |want|) for n values, naming what is compared */
static void assert_close_values(const double *got, const double *want, size_t n, double tol,
                                const char *what, const char *opname)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_in_loop(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                          "%s: %s element %zu: recorded %.17g, fast %.17g", opname, what, i, got[i], want[i]);
}

/* A constant of node n's shape holding random values in [-1, 1]. */
static ag_node *random_constant_like(ag_graph *g, test_rng *r, const ag_node *n)
{
    size_t size = ag_node_size(n);
    double *v = malloc((size ? size : 1) * sizeof *v);
    for (size_t i = 0; i < size; i++) v[i] = rng_uniform(r, -1.0, 1.0);
    int dims[4];
    for (int d = 0; d < ag_node_ndim(n); d++) dims[d] = ag_node_dim(n, d);
    ag_node *c = ag_constant(g, ag_node_ndim(n), dims, v);
    free(v);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* One level up: the recorded gradient differentiated again, by recorded
 * vjps (ag_grad) and by the fast ones (ag_backward), agrees: s = sum_p
 * <w_p, grads[p]> for random w_p, then ds/dparams both ways. */
static void assert_second_level(ag_graph *g, op_case *c, test_rng *r, ag_node *const *grads,
                                const char *opname)
{
    ag_node *s = NULL;
    for (int p = 0; p < c->n_params; p++)
        if (ag_node_grad(grads[p])) s = ag_rec_add(s, ag_sum(ag_mul(grads[p], random_constant_like(g, r, grads[p]))));
    if (!s) return; /* the op is linear: its gradient is constant */
    for (int p = 0; p < c->n_params; p++) ag_tensor_zero_grad(c->params[p]);
    ck_assert_msg(ag_backward(g, s), "%s: %s", opname, ag_graph_error(g));
    ag_node *again[OP_CASE_MAX];
    ck_assert_msg(ag_grad(g, s, (size_t)c->n_params, c->param_nodes, again, true), "%s: %s", opname,
                  ag_graph_error(g));
    for (int p = 0; p < c->n_params; p++) {
        char what[48];
        snprintf(what, sizeof what, "second-level gradient of operand %d", p);
        assert_close_values(ag_node_value(again[p]), ag_tensor_grad(c->params[p]),
                            ag_tensor_size(c->params[p]), 1e-12, what, opname);
    }
}

/* The op's recorded vjp (ag_grad_seeded from out with a random seed) gives
 * each operand the gradient the fast vjp (ag_backward_seed) does. */
static void assert_recorded_vjp(ag_graph *g, op_case *c, test_rng *r, const char *opname)
{
    ag_node *seed = random_constant_like(g, r, c->out);
    for (int p = 0; p < c->n_params; p++) ag_tensor_zero_grad(c->params[p]);
    ck_assert_msg(ag_backward_seed(g, c->out, ag_node_value(seed)), "%s: %s", opname, ag_graph_error(g));
    ag_node *grads[OP_CASE_MAX];
    ck_assert_msg(ag_grad_seeded(g, c->out, seed, (size_t)c->n_params, c->param_nodes, grads),
                  "%s: %s", opname, ag_graph_error(g));
    for (int p = 0; p < c->n_params; p++) {
        ck_assert_uint_eq(ag_node_size(grads[p]), ag_tensor_size(c->params[p]));
        char what[32];
        snprintf(what, sizeof what, "gradient of operand %d", p);
        assert_close_values(ag_node_value(grads[p]), ag_tensor_grad(c->params[p]),
                            ag_tensor_size(c->params[p]), 1e-12, what, opname);
    }
    assert_second_level(g, c, r, grads, opname);
}

/* The op's recorded jvp (ag_jvp_nodes) gives out the tangent its fast jvp
 * (ag_jvp) does, for random tangents on every operand. */
static void assert_recorded_jvp(ag_graph *g, op_case *c, test_rng *r, const char *opname)
{
    ag_node *tangents[OP_CASE_MAX];
    const double *values[OP_CASE_MAX];
    for (int p = 0; p < c->n_params; p++) {
        tangents[p] = random_constant_like(g, r, c->param_nodes[p]);
        values[p] = ag_node_value(tangents[p]);
    }
    size_t n = (size_t)c->n_params;
    ck_assert_msg(ag_jvp(g, n, c->param_nodes, values), "%s: %s", opname, ag_graph_error(g));
    size_t size = ag_node_size(c->out);
    double *fast = calloc(size, sizeof *fast);
    if (ag_node_tangent(c->out)) memcpy(fast, ag_node_tangent(c->out), size * sizeof *fast);
    ag_node *recorded;
    ck_assert_msg(ag_jvp_nodes(g, n, c->param_nodes, tangents, 1, &c->out, &recorded), "%s: %s", opname,
                  ag_graph_error(g));
    ck_assert_uint_eq(ag_node_size(recorded), size);
    assert_close_values(ag_node_value(recorded), fast, size, 1e-12, "tangent", opname);
    free(fast);
}

/* _i is the op's index in the registry (a loop test) */
START_TEST(recorded_vjp_and_jvp_match_the_fast_ones)
{
    const char *name = registry_name((size_t)_i);
    op_recipe recipe = recipe_for(name);
    ck_assert(recipe != NULL);
    ck_assert_msg(ag_all_ops[_i]->vjp_nodes && ag_all_ops[_i]->jvp_nodes,
                  "op '%s' has no recorded %s", name, ag_all_ops[_i]->vjp_nodes ? "jvp" : "vjp");
    test_rng r = {0x2ec0de00u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe(g, &r, &c), "%s: %s", name, ag_graph_error(g));
        assert_recorded_vjp(g, &c, &r, name);
        assert_recorded_jvp(g, &c, &r, name);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

/* ---- second derivatives of every op against central differences ---------- */

/* The loss <w, op(params)> for a fixed random w: the case re-recorded on
 * its own tensors from the random state it first drew them from, by the
 * op's recipe or (recipe NULL) matmul form `form`. */
typedef struct op_loss {
    op_recipe recipe;
    int form;
    test_rng start;
    op_case *c;
    double *w;
} op_loss;

static bool record_case(const op_loss *l, ag_graph *g, test_rng *r)
{
    return l->recipe ? l->recipe(g, r, l->c) : matmul_form_case(g, r, l->c, l->form);
}

static ag_node *op_loss_build(ag_graph *g, void *user)
{
    op_loss *l = user;
    test_rng r = l->start;
    l->c->n_params = l->c->n_extra = 0;
    l->c->rerecord = true;
    if (!record_case(l, g, &r)) return NULL;
    ag_node *out = l->c->out;
    int dims[4];
    for (int d = 0; d < ag_node_ndim(out); d++) dims[d] = ag_node_dim(out, d);
    ag_node *w = ag_constant(g, ag_node_ndim(out), dims, l->w);
    return ag_sum(ag_mul(out, w));
}

/* One trial: a case drawn from r, its second derivatives (the recorded
 * gradient differentiated again) against central differences of the plain
 * gradient, every operand's rows (ag_gradgradcheck). */
static void assert_second_derivatives(op_recipe recipe, int form, test_rng *r, const char *name)
{
    ag_graph *g = ag_graph_new();
    op_case c = {0};
    op_loss loss = {.recipe = recipe, .form = form, .start = *r, .c = &c};
    ck_assert_msg(record_case(&loss, g, r), "%s: %s", name, ag_graph_error(g));
    size_t size = ag_node_size(c.out);
    loss.w = malloc(size * sizeof *loss.w);
    for (size_t i = 0; i < size; i++) loss.w[i] = rng_uniform(r, -1.0, 1.0);
    ag_gradcheck_result results[OP_CASE_MAX]; /* unwritten when the check fails to run */
    for (int p = 0; p < OP_CASE_MAX; p++) results[p] = (ag_gradcheck_result){.pass = true};
    bool pass = ag_gradgradcheck(op_loss_build, &loss, (size_t)c.n_params, c.params, NULL, results);
    for (int p = 0; p < c.n_params; p++)
        ck_assert_msg(results[p].pass, "%s: operand %d: second derivative %zu: recorded %.12g, "
                      "central difference %.12g", name, p, results[p].worst,
                      results[p].worst_analytic, results[p].worst_numeric);
    ck_assert_msg(pass, "%s: %s", name, ag_last_error());
    free(loss.w);
    op_case_free(&c);
    ag_graph_free(g);
}

START_TEST(second_derivatives_match_central_differences)
{
    const char *name = registry_name((size_t)_i);
    op_recipe recipe = recipe_for(name);
    ck_assert(recipe != NULL);
    test_rng r = {0x99ad0000u + (uint64_t)_i};
    for (int trial = 0; trial < 3; trial++) assert_second_derivatives(recipe, 0, &r, name);
}
END_TEST

/* ---- nestings against closed forms ------------------------------------------ */

/* |H - want| <= tol elementwise for both Hessians of an n-element wrt */
static void assert_hessians(ag_graph *g, ag_node *root, ag_node *wrt, const double *want, int n,
                            double tol)
{
    ag_tensor *H = ag_hessian(g, root, wrt), *Hf = ag_hessian_fwd(g, root, wrt);
    ck_assert_msg(H && Hf, "%s", ag_graph_error(g));
    for (int i = 0; i < n * n; i++) {
        ck_assert_msg(fabs(ag_tensor_data(H)[i] - want[i]) <= tol, "H[%d, %d] = %.17g, closed form %.17g",
                      i / n, i % n, ag_tensor_data(H)[i], want[i]);
        ck_assert_msg(fabs(ag_tensor_data(Hf)[i] - want[i]) <= tol, "H (fwd) [%d, %d] = %.17g, closed form %.17g",
                      i / n, i % n, ag_tensor_data(Hf)[i], want[i]);
    }
    ag_tensor_free(H);
    ag_tensor_free(Hf);
}


/* f(x) = x^2 sin x, elementwise and summed, so each element's derivatives are
 *   f'   = 2x sin x + x^2 cos x
 *   f''  = 2 sin x + 4x cos x - x^2 sin x
 *   f''' = 6 cos x - 6x sin x - x^2 cos x          (by hand, the product rule) */
static double third_derivative(double x) { return 6 * cos(x) - 6 * x * sin(x) - x * x * cos(x); }
static double second_derivative(double x) { return 2 * sin(x) + 4 * x * cos(x) - x * x * sin(x); }

static ag_node *x2_sin_x(ag_node *x) { return ag_sum(ag_mul(ag_mul(x, x), ag_sin(x))); }

START_TEST(third_derivative_matches_its_closed_form)
{
    const double xs[3] = {-1.3, 0.4, 2.2};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = x2_sin_x(x), *d1, *d2, *d3;
    /* d2 = sum of f'' (elementwise f'' summed gives the diagonal's sum) */
    ck_assert(ag_grad(g, f, 1, &x, &d1, true));
    ck_assert(ag_grad(g, ag_sum(d1), 1, &x, &d2, true));
    ck_assert(ag_grad(g, ag_sum(d2), 1, &x, &d3, true));
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(ag_node_value(d2)[i], second_derivative(xs[i]), 1e-12);
        ck_assert_double_eq_tol(ag_node_value(d3)[i], third_derivative(xs[i]), 1e-12);
    }
    ag_graph_free(g);
}
END_TEST

/* The four nestings of a second derivative give f''(x) v for f as above:
 * H is diagonal, H v = f''(x) * v elementwise. */
START_TEST(all_four_nestings_give_the_hessian_vector_product)
{
    const double xs[3] = {-1.3, 0.4, 2.2}, vs[3] = {0.5, -2.0, 1.5};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = x2_sin_x(x), *v = ag_constant(g, 1, (int[]){3}, vs);
    ag_node *grad, *hv[4];
    ck_assert(ag_grad(g, f, 1, &x, &grad, true));
    /* reverse over reverse: d/dx <grad, v> */
    ck_assert(ag_grad(g, ag_sum(ag_mul(grad, v)), 1, &x, &hv[0], true));
    /* forward over reverse: grad's tangent along v */
    ck_assert(ag_jvp_nodes(g, 1, &x, &v, 1, &grad, &hv[1]));
    /* reverse over forward: d/dx of f's tangent along v (a scalar) */
    ag_node *df_v;
    ck_assert(ag_jvp_nodes(g, 1, &x, &v, 1, &f, &df_v));
    ck_assert(ag_grad(g, df_v, 1, &x, &hv[2], true));
    /* forward over forward: the tangent of x's tangent map, per element: with
     * seed e_i twice, d^2 f along (v, e) summed over e = all ones */
    ag_node *ones = ag_constant(g, 1, (int[]){3}, (double[]){1, 1, 1}), *df_ones, *ddf;
    ck_assert(ag_jvp_nodes(g, 1, &x, &ones, 1, &f, &df_ones));
    ck_assert(ag_jvp_nodes(g, 1, &x, &v, 1, &df_ones, &ddf));
    double sum = 0.0;
    for (int i = 0; i < 3; i++) {
        double want = second_derivative(xs[i]) * vs[i];
        sum += want;
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs(ag_node_value(hv[k])[i] - want) <= 1e-12,
                          "nesting %d, element %d: %.17g, closed form %.17g", k, i, ag_node_value(hv[k])[i], want);
    }
    ck_assert_double_eq_tol(ag_node_value(ddf)[0], sum, 1e-12); /* 1^T H v */
    ag_graph_free(g);
}
END_TEST

/* softmax cross-entropy of logits z for class c: the Hessian in z is
 * diag(p) - p p^T (the seed's derivation), whatever c. */
START_TEST(hessian_of_cross_entropy_is_diag_p_minus_p_p_transpose)
{
    const double zs[4] = {0.3, -1.2, 2.0, 0.1};
    ag_tensor *t = kept_tensor_from(1, (int[]){4}, zs, true);
    ag_graph *g = ag_graph_new();
    ag_node *z = ag_param(g, t), *loss = ag_softmax_xent_label(z, 2);
    double p[4], m = zs[2], s = 0.0, want[16], want_hv[4] = {0}, v[4] = {1.0, -0.5, 0.25, 2.0}, hv[4];
    for (int i = 0; i < 4; i++) s += exp(zs[i] - m);
    for (int i = 0; i < 4; i++) p[i] = exp(zs[i] - m) / s;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            want[i * 4 + j] = (i == j ? p[i] : 0.0) - p[i] * p[j];
            want_hv[i] += want[i * 4 + j] * v[j];
        }
    assert_hessians(g, loss, z, want, 4, 1e-15);
    ck_assert(ag_hvp(g, loss, z, v, hv));
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(hv[i], want_hv[i], 1e-15);
    ag_graph_free(g);
}
END_TEST

/* Without create_graph the gradient is numbers: a constant, equal to the
 * recorded one, and every parameter's gradient is left as it was. */
START_TEST(grad_without_create_graph_is_constant_and_leaves_gradients_alone)
{
    const double xs[3] = {-1.3, 0.4, 2.2};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_tensor_grad(t)[0] = 7.0; /* an earlier step's gradient */
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = x2_sin_x(x), *numbers, *nodes;
    ck_assert(ag_grad(g, f, 1, &x, &numbers, false));
    ck_assert(ag_grad(g, f, 1, &x, &nodes, true));
    ck_assert_str_eq(ag_node_op(numbers), "constant");
    ck_assert_ptr_null(ag_node_grad(numbers));
    ck_assert_ptr_nonnull(ag_node_grad(nodes));
    for (int i = 0; i < 3; i++) {
        double want = 2 * xs[i] * sin(xs[i]) + xs[i] * xs[i] * cos(xs[i]);
        ck_assert_double_eq_tol(ag_node_value(numbers)[i], want, 1e-14);
        ck_assert_double_eq_tol(ag_node_value(nodes)[i], want, 1e-14);
    }
    ck_assert_double_eq(ag_tensor_grad(t)[0], 7.0);
    ck_assert_double_eq(ag_tensor_grad(t)[1], 0.0);
    ag_graph_free(g);
}
END_TEST

/* A wrt the root does not depend on gets zeros; misuse is an error naming
 * the argument. */
START_TEST(grad_errors_name_the_argument)
{
    ag_tensor *a = kept_tensor_from(1, (int[]){2}, (double[]){1, 2}, true);
    ag_tensor *b = kept_tensor_from(1, (int[]){2}, (double[]){3, 4}, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, a), *y = ag_param(g, b), *f = ag_sum(ag_mul(x, x)), *gr[2];
    ck_assert(ag_grad(g, f, 2, (ag_node *[]){x, y}, gr, true));
    ck_assert_double_eq(ag_node_value(gr[1])[0], 0.0);
    ck_assert_double_eq(ag_node_value(gr[0])[1], 4.0);
    ck_assert(!ag_grad(g, ag_mul(x, x), 1, &x, gr, true));
    ck_assert_ptr_nonnull(strstr(ag_graph_error(g), "ag_grad: root has shape (2)"));
    ag_graph_reset(g);
    x = ag_param(g, a);
    ag_node *c = ag_constant(g, 1, (int[]){2}, (double[]){1, 1});
    ck_assert(!ag_grad(g, ag_sum(ag_mul(x, c)), 1, &c, gr, true));
    ck_assert_ptr_nonnull(strstr(ag_graph_error(g), "wrt[0] takes no gradient"));
    ck_assert_ptr_null(gr[0]);
    ag_graph_free(g);
}
END_TEST

/* A recorded gradient is part of the graph: a replay (ag_graph_forward) on
 * new parameter values recomputes it, f' at the new point. */
START_TEST(a_recorded_gradient_replays_on_new_values)
{
    double xs[3] = {-1.3, 0.4, 2.2};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *grad;
    ck_assert(ag_grad(g, x2_sin_x(x), 1, &x, &grad, true));
    const double moved[3] = {0.7, -2.5, 1.1};
    memcpy(ag_tensor_data(t), moved, sizeof moved);
    ck_assert(ag_graph_forward(g));
    for (int i = 0; i < 3; i++) {
        double u = moved[i];
        ck_assert_double_eq_tol(ag_node_value(grad)[i], 2 * u * sin(u) + u * u * cos(u), 1e-14);
    }
    ag_graph_free(g);
}
END_TEST

/* Repeated Hessian-vector products on an unchanged graph record the
 * gradient once: the graph does not grow after the first, and each product
 * is f''(x) v for its own v. */
START_TEST(repeated_hvps_record_the_gradient_once)
{
    const double xs[3] = {-1.3, 0.4, 2.2};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = x2_sin_x(x);
    double hv[3];
    ck_assert(ag_hvp(g, f, x, (double[]){1, 0, 0}, hv));
    size_t size = ag_graph_size(g);
    const double *tangent = ag_node_tangent(f); /* the last sweep's buffer */
    ck_assert_ptr_nonnull(tangent);
    for (int e = 0; e < 3; e++) {
        double v[3] = {0, 0, 0};
        v[e] = 2.0;
        ck_assert(ag_hvp(g, f, x, v, hv));
        for (int i = 0; i < 3; i++)
            ck_assert_double_eq_tol(hv[i], i == e ? 2.0 * second_derivative(xs[i]) : 0.0, 1e-13);
    }
    ck_assert_uint_eq(ag_graph_size(g), size);
    ck_assert_ptr_eq(ag_node_tangent(f), tangent); /* reused, not allocated again */
    ck_assert(!ag_hvp(g, f, x, NULL, hv));
    ck_assert_graph_error(g, "ag_hvp: v is NULL");
    ag_graph_free(g);
}
END_TEST

/* ---- matmul in each of its forms, linear with each bias, recorded ----------- */

/* The case with operand k alone moving: its tangent given, the others'
 * NULL (zero), so an op's jvp_nodes meets NULL tangents. A view of c: the
 * tensors stay c's. */
static op_case operand_alone(const op_case *c, int k)
{
    op_case one = *c;
    one.n_params = 1;
    one.params[0] = c->params[k];
    one.param_nodes[0] = c->param_nodes[k];
    return one;
}

/* Recorded vjp == fast vjp, recorded jvp == fast jvp with every operand
 * moving and with each alone. */
static void assert_recorded_case(ag_graph *g, op_case *c, test_rng *r, const char *what)
{
    assert_recorded_vjp(g, c, r, what);
    assert_recorded_jvp(g, c, r, what);
    for (int k = 0; k < c->n_params; k++) {
        op_case one = operand_alone(c, k);
        assert_recorded_jvp(g, &one, r, what);
    }
}

static const char *const matmul_form_names[MATMUL_FORMS] = {
    "matrices", "large matrices", "row vector", "column vector", "dot",
    "batched",  "batched vector", "batched large"};

/* _i is the form (recipes_matmul.c): [M,K] @ [K,N] small and large, [K] @
 * [K,N], [M,K] @ [K], [K] @ [K], batches broadcasting, a vector against a
 * batch, a batch of large matrices. */
START_TEST(matmul_form_recorded_vjp_and_jvp_match_the_fast_ones)
{
    test_rng r = {0x3a7b0000u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(matmul_form_case(g, &r, &c, _i), "%s: %s", matmul_form_names[_i], ag_graph_error(g));
        char what[64];
        snprintf(what, sizeof what, "matmul (%s)", matmul_form_names[_i]);
        assert_recorded_case(g, &c, &r, what);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

/* Each form's second derivatives (the recorded gradient differentiated
 * again: d^2 <w, A @ B> / dA dB is w's entries placed, d^2 / dA^2 = 0)
 * against central differences of the plain gradient. _i is the form. */
START_TEST(matmul_form_second_derivatives_match_central_differences)
{
    test_rng r = {0x3a7c0000u + (uint64_t)_i};
    char name[64];
    snprintf(name, sizeof name, "matmul (%s)", matmul_form_names[_i]);
    for (int trial = 0; trial < 2; trial++) assert_second_derivatives(NULL, _i, &r, name);
}
END_TEST

/* linear [M,K] @ [K,N] + bias for each of the bias's layouts (linear.c);
 * _i picks the layout, M, K, N are drawn (1 included: a row or column of
 * one makes a row bias flat, and so on). */
START_TEST(linear_bias_recorded_vjp_and_jvp_match_the_fast_ones)
{
    static const char *const layouts[] = {"[M,N]", "[N]", "[1,N]", "[M,1]", "[]", "[1]", "[1,1]"};
    test_rng r = {0x11ea0000u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        bool large = trial % 3 == 2; /* over the small-product limit: ag_gemm */
        int M = large ? rng_int(&r, 9, 12) : rng_int(&r, 1, 4), K = large ? 8 : rng_int(&r, 1, 5);
        int N = large ? rng_int(&r, 9, 12) : rng_int(&r, 1, 4);
        int nd[] = {2, 1, 2, 2, 0, 1, 2}, dims[][2] = {{M, N}, {N, 0}, {1, N}, {M, 1}, {0, 0}, {1, 0}, {1, 1}};
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ag_node *a = add_param(g, &c, random_param(&r, 2, (int[]){M, K}, -2.0, 2.0, false));
        ag_node *b = add_param(g, &c, random_param(&r, 2, (int[]){K, N}, -2.0, 2.0, false));
        ag_node *bias = add_param(g, &c, random_param(&r, nd[_i], dims[_i], -2.0, 2.0, false));
        c.out = ag_linear(a, b, bias);
        ck_assert_msg(c.out != NULL, "%s", ag_graph_error(g));
        char what[64];
        snprintf(what, sizeof what, "linear (bias %s, M %d, N %d)", layouts[_i], M, N);
        assert_recorded_case(g, &c, &r, what);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

/* L = sum((A x) * (A x)) / 2 = |A x|^2 / 2 for a constant A [3,2] and a
 * parameter vector x [2] (matmul's [M,K] @ [K] form): dL/dx = A^T A x and
 * the Hessian is A^T A, whatever x. By hand, for A = [[1,2],[0,-1],[3,1]]:
 *   A^T A = [[1+0+9, 2+0+3], [2+0+3, 4+1+1]] = [[10,5],[5,6]]
 *   at x = (0.7, -1.1): A^T A x = (7 - 5.5, 3.5 - 6.6) = (1.5, -3.1) */
START_TEST(hessian_of_half_squared_norm_of_a_x_is_a_transpose_a)
{
    const double A[6] = {1, 2, 0, -1, 3, 1}, xs[2] = {0.7, -1.1};
    const double want_h[4] = {10, 5, 5, 6}, want_g[2] = {1.5, -3.1};
    ag_tensor *t = kept_tensor_from(1, (int[]){2}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *ax = ag_matmul(ag_constant(g, 2, (int[]){3, 2}, A), x);
    ag_node *loss = ag_mul(ag_sum(ag_mul(ax, ax)), ag_scalar(g, 0.5)), *grad;
    ck_assert_msg(ag_grad(g, loss, 1, &x, &grad, true), "%s", ag_graph_error(g));
    for (int i = 0; i < 2; i++) ck_assert_double_eq_tol(ag_node_value(grad)[i], want_g[i], 1e-14);
    ag_tensor *H = ag_hessian(g, loss, x), *Hf = ag_hessian_fwd(g, loss, x);
    ck_assert_msg(H && Hf, "%s", ag_graph_error(g));
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(ag_tensor_data(H)[i], want_h[i], 1e-14);
        ck_assert_double_eq_tol(ag_tensor_data(Hf)[i], want_h[i], 1e-14);
    }
    ag_tensor_free(H);
    ag_tensor_free(Hf);
    ag_graph_free(g);
}
END_TEST

/* ---- reductions, closed forms ------------------------------------------------
 * Hessians of reductions and losses, derived by hand in each test's comment,
 * by both nestings (ag_hessian: reverse over reverse; ag_hessian_fwd:
 * forward over reverse) of the ops' recorded gradients. */


/* f(x) = sum_j logsumexp_a x[a, j] over the columns of x [3,2] (axis 0).
 * d f / d x[a, j] = p[a, j] = exp(x[a, j]) / sum_b exp(x[b, j]) (the
 * column's softmax), and d p[a, j] / d x[b, k] = [j == k] (p[a, j] [a == b]
 * - p[a, j] p[b, j]): per column diag(p) - p p^T, and 0 across columns. */
START_TEST(hessian_of_logsumexp_is_diag_p_minus_p_p_transpose_per_slice)
{
    const double xs[6] = {0.3, -1.0, 1.7, 0.2, -0.4, 2.5}; /* x[a, j] = xs[2a + j] */
    ag_tensor *t = kept_tensor_from(2, (int[]){3, 2}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = ag_sum(ag_logsumexp_axis(x, 0));
    double p[6], want[36];
    for (int j = 0; j < 2; j++) {
        double s = 0.0;
        for (int a = 0; a < 3; a++) s += exp(xs[2 * a + j]);
        for (int a = 0; a < 3; a++) p[2 * a + j] = exp(xs[2 * a + j]) / s;
    }
    for (int u = 0; u < 6; u++)
        for (int v = 0; v < 6; v++) { /* u = (a, j), v = (b, k) */
            bool same_column = u % 2 == v % 2;
            want[u * 6 + v] = same_column ? (u == v ? p[u] : 0.0) - p[u] * p[v] : 0.0;
        }
    assert_hessians(g, f, x, want, 6, 1e-15);
    ag_graph_free(g);
}
END_TEST

/* J = mse(a, b) = (1/n) sum_i (a_i - b_i)^2 for n = 4: dJ/da = 2 (a - b) / n,
 * so d2J/da2 = 2/n I, d2J/db2 = 2/n I and d2J/da db = -2/n I; the mixed
 * block from the recorded gradient in a differentiated in b: d/db <dJ/da,
 * v> = -2/n v. */
START_TEST(hessian_of_mse_is_two_over_n_times_identity)
{
    const double as[4] = {0.5, -1.0, 2.0, 0.25}, bs[4] = {1.5, 0.0, -0.5, 0.25}, vs[4] = {1, -2, 0.5, 3};
    ag_tensor *ta = kept_tensor_from(2, (int[]){2, 2}, as, true), *tb = kept_tensor_from(2, (int[]){2, 2}, bs, true);
    ag_graph *g = ag_graph_new();
    ag_node *a = ag_param(g, ta), *b = ag_param(g, tb), *J = ag_mse(a, b);
    double want[16];
    for (int i = 0; i < 16; i++) want[i] = i / 4 == i % 4 ? 2.0 / 4.0 : 0.0;
    assert_hessians(g, J, a, want, 4, 1e-15);
    assert_hessians(g, J, b, want, 4, 1e-15);
    ag_node *grads[2], *mixed, *v = ag_constant(g, 2, (int[]){2, 2}, vs);
    ck_assert(ag_grad(g, J, 2, (ag_node *[]){a, b}, grads, true));
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(ag_node_value(grads[0])[i], 2.0 * (as[i] - bs[i]) / 4.0, 1e-15);
        ck_assert_double_eq_tol(ag_node_value(grads[1])[i], -2.0 * (as[i] - bs[i]) / 4.0, 1e-15);
    }
    ck_assert(ag_grad(g, ag_sum(ag_mul(grads[0], v)), 1, &b, &mixed, true));
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(ag_node_value(mixed)[i], -2.0 / 4.0 * vs[i], 1e-15);
    ag_graph_free(g);
}
END_TEST

/* J = (1/N) sum_n -log p[n, y_n] for logits z [N,C] = [3,4]: dJ/dz[n, c] =
 * (p[n, c] - [c == y_n]) / N and d2J/dz[n, c] dz[m, d] = [n == m] (p[n, c]
 * [c == d] - p[n, c] p[n, d]) / N: block diagonal, whatever the labels. */
START_TEST(hessian_of_batched_cross_entropy_is_block_diagonal)
{
    enum { N = 3, C = 4 };
    const double zs[N * C] = {0.3, -1.2, 2.0, 0.1, 1.0, 1.0, -0.5, 0.0, -2.0, 0.7, 0.4, 1.9};
    ag_tensor *t = kept_tensor_from(2, (int[]){N, C}, zs, true);
    ag_tensor *labels = kept_tensor_from(1, (int[]){N}, (double[]){2, 0, 3}, false);
    ag_graph *g = ag_graph_new();
    ag_node *z = ag_param(g, t), *J = ag_softmax_xent(z, ag_input(g, labels));
    double p[N * C], want[N * C * N * C];
    for (int n = 0; n < N; n++) {
        double s = 0.0;
        for (int c = 0; c < C; c++) s += exp(zs[n * C + c]);
        for (int c = 0; c < C; c++) p[n * C + c] = exp(zs[n * C + c]) / s;
    }
    for (int u = 0; u < N * C; u++)
        for (int v = 0; v < N * C; v++) { /* u = (n, c), v = (m, d) */
            bool same_row = u / C == v / C;
            want[u * N * C + v] = same_row ? ((u == v ? p[u] : 0.0) - p[u] * p[v]) / N : 0.0;
        }
    assert_hessians(g, J, z, want, N * C, 1e-15);
    ag_graph_free(g);
}
END_TEST

/* y_r = prod_a x[r, a] along axis 1 of x [2,3]: d2y_r / dx[r, a] dx[r, b] =
 * prod_{c != a, b} x[r, c] for a != b, 0 for a == b (y is linear in each
 * element). At row 0 = [0, 0, 2] (two zeros) that is 2 for (0, 1) and 0
 * elsewhere, which y / x_a forms (0 / 0) cannot give; row 1 = [0, 3, 2]
 * gives (0,1) = 2, (0,2) = 3, (1,2) = 0. Different rows: 0. */
START_TEST(hessian_of_prod_is_exact_at_zeros)
{
    const double xs[6] = {0, 0, 2, 0, 3, 2};
    ag_tensor *t = kept_tensor_from(2, (int[]){2, 3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = ag_sum(ag_prod_axis(x, 1));
    double want[36] = {0};
    for (int r = 0; r < 2; r++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                if (a != b) want[(3 * r + a) * 6 + 3 * r + b] = xs[3 * r + 3 - a - b]; /* c: the third */
    ck_assert_double_eq(want[0 * 6 + 1], 2.0); /* the table above, row 0 */
    ck_assert_double_eq(want[3 * 6 + 5], 3.0); /* row 1, (0, 2) */
    assert_hessians(g, f, x, want, 6, 0.0);
    ag_graph_free(g);
}
END_TEST

/* torch.amax's backward shares the gradient evenly over ties and gives a
 * slice holding a NaN NaN everywhere (gy / 0 * 0): for max_axis along 1 of
 * [[2, 2, -1], [1, NaN, 3]], d sum / dx = [[1/2, 1/2, 0], [NaN, NaN, NaN]];
 * the recorded gradient says the same, and (the mask piecewise constant)
 * the gradient of <gradient, v> is 0 on the finite row. */
START_TEST(recorded_max_shares_ties_and_spreads_nan_as_torch_amax)
{
    const double xs[6] = {2, 2, -1, 1, NAN, 3}, vs[6] = {1, 2, 3, 4, 5, 6};
    ag_tensor *t = kept_tensor_from(2, (int[]){2, 3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = ag_sum(ag_max_axis(x, 1)), *grad, *second;
    ck_assert(ag_grad(g, f, 1, &x, &grad, true));
    const double *gv = ag_node_value(grad);
    ck_assert_double_eq(gv[0], 0.5);
    ck_assert_double_eq(gv[1], 0.5);
    ck_assert_double_eq(gv[2], 0.0);
    for (int i = 3; i < 6; i++) ck_assert_msg(isnan(gv[i]), "element %d: %g, not NaN", i, gv[i]);
    ag_node *v = ag_constant(g, 2, (int[]){2, 3}, vs);
    ck_assert(ag_grad(g, ag_sum(ag_mul(grad, v)), 1, &x, &second, true));
    for (int i = 0; i < 3; i++) ck_assert_double_eq(ag_node_value(second)[i], 0.0);
    ag_graph_free(g);
}
END_TEST

/* ---- indexing, second order: Hessians worked by hand ------------------------
 * Both nestings (assert_hessians) against the hand-worked Hessian, and the
 * recorded gradient against the hand-worked gradient. */

/* g = gather(x, 0, idx) with idx = [0, 2, 0]: g = [x0, x2, x0], so
 *   L = sum(g * g) = 2 x0^2 + x2^2,  dL/dx = [4 x0, 0, 2 x2],  H = diag(4, 0, 2)
 * (the repeated index counts twice). The recorded gradient reads the index
 * node itself: replayed with idx = [1, 1, 2], L = 2 x1^2 + x2^2 and
 * dL/dx = [0, 4 x1, 2 x2]. */
START_TEST(gather_counts_a_repeated_index_twice_in_the_hessian)
{
    const double xs[3] = {0.7, -1.1, 2.5};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_tensor *idx = kept_tensor_from(1, (int[]){3}, (double[]){0, 2, 0}, false);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *picked = ag_gather(x, 0, ag_input(g, idx));
    ag_node *loss = ag_sum(ag_mul(picked, picked)), *grad;
    ck_assert_msg(ag_grad(g, loss, 1, &x, &grad, true), "%s", ag_graph_error(g));
    const double want_grad[3] = {4 * xs[0], 0.0, 2 * xs[2]};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_node_value(grad)[i], want_grad[i], 1e-15);
    assert_hessians(g, loss, x, (double[]){4, 0, 0, 0, 0, 0, 0, 0, 2}, 3, 1e-12);

    memcpy(ag_tensor_data(idx), (double[]){1, 1, 2}, sizeof xs);
    ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    const double replayed[3] = {0.0, 4 * xs[1], 2 * xs[2]};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_node_value(grad)[i], replayed[i], 1e-15);
    ag_graph_free(g);
}
END_TEST

/* x [4]; s = x[-1::-2] (slice, step -2) = [x3, x1]; y = concat(x, s) =
 * [x0, x1, x2, x3, x3, x1]; b = index_select(y, 0, [5, 4, 3, 2, 1, 0]) =
 * [x1, x3, x3, x2, x1, x0] (y reversed). Then
 *   L = sum(y * b) = x0 x1 + x1 x3 + x2 x3 + x3 x2 + x3 x1 + x1 x0
 *     = 2 x0 x1 + 2 x1 x3 + 2 x2 x3
 *   dL/dx = [2 x1, 2 x0 + 2 x3, 2 x3, 2 x1 + 2 x2]
 *   H = [[0 2 0 0], [2 0 0 2], [0 0 0 2], [0 2 2 0]] */
START_TEST(slice_concat_and_index_select_pair_elements_off_the_diagonal)
{
    const double xs[4] = {0.5, -1.5, 2.0, 3.0};
    ag_tensor *t = kept_tensor_from(1, (int[]){4}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *s = ag_slice(x, 0, -1, INT_MIN, -2);
    ag_node *y = ag_concat(2, (ag_node *[]){x, s}, 0);
    ag_node *reversed = ag_constant(g, 1, (int[]){6}, (double[]){5, 4, 3, 2, 1, 0});
    ag_node *loss = ag_sum(ag_mul(y, ag_index_select(y, 0, reversed))), *grad;
    ck_assert_msg(ag_grad(g, loss, 1, &x, &grad, true), "%s", ag_graph_error(g));
    const double want_grad[4] = {2 * xs[1], 2 * xs[0] + 2 * xs[3], 2 * xs[3], 2 * xs[1] + 2 * xs[2]};
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(ag_node_value(grad)[i], want_grad[i], 1e-15);
    assert_hessians(g, loss, x, (double[]){0, 2, 0, 0, 2, 0, 0, 2, 0, 0, 0, 2, 0, 2, 2, 0}, 4, 1e-12);
    ag_graph_free(g);
}
END_TEST

/* x [1, 3]; v = reshape(transpose(x), [3]) = [x0, x1, x2];
 * src = gather(v, 0, [2, 0, 2]) * v = [x2 x0, x0 x1, x2^2];
 * y = scatter_add(v, 0, [1, 1, 0], src) = [x0 + x2^2, x1 + x0 x2 + x0 x1, x2];
 * r = reshape(permute(stack([y, y * y], 1), [1, 0]), [6]) = [y0, y1, y2, y0^2, y1^2, y2^2];
 *   L = r[1] + r[5] = y1 + y2^2 = x1 + x0 x2 + x0 x1 + x2^2
 *   dL/dx = [x1 + x2, 1 + x0, x0 + 2 x2],  H = [[0 1 1], [1 0 0], [1 0 2]] */
START_TEST(scatter_add_stack_and_index_give_the_hessian_by_hand)
{
    const double xs[3] = {0.5, -1.5, 2.0};
    ag_tensor *t = kept_tensor_from(2, (int[]){1, 3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *v = ag_reshape(ag_transpose(x), 1, (int[]){3});
    ag_node *src = ag_mul(ag_gather(v, 0, ag_constant(g, 1, (int[]){3}, (double[]){2, 0, 2})), v);
    ag_node *y = ag_scatter_add(v, 0, ag_constant(g, 1, (int[]){3}, (double[]){1, 1, 0}), src);
    ag_node *stacked = ag_stack(2, (ag_node *[]){y, ag_mul(y, y)}, 1);
    ag_node *r = ag_reshape(ag_permute(stacked, (int[]){1, 0}), 1, (int[]){6});
    ag_node *loss = ag_add(ag_index(r, 1), ag_index(r, 5)), *grad;
    ck_assert_msg(ag_grad(g, loss, 1, &x, &grad, true), "%s", ag_graph_error(g));
    const double want_grad[3] = {xs[1] + xs[2], 1 + xs[0], xs[0] + 2 * xs[2]};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_node_value(grad)[i], want_grad[i], 1e-15);
    assert_hessians(g, loss, x, (double[]){0, 1, 1, 1, 0, 0, 1, 0, 2}, 3, 1e-12);
    ag_graph_free(g);
}
END_TEST

/* f = sum(relu(x) * x) = sum of x_i^2 over x_i > 0: H = diag(2 [x_i > 0]).
 * relu's recorded derivative is a mask (a comparison, which has no
 * tangent): forward over reverse and forward over forward go through it. */
START_TEST(forward_nestings_go_through_a_mask)
{
    const double xs[3] = {-1.5, 0.5, 2.0}, vs[3] = {1.0, 2.0, -3.0};
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, xs, true);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_param(g, t), *f = ag_sum(ag_mul(ag_relu(x), x));
    ag_node *v = ag_constant(g, 1, (int[]){3}, vs), *grad, *hv, *tf, *ttf;
    ck_assert(ag_grad(g, f, 1, &x, &grad, true));
    ck_assert_msg(ag_jvp_nodes(g, 1, &x, &v, 1, &grad, &hv), "%s", ag_graph_error(g));
    ck_assert(ag_jvp_nodes(g, 1, &x, &v, 1, &f, &tf));
    ck_assert_msg(ag_jvp_nodes(g, 1, &x, &v, 1, &tf, &ttf), "%s", ag_graph_error(g));
    double vHv = 0.0;
    for (int i = 0; i < 3; i++) {
        double h = xs[i] > 0 ? 2.0 : 0.0;
        ck_assert_double_eq_tol(ag_node_value(hv)[i], h * vs[i], 1e-15);
        vHv += vs[i] * h * vs[i];
    }
    ck_assert_double_eq_tol(ag_node_value(ttf)[0], vHv, 1e-14); /* v^T H v */
    ag_graph_free(g);
}
END_TEST

/* Edges the review found: a NULL root is an error (the kept gradient is not
 * consulted first); a gradient that is an older node (d(x y)/dx = y, y
 * recorded first) has a zero Hessian in x; a comparison as root has a zero
 * gradient; a seed listed twice keeps its first tangent in both forward
 * modes. */
START_TEST(second_order_edges)
{
    ag_tensor *ty = kept_tensor_from(0, NULL, (double[]){3.0}, true);
    ag_tensor *tx = kept_tensor_from(0, NULL, (double[]){2.0}, true);
    ag_graph *g = ag_graph_new();
    double v = 1.0, hv;
    ck_assert(!ag_hvp(g, NULL, NULL, &v, &hv));
    ck_assert_graph_error(g, "ag_hvp: root is NULL");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_hessian(g, NULL, NULL));
    ck_assert_graph_error(g, "ag_hessian: root is NULL");
    ag_graph_reset(g);
    ag_node *y = ag_param(g, ty), *x = ag_param(g, tx), *r = ag_mul(x, y);
    ag_tensor *H = ag_hessian(g, r, x), *Hf = ag_hessian_fwd(g, r, x);
    ck_assert_msg(H && Hf, "%s", ag_graph_error(g));
    ck_assert_double_eq(ag_tensor_data(H)[0], 0.0);
    ck_assert_double_eq(ag_tensor_data(Hf)[0], 0.0);
    ag_tensor_free(H);
    ag_tensor_free(Hf);
    ag_node *gr;
    ck_assert_msg(ag_grad(g, ag_gt(x, y), 1, &x, &gr, true), "%s", ag_graph_error(g));
    ck_assert_double_eq(ag_node_value(gr)[0], 0.0);
    ag_node *two[2] = {x, x}, *t1 = ag_scalar(g, 1.0), *t2 = ag_scalar(g, 10.0), *tr;
    ck_assert(ag_jvp_nodes(g, 2, two, (ag_node *[]){t1, t2}, 1, &r, &tr));
    ck_assert(ag_jvp(g, 2, two, (const double *const[]){ag_node_value(t1), ag_node_value(t2)}));
    ck_assert_double_eq(ag_node_value(tr)[0], 3.0); /* y * 1 */
    ck_assert_double_eq(ag_node_tangent(r)[0], 3.0);
    ag_graph_free(g);
}
END_TEST

/* With respect to an intermediate node h, nothing below h is recorded:
 * f = sum(h), h = tanh(tanh(x)), so df/dh = ones, the sum's share alone
 * (tanh's derivatives, three nodes each, would be wasted). */
START_TEST(grad_records_nothing_below_the_wrt)
{
    ag_tensor *t = kept_tensor_from(1, (int[]){3}, (double[]){0.1, 0.2, 0.3}, true);
    ag_graph *g = ag_graph_new();
    ag_node *h = ag_tanh(ag_tanh(ag_param(g, t))), *f = ag_sum(h), *gr;
    size_t before = ag_graph_size(g);
    ck_assert(ag_grad(g, f, 1, &h, &gr, true));
    ck_assert_uint_le(ag_graph_size(g) - before, 2); /* the seed and its expand */
    for (int i = 0; i < 3; i++) ck_assert_double_eq(ag_node_value(gr)[i], 1.0);
    ag_graph_free(g);
}
END_TEST

Suite *higher_order_suite(void)
{
    Suite *s = suite_create("higher_order");
    TCase *ops = tcase_create("every op, recorded");
    tcase_set_timeout(ops, 120);
    tcase_add_loop_test(ops, recorded_vjp_and_jvp_match_the_fast_ones, 0, (int)registry_size());
    tcase_add_loop_test(ops, second_derivatives_match_central_differences, 0, (int)registry_size());
    suite_add_tcase(s, ops);
    TCase *forms = tcase_create("closed forms");
    tcase_add_checked_fixture(forms, NULL, free_kept_tensors);
    tcase_add_test(forms, third_derivative_matches_its_closed_form);
    tcase_add_test(forms, all_four_nestings_give_the_hessian_vector_product);
    tcase_add_test(forms, hessian_of_cross_entropy_is_diag_p_minus_p_p_transpose);
    tcase_add_test(forms, grad_without_create_graph_is_constant_and_leaves_gradients_alone);
    tcase_add_test(forms, grad_errors_name_the_argument);
    tcase_add_test(forms, a_recorded_gradient_replays_on_new_values);
    tcase_add_test(forms, repeated_hvps_record_the_gradient_once);
    tcase_add_test(forms, forward_nestings_go_through_a_mask);
    tcase_add_test(forms, second_order_edges);
    tcase_add_test(forms, grad_records_nothing_below_the_wrt);
    tcase_add_test(forms, hessian_of_half_squared_norm_of_a_x_is_a_transpose_a);
    suite_add_tcase(s, forms);
    TCase *matmul = tcase_create("matmul forms, recorded");
    tcase_add_loop_test(matmul, matmul_form_recorded_vjp_and_jvp_match_the_fast_ones, 0, MATMUL_FORMS);
    tcase_add_loop_test(matmul, matmul_form_second_derivatives_match_central_differences, 0, MATMUL_FORMS);
    tcase_add_loop_test(matmul, linear_bias_recorded_vjp_and_jvp_match_the_fast_ones, 0, 7);
    suite_add_tcase(s, matmul);
    TCase *reductions = tcase_create("reductions, closed forms");
    tcase_add_checked_fixture(reductions, NULL, free_kept_tensors);
    tcase_add_test(reductions, hessian_of_logsumexp_is_diag_p_minus_p_p_transpose_per_slice);
    tcase_add_test(reductions, hessian_of_mse_is_two_over_n_times_identity);
    tcase_add_test(reductions, hessian_of_batched_cross_entropy_is_block_diagonal);
    tcase_add_test(reductions, hessian_of_prod_is_exact_at_zeros);
    tcase_add_test(reductions, recorded_max_shares_ties_and_spreads_nan_as_torch_amax);
    suite_add_tcase(s, reductions);
    TCase *indexing = tcase_create("indexing, second order");
    tcase_add_checked_fixture(indexing, NULL, free_kept_tensors);
    tcase_add_test(indexing, gather_counts_a_repeated_index_twice_in_the_hessian);
    tcase_add_test(indexing, slice_concat_and_index_select_pair_elements_off_the_diagonal);
    tcase_add_test(indexing, scatter_add_stack_and_index_give_the_hessian_by_hand);
    suite_add_tcase(s, indexing);
    return s;
}
