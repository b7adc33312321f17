/* metrics.c -- classification accuracy from logits. */
#include "../internal.h"

/* index of the largest of n values (the first one on ties) */
static size_t argmax(const double *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
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
        correct += (double)argmax(logits->value + r * classes, classes) == labels->data[r];
    return (double)correct / (double)rows;
}
