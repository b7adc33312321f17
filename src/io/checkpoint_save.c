/* checkpoint_save.c -- write a parameter store as a .safetensors file (F64),
 * atomically: temporary file in the same directory, fsync, rename, fsync of
 * the directory. Every fallible step goes through injected() (STEP) so a test
 * can make any one of them fail (ag_io_fail_write_at). */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local long fail_at, steps;

void ag_io_fail_write_at(long k) { fail_at = k; }
long ag_io_write_steps(void) { return steps; }

/* Count one fallible step; true (errno = EIO) when it is the one to fail. */
static bool injected(void)
{
    if (++steps != fail_at) return false;
    errno = EIO;
    return true;
}

/* One tensor's header entry: {"dtype":"F64","shape":[..],"data_offsets":[b,e]}.
 * The json_*_new calls take ownership of their value even on failure, so a
 * NULL anywhere just makes the result NULL. */
static json_t *entry_json(const ag_tensor *t, uint64_t begin)
{
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    bool ok = true;
    for (int d = 0; d < t->shape.ndim; d++)
        ok = json_array_append_new(shape, json_integer(t->shape.dims[d])) == 0 && ok;
    uint64_t end = begin + 8 * (uint64_t)t->shape.size;
    ok = json_array_append_new(offsets, json_integer((json_int_t)begin)) == 0 && ok;
    ok = json_array_append_new(offsets, json_integer((json_int_t)end)) == 0 && ok;
    ok = json_object_set_new(entry, "dtype", json_string("F64")) == 0 && ok;
    ok = json_object_set_new(entry, "shape", shape) == 0 && ok;
    ok = json_object_set_new(entry, "data_offsets", offsets) == 0 && ok;
    if (!ok) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

/* The JSON header, padded with spaces so that 8 + length is a multiple of 8
 * (the data then starts 8-aligned); ag_malloc'ed, NULL on error. */
static char *header_text(const ag_params *ps, const char *path, size_t *len)
{
    json_t *root = json_object(), *meta = json_object();
    if (json_object_set_new(meta, "producer", json_string("agrad " AGRAD_VERSION)) != 0) {
        json_decref(meta); /* not yet owned by root */
        meta = NULL;
    }
    if (json_object_set_new(root, "__metadata__", meta) != 0) {
        json_decref(root);
        root = NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; root && i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        const char *name = ag_params_name_at(ps, i);
        json_t *entry = entry_json(t, offset);
        if (!entry || json_object_set_new(root, name, entry) != 0) {
            ag_set_last_error("ag_checkpoint_save: %s: cannot encode tensor '%s' in the JSON "
                              "header (name not UTF-8, or out of memory)", path, name);
            json_decref(root);
            return NULL;
        }
        offset += 8 * (uint64_t)t->shape.size;
    }
    size_t n = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
    size_t padded = (n + 7) / 8 * 8;
    char *text = n ? ag_malloc(padded) : NULL;
    if (text && json_dumpb(root, text, n, JSON_COMPACT) == n) {
        memset(text + n, ' ', padded - n);
        *len = padded;
    } else {
        ag_free(text);
        text = NULL;
        ag_set_last_error("ag_checkpoint_save: %s: cannot build the JSON header (out of memory)",
                          path);
    }
    json_decref(root);
    return text;
}

typedef struct writer {
    FILE *f;
    const char *tmp;
    uint64_t offset; /* bytes written so far */
} writer;

static bool put(writer *w, const void *bytes, size_t n)
{
    if (injected() || fwrite(bytes, 1, n, w->f) != n) {
        ag_set_last_error("ag_checkpoint_save: %s: write failed at byte %llu: %s", w->tmp,
                          (unsigned long long)w->offset, strerror(errno));
        return false;
    }
    w->offset += n;
    return true;
}

/* Header length, header, then every tensor's values little-endian, in
 * chunks of 512 doubles. */
static bool write_contents(writer *w, const ag_params *ps, const char *header, size_t hlen)
{
    unsigned char buf[4096];
    ag_store_le64(buf, hlen);
    if (!put(w, buf, 8) || !put(w, header, hlen)) return false;
    for (size_t i = 0; i < ag_params_count(ps); i++) {
        const ag_tensor *t = ag_params_at(ps, i);
        for (size_t k = 0; k < t->shape.size;) {
            size_t n = 0;
            for (; n < sizeof buf / 8 && k < t->shape.size; n++, k++)
                ag_store_le64(buf + 8 * n, ag_double_to_bits(t->data[k]));
            if (!put(w, buf, 8 * n)) return false;
        }
    }
    return true;
}

/* Run a POSIX call as one fallible step: when the step is the injected
 * failure the call is not made and the result is -1 with errno EIO. */
#define STEP(call) (injected() ? -1 : (call))

/* Report a failed step (rc != 0). */
static bool sys_ok(int rc, const char *what, const char *file)
{
    if (rc == 0) return true;
    ag_set_last_error("ag_checkpoint_save: %s: %s failed: %s", file, what, strerror(errno));
    return false;
}

/* The temporary file gets the mode of the checkpoint it replaces, or 0644
 * (mkstemp creates it 0600). */
static bool set_mode(int fd, const char *path, const char *tmp)
{
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    return sys_ok(STEP(fchmod(fd, mode)), "fchmod", tmp);
}

/* Write everything into the open temporary file and close it. */
static bool fill_temp(int fd, const ag_params *ps, const char *path, const char *tmp,
                      const char *header, size_t hlen)
{
    if (!set_mode(fd, path, tmp)) {
        close(fd);
        return false;
    }
    writer w = {fdopen(fd, "wb"), tmp, 0};
    if (!w.f) {
        ag_set_last_error("ag_checkpoint_save: %s: fdopen failed: %s", tmp, strerror(errno));
        close(fd);
        return false;
    }
    bool ok = write_contents(&w, ps, header, hlen) &&
              sys_ok(STEP(fflush(w.f) == 0 ? 0 : -1), "fflush", tmp) &&
              sys_ok(STEP(fsync(fileno(w.f))), "fsync", tmp);
    int rc = fclose(w.f) == 0 ? 0 : -1; /* always closed; the failure may be injected after */
    if (ok && injected()) rc = -1;
    return ok && sys_ok(rc, "fclose", tmp);
}

/* fsync the directory holding path, so the rename itself is durable. A file
 * system that cannot sync directories (EINVAL) is not an error. */
static bool sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = ag_malloc(n + 1);
    if (!dir) {
        ag_set_last_error("ag_checkpoint_save: %s: out of memory (the file was written)", path);
        return false;
    }
    memcpy(dir, slash ? path : ".", n); /* "dir/x" -> "dir", "/x" -> "/", "x" -> "." */
    dir[n] = '\0';
    int fd = STEP(open(dir, O_RDONLY | O_DIRECTORY)), err = errno;
    bool ok = fd >= 0;
    if (ok) {
        int rc = STEP(fsync(fd));
        err = errno;
        ok = rc == 0 || err == EINVAL;
        close(fd);
    }
    if (!ok)
        ag_set_last_error("ag_checkpoint_save: %s: %s of the directory failed: %s (%s holds the "
                          "new checkpoint, but the rename may not survive a crash)",
                          dir, fd < 0 ? "open" : "fsync", strerror(err), path);
    ag_free(dir);
    return ok;
}

static bool checkpoint_save(const ag_params *ps, const char *path)
{
    steps = 0;
    if (!ps || !path || !path[0]) {
        ag_set_last_error("ag_checkpoint_save: %s is NULL or empty", ps ? "path" : "store");
        return false;
    }
    size_t hlen = 0;
    char *header = header_text(ps, path, &hlen);
    char *tmp = header ? ag_malloc(strlen(path) + sizeof ".tmp.XXXXXX") : NULL;
    if (!tmp) {
        if (header) ag_set_last_error("ag_checkpoint_save: %s: out of memory", path);
        ag_free(header);
        return false;
    }
    strcpy(tmp, path);
    strcat(tmp, ".tmp.XXXXXX");
    int fd = STEP(mkstemp(tmp));
    bool ok = false;
    if (fd < 0)
        ag_set_last_error("ag_checkpoint_save: %s: cannot create a temporary file: %s", path,
                          strerror(errno));
    else if (!fill_temp(fd, ps, path, tmp, header, hlen) ||
             !sys_ok(STEP(rename(tmp, path)), "rename", tmp))
        unlink(tmp);
    else
        ok = sync_dir(path);
    ag_free(tmp);
    ag_free(header);
    return ok;
}

bool ag_checkpoint_save(const ag_params *ps, const char *path)
{
    ag_json_alloc_saved saved;
    ag_json_alloc_begin(&saved);
    bool ok = checkpoint_save(ps, path);
    ag_json_alloc_end(&saved);
    return ok;
}
