/* test_gradients.c -- every op in the registry: vjp against central finite
 * differences, per element and signed, on random seeded shapes and values;
 * NaN and +-Inf against the IEEE result of each op's definition. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

#define TRIALS_PER_OP 12

START_TEST(every_op_has_a_recipe)
{
    for (size_t i = 0; i < registry_size(); i++)
        ck_assert_msg(recipe_for(registry_name(i)) != NULL,
                      "op '%s' has no test recipe in tests/recipes*.c", registry_name(i));
}
END_TEST

/* An op with parameters prints them (the graph's picture, the trace and the
 * PyTorch cross-check read them), and one without has no printer. */
START_TEST(every_op_with_parameters_prints_them)
{
    for (size_t i = 0; i < ag_n_ops; i++) {
        const ag_op *op = ag_all_ops[i];
        ck_assert_msg((op->params_size > 0) == (op->print_params != NULL),
                      "op '%s': params_size %zu but %s print_params", op->name, op->params_size,
                      op->print_params ? "a" : "no");
    }
}
END_TEST

/* _i is the op's index in the registry (a loop test) */
START_TEST(vjp_matches_finite_differences)
{
    const char *name = registry_name((size_t)_i);
    op_recipe recipe = recipe_for(name);
    ck_assert(recipe != NULL);
    test_rng r = {0x5eed0000u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe(g, &r, &c), "%s: %s", name, ag_graph_error(g));
        assert_vjp_matches_fd(g, &c, &r, name);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

/* ---- NaN and +-Inf through every op -------------------------------------------
 * Each registry op gets operands holding NaN, +Inf and -Inf among ordinary
 * values (zeros included, so 0 * Inf and Inf - Inf occur), in a tiny tensor
 * (the straight-code path) and a larger one (the loops), and its value and
 * the gradient a finite seed sends back are compared with a scalar
 * reference written here from the op's definition, in IEEE arithmetic:
 * NaN where the reference is NaN, the same infinity where it is infinite,
 * close elsewhere. Where PyTorch's definition differs from the naive
 * formula, the reference follows PyTorch; the values noted were observed
 * with PyTorch 1.13.1 in float64:
 *   relu([NaN, Inf, -Inf, 1.5, -1.5, 0])      = [NaN, Inf, 0, 1.5, 0, 0]
 *   its gradient for a seed of ones            = [1, 1, 0, 1, 0, 0]
 *     (threshold_backward(grad, y, 0): y <= 0 ? 0 : grad passes it at NaN)
 *   softmax([1, Inf]) = softmax([-Inf, -Inf]) = [NaN, NaN] (shifted by the
 *     max, Inf - Inf); softmax([1, -Inf]) = [1, 0]; a NaN anywhere in a row
 *     makes the whole row NaN; log_softmax([1, -Inf]) = [0, -Inf] and its
 *     gradient for seed [1, 0.5] is [-0.5, 0.5]; cross_entropy([1, -Inf],
 *     class 0) = 0 with gradient [0, 0]
 *   pow(x, 0) = 1 with gradient 0 even at NaN and +-Inf; pow(NaN, 1) has
 *     gradient 1 * NaN^0 = 1
 * The cases use the harness of helpers.h (special_case). */

/* ---- elementwise references: the definitions, and their derivatives ---- */

static double ref_add(double a, double b) { return a + b; }
static double ref_sub(double a, double b) { return a - b; }
static double ref_mul(double a, double b) { return a * b; }
static double ref_div(double a, double b) { return a / b; }
static double ref_one(double a, double b) { (void)a, (void)b; return 1.0; }
static double ref_minus_one(double a, double b) { (void)a, (void)b; return -1.0; }
static double ref_second(double a, double b) { (void)a; return b; }
static double ref_first(double a, double b) { (void)b; return a; }
static double ref_div_da(double a, double b) { (void)a; return 1.0 / b; }
static double ref_div_db(double a, double b) { return -a / (b * b); }

/* PyTorch's maximum and minimum: NaN when either operand is NaN; the
 * gradient where(a == b, g / 2, g), masked to 0 for the operand that is not
 * the extremum (no comparison with a NaN holds, so both get all of it) */
static double ref_maximum(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static double ref_maximum_da(double a, double b) { return a == b ? 0.5 : a < b ? 0.0 : 1.0; }
static double ref_maximum_db(double a, double b) { return a == b ? 0.5 : b < a ? 0.0 : 1.0; }
static double ref_minimum(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
static double ref_minimum_da(double a, double b) { return a == b ? 0.5 : a > b ? 0.0 : 1.0; }
static double ref_minimum_db(double a, double b) { return a == b ? 0.5 : b > a ? 0.0 : 1.0; }

typedef struct binary_ref { const char *op; ag_node *(*fn)(ag_node *, ag_node *);
                            double (*f)(double, double), (*da)(double, double), (*db)(double, double); } binary_ref;
static const binary_ref binary_refs[] = {
    {"add", ag_add, ref_add, ref_one, ref_one},
    {"sub", ag_sub, ref_sub, ref_one, ref_minus_one},
    {"mul", ag_mul, ref_mul, ref_second, ref_first},
    {"div", ag_div, ref_div, ref_div_da, ref_div_db},
    {"maximum", ag_maximum, ref_maximum, ref_maximum_da, ref_maximum_db},
    {"minimum", ag_minimum, ref_minimum, ref_minimum_da, ref_minimum_db},
};

/* a (rows x cols) op b where b is the same shape, a row [cols] or a scalar:
 * element k of the result takes a[k] and b[k], b[k % cols] or b[0] */
static void binary_special_case(const binary_ref *r, int rows, int cols, int b_kind)
{
    special_case c;
    special_begin(&c, r->op);
    ag_node *a = special_operand(&c, 2, (int[]){rows, cols}, 1, 13);
    int b_dims[2][2] = {{rows, cols}, {cols, 0}};
    ag_node *b = special_operand(&c, b_kind == 0 ? 2 : b_kind == 1 ? 1 : 0, b_dims[b_kind], 4, 13);
    special_recorded(&c, r->fn(a, b));
    for (size_t k = 0; k < (size_t)(rows * cols); k++) {
        size_t ib = b_kind == 0 ? k : b_kind == 1 ? k % (size_t)cols : 0;
        double av = c.v[0][k], bv = c.v[1][ib];
        c.y[k] = r->f(av, bv);
        c.gx[0][k] += c.gy[k] * r->da(av, bv);
        c.gx[1][ib] += c.gy[k] * r->db(av, bv);
    }
    special_check(&c);
}

/* the same-shape pairs that matter, element by element */
static void binary_special_pairs(const binary_ref *r)
{
    static const double a[] = {NAN, 1.0, INFINITY, INFINITY, INFINITY, 0.0, -2.0, -INFINITY};
    static const double b[] = {1.0, NAN, -INFINITY, 0.0, INFINITY, 0.0, 0.0, 2.0};
    special_case c;
    special_begin(&c, r->op);
    ag_node *x = special_operand_of(&c, 1, (int[]){8}, a);
    ag_node *y = special_operand_of(&c, 1, (int[]){8}, b);
    special_recorded(&c, r->fn(x, y));
    for (size_t k = 0; k < 8; k++) {
        c.y[k] = r->f(a[k], b[k]);
        c.gx[0][k] = c.gy[k] * r->da(a[k], b[k]);
        c.gx[1][k] = c.gy[k] * r->db(a[k], b[k]);
    }
    special_check(&c);
}

static void binary_specials(const binary_ref *r)
{
    binary_special_pairs(r);
    binary_special_case(r, 2, 3, 0);  /* tiny, same shapes */
    binary_special_case(r, 7, 9, 0);  /* the loops */
    binary_special_case(r, 4, 3, 1);  /* a bias row */
    binary_special_case(r, 3, 5, 2);  /* a scalar */
}

/* PyTorch's relu: NaN stays NaN, and the gradient passes at NaN (above) */
static double ref_relu(double x, double p) { (void)p; return isnan(x) ? x : x > 0.0 ? x : 0.0; }
static double ref_relu_d(double x, double p) { (void)p; return isnan(x) || x > 0.0 ? 1.0 : 0.0; }
static double ref_neg(double x, double p) { (void)p; return -x; }
static double ref_neg_d(double x, double p) { (void)x, (void)p; return -1.0; }
static double ref_exp(double x, double p) { (void)p; return exp(x); }
static double ref_log(double x, double p) { (void)p; return log(x); }
static double ref_log_d(double x, double p) { (void)p; return 1.0 / x; }
static double ref_tanh(double x, double p) { (void)p; return tanh(x); }
static double ref_tanh_d(double x, double p) { (void)p; return 1.0 - tanh(x) * tanh(x); }
static double ref_sigmoid(double x, double p) { (void)p; return 1.0 / (1.0 + exp(-x)); }
static double ref_sigmoid_d(double x, double p) { return ref_sigmoid(x, p) * (1.0 - ref_sigmoid(x, p)); }
static double ref_pow(double x, double p) { return pow(x, p); }
/* PyTorch's pow backward masks the exponent 0 to a zero gradient */
static double ref_pow_d(double x, double p) { return p == 0.0 ? 0.0 : p * pow(x, p - 1.0); }

/* The new elementwise ops. PyTorch 1.13 in float64 (observed) at
 * x = [NaN, Inf, -Inf, 1.5, -1.5, 0, -0], gradient for a seed of ones:
 *   abs: [0, 1, -1, 1, -1, 0, 0] (grad * sgn(x), and sgn(NaN) = 0)
 *   sqrt: sqrt(-0) = -0 with gradient -Inf (grad / (2 sqrt x)), sqrt(-Inf) = NaN
 *   leaky_relu(x, 0.1): [0.1, 1, 0.1, 1, 0.1, 0.1, 0.1] (x > 0 ? g : g * slope)
 *   clamp(x, -1.5, 1): value [NaN, 1, -1.5, 1, -1.5, 0, -0], gradient
 *     [0, 0, 0, 0, 1, 1, 1] (where(lo <= x <= hi, g, 0): the bounds pass it, NaN does not)
 *   softplus: value [NaN, Inf, 0, ...], gradient [NaN, 1, 0, ...] (x > 20 ? x
 *     : log1p(e^x), and z / (z + 1) with z = e^x)
 *   log1p(-1) = -Inf with gradient Inf (grad / (x + 1)); log1p(-Inf) = NaN, gradient -0
 *   expm1: gradient grad * (y + 1), 0 at -Inf; sin, cos: NaN at +-Inf */
static double ref_sqrt(double x, double p) { (void)p; return sqrt(x); }
static double ref_sqrt_d(double x, double p) { (void)p; return 1.0 / (2.0 * sqrt(x)); }
static double ref_abs(double x, double p) { (void)p; return fabs(x); }
static double ref_abs_d(double x, double p) { (void)p; return (double)(0.0 < x) - (double)(x < 0.0); }
static double ref_sin(double x, double p) { (void)p; return sin(x); }
static double ref_cos(double x, double p) { (void)p; return cos(x); }
static double ref_minus_sin(double x, double p) { (void)p; return -sin(x); }
static double ref_log1p(double x, double p) { (void)p; return log1p(x); }
static double ref_log1p_d(double x, double p) { (void)p; return 1.0 / (x + 1.0); }
static double ref_expm1(double x, double p) { (void)p; return expm1(x); }
static double ref_softplus(double x, double p) { (void)p; return x > 20.0 ? x : log1p(exp(x)); }
static double ref_softplus_d(double x, double p)
{
    (void)p;
    double z = exp(x);
    return x > 20.0 ? 1.0 : z / (z + 1.0);
}
#define LEAKY_SLOPE 0.125
static double ref_leaky_relu(double x, double p) { (void)p; return x > 0.0 ? x : x * LEAKY_SLOPE; }
static double ref_leaky_relu_d(double x, double p) { (void)p; return x > 0.0 ? 1.0 : LEAKY_SLOPE; }
/* bounds on the grid of special_fill's values (multiples of 0.375), so
 * elements sit exactly on them */
#define CLAMP_LO (-1.5)
#define CLAMP_HI 0.75
/* PyTorch's scalar kernel: std::min(std::max(x, lo), hi) */
static double ref_clamp(double x, double p)
{
    (void)p;
    double m = x < CLAMP_LO ? CLAMP_LO : x;
    return CLAMP_HI < m ? CLAMP_HI : m;
}
static double ref_clamp_d(double x, double p) { (void)p; return x >= CLAMP_LO && x <= CLAMP_HI ? 1.0 : 0.0; }
/* PyTorch's gelu, x (1 + erf(x / sqrt 2)) / 2, and its backward cdf + x pdf
 * with pdf = e^(-x^2/2) / sqrt(2 pi); observed in PyTorch 1.13 (float64):
 * gelu(-Inf) = NaN (-Inf * 0), gelu(Inf) = Inf, gradient NaN at +-Inf */
static double ref_gelu(double x, double p) { (void)p; return x * 0.5 * (1.0 + erf(x / sqrt(2.0))); }
static double ref_gelu_d(double x, double p)
{
    (void)p;
    double cdf = 0.5 * (1.0 + erf(x / sqrt(2.0))), pdf = exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
    return cdf + x * pdf;
}

/* Phi(x) = (1 + erf(x / sqrt 2)) / 2 (torch.special.ndtr), its derivative
 * the density: Phi(NaN) = NaN, Phi(+-Inf) = 1, 0 with derivative 0 there */
static double ref_normal_cdf(double x, double p) { (void)p; return 0.5 * (1.0 + erf(x / sqrt(2.0))); }
static double ref_normal_pdf(double x, double p)
{
    (void)p;
    return exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
}
static ag_node *normal_cdf_fn(ag_node *x, double p) { (void)p; return ag_normal_cdf(x); }

static ag_node *sqrt_fn(ag_node *x, double p) { (void)p; return ag_sqrt(x); }
static ag_node *abs_fn(ag_node *x, double p) { (void)p; return ag_abs(x); }
static ag_node *sin_fn(ag_node *x, double p) { (void)p; return ag_sin(x); }
static ag_node *cos_fn(ag_node *x, double p) { (void)p; return ag_cos(x); }
static ag_node *log1p_fn(ag_node *x, double p) { (void)p; return ag_log1p(x); }
static ag_node *expm1_fn(ag_node *x, double p) { (void)p; return ag_expm1(x); }
static ag_node *softplus_fn(ag_node *x, double p) { (void)p; return ag_softplus(x); }
static ag_node *leaky_relu_fn(ag_node *x, double p) { (void)p; return ag_leaky_relu(x, LEAKY_SLOPE); }
static ag_node *clamp_fn(ag_node *x, double p) { (void)p; return ag_clamp(x, CLAMP_LO, CLAMP_HI); }
static ag_node *gelu_fn(ag_node *x, double p) { (void)p; return ag_gelu(x); }

static ag_node *relu_fn(ag_node *x, double p) { (void)p; return ag_relu(x); }
static ag_node *neg_fn(ag_node *x, double p) { (void)p; return ag_neg(x); }
static ag_node *exp_fn(ag_node *x, double p) { (void)p; return ag_exp(x); }
static ag_node *log_fn(ag_node *x, double p) { (void)p; return ag_log(x); }
static ag_node *tanh_fn(ag_node *x, double p) { (void)p; return ag_tanh(x); }
static ag_node *sigmoid_fn(ag_node *x, double p) { (void)p; return ag_sigmoid(x); }

typedef struct unary_ref { const char *op; ag_node *(*fn)(ag_node *, double);
                           double (*f)(double, double), (*df)(double, double); } unary_ref;
static const unary_ref unary_refs[] = {
    {"relu", relu_fn, ref_relu, ref_relu_d},   {"neg", neg_fn, ref_neg, ref_neg_d},
    {"exp", exp_fn, ref_exp, ref_exp},         {"log", log_fn, ref_log, ref_log_d},
    {"tanh", tanh_fn, ref_tanh, ref_tanh_d},   {"sigmoid", sigmoid_fn, ref_sigmoid, ref_sigmoid_d},
    {"pow", ag_pow, ref_pow, ref_pow_d},
    {"sqrt", sqrt_fn, ref_sqrt, ref_sqrt_d},   {"abs", abs_fn, ref_abs, ref_abs_d},
    {"sin", sin_fn, ref_sin, ref_cos},         {"cos", cos_fn, ref_cos, ref_minus_sin},
    {"log1p", log1p_fn, ref_log1p, ref_log1p_d}, {"expm1", expm1_fn, ref_expm1, ref_exp},
    {"softplus", softplus_fn, ref_softplus, ref_softplus_d},
    {"leaky_relu", leaky_relu_fn, ref_leaky_relu, ref_leaky_relu_d},
    {"clamp", clamp_fn, ref_clamp, ref_clamp_d},
    {"gelu", gelu_fn, ref_gelu, ref_gelu_d},
    {"normal_cdf", normal_cdf_fn, ref_normal_cdf, ref_normal_pdf},
};

static void unary_special_case(const unary_ref *r, size_t n, double p)
{
    static const double tiny[] = {NAN, INFINITY, -INFINITY, 1.5, -1.5, 0.0, 0.25};
    special_case c;
    special_begin(&c, r->op);
    ag_node *x = n == 7 ? special_operand_of(&c, 1, (int[]){7}, tiny)
                        : special_operand(&c, 1, (int[]){(int)n}, 2, 13);
    special_recorded(&c, r->fn(x, p));
    for (size_t k = 0; k < n; k++) {
        c.y[k] = r->f(c.v[0][k], p);
        c.gx[0][k] = c.gy[k] * r->df(c.v[0][k], p);
    }
    special_check(&c);
}

static void unary_specials(const unary_ref *r)
{
    static const double exponents[] = {2.0, 3.0, 0.5, -1.5, 1.0, 0.0};
    size_t n_p = strcmp(r->op, "pow") == 0 ? 6 : 1;
    for (size_t i = 0; i < n_p; i++) {
        unary_special_case(r, 7, exponents[i]);  /* straight code (at most 8) */
        unary_special_case(r, 45, exponents[i]); /* the loops */
        unary_special_case(r, 40000, exponents[i]); /* split over the threads */
    }
}

/* ---- reductions and shapes ---------------------------------------------------- */

/* sum / mean of everything: y = sum x (/ n), dy/dx_i = 1 (1/n) */
static void reduce_specials(const char *op, size_t n)
{
    bool mean = strcmp(op, "mean") == 0;
    special_case c;
    special_begin(&c, op);
    ag_node *x = special_operand(&c, 2, (int[]){(int)n / 3, 3}, 3, 13);
    special_recorded(&c, mean ? ag_mean(x) : ag_sum(x));
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += c.v[0][i];
    c.y[0] = mean ? s / (double)n : s;
    for (size_t i = 0; i < n; i++) c.gx[0][i] = mean ? c.gy[0] / (double)n : c.gy[0];
    special_check(&c);
}

/* along one axis of [R,C]: y_j = sum_i x_ij (axis 0) or y_i = sum_j x_ij */
static void axis_specials(const char *op, int R, int C, int axis)
{
    bool mean = strcmp(op, "mean_axis") == 0;
    special_case c;
    special_begin(&c, op);
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 5, 13);
    special_recorded(&c, mean ? ag_mean_axis(x, axis) : ag_sum_axis(x, axis));
    double count = axis == 0 ? R : C;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) c.y[axis == 0 ? j : i] += c.v[0][i * C + j];
    for (size_t k = 0; k < ag_node_size(c.out); k++) c.y[k] = mean ? c.y[k] / count : c.y[k];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            double g = c.gy[axis == 0 ? j : i];
            c.gx[0][i * C + j] = mean ? g / count : g;
        }
    special_check(&c);
}

/* transpose: y_ji = x_ij; reshape keeps the elements in order */
static void transpose_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "transpose");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 6, 13);
    special_recorded(&c, ag_transpose(x));
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            c.y[j * R + i] = c.v[0][i * C + j];
            c.gx[0][i * C + j] = c.gy[j * R + i];
        }
    special_check(&c);
}

static void reshape_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "reshape");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 8, 13);
    special_recorded(&c, ag_reshape(x, 1, (int[]){R * C}));
    for (int k = 0; k < R * C; k++) c.y[k] = c.v[0][k], c.gx[0][k] = c.gy[k];
    special_check(&c);
}

/* cast to float64 of a float64 operand: a copy, NaN and Inf included, and
 * the gradient passes unchanged */
static void cast_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "cast");
    ag_node *x = special_operand(&c, 2, (int[]){R, C}, 8, 13);
    special_recorded(&c, ag_cast(x, AG_FLOAT64));
    for (int k = 0; k < R * C; k++) c.y[k] = c.v[0][k], c.gx[0][k] = c.gy[k];
    special_check(&c);
}

/* ---- softmax, log_softmax, cross-entropy: PyTorch's max-shifted definition --- */

/* max of a row, NaN when any element is NaN (PyTorch's max) */
static double ref_row_max(const double *x, int n)
{
    double m = -INFINITY;
    for (int j = 0; j < n; j++)
        if (isnan(x[j]) || x[j] > m) m = isnan(m) ? m : x[j];
    return m;
}

/* log sum_j exp(x_j - m) of a row */
static double ref_row_log_sum(const double *x, int n, double m)
{
    double s = 0.0;
    for (int j = 0; j < n; j++) s += exp(x[j] - m);
    return log(s);
}

/* rows of [1, Inf], [1, -Inf], [-Inf, -Inf], [NaN, 1], [2, 1] and more: the
 * fixed cases above, then filled rows */
static const double softmax_rows_2[][2] = {
    {1.0, INFINITY}, {1.0, -INFINITY}, {-INFINITY, -INFINITY}, {NAN, 1.0},
    {1.0, NAN}, {INFINITY, INFINITY}, {2.0, 1.0}, {-INFINITY, 0.5},
};

/* R rows of C: softmax_rows_2 when C is 2 (R = 8), filled otherwise */
static ag_node *rows_operand(special_case *c, int R, int C)
{
    return C == 2 ? special_operand_of(c, 2, (int[]){R, C}, &softmax_rows_2[0][0])
                  : special_operand(c, 2, (int[]){R, C}, 9, 17);
}

/* softmax: p_j = exp(x_j - m) / sum_k exp(x_k - m); gx = p (gy - <gy, p>).
 * log_softmax: y_j = x_j - m - log sum; gx = gy - exp(y) sum gy. */
static void softmax_specials(const char *op, int R, int C)
{
    bool log_form = strcmp(op, "log_softmax") == 0;
    special_case c;
    special_begin(&c, op);
    ag_node *x = rows_operand(&c, R, C);
    special_recorded(&c, log_form ? ag_log_softmax(x) : ag_softmax(x));
    for (int i = 0; i < R; i++) {
        const double *xr = c.v[0] + i * C, *gy = c.gy + i * C;
        double *y = c.y + i * C, *gx = c.gx[0] + i * C;
        double m = ref_row_max(xr, C), log_sum = ref_row_log_sum(xr, C, m);
        double dot = 0.0, total = 0.0;
        for (int j = 0; j < C; j++) {
            y[j] = log_form ? xr[j] - m - log_sum : exp(xr[j] - m) / exp(log_sum);
            dot += gy[j] * y[j];
            total += gy[j];
        }
        for (int j = 0; j < C; j++) gx[j] = log_form ? gy[j] - exp(y[j]) * total : y[j] * (gy[j] - dot);
    }
    special_check(&c);
}

/* loss = mean_i (m_i + log sum_j exp(x_ij - m_i) - x_i,label_i);
 * gx_ij = gy (p_ij - [j = label_i]) / N */
static void xent_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "softmax_xent");
    ag_node *x = rows_operand(&c, R, C);
    double labels[8];
    ck_assert_int_le(R, 8);
    for (int i = 0; i < R; i++) labels[i] = (i * 3) % C;
    special_recorded(&c, ag_softmax_xent(x, special_extra(&c, 1, (int[]){R}, labels)));
    double loss = 0.0;
    for (int i = 0; i < R; i++) {
        const double *xr = c.v[0] + i * C;
        int label = (i * 3) % C;
        double m = ref_row_max(xr, C), log_sum = ref_row_log_sum(xr, C, m);
        loss += m + log_sum - xr[label];
        for (int j = 0; j < C; j++)
            c.gx[0][i * C + j] = c.gy[0] * (exp(xr[j] - m - log_sum) - (j == label)) / R;
    }
    c.y[0] = loss / R;
    special_check(&c);
}

/* mse = mean (a - b)^2; ga = gy 2 (a - b) / n, gb = -ga */
static void mse_specials(int R, int C)
{
    special_case c;
    special_begin(&c, "mse");
    ag_node *a = special_operand(&c, 2, (int[]){R, C}, 10, 13);
    ag_node *b = special_operand(&c, 2, (int[]){R, C}, 11, 13);
    special_recorded(&c, ag_mse(a, b));
    size_t n = (size_t)(R * C);
    double s = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = c.v[0][k] - c.v[1][k];
        s += d * d;
        c.gx[0][k] = c.gy[0] * 2.0 * d / (double)n;
        c.gx[1][k] = -(c.gy[0] * 2.0 * d / (double)n);
    }
    c.y[0] = s / (double)n;
    special_check(&c);
}

/* ---- products ------------------------------------------------------------------ */

/* y = a @ b (+ bias): y_ij = bias_ij + sum_k a_ik b_kj, ga = gy b^T, gb = a^T gy,
 * gbias = gy summed over the dimensions the bias is repeated along. bias_kind:
 * -1 none (matmul), 0 [M,N], 1 [N], 2 [M,1], 3 a scalar. Sparse specials
 * (every 29th... of a, every 31st of b), or every row would be NaN. */
static void product_specials(int M, int K, int N, int bias_kind)
{
    special_case c;
    special_begin(&c, bias_kind < 0 ? "matmul" : "linear");
    ag_node *a = special_operand(&c, 2, (int[]){M, K}, 12, 29);
    ag_node *b = special_operand(&c, 2, (int[]){K, N}, 13, 31);
    ag_node *bias = NULL;
    if (bias_kind >= 0) {
        int nd[] = {2, 1, 2, 0}, dims[4][2] = {{M, N}, {N, 0}, {M, 1}, {0, 0}};
        bias = special_operand(&c, nd[bias_kind], dims[bias_kind], 14, 23);
    }
    special_recorded(&c, bias ? ag_linear(a, b, bias) : ag_matmul(a, b));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int ic = bias_kind == 0 ? i * N + j : bias_kind == 1 ? j : bias_kind == 2 ? i : 0;
            double s = 0.0, g = c.gy[i * N + j];
            for (int k = 0; k < K; k++) {
                s += c.v[0][i * K + k] * c.v[1][k * N + j];
                c.gx[0][i * K + k] += g * c.v[1][k * N + j];
                c.gx[1][k * N + j] += c.v[0][i * K + k] * g;
            }
            c.y[i * N + j] = bias ? c.v[2][ic] + s : s;
            if (bias) c.gx[2][ic] += g;
        }
    special_check(&c);
}

/* matmul with torch.matmul's rules: a's shape padded to [A0,A1,M,K] (a
 * vector [K] being one row [1,1,1,K], fewer dims getting leading 1s), b's
 * to [B0,B1,K,N] (a vector being one column); the result's batch matrix
 * (i, j), i < max(A0,B0), j < max(A1,B1), is a's matrix (A0 = 1 ? 0 : i,
 * A1 = 1 ? 0 : j) times b's likewise, laid out batch by batch, row-major.
 * ga += gy B^T and gb += A^T gy for each batch matrix, into the operand
 * matrix it read (so summed over the batch dims an operand is broadcast on). */
static void batched_product_specials(int nd_a, const int *a_dims, int nd_b, const int *b_dims)
{
    int pa[4] = {1, 1, 1, 1}, pb[4] = {1, 1, 1, 1};
    for (int d = 0; d < nd_a; d++) pa[4 - nd_a + d] = a_dims[d]; /* [K] -> [1,1,1,K] */
    if (nd_b == 1)
        pb[2] = b_dims[0]; /* [K] -> [1,1,K,1] */
    else
        for (int d = 0; d < nd_b; d++) pb[4 - nd_b + d] = b_dims[d];
    int M = pa[2], K = pa[3], N = pb[3];
    int batch0 = pa[0] > pb[0] ? pa[0] : pb[0], batch1 = pa[1] > pb[1] ? pa[1] : pb[1];
    special_case c;
    special_begin(&c, "matmul");
    ag_node *a = special_operand(&c, nd_a, a_dims, 12, 29);
    ag_node *b = special_operand(&c, nd_b, b_dims, 13, 31);
    special_recorded(&c, ag_matmul(a, b));
    ck_assert_int_eq(ag_node_size(c.out), (size_t)batch0 * batch1 * M * N);
    for (int i = 0; i < batch0; i++)
        for (int j = 0; j < batch1; j++) {
            size_t ia = ((size_t)(pa[0] == 1 ? 0 : i) * pa[1] + (pa[1] == 1 ? 0 : j)) * M * K;
            size_t ib = ((size_t)(pb[0] == 1 ? 0 : i) * pb[1] + (pb[1] == 1 ? 0 : j)) * K * N;
            size_t iy = ((size_t)i * batch1 + j) * M * N;
            for (int r = 0; r < M; r++)
                for (int s = 0; s < N; s++) {
                    double sum = 0.0, g = c.gy[iy + r * N + s];
                    for (int k = 0; k < K; k++) {
                        sum += c.v[0][ia + r * K + k] * c.v[1][ib + k * N + s];
                        c.gx[0][ia + r * K + k] += g * c.v[1][ib + k * N + s];
                        c.gx[1][ib + k * N + s] += c.v[0][ia + r * K + k] * g;
                    }
                    c.y[iy + r * N + s] = sum;
                }
        }
    special_check(&c);
}

static void matmul_specials(void)
{
    product_specials(2, 3, 2, -1);
    product_specials(9, 8, 10, -1); /* over 512 multiply-adds: the blocked kernel */
    product_specials(1, 12, 1, -1);
    batched_product_specials(1, (int[]){20}, 1, (int[]){20});                /* [] */
    batched_product_specials(1, (int[]){8}, 2, (int[]){8, 5});               /* [5] */
    batched_product_specials(2, (int[]){5, 8}, 1, (int[]){8});               /* [5] */
    batched_product_specials(3, (int[]){3, 4, 5}, 2, (int[]){5, 3});         /* [3,4,3] */
    batched_product_specials(4, (int[]){2, 1, 3, 4}, 3, (int[]){3, 4, 2});   /* [2,3,3,2] */
    batched_product_specials(1, (int[]){6}, 3, (int[]){3, 6, 4});            /* [3,4] */
    batched_product_specials(3, (int[]){2, 9, 8}, 3, (int[]){1, 8, 10});     /* ag_gemm per matrix */
}

static void linear_specials(void)
{
    for (int kind = 0; kind < 4; kind++) {
        product_specials(3, 4, 2, kind);
        product_specials(10, 8, 11, kind);
    }
}

/* ---- the registry -------------------------------------------------------------- */

/* Run op `name`'s cases; false when this test has none for it. */
static bool ieee_specials_for(const char *name)
{
    for (size_t i = 0; i < sizeof binary_refs / sizeof binary_refs[0]; i++)
        if (strcmp(name, binary_refs[i].op) == 0) return binary_specials(&binary_refs[i]), true;
    for (size_t i = 0; i < sizeof unary_refs / sizeof unary_refs[0]; i++)
        if (strcmp(name, unary_refs[i].op) == 0) return unary_specials(&unary_refs[i]), true;
    if (strcmp(name, "sum") == 0 || strcmp(name, "mean") == 0) {
        reduce_specials(name, 6);
        reduce_specials(name, 60);
        return true;
    }
    if (strcmp(name, "sum_axis") == 0 || strcmp(name, "mean_axis") == 0) {
        for (int axis = 0; axis < 2; axis++) axis_specials(name, 2, 3, axis), axis_specials(name, 7, 9, axis);
        return true;
    }
    if (strcmp(name, "transpose") == 0) return transpose_specials(2, 3), transpose_specials(7, 9), true;
    if (strcmp(name, "reshape") == 0) return reshape_specials(2, 3), reshape_specials(7, 9), true;
    if (strcmp(name, "cast") == 0) return cast_specials(2, 3), cast_specials(7, 9), true;
    if (strcmp(name, "softmax") == 0 || strcmp(name, "log_softmax") == 0) {
        softmax_specials(name, 8, 2);
        softmax_specials(name, 6, 5);
        return true;
    }
    if (strcmp(name, "softmax_xent") == 0) return xent_specials(8, 2), xent_specials(6, 5), true;
    if (strcmp(name, "mse") == 0) return mse_specials(2, 3), mse_specials(7, 9), true;
    if (strcmp(name, "matmul") == 0) return matmul_specials(), true;
    if (strcmp(name, "linear") == 0) return linear_specials(), true;
    return ieee_specials_reduce(name) || ieee_specials_index(name) || ieee_specials_conv(name) ||
           ieee_specials_pool(name) || ieee_specials_norm(name) || ieee_specials_lstm(name);
}

/* _i is the op's index in the registry (a loop test) */
START_TEST(nan_and_inf_follow_ieee_through_every_op)
{
    const char *name = registry_name((size_t)_i);
    ck_assert_msg(ieee_specials_for(name),
                  "op '%s' has no NaN/Inf case in tests/test_gradients.c (ieee_specials_for)", name);
}
END_TEST

Suite *gradient_suite(void)
{
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("vjp vs finite differences");
    tcase_add_test(tc, every_op_has_a_recipe);
    tcase_add_test(tc, every_op_with_parameters_prints_them);
    tcase_add_loop_test(tc, vjp_matches_finite_differences, 0, (int)registry_size());
    suite_add_tcase(s, tc);
    TCase *ieee = tcase_create("NaN and Inf");
    tcase_add_loop_test(ieee, nan_and_inf_follow_ieee_through_every_op, 0, (int)registry_size());
    suite_add_tcase(s, ieee);
    return s;
}
