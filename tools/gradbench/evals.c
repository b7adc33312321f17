/* evals.c -- the evals agrad-gradbench implements. */
#include "gradbench.h"

const gb_eval *const gb_evals[] = {
    &gb_eval_hello, &gb_eval_lse,    &gb_eval_llsq,     &gb_eval_det,    &gb_eval_ode,
    &gb_eval_gmm,   &gb_eval_lstm,   &gb_eval_kmeans,   &gb_eval_particle, &gb_eval_saddle,
    NULL,
};
