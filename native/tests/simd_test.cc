// The SIMD exp family against float64 references, and the lane-shuffling API (partial loads and
// stores, reductions, transposes, widen/narrow) against scalar expectations (compiled once per
// ISA variant: CMake builds simd_test_avx512, simd_test_avx2 and simd_test_generic from this file;
// every check is written over kVecWidth, so 8 and 16 lanes run the same test). Sweeps every range the kernels use, in
// ulps of the exact (float64) value, so 1 ulp from the correctly rounded float is 1.5 here:
//   vexp          [-110, 95]      <= 1.5 ulp (plus +-inf, NaN)
//   vexp_nonpos   [-87, 0]        <= 1.5 ulp, exactly 0 for -inf and below -104
//   vexp2_nonpos  [-126, 127] (t) <= 3 ulp against exp2(t), exactly 0 for -inf and t <= -127
// and the float32 functions of cpu/math_f32.h over every 4099th float32 bit pattern (all signs,
// binades, denormals, +-inf, NaN), in the ulp of the tensor-core tests: exp and log <= 1, tanh
// and sigmoid <= 2, GELU and its derivative <= 2.6e-7 relative (the exhaustive worst case), and
// the Vec functions of cpu/math_f32_simd.h the same way plus every 257th pattern of their fast
// paths' ranges (sigmoid <= 2 ulp; GELU within the bounds below, the exhaustive worst cases).
// Exit code 0 = pass.
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>

#include "cpu/math_f32.h"
#include "cpu/math_f32_simd.h"
#include "cpu/simd.h"
#include "tests/check.h"

using namespace selfsup::SELFSUP_ISA_NS;

namespace {


// Distance in units of the last place of the reference (at least FLT_MIN's ulp).
double ulps(float got, double ref) {
  const double ulp = std::ldexp(1.0, std::max(std::ilogb(static_cast<float>(ref)), -126) - 23);
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

template <class F, class R>
void sweep(const char* name, F f, R ref, double lo, double hi, double step, double max_ulps) {
  double worst = 0, at = 0;
  constexpr int W = kVecWidth;
  for (double x0 = lo; x0 <= hi; x0 += W * step) {
    float in[W], out[W];
    for (int i = 0; i < W; ++i) in[i] = static_cast<float>(x0 + i * step);
    storeu(out, f(loadu(in)));
    for (int i = 0; i < W; ++i) {
      const double r = ref(static_cast<double>(in[i]));
      if (r < 1.1754943508222875e-38) continue;  // below FLT_MIN: checked separately
      const double u = ulps(out[i], r);
      if (u > worst) worst = u, at = in[i];
    }
  }
  const bool ok = worst <= max_ulps;
  std::printf("%s %-14s max %.2f ulp at %.6g (limit %.1f)\n", ok ? "ok  " : "FAIL", name, worst, at, max_ulps);
  if (!ok) ++g_failures;
}

template <class F>
void expect_lanes(const char* what, F f, float in, float want) {
  float a[kVecWidth], out[kVecWidth];
  for (float& v : a) v = in;
  storeu(out, f(loadu(a)));
  for (int l = 0; l < kVecWidth; ++l) {
    const bool ok = std::isnan(want) ? std::isnan(out[l]) : out[l] == want;
    if (!ok) {
      std::printf("FAIL %s(%g) = %g in lane %d, want %g\n", what, in, out[l], l, want);
      ++g_failures;
      return;
    }
  }
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL %s\n", what);
    ++g_failures;
  }
}

// The API beyond exp, lane by lane against scalar code.
void lane_api() {
  constexpr int W = kVecWidth, WD = kVecWidthD;
  static_assert(W == 2 * WD, "a Vec holds twice as many floats as a VecD doubles");
  float x[2 * W], y[2 * W];
  double xd[2 * WD], yd[2 * WD];
  for (int i = 0; i < 2 * W; ++i) x[i] = static_cast<float>(i * 3 % 7) - 2.5f + 0.125f * i;
  for (int i = 0; i < 2 * WD; ++i) xd[i] = 1.5 * i - 4.0;
  // partial load / store: n lanes read, the rest zero; n lanes written, the rest untouched.
  for (int n = 0; n <= W; ++n) {
    for (int i = 0; i < 2 * W; ++i) y[i] = -7.f;
    store_partial(y, load_partial(x, n), n);
    bool ok = true;
    for (int i = 0; i < 2 * W; ++i) ok &= y[i] == (i < n ? x[i] : -7.f);
    float z[W];
    storeu(z, load_partial(x, n));
    for (int i = 0; i < W; ++i) ok &= z[i] == (i < n ? x[i] : 0.f);
    check(ok, "load_partial / store_partial (float)");
  }
  for (int n = 0; n <= WD; ++n) {
    for (int i = 0; i < 2 * WD; ++i) yd[i] = -7.0;
    store_partial(yd, load_partial(xd, n), n);
    bool ok = true;
    for (int i = 0; i < 2 * WD; ++i) ok &= yd[i] == (i < n ? xd[i] : -7.0);
    check(ok, "load_partial / store_partial (double)");
  }
  // reductions
  {
    float s = 0.f, m = x[0];
    for (int i = 0; i < W; ++i) s += x[i], m = x[i] > m ? x[i] : m;
    check(std::fabs(hsum(loadu(x)) - s) <= 1e-5f * W, "hsum (float)");
    check(hmax(loadu(x)) == m, "hmax (float)");
    double sd = 0, md = xd[0];
    for (int i = 0; i < WD; ++i) sd += xd[i], md = xd[i] > md ? xd[i] : md;
    check(hsum(loadu(xd)) == sd, "hsum (double)");
    check(hmax(loadu(xd)) == md, "hmax (double)");
  }
  // arithmetic, abs, fnma, and the NaN rule of max / min (NaN in either operand -> second)
  {
    const float nan = std::nanf("");
    float a[W], r[W];
    for (int i = 0; i < W; ++i) a[i] = x[i];
    a[1] = nan;
    storeu(r, max(loadu(a), broadcast(1.0f)));
    check(r[1] == 1.0f && r[0] == (x[0] > 1.f ? x[0] : 1.f), "max (NaN in the first operand)");
    storeu(r, min(broadcast(1.0f), loadu(a)));
    check(std::isnan(r[1]), "min (NaN in the second operand)");
    storeu(r, abs(loadu(x)));
    bool ok = true;
    for (int i = 0; i < W; ++i) ok &= r[i] == std::fabs(x[i]);
    check(ok, "abs (float)");
    storeu(r, fnma(loadu(x), broadcast(2.0f), broadcast(1.0f)) / broadcast(4.0f));
    ok = true;
    for (int i = 0; i < W; ++i) ok &= r[i] == (1.0f - x[i] * 2.0f) / 4.0f;
    check(ok, "fnma and div");
    double rd[WD];
    storeu(rd, abs(loadu(xd)));
    ok = true;
    for (int i = 0; i < WD; ++i) ok &= rd[i] == std::fabs(xd[i]);
    check(ok, "abs (double)");
  }
  // widen / narrow
  {
    double lo[WD], hi[WD];
    storeu(lo, widen_lo(loadu(x)));
    storeu(hi, widen_hi(loadu(x)));
    bool ok = true;
    for (int i = 0; i < WD; ++i) ok &= lo[i] == x[i] && hi[i] == x[WD + i];
    float r[W];
    storeu(r, narrow(loadu(lo), loadu(hi)));
    for (int i = 0; i < W; ++i) ok &= r[i] == x[i];
    check(ok, "widen_lo / widen_hi / narrow");
  }
  // transpose8x8 on Vec: every 8-lane group of r[0..7] is its own 8x8 block
  {
    float m[8][W], t[8][W];
    Vec r[8];
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < W; ++j) m[i][j] = static_cast<float>(100 * i + j);
      r[i] = loadu(m[i]);
    }
    transpose8x8(r);
    bool ok = true;
    for (int i = 0; i < 8; ++i) {
      storeu(t[i], r[i]);
      for (int j = 0; j < W; ++j) ok &= t[i][j] == m[j % 8][(j / 8) * 8 + i];
    }
    check(ok, "transpose8x8 (Vec)");
  }
  // transpose8x8 on Vec8
  {
    float m[8][8], t[8][8];
    Vec8 r[8];
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 8; ++j) m[i][j] = static_cast<float>(10 * i + j);
      r[i] = loadu8(m[i]);
    }
    transpose8x8(r);
    bool ok = true;
    for (int i = 0; i < 8; ++i) {
      storeu(t[i], r[i]);
      for (int j = 0; j < 8; ++j) ok &= t[i][j] == m[j][i];
    }
    check(ok, "transpose8x8 (Vec8)");
    // 8-wide partial load / store
    for (int n = 0; n <= 8; ++n) {
      float z[10];
      for (float& v : z) v = -7.f;
      store_partial(z, load_partial8(m[1], n), n);
      bool pok = true;
      for (int i = 0; i < 10; ++i) pok &= z[i] == (i < n ? m[1][i] : -7.f);
      check(pok, "load_partial8 / store_partial (Vec8)");
    }
  }
  // double exp, a few points
  {
    double in[WD], out[WD];
    for (int i = 0; i < WD; ++i) in[i] = -3.0 + 0.7 * i;
    storeu(out, vexp(loadu(in)));
    bool ok = true;
    for (int i = 0; i < WD; ++i) ok &= std::fabs(out[i] - std::exp(in[i])) <= 2.3e-16 * std::exp(in[i]);
    check(ok, "vexp (double)");
  }
  // stream_store on a vector-aligned buffer
  {
    alignas(64) float buf[W];
    stream_store(buf, loadu(x));
    stream_fence();
    bool ok = true;
    for (int i = 0; i < W; ++i) ok &= buf[i] == x[i];
    check(ok, "stream_store");
  }
}

// |got - fl(want)| in units of fl(want) 2^-23 (at least the smallest denormal), as the tensor-core
// tests count it; NaN and inf must match exactly.
double ulps_rounded(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e9;
  const float w = static_cast<float>(want);
  if (std::isinf(w)) return got == w ? 0 : 1e9;
  return std::fabs(static_cast<double>(got) - w) / std::max(std::fabs(static_cast<double>(w)) * 0x1p-23, 0x1p-149);
}

// f maps kN inputs to kN outputs (a scalar function in the loop shape the kernels vectorize, or a
// Vec function over whole vectors); the inputs step through the bit patterns in [lo, hi).
template <class F, class R>
void math_f32_sweep(const char* name, F f, R err, double limit, uint64_t step = 4099, uint64_t lo = 0,
                    uint64_t hi = 1ull << 32) {
  constexpr int kN = 4096;
  static float in[kN], out[kN];
  double worst = 0;
  float at = 0;
  for (uint64_t base = lo; base < hi; base += step * kN) {
    for (int i = 0; i < kN; ++i) {
      const uint32_t u = static_cast<uint32_t>(std::min(base + step * i, hi - 1));
      std::memcpy(&in[i], &u, 4);
    }
    f(in, out, kN);
    for (int i = 0; i < kN; ++i) {
      const double e = err(out[i], in[i]);
      if (e > worst) worst = e, at = in[i];
    }
  }
  const bool ok = worst <= limit;
  std::printf("%s %-18s max %.3g at %.9g (limit %.3g)\n", ok ? "ok  " : "FAIL", name, worst, at, limit);
  if (!ok) ++g_failures;
}
template <class F> auto scalar(F f) {
  return [f](const float* in, float* out, int n) { for (int i = 0; i < n; ++i) out[i] = f(in[i]); };
}
template <class F> auto vec(F f) {
  return [f](const float* in, float* out, int n) { for (int i = 0; i < n; i += kVecWidth) storeu(out + i, f(loadu(in + i))); };
}

// The Vec GELU's bounds: its exhaustive worst cases (3.14e-7 at -3.817, 2.61e-7 at -1.859; the
// scalar code's are 2.59e-7 and 2.43e-7), docs/tensor-core.md.
constexpr double kGeluBound = 3.2e-7, kGeluGradBound = 2.7e-7;

void math_f32() {
  using namespace selfsup::SELFSUP_ISA_NS::mathf;
  auto sig = [](double v) { return v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)); };
  math_f32_sweep("mathf::exp", scalar([](float v) { return mathf::exp(v); }), [](float y, float x) { return ulps_rounded(y, std::exp(double(x))); }, 1);
  math_f32_sweep("mathf::log", scalar([](float v) { return mathf::log(v); }), [](float y, float x) { return ulps_rounded(y, std::log(double(x))); }, 1);
  math_f32_sweep("mathf::tanh", scalar([](float v) { return mathf::tanh(v); }), [](float y, float x) { return ulps_rounded(y, std::tanh(double(x))); }, 2);
  auto sig_err = [&](float y, float x) { return ulps_rounded(y, sig(x)); };
  math_f32_sweep("mathf::sigmoid", scalar([](float v) { return mathf::sigmoid(v); }), sig_err, 2);
  // the Vec functions of math_f32_simd.h: over all patterns (fast path and fallback lanes mixed as
  // they come), then denser over the fast path's range (bit patterns of [0, 4] and [-4, 0])
  math_f32_sweep("sigmoid_v", vec([](Vec v) { return sigmoid_v(v); }), sig_err, 2);
  math_f32_sweep("sigmoid_v [-87,87]", vec([](Vec v) { return sigmoid_v(v); }), sig_err, 2, 257, 0, 0x42AE0000);
  math_f32_sweep("sigmoid_v [-87,87]", vec([](Vec v) { return sigmoid_v(v); }), sig_err, 2, 257, 0x80000000, 0xC2AE0000);
  // GELU: relative where the exact value is a normal float, else within 2 of the smallest denormal.
  auto rel = [](float y, double want, double floor) {
    if (std::isnan(want)) return std::isnan(y) ? 0.0 : 1e9;
    if (std::isinf(want)) return y == want ? 0.0 : 1e9;
    if (std::fabs(want) < 1.1754943508222875e-38) return std::fabs(y - want) <= 0x1p-148 ? 0.0 : 1e9;
    return std::fabs(y - want) / std::max(std::fabs(want), floor);
  };
  auto cdf = [](double v) { return 0.5 * std::erfc(-v * 0.7071067811865476); };
  auto gelu_err = [&](float y, float x) { return rel(y, std::isnan(x) ? x : std::isinf(x) ? (x > 0 ? x : 0.0) : x * cdf(x), 0); };
  auto grad_err = [&](float y, float x) {
    return rel(y, std::isnan(x) ? x : cdf(x) + (std::fabs(x) < 40 ? x * 0.3989422804014327 * std::exp(-0.5 * double(x) * x) : 0.0), 1e-7);
  };
  math_f32_sweep("mathf::gelu", scalar([](float v) { return mathf::gelu_erf(v); }), gelu_err, 2.6e-7);
  math_f32_sweep("mathf::gelu'", scalar([](float v) { return mathf::gelu_erf_grad(v); }), grad_err, 2.6e-7);
  math_f32_sweep("gelu_erf_v", vec([](Vec v) { return gelu_erf_v(v); }), gelu_err, kGeluBound);
  math_f32_sweep("gelu_erf_grad_v", vec([](Vec v) { return gelu_erf_grad_v(v); }), grad_err, kGeluGradBound);
  for (const uint64_t lo : {0ull, 0x80000000ull}) {
    math_f32_sweep("gelu_erf_v |x|<=4", vec([](Vec v) { return gelu_erf_v(v); }), gelu_err, kGeluBound, 257, lo, lo + 0x40800001);
    math_f32_sweep("gelu_erf_grad_v |x|<=4", vec([](Vec v) { return gelu_erf_grad_v(v); }), grad_err, kGeluGradBound, 257, lo, lo + 0x40800001);
  }
  check(std::signbit(mathf::tanh(-0.0f)) && mathf::tanh(-0.0f) == 0.0f, "mathf::tanh(-0) = -0");
  check(mathf::exp(-std::numeric_limits<float>::infinity()) == 0.0f && mathf::log(0.0f) == -std::numeric_limits<float>::infinity(),
        "mathf::exp(-inf) = 0, mathf::log(0) = -inf");
}

}  // namespace

int main() {
#if SELFSUP_SIMD_AVX512
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) {
    std::printf("skip: this CPU has no AVX-512 F/BW/DQ/VL\n");
    return 0;
  }
#endif
#if SELFSUP_SIMD_AVX2 || SELFSUP_SIMD_AVX512
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("skip: this CPU has no AVX2+FMA\n");
    return 0;
  }
#endif
  const double inf = std::numeric_limits<double>::infinity();
  const float finf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  auto e = [](Vec v) { return vexp(v); };
  auto en = [](Vec v) { return vexp_nonpos(v); };
  auto e2 = [](Vec v) { return vexp2_nonpos(v); };
  auto rexp = [](double x) { return std::exp(x); };
  auto rexp2 = [](double t) { return std::exp2(t); };
  sweep("vexp", e, rexp, -110, 95, 1.3e-4, 1.5);
  sweep("vexp_nonpos", en, rexp, -87, 0, 1.1e-4, 1.5);
  sweep("vexp2_nonpos", e2, rexp2, -126, 0, 1.7e-4, 3);
  sweep("vexp2_nonpos+", e2, rexp2, 0, 127, 1.7e-4, 3);  // valid up to t < 127.5
  expect_lanes("vexp", e, -finf, 0.f);
  expect_lanes("vexp", e, finf, finf);
  expect_lanes("vexp", e, nan, nan);
  expect_lanes("vexp_nonpos", en, -finf, 0.f);
  expect_lanes("vexp_nonpos", en, -200.f, 0.f);
  expect_lanes("vexp_nonpos", en, nan, nan);
  expect_lanes("vexp_nonpos", en, 0.f, 1.f);
  expect_lanes("vexp2_nonpos", e2, -finf, 0.f);
  expect_lanes("vexp2_nonpos", e2, -127.f, 0.f);
  expect_lanes("vexp2_nonpos", e2, -1000.f, 0.f);
  expect_lanes("vexp2_nonpos", e2, nan, nan);
  expect_lanes("vexp2_nonpos", e2, 0.f, 1.f);
  expect_lanes("vexp2_nonpos", e2, -1.f, 0.5f);
  expect_lanes("vexp2_nonpos", e2, -126.f, std::ldexp(1.f, -126));
  lane_api();
  math_f32();
  (void)inf;
  return test_result();
}
