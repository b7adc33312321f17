/* fuzz_graph.c -- libFuzzer harness for the graph API: the input bytes are
 * decoded into a few parameter tensors of random shapes, then a random
 * sequence of ops on random operands (mismatched shapes included), then
 * backward, replay and a forward-mode sweep. Errors are expected; crashes,
 * leaks and undefined behaviour are not. */
#include <agrad.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reader { const uint8_t *data; size_t size, at; } reader;

static unsigned take(reader *r)
{
    return r->at < r->size ? r->data[r->at++] : 0;
}

enum { POOL = 16, LEAVES = 4, MAX_OPS = 48 };

static ag_tensor *random_tensor(reader *r)
{
    int ndim = (int)(take(r) % 3), dims[2] = {1 + (int)(take(r) % 4), 1 + (int)(take(r) % 4)};
    ag_tensor *t = ag_tensor_zeros(ndim, dims);
    for (size_t i = 0; t && i < ag_tensor_size(t); i++)
        ag_tensor_data(t)[i] = ((double)take(r) - 128.0) / 32.0;
    if (t && (take(r) & 1)) ag_tensor_requires_grad(t, true);
    return t;
}

/* Apply op number `code` to pool operands a, b (and c, linear's bias). */
static ag_node *apply(unsigned code, ag_node *a, ag_node *b, ag_node *c, reader *r)
{
    switch (code % 23) {
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
    default: return ag_softmax_xent_label(a, (int)(take(r) % 5) - 1);
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
    ag_graph_free(g);
    for (int i = 0; i < LEAVES; i++) ag_tensor_free(leaves[i]);
    return 0;
}
