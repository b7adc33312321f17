/* cnn.c -- see cnn.h. */
#include "cnn.h"

#include <math.h>
#include <stdio.h>

/* A store tensor under `name`: a parameter, or a statistic kept as state
 * (no gradient, listed as state in the checkpoint, never trained). */
static ag_tensor *add(ag_params *ps, const char *name, int ndim, const int *shape, bool trainable, ag_dtype dtype)
{
    return trainable ? ag_params_add_dtype(ps, name, ndim, shape, dtype)
                     : ag_params_add_state_dtype(ps, name, ndim, shape, dtype);
}

/* PyTorch's default for nn.Conv2d / nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void init_fan_in(ag_tensor *t, int fan_in, ag_rng *rng)
{
    double bound = 1.0 / sqrt((double)fan_in);
    ag_init_uniform(t, rng, -bound, bound);
}

/* conv{k}.weight [out,in,3,3] and bn{k}.* [out] */
static bool add_conv_block(ag_params *ps, int k, int in, int out, ag_tensor **conv, ag_tensor **weight,
                           ag_tensor **bias, ag_tensor **mean, ag_tensor **var, ag_rng *rng, ag_dtype dtype)
{
    char name[64];
    snprintf(name, sizeof name, "conv%d.weight", k);
    *conv = add(ps, name, 4, (int[]){out, in, 3, 3}, true, dtype);
    snprintf(name, sizeof name, "bn%d.weight", k);
    *weight = add(ps, name, 1, (int[]){out}, true, dtype);
    snprintf(name, sizeof name, "bn%d.bias", k);
    *bias = add(ps, name, 1, (int[]){out}, true, dtype);
    snprintf(name, sizeof name, "bn%d.running_mean", k);
    *mean = add(ps, name, 1, (int[]){out}, false, dtype);
    snprintf(name, sizeof name, "bn%d.running_var", k);
    *var = add(ps, name, 1, (int[]){out}, false, dtype);
    if (!*conv || !*weight || !*bias || !*mean || !*var) return false;
    init_fan_in(*conv, in * 9, rng);
    ag_init_constant(*weight, 1.0);
    ag_init_constant(*var, 1.0);
    return true; /* bias and running mean stay 0 */
}

/* fc{k}.weight [out,in], fc{k}.bias [out] */
static bool add_linear(ag_params *ps, int k, int in, int out, ag_tensor **weight, ag_tensor **bias, ag_rng *rng,
                       ag_dtype dtype)
{
    char name[64];
    snprintf(name, sizeof name, "fc%d.weight", k);
    *weight = add(ps, name, 2, (int[]){out, in}, true, dtype);
    snprintf(name, sizeof name, "fc%d.bias", k);
    *bias = add(ps, name, 1, (int[]){out}, true, dtype);
    if (!*weight || !*bias) return false;
    init_fan_in(*weight, in, rng);
    init_fan_in(*bias, in, rng);
    return true;
}

bool cnn_init(cnn *m, ag_params *ps, const cnn_config *config, ag_rng *rng)
{
    *m = (cnn){.config = *config};
    const cnn_config *c = config;
    if (c->c1 < 1 || c->c2 < 1 || c->hidden < 0 || !(c->dropout >= 0 && c->dropout < 1)) {
        fprintf(stderr, "cnn_init: channels %d,%d must be >= 1, hidden %d >= 0, dropout %g in [0,1)\n",
                c->c1, c->c2, c->hidden, c->dropout);
        return false;
    }
    int flat = c->c2 * 7 * 7;
    if (!add_conv_block(ps, 1, 1, c->c1, &m->conv1, &m->bn1_weight, &m->bn1_bias, &m->bn1_mean,
                        &m->bn1_var, rng, c->dtype) ||
        !add_conv_block(ps, 2, c->c1, c->c2, &m->conv2, &m->bn2_weight, &m->bn2_bias, &m->bn2_mean,
                        &m->bn2_var, rng, c->dtype) ||
        (c->hidden > 0 && !add_linear(ps, 1, flat, c->hidden, &m->fc1_weight, &m->fc1_bias, rng, c->dtype)) ||
        !add_linear(ps, 2, c->hidden > 0 ? c->hidden : flat, CNN_CLASSES, &m->fc2_weight, &m->fc2_bias, rng,
                    c->dtype))
        return false;
    ag_tensor *all[] = {m->conv1, m->bn1_weight, m->bn1_bias, m->conv2, m->bn2_weight,
                        m->bn2_bias, m->fc1_weight, m->fc1_bias, m->fc2_weight, m->fc2_bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) m->trainable[m->n_trainable++] = all[i];
    return true;
}

/* conv3x3(pad 1) -> batch norm -> max pool 2 -> ReLU: [N,in,S,S] -> [N,out,S/2,S/2] */
static ag_node *conv_block(ag_node *x, ag_tensor *conv, ag_tensor *weight, ag_tensor *bias, ag_tensor *mean,
                           ag_tensor *var, bool training)
{
    ag_graph *g = ag_node_graph(x);
    ag_node *y = ag_conv2d(x, ag_param(g, conv), NULL, 1, 1);
    y = ag_batch_norm(y, ag_param(g, weight), ag_param(g, bias), mean, var, CNN_BN_MOMENTUM, CNN_BN_EPS,
                      training);
    return ag_relu(ag_max_pool2d(y, 2, 2));
}

/* x [N,in] -> x @ weight^T + bias [N,out], weight in nn.Linear's [out,in] */
static ag_node *linear(ag_node *x, ag_tensor *weight, ag_tensor *bias)
{
    ag_graph *g = ag_node_graph(x);
    return ag_linear(x, ag_transpose(ag_param(g, weight)), ag_param(g, bias));
}

ag_node *cnn_forward(const cnn *m, ag_node *x, bool training, ag_rng *dropout_rng)
{
    if (!x) return NULL;
    double p = m->config.dropout;
    if (m->config.dtype != AG_FLOAT64) x = ag_cast(x, m->config.dtype);
    ag_node *h = conv_block(x, m->conv1, m->bn1_weight, m->bn1_bias, m->bn1_mean, m->bn1_var, training);
    h = conv_block(h, m->conv2, m->bn2_weight, m->bn2_bias, m->bn2_mean, m->bn2_var, training);
    h = ag_reshape(h, 2, (int[]){ag_node_dim(x, 0), m->config.c2 * 7 * 7});
    h = ag_dropout(h, p, dropout_rng, training);
    if (m->fc1_weight) h = ag_dropout(ag_relu(linear(h, m->fc1_weight, m->fc1_bias)), p, dropout_rng, training);
    return linear(h, m->fc2_weight, m->fc2_bias);
}

double cnn_forward_macs(const cnn_config *c)
{
    double flat = c->c2 * 49.0, out_in = c->hidden > 0 ? c->hidden : flat;
    return 28.0 * 28 * c->c1 * 9 + 14.0 * 14 * c->c2 * c->c1 * 9 +
           (c->hidden > 0 ? flat * c->hidden : 0.0) + out_in * CNN_CLASSES;
}
