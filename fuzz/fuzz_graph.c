/* fuzz_graph.c -- libFuzzer harness for the graph API: the input bytes are
 * decoded into a few parameter tensors of random shapes, then a random
 * sequence of ops on random operands (mismatched shapes included), then
 * backward, replay and a forward-mode sweep. Errors are expected; crashes,
 * leaks and undefined behaviour are not. */
#include <agrad.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reader { const uint8_t *data; size_t size, at; } reader;

static unsigned take(reader *r)
{
    return r->at < r->size ? r->data[r->at++] : 0;
}

enum { POOL = 16, LEAVES = 4, MAX_OPS = 48, MAX_POOL_ELEMENTS = 256 };

static ag_tensor *random_tensor(reader *r)
{
    int ndim = (int)(take(r) % 3), dims[2] = {1 + (int)(take(r) % 4), 1 + (int)(take(r) % 4)};
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    for (size_t i = 0; t && i < ag_tensor_size(t); i++)
        ag_tensor_data(t)[i] = ((double)take(r) - 128.0) / 32.0;
    if (t && (take(r) & 1)) ag_tensor_requires_grad(t, true);
    return t;
}

/* A small integer in -2 .. 4 (axes, bounds, steps, sizes), and a value in
 * [-4, 4) (a slope, a bound). */
static int small_int(reader *r) { return (int)(take(r) % 7) - 2; }
static double byte_value(reader *r) { return ((double)take(r) - 128.0) / 32.0; }

/* Apply op number `code` to pool operands a, b and c (linear's bias,
 * where's and scatter_add's third operand, concat's and stack's third). */
static ag_node *apply(unsigned code, ag_node *a, ag_node *b, ag_node *c, reader *r)
{
    switch (code % 51) {
    case 0: return ag_add(a, b);
    case 1: return ag_sub(a, b);
    case 2: return ag_mul(a, b);
    case 3: return ag_div(a, b);
    case 4: return ag_matmul(a, b);
    case 5: return ag_neg(a);
    case 6: return ag_exp(a);
    case 7: return ag_log(a);
    case 8: return ag_tanh(a);
    case 9: return ag_relu(a);
    case 10: return ag_sigmoid(a);
    case 11: return ag_pow(a, ((double)take(r) - 128.0) / 16.0);
    case 12: return ag_sum(a);
    case 13: return ag_mean(a);
    case 14: return ag_softmax(a);
    case 15: return ag_log_softmax(a);
    case 16: return ag_transpose(a);
    case 17: return ag_sum_axis(a, (int)(take(r) % 5) - 2);
    case 18: return ag_mean_axis(a, (int)(take(r) % 5) - 2);
    case 19: return ag_reshape(a, 2, (int[]){(int)(take(r) % 5) - 1, -1});
    case 20: return ag_mse(a, b);
    case 21: return ag_linear(a, b, c);
    case 22: return ag_softmax_xent_label(a, (int)(take(r) % 5) - 1);
    case 23: return ag_sqrt(a);
    case 24: return ag_abs(a);
    case 25: return ag_sin(a);
    case 26: return ag_cos(a);
    case 27: return ag_log1p(a);
    case 28: return ag_expm1(a);
    case 29: return ag_softplus(a);
    case 30: return ag_gelu(a);
    case 31: return ag_leaky_relu(a, byte_value(r));
    case 32: return ag_clamp(a, byte_value(r), byte_value(r));
    case 33: return ag_maximum(a, b);
    case 34: return ag_minimum(a, b);
    case 35: return ag_where(a, b, c);
    case 36: return ag_max(a);
    case 37: return ag_min(a);
    case 38: return ag_max_axis(a, small_int(r));
    case 39: return ag_min_axis(a, small_int(r));
    case 40: return ag_logsumexp_axis(a, small_int(r));
    case 41: return ag_prod_axis(a, small_int(r));
    case 42: return ag_index(a, take(r) % 20);
    case 43: return ag_slice(a, small_int(r), small_int(r), take(r) & 1 ? small_int(r) : INT_MIN,
                             small_int(r));
    /* b and c as indices: their values are (byte - 128) / 32, whole now and then */
    case 44: return ag_index_select(a, small_int(r), b);
    case 45: return ag_gather(a, small_int(r), b);
    case 46: return ag_scatter_add(a, small_int(r), b, c);
    case 47: return ag_concat(1 + take(r) % 3, (ag_node *const[]){a, b, c}, small_int(r));
    case 48: return ag_stack(1 + take(r) % 3, (ag_node *const[]){a, b, c}, small_int(r));
    case 49: return ag_permute(a, (int[]){small_int(r), small_int(r), small_int(r), small_int(r)});
    default: {
        int dims[4] = {small_int(r), small_int(r), small_int(r), small_int(r)};
        return ag_expand(a, (int)(take(r) % 6) - 1, dims);
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size, 0};
    ag_graph *g = ag_graph_new();
    ag_tensor *leaves[LEAVES] = {NULL};
    ag_node *pool[POOL] = {NULL};
    size_t n_pool = 0;
    ag_graph_set_detect_anomaly(g, take(&r) & 1);
    for (int i = 0; i < LEAVES; i++) {
        leaves[i] = random_tensor(&r);
        pool[n_pool++] = ag_param(g, leaves[i]);
    }
    for (int k = 0; k < MAX_OPS && r.at < r.size; k++) {
        unsigned code = take(&r);
        ag_node *a = pool[take(&r) % n_pool], *b = pool[take(&r) % n_pool];
        ag_node *c = pool[take(&r) % n_pool];
        ag_node *y = apply(code, a, b, c, &r);
        /* concat, stack, expand and products can grow sizes step after step
         * (3^k): a large result is recorded but not used again, so memory
         * stays bounded (a matmul of two pool nodes makes at most 2^16) */
        if (ag_node_size(y) > MAX_POOL_ELEMENTS) y = NULL;
        if (take(&r) & 1) ag_graph_reset(g), n_pool = 0; /* stale nodes are then unused */
        if (n_pool == 0)
            for (int i = 0; i < LEAVES; i++) pool[n_pool++] = ag_param(g, leaves[i]);
        else
            pool[n_pool < POOL ? n_pool++ : take(&r) % POOL] = y;
    }
    ag_node *root = ag_sum(pool[n_pool - 1]);
    ag_backward(g, root);
    ag_graph_forward(g);
    ag_node *seed = pool[0];
    if (seed && ag_node_size(seed) <= 16) {
        double tangent[16] = {1.0};
        ag_jvp(g, 1, &seed, (const double *const[]){tangent});
    }
    /* derivatives of derivatives: the gradient recorded, then its own
     * gradient and a tangent through it (stale or failed nodes must be refused) */
    ag_node *grad = NULL, *grad2 = NULL, *tangent_node = NULL;
    if (seed && ag_grad(g, root, 1, &seed, &grad, take(&r) & 1) && ag_node_size(grad) <= 64) {
        ag_grad(g, ag_sum(grad), 1, &seed, &grad2, true);
        ag_jvp_nodes(g, 1, &seed, &grad, 1, &grad, &tangent_node);
    }
    ag_graph_free(g);
    for (int i = 0; i < LEAVES; i++) ag_tensor_free(leaves[i]);
    return 0;
}
