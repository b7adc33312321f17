/* saddle.c -- GradBench's saddle eval (evals/saddle/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_saddle = {"saddle", NULL, 0};
