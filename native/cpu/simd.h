// The one SIMD layer (DESIGN principle 5). Kernels are written once over these helpers and the
// build compiles them once per ISA variant:
//   -DSELFSUP_ISA_NS=isa_avx2 -mavx2 -mfma   -> Vec is __m256 / VecD is __m256d, real FMA
//   -DSELFSUP_ISA_NS=isa_generic             -> portable GNU vector extension (SSE2 on x86-64,
//                                               NEON on arm64); GCC/Clang only (MSVC: #error)
//
// ODR: every type and function here is declared inside namespace selfsup::SELFSUP_ISA_NS, so the
// AVX2 and the generic bodies have different mangled names. (An `inline` function with one
// mangled name compiled with different -m flags in two TUs is an ODR violation: the linker keeps
// one body, possibly the AVX2 one, and a non-AVX2 machine then dies with SIGILL.) Never include
// this header from a core (non-*_isa) TU; it refuses to compile without SELFSUP_ISA_NS.
//
// API (T = float with Vec, width 8; T = double with VecD, width 4; overloaded on the type):
//   zero_f() / zero_d(), broadcast(x), load(p) (32-byte aligned), loadu(p), store(p, v),
//   storeu(p, v), load_partial(p, n) / store_partial(p, v, n) (n lanes, rest zero / untouched),
//   add sub mul div min max fma(a, b, c) = a*b + c, fnma(a, b, c) = c - a*b, abs,
//   operators + - * /, hsum(v), hmax(v), transpose8x8(Vec r[8]) (in place),
//   widen_lo(Vec) / widen_hi(Vec) -> VecD (lanes 0-3 / 4-7), narrow(VecD lo, VecD hi) -> Vec,
//   vexp(Vec): <= 1 ulp vs correctly rounded expf (checked by a sweep of [-110, 95] in both
//   variants); exp(-inf) = 0, exp(+inf) = inf, NaN propagates, gradual underflow to denormals.
//   vexp(VecD): its own double polynomial, <= 1 ulp over [-708, 709.7].
//   vexp_nonpos(v): vexp for arguments <= 0 (softmax), results below FLT_MIN flushed to 0;
//   the VecD overload is vexp.
//   vexp2_nonpos(Vec t): 2^t for base-2 softmax arguments t <= 0 (float only; <= 3 ulp).
#pragma once

#ifndef SELFSUP_ISA_NS
#error "simd.h is compiled per ISA variant: define SELFSUP_ISA_NS (isa_avx2 or isa_generic)"
#endif

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SELFSUP_SIMD_AVX2 1
#else
#define SELFSUP_SIMD_AVX2 0
#if defined(__GNUC__) || defined(__clang__)
#define SELFSUP_SIMD_VECEXT 1
#else
#define SELFSUP_SIMD_VECEXT 0
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SELFSUP_SIMD_INLINE inline __attribute__((always_inline))
#else
#define SELFSUP_SIMD_INLINE inline
#endif

namespace selfsup {
namespace SELFSUP_ISA_NS {

constexpr int kVecWidth = 8;   // floats per Vec
constexpr int kVecWidthD = 4;  // doubles per VecD

#if SELFSUP_SIMD_AVX2
// ------------------------------------------------------------------------------------------
// AVX2 + FMA
// ------------------------------------------------------------------------------------------
struct Vec {
  __m256 v;
};
struct VecD {
  __m256d v;
};

SELFSUP_SIMD_INLINE Vec zero_f() { return {_mm256_setzero_ps()}; }
SELFSUP_SIMD_INLINE VecD zero_d() { return {_mm256_setzero_pd()}; }
SELFSUP_SIMD_INLINE Vec broadcast(float x) { return {_mm256_set1_ps(x)}; }
SELFSUP_SIMD_INLINE VecD broadcast(double x) { return {_mm256_set1_pd(x)}; }
SELFSUP_SIMD_INLINE Vec load(const float* p) { return {_mm256_load_ps(p)}; }
SELFSUP_SIMD_INLINE VecD load(const double* p) { return {_mm256_load_pd(p)}; }
SELFSUP_SIMD_INLINE Vec loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
SELFSUP_SIMD_INLINE VecD loadu(const double* p) { return {_mm256_loadu_pd(p)}; }
SELFSUP_SIMD_INLINE void store(float* p, Vec a) { _mm256_store_ps(p, a.v); }
SELFSUP_SIMD_INLINE void store(double* p, VecD a) { _mm256_store_pd(p, a.v); }
SELFSUP_SIMD_INLINE void storeu(float* p, Vec a) { _mm256_storeu_ps(p, a.v); }
SELFSUP_SIMD_INLINE void storeu(double* p, VecD a) { _mm256_storeu_pd(p, a.v); }

// Lane mask with the first n (0..8) lanes set: a sliding window over a constant table, so tails
// need no scalar loop. Masked loads never fault on the unselected lanes.
SELFSUP_SIMD_INLINE __m256i lane_mask32(int n) {
  alignas(32) static const int32_t kTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTable + 8 - n));
}
SELFSUP_SIMD_INLINE __m256i lane_mask64(int n) {
  alignas(32) static const int64_t kTable[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTable + 4 - n));
}
SELFSUP_SIMD_INLINE Vec load_partial(const float* p, int n) {
  return {_mm256_maskload_ps(p, lane_mask32(n))};
}
SELFSUP_SIMD_INLINE VecD load_partial(const double* p, int n) {
  return {_mm256_maskload_pd(p, lane_mask64(n))};
}
SELFSUP_SIMD_INLINE void store_partial(float* p, Vec a, int n) {
  _mm256_maskstore_ps(p, lane_mask32(n), a.v);
}
SELFSUP_SIMD_INLINE void store_partial(double* p, VecD a, int n) {
  _mm256_maskstore_pd(p, lane_mask64(n), a.v);
}

SELFSUP_SIMD_INLINE Vec add(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD add(VecD a, VecD b) { return {_mm256_add_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec sub(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD sub(VecD a, VecD b) { return {_mm256_sub_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec mul(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD mul(VecD a, VecD b) { return {_mm256_mul_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec div(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD div(VecD a, VecD b) { return {_mm256_div_pd(a.v, b.v)}; }
// max/min: when a lane of `b` is NaN the result is that NaN (x86 returns the second operand when
// either is NaN); the generic path matches this.
SELFSUP_SIMD_INLINE Vec max(Vec a, Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD max(VecD a, VecD b) { return {_mm256_max_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec min(Vec a, Vec b) { return {_mm256_min_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD min(VecD a, VecD b) { return {_mm256_min_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE VecD fma(VecD a, VecD b, VecD c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE Vec fnma(Vec a, Vec b, Vec c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE VecD fnma(VecD a, VecD b, VecD c) {
  return {_mm256_fnmadd_pd(a.v, b.v, c.v)};
}
SELFSUP_SIMD_INLINE Vec abs(Vec a) {
  return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)};
}
SELFSUP_SIMD_INLINE VecD abs(VecD a) {
  return {_mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v)};
}

SELFSUP_SIMD_INLINE float hsum(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
SELFSUP_SIMD_INLINE double hsum(VecD a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}
SELFSUP_SIMD_INLINE float hmax(Vec a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
SELFSUP_SIMD_INLINE double hmax(VecD a) {
  __m128d s = _mm_max_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  s = _mm_max_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// In-place 8x8 transpose of r[0..7] (r[i] lane j <-> r[j] lane i): unpack pairs, shuffle quads,
// swap 128-bit halves (24 shuffles, the usual AVX sequence).
SELFSUP_SIMD_INLINE void transpose8x8(Vec r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0].v, r[1].v), t1 = _mm256_unpackhi_ps(r[0].v, r[1].v);
  const __m256 t2 = _mm256_unpacklo_ps(r[2].v, r[3].v), t3 = _mm256_unpackhi_ps(r[2].v, r[3].v);
  const __m256 t4 = _mm256_unpacklo_ps(r[4].v, r[5].v), t5 = _mm256_unpackhi_ps(r[4].v, r[5].v);
  const __m256 t6 = _mm256_unpacklo_ps(r[6].v, r[7].v), t7 = _mm256_unpackhi_ps(r[6].v, r[7].v);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0].v = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1].v = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2].v = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3].v = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4].v = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5].v = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6].v = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7].v = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// float <-> double lane conversions: lanes 0..3 / 4..7 of a Vec widened, and two VecD narrowed
// back into one Vec (lo -> lanes 0..3). For kernels that evaluate a float function in double.
SELFSUP_SIMD_INLINE VecD widen_lo(Vec a) { return {_mm256_cvtps_pd(_mm256_castps256_ps128(a.v))}; }
SELFSUP_SIMD_INLINE VecD widen_hi(Vec a) { return {_mm256_cvtps_pd(_mm256_extractf128_ps(a.v, 1))}; }
SELFSUP_SIMD_INLINE Vec narrow(VecD lo, VecD hi) {
  return {_mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo.v)), _mm256_cvtpd_ps(hi.v), 1)};
}

// Helpers used only by vexp below.
SELFSUP_SIMD_INLINE Vec round_nearest(Vec a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
SELFSUP_SIMD_INLINE VecD round_nearest(VecD a) {
  return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// 2^n for integral-valued float n in [-126, 127] (built in the exponent field).
SELFSUP_SIMD_INLINE Vec pow2_int(Vec n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
// 2^n from k = n + 1.5 * 2^23 (n integral, |n| < 2^22): k's bit pattern is 0x4B400000 + n, so
// one integer add and a shift build the exponent field n + 127 without a float->int conversion.
SELFSUP_SIMD_INLINE Vec pow2_from_magic(Vec k) {
  const __m256i e = _mm256_add_epi32(_mm256_castps_si256(k.v), _mm256_set1_epi32(127 - 0x4B400000));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
// 2^n for integral-valued double n in [-1022, 1023]. Uses the 2^52 + 1023 magic-number trick:
// after the add, the low mantissa bits hold n + 1023, which is shifted into the exponent.
SELFSUP_SIMD_INLINE VecD pow2_int(VecD n) {
  __m256d t = _mm256_add_pd(n.v, _mm256_set1_pd(4503599627370496.0 + 1023.0));
  return {_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(t), 52))};
}

#elif SELFSUP_SIMD_VECEXT
// ------------------------------------------------------------------------------------------
// Portable: GNU vector extension (GCC and Clang lower it to SSE2 pairs, NEON, or scalars).
// Wrapped in a struct so the ABI of the raw 32-byte vector type never leaks into signatures.
// ------------------------------------------------------------------------------------------
// GCC prints a one-line -Wpsabi note ("the ABI for passing parameters with 32-byte alignment has
// changed in GCC 4.6") for these by-value 32-byte vectors on non-AVX targets. It is harmless here
// (everything is inlined and ISA-namespaced) and only -Wno-psabi on the command line silences it
// (the note is emitted at code generation, where #pragma GCC diagnostic does not reach). The
// alternatives measured worse: alignment 16 or const-reference parameters cost 30-50% of the
// generic GEMM's speed.
typedef float selfsup_v8f __attribute__((vector_size(32), aligned(32)));
typedef double selfsup_v4d __attribute__((vector_size(32), aligned(32)));
typedef int32_t selfsup_v8i __attribute__((vector_size(32), aligned(32)));
typedef int64_t selfsup_v4l __attribute__((vector_size(32), aligned(32)));

struct Vec {
  selfsup_v8f v;
};
struct VecD {
  selfsup_v4d v;
};

SELFSUP_SIMD_INLINE Vec zero_f() { return {selfsup_v8f{}}; }
SELFSUP_SIMD_INLINE VecD zero_d() { return {selfsup_v4d{}}; }
SELFSUP_SIMD_INLINE Vec broadcast(float x) { return {selfsup_v8f{} + x}; }
SELFSUP_SIMD_INLINE VecD broadcast(double x) { return {selfsup_v4d{} + x}; }
SELFSUP_SIMD_INLINE Vec load(const float* p) { return {*reinterpret_cast<const selfsup_v8f*>(p)}; }
SELFSUP_SIMD_INLINE VecD load(const double* p) {
  return {*reinterpret_cast<const selfsup_v4d*>(p)};
}
SELFSUP_SIMD_INLINE Vec loadu(const float* p) {
  Vec r;
  std::memcpy(&r.v, p, sizeof(r.v));
  return r;
}
SELFSUP_SIMD_INLINE VecD loadu(const double* p) {
  VecD r;
  std::memcpy(&r.v, p, sizeof(r.v));
  return r;
}
SELFSUP_SIMD_INLINE void store(float* p, Vec a) { *reinterpret_cast<selfsup_v8f*>(p) = a.v; }
SELFSUP_SIMD_INLINE void store(double* p, VecD a) { *reinterpret_cast<selfsup_v4d*>(p) = a.v; }
SELFSUP_SIMD_INLINE void storeu(float* p, Vec a) { std::memcpy(p, &a.v, sizeof(a.v)); }
SELFSUP_SIMD_INLINE void storeu(double* p, VecD a) { std::memcpy(p, &a.v, sizeof(a.v)); }
SELFSUP_SIMD_INLINE Vec load_partial(const float* p, int n) {
  Vec r = zero_f();
  for (int i = 0; i < n; ++i) r.v[i] = p[i];
  return r;
}
SELFSUP_SIMD_INLINE VecD load_partial(const double* p, int n) {
  VecD r = zero_d();
  for (int i = 0; i < n; ++i) r.v[i] = p[i];
  return r;
}
SELFSUP_SIMD_INLINE void store_partial(float* p, Vec a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}
SELFSUP_SIMD_INLINE void store_partial(double* p, VecD a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}

SELFSUP_SIMD_INLINE Vec add(Vec a, Vec b) { return {a.v + b.v}; }
SELFSUP_SIMD_INLINE VecD add(VecD a, VecD b) { return {a.v + b.v}; }
SELFSUP_SIMD_INLINE Vec sub(Vec a, Vec b) { return {a.v - b.v}; }
SELFSUP_SIMD_INLINE VecD sub(VecD a, VecD b) { return {a.v - b.v}; }
SELFSUP_SIMD_INLINE Vec mul(Vec a, Vec b) { return {a.v * b.v}; }
SELFSUP_SIMD_INLINE VecD mul(VecD a, VecD b) { return {a.v * b.v}; }
SELFSUP_SIMD_INLINE Vec div(Vec a, Vec b) { return {a.v / b.v}; }
SELFSUP_SIMD_INLINE VecD div(VecD a, VecD b) { return {a.v / b.v}; }
// Same NaN rule as x86 maxps: (a > b) ? a : b, so a NaN in either lane yields b.
SELFSUP_SIMD_INLINE Vec max(Vec a, Vec b) { return {a.v > b.v ? a.v : b.v}; }
SELFSUP_SIMD_INLINE VecD max(VecD a, VecD b) { return {a.v > b.v ? a.v : b.v}; }
SELFSUP_SIMD_INLINE Vec min(Vec a, Vec b) { return {a.v < b.v ? a.v : b.v}; }
SELFSUP_SIMD_INLINE VecD min(VecD a, VecD b) { return {a.v < b.v ? a.v : b.v}; }
// Without -mfma this is a multiply then an add (two roundings); kernels must not depend on
// fused rounding for correctness.
SELFSUP_SIMD_INLINE Vec fma(Vec a, Vec b, Vec c) { return {a.v * b.v + c.v}; }
SELFSUP_SIMD_INLINE VecD fma(VecD a, VecD b, VecD c) { return {a.v * b.v + c.v}; }
SELFSUP_SIMD_INLINE Vec fnma(Vec a, Vec b, Vec c) { return {c.v - a.v * b.v}; }
SELFSUP_SIMD_INLINE VecD fnma(VecD a, VecD b, VecD c) { return {c.v - a.v * b.v}; }
SELFSUP_SIMD_INLINE Vec abs(Vec a) {
  selfsup_v8i bits;
  std::memcpy(&bits, &a.v, sizeof(bits));
  bits &= 0x7fffffff;
  Vec r;
  std::memcpy(&r.v, &bits, sizeof(bits));
  return r;
}
SELFSUP_SIMD_INLINE VecD abs(VecD a) {
  selfsup_v4l bits;
  std::memcpy(&bits, &a.v, sizeof(bits));
  bits &= 0x7fffffffffffffffLL;
  VecD r;
  std::memcpy(&r.v, &bits, sizeof(bits));
  return r;
}
// Pairwise reduction in the same association order as the AVX2 path.
SELFSUP_SIMD_INLINE float hsum(Vec a) {
  float s0 = a.v[0] + a.v[4], s1 = a.v[1] + a.v[5], s2 = a.v[2] + a.v[6], s3 = a.v[3] + a.v[7];
  return (s0 + s2) + (s1 + s3);
}
SELFSUP_SIMD_INLINE double hsum(VecD a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }
SELFSUP_SIMD_INLINE float hmax(Vec a) {
  float m = a.v[0];
  for (int i = 1; i < 8; ++i) m = a.v[i] > m ? a.v[i] : m;
  return m;
}
SELFSUP_SIMD_INLINE double hmax(VecD a) {
  double m = a.v[0];
  for (int i = 1; i < 4; ++i) m = a.v[i] > m ? a.v[i] : m;
  return m;
}

SELFSUP_SIMD_INLINE void transpose8x8(Vec r[8]) {
  for (int i = 0; i < 8; ++i) {
    for (int j = i + 1; j < 8; ++j) {
      const float t = r[i].v[j];
      r[i].v[j] = r[j].v[i];
      r[j].v[i] = t;
    }
  }
}

SELFSUP_SIMD_INLINE VecD widen_lo(Vec a) {
  return {selfsup_v4d{a.v[0], a.v[1], a.v[2], a.v[3]}};
}
SELFSUP_SIMD_INLINE VecD widen_hi(Vec a) {
  return {selfsup_v4d{a.v[4], a.v[5], a.v[6], a.v[7]}};
}
SELFSUP_SIMD_INLINE Vec narrow(VecD lo, VecD hi) {
  return {selfsup_v8f{static_cast<float>(lo.v[0]), static_cast<float>(lo.v[1]), static_cast<float>(lo.v[2]),
                      static_cast<float>(lo.v[3]), static_cast<float>(hi.v[0]), static_cast<float>(hi.v[1]),
                      static_cast<float>(hi.v[2]), static_cast<float>(hi.v[3])}};
}

// Round to nearest (ties to even, like roundps in the default mode) with the 1.5 * 2^23 magic
// number; valid for |a| < 2^22, which is all vexp needs.
SELFSUP_SIMD_INLINE Vec round_nearest(Vec a) {
  const float kMagic = 12582912.0f;
  return {(a.v + kMagic) - kMagic};
}
SELFSUP_SIMD_INLINE VecD round_nearest(VecD a) {
  const double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  return {(a.v + kMagic) - kMagic};
}
SELFSUP_SIMD_INLINE Vec pow2_int(Vec n) {
  selfsup_v8i e = __builtin_convertvector(n.v, selfsup_v8i) + 127;
  e <<= 23;
  Vec r;
  std::memcpy(&r.v, &e, sizeof(e));
  return r;
}
SELFSUP_SIMD_INLINE Vec pow2_from_magic(Vec k) {
  selfsup_v8i e;
  std::memcpy(&e, &k.v, sizeof(e));
  e = (e + (127 - 0x4B400000)) << 23;
  Vec r;
  std::memcpy(&r.v, &e, sizeof(e));
  return r;
}
SELFSUP_SIMD_INLINE VecD pow2_int(VecD n) {
  selfsup_v4l e = __builtin_convertvector(n.v, selfsup_v4l) + 1023;
  e <<= 52;
  VecD r;
  std::memcpy(&r.v, &e, sizeof(e));
  return r;
}

#else
#error "simd.h: no SIMD backend for this compiler (need GCC/Clang vector extensions or AVX2)"
#endif

// ------------------------------------------------------------------------------------------
// Shared across backends.
// ------------------------------------------------------------------------------------------
SELFSUP_SIMD_INLINE Vec operator+(Vec a, Vec b) { return add(a, b); }
SELFSUP_SIMD_INLINE Vec operator-(Vec a, Vec b) { return sub(a, b); }
SELFSUP_SIMD_INLINE Vec operator*(Vec a, Vec b) { return mul(a, b); }
SELFSUP_SIMD_INLINE Vec operator/(Vec a, Vec b) { return div(a, b); }
SELFSUP_SIMD_INLINE VecD operator+(VecD a, VecD b) { return add(a, b); }
SELFSUP_SIMD_INLINE VecD operator-(VecD a, VecD b) { return sub(a, b); }
SELFSUP_SIMD_INLINE VecD operator*(VecD a, VecD b) { return mul(a, b); }
SELFSUP_SIMD_INLINE VecD operator/(VecD a, VecD b) { return div(a, b); }

// exp for float32 lanes (Cephes expf scheme): n = round(x / ln2), r = x - n ln2 (ln2 split in a
// short-mantissa high part, exact for |n| < 2^15, plus a low part), e^r by a degree-7 polynomial on
// |r| <= ln2/2, result = p * 2^n. 2^n is applied as 2^(n - n/2) * 2^(n/2) so both factors are
// normal floats over the whole input range: results underflow gradually into denormals and
// overflow to +inf exactly where expf does, with no special-case blends. Max error ~1-2 ulp.
// Inputs are clamped to [-104, 89] (e^-104 rounds to 0, e^89 to +inf); the clamp order keeps NaN.
// e^r for the reduced argument r = x - n ln2 of both float exps below (|r| <= ln2/2).
SELFSUP_SIMD_INLINE Vec exp_reduced_poly(Vec x, Vec n) {
  Vec r = fnma(n, broadcast(0.693359375f), x);
  r = fnma(n, broadcast(-2.12194440e-4f), r);
  Vec p = broadcast(1.9875691500e-4f);
  p = fma(p, r, broadcast(1.3981999507e-3f));
  p = fma(p, r, broadcast(8.3334519073e-3f));
  p = fma(p, r, broadcast(4.1665795894e-2f));
  p = fma(p, r, broadcast(1.6666665459e-1f));
  p = fma(p, r, broadcast(5.0000001201e-1f));
  return fma(p, mul(r, r), add(r, broadcast(1.0f)));
}

SELFSUP_SIMD_INLINE Vec vexp(Vec x) {
  x = max(broadcast(-104.0f), x);  // max(lo, NaN) = NaN: the second operand wins
  x = min(broadcast(89.0f), x);
  const Vec n = round_nearest(mul(x, broadcast(1.44269504088896341f)));
  const Vec p = exp_reduced_poly(x, n);
  const Vec half = round_nearest(mul(n, broadcast(0.5f)));  // |half| <= 75
  return mul(mul(p, pow2_int(sub(n, half))), pow2_int(half));
}

// exp(x) for arguments that are <= 0 up to a rounding ulp (softmax arguments: logit - running
// max, or - lse): vexp's reduction and polynomial (same accuracy on normal results) without the
// overflow side, and with results below FLT_MIN (x < -87.3) flushed to 0 instead of gradually
// underflowing; they are < 2^-126 of the largest term (1), so no sum or product notices. n is
// clamped at -127, where pow2_int's exponent field is 0 and 2^n reads as +0.0, so -inf and
// everything below -87.3 give exactly 0 with no blend. 18 vector ops against vexp's 26 (measured
// in the attention forward, where the exp pass is most of the time outside the micro-kernels).
SELFSUP_SIMD_INLINE Vec vexp_nonpos(Vec x) {
  x = max(broadcast(-104.0f), x);  // keeps r finite below; max(lo, NaN) = NaN
  const Vec n = max(broadcast(-127.0f), round_nearest(mul(x, broadcast(1.44269504088896341f))));
  return mul(exp_reduced_poly(x, n), pow2_int(n));
}

// exp for float64 lanes: same scheme with a degree-13 Taylor/Horner polynomial on |r| <= ln2/2
// (truncation error r^14/14! < 2^-57 relative). Clamped to [-746, 710] (0 and +inf beyond); NaN
// propagates.
SELFSUP_SIMD_INLINE VecD vexp(VecD x) {
  x = max(broadcast(-746.0), x);
  x = min(broadcast(710.0), x);
  const VecD n = round_nearest(mul(x, broadcast(1.4426950408889634)));
  VecD r = fnma(n, broadcast(0.693145751953125), x);  // ln2 high part, 22 significant bits
  r = fnma(n, broadcast(1.4286068203094172e-6), r);   // ln2 - high part
  VecD p = broadcast(1.0 / 6227020800.0);
  p = fma(p, r, broadcast(1.0 / 479001600.0));
  p = fma(p, r, broadcast(1.0 / 39916800.0));
  p = fma(p, r, broadcast(1.0 / 3628800.0));
  p = fma(p, r, broadcast(1.0 / 362880.0));
  p = fma(p, r, broadcast(1.0 / 40320.0));
  p = fma(p, r, broadcast(1.0 / 5040.0));
  p = fma(p, r, broadcast(1.0 / 720.0));
  p = fma(p, r, broadcast(1.0 / 120.0));
  p = fma(p, r, broadcast(1.0 / 24.0));
  p = fma(p, r, broadcast(1.0 / 6.0));
  p = fma(p, r, broadcast(0.5));
  p = fma(p, mul(r, r), add(r, broadcast(1.0)));
  const VecD half = round_nearest(mul(n, broadcast(0.5)));  // |half| <= 538
  return mul(mul(p, pow2_int(sub(n, half))), pow2_int(half));
}

// float64 keeps vexp: its arguments reach -746 and the split is what keeps denormals right.
SELFSUP_SIMD_INLINE VecD vexp_nonpos(VecD x) { return vexp(x); }

// 2^t for the softmax's base-2 arguments t = x * log2(e) <= 0, the caller having folded log2(e)
// into the FMA that forms t (so exp(x) costs no multiply and no Cody-Waite split): n = round(t)
// through the 1.5 * 2^23 magic add, f = t - n in [-1/2, 1/2] (exact), 2^f by its degree-6 Taylor
// polynomial in f (truncation (ln2/2)^7/7! < 1.3e-7 relative; native/tests/simd_test.cc: <= 2.9
// ulp of the exact 2^t over [-126, 127]), times 2^n built in the exponent field. t is clamped at -127, where the
// exponent field is 0 and 2^n reads as +0.0: -inf and everything below -126.5 give exactly 0
// (results below FLT_MIN may flush), NaN propagates (max(lo, NaN) = NaN). Valid for t < 127.5.
// 13 vector ops against vexp_nonpos's 18; measured 6.6 against 9.9 cycles per vector on Zen 4.
SELFSUP_SIMD_INLINE Vec vexp2_nonpos(Vec t) {
  t = max(broadcast(-127.0f), t);
  const Vec magic = broadcast(12582912.0f);  // 1.5 * 2^23
  const Vec k = add(t, magic);               // rounds t to an integer in the low mantissa bits
  const Vec f = sub(t, sub(k, magic));
  Vec p = broadcast(1.5403530393381606e-4f);  // ln2^k / k!, k = 6 .. 0
  p = fma(p, f, broadcast(1.3333558146428443e-3f));
  p = fma(p, f, broadcast(9.6181291076284772e-3f));
  p = fma(p, f, broadcast(5.5504108664821580e-2f));
  p = fma(p, f, broadcast(2.4022650695910071e-1f));
  p = fma(p, f, broadcast(6.9314718055994531e-1f));
  p = fma(p, f, broadcast(1.0f));
  return mul(p, pow2_from_magic(k));
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
