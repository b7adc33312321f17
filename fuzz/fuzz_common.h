/* fuzz_common.h -- shared by the libFuzzer harnesses: the loaders take a
 * path, so each input is written to a temporary file first. Include agrad.h
 * before this file. */
#ifndef AGRAD_FUZZ_COMMON_H
#define AGRAD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A private temporary file named from `tag`, made once and removed at exit. */
#define FUZZ_MAX_FILES 4
static char fuzz_paths[FUZZ_MAX_FILES][64];
static int fuzz_n_paths;

static void fuzz_cleanup(void)
{
    for (int i = 0; i < fuzz_n_paths; i++) unlink(fuzz_paths[i]);
}

static const char *fuzz_temp_path(int slot, const char *tag)
{
    if (!fuzz_paths[slot][0]) {
        snprintf(fuzz_paths[slot], sizeof fuzz_paths[slot], "/tmp/agrad_fuzz_%s_XXXXXX", tag);
        int fd = mkstemp(fuzz_paths[slot]);
        if (fd < 0) abort();
        close(fd);
        if (fuzz_n_paths++ == 0) atexit(fuzz_cleanup);
    }
    return fuzz_paths[slot];
}

static void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
}

/* A failed load must say which function failed. */
static void fuzz_check_error(const char *prefix)
{
    if (strncmp(ag_last_error(), prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "error message '%s' does not start with '%s'\n", ag_last_error(), prefix);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
