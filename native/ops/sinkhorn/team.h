// Team: one parallel region per Sinkhorn call (see the comment below). Per-ISA like cpu.cc,
// which is its only includer (inside its namespaces).
#pragma once
#ifndef SELFSUP_ISA_NS
#error "team.h is included by native/ops/sinkhorn/cpu.cc only"
#endif
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>

#include "cpu/threadpool.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace sinkhorn_detail {

// ---- one parallel region per call. The pool wakes its workers with a condition variable
// (~10-50 us, threadpool.cc), once per parallel_for; one wake-up per sweep was a large part of
// the time at 1024 x 1024. So sinkhorn_forward runs inside a single parallel_for: one participant
// (the leader) runs the serial code, and each sweep it publishes is split over the same fixed
// chunks as before, taken by whoever is free (the leader included). The chunk partition and the
// merge order do not change, so neither do the results, whatever the number of threads. Helpers
// spin briefly between sweeps, then yield. A nested or busy-pool parallel_for has no helpers:
// the leader then takes every chunk itself. ---------------------------------------------------
class Team {
 public:
  // Leader: runs f(0..n-1) over the team and returns when all are done.
  template <typename F>
  void run(int64_t n, const F& f) {
    call_.store(+[](const void* ctx, int64_t c) { (*static_cast<const F*>(ctx))(c); }, std::memory_order_relaxed);
    ctx_.store(&f, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    const uint64_t epoch = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    state_.store(epoch << 32, std::memory_order_release);  // publishes the job above
    while (take()) {}
    for (int spin = 0; done_.load(std::memory_order_acquire) < n; ++spin) backoff(spin);
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }
  void finish() { stop_.store(true, std::memory_order_release); }
  bool claim_leader() { return !leader_.exchange(true); }
  // Helper: takes chunks of every published job until the leader finishes.
  void help() {
    for (int spin = 0; !stop_.load(std::memory_order_acquire);) {
      if (take()) spin = 0; else backoff(spin++);
    }
  }

 private:
  // Takes and runs one chunk of the current job; false when there is none to take.
  bool take() {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) == 0) return false;
      const int64_t c = static_cast<int64_t>(s & 0xffffffffu);
      // Read before the CAS: a successful CAS proves the job was still current (the leader only
      // publishes the next one after every chunk of this one is done).
      const int64_t n = n_.load(std::memory_order_relaxed);
      const auto call = call_.load(std::memory_order_relaxed);
      const void* ctx = ctx_.load(std::memory_order_relaxed);
      if (c >= n) return false;
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) {
        try {
          call(ctx, c);
        } catch (...) {
          std::lock_guard<std::mutex> lk(error_mu_);
          if (!error_) error_ = std::current_exception();
        }
        done_.fetch_add(1, std::memory_order_acq_rel);
        return true;
      }
    }
  }
  static void backoff(int spin) {
    if (spin < 4000) cpu_relax(); else std::this_thread::yield();
  }
  std::atomic<uint64_t> state_{0};  // (job epoch << 32) | next chunk
  std::atomic<int64_t> done_{0}, n_{0};
  std::atomic<void (*)(const void*, int64_t)> call_{nullptr};
  std::atomic<const void*> ctx_{nullptr};
  std::atomic<bool> stop_{false}, leader_{false};
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace sinkhorn_detail
}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
