// Process-wide thread pool and parallel_for (shared by every kernel and every Node context).
#pragma once
#include <cstdint>
#include <functional>

namespace selfsup {

// Number of threads parallel_for uses (SELFSUP_NUM_THREADS env, default = hardware cores).
int num_threads();
// Resize the pool (n >= 1). Safe to call between kernels.
void set_num_threads(int n);

// Split [0, n) into contiguous chunks of at least `grain` items and call fn(begin, end) on each,
// in parallel on the pool plus the calling thread; returns when all chunks finished. A call made
// from inside a pool task, or while another thread owns the pool, runs serially on the caller
// (no deadlock, no oversubscription). The first exception thrown by fn is rethrown here.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// The spin-wait hint (x86 PAUSE, AArch64 YIELD) for the loops that poll a flag another core sets:
// it frees the core's shared resources for the sibling hyperthread and saves power while polling.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace selfsup
