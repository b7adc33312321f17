/* helpers.h -- shared test utilities: seeded random numbers, a finite-
 * difference gradient checker, a counting allocator, op recipes. */
#ifndef AGRAD_TEST_HELPERS_H
#define AGRAD_TEST_HELPERS_H

#include <agrad.h>
#include <check.h>
#include <stdint.h>

/* ---- random numbers (splitmix64: same sequence on every machine) ---------- */
typedef struct test_rng { uint64_t state; } test_rng;
uint64_t rng_next(test_rng *r);
double rng_uniform(test_rng *r, double lo, double hi);
int rng_int(test_rng *r, int lo, int hi); /* inclusive */
/* uniform in [lo, hi] with a random sign: keeps values away from 0 */
double rng_signed(test_rng *r, double lo, double hi);

/* ---- counting allocator --------------------------------------------------------- */
/* Install an allocator that counts calls and live blocks; fail_at > 0 makes the
 * fail_at-th allocation (malloc or realloc) fail. */
void counting_allocator_install(long fail_at);
void counting_allocator_remove(void);
/* Change which allocation fails (0: none) without resetting the counts. */
void counting_allocator_fail_at(long fail_at);
long counting_allocations(void); /* mallocs + reallocs since install */
long counting_live_blocks(void);

/* ---- tensors kept for a test ------------------------------------------------------ */
/* A hand-worked test's tensors, freed together by free_kept_tensors (the
 * suite's teardown). keep_tensor keeps t (asserted non-NULL) and returns it;
 * kept_tensor_from makes one from values (a parameter when requires_grad);
 * kept_tensor(k) is the k-th kept since the last free. */
#define KEPT_MAX 32
ag_tensor *keep_tensor(ag_tensor *t);
ag_tensor *kept_tensor_from(int nd, const int *dims, const double *values, bool requires_grad);
ag_tensor *kept_tensor(int k);
void free_kept_tensors(void);

/* check() once on each GEMM kernel this CPU runs (generic, AVX2, AVX-512:
 * ag_gemm_use_isa), asserting that at least one ran; the best kernel is
 * chosen again afterwards. Under ThreadSanitizer, once on the chosen kernel
 * (the thread split under test is the same code for every kernel). */
void on_every_gemm_kernel(void (*check)(void));

/* The fixture of a suite of hand-worked op tests, written once at the top of
 * its file: g, a graph fresh for each test (tcase_add_checked_fixture(tc,
 * setup, teardown)), the tensors the test kept freed after it. */
#define GRAPH_FIXTURE()                                                                \
    static ag_graph *g;                                                                \
    static void setup(void) { g = ag_graph_new(); }                                    \
    static void teardown(void)                                                         \
    {                                                                                  \
        ag_graph_free(g);                                                              \
        free_kept_tensors();                                                           \
    }
/* ... and param(nd, dims, values), a parameter leaf on g of a kept tensor */
#define GRAPH_FIXTURE_WITH_PARAM()                                                     \
    GRAPH_FIXTURE()                                                                    \
    static ag_node *param(int nd, const int *dims, const double *values)               \
    {                                                                                  \
        return ag_param(g, kept_tensor_from(nd, dims, values, true));                  \
    }

/* ---- op recipes ------------------------------------------------------------------ */
/* A recipe builds one op on random (seeded) operands that are inside the op's
 * domain and away from kinks. Differentiable operands are parameter tensors,
 * stored in params[] (at most OP_CASE_MAX); other operands (labels,
 * indices, conditions) go in extra[]. */
#define OP_CASE_MAX 8
typedef struct op_case {
    ag_tensor *params[OP_CASE_MAX]; /* linear's three operands, concat's n */
    ag_node *param_nodes[OP_CASE_MAX]; /* the leaves recording params[] */
    int n_params;
    ag_tensor *extra[OP_CASE_MAX];
    int n_extra;
    ag_node *out;
    /* Set to re-record a case: the recipe, run again from the same random
     * state, draws the same values, and add_param / add_extra record the
     * tensors already in params[] / extra[] (freeing the new copies), so a
     * builder can record the op on the tensors a check perturbs. */
    bool rerecord;
} op_case;

typedef bool (*op_recipe)(ag_graph *g, test_rng *r, op_case *c);

/* The recipe for the op named `name`, or NULL if there is none. */
op_recipe recipe_for(const char *name);
/* A table of recipes by op name, ended by {NULL, NULL}; recipe_in finds
 * `name` in one (NULL when it is not there). */
typedef struct recipe_entry {
    const char *name;
    op_recipe recipe;
} recipe_entry;
op_recipe recipe_in(const recipe_entry *table, const char *name);
/* The same for each group of ops, one file each (tests/recipes_<group>.c);
 * recipe_for asks them in turn. */
op_recipe recipe_for_elementwise(const char *name);
op_recipe recipe_for_reduce(const char *name);
op_recipe recipe_for_index(const char *name);
op_recipe recipe_for_matmul(const char *name);
op_recipe recipe_for_conv(const char *name);
op_recipe recipe_for_pool(const char *name);
op_recipe recipe_for_norm(const char *name);
op_recipe recipe_for_lstm(const char *name);
/* NaN and +-Inf cases of a group's ops (test_gradients.c's
 * nan_and_inf_follow_ieee_through_every_op asks them after its own): run
 * the op's cases and return true, or false when `name` is not in the group.
 * The elementwise ops and the products have theirs in test_gradients.c. */
bool ieee_specials_reduce(const char *name);
bool ieee_specials_index(const char *name);
bool ieee_specials_conv(const char *name);
bool ieee_specials_pool(const char *name);
bool ieee_specials_norm(const char *name);
bool ieee_specials_lstm(const char *name);

/* matmul's forms (recipes_matmul.c): two matrices, small or over the
 * small-product limit; a vector on the left, on the right, or both; batches
 * of matrices (3-d, 4-d) broadcasting; a vector against a batch; a batch of
 * large matrices. matmul_form_case builds one on random shapes and values. */
enum matmul_form {
    MATMUL_FORM_MATRICES, MATMUL_FORM_LARGE, MATMUL_FORM_ROW_VECTOR, MATMUL_FORM_COLUMN_VECTOR,
    MATMUL_FORM_DOT, MATMUL_FORM_BATCHED, MATMUL_FORM_BATCHED_VECTOR, MATMUL_FORM_BATCHED_LARGE,
    MATMUL_FORMS
};
bool matmul_form_case(ag_graph *g, test_rng *r, op_case *c, int form);

/* Shared by the recipe files (recipes.c): a parameter tensor of the given
 * shape with values uniform in [lo, hi) (signed_values: a random sign too),
 * recorded as a leaf of g and kept in c->params; and an extra (non-
 * differentiable) tensor recorded as an input and kept in c->extra. */
ag_tensor *random_param(test_rng *r, int ndim, const int *dims, double lo, double hi, bool signed_values);
/* A parameter holding first + spacing i + U[0, 0.05) for i = 0, 1, ... in a
 * random order: with spacing >= 0.1 no two values tie, so a finite-difference
 * step (1e-6) never changes which element of a set is the largest. */
ag_tensor *distinct_param(test_rng *r, int ndim, const int *dims, double first, double spacing);
ag_node *add_param(ag_graph *g, op_case *c, ag_tensor *t);
/* While set, add_param and add_extra keep and record float32 copies of the
 * recipe's tensors (its values rounded to float), so a recipe builds its op
 * in float32 (test_float32.c); constants a recipe records stay float64. */
extern bool recipe_float32;
ag_node *add_extra(ag_graph *g, op_case *c, ag_tensor *t);
void op_case_free(op_case *c);
/* A random shape of min_nd .. max_nd dimensions, each 1 .. max_size (all
 * four of dims drawn, whatever the count); returns the count. */
int random_dims(test_rng *r, int min_nd, int max_nd, int max_size, int dims[4]);
/* an axis of nd dimensions, as often negative (counted from the end) as not */
int random_axis(test_rng *r, int nd);

/* Names of every op in the library's registry (from the internal list). */
size_t registry_size(void);
const char *registry_name(size_t i);

/* ---- gradient checking ------------------------------------------------------------ */
/* Compare the vjp of c->out with seed u against central differences of
 * <u, out(x)> for every element of every parameter; asserts per element,
 * signed: |analytic - numeric| <= 1e-6 + 1e-5 |numeric|. Also asserts the
 * gradient is not all zero. */
void assert_vjp_matches_fd(ag_graph *g, op_case *c, test_rng *r, const char *opname);

/* ---- NaN and +-Inf cases ------------------------------------------------------------
 * One op on operands holding NaN, +Inf and -Inf among ordinary values, its
 * value and the gradient a finite seed sends back compared with a reference
 * the test writes from the op's definition in IEEE arithmetic. The steps:
 *   special_begin(&c, "op");
 *   x = special_operand(&c, ...);        operands taking a gradient (at most
 *                                        SPECIAL_OPERANDS), values in c.v[k]
 *   i = special_extra(&c, ...);          optional: indices, labels (no gradient)
 *   special_recorded(&c, ag_op(x, ..));  the seed c.gy; c.y and c.gx[k] zeroed
 *   ... c.y[j] = reference value, c.gx[k][i] = reference gradient ...
 *   special_check(&c);                   compares, then frees everything
 * The rule: NaN where the reference is NaN, the same infinity where it is
 * infinite, elsewhere |got - want| <= 1e-12 (1 + |want|). */
#define SPECIAL_OPERANDS 4
typedef struct special_case {
    const char *op;
    ag_graph *g;
    int n;                                 /* operands taking a gradient (parameters) */
    ag_tensor *t[SPECIAL_OPERANDS];
    const double *v[SPECIAL_OPERANDS];     /* their values */
    ag_tensor *extra;                      /* the operand without gradient, or NULL */
    ag_node *out;
    double *y, *gy, *gx[SPECIAL_OPERANDS]; /* reference value; the seed; reference gradients */
} special_case;

void special_begin(special_case *c, const char *op);
/* NaN, +Inf or -Inf where (5i + 7 salt) mod period is 0, 1 or 2, so about 3
 * in `period` elements, spread apart; elsewhere ((7i + 3 salt) mod 11 - 5) *
 * 0.375, the multiples of 0.375 in [-1.875, 1.875], 0 and repeats (ties)
 * included. The period is at least 3 and shares no factor with 35 (5 or 7
 * would leave the specials' places fixed by salt or out altogether). */
void special_fill(double *x, size_t n, unsigned salt, unsigned period);
/* A parameter of the given shape filled by special_fill, or holding
 * values[0 .. size) (special_operand_of). */
ag_node *special_operand(special_case *c, int nd, const int *dims, unsigned salt, unsigned period);
ag_node *special_operand_of(special_case *c, int nd, const int *dims, const double *values);
/* An input (no gradient) holding values[0 .. size): indices, labels. */
ag_node *special_extra(special_case *c, int nd, const int *dims, const double *values);
/* After the op: out must be recorded; sets the seed (finite, non-zero,
 * varying) and room for the reference. */
void special_recorded(special_case *c, ag_node *out);
/* The value and every operand's gradient against the reference (the rule
 * above); frees the case. */
void special_check(special_case *c);
/* Element i of `what` (named in a failure), got, against want by that rule. */
void assert_ieee_close(const char *what, size_t i, double got, double want);

/* ag_last_error() contains `expected` (needs <string.h>) */
#define ck_assert_last_error(expected)                                                 \
    ck_assert_msg(strstr(ag_last_error(), expected) != NULL, "error '%s' lacks '%s'",  \
                  ag_last_error(), expected)

/* ag_graph_error(graph) is set and contains `expected` (needs <string.h>) */
#define ck_assert_graph_error(graph, expected)                                         \
    do {                                                                               \
        const char *e_ = ag_graph_error(graph);                                        \
        ck_assert_msg(e_ && strstr(e_, expected), "error '%s' lacks '%s'",             \
                      e_ ? e_ : "(none recorded)", expected);                          \
    } while (0)

/* ck_assert_msg for the checks in loops over elements. Check records the
 * place of every *passing* ck_assert: a message to the parent process, which
 * the sanitizers and valgrind follow byte by byte (counted on the whole
 * suite: 49 million of them, most from a few per-element loops). This one
 * calls Check only when expr is false, so a failure reads the same; the one
 * loss is that a crash after it names an earlier place. expr is evaluated
 * again on failure: give it no side effects. */
#define ck_assert_in_loop(expr, ...)                                                   \
    do {                                                                               \
        if (!(expr)) ck_assert_msg(expr, __VA_ARGS__);                                 \
    } while (0)

/* |actual - expected| <= tol, quiet when it holds (ck_assert_in_loop) */
#define ck_assert_close(actual, expected, tol)                                         \
    do {                                                                               \
        double a_ = (actual), e_ = (expected), t_ = (tol);                             \
        ck_assert_in_loop(fabs(a_ - e_) <= t_, "%s = %.17g, expected %.17g (tol %g)",  \
                          #actual, a_, e_, t_);                                        \
    } while (0)

/* ---- scratch files ------------------------------------------------------------------ */
/* For the tests that write files: a fresh directory /tmp/agrad_<tag>_XXXXXX
 * (dir holds at least 64 bytes) and `path`, the file `name` in it (path
 * holds at least 128); scratch_remove deletes both. */
void scratch_create(char *dir, char *path, const char *tag, const char *name);
void scratch_remove(const char *dir, const char *path);
/* writes text to path, replacing what was there */
void write_text_file(const char *path, const char *text);

/* ---- suites ------------------------------------------------------------------------- */
#define SUITE(name) Suite *name##_suite(void);
#include "suites.def"
#undef SUITE

#endif
