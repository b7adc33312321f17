/* metadata.c -- a store's metadata in the safetensors "__metadata__" (an
 * object of strings, the format's only rule), both ways:
 *   save: every key of the store, and "agrad.state" = the names of its state
 *         tensors as a JSON array, e.g. "[\"scaler.mean\",\"scaler.scale\"]";
 *   load: user keys (anything but "producer" and "agrad.*") and the MLP
 *         descriptions ("agrad.mlp.<prefix>") go back into the store;
 *         "agrad.state" is checked (a JSON array of strings, each naming a
 *         tensor of the file) and tells which tensors are state.
 * Lists of strings in one value (ag_params_set_meta_strings) use the same
 * JSON array text. */
#include "io_internal.h"

#include <jansson.h>
#include <stdio.h>

/* The JSON text of an array of the n strings; ag_malloc'ed, NULL on OOM or
 * a string that is not UTF-8. */
static char *strings_json(const char *const *values, size_t n)
{
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) ok = json_array_append_new(arr, json_string(values[i])) == 0;
    size_t len = ok ? json_dumpb(arr, NULL, 0, JSON_COMPACT) : 0;
    char *text = len ? ag_malloc(len + 1) : NULL;
    if (text && json_dumpb(arr, text, len, JSON_COMPACT) == len) {
        text[len] = '\0';
    } else {
        ag_free(text);
        text = NULL;
    }
    json_decref(arr);
    return text;
}

json_t *ag_ckpt_store_meta(const ag_params *ps)
{
    json_t *meta = json_object();
    bool ok = meta != NULL;
    for (size_t i = 0; ok && i < ag_params_meta_count(ps); i++) {
        const char *key = ag_params_meta_key(ps, i);
        ok = json_object_set_new(meta, key, json_string(ag_params_meta(ps, key))) == 0;
    }
    size_t n_state = 0;
    for (size_t i = 0; i < ag_params_count(ps); i++) n_state += ag_params_is_state(ps, ag_params_name_at(ps, i));
    if (ok && n_state > 0) {
        const char **names = ag_calloc(n_state, sizeof *names);
        for (size_t i = 0, k = 0; names && i < ag_params_count(ps); i++)
            if (ag_params_is_state(ps, ag_params_name_at(ps, i))) names[k++] = ag_params_name_at(ps, i);
        char *text = names ? strings_json(names, n_state) : NULL;
        ok = text && json_object_set_new(meta, AG_STATE_META_KEY, json_string(text)) == 0;
        ag_free(text);
        ag_free(names);
    }
    if (!ok) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

/* ---- reading the file's metadata back ------------------------------------ */

bool ag_ckpt_meta_kept(const char *key)
{
    return !ag_io_meta_key_reserved(key) || strncmp(key, AG_MLP_META_PREFIX, strlen(AG_MLP_META_PREFIX)) == 0;
}

/* The value as a JSON array of strings (new reference), or NULL with why. */
static json_t *parse_strings(const char *value, char *why, size_t len)
{
    json_error_t err;
    json_t *arr = json_loads(value, JSON_REJECT_DUPLICATES, &err);
    if (!arr) {
        snprintf(why, len, "is not JSON (%.100s at character %d)", err.text, err.position);
        return NULL;
    }
    bool ok = json_is_array(arr);
    for (size_t i = 0; ok && i < json_array_size(arr); i++) ok = json_is_string(json_array_get(arr, i));
    if (!ok) {
        snprintf(why, len, "is not a JSON array of strings");
        json_decref(arr);
        return NULL;
    }
    return arr;
}

bool ag_ckpt_state_names(json_t *meta, bool (*has_tensor)(const void *ctx, const char *name),
                         const void *ctx, json_t **names, char *why, size_t len)
{
    *names = NULL;
    const char *value = json_string_value(json_object_get(meta, AG_STATE_META_KEY));
    if (!value) return true; /* no state tensors */
    char shown[AG_IO_SHOWN_SIZE], inner[200];
    json_t *arr = parse_strings(value, inner, sizeof inner);
    if (!arr) {
        snprintf(why, len, "__metadata__ '" AG_STATE_META_KEY "' = '%s' %s", ag_io_name(value, shown), inner);
        return false;
    }
    json_t *set = json_object(); /* the names as keys: found in constant time */
    bool ok = set != NULL;
    if (!ok) snprintf(why, len, "out of memory");
    for (size_t i = 0; ok && i < json_array_size(arr); i++) {
        const char *name = json_string_value(json_array_get(arr, i));
        if (!has_tensor(ctx, name)) {
            snprintf(why, len, "__metadata__ '" AG_STATE_META_KEY "' names '%s', which is not a "
                     "tensor of the file", ag_io_name(name, shown));
            ok = false;
        } else if (json_object_set_new(set, name, json_true()) != 0) {
            snprintf(why, len, "out of memory");
            ok = false;
        }
    }
    json_decref(arr);
    if (!ok) {
        json_decref(set);
        return false;
    }
    *names = set;
    return true;
}

/* ---- lists of strings in one value ---------------------------------------- */

bool ag_params_set_meta_strings(ag_params *ps, const char *key, const char *const *values, size_t n)
{
    if (!ps || !key || (!values && n > 0)) {
        ag_set_last_error("ag_params_set_meta_strings: %s is NULL", !ps ? "store" : !key ? "key" : "values");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!values[i] || !ag_io_utf8_valid(values[i], strlen(values[i]))) {
            ag_set_last_error("ag_params_set_meta_strings: value %zu is %s", i,
                              values[i] ? "not valid UTF-8" : "NULL");
            return false;
        }
    char *text = strings_json(values, n);
    if (!text) {
        ag_set_last_error("ag_params_set_meta_strings: out of memory");
        return false;
    }
    bool ok = ag_params_set_meta(ps, key, text);
    ag_free(text);
    return ok;
}

void ag_strings_free(char **strings, size_t n)
{
    for (size_t i = 0; strings && i < n; i++) ag_free(strings[i]);
    ag_free(strings);
}

char **ag_params_meta_strings(const ag_params *ps, const char *key, size_t *n)
{
    if (n) *n = 0;
    char shown[AG_IO_SHOWN_SIZE], shown_value[AG_IO_SHOWN_SIZE], why[200];
    if (!ps || !key || !n) {
        ag_set_last_error("ag_params_meta_strings: %s is NULL", !ps ? "store" : !key ? "key" : "n");
        return NULL;
    }
    const char *value = ag_params_meta(ps, key);
    if (!value) {
        ag_set_last_error("ag_params_meta_strings: the store has no metadata '%s'", ag_io_name(key, shown));
        return NULL;
    }
    json_t *arr = parse_strings(value, why, sizeof why);
    if (!arr) {
        ag_set_last_error("ag_params_meta_strings: metadata '%s' = '%s' %s", ag_io_name(key, shown),
                          ag_io_name(value, shown_value), why);
        return NULL;
    }
    size_t count = json_array_size(arr);
    char **out = ag_calloc(count ? count : 1, sizeof *out);
    bool ok = out != NULL;
    for (size_t i = 0; ok && i < count; i++) ok = (out[i] = ag_strdup(json_string_value(json_array_get(arr, i)))) != NULL;
    json_decref(arr);
    if (!ok) {
        ag_strings_free(out, count);
        ag_set_last_error("ag_params_meta_strings: '%s': out of memory", ag_io_name(key, shown));
        return NULL;
    }
    *n = count;
    return out;
}
