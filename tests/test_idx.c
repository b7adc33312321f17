/* test_idx.c -- IDX files (MNIST format) built by hand, plain and gzipped:
 * values of every element type, and rejection of bad magic, bad dimensions,
 * truncated or oversized files (before any large allocation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"

static char dir[64];
static char path[128], gzpath[128];

static void setup(void)
{
    strcpy(dir, "/tmp/agrad_idx_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/images-idx3-ubyte", dir);
    snprintf(gzpath, sizeof gzpath, "%s/images-idx3-ubyte.gz", dir);
}

static void teardown(void)
{
    unlink(path);
    unlink(gzpath);
    rmdir(dir);
}

/* Write the bytes plain to path and gzip-compressed (zlib, "wb") to gzpath. */
static void write_both(const unsigned char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    gzFile gz = gzopen(gzpath, "wb");
    ck_assert_ptr_nonnull(gz);
    if (n) ck_assert_int_eq(gzwrite(gz, bytes, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

/* A 2x3 u8 image: magic 00 00 08 02, dims 2 and 3, then 6 pixels. */
static const unsigned char U8_2x3[] = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                       1, 2, 3,    250, 0, 255};

static void assert_2x3(const char *file)
{
    ag_tensor *t = ag_idx_load(file);
    ck_assert_msg(t != NULL, "%s: %s", file, ag_last_error());
    ck_assert_int_eq(ag_tensor_ndim(t), 2);
    ck_assert_int_eq(ag_tensor_dim(t, 0), 2);
    ck_assert_int_eq(ag_tensor_dim(t, 1), 3);
    const double expected[6] = {1, 2, 3, 250, 0, 255};
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_data(t)[i] == expected[i]);
    ag_tensor_free(t);
}

START_TEST(u8_plain_and_gzip)
{
    write_both(U8_2x3, sizeof U8_2x3);
    assert_2x3(path);
    assert_2x3(gzpath);
}
END_TEST

START_TEST(other_types)
{
    /* i8: 0xFF = -1, 0x7F = 127; i16 BE: FF FE = -2, 01 00 = 256;
     * i32 BE: FF FF FF FD = -3; f32 BE: 3F C0 00 00 = 1.5, C1 20 00 00 = -10;
     * f64 BE: C0 04 00 .. = -2.5 (1 x 1 x 1 x 1, four dimensions) */
    const unsigned char i8[] = {0, 0, 0x09, 1, 0, 0, 0, 2, 0xFF, 0x7F};
    const unsigned char i16[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x00};
    const unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFD};
    const unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC1, 0x20, 0, 0};
    const unsigned char f64[] = {0, 0, 0x0E, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                                 0xC0, 0x04, 0, 0, 0, 0, 0, 0};
    struct {
        const unsigned char *bytes;
        size_t n;
        int ndim;
        double values[2];
        int count;
    } cases[] = {
        {i8, sizeof i8, 1, {-1, 127}, 2},    {i16, sizeof i16, 1, {-2, 256}, 2},
        {i32, sizeof i32, 1, {-3, 0}, 1},    {f32, sizeof f32, 1, {1.5, -10}, 2},
        {f64, sizeof f64, 4, {-2.5, 0}, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_both(cases[c].bytes, cases[c].n);
        const char *files[2] = {path, gzpath};
        for (int f = 0; f < 2; f++) {
            ag_tensor *t = ag_idx_load(files[f]);
            ck_assert_msg(t != NULL, "case %zu: %s", c, ag_last_error());
            ck_assert_int_eq(ag_tensor_ndim(t), cases[c].ndim);
            ck_assert_int_eq(ag_tensor_size(t), cases[c].count);
            for (int i = 0; i < cases[c].count; i++)
                ck_assert_msg(ag_tensor_data(t)[i] == cases[c].values[i], "case %zu [%d] = %g", c,
                              i, ag_tensor_data(t)[i]);
            ag_tensor_free(t);
        }
    }
}
END_TEST

/* Both the plain and the gzipped file are rejected with `expected`. */
static void assert_rejected(const unsigned char *bytes, size_t n, const char *expected)
{
    write_both(bytes, n);
    const char *files[2] = {path, gzpath};
    for (int f = 0; f < 2; f++) {
        ck_assert_msg(ag_idx_load(files[f]) == NULL, "%s accepted", files[f]);
        ck_assert_last_error("ag_idx_load: ");
        ck_assert_last_error(files[f]);
        ck_assert_last_error(expected);
    }
}

START_TEST(bad_headers)
{
    const unsigned char magic[] = {0, 1, 8, 1, 0, 0, 0, 1, 7};
    assert_rejected(magic, sizeof magic, "byte 0: bad magic 00 01 08 01");
    const unsigned char text[] = "hello world, not idx";
    assert_rejected(text, sizeof text - 1, "bad magic 68 65 6c 6c");
    const unsigned char type[] = {0, 0, 0x07, 1, 0, 0, 0, 1, 7};
    assert_rejected(type, sizeof type, "byte 2: unknown element type 0x07");
    const unsigned char nd0[] = {0, 0, 8, 0, 7};
    assert_rejected(nd0, sizeof nd0, "byte 3: 0 dimensions (supported: 1 to 4)");
    const unsigned char nd5[] = {0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                                 0, 0, 0, 1, 7};
    assert_rejected(nd5, sizeof nd5, "byte 3: 5 dimensions");
    const unsigned char zero[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 0};
    assert_rejected(zero, sizeof zero, "byte 8: dimension 1 is 0 (must be 1 to 2147483647)");
    const unsigned char neg[] = {0, 0, 8, 1, 0x80, 0, 0, 0, 1};
    assert_rejected(neg, sizeof neg, "byte 4: dimension 0 is 2147483648");
    const unsigned char short3[] = {0, 0, 8};
    assert_rejected(short3, sizeof short3, "truncated at byte 3: the header needs 4 bytes");
    assert_rejected(short3, 0, "truncated at byte 0: the header needs 4 bytes");
    const unsigned char dims[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    assert_rejected(dims, sizeof dims, "truncated at byte 10: 3 dimensions need 16 header bytes");
    ck_assert_ptr_null(ag_idx_load(NULL));
    ck_assert_ptr_null(ag_idx_load("/nonexistent/agrad.idx"));
    ck_assert_last_error("cannot open");
}
END_TEST

START_TEST(truncated_and_trailing_data)
{
    /* 2x3 u8 claims 6 bytes of data; give 5, then 7 */
    ck_assert_ptr_null((write_both(U8_2x3, sizeof U8_2x3 - 1), ag_idx_load(path)));
    ck_assert_last_error("file is 17 bytes, but its header (u8 2x3 elements) needs 18");
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("truncated at byte 17: the header's 6 u8 elements need 6 bytes up to "
                         "byte 18");
    unsigned char longer[sizeof U8_2x3 + 1];
    memcpy(longer, U8_2x3, sizeof U8_2x3);
    longer[sizeof U8_2x3] = 9;
    write_both(longer, sizeof longer);
    ck_assert_ptr_null(ag_idx_load(path));
    ck_assert_last_error("file is 19 bytes, but its header (u8 2x3 elements) needs 18");
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("byte 18: data continues after the header's 6 elements");
    const unsigned char nan64[] = {0, 0, 0x0E, 1, 0, 0, 0, 2, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0,
                                   0x7F, 0xF8, 0, 0, 0, 0, 0, 0};
    assert_rejected(nan64, sizeof nan64, "byte 16: element 1 is not finite");
}
END_TEST

/* ---- a file claiming far more data than it has ------------------------------ */

static size_t biggest_request;
static void *tracking_malloc(size_t n)
{
    if (n > biggest_request) biggest_request = n;
    return malloc(n);
}
static void *tracking_realloc(void *p, size_t n)
{
    if (n > biggest_request) biggest_request = n;
    return realloc(p, n);
}

START_TEST(huge_claims_rejected_before_allocating)
{
    ag_set_allocator(&(ag_allocator){tracking_malloc, tracking_realloc, free});
    /* 2^20 x 2^19 = 2^39 u8 elements (4 TiB as doubles) with 4 bytes of data */
    const unsigned char big[] = {0, 0, 8, 2, 0, 0x10, 0, 0, 0, 0x08, 0, 0, 1, 2, 3, 4};
    write_both(big, sizeof big);
    biggest_request = 0;
    ck_assert_ptr_null(ag_idx_load(path));
    ck_assert_last_error("file is 16 bytes, but its header (u8 1048576x524288 elements) needs "
                         "549755813900");
    ck_assert_int_lt(biggest_request, 1 << 20);
    biggest_request = 0;
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("truncated at byte 16");
    ck_assert_int_lt(biggest_request, 1 << 20);
    /* 2^31-1 in each of four dimensions: over the 2^40-element limit */
    const unsigned char over[] = {0,    0,    8,    4,    0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF,
                                  0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF};
    biggest_request = 0;
    assert_rejected(over, sizeof over, "element count is too large (over 2^40)");
    ck_assert_int_lt(biggest_request, 1 << 20);
    ag_set_allocator(NULL);
}
END_TEST

START_TEST(corrupt_gzip_stream)
{
    /* 4000 pixels compress to a real deflate stream; damage its middle */
    unsigned char img[4 + 8 + 4000] = {0, 0, 8, 2, 0, 0, 0, 40, 0, 0, 0, 100};
    for (int i = 0; i < 4000; i++) img[12 + i] = (unsigned char)(i * 7 % 251);
    write_both(img, sizeof img);
    ag_tensor *t = ag_idx_load(gzpath);
    ck_assert_msg(t != NULL, "%s", ag_last_error());
    ck_assert(ag_tensor_data(t)[3999] == 3999 * 7 % 251);
    ag_tensor_free(t);
    FILE *f = fopen(gzpath, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    unsigned char junk[16];
    memset(junk, 0xA5, sizeof junk);
    fseek(f, size / 2, SEEK_SET);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("ag_idx_load: ");
    ck_assert_last_error(gzpath);
    ck_assert_int_eq(truncate(gzpath, size - 20), 0); /* cut inside the stream */
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error(gzpath);
}
END_TEST

START_TEST(out_of_memory_while_loading)
{
    write_both(U8_2x3, sizeof U8_2x3);
    for (long k = 1; k <= 2; k++) { /* values buffer, tensor */
        counting_allocator_install(k);
        ck_assert_ptr_null(ag_idx_load(gzpath));
        ck_assert_last_error("out of memory");
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
    counting_allocator_install(3);
    ag_tensor *t = ag_idx_load(gzpath);
    ck_assert_ptr_nonnull(t);
    ag_tensor_free(t);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
}
END_TEST

/* ---- issue 13: a gzip file must be one whole, valid member ----------------------- */

/* The file's bytes (malloc'ed) and their count. */
static unsigned char *slurp(const char *file, size_t *n)
{
    FILE *f = fopen(file, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 64);
    ck_assert_int_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *file, const unsigned char *b, size_t n)
{
    FILE *f = fopen(file, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* gzip the bytes into gzpath with `mode` ("wb0": stored blocks, so the data
 * bytes appear as they are in the file). */
static void write_gzip(const unsigned char *bytes, size_t n, const char *mode)
{
    gzFile gz = gzopen(gzpath, mode);
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, bytes, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

/* Where `needle` first occurs in hay. */
static size_t find_bytes(const unsigned char *hay, size_t n, const unsigned char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return i;
    ck_abort_msg("pattern not found");
    return 0;
}

START_TEST(damaged_gzip_files_are_rejected)
{
    /* 1000 x 1000 u8 pixels, pixel i = i * 7 % 251, stored (not compressed) */
    size_t n = 12 + 1000000;
    unsigned char *img = malloc(n);
    const unsigned char head[12] = {0, 0, 8, 2, 0, 0, 0x03, 0xE8, 0, 0, 0x03, 0xE8};
    memcpy(img, head, 12);
    for (size_t i = 0; i < 1000000; i++) img[12 + i] = (unsigned char)(i * 7 % 251);
    write_gzip(img, n, "wb0");
    ag_tensor *t = ag_idx_load(gzpath);
    ck_assert_msg(t != NULL, "%s", ag_last_error());
    ck_assert(ag_tensor_data(t)[999999] == 999999 * 7 % 251);
    ag_tensor_free(t);
    size_t size;
    unsigned char *gz = slurp(gzpath, &size);
    /* the 8-byte trailer (CRC-32, length) cut off, whole or in part */
    for (size_t cut = 1; cut <= 8; cut++) {
        spit(gzpath, gz, size - cut);
        ck_assert_msg(!ag_idx_load(gzpath), "cut %zu loaded", cut);
        ck_assert_last_error("after byte 1000012 of data: the gzip stream is cut short");
    }
    /* junk, or a second member, after the member */
    memcpy(gz + size, "junk", 4);
    spit(gzpath, gz, size + 4);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("data after the end of the gzip stream");
    memcpy(gz + size, gz, 20); /* a member's start: header and 12 data bytes, cut short */
    spit(gzpath, gz, size + 20);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("data continues after the header's 1000000 elements");
    /* one data byte flipped: the CRC catches it; with the trailer cut, the cut */
    size_t at = find_bytes(gz, size, head, 12) + 12 + 500;
    gz[at] ^= 0x10;
    spit(gzpath, gz, size);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("incorrect data check");
    spit(gzpath, gz, size - 8);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("cut short");
    free(gz);
    free(img);
}
END_TEST

/* gzip allows members in a row (`cat a.gz b.gz`): the file's contents are
 * theirs, one after the other, each member checked by its own CRC. */
START_TEST(concatenated_gzip_members_read_as_one_file)
{
    size_t na, nb;
    write_gzip(U8_2x3, 12 + 2, "wb");           /* header and pixels 0, 1 */
    unsigned char *a = slurp(gzpath, &na);
    write_gzip(U8_2x3 + 14, 4, "wb");           /* pixels 2..5 */
    unsigned char *b = slurp(gzpath, &nb);
    unsigned char *both = malloc(na + nb + nb);
    memcpy(both, a, na);
    memcpy(both + na, b, nb);
    spit(gzpath, both, na + nb);
    ag_tensor *t = ag_idx_load(gzpath);
    ck_assert_msg(t != NULL, "%s", ag_last_error());
    for (int i = 0; i < 6; i++) ck_assert(ag_tensor_data(t)[i] == U8_2x3[12 + i]);
    ag_tensor_free(t);
    /* a third member: more data than the header claims */
    memcpy(both + na + nb, b, nb);
    spit(gzpath, both, na + 2 * nb);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("data continues after the header's 6 elements");
    /* the second member's CRC-32 (its trailer's first 4 bytes) damaged */
    both[na + nb - 8] ^= 1;
    spit(gzpath, both, na + nb);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("incorrect data check");
    free(both);
    free(a);
    free(b);
}
END_TEST

START_TEST(bad_crc_of_a_small_file_is_named)
{
    write_gzip(U8_2x3, sizeof U8_2x3, "wb0");
    size_t size;
    unsigned char *gz = slurp(gzpath, &size);
    gz[find_bytes(gz, size, U8_2x3 + 12, 6)] ^= 1; /* pixel 0 */
    spit(gzpath, gz, size);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("incorrect data check");
    ck_assert_msg(!strstr(ag_last_error(), "truncated at byte 0"), "%s", ag_last_error());
    gz[size - 1] ^= 1; /* pixel 0 restored below, length wrong */
    gz[find_bytes(gz, size, (const unsigned char[]){0, 2, 3, 250}, 4)] ^= 1;
    spit(gzpath, gz, size);
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ck_assert_last_error("incorrect length check");
    free(gz);
}
END_TEST

/* ---- issue 13: memory bounded by the data, not by the header's claim -------------- */

static size_t live_bytes, peak_bytes;

static void *peak_malloc(size_t n)
{
    unsigned char *p = malloc(n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    live_bytes += n;
    if (live_bytes > peak_bytes) peak_bytes = live_bytes;
    return p + 16;
}

static void peak_free(void *ptr)
{
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    live_bytes -= n;
    free(p);
}

static void *peak_realloc(void *ptr, size_t n)
{
    void *q = peak_malloc(n);
    if (!q || !ptr) return q;
    size_t old;
    memcpy(&old, (unsigned char *)ptr - 16, sizeof old);
    memcpy(q, ptr, old < n ? old : n);
    peak_free(ptr);
    return q;
}

START_TEST(small_gzip_claiming_2_29_values_stays_small)
{
    /* a 1-d u8 file claiming 2^29 elements whose stream holds 2^26 zero
     * bytes (64 KiB compressed): as doubles they would be 512 MiB */
    size_t held = (size_t)1 << 26;
    unsigned char *img = calloc(1, 8 + held);
    const unsigned char head[8] = {0, 0, 8, 1, 0x20, 0, 0, 0};
    memcpy(img, head, 8);
    write_gzip(img, 8 + held, "wb9");
    free(img);
    ag_set_allocator(&(ag_allocator){peak_malloc, peak_realloc, peak_free});
    live_bytes = peak_bytes = 0;
    ck_assert_ptr_null(ag_idx_load(gzpath));
    ag_set_allocator(NULL);
    ck_assert_last_error("truncated at byte 67108872: the header's 536870912 u8 elements");
    ck_assert_msg(peak_bytes < ((size_t)64 << 20), "peak %zu bytes", peak_bytes);
    ck_assert_int_eq(live_bytes, 0);
}
END_TEST

Suite *idx_suite(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, u8_plain_and_gzip);
    tcase_add_test(tc, other_types);
    tcase_add_test(tc, bad_headers);
    tcase_add_test(tc, truncated_and_trailing_data);
    tcase_add_test(tc, huge_claims_rejected_before_allocating);
    tcase_add_test(tc, corrupt_gzip_stream);
    tcase_add_test(tc, out_of_memory_while_loading);
    suite_add_tcase(s, tc);
    tc = tcase_create("damaged and oversized gzip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120); /* 2^26 bytes decompressed under the sanitizers */
    tcase_add_test(tc, damaged_gzip_files_are_rejected);
    tcase_add_test(tc, bad_crc_of_a_small_file_is_named);
    tcase_add_test(tc, concatenated_gzip_members_read_as_one_file);
    tcase_add_test(tc, small_gzip_claiming_2_29_values_stays_small);
    suite_add_tcase(s, tc);
    return s;
}
