/* lstm_math.h -- the activations of the LSTM gates over a row of values
 * (ops/lstm.c): sigmoid as the elementwise op computes it (split by sign,
 * so exp never overflows) and libm's tanh. */
#ifndef AGRAD_OPS_LSTM_MATH_H
#define AGRAD_OPS_LSTM_MATH_H

#include <math.h>
#include <stddef.h>

/* y[j] = 1 / (1 + e^-x[j]) = e^x[j] / (1 + e^x[j]), j < n */
static inline void lstm_sigmoid_row(const double *x, size_t n, double *y)
{
    for (size_t j = 0; j < n; j++) {
        if (x[j] >= 0) {
            y[j] = 1.0 / (1.0 + exp(-x[j]));
        } else {
            double e = exp(x[j]);
            y[j] = e / (1.0 + e);
        }
    }
}

/* y[j] = tanh x[j], j < n */
static inline void lstm_tanh_row(const double *x, size_t n, double *y)
{
    for (size_t j = 0; j < n; j++) y[j] = tanh(x[j]);
}

#endif
