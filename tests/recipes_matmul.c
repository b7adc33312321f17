/* recipes_matmul.c -- the test recipe for matmul in each of torch.matmul's
 * forms (see recipes.c for the shared helpers and the rules a recipe
 * follows). linear's recipe (2-d only) stays in recipes.c. */
#include "helpers.h"

/* A batch dim of the result, and whether each operand has it at full size
 * (else 1, or absent: broadcast). At least one operand has each at full size
 * unless both are 1. */
static void draw_batch_dims(test_rng *r, int n, int *a, int *b)
{
    for (int d = 0; d < n; d++) {
        int size = rng_int(r, 1, 3), who = rng_int(r, 0, 2); /* 0: both, 1: a only, 2: b only */
        a[d] = who == 2 ? 1 : size;
        b[d] = who == 1 ? 1 : size;
    }
}

/* Operand shapes for one form (see matmul_forms in helpers.h); M, K, N in
 * 1..4 or 1..5 (1 included: rows and columns of one), larger where the
 * product is to run on ag_gemm (over 512 multiply-adds per matrix). */
static void form_shapes(test_rng *r, int form, int *nd_a, int a[4], int *nd_b, int b[4])
{
    bool large = form == MATMUL_FORM_LARGE || form == MATMUL_FORM_BATCHED_LARGE;
    int M = large ? rng_int(r, 9, 12) : rng_int(r, 1, 4), K = large ? rng_int(r, 7, 9) : rng_int(r, 1, 5);
    int N = large ? rng_int(r, 9, 12) : rng_int(r, 1, 4);
    int ba[2] = {1, 1}, bb[2] = {1, 1}, n_batch = 0;
    switch (form) {
    case MATMUL_FORM_MATRICES:
    case MATMUL_FORM_LARGE: /* [M,K] @ [K,N] */
        break;
    case MATMUL_FORM_ROW_VECTOR: /* [K] @ [K,N] -> [N] */
        *nd_a = 1, a[0] = K, *nd_b = 2, b[0] = K, b[1] = N;
        return;
    case MATMUL_FORM_COLUMN_VECTOR: /* [M,K] @ [K] -> [M] */
        *nd_a = 2, a[0] = M, a[1] = K, *nd_b = 1, b[0] = K;
        return;
    case MATMUL_FORM_DOT: /* [K] @ [K] -> [] */
        *nd_a = 1, a[0] = K, *nd_b = 1, b[0] = K;
        return;
    case MATMUL_FORM_BATCHED_VECTOR: { /* [K] @ [..., K,N] or [..., M,K] @ [K] */
        int batch[2], nb = rng_int(r, 1, 2);
        for (int d = 0; d < nb; d++) batch[d] = rng_int(r, 1, 3);
        bool left = rng_int(r, 0, 1) == 0;
        int *v = left ? a : b, *m = left ? b : a, *nd_v = left ? nd_a : nd_b, *nd_m = left ? nd_b : nd_a;
        *nd_v = 1, v[0] = K;
        *nd_m = nb + 2;
        for (int d = 0; d < nb; d++) m[d] = batch[d];
        m[nb] = left ? K : M, m[nb + 1] = left ? N : K;
        return;
    }
    case MATMUL_FORM_BATCHED:       /* 3-d and 4-d, batch dims broadcasting */
    case MATMUL_FORM_BATCHED_LARGE: /* [B,M,K] @ [K,N] and alike, on ag_gemm */
        n_batch = form == MATMUL_FORM_BATCHED_LARGE ? 1 : rng_int(r, 1, 2);
        draw_batch_dims(r, n_batch, ba, bb);
        break;
    }
    /* a: its batch dims (some dropped when they are 1 and lead: [1,M,K] may
     * be [M,K]), then [M,K]; b likewise with [K,N] */
    int keep_a = n_batch, keep_b = n_batch;
    while (keep_a > 0 && ba[n_batch - keep_a] == 1 && rng_int(r, 0, 1)) keep_a--;
    while (keep_b > 0 && bb[n_batch - keep_b] == 1 && rng_int(r, 0, 1)) keep_b--;
    *nd_a = keep_a + 2, *nd_b = keep_b + 2;
    for (int d = 0; d < keep_a; d++) a[d] = ba[n_batch - keep_a + d];
    for (int d = 0; d < keep_b; d++) b[d] = bb[n_batch - keep_b + d];
    a[keep_a] = M, a[keep_a + 1] = K;
    b[keep_b] = K, b[keep_b + 1] = N;
}

bool matmul_form_case(ag_graph *g, test_rng *r, op_case *c, int form)
{
    int nd_a = 0, a[4] = {0}, nd_b = 0, b[4] = {0};
    form_shapes(r, form, &nd_a, a, &nd_b, b);
    ag_node *x = add_param(g, c, random_param(r, nd_a, a, -2.0, 2.0, false));
    ag_node *y = add_param(g, c, random_param(r, nd_b, b, -2.0, 2.0, false));
    c->out = ag_matmul(x, y);
    return c->out != NULL;
}

/* Two draws in five are two matrices (one of them over the small-product
 * limit), the rest a vector form or a batch. */
static bool matmul_recipe(ag_graph *g, test_rng *r, op_case *c)
{
    static const int forms[] = {MATMUL_FORM_MATRICES,      MATMUL_FORM_MATRICES,  MATMUL_FORM_LARGE,
                                MATMUL_FORM_ROW_VECTOR,    MATMUL_FORM_COLUMN_VECTOR,
                                MATMUL_FORM_DOT,           MATMUL_FORM_BATCHED,   MATMUL_FORM_BATCHED,
                                MATMUL_FORM_BATCHED_VECTOR, MATMUL_FORM_BATCHED_LARGE};
    return matmul_form_case(g, r, c, forms[rng_int(r, 0, (int)(sizeof forms / sizeof forms[0]) - 1)]);
}

static const recipe_entry recipes[] = {
    {"matmul", matmul_recipe},
    {NULL, NULL},
};

op_recipe recipe_for_matmul(const char *name) { return recipe_in(recipes, name); }

/* matmul's and linear's NaN/Inf cases, 2-d and batched, are in
 * test_gradients.c (product_specials, batched_product_specials). */
