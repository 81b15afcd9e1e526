// InfoNCE / NT-Xent on CPU: forward and backward side by side (see params.h for the math).
//
// Work split: the R rows are cut into row blocks (parallel_for over blocks). A block walks the
// keys in tiles of kBC columns: S = Q_block K_tile^T / tau by the packed GEMM (sgemm_serial), then
// per row a streaming log-sum-exp: m' = max(m, max_j s_j), l' = l e^{m - m'} + sum_j e^{s_j - m'}.
// Every exponent is <= 0, so nothing overflows at any temperature (solo-learn's exp(z z^T / tau)
// overflows float32 once 1/tau > 88.7, i.e. tau < ~0.0113). Only O(N D) memory beyond the inputs:
// the normalized copy U, a tile per task, per-row statistics.
//
// Backward recomputes the tiles from the saved per-row LSEs:
//   dL/dU_rows = G K / tau, dL/dU_keys = G^T Q / tau,
//   G_rc = a_r (e^{s_rc - lse_r} [c in den(r)] - [c in pos(r)] e^{s_rc - lsepos_r}).
// Two views without labels (the SimCLR case): S, the masks and H = G + G^T are symmetric, so only
// the upper triangle of tiles is computed (forward_sym / backward_sym below): half the GEMM work
// of a full sweep, with per-thread statistics / dU merged at the end. Two views with labels:
// row blocks form H from both rows' LSEs and write only their own rows of dU. One-way (keys u2 !=
// rows u1): key gradients G^T U1 go to one buffer per thread slot.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/info_nce/params.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

constexpr int64_t kBC = 512;   // key tile width: S tile of kBR_max x kBC stays in L2
constexpr int64_t kBRMax = 96; // rows per block (multiple of the GEMM's MR = 6)
constexpr double kNormEps = 1e-12;  // F.normalize's eps

template <class T> struct VT;
template <> struct VT<float> { using V = Vec; static constexpr int W = kVecWidth; };
template <> struct VT<double> { using V = VecD; static constexpr int W = kVecWidthD; };

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_serial(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm_serial(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T> T row_max(const T* s, int64_t n) {
  using V = typename VT<T>::V;
  constexpr int W = VT<T>::W;
  V mx = broadcast(-std::numeric_limits<T>::infinity());
  int64_t j = 0;
  for (; j + W <= n; j += W) mx = max(loadu(s + j), mx);
  T r = hmax(mx);
  for (; j < n; ++j) r = s[j] > r ? s[j] : r;
  return r;  // NaN lanes are skipped here but reach the sum through exp_sum, so losses show NaN
}

// sum_j e^{s_j - shift}, accumulated in double across vectors.
template <class T> double exp_sum(const T* s, int64_t n, T shift) {
  using V = typename VT<T>::V;
  constexpr int W = VT<T>::W;
  const V sh = broadcast(shift);
  V acc = broadcast(T(0));
  int64_t j = 0;
  for (; j + W <= n; j += W) acc = add(acc, vexp(sub(loadu(s + j), sh)));
  double r = hsum(acc);
  for (; j < n; ++j) r += std::exp(static_cast<double>(s[j] - shift));
  return r;
}

// out_j = a e^{s_j - x} + b_j e^{s_j - y_j}: the symmetric H tile of the both-views backward.
template <class T>
void exp_pair(const T* s, int64_t n, T a, T x, const T* b, const T* y, T* out) {
  using V = typename VT<T>::V;
  constexpr int W = VT<T>::W;
  const V va = broadcast(a), vx = broadcast(x);
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    V sj = loadu(s + j);
    V r = mul(va, vexp(sub(sj, vx)));
    r = fma(loadu(b + j), vexp(sub(sj, loadu(y + j))), r);
    storeu(out + j, r);
  }
  for (; j < n; ++j) out[j] = a * std::exp(s[j] - x) + b[j] * std::exp(s[j] - y[j]);
}

// out_j = a e^{s_j - x}.
template <class T> void exp_one(const T* s, int64_t n, T a, T x, T* out) {
  using V = typename VT<T>::V;
  constexpr int W = VT<T>::W;
  const V va = broadcast(a), vx = broadcast(x);
  int64_t j = 0;
  for (; j + W <= n; j += W) storeu(out + j, mul(va, vexp(sub(loadu(s + j), vx))));
  for (; j < n; ++j) out[j] = a * std::exp(s[j] - x);
}

// Streaming log-sum-exp update of one row's (max, sum) with a tile row s[0..cb).
template <class T> void fold_row(const T* s, int64_t cb, T& mrow, double& lrow) {
  const T ninf = -std::numeric_limits<T>::infinity();
  const T t = row_max(s, cb);
  if (t == ninf) {  // fully masked (or all NaN: then keep the NaN visible)
    for (int64_t j = 0; j < cb; ++j)
      if (s[j] != s[j]) lrow = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  if (t > mrow) {
    lrow *= std::exp(static_cast<double>(mrow) - t);
    mrow = t;
  }
  lrow += exp_sum(s, cb, mrow);
}

template <class T> double dot(const T* a, const T* b, int64_t d) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}

// u = z / max(||z||, eps) (or a copy); scale[i] = 1 / max(||z_i||, eps) (1 when not normalizing).
template <class T>
void normalize_rows(const T* z, int64_t n, int64_t d, bool normalize, T* u, double* scale) {
  parallel_for(n, std::max<int64_t>(1, 4096 / d), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* zi = z + i * d;
      T* ui = u + i * d;
      double sc = 1.0;
      if (normalize) sc = 1.0 / std::max(std::sqrt(dot(zi, zi, d)), kNormEps);
      for (int64_t k = 0; k < d; ++k) ui[k] = static_cast<T>(zi[k] * sc);
      if (scale) scale[i] = sc;
    }
  });
}

// The planned problem: normalized rows/keys in one buffer, sizes, masks.
template <class T> struct Plan {
  const InfoNCEParams& p;
  int64_t n, d, m, R, K;  // R rows, K main keys (excluding the bank)
  T inv_tau;
  std::vector<T> U;      // [2n, d]: u1 then u2
  std::vector<T> Bank;   // [m, d]
  std::vector<double> scale;  // [2n]
  int64_t br;            // rows per block

  explicit Plan(const InfoNCEParams& pp) : p(pp) {
    n = p.n; d = p.d; m = p.m;
    R = p.both ? 2 * n : n;
    K = R;
    inv_tau = static_cast<T>(1.0 / p.temperature);
    U.resize(static_cast<size_t>(2 * n * d));
    scale.resize(static_cast<size_t>(2 * n));
    normalize_rows(static_cast<const T*>(p.z1), n, d, p.normalize, U.data(), scale.data());
    normalize_rows(static_cast<const T*>(p.z2), n, d, p.normalize, U.data() + n * d,
                   scale.data() + n);
    if (m > 0) {
      Bank.resize(static_cast<size_t>(m * d));
      normalize_rows(static_cast<const T*>(p.negatives), m, d, p.normalize, Bank.data(), nullptr);
    }
    // Small problems: enough blocks for every thread (4 per thread for balance), rows in
    // multiples of the GEMM's MR so no micro-tile is wasted.
    const int64_t th = std::max(1, num_threads());
    int64_t want = (R + 4 * th - 1) / (4 * th);
    br = std::min<int64_t>(kBRMax, std::max<int64_t>(6, (want + 5) / 6 * 6));
  }
  const T* Q() const { return U.data(); }
  const T* Keys() const { return p.both ? U.data() : U.data() + n * d; }
  int32_t label_of_row(int64_t r) const { return p.labels[r % n]; }
  // Global key index of the positive of row r (no-labels mode).
  int64_t pos_of(int64_t r) const { return p.both ? (r + n) % (2 * n) : r; }
  bool is_self(int64_t r, int64_t c) const { return p.both && r == c; }
  bool is_pos(int64_t r, int64_t c) const {
    if (is_self(r, c)) return false;
    if (p.labels) return label_of_row(r) == label_of_row(c);
    return c == pos_of(r);
  }
};

template <class T> Status forward_sym(Plan<T>& P, T* losses, T* lse_out);
template <class T> Status backward_sym(Plan<T>& P, const T* a, const T* lse, T* dz1, T* dz2);

template <class T>
Status forward_impl(const InfoNCEParams& p, T* losses, T* lse_out, T* lse_pos_out) {
  Plan<T> P(p);
  if (p.both && !p.labels) return forward_sym(P, losses, lse_out);
  const int64_t R = P.R, K = P.K, d = P.d, br = P.br;
  const int64_t nblocks = (R + br - 1) / br;
  const T ninf = -std::numeric_limits<T>::infinity();
  parallel_for(nblocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> S(static_cast<size_t>(br * kBC)), row(static_cast<size_t>(kBC));
    std::vector<T> mx(br), mxp(br);
    std::vector<double> l(br), lp(br);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * br, rb = std::min(br, R - r0);
      std::fill(mx.begin(), mx.end(), ninf);
      std::fill(mxp.begin(), mxp.end(), ninf);
      std::fill(l.begin(), l.end(), 0.0);
      std::fill(lp.begin(), lp.end(), 0.0);
      auto fold = [](const T* s, int64_t cb, T& mrow, double& lrow) { fold_row(s, cb, mrow, lrow); };
      // Main keys, then the bank; tiles never straddle the two.
      for (int part = 0; part < 2; ++part) {
        const int64_t Kp = part == 0 ? K : P.m;
        const T* keys = part == 0 ? P.Keys() : P.Bank.data();
        for (int64_t c0 = 0; c0 < Kp; c0 += kBC) {
          const int64_t cb = std::min(kBC, Kp - c0);
          gemm(false, true, rb, cb, d, P.inv_tau, P.Q() + r0 * d, d, keys + c0 * d, d, T(0),
               S.data(), kBC);
          for (int64_t i = 0; i < rb; ++i) {
            const int64_t r = r0 + i;
            T* s = S.data() + i * kBC;
            if (part == 1) { fold(s, cb, mx[i], l[i]); continue; }
            if (!p.labels) {
              if (P.is_self(r, r) && r >= c0 && r < c0 + cb) s[r - c0] = ninf;
              const int64_t pc = P.pos_of(r);
              if (p.decoupled && pc >= c0 && pc < c0 + cb) s[pc - c0] = ninf;
              fold(s, cb, mx[i], l[i]);
              continue;
            }
            // Labels: positives and denominator through masked copies of the row.
            for (int64_t j = 0; j < cb; ++j) {
              const int64_t c = c0 + j;
              const bool pos = P.is_pos(r, c);
              row[j] = pos ? s[j] : ninf;
              if (P.is_self(r, c) || (p.decoupled && pos)) s[j] = ninf;
            }
            fold(row.data(), cb, mxp[i], lp[i]);
            fold(s, cb, mx[i], l[i]);
          }
        }
      }
      for (int64_t i = 0; i < rb; ++i) {
        const int64_t r = r0 + i;
        const T lse = static_cast<T>(static_cast<double>(mx[i]) + std::log(l[i]));
        lse_out[r] = lse;
        if (p.labels) {
          const T lsp = static_cast<T>(static_cast<double>(mxp[i]) + std::log(lp[i]));
          if (lse_pos_out) lse_pos_out[r] = lsp;
          losses[r] = lse - lsp;
        } else {
          const T* u = P.Q() + r * d;
          const T* k = P.Keys() + P.pos_of(r) * d;
          losses[r] = lse - static_cast<T>(dot(u, k, d) * static_cast<double>(P.inv_tau));
        }
      }
    }
  });
  return Status::Ok();
}

// dz = (du - u (u . du)) * scale  (scale = 1 / max(||z||, eps); the eps branch is linear).
template <class T>
void normalize_backward(const T* u, const T* du, const double* scale, int64_t n, int64_t d,
                        bool normalize, const T* z, T* dz) {
  parallel_for(n, std::max<int64_t>(1, 4096 / d), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* ui = u + i * d;
      const T* gi = du + i * d;
      T* o = dz + i * d;
      if (!normalize) { std::memcpy(o, gi, sizeof(T) * d); continue; }
      const double sc = scale[i];
      const double nz = std::sqrt(dot(z + i * d, z + i * d, d));
      const double proj = nz > kNormEps ? dot(ui, gi, d) : 0.0;
      for (int64_t k = 0; k < d; ++k) o[k] = static_cast<T>((gi[k] - ui[k] * proj) * sc);
    }
  });
}

// Single positives (no labels): s_{r,p(r)} carries -a_r, and in the two-view mode its mirror
// s_{p(r),r} carries -a_{p(r)}; then back through the normalization into dz1, dz2.
template <class T>
void finish_backward(const Plan<T>& P, const T* a, std::vector<T>& dU, T* dz1, T* dz2) {
  const InfoNCEParams& p = P.p;
  const int64_t R = P.R, d = P.d, n = P.n;
  const T it = P.inv_tau;
  T* dQ = dU.data();
  T* dK = dU.data() + n * d;
  if (!p.labels) {
    const T* Q = P.Q();
    const T* Ks = P.Keys();
    for (int64_t r = 0; r < R; ++r) {
      const int64_t pc = P.pos_of(r);
      if (p.both) {
        const T w = (a[r] + a[pc]) * it;
        for (int64_t k = 0; k < d; ++k) dQ[r * d + k] -= w * Q[pc * d + k];
      } else {
        const T w = a[r] * it;
        for (int64_t k = 0; k < d; ++k) {
          dQ[r * d + k] -= w * Ks[pc * d + k];
          dK[pc * d + k] -= w * Q[r * d + k];
        }
      }
    }
  }
  normalize_backward(P.U.data(), dU.data(), P.scale.data(), n, d, p.normalize,
                     static_cast<const T*>(p.z1), dz1);
  normalize_backward(P.U.data() + n * d, dU.data() + n * d, P.scale.data() + n, n, d,
                     p.normalize, static_cast<const T*>(p.z2), dz2);
}

// ---- Two views without labels: only the upper triangle of S -----------------------------------
// S is symmetric and so are the masks (self, the positive pair), so one GEMM tile (I, J), I < J,
// serves row block I (row-wise folds) and row block J (column-wise folds): half the similarity
// FLOPs of the row-block scheme, forward and backward. Tiles are handed out dynamically (atomic
// counter) to thread slots; each slot keeps its own per-row (max, sum) in the forward and its own
// dU in the backward, merged at the end: O(threads * N * D) memory, still linear in N.
struct SymTasks {
  int64_t bs = 0, nb = 0;
  std::vector<std::pair<int64_t, int64_t>> list;  // (I, J >= I); J = -1: block I vs the bank
  int slots = 1;
  SymTasks(int64_t R, bool bank) {
    bs = R <= 1536 ? 96 : 240;  // multiples of the GEMM's MR = 6 and NR = 16
    nb = (R + bs - 1) / bs;
    for (int64_t I = 0; I < nb; ++I)
      for (int64_t J = I; J < nb; ++J) list.emplace_back(I, J);
    if (bank)
      for (int64_t I = 0; I < nb; ++I) list.emplace_back(I, -1);
    slots = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), static_cast<int64_t>(list.size()))));
  }
  // Runs fn(slot, I, J) over every task, tasks taken dynamically by the slots.
  template <class F> void run(F&& fn) const {
    std::atomic<int64_t> next{0};
    const int64_t total = static_cast<int64_t>(list.size());
    parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s)
        for (int64_t t; (t = next.fetch_add(1)) < total;) fn(static_cast<int>(s), list[t].first, list[t].second);
    });
  }
};

// Sets the excluded entries of tile (i0.., j0..) of S to `v`: self pairs, and the positive pair
// when decoupled.
template <class T>
void mask_tile(const Plan<T>& P, T* S, int64_t ld, int64_t i0, int64_t bi, int64_t j0, int64_t bj, T v) {
  for (int64_t i = 0; i < bi; ++i) {
    const int64_t r = i0 + i;
    if (r >= j0 && r < j0 + bj) S[i * ld + (r - j0)] = v;
    const int64_t pc = P.pos_of(r);
    if (P.p.decoupled && pc >= j0 && pc < j0 + bj) S[i * ld + (pc - j0)] = v;
  }
}

template <class T>
Status forward_sym(Plan<T>& P, T* losses, T* lse_out) {
  const int64_t R = P.R, d = P.d;
  const T ninf = -std::numeric_limits<T>::infinity();
  constexpr int W = VT<T>::W;
  SymTasks tasks(R, P.m > 0);
  const int64_t bs = tasks.bs, ld = std::max(bs, kBC);
  std::vector<std::vector<T>> mx(tasks.slots, std::vector<T>(static_cast<size_t>(R), ninf));
  std::vector<std::vector<double>> l(tasks.slots, std::vector<double>(static_cast<size_t>(R), 0.0));
  std::vector<std::vector<T>> scratch(tasks.slots);
  tasks.run([&](int slot, int64_t I, int64_t J) {
    auto& S = scratch[slot];
    if (S.empty()) S.resize(static_cast<size_t>(bs * ld + 3 * ld));
    T* colmax = S.data() + bs * ld;
    T* shift = colmax + ld;
    T* colsum = shift + ld;
    T* m = mx[slot].data();
    double* ls = l[slot].data();
    const int64_t i0 = I * bs, bi = std::min(bs, R - i0);
    if (J < 0) {  // the bank: rows of block I only (the bank gets no statistics)
      for (int64_t c0 = 0; c0 < P.m; c0 += kBC) {
        const int64_t cb = std::min(kBC, P.m - c0);
        gemm(false, true, bi, cb, d, P.inv_tau, P.Q() + i0 * d, d, P.Bank.data() + c0 * d, d,
             T(0), S.data(), ld);
        for (int64_t i = 0; i < bi; ++i) fold_row(S.data() + i * ld, cb, m[i0 + i], ls[i0 + i]);
      }
      return;
    }
    const int64_t j0 = J * bs, bj = std::min(bs, R - j0);
    gemm(false, true, bi, bj, d, P.inv_tau, P.Q() + i0 * d, d, P.Q() + j0 * d, d, T(0), S.data(), ld);
    mask_tile(P, S.data(), ld, i0, bi, j0, bj, ninf);
    for (int64_t i = 0; i < bi; ++i) fold_row(S.data() + i * ld, bj, m[i0 + i], ls[i0 + i]);
    if (I == J) return;
    // Column folds: the same entries seen from the rows of block J.
    std::fill(colmax, colmax + bj, ninf);
    for (int64_t i = 0; i < bi; ++i) {
      const T* s = S.data() + i * ld;
      int64_t j = 0;
      for (; j + W <= bj; j += W) storeu(colmax + j, max(loadu(s + j), loadu(colmax + j)));
      for (; j < bj; ++j) colmax[j] = s[j] > colmax[j] ? s[j] : colmax[j];
    }
    for (int64_t j = 0; j < bj; ++j) {
      const int64_t c = j0 + j;
      const T t = colmax[j];
      if (t != ninf && t > m[c]) {
        ls[c] *= std::exp(static_cast<double>(m[c]) - t);
        m[c] = t;
      }
      shift[j] = t == ninf ? T(0) : m[c];  // an all-masked column adds exp(-inf) = 0
      colsum[j] = T(0);
    }
    for (int64_t i = 0; i < bi; ++i) {
      const T* s = S.data() + i * ld;
      int64_t j = 0;
      for (; j + W <= bj; j += W)
        storeu(colsum + j, add(loadu(colsum + j), vexp(sub(loadu(s + j), loadu(shift + j)))));
      for (; j < bj; ++j) colsum[j] += std::exp(s[j] - shift[j]);
    }
    for (int64_t j = 0; j < bj; ++j) ls[j0 + j] += colsum[j];
  });
  // Merge the slots' statistics, then the losses.
  const T it = P.inv_tau;
  parallel_for(R, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T M = ninf;
      for (int s = 0; s < tasks.slots; ++s) M = mx[s][r] > M ? mx[s][r] : M;
      double L = 0;
      for (int s = 0; s < tasks.slots; ++s)
        if (mx[s][r] != ninf || l[s][r] != l[s][r]) L += l[s][r] * std::exp(static_cast<double>(mx[s][r]) - M);
      const T lse = static_cast<T>(static_cast<double>(M) + std::log(L));
      lse_out[r] = lse;
      const T* u = P.Q() + r * d;
      const T* k = P.Q() + P.pos_of(r) * d;
      losses[r] = lse - static_cast<T>(dot(u, k, d) * static_cast<double>(it));
    }
  });
  return Status::Ok();
}

template <class T>
Status backward_sym(Plan<T>& P, const T* a, const T* lse, T* dz1, T* dz2) {
  const int64_t R = P.R, d = P.d;
  const T it = P.inv_tau;
  SymTasks tasks(R, P.m > 0);
  const int64_t bs = tasks.bs, ld = std::max(bs, kBC);
  std::vector<T> dU(static_cast<size_t>(R * d), T(0));
  std::vector<std::vector<T>> extra(static_cast<size_t>(tasks.slots - 1));
  for (auto& e : extra) e.assign(static_cast<size_t>(R * d), T(0));
  std::vector<std::vector<T>> scratch(tasks.slots);
  tasks.run([&](int slot, int64_t I, int64_t J) {
    auto& buf = scratch[slot];
    if (buf.empty()) buf.resize(static_cast<size_t>(2 * bs * ld));
    T* S = buf.data();
    T* H = S + bs * ld;
    T* out = slot == 0 ? dU.data() : extra[static_cast<size_t>(slot - 1)].data();
    const int64_t i0 = I * bs, bi = std::min(bs, R - i0);
    if (J < 0) {
      for (int64_t c0 = 0; c0 < P.m; c0 += kBC) {
        const int64_t cb = std::min(kBC, P.m - c0);
        const T* bank = P.Bank.data() + c0 * d;
        gemm(false, true, bi, cb, d, it, P.Q() + i0 * d, d, bank, d, T(0), S, ld);
        for (int64_t i = 0; i < bi; ++i) exp_one(S + i * ld, cb, a[i0 + i], lse[i0 + i], H + i * ld);
        gemm(false, false, bi, d, cb, it, H, ld, bank, d, T(1), out + i0 * d, d);
      }
      return;
    }
    const int64_t j0 = J * bs, bj = std::min(bs, R - j0);
    gemm(false, true, bi, bj, d, it, P.Q() + i0 * d, d, P.Q() + j0 * d, d, T(0), S, ld);
    for (int64_t i = 0; i < bi; ++i)
      exp_pair(S + i * ld, bj, a[i0 + i], lse[i0 + i], a + j0, lse + j0, H + i * ld);
    mask_tile(P, H, ld, i0, bi, j0, bj, T(0));
    gemm(false, false, bi, d, bj, it, H, ld, P.Q() + j0 * d, d, T(1), out + i0 * d, d);
    if (I != J) gemm(true, false, bj, d, bi, it, H, ld, P.Q() + i0 * d, d, T(1), out + j0 * d, d);
  });
  if (!extra.empty()) {
    parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
      for (const auto& e : extra)
        for (int64_t k = r0 * d; k < r1 * d; ++k) dU[static_cast<size_t>(k)] += e[static_cast<size_t>(k)];
    });
  }
  finish_backward(P, a, dU, dz1, dz2);
  return Status::Ok();
}

template <class T>
Status backward_impl(const InfoNCEParams& p, const T* a, const T* lse, const T* lsp, T* dz1,
                     T* dz2) {
  Plan<T> P(p);
  if (p.both && !p.labels) return backward_sym(P, a, lse, dz1, dz2);
  const int64_t R = P.R, K = P.K, d = P.d, n = P.n, br = P.br;
  const int64_t nblocks = (R + br - 1) / br;
  const T it = P.inv_tau;
  std::vector<T> dU(static_cast<size_t>(2 * n * d), T(0));
  T* dQ = dU.data();
  T* dK = dU.data() + n * d;  // one-way only
  const int slots = p.both ? 1 : std::max(1, num_threads());
  // One-way: key gradients per thread slot (slot 0 writes dK directly).
  std::vector<std::vector<T>> extra(static_cast<size_t>(slots > 1 ? slots - 1 : 0));
  for (auto& e : extra) e.assign(static_cast<size_t>(n * d), T(0));

  auto run_blocks = [&](int64_t b0, int64_t b1, T* dkeys) {
    std::vector<T> S(static_cast<size_t>(br * kBC)), G(static_cast<size_t>(br * kBC));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * br, rb = std::min(br, R - r0);
      bool first = true;
      for (int part = 0; part < 2; ++part) {
        const int64_t Kp = part == 0 ? K : P.m;
        const T* keys = part == 0 ? P.Keys() : P.Bank.data();
        for (int64_t c0 = 0; c0 < Kp; c0 += kBC) {
          const int64_t cb = std::min(kBC, Kp - c0);
          gemm(false, true, rb, cb, d, it, P.Q() + r0 * d, d, keys + c0 * d, d, T(0), S.data(),
               kBC);
          for (int64_t i = 0; i < rb; ++i) {
            const int64_t r = r0 + i;
            const T* s = S.data() + i * kBC;
            T* g = G.data() + i * kBC;
            if (part == 1 || !p.both) {
              exp_one(s, cb, a[r], lse[r], g);  // G row (denominator part)
            } else {
              exp_pair(s, cb, a[r], lse[r], a + c0, lse + c0, g);  // H = G + G^T
            }
            if (part == 1) continue;
            // Exclusions and positives inside this tile.
            if (!p.labels) {
              if (p.both && r >= c0 && r < c0 + cb) g[r - c0] = T(0);
              const int64_t pc = P.pos_of(r);
              if (p.decoupled && pc >= c0 && pc < c0 + cb) g[pc - c0] = T(0);
              continue;  // the positive's -1 is applied below as a vector op
            }
            // Labels: the positive relation is symmetric, so one fix-up serves G and G^T.
            for (int64_t j = 0; j < cb; ++j) {
              const int64_t c = c0 + j;
              if (P.is_self(r, c)) { g[j] = T(0); continue; }
              if (!P.is_pos(r, c)) continue;
              T v = p.decoupled ? T(0) : g[j];
              v -= a[r] * std::exp(s[j] - lsp[r]);
              if (p.both) v -= a[c] * std::exp(s[j] - lsp[c]);
              g[j] = v;
            }
          }
          // dQ_block += G . keys / tau; one-way also dK_tile += G^T . Q_block / tau.
          gemm(false, false, rb, d, cb, it, G.data(), kBC, keys + c0 * d, d, first ? T(0) : T(1),
               dQ + r0 * d, d);
          first = false;
          if (part == 0 && !p.both)
            gemm(true, false, cb, d, rb, it, G.data(), kBC, P.Q() + r0 * d, d, T(1),
                 dkeys + c0 * d, d);
        }
      }
    }
  };
  if (p.both) {
    parallel_for(nblocks, 1, [&](int64_t b0, int64_t b1) { run_blocks(b0, b1, nullptr); });
  } else {
    parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        T* dk = s == 0 ? dK : extra[static_cast<size_t>(s - 1)].data();
        run_blocks(s * nblocks / slots, (s + 1) * nblocks / slots, dk);
      }
    });
    for (auto& e : extra)
      for (int64_t k = 0; k < n * d; ++k) dK[k] += e[static_cast<size_t>(k)];
  }
  finish_backward(P, a, dU, dz1, dz2);
  return Status::Ok();
}

}  // namespace

Status info_nce_forward(const InfoNCEParams& p, void* losses, void* lse, void* lse_pos) {
  SELFSUP_RETURN_IF_ERROR(info_nce_check(p));
  if (p.dtype == DType::kFloat32)
    return forward_impl<float>(p, static_cast<float*>(losses), static_cast<float*>(lse),
                               static_cast<float*>(lse_pos));
  return forward_impl<double>(p, static_cast<double*>(losses), static_cast<double*>(lse),
                              static_cast<double*>(lse_pos));
}

Status info_nce_backward(const InfoNCEParams& p, const void* grad_rows, const void* lse,
                         const void* lse_pos, void* dz1, void* dz2) {
  SELFSUP_RETURN_IF_ERROR(info_nce_check(p));
  if (p.labels && !lse_pos)
    return Status::Invalid("Expected the forward's lsePos for lsePos but received null");
  if (p.dtype == DType::kFloat32)
    return backward_impl<float>(p, static_cast<const float*>(grad_rows),
                                static_cast<const float*>(lse), static_cast<const float*>(lse_pos),
                                static_cast<float*>(dz1), static_cast<float*>(dz2));
  return backward_impl<double>(p, static_cast<const double*>(grad_rows),
                               static_cast<const double*>(lse),
                               static_cast<const double*>(lse_pos), static_cast<double*>(dz1),
                               static_cast<double*>(dz2));
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
