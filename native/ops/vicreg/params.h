// VICReg (Bardes, Ponce & LeCun 2022, facebookresearch/vicreg) and Barlow Twins (Zbontar et al.
// 2021, facebookresearch/barlowtwins) kernel ABI. Forward and backward side by side in cpu.cc.
//
// VICReg terms for x, y [n, d] (official defaults; the loss weights are applied by the caller):
//   invariance = mean((x - y)^2)
//   variance   = mean_d relu(1 - sqrt(var_d(x) + eps)) / 2 + same for y   (unbiased var)
//   covariance = sum_{i != j} cov(x)_ij^2 / d + same for y,  cov = x_c^T x_c / (n - 1)
// Covariance path: Gram (n x n, O(n^2 d)) or direct (d x d, O(n d^2)):
//   sum_{i != j} C_ij^2 = (||X_c X_c^T||_F^2 - sum_d (sum_n x_nd^2)^2) / (n - 1)^2   (x centred)
//   d/dX_c = 4 ((X_c X_c^T) X_c - X_c diag(s)) / (n - 1)^2,  s_d = sum_n x_nd^2
// Barlow Twins: A, B = batch-norm(z1), batch-norm(z2) (affine=False, biased var, eps 1e-5),
// c = A^T B / n, loss = sum_i (c_ii - 1)^2 + lambda sum_{i != j} c_ij^2, where the off-diagonal
// sum is (sum (A A^T) o (B B^T)) / n^2 - sum_i c_ii^2 on the Gram path.
#pragma once
#include <cstdint>
#include <string>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

enum class CovPath : int32_t { kAuto = 0, kGram = 1, kDirect = 2 };

struct VICRegParams {
  DType dtype = DType::kFloat32;  // float32 or float64
  const void* x = nullptr;        // [n, d]
  const void* y = nullptr;        // [n, d] (null for the single-input losses)
  int64_t n = 0, d = 0;
  double eps = 1e-4;              // variance eps (VICReg) / batch-norm eps (Barlow Twins)
  double lambda = 0.0051;         // Barlow Twins off-diagonal weight
  CovPath path = CovPath::kAuto;  // auto: Gram when n < d
};

inline bool vicreg_use_gram(const VICRegParams& p) {
  return p.path == CovPath::kGram || (p.path == CovPath::kAuto && p.n < p.d);
}

inline Status vicreg_check(const VICRegParams& p, bool need_y) {
  if (p.dtype != DType::kFloat32 && p.dtype != DType::kFloat64)
    return Status::Invalid("Expected float32 or float64 for x but received " +
                           std::string(dtype_name(p.dtype)));
  if (p.n < 2)
    return Status::OutOfRange("Expected a batch of at least 2 rows (variance needs n >= 2) for x "
                              "but received n=" + std::to_string(p.n));
  if (p.d < 1) return Status::OutOfRange("Expected d >= 1 for x but received d=" + std::to_string(p.d));
  if (!p.x || (need_y && !p.y)) return Status::Invalid("Expected non-null arrays for x, y but received null");
  if (!(p.eps >= 0) || !(p.eps < 1e30))
    return Status::OutOfRange("Expected a finite number >= 0 for eps but received " + std::to_string(p.eps));
  return Status::Ok();
}

}  // namespace selfsup

// out[3] = {invariance, variance, covariance} (unweighted terms, as above).
SELFSUP_ISA_DECLARE(::selfsup::Status, vicreg_forward, (const ::selfsup::VICRegParams& p, double* out))
// dx, dy = g_inv d(invariance) + g_var d(variance) + g_cov d(covariance).
SELFSUP_ISA_DECLARE(::selfsup::Status, vicreg_backward,
                    (const ::selfsup::VICRegParams& p, double g_inv, double g_var, double g_cov,
                     void* dx, void* dy))
// Single-input terms on p.x: which = 0 variance (mean_d relu(1 - std_d), no /2), 1 covariance
// (sum_{i != j} cov_ij^2 / d).
SELFSUP_ISA_DECLARE(::selfsup::Status, vicreg_term_forward,
                    (const ::selfsup::VICRegParams& p, int which, double* out))
SELFSUP_ISA_DECLARE(::selfsup::Status, vicreg_term_backward,
                    (const ::selfsup::VICRegParams& p, int which, double g, void* dx))
// Barlow Twins: out[3] = {loss, onDiagonal, offDiagonal}.
SELFSUP_ISA_DECLARE(::selfsup::Status, barlow_twins_forward, (const ::selfsup::VICRegParams& p, double* out))
SELFSUP_ISA_DECLARE(::selfsup::Status, barlow_twins_backward,
                    (const ::selfsup::VICRegParams& p, double g, void* dz1, void* dz2))
