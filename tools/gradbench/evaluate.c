/* evaluate.c -- running one function of an eval and timing it as GradBench's
 * C++ tools do: at least min_runs runs and at least min_seconds of run time,
 * one "evaluate" timing per run, parsing and printing excluded. */
#include "gradbench.h"

#include <string.h>
#include <time.h>

/* Each run's timing is kept (a JSON object of ~600 bytes) until the answer
 * is written: at most this many runs, ~0.6 GB. */
#define GB_MAX_RUNS 1000000L

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool read_runs(const json_t *input, gb_runs *runs, gb_error *err)
{
    runs->min_runs = 1;
    runs->min_seconds = 0.0;
    long n;
    if (!json_is_object(input)) /* hello's input is a bare number */
        return true;
    if (json_object_get(input, "min_runs")) {
        if (!gb_get_int(input, "min_runs", &n, err))
            return false;
        if (n < 1 || n > GB_MAX_RUNS)
            return gb_fail(err, "input: \"min_runs\" must be between 1 and %ld, not %ld", (long)GB_MAX_RUNS, n);
        runs->min_runs = (int)n;
    }
    if (json_object_get(input, "min_seconds")) {
        if (!gb_get_double(input, "min_seconds", &runs->min_seconds, err))
            return false;
        if (!(runs->min_seconds >= 0.0 && runs->min_seconds <= 1e6))
            return gb_fail(err, "input: \"min_seconds\" must be between 0 and 1e6");
    }
    return true;
}

static json_t *timing(const char *name, long long ns)
{
    return json_pack("{s:s, s:I}", "name", name, "nanoseconds", (json_int_t)ns);
}

/* One timed run: in rebuild mode the graph is recorded anew, in replay mode
 * it is recomputed on the inputs. */
static bool one_run(const gb_program *p, ag_graph *g, gb_mode mode, gb_error *err)
{
    if (p->record && mode == GB_REBUILD) {
        ag_graph_reset(g);
        if (!p->record(p->ctx, g, err))
            return gb_fail_graph(err, g, "record");
    } else if (p->record && !ag_graph_forward(g)) {
        return gb_fail_graph(err, g, "replay");
    }
    return p->run(p->ctx, g, err) || gb_fail_graph(err, g, "run");
}

/* Runs p as often as runs asks, appending one "evaluate" timing per run. */
static bool time_runs(const gb_program *p, ag_graph *g, gb_mode mode, const gb_runs *runs, json_t *timings,
                      gb_error *err)
{
    double seconds = 0.0;
    for (long i = 0; i < runs->min_runs || seconds < runs->min_seconds; i++) {
        if (i == GB_MAX_RUNS)
            return gb_fail(err, "ran %ld times in %.3g s, short of min_seconds %g: at most %ld runs are timed",
                           i, seconds, runs->min_seconds, (long)GB_MAX_RUNS);
        long long start = now_ns();
        if (!one_run(p, g, mode, err))
            return false;
        long long ns = now_ns() - start;
        json_array_append_new(timings, timing("evaluate", ns));
        seconds += (double)ns * 1e-9;
    }
    return true;
}

/* prepare + (replay: the one untimed recording) + the timed runs. */
static json_t *evaluate_program(const gb_function *f, const json_t *input, gb_mode mode, gb_error *err)
{
    gb_runs runs;
    gb_program p = {0};
    ag_graph *g = NULL;
    json_t *timings = json_array(), *output = NULL;
    long long start = now_ns();
    bool ok = read_runs(input, &runs, err) && f->prepare(input, f->variant, &p, err);
    if (ok && !(g = ag_graph_new()))
        ok = gb_fail(err, "graph: %s", ag_last_error());
    if (ok && p.record && mode == GB_REPLAY && !p.record(p.ctx, g, err))
        ok = gb_fail_graph(err, g, "record");
    if (ok)
        json_array_append_new(timings, timing("prepare", now_ns() - start));
    if (ok && time_runs(&p, g, mode, &runs, timings, err))
        output = p.output(p.ctx);
    if (ok && !output)
        gb_fail(err, "output: out of memory");
    if (p.free)
        p.free(p.ctx);
    ag_graph_free(g);
    if (!output) {
        json_decref(timings);
        return NULL;
    }
    return json_pack("{s:b, s:o, s:o}", "success", 1, "output", output, "timings", timings);
}

/* The answer to a failed evaluation: the message, led by "EVAL FUNCTION: "
 * unless it names the eval already. */
static json_t *failure(const gb_eval *eval, const char *function, const gb_error *err)
{
    const char *why = err->message[0] ? err->message : "failed";
    size_t n = strlen(eval->name);
    bool named = strncmp(why, eval->name, n) == 0 && (why[n] == ':' || why[n] == ' ');
    return named ? json_pack("{s:b, s:s}", "success", 0, "error", why)
                 : json_pack("{s:b, s:s++++}", "success", 0, "error", eval->name, " ", function, ": ", why);
}

json_t *gb_evaluate(const gb_eval *eval, const char *function, const json_t *input, gb_mode mode)
{
    gb_error err = {{0}};
    for (size_t i = 0; eval && function && i < eval->n_functions; i++) {
        if (strcmp(eval->functions[i].name, function) == 0) {
            json_t *answer = evaluate_program(&eval->functions[i], input, mode, &err);
            return answer ? answer : failure(eval, function, &err);
        }
    }
    gb_fail(&err, "%s: no function \"%s\"", eval ? eval->name : "(no module defined)",
            function ? function : "(none)");
    return json_pack("{s:b, s:s}", "success", 0, "error", err.message);
}
