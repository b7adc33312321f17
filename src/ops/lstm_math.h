/* lstm_math.h -- sigmoid and tanh over a row of values for the LSTM gates
 * (ops/lstm.c), in straight-line arithmetic that the compiler vectorises
 * (no libm call per element), to within a few units in the last place of
 * libm's (tests/test_recurrent.c measures it against long double expl and
 * tanhl: under 4 ulp).
 *
 * The definitions they compute:
 *   sigmoid(x) = 1 / (1 + e^-x)
 *   tanh(x)    = sign(x) (1 - 2 / (e^(2|x|) + 1))
 * and how:
 *
 * e^x: x clamped to [-708, 708] (a NaN passes: the comparisons are false),
 *   so no overflow and no subnormal; x = k ln2 + r with k = round(x / ln2),
 *   |r| <= ln2 / 2, ln2 in two parts (Cody and Waite: k ln2_hi is exact for
 *   |k| < 2^11), e^r by its Taylor series to r^13 (the rest under r^14 / 14!
 *   = 4e-18 of it), times 2^k made from k's bits. k is rounded by adding
 *   1.5 2^52, which leaves k in the low bits of the sum: no conversion of a
 *   double to an integer (undefined for a NaN), so the loop vectorises.
 *   The clamp makes sigmoid(x) 1 / (1 + e^708) = 3.3e-308 for x < -708
 *   (exactly e^x there, or 0 below -745) and leaves sigmoid(-Inf) at that,
 *   not 0: an absolute error under 1e-307.
 * tanh: for |x| >= 0.4, the formula above (1 - 2 / (e^(2|x|) + 1) cancels
 *   under a bit there); below, where it would cancel, tanh's Taylor series
 *   to x^31 (coefficients 2^2n (2^2n - 1) B_2n / (2n)!, B the Bernoulli
 *   numbers; the rest is under 2e-18 of tanh at 0.4). Both are computed and
 *   one chosen, so there is no branch per element. */
#ifndef AGRAD_OPS_LSTM_MATH_H
#define AGRAD_OPS_LSTM_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* inlined into each caller, so a caller compiled for wider vectors (the
 * AVX2 copies in ops/lstm.c) vectorises them with its own */
#if defined(__GNUC__)
#define LSTM_INLINE static inline __attribute__((always_inline))
#else
#define LSTM_INLINE static inline
#endif

LSTM_INLINE uint64_t lstm_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

LSTM_INLINE double lstm_double(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* e^x for x in [-708, 708] (clamped there; NaN stays NaN) */
LSTM_INLINE double lstm_exp(double x)
{
    const double round_shift = 0x1.8p52, log2e = 1.4426950408889634;
    const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    x = x > 708.0 ? 708.0 : x;
    x = x < -708.0 ? -708.0 : x;
    double shifted = x * log2e + round_shift; /* k in the low bits */
    double k = shifted - round_shift;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    double scale = lstm_double((lstm_bits(shifted) + 1023) << 52); /* 2^k, |k| <= 1022 */
    return p * scale;
}

/* sigmoid(x) = 1 / (1 + e^-x) */
LSTM_INLINE double lstm_sigmoid(double x) { return 1.0 / (1.0 + lstm_exp(-x)); }

/* y[j] = sigmoid(x[j]), j < n; the same of float x (in double) */
LSTM_INLINE void lstm_sigmoid_row(const double *restrict x, size_t n, double *restrict y)
{
    for (size_t j = 0; j < n; j++) y[j] = lstm_sigmoid(x[j]);
}
LSTM_INLINE void lstm_sigmoid_row_f32(const float *restrict x, size_t n, double *restrict y)
{
    for (size_t j = 0; j < n; j++) y[j] = lstm_sigmoid(x[j]);
}

/* tanh t for 0 <= t < 0.4: t + t s (c3 + s (c5 + ... + s c31)), s = t^2 */
LSTM_INLINE double lstm_tanh_series(double t)
{
    double s = t * t;
    double p = -1.0597268320104654e-06;      /* x^31 */
    p = p * s + 2.6147711512907546e-06;      /* x^29 */
    p = p * s - 6.4516892156554306e-06;      /* x^27 */
    p = p * s + 1.5918905069328964e-05;      /* x^25 */
    p = p * s - 3.9278323883316833e-05;      /* x^23 */
    p = p * s + 9.6915379569294509e-05;      /* x^21 */
    p = p * s - 2.3912911424355248e-04;      /* x^19 */
    p = p * s + 5.9002744094558595e-04;      /* x^17 */
    p = p * s - 1.4558343870513183e-03;      /* x^15 */
    p = p * s + 3.5921280365724811e-03;      /* x^13 */
    p = p * s - 8.8632355299021973e-03;      /* x^11 */
    p = p * s + 2.1869488536155203e-02;      /* x^9 */
    p = p * s - 5.3968253968253971e-02;      /* x^7 */
    p = p * s + 1.3333333333333333e-01;      /* x^5 */
    p = p * s - 3.3333333333333331e-01;      /* x^3 */
    return t + t * (s * p);
}

/* tanh x, by the formula or the series (both computed, one chosen) */
LSTM_INLINE double lstm_tanh(double x)
{
    double t = fabs(x);
    double large = 1.0 - 2.0 / (lstm_exp(2.0 * t) + 1.0);
    double small = lstm_tanh_series(t);
    return copysign(t < 0.4 ? small : large, x);
}

/* y[j] = tanh x[j], j < n; the same of float x (in double) */
LSTM_INLINE void lstm_tanh_row(const double *restrict x, size_t n, double *restrict y)
{
    for (size_t j = 0; j < n; j++) y[j] = lstm_tanh(x[j]);
}
LSTM_INLINE void lstm_tanh_row_f32(const float *restrict x, size_t n, double *restrict y)
{
    for (size_t j = 0; j < n; j++) y[j] = lstm_tanh(x[j]);
}

#endif
