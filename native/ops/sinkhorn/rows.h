// Row primitives of the Sinkhorn sweeps over the SIMD layer (included by cpu.cc only, once per
// ISA variant).
#pragma once
#ifndef SELFSUP_ISA_NS
#error "rows.h is included by native/ops/sinkhorn/cpu.cc only"
#endif
#include <cstdint>
#include <limits>

#include "cpu/simd.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace sinkhorn_detail {

constexpr int W = kVecWidth;
constexpr float kRowInf = std::numeric_limits<float>::infinity();

// ---- logits row pass: e[k] = exp(s[k]/eps + g[k] - m), returns sum_k e[k]. -------------------
inline float row_exp(const float* s, const float* gf, float inv, float m, float* e, int64_t K) {
  const Vec vi = broadcast(inv), vm = broadcast(m);
  Vec sum0 = zero_f(), sum1 = zero_f();
  int64_t k = 0;
  for (; k + 2 * W <= K; k += 2 * W) {
    Vec e0 = vexp(fma(loadu(s + k), vi, loadu(gf + k)) - vm);
    Vec e1 = vexp(fma(loadu(s + k + W), vi, loadu(gf + k + W)) - vm);
    storeu(e + k, e0); storeu(e + k + W, e1);
    sum0 = sum0 + e0; sum1 = sum1 + e1;
  }
  for (; k < K; k += W) {
    const int n = static_cast<int>(std::min<int64_t>(W, K - k));
    // gf is padded with -inf past K, so the tail lanes give exp(-inf) = 0.
    Vec e0 = vexp(fma(load_partial(s + k, n), vi, loadu(gf + k)) - vm);
    store_partial(e + k, e0, n);
    sum0 = sum0 + e0;
  }
  return hsum(sum0 + sum1);
}

inline float row_max(const float* s, const float* gf, float inv, int64_t K) {
  const Vec vi = broadcast(inv);
  Vec m = broadcast(-kRowInf);
  int64_t k = 0;
  for (; k + W <= K; k += W) m = max(m, fma(loadu(s + k), vi, loadu(gf + k)));
  if (k < K) m = max(m, fma(load_partial(s + k, static_cast<int>(K - k)), vi, loadu(gf + k)));
  return hmax(m);
}

// ---- probs row pass: e[k] = p[k] * u[k], returns the sum. ------------------------------------
inline float row_dot(const float* s, const float* uf, float* e, int64_t K) {
  Vec sum0 = zero_f(), sum1 = zero_f();
  int64_t k = 0;
  for (; k + 2 * W <= K; k += 2 * W) {
    Vec e0 = loadu(s + k) * loadu(uf + k), e1 = loadu(s + k + W) * loadu(uf + k + W);
    storeu(e + k, e0); storeu(e + k + W, e1);
    sum0 = sum0 + e0; sum1 = sum1 + e1;
  }
  for (; k < K; k += W) {
    const int n = static_cast<int>(std::min<int64_t>(W, K - k));
    Vec e0 = load_partial(s + k, n) * loadu(uf + k);
    store_partial(e + k, e0, n);
    sum0 = sum0 + e0;
  }
  return hsum(sum0 + sum1);
}

// acc[k] += a * x[k] over Kp lanes (x and acc are Kp-sized scratch; x's tail lanes hold zeros).
inline void axpy_pad(float* acc, const float* x, float a, int64_t Kp) {
  const Vec va = broadcast(a);
  for (int64_t k = 0; k < Kp; k += W) storeu(acc + k, fma(loadu(x + k), va, loadu(acc + k)));
}
// Same on a K-length x (the output row), tail through partial loads.
inline void axpy(float* acc, const float* x, float a, int64_t K) {
  const Vec va = broadcast(a);
  int64_t k = 0;
  for (; k + W <= K; k += W) storeu(acc + k, fma(loadu(x + k), va, loadu(acc + k)));
  if (k < K) storeu(acc + k, fma(load_partial(x + k, static_cast<int>(K - k)), va, loadu(acc + k)));
}
inline void scale_row(float* x, float a, int64_t K) {
  const Vec va = broadcast(a);
  int64_t k = 0;
  for (; k + W <= K; k += W) storeu(x + k, loadu(x + k) * va);
  if (k < K) {
    const int n = static_cast<int>(K - k);
    store_partial(x + k, load_partial(x + k, n) * va, n);
  }
}

// ---- row groups (logits sweeps): up to 4 rows of E share each load of u and of the column
// partial sums, and E*u is never stored. Per row the arithmetic is row_dot's and axpy_pad's (the
// same two alternating partial sums, E*u rounded, then one fma into the partial), so grouping
// changes results by float rounding at most (the compiler may contract mul+add differently); it
// cuts the L1 traffic per element from 4 loads + 2 stores to
// about 2.5 loads + 0.25 stores. -------------------------------------------------------------
constexpr int kGroup = 4;

template <int NR>
inline void rows_dot(const float* const* E, const float* u, int64_t K, float* S) {
  Vec a0[NR], a1[NR];
  for (int i = 0; i < NR; ++i) { a0[i] = zero_f(); a1[i] = zero_f(); }
  int64_t k = 0;
  for (; k + 2 * W <= K; k += 2 * W) {
    const Vec u0 = loadu(u + k), u1 = loadu(u + k + W);
    for (int i = 0; i < NR; ++i) {
      a0[i] = a0[i] + loadu(E[i] + k) * u0;
      a1[i] = a1[i] + loadu(E[i] + k + W) * u1;
    }
  }
  for (; k < K; k += W) {
    const int n = static_cast<int>(std::min<int64_t>(W, K - k));
    const Vec u0 = loadu(u + k);  // u is zero-padded to Kp
    for (int i = 0; i < NR; ++i) a0[i] = a0[i] + load_partial(E[i] + k, n) * u0;
  }
  for (int i = 0; i < NR; ++i) S[i] = hsum(a0[i] + a1[i]);
}

// part[k] = fma(E_i[k] u[k], w_i, part[k]) for i = 0..NR-1 in order (part is Kp long, zero past K).
template <int NR>
inline void rows_axpy(float* part, const float* const* E, const float* u, const float* w, int64_t K) {
  Vec vw[NR];
  for (int i = 0; i < NR; ++i) vw[i] = broadcast(w[i]);
  int64_t k = 0;
  for (; k + W <= K; k += W) {
    const Vec uk = loadu(u + k);
    Vec acc = loadu(part + k);
    for (int i = 0; i < NR; ++i) acc = fma(loadu(E[i] + k) * uk, vw[i], acc);
    storeu(part + k, acc);
  }
  if (k < K) {
    const int n = static_cast<int>(K - k);
    const Vec uk = loadu(u + k);
    Vec acc = loadu(part + k);
    for (int i = 0; i < NR; ++i) acc = fma(load_partial(E[i] + k, n) * uk, vw[i], acc);
    storeu(part + k, acc);
  }
}

// Output rows in place: E_i = (E_i * u) * a_i (row_dot's product, then scale_row's scaling).
inline void row_out(float* E, const float* u, float a, int64_t K) {
  const Vec va = broadcast(a);
  int64_t k = 0;
  for (; k + W <= K; k += W) storeu(E + k, (loadu(E + k) * loadu(u + k)) * va);
  if (k < K) {
    const int n = static_cast<int>(K - k);
    store_partial(E + k, (load_partial(E + k, n) * loadu(u + k)) * va, n);
  }
}

inline void group_dot(int nr, const float* const* E, const float* u, int64_t K, float* S) {
  switch (nr) {
    case 4: rows_dot<4>(E, u, K, S); break;
    case 3: rows_dot<3>(E, u, K, S); break;
    case 2: rows_dot<2>(E, u, K, S); break;
    default: rows_dot<1>(E, u, K, S); break;
  }
}
inline void group_axpy(int nr, float* part, const float* const* E, const float* u, const float* w, int64_t K) {
  switch (nr) {
    case 4: rows_axpy<4>(part, E, u, w, K); break;
    case 3: rows_axpy<3>(part, E, u, w, K); break;
    case 2: rows_axpy<2>(part, E, u, w, K); break;
    default: rows_axpy<1>(part, E, u, w, K); break;
  }
}

}  // namespace sinkhorn_detail
}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
