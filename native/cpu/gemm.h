// Packed GEMM (BLIS-style micro-kernel + cache blocking), row-major with leading dimensions:
//   C[m, n] = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T.
// A is m x k (k x m when transA), B is k x n (n x k when transB). beta == 0 means C is not read
// (may hold NaN). Multithreaded with parallel_for. Used by every op that multiplies matrices.
#pragma once
#include <cstdint>

namespace selfsup {

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
void dgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha,
           const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
           int64_t ldc);

// Batched forms: `batch` independent products with element strides between consecutive A, B, C
// (a stride of 0 broadcasts that operand). Parallelizes over the batch when matrices are small.
void sgemm_batched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                   float alpha, const float* A, int64_t lda, int64_t strideA, const float* B,
                   int64_t ldb, int64_t strideB, float beta, float* C, int64_t ldc,
                   int64_t strideC);
void dgemm_batched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                   double alpha, const double* A, int64_t lda, int64_t strideA, const double* B,
                   int64_t ldb, int64_t strideB, double beta, double* C, int64_t ldc,
                   int64_t strideC);

// Single-threaded variants for callers already inside a parallel_for task (attention tiles...).
void sgemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);
void dgemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha,
                  const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                  double* C, int64_t ldc);

}  // namespace selfsup
