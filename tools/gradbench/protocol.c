/* protocol.c -- the GradBench protocol: one JSON message a line in, one JSON
 * answer a line out (CONTRIBUTING.md of GradBench, "Protocol").
 *   start     -> {"id", "tool": "agrad"}
 *   define    -> {"id", "success"} (false, with "error", for an unknown module)
 *   evaluate  -> {"id", "success", "output", "timings"} (gb_evaluate)
 *   analysis and anything else -> {"id"} */
#include "gradbench.h"

#include <stdlib.h>
#include <string.h>

const gb_eval *gb_find_eval(const char *name)
{
    for (size_t i = 0; name && gb_evals[i]; i++)
        if (strcmp(gb_evals[i]->name, name) == 0)
            return gb_evals[i];
    return NULL;
}

static json_t *answer_define(const json_t *msg, const gb_eval **defined)
{
    const char *module = json_string_value(json_object_get(msg, "module"));
    const gb_eval *eval = gb_find_eval(module);
    if (!eval || eval->n_functions == 0)
        return json_pack("{s:b, s:s+}", "success", 0, "error", "agrad does not implement the module ",
                         module ? module : "(none)");
    *defined = eval;
    return json_pack("{s:b}", "success", 1);
}

static json_t *answer_evaluate(const json_t *msg, const gb_eval *defined, gb_mode mode)
{
    const char *module = json_string_value(json_object_get(msg, "module"));
    const gb_eval *eval = module ? gb_find_eval(module) : defined;
    if (module && !eval)
        return json_pack("{s:b, s:s+}", "success", 0, "error", "unknown module ", module);
    return gb_evaluate(eval, json_string_value(json_object_get(msg, "function")),
                       json_object_get(msg, "input"), mode);
}

/* The answer to one message (with its id). */
static json_t *answer(const json_t *msg, const gb_eval **defined, gb_mode mode)
{
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    json_t *a = NULL;
    if (kind && strcmp(kind, "start") == 0)
        a = json_pack("{s:s}", "tool", "agrad");
    else if (kind && strcmp(kind, "define") == 0)
        a = answer_define(msg, defined);
    else if (kind && strcmp(kind, "evaluate") == 0)
        a = answer_evaluate(msg, *defined, mode);
    else
        a = json_object();
    json_t *id = json_object_get(msg, "id");
    if (a && id)
        json_object_set(a, "id", id);
    return a;
}

static void send(FILE *out, json_t *a)
{
    char *line = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    fprintf(out, "%s\n", line ? line : "{\"success\":false,\"error\":\"out of memory\"}");
    fflush(out);
    free(line);
    json_decref(a);
}

int gb_serve(FILE *in, FILE *out, gb_mode mode)
{
    const gb_eval *defined = NULL;
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    while (getline(&line, &cap, in) > 0) {
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        json_error_t jerr;
        json_t *msg = json_loads(line, 0, &jerr);
        if (!json_is_object(msg)) {
            send(out, json_pack("{s:b, s:s+}", "success", 0, "error", "the line is not a JSON object: ",
                                msg ? "valid JSON of another kind" : jerr.text));
            status = 1;
        } else {
            send(out, answer(msg, &defined, mode));
        }
        json_decref(msg);
    }
    free(line);
    return status;
}
