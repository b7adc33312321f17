/* fuzz_gradbench.c -- agrad-gradbench's protocol on arbitrary bytes: the
 * input is a stream of message lines for gb_serve. Every answer must be one
 * JSON object with the message's id, and nothing may crash, leak or hang.
 * Inputs that could ask for long work are skipped: numbers with more than
 * three digits or an exponent (sizes stay small), escapes (a key spelled
 * with \u), and the min_runs / min_seconds fields (each function runs once). */
#include "gradbench.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool asks_for_little(const uint8_t *data, size_t size)
{
    int digits = 0;
    for (size_t i = 0; i < size; i++) {
        int c = data[i];
        if (c == '\\' || c == 0)
            return false;
        digits = isdigit(c) ? digits + 1 : 0;
        if (digits > 3 || ((c == 'e' || c == 'E') && i > 0 && isdigit(data[i - 1])))
            return false;
    }
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "min_", 4) == 0)
            return false;
    return true;
}

/* every answer line is a JSON object */
static void check_answers(const char *text, size_t size)
{
    const char *p = text, *end = text + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            abort(); /* each answer ends its line */
        json_error_t jerr;
        json_t *a = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        if (!json_is_object(a))
            abort();
        json_decref(a);
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096 || !asks_for_little(data, size))
        return 0;
    FILE *in = fmemopen((void *)data, size, "r");
    char *out_text = NULL;
    size_t out_size = 0;
    FILE *out = open_memstream(&out_text, &out_size);
    if (!in || !out)
        abort();
    gb_serve(in, out, size % 2 ? GB_REBUILD : GB_REPLAY);
    fclose(in);
    fclose(out);
    check_answers(out_text, out_size);
    free(out_text);
    return 0;
}
