/* test_nn.c -- networks: optimisers against steps computed by hand,
 * initialiser statistics, the generator, dense layers and MLPs, batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---- optimisers -------------------------------------------------------------- */

/* A parameter [2] = {1, -2} whose gradient we set by hand before each step. */
static ag_tensor *param2(void)
{
    ag_tensor *p = ag_tensor_from(1, (int[]){2}, (double[]){1.0, -2.0});
    ag_tensor_requires_grad(p, true);
    return p;
}

static void set_grad(ag_tensor *p, double g0, double g1)
{
    ag_tensor_grad(p)[0] = g0;
    ag_tensor_grad(p)[1] = g1;
}

START_TEST(sgd_plain_and_weight_decay)
{
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_sgd_config(0.1);
    c.weight_decay = 0.5;
    ag_optimizer *o = ag_optimizer_new(1, &p, &c);
    set_grad(p, 0.5, 1.0);
    ag_optimizer_step(o);
    /* g = grad + 0.5 p = {1.0, 0.0}; p -= 0.1 g */
    ck_assert_close(ag_tensor_data(p)[0], 0.9, 1e-15);
    ck_assert_close(ag_tensor_data(p)[1], -2.0, 1e-15);
    ag_optimizer_free(o);
    ag_tensor_free(p);
}
END_TEST

START_TEST(sgd_momentum_and_nesterov)
{
    /* constant gradient 0.5, lr 0.1, momentum 0.9:
     *   b = 0.5, 0.95, 1.355  -> p = 1 - 0.05 - 0.095 - 0.1355 = 0.7195
     * Nesterov uses g + 0.9 b: 0.95, 1.355, 1.7195 -> p = 1 - 0.40245 = 0.59755 */
    ag_tensor *p = param2(), *q = param2();
    ag_optimizer_config c = ag_sgd_config(0.1);
    c.momentum = 0.9;
    ag_optimizer *o = ag_optimizer_new(1, &p, &c);
    c.nesterov = true;
    ag_optimizer *n = ag_optimizer_new(1, &q, &c);
    for (int s = 0; s < 3; s++) {
        set_grad(p, 0.5, 0.0);
        set_grad(q, 0.5, 0.0);
        ag_optimizer_step(o);
        ag_optimizer_step(n);
    }
    ck_assert_close(ag_tensor_data(p)[0], 0.7195, 1e-14);
    ck_assert_close(ag_tensor_data(q)[0], 0.59755, 1e-14);
    ck_assert_close(ag_tensor_data(q)[1], -2.0, 0);
    ck_assert_int_eq(ag_optimizer_steps(o), 3);
    ag_optimizer_free(o);
    ag_optimizer_free(n);
    ag_tensor_free(p);
    ag_tensor_free(q);
}
END_TEST

START_TEST(adam_two_steps_by_hand)
{
    /* gradients +1 then -1, lr 0.01, betas (0.9, 0.999), eps 1e-8:
     *   step 1: m = 0.1, v = 0.001: m^ = 1, v^ = 1 -> p -= 0.01 / (1 + eps)
     *   step 2: m = -0.01, v = 0.001999: m^ = -0.01/0.19, v^ = 1
     *           -> p += 0.01 (0.01/0.19) / (1 + eps)                         */
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_adam_config(0.01);
    ag_optimizer *o = ag_optimizer_new(1, &p, &c);
    set_grad(p, 1.0, 0.0);
    ag_optimizer_step(o);
    ck_assert_close(ag_tensor_data(p)[0], 1.0 - 0.01 / (1 + 1e-8), 1e-15);
    ck_assert_close(ag_tensor_data(p)[1], -2.0, 0); /* zero gradient: m = v = 0, no move */
    set_grad(p, -1.0, 0.0);
    ag_optimizer_step(o);
    ck_assert_close(ag_tensor_data(p)[0], 1.0 - 0.01 / (1 + 1e-8) + 0.01 * (0.01 / 0.19) / (1 + 1e-8), 1e-13);
    ag_optimizer_free(o);
    ag_tensor_free(p);
}
END_TEST

START_TEST(adam_l2_vs_adamw_decoupled)
{
    /* one step, gradient 0.5, p = 1, lr 0.1, weight decay 0.1.
     * Adam (L2): g = 0.5 + 0.1 = 0.6, m^ = g, v^ = g^2 -> p = 1 - 0.1 * 0.6/(0.6 + eps)
     * AdamW:     p = 1 - 0.1*0.1*1 = 0.99, then - 0.1 * 0.5/(0.5 + eps)            */
    ag_tensor *p = param2(), *q = param2();
    ag_optimizer_config c = ag_adam_config(0.1);
    c.weight_decay = 0.1;
    ag_optimizer *a = ag_optimizer_new(1, &p, &c);
    c = ag_adamw_config(0.1);
    ck_assert_close(c.weight_decay, 0.01, 0); /* PyTorch's default */
    c.weight_decay = 0.1;
    ag_optimizer *w = ag_optimizer_new(1, &q, &c);
    set_grad(p, 0.5, 0.0);
    set_grad(q, 0.5, 0.0);
    ag_optimizer_step(a);
    ag_optimizer_step(w);
    ck_assert_close(ag_tensor_data(p)[0], 1.0 - 0.1 * 0.6 / (0.6 + 1e-8), 1e-15);
    ck_assert_close(ag_tensor_data(q)[0], 0.99 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
    ag_optimizer_free(a);
    ag_optimizer_free(w);
    ag_tensor_free(p);
    ag_tensor_free(q);
}
END_TEST

/* Every optimiser setting on a parameter of 70 001 elements (past the split
 * over the threads, an odd count for the vector loops' remainders), three
 * steps with changing gradients, against loops written from PyTorch's
 * formulas in the same operation order: equal bit for bit. */
enum { OPT_N = 70001, OPT_CASES = 6 };

static ag_optimizer_config optimizer_case(int k)
{
    ag_optimizer_config c = k < 4 ? ag_sgd_config(0.05) : k == 4 ? ag_adam_config(0.01) : ag_adamw_config(0.01);
    c.weight_decay = k == 0 ? 0.0 : 0.03;
    if (k == 2 || k == 3) c.momentum = 0.9;
    if (k == 2) c.dampening = 0.2;
    if (k == 3) c.nesterov = true;
    return c;
}

/* one step of case k by the definitions; b and v: state, step from 1 */
static void optimizer_reference(int k, const ag_optimizer_config *c, long step, double *p, const double *g0,
                                double *b, double *v)
{
    for (size_t i = 0; i < OPT_N; i++) {
        if (k < 4) {
            double g = g0[i] + c->weight_decay * p[i];
            if (c->momentum != 0.0) {
                b[i] = step == 1 ? g : c->momentum * b[i] + (1.0 - c->dampening) * g;
                g = c->nesterov ? g + c->momentum * b[i] : b[i];
            }
            p[i] -= c->lr * g;
            continue;
        }
        double g = g0[i];
        if (k == 5)
            p[i] -= c->lr * c->weight_decay * p[i];
        else
            g += c->weight_decay * p[i];
        b[i] = c->beta1 * b[i] + (1.0 - c->beta1) * g;
        v[i] = c->beta2 * v[i] + (1.0 - c->beta2) * g * g;
        double c1 = 1.0 - pow(c->beta1, (double)step), c2 = 1.0 - pow(c->beta2, (double)step);
        p[i] -= c->lr * (b[i] / c1) / (sqrt(v[i] / c2) + c->eps);
    }
}

START_TEST(optimizers_on_large_parameters_match_definitions)
{
    test_rng r = {17};
    double *want = malloc(OPT_N * sizeof *want), *b = malloc(OPT_N * sizeof *b);
    double *v = malloc(OPT_N * sizeof *v);
    for (int k = 0; k < OPT_CASES; k++) {
        ag_tensor *t = ag_tensor_zeros(1, (int[]){OPT_N});
        ck_assert(ag_tensor_requires_grad(t, true));
        for (size_t i = 0; i < OPT_N; i++) want[i] = ag_tensor_data(t)[i] = rng_uniform(&r, -1.0, 1.0);
        memset(b, 0, OPT_N * sizeof *b);
        memset(v, 0, OPT_N * sizeof *v);
        ag_optimizer_config c = optimizer_case(k);
        ag_optimizer *o = ag_optimizer_new(1, &t, &c);
        ck_assert_msg(o != NULL, "%s", ag_last_error());
        for (long step = 1; step <= 3; step++) {
            for (size_t i = 0; i < OPT_N; i++) ag_tensor_grad(t)[i] = rng_uniform(&r, -1.0, 1.0);
            ag_optimizer_step(o);
            optimizer_reference(k, &c, step, want, ag_tensor_grad(t), b, v);
            for (size_t i = 0; i < OPT_N; i++)
                ck_assert_in_loop(ag_tensor_data(t)[i] == want[i], "case %d step %ld: p[%zu] = %.17g, expected %.17g",
                                  k, step, i, ag_tensor_data(t)[i], want[i]);
        }
        ag_optimizer_free(o);
        ag_tensor_free(t);
    }
    free(want);
    free(b);
    free(v);
}
END_TEST

START_TEST(optimizer_rejects_bad_settings)
{
    ag_tensor *p = param2(), *no_grad = ag_tensor_scalar(1.0);
    ag_optimizer_config c = ag_sgd_config(-1.0);
    ck_assert_ptr_null(ag_optimizer_new(1, &p, &c));
    ck_assert_msg(strstr(ag_last_error(), "learning rate") != NULL, "%s", ag_last_error());
    c = ag_sgd_config(0.1);
    c.nesterov = true;
    ck_assert_ptr_null(ag_optimizer_new(1, &p, &c));
    c = ag_adam_config(0.1);
    c.beta1 = 1.0;
    ck_assert_ptr_null(ag_optimizer_new(1, &p, &c));
    c = ag_sgd_config(0.1);
    ck_assert_ptr_null(ag_optimizer_new(1, &no_grad, &c));
    ck_assert_msg(strstr(ag_last_error(), "does not require grad") != NULL, "%s", ag_last_error());
    ag_tensor_free(p);
    ag_tensor_free(no_grad);
}
END_TEST

/* The config with one field changed must be refused with `expected`. */
static void assert_refused(ag_tensor *p, ag_optimizer_config c, const char *expected)
{
    ck_assert_ptr_null(ag_optimizer_new(1, &p, &c));
    ck_assert_last_error(expected);
}

START_TEST(optimizer_rejects_a_non_finite_lr)
{
    ag_tensor *p = param2();
    assert_refused(p, ag_sgd_config(INFINITY), "ag_optimizer_new: lr (learning rate) is inf; it must be "
                                              "finite and >= 0");
    assert_refused(p, ag_sgd_config(-INFINITY), "lr (learning rate) is -inf");
    assert_refused(p, ag_sgd_config(NAN), "lr (learning rate) is nan");
    assert_refused(p, ag_adam_config(NAN), "lr (learning rate) is nan");
    ag_tensor_free(p);
}
END_TEST

START_TEST(optimizer_rejects_non_finite_sgd_settings)
{
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_sgd_config(0.1);
    c.momentum = 0.9;
    c.dampening = NAN;
    assert_refused(p, c, "ag_optimizer_new: dampening is nan; it must be finite");
    c.dampening = 0.0;
    c.momentum = INFINITY;
    assert_refused(p, c, "ag_optimizer_new: momentum is inf");
    c = ag_sgd_config(0.1);
    c.weight_decay = INFINITY;
    assert_refused(p, c, "weight_decay is inf");
    ag_tensor_free(p);
}
END_TEST

START_TEST(optimizer_rejects_non_finite_adam_settings)
{
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_adam_config(0.1);
    c.eps = INFINITY;
    assert_refused(p, c, "ag_optimizer_new: eps is inf");
    c = ag_adamw_config(0.1);
    c.beta2 = NAN;
    assert_refused(p, c, "ag_optimizer_new: beta2 is nan; it must be in [0, 1)");
    ag_tensor_free(p);
}
END_TEST

START_TEST(optimizer_bad_kind_is_named)
{
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_sgd_config(0.1);
    c.kind = (ag_optim_kind)7;
    assert_refused(p, c, "ag_optimizer_new: kind is 7, not an optimiser kind (valid: AG_OPTIM_SGD = 0, "
                         "AG_OPTIM_ADAM = 1, AG_OPTIM_ADAMW = 2)");
    c.kind = (ag_optim_kind)-1;
    assert_refused(p, c, "kind is -1");
    ag_tensor_free(p);
}
END_TEST

START_TEST(optimizer_null_config_is_named)
{
    ag_tensor *p = param2();
    ck_assert_ptr_null(ag_tensor_zeros(-1, NULL)); /* a stale message */
    ck_assert_ptr_null(ag_optimizer_new(1, &p, NULL));
    ck_assert_last_error("ag_optimizer_new: config is NULL");
    ag_tensor_free(p);
}
END_TEST

START_TEST(optimizer_empty_or_null_parameter_list)
{
    ag_optimizer_config c = ag_sgd_config(0.1);
    ck_assert_ptr_null(ag_optimizer_new(0, NULL, &c)); /* memcpy from NULL on the old code */
    ck_assert_last_error("ag_optimizer_new: no parameters (n_params is 0)");
    ck_assert_ptr_null(ag_optimizer_new(2, NULL, &c));
    ck_assert_last_error("ag_optimizer_new: params is NULL");
}
END_TEST

START_TEST(optimizer_tensor_listed_twice)
{
    ag_tensor *p = param2(), *q = param2();
    ag_tensor_set_name(p, "W1");
    ag_optimizer_config c = ag_sgd_config(0.1);
    ag_tensor *twice[] = {p, q, p};
    ck_assert_ptr_null(ag_optimizer_new(3, twice, &c));
    ck_assert_last_error("ag_optimizer_new: parameters 0 and 2 are the same tensor ('W1')");
    ag_tensor *with_null[] = {p, NULL};
    ck_assert_ptr_null(ag_optimizer_new(2, with_null, &c));
    ck_assert_last_error("ag_optimizer_new: parameter 1 is NULL");
    ag_tensor_free(p);
    ag_tensor_free(q);
}
END_TEST

START_TEST(set_lr_keeps_a_finite_rate)
{
    /* p = {1, -2}, grad {1, 1}, lr 0.5: one step gives {0.5, -2.5}; a refused
     * rate must leave 0.5 in place (an infinite one made p -inf) */
    ag_tensor *p = param2();
    ag_optimizer_config c = ag_sgd_config(0.5);
    ag_optimizer *o = ag_optimizer_new(1, &p, &c);
    ag_optimizer_set_lr(o, INFINITY);
    ck_assert_last_error("ag_optimizer_set_lr: lr (learning rate) is inf; it must be finite and >= 0 "
                         "(0.5 kept)");
    ag_optimizer_set_lr(o, NAN);
    ck_assert_last_error("lr (learning rate) is nan");
    ag_optimizer_set_lr(o, -1.0);
    ck_assert_last_error("lr (learning rate) is -1");
    ag_optimizer_set_lr(NULL, 0.1);
    ck_assert_last_error("ag_optimizer_set_lr: optimiser is NULL");
    set_grad(p, 1.0, 1.0);
    ag_optimizer_step(o);
    ck_assert(ag_tensor_data(p)[0] == 0.5 && ag_tensor_data(p)[1] == -2.5);
    ag_optimizer_free(o);
    ag_tensor_free(p);
}
END_TEST

/* ---- generator and initialisers ---------------------------------------------------- */

START_TEST(splitmix64_reference_values)
{
    /* splitmix64's published reference sequence for seed 1234567 */
    ag_rng r = ag_rng_new(1234567);
    ck_assert(ag_rng_next(&r) == 6457827717110365317ull);
    ck_assert(ag_rng_next(&r) == 3203168211198807973ull);
    ck_assert(ag_rng_next(&r) == 9817491932198370423ull);
    ck_assert(ag_rng_next(&r) == 4593380528125082431ull);
    ck_assert(ag_rng_next(&r) == 16408922859458223821ull);
}
END_TEST

static void mean_and_std(const ag_tensor *t, double *mean, double *std, double *lo, double *hi)
{
    size_t n = ag_tensor_size(t);
    const double *x = ag_tensor_data(t);
    double s = 0, q = 0;
    *lo = *hi = x[0];
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        *lo = fmin(*lo, x[i]);
        *hi = fmax(*hi, x[i]);
    }
    *mean = s / n;
    for (size_t i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(q / n);
}

START_TEST(initialiser_statistics)
{
    /* W [200, 300]: 60000 draws; standard error of the mean ~ std/245 */
    ag_tensor *W = ag_tensor_zeros(2, (int[]){200, 300});
    ag_rng r = ag_rng_new(99);
    double mean, std, lo, hi;
    double xavier_bound = sqrt(6.0 / 500), he_bound = sqrt(6.0 / 200);
    ag_init_xavier_uniform(W, &r);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert(lo >= -xavier_bound && hi <= xavier_bound);
    ck_assert_close(std, xavier_bound / sqrt(3.0), 0.01 * xavier_bound); /* uniform: bound/sqrt 3 */
    ck_assert_close(mean, 0.0, 0.02 * xavier_bound);
    ag_init_xavier_normal(W, &r);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert_close(std, sqrt(2.0 / 500), 0.01 * sqrt(2.0 / 500));
    ag_init_he_uniform(W, &r);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert(lo >= -he_bound && hi <= he_bound);
    ck_assert_close(std, he_bound / sqrt(3.0), 0.01 * he_bound);
    ag_init_he_normal(W, &r);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert_close(std, sqrt(2.0 / 200), 0.01 * sqrt(2.0 / 200));
    ck_assert_close(mean, 0.0, 0.02 * sqrt(2.0 / 200));
    ag_init_normal(W, &r, 3.0, 2.0);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert_close(mean, 3.0, 0.03);
    ck_assert_close(std, 2.0, 0.02);
    ag_init_uniform(W, &r, 2.0, 4.0);
    mean_and_std(W, &mean, &std, &lo, &hi);
    ck_assert(lo >= 2.0 && hi < 4.0);
    ck_assert_close(mean, 3.0, 0.01);
    ag_init_constant(W, 0.25);
    ck_assert(ag_tensor_data(W)[12345] == 0.25);
    ag_init_zeros(W);
    ck_assert(ag_tensor_data(W)[59999] == 0.0);
    ag_tensor_free(W);
}
END_TEST

START_TEST(same_seed_same_weights)
{
    ag_tensor *a = ag_tensor_zeros(2, (int[]){10, 10}), *b = ag_tensor_zeros(2, (int[]){10, 10});
    ag_rng r1 = ag_rng_new(5), r2 = ag_rng_new(5), r3 = ag_rng_new(6);
    ag_init_he_normal(a, &r1);
    ag_init_he_normal(b, &r2);
    for (int i = 0; i < 100; i++) ck_assert(ag_tensor_data(a)[i] == ag_tensor_data(b)[i]);
    ag_init_he_normal(b, &r3);
    ck_assert(ag_tensor_data(a)[0] != ag_tensor_data(b)[0]);
    ag_tensor_free(a);
    ag_tensor_free(b);
}
END_TEST

START_TEST(rng_below_is_in_range_and_covers)
{
    ag_rng r = ag_rng_new(3);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        unsigned long long k = ag_rng_below(&r, 7);
        ck_assert_in_loop(k < 7, "draw %d: %llu", i, k);
        seen[k]++;
    }
    for (int k = 0; k < 7; k++) ck_assert_int_gt(seen[k], 800); /* expected 1000 each */
    ck_assert(ag_rng_below(&r, 0) == 0);
}
END_TEST

/* ---- layers, MLPs, batches ------------------------------------------------------------ */

START_TEST(dense_layer_by_hand)
{
    /* x [1,2] = [1, 2], W [2,2] = [[1, -1], [2, 0.5]], b = [0.5, -4]:
     * x W + b = [5.5, -4]; relu -> [5.5, 0] */
    ag_graph *g = ag_graph_new();
    ag_tensor *W = ag_tensor_from(2, (int[]){2, 2}, (double[]){1, -1, 2, 0.5});
    ag_tensor *b = ag_tensor_from(1, (int[]){2}, (double[]){0.5, -4});
    ag_node *y = ag_dense(g, ag_constant(g, 2, (int[]){1, 2}, (double[]){1, 2}), W, b, AG_ACT_RELU);
    ck_assert_ptr_nonnull(y);
    ck_assert_close(ag_node_value(y)[0], 5.5, 0);
    ck_assert_close(ag_node_value(y)[1], 0.0, 0);
    ag_node *t = ag_dense(g, ag_constant(g, 2, (int[]){1, 2}, (double[]){1, 2}), W, NULL, AG_ACT_TANH);
    ck_assert_close(ag_node_value(t)[0], tanh(5.0), 1e-15);
    ag_graph_free(g);
    ag_tensor_free(W);
    ag_tensor_free(b);
}
END_TEST

/* The store holds exactly one tensor, "fc2.W" (the one made first). */
static void assert_store_holds_only_fc2_W(const ag_params *ps)
{
    ck_assert_int_eq(ag_params_count(ps), 1);
    ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, 0)), "fc2.W");
    ck_assert_ptr_null(ag_params_get(ps, "fc1.W"));
    ck_assert_ptr_null(ag_params_get(ps, "fc1.b"));
}

START_TEST(mlp_new_checks_everything_before_adding)
{
    /* failures the arguments decide are found before any tensor is added:
     * the old code added fc1.W and fc1.b, then failed on the taken fc2.W */
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(1);
    ck_assert_ptr_nonnull(ag_params_add(ps, "fc2.W", 1, (int[]){1}));
    int widths[] = {4, 8, 3};
    ag_activation acts[] = {AG_ACT_RELU, AG_ACT_NONE};
    ck_assert_ptr_null(ag_mlp_new(ps, "fc", 2, widths, acts, &r));
    assert_store_holds_only_fc2_W(ps);
    ck_assert_last_error("ag_mlp_new: the store already holds a tensor named 'fc2.W'");
    char long_prefix[200];
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    ck_assert_ptr_null(ag_mlp_new(ps, long_prefix, 2, widths, acts, &r));
    ck_assert_last_error("is too long (names are at most 127 characters)");
    assert_store_holds_only_fc2_W(ps);
    /* layer 1 is 1x2^21, layer 2's 2^21x2^20 weight is over the 2^40 limit */
    ck_assert_ptr_null(ag_mlp_new(ps, "net", 2, (int[]){1, 1 << 21, 1 << 20}, acts, &r));
    assert_store_holds_only_fc2_W(ps);
    ck_assert_last_error("ag_mlp_new: layer 2's weight (2097152x1048576): element count is too large");
    ag_activation bad[] = {AG_ACT_RELU, (ag_activation)9};
    ck_assert_ptr_null(ag_mlp_new(ps, "net", 2, widths, bad, &r));
    ck_assert_last_error("ag_mlp_new: activation 1 is 9, not an ag_activation");
    assert_store_holds_only_fc2_W(ps);
    ck_assert_ptr_null(ag_mlp_new(ps, "net", 2, widths, NULL, &r));
    ck_assert_last_error("ag_mlp_new: activations is NULL");
    ck_assert_ptr_null(ag_mlp_new(ps, "net", 0, widths, acts, &r));
    ck_assert_last_error("ag_mlp_new: n_layers is 0");
    assert_store_holds_only_fc2_W(ps);
    ag_params_free(ps);
}
END_TEST

START_TEST(dense_and_mlp_forward_without_a_graph)
{
    /* the old code blamed a NULL operand ("ag_matmul: operand is NULL (an
     * earlier call failed?)") instead of the missing graph */
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(1);
    ag_mlp *m = ag_mlp_new(ps, "l", 1, (int[]){2, 2}, (ag_activation[]){AG_ACT_RELU}, &r);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_constant(g, 2, (int[]){1, 2}, (double[]){1, 2});
    ck_assert_ptr_null(ag_mlp_forward(m, NULL, x));
    ck_assert_ptr_nonnull(ag_graph_error(g));
    ck_assert_str_eq(ag_graph_error(g), "ag_dense: graph is NULL");
    ag_graph_free(g);
    ag_mlp_free(m);
    ag_params_free(ps);
}
END_TEST

START_TEST(accuracy_says_what_is_wrong)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *labels = ag_tensor_zeros(1, (int[]){3});
    ag_node *logits = ag_constant(g, 2, (int[]){3, 2}, (double[]){1, 0, 0, 1, 1, 0});
    ck_assert(ag_accuracy(NULL, labels, 1) == -1.0);
    ck_assert_last_error("ag_accuracy: logits is NULL");
    ck_assert(ag_accuracy(logits, labels, 4) == -1.0);
    ck_assert_last_error("got logits (3x2), 3 labels, rows 4");
    ck_assert_close(ag_accuracy(logits, labels, 3), 2.0 / 3.0, 1e-15); /* rows 0 and 2 pick class 0 */
    ag_tensor_free(labels);
    ag_graph_free(g);
}
END_TEST

START_TEST(mlp_names_shapes_and_init)
{
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(1);
    ag_mlp *m = ag_mlp_new(ps, "fc", 3, (int[]){4, 8, 6, 3},
                           (ag_activation[]){AG_ACT_RELU, AG_ACT_TANH, AG_ACT_NONE}, &r);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(ag_params_count(ps), 6);
    ck_assert_int_eq(ag_params_numel(ps), 4 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3);
    ag_tensor *W1 = ag_params_get(ps, "fc1.W");
    ck_assert_ptr_nonnull(W1);
    ck_assert_int_eq(ag_tensor_dim(W1, 0), 4);
    ck_assert_int_eq(ag_tensor_dim(W1, 1), 8);
    double bound = sqrt(6.0 / 4); /* He uniform before the ReLU */
    for (size_t i = 0; i < 32; i++) ck_assert(fabs(ag_tensor_data(W1)[i]) <= bound);
    ck_assert(ag_tensor_data(ag_params_get(ps, "fc2.b"))[0] == 0.0);
    size_t n;
    ag_tensor *const *params = ag_mlp_params(m, &n);
    ck_assert_int_eq(n, 6);
    ck_assert_ptr_eq(params[4], ag_params_get(ps, "fc3.W"));
    ag_graph *g = ag_graph_new();
    ag_tensor *x = ag_tensor_ones(2, (int[]){5, 4});
    ag_node *y = ag_mlp_forward(m, g, ag_input(g, x));
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_dim(y, 0), 5);
    ck_assert_int_eq(ag_node_dim(y, 1), 3);
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_mlp_free(m);
    ag_params_free(ps);
}
END_TEST

START_TEST(batch_gradient_is_mean_of_sample_gradients)
{
    /* loss of a batch of N rows = mean of per-row losses, so its gradient must
     * equal the mean of the N single-row gradients */
    enum { N = 5, D = 3, H = 4, C = 3 };
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(11);
    ag_mlp *m = ag_mlp_new(ps, "fc", 2, (int[]){D, H, C}, (ag_activation[]){AG_ACT_TANH, AG_ACT_NONE}, &r);
    double x[N][D], y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        for (int j = 0; j < D; j++) x[i][j] = ag_rng_normal(&r, 0, 1);
    }
    size_t n_params;
    ag_tensor *const *params = ag_mlp_params(m, &n_params);
    ag_graph *g = ag_graph_new();
    ag_tensor *X = ag_tensor_from(2, (int[]){N, D}, &x[0][0]), *Y = ag_tensor_from(1, (int[]){N}, y);
    ag_node *loss = ag_softmax_xent(ag_mlp_forward(m, g, ag_input(g, X)), ag_input(g, Y));
    ag_params_zero_grad(ps);
    ck_assert(ag_backward(g, loss));
    double *batch = calloc(ag_params_numel(ps), sizeof(double)), *mean = calloc(ag_params_numel(ps), sizeof(double));
    for (size_t k = 0, at = 0; k < n_params; at += ag_tensor_size(params[k]), k++)
        for (size_t i = 0; i < ag_tensor_size(params[k]); i++) batch[at + i] = ag_tensor_grad(params[k])[i];
    for (int s = 0; s < N; s++) {
        ag_graph_reset(g);
        ag_params_zero_grad(ps);
        ag_node *xs = ag_constant(g, 2, (int[]){1, D}, x[s]);
        ck_assert(ag_backward(g, ag_softmax_xent_label(ag_mlp_forward(m, g, xs), (int)y[s])));
        for (size_t k = 0, at = 0; k < n_params; at += ag_tensor_size(params[k]), k++)
            for (size_t i = 0; i < ag_tensor_size(params[k]); i++) mean[at + i] += ag_tensor_grad(params[k])[i] / N;
    }
    ag_diff d = ag_compare(NULL, NULL, NULL, NULL, ag_params_numel(ps), mean, batch, 1e-14);
    ck_assert_msg(d.pass, "batch vs mean of samples: %g at %zu", d.max_abs, d.worst);
    ck_assert(d.max_rel < 1e-12);
    free(batch);
    free(mean);
    ag_tensor_free(X);
    ag_tensor_free(Y);
    ag_graph_free(g);
    ag_mlp_free(m);
    ag_params_free(ps);
}
END_TEST

START_TEST(mlp_learns_xor)
{
    /* a 2-4-2 tanh MLP with Adam separates XOR: all four points right */
    static const double x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, y[4] = {0, 1, 1, 0};
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(2);
    ag_mlp *m = ag_mlp_new(ps, "fc", 2, (int[]){2, 4, 2}, (ag_activation[]){AG_ACT_TANH, AG_ACT_NONE}, &r);
    size_t n;
    ag_tensor *const *params = ag_mlp_params(m, &n);
    ag_optimizer_config c = ag_adam_config(0.05);
    ag_optimizer *o = ag_optimizer_new(n, params, &c);
    ag_graph *g = ag_graph_new();
    ag_tensor *X = ag_tensor_from(2, (int[]){4, 2}, &x[0][0]), *Y = ag_tensor_from(1, (int[]){4}, y);
    ag_node *logits = ag_mlp_forward(m, g, ag_input(g, X));
    ag_node *loss = ag_softmax_xent(logits, ag_input(g, Y));
    for (int step = 0; step < 500; step++) {
        ag_optimizer_zero_grad(o);
        ck_assert(ag_graph_forward(g) && ag_backward(g, loss));
        ag_optimizer_step(o);
    }
    ck_assert(ag_graph_forward(g));
    ck_assert(ag_node_value(loss)[0] < 0.05);
    for (int i = 0; i < 4; i++) {
        const double *z = ag_node_value(logits) + 2 * i;
        ck_assert_int_eq(z[1] > z[0], (int)y[i]);
    }
    ag_tensor_free(X);
    ag_tensor_free(Y);
    ag_graph_free(g);
    ag_optimizer_free(o);
    ag_mlp_free(m);
    ag_params_free(ps);
}
END_TEST

Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("optimisers");
    tcase_add_test(tc, sgd_plain_and_weight_decay);
    tcase_add_test(tc, sgd_momentum_and_nesterov);
    tcase_add_test(tc, adam_two_steps_by_hand);
    tcase_add_test(tc, adam_l2_vs_adamw_decoupled);
    tcase_add_test(tc, optimizers_on_large_parameters_match_definitions);
    tcase_add_test(tc, optimizer_rejects_bad_settings);
    tcase_add_test(tc, optimizer_rejects_a_non_finite_lr);
    tcase_add_test(tc, optimizer_rejects_non_finite_sgd_settings);
    tcase_add_test(tc, optimizer_rejects_non_finite_adam_settings);
    tcase_add_test(tc, optimizer_bad_kind_is_named);
    tcase_add_test(tc, optimizer_null_config_is_named);
    tcase_add_test(tc, optimizer_empty_or_null_parameter_list);
    tcase_add_test(tc, optimizer_tensor_listed_twice);
    tcase_add_test(tc, set_lr_keeps_a_finite_rate);
    /* the 70 001-element case took over Check's 4 s on a loaded 2-core machine */
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("initialisers");
    tcase_add_test(tc, splitmix64_reference_values);
    tcase_add_test(tc, initialiser_statistics);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, rng_below_is_in_range_and_covers);
    suite_add_tcase(s, tc);
    tc = tcase_create("layers and batches");
    tcase_add_test(tc, dense_layer_by_hand);
    tcase_add_test(tc, mlp_names_shapes_and_init);
    tcase_add_test(tc, mlp_new_checks_everything_before_adding);
    tcase_add_test(tc, dense_and_mlp_forward_without_a_graph);
    tcase_add_test(tc, accuracy_says_what_is_wrong);
    tcase_add_test(tc, batch_gradient_is_mean_of_sample_gradients);
    tcase_add_test(tc, mlp_learns_xor);
    suite_add_tcase(s, tc);
    return s;
}
