/* batches.c -- mini-batch iterator: copies the rows of x [N, ...] (and y
 * [N, ...]) into caller-owned batch tensors, B rows at a time, in a seeded
 * Fisher-Yates order that is redrawn at the start of every epoch. */
#include "io_internal.h"

struct ag_batches {
    const ag_tensor *x, *y; /* borrowed */
    size_t n;               /* samples (rows) */
    size_t x_row, y_row;    /* elements per row of x and of y */
    int batch;              /* B */
    int flags;
    ag_rng rng;
    ag_rng epoch_rng;       /* rng as it was before this epoch's order was drawn */
    size_t *order;          /* this epoch's sample order */
    size_t pos;             /* next position in order */
    size_t epoch;           /* epochs started */
    bool in_epoch;
    size_t last_start;      /* position of the last batch returned ... */
    int last_rows;          /* ... and its row count (0: none) */
};

ag_batches *ag_batches_new(const ag_tensor *x, const ag_tensor *y, int batch_size, int flags,
                           unsigned long long seed)
{
    char s1[64], s2[64];
    if (!x || x->shape.ndim < 1) {
        ag_set_last_error("ag_batches_new: x must have a first (sample) dimension, got %s",
                          x ? "a scalar" : "NULL");
        return NULL;
    }
    if (y && (y->shape.ndim < 1 || y->shape.dims[0] != x->shape.dims[0])) {
        ag_set_last_error("ag_batches_new: x (%s) and y (%s) must have the same number of rows",
                          ag_shape_str(&x->shape, s1, sizeof s1),
                          ag_shape_str(&y->shape, s2, sizeof s2));
        return NULL;
    }
    size_t n = (size_t)x->shape.dims[0];
    if (batch_size < 1 || (flags & ~(AG_BATCHES_SHUFFLE | AG_BATCHES_DROP_LAST))) {
        ag_set_last_error("ag_batches_new: %s", batch_size < 1 ? "batch size must be at least 1"
                                                               : "unknown flags");
        return NULL;
    }
    if ((flags & AG_BATCHES_DROP_LAST) && (size_t)batch_size > n) {
        ag_set_last_error("ag_batches_new: batch size %d with DROP_LAST leaves no batch of "
                          "%zu samples", batch_size, n);
        return NULL;
    }
    ag_batches *b = ag_calloc(1, sizeof *b);
    size_t *order = b ? ag_calloc(n, sizeof *order) : NULL;
    if (!order) {
        ag_free(b);
        ag_set_last_error("ag_batches_new: out of memory");
        return NULL;
    }
    *b = (ag_batches){.x = x, .y = y, .n = n, .x_row = x->shape.size / n,
                      .y_row = y ? y->shape.size / n : 0, .batch = batch_size, .flags = flags,
                      .rng = ag_rng_new(seed), .order = order};
    return b;
}

void ag_batches_free(ag_batches *b)
{
    if (!b) return;
    ag_free(b->order);
    ag_free(b);
}

size_t ag_batches_per_epoch(const ag_batches *b)
{
    if (!b) return 0;
    size_t B = (size_t)b->batch;
    return (b->flags & AG_BATCHES_DROP_LAST) ? b->n / B : (b->n + B - 1) / B;
}

size_t ag_batches_epoch(const ag_batches *b) { return b ? b->epoch : 0; }

size_t ag_batches_sample(const ag_batches *b, int row)
{
    if (!b || row < 0 || row >= b->last_rows) return (size_t)-1;
    return b->order[b->last_start + (size_t)row];
}

/* Identity order, shuffled (Fisher-Yates, from the back) when asked. */
static void start_epoch(ag_batches *b)
{
    b->epoch_rng = b->rng;
    for (size_t i = 0; i < b->n; i++) b->order[i] = i;
    if (b->flags & AG_BATCHES_SHUFFLE) ag_shuffle_indices(&b->rng, b->order, b->n);
    b->pos = 0;
    b->epoch++;
    b->in_epoch = true;
}

/* A batch tensor must have B rows of `row` elements each. */
static bool fits(const ag_batches *b, const ag_tensor *t, size_t row, const char *what)
{
    if (t->shape.ndim >= 1 && t->shape.dims[0] == b->batch &&
        t->shape.size == (size_t)b->batch * row)
        return true;
    char s[64];
    ag_set_last_error("ag_batches_next: %s has shape (%s); expected %d rows of %zu elements",
                      what, ag_shape_str(&t->shape, s, sizeof s), b->batch, row);
    return false;
}

/* Whether the elements of a and b share any memory (the same tensor, or
 * buffers that overlap). */
static bool overlaps(const ag_tensor *a, const ag_tensor *b)
{
    uintptr_t a_lo = (uintptr_t)a->data, a_hi = (uintptr_t)(a->data + a->shape.size);
    uintptr_t b_lo = (uintptr_t)b->data, b_hi = (uintptr_t)(b->data + b->shape.size);
    return a_lo < b_hi && b_lo < a_hi;
}

/* A batch tensor must not share memory with the data set nor with the other
 * batch tensor: gathering into it would overwrite samples still to be read. */
static bool separate(const ag_batches *b, const ag_tensor *bx, const ag_tensor *by)
{
    const char *clash = overlaps(bx, b->x)            ? "bx shares its memory with the data set x"
                        : b->y && overlaps(bx, b->y)  ? "bx shares its memory with the labels y"
                        : by && overlaps(by, b->x)    ? "by shares its memory with the data set x"
                        : by && overlaps(by, b->y)    ? "by shares its memory with the labels y"
                        : by && overlaps(bx, by)      ? "bx and by share their memory"
                                                      : NULL;
    if (clash)
        ag_set_last_error("ag_batches_next: %s (is it the same tensor?); batches must be "
                          "copied into tensors of their own", clash);
    return clash == NULL;
}

/* Copy `rows` samples into t (row k <- sample order[pos + k]), zero the rest. */
static void gather(const ag_batches *b, const ag_tensor *src, size_t row, ag_tensor *t, int rows)
{
    for (int k = 0; k < rows; k++)
        memcpy(t->data + (size_t)k * row, src->data + b->order[b->pos + (size_t)k] * row,
               row * sizeof(double));
    memset(t->data + (size_t)rows * row, 0, (size_t)(b->batch - rows) * row * sizeof(double));
}

int ag_batches_next(ag_batches *b, ag_tensor *bx, ag_tensor *by)
{
    if (!b || !bx) {
        ag_set_last_error("ag_batches_next: %s is NULL", b ? "bx" : "iterator");
        return -1;
    }
    if (by && !b->y) {
        ag_set_last_error("ag_batches_next: by given but the iterator has no labels");
        return -1;
    }
    if (!fits(b, bx, b->x_row, "bx") || (by && !fits(b, by, b->y_row, "by")) || !separate(b, bx, by))
        return -1;
    if (!b->in_epoch) start_epoch(b);
    size_t left = b->n - b->pos;
    if (left == 0 || ((b->flags & AG_BATCHES_DROP_LAST) && left < (size_t)b->batch)) {
        b->in_epoch = false;
        b->last_rows = 0;
        return 0;
    }
    int rows = left < (size_t)b->batch ? (int)left : b->batch;
    gather(b, b->x, b->x_row, bx, rows);
    if (by) gather(b, b->y, b->y_row, by, rows);
    b->last_start = b->pos;
    b->last_rows = rows;
    b->pos += (size_t)rows;
    return rows;
}

ag_batches_state ag_batches_get_state(const ag_batches *b)
{
    if (!b) return (ag_batches_state){.epoch = 0};
    return (ag_batches_state){.epoch_rng = b->in_epoch ? b->epoch_rng : b->rng,
                              .epoch = b->epoch, .pos = b->pos, .in_epoch = b->in_epoch};
}

/* Within an epoch the order is drawn again from the generator it was drawn
 * from, and the last batch returned is the one ending at pos (every batch
 * before the last of an epoch is full, so it starts at the multiple of B
 * below pos). */
bool ag_batches_set_state(ag_batches *b, const ag_batches_state *s)
{
    if (!b || !s) {
        ag_set_last_error("ag_batches_set_state: %s is NULL", b ? "state" : "iterator");
        return false;
    }
    if (s->pos > b->n || (s->in_epoch && s->epoch == 0)) {
        ag_set_last_error("ag_batches_set_state: position %llu in epoch %llu does not fit an "
                          "iterator over %zu samples", s->pos, s->epoch, b->n);
        return false;
    }
    b->rng = s->epoch_rng;
    b->epoch = (size_t)s->epoch;
    b->in_epoch = false;
    b->last_rows = 0;
    if (s->in_epoch) {
        b->epoch--;
        start_epoch(b); /* redraws the order, counts the epoch again */
        b->pos = (size_t)s->pos;
        if (b->pos > 0) {
            b->last_start = (b->pos - 1) / (size_t)b->batch * (size_t)b->batch;
            b->last_rows = (int)(b->pos - b->last_start);
        }
    } else {
        b->pos = (size_t)s->pos;
    }
    return true;
}

/* For ag_checkpoint_load_training: what must agree between iterators. */
void ag_batches_shape(const ag_batches *b, size_t *n, int *batch, int *flags)
{
    *n = b->n;
    *batch = b->batch;
    *flags = b->flags;
}
