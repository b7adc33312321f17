/* det.c -- GradBench's det eval (evals/det/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_det = {"det", NULL, 0};
