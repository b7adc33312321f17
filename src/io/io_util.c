/* io_util.c -- small helpers shared by the io files. */
#include "io_internal.h"

#include <stdio.h>

ag_tensor *ag_tensor_adopt(const ag_shape *shape, double *data)
{
    ag_tensor *t = ag_calloc(1, sizeof *t);
    if (!t) {
        ag_free(data);
        return NULL;
    }
    t->shape = *shape;
    t->data = data;
    return t;
}

static _Thread_local uint64_t max_header_override;

uint64_t ag_ckpt_max_header(void)
{
    return max_header_override ? max_header_override : AG_CKPT_MAX_HEADER_BYTES;
}

const char *ag_ckpt_limit_text(char buf[32])
{
    unsigned long long max = ag_ckpt_max_header();
    if (max % 1000000 == 0)
        snprintf(buf, 32, "%llu MB", max / 1000000);
    else
        snprintf(buf, 32, "%llu-byte", max);
    return buf;
}

void ag_io_set_max_header(uint64_t bytes) { max_header_override = bytes; }

/* Control bytes (CR, NUL, ...) are escaped, so a message stays one line. */
const char *ag_io_shown(const char *s, size_t len, char buf[AG_IO_SHOWN_SIZE])
{
    size_t j = 0, shown = len < AG_IO_SHOWN_CHARS ? len : AG_IO_SHOWN_CHARS;
    while (shown < len && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
        shown--; /* cut before a UTF-8 character, not inside it */
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f) /* printable ASCII and UTF-8 bytes as they are */
            buf[j++] = (char)c;
        else
            j += (size_t)snprintf(buf + j, 5, "\\x%02x", c);
    }
    buf[j] = '\0';
    if (shown < len)
        snprintf(buf + j, AG_IO_SHOWN_SIZE - j, "... (%zu bytes)", len);
    return buf;
}

const char *ag_io_name(const char *name, char buf[AG_IO_SHOWN_SIZE])
{
    return ag_io_shown(name, strlen(name), buf);
}

/* UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing past U+10FFFF; NUL bytes are refused too. */
bool ag_io_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text, *end = s + len;
    while (s < end) {
        unsigned c = *s++;
        if (c == 0) return false;
        if (c < 0x80) continue;
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
        if (more < 0 || c > 0xF4 || end - s < more) return false;
        unsigned long cp = c & (0x3Fu >> more);
        for (int k = 0; k < more; k++, s++) {
            if ((*s & 0xC0) != 0x80) return false;
            cp = cp << 6 | (*s & 0x3Fu);
        }
        static const unsigned long least[] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    }
    return true;
}
