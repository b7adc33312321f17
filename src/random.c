/* random.c -- the seeded generator behind initialisers and shuffling.
 * splitmix64 (Steele, Lea, Flood 2014) for the integer stream; the top 53
 * bits make a double; Box-Muller (polar-free, cos form) for normals. */
#include "internal.h"

#include <math.h>

ag_rng ag_rng_new(unsigned long long seed)
{
    return (ag_rng){.state = seed, .spare_normal = 0.0, .has_spare = false};
}

/* False, with ag_last_error naming `fn`, when there is no generator. */
static bool have_rng(const ag_rng *r, const char *fn)
{
    if (!r) ag_set_last_error("%s: the generator is NULL", fn);
    return r != NULL;
}

static unsigned long long next_bits(ag_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

unsigned long long ag_rng_next(ag_rng *r)
{
    return have_rng(r, "ag_rng_next") ? next_bits(r) : 0;
}

/* in [0, 1) with 53 random bits */
static double unit(ag_rng *r)
{
    return (double)(next_bits(r) >> 11) * 0x1.0p-53;
}

double ag_rng_uniform(ag_rng *r, double lo, double hi)
{
    if (!have_rng(r, "ag_rng_uniform")) return NAN;
    return lo + (hi - lo) * unit(r);
}

double ag_rng_normal(ag_rng *r, double mean, double stddev)
{
    if (!have_rng(r, "ag_rng_normal")) return NAN;
    if (r->has_spare) {
        r->has_spare = false;
        return mean + stddev * r->spare_normal;
    }
    double u1 = 1.0 - unit(r); /* in (0, 1]: log never sees 0 */
    double u2 = unit(r);
    double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * 3.14159265358979323846 * u2;
    r->spare_normal = radius * sin(angle);
    r->has_spare = true;
    return mean + stddev * radius * cos(angle);
}

unsigned long long ag_rng_below(ag_rng *r, unsigned long long n)
{
    if (!have_rng(r, "ag_rng_below") || n == 0) return 0;
    unsigned long long limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    unsigned long long x;
    do x = next_bits(r);
    while (x >= limit);
    return x % n;
}

void ag_shuffle_indices(ag_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)ag_rng_below(r, (unsigned long long)i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
