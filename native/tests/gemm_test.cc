// GEMM correctness against a float64 naive reference: awkward shapes (edge tiles in every
// direction, k across several KC blocks), all transpose combinations, padded leading dimensions,
// non-trivial alpha/beta, beta == 0 over a NaN-filled C, k == 0 and alpha == 0. Runs every ISA
// variant the CPU supports, threaded and serial, plus the public entry points and the batched
// forms. Exit code 0 = pass.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/gemm_testing.h"
#include "cpu/threadpool.h"
#include "selfsup/isa.h"
#include "tests/check.h"

using namespace selfsup;

namespace {

int g_checks = 0;
std::mt19937_64 g_rng(20240601);

// Uniform in [-1, -0.1] U [0.1, 1]: never zero, so a dropped term cannot hide.
template <class T>
void fill_random(std::vector<T>& v) {
  std::uniform_real_distribution<double> d(0.1, 1.0);
  std::bernoulli_distribution sign(0.5);
  for (auto& x : v) x = static_cast<T>(sign(g_rng) ? d(g_rng) : -d(g_rng));
}

template <class T>
struct Case {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  T alpha, beta;
  std::vector<T> A, B, C0;
  std::vector<T> bias;  // n values added to every row of C, or empty
};

template <class T>
Case<T> make_case(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, T beta, int pad) {
  Case<T> c{ta, tb, m, n, k, 0, 0, 0, alpha, beta, {}, {}, {}, {}};
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  c.lda = a_cols + pad;
  c.ldb = b_cols + 2 * pad;
  c.ldc = n + 3 * pad;
  if (c.lda < 1) c.lda = 1;
  if (c.ldb < 1) c.ldb = 1;
  if (c.ldc < 1) c.ldc = 1;
  c.A.resize(static_cast<size_t>(std::max<int64_t>(a_rows, 1) * c.lda));
  c.B.resize(static_cast<size_t>(std::max<int64_t>(b_rows, 1) * c.ldb));
  c.C0.resize(static_cast<size_t>(std::max<int64_t>(m, 1) * c.ldc));
  fill_random(c.A);
  fill_random(c.B);
  if (beta == T(0)) {
    for (auto& x : c.C0) x = std::numeric_limits<T>::quiet_NaN();  // must never be read
  } else {
    fill_random(c.C0);
  }
  return c;
}

// Relative Frobenius error of C (m x n block) vs float64 reference; also checks that the padding
// columns between n and ldc were left untouched.
template <class T>
bool check(const Case<T>& c, const std::vector<T>& C, double tol, const char* what) {
  ++g_checks;
  double num = 0.0, den = 0.0;
  bool pad_ok = true;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.ldc; ++j) {
      const size_t idx = static_cast<size_t>(i * c.ldc + j);
      if (j >= c.n) {
        const T a = C[idx], b = c.C0[idx];
        if (!(a == b || (std::isnan(a) && std::isnan(b)))) pad_ok = false;
        continue;
      }
      double ref = 0.0;
      for (int64_t p = 0; p < c.k; ++p) {
        const double a = c.ta ? c.A[p * c.lda + i] : c.A[i * c.lda + p];
        const double b = c.tb ? c.B[j * c.ldb + p] : c.B[p * c.ldb + j];
        ref += a * b;
      }
      ref *= static_cast<double>(c.alpha);
      if (c.beta != T(0)) ref += static_cast<double>(c.beta) * c.C0[idx];
      if (!c.bias.empty()) ref += static_cast<double>(c.bias[j]);
      const double d = static_cast<double>(C[idx]) - ref;
      num += d * d;
      den += ref * ref;
    }
  }
  const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  const bool ok = pad_ok && std::isfinite(err) && err < tol;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL %s ta=%d tb=%d m=%lld n=%lld k=%lld lda=%lld ldb=%lld ldc=%lld alpha=%g "
                "beta=%g: rel err %.3g (tol %.1g)%s\n",
                what, c.ta, c.tb, static_cast<long long>(c.m), static_cast<long long>(c.n),
                static_cast<long long>(c.k), static_cast<long long>(c.lda),
                static_cast<long long>(c.ldb), static_cast<long long>(c.ldc),
                static_cast<double>(c.alpha), static_cast<double>(c.beta), err,
                tol, pad_ok ? "" : " (padding modified)");
  }
  return ok;
}

void run_isa_cases(Isa isa) {
  const int64_t dims[] = {0, 1, 7, 17, 63, 113, 257};
  int count = 0;
  for (int64_t m : dims) {
    for (int64_t n : dims) {
      for (int64_t k : dims) {
        // Full cross product for small shapes; a deterministic subset of the large ones keeps the
        // O(mnk) reference (and the ASan build) fast.
        const bool big = m * n * k > 113 * 113 * 63;
        if (big && ((m + 3 * n + 7 * k) % 7) != 0) continue;
        for (int t = 0; t < 4; ++t) {
          const bool ta = t & 1, tb = t & 2;
          const int pad = static_cast<int>((m + n + k + t) % 3) * 5;  // 0, 5 or 10 extra
          const float betas[] = {0.0f, 1.0f, -0.75f};
          const float beta = betas[(m + 2 * n + k + t) % 3];
          const float alpha = (t % 2) ? 1.0f : -1.25f;
          const bool parallel = ((m + n + k + t) % 2) == 0;
          {
            Case<float> c = make_case<float>(ta, tb, m, n, k, alpha, beta, pad);
            std::vector<float> C = c.C0;
            testing::gemm_with_isa<float>(isa, parallel, ta, tb, m, n, k, alpha, c.A.data(), c.lda,
                                    c.B.data(), c.ldb, beta, C.data(), c.ldc);
            check(c, C, 1e-5, isa_name(isa));
          }
          {
            Case<double> c = make_case<double>(ta, tb, m, n, k, alpha, beta, pad);
            std::vector<double> C = c.C0;
            testing::gemm_with_isa<double>(isa, !parallel, ta, tb, m, n, k, alpha, c.A.data(), c.lda,
                                    c.B.data(), c.ldb, beta, C.data(), c.ldc);
            check(c, C, 1e-12, isa_name(isa));
          }
          ++count;
        }
      }
    }
  }
  // Larger products: threaded split in both directions, several KC / MC / NC blocks.
  const int64_t big[][3] = {{600, 70, 520}, {70, 600, 300}, {513, 515, 517}, {300, 4200, 40}};
  for (auto& s : big) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      Case<float> c = make_case<float>(ta, tb, s[0], s[1], s[2], 0.5f, t == 0 ? 0.0f : 2.0f, 3);
      std::vector<float> C = c.C0;
      testing::gemm_with_isa<float>(isa, true, ta, tb, s[0], s[1], s[2], 0.5f, c.A.data(), c.lda,
                              c.B.data(), c.ldb, c.beta, C.data(), c.ldc);
      check(c, C, 1e-5, isa_name(isa));
      if (t == 1) {
        Case<double> d = make_case<double>(ta, tb, s[0], s[1], s[2], -0.5, 0.0, 2);
        std::vector<double> D = d.C0;
        testing::gemm_with_isa<double>(isa, true, ta, tb, s[0], s[1], s[2], -0.5, d.A.data(), d.lda,
                                d.B.data(), d.ldb, 0.0, D.data(), d.ldc);
        check(d, D, 1e-12, isa_name(isa));
      }
    }
  }
  // Packing edges: m around multiples of MR = 6 and of 8 (the vectorized A packing loads 8 rows
  // or 8 k at a time and must mask the rest), k around multiples of 8 and the KC = 384 block, n
  // around the NR = 16 panel, the InfoNCE tile 96x96x128, and m across the MC = 144 block. Tight
  // (pad 0) and NaN-poisoned padding: the padding of A and B (columns past a row's last element)
  // must never reach C.
  {
    const int64_t ms[] = {5, 6, 8, 12, 14, 96, 150};
    const int64_t ns[] = {15, 16, 33, 96};
    const int64_t ks[] = {1, 7, 8, 9, 128, 390};
    int idx = 0;
    for (int64_t m : ms) {
      for (int64_t n : ns) {
        for (int64_t k : ks) {
          for (int t = 0; t < 4; ++t, ++idx) {
            if (m * n * k > 50000 && idx % 3 != 0) continue;  // keep the reference cheap
            const bool ta = t & 1, tb = t & 2;
            const int pad = idx % 2 == 0 ? 0 : 3;
            const float beta = idx % 3 == 0 ? 0.0f : 0.5f;
            Case<float> c = make_case<float>(ta, tb, m, n, k, 1.5f, beta, pad);
            const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
            const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
            for (int64_t r = 0; r < a_rows; ++r)
              for (int64_t j = a_cols; j < c.lda; ++j) c.A[r * c.lda + j] = NAN;
            for (int64_t r = 0; r < b_rows; ++r)
              for (int64_t j = b_cols; j < c.ldb; ++j) c.B[r * c.ldb + j] = NAN;
            std::vector<float> C = c.C0;
            testing::gemm_with_isa<float>(isa, idx % 2 == 0, ta, tb, m, n, k, 1.5f, c.A.data(), c.lda,
                                    c.B.data(), c.ldb, beta, C.data(), c.ldc);
            for (int64_t r = 0; r < a_rows; ++r)
              for (int64_t j = a_cols; j < c.lda; ++j) c.A[r * c.lda + j] = 0.0f;
            for (int64_t r = 0; r < b_rows; ++r)
              for (int64_t j = b_cols; j < c.ldb; ++j) c.B[r * c.ldb + j] = 0.0f;
            check(c, C, 1e-5, "pack-edge");
          }
        }
      }
    }
  }
  // alpha == 0: C = beta * C without reading A/B (pass garbage-free but NaN-poisoned A).
  {
    Case<float> c = make_case<float>(false, false, 9, 11, 5, 0.0f, -2.0f, 1);
    for (auto& x : c.A) x = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> C = c.C0;
    testing::gemm_with_isa<float>(isa, true, false, false, 9, 11, 5, 0.0f, c.A.data(), c.lda,
                            c.B.data(), c.ldb, -2.0f, C.data(), c.ldc);
    for (auto& x : c.A) x = 1.0f;  // reference ignores A because alpha == 0
    check(c, C, 1e-6, "alpha=0");
  }
  // The bias epilogue (C = alpha op(A) op(B) + beta C + bias row): edge tiles in both directions,
  // k across the KC blocks (the bias must be added once), both thread splits, k == 0 and
  // alpha == 0 (C = beta C + bias without reading A or B).
  {
    const int64_t shapes[][3] = {{7, 17, 5}, {113, 63, 257}, {600, 70, 1100}, {70, 600, 390},
                                 {65, 33, 0}, {13, 29, 9}};
    int idx = 0;
    for (auto& s : shapes) {
      for (int t = 0; t < 4; ++t, ++idx) {
        const bool ta = t & 1, tb = t & 2;
        const float alpha = s[0] == 13 && t == 0 ? 0.0f : 1.0f;
        const float beta = idx % 3 == 0 ? 0.0f : idx % 3 == 1 ? 1.0f : -0.5f;
        Case<float> c = make_case<float>(ta, tb, s[0], s[1], s[2], alpha, beta, idx % 2 ? 3 : 0);
        c.bias.resize(static_cast<size_t>(s[1]));
        fill_random(c.bias);
        std::vector<float> C = c.C0;
        testing::gemm_with_isa<float>(isa, idx % 2 == 0, ta, tb, s[0], s[1], s[2], alpha,
                                      c.A.data(), c.lda, c.B.data(), c.ldb, beta, C.data(), c.ldc,
                                      c.bias.data());
        check(c, C, 1e-5, "bias");
        Case<double> d = make_case<double>(ta, tb, s[0], s[1], s[2], alpha, beta, idx % 2 ? 0 : 2);
        d.bias.resize(static_cast<size_t>(s[1]));
        fill_random(d.bias);
        std::vector<double> D = d.C0;
        testing::gemm_with_isa<double>(isa, idx % 2 != 0, ta, tb, s[0], s[1], s[2], alpha,
                                       d.A.data(), d.lda, d.B.data(), d.ldb, beta, D.data(), d.ldc,
                                       d.bias.data());
        check(d, D, 1e-12, "bias");
      }
    }
  }
  std::printf("%s: %d shape/transpose combinations\n", isa_name(isa), count);
}

// The threaded and the serial entry point on one case (transposes ta = !tb).
template <class T>
void check_entry_points(const Case<T>& c, bool tb, double tol, const std::string& type) {
  for (int serial = 0; serial < 2; ++serial) {
    std::vector<T> C = c.C0;
    auto fn = serial ? &gemm_serial<T> : &gemm<T>;
    fn(!tb, tb, c.m, c.n, c.k, c.alpha, c.A.data(), c.lda, c.B.data(), c.ldb, c.beta, C.data(), c.ldc);
    check(c, C, tol, ((serial ? "gemm_serial<" : "gemm<") + type + ">").c_str());
  }
}

void run_public_api() {
  // gemm / gemm_serial for float and double on the active ISA.
  check_entry_points(make_case<float>(true, false, 130, 77, 300, 1.5f, 0.5f, 4), false, 1e-5, "float");
  check_entry_points(make_case<double>(false, true, 77, 130, 301, -1.0, 0.0, 4), true, 1e-12, "double");

  // Batched: small matrices (parallel over the batch), a broadcast operand (stride 0), and a
  // large batch entry (parallel inside each product).
  const int64_t shapes[][4] = {{37, 5, 9, 13}, {3, 200, 150, 170}};  // batch, m, n, k
  for (auto& s : shapes) {
    const int64_t batch = s[0], m = s[1], n = s[2], k = s[3];
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      std::vector<Case<float>> fc;
      std::vector<Case<double>> dc;
      for (int64_t b = 0; b < batch; ++b) {
        fc.push_back(make_case<float>(ta, tb, m, n, k, 0.75f, t == 2 ? 0.0f : 1.0f, 2));
        dc.push_back(make_case<double>(ta, tb, m, n, k, 0.75, t == 2 ? 0.0 : -1.0, 2));
      }
      const bool broadcast_b = t == 3;  // every product uses batch 0's B
      const int64_t sA = static_cast<int64_t>(fc[0].A.size());
      const int64_t sB = static_cast<int64_t>(fc[0].B.size());
      const int64_t sC = static_cast<int64_t>(fc[0].C0.size());
      std::vector<float> A, B, C;
      std::vector<double> AD, BD, CD;
      for (int64_t b = 0; b < batch; ++b) {
        if (broadcast_b) {
          fc[b].B = fc[0].B;
          dc[b].B = dc[0].B;
        }
        A.insert(A.end(), fc[b].A.begin(), fc[b].A.end());
        B.insert(B.end(), fc[b].B.begin(), fc[b].B.end());
        C.insert(C.end(), fc[b].C0.begin(), fc[b].C0.end());
        AD.insert(AD.end(), dc[b].A.begin(), dc[b].A.end());
        BD.insert(BD.end(), dc[b].B.begin(), dc[b].B.end());
        CD.insert(CD.end(), dc[b].C0.begin(), dc[b].C0.end());
      }
      const Case<float>& f0 = fc[0];
      gemm_batched<float>(batch, ta, tb, m, n, k, f0.alpha, A.data(), f0.lda, sA, B.data(), f0.ldb,
                    broadcast_b ? 0 : sB, f0.beta, C.data(), f0.ldc, sC);
      const Case<double>& d0 = dc[0];
      gemm_batched<double>(batch, ta, tb, m, n, k, d0.alpha, AD.data(), d0.lda, sA, BD.data(), d0.ldb,
                    broadcast_b ? 0 : sB, d0.beta, CD.data(), d0.ldc, sC);
      for (int64_t b = 0; b < batch; ++b) {
        std::vector<float> Cb(C.begin() + b * sC, C.begin() + (b + 1) * sC);
        check(fc[b], Cb, 1e-5, "gemm_batched<float>");
        std::vector<double> Db(CD.begin() + b * sC, CD.begin() + (b + 1) * sC);
        check(dc[b], Db, 1e-12, "gemm_batched<double>");
      }
    }
  }
  // Called from inside a parallel_for task (nested => serial, must still be correct). Inputs are
  // drawn up front: the generator is not thread-safe.
  std::vector<Case<float>> nested;
  for (int i = 0; i < 4; ++i) {
    nested.push_back(make_case<float>(false, true, 65, 66, 300, 1.0f, 0.0f, 1));
  }
  std::vector<std::vector<float>> outs(4);
  for (int i = 0; i < 4; ++i) outs[i] = nested[i].C0;
  parallel_for(4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const Case<float>& ci = nested[i];
      gemm<float>(ci.ta, ci.tb, ci.m, ci.n, ci.k, ci.alpha, ci.A.data(), ci.lda, ci.B.data(), ci.ldb,
            ci.beta, outs[i].data(), ci.ldc);
    }
  });
  for (int i = 0; i < 4; ++i) check(nested[i], outs[i], 1e-5, "nested gemm<float>");
}

}  // namespace

int main() {
  std::printf("active ISA: %s, threads: %d\n", isa_name(active_isa()), num_threads());
  run_isa_cases(Isa::kGeneric);
  // Every variant this CPU supports (not only the active one).
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (isa_supported(isa)) {
      run_isa_cases(isa);
    } else {
      std::printf("%s variant skipped (not supported by this CPU/OS)\n", isa_name(isa));
    }
  }
  run_public_api();
  std::printf("%d checks\n", g_checks);
  return test_result();
}
