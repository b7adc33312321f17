/* plot.h -- training curves as an SVG file (plain text, no library). */
#ifndef FASHION_PLOT_H
#define FASHION_PLOT_H

#include <stdbool.h>

/* Two panels side by side: loss per epoch, and train/test accuracy per epoch
 * (values in [0,1], drawn as percent). Returns false if the file cannot be
 * written. */
bool plot_curves_svg(const char *path, int epochs, const double *loss, const double *train_acc,
                     const double *test_acc);

#endif
