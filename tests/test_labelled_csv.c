/* test_labelled_csv.c -- ag_csv_load_labelled: header names, RFC 4180
 * quoting ("..." with "" escapes, commas and line breaks inside), string and
 * numeric labels and the order of their classes (sorted, as sklearn's
 * LabelEncoder), a given class list, the shipped data/iris_labelled.csv
 * against data/iris.csv, and every error message with its line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64];
static char path[128];

static void setup(void) { scratch_create(dir, path, "lcsv", "data.csv"); }
static void teardown(void) { scratch_remove(dir, path); }

static void write_text(const char *text) { write_text_file(path, text); }

static ag_labelled_csv *load_text(const char *text, const char *label_column)
{
    write_text(text);
    ag_labelled_csv *d = ag_csv_load_labelled(path, label_column, NULL, 0);
    ck_assert_msg(d != NULL, "%s", ag_last_error());
    return d;
}

static void assert_values(const ag_tensor *t, size_t n, const double *expected)
{
    ck_assert_uint_eq(ag_tensor_size(t), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ag_tensor_data(t)[i] == expected[i], "element %zu = %.17g, expected %.17g", i,
                      ag_tensor_data(t)[i], expected[i]);
}

static void assert_classes(const ag_labelled_csv *d, int n, const char *const *names)
{
    ck_assert_int_eq(d->n_classes, n);
    for (int k = 0; k < n; k++) ck_assert_str_eq(d->class_names[k], names[k]);
}

/* The load fails and the message holds `expected` (and the path). */
static void assert_rejected(const char *text, const char *label_column, const char *expected)
{
    write_text(text);
    ck_assert_ptr_null(ag_csv_load_labelled(path, label_column, NULL, 0));
    ck_assert_last_error("ag_csv_load_labelled: ");
    ck_assert_last_error(path);
    ck_assert_last_error(expected);
}

START_TEST(quoted_fields_and_escaped_quotes)
{
    /* RFC 4180: a quoted field may hold commas, "" for one quote, and line
     * breaks; numbers may be quoted too; blanks around a field are dropped */
    ag_labelled_csv *d = load_text("id,\"x \"\"q\"\"\",label\n"
                                   "\"1.5\", 2 ,\"a,b\"\n"
                                   "3,\"4\" , \"he said \"\"hi\"\"\"\n"
                                   "5,6,\"two\nlines\"\n", NULL);
    ck_assert_int_eq(d->n_features, 2);
    ck_assert_str_eq(d->feature_names[0], "id");
    ck_assert_str_eq(d->feature_names[1], "x \"q\"");
    ck_assert_str_eq(d->label_name, "label");
    ck_assert_int_eq(ag_tensor_dim(d->features, 0), 3);
    assert_values(d->features, 6, (double[]){1.5, 2, 3, 4, 5, 6});
    /* byte order: 'a' (0x61) < 'h' (0x68) < 't' (0x74) */
    assert_classes(d, 3, (const char *[]){"a,b", "he said \"hi\"", "two\nlines"});
    assert_values(d->labels, 3, (double[]){0, 1, 2});
    ag_labelled_csv_free(d);
}
END_TEST

START_TEST(string_labels_are_sorted_classes)
{
    /* LabelEncoder().fit(["virginica","setosa","versicolor","setosa"])
     * .classes_ == ["setosa","versicolor","virginica"]; transform -> 2,0,1,0 */
    ag_labelled_csv *d = load_text("a,species\n1,virginica\n2,setosa\n3,versicolor\n4,setosa\n", NULL);
    assert_classes(d, 3, (const char *[]){"setosa", "versicolor", "virginica"});
    assert_values(d->labels, 4, (double[]){2, 0, 1, 0});
    ag_labelled_csv_free(d);
    /* by bytes: upper case before lower case, as Python's sorted() */
    d = load_text("a,c\n1,b\n2,B\n3,a\n", NULL);
    assert_classes(d, 3, (const char *[]){"B", "a", "b"});
    assert_values(d->labels, 3, (double[]){2, 0, 1});
    ag_labelled_csv_free(d);
}
END_TEST

START_TEST(numeric_labels_sort_as_numbers)
{
    /* all numbers: numeric order (10 after 9), as LabelEncoder on ints */
    ag_labelled_csv *d = load_text("x,y\n0,2\n0,0\n0,1\n0,10\n0,9\n", NULL);
    assert_classes(d, 5, (const char *[]){"0", "1", "2", "9", "10"});
    assert_values(d->labels, 5, (double[]){2, 0, 1, 4, 3});
    ag_labelled_csv_free(d);
    /* 1 and 1.0 are one class, named as first written; quoted numbers too */
    d = load_text("x,y\n0,1.0\n0,\"1\"\n0,-3\n", NULL);
    assert_classes(d, 2, (const char *[]){"-3", "1.0"});
    assert_values(d->labels, 3, (double[]){1, 1, 0});
    ag_labelled_csv_free(d);
    /* one label that is not a number: every label sorts as text ("10" < "9") */
    d = load_text("x,y\n0,9\n0,10\n0,n/a\n", NULL);
    assert_classes(d, 3, (const char *[]){"10", "9", "n/a"});
    assert_values(d->labels, 3, (double[]){1, 0, 2});
    ag_labelled_csv_free(d);
}
END_TEST

START_TEST(label_column_by_name_crlf_and_bom)
{
    ag_labelled_csv *d = load_text("\xEF\xBB\xBFspecies,w,h\r\nb,1,2\r\n\r\n  \r\na,3,4\r\n", "species");
    ck_assert_str_eq(d->label_name, "species");
    ck_assert_int_eq(d->n_features, 2);
    ck_assert_str_eq(d->feature_names[0], "w");
    ck_assert_str_eq(d->feature_names[1], "h");
    assert_values(d->features, 4, (double[]){1, 2, 3, 4});
    assert_values(d->labels, 2, (double[]){1, 0});
    ag_labelled_csv_free(d);
}
END_TEST

START_TEST(given_classes_keep_their_indices)
{
    /* a file with some of a checkpoint's classes: indices are the list's */
    const char *classes[] = {"setosa", "versicolor", "virginica"};
    write_text("a,species\n1,virginica\n2,versicolor\n");
    ag_labelled_csv *d = ag_csv_load_labelled(path, NULL, classes, 3);
    ck_assert_msg(d != NULL, "%s", ag_last_error());
    assert_classes(d, 3, classes);
    assert_values(d->labels, 2, (double[]){2, 1});
    ag_labelled_csv_free(d);
    /* numbers match as numbers: "2.0" is class "2" */
    write_text("a,k\n1,2.0\n2,0\n");
    d = ag_csv_load_labelled(path, NULL, (const char *[]){"0", "1", "2"}, 3);
    ck_assert_msg(d != NULL, "%s", ag_last_error());
    assert_values(d->labels, 2, (double[]){2, 0});
    ag_labelled_csv_free(d);
    /* the same text wins over the same number: classes "1" and "1.0" are
     * distinct when some label is not a number, and "1.0" is class 1 */
    write_text("a,k\n1,1.0\n2,1\n3,x\n");
    d = ag_csv_load_labelled(path, NULL, NULL, 0);
    ck_assert_msg(d != NULL, "%s", ag_last_error());
    assert_classes(d, 3, (const char *[]){"1", "1.0", "x"});
    assert_values(d->labels, 3, (double[]){1, 0, 2});
    ag_labelled_csv *again = ag_csv_load_labelled(path, NULL, (const char *const *)d->class_names, 3);
    ck_assert_msg(again != NULL, "%s", ag_last_error());
    assert_values(again->labels, 3, (double[]){1, 0, 2});
    ag_labelled_csv_free(again);
    ag_labelled_csv_free(d);
    write_text("a,species\n1,setosa\n2,rose\n");
    ck_assert_ptr_null(ag_csv_load_labelled(path, NULL, classes, 3));
    ck_assert_last_error("line 3 column 2 ('species'): 'rose' is not one of the 3 classes given "
                         "(setosa, versicolor, virginica)");
    ck_assert_ptr_null(ag_csv_load_labelled(path, NULL, classes, 0));
    ck_assert_last_error("ag_csv_load_labelled: classes given with n_classes <= 0");
}
END_TEST

START_TEST(iris_labelled_matches_iris)
{
    /* the shipped labelled file is data/iris.csv with its codes 0, 1, 2
     * spelled setosa, versicolor, virginica (the first line of iris.csv
     * names them in that order): every value and label the same */
    ag_labelled_csv *d = ag_csv_load_labelled("data/iris_labelled.csv", "species", NULL, 0);
    ck_assert_msg(d != NULL, "%s", ag_last_error());
    ag_tensor *m = ag_csv_load("data/iris.csv", 1), *x, *y;
    ck_assert_ptr_nonnull(m);
    ck_assert(ag_split_labels(m, -1, 3, &x, &y));
    ck_assert_int_eq(ag_tensor_dim(d->features, 0), 150);
    ck_assert_int_eq(ag_tensor_dim(d->features, 1), 4);
    assert_values(d->features, 600, ag_tensor_data(x));
    assert_values(d->labels, 150, ag_tensor_data(y));
    assert_classes(d, 3, (const char *[]){"setosa", "versicolor", "virginica"});
    const char *names[] = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
    for (int j = 0; j < 4; j++) ck_assert_str_eq(d->feature_names[j], names[j]);
    int count[3] = {0};
    for (int i = 0; i < 150; i++) count[(int)ag_tensor_data(d->labels)[i]]++;
    for (int k = 0; k < 3; k++) ck_assert_int_eq(count[k], 50); /* Fisher's 50 of each */
    ag_tensor_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_labelled_csv_free(d);
}
END_TEST

START_TEST(errors_name_line_and_column)
{
    assert_rejected("a,b,c\n1,2,x\n1,abc,y\n", NULL, "line 3 column 2 ('b'): 'abc' is not a finite number");
    assert_rejected("a,b,c\n1,,x\n", NULL, "line 2 column 2 ('b'): empty field");
    assert_rejected("a,b,c\n1,2,\"\"\n", NULL, "line 2 column 3 ('c'): empty label");
    assert_rejected("a,b,c\n1,2,x\n1,2\n", NULL, "line 3: expected 3 fields (as the header has), found 2");
    /* a quoted line break counts: the bad field is on line 4 */
    assert_rejected("a,lab\n1,\"x\ny\"\nq,z\n", NULL, "line 4 column 1 ('a'): 'q' is not a finite number");
    assert_rejected("a,b\n1,\"open\n2,x\n", NULL, "line 2 column 2: the quoted field opened here is never closed");
    assert_rejected("a,b\n1,\"x\"y\n", NULL, "line 2 column 2: 'y' after the closing quote (expected a "
                                             "comma or the end of the line)");
    assert_rejected("a,b\n1,x\"y\"\n", NULL, "line 2 column 2: a quote inside an unquoted field");
    assert_rejected("a,b\n1,inf\n", "a", "line 2 column 2 ('b'): 'inf' is not a finite number");
    assert_rejected("a,b\n1,x\n", "species", "line 1: no column is named 'species' (the header's first "
                                            "is 'a', its last 'b')");
    assert_rejected("a,b,a\n1,2,x\n", NULL, "line 1: columns 1 and 3 are both named 'a'");
    assert_rejected("a,,c\n1,2,x\n", NULL, "line 1 column 2: empty column name");
    assert_rejected("label\nx\n", NULL, "line 1: the header has 1 column; a labelled table needs a label "
                                       "column and at least one feature column");
    assert_rejected("\n  \n", NULL, "the file is empty (it needs a header row)");
    assert_rejected("a,b\n", NULL, "no data rows after the header");
    ck_assert_ptr_null(ag_csv_load_labelled("/nonexistent/x.csv", NULL, NULL, 0));
    ck_assert_last_error("ag_csv_load_labelled: /nonexistent/x.csv: cannot open");
    FILE *f = fopen(path, "wb");
    ck_assert_int_eq(fwrite("a,b\n1,x\0y\n", 1, 10, f), 10);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_null(ag_csv_load_labelled(path, NULL, NULL, 0));
    ck_assert_last_error("line 2 column 2: NUL byte in a field");
}
END_TEST

START_TEST(out_of_memory_while_loading)
{
    counting_allocator_install(0);
    ag_labelled_csv *d = ag_csv_load_labelled("data/iris_labelled.csv", NULL, NULL, 0);
    long total = counting_allocations();
    ag_labelled_csv_free(d);
    counting_allocator_remove();
    for (long k = 1; k <= total; k++) { /* each allocation fails in turn */
        counting_allocator_install(k);
        d = ag_csv_load_labelled("data/iris_labelled.csv", NULL, NULL, 0);
        ck_assert_msg(d == NULL, "allocation %ld of %ld failed unnoticed", k, total);
        ck_assert_last_error("ag_csv_load_labelled: data/iris_labelled.csv");
        ck_assert_last_error("out of memory");
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
}
END_TEST

Suite *labelled_csv_suite(void)
{
    Suite *s = suite_create("labelled_csv");
    TCase *tc = tcase_create("labelled csv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, quoted_fields_and_escaped_quotes);
    tcase_add_test(tc, string_labels_are_sorted_classes);
    tcase_add_test(tc, numeric_labels_sort_as_numbers);
    tcase_add_test(tc, label_column_by_name_crlf_and_bom);
    tcase_add_test(tc, given_classes_keep_their_indices);
    tcase_add_test(tc, iris_labelled_matches_iris);
    tcase_add_test(tc, errors_name_line_and_column);
    tcase_add_test(tc, out_of_memory_while_loading);
    suite_add_tcase(s, tc);
    return s;
}
