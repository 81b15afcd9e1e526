// Per-ISA Philox normals (philox_normal_simd, see selfsup/philox.h): the stream of philox_normal,
// bit for bit, at SIMD speed. Used where noise is drawn in bulk (StoP: ~3.6M values per ViT-B
// step, where the scalar generator with libm log/cos/sin was 2/3 of the kernel's time).
//
// AVX2: Philox 4x32-10 on 8 counters at once (32x32->64 multiplies with _mm256_mul_epu32 on the
// even and the odd lanes), then Box-Muller in double precision, 4 pairs per vector:
//   log: fdlibm's reduction and minimax polynomial (e_log.c, < 1 ulp there);
//   sqrt: vsqrtpd (correctly rounded, like std::sqrt);
//   sincos: quadrant j = round(theta * 2/pi), r = theta - j*pi/2 with pi/2 in three parts
//           (exact first step by Sterbenz, relative error ~2^-53 even at theta = fl(pi/2) where
//           r ~ 6e-17), fdlibm's __kernel_sin / __kernel_cos polynomials on |r| <= pi/4.
// Each part is within a few double ulps of glibc's (measured exhaustively over all 2^24 inputs u1
// and all 2^24 inputs u2, see docs/tokens.md), so the double product r*cos differs from the scalar
// path's by far less than 2^10 ulps. Rounding that to float32 gives the scalar path's float unless
// the double lies within 2^10 ulps of a float32 rounding midpoint (29 dropped mantissa bits near
// 2^28; probability 2^-18 per value): those values are recomputed with philox_normal. So the result
// equals philox_normal exactly, and therefore lib/random.ts normalFloat32 within 1 float32 ulp.
//
// Generic variant: philox_normal itself (the brief allows scalar; values identical by definition).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/simd.h"
#include "selfsup/philox.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {

#if SELFSUP_SIMD_X86_AVX2
namespace {

constexpr uint32_t kM0 = 0xD2511F53u;
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;
constexpr uint32_t kW1 = 0xBB67AE85u;

// hi/lo 32-bit halves of a * m for 8 lanes (m holds the multiplier in every 32-bit lane).
inline void mulhilo(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i pe = _mm256_mul_epu32(a, m);                         // lanes 0,2,4,6 as 64-bit
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1,3,5,7
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

struct Keys {
  __m256i k0[10], k1[10];
};

inline void make_keys(uint64_t seed, Keys* k) {
  uint32_t a = static_cast<uint32_t>(seed), b = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      a += kW0;
      b += kW1;
    }
    k->k0[r] = _mm256_set1_epi32(static_cast<int32_t>(a));
    k->k1[r] = _mm256_set1_epi32(static_cast<int32_t>(b));
  }
}

// Words of the 8 blocks block0 .. block0+7 of the stream: c[j] lane l = word j of block0 + l.
inline void philox8(uint64_t block0, uint32_t stream, const Keys& k, __m256i c[4]) {
  const uint32_t lo = static_cast<uint32_t>(block0), hi = static_cast<uint32_t>(block0 >> 32);
  if (lo <= 0xFFFFFFFFu - 7u) {
    c[0] = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(lo)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    c[1] = _mm256_set1_epi32(static_cast<int32_t>(hi));
  } else {  // the low counter word wraps inside this group
    alignas(32) uint32_t l[8], h[8];
    for (int i = 0; i < 8; ++i) {
      const uint64_t b = block0 + static_cast<uint64_t>(i);
      l[i] = static_cast<uint32_t>(b);
      h[i] = static_cast<uint32_t>(b >> 32);
    }
    c[0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(l));
    c[1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(h));
  }
  c[2] = _mm256_set1_epi32(static_cast<int32_t>(stream));
  c[3] = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi32(static_cast<int32_t>(kM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int32_t>(kM1));
  for (int r = 0; r < 10; ++r) {
    __m256i hi0, lo0, hi1, lo1;
    mulhilo(c[0], m0, &hi0, &lo0);
    mulhilo(c[2], m1, &hi1, &lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), k.k0[r]);
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), k.k1[r]);
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
  }
}

inline __m256d fma_pd(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
inline __m256d set1(double x) { return _mm256_set1_pd(x); }

// ln(x) for x in [2^-24, 1] (fdlibm e_log.c: x = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2))).
// Q independent vectors in lockstep: each step is a long dependent chain (division, polynomial),
// so interleaving keeps the FP pipes busy instead of waiting on latency.
template <int Q>
inline void vlog(const __m256d* x, __m256d* out) {
  __m256d m[Q], k[Q], f[Q], hfsq[Q], s[Q], z[Q], w[Q], R[Q];
  for (int q = 0; q < Q; ++q) {
    const __m256i bits = _mm256_castpd_si256(x[q]);
    const __m256i mant = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll));
    m[q] = _mm256_castsi256_pd(_mm256_or_si256(mant, _mm256_set1_epi64x(0x3FF0000000000000ll)));
    // k = biased exponent - 1023, as a double: the exponent field as the low bits of 2^52.
    const __m256i e = _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x4330000000000000ll));
    k[q] = _mm256_sub_pd(_mm256_castsi256_pd(e), set1(4503599627370496.0 + 1023.0));
  }
  for (int q = 0; q < Q; ++q) {
    const __m256d big = _mm256_cmp_pd(m[q], set1(1.4142135623730951), _CMP_GE_OQ);
    m[q] = _mm256_blendv_pd(m[q], _mm256_mul_pd(m[q], set1(0.5)), big);
    k[q] = _mm256_add_pd(k[q], _mm256_and_pd(big, set1(1.0)));
    f[q] = _mm256_sub_pd(m[q], set1(1.0));  // exact (Sterbenz)
  }
  for (int q = 0; q < Q; ++q) s[q] = _mm256_div_pd(f[q], _mm256_add_pd(set1(2.0), f[q]));
  for (int q = 0; q < Q; ++q) {
    hfsq[q] = _mm256_mul_pd(_mm256_mul_pd(set1(0.5), f[q]), f[q]);
    z[q] = _mm256_mul_pd(s[q], s[q]);
    w[q] = _mm256_mul_pd(z[q], z[q]);
  }
  for (int q = 0; q < Q; ++q) {
    const __m256d t1 = _mm256_mul_pd(w[q], fma_pd(w[q], fma_pd(w[q], set1(1.531383769920937332e-01), set1(2.222219843214978396e-01)), set1(3.999999999940941908e-01)));
    const __m256d t2 = _mm256_mul_pd(z[q], fma_pd(w[q], fma_pd(w[q], fma_pd(w[q], set1(1.479819860511658591e-01), set1(1.818357216161805012e-01)), set1(2.857142874366239149e-01)), set1(6.666666666666735130e-01)));
    R[q] = _mm256_add_pd(t2, t1);
  }
  for (int q = 0; q < Q; ++q) {
    // k*ln2_hi - ((hfsq - (s*(hfsq + R) + k*ln2_lo)) - f)
    const __m256d inner = fma_pd(k[q], set1(1.90821492927058770002e-10), _mm256_mul_pd(s[q], _mm256_add_pd(hfsq[q], R[q])));
    const __m256d t = _mm256_sub_pd(_mm256_sub_pd(hfsq[q], inner), f[q]);
    out[q] = fma_pd(k[q], set1(6.93147180369123816490e-01), _mm256_xor_pd(t, set1(-0.0)));
  }
}

// sin and cos of theta in [0, 2*pi], Q vectors in lockstep.
template <int Q>
inline void vsincos(const __m256d* theta, __m256d* sin_out, __m256d* cos_out) {
  __m256d j[Q], r[Q], z[Q], s[Q], c[Q];
  for (int q = 0; q < Q; ++q) {
    j[q] = _mm256_round_pd(_mm256_mul_pd(theta[q], set1(0.63661977236758134308)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // pi/2 = p1 + p2 + p2t (fdlibm's pio2_1, pio2_2, pio2_2t); j*p1 and j*p2 are exact (33-bit parts).
    r[q] = _mm256_fnmadd_pd(j[q], set1(1.57079632673412561417e+00), theta[q]);  // exact
  }
  for (int q = 0; q < Q; ++q) r[q] = _mm256_fnmadd_pd(j[q], set1(6.07710050630396597660e-11), r[q]);
  for (int q = 0; q < Q; ++q) {
    r[q] = _mm256_fnmadd_pd(j[q], set1(2.02226624879595063154e-21), r[q]);
    z[q] = _mm256_mul_pd(r[q], r[q]);
  }
  for (int q = 0; q < Q; ++q) {
    // __kernel_sin: r + r^3 (S1 + z (S2 + z (S3 + z (S4 + z (S5 + z S6)))))
    __m256d ps = fma_pd(z[q], set1(1.58969099521155010221e-10), set1(-2.50507602534068634195e-08));
    ps = fma_pd(z[q], ps, set1(2.75573137070700676789e-06));
    ps = fma_pd(z[q], ps, set1(-1.98412698298579493134e-04));
    ps = fma_pd(z[q], ps, set1(8.33333333332248946124e-03));
    ps = fma_pd(z[q], ps, set1(-1.66666666666666324348e-01));
    s[q] = fma_pd(_mm256_mul_pd(z[q], r[q]), ps, r[q]);
  }
  for (int q = 0; q < Q; ++q) {
    // __kernel_cos: 1 - z/2 + z^2 (C1 + z (C2 + ... + z C6)), with 1 - z/2 compensated.
    __m256d pc = fma_pd(z[q], set1(-1.13596475577881948265e-11), set1(2.08757232129817482790e-09));
    pc = fma_pd(z[q], pc, set1(-2.75573143513906633035e-07));
    pc = fma_pd(z[q], pc, set1(2.48015872894767294178e-05));
    pc = fma_pd(z[q], pc, set1(-1.38888888888741095749e-03));
    pc = fma_pd(z[q], pc, set1(4.16666666666666019037e-02));
    const __m256d hz = _mm256_mul_pd(set1(0.5), z[q]);
    const __m256d a = _mm256_sub_pd(set1(1.0), hz);
    const __m256d corr = _mm256_sub_pd(_mm256_sub_pd(set1(1.0), a), hz);  // rounding error of a
    c[q] = _mm256_add_pd(a, fma_pd(_mm256_mul_pd(z[q], z[q]), pc, corr));
  }
  for (int q = 0; q < Q; ++q) {
    // Quadrant: (sin, cos)(theta) = (s, c), (c, -s), (-s, -c), (-c, s) for j mod 4 = 0..3.
    const __m256i ji = _mm256_castpd_si256(_mm256_add_pd(j[q], set1(4503599627370496.0)));
    const __m256i one = _mm256_set1_epi64x(1), two = _mm256_set1_epi64x(2);
    const __m256d swap = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(ji, one), one));
    const __m256d ssign = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_and_si256(ji, two), 62));
    const __m256d csign = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_and_si256(_mm256_add_epi64(ji, one), two), 62));
    sin_out[q] = _mm256_xor_pd(_mm256_blendv_pd(s[q], c[q], swap), ssign);
    cos_out[q] = _mm256_xor_pd(_mm256_blendv_pd(c[q], s[q], swap), csign);
  }
}

// Lanes whose double value lies within 2^10 ulps of a float32 rounding midpoint (the 29 mantissa
// bits dropped by the conversion within 2^10 of 2^28), as a 4-bit mask.
inline int near_midpoint(__m256d v) {
  const __m256i low = _mm256_and_si256(_mm256_sub_epi64(_mm256_castpd_si256(v), _mm256_set1_epi64x((1ll << 28) - (1ll << 10))),
                                       _mm256_set1_epi64x((1ll << 29) - 1));
  return _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(1ll << 11), low)));
}

// Box-Muller for Q x 4 pairs: words a (u1) and b (u2) in 4 int32 lanes -> r cos, r sin (double).
template <int Q>
inline void box_muller(const __m128i* wa, const __m128i* wb, __m256d* vc, __m256d* vs) {
  __m256d u1[Q], theta[Q], L[Q], s[Q], c[Q];
  for (int q = 0; q < Q; ++q) {
    const __m256d ma = _mm256_cvtepi32_pd(_mm_srli_epi32(wa[q], 8));
    const __m256d mb = _mm256_cvtepi32_pd(_mm_srli_epi32(wb[q], 8));
    u1[q] = _mm256_mul_pd(_mm256_add_pd(ma, set1(1.0)), set1(1.0 / 16777216.0));
    theta[q] = _mm256_mul_pd(set1(6.283185307179586), _mm256_mul_pd(mb, set1(1.0 / 16777216.0)));
  }
  vlog<Q>(u1, L);
  vsincos<Q>(theta, s, c);
  for (int q = 0; q < Q; ++q) {
    const __m256d r = _mm256_sqrt_pd(_mm256_mul_pd(set1(-2.0), L[q]));
    vc[q] = _mm256_mul_pd(r, c[q]);
    vs[q] = _mm256_mul_pd(r, s[q]);
  }
}

// Box-Muller vectors evaluated in lockstep: 4 (all 16 pairs of a group) measured 2.44 ns/value
// against 2.65 for 2 and 2.99 for 1 (one core, output in L2).
constexpr int kInterleave = 4;

// The 32 normals at offsets 4*block0 .. 4*block0 + 31 into out[0..32). Returns a 32-bit mask of
// the values that must be recomputed by the scalar path.
inline uint32_t normals32(uint64_t block0, uint32_t stream, const Keys& k, float* out) {
  __m256i c[4];
  philox8(block0, stream, k, c);
  // Pairs (word 0, word 1) and (word 2, word 3) of blocks 0-3 and of blocks 4-7.
  const __m128i wa[4] = {_mm256_castsi256_si128(c[0]), _mm256_castsi256_si128(c[2]), _mm256_extracti128_si256(c[0], 1), _mm256_extracti128_si256(c[2], 1)};
  const __m128i wb[4] = {_mm256_castsi256_si128(c[1]), _mm256_castsi256_si128(c[3]), _mm256_extracti128_si256(c[1], 1), _mm256_extracti128_si256(c[3], 1)};
  __m256d vc[4], vs[4];
  for (int i = 0; i < 4; i += kInterleave) box_muller<kInterleave>(wa + i, wb + i, vc + i, vs + i);
  uint32_t redo = 0;
  for (int h = 0; h < 2; ++h) {  // blocks 4h .. 4h+3
    const __m256d ca = vc[2 * h], sa = vs[2 * h], cb = vc[2 * h + 1], sb = vs[2 * h + 1];
    const int n0 = near_midpoint(ca), n1 = near_midpoint(sa), n2 = near_midpoint(cb), n3 = near_midpoint(sb);
    if ((n0 | n1 | n2 | n3) != 0) {
      for (int l = 0; l < 4; ++l) {
        const uint32_t bits = ((n0 >> l) & 1) | (((n1 >> l) & 1) << 1) | (((n2 >> l) & 1) << 2) | (((n3 >> l) & 1) << 3);
        redo |= bits << (16 * h + 4 * l);
      }
    }
    __m128 r0 = _mm256_cvtpd_ps(ca), r1 = _mm256_cvtpd_ps(sa), r2 = _mm256_cvtpd_ps(cb), r3 = _mm256_cvtpd_ps(sb);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // row l = block 4h+l: (cos a, sin a, cos b, sin b)
    _mm_storeu_ps(out + 16 * h, r0);
    _mm_storeu_ps(out + 16 * h + 4, r1);
    _mm_storeu_ps(out + 16 * h + 8, r2);
    _mm_storeu_ps(out + 16 * h + 12, r3);
  }
  return redo;
}

}  // namespace

void philox_normal_simd(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out) {
  if (n <= 0) return;
  // Head up to a block boundary (offset % 4 == 0) on the scalar path.
  const int64_t head = std::min<int64_t>(n, static_cast<int64_t>((4 - offset % 4) % 4));
  if (head > 0) philox_normal(seed, stream, offset, head, out);
  offset += static_cast<uint64_t>(head);
  out += head;
  n -= head;
  if (n <= 0) return;
  Keys k;
  make_keys(seed, &k);
  uint64_t block = offset / 4;
  alignas(32) float tmp[32];
  for (int64_t i = 0; i < n; i += 32, block += 8) {
    const int64_t m = std::min<int64_t>(32, n - i);
    float* dst = m == 32 ? out + i : tmp;
    uint32_t redo = normals32(block, stream, k, dst);
    while (redo != 0) {
      const int l = __builtin_ctz(redo);
      redo &= redo - 1;
      philox_normal(seed, stream, 4 * block + static_cast<uint64_t>(l), 1, dst + l);
    }
    if (m < 32) std::memcpy(out + i, tmp, sizeof(float) * static_cast<size_t>(m));
  }
}

#else

void philox_normal_simd(uint64_t seed, uint32_t stream, uint64_t offset, int64_t n, float* out) {
  philox_normal(seed, stream, offset, n, out);
}

#endif

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
