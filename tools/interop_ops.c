/* interop_ops.c -- every op of the registry on random operands, written out
 * for tools/torch_compare_ops.py to redo in PyTorch.
 *
 * For each op in ag_all_ops and each of TRIALS cases, the op's test recipe
 * (tests/recipes*.c) builds it on random leaves; a random seed u of the
 * output's shape is drawn and ag_backward_seed(g, out, u) run. One JSON
 * record per case holds what PyTorch needs to redo the case and what to
 * compare:
 *   {"op": "sum_axis", "trial": 0, "params": "axis=1",
 *    "inputs": [{"kind": "param", "shape": [2,3], "values": [...],
 *                "grad": [...] or null,           (null: takes no gradient)
 *                "same_as": 0}, ...],             (only for a repeated operand)
 *    "out": {"shape": [2], "values": [...]}, "seed": [...],
 *    "kept": [...]}                                   (dropout only, below)
 * The params text is the op's print_params ("" for an op without
 * parameters). An op with state (batch_norm's running statistics, when
 * given) also holds
 *    "running": {"mean": [...], "var": [...],              (before one replay)
 *                "mean_after": [...], "var_after": [...]}  (after it)
 * around one ag_graph_forward replay (a training step: PyTorch redoes it
 * from "mean" and "var" and compares what it leaves with the "after"s; in
 * eval mode they are the statistics read, unchanged). Doubles are written with 17 significant digits (they read
 * back exactly); NaN and +-Inf, which JSON lacks, as the strings "nan",
 * "inf" and "-inf". A dropout case also holds "kept", 1 or 0 per element of
 * the mask agrad drew (PyTorch's generator draws other ones): PyTorch then
 * applies that mask, so what is compared is what dropout does with a mask.
 * All records go to DIR/ops.json:
 *   {"format": "agrad-interop-ops 1", "trials": T,
 *    "registry": ["add", ...], "cases": [...]}
 *
 * The recipes assert with Check (ck_assert), so each op runs as one
 * iteration of a Check loop test in this process (CK_NOFORK): a recipe that
 * fails is reported with its file, line and message, and the others still
 * run; any failure makes the exit status 1.
 *
 *   interop_ops DIR [TRIALS]                                                  */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"
#include "ops/params.h"

enum { DEFAULT_TRIALS = 6, MAX_TRIALS = 1000 };

static int trials = DEFAULT_TRIALS;
static json_t *cases;  /* the records written so far */
static size_t *case_count; /* per registry op */

/* ---- JSON values ---------------------------------------------------------------- */

static json_t *json_double(double x)
{
    if (isnan(x)) return json_string("nan");
    if (isinf(x)) return json_string(x > 0 ? "inf" : "-inf");
    return json_real(x);
}

static json_t *json_doubles(const double *x, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_double(x[i]));
    return list;
}

static json_t *json_shape(const ag_shape *s)
{
    json_t *list = json_array();
    for (int d = 0; d < s->ndim; d++) json_array_append_new(list, json_integer(s->dims[d]));
    return list;
}

/* ---- one case ----------------------------------------------------------------------- */

/* The op's parameters as print_params writes them ("" without a printer). */
static json_t *params_text(const ag_node *out)
{
    if (!out->op->print_params) return json_string("");
    char small[256];
    int n = out->op->print_params(out, small, sizeof small);
    ck_assert_msg(n >= 0, "%s: print_params failed", out->op->name);
    if ((size_t)n < sizeof small) return json_string(small);
    char *big = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(big);
    out->op->print_params(out, big, (size_t)n + 1);
    json_t *text = json_string(big);
    free(big);
    return text;
}

/* `target` is `n` or one of the nodes n was computed from. */
static bool depends_on(const ag_node *n, const ag_node *target)
{
    if (n == target) return true;
    for (uint32_t k = 0; k < n->n_in; k++)
        if (depends_on(n->inputs[k], target)) return true;
    return false;
}

/* The first position j < k holding the same operand as position k (the same
 * node, or a parameter leaf of the same tensor, whose value is that tensor's
 * data: PyTorch then uses one tensor
 * twice), or -1. */
static int same_operand_as(const ag_node *out, uint32_t k)
{
    const ag_node *x = out->inputs[k];
    for (uint32_t j = 0; j < k; j++) {
        const ag_node *y = out->inputs[j];
        if (y == x || (x->op == &ag_op_param && y->op == &ag_op_param && x->value == y->value)) return (int)j;
    }
    return -1;
}

/* PyTorch redoes the op on independent tensors, so an operand that takes a
 * gradient must not also feed another operand (its gradient here would hold
 * that path too). Recipes build ops straight on leaves, which never do. */
static void assert_operands_independent(const ag_node *out)
{
    for (uint32_t k = 0; k < out->n_in; k++) {
        const ag_node *x = out->inputs[k];
        if (!x->grad) continue;
        for (uint32_t j = 0; j < out->n_in; j++)
            ck_assert_msg(out->inputs[j] == x || !depends_on(out->inputs[j], x),
                          "%s: operand %u (a %s node) feeds operand %u too: the cross-check needs "
                          "operands recorded independently (build the recipe on leaves)",
                          out->op->name, k, x->op->name, j);
    }
}

static json_t *operand_record(const ag_node *out, uint32_t k)
{
    const ag_node *x = out->inputs[k];
    json_t *rec = json_object();
    json_object_set_new(rec, "kind", json_string(x->op->name));
    json_object_set_new(rec, "shape", json_shape(&x->shape));
    json_object_set_new(rec, "values", json_doubles(x->value, x->shape.size));
    /* a parameter leaf's grad is its tensor's gradient; an op node's, d<u,out>/d(node) */
    json_object_set_new(rec, "grad", x->grad ? json_doubles(x->grad, x->shape.size) : json_null());
    int same = same_operand_as(out, k);
    if (same >= 0) json_object_set_new(rec, "same_as", json_integer(same));
    return rec;
}

/* dropout's mask (aux: 0 or 1/(1 - p)) as 1 where kept, 0 where dropped */
static json_t *kept_flags(const ag_node *dropout)
{
    json_t *list = json_array();
    for (size_t k = 0; k < dropout->shape.size; k++)
        json_array_append_new(list, json_integer(dropout->aux[k] != 0.0));
    return list;
}

/* batch_norm's running statistics around one replay of g (NULL for any
 * other op, or without them); the replay is checked to change no value */
static json_t *running_record(ag_graph *g, const ag_node *out)
{
    if (strcmp(out->op->name, "batch_norm") != 0) return NULL;
    const ag_batch_norm_params *p = AG_PARAMS(out, const ag_batch_norm_params);
    if (!p->running_mean) return NULL;
    size_t C = p->running_mean->shape.size;
    json_t *rec = json_object();
    json_object_set_new(rec, "mean", json_doubles(p->running_mean->data, C));
    json_object_set_new(rec, "var", json_doubles(p->running_var->data, C));
    double *before = malloc(out->shape.size * sizeof *before);
    ck_assert_ptr_nonnull(before);
    memcpy(before, out->value, out->shape.size * sizeof *before);
    ck_assert_msg(ag_graph_forward(g), "batch_norm: replay failed: %s", ag_graph_error(g));
    ck_assert_msg(memcmp(before, out->value, out->shape.size * sizeof *before) == 0,
                  "batch_norm: a replay on the same data changed the value");
    free(before);
    json_object_set_new(rec, "mean_after", json_doubles(p->running_mean->data, C));
    json_object_set_new(rec, "var_after", json_doubles(p->running_var->data, C));
    return rec;
}

/* One case of op: its recipe, a random seed, backward; the record appended. */
static void export_case(const ag_op *op, op_recipe recipe, test_rng *r, int trial)
{
    ag_graph *g = ag_graph_new();
    ck_assert_ptr_nonnull(g);
    op_case c = {0};
    ck_assert_msg(recipe(g, r, &c), "%s: the recipe failed: %s", op->name, ag_graph_error(g));
    ag_node *out = c.out;
    ck_assert_msg(out->op == op, "%s: the recipe recorded a '%s' node", op->name, out->op->name);
    assert_operands_independent(out);
    json_t *running = running_record(g, out);

    size_t n_out = out->shape.size;
    double *u = malloc(n_out * sizeof *u);
    ck_assert_ptr_nonnull(u);
    for (size_t i = 0; i < n_out; i++) u[i] = rng_uniform(r, -1.0, 1.0);
    for (int p = 0; p < c.n_params; p++) ag_tensor_zero_grad(c.params[p]);
    ck_assert_msg(ag_backward_seed(g, out, u), "%s: backward failed: %s", op->name, ag_graph_error(g));

    json_t *rec = json_object(), *inputs = json_array();
    json_object_set_new(rec, "op", json_string(op->name));
    json_object_set_new(rec, "trial", json_integer(trial));
    json_object_set_new(rec, "params", params_text(out));
    for (uint32_t k = 0; k < out->n_in; k++) json_array_append_new(inputs, operand_record(out, k));
    json_object_set_new(rec, "inputs", inputs);
    json_t *value = json_object();
    json_object_set_new(value, "shape", json_shape(&out->shape));
    json_object_set_new(value, "values", json_doubles(out->value, n_out));
    json_object_set_new(rec, "out", value);
    json_object_set_new(rec, "seed", json_doubles(u, n_out));
    if (strcmp(op->name, "dropout") == 0) json_object_set_new(rec, "kept", kept_flags(out));
    if (running) json_object_set_new(rec, "running", running);
    json_array_append_new(cases, rec);

    free(u);
    op_case_free(&c);
    ag_graph_free(g);
}

/* FNV-1a of the op's name: each op's cases stay the same when ops are added
 * to the registry or reordered. */
static uint64_t seed_of(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = (h ^ *s) * 0x100000001b3ull;
    return h;
}

/* _i is the op's index in the registry (a loop test) */
START_TEST(export_op)
{
    const ag_op *op = ag_all_ops[_i];
    op_recipe recipe = recipe_for(op->name);
    ck_assert_msg(recipe != NULL, "op '%s' has no test recipe in tests/recipes*.c", op->name);
    test_rng r = {seed_of(op->name)};
    for (int trial = 0; trial < trials; trial++) {
        export_case(op, recipe, &r, trial);
        case_count[_i]++;
    }
}
END_TEST

/* ---- the file -------------------------------------------------------------------------- */

static bool write_file(const char *dir)
{
    json_t *root = json_object(), *registry = json_array();
    for (size_t i = 0; i < ag_n_ops; i++) json_array_append_new(registry, json_string(ag_all_ops[i]->name));
    json_object_set_new(root, "format", json_string("agrad-interop-ops 1"));
    json_object_set_new(root, "trials", json_integer(trials));
    json_object_set_new(root, "registry", registry);
    json_object_set(root, "cases", cases);
    char path[4096];
    snprintf(path, sizeof path, "%s/ops.json", dir);
    /* 17 significant digits: every double reads back as itself */
    bool ok = json_dump_file(root, path, JSON_COMPACT | JSON_REAL_PRECISION(17)) == 0;
    if (!ok) fprintf(stderr, "interop_ops: cannot write %s\n", path);
    json_decref(root);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: interop_ops DIR [TRIALS]\n");
        return 2;
    }
    if (argc == 3) {
        char *end;
        long t = strtol(argv[2], &end, 10);
        if (*end || t < 1 || t > MAX_TRIALS) {
            fprintf(stderr, "interop_ops: TRIALS must be a whole number from 1 to %d, not '%s'\n",
                    MAX_TRIALS, argv[2]);
            return 2;
        }
        trials = (int)t;
    }
    cases = json_array();
    case_count = calloc(ag_n_ops, sizeof *case_count);
    if (!cases || !case_count) return fprintf(stderr, "interop_ops: out of memory\n"), 1;

    Suite *s = suite_create("interop_ops");
    TCase *tc = tcase_create("export");
    tcase_add_loop_test(tc, export_op, 0, (int)ag_n_ops);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_set_fork_status(runner, CK_NOFORK); /* the records stay in this process */
    srunner_run(runner, "interop_ops", "export", CK_SILENT);

    int n_failed = srunner_ntests_failed(runner);
    TestResult **failures = srunner_failures(runner);
    for (int i = 0; i < n_failed; i++)
        fprintf(stderr, "interop_ops: %s:%d: %s\n", tr_lfile(failures[i]), tr_lno(failures[i]),
                tr_msg(failures[i]));
    free(failures);
    srunner_free(runner);
    size_t n_exported = 0;
    for (size_t i = 0; i < ag_n_ops; i++) n_exported += case_count[i] == (size_t)trials;
    bool ok = n_failed == 0 && n_exported == ag_n_ops && write_file(argv[1]);
    if (ok)
        printf("agrad: %zu ops x %d cases, values and gradients for seeded backward; wrote %s/ops.json\n",
               ag_n_ops, trials, argv[1]);
    else
        fprintf(stderr, "interop_ops: %zu of %zu ops exported in full\n", n_exported, ag_n_ops);
    json_decref(cases);
    free(case_count);
    return ok ? 0 : 1;
}
