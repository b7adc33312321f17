/* test_self_describing.c -- checkpoints that describe themselves: user
 * metadata in the safetensors __metadata__ (round trip, read with jansson
 * from the raw file too), state tensors (never requiring grad, left out of
 * ag_params_trainable, bit-identical after an optimiser step over the whole
 * store, state again after a round trip), an MLP rebuilt from a checkpoint
 * alone giving the same outputs, and malformed metadata rejected with a
 * message, never a crash. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64];
static char path[128];

static void setup(void) { scratch_create(dir, path, "selfdesc", "model.safetensors"); }
static void teardown(void) { scratch_remove(dir, path); }

/* The file's JSON header, parsed independently of the loader. */
static json_t *raw_header(void)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char len[8];
    ck_assert_int_eq(fread(len, 1, 8, f), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len[i];
    char *text = malloc(n);
    ck_assert_int_eq(fread(text, 1, n, f), n);
    fclose(f);
    json_t *root = json_loadb(text, n, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(root);
    return root;
}

/* A header with one F64 tensor "a" [1] (value 1.0) and the given metadata. */
static void write_with_metadata(const char *meta_json)
{
    char header[1024];
    snprintf(header, sizeof header,
             "{\"__metadata__\":%s,\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", meta_json);
    size_t h = strlen(header);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)h >> (8 * i)) & 0xFF, f);
    fwrite(header, 1, h, f);
    const unsigned char one[8] = {0, 0, 0, 0, 0, 0, 0xF0, 0x3F};
    fwrite(one, 1, 8, f);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(metadata_round_trip)
{
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(ps, "w", 1, (int[]){2}));
    ck_assert(ag_params_set_meta(ps, "note", "caf\xc3\xa9, \"quoted\"\nsecond line"));
    ck_assert(ag_params_set_meta(ps, "lr", "0.01"));
    ck_assert(ag_params_set_meta(ps, "lr", "0.02")); /* replaced */
    const char *classes[] = {"setosa", "versi,color", "vir\"ginica"};
    ck_assert(ag_params_set_meta_strings(ps, "classes", classes, 3));
    ck_assert_uint_eq(ag_params_meta_count(ps), 3);
    ck_assert_str_eq(ag_params_meta_key(ps, 0), "note");
    ck_assert(ag_checkpoint_save(ps, path));
    /* in the file, as safetensors says: strings in __metadata__ */
    json_t *root = raw_header(), *meta = json_object_get(root, "__metadata__");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "lr")), "0.02");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "classes")),
                     "[\"setosa\",\"versi,color\",\"vir\\\"ginica\"]");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "producer")), "agrad " AGRAD_VERSION);
    ck_assert_ptr_null(json_object_get(meta, "agrad.state")); /* no state tensors */
    json_decref(root);
    /* read back */
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    ck_assert_str_eq(ag_params_meta(back, "note"), "caf\xc3\xa9, \"quoted\"\nsecond line");
    ck_assert_str_eq(ag_params_meta(back, "lr"), "0.02");
    ck_assert_ptr_null(ag_params_meta(back, "producer")); /* agrad's, not kept */
    size_t n;
    char **names = ag_params_meta_strings(back, "classes", &n);
    ck_assert_ptr_nonnull(names);
    ck_assert_uint_eq(n, 3);
    for (size_t k = 0; k < n; k++) ck_assert_str_eq(names[k], classes[k]);
    ag_strings_free(names, n);
    /* load into a store: the file's keys join, the store's own stay */
    ag_params *into = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(into, "w", 1, (int[]){2}));
    ck_assert(ag_params_set_meta(into, "lr", "old"));
    ck_assert(ag_params_set_meta(into, "mine", "kept"));
    ck_assert_msg(ag_checkpoint_load(into, path), "%s", ag_last_error());
    ck_assert_str_eq(ag_params_meta(into, "lr"), "0.02");
    ck_assert_str_eq(ag_params_meta(into, "mine"), "kept");
    ck_assert_ptr_nonnull(ag_params_meta(into, "classes"));
    ag_params_free(into);
    ag_params_free(back);
    ag_params_free(ps);
}
END_TEST

START_TEST(metadata_keys_and_values_are_checked)
{
    ag_params *ps = ag_params_new();
    ck_assert(!ag_params_set_meta(ps, "producer", "me"));
    ck_assert_last_error("ag_params_set_meta: key 'producer' is reserved");
    ck_assert(!ag_params_set_meta(ps, "agrad.mlp.x", "widths=1,1 activations=none"));
    ck_assert_last_error("key 'agrad.mlp.x' is reserved");
    ck_assert(!ag_params_set_meta(ps, "", "x"));
    ck_assert_last_error("ag_params_set_meta: key '' is empty");
    ck_assert(!ag_params_set_meta(ps, "k", "\xff"));
    ck_assert_last_error("ag_params_set_meta: 'k': the value is not valid UTF-8");
    ck_assert(!ag_params_set_meta(ps, "k", "\xed\xa0\x80")); /* a UTF-16 surrogate */
    ck_assert(!ag_params_set_meta(ps, "k", "\xc0\xaf"));     /* an overlong '/' */
    ck_assert(!ag_params_set_meta(ps, "k", NULL));
    ck_assert_last_error("ag_params_set_meta: value is NULL");
    ck_assert_uint_eq(ag_params_meta_count(ps), 0);
    ck_assert(ag_params_set_meta(ps, "k", "not a list"));
    size_t n = 7;
    ck_assert_ptr_null(ag_params_meta_strings(ps, "k", &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_last_error("ag_params_meta_strings: metadata 'k' = 'not a list' is not JSON");
    ck_assert(ag_params_set_meta(ps, "k", "[\"a\",2]"));
    ck_assert_ptr_null(ag_params_meta_strings(ps, "k", &n));
    ck_assert_last_error("metadata 'k' = '[\"a\",2]' is not a JSON array of strings");
    ck_assert_ptr_null(ag_params_meta_strings(ps, "absent", &n));
    ck_assert_last_error("ag_params_meta_strings: the store has no metadata 'absent'");
    ag_params_free(ps);
}
END_TEST

/* A store: an MLP 3-4-2 and a standardiser's mean and scale as state. */
static ag_params *model_with_state(ag_mlp **mlp, ag_tensor **mean, ag_tensor **scale)
{
    ag_params *ps = ag_params_new();
    ag_rng r = ag_rng_new(5);
    *mlp = ag_mlp_new(ps, "fc", 2, (int[]){3, 4, 2}, (ag_activation[]){AG_ACT_TANH, AG_ACT_NONE}, &r);
    ck_assert_ptr_nonnull(*mlp);
    *mean = ag_params_add_state(ps, "scaler.mean", 1, (int[]){3});
    *scale = ag_params_add_state(ps, "scaler.scale", 1, (int[]){3});
    ck_assert(*mean && *scale);
    for (int j = 0; j < 3; j++) {
        ag_tensor_data(*mean)[j] = 0.25 * (j + 1);
        ag_tensor_data(*scale)[j] = 1.5 + j;
    }
    return ps;
}

START_TEST(state_tensors_are_never_trained)
{
    ag_mlp *mlp;
    ag_tensor *mean, *scale;
    ag_params *ps = model_with_state(&mlp, &mean, &scale);
    ck_assert_ptr_null(ag_tensor_grad(mean)); /* no gradient buffer at all */
    ck_assert(ag_params_is_state(ps, "scaler.mean"));
    ck_assert(!ag_params_is_state(ps, "fc1.W"));
    /* the trainable list: the four MLP tensors, not the state */
    ck_assert_uint_eq(ag_params_trainable(ps, NULL, 0), 4);
    ag_tensor *list[4];
    ck_assert_uint_eq(ag_params_trainable(ps, list, 4), 4);
    ck_assert(list[0] == ag_params_get(ps, "fc1.W") && list[3] == ag_params_get(ps, "fc2.b"));
    /* the optimiser refuses a state tensor given by hand */
    ag_optimizer_config cfg = ag_adam_config(0.1);
    ck_assert_ptr_null(ag_optimizer_new(1, &mean, &cfg));
    ck_assert_last_error("does not require grad");
    /* a training step over the whole store's trainable tensors; the state
     * enters the forward pass (x standardised by it) */
    double mean_before[3], scale_before[3], w_before[12];
    memcpy(mean_before, ag_tensor_data(mean), sizeof mean_before);
    memcpy(scale_before, ag_tensor_data(scale), sizeof scale_before);
    memcpy(w_before, ag_tensor_data(list[0]), sizeof w_before);
    ag_optimizer *opt = ag_optimizer_new(4, list, &cfg);
    ck_assert_ptr_nonnull(opt);
    ag_graph *g = ag_graph_new();
    ag_tensor *x = ag_tensor_from(2, (int[]){2, 3}, (double[]){1, 2, 3, -1, 0, 4});
    ag_node *xs = ag_div(ag_sub(ag_input(g, x), ag_input(g, mean)), ag_input(g, scale));
    ag_node *loss = ag_sum(ag_mul(ag_mlp_forward(mlp, g, xs), ag_mlp_forward(mlp, g, xs)));
    ck_assert_msg(ag_backward(g, loss), "%s", ag_graph_error(g));
    ag_optimizer_step(opt);
    ck_assert(memcmp(mean_before, ag_tensor_data(mean), sizeof mean_before) == 0);
    ck_assert(memcmp(scale_before, ag_tensor_data(scale), sizeof scale_before) == 0);
    ck_assert(memcmp(w_before, ag_tensor_data(list[0]), sizeof w_before) != 0); /* the step happened */
    /* a state tensor stays out of the list even if someone sets requires_grad */
    ck_assert(ag_tensor_requires_grad(mean, true));
    ck_assert_uint_eq(ag_params_trainable(ps, NULL, 0), 4);
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_optimizer_free(opt);
    ag_mlp_free(mlp);
    ag_params_free(ps);
}
END_TEST

START_TEST(state_survives_a_round_trip)
{
    ag_mlp *mlp;
    ag_tensor *mean, *scale;
    ag_params *ps = model_with_state(&mlp, &mean, &scale);
    ck_assert(ag_checkpoint_save(ps, path));
    json_t *root = raw_header();
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "__metadata__"), "agrad.state")),
                     "[\"scaler.mean\",\"scaler.scale\"]");
    json_decref(root);
    ag_params *back = ag_checkpoint_read(path);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    ck_assert(ag_params_is_state(back, "scaler.mean") && ag_params_is_state(back, "scaler.scale"));
    ck_assert(!ag_params_is_state(back, "fc1.W"));
    ck_assert_ptr_null(ag_tensor_grad(ag_params_get(back, "scaler.mean")));
    ck_assert_ptr_nonnull(ag_tensor_grad(ag_params_get(back, "fc1.W")));
    ck_assert_uint_eq(ag_params_trainable(back, NULL, 0), 4);
    ck_assert(ag_tensor_data(ag_params_get(back, "scaler.scale"))[2] == 3.5);
    ag_params_free(back);
    /* a training checkpoint keeps them too, beside its own agrad.* keys */
    ck_assert(ag_params_set_meta(ps, "classes", "[\"a\",\"b\"]"));
    ck_assert(ag_checkpoint_save_training(ps, NULL, path));
    back = ag_checkpoint_read(path);
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    ck_assert(ag_params_is_state(back, "scaler.mean"));
    ck_assert_str_eq(ag_params_meta(back, "classes"), "[\"a\",\"b\"]");
    ag_params_free(back);
    ag_mlp_free(mlp);
    ag_params_free(ps);
}
END_TEST

START_TEST(mlp_from_checkpoint_predicts_the_same)
{
    ag_mlp *mlp;
    ag_tensor *mean, *scale;
    ag_params *ps = model_with_state(&mlp, &mean, &scale);
    ck_assert_str_eq(ag_params_meta(ps, "agrad.mlp.fc"), "widths=3,4,2 activations=tanh,none");
    ck_assert(ag_checkpoint_save(ps, path));
    ag_params *back = ag_checkpoint_read(path); /* the file alone */
    ck_assert_msg(back != NULL, "%s", ag_last_error());
    ag_mlp *rebuilt = ag_mlp_from_params(back, NULL), *named = ag_mlp_from_params(back, "fc");
    ck_assert_msg(rebuilt && named, "%s", ag_last_error());
    size_t count;
    ag_mlp_params(rebuilt, &count);
    ck_assert_uint_eq(count, 4);
    ag_tensor *x = ag_tensor_from(2, (int[]){2, 3}, (double[]){1, 2, 3, -1, 0.5, 4});
    ag_graph *g = ag_graph_new();
    ag_node *a = ag_mlp_forward(mlp, g, ag_input(g, x)), *b = ag_mlp_forward(rebuilt, g, ag_input(g, x));
    ck_assert_msg(a && b, "%s", ag_graph_error(g));
    ck_assert(memcmp(ag_node_value(a), ag_node_value(b), 4 * sizeof(double)) == 0); /* bit for bit */
    ck_assert(ag_node_value(a)[0] != 0);
    ck_assert_ptr_null(ag_mlp_from_params(back, "net"));
    ck_assert_last_error("ag_mlp_from_params: the store has no metadata 'agrad.mlp.net'");
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_mlp_free(rebuilt);
    ag_mlp_free(named);
    ag_mlp_free(mlp);
    ag_params_free(back);
    ag_params_free(ps);
}
END_TEST

/* ag_mlp_from_params on a one-tensor store "a" [1] with the description. */
static void assert_bad_description(const char *value, const char *expected)
{
    ag_params *ps = ag_params_new();
    ck_assert_ptr_nonnull(ag_params_add(ps, "fc1.W", 2, (int[]){2, 4}));
    ck_assert_ptr_nonnull(ag_params_add(ps, "fc1.b", 1, (int[]){4}));
    ck_assert(ag_checkpoint_save(ps, path)); /* no description: ag_params_add only */
    ag_params_free(ps);
    ps = ag_checkpoint_read(path);
    ck_assert_ptr_nonnull(ps);
    ck_assert_ptr_null(ag_mlp_from_params(ps, NULL));
    ck_assert_last_error("prefix NULL needs exactly one MLP description in the store's metadata");
    /* the description as a file would carry it */
    char meta[512];
    snprintf(meta, sizeof meta, "{\"agrad.mlp.fc\":\"%s\"}", value);
    write_with_metadata(meta);
    ag_params *one = ag_checkpoint_read(path);
    ck_assert_msg(one != NULL, "%s", ag_last_error());
    ck_assert_ptr_null(ag_mlp_from_params(one, "fc"));
    ck_assert_last_error("ag_mlp_from_params: ");
    ck_assert_last_error(expected);
    ag_params_free(one);
    ag_params_free(ps);
}

START_TEST(malformed_metadata_is_an_error)
{
    assert_bad_description("widths=4 activations=", "metadata 'agrad.mlp.fc' = 'widths=4 activations=': it has one width");
    assert_bad_description("widths=2,x activations=relu", "width 1 is not a positive integer");
    assert_bad_description("widths=2,-3 activations=relu", "width 1 is not a positive integer");
    assert_bad_description("layers=2,3", "it does not start with 'widths='");
    assert_bad_description("widths=2,3 act=relu", "' activations=' does not follow the widths");
    assert_bad_description("widths=2,3 activations=gelu", "activation 0 is not none, relu, tanh or sigmoid");
    assert_bad_description("widths=2,3 activations=relu,relu", "it needs 1 activations (one per layer), has more");
    assert_bad_description("widths=2,3,4 activations=relu", "it needs 2 activations (one per layer), has fewer");
    assert_bad_description("widths=2,3 activations=relu", "the description needs tensor 'fc1.W', which the store does not hold");
    /* the state list in a file */
    write_with_metadata("{\"agrad.state\":\"not json\"}");
    ck_assert_ptr_null(ag_checkpoint_read(path));
    ck_assert_last_error("__metadata__ 'agrad.state' = 'not json' is not JSON");
    write_with_metadata("{\"agrad.state\":\"[1]\"}");
    ck_assert_ptr_null(ag_checkpoint_read(path));
    ck_assert_last_error("__metadata__ 'agrad.state' = '[1]' is not a JSON array of strings");
    write_with_metadata("{\"agrad.state\":\"[\\\"zz\\\"]\"}");
    ck_assert_ptr_null(ag_checkpoint_read(path));
    ck_assert_last_error("__metadata__ 'agrad.state' names 'zz', which is not a tensor of the file");
    ag_params *ps = ag_params_new();
    ag_tensor *a = ag_params_add(ps, "a", 1, (int[]){1});
    ck_assert(!ag_checkpoint_load(ps, path)); /* load checks it too, and changes nothing */
    ck_assert_last_error("ag_checkpoint_load: ");
    ck_assert(ag_tensor_data(a)[0] == 0);
    write_with_metadata("{\"agrad.state\":\"[\\\"a\\\"]\",\"user\":\"u\"}");
    ag_params *good = ag_checkpoint_read(path);
    ck_assert_msg(good != NULL, "%s", ag_last_error());
    ck_assert(ag_params_is_state(good, "a"));
    ck_assert_str_eq(ag_params_meta(good, "user"), "u");
    ag_params_free(good);
    ag_params_free(ps);
}
END_TEST

START_TEST(load_refuses_another_architecture)
{
    /* same tensor shapes, other activations: loading must not pass silently */
    ag_params *saved = ag_params_new(), *other = ag_params_new();
    ag_rng r = ag_rng_new(1);
    ag_mlp *m1 = ag_mlp_new(saved, "fc", 1, (int[]){2, 2}, (ag_activation[]){AG_ACT_RELU}, &r);
    ag_mlp *m2 = ag_mlp_new(other, "fc", 1, (int[]){2, 2}, (ag_activation[]){AG_ACT_SIGMOID}, &r);
    ck_assert(m1 && m2);
    ck_assert(ag_checkpoint_save(saved, path));
    double before = ag_tensor_data(ag_params_get(other, "fc1.W"))[0];
    ck_assert(!ag_checkpoint_load(other, path));
    ck_assert_last_error("__metadata__ 'agrad.mlp.fc' is 'widths=2,2 activations=relu' in the file but "
                         "'widths=2,2 activations=sigmoid' in the store (another architecture)");
    ck_assert(ag_tensor_data(ag_params_get(other, "fc1.W"))[0] == before);
    ck_assert(ag_checkpoint_load(saved, path)); /* its own file loads */
    ag_mlp_free(m1);
    ag_mlp_free(m2);
    ag_params_free(saved);
    ag_params_free(other);
}
END_TEST

START_TEST(out_of_memory_on_the_round_trip)
{
    ag_mlp *mlp;
    ag_tensor *mean, *scale;
    ag_params *ps = model_with_state(&mlp, &mean, &scale);
    ck_assert(ag_params_set_meta(ps, "note", "n"));
    ck_assert(ag_checkpoint_save(ps, path));
    counting_allocator_install(0);
    ag_params *back = ag_checkpoint_read(path);
    ag_mlp *m = ag_mlp_from_params(back, NULL);
    long total = counting_allocations();
    ag_mlp_free(m);
    ag_params_free(back);
    counting_allocator_remove();
    for (long k = 1; k <= total; k++) { /* each of agrad's allocations fails in turn */
        counting_allocator_install(k);
        back = ag_checkpoint_read(path);
        m = back ? ag_mlp_from_params(back, NULL) : NULL;
        ck_assert_msg(!m, "allocation %ld of %ld failed unnoticed", k, total);
        ck_assert_last_error("out of memory");
        ag_params_free(back);
        ck_assert_int_eq(counting_live_blocks(), 0);
        counting_allocator_remove();
    }
    ag_mlp_free(mlp);
    ag_params_free(ps);
}
END_TEST

Suite *self_describing_suite(void)
{
    Suite *s = suite_create("self_describing");
    TCase *tc = tcase_create("self-describing checkpoints");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, metadata_round_trip);
    tcase_add_test(tc, metadata_keys_and_values_are_checked);
    tcase_add_test(tc, state_tensors_are_never_trained);
    tcase_add_test(tc, state_survives_a_round_trip);
    tcase_add_test(tc, mlp_from_checkpoint_predicts_the_same);
    tcase_add_test(tc, malformed_metadata_is_an_error);
    tcase_add_test(tc, load_refuses_another_architecture);
    tcase_add_test(tc, out_of_memory_on_the_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
