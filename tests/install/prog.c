/* prog.c -- built outside the tree against an installed agrad, with only
 * `cc prog.c $(pkg-config --cflags --libs agrad)`: d/dx (x^2 + 3x) at x = 2
 * must be 7. */
#include <agrad.h>
#include <stdio.h>

int main(void)
{
    ag_tensor *x = ag_tensor_scalar(2.0);
    ag_tensor_requires_grad(x, true);
    ag_graph *g = ag_graph_new();
    ag_node *xn = ag_param(g, x);
    ag_node *y = ag_add(ag_mul(xn, xn), ag_mul(ag_scalar(g, 3.0), xn));
    bool ok = ag_backward(g, y) && ag_tensor_grad(x)[0] == 7.0;
    printf("agrad %s: dy/dx = %g (%s)\n", AGRAD_VERSION, ag_tensor_grad(x)[0], ok ? "ok" : "WRONG");
    ag_graph_free(g);
    ag_tensor_free(x);
    return ok ? 0 : 1;
}
