/* test_checkpoint.c -- .safetensors checkpoints: round trips, the byte
 * layout checked against hand-written files, rejection of corrupt files
 * (each with its message), atomic saves under injected write failures, and
 * out-of-memory while loading. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "io/io_internal.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/agrad_ckpt_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
}

/* Number of entries in dir (besides . and ..); with remove, delete them. */
static int dir_entries(bool remove)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    char file[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        if (remove) unlink(file);
    }
    closedir(d);
    return n;
}

static void teardown(void)
{
    ag_io_fail_write_at(0);
    dir_entries(true);
    rmdir(dir);
}

static void write_bytes(const char *file, const void *bytes, size_t n)
{
    FILE *f = fopen(file, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* A file: 8-byte little-endian length of `header` (as given, no padding),
 * the header, then `data` (ndata bytes). */
static void write_safetensors(const char *header, const unsigned char *data, size_t ndata)
{
    size_t h = strlen(header);
    unsigned char *buf = malloc(8 + h + ndata + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    if (ndata) memcpy(buf + 8 + h, data, ndata);
    write_bytes(path, buf, 8 + h + ndata);
    free(buf);
}

/* Little-endian bytes of doubles, written out by hand (IEEE 754 binary64):
 * 1.0 = 0x3FF0000000000000, -2.0 = 0xC000000000000000, 0.5 = 0x3FE0...,
 * 3.0 = 0x4008000000000000. */
static const unsigned char ONE[8] = {0, 0, 0, 0, 0, 0, 0xF0, 0x3F};
static const unsigned char MINUS_TWO[8] = {0, 0, 0, 0, 0, 0, 0x00, 0xC0};
static const unsigned char HALF[8] = {0, 0, 0, 0, 0, 0, 0xE0, 0x3F};
static const unsigned char THREE[8] = {0, 0, 0, 0, 0, 0, 0x08, 0x40};

static unsigned char data3[24];
static void data_one_minus_two_half(void)
{
    memcpy(data3, ONE, 8);
    memcpy(data3 + 8, MINUS_TWO, 8);
    memcpy(data3 + 16, HALF, 8);
}

/* ---- round trips ------------------------------------------------------------ */

/* A store with a 2-d, a 1-d, a 0-d and a 4-d tensor (with awkward values). */
static ag_params *sample_store(double shift)
{
    ag_params *ps = ag_params_new();
    ag_tensor *w = ag_params_add(ps, "fc1.W", 2, (int[]){2, 3});
    ag_tensor *b = ag_params_add(ps, "fc1.b", 1, (int[]){3});
    ag_tensor *s = ag_params_add(ps, "temperature", 0, NULL);
    ag_tensor *k = ag_params_add(ps, "conv.k", 4, (int[]){2, 1, 2, 3});
    ck_assert_ptr_nonnull(k);
    const double special[6] = {-0.0, 5e-324, 1.7976931348623157e308, 3.141592653589793, -1e-300,
                              1.0 / 3};
    for (int i = 0; i < 6; i++) ag_tensor_data(w)[i] = shift != 0 ? special[i] + shift : special[i];
    for (int i = 0; i < 3; i++) ag_tensor_data(b)[i] = -0.1 * (i + 1) + shift;
    ag_tensor_data(s)[0] = 2.5 + shift;
    for (int i = 0; i < 12; i++) ag_tensor_data(k)[i] = exp(i) + shift;
    return ps;
}

static void assert_same_store(const ag_params *a, const ag_params *b)
{
    ck_assert_int_eq(ag_params_count(a), ag_params_count(b));
    for (size_t i = 0; i < ag_params_count(a); i++) {
        const ag_tensor *x = ag_params_at(a, i), *y = ag_params_at(b, i);
        ck_assert_str_eq(ag_tensor_name(x), ag_tensor_name(y));
        ck_assert_int_eq(ag_tensor_ndim(x), ag_tensor_ndim(y));
        for (int d = 0; d < ag_tensor_ndim(x); d++)
            ck_assert_int_eq(ag_tensor_dim(x, d), ag_tensor_dim(y, d));
        ck_assert_int_eq(ag_tensor_size(x), ag_tensor_size(y));
        ck_assert_msg(memcmp(ag_tensor_data(x), ag_tensor_data(y),
                             ag_tensor_size(x) * sizeof(double)) == 0,
                      "values of %s differ", ag_tensor_name(x));
    }
}

START_TEST(round_trip_read)
{
    ag_params *ps = sample_store(0);
    ck_assert_msg(ag_checkpoint_save(ps, path), "%s", ag_last_error());
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    assert_same_store(ps, back); /* names, shapes, insertion order, bits */
    ck_assert(signbit(ag_tensor_data(ag_params_get(back, "fc1.W"))[0])); /* -0.0 kept */
    ck_assert_int_eq(ag_tensor_ndim(ag_params_get(back, "temperature")), 0);
    ck_assert_ptr_nonnull(ag_tensor_grad(ag_params_at(back, 0)));
    ck_assert_int_eq(dir_entries(false), 1); /* no temporary file left */
    ag_params_free(ps);
    ag_params_free(back);
}
END_TEST

START_TEST(round_trip_load_into_store)
{
    ag_params *ps = sample_store(0);
    ck_assert(ag_checkpoint_save(ps, path));
    ag_params *other = sample_store(100); /* same layout, different values */
    ag_tensor_grad(ag_params_at(other, 0))[0] = 9; /* gradients are left alone */
    ck_assert_msg(ag_checkpoint_load(other, path), "%s", ag_last_error());
    assert_same_store(ps, other);
    ck_assert(ag_tensor_grad(ag_params_at(other, 0))[0] == 9);
    ag_params_free(ps);
    ag_params_free(other);
}
END_TEST

START_TEST(empty_store_round_trip)
{
    ag_params *ps = ag_params_new();
    ck_assert(ag_checkpoint_save(ps, path));
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(ag_params_count(back), 0);
    ck_assert(ag_checkpoint_load(ps, path));
    ag_params_free(ps);
    ag_params_free(back);
}
END_TEST

/* The writer's bytes, checked with an independent parse of the format. */
START_TEST(writer_layout)
{
    ag_params *ps = ag_params_new();
    ag_tensor *w = ag_params_add(ps, "W", 2, (int[]){2, 3});
    ag_params_add(ps, "b", 1, (int[]){3});
    ag_params_add(ps, "s", 0, NULL);
    ag_tensor_data(w)[0] = 1.0;
    ag_tensor_data(w)[5] = -2.0;
    ag_tensor_data(ag_params_get(ps, "s"))[0] = 0.5;
    ck_assert(ag_checkpoint_save(ps, path));

    FILE *f = fopen(path, "rb");
    unsigned char bytes[1024];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | bytes[i];
    ck_assert_int_eq((8 + h) % 8, 0); /* data starts 8-aligned */
    ck_assert_int_eq(n, 8 + h + 8 * (6 + 3 + 1));
    json_error_t err;
    json_t *root = json_loadb((const char *)bytes + 8, h, 0, &err);
    ck_assert_msg(root != NULL, "%s", err.text);
    json_t *eW = json_object_get(root, "W"), *eb = json_object_get(root, "b"),
           *es = json_object_get(root, "s");
    ck_assert_str_eq(json_string_value(json_object_get(eW, "dtype")), "F64");
    ck_assert_int_eq(json_array_size(json_object_get(eW, "shape")), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(eW, "shape"), 1)), 3);
    ck_assert_int_eq(json_array_size(json_object_get(es, "shape")), 0);
    json_t *ob = json_object_get(eb, "data_offsets"), *os = json_object_get(es, "data_offsets");
    ck_assert_int_eq(json_integer_value(json_array_get(ob, 0)), 48);
    ck_assert_int_eq(json_integer_value(json_array_get(ob, 1)), 72);
    ck_assert_int_eq(json_integer_value(json_array_get(os, 0)), 72);
    ck_assert_int_eq(json_integer_value(json_array_get(os, 1)), 80);
    ck_assert(json_is_object(json_object_get(root, "__metadata__")));
    json_decref(root);
    const unsigned char *data = bytes + 8 + h;
    ck_assert_int_eq(memcmp(data, ONE, 8), 0);           /* W[0,0] */
    ck_assert_int_eq(memcmp(data + 40, MINUS_TWO, 8), 0); /* W[1,2] */
    ck_assert_int_eq(memcmp(data + 72, HALF, 8), 0);      /* s */
    ag_params_free(ps);
}
END_TEST

/* A file built byte by byte, keys out of data order, with metadata. */
START_TEST(hand_written_file_loads)
{
    data_one_minus_two_half();
    write_safetensors("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[16,24]},"
                      "\"__metadata__\":{\"format\":\"pt\"},"
                      "\"a\":{\"shape\":[2],\"dtype\":\"F64\",\"data_offsets\":[0,16]}}    ",
                      data3, 24);
    ag_params *ps = ag_checkpoint_read(path);
    ck_assert_msg(ps != NULL, "%s", ag_last_error());
    ck_assert_int_eq(ag_params_count(ps), 2);
    ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, 0)), "a"); /* data order */
    ck_assert_str_eq(ag_tensor_name(ag_params_at(ps, 1)), "s");
    ag_tensor *a = ag_params_get(ps, "a"), *s = ag_params_get(ps, "s");
    ck_assert_int_eq(ag_tensor_ndim(a), 1);
    ck_assert_int_eq(ag_tensor_dim(a, 0), 2);
    ck_assert(ag_tensor_data(a)[0] == 1.0);
    ck_assert(ag_tensor_data(a)[1] == -2.0);
    ck_assert_int_eq(ag_tensor_ndim(s), 0);
    ck_assert(ag_tensor_data(s)[0] == 0.5);
    ag_params_free(ps);
}
END_TEST

/* ---- corrupt files ----------------------------------------------------------- */

/* Reading the file fails with a message containing `expected` and the path. */
static void assert_rejected(const char *expected)
{
    ag_params *ps = ag_checkpoint_read(path);
    ck_assert_msg(ps == NULL, "accepted a bad file (expected '%s')", expected);
    ck_assert_last_error("ag_checkpoint_read: ");
    ck_assert_last_error(path);
    ck_assert_last_error(expected);
}

#define ENTRY(name, shape, b, e) \
    "\"" name "\":{\"dtype\":\"F64\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

START_TEST(rejects_short_and_bad_header_length)
{
    write_bytes(path, "\x05\0\0\0\0", 5);
    assert_rejected("file is 5 bytes, too short for the 8-byte header length");
    write_bytes(path, "", 0);
    assert_rejected("file is 0 bytes");
    unsigned char big[20] = {0xE8, 0x03}; /* 1000 */
    write_bytes(path, big, sizeof big);
    assert_rejected("byte 0: header length 1000 exceeds the 12 bytes after it");
    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80}; /* 2^63 */
    write_bytes(path, huge, sizeof huge);
    assert_rejected("header length 9223372036854775808 is over the 100 MB limit");
    ck_assert_ptr_null(ag_checkpoint_read(NULL));
    ck_assert_last_error("path is NULL");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.safetensors", dir);
    ck_assert_ptr_null(ag_checkpoint_read(missing));
    ck_assert_last_error("cannot open");
    ck_assert_ptr_null(ag_checkpoint_read(dir));
    ck_assert_last_error("not a regular file");
}
END_TEST

START_TEST(rejects_bad_json)
{
    data_one_minus_two_half();
    write_safetensors("{\"a\":", data3, 8);
    assert_rejected("invalid JSON header");
    write_safetensors("[1,2]", NULL, 0);
    assert_rejected("the JSON header is not an object");
    write_safetensors("{" ENTRY("a", "[1]", 0, 8) "," ENTRY("a", "[1]", 8, 16) "}", data3, 16);
    assert_rejected("duplicate"); /* jansson: "duplicate object key" */
    write_safetensors("{\"a\":[1]}", data3, 8);
    assert_rejected("tensor 'a': entry is not an object");
    write_safetensors("{\"__metadata__\":{\"k\":1}," ENTRY("a", "[1]", 0, 8) "}", data3, 8);
    assert_rejected("__metadata__ value of 'k' is not a string");
    write_safetensors("{\"__metadata__\":[]}", NULL, 0);
    assert_rejected("__metadata__ is not an object");
    write_safetensors("", NULL, 0);
    assert_rejected("invalid JSON header");
}
END_TEST

START_TEST(rejects_bad_dtype_and_shape)
{
    data_one_minus_two_half();
    write_safetensors("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data3, 8);
    assert_rejected("tensor 'a': dtype 'I32' is not supported (F64, F32, F16 or BF16)");
    write_safetensors("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", data3, 8);
    assert_rejected("tensor 'a': data_offsets [0, 8] hold 8 bytes, but F16 shape (2) needs 4");
    write_safetensors("{\"a\":{\"shape\":[1],\"data_offsets\":[0,8]}}", data3, 8);
    assert_rejected("tensor 'a': dtype is missing");
    write_safetensors("{" ENTRY("a", "[2,-1]", 0, 16) "}", data3, 16);
    assert_rejected("tensor 'a': shape[1] is not an integer in [0, 2147483647]");
    write_safetensors("{" ENTRY("a", "[1.5]", 0, 8) "}", data3, 8);
    assert_rejected("shape[0] is not an integer");
    write_safetensors("{" ENTRY("a", "[4294967296]", 0, 8) "}", data3, 8);
    assert_rejected("shape[0] is not an integer");
    write_safetensors("{" ENTRY("a", "[2,0]", 0, 0) "}", NULL, 0);
    assert_rejected("tensor 'a': bad shape: every dimension must be positive");
    write_safetensors("{" ENTRY("a", "[1,1,1,1,1]", 0, 8) "}", data3, 8);
    assert_rejected("tensor 'a': shape must be an array of at most 4 integers");
    write_safetensors("{" ENTRY("a", "\"2\"", 0, 8) "}", data3, 8);
    assert_rejected("shape must be an array");
    write_safetensors("{" ENTRY("a", "[1073741824,1073741824,8]", 0, 8) "}", data3, 8);
    assert_rejected("element count is too large");
}
END_TEST

START_TEST(rejects_bad_offsets)
{
    data_one_minus_two_half();
    write_safetensors("{" ENTRY("a", "[2]", 0, 800) "}", data3, 16);
    assert_rejected("tensor 'a': data_offsets [0, 800] reach past the end of the 16-byte data "
                    "section");
    write_safetensors("{" ENTRY("a", "[2]", 0, 8) "}", data3, 8);
    assert_rejected("tensor 'a': data_offsets [0, 8] hold 8 bytes, but F64 shape (2) needs 16");
    write_safetensors("{" ENTRY("a", "[2]", 16, 8) "}", data3, 24);
    assert_rejected("data_offsets must be [begin, end] with 0 <= begin <= end");
    write_safetensors("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0]}}", data3, 8);
    assert_rejected("data_offsets must be [begin, end]");
    write_safetensors("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[-8,0]}}", data3, 8);
    assert_rejected("data_offsets must be [begin, end]");
    write_safetensors("{" ENTRY("a", "[2]", 0, 16) "," ENTRY("b", "[2]", 8, 24) "}", data3, 24);
    assert_rejected("tensors 'a' and 'b' overlap (data_offsets [0, 16] and [8, 24])");
    write_safetensors("{" ENTRY("a", "[1]", 0, 8) "," ENTRY("b", "[1]", 16, 24) "}", data3, 24);
    assert_rejected("data section bytes [8, 16) belong to no tensor (gap before 'b')");
    write_safetensors("{" ENTRY("a", "[1]", 8, 16) "}", data3, 16);
    assert_rejected("bytes [0, 8) belong to no tensor (gap before 'a')");
    write_safetensors("{" ENTRY("a", "[2]", 0, 16) "}", data3, 24);
    assert_rejected("the tensors cover 16 bytes of the 24-byte data section");
}
END_TEST

START_TEST(rejects_truncated_file)
{
    ag_params *ps = sample_store(0);
    ck_assert(ag_checkpoint_save(ps, path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 1), 0);
    assert_rejected("reach past the end of the");
    ck_assert(!ag_checkpoint_load(ps, path));
    ck_assert_last_error("ag_checkpoint_load: ");
    ag_params_free(ps);
}
END_TEST

/* Loading into a store checks names and shapes; a failure changes nothing. */
START_TEST(load_mismatches_leave_store_unchanged)
{
    data_one_minus_two_half();
    ag_params *ps = ag_params_new();
    ag_tensor *a = ag_params_add(ps, "a", 1, (int[]){2});
    ag_tensor *b = ag_params_add(ps, "b", 0, NULL);
    ag_tensor_data(a)[0] = ag_tensor_data(a)[1] = ag_tensor_data(b)[0] = 42;
    struct {
        const char *header;
        size_t ndata;
        const char *error;
    } cases[] = {
        {"{" ENTRY("a", "[2]", 0, 16) "}", 16, "store tensor 'b' is missing from the file"},
        {"{" ENTRY("a", "[2]", 0, 16) "," ENTRY("b", "[]", 16, 24) "," ENTRY("c", "[]", 24, 32)
         "}", 32, "tensor 'c' in the file is not in the store"},
        {"{" ENTRY("a", "[2,1]", 0, 16) "," ENTRY("b", "[]", 16, 24) "}", 24,
         "tensor 'a' has shape (2x1) in the file but (2) in the store"},
        {"{" ENTRY("a", "[2]", 0, 16) "," ENTRY("b", "[1]", 16, 24) "}", 24,
         "tensor 'b' has shape (1) in the file but (scalar) in the store"},
        {"{" ENTRY("a", "[2]", 0, 16) "," ENTRY("b", "[]", 16, 24) "}", 20,
         "reach past the end"},
    };
    unsigned char data[32];
    memcpy(data, data3, 24);
    memcpy(data + 24, THREE, 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_safetensors(cases[i].header, data, cases[i].ndata);
        ck_assert_msg(!ag_checkpoint_load(ps, path), "case %zu accepted", i);
        ck_assert_last_error("ag_checkpoint_load: ");
        ck_assert_last_error(cases[i].error);
        ck_assert(ag_tensor_data(a)[0] == 42 && ag_tensor_data(a)[1] == 42);
        ck_assert(ag_tensor_data(b)[0] == 42);
    }
    /* and the matching file loads: a = [1, -2], b = 0.5 */
    write_safetensors("{" ENTRY("b", "[]", 16, 24) "," ENTRY("a", "[2]", 0, 16) "}", data, 24);
    ck_assert_msg(ag_checkpoint_load(ps, path), "%s", ag_last_error());
    ck_assert(ag_tensor_data(a)[0] == 1.0 && ag_tensor_data(a)[1] == -2.0);
    ck_assert(ag_tensor_data(b)[0] == 0.5);
    ck_assert(!ag_checkpoint_load(NULL, path));
    ck_assert_last_error("store is NULL");
    ag_params_free(ps);
}
END_TEST

/* ---- atomic save --------------------------------------------------------------- */

static double first_value(void)
{
    ag_params *ps = ag_checkpoint_read(path);
    ck_assert_msg(ps != NULL, "checkpoint unreadable: %s", ag_last_error());
    double v = ag_tensor_data(ag_params_get(ps, "big"))[1000];
    ag_params_free(ps);
    return v;
}

START_TEST(injected_write_failures_keep_old_checkpoint)
{
    /* 'big' has 3000 values, so its data is written in several chunks */
    ag_params *ps = ag_params_new();
    ag_tensor *big = ag_params_add(ps, "big", 2, (int[]){1000, 3});
    ag_params_add(ps, "s", 0, NULL);
    for (int i = 0; i < 3000; i++) ag_tensor_data(big)[i] = 1.0;
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert(ag_checkpoint_save(ps, path)); /* the steps of replacing a file (with its chmod) */
    long steps = ag_io_write_steps();
    ck_assert_int_ge(steps, 12); /* open chmod len header 6 chunks+s flush fsync close rename dir */
    for (int i = 0; i < 3000; i++) ag_tensor_data(big)[i] = 2.0;
    for (long k = 1; k <= steps; k++) {
        ag_io_fail_write_at(k);
        ck_assert_msg(!ag_checkpoint_save(ps, path), "step %ld of %ld did not fail", k, steps);
        ck_assert_int_eq(ag_io_write_steps(), k); /* stopped at the failure */
        ck_assert_last_error("ag_checkpoint_save: ");
        ck_assert_last_error(dir);
        ck_assert_last_error(strerror(EIO));
        ck_assert_int_eq(dir_entries(false), 1); /* no temporary file left */
        if (k <= steps - 2) {
            ck_assert(first_value() == 1.0); /* the old checkpoint, intact */
        } else {  /* the last two steps are the directory's open and fsync */
            ck_assert_last_error("of the directory failed");
            ck_assert(first_value() == 2.0); /* renamed already: the new one, complete */
        }
        if (k > steps - 2) { /* put the old file back for the next step */
            for (int i = 0; i < 3000; i++) ag_tensor_data(big)[i] = 1.0;
            ag_io_fail_write_at(0);
            ck_assert(ag_checkpoint_save(ps, path));
            for (int i = 0; i < 3000; i++) ag_tensor_data(big)[i] = 2.0;
        }
    }
    ag_io_fail_write_at(steps + 1); /* past the last step: succeeds */
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert(first_value() == 2.0);
    ag_io_fail_write_at(0);
    ag_params_free(ps);
}
END_TEST

START_TEST(save_errors_and_file_mode)
{
    ag_params *ps = sample_store(0);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", dir);
    ck_assert(!ag_checkpoint_save(ps, bad));
    ck_assert_last_error("cannot create a temporary file");
    ck_assert(!ag_checkpoint_save(ps, NULL));
    ck_assert(!ag_checkpoint_save(NULL, path));
    struct stat st;
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644); /* not mkstemp's 0600 */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640); /* the replaced file's mode is kept */
    ag_tensor *odd = ag_params_add(ps, "\xff\xfe", 1, (int[]){1}); /* not UTF-8 */
    ck_assert_ptr_nonnull(odd);
    ck_assert(!ag_checkpoint_save(ps, path));
    ck_assert_last_error("cannot encode tensor");
    ck_assert_int_eq(dir_entries(false), 1);
    ag_params_free(ps);
}
END_TEST

/* ---- out of memory --------------------------------------------------------------- */

START_TEST(out_of_memory_while_loading)
{
    ag_params *ps = sample_store(0);
    ck_assert(ag_checkpoint_save(ps, path));
    ag_params_free(ps);
    counting_allocator_install(0); /* allocations of a successful read */
    ag_params *back = ag_checkpoint_read(path);
    long total = counting_allocations();
    ag_params_free(back);
    counting_allocator_remove();
    long failures = 0;
    for (long k = 1; k <= total; k++) { /* ag_checkpoint_read: fail each in turn */
        counting_allocator_install(k);
        back = ag_checkpoint_read(path);
        ck_assert_ptr_null(back); /* every allocation is needed */
        ck_assert_last_error("ag_checkpoint_read: ");
        ck_assert_last_error(path);
        ck_assert_last_error("out of memory");
        failures++;
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
    ck_assert_int_ge(failures, 2 + 4 + 4 * 5); /* header, entries, 4 x values, 4 x store adds */
    /* ag_checkpoint_load: the store is built first (its `made` allocations
     * succeed), then each allocation of the load fails in turn */
    counting_allocator_install(0);
    ag_params *probe = sample_store(7);
    long made = counting_allocations();
    ag_params_free(probe);
    counting_allocator_remove();
    counting_allocator_install(0);
    ag_params *into = sample_store(7);
    ck_assert(ag_checkpoint_load(into, path));
    total = counting_allocations() - made;
    ag_params_free(into);
    counting_allocator_remove();
    failures = 0;
    for (long k = 1; k <= total; k++) {
        counting_allocator_install(made + k);
        into = sample_store(7);
        ck_assert_int_eq(counting_allocations(), made);
        ck_assert(!ag_checkpoint_load(into, path));
        ck_assert_last_error("ag_checkpoint_load: ");
        ck_assert_last_error("out of memory");
        ck_assert(ag_tensor_data(ag_params_at(into, 2))[0] == 9.5); /* unchanged */
        failures++;
        ag_params_free(into);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
    ck_assert_int_ge(failures, 2 + 4); /* header, entries, 4 x values */
}
END_TEST

/* ---- issue 13: save writes only what load reads ------------------------------------- */

/* The store's first value as it reads back from `file`. */
static double first_value_of(const char *file)
{
    ag_params *back = ag_checkpoint_read(file);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    double v = ag_tensor_data(ag_params_at(back, 0))[0];
    ag_params_free(back);
    return v;
}

START_TEST(save_refuses_a_header_over_the_load_limit)
{
    ag_params *old = sample_store(0);
    ck_assert(ag_checkpoint_save(old, path));
    /* one name of 10^8 bytes: its JSON header cannot be under the 100 MB limit */
    size_t n = 100u * 1000 * 1000;
    char *name = malloc(n + 1);
    ck_assert_ptr_nonnull(name);
    memset(name, 'w', n);
    name[n] = '\0';
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(ps, name, 1, (int[]){2}));
    free(name);
    ck_assert(!ag_checkpoint_save(ps, path));
    ck_assert_last_error("over the 100 MB limit that ag_checkpoint_load enforces");
    ck_assert_int_eq(dir_entries(false), 1);
    ck_assert(first_value_of(path) == -0.0 && signbit(first_value_of(path))); /* old file intact */
    ag_params_free(ps);
    ag_params_free(old);
}
END_TEST

/* A name of `len` bytes drawn from a mix that JSON must escape (quotes,
 * backslashes, control bytes), plain ASCII and two-byte UTF-8. */
static void random_name(test_rng *r, char *out, int len)
{
    static const char plain[] = "abcXYZ019._-/ ";
    static const char escaped[] = "\"\\\t\n\x01\x1f";
    int i = 0;
    while (i < len) {
        int kind = rng_int(r, 0, 9);
        if (kind == 0 && i + 2 <= len) {
            out[i++] = (char)0xC3; /* U+00E9 */
            out[i++] = (char)0xA9;
        } else if (kind == 1) {
            out[i++] = escaped[rng_int(r, 0, (int)sizeof escaped - 2)];
        } else {
            out[i++] = plain[rng_int(r, 0, (int)sizeof plain - 2)];
        }
    }
    out[len] = '\0';
}

START_TEST(round_trip_property_on_random_stores)
{
    /* with the header limit lowered to 4096 bytes, random stores either save
     * and read/load back bit for bit, or fail to save with the limit named
     * and the previous checkpoint untouched */
    ag_io_set_max_header(4096);
    test_rng r = {20261301};
    int saved = 0, refused = 0;
    ag_params *last = NULL; /* the store the file holds */
    for (int trial = 0; trial < 150; trial++) {
        ag_params *ps = ag_params_new();
        int count = rng_int(&r, 0, 30);
        char name[700];
        for (int i = 0; i < count; i++) {
            int ndim = rng_int(&r, 0, 4), dims[4];
            for (int d = 0; d < ndim; d++) dims[d] = rng_int(&r, 1, 3);
            random_name(&r, name, rng_int(&r, 1, trial % 3 == 0 ? 600 : 40));
            ag_tensor *t = ag_params_add(ps, name, ndim, dims);
            if (!t) continue; /* a repeated name */
            for (size_t k = 0; k < ag_tensor_size(t); k++)
                ag_tensor_data(t)[k] = rng_signed(&r, 1e-3, 1e3);
        }
        if (ag_checkpoint_save(ps, path)) {
            saved++;
            ag_params *back = ag_checkpoint_read(path);
            ck_assert_msg(back != NULL, "trial %d: %s", trial, ag_last_error());
            assert_same_store(ps, back);
            for (size_t i = 0; i < ag_params_count(back); i++)
                ag_tensor_data(ag_params_at(back, i))[0] += 1; /* load must overwrite this */
            ck_assert_msg(ag_checkpoint_load(back, path), "trial %d: %s", trial, ag_last_error());
            assert_same_store(ps, back);
            ag_params_free(back);
            ag_params_free(last);
            last = ps;
        } else {
            refused++;
            ck_assert_last_error("-byte limit that ag_checkpoint_load enforces");
            ck_assert_int_eq(dir_entries(false), last ? 1 : 0);
            if (last) {
                ag_params *back = ag_checkpoint_read(path);
                ck_assert_ptr_nonnull(back);
                assert_same_store(last, back);
                ag_params_free(back);
            }
            ag_params_free(ps);
        }
    }
    ck_assert_int_gt(saved, 20);
    ck_assert_int_gt(refused, 20);
    ag_params_free(last);
    ag_io_set_max_header(0);
}
END_TEST

/* ---- issue 13: loading many tensors ------------------------------------------------------ */

START_TEST(load_matches_names_in_linear_time)
{
    enum { N = 80000 };
    ag_params *ps = ag_params_new();
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer%d.w", i);
        ag_tensor *added = ag_params_add(ps, name, 0, NULL);
        ck_assert_in_loop(added != NULL, "adding %s: %s", name, ag_last_error());
        ag_tensor_data(added)[0] = i;
    }
    ck_assert(ag_checkpoint_save(ps, path));
    for (int i = 0; i < N; i++) ag_tensor_data(ag_params_at(ps, (size_t)i))[0] = -1;
    long compares_before = ag_io_store_key_compares();
    ck_assert_msg(ag_checkpoint_load(ps, path), "%s", ag_last_error());
    /* one hash lookup per tensor to match (the old loop made about N^2 / 2
     * strcmp calls) and one to copy, each comparing one key: a linear search
     * would compare up to N names per lookup */
    ck_assert_int_le(ag_io_name_lookups(), N);
    long compares = ag_io_store_key_compares() - compares_before;
    ck_assert_msg(compares >= N && compares <= 2 * N + 8, "%ld key comparisons for %d tensors",
                  compares, N);
    for (int i = 0; i < N; i++)
        ck_assert_in_loop(ag_tensor_data(ag_params_at(ps, (size_t)i))[0] == i, "tensor %d not loaded", i);
    /* one more tensor in the store: found missing with at most N + 1 more lookups */
    ck_assert_ptr_nonnull(ag_params_add(ps, "extra", 0, NULL));
    ck_assert(!ag_checkpoint_load(ps, path));
    ck_assert_last_error("store tensor 'extra' is missing from the file");
    ck_assert_int_le(ag_io_name_lookups(), 2 * N + 1);
    ag_params_free(ps);
}
END_TEST

/* ---- issue 13: modes, links, long names ------------------------------------------------- */

static mode_t mode_of(const char *file)
{
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    return st.st_mode & 07777;
}

/* The mode a temporary file had when it was created (-1: none seen). */
static int temp_mode_at_creation = -1;
static void note_temp_mode(const char *tmp) { temp_mode_at_creation = mode_of(tmp); }

/* Replacing a private file never exposes its new contents to more users:
 * the temporary file is created with the old file's bits (narrowed by the
 * umask), not with 0666 narrowed by the umask and fchmod'ed afterwards. */
START_TEST(replacing_a_private_file_never_widens_the_temporary)
{
    ag_params *ps = sample_store(0);
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(chmod(path, 0600), 0);
    mode_t saved_mask = umask(022);
    ag_io_observe_temp_files(note_temp_mode);
    ck_assert(ag_checkpoint_save(ps, path));
    ag_io_observe_temp_files(NULL);
    umask(saved_mask);
    ck_assert_int_eq(temp_mode_at_creation, 0600); /* 0666 & ~022 = 0644 would be readable */
    ck_assert_int_eq(mode_of(path), 0600);
    ag_params_free(ps);
}
END_TEST

START_TEST(save_applies_umask_and_drops_special_bits)
{
    ag_params *ps = sample_store(0);
    mode_t saved_mask = umask(077);
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(mode_of(path), 0600); /* 0666 & ~077, as open(O_CREAT, 0666) makes it */
    umask(027);
    unlink(path);
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(mode_of(path), 0640);
    umask(saved_mask);
    ck_assert_int_eq(chmod(path, 04755), 0); /* setuid: never passed on */
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(mode_of(path), 0755);
    ck_assert_int_eq(chmod(path, 03604), 0); /* setgid + sticky: dropped, rw----r-- kept */
    ck_assert(ag_checkpoint_save(ps, path));
    ck_assert_int_eq(mode_of(path), 0604);
    ag_params_free(ps);
}
END_TEST

START_TEST(save_through_symbolic_links)
{
    ag_params *ps = sample_store(0), *other = sample_store(100);
    char sub[160], real[200], link1[200], link2[200], dangling[200], missing[200];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(real, sizeof real, "%s/real.safetensors", sub);
    snprintf(link1, sizeof link1, "%s/link1", dir);
    snprintf(link2, sizeof link2, "%s/link2", dir);
    ck_assert(ag_checkpoint_save(ps, real));
    ck_assert_int_eq(symlink("sub/real.safetensors", link1), 0); /* relative */
    ck_assert_int_eq(symlink(link1, link2), 0);                  /* absolute, to a link */
    ck_assert(ag_checkpoint_save(other, link2));
    struct stat st;
    ck_assert_int_eq(lstat(link2, &st), 0);
    ck_assert(S_ISLNK(st.st_mode)); /* the links are still links */
    ck_assert_int_eq(lstat(link1, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert(first_value_of(real) == 100 - 0.0); /* the data went to the target */
    /* a dangling link: the file is created where it points */
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    snprintf(missing, sizeof missing, "%s/new.safetensors", sub);
    ck_assert_int_eq(symlink("sub/new.safetensors", dangling), 0);
    ck_assert_msg(ag_checkpoint_save(ps, dangling), "%s", ag_last_error());
    ck_assert_int_eq(lstat(dangling, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert(signbit(first_value_of(missing)));
    /* a loop is an error, not a hang */
    char loop[200];
    snprintf(loop, sizeof loop, "%s/loop", dir);
    ck_assert_int_eq(symlink("loop", loop), 0);
    ck_assert(!ag_checkpoint_save(ps, loop));
    ck_assert_last_error("too many levels of symbolic links");
    unlink(loop);
    unlink(dangling);
    unlink(link1);
    unlink(link2);
    unlink(real);
    unlink(missing);
    ck_assert_int_eq(rmdir(sub), 0); /* no temporary file left in the target's directory */
    ag_params_free(ps);
    ag_params_free(other);
}
END_TEST

START_TEST(save_with_a_250_character_file_name)
{
    ag_params *ps = sample_store(0);
    char file[400];
    int n = snprintf(file, sizeof file, "%s/", dir);
    memset(file + n, 'f', 250);
    file[n + 250] = '\0'; /* NAME_MAX is 255: no room for a ".tmp.XXXXXX" suffix */
    ck_assert_msg(ag_checkpoint_save(ps, file), "%s", ag_last_error());
    ck_assert(signbit(first_value_of(file)));
    ck_assert_int_eq(dir_entries(false), 1);
    ag_params_free(ps);
}
END_TEST

START_TEST(long_tensor_names_are_cut_in_messages)
{
    size_t n = 1000000;
    char *name = malloc(n + 1);
    memset(name, 'a', n);
    name[n] = '\0';
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(ps, name, 1, (int[]){2}));
    ck_assert(ag_checkpoint_save(ps, path));
    ag_params *empty = ag_params_new();
    ck_assert(!ag_checkpoint_load(empty, path));
    ck_assert_last_error("aaaa... (1000000 bytes)' in the file is not in the store");
    ck_assert(!ag_params_add(ps, name, 0, NULL));
    ck_assert_last_error("(1000000 bytes)' is already in the store");
    ag_params_free(empty);
    ag_params_free(ps);
    free(name);
    /* control bytes in a name are escaped, so the message stays one line */
    write_safetensors("{\"a\\r\\u0001b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
                      ONE, 8);
    ck_assert(!ag_checkpoint_read(path));
    ck_assert_last_error("tensor 'a\\x0d\\x01b': dtype 'I64' is not supported");
}
END_TEST

/* ---- issue 13: DOT files are written like checkpoints ---------------------------------- */

static void assert_file_holds(const char *file, const char *text)
{
    char buf[64] = {0};
    FILE *f = fopen(file, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_int_eq(n, strlen(text));
    ck_assert_str_eq(buf, text);
}

START_TEST(dot_save_failures_leave_the_old_file)
{
    char dot[160];
    snprintf(dot, sizeof dot, "%s/graph.dot", dir);
    write_bytes(dot, "old", 3);
    ck_assert(!ag_graph_save_dot(NULL, dot));
    ck_assert_last_error("ag_graph_save_dot: graph is NULL");
    assert_file_holds(dot, "old");
    ag_graph *g = ag_graph_new();
    ag_tensor *t = ag_tensor_scalar(2.0);
    ag_node *y = ag_mul(ag_param(g, t), ag_scalar(g, 3.0));
    ck_assert_ptr_nonnull(y);
    ck_assert(ag_graph_save_dot(g, dot)); /* the steps of a successful save */
    long steps = ag_io_write_steps();
    ck_assert_int_ge(steps, 7); /* open chmod write flush fsync close rename dir */
    write_bytes(dot, "old", 3);
    for (long k = 1; k <= steps - 2; k++) { /* every step before the rename */
        ag_io_fail_write_at(k);
        ck_assert_msg(!ag_graph_save_dot(g, dot), "step %ld did not fail", k);
        ck_assert_last_error(strerror(EIO));
        assert_file_holds(dot, "old");
        ck_assert_int_eq(dir_entries(false), 1);
    }
    ag_io_fail_write_at(0);
    ck_assert(ag_graph_save_dot(g, dot));
    FILE *f = fopen(dot, "rb");
    char head[16] = {0};
    ck_assert_int_eq(fread(head, 1, 15, f), 15);
    fclose(f);
    ck_assert_str_eq(head, "digraph agrad {");
    ag_graph_free(g);
    ag_tensor_free(t);
}
END_TEST

/* ---- issue 13: jansson keeps the program's allocator ------------------------------------ */

static long json_live, json_calls, json_fail_at;

static void *json_test_malloc(size_t size)
{
    if (++json_calls == json_fail_at) return NULL;
    json_live++;
    return malloc(size);
}

static void json_test_free(void *p)
{
    if (p) json_live--;
    free(p);
}

START_TEST(jansson_allocator_is_left_alone)
{
    counting_allocator_install(0); /* agrad's allocator: a different one */
    ag_params *ps = sample_store(0);
    json_malloc_t m0;
    json_free_t f0;
    json_get_alloc_funcs(&m0, &f0);
    json_set_alloc_funcs(json_test_malloc, json_test_free);
    ck_assert(ag_checkpoint_save(ps, path));
    long save_calls = json_calls;
    ck_assert_int_gt(save_calls, 0); /* jansson used the program's allocator */
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_ptr_nonnull(back);
    long read_calls = json_calls - save_calls;
    ck_assert_int_gt(read_calls, 0);
    ck_assert_int_eq(json_live, 0);
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    ck_assert(m == json_test_malloc && f == json_test_free); /* not changed by agrad */
    ag_params_free(back);
    /* jansson out of memory: each of its allocations fails in turn. jansson
     * 2.14 flags some of these as out of memory (json_error_out_of_memory),
     * others (a key's buffer in its lexer) as a syntax error at that point:
     * the read fails either way, with nothing leaked. */
    long flagged = 0;
    for (long k = 1; k <= read_calls; k++) {
        json_calls = 0;
        json_fail_at = k;
        ck_assert(!ag_checkpoint_read(path));
        ck_assert_last_error("ag_checkpoint_read: ");
        if (strstr(ag_last_error(), "out of memory while parsing the JSON header"))
            flagged++;
        else
            ck_assert_last_error("invalid JSON header");
        ck_assert_int_eq(json_live, 0);
    }
    fprintf(stderr, "jansson out of memory: %ld of %ld failures flagged as such\n", flagged,
            read_calls);
    ck_assert_int_gt(flagged, 0);
    for (long k = 1; k <= save_calls; k++) {
        json_calls = 0;
        json_fail_at = k;
        ck_assert(!ag_checkpoint_save(ps, path));
        ck_assert_last_error("out of memory");
        ck_assert_int_eq(json_live, 0);
    }
    json_fail_at = 0;
    ag_params_free(ps);
    ck_assert_int_eq(counting_live_blocks(), 0);
    counting_allocator_remove();
    json_set_alloc_funcs(m0, f0);
}
END_TEST

/* ---- narrower dtypes: F32, F16, BF16 in; F32 out ------------------------------ */

/* Read the one tensor "a" of the file at path into a new store. */
static const double *read_a(ag_params **ps)
{
    *ps = ag_checkpoint_read(path);
    ck_assert_msg(*ps != NULL, "%s", ag_last_error());
    return ag_tensor_data(ag_params_get(*ps, "a"));
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* F16: sign, 5 exponent bits (bias 15), 10 mantissa bits. By hand:
 * 0x3C00 = 2^0 = 1; 0x0001 = 2^-24 (smallest subnormal); 0x03FF =
 * 1023 * 2^-24 (largest subnormal); 0x0400 = 2^-14 (smallest normal);
 * 0x7BFF = (2 - 2^-10) * 2^15 = 65504; 0x8000 = -0; 0x7C00 = +Inf;
 * 0xFC00 = -Inf; 0x7E00 = NaN; 0xC000 = -2; 0x3555 = 1365 * 2^-12. */
START_TEST(f16_values_by_hand)
{
    const uint16_t h[] = {0x3C00, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xC000, 0x3555};
    unsigned char bytes[22];
    for (int i = 0; i < 11; i++) {
        bytes[2 * i] = (unsigned char)(h[i] & 0xFF);
        bytes[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    write_safetensors("{\"a\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]}}", bytes, 22);
    ag_params *ps;
    const double *v = read_a(&ps);
    ck_assert(v[0] == 1.0);
    ck_assert(v[1] == 5.9604644775390625e-08); /* 2^-24 */
    ck_assert(v[2] == 1023.0 / 16777216.0);
    ck_assert(v[3] == 6.103515625e-05);        /* 2^-14 */
    ck_assert(v[4] == 65504.0);
    ck_assert(v[5] == 0.0 && signbit(v[5]));
    ck_assert(isinf(v[6]) && v[6] > 0);
    ck_assert(isinf(v[7]) && v[7] < 0);
    ck_assert(isnan(v[8]));
    ck_assert(v[9] == -2.0);
    ck_assert(v[10] == 1365.0 / 4096.0);
    ag_params_free(ps);
}
END_TEST

/* BF16 is the top half of an F32 (1 sign, 8 exponent bits, 7 mantissa):
 * 0x3F80 = 1; 0xC000 = -2; 0x4049 = 0x40490000 as F32 = 1.5703125 * 2 =
 * 3.140625; 0x0001 = 2^-133 (2^-149 shifted up 16 bits); 0x7F7F = (2 -
 * 2^-7) * 2^127; 0x8000 = -0; 0x7F80 = +Inf; 0x7FC0 = NaN. */
START_TEST(bf16_values_by_hand)
{
    const uint16_t h[] = {0x3F80, 0xC000, 0x4049, 0x0001, 0x7F7F, 0x8000, 0x7F80, 0x7FC0};
    unsigned char bytes[16];
    for (int i = 0; i < 8; i++) {
        bytes[2 * i] = (unsigned char)(h[i] & 0xFF);
        bytes[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    write_safetensors("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}", bytes, 16);
    ag_params *ps;
    const double *v = read_a(&ps);
    ck_assert(v[0] == 1.0);
    ck_assert(v[1] == -2.0);
    ck_assert(v[2] == 3.140625);
    ck_assert(v[3] == ldexp(1.0, -133));
    ck_assert(v[4] == ldexp(255.0, 120)); /* (2 - 2^-7) 2^127 = 255 * 2^120 */
    ck_assert(v[5] == 0.0 && signbit(v[5]));
    ck_assert(isinf(v[6]) && v[6] > 0);
    ck_assert(isnan(v[7]));
    ag_params_free(ps);
}
END_TEST

/* F32 by hand: 0x3F800000 = 1; 0x00000001 = 2^-149; 0x7F7FFFFF = (2 -
 * 2^-23) 2^127 (FLT_MAX); 0x3EAAAAAB = (2^23 + 0x2AAAAB) 2^-25 =
 * 11184811 / 2^25; 0xBDCCCCCD = -(2^23 + 0x4CCCCD) 2^-27 = -13421773 / 2^27. */
START_TEST(f32_values_by_hand)
{
    const uint32_t w[] = {0x3F800000, 0x00000001, 0x7F7FFFFF, 0x3EAAAAAB, 0xBDCCCCCD};
    unsigned char bytes[20];
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 4; b++) bytes[4 * i + b] = (unsigned char)(w[i] >> (8 * b));
    write_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}}", bytes, 20);
    ag_params *ps;
    const double *v = read_a(&ps);
    ck_assert(v[0] == 1.0);
    ck_assert(v[1] == ldexp(1.0, -149));
    ck_assert(v[2] == ldexp(16777215.0, 104)); /* (2^24 - 1) 2^104 */
    ck_assert(v[3] == 11184811.0 / 33554432.0);
    ck_assert(v[4] == -13421773.0 / 134217728.0);
    ag_params_free(ps);
    /* mixed dtypes in one file load into an existing store too */
    unsigned char mixed[10] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x3C, 0x80, 0x3F, 0x00, 0x00};
    write_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,6]},"
                      "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]}}", mixed, 10);
    ag_params *store = ag_params_new();
    ag_params_add(store, "a", 1, (int[]){1});
    ag_params_add(store, "b", 1, (int[]){1});
    ag_params_add(store, "c", 1, (int[]){2});
    ck_assert_msg(ag_checkpoint_load(store, path), "%s", ag_last_error());
    ck_assert(ag_tensor_data(ag_params_get(store, "a"))[0] == 1.0);
    ck_assert(ag_tensor_data(ag_params_get(store, "b"))[0] == 1.0);
    ck_assert(ag_tensor_data(ag_params_get(store, "c"))[0] == 1.0);
    ck_assert(ag_tensor_data(ag_params_get(store, "c"))[1] == 0.0);
    ag_params_free(store);
}
END_TEST

/* The F32 words of "a" in the file at path (a lone tensor: its data are
 * the last 4 * n bytes). */
static void file_words(uint32_t *w, size_t n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, -(long)(4 * n), SEEK_END), 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        ck_assert_int_eq(fread(b, 1, 4, f), 4);
        w[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    fclose(f);
}

/* Rounding to nearest, ties to even, worked out on the bits: 1 + 2^-24 is
 * halfway between 1 (mantissa even) and 1 + 2^-23 -> 0x3F800000; 1 + 3 *
 * 2^-24 halfway between 1 + 2^-23 (odd) and 1 + 2^-22 -> 0x3F800002; 1.5 *
 * 2^-149 halfway between subnormals 1 and 2 -> 0x00000002; 2^-151 below half
 * the smallest subnormal -> +0; 0.1 -> 0x3DCCCCCD; 1/3 -> 0x3EAAAAAB;
 * 0x1.fffffefffffffp127, just under the halfway point past FLT_MAX ->
 * 0x7F7FFFFF; -0, -Inf and NaN kept. */
START_TEST(f32_save_rounds_to_nearest_even)
{
    ag_params *ps = ag_params_new();
    ag_tensor *a = ag_params_add(ps, "a", 1, (int[]){11});
    const double v[11] = {1.0 + ldexp(1, -24), 1.0 + 3 * ldexp(1, -24), 1.5 * ldexp(1, -149),
                          ldexp(1, -151), 0.1, 1.0 / 3.0, 0x1.fffffefffffffp127, -0.0, -INFINITY, NAN, -2.0};
    memcpy(ag_tensor_data(a), v, sizeof v);
    ck_assert_msg(ag_checkpoint_save_f32(ps, path), "%s", ag_last_error());
    uint32_t w[11];
    file_words(w, 11);
    const uint32_t want[11] = {0x3F800000, 0x3F800002, 0x00000002, 0x00000000, 0x3DCCCCCD, 0x3EAAAAAB,
                               0x7F7FFFFF, 0x80000000, 0xFF800000, 0, 0xC0000000};
    for (int i = 0; i < 11; i++)
        if (i != 9) ck_assert_msg(w[i] == want[i], "element %d: 0x%08x, expected 0x%08x", i, w[i], want[i]);
    ck_assert((w[9] & 0x7F800000) == 0x7F800000 && (w[9] & 0x007FFFFF) != 0); /* a NaN */
    /* and it reads back, F32 widened exactly */
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    const double *r = ag_tensor_data(ag_params_get(back, "a"));
    ck_assert(r[0] == 1.0 && r[1] == 1.0 + ldexp(1, -22) && r[5] == 11184811.0 / 33554432.0);
    ck_assert(bits_of(r[7]) == 0x8000000000000000ull && isnan(r[9]));
    ag_params_free(back);
    ag_params_free(ps);
}
END_TEST

/* A finite value rounding past FLT_MAX (at or over 2^128 - 2^103, the
 * halfway point 0x1.ffffffp127) is an error naming it; nothing is written,
 * an old file stays. */
START_TEST(f32_save_refuses_overflow)
{
    ag_params *ps = ag_params_new();
    ag_tensor *a = ag_params_add(ps, "w", 1, (int[]){3});
    ag_tensor_data(a)[2] = 0x1.ffffffp127;
    ck_assert(ag_checkpoint_save(ps, path));
    struct stat before;
    ck_assert_int_eq(stat(path, &before), 0);
    ck_assert(!ag_checkpoint_save_f32(ps, path));
    ck_assert_last_error("ag_checkpoint_save_f32: ");
    ck_assert_last_error("tensor 'w' element 2 is 3.40282e+38, too large for F32");
    ag_tensor_data(a)[2] = -1e300;
    ck_assert(!ag_checkpoint_save_f32(ps, path));
    ck_assert_last_error("element 2 is -1e+300");
    struct stat after;
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size); /* the F64 file is still there */
    ck_assert_int_eq(dir_entries(false), 1);
    ag_params_free(ps);
}
END_TEST

Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_read);
    tcase_add_test(tc, round_trip_load_into_store);
    tcase_add_test(tc, empty_store_round_trip);
    tcase_add_test(tc, writer_layout);
    tcase_add_test(tc, hand_written_file_loads);
    tcase_add_test(tc, rejects_short_and_bad_header_length);
    tcase_add_test(tc, rejects_bad_json);
    tcase_add_test(tc, rejects_bad_dtype_and_shape);
    tcase_add_test(tc, rejects_bad_offsets);
    tcase_add_test(tc, rejects_truncated_file);
    tcase_add_test(tc, load_mismatches_leave_store_unchanged);
    tcase_add_test(tc, injected_write_failures_keep_old_checkpoint);
    tcase_add_test(tc, save_errors_and_file_mode);
    tcase_add_test(tc, out_of_memory_while_loading);
    tcase_add_test(tc, f16_values_by_hand);
    tcase_add_test(tc, bf16_values_by_hand);
    tcase_add_test(tc, f32_values_by_hand);
    tcase_add_test(tc, f32_save_rounds_to_nearest_even);
    tcase_add_test(tc, f32_save_refuses_overflow);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits, modes, links, messages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120); /* a 100 MB name, 80 000 tensors, under the sanitizers */
    tcase_add_test(tc, save_refuses_a_header_over_the_load_limit);
    tcase_add_test(tc, round_trip_property_on_random_stores);
    tcase_add_test(tc, load_matches_names_in_linear_time);
    tcase_add_test(tc, save_applies_umask_and_drops_special_bits);
    tcase_add_test(tc, replacing_a_private_file_never_widens_the_temporary);
    tcase_add_test(tc, save_through_symbolic_links);
    tcase_add_test(tc, save_with_a_250_character_file_name);
    tcase_add_test(tc, long_tensor_names_are_cut_in_messages);
    tcase_add_test(tc, dot_save_failures_leave_the_old_file);
    tcase_add_test(tc, jansson_allocator_is_left_alone);
    suite_add_tcase(s, tc);
    return s;
}
