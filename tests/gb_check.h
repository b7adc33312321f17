/* gb_check.h -- testing agrad-gradbench's evals without the GradBench kit:
 * call a function of an eval on a JSON input (as the protocol would) and
 * take central finite differences of a primal by perturbing one number of
 * the input. */
#ifndef AGRAD_TEST_GB_CHECK_H
#define AGRAD_TEST_GB_CHECK_H

#include "gradbench.h"

#include <check.h>

/* Parses JSON text (asserted valid). */
json_t *gb_check_json(const char *text);
/* The output of eval's function on input, in the given mode (asserted to
 * succeed: a failure fails the test with the tool's error message). */
json_t *gb_check_call_mode(const char *eval, const char *function, const json_t *input, gb_mode mode);
json_t *gb_check_call(const char *eval, const char *function, const json_t *input);
/* The same, for a function whose output is a number. */
double gb_check_scalar(const char *eval, const char *function, const json_t *input);
/* The error message of a call that must fail (a new string, free it). */
char *gb_check_error(const char *eval, const char *function, const json_t *input);
/* Asserts that replay mode and rebuild mode answer the same output. */
void gb_check_modes_agree(const char *eval, const char *function, const json_t *input);
/* Asserts that each case {eval, function, input JSON} fails with an error
 * message containing named[i]. */
void gb_check_errors_name(size_t n, const char *const cases[][3], const char *const named[]);
/* Copies the numbers of a (nested) JSON array, row-major, into out;
 * returns how many there were (at most cap are written). */
size_t gb_check_flatten(const json_t *array, double *out, size_t cap);
/* (f(x + h e) - f(x - h e)) / 2h, where x + h e is input with h added to the
 * index-th number (row-major) of field, and f reads a number: the scalar
 * output of function, or read(output) when read is not NULL. */
double gb_check_central_difference(const char *eval, const char *function, const json_t *input,
                                   const char *field, size_t index, double h,
                                   double (*read)(const json_t *output));
/* |a - b| <= tol * max(1, |b|) */
#define ck_assert_rel(a, b, tol)                                                                 \
    do {                                                                                         \
        double a_ = (a), b_ = (b);                                                               \
        ck_assert_msg(fabs(a_ - b_) <= (tol) * fmax(1.0, fabs(b_)), "%s = %.17g, expected %.17g", \
                      #a, a_, b_);                                                               \
    } while (0)

#endif
