/* lstm.c -- GradBench's lstm eval (evals/lstm/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_lstm = {"lstm", NULL, 0};
