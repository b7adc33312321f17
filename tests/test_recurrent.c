/* test_recurrent.c -- the LSTM and GRU cells and layers (src/nn/recurrent.c)
 * against closed forms worked by hand, against references written here
 * element by element from PyTorch's equations (torch.nn.LSTMCell, GRUCell),
 * against finite differences (first and second derivatives), and their
 * errors. (make interop compares them with PyTorch itself.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"
#include "ops/lstm_math.h"

GRAPH_FIXTURE()

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- references, element by element ------------------------------------------------ */

/* pre[n][j] = b_ih[j] + b_hh[j] + sum_k x[n][k] w_ih[j][k] + sum_k h[n][k] w_hh[j][k]
 * for the rows j of `rows` gates; b NULL is zero. With w_hh NULL only the
 * input's share (a GRU's gi). */
static double affine(const double *x, const double *w, const double *b, int I, int n, int j)
{
    double s = b ? b[j] : 0.0;
    for (int k = 0; k < I; k++) s += x[n * I + k] * w[j * I + k];
    return s;
}

/* LSTMCell: gates i, f, g, o down the rows of w_ih [4H,I], w_hh [4H,H] */
static void ref_lstm_cell(int N, int I, int H, const double *x, const double *h, const double *c,
                          const double *w_ih, const double *w_hh, const double *b_ih, const double *b_hh,
                          double *h_out, double *c_out)
{
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < H; j++) {
            double pre[4];
            for (int q = 0; q < 4; q++) {
                int row = q * H + j;
                pre[q] = affine(x, w_ih, b_ih, I, n, row) + affine(h, w_hh, b_hh, H, n, row);
            }
            double i = sigmoid(pre[0]), f = sigmoid(pre[1]), g = tanh(pre[2]), o = sigmoid(pre[3]);
            double c_new = f * c[n * H + j] + i * g;
            c_out[n * H + j] = c_new;
            h_out[n * H + j] = o * tanh(c_new);
        }
    }
}

/* GRUCell: gates r, z, n down the rows of w_ih [3H,I], w_hh [3H,H] */
static void ref_gru_cell(int N, int I, int H, const double *x, const double *h, const double *w_ih,
                         const double *w_hh, const double *b_ih, const double *b_hh, double *h_out)
{
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < H; j++) {
            double r = sigmoid(affine(x, w_ih, b_ih, I, n, j) + affine(h, w_hh, b_hh, H, n, j));
            double z = sigmoid(affine(x, w_ih, b_ih, I, n, H + j) + affine(h, w_hh, b_hh, H, n, H + j));
            double nn = tanh(affine(x, w_ih, b_ih, I, n, 2 * H + j) + r * affine(h, w_hh, b_hh, H, n, 2 * H + j));
            h_out[n * H + j] = (1.0 - z) * nn + z * h[n * H + j];
        }
    }
}

/* ---- operands ---------------------------------------------------------------------- */

/* Tensors of a cell or layer: x ([N,I] or [T,N,I]), h, c [N,H], the weights
 * of `gates` gates and their biases, values uniform in [-0.8, 0.8). */
typedef struct cell_case {
    int T, N, I, H, gates;
    ag_tensor *x, *h, *c, *w_ih, *w_hh, *b_ih, *b_hh;
    ag_tensor *u, *v; /* loss weights: sum(u * h') + sum(v * c') */
} cell_case;

static ag_tensor *random_tensor(test_rng *r, int nd, const int *dims)
{
    ag_tensor *t = keep_tensor(ag_tensor_zeros(nd, dims));
    double *d = ag_tensor_data(t);
    for (size_t k = 0; k < ag_tensor_size(t); k++) d[k] = rng_uniform(r, -0.8, 0.8);
    ag_tensor_requires_grad(t, true);
    return t;
}

/* T 0: a cell's x [N,I]; T > 0: a layer's x [T,N,I] */
static cell_case make_case(unsigned seed, int gates, int T, int N, int I, int H)
{
    test_rng r = {seed};
    cell_case k = {.T = T, .N = N, .I = I, .H = H, .gates = gates};
    k.x = T ? random_tensor(&r, 3, (int[]){T, N, I}) : random_tensor(&r, 2, (int[]){N, I});
    k.h = random_tensor(&r, 2, (int[]){N, H});
    k.c = random_tensor(&r, 2, (int[]){N, H});
    k.w_ih = random_tensor(&r, 2, (int[]){gates * H, I});
    k.w_hh = random_tensor(&r, 2, (int[]){gates * H, H});
    k.b_ih = random_tensor(&r, 1, (int[]){gates * H});
    k.b_hh = random_tensor(&r, 1, (int[]){gates * H});
    k.u = random_tensor(&r, 2, (int[]){N, H});
    k.v = random_tensor(&r, 2, (int[]){N, H});
    return k;
}

#define D(t) ag_tensor_data(t)
#define P(t) ag_param(g, (t))

static void assert_values(const char *what, const ag_node *n, const double *want, size_t count, double tol)
{
    ck_assert_msg(n != NULL, "%s not recorded: %s", what, ag_graph_error(g) ? ag_graph_error(g) : "");
    ck_assert_uint_eq(ag_node_size(n), count);
    const double *got = ag_node_value(n);
    for (size_t k = 0; k < count; k++)
        ck_assert_msg(fabs(got[k] - want[k]) <= tol, "%s[%zu] = %.17g, expected %.17g", what, k, got[k], want[k]);
}

/* ---- cells: values ------------------------------------------------------------------- */

START_TEST(lstm_cell_with_zero_weights_by_hand)
{
    /* every pre-activation 0: i = f = o = 1/2, g = 0, so c' = c / 2 and
     * h' = tanh(c / 2) / 2; c = {1, -2}: c' = {0.5, -1}, h' = {tanh(.5)/2, -tanh(1)/2} */
    ag_tensor *x = keep_tensor(ag_tensor_ones(2, (int[]){1, 3}));
    ag_tensor *h = keep_tensor(ag_tensor_from(2, (int[]){1, 2}, (double[]){0.3, -0.7}));
    ag_tensor *c = keep_tensor(ag_tensor_from(2, (int[]){1, 2}, (double[]){1.0, -2.0}));
    ag_tensor *w_ih = keep_tensor(ag_tensor_zeros(2, (int[]){8, 3}));
    ag_tensor *w_hh = keep_tensor(ag_tensor_zeros(2, (int[]){8, 2}));
    ag_node *h1, *c1;
    ck_assert(ag_lstm_cell(ag_input(g, x), ag_input(g, h), ag_input(g, c), ag_input(g, w_ih), ag_input(g, w_hh),
                           NULL, NULL, &h1, &c1));
    assert_values("c'", c1, (double[]){0.5, -1.0}, 2, 1e-15);
    assert_values("h'", h1, (double[]){0.5 * tanh(0.5), -0.5 * tanh(1.0)}, 2, 1e-15);
}
END_TEST

START_TEST(lstm_cell_gate_order_is_i_f_g_o)
{
    /* H = I = 1, x = 1, h = 0, c = 2, no biases; w_ih's rows are the gates'
     * weights: i 0 (i = 1/2), f = 100 (f = 1 to 1e-43), g = atanh(0.6)
     * (g = 0.6), o = -100 (o = e^-100): c' = 2 + 0.3 = 2.3, h' = e^-100 tanh(2.3)
     * up to e^-200. A layout with the gates in another order gives other numbers. */
    ag_tensor *w_ih = keep_tensor(ag_tensor_from(2, (int[]){4, 1}, (double[]){0.0, 100.0, atanh(0.6), -100.0}));
    ag_tensor *x = keep_tensor(ag_tensor_ones(2, (int[]){1, 1}));
    ag_tensor *h = keep_tensor(ag_tensor_zeros(2, (int[]){1, 1}));
    ag_tensor *c = keep_tensor(ag_tensor_constant(2, (int[]){1, 1}, 2.0));
    ag_tensor *w_hh = keep_tensor(ag_tensor_zeros(2, (int[]){4, 1}));
    ag_node *h1, *c1;
    ck_assert(ag_lstm_cell(ag_input(g, x), ag_input(g, h), ag_input(g, c), ag_input(g, w_ih), ag_input(g, w_hh),
                           NULL, NULL, &h1, &c1));
    assert_values("c'", c1, (double[]){2.3}, 1, 1e-14);
    ck_assert_double_eq_tol(ag_node_value(h1)[0] / (exp(-100.0) * tanh(2.3)), 1.0, 1e-14);
}
END_TEST

START_TEST(gru_cell_by_hand)
{
    /* H = I = 1, x = 1, h = 0.5, no biases. w_ih = {0, 0, atanh(0.2)} and
     * w_hh = {0, 0, 2}: r = z = 1/2, n = tanh(atanh(0.2) + 0.5 * 2 * 0.5),
     * h' = (n + 0.5) / 2. w_hh's n row is scaled by r and w_ih's is not: a
     * GRU with r applied after the product would give another value. */
    ag_tensor *x = keep_tensor(ag_tensor_ones(2, (int[]){1, 1}));
    ag_tensor *h = keep_tensor(ag_tensor_constant(2, (int[]){1, 1}, 0.5));
    ag_tensor *w_ih = keep_tensor(ag_tensor_from(2, (int[]){3, 1}, (double[]){0.0, 0.0, atanh(0.2)}));
    ag_tensor *w_hh = keep_tensor(ag_tensor_from(2, (int[]){3, 1}, (double[]){0.0, 0.0, 2.0}));
    ag_tensor *b_hh = keep_tensor(ag_tensor_from(1, (int[]){3}, (double[]){0.0, 0.0, 1.0}));
    ag_node *h1 = ag_gru_cell(ag_input(g, x), ag_input(g, h), ag_input(g, w_ih), ag_input(g, w_hh), NULL, NULL);
    double n = tanh(atanh(0.2) + 0.5);
    assert_values("h'", h1, (double[]){(n + 0.5) / 2}, 1, 1e-15);
    /* b_hn = 1 is inside r's product: n = tanh(atanh(0.2) + 0.5 (1 + 1)) */
    h1 = ag_gru_cell(ag_input(g, x), ag_input(g, h), ag_input(g, w_ih), ag_input(g, w_hh), NULL, ag_input(g, b_hh));
    n = tanh(atanh(0.2) + 1.0);
    assert_values("h' with b_hh", h1, (double[]){(n + 0.5) / 2}, 1, 1e-15);
}
END_TEST

START_TEST(lstm_cell_matches_reference)
{
    cell_case k = make_case(11, 4, 0, 3, 4, 5);
    double want_h[15], want_c[15];
    ref_lstm_cell(3, 4, 5, D(k.x), D(k.h), D(k.c), D(k.w_ih), D(k.w_hh), D(k.b_ih), D(k.b_hh), want_h, want_c);
    ag_node *h1, *c1;
    ck_assert(ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), &h1, &c1));
    assert_values("h'", h1, want_h, 15, 1e-14);
    assert_values("c'", c1, want_c, 15, 1e-14);
    /* without biases (bias=False), and with one of the two */
    ref_lstm_cell(3, 4, 5, D(k.x), D(k.h), D(k.c), D(k.w_ih), D(k.w_hh), NULL, NULL, want_h, want_c);
    ck_assert(ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(k.w_hh), NULL, NULL, &h1, &c1));
    assert_values("h' without biases", h1, want_h, 15, 1e-14);
    assert_values("c' without biases", c1, want_c, 15, 1e-14);
    ref_lstm_cell(3, 4, 5, D(k.x), D(k.h), D(k.c), D(k.w_ih), D(k.w_hh), NULL, D(k.b_hh), want_h, want_c);
    ck_assert(ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(k.w_hh), NULL, P(k.b_hh), &h1, &c1));
    assert_values("h' with b_hh alone", h1, want_h, 15, 1e-14);
}
END_TEST

START_TEST(gru_cell_matches_reference)
{
    cell_case k = make_case(12, 3, 0, 3, 4, 5);
    double want[15];
    ref_gru_cell(3, 4, 5, D(k.x), D(k.h), D(k.w_ih), D(k.w_hh), D(k.b_ih), D(k.b_hh), want);
    ag_node *h1 = ag_gru_cell(P(k.x), P(k.h), P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh));
    assert_values("h'", h1, want, 15, 1e-14);
    ref_gru_cell(3, 4, 5, D(k.x), D(k.h), D(k.w_ih), D(k.w_hh), D(k.b_ih), NULL, want);
    h1 = ag_gru_cell(P(k.x), P(k.h), P(k.w_ih), P(k.w_hh), P(k.b_ih), NULL);
    assert_values("h' without b_hh", h1, want, 15, 1e-14);
}
END_TEST

/* ---- cells and layers: derivatives ------------------------------------------------- */

/* loss = sum(u * h') + sum(v * c') of one cell (c' and v: LSTM only), or of
 * a layer: sum(u * h_T) + sum(v * c_T) + sum(outputs^2) / 2 */
static ag_node *cell_loss(ag_graph *gr, void *user)
{
    const cell_case *k = user;
    ag_node *x = ag_param(gr, k->x), *h = ag_param(gr, k->h), *w_ih = ag_param(gr, k->w_ih),
            *w_hh = ag_param(gr, k->w_hh), *b_ih = ag_param(gr, k->b_ih), *b_hh = ag_param(gr, k->b_hh);
    ag_node *u = ag_param(gr, k->u), *v = ag_param(gr, k->v);
    ag_node *h1 = NULL, *c1 = NULL, *out = NULL;
    if (k->gates == 4 && !k->T)
        ag_lstm_cell(x, h, ag_param(gr, k->c), w_ih, w_hh, b_ih, b_hh, &h1, &c1);
    else if (k->gates == 4)
        ag_lstm(x, h, ag_param(gr, k->c), w_ih, w_hh, b_ih, b_hh, &out, &h1, &c1);
    else if (!k->T)
        h1 = ag_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh);
    else
        ag_gru(x, h, w_ih, w_hh, b_ih, b_hh, &out, &h1);
    ag_node *loss = ag_sum(ag_mul(u, h1));
    if (c1) loss = ag_add(loss, ag_sum(ag_mul(v, c1)));
    if (out) loss = ag_add(loss, ag_mul(ag_scalar(gr, 0.5), ag_sum(ag_mul(out, out))));
    return loss;
}

/* every operand of the case, weights of the loss included */
static void check_gradients(cell_case *k)
{
    ag_tensor *lstm[] = {k->x, k->h, k->c, k->w_ih, k->w_hh, k->b_ih, k->b_hh};
    ag_tensor *gru[] = {k->x, k->h, k->w_ih, k->w_hh, k->b_ih, k->b_hh};
    ag_tensor **params = k->gates == 4 ? lstm : gru;
    size_t n = k->gates == 4 ? 7 : 6;
    ag_gradcheck_result res[7];
    ag_gradcheck_options opt = ag_gradcheck_defaults();
    opt.atol = 1e-8;
    opt.rtol = 1e-6;
    ck_assert_msg(ag_gradcheck(cell_loss, k, n, params, &opt, res), "gradcheck failed: %s", ag_last_error());
    for (size_t p = 0; p < n; p++) ck_assert(res[p].pass);
}

START_TEST(lstm_cell_gradients_match_finite_differences)
{
    cell_case k = make_case(21, 4, 0, 2, 3, 4);
    check_gradients(&k);
}
END_TEST

START_TEST(gru_cell_gradients_match_finite_differences)
{
    cell_case k = make_case(22, 3, 0, 2, 3, 4);
    check_gradients(&k);
}
END_TEST

START_TEST(lstm_layer_gradients_match_finite_differences)
{
    cell_case k = make_case(23, 4, 4, 2, 3, 3);
    check_gradients(&k);
}
END_TEST

START_TEST(gru_layer_gradients_match_finite_differences)
{
    cell_case k = make_case(24, 3, 4, 2, 3, 3);
    check_gradients(&k);
}
END_TEST

START_TEST(cells_second_derivatives_match_finite_differences)
{
    ag_gradcheck_options opt = ag_gradcheck_defaults();
    opt.atol = 1e-7;
    opt.rtol = 1e-5;
    for (int gates = 3; gates <= 4; gates++) {
        cell_case k = make_case(30 + gates, gates, 0, 2, 2, 2);
        ag_tensor *params[] = {k.x, k.h, k.w_hh, k.b_ih};
        ck_assert_msg(ag_gradgradcheck(cell_loss, &k, 4, params, &opt, NULL), "%d gates: %s", gates,
                      ag_last_error());
        free_kept_tensors();
    }
    cell_case k = make_case(35, 4, 3, 1, 2, 2); /* a layer of 3 steps */
    ag_tensor *params[] = {k.w_ih, k.w_hh, k.c};
    ck_assert_msg(ag_gradgradcheck(cell_loss, &k, 3, params, &opt, NULL), "layer: %s", ag_last_error());
}
END_TEST

/* ---- the fused pointwise step (ag_lstm_state, ag_lstm_output) ----------------------- */

/* The step's definition composed of public ops, which ag_lstm_cell recorded
 * before the fused ops: slices of the gates, sigmoid, tanh, mul, add. */
static void composed_step(ag_node *gates, ag_node *c, int H, ag_node **h_out, ag_node **c_out)
{
    ag_node *i = ag_sigmoid(ag_slice(gates, 1, 0, H, 1)), *f = ag_sigmoid(ag_slice(gates, 1, H, 2 * H, 1));
    ag_node *gg = ag_tanh(ag_slice(gates, 1, 2 * H, 3 * H, 1)), *o = ag_sigmoid(ag_slice(gates, 1, 3 * H, 4 * H, 1));
    *c_out = ag_add(ag_mul(f, c), ag_mul(i, gg));
    *h_out = ag_mul(o, ag_tanh(*c_out));
}

static void assert_close_arrays(const char *what, const double *got, const double *want, size_t n, double tol)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(fabs(got[k] - want[k]) <= tol * (1.0 + fabs(want[k])), "%s[%zu] = %.17g, composed %.17g",
                      what, k, got[k], want[k]);
}

/* The fused ops against the composition, on gates spread over [-4, 4]:
 * values, gradients, tangents (forward mode) and Hessian-vector products
 * (their recorded derivatives) of loss = sum(u h') + sum(v c'). */
START_TEST(fused_pointwise_step_matches_composed)
{
    enum { N = 3, H = 5 };
    test_rng r = {61};
    ag_tensor *a = keep_tensor(ag_tensor_zeros(2, (int[]){N, 4 * H}));
    for (int k = 0; k < N * 4 * H; k++) D(a)[k] = rng_uniform(&r, -4.0, 4.0);
    ag_tensor_requires_grad(a, true);
    ag_tensor *c = random_tensor(&r, 2, (int[]){N, H}), *u = random_tensor(&r, 2, (int[]){N, H}),
              *v = random_tensor(&r, 2, (int[]){N, H});
    ag_node *an = P(a), *cn = P(c), *un = ag_input(g, u), *vn = ag_input(g, v);
    ag_node *h[2], *cs[2], *loss[2];
    cs[0] = ag_lstm_state(an, cn);
    h[0] = ag_lstm_output(an, cs[0]);
    composed_step(an, cn, H, &h[1], &cs[1]);
    for (int k = 0; k < 2; k++) loss[k] = ag_add(ag_sum(ag_mul(un, h[k])), ag_sum(ag_mul(vn, cs[k])));
    ck_assert_msg(!ag_graph_error(g), "%s", ag_graph_error(g));
    assert_close_arrays("c'", ag_node_value(cs[0]), ag_node_value(cs[1]), N * H, 1e-15);
    assert_close_arrays("h'", ag_node_value(h[0]), ag_node_value(h[1]), N * H, 1e-15);

    ag_node *wrt[2] = {an, cn}, *grads[2][2];
    for (int k = 0; k < 2; k++) ck_assert(ag_grad(g, loss[k], 2, wrt, grads[k], false));
    assert_close_arrays("d/dgates", ag_node_value(grads[0][0]), ag_node_value(grads[1][0]), N * 4 * H, 1e-15);
    assert_close_arrays("d/dc", ag_node_value(grads[0][1]), ag_node_value(grads[1][1]), N * H, 1e-15);

    double ta[N * 4 * H], tc[N * H];
    for (int k = 0; k < N * 4 * H; k++) ta[k] = rng_uniform(&r, -1.0, 1.0);
    for (int k = 0; k < N * H; k++) tc[k] = rng_uniform(&r, -1.0, 1.0);
    ck_assert(ag_jvp(g, 2, wrt, (const double *const[]){ta, tc}));
    assert_close_arrays("tangent c'", ag_node_tangent(cs[0]), ag_node_tangent(cs[1]), N * H, 1e-15);
    assert_close_arrays("tangent h'", ag_node_tangent(h[0]), ag_node_tangent(h[1]), N * H, 1e-15);

    double hv[2][N * 4 * H];
    for (int k = 0; k < 2; k++) ck_assert_msg(ag_hvp(g, loss[k], an, ta, hv[k]), "%s", ag_graph_error(g));
    assert_close_arrays("H v", hv[0], hv[1], N * 4 * H, 1e-14);
}
END_TEST

/* The whole-sequence op (ag_lstm_sequence) against its readable definition,
 * the cell composition step by step: a_t = X[t] + h w_hh^T (matmul, add),
 * then composed_step. Values of every h_t and c_t, the gradients of
 * loss = sum(U * Y) to X, w_hh, h0, c0, the tangents of forward mode and a
 * Hessian-vector product (the recorded derivatives). */
START_TEST(lstm_sequence_matches_the_cell_composition)
{
    enum { T = 4, N = 3, H = 5 };
    test_rng r = {67};
    ag_tensor *x = random_tensor(&r, 3, (int[]){T, N, 4 * H}), *w = random_tensor(&r, 2, (int[]){4 * H, H});
    ag_tensor *h0 = random_tensor(&r, 2, (int[]){N, H}), *c0 = random_tensor(&r, 2, (int[]){N, H});
    ag_tensor *u = random_tensor(&r, 4, (int[]){2, T, N, H});
    ag_node *xn = P(x), *wn = P(w), *h0n = P(h0), *c0n = P(c0);
    ag_node *fused = ag_lstm_sequence(xn, wn, h0n, c0n);
    ag_node *h = h0n, *c = c0n, *hs[T], *cs[T];
    for (int t = 0; t < T; t++) {
        ag_node *xt = ag_reshape(ag_slice(xn, 0, t, t + 1, 1), 2, (int[]){N, 4 * H});
        composed_step(ag_add(xt, ag_matmul(h, ag_transpose(wn))), c, H, &h, &c);
        hs[t] = h;
        cs[t] = c;
    }
    ag_node *both[2] = {ag_stack(T, hs, 0), ag_stack(T, cs, 0)};
    ag_node *composed = ag_stack(2, both, 0), *un = ag_input(g, u);
    ag_node *loss[2] = {ag_sum(ag_mul(un, fused)), ag_sum(ag_mul(un, composed))};
    ck_assert_msg(!ag_graph_error(g), "%s", ag_graph_error(g));
    assert_close_arrays("Y", ag_node_value(fused), ag_node_value(composed), 2 * T * N * H, 1e-14);

    ag_node *wrt[4] = {xn, wn, h0n, c0n}, *grads[2][4];
    size_t sizes[4] = {T * N * 4 * H, 4 * H * H, N * H, N * H};
    const char *names[4] = {"d/dX", "d/dw_hh", "d/dh0", "d/dc0"};
    for (int k = 0; k < 2; k++) ck_assert(ag_grad(g, loss[k], 4, wrt, grads[k], false));
    for (int p = 0; p < 4; p++)
        assert_close_arrays(names[p], ag_node_value(grads[0][p]), ag_node_value(grads[1][p]), sizes[p], 1e-13);

    double *tangents[4];
    for (int p = 0; p < 4; p++) {
        tangents[p] = malloc(sizes[p] * sizeof(double));
        for (size_t k = 0; k < sizes[p]; k++) tangents[p][k] = rng_uniform(&r, -1.0, 1.0);
    }
    ck_assert(ag_jvp(g, 4, wrt, (const double *const *)tangents));
    assert_close_arrays("tangent Y", ag_node_tangent(fused), ag_node_tangent(composed), 2 * T * N * H, 1e-13);

    double hv[2][4 * H * H];
    for (int k = 0; k < 2; k++) ck_assert_msg(ag_hvp(g, loss[k], wn, tangents[1], hv[k]), "%s", ag_graph_error(g));
    assert_close_arrays("H v (w_hh)", hv[0], hv[1], 4 * H * H, 1e-12);
    for (int p = 0; p < 4; p++) free(tangents[p]);
}
END_TEST

START_TEST(lstm_sequence_shapes_are_named)
{
    ag_tensor *x = keep_tensor(ag_tensor_zeros(3, (int[]){2, 3, 16})), *w = keep_tensor(ag_tensor_zeros(2, (int[]){16, 4}));
    ag_tensor *s = keep_tensor(ag_tensor_zeros(2, (int[]){3, 4})), *bad = keep_tensor(ag_tensor_zeros(2, (int[]){2, 4}));
    ag_tensor *w5 = keep_tensor(ag_tensor_zeros(2, (int[]){20, 5}));
    ck_assert_ptr_null(ag_lstm_sequence(P(x), P(w), P(s), P(bad)));
    ck_assert_graph_error(g, "c0 is 2x4, expected [3, 4] ([N, H] with N = 3 from gates_x, H = 4)");
    ag_graph_reset(g);
    ck_assert_ptr_null(ag_lstm_sequence(P(x), P(w5), P(s), P(s)));
    ck_assert_graph_error(g, "gates_x is 2x3x16, expected [T, N, 20] or [T N, 20] ([T, N, 4H] with H = 5 "
                             "from w_hh, N from h0)");
    ag_graph_reset(g);
    ag_tensor *rows7 = keep_tensor(ag_tensor_zeros(2, (int[]){7, 16})); /* 7 rows: not T x 3 */
    ck_assert_ptr_null(ag_lstm_sequence(P(rows7), P(w), P(s), P(s)));
    ck_assert_graph_error(g, "gates_x is 7x16, expected [T, N, 16] or [T N, 16] ([T, N, 4H] with H = 4 "
                             "from w_hh, N from h0)");
}
END_TEST

/* rows [lo, lo + n) of every [., R, K] block of src (blocks of R rows of K)
 * copied into a tensor of dims (and src's type) with n rows a block */
static ag_tensor *rows_of(const ag_tensor *src, int nd, const int *dims, int R, int lo)
{
    ag_tensor *t = keep_tensor(ag_tensor_zeros_dtype(nd, dims, src->dtype));
    ag_tensor_requires_grad(t, true);
    size_t n = (size_t)dims[nd - 2], K = (size_t)dims[nd - 1], blocks = ag_tensor_size(t) / (n * K);
    size_t e = ag_dtype_bytes(src->dtype);
    for (size_t b = 0; b < blocks; b++)
        memcpy((char *)t->data + b * n * K * e, (const char *)src->data + (b * R + lo) * K * e, n * K * e);
    return t;
}

/* whether rows [lo, lo + n) of every block of R rows of K in whole equal
 * part's n-row blocks, bit for bit (elements of e bytes) */
static bool rows_equal(const void *whole, const void *part, size_t e, size_t blocks, int R, int n, int lo, int K)
{
    for (size_t b = 0; b < blocks; b++)
        if (memcmp((const char *)whole + (b * R + lo) * K * e, (const char *)part + b * n * K * e,
                   (size_t)n * K * e) != 0)
            return false;
    return true;
}

/* t in `dtype` (t itself for float64; a float32 copy, rounded, kept) */
static ag_tensor *in_type(ag_tensor *t, ag_dtype dtype)
{
    return dtype == AG_FLOAT64 ? t : keep_tensor(ag_tensor_to_dtype(t, dtype));
}

/* The batch's rows never meet in the recurrence, so lstm_sequence runs bands
 * of them on the kernel threads (the suite runs with 3: a batch of 16 goes
 * as bands of 4, 4 and 8 rows). The whole batch gives the same bits, value
 * and the gradients of X, h0 and c0, as its two halves of 8 rows run alone
 * (too small to split: one thread each); w_hh's gradient, one product over
 * all the rows against a sum of two, agrees to rounding. */
START_TEST(lstm_sequence_threads_give_the_bits_of_one)
{
    enum { T = 8, N = 16, H = 32, HALF = N / 2 };
    ag_dtype dtype = _i ? AG_FLOAT32 : AG_FLOAT64; /* _i: the loop, 0 float64, 1 float32 */
    size_t e = ag_dtype_bytes(dtype);
    test_rng r = {73};
    ag_tensor *x = in_type(random_tensor(&r, 3, (int[]){T, N, 4 * H}), dtype);
    ag_tensor *w = in_type(random_tensor(&r, 2, (int[]){4 * H, H}), dtype);
    ag_tensor *h0 = in_type(random_tensor(&r, 2, (int[]){N, H}), dtype);
    ag_tensor *c0 = in_type(random_tensor(&r, 2, (int[]){N, H}), dtype);
    ag_tensor *u = in_type(random_tensor(&r, 4, (int[]){2, T, N, H}), dtype);
    ag_tensor *w_halves = keep_tensor(ag_tensor_to_dtype(w, dtype));
    ag_node *y = ag_lstm_sequence(P(x), P(w), P(h0), P(c0));
    ag_node *loss = ag_sum(ag_mul(ag_input(g, u), y)), *wn = P(w_halves), *y_half[2];
    ag_tensor *x_half[2], *h0_half[2], *c0_half[2];
    for (int k = 0; k < 2; k++) {
        x_half[k] = rows_of(x, 3, (int[]){T, HALF, 4 * H}, N, k * HALF);
        h0_half[k] = rows_of(h0, 2, (int[]){HALF, H}, N, k * HALF);
        c0_half[k] = rows_of(c0, 2, (int[]){HALF, H}, N, k * HALF);
        ag_tensor *u_half = rows_of(u, 4, (int[]){2, T, HALF, H}, N, k * HALF);
        y_half[k] = ag_lstm_sequence(P(x_half[k]), wn, P(h0_half[k]), P(c0_half[k]));
        loss = ag_add(loss, ag_sum(ag_mul(ag_input(g, u_half), y_half[k])));
    }
    ck_assert_msg(ag_backward(g, loss), "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_dtype(y), dtype);
    for (int k = 0; k < 2; k++) {
        int lo = k * HALF;
        ck_assert_msg(rows_equal(y->value, y_half[k]->value, e, 2 * T, N, HALF, lo, H), "Y, half %d", k);
        ck_assert_msg(rows_equal(x->grad, x_half[k]->grad, e, T, N, HALF, lo, 4 * H), "dX, half %d", k);
        ck_assert_msg(rows_equal(h0->grad, h0_half[k]->grad, e, 1, N, HALF, lo, H), "dh0, half %d", k);
        ck_assert_msg(rows_equal(c0->grad, c0_half[k]->grad, e, 1, N, HALF, lo, H), "dc0, half %d", k);
    }
    double scale = 0.0, worst = 0.0;
    for (size_t k = 0; k < ag_tensor_size(w); k++) {
        double a = ag_typed_get(w->grad, dtype, k), b = ag_typed_get(w_halves->grad, dtype, k);
        scale = fmax(scale, fabs(a)), worst = fmax(worst, fabs(a - b));
    }
    ck_assert_msg(worst <= (dtype == AG_FLOAT64 ? 1e-13 : 1e-5) * scale, "d/dw_hh differs by %g (scale %g)", worst,
                  scale);
}
END_TEST

/* The first P steps of a sequence, run alone, are too small to split over
 * the threads; the whole sequence is split (or not, where a band's product
 * would fall on ag_gemm's direct path, which rounds differently). Either
 * way its first P steps give the bits of the prefix run on one thread.
 * Shapes: split over 3 threads (N 16, and N 18, not a multiple of the
 * 4-row band); and N 8, H 16, whose 4-row bands would be direct products. */
static void check_prefix_bits(unsigned seed, int T, int P, int N, int H)
{
    test_rng r = {seed};
    ag_tensor *x = random_tensor(&r, 3, (int[]){T, N, 4 * H}), *w = random_tensor(&r, 2, (int[]){4 * H, H});
    ag_tensor *h0 = random_tensor(&r, 2, (int[]){N, H}), *c0 = random_tensor(&r, 2, (int[]){N, H});
    ag_tensor *prefix = rows_of(x, 2, (int[]){P * N, 4 * H}, T * N, 0); /* the first P steps, as rows */
    ag_node *y = ag_lstm_sequence(P(x), P(w), P(h0), P(c0));
    ag_node *y_prefix = ag_lstm_sequence(P(prefix), P(w), P(h0), P(c0));
    ck_assert_msg(y && y_prefix, "%s", ag_graph_error(g));
    for (int which = 0; which < 2; which++) /* Y[which, 0 .. P-1] */
        ck_assert_msg(memcmp(ag_node_value(y) + (size_t)which * T * N * H,
                             ag_node_value(y_prefix) + (size_t)which * P * N * H,
                             (size_t)P * N * H * sizeof(double)) == 0,
                      "T %d N %d H %d: the first %d steps differ from the prefix's (%s)", T, N, H, P,
                      which ? "c" : "h");
}

START_TEST(lstm_sequence_prefix_alone_gives_the_same_bits)
{
    check_prefix_bits(79, 8, 2, 16, 32);
    check_prefix_bits(83, 8, 2, 18, 32);
    check_prefix_bits(89, 64, 4, 8, 16);
}
END_TEST

/* gates_x given as its rows [T N, 4H] is the same sequence as [T,N,4H]: the
 * same bits in the output and every gradient (the memory is the same) */
START_TEST(lstm_sequence_takes_the_rows_form)
{
    enum { T = 3, N = 2, H = 4 };
    test_rng r = {71};
    ag_tensor *x3 = random_tensor(&r, 3, (int[]){T, N, 4 * H}), *w = random_tensor(&r, 2, (int[]){4 * H, H});
    ag_tensor *x2 = keep_tensor(ag_tensor_zeros(2, (int[]){T * N, 4 * H}));
    ag_tensor_requires_grad(x2, true);
    memcpy(ag_tensor_data(x2), ag_tensor_data(x3), T * N * 4 * H * sizeof(double));
    ag_tensor *h0 = random_tensor(&r, 2, (int[]){N, H}), *c0 = random_tensor(&r, 2, (int[]){N, H});
    ag_tensor *u = random_tensor(&r, 4, (int[]){2, T, N, H});
    ag_node *y[2] = {ag_lstm_sequence(P(x3), P(w), P(h0), P(c0)), ag_lstm_sequence(P(x2), P(w), P(h0), P(c0))};
    ck_assert_msg(y[0] && y[1], "%s", ag_graph_error(g));
    ck_assert_int_eq(ag_node_ndim(y[1]), 4);
    ck_assert_int_eq(ag_node_dim(y[1], 1), T);
    ck_assert_mem_eq(ag_node_value(y[0]), ag_node_value(y[1]), 2 * T * N * H * sizeof(double));
    ag_node *loss = ag_add(ag_sum(ag_mul(ag_input(g, u), y[0])), ag_sum(ag_mul(ag_input(g, u), y[1])));
    ck_assert(ag_backward(g, loss));
    ck_assert_mem_eq(ag_tensor_grad(x3), ag_tensor_grad(x2), T * N * 4 * H * sizeof(double));
}
END_TEST

/* Every gate pre-activation 0: i = f = o = 1/2, g = 0, so c' = c / 2 and
 * h' = tanh(c') / 2; the derivatives of L = sum(h') + sum(c') by hand:
 *   dL/dc'   = 1 + (1 - tanh^2 c') / 2            (h' through tanh, plus c' itself)
 *   dL/da_i  = dL/dc' g i (1 - i) = 0             (g = 0)
 *   dL/da_f  = dL/dc' c f (1 - f) = dL/dc' c / 4
 *   dL/da_g  = dL/dc' i (1 - g^2) = dL/dc' / 2
 *   dL/da_o  = tanh(c') o (1 - o) = tanh(c') / 4
 *   dL/dc    = dL/dc' f = dL/dc' / 2                                         */
START_TEST(fused_pointwise_step_by_hand)
{
    ag_tensor *a = keep_tensor(ag_tensor_zeros(2, (int[]){1, 8}));
    ag_tensor *c = keep_tensor(ag_tensor_from(2, (int[]){1, 2}, (double[]){1.0, -2.0}));
    ag_tensor_requires_grad(a, true);
    ag_tensor_requires_grad(c, true);
    ag_node *an = P(a), *c1 = ag_lstm_state(an, P(c)), *h1 = ag_lstm_output(an, c1);
    ck_assert(ag_backward(g, ag_add(ag_sum(h1), ag_sum(c1))));
    double t0 = tanh(0.5), t1 = tanh(-1.0), d0 = 1 + (1 - t0 * t0) / 2, d1 = 1 + (1 - t1 * t1) / 2;
    assert_values("c'", c1, (double[]){0.5, -1.0}, 2, 1e-15);
    assert_values("h'", h1, (double[]){t0 / 2, t1 / 2}, 2, 1e-15);
    assert_close_arrays("dL/dgates", ag_tensor_grad(a),
                        (double[]){0, 0, d0 / 4, -2 * d1 / 4, d0 / 2, d1 / 2, t0 / 4, t1 / 4}, 8, 1e-15);
    assert_close_arrays("dL/dc", ag_tensor_grad(c), (double[]){d0 / 2, d1 / 2}, 2, 1e-15);
}
END_TEST

START_TEST(fused_pointwise_step_shapes_are_named)
{
    ag_tensor *a = keep_tensor(ag_tensor_zeros(2, (int[]){3, 20}));
    ag_tensor *c = keep_tensor(ag_tensor_zeros(2, (int[]){3, 4}));
    ck_assert_ptr_null(ag_lstm_state(P(a), P(c)));
    ck_assert_graph_error(g, "gates are 3x20, expected [3, 16] ([N, 4H] with N = 3, H = 4 from the state)");
    ag_graph_reset(g);
    ag_tensor *c1 = keep_tensor(ag_tensor_zeros(1, (int[]){5}));
    ck_assert_ptr_null(ag_lstm_output(P(a), P(c1)));
    ck_assert_graph_error(g, "the state is 5, expected [N, H]");
}
END_TEST

/* ---- the gates' activations (ops/lstm_math.h) against long double libm ------------- */

/* |got - want| in units of the last place of the double nearest want */
static double ulps(double got, long double want)
{
    double w = (double)want, spacing = nextafter(fabs(w), INFINITY) - fabs(w);
    return (double)(fabsl((long double)got - want) / spacing);
}

/* Points: a fine grid over [-40, 40] (step 1/73, no two on a pattern), both
 * sides of tanh's switch at 0.4 and of the clamp at 708, tiny values, 0, -0. */
static size_t activation_points(double *x, size_t cap)
{
    size_t n = 0;
    for (int k = -40 * 73; k <= 40 * 73 && n < cap; k++) x[n++] = k / 73.0;
    const double extra[] = {0.4, nextafter(0.4, 0.0), nextafter(0.4, 1.0), -0.4, 1e-300, -1e-300, 1e-10,
                            -3e-8, 0.0, -0.0, 0.0123, 354.0, 354.5, 700.0, 707.9, -707.9, 708.0, -708.0};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0] && n < cap; k++) x[n++] = extra[k];
    return n;
}

START_TEST(gate_activations_are_within_4_ulp)
{
    enum { CAP = 6000 };
    static double x[CAP], s[CAP], t[CAP];
    size_t n = activation_points(x, CAP);
    lstm_sigmoid_row(x, n, s);
    lstm_tanh_row(x, n, t);
    for (size_t k = 0; k < n; k++) {
        long double sig_ref = 1.0L / (1.0L + expl(-(long double)x[k])), tanh_ref = tanhl((long double)x[k]);
        ck_assert_in_loop(ulps(s[k], sig_ref) <= 4.0, "sigmoid(%.17g) = %.17g, expl gives %.20Lg (%.1f ulp)", x[k],
                          s[k], sig_ref, ulps(s[k], sig_ref));
        ck_assert_in_loop(ulps(t[k], tanh_ref) <= 4.0, "tanh(%.17g) = %.17g, tanhl gives %.20Lg (%.1f ulp)", x[k], t[k],
                          tanh_ref, ulps(t[k], tanh_ref));
    }
    /* the edges: tanh keeps -0's sign; NaN stays NaN; beyond the clamp
     * sigmoid is 1 or within 1e-307 of 0, tanh +-1 */
    double edge[] = {-0.0, NAN, INFINITY, -INFINITY, 800.0, -800.0, 1e300}, es[7], et[7];
    lstm_sigmoid_row(edge, 7, es);
    lstm_tanh_row(edge, 7, et);
    ck_assert(et[0] == 0.0 && signbit(et[0]));
    ck_assert(isnan(es[1]) && isnan(et[1]));
    ck_assert(es[2] == 1.0 && et[2] == 1.0 && et[3] == -1.0 && es[4] == 1.0 && es[6] == 1.0);
    ck_assert(es[3] >= 0.0 && es[3] < 1e-307 && es[5] >= 0.0 && es[5] < 1e-307);
    ck_assert(et[4] == 1.0 && et[5] == -1.0 && et[6] == 1.0);
}
END_TEST

/* The ops' forwards run a copy of the rows compiled for the CPU's widest
 * vectors (AVX2 where it has it): the same operations, so the same bits as
 * the rows compiled here for any x86-64. */
START_TEST(fused_forwards_give_the_rows_bits)
{
    enum { N = 2, H = 37 };
    test_rng r = {71};
    ag_tensor *a = keep_tensor(ag_tensor_zeros(2, (int[]){N, 4 * H}));
    for (int k = 0; k < N * 4 * H; k++) D(a)[k] = rng_uniform(&r, -6.0, 6.0);
    ag_tensor *c = random_tensor(&r, 2, (int[]){N, H});
    ag_node *c1 = ag_lstm_state(ag_input(g, a), ag_input(g, c)), *h1 = ag_lstm_output(ag_input(g, a), c1);
    ck_assert_ptr_nonnull(h1);
    for (int n = 0; n < N; n++) {
        const double *row = D(a) + n * 4 * H;
        double i[H], f[H], gg[H], o[H], want_c[H], t[H];
        lstm_sigmoid_row(row, H, i);
        lstm_sigmoid_row(row + H, H, f);
        lstm_tanh_row(row + 2 * H, H, gg);
        lstm_sigmoid_row(row + 3 * H, H, o);
        for (int j = 0; j < H; j++) want_c[j] = f[j] * D(c)[n * H + j] + i[j] * gg[j];
        lstm_tanh_row(want_c, H, t);
        for (int j = 0; j < H; j++) {
            ck_assert(ag_node_value(c1)[n * H + j] == want_c[j]);
            ck_assert(ag_node_value(h1)[n * H + j] == o[j] * t[j]);
        }
    }
}
END_TEST

/* ---- layers: values -------------------------------------------------------------------- */

/* The reference layer: the cell applied T times from (h, c) (NULL: zeros),
 * writing every h_t into outs [T,N,H] and the last state into h, c. */
static void ref_lstm_layer(const cell_case *k, const double *h0, const double *c0, double *outs, double *h,
                           double *c)
{
    int NH = k->N * k->H;
    for (int j = 0; j < NH; j++) h[j] = h0 ? h0[j] : 0.0, c[j] = c0 ? c0[j] : 0.0;
    double hn[64], cn[64];
    for (int t = 0; t < k->T; t++) {
        ref_lstm_cell(k->N, k->I, k->H, D(k->x) + t * k->N * k->I, h, c, D(k->w_ih), D(k->w_hh), D(k->b_ih),
                      D(k->b_hh), hn, cn);
        memcpy(h, hn, NH * sizeof *h);
        memcpy(c, cn, NH * sizeof *c);
        memcpy(outs + t * NH, h, NH * sizeof *h);
    }
}

START_TEST(lstm_layer_matches_reference)
{
    cell_case k = make_case(41, 4, 5, 2, 3, 4);
    double outs[5 * 8], h[8], c[8];
    ref_lstm_layer(&k, D(k.h), D(k.c), outs, h, c);
    ag_node *out, *h_n, *c_n;
    ck_assert(ag_lstm(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), &out, &h_n, &c_n));
    ck_assert_int_eq(ag_node_ndim(out), 3);
    ck_assert_int_eq(ag_node_dim(out, 0), 5);
    ck_assert_int_eq(ag_node_dim(out, 1), 2);
    ck_assert_int_eq(ag_node_dim(out, 2), 4);
    assert_values("outputs", out, outs, 40, 1e-14);
    assert_values("h_n", h_n, h, 8, 1e-14);
    assert_values("c_n", c_n, c, 8, 1e-14);
    /* NULL initial state: zeros; NULL result pointers: not wanted */
    ref_lstm_layer(&k, NULL, NULL, outs, h, c);
    ck_assert(ag_lstm(P(k.x), NULL, NULL, P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), NULL, NULL, &c_n));
    assert_values("c_n from zeros", c_n, c, 8, 1e-14);
    ck_assert(ag_lstm(P(k.x), NULL, NULL, P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), &out, NULL, NULL));
    assert_values("outputs from zeros", out, outs, 40, 1e-14);
}
END_TEST

START_TEST(gru_layer_matches_reference)
{
    cell_case k = make_case(42, 3, 5, 2, 3, 4);
    double h[8], hn[8], outs[40];
    for (int step = 0; step < 2; step++) { /* from h, then from zeros */
        for (int j = 0; j < 8; j++) h[j] = step == 0 ? D(k.h)[j] : 0.0;
        for (int t = 0; t < 5; t++) {
            ref_gru_cell(2, 3, 4, D(k.x) + t * 6, h, D(k.w_ih), D(k.w_hh), D(k.b_ih), D(k.b_hh), hn);
            memcpy(h, hn, sizeof h);
            memcpy(outs + t * 8, h, sizeof h);
        }
        ag_node *out, *h_n;
        ck_assert(ag_gru(P(k.x), step == 0 ? P(k.h) : NULL, P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), &out,
                         &h_n));
        assert_values("outputs", out, outs, 40, 1e-14);
        assert_values("h_n", h_n, h, 8, 1e-14);
    }
}
END_TEST

START_TEST(lstm_state_carried_over_segments_equals_the_whole_sequence)
{
    /* truncated BPTT's forward: 6 steps at once, or 4 then 2 with the state
     * copied into input tensors between them (graph reset in between) */
    cell_case k = make_case(43, 4, 6, 2, 3, 4);
    double outs[6 * 8], h[8], c[8];
    ref_lstm_layer(&k, NULL, NULL, outs, h, c);
    ag_tensor *first = keep_tensor(ag_tensor_from(3, (int[]){4, 2, 3}, D(k.x)));
    ag_tensor *second = keep_tensor(ag_tensor_from(3, (int[]){2, 2, 3}, D(k.x) + 4 * 6));
    ag_tensor *h_state = keep_tensor(ag_tensor_zeros(2, (int[]){2, 4}));
    ag_tensor *c_state = keep_tensor(ag_tensor_zeros(2, (int[]){2, 4}));
    ag_node *out, *h_n, *c_n;
    ck_assert(ag_lstm(ag_input(g, first), NULL, NULL, P(k.w_ih), P(k.w_hh), P(k.b_ih), P(k.b_hh), &out, &h_n,
                      &c_n));
    memcpy(D(h_state), ag_node_value(h_n), sizeof h);
    memcpy(D(c_state), ag_node_value(c_n), sizeof c);
    ag_graph_reset(g);
    ck_assert(ag_lstm(ag_input(g, second), ag_input(g, h_state), ag_input(g, c_state), P(k.w_ih), P(k.w_hh),
                      P(k.b_ih), P(k.b_hh), &out, &h_n, &c_n));
    assert_values("last two outputs", out, outs + 4 * 8, 16, 1e-14);
    assert_values("c_n", c_n, c, 8, 1e-14);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

START_TEST(shapes_that_do_not_fit_are_named)
{
    cell_case k = make_case(51, 4, 0, 2, 3, 4);
    ag_node *h1, *c1;
    ag_tensor *bad_w = keep_tensor(ag_tensor_zeros(2, (int[]){12, 4}));
    ck_assert(!ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(bad_w), NULL, NULL, &h1, &c1));
    ck_assert_ptr_null(h1);
    ck_assert_graph_error(g, "ag_lstm_cell: w_hh is 12x4, expected [16, 4] ([4H, H] with H = 4)");
    ag_graph_reset(g);
    ck_assert(!ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(bad_w), P(k.w_hh), NULL, NULL, &h1, &c1));
    ck_assert_graph_error(g, "ag_lstm_cell: w_ih is 12x4, expected [16, 3] ([4H, I] with H = 4, I = 3)");
    ag_graph_reset(g);
    ag_tensor *bad_b = keep_tensor(ag_tensor_zeros(1, (int[]){12}));
    ck_assert_ptr_null(ag_gru_cell(P(k.x), P(k.h), P(bad_w), P(k.w_hh), P(bad_b), NULL));
    ck_assert_graph_error(g, "ag_gru_cell: w_ih is 12x4, expected [12, 3]");
    ag_graph_reset(g);
    ag_tensor *w_ih3 = keep_tensor(ag_tensor_zeros(2, (int[]){12, 3}));
    ag_tensor *w_hh3 = keep_tensor(ag_tensor_zeros(2, (int[]){12, 4}));
    ag_tensor *b9 = keep_tensor(ag_tensor_zeros(1, (int[]){9}));
    ck_assert_ptr_null(ag_gru_cell(P(k.x), P(k.h), P(w_ih3), P(w_hh3), NULL, P(b9)));
    ck_assert_graph_error(g, "ag_gru_cell: b_hh is 9, expected [12] (3H with H = 4)");
    ag_graph_reset(g);
    ck_assert(!ag_lstm(P(k.x), NULL, NULL, P(k.w_ih), P(k.w_hh), NULL, NULL, NULL, &h1, NULL));
    ck_assert_graph_error(g, "ag_lstm: x is 2x3, expected [T, N, I]");
    ag_graph_reset(g);
    ag_tensor *x3 = keep_tensor(ag_tensor_zeros(3, (int[]){5, 3, 3}));
    ck_assert(!ag_lstm(P(x3), P(k.h), NULL, P(k.w_ih), P(k.w_hh), NULL, NULL, NULL, &h1, NULL));
    ck_assert_graph_error(g, "ag_lstm: h0 is 2x4, expected [3, 4] ([N, H] with N = 3 from x)");
}
END_TEST

START_TEST(null_operands_fail_and_say_which)
{
    cell_case k = make_case(52, 4, 0, 2, 3, 4);
    ag_node *h1 = (ag_node *)1, *c1 = (ag_node *)1;
    ck_assert(!ag_lstm_cell(P(k.x), NULL, P(k.c), P(k.w_ih), P(k.w_hh), NULL, NULL, &h1, &c1));
    ck_assert_ptr_null(h1);
    ck_assert_ptr_null(c1);
    ck_assert_graph_error(g, "ag_lstm_cell: h is NULL");
    ag_graph_reset(g);
    ck_assert(!ag_lstm_cell(P(k.x), P(k.h), P(k.c), P(k.w_ih), P(k.w_hh), NULL, NULL, NULL, &c1));
    ck_assert_graph_error(g, "ag_lstm_cell: h_out and c_out must not be NULL");
    /* nothing to report on: every operand NULL */
    ck_assert(!ag_lstm_cell(NULL, NULL, NULL, NULL, NULL, NULL, NULL, &h1, &c1));
    ck_assert_ptr_null(ag_gru_cell(NULL, NULL, NULL, NULL, NULL, NULL));
    /* another graph's node */
    ag_graph_reset(g);
    ag_graph *other = ag_graph_new();
    ck_assert_ptr_null(ag_gru_cell(P(k.x), ag_param(other, k.h), P(k.w_ih), P(k.w_hh), NULL, NULL));
    ck_assert_graph_error(g, "ag_gru_cell: h belongs to another graph");
    ag_graph_free(other);
}
END_TEST

Suite *recurrent_suite(void)
{
    Suite *s = suite_create("recurrent");
    TCase *tc = tcase_create("cells");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lstm_cell_with_zero_weights_by_hand);
    tcase_add_test(tc, lstm_cell_gate_order_is_i_f_g_o);
    tcase_add_test(tc, gru_cell_by_hand);
    tcase_add_test(tc, lstm_cell_matches_reference);
    tcase_add_test(tc, gru_cell_matches_reference);
    tcase_add_test(tc, lstm_cell_gradients_match_finite_differences);
    tcase_add_test(tc, gru_cell_gradients_match_finite_differences);
    tcase_add_test(tc, cells_second_derivatives_match_finite_differences);
    tcase_add_test(tc, fused_pointwise_step_matches_composed);
    tcase_add_test(tc, fused_pointwise_step_by_hand);
    tcase_add_test(tc, fused_pointwise_step_shapes_are_named);
    tcase_add_test(tc, gate_activations_are_within_4_ulp);
    tcase_add_test(tc, fused_forwards_give_the_rows_bits);
    suite_add_tcase(s, tc);
    tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lstm_layer_matches_reference);
    tcase_add_test(tc, gru_layer_matches_reference);
    tcase_add_test(tc, lstm_layer_gradients_match_finite_differences);
    tcase_add_test(tc, gru_layer_gradients_match_finite_differences);
    tcase_add_test(tc, lstm_state_carried_over_segments_equals_the_whole_sequence);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, shapes_that_do_not_fit_are_named);
    tcase_add_test(tc, lstm_sequence_matches_the_cell_composition);
    tcase_add_test(tc, lstm_sequence_shapes_are_named);
    tcase_add_test(tc, lstm_sequence_takes_the_rows_form);
    tcase_add_loop_test(tc, lstm_sequence_threads_give_the_bits_of_one, 0, 2);
    tcase_add_test(tc, lstm_sequence_prefix_alone_gives_the_same_bits);
    tcase_add_test(tc, null_operands_fail_and_say_which);
    suite_add_tcase(s, tc);
    return s;
}
