// Machine probes (see probe.h). std::thread is used instead of the pool so that any thread count
// can be measured and the pool's wake-up latency is not part of the number.
#include "cpu/probe.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace selfsup {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs body(thread_index) on `threads` threads (the caller is thread 0), all started together.
template <class F>
void run_on_threads(int threads, F body) {
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back([&body, t] { body(t); });
  body(0);
  for (auto& th : ts) th.join();
}

}  // namespace

double measure_peak_gflops(int threads, double seconds) {
  return measure_peak_gflops_isa(active_isa(), threads, seconds);
}

double measure_peak_gflops_isa(Isa isa, int threads, double seconds) {
  threads = std::max(1, std::min(threads, 1024));
  seconds = std::max(0.01, std::min(seconds, 10.0));
  double (*fma_block)(int64_t, float*) = &isa_generic::probe_fma_block;
#if SELFSUP_HAVE_AVX512_VARIANT
  if (isa == Isa::kAvx512 && isa_supported(isa)) fma_block = &isa_avx512::probe_fma_block;
#endif
#if SELFSUP_HAVE_AVX2_VARIANT
  if (isa == Isa::kAvx2 && isa_supported(isa)) fma_block = &isa_avx2::probe_fma_block;
#endif
#if SELFSUP_HAVE_NEON_VARIANT
  if (isa == Isa::kNeon && isa_supported(isa)) fma_block = &isa_neon::probe_fma_block;
#endif
  // Each thread repeats fixed blocks (~0.1 ms) until `seconds` passed; the rate is total flops
  // over the slowest thread's elapsed time, so a descheduled thread lowers the number honestly.
  constexpr int64_t kIters = 1 << 14;
  std::vector<double> flops(threads, 0.0), elapsed(threads, 0.0);
  std::vector<float> sinks(threads * 16, 0.0f);  // padded: one cache line per thread
  run_on_threads(threads, [&](int t) {
    fma_block(kIters, &sinks[t * 16]);  // warm up (clock ramp, AVX power license)
    const auto t0 = Clock::now();
    double f = 0.0;
    do {
      f += fma_block(kIters, &sinks[t * 16]);
    } while (seconds_since(t0) < seconds);
    flops[t] = f;
    elapsed[t] = seconds_since(t0);
  });
  double total = 0.0, slowest = 0.0;
  for (int t = 0; t < threads; ++t) {
    total += flops[t];
    slowest = std::max(slowest, elapsed[t]);
  }
  return total / slowest / 1e9;
}

double measure_bandwidth_gbs(int threads, double seconds) {
  threads = std::max(1, std::min(threads, 1024));
  seconds = std::max(0.01, std::min(seconds, 10.0));
  const auto triad = SELFSUP_DISPATCH(probe_triad);
  constexpr int64_t kN = int64_t(8) << 20;  // 8 Mi floats = 32 MiB per array
  std::unique_ptr<float[]> a(new float[kN]), b(new float[kN]), c(new float[kN]);
  auto range = [&](int t, int64_t& lo, int64_t& hi) {
    lo = kN * t / threads;
    hi = kN * (t + 1) / threads;
  };
  // First touch on the thread that later streams the range (NUMA placement on multi-socket).
  run_on_threads(threads, [&](int t) {
    int64_t lo, hi;
    range(t, lo, hi);
    for (int64_t i = lo; i < hi; ++i) {
      a[i] = 0.0f;
      b[i] = 1.0f;
      c[i] = 2.0f;
    }
  });
  // Passes in lockstep per thread; the rate uses the best full pass time across repetitions, as
  // STREAM does (the minimum is the least disturbed measurement).
  const auto t_start = Clock::now();
  double best = 1e30;
  int passes = 0;
  while (passes < 2 || (seconds_since(t_start) < seconds && passes < 1000)) {
    const auto t0 = Clock::now();
    run_on_threads(threads, [&](int t) {
      int64_t lo, hi;
      range(t, lo, hi);
      triad(a.get() + lo, b.get() + lo, c.get() + lo, 3.0f, hi - lo);
    });
    best = std::min(best, seconds_since(t0));
    ++passes;
  }
  return 3.0 * 4.0 * static_cast<double>(kN) / best / 1e9;
}

}  // namespace selfsup
