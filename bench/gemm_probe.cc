// Standalone GEMM timing harness used to tune native/cpu/gemm*.cc (not part of the package build).
// Build by hand (from the repository root), e.g.:
//   for v in avx512 avx2 generic; do f=; [ $v = avx2 ] && f="-mavx2 -mfma";
//     [ $v = avx512 ] && f="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma";
//     g++ -O3 -std=c++17 -Inative/include -Inative -DSELFSUP_ISA_NS=isa_$v $f \
//       -c native/cpu/gemm_isa.cc -o /tmp/gemm_$v.o; done
//   g++ -O3 -std=c++17 -pthread -Inative/include -Inative bench/gemm_probe.cc native/cpu/gemm.cc \
//     native/cpu/threadpool.cc native/cpu/cpuid.cc /tmp/gemm_avx512.o /tmp/gemm_avx2.o \
//     /tmp/gemm_generic.o -o /tmp/gp
//   /tmp/gp [shapes...]      (SELFSUP_NUM_THREADS sets the thread count)
// A shape is N (an N^3 product) or MxNxK. Prints the median GFLOP/s (2*m*n*k / time) of repeated
// runs per ISA variant, shape and transpose combination (NN, NT, TN; op(A) is m x k, op(B) k x n),
// threaded ("par", the gemm<float> entry point) and serial ("1t", gemm_serial<float>), plus gemm<double> NN threaded.
// GEMM_PROBE_ISA=avx512|avx2|generic restricts the variants (each one the CPU supports runs); GEMM_PROBE_MODES=NN,NT restricts the combos.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/gemm_testing.h"
#include "cpu/threadpool.h"
#include "selfsup/isa.h"

using namespace selfsup;

struct Shape {
  int64_t m, n, k;
};

// Median seconds of `call` over repeats; repeats until ~0.4 s have passed (at least 5, at most
// 2001) after one warm-up call (page faults, pack buffers, pool start).
template <class F>
double median_seconds(F call) {
  call();
  std::vector<double> t;
  double total = 0;
  while ((t.size() < 5 || total < 0.4) && t.size() < 2001) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    auto t1 = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double>(t1 - t0).count());
    total += t.back();
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class T>
std::vector<T> rand_vec(size_t n, unsigned seed) {
  std::vector<T> v(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& x : v) x = d(rng);
  return v;
}

int main(int argc, char** argv) {
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    long long m = 0, n = 0, k = 0;
    if (std::sscanf(argv[i], "%lldx%lldx%lld", &m, &n, &k) == 3) {
      shapes.push_back({m, n, k});
    } else {
      m = std::atoll(argv[i]);
      shapes.push_back({m, m, m});
    }
  }
  if (shapes.empty()) shapes = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}};
  const char* isa_env = std::getenv("GEMM_PROBE_ISA");
  const char* modes_env = std::getenv("GEMM_PROBE_MODES");
  const std::string modes = modes_env != nullptr ? modes_env : "NN,NT,TN";
  std::printf("threads=%d active_isa=%s\n", num_threads(), isa_name(active_isa()));
  const Isa isas[] = {Isa::kAvx512, Isa::kAvx2, Isa::kGeneric};
  for (Isa isa : isas) {
    if (!isa_supported(isa)) continue;
    if (isa_env != nullptr && std::strcmp(isa_env, isa_name(isa)) != 0) continue;
    for (const Shape& s : shapes) {
      const double flops = 2.0 * s.m * s.n * s.k;
      const size_t sa = s.m * s.k, sb = s.k * s.n, sc = s.m * s.n;
      std::vector<float> A = rand_vec<float>(sa, 1), B = rand_vec<float>(sb, 2), C(sc);
      std::printf("%-8s %5lldx%5lldx%5lld ", isa_name(isa), (long long)s.m, (long long)s.n,
                  (long long)s.k);
      const char* combos[] = {"NN", "NT", "TN", "TT"};
      for (const char* c : combos) {
        if (modes.find(c) == std::string::npos) continue;
        const bool ta = c[0] == 'T', tb = c[1] == 'T';
        const int64_t lda = ta ? s.m : s.k, ldb = tb ? s.k : s.n;
        double g[2];
        for (int par = 1; par >= 0; --par) {
          g[par] = flops / median_seconds([&] {
            testing::gemm_with_isa<float>(isa, par != 0, ta, tb, s.m, s.n, s.k, 1.f, A.data(), lda,
                                    B.data(), ldb, 0.f, C.data(), s.n);
          }) / 1e9;
        }
        std::printf(" %s par %6.1f 1t %6.1f |", c, g[1], g[0]);
        std::fflush(stdout);
      }
      std::vector<double> Ad = rand_vec<double>(sa, 1), Bd = rand_vec<double>(sb, 2), Cd(sc);
      const double gd = flops / median_seconds([&] {
        testing::gemm_with_isa<double>(isa, true, false, false, s.m, s.n, s.k, 1., Ad.data(), s.k,
                                Bd.data(), s.n, 0., Cd.data(), s.n);
      }) / 1e9;
      std::printf(" dgemm NN par %6.1f\n", gd);
      std::fflush(stdout);
    }
  }
  return 0;
}
