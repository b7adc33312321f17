/* examples/fashion-mnist -- an MLP on Fashion-MNIST (Xiao, Rasul, Vollgraf
 * 2017, MIT licence), read from Debian's dataset-fashion-mnist package.
 *
 *   fashion [--epochs N] [--hidden H1,H2] [--halve-every E] [--limit N]
 *           [--float32] [--out DIR] [--data DIR] [--resume CKPT] [--eval CKPT]
 *
 * MLP 784-H1-H2-10 (ReLU; default 512,256), softmax cross-entropy, Adam (lr
 * 1e-3, halved every E epochs, default 5: ag_lr_step; 20 epochs), batches
 * of 100 shuffled with a fixed seed. Pixels are scaled to [0,1] and
 * standardised with the training set's mean and std.
 * Prints one line per epoch; writes DIR/fashion.safetensors (a training
 * checkpoint, after every epoch: the weights, Adam's moments and step count,
 * and the batch iterator's shuffling state) and DIR/fashion-curves.svg (of
 * the epochs this run trained). --resume continues from such a checkpoint
 * bit for bit: `--epochs 4` gives the same epoch lines as `--epochs 2` then
 * `--epochs 4 --resume DIR/fashion.safetensors` (same --hidden, --limit and
 * --halve-every; a checkpoint that does not fit is refused, naming what
 * differs); --eval only evaluates a checkpoint's weights. --limit uses the
 * first N training and N/6 test images (quick runs). --float32 trains the
 * same network with float32 weights, gradients and Adam state (the batches
 * are cast to float32 as they enter the graph; the checkpoint holds F32). */
#include <agrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plot.h"

#define PIXELS 784
#define CLASSES 10
#define BATCH 100
#define MAX_EPOCHS 200

typedef struct options {
    int epochs, limit, hidden1, hidden2, halve_every;
    ag_dtype dtype;
    const char *out, *data, *resume, *eval;
} options;

typedef struct dataset { ag_tensor *x, *y; } dataset;

static bool parse_options(int argc, char **argv, options *o)
{
    *o = (options){.epochs = 20, .limit = 0, .hidden1 = 512, .hidden2 = 256, .halve_every = 5,
                   .out = "build", .data = "/usr/share/datasets/fashion-mnist"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--float32")) {
            o->dtype = AG_FLOAT32;
            continue;
        }
        if (!v) return false;
        if (!strcmp(a, "--epochs")) o->epochs = atoi(v);
        else if (!strcmp(a, "--limit")) o->limit = atoi(v);
        else if (!strcmp(a, "--hidden")) sscanf(v, "%d,%d", &o->hidden1, &o->hidden2);
        else if (!strcmp(a, "--halve-every")) o->halve_every = atoi(v);
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--eval")) o->eval = v;
        else return false;
        i++;
    }
    return o->epochs >= 1 && o->epochs <= MAX_EPOCHS && o->limit >= 0 && o->hidden1 > 0 &&
           o->hidden2 > 0 && o->halve_every > 0;
}

/* Load images [N,28,28] as [N,784] and labels [N], keeping the first `limit`. */
static bool load_set(const char *dir, const char *prefix, int limit, dataset *d)
{
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    ag_tensor *x = ag_idx_load(images), *y = x ? ag_idx_load(labels) : NULL;
    if (!x || !y) {
        ag_tensor_free(x);
        return false;
    }
    int n = ag_tensor_dim(x, 0);
    if (limit > 0 && limit < n) n = limit;
    d->x = ag_tensor_from(2, (int[]){n, PIXELS}, ag_tensor_data(x));
    d->y = ag_tensor_from(1, (int[]){n}, ag_tensor_data(y));
    ag_tensor_free(x);
    ag_tensor_free(y);
    return d->x && d->y;
}

/* Scale to [0,1], then standardise both sets with the training statistics. */
static void normalise(dataset *train, dataset *test)
{
    double sum = 0, sq = 0, n = (double)ag_tensor_size(train->x);
    for (size_t i = 0; i < ag_tensor_size(train->x); i++) {
        double v = ag_tensor_data(train->x)[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    double mean = sum / n, std = sqrt(sq / n - mean * mean);
    dataset *sets[2] = {train, test};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < ag_tensor_size(sets[s]->x); i++) {
            double *v = &ag_tensor_data(sets[s]->x)[i];
            *v = (*v / 255.0 - mean) / std;
        }
}

/* A batch tensor's leaf in the network's type: the float64 batch itself, or
 * cast to float32 as it enters the graph. */
static ag_node *batch_input(ag_graph *g, const ag_tensor *t, ag_dtype dtype)
{
    ag_node *x = ag_input(g, t);
    return dtype == AG_FLOAT64 ? x : ag_cast(x, dtype);
}

/* Accuracy over a whole set, in batches of BATCH on one replayed graph. */
static double evaluate(const ag_mlp *m, const dataset *d, ag_dtype dtype)
{
    ag_tensor *bx = ag_tensor_zeros(2, (int[]){BATCH, PIXELS}), *by = ag_tensor_zeros(1, (int[]){BATCH});
    ag_batches *it = ag_batches_new(d->x, d->y, BATCH, 0, 0);
    ag_graph *g = ag_graph_new();
    ag_node *logits = ag_mlp_forward(m, g, batch_input(g, bx, dtype));
    double correct = 0;
    int rows;
    while (logits && (rows = ag_batches_next(it, bx, by)) > 0 && ag_graph_forward(g))
        correct += ag_accuracy(logits, by, (size_t)rows) * rows;
    ag_graph_free(g);
    ag_batches_free(it);
    ag_tensor_free(bx);
    ag_tensor_free(by);
    return correct / ag_tensor_dim(d->y, 0);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct trainer {
    ag_mlp *mlp;
    ag_optimizer *opt;
    ag_batches *batches;
    ag_tensor *bx, *by;
    ag_graph *g;
    ag_node *logits, *loss;
} trainer;

/* One epoch; returns the mean loss and sets *train_acc (on the batches as
 * they were seen, before each update). */
static double train_epoch(trainer *t, double *train_acc)
{
    double loss = 0, correct = 0;
    int rows, batches = 0, seen = 0;
    while ((rows = ag_batches_next(t->batches, t->bx, t->by)) > 0) {
        ag_optimizer_zero_grad(t->opt);
        if (!ag_graph_forward(t->g) || !ag_backward(t->g, t->loss)) return NAN;
        ag_optimizer_step(t->opt);
        loss += ag_node_get(t->loss, 0);
        correct += ag_accuracy(t->logits, t->by, (size_t)rows) * rows;
        seen += rows;
        batches++;
    }
    *train_acc = correct / seen;
    return loss / batches;
}

static int run(const options *o, ag_params *ps, ag_mlp *mlp, dataset *train, dataset *test)
{
    char ckpt[512], svg[512];
    snprintf(ckpt, sizeof ckpt, "%s/fashion.safetensors", o->out);
    snprintf(svg, sizeof svg, "%s/fashion-curves.svg", o->out);
    size_t n_params;
    ag_tensor *const *params = ag_mlp_params(mlp, &n_params);
    ag_optimizer_config cfg = ag_adam_config(1e-3);
    trainer t = {.mlp = mlp};
    t.opt = ag_optimizer_new(n_params, params, &cfg);
    t.batches = ag_batches_new(train->x, train->y, BATCH, AG_BATCHES_SHUFFLE | AG_BATCHES_DROP_LAST, 1);
    t.bx = ag_tensor_zeros(2, (int[]){BATCH, PIXELS});
    t.by = ag_tensor_zeros(1, (int[]){BATCH});
    t.g = ag_graph_new();
    t.logits = ag_mlp_forward(mlp, t.g, batch_input(t.g, t.bx, o->dtype));
    t.loss = ag_softmax_xent(t.logits, batch_input(t.g, t.by, o->dtype));
    double loss[MAX_EPOCHS], train_acc[MAX_EPOCHS], test_acc[MAX_EPOCHS], start = now();
    int status = t.opt && t.batches && t.loss ? 0 : 1;
    ag_training_state state = {.optimizer = t.opt, .batches = t.batches};
    int first = 0; /* epochs done before this run */
    if (status == 0 && o->resume) {
        if (!ag_checkpoint_load_training(ps, &state, o->resume)) status = 1;
        first = (int)ag_batches_epoch(t.batches);
        if (status == 0)
            printf("resumed %s after epoch %d (step %ld): test accuracy %.2f%%\n", o->resume, first,
                   ag_optimizer_steps(t.opt), 100 * evaluate(mlp, test, o->dtype));
    }
    int ran = 0;
    for (int e = first; status == 0 && e < o->epochs; e++, ran++) {
        ag_optimizer_set_lr(t.opt, ag_lr_step(1e-3, 0.5, o->halve_every, e));
        double t0 = now();
        loss[ran] = train_epoch(&t, &train_acc[ran]);
        double secs = now() - t0;
        test_acc[ran] = evaluate(mlp, test, o->dtype);
        printf("epoch %2d/%d  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.0f samples/s  "
               "%.1f s/epoch  time left %.0f s\n",
               e + 1, o->epochs, loss[ran], 100 * train_acc[ran], 100 * test_acc[ran],
               ag_tensor_dim(train->y, 0) / secs, secs, (now() - start) / (ran + 1) * (o->epochs - e - 1));
        fflush(stdout);
        if (!isfinite(loss[ran]) || !ag_checkpoint_save_training(ps, &state, ckpt)) status = 1;
    }
    if (status == 0 && ran == 0)
        printf("nothing to train: the checkpoint is at epoch %d of %d\n", first, o->epochs);
    else if (status == 0 && plot_curves_svg(svg, ran, loss, train_acc, test_acc))
        printf("wrote %s and %s\nfinal test accuracy %.2f%%\n", ckpt, svg, 100 * test_acc[ran - 1]);
    else
        fprintf(stderr, "fashion: %s\n", t.g && ag_graph_error(t.g) ? ag_graph_error(t.g) : ag_last_error());
    ag_graph_free(t.g);
    ag_tensor_free(t.bx);
    ag_tensor_free(t.by);
    ag_batches_free(t.batches);
    ag_optimizer_free(t.opt);
    return status;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_options(argc, argv, &o)) {
        fprintf(stderr, "usage: fashion [--epochs 1..%d] [--hidden H1,H2] [--halve-every E] [--limit N] "
                        "[--float32] [--out DIR] [--data DIR] [--resume CKPT] [--eval CKPT]\n", MAX_EPOCHS);
        return 2;
    }
    dataset train = {0}, test = {0};
    if (!load_set(o.data, "train", o.limit, &train) || !load_set(o.data, "t10k", o.limit / 6, &test)) {
        fprintf(stderr, "fashion: %s\n(install Debian's dataset-fashion-mnist: make fashion does)\n",
                ag_last_error());
        return 1;
    }
    normalise(&train, &test);
    printf("Fashion-MNIST: %d training images, %d test images; MLP 784-%d-%d-10, %s\n",
           ag_tensor_dim(train.y, 0), ag_tensor_dim(test.y, 0), o.hidden1, o.hidden2, ag_dtype_name(o.dtype));
    ag_params *ps = ag_params_new();
    ag_rng rng = ag_rng_new(2017);
    ag_mlp *mlp = ag_mlp_new_dtype(ps, "fc", 3, (int[]){PIXELS, o.hidden1, o.hidden2, CLASSES},
                                   (ag_activation[]){AG_ACT_RELU, AG_ACT_RELU, AG_ACT_NONE}, &rng, o.dtype);
    int status = mlp ? 0 : 1;
    if (status == 0 && o.eval && !ag_checkpoint_load(ps, o.eval)) status = 1;
    if (status == 0 && o.eval)
        printf("loaded %s: test accuracy %.2f%%\n", o.eval, 100 * evaluate(mlp, &test, o.dtype));
    if (status == 0 && !o.eval) status = run(&o, ps, mlp, &train, &test);
    if (status) fprintf(stderr, "fashion: %s\n", ag_last_error());
    ag_mlp_free(mlp);
    ag_params_free(ps);
    ag_tensor_free(train.x);
    ag_tensor_free(train.y);
    ag_tensor_free(test.x);
    ag_tensor_free(test.y);
    return status;
}
