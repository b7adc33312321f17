/* cnn.h -- the Fashion-MNIST CNN (examples/fashion-cnn, bench/bench_cnn.c).
 *
 *   x [N,1,28,28]
 *   conv3x3(1->c1, pad 1, no bias) -> batch norm -> max pool 2 -> ReLU   [N,c1,14,14]
 *   conv3x3(c1->c2, pad 1, no bias) -> batch norm -> max pool 2 -> ReLU  [N,c2,7,7]
 *   flatten [N, c2*49] -> dropout -> linear(c2*49 -> hidden) -> ReLU -> dropout
 *   -> linear(hidden -> 10)                                              [N,10] logits
 *   (hidden 0: no hidden layer, dropout -> linear(c2*49 -> 10))
 *
 * Pooling comes before the ReLU, a quarter of the elements to rectify: max
 * and ReLU commute (both monotone), so the values are those of
 * conv-BN-ReLU-pool, and so are the gradients except where an input is
 * exactly 0. The convolutions have no bias: batch norm subtracts the mean at
 * once, so a bias there would change nothing (PyTorch's bias=False idiom).
 *
 * The tensors are stored under PyTorch's state_dict names and layouts, so the
 * checkpoint reads as the torch.nn model's would: conv1.weight [c1,1,3,3],
 * bn1.weight / bn1.bias / bn1.running_mean / bn1.running_var [c1], the same
 * for conv2 / bn2, fc1.weight [hidden, c2*49] (nn.Linear's [out,in]),
 * fc1.bias, fc2.weight [10, hidden], fc2.bias. The running statistics do not
 * require grad; the optimiser gets the others (cnn_params). Initial values
 * are PyTorch's defaults: conv and linear weights and biases uniform in
 * +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)), batch norm weight 1,
 * bias 0, running mean 0 and variance 1. With dtype AG_FLOAT32 every tensor
 * is float32 (the same draws, rounded), as a float32 torch.nn model's. */
#ifndef FASHION_CNN_H
#define FASHION_CNN_H

#include <agrad.h>

#define CNN_SIDE 28
#define CNN_CLASSES 10
#define CNN_BN_MOMENTUM 0.1
#define CNN_BN_EPS 1e-5

typedef struct cnn_config {
    int c1, c2;     /* channels of the two convolutions */
    int hidden;     /* width of the hidden linear layer; 0: none */
    double dropout; /* probability of zeroing, before each linear layer */
    ag_dtype dtype; /* of every tensor, the running statistics too (AG_FLOAT64 unless set) */
} cnn_config;

/* The example's model (chosen on the validation split, README.md) and the
 * benchmark's. */
#define CNN_DEFAULT_CONFIG ((cnn_config){.c1 = 24, .c2 = 48, .hidden = 128, .dropout = 0.25})

enum { CNN_MAX_PARAMS = 10 };

typedef struct cnn {
    cnn_config config;
    ag_tensor *conv1, *bn1_weight, *bn1_bias, *bn1_mean, *bn1_var;
    ag_tensor *conv2, *bn2_weight, *bn2_bias, *bn2_mean, *bn2_var;
    ag_tensor *fc1_weight, *fc1_bias, *fc2_weight, *fc2_bias; /* fc1: NULL without hidden */
    ag_tensor *trainable[CNN_MAX_PARAMS];
    size_t n_trainable;
} cnn;

/* Add the model's tensors to ps and initialise them from rng. false (with
 * ag_last_error) on a bad config or a failure of the store. */
bool cnn_init(cnn *m, ag_params *ps, const cnn_config *config, ag_rng *rng);

/* Record the forward pass from x [N,1,28,28] (float64; cast to the model's
 * type as it enters) on x's graph; returns the logits [N,10], in the
 * model's type. training: batch statistics (updating the running ones at
 * every forward) and dropout drawn from dropout_rng, which must outlive the
 * graph's replays; otherwise the running statistics and no dropout
 * (dropout_rng may then be NULL). */
ag_node *cnn_forward(const cnn *m, ag_node *x, bool training, ag_rng *dropout_rng);

/* Multiply-adds of one sample's forward pass (the convolutions and linear
 * layers; the passes over activations are not counted). */
double cnn_forward_macs(const cnn_config *config);

#endif
