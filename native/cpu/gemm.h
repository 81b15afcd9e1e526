// Packed GEMM (BLIS-style micro-kernel + cache blocking), row-major with leading dimensions:
//   C[m, n] = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T.
// A is m x k (k x m when transA), B is k x n (n x k when transB). beta == 0 means C is not read
// (may hold NaN). Multithreaded with parallel_for. Used by every op that multiplies matrices.
#pragma once
#include <cstdint>

namespace selfsup {

// T is float or double (instantiated for both in gemm.cc). alpha and beta take part in no
// deduction, so gemm(..., 1.0, A, ...) with float A picks gemm<float>.
template <class T>
struct GemmScalar {
  using type = T;
};
template <class T>
using Scalar = typename GemmScalar<T>::type;

template <class T>
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, Scalar<T> alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, Scalar<T> beta, T* C, int64_t ldc);

// Batched form: `batch` independent products with element strides between consecutive A, B, C
// (a stride of 0 broadcasts that operand). Parallelizes over the batch when matrices are small.
// bias (n values, or null) is added to every row of every C in the GEMM's final write:
// C = alpha * op(A) op(B) + beta * C + bias (Linear's bias without a pass of its own over C).
template <class T>
void gemm_batched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  Scalar<T> alpha, const T* A, int64_t lda, int64_t strideA, const T* B,
                  int64_t ldb, int64_t strideB, Scalar<T> beta, T* C, int64_t ldc, int64_t strideC,
                  const T* bias = nullptr);

// Single-threaded form for callers already inside a parallel_for task (attention tiles...).
template <class T>
void gemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, Scalar<T> alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, Scalar<T> beta, T* C,
                 int64_t ldc);

}  // namespace selfsup
