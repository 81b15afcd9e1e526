// float32 transcendentals written on Vec (explicit SIMD) where the auto-vectorized scalar code of
// math_f32.h left speed behind: sigmoid, and the exact (erf) GELU x Phi(x) with its derivative
// Phi(x) + x phi(x). Each has a short fast path for vectors whose lanes are all in its main range
// and falls back to math_f32.h's scalar function lane by lane for the others (tails, inf, NaN),
// so the results there are exactly the scalar code's.
//
// sigmoid, for x >= -87 (the result normal): e = e^-min(|x|, 87) as math_f32.h's exp does it, but
// with one factor 2^n and the product (1 + q) 2^n rounded once; then 1 / (1 + e) or e / (1 + e).
// Above 87, e^-87 = 1.6e-38 still gives exactly 1.
//
// GELU: explicit SIMD for vectors whose lanes all have |x| <= 4 (all but 0.05% of the 8-lane
// vectors of a unit normal).
//
// The fast path keeps the scalar code's relative accuracy (Phi(-a), a = |x|, through the Mills
// ratio: no erf cancellation in the lower tail) and drops what |x| <= 4 does not need (clamps,
// denormal scaling, the second factor of 2^n), and splits a^2 exactly with one FMA instead of
// Dekker's bit split. With s = a / (c + a) and u = 1 - 2s (Schonfelder's substitution for erfc,
// Math. Comp. 32 (1978), with other constants c than his 3):
//   x Phi(x) = max(x, 0) - a Phi(-a),        a Phi(-a) = e^(-a^2/2) a Q(u)       (c = 4.25)
//   gelu'(x) = x > 0 ? 1 - g : g,            g = Phi(-a) - a phi(a) = e^(-a^2/2) (a0 - a) H
// Q(u) = Phi(-a) e^(a^2/2), degree 7. H = H(0) - s R(u) (c = 5, R of degree 6) keeps the
// variable's rounding from mattering at small a. a0 = 0.75179..., the zero of g (the GELU
// minimum), is in two floats so g keeps its relative accuracy through it. The polynomials are
// minimax fits in relative error on a in [0, 4], computed for this file like math_f32.h's
// (coefficients rounded to float32 low order first, the rest refit): Q 8.3e-9, H 1.6e-8, the
// exponential's 3.5e-9. Accuracy over all float32 inputs: docs/tensor-core.md.
//
// The GELU fast paths need a real FMA (the exact a^2 split): in the generic variant, whose fma()
// is a multiply then an add, the GELU pair is the scalar code lane by lane. sigmoid keeps its
// fast path there (within its 2-ulp bound: native/tests/simd_test.cc, every variant).
#pragma once

#include "cpu/math_f32.h"
#include "cpu/simd.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace mathf {

#if SELFSUP_SIMD_X86_AVX2 || SELFSUP_SIMD_NEON
constexpr bool kGeluFast = true;
#else
constexpr bool kGeluFast = false;
#endif

template <class F>
SELFSUP_SIMD_INLINE Vec per_lane(Vec x, F f) {
  float in[kVecWidth], out[kVecWidth];
  storeu(in, x);
  // vectorized by the compiler where the file is built without trapping math (the kernels)
  for (int i = 0; i < kVecWidth; i++) out[i] = f(in[i]);
  return loadu(out);
}

// c0 + u (c1 + u (c2 + ...)): Horner's scheme, one FMA per coefficient, lowest coefficient first.
SELFSUP_SIMD_INLINE Vec horner(Vec, float c) { return broadcast(c); }
template <class... C>
SELFSUP_SIMD_INLINE Vec horner(Vec u, float c, C... rest) { return fma(horner(u, rest...), u, broadcast(c)); }

// e^(-a^2/2) for 0 <= a <= 4 as (1 + q) 2^n, so that a product (1 + q) k rounds once (one FMA).
// a^2 = hi + lo exactly (lo = a a - hi by one FMA); n = round(-hi / (2 ln2)) in [-12, 0];
// sigma = hi + 2n ln2 + lo = 2 rho, where hi + 2n ln2_hi is exact (both lie on hi's grid and the
// sum is below 0.71). e^-rho - 1 = q is a degree-6 minimax polynomial in rho (|rho| <= 0.352),
// written in sigma (its coefficients times 2^-k, exact).
struct ExpV {
  Vec q, scale;
};
SELFSUP_SIMD_INLINE ExpV exp_neg_half_sq_v(Vec a) {
  const Vec hi = a * a;
  const Vec neg_lo = fnma(a, a, hi);
  const Vec t = fma(hi, broadcast(-0.72134752044448170f), broadcast(kRoundMagic));  // -log2(e) / 2
  const Vec n = t - broadcast(kRoundMagic);
  const Vec sigma = fma(n, broadcast(2.0f * kLn2Lo), fma(n, broadcast(2.0f * kLn2Hi), hi)) - neg_lo;
  const Vec p = horner(sigma, -0.5f, 1.249999851e-01f, -2.083314210e-02f, 2.604268258e-03f,
                       -2.615507110e-04f, 2.159484029e-05f);
  // 2^n as a float factor: an integer add into the exponent field measured slower (Zen 4: the
  // value crosses between the float and integer domains).
  return {p * sigma, pow2_from_magic(t)};
}

SELFSUP_SIMD_INLINE Vec sigmoid_v(Vec x) {
  if (!all_le(broadcast(-87.0f), x)) return per_lane(x, [](float v) { return sigmoid(v); });
  const Vec neg_a = zero_f() - min(abs(x), broadcast(87.0f));
  const Vec t = fma(neg_a, broadcast(1.44269504088896341f), broadcast(kRoundMagic));
  const Vec n = t - broadcast(kRoundMagic);  // in [-126, 0]
  const Vec r = fnma(n, broadcast(kLn2Lo), fnma(n, broadcast(kLn2Hi), neg_a));  // first step exact
  // e^r - 1 = r P(r), P of degree 5 (minimax on |r| <= ln2 / 2, relative error 3.1e-9)
  const Vec p = horner(r, 1.0f, 4.999999404e-01f, 1.666652113e-01f, 4.166828096e-02f, 8.368687704e-03f,
                       1.381948707e-03f);
  const Vec s = pow2_from_magic(t);
  const Vec e = fma(p * r, s, s);
  return select_gt(x, zero_f(), broadcast(1.0f), e) / (broadcast(1.0f) + e);
}

// Whether every lane of x (or of max(|x0|, |x1|)) takes the fast path: |x| <= 4, no NaN.
SELFSUP_SIMD_INLINE bool gelu_fast_ok(Vec x) { return kGeluFast && all_le(abs(x), broadcast(4.0f)); }

// The fast paths alone (every lane |x| <= 4).
SELFSUP_SIMD_INLINE Vec gelu_erf_fast(Vec x) {
  const Vec a = abs(x);
  const Vec u = fnma(broadcast(2.0f), a / (broadcast(4.25f) + a), broadcast(1.0f));
  const Vec q = horner(u, 8.935932815e-02f, 1.629035026e-01f, 1.227565482e-01f, 7.507672906e-02f,
                       3.627524897e-02f, 1.156612858e-02f, 3.263705410e-03f, -1.201195060e-03f);
  const Vec k = a * q;  // a Phi(-a) e^(a^2/2)
  const ExpV e = exp_neg_half_sq_v(a);
  return fnma(fma(e.q, k, k), e.scale, max(x, zero_f()));
}

constexpr float kGeluH0 = 6.650779843e-01f;  // H(0) = 1 / (2 a0)
SELFSUP_SIMD_INLINE Vec gelu_erf_grad_fast(Vec x) {
  const Vec a = abs(x);
  const Vec s = a / (broadcast(5.0f) + a);
  const Vec u = fnma(broadcast(2.0f), s, broadcast(1.0f));
  const Vec r = horner(u, 4.272835553e-01f, 2.477226406e-01f, 1.264623106e-01f, 5.667863414e-02f,
                       1.778458804e-02f, 7.948873565e-03f, -6.150197005e-04f);
  const Vec h = fnma(s, r, broadcast(kGeluH0));
  const Vec k = fma(broadcast(kGeluA0Hi) - a, h, broadcast(kGeluA0Lo) * h);  // g e^(a^2/2)
  const ExpV e = exp_neg_half_sq_v(a);
  const Vec g = fma(e.q, k, k) * e.scale;
  return select_gt(x, zero_f(), broadcast(1.0f) - g, g);
}

SELFSUP_SIMD_INLINE Vec gelu_erf_v(Vec x) {
  return gelu_fast_ok(x) ? gelu_erf_fast(x) : per_lane(x, [](float v) { return gelu_erf(v); });
}
SELFSUP_SIMD_INLINE Vec gelu_erf_grad_v(Vec x) {
  return gelu_fast_ok(x) ? gelu_erf_grad_fast(x) : per_lane(x, [](float v) { return gelu_erf_grad(v); });
}

}  // namespace mathf
}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
