/* test_params.c -- the parameter store: add, lookup, insertion order, counts,
 * gradients, errors and out-of-memory without leaks. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

START_TEST(add_get_count_numel)
{
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ps);
    ck_assert_int_eq(ag_params_count(ps), 0);
    ck_assert_int_eq(ag_params_numel(ps), 0);
    ag_tensor *w = ag_params_add(ps, "fc1.W", 2, (int[]){4, 3});
    ag_tensor *b = ag_params_add(ps, "fc1.b", 1, (int[]){4});
    ag_tensor *s = ag_params_add(ps, "scale", 0, NULL);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ag_params_count(ps), 3);
    ck_assert_int_eq(ag_params_numel(ps), 12 + 4 + 1);
    ck_assert_ptr_eq(ag_params_get(ps, "fc1.W"), w);
    ck_assert_ptr_eq(ag_params_get(ps, "fc1.b"), b);
    ck_assert_ptr_eq(ag_params_get(ps, "scale"), s);
    ck_assert_ptr_null(ag_params_get(ps, "fc1"));
    ck_assert_ptr_null(ag_params_get(ps, "fc1.w")); /* case matters */
    ck_assert_str_eq(ag_tensor_name(w), "fc1.W");
    ck_assert_int_eq(ag_tensor_ndim(w), 2);
    ck_assert_int_eq(ag_tensor_dim(w, 0), 4);
    ck_assert_int_eq(ag_tensor_dim(w, 1), 3);
    ck_assert_int_eq(ag_tensor_ndim(s), 0);
    for (size_t i = 0; i < 12; i++) {
        ck_assert(ag_tensor_data(w)[i] == 0.0);
        ck_assert(ag_tensor_grad(w)[i] == 0.0); /* requires grad */
    }
    ck_assert_ptr_nonnull(ag_tensor_grad(s));
    ag_params_free(ps);
    ag_params_free(NULL);
}
END_TEST

START_TEST(insertion_order)
{
    /* names chosen so that neither alphabetical nor hash order matches */
    const char *names[] = {"zeta", "alpha", "mid", "b", "aa", "W2", "W1"};
    ag_params *ps = ag_params_new();
    for (int i = 0; i < 7; i++) ck_assert_ptr_nonnull(ag_params_add(ps, names[i], 1, (int[]){i + 1}));
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, i)), names[i]);
        ck_assert_int_eq(ag_tensor_size(ag_params_at(ps, i)), i + 1);
    }
    ck_assert_ptr_null(ag_params_at(ps, 7));
    ck_assert_ptr_null(ag_params_at(ps, (size_t)-1));
    ck_assert_int_eq(ag_params_numel(ps), 28); /* 1 + 2 + ... + 7 */
    ag_params_free(ps);
}
END_TEST

START_TEST(many_tensors_lookup)
{
    /* enough entries to make uthash grow its buckets several times */
    ag_params *ps = ag_params_new();
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "layer%d.weight", i);
        ck_assert_ptr_nonnull(ag_params_add(ps, name, 1, (int[]){1 + i % 3}));
    }
    ck_assert_int_eq(ag_params_count(ps), 2000);
    size_t expected_numel = 0;
    for (int i = 0; i < 2000; i++) expected_numel += (size_t)(1 + i % 3);
    ck_assert_int_eq(ag_params_numel(ps), expected_numel);
    for (int i = 1999; i >= 0; i--) {
        snprintf(name, sizeof name, "layer%d.weight", i);
        ck_assert_ptr_eq(ag_params_get(ps, name), ag_params_at(ps, (size_t)i));
        ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, (size_t)i)), name);
    }
    ag_params_free(ps);
}
END_TEST

START_TEST(duplicate_and_bad_names)
{
    ag_params *ps = ag_params_new();
    ag_tensor *w = ag_params_add(ps, "W", 2, (int[]){2, 2});
    ck_assert_ptr_null(ag_params_add(ps, "W", 1, (int[]){3}));
    ck_assert_last_error("ag_params_add: a tensor named 'W' is already in the store");
    ck_assert_ptr_eq(ag_params_get(ps, "W"), w); /* the first one stays */
    ck_assert_int_eq(ag_params_count(ps), 1);
    ck_assert_int_eq(ag_params_numel(ps), 4);
    ck_assert_ptr_null(ag_params_add(ps, "", 1, (int[]){3}));
    ck_assert_last_error("name '' is empty");
    ck_assert_ptr_null(ag_params_add(ps, "__metadata__", 1, (int[]){3}));
    ck_assert_last_error("reserved");
    ck_assert_ptr_null(ag_params_add(ps, NULL, 1, (int[]){3}));
    ck_assert_last_error("ag_params_add: name is NULL");
    ck_assert_ptr_null(ag_params_add(NULL, "x", 1, (int[]){3}));
    ck_assert_ptr_null(ag_params_add(ps, "bad", 2, (int[]){3, 0}));
    ck_assert_last_error("ag_params_add: 'bad': bad shape: every dimension must be positive");
    ck_assert_ptr_null(ag_params_add(ps, "huge", 3, (int[]){1 << 20, 1 << 20, 2}));
    ck_assert_last_error("too large");
    ck_assert_ptr_null(ag_params_add(ps, "deep", 5, (int[]){1, 1, 1, 1, 1}));
    ck_assert_int_eq(ag_params_count(ps), 1);
    ck_assert_ptr_null(ag_params_get(ps, "bad"));
    ck_assert_ptr_null(ag_params_get(ps, NULL));
    ck_assert_ptr_null(ag_params_get(NULL, "W"));
    ck_assert_int_eq(ag_params_count(NULL), 0);
    ck_assert_int_eq(ag_params_numel(NULL), 0);
    ck_assert_ptr_null(ag_params_at(NULL, 0));
    ag_params_free(ps);
}
END_TEST

START_TEST(rename_does_not_change_the_key)
{
    ag_params *ps = ag_params_new();
    ag_tensor *w = ag_params_add(ps, "W", 1, (int[]){2});
    ck_assert(ag_tensor_set_name(w, "renamed"));
    ck_assert_ptr_eq(ag_params_get(ps, "W"), w);
    ck_assert_ptr_null(ag_params_get(ps, "renamed"));
    ag_params_free(ps);
}
END_TEST

START_TEST(zero_grad_all)
{
    ag_params *ps = ag_params_new();
    ag_tensor *a = ag_params_add(ps, "a", 1, (int[]){3});
    ag_tensor *s = ag_params_add(ps, "s", 0, NULL);
    for (int i = 0; i < 3; i++) ag_tensor_grad(a)[i] = i + 1.5;
    ag_tensor_grad(s)[0] = -2;
    ag_tensor_data(a)[1] = 7; /* values are not touched */
    ag_params_zero_grad(ps);
    for (int i = 0; i < 3; i++) ck_assert(ag_tensor_grad(a)[i] == 0.0);
    ck_assert(ag_tensor_grad(s)[0] == 0.0);
    ck_assert(ag_tensor_data(a)[1] == 7.0);
    ag_params_zero_grad(NULL);
    ag_params_free(ps);
}
END_TEST

START_TEST(out_of_memory_everywhere)
{
    /* fail each allocation in turn while building a store of 40 tensors:
     * every failure is reported, the store stays consistent, nothing leaks */
    char name[16];
    long failures = 0;
    for (long k = 1;; k++) {
        counting_allocator_install(k);
        ag_params *ps = ag_params_new();
        int added = 0;
        bool failed = ps == NULL;
        for (int i = 0; ps && i < 40; i++) {
            snprintf(name, sizeof name, "p%d", i);
            ag_tensor *t = ag_params_add(ps, name, 1, (int[]){2});
            if (!t) {
                failed = true;
                ck_assert_last_error("out of memory");
                ck_assert_ptr_null(ag_params_get(ps, name));
            } else {
                added++;
            }
        }
        if (ps) {
            ck_assert_int_eq(ag_params_count(ps), added);
            ck_assert_int_eq(ag_params_numel(ps), 2 * added);
            for (int i = 0; i < added; i++) /* every added tensor is findable */
                ck_assert_ptr_eq(ag_params_get(ps, ag_tensor_name(ag_params_at(ps, i))),
                                 ag_params_at(ps, i));
        }
        ag_params_free(ps);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
        if (!failed) break;
        failures++;
    }
    ck_assert_int_gt(failures, 40 * 4); /* entry, key, tensor, data, grad, name each */
}
END_TEST

Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, add_get_count_numel);
    tcase_add_test(tc, insertion_order);
    tcase_add_test(tc, many_tensors_lookup);
    tcase_add_test(tc, duplicate_and_bad_names);
    tcase_add_test(tc, rename_does_not_change_the_key);
    tcase_add_test(tc, zero_grad_all);
    tcase_add_test(tc, out_of_memory_everywhere);
    suite_add_tcase(s, tc);
    return s;
}
