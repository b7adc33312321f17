/* test_interop_format.c -- every registry op's print_params text parses as
 * the PyTorch cross-check (tools/torch_ops.py, parse_params) reads it, so a
 * printer it could not read fails here, in `make check`, and not only in
 * `make interop` where PyTorch is installed.
 *
 * The grammar (the same as parse_params'):
 *   text   := "" | pair (", " pair)*        (no key twice)
 *   pair   := key "=" value
 *   key    := [a-z_][a-z0-9_]*
 *   value  := number | word | list
 *   number := "-"? (digits ("." digits?)? ([eE] [+-]? digits)? | "inf") | "-"? "nan"
 *             (what %d, %zu and %.17g print)
 *   word   := [A-Za-z_][A-Za-z0-9_]*        (one that is not a number)
 *   list   := "[" (number ("," number)*)? "]"   (no spaces: [2,0,1])       */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "internal.h"

#define TRIALS_PER_OP 6
#define MAX_KEYS 16
#define MAX_KEY_LENGTH 32

static bool is_key_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_key_char(char c) { return is_key_start(c) || (c >= '0' && c <= '9'); }
static bool is_word_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skip one or more digits; false when there is none. */
static bool skip_digits(const char **s)
{
    if (!is_digit(**s)) return false;
    while (is_digit(**s)) (*s)++;
    return true;
}

/* A number at *s (see the grammar); on success *s is just past it. */
static bool skip_number(const char **s)
{
    const char *p = *s;
    if (*p == '-') p++;
    if (strncmp(p, "inf", 3) == 0 || strncmp(p, "nan", 3) == 0) {
        *s = p + 3;
        return true;
    }
    if (!skip_digits(&p)) return false;
    if (*p == '.') {
        p++;
        while (is_digit(*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!skip_digits(&p)) return false;
    }
    *s = p;
    return true;
}

/* The end of a value: the text's end or the ", " before the next pair. */
static bool at_value_end(const char *s) { return *s == '\0' || *s == ','; }

/* A value at *s; on success *s is just past it and at_value_end. */
static bool skip_value(const char **s)
{
    const char *p = *s;
    if (*p == '[') {
        p++;
        if (*p != ']')
            for (;;) {
                if (!skip_number(&p)) return false;
                if (*p == ']') break;
                if (*p++ != ',') return false;
            }
        p++;
    } else {
        const char *number = p;
        if (!(skip_number(&number) && at_value_end(number))) {
            if (!is_word_start(*p)) return false;
            while (is_word_char(*p)) p++;
        } else {
            p = number;
        }
    }
    if (!at_value_end(p)) return false;
    *s = p;
    return true;
}

/* text follows the grammar above; otherwise false with the reason in why. */
static bool params_text_parses(const char *text, char *why, size_t len)
{
    char keys[MAX_KEYS][MAX_KEY_LENGTH];
    int n_keys = 0;
    const char *s = text;
    while (*s) {
        const char *key = s;
        if (!is_key_start(*s)) return snprintf(why, len, "no key at '%s'", s), false;
        while (is_key_char(*s)) s++;
        size_t key_len = (size_t)(s - key);
        if (*s != '=') return snprintf(why, len, "no '=' after the key at '%s'", key), false;
        s++;
        if (!skip_value(&s)) return snprintf(why, len, "no number, word or list at '%s'", key), false;
        if (key_len >= MAX_KEY_LENGTH || n_keys == MAX_KEYS)
            return snprintf(why, len, "too long a key or too many at '%s'", key), false;
        for (int k = 0; k < n_keys; k++)
            if (strlen(keys[k]) == key_len && strncmp(keys[k], key, key_len) == 0)
                return snprintf(why, len, "key '%s' given twice", keys[k]), false;
        memcpy(keys[n_keys], key, key_len);
        keys[n_keys++][key_len] = '\0';
        if (*s == '\0') break;
        if (strncmp(s, ", ", 2) != 0 || s[2] == '\0')
            return snprintf(why, len, "pairs must be joined by \", \" at '%s'", s), false;
        s += 2;
    }
    return true;
}

/* The parser itself, on texts written by hand: those the printers write
 * ("%d", "%zu", "%.17g" of ordinary and special values, words, lists) and
 * the mistakes it must refuse, as parse_params in tools/torch_ops.py does. */
START_TEST(params_parser_follows_the_grammar)
{
    static const char *const good[] = {
        "", "axis=1", "axis=-2", "lo=-0.5, hi=2", "exponent=-1.5", "x=1e+20, y=2.5e-300",
        "lo=-inf, hi=inf, z=nan", "z=-nan", "perm=[2,0,1]", "perm=[]", "bias=row, rows=3",
        "exponent=0.10000000000000001", "flat=18446744073709551615", "bias=info", "x=1.",
    };
    static const char *const bad[] = {
        "axis", "axis=", "=1", "axis=1,stop=2", "axis=1;stop=2", "axis = 1", "axis=1, axis=2",
        "perm=[2, 0]", "perm=[2,0", "perm=[2,]", "Axis=1", "axis=1, ", "x=0x10", "x=1_0",
        "x=.5", "x=1e", "x=--1", "x=[a]", "x=1 ", " x=1", "x=1,, y=2",
    };
    char why[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(params_text_parses(good[i], why, sizeof why), "'%s' refused: %s", good[i], why);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!params_text_parses(bad[i], why, sizeof why), "'%s' accepted", bad[i]);
}
END_TEST

/* The op's print_params on out, checked as snprintf-style: the length
 * returned is the whole text's, also when the buffer is too short (then
 * the text is cut and still terminated). Returns the text (caller frees). */
static char *printed_params(const ag_node *out)
{
    const ag_op *op = out->op;
    int n = op->print_params(out, NULL, 0);
    ck_assert_msg(n > 0, "%s: print_params returned %d (an op with parameters prints at least one)",
                  op->name, n);
    char *text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(op->print_params(out, text, (size_t)n + 1), n);
    ck_assert_msg(strlen(text) == (size_t)n, "%s: print_params returned %d for '%s'", op->name, n, text);
    char short_buf[3] = "xx";
    ck_assert_int_eq(op->print_params(out, short_buf, 2), n);
    ck_assert_msg(short_buf[1] == '\0' && short_buf[0] == text[0],
                  "%s: print_params into 2 bytes wrote '%.2s'", op->name, short_buf);
    return text;
}

/* _i is the op's index in the registry (a loop test) */
START_TEST(every_printer_writes_what_the_cross_check_parses)
{
    const ag_op *op = ag_all_ops[_i];
    if (!op->print_params) return; /* an op without parameters: test_gradients.c holds it to none */
    op_recipe recipe = recipe_for(op->name);
    ck_assert_msg(recipe != NULL, "op '%s' has no test recipe", op->name);
    test_rng r = {0x1e7e0000u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe(g, &r, &c), "%s: %s", op->name, ag_graph_error(g));
        ck_assert_ptr_eq(c.out->op, op);
        char *text = printed_params(c.out), why[128];
        ck_assert_msg(params_text_parses(text, why, sizeof why),
                      "%s: print_params wrote '%s', which tools/torch_ops.py cannot parse: %s", op->name,
                      text, why);
        free(text);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

Suite *interop_format_suite(void)
{
    Suite *s = suite_create("interop_format");
    TCase *tc = tcase_create("print_params");
    tcase_add_test(tc, params_parser_follows_the_grammar);
    tcase_add_loop_test(tc, every_printer_writes_what_the_cross_check_parses, 0, (int)ag_n_ops);
    suite_add_tcase(s, tc);
    return s;
}
