// Core half of the packed GEMM (see gemm.h and gemm_isa.cc): argument edge cases, threading and
// ISA dispatch. The per-ISA `*gemm_blocked` functions are single-threaded BLIS-style drivers.
//
// Threading: the output is cut into one contiguous slab per thread (columns when there are more
// 16-column units than 24-row units, rows otherwise) and each thread runs the whole blocked
// algorithm on its slab with its own packing buffers. Compared with BLIS's shared packed B plus
// barriers inside the loop nest this packs the other operand once per thread (for 1024^3 on 2
// threads: A read twice, ~4 MB extra traffic against 2 GFLOP of work, < 2%) but needs exactly one
// parallel_for and no synchronization inside the loop nest.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/threadpool.h"
#include "selfsup/isa.h"

SELFSUP_ISA_DECLARE(void, sgemm_blocked,
                    (bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                     const float*, int64_t, float, float*, int64_t, const float*))
SELFSUP_ISA_DECLARE(void, dgemm_blocked,
                    (bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                     const double*, int64_t, double, double*, int64_t, const double*))

namespace selfsup {
namespace {

template <class T>
using BlockedFn = void (*)(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,
                           int64_t, T, T*, int64_t, const T*);

// Below this many multiply-adds a product runs on one thread: waking a sleeping worker costs
// ~10-30 us, about what 2^20 FMAs take on one core at AVX2 speed.
constexpr int64_t kParallelMinMacs = int64_t(1) << 20;
constexpr int64_t kColUnit = 16;  // column slab granularity: one 64-byte line of floats
constexpr int64_t kRowUnit = 24;  // row slab granularity: a multiple of every MR in gemm_isa.cc

// The micro-kernel driver of the variant `isa` for T (float: sgemm_blocked, double: dgemm_blocked).
template <class T>
BlockedFn<T> blocked_for(Isa isa) {
  constexpr bool f = std::is_same_v<T, float>;
#if SELFSUP_HAVE_AVX512_VARIANT
  if (isa == Isa::kAvx512) {
    if constexpr (f) return &isa_avx512::sgemm_blocked; else return &isa_avx512::dgemm_blocked;
  }
#endif
#if SELFSUP_HAVE_AVX2_VARIANT
  if (isa == Isa::kAvx2) {
    if constexpr (f) return &isa_avx2::sgemm_blocked; else return &isa_avx2::dgemm_blocked;
  }
#endif
#if SELFSUP_HAVE_NEON_VARIANT
  if (isa == Isa::kNeon) {
    if constexpr (f) return &isa_neon::sgemm_blocked; else return &isa_neon::dgemm_blocked;
  }
#endif
  (void)isa;
  if constexpr (f) return &isa_generic::sgemm_blocked; else return &isa_generic::dgemm_blocked;
}

// C = beta * C (+ bias row) over m x n (beta == 0 writes zeros without reading, so NaN in C is
// cleared).
template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* C, int64_t ldc, const T* bias) {
  for (int64_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      std::fill(c, c + n, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < n; ++j) c[j] *= beta;
    }
    if (bias != nullptr) {
      for (int64_t j = 0; j < n; ++j) c[j] += bias[j];
    }
  }
}

template <class T>
void gemm_impl(Isa isa, bool parallel, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
               T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
               int64_t ldc, const T* bias) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {  // BLAS semantics: A and B are not read
    scale_c(m, n, beta, C, ldc, bias);
    return;
  }
  const BlockedFn<T> fn = blocked_for<T>(isa);
  const int threads = parallel ? num_threads() : 1;
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int64_t col_units = (n + kColUnit - 1) / kColUnit;
  const int64_t row_units = (m + kRowUnit - 1) / kRowUnit;
  if (threads <= 1 || macs < static_cast<double>(kParallelMinMacs) ||
      (col_units < 2 && row_units < 2)) {
    fn(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    return;
  }
  if (col_units >= row_units) {
    parallel_for(col_units, 1, [&](int64_t b, int64_t e) {
      const int64_t j0 = b * kColUnit, j1 = std::min(n, e * kColUnit);
      const T* Bj = transB ? B + j0 * ldb : B + j0;
      fn(transA, transB, m, j1 - j0, k, alpha, A, lda, Bj, ldb, beta, C + j0, ldc,
         bias != nullptr ? bias + j0 : nullptr);
    });
  } else {
    parallel_for(row_units, 1, [&](int64_t b, int64_t e) {
      const int64_t i0 = b * kRowUnit, i1 = std::min(m, e * kRowUnit);
      const T* Ai = transA ? A + i0 : A + i0 * lda;
      fn(transA, transB, i1 - i0, n, k, alpha, Ai, lda, B, ldb, beta, C + i0 * ldc, ldc, bias);
    });
  }
}

template <class T>
void gemm_batched_impl(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                       T alpha, const T* A, int64_t lda, int64_t strideA, const T* B, int64_t ldb,
                       int64_t strideB, T beta, T* C, int64_t ldc, int64_t strideC,
                       const T* bias) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  const Isa isa = active_isa();
  const double macs = static_cast<double>(m) * static_cast<double>(n) *
                      static_cast<double>(std::max<int64_t>(k, 1));
  // Large products (or a shared output, strideC == 0, which must be applied in order): one
  // product at a time, each parallel inside. Small products: parallel over the batch, with
  // enough products per chunk to amortize the wake-up.
  if (batch == 1 || strideC == 0 || macs >= static_cast<double>(kParallelMinMacs)) {
    for (int64_t b = 0; b < batch; ++b) {
      gemm_impl<T>(isa, true, transA, transB, m, n, k, alpha, A + b * strideA, lda,
                   B + b * strideB, ldb, beta, C + b * strideC, ldc,
                   strideC == 0 && b > 0 ? nullptr : bias);  // a shared C gets the bias once
    }
    return;
  }
  const int64_t grain =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(kParallelMinMacs) / macs));
  parallel_for(batch, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      gemm_impl<T>(isa, false, transA, transB, m, n, k, alpha, A + b * strideA, lda,
                   B + b * strideB, ldb, beta, C + b * strideC, ldc, bias);
    }
  });
}

}  // namespace

// Test hook (not in gemm.h on purpose: production code always uses the active ISA). It lets
// native/tests/gemm_test.cc run every ISA variant, threaded and serial, in one process.
namespace testing {
template <class T>
void gemm_with_isa(Isa isa, bool parallel, bool transA, bool transB, int64_t m, int64_t n,
                   int64_t k, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                   T* C, int64_t ldc, const T* bias) {
  gemm_impl<T>(isa, parallel, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}
template void gemm_with_isa<float>(Isa, bool, bool, bool, int64_t, int64_t, int64_t, float,
                                   const float*, int64_t, const float*, int64_t, float, float*,
                                   int64_t, const float*);
template void gemm_with_isa<double>(Isa, bool, bool, bool, int64_t, int64_t, int64_t, double,
                                    const double*, int64_t, const double*, int64_t, double,
                                    double*, int64_t, const double*);
}  // namespace testing

template <class T>
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, Scalar<T> alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, Scalar<T> beta, T* C, int64_t ldc) {
  gemm_impl<T>(active_isa(), true, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
               nullptr);
}

template <class T>
void gemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, Scalar<T> alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, Scalar<T> beta, T* C,
                 int64_t ldc) {
  gemm_impl<T>(active_isa(), false, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
               nullptr);
}

template <class T>
void gemm_batched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  Scalar<T> alpha, const T* A, int64_t lda, int64_t strideA, const T* B,
                  int64_t ldb, int64_t strideB, Scalar<T> beta, T* C, int64_t ldc,
                  int64_t strideC, const T* bias) {
  gemm_batched_impl<T>(batch, transA, transB, m, n, k, alpha, A, lda, strideA, B, ldb, strideB,
                       beta, C, ldc, strideC, bias);
}

#define SELFSUP_GEMM_INSTANTIATE(T)                                                            \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, \
                        int64_t, T, T*, int64_t);                                              \
  template void gemm_serial<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,    \
                               const T*, int64_t, T, T*, int64_t);                             \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*,   \
                                int64_t, int64_t, const T*, int64_t, int64_t, T, T*, int64_t,  \
                                int64_t, const T*);
SELFSUP_GEMM_INSTANTIATE(float)
SELFSUP_GEMM_INSTANTIATE(double)
#undef SELFSUP_GEMM_INSTANTIATE

}  // namespace selfsup
