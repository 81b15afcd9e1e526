// Standalone GEMM timing harness used to tune native/cpu/gemm*.cc (not part of the package build).
// Build by hand (from the repository root), e.g.:
//   for v in avx2 generic; do f=; [ $v = avx2 ] && f="-mavx2 -mfma";
//     g++ -O3 -std=c++17 -Inative/include -Inative -DSELFSUP_ISA_NS=isa_$v $f \
//       -c native/cpu/gemm_isa.cc -o /tmp/gemm_$v.o; done
//   g++ -O3 -std=c++17 -pthread -Inative/include -Inative bench/gemm_probe.cc native/cpu/gemm.cc \
//     native/cpu/threadpool.cc native/cpu/cpuid.cc /tmp/gemm_avx2.o /tmp/gemm_generic.o -o /tmp/gp
//   /tmp/gp [sizes...]       (SELFSUP_NUM_THREADS sets the thread count)
// Prints the median GFLOP/s (2*m*n*k / time) of repeated runs, per ISA variant and size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/threadpool.h"
#include "selfsup/isa.h"

namespace selfsup {
namespace testing {
void sgemm_with_isa(Isa isa, bool parallel, bool transA, bool transB, int64_t m, int64_t n,
                    int64_t k, float alpha, const float* A, int64_t lda, const float* B,
                    int64_t ldb, float beta, float* C, int64_t ldc);
void dgemm_with_isa(Isa isa, bool parallel, bool transA, bool transB, int64_t m, int64_t n,
                    int64_t k, double alpha, const double* A, int64_t lda, const double* B,
                    int64_t ldb, double beta, double* C, int64_t ldc);
}  // namespace testing
}  // namespace selfsup

using namespace selfsup;

template <class T, class F>
double bench(int64_t s, F call, int reps) {
  std::vector<T> A(s * s), B(s * s), C(s * s);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& x : A) x = d(rng);
  for (auto& x : B) x = d(rng);
  call(A.data(), B.data(), C.data());  // warm-up (page faults, pack buffers, pool start)
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    call(A.data(), B.data(), C.data());
    auto t1 = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return 2.0 * s * s * s / t[t.size() / 2] / 1e9;
}

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {256, 512, 1024, 2048};
  std::printf("threads=%d active_isa=%s\n", num_threads(), isa_name(active_isa()));
  const Isa isas[] = {Isa::kAvx2, Isa::kGeneric};
  for (Isa isa : isas) {
    if (isa == Isa::kAvx2 && active_isa() != Isa::kAvx2) continue;
    for (int64_t s : sizes) {
      const int reps = s >= 2048 ? 5 : s >= 1024 ? 9 : 21;
      double gs = bench<float>(s, [&](float* A, float* B, float* C) {
        testing::sgemm_with_isa(isa, true, false, false, s, s, s, 1.f, A, s, B, s, 0.f, C, s);
      }, reps);
      double gs1 = bench<float>(s, [&](float* A, float* B, float* C) {
        testing::sgemm_with_isa(isa, false, false, false, s, s, s, 1.f, A, s, B, s, 0.f, C, s);
      }, std::max(3, reps / 2));
      double gd = bench<double>(s, [&](double* A, double* B, double* C) {
        testing::dgemm_with_isa(isa, true, false, false, s, s, s, 1., A, s, B, s, 0., C, s);
      }, std::max(3, reps / 2));
      std::printf("%-8s n=%-5lld sgemm %7.1f GFLOP/s (1 thread %6.1f)   dgemm %6.1f GFLOP/s\n",
                  isa_name(isa), static_cast<long long>(s), gs, gs1, gd);
      std::fflush(stdout);
    }
  }
  return 0;
}
