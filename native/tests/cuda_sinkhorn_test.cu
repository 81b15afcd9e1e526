// CUDA log-domain Sinkhorn against the CPU kernel (the addon's dispatch) on fresh random scores:
// logits and probs inputs, uniform / power-law / zero-entry priors, row marginals, iterations 0,
// 1, 3, epsilon 1e-3 with |scores| ~ 100 (past float's exp range), tolerance mode (iterations
// done and the marginal error), awkward sizes (B = 1, K = 1, primes, K past a 32-column block),
// and the validation errors. Exit 77 without a device.
#include <algorithm>

#include "ops/sinkhorn/cuda.h"
#include "tests/cuda_check.h"

using selfsup::SinkhornParams;

namespace {

struct Case {
  int64_t B, K;
  bool probs;
  double eps;
  float scale;
  int prior;     // 0 uniform, 1 power law k^-0.25, 2 random with zeros
  bool rows;     // random row marginal
  int64_t iterations;
  double tolerance;
  double plan_tol;  // the CPU kernel's float32 error: float g and S / eps near |S / eps| ~ 1e5 cost ~1e-2
};

void run_case(const Case& c) {
  const int64_t B = c.B, K = c.K;
  std::vector<float> s = randn(B * K, c.scale);
  if (c.probs) {  // softmax rows with some exact zeros
    for (int64_t b = 0; b < B; ++b) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        float& v = s[b * K + k];
        v = (k % 7 == 3 && k != 0) ? 0.0f : std::exp(v);
        sum += v;
      }
      for (int64_t k = 0; k < K; ++k) s[b * K + k] = static_cast<float>(s[b * K + k] / sum);
    }
  }
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> prior(K), rowm(B);
  for (int64_t k = 0; k < K; ++k)
    prior[k] = c.prior == 0 ? 1.0 : c.prior == 1 ? std::pow(k + 1.0, -0.25) : (k % 5 == 2 ? 0.0 : u(rng()));
  if (c.prior == 2 && K == 1) prior[0] = 1.0;
  for (auto& r : rowm) r = 0.2 + u(rng());
  SinkhornParams p;
  p.B = B; p.K = K; p.probs = c.probs; p.epsilon = c.eps;
  p.col_marginal = prior.data();
  p.row_marginal = c.rows ? rowm.data() : nullptr;
  p.iterations = c.iterations;
  p.tolerance = c.tolerance;
  p.want_error = true;
  std::vector<float> want(B * K);
  p.scores = s.data();
  p.out = want.data();
  EXPECT_OK(SELFSUP_DISPATCH(sinkhorn_forward)(p));
  const int64_t cpu_iters = p.iterations_done;
  const double cpu_err = p.marginal_error;
  DeviceVec<float> gs(s), gout(B * K);
  p.scores = gs.p;
  p.out = gout.p;
  EXPECT_OK(selfsup::sinkhorn_forward_cuda(p, nullptr));
  std::printf("B%ld K%ld %s eps%g x%g prior%d%s it%ld tol%g: iterations %ld / %ld, error %.3g / %.3g\n",
              (long)B, (long)K, c.probs ? "probs" : "logits", c.eps, c.scale, c.prior,
              c.rows ? " rows" : "", (long)c.iterations, c.tolerance, (long)p.iterations_done,
              (long)cpu_iters, p.marginal_error, cpu_err);
  // Tolerance mode: the stopping iteration may differ by one when the error sits at the threshold.
  const bool same_iters = p.iterations_done == cpu_iters;
  EXPECT(std::abs(p.iterations_done - cpu_iters) <= (c.tolerance > 0 ? 1 : 0));
  if (c.tolerance > 0) EXPECT(p.marginal_error < c.tolerance || p.iterations_done == c.iterations);
  // Marginal errors: both measure sum_k |P^T 1 - c| of their plan.
  EXPECT(std::fabs(p.marginal_error - cpu_err) <= 1e-3 * cpu_err + 1e-6 || !same_iters);
  // Plans (rows sum to 1): relative error with a 1e-4 floor.
  expect_close("  plan", gout.host(), widen(want), same_iters ? c.plan_tol : 2e-3, 1e-4);
}

void check_errors_host() {
  SinkhornParams p;
  std::vector<double> prior(3, 1.0);
  p.B = 2; p.K = 0; p.col_marginal = prior.data();
  float x = 0;
  p.scores = p.out = &x;
  selfsup::Status s = selfsup::sinkhorn_forward_cuda(p, nullptr);
  EXPECT(s.code == selfsup::Code::kOutOfRange && s.message.find("for K") != std::string::npos);
  p.K = 3;
  p.all_reduce = [](double*, int64_t) {};
  EXPECT(selfsup::sinkhorn_forward_cuda(p, nullptr).code == selfsup::Code::kUnsupported);
  p.all_reduce = nullptr;
  prior[1] = -1;
  s = selfsup::sinkhorn_forward_cuda(p, nullptr);
  EXPECT(s.code == selfsup::Code::kOutOfRange && s.message.find("for prior") != std::string::npos);
}

// Bad scores are found on the device and reported like the CPU kernel does.
void check_errors_device() {
  const int64_t B = 5, K = 7;
  std::vector<double> prior(K, 1.0);
  std::vector<float> s = randn(B * K);
  s[3 * K + 4] = NAN;
  s[4 * K + 1] = INFINITY;
  DeviceVec<float> gs(s), gout(B * K);
  SinkhornParams p;
  p.B = B; p.K = K; p.col_marginal = prior.data(); p.scores = gs.p; p.out = gout.p;
  selfsup::Status st = selfsup::sinkhorn_forward_cuda(p, nullptr);
  std::printf("NaN score: %s\n", st.message.c_str());
  EXPECT(st.code == selfsup::Code::kOutOfRange && st.message.find("NaN at index 25") != std::string::npos);
  std::vector<float> q(B * K, 0.1f);
  for (int64_t k = 0; k < K; ++k) q[2 * K + k] = 0.0f;  // an all-zero row
  DeviceVec<float> gq(q);
  p.probs = true;
  p.scores = gq.p;
  st = selfsup::sinkhorn_forward_cuda(p, nullptr);
  std::printf("zero row: %s\n", st.message.c_str());
  EXPECT(st.code == selfsup::Code::kOutOfRange && st.message.find("all-zero row 2") != std::string::npos);
  q[K + 3] = -0.5f;
  DeviceVec<float> gq2(q);
  p.scores = gq2.p;
  st = selfsup::sinkhorn_forward_cuda(p, nullptr);
  EXPECT(st.code == selfsup::Code::kOutOfRange && st.message.find("-0.5 at index 10") != std::string::npos);
}

}  // namespace

int main() {
  check_errors_host();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  check_errors_device();
  const Case cases[] = {
      {37, 53, false, 0.05, 1.0f, 0, false, 3, 0, 2e-4},
      {256, 3001, false, 0.05, 1.0f, 1, false, 3, 0, 2e-4},
      {1, 1, false, 0.05, 1.0f, 0, false, 3, 0, 2e-4},
      {130, 70, false, 1e-3, 100.0f, 0, false, 5, 0, 5e-2},
      {64, 100, true, 0.05, 2.0f, 2, true, 3, 0, 2e-4},
      {100, 40, false, 0.1, 1.0f, 1, true, 1000, 1e-6, 2e-4},
      {33, 65, false, 0.05, 1.0f, 2, false, 0, 0, 2e-4},
      {2000, 33, true, 0.05, 1.0f, 0, false, 1, 0, 2e-4},
  };
  for (const Case& c : cases) run_case(c);
  return test_result();
}
