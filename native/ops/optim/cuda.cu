// Multi-tensor AdamW (see cuda.h). Tensors go in chunks of up to kPerLaunch descriptors passed by
// value as the kernel parameter (the multi_tensor_apply idea of NVIDIA apex, csrc/
// multi_tensor_apply.cuh); each block updates one tile of one tensor, found from the chunk's
// prefix table of tile counts.
#include "ops/optim/cuda.h"

#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "cuda/memory.h"

namespace selfsup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kTile = kThreads * 4;
constexpr int kPerLaunch = 32;  // 32 descriptors of 64 bytes: well under the 4 KiB parameter limit

struct Chunk {
  int count = 0;
  int64_t first_tile[kPerLaunch + 1] = {};  // tensor t owns tiles [first_tile[t], first_tile[t+1])
  AdamWTensor t[kPerLaunch];
};

__global__ void adamw_kernel(AdamWHyper h, Chunk c) {
  int k = 0;
  while (k + 1 < c.count && blockIdx.x >= c.first_tile[k + 1]) k++;
  const AdamWTensor& p = c.t[k];
  float* w = static_cast<float*>(p.w);
  const float* g = static_cast<const float*>(p.g);
  float* m = static_cast<float*>(p.m);
  float* v = static_cast<float*>(p.v);
  float* vmax = static_cast<float*>(p.vmax);
  const double b1 = h.b1, b2 = h.b2, c1 = 1 - h.b1, c2 = 1 - h.b2;
  const int64_t lo = (blockIdx.x - c.first_tile[k]) * kTile;
  const int64_t hi = lo + kTile < p.n ? lo + kTile : p.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    // cpu.cc's adamw_range, line for line; the _rn intrinsics are never contracted into FMAs
    // (cpu.cc is compiled without contraction), so every rounding happens where the CPU's does.
    const double gi = __dmul_rn(h.sign, static_cast<double>(g[i]));
    const float mi = static_cast<float>(__dadd_rn(__dmul_rn(b1, static_cast<double>(m[i])), __dmul_rn(c1, gi)));
    const float vi = static_cast<float>(__dadd_rn(__dmul_rn(b2, static_cast<double>(v[i])), __dmul_rn(__dmul_rn(c2, gi), gi)));
    m[i] = mi;
    v[i] = vi;
    float second = vi;
    if (vmax) second = vmax[i] = vmax[i] < vi ? vi : vmax[i];  // std::max
    const float wd = static_cast<float>(__dmul_rn(static_cast<double>(w[i]), h.decay));
    const double denom = __dadd_rn(__ddiv_rn(__dsqrt_rn(static_cast<double>(second)), p.sqrt_bc2), h.eps);
    w[i] = static_cast<float>(__dsub_rn(static_cast<double>(wd), __ddiv_rn(__dmul_rn(p.step_size, static_cast<double>(mi)), denom)));
  }
}

}  // namespace

Status adamw_step_cuda(DType dt, const AdamWHyper& h, const AdamWTensor* ts, int64_t count, cudaStream_t s) {
  if (dt != DType::kFloat32)
    return Status::Unsupported(std::string("Expected float32 parameters for optimAdamW on cuda but received ") + dtype_name(dt));
  Chunk c;
  auto flush = [&]() -> Status {
    if (c.count == 0 || c.first_tile[c.count] == 0) { c = Chunk{}; return Status::Ok(); }
    const int64_t tiles = c.first_tile[c.count];
    if (tiles > 0x7fffffff) return Status::OutOfRange("Expected fewer than 2^31 tiles per optimAdamW launch but received " + std::to_string(tiles));
    adamw_kernel<<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(h, c);
    c = Chunk{};
    return cuda::check_launch("adamw_kernel");
  };
  for (int64_t i = 0; i < count; i++) {
    if (ts[i].n == 0) continue;
    c.t[c.count] = ts[i];
    c.first_tile[c.count + 1] = c.first_tile[c.count] + (ts[i].n + kTile - 1) / kTile;
    c.count++;
    if (c.count == kPerLaunch) SELFSUP_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace selfsup
