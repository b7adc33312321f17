/* ode.c -- GradBench's ode eval (evals/ode/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_ode = {"ode", NULL, 0};
