/* plot.h -- training curves as an SVG file (plain text, no library), shared
 * by the examples. */
#ifndef EXAMPLES_PLOT_H
#define EXAMPLES_PLOT_H

#include <stdbool.h>

/* One curve: n values, drawn against x = 1..n (an epoch, an evaluation). */
typedef struct plot_curve {
    const char *label;    /* legend entry: "train loss" */
    const double *values; /* n values */
} plot_curve;

/* One panel: its curves share the axes. The y range covers every curve's
 * values (from 0 when from_zero); tick labels show value * scale followed by
 * unit (100 and "%" for accuracies held in [0,1]). */
typedef struct plot_panel {
    const char *title;   /* "training loss (cross-entropy)" */
    const char *x_label; /* "epoch" */
    double scale;        /* 0 means 1 */
    const char *unit;    /* NULL means "" */
    bool from_zero;
    bool legend_at_bottom; /* rising curves: keep the legend clear of them */
    int n_curves;          /* at most 4 */
    const plot_curve *curves;
} plot_panel;

/* n_panels panels side by side, every curve with n points. Returns false if
 * the file cannot be written (or n < 1, n_panels < 1). */
bool plot_panels_svg(const char *path, int n, int n_panels, const plot_panel *panels);

/* The classifier's two panels: loss per epoch, and train/test accuracy per
 * epoch (values in [0,1], drawn as percent). */
bool plot_curves_svg(const char *path, int epochs, const double *loss, const double *train_acc,
                     const double *test_acc);

#endif
