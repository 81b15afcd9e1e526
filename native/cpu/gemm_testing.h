// Test hook of the packed GEMM (defined in gemm.cc, for float and double): the product on a given
// ISA variant, threaded or serial. Production code uses gemm.h (always the active variant); this
// lets native/tests/gemm_test.cc and bench/gemm_probe.cc run every variant in one process.
#pragma once
#include <cstdint>

#include "selfsup/isa.h"

namespace selfsup {
namespace testing {
template <class T>
void gemm_with_isa(Isa isa, bool parallel, bool transA, bool transB, int64_t m, int64_t n,
                   int64_t k, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                   T* C, int64_t ldc, const T* bias = nullptr);
}  // namespace testing
}  // namespace selfsup
