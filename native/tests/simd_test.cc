// The SIMD exp family against float64 references (compiled once per ISA variant: CMake builds
// simd_test_avx2 and simd_test_generic from this file). Sweeps every range the kernels use, in
// ulps of the exact (float64) value, so 1 ulp from the correctly rounded float is 1.5 here:
//   vexp          [-110, 95]      <= 1.5 ulp (plus +-inf, NaN)
//   vexp_nonpos   [-87, 0]        <= 1.5 ulp, exactly 0 for -inf and below -104
//   vexp2_nonpos  [-126, 127] (t) <= 3 ulp against exp2(t), exactly 0 for -inf and t <= -127
// Exit code 0 = pass.
#include <cmath>
#include <cstdio>
#include <limits>

#include "cpu/simd.h"

using namespace selfsup::SELFSUP_ISA_NS;

namespace {

int g_failures = 0;

// Distance in units of the last place of the reference (at least FLT_MIN's ulp).
double ulps(float got, double ref) {
  const double ulp = std::ldexp(1.0, std::max(std::ilogb(static_cast<float>(ref)), -126) - 23);
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

template <class F, class R>
void sweep(const char* name, F f, R ref, double lo, double hi, double step, double max_ulps) {
  double worst = 0, at = 0;
  for (double x0 = lo; x0 <= hi; x0 += 8 * step) {
    float in[8], out[8];
    for (int i = 0; i < 8; ++i) in[i] = static_cast<float>(x0 + i * step);
    storeu(out, f(loadu(in)));
    for (int i = 0; i < 8; ++i) {
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
  float a[8], out[8];
  for (float& v : a) v = in;
  storeu(out, f(loadu(a)));
  const bool ok = std::isnan(want) ? std::isnan(out[3]) : out[3] == want;
  if (!ok) {
    std::printf("FAIL %s(%g) = %g, want %g\n", what, in, out[3], want);
    ++g_failures;
  }
}

}  // namespace

int main() {
#if SELFSUP_SIMD_AVX2
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
  (void)inf;
  std::printf("%s\n", g_failures ? "simd_test: FAILED" : "simd_test: all passed");
  return g_failures ? 1 : 0;
}
