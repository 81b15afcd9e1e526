// Philox 4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11) and the package's stream definition (see selfsup/philox.h; lib/random.ts is the
// bit-identical TypeScript twin, test/random.test.ts and native/tests/philox_test.cc share
// literal expected values).
#include "selfsup/philox.h"

#include <cmath>
#include <cstdint>

namespace selfsup {
namespace {

constexpr double kTwoPow24Inv = 1.0 / 16777216.0;
constexpr double kTwoPi = 6.283185307179586;  // the double nearest 2*pi; JS uses the same literal

// The 4 words of block `block` of the stream.
inline Philox4x32 block_words(uint64_t seed, uint32_t stream, uint64_t block) {
  return philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream,
                       0u, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

inline float word_to_uniform(uint32_t w) {
  return static_cast<float>(static_cast<double>(w >> 8) * kTwoPow24Inv);  // exact in float32
}

// out[i] = conv(word offset + i of the stream), walking the 4-word blocks.
template <class T, class Conv>
void for_words(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, T* out, Conv conv) {
  if (n <= 0) return;
  uint64_t block = offset / 4;
  int lane = static_cast<int>(offset % 4);
  Philox4x32 w = block_words(seed, stream, block);
  for (int64_t i = 0; i < n; ++i) {
    if (lane == 4) {
      w = block_words(seed, stream, ++block);
      lane = 0;
    }
    out[i] = conv(w.v[lane++]);
  }
}
}  // namespace

void philox_words(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, uint32_t* out) {
  for_words(seed, stream, offset, n, out, [](uint32_t w) { return w; });
}

void philox_uniform(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out) {
  for_words(seed, stream, offset, n, out, [](uint32_t w) { return word_to_uniform(w); });
}

// Normal value j (j = offset + i) uses the uniform words at offsets 2*floor(j/2) and
// 2*floor(j/2) + 1 (always in the same block) and takes the cosine for even j, the sine for odd
// j. Both values of a pair are computed together; a pair is reused when both halves are wanted.
void philox_normal(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out) {
  if (n <= 0) return;
  uint64_t cached_block = ~static_cast<uint64_t>(0);
  Philox4x32 w{};
  for (int64_t i = 0; i < n;) {
    const uint64_t j = offset + static_cast<uint64_t>(i);
    const uint64_t pair = j & ~static_cast<uint64_t>(1);
    const uint64_t block = pair / 4;
    if (block != cached_block || i == 0) {
      w = block_words(seed, stream, block);
      cached_block = block;
    }
    const int lane = static_cast<int>(pair % 4);  // 0 or 2
    const double u1 = (static_cast<double>(w.v[lane] >> 8) + 1.0) * kTwoPow24Inv;  // (0, 1]
    const double u2 = static_cast<double>(w.v[lane + 1] >> 8) * kTwoPow24Inv;      // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = kTwoPi * u2;
    if ((j & 1) == 0) {
      out[i++] = static_cast<float>(r * std::cos(theta));
      if (i < n) out[i++] = static_cast<float>(r * std::sin(theta));
    } else {
      out[i++] = static_cast<float>(r * std::sin(theta));
    }
  }
}

}  // namespace selfsup
