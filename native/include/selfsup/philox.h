// Counter-based RNG: Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11). Stream definition shared with lib/random.ts (must stay bit-identical):
//   key     = (seed_lo32, seed_hi32)           seed is a uint64 (JS: integer 0..2^53-1)
//   counter = (block_lo32, block_hi32, stream, 0) where block = offset / 4
//   the 4 output words of a block give values offset = 4*block + 0..3
//   uniform float32 in [0, 1): (word >> 8) * 2^-24
//   normal float32: Box-Muller on consecutive uniform pairs (2i, 2i+1) of the same stream:
//     u1 = ((w[2i] >> 8) + 1) * 2^-24 (in (0,1]), u2 = (w[2i+1] >> 8) * 2^-24,
//     r = sqrt(-2 ln u1), n[2i] = r cos(2 pi u2), n[2i+1] = r sin(2 pi u2)
//   computed in double, rounded to float32.
#pragma once
#include <cstdint>

#include "selfsup/isa.h"

namespace selfsup {

// Host and device: the CUDA kernels that draw randoms (attention dropout) compute the same words
// on the GPU from this one definition.
#if defined(__CUDACC__)
#define SELFSUP_HD __host__ __device__ __forceinline__
#else
#define SELFSUP_HD inline
#endif

struct Philox4x32 {
  uint32_t v[4];
};

// The 4 words of counter (c0..c3) under key (k0, k1): ten rounds, the key bumped by the Weyl
// increments between rounds (Random123's philox4x32_10).
SELFSUP_HD Philox4x32 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                    uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // golden ratio, sqrt(3) - 1
  uint32_t c[4] = {c0, c1, c2, c3};
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = static_cast<uint32_t>(p1);
    c[2] = n2;
    c[3] = static_cast<uint32_t>(p0);
  }
  return Philox4x32{{c[0], c[1], c[2], c[3]}};
}

// The word at `offset` of stream `stream` (one element of philox_words).
SELFSUP_HD uint32_t philox_word(uint64_t seed, uint32_t stream, uint64_t offset) {
  const uint64_t block = offset / 4;
  const Philox4x32 w = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                     stream, 0u, static_cast<uint32_t>(seed),
                                     static_cast<uint32_t>(seed >> 32));
  return w.v[offset % 4];
}

// Fill out[0..n) with the values at offsets [offset, offset + n) of stream `stream`.
void philox_uniform(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out);
void philox_normal(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out);
// Raw 32-bit words (for integer draws such as mask corners).
void philox_words(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, uint32_t* out);

}  // namespace selfsup

// The values of philox_normal, bit for bit, computed 8 Philox blocks at a time (native/cpu/
// philox_isa.cc). The AVX2 variant evaluates Box-Muller with vector double-precision log, sqrt
// and sincos polynomials (a few double ulps from the C library's) and recomputes with
// philox_normal every value whose double result lies within 2^10 double ulps of a float32
// rounding midpoint, so the float32 results cannot differ; the generic variant is philox_normal.
SELFSUP_ISA_DECLARE(void, philox_normal_simd,
                    (uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out))
