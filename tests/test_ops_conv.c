/* test_ops_conv.c -- conv2d, conv1d and their input and weight derivatives:
 * the definition written as plain loops (the reference the fast im2col +
 * ag_gemm path is checked against, on random geometries, threaded batches
 * included), tiny convolutions worked out by hand, the NaN/Inf cases of
 * every op of the family and the messages of misuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"
#include "ops/params.h"

GRAPH_FIXTURE_WITH_PARAM()

/* ---- the definition, as loops ------------------------------------------------------
 * x [N,C,H,W], w [O,C,kh,kw], y [N,O,Ho,Wo]; x_pad[n,c,a,b] = x[n,c,a,b]
 * inside, 0 in the padding. For every (n, o, i, j, c, u, v), with
 * a = i s + u - p and b = j s + v - p:
 *   y_out[n,o,i,j] += x_pad[n,c,a,b] w[o,c,u,v]
 *   x_out[n,c,a,b] += y[n,o,i,j] w[o,c,u,v]      (only inside x)
 *   w_out[o,c,u,v] += y[n,o,i,j] x_pad[n,c,a,b]
 * (the padding's 0 is multiplied like any value, so 0 * Inf is NaN there,
 * as in the sum the definition writes). 1-d: H = kh = Ho = 1, the height
 * neither strided nor padded. */
typedef struct ref_geometry {
    int spatial, N, C, O, H, W, kh, kw, Ho, Wo, stride, padding;
} ref_geometry;

static ref_geometry ref_geometry_of(int spatial, int N, int C, int O, int H, int W, int kh, int kw,
                                    int stride, int padding)
{
    ref_geometry d = {spatial, N, C, O, H, W, kh, kw, 1, 0, stride, padding};
    if (spatial == 1) d.H = d.kh = 1;
    int ph = spatial == 2 ? padding : 0, sh = spatial == 2 ? stride : 1;
    d.Ho = (d.H + 2 * ph - d.kh) / sh + 1;
    d.Wo = (d.W + 2 * padding - d.kw) / stride + 1;
    return d;
}

static void ref_loops(const ref_geometry *d, const double *x, const double *w, const double *y,
                      double *y_out, double *x_out, double *w_out)
{
    int ph = d->spatial == 2 ? d->padding : 0, sh = d->spatial == 2 ? d->stride : 1;
    for (int n = 0; n < d->N; n++)
        for (int o = 0; o < d->O; o++)
            for (int i = 0; i < d->Ho; i++)
                for (int j = 0; j < d->Wo; j++)
                    for (int c = 0; c < d->C; c++)
                        for (int u = 0; u < d->kh; u++)
                            for (int v = 0; v < d->kw; v++) {
                                int a = i * sh + u - ph, b = j * d->stride + v - d->padding;
                                bool inside = a >= 0 && a < d->H && b >= 0 && b < d->W;
                                size_t ix = (((size_t)n * d->C + c) * d->H + (inside ? a : 0)) * d->W + (inside ? b : 0);
                                size_t iw = (((size_t)o * d->C + c) * d->kh + u) * d->kw + v;
                                size_t iy = (((size_t)n * d->O + o) * d->Ho + i) * d->Wo + j;
                                double xv = inside && x ? x[ix] : 0.0;
                                if (y_out) y_out[iy] += xv * w[iw];
                                if (x_out && inside) x_out[ix] += y[iy] * w[iw];
                                if (w_out) w_out[iw] += y[iy] * xv;
                            }
}

/* dims of an [A,B,h,w] tensor, or [A,B,w] in 1-d; returns ndim */
static int dims_of(const ref_geometry *d, int a, int b, int h, int w, int dims[4])
{
    dims[0] = a, dims[1] = b, dims[2] = d->spatial == 2 ? h : w, dims[3] = w;
    return d->spatial + 2;
}

static size_t x_size(const ref_geometry *d) { return (size_t)d->N * d->C * d->H * d->W; }
static size_t w_size(const ref_geometry *d) { return (size_t)d->O * d->C * d->kh * d->kw; }
static size_t y_size(const ref_geometry *d) { return (size_t)d->N * d->O * d->Ho * d->Wo; }

/* ---- NaN and Inf ----------------------------------------------------------------------
 * Each op against the loops above: conv's value and its three gradients,
 * input's and weight's values and the two gradients of each (the other two
 * kinds of loop, run with the seed). Sparse specials (about 3 in 29, 31, 37
 * elements), or every output would be NaN. */
static ag_node *record_family(const char *name, const ref_geometry *d, ag_node *a, ag_node *b,
                              ag_node *bias)
{
    bool two = d->spatial == 2;
    if (strstr(name, "input"))
        return two ? ag_conv2d_input_grad(a, b, d->H, d->W, d->stride, d->padding)
                   : ag_conv1d_input_grad(a, b, d->W, d->stride, d->padding);
    if (strstr(name, "weight"))
        return two ? ag_conv2d_weight_grad(a, b, d->kh, d->kw, d->stride, d->padding)
                   : ag_conv1d_weight_grad(a, b, d->kw, d->stride, d->padding);
    return two ? ag_conv2d(a, b, bias, d->stride, d->padding) : ag_conv1d(a, b, bias, d->stride, d->padding);
}

static void conv_specials(const char *name, const ref_geometry *d, bool bias)
{
    int xd[4], wd[4], yd[4], nd = dims_of(d, d->N, d->C, d->H, d->W, xd);
    dims_of(d, d->O, d->C, d->kh, d->kw, wd);
    dims_of(d, d->N, d->O, d->Ho, d->Wo, yd);
    special_case c;
    special_begin(&c, name);
    if (strstr(name, "input")) { /* out = input(g, w): gg = conv(u, w), gw = weight(u, g) */
        ag_node *gy = special_operand(&c, nd, yd, 12, 29), *w = special_operand(&c, nd, wd, 13, 31);
        special_recorded(&c, record_family(name, d, gy, w, NULL));
        ref_loops(d, NULL, c.v[1], c.v[0], NULL, c.y, NULL);
        ref_loops(d, c.gy, c.v[1], c.v[0], c.gx[0], NULL, c.gx[1]);
    } else if (strstr(name, "weight")) { /* out = weight(x, g): gx = input(g, u), gg = conv(x, u) */
        ag_node *x = special_operand(&c, nd, xd, 12, 29), *gy = special_operand(&c, nd, yd, 13, 31);
        special_recorded(&c, record_family(name, d, x, gy, NULL));
        ref_loops(d, c.v[0], NULL, c.v[1], NULL, NULL, c.y);
        ref_loops(d, c.v[0], c.gy, c.v[1], c.gx[1], c.gx[0], NULL);
    } else { /* y = conv(x, w) + b: gx = input(u, w), gw = weight(x, u), gb = sum u */
        ag_node *x = special_operand(&c, nd, xd, 12, 29), *w = special_operand(&c, nd, wd, 13, 31);
        ag_node *b = bias ? special_operand(&c, 1, &d->O, 14, 37) : NULL;
        special_recorded(&c, record_family(name, d, x, w, b));
        size_t per_channel = (size_t)d->Ho * d->Wo;
        for (size_t k = 0; bias && k < y_size(d); k++) {
            size_t o = k / per_channel % (size_t)d->O;
            c.y[k] = c.v[2][o];
            c.gx[2][o] += c.gy[k];
        }
        ref_loops(d, c.v[0], c.v[1], c.gy, c.y, c.gx[0], c.gx[1]);
    }
    special_check(&c);
}

bool ieee_specials_conv(const char *name)
{
    static const char *const family[] = {"conv2d", "conv2d_input_grad", "conv2d_weight_grad",
                                         "conv1d", "conv1d_input_grad", "conv1d_weight_grad"};
    bool found = false;
    for (size_t k = 0; k < sizeof family / sizeof family[0]; k++) found |= strcmp(name, family[k]) == 0;
    if (!found) return false;
    int sp = name[4] == '2' ? 2 : 1;
    /* N, C, O, H, W, kh, kw, stride, padding */
    ref_geometry small = ref_geometry_of(sp, 2, 2, 3, 4, 5, 3, 2, 1, 1);
    ref_geometry strided = ref_geometry_of(sp, 2, 3, 2, 7, 6, 2, 3, 2, 2);
    conv_specials(name, &small, false);
    conv_specials(name, &small, true); /* the bias is conv's only */
    conv_specials(name, &strided, true);
    return true;
}

/* ---- by hand ------------------------------------------------------------------------ */

static void assert_close(const char *what, const double *got, size_t n, const double *want)
{
    ck_assert_ptr_nonnull(got);
    for (size_t i = 0; i < n; i++)
        ck_assert_in_loop(fabs(got[i] - want[i]) <= 1e-12 * (1.0 + fabs(want[i])),
                          "%s element %zu: %.17g, expected %.17g", what, i, got[i], want[i]);
}

static const char *printed_params(const ag_node *y)
{
    static char buf[128];
    y->op->print_params(y, buf, sizeof buf);
    return buf;
}

/* x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], b = 10, stride 1, no padding:
 *   y[i,j] = 10 + x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1]
 *   y00 = 10 + 1 + 4 + 12 + 20 = 47, y01 = 10 + 2 + 6 + 15 + 24 = 57,
 *   y10 = 10 + 4 + 10 + 21 + 32 = 77, y11 = 10 + 5 + 12 + 24 + 36 = 87.
 * A seed of ones: gx[a,b] = the sum of the taps that read (a,b):
 *   [[1, 1+2, 2], [1+3, 1+2+3+4, 2+4], [3, 3+4, 4]] = [[1,3,2],[4,10,6],[3,7,4]];
 * gw[u,v] = the sum of the 2x2 block of x at (u,v): 1+2+4+5 = 12, 16, 24, 28;
 * gb = 4 outputs. */
START_TEST(conv2d_by_hand)
{
    static const double xv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ag_node *x = param(4, (int[]){1, 1, 3, 3}, xv);
    ag_node *w = param(4, (int[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    ag_node *b = param(1, (int[]){1}, (double[]){10});
    ag_node *y = ag_conv2d(x, w, b, 1, 0);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_str_eq(ag_node_op(y), "conv2d");
    ck_assert_str_eq(printed_params(y), "stride=1, padding=0");
    ck_assert_int_eq(ag_node_ndim(y), 4);
    assert_close("y", ag_node_value(y), 4, (double[]){47, 57, 77, 87});
    ck_assert(ag_backward_seed(g, y, NULL));
    assert_close("gx", ag_node_grad(x), 9, (double[]){1, 3, 2, 4, 10, 6, 3, 7, 4});
    assert_close("gw", ag_node_grad(w), 4, (double[]){12, 16, 24, 28});
    assert_close("gb", ag_node_grad(b), 1, (double[]){4});
}
END_TEST

/* The same x and w, stride 2, padding 1: the padded input is 5x5, H' =
 * (3 + 2 - 2) / 2 + 1 = 2 (1.5 floored, plus 1); output (i,j) reads x rows
 * 2i-1, 2i and columns 2j-1, 2j (row or column -1: padding):
 *   y00 = 4 x00 = 4;             y01 = 3 x01 + 4 x02 = 6 + 12 = 18;
 *   y10 = 2 x10 + 4 x20 = 8 + 28 = 36;  y11 = 5 + 12 + 24 + 36 = 77.
 * Seed ones: each element is read by one tap: gx = [[4,3,4],[2,1,2],[4,3,4]];
 * gw[u,v] = the elements tap (u,v) reads: gw00 = x11 = 5, gw01 = x10 + x12 = 10,
 * gw10 = x01 + x21 = 10, gw11 = x00 + x02 + x20 + x22 = 20. */
START_TEST(conv2d_strided_and_padded_by_hand)
{
    static const double xv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ag_node *x = param(4, (int[]){1, 1, 3, 3}, xv);
    ag_node *w = param(4, (int[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    ag_node *y = ag_conv2d(x, w, NULL, 2, 1);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    assert_close("y", ag_node_value(y), 4, (double[]){4, 18, 36, 77});
    ck_assert(ag_backward_seed(g, y, NULL));
    assert_close("gx", ag_node_grad(x), 9, (double[]){4, 3, 4, 2, 1, 2, 4, 3, 4});
    assert_close("gw", ag_node_grad(w), 4, (double[]){5, 10, 10, 20});
}
END_TEST

/* x = [1,2,3,4], w = [2,-1], b = 1, padding 1: x_pad = [0,1,2,3,4,0], L' = 5,
 *   y[j] = 1 + 2 x_pad[j] - x_pad[j+1] = [0, 1, 2, 3, 9].
 * Seed ones: every element is read by both taps, gx = 2 - 1 = 1 each;
 * gw[0] = sum x_pad[0..4] = 10, gw[1] = sum x_pad[1..5] = 10; gb = 5. */
START_TEST(conv1d_by_hand)
{
    ag_node *x = param(3, (int[]){1, 1, 4}, (double[]){1, 2, 3, 4});
    ag_node *w = param(3, (int[]){1, 1, 2}, (double[]){2, -1});
    ag_node *b = param(1, (int[]){1}, (double[]){1});
    ag_node *y = ag_conv1d(x, w, b, 1, 1);
    ck_assert_msg(y != NULL, "%s", ag_graph_error(g));
    ck_assert_str_eq(ag_node_op(y), "conv1d");
    ck_assert_int_eq(ag_node_ndim(y), 3);
    assert_close("y", ag_node_value(y), 5, (double[]){0, 1, 2, 3, 9});
    ck_assert(ag_backward_seed(g, y, NULL));
    assert_close("gx", ag_node_grad(x), 4, (double[]){1, 1, 1, 1});
    assert_close("gw", ag_node_grad(w), 2, (double[]){10, 10});
    assert_close("gb", ag_node_grad(b), 1, (double[]){5});
}
END_TEST

/* The companions give conv1d_by_hand's gradients as values: input(ones[5], w)
 * = gx = [1,1,1,1] and weight(x, ones[5]) = gw = [10,10], printing the size
 * they were given. */
START_TEST(companions_by_hand)
{
    static const double ones[] = {1, 1, 1, 1, 1};
    ag_node *gy = param(3, (int[]){1, 1, 5}, ones);
    ag_node *x = param(3, (int[]){1, 1, 4}, (double[]){1, 2, 3, 4});
    ag_node *w = param(3, (int[]){1, 1, 2}, (double[]){2, -1});
    ag_node *gx = ag_conv1d_input_grad(gy, w, 4, 1, 1);
    ag_node *gw = ag_conv1d_weight_grad(x, gy, 2, 1, 1);
    ck_assert_msg(gx && gw, "%s", ag_graph_error(g));
    assert_close("input", ag_node_value(gx), 4, (double[]){1, 1, 1, 1});
    assert_close("weight", ag_node_value(gw), 2, (double[]){10, 10});
    ck_assert_str_eq(printed_params(gx), "stride=1, padding=1, length=4");
    ck_assert_str_eq(printed_params(gw), "stride=1, padding=1, k=2");
    ag_node *x2 = param(4, (int[]){1, 1, 3, 3}, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    ag_node *gy2 = param(4, (int[]){1, 1, 2, 2}, (double[]){1, 1, 1, 1});
    ag_node *gw2 = ag_conv2d_weight_grad(x2, gy2, 2, 2, 2, 1); /* conv2d_strided_and_padded's gw */
    ck_assert_msg(gw2 != NULL, "%s", ag_graph_error(g));
    assert_close("weight 2-d", ag_node_value(gw2), 4, (double[]){5, 10, 10, 20});
    ck_assert_str_eq(printed_params(gw2), "stride=2, padding=1, kh=2, kw=2");
}
END_TEST

/* ---- misuse ------------------------------------------------------------------------ */

/* y refused, the error naming a and b; then a fresh graph and tensors */
static void assert_refused(ag_node *y, const char *a, const char *b)
{
    ck_assert_ptr_null(y);
    const char *e = ag_graph_error(g);
    ck_assert_msg(strstr(e, a) && strstr(e, b), "error '%s' lacks '%s' or '%s'", e, a, b);
    ag_graph_reset(g);
    free_kept_tensors();
}

static double zeros[400];
static ag_node *leaf(int nd, const int *dims) { return param(nd, dims, zeros); }
#define L4(a, b, c, d) leaf(4, (int[]){a, b, c, d})
#define L3(a, b, c) leaf(3, (int[]){a, b, c})

START_TEST(conv_errors_name_the_op_and_the_shapes)
{
    assert_refused(ag_conv2d(L4(2, 3, 5, 5), L4(4, 2, 3, 3), NULL, 1, 0),
                   "ag_conv2d: (2x3x5x5) and (4x2x3x3)", "x has 3 channels but w [O,C,kh,kw] expects 2");
    assert_refused(ag_conv2d(L4(2, 3, 5, 5), L4(4, 3, 8, 3), NULL, 1, 1), "ag_conv2d",
                   "the 8x3 kernel is larger than the 5x5 input padded by 1");
    assert_refused(ag_conv2d(L4(2, 3, 5, 5), L4(4, 3, 3, 3), NULL, 0, 0), "ag_conv2d", "stride 0 must be at least 1");
    assert_refused(ag_conv2d(L4(2, 3, 5, 5), L4(4, 3, 3, 3), NULL, 1, -1), "ag_conv2d",
                   "padding -1 must not be negative");
    assert_refused(ag_conv2d(L3(2, 3, 5), L4(4, 3, 3, 3), NULL, 1, 0), "ag_conv2d: (2x3x5)",
                   "x must be 4-d [N,C,H,W] (got 3-d)");
    assert_refused(ag_conv2d(L4(2, 3, 5, 5), L4(4, 3, 3, 3), leaf(1, (int[]){3}), 1, 0), "(3)",
                   "the bias must be [4], one value per output channel");
    assert_refused(ag_conv1d(L4(2, 3, 5, 5), L3(4, 3, 3), NULL, 1, 0), "ag_conv1d",
                   "x must be 3-d [N,C,L] (got 4-d)");
    assert_refused(ag_conv1d(L3(2, 3, 5), L3(4, 3, 7), NULL, 1, 0), "ag_conv1d",
                   "the kernel of 7 is larger than the input of 5 padded by 0");
    /* the companions: a gradient whose size the geometry does not give, a
     * batch mismatch, a size below 1 */
    assert_refused(ag_conv2d_input_grad(L4(2, 4, 4, 4), L4(4, 3, 3, 3), 5, 5, 1, 0), "ag_conv2d_input_grad",
                   "the gradient [N,O,H',W'] is 4x4 where this geometry gives 3x3");
    assert_refused(ag_conv2d_weight_grad(L4(3, 3, 5, 5), L4(2, 4, 3, 3), 3, 3, 1, 0), "ag_conv2d_weight_grad",
                   "x has a batch of 3 but the gradient of 2");
    assert_refused(ag_conv2d_input_grad(L4(2, 4, 3, 3), L4(4, 3, 3, 3), 0, 5, 1, 0), "ag_conv2d_input_grad",
                   "the input size 0 must be at least 1");
}
END_TEST

extern const ag_op ag_op_conv2d;

/* conv2d's descriptor takes 2 or 3 operands (its arity is variadic): one
 * alone, or four, is refused before a missing w is read */
START_TEST(conv_refuses_one_operand_or_four)
{
    ag_conv_params p = {.stride = 1};
    assert_refused(ag_record(&ag_op_conv2d, 1, (ag_node *[]){L4(1, 1, 3, 3)}, &p, NULL), "ag_conv2d",
                   "takes x, w and an optional bias (got 1 operands)");
    ag_node *four[] = {L4(1, 1, 3, 3), L4(1, 1, 2, 2), leaf(1, (int[]){1}), leaf(1, (int[]){1})};
    assert_refused(ag_record(&ag_op_conv2d, 4, four, &p, NULL), "ag_conv2d", "(got 4 operands)");
}
END_TEST

/* ---- the fast path against the definition ------------------------------------------- */

static double *random_values(test_rng *r, size_t n)
{
    double *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t k = 0; k < n; k++) v[k] = rng_uniform(r, -1.0, 1.0);
    return v;
}

static ag_node *leaf_of(const ref_geometry *d, int a, int b, int h, int w, const double *v)
{
    int dims[4], nd = dims_of(d, a, b, h, w, dims);
    return ag_param(g, kept_tensor_from(nd, dims, v, true));
}

/* conv with bias: the value, and the three gradients a random seed sends
 * back, against the loops; then input and weight as ops, on the same seed */
static void check_against_definition(const ref_geometry *d, test_rng *r)
{
    size_t nx = x_size(d), nw = w_size(d), ny = y_size(d);
    double *xv = random_values(r, nx), *wv = random_values(r, nw), *bv = random_values(r, (size_t)d->O);
    double *seed = random_values(r, ny);
    double *y = calloc(ny, sizeof *y), *gx = calloc(nx, sizeof *gx), *gw = calloc(nw, sizeof *gw);
    ck_assert(y && gx && gw);
    ref_loops(d, xv, wv, seed, y, gx, gw);
    size_t per_channel = (size_t)d->Ho * d->Wo;
    double gb[8] = {0};
    for (size_t k = 0; k < ny; k++) y[k] += bv[k / per_channel % (size_t)d->O], gb[k / per_channel % (size_t)d->O] += seed[k];

    ag_node *x = leaf_of(d, d->N, d->C, d->H, d->W, xv), *w = leaf_of(d, d->O, d->C, d->kh, d->kw, wv);
    ag_node *b = ag_param(g, kept_tensor_from(1, &d->O, bv, true));
    ag_node *out = d->spatial == 2 ? ag_conv2d(x, w, b, d->stride, d->padding)
                                   : ag_conv1d(x, w, b, d->stride, d->padding);
    ck_assert_msg(out != NULL, "%s", ag_graph_error(g));
    assert_close("conv", ag_node_value(out), ny, y);
    ck_assert(ag_backward_seed(g, out, seed));
    assert_close("gx", ag_node_grad(x), nx, gx);
    assert_close("gw", ag_node_grad(w), nw, gw);
    assert_close("gb", ag_node_grad(b), (size_t)d->O, gb);
    ck_assert(ag_graph_forward(g)); /* a replay gives the same */
    assert_close("conv replayed", ag_node_value(out), ny, y);

    ag_node *s = leaf_of(d, d->N, d->O, d->Ho, d->Wo, seed);
    ag_node *in = d->spatial == 2 ? ag_conv2d_input_grad(s, w, d->H, d->W, d->stride, d->padding)
                                  : ag_conv1d_input_grad(s, w, d->W, d->stride, d->padding);
    ag_node *wt = d->spatial == 2 ? ag_conv2d_weight_grad(x, s, d->kh, d->kw, d->stride, d->padding)
                                  : ag_conv1d_weight_grad(x, s, d->kw, d->stride, d->padding);
    ck_assert_msg(in && wt, "%s", ag_graph_error(g));
    assert_close("input op", ag_node_value(in), nx, gx);
    assert_close("weight op", ag_node_value(wt), nw, gw);
    free(xv), free(wv), free(bv), free(seed), free(y), free(gx), free(gw);
    ag_graph_reset(g);
    free_kept_tensors();
}

/* random small geometries, then batches large enough to be split over the
 * threads (over 2^17 multiply-adds: conv_kernels.c) */
START_TEST(fast_path_matches_the_definition)
{
    test_rng r = {17};
    for (int t = 0; t < 40; t++) {
        int sp = rng_int(&r, 1, 2), s = rng_int(&r, 1, 3), p = rng_int(&r, 0, 2), kh = rng_int(&r, 1, 3),
            kw = rng_int(&r, 1, 3);
        int H = rng_int(&r, kh, kh + 6), W = rng_int(&r, kw, kw + 6);
        ref_geometry d = ref_geometry_of(sp, rng_int(&r, 1, 3), rng_int(&r, 1, 4), rng_int(&r, 1, 4), H, W,
                                         kh, kw, s, p);
        check_against_definition(&d, &r);
    }
    ref_geometry threaded = ref_geometry_of(2, 5, 4, 8, 14, 13, 3, 3, 1, 1);
    check_against_definition(&threaded, &r);
    ref_geometry threaded_strided = ref_geometry_of(2, 7, 3, 6, 17, 16, 3, 2, 2, 2);
    check_against_definition(&threaded_strided, &r);
    ref_geometry threaded_1d = ref_geometry_of(1, 9, 8, 8, 1, 300, 1, 5, 1, 2);
    check_against_definition(&threaded_1d, &r);
}
END_TEST

/* Two convolutions and a relu (batches large enough to run on the threads),
 * a replayed or a rebuilt step: after the first, no allocation at all (the
 * col buffers and partial sums are the nodes' aux storage). */
static ag_node *small_cnn(ag_graph *graph, ag_tensor *const *t)
{
    ag_node *h = ag_relu(ag_conv2d(ag_input(graph, t[0]), ag_param(graph, t[1]), ag_param(graph, t[2]), 1, 1));
    return ag_sum(ag_conv2d(h, ag_param(graph, t[3]), NULL, 2, 1));
}

static void cnn_allocations(bool replay)
{
    counting_allocator_install(0);
    test_rng r = {5};
    int dims[4][4] = {{16, 1, 16, 16}, {6, 1, 3, 3}, {6}, {4, 6, 3, 3}}, nd[4] = {4, 4, 1, 4};
    ag_tensor *t[4];
    for (int k = 0; k < 4; k++) {
        t[k] = ag_tensor_zeros(nd[k], dims[k]);
        for (size_t i = 0; i < ag_tensor_size(t[k]); i++) ag_tensor_data(t[k])[i] = rng_uniform(&r, -1, 1);
        ag_tensor_requires_grad(t[k], k > 0);
    }
    ag_graph *graph = ag_graph_new();
    ag_node *loss = small_cnn(graph, t);
    ck_assert_msg(loss && ag_backward(graph, loss), "%s", ag_graph_error(graph));
    long after_first = counting_allocations();
    for (int step = 0; step < 4; step++) {
        ag_tensor_data(t[0])[step] += 0.5;
        if (replay) {
            ck_assert(ag_graph_forward(graph));
        } else {
            ag_graph_reset(graph);
            loss = small_cnn(graph, t);
        }
        ck_assert_msg(loss && ag_backward(graph, loss), "%s", ag_graph_error(graph));
        ck_assert_int_eq(counting_allocations(), after_first);
    }
    ag_graph_free(graph);
    for (int k = 0; k < 4; k++) ag_tensor_free(t[k]);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}

START_TEST(cnn_replay_allocates_nothing_after_step_one) { cnn_allocations(true); }
END_TEST

START_TEST(cnn_rebuild_allocates_nothing_after_step_one) { cnn_allocations(false); }
END_TEST

Suite *ops_conv_suite(void)
{
    Suite *s = suite_create("ops conv");
    TCase *tc = tcase_create("by hand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, conv2d_by_hand);
    tcase_add_test(tc, conv2d_strided_and_padded_by_hand);
    tcase_add_test(tc, conv1d_by_hand);
    tcase_add_test(tc, companions_by_hand);
    tcase_add_test(tc, conv_errors_name_the_op_and_the_shapes);
    tcase_add_test(tc, conv_refuses_one_operand_or_four);
    tcase_add_test(tc, fast_path_matches_the_definition);
    tcase_add_test(tc, cnn_replay_allocates_nothing_after_step_one);
    tcase_add_test(tc, cnn_rebuild_allocates_nothing_after_step_one);
    suite_add_tcase(s, tc);
    return s;
}
