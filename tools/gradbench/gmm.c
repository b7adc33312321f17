/* gmm.c -- GradBench's gmm eval (evals/gmm/README.md): the log posterior of
 * a Gaussian mixture model with a Wishart prior on its precision matrices,
 * and its gradient with respect to alpha, mu, q and l by agrad's reverse
 * mode. Written vectorised, as the README's "Implementation" reads:
 *
 *   Q_k      lower triangular: diagonal exp(q_k), below it l_k column by
 *            column (l_k1 .. l_k,D-1 fill column 1, and so on);
 *   beta_ik  = alpha_k + sum_j q_kj - 1/2 |Q_k (x_i - mu_k)|^2;
 *   F        = -N (D/2 log 2 pi + logsumexp(alpha)) + sum_i logsumexp_k(beta_ik)
 *              + K (n D log(gamma / sqrt 2) - log Gamma_D(n / 2))
 *              - gamma^2 / 2 sum_k |Q_k|_F^2 + m sum_kj q_kj,   n = D + m + 1,
 *
 * with logsumexp(v) = max v + log sum exp(v - max v) from agrad's primitives
 * (no built-in logsumexp: GradBench asks for it from max, exp, sum and log).
 * The products Q_k (x_i - mu_k) for every i and k are one batched matmul:
 * for each k, the rows x_i - mu_k of an [N, D] matrix times Q_k^T. */
#include "gradbench.h"

#include <math.h>
#include <stdlib.h>

#define GMM_PI 3.14159265358979323846

typedef struct gmm_data {
    int d, k, n, m; /* D, K, N and the Wishart prior's extra degrees of freedom */
    double gamma;
    ag_tensor *x;           /* the points: [N, D] */
    ag_tensor *q_t_indices; /* where each entry of Q_k^T comes from: [D*D], see q_transposed */
    ag_tensor *zero_column; /* [K, 1] */
    double constant;        /* the terms of F that are data: see constant_terms */
} gmm_data;

static void free_data(void *data)
{
    gmm_data *g = data;
    if (!g)
        return;
    ag_tensor_free(g->x);
    ag_tensor_free(g->q_t_indices);
    ag_tensor_free(g->zero_column);
    free(g);
}

/* log Gamma_D(a) = D (D - 1) / 4 log pi + sum_{j=1..D} log Gamma(a + (1 - j) / 2) */
static double log_multivariate_gamma(int d, double a)
{
    double s = 0.25 * d * (d - 1) * log(GMM_PI);
    for (int j = 1; j <= d; j++)
        s += lgamma(a + 0.5 * (1 - j));
    return s;
}

/* -N D/2 log 2 pi + K (n D log(gamma / sqrt 2) - log Gamma_D(n / 2)), n = D + m + 1 */
static double constant_terms(const gmm_data *g)
{
    int wishart_n = g->d + g->m + 1;
    double likelihood = -0.5 * g->n * g->d * log(2.0 * GMM_PI);
    double prior = g->k * (wishart_n * g->d * log(g->gamma / sqrt(2.0)) - log_multivariate_gamma(g->d, 0.5 * wishart_n));
    return likelihood + prior;
}

/* Q_k^T is gathered from the row [0, exp(q_k), l_k] (1 + D + D(D-1)/2
 * entries): Q_k^T[j][i] = Q_k[i][j] is exp(q_kj) on the diagonal, l_k at
 * position (i, j) below it for i > j (column j of Q_k filled in order),
 * and 0 above. Row-major [D, D] positions of Q_k^T -> positions in the row. */
static void fill_q_t_indices(int d, double *indices)
{
    int next_l = 1 + d; /* l_k starts after the 0 and exp(q_k) */
    for (int j = 0; j < d; j++)
        for (int i = 0; i < d; i++) {
            double *at = &indices[j * d + i]; /* Q_k^T[j][i] = Q_k[i][j] */
            if (i == j)
                *at = 1 + j;
            else if (i > j)
                *at = next_l++; /* i runs down column j of Q_k */
            else
                *at = 0;
        }
}

/* Q_k^T for every k: [K, D, D] from q: [K, D] and l: [K, D(D-1)/2] (NULL when D = 1) */
static ag_node *q_transposed(ag_graph *graph, const gmm_data *g, ag_node *q_diagonal, ag_node *l)
{
    ag_node *parts[3] = {ag_input(graph, g->zero_column), q_diagonal, l};
    ag_node *row = ag_concat(l ? 3 : 2, parts, 1); /* [K, 1 + D + D(D-1)/2] */
    ag_node *flat = ag_index_select(row, 1, ag_input(graph, g->q_t_indices)); /* [K, D*D] */
    return ag_reshape(flat, 3, (int[]){g->k, g->d, g->d});
}

/* logsumexp along axis: max + log sum exp(v - max), the axis removed */
static ag_node *logsumexp(ag_node *v, int axis, int ndim, const int *shape_kept)
{
    ag_node *top = ag_max_axis(v, axis);
    ag_node *shifted = ag_sub(v, ag_reshape(top, ndim, shape_kept)); /* top broadcast along axis */
    return ag_add(top, ag_log(ag_sum_axis(ag_exp(shifted), axis)));
}

/* alpha: [K], mu: [K, D], q: [K, D], l: [K, D(D-1)/2] -> F: [] */
static bool build_gmm(gb_objective *o, ag_graph *graph, gb_error *err)
{
    (void)err;
    const gmm_data *g = o->data;
    int d = g->d, k = g->k, n = g->n;
    ag_node *alpha = ag_param(graph, o->params[0]), *mu = ag_param(graph, o->params[1]);
    ag_node *q = ag_param(graph, o->params[2]), *l = o->n_params > 3 ? ag_param(graph, o->params[3]) : NULL;

    ag_node *q_diagonal = ag_exp(q);                              /* [K, D] */
    ag_node *sum_q = ag_sum_axis(q, 1);                           /* [K] */
    ag_node *qt = q_transposed(graph, g, q_diagonal, l);          /* [K, D, D] */
    ag_node *x = ag_reshape(ag_input(graph, g->x), 3, (int[]){1, n, d});
    ag_node *centred = ag_sub(x, ag_reshape(mu, 3, (int[]){k, 1, d})); /* x_i - mu_k: [K, N, D] */
    ag_node *q_centred = ag_matmul(centred, qt);                  /* Q_k (x_i - mu_k): [K, N, D] */
    ag_node *squared_norm = ag_sum_axis(ag_mul(q_centred, q_centred), 2); /* [K, N] */
    ag_node *offset = ag_reshape(ag_add(alpha, sum_q), 2, (int[]){k, 1});
    ag_node *beta = ag_sub(offset, ag_mul(ag_scalar(graph, 0.5), squared_norm)); /* [K, N] */

    /* sum_i logsumexp_k beta_ik - N logsumexp(alpha) */
    ag_node *likelihood = ag_sub(ag_sum(logsumexp(beta, 0, 2, (int[]){1, n})),
                                 ag_mul(ag_scalar(graph, n), logsumexp(alpha, 0, 1, (int[]){1})));

    /* -gamma^2 / 2 sum_k |Q_k|_F^2 + m sum_kj q_kj */
    ag_node *frobenius = ag_sum(ag_mul(q_diagonal, q_diagonal));
    if (l)
        frobenius = ag_add(frobenius, ag_sum(ag_mul(l, l)));
    ag_node *prior = ag_sub(ag_mul(ag_scalar(graph, g->m), ag_sum(sum_q)),
                            ag_mul(ag_scalar(graph, 0.5 * g->gamma * g->gamma), frobenius));

    o->root = ag_add(ag_add(likelihood, prior), ag_scalar(graph, g->constant));
    return o->root != NULL;
}

/* {"alpha": [K], "mu": [K][D], "q": [K][D], "l": [K][D(D-1)/2]}, nested as the input */
static json_t *jacobian_output(const gb_objective *o)
{
    const gmm_data *g = o->data;
    size_t d = (size_t)g->d, k = (size_t)g->k, l_size = d * (d - 1) / 2;
    json_t *l = NULL;
    if (o->n_params > 3) {
        l = gb_json_matrix(ag_tensor_grad(o->params[3]), k, l_size);
    } else { /* D = 1: K empty rows */
        l = json_array();
        for (size_t i = 0; l && i < k; i++)
            json_array_append_new(l, json_array());
    }
    return json_pack("{s:o?,s:o?,s:o?,s:o?}", "alpha", gb_json_vector(ag_tensor_grad(o->params[0]), k), "mu",
                     gb_json_matrix(ag_tensor_grad(o->params[1]), k, d), "q",
                     gb_json_matrix(ag_tensor_grad(o->params[2]), k, d), "l", l);
}

/* The input's numbers: alpha [K], mu, q [K, D], l [K, D(D-1)/2], x [N, D]. */
typedef struct gmm_input {
    double *alpha, *mu, *q, *l, *x;
} gmm_input;

static void free_input(gmm_input *in)
{
    free(in->alpha), free(in->mu), free(in->q), free(in->l), free(in->x);
}

/* A matrix field of rows x cols (cols 0: rows empty arrays). */
static bool get_sized(const json_t *input, const char *field, size_t rows, size_t cols, double **data, gb_error *err)
{
    size_t r, c;
    if (!gb_get_matrix(input, field, data, &r, &c, err))
        return false;
    if (r != rows || c != cols)
        return gb_fail(err, "gmm: \"%s\" is %zu x %zu, expected %zu x %zu (from d, k, n)", field, r, c, rows, cols);
    return true;
}

static bool read_input(const json_t *input, gmm_data *g, gmm_input *in, gb_error *err)
{
    long d, k, n, m;
    if (!gb_get_int(input, "d", &d, err) || !gb_get_int(input, "k", &k, err) || !gb_get_int(input, "n", &n, err) ||
        !gb_get_int(input, "m", &m, err) || !gb_get_double(input, "gamma", &g->gamma, err))
        return false;
    if (d < 1 || k < 1 || n < 1 || m < 0 || d > 4096 || k > 65536 || n > (1L << 24) || d * d * k > (1L << 28) ||
        n * k * d > (1L << 30))
        return gb_fail(err, "gmm: sizes d = %ld, k = %ld, n = %ld, m = %ld (d, k, n >= 1, m >= 0, n k d <= 2^30)", d,
                       k, n, m);
    if (!(g->gamma > 0.0) || !isfinite(g->gamma))
        return gb_fail(err, "gmm: gamma = %g (a positive number)", g->gamma);
    g->d = (int)d, g->k = (int)k, g->n = (int)n, g->m = (int)m;
    size_t alpha_n;
    if (!gb_get_vector(input, "alpha", &in->alpha, &alpha_n, err))
        return false;
    if (alpha_n != (size_t)k)
        return gb_fail(err, "gmm: \"alpha\" has %zu elements, expected k = %ld", alpha_n, k);
    size_t l_size = (size_t)(d * (d - 1) / 2);
    return get_sized(input, "mu", (size_t)k, (size_t)d, &in->mu, err) &&
           get_sized(input, "q", (size_t)k, (size_t)d, &in->q, err) &&
           get_sized(input, "l", (size_t)k, l_size, &in->l, err) &&
           get_sized(input, "x", (size_t)n, (size_t)d, &in->x, err);
}

/* The data tensors and the parameters alpha, mu, q and (D > 1) l. */
static bool fill_objective(gb_objective *o, gmm_data *g, const gmm_input *in, gb_error *err)
{
    int d = g->d, k = g->k, l_size = d * (d - 1) / 2;
    g->x = gb_tensor(2, (int[]){g->n, d}, in->x, err);
    g->q_t_indices = ag_tensor_zeros(1, (int[]){d * d});
    g->zero_column = ag_tensor_zeros(2, (int[]){k, 1});
    if (!g->x || !g->q_t_indices || !g->zero_column)
        return gb_fail(err, "gmm: out of memory");
    fill_q_t_indices(d, ag_tensor_data(g->q_t_indices));
    g->constant = constant_terms(g);
    return gb_objective_param(o, 1, (int[]){k}, in->alpha, err) &&
           gb_objective_param(o, 2, (int[]){k, d}, in->mu, err) &&
           gb_objective_param(o, 2, (int[]){k, d}, in->q, err) &&
           (l_size == 0 || gb_objective_param(o, 2, (int[]){k, l_size}, in->l, err));
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    gb_objective *o = gb_objective_with_data(sizeof(gmm_data), free_data, err);
    if (!o)
        return false;
    gmm_data *g = o->data;
    gmm_input in = {0};
    bool ok = read_input(input, g, &in, err) && fill_objective(o, g, &in, err);
    free_input(&in);
    if (!ok) {
        gb_objective_free(o);
        return false;
    }
    o->build = build_gmm;
    o->gradient = variant == GB_GRADIENT;
    if (o->gradient)
        o->output = jacobian_output;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"objective", prepare, GB_PRIMAL}, {"jacobian", prepare, GB_GRADIENT}};
const gb_eval gb_eval_gmm = {"gmm", functions, 2};
