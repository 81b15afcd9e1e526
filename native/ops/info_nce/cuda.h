// InfoNCE / NT-Xent on CUDA: the CPU kernel's contract (params.h) with device pointers. float32
// only (a float64 InfoNCEParams gets kUnsupported). Enqueued on `stream`; nothing synchronizes.
#pragma once
#include <cuda_runtime.h>

#include "ops/info_nce/params.h"

namespace selfsup {

// losses[R], lse[R], lse_pos[R] (written when labels are given and lse_pos is non-null).
Status info_nce_forward_cuda(const InfoNCEParams& p, void* losses, void* lse, void* lse_pos,
                             cudaStream_t stream);
// grad_rows[R] = dL/dloss_i; lse / lse_pos from the forward; writes dz1, dz2 [n, d].
Status info_nce_backward_cuda(const InfoNCEParams& p, const void* grad_rows, const void* lse,
                              const void* lse_pos, void* dz1, void* dz2, cudaStream_t stream);

}  // namespace selfsup
