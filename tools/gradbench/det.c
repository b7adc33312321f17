/* det.c -- GradBench's det eval (evals/det/README.md): cmpad's determinant
 * of A [ell, ell] by expansion by minors, and its gradient by agrad's
 * reverse mode.
 *
 * The recursion (cpp/gradbench/evals/det.hpp) expands a minor along its
 * first row r: with the minor's columns c_0 < c_1 < ... < c_{m-1} (m = ell - r),
 *   det M = sum_{j=0}^{m-1} (-1)^j A[r, c_j] det M_j,   summed j = 0, 1, ...,
 * M_j the minor without row r and column c_j, and a 1x1 minor is its entry.
 * Every call is reached by an ordered choice of columns for rows 0..r-1 (a
 * prefix); the recursion memoises nothing, so row r holds
 * ell!/(ell-r)! minors, one per prefix. Written as a scalar graph that is
 * e ell! nodes (1e8 at ell = 11); here each row is one vector step instead,
 * performing the same products and the same sums in the same order:
 *   D_{ell-1}[p] = A[ell-1, the column p leaves]           prefixes p of ell-1
 *   D_r[p]       = sum_j G_r[p, j] * D_{r+1}[p, j]        prefixes p of r
 *   G_r[p, j]    = (-1)^j A[r, c_j(p)]                     (the sign folded in:
 *                  (-x) y = -(x y) exactly, so the sum rounds as the recursion's)
 *   det A        = D_0.
 * D_{r+1}[p, j] is the prefix p extended by its j-th free column; in
 * lexicographic order of the choices (the j-th free column as digit j) those
 * children are adjacent, so the sum is over the last axis.
 *
 * Layout. A tensor over prefixes of length len is [P_q, m_q, ..., m_{len-1}]:
 * the first q choices flattened (P_q = ell!/(ell-q)! of them, lexicographic)
 * and the last k = len - q choices as axes of m_i = ell - i entries (k <= 3,
 * AG_MAX_DIMS = 4). Summing the last axis drops one of them, so a reshape
 * (a copy) comes only every third row, on ell!/24 entries at most. The
 * gathers are tables: G_r's entries
 * depend on the prefix only through the set of its first q columns and its
 * last k digits, so
 *   T_r[s, d_q.., d_r] = the entry for the set s and those digits (small),
 *   G_r = index_select(T_r, 0, set_of[p])   [P_q, m_q, ..., m_r]
 * with one index per P_q prefix, not one per entry: the index tensors stay
 * small (ell!/24 at most) and only values and gradients are ell! long.
 * Recorded at ell = 11: 3.25 GiB for the gradient (~85 bytes per ell!),
 * 1.66 GiB for the primal. (The manual tool's recursion is compiled with FMA
 * contraction, so its primal can differ from this one in the last bit.) */
#include "gradbench.h"

#include <stdlib.h>

#define DET_MAX_ELL 11 /* ell = 12 would record ~40 GB */

typedef struct det_step {
    int len, q;                   /* the tensor's prefixes and flattened choices */
    ag_tensor *entries;           /* [n_sets * m_q * ... * m_{len-1}]: where T's entries are in S */
    int table_shape[AG_MAX_DIMS]; /* T: [n_sets, m_q, ..., m_{len-1}] */
} det_step;

typedef struct det_data {
    int ell;
    ag_tensor *set_of[DET_MAX_ELL]; /* [P_q]: the id of prefix p's column set, by q */
    det_step base, rows[DET_MAX_ELL]; /* rows[r] for r < ell - 1 */
} det_data;

static void free_data(void *data)
{
    det_data *d = data;
    if (!d)
        return;
    for (int i = 0; i < DET_MAX_ELL; i++) {
        ag_tensor_free(d->set_of[i]);
        ag_tensor_free(d->rows[i].entries);
    }
    ag_tensor_free(d->base.entries);
    free(d);
}

/* ell! / (ell - q)!: the ordered choices of q columns */
static size_t prefixes(int ell, int q)
{
    size_t p = 1;
    for (int i = 0; i < q; i++) p *= (size_t)(ell - i);
    return p;
}

/* the column sets of q columns, numbered in increasing bit-mask order */
static int number_sets(int ell, int q, int *id_of_mask)
{
    int n = 0;
    for (int mask = 0; mask < 1 << ell; mask++)
        id_of_mask[mask] = __builtin_popcount((unsigned)mask) == q ? n++ : -1;
    return n;
}

/* the free column of rank j (0-based) among those not in used */
static int free_column(int used, int j)
{
    for (int c = 0;; c++)
        if (!(used >> c & 1) && j-- == 0)
            return c;
}

/* set_of[p] for every prefix of length q, lexicographic: writes from *at */
static void fill_set_ids(int ell, int q, int used, int depth, const int *id_of_mask, double *out, size_t *at)
{
    if (depth == q) {
        out[(*at)++] = id_of_mask[used];
        return;
    }
    for (int j = 0; j < ell - depth; j++)
        fill_set_ids(ell, q, used | 1 << free_column(used, j), depth + 1, id_of_mask, out, at);
}

/* The position in S = [A, -A] flattened, [2 ell^2], of A[r, c] (2 ell r + c)
 * or of -A[r, c] (2 ell r + ell + c), as a double: index tensors hold doubles. */
static double signed_index(int ell, int row, int column, bool negative)
{
    return 2.0 * ell * row + (negative ? ell : 0) + column;
}

/* T's entries for one set (used) and digits d_depth .. d_{len-1}, in order:
 * the step of row len - 1 takes (-1)^j A[row, c_j], the base A[ell-1, the
 * column left] */
static void fill_entries(const det_data *d, const det_step *s, bool base, int used, int depth, double *out,
                         size_t *at)
{
    for (int j = 0; j < d->ell - depth; j++) {
        int c = free_column(used, j);
        if (depth + 1 < s->len)
            fill_entries(d, s, base, used | 1 << c, depth + 1, out, at);
        else if (base)
            out[(*at)++] = signed_index(d->ell, d->ell - 1, free_column(used | 1 << c, 0), false);
        else
            out[(*at)++] = signed_index(d->ell, depth, c, j % 2 == 1);
    }
}

/* the tables of a step over prefixes of length len with q flattened */
static bool plan_step(det_data *d, det_step *s, bool base, int len, int q, int *id_of_mask)
{
    s->len = len;
    s->q = q;
    int n_sets = number_sets(d->ell, q, id_of_mask);
    size_t per_set = prefixes(d->ell - q, len - q);
    s->table_shape[0] = n_sets;
    for (int i = q; i < len; i++) s->table_shape[1 + i - q] = d->ell - i;
    int n = (int)(n_sets * per_set);
    s->entries = ag_tensor_zeros(1, &n);
    if (!s->entries)
        return false;
    double *out = ag_tensor_data(s->entries);
    size_t at = 0;
    for (int mask = 0; mask < 1 << d->ell; mask++)
        if (id_of_mask[mask] >= 0)
            fill_entries(d, s, base, mask, q, out, &at);
    if (!d->set_of[q]) {
        int p = (int)prefixes(d->ell, q);
        d->set_of[q] = ag_tensor_zeros(1, &p);
        if (!d->set_of[q])
            return false;
        size_t k = 0;
        fill_set_ids(d->ell, q, 0, 0, id_of_mask, ag_tensor_data(d->set_of[q]), &k);
    }
    return true;
}

/* at most 3 choices as axes: q = len - min(3, len) */
static int flattened(int len) { return len > 3 ? len - 3 : 0; }

/* The plan: the base over prefixes of ell - 1, then rows ell-2 .. 0, each
 * on its D_{r+1}'s layout; summing drops the last axis, and when none is
 * left (len = q) D_r is reshaped to the full layout again. */
static bool plan(det_data *d)
{
    int *id_of_mask = malloc(sizeof(int) << d->ell);
    bool ok = id_of_mask != NULL;
    int len = d->ell - 1, q = flattened(len);
    ok = ok && plan_step(d, &d->base, true, len, q, id_of_mask);
    for (int r = d->ell - 2; ok && r >= 0; r--) {
        ok = plan_step(d, &d->rows[r], false, r + 1, q, id_of_mask);
        if (r == q)
            q = flattened(r);
    }
    free(id_of_mask);
    return ok;
}

/* a step's gather: index_select(T, 0, set_of[p]) with T = S[entries],
 * [P_q, m_q, ..., m_{len-1}] */
static ag_node *gather_step(ag_graph *g, const det_data *d, const det_step *s, ag_node *signed_a)
{
    ag_node *table = ag_reshape(ag_index_select(signed_a, 0, ag_input(g, s->entries)), 1 + s->len - s->q,
                                s->table_shape);
    return ag_index_select(table, 0, ag_input(g, d->set_of[s->q]));
}

/* the layout of a step, [P_q, m_q, ..., m_{len-1}] */
static int layout(const det_data *d, int len, int q, int *dims)
{
    dims[0] = (int)prefixes(d->ell, q);
    for (int i = q; i < len; i++) dims[1 + i - q] = d->ell - i;
    return 1 + len - q;
}

/* A: [ell, ell] -> det A: [1] */
static bool build_det(gb_objective *o, ag_graph *g, gb_error *err)
{
    (void)err;
    det_data *d = o->data;
    ag_node *a = ag_param(g, o->params[0]);
    if (d->ell == 1) {
        o->root = ag_reshape(a, 1, (int[]){1});
        return o->root != NULL;
    }
    ag_node *both[2] = {a, ag_neg(a)};
    ag_node *signed_a = ag_reshape(ag_concat(2, both, 1), 1, (int[]){2 * d->ell * d->ell}); /* S */
    ag_node *det = gather_step(g, d, &d->base, signed_a);                                 /* D_{ell-1} */
    for (int r = d->ell - 2; r >= 0; r--) {
        const det_step *s = &d->rows[r];
        int dims[AG_MAX_DIMS];
        if (ag_node_ndim(det) == 1) /* no axis left: the full layout again */
            det = ag_reshape(det, layout(d, s->len, s->q, dims), dims);
        det = ag_sum_axis(ag_mul(gather_step(g, d, s, signed_a), det), -1); /* D_r */
    }
    o->root = det; /* [1] */
    return o->root != NULL;
}

static bool prepare(const json_t *input, int variant, gb_program *p, gb_error *err)
{
    double *a;
    size_t n;
    long ell;
    if (!gb_get_vector(input, "A", &a, &n, err))
        return false;
    bool ok = gb_get_int(input, "ell", &ell, err);
    if (ok && (ell < 1 || ell > DET_MAX_ELL))
        ok = gb_fail(err, "det: \"ell\" is %ld (1 to %d: expansion by minors records ~80 ell! bytes)", ell,
                     DET_MAX_ELL);
    if (ok && n != (size_t)(ell * ell))
        ok = gb_fail(err, "det: \"A\" has %zu elements, not ell^2 = %ld", n, ell * ell);
    gb_objective *o = ok ? gb_objective_with_data(sizeof(det_data), free_data, err) : NULL;
    det_data *d = o ? o->data : NULL;
    if (d) {
        d->ell = (int)ell;
        int shape[2] = {(int)ell, (int)ell};
        ag_tensor *t = gb_objective_param(o, 2, shape, a, err);
        ok = t != NULL;
        ok = ok && (d->ell == 1 || plan(d) || gb_fail(err, "det: out of memory"));
    }
    free(a);
    if (!ok || !d) {
        gb_objective_free(o);
        return false; /* err is set */
    }
    o->build = build_det;
    o->gradient = variant == GB_GRADIENT;
    return gb_objective_program(o, p, err);
}

static const gb_function functions[] = {{"primal", prepare, GB_PRIMAL}, {"gradient", prepare, GB_GRADIENT}};
const gb_eval gb_eval_det = {"det", functions, 2};
