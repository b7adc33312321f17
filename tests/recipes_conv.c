/* recipes_conv.c -- test recipes for conv2d, conv1d and their input and
 * weight derivatives (see recipes.c for the shared helpers and the rules a
 * recipe follows). Convolution is bilinear, smooth everywhere: any values
 * do. The geometry is drawn so that the kernel fits the padded input:
 * batch, channels and kernel sizes 1 to 3, strides 1 to 3, paddings 0 to 2
 * (below the kernel's size), inputs up to 5 past the smallest allowed. */
#include "helpers.h"

typedef struct conv_draw {
    int spatial; /* 2 or 1 */
    int N, C, O, H, W, kh, kw, Ho, Wo, stride, padding;
} conv_draw;

/* a size that k fits once padded by p, large enough that output 0 reads an
 * element of the input, not padding alone (k - p: a geometry that reads
 * only padding has an identically zero gradient, which proves nothing),
 * and the output's size */
static void draw_extent(test_rng *r, int k, int stride, int pad, int *in, int *out)
{
    int least = k - pad > 1 ? k - pad : 1;
    *in = rng_int(r, least, least + 5);
    *out = (*in + 2 * pad - k) / stride + 1;
}

/* padding 0 .. 2 and below the kernel's size (in each spatial dim) */
static conv_draw draw_conv(test_rng *r, int spatial)
{
    conv_draw d = {.spatial = spatial, .N = rng_int(r, 1, 3), .C = rng_int(r, 1, 3),
                   .O = rng_int(r, 1, 3), .stride = rng_int(r, 1, 3)};
    d.kw = rng_int(r, 1, 3);
    d.kh = spatial == 2 ? rng_int(r, 1, 3) : 1;
    int k_least = d.kw < d.kh || spatial == 1 ? d.kw : d.kh;
    d.padding = rng_int(r, 0, k_least - 1 < 2 ? k_least - 1 : 2);
    draw_extent(r, d.kw, d.stride, d.padding, &d.W, &d.Wo);
    d.H = d.Ho = 1;
    if (spatial == 2) draw_extent(r, d.kh, d.stride, d.padding, &d.H, &d.Ho);
    return d;
}

/* a random [A,B,h,w] ([A,B,w] in 1-d) parameter */
static ag_node *conv_operand(ag_graph *g, test_rng *r, op_case *c, const conv_draw *d, int a, int b,
                             int h, int w)
{
    int dims[4] = {a, b, h, w};
    if (d->spatial == 1) dims[2] = w;
    return add_param(g, c, random_param(r, d->spatial + 2, dims, -2.0, 2.0, false));
}

static bool conv_case(ag_graph *g, test_rng *r, op_case *c, int spatial)
{
    conv_draw d = draw_conv(r, spatial);
    ag_node *x = conv_operand(g, r, c, &d, d.N, d.C, d.H, d.W);
    ag_node *w = conv_operand(g, r, c, &d, d.O, d.C, d.kh, d.kw);
    ag_node *b = rng_int(r, 0, 1) ? add_param(g, c, random_param(r, 1, &d.O, -2.0, 2.0, false)) : NULL;
    c->out = spatial == 2 ? ag_conv2d(x, w, b, d.stride, d.padding)
                          : ag_conv1d(x, w, b, d.stride, d.padding);
    return c->out != NULL;
}

static bool input_grad_case(ag_graph *g, test_rng *r, op_case *c, int spatial)
{
    conv_draw d = draw_conv(r, spatial);
    ag_node *gy = conv_operand(g, r, c, &d, d.N, d.O, d.Ho, d.Wo);
    ag_node *w = conv_operand(g, r, c, &d, d.O, d.C, d.kh, d.kw);
    c->out = spatial == 2 ? ag_conv2d_input_grad(gy, w, d.H, d.W, d.stride, d.padding)
                          : ag_conv1d_input_grad(gy, w, d.W, d.stride, d.padding);
    return c->out != NULL;
}

static bool weight_grad_case(ag_graph *g, test_rng *r, op_case *c, int spatial)
{
    conv_draw d = draw_conv(r, spatial);
    ag_node *x = conv_operand(g, r, c, &d, d.N, d.C, d.H, d.W);
    ag_node *gy = conv_operand(g, r, c, &d, d.N, d.O, d.Ho, d.Wo);
    c->out = spatial == 2 ? ag_conv2d_weight_grad(x, gy, d.kh, d.kw, d.stride, d.padding)
                          : ag_conv1d_weight_grad(x, gy, d.kw, d.stride, d.padding);
    return c->out != NULL;
}

static bool conv2d_recipe(ag_graph *g, test_rng *r, op_case *c) { return conv_case(g, r, c, 2); }
static bool conv1d_recipe(ag_graph *g, test_rng *r, op_case *c) { return conv_case(g, r, c, 1); }
static bool conv2d_input_grad_recipe(ag_graph *g, test_rng *r, op_case *c) { return input_grad_case(g, r, c, 2); }
static bool conv1d_input_grad_recipe(ag_graph *g, test_rng *r, op_case *c) { return input_grad_case(g, r, c, 1); }
static bool conv2d_weight_grad_recipe(ag_graph *g, test_rng *r, op_case *c) { return weight_grad_case(g, r, c, 2); }
static bool conv1d_weight_grad_recipe(ag_graph *g, test_rng *r, op_case *c) { return weight_grad_case(g, r, c, 1); }

static const recipe_entry recipes[] = {
    {"conv2d", conv2d_recipe},
    {"conv1d", conv1d_recipe},
    {"conv2d_input_grad", conv2d_input_grad_recipe},
    {"conv1d_input_grad", conv1d_input_grad_recipe},
    {"conv2d_weight_grad", conv2d_weight_grad_recipe},
    {"conv1d_weight_grad", conv1d_weight_grad_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_conv(const char *name) { return recipe_in(recipes, name); }
