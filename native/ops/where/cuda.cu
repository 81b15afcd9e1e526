// Elementwise select on CUDA (see cuda.h): a grid-stride kernel per element size, moving bits.
#include "ops/where/cuda.h"

#include <cuda_runtime.h>

#include <string>

#include "cuda/memory.h"

namespace selfsup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid-stride beyond this

template <class E>
__global__ void where_kernel(E* out, const uint8_t* cond, const E* a, const E* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = cond[i] ? a[i] : b[i];
}

template <class E>
void launch(void* out, const uint8_t* cond, const void* a, const void* b, int64_t n, cudaStream_t s) {
  const int64_t want = (n + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(want > kMaxBlocks ? kMaxBlocks : want);
  where_kernel<E><<<blocks, kThreads, 0, s>>>(static_cast<E*>(out), cond, static_cast<const E*>(a),
                                               static_cast<const E*>(b), n);
}

}  // namespace

Status tensor_where_cuda(DType dt, void* out, const uint8_t* cond, const void* a, const void* b, int64_t n,
                         cudaStream_t s) {
  if (n < 0) return Status::OutOfRange("Expected a non-negative length for where but received " + std::to_string(n));
  if (dt == DType::kFloat64)
    return Status::Unsupported("Expected a float32, bfloat16, float16, int32 or bool tensor for where on cuda but received float64");
  if (n == 0) return Status::Ok();
  if (!out || !cond || !a || !b) return Status::Invalid("Expected device buffers for where(out, cond, a, b) but received a null pointer");
  switch (dtype_size(dt)) {
    case 1: launch<uint8_t>(out, cond, a, b, n, s); break;
    case 2: launch<uint16_t>(out, cond, a, b, n, s); break;
    default: launch<uint32_t>(out, cond, a, b, n, s); break;
  }
  return cuda::check_launch("where_kernel");
}

}  // namespace selfsup
