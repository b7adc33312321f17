/* elementwise_loops.h -- the loops of every elementwise op, stamped from
 * the rule table (elementwise_rules.h) once per element type: included by
 * elementwise.c with real = double and by elementwise_f32.c with real =
 * float (ELEMENTWISE_FLOAT32 defined). One definition, two types: nothing
 * here names a type but `real`.
 *
 *   VAL(n), GRD(n), TAN(n)  node n's value, gradient, tangent as real *
 *   OP_RULE(out)            the rule table entry of out's op for this type
 *   OP_DESCRIPTOR(op, forward, vjp, initializer)
 *                           float64: the op's descriptor ag_op_<op>, which
 *                           points at the float32 kernels (.f32); float32:
 *                           those kernels, ag_f32_<op>
 *   PUBLIC(definition)      the public function, in the float64 pass only
 *
 * The float32 pass also stamps the jvp and the recorded derivatives, which
 * no descriptor uses (float32 graphs run forward and backward only). */
#ifdef ELEMENTWISE_FLOAT32
#define OP_RULE(out) ((out)->op->f32->rule)
#define OP_DESCRIPTOR(opname, forward, vjp, ...)                                            \
    const ag_typed_kernels ag_f32_##opname = {{forward, vjp}, &opname##_rule};
#define PUBLIC(...)
#else
#define OP_RULE(out) ((out)->op->rule)
#define OP_DESCRIPTOR(opname, forward, vjp, ...)                                            \
    extern const ag_typed_kernels ag_f32_##opname;                                          \
    const ag_op ag_op_##opname = __VA_ARGS__;
#define PUBLIC(...) __VA_ARGS__
#endif
#define VAL(n) ((real *)(void *)(n)->value)
#define GRD(n) ((real *)(void *)(n)->grad)
#define TAN(n) ((real *)(void *)(n)->tangent)


/* for (size_t k = lo; k < hi; k++) STMT; with a tiny tensor's whole range
 * (at most TINY_ELEMENTS, TestNet's sizes) as straight code, one statement
 * per element, k = hi-1 down to 0. Not the vectorised loop: that loop reads
 * pairs of doubles the previous op has just written one at a time, and the
 * processor cannot forward two pending 8-byte stores to one 16-byte load
 * (a stall of a dozen cycles or so); it also tests for aliasing and for a
 * remainder. Straight code made a TestNet replay step about 10% faster.
 * STMT is one expression statement (no break or continue), and lo and hi
 * are read more than once. */
#define TINY_ELEMENTS 8
#define FOR_ELEMENTS(lo, hi, k, STMT) FOR_ELEMENTS_AS(lo, hi, k, STMT, STMT)
/* the same with a statement of its own for the straight code */
#define FOR_ELEMENTS_AS(lo, hi, k, STRAIGHT, STMT)                                         \
    do {                                                                                   \
        if ((lo) == 0 && (hi) <= TINY_ELEMENTS) {                                          \
            switch (hi) {                                                                  \
            case 8: { const size_t k = 7; STRAIGHT; } /* fall through */                   \
            case 7: { const size_t k = 6; STRAIGHT; } /* fall through */                   \
            case 6: { const size_t k = 5; STRAIGHT; } /* fall through */                   \
            case 5: { const size_t k = 4; STRAIGHT; } /* fall through */                   \
            case 4: { const size_t k = 3; STRAIGHT; } /* fall through */                   \
            case 3: { const size_t k = 2; STRAIGHT; } /* fall through */                   \
            case 2: { const size_t k = 1; STRAIGHT; } /* fall through */                   \
            case 1: { const size_t k = 0; STRAIGHT; } /* fall through */                   \
            default: break;                                                                \
            }                                                                              \
        } else {                                                                           \
            for (size_t k = (lo); k < (hi); k++) STMT;                                     \
        }                                                                                  \
    } while (0)

/* ==== binary ops ============================================================== */

/* loops of one rule over rows [r0, r1) of a 2-d view of a broadcast (see
 * BINARY_LOOPS); the same-shape loops are called directly by each op
 * (BINARY_OP). Row ranges let a large tensor's pass split over the threads. */
typedef void (*binary_forward_loop)(const bcast_view *v, const real *a, const real *b,
                                    real *y, size_t r0, size_t r1);
typedef void (*binary_vjp_loop)(const bcast_view *v, const real *a, const real *b,
                                const real *gy, real *ga, real *gb, size_t r0, size_t r1);

/* what the shared broadcast code needs of a row: its scalar functions (for
 * the element-by-element visit) and its 2-d view loops */
typedef struct binary_rule {
    real (*f)(real a, real b);
    real (*df_da)(real a, real b);
    real (*df_db)(real a, real b);
    binary_forward_loop forward_2d;
    binary_vjp_loop vjp_2d;
    /* the derivatives as nodes (NULL: 1, the gradient passes), for the
     * recorded vjp and jvp */
    ag_node *(*da_nodes)(ag_node *out);
    ag_node *(*db_nodes)(ag_node *out);
} binary_rule;

/* y[r,c] = f(a[r*a_rs + c*a_cs], b[...]) with the operand that does not move
 * along a row read once per row. */
#define BINARY_FORWARD_2D(F)                                                               \
    static void F##_forward_2d(const bcast_view *v, const real *a, const real *b,          \
                               real *restrict y, size_t r0, size_t r1)                     \
    {                                                                                      \
        size_t n = v->cols;                                                                \
        y += r0 * n;                                                                       \
        for (size_t r = r0; r < r1; r++, y += n) {                                         \
            const real *ar = a + r * v->a_rs, *br = b + r * v->b_rs;                       \
            if (v->a_cs && v->b_cs)                                                        \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[c], br[c]);                     \
            else if (v->a_cs)                                                              \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[c], br[0]);                     \
            else if (v->b_cs)                                                              \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[0], br[c]);                     \
            else                                                                           \
                for (size_t c = 0; c < n; c++) y[c] = F(ar[0], br[0]);                     \
        }                                                                                  \
    }

/* g[r*rs + c*cs] += gy[r,c] * D(a, b) for one operand's gradient g; a moving
 * operand (cs 1) is a plain loop, a broadcast one (cs 0) sums along the row
 * into one element, in the same order as the element-by-element visit. */
#define BINARY_GRAD_2D(D)                                                                  \
    static void D##_grad_2d(const bcast_view *v, const real *a, const real *b,             \
                            const real *gy, real *restrict g, size_t rs, size_t cs,        \
                            size_t r0, size_t r1)                                          \
    {                                                                                      \
        size_t n = v->cols;                                                                \
        gy += r0 * n;                                                                      \
        for (size_t r = r0; r < r1; r++, gy += n) {                                        \
            const real *ar = a + r * v->a_rs, *br = b + r * v->b_rs;                       \
            size_t ac = v->a_cs, bc = v->b_cs;                                             \
            real *gr = g + r * rs;                                                         \
            if (cs) {                                                                      \
                for (size_t c = 0; c < n; c++) gr[c] += gy[c] * D(ar[c * ac], br[c * bc]); \
            } else {                                                                       \
                real s = gr[0];                                                            \
                for (size_t c = 0; c < n; c++) s += gy[c] * D(ar[c * ac], br[c * bc]);     \
                gr[0] = s;                                                                 \
            }                                                                              \
        }                                                                                  \
    }

/* same shapes: g[k] += gy[k] * D(a[k], b[k]) for k in [lo, hi) */
#define BINARY_GRAD_FLAT(D)                                                                \
    static ALWAYS_INLINE void D##_flat(const real *a, const real *b, const real *gy,       \
                                       real *restrict g, size_t lo, size_t hi)             \
    {                                                                                      \
        FOR_ELEMENTS(lo, hi, k, g[k] += gy[k] * D(a[k], b[k]));                            \
    }

/* same shapes, elements [lo, hi) of the node ctx: y[k] = F(a[k], b[k]), and
 * g[k] += gy[k] * D(a[k], b[k]) for each operand's gradient in turn (a and b
 * may be one node, so the two gradients are not updated in one loop) */
#define BINARY_FLAT(F, D_A, D_B)                                                           \
    static ALWAYS_INLINE void F##_flat(void *ctx, size_t lo, size_t hi)                    \
    {                                                                                      \
        const ag_node *out = ctx;                                                          \
        const real *a = VAL(out->in[0]), *b = VAL(out->in[1]);                         \
        real *restrict y = VAL(out);                                                     \
        FOR_ELEMENTS(lo, hi, k, y[k] = F(a[k], b[k]));                                     \
    }                                                                                      \
    BINARY_GRAD_FLAT(D_A)                                                                  \
    BINARY_GRAD_FLAT(D_B)                                                                  \
    static ALWAYS_INLINE void F##_flat_vjp(void *ctx, size_t lo, size_t hi)                \
    {                                                                                      \
        const ag_node *out = ctx, *a = out->in[0], *b = out->in[1];                        \
        if (GRD(a)) D_A##_flat(VAL(a), VAL(b), GRD(out), GRD(a), lo, hi);           \
        if (GRD(b)) D_B##_flat(VAL(a), VAL(b), GRD(out), GRD(b), lo, hi);           \
    }

/* every loop of one rule, and the rule's entry for the broadcast code */
#define BINARY_LOOPS(opname)                                                                 \
    BINARY_FLAT(opname##_f, opname##_da, opname##_db)                                            \
    BINARY_FORWARD_2D(opname##_f)                                                            \
    BINARY_GRAD_2D(opname##_da)                                                              \
    BINARY_GRAD_2D(opname##_db)                                                              \
    static void opname##_vjp_2d(const bcast_view *v, const real *a, const real *b,           \
                              const real *gy, real *ga, real *gb, size_t r0, size_t r1)    \
    {                                                                                      \
        if (ga) opname##_da_grad_2d(v, a, b, gy, ga, v->a_rs, v->a_cs, r0, r1);              \
        if (gb) opname##_db_grad_2d(v, a, b, gy, gb, v->b_rs, v->b_cs, r0, r1);              \
    }                                                                                      \
    static const binary_rule opname##_rule = {opname##_f, opname##_da, opname##_db,                \
                                            opname##_f_forward_2d, opname##_vjp_2d,          \
                                            opname##_da_nodes, opname##_db_nodes};

static bool binary_shape(ag_node *out, char *why, size_t len)
{
    return bcast_shape(&out->in[0]->shape, &out->in[1]->shape, &out->shape, why, len);
}

/* Both operands as large as the (broadcast) result: then they have its
 * shape up to leading 1s, and element k of each goes with element k of y. */
static bool same_shape(const ag_node *out)
{
    size_t n = out->shape.size;
    return out->in[0]->shape.size == n && out->in[1]->shape.size == n;
}

/* a broadcast seen as a 2-d view, for the row-range loops */
typedef struct view_job {
    const binary_rule *rule;
    bcast_view view;
    const ag_node *out;
} view_job;

static void view_forward_rows(void *ctx, size_t r0, size_t r1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out;
    job->rule->forward_2d(&job->view, VAL(out->in[0]), VAL(out->in[1]), VAL(out), r0, r1);
}

static void view_vjp_rows(void *ctx, size_t r0, size_t r1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out, *a = out->in[0], *b = out->in[1];
    job->rule->vjp_2d(&job->view, VAL(a), VAL(b), GRD(out), GRD(a), GRD(b), r0, r1);
}

/* A view of one row (a scalar with a tensor) splits by columns: columns
 * [c0, c1) are the same loops on a shorter row starting at c0. */
static bcast_view view_columns(const bcast_view *v, size_t c0, size_t c1)
{
    bcast_view sub = *v;
    sub.cols = c1 - c0;
    return sub;
}

static void view_forward_columns(void *ctx, size_t c0, size_t c1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out;
    const bcast_view *v = &job->view, sub = view_columns(v, c0, c1);
    job->rule->forward_2d(&sub, VAL(out->in[0]) + c0 * v->a_cs, VAL(out->in[1]) + c0 * v->b_cs,
                          VAL(out) + c0, 0, 1);
}

/* only when no gradient sums along the row (each operand with one has cs 1) */
static void view_vjp_columns(void *ctx, size_t c0, size_t c1)
{
    const view_job *job = ctx;
    const ag_node *out = job->out, *a = out->in[0], *b = out->in[1];
    const bcast_view *v = &job->view, sub = view_columns(v, c0, c1);
    job->rule->vjp_2d(&sub, VAL(a) + c0 * v->a_cs, VAL(b) + c0 * v->b_cs, GRD(out) + c0,
                      GRD(a) ? GRD(a) + c0 : NULL, GRD(b) ? GRD(b) + c0 : NULL, 0, 1);
}

/* One operand a single element and the other as large as the result (a
 * constant factor, a comparison with 0: the recorded derivatives' common
 * case), on a tensor too small to split over the threads: the element k of
 * the other goes with y[k], so a plain loop does what the broadcast plan
 * would, in the same order. 0 when neither is, else which one (1: a, 2: b). */
static int lone_scalar_operand(const ag_node *out)
{
    size_t n = out->shape.size;
    if (n >= AG_PARALLEL_RANGE_MIN) return 0;
    if (out->in[0]->shape.size == 1 && out->in[1]->shape.size == n) return 1;
    if (out->in[1]->shape.size == 1 && out->in[0]->shape.size == n) return 2;
    return 0;
}

/* the broadcast cases (each op handles same shapes itself, BINARY_OP) */
static bool binary_forward(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const binary_rule *r = OP_RULE(out);
    const real *a = VAL(out->in[0]), *b = VAL(out->in[1]);
    real *y = VAL(out);
    int scalar = lone_scalar_operand(out);
    if (scalar) {
        for (size_t k = 0; k < out->shape.size; k++)
            y[k] = r->f(scalar == 1 ? a[0] : a[k], scalar == 2 ? b[0] : b[k]);
        return true;
    }
    bcast_plan plan;
    view_job job = {.rule = r, .out = out};
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    if (bcast_view_make(&plan, &job.view)) {
        if (job.view.rows == 1)
            AG_PARALLEL_RANGE(job.view.cols, 1, view_forward_columns, &job);
        else
            AG_PARALLEL_RANGE(job.view.rows, job.view.cols, view_forward_rows, &job);
        return true;
    }
    BCAST_FOR_EACH(&plan, k, ia, ib, { y[k] = r->f(a[ia], b[ib]); });
    return true;
}

static void binary_vjp(ag_node *out)
{
    const binary_rule *r = OP_RULE(out);
    const real *a = VAL(out->in[0]), *b = VAL(out->in[1]), *gy = GRD(out);
    real *ga = GRD(out->in[0]), *gb = GRD(out->in[1]);
    bcast_plan plan;
    view_job job = {.rule = r, .out = out};
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    if (bcast_view_make(&plan, &job.view)) {
        const bcast_view *v = &job.view;
        /* rows (columns of a one-row view) may go to different threads only
         * if no gradient sums over them: an operand repeated down the rows
         * (rs 0) sums its column, one repeated along a row (cs 0) its row */
        if (v->rows == 1 && (!ga || v->a_cs) && (!gb || v->b_cs))
            AG_PARALLEL_RANGE(v->cols, 1, view_vjp_columns, &job);
        else if (v->rows > 1 && (!ga || v->a_rs) && (!gb || v->b_rs))
            AG_PARALLEL_RANGE(v->rows, v->cols, view_vjp_rows, &job);
        else
            view_vjp_rows(&job, 0, v->rows);
        return;
    }
    BCAST_FOR_EACH(&plan, k, ia, ib, {
        if (ga) ga[ia] += gy[k] * r->df_da(a[ia], b[ib]);
        if (gb) gb[ib] += gy[k] * r->df_db(a[ia], b[ib]);
    });
}

static void binary_jvp(ag_node *out)
{
    const binary_rule *r = OP_RULE(out);
    const real *a = VAL(out->in[0]), *b = VAL(out->in[1]);
    const real *ta = TAN(out->in[0]), *tb = TAN(out->in[1]);
    real *ty = TAN(out);
    int scalar = same_shape(out) ? 3 : lone_scalar_operand(out);
    if (scalar) { /* element k of each, or element 0 of the lone scalar */
        for (size_t k = 0; k < out->shape.size; k++) {
            size_t ia = scalar == 1 ? 0 : k, ib = scalar == 2 ? 0 : k;
            real t = 0.0;
            if (ta) t += r->df_da(a[ia], b[ib]) * ta[ia];
            if (tb) t += r->df_db(a[ia], b[ib]) * tb[ib];
            ty[k] = t;
        }
        return;
    }
    bcast_plan plan;
    bcast_plan_make(&plan, &out->in[0]->shape, &out->in[1]->shape, &out->shape);
    BCAST_FOR_EACH(&plan, k, ia, ib, {
        real t = 0.0;
        if (ta) t += r->df_da(a[ia], b[ib]) * ta[ia];
        if (tb) t += r->df_db(a[ia], b[ib]) * tb[ib];
        ty[k] = t;
    });
}

/* Recorded: ga = sum_to(gy * df/da, a's shape), and b's alike; ty = df/da ta +
 * df/db tb, broadcast to y's shape (a NULL derivative node is 1). */
static ag_node *times_derivative(ag_node *x, ag_node *derivative)
{
    return derivative ? ag_rec_times(derivative, x) : x;
}

static bool binary_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    const binary_rule *r = OP_RULE(out);
    ag_node *(*const derivative[2])(ag_node *) = {r->da_nodes, r->db_nodes};
    for (int k = 0; k < 2; k++) {
        if (!ag_rec_takes_grad(out, k)) continue;
        ag_node *d = derivative[k](out);
        gx[k] = ag_rec_sum_to(times_derivative(gy, d), &out->in[k]->shape);
    }
    return !out->graph->failed;
}

static ag_node *binary_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    const binary_rule *r = OP_RULE(out);
    ag_node *ty = NULL;
    if (tx[0]) ty = times_derivative(tx[0], r->da_nodes(out));
    if (tx[1]) ty = ag_rec_add(ty, times_derivative(tx[1], r->db_nodes(out)));
    ty = ag_rec_expand_to(ty, &out->shape);
    return out->graph->failed ? NULL : ty;
}

/* Each op's own forward and vjp take same-shape operands straight to its
 * loops (no call through the rule: on tiny tensors the call costs more than
 * the loop); broadcasts go through the shared code above. */
#define BINARY_FORWARD(opname)                                                             \
    static bool opname##_forward(ag_node *out, char *why, size_t len)                      \
    {                                                                                      \
        if (!same_shape(out)) return binary_forward(out, why, len);                        \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_f_flat, out);                       \
        return true;                                                                       \
    }
#define BINARY_OP(opname, sym)                                                             \
    BINARY_FORWARD(opname)                                                                 \
    static void opname##_vjp(ag_node *out)                                                 \
    {                                                                                      \
        if (same_shape(out))                                                               \
            AG_PARALLEL_RANGE(out->shape.size, 1, opname##_f_flat_vjp, out);               \
        else                                                                               \
            binary_vjp(out);                                                               \
    }                                                                                      \
    OP_DESCRIPTOR(opname, opname##_forward, opname##_vjp,                                  \
                  {.name = #opname, .arity = 2, .symbol = sym,                             \
                   .shape = binary_shape, .kernels = {opname##_forward,                    \
                   opname##_vjp}, .jvp = binary_jvp,                                       \
                   .vjp_nodes = binary_vjp_nodes,                                          \
                   .jvp_nodes = binary_jvp_nodes, .rule = &opname##_rule,                  \
                   .f32 = &ag_f32_##opname})                                               \
    PUBLIC(ag_node *ag_##opname(ag_node *a, ag_node *b) { return ag_record2(&ag_op_##opname, a, b, NULL); })

/* A comparison: a forward only. With no vjp its node takes no gradient
 * (ag_record gives it no gradient buffer) and with no jvp no tangent. */
#define COMPARE_OP(opname, sym)                                                            \
    BINARY_FORWARD(opname)                                                                 \
    OP_DESCRIPTOR(opname, opname##_forward, NULL,                                          \
                  {.name = #opname, .arity = 2, .symbol = sym,                             \
                   .shape = binary_shape, .kernels = {opname##_forward, NULL},             \
                   .rule = &opname##_rule, .f32 = &ag_f32_##opname})                       \
    PUBLIC(ag_node *ag_##opname(ag_node *a, ag_node *b) { return ag_record2(&ag_op_##opname, a, b, NULL); })

/* ==== unary ops ================================================================ */

/* dy/dx as nodes, for the recorded vjp (gx = gy dy/dx) and jvp (ty = dy/dx tx) */
typedef struct unary_rule {
    ag_node *(*d_nodes)(ag_node *out);
} unary_rule;

static bool unary_vjp_nodes(ag_node *out, ag_node *gy, ag_node **gx)
{
    const unary_rule *r = OP_RULE(out);
    gx[0] = ag_rec_times(r->d_nodes(out), gy);
    return gx[0] != NULL;
}

static ag_node *unary_jvp_nodes(ag_node *out, ag_node *const *tx)
{
    const unary_rule *r = OP_RULE(out);
    return ag_mul(r->d_nodes(out), tx[0]);
}

/* The typed parameters of an op without any: never read (its rules do not
 * mention P, and its node's params pointer is NULL). */
typedef struct no_params no_params;

static bool unary_shape(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    out->shape = out->in[0]->shape;
    return true;
}

/* Each loop runs over a range of elements [lo, hi) of the node `ctx`, so a
 * large tensor's pass is split over the kernel threads (AG_PARALLEL_RANGE);
 * a tiny tensor's straight code applies opname##_tiny_f and opname##_tiny_df.
 * P is the node's typed parameters (PT, the op's params struct). */
#define UNARY_LOOPS(opname, PT)                                                              \
    static ALWAYS_INLINE void opname##_forward_range(void *ctx, size_t lo, size_t hi)        \
    {                                                                                      \
        const ag_node *out = ctx;                                                          \
        const real *x = VAL(out->in[0]);                                                 \
        const PT *P = out->params;                                                         \
        real *restrict y = VAL(out);                                                     \
        FOR_ELEMENTS_AS(lo, hi, k, y[k] = opname##_tiny_f(x[k], P), y[k] = opname##_f(x[k], P)); \
    }                                                                                      \
    static ALWAYS_INLINE void opname##_vjp_range(void *ctx, size_t lo, size_t hi)            \
    {                                                                                      \
        const ag_node *out = ctx;                                                          \
        const real *x = VAL(out->in[0]), *y = VAL(out), *gy = GRD(out);               \
        const PT *P = out->params;                                                         \
        real *restrict gx = GRD(out->in[0]);                                              \
        FOR_ELEMENTS_AS(lo, hi, k, gx[k] += gy[k] * opname##_tiny_df(x[k], y[k], P),         \
                        gx[k] += gy[k] * opname##_df(x[k], y[k], P));                        \
    }                                                                                      \
    static bool opname##_forward(ag_node *out, char *why, size_t len)                        \
    {                                                                                      \
        (void)why, (void)len;                                                              \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_forward_range, out);                  \
        return true;                                                                       \
    }                                                                                      \
    static void opname##_vjp(ag_node *out)                                                   \
    {                                                                                      \
        AG_PARALLEL_RANGE(out->shape.size, 1, opname##_vjp_range, out);                      \
    }                                                                                      \
    /* ty = dy/dx tx, and 0 where x has no tangent */                                     \
    static void opname##_jvp(ag_node *out)                                                   \
    {                                                                                      \
        const real *x = VAL(out->in[0]), *y = VAL(out), *tx = TAN(out->in[0]);     \
        const PT *P = out->params;                                                         \
        for (size_t k = 0; k < out->shape.size; k++)                                       \
            TAN(out)[k] = tx ? opname##_df(x[k], y[k], P) * tx[k] : 0.0;                 \
    }

/* the rule's scalar functions: y = f(x; P), dy/dx (x, y; P), and the two
 * again in the form for tiny tensors */
#define UNARY_RULE(opname, PT, F, DF, F_TINY, DF_TINY)                                       \
    static inline real opname##_f(real x, const PT *P) { (void)P; return F; }                \
    static inline real opname##_df(real x, real y, const PT *P)                              \
    {                                                                                      \
        (void)x, (void)y, (void)P;                                                         \
        return DF;                                                                         \
    }                                                                                      \
    static inline real opname##_tiny_f(real x, const PT *P) { (void)P; return F_TINY; }      \
    static inline real opname##_tiny_df(real x, real y, const PT *P)                         \
    {                                                                                      \
        (void)x, (void)y, (void)P;                                                         \
        return DF_TINY;                                                                    \
    }

/* dy/dx as nodes (the table's fourth column), for the recorded vjp and jvp */
#define UNARY_NODES(opname, PT, D_NODES)                                                     \
    static ag_node *opname##_d_nodes(ag_node *out)                                         \
    {                                                                                      \
        const PT *P = out->params;                                                         \
        (void)P;                                                                           \
        return D_NODES;                                                                    \
    }                                                                                      \
    static const unary_rule opname##_rule = {opname##_d_nodes};

#define UNARY_DESCRIPTOR(opname, params_bytes, print, shape_rule)                            \
    OP_DESCRIPTOR(opname, opname##_forward, opname##_vjp,                                    \
                  {.name = #opname, .arity = 1, .params_size = params_bytes,                 \
                   .print_params = print, .shape = shape_rule,                               \
                   .kernels = {opname##_forward, opname##_vjp},                              \
                   .jvp = opname##_jvp, .vjp_nodes = unary_vjp_nodes,                        \
                   .jvp_nodes = unary_jvp_nodes, .rule = &opname##_rule,                     \
                   .f32 = &ag_f32_##opname})

/* a row of the table without parameters, with its public function ag_<name>(a) */
#define UNARY_TINY(opname, F, DF, D_NODES, F_TINY, DF_TINY)                                  \
    UNARY_RULE(opname, no_params, F, DF, F_TINY, DF_TINY)                                    \
    UNARY_LOOPS(opname, no_params)                                                           \
    UNARY_NODES(opname, no_params, D_NODES)                                                  \
    UNARY_DESCRIPTOR(opname, 0, NULL, unary_shape)                                           \
    PUBLIC(ag_node *ag_##opname(ag_node *a) { return ag_record1(&ag_op_##opname, a, NULL); })
#define UNARY(opname, F, DF, D_NODES) UNARY_TINY(opname, F, DF, D_NODES, F, DF)

/* a row with typed parameters PT: its shape rule checks them first
 * (opname##_check_params); the public function is written by hand below */
#define UNARY_P(opname, PT, F, DF, D_NODES)                                                  \
    UNARY_RULE(opname, PT, F, DF, F, DF)                                                     \
    UNARY_LOOPS(opname, PT)                                                                  \
    UNARY_NODES(opname, PT, D_NODES)                                                         \
    static bool opname##_shape(ag_node *out, char *why, size_t len)                          \
    {                                                                                      \
        return opname##_check_params(out->params, why, len) && unary_shape(out, why, len);   \
    }                                                                                      \
    UNARY_DESCRIPTOR(opname, sizeof(PT), opname##_print_params, opname##_shape)

/* with one row for each rule, as binary ops */
#define BINARY_RULE(opname, F, DF_DA, DF_DB, DA_NODES, DB_NODES)                             \
    static inline real opname##_f(real a, real b) { return F; }                              \
    static inline real opname##_da(real a, real b) { (void)a, (void)b; return DF_DA; }       \
    static inline real opname##_db(real a, real b) { (void)a, (void)b; return DF_DB; }       \
    static ag_node *opname##_da_nodes(ag_node *out) { (void)out; return DA_NODES; }          \
    static ag_node *opname##_db_nodes(ag_node *out) { (void)out; return DB_NODES; }
#define BINARY(opname, symbol, F, DF_DA, DF_DB, DA_NODES, DB_NODES)                          \
    BINARY_RULE(opname, F, DF_DA, DF_DB, DA_NODES, DB_NODES)                                 \
    BINARY_LOOPS(opname)                                                                     \
    BINARY_OP(opname, symbol)
/* a comparison's derivatives are zero; the loops that would use them are
 * stamped all the same (the 2-d view's forward shares them) */
#define COMPARE(opname, symbol, F)                                                           \
    BINARY_RULE(opname, F, 0.0, 0.0, NULL, NULL)                                             \
    BINARY_LOOPS(opname)                                                                     \
    COMPARE_OP(opname, symbol)

/* the nodes of the "as nodes" column: the operands, the output, a constant */
#define X (out->in[0])
#define Y (out)
#define A (out->in[0])
#define B (out->in[1])
#define K(c) ag_rec_scalar(out->graph, (c))
#define PASS NULL

/* ==== the ops ==================================================================== */

#include "elementwise_rules.h"

#undef X
#undef Y
#undef A
#undef B
#undef K
#undef PASS

#undef VAL
#undef GRD
#undef TAN
