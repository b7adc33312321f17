/* test_training.c -- resumable training (2N steps in one run equal N steps,
 * save, load into fresh objects, N steps: bit for bit), its errors,
 * learning-rate schedules against their closed forms worked by hand, and
 * clipping by the global gradient norm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64], path[128], path_a[128], path_b[128];

static void setup(void)
{
    strcpy(dir, "/tmp/agrad_train_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/resume.safetensors", dir);
    snprintf(path_a, sizeof path_a, "%s/a.safetensors", dir);
    snprintf(path_b, sizeof path_b, "%s/b.safetensors", dir);
}

static void teardown(void)
{
    unlink(path);
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
}

/* ---- a small training run: MLP 4-5-3 on 20 samples, batches of 6
 * shuffled (the last of each epoch has 2 rows), an input dropout mask
 * drawn from its own generator every step, a running statistic kept in the
 * store without grad, a cosine learning rate from the step count. */
enum { SAMPLES = 20, FEATURES = 4, CLASSES = 3, BATCH = 6 };

typedef struct run {
    ag_rng *rng_list[1]; /* &dropout, for ag_training_state */
    ag_params *ps;
    ag_mlp *mlp;
    ag_tensor *running; /* store tensor, no grad: a batch-norm-like running mean */
    ag_optimizer *opt;
    ag_batches *batches;
    ag_rng dropout;
    ag_tensor *x, *y, *bx, *by, *mask;
    ag_graph *g;
    ag_node *loss;
} run;

static run run_new(ag_optim_kind kind, unsigned long long seed)
{
    run r = {0};
    ag_rng data = ag_rng_new(99); /* the data set is the same in every run */
    r.x = ag_tensor_zeros(2, (int[]){SAMPLES, FEATURES});
    r.y = ag_tensor_zeros(1, (int[]){SAMPLES});
    for (int i = 0; i < SAMPLES * FEATURES; i++) ag_tensor_data(r.x)[i] = ag_rng_normal(&data, 0, 1);
    for (int i = 0; i < SAMPLES; i++) ag_tensor_data(r.y)[i] = (double)ag_rng_below(&data, CLASSES);
    ag_rng init = ag_rng_new(seed);
    r.ps = ag_params_new();
    r.mlp = ag_mlp_new(r.ps, "fc", 2, (int[]){FEATURES, 5, CLASSES},
                       (ag_activation[]){AG_ACT_TANH, AG_ACT_NONE}, &init);
    r.running = ag_params_add(r.ps, "bn.running_mean", 1, (int[]){FEATURES});
    ag_tensor_requires_grad(r.running, false);
    size_t n;
    ag_tensor *const *params = ag_mlp_params(r.mlp, &n);
    ag_optimizer_config c = kind == AG_OPTIM_SGD ? ag_sgd_config(0.1) : ag_adam_config(0.01);
    if (kind == AG_OPTIM_SGD) c.momentum = 0.9;
    c.kind = kind;
    c.weight_decay = 1e-3;
    r.opt = ag_optimizer_new(n, params, &c);
    r.batches = ag_batches_new(r.x, r.y, BATCH, AG_BATCHES_SHUFFLE, seed);
    r.dropout = ag_rng_new(seed + 1);
    r.bx = ag_tensor_zeros(2, (int[]){BATCH, FEATURES});
    r.by = ag_tensor_zeros(1, (int[]){BATCH});
    r.mask = ag_tensor_zeros(2, (int[]){BATCH, FEATURES});
    r.g = ag_graph_new();
    ag_node *in = ag_mul(ag_input(r.g, r.bx), ag_input(r.g, r.mask));
    r.loss = ag_softmax_xent(ag_mlp_forward(r.mlp, r.g, in), ag_input(r.g, r.by));
    ck_assert_msg(r.opt && r.batches && r.loss, "%s", ag_last_error());
    return r;
}

static void run_free(run *r)
{
    ag_graph_free(r->g);
    ag_optimizer_free(r->opt);
    ag_batches_free(r->batches);
    ag_mlp_free(r->mlp);
    ag_params_free(r->ps);
    ag_tensor *t[] = {r->x, r->y, r->bx, r->by, r->mask};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) ag_tensor_free(t[i]);
}

/* One step; returns the loss. Dropout keeps an input with probability 0.8,
 * scaled by 1 / 0.8; the running mean follows each batch's first row. */
static double run_step(run *r)
{
    int rows = ag_batches_next(r->batches, r->bx, r->by);
    if (rows == 0) rows = ag_batches_next(r->batches, r->bx, r->by); /* next epoch */
    ck_assert_int_gt(rows, 0);
    for (int i = 0; i < BATCH * FEATURES; i++)
        ag_tensor_data(r->mask)[i] = ag_rng_uniform(&r->dropout, 0, 1) < 0.8 ? 1.25 : 0.0;
    for (int j = 0; j < FEATURES; j++)
        ag_tensor_data(r->running)[j] = 0.9 * ag_tensor_data(r->running)[j] + 0.1 * ag_tensor_data(r->bx)[j];
    ag_optimizer_set_lr(r->opt, ag_lr_cosine(0.05, 0.001, 12, ag_optimizer_steps(r->opt)));
    ag_optimizer_zero_grad(r->opt);
    ck_assert(ag_graph_forward(r->g) && ag_backward(r->g, r->loss));
    ag_optimizer_step(r->opt);
    return ag_node_value(r->loss)[0];
}

static ag_training_state state_of(run *r)
{
    r->rng_list[0] = &r->dropout;
    return (ag_training_state){.optimizer = r->opt, .batches = r->batches, .rngs = r->rng_list, .n_rngs = 1};
}

/* The whole file, malloc'ed; *n gets its size. */
static unsigned char *slurp(const char *file, size_t *n)
{
    FILE *f = fopen(file, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    ck_assert_int_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static bool same_files(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

enum { HALF = 7 }; /* 14 steps: three epochs begun, one of them mid-way at the save */

/* 2N steps in one run, against N steps, save, fresh objects (other seeds,
 * so everything must come from the file), load, N steps: the losses bit for
 * bit, and the final training checkpoints byte for byte (every parameter,
 * running statistic, moment, the step count, iterator and generator). */
static void check_resume(ag_optim_kind kind)
{
    double straight[2 * HALF], resumed[2 * HALF];
    run a = run_new(kind, 5);
    for (int s = 0; s < 2 * HALF; s++) straight[s] = run_step(&a);
    ag_training_state sa = state_of(&a);
    ck_assert_msg(ag_checkpoint_save_training(a.ps, &sa, path_a), "%s", ag_last_error());

    run b = run_new(kind, 5);
    for (int s = 0; s < HALF; s++) resumed[s] = run_step(&b);
    ag_training_state sb = state_of(&b);
    ck_assert_msg(ag_checkpoint_save_training(b.ps, &sb, path), "%s", ag_last_error());
    run_free(&b);

    run c = run_new(kind, 77);
    ag_training_state sc = state_of(&c);
    ck_assert_msg(ag_checkpoint_load_training(c.ps, &sc, path), "%s", ag_last_error());
    ck_assert_int_eq(ag_optimizer_steps(c.opt), HALF);
    ck_assert_int_eq(ag_batches_epoch(c.batches), 2); /* 4 batches an epoch: 7 steps into the 2nd */
    for (int s = HALF; s < 2 * HALF; s++) resumed[s] = run_step(&c);
    ck_assert_msg(ag_checkpoint_save_training(c.ps, &sc, path_b), "%s", ag_last_error());
    for (int s = 0; s < 2 * HALF; s++)
        ck_assert_msg(memcmp(&straight[s], &resumed[s], sizeof(double)) == 0,
                      "step %d: loss %.17g straight, %.17g resumed", s, straight[s], resumed[s]);
    ck_assert_msg(same_files(path_a, path_b), "final checkpoints differ");
    /* the test has teeth: the run from seed 77 alone ends elsewhere */
    run d = run_new(kind, 77);
    for (int s = 0; s < 2 * HALF; s++) run_step(&d);
    ag_training_state sd = state_of(&d);
    ck_assert(ag_checkpoint_save_training(d.ps, &sd, path_b));
    ck_assert(!same_files(path_a, path_b));
    run_free(&a);
    run_free(&c);
    run_free(&d);
}

START_TEST(resume_adam_bit_for_bit) { check_resume(AG_OPTIM_ADAM); }
END_TEST

START_TEST(resume_sgd_momentum_bit_for_bit) { check_resume(AG_OPTIM_SGD); }
END_TEST

START_TEST(resume_adamw_bit_for_bit) { check_resume(AG_OPTIM_ADAMW); }
END_TEST

/* Without the optimiser's state the resumed run differs: Adam's moments
 * matter (what --resume did before). */
START_TEST(resume_without_moments_differs)
{
    double straight[2 * HALF];
    run a = run_new(AG_OPTIM_ADAM, 5);
    for (int s = 0; s < 2 * HALF; s++) straight[s] = run_step(&a);
    run b = run_new(AG_OPTIM_ADAM, 5);
    for (int s = 0; s < HALF; s++) run_step(&b);
    ag_training_state sb = {.batches = b.batches, .rngs = (ag_rng *[]){&b.dropout}, .n_rngs = 1};
    ck_assert(ag_checkpoint_save_training(b.ps, &sb, path));
    run c = run_new(AG_OPTIM_ADAM, 77);
    ag_training_state sc = {.batches = c.batches, .rngs = (ag_rng *[]){&c.dropout}, .n_rngs = 1};
    ck_assert_msg(ag_checkpoint_load_training(c.ps, &sc, path), "%s", ag_last_error());
    ck_assert(run_step(&c) != straight[HALF] || run_step(&c) != straight[HALF + 1]);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}
END_TEST

/* Plain ag_checkpoint_load / _read of a training file take the store's
 * tensors and skip the optimiser's buffers. */
START_TEST(plain_load_of_a_training_file)
{
    run a = run_new(AG_OPTIM_ADAM, 5);
    for (int s = 0; s < 3; s++) run_step(&a);
    ag_training_state sa = state_of(&a);
    ck_assert(ag_checkpoint_save_training(a.ps, &sa, path));
    run b = run_new(AG_OPTIM_ADAM, 77);
    ck_assert_msg(ag_checkpoint_load(b.ps, path), "%s", ag_last_error());
    ck_assert_int_eq(ag_optimizer_steps(b.opt), 0);
    for (size_t i = 0; i < ag_params_count(a.ps); i++) {
        ag_tensor *ta = ag_params_at(a.ps, i), *tb = ag_params_at(b.ps, i);
        ck_assert(memcmp(ag_tensor_data(ta), ag_tensor_data(tb), ag_tensor_size(ta) * sizeof(double)) == 0);
    }
    ag_params *read = ag_checkpoint_read(path);
    ck_assert_ptr_nonnull(read);
    ck_assert_int_eq(ag_params_count(read), ag_params_count(a.ps)); /* 4 MLP tensors + running mean */
    ck_assert_ptr_null(ag_params_get(read, "__optimizer__.0.exp_avg"));
    ag_params_free(read);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* The store after a failed load is as before: compare with a copy. */
static void assert_store_unchanged(const run *r, const double *copy)
{
    size_t at = 0;
    for (size_t i = 0; i < ag_params_count(r->ps); i++) {
        ag_tensor *t = ag_params_at(r->ps, i);
        ck_assert(memcmp(ag_tensor_data(t), copy + at, ag_tensor_size(t) * sizeof(double)) == 0);
        at += ag_tensor_size(t);
    }
}

static double *store_copy(const run *r)
{
    double *copy = malloc(ag_params_numel(r->ps) * sizeof *copy);
    size_t at = 0;
    for (size_t i = 0; i < ag_params_count(r->ps); i++) {
        ag_tensor *t = ag_params_at(r->ps, i);
        memcpy(copy + at, ag_tensor_data(t), ag_tensor_size(t) * sizeof(double));
        at += ag_tensor_size(t);
    }
    return copy;
}

/* Each mismatch is named, and nothing changes: store, step count. */
START_TEST(load_training_names_what_differs)
{
    run sgd = run_new(AG_OPTIM_SGD, 5);
    run_step(&sgd);
    ag_training_state s = state_of(&sgd);
    ck_assert(ag_checkpoint_save_training(sgd.ps, &s, path));

    run adam = run_new(AG_OPTIM_ADAM, 77);
    double *copy = store_copy(&adam);
    ag_training_state sa = state_of(&adam);
    ck_assert(!ag_checkpoint_load_training(adam.ps, &sa, path));
    ck_assert_last_error("ag_checkpoint_load_training: ");
    ck_assert_last_error("the file's optimiser is sgd, this one is adam");
    assert_store_unchanged(&adam, copy);
    ck_assert_int_eq(ag_optimizer_steps(adam.opt), 0);

    /* an optimiser over fewer parameters */
    size_t n;
    ag_tensor *const *params = ag_mlp_params(adam.mlp, &n);
    ag_optimizer_config c = ag_sgd_config(0.1);
    c.momentum = 0.9;
    ag_optimizer *partial = ag_optimizer_new(n - 1, params, &c);
    ag_training_state sp = {.optimizer = partial};
    ck_assert(!ag_checkpoint_load_training(adam.ps, &sp, path));
    ck_assert_last_error("the file's optimiser has 4 parameters, this one 3");
    ag_optimizer_free(partial);

    /* the same kind over the parameters in another order: shapes differ */
    ag_tensor *reversed[4] = {params[3], params[2], params[1], params[0]};
    ag_optimizer_config sgd_momentum = ag_sgd_config(0.1);
    sgd_momentum.momentum = 0.9;
    ag_optimizer *other_order = ag_optimizer_new(4, reversed, &sgd_momentum);
    ag_training_state swapped = {.optimizer = other_order};
    ck_assert(!ag_checkpoint_load_training(adam.ps, &swapped, path));
    ck_assert_last_error("optimiser buffer '__optimizer__.0.momentum_buffer' has shape (4x5) in the "
                         "file but parameter 0 has shape (3)");
    ck_assert_int_eq(ag_optimizer_steps(other_order), 0);
    ag_optimizer_free(other_order);

    /* an iterator of another batch size */
    ag_batches *other = ag_batches_new(adam.x, adam.y, 5, AG_BATCHES_SHUFFLE, 1);
    ag_training_state sb = {.batches = other};
    ck_assert(!ag_checkpoint_load_training(adam.ps, &sb, path));
    ck_assert_last_error("the file's batch iterator has 20 samples, batch size 6, flags 1; this one 20, 5, 1");
    ag_batches_free(other);

    /* more generators than the file holds */
    ag_rng two[2] = {ag_rng_new(1), ag_rng_new(2)};
    ag_training_state sr = {.rngs = (ag_rng *[]){&two[0], &two[1]}, .n_rngs = 2};
    ck_assert(!ag_checkpoint_load_training(adam.ps, &sr, path));
    ck_assert_last_error("the file holds 1 generator states, 2 asked for");
    ck_assert(two[0].state == 1 && two[1].state == 2);

    /* a part the file lacks: a plain checkpoint has no optimiser state */
    ck_assert(ag_checkpoint_save(sgd.ps, path_a));
    ag_training_state so = {.optimizer = sgd.opt};
    ck_assert(!ag_checkpoint_load_training(sgd.ps, &so, path_a));
    ck_assert_last_error("the file holds no optimiser state (metadata \"agrad.optimizer\" missing)");
    ck_assert_int_eq(ag_optimizer_steps(sgd.opt), 1);

    /* a store tensor of another shape is named as for ag_checkpoint_load */
    ag_params *ps = ag_params_new();
    ag_params_add(ps, "fc1.W", 2, (int[]){5, 4});
    ck_assert(!ag_checkpoint_load_training(ps, NULL, path));
    ck_assert_last_error("tensor 'fc1.W' has shape (4x5) in the file but (5x4) in the store");
    ag_params_free(ps);
    free(copy);
    run_free(&sgd);
    run_free(&adam);
}
END_TEST

START_TEST(save_training_refuses_a_clashing_name)
{
    ag_params *ps = ag_params_new();
    ag_params_add(ps, "__optimizer__.0.exp_avg", 1, (int[]){2});
    ck_assert(!ag_checkpoint_save_training(ps, NULL, path));
    ck_assert_last_error("store tensor '__optimizer__.0.exp_avg' starts with \"__optimizer__.\"");
    ag_training_state bad = {.n_rngs = 1};
    ck_assert(!ag_checkpoint_save_training(ps, &bad, path));
    ck_assert_last_error("n_rngs is 1 but rngs is NULL");
    ag_rng *none[2] = {NULL, NULL};
    ag_training_state holes = {.rngs = none, .n_rngs = 2};
    ck_assert(!ag_checkpoint_save_training(ps, &holes, path));
    ck_assert_last_error("ag_checkpoint_save_training: generator 0 of 2 (rngs[0]) is NULL");
    ag_params_free(ps);
}
END_TEST

/* The iterator's state alone: restored mid-epoch, at an epoch's end and
 * before any batch, it gives the same batches (and sample indices). */
START_TEST(batches_state_round_trip)
{
    ag_tensor *x = ag_tensor_zeros(2, (int[]){7, 1});
    for (int i = 0; i < 7; i++) ag_tensor_data(x)[i] = i;
    ag_tensor *bx = ag_tensor_zeros(2, (int[]){3, 1});
    ag_batches *a = ag_batches_new(x, NULL, 3, AG_BATCHES_SHUFFLE, 42);
    for (int calls = 0; calls <= 9; calls++) {
        ag_batches *b = ag_batches_new(x, NULL, 3, AG_BATCHES_SHUFFLE, 1000 + (unsigned)calls);
        ag_batches_state s = ag_batches_get_state(a);
        ck_assert(ag_batches_set_state(b, &s));
        if (ag_batches_epoch(a) > 0) ck_assert_int_eq(ag_batches_sample(b, 0), ag_batches_sample(a, 0));
        double seen_a[12], seen_b[12];
        for (int k = 0; k < 12; k++) {
            int ra = ag_batches_next(a, bx, NULL);
            seen_a[k] = ra > 0 ? ag_tensor_data(bx)[0] : -1;
            int rb = ag_batches_next(b, bx, NULL);
            seen_b[k] = rb > 0 ? ag_tensor_data(bx)[0] : -1;
            ck_assert_int_eq(ra, rb);
        }
        ck_assert(memcmp(seen_a, seen_b, sizeof seen_a) == 0);
        ag_batches_free(b);
    }
    ag_batches_state past = {.epoch = 1, .pos = 8, .in_epoch = true};
    ck_assert(!ag_batches_set_state(a, &past));
    ck_assert_last_error("ag_batches_set_state: position 8 in epoch 1 does not fit an iterator over 7 samples");
    ag_batches_free(a);
    ag_tensor_free(x);
    ag_tensor_free(bx);
}
END_TEST

/* ---- schedules: closed forms worked by hand --------------------------------- */

START_TEST(step_lr_by_hand)
{
    /* StepLR(lr 0.1, step_size 3, gamma 0.5): 0.1 for t 0..2, 0.05 for 3..5, 0.025 at 6 */
    ck_assert(ag_lr_step(0.1, 0.5, 3, 0) == 0.1);
    ck_assert(ag_lr_step(0.1, 0.5, 3, 2) == 0.1);
    ck_assert(ag_lr_step(0.1, 0.5, 3, 3) == 0.05);
    ck_assert(ag_lr_step(0.1, 0.5, 3, 5) == 0.05);
    ck_assert(ag_lr_step(0.1, 0.5, 3, 6) == 0.025);
    ck_assert(isnan(ag_lr_step(0.1, 0.5, 0, 1)));
    ck_assert_last_error("ag_lr_step: step_size must be at least 1 (got 0)");
    ck_assert(isnan(ag_lr_step(0.1, 0.5, 3, -1)));
    ck_assert_last_error("ag_lr_step: t must be >= 0 (got -1)");
}
END_TEST

START_TEST(cosine_lr_by_hand)
{
    /* CosineAnnealingLR(lr 1, eta_min 0.1, T_max 4): cos(pi t / 4) = 1,
     * sqrt(2)/2, 0, -sqrt(2)/2, -1: 1, 0.1 + 0.9 (1 + sqrt(2)/2) / 2, 0.55,
     * 0.1 + 0.9 (1 - sqrt(2)/2) / 2, 0.1; t = 6 rises again to 0.55 */
    const double r2 = sqrt(2.0) / 2;
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 0), 1.0, 1e-15);
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 1), 0.1 + 0.45 * (1 + r2), 1e-15);
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 2), 0.55, 1e-15);
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 3), 0.1 + 0.45 * (1 - r2), 1e-15);
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 4), 0.1, 1e-15);
    ck_assert_double_eq_tol(ag_lr_cosine(1, 0.1, 4, 6), 0.55, 1e-15);
    ck_assert(isnan(ag_lr_cosine(1, 0.1, 0, 0)));
    ck_assert_last_error("ag_lr_cosine: t_max must be at least 1 (got 0)");
    ck_assert(isnan(ag_lr_cosine(NAN, 0.1, 4, 0)));
    ck_assert_last_error("ag_lr_cosine: the rates and factors must be finite");
}
END_TEST

START_TEST(warmup_lr_by_hand)
{
    /* LinearLR(lr 0.2, start_factor 0.25, end 1, total_iters 3): factors
     * 0.25, 0.5, 0.75, 1, then 1: 0.05, 0.1, 0.15, 0.2, 0.2 */
    ck_assert_double_eq_tol(ag_lr_warmup(0.2, 0.25, 3, 0), 0.05, 1e-16);
    ck_assert_double_eq_tol(ag_lr_warmup(0.2, 0.25, 3, 1), 0.1, 1e-16);
    ck_assert_double_eq_tol(ag_lr_warmup(0.2, 0.25, 3, 2), 0.15, 1e-16);
    ck_assert(ag_lr_warmup(0.2, 0.25, 3, 3) == 0.2);
    ck_assert(ag_lr_warmup(0.2, 0.25, 3, 100) == 0.2);
    ck_assert(ag_lr_warmup(0.2, 0.25, 0, 0) == 0.2);
    ck_assert(isnan(ag_lr_warmup(0.2, 0.25, -1, 0)));
    ck_assert_last_error("ag_lr_warmup: warmup must be >= 0 (got -1)");
}
END_TEST

/* ---- clipping ------------------------------------------------------------------ */

static ag_tensor *with_grad(int n, const double *g)
{
    ag_tensor *t = ag_tensor_zeros(1, (int[]){n});
    ag_tensor_requires_grad(t, true);
    memcpy(ag_tensor_grad(t), g, (size_t)n * sizeof *g);
    return t;
}

START_TEST(clip_by_hand)
{
    /* gradients (3, 4) and (12): total sqrt(9 + 16 + 144) = 13; max_norm
     * 6.5 scales by 6.5 / (13 + 1e-6) */
    ag_tensor *t[3] = {with_grad(2, (double[]){3, 4}), with_grad(1, (double[]){12}),
                       ag_tensor_zeros(1, (int[]){2})}; /* no gradient: skipped */
    ck_assert(ag_clip_grad_norm(3, t, 6.5) == 13.0);
    const double f = 6.5 / (13.0 + 1e-6);
    ck_assert_double_eq_tol(ag_tensor_grad(t[0])[0], 3 * f, 1e-15);
    ck_assert_double_eq_tol(ag_tensor_grad(t[0])[1], 4 * f, 1e-15);
    ck_assert_double_eq_tol(ag_tensor_grad(t[1])[0], 12 * f, 1e-15);
    /* under the limit: unchanged (the factor would be >= 1) */
    ck_assert_double_eq_tol(ag_clip_grad_norm(2, t, 100.0), 6.5 * 13 / (13 + 1e-6), 1e-13);
    ck_assert(ag_tensor_grad(t[1])[0] == 12 * f);
    ck_assert(ag_clip_grad_norm(2, t, INFINITY) > 0 && ag_tensor_grad(t[1])[0] == 12 * f);
    ck_assert(isnan(ag_clip_grad_norm(2, t, -1)));
    ck_assert_last_error("ag_clip_grad_norm: max_norm is -1; it must be >= 0");
    ck_assert(isnan(ag_clip_grad_norm(2, NULL, 1)));
    ck_assert(ag_clip_grad_norm(0, NULL, 1) == 0.0);
    for (int i = 0; i < 3; i++) ag_tensor_free(t[i]);
}
END_TEST

/* PyTorch (error_if_nonfinite=False): a NaN total gives a NaN factor, which
 * torch.clamp(max=1) keeps: every gradient NaN. An infinite total gives a
 * factor 0: finite gradients 0, the infinite one Inf * 0 = NaN. */
START_TEST(clip_nan_and_inf_as_pytorch)
{
    ag_tensor *t[2] = {with_grad(2, (double[]){1, NAN}), with_grad(1, (double[]){2})};
    ck_assert(isnan(ag_clip_grad_norm(2, t, 1.0)));
    ck_assert(isnan(ag_tensor_grad(t[0])[0]) && isnan(ag_tensor_grad(t[1])[0]));
    ag_tensor *u[2] = {with_grad(2, (double[]){1, INFINITY}), with_grad(1, (double[]){-2})};
    ck_assert(isinf(ag_clip_grad_norm(2, u, 1.0)));
    ck_assert(ag_tensor_grad(u[0])[0] == 0.0 && isnan(ag_tensor_grad(u[0])[1]));
    ck_assert(ag_tensor_grad(u[1])[0] == 0.0);
    for (int i = 0; i < 2; i++) {
        ag_tensor_free(t[i]);
        ag_tensor_free(u[i]);
    }
}
END_TEST

/* Out of memory at each allocation of a training save or load in turn:
 * false, nothing leaked; a failed load changes nothing (store, step
 * count, iterator, generator), a failed save leaves the old file. */
START_TEST(out_of_memory_at_every_allocation)
{
    run r = run_new(AG_OPTIM_ADAM, 5);
    for (int s = 0; s < 3; s++) run_step(&r);
    ag_training_state st = state_of(&r);
    ck_assert(ag_checkpoint_save_training(r.ps, &st, path));
    counting_allocator_install(0);
    ck_assert(ag_checkpoint_save_training(r.ps, &st, path_a));
    long save_allocs = counting_allocations();
    counting_allocator_remove();
    for (long k = 1; k <= save_allocs; k++) {
        counting_allocator_install(k);
        bool ok = ag_checkpoint_save_training(r.ps, &st, path_a);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
        ck_assert_msg(!ok, "save succeeded with allocation %ld failing", k);
        ck_assert(same_files(path, path_a)); /* the old file, whole */
    }
    run fresh = run_new(AG_OPTIM_ADAM, 77);
    ag_training_state sf = state_of(&fresh);
    double *copy = store_copy(&fresh);
    ag_rng dropout_before = fresh.dropout;
    counting_allocator_install(0);
    ck_assert(ag_checkpoint_load_training(fresh.ps, &sf, path));
    long load_allocs = counting_allocations();
    counting_allocator_remove();
    run again = run_new(AG_OPTIM_ADAM, 77);
    ag_training_state sa = state_of(&again);
    for (long k = 1; k <= load_allocs; k++) {
        counting_allocator_install(k);
        bool ok = ag_checkpoint_load_training(again.ps, &sa, path);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
        ck_assert_msg(!ok, "load succeeded with allocation %ld failing", k);
        assert_store_unchanged(&again, copy);
        ck_assert_int_eq(ag_optimizer_steps(again.opt), 0);
        ck_assert_int_eq(ag_batches_epoch(again.batches), 0);
        ck_assert(again.dropout.state == dropout_before.state);
    }
    free(copy);
    run_free(&r);
    run_free(&fresh);
    run_free(&again);
}
END_TEST

Suite *training_suite(void)
{
    Suite *s = suite_create("training");
    TCase *tc = tcase_create("resume");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, resume_adam_bit_for_bit);
    tcase_add_test(tc, resume_sgd_momentum_bit_for_bit);
    tcase_add_test(tc, resume_adamw_bit_for_bit);
    tcase_add_test(tc, resume_without_moments_differs);
    tcase_add_test(tc, plain_load_of_a_training_file);
    tcase_add_test(tc, load_training_names_what_differs);
    tcase_add_test(tc, save_training_refuses_a_clashing_name);
    tcase_add_test(tc, batches_state_round_trip);
    tcase_add_test(tc, out_of_memory_at_every_allocation);
    suite_add_tcase(s, tc);
    TCase *sched = tcase_create("schedules");
    tcase_add_test(sched, step_lr_by_hand);
    tcase_add_test(sched, cosine_lr_by_hand);
    tcase_add_test(sched, warmup_lr_by_hand);
    tcase_add_test(sched, clip_by_hand);
    tcase_add_test(sched, clip_nan_and_inf_as_pytorch);
    suite_add_tcase(s, sched);
    return s;
}
