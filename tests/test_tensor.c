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

Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, zeros_ones_constant_from);
    tcase_add_test(tc, grad_buffer_and_names);
    tcase_add_test(tc, print_matrix);
    tcase_add_test(tc, shape_string);
    suite_add_tcase(s, tc);
    return s;
}
