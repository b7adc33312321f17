/* test_tensor.c -- tensor creation, shapes, access, names, printing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

START_TEST(zeros_ones_constant_from)
{
    ag_tensor *z = ag_tensor_zeros(2, (int[]){2, 3});
    ag_tensor *o = ag_tensor_ones(1, (int[]){4});
    ag_tensor *c = ag_tensor_constant(2, (int[]){1, 2}, 2.5);
    ag_tensor *f = ag_tensor_from(2, (int[]){2, 2}, (double[]){1, 2, 3, 4});
    ag_tensor *s = ag_tensor_scalar(-7.0);
    ck_assert_int_eq(ag_tensor_size(z), 6);
    ck_assert_int_eq(ag_tensor_ndim(z), 2);
    ck_assert_int_eq(ag_tensor_dim(z, 1), 3);
    ck_assert_int_eq(ag_tensor_dim(z, 2), 0);
    for (size_t i = 0; i < 6; i++) ck_assert(ag_tensor_get(z, i) == 0.0);
    for (size_t i = 0; i < 4; i++) ck_assert(ag_tensor_get(o, i) == 1.0);
    ck_assert(ag_tensor_get(c, 1) == 2.5);
    ck_assert(ag_tensor_get(f, 2) == 3.0); /* row-major: [1,0] */
    ck_assert_int_eq(ag_tensor_ndim(s), 0);
    ck_assert_int_eq(ag_tensor_size(s), 1);
    ck_assert(ag_tensor_get(s, 0) == -7.0);
    ck_assert(isnan(ag_tensor_get(s, 1)));
    ag_tensor *all[] = {z, o, c, f, s};
    for (int i = 0; i < 5; i++) ag_tensor_free(all[i]);
}
END_TEST

START_TEST(grad_buffer_and_names)
{
    ag_tensor *t = ag_tensor_ones(1, (int[]){3});
    ck_assert_ptr_null(ag_tensor_grad(t));
    ck_assert(ag_tensor_requires_grad(t, true));
    ck_assert_ptr_nonnull(ag_tensor_grad(t));
    ck_assert(ag_tensor_grad(t)[2] == 0.0);
    ag_tensor_grad(t)[2] = 5.0;
    ag_tensor_zero_grad(t);
    ck_assert(ag_tensor_grad(t)[2] == 0.0);
    ck_assert_str_eq(ag_tensor_name(t), "");
    ck_assert(ag_tensor_set_name(t, "fc1.W"));
    ck_assert_str_eq(ag_tensor_name(t), "fc1.W");
    ag_tensor_requires_grad(t, false);
    ck_assert_ptr_null(ag_tensor_grad(t));
    ag_tensor_free(t);
}
END_TEST

START_TEST(print_matrix)
{
    ag_tensor *t = ag_tensor_from(2, (int[]){2, 2}, (double[]){1, 2, 3, 4.5});
    ag_tensor_set_name(t, "M");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ag_tensor_print(t, out, 3);
    fclose(out);
    ck_assert_msg(strstr(text, "M (2x2)") != NULL, "got: %s", text);
    ck_assert_msg(strstr(text, "4.5") != NULL, "got: %s", text);
    free(text);
    ag_tensor_free(t);
}
END_TEST

START_TEST(shape_string)
{
    char buf[32];
    ck_assert_str_eq(ag_shape_string(2, (int[]){4, 3}, buf, sizeof buf), "4x3");
    ck_assert_str_eq(ag_shape_string(0, NULL, buf, sizeof buf), "scalar");
}
END_TEST

START_TEST(shape_string_reads_only_ndim_dims_of_a_valid_ndim)
{
    /* an ndim above AG_MAX_DIMS must not read dims past its 4 entries (ASan:
     * stack-buffer-overflow on the old code) nor print them */
    int dims[AG_MAX_DIMS] = {2, 3, 4, 5};
    char buf[64];
    ck_assert_str_eq(ag_shape_string(7, dims, buf, sizeof buf), "(bad ndim 7)");
    ck_assert_last_error("ag_shape_string: ndim is 7");
    ck_assert_str_eq(ag_shape_string(-1, dims, buf, sizeof buf), "(bad ndim -1)");
    ck_assert_str_eq(ag_shape_string(AG_MAX_DIMS, dims, buf, sizeof buf), "2x3x4x5");
}
END_TEST

START_TEST(shape_string_null_dims_and_buffer)
{
    char buf[32];
    ck_assert_str_eq(ag_shape_string(2, NULL, buf, sizeof buf), "(NULL dims)");
    ck_assert_last_error("ag_shape_string: dims is NULL");
    ck_assert_ptr_null(ag_shape_string(2, (int[]){4, 3}, NULL, 32));
    ck_assert_last_error("ag_shape_string: buf is NULL");
    buf[0] = 'z';
    ag_shape_string(2, (int[]){4, 3}, buf, 0); /* nothing may be written */
    ck_assert_int_eq(buf[0], 'z');
}
END_TEST

START_TEST(shape_string_truncates_to_the_buffer)
{
    char buf[12];
    memset(buf, 'z', sizeof buf);
    ag_shape_string(4, (int[]){1000, 1000, 1000, 1000}, buf, 8);
    ck_assert_str_eq(buf, "1000x10"); /* 7 characters and the NUL */
    ck_assert_int_eq(buf[8], 'z');
}
END_TEST

START_TEST(print_to_a_null_file_is_an_error)
{
    ag_tensor *t = ag_tensor_ones(1, (int[]){2});
    ag_tensor_print(t, NULL, 3); /* the old code passed NULL to fprintf */
    ck_assert_last_error("ag_tensor_print: out (the FILE) is NULL");
    ag_tensor_print(NULL, NULL, 3);
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, t);
    ag_node_print(x, NULL, 3); /* the old code passed NULL to fprintf too */
    ck_assert_last_error("ag_node_print: out (the FILE) is NULL");
    ag_node_print(NULL, NULL, 3);
    ag_graph_free(g);
    ag_tensor_free(t);
}
END_TEST

START_TEST(print_clamps_digits)
{
    /* 1/3 to 17 significant digits whatever the request above 17 (an
     * INT_MAX request overflowed the field width computation) */
    ag_tensor *t = ag_tensor_scalar(1.0 / 3.0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ag_tensor_print(t, out, 2147483647);
    fclose(out);
    ck_assert_msg(strstr(text, "0.33333333333333331\n") != NULL, "got: %s", text);
    free(text);
    ag_tensor_free(t);
}
END_TEST

START_TEST(null_tensor_messages_name_the_function)
{
    ck_assert(!ag_tensor_requires_grad(NULL, true));
    ck_assert_last_error("ag_tensor_requires_grad: tensor is NULL");
    ag_tensor *t = ag_tensor_ones(1, (int[]){2});
    ck_assert(!ag_tensor_set_name(t, NULL));
    ck_assert_last_error("ag_tensor_set_name: name is NULL");
    ck_assert(!ag_tensor_set_name(NULL, "w"));
    ck_assert_last_error("ag_tensor_set_name: tensor is NULL");
    ck_assert_ptr_null(ag_tensor_ones(2, NULL));
    ck_assert_last_error("ag_tensor_ones: bad shape: shape array is NULL");
    ck_assert_ptr_null(ag_tensor_constant(9, (int[]){1}, 0.0));
    ck_assert_last_error("ag_tensor_constant: bad shape");
    ag_tensor_free(t);
}
END_TEST

START_TEST(out_of_memory_names_the_function)
{
    counting_allocator_install(1); /* the tensor itself */
    ck_assert_ptr_null(ag_tensor_zeros(1, (int[]){3}));
    ck_assert_last_error("ag_tensor_zeros: out of memory for 3 elements");
    counting_allocator_install(2); /* its data */
    ck_assert_ptr_null(ag_tensor_from(2, (int[]){2, 2}, (double[]){1, 2, 3, 4}));
    ck_assert_last_error("ag_tensor_from: out of memory for 4 elements");
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_install(0);
    ag_tensor *t = ag_tensor_ones(1, (int[]){5});
    counting_allocator_fail_at(1);
    ck_assert(!ag_tensor_requires_grad(t, true));
    ck_assert_last_error("ag_tensor_requires_grad: out of memory for the gradient (5 elements)");
    ck_assert_ptr_null(ag_tensor_grad(t));
    counting_allocator_fail_at(1);
    ck_assert(!ag_tensor_set_name(t, "w"));
    ck_assert_last_error("ag_tensor_set_name: out of memory");
    ag_tensor_free(t);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}
END_TEST

Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, zeros_ones_constant_from);
    tcase_add_test(tc, grad_buffer_and_names);
    tcase_add_test(tc, print_matrix);
    tcase_add_test(tc, shape_string);
    tcase_add_test(tc, shape_string_reads_only_ndim_dims_of_a_valid_ndim);
    tcase_add_test(tc, shape_string_null_dims_and_buffer);
    tcase_add_test(tc, shape_string_truncates_to_the_buffer);
    tcase_add_test(tc, print_to_a_null_file_is_an_error);
    tcase_add_test(tc, print_clamps_digits);
    tcase_add_test(tc, null_tensor_messages_name_the_function);
    tcase_add_test(tc, out_of_memory_names_the_function);
    suite_add_tcase(s, tc);
    return s;
}
