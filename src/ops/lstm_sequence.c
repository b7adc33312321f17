/* lstm_sequence.c -- an LSTM layer's recurrence over a whole sequence as ONE
 * op, so its backward (backpropagation through time) runs inside one vjp:
 *
 *   inputs  X  [T,N,4H]  every step's input share x_t w_ih^T + b_ih + b_hh
 *                        (ag_lstm computes it as one product), gates i, f, g, o;
 *                        or the same rows as [T N, 4H] (the product's own
 *                        shape: no reshape to copy it), N from h0
 *           W  [4H,H]    w_hh
 *           h0, c0 [N,H] the initial state
 *   output  Y  [2,T,N,H] Y[0,t] = h_{t+1}, Y[1,t] = c_{t+1} (t = 0 .. T-1)
 *
 * Step t (h_{-1} = h0, c_{-1} = c0; the same equations as lstm.c):
 *   a_t = X[t] + h_{t-1} W^T                                      [N,4H]
 *   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
 *   c_t = f c_{t-1} + i g      h_t = o tanh(c_t)
 *
 * Why both h and c in the output: ag_lstm's outputs (the stacked h), h_n and
 * c_n are slices of it, so the final cell state takes a gradient like any
 * other output, and the recorded derivatives below read h_{t-1} and c_t as
 * nodes of the op itself (differentiable again) instead of recomputing the
 * recurrence.
 *
 * vjp, from t = T-1 down, with carries dh = dc = 0 at the end:
 *   dh_t = gY[0,t] + dh            dc_t = gY[1,t] + dc + dh_t o (1 - tanh^2 c_t)
 *   da_o = dh_t tanh(c_t) o (1 - o)          da_i = dc_t g i (1 - i)
 *   da_f = dc_t c_{t-1} f (1 - f)            da_g = dc_t i (1 - g^2)
 *   dc = dc_t f                    dh = da_t W           ([N,4H] @ [4H,H])
 * then
 *   gX += dA  (all the da_t, [T N, 4H])     gh0 += dh,  gc0 += dc
 *   gW += dA^T Hprev                        ([4H, T N] @ [T N, H], Hprev the
 *                                            h_{t-1} stacked: h0, then Y[0,0..T-2])
 * The weight gradient is one product with K = T N (two: h0's rows and the
 * rest, which Y holds contiguously) instead of T products with K = N, and
 * the input projection's gradient (w_ih, x, biases) is then one product too,
 * through the ops that made X.
 *
 * jvp, the same recurrence on tangents (tY[.,t-1] the previous step's):
 *   ta = tX[t] + th_{t-1} W^T + h_{t-1} tW^T
 *   ti = i (1 - i) ta_i, tf, to likewise, tg = (1 - g^2) ta_g
 *   tc_t = tf c_{t-1} + f tc_{t-1} + ti g + i tg
 *   th_t = to tanh(c_t) + o (1 - tanh^2 c_t) tc_t
 *
 * The forward keeps i, f, g, o and tanh(c_t) of every step in aux, so the
 * backward computes no exp or tanh. aux (doubles):
 *   act [T,N,4H]  tanh_c [T,N,H]  dA [T,N,4H]  scratch [N,4H]  dh, dc [N,H]
 *   packed_wt, packed_w  W^T and W packed for the kernel's tile
 * made once when the node is recorded: a replayed step allocates nothing.
 * Every step multiplies by the same W, so the forward packs W^T once and
 * the backward W once (ag_gemm_pack_b) instead of once per step: with 16
 * rows of h, packing W cost about as much as the product itself.
 *
 * Threads: the rows of the batch never meet in the recurrence (row n of
 * h_t needs only row n of h_{t-1} and c_{t-1}), so the forward and the
 * backward's loop over steps split the batch into bands of rows, one per
 * kernel thread, each running every step on its own: one fork and one join
 * per pass, none per step. A row's numbers do not depend on its band (each
 * element of a product is the same chain of multiply-adds whatever the
 * tile's height; tests/test_perf.c checks it), so any thread count gives
 * the same bits.
 *
 * The readable definition is the cell composition (ag_linear, ag_lstm_state,
 * ag_lstm_output step by step); tests/test_recurrent.c compares this op with
 * it, values and every gradient. */
#include "../kernels/parallel.h"
#include "lstm_math.h"
#include "recorded.h"

#include <stdio.h>
#include <string.h>

enum { GATE_I, GATE_F, GATE_G, GATE_O };
enum { IN_X, IN_W, IN_H0, IN_C0 };

typedef struct seq_view {
    size_t T, N, H;
} seq_view;

static seq_view seq_view_of(const ag_node *out)
{
    return (seq_view){(size_t)out->shape.dims[1], (size_t)out->shape.dims[2], (size_t)out->shape.dims[3]};
}

/* ---- shape ------------------------------------------------------------------------ */

/* X [T,N,4H] (or its rows, [T N, 4H]), W [4H,H], h0, c0 [N,H] -> [2,T,N,H] */
static bool sequence_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->inputs[IN_X]->shape, *w = &out->inputs[IN_W]->shape;
    const ag_shape *h0 = &out->inputs[IN_H0]->shape, *c0 = &out->inputs[IN_C0]->shape;
    char got[64];
    if (w->ndim != 2 || w->dims[0] != 4 * w->dims[1]) {
        snprintf(why, len, "w_hh is %s, expected [4H, H]", ag_shape_str(w, got, sizeof got));
        return false;
    }
    int H = w->dims[1];
    /* the 2-d form takes N from h0 */
    int N = x->ndim == 3 ? x->dims[1] : h0->ndim == 2 ? h0->dims[0] : 0;
    bool rows_fit = x->ndim == 2 && N > 0 && x->dims[0] % N == 0;
    if ((x->ndim != 3 && !rows_fit) || x->dims[x->ndim - 1] != 4 * H) {
        snprintf(why, len,
                 "gates_x is %s, expected [T, N, %d] or [T N, %d] ([T, N, 4H] with H = %d from w_hh, N from "
                 "h0)",
                 ag_shape_str(x, got, sizeof got), 4 * H, 4 * H, H);
        return false;
    }
    int T = x->ndim == 3 ? x->dims[0] : x->dims[0] / N;
    const ag_shape *states[2] = {h0, c0};
    for (int k = 0; k < 2; k++)
        if (states[k]->ndim != 2 || states[k]->dims[0] != N || states[k]->dims[1] != H) {
            snprintf(why, len, "%s is %s, expected [%d, %d] ([N, H] with N = %d from gates_x, H = %d)",
                     k ? "c0" : "h0", ag_shape_str(states[k], got, sizeof got), N, H, N, H);
            return false;
        }
    const char *bad;
    if (!ag_shape_make(&out->shape, 4, (int[]){2, T, N, H}, &bad)) {
        snprintf(why, len, "%s", bad);
        return false;
    }
    return true;
}

/* doubles that hold op(B) [K,N] packed as the right operand of a product,
 * in the node's type (two floats a double) */
static size_t packed_doubles(const ag_node *out, int K, int N)
{
    return out->dtype == AG_FLOAT32 ? (ag_gemm_packed_size_f32(K, N) + 1) / 2 : ag_gemm_packed_size(K, N);
}
/* ... for W^T [H,4H] and W [4H,H] */
static size_t packed_wt_size(const ag_node *out, const seq_view *v)
{
    return packed_doubles(out, (int)v->H, 4 * (int)v->H);
}
static size_t packed_w_size(const ag_node *out, const seq_view *v)
{
    return packed_doubles(out, 4 * (int)v->H, (int)v->H);
}

static size_t sequence_aux_size(const ag_node *out)
{
    seq_view v = seq_view_of(out);
    return 9 * v.T * v.N * v.H + 6 * v.N * v.H + packed_wt_size(out, &v) + packed_w_size(out, &v);
}

/* the pieces of aux (layout above; in a float32 node scratch, dA, dh and
 * the packed copies hold floats, in the same places) */
typedef struct seq_aux {
    double *act, *tanh_c, *dA, *scratch, *dh, *dc, *packed_wt, *packed_w;
} seq_aux;

static seq_aux seq_aux_of(const ag_node *out)
{
    seq_view v = seq_view_of(out);
    size_t steps = v.T * v.N * v.H, state = v.N * v.H;
    seq_aux a = {.act = out->aux};
    a.tanh_c = a.act + 4 * steps;
    a.dA = a.tanh_c + steps;
    a.scratch = a.dA + 4 * steps;
    a.dh = a.scratch + 4 * state;
    a.dc = a.dh + state;
    a.packed_wt = a.dc + state;
    a.packed_w = a.packed_wt + packed_wt_size(out, &v);
    return a;
}

/* Y[which, t] ([N,H]) of a [2,T,N,H] buffer (float64) */
static inline double *state_at(double *y, const seq_view *v, int which, size_t t)
{
    return y + ((size_t)which * v->T + t) * v->N * v->H;
}

/* ---- bands of batch rows, one per thread ------------------------------------------------ */

/* A band holds a multiple of BAND_ROWS rows (the short register tile's
 * height), and a sequence is split only when its products have at least
 * SEQ_PARALLEL_MIN multiply-adds in all (T N 4H H): below that, waking a
 * worker costs more than half the recurrence saves; and only when a band's
 * per-step product is above ag_gemm's direct path (AG_GEMM_TINY_MAX), which
 * rounds differently from the blocked kernel the whole batch's product
 * runs on: the same bits at any thread count. */
#define BAND_ROWS 4
#define SEQ_PARALLEL_MIN ((size_t)1 << 19)

static int sequence_threads(const seq_view *v)
{
    if (v->T * v->N * 4 * v->H * v->H < SEQ_PARALLEL_MIN) return 1;
    if (BAND_ROWS * 4 * v->H * v->H <= AG_GEMM_TINY_MAX) return 1;
    int most = (int)(v->N / BAND_ROWS), threads = ag_parallel_threads();
    return threads < most ? threads : most;
}

/* ---- the pointwise halves, once per instruction set --------------------------------- */

/* Each step's pointwise work is written once, as an always-inline _body,
 * and compiled three times: plain (SSE2 on x86-64), AVX2 and AVX-512, 2, 4
 * and 8 doubles a vector (lstm_math.h's loops vectorise; mk/bench.mk gives
 * this file the cost model that lets them). The chooser picks the widest
 * copy the CPU runs. The same operations in the same order, with no fused
 * multiply-add (-std=c11 contracts none), so every copy gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_COPIES(name, chooser, fn_type, body, params, args)                                         \
    static void name##_generic params { body args; }                                                   \
    __attribute__((target("avx2"))) static void name##_avx2 params { body args; }                      \
    __attribute__((target("avx512f"))) static void name##_avx512 params { body args; }                 \
    static fn_type *chooser(void)                                                                      \
    {                                                                                                  \
        __builtin_cpu_init();                                                                          \
        if (__builtin_cpu_supports("avx512f")) return name##_avx512;                                   \
        return __builtin_cpu_supports("avx2") ? name##_avx2 : name##_generic;                          \
    }
#else
#define ISA_COPIES(name, chooser, fn_type, body, params, args)                                         \
    static void name##_generic params { body args; }                                                   \
    static fn_type *chooser(void) { return name##_generic; }
#endif
/* the same, its arguments expanded first (names made by SEQ(...)) */
#define ISA_COPIES_OF(name, chooser, fn_type, body, params, args) \
    ISA_COPIES(name, chooser, fn_type, body, params, args)

#define real double
#define SEQ(name) name
#include "lstm_sequence_kernels.h"
#undef real
#undef SEQ

#define real float
#define SEQ(name) name##_f32
#include "lstm_sequence_kernels.h"
#undef real
#undef SEQ

static const ag_typed_kernels sequence_f32 = {{sequence_forward_f32, sequence_vjp_f32}, NULL};

/* ---- jvp ---------------------------------------------------------------------------- */

static void sequence_jvp(ag_node *out)
{
    seq_view v = seq_view_of(out);
    seq_aux aux = seq_aux_of(out);
    const ag_node *x = out->inputs[IN_X], *w = out->inputs[IN_W], *h0 = out->inputs[IN_H0],
                  *c0 = out->inputs[IN_C0];
    int N = (int)v.N, H = (int)v.H;
    size_t gates = v.N * 4 * v.H, state = v.N * v.H;
    for (size_t t = 0; t < v.T; t++) {
        const double *h_prev = t ? state_at(out->value, &v, 0, t - 1) : h0->value;
        const double *c_prev = t ? state_at(out->value, &v, 1, t - 1) : c0->value;
        const double *th_prev = t ? state_at(out->tangent, &v, 0, t - 1) : h0->tangent;
        const double *tc_prev = t ? state_at(out->tangent, &v, 1, t - 1) : c0->tangent;
        /* ta = tX[t] + th_{t-1} W^T + h_{t-1} tW^T */
        double *ta = aux.scratch;
        if (x->tangent)
            memcpy(ta, x->tangent + t * gates, gates * sizeof(double));
        else
            memset(ta, 0, gates * sizeof(double));
        if (th_prev) ag_gemm(false, true, N, 4 * H, H, th_prev, H, w->value, H, 1.0, ta, 4 * H);
        if (w->tangent) ag_gemm(false, true, N, 4 * H, H, h_prev, H, w->tangent, H, 1.0, ta, 4 * H);
        const double *act = aux.act + t * gates, *tanh_c = aux.tanh_c + t * state;
        double *th = state_at(out->tangent, &v, 0, t), *tc = state_at(out->tangent, &v, 1, t);
        for (size_t n = 0; n < v.N; n++) {
            const double *i = act + n * 4 * v.H, *f = i + v.H, *g = f + v.H, *o = g + v.H;
            const double *tan = ta + n * 4 * v.H, *tn = tanh_c + n * v.H, *cp = c_prev + n * v.H;
            for (size_t j = 0; j < v.H; j++) {
                size_t k = n * v.H + j;
                double ti = i[j] * (1.0 - i[j]) * tan[j], tf = f[j] * (1.0 - f[j]) * tan[v.H + j];
                double tg = (1.0 - g[j] * g[j]) * tan[2 * v.H + j], to = o[j] * (1.0 - o[j]) * tan[3 * v.H + j];
                double tct = tf * cp[j] + (tc_prev ? f[j] * tc_prev[k] : 0.0) + ti * g[j] + i[j] * tg;
                tc[k] = tct;
                th[k] = to * tn[j] + o[j] * (1.0 - tn[j] * tn[j]) * tct;
            }
        }
    }
}

/* ---- recorded: the same recurrences in public ops ------------------------------------- */

/* step t of a [T,N,K] node, or of its rows [T N, K], as [N,K] */
static ag_node *step_of(ag_node *m, int t, int N)
{
    if (m->shape.ndim == 2) return ag_slice(m, 0, t * N, (t + 1) * N, 1);
    return ag_reshape(ag_slice(m, 0, t, t + 1, 1), 2, (int[]){m->shape.dims[1], m->shape.dims[2]});
}

/* Y[which, t] of out (or of a node of its shape) as [N,H] */
static ag_node *state_node(ag_node *y, int which, int t)
{
    ag_node *part = ag_slice(ag_slice(y, 0, which, which + 1, 1), 1, t, t + 1, 1);
    return ag_reshape(part, 2, (int[]){y->shape.dims[2], y->shape.dims[3]});
}

static ag_node *gate_of(ag_node *m, int k, int H) { return ag_slice(m, 1, k * H, (k + 1) * H, 1); }

/* sigmoid'(a) = s (1 - s), tanh'(a) = 1 - t^2, from the activation */
static ag_node *sigmoid_slope(ag_node *s) { return ag_mul(s, ag_sub(ag_rec_scalar(s->graph, 1.0), s)); }
static ag_node *tanh_slope(ag_node *t) { return ag_sub(ag_rec_scalar(t->graph, 1.0), ag_mul(t, t)); }

/* a zeroed list of n node pointers (ag_free it); NULL, the graph failed, when memory is short */
static ag_node **node_list(ag_graph *g, size_t n)
{
    ag_node **list = ag_calloc(n ? n : 1, sizeof *list);
    if (!list) ag_graph_fail(g, "lstm_sequence: out of memory for %zu steps", n);
    return list;
}

/* step t's state before it and its activations, as nodes */
typedef struct step_nodes {
    ag_node *h_prev, *c_prev, *i, *f, *g, *o, *tanh_c;
} step_nodes;

static step_nodes step_nodes_of(ag_node *out, int t)
{
    ag_node *x = out->inputs[IN_X], *w = out->inputs[IN_W];
    int H = out->shape.dims[3];
    step_nodes s;
    s.h_prev = t ? state_node(out, 0, t - 1) : out->inputs[IN_H0];
    s.c_prev = t ? state_node(out, 1, t - 1) : out->inputs[IN_C0];
    ag_node *a = ag_add(step_of(x, t, out->shape.dims[2]), ag_matmul(s.h_prev, ag_transpose(w)));
    s.i = ag_sigmoid(gate_of(a, GATE_I, H));
    s.f = ag_sigmoid(gate_of(a, GATE_F, H));
    s.g = ag_tanh(gate_of(a, GATE_G, H));
    s.o = ag_sigmoid(gate_of(a, GATE_O, H));
    s.tanh_c = ag_tanh(state_node(out, 1, t));
    return s;
}

static bool sequence_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    ag_graph *g = out->graph;
    int T = out->shape.dims[1], N = out->shape.dims[2], H = out->shape.dims[3];
    ag_node *w = out->inputs[IN_W];
    gy = ag_rec_expand_to(gy, &out->shape);
    ag_node **da = node_list(g, (size_t)T), **h_prev = da ? node_list(g, (size_t)T) : NULL;
    if (!h_prev) {
        ag_free(da);
        return false;
    }
    ag_node *dh = NULL, *dc = NULL;
    for (int t = T - 1; t >= 0 && !g->failed; t--) {
        step_nodes s = step_nodes_of(out, t);
        ag_node *dh_t = ag_rec_add(state_node(gy, 0, t), dh);
        ag_node *dc_t = ag_rec_add(ag_rec_add(state_node(gy, 1, t), dc),
                                   ag_mul(ag_mul(dh_t, s.o), tanh_slope(s.tanh_c)));
        ag_node *pieces[4] = {ag_mul(ag_mul(dc_t, s.g), sigmoid_slope(s.i)),
                              ag_mul(ag_mul(dc_t, s.c_prev), sigmoid_slope(s.f)),
                              ag_mul(ag_mul(dc_t, s.i), tanh_slope(s.g)),
                              ag_mul(ag_mul(dh_t, s.tanh_c), sigmoid_slope(s.o))};
        da[t] = ag_concat(4, pieces, 1); /* [N,4H] */
        h_prev[t] = s.h_prev;
        dc = ag_mul(dc_t, s.f);
        dh = ag_matmul(da[t], w);
    }
    ag_node *dA = g->failed ? NULL : ag_stack((size_t)T, da, 0); /* [T,N,4H] */
    ag_node *hs = dA ? ag_stack((size_t)T, h_prev, 0) : NULL; /* [T,N,H] */
    ag_free(da);
    ag_free(h_prev);
    if (!hs) return false;
    if (ag_rec_takes_grad(out, IN_X)) gx[IN_X] = ag_rec_reshape_to(dA, &out->inputs[IN_X]->shape);
    if (ag_rec_takes_grad(out, IN_W)) {
        ag_node *rows = ag_reshape(dA, 2, (int[]){T * N, 4 * H});
        gx[IN_W] = ag_matmul(ag_transpose(rows), ag_reshape(hs, 2, (int[]){T * N, H})); /* [4H,H] */
    }
    if (ag_rec_takes_grad(out, IN_H0)) gx[IN_H0] = dh;
    if (ag_rec_takes_grad(out, IN_C0)) gx[IN_C0] = dc;
    return !g->failed;
}

static ag_node *sequence_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    ag_graph *g = out->graph;
    int T = out->shape.dims[1], H = out->shape.dims[3];
    ag_node *w = out->inputs[IN_W];
    ag_node **th = node_list(g, (size_t)T), **tc = th ? node_list(g, (size_t)T) : NULL;
    if (!tc) {
        ag_free(th);
        return NULL;
    }
    ag_node *th_prev = tx[IN_H0], *tc_prev = tx[IN_C0];
    const ag_shape *state = &out->inputs[IN_H0]->shape; /* [N,H] */
    for (int t = 0; t < T && !g->failed; t++) {
        step_nodes s = step_nodes_of(out, t);
        ag_node *ta = tx[IN_X] ? step_of(tx[IN_X], t, out->shape.dims[2]) : NULL;
        if (th_prev) ta = ag_rec_add(ta, ag_matmul(th_prev, ag_transpose(w)));
        if (tx[IN_W]) ta = ag_rec_add(ta, ag_matmul(s.h_prev, ag_transpose(tx[IN_W])));
        ag_node *tct = ag_rec_mul(s.f, tc_prev);
        if (ta) {
            ag_node *ti = ag_mul(sigmoid_slope(s.i), gate_of(ta, GATE_I, H));
            ag_node *tf = ag_mul(sigmoid_slope(s.f), gate_of(ta, GATE_F, H));
            ag_node *tg = ag_mul(tanh_slope(s.g), gate_of(ta, GATE_G, H));
            tct = ag_rec_add(tct, ag_add(ag_add(ag_mul(tf, s.c_prev), ag_mul(ti, s.g)), ag_mul(s.i, tg)));
        }
        ag_node *tht = ag_rec_mul(ag_mul(s.o, tanh_slope(s.tanh_c)), tct);
        if (ta) tht = ag_rec_add(ag_mul(ag_mul(sigmoid_slope(s.o), gate_of(ta, GATE_O, H)), s.tanh_c), tht);
        if (!tht) { /* no tangent has reached this step yet */
            tht = ag_rec_zeros(g, state);
            tct = ag_rec_zeros(g, state);
        }
        th[t] = tht;
        tc[t] = tct;
        th_prev = th[t];
        tc_prev = tc[t];
    }
    ag_node *both[2] = {NULL, NULL};
    if (!g->failed) {
        both[0] = ag_stack((size_t)T, th, 0);
        both[1] = ag_stack((size_t)T, tc, 0);
    }
    ag_free(th);
    ag_free(tc);
    return g->failed ? NULL : ag_stack(2, both, 0);
}

const ag_op ag_op_lstm_sequence = {.name = "lstm_sequence", .arity = 4, .shape = sequence_shape,
                                   .kernels = {sequence_forward, sequence_vjp}, .jvp = sequence_jvp,
                                   .vjp_nodes = sequence_vjp_nodes, .jvp_nodes = sequence_jvp_nodes,
                                   .aux_size = sequence_aux_size, .f32 = &sequence_f32};

ag_node *ag_lstm_sequence(ag_node *gates_x, ag_node *w_hh, ag_node *h0, ag_node *c0)
{
    ag_node *in[4] = {gates_x, w_hh, h0, c0};
    return ag_record(&ag_op_lstm_sequence, 4, in, NULL, NULL);
}
