/* recipes_norm.c -- test recipes for layer_norm and batch_norm (see
 * recipes.c for the rules a recipe follows) and their NaN/Inf cases. */
#include <math.h>
#include <string.h>

#include "helpers.h"

/* ---- recipes ------------------------------------------------------------------- */

/* eps small (PyTorch's default 1e-5) or large: the values below are spread
 * (deviation ~1), so var + eps stays well above 0 either way */
static double random_eps(test_rng *r) { return rng_int(r, 0, 1) ? 1e-5 : 0.5; }

/* gamma or beta [n]: a parameter, or half the time not given (NULL) */
static ag_node *random_affine(ag_graph *g, test_rng *r, op_case *c, int n)
{
    if (rng_int(r, 0, 1)) return NULL;
    return add_param(g, c, random_param(r, 1, (int[]){n}, 0.5, 2.0, true));
}

/* Sets of at least 3 values: with 2, xhat = +-sqrt(var / (var + eps)) and
 * the gradient is inv (1 - xhat^2) (...), which cancels to a relative
 * eps / var of the terms when eps is small; in 50-digit arithmetic both
 * agrad and PyTorch are then off by up to 1e-10 (relative to the largest
 * element), beyond the cross-check's 1e-12. */

/* x of 1 to 4 dims, the last D in 3 .. 5 (D = 1 normalises to 0) */
static bool layer_norm_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 1, 4, 3, dims);
    dims[nd - 1] = rng_int(r, 3, 5);
    ag_node *x = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    ag_node *gamma = random_affine(g, r, c, dims[nd - 1]);
    ag_node *beta = random_affine(g, r, c, dims[nd - 1]);
    c->out = ag_layer_norm(x, gamma, beta, random_eps(r));
    return c->out != NULL;
}

/* a [C] tensor of values in [lo, hi), kept in c->extra (an unused input) */
static ag_tensor *running_tensor(ag_graph *g, test_rng *r, op_case *c, int C, double lo, double hi)
{
    ag_tensor *t = ag_tensor_zeros(1, (int[]){C});
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < C; i++) ag_tensor_data(t)[i] = rng_uniform(r, lo, hi);
    add_extra(g, c, t);
    return c->extra[c->n_extra - 1];
}

/* x [N,C], [N,C,L] or [N,C,H,W]; training with or without running
 * statistics, or eval mode with them; N*P >= 3 */
static bool batch_norm_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    int dims[4], nd = random_dims(r, 2, 4, 3, dims);
    if (dims[0] * (nd > 2 ? dims[2] : 1) * (nd > 3 ? dims[3] : 1) < 3) dims[0] = 3;
    ag_node *x = add_param(g, c, random_param(r, nd, dims, -2.0, 2.0, false));
    ag_node *gamma = random_affine(g, r, c, dims[1]);
    ag_node *beta = random_affine(g, r, c, dims[1]);
    int mode = rng_int(r, 0, 2); /* 0: training untracked, 1: training tracked, 2: eval */
    ag_tensor *mean = NULL, *var = NULL;
    if (mode > 0) {
        mean = running_tensor(g, r, c, dims[1], -1.0, 1.0);
        var = running_tensor(g, r, c, dims[1], 0.5, 2.0);
    }
    c->out = ag_batch_norm(x, gamma, beta, mean, var, rng_uniform(r, 0.0, 1.0), random_eps(r), mode < 2);
    return c->out != NULL;
}

static const recipe_entry recipes[] = {
    {"layer_norm", layer_norm_recipe},
    {"batch_norm", batch_norm_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_norm(const char *name) { return recipe_in(recipes, name); }

/* ---- NaN and +-Inf ---------------------------------------------------------------
 * The reference normalises each set S (a row, a channel) by the definition,
 * mean and variance in two passes, in IEEE arithmetic: a NaN or an Inf in S
 * makes its mean or variance NaN or Inf and so every y, and every gx, of S
 * NaN (as PyTorch's); gbeta = sum gy stays finite. With the running
 * statistics (eval) only the elements that are NaN or Inf themselves are
 * not finite. */

/* x[at[0 .. m)] normalised with (mean, inv) into c->y and c->gx[0] (the
 * reference's gx for the set, batch statistics when `batch`); gamma_of(j)
 * and beta_of(j): the affine parameters of element j of the set */
typedef struct norm_set {
    const size_t *at;
    size_t m;
    const double *gamma; /* per element of the set */
    const double *beta;
    bool batch;
    double mean, inv;
} norm_set;

static void set_statistics(const special_case *c, norm_set *s, double eps)
{
    double sum = 0.0, sq = 0.0;
    for (size_t j = 0; j < s->m; j++) sum += c->v[0][s->at[j]];
    s->mean = sum / (double)s->m;
    for (size_t j = 0; j < s->m; j++) sq += (c->v[0][s->at[j]] - s->mean) * (c->v[0][s->at[j]] - s->mean);
    s->inv = 1.0 / sqrt(sq / (double)s->m + eps);
}

/* y = gamma xhat + beta; gx = gamma inv gy - (inv / m) (sum gamma gy + xhat sum gamma gy xhat)
 * with the batch statistics (the two mean terms of the closed form), gamma inv gy without */
static void set_reference(special_case *c, const norm_set *s)
{
    double sum_g = 0.0, sum_gxhat = 0.0;
    for (size_t j = 0; j < s->m; j++) {
        double xhat = (c->v[0][s->at[j]] - s->mean) * s->inv, g = s->gamma[j] * c->gy[s->at[j]];
        c->y[s->at[j]] = s->gamma[j] * xhat + s->beta[j];
        sum_g += g;
        sum_gxhat += g * xhat;
    }
    for (size_t j = 0; j < s->m; j++) {
        double xhat = (c->v[0][s->at[j]] - s->mean) * s->inv, g = s->gamma[j] * c->gy[s->at[j]];
        c->gx[0][s->at[j]] = s->batch ? s->inv * g - s->inv / (double)s->m * (sum_g + xhat * sum_gxhat)
                                      : s->inv * g;
    }
}

/* x [R, D] with specials, gamma and beta [D] ordinary */
static void layer_norm_special(int R, int D, unsigned period)
{
    special_case c;
    special_begin(&c, "layer_norm");
    double gamma[8], beta[8];
    for (int j = 0; j < D; j++) gamma[j] = 0.5 + 0.25 * j, beta[j] = 1.0 - 0.5 * j;
    ag_node *x = special_operand(&c, 2, (int[]){R, D}, 3, period);
    ag_node *gn = special_operand_of(&c, 1, (int[]){D}, gamma);
    ag_node *bn = special_operand_of(&c, 1, (int[]){D}, beta);
    special_recorded(&c, ag_layer_norm(x, gn, bn, 0.5));
    size_t at[8];
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < D; j++) at[j] = (size_t)(r * D + j);
        norm_set s = {at, (size_t)D, gamma, beta, true, 0, 0};
        set_statistics(&c, &s, 0.5);
        set_reference(&c, &s);
        for (int j = 0; j < D; j++) {
            double xhat = (c.v[0][at[j]] - s.mean) * s.inv;
            c.gx[1][j] += c.gy[at[j]] * xhat;
            c.gx[2][j] += c.gy[at[j]];
        }
    }
    special_check(&c);
}

/* x [N, C, P] with specials, gamma and beta [C] ordinary; training, or eval
 * with running statistics (mean 0.25 c, var 1 + c) */
static void batch_norm_special(int N, int C, int P, bool training, unsigned period)
{
    special_case c;
    special_begin(&c, "batch_norm");
    double gamma[8], beta[8], rm[8], rv[8];
    for (int k = 0; k < C; k++) gamma[k] = 1.5 - 0.25 * k, beta[k] = 0.5 * k, rm[k] = 0.25 * k, rv[k] = 1.0 + k;
    ag_tensor *mean = training ? NULL : ag_tensor_from(1, (int[]){C}, rm);
    ag_tensor *var = training ? NULL : ag_tensor_from(1, (int[]){C}, rv);
    ag_node *x = special_operand(&c, 3, (int[]){N, C, P}, 5, period);
    ag_node *gn = special_operand_of(&c, 1, (int[]){C}, gamma);
    ag_node *bn = special_operand_of(&c, 1, (int[]){C}, beta);
    special_recorded(&c, ag_batch_norm(x, gn, bn, mean, var, 0.1, 0.5, training));
    size_t at[64];
    double gammas[64], betas[64];
    size_t m = (size_t)(N * P);
    ck_assert_uint_le(m, 64);
    for (int k = 0; k < C; k++) {
        for (int n = 0; n < N; n++)
            for (int i = 0; i < P; i++) at[n * P + i] = (size_t)((n * C + k) * P + i);
        for (size_t j = 0; j < m; j++) gammas[j] = gamma[k], betas[j] = beta[k];
        norm_set s = {at, m, gammas, betas, training, rm[k], 1.0 / sqrt(rv[k] + 0.5)};
        if (training) set_statistics(&c, &s, 0.5);
        set_reference(&c, &s);
        for (size_t j = 0; j < m; j++) {
            c.gx[1][k] += c.gy[at[j]] * ((c.v[0][at[j]] - s.mean) * s.inv);
            c.gx[2][k] += c.gy[at[j]];
        }
    }
    special_check(&c);
    ag_tensor_free(mean);
    ag_tensor_free(var);
}

bool ieee_specials_norm(const char *name)
{
    if (strcmp(name, "layer_norm") == 0) {
        layer_norm_special(4, 3, 11);
        layer_norm_special(6, 5, 13);
        layer_norm_special(5, 2, 29); /* rows without specials among them */
        return true;
    }
    if (strcmp(name, "batch_norm") == 0) {
        batch_norm_special(2, 3, 4, true, 23);
        batch_norm_special(3, 4, 1, true, 37);
        batch_norm_special(2, 3, 4, false, 11);
        return true;
    }
    return false;
}
