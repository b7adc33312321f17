/* pool.c -- 2-d max and average pooling over [N,C,H,W], as
 * torch.nn.functional.max_pool2d / avg_pool2d with padding 0, dilation 1 and
 * ceil_mode False. Each of the P = N C planes x [H,W] pools into y [H',W'],
 *   H' = (H - k) / s + 1,  W' = (W - k) / s + 1   (floor; k kernel, s stride)
 * over the windows
 *   win(i,j) = {(i s + a, j s + b) : 0 <= a, b < k}.
 *
 * max_pool2d, PyTorch's CPU kernel's rule:
 *   y[i,j] = x[m(i,j)],  m(i,j) the position in win(i,j), scanned in
 *            row-major order, of the first element greater than every one
 *            before it -- the first maximum, so a window of equal values (as
 *            after a ReLU) sends its gradient to its top-left element --
 *            or of the last NaN when the window holds NaNs (y is then NaN)
 *   vjp  gx[m(i,j)] += gy[i,j]
 *   jvp  ty[i,j]     = tx[m(i,j)]
 * The forward writes m(i,j) (flat positions in x, exact as doubles below
 * 2^53) into the node's aux, one per output element; the vjp and jvp read
 * them. Recorded, by two companion ops that read the aux of the pool node
 * given as their second input *at their own forward* (so a replay, which
 * recomputes the argmax, moves the recorded derivatives with it):
 *   gx = max_pool2d_scatter(gy, pool):  gx = 0, gx[m(i,j)] += gy[i,j]
 *   ty = max_pool2d_gather(tx, pool):   ty[i,j] = tx[m(i,j)]
 * Each is linear in its first input and the other's transpose; the argmax
 * is piecewise constant in x, so the pool node gets no share from them
 * (the second derivative of max_pool2d is 0 away from ties).
 *
 * avg_pool2d (count k^2: no padding to leave out):
 *   y[i,j] = (sum of x over win(i,j)) / k^2
 *   vjp  gx[p] += gy[i,j] / k^2 for every p in win(i,j)
 *   jvp  ty = avg_pool2d(tx)
 * Recorded: gx = avg_pool2d_spread(gy), the vjp as an op (it needs H and
 * W, which the floor in H' loses), whose own transpose is avg_pool2d.
 *
 * Each plane is independent: the loops run over ranges of planes, split
 * over the kernel threads when the tensor is large (kernels/parallel.h). */
#include "params.h"
#include "recorded.h"

#include <math.h>
#include <stdio.h>

extern const ag_op ag_op_max_pool2d, ag_op_avg_pool2d;
static const ag_op op_max_pool2d_scatter, op_max_pool2d_gather, op_avg_pool2d_spread;

/* ---- geometry ----------------------------------------------------------------- */

/* planes of the input [h,w] and of the output [oh,ow], window k, stride s */
typedef struct pool_view {
    size_t planes, h, w, oh, ow, k, s;
} pool_view;

/* `big` is the input's shape [N,C,H,W], `small` the output's [N,C,H',W'] */
static pool_view pool_view_of(const ag_shape *big, const ag_shape *small, const ag_pool_params *p)
{
    return (pool_view){.planes = (size_t)big->dims[0] * (size_t)big->dims[1],
                       .h = (size_t)big->dims[2], .w = (size_t)big->dims[3],
                       .oh = (size_t)small->dims[2], .ow = (size_t)small->dims[3],
                       .k = (size_t)p->kernel, .s = (size_t)p->stride};
}

/* a pool node's view: x = in[0], y = out */
static pool_view view_of_pool(const ag_node *pool)
{
    return pool_view_of(&pool->in[0]->shape, &pool->shape, AG_PARAMS(pool, const ag_pool_params));
}

static int pool_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    return snprintf(buf, len, "kernel=%d, stride=%d", p->kernel, p->stride);
}

/* x [N,C,H,W] -> [N,C,(H - k)/s + 1,(W - k)/s + 1]; k, s >= 1, k <= H, W */
static bool pool_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *x = &out->in[0]->shape;
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    if (x->ndim != 4) {
        snprintf(why, len, "x must be [N,C,H,W] (4-d), not %d-d", x->ndim);
        return false;
    }
    if (p->kernel < 1 || p->stride < 1) {
        snprintf(why, len, "kernel = %d and stride = %d must both be at least 1", p->kernel, p->stride);
        return false;
    }
    if (p->kernel > x->dims[2] || p->kernel > x->dims[3]) {
        snprintf(why, len, "kernel = %d does not fit in the %dx%d planes (no padding)", p->kernel,
                 x->dims[2], x->dims[3]);
        return false;
    }
    int dims[4] = {x->dims[0], x->dims[1], (x->dims[2] - p->kernel) / p->stride + 1,
                   (x->dims[3] - p->kernel) / p->stride + 1};
    const char *bad = NULL;
    return ag_shape_make(&out->shape, 4, dims, &bad); /* no larger than x */
}

/* ---- the plane loops, over planes [lo, hi) ----------------------------------------- */

typedef struct pool_job {
    pool_view v;
    const void *src; /* doubles, or floats for a float32 node */
    void *dst;
    double *argmax; /* max: m(i,j) per output element (aux) */
} pool_job;

/* the loop over planes: on the caller when small, else split over threads */
#define OVER_PLANES(job, fn) AG_PARALLEL_RANGE((job)->v.planes, (job)->v.h * (job)->v.w, fn, (job))

#define real double
#define PLANES(name) name
#define ZERO_REALS ag_zero_doubles
#include "pool_planes.h"
#undef real
#undef PLANES
#undef ZERO_REALS

/* the float32 stamp: the companions' loops (gather, scatter_new,
 * average_add, spread_new) are stamped too, unused */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define real float
#define PLANES(name) name##_f32
#define ZERO_REALS ag_zero_floats
#include "pool_planes.h"
#undef real
#undef PLANES
#undef ZERO_REALS
#pragma GCC diagnostic pop

/* a job over the planes of view v, from src to dst, by the argmax of `pool` */
static pool_job job_of(pool_view v, const void *src, void *dst, const ag_node *pool)
{
    return (pool_job){.v = v, .src = src, .dst = dst, .argmax = pool ? pool->aux : NULL};
}

/* ---- max_pool2d --------------------------------------------------------------------- */

static size_t one_per_output(const ag_node *out) { return out->shape.size; }

static bool max_pool_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    pool_job job = job_of(view_of_pool(out), out->in[0]->value, out->value, out);
    OVER_PLANES(&job, max_planes);
    return true;
}

/* gx[m(i,j)] += gy[i,j] */
static void max_pool_vjp(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->grad, out->in[0]->grad, out);
    OVER_PLANES(&job, scatter_add_planes);
}

/* ty[i,j] = tx[m(i,j)] */
static void max_pool_jvp(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->in[0]->tangent, out->tangent, out);
    OVER_PLANES(&job, gather_new_planes);
}

/* float32: the same loops over float buffers (no jvp, no recorded companions) */
static bool max_pool_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    pool_job job = job_of(view_of_pool(out), out->in[0]->value, out->value, out);
    OVER_PLANES(&job, max_planes_f32);
    return true;
}

static void max_pool_vjp_f32(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->grad, out->in[0]->grad, out);
    OVER_PLANES(&job, scatter_add_planes_f32);
}

static const ag_typed_kernels max_pool_f32 = {{max_pool_forward_f32, max_pool_vjp_f32}, NULL};

/* a companion of pool on t: gx = scatter(gy) or ty = gather(tx) */
static ag_node *by_argmax(const ag_op *op, ag_node *t, ag_node *pool)
{
    return ag_record2(op, t, pool, NULL);
}

/* gx = max_pool2d_scatter(gy, pool) (gy as out's shape: the root's seed may be 0-d) */
static bool max_pool_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    gx[0] = by_argmax(&op_max_pool2d_scatter, ag_rec_reshape_to(gy, &out->shape), out);
    return gx[0] != NULL;
}

/* ty = max_pool2d_gather(tx, pool) */
static ag_node *max_pool_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    return by_argmax(&op_max_pool2d_gather, tx[0], out);
}

const ag_op ag_op_max_pool2d = {.name = "max_pool2d", .arity = 1, .params_size = sizeof(ag_pool_params),
                                .print_params = pool_print_params, .shape = pool_shape,
                                .kernels = {max_pool_forward, max_pool_vjp}, .jvp = max_pool_jvp,
                                .vjp_nodes = max_pool_vjp_nodes, .jvp_nodes = max_pool_jvp_nodes,
                                .aux_size = one_per_output, .f32 = &max_pool_f32};

ag_node *ag_max_pool2d(ag_node *x, int kernel, int stride)
{
    return ag_record1(&ag_op_max_pool2d, x, &(ag_pool_params){.kernel = kernel, .stride = stride});
}

/* ---- the companions: by the argmax a max_pool2d node (in[1]) holds now ----------------- */

/* in[1] is a max_pool2d node and in[0] has its input's shape (`of_input`,
 * gather's t) or its output's (scatter's g); out takes the other one */
static bool companion_shape(ag_node *out, bool of_input, char *why, size_t len)
{
    const ag_node *t = out->in[0], *pool = out->in[1];
    if (pool->op != &ag_op_max_pool2d) {
        snprintf(why, len, "the second operand must be a max_pool2d node, not a %s node", pool->op->name);
        return false;
    }
    const ag_shape *want = of_input ? &pool->in[0]->shape : &pool->shape;
    if (!ag_shape_equal(&t->shape, want)) {
        char shape[64];
        snprintf(why, len, "the first operand must have the pool's %s shape (%s)", of_input ? "input" : "output",
                 ag_shape_str(want, shape, sizeof shape));
        return false;
    }
    out->shape = of_input ? pool->shape : pool->in[0]->shape;
    return true;
}

static bool scatter_shape(ag_node *out, char *why, size_t len) { return companion_shape(out, false, why, len); }
static bool gather_shape(ag_node *out, char *why, size_t len) { return companion_shape(out, true, why, len); }

/* y = 0, y[m(p)] += g[p] */
static bool scatter_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const ag_node *pool = out->in[1];
    pool_job job = job_of(view_of_pool(pool), out->in[0]->value, out->value, pool);
    OVER_PLANES(&job, scatter_new_planes);
    return true;
}

/* gg[p] += gy[m(p)] (the pool node gets no share: m is piecewise constant) */
static void scatter_vjp(ag_node *out)
{
    if (!out->in[0]->grad) return;
    const ag_node *pool = out->in[1];
    pool_job job = job_of(view_of_pool(pool), out->grad, out->in[0]->grad, pool);
    OVER_PLANES(&job, gather_add_planes);
}

/* ty = scatter(tg), zeros without a tangent for g */
static void scatter_jvp(ag_node *out)
{
    const ag_node *pool = out->in[1];
    if (!out->in[0]->tangent) {
        ag_zero_doubles(out->tangent, out->shape.size);
        return;
    }
    pool_job job = job_of(view_of_pool(pool), out->in[0]->tangent, out->tangent, pool);
    OVER_PLANES(&job, scatter_new_planes);
}

/* y[p] = t[m(p)] */
static bool gather_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const ag_node *pool = out->in[1];
    pool_job job = job_of(view_of_pool(pool), out->in[0]->value, out->value, pool);
    OVER_PLANES(&job, gather_new_planes);
    return true;
}

/* gt[m(p)] += gy[p] */
static void gather_vjp(ag_node *out)
{
    if (!out->in[0]->grad) return;
    const ag_node *pool = out->in[1];
    pool_job job = job_of(view_of_pool(pool), out->grad, out->in[0]->grad, pool);
    OVER_PLANES(&job, scatter_add_planes);
}

/* ty = gather(tt), zeros without a tangent for t */
static void gather_jvp(ag_node *out)
{
    const ag_node *pool = out->in[1];
    if (!out->in[0]->tangent) {
        ag_zero_doubles(out->tangent, out->shape.size);
        return;
    }
    pool_job job = job_of(view_of_pool(pool), out->in[0]->tangent, out->tangent, pool);
    OVER_PLANES(&job, gather_new_planes);
}

/* each companion's transpose is the other: gg = gather(gy), gt = scatter(gy) */
static bool scatter_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    gx[0] = by_argmax(&op_max_pool2d_gather, ag_rec_reshape_to(gy, &out->shape), out->in[1]);
    return gx[0] != NULL;
}

static bool gather_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    if (!ag_rec_takes_grad(out, 0)) return true;
    gx[0] = by_argmax(&op_max_pool2d_scatter, ag_rec_reshape_to(gy, &out->shape), out->in[1]);
    return gx[0] != NULL;
}

/* linear in the first operand; the pool's tangent is never read */
static ag_node *companion_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    if (!tx[0]) return ag_rec_zeros(out->graph, &out->shape);
    return by_argmax(out->op, tx[0], out->in[1]);
}

static const ag_op op_max_pool2d_scatter = {.name = "max_pool2d_scatter", .arity = 2, .shape = scatter_shape,
                                            .kernels = {scatter_forward, scatter_vjp}, .jvp = scatter_jvp,
                                            .vjp_nodes = scatter_vjp_nodes, .jvp_nodes = companion_jvp_nodes};
static const ag_op op_max_pool2d_gather = {.name = "max_pool2d_gather", .arity = 2, .shape = gather_shape,
                                           .kernels = {gather_forward, gather_vjp}, .jvp = gather_jvp,
                                           .vjp_nodes = gather_vjp_nodes, .jvp_nodes = companion_jvp_nodes};

/* ---- avg_pool2d and its recorded vjp ------------------------------------------------------ */

static bool avg_pool_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    pool_job job = job_of(view_of_pool(out), out->in[0]->value, out->value, NULL);
    OVER_PLANES(&job, average_new_planes);
    return true;
}

/* gx[p] += gy[i,j] / k^2 over win(i,j) */
static void avg_pool_vjp(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->grad, out->in[0]->grad, NULL);
    OVER_PLANES(&job, spread_add_planes);
}

/* ty = avg_pool2d(tx) */
static void avg_pool_jvp(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->in[0]->tangent, out->tangent, NULL);
    OVER_PLANES(&job, average_new_planes);
}

static bool avg_pool_forward_f32(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    pool_job job = job_of(view_of_pool(out), out->in[0]->value, out->value, NULL);
    OVER_PLANES(&job, average_new_planes_f32);
    return true;
}

static void avg_pool_vjp_f32(ag_node *out)
{
    pool_job job = job_of(view_of_pool(out), out->grad, out->in[0]->grad, NULL);
    OVER_PLANES(&job, spread_add_planes_f32);
}

static const ag_typed_kernels avg_pool_f32 = {{avg_pool_forward_f32, avg_pool_vjp_f32}, NULL};

/* gx = avg_pool2d_spread(gy), to x's height and width */
static bool avg_pool_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    const ag_shape *x = &out->in[0]->shape;
    ag_pool_params spread = {.kernel = p->kernel, .stride = p->stride, .height = x->dims[2], .width = x->dims[3]};
    gx[0] = ag_record1(&op_avg_pool2d_spread, ag_rec_reshape_to(gy, &out->shape), &spread);
    return gx[0] != NULL;
}

const ag_op ag_op_avg_pool2d = {.name = "avg_pool2d", .arity = 1, .params_size = sizeof(ag_pool_params),
                                .print_params = pool_print_params, .shape = pool_shape,
                                .kernels = {avg_pool_forward, avg_pool_vjp}, .jvp = avg_pool_jvp,
                                .vjp_nodes = avg_pool_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp,
                                .f32 = &avg_pool_f32};

ag_node *ag_avg_pool2d(ag_node *x, int kernel, int stride)
{
    return ag_record1(&ag_op_avg_pool2d, x, &(ag_pool_params){.kernel = kernel, .stride = stride});
}

static int spread_print_params(const ag_node *out, char *buf, size_t len)
{
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    return snprintf(buf, len, "kernel=%d, stride=%d, height=%d, width=%d", p->kernel, p->stride, p->height,
                    p->width);
}

/* g [N,C,H',W'] -> [N,C,height,width], H' the pool's output height for them */
static bool spread_shape(ag_node *out, char *why, size_t len)
{
    const ag_shape *g = &out->in[0]->shape;
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    if (g->ndim != 4 || g->dims[2] != (p->height - p->kernel) / p->stride + 1 ||
        g->dims[3] != (p->width - p->kernel) / p->stride + 1) {
        snprintf(why, len, "not the output of a %dx%d pool over %dx%d planes", p->kernel, p->kernel, p->height,
                 p->width);
        return false;
    }
    const char *bad = NULL;
    if (!ag_shape_make(&out->shape, 4, (int[]){g->dims[0], g->dims[1], p->height, p->width}, &bad)) {
        snprintf(why, len, "%s", bad);
        return false;
    }
    return true;
}

/* the spread's view: its output is the pool's input */
static pool_view view_of_spread(const ag_node *out)
{
    return pool_view_of(&out->shape, &out->in[0]->shape, AG_PARAMS(out, const ag_pool_params));
}

static bool spread_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    pool_job job = job_of(view_of_spread(out), out->in[0]->value, out->value, NULL);
    OVER_PLANES(&job, spread_new_planes);
    return true;
}

/* the transpose of the spread is the average: gg += avg_pool2d(gy) */
static void spread_vjp(ag_node *out)
{
    pool_job job = job_of(view_of_spread(out), out->grad, out->in[0]->grad, NULL);
    OVER_PLANES(&job, average_add_planes);
}

static void spread_jvp(ag_node *out)
{
    pool_job job = job_of(view_of_spread(out), out->in[0]->tangent, out->tangent, NULL);
    OVER_PLANES(&job, spread_new_planes);
}

/* gg = avg_pool2d(gy) */
static bool spread_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    const ag_pool_params *p = AG_PARAMS(out, const ag_pool_params);
    gx[0] = ag_avg_pool2d(ag_rec_reshape_to(gy, &out->shape), p->kernel, p->stride);
    return gx[0] != NULL;
}

static const ag_op op_avg_pool2d_spread = {.name = "avg_pool2d_spread", .arity = 1,
                                           .params_size = sizeof(ag_pool_params),
                                           .print_params = spread_print_params, .shape = spread_shape,
                                           .kernels = {spread_forward, spread_vjp}, .jvp = spread_jvp,
                                           .vjp_nodes = spread_vjp_nodes, .jvp_nodes = ag_rec_same_op_jvp};
