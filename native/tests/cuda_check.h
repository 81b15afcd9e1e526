// Shared by the CUDA test programs (native/tests/cuda_*_test.cu): random inputs, device buffers
// through the caching allocator, and the tolerance score every comparison reports.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "check.h"
#include "cuda/memory.h"

namespace {

std::mt19937_64 rng;
cudaStream_t g_stream = nullptr;

std::vector<float> randn(size_t n, float scale = 1.0f, float shift = 0.0f) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng) * scale + shift;
  return v;
}

// A device copy of a host vector (through the caching allocator), freed at scope end.
struct Dev {
  selfsup::cuda::Block b;
  size_t bytes = 0;
  template <class T>
  explicit Dev(const std::vector<T>& h) : bytes(h.size() * sizeof(T)) {
    EXPECT(selfsup::cuda::alloc(0, bytes, &b).ok());
    EXPECT(selfsup::cuda::upload(b, h.data(), bytes).ok());
  }
  explicit Dev(size_t nbytes) : bytes(nbytes) { EXPECT(selfsup::cuda::alloc(0, nbytes, &b).ok()); }
  ~Dev() { selfsup::cuda::release(b); }
  template <class T>
  std::vector<T> get() const {
    std::vector<T> h(bytes / sizeof(T));
    EXPECT(selfsup::cuda::download(h.data(), b, bytes).ok());
    return h;
  }
  void* p() const { return b.ptr; }
};

// max |a - b| / (atol + rtol |b|) over the arrays; <= 1 passes. NaN must match NaN.
double score(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); i++) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) || std::isnan(g)) { if (std::isnan(w) != std::isnan(g)) return INFINITY; continue; }
    if (std::isinf(w) || std::isinf(g)) { if (g != w) return INFINITY; continue; }
    worst = std::fmax(worst, std::fabs(g - w) / (atol + rtol * std::fabs(w)));
  }
  return worst;
}
void report(const char* what, double s) {
  std::printf("%-44s worst error / tolerance = %.3g\n", what, s);
  if (!(s <= 1.0)) { ++g_failures; std::printf("FAIL %s\n", what); }
}

// Before the device tests: -1 when there is a device (rng seeded and printed, g_stream set),
// otherwise the exit code: 77 (skipped; 1 when the checks before it failed) or 1 (no stream).
int device_setup() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("%d failures before the device tests; skip: no CUDA device\n", g_failures);
    return g_failures ? 1 : 77;
  }
  const uint64_t seed = std::random_device{}();
  rng.seed(seed);
  std::printf("seed %llu\n", (unsigned long long)seed);
  void* s = nullptr;
  if (!selfsup::cuda::stream(0, &s).ok()) { std::printf("FAIL: no stream\n"); return 1; }
  g_stream = static_cast<cudaStream_t>(s);
  return -1;
}

}  // namespace
