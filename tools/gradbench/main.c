/* main.c -- agrad-gradbench: agrad as a GradBench tool.
 *   agrad-gradbench            replay mode: each function is recorded once,
 *                              untimed, and every timed run replays it
 *   agrad-gradbench --rebuild  define-by-run: every timed run records anew
 * Reads GradBench messages on stdin, answers on stdout (gradbench.h). */
#include "gradbench.h"

#include <string.h>

int main(int argc, char **argv)
{
    gb_mode mode = GB_REPLAY;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rebuild") == 0) {
            mode = GB_REBUILD;
        } else if (strcmp(argv[i], "--replay") == 0) {
            mode = GB_REPLAY;
        } else {
            fprintf(stderr, "usage: %s [--replay | --rebuild]  (GradBench messages on stdin)\n", argv[0]);
            return 2;
        }
    }
    return gb_serve(stdin, stdout, mode);
}
