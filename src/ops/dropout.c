/* dropout.c -- inverted dropout, torch.nn.functional.dropout in training:
 *   keep_k ~ Bernoulli(1 - p), drawn as u_k < 1 - p for u_k uniform in [0, 1)
 *   m_k    = keep_k / (1 - p)           (0 or 1/(1 - p); 0 everywhere when p = 1)
 *   y_k    = x_k m_k                    (IEEE: a dropped Inf or NaN gives NaN,
 *                                        as PyTorch's input * noise)
 *   vjp  gx_k += gy_k m_k;   jvp  ty_k = m_k tx_k
 * The mask m is the node's aux, drawn from the generator the node keeps at
 * every forward: when recorded and at every replay, so a replayed graph
 * trains as a rebuilt one would. Recorded, by a companion op that reads the
 * aux of the dropout node given as its second input at its own forward (so
 * a replay's new mask reaches the recorded derivatives too):
 *   gx = dropout_apply(gy, node) = gy * m,   ty = dropout_apply(tx, node)
 * The mask does not depend on x: the node gets no share from it, and the
 * second derivative of dropout is 0. */
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>

extern const ag_op ag_op_dropout;
static const ag_op op_dropout_apply;

static int dropout_print_params(const ag_node *out, char *buf, size_t len)
{
    return snprintf(buf, len, "p=%.17g", AG_PARAMS(out, const ag_dropout_params)->p);
}

/* y has x's shape; p in [0, 1] (not NaN), a generator to draw from */
static bool dropout_shape(ag_node *out, char *why, size_t len)
{
    const ag_dropout_params *p = AG_PARAMS(out, const ag_dropout_params);
    if (!(p->p >= 0.0 && p->p <= 1.0)) {
        snprintf(why, len, "p = %g is not a probability in [0, 1]", p->p);
        return false;
    }
    if (!p->rng) {
        snprintf(why, len, "the generator (rng) is NULL");
        return false;
    }
    out->shape = out->in[0]->shape;
    return true;
}

static size_t one_per_element(const ag_node *out) { return out->shape.size; }

/* m_k = (u_k < 1 - p) / (1 - p), u_k drawn from rng in order k = 0, 1, ... */
static void draw_mask(double *m, size_t n, double p, ag_rng *rng)
{
    double keep = 1.0 - p, scale = 1.0 / keep; /* scale Inf at p = 1: never used */
    for (size_t k = 0; k < n; k++) m[k] = ag_rng_uniform(rng, 0.0, 1.0) < keep ? scale : 0.0;
}

/* y = x m, the mask drawn anew (a held node redraws its last one); the
 * mask stays in doubles (the aux) whatever the type */
static void draw_node_mask(ag_node *out)
{
    ag_dropout_params *p = AG_PARAMS(out, ag_dropout_params);
    if (p->held) {
        ag_rng again = p->drawn_from;
        draw_mask(out->aux, out->shape.size, p->p, &again);
    } else {
        p->drawn_from = *p->rng;
        draw_mask(out->aux, out->shape.size, p->p, p->rng);
    }
}

/* forward y = x m and vjp gx += gy m, stamped for double and float (in
 * float32 the product x m is formed in double, m being a double, and
 * rounded once to float) */
#define DROPOUT_KERNELS(real, SUFFIX)                                                       \
    static bool dropout_forward##SUFFIX(ag_node *out, char *why, size_t len)               \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        draw_node_mask(out);                                                               \
        const real *x = (const real *)(const void *)out->in[0]->value;                     \
        const double *m = out->aux;                                                        \
        real *y = (real *)(void *)out->value;                                              \
        for (size_t k = 0; k < out->shape.size; k++) y[k] = (real)(x[k] * m[k]);           \
        return true;                                                                       \
    }                                                                                      \
    static void dropout_vjp##SUFFIX(ag_node *out)                                          \
    {                                                                                      \
        real *gx = (real *)(void *)out->in[0]->grad;                                       \
        const real *gy = (const real *)(const void *)out->grad;                            \
        for (size_t k = 0; k < out->shape.size; k++) gx[k] += (real)(gy[k] * out->aux[k]); \
    }
DROPOUT_KERNELS(double, )
DROPOUT_KERNELS(float, _f32)
static const ag_typed_kernels dropout_f32 = {{dropout_forward_f32, dropout_vjp_f32}, NULL};

/* ty = m tx */
static void dropout_jvp(ag_node *out)
{
    const double *tx = out->in[0]->tangent;
    for (size_t k = 0; k < out->shape.size; k++) out->tangent[k] = out->aux[k] * tx[k];
}

/* t * m of the dropout node `node`, as it is at the companion's forward */
static ag_node *times_mask(ag_node *t, ag_node *node) { return ag_record2(&op_dropout_apply, t, node, NULL); }

/* gx = gy m (gy as out's shape: the root's seed may be 0-d) */
static bool dropout_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = times_mask(ag_rec_reshape_to(gy, &out->shape), out);
    return gx[0] != NULL;
}

static ag_node *dropout_jvp_nodes(ag_node *out, ag_node *const *tx) { return times_mask(tx[0], out); }

const ag_op ag_op_dropout = {.name = "dropout", .arity = 1, .params_size = sizeof(ag_dropout_params),
                             .print_params = dropout_print_params, .shape = dropout_shape,
                             .kernels = {dropout_forward, dropout_vjp}, .jvp = dropout_jvp,
                             .vjp_nodes = dropout_vjp_nodes, .jvp_nodes = dropout_jvp_nodes,
                             .aux_size = one_per_element, .f32 = &dropout_f32};

ag_node *ag_dropout(ag_node *x, double p, ag_rng *rng, bool training)
{
    /* as PyTorch: x itself when not training or when p = 0 (nothing drawn);
     * an invalid p is refused by the shape rule either way */
    bool valid = p >= 0.0 && p <= 1.0;
    if (valid && (!training || p == 0.0)) return x;
    return ag_record1(&ag_op_dropout, x, &(ag_dropout_params){.p = p, .rng = rng});
}

bool ag_dropout_hold_mask(ag_node *n)
{
    if (!n || n->op != &ag_op_dropout) return false;
    AG_PARAMS(n, ag_dropout_params)->held = true;
    return true;
}

/* ---- the companion: t * the mask a dropout node (in[1]) holds now ------------------ */

static bool apply_shape(ag_node *out, char *why, size_t len)
{
    const ag_node *t = out->in[0], *node = out->in[1];
    if (node->op != &ag_op_dropout) {
        snprintf(why, len, "the second operand must be a dropout node, not a %s node", node->op->name);
        return false;
    }
    if (!ag_shape_equal(&t->shape, &node->shape)) {
        snprintf(why, len, "the first operand must have the dropout node's shape");
        return false;
    }
    out->shape = t->shape;
    return true;
}

/* y = t m */
static bool apply_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const double *t = out->in[0]->value, *m = out->in[1]->aux;
    for (size_t k = 0; k < out->shape.size; k++) out->value[k] = t[k] * m[k];
    return true;
}

/* gt += gy m (the dropout node gets no share: m does not depend on x) */
static void apply_vjp(ag_node *out)
{
    double *gt = out->in[0]->grad;
    if (!gt) return;
    const double *m = out->in[1]->aux;
    for (size_t k = 0; k < out->shape.size; k++) gt[k] += out->grad[k] * m[k];
}

/* ty = m tt, zeros without a tangent for t */
static void apply_jvp(ag_node *out)
{
    const double *tt = out->in[0]->tangent, *m = out->in[1]->aux;
    for (size_t k = 0; k < out->shape.size; k++) out->tangent[k] = tt ? m[k] * tt[k] : 0.0;
}

/* diagonal, so its own transpose: gt = gy m */
static bool apply_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    gx[0] = times_mask(ag_rec_reshape_to(gy, &out->shape), out->in[1]);
    return gx[0] != NULL;
}

static ag_node *apply_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    if (!tx[0]) return ag_rec_zeros(out->graph, &out->shape);
    return times_mask(tx[0], out->in[1]);
}

static const ag_op op_dropout_apply = {.name = "dropout_apply", .arity = 2, .shape = apply_shape,
                                       .kernels = {apply_forward, apply_vjp}, .jvp = apply_jvp,
                                       .vjp_nodes = apply_vjp_nodes, .jvp_nodes = apply_jvp_nodes};
