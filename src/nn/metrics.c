/* metrics.c -- classification metrics from logits: accuracy, argmax
 * predictions, and a confusion matrix with per-class precision and recall
 * (sklearn's confusion_matrix and classification_report conventions: row =
 * true class, column = predicted class; a quotient 0/0 is reported as 0, as
 * sklearn's zero_division default does). */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* index of the largest of n values (the first one on ties) */
static size_t argmax(const double *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
static size_t argmax_f32(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* the predicted class of row r of [N,C] logits, of either type */
static size_t row_class(const ag_node *logits, size_t r, size_t classes)
{
    if (logits->dtype == AG_FLOAT32) return argmax_f32(AG_F32(logits->value) + r * classes, classes);
    return argmax(logits->value + r * classes, classes);
}

double ag_accuracy(const ag_node *logits, const ag_tensor *labels, size_t rows)
{
    if (!logits || !labels) {
        ag_set_last_error("ag_accuracy: %s is NULL", logits ? "labels" : "logits");
        return -1.0;
    }
    if (logits->shape.ndim != 2 || rows == 0 || rows > (size_t)logits->shape.dims[0] ||
        rows > labels->shape.size) {
        char s[64];
        ag_set_last_error("ag_accuracy: needs [N,C] logits, labels and 0 < rows <= N; got logits (%s), "
                          "%zu labels, rows %zu", ag_shape_str(&logits->shape, s, sizeof s),
                          labels->shape.size, rows);
        return -1.0;
    }
    size_t classes = (size_t)logits->shape.dims[1], correct = 0;
    for (size_t r = 0; r < rows; r++)
        correct += (double)row_class(logits, r, classes) == ag_typed_get(labels->data, labels->dtype, r);
    return (double)correct / (double)rows;
}

ag_tensor *ag_predict_classes(const ag_node *logits, size_t rows)
{
    char s[64];
    if (!logits || logits->shape.ndim != 2 || rows == 0 || rows > (size_t)logits->shape.dims[0]) {
        ag_set_last_error("ag_predict_classes: needs [N,C] logits and 0 < rows <= N; got logits (%s), rows %zu",
                          logits ? ag_shape_str(&logits->shape, s, sizeof s) : "NULL", rows);
        return NULL;
    }
    ag_tensor *out = ag_tensor_zeros(1, (int[]){(int)rows});
    if (!out) return NULL;
    size_t classes = (size_t)logits->shape.dims[1];
    for (size_t r = 0; r < rows; r++) out->data[r] = (double)row_class(logits, r, classes);
    return out;
}

/* ---- confusion matrix ---------------------------------------------------------- */

struct ag_confusion {
    int n_classes;
    long *counts; /* [true][predicted], row-major */
};

ag_confusion *ag_confusion_new(int n_classes)
{
    if (n_classes < 1 || n_classes > 65536) {
        ag_set_last_error("ag_confusion_new: n_classes %d is not in [1, 65536]", n_classes);
        return NULL;
    }
    ag_confusion *c = ag_calloc(1, sizeof *c);
    if (c) c->counts = ag_calloc((size_t)n_classes * (size_t)n_classes, sizeof *c->counts);
    if (!c || !c->counts) {
        ag_free(c);
        ag_set_last_error("ag_confusion_new: out of memory");
        return NULL;
    }
    c->n_classes = n_classes;
    return c;
}

void ag_confusion_free(ag_confusion *c)
{
    if (!c) return;
    ag_free(c->counts);
    ag_free(c);
}

static bool is_class(const ag_confusion *c, double v)
{
    return v >= 0 && v < c->n_classes && v == floor(v);
}

bool ag_confusion_add(ag_confusion *c, const ag_tensor *labels, const ag_tensor *predicted, size_t rows)
{
    if (!c || !labels || !predicted || rows == 0 || rows > labels->shape.size || rows > predicted->shape.size) {
        ag_set_last_error("ag_confusion_add: needs a matrix, labels and predictions of at least rows > 0 "
                          "elements; got %s%zu labels, %zu predictions, rows %zu", c ? "" : "matrix NULL, ",
                          labels ? labels->shape.size : 0, predicted ? predicted->shape.size : 0, rows);
        return false;
    }
    for (size_t r = 0; r < rows; r++) /* checked first: on error nothing is counted */
        if (!is_class(c, labels->data[r]) || !is_class(c, predicted->data[r])) {
            bool label_bad = !is_class(c, labels->data[r]);
            ag_set_last_error("ag_confusion_add: row %zu: %s %.17g is not a class index in [0, %d)", r,
                              label_bad ? "label" : "prediction",
                              label_bad ? labels->data[r] : predicted->data[r], c->n_classes);
            return false;
        }
    for (size_t r = 0; r < rows; r++)
        c->counts[(size_t)labels->data[r] * (size_t)c->n_classes + (size_t)predicted->data[r]]++;
    return true;
}

int ag_confusion_classes(const ag_confusion *c) { return c ? c->n_classes : 0; }

long ag_confusion_count(const ag_confusion *c, int true_class, int predicted_class)
{
    if (!c || true_class < 0 || true_class >= c->n_classes || predicted_class < 0 ||
        predicted_class >= c->n_classes)
        return 0;
    return c->counts[(size_t)true_class * (size_t)c->n_classes + (size_t)predicted_class];
}

/* Row k's sum (support: samples of true class k) or column k's (predicted k). */
static long line_sum(const ag_confusion *c, int k, bool column)
{
    long sum = 0;
    for (int j = 0; j < c->n_classes; j++) sum += column ? ag_confusion_count(c, j, k) : ag_confusion_count(c, k, j);
    return sum;
}

static double ratio(long a, long b) { return b ? (double)a / (double)b : 0.0; }

/* precision_k = C[k][k] / sum_i C[i][k]  (of the predicted k, how many are k) */
double ag_confusion_precision(const ag_confusion *c, int k)
{
    if (!c || k < 0 || k >= c->n_classes) return NAN;
    return ratio(ag_confusion_count(c, k, k), line_sum(c, k, true));
}

/* recall_k = C[k][k] / sum_j C[k][j]  (of the true k, how many were found) */
double ag_confusion_recall(const ag_confusion *c, int k)
{
    if (!c || k < 0 || k >= c->n_classes) return NAN;
    return ratio(ag_confusion_count(c, k, k), line_sum(c, k, false));
}

/* accuracy = trace / total */
double ag_confusion_accuracy(const ag_confusion *c)
{
    if (!c) return NAN;
    long diagonal = 0, total = 0;
    for (int k = 0; k < c->n_classes; k++) {
        diagonal += ag_confusion_count(c, k, k);
        total += line_sum(c, k, false);
    }
    return ratio(diagonal, total);
}

/* Class k's name for a table: its given name or its index. */
static const char *class_label(const char *const *names, int k, char buf[16])
{
    if (names && names[k]) return names[k];
    snprintf(buf, 16, "%d", k);
    return buf;
}

bool ag_confusion_print(FILE *out, const ag_confusion *c, const char *const *class_names)
{
    if (!out || !c) {
        ag_set_last_error("ag_confusion_print: %s is NULL", out ? "matrix" : "out");
        return false;
    }
    char buf[16];
    int w = 9; /* the widest name, at least "precision" */
    for (int k = 0; k < c->n_classes; k++) {
        int len = (int)strlen(class_label(class_names, k, buf));
        if (len > w) w = len;
    }
    if (w > 40) w = 40;
    fprintf(out, "confusion matrix (rows: true class, columns: predicted class)\n%*s", w, "");
    for (int k = 0; k < c->n_classes; k++) fprintf(out, " %*.*s", w, w, class_label(class_names, k, buf));
    for (int i = 0; i < c->n_classes; i++) {
        fprintf(out, "\n%*.*s", w, w, class_label(class_names, i, buf));
        for (int j = 0; j < c->n_classes; j++) fprintf(out, " %*ld", w, ag_confusion_count(c, i, j));
    }
    fprintf(out, "\n\n%*s %9s %9s %9s %9s\n", w, "", "precision", "recall", "f1-score", "support");
    for (int k = 0; k < c->n_classes; k++) {
        double p = ag_confusion_precision(c, k), r = ag_confusion_recall(c, k);
        fprintf(out, "%*.*s %9.3f %9.3f %9.3f %9ld\n", w, w, class_label(class_names, k, buf), p, r,
                p + r > 0 ? 2 * p * r / (p + r) : 0.0, line_sum(c, k, false));
    }
    long total = 0;
    for (int k = 0; k < c->n_classes; k++) total += line_sum(c, k, false);
    fprintf(out, "%*s %9s %9s %9.3f %9ld\n", w, "accuracy", "", "", ag_confusion_accuracy(c), total);
    return !ferror(out);
}
