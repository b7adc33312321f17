/* classify-train -- train a classifier on a labelled CSV file and keep the
 * best checkpoint, one that describes itself (predict.c needs only it).
 *
 *   classify-train DATA.csv OUT_DIR [LABEL_COLUMN]
 *
 * DATA.csv: a header row, numeric feature columns and a label column (the
 * last one unless named) holding strings or numbers (data/iris_labelled.csv:
 * Fisher's iris, labels setosa / versicolor / virginica). The rows are split,
 * stratified and seeded, into 20% test (written to OUT_DIR/test.csv, never
 * seen in training), then 20% of the rest for validation, the remainder for
 * training. Features are standardised with the training rows' statistics
 * (kept in the store as state tensors). An MLP F-16-C (ReLU), softmax
 * cross-entropy, Adam with a cosine learning-rate decay, mini-batches of 16;
 * after every epoch the validation loss decides: a new best (lower by more
 * than MIN_DELTA, as Keras' EarlyStopping) is saved to
 * OUT_DIR/model.safetensors, and PATIENCE epochs without one stop the run
 * (early stopping, the best checkpoint kept). The file holds the weights,
 * the standardiser's mean and scale (state), the MLP's architecture
 * ("agrad.mlp.fc"), the class names, feature names and label column. */
#include <agrad.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN 16
#define BATCH 16
#define MAX_EPOCHS 300
#define PATIENCE 30
#define MIN_DELTA 1e-3 /* a smaller fall of the validation loss is no improvement */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define BASE_LR 0.02
#define SEED 2024

/* The data: the CSV's rows split three ways (features standardised after). */
typedef struct data {
    ag_labelled_csv *csv;
    ag_split outer; /* test = 20% of all rows; train = the rest, split again */
    ag_split inner; /* test = validation rows (20% of outer.train); train = training rows */
} data;

static int fail(const char *what)
{
    fprintf(stderr, "classify-train: %s\n", what);
    return 1;
}

/* One CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void write_field(FILE *f, const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, f);
        return;
    }
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* The held-out rows as a CSV file like the input: header, features, label. */
static bool write_test_csv(const char *path, const data *d)
{
    FILE *f = fopen(path, "w");
    if (!f) return false;
    const ag_labelled_csv *csv = d->csv;
    for (int j = 0; j < csv->n_features; j++) {
        write_field(f, csv->feature_names[j]);
        fputc(',', f);
    }
    write_field(f, csv->label_name);
    const ag_tensor *x = d->outer.x_test, *y = d->outer.y_test;
    for (int i = 0; i < ag_tensor_dim(x, 0); i++) {
        fputc('\n', f);
        for (int j = 0; j < csv->n_features; j++)
            fprintf(f, "%.17g,", ag_tensor_data(x)[i * csv->n_features + j]);
        write_field(f, csv->class_names[(int)ag_tensor_data(y)[i]]);
    }
    fputc('\n', f);
    return fclose(f) == 0;
}

static bool load_data(const char *path, const char *label, data *d)
{
    d->csv = ag_csv_load_labelled(path, label, NULL, 0);
    return d->csv &&
           ag_train_test_split(d->csv->features, d->csv->labels, 0.2, true, SEED, &d->outer) &&
           ag_train_test_split(d->outer.x_train, d->outer.y_train, 0.2, true, SEED + 1, &d->inner);
}

/* Metadata for the predict program: classes, features, label column. */
static bool describe(ag_params *ps, const ag_labelled_csv *csv)
{
    return ag_params_set_meta_strings(ps, "classes", (const char *const *)csv->class_names,
                                      (size_t)csv->n_classes) &&
           ag_params_set_meta_strings(ps, "features", (const char *const *)csv->feature_names,
                                      (size_t)csv->n_features) &&
           ag_params_set_meta(ps, "label", csv->label_name);
}

/* Mean cross-entropy of the MLP on a whole set (a graph of its own). */
static double set_loss(const ag_mlp *m, const ag_tensor *x, const ag_tensor *y)
{
    ag_graph *g = ag_graph_new();
    ag_node *loss = ag_softmax_xent(ag_mlp_forward(m, g, ag_input(g, x)), ag_input(g, y));
    double value = loss ? ag_node_value(loss)[0] : -1;
    ag_graph_free(g);
    return value;
}

static double set_accuracy(const ag_mlp *m, const ag_tensor *x, const ag_tensor *y)
{
    ag_graph *g = ag_graph_new();
    double acc = ag_accuracy(ag_mlp_forward(m, g, ag_input(g, x)), y, ag_tensor_size(y));
    ag_graph_free(g);
    return acc;
}

/* What one run needs. */
typedef struct run {
    ag_params *ps;
    ag_mlp *mlp;
    ag_optimizer *opt;
    ag_batches *batches;
    ag_tensor *bx, *by;
    ag_graph *g;
    ag_node *loss; /* recorded once on bx, by; replayed for every batch */
    bool stopped_early;
} run;

static bool build(run *r, const data *d, const char *out_dir, char *checkpoint, size_t len)
{
    const ag_labelled_csv *csv = d->csv;
    int features = csv->n_features, classes = csv->n_classes;
    ag_tensor *x_train = d->inner.x_train;
    r->ps = ag_params_new();
    ag_tensor *mean = ag_params_add_state(r->ps, "scaler.mean", 1, (int[]){features});
    ag_tensor *scale = ag_params_add_state(r->ps, "scaler.scale", 1, (int[]){features});
    if (!mean || !scale || !ag_standardizer_fit(x_train, mean, scale) ||
        !ag_standardizer_apply(mean, scale, x_train) || !ag_standardizer_apply(mean, scale, d->inner.x_test))
        return false;
    ag_rng rng = ag_rng_new(SEED);
    r->mlp = ag_mlp_new(r->ps, "fc", 2, (int[]){features, HIDDEN, classes},
                        (ag_activation[]){AG_ACT_RELU, AG_ACT_NONE}, &rng);
    if (!r->mlp || !describe(r->ps, csv)) return false;
    size_t n = ag_params_trainable(r->ps, NULL, 0);
    ag_tensor *trainable[n];
    ag_params_trainable(r->ps, trainable, n);
    ag_optimizer_config config = ag_adam_config(BASE_LR);
    r->opt = ag_optimizer_new(n, trainable, &config);
    int rows = ag_tensor_dim(x_train, 0), batch = rows < BATCH ? rows : BATCH;
    r->batches = ag_batches_new(x_train, d->inner.y_train, batch, AG_BATCHES_SHUFFLE | AG_BATCHES_DROP_LAST, SEED);
    r->bx = ag_tensor_zeros(2, (int[]){batch, features});
    r->by = ag_tensor_zeros(1, (int[]){batch});
    r->g = ag_graph_new();
    if (!r->opt || !r->batches || !r->bx || !r->by || !r->g) return false;
    r->loss = ag_softmax_xent(ag_mlp_forward(r->mlp, r->g, ag_input(r->g, r->bx)), ag_input(r->g, r->by));
    snprintf(checkpoint, len, "%s/model.safetensors", out_dir);
    return r->loss != NULL;
}

static void free_run(run *r)
{
    ag_graph_free(r->g);
    ag_tensor_free(r->bx);
    ag_tensor_free(r->by);
    ag_batches_free(r->batches);
    ag_optimizer_free(r->opt);
    ag_mlp_free(r->mlp);
    ag_params_free(r->ps);
}

/* One epoch over the training rows at learning rate lr; the mean batch loss. */
static double train_epoch(run *r, double lr)
{
    ag_optimizer_set_lr(r->opt, lr);
    double total = 0;
    int batches = 0;
    while (ag_batches_next(r->batches, r->bx, r->by) > 0) {
        ag_optimizer_zero_grad(r->opt);
        if (!ag_graph_forward(r->g) || !ag_backward(r->g, r->loss)) return -1;
        ag_optimizer_step(r->opt);
        total += ag_node_value(r->loss)[0];
        batches++;
    }
    return total / batches;
}

/* Train until the validation loss has not improved for PATIENCE epochs,
 * saving every new best; false on an error. */
static bool fit(run *r, const data *d, const char *checkpoint)
{
    double best = 1e300;
    int best_epoch = 0;
    for (int epoch = 1; epoch <= MAX_EPOCHS; epoch++) {
        double lr = ag_lr_cosine(BASE_LR, BASE_LR / 100, MAX_EPOCHS, epoch - 1);
        double train_loss = train_epoch(r, lr);
        double val_loss = set_loss(r->mlp, d->inner.x_test, d->inner.y_test);
        if (train_loss < 0 || val_loss < 0) return false;
        bool improved = val_loss < best - MIN_DELTA;
        if (improved) {
            best = val_loss;
            best_epoch = epoch;
            if (!ag_checkpoint_save(r->ps, checkpoint)) return false;
        }
        if (epoch == 1 || epoch % 20 == 0 || epoch - best_epoch == PATIENCE)
            printf("epoch %3d  lr %.5f  train loss %.4f  val loss %.4f  val acc %5.1f%%%s\n", epoch, lr,
                   train_loss, val_loss, 100 * set_accuracy(r->mlp, d->inner.x_test, d->inner.y_test),
                   improved ? "  (best: saved)" : "");
        if (epoch - best_epoch == PATIENCE) {
            r->stopped_early = true;
            break;
        }
    }
    printf("best validation loss %.4f at epoch %d%s, kept in %s\n", best, best_epoch,
           r->stopped_early ? " (stopped early: no fall of more than MIN_DELTA " STRINGIFY(MIN_DELTA) " in "
                              STRINGIFY(PATIENCE) " epochs)"
                            : "",
           checkpoint);
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: classify-train DATA.csv OUT_DIR [LABEL_COLUMN]\n");
        return 2;
    }
    data d = {0};
    if (!load_data(argv[1], argc > 3 ? argv[3] : NULL, &d)) return fail(ag_last_error());
    char test_csv[4096], checkpoint[4096];
    snprintf(test_csv, sizeof test_csv, "%s/test.csv", argv[2]);
    if (!write_test_csv(test_csv, &d)) return fail("cannot write the test rows (does OUT_DIR exist?)");
    printf("%s: %d rows, %d features, %d classes (", argv[1], ag_tensor_dim(d.csv->features, 0),
           d.csv->n_features, d.csv->n_classes);
    for (int k = 0; k < d.csv->n_classes; k++) printf("%s%s", k ? ", " : "", d.csv->class_names[k]);
    printf(")\nsplit: %d training, %d validation, %d test rows (written to %s)\n",
           ag_tensor_dim(d.inner.x_train, 0), ag_tensor_dim(d.inner.x_test, 0),
           ag_tensor_dim(d.outer.x_test, 0), test_csv);
    run r = {0};
    bool ok = build(&r, &d, argv[2], checkpoint, sizeof checkpoint) && fit(&r, &d, checkpoint);
    if (!ok) fail(r.g && ag_graph_error(r.g) ? ag_graph_error(r.g) : ag_last_error());
    free_run(&r);
    ag_split_free(&d.inner);
    ag_split_free(&d.outer);
    ag_labelled_csv_free(d.csv);
    return ok ? 0 : 1;
}
