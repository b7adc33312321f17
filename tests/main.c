/* main.c -- runs every Check suite and prints Check's summary line. */
#include <stdlib.h>

#include "helpers.h"

int main(void)
{
    SRunner *runner = srunner_create(tensor_suite());
    srunner_add_suite(runner, ops_forward_suite());
    srunner_add_suite(runner, gradient_suite());
    srunner_add_suite(runner, graph_suite());
    srunner_add_suite(runner, testnet_suite());
    srunner_add_suite(runner, errors_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
