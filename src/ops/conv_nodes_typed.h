/* conv_nodes_typed.h -- a conv node's forward and vjp in one element type,
 * `real`: included twice by conv.c, with real = double (conv_pass on
 * conv_run: the float64 kernels) and real = float (conv_pass_f32 on
 * conv_run_f32: the float32 kernels, named by AG_TYPED). See conv.c's
 * table for the math. */
#define VAL(n) ((real *)(void *)(n)->value)
#define GRD(n) ((real *)(void *)(n)->grad)

/* the role's op on the node's operands: conv(x=a, w=b) (+ bias),
 * input(y=a, w=b) or weight(x=a, y=b) */
static bool AG_TYPED(conv_forward)(ag_node *out, char *why, size_t len)
{
    (void)why, (void)len;
    const conv_family *f = family_of(out);
    conv_geometry g = geometry_of(out);
    const real *a = VAL(out->in[0]), *b = VAL(out->in[1]);
    AG_TYPED(conv_pass) pass = {0};
    switch (f->role) {
    case CONV_FORWARD: /* y = conv(x, w) + b, sample by sample */
        pass = (AG_TYPED(conv_pass)){.x = a, .w = b, .y_out = VAL(out),
                                     .bias = out->n_in == 3 ? VAL(out->in[2]) : NULL};
        break;
    case CONV_INPUT: pass = (AG_TYPED(conv_pass)){.y = a, .w = b, .x_out = VAL(out)}; break;
    case CONV_WEIGHT: pass = (AG_TYPED(conv_pass)){.x = a, .y = b, .w_out = VAL(out)}; break;
    }
    AG_TYPED(conv_run)(&g, &pass, out->aux);
    return true;
}

/* The vjps of the table above, each one pass over the batch (the two shares
 * of a sample from one im2col where both read it). */
static void AG_TYPED(conv_vjp)(ag_node *out)
{
    const conv_family *f = family_of(out);
    conv_geometry g = geometry_of(out);
    ag_node *a = out->in[0], *b = out->in[1];
    AG_TYPED(conv_pass) pass = {0};
    switch (f->role) {
    case CONV_FORWARD: /* gx += input(u, w), gw += weight(x, u), gb[o] += sum_{n,i,j} u[n,o,i,j] */
        pass = (AG_TYPED(conv_pass)){.x = VAL(a), .w = VAL(b), .y = GRD(out), .x_out = GRD(a),
                                     .w_out = GRD(b), .add_x = true, .add_w = true,
                                     .bias_out = out->n_in == 3 ? GRD(out->in[2]) : NULL};
        break;
    case CONV_INPUT: /* a = g, b = w: gg += conv(u, w), gw += weight(u, g) */
        pass = (AG_TYPED(conv_pass)){.x = GRD(out), .w = VAL(b), .y = VAL(a), .y_out = GRD(a),
                                     .w_out = GRD(b), .add_y = true, .add_w = true};
        break;
    case CONV_WEIGHT: /* a = x, b = g: gx += input(g, u), gg += conv(x, u) */
        pass = (AG_TYPED(conv_pass)){.x = VAL(a), .w = GRD(out), .y = VAL(b), .x_out = GRD(a),
                                     .y_out = GRD(b), .add_x = true, .add_y = true};
        break;
    }
    if (pass.x_out || pass.y_out || pass.w_out || pass.bias_out) AG_TYPED(conv_run)(&g, &pass, out->aux);
}

#undef VAL
#undef GRD
