/* optim_loops.h -- the update loops of optim.c in one element type, `real`:
 * included twice by optim.c, for float64 parameters (real = double) and for
 * float32 ones (real = float, the names taking _f32 through macros there).
 * The settings are rounded to `real` once, so a float32 update computes in
 * float, as PyTorch's does; <tgmath.h> makes sqrt the type's. */

/* SGD with momentum (PyTorch's formulation); `first` and `nesterov`
 * constants in each copy, so the loop has no branch and vectorises */
static ALWAYS_INLINE void momentum_loop(size_t n, real *p, const real *grad, real *b, real lr,
                                        real decay, real momentum, real keep, const bool first,
                                        const bool nesterov)
{
    for (size_t i = 0; i < n; i++) {
        real g = grad[i] + decay * p[i];
        b[i] = first ? g : momentum * b[i] + keep * g;
        g = nesterov ? g + momentum * b[i] : b[i];
        p[i] -= lr * g;
    }
}

static void sgd_update(const ag_optimizer_config *c, long step, size_t n, real *p, const real *grad, real *b)
{
    /* the settings in locals: stores to p (reals) could otherwise alias
     * them, and every element would reload them */
    const real lr = (real)c->lr, decay = (real)c->weight_decay, momentum = (real)c->momentum;
    const real keep = (real)(1.0 - c->dampening);
    const bool nesterov = c->nesterov, first = step == 1;
    if (momentum == 0.0) { /* plain SGD: one vectorisable loop */
        for (size_t i = 0; i < n; i++) p[i] -= lr * (grad[i] + decay * p[i]);
        return;
    }
    if (first && nesterov)
        momentum_loop(n, p, grad, b, lr, decay, momentum, keep, true, true);
    else if (first)
        momentum_loop(n, p, grad, b, lr, decay, momentum, keep, true, false);
    else if (nesterov)
        momentum_loop(n, p, grad, b, lr, decay, momentum, keep, false, true);
    else
        momentum_loop(n, p, grad, b, lr, decay, momentum, keep, false, false);
}

/* Adam's loop with `decoupled` (AdamW) a constant in each copy: a branch in
 * the loop would keep it from vectorising */
static ALWAYS_INLINE void adam_loop(const ag_optimizer_config *c, long step, size_t n, real *p,
                                   const real *grad, real *m, real *v, const bool decoupled)
{
    const real correction1 = (real)(1.0 - pow(c->beta1, (double)step)),
               correction2 = (real)(1.0 - pow(c->beta2, (double)step));
    /* the settings in locals, as in sgd_update */
    const real lr = (real)c->lr, decay = (real)c->weight_decay, b1 = (real)c->beta1, b2 = (real)c->beta2,
               eps = (real)c->eps;
    /* 1 - beta in double, then rounded: in float, 1 - 0.999f keeps only 4
     * digits of 0.001 (PyTorch passes 1 - beta2 from Python, a double) */
    const real keep1 = (real)(1.0 - c->beta1), keep2 = (real)(1.0 - c->beta2);
    for (size_t i = 0; i < n; i++) {
        real g = grad[i];
        if (decoupled)
            p[i] -= lr * decay * p[i];
        else
            g += decay * p[i];
        m[i] = b1 * m[i] + keep1 * g;
        v[i] = b2 * v[i] + keep2 * g * g;
        p[i] -= lr * (m[i] / correction1) / (sqrt(v[i] / correction2) + eps);
    }
}

static void adam_update(const ag_optimizer_config *c, long step, size_t n, real *p, const real *grad,
                        real *m, real *v)
{
    if (c->kind == AG_OPTIM_ADAMW)
        adam_loop(c, step, n, p, grad, m, v, true);
    else
        adam_loop(c, step, n, p, grad, m, v, false);
}

