// Philox 4x32-10 known-answer tests (Random123 kat_vectors) and the package stream definition.
// The literal lists below for (seed=12345, stream=7, offset=3, n=10) were produced by this
// implementation and are repeated verbatim in test/random.test.ts, which checks that lib/random.ts
// yields the same words and uniforms bit for bit and normals within 1 float32 ulp.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "selfsup/philox.h"
#include "tests/check.h"

using namespace selfsup;

namespace {

void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
         uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
  const Philox4x32 r = philox4x32_10(c0, c1, c2, c3, k0, k1);
  const bool ok = r.v[0] == e0 && r.v[1] == e1 && r.v[2] == e2 && r.v[3] == e3;
  if (!ok) {
    std::printf("KAT mismatch: got %08x %08x %08x %08x expected %08x %08x %08x %08x\n", r.v[0],
                r.v[1], r.v[2], r.v[3], e0, e1, e2, e3);
  }
  EXPECT(ok);
}

// Shared with test/random.test.ts.
const uint32_t kWords[10] = {0x5e9ad4d4, 0xa1b975c9, 0xae052b7e, 0xef9fd9d3, 0x35f25bb1,
                             0x1889b16b, 0x4f1e38df, 0xe8707b00, 0xce15a877, 0xc6fb32cd};
const float kUniform[10] = {0.36954999f,  0.6317361f,    0.679766357f, 0.936032832f,
                            0.210729301f, 0.0958510041f, 0.309054852f, 0.907966316f,
                            0.805017948f, 0.777270436f};
const float kNormal[10] = {0.980779707f,  -0.409347564f, -0.866603374f, 0.0888103768f,
                           0.352593303f,  -0.785247207f, 2.01824331f,   0.148897126f,
                           -0.413431376f, -0.70944351f};
// seed = 2^53 - 1, stream = 2^32 - 1, offset = 9007199254740000, n = 6 (high counter/key words).
const uint32_t kWordsBig[6] = {0x3a14f279, 0x45c07dc9, 0x46ece1b7,
                               0x8414dc1f, 0x7c20f716, 0xcda109b7};
const float kNormalBig[6] = {-0.242349058f, 1.70526123f,  -1.59418476f,
                             -0.160233214f, 0.395018339f, -1.13651931f};

void test_kat() {
  kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
  kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
      0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
  kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
      0x94fdcceb, 0x5001e420, 0x24126ea1);
}

void test_shared_literals() {
  uint32_t w[10];
  float u[10], z[10];
  philox_words(12345, 7, 3, 10, w);
  philox_uniform(12345, 7, 3, 10, u);
  philox_normal(12345, 7, 3, 10, z);
  for (int i = 0; i < 10; ++i) {
    EXPECT(w[i] == kWords[i]);
    EXPECT(u[i] == kUniform[i]);
    EXPECT(z[i] == kNormal[i]);
  }
  uint32_t wb[6];
  float zb[6];
  philox_words(9007199254740991ull, 4294967295u, 9007199254740000ull, 6, wb);
  philox_normal(9007199254740991ull, 4294967295u, 9007199254740000ull, 6, zb);
  for (int i = 0; i < 6; ++i) {
    EXPECT(wb[i] == kWordsBig[i]);
    EXPECT(zb[i] == kNormalBig[i]);
  }
}

void test_stream_definition() {
  // Words are the block outputs laid end to end: offset 4b + j is word j of counter (b, 0, s, 0).
  std::vector<uint32_t> w(64);
  philox_words(0x123456789abcull, 3, 0, 64, w.data());
  for (uint32_t b = 0; b < 16; ++b) {
    const Philox4x32 r = philox4x32_10(b, 0, 3, 0, 0x56789abc, 0x1234);
    for (int j = 0; j < 4; ++j) EXPECT(w[4 * b + j] == r.v[j]);
  }
  // philox_word (the one-word form the CUDA kernels use) is the same stream.
  for (int i = 0; i < 64; ++i) EXPECT(philox_word(0x123456789abcull, 3, i) == w[i]);
  for (int i = 0; i < 6; ++i)
    EXPECT(philox_word(9007199254740991ull, 4294967295u, 9007199254740000ull + i) == kWordsBig[i]);
  // Any window of a stream equals the same slice of a longer draw (offsets are absolute).
  std::vector<float> u(64), z(64);
  philox_uniform(0x123456789abcull, 3, 0, 64, u.data());
  philox_normal(0x123456789abcull, 3, 0, 64, z.data());
  for (int off = 0; off < 9; ++off) {
    for (int n = 0; n < 20; ++n) {
      std::vector<float> u2(n + 1, -7.0f), z2(n + 1, -7.0f);
      std::vector<uint32_t> w2(n + 1, 7u);
      philox_uniform(0x123456789abcull, 3, off, n, u2.data());
      philox_normal(0x123456789abcull, 3, off, n, z2.data());
      philox_words(0x123456789abcull, 3, off, n, w2.data());
      for (int i = 0; i < n; ++i) {
        EXPECT(u2[i] == u[off + i]);
        EXPECT(z2[i] == z[off + i]);
        EXPECT(w2[i] == w[off + i]);
      }
      EXPECT(u2[n] == -7.0f && z2[n] == -7.0f && w2[n] == 7u);  // nothing written past n
    }
  }
  // Uniform = (word >> 8) * 2^-24; normal pair from the words at offsets 2i, 2i+1.
  for (int i = 0; i < 64; ++i) {
    EXPECT(u[i] == static_cast<float>((w[i] >> 8) * (1.0 / 16777216.0)));
    EXPECT(u[i] >= 0.0f && u[i] < 1.0f);
  }
  for (int i = 0; i < 32; ++i) {
    const double u1 = ((w[2 * i] >> 8) + 1.0) / 16777216.0;
    const double u2 = (w[2 * i + 1] >> 8) / 16777216.0;
    const double r = std::sqrt(-2.0 * std::log(u1));
    EXPECT(z[2 * i] == static_cast<float>(r * std::cos(6.283185307179586 * u2)));
    EXPECT(z[2 * i + 1] == static_cast<float>(r * std::sin(6.283185307179586 * u2)));
  }
  // Different streams and seeds differ.
  std::vector<uint32_t> other(64);
  philox_words(0x123456789abcull, 4, 0, 64, other.data());
  EXPECT(std::memcmp(other.data(), w.data(), 64 * sizeof(uint32_t)) != 0);
  philox_words(0x123456789abdull, 3, 0, 64, other.data());
  EXPECT(std::memcmp(other.data(), w.data(), 64 * sizeof(uint32_t)) != 0);
}

void test_statistics() {
  const int n = 200000;
  std::vector<float> u(n), z(n);
  philox_uniform(99, 1, 0, n, u.data());
  philox_normal(99, 1, 0, n, z.data());
  double su = 0, suu = 0, sz = 0, szz = 0;
  for (int i = 0; i < n; ++i) {
    su += u[i];
    suu += double(u[i]) * u[i];
    sz += z[i];
    szz += double(z[i]) * z[i];
    EXPECT(std::isfinite(z[i]));
  }
  const double mu = su / n, vu = suu / n - mu * mu, mz = sz / n, vz = szz / n - mz * mz;
  std::printf("uniform mean %.5f var %.5f, normal mean %.5f var %.5f\n", mu, vu, mz, vz);
  EXPECT(std::fabs(mu - 0.5) < 0.005);
  EXPECT(std::fabs(vu - 1.0 / 12.0) < 0.002);
  EXPECT(std::fabs(mz) < 0.01);
  EXPECT(std::fabs(vz - 1.0) < 0.02);
}

}  // namespace

int main() {
  test_kat();
  test_shared_literals();
  test_stream_definition();
  test_statistics();
  philox_uniform(1, 1, 0, 0, nullptr);  // n == 0 touches nothing
  philox_normal(1, 1, 0, -3, nullptr);
  return test_result();
}
