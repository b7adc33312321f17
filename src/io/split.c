/* split.c -- split a loaded data matrix into features and labels, and its
 * rows into a training and a test (or validation) set. */
#include "io_internal.h"

#include <limits.h>
#include <math.h>

/* m [N,C] -> features [N,C-1] (columns other than col, in order), labels [N]. */
bool ag_split_labels(const ag_tensor *m, int label_col, int n_classes, ag_tensor **features,
                     ag_tensor **labels)
{
    if (!features || !labels) {
        ag_set_last_error("ag_split_labels: output pointers are NULL");
        return false;
    }
    *features = *labels = NULL;
    char s[64];
    if (!m || m->shape.ndim != 2 || m->shape.dims[1] < 2) {
        ag_set_last_error("ag_split_labels: expected an [N,C] matrix with C >= 2, got (%s)",
                          m ? ag_shape_str(&m->shape, s, sizeof s) : "NULL");
        return false;
    }
    int n = m->shape.dims[0], c = m->shape.dims[1];
    int col = label_col < 0 ? c + label_col : label_col;
    if (col < 0 || col >= c) {
        ag_set_last_error("ag_split_labels: label column %d is out of range for %d columns",
                          label_col, c);
        return false;
    }
    for (int r = 0; n_classes > 0 && r < n; r++) {
        double v = m->data[(size_t)r * (size_t)c + (size_t)col];
        if (!(v >= 0 && v < n_classes && v == floor(v))) {
            ag_set_last_error("ag_split_labels: row %d: label %.17g is not a class index in "
                              "[0, %d)", r, v, n_classes);
            return false;
        }
    }
    ag_tensor *x = ag_tensor_zeros(2, (int[]){n, c - 1});
    ag_tensor *y = x ? ag_tensor_zeros(1, (int[]){n}) : NULL;
    if (!y) {
        ag_tensor_free(x);
        ag_set_last_error("ag_split_labels: out of memory");
        return false;
    }
    for (size_t r = 0; r < (size_t)n; r++) {
        const double *row = m->data + r * (size_t)c;
        double *out = x->data + r * (size_t)(c - 1);
        for (int k = 0, j = 0; k < c; k++) {
            if (k == col)
                y->data[r] = row[k];
            else
                out[j++] = row[k];
        }
    }
    *features = x;
    *labels = y;
    return true;
}

/* ---- train / test split of rows ---------------------------------------------
 * As sklearn.model_selection.train_test_split(shuffle=True): n_test =
 * ceil(test_fraction * N) rows, drawn by one seeded Fisher-Yates
 * permutation p; unstratified, test = rows p[0 .. n_test), train = the rest,
 * in that order. Stratified, class c (of n_c rows) gets t_c test rows:
 * floor(n_c n_test / N), then the rows still missing go one each to the
 * classes with the largest remainders (n_c n_test mod N; ties to the lower
 * class); walking p, a row of class c goes to test while c has fewer than
 * t_c there, else to train. */

void ag_split_free(ag_split *s)
{
    if (!s) return;
    ag_tensor_free(s->x_train);
    ag_tensor_free(s->y_train);
    ag_tensor_free(s->x_test);
    ag_tensor_free(s->y_test);
    *s = (ag_split){0};
}

/* A tensor of t's shape but `rows` rows. */
static ag_tensor *rows_like(const ag_tensor *t, size_t rows)
{
    int dims[AG_MAX_DIMS];
    for (int d = 0; d < t->shape.ndim; d++) dims[d] = t->shape.dims[d];
    dims[0] = (int)rows;
    return ag_tensor_zeros(t->shape.ndim, dims);
}

/* Copy rows order[0, n) of src into dst, in that order. */
static void gather_rows(const ag_tensor *src, ag_tensor *dst, const size_t *order, size_t n)
{
    size_t width = src->shape.size / (size_t)src->shape.dims[0];
    for (size_t i = 0; i < n; i++)
        memcpy(dst->data + i * width, src->data + order[i] * width, width * sizeof(double));
}

/* Class c's test rows t_c (see the top of this part), into quota[c]. */
static void stratified_quota(size_t *count, size_t classes, size_t n, size_t n_test, size_t *quota)
{
    size_t given = 0;
    for (size_t c = 0; c < classes; c++) given += quota[c] = count[c] * n_test / n;
    for (; given < n_test; given++) {
        size_t best = 0;
        for (size_t c = 1; c < classes; c++) /* the largest remainder not yet served */
            if (count[c] * n_test % n > count[best] * n_test % n) best = c;
        quota[best]++;
        count[best] = 0; /* served: remainder 0 from now on (count is scratch) */
    }
}

static bool split_args_valid(const ag_tensor *x, const ag_tensor *y, double test_fraction,
                             bool stratify, size_t *n_test, size_t *classes)
{
    char s1[64], s2[64];
    if (!x || x->shape.ndim < 1 || (y && (y->shape.ndim < 1 || y->shape.dims[0] != x->shape.dims[0]))) {
        ag_set_last_error("ag_train_test_split: x must be [N,...] and y [N,...] or NULL; got x (%s), y (%s)",
                          x ? ag_shape_str(&x->shape, s1, sizeof s1) : "NULL",
                          y ? ag_shape_str(&y->shape, s2, sizeof s2) : "NULL");
        return false;
    }
    size_t n = (size_t)x->shape.dims[0];
    if (!(test_fraction > 0 && test_fraction < 1)) {
        ag_set_last_error("ag_train_test_split: test_fraction %g is not in (0, 1)", test_fraction);
        return false;
    }
    *n_test = (size_t)ceil(test_fraction * (double)n);
    if (*n_test >= n) {
        ag_set_last_error("ag_train_test_split: test_fraction %g of %zu rows leaves no training row",
                          test_fraction, n);
        return false;
    }
    *classes = 0;
    if (!stratify) return true;
    if (!y || y->shape.ndim != 1) {
        ag_set_last_error("ag_train_test_split: stratify needs labels y [N] of class indices");
        return false;
    }
    for (size_t r = 0; r < n; r++) {
        double v = y->data[r];
        if (!(v >= 0 && v < (double)INT_MAX && v == floor(v))) {
            ag_set_last_error("ag_train_test_split: stratify: label %zu is %.17g, not a class index", r, v);
            return false;
        }
        if ((size_t)v + 1 > *classes) *classes = (size_t)v + 1;
    }
    return true;
}

bool ag_train_test_split(const ag_tensor *x, const ag_tensor *y, double test_fraction, bool stratify,
                         unsigned long long seed, ag_split *out)
{
    if (!out) {
        ag_set_last_error("ag_train_test_split: out is NULL");
        return false;
    }
    *out = (ag_split){0};
    size_t n_test, classes;
    if (!split_args_valid(x, y, test_fraction, stratify, &n_test, &classes)) return false;
    size_t n = (size_t)x->shape.dims[0];
    size_t *perm = ag_malloc(n * sizeof *perm), *order = ag_malloc(n * sizeof *order);
    size_t *count = ag_calloc(classes ? classes : 1, sizeof *count);
    size_t *quota = ag_calloc(classes ? classes : 1, sizeof *quota);
    bool ok = perm && order && count && quota;
    if (ok) {
        ag_rng rng = ag_rng_new(seed);
        for (size_t i = 0; i < n; i++) perm[i] = i;
        ag_shuffle_indices(&rng, perm, n);
        if (stratify) {
            for (size_t r = 0; r < n; r++) count[(size_t)y->data[r]]++;
            stratified_quota(count, classes, n, n_test, quota);
            size_t te = 0, tr = n_test; /* test rows first in order, then train */
            for (size_t i = 0; i < n; i++) {
                size_t c = (size_t)y->data[perm[i]];
                order[quota[c] > 0 ? te++ : tr++] = perm[i];
                if (quota[c] > 0) quota[c]--;
            }
        } else {
            memcpy(order, perm, n * sizeof *order);
        }
        out->x_test = rows_like(x, n_test);
        out->x_train = rows_like(x, n - n_test);
        out->y_test = y ? rows_like(y, n_test) : NULL;
        out->y_train = y ? rows_like(y, n - n_test) : NULL;
        ok = out->x_test && out->x_train && (!y || (out->y_test && out->y_train));
    }
    if (ok) {
        gather_rows(x, out->x_test, order, n_test);
        gather_rows(x, out->x_train, order + n_test, n - n_test);
        if (y) gather_rows(y, out->y_test, order, n_test);
        if (y) gather_rows(y, out->y_train, order + n_test, n - n_test);
    } else {
        ag_split_free(out);
        ag_set_last_error("ag_train_test_split: out of memory");
    }
    ag_free(perm);
    ag_free(order);
    ag_free(count);
    ag_free(quota);
    return ok;
}
