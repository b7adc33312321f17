/*
 * gradbench.h -- agrad's GradBench tool: the protocol, the timing loop and
 * the evals.
 *
 * GradBench (github.com/gradbench/gradbench) sends one JSON message a line
 * on stdin and reads one JSON answer a line on stdout: start, define (a
 * module, i.e. an eval), evaluate (a function of that module on an input,
 * repeated at least min_runs times and for at least min_seconds, each run
 * timed) and analysis (the eval's verdict). protocol.c speaks it; evaluate.c
 * runs and times one function; each eval is one file (lse.c, gmm.c, ...)
 * whose primal is written once with agrad's ops and whose derivatives all
 * come from agrad's automatic differentiation of it.
 *
 * An eval function is split the way a define-by-run engine runs:
 *   prepare  copy the JSON input into tensors (not in the evaluate timings);
 *   record   record the function on a graph, computing its values;
 *   run      take what the function asks for (a gradient, the primal value)
 *            from the recorded graph.
 * Two modes time it:
 *   replay   record once, outside the evaluate timings, then each timed run
 *            replays the graph on the inputs (ag_graph_forward) and calls
 *            run;
 *   rebuild  each timed run resets the graph, records it anew and calls run
 *            (define-by-run, as PyTorch runs).
 * A "prepare" timing reports what comes before the runs: copying the input
 * and, in replay mode, the recording (as ADOL-C's reports its taping).
 * A function whose graph depends on its values (particle and saddle: loops
 * that stop on a condition, nested optimisations) has no record step; its
 * run does everything, in both modes.
 *
 * Threads: one evaluation at a time per process (the tool is a filter).
 */
#ifndef AGRAD_GRADBENCH_H
#define AGRAD_GRADBENCH_H

#include <agrad.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum gb_mode { GB_REPLAY, GB_REBUILD } gb_mode;

/* An error message buffer: the first failure of an evaluation is written
 * here (gb_fail) and sent back as the answer's "error". */
typedef struct gb_error {
    char message[512];
} gb_error;

/* Writes the message (printf-style) unless one is already there; returns false. */
bool gb_fail(gb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* gb_fail with g's error (or ag_last_error() when g has none), prefixed by what. */
bool gb_fail_graph(gb_error *err, ag_graph *g, const char *what);

/* One function of an eval, prepared on its input. ctx is the function's own
 * state (its tensors and output buffers), released by free. */
typedef struct gb_program {
    void *ctx;
    /* Records the function on g (an empty graph); NULL when the function
     * cannot be replayed (see above). */
    bool (*record)(void *ctx, ag_graph *g, gb_error *err);
    /* The timed work after recording: reads the derivatives (or the value)
     * off g into ctx. */
    bool (*run)(void *ctx, ag_graph *g, gb_error *err);
    /* The answer's "output", from ctx (untimed). */
    json_t *(*output)(void *ctx);
    void (*free)(void *ctx);
} gb_program;

/* Parses input into p (untimed) for the function's variant (an eval's own
 * number: 0 primal / 1 gradient, or which AD modes). False with err set on
 * bad input. */
typedef bool (*gb_prepare_fn)(const json_t *input, int variant, gb_program *p, gb_error *err);

typedef struct gb_function {
    const char *name;
    gb_prepare_fn prepare;
    int variant;
} gb_function;

/* The usual variants: the function's value, or its derivative. */
enum { GB_PRIMAL = 0, GB_GRADIENT = 1 };

typedef struct gb_eval {
    const char *name;
    const gb_function *functions;
    size_t n_functions;
} gb_eval;

/* Every eval the tool implements, NULL-terminated (evals.c). */
extern const gb_eval *const gb_evals[];
const gb_eval *gb_find_eval(const char *name);

/* How often a function runs: at least min_runs times and at least
 * min_seconds of summed run time (the input's "min_runs", default 1, and
 * "min_seconds", default 0). */
typedef struct gb_runs {
    int min_runs;
    double min_seconds;
} gb_runs;

/* Evaluates eval's function on input and returns the answer's fields
 * (a new object): {"success":true,"output":...,"timings":[...]} or
 * {"success":false,"error":"..."}. Never NULL unless out of memory. */
json_t *gb_evaluate(const gb_eval *eval, const char *function, const json_t *input, gb_mode mode);

/* Serves the protocol: reads messages from in until its end, answers each on
 * out. Returns 0, or 1 when a line was not a JSON object (answered with an
 * error and skipped). */
int gb_serve(FILE *in, FILE *out, gb_mode mode);

/* ---- JSON helpers (json.c) -------------------------------------------------
 * Each reads a field of an object and fails with a message naming the field
 * and what was wrong. The arrays returned are malloc'd (free them). */
bool gb_get_int(const json_t *obj, const char *field, long *value, gb_error *err);
bool gb_get_double(const json_t *obj, const char *field, double *value, gb_error *err);
/* A flat array of numbers: *n elements. */
bool gb_get_vector(const json_t *obj, const char *field, double **data, size_t *n, gb_error *err);
/* An array of equally long arrays of numbers, row-major: rows x cols. */
bool gb_get_matrix(const json_t *obj, const char *field, double **data, size_t *rows, size_t *cols,
                   gb_error *err);
/* A JSON number; null for inf and NaN, which JSON cannot write (the eval
 * then finds the answer invalid; the tool does not fail). */
json_t *gb_json_number(double x);
/* A new JSON array of n numbers, or of rows arrays of cols numbers. */
json_t *gb_json_vector(const double *data, size_t n);
json_t *gb_json_matrix(const double *data, size_t rows, size_t cols);

/* A tensor holding a copy of data (ndim <= AG_MAX_DIMS); NULL with err set. */
ag_tensor *gb_tensor(int ndim, const int *shape, const double *data, gb_error *err);

/* ---- a scalar function of parameter tensors (objective.c) -------------------
 * The shape of most evals: "primal" (or "objective") is the value of a
 * scalar function of some parameter tensors, "gradient" (or "jacobian") its
 * gradient with respect to them, by one backward sweep. An eval's prepare
 * fills a gb_objective (gb_objective_new) and hands it to
 * gb_objective_program, which owns it from then on. */
#define GB_MAX_PARAMS 8
typedef struct gb_objective gb_objective;
struct gb_objective {
    /* set by the eval's prepare */
    void *data; /* the eval's own state, released by free_data */
    void (*free_data)(void *data);
    /* Records the function on g, with ag_param of o->params, and sets
     * o->root (a scalar node) and optionally o->value_node (what the primal
     * answers, when it is not the root). */
    bool (*build)(gb_objective *o, ag_graph *g, gb_error *err);
    /* The answer; NULL: the primal answers value_node's (or root's) values,
     * a number when it has one element; the gradient answers the params'
     * gradients, flattened and concatenated in order. */
    json_t *(*output)(const gb_objective *o);
    bool gradient; /* take the gradient with respect to params */
    /* build records the derivatives itself, as nodes (kmeans' dir: the answer
     * is a node that ag_graph_forward recomputes). Otherwise, with gradient
     * false, the params take no gradient: the graph holds no gradient buffers. */
    bool derivatives_recorded;
    ag_tensor *params[GB_MAX_PARAMS];
    size_t n_params;
    /* set by build */
    ag_node *root, *value_node;
};
/* A zeroed objective, NULL with err set when out of memory. */
gb_objective *gb_objective_new(gb_error *err);
/* A zeroed objective holding a zeroed data block of data_size bytes (o->data,
 * released by free_data with it); NULL with err set when out of memory. */
gb_objective *gb_objective_with_data(size_t data_size, void (*free_data)(void *data), gb_error *err);
/* Adds a parameter tensor (a copy of data, requiring grad) to o. */
ag_tensor *gb_objective_param(gb_objective *o, int ndim, const int *shape, const double *data, gb_error *err);
/* Fills p from o; p owns o afterwards (also when this fails). */
bool gb_objective_program(gb_objective *o, gb_program *p, gb_error *err);
/* Frees o and what it holds (for a prepare that fails before handing it over). */
void gb_objective_free(gb_objective *o);

/* ---- the evals ------------------------------------------------------------- */
extern const gb_eval gb_eval_hello, gb_eval_lse, gb_eval_llsq, gb_eval_det, gb_eval_ode, gb_eval_gmm,
    gb_eval_lstm, gb_eval_kmeans, gb_eval_particle, gb_eval_saddle;

#endif
