/* test_batches.c -- the mini-batch iterator: every sample once per epoch,
 * rows of x and y kept together, seeded and reproducible order, a uniform
 * shuffle, partial and dropped last batches, replay of a fixed-shape graph. */
#include <string.h>

#include "helpers.h"

#define N 10

static ag_tensor *x, *y, *bx, *by;

/* x row i = (i, 100 + i), y[i] = i; batches of 4 */
static void setup(void)
{
    double xs[2 * N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[2 * i] = i;
        xs[2 * i + 1] = 100 + i;
        ys[i] = i;
    }
    x = ag_tensor_from(2, (int[]){N, 2}, xs);
    y = ag_tensor_from(1, (int[]){N}, ys);
    bx = ag_tensor_zeros(2, (int[]){4, 2});
    by = ag_tensor_zeros(1, (int[]){4});
}

static void teardown(void)
{
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(bx);
    ag_tensor_free(by);
}

/* Run one epoch; order[] gets the samples in the order seen; returns how
 * many were seen. Checks each row's x matches its y. */
static int run_epoch(ag_batches *b, int *order, const int *expected_rows)
{
    int seen = 0, k = 0, rows;
    while ((rows = ag_batches_next(b, bx, by)) > 0) {
        if (expected_rows) ck_assert_int_eq(rows, expected_rows[k]);
        k++;
        for (int r = 0; r < rows; r++) {
            double s = ag_tensor_data(by)[r];
            ck_assert(ag_tensor_data(bx)[2 * r] == s);
            ck_assert(ag_tensor_data(bx)[2 * r + 1] == 100 + s);
            ck_assert_int_eq(ag_batches_sample(b, r), (size_t)s);
            order[seen++] = (int)s;
        }
        for (int r = rows; r < 4; r++) { /* a partial batch's tail is zeroed */
            ck_assert(ag_tensor_data(by)[r] == 0 && ag_tensor_data(bx)[2 * r + 1] == 0);
            ck_assert_int_eq(ag_batches_sample(b, r), (size_t)-1);
        }
    }
    ck_assert_int_eq(rows, 0);
    return seen;
}

static void assert_permutation(const int *order, int n)
{
    int count[N] = {0};
    for (int i = 0; i < n; i++) {
        ck_assert(order[i] >= 0 && order[i] < N);
        count[order[i]]++;
    }
    for (int i = 0; i < N; i++) ck_assert_msg(count[i] == 1, "sample %d seen %d times", i, count[i]);
}

START_TEST(every_sample_once_per_epoch)
{
    ag_batches *b = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE, 42);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(ag_batches_per_epoch(b), 3);
    ck_assert_int_eq(ag_batches_epoch(b), 0);
    int first[N], second[N];
    ck_assert_int_eq(run_epoch(b, first, (int[]){4, 4, 2}), N);
    assert_permutation(first, N);
    ck_assert_int_eq(ag_batches_epoch(b), 1);
    ck_assert_int_eq(run_epoch(b, second, (int[]){4, 4, 2}), N);
    assert_permutation(second, N);
    ck_assert_int_eq(ag_batches_epoch(b), 2);
    ck_assert_msg(memcmp(first, second, sizeof first) != 0, "epochs in the same order");
    ag_batches_free(b);
}
END_TEST

START_TEST(same_seed_same_order_other_seed_other_order)
{
    ag_batches *a = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE, 7);
    ag_batches *b = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE, 7);
    ag_batches *c = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE, 8);
    int oa[N], ob[N], oc[N];
    for (int epoch = 0; epoch < 3; epoch++) {
        run_epoch(a, oa, NULL);
        run_epoch(b, ob, NULL);
        run_epoch(c, oc, NULL);
        ck_assert(memcmp(oa, ob, sizeof oa) == 0);
        ck_assert(memcmp(oa, oc, sizeof oa) != 0);
    }
    ag_batches_free(a);
    ag_batches_free(b);
    ag_batches_free(c);
}
END_TEST

START_TEST(no_shuffle_is_in_order)
{
    ag_batches *b = ag_batches_new(x, y, 4, 0, 1);
    int order[N];
    for (int epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(run_epoch(b, order, (int[]){4, 4, 2}), N);
        for (int i = 0; i < N; i++) ck_assert_int_eq(order[i], i);
    }
    ag_batches_free(b);
}
END_TEST

START_TEST(drop_last)
{
    ag_batches *b = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE | AG_BATCHES_DROP_LAST, 3);
    ck_assert_int_eq(ag_batches_per_epoch(b), 2);
    int order[N];
    for (int epoch = 0; epoch < 3; epoch++) {
        ck_assert_int_eq(run_epoch(b, order, (int[]){4, 4}), 8);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < i; j++) ck_assert_int_ne(order[i], order[j]);
    }
    ag_batches_free(b);
    ck_assert_ptr_null(ag_batches_new(x, y, 11, AG_BATCHES_DROP_LAST, 3));
    ck_assert_last_error("batch size 11 with DROP_LAST leaves no batch of 10 samples");
    b = ag_batches_new(x, y, 11, 0, 3); /* without it: one partial batch */
    ck_assert_int_eq(ag_batches_per_epoch(b), 1);
    ag_batches_free(b);
}
END_TEST

/* Shuffling 3 samples: each of the 3! = 6 orders should come up with
 * probability 1/6. 60000 epochs: each count ~ 10000, sd ~ 91; allow 6 sd. */
START_TEST(shuffle_is_uniform)
{
    ag_tensor *x3 = ag_tensor_from(1, (int[]){3}, (double[]){0, 1, 2});
    ag_tensor *b1 = ag_tensor_zeros(1, (int[]){3});
    ag_batches *b = ag_batches_new(x3, NULL, 3, AG_BATCHES_SHUFFLE, 2024);
    int count[3][3][3] = {{{0}}};
    for (int epoch = 0; epoch < 60000; epoch++) {
        int rows = ag_batches_next(b, b1, NULL);
        ck_assert_in_loop(rows == 3, "epoch %d: a batch of %d rows, expected 3", epoch, rows);
        const double *v = ag_tensor_data(b1);
        count[(int)v[0]][(int)v[1]][(int)v[2]]++;
        rows = ag_batches_next(b, b1, NULL);
        ck_assert_in_loop(rows == 0, "epoch %d: %d rows after the last batch, expected 0", epoch, rows);
    }
    int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        int c = count[perms[p][0]][perms[p][1]][perms[p][2]];
        ck_assert_msg(c > 10000 - 550 && c < 10000 + 550, "order %d%d%d came %d times",
                      perms[p][0], perms[p][1], perms[p][2], c);
    }
    ag_batches_free(b);
    ag_tensor_free(x3);
    ag_tensor_free(b1);
}
END_TEST

START_TEST(rows_of_any_shape)
{
    /* images [5,2,3] into batches [2,6]; labels [5,1] into [2,1] */
    double img[30], lab[5];
    for (int i = 0; i < 30; i++) img[i] = i;
    for (int i = 0; i < 5; i++) lab[i] = 10 * i;
    ag_tensor *xi = ag_tensor_from(3, (int[]){5, 2, 3}, img);
    ag_tensor *yi = ag_tensor_from(2, (int[]){5, 1}, lab);
    ag_tensor *bxi = ag_tensor_zeros(2, (int[]){2, 6});
    ag_tensor *byi = ag_tensor_zeros(2, (int[]){2, 1});
    ag_batches *b = ag_batches_new(xi, yi, 2, AG_BATCHES_SHUFFLE, 5);
    int rows, total = 0;
    while ((rows = ag_batches_next(b, bxi, byi)) > 0)
        for (int r = 0; r < rows; r++, total++) {
            int s = (int)(ag_tensor_data(byi)[r] / 10);
            for (int k = 0; k < 6; k++) ck_assert(ag_tensor_data(bxi)[6 * r + k] == 6 * s + k);
        }
    ck_assert_int_eq(total, 5);
    /* a batch of the wrong shape is an error */
    ag_tensor *wrong = ag_tensor_zeros(2, (int[]){2, 5});
    ck_assert_int_eq(ag_batches_next(b, wrong, byi), -1);
    ck_assert_last_error("ag_batches_next: bx has shape (2x5); expected 2 rows of 6 elements");
    ck_assert_int_eq(ag_batches_next(b, bxi, wrong), -1);
    ck_assert_last_error("by has shape (2x5); expected 2 rows of 1 elements");
    ag_tensor *three = ag_tensor_zeros(2, (int[]){3, 6});
    ck_assert_int_eq(ag_batches_next(b, three, byi), -1);
    ag_tensor_free(wrong);
    ag_tensor_free(three);
    ag_batches_free(b);
    b = ag_batches_new(xi, NULL, 2, 0, 5);
    ck_assert_int_eq(ag_batches_next(b, bxi, byi), -1);
    ck_assert_last_error("by given but the iterator has no labels");
    ck_assert_int_eq(ag_batches_next(b, bxi, NULL), 2);
    ag_batches_free(b);
    ag_tensor_free(xi);
    ag_tensor_free(yi);
    ag_tensor_free(bxi);
    ag_tensor_free(byi);
}
END_TEST

START_TEST(bad_arguments)
{
    ag_tensor *y9 = ag_tensor_zeros(1, (int[]){9});
    ag_tensor *s = ag_tensor_scalar(1);
    ck_assert_ptr_null(ag_batches_new(x, y9, 4, 0, 1));
    ck_assert_last_error("x (10x2) and y (9) must have the same number of rows");
    ck_assert_ptr_null(ag_batches_new(s, NULL, 1, 0, 1));
    ck_assert_last_error("x must have a first (sample) dimension, got a scalar");
    ck_assert_ptr_null(ag_batches_new(NULL, NULL, 1, 0, 1));
    ck_assert_ptr_null(ag_batches_new(x, y, 0, 0, 1));
    ck_assert_last_error("batch size must be at least 1");
    ck_assert_ptr_null(ag_batches_new(x, y, 4, 8, 1));
    ck_assert_last_error("unknown flags");
    ck_assert_int_eq(ag_batches_next(NULL, bx, by), -1);
    ag_batches_free(NULL);
    ag_tensor_free(y9);
    ag_tensor_free(s);
}
END_TEST

/* x and y still hold the rows setup() made. */
static void assert_data_set_intact(void)
{
    for (int i = 0; i < N; i++) {
        ck_assert_msg(ag_tensor_data(x)[2 * i] == i && ag_tensor_data(x)[2 * i + 1] == 100 + i,
                      "x row %d overwritten", i);
        ck_assert_msg(ag_tensor_data(y)[i] == i, "y[%d] overwritten", i);
    }
}

START_TEST(batch_tensors_must_not_be_the_data)
{
    /* batches of all N rows: x itself fits as bx, and filling it from its
     * own shuffled rows would scramble the data set */
    ag_tensor *y2 = ag_tensor_zeros(2, (int[]){N, 2}); /* labels with x's row size */
    ag_tensor *bx_all = ag_tensor_zeros(2, (int[]){N, 2});
    ag_batches *b = ag_batches_new(x, y, N, AG_BATCHES_SHUFFLE, 3);
    ck_assert_int_eq(ag_batches_next(b, x, NULL), -1);
    ck_assert_last_error("ag_batches_next: bx shares its memory with the data set x");
    ck_assert_int_eq(ag_batches_next(b, bx_all, y), -1);
    ck_assert_last_error("ag_batches_next: by shares its memory with the labels y");
    assert_data_set_intact();
    ag_batches_free(b);
    b = ag_batches_new(x, y2, N, 0, 3);
    ck_assert_int_eq(ag_batches_next(b, y2, NULL), -1);
    ck_assert_last_error("bx shares its memory with the labels y");
    ck_assert_int_eq(ag_batches_next(b, bx_all, x), -1);
    ck_assert_last_error("by shares its memory with the data set x");
    ck_assert_int_eq(ag_batches_next(b, bx_all, bx_all), -1);
    ck_assert_last_error("bx and by share their memory");
    assert_data_set_intact();
    ck_assert_int_eq(ag_batches_next(b, bx_all, NULL), N); /* separate tensors: fine */
    ck_assert(ag_tensor_data(bx_all)[2 * (N - 1) + 1] == 100 + N - 1);
    ag_batches_free(b);
    ag_tensor_free(y2);
    ag_tensor_free(bx_all);
}
END_TEST

/* A graph recorded once on bx is replayed for every batch. */
START_TEST(replay_graph_on_batches)
{
    ag_batches *b = ag_batches_new(x, y, 4, AG_BATCHES_SHUFFLE, 11);
    ag_graph *g = ag_graph_new();
    ck_assert_int_eq(ag_batches_next(b, bx, by), 4);
    ag_node *total = ag_sum(ag_input(g, bx));
    ck_assert_ptr_nonnull(total);
    int rows = 4;
    double grand = 0;
    do {
        ck_assert(ag_graph_forward(g));
        double expected = 0; /* row s sums to s + 100 + s; zeroed rows add 0 */
        for (int r = 0; r < rows; r++) expected += 2 * ag_tensor_data(by)[r] + 100;
        ck_assert(ag_node_value(total)[0] == expected);
        grand += expected;
    } while ((rows = ag_batches_next(b, bx, by)) > 0);
    ck_assert(grand == 2 * 45 + 100 * N); /* every sample once */
    ag_graph_free(g);
    ag_batches_free(b);
}
END_TEST

START_TEST(out_of_memory)
{
    for (long k = 1; k <= 2; k++) {
        counting_allocator_install(k);
        ck_assert_ptr_null(ag_batches_new(x, y, 4, 0, 1));
        ck_assert_last_error("ag_batches_new: out of memory");
        counting_allocator_remove();
    }
}
END_TEST

Suite *batches_suite(void)
{
    Suite *s = suite_create("batches");
    TCase *tc = tcase_create("batches");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_sample_once_per_epoch);
    tcase_add_test(tc, same_seed_same_order_other_seed_other_order);
    tcase_add_test(tc, no_shuffle_is_in_order);
    tcase_add_test(tc, drop_last);
    tcase_add_test(tc, shuffle_is_uniform);
    tcase_add_test(tc, rows_of_any_shape);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, batch_tensors_must_not_be_the_data);
    tcase_add_test(tc, replay_graph_on_batches);
    tcase_add_test(tc, out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
