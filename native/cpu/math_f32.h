// float32 transcendentals in float32 arithmetic, written as scalar branch-free code (selects and
// bit casts, no branches, no calls) so that a plain loop over them vectorizes in every ISA
// variant: 8 lanes per AVX2 vector (16 with AVX-512), against 4 when they were evaluated in
// double. Multiply-adds are fused (an FMA, or in the generic variant a double product and sum).
//
// Technique (Cody and Waite, "Software Manual for the Elementary Functions", 1980; the scheme of
// Cephes and SLEEF): reduce the argument exactly (a two-part ln2, the exponent field), approximate
// on the reduced range by a polynomial, rebuild. The polynomials are minimax fits computed for
// this file (Lawson's reweighted least squares on 3000 Chebyshev points against mpmath, then the
// coefficients rounded to float32; see docs/tensor-core.md): their own error is under 0.11 ulp.
//
// Accuracy over every float32 input (exhaustive sweeps against double-precision libm, with and
// without FMA; docs/tensor-core.md): exp and log within 1 ulp of the correctly rounded result,
// tanh and sigmoid within 2, including denormal results, overflow, -0, +-inf and NaN.
//
// Include after simd.h's includes from a per-ISA translation unit built without trapping math
// (see native/ops/tensor/cpu.cc): with trapping math GCC keeps the selects as branches and the
// loops stay scalar.
#pragma once

#ifndef SELFSUP_ISA_NS
#error "math_f32.h is compiled per ISA variant: define SELFSUP_ISA_NS"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__)
#define SELFSUP_MATHF_INLINE inline __attribute__((always_inline))
#else
#define SELFSUP_MATHF_INLINE inline
#endif

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace mathf {

// The polynomials are written out as chains of fused() steps on purpose: a Horner helper over a
// coefficient array stopped GCC 12 from vectorizing the callers' loops (5x slower, measured).
SELFSUP_MATHF_INLINE int32_t bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }
SELFSUP_MATHF_INLINE float from_bits(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }
// 2^e as a float for e in [-126, 127] (the exponent field; unsigned shift: a NaN lane's garbage e
// must not be signed-overflow UB).
SELFSUP_MATHF_INLINE float pow2i(int32_t e) { return from_bits(static_cast<int32_t>(static_cast<uint32_t>(e + 127) << 23)); }

// a * b + c rounded once: an FMA where the variant has one (the x86 variants are built with
// -mfma, AArch64 has it in NEON); elsewhere (the generic variant) in double, where the product
// of two floats is exact, so only the sum rounds (then to float: a second rounding 2^-29 below
// the first). The compiler vectorizes either form. The GELU bounds need it: with a float
// multiply then add, its worst cases measured 2.45e-7 relative against 1.9e-7 with FMA.
SELFSUP_MATHF_INLINE float fused(float a, float b, float c) {
#if defined(__FMA__) || defined(SELFSUP_NEON)
  return std::fma(a, b, c);
#else
  return static_cast<float>(static_cast<double>(a) * static_cast<double>(b) + static_cast<double>(c));
#endif
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kLn2Hi = 0.693359375f;        // 355/512: n * kLn2Hi is exact for |n| < 2^15
constexpr float kLn2Lo = -2.12194440e-4f;     // ln 2 - kLn2Hi
constexpr float kRoundMagic = 12582912.0f;    // 1.5 * 2^23: adding it rounds to an integer

// e^(x + c) = (1 + q) s1 s2 for a small correction c (|c| < 1/16; 0 for plain exp), NaN
// excluded (callers select it back). Below -104 the result is 0 (e^-104 is under half the
// smallest denormal): s1 = 0 then, with the lane computed at x = 0 meanwhile, because a multiply
// that underflows to 0 takes a microcode assist on x86 (2.5x slower on Zen 4, measured) and -inf
// masks are common inputs. x is clamped at 89, where e^x overflows to inf. n = round((x + c) /
// ln2), r = (x - n ln2) + c, which is exact up to the kLn2Lo product (x - n kLn2Hi is exact: both
// are on a grid no finer than x's and the difference is < 0.41). e^r = 1 + q, q = r + r^2 P(r),
// P of degree 5 on |r| <= 0.3515 (fit error 0.02 ulp). 2^n is applied as two factors
// 2^(n - n/2) and 2^(n/2), both normal over the whole range, so results round once into
// denormals and overflow exactly where expf does. k (0 or 24, for x + c <= 0 only) scales by 2^k
// and moves the cut to 0 down to -118: s1 s2 = 2^(n + k) is then exact (normal down to e^-104),
// for products e^(x + c) K that must round once at the end, also into denormals where K > 1
// (GELU's tail). Returning 1 + q unrounded lets a caller fold (1 + q) K into one FMA.
struct ExpParts {
  float q, s1, s2;
};
SELFSUP_MATHF_INLINE ExpParts exp_parts(float x, float c, int32_t k) {
  const bool under = x < (k == 0 ? -104.0f : -118.0f);  // with k = 24 s1 s2 stays >= 2^-146
  x = under ? 0.0f : std::min(x, 89.0f);
  const float t = fused(x + c, 1.44269504088896341f, kRoundMagic);
  const float n = t - kRoundMagic;
  const float r = fused(-n, kLn2Lo, x - n * kLn2Hi) + c;
  float p = 1.978879736e-04f;
  p = fused(p, r, 1.394622028e-03f);
  p = fused(p, r, 8.333506994e-03f);
  p = fused(p, r, 4.166627303e-02f);
  p = fused(p, r, 1.666666567e-01f);
  p = fused(p, r, 5.000000000e-01f);
  const int32_t ni = bits(t) - 0x4B400000 + k;  // t's low mantissa bits hold n
  const int32_t n1 = ni >> 1;
  return {fused(p, r * r, r), under ? 0.0f : pow2i(n1), pow2i(ni - n1)};
}
SELFSUP_MATHF_INLINE float exp_sum(float x, float c) {
  const ExpParts e = exp_parts(x, c, 0);
  return (1.0f + e.q) * e.s1 * e.s2;
}

SELFSUP_MATHF_INLINE float exp(float x) {
  const float y = exp_sum(x, 0.0f);
  return x != x ? x : y;
}

// 1 / (1 + e^-x) from e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) below, so neither
// tail overflows and the lower one keeps its denormals (sigmoid(x) ~ e^x there).
SELFSUP_MATHF_INLINE float sigmoid(float x) {
  const float e = exp_sum(-std::fabs(x), 0.0f);
  const float y = (x < 0.0f ? e : 1.0f) / (1.0f + e);
  return x != x ? x : y;
}

// tanh |x| = |x| + |x|^3 T(x^2) below 0.625 (T of degree 5, fit error 0.05 ulp), else
// 1 - 2 / (e^2|x| + 1), whose subtraction cancels at most one bit there (tanh 0.625 = 0.555);
// e^2|x| = inf gives exactly 1. The sign is copied back (tanh(-0) = -0).
SELFSUP_MATHF_INLINE float tanh(float x) {
  const float a = std::fabs(x), z = a * a;
  float p = 2.142960904e-03f;
  p = fused(p, z, -8.177396841e-03f);
  p = fused(p, z, 2.170070261e-02f);
  p = fused(p, z, -5.394676328e-02f);
  p = fused(p, z, 1.333320588e-01f);
  p = fused(p, z, -3.333333135e-01f);
  const float small = fused(p * z, a, a);
  const float big = 1.0f - 2.0f / (exp_sum(a + a, 0.0f) + 1.0f);
  const float y = std::copysign(a < 0.625f ? small : big, x);
  return x != x ? x : y;
}

// log x = e ln2 + log1p(f), x = (1 + f) 2^e with 1 + f in [sqrt(1/2), sqrt(2)) (taken from the
// bits: subtracting sqrt(1/2)'s pattern puts the exponent boundary there). log1p(f) =
// f - f^2/2 + f^3 P(f), P of degree 7 (fit error 0.11 ulp). e ln2 + f is summed exactly
// (Fast2Sum: |e kLn2Hi| >= 0.69 > |f| when e != 0) and the small terms added to its error, so
// the result is rounded about once. Denormals are scaled by 2^23 first; x < 0 and NaN give
// NaN, +-0 gives -inf, inf gives inf.
SELFSUP_MATHF_INLINE float log(float x) {
  const bool tiny = x < 1.17549435e-38f;
  const int32_t ix = static_cast<int32_t>(static_cast<uint32_t>(bits(tiny ? x * 8388608.0f : x)) - 0x3f3504f3u);
  const float e = static_cast<float>((ix >> 23) - (tiny ? 23 : 0));
  const float f = from_bits((ix & 0x007fffff) + 0x3f3504f3) - 1.0f;  // exact
  float p = -7.634501159e-02f;
  p = fused(p, f, 1.276158392e-01f);
  p = fused(p, f, -1.316018403e-01f);
  p = fused(p, f, 1.420175731e-01f);
  p = fused(p, f, -1.662335694e-01f);
  p = fused(p, f, 2.000122666e-01f);
  p = fused(p, f, -2.500081956e-01f);
  p = fused(p, f, 3.333333135e-01f);
  const float f2 = f * f;
  const float tail = fused(f2, fused(p, f, -0.5f), e * kLn2Lo);  // f^2 (f P - 1/2) + e ln2_lo
  const float hi = e * kLn2Hi;  // exact
  const float s = hi + f;
  const float err = (hi - s) + f;  // exact rounding error of s
  float y = s + (err + tail);
  y = x == 0.0f ? -kInf : y;
  y = x == kInf ? x : y;
  y = (x < 0.0f || x != x) ? std::numeric_limits<float>::quiet_NaN() : y;
  return y;
}

// e^(-a^2 / 2) for a >= 0 as exp_parts with k = 24, the square split exactly: a = ah + al, ah =
// a's 12 leading significant bits, so ah^2 is exact and a^2 = ah^2 + al (a + ah) up to a
// rounding of the small part (Dekker's splitting, "A floating-point technique for extending the
// available precision", 1971). A rounded a^2 would cost a^2/2 ulp of relative error: 8 ulp at 4.
SELFSUP_MATHF_INLINE ExpParts exp_neg_half_sq(float a) {
  const float ah = from_bits(bits(a) & static_cast<int32_t>(0xfffff000u));
  const float al = a - ah;
  return exp_parts(-0.5f * (ah * ah), -0.5f * (al * (a + ah)), 24);
}
// (1 + q) K 2^-24 2^(n + 24) = e^(-a^2/2) K: the FMA rounds, the scaling by 2^-24 is exact (the
// callers' K are >= 1e-8), and the last product rounds only where the result is a denormal.
SELFSUP_MATHF_INLINE float times_exp(ExpParts e, float k) {
  return fused(e.q, k, k) * 5.96046448e-08f * (e.s1 * e.s2);  // 2^-24
}

// GELU's exact (erf) form, x Phi(x), and its derivative Phi(x) + x phi(x), from the lower tail
// Phi(-a) = phi(a) m(a), a = |x|, m the Mills ratio: relative accuracy where Phi is tiny, no
// erf cancellation. With s = a / (3 + a), t = 3 / (3 + a) = 1 - s and u = 2t - 1 = 1 - 2s (the
// substitution of Schonfelder, Math. Comp. 32 (1978), for erfc), m(a) / sqrt(2 pi) = t M(u), M
// of degree 10: a minimax fit of relative error 0.23 ulp on a in [0, 14.5] (computed for this
// file like the others; beyond 14.3 phi(a) is 0 in float). Everything is formed from s, which is
// accurate where a is small (3 + a is never rounded into u or t there). a is clamped at 20 so
// +-inf give x Phi = inf / -0. Worst case over every float input: docs/tensor-core.md.
SELFSUP_MATHF_INLINE float gelu_erf(float x) {
  const float a = std::min(std::fabs(x), 20.0f);
  const float s = a / (3.0f + a);
  const float u = fused(-2.0f, s, 1.0f);
  float m = 1.815166434e-05f;
  m = fused(m, u, -4.375124627e-05f);
  m = fused(m, u, -8.158486889e-05f);
  m = fused(m, u, 3.441746521e-04f);
  m = fused(m, u, 3.415946849e-04f);
  m = fused(m, u, -2.323100809e-03f);
  m = fused(m, u, -3.487506881e-03f);
  m = fused(m, u, 1.575422846e-02f);
  m = fused(m, u, 7.667256892e-02f);
  m = fused(m, u, 1.697773337e-01f);
  m = fused(m, u, 2.430278957e-01f);
  const ExpParts e = exp_neg_half_sq(a);
  // x <= 0: -a Phi(-a) = -(a t) M e, a t = 3s. x > 0: x - x Phi(-a) (x clamped: inf * 0 is NaN).
  const float xc = std::min(x, 20.0f);
  float y = x > 0.0f ? fused(-xc, times_exp(e, (1.0f - s) * m), x) : times_exp(e, -3.0f * s * m);
  // |x| < 1/2, where that product of five rounded factors is at its worst relative to y: the
  // series x Phi(x) = x/2 + x^2 R(x^2), R of degree 3 (fit error 0.03 ulp), one rounding.
  const float z = x * x;
  float r = -1.119969063e-03f;
  r = fused(r, z, 9.960251860e-03f);
  r = fused(r, z, -6.648941338e-02f);
  r = fused(r, z, 3.989422619e-01f);
  y = a < 0.5f ? fused(z, r, 0.5f * x) : y;
  return x != x ? x : y;
}

// The derivative cancels where it crosses 0 (the GELU minimum, x = -a0, a0 = 0.75179...):
// Phi(-a) - a phi(a) = phi(a) (m(a) - a) = phi(a) (a0 - a) h(a), and h(a) / sqrt(2 pi) = H(u) is
// smooth (1.67 / sqrt(2 pi) at a = 0, -> 1 / sqrt(2 pi) as a -> inf; degree 9, fit error 0.16
// ulp), so with a0 in two parts the product keeps relative accuracy through the zero. x > 0:
// 1 - that (at most 1/2, no cancellation).
constexpr float kGeluA0Hi = 0.75179154f, kGeluA0Lo = -1.211445e-08f;
SELFSUP_MATHF_INLINE float gelu_erf_grad(float x) {
  const float a = std::min(std::fabs(x), 20.0f);
  const float u = fused(-2.0f, a / (3.0f + a), 1.0f);
  float h = -1.123513084e-05f;
  h = fused(h, u, 4.296052794e-06f);
  h = fused(h, u, 1.229149348e-04f);
  h = fused(h, u, -9.260411753e-05f);
  h = fused(h, u, -1.092714258e-03f);
  h = fused(h, u, 2.035969228e-04f);
  h = fused(h, u, 1.407447178e-02f);
  h = fused(h, u, 5.359615013e-02f);
  h = fused(h, u, 1.199754402e-01f);
  h = fused(h, u, 4.782976806e-01f);
  const float g = times_exp(exp_neg_half_sq(a), fused(kGeluA0Hi - a, h, kGeluA0Lo * h));  // Phi(-a) - a phi(a)
  const float d = x > 0.0f ? 1.0f - g : g;
  return x != x ? x : d;
}

}  // namespace mathf
}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
