/* product_bias_f32.c -- linear's bias passes over float (product_bias.c's,
 * stamped from product_bias_typed.h with real = float). */
#include "product.h"

#include <string.h>

typedef float real;
#define AG_TYPED(name) name##_f32
#include "product_bias_typed.h"
