// Fused attention on CUDA: the CPU kernel's contract (ops/attention/params.h) with device
// pointers, enqueued on `stream`. Compiled only with SELFSUP_CUDA (nvcc).
//
// Differences from the CPU kernels' AttentionParams use:
//  - dtype: float32, bfloat16 or float16 (float64 is refused with kUnsupported). q, k, v, out,
//    dout, dq, dk, dv and an additive mask have this type.
//  - lse, lse_lo and dlse are float32 whatever dtype is (a bfloat16 lse would carry an error of
//    ~|lse| / 256 into every recomputed probability; FlashAttention keeps it in float32 too).
//  - head dim d <= 256 (kUnsupported past it). bfloat16 / float16 with d = 64 or 128 run on the
//    tensor cores (mma.sync m16n8k16, float32 accumulation); every other case on the SIMT kernels.
//
// Both calls only enqueue work: errors found before launching (validation, sizes, shared memory)
// come back as the Status; a kernel fault surfaces at the caller's next synchronization. Results
// are bit-reproducible at fixed inputs and settings (no atomics; every sum in a fixed order).
#pragma once
#include <cuda_runtime.h>

#include "ops/attention/params.h"

namespace selfsup {

// Writes out [B,H,Nq,d] (strides o_*), lse [B,H,Nq] (float32) and lse_lo when non-null.
Status attention_forward_cuda(const AttentionParams& p, cudaStream_t stream);
// Reads q, k, v, out, lse (+ lse_lo, dlse when non-null), dout; overwrites dq, dk, dv.
Status attention_backward_cuda(const AttentionParams& p, cudaStream_t stream);

}  // namespace selfsup
