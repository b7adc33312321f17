/* atomic_file.c -- replace a file atomically (see io_internal.h): temporary
 * file in the target's directory, fsync, rename, fsync of the directory.
 * Every fallible step goes through ag_io_injected() (STEP) so a test can
 * make any one of them fail (ag_io_fail_write_at). */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local long fail_at, steps;

void ag_io_fail_write_at(long k) { fail_at = k; }

static _Thread_local void (*temp_observer)(const char *tmp);
void ag_io_observe_temp_files(void (*observer)(const char *tmp)) { temp_observer = observer; }
long ag_io_write_steps(void) { return steps; }

bool ag_io_injected(void)
{
    if (++steps != fail_at) return false;
    errno = EIO;
    return true;
}

/* Run a POSIX call as one fallible step: when the step is the injected
 * failure the call is not made and the result is -1 with errno EIO. */
#define STEP(call) (ag_io_injected() ? -1 : (call))

/* Report a failed step (rc != 0). */
static bool sys_ok(const ag_atomic_file *a, int rc, const char *what, const char *file)
{
    if (rc == 0) return true;
    ag_set_last_error("%s: %s: %s failed: %s", a->fn, file, what, strerror(errno));
    return false;
}

/* Bytes of the directory part of path: "d/x" -> 1, "/x" -> 1 (the "/"),
 * "x" -> 0 (the current directory). */
static size_t dir_length(const char *path)
{
    const char *slash = strrchr(path, '/');
    return !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
}

/* `link`'s target as a path: itself when absolute, else relative to the
 * directory holding `from`. ag_malloc'ed. */
static char *link_target(const char *from, const char *link)
{
    size_t d = link[0] == '/' ? 0 : dir_length(from), n = strlen(link);
    char *out = ag_malloc(d + 1 + n + 1);
    if (!out) return NULL;
    memcpy(out, from, d);
    if (d && out[d - 1] != '/') out[d++] = '/';
    memcpy(out + d, link, n + 1);
    return out;
}

/* The contents of the symbolic link at path, ag_malloc'ed. */
static char *read_link(const char *path, size_t hint)
{
    for (size_t cap = hint + 2 > 256 ? hint + 2 : 256; cap <= (size_t)1 << 20; cap *= 2) {
        char *buf = ag_malloc(cap);
        if (!buf) return NULL;
        ssize_t n = readlink(path, buf, cap);
        if (n >= 0 && (size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        ag_free(buf);
        if (n < 0) return NULL;
    }
    errno = ENAMETOOLONG;
    return NULL;
}

/* path with symbolic links followed until a non-link or a missing file (a
 * dangling link is saved through, to where it points). */
static char *resolve_links(const ag_atomic_file *a, const char *path)
{
    char *cur = ag_strdup(path);
    if (!cur) ag_set_last_error("%s: %s: out of memory", a->fn, path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        if (hops == 40) {
            ag_set_last_error("%s: %s: too many levels of symbolic links", a->fn, path);
            break;
        }
        char *link = read_link(cur, (size_t)st.st_size);
        char *next = link ? link_target(cur, link) : NULL;
        if (!next)
            ag_set_last_error("%s: %s: cannot follow the symbolic link %s: %s", a->fn, path, cur,
                              link ? "out of memory" : strerror(errno));
        ag_free(link);
        ag_free(cur);
        cur = next;
    }
    ag_free(cur);
    return NULL;
}

/* Six characters for a temporary name: different in every call of every
 * thread and process (O_EXCL settles the rest). */
static void unique_suffix(char *out)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static _Thread_local unsigned long long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
                           ((unsigned long long)getpid() << 20) ^ (unsigned long long)(uintptr_t)&counter;
    x += ++counter * 0x9E3779B97F4A7C15ull; /* splitmix64 finaliser */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    for (int i = 0; i < 6; i++, x /= 36) out[i] = digits[x % 36];
}

/* Create "<target's dir>/.agrad-XXXXXX" with O_EXCL and `mode`, which the
 * kernel narrows by the umask (mkstemp would make it 0600); returns the fd. */
static int create_temp(ag_atomic_file *a, mode_t mode)
{
    size_t d = dir_length(a->target);
    a->tmp = ag_malloc(d + sizeof "/.agrad-XXXXXX");
    if (!a->tmp) return -1;
    memcpy(a->tmp, a->target, d);
    if (d && a->tmp[d - 1] != '/') a->tmp[d++] = '/';
    memcpy(a->tmp + d, ".agrad-XXXXXX", sizeof ".agrad-XXXXXX");
    for (int tries = 0; tries < 100; tries++) {
        unique_suffix(a->tmp + d + 7);
        int fd = STEP(open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* A file being replaced passes on its permission bits, not its setuid,
 * setgid or sticky bit; a new one keeps what open gave it. The temporary
 * file was created with the old bits already (narrowed by the umask), so
 * it is never readable by more users than the file it replaces. */
static bool keep_old_mode(ag_atomic_file *a, int fd, bool replacing, mode_t old_bits)
{
    if (!replacing) return true;
    return sys_ok(a, STEP(fchmod(fd, old_bits)), "fchmod", a->tmp);
}

static void release(ag_atomic_file *a)
{
    ag_free(a->target);
    ag_free(a->tmp);
    a->target = a->tmp = NULL;
    a->f = NULL;
}

bool ag_atomic_open(ag_atomic_file *a, const char *fn, const char *path)
{
    *a = (ag_atomic_file){.fn = fn};
    steps = 0;
    a->target = resolve_links(a, path);
    if (!a->target) return false;
    struct stat old;
    bool replacing = stat(a->target, &old) == 0;
    mode_t old_bits = replacing ? (old.st_mode & 0777) : 0666;
    int fd = create_temp(a, old_bits);
    if (fd < 0) {
        int err = errno;
        int d = (int)dir_length(a->target);
        ag_set_last_error("%s: %s: cannot create a temporary file in the directory '%.*s': %s", fn,
                          path, d ? d : 1, d ? a->target : ".", a->tmp ? strerror(err) : "out of memory");
        release(a);
        return false;
    }
    if (temp_observer) temp_observer(a->tmp);
    if (keep_old_mode(a, fd, replacing, old_bits)) {
        a->f = fdopen(fd, "wb");
        if (a->f) return true;
        ag_set_last_error("%s: %s: fdopen failed: %s", fn, a->tmp, strerror(errno));
    }
    close(fd);
    unlink(a->tmp);
    release(a);
    return false;
}

void ag_atomic_abort(ag_atomic_file *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    release(a);
}

/* fsync the directory holding the target, so the rename itself is durable.
 * A file system that cannot sync directories (EINVAL) is not an error. */
static bool sync_dir(const ag_atomic_file *a)
{
    size_t n = dir_length(a->target);
    char *dir = ag_malloc(n ? n + 1 : 2);
    if (!dir) {
        ag_set_last_error("%s: %s: out of memory (the file was written)", a->fn, a->target);
        return false;
    }
    memcpy(dir, n ? a->target : ".", n ? n : 1);
    dir[n ? n : 1] = '\0';
    int fd = STEP(open(dir, O_RDONLY | O_DIRECTORY)), err = errno;
    bool ok = fd >= 0;
    if (ok) {
        int rc = STEP(fsync(fd));
        err = errno;
        ok = rc == 0 || err == EINVAL;
        close(fd);
    }
    if (!ok)
        ag_set_last_error("%s: %s: %s of the directory failed: %s (%s holds the new file, but "
                          "the rename may not survive a crash)", a->fn, dir,
                          fd < 0 ? "open" : "fsync", strerror(err), a->target);
    ag_free(dir);
    return ok;
}

bool ag_atomic_commit(ag_atomic_file *a)
{
    bool ok = sys_ok(a, STEP(fflush(a->f) == 0 ? 0 : -1), "fflush", a->tmp) &&
              sys_ok(a, STEP(fsync(fileno(a->f))), "fsync", a->tmp);
    int rc = fclose(a->f) == 0 ? 0 : -1; /* always closed; the failure may be injected after */
    a->f = NULL;
    if (ok && ag_io_injected()) rc = -1;
    ok = ok && sys_ok(a, rc, "fclose", a->tmp) &&
         sys_ok(a, STEP(rename(a->tmp, a->target)), "rename", a->tmp);
    if (!ok) {
        ag_atomic_abort(a);
        return false;
    }
    ok = sync_dir(a);
    release(a);
    return ok;
}
