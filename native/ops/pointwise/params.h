// Pointwise / row-wise kernels of the transformer MLP and norms (the ViT step's non-GEMM time):
// GELU (exact erf and tanh forms, optional fused row-broadcast bias), LayerNorm over the last dim,
// row-broadcast bias fill and column sums (the bias gradient). Forward and backward side by side
// in cpu.cc; float32 and float64. Matches PyTorch (F.gelu, F.layer_norm, F.linear's bias):
//   gelu(x)      = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2                     (approximate='none')
//   gelu_tanh(x) = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2             (approximate='tanh')
//   layer_norm   = (x - mean) rstd w + b, rstd = 1 / sqrt(var + eps), biased var (PyTorch)
#pragma once
#include <cstdint>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

enum class GeluMode : int32_t { kErf = 0, kTanh = 1 };

// x, y, g, dx are [rows, cols] row-major; bias / dbias [cols] or null (no fused bias).
struct GeluParams {
  DType dtype = DType::kFloat32;  // float32 or float64; every array has this type
  GeluMode mode = GeluMode::kErf;
  int64_t rows = 0, cols = 0;
  const void* x = nullptr;
  const void* bias = nullptr;  // y = gelu(x + bias[col]) when non-null
};

// x, y, g, dx [rows, n]; weight / bias / dweight / dbias [n] or null; mean / rstd [rows] float64.
struct LayerNormParams {
  DType dtype = DType::kFloat32;
  int64_t rows = 0, n = 0;
  double eps = 1e-5;
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
};

inline Status pointwise_check(DType dt, int64_t rows, int64_t cols, const void* x) {
  if (dt != DType::kFloat32 && dt != DType::kFloat64)
    return Status::Invalid("Expected float32 or float64 for x but received " + std::string(dtype_name(dt)));
  if (rows < 0 || cols < 0)
    return Status::OutOfRange("Expected non-negative sizes for x but received [" + std::to_string(rows) +
                              ", " + std::to_string(cols) + "]");
  if (!x && rows * cols > 0) return Status::Invalid("Expected a non-null array for x but received null");
  return Status::Ok();
}

}  // namespace selfsup

// y = gelu(x [+ bias]).
SELFSUP_ISA_DECLARE(::selfsup::Status, gelu_forward, (const ::selfsup::GeluParams& p, void* y))
// dx = g * gelu'(x [+ bias]); dbias (optional, needs bias) = sum over rows of dx. dx may alias g.
SELFSUP_ISA_DECLARE(::selfsup::Status, gelu_backward,
                    (const ::selfsup::GeluParams& p, const void* g, void* dx, void* dbias))
// y = layer_norm(x); mean / rstd per row (float64). y may alias x.
SELFSUP_ISA_DECLARE(::selfsup::Status, layer_norm_forward,
                    (const ::selfsup::LayerNormParams& p, void* y, double* mean, double* rstd))
// dx = rstd (g w - mean(g w) - xhat mean(g w xhat)); dweight = sum_rows g xhat; dbias = sum_rows g
// (each optional). dx may alias g.
SELFSUP_ISA_DECLARE(::selfsup::Status, layer_norm_backward,
                    (const ::selfsup::LayerNormParams& p, const void* g, const double* mean,
                     const double* rstd, void* dx, void* dweight, void* dbias))
// out[c] = sum_r x[r, c] (the bias gradient of a row-broadcast add).
SELFSUP_ISA_DECLARE(::selfsup::Status, sum_rows,
                    (::selfsup::DType dt, const void* x, int64_t rows, int64_t cols, void* out))
