/* conv.c -- conv2d and conv1d (PyTorch's: cross-correlation, zero padding,
 * dilation 1, groups 1) and their two derivatives as ops of their own:
 *
 *   conv2d(x, w, b)        x [N,C,H,W], w [O,C,kh,kw], b [O]  -> y [N,O,H',W']
 *   conv2d_input_grad(g, w)   g [N,O,H',W'], w                -> [N,C,H,W]   (dL/dx)
 *   conv2d_weight_grad(x, g)  x, g [N,O,H',W']                -> [O,C,kh,kw] (dL/dw)
 *
 * and conv1d's three on [N,C,L] (the 2-d kernels with H = kh = 1). The
 * three are the partial derivatives of one trilinear form F(x, w, y) (see
 * conv.h for the sums), so each one's derivatives are the other two:
 *
 *   op                 vjp (cotangent u of the result)           jvp
 *   conv(x, w) + b     gx = input(u, w), gw = weight(x, u),      conv(tx, w) + conv(x, tw) + tb
 *                      gb[o] = sum_{n,i,j} u[n,o,i,j]
 *   input(g, w)        gg = conv(u, w),  gw = weight(u, g)       input(tg, w) + input(g, tw)
 *   weight(x, g)       gx = input(g, u), gg = conv(x, u)         weight(tx, g) + weight(x, tg)
 *
 * Why a closed family rather than conv's derivatives written as loops of
 * their own: the recorded derivatives (vjp_nodes, jvp_nodes) are then these
 * ops again, so a gradient of any order runs on the same fast kernels, and
 * since each of the three is a registry op with a recipe, the study,
 * gradient and higher-order suites check every derivative of every one.
 * All three run on one routine (conv_run, conv_kernels.c: im2col and
 * ag_gemm), which also computes a vjp's two shares in one pass. */
#include "conv.h"
#include "params.h"
#include "recorded.h"

#include <stdio.h>
#include <string.h>

typedef enum conv_role { CONV_FORWARD, CONV_INPUT, CONV_WEIGHT } conv_role;

/* Which op of which family a node is (the op's .rule). */
typedef struct conv_family {
    int spatial; /* 2 or 1 */
    conv_role role;
    const ag_op *ops[3]; /* the family's conv, input and weight ops, by role */
} conv_family;

extern const ag_op ag_op_conv2d, ag_op_conv2d_input_grad, ag_op_conv2d_weight_grad,
    ag_op_conv1d, ag_op_conv1d_input_grad, ag_op_conv1d_weight_grad;

static const conv_family *family_of(const ag_node *out) { return out->op->rule; }

/* ---- shapes ---------------------------------------------------------------------- */

/* The spatial sizes of a [N,C,H,W] or [N,C,L] tensor (L as W, H = 1). */
static void spatial_of(const ag_shape *s, int spatial, int *h, int *w)
{
    *h = spatial == 2 ? s->dims[2] : 1;
    *w = s->dims[spatial + 1];
}

/* The tensors x, w and y of F in out's op: conv (in0, in1, out), input
 * (out, in1, in0), weight (in0, out, in1). */
static void roles_of(const ag_node *out, const ag_shape **x, const ag_shape **w, const ag_shape **y)
{
    const ag_shape *a = &out->in[0]->shape, *b = &out->in[1]->shape, *o = &out->shape;
    conv_role role = family_of(out)->role;
    *x = role == CONV_INPUT ? o : a;
    *w = role == CONV_WEIGHT ? o : b;
    *y = role == CONV_FORWARD ? o : role == CONV_INPUT ? a : b;
}

/* The geometry of a recorded node (shapes already checked). */
static conv_geometry geometry_of(const ag_node *out)
{
    const ag_shape *x = NULL, *w = NULL, *y = NULL;
    roles_of(out, &x, &w, &y);
    int spatial = family_of(out)->spatial;
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    conv_geometry g = {.N = x->dims[0], .C = x->dims[1], .O = w->dims[0],
                       .stride_h = spatial == 2 ? p->stride : 1, .stride_w = p->stride,
                       .pad_h = spatial == 2 ? p->padding : 0, .pad_w = p->padding};
    spatial_of(x, spatial, &g.H, &g.W);
    spatial_of(w, spatial, &g.kh, &g.kw);
    spatial_of(y, spatial, &g.Ho, &g.Wo);
    return g;
}

/* out = (in + 2 pad - k) / stride + 1 (floor); false when the kernel is
 * larger than the padded input */
static bool output_size(int in, int k, int stride, int pad, int *out)
{
    if ((long long)in + 2LL * pad < k) return false;
    *out = (int)(((long long)in + 2LL * pad - k) / stride + 1);
    return true;
}

typedef struct shape_names {
    const char *x, *w, *y; /* "[N,C,H,W]" and so on */
} shape_names;

static const shape_names names_2d = {"[N,C,H,W]", "[O,C,kh,kw]", "[N,O,H',W']"};
static const shape_names names_1d = {"[N,C,L]", "[O,C,k]", "[N,O,L']"};

static bool has_ndim(const ag_shape *s, int spatial, const char *what, const char *layout, char *why,
                     size_t len)
{
    if (s->ndim == spatial + 2) return true;
    snprintf(why, len, "%s must be %d-d %s (got %d-d)", what, spatial + 2, layout, s->ndim);
    return false;
}

static bool params_ok(const ag_conv_params *p, char *why, size_t len)
{
    if (p->stride < 1) {
        snprintf(why, len, "stride %d must be at least 1", p->stride);
        return false;
    }
    if (p->padding < 0) {
        snprintf(why, len, "padding %d must not be negative", p->padding);
        return false;
    }
    return true;
}

/* The output's spatial size from the input's (h, w) and the kernel's
 * (kh, kw); false, with why, when the kernel does not fit. */
static bool output_of(int spatial, const ag_conv_params *p, int h, int w, int kh, int kw, int *ho,
                      int *wo, char *why, size_t len)
{
    int stride_h = spatial == 2 ? p->stride : 1, pad_h = spatial == 2 ? p->padding : 0;
    if (output_size(h, kh, stride_h, pad_h, ho) && output_size(w, kw, p->stride, p->padding, wo))
        return true;
    if (spatial == 2)
        snprintf(why, len, "the %dx%d kernel is larger than the %dx%d input padded by %d", kh, kw, h, w,
                 p->padding);
    else
        snprintf(why, len, "the kernel of %d is larger than the input of %d padded by %d", kw, w,
                 p->padding);
    return false;
}

static bool set_shape(ag_node *out, int ndim, const int *dims, char *why, size_t len)
{
    ag_shape s = {.ndim = ndim, .dims = {1, 1, 1, 1}, .size = 1};
    for (int d = 0; d < ndim; d++) s.dims[d] = dims[d], s.size *= (size_t)dims[d];
    if (s.size > AG_MAX_ELEMENTS) {
        snprintf(why, len, "the result would have %zu elements (over 2^40)", s.size);
        return false;
    }
    out->shape = s;
    return true;
}

/* dims of an [A,B,h,w] tensor, or [A,B,w] in 1-d */
static int pack_dims(int spatial, int a, int b, int h, int w, int *dims)
{
    dims[0] = a, dims[1] = b;
    if (spatial == 2) dims[2] = h, dims[3] = w;
    else dims[2] = w;
    return spatial + 2;
}

/* conv: x [N,C,(H,)W], w [O,C,(kh,)kw], b [O] or none -> [N,O,(H',)W'] */
static bool conv_shape(ag_node *out, char *why, size_t len)
{
    int sp = family_of(out)->spatial;
    const shape_names *nm = sp == 2 ? &names_2d : &names_1d;
    if (out->n_in != 2 && out->n_in != 3) { /* before in[1] is read: there may be none */
        snprintf(why, len, "takes x, w and an optional bias (got %u operands)", (unsigned)out->n_in);
        return false;
    }
    const ag_shape *x = &out->in[0]->shape, *w = &out->in[1]->shape;
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    if (!has_ndim(x, sp, "x", nm->x, why, len) || !has_ndim(w, sp, "w", nm->w, why, len) ||
        !params_ok(p, why, len))
        return false;
    if (x->dims[1] != w->dims[1]) {
        snprintf(why, len, "x has %d channels but w %s expects %d", x->dims[1], nm->w, w->dims[1]);
        return false;
    }
    int O = w->dims[0];
    if (out->n_in == 3) {
        const ag_shape *b = &out->in[2]->shape;
        if (b->ndim != 1 || b->dims[0] != O) {
            snprintf(why, len, "the bias must be [%d], one value per output channel", O);
            return false;
        }
    }
    int h, wd, kh, kw, ho, wo, dims[4];
    spatial_of(x, sp, &h, &wd);
    spatial_of(w, sp, &kh, &kw);
    if (!output_of(sp, p, h, wd, kh, kw, &ho, &wo, why, len)) return false;
    return set_shape(out, pack_dims(sp, x->dims[0], O, ho, wo, dims), dims, why, len);
}

/* The extent parameters (a size each), at least 1. */
static bool extent_ok(int spatial, const ag_conv_params *p, const char *what, char *why, size_t len)
{
    for (int d = 2 - spatial; d < 2; d++)
        if (p->extent[d] < 1) {
            snprintf(why, len, "the %s size %d must be at least 1", what, p->extent[d]);
            return false;
        }
    return true;
}

/* y's spatial size against the one the geometry gives */
static bool y_matches(int spatial, const ag_shape *y, int ho, int wo, const char *layout, char *why,
                      size_t len)
{
    int yh, yw;
    spatial_of(y, spatial, &yh, &yw);
    if (yh == ho && yw == wo) return true;
    if (spatial == 2)
        snprintf(why, len, "the gradient %s is %dx%d where this geometry gives %dx%d", layout, yh, yw, ho,
                 wo);
    else
        snprintf(why, len, "the gradient %s has length %d where this geometry gives %d", layout, yw, wo);
    return false;
}

/* input: g [N,O,(H',)W'], w [O,C,(kh,)kw], extent (H,)W -> [N,C,(H,)W] */
static bool input_shape(ag_node *out, char *why, size_t len)
{
    int sp = family_of(out)->spatial;
    const shape_names *nm = sp == 2 ? &names_2d : &names_1d;
    const ag_shape *y = &out->in[0]->shape, *w = &out->in[1]->shape;
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    if (!has_ndim(y, sp, "the gradient", nm->y, why, len) || !has_ndim(w, sp, "w", nm->w, why, len) ||
        !params_ok(p, why, len) || !extent_ok(sp, p, "input", why, len))
        return false;
    if (y->dims[1] != w->dims[0]) {
        snprintf(why, len, "the gradient has %d channels but w %s has %d outputs", y->dims[1], nm->w,
                 w->dims[0]);
        return false;
    }
    int kh, kw, ho, wo, dims[4];
    spatial_of(w, sp, &kh, &kw);
    if (!output_of(sp, p, p->extent[0], p->extent[1], kh, kw, &ho, &wo, why, len) ||
        !y_matches(sp, y, ho, wo, nm->y, why, len))
        return false;
    return set_shape(out, pack_dims(sp, y->dims[0], w->dims[1], p->extent[0], p->extent[1], dims),
                     dims, why, len);
}

/* weight: x [N,C,(H,)W], g [N,O,(H',)W'], extent (kh,)kw -> [O,C,(kh,)kw] */
static bool weight_shape(ag_node *out, char *why, size_t len)
{
    int sp = family_of(out)->spatial;
    const shape_names *nm = sp == 2 ? &names_2d : &names_1d;
    const ag_shape *x = &out->in[0]->shape, *y = &out->in[1]->shape;
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    if (!has_ndim(x, sp, "x", nm->x, why, len) || !has_ndim(y, sp, "the gradient", nm->y, why, len) ||
        !params_ok(p, why, len) || !extent_ok(sp, p, "kernel", why, len))
        return false;
    if (x->dims[0] != y->dims[0]) {
        snprintf(why, len, "x has a batch of %d but the gradient of %d", x->dims[0], y->dims[0]);
        return false;
    }
    int h, wd, ho, wo, dims[4];
    spatial_of(x, sp, &h, &wd);
    if (!output_of(sp, p, h, wd, p->extent[0], p->extent[1], &ho, &wo, why, len) ||
        !y_matches(sp, y, ho, wo, nm->y, why, len))
        return false;
    return set_shape(out, pack_dims(sp, y->dims[1], x->dims[1], p->extent[0], p->extent[1], dims),
                     dims, why, len);
}

static size_t conv_aux_size(const ag_node *out)
{
    conv_geometry g = geometry_of(out);
    return conv_aux_doubles(&g);
}

/* ---- numeric forward, vjp, jvp ---------------------------------------------------- */

/* dst (+)= the role's op on (a, b): conv(x=a, w=b), input(y=a, w=b) or weight(x=a, y=b) */
static void apply(const ag_node *out, conv_role role, const double *a, const double *b, double *dst,
                  bool add)
{
    conv_geometry g = geometry_of(out);
    conv_pass pass = {0};
    switch (role) {
    case CONV_FORWARD: pass = (conv_pass){.x = a, .w = b, .y_out = dst, .add_y = add}; break;
    case CONV_INPUT: pass = (conv_pass){.y = a, .w = b, .x_out = dst, .add_x = add}; break;
    case CONV_WEIGHT: pass = (conv_pass){.x = a, .y = b, .w_out = dst, .add_w = add}; break;
    }
    conv_run(&g, &pass, out->aux);
}

/* y[n,o,:] = b[o]: a conv's bias laid over its output (the jvp's tb) */
static void fill_bias(const ag_node *out, const double *b, double *y)
{
    size_t N = (size_t)out->shape.dims[0], O = (size_t)out->shape.dims[1];
    size_t per_channel = out->shape.size / (N * O);
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < O; o++, y += per_channel)
            for (size_t k = 0; k < per_channel; k++) y[k] = b[o];
}

/* forward and vjp, stamped for double (conv_forward, conv_vjp) and for
 * float (conv_forward_f32, conv_vjp_f32: the float32 kernels) */
typedef double real;
#define AG_TYPED(name) name
#include "conv_nodes_typed.h"
#undef AG_TYPED
#define real float /* a second typedef of `real` would clash */
#define AG_TYPED(name) name##_f32
#include "conv_nodes_typed.h"
#undef AG_TYPED
#undef real

static const ag_typed_kernels conv_f32 = {{conv_forward_f32, conv_vjp_f32}, NULL};

/* bilinear: t = op(ta, b) + op(a, tb) (+ tb for conv's bias), NULL tangents zero */
static void conv_jvp(ag_node *out)
{
    const conv_family *f = family_of(out);
    const ag_node *a = out->in[0], *b = out->in[1];
    bool added = false;
    if (f->role == CONV_FORWARD && out->n_in == 3 && out->in[2]->tangent) {
        fill_bias(out, out->in[2]->tangent, out->tangent);
        added = true;
    }
    if (a->tangent) apply(out, f->role, a->tangent, b->value, out->tangent, added), added = true;
    if (b->tangent) apply(out, f->role, a->value, b->tangent, out->tangent, added), added = true;
    if (!added) memset(out->tangent, 0, out->shape.size * sizeof *out->tangent);
}

/* ---- recorded derivatives ---------------------------------------------------------- */

/* The family's `role` op on (a, b) with out's stride and padding, and the
 * extent that role needs (the input's or the kernel's size in out's geometry). */
static ag_node *record_role(const ag_node *out, conv_role role, ag_node *a, ag_node *b)
{
    const conv_family *f = family_of(out);
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    conv_geometry g = geometry_of(out);
    ag_conv_params q = {.stride = p->stride, .padding = p->padding};
    if (role == CONV_INPUT) q.extent[0] = g.H, q.extent[1] = g.W;
    if (role == CONV_WEIGHT) q.extent[0] = g.kh, q.extent[1] = g.kw;
    return ag_record2(f->ops[role], a, b, &q);
}

static bool conv_vjp_nodes(ag_node *out, ag_node *u, ag_node **gx)
{
    const conv_family *f = family_of(out);
    ag_node *a = out->in[0], *b = out->in[1];
    bool want_a = ag_rec_takes_grad(out, 0), want_b = ag_rec_takes_grad(out, 1);
    switch (f->role) {
    case CONV_FORWARD:
        if (want_a) gx[0] = record_role(out, CONV_INPUT, u, b);
        if (want_b) gx[1] = record_role(out, CONV_WEIGHT, a, u);
        if (out->n_in == 3 && ag_rec_takes_grad(out, 2)) { /* sum over n, i, j: [N,O,P] -> [O] */
            int N = out->shape.dims[0], O = out->shape.dims[1];
            int P = (int)(out->shape.size / ((size_t)N * O));
            gx[2] = ag_sum_axis(ag_sum_axis(ag_reshape(u, 3, (int[]){N, O, P}), 2), 0);
        }
        break;
    case CONV_INPUT:
        if (want_a) gx[0] = record_role(out, CONV_FORWARD, u, b);
        if (want_b) gx[1] = record_role(out, CONV_WEIGHT, u, a);
        break;
    case CONV_WEIGHT:
        if (want_a) gx[0] = record_role(out, CONV_INPUT, b, u);
        if (want_b) gx[1] = record_role(out, CONV_FORWARD, a, u);
        break;
    }
    return !out->graph->failed;
}

static ag_node *conv_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_node *t = NULL;
    if (tx[0]) t = ag_rec_again(out, 2, (ag_node *[]){tx[0], out->in[1]});
    if (tx[1]) t = ag_rec_add(t, ag_rec_again(out, 2, (ag_node *[]){out->in[0], tx[1]}));
    if (family_of(out)->role == CONV_FORWARD && out->n_in == 3 && tx[2]) {
        /* tb [O] as [1,O,1,1] (1-d: [1,O,1]), broadcast over the output */
        int O = out->shape.dims[1];
        ag_node *tb = ag_reshape(tx[2], out->shape.ndim, (int[]){1, O, 1, 1});
        t = t ? ag_add(t, tb) : ag_rec_expand_to(tb, &out->shape);
    }
    return out->graph->failed ? NULL : t;
}

/* ---- parameters, descriptors, public functions -------------------------------------- */

static int conv_print_params(const ag_node *out, char *buf, size_t len)
{
    const conv_family *f = family_of(out);
    const ag_conv_params *p = AG_PARAMS(out, const ag_conv_params);
    int n = snprintf(buf, len, "stride=%d, padding=%d", p->stride, p->padding);
    if (n < 0 || f->role == CONV_FORWARD) return n;
    size_t at = (size_t)n < len ? (size_t)n : len;
    int m;
    if (f->role == CONV_INPUT)
        m = f->spatial == 2 ? snprintf(buf + at, len - at, ", height=%d, width=%d", p->extent[0], p->extent[1])
                            : snprintf(buf + at, len - at, ", length=%d", p->extent[1]);
    else
        m = f->spatial == 2 ? snprintf(buf + at, len - at, ", kh=%d, kw=%d", p->extent[0], p->extent[1])
                            : snprintf(buf + at, len - at, ", k=%d", p->extent[1]);
    return m < 0 ? m : n + m;
}

#define CONV_FAMILY(sp, role_)                                                               \
    (&(const conv_family){.spatial = sp, .role = role_,                                      \
                          .ops = {&ag_op_conv##sp##d, &ag_op_conv##sp##d_input_grad,         \
                                  &ag_op_conv##sp##d_weight_grad}})

#define CONV_OP(op_name, arity_, sp, role_, shape_fn)                                        \
    const ag_op ag_op_##op_name = {.name = #op_name, .arity = arity_,                        \
                                   .params_size = sizeof(ag_conv_params),                    \
                                   .print_params = conv_print_params, .shape = shape_fn,     \
                                   .kernels = {conv_forward, conv_vjp}, .jvp = conv_jvp,     \
                                   .vjp_nodes = conv_vjp_nodes, .jvp_nodes = conv_jvp_nodes, \
                                   .aux_size = conv_aux_size, .rule = CONV_FAMILY(sp, role_),        \
                                   .f32 = &conv_f32}

/* conv itself takes 2 or 3 operands (the bias is optional): checked by its shape rule */
CONV_OP(conv2d, AG_VARIADIC, 2, CONV_FORWARD, conv_shape);
CONV_OP(conv2d_input_grad, 2, 2, CONV_INPUT, input_shape);
CONV_OP(conv2d_weight_grad, 2, 2, CONV_WEIGHT, weight_shape);
CONV_OP(conv1d, AG_VARIADIC, 1, CONV_FORWARD, conv_shape);
CONV_OP(conv1d_input_grad, 2, 1, CONV_INPUT, input_shape);
CONV_OP(conv1d_weight_grad, 2, 1, CONV_WEIGHT, weight_shape);

static ag_node *record_conv(const ag_op *op, ag_node *x, ag_node *w, ag_node *b, int stride,
                            int padding)
{
    ag_node *in[3] = {x, w, b};
    return ag_record(op, b ? 3 : 2, in, &(ag_conv_params){.stride = stride, .padding = padding}, NULL);
}

ag_node *ag_conv2d(ag_node *x, ag_node *w, ag_node *b, int stride, int padding)
{
    return record_conv(&ag_op_conv2d, x, w, b, stride, padding);
}

ag_node *ag_conv1d(ag_node *x, ag_node *w, ag_node *b, int stride, int padding)
{
    return record_conv(&ag_op_conv1d, x, w, b, stride, padding);
}

ag_node *ag_conv2d_input_grad(ag_node *gy, ag_node *w, int height, int width, int stride, int padding)
{
    return ag_record2(&ag_op_conv2d_input_grad, gy, w,
                      &(ag_conv_params){.stride = stride, .padding = padding, .extent = {height, width}});
}

ag_node *ag_conv2d_weight_grad(ag_node *x, ag_node *gy, int kh, int kw, int stride, int padding)
{
    return ag_record2(&ag_op_conv2d_weight_grad, x, gy,
                      &(ag_conv_params){.stride = stride, .padding = padding, .extent = {kh, kw}});
}

ag_node *ag_conv1d_input_grad(ag_node *gy, ag_node *w, int length, int stride, int padding)
{
    return ag_record2(&ag_op_conv1d_input_grad, gy, w,
                      &(ag_conv_params){.stride = stride, .padding = padding, .extent = {1, length}});
}

ag_node *ag_conv1d_weight_grad(ag_node *x, ag_node *gy, int k, int stride, int padding)
{
    return ag_record2(&ag_op_conv1d_weight_grad, x, gy,
                      &(ag_conv_params){.stride = stride, .padding = padding, .extent = {1, k}});
}
