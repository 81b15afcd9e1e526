// CUDA InfoNCE against the CPU kernel (the addon's dispatch) on fresh random inputs: two views /
// one-way, decoupled, labels, a negative bank, normalization on and off, temperatures down to
// 0.01 (1/tau past float's exp range), awkward sizes (n = 1, primes, sizes past a 64 tile), tiny
// and large magnitudes. Forward losses / LSEs and backward dz1 / dz2. Exit 77 without a device.
#include <algorithm>

#include "ops/info_nce/cuda.h"
#include "tests/cuda_check.h"

using selfsup::DType;
using selfsup::InfoNCEParams;

namespace {

struct Case {
  int64_t n, d, m;
  double tau;
  bool normalize, both, decoupled, labels;
  float scale;
};

void run_case(const Case& c) {
  const int64_t n = c.n, d = c.d, R = c.both ? 2 * n : n;
  std::vector<float> z1 = randn(n * d, c.scale), z2 = randn(n * d, c.scale), bank = randn(c.m * d, c.scale);
  std::vector<int32_t> labels(n);
  for (auto& l : labels) l = static_cast<int32_t>(rng()() % 5);
  std::vector<float> grad = randn(R);
  InfoNCEParams p;
  p.n = n; p.d = d; p.m = c.m;
  p.temperature = c.tau;
  p.normalize = c.normalize;
  p.both = c.both;
  p.decoupled = c.decoupled;
  // CPU reference.
  p.z1 = z1.data(); p.z2 = z2.data(); p.negatives = c.m ? bank.data() : nullptr;
  p.labels = c.labels ? labels.data() : nullptr;
  std::vector<float> loss(R), lse(R), lsp(R), dz1(n * d), dz2(n * d);
  EXPECT_OK(SELFSUP_DISPATCH(info_nce_forward)(p, loss.data(), lse.data(), lsp.data()));
  EXPECT_OK(SELFSUP_DISPATCH(info_nce_backward)(p, grad.data(), lse.data(), lsp.data(), dz1.data(), dz2.data()));
  // CUDA.
  DeviceVec<float> gz1(z1), gz2(z2), gbank(bank), ggrad(grad), gloss(R), glse(R), glsp(R),
      gdz1(n * d), gdz2(n * d);
  DeviceVec<int32_t> glab(labels);
  p.z1 = gz1.p; p.z2 = gz2.p; p.negatives = c.m ? gbank.p : nullptr;
  p.labels = c.labels ? glab.p : nullptr;
  EXPECT_OK(selfsup::info_nce_forward_cuda(p, gloss.p, glse.p, glsp.p, nullptr));
  // The backward runs on the GPU's own LSEs (what the autograd would pass).
  EXPECT_OK(selfsup::info_nce_backward_cuda(p, ggrad.p, glse.p, glsp.p, gdz1.p, gdz2.p, nullptr));
  char name[160];
  std::snprintf(name, sizeof(name), "n%ld d%ld m%ld tau%g%s%s%s%s x%g", (long)n, (long)d, (long)c.m,
                c.tau, c.normalize ? " norm" : "", c.both ? " both" : " oneway",
                c.decoupled ? " dcl" : "", c.labels ? " labels" : "", c.scale);
  std::printf("%s\n", name);
  expect_close("  losses", gloss.host(), widen(loss), 2e-5);
  expect_close("  lse", glse.host(), widen(lse), 2e-5);
  if (c.labels) expect_close("  lse_pos", glsp.host(), widen(lsp), 2e-5);
  // Gradients relative to their largest entry.
  expect_close("  dz1", gdz1.host(), widen(dz1), 1e-4, max_abs(dz1) + 1e-30);
  expect_close("  dz2", gdz2.host(), widen(dz2), 1e-4, max_abs(dz2) + 1e-30);
}

void check_arguments() {
  InfoNCEParams p;
  float x = 0;
  p.n = 2; p.d = 3; p.z1 = p.z2 = &x;
  p.dtype = DType::kFloat64;
  selfsup::Status s = selfsup::info_nce_forward_cuda(p, &x, &x, nullptr, nullptr);
  EXPECT(s.code == selfsup::Code::kUnsupported && s.message.find("float32 for z1") != std::string::npos);
  p.dtype = DType::kFloat32;
  p.temperature = 0;
  EXPECT(selfsup::info_nce_forward_cuda(p, &x, &x, nullptr, nullptr).code == selfsup::Code::kOutOfRange);
  p.temperature = 0.1;
  int32_t lab = 0;
  p.labels = &lab;
  s = selfsup::info_nce_backward_cuda(p, &x, &x, nullptr, &x, &x, nullptr);
  EXPECT(s.code == selfsup::Code::kInvalidArgument && s.message.find("lsePos") != std::string::npos);
}

}  // namespace

int main() {
  check_arguments();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  const Case cases[] = {
      {37, 29, 0, 0.1, true, true, false, false, 1.0f},
      {37, 29, 19, 0.07, true, true, true, false, 1e3f},
      {65, 130, 0, 0.2, true, false, false, false, 1e-3f},
      {33, 7, 70, 0.1, true, false, true, true, 1.0f},
      {50, 64, 0, 0.1, true, true, false, true, 1.0f},
      {50, 64, 13, 0.1, true, true, true, true, 1.0f},
      {41, 33, 5, 0.5, false, true, false, false, 0.1f},
      {41, 33, 0, 0.5, false, false, false, false, 0.1f},
      {129, 96, 0, 0.01, true, true, false, false, 1.0f},
      {1, 5, 0, 0.1, true, true, false, false, 1.0f},
      {1, 5, 3, 0.1, true, false, false, false, 1.0f},
      {300, 200, 100, 0.1, true, true, false, false, 1.0f},
      {257, 128, 0, 0.1, true, false, true, false, 1.0f},
  };
  for (const Case& c : cases) run_case(c);
  return test_result();
}
