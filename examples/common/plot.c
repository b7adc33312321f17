/* plot.c -- see plot.h. Each panel maps point 1..n to x and the value range
 * to y, with axes, a few tick labels and a legend. */
#include "plot.h"

#include <math.h>
#include <stdio.h>

#define PANEL_W 420
#define PANEL_H 300
#define MARGIN 50
#define MAX_CURVES 4

static const char *const colours[MAX_CURVES] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd"};

typedef struct frame {
    double x0, y0; /* top-left corner of the plotting area */
    double lo, hi; /* value range on the y axis */
    int n;         /* points per curve */
} frame;

static double px(const frame *p, int i) /* point 1..n -> x */
{
    return p->x0 + (p->n > 1 ? (i - 1) * (double)PANEL_W / (p->n - 1) : PANEL_W / 2.0);
}

static double py(const frame *p, double v)
{
    return p->y0 + PANEL_H - (v - p->lo) / (p->hi - p->lo) * PANEL_H;
}

static void axes(FILE *f, const frame *p, const plot_panel *panel)
{
    double scale = panel->scale != 0.0 ? panel->scale : 1.0;
    const char *unit = panel->unit ? panel->unit : "";
    fprintf(f, "<rect x='%g' y='%g' width='%d' height='%d' fill='none' stroke='#444'/>\n", p->x0, p->y0,
            PANEL_W, PANEL_H);
    fprintf(f, "<text x='%g' y='%g' font-size='15' text-anchor='middle'>%s</text>\n", p->x0 + PANEL_W / 2.0,
            p->y0 - 12, panel->title ? panel->title : "");
    for (int k = 0; k <= 4; k++) {
        double v = p->lo + (p->hi - p->lo) * k / 4.0;
        fprintf(f, "<text x='%g' y='%g' font-size='11' text-anchor='end'>%.3g%s</text>\n", p->x0 - 6,
                py(p, v) + 4, v * scale, unit);
        fprintf(f, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#ddd'/>\n", p->x0, py(p, v),
                p->x0 + PANEL_W, py(p, v));
    }
    for (int i = 1; i <= p->n; i += (p->n + 9) / 10)
        fprintf(f, "<text x='%g' y='%g' font-size='11' text-anchor='middle'>%d</text>\n", px(p, i),
                p->y0 + PANEL_H + 16, i);
    fprintf(f, "<text x='%g' y='%g' font-size='12' text-anchor='middle'>%s</text>\n",
            p->x0 + PANEL_W / 2.0, p->y0 + PANEL_H + 34, panel->x_label ? panel->x_label : "");
}

/* A polyline and its legend entry, top right or bottom right. */
static void curve(FILE *f, const frame *p, const plot_curve *c, int row, bool legend_at_bottom)
{
    double legend_y = legend_at_bottom ? p->y0 + PANEL_H - 56 + 16 * row : p->y0 + 20 + 16 * row;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colours[row]);
    for (int i = 1; i <= p->n; i++) fprintf(f, "%g,%g ", px(p, i), py(p, c->values[i - 1]));
    fprintf(f, "'/>\n<text x='%g' y='%g' font-size='12' fill='%s'>%s</text>\n", p->x0 + PANEL_W - 110,
            legend_y, colours[row], c->label ? c->label : "");
}

/* The y range of a panel: its curves' finite values, rounded out to 2 % of
 * the scale for values in [0,1] drawn as percent. */
static void value_range(const plot_panel *panel, int n, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (int c = 0; c < panel->n_curves; c++)
        for (int i = 0; i < n; i++)
            if (isfinite(panel->curves[c].values[i])) {
                *lo = fmin(*lo, panel->curves[c].values[i]);
                *hi = fmax(*hi, panel->curves[c].values[i]);
            }
    if (!isfinite(*lo)) *lo = 0.0, *hi = 1.0;
    if (panel->from_zero) {
        *lo = fmin(*lo, 0.0);
        *hi = *hi > 0 ? *hi * 1.05 : 1.0;
    } else if (panel->scale == 100.0) {
        *lo = floor(*lo * 50) / 50;
        *hi = fmin(1.0, ceil(*hi * 50) / 50);
    } else {
        double pad = 0.05 * (*hi - *lo);
        *lo -= pad, *hi += pad;
    }
    if (*hi <= *lo) *hi = *lo + (panel->scale == 100.0 ? 0.02 : 1.0);
}

bool plot_panels_svg(const char *path, int n, int n_panels, const plot_panel *panels)
{
    if (n < 1 || n_panels < 1) return false;
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n",
            n_panels * (PANEL_W + MARGIN + 20) + MARGIN, PANEL_H + 2 * MARGIN + 20);
    for (int k = 0; k < n_panels; k++) {
        frame p = {MARGIN + 10 + k * (PANEL_W + MARGIN + 20), MARGIN, 0, 0, n};
        value_range(&panels[k], n, &p.lo, &p.hi);
        axes(f, &p, &panels[k]);
        for (int c = 0; c < panels[k].n_curves && c < MAX_CURVES; c++)
            curve(f, &p, &panels[k].curves[c], c, panels[k].legend_at_bottom);
    }
    fputs("</svg>\n", f);
    return fclose(f) == 0;
}

bool plot_curves_svg(const char *path, int epochs, const double *loss, const double *train_acc,
                     const double *test_acc)
{
    plot_curve loss_curve[] = {{"train loss", loss}};
    plot_curve accuracy_curves[] = {{"train accuracy", train_acc}, {"test accuracy", test_acc}};
    plot_panel panels[] = {
        {.title = "training loss (cross-entropy)", .x_label = "epoch", .from_zero = true,
         .n_curves = 1, .curves = loss_curve},
        {.title = "accuracy", .x_label = "epoch", .scale = 100.0, .unit = "%", .legend_at_bottom = true,
         .n_curves = 2, .curves = accuracy_curves},
    };
    return plot_panels_svg(path, epochs, 2, panels);
}
