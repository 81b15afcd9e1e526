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
#include <cstdint>
#include <functional>

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

}  // namespace selfsup

SELFSUP_ISA_DECLARE(::selfsup::Status, sinkhorn_forward, (::selfsup::SinkhornParams & p))
