// Process-wide thread pool behind parallel_for (see threadpool.h).
//
// Design choices, and why:
// - Persistent workers sleeping on a condition variable, after a wait in two phases. Sleeping at
//   once costs a futex wake-up on every op, which in a chain of tensor ops (x.sum() of 4.8M floats
//   is ~0.1 ms per thread) leaves the worker starting late on each one. On a VM it costs more: an
//   idle vCPU halts, and waking it goes through the hypervisor. Measured on a 2-vCPU Zen 3 VM
//   (scripts/pingpong.py: builds and torch in alternating bursts, 20 ms apart): with a 50 us
//   spin, x.sum() of 4.8M floats took 0.47-0.71 ms, about one core's time (0.45 ms with one
//   thread), because the worker joined late; polling for 2 ms: 0.26-0.38 ms (torch 0.22-0.27).
//   So a worker that finished a job first polls for kSpinUs with a pause per poll, then keeps
//   polling until kPollUs with a sched_yield between polls, then sleeps. The yield matters when
//   the machine is oversubscribed (several processes, each with its own pool, as under mpirun on 2
//   cores): a runnable thread of another process gets the core at once, so the poll only burns
//   time nobody else wants. OpenMP runtimes spin similarly long by default (libgomp ~300k polls,
//   Intel's 200 ms). SELFSUP_SPIN_US sets the whole wait (0 sleeps at once). Callers still pass
//   a grain and small problems run serially.
// - One owner at a time. A parallel_for called while another thread owns the pool (two JS
//   worker_threads, or napi async workers) runs serially on its caller instead of queueing: no
//   deadlock, no oversubscription of 2 cores, and every call still finishes correctly.
// - Nested calls (from inside a task, on a worker or on the calling thread) run serially.
// - Shutdown: the pool is heap-allocated and never deleted. At normal process exit an atexit hook
//   stops and joins the idle workers; if some thread is still inside parallel_for at exit (a JS
//   worker thread being torn down) the hook leaves the pool alone, so exit never hangs on a join
//   or destroys a mutex somebody is waiting on. On Windows the hook is skipped: threads are
//   already gone when DLL-unload-time atexit handlers run, and joining them would deadlock.
#include "cpu/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace selfsup {
namespace {

constexpr int kMaxThreads = 1024;
// How long an idle worker polls for the next job before it sleeps on the condition variable:
// kSpinUs with a pause per poll, then up to kPollUs in all with a yield per poll (see above).
constexpr int kSpinUs = 50;
constexpr int kPollUs = 2000;

// The whole wait in microseconds: kPollUs, or SELFSUP_SPIN_US (a decimal integer in [0, 10^6];
// anything else is ignored, as SELFSUP_NUM_THREADS).
int poll_us() {
  static const int v = [] {
    const char* env = std::getenv("SELFSUP_SPIN_US");
    if (env == nullptr || *env == '\0') return kPollUs;
    char* end = nullptr;
    const long x = std::strtol(env, &end, 10);
    while (end != nullptr && (*end == ' ' || *end == '\t' || *end == '\n')) ++end;
    return end != nullptr && *end == '\0' && x >= 0 && x <= 1000000 ? static_cast<int>(x) : kPollUs;
  }();
  return v;
}

// Polls `waiting()` for up to poll_us(); the caller then sleeps on its condition variable if the
// wait is not over (the clock is read every 64 polls in the first phase: it costs more than a poll).
template <class Pred>
void spin_while(const Pred& waiting) {
  const int total = poll_us();
  const auto t0 = std::chrono::steady_clock::now();
  const auto spin_end = t0 + std::chrono::microseconds(std::min(total, kSpinUs));
  const auto poll_end = t0 + std::chrono::microseconds(total);
  for (int i = 1; waiting(); i++) {
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > spin_end) break;
  }
  while (waiting()) {
    if (std::chrono::steady_clock::now() > poll_end) return;
    std::this_thread::yield();
  }
}

// True while this thread executes a parallel_for task (pool worker or calling thread).
thread_local bool t_in_task = false;

struct TaskFlag {
  bool saved;
  TaskFlag() : saved(t_in_task) { t_in_task = true; }
  ~TaskFlag() { t_in_task = saved; }
};

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  int n = hc == 0 ? 1 : static_cast<int>(std::min<unsigned>(hc, kMaxThreads));
  // SELFSUP_NUM_THREADS: a decimal integer in [1, 1024]; anything else is ignored (the default
  // wins) rather than aborting a process over an environment typo.
  const char* env = std::getenv("SELFSUP_NUM_THREADS");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    while (end != nullptr && (*end == ' ' || *end == '\t' || *end == '\n')) ++end;
    if (end != nullptr && *end == '\0' && v >= 1 && v <= kMaxThreads) n = static_cast<int>(v);
  }
  return n;
}

// One parallel_for invocation; lives on the caller's stack.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // first exception, guarded by error_mu
  std::mutex error_mu;

  // Grab chunks until none are left. Chunk c gets q or q + 1 items (q = n / chunks), the first
  // n % chunks chunks one more, contiguous and in order.
  int64_t chunk_begin(int64_t c) const {
    const int64_t q = n / chunks, r = n % chunks;
    return q * c + std::min(c, r);
  }
  void run_chunks() {
    TaskFlag flag;
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      if (failed.load(std::memory_order_relaxed)) continue;  // skip work after a failure
      const int64_t b = chunk_begin(c), e = chunk_begin(c + 1);
      try {
        (*fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
};

class Pool {
 public:
  explicit Pool(int nthreads) { start(nthreads); }

  int size() const { return size_.load(std::memory_order_relaxed); }

  // Returns false (and does nothing) when the pool is busy; the caller then runs serially.
  bool try_run(Job& job) {
    std::unique_lock<std::mutex> own(owner_mu_, std::try_to_lock);
    if (!own.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      current_ = &job;
      ++generation_;
      active_ = 0;
    }
    wake_cv_.notify_all();
    job.run_chunks();
    // Wait until every worker that joined this job has left it, then unpublish the job so a
    // worker waking late cannot touch it (it lives on our stack).
    // A worker that joined finishes its last chunk about when we finish ours: poll briefly before
    // sleeping, as the workers do.
    spin_while([&] { return active_.load(std::memory_order_acquire) != 0; });
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return active_ == 0; });
    current_ = nullptr;
    return true;
  }

  void resize(int nthreads) {
    std::lock_guard<std::mutex> own(owner_mu_);  // waits for a running parallel_for to finish
    stop_workers();
    start(nthreads);
  }

  // Called at exit: join idle workers unless the pool is in use right now.
  void shutdown_if_idle() {
    std::unique_lock<std::mutex> own(owner_mu_, std::try_to_lock);
    if (!own.owns_lock()) return;
    stop_workers();
    size_.store(1, std::memory_order_relaxed);
  }

 private:
  void start(int nthreads) {
    stop_ = false;
    size_.store(nthreads, std::memory_order_relaxed);
    workers_.reserve(static_cast<size_t>(nthreads - 1));
    for (int i = 0; i + 1 < nthreads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void worker_loop() {
    t_in_task = true;  // a parallel_for issued from a worker always runs serially
    uint64_t seen;
    std::unique_lock<std::mutex> lk(mu_);
    seen = generation_;
    for (;;) {
      if (generation_.load(std::memory_order_acquire) == seen && !stop_) {
        lk.unlock();
        spin_while([&] { return generation_.load(std::memory_order_acquire) == seen; });
        lk.lock();
      }
      wake_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      Job* job = current_;
      if (job == nullptr) continue;  // woke after the job was already finished
      ++active_;
      lk.unlock();
      job->run_chunks();
      lk.lock();
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex owner_mu_;  // held by the thread whose parallel_for uses the workers
  std::mutex mu_;        // guards everything below
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  Job* current_ = nullptr;
  // Written under mu_; atomic so that a spinning worker may poll it without the lock.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};  // written under mu_; polled by the owner without it
  bool stop_ = false;
  std::vector<std::thread> workers_;
  std::atomic<int> size_{1};
};

std::once_flag g_pool_once;
Pool* g_pool = nullptr;  // intentionally never deleted (see the comment at the top)

void at_exit_hook() {
  if (g_pool != nullptr) g_pool->shutdown_if_idle();
}

Pool& pool() {
  std::call_once(g_pool_once, [] {
    g_pool = new Pool(default_threads());
#if !defined(_WIN32)
    std::atexit(at_exit_hook);
#endif
  });
  return *g_pool;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) {
    throw std::invalid_argument("set_num_threads: expected an integer in [1, 1024] but received " +
                                std::to_string(n));
  }
  if (t_in_task) {
    throw std::logic_error("set_num_threads cannot be called from inside a parallel_for task");
  }
  Pool& p = pool();
  if (p.size() != n) p.resize(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (t_in_task) {  // nested: the outer level already uses every core
    fn(0, n);
    return;
  }
  Pool& p = pool();
  // At most n / grain chunks, so every chunk gets >= grain items.
  const int64_t chunks = std::min<int64_t>(p.size(), n / grain > 0 ? n / grain : 1);
  if (chunks <= 1) {
    TaskFlag flag;
    fn(0, n);
    return;
  }
  Job job;
  job.fn = &fn;
  job.n = n;
  job.chunks = chunks;
  if (!p.try_run(job)) {
    // Another thread owns the pool: run every chunk here, same partition, same semantics.
    job.run_chunks();
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace selfsup
