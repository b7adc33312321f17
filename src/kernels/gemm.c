/* gemm.c -- reference matrix product used by matmul and its vjp/jvp.
 * C[M,N] = beta*C + op(A) @ op(B), row-major; see internal.h. */
#include "../internal.h"

#include <string.h>

/* C[i,:] += a * B[p,:]  (B not transposed: rows of B are contiguous) */
static void axpy_row(int N, double a, const double *b_row, double *c_row)
{
    for (int j = 0; j < N; j++) c_row[j] += a * b_row[j];
}

static double dot(int K, const double *x, size_t incx, const double *y)
{
    double s = 0.0;
    for (int p = 0; p < K; p++) s += x[p * incx] * y[p];
    return s;
}

void ag_gemm(bool trans_a, bool trans_b, int M, int N, int K,
             const double *A, int lda, const double *B, int ldb,
             double beta, double *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        double *c_row = C + (size_t)i * ldc;
        if (beta == 0.0) memset(c_row, 0, (size_t)N * sizeof(double));
        if (trans_b) {
            /* C[i,j] += sum_p op(A)[i,p] * B[j,p] */
            const double *a = trans_a ? A + i : A + (size_t)i * lda;
            size_t inc = trans_a ? (size_t)lda : 1;
            for (int j = 0; j < N; j++) c_row[j] += dot(K, a, inc, B + (size_t)j * ldb);
            continue;
        }
        for (int p = 0; p < K; p++) {
            double a = trans_a ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
            axpy_row(N, a, B + (size_t)p * ldb, c_row);
        }
    }
}
