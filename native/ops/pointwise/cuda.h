// GELU and LayerNorm on CUDA: the CPU kernels' params (params.h) with device pointers, enqueued on
// `stream`, errors as a Status (never an abort). float32 only (ERR_UNSUPPORTED otherwise).
//
// What differs from the CPU kernels:
// - LayerNorm's per-row mean and rstd are float32 device arrays (the device has no float64
//   storage); both are computed in double and rounded once.
// - GELU evaluates erfcf / expf (CUDA's single-precision functions, a few ulp) where the CPU's
//   float32 path uses its own polynomial: results agree to about 1e-5 relative, not bit for bit.
// Deterministic: the row statistics and the column sums (dweight, dbias) have a fixed thread
// assignment and a fixed combining tree; no atomics.
#pragma once
#include <cstdint>

#include "ops/pointwise/params.h"
#include "selfsup/status.h"

// The runtime's own declaration (driver_types.h), repeated so g++ sources need no CUDA headers.
struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace selfsup {

// y = gelu(x [+ bias]).
Status gelu_forward_cuda(const GeluParams& p, void* y, cudaStream_t s);
// dx = g gelu'(x [+ bias]); dbias (optional, needs bias) = the column sums of dx. dx may alias g.
Status gelu_backward_cuda(const GeluParams& p, const void* g, void* dx, void* dbias, cudaStream_t s);
// y = layer_norm(x) (y may alias x); mean, rstd [rows].
Status layer_norm_forward_cuda(const LayerNormParams& p, void* y, float* mean, float* rstd, cudaStream_t s);
// dx = rstd (g w - mean(g w) - xhat mean(g w xhat)); dweight = sum_rows g xhat; dbias = sum_rows g
// (each optional). dx may alias g.
Status layer_norm_backward_cuda(const LayerNormParams& p, const void* g, const float* mean, const float* rstd,
                                void* dx, void* dweight, void* dbias, cudaStream_t s);

}  // namespace selfsup
