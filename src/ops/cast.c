/* cast.c -- ag_cast: a tensor converted to another element type.
 *   forward  y[k] = x[k] converted (float64 -> float32 rounds to nearest,
 *            float32 -> float64 is exact; the same type copies)
 *   vjp      gx[k] += gy[k] converted back to x's type   (dy/dx = 1)
 *   jvp      ty = tx (float64 graphs only: the study calls refuse float32)
 * The same forward and vjp serve as the op's float64 and float32 kernels:
 * they read the operand's type and, from the parameters, the result's. */
#include "params.h"
#include "recorded.h"

#include <stdio.h>

/* y[k] = (OUT)x[k] over n elements, and gx[k] += (IN)gy[k] */
#define CAST_LOOPS(IN, OUT, NAME)                                                          \
    static void NAME##_values(const ag_node *out)                                          \
    {                                                                                      \
        const IN *x = (const IN *)(const void *)out->in[0]->value;                         \
        OUT *y = (OUT *)(void *)out->value;                                                \
        for (size_t k = 0; k < out->shape.size; k++) y[k] = (OUT)x[k];                     \
    }                                                                                      \
    static void NAME##_grads(const ag_node *out)                                           \
    {                                                                                      \
        const OUT *gy = (const OUT *)(const void *)out->grad;                              \
        IN *gx = (IN *)(void *)out->in[0]->grad;                                           \
        for (size_t k = 0; k < out->shape.size; k++) gx[k] += (IN)gy[k];                   \
    }

CAST_LOOPS(double, double, f64_to_f64)
CAST_LOOPS(double, float, f64_to_f32)
CAST_LOOPS(float, double, f32_to_f64)
CAST_LOOPS(float, float, f32_to_f32)

static ag_dtype cast_target(const ag_node *out) { return AG_PARAMS(out, const ag_cast_params)->to; }

/* One forward and one vjp for every pair of types (the op's float64 and
 * float32 kernels are both these): which loop, by the operand's type and
 * the result's. */
static bool cast_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    bool from32 = out->in[0]->dtype == AG_FLOAT32, to32 = cast_target(out) == AG_FLOAT32;
    if (from32)
        to32 ? f32_to_f32_values(out) : f32_to_f64_values(out);
    else
        to32 ? f64_to_f32_values(out) : f64_to_f64_values(out);
    return true;
}

static void cast_vjp(ag_node *out)
{
    if (!out->in[0]->grad) return;
    bool from32 = out->in[0]->dtype == AG_FLOAT32, to32 = cast_target(out) == AG_FLOAT32;
    if (from32)
        to32 ? f32_to_f32_grads(out) : f32_to_f64_grads(out);
    else
        to32 ? f64_to_f32_grads(out) : f64_to_f64_grads(out);
}

/* float64 graphs only (a float32 result makes the graph one the study calls
 * refuse): the cast is then a copy, and its tangent the operand's */
static void cast_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    for (size_t k = 0; k < out->shape.size; k++) out->tangent[k] = tx ? tx[k] : 0.0;
}

static bool cast_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    (void)out;
    gx[0] = gy;
    return true;
}

static ag_node *cast_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    (void)out;
    return tx[0];
}

static bool cast_shape(ag_node *out, char *why, size_t len)
{
    ag_dtype to = cast_target(out);
    if (to != AG_FLOAT64 && to != AG_FLOAT32) {
        snprintf(why, len, "unknown element type %d (AG_FLOAT64 or AG_FLOAT32)", (int)to);
        return false;
    }
    out->shape = out->in[0]->shape;
    out->dtype = (uint8_t)to; /* the result's type, not the operand's */
    if (to == AG_FLOAT32) out->graph->has_float32 = true;
    return true;
}

static int cast_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "to=%s", ag_dtype_name(cast_target(out)));
}

static const ag_typed_kernels cast_f32 = {{cast_forward, cast_vjp}, NULL};

const ag_op ag_op_cast = {.name = "cast", .arity = 1, .params_size = sizeof(ag_cast_params),
                          .print_params = cast_print_params, .shape = cast_shape,
                          .kernels = {cast_forward, cast_vjp}, .jvp = cast_jvp,
                          .vjp_nodes = cast_vjp_nodes, .jvp_nodes = cast_jvp_nodes,
                          .f32 = &cast_f32};

ag_node *ag_cast(ag_node *x, ag_dtype dtype)
{
    return ag_record1(&ag_op_cast, x, &(ag_cast_params){dtype});
}

bool ag_op_supports_dtype(const char *name, ag_dtype dtype)
{
    if (!name) return false;
    for (size_t i = 0; i < ag_n_ops; i++)
        if (strcmp(ag_all_ops[i]->name, name) == 0)
            return dtype == AG_FLOAT64 || (dtype == AG_FLOAT32 && ag_all_ops[i]->f32 != NULL);
    return false;
}
