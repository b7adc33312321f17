/* classify-predict -- predict the rows of a CSV file with a checkpoint
 * classify-train wrote, from the file alone: the MLP is rebuilt from its
 * description in the checkpoint (ag_mlp_from_params), the class names,
 * feature names and label column come from its metadata, the standardiser's
 * mean and scale from its state tensors.
 *
 *   classify-predict MODEL.safetensors DATA.csv
 *
 * DATA.csv: a header with the checkpoint's feature columns (same names, same
 * order) and its label column. Prints a few rows with their predicted class
 * and its probability, then the confusion matrix with per-class precision
 * and recall. */
#include <agrad.h>
#include <stdio.h>
#include <string.h>

#define SHOWN_ROWS 5

/* What the checkpoint says about the data. */
typedef struct model {
    ag_params *ps;
    ag_mlp *mlp;
    char **classes, **features;
    size_t n_classes, n_features;
    const char *label;
} model;

static bool load_model(const char *path, model *m)
{
    m->ps = ag_checkpoint_read(path);
    m->mlp = m->ps ? ag_mlp_from_params(m->ps, NULL) : NULL;
    m->classes = m->mlp ? ag_params_meta_strings(m->ps, "classes", &m->n_classes) : NULL;
    m->features = m->classes ? ag_params_meta_strings(m->ps, "features", &m->n_features) : NULL;
    m->label = m->features ? ag_params_meta(m->ps, "label") : NULL;
    return m->label != NULL;
}

static void free_model(model *m)
{
    ag_strings_free(m->classes, m->n_classes);
    ag_strings_free(m->features, m->n_features);
    ag_mlp_free(m->mlp);
    ag_params_free(m->ps);
}

/* The CSV's feature columns must be the ones the model was trained on. */
static bool same_features(const model *m, const ag_labelled_csv *csv)
{
    bool same = (size_t)csv->n_features == m->n_features;
    for (size_t j = 0; same && j < m->n_features; j++) same = strcmp(csv->feature_names[j], m->features[j]) == 0;
    if (!same) {
        fprintf(stderr, "classify-predict: the CSV's feature columns are not the model's (");
        for (size_t j = 0; j < m->n_features; j++) fprintf(stderr, "%s%s", j ? ", " : "", m->features[j]);
        fprintf(stderr, ")\n");
    }
    return same;
}

/* A few rows: the predicted class, its softmax probability, the true one. */
static void show_rows(const model *m, ag_node *probabilities, const ag_tensor *predicted, const ag_tensor *labels)
{
    int rows = ag_tensor_dim(labels, 0), shown = rows < SHOWN_ROWS ? rows : SHOWN_ROWS;
    for (int i = 0; i < shown; i++) {
        int p = (int)ag_tensor_data(predicted)[i], t = (int)ag_tensor_data(labels)[i];
        printf("row %d: predicted %-12s (p = %.3f), true %s%s\n", i + 1, m->classes[p],
               ag_node_value(probabilities)[(size_t)i * m->n_classes + (size_t)p], m->classes[t],
               p == t ? "" : "   <- wrong");
    }
    if (rows > shown) printf("... %d more rows\n", rows - shown);
}

/* Standardise with the checkpoint's statistics, predict, count. */
static bool predict(const model *m, ag_labelled_csv *csv)
{
    if (!ag_standardizer_apply(ag_params_get(m->ps, "scaler.mean"), ag_params_get(m->ps, "scaler.scale"),
                               csv->features))
        return false;
    ag_graph *g = ag_graph_new();
    ag_node *logits = ag_mlp_forward(m->mlp, g, ag_input(g, csv->features));
    ag_node *probabilities = ag_softmax(logits);
    size_t rows = ag_tensor_size(csv->labels);
    ag_tensor *predicted = probabilities ? ag_predict_classes(logits, rows) : NULL;
    ag_confusion *c = predicted ? ag_confusion_new((int)m->n_classes) : NULL;
    bool ok = c && ag_confusion_add(c, csv->labels, predicted, rows);
    if (ok) {
        show_rows(m, probabilities, predicted, csv->labels);
        printf("\n");
        ok = ag_confusion_print(stdout, c, (const char *const *)m->classes);
    } else if (ag_graph_error(g)) {
        fprintf(stderr, "classify-predict: %s\n", ag_graph_error(g));
    }
    ag_confusion_free(c);
    ag_tensor_free(predicted);
    ag_graph_free(g);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: classify-predict MODEL.safetensors DATA.csv\n");
        return 2;
    }
    model m = {0};
    ag_labelled_csv *csv = NULL;
    bool ok = load_model(argv[1], &m);
    if (ok) {
        printf("%s: MLP %s, classes", argv[1], ag_params_meta(m.ps, "agrad.mlp.fc"));
        for (size_t k = 0; k < m.n_classes; k++) printf(" %s", m.classes[k]);
        printf("\n");
        /* the checkpoint's classes, so a file holding some of them keeps their indices */
        csv = ag_csv_load_labelled(argv[2], m.label, (const char *const *)m.classes, (int)m.n_classes);
        ok = csv && same_features(&m, csv);
        if (ok) printf("%s: %d rows\n\n", argv[2], ag_tensor_dim(csv->features, 0));
        ok = ok && predict(&m, csv);
    }
    if (!ok && ag_last_error()[0]) fprintf(stderr, "classify-predict: %s\n", ag_last_error());
    ag_labelled_csv_free(csv);
    free_model(&m);
    return ok ? 0 : 1;
}
