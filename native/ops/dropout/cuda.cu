// The dropout keep mask on CUDA (see cuda.h): a thread per Philox block of 4 words.
#include "ops/dropout/cuda.h"

#include <cuda_runtime.h>

#include <string>

#include "cuda/memory.h"
#include "selfsup/philox.h"

namespace selfsup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid-stride beyond this

__global__ void dropout_mask_kernel(uint64_t seed, uint32_t stream, double p, int64_t n, uint8_t* keep) {
  const int64_t nblocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < nblocks; b += int64_t(gridDim.x) * blockDim.x) {
    const Philox4x32 w = philox4x32_10(static_cast<uint32_t>(b), static_cast<uint32_t>(static_cast<uint64_t>(b) >> 32),
                                       stream, 0u, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    for (int j = 0; j < 4; j++) {
      const int64_t i = 4 * b + j;
      // (word >> 8) 2^-24 is exact in float and double: the comparison is the CPU's `u >= p`.
      if (i < n) keep[i] = static_cast<double>(w.v[j] >> 8) * (1.0 / 16777216.0) >= p;
    }
  }
}

}  // namespace

Status dropout_mask_cuda(uint64_t seed, uint32_t stream, double p, int64_t n, uint8_t* keep, cudaStream_t s) {
  if (!(p >= 0 && p <= 1)) return Status::OutOfRange("Expected a probability in [0, 1] for dropout(p) but received " + std::to_string(p));
  if (n < 0) return Status::OutOfRange("Expected a non-negative length for dropout but received " + std::to_string(n));
  if (n == 0) return Status::Ok();
  if (!keep) return Status::Invalid("Expected a device buffer for dropout(keep) but received a null pointer");
  const int64_t want = ((n + 3) / 4 + kThreads - 1) / kThreads;
  dropout_mask_kernel<<<static_cast<int>(want > kMaxBlocks ? kMaxBlocks : want), kThreads, 0, s>>>(seed, stream, p, n, keep);
  return cuda::check_launch("dropout_mask_kernel");
}

}  // namespace selfsup
