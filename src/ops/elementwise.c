/* elementwise.c -- add, sub, mul, div (broadcasting) and the unary maps.
 *
 * Each op is defined by its scalar function and partial derivatives; the
 * forward, vector-Jacobian product and Jacobian-vector product are derived
 * from them once, here:
 *   forward  y[k]   = f(a[ia], b[ib])
 *   vjp      ga[ia] += gy[k] * df/da,   gb[ib] += gy[k] * df/db
 *   jvp      ty[k]  = df/da * ta[ia] + df/db * tb[ib]
 *
 * The scalar rules are static inline functions. The *_LOOPS macros stamp each
 * rule into loops over a 2-d view of the broadcast (same shapes, a scalar, a
 * bias row [C] over [N,C], a column [R,1] over [R,C]; see broadcast.h), so
 * the common cases make no call per element; any other broadcast visits the
 * elements one by one through the rule's function pointers. Both ways apply
 * the same formula in the same order, so they give the same bits. */
#include "broadcast.h"
#include "params.h"

#include <math.h>
#include <stdio.h>

/* for (size_t k = lo; k < hi; k++) STMT; with a tiny tensor's whole range
 * (at most TINY_ELEMENTS, TestNet's sizes) as straight code, one statement
 * per element, k = hi-1 down to 0. Not the vectorised loop: that loop reads
 * pairs of doubles the previous op has just written one at a time, and the
 * processor cannot forward two pending 8-byte stores to one 16-byte load
 * (a stall of a dozen cycles or so); it also tests for aliasing and for a
 * remainder. Straight code made a TestNet replay step about 10% faster.
 * STMT is one expression statement (no break or continue), and lo and hi
 * are read more than once. */
#define TINY_ELEMENTS 8
#define FOR_ELEMENTS(lo, hi, k, STMT) FOR_ELEMENTS_AS(lo, hi, k, STMT, STMT)
/* the same with a statement of its own for the straight code */
#define FOR_ELEMENTS_AS(lo, hi, k, STRAIGHT, STMT)                                         \
    do {                                                                                   \
        if ((lo) == 0 && (hi) <= TINY_ELEMENTS) {                                          \
            switch (hi) {                                                                  \
            case 8: { const size_t k = 7; STRAIGHT; } /* fall through */                   \
            case 7: { const size_t k = 6; STRAIGHT; } /* fall through */                   \
            case 6: { const size_t k = 5; STRAIGHT; } /* fall through */                   \
            case 5: { const size_t k = 4; STRAIGHT; } /* fall through */                   \
            case 4: { const size_t k = 3; STRAIGHT; } /* fall through */                   \
            case 3: { const size_t k = 2; STRAIGHT; } /* fall through */                   \
            case 2: { const size_t k = 1; STRAIGHT; } /* fall through */                   \
            case 1: { const size_t k = 0; STRAIGHT; } /* fall through */                   \
            default: break;                                                                \
            }                                                                              \
        } else {                                                                           \
            for (size_t k = (lo); k < (hi); k++) STMT;                                     \
        }                                                                                  \
    } while (0)

/* ---- binary ---------------------------------------------------------------- */

/* loops of one rule over rows [r0, r1) of a 2-d view of a broadcast (see
 * BINARY_LOOPS); the same-shape loops are called directly by each op
 * (BINARY_OP). Row ranges let a large tensor's pass split over the threads. */
typedef void (*binary_forward_loop)(const bcast_view *v, const double *a, const double *b,
                                    double *y, size_t r0, size_t r1);
typedef void (*binary_vjp_loop)(const bcast_view *v, const double *a, const double *b,
                                const double *gy, double *ga, double *gb, size_t r0, size_t r1);

typedef struct binary_rule {
    double (*f)(double a, double b);
    double (*df_da)(double a, double b);
    double (*df_db)(double a, double b);
    binary_forward_loop forward_2d;
    binary_vjp_loop vjp_2d;
} binary_rule;

static inline double add_f(double a, double b) { return a + b; }
static inline double sub_f(double a, double b) { return a - b; }
static inline double mul_f(double a, double b) { return a * b; }
static inline double div_f(double a, double b) { return a / b; }
static inline double add_da(double a, double b) { (void)a, (void)b; return 1.0; }
static inline double add_db(double a, double b) { (void)a, (void)b; return 1.0; }
static inline double sub_da(double a, double b) { (void)a, (void)b; return 1.0; }
static inline double sub_db(double a, double b) { (void)a, (void)b; return -1.0; }
static inline double mul_da(double a, double b) { (void)a; return b; }
static inline double mul_db(double a, double b) { (void)b; return a; }
static inline double div_da(double a, double b) { (void)a; return 1.0 / b; }
static inline double div_db(double a, double b) { return -a / (b * b); }

/* y[r,c] = f(a[r*a_rs + c*a_cs], b[...]) with the operand that does not move
 * along a row read once per row. */
#define BINARY_FORWARD_2D(F)                                                               \
    static void F##_forward_2d(const bcast_view *v, const double *a, const double *b,      \
                               double *restrict y, size_t r0, size_t r1)                   \
    {                                                                                      \
        size_t n = v->cols;                                                                \
        y += r0 * n;                                                                       \
        for (size_t r = r0; r < r1; r++, y += n) {                                         \
            const double *ar = a + r * v->a_rs, *br = b + r * v->b_rs;                     \
            if (v->a_cs && v->b_cs)                                                        \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[c], br[c]);                     \
            else if (v->a_cs)                                                              \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[c], br[0]);                     \
            else if (v->b_cs)                                                              \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[0], br[c]);                     \
            else                                                                           \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[0], br[0]);                     \
        }                                                                                  \
    }

/* g[r*rs + c*cs] += gy[r,c] * D(a, b) for one operand's gradient g; a moving
 * operand (cs 1) is a plain loop, a broadcast one (cs 0) sums along the row
 * into one element, in the same order as the element-by-element visit. */
#define BINARY_GRAD_2D(D)                                                                  \
    static void D##_grad_2d(const bcast_view *v, const double *a, const double *b,         \
                            const double *gy, double *restrict g, size_t rs, size_t cs,    \
                            size_t r0, size_t r1)                                          \
    {                                                                                      \
        size_t n = v->cols;                                                                \
        gy += r0 * n;                                                                      \
        for (size_t r = r0; r < r1; r++, gy += n) {                                        \
            const double *ar = a + r * v->a_rs, *br = b + r * v->b_rs;                     \
            size_t ac = v->a_cs, bc = v->b_cs;                                             \
            double *gr = g + r * rs;                                                       \
            if (cs) {                                                                      \
                for (size_t c = 0; c < n; c++) gr[c] += gy[c] * D(ar[c * ac], br[c * bc]); \
            } else {                                                                       \
                double s = gr[0];                                                          \
                for (size_t c = 0; c < n; c++) s += gy[c] * D(ar[c * ac], br[c * bc]);     \
                gr[0] = s;                                                                 \
            }                                                                              \
        }                                                                                  \
    }

/* same shapes: g[k] += gy[k] * D(a[k], b[k]) for k in [lo, hi) */
#define BINARY_GRAD_FLAT(D)                                                                \
    static ALWAYS_INLINE void D##_flat(const double *a, const double *b, const double *gy, \
                                       double *restrict g, size_t lo, size_t hi)           \
    {                                                                                      \
        FOR_ELEMENTS(lo, hi, k, g[k] += gy[k] * D(a[k], b[k]));                            \
    }

/* same shapes, elements [lo, hi) of the node ctx: y[k] = F(a[k], b[k]), and
 * g[k] += gy[k] * D(a[k], b[k]) for each operand's gradient in turn (a and b
 * may be one node, so the two gradients are not updated in one loop) */
#define BINARY_FLAT(F, D_A, D_B)                                                           \
    static ALWAYS_INLINE void F##_flat(void *ctx, size_t lo, size_t hi)                    \
    {                                                                                      \
        const ag_node *out = ctx;                                                          \
        const double *a = out->in[0]->value, *b = out->in[1]->value;                       \
        double *restrict y = out->value;                                                   \
        FOR_ELEMENTS(lo, hi, k, y[k] = F(a[k], b[k]));                                     \
    }                                                                                      \
    BINARY_GRAD_FLAT(D_A)                                                                  \
    BINARY_GRAD_FLAT(D_B)                                                                  \
    static ALWAYS_INLINE void F##_flat_vjp(void *ctx, size_t lo, size_t hi)                \
    {                                                                                      \
        const ag_node *out = ctx, *a = out->in[0], *b = out->in[1];                        \
        if (a->grad) D_A##_flat(a->value, b->value, out->grad, a->grad, lo, hi);           \
        if (b->grad) D_B##_flat(a->value, b->value, out->grad, b->grad, lo, hi);           \
    }

#define BINARY_LOOPS(name)                                                                 \
    BINARY_FLAT(name##_f, name##_da, name##_db)                                            \
    BINARY_FORWARD_2D(name##_f)                                                            \
    BINARY_GRAD_2D(name##_da)                                                              \
    BINARY_GRAD_2D(name##_db)                                                              \
    static void name##_vjp_2d(const bcast_view *v, const double *a, const double *b,       \
                              const double *gy, double *ga, double *gb, size_t r0,         \
                              size_t r1)                                                   \
    {                                                                                      \
        if (ga) name##_da_grad_2d(v, a, b, gy, ga, v->a_rs, v->a_cs, r0, r1);              \
        if (gb) name##_db_grad_2d(v, a, b, gy, gb, v->b_rs, v->b_cs, r0, r1);              \
    }                                                                                      \
    static const binary_rule name##_rule = {name##_f, name##_da, name##_db,                \
                                            name##_f_forward_2d, name##_vjp_2d};

BINARY_LOOPS(add)
BINARY_LOOPS(sub)
BINARY_LOOPS(mul)
BINARY_LOOPS(div)

static bool binary_shape(ag_node *out, char *why, size_t len)
{
    return bcast_shape(&out->in[0]->shape, &out->in[1]->shape, &out->shape, why, len);
}

/* Both operands as large as the (broadcast) result: then they have its
 * shape up to leading 1s, and element k of each goes with element k of y. */
static bool same_shape(const ag_node *out)
{
    size_t n = out->shape.size;
    return out->in[0]->shape.size == n && out->in[1]->shape.size == n;
}

/* a broadcast seen as a 2-d view, for the row-range loops */
typedef struct view_job {
    const binary_rule *rule;
    bcast_view view;
    const ag_node *out;
} view_job;

static void view_forward_rows(void *ctx, size_t r0, size_t r1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out;
    job->rule->forward_2d(&job->view, out->in[0]->value, out->in[1]->value, out->value, r0, r1);
}

static void view_vjp_rows(void *ctx, size_t r0, size_t r1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out, *a = out->in[0], *b = out->in[1];
    job->rule->vjp_2d(&job->view, a->value, b->value, out->grad, a->grad, b->grad, r0, r1);
}

/* A view of one row (a scalar with a tensor) splits by columns: columns
 * [c0, c1) are the same loops on a shorter row starting at c0. */
static bcast_view view_columns(const bcast_view *v, size_t c0, size_t c1)
{
    bcast_view sub = *v;
    sub.cols = c1 - c0;
    return sub;
}

static void view_forward_columns(void *ctx, size_t c0, size_t c1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out;
    const bcast_view *v = &job->view, sub = view_columns(v, c0, c1);
    job->rule->forward_2d(&sub, out->in[0]->value + c0 * v->a_cs, out->in[1]->value + c0 * v->b_cs,
                          out->value + c0, 0, 1);
}

/* only when no gradient sums along the row (each operand with one has cs 1) */
static void view_vjp_columns(void *ctx, size_t c0, size_t c1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out, *a = out->in[0], *b = out->in[1];
    const bcast_view *v = &job->view, sub = view_columns(v, c0, c1);
    job->rule->vjp_2d(&sub, a->value + c0 * v->a_cs, b->value + c0 * v->b_cs, out->grad + c0,
                      a->grad ? a->grad + c0 : NULL, b->grad ? b->grad + c0 : NULL, 0, 1);
}

/* the broadcast cases (each op handles same shapes itself, BINARY_OP) */
static bool binary_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const binary_rule *r = out->op->rule;
    const double *a = out->in[0]->value, *b = out->in[1]->value;
    double *y = out->value;
    bcast_plan plan;
    view_job job = {.rule = r, .out = out};
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    if (bcast_view_make(&plan, &job.view)) {
        if (job.view.rows == 1)
            AG_PARALLEL_RANGE(job.view.cols, 1, view_forward_columns, &job);
        else
            AG_PARALLEL_RANGE(job.view.rows, job.view.cols, view_forward_rows, &job);
        return true;
    }
    BCAST_FOR_EACH(&plan, k, ia, ib, { y[k] = r->f(a[ia], b[ib]); });
    return true;
}

static void binary_vjp(ag_node *out)
{
    const binary_rule *r = out->op->rule;
    const double *a = out->in[0]->value, *b = out->in[1]->value, *gy = out->grad;
    double *ga = out->in[0]->grad, *gb = out->in[1]->grad;
    bcast_plan plan;
    view_job job = {.rule = r, .out = out};
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    if (bcast_view_make(&plan, &job.view)) {
        const bcast_view *v = &job.view;
        /* rows (columns of a one-row view) may go to different threads only
         * if no gradient sums over them: an operand repeated down the rows
         * (rs 0) sums its column, one repeated along a row (cs 0) its row */
        if (v->rows == 1 && (!ga || v->a_cs) && (!gb || v->b_cs))
            AG_PARALLEL_RANGE(v->cols, 1, view_vjp_columns, &job);
        else if (v->rows > 1 && (!ga || v->a_rs) && (!gb || v->b_rs))
            AG_PARALLEL_RANGE(v->rows, v->cols, view_vjp_rows, &job);
        else
            view_vjp_rows(&job, 0, v->rows);
        return;
    }
    BCAST_FOR_EACH(&plan, k, ia, ib, {
        if (ga) ga[ia] += gy[k] * r->df_da(a[ia], b[ib]);
        if (gb) gb[ib] += gy[k] * r->df_db(a[ia], b[ib]);
    });
}

static void binary_jvp(ag_node *out)
{
    const binary_rule *r = out->op->rule;
    const double *a = out->in[0]->value, *b = out->in[1]->value;
    const double *ta = out->in[0]->tangent, *tb = out->in[1]->tangent;
    double *ty = out->tangent;
    bcast_plan plan;
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    BCAST_FOR_EACH(&plan, k, ia, ib, {
        double t = 0.0;
        if (ta) t += r->df_da(a[ia], b[ib]) * ta[ia];
        if (tb) t += r->df_db(a[ia], b[ib]) * tb[ib];
        ty[k] = t;
    });
}

/* Each op's own forward and vjp take same-shape operands straight to its
 * loops (no call through the rule: on tiny tensors the call costs more than
 * the loop); broadcasts go through the shared code above. */
#define BINARY_OP(opname, sym)                                                         \
    static bool opname##_forward(ag_node *out, char *why, size_t len)                  \
    {                                                                                  \
        if (!same_shape(out)) return binary_forward(out, why, len);                    \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_f_flat, out);                   \
        return true;                                                                   \
    }                                                                                  \
    static void opname##_vjp(ag_node *out)                                             \
    {                                                                                  \
        if (same_shape(out))                                                           \
            AG_PARALLEL_RANGE(out->shape.size, 1, opname##_f_flat_vjp, out);           \
        else                                                                           \
            binary_vjp(out);                                                           \
    }                                                                                  \
    const ag_op ag_op_##opname = {.name = #opname, .arity = 2, .symbol = sym,          \
                                  .shape = binary_shape, .forward = opname##_forward,  \
                                  .vjp = opname##_vjp, .jvp = binary_jvp,              \
                                  .rule = &opname##_rule};                             \
    ag_node *ag_##opname(ag_node *a, ag_node *b) { return ag_record2(&ag_op_##opname, a, b, NULL); }

BINARY_OP(add, "+")
BINARY_OP(sub, "-")
BINARY_OP(mul, "*")
BINARY_OP(div, "/")

/* ---- unary ------------------------------------------------------------------ */

/* y = f(x; p) and dy/dx given x, y and the op constant p (the forward and
 * vjp loops are stamped from the same inline functions by UNARY_OP) */
typedef struct unary_rule {
    double (*f)(double x, double p);
    double (*df)(double x, double y, double p);
} unary_rule;

static inline double neg_f(double x, double p) { (void)p; return -x; }
static inline double neg_df(double x, double y, double p) { (void)x, (void)y, (void)p; return -1.0; }
static inline double exp_f(double x, double p) { (void)p; return exp(x); }
static inline double exp_df(double x, double y, double p) { (void)x, (void)p; return y; }
static inline double log_f(double x, double p) { (void)p; return log(x); }
static inline double log_df(double x, double y, double p) { (void)y, (void)p; return 1.0 / x; }
static inline double tanh_f(double x, double p) { (void)p; return tanh(x); }
static inline double tanh_df(double x, double y, double p) { (void)x, (void)p; return 1.0 - y * y; }
/* relu keeps x unless x <= 0, so a NaN goes through as NaN, and its
 * derivative passes the gradient there too (PyTorch: relu(NaN) = NaN, and
 * its backward, threshold_backward(grad, y, 0) = (y <= 0 ? 0 : grad), gives
 * grad at y = NaN). !(x <= 0) is one compare, as x > 0 was. */
static inline bool relu_keeps(double x) { return !(x <= 0.0); }
static inline double relu_f(double x, double p) { (void)p; return relu_keeps(x) ? x : 0.0; }
/* relu'(0) = 0: the convention of PyTorch, JAX, ggml and micrograd */
static inline double relu_df(double x, double y, double p) { (void)y, (void)p; return relu_keeps(x) ? 1.0 : 0.0; }
/* v where keep, else +0.0, by masking v's bits */
static inline double keep_or_zero(bool keep, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= -(uint64_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}
/* relu for tiny tensors' straight code (FOR_ELEMENTS), the same values with
 * no branch: there GCC compiles relu_f and relu_df to a branch on the sign,
 * which fresh data mispredicts half the time (the vectorised loop compares
 * into a mask instead, but this form keeps the loop from vectorising). */
static inline double relu_masked_f(double x, double p) { (void)p; return keep_or_zero(relu_keeps(x), x); }
static inline double relu_masked_df(double x, double y, double p)
{
    (void)y, (void)p;
    return keep_or_zero(relu_keeps(x), 1.0);
}
static inline double pow_f(double x, double p) { return pow(x, p); }
static inline double pow_df(double x, double y, double p)
{
    (void)y;
    return p == 0.0 ? 0.0 : p * pow(x, p - 1.0);
}
static inline double sigmoid_f(double x, double p)
{
    (void)p;
    /* split by sign so exp never overflows */
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static inline double sigmoid_df(double x, double y, double p) { (void)x, (void)p; return y * (1.0 - y); }

/* the op constant p of a unary rule: pow's exponent (0 for the others) */
static inline double unary_param(const ag_node *out)
{
    return out->params ? AG_PARAMS(out, const ag_exponent_params)->exponent : 0.0;
}

static int pow_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "exponent=%.17g", unary_param(out));
}

static bool unary_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->shape = out->in[0]->shape;
    return true;
}

static void unary_jvp(ag_node *out)
{
    const unary_rule *r = out->op->rule;
    const double *x = out->in[0]->value, *y = out->value, *tx = out->in[0]->tangent;
    for (size_t k = 0; k < out->shape.size; k++)
        out->tangent[k] = tx ? r->df(x[k], y[k], unary_param(out)) * tx[k] : 0.0;
}

/* Each loop runs over a range of elements [lo, hi) of the node `ctx`, so a
 * large tensor's pass is split over the kernel threads (AG_PARALLEL_RANGE);
 * a tiny tensor's straight code applies straight##_f and straight##_df. */
#define UNARY_OP(opname, straight, psize, print)                                                   \
    static ALWAYS_INLINE void opname##_forward_range(void *ctx, size_t lo, size_t hi)  \
    {                                                                                  \
        const ag_node *out = ctx;                                                      \
        const double *x = out->in[0]->value, p = unary_param(out);                            \
        double *restrict y = out->value;                                               \
        FOR_ELEMENTS_AS(lo, hi, k, y[k] = straight##_f(x[k], p),                       \
                        y[k] = opname##_f(x[k], p));                                   \
    }                                                                                  \
    static ALWAYS_INLINE void opname##_vjp_range(void *ctx, size_t lo, size_t hi)      \
    {                                                                                  \
        const ag_node *out = ctx;                                                      \
        const double *x = out->in[0]->value, *y = out->value, *gy = out->grad;         \
        const double p = unary_param(out);                                                    \
        double *restrict gx = out->in[0]->grad;                                        \
        FOR_ELEMENTS_AS(lo, hi, k, gx[k] += gy[k] * straight##_df(x[k], y[k], p),      \
                        gx[k] += gy[k] * opname##_df(x[k], y[k], p));                  \
    }                                                                                  \
    static bool opname##_forward(ag_node *out, char *why, size_t len)                  \
    {                                                                                  \
        (void)why, (void)len;                                                          \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_forward_range, out);            \
        return true;                                                                   \
    }                                                                                  \
    static void opname##_vjp(ag_node *out)                                             \
    {                                                                                  \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_vjp_range, out);                \
    }                                                                                  \
    static const unary_rule opname##_rule = {opname##_f, opname##_df};                 \
    const ag_op ag_op_##opname = {.name = #opname, .arity = 1, .params_size = psize,   \
                                  .print_params = print,                             \
                                  .shape = unary_shape, .forward = opname##_forward, .vjp = opname##_vjp,    \
                                  .jvp = unary_jvp, .rule = &opname##_rule};

UNARY_OP(neg, neg, 0, NULL)
UNARY_OP(exp, exp, 0, NULL)
UNARY_OP(log, log, 0, NULL)
UNARY_OP(tanh, tanh, 0, NULL)
UNARY_OP(relu, relu_masked, 0, NULL)
UNARY_OP(pow, pow, sizeof(ag_exponent_params), pow_print_params)
UNARY_OP(sigmoid, sigmoid, 0, NULL)

ag_node *ag_neg(ag_node *a) { return ag_record1(&ag_op_neg, a, NULL); }
ag_node *ag_exp(ag_node *a) { return ag_record1(&ag_op_exp, a, NULL); }
ag_node *ag_log(ag_node *a) { return ag_record1(&ag_op_log, a, NULL); }
ag_node *ag_tanh(ag_node *a) { return ag_record1(&ag_op_tanh, a, NULL); }
ag_node *ag_relu(ag_node *a) { return ag_record1(&ag_op_relu, a, NULL); }
ag_node *ag_sigmoid(ag_node *a) { return ag_record1(&ag_op_sigmoid, a, NULL); }
ag_node *ag_pow(ag_node *a, double p) { return ag_record1(&ag_op_pow, a, &(ag_exponent_params){p}); }
