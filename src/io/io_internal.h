/* io_internal.h -- helpers shared by the io files (src/io/), and test hooks. */
#ifndef AGRAD_IO_INTERNAL_H
#define AGRAD_IO_INTERNAL_H

#include "../internal.h"

#include <stdint.h>
#include <string.h>

/* ---- byte order: explicit, so files are the same on every host ------------ */
static inline uint64_t ag_load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void ag_store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t ag_load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void ag_store_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline float ag_bits_to_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t ag_float_to_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static inline double ag_bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline uint64_t ag_double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* ---- a tensor that takes over an ag_malloc'ed buffer ------------------------ */
/* New tensor of `shape` whose data is `data` (shape->size doubles, from
 * ag_malloc/ag_realloc); on failure data is freed and NULL returned. */
ag_tensor *ag_tensor_adopt(const ag_shape *shape, double *data);

/* ---- parameter store internals (params.c) --------------------------------- */
/* The name the i-th tensor was added under (insertion order), NULL past the end. */
const char *ag_params_name_at(const ag_params *ps, size_t i);
/* Remove (and free) the tensors added after the first `count`, newest first:
 * the rollback of a constructor that failed halfway (ag_mlp_new). */
void ag_params_truncate(ag_params *ps, size_t count);
/* Metadata keys agrad writes itself: "producer" and "agrad.*". */
bool ag_io_meta_key_reserved(const char *key);
/* ag_params_set_meta without the checks (agrad's own keys); false on OOM. */
bool ag_params_set_meta_unchecked(ag_params *ps, const char *key, const char *value);
/* Set every keys[j] to values[j] (replacing, else appending); all or
 * nothing: false on OOM with the store's metadata unchanged. */
bool ag_params_merge_meta(ag_params *ps, const char *const *keys, const char *const *values, size_t n);
/* Remove one key (absent: nothing happens). */
void ag_params_remove_meta(ag_params *ps, const char *key);
/* Metadata of the MLP recorded with prefix p: key AG_MLP_META_PREFIX p. */
#define AG_MLP_META_PREFIX "agrad.mlp."
/* The names of the store's state tensors, as a JSON array in one string. */
#define AG_STATE_META_KEY "agrad.state"

/* ---- CSV files (csv.c) --------------------------------------------------------- */
/* The whole file, NUL-terminated, in an ag_malloc'ed buffer (4 MiB per line,
 * under 1 GiB in all); NULL with "fn: path ..." set on error. */
char *ag_csv_read_all(const char *fn, const char *path, size_t *len);

/* RFC 4180 records (csv_records.c): ag_csv_read_record reads the next one
 * (1), or says the text is over (0) or fails (-1, "fn: path line L column C:
 * ..." set); its fields are then ag_csv_field(r, 0 .. n_fields - 1), each
 * unquoted and unescaped, NUL-terminated, with its length in *len. */
typedef struct ag_csv_reader {
    const char *fn, *path;
    const char *p, *end;     /* the text not read yet */
    size_t line;             /* 1-based line of p */
    size_t record_line;      /* the line the last record started on */
    char *text;              /* the record's fields, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *starts;          /* n_fields offsets into text */
    bool *quoted;            /* whether field k was quoted */
    size_t n_fields, fields_cap;
} ag_csv_reader;
void ag_csv_reader_init(ag_csv_reader *r, const char *fn, const char *path, const char *text, size_t len);
int ag_csv_read_record(ag_csv_reader *r);
const char *ag_csv_field(const ag_csv_reader *r, size_t k, size_t *len);
void ag_csv_reader_free(ag_csv_reader *r);

/* ---- mini-batch iterator internals (batches.c) ----------------------------- */
/* Its sample count, batch size and flags (a training checkpoint stores them). */
void ag_batches_shape(const ag_batches *b, size_t *n, int *batch, int *flags);

/* ---- checkpoint format limits: one place, read by save and by load -------- */
/* The JSON header may be at most this many bytes (padding included); save
 * refuses to write a bigger one, load refuses to read it. Every other rule
 * load enforces (names unique, not "__metadata__", UTF-8; shapes of at most
 * AG_MAX_DIMS positive dimensions, sizes as ag_shape_make allows) holds for
 * any store by construction, or is checked by save before anything is
 * written (UTF-8). */
#define AG_CKPT_MAX_HEADER_BYTES (100ull * 1000 * 1000)
/* The header limit in force in this thread: AG_CKPT_MAX_HEADER_BYTES, or
 * what a test set with ag_io_set_max_header (0 restores the default). */
uint64_t ag_ckpt_max_header(void);
/* That limit for a message: "100 MB", or "N-byte" when not whole megabytes. */
const char *ag_ckpt_limit_text(char buf[32]);
void ag_io_set_max_header(uint64_t bytes);

/* ---- writing a checkpoint (checkpoint_save.c) ------------------------------ */
/* One tensor of the file: its name, shape and shape->size values of type
 * dtype (a float32 tensor's or optimiser buffer's: saved as F32). */
typedef struct ag_ckpt_item {
    const char *name;
    const ag_shape *shape;
    const double *data;
    ag_dtype dtype;
} ag_ckpt_item;
typedef struct ag_ckpt_out {
    const char *fn, *path; /* the public function and the target, for messages */
    const ag_ckpt_item *items;
    size_t n;
    int width; /* 8: F64 for float64 items (float32 ones are F32 always), 4: all F32 */
} ag_ckpt_out;
/* Copy n values read from a file (doubles, exact for every stored type)
 * into a buffer of `dtype` (a float32 tensor's: F32 values are exact there). */
void ag_ckpt_store_values(double *dst, ag_dtype dtype, const double *values, size_t n);
/* Write the items (in order) atomically, with `meta` (a JSON object of
 * strings, consumed; NULL: none) in __metadata__ beside "producer". */
struct json_t;
bool ag_ckpt_write(const ag_ckpt_out *o, struct json_t *meta);
/* The store's tensors as items, insertion order, `extra` zeroed slots after
 * them; ag_free it. NULL on OOM. */
ag_ckpt_item *ag_ckpt_store_items(const ag_params *ps, size_t extra);

/* ---- the store's metadata in a checkpoint (metadata.c) --------------------- */
/* The store's metadata and "agrad.state" as a JSON object; NULL on OOM. */
struct json_t *ag_ckpt_store_meta(const ag_params *ps);
/* Whether a key of a file's __metadata__ goes back into the store: user keys
 * and MLP descriptions, not "producer" nor the other "agrad.*" keys. */
bool ag_ckpt_meta_kept(const char *key);
/* The file's "agrad.state" list, checked: a JSON array of strings, each a
 * tensor of the file (has_tensor(ctx, name)); into *names as a JSON object
 * whose keys are those names (NULL when the key is absent). New reference;
 * false with why set on error (a bad list, or out of memory). */
bool ag_ckpt_state_names(struct json_t *meta, bool (*has_tensor)(const void *ctx, const char *name),
                         const void *ctx, struct json_t **names, char *why, size_t len);

/* ---- training checkpoints (training.c) ------------------------------------ */
/* The optimiser's buffers are the tensors "__optimizer__.<k>.<name>". */
#define AG_OPTIM_PREFIX "__optimizer__."
#define AG_TRAINING_NAME_SIZE 64
int ag_training_buffers(ag_optim_kind kind); /* 1 (SGD) or 2 (Adam, AdamW) */
void ag_training_buffer_name(char buf[AG_TRAINING_NAME_SIZE], ag_optim_kind kind, size_t k, int which);
bool ag_training_is_buffer_name(const char *name);
/* The "agrad.*" metadata of a state; NULL on OOM. */
struct json_t *ag_training_meta(const ag_training_state *s);
/* What a load restores besides tensors, parsed and checked first. */
typedef struct ag_training_restore {
    long step;
    ag_batches_state batches;
    ag_rng *rngs; /* s->n_rngs of them, caller's memory */
} ag_training_restore;
/* Parse the metadata for every part s asks for, checking it against s;
 * false with why filled in (naming what differs or is missing). */
bool ag_training_parse(struct json_t *meta, const ag_training_state *s, ag_training_restore *r,
                       char *why, size_t len);
/* rngs and each rngs[i] present when n_rngs > 0; false with "fn: ..." set. */
bool ag_training_state_valid(const char *fn, const ag_training_state *s);

/* ---- names and text in messages ------------------------------------------- */
/* s[0, len) for a message: bytes outside printable ASCII as \xNN, cut after
 * AG_IO_SHOWN_CHARS characters with "... (N bytes)" appended. */
#define AG_IO_SHOWN_CHARS 60
#define AG_IO_SHOWN_SIZE (4 * AG_IO_SHOWN_CHARS + 40)
const char *ag_io_shown(const char *s, size_t len, char buf[AG_IO_SHOWN_SIZE]);
/* text[0, len) is UTF-8 (RFC 3629) without NUL bytes. */
bool ag_io_utf8_valid(const char *text, size_t len);
/* The same for a NUL-terminated name. */
const char *ag_io_name(const char *name, char buf[AG_IO_SHOWN_SIZE]);

/* ---- atomic replacement of a file (checkpoints, DOT files) ---------------- */
/* The file is written to a temporary ".agrad-XXXXXX" in the target's
 * directory, then flushed, fsynced, renamed over the target, and the
 * directory fsynced. The target is `path` with symbolic links followed to
 * their end (a dangling link: where it points), so a link keeps pointing at
 * the new data. A new file gets the mode open(O_CREAT, 0666) gives (the
 * umask applies); a replaced file's permission bits are kept, never its
 * setuid, setgid or sticky bit. */
typedef struct ag_atomic_file {
    const char *fn;   /* the public function, for messages */
    char *target;     /* path with symbolic links resolved */
    char *tmp;        /* the temporary file */
    FILE *f;          /* open on tmp until commit or abort */
} ag_atomic_file;
/* Open the temporary file; false (message set, nothing left behind) on error. */
bool ag_atomic_open(ag_atomic_file *a, const char *fn, const char *path);
/* Flush, fsync, close, rename over the target, fsync the directory. On false
 * the message is set and the temporary file removed; the target is as it
 * was, unless only the directory's open or fsync failed (the message says). */
bool ag_atomic_commit(ag_atomic_file *a);
/* Close and remove the temporary file (after a failed write). */
void ag_atomic_abort(ag_atomic_file *a);

/* ---- test hooks: write-failure injection for atomic writes ---------------- */
/* Make the k-th fallible step (creating the temporary file, each write,
 * flush, fsync, close, chmod, rename and directory open/fsync) of later
 * atomic writes fail as if with EIO; 0 disables. Counting restarts at every
 * ag_atomic_open. Thread-local. */
void ag_io_fail_write_at(long k);
/* Call observer(temporary path) right after each atomic write of this
 * thread creates its temporary file, before anything else is done to it
 * (NULL: no call). */
void ag_io_observe_temp_files(void (*observer)(const char *tmp));
/* Count one fallible step; true (errno = EIO) when it is the one to fail. */
bool ag_io_injected(void);
/* Number of fallible steps the last atomic write went through (its last one
 * failing when the injection fired). */
long ag_io_write_steps(void);

/* ---- test hook: name matching in ag_checkpoint_load ----------------------- */
/* Name lookups and comparisons the last ag_checkpoint_load of this thread
 * made while matching the file's tensors to the store's. */
long ag_io_name_lookups(void);
/* Key comparisons made by every parameter store's hash table in this thread
 * so far (a lookup that finds its name compares about one key). */
long ag_io_store_key_compares(void);

#endif
