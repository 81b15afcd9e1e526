// VICReg and Barlow Twins on CUDA: the CPU kernels' contract (params.h) with device pointers,
// float32 only (float64 params get kUnsupported). `out` is a device array of 3 doubles (the CPU
// kernels' host array), gradients are device arrays [n, d]. Enqueued on `stream`; nothing
// synchronizes.
#pragma once
#include <cuda_runtime.h>

#include "ops/vicreg/params.h"

namespace selfsup {

// out = {invariance, variance, covariance}.
Status vicreg_forward_cuda(const VICRegParams& p, double* out, cudaStream_t stream);
Status vicreg_backward_cuda(const VICRegParams& p, double g_inv, double g_var, double g_cov,
                            void* dx, void* dy, cudaStream_t stream);
// Single-input terms on p.x: which = 0 variance, 1 covariance; out is one device double.
Status vicreg_term_forward_cuda(const VICRegParams& p, int which, double* out, cudaStream_t stream);
Status vicreg_term_backward_cuda(const VICRegParams& p, int which, double g, void* dx,
                                 cudaStream_t stream);
// out = {loss, onDiagonal, offDiagonal}.
Status barlow_twins_forward_cuda(const VICRegParams& p, double* out, cudaStream_t stream);
Status barlow_twins_backward_cuda(const VICRegParams& p, double g, void* dz1, void* dz2,
                                  cudaStream_t stream);

}  // namespace selfsup
