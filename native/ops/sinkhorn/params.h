// Sinkhorn-Knopp prior balancing (SwAV / MSN / PMSN): kernel ABI.
//
// Given scores S [B, K] the kernel balances the Gibbs kernel
//   logits: log G[b,k] = S[b,k] / epsilon        probs: log G[b,k] = log S[b,k]  (MSN form)
// to a transport plan P[b,k] = exp(log G[b,k] + f_b + g_k) whose rows sum to r (row marginal)
// and whose columns sum to c (column / prototype marginal), with log-domain potentials f, g.
// Update order is SwAV's distributed_sinkhorn (facebookresearch/swav main_swav.py): per iteration
// first the columns (g), then the rows (f); the output is the plan with rows scaled to sum to 1,
// i.e. out[b,:] = softmax_k(log G[b,:] + g) after the last row update.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "selfsup/isa.h"
#include "selfsup/status.h"

namespace selfsup {

// Sums `buf[0..n)` in place over all participating processes (SwAV's dist.all_reduce). Called
// on the calling thread, outside any parallel region, the same number of times with the same n on
// every process. Empty = one process.
using SinkhornAllReduce = std::function<void(double* buf, int64_t n)>;

struct SinkhornParams {
  int64_t B = 0, K = 0;            // local rows, prototypes (K >= 1, B >= 0)
  const float* scores = nullptr;   // [B, K] contiguous row-major
  float* out = nullptr;            // [B, K] contiguous; may not alias scores
  bool probs = false;              // scores are probabilities (>= 0) instead of logits
  double epsilon = 0.05;           // logits only: > 0
  const double* col_marginal = nullptr;  // [K] c_k >= 0, sum 1 (normalized by the caller)
  const double* row_marginal = nullptr;  // [B] r_b >= 0, or null: uniform 1 / B_global
  int64_t iterations = 3;          // maximum number of (column, row) update pairs, >= 0
  double tolerance = 0;            // > 0: stop once sum_k |P^T 1 - c|_k < tolerance
  SinkhornAllReduce all_reduce;    // optional multi-process reduction over the batch
  bool want_error = false;         // compute marginal_error for a fixed iteration count

  // Results.
  int64_t iterations_done = 0;
  double marginal_error = 0;       // sum_k |P^T 1 - c|_k of the returned plan (global)
  int64_t sweeps = 0;              // full read passes over scores (bytes = sweeps*B*K*4 + B*K*4)
};

// A double in the JS spelling the TS layer prints (NaN, Infinity, %.9g).
inline std::string sinkhorn_fmt(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

// The scalar options and the arrays' presence (shared by the CPU and CUDA kernels).
inline Status sinkhorn_check(const SinkhornParams& p) {
  if (p.K < 1) return Status::OutOfRange("Expected an integer >= 1 for K but received " + std::to_string(p.K));
  if (p.B < 0) return Status::OutOfRange("Expected an integer >= 0 for B but received " + std::to_string(p.B));
  if (!p.probs && !(p.epsilon > 0 && std::isfinite(p.epsilon)))
    return Status::OutOfRange("Expected a finite number > 0 for epsilon but received " + sinkhorn_fmt(p.epsilon));
  if (p.iterations < 0) return Status::OutOfRange("Expected an integer >= 0 for iterations but received " + std::to_string(p.iterations));
  if (!(p.tolerance >= 0)) return Status::OutOfRange("Expected a number >= 0 for tolerance but received " + sinkhorn_fmt(p.tolerance));
  if (!p.col_marginal) return Status::Invalid("Expected a column marginal for prior but received none");
  if (p.B > 0 && (!p.scores || !p.out)) return Status::Invalid("Expected scores and out arrays for sinkhorn but received null");
  return Status::Ok();
}

// The column marginal checked (finite, >= 0, positive sum) and normalized to sum 1.
inline Status sinkhorn_col_marginal(const SinkhornParams& p, std::vector<double>* c) {
  double csum = 0;
  for (int64_t k = 0; k < p.K; ++k) {
    const double ck = p.col_marginal[k];
    if (!(ck >= 0) || !std::isfinite(ck))
      return Status::OutOfRange("Expected finite non-negative entries for prior but received " + sinkhorn_fmt(ck) + " at index " + std::to_string(k));
    csum += ck;
  }
  if (!(csum > 0)) return Status::OutOfRange("Expected a prior with a positive sum for prior but received a sum of " + sinkhorn_fmt(csum));
  c->resize(static_cast<size_t>(p.K));
  for (int64_t k = 0; k < p.K; ++k) (*c)[k] = p.col_marginal[k] / csum;
  return Status::Ok();
}

// The local rows' marginal checked (finite, >= 0) and summed (0 without a row marginal).
inline Status sinkhorn_row_sum(const SinkhornParams& p, double* rsum) {
  *rsum = 0;
  if (!p.row_marginal) return Status::Ok();
  for (int64_t b = 0; b < p.B; ++b) {
    const double rb = p.row_marginal[b];
    if (!(rb >= 0) || !std::isfinite(rb))
      return Status::OutOfRange("Expected finite non-negative entries for rowMarginal but received " + sinkhorn_fmt(rb) + " at index " + std::to_string(b));
    *rsum += rb;
  }
  return Status::Ok();
}

}  // namespace selfsup

SELFSUP_ISA_DECLARE(::selfsup::Status, sinkhorn_forward, (::selfsup::SinkhornParams & p))
