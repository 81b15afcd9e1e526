// parallel_for: coverage of [0, n) exactly once with chunks >= grain, nested calls, exception
// propagation, concurrent callers from several std::threads, resizing. Exit code 0 = pass.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/threadpool.h"
#include "tests/check.h"

using namespace selfsup;

namespace {

// Sum of i over [0, n) through parallel_for; also checks every index is visited exactly once and
// every chunk respects the grain (except when the whole range is smaller than the grain).
bool sum_check(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  for (auto& s : seen) s.store(0);
  std::atomic<int64_t> sum{0};
  std::atomic<bool> grain_ok{true};
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    if (e - b < grain && !(b == 0 && e == n)) grain_ok = false;
    if (b < 0 || e > n || b >= e) grain_ok = false;
    int64_t local = 0;
    for (int64_t i = b; i < e; ++i) {
      local += i;
      seen[static_cast<size_t>(i)].fetch_add(1);
    }
    sum.fetch_add(local);
  });
  bool once = true;
  for (auto& s : seen) once = once && s.load() == 1;
  return once && grain_ok && sum.load() == n * (n - 1) / 2;
}

void test_sums() {
  EXPECT(num_threads() >= 1);
  const int64_t ns[] = {1, 2, 3, 7, 100, 1000, 100003};
  const int64_t grains[] = {1, 2, 10, 64, 5000, 1 << 20};
  for (int64_t n : ns)
    for (int64_t g : grains) EXPECT(sum_check(n, g));
  // n == 0 and negative n: fn is never called.
  bool called = false;
  parallel_for(0, 1, [&](int64_t, int64_t) { called = true; });
  parallel_for(-5, 1, [&](int64_t, int64_t) { called = true; });
  EXPECT(!called);
  // grain <= 0 behaves like grain 1.
  EXPECT(sum_check(50, 0));
}

void test_nested() {
  std::atomic<int64_t> total{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      parallel_for(1000, 10, [&](int64_t b2, int64_t e2) {
        int64_t s = 0;
        for (int64_t j = b2; j < e2; ++j) s += j;
        total.fetch_add(s);
      });
    }
  });
  EXPECT(total.load() == 8 * (999 * 1000 / 2));
}

void test_exceptions() {
  for (int rep = 0; rep < 20; ++rep) {
    bool caught = false;
    try {
      parallel_for(100, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          if (i == 57) throw std::runtime_error("boom at 57");
      });
    } catch (const std::runtime_error& err) {
      caught = std::string(err.what()) == "boom at 57";
    }
    EXPECT(caught);
  }
  // The pool is still usable afterwards.
  EXPECT(sum_check(10000, 1));
  // Exception on the serial path (single chunk).
  bool caught = false;
  try {
    parallel_for(3, 100, [](int64_t, int64_t) { throw std::logic_error("serial"); });
  } catch (const std::logic_error&) {
    caught = true;
  }
  EXPECT(caught);
}

void test_concurrent_callers() {
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep) {
        if (!sum_check(1000 + t * 37 + rep, 1 + rep % 7)) bad.fetch_add(1);
        if (rep % 50 == 0) {
          try {
            parallel_for(64, 1, [](int64_t b, int64_t) {
              if (b == 0) throw std::runtime_error("x");
            });
            bad.fetch_add(1);
          } catch (const std::runtime_error&) {
          }
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT(bad.load() == 0);
}

void test_resize() {
  const int original = num_threads();
  set_num_threads(3);
  EXPECT(num_threads() == 3);
  EXPECT(sum_check(12345, 3));
  set_num_threads(1);
  EXPECT(num_threads() == 1);
  EXPECT(sum_check(12345, 3));
  bool threw = false;
  try {
    set_num_threads(0);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  EXPECT(threw);
  set_num_threads(original);
  EXPECT(num_threads() == original);
  // Resizing from inside a task is refused, not a deadlock.
  threw = false;
  parallel_for(2, 1, [&](int64_t b, int64_t) {
    if (b != 0) return;
    try {
      set_num_threads(2);
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  EXPECT(threw);
}

}  // namespace

int main() {
  std::printf("threads: %d\n", num_threads());
  test_sums();
  test_nested();
  test_exceptions();
  test_concurrent_callers();
  test_resize();
  // Leave a parallel_for-capable pool alive at exit: the atexit hook must join it cleanly.
  EXPECT(sum_check(1000, 1));
  return test_result();
}
