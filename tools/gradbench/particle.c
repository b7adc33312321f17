/* particle.c -- GradBench's particle eval (evals/particle/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_particle = {"particle", NULL, 0};
