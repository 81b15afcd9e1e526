// Helpers of the CUDA kernel tests (native/tests/cuda_*_test.cu, built only with SELFSUP_CUDA):
// device detection (ctest's skip code 77 when there is none), device buffers from host vectors,
// random inputs, and a max-error report. Builds on check.h's EXPECT / test_result.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "selfsup/status.h"
#include "tests/check.h"

namespace {

constexpr int kSkip = 77;  // ctest SKIP_RETURN_CODE

[[maybe_unused]] bool have_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    std::printf("skip: no CUDA device\n");
    return false;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  return true;
}

// A device copy of a host vector (or `count` uninitialized elements), freed on scope exit.
template <class T> struct DeviceVec {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceVec(size_t count) : n(count) {
    if (cudaMalloc(&p, (n ? n : 1) * sizeof(T)) != cudaSuccess) {
      std::printf("FAIL cudaMalloc of %zu bytes\n", n * sizeof(T));
      std::exit(1);
    }
  }
  explicit DeviceVec(const std::vector<T>& h) : DeviceVec(h.size()) {
    cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~DeviceVec() { cudaFree(p); }
  DeviceVec(const DeviceVec&) = delete;
  DeviceVec& operator=(const DeviceVec&) = delete;
  std::vector<T> host() const {
    std::vector<T> h(n);
    cudaDeviceSynchronize();
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
  void fill_bytes(int byte) { cudaMemset(p, byte, n * sizeof(T)); }
};

[[maybe_unused]] std::mt19937_64& rng() {
  static std::mt19937_64 g(std::random_device{}());
  return g;
}
// n normal values times `scale`.
[[maybe_unused]] std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * d(rng());
  return v;
}

// After the host-only checks: their failures' exit code, or the skip code without a device;
// -1 to go on with the device cases.
[[maybe_unused]] int after_host_checks() {
  if (g_failures) return test_result();
  if (!have_device()) return kSkip;
  return -1;
}

[[maybe_unused]] std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }
[[maybe_unused]] double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::fmax(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Expects an ok Status (prints it otherwise).
#define EXPECT_OK(expr)                                                                    \
  do {                                                                                     \
    ::selfsup::Status _st = (expr);                                                        \
    if (!_st.ok()) {                                                                       \
      ++g_failures;                                                                        \
      std::printf("FAIL %s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, _st.message.c_str()); \
    }                                                                                      \
  } while (0)

// max_i |a_i - b_i| / (|b_i| + floor): prints it with the case name and checks it is <= tol
// (NaN fails). Returns the error.
[[maybe_unused]] double expect_close(const char* what, const std::vector<float>& got,
                                     const std::vector<double>& want, double tol,
                                     double floor = 1.0) {
  double worst = 0;
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + floor);
    if (!(e <= tol)) ok = false;
    if (e > worst || e != e) worst = e;
  }
  std::printf("%-48s max rel err %.3g (tol %.1g)%s\n", what, worst, tol, ok ? "" : "  FAIL");
  if (!ok) ++g_failures;
  return worst;
}

}  // namespace
