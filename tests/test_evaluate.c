/* test_evaluate.c -- the helpers around training: ag_train_test_split
 * (sizes as sklearn's ceil rule, disjoint and complete, seeded,
 * stratified shares), ag_standardizer_fit / apply against hand-computed
 * means and population standard deviations, ag_predict_classes (argmax,
 * first on ties) and ag_confusion against a hand-counted example. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* x [n,2] with row i = (i, -i), y [n] with y[i] = label(i). */
static void make_rows(int n, ag_tensor **x, ag_tensor **y, int (*label)(int))
{
    *x = ag_tensor_zeros(2, (int[]){n, 2});
    *y = ag_tensor_zeros(1, (int[]){n});
    ck_assert(*x && *y);
    for (int i = 0; i < n; i++) {
        ag_tensor_data(*x)[2 * i] = i;
        ag_tensor_data(*x)[2 * i + 1] = -i;
        ag_tensor_data(*y)[i] = label(i);
    }
}

static int label_times_ten(int i) { return 10 * i; }
static int class_50_30_20(int i) { return i < 50 ? 0 : i < 80 ? 1 : 2; }

/* Every row 0..n-1 appears exactly once over both sets, with its own y. */
static void assert_partition(const ag_split *s, int n, int (*label)(int))
{
    int *seen = calloc((size_t)n, sizeof *seen);
    const ag_tensor *xs[2] = {s->x_train, s->x_test}, *ys[2] = {s->y_train, s->y_test};
    for (int part = 0; part < 2; part++)
        for (int r = 0; r < ag_tensor_dim(xs[part], 0); r++) {
            double id = ag_tensor_data(xs[part])[2 * r];
            ck_assert(id >= 0 && id < n && id == floor(id));
            ck_assert(ag_tensor_data(xs[part])[2 * r + 1] == -id); /* the whole row moved */
            ck_assert(ag_tensor_data(ys[part])[r] == label((int)id));
            seen[(int)id]++;
        }
    for (int i = 0; i < n; i++) ck_assert_msg(seen[i] == 1, "row %d seen %d times", i, seen[i]);
    free(seen);
}

START_TEST(split_sizes_follow_the_ceil_rule)
{
    /* sklearn: n_test = ceil(test_size * n_samples), n_train = the rest */
    const struct { int n; double fraction; int n_test; } cases[] = {
        {10, 0.25, 3},  /* ceil(2.5) */
        {150, 0.2, 30}, /* 0.2 * 150 rounds to exactly 30.0 */
        {100, 0.55, 56}, /* 0.55 * 100 == 55.00000000000001 in doubles: ceil 56, as sklearn's */
        {7, 0.5, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ag_tensor *x, *y;
        make_rows(cases[c].n, &x, &y, label_times_ten);
        ag_split s;
        ck_assert_msg(ag_train_test_split(x, y, cases[c].fraction, false, 7, &s), "%s", ag_last_error());
        ck_assert_int_eq(ag_tensor_dim(s.x_test, 0), cases[c].n_test);
        ck_assert_int_eq(ag_tensor_dim(s.y_test, 0), cases[c].n_test);
        ck_assert_int_eq(ag_tensor_dim(s.x_train, 0), cases[c].n - cases[c].n_test);
        ck_assert_int_eq(ag_tensor_dim(s.x_train, 1), 2);
        assert_partition(&s, cases[c].n, label_times_ten);
        ag_split_free(&s);
        ck_assert_ptr_null(s.x_train); /* zeroed */
        ag_tensor_free(x);
        ag_tensor_free(y);
    }
}
END_TEST

/* The test set's ids, in order. */
static void test_ids(const ag_split *s, double *ids)
{
    for (int r = 0; r < ag_tensor_dim(s->x_test, 0); r++) ids[r] = ag_tensor_data(s->x_test)[2 * r];
}

START_TEST(split_is_seeded)
{
    ag_tensor *x, *y;
    make_rows(150, &x, &y, label_times_ten);
    ag_split a, b, c;
    ck_assert(ag_train_test_split(x, y, 0.2, false, 42, &a));
    ck_assert(ag_train_test_split(x, y, 0.2, false, 42, &b));
    ck_assert(ag_train_test_split(x, y, 0.2, false, 43, &c));
    double ia[30], ib[30], ic[30];
    test_ids(&a, ia);
    test_ids(&b, ib);
    test_ids(&c, ic);
    ck_assert(memcmp(ia, ib, sizeof ia) == 0);  /* same seed, same split and order */
    ck_assert(memcmp(ia, ic, sizeof ia) != 0);  /* another seed, another one */
    int ascending = 1;                          /* and shuffled, not the first 30 rows */
    for (int r = 1; r < 30; r++) ascending &= ia[r] > ia[r - 1];
    ck_assert(!ascending);
    /* without labels: the same rows as with them */
    ag_split d;
    ck_assert(ag_train_test_split(x, NULL, 0.2, false, 42, &d));
    ck_assert_ptr_null(d.y_train);
    ck_assert_ptr_null(d.y_test);
    double id[30];
    test_ids(&d, id);
    ck_assert(memcmp(ia, id, sizeof ia) == 0);
    ag_split_free(&a);
    ag_split_free(&b);
    ag_split_free(&c);
    ag_split_free(&d);
    ag_tensor_free(x);
    ag_tensor_free(y);
}
END_TEST

START_TEST(stratified_split_keeps_class_shares)
{
    /* classes of 50, 30, 20 rows, 25 test rows: 50*25/100 = 12.5, 30*25/100
     * = 7.5, 20*25/100 = 5: floors 12, 7, 5 (24), the one left to the largest
     * remainder (0.5 for classes 0 and 1; the tie to class 0): 13, 7, 5 */
    ag_tensor *x, *y;
    make_rows(100, &x, &y, class_50_30_20);
    for (unsigned long long seed = 1; seed <= 5; seed++) {
        ag_split s;
        ck_assert_msg(ag_train_test_split(x, y, 0.25, true, seed, &s), "%s", ag_last_error());
        int test[3] = {0}, train[3] = {0};
        for (int r = 0; r < 25; r++) test[(int)ag_tensor_data(s.y_test)[r]]++;
        for (int r = 0; r < 75; r++) train[(int)ag_tensor_data(s.y_train)[r]]++;
        ck_assert_int_eq(test[0], 13);
        ck_assert_int_eq(test[1], 7);
        ck_assert_int_eq(test[2], 5);
        ck_assert_int_eq(train[0], 37);
        ck_assert_int_eq(train[1], 23);
        ck_assert_int_eq(train[2], 15);
        assert_partition(&s, 100, class_50_30_20);
        ag_split_free(&s);
    }
    ag_tensor_free(x);
    ag_tensor_free(y);
}
END_TEST

START_TEST(split_rejects_bad_arguments)
{
    ag_tensor *x, *y;
    make_rows(4, &x, &y, label_times_ten);
    ag_split s;
    ck_assert(!ag_train_test_split(x, y, 0.0, false, 1, &s));
    ck_assert_last_error("ag_train_test_split: test_fraction 0 is not in (0, 1)");
    ck_assert(!ag_train_test_split(x, y, 1.0, false, 1, &s));
    ck_assert_last_error("test_fraction 1 is not in (0, 1)");
    ck_assert(!ag_train_test_split(x, y, 0.9, false, 1, &s)); /* ceil(3.6) = 4 of 4 */
    ck_assert_last_error("test_fraction 0.9 of 4 rows leaves no training row");
    ck_assert(!ag_train_test_split(x, NULL, 0.5, true, 1, &s));
    ck_assert_last_error("stratify needs labels y [N] of class indices");
    ag_tensor_data(y)[2] = 1.5;
    ck_assert(!ag_train_test_split(x, y, 0.5, true, 1, &s));
    ck_assert_last_error("stratify: label 2 is 1.5, not a class index");
    ag_tensor *y3 = ag_tensor_zeros(1, (int[]){3});
    ck_assert(!ag_train_test_split(x, y3, 0.5, false, 1, &s));
    ck_assert_last_error("ag_train_test_split: x must be [N,...] and y [N,...] or NULL; got x (4x2), y (3)");
    ck_assert_ptr_null(s.x_train);
    ag_tensor_free(y3);
    ag_tensor_free(x);
    ag_tensor_free(y);
}
END_TEST

START_TEST(standardizer_matches_hand_computation)
{
    /* columns: 1,2,3,6 (mean 3, squared deviations 4+1+0+9 = 14, population
     * variance 14/4 = 3.5); 10,20,60,30 (mean 30, 400+100+900+0 = 1400, 350);
     * 0.1 four times (constant: scale 1, as StandardScaler) */
    double train[] = {1, 10, 0.1, 2, 20, 0.1, 3, 60, 0.1, 6, 30, 0.1};
    ag_tensor *x = ag_tensor_from(2, (int[]){4, 3}, train);
    ag_tensor *mean = ag_tensor_zeros(1, (int[]){3}), *scale = ag_tensor_zeros(1, (int[]){3});
    ck_assert(ag_standardizer_fit(x, mean, scale));
    const double want_mean[] = {3, 30, 0.1}, want_scale[] = {sqrt(3.5), sqrt(350), 1};
    for (int j = 0; j < 3; j++) {
        ck_assert_double_eq_tol(ag_tensor_data(mean)[j], want_mean[j], 1e-15 * fabs(want_mean[j]));
        ck_assert_double_eq_tol(ag_tensor_data(scale)[j], want_scale[j], 1e-15 * want_scale[j]);
    }
    ck_assert(ag_standardizer_apply(mean, scale, x));
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(ag_tensor_data(x)[3 * i], (train[3 * i] - 3) / sqrt(3.5), 1e-14);
        ck_assert_double_eq_tol(ag_tensor_data(x)[3 * i + 1], (train[3 * i + 1] - 30) / sqrt(350), 1e-14);
        ck_assert(ag_tensor_data(x)[3 * i + 2] == 0); /* constant column: exactly 0 */
    }
    /* the training statistics applied to other rows */
    ag_tensor *other = ag_tensor_from(2, (int[]){1, 3}, (double[]){3, 30 + sqrt(350), 7});
    ck_assert(ag_standardizer_apply(mean, scale, other));
    ck_assert_double_eq_tol(ag_tensor_data(other)[0], 0, 1e-15);
    ck_assert_double_eq_tol(ag_tensor_data(other)[1], 1, 1e-15);
    ck_assert_double_eq_tol(ag_tensor_data(other)[2], 6.9, 1e-15);
    /* errors */
    ag_tensor *wrong = ag_tensor_zeros(1, (int[]){2});
    ck_assert(!ag_standardizer_fit(x, wrong, scale));
    ck_assert_last_error("ag_standardizer_fit: needs x [N,F], mean [F] and scale [F]; got x (4x3), "
                         "mean (2), scale (3)");
    ag_tensor *unfitted = ag_tensor_zeros(1, (int[]){3});
    ck_assert(!ag_standardizer_apply(mean, unfitted, x));
    ck_assert_last_error("ag_standardizer_apply: column 0: mean 3, scale 0 (the scale must be finite "
                         "and positive: was the standardiser fitted?)");
    ag_tensor_free(unfitted);
    ag_tensor_free(wrong);
    ag_tensor_free(other);
    ag_tensor_free(x);
    ag_tensor_free(mean);
    ag_tensor_free(scale);
}
END_TEST

START_TEST(predicted_classes_are_row_argmax)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *t = ag_tensor_from(2, (int[]){3, 3}, (double[]){1, 3, 2, 5, 5, 0, -1, -2, -3});
    ag_node *logits = ag_input(g, t);
    ag_tensor *p = ag_predict_classes(logits, 3);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(ag_tensor_dim(p, 0), 3);
    ck_assert(ag_tensor_data(p)[0] == 1);
    ck_assert(ag_tensor_data(p)[1] == 0); /* a tie: the first, as torch.argmax */
    ck_assert(ag_tensor_data(p)[2] == 0);
    ag_tensor_free(p);
    p = ag_predict_classes(logits, 2); /* a partial last batch */
    ck_assert_int_eq(ag_tensor_dim(p, 0), 2);
    ag_tensor_free(p);
    ck_assert_ptr_null(ag_predict_classes(logits, 4));
    ck_assert_last_error("ag_predict_classes: needs [N,C] logits and 0 < rows <= N; got logits (3x3), rows 4");
    ag_graph_free(g);
    ag_tensor_free(t);
}
END_TEST

START_TEST(confusion_matrix_by_hand)
{
    /* true  0 0 0 1 1 2 2 2 2
     * pred  0 1 0 1 1 2 0 2 1
     * rows true, columns predicted:  [2 1 0]
     *                                [0 2 0]
     *                                [1 1 2]
     * precision = diagonal / column sums: 2/3, 2/4, 2/2
     * recall    = diagonal / row sums:    2/3, 2/2, 2/4;  accuracy 6/9 */
    ag_tensor *labels = ag_tensor_from(1, (int[]){9}, (double[]){0, 0, 0, 1, 1, 2, 2, 2, 2});
    ag_tensor *pred = ag_tensor_from(1, (int[]){9}, (double[]){0, 1, 0, 1, 1, 2, 0, 2, 1});
    ag_confusion *c = ag_confusion_new(3);
    ck_assert(ag_confusion_add(c, labels, pred, 9));
    const long want[3][3] = {{2, 1, 0}, {0, 2, 0}, {1, 1, 2}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) ck_assert_int_eq(ag_confusion_count(c, i, j), want[i][j]);
    const double precision[] = {2.0 / 3, 0.5, 1}, recall[] = {2.0 / 3, 1, 0.5};
    for (int k = 0; k < 3; k++) {
        ck_assert_double_eq_tol(ag_confusion_precision(c, k), precision[k], 1e-15);
        ck_assert_double_eq_tol(ag_confusion_recall(c, k), recall[k], 1e-15);
    }
    ck_assert_double_eq_tol(ag_confusion_accuracy(c), 6.0 / 9, 1e-15);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert(ag_confusion_print(out, c, (const char *[]){"a", "b", "c"}));
    fclose(out);
    ck_assert_msg(strstr(text, "confusion matrix (rows: true class, columns: predicted class)\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n        c         1         1         2\n"), "%s", text);
    /* class b: precision 0.5, recall 1, f1 = 2 * 0.5 * 1 / 1.5 = 0.667, 2 samples */
    ck_assert_msg(strstr(text, "\n        b     0.500     1.000     0.667         2\n"), "%s", text);
    ck_assert_msg(strstr(text, " accuracy                         0.667         9\n"), "%s", text);
    free(text);
    /* a bad pair counts nothing */
    ag_tensor_data(pred)[4] = 3;
    ck_assert(!ag_confusion_add(c, labels, pred, 9));
    ck_assert_last_error("ag_confusion_add: row 4: prediction 3 is not a class index in [0, 3)");
    ck_assert_int_eq(ag_confusion_count(c, 0, 0), 2);
    ag_confusion_free(c);
    /* a class never predicted nor present: 0/0 reported as 0 (sklearn) */
    c = ag_confusion_new(4);
    ag_tensor_data(pred)[4] = 1;
    ck_assert(ag_confusion_add(c, labels, pred, 9));
    ck_assert(ag_confusion_precision(c, 3) == 0 && ag_confusion_recall(c, 3) == 0);
    ck_assert(isnan(ag_confusion_precision(c, 4)));
    ag_confusion_free(c);
    ck_assert_ptr_null(ag_confusion_new(0));
    ck_assert_last_error("ag_confusion_new: n_classes 0 is not in [1, 65536]");
    ag_tensor_free(labels);
    ag_tensor_free(pred);
}
END_TEST

Suite *evaluate_suite(void)
{
    Suite *s = suite_create("evaluate");
    TCase *tc = tcase_create("evaluate");
    tcase_add_test(tc, split_sizes_follow_the_ceil_rule);
    tcase_add_test(tc, split_is_seeded);
    tcase_add_test(tc, stratified_split_keeps_class_shares);
    tcase_add_test(tc, split_rejects_bad_arguments);
    tcase_add_test(tc, standardizer_matches_hand_computation);
    tcase_add_test(tc, predicted_classes_are_row_argmax);
    tcase_add_test(tc, confusion_matrix_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
