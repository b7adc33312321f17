/* elementwise_rules.h -- every elementwise op of agrad, one line each: its
 * scalar function and its derivatives, as micrograd or tinygrad state them.
 * Read this first to add an op (docs/adding-an-op.md walks through it).
 *
 *   UNARY(name, y = f(x), dy/dx, dy/dx as nodes)
 *   UNARY_P(name, params struct, y = f(x; P), dy/dx, dy/dx as nodes)
 *   UNARY_TINY(name, f, dy/dx, dy/dx as nodes, f for tiny tensors, dy/dx for tiny tensors)
 *   BINARY(name, symbol, f(a, b), df/da, df/db, df/da as nodes, df/db as nodes)
 *   COMPARE(name, symbol, f(a, b))      1.0 or 0.0: no derivative, no gradient
 *
 * A unary rule is an expression in x (the input element) and, for the
 * derivative, y (the output element, f(x) already computed: exp's derivative
 * is y). UNARY_P's rules also read P, a pointer to the op's typed parameters
 * (a struct of params.h: P->exponent), and the op has two helpers above the
 * table, <name>_print_params ("key=value" text) and <name>_check_params
 * (false with a reason on bad parameters, reported when recording);
 * its public function is written in elementwise.c (it takes the parameters
 * as arguments), the others' are stamped from their rows. UNARY_TINY gives
 * the same values in a second form for tiny tensors' straight code (relu's,
 * without a branch). A binary rule is an expression in a and b; symbol is
 * printed between the operand shapes in error messages (NULL: "and").
 *
 * The "as nodes" column is the same derivative recorded with ops, for the
 * gradients ag_grad records (so they can be differentiated again): an
 * expression in the nodes X and Y (a unary op's input and output) or A and
 * B (a binary op's operands), K(c) a constant, and the public ops; PASS
 * for a derivative of 1 (the gradient passes unchanged). It computes the
 * numeric column's operations in the same order, so it gives the same
 * numbers. A mask is a comparison (relu's 1 - le(x, 0)), so a replay
 * recomputes it.
 *
 * elementwise.c includes this file once and stamps each row into the op:
 *   forward  y[k]   = f(x[k])                 y[k] = f(a[ia], b[ib])
 *   vjp      gx[k] += gy[k] * dy/dx           ga[ia] += gy[k] * df/da, gb[ib] += gy[k] * df/db
 *   jvp      ty[k]  = dy/dx * tx[k]           ty[k]  = df/da * ta[ia] + df/db * tb[ib]
 * over same-shape operands, the 2-d broadcast views and any other broadcast,
 * split over the kernel threads on large tensors. The rules are written in
 * `real`, the element type: elementwise.c stamps them with double,
 * elementwise_f32.c with float (the math functions then resolve to their
 * float forms through <tgmath.h>; a double literal in a row makes that one
 * operation double, rounded back to float when stored).
 *
 * The rules follow IEEE arithmetic on NaN and +-Inf as their definitions do,
 * and PyTorch's float64 semantics where it differs from the naive formula
 * (noted on the row or on its helper). Helpers for the rules that are not
 * one expression come first. */

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

/* sigmoid(x) = 1 / (1 + e^-x), split by sign so exp never overflows */
static inline real sigmoid_of(real x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    real e = exp(x);
    return e / (1.0 + e);
}

/* relu keeps x unless x <= 0, so a NaN goes through as NaN, and its
 * derivative passes the gradient there too (PyTorch: relu(NaN) = NaN, and
 * its backward, threshold_backward(grad, y, 0) = (y <= 0 ? 0 : grad), gives
 * grad at y = NaN). !(x <= 0) is one compare, as x > 0 was.
 * relu'(0) = 0: the convention of PyTorch, JAX, ggml and micrograd. */
static inline bool relu_keeps(real x) { return !(x <= 0.0); }

/* v where keep, else +0.0, by masking v's bits. relu for tiny tensors'
 * straight code (FOR_ELEMENTS) uses it, the same values with no branch:
 * there GCC compiles the conditional to a branch on the sign, which fresh
 * data mispredicts half the time (the vectorised loop compares into a mask
 * instead, but this form keeps the loop from vectorising). */
static inline real keep_or_zero(bool keep, real v)
{
    if (sizeof v == sizeof(uint32_t)) { /* float */
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        bits &= -(uint32_t)keep;
        memcpy(&v, &bits, sizeof bits);
        return v;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof v);
    bits &= -(uint64_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* d/dx x^p = p x^(p-1), and 0 for p = 0 even where x^(p-1) is NaN or Inf
 * (PyTorch's pow backward masks the exponent 0: pow(x, 0) = 1 everywhere) */
static inline real pow_slope(real x, real p) { return p == 0.0 ? 0.0 : p * pow(x, p - 1.0); }

/* sign(x): 1, -1, or 0 at +-0 and at NaN (PyTorch's sgn, abs's derivative:
 * (0 < x) - (x < 0)) */
static inline real sign_of(real x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : 0.0; }

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never
 * overflows, and from x = 34 or so on the log1p term is below half an ulp of x.
 * NaN stays NaN (through fabs and exp); softplus(+-Inf) = Inf, 0. */
static inline real softplus_of(real x) { return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* clamp: lo below, hi above, x between (bounds checked lo <= hi, no NaN);
 * a NaN x stays NaN, as PyTorch's min(max(x, lo), hi) */
static inline real clamp_of(real x, real lo, real hi) { return x < lo ? lo : x > hi ? hi : x; }

/* PyTorch's clamp backward: where(lo <= x && x <= hi, grad, 0), so the
 * bounds pass the gradient and a NaN x gets none */
static inline real clamp_passes(real x, real lo, real hi) { return lo <= x && x <= hi ? 1.0 : 0.0; }

/* the standard normal distribution, for gelu: Phi(x) = P(Z <= x) =
 * erfc(-x / sqrt 2) / 2 (erfc keeps the left tail's digits, where
 * 1 + erf(x / sqrt 2) cancels to 0), and its density
 * phi(x) = e^(-x^2 / 2) / sqrt(2 pi) */
static inline real normal_cdf(real x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
static inline real normal_pdf(real x) { return 0.39894228040143267794 * exp(-0.5 * x * x); }

/* maximum / minimum: NaN if a or b is (PyTorch's maximum propagates NaN);
 * on a tie b, as PyTorch's vectorised kernel (only +-0 tell them apart) */
static inline real larger_of(real a, real b) { return a > b || isnan(a) ? a : b; }
static inline real smaller_of(real a, real b) { return a < b || isnan(a) ? a : b; }

/* The share of the gradient of maximum(mine, other) that goes to `mine`:
 * 1 where it is the larger, 0 where the smaller, half each on a tie, and 1
 * to both when one is NaN (PyTorch: where(a == b, grad / 2, grad) with
 * masked_fill(a < b, 0); no comparison with NaN holds). */
static inline real max_share(real mine, real other)
{
    return mine == other ? 0.5 : mine < other ? 0.0 : 1.0;
}
static inline real min_share(real mine, real other)
{
    return mine == other ? 0.5 : mine > other ? 0.0 : 1.0;
}

/* ---- helpers of the "as nodes" column ------------------------------------------ */

/* sign(x) = (x > 0) - (x < 0): 1, -1, 0 at +-0 and NaN, as sign_of */
static ag_node *sign_nodes(ag_node *x)
{
    ag_node *zero = ag_rec_scalar(x->graph, 0.0);
    return ag_sub(ag_gt(x, zero), ag_lt(x, zero));
}

/* phi(x) = 0.3989.. e^((-0.5 x) x), normal_pdf's operations in its order */
static ag_node *normal_pdf_nodes(ag_node *x)
{
    ag_graph *g = x->graph;
    return ag_mul(ag_rec_scalar(g, 0.39894228040143267794), ag_exp(ag_mul(ag_mul(ag_rec_scalar(g, -0.5), x), x)));
}

/* p x^(p-1), and zeros for p = 0, as pow_slope */
static ag_node *pow_slope_nodes(ag_node *x, double p)
{
    if (p == 0.0) return ag_rec_zeros(x->graph, &x->shape);
    return ag_mul(ag_rec_scalar(x->graph, p), ag_pow(x, p - 1.0));
}

/* max_share(mine, other) = 1 - (mine < other) - 0.5 (mine == other): 1, 0,
 * one half on a tie, 1 with a NaN (no comparison holds); min_share(a, b) is
 * max_share(b, a) with the tie alike */
static ag_node *max_share_nodes(ag_node *mine, ag_node *other)
{
    ag_graph *g = mine->graph;
    return ag_sub(ag_sub(ag_rec_scalar(g, 1.0), ag_lt(mine, other)), ag_mul(ag_rec_scalar(g, 0.5), ag_eq(mine, other)));
}

/* ---- the parameters of the UNARY_P ops ---------------------------------------- */

static int pow_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "exponent=%.17g", AG_PARAMS(out, const ag_exponent_params)->exponent);
}
/* any exponent (NaN too: pow(x, NaN) is NaN, pow(1, NaN) = 1) */
static bool pow_check_params(const ag_exponent_params *P, char *why, size_t len)
{
    (void)P, (void)why, (void)len;
    return true;
}

static int leaky_relu_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "slope=%.17g", AG_PARAMS(out, const ag_slope_params)->slope);
}
/* any slope, as PyTorch's negative_slope (above 1 or negative too) */
static bool leaky_relu_check_params(const ag_slope_params *P, char *why, size_t len)
{
    (void)P, (void)why, (void)len;
    return true;
}

static int clamp_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_bounds_params *P = AG_PARAMS(out, const ag_bounds_params);
    return snprintf(buf, len, "lo=%.17g, hi=%.17g", P->lo, P->hi);
}
/* lo <= hi, neither NaN (infinite bounds are fine: clamp(x, 0, Inf)) */
static bool clamp_check_params(const ag_bounds_params *P, char *why, size_t len)
{
    if (isnan(P->lo) || isnan(P->hi)) {
        snprintf(why, len, "a bound is NaN (lo = %.17g, hi = %.17g)", P->lo, P->hi);
        return false;
    }
    if (P->lo > P->hi) {
        snprintf(why, len, "lo = %.17g is greater than hi = %.17g", P->lo, P->hi);
        return false;
    }
    return true;
}

/* ---- the table ----------------------------------------------------------------- */

/*    name        y = f(x)                    dy/dx, given x and y      dy/dx as nodes of X and Y */
UNARY(neg,        -x,                         -1.0,                     K(-1.0))
UNARY(exp,        exp(x),                     y,                        Y)
UNARY(log,        log(x),                     1.0 / x,                  ag_div(K(1.0), X))
UNARY(tanh,       tanh(x),                    1.0 - y * y,              ag_sub(K(1.0), ag_mul(Y, Y)))
UNARY(sigmoid,    sigmoid_of(x),              y * (1.0 - y),            ag_mul(Y, ag_sub(K(1.0), Y)))
UNARY(sqrt,       sqrt(x),                    0.5 / y,                  ag_div(K(0.5), Y))
UNARY(abs,        fabs(x),                    sign_of(x),               sign_nodes(X))
UNARY(sin,        sin(x),                     cos(x),                   ag_cos(X))
UNARY(cos,        cos(x),                     -sin(x),                  ag_neg(ag_sin(X)))
UNARY(log1p,      log1p(x),                   1.0 / (1.0 + x),          ag_div(K(1.0), ag_add(K(1.0), X)))
UNARY(expm1,      expm1(x),                   exp(x),                   ag_exp(X))
UNARY(softplus,   softplus_of(x),             sigmoid_of(x),            ag_sigmoid(X))
UNARY(normal_cdf, normal_cdf(x),              normal_pdf(x),            normal_pdf_nodes(X))
/* gelu (exact, PyTorch's default): NaN at -Inf (-Inf * 0), derivative NaN at +-Inf (Inf * 0) */
UNARY(gelu,       x * normal_cdf(x),          normal_cdf(x) + x * normal_pdf(x),
                  ag_add(ag_normal_cdf(X), ag_mul(X, normal_pdf_nodes(X))))

/*         name  y = f(x)                  dy/dx                      dy/dx as nodes */
UNARY_TINY(relu, relu_keeps(x) ? x : 0.0,  relu_keeps(x) ? 1.0 : 0.0, ag_sub(K(1.0), ag_le(X, K(0.0))),
           /* tiny: */ keep_or_zero(relu_keeps(x), x), keep_or_zero(relu_keeps(x), 1.0))

/*      name        params              y = f(x; P)                    dy/dx             */
UNARY_P(pow,        ag_exponent_params, pow(x, P->exponent),           pow_slope(x, P->exponent),
                    pow_slope_nodes(X, P->exponent))
/* PyTorch: x > 0 ? x : x * slope, and its backward x > 0 ? g : g * slope (slope at 0 and NaN) */
UNARY_P(leaky_relu, ag_slope_params,    x > 0.0 ? x : x * P->slope,    x > 0.0 ? 1.0 : P->slope,
                    ag_where(ag_gt(X, K(0.0)), K(1.0), K(P->slope)))
UNARY_P(clamp,      ag_bounds_params,   clamp_of(x, P->lo, P->hi),     clamp_passes(x, P->lo, P->hi),
                    ag_mul(ag_ge(X, K(P->lo)), ag_le(X, K(P->hi))))

/*     name     symbol  f(a, b)           df/da            df/db           as nodes of A and B */
BINARY(add,     "+",    a + b,            1.0,             1.0,            PASS, PASS)
BINARY(sub,     "-",    a - b,            1.0,             -1.0,           PASS, K(-1.0))
BINARY(mul,     "*",    a * b,            b,               a,              B, A)
BINARY(div,     "/",    a / b,            1.0 / b,         -a / (b * b),
       ag_div(K(1.0), B), ag_div(ag_neg(A), ag_mul(B, B)))
BINARY(maximum, NULL,   larger_of(a, b),  max_share(a, b), max_share(b, a),
       max_share_nodes(A, B), max_share_nodes(B, A))
BINARY(minimum, NULL,   smaller_of(a, b), min_share(a, b), min_share(b, a),
       max_share_nodes(B, A), max_share_nodes(A, B))

/*      name  symbol  f(a, b): 1.0 where it holds (never with a NaN), else 0.0 */
COMPARE(eq,   "==",   a == b ? 1.0 : 0.0)
COMPARE(gt,   ">",    a > b ? 1.0 : 0.0)
COMPARE(ge,   ">=",   a >= b ? 1.0 : 0.0)
COMPARE(lt,   "<",    a < b ? 1.0 : 0.0)
COMPARE(le,   "<=",   a <= b ? 1.0 : 0.0)
