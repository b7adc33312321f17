/* test_graph.c -- the backward walk: gradient accumulation over paths, deep
 * chains, repeated backward, replay, relu at 0, memory reuse. Expected values
 * are derived by hand in the comments. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static ag_tensor *scalar_param(double v)
{
    ag_tensor *t = ag_tensor_scalar(v);
    ag_tensor_requires_grad(t, true);
    return t;
}

START_TEST(diamond)
{
    /* a -> b = 2a, a -> c = a^2, d = b * c = 2a^3: dd/da = 6a^2 = 54 at a = 3 */
    ag_graph *g = ag_graph_new();
    ag_tensor *at = scalar_param(3.0);
    ag_node *a = ag_param(g, at);
    ag_node *d = ag_mul(ag_mul(ag_scalar(g, 2.0), a), ag_pow(a, 2.0));
    ck_assert(ag_backward(g, d));
    ck_assert_close(ag_node_value(d)[0], 54.0, 1e-12);
    ck_assert_close(ag_tensor_grad(at)[0], 54.0, 1e-12);
    ag_graph_free(g);
    ag_tensor_free(at);
}
END_TEST

START_TEST(node_used_three_times)
{
    /* h = x + 1 used three times: y = h*h + h, dy/dx = 2h + 1 = 7 at x = 2 */
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = scalar_param(2.0);
    ag_node *h = ag_add(ag_param(g, xt), ag_scalar(g, 1.0));
    ag_node *y = ag_add(ag_mul(h, h), h);
    ck_assert(ag_backward(g, y));
    ck_assert_close(ag_node_value(y)[0], 12.0, 1e-12);
    ck_assert_close(ag_tensor_grad(xt)[0], 7.0, 1e-12);
    ck_assert_close(ag_node_grad(h)[0], 7.0, 1e-12);
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(scalar_expression_heavy_reuse)
{
    /* micrograd's README expression (a = -4, b = 2). By hand:
     *   c = 3a + 4b + 3 = -1, d = 12(ab + b^3) + 4 relu(a + b) + relu(b - a) = 6,
     *   e = c - d = -7, g = e^2/2 + 10/e^2
     *   dg/de = e - 20/e^3;  de/da = 3 - (12b - relu'(b-a)) = -20;
     *   de/db = 4 - (12(a + 3b^2) + relu'(b-a)) = -93 (relu'(a+b) = 0 as a+b < 0)
     * micrograd publishes 24.7041, 138.8338, 645.5773. */
    ag_graph *gr = ag_graph_new();
    ag_tensor *at = scalar_param(-4.0), *bt = scalar_param(2.0);
    ag_node *a = ag_param(gr, at), *b = ag_param(gr, bt);
    ag_node *one = ag_scalar(gr, 1.0), *two = ag_scalar(gr, 2.0), *three = ag_scalar(gr, 3.0);
    ag_node *c = ag_add(a, b);
    ag_node *d = ag_add(ag_mul(a, b), ag_pow(b, 3));
    c = ag_add(ag_add(c, c), one);
    c = ag_add(ag_add(ag_add(c, one), c), ag_neg(a));
    d = ag_add(ag_add(d, ag_mul(d, two)), ag_relu(ag_add(b, a)));
    d = ag_add(ag_add(d, ag_mul(three, d)), ag_relu(ag_sub(b, a)));
    ag_node *e = ag_sub(c, d);
    ag_node *f = ag_pow(e, 2);
    ag_node *g = ag_div(f, two);
    g = ag_add(g, ag_div(ag_scalar(gr, 10.0), f));
    ck_assert_msg(ag_backward(gr, g), "%s", ag_graph_error(gr));
    double ev = -7.0, dg_de = ev - 20.0 / (ev * ev * ev);
    ck_assert_close(ag_node_value(g)[0], ev * ev / 2 + 10 / (ev * ev), 1e-12);
    ck_assert_close(ag_tensor_grad(at)[0], dg_de * -20.0, 1e-10);
    ck_assert_close(ag_tensor_grad(bt)[0], dg_de * -93.0, 1e-10);
    ck_assert_close(ag_node_value(g)[0], 24.7041, 5e-5);
    ck_assert_close(ag_tensor_grad(at)[0], 138.8338, 5e-5);
    ck_assert_close(ag_tensor_grad(bt)[0], 645.5773, 5e-5);
    ag_graph_free(gr);
    ag_tensor_free(at);
    ag_tensor_free(bt);
}
END_TEST

START_TEST(million_node_chain)
{
    /* y = x * c^n with n = 10^6 multiplications: dy/dx = c^n, no recursion */
    const int n = 1000000;
    const double c = 1.000001;
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = scalar_param(1.0);
    ag_node *y = ag_param(g, xt), *cn = ag_scalar(g, c);
    for (int i = 0; i < n && y; i++) y = ag_mul(y, cn);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_graph_size(g), n + 2);
    ck_assert(ag_backward(g, y));
    ck_assert_close(ag_tensor_grad(xt)[0], pow(c, n), 1e-9);
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(second_backward_accumulates)
{
    /* y = x^2 at x = 3: one backward gives 6; a second on the same graph adds
     * 6 again (PyTorch with retain_graph=True); zero_grad clears it */
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = scalar_param(3.0);
    ag_node *x = ag_param(g, xt), *y = ag_mul(x, x);
    ck_assert(ag_backward(g, y));
    ck_assert_close(ag_tensor_grad(xt)[0], 6.0, 1e-12);
    ck_assert(ag_backward(g, y));
    ck_assert_close(ag_tensor_grad(xt)[0], 12.0, 1e-12);
    ck_assert_close(ag_node_grad(y)[0], 1.0, 1e-12); /* intermediates start afresh */
    ag_graph_zero_grad(g);
    ck_assert(ag_tensor_grad(xt)[0] == 0.0);
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(relu_derivative_at_zero_is_zero)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = ag_tensor_from(1, (int[]){3}, (double[]){0.0, -1.0, 2.0});
    ag_tensor_requires_grad(xt, true);
    ck_assert(ag_backward(g, ag_sum(ag_relu(ag_param(g, xt)))));
    ck_assert(ag_tensor_grad(xt)[0] == 0.0);
    ck_assert(ag_tensor_grad(xt)[1] == 0.0);
    ck_assert(ag_tensor_grad(xt)[2] == 1.0);
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(replay_sees_new_inputs)
{
    /* y = sum(w * x): dy/dw = x; change x and replay without re-recording */
    ag_graph *g = ag_graph_new();
    ag_tensor *wt = ag_tensor_from(1, (int[]){2}, (double[]){2, 3});
    ag_tensor *xt = ag_tensor_from(1, (int[]){2}, (double[]){5, 7});
    ag_tensor_requires_grad(wt, true);
    ag_node *y = ag_sum(ag_mul(ag_param(g, wt), ag_input(g, xt)));
    ck_assert_close(ag_node_value(y)[0], 31.0, 0);
    ag_tensor_data(xt)[0] = -1.0;
    ag_tensor_data(xt)[1] = 4.0;
    ck_assert(ag_graph_forward(g));
    ck_assert_close(ag_node_value(y)[0], 10.0, 0);
    ck_assert(ag_backward(g, y));
    ck_assert_close(ag_tensor_grad(wt)[0], -1.0, 0);
    ck_assert_close(ag_tensor_grad(wt)[1], 4.0, 0);
    ag_graph_free(g);
    ag_tensor_free(wt);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(input_gets_no_gradient)
{
    ag_graph *g = ag_graph_new();
    ag_tensor *wt = scalar_param(2.0), *xt = ag_tensor_scalar(5.0);
    ag_node *x = ag_input(g, xt);
    ag_node *y = ag_mul(ag_param(g, wt), x);
    ck_assert(ag_backward(g, y));
    ck_assert_ptr_null(ag_node_grad(x));
    ck_assert_ptr_null(ag_tensor_grad(xt));
    ck_assert_close(ag_tensor_grad(wt)[0], 5.0, 0);
    ag_graph_free(g);
    ag_tensor_free(wt);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(backward_from_another_root_and_back)
{
    /* x = 2 (param), u = x*x, v = 3*x, a = u + v, b = v*v.
     * da/dx = 2x + 3 = 7, db/dx = 2*v*3 = 18x = 36; du reached from a is 1,
     * from b it is not reached and must read 0, not what a's walk left.
     * The repeated walk from a (its schedule kept) must match the first. */
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = scalar_param(2.0);
    ag_node *x = ag_param(g, xt);
    ag_node *u = ag_mul(x, x), *v = ag_mul(ag_scalar(g, 3.0), x);
    ag_node *a = ag_add(u, v), *b = ag_mul(v, v);
    for (int round = 0; round < 2; round++) {
        ag_graph_zero_grad(g);
        ck_assert(ag_backward(g, a));
        ck_assert_close(ag_tensor_grad(xt)[0], 7.0, 1e-12);
        ck_assert_close(ag_node_grad(u)[0], 1.0, 1e-12);
        ag_graph_zero_grad(g);
        ck_assert(ag_backward(g, a)); /* the same root again: scheduled */
        ck_assert_close(ag_tensor_grad(xt)[0], 7.0, 1e-12);
        ck_assert_close(ag_node_grad(v)[0], 1.0, 1e-12);
        ag_graph_zero_grad(g);
        ck_assert(ag_backward(g, b));
        ck_assert_close(ag_tensor_grad(xt)[0], 36.0, 1e-12);
        ck_assert(ag_node_grad(u)[0] == 0.0);
        ck_assert_close(ag_node_grad(v)[0], 12.0, 1e-12); /* 2v */
    }
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(scheduled_backward_matches_the_walk)
{
    /* The repeat from the same root (the schedule, each gradient zeroed by
     * its first consumer) must leave every node's gradient as the walk did,
     * and add the parameters' a second time (they are not zeroed): a node
     * read twice by one op (x * x), read by several ops (u), and twice by one
     * many-input op (the concat). By hand, at x = (1, 2, 3), w = 0.5:
     *   u = x^2, v = w u, c = [u, v, u], L = sum c^2 = (2 + w^2) sum x^4,
     *   dL/dx = 4 (2 + w^2) x^3 = 9 x^3, dL/dw = 2 w sum x^4 = 98. */
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = ag_tensor_from(1, (int[]){3}, (double[]){1, 2, 3}), *wt = scalar_param(0.5);
    ck_assert(ag_tensor_requires_grad(xt, true));
    ag_node *x = ag_param(g, xt), *u = ag_mul(x, x), *v = ag_mul(u, ag_param(g, wt));
    ag_node *c = ag_concat(3, (ag_node *[]){u, v, u}, 0), *L = ag_sum(ag_mul(c, c));
    ag_node *nodes[] = {u, v, c, L};
    double walked[4][9];
    ck_assert(ag_backward(g, L));
    for (int i = 0; i < 4; i++)
        memcpy(walked[i], ag_node_grad(nodes[i]), ag_node_size(nodes[i]) * sizeof(double));
    ck_assert(ag_backward(g, L)); /* scheduled */
    for (int i = 0; i < 4; i++)
        for (size_t k = 0; k < ag_node_size(nodes[i]); k++)
            ck_assert_msg(ag_node_grad(nodes[i])[k] == walked[i][k], "node %d [%zu]: %g, walked %g", i, k,
                          ag_node_grad(nodes[i])[k], walked[i][k]);
    for (int k = 0; k < 3; k++)
        ck_assert_close(ag_tensor_grad(xt)[k], 2 * 9.0 * pow(k + 1.0, 3), 1e-12);
    ck_assert_close(ag_tensor_grad(wt)[0], 2 * 98.0, 1e-12);
    ag_graph_free(g);
    ag_tensor_free(xt);
    ag_tensor_free(wt);
}
END_TEST

START_TEST(a_long_scheduled_backward_matches_the_walk)
{
    /* The same on a walk long enough for the sweep to read ahead (thousands
     * of entries): y_0 = x, y_{k+1} = y_k w for k < N, L = sum y_N, so
     * dL/dx_i = w^N, dL/dw = N w^(N-1) sum x, dL/dy_k = w^(N-k). */
    enum { N = 3000 };
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = ag_tensor_from(1, (int[]){2}, (double[]){0.5, -2.0}), *wt = scalar_param(1.0001);
    ck_assert(ag_tensor_requires_grad(xt, true));
    ag_node *w = ag_param(g, wt), *y = ag_param(g, xt), *middle = NULL;
    for (int k = 0; k < N; k++) {
        y = ag_mul(y, w);
        if (k == N / 2) middle = y; /* y_{N/2 + 1} */
    }
    ag_node *L = ag_sum(y);
    ck_assert(ag_backward(g, L));
    double walked[2] = {ag_node_grad(middle)[0], ag_node_grad(middle)[1]};
    ck_assert(ag_backward(g, L)); /* scheduled */
    ck_assert(ag_node_grad(middle)[0] == walked[0] && ag_node_grad(middle)[1] == walked[1]);
    ck_assert_close(walked[0], pow(1.0001, N - (N / 2 + 1)), 1e-12);
    for (int i = 0; i < 2; i++)
        ck_assert_close(ag_tensor_grad(xt)[i], 2 * pow(1.0001, N), 1e-12);
    ck_assert_close(ag_tensor_grad(wt)[0], 2 * N * pow(1.0001, N - 1) * (0.5 - 2.0), 1e-7);
    ag_graph_free(g);
    ag_tensor_free(xt);
    ag_tensor_free(wt);
}
END_TEST

START_TEST(graph_grown_or_rerecorded_after_a_backward)
{
    /* The schedule of a backward must not outlive the graph it was made for:
     * y = x*x at x = 3 (dy/dx = 6); then, on the same graph, z = y*x,
     * replayed at x = 2 (z = 8, dz/dx = 3x^2 = 12); then after a reset
     * another graph, w = x + x (dw/dx = 2). */
    ag_graph *g = ag_graph_new();
    ag_tensor *xt = scalar_param(3.0);
    ag_node *x = ag_param(g, xt), *y = ag_mul(x, x);
    ck_assert(ag_backward(g, y) && ag_graph_forward(g));
    ck_assert_close(ag_tensor_grad(xt)[0], 6.0, 1e-12);
    ag_node *z = ag_mul(y, x);
    ag_tensor_zero_grad(xt);
    ag_tensor_data(xt)[0] = 2.0;
    ck_assert(ag_graph_forward(g) && ag_backward(g, z));
    ck_assert_close(ag_node_value(z)[0], 8.0, 1e-12);
    ck_assert_close(ag_tensor_grad(xt)[0], 12.0, 1e-12);
    ag_graph_reset(g);
    x = ag_param(g, xt);
    ag_node *w = ag_add(x, x);
    ag_tensor_zero_grad(xt);
    ck_assert(ag_backward(g, w));
    ck_assert_close(ag_tensor_grad(xt)[0], 2.0, 1e-12);
    ag_tensor_data(xt)[0] = 5.0; /* replay of the new graph: w = 10 */
    ck_assert(ag_graph_forward(g));
    ck_assert_close(ag_node_value(w)[0], 10.0, 1e-12);
    ag_graph_free(g);
    ag_tensor_free(xt);
}
END_TEST

START_TEST(labels_changed_without_replay_are_not_read)
{
    /* z = [0.5, -0.25], label 1: p0 = 1 / (1 + e^-0.75), dJ/dz = [p0, p1 - 1].
     * A label changed (even to one out of range) without ag_graph_forward is
     * not read by backward: the gradient still goes with the forward's p. */
    ag_graph *g = ag_graph_new();
    ag_tensor *zt = ag_tensor_from(1, (int[]){2}, (double[]){0.5, -0.25});
    ag_tensor *yt = ag_tensor_scalar(1);
    ag_tensor_requires_grad(zt, true);
    ag_node *J = ag_softmax_xent(ag_param(g, zt), ag_input(g, yt));
    double p0 = 1.0 / (1.0 + exp(-0.75));
    for (int round = 0; round < 2; round++) { /* walked, then scheduled */
        ag_tensor_zero_grad(zt);
        ck_assert(ag_backward(g, J));
        ck_assert_close(ag_tensor_grad(zt)[0], p0, 1e-15);
        ck_assert_close(ag_tensor_grad(zt)[1], (1.0 - p0) - 1.0, 1e-15);
        ag_tensor_data(yt)[0] = 7.0;
    }
    ck_assert(!ag_graph_forward(g)); /* the replay does read it, and says so */
    ck_assert_ptr_nonnull(strstr(ag_graph_error(g), "label 7 in row 0 is not a class index in [0, 2)"));
    ag_graph_free(g);
    ag_tensor_free(zt);
    ag_tensor_free(yt);
}
END_TEST

START_TEST(frees_everything)
{
    /* every block the library allocates is freed by graph_free + tensor_free */
    counting_allocator_install(0);
    ag_graph *g = ag_graph_new();
    ag_tensor *wt = ag_tensor_ones(2, (int[]){3, 3});
    ag_tensor_set_name(wt, "W");
    ag_tensor_requires_grad(wt, true);
    for (int step = 0; step < 3; step++) {
        ag_graph_reset(g);
        ag_node *w = ag_param(g, wt);
        ck_assert(ag_backward(g, ag_sum(ag_tanh(ag_matmul(w, w)))));
    }
    ck_assert_int_gt(counting_live_blocks(), 0);
    ag_graph_free(g);
    ag_tensor_free(wt);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}
END_TEST

/* After a reset the next step may record other shapes: new value buffers
 * then cover memory where old nodes were. A stale node must still be
 * refused, never read as a node through the data now in its place (the
 * first version kept nodes and buffers in one arena: the stale node's graph
 * pointer became the bits of a double, and the check itself crashed). */
START_TEST(stale_nodes_under_new_buffers_are_refused)
{
    enum { OLD = 64, BIG = 4096 };
    ag_graph *g = ag_graph_new();
    ag_tensor *wt = scalar_param(0.5);
    ag_node *old[OLD];
    old[0] = ag_param(g, wt);
    for (int i = 1; i < OLD; i++) old[i] = ag_tanh(old[i - 1]);
    ck_assert_ptr_nonnull(old[OLD - 1]);
    ag_graph_reset(g);
    /* two new nodes whose values and gradients (BIG doubles each, the bits of
     * 0.75 and of tanh(0.75)) fill the memory that held the old step */
    ag_tensor *big = ag_tensor_constant(1, (int[]){BIG}, 0.75);
    ag_tensor_requires_grad(big, true);
    ag_node *fresh[2];
    fresh[0] = ag_param(g, big);
    fresh[1] = ag_tanh(fresh[0]);
    ck_assert_ptr_nonnull(fresh[1]);
    for (int i = 0; i < OLD; i++) {
        if (old[i] == fresh[0] || old[i] == fresh[1]) continue; /* that memory is the new node */
        ag_graph_reset(g); /* each refusal fails the graph: start clean */
        ag_node *p = ag_param(g, big), *q = ag_tanh(p);
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_null(ag_add(q, old[i]));
        ck_assert_graph_error(g, "ag_add: operand 2 is a node recorded before the last reset");
        ag_graph_reset(g);
        p = ag_param(g, big);
        ck_assert_ptr_nonnull(ag_tanh(p));
        ck_assert_ptr_null(ag_tanh(old[i])); /* alone: the graph is found through it */
        ck_assert_graph_error(g, "ag_tanh: operand 1 is a node recorded before the last reset");
    }
    ag_graph_free(g);
    ag_tensor_free(big);
    ag_tensor_free(wt);
}
END_TEST

START_TEST(node_used_after_reset_is_refused)
{
    /* x was the first node: after the reset the next node takes its memory,
     * so tanh(x) would be recorded as its own input */
    ag_graph *g = ag_graph_new();
    ag_tensor *wt = scalar_param(0.5);
    ag_node *x = ag_param(g, wt);
    ck_assert_ptr_nonnull(ag_tanh(x));
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_tanh(x));
    ck_assert_graph_error(g, "ag_tanh: operand 1 is a node recorded before the last reset");
    /* naming it would write into memory a new node may hold */
    ag_graph_reset(g);
    x = ag_param(g, wt);
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_node_set_name(x, "x"));
    ck_assert_graph_error(g, "ag_node_set_name: the node is a node recorded before the last reset");
    /* the second operand, next to a current one */
    ag_graph_reset(g);
    ag_node *old_c = ag_scalar(g, 2.0), *old_y = ag_mul(ag_param(g, wt), old_c);
    ck_assert_ptr_nonnull(old_y);
    ag_graph_reset(g);
    ag_node *w = ag_param(g, wt);
    ck_assert_ptr_null(ag_add(w, old_y));
    ck_assert_graph_error(g, "ag_add: operand 2 is a node recorded before the last reset");
    /* as the root of a backward, the out or wrt of a Jacobian, a JVP seed */
    ag_graph_reset(g);
    old_c = ag_scalar(g, 2.0);
    old_y = ag_mul(ag_param(g, wt), old_c);
    ag_graph_reset(g);
    w = ag_param(g, wt);
    ag_node *y = ag_tanh(w);
    ck_assert_ptr_nonnull(y);
    ck_assert(!ag_backward(g, old_y));
    ck_assert_graph_error(g, "ag_backward: root is a node recorded before the last reset");
    ag_graph_reset(g);
    w = ag_param(g, wt);
    y = ag_tanh(w);
    ck_assert_ptr_null(ag_jacobian_rev(g, old_y, w));
    ck_assert_graph_error(g, "ag_jacobian_rev: out is a node recorded before the last reset");
    ag_graph_reset(g);
    w = ag_param(g, wt);
    y = ag_tanh(w);
    ck_assert(!ag_jvp(g, 1, &old_y, (const double *const[]){(double[]){1.0}}));
    ck_assert_graph_error(g, "ag_jvp: seed 0 is a node recorded before the last reset");
    /* current nodes still work after all that */
    ag_graph_reset(g);
    y = ag_tanh(ag_param(g, wt));
    ck_assert(ag_backward(g, y));
    ag_graph_free(g);
    ag_tensor_free(wt);
}
END_TEST

START_TEST(node_grad_of_a_parameter_leaf_is_its_tensors_gradient)
{
    /* y = sum(p1 * p2 * c) with p1, p2 two leaves of t = (3, 5), c = (1, 2):
     * dy/dp1 = p2 c, dy/dp2 = p1 c, and t's gradient is their sum 2 t c =
     * (6, 20); both leaves report it, a second backward adds it again
     * (12, 40), zeroing clears it. The op node p1 * p2 holds dy/d(p1 p2) = c
     * from the last backward alone. */
    ag_graph *g = ag_graph_new();
    ag_tensor *t = ag_tensor_from(1, (int[]){2}, (double[]){3, 5});
    ag_tensor *x = ag_tensor_from(1, (int[]){2}, (double[]){1, 1});
    ag_tensor_requires_grad(t, true);
    ag_node *p1 = ag_param(g, t), *p2 = ag_param(g, t), *in = ag_input(g, x);
    ag_node *prod = ag_mul(p1, p2);
    ag_node *y = ag_sum(ag_mul(ag_mul(prod, in), ag_constant(g, 1, (int[]){2}, (double[]){1, 2})));
    ck_assert(ag_backward(g, y));
    for (int k = 0; k < 2; k++) {
        double expected = 2.0 * ag_tensor_data(t)[k] * (k + 1);
        ck_assert_close(ag_node_grad(p1)[k], expected, 0);
        ck_assert_close(ag_node_grad(p2)[k], expected, 0);
        ck_assert_close(ag_tensor_grad(t)[k], expected, 0);
        ck_assert_close(ag_node_grad(prod)[k], k + 1.0, 0);
    }
    ck_assert(ag_backward(g, y));
    for (int k = 0; k < 2; k++) {
        ck_assert_close(ag_node_grad(p1)[k], 4.0 * ag_tensor_data(t)[k] * (k + 1), 0);
        ck_assert_close(ag_node_grad(prod)[k], k + 1.0, 0); /* afresh */
    }
    ag_graph_zero_grad(g);
    ck_assert(ag_node_grad(p1)[0] == 0.0 && ag_node_grad(p2)[1] == 0.0);
    ck_assert_ptr_null(ag_node_grad(in)); /* an input has none */
    ag_graph_free(g);
    ag_tensor_free(t);
    ag_tensor_free(x);
}
END_TEST

START_TEST(null_graph_misuse_names_the_function)
{
    /* no graph to hold the error: ag_last_error names the function */
    ag_graph *g = ag_graph_new();
    ag_tensor *t = scalar_param(2.0);
    ag_node *x = ag_param(g, t), *y = ag_tanh(x);
    ck_assert(!ag_backward(NULL, y));
    ck_assert_last_error("ag_backward: graph is NULL");
    ck_assert(!ag_backward_seed(NULL, y, NULL));
    ck_assert_last_error("ag_backward_seed: graph is NULL");
    ck_assert(!ag_graph_forward(NULL));
    ck_assert_last_error("ag_graph_forward: graph is NULL");
    ag_graph_zero_grad(NULL);
    ck_assert_last_error("ag_graph_zero_grad: graph is NULL");
    ck_assert_ptr_null(ag_jacobian_rev(NULL, y, x));
    ck_assert_last_error("ag_jacobian_rev: graph is NULL");
    ck_assert_ptr_null(ag_jacobian_fwd(NULL, y, x));
    ck_assert_last_error("ag_jacobian_fwd: graph is NULL");
    ck_assert(!ag_jvp(NULL, 1, &x, (const double *const[]){(double[]){1.0}}));
    ck_assert_last_error("ag_jvp: graph is NULL");
    ag_graph_set_detect_anomaly(NULL, true);
    ck_assert_last_error("ag_graph_set_detect_anomaly: graph is NULL");
    ag_graph_set_trace(NULL, stderr);
    ck_assert_last_error("ag_graph_set_trace: graph is NULL");
    /* a NULL root on a graph, and a NULL out or wrt, go on the graph */
    ck_assert(!ag_backward(g, NULL));
    ck_assert_graph_error(g, "ag_backward: root is NULL");
    ag_graph_reset(g);
    x = ag_param(g, t);
    ck_assert_ptr_null(ag_jacobian_fwd(g, NULL, x));
    ck_assert_graph_error(g, "ag_jacobian_fwd: out is NULL");
    ag_graph_free(g);
    ag_tensor_free(t);
}
END_TEST

Suite *graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("backward walk");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diamond);
    tcase_add_test(tc, node_used_three_times);
    tcase_add_test(tc, scalar_expression_heavy_reuse);
    tcase_add_test(tc, million_node_chain);
    tcase_add_test(tc, backward_from_another_root_and_back);
    tcase_add_test(tc, scheduled_backward_matches_the_walk);
    tcase_add_test(tc, a_long_scheduled_backward_matches_the_walk);
    tcase_add_test(tc, graph_grown_or_rerecorded_after_a_backward);
    tcase_add_test(tc, labels_changed_without_replay_are_not_read);
    tcase_add_test(tc, second_backward_accumulates);
    tcase_add_test(tc, relu_derivative_at_zero_is_zero);
    tcase_add_test(tc, replay_sees_new_inputs);
    tcase_add_test(tc, input_gets_no_gradient);
    tcase_add_test(tc, frees_everything);
    tcase_add_test(tc, node_used_after_reset_is_refused);
    tcase_add_test(tc, stale_nodes_under_new_buffers_are_refused);
    tcase_add_test(tc, null_graph_misuse_names_the_function);
    tcase_add_test(tc, node_grad_of_a_parameter_leaf_is_its_tensors_gradient);
    suite_add_tcase(s, tc);
    return s;
}
