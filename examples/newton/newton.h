/* newton.h -- logistic regression on two Iris classes, fitted three ways:
 * Newton's method (the Hessian from ag_hessian, H d = -g solved here by
 * Cholesky), Hessian-free Newton (conjugate gradient on Hessian-vector
 * products, ag_hvp) and gradient descent with a fixed step. */
#ifndef NEWTON_H
#define NEWTON_H

#include <agrad.h>

#define LR_FEATURES 4            /* sepal length, width, petal length, width */
#define LR_DIM (LR_FEATURES + 1) /* the weights and the bias */

/* The model: data, parameter and the recorded loss
 *   L(theta) = mean_i [softplus(z_i) - y_i z_i],   z = X theta,
 * the binary cross-entropy -y log s(z) - (1 - y) log(1 - s(z)) with
 * s = sigmoid, written so (log s(z) = -softplus(-z), log(1 - s(z)) =
 * -softplus(z)). Its derivatives, for the checks:
 *   grad L = X^T (s(z) - y) / N,   H = X^T diag(s(z) (1 - s(z))) X / N. */
typedef struct logreg {
    ag_tensor *X;     /* [N, 5]: standardised features, then a column of ones */
    ag_tensor *y;     /* [N, 1]: 1 virginica, 0 versicolor */
    ag_tensor *theta; /* [5, 1]: the parameter */
    ag_graph *g;
    ag_node *theta_leaf, *loss;
    const char *failure; /* a failure of this file's own (else the graph's or ag_last_error) */
} logreg;

/* Read the Iris CSV (data/iris.csv: a header line, 4 measurements and a
 * class 0/1/2 per row), keep versicolor (1) and virginica (2), standardise
 * each feature over those rows (mean 0, variance 1), and record the loss.
 * false with the message in ag_last_error (or the graph's) on failure. */
bool logreg_init(logreg *m, const char *csv_path);
void logreg_free(logreg *m);
/* The message of the last failure (the graph's, else ag_last_error). */
const char *logreg_error(const logreg *m);

typedef enum lr_method {
    LR_NEWTON,    /* theta -= (H + damping I)^-1 grad, H by ag_hessian */
    LR_NEWTON_CG, /* the same system solved by conjugate gradient on ag_hvp */
    LR_GD         /* theta -= step grad */
} lr_method;

typedef struct lr_run {
    double *loss;     /* loss[k] after k iterations, k = 0..iterations (caller's) */
    double *grad;     /* |grad L| after k iterations, the same way (NULL: not kept) */
    double grad_norm; /* |grad L| at the end */
    long hvps;        /* Hessian-vector products used (LR_NEWTON_CG) */
} lr_run;

/* Start from theta = 0 and take `iterations` steps of the method; `knob`
 * is the damping (the Newton methods) or the step (GD). false on failure. */
bool logreg_fit(logreg *m, lr_method method, int iterations, double knob, lr_run *run);

#endif
