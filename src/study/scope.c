/* scope.c -- a study call's failure stays the call's.
 *
 * The Jacobians, the Hessians, ag_hvp and ag_jvp study a recorded graph: a
 * misuse of one (a Jacobian with respect to an input, which takes no
 * gradient) says so and returns NULL or false, and the graph goes on as it
 * was, so the call the message advises (ag_jacobian_fwd) works next. Inside,
 * such a call reports with ag_graph_fail like the rest of the library (a
 * nested ag_grad or backward does too); ag_study_end then takes the error
 * back from the graph: the message stays readable (ag_graph_error, while the
 * graph has no error of its own, and ag_last_error) and the graph has not
 * failed. What such a call may leave behind is harmless: nodes of a
 * recorded gradient that nothing uses, tangents of a sweep cut short. */
#include "../internal.h"

bool ag_study_begin(ag_graph *g, const char *who)
{
    if (!g) return ag_graph_is_null(who);
    g->study_failed = false; /* the last study call's message goes with it */
    if (g->failed) {
        ag_set_last_error("%s: the graph failed earlier: %s", who, g->error);
        return false;
    }
    if (g->has_float32) {
        ag_set_last_error("%s: the graph holds float32 nodes; the study calls work in float64 "
                          "(record it from float64 tensors: ag_tensor_to_dtype)", who);
        return false;
    }
    return true;
}

bool ag_study_end(ag_graph *g, const char *who, bool ok)
{
    if (!ok && !g->failed) /* every failure names itself; this is a safety net */
        ag_graph_fail(g, "%s: failed", who);
    if (g->failed) {
        g->failed = false;
        g->failed_in_replay = false;
        g->study_failed = true;
        ag_set_last_error("%s", g->error);
        return false;
    }
    return true;
}

ag_tensor *ag_study_end_tensor(ag_graph *g, const char *who, ag_tensor *result)
{
    if (ag_study_end(g, who, result != NULL)) return result;
    ag_tensor_free(result);
    return NULL;
}
