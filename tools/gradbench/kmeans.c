/* kmeans.c -- GradBench's kmeans eval (evals/kmeans/README.md): the k-means
 * cost of n points P [n, d] and k centroids C [k, d],
 *   f(P, C) = sum_i min_j |C_j - P_i|^2,
 * ("cost"), and Newton's step for C, J / diag(H) ("dir"): J = df/dC [k, d]
 * and H the Hessian of f in C, which is diagonal (each point's term
 * depends on one centroid, its nearest, and is a sum of squares in it).
 *
 * The squared distances are written with one matrix product,
 *   D_ij = |C_j - P_i|^2 = |P_i|^2 + |C_j|^2 - 2 P_i . C_j
 *        = |P_i|^2 + [P_i, 1] . [-2 C_j, |C_j|^2],
 * so the [n, k] distances cost one n k (d + 1) product instead of an
 * [n, k, d] difference tensor (1.3 GB at the eval's largest, n = 10000,
 * k = 1000, d = 16), as PyTorch's tool does. The column of ones carries
 * |C_j|^2 into the product, so its gradient, sum_i dD_ij, is part of the
 * product's (a matrix product) rather than a sum down the columns of
 * [n, k]; |P_i|^2 is the same for every j and comes out of the min. The
 * expansion cancels: its terms are as large as |P_i|^2 while D_ij may be
 * small, so P and C are first moved by the points' mean m (a translation
 * changes no distance, and d(C - m)/dC = I); the rounding is then relative
 * to the data's spread, not to its distance from the origin (data 1e5 away
 * from the origin with unit spread had the cost off by 1e-4 before).
 * At an exact tie, the min's gradient is shared evenly by the tied
 * centroids (agrad's rule for min, as torch.amin's); the manual tool gives
 * it to the first.
 *
 * Both derivatives come from agrad: J is the gradient recorded as nodes
 * (ag_grad with create_graph), and diag(H) is H 1, the forward-mode
 * derivative of J along the all-ones direction (ag_jvp_nodes): since H is
 * diagonal, H 1 is its diagonal exactly. With J = 2 (count_j C_j - sum of
 * C_j's points) and diag(H) = 2 count_j, the step J / diag(H) is C_j minus
 * the mean of its points (the manual tool's formula, which the eval
 * checks against). Everything is recorded, so a replay recomputes the
 * step. */
#include "gradbench.h"

#include <stdlib.h>

enum { KMEANS_COST = 0, KMEANS_DIR = 1 };

typedef struct kmeans_data {
    int n, k, d;
    ag_tensor *points;   /* P: [n, d] */
    ag_tensor *ones;     /* the direction 1: [k, d] */
    ag_tensor *ones_n;   /* the column of ones beside P: [n, 1] */
    bool dir;
} kmeans_data;

static void free_data(void *data)
{
    kmeans_data *kd = data;
    if (!kd)
        return;
    ag_tensor_free(kd->points);
    ag_tensor_free(kd->ones);
    ag_tensor_free(kd->ones_n);
    free(kd);
}

/* |x_r|^2 for each row r of x [r, d] -> [r] */
static ag_node *row_norms_squared(ag_node *x) { return ag_sum_axis(ag_mul(x, x), 1); }

/* f(P, C) = sum_i min_j D_ij = sum_i |P_i|^2 + sum_i min_j M_ij,
 * M_ij = [P_i, 1] . [-2 C_j, |C_j|^2]  (|P_i|^2 does not depend on j) */
static ag_node *kmeans_cost(ag_graph *g, ag_node *P, ag_node *C, ag_node *ones_n)
{
    ag_node *cc = ag_reshape(row_norms_squared(C), 2, (int[]){ag_node_dim(C, 0), 1}); /* [k, 1] */
    ag_node *P1 = ag_concat(2, (ag_node *[]){P, ones_n}, 1);                            /* [n, d + 1] */
    ag_node *C1 = ag_concat(2, (ag_node *[]){ag_mul(ag_scalar(g, -2.0), C), cc}, 1);    /* [k, d + 1] */
    ag_node *M = ag_matmul(P1, ag_transpose(C1));                                       /* [n, k] */
    ag_node *nearest = ag_min_axis(M, 1);                                               /* [n] */
    return ag_add(ag_sum(ag_mul(P, P)), ag_sum(nearest));
}

/* J / diag(H), with diag(H) = H 1 (exact: H is diagonal) */
static ag_node *newton_direction(ag_graph *g, ag_node *cost, ag_node *C, ag_node *ones)
{
    ag_node *J = NULL, *H1 = NULL;
    if (!ag_grad(g, cost, 1, &C, &J, true))  /* J: [k, d], recorded */
        return NULL;
    if (!ag_jvp_nodes(g, 1, &C, &ones, 1, &J, &H1)) /* d J along C + t 1 */
        return NULL;
    return ag_div(J, H1);
}

static bool build_kmeans(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    kmeans_data *kd = o->data;
    ag_node *P = ag_input(g, kd->points), *C = ag_param(g, o->params[0]);
    ag_node *mean = ag_mean_axis(P, 0); /* [d] */
    o->root = kmeans_cost(g, ag_sub(P, mean), ag_sub(C, mean), ag_input(g, kd->ones_n));
    if (kd->dir)
        o->value_node = newton_direction(g, o->root, C, ag_input(g, kd->ones));
    return o->root && (!kd->dir || o->value_node);
}

/* dir answers a [k, d] matrix; cost the number (the default) */
static json_t *output_dir(const gb_objective *o)
{
    const kmeans_data *kd = o->data;
    return gb_json_matrix(ag_node_value(o->value_node), (size_t)kd->k, (size_t)kd->d);
}

static bool read_input(const json_t *input, double **points, double **centroids, size_t sizes[4], gb_error *err)
{
    size_t *n = &sizes[0], *d = &sizes[1], *k = &sizes[2], *dc = &sizes[3];
    *points = *centroids = NULL;
    if (!gb_get_matrix(input, "points", points, n, d, err) ||
        !gb_get_matrix(input, "centroids", centroids, k, dc, err))
        return false;
    if (*n == 0 || *d == 0 || *k == 0 || *dc != *d)
        return gb_fail(err, "kmeans: \"points\" is %zu x %zu and \"centroids\" %zu x %zu (need n, k, d >= 1, "
                            "one d for both)", *n, *d, *k, *dc);
    if (*n > (1u << 24) || *k > (1u << 24) || *d > (1u << 16) || *n * *k > ((size_t)1 << 31) ||
        *n * *d > ((size_t)1 << 31))
        return gb_fail(err, "kmeans: sizes n = %zu, k = %zu, d = %zu too large (n k, n d <= 2^31)", *n, *k, *d);
    return true;
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *points, *centroids;
    size_t sizes[4];
    bool ok = read_input(input, &points, &centroids, sizes, err);
    int n = (int)sizes[0], d = (int)sizes[1], k = (int)sizes[2];
    gb_objective *o = ok ? gb_objective_with_data(sizeof(kmeans_data), free_data, err) : NULL;
    kmeans_data *kd = o ? o->data : NULL;
    if (kd) {
        *kd = (kmeans_data){n, k, d, NULL, NULL, NULL, variant == KMEANS_DIR};
        kd->points = gb_tensor(2, (int[]){n, d}, points, err);
        kd->ones = ag_tensor_ones(2, (int[]){k, d});
        kd->ones_n = ag_tensor_ones(2, (int[]){n, 1});
        ok = kd->points && ((kd->ones && kd->ones_n) || gb_fail(err, "kmeans: %s", ag_last_error())) &&
             gb_objective_param(o, 2, (int[]){k, d}, centroids, err);
    }
    free(points);
    free(centroids);
    if (!ok || !kd) {
        gb_objective_free(o);
        return false; /* err is set */
    }
    o->build = build_kmeans;
    o->output = kd->dir ? output_dir : NULL;
    o->derivatives_recorded = kd->dir;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"cost", prepare, KMEANS_COST}, {"dir", prepare, KMEANS_DIR}};
const gb_eval gb_eval_kmeans = {"kmeans", functions, 2};
