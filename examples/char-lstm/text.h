/* text.h -- the corpus of examples/char-lstm: every fortune of Debian's
 * `fortunes` package (/usr/share/games/fortunes), as symbol indices, split
 * into training, validation and held-out parts. */
#ifndef CHAR_LSTM_TEXT_H
#define CHAR_LSTM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define TEXT_MAX_SYMBOLS 128

/* A stretch of the text as symbol indices (into the alphabet). */
typedef struct text_part {
    const unsigned char *symbols;
    size_t length;
} text_part;

typedef struct corpus {
    unsigned char *symbols; /* the whole text, one index per character */
    size_t length;
    char alphabet[TEXT_MAX_SYMBOLS]; /* index -> character, in byte order */
    int n_symbols;
    int n_files, n_fortunes;
    /* train, then validation (carved from the end of what would be training:
     * hyper-parameters are chosen on it), then held-out (the end of the
     * text, never trained on, never used to choose anything) */
    text_part train, valid, held_out;
} corpus;

/* Read every database in dir (regular files, not the .dat indices nor the
 * .u8 links), in name order; split each into its fortunes (the "%" lines
 * between them); keep tabs, newlines and printable ASCII (a fortune's
 * other bytes, backspace overstrikes and a few Latin-1 letters, are
 * dropped); shuffle the fortunes with a fixed seed, so the held-out end is a
 * sample of every database rather than the last few, and join them, each
 * followed by "%\n" as in the files. The last held_fraction of the text is
 * held out, the valid_fraction before it is validation. False with a
 * message on stderr when the directory cannot be read or holds no text. */
bool corpus_load(const char *dir, double valid_fraction, double held_fraction, corpus *c);
void corpus_free(corpus *c);

/* The index of character ch, -1 if the text has none. */
int corpus_symbol(const corpus *c, char ch);

#endif
