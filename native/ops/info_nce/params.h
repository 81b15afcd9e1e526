// InfoNCE / NT-Xent kernel ABI. Forward and backward live side by side in cpu.cc.
//
// Rows and keys. With both = true (SimCLR NT-Xent, Chen et al. 2020) the 2N views U = [u1; u2]
// are both rows and keys: row i sees every key j != i, its positive is the other view (i +- N).
// With both = false (one-way, CLIP / MoCo) the rows are u1 and the keys u2: row i sees every key
// and its positive is key i. An optional bank of M extra negatives (MoCo queue, no gradient) is
// appended to the keys of every row. u = z / max(||z||, 1e-12) when normalize (F.normalize).
//
// Per row:  loss_i = LSE_{j in den(i)} s_ij - LSE_{j in pos(i)} s_ij,   s_ij = u_i . u_j / tau
//   den(i) = every key except i itself (and except the positives when decoupled, DCL, Yeh et
//   al. 2022); pos(i) = the other view, or with labels every other view whose label matches
//   (solo-learn's `indexes`: -log(sum_pos e^s / sum_den e^s)).
// The [R, K] logits are never stored: tiles of R_b x K_b similarities are made by the packed GEMM
// and folded into a streaming log-sum-exp (running max + rescaled sum), so memory is O(N D).
// Backward recomputes the tiles from the saved per-row LSEs.
#pragma once
#include <cstdint>
#include <string>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

struct InfoNCEParams {
  DType dtype = DType::kFloat32;   // float32 or float64 for z1, z2, negatives and every output
  const void* z1 = nullptr;        // [n, d]
  const void* z2 = nullptr;        // [n, d]
  const void* negatives = nullptr; // [m, d] or null (m == 0)
  const int32_t* labels = nullptr; // [n] or null
  int64_t n = 0, d = 0, m = 0;
  double temperature = 0.1;
  bool normalize = true;
  bool both = true;       // false: one-way (rows z1, keys z2)
  bool decoupled = false;
};

// Rows R = 2n (both) or n (one-way).
inline int64_t info_nce_rows(const InfoNCEParams& p) { return p.both ? 2 * p.n : p.n; }

// Checks sizes and the temperature (shared by both ISA variants and by the napi layer).
inline Status info_nce_check(const InfoNCEParams& p) {
  if (p.dtype != DType::kFloat32 && p.dtype != DType::kFloat64)
    return Status::Invalid("Expected float32 or float64 for z1 but received " +
                           std::string(dtype_name(p.dtype)));
  if (p.n < 1 || p.d < 1 || p.m < 0)
    return Status::OutOfRange("Expected n >= 1, d >= 1, m >= 0 for shape but received n=" +
                              std::to_string(p.n) + ", d=" + std::to_string(p.d) +
                              ", m=" + std::to_string(p.m));
  if (!(p.temperature > 0) || !(p.temperature < 1e30))
    return Status::OutOfRange("Expected a finite number > 0 for temperature but received " +
                              std::to_string(p.temperature));
  if (!p.z1 || !p.z2 || (p.m > 0 && !p.negatives))
    return Status::Invalid("Expected non-null arrays for z1, z2, negatives but received null");
  return Status::Ok();
}

}  // namespace selfsup

// Forward: losses[R] (per-row loss), lse[R] (denominator LSE), lse_pos[R] (positive LSE; only
// written when labels are given, may be null otherwise). Arrays have the params' dtype.
SELFSUP_ISA_DECLARE(::selfsup::Status, info_nce_forward,
                    (const ::selfsup::InfoNCEParams& p, void* losses, void* lse, void* lse_pos))
// Backward: grad_rows[R] = dL/dloss_i; lse / lse_pos from the forward. Writes dz1, dz2 [n, d].
SELFSUP_ISA_DECLARE(::selfsup::Status, info_nce_backward,
                    (const ::selfsup::InfoNCEParams& p, const void* grad_rows, const void* lse,
                     const void* lse_pos, void* dz1, void* dz2))
