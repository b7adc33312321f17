/* test_faults.c -- allocation failure at every point of a full TestNet
 * training step (graph build, backward, optimiser, checkpoint save): each
 * gives a clear out-of-memory error, leaks nothing, and the same graph then
 * works after a reset, with gradients equal to the hand derivation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "testnet_model.h"

typedef struct step_setup {
    ag_params *store;
    testnet_model model;
    ag_optimizer *opt;
    char dir[64], path[96];
} step_setup;

static void setup_step(step_setup *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/agrad-faults-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    snprintf(s->path, sizeof s->path, "%s/testnet.safetensors", s->dir);
    s->store = ag_params_new();
    ck_assert(testnet_model_init_in(&s->model, s->store, &testnet_weights, testnet_a0, testnet_label));
    ag_tensor *params[] = {s->model.W1, s->model.b1, s->model.W2, s->model.b2};
    ag_optimizer_config c = ag_sgd_config(0.1);
    s->opt = ag_optimizer_new(4, params, &c);
    ck_assert_ptr_nonnull(s->opt);
}

static void teardown_step(step_setup *s)
{
    ag_optimizer_free(s->opt);
    testnet_model_free(&s->model);
    ag_params_free(s->store);
    unlink(s->path);
    rmdir(s->dir);
}

/* One full step; false with *error set on failure. */
static bool train_step(step_setup *s, ag_graph *g, const char **error)
{
    ag_optimizer_zero_grad(s->opt);
    if (!testnet_model_record(&s->model, g) || !ag_backward(g, s->model.J)) {
        *error = ag_graph_error(g);
        return false;
    }
    ag_optimizer_step(s->opt);
    if (!ag_checkpoint_save(s->store, s->path)) {
        *error = ag_last_error();
        return false;
    }
    return true;
}

/* After a step from the fixed weights, the gradients are the hand ones. */
static void assert_hand_gradients(const testnet_model *m)
{
    testnet_forward F;
    testnet_grads G;
    testnet_hand_forward(&testnet_weights, testnet_a0, testnet_label, &F);
    testnet_hand_backward(&testnet_weights, testnet_a0, testnet_label, &F, &G);
    ck_assert(ag_compare(NULL, NULL, NULL, NULL, 12, &G.W1[0][0], ag_tensor_grad(m->W1), 1e-12).pass);
    ck_assert(ag_compare(NULL, NULL, NULL, NULL, 2, G.b2, ag_tensor_grad(m->b2), 1e-12).pass);
}

START_TEST(every_allocation_of_a_train_step_can_fail)
{
    counting_allocator_install(0);
    step_setup s;
    setup_step(&s);
    const char *error = NULL;
    long before = counting_allocations();
    ag_graph *g = ag_graph_new();
    ck_assert_msg(train_step(&s, g, &error), "%s", error);
    long n = counting_allocations() - before;
    ag_graph_free(g);
    long live = counting_live_blocks();
    ck_assert_int_gt(n, 3);
    for (long k = 1; k <= n; k++) {
        testnet_model_set(&s.model, &testnet_weights);
        counting_allocator_fail_at(k);
        g = ag_graph_new();
        if (!g) {
            ck_assert_msg(strstr(ag_last_error(), "out of memory"), "k=%ld: %s", k, ag_last_error());
        } else {
            ck_assert_msg(!train_step(&s, g, &error), "k=%ld of %ld: the step did not fail", k, n);
            ck_assert_msg(error && strstr(error, "out of memory"), "k=%ld: unclear error '%s'", k, error);
        }
        counting_allocator_fail_at(0);
        if (!g) g = ag_graph_new();
        ag_graph_reset(g); /* the same graph works again */
        testnet_model_set(&s.model, &testnet_weights);
        ck_assert_msg(train_step(&s, g, &error), "k=%ld, after reset: %s", k, error);
        assert_hand_gradients(&s.model);
        ag_graph_free(g);
        ck_assert_msg(counting_live_blocks() == live, "k=%ld: %ld blocks leaked", k, counting_live_blocks() - live);
    }
    fprintf(stderr, "fault injection: all %ld allocations of a TestNet train step failed in turn, "
                    "each reported and recovered, nothing leaked\n", n);
    teardown_step(&s);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}
END_TEST

/* The store's names: the tensor it held before ag_mlp_new, then the MLP's. */
static const char *const mlp_store_names[] = {"old", "net1.W", "net1.b", "net2.W", "net2.b", "net3.W", "net3.b"};

static ag_params *store_with_one_tensor(void)
{
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(ps, "old", 1, (int[]){2}));
    return ps;
}

START_TEST(mlp_new_out_of_memory_at_every_allocation)
{
    int widths[] = {3, 5, 4, 2};
    ag_activation acts[] = {AG_ACT_RELU, AG_ACT_TANH, AG_ACT_NONE};
    ag_rng r = ag_rng_new(5);
    counting_allocator_install(0);
    ag_params *ps = store_with_one_tensor();
    long before = counting_allocations();
    ag_mlp *m = ag_mlp_new(ps, "net", 3, widths, acts, &r);
    long n = counting_allocations() - before;
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(ag_params_count(ps), 7);
    ag_mlp_free(m);
    ag_params_free(ps);
    ck_assert_int_gt(n, 6);
    for (long k = 1; k <= n; k++) {
        ps = store_with_one_tensor();
        size_t numel_before = ag_params_numel(ps);
        counting_allocator_fail_at(k);
        m = ag_mlp_new(ps, "net", 3, widths, acts, &r);
        counting_allocator_fail_at(0);
        ck_assert_msg(m == NULL, "k=%ld of %ld: ag_mlp_new did not fail", k, n);
        ck_assert_msg(strstr(ag_last_error(), "ag_mlp_new: ") && strstr(ag_last_error(), "out of memory"),
                      "k=%ld: unclear error '%s'", k, ag_last_error());
        /* rolled back: the store holds its one tensor again, nothing else */
        ck_assert_msg(ag_params_count(ps) == 1, "k=%ld: %zu tensors left in the store", k,
                      ag_params_count(ps));
        ck_assert_int_eq(ag_params_numel(ps), numel_before);
        ck_assert_ptr_null(ag_params_get(ps, mlp_store_names[1]));
        /* the names are free again: the same call now succeeds, in order */
        m = ag_mlp_new(ps, "net", 3, widths, acts, &r);
        ck_assert_msg(m != NULL, "k=%ld: retry failed: %s", k, ag_last_error());
        for (size_t i = 0; i < 7; i++)
            ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, i)), mlp_store_names[i]);
        ag_mlp_free(m);
        ag_params_free(ps);
        ck_assert_msg(counting_live_blocks() == 0, "k=%ld: %ld blocks leaked", k, counting_live_blocks());
    }
    fprintf(stderr, "fault injection: all %ld allocations of ag_mlp_new failed in turn, each reported "
                    "and rolled back, nothing leaked\n", n);
    counting_allocator_remove();
}
END_TEST

/* ag_optimizer_new out of memory at each of its allocations: NULL and a
 * message naming it (the old code left only the allocator's "out of memory
 * (N bytes)"). */
START_TEST(optimizer_new_out_of_memory_says_so)
{
    ag_tensor *w = ag_tensor_zeros(2, (int[]){3, 4});
    ag_tensor_requires_grad(w, true);
    ag_optimizer_config c = ag_adam_config(0.01);
    counting_allocator_install(0);
    long before = counting_allocations();
    ag_optimizer *o = ag_optimizer_new(1, &w, &c);
    long n = counting_allocations() - before;
    ck_assert_ptr_nonnull(o);
    ag_optimizer_free(o);
    ck_assert_int_ge(n, 3); /* the optimiser, its list, two moment buffers */
    for (long k = 1; k <= n; k++) {
        counting_allocator_fail_at(k);
        o = ag_optimizer_new(1, &w, &c);
        counting_allocator_fail_at(0);
        ck_assert_msg(o == NULL, "k=%ld: did not fail", k);
        ck_assert_msg(strstr(ag_last_error(), "ag_optimizer_new: out of memory"), "k=%ld: '%s'", k,
                      ag_last_error());
    }
    counting_allocator_remove();
    ag_tensor_free(w);
}
END_TEST

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("allocation failure injection");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_allocation_of_a_train_step_can_fail);
    tcase_add_test(tc, mlp_new_out_of_memory_at_every_allocation);
    tcase_add_test(tc, optimizer_new_out_of_memory_says_so);
    suite_add_tcase(s, tc);
    return s;
}
