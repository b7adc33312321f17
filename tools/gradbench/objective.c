/* objective.c -- the program of a scalar function of parameter tensors:
 * record it, then read its value or take its gradient by one backward sweep. */
#include "gradbench.h"

#include <stdlib.h>

gb_objective *gb_objective_new(gb_error *err)
{
    gb_objective *o = calloc(1, sizeof *o);
    if (!o)
        gb_fail(err, "out of memory");
    return o;
}

gb_objective *gb_objective_with_data(size_t data_size, void (*free_data)(void *data), gb_error *err)
{
    gb_objective *o = gb_objective_new(err);
    void *data = o ? calloc(1, data_size) : NULL;
    if (!data) {
        free(o);
        gb_fail(err, "out of memory");
        return NULL;
    }
    o->data = data;
    o->free_data = free_data;
    return o;
}

ag_tensor *gb_objective_param(gb_objective *o, int ndim, const int *shape, const double *data, gb_error *err)
{
    if (o->n_params == GB_MAX_PARAMS) {
        gb_fail(err, "more than %d parameter tensors", GB_MAX_PARAMS);
        return NULL;
    }
    ag_tensor *t = gb_tensor(ndim, shape, data, err);
    if (t && !ag_tensor_requires_grad(t, true)) {
        gb_fail(err, "tensor: %s", ag_last_error());
        ag_tensor_free(t);
        t = NULL;
    }
    if (t)
        o->params[o->n_params++] = t;
    return t;
}

void gb_objective_free(gb_objective *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_params; i++)
        ag_tensor_free(o->params[i]);
    if (o->free_data)
        o->free_data(o->data);
    free(o);
}

static bool objective_record(void *ctx, ag_graph *g, gb_error *err)
{
    gb_objective *o = ctx;
    o->root = o->value_node = NULL;
    /* the primal's parameters take no gradient: its graph holds no gradient buffers */
    for (size_t i = 0; !o->gradient && !o->derivatives_recorded && i < o->n_params; i++)
        if (!ag_tensor_requires_grad(o->params[i], false))
            return gb_fail(err, "record: %s", ag_last_error());
    if (!o->build(o, g, err) || !o->root)
        return gb_fail_graph(err, g, "record");
    if (o->gradient && ag_node_size(o->root) != 1)
        return gb_fail(err, "record: the function's root has %zu elements, not 1", ag_node_size(o->root));
    return true;
}

/* gradient: zero the parameters' gradients, one backward sweep from the root */
static bool objective_run(void *ctx, ag_graph *g, gb_error *err)
{
    gb_objective *o = ctx;
    if (!o->gradient)
        return true;
    for (size_t i = 0; i < o->n_params; i++)
        ag_tensor_zero_grad(o->params[i]);
    return ag_backward(g, o->root) || gb_fail_graph(err, g, "backward");
}

static json_t *objective_output(void *ctx)
{
    const gb_objective *o = ctx;
    if (o->output)
        return o->output(o);
    if (!o->gradient) {
        const ag_node *v = o->value_node ? o->value_node : o->root;
        size_t n = ag_node_size(v);
        return n == 1 ? gb_json_number(ag_node_value(v)[0]) : gb_json_vector(ag_node_value(v), n);
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < o->n_params; i++) {
        json_t *part = gb_json_vector(ag_tensor_grad(o->params[i]), ag_tensor_size(o->params[i]));
        json_array_extend(a, part);
        json_decref(part);
    }
    return a;
}

static void objective_free(void *ctx) { gb_objective_free(ctx); }

bool gb_objective_program(gb_objective *o, gb_program *p, gb_error *err)
{
    if (!o)
        return false;
    if (!o->build) {
        gb_objective_free(o);
        return gb_fail(err, "objective without a build function");
    }
    *p = (gb_program){o, objective_record, objective_run, objective_output, objective_free};
    return true;
}
