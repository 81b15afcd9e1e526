// The one SIMD layer. Kernels are written once over these helpers and the
// build compiles them once per ISA variant:
//   -DSELFSUP_ISA_NS=isa_avx512 -mavx512f/bw/dq/vl -mavx2 -mfma
//                                            -> Vec is __m512 (16 floats) / VecD is __m512d (8),
//                                               partial loads and stores through opmasks
//   -DSELFSUP_ISA_NS=isa_avx2 -mavx2 -mfma   -> Vec is __m256 / VecD is __m256d, real FMA
//   -DSELFSUP_ISA_NS=isa_neon -DSELFSUP_NEON=1 -> AArch64 NEON intrinsics: Vec is two float32x4_t
//                                               (8 floats), VecD two float64x2_t, fused fmla
//   -DSELFSUP_ISA_NS=isa_generic             -> portable GNU vector extension (SSE2 on x86-64,
//                                               NEON on arm64); GCC/Clang only (MSVC: #error)
// A translation unit whose vector code is written for 8-lane vectors can keep them in the avx512
// variant by defining SELFSUP_SIMD_YMM before including this header: it then gets the AVX2 section
// (Vec = __m256; the compiler may still use EVEX encodings and the 32 registers). Its types live
// in another inline namespace (ymm vs zmm), so the two views never share a mangled name.
//
// ODR: every type and function here is declared inside namespace selfsup::SELFSUP_ISA_NS, so the
// AVX2 and the generic bodies have different mangled names. (An `inline` function with one
// mangled name compiled with different -m flags in two TUs is an ODR violation: the linker keeps
// one body, possibly the AVX2 one, and a non-AVX2 machine then dies with SIGILL.) Never include
// this header from a core (non-*_isa) TU; it refuses to compile without SELFSUP_ISA_NS.
//
// API (T = float with Vec, width kVecWidth = 8 or 16; T = double with VecD, width kVecWidthD = 4
// or 8; overloaded on the type):
//   zero_f() / zero_d(), broadcast(x), load(p) (aligned to the vector size; the avx512 section
//   does not require it), loadu(p), store(p, v),
//   storeu(p, v), load_partial(p, n) / store_partial(p, v, n) (n lanes, rest zero / untouched),
//   add sub mul div min max fma(a, b, c) = a*b + c, fnma(a, b, c) = c - a*b, abs,
//   all_le(a, b) (every lane a <= b; false on NaN), select_gt(x, y, a, b) (x > y ? a : b per lane),
//   operators + - * /, hsum(v), hmax(v), transpose8x8(Vec r[8]) (in place; with 16 lanes each
//   half of the registers, lanes 0-7 and 8-15, is its own 8x8 block),
//   widen_lo(Vec) / widen_hi(Vec) -> VecD (low / high half of the lanes), narrow(VecD lo, VecD hi)
//   -> Vec, stream_store(p, v) (non-temporal, p aligned to kVecBytes) and stream_fence(),
//   Vec8: exactly 8 floats in every variant (= Vec in avx2, neon and generic) with loadu8(p), zero8(),
//   load_partial8(p, n), storeu(p, Vec8), store_partial(p, Vec8, n), transpose8x8(Vec8 r[8]),
//   for code that is inherently 8 wide (8x8 blocks).
//   vexp(Vec): <= 1 ulp vs correctly rounded expf (checked by a sweep of [-110, 95] in both
//   variants); exp(-inf) = 0, exp(+inf) = inf, NaN propagates, gradual underflow to denormals.
//   vexp(VecD): its own double polynomial, <= 1 ulp over [-708, 709.7].
//   vexp_nonpos(v): vexp for arguments <= 0 (softmax), results below FLT_MIN flushed to 0;
//   the VecD overload is vexp.
//   vexp2_nonpos(Vec t): 2^t for base-2 softmax arguments t <= 0 (float only; <= 3 ulp).
// Macros for code that needs more than the API: SELFSUP_SIMD_AVX512 (Vec is a zmm),
// SELFSUP_SIMD_AVX2 (Vec is a ymm), SELFSUP_SIMD_X86_AVX2 (raw AVX2 + FMA intrinsics on any
// vector width are available: true in both x86 SIMD variants), SELFSUP_SIMD_NEON (Vec is a pair
// of q registers; arm_neon.h is included).
#pragma once

#ifndef SELFSUP_ISA_NS
#error "simd.h is compiled per ISA variant: define SELFSUP_ISA_NS (isa_avx512, isa_avx2, isa_neon or isa_generic)"
#endif

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__) && !defined(SELFSUP_SIMD_YMM)
#include <immintrin.h>
#define SELFSUP_SIMD_AVX512 1
#define SELFSUP_SIMD_AVX2 0
#define SELFSUP_SIMD_X86_AVX2 1
#define SELFSUP_SIMD_NEON 0
#define SELFSUP_SIMD_VECEXT 0
#define SELFSUP_SIMD_NS zmm
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SELFSUP_SIMD_AVX512 0
#define SELFSUP_SIMD_AVX2 1
#define SELFSUP_SIMD_X86_AVX2 1
#define SELFSUP_SIMD_NEON 0
#define SELFSUP_SIMD_VECEXT 0
#define SELFSUP_SIMD_NS ymm
#elif defined(SELFSUP_NEON) && SELFSUP_NEON
// The neon variant is chosen by the build (SELFSUP_NEON=1), not by __ARM_NEON: that macro is
// set in every AArch64 compile, the generic variant's included.
#if !defined(__aarch64__)
#error "SELFSUP_NEON=1 needs an AArch64 target"
#endif
#include <arm_neon.h>
#define SELFSUP_SIMD_AVX512 0
#define SELFSUP_SIMD_AVX2 0
#define SELFSUP_SIMD_X86_AVX2 0
#define SELFSUP_SIMD_NEON 1
#define SELFSUP_SIMD_VECEXT 0
#define SELFSUP_SIMD_NS neon
#else
#define SELFSUP_SIMD_AVX512 0
#define SELFSUP_SIMD_AVX2 0
#define SELFSUP_SIMD_X86_AVX2 0
#define SELFSUP_SIMD_NEON 0
#define SELFSUP_SIMD_NS vecext
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
// The section's own inline namespace: a SELFSUP_SIMD_YMM TU and a zmm TU of the avx512 variant
// both see `Vec`, but as selfsup::isa_avx512::ymm::Vec and ...::zmm::Vec (no ODR clash).
inline namespace SELFSUP_SIMD_NS {

#if SELFSUP_SIMD_AVX512
constexpr int kVecWidth = 16;  // floats per Vec
constexpr int kVecWidthD = 8;  // doubles per VecD
#else
constexpr int kVecWidth = 8;   // floats per Vec
constexpr int kVecWidthD = 4;  // doubles per VecD
#endif
constexpr int kVecBytes = kVecWidth * 4;

#if SELFSUP_SIMD_AVX512
// ------------------------------------------------------------------------------------------
// AVX-512 F + BW + DQ + VL (+ AVX2 + FMA for the 8-wide Vec8 helpers)
// ------------------------------------------------------------------------------------------
struct Vec {
  __m512 v;
};
struct VecD {
  __m512d v;
};

SELFSUP_SIMD_INLINE Vec zero_f() { return {_mm512_setzero_ps()}; }
SELFSUP_SIMD_INLINE VecD zero_d() { return {_mm512_setzero_pd()}; }
SELFSUP_SIMD_INLINE Vec broadcast(float x) { return {_mm512_set1_ps(x)}; }
SELFSUP_SIMD_INLINE VecD broadcast(double x) { return {_mm512_set1_pd(x)}; }
// load/store: the unaligned forms. Kernels written for the 8-lane variants align buffers to 32
// bytes, not 64; vmovups costs the same as vmovaps on aligned data (Intel optimization manual,
// and Agner Fog's tables for Zen 4), so nothing is lost and no 32-byte-aligned pointer faults.
SELFSUP_SIMD_INLINE Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
SELFSUP_SIMD_INLINE VecD load(const double* p) { return {_mm512_loadu_pd(p)}; }
SELFSUP_SIMD_INLINE Vec loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
SELFSUP_SIMD_INLINE VecD loadu(const double* p) { return {_mm512_loadu_pd(p)}; }
SELFSUP_SIMD_INLINE void store(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
SELFSUP_SIMD_INLINE void store(double* p, VecD a) { _mm512_storeu_pd(p, a.v); }
SELFSUP_SIMD_INLINE void storeu(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
SELFSUP_SIMD_INLINE void storeu(double* p, VecD a) { _mm512_storeu_pd(p, a.v); }

// Edges through opmasks: the first n lanes (n in 0..16 / 0..8). Masked-off lanes are not
// accessed, so they never fault (Intel SDM vol. 1, 15.4.1: fault suppression for masked-off
// elements); loads zero them (maskz), stores leave memory untouched.
SELFSUP_SIMD_INLINE __mmask16 lane_mask16(int n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}
SELFSUP_SIMD_INLINE __mmask8 lane_mask8(int n) { return static_cast<__mmask8>((1u << n) - 1u); }
SELFSUP_SIMD_INLINE Vec load_partial(const float* p, int n) {
  return {_mm512_maskz_loadu_ps(lane_mask16(n), p)};
}
SELFSUP_SIMD_INLINE VecD load_partial(const double* p, int n) {
  return {_mm512_maskz_loadu_pd(lane_mask8(n), p)};
}
SELFSUP_SIMD_INLINE void store_partial(float* p, Vec a, int n) {
  _mm512_mask_storeu_ps(p, lane_mask16(n), a.v);
}
SELFSUP_SIMD_INLINE void store_partial(double* p, VecD a, int n) {
  _mm512_mask_storeu_pd(p, lane_mask8(n), a.v);
}

SELFSUP_SIMD_INLINE Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD add(VecD a, VecD b) { return {_mm512_add_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec sub(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD sub(VecD a, VecD b) { return {_mm512_sub_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD mul(VecD a, VecD b) { return {_mm512_mul_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec div(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD div(VecD a, VecD b) { return {_mm512_div_pd(a.v, b.v)}; }
// vmaxps/vminps zmm keep the SSE rule: a NaN in either operand returns the second operand.
SELFSUP_SIMD_INLINE Vec max(Vec a, Vec b) { return {_mm512_max_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD max(VecD a, VecD b) { return {_mm512_max_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec min(Vec a, Vec b) { return {_mm512_min_ps(a.v, b.v)}; }
SELFSUP_SIMD_INLINE VecD min(VecD a, VecD b) { return {_mm512_min_pd(a.v, b.v)}; }
SELFSUP_SIMD_INLINE Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE VecD fma(VecD a, VecD b, VecD c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE Vec fnma(Vec a, Vec b, Vec c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
SELFSUP_SIMD_INLINE VecD fnma(VecD a, VecD b, VecD c) {
  return {_mm512_fnmadd_pd(a.v, b.v, c.v)};
}
// Sign bit cleared with an integer and (AVX512F has no vandps; DQ does, this keeps it to F).
SELFSUP_SIMD_INLINE Vec abs(Vec a) {
  return {_mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(0x7fffffff)))};
}
SELFSUP_SIMD_INLINE VecD abs(VecD a) {
  return {_mm512_castsi512_pd(
      _mm512_and_si512(_mm512_castpd_si512(a.v), _mm512_set1_epi64(0x7fffffffffffffffLL)))};
}
// Per-lane tests: all_le(a, b) = every lane a <= b (false where either is NaN); select_gt(x, y,
// a, b) = x > y ? a : b per lane.
SELFSUP_SIMD_INLINE bool all_le(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ) == 0xFFFF; }
SELFSUP_SIMD_INLINE Vec select_gt(Vec x, Vec y, Vec a, Vec b) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(x.v, y.v, _CMP_GT_OQ), b.v, a.v)};
}

// Reductions: halves folded down to one lane (256, 128, 64, 32 bits), a fixed association order.
SELFSUP_SIMD_INLINE float hsum(Vec a) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
SELFSUP_SIMD_INLINE double hsum(VecD a) {
  const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}
SELFSUP_SIMD_INLINE float hmax(Vec a) {
  const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
SELFSUP_SIMD_INLINE double hmax(VecD a) {
  const __m256d h = _mm256_max_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d s = _mm_max_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  s = _mm_max_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Two independent 8x8 transposes, one per 256-bit half (lanes 0-7 and 8-15 of r[0..7]).
// unpack and shuffle_ps act within 128-bit lanes on zmm as on ymm; the final step of the AVX
// sequence (vperm2f128 across the two 128-bit lanes of a ymm) becomes a two-source vpermt2ps
// that does the same inside each 256-bit half.
SELFSUP_SIMD_INLINE void transpose8x8(Vec r[8]) {
  const __m512 t0 = _mm512_unpacklo_ps(r[0].v, r[1].v), t1 = _mm512_unpackhi_ps(r[0].v, r[1].v);
  const __m512 t2 = _mm512_unpacklo_ps(r[2].v, r[3].v), t3 = _mm512_unpackhi_ps(r[2].v, r[3].v);
  const __m512 t4 = _mm512_unpacklo_ps(r[4].v, r[5].v), t5 = _mm512_unpackhi_ps(r[4].v, r[5].v);
  const __m512 t6 = _mm512_unpacklo_ps(r[6].v, r[7].v), t7 = _mm512_unpackhi_ps(r[6].v, r[7].v);
  const __m512 s0 = _mm512_shuffle_ps(t0, t2, 0x44), s1 = _mm512_shuffle_ps(t0, t2, 0xEE);
  const __m512 s2 = _mm512_shuffle_ps(t1, t3, 0x44), s3 = _mm512_shuffle_ps(t1, t3, 0xEE);
  const __m512 s4 = _mm512_shuffle_ps(t4, t6, 0x44), s5 = _mm512_shuffle_ps(t4, t6, 0xEE);
  const __m512 s6 = _mm512_shuffle_ps(t5, t7, 0x44), s7 = _mm512_shuffle_ps(t5, t7, 0xEE);
  // lo: 128-bit lanes (a0, b0 | a2, b2); hi: (a1, b1 | a3, b3); indices >= 16 select from b.
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  r[0].v = _mm512_permutex2var_ps(s0, lo, s4);
  r[1].v = _mm512_permutex2var_ps(s1, lo, s5);
  r[2].v = _mm512_permutex2var_ps(s2, lo, s6);
  r[3].v = _mm512_permutex2var_ps(s3, lo, s7);
  r[4].v = _mm512_permutex2var_ps(s0, hi, s4);
  r[5].v = _mm512_permutex2var_ps(s1, hi, s5);
  r[6].v = _mm512_permutex2var_ps(s2, hi, s6);
  r[7].v = _mm512_permutex2var_ps(s3, hi, s7);
}

// float <-> double: lanes 0..7 / 8..15 of a Vec widened, two VecD narrowed (lo -> lanes 0..7).
SELFSUP_SIMD_INLINE VecD widen_lo(Vec a) { return {_mm512_cvtps_pd(_mm512_castps512_ps256(a.v))}; }
SELFSUP_SIMD_INLINE VecD widen_hi(Vec a) { return {_mm512_cvtps_pd(_mm512_extractf32x8_ps(a.v, 1))}; }
SELFSUP_SIMD_INLINE Vec narrow(VecD lo, VecD hi) {
  return {_mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo.v)), _mm512_cvtpd_ps(hi.v), 1)};
}

// Non-temporal stores (p aligned to 64 bytes) and the fence that orders them before a join.
SELFSUP_SIMD_INLINE void stream_store(float* p, Vec a) { _mm512_stream_ps(p, a.v); }
SELFSUP_SIMD_INLINE void stream_fence() { _mm_sfence(); }

// Exactly 8 floats, for code that works in 8x8 blocks.
struct Vec8 {
  __m256 v;
};
SELFSUP_SIMD_INLINE Vec8 zero8() { return {_mm256_setzero_ps()}; }
SELFSUP_SIMD_INLINE Vec8 loadu8(const float* p) { return {_mm256_loadu_ps(p)}; }
SELFSUP_SIMD_INLINE void storeu(float* p, Vec8 a) { _mm256_storeu_ps(p, a.v); }
SELFSUP_SIMD_INLINE Vec8 load_partial8(const float* p, int n) {
  return {_mm256_maskz_loadu_ps(static_cast<__mmask8>(lane_mask8(n)), p)};
}
SELFSUP_SIMD_INLINE void store_partial(float* p, Vec8 a, int n) {
  _mm256_mask_storeu_ps(p, lane_mask8(n), a.v);
}
// The AVX sequence: unpack pairs, shuffle quads, swap 128-bit halves (24 shuffles).
SELFSUP_SIMD_INLINE void transpose8x8(Vec8 r[8]) {
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

// Helpers used only by vexp below. vrndscaleps with scale 0 is roundps (Intel intrinsics guide,
// _mm512_roundscale_ps: imm[7:4] = fraction bits kept, imm[1:0] = rounding mode).
SELFSUP_SIMD_INLINE Vec round_nearest(Vec a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
SELFSUP_SIMD_INLINE VecD round_nearest(VecD a) {
  return {_mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
SELFSUP_SIMD_INLINE Vec pow2_int(Vec n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
SELFSUP_SIMD_INLINE Vec pow2_from_magic(Vec k) {
  const __m512i e = _mm512_add_epi32(_mm512_castps_si512(k.v), _mm512_set1_epi32(127 - 0x4B400000));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
SELFSUP_SIMD_INLINE VecD pow2_int(VecD n) {
  __m512d t = _mm512_add_pd(n.v, _mm512_set1_pd(4503599627370496.0 + 1023.0));
  return {_mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(t), 52))};
}

#elif SELFSUP_SIMD_AVX2
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
SELFSUP_SIMD_INLINE bool all_le(Vec a, Vec b) { return _mm256_movemask_ps(_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)) == 0xFF; }
SELFSUP_SIMD_INLINE Vec select_gt(Vec x, Vec y, Vec a, Vec b) {
  return {_mm256_blendv_ps(b.v, a.v, _mm256_cmp_ps(x.v, y.v, _CMP_GT_OQ))};
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

SELFSUP_SIMD_INLINE void stream_store(float* p, Vec a) { _mm256_stream_ps(p, a.v); }
SELFSUP_SIMD_INLINE void stream_fence() { _mm_sfence(); }

using Vec8 = Vec;
SELFSUP_SIMD_INLINE Vec8 zero8() { return zero_f(); }
SELFSUP_SIMD_INLINE Vec8 loadu8(const float* p) { return loadu(p); }
SELFSUP_SIMD_INLINE Vec8 load_partial8(const float* p, int n) { return load_partial(p, n); }

#elif SELFSUP_SIMD_NEON
// ------------------------------------------------------------------------------------------
// AArch64 Advanced SIMD (NEON). A Vec is two q registers (8 floats) and a VecD two (4 doubles),
// so kVecWidth stays 8 and every kernel, its 8x8 blocks and its 32-byte-aligned buffers work
// unchanged; AArch64's 32 q registers hold the same tiles as the 16 ymm of AVX2. Arm intrinsics
// reference (ACLE, arm_neon.h).
// ------------------------------------------------------------------------------------------
struct Vec {
  float32x4_t lo, hi;  // lanes 0-3, 4-7
};
struct VecD {
  float64x2_t lo, hi;  // lanes 0-1, 2-3
};

SELFSUP_SIMD_INLINE Vec zero_f() { return {vdupq_n_f32(0.f), vdupq_n_f32(0.f)}; }
SELFSUP_SIMD_INLINE VecD zero_d() { return {vdupq_n_f64(0.0), vdupq_n_f64(0.0)}; }
SELFSUP_SIMD_INLINE Vec broadcast(float x) { return {vdupq_n_f32(x), vdupq_n_f32(x)}; }
SELFSUP_SIMD_INLINE VecD broadcast(double x) { return {vdupq_n_f64(x), vdupq_n_f64(x)}; }
// ld1/st1 take any alignment, so load and loadu are the same instruction.
SELFSUP_SIMD_INLINE Vec loadu(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
SELFSUP_SIMD_INLINE VecD loadu(const double* p) { return {vld1q_f64(p), vld1q_f64(p + 2)}; }
SELFSUP_SIMD_INLINE Vec load(const float* p) { return loadu(p); }
SELFSUP_SIMD_INLINE VecD load(const double* p) { return loadu(p); }
SELFSUP_SIMD_INLINE void storeu(float* p, Vec a) {
  vst1q_f32(p, a.lo);
  vst1q_f32(p + 4, a.hi);
}
SELFSUP_SIMD_INLINE void storeu(double* p, VecD a) {
  vst1q_f64(p, a.lo);
  vst1q_f64(p + 2, a.hi);
}
SELFSUP_SIMD_INLINE void store(float* p, Vec a) { storeu(p, a); }
SELFSUP_SIMD_INLINE void store(double* p, VecD a) { storeu(p, a); }
// NEON has no masked loads or stores: edges go through a register-sized stack buffer, so exactly
// n elements of p are read or written (never past the end of an array).
SELFSUP_SIMD_INLINE Vec load_partial(const float* p, int n) {
  alignas(16) float t[8] = {};
  std::memcpy(t, p, sizeof(float) * n);
  return loadu(t);
}
SELFSUP_SIMD_INLINE VecD load_partial(const double* p, int n) {
  alignas(16) double t[4] = {};
  std::memcpy(t, p, sizeof(double) * n);
  return loadu(t);
}
SELFSUP_SIMD_INLINE void store_partial(float* p, Vec a, int n) {
  alignas(16) float t[8];
  storeu(t, a);
  std::memcpy(p, t, sizeof(float) * n);
}
SELFSUP_SIMD_INLINE void store_partial(double* p, VecD a, int n) {
  alignas(16) double t[4];
  storeu(t, a);
  std::memcpy(p, t, sizeof(double) * n);
}

SELFSUP_SIMD_INLINE Vec add(Vec a, Vec b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD add(VecD a, VecD b) { return {vaddq_f64(a.lo, b.lo), vaddq_f64(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE Vec sub(Vec a, Vec b) { return {vsubq_f32(a.lo, b.lo), vsubq_f32(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD sub(VecD a, VecD b) { return {vsubq_f64(a.lo, b.lo), vsubq_f64(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE Vec mul(Vec a, Vec b) { return {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD mul(VecD a, VecD b) { return {vmulq_f64(a.lo, b.lo), vmulq_f64(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE Vec div(Vec a, Vec b) { return {vdivq_f32(a.lo, b.lo), vdivq_f32(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD div(VecD a, VecD b) { return {vdivq_f64(a.lo, b.lo), vdivq_f64(a.hi, b.hi)}; }
// max/min keep the x86 rule of the other variants, (a > b) ? a : b, so a NaN in either operand
// yields b (vexp's clamps and the kernels' running maxima rely on it). NEON's fmax would return
// the NaN from either side, fmaxnm the number: neither matches.
SELFSUP_SIMD_INLINE float32x4_t max4(float32x4_t a, float32x4_t b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
SELFSUP_SIMD_INLINE float32x4_t min4(float32x4_t a, float32x4_t b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
SELFSUP_SIMD_INLINE float64x2_t max2(float64x2_t a, float64x2_t b) { return vbslq_f64(vcgtq_f64(a, b), a, b); }
SELFSUP_SIMD_INLINE float64x2_t min2(float64x2_t a, float64x2_t b) { return vbslq_f64(vcltq_f64(a, b), a, b); }
SELFSUP_SIMD_INLINE Vec max(Vec a, Vec b) { return {max4(a.lo, b.lo), max4(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD max(VecD a, VecD b) { return {max2(a.lo, b.lo), max2(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE Vec min(Vec a, Vec b) { return {min4(a.lo, b.lo), min4(a.hi, b.hi)}; }
SELFSUP_SIMD_INLINE VecD min(VecD a, VecD b) { return {min2(a.lo, b.lo), min2(a.hi, b.hi)}; }
// fmla / fmls: fused, one rounding, like the x86 FMA variants.
SELFSUP_SIMD_INLINE Vec fma(Vec a, Vec b, Vec c) {
  return {vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi)};
}
SELFSUP_SIMD_INLINE VecD fma(VecD a, VecD b, VecD c) {
  return {vfmaq_f64(c.lo, a.lo, b.lo), vfmaq_f64(c.hi, a.hi, b.hi)};
}
SELFSUP_SIMD_INLINE Vec fnma(Vec a, Vec b, Vec c) {
  return {vfmsq_f32(c.lo, a.lo, b.lo), vfmsq_f32(c.hi, a.hi, b.hi)};
}
SELFSUP_SIMD_INLINE VecD fnma(VecD a, VecD b, VecD c) {
  return {vfmsq_f64(c.lo, a.lo, b.lo), vfmsq_f64(c.hi, a.hi, b.hi)};
}
SELFSUP_SIMD_INLINE Vec abs(Vec a) { return {vabsq_f32(a.lo), vabsq_f32(a.hi)}; }
SELFSUP_SIMD_INLINE VecD abs(VecD a) { return {vabsq_f64(a.lo), vabsq_f64(a.hi)}; }
SELFSUP_SIMD_INLINE bool all_le(Vec a, Vec b) {
  return vminvq_u32(vandq_u32(vcleq_f32(a.lo, b.lo), vcleq_f32(a.hi, b.hi))) != 0;
}
SELFSUP_SIMD_INLINE Vec select_gt(Vec x, Vec y, Vec a, Vec b) {
  return {vbslq_f32(vcgtq_f32(x.lo, y.lo), a.lo, b.lo), vbslq_f32(vcgtq_f32(x.hi, y.hi), a.hi, b.hi)};
}

// Reductions in the association order of the AVX2 path: lanes i and i+4, then (0+2) + (1+3).
SELFSUP_SIMD_INLINE float hsum(Vec a) {
  const float32x4_t s = vaddq_f32(a.lo, a.hi);
  const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
  return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}
SELFSUP_SIMD_INLINE double hsum(VecD a) {
  const float64x2_t s = vaddq_f64(a.lo, a.hi);
  return vgetq_lane_f64(s, 0) + vgetq_lane_f64(s, 1);
}
SELFSUP_SIMD_INLINE float hmax(Vec a) {
  const float32x4_t s = max4(a.lo, a.hi);
  const float32x4_t t = max4(s, vextq_f32(s, s, 2));
  const float x = vgetq_lane_f32(t, 0), y = vgetq_lane_f32(t, 1);
  return x > y ? x : y;
}
SELFSUP_SIMD_INLINE double hmax(VecD a) {
  const float64x2_t s = max2(a.lo, a.hi);
  const double x = vgetq_lane_f64(s, 0), y = vgetq_lane_f64(s, 1);
  return x > y ? x : y;
}

// 4x4 transpose of (a, b, c, d): trn1/trn2 on 32-bit lanes, then on 64-bit pairs.
SELFSUP_SIMD_INLINE void transpose4x4(float32x4_t& a, float32x4_t& b, float32x4_t& c, float32x4_t& d) {
  const float32x4_t ab0 = vtrn1q_f32(a, b), ab1 = vtrn2q_f32(a, b);
  const float32x4_t cd0 = vtrn1q_f32(c, d), cd1 = vtrn2q_f32(c, d);
  a = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(ab0), vreinterpretq_f64_f32(cd0)));
  b = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(ab1), vreinterpretq_f64_f32(cd1)));
  c = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(ab0), vreinterpretq_f64_f32(cd0)));
  d = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(ab1), vreinterpretq_f64_f32(cd1)));
}
// 8x8 as four 4x4 blocks: each block transposed in place, then the two off-diagonal blocks
// (rows 0-3 lanes 4-7 and rows 4-7 lanes 0-3) swapped.
SELFSUP_SIMD_INLINE void transpose8x8(Vec r[8]) {
  transpose4x4(r[0].lo, r[1].lo, r[2].lo, r[3].lo);
  transpose4x4(r[0].hi, r[1].hi, r[2].hi, r[3].hi);
  transpose4x4(r[4].lo, r[5].lo, r[6].lo, r[7].lo);
  transpose4x4(r[4].hi, r[5].hi, r[6].hi, r[7].hi);
  for (int i = 0; i < 4; ++i) {
    const float32x4_t t = r[i].hi;
    r[i].hi = r[i + 4].lo;
    r[i + 4].lo = t;
  }
}

SELFSUP_SIMD_INLINE VecD widen_lo(Vec a) { return {vcvt_f64_f32(vget_low_f32(a.lo)), vcvt_high_f64_f32(a.lo)}; }
SELFSUP_SIMD_INLINE VecD widen_hi(Vec a) { return {vcvt_f64_f32(vget_low_f32(a.hi)), vcvt_high_f64_f32(a.hi)}; }
SELFSUP_SIMD_INLINE Vec narrow(VecD lo, VecD hi) {
  return {vcvt_high_f32_f64(vcvt_f32_f64(lo.lo), lo.hi), vcvt_high_f32_f64(vcvt_f32_f64(hi.lo), hi.hi)};
}

// Helpers used only by vexp below. frintn: round to nearest, ties to even (roundps's default).
SELFSUP_SIMD_INLINE Vec round_nearest(Vec a) { return {vrndnq_f32(a.lo), vrndnq_f32(a.hi)}; }
SELFSUP_SIMD_INLINE VecD round_nearest(VecD a) { return {vrndnq_f64(a.lo), vrndnq_f64(a.hi)}; }
// 2^n for integral-valued float n in [-127, 127] (built in the exponent field; -127 gives +0.0).
SELFSUP_SIMD_INLINE float32x4_t pow2_int4(float32x4_t n) {
  const int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
  return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
SELFSUP_SIMD_INLINE Vec pow2_int(Vec n) { return {pow2_int4(n.lo), pow2_int4(n.hi)}; }
// 2^n from k = n + 1.5 * 2^23: k's bit pattern is 0x4B400000 + n (see the AVX2 section).
SELFSUP_SIMD_INLINE float32x4_t pow2_from_magic4(float32x4_t k) {
  const int32x4_t e = vaddq_s32(vreinterpretq_s32_f32(k), vdupq_n_s32(127 - 0x4B400000));
  return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
SELFSUP_SIMD_INLINE Vec pow2_from_magic(Vec k) { return {pow2_from_magic4(k.lo), pow2_from_magic4(k.hi)}; }
SELFSUP_SIMD_INLINE float64x2_t pow2_int2(float64x2_t n) {
  const int64x2_t e = vaddq_s64(vcvtnq_s64_f64(n), vdupq_n_s64(1023));
  return vreinterpretq_f64_s64(vshlq_n_s64(e, 52));
}
SELFSUP_SIMD_INLINE VecD pow2_int(VecD n) { return {pow2_int2(n.lo), pow2_int2(n.hi)}; }

// Plain stores: AArch64's non-temporal stnp is a hint with no fence protocol to follow.
SELFSUP_SIMD_INLINE void stream_store(float* p, Vec a) { store(p, a); }
SELFSUP_SIMD_INLINE void stream_fence() {}

using Vec8 = Vec;
SELFSUP_SIMD_INLINE Vec8 zero8() { return zero_f(); }
SELFSUP_SIMD_INLINE Vec8 loadu8(const float* p) { return loadu(p); }
SELFSUP_SIMD_INLINE Vec8 load_partial8(const float* p, int n) { return load_partial(p, n); }

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
// A multiply then an add (two roundings): the variant is built with -ffp-contract=off, so GCC
// does not fuse it on arm64 (where FMA is baseline) either; kernels must not depend on fused
// rounding for correctness.
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
SELFSUP_SIMD_INLINE bool all_le(Vec a, Vec b) {
  const selfsup_v8i m = a.v <= b.v;  // -1 where true
  bool all = true;
  for (int i = 0; i < 8; ++i) all = all && m[i] != 0;
  return all;
}
SELFSUP_SIMD_INLINE Vec select_gt(Vec x, Vec y, Vec a, Vec b) { return {x.v > y.v ? a.v : b.v}; }
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

// No non-temporal store in portable code: a plain store and no fence.
SELFSUP_SIMD_INLINE void stream_store(float* p, Vec a) { store(p, a); }
SELFSUP_SIMD_INLINE void stream_fence() {}

using Vec8 = Vec;
SELFSUP_SIMD_INLINE Vec8 zero8() { return zero_f(); }
SELFSUP_SIMD_INLINE Vec8 loadu8(const float* p) { return loadu(p); }
SELFSUP_SIMD_INLINE Vec8 load_partial8(const float* p, int n) { return load_partial(p, n); }

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

// The vector type V and its width W for element type T (Vec / kVecWidth for float, VecD /
// kVecWidthD for double): the one trait templates over float and double use.
template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  using V = Vec;
  static constexpr int W = kVecWidth;
};
template <>
struct VecOf<double> {
  using V = VecD;
  static constexpr int W = kVecWidthD;
};

}  // inline namespace SELFSUP_SIMD_NS
}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
