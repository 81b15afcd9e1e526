// Deterministic block reductions shared by the fused CUDA kernels: a fixed shuffle tree inside each
// warp, then the warp totals in warp order (no atomics, so a result never depends on scheduling).
#pragma once
#include <cuda_runtime.h>

namespace selfsup {
namespace cuda {

template <class T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum of v over the block; every thread receives it. blockDim.x must be a multiple of 32 and
// every thread must call it (it synchronizes). `scratch` holds 32 values.
template <class T> __device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // an earlier call may still be reading scratch
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : T(0);
  return warp_sum(v);
}

// Maximum of v over the block (same contract as block_sum). NaN-free inputs.
template <class T> __device__ __forceinline__ T block_max(T v, T* scratch) {
  const int lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : scratch[0];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cuda
}  // namespace selfsup
