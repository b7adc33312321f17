/* elementwise.c -- add, sub, mul, div (broadcasting) and the unary maps.
 *
 * Each op is defined by its scalar function and partial derivatives; the
 * forward, vector-Jacobian product and Jacobian-vector product are derived
 * from them once, here:
 *   forward  y[k]   = f(a[ia], b[ib])
 *   vjp      ga[ia] += gy[k] * df/da,   gb[ib] += gy[k] * df/db
 *   jvp      ty[k]  = df/da * ta[ia] + df/db * tb[ib]                     */
#include "broadcast.h"

#include <math.h>

/* ---- binary ---------------------------------------------------------------- */

typedef struct binary_rule {
    double (*f)(double a, double b);
    double (*df_da)(double a, double b);
    double (*df_db)(double a, double b);
} binary_rule;

static double add_f(double a, double b) { return a + b; }
static double sub_f(double a, double b) { return a - b; }
static double mul_f(double a, double b) { return a * b; }
static double div_f(double a, double b) { return a / b; }
static double one(double a, double b) { (void)a, (void)b; return 1.0; }
static double minus_one(double a, double b) { (void)a, (void)b; return -1.0; }
static double mul_da(double a, double b) { (void)a; return b; }
static double mul_db(double a, double b) { (void)b; return a; }
static double div_da(double a, double b) { (void)a; return 1.0 / b; }
static double div_db(double a, double b) { return -a / (b * b); }

static const binary_rule add_rule = {add_f, one, one};
static const binary_rule sub_rule = {sub_f, one, minus_one};
static const binary_rule mul_rule = {mul_f, mul_da, mul_db};
static const binary_rule div_rule = {div_f, div_da, div_db};

static bool binary_shape(ag_node *out, char *why, size_t len)
{
    return bcast_shape(&out->in[0]->shape, &out->in[1]->shape, &out->shape, why, len);
}

static bool binary_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const binary_rule *r = out->op->rule;
    const double *a = out->in[0]->value, *b = out->in[1]->value;
    double *y = out->value;
    if (ag_shape_equal(&out->in[0]->shape, &out->in[1]->shape)) {
        for (size_t k = 0; k < out->shape.size; k++) y[k] = r->f(a[k], b[k]);
        return true;
    }
    bcast_plan plan;
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    BCAST_FOR_EACH(&plan, k, ia, ib, { y[k] = r->f(a[ia], b[ib]); });
    return true;
}

static void binary_vjp(ag_node *out)
{
    const binary_rule *r = out->op->rule;
    const double *a = out->in[0]->value, *b = out->in[1]->value, *gy = out->grad;
    double *ga = out->in[0]->grad, *gb = out->in[1]->grad;
    bcast_plan plan;
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
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

#define BINARY_OP(opname, sym)                                                         \
    const ag_op ag_op_##opname = {.name = #opname, .arity = 2, .symbol = sym,          \
                                  .shape = binary_shape, .forward = binary_forward,    \
                                  .vjp = binary_vjp, .jvp = binary_jvp,                \
                                  .rule = &opname##_rule};                             \
    ag_node *ag_##opname(ag_node *a, ag_node *b) { return ag_record(&ag_op_##opname, a, b, 0); }

BINARY_OP(add, "+")
BINARY_OP(sub, "-")
BINARY_OP(mul, "*")
BINARY_OP(div, "/")

/* ---- unary ------------------------------------------------------------------ */

/* y = f(x; p) and dy/dx given x, y and the op constant p */
typedef struct unary_rule {
    double (*f)(double x, double p);
    double (*df)(double x, double y, double p);
} unary_rule;

static double neg_f(double x, double p) { (void)p; return -x; }
static double neg_df(double x, double y, double p) { (void)x, (void)y, (void)p; return -1.0; }
static double exp_f(double x, double p) { (void)p; return exp(x); }
static double exp_df(double x, double y, double p) { (void)x, (void)p; return y; }
static double log_f(double x, double p) { (void)p; return log(x); }
static double log_df(double x, double y, double p) { (void)y, (void)p; return 1.0 / x; }
static double tanh_f(double x, double p) { (void)p; return tanh(x); }
static double tanh_df(double x, double y, double p) { (void)x, (void)p; return 1.0 - y * y; }
static double relu_f(double x, double p) { (void)p; return x > 0.0 ? x : 0.0; }
/* relu'(0) = 0: the convention of PyTorch, JAX, ggml and micrograd */
static double relu_df(double x, double y, double p) { (void)y, (void)p; return x > 0.0 ? 1.0 : 0.0; }
static double pow_f(double x, double p) { return pow(x, p); }
static double pow_df(double x, double y, double p)
{
    (void)y;
    return p == 0.0 ? 0.0 : p * pow(x, p - 1.0);
}
static double sigmoid_f(double x, double p)
{
    (void)p;
    /* split by sign so exp never overflows */
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static double sigmoid_df(double x, double y, double p) { (void)x, (void)p; return y * (1.0 - y); }

static bool unary_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->shape = out->in[0]->shape;
    return true;
}

static bool unary_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const unary_rule *r = out->op->rule;
    const double *x = out->in[0]->value;
    for (size_t k = 0; k < out->shape.size; k++) out->value[k] = r->f(x[k], out->attr);
    return true;
}

static void unary_vjp(ag_node *out)
{
    const unary_rule *r = out->op->rule;
    const double *x = out->in[0]->value, *y = out->value, *gy = out->grad;
    double *gx = out->in[0]->grad;
    for (size_t k = 0; k < out->shape.size; k++) gx[k] += gy[k] * r->df(x[k], y[k], out->attr);
}

static void unary_jvp(ag_node *out)
{
    const unary_rule *r = out->op->rule;
    const double *x = out->in[0]->value, *y = out->value, *tx = out->in[0]->tangent;
    for (size_t k = 0; k < out->shape.size; k++)
        out->tangent[k] = tx ? r->df(x[k], y[k], out->attr) * tx[k] : 0.0;
}

#define UNARY_OP(opname)                                                               \
    static const unary_rule opname##_rule = {opname##_f, opname##_df};                 \
    const ag_op ag_op_##opname = {.name = #opname, .arity = 1, .shape = unary_shape,   \
                                  .forward = unary_forward, .vjp = unary_vjp,          \
                                  .jvp = unary_jvp, .rule = &opname##_rule};

UNARY_OP(neg)
UNARY_OP(exp)
UNARY_OP(log)
UNARY_OP(tanh)
UNARY_OP(relu)
UNARY_OP(pow)
UNARY_OP(sigmoid)

ag_node *ag_neg(ag_node *a) { return ag_record(&ag_op_neg, a, NULL, 0); }
ag_node *ag_exp(ag_node *a) { return ag_record(&ag_op_exp, a, NULL, 0); }
ag_node *ag_log(ag_node *a) { return ag_record(&ag_op_log, a, NULL, 0); }
ag_node *ag_tanh(ag_node *a) { return ag_record(&ag_op_tanh, a, NULL, 0); }
ag_node *ag_relu(ag_node *a) { return ag_record(&ag_op_relu, a, NULL, 0); }
ag_node *ag_sigmoid(ag_node *a) { return ag_record(&ag_op_sigmoid, a, NULL, 0); }
ag_node *ag_pow(ag_node *a, double p) { return ag_record(&ag_op_pow, a, NULL, p); }
