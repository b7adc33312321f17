/* test_errors.c -- bad input gives NULL and a clear message, never a crash;
 * the first error sticks until reset; nothing leaks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kernels/parallel.h"

static ag_graph *g;
static void setup(void)
{
    counting_allocator_install(0);
    g = ag_graph_new();
}
static void teardown(void)
{
    ag_graph_free(g);
    ck_assert_int_eq(counting_live_blocks(), 0); /* no leak on any error path */
    counting_allocator_remove();
}

static ag_node *zeros(int r, int c)
{
    double v[64] = {0};
    return ag_constant(g, 2, (int[]){r, c}, v);
}

#define ck_assert_error(expected) ck_assert_graph_error(g, expected)

START_TEST(matmul_mismatch)
{
    ck_assert_ptr_null(ag_matmul(zeros(4, 3), zeros(2, 1)));
    ck_assert_error("ag_matmul: (4x3) @ (2x1): inner dimensions differ (3 vs 2)");
}
END_TEST

/* torch.matmul takes vectors and matrices, never a 0-d operand */
START_TEST(matmul_needs_matrices)
{
    ck_assert_ptr_null(ag_matmul(ag_scalar(g, 1), zeros(2, 1)));
    ck_assert_error("ag_matmul: (scalar) @ (2x1): both operands must be at least 1-d");
}
END_TEST

START_TEST(linear_bias_mismatch)
{
    /* every accepted bias named once, and named for what it is */
    ck_assert_ptr_null(ag_linear(zeros(4, 3), zeros(3, 2), zeros(2, 4)));
    ck_assert_error("ag_linear: (4x3) @ (3x2) + (2x4): the bias must be one of: [4,2] (the product's "
                    "shape); [2] or [1,2] (a row); [4,1] (a column); one value (a scalar, [1] or [1,1]), "
                    "for the [4,2] product");
    /* the column form: W1 x is [4,1], a [3] bias fits none; the
     * product's shape is the column, [1] and [1,1] are one value, not a row */
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_linear(zeros(4, 3), zeros(3, 1), zeros(1, 3)));
    ck_assert_error("ag_linear: (4x3) @ (3x1) + (1x3): the bias must be one of: [4,1] (the product's "
                    "shape, a column); one value (a scalar, [1] or [1,1]), for the [4,1] product");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_linear(zeros(1, 3), zeros(3, 2), zeros(2, 1)));
    ck_assert_error("ag_linear: (1x3) @ (3x2) + (2x1): the bias must be one of: [1,2] (the product's "
                    "shape, a row) or [2]; one value (a scalar, [1] or [1,1]), for the [1,2] product");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_linear(zeros(1, 3), zeros(3, 1), zeros(2, 1)));
    ck_assert_error("ag_linear: (1x3) @ (3x1) + (2x1): the bias must be one of: one value (a scalar, [1] or "
                    "[1,1]), for the [1,1] product");
}
END_TEST

/* The column-vector slip of the issue: b1 given 1-d [4] where W1 x is [4,1].
 * ag_add broadcasts the two to [4,4] (NumPy's rule: every b1[j] + (W1 x)[i])
 * with no error; a1 = sigmoid(z1) is [4,4], W2 a1 [3,4]; the error surfaces
 * at + b2 ([3,4] and [3] do not broadcast) and names where the [4,4] came from. */
START_TEST(a_column_plus_a_1d_bias_is_named_where_the_shapes_break)
{
    ag_node *x = zeros(3, 1), *b1 = ag_constant(g, 1, (int[]){4}, (double[]){0, 0, 0, 0});
    ag_node *z1 = ag_node_set_name(ag_add(ag_matmul(zeros(4, 3), x), b1), "z1");
    ck_assert_ptr_nonnull(z1); /* valid broadcasting: no error here */
    ck_assert_int_eq(ag_node_dim(z1, 0), 4);
    ck_assert_int_eq(ag_node_dim(z1, 1), 4);
    ag_node *z2 = ag_matmul(zeros(3, 4), ag_sigmoid(z1)); /* [3,4] @ [4,4]: fits too */
    ck_assert_ptr_nonnull(z2);
    ck_assert_ptr_null(ag_add(z2, ag_constant(g, 1, (int[]){3}, (double[]){0, 0, 0})));
    ck_assert_error("ag_add: (3x4) + (3): shapes do not broadcast (dimension 1 from the right: 4 vs 3) "
                    "(note: the (4x4) of z1 = ag_add((4x1), (4)) is a column and a row broadcast to every "
                    "pair, by NumPy's rules; with column vectors a bias is a column too, [4,1])");
    /* an outer product is meant: a later error names no matmul */
    ag_graph_reset(g);
    ag_node *outer = ag_matmul(zeros(4, 1), zeros(1, 4));
    ck_assert_ptr_null(ag_add(outer, zeros(3, 1)));
    ck_assert_msg(!strstr(ag_graph_error(g), "note"), "%s", ag_graph_error(g));
    /* nor does an error with no such broadcast behind it */
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_add(ag_add(zeros(4, 3), zeros(1, 3)), zeros(4, 2)));
    ck_assert_msg(!strstr(ag_graph_error(g), "note"), "%s", ag_graph_error(g));
}
END_TEST

START_TEST(linear_inner_mismatch_and_null_operand)
{
    ck_assert_ptr_null(ag_linear(zeros(4, 3), zeros(2, 1), zeros(4, 1)));
    ck_assert_error("ag_linear: (4x3) @ (2x1) + (4x1): inner dimensions differ (3 vs 2)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_linear(NULL, zeros(3, 1), zeros(4, 1)));
    ck_assert_error("ag_linear: operand 1 is NULL");
}
END_TEST

/* Operands of two graphs: each graph is told, so whichever the caller goes
 * on with names the cause (the old code told only the first operand's). */
START_TEST(operands_of_two_graphs_fail_both_graphs)
{
    ag_graph *other = ag_graph_new();
    ag_node *x = zeros(2, 2), *c = ag_constant(other, 1, (int[]){2}, (double[]){1, 0});
    ck_assert_ptr_null(ag_where(c, x, x));
    ck_assert_str_eq(ag_graph_error(other), "ag_where: operand 2 belongs to another graph than operand 1");
    ck_assert_str_eq(ag_graph_error(g), "ag_where: operand 2 belongs to another graph than operand 1");
    ag_graph_free(other);
}
END_TEST

START_TEST(add_mismatch)
{
    ck_assert_ptr_null(ag_add(zeros(2, 3), zeros(4, 3)));
    ck_assert_error("ag_add: (2x3) + (4x3): shapes do not broadcast");
}
END_TEST

START_TEST(label_out_of_range)
{
    ag_node *z = zeros(2, 1);
    ck_assert_ptr_null(ag_softmax_xent_label(z, 5));
    ck_assert_error("ag_softmax_xent: label 5 in row 0 is not a class index in [0, 2)");
}
END_TEST

START_TEST(label_not_whole_or_negative)
{
    ag_node *z = zeros(3, 4);
    ck_assert_ptr_null(ag_softmax_xent(z, ag_constant(g, 1, (int[]){3}, (double[]){0, 2.5, 1})));
    ck_assert_error("label 2.5 in row 1");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_softmax_xent_label(ag_constant(g, 1, (int[]){2}, (double[]){0, 0}), -1));
    ck_assert_error("label -1 in row 0");
}
END_TEST

START_TEST(label_count_mismatch)
{
    ck_assert_ptr_null(ag_softmax_xent(zeros(3, 4), ag_constant(g, 1, (int[]){2}, (double[]){0, 1})));
    ck_assert_error("2 labels for logits of 3 rows");
}
END_TEST

START_TEST(shape_op_errors)
{
    ck_assert_ptr_null(ag_reshape(zeros(2, 3), 2, (int[]){4, 2}));
    ck_assert_error("ag_reshape: (2x3): cannot reshape 6 elements to (4x2)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_reshape(zeros(2, 3), 2, (int[]){-1, 4}));
    ck_assert_error("ag_reshape: (2x3) to (-1x4): bad target shape");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_sum_axis(zeros(2, 3), 2));
    ck_assert_error("ag_sum_axis: (2x3): axis 2 is out of range for 2 dimensions (-2 .. 1)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_mse(zeros(2, 3), zeros(3, 2)));
    ck_assert_error("ag_mse: (2x3) vs (3x2): prediction and target must have the same shape");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_transpose(ag_scalar(g, 1)));
    ck_assert_error("ag_transpose: (scalar): transpose takes a 2-d matrix");
}
END_TEST

START_TEST(error_is_sticky_and_first_is_kept)
{
    ag_node *bad = ag_matmul(zeros(4, 3), zeros(2, 1));
    ck_assert_ptr_null(bad);
    ck_assert_ptr_null(ag_relu(bad));
    ck_assert_ptr_null(ag_add(bad, zeros(1, 1)));
    ck_assert_ptr_null(ag_add(zeros(2, 2), zeros(2, 2))); /* graph has failed */
    ck_assert_ptr_null(ag_sum(NULL));
    ck_assert(!ag_backward(g, bad));
    ck_assert_error("ag_matmul: (4x3) @ (2x1)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_graph_error(g));
    ck_assert_ptr_nonnull(ag_add(zeros(2, 2), zeros(2, 2))); /* usable again */
}
END_TEST

START_TEST(backward_misuse)
{
    ag_tensor *w = ag_tensor_ones(2, (int[]){2, 2});
    ag_tensor_requires_grad(w, true);
    ag_node *m = ag_mul(ag_param(g, w), zeros(2, 2));
    ck_assert(!ag_backward(g, m));
    ck_assert_error("ag_backward: root has shape (2x2)");
    ag_graph_reset(g);
    ck_assert(!ag_backward(g, ag_sum(zeros(2, 2))));
    ck_assert_error("does not depend on any tensor that requires grad");
    ag_graph_reset(g);
    ag_graph *other = ag_graph_new();
    ag_node *foreign = ag_sum(ag_param(other, w));
    ck_assert(!ag_backward(g, foreign));
    ck_assert_error("not in this graph");
    ck_assert_ptr_null(ag_add(ag_param(g, w), ag_param(other, w)));
    ag_graph_free(other);
    ag_tensor_free(w);
}
END_TEST

START_TEST(anomaly_forward_names_the_op)
{
    ag_node *x = ag_constant(g, 1, (int[]){2}, (double[]){1.0, -1.0});
    ag_node *quiet = ag_log(x); /* off by default: NaN flows on */
    ck_assert_ptr_nonnull(quiet);
    ck_assert(isnan(ag_node_value(quiet)[1]));
    ag_graph_set_detect_anomaly(g, true);
    ck_assert_ptr_null(ag_node_set_name(ag_log(x), "logx"));
    ck_assert_error("anomaly: ag_log made NaN at element 1 of node #2 log in the forward pass (inputs (2))");
}
END_TEST

START_TEST(anomaly_backward_names_the_op)
{
    /* d/dx sqrt(x) at 0 is infinite: the forward is fine (0), the backward not */
    ag_tensor *x = ag_tensor_zeros(1, (int[]){1});
    ag_tensor_requires_grad(x, true);
    ag_graph_set_detect_anomaly(g, true);
    ag_node *root = ag_sum(ag_node_set_name(ag_pow(ag_param(g, x), 0.5), "root"));
    ck_assert_ptr_nonnull(root);
    ck_assert(!ag_backward(g, root));
    ck_assert_error("anomaly: the backward of ag_pow (node root, inputs (1)) sent Inf");
    ag_graph_reset(g);
    ag_graph_set_detect_anomaly(g, false);
    ag_tensor_zero_grad(x);
    ck_assert(ag_backward(g, ag_sum(ag_pow(ag_param(g, x), 0.5)))); /* off: inf arrives */
    ck_assert(isinf(ag_tensor_grad(x)[0]));
    ag_tensor_free(x);
}
END_TEST

START_TEST(backward_on_a_reset_graph)
{
    ag_tensor *w = ag_tensor_ones(1, (int[]){2});
    ag_tensor_requires_grad(w, true);
    ag_node *root = ag_sum(ag_param(g, w));
    ag_graph_reset(g);
    ck_assert(!ag_backward(g, root));
    ck_assert_error("recorded before the last reset");
    ag_tensor_free(w);
}
END_TEST

START_TEST(replay_recovers_from_bad_data)
{
    ag_tensor *labels = ag_tensor_from(1, (int[]){2}, (double[]){0, 1});
    ag_node *loss = ag_softmax_xent(zeros(2, 3), ag_input(g, labels));
    ck_assert_ptr_nonnull(loss);
    ag_tensor_data(labels)[1] = 7; /* a bad batch */
    ck_assert(!ag_graph_forward(g));
    ck_assert_error("label 7 in row 1");
    ag_tensor_data(labels)[1] = 2; /* fixed: the same recording replays again */
    ck_assert_msg(ag_graph_forward(g), "%s", ag_graph_error(g));
    ck_assert_ptr_null(ag_graph_error(g));
    ck_assert_close(ag_node_value(loss)[0], log(3.0), 1e-15); /* uniform over 3 classes */
    ag_tensor_free(labels);
}
END_TEST

START_TEST(freezing_a_recorded_parameter)
{
    /* requires_grad(false) after recording must not leave a dangling buffer */
    ag_tensor *w = ag_tensor_ones(1, (int[]){2});
    ag_tensor_requires_grad(w, true);
    ag_optimizer_config c = ag_sgd_config(0.5);
    ag_optimizer *o = ag_optimizer_new(1, &w, &c);
    ag_node *root = ag_sum(ag_mul(ag_param(g, w), ag_param(g, w)));
    ag_tensor_requires_grad(w, false);
    ck_assert_ptr_null(ag_tensor_grad(w));
    ck_assert(ag_backward(g, root)); /* writes the kept buffer, no crash */
    ag_optimizer_step(o);            /* frozen: skipped */
    ck_assert(ag_tensor_data(w)[0] == 1.0);
    ag_tensor_requires_grad(w, true);
    ag_tensor_zero_grad(w);
    ag_graph_reset(g);
    ck_assert(ag_backward(g, ag_sum(ag_mul(ag_param(g, w), ag_param(g, w)))));
    ag_optimizer_step(o); /* d/dw sum(w^2) = 2w = 2: w = 1 - 0.5 * 2 = 0 */
    ck_assert(ag_tensor_data(w)[0] == 0.0);
    ag_optimizer_free(o);
    ag_tensor_free(w);
}
END_TEST

START_TEST(bad_tensor_shapes)
{
    ck_assert_ptr_null(ag_tensor_zeros(2, (int[]){3, 0}));
    ck_assert_msg(strstr(ag_last_error(), "positive") != NULL, "%s", ag_last_error());
    ck_assert_ptr_null(ag_tensor_zeros(2, (int[]){-1, 2}));
    ck_assert_ptr_null(ag_tensor_zeros(5, (int[]){1, 1, 1, 1, 1}));
    ck_assert_ptr_null(ag_tensor_zeros(4, (int[]){1 << 30, 1 << 30, 1 << 30, 1 << 30}));
    ck_assert_msg(strstr(ag_last_error(), "too large") != NULL, "%s", ag_last_error());
    ck_assert_ptr_null(ag_tensor_from(1, (int[]){2}, NULL));
    ck_assert_ptr_null(ag_param(g, NULL));
    ck_assert_error("ag_param: tensor is NULL");
}
END_TEST

START_TEST(out_of_memory_is_an_error)
{
    /* fail every allocation in turn while recording a small graph: each
     * either succeeds or leaves a clear error, never a crash or a leak */
    ag_graph_free(g); /* the fixture's graph; made again below for teardown */
    for (long k = 1; k < 40; k++) {
        counting_allocator_install(k);
        ag_graph *h = ag_graph_new();
        ag_tensor *w = ag_tensor_ones(2, (int[]){3, 3});
        if (h && w && ag_tensor_requires_grad(w, true)) {
            ag_node *y = ag_sum(ag_matmul(ag_param(h, w), ag_param(h, w)));
            if (!y || !ag_backward(h, y))
                ck_assert_msg(strstr(ag_graph_error(h), "out of memory") != NULL, "k=%ld: %s", k,
                              ag_graph_error(h));
        }
        ag_graph_free(h);
        ag_tensor_free(w);
        ck_assert_int_eq(counting_live_blocks(), 0);
    }
    counting_allocator_install(0); /* teardown's count starts afresh */
    g = ag_graph_new();
}
END_TEST

/* ---- public functions given NULL or bad values ------------------------------ */

/* Leave a stale message, so a function that sets none is caught. */
static void stale_error(void)
{
    ck_assert_ptr_null(ag_tensor_zeros(-1, NULL));
    ck_assert(ag_last_error()[0] != '\0');
}

START_TEST(rng_null_generator)
{
    ck_assert(ag_rng_next(NULL) == 0);
    ck_assert_last_error("ag_rng_next: the generator is NULL");
    ck_assert(isnan(ag_rng_uniform(NULL, 0.0, 1.0)));
    ck_assert_last_error("ag_rng_uniform: the generator is NULL");
    ck_assert(isnan(ag_rng_normal(NULL, 0.0, 1.0)));
    ck_assert_last_error("ag_rng_normal: the generator is NULL");
    ck_assert(ag_rng_below(NULL, 10) == 0);
    ck_assert_last_error("ag_rng_below: the generator is NULL");
}
END_TEST

START_TEST(compare_null_arrays)
{
    double a[] = {1.0, 2.0};
    ag_diff d = ag_compare(NULL, "t", NULL, NULL, 2, NULL, a, 1.0);
    ck_assert(!d.pass);
    ck_assert(isnan(d.max_abs));
    ck_assert_last_error("ag_compare: t: left is NULL with n = 2");
    d = ag_compare(NULL, NULL, NULL, NULL, 2, a, NULL, 1.0);
    ck_assert(!d.pass);
    ck_assert_last_error("right is NULL");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    d = ag_compare(out, "x", NULL, NULL, 1, a, NULL, 1.0);
    fclose(out);
    ck_assert_msg(strstr(text, "FAIL") != NULL, "%s", text);
    free(text);
    d = ag_compare(NULL, NULL, NULL, NULL, 0, NULL, NULL, 0.0); /* nothing to compare */
    ck_assert(d.pass && d.max_abs == 0.0);
}
END_TEST

START_TEST(initialisers_null_arguments)
{
    ag_rng r = ag_rng_new(1);
    ag_tensor *t = ag_tensor_constant(1, (int[]){3}, 7.0);
    ag_init_uniform(t, NULL, 0.0, 1.0);
    ck_assert_last_error("ag_init_uniform: the generator is NULL");
    ck_assert(ag_tensor_data(t)[2] == 7.0);
    ag_init_he_normal(t, NULL);
    ck_assert_last_error("ag_init_he_normal: the generator is NULL");
    ag_init_xavier_uniform(NULL, &r);
    ck_assert_last_error("ag_init_xavier_uniform: the tensor is NULL");
    ag_init_zeros(NULL);
    ck_assert_last_error("ag_init_zeros: the tensor is NULL");
    ck_assert(ag_tensor_data(t)[0] == 7.0);
    ag_tensor_free(t);
}
END_TEST

START_TEST(allocator_with_a_null_function)
{
    ag_graph_free(g); /* the fixture's graph; made again below for teardown */
    ag_allocator partial = {malloc, NULL, free};
    ag_set_allocator(&partial);
    ck_assert_last_error("ag_set_allocator: malloc_fn, realloc_fn and free_fn must all be set");
    counting_allocator_install(0); /* teardown counts with it */
    g = ag_graph_new();
}
END_TEST

static ag_node *returns_null_silently(ag_graph *graph, void *user)
{
    (void)graph, (void)user;
    return NULL;
}

static ag_node *returns_null_after_tensor_error(ag_graph *graph, void *user)
{
    (void)graph, (void)user;
    ag_tensor_free(ag_tensor_from(1, (int[]){2}, NULL)); /* fails, setting ag_last_error */
    return NULL;
}

static ag_node *returns_null_after_graph_error(ag_graph *graph, void *user)
{
    double v[6] = {0};
    ag_node *a = ag_constant(graph, 2, (int[]){2, 3}, v), *b = ag_constant(graph, 2, (int[]){2, 3}, v);
    (void)ag_matmul(a, b);
    (void)user;
    return NULL;
}

static ag_node *returns_a_matrix(ag_graph *graph, void *user)
{
    return ag_mul(ag_param(graph, user), ag_param(graph, user));
}

static ag_tensor *matrix_param(void)
{
    ag_tensor *x = ag_tensor_from(2, (int[]){2, 2}, (double[]){1, 2, 3, 4});
    ag_tensor_requires_grad(x, true);
    return x;
}

START_TEST(gradcheck_null_builder)
{
    ag_tensor *x = matrix_param();
    stale_error();
    ck_assert(!ag_gradcheck(NULL, x, 1, &x, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: the loss builder is NULL");
    ag_tensor_free(x);
}
END_TEST

START_TEST(gradcheck_builder_returned_null)
{
    ag_tensor *x = matrix_param();
    ck_assert(!ag_gradcheck(returns_null_silently, x, 1, &x, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: the loss builder returned NULL (and left no error)");
    ck_assert(!ag_gradcheck(returns_null_after_tensor_error, x, 1, &x, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: the loss builder returned NULL: ag_tensor_from: data is NULL");
    ck_assert(!ag_gradcheck(returns_null_after_graph_error, x, 1, &x, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: the loss builder returned NULL: ag_matmul: (2x3) @ (2x3)");
    ag_tensor_free(x);
}
END_TEST

START_TEST(gradcheck_loss_not_scalar)
{
    ag_tensor *x = matrix_param();
    ck_assert(!ag_gradcheck(returns_a_matrix, x, 1, &x, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: the loss has shape (2x2); it must be a scalar");
    ag_tensor_free(x);
}
END_TEST

static ag_node *sum_of_param(ag_graph *graph, void *user)
{
    return ag_sum(ag_param(graph, user));
}

START_TEST(gradcheck_bad_arguments)
{
    ag_tensor *x = ag_tensor_ones(1, (int[]){2});
    ag_tensor_requires_grad(x, true);
    stale_error();
    ck_assert(!ag_gradcheck(sum_of_param, x, 1, NULL, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: params is NULL for n_params 1");
    ag_tensor *none[] = {NULL};
    ck_assert(!ag_gradcheck(sum_of_param, x, 1, none, NULL, NULL));
    ck_assert_last_error("ag_gradcheck: parameter 0 is NULL");
    ag_gradcheck_options o = ag_gradcheck_defaults();
    o.eps = 0.0; /* would divide by zero */
    ck_assert(!ag_gradcheck(sum_of_param, x, 1, &x, &o, NULL));
    ck_assert_last_error("ag_gradcheck: eps is 0; it must be finite and > 0");
    o = ag_gradcheck_defaults();
    o.rtol = NAN;
    ck_assert(!ag_gradcheck(sum_of_param, x, 1, &x, &o, NULL));
    ck_assert_last_error("ag_gradcheck: rtol is nan");
    ck_assert(ag_gradcheck(sum_of_param, x, 1, &x, NULL, NULL)); /* and it still works */
    ag_tensor_free(x);
}
END_TEST

START_TEST(thread_count_parse_rule)
{
    /* a positive decimal integer, blanks around it allowed, capped at
     * AG_PARALLEL_MAX; anything else falls back */
    ck_assert_int_eq(ag_parse_thread_count("3", 5), 3);
    ck_assert_int_eq(ag_parse_thread_count("  4", 5), 4);
    ck_assert_int_eq(ag_parse_thread_count("2 ", 5), 2);
    ck_assert_int_eq(ag_parse_thread_count("1", 5), 1);
    ck_assert_int_eq(ag_parse_thread_count("99999999999", 5), AG_PARALLEL_MAX);
    ck_assert_int_eq(ag_parse_thread_count("garbage", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("   ", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("0", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("-3", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("+2", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("4x", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count("4 4", 5), 5);
    ck_assert_int_eq(ag_parse_thread_count(NULL, 5), 5);
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("sticky errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, matmul_mismatch);
    tcase_add_test(tc, matmul_needs_matrices);
    tcase_add_test(tc, linear_bias_mismatch);
    tcase_add_test(tc, a_column_plus_a_1d_bias_is_named_where_the_shapes_break);
    tcase_add_test(tc, linear_inner_mismatch_and_null_operand);
    tcase_add_test(tc, operands_of_two_graphs_fail_both_graphs);
    tcase_add_test(tc, add_mismatch);
    tcase_add_test(tc, label_out_of_range);
    tcase_add_test(tc, label_not_whole_or_negative);
    tcase_add_test(tc, label_count_mismatch);
    tcase_add_test(tc, shape_op_errors);
    tcase_add_test(tc, error_is_sticky_and_first_is_kept);
    tcase_add_test(tc, backward_misuse);
    tcase_add_test(tc, bad_tensor_shapes);
    tcase_add_test(tc, replay_recovers_from_bad_data);
    tcase_add_test(tc, freezing_a_recorded_parameter);
    tcase_add_test(tc, anomaly_forward_names_the_op);
    tcase_add_test(tc, anomaly_backward_names_the_op);
    tcase_add_test(tc, backward_on_a_reset_graph);
    tcase_add_test(tc, out_of_memory_is_an_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("public API misuse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rng_null_generator);
    tcase_add_test(tc, compare_null_arrays);
    tcase_add_test(tc, initialisers_null_arguments);
    tcase_add_test(tc, allocator_with_a_null_function);
    tcase_add_test(tc, gradcheck_null_builder);
    tcase_add_test(tc, gradcheck_builder_returned_null);
    tcase_add_test(tc, gradcheck_loss_not_scalar);
    tcase_add_test(tc, gradcheck_bad_arguments);
    tcase_add_test(tc, thread_count_parse_rule);
    suite_add_tcase(s, tc);
    return s;
}
