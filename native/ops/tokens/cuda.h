// Token gather / scatter / stochastic positions on CUDA: the CPU kernels' contracts (params.h) with
// device pointers, float32 only (float64 params get kUnsupported). Indices are validated on the
// device before any output is written (check_token_indices_cuda: the CPU's checks and messages,
// one stream synchronization); everything else is enqueued on `stream`.
#pragma once
#include <cuda_runtime.h>

#include "ops/tokens/params.h"

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

}  // namespace selfsup
