/* test_gradients.c -- every op in the registry: vjp against central finite
 * differences, per element and signed, on random seeded shapes and values. */
#include <math.h>

#include "helpers.h"

#define TRIALS_PER_OP 12

START_TEST(every_op_has_a_recipe)
{
    for (size_t i = 0; i < registry_size(); i++)
        ck_assert_msg(recipe_for(registry_name(i)) != NULL,
                      "op '%s' has no test recipe in tests/recipes.c", registry_name(i));
}
END_TEST

/* _i is the op's index in the registry (a loop test) */
START_TEST(vjp_matches_finite_differences)
{
    const char *name = registry_name((size_t)_i);
    op_recipe recipe = recipe_for(name);
    ck_assert(recipe != NULL);
    test_rng r = {0x5eed0000u + (uint64_t)_i};
    for (int trial = 0; trial < TRIALS_PER_OP; trial++) {
        ag_graph *g = ag_graph_new();
        op_case c = {0};
        ck_assert_msg(recipe(g, &r, &c), "%s: %s", name, ag_graph_error(g));
        assert_vjp_matches_fd(g, &c, &r, name);
        op_case_free(&c);
        ag_graph_free(g);
    }
}
END_TEST

Suite *gradient_suite(void)
{
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("vjp vs finite differences");
    tcase_add_test(tc, every_op_has_a_recipe);
    tcase_add_loop_test(tc, vjp_matches_finite_differences, 0, (int)registry_size());
    suite_add_tcase(s, tc);
    return s;
}
