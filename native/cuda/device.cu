#include "cuda/device.h"

#include <cuda_runtime.h>

#include "cuda/memory.h"

#include <cmath>
#include <vector>

namespace selfsup {
namespace cuda {

static Status FromCuda(cudaError_t e, const char* what) { return from_cuda(e, what); }

Status list_devices(std::vector<DeviceInfo>* out) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return FromCuda(e == cudaErrorInsufficientDriver ? e : cudaErrorNoDevice, "cudaGetDeviceCount");
  }
  if (n == 0) return Status::NoDevice("no CUDA device (cudaGetDeviceCount returned 0)");
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    SELFSUP_RETURN_IF_ERROR(FromCuda(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties"));
    out->push_back({p.name, p.major, p.minor, p.totalGlobalMem});
  }
  return Status::Ok();
}

__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

Status smoke_test(float* max_abs_err) {
  std::vector<DeviceInfo> devs;
  SELFSUP_RETURN_IF_ERROR(list_devices(&devs));
  const int n = 1000;
  std::vector<float> hx(n), hy(n);
  for (int i = 0; i < n; ++i) { hx[i] = 0.5f + i; hy[i] = 1.0f - i; }
  float *dx = nullptr, *dy = nullptr;
  SELFSUP_RETURN_IF_ERROR(FromCuda(cudaMalloc(&dx, n * sizeof(float)), "cudaMalloc"));
  Status s = FromCuda(cudaMalloc(&dy, n * sizeof(float)), "cudaMalloc");
  if (s.ok()) s = FromCuda(cudaMemcpy(dx, hx.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  if (s.ok()) s = FromCuda(cudaMemcpy(dy, hy.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  if (s.ok()) {
    axpy_kernel<<<(n + 255) / 256, 256>>>(n, 2.0f, dx, dy);
    s = FromCuda(cudaGetLastError(), "axpy_kernel launch");
  }
  std::vector<float> out(n);
  if (s.ok()) s = FromCuda(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  cudaFree(dx);
  cudaFree(dy);
  if (!s.ok()) return s;
  float err = 0;
  for (int i = 0; i < n; ++i) err = std::fmax(err, std::fabs(out[i] - (2.0f * hx[i] + hy[i])));
  *max_abs_err = err;
  return Status::Ok();
}

}  // namespace cuda
}  // namespace selfsup
