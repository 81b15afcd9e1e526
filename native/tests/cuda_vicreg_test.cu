// CUDA VICReg / Barlow Twins against the CPU kernels (the addon's dispatch) on fresh random inputs:
// both covariance paths (Gram n < d, direct n >= d, and each forced), awkward sizes (n = 2, d = 1,
// primes, sizes past a GEMM tile), columns with std on both sides of 1 (the variance hinge), tiny
// and large magnitudes. Forward terms, backward gradients, the single-input terms. Exit 77
// without a device.
#include <algorithm>

#include "ops/vicreg/cuda.h"
#include "tests/cuda_check.h"

using selfsup::CovPath;
using selfsup::DType;
using selfsup::VICRegParams;

namespace {

struct Case {
  int64_t n, d;
  CovPath path;
  float scale;
};

std::vector<float> to_f(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Random [n, d] with per-column scales in [0.1, 3] * scale (some columns' std below 1, some above).
std::vector<float> views(int64_t n, int64_t d, float scale) {
  std::vector<float> z = randn(n * d, scale);
  std::uniform_real_distribution<float> u(0.1f, 3.0f);
  std::vector<float> cs(d);
  for (auto& c : cs) c = u(rng());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) z[i * d + c] = z[i * d + c] * cs[c] + 0.5f * scale;
  return z;
}

void run_case(const Case& c) {
  const int64_t n = c.n, d = c.d, nd = n * d;
  std::vector<float> x = views(n, d, c.scale), y = views(n, d, c.scale);
  for (int64_t i = 0; i < nd; ++i) y[i] = 0.6f * x[i] + 0.4f * y[i];  // correlated views
  VICRegParams p;
  p.n = n; p.d = d; p.path = c.path;
  p.x = x.data(); p.y = y.data();
  const double gi = 0.7, gv = 1.3, gc = -0.4, gb = 0.9;
  // CPU.
  std::vector<double> vic(3), bt(3), tv(1), tc(1);
  std::vector<float> dx(nd), dy(nd), bx(nd), by(nd), tvx(nd), tcx(nd);
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_forward)(p, vic.data()));
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_backward)(p, gi, gv, gc, dx.data(), dy.data()));
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_term_forward)(p, 0, tv.data()));
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_term_forward)(p, 1, tc.data()));
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_term_backward)(p, 0, gv, tvx.data()));
  EXPECT_OK(SELFSUP_DISPATCH(vicreg_term_backward)(p, 1, gc, tcx.data()));
  EXPECT_OK(SELFSUP_DISPATCH(barlow_twins_forward)(p, bt.data()));
  EXPECT_OK(SELFSUP_DISPATCH(barlow_twins_backward)(p, gb, bx.data(), by.data()));
  // CUDA.
  DeviceVec<float> gx(x), gy(y), gdx(nd), gdy(nd), gbx(nd), gby(nd), gtvx(nd), gtcx(nd);
  DeviceVec<double> gvic(3), gbt(3), gtv(1), gtc(1);
  p.x = gx.p; p.y = gy.p;
  EXPECT_OK(selfsup::vicreg_forward_cuda(p, gvic.p, nullptr));
  EXPECT_OK(selfsup::vicreg_backward_cuda(p, gi, gv, gc, gdx.p, gdy.p, nullptr));
  EXPECT_OK(selfsup::vicreg_term_forward_cuda(p, 0, gtv.p, nullptr));
  EXPECT_OK(selfsup::vicreg_term_forward_cuda(p, 1, gtc.p, nullptr));
  EXPECT_OK(selfsup::vicreg_term_backward_cuda(p, 0, gv, gtvx.p, nullptr));
  EXPECT_OK(selfsup::vicreg_term_backward_cuda(p, 1, gc, gtcx.p, nullptr));
  EXPECT_OK(selfsup::barlow_twins_forward_cuda(p, gbt.p, nullptr));
  EXPECT_OK(selfsup::barlow_twins_backward_cuda(p, gb, gbx.p, gby.p, nullptr));
  std::printf("n%ld d%ld %s x%g\n", (long)n, (long)d,
              c.path == CovPath::kGram ? "gram" : c.path == CovPath::kDirect ? "direct" : "auto", c.scale);
  // Scalars: float products on both sides, so 1e-4 of the value (or of 1e-3).
  expect_close("  vicreg {inv, var, cov}", to_f(gvic.host()), vic, 1e-4, 1e-3);
  expect_close("  variance term", to_f(gtv.host()), tv, 1e-4, 1e-3);
  expect_close("  covariance term", to_f(gtc.host()), tc, 1e-4, 1e-3);
  expect_close("  barlow {loss, on, off}", to_f(gbt.host()), bt, 1e-4, 1e-3);
  // Gradients relative to their largest entry.
  expect_close("  vicreg dx", gdx.host(), widen(dx), 1e-4, max_abs(dx) + 1e-30);
  expect_close("  vicreg dy", gdy.host(), widen(dy), 1e-4, max_abs(dy) + 1e-30);
  expect_close("  variance term dx", gtvx.host(), widen(tvx), 1e-4, max_abs(tvx) + 1e-30);
  expect_close("  covariance term dx", gtcx.host(), widen(tcx), 1e-4, max_abs(tcx) + 1e-30);
  expect_close("  barlow dz1", gbx.host(), widen(bx), 1e-4, max_abs(bx) + 1e-30);
  expect_close("  barlow dz2", gby.host(), widen(by), 1e-4, max_abs(by) + 1e-30);
}

void check_arguments() {
  VICRegParams p;
  float x = 0;
  double out = 0;
  p.n = 4; p.d = 3; p.x = p.y = &x;
  p.dtype = DType::kFloat64;
  selfsup::Status s = selfsup::vicreg_forward_cuda(p, &out, nullptr);
  EXPECT(s.code == selfsup::Code::kUnsupported && s.message.find("float32 for x") != std::string::npos);
  p.dtype = DType::kFloat32;
  p.n = 1;
  s = selfsup::barlow_twins_forward_cuda(p, &out, nullptr);
  EXPECT(s.code == selfsup::Code::kOutOfRange && s.message.find("n >= 2") != std::string::npos);
  p.n = 4;
  s = selfsup::vicreg_term_forward_cuda(p, 2, &out, nullptr);
  EXPECT(s.code == selfsup::Code::kInvalidArgument && s.message.find("for which") != std::string::npos);
}

}  // namespace

int main() {
  check_arguments();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  const Case cases[] = {
      {7, 33, CovPath::kAuto, 1.0f},     {70, 17, CovPath::kAuto, 1.0f},
      {2, 1, CovPath::kAuto, 1.0f},      {33, 65, CovPath::kDirect, 0.01f},
      {33, 65, CovPath::kGram, 100.0f},  {129, 300, CovPath::kAuto, 1.0f},
      {300, 129, CovPath::kAuto, 0.3f},
  };
  for (const Case& c : cases) run_case(c);
  return test_result();
}
