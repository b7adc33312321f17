/* init.c -- initialisers, all drawing from a seeded ag_rng so a run is
 * reproducible bit for bit. For a 2-d weight W [in, out] (agrad's dense
 * layer computes x @ W), fan_in = in = rows and fan_out = out = cols.
 *   Xavier/Glorot (2010):  uniform bound sqrt(6 / (fan_in + fan_out)),
 *                          normal std   sqrt(2 / (fan_in + fan_out))
 *   He/Kaiming (2015):     uniform bound sqrt(6 / fan_in),
 *                          normal std   sqrt(2 / fan_in)                    */
#include "../internal.h"

#include <math.h>

/* False, with ag_last_error naming `fn`, when the tensor (or the generator,
 * for a random fill) is missing. */
static bool can_fill(const char *fn, const ag_tensor *t, const ag_rng *rng, bool random)
{
    if (t && (rng || !random)) return true;
    ag_set_last_error("%s: %s is NULL", fn, t ? "the generator" : "the tensor");
    return false;
}

/* Each fill draws doubles and stores them in the tensor's type (a float32
 * tensor gets the same draws, rounded). */
static void fill_constant(ag_tensor *t, double value)
{
    for (size_t i = 0; i < t->shape.size; i++) ag_typed_put(t->data, t->dtype, i, value);
}

static void fill_uniform(ag_tensor *t, ag_rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < t->shape.size; i++) ag_typed_put(t->data, t->dtype, i, ag_rng_uniform(rng, lo, hi));
}

static void fill_normal(ag_tensor *t, ag_rng *rng, double mean, double stddev)
{
    for (size_t i = 0; i < t->shape.size; i++) ag_typed_put(t->data, t->dtype, i, ag_rng_normal(rng, mean, stddev));
}

void ag_init_constant(ag_tensor *t, double value)
{
    if (can_fill("ag_init_constant", t, NULL, false)) fill_constant(t, value);
}

void ag_init_zeros(ag_tensor *t)
{
    if (can_fill("ag_init_zeros", t, NULL, false)) fill_constant(t, 0.0);
}

void ag_init_uniform(ag_tensor *t, ag_rng *rng, double lo, double hi)
{
    if (can_fill("ag_init_uniform", t, rng, true)) fill_uniform(t, rng, lo, hi);
}

void ag_init_normal(ag_tensor *t, ag_rng *rng, double mean, double stddev)
{
    if (can_fill("ag_init_normal", t, rng, true)) fill_normal(t, rng, mean, stddev);
}

/* sqrt(numerator / fan), fan = fan_in (+ fan_out when with_fan_out), where
 * fan_in = rows and fan_out = cols for 2-d, a vector counts as [1, n] */
static double fan_scale(const ag_tensor *t, double numerator, bool with_fan_out)
{
    double fan_in = t->shape.ndim >= 2 ? (double)t->shape.dims[0] : 1.0;
    double fan_out = (double)t->shape.size / fan_in;
    return sqrt(numerator / (with_fan_out ? fan_in + fan_out : fan_in));
}

void ag_init_xavier_uniform(ag_tensor *t, ag_rng *rng)
{
    if (!can_fill("ag_init_xavier_uniform", t, rng, true)) return;
    double bound = fan_scale(t, 6.0, true);
    fill_uniform(t, rng, -bound, bound);
}

void ag_init_xavier_normal(ag_tensor *t, ag_rng *rng)
{
    if (can_fill("ag_init_xavier_normal", t, rng, true)) fill_normal(t, rng, 0.0, fan_scale(t, 2.0, true));
}

void ag_init_he_uniform(ag_tensor *t, ag_rng *rng)
{
    if (!can_fill("ag_init_he_uniform", t, rng, true)) return;
    double bound = fan_scale(t, 6.0, false);
    fill_uniform(t, rng, -bound, bound);
}

void ag_init_he_normal(ag_tensor *t, ag_rng *rng)
{
    if (can_fill("ag_init_he_normal", t, rng, true)) fill_normal(t, rng, 0.0, fan_scale(t, 2.0, false));
}
