/* plot.c -- see plot.h. Each panel maps epoch 1..E to x and the value range
 * to y, with axes, a few tick labels and a legend. */
#include "plot.h"

#include <math.h>
#include <stdio.h>

#define PANEL_W 420
#define PANEL_H 300
#define MARGIN 50

typedef struct panel {
    double x0, y0;       /* top-left corner of the plotting area */
    double lo, hi;       /* value range on the y axis */
    int epochs;
} panel;

static double px(const panel *p, int epoch) /* epoch 1..E -> x */
{
    return p->x0 + (p->epochs > 1 ? (epoch - 1) * (double)PANEL_W / (p->epochs - 1) : PANEL_W / 2.0);
}

static double py(const panel *p, double v)
{
    return p->y0 + PANEL_H - (v - p->lo) / (p->hi - p->lo) * PANEL_H;
}

static void axes(FILE *f, const panel *p, const char *title, double scale, const char *unit)
{
    fprintf(f, "<rect x='%g' y='%g' width='%d' height='%d' fill='none' stroke='#444'/>\n", p->x0, p->y0,
            PANEL_W, PANEL_H);
    fprintf(f, "<text x='%g' y='%g' font-size='15' text-anchor='middle'>%s</text>\n", p->x0 + PANEL_W / 2.0,
            p->y0 - 12, title);
    for (int k = 0; k <= 4; k++) {
        double v = p->lo + (p->hi - p->lo) * k / 4.0;
        fprintf(f, "<text x='%g' y='%g' font-size='11' text-anchor='end'>%.3g%s</text>\n", p->x0 - 6,
                py(p, v) + 4, v * scale, unit);
        fprintf(f, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#ddd'/>\n", p->x0, py(p, v),
                p->x0 + PANEL_W, py(p, v));
    }
    for (int e = 1; e <= p->epochs; e += (p->epochs + 9) / 10)
        fprintf(f, "<text x='%g' y='%g' font-size='11' text-anchor='middle'>%d</text>\n", px(p, e),
                p->y0 + PANEL_H + 16, e);
    fprintf(f, "<text x='%g' y='%g' font-size='12' text-anchor='middle'>epoch</text>\n",
            p->x0 + PANEL_W / 2.0, p->y0 + PANEL_H + 34);
}

/* A polyline and its legend entry; the legend sits top right (falling
 * curves) or bottom right (rising ones) to stay clear of the lines. */
static void curve(FILE *f, const panel *p, const double *v, const char *colour, const char *label, int row,
                  bool legend_at_bottom)
{
    double legend_y = legend_at_bottom ? p->y0 + PANEL_H - 40 + 16 * row : p->y0 + 20 + 16 * row;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colour);
    for (int e = 1; e <= p->epochs; e++) fprintf(f, "%g,%g ", px(p, e), py(p, v[e - 1]));
    fprintf(f, "'/>\n<text x='%g' y='%g' font-size='12' fill='%s'>%s</text>\n", p->x0 + PANEL_W - 110,
            legend_y, colour, label);
}

static void range(const double *v, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

bool plot_curves_svg(const char *path, int epochs, const double *loss, const double *train_acc,
                     const double *test_acc)
{
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n",
            2 * PANEL_W + 3 * MARGIN + 20, PANEL_H + 2 * MARGIN + 20);
    panel lp = {MARGIN + 10, MARGIN, INFINITY, -INFINITY, epochs};
    range(loss, epochs, &lp.lo, &lp.hi);
    lp.lo = 0.0;
    lp.hi = lp.hi > 0 ? lp.hi * 1.05 : 1.0;
    axes(f, &lp, "training loss (cross-entropy)", 1.0, "");
    curve(f, &lp, loss, "#d62728", "train loss", 0, false);
    panel ap = {2 * MARGIN + PANEL_W + 30, MARGIN, INFINITY, -INFINITY, epochs};
    range(train_acc, epochs, &ap.lo, &ap.hi);
    range(test_acc, epochs, &ap.lo, &ap.hi);
    ap.lo = floor(ap.lo * 50) / 50; /* round out to 2% steps */
    ap.hi = fmin(1.0, ceil(ap.hi * 50) / 50);
    if (ap.hi <= ap.lo) ap.hi = ap.lo + 0.02;
    axes(f, &ap, "accuracy", 100.0, "%");
    curve(f, &ap, train_acc, "#1f77b4", "train accuracy", 0, true);
    curve(f, &ap, test_acc, "#2ca02c", "test accuracy", 1, true);
    fputs("</svg>\n", f);
    return fclose(f) == 0;
}
