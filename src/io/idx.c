/* idx.c -- read IDX files (the MNIST / Fashion-MNIST format), plain or
 * gzip-compressed (told apart by the gzip magic 1f 8b).
 *   bytes 0-1  0x00 0x00
 *   byte  2    element type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)
 *   byte  3    number of dimensions (1..4 here)
 *   then       one big-endian u32 per dimension, then the elements, big-endian.
 * A gzip file must be exactly one complete gzip member (zlib's inflate,
 * which checks the trailer's CRC-32 and length) with nothing after it.
 * Nothing is allocated from the header's claim alone: a plain file's size is
 * checked against the header first; a gzip file is decompressed once to
 * check it whole (values decoded, not stored) before a second pass stores
 * them, so a small file whose stream expands to less than it claims fails
 * without a large allocation (a stream that cannot be read twice, a pipe,
 * is read once, its buffer growing with the data). Byte offsets in messages count the
 * decompressed stream. zlib allocates with its own allocator. */
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
    int fd;
    bool gzip;         /* else plain */
    bool z_ready;      /* inflateInit2 succeeded: inflateEnd is owed */
    bool input_ended;  /* read() returned 0 */
    bool stream_ended; /* inflate returned Z_STREAM_END */
    z_stream z;
    uint64_t offset;   /* decompressed bytes consumed */
    uint64_t raw_read; /* file bytes read */
    const char *problem; /* why the last read came up short */
    size_t pending;      /* plain: bytes at in[] read ahead (the magic check) */
    unsigned char in[1 << 13];
} idx_file;

/* read() of up to n file bytes; -1 (problem set) on error. */
static ssize_t read_raw(idx_file *f, unsigned char *buf, size_t n)
{
    ssize_t r;
    do r = read(f->fd, buf, n);
    while (r < 0 && errno == EINTR);
    if (r < 0) f->problem = strerror(errno);
    if (r == 0) f->input_ended = true;
    if (r > 0) f->raw_read += (uint64_t)r;
    return r;
}

/* Start (or restart, after a rewind) the reader at byte 0 of the file. */
static bool start_stream(idx_file *f)
{
    unsigned char magic[2];
    ssize_t got = 0, r = 1;
    f->offset = f->raw_read = 0;
    f->input_ended = f->stream_ended = false;
    while (got < 2 && (r = read_raw(f, magic + got, (size_t)(2 - got))) > 0) got += r;
    if (r < 0) {
        ag_set_last_error("ag_idx_load: %s: cannot read: %s", f->path, f->problem);
        return false;
    }
    f->gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!f->gzip) { /* plain: the bytes read ahead are read first */
        memcpy(f->in, magic, (size_t)got);
        f->pending = (size_t)got;
        return true;
    }
    if (f->z_ready) inflateEnd(&f->z);
    f->z = (z_stream){.next_in = f->in, .avail_in = 2};
    memcpy(f->in, magic, 2);
    f->z_ready = inflateInit2(&f->z, 16 + MAX_WBITS) == Z_OK; /* gzip wrapper only */
    if (!f->z_ready)
        ag_set_last_error("ag_idx_load: %s: cannot start decompressing (out of memory)", f->path);
    return f->z_ready;
}

/* zlib's words for a damaged stream, with what they mean for the file. */
static const char *gzip_problem(const char *zlib_msg)
{
    if (!zlib_msg) return "corrupt gzip stream";
    if (strcmp(zlib_msg, "incorrect data check") == 0)
        return "incorrect data check (the CRC-32 in the gzip trailer does not match the data: "
               "the file is corrupt)";
    if (strcmp(zlib_msg, "incorrect length check") == 0)
        return "incorrect length check (the length in the gzip trailer does not match the data: "
               "the file is corrupt)";
    return zlib_msg;
}

/* At the end of a gzip member: whether another member starts right after
 * it (gzip's magic 1f 8b). A gzip file may be several members in a row
 * (`cat a.gz b.gz`), which decompress to their contents one after another.
 * Reads ahead, keeping the bytes at next_in. */
static bool next_member_follows(idx_file *f)
{
    while (f->z.avail_in < 2 && !f->input_ended) {
        memmove(f->in, f->z.next_in, f->z.avail_in);
        f->z.next_in = f->in;
        ssize_t r = read_raw(f, f->in + f->z.avail_in, sizeof f->in - f->z.avail_in);
        if (r < 0) return false; /* the read error is reported at the end */
        f->z.avail_in += (uInt)r;
    }
    return f->z.avail_in >= 2 && f->z.next_in[0] == 0x1f && f->z.next_in[1] == 0x8b;
}

/* Decompress into buf[0, n); returns the bytes produced, fewer than n at
 * the end of the last gzip member or on an error (problem then set). Each
 * member's CRC-32 and length are checked by inflate at its end. */
static size_t inflate_some(idx_file *f, unsigned char *buf, size_t n)
{
    f->z.next_out = buf;
    f->z.avail_out = (uInt)n;
    while (f->z.avail_out > 0 && !f->stream_ended) {
        if (f->z.avail_in == 0 && !f->input_ended) {
            ssize_t r = read_raw(f, f->in, sizeof f->in);
            if (r < 0) break;
            f->z.next_in = f->in;
            f->z.avail_in = (uInt)r;
        }
        int rc = inflate(&f->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            if (next_member_follows(f))
                inflateReset(&f->z);
            else
                f->stream_ended = true;
        } else if (rc == Z_BUF_ERROR && f->input_ended) {
            f->problem = "the gzip stream is cut short (no end of stream, CRC and length)";
            break;
        } else if (rc == Z_MEM_ERROR) {
            f->problem = "out of memory while decompressing";
            break;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            f->problem = gzip_problem(f->z.msg);
            break;
        }
    }
    return n - f->z.avail_out;
}

/* Read exactly n bytes (fewer only at the end of the data or on error;
 * problem then says which). */
static int64_t read_exact(idx_file *f, unsigned char *buf, unsigned n)
{
    size_t got = 0;
    f->problem = "the file ends";
    if (f->gzip) {
        got = inflate_some(f, buf, n);
        if (got < n && f->stream_ended) f->problem = "the gzip stream ends";
    } else {
        got = f->pending < n ? f->pending : n;
        memcpy(buf, f->in, got);
        memmove(f->in, f->in + got, f->pending - got);
        f->pending -= got;
        ssize_t r = 1;
        while (got < n && (r = read_raw(f, buf + got, n - got)) > 0) got += (size_t)r;
    }
    f->offset += got;
    return (int64_t)got;
}

/* After the last element: nothing more may follow, and a gzip file must
 * end there, its last member with a valid trailer and no bytes after it. */
static bool check_end(idx_file *f, uint64_t total)
{
    unsigned char extra;
    int64_t more = read_exact(f, &extra, 1);
    if (more > 0) {
        ag_set_last_error("ag_idx_load: %s: byte %llu: data continues after the header's %llu "
                          "elements", f->path, (unsigned long long)(f->offset - 1),
                          (unsigned long long)total);
        return false;
    }
    if (f->gzip && !f->stream_ended) {
        ag_set_last_error("ag_idx_load: %s: after byte %llu of data: %s", f->path,
                          (unsigned long long)f->offset, f->problem);
        return false;
    }
    if (f->gzip) { /* bytes left over after the member, in the buffer or the file */
        uint64_t at = f->raw_read - f->z.avail_in;
        ssize_t r = f->z.avail_in ? 1 : read_raw(f, &extra, 1);
        if (r != 0) {
            ag_set_last_error("ag_idx_load: %s: file byte %llu: %s after the end of the gzip "
                              "stream (only gzip members may follow one another)", f->path,
                              (unsigned long long)at, r < 0 ? f->problem : "data");
            return false;
        }
    } else if (!f->input_ended) {
        ag_set_last_error("ag_idx_load: %s: after byte %llu: %s", f->path,
                          (unsigned long long)f->offset, f->problem);
        return false;
    }
    return true;
}

/* Magic, type, dimensions -> shape and type; false with the message set. */
static bool read_header(idx_file *f, ag_shape *shape, const idx_type **type)
{
    unsigned char h[4 + 4 * AG_MAX_DIMS];
    int64_t got = read_exact(f, h, 4);
    if (got != 4) {
        ag_set_last_error("ag_idx_load: %s: truncated at byte %lld: the header needs 4 bytes (%s)",
                          f->path, (long long)(got < 0 ? 0 : got), f->problem);
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
                          f->problem);
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
    if (f->gzip || fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    uint64_t want = f->offset + shape->size * type->size;
    if ((uint64_t)st.st_size == want) return true;
    char s[96];
    ag_set_last_error("ag_idx_load: %s: file is %llu bytes, but its header (%s %s elements) "
                      "needs %llu", f->path, (unsigned long long)st.st_size, type->name,
                      ag_shape_str(shape, s, sizeof s), (unsigned long long)want);
    return false;
}

/* Make room for n values in *v (capacity *cap), growing geometrically but
 * never past total. */
static bool reserve_values(idx_file *f, double **v, size_t *cap, size_t n, size_t total)
{
    if (n <= *cap) return true;
    size_t c = *cap ? 2 * *cap : (size_t)1 << 13;
    if (c < n) c = n;
    if (c > total) c = total;
    double *bigger = ag_realloc(*v, c * sizeof(double));
    if (!bigger) {
        ag_set_last_error("ag_idx_load: %s: out of memory for %zu values", f->path, c);
        return false;
    }
    *v = bigger;
    *cap = c;
    return true;
}

/* Decode shape->size elements and check the end of the file; with out,
 * store them in *out (grown as the data arrives), else only check them. */
static bool read_values(idx_file *f, const ag_shape *shape, const idx_type *type, double **out)
{
    unsigned char chunk[1 << 16]; /* a multiple of every element size */
    size_t n = 0, cap = 0, total = shape->size;
    uint64_t start = f->offset;
    double *v = NULL;
    while (n < total) {
        size_t want = total - n < sizeof chunk / type->size ? total - n : sizeof chunk / type->size;
        if (out && !reserve_values(f, &v, &cap, n + want, total)) goto fail;
        int64_t got = read_exact(f, chunk, (unsigned)(want * type->size));
        if (got != (int64_t)(want * type->size)) {
            ag_set_last_error("ag_idx_load: %s: truncated at byte %llu: the header's %zu %s "
                              "elements need %llu bytes up to byte %llu (%s)", f->path,
                              (unsigned long long)f->offset, total, type->name,
                              (unsigned long long)(total * type->size),
                              (unsigned long long)(start + total * type->size), f->problem);
            goto fail;
        }
        for (size_t i = 0; i < want; i++, n++) {
            double x = decode(type, chunk + i * type->size);
            if (!isfinite(x)) {
                ag_set_last_error("ag_idx_load: %s: byte %llu: element %zu is not finite", f->path,
                                  (unsigned long long)(start + n * type->size), n);
                goto fail;
            }
            if (out) v[n] = x;
        }
    }
    if (!check_end(f, total)) goto fail;
    if (out) *out = v;
    return true;
fail:
    ag_free(v);
    return false;
}

/* The header and the values; a gzip file that can be read twice is checked
 * whole (first pass, nothing stored) before its values are stored. */
static bool read_file(idx_file *f, ag_shape *shape, const idx_type **type, double **values)
{
    if (!start_stream(f) || !read_header(f, shape, type) || !check_plain_size(f, shape, *type))
        return false;
    if (f->gzip && lseek(f->fd, 0, SEEK_CUR) >= 0) {
        ag_shape again;
        const idx_type *type_again;
        if (!read_values(f, shape, *type, NULL)) return false;
        if (lseek(f->fd, 0, SEEK_SET) != 0) {
            ag_set_last_error("ag_idx_load: %s: cannot seek back: %s", f->path, strerror(errno));
            return false;
        }
        if (!start_stream(f) || !read_header(f, &again, &type_again)) return false;
        if (!ag_shape_equal(&again, shape) || type_again != *type) {
            ag_set_last_error("ag_idx_load: %s: the file changed while it was read", f->path);
            return false;
        }
    }
    return read_values(f, shape, *type, values);
}

ag_tensor *ag_idx_load(const char *path)
{
    if (!path) {
        ag_set_last_error("ag_idx_load: path is NULL");
        return NULL;
    }
    idx_file file = {.path = path, .fd = open(path, O_RDONLY | O_CLOEXEC)}, *f = &file;
    if (f->fd < 0) {
        ag_set_last_error("ag_idx_load: %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ag_shape shape;
    const idx_type *type;
    double *values = NULL;
    bool ok = read_file(f, &shape, &type, &values);
    if (f->z_ready) inflateEnd(&f->z);
    close(f->fd);
    if (!ok) return NULL;
    ag_tensor *t = ag_tensor_adopt(&shape, values);
    if (!t) ag_set_last_error("ag_idx_load: %s: out of memory", path);
    return t;
}
