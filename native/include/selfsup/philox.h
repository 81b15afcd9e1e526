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

struct Philox4x32 {
  uint32_t v[4];
};

Philox4x32 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                         uint32_t k1);

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
