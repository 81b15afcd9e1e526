// Per-ISA kernels of the machine probes (see probe.h).
#include <cstdint>

#include "cpu/probe.h"
#include "cpu/simd.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {

// 12 independent accumulator chains (>= latency 4 x 2 FMA pipes = 8 needed on Zen 4 / Intel
// client cores; 12 also covers 5-cycle-latency parts), each step acc = acc * m + d, which converges
// to d / (1 - m) without overflow or denormals. 12 chains fit the 16 ymm registers with the two
// constants. The avx512 variant has 32 zmm registers and runs 24 chains (covers two 512-bit FMA
// pipes at latency 4 with room to spare).
double probe_fma_block(int64_t iters, float* sink) {
  constexpr int kChains = SELFSUP_SIMD_AVX512 ? 24 : 12;
  Vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = broadcast(1.0f + 0.01f * static_cast<float>(i));
  const Vec m = broadcast(0.999999f), d = broadcast(1e-6f);
  for (int64_t it = 0; it < iters; ++it) {
    // Fully unrolled so the chains live in registers (GCC 12 left 24 of them in memory).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
    for (int i = 0; i < kChains; ++i) acc[i] = fma(acc[i], m, d);
  }
  Vec s = acc[0];
  for (int i = 1; i < kChains; ++i) s = add(s, acc[i]);
  *sink += hsum(s);
  return 2.0 * kVecWidth * kChains * static_cast<double>(iters);
}

void probe_triad(float* a, const float* b, const float* c, float s, int64_t n) {
  const Vec vs = broadcast(s);
  int64_t i = 0;
  for (; i + kVecWidth <= n; i += kVecWidth) storeu(a + i, fma(vs, loadu(c + i), loadu(b + i)));
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
