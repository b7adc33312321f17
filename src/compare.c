/* compare.c -- side-by-side comparison of two arrays (hand vs autograd). */
#include "internal.h"

#include <math.h>

static void update_diff(ag_diff *d, size_t i, double left, double right)
{
    double abs_diff = fabs(left - right);
    double scale = fmax(fabs(left), fabs(right));
    double rel = scale > 0.0 ? abs_diff / scale : 0.0;
    if (isnan(abs_diff)) {
        d->pass = false;
        d->worst = i;
        d->max_abs = NAN;
        return;
    }
    if (abs_diff > d->max_abs) {
        d->max_abs = abs_diff;
        d->worst = i;
    }
    if (rel > d->max_rel) d->max_rel = rel;
}

ag_diff ag_compare(FILE *out, const char *title, const char *left_name, const char *right_name,
                   size_t n, const double *left, const double *right, double tolerance)
{
    ag_diff d = {0.0, 0.0, 0, true};
    if (n > 0 && (!left || !right)) {
        ag_set_last_error("ag_compare: %s: %s is NULL with n = %zu", title ? title : "",
                          left ? "right" : "left", n);
        if (out) fprintf(out, "%s\n  ag_compare: %s is NULL: FAIL\n", title ? title : "",
                         left ? "right" : "left");
        return (ag_diff){.max_abs = NAN, .max_rel = NAN, .worst = 0, .pass = false};
    }
    if (out)
        fprintf(out, "%s\n  %5s  %24s  %24s  %10s\n", title ? title : "", "i",
                left_name ? left_name : "left", right_name ? right_name : "right", "|diff|");
    for (size_t i = 0; i < n; i++) {
        update_diff(&d, i, left[i], right[i]);
        if (out)
            fprintf(out, "  %5zu  %24.17g  %24.17g  %10.3g\n", i, left[i], right[i],
                    fabs(left[i] - right[i]));
    }
    if (!(d.max_abs <= tolerance)) d.pass = false;
    if (out)
        fprintf(out, "  max |diff| = %.3g (element %zu), max rel = %.3g, tolerance %.3g: %s\n",
                d.max_abs, d.worst, d.max_rel, tolerance, d.pass ? "PASS" : "FAIL");
    return d;
}
