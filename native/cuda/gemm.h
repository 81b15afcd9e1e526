// GEMM on CUDA, the same contract as native/cpu/gemm.h (row-major, leading dimensions):
//   C[m, n] = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T,
// A is m x k (k x m when transA), B is k x n (n x k when transB), batched with element strides
// between consecutive matrices (a stride of 0 broadcasts that operand). beta == 0 means C is not
// read (it may hold NaN). Every pointer is a device pointer; work is enqueued on `stream` and
// nothing synchronizes.
//
// Inputs float32 (SIMT, register-tiled) or bfloat16 / float16 (tensor cores: mma.sync m16n8k16,
// fp32 accumulation); A and B share a dtype. C is float32, or the inputs' half type.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {
namespace cuda {

struct GemmParams {
  DType in_dtype = DType::kFloat32;   // A and B: float32, bfloat16 or float16
  DType out_dtype = DType::kFloat32;  // C: float32, or in_dtype when that is a half type
  bool transA = false, transB = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const void* A = nullptr;
  int64_t lda = 0, strideA = 0;
  const void* B = nullptr;
  int64_t ldb = 0, strideB = 0;
  void* C = nullptr;
  int64_t ldc = 0, strideC = 0;
  int64_t batch = 1;
};

// Checks dtypes, sizes and leading dimensions (host only, touches no memory).
Status gemm_check(const GemmParams& p);
Status gemm(const GemmParams& p, cudaStream_t stream);

// float32 convenience form with the CPU gemm's argument order (used by the fused families).
Status sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
             const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
             int64_t ldc, cudaStream_t stream);

// A CUDA error as a Status naming the step: kNoDevice when there is no usable device,
// kInternal otherwise. Clears the error so later launches start clean.
inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  cudaGetLastError();
  std::string m = std::string(what) + ": " + cudaGetErrorString(e);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
    return Status::NoDevice("no CUDA device (" + m + ")");
  return Status::Internal(m);
}
// After a launch: the launch error (bad configuration, no device), if any.
inline Status launch_status(const char* kernel) { return cuda_status(cudaGetLastError(), kernel); }

// Stream-ordered scratch memory (cudaMallocAsync / cudaFreeAsync on the op's stream): freed when
// the owner goes out of scope, after the work already enqueued on that stream.
class StreamBuffer {
 public:
  explicit StreamBuffer(cudaStream_t s) : s_(s) {}
  ~StreamBuffer() {
    if (p_) cudaFreeAsync(p_, s_);
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  Status alloc(size_t bytes, const char* what) {
    if (bytes == 0) bytes = 1;
    cudaError_t e = cudaMallocAsync(&p_, bytes, s_);
    if (e != cudaSuccess) {
      p_ = nullptr;
      return cuda_status(e, what);
    }
    return Status::Ok();
  }
  template <class T> T* as() const { return static_cast<T*>(p_); }

 private:
  cudaStream_t s_;
  void* p_ = nullptr;
};

}  // namespace cuda
}  // namespace selfsup
