/* gmm.c -- GradBench's gmm eval (evals/gmm/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_gmm = {"gmm", NULL, 0};
