/* test_data.c -- numeric CSV files: values, header skipping, line endings,
 * Iris, strict rejection of malformed files with line and column, feature /
 * label splitting, out-of-memory without leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64];
static char path[128];

static void setup(void) { scratch_create(dir, path, "csv", "data.csv"); }
static void teardown(void) { scratch_remove(dir, path); }

static void write_text(const char *text) { write_text_file(path, text); }

static void assert_matrix(const ag_tensor *t, int rows, int cols, const double *expected)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(ag_tensor_ndim(t), 2);
    ck_assert_int_eq(ag_tensor_dim(t, 0), rows);
    ck_assert_int_eq(ag_tensor_dim(t, 1), cols);
    for (int i = 0; i < rows * cols; i++)
        ck_assert_msg(ag_tensor_data(t)[i] == expected[i], "element %d = %.17g, expected %.17g",
                      i, ag_tensor_data(t)[i], expected[i]);
}

START_TEST(good_file_values)
{
    write_text("1,2,3\n4.5, -6 ,7e2\n\t-0.25,1e-3 ,  8\n");
    ag_tensor *t = ag_csv_load(path, 0);
    assert_matrix(t, 3, 3, (double[]){1, 2, 3, 4.5, -6, 700, -0.25, 0.001, 8});
    ag_tensor_free(t);
}
END_TEST

START_TEST(header_crlf_blank_lines_no_final_newline)
{
    write_text("a,b\r\nunits: cm,cm\r\n1,2\r\n\r\n   \r\n3,4");
    ag_tensor *t = ag_csv_load(path, 2);
    ck_assert_msg(t != NULL, "%s", ag_last_error());
    assert_matrix(t, 2, 2, (double[]){1, 2, 3, 4});
    ag_tensor_free(t);
    write_text("\xEF\xBB\xBF" "5,6\n"); /* UTF-8 byte order mark */
    t = ag_csv_load(path, 0);
    assert_matrix(t, 1, 2, (double[]){5, 6});
    ag_tensor_free(t);
    write_text("7\n8\n"); /* one column */
    t = ag_csv_load(path, 0);
    assert_matrix(t, 2, 1, (double[]){7, 8});
    ag_tensor_free(t);
}
END_TEST

/* Iris (UCI, CC BY 4.0): first line "150,4,setosa,versicolor,virginica". */
START_TEST(iris_loads)
{
    ag_tensor *m = ag_csv_load("data/iris.csv", 1);
    ck_assert_msg(m != NULL, "%s", ag_last_error());
    ck_assert_int_eq(ag_tensor_dim(m, 0), 150);
    ck_assert_int_eq(ag_tensor_dim(m, 1), 5);
    ag_tensor *x, *y;
    ck_assert_msg(ag_split_labels(m, -1, 3, &x, &y), "%s", ag_last_error());
    ck_assert_int_eq(ag_tensor_dim(x, 0), 150);
    ck_assert_int_eq(ag_tensor_dim(x, 1), 4);
    ck_assert_int_eq(ag_tensor_ndim(y), 1);
    ck_assert_int_eq(ag_tensor_dim(y, 0), 150);
    /* line 2 of the file: 5.1,3.5,1.4,0.2,0 */
    const double first[4] = {5.1, 3.5, 1.4, 0.2};
    for (int j = 0; j < 4; j++) ck_assert(ag_tensor_data(x)[j] == first[j]);
    ck_assert(ag_tensor_data(y)[0] == 0);
    /* line 52: 7.0,3.2,4.7,1.4,1 (first versicolor); last line: 5.9,3.0,5.1,1.8,2 */
    ck_assert(ag_tensor_data(x)[50 * 4 + 2] == 4.7);
    ck_assert(ag_tensor_data(y)[50] == 1);
    ck_assert(ag_tensor_data(x)[149 * 4 + 3] == 1.8);
    ck_assert(ag_tensor_data(y)[149] == 2);
    int count[3] = {0, 0, 0}; /* Fisher's data: 50 of each species */
    for (int i = 0; i < 150; i++) count[(int)ag_tensor_data(y)[i]]++;
    ck_assert(count[0] == 50 && count[1] == 50 && count[2] == 50);
    ag_tensor_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
    /* not skipping the header line is an error naming it */
    ck_assert_ptr_null(ag_csv_load("data/iris.csv", 0));
    ck_assert_last_error("ag_csv_load: data/iris.csv line 1 column 3: 'setosa' is not a number");
}
END_TEST

/* Loading `text` fails with a message containing `expected`. */
static void assert_rejected(const char *text, int skip, const char *expected)
{
    write_text(text);
    ag_tensor *t = ag_csv_load(path, skip);
    ck_assert_msg(t == NULL, "accepted '%s'", text);
    ck_assert_last_error("ag_csv_load: ");
    ck_assert_last_error(path);
    ck_assert_last_error(expected);
}

START_TEST(malformed_files)
{
    assert_rejected("1,2\n3\n", 0, "line 2: expected 2 fields, found 1");
    assert_rejected("h\n1,2\n3,4\n5,6,7\n", 1, "line 4: expected 2 fields, found 3");
    assert_rejected("1,2\n3,abc\n", 0, "line 2 column 2: 'abc' is not a number");
    assert_rejected("1,2x\n", 0, "line 1 column 2: '2x' is not a number");
    assert_rejected("1 2,3\n", 0, "line 1 column 1: '1 2' is not a number");
    assert_rejected("1,,3\n", 0, "line 1 column 2: empty field");
    assert_rejected("1,2,\n", 0, "line 1 column 3: empty field");
    assert_rejected("1,nan\n", 0, "line 1 column 2: 'nan' is not a finite number");
    assert_rejected("inf,1\n", 0, "column 1: 'inf' is not a finite number");
    assert_rejected("1e999,1\n", 0, "'1e999' is not a finite number");
    assert_rejected("", 0, "no data rows (after skipping 0 lines)");
    assert_rejected("\n\n  \n", 0, "no data rows");
    assert_rejected("150,4,setosa\n", 1, "no data rows (after skipping 1 lines)");
    char longfield[400];
    memset(longfield, '1', 300);
    strcpy(longfield + 300, "\n");
    assert_rejected(longfield, 0, "line 1 column 1: field is longer than 255 characters");
    ck_assert_ptr_null(ag_csv_load(path, -1));
    ck_assert_last_error("skip_lines is negative");
    ck_assert_ptr_null(ag_csv_load(NULL, 0));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.csv", dir);
    ck_assert_ptr_null(ag_csv_load(missing, 0));
    ck_assert_last_error("cannot open");
    ck_assert_ptr_null(ag_csv_load(dir, 0)); /* a directory */
    ck_assert_last_error("read error");
}
END_TEST

START_TEST(large_file_grows_buffers)
{
    /* 3000 rows: more than the first read chunk and the first values block */
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 3000; i++) fprintf(f, "%d,%d.5,%d\n", i, -i, i % 7);
    fclose(f);
    ag_tensor *t = ag_csv_load(path, 0);
    ck_assert_msg(t != NULL, "%s", ag_last_error());
    ck_assert_int_eq(ag_tensor_dim(t, 0), 3000);
    for (int i = 0; i < 3000; i += 499) {
        ck_assert(ag_tensor_data(t)[3 * i] == i);
        ck_assert(ag_tensor_data(t)[3 * i + 1] == -i - 0.5 + (i == 0 ? 1 : 0));
        ck_assert(ag_tensor_data(t)[3 * i + 2] == i % 7);
    }
    ag_tensor_free(t);
}
END_TEST

START_TEST(split_labels)
{
    ag_tensor *m = ag_tensor_from(2, (int[]){3, 3}, (double[]){2, 10, 11, 0, 20, 21, 1, 30, 31});
    ag_tensor *x, *y;
    ck_assert(ag_split_labels(m, 0, 3, &x, &y)); /* label in the first column */
    ck_assert_int_eq(ag_tensor_dim(x, 1), 2);
    const double ex[6] = {10, 11, 20, 21, 30, 31}, ey[3] = {2, 0, 1};
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_data(x)[i] == ex[i]);
    for (int i = 0; i < 3; i++) ck_assert(ag_tensor_data(y)[i] == ey[i]);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ck_assert(ag_split_labels(m, 1, 0, &x, &y)); /* middle column, no class check */
    const double ex2[6] = {2, 11, 0, 21, 1, 31}, ey2[3] = {10, 20, 30};
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_data(x)[i] == ex2[i]);
    for (int i = 0; i < 3; i++) ck_assert(ag_tensor_data(y)[i] == ey2[i]);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ck_assert(!ag_split_labels(m, 0, 2, &x, &y));
    ck_assert_last_error("ag_split_labels: row 0: label 2 is not a class index in [0, 2)");
    ck_assert_ptr_null(x);
    ck_assert_ptr_null(y);
    ck_assert(!ag_split_labels(m, -1, 3, &x, &y));
    ck_assert_last_error("row 0: label 11 is not a class index");
    ck_assert(!ag_split_labels(m, 3, 0, &x, &y));
    ck_assert_last_error("label column 3 is out of range for 3 columns");
    ck_assert(!ag_split_labels(m, -4, 0, &x, &y));
    ag_tensor *half = ag_tensor_from(2, (int[]){1, 2}, (double[]){1, 0.5});
    ck_assert(!ag_split_labels(half, 1, 3, &x, &y));
    ck_assert_last_error("label 0.5 is not a class index");
    ag_tensor *v = ag_tensor_zeros(1, (int[]){4});
    ck_assert(!ag_split_labels(v, 0, 0, &x, &y));
    ck_assert_last_error("expected an [N,C] matrix with C >= 2, got (4)");
    ag_tensor_free(m);
    ag_tensor_free(half);
    ag_tensor_free(v);
}
END_TEST

START_TEST(out_of_memory_while_loading)
{
    counting_allocator_install(0); /* how many allocations a successful load makes */
    ag_tensor *t = ag_csv_load("data/iris.csv", 1);
    long total = counting_allocations();
    ag_tensor_free(t);
    counting_allocator_remove();
    long failures = 0;
    for (long k = 1; k <= total; k++) { /* fail each one in turn */
        counting_allocator_install(k);
        t = ag_csv_load("data/iris.csv", 1);
        if (!t) {
            ck_assert_last_error("ag_csv_load: data/iris.csv");
            ck_assert_last_error("out of memory");
            failures++;
        } else { /* only giving back the slack may fail harmlessly */
            ck_assert_int_eq(ag_tensor_dim(t, 0), 150);
            ck_assert(ag_tensor_data(t)[5] == 4.9); /* line 3: 4.9,3.0,1.4,0.2,0 */
        }
        ag_tensor_free(t);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
    ck_assert_int_ge(failures, 3); /* file buffer, values, tensor */
    ck_assert_int_le(failures, total);
}
END_TEST

/* ---- issue 13: bounded reads, escaped messages ---------------------------------- */

START_TEST(endless_file_fails_at_the_line_limit)
{
    /* /dev/zero never ends and has no newline: the 4 MiB line limit stops it */
    ck_assert_ptr_null(ag_csv_load("/dev/zero", 0));
    ck_assert_last_error("ag_csv_load: /dev/zero line 1: the line is longer than 4194304 bytes");
    /* a long line after short ones: its number is given */
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("1,2\n3,4\n", f);
    for (int i = 0; i < (4 << 20) / 2 + 1; i++) fputs("1,", f);
    fputs("1\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_null(ag_csv_load(path, 0));
    ck_assert_last_error("line 3: the line is longer than 4194304 bytes");
}
END_TEST

START_TEST(control_bytes_are_escaped_in_messages)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite("1,2\r3\n", 1, 6, f), 6); /* a CR inside a field */
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_null(ag_csv_load(path, 0));
    ck_assert_last_error("line 1 column 2: '2\\x0d3' is not a number");
    f = fopen(path, "wb");
    ck_assert_int_eq(fwrite("1,4\0\n", 1, 5, f), 5); /* a NUL */
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_null(ag_csv_load(path, 0));
    ck_assert_last_error("line 1 column 2: '4\\x00' is not a number");
}
END_TEST

Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("csv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_file_values);
    tcase_add_test(tc, header_crlf_blank_lines_no_final_newline);
    tcase_add_test(tc, iris_loads);
    tcase_add_test(tc, malformed_files);
    tcase_add_test(tc, large_file_grows_buffers);
    tcase_add_test(tc, split_labels);
    tcase_add_test(tc, out_of_memory_while_loading);
    tcase_add_test(tc, endless_file_fails_at_the_line_limit);
    tcase_add_test(tc, control_bytes_are_escaped_in_messages);
    suite_add_tcase(s, tc);
    return s;
}
