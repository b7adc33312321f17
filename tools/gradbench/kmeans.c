/* kmeans.c -- GradBench's kmeans eval (evals/kmeans/README.md). Not written yet. */
#include "gradbench.h"

const gb_eval gb_eval_kmeans = {"kmeans", NULL, 0};
