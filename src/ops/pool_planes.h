/* pool_planes.h -- pool.c's plane loops, one definition stamped for each
 * element type: pool.c includes it with `real` defined as double and
 * PLANES(name) as name, then as float and name##_f32. The windows' sums
 * (average, spread) are formed in double whatever the type and rounded to
 * `real` once when stored; the argmax m(i,j) is a double (the aux) in both. */


/* y[i,j] = x[m(i,j)], m(i,j) the first maximum of win(i,j) (the last NaN) */
static void PLANES(max_planes)(void *ctx, size_t lo, size_t hi)
{
    const pool_job *job = ctx;
    const pool_view *v = &job->v;
    for (size_t plane = lo; plane < hi; plane++) {
        size_t base = plane * v->h * v->w;
        const real *x = (const real *)job->src + base;
        real *y = (real *)job->dst + plane * v->oh * v->ow;
        double *m = job->argmax + plane * v->oh * v->ow;
        for (size_t i = 0; i < v->oh; i++)
            for (size_t j = 0; j < v->ow; j++) {
                size_t first = i * v->s * v->w + j * v->s, at = first;
                real best = -INFINITY;
                for (size_t a = 0; a < v->k; a++) {
                    const real *row = x + first + a * v->w;
                    for (size_t b = 0; b < v->k; b++)
                        if (row[b] > best || isnan(row[b])) best = row[b], at = first + a * v->w + b;
                }
                y[i * v->ow + j] = best;
                m[i * v->ow + j] = (double)(base + at);
            }
    }
}

/* dst[m(p)] += src[p] for the output positions p of the planes (dst holds
 * the pool's input shape); `zero`: dst's planes are zeroed first */
static void PLANES(scatter_planes)(const pool_job *job, size_t lo, size_t hi, bool zero)
{
    const pool_view *v = &job->v;
    const real *src = job->src;
    real *dst = job->dst;
    if (zero) ZERO_REALS(dst + lo * v->h * v->w, (hi - lo) * v->h * v->w);
    for (size_t p = lo * v->oh * v->ow; p < hi * v->oh * v->ow; p++) dst[(size_t)job->argmax[p]] += src[p];
}
static void PLANES(scatter_add_planes)(void *ctx, size_t lo, size_t hi) { PLANES(scatter_planes)(ctx, lo, hi, false); }
static void PLANES(scatter_new_planes)(void *ctx, size_t lo, size_t hi) { PLANES(scatter_planes)(ctx, lo, hi, true); }

/* dst[p] (+)= src[m(p)] for the output positions p of the planes */
static void PLANES(gather_planes)(const pool_job *job, size_t lo, size_t hi, bool add)
{
    const pool_view *v = &job->v;
    const real *src = job->src;
    real *dst = job->dst;
    for (size_t p = lo * v->oh * v->ow; p < hi * v->oh * v->ow; p++) {
        real picked = src[(size_t)job->argmax[p]];
        dst[p] = add ? dst[p] + picked : picked;
    }
}
static void PLANES(gather_add_planes)(void *ctx, size_t lo, size_t hi) { PLANES(gather_planes)(ctx, lo, hi, true); }
static void PLANES(gather_new_planes)(void *ctx, size_t lo, size_t hi) { PLANES(gather_planes)(ctx, lo, hi, false); }

/* dst[i,j] (+)= (sum of src over win(i,j)) / k^2 */
static void PLANES(average_planes)(const pool_job *job, size_t lo, size_t hi, bool add)
{
    const pool_view *v = &job->v;
    double count = (double)(v->k * v->k);
    for (size_t plane = lo; plane < hi; plane++) {
        const real *x = (const real *)job->src + plane * v->h * v->w;
        real *y = (real *)job->dst + plane * v->oh * v->ow;
        for (size_t i = 0; i < v->oh; i++)
            for (size_t j = 0; j < v->ow; j++) {
                const real *corner = x + i * v->s * v->w + j * v->s;
                double sum = 0.0;
                for (size_t a = 0; a < v->k; a++)
                    for (size_t b = 0; b < v->k; b++) sum += corner[a * v->w + b];
                y[i * v->ow + j] = (real)((add ? y[i * v->ow + j] : 0.0) + sum / count);
            }
    }
}
static void PLANES(average_add_planes)(void *ctx, size_t lo, size_t hi) { PLANES(average_planes)(ctx, lo, hi, true); }
static void PLANES(average_new_planes)(void *ctx, size_t lo, size_t hi) { PLANES(average_planes)(ctx, lo, hi, false); }

/* dst[p] += src[i,j] / k^2 for every p in win(i,j) (dst: the input's planes);
 * `zero`: dst's planes are zeroed first */
static void PLANES(spread_planes)(const pool_job *job, size_t lo, size_t hi, bool zero)
{
    const pool_view *v = &job->v;
    double count = (double)(v->k * v->k);
    if (zero) ZERO_REALS((real *)job->dst + lo * v->h * v->w, (hi - lo) * v->h * v->w);
    for (size_t plane = lo; plane < hi; plane++) {
        const real *gy = (const real *)job->src + plane * v->oh * v->ow;
        real *gx = (real *)job->dst + plane * v->h * v->w;
        for (size_t i = 0; i < v->oh; i++)
            for (size_t j = 0; j < v->ow; j++) {
                double share = gy[i * v->ow + j] / count;
                real *corner = gx + i * v->s * v->w + j * v->s;
                for (size_t a = 0; a < v->k; a++)
                    for (size_t b = 0; b < v->k; b++) corner[a * v->w + b] = (real)(corner[a * v->w + b] + share);
            }
    }
}
static void PLANES(spread_add_planes)(void *ctx, size_t lo, size_t hi) { PLANES(spread_planes)(ctx, lo, hi, false); }
static void PLANES(spread_new_planes)(void *ctx, size_t lo, size_t hi) { PLANES(spread_planes)(ctx, lo, hi, true); }

