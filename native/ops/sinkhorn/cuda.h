// Log-domain Sinkhorn-Knopp on CUDA: the CPU kernel's contract (params.h) with `scores` and `out`
// device pointers. The marginals (col_marginal, row_marginal) stay host arrays (small, validated
// and normalized on the host like the CPU kernel's, then uploaded), and the results
// (iterations_done, marginal_error, sweeps) are host values, so the call synchronizes `stream`:
// once to validate the scores, once per iteration with a tolerance, once at the end.
// The multi-process hook (all_reduce) is not supported on CUDA (kUnsupported).
#pragma once
#include <cuda_runtime.h>

#include "ops/sinkhorn/params.h"

namespace selfsup {

Status sinkhorn_forward_cuda(SinkhornParams& p, cudaStream_t stream);

}  // namespace selfsup
