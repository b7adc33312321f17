/** agrad_io.h -- data and checkpoint input/output (part of agrad.h; include
 * agrad.h, not this file).
 *
 * Every function here reports failure by returning NULL / false / -1 and
 * setting ag_last_error() to a message that names the function and, for
 * files, the path and the line or byte offset:
 *   "ag_csv_load: iris.csv line 7: expected 5 fields, found 4".
 * Malformed files and out-of-memory are errors, never crashes. */
#ifndef AGRAD_IO_H
#define AGRAD_IO_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameter store: named tensors, in insertion order ------------------ */

typedef struct ag_params ag_params;

/** New empty store; NULL on out of memory. */
ag_params *ag_params_new(void);
/** Free the store and every tensor it owns; NULL is ignored. */
void ag_params_free(ag_params *ps);
/** New zero tensor of the given shape, requiring grad, owned by the store,
 * stored under `name` (copied; also set as the tensor's name, which the store
 * does not use afterwards). NULL on a duplicate, empty or reserved
 * ("__metadata__") name, a bad shape or OOM. */
ag_tensor *ag_params_add(ag_params *ps, const char *name, int ndim, const int *shape);
/** ag_params_add with an element type: a float32 parameter (its gradient
 * and optimiser state float32 too) is saved as F32 by every checkpoint. */
ag_tensor *ag_params_add_dtype(ag_params *ps, const char *name, int ndim, const int *shape, ag_dtype dtype);
/** The tensor named `name`, or NULL if absent. */
ag_tensor *ag_params_get(const ag_params *ps, const char *name);
/** Number of tensors in the store (0 for NULL). */
size_t ag_params_count(const ag_params *ps);
/** Number of scalars over all tensors (a 0-d tensor counts 1). */
size_t ag_params_numel(const ag_params *ps);
/** The i-th tensor in insertion order; NULL when i >= count. */
ag_tensor *ag_params_at(const ag_params *ps, size_t i);
/** Zero the gradient of every tensor in the store. */
void ag_params_zero_grad(ag_params *ps);

/** New zero tensor that is state, not a parameter (a standardiser's mean
 * and scale, batch-norm running statistics; PyTorch's register_buffer):
 * owned and saved by the store like the others, but it never requires grad,
 * ag_params_trainable leaves it out (so an optimiser built from that list
 * never updates it), ag_optimizer_new refuses it, and checkpoints record it
 * as state ("agrad.state" in __metadata__), so ag_checkpoint_read makes it
 * state again. Errors as ag_params_add's. */
ag_tensor *ag_params_add_state(ag_params *ps, const char *name, int ndim, const int *shape);
/** ag_params_add_state with an element type (a float32 model's batch-norm
 * running statistics, saved as F32). */
ag_tensor *ag_params_add_state_dtype(ag_params *ps, const char *name, int ndim, const int *shape, ag_dtype dtype);
/** Whether the store holds a state tensor named `name`. */
bool ag_params_is_state(const ag_params *ps, const char *name);
/** The store's trainable tensors (not state, requiring grad), in insertion
 * order, into out[0, cap) (out may be NULL with cap 0); returns how many
 * there are, which may be more than cap, as snprintf does:
 *   size_t n = ag_params_trainable(ps, NULL, 0);
 *   ag_tensor *list[n];  ag_params_trainable(ps, list, n);
 *   ag_optimizer *opt = ag_optimizer_new(n, list, &config);
 * The analogue of torch's model.parameters(), buffers excluded. */
size_t ag_params_trainable(const ag_params *ps, ag_tensor **out, size_t cap);

/* ---- metadata: strings a checkpoint carries in its __metadata__ -----------
 * Keys and values are UTF-8 strings, copied; keys "producer" and "agrad.*"
 * are agrad's (ag_mlp_new writes "agrad.mlp.<prefix>"; see ag_mlp_from_params).
 * ag_checkpoint_save writes every key; ag_checkpoint_read and
 * ag_checkpoint_load read them back (load: each file key replaces or joins
 * the store's; keys only the store has stay). */

/** Set key to value (replacing an old value). False (ag_last_error) on a NULL
 * argument, an empty or reserved key, text that is not UTF-8, or OOM. */
bool ag_params_set_meta(ag_params *ps, const char *key, const char *value);
/** The value of key, or NULL when absent; valid until the key is set again
 * or the store is freed. */
const char *ag_params_meta(const ag_params *ps, const char *key);
/** Number of keys, and the i-th in insertion order (NULL past the end). */
size_t ag_params_meta_count(const ag_params *ps);
const char *ag_params_meta_key(const ag_params *ps, size_t i);
/** A list of strings (class names) under one key, as the JSON array text
 * ["setosa","versicolor"]; errors as ag_params_set_meta's. */
bool ag_params_set_meta_strings(ag_params *ps, const char *key, const char *const *values, size_t n);
/** The list under key, as new strings (free with ag_strings_free), *n its
 * length; NULL (ag_last_error naming the key and showing the value) when the
 * key is absent or its value is not a JSON array of strings. */
char **ag_params_meta_strings(const ag_params *ps, const char *key, size_t *n);
/** Free n strings and the array holding them; NULL is ignored. */
void ag_strings_free(char **strings, size_t n);

/* ---- checkpoints (.safetensors) --------------------------------------------
 * File: u64 little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"producer": "agrad 0.1.0"},
 *    "W1": {"dtype": "F64", "shape": [4, 3], "data_offsets": [0, 96]}, ...}
 * (padded with spaces to a multiple of 8), then the little-endian data; the
 * offsets count from the first byte after the header. Loading is strict:
 * dtypes F64, F32, F16 or BF16 (each converted exactly to double: F16
 * subnormals, +-0, +-Inf and NaN included; BF16 is the top 16 bits of an F32),
 * data ranges contiguous in offset order, covering the data section exactly,
 * every size equal to the dtype's width x elements, dimensions positive
 * (agrad has no zero-size tensors), at most AG_MAX_DIMS of them.
 * Weight layout: PyTorch's nn.Linear stores weight [out, in] (y = x W^T + b),
 * ag_dense uses W [in, out] (y = x W + b): load such a file with
 * ag_checkpoint_read and copy the transpose into the W of ag_dense (see
 * tools/torch_train_iris.py and tools/iris_predict.c). */

/** Write every tensor of ps (values only, not gradients), in insertion order,
 * with the store's metadata and the names of its state tensors in
 * __metadata__, atomically: a temporary file (".agrad-XXXXXX") in the target's directory
 * is written, fsynced and renamed over the target, then the directory is
 * fsynced. On failure the temporary file is removed and an old file at path
 * is left as it was (if only the final directory fsync fails, path already
 * holds the complete new file). The header (names and shapes as JSON) may
 * be at most 100 MB, the limit ag_checkpoint_load enforces: a store over it
 * is refused before anything is written, so whatever is saved loads back.
 * Files: a symbolic link at path is followed to its final target (a dangling
 * one to where it points), which is replaced, so the link keeps pointing at
 * the new data. A new file gets the mode open(path, O_CREAT, 0666) would
 * give it (the umask applies); a replaced file keeps its permission bits,
 * never its setuid, setgid or sticky bit (nor its owner, when saving as
 * another user). ag_graph_save_dot writes the same way. */
bool ag_checkpoint_save(const ag_params *ps, const char *path);
/** Load values into an existing store: the file must hold exactly the store's
 * tensors (same names, same shapes; an extra or missing entry is an error),
 * matched by name in time linear in the number of tensors. Which tensors are
 * state stays as the store has it. The file's metadata joins the store's
 * (as ag_checkpoint_read keeps it); an "agrad.mlp.<prefix>" both hold must
 * be the same (else: another architecture, an error).
 * Everything is validated and read before any tensor changes, so on any
 * error ps is unchanged. Gradients are left as they are. */
bool ag_checkpoint_load(ag_params *ps, const char *path);
/** Same as ag_checkpoint_save but the values are stored as F32 (the dtype
 * PyTorch models usually ship in), each rounded to the nearest float, ties
 * to even. NaN stays NaN (sign kept) and +-Inf stays +-Inf; a finite value
 * that rounds past the largest float (|x| >= 2^128 - 2^103, about 3.4e38)
 * is an error naming the tensor and element, and nothing is written;
 * values too small for a float become float subnormals or +-0. */
bool ag_checkpoint_save_f32(const ag_params *ps, const char *path);
/** Read a whole checkpoint into a new store (in the order of their data in
 * the file): the tensors "agrad.state" lists are state
 * (ag_params_add_state), the others require grad; the metadata comes with
 * them (user keys and "agrad.mlp.*"; not "producer" nor the other
 * "agrad.*"). NULL on error, including an "agrad.state" that is not a JSON
 * array of strings naming tensors of the file. */
ag_params *ag_checkpoint_read(const char *path);

/* ---- training checkpoints: resumable, bit for bit ------------------------
 * What a training run needs besides the store's tensors (trainable ones and
 * any others kept in the store, such as batch-norm running statistics: a
 * tensor added with ag_params_add and frozen with ag_tensor_requires_grad
 * false is saved like any other). Every pointer may be NULL (not saved). */
typedef struct ag_batches ag_batches;
typedef struct ag_training_state {
    ag_optimizer *optimizer; /**< its step count and moments: SGD's momentum
                                  buffers, Adam's / AdamW's first and second */
    ag_batches *batches;     /**< the iterator's shuffling and position */
    ag_rng *const *rngs;     /**< n_rngs generators (dropout, augmentation):
                                  .rngs = (ag_rng *[]){&dropout}, .n_rngs = 1 */
    size_t n_rngs;
} ag_training_state;

/** Save the store and the state in one .safetensors file, atomically like
 * ag_checkpoint_save (F64). The optimiser's buffers are tensors named
 * "__optimizer__.<k>.momentum_buffer" (SGD) or "__optimizer__.<k>.exp_avg"
 * and ".exp_avg_sq" (Adam, AdamW), k the parameter's index in the optimiser,
 * each of its parameter's shape; the optimiser's kind, parameter count and
 * step count, the iterator's and the generators' states go in __metadata__
 * as "agrad.*" strings. A store tensor whose name starts "__optimizer__." is
 * an error (it would clash). state NULL saves the store alone, as
 * ag_checkpoint_save does. */
bool ag_checkpoint_save_training(const ag_params *ps, const ag_training_state *state,
                                 const char *path);
/** Load such a file into an existing store and state (made as for the
 * saved run: same tensors, same optimiser kind over the same parameter
 * shapes, an iterator over the same number of samples and batch size, as
 * many generators). All or nothing: every part is checked and read first;
 * on any error (its message names what differs: optimiser kind, parameter
 * count, a shape, sample count, a missing part) nothing changes. The
 * optimiser's settings (lr, betas, ...) are not stored: the caller's stay.
 * A part of state that is NULL is not read even when the file holds it;
 * a part that is given must be in the file. ag_checkpoint_load and
 * ag_checkpoint_read of a training file skip its "__optimizer__." tensors. */
bool ag_checkpoint_load_training(ag_params *ps, ag_training_state *state, const char *path);

/* ---- datasets -------------------------------------------------------------- */

/** Read a numeric CSV file into a new [R,C] tensor, one row per line after
 * skipping the first `skip_lines` lines. Fields are separated by commas,
 * may have spaces or tabs around them and must be finite numbers (strtod in
 * the current locale); every row has the same number of fields; lines that
 * are empty or blank are ignored; CRLF endings are accepted. NULL on error
 * (message with line and column), including a file with no data rows.
 * Limits: a line may hold at most 4 MiB (4194304 bytes, its newline not
 * counted) and the file must be under 1 GiB, so an endless input such as
 * /dev/zero fails with a message. Control bytes of a field quoted in a
 * message are escaped (\x0d). A file with a header row, quoted fields or
 * string labels: ag_csv_load_labelled below. */
ag_tensor *ag_csv_load(const char *path, int skip_lines);

/** A labelled table read by ag_csv_load_labelled. */
typedef struct ag_labelled_csv {
    ag_tensor *features;  /**< [N,F] the numeric columns, in file order */
    ag_tensor *labels;    /**< [N] class indices 0 .. n_classes - 1 */
    int n_features;       /**< F */
    char **feature_names; /**< [F] their header names */
    char *label_name;     /**< the label column's header name */
    int n_classes;
    char **class_names;   /**< [n_classes] class k's label as the file spells it */
} ag_labelled_csv;

/** Read a CSV file with a header row into features, labels and names (as
 * pandas.read_csv then sklearn's LabelEncoder). The first non-blank line is
 * the header: column names, non-empty and distinct. label_column names the
 * label column (NULL: the last one); every other column must hold finite
 * numbers (strtod). Fields follow RFC 4180: a field may be quoted, "...",
 * with "" for a quote inside, and may then hold commas and line breaks;
 * spaces and tabs around a field are dropped, blank lines skipped, CRLF
 * accepted, a UTF-8 byte order mark ignored; limits as ag_csv_load's.
 * Classes, when classes is NULL (n_classes 0): the distinct labels SORTED,
 * as LabelEncoder does: numerically when every label is a number (so 0, 1,
 * 2 stay 0, 1, 2 and "10" comes after "9"), otherwise by bytes (code point
 * order: "Setosa" < "setosa"); equal numbers ("1", "1.0") are one class,
 * named as first written. Given classes[0 .. n_classes) (a checkpoint's,
 * so a file holding only some of them keeps their indices), each label must
 * equal one of them (as text, or as a number); its index is that position.
 * NULL on error, ag_last_error naming the file, the line (a record's first
 * line), the column number and name and the field:
 *   "ag_csv_load_labelled: d.csv line 7 column 3 ('petal_length'): 'abc' is
 *    not a finite number".
 * Free the result with ag_labelled_csv_free. */
ag_labelled_csv *ag_csv_load_labelled(const char *path, const char *label_column,
                                      const char *const *classes, int n_classes);
void ag_labelled_csv_free(ag_labelled_csv *d);

/** Split an [N,C] matrix (C >= 2) into features [N,C-1] (every column but
 * label_col, in order) and labels [N] (column label_col; -1 means the last).
 * If n_classes > 0 each label must be a whole number in [0, n_classes).
 * On success *features and *labels are new tensors owned by the caller; on
 * error both are set to NULL and false is returned. */
bool ag_split_labels(const ag_tensor *m, int label_col, int n_classes, ag_tensor **features,
                     ag_tensor **labels);

/** Rows of x [N,...] (and of y [N,...], which may be NULL) split into a test
 * set of n_test = ceil(test_fraction * N) rows and a training set of the
 * others, shuffled by a seeded permutation (the same seed, the same split on
 * every machine): sklearn's train_test_split(x, y, test_size=test_fraction,
 * stratify=y if stratify) in spirit, not its random stream. Stratified (y
 * [N] class indices), each class keeps its share in the test set, within
 * one row: floor(n_c * n_test / N) each, the rows left over to the classes
 * with the largest remainders. For train / validation / test, split twice.
 * The four tensors are new (y's NULL when y is); free them with
 * ag_split_free. False (ag_last_error; *out zeroed) on a shape mismatch,
 * test_fraction outside (0, 1) or leaving no training row, stratify without
 * class-index labels, or OOM. */
typedef struct ag_split {
    ag_tensor *x_train, *y_train, *x_test, *y_test;
} ag_split;
bool ag_train_test_split(const ag_tensor *x, const ag_tensor *y, double test_fraction, bool stratify,
                         unsigned long long seed, ag_split *out);
/** Free the four tensors and zero *s; NULL is ignored. */
void ag_split_free(ag_split *s);

/** Standardisation, as sklearn's StandardScaler: fit on the training rows
 * x [N,F] into mean [F] and scale [F] (population standard deviation; a
 * column whose values are all equal gets scale 1), then apply to any x
 * [M,F] in place: x = (x - mean) / scale. Keep mean and scale in the store
 * as state tensors (ag_params_add_state) and a checkpoint carries them.
 * False (ag_last_error naming the shapes) on a shape mismatch, a
 * non-finite mean or variance, or (apply) a scale that is not finite and
 * positive. */
bool ag_standardizer_fit(const ag_tensor *x, ag_tensor *mean, ag_tensor *scale);
bool ag_standardizer_apply(const ag_tensor *mean, const ag_tensor *scale, ag_tensor *x);

/** Read an IDX file (MNIST format: 0x00 0x00 type ndim, ndim big-endian u32
 * dimensions, then big-endian data), gzip-compressed or not, into a new
 * double tensor of the file's shape (ndim 1 to 4). Types: 0x08 u8, 0x09 i8,
 * 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64; values are converted unscaled
 * (pixels stay 0..255), floats must be finite. The file must hold exactly
 * the data its header claims (truncated or trailing data is an error); a
 * gzip file must be complete gzip members (usually one; concatenated ones
 * read as their contents in a row, as gzip -d does), each with a matching
 * CRC-32 and length, and nothing else after them. Memory follows the data, not the header: a
 * gzip file is decompressed once to check it whole, without storing the
 * values, then again to store them, so a small file claiming a huge tensor
 * fails without allocating for the claim (a pipe, which cannot be read
 * twice, is read once, memory growing with the data it holds). */
ag_tensor *ag_idx_load(const char *path);

/* ---- mini-batches ------------------------------------------------------------
 * Iterates over the N samples (rows) of x [N, ...] and, optionally, y
 * [N, ...] in batches of B rows, copying each batch into caller-owned tensors
 * so that a graph recorded on them can be replayed for every batch. An epoch
 * visits every sample once (or every full batch's worth with DROP_LAST); with
 * SHUFFLE each epoch starts with a fresh Fisher-Yates permutation drawn from
 * the seeded generator, so the same seed gives the same order of every epoch.
 * x and y are borrowed: they must outlive the iterator. */

enum {
    AG_BATCHES_SHUFFLE = 1,   /**< new random order every epoch (else 0..N-1) */
    AG_BATCHES_DROP_LAST = 2, /**< skip the last batch when it has fewer than B rows */
};

/** New iterator; x [N, ...], y [N, ...] or NULL, batch_size B >= 1, flags a
 * combination of AG_BATCHES_*. NULL on a bad argument (y of another N, x a
 * scalar, DROP_LAST with B > N, which would give no batch at all) or OOM. */
ag_batches *ag_batches_new(const ag_tensor *x, const ag_tensor *y, int batch_size, int flags,
                           unsigned long long seed);
void ag_batches_free(ag_batches *b);
/** Copy the next batch into bx [B, ...] and by [B, ...] (by may be NULL; each
 * must have B rows of the same number of elements per row as x / y, any
 * shape, so images [N,28,28] can fill bx [B,784]). Returns the number of rows
 * filled: B, or fewer for the last batch of an epoch (its remaining rows are
 * zeroed), or 0 once the epoch is over; the call after a 0 starts the next
 * epoch. -1, with nothing copied (see ag_last_error), on a NULL iterator
 * or bx, a shape mismatch, by without labels, or when bx or by is x or y, or
 * bx is by (or their elements overlap): filling it would overwrite data. */
int ag_batches_next(ag_batches *b, ag_tensor *bx, ag_tensor *by);
/** Batches per epoch, the last partial one included unless DROP_LAST. */
size_t ag_batches_per_epoch(const ag_batches *b);
/** Epochs started so far (1 after the first batch, ...). */
size_t ag_batches_epoch(const ag_batches *b);
/** Index (0..N-1) of the sample in row `row` of the last batch returned, or
 * (size_t)-1 if there is no such row. */
size_t ag_batches_sample(const ag_batches *b, int row);

/** The iterator's position, a plain value: the generator as it was before
 * this epoch's order was drawn (the order is drawn again from it on
 * restore), epochs started, samples handed out in this epoch, and whether
 * an epoch is under way. ag_checkpoint_save_training stores it. */
typedef struct ag_batches_state {
    ag_rng epoch_rng;
    unsigned long long epoch, pos;
    bool in_epoch;
} ag_batches_state;
/** The current state (zeroes for NULL). */
ag_batches_state ag_batches_get_state(const ag_batches *b);
/** Continue from a state taken from an iterator over the same number of
 * samples, batch size and flags: the following batches are those the other
 * iterator would have returned. False (ag_last_error; nothing changes) on a
 * NULL argument or a position past the sample count. */
bool ag_batches_set_state(ag_batches *b, const ag_batches_state *s);

#ifdef __cplusplus
}
#endif
#endif
