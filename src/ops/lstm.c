/* lstm.c -- the pointwise half of an LSTM step, fused: from the gate
 * pre-activations a = [a_i | a_f | a_g | a_o] ([N,4H], PyTorch's order,
 * gate k in columns kH .. kH + H - 1) and the cell state, two ops
 *
 *   lstm_state   (a, c)  -> c' = f c + i g          [N,H]
 *   lstm_output  (a, c') -> h' = o tanh(c')         [N,H]
 *
 * with i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o).
 * Each reads its columns of a in place (no slice copies) and writes one
 * [N,H] node; lstm_state's vjp fills columns i, f, g of a's gradient,
 * lstm_output's column o, so the pair is ag_lstm_cell's pointwise step with
 * nothing computed twice. The derivatives (sigmoid' = s (1 - s),
 * tanh' = 1 - t^2), element by element:
 *
 *   lstm_state   vjp  ga_i += gc' g i (1 - i)     ga_f += gc' c f (1 - f)
 *                     ga_g += gc' i (1 - g^2)     gc   += gc' f
 *                jvp  tc' = f tc + c f (1 - f) ta_f + g i (1 - i) ta_i + i (1 - g^2) ta_g
 *   lstm_output  vjp  ga_o += gh' t o (1 - o)     gc'  += gh' o (1 - t^2)   (t = tanh c')
 *                jvp  th' = t o (1 - o) ta_o + o (1 - t^2) tc'
 *
 * The forward keeps the activations it computed in aux (i, f, g per
 * element for lstm_state; o, t for lstm_output), so the backward computes
 * no exp or tanh. The recorded derivatives (vjp_nodes, jvp_nodes) are the
 * same formulas in public ops (slice, sigmoid, tanh, mul, concat), so they
 * differentiate again.
 *
 * Why fused: composed of public ops (4 slices, 3 sigmoids, 2 tanh, 3 mul,
 * add: 13 nodes per step, each a pass over memory forward and back) the
 * pointwise step of the char-LSTM cost about as much as its products. */
#include "lstm_math.h"
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>

enum { GATE_I, GATE_F, GATE_G, GATE_O };

/* ---- shapes ------------------------------------------------------------------------ */

/* gates [N, 4H] and a state [N, H] */
static bool lstm_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *a = &out->in[0]->shape, *c = &out->in[1]->shape;
    char got[64];
    if (c->ndim != 2) {
        snprintf(why, len, "the state is %s, expected [N, H]", ag_shape_str(c, got, sizeof got));
        return false;
    }
    int N = c->dims[0], H = c->dims[1];
    if (a->ndim != 2 || a->dims[0] != N || a->dims[1] != 4 * H) {
        snprintf(why, len, "gates are %s, expected [%d, %d] ([N, 4H] with N = %d, H = %d from the state)",
                 ag_shape_str(a, got, sizeof got), N, 4 * H, N, H);
        return false;
    }
    out->shape = *c;
    return true;
}

typedef struct lstm_view {
    size_t N, H;
} lstm_view;

static lstm_view view_of(const ag_node *out)
{
    return (lstm_view){(size_t)out->shape.dims[0], (size_t)out->shape.dims[1]};
}

typedef struct lstm_job {
    ag_node *out;
    lstm_view v;
} lstm_job;

#define real double
#define CELL(name) name
#include "lstm_cell_kernels.h"
#undef real
#undef CELL

#define real float
#define CELL(name) name##_f32
#include "lstm_cell_kernels.h"
#undef real
#undef CELL


/* ---- the forward's rows, once per instruction set ------------------------------------
 * The forwards' loops (the activations, lstm_math.h) vectorise; compiled
 * once more for AVX2 they take 4 doubles a vector instead of SSE2's 2, and
 * the run picks that copy where the CPU has it. The same operations in the
 * same order, no fused multiply-add, so both give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#define ROWS_FOR_EACH_ISA(name)                                                                    \
    static void name##_generic(void *ctx, size_t lo, size_t hi) { name##_body(ctx, lo, hi); }        \
    __attribute__((target("avx2"))) static void name##_avx2(void *ctx, size_t lo, size_t hi)        \
    {                                                                                              \
        name##_body(ctx, lo, hi);                                                                  \
    }
static bool avx2_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
#define ROWS_FOR_EACH_ISA(name)                                                                    \
    static void name##_generic(void *ctx, size_t lo, size_t hi) { name##_body(ctx, lo, hi); }        \
    static void name##_avx2(void *ctx, size_t lo, size_t hi) { name##_body(ctx, lo, hi); }
static bool avx2_available(void) { return false; }
#endif

/* rows [0, N) of the batch through `rows`, split over the kernel threads;
 * a row's work is doubles_per_h times H doubles */
static void run_rows(ag_node *out, size_t doubles_per_h, ag_range_fn rows)
{
    lstm_job job = {out, view_of(out)};
    AG_PARALLEL_RANGE(job.v.N, doubles_per_h * job.v.H, rows, &job);
}

/* ---- lstm_state: c' = f c + i g ------------------------------------------------------ */

static size_t state_aux_size(const ag_node *out) { return 3 * out->shape.size; }

ROWS_FOR_EACH_ISA(state_rows)

static bool state_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    run_rows(out, 8, avx2_available() ? state_rows_avx2 : state_rows_generic);
    return true;
}

static void state_vjp(ag_node *out)
{
    run_rows(out, 8, state_grad_rows);
}

/* tc' = f tc + c f (1 - f) ta_f + g i (1 - i) ta_i + i (1 - g^2) ta_g */
static void state_jvp(ag_node *out)
{
    lstm_view v = view_of(out);
    const double *ta = out->in[0]->tangent, *tc = out->in[1]->tangent;
    for (size_t n = 0; n < v.N; n++) {
        const double *i = out->aux + n * 3 * v.H, *f = i + v.H, *g = f + v.H, *c = out->in[1]->value + n * v.H;
        double *ty = out->tangent + n * v.H;
        for (size_t j = 0; j < v.H; j++) {
            double t = tc ? f[j] * tc[n * v.H + j] : 0.0;
            if (ta)
                t += c[j] * (f[j] * (1.0 - f[j])) * gate_at(ta, &v, n, GATE_F)[j] +
                     g[j] * (i[j] * (1.0 - i[j])) * gate_at(ta, &v, n, GATE_I)[j] +
                     i[j] * (1.0 - g[j] * g[j]) * gate_at(ta, &v, n, GATE_G)[j];
            ty[j] = t;
        }
    }
}

/* float32 (one copy: no ISA variants) */
static void state_rows_f32(void *ctx, size_t lo, size_t hi) { state_rows_body_f32(ctx, lo, hi); }
static bool state_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    run_rows(out, 8, state_rows_f32);
    return true;
}
static void state_vjp_f32(ag_node *out) { run_rows(out, 8, state_grad_rows_f32); }
static const ag_typed_kernels state_f32 = {{state_forward_f32, state_vjp_f32}, NULL};

/* ---- recorded: the gates' activations as nodes --------------------------------------- */

/* columns of gate k of m [N, 4H] */
static ag_node *gate_of(ag_node *m, int k, int H) { return ag_slice(m, 1, k * H, (k + 1) * H, 1); }

/* sigmoid'(a) = s (1 - s) and tanh'(a) = 1 - t^2 from the activation */
static ag_node *sigmoid_slope(ag_node *s) { return ag_mul(s, ag_sub(ag_rec_scalar(s->graph, 1.0), s)); }
static ag_node *tanh_slope(ag_node *t) { return ag_sub(ag_rec_scalar(t->graph, 1.0), ag_mul(t, t)); }

/* the four gates' pieces [N,H] joined back into [N,4H] (NULL: zeros) */
static ag_node *join_gates(ag_node *out, ag_node *const pieces[4])
{
    ag_node *parts[4];
    for (int k = 0; k < 4; k++) parts[k] = pieces[k] ? pieces[k] : ag_rec_zeros(out->graph, &out->shape);
    return ag_concat(4, parts, 1);
}

typedef struct state_nodes {
    ag_node *i, *f, *g;
} state_nodes;

static state_nodes state_nodes_of(ag_node *out)
{
    ag_node *a = out->in[0];
    int H = out->shape.dims[1];
    return (state_nodes){ag_sigmoid(gate_of(a, GATE_I, H)), ag_sigmoid(gate_of(a, GATE_F, H)),
                         ag_tanh(gate_of(a, GATE_G, H))};
}

static bool state_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    state_nodes s = state_nodes_of(out);
    gy = ag_rec_expand_to(gy, &out->shape);
    if (ag_rec_takes_grad(out, 0)) {
        ag_node *pieces[4] = {ag_mul(ag_mul(gy, s.g), sigmoid_slope(s.i)),
                              ag_mul(ag_mul(gy, out->in[1]), sigmoid_slope(s.f)),
                              ag_mul(ag_mul(gy, s.i), tanh_slope(s.g)), NULL};
        gx[0] = join_gates(out, pieces);
    }
    if (ag_rec_takes_grad(out, 1)) gx[1] = ag_mul(gy, s.f);
    return !out->graph->failed;
}

static ag_node *state_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    state_nodes s = state_nodes_of(out);
    int H = out->shape.dims[1];
    ag_node *ty = ag_rec_mul(s.f, tx[1]);
    if (tx[0]) {
        ty = ag_rec_add(ty, ag_mul(ag_mul(out->in[1], sigmoid_slope(s.f)), gate_of(tx[0], GATE_F, H)));
        ty = ag_rec_add(ty, ag_mul(ag_mul(s.g, sigmoid_slope(s.i)), gate_of(tx[0], GATE_I, H)));
        ty = ag_rec_add(ty, ag_mul(ag_mul(s.i, tanh_slope(s.g)), gate_of(tx[0], GATE_G, H)));
    }
    return ty;
}

const ag_op ag_op_lstm_state = {.name = "lstm_state", .arity = 2, .shape = lstm_shape,
                                .kernels = {state_forward, state_vjp}, .jvp = state_jvp,
                                .vjp_nodes = state_vjp_nodes, .jvp_nodes = state_jvp_nodes,
                                .aux_size = state_aux_size, .f32 = &state_f32};

ag_node *ag_lstm_state(ag_node *gates, ag_node *c) { return ag_record2(&ag_op_lstm_state, gates, c, NULL); }

/* ---- lstm_output: h' = o tanh(c') ------------------------------------------------------ */

static size_t output_aux_size(const ag_node *out) { return 2 * out->shape.size; }

ROWS_FOR_EACH_ISA(output_rows)

static bool output_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    run_rows(out, 5, avx2_available() ? output_rows_avx2 : output_rows_generic);
    return true;
}

static void output_vjp(ag_node *out)
{
    run_rows(out, 5, output_grad_rows);
}

/* th' = t o (1 - o) ta_o + o (1 - t^2) tc' */
static void output_jvp(ag_node *out)
{
    lstm_view v = view_of(out);
    const double *ta = out->in[0]->tangent, *tc = out->in[1]->tangent;
    for (size_t n = 0; n < v.N; n++) {
        const double *o = out->aux + n * 2 * v.H, *t = o + v.H;
        double *ty = out->tangent + n * v.H;
        for (size_t j = 0; j < v.H; j++) {
            double s = ta ? t[j] * (o[j] * (1.0 - o[j])) * gate_at(ta, &v, n, GATE_O)[j] : 0.0;
            if (tc) s += o[j] * (1.0 - t[j] * t[j]) * tc[n * v.H + j];
            ty[j] = s;
        }
    }
}

static void output_rows_f32(void *ctx, size_t lo, size_t hi) { output_rows_body_f32(ctx, lo, hi); }
static bool output_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    run_rows(out, 5, output_rows_f32);
    return true;
}
static void output_vjp_f32(ag_node *out) { run_rows(out, 5, output_grad_rows_f32); }
static const ag_typed_kernels output_f32 = {{output_forward_f32, output_vjp_f32}, NULL};

typedef struct output_nodes {
    ag_node *o, *t;
} output_nodes;

static output_nodes output_nodes_of(ag_node *out)
{
    return (output_nodes){ag_sigmoid(gate_of(out->in[0], GATE_O, out->shape.dims[1])), ag_tanh(out->in[1])};
}

static bool output_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    output_nodes s = output_nodes_of(out);
    gy = ag_rec_expand_to(gy, &out->shape);
    if (ag_rec_takes_grad(out, 0)) {
        ag_node *pieces[4] = {NULL, NULL, NULL, ag_mul(ag_mul(gy, s.t), sigmoid_slope(s.o))};
        gx[0] = join_gates(out, pieces);
    }
    if (ag_rec_takes_grad(out, 1)) gx[1] = ag_mul(ag_mul(gy, s.o), tanh_slope(s.t));
    return !out->graph->failed;
}

static ag_node *output_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    output_nodes s = output_nodes_of(out);
    ag_node *ty = NULL;
    if (tx[0])
        ty = ag_mul(ag_mul(s.t, sigmoid_slope(s.o)), gate_of(tx[0], GATE_O, out->shape.dims[1]));
    if (tx[1]) ty = ag_rec_add(ty, ag_mul(ag_mul(s.o, tanh_slope(s.t)), tx[1]));
    return ty;
}

const ag_op ag_op_lstm_output = {.name = "lstm_output", .arity = 2, .shape = lstm_shape,
                                 .kernels = {output_forward, output_vjp}, .jvp = output_jvp,
                                 .vjp_nodes = output_vjp_nodes, .jvp_nodes = output_jvp_nodes,
                                 .aux_size = output_aux_size, .f32 = &output_f32};

ag_node *ag_lstm_output(ag_node *gates, ag_node *c) { return ag_record2(&ag_op_lstm_output, gates, c, NULL); }
