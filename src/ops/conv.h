/* conv.h -- the geometry of a convolution and the one routine that computes
 * it and both its derivatives on ag_gemm (conv_kernels.c), shared by the
 * ops of conv.c (conv2d, conv1d and their input and weight derivatives).
 *
 * With x [N,C,H,W], w [O,C,kh,kw] and y [N,O,H',W'], stride s and zero
 * padding p (x_pad[n,c,a,b] = x[n,c,a-p,b-p] inside x, 0 outside):
 *   conv     y[n,o,i,j]  = sum_{c,u,v} x_pad[n,c,i s+u, j s+v] w[o,c,u,v]
 *   input    gx[n,c,a,b] = sum_{o,i,j,u,v : i s+u-p = a, j s+v-p = b} gy[n,o,i,j] w[o,c,u,v]
 *   weight   gw[o,c,u,v] = sum_{n,i,j} gy[n,o,i,j] x_pad[n,c,i s+u, j s+v]
 * the three partial derivatives of one trilinear form
 *   F(x, w, y) = sum y[n,o,i,j] x_pad[n,c,i s+u, j s+v] w[o,c,u,v],
 * so <y, conv(x, w)> = <x, input(y, w)> = <w, weight(x, y)> = F.
 *
 * How: im2col. Sample n's patches are laid out as a matrix
 *   col_n [C kh kw, H' W'],  col_n[(c kh + u) kw + v, i W' + j] = x_pad[n,c,i s+u, j s+v]
 * and then, per sample, each is one matrix product on the packed kernels:
 *   conv     y_n [O, H'W']  = w [O, C kh kw] @ col_n
 *   input    gx_n          += col2im(w^T @ gy_n)   (col2im adds each entry back
 *                                                   where im2col read it)
 *   weight   gw [O, C kh kw] += gy_n @ col_n^T
 * im2col rather than a direct kernel: it puts all the arithmetic in ag_gemm
 * (packed, vectorised, measured in bench/), and the copy costs kh kw reads
 * per input element against O kh kw multiply-adds per element of col.
 * The samples are split over the kernel threads when the batch is large
 * enough (each thread its own col buffer and, for the weight, its own
 * partial sum, added up in thread order afterwards); otherwise ag_gemm
 * splits each product. The buffers are the node's aux storage, sized by
 * conv_aux_doubles when recorded, so a replay allocates nothing. */
#ifndef AGRAD_OPS_CONV_H
#define AGRAD_OPS_CONV_H

#include "../internal.h"

/* 1-d convolutions are the 2-d ones with H = kh = H' = 1, stride_h 1 and
 * no padding along the height. */
typedef struct conv_geometry {
    int N, C, O;          /* batch, input channels, output channels */
    int H, W, kh, kw;     /* input and kernel sizes */
    int Ho, Wo;           /* output size: (H + 2 pad_h - kh) / stride_h + 1, likewise */
    int stride_h, stride_w, pad_h, pad_w;
} conv_geometry;

/* What one call computes, each output optional (NULL: not computed):
 *   y_out (+)= conv(x, w)      reads x, w
 *   x_out (+)= input(y, w)     reads y, w
 *   w_out (+)= weight(x, y)    reads x, y
 * `add_*`: add into the output (else overwrite it). aux: conv_aux_doubles(g)
 * doubles, whatever the element type.
 * conv's bias, each sample's share done while its y is in cache:
 *   y_out[n,o,:] += bias[o]                (bias not NULL)
 *   bias_out[o]  += sum_{n,i,j} y[n,o,i,j]  (bias_out not NULL; always adds)
 * The same fields over double (conv_pass, conv_run) and over float
 * (conv_pass_f32, conv_run_f32): one definition, conv_kernels_typed.h. */
#define CONV_PASS_FIELDS(real)                                                                     \
    const real *x, *w, *y;                                                                         \
    real *x_out, *w_out, *y_out;                                                                   \
    bool add_x, add_w, add_y;                                                                      \
    const real *bias;                                                                              \
    real *bias_out;

typedef struct conv_pass { CONV_PASS_FIELDS(double) } conv_pass;
typedef struct conv_pass_f32 { CONV_PASS_FIELDS(float) } conv_pass_f32;

/* Doubles of scratch a pass on g needs (in either type). */
size_t conv_aux_doubles(const conv_geometry *g);
void conv_run(const conv_geometry *g, const conv_pass *pass, double *aux);
void conv_run_f32(const conv_geometry *g, const conv_pass_f32 *pass, double *aux);

#endif
