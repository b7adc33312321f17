/* idx.c -- read IDX files (the MNIST / Fashion-MNIST format), plain or
 * gzip-compressed, through zlib's gz* functions (which read uncompressed
 * files transparently).
 *   bytes 0-1  0x00 0x00
 *   byte  2    element type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)
 *   byte  3    number of dimensions (1..4 here)
 *   then       one big-endian u32 per dimension, then the elements, big-endian.
 * Nothing is allocated from the header's claim alone: a plain file's size is
 * checked against the header first, and the values buffer grows only as data
 * actually arrives, so a (compressed) file claiming 2^39 elements is rejected
 * at its end without a huge allocation. Byte offsets in messages count the
 * decompressed stream. */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct idx_type {
    unsigned char code;
    const char *name;
    unsigned size; /* bytes per element */
} idx_type;

static const idx_type idx_types[] = {
    {0x08, "u8", 1}, {0x09, "i8", 1}, {0x0B, "i16", 2},
    {0x0C, "i32", 4}, {0x0D, "f32", 4}, {0x0E, "f64", 8},
};

static const idx_type *find_type(unsigned char code)
{
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == code) return &idx_types[i];
    return NULL;
}

static uint64_t load_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* One big-endian element of the given type as a double. */
static double decode(const idx_type *t, const unsigned char *p)
{
    uint64_t v = load_be(p, t->size);
    switch (t->code) {
    case 0x08: return (double)v;
    case 0x09: return (double)(int8_t)(uint8_t)v;
    case 0x0B: return (double)(int16_t)(uint16_t)v;
    case 0x0C: return (double)(int32_t)(uint32_t)v;
    case 0x0D: {
        uint32_t bits = (uint32_t)v;
        float f;
        memcpy(&f, &bits, sizeof f);
        return (double)f;
    }
    default: return ag_bits_to_double(v);
    }
}

typedef struct idx_file {
    const char *path;
    gzFile gz;
    int fd;          /* owned by gz once gzdopen succeeded */
    uint64_t offset; /* decompressed bytes consumed */
} idx_file;

/* Read exactly n bytes (fewer only at the end of the data or on error). */
static int64_t read_exact(idx_file *f, unsigned char *buf, unsigned n)
{
    unsigned got = 0;
    while (got < n) {
        int r = gzread(f->gz, buf + got, n - got);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (unsigned)r;
    }
    f->offset += got;
    return got;
}

/* The zlib error text (or "file ends") for a short or failed read. */
static const char *read_problem(idx_file *f)
{
    int code;
    const char *msg = gzerror(f->gz, &code);
    if (code == Z_ERRNO) return strerror(errno);
    if (code == Z_OK) return "the file ends";
    return msg;
}

/* Magic, type, dimensions -> shape and type; false with the message set. */
static bool read_header(idx_file *f, ag_shape *shape, const idx_type **type)
{
    unsigned char h[4 + 4 * AG_MAX_DIMS];
    int64_t got = read_exact(f, h, 4);
    if (got != 4) {
        ag_set_last_error("ag_idx_load: %s: truncated at byte %lld: the header needs 4 bytes (%s)",
                          f->path, (long long)(got < 0 ? 0 : got), read_problem(f));
        return false;
    }
    if (h[0] != 0 || h[1] != 0) {
        ag_set_last_error("ag_idx_load: %s: byte 0: bad magic %02x %02x %02x %02x (expected "
                          "00 00 <type> <ndim>)", f->path, h[0], h[1], h[2], h[3]);
        return false;
    }
    *type = find_type(h[2]);
    if (!*type) {
        ag_set_last_error("ag_idx_load: %s: byte 2: unknown element type 0x%02x", f->path, h[2]);
        return false;
    }
    int ndim = h[3];
    if (ndim < 1 || ndim > AG_MAX_DIMS) {
        ag_set_last_error("ag_idx_load: %s: byte 3: %d dimensions (supported: 1 to %d)", f->path,
                          ndim, AG_MAX_DIMS);
        return false;
    }
    got = read_exact(f, h + 4, 4u * (unsigned)ndim);
    if (got != 4 * ndim) {
        ag_set_last_error("ag_idx_load: %s: truncated at byte %llu: %d dimensions need %d header "
                          "bytes (%s)", f->path, (unsigned long long)f->offset, ndim, 4 + 4 * ndim,
                          read_problem(f));
        return false;
    }
    int dims[AG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        uint64_t v = load_be(h + 4 + 4 * d, 4);
        if (v == 0 || v > INT_MAX) {
            ag_set_last_error("ag_idx_load: %s: byte %d: dimension %d is %llu (must be 1 to %d)",
                              f->path, 4 + 4 * d, d, (unsigned long long)v, INT_MAX);
            return false;
        }
        dims[d] = (int)v;
    }
    const char *why;
    if (!ag_shape_make(shape, ndim, dims, &why)) {
        char s[96];
        ag_shape_string(ndim, dims, s, sizeof s);
        ag_set_last_error("ag_idx_load: %s: shape (%s): %s", f->path, s, why);
        return false;
    }
    return true;
}

/* A plain (not gzip) file must be exactly header + data bytes long. */
static bool check_plain_size(idx_file *f, const ag_shape *shape, const idx_type *type)
{
    struct stat st;
    if (!gzdirect(f->gz) || fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    uint64_t want = f->offset + shape->size * type->size;
    if ((uint64_t)st.st_size == want) return true;
    char s[96];
    ag_set_last_error("ag_idx_load: %s: file is %llu bytes, but its header (%s %s elements) "
                      "needs %llu", f->path, (unsigned long long)st.st_size, type->name,
                      ag_shape_str(shape, s, sizeof s), (unsigned long long)want);
    return false;
}

/* Read shape->size elements into *out (grown as the data arrives). */
static bool read_values(idx_file *f, const ag_shape *shape, const idx_type *type, double **out)
{
    unsigned char chunk[1 << 16]; /* a multiple of every element size */
    size_t n = 0, cap = 0, total = shape->size;
    uint64_t start = f->offset;
    double *v = NULL;
    while (n < total) {
        size_t want = total - n < sizeof chunk / type->size ? total - n : sizeof chunk / type->size;
        if (n + want > cap) {
            size_t c = cap ? 2 * cap : sizeof chunk;
            if (c > total) c = total;
            double *bigger = ag_realloc(v, c * sizeof(double));
            if (!bigger) {
                ag_set_last_error("ag_idx_load: %s: out of memory for %zu values", f->path, c);
                goto fail;
            }
            v = bigger;
            cap = c;
        }
        int64_t got = read_exact(f, chunk, (unsigned)(want * type->size));
        if (got != (int64_t)(want * type->size)) {
            ag_set_last_error("ag_idx_load: %s: truncated at byte %llu: the header's %zu %s "
                              "elements need %llu bytes up to byte %llu (%s)", f->path,
                              (unsigned long long)f->offset, total, type->name,
                              (unsigned long long)(total * type->size),
                              (unsigned long long)(start + total * type->size), read_problem(f));
            goto fail;
        }
        for (size_t i = 0; i < want; i++, n++) {
            v[n] = decode(type, chunk + i * type->size);
            if (!isfinite(v[n])) {
                ag_set_last_error("ag_idx_load: %s: byte %llu: element %zu is not finite", f->path,
                                  (unsigned long long)(start + n * type->size), n);
                goto fail;
            }
        }
    }
    unsigned char extra;
    int64_t more = read_exact(f, &extra, 1); /* also makes zlib check the gzip trailer */
    if (more != 0) {
        if (more > 0)
            ag_set_last_error("ag_idx_load: %s: byte %llu: data continues after the header's %zu "
                              "elements", f->path, (unsigned long long)(f->offset - 1), total);
        else
            ag_set_last_error("ag_idx_load: %s: after byte %llu: %s", f->path,
                              (unsigned long long)f->offset, read_problem(f));
        goto fail;
    }
    *out = v;
    return true;
fail:
    ag_free(v);
    return false;
}

ag_tensor *ag_idx_load(const char *path)
{
    if (!path) {
        ag_set_last_error("ag_idx_load: path is NULL");
        return NULL;
    }
    idx_file f = {.path = path, .fd = open(path, O_RDONLY)};
    if (f.fd < 0) {
        ag_set_last_error("ag_idx_load: %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    f.gz = gzdopen(f.fd, "rb");
    if (!f.gz) {
        close(f.fd);
        ag_set_last_error("ag_idx_load: %s: cannot start reading (out of memory)", path);
        return NULL;
    }
    ag_shape shape;
    const idx_type *type;
    double *values = NULL;
    bool ok = read_header(&f, &shape, &type) && check_plain_size(&f, &shape, type) &&
              read_values(&f, &shape, type, &values);
    gzclose(f.gz);
    if (!ok) return NULL;
    ag_tensor *t = ag_tensor_adopt(&shape, values);
    if (!t) ag_set_last_error("ag_idx_load: %s: out of memory", path);
    return t;
}
