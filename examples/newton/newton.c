/* newton.c -- the logistic regression of newton.h and its three fitters. */
#include "newton.h"

#include <agrad_io.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IRIS_COLUMNS (LR_FEATURES + 1) /* the measurements, then the class */

/* Rows of classes 1 (versicolor) and 2 (virginica) of the [150, 5] table
 * into X [N, 5] (features, then 1 for the bias) and y [N, 1] (class - 1). */
static bool two_classes(logreg *m, const ag_tensor *table)
{
    int rows = ag_tensor_dim(table, 0), n = 0;
    const double *t = ag_tensor_data(table);
    for (int r = 0; r < rows; r++) n += t[r * IRIS_COLUMNS + LR_FEATURES] >= 1.0;
    m->X = ag_tensor_zeros(2, (int[]){n, LR_DIM});
    m->y = ag_tensor_zeros(2, (int[]){n, 1});
    if (!m->X || !m->y) return false;
    double *X = ag_tensor_data(m->X), *y = ag_tensor_data(m->y);
    for (int r = 0, i = 0; r < rows; r++) {
        const double *row = t + r * IRIS_COLUMNS;
        if (row[LR_FEATURES] < 1.0) continue; /* setosa */
        for (int j = 0; j < LR_FEATURES; j++) X[i * LR_DIM + j] = row[j];
        X[i * LR_DIM + LR_FEATURES] = 1.0;
        y[i++] = row[LR_FEATURES] - 1.0;
    }
    return true;
}

/* Each feature column to mean 0, variance 1 over the N rows (x - mean) / sd. */
static void standardise(ag_tensor *X)
{
    int n = ag_tensor_dim(X, 0);
    double *x = ag_tensor_data(X);
    for (int j = 0; j < LR_FEATURES; j++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < n; i++) mean += x[i * LR_DIM + j] / n;
        for (int i = 0; i < n; i++) var += (x[i * LR_DIM + j] - mean) * (x[i * LR_DIM + j] - mean) / n;
        for (int i = 0; i < n; i++) x[i * LR_DIM + j] = (x[i * LR_DIM + j] - mean) / sqrt(var);
    }
}

/* L = mean(softplus(z) - y * z), z = X theta [N, 1], recorded once. */
static bool record(logreg *m)
{
    m->g = ag_graph_new();
    if (!m->g) return false;
    ag_node *X = ag_input(m->g, m->X), *y = ag_input(m->g, m->y);
    m->theta_leaf = ag_param(m->g, m->theta);
    ag_node *z = ag_matmul(X, m->theta_leaf);
    m->loss = ag_mean(ag_sub(ag_softplus(z), ag_mul(y, z)));
    return m->loss != NULL;
}

bool logreg_init(logreg *m, const char *csv_path)
{
    memset(m, 0, sizeof *m);
    ag_tensor *table = ag_csv_load(csv_path, 1);
    bool ok = table != NULL;
    if (ok && ag_tensor_dim(table, 1) != IRIS_COLUMNS) {
        m->failure = "newton: the Iris table must have 5 columns (4 measurements, the class)";
        ok = false;
    }
    ok = ok && two_classes(m, table);
    ag_tensor_free(table);
    if (ok) {
        standardise(m->X);
        m->theta = ag_tensor_zeros(2, (int[]){LR_DIM, 1});
        ag_tensor_requires_grad(m->theta, true);
        ok = m->theta && record(m);
    }
    return ok;
}

void logreg_free(logreg *m)
{
    ag_graph_free(m->g);
    ag_tensor_free(m->X);
    ag_tensor_free(m->y);
    ag_tensor_free(m->theta);
    memset(m, 0, sizeof *m);
}

const char *logreg_error(const logreg *m)
{
    if (m->failure) return m->failure;
    return m->g && ag_graph_error(m->g) ? ag_graph_error(m->g) : ag_last_error();
}

/* The loss at the current theta and its gradient: replay, backward. */
static bool evaluate(logreg *m, double *loss, double grad[LR_DIM])
{
    ag_tensor_zero_grad(m->theta);
    if (!ag_graph_forward(m->g) || !ag_backward(m->g, m->loss)) return false;
    *loss = ag_node_value(m->loss)[0];
    memcpy(grad, ag_tensor_grad(m->theta), LR_DIM * sizeof(double));
    return true;
}

static double dot(const double *a, const double *b)
{
    double s = 0.0;
    for (int i = 0; i < LR_DIM; i++) s += a[i] * b[i];
    return s;
}

/* Solve A x = b for a symmetric positive definite A [n x n]: A = L L^T
 * (Cholesky, L written over A's lower triangle), then L u = b forward and
 * L^T x = u backward; x replaces b. false if A is not positive definite. */
static bool cholesky_solve(int n, double *A, double *b)
{
    for (int j = 0; j < n; j++) {
        double d = A[j * n + j]; /* L_jj^2 = A_jj - sum_k<j L_jk^2 */
        for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0.0)) return false;
        A[j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; i++) { /* L_ij = (A_ij - sum_k<j L_ik L_jk) / L_jj */
            double s = A[i * n + j];
            for (int k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / A[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++) b[i] -= A[i * n + k] * b[k];
        b[i] /= A[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int k = i + 1; k < n; k++) b[i] -= A[k * n + i] * b[k];
        b[i] /= A[i * n + i];
    }
    return true;
}

/* Newton: (H + damping I) d = -grad with H = d^2 L / d theta^2 [5, 5] from
 * ag_hessian (reverse over reverse on the recorded gradient). */
static bool newton_direction(logreg *m, const double grad[LR_DIM], double damping, double d[LR_DIM])
{
    ag_tensor *H = ag_hessian(m->g, m->loss, m->theta_leaf);
    if (!H) return false;
    double A[LR_DIM * LR_DIM];
    memcpy(A, ag_tensor_data(H), sizeof A);
    ag_tensor_free(H);
    for (int i = 0; i < LR_DIM; i++) {
        A[i * LR_DIM + i] += damping;
        d[i] = -grad[i];
    }
    if (!cholesky_solve(LR_DIM, A, d)) m->failure = "newton: H + damping I is not positive definite";
    return !m->failure;
}

/* Hessian-free: the same system by conjugate gradient, H p by ag_hvp
 * (forward over reverse: one forward sweep over the recorded gradient),
 * never forming H. For 5 unknowns CG is exact after 5 steps in exact
 * arithmetic; it stops when |r| <= 1e-12 |grad| or after 2 * 5 steps. */
static bool cg_direction(logreg *m, const double grad[LR_DIM], double damping, double d[LR_DIM],
                         long *hvps)
{
    double r[LR_DIM], p[LR_DIM], Ap[LR_DIM]; /* residual -grad - A d, direction, A p */
    for (int i = 0; i < LR_DIM; i++) {
        d[i] = 0.0;
        r[i] = p[i] = -grad[i];
    }
    double rr = dot(r, r), stop = 1e-24 * rr;
    for (int it = 0; it < 2 * LR_DIM && rr > stop; it++) {
        if (!ag_hvp(m->g, m->loss, m->theta_leaf, p, Ap)) return false;
        (*hvps)++;
        for (int i = 0; i < LR_DIM; i++) Ap[i] += damping * p[i];
        double alpha = rr / dot(p, Ap); /* the step minimising the quadratic along p */
        for (int i = 0; i < LR_DIM; i++) {
            d[i] += alpha * p[i];
            r[i] -= alpha * Ap[i];
        }
        double rr_next = dot(r, r);
        for (int i = 0; i < LR_DIM; i++) p[i] = r[i] + rr_next / rr * p[i]; /* A-conjugate to the others */
        rr = rr_next;
    }
    return true;
}

bool logreg_fit(logreg *m, lr_method method, int iterations, double knob, lr_run *run)
{
    double *theta = ag_tensor_data(m->theta), grad[LR_DIM], d[LR_DIM];
    memset(theta, 0, LR_DIM * sizeof(double));
    run->hvps = 0;
    for (int k = 0;; k++) {
        if (!evaluate(m, &run->loss[k], grad)) return false;
        run->grad_norm = sqrt(dot(grad, grad));
        if (run->grad) run->grad[k] = run->grad_norm;
        if (k == iterations) break;
        bool ok = true;
        if (method == LR_NEWTON) ok = newton_direction(m, grad, knob, d);
        else if (method == LR_NEWTON_CG) ok = cg_direction(m, grad, knob, d, &run->hvps);
        else
            for (int i = 0; i < LR_DIM; i++) d[i] = -knob * grad[i];
        if (!ok) return false;
        for (int i = 0; i < LR_DIM; i++) theta[i] += d[i];
    }
    return true;
}
