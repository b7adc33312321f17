/* main.c -- runs every Check suite and prints Check's summary line. */
#include <stdlib.h>

#include "helpers.h"

int main(void)
{
    /* the passes split over the kernel threads must run split even on a
     * one-CPU runner; 3 threads also give pieces of unequal size. An
     * AG_NUM_THREADS set by the caller wins. */
    setenv("AG_NUM_THREADS", "3", 0);
    SRunner *runner = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(runner, name##_suite());
#include "suites.def"
#undef SUITE
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
