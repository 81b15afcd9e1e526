// Token gather / scatter / stochastic positions on CUDA: the CPU kernels' contracts (params.h) with
// device pointers, float32 only (float64 params get kUnsupported). Indices are validated on the
// device before any output is written (check_token_indices_cuda: the CPU's checks and messages,
// one stream synchronization); everything else is enqueued on `stream`.
#pragma once
#include <cuda_runtime.h>

#include <cmath>

#include "ops/tokens/params.h"
#include "selfsup/philox.h"

namespace selfsup {

// check_token_indices over device arrays idx [B, K] and lengths [B] (or null).
Status check_token_indices_cuda(const char* name, const int32_t* idx, const int32_t* lengths,
                                int64_t B, int64_t K, int64_t N, bool unique, cudaStream_t stream);

Status tokens_gather_cuda(const TokenGatherParams& p, cudaStream_t stream);
Status tokens_gather_backward_cuda(const TokenGatherBackwardParams& p, cudaStream_t stream);
Status tokens_scatter_cuda(const TokenScatterParams& p, cudaStream_t stream);
Status tokens_scatter_backward_cuda(const TokenScatterBackwardParams& p, cudaStream_t stream);
// StoP: the noise is drawn on the device from the CPU's Philox stream (same words; the float
// normals equal the CPU's except where the device's double log / sincos round to the other side
// of a float rounding midpoint, a ~1e-8 event per value).
Status stochastic_positions_cuda(const StochasticPositionsParams& p, cudaStream_t stream);
Status stochastic_positions_backward_cuda(const StochasticPositionsBackwardParams& p,
                                          cudaStream_t stream);

// Normal value j of a Philox stream: philox_normal's Box-Muller on the word pair
// (2 floor(j/2), +1) in double, rounded to float. Host and device (the test checks the host
// build against philox_normal).
SELFSUP_HD float philox_normal_at(uint64_t seed, uint32_t stream, uint64_t j) {
  const uint64_t pair = j & ~uint64_t(1), block = pair / 4;
  const Philox4x32 w = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream, 0u,
                                     static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const bool hi = (pair % 4) != 0;
  const uint32_t w1 = hi ? w.v[2] : w.v[0], w2 = hi ? w.v[3] : w.v[1];
  const double u1 = (static_cast<double>(w1 >> 8) + 1.0) * (1.0 / 16777216.0);  // (0, 1]
  const double u2 = static_cast<double>(w2 >> 8) * (1.0 / 16777216.0);          // [0, 1)
  const double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586 * u2;
  return static_cast<float>((j & 1) ? r * sin(theta) : r * cos(theta));
}

}  // namespace selfsup
