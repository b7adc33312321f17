/* training.c -- what a training checkpoint holds besides the store: the
 * optimiser's buffers (as tensors "__optimizer__.<k>.<buffer>", PyTorch's
 * state_dict names) and, in __metadata__, strings for the optimiser's kind,
 * parameter count and step, the batch iterator's state and the generators':
 *   "agrad.optimizer": "adam"          "agrad.optimizer.params": "4"
 *   "agrad.optimizer.step": "120"      "agrad.rngs": "1"
 *   "agrad.batches": "samples 150 batch 16 flags 1 epoch 3 pos 32 in_epoch 1
 *                     rng <state> <spare bits> <has spare>"   (hex, hex, 0/1)
 *   "agrad.rng.0": "<state> <spare bits> <has spare>"
 * The doubles (a Box-Muller spare) are stored as their bits, so every state
 * comes back exactly. */
#include "io_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static const char *kind_name(ag_optim_kind k)
{
    return k == AG_OPTIM_SGD ? "sgd" : k == AG_OPTIM_ADAM ? "adam" : "adamw";
}

/* Buffers per parameter: SGD's momentum buffer; Adam's two moments. */
int ag_training_buffers(ag_optim_kind k) { return k == AG_OPTIM_SGD ? 1 : 2; }

void ag_training_buffer_name(char buf[AG_TRAINING_NAME_SIZE], ag_optim_kind kind, size_t k, int which)
{
    const char *what = kind == AG_OPTIM_SGD ? "momentum_buffer" : which == 0 ? "exp_avg" : "exp_avg_sq";
    snprintf(buf, AG_TRAINING_NAME_SIZE, AG_OPTIM_PREFIX "%zu.%s", k, what);
}

bool ag_training_is_buffer_name(const char *name)
{
    return strncmp(name, AG_OPTIM_PREFIX, sizeof AG_OPTIM_PREFIX - 1) == 0;
}

/* ---- metadata out ---------------------------------------------------------- */

static bool put_string(json_t *meta, const char *key, const char *value)
{
    return json_object_set_new(meta, key, json_string(value)) == 0;
}

static void rng_text(char *buf, size_t len, const ag_rng *r)
{
    snprintf(buf, len, "%016llx %016" PRIx64 " %d", r->state, ag_double_to_bits(r->spare_normal),
             r->has_spare ? 1 : 0);
}

static bool put_batches(json_t *meta, const ag_batches *b)
{
    size_t n;
    int batch, flags;
    char rng[80], text[256];
    ag_batches_shape(b, &n, &batch, &flags);
    ag_batches_state s = ag_batches_get_state(b);
    rng_text(rng, sizeof rng, &s.epoch_rng);
    snprintf(text, sizeof text, "samples %zu batch %d flags %d epoch %llu pos %llu in_epoch %d rng %s",
             n, batch, flags, s.epoch, s.pos, s.in_epoch ? 1 : 0, rng);
    return put_string(meta, "agrad.batches", text);
}

json_t *ag_training_meta(const ag_training_state *s)
{
    json_t *meta = json_object();
    char text[96], key[48];
    bool ok = meta != NULL;
    if (ok && s->optimizer) {
        const ag_optimizer *o = s->optimizer;
        snprintf(text, sizeof text, "%zu", ag_optimizer_param_count(o));
        ok = put_string(meta, "agrad.optimizer", kind_name(ag_optimizer_kind(o))) &&
             put_string(meta, "agrad.optimizer.params", text);
        snprintf(text, sizeof text, "%ld", ag_optimizer_steps(o));
        ok = ok && put_string(meta, "agrad.optimizer.step", text);
    }
    if (ok && s->batches) ok = put_batches(meta, s->batches);
    if (ok && s->n_rngs) {
        snprintf(text, sizeof text, "%zu", s->n_rngs);
        ok = put_string(meta, "agrad.rngs", text);
    }
    for (size_t i = 0; ok && i < s->n_rngs; i++) {
        snprintf(key, sizeof key, "agrad.rng.%zu", i);
        rng_text(text, sizeof text, s->rngs[i]);
        ok = put_string(meta, key, text);
    }
    if (!ok) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

/* ---- metadata in ----------------------------------------------------------- */

/* The string under key, or NULL with why saying it is missing. */
static const char *get(json_t *meta, const char *key, const char *part, char *why, size_t len)
{
    const char *v = json_string_value(json_object_get(meta, key));
    if (!v) snprintf(why, len, "the file holds no %s (metadata \"%s\" missing)", part, key);
    return v;
}

/* A whole decimal number (nothing after it). */
static bool parse_count(const char *text, unsigned long long *out)
{
    char *end;
    if (!text[0] || text[0] == '-') return false;
    *out = strtoull(text, &end, 10);
    return *end == '\0';
}

static bool parse_rng(const char *text, ag_rng *r)
{
    unsigned long long state;
    uint64_t spare;
    int has = -1, used = 0;
    if (sscanf(text, "%llx %" SCNx64 " %d%n", &state, &spare, &has, &used) != 3 ||
        text[used] != '\0' || (has != 0 && has != 1))
        return false;
    *r = (ag_rng){.state = state, .spare_normal = ag_bits_to_double(spare), .has_spare = has == 1};
    return true;
}

static bool parse_optimizer(json_t *meta, const ag_optimizer *o, long *step, char *why, size_t len)
{
    const char *kind = get(meta, "agrad.optimizer", "optimiser state", why, len);
    const char *params = kind ? get(meta, "agrad.optimizer.params", "optimiser parameter count", why, len) : NULL;
    const char *steps = params ? get(meta, "agrad.optimizer.step", "optimiser step count", why, len) : NULL;
    unsigned long long n, t;
    if (!steps) return false;
    if (strcmp(kind, kind_name(ag_optimizer_kind(o))) != 0) {
        snprintf(why, len, "the file's optimiser is %.16s, this one is %s", kind,
                 kind_name(ag_optimizer_kind(o)));
        return false;
    }
    if (!parse_count(params, &n) || n != ag_optimizer_param_count(o)) {
        snprintf(why, len, "the file's optimiser has %.24s parameters, this one %zu", params,
                 ag_optimizer_param_count(o));
        return false;
    }
    if (!parse_count(steps, &t) || t > (unsigned long long)LONG_MAX) {
        snprintf(why, len, "optimiser step count \"%.24s\" is not a count", steps);
        return false;
    }
    *step = (long)t;
    return true;
}

static bool parse_batches(json_t *meta, const ag_batches *b, ag_batches_state *out, char *why, size_t len)
{
    const char *text = get(meta, "agrad.batches", "batch iterator state", why, len);
    if (!text) return false;
    size_t n, fn;
    int batch, flags, fbatch, fflags, in_epoch = -1, used = 0;
    unsigned long long epoch, pos;
    char rng[80];
    ag_batches_shape(b, &n, &batch, &flags);
    if (sscanf(text, "samples %zu batch %d flags %d epoch %llu pos %llu in_epoch %d rng %n", &fn,
               &fbatch, &fflags, &epoch, &pos, &in_epoch, &used) != 6 || used == 0 ||
        (in_epoch != 0 && in_epoch != 1) || strlen(text + used) >= sizeof rng ||
        !parse_rng(strcpy(rng, text + used), &out->epoch_rng)) {
        snprintf(why, len, "batch iterator state \"%.80s\" is malformed", text);
        return false;
    }
    if (fn != n || fbatch != batch || fflags != flags) {
        snprintf(why, len, "the file's batch iterator has %zu samples, batch size %d, flags %d; "
                 "this one %zu, %d, %d", fn, fbatch, fflags, n, batch, flags);
        return false;
    }
    if (pos > n || (in_epoch && epoch == 0)) {
        snprintf(why, len, "batch iterator position %llu (epoch %llu) does not fit %zu samples", pos,
                 epoch, n);
        return false;
    }
    out->epoch = epoch;
    out->pos = pos;
    out->in_epoch = in_epoch == 1;
    return true;
}

static bool parse_rngs(json_t *meta, size_t n, ag_rng *out, char *why, size_t len)
{
    const char *count = get(meta, "agrad.rngs", "generator states", why, len);
    unsigned long long k;
    if (!count) return false;
    if (!parse_count(count, &k) || k != n) {
        snprintf(why, len, "the file holds %.24s generator states, %zu asked for", count, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char key[48], part[48];
        snprintf(key, sizeof key, "agrad.rng.%zu", i);
        snprintf(part, sizeof part, "state of generator %zu", i);
        const char *text = get(meta, key, part, why, len);
        if (!text) return false;
        if (!parse_rng(text, &out[i])) {
            snprintf(why, len, "generator %zu's state \"%.60s\" is malformed", i, text);
            return false;
        }
    }
    return true;
}

bool ag_training_parse(json_t *meta, const ag_training_state *s, ag_training_restore *r, char *why,
                       size_t len)
{
    if (!json_is_object(meta)) meta = NULL; /* no __metadata__: every part is missing */
    json_t *empty = meta ? NULL : json_object();
    json_t *m = meta ? meta : empty;
    bool ok = (!s->optimizer || parse_optimizer(m, s->optimizer, &r->step, why, len)) &&
              (!s->batches || parse_batches(m, s->batches, &r->batches, why, len)) &&
              (!s->n_rngs || parse_rngs(m, s->n_rngs, r->rngs, why, len));
    json_decref(empty);
    return ok;
}

bool ag_training_state_valid(const char *fn, const ag_training_state *s)
{
    if (s && s->n_rngs && !s->rngs) {
        ag_set_last_error("%s: n_rngs is %zu but rngs is NULL", fn, s->n_rngs);
        return false;
    }
    for (size_t i = 0; s && i < s->n_rngs; i++)
        if (!s->rngs[i]) {
            ag_set_last_error("%s: generator %zu of %zu (rngs[%zu]) is NULL", fn, i, s->n_rngs, i);
            return false;
        }
    return true;
}

/* ---- save ------------------------------------------------------------------- */

/* No store tensor may carry the buffers' prefix: it would clash with them. */
static bool store_names_free(const ag_params *ps, const char *path)
{
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        const char *name = ag_params_name_at(ps, i);
        if (ag_training_is_buffer_name(name)) {
            char shown[AG_IO_SHOWN_SIZE];
            ag_set_last_error("ag_checkpoint_save_training: %s: store tensor '%s' starts with "
                              "\"" AG_OPTIM_PREFIX "\", the prefix of the optimiser's buffers; "
                              "rename it", path, ag_io_name(name, shown));
            return false;
        }
    }
    return true;
}

/* The optimiser's buffers appended after the store's items (names in
 * `names`, one per buffer). */
static void add_buffers(ag_ckpt_item *items, size_t at, char (*names)[AG_TRAINING_NAME_SIZE],
                        const ag_optimizer *o)
{
    ag_optim_kind kind = ag_optimizer_kind(o);
    for (size_t k = 0; k < ag_optimizer_param_count(o); k++)
        for (int which = 0; which < ag_training_buffers(kind); which++, at++, names++) {
            ag_training_buffer_name(*names, kind, k, which);
            items[at] = (ag_ckpt_item){*names, &ag_optimizer_param(o, k)->shape,
                                       ag_optimizer_buffer(o, k, which), ag_optimizer_param(o, k)->dtype};
        }
}

bool ag_checkpoint_save_training(const ag_params *ps, const ag_training_state *state, const char *path)
{
    const char *fn = "ag_checkpoint_save_training";
    if (!ps || !path || !path[0]) {
        ag_set_last_error("%s: %s", fn, ps ? "path is NULL or empty" : "store is NULL");
        return false;
    }
    if (!ag_training_state_valid(fn, state) || !store_names_free(ps, path)) return false;
    const ag_training_state none = {0};
    if (!state) state = &none;
    const ag_optimizer *o = state->optimizer;
    size_t n_buffers = o ? ag_optimizer_param_count(o) * (size_t)ag_training_buffers(ag_optimizer_kind(o)) : 0;
    ag_ckpt_item *items = ag_ckpt_store_items(ps, n_buffers);
    char (*names)[AG_TRAINING_NAME_SIZE] = ag_calloc(n_buffers ? n_buffers : 1, sizeof *names);
    json_t *meta = items && names ? ag_training_meta(state) : NULL;
    json_t *store_meta = meta ? ag_ckpt_store_meta(ps) : NULL;
    bool ok = store_meta && json_object_update(meta, store_meta) == 0;
    json_decref(store_meta);
    if (!ok) {
        json_decref(meta);
        ag_set_last_error("%s: %s: out of memory", fn, path);
    } else {
        if (o) add_buffers(items, ag_params_count(ps), names, o);
        ag_ckpt_out out = {fn, path, items, ag_params_count(ps) + n_buffers, 8};
        ok = ag_ckpt_write(&out, meta);
    }
    ag_free(names);
    ag_free(items);
    return ok;
}
