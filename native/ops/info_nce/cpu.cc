// InfoNCE / NT-Xent on CPU: forward and backward side by side (see params.h for the math).
//
// Work split: the R rows are cut into row blocks (parallel_for over blocks). A block walks the
// keys in tiles of kBC columns: S = Q_block K_tile^T / tau by the packed GEMM (gemm_serial), then
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
// of a full sweep, with per-slot statistics / dU merged in slot order. Two views with labels:
// row blocks form H from both rows' LSEs and write only their own rows of dU. One-way (keys u2 !=
// rows u1): key gradients G^T U1 go to one buffer per thread slot.
//
// Small shapes (measured at 256 x 128 on 2 EPYC cores; ~30% off fwd and fwd+bwd): with normalized
// views s <= 1/tau, so a constant shift replaces the running max (Plan::fixed_shift: one exp per
// similarity instead of two in both passes, no max passes); the S / H tiles are stored at ld = bs
// (was 512: 2 KiB row stride aliasing L1 sets); workspaces are thread_local and reused; the
// normalization computes the positive dots in the same pass; the dU slot merge, the positive term
// and the normalization backward are one pass. What remains is the shared packed GEMM at k = 128
// (~2/3 of the time: ~55% of FMA peak on 96 x 96 tiles, ~10% of it in pack_a's scalar gather).
#include <algorithm>
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
// Two-view tile edge up to R = 1536 (48 / 64 / 96 measured at 256 x 128: 96 best by ~3-5%; smaller
// tiles waste less on the diagonal but repack more often).
constexpr int64_t kSymBsSmall = 96;



template <class T> T row_max(const T* s, int64_t n) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  V mx = broadcast(-std::numeric_limits<T>::infinity());
  int64_t j = 0;
  for (; j + W <= n; j += W) mx = max(loadu(s + j), mx);
  T r = hmax(mx);
  for (; j < n; ++j) r = s[j] > r ? s[j] : r;
  return r;  // NaN lanes are skipped here but reach the sum through exp_sum, so losses show NaN
}

// sum_j e^{s_j - shift}, accumulated in double across vectors.
template <class T> double exp_sum(const T* s, int64_t n, T shift) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
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
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
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
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
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

// Four independent double chains (a fixed order, so deterministic): a single chain is bound by
// the add latency and was ~70 us of the 256 x 128 forward (normalization + positive dots).
template <class T> double dot(const T* a, const T* b, int64_t d) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= d; k += 4) {
    s0 += static_cast<double>(a[k]) * b[k];
    s1 += static_cast<double>(a[k + 1]) * b[k + 1];
    s2 += static_cast<double>(a[k + 2]) * b[k + 2];
    s3 += static_cast<double>(a[k + 3]) * b[k + 3];
  }
  for (; k < d; ++k) s0 += static_cast<double>(a[k]) * b[k];
  return (s0 + s1) + (s2 + s3);
}

// Per-thread scratch reused across calls (a fresh std::vector per call cost page faults and, past
// glibc's mmap threshold, an mmap/munmap pair per tile buffer). Buffers above kKeepBytes are freed
// at the end of the call so a one-off huge problem does not pin its workspace.
constexpr size_t kKeepBytes = size_t(8) << 20;
template <class T> struct Scratch {
  std::vector<T> v;
  T* get(size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  void trim() {
    if (v.capacity() * sizeof(T) > kKeepBytes) std::vector<T>().swap(v);
  }
};
template <class T, int Tag> Scratch<T>& scratch() {
  static thread_local Scratch<T> s;
  return s;
}
template <class T, int Tag> struct ScratchLease {  // trims on scope exit
  T* p;
  ScratchLease(size_t n) : p(scratch<T, Tag>().get(n)) {}
  ~ScratchLease() { scratch<T, Tag>().trim(); }
};
enum { kTagU, kTagBank, kTagTile, kTagStats, kTagDU, kTagMx, kTagSlotL, kTagAlpha };

// u = z / max(||z||, eps) (or a copy); scale[i] = 1 / max(||z_i||, eps) (1 when not normalizing).
template <class T> inline void normalize_row(const T* zi, int64_t d, bool normalize, T* ui, double* sc_out) {
  double sc = 1.0;
  if (normalize) sc = 1.0 / std::max(std::sqrt(dot(zi, zi, d)), kNormEps);
  for (int64_t k = 0; k < d; ++k) ui[k] = static_cast<T>(zi[k] * sc);
  if (sc_out) *sc_out = sc;
}

// Rows per chunk of the O(N D) passes: ~32 K elements, so the 256 x 128 problem's passes run in
// two chunks and tiny ones run on the caller without waking the pool.
inline int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / d); }
// The planned problem: normalized rows/keys in one buffer, sizes, masks.
template <class T> struct Plan {
  const InfoNCEParams& p;
  int64_t n, d, m, R, K;  // R rows, K main keys (excluding the bank)
  T inv_tau;
  ScratchLease<T, kTagU> Ubuf;        // [2n, d]: u1 then u2
  ScratchLease<T, kTagBank> Bankbuf;  // [m, d]
  ScratchLease<double, kTagStats> Sbuf;  // scale [2n], posdot [n]
  T* U;
  T* Bank;
  double* scale;   // [2n]
  double* posdot;  // [n]: u1_i . u2_i (the positive's similarity * tau in every no-label mode)
  int64_t br;      // rows per block

  explicit Plan(const InfoNCEParams& pp)
      : p(pp),
        Ubuf(static_cast<size_t>(2 * pp.n * pp.d)),
        Bankbuf(static_cast<size_t>(pp.m * pp.d)),
        Sbuf(static_cast<size_t>(3 * pp.n)) {
    n = p.n; d = p.d; m = p.m;
    R = p.both ? 2 * n : n;
    K = R;
    inv_tau = static_cast<T>(1.0 / p.temperature);
    U = Ubuf.p;
    Bank = Bankbuf.p;
    scale = Sbuf.p;
    posdot = Sbuf.p + 2 * n;
    // One pass (one parallel_for) over the pairs (z1_i, z2_i), then the bank rows.
    const T* z1 = static_cast<const T*>(p.z1);
    const T* z2 = static_cast<const T*>(p.z2);
    const T* zb = static_cast<const T*>(p.negatives);
    parallel_for(n + m, std::max<int64_t>(1, row_grain(d) / 2), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (i >= n) {
          normalize_row(zb + (i - n) * d, d, p.normalize, Bank + (i - n) * d, nullptr);
          continue;
        }
        T* u1 = U + i * d;
        T* u2 = U + (n + i) * d;
        normalize_row(z1 + i * d, d, p.normalize, u1, scale + i);
        normalize_row(z2 + i * d, d, p.normalize, u2, scale + n + i);
        posdot[i] = dot(u1, u2, d);
      }
    });
    // Small problems: enough blocks for every thread (4 per thread for balance), rows in
    // multiples of the GEMM's MR so no micro-tile is wasted.
    const int64_t th = std::max(1, num_threads());
    int64_t want = (R + 4 * th - 1) / (4 * th);
    br = std::min<int64_t>(kBRMax, std::max<int64_t>(6, (want + 5) / 6 * 6));
  }
  const T* Q() const { return U; }
  const T* Keys() const { return p.both ? U : U + n * d; }
  int32_t label_of_row(int64_t r) const { return p.labels[r % n]; }
  // Global key index of the positive of row r (no-labels mode).
  int64_t pos_of(int64_t r) const { return p.both ? (r + n) % (2 * n) : r; }
  bool is_self(int64_t r, int64_t c) const { return p.both && r == c; }
  bool is_pos(int64_t r, int64_t c) const {
    if (is_self(r, c)) return false;
    if (p.labels) return label_of_row(r) == label_of_row(c);
    return c == pos_of(r);
  }
  // Every similarity is <= 1/tau when the views are normalized (|u| <= 1), so c = 1/tau is a valid
  // log-sum-exp shift for every row: no running max, one exp per similarity, shared by the row and
  // the column folds. Used while every term e^{s - c} >= e^{-2c} stays a normal number with room
  // (float: 2c <= 80, e^-80 ~ 1.8e-35; double: 2c <= 600).
  bool fixed_shift() const {
    const double c = 1.0 / p.temperature;
    return p.normalize && c <= (sizeof(T) == 4 ? 40.0 : 300.0);
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
        const T* keys = part == 0 ? P.Keys() : P.Bank;
        for (int64_t c0 = 0; c0 < Kp; c0 += kBC) {
          const int64_t cb = std::min(kBC, Kp - c0);
          gemm_serial(false, true, rb, cb, d, P.inv_tau, P.Q() + r0 * d, d, keys + c0 * d, d, T(0),
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
          losses[r] = lse - static_cast<T>(P.posdot[r % P.n] * static_cast<double>(P.inv_tau));
        }
      }
    }
  });
  return Status::Ok();
}

// Single positives (no labels): s_{r,p(r)} carries -a_r, and in the two-view mode its mirror
// s_{p(r),r} carries -a_{p(r)}; then back through the normalization,
// dz = (du - u (u . du)) * scale (scale = 1 / max(||z||, eps); the eps branch is linear), into
// dz1, dz2. `extra` (may be empty) are further [2n, d] partial dU buffers summed into dU first, in
// slot order. One pass, one parallel_for.
template <class T>
void finish_backward(const Plan<T>& P, const T* a, T* dU, const std::vector<T*>& extra, T* dz1,
                     T* dz2) {
  const InfoNCEParams& p = P.p;
  const int64_t d = P.d, n = P.n;
  const T it = P.inv_tau;
  const T* U = P.U;
  const T* z1 = static_cast<const T*>(p.z1);
  const T* z2 = static_cast<const T*>(p.z2);
  // One-way: the key gradient of key i (row n + i of dU) needs -a_i u1_i / tau; handled with row i.
  parallel_for(n, std::max<int64_t>(1, row_grain(d) / 2), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      for (int v = 0; v < 2; ++v) {
        const int64_t r = v * n + i;
        T* g = dU + r * d;
        for (const T* x : extra) {
          const T* xr = x + r * d;
          for (int64_t k = 0; k < d; ++k) g[k] += xr[k];
        }
      }
      T* g1 = dU + i * d;
      T* g2 = dU + (n + i) * d;
      const T* u1 = U + i * d;
      const T* u2 = U + (n + i) * d;
      if (!p.labels) {
        if (p.both) {
          const T w = (a[i] + a[n + i]) * it;  // rows i and n + i are each other's positive
          for (int64_t k = 0; k < d; ++k) {
            g1[k] -= w * u2[k];
            g2[k] -= w * u1[k];
          }
        } else {
          const T w = a[i] * it;
          for (int64_t k = 0; k < d; ++k) {
            g1[k] -= w * u2[k];
            g2[k] -= w * u1[k];
          }
        }
      }
      for (int v = 0; v < 2; ++v) {
        const T* ui = v == 0 ? u1 : u2;
        const T* gi = v == 0 ? g1 : g2;
        const T* zi = (v == 0 ? z1 : z2) + i * d;
        T* o = (v == 0 ? dz1 : dz2) + i * d;
        if (!p.normalize) { std::memcpy(o, gi, sizeof(T) * d); continue; }
        const double sc = P.scale[v * n + i];
        const double nz = std::sqrt(dot(zi, zi, d));
        const double proj = nz > kNormEps ? dot(ui, gi, d) : 0.0;
        for (int64_t k = 0; k < d; ++k) o[k] = static_cast<T>((gi[k] - ui[k] * proj) * sc);
      }
    }
  });
}

// ---- Two views without labels: only the upper triangle of S -----------------------------------
// S is symmetric and so are the masks (self, the positive pair), so one GEMM tile (I, J), I < J,
// serves row block I (row-wise folds) and row block J (column-wise folds): half the similarity
// FLOPs of the row-block scheme, forward and backward. Slot s takes the s-th contiguous run of
// the task list (a static split, not a shared counter: which tiles a slot folds, and so every sum,
// must not depend on scheduling); each slot keeps its own per-row (max, sum) in the forward and
// its own dU in the backward, merged in slot order at the end: O(threads * N * D) memory, still
// linear in N.
struct SymTasks {
  int64_t bs = 0, nb = 0;
  std::vector<std::pair<int64_t, int64_t>> list;  // (I, J >= I); J = -1: block I vs the bank
  int slots = 1;
  SymTasks(int64_t R, bool bank) {
    bs = R <= 1536 ? kSymBsSmall : 240;  // multiples of the GEMM's MR = 6 and NR = 16
    nb = (R + bs - 1) / bs;
    for (int64_t I = 0; I < nb; ++I)
      for (int64_t J = I; J < nb; ++J) list.emplace_back(I, J);
    if (bank)
      for (int64_t I = 0; I < nb; ++I) list.emplace_back(I, -1);
    slots = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), static_cast<int64_t>(list.size()))));
  }
  // Runs fn(slot, I, J) over every task, slot s over tasks [s * total / slots, (s + 1) * ...).
  template <class F> void run(F&& fn) const {
    const int64_t total = static_cast<int64_t>(list.size());
    parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s)
        for (int64_t t = s * total / slots; t < (s + 1) * total / slots; ++t)
          fn(static_cast<int>(s), list[t].first, list[t].second);
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

// Row sums (into ls[0..bi)) and, when `cols`, column sums (into colsum[0..bj), zeroed here) of
// e^{S - c} over a bi x bj tile: one exp per similarity serves both folds.
template <class T, bool kCols>
void exp_fold_tile(const T* S, int64_t ld, int64_t bi, int64_t bj, T c, double* ls, T* colsum) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  const V vc = broadcast(c);
  if (kCols) std::fill(colsum, colsum + bj, T(0));
  for (int64_t i = 0; i < bi; ++i) {
    const T* s = S + i * ld;
    V racc = broadcast(T(0));
    int64_t j = 0;
    for (; j + W <= bj; j += W) {
      const V e = vexp(sub(loadu(s + j), vc));
      racc = add(racc, e);
      if (kCols) storeu(colsum + j, add(loadu(colsum + j), e));
    }
    double r = hsum(racc);
    for (; j < bj; ++j) {
      const T e = std::exp(s[j] - c);
      r += e;
      if (kCols) colsum[j] += e;
    }
    ls[i] += r;
  }
}

template <class T>
Status forward_sym(Plan<T>& P, T* losses, T* lse_out) {
  const int64_t R = P.R, d = P.d;
  const T ninf = -std::numeric_limits<T>::infinity();
  constexpr int W = VecOf<T>::W;
  SymTasks tasks(R, P.m > 0);
  const int64_t bs = tasks.bs, ld = bs;  // main tiles bs x bs, packed (ld = bs: L1-friendly)
  const int64_t bank_w = std::min(kBC, P.m);
  const size_t tile_elems = static_cast<size_t>(std::max(bs * bs, bs * bank_w) + 3 * bs);
  const bool fixed = P.fixed_shift();
  const T c = P.inv_tau;
  const int slots = tasks.slots;
  ScratchLease<T, kTagMx> mxbuf(static_cast<size_t>(slots * R));
  ScratchLease<double, kTagSlotL> lbuf(static_cast<size_t>(slots * R));
  std::fill(mxbuf.p, mxbuf.p + slots * R, ninf);
  std::fill(lbuf.p, lbuf.p + slots * R, 0.0);
  tasks.run([&](int slot, int64_t I, int64_t J) {
    T* S = scratch<T, kTagTile>().get(tile_elems);
    T* m = mxbuf.p + static_cast<int64_t>(slot) * R;
    double* ls = lbuf.p + static_cast<int64_t>(slot) * R;
    const int64_t i0 = I * bs, bi = std::min(bs, R - i0);
    if (J < 0) {  // the bank: rows of block I only (the bank gets no statistics)
      for (int64_t c0 = 0; c0 < P.m; c0 += kBC) {
        const int64_t cb = std::min(kBC, P.m - c0);
        gemm_serial(false, true, bi, cb, d, P.inv_tau, P.Q() + i0 * d, d, P.Bank + c0 * d, d, T(0), S,
             bank_w);
        if (fixed) {
          exp_fold_tile<T, false>(S, bank_w, bi, cb, c, ls + i0, nullptr);
        } else {
          for (int64_t i = 0; i < bi; ++i) fold_row(S + i * bank_w, cb, m[i0 + i], ls[i0 + i]);
        }
      }
      return;
    }
    const int64_t j0 = J * bs, bj = std::min(bs, R - j0);
    T* colmax = S + std::max(bs * bs, bs * bank_w);
    T* shift = colmax + bs;
    T* colsum = shift + bs;
    gemm_serial(false, true, bi, bj, d, P.inv_tau, P.Q() + i0 * d, d, P.Q() + j0 * d, d, T(0), S, ld);
    mask_tile(P, S, ld, i0, bi, j0, bj, ninf);
    if (fixed) {
      if (I == J) {
        exp_fold_tile<T, false>(S, ld, bi, bj, c, ls + i0, nullptr);
      } else {
        exp_fold_tile<T, true>(S, ld, bi, bj, c, ls + i0, colsum);
        for (int64_t j = 0; j < bj; ++j) ls[j0 + j] += colsum[j];
      }
      return;
    }
    for (int64_t i = 0; i < bi; ++i) fold_row(S + i * ld, bj, m[i0 + i], ls[i0 + i]);
    if (I == J) return;
    // Column folds: the same entries seen from the rows of block J.
    std::fill(colmax, colmax + bj, ninf);
    for (int64_t i = 0; i < bi; ++i) {
      const T* s = S + i * ld;
      int64_t j = 0;
      for (; j + W <= bj; j += W) storeu(colmax + j, max(loadu(s + j), loadu(colmax + j)));
      for (; j < bj; ++j) colmax[j] = s[j] > colmax[j] ? s[j] : colmax[j];
    }
    for (int64_t j = 0; j < bj; ++j) {
      const int64_t cc = j0 + j;
      const T t = colmax[j];
      if (t != ninf && t > m[cc]) {
        ls[cc] *= std::exp(static_cast<double>(m[cc]) - t);
        m[cc] = t;
      }
      shift[j] = t == ninf ? T(0) : m[cc];  // an all-masked column adds exp(-inf) = 0
      colsum[j] = T(0);
    }
    for (int64_t i = 0; i < bi; ++i) {
      const T* s = S + i * ld;
      int64_t j = 0;
      for (; j + W <= bj; j += W)
        storeu(colsum + j, add(loadu(colsum + j), vexp(sub(loadu(s + j), loadu(shift + j)))));
      for (; j < bj; ++j) colsum[j] += std::exp(s[j] - shift[j]);
    }
    for (int64_t j = 0; j < bj; ++j) ls[j0 + j] += colsum[j];
  });
  // Merge the slots' statistics, then the losses (serial on the caller below 4096 rows).
  const T it = P.inv_tau;
  const int64_t n = P.n;
  parallel_for(R, 4096, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double lse64;
      if (fixed) {
        double L = 0;
        for (int s = 0; s < slots; ++s) L += lbuf.p[s * R + r];
        lse64 = static_cast<double>(c) + std::log(L);
      } else {
        T M = ninf;
        for (int s = 0; s < slots; ++s) M = mxbuf.p[s * R + r] > M ? mxbuf.p[s * R + r] : M;
        double L = 0;
        for (int s = 0; s < slots; ++s) {
          const T ms = mxbuf.p[s * R + r];
          const double l = lbuf.p[s * R + r];
          if (ms != ninf || l != l) L += l * std::exp(static_cast<double>(ms) - M);
        }
        lse64 = static_cast<double>(M) + std::log(L);
      }
      const T lse = static_cast<T>(lse64);
      lse_out[r] = lse;
      losses[r] = lse - static_cast<T>(P.posdot[r % n] * static_cast<double>(it));
    }
  });
  return Status::Ok();
}

template <class T>
Status backward_sym(Plan<T>& P, const T* a, const T* lse, T* dz1, T* dz2) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  const int64_t R = P.R, d = P.d;
  const T it = P.inv_tau;
  SymTasks tasks(R, P.m > 0);
  const int64_t bs = tasks.bs, ld = bs;
  const int64_t bank_w = std::min(kBC, P.m);
  const size_t tile_elems = static_cast<size_t>(std::max(bs * bs, bs * bank_w));
  const int slots = tasks.slots;
  ScratchLease<T, kTagDU> dubuf(static_cast<size_t>(slots * R * d));
  std::memset(dubuf.p, 0, sizeof(T) * static_cast<size_t>(slots * R * d));
  // Fixed shift (see Plan::fixed_shift): e^{s - lse_r} = e^{s - c} alpha_r / a_r with
  // alpha_r = a_r e^{c - lse_r}, so H_ij = e^{s_ij - c} (alpha_i + alpha_j): one exp per similarity
  // instead of two. Taken only when every c - lse_r is in range (a genuine forward's lse is
  // >= c - 2c); otherwise (foreign lse, -inf rows) the two-exp form below.
  const T c = P.inv_tau;
  ScratchLease<T, kTagAlpha> alphabuf(static_cast<size_t>(R));
  T* alpha = alphabuf.p;
  bool fixed = P.fixed_shift();
  if (fixed) {
    const double lim = 2.0 * static_cast<double>(c) + 1.0;
    for (int64_t r = 0; r < R && fixed; ++r) {
      const double x = static_cast<double>(c) - static_cast<double>(lse[r]);
      if (!(x <= lim)) fixed = false;  // also catches NaN
      else alpha[r] = static_cast<T>(static_cast<double>(a[r]) * std::exp(x));
    }
  }
  tasks.run([&](int slot, int64_t I, int64_t J) {
    T* S = scratch<T, kTagTile>().get(2 * tile_elems);
    T* H = S + tile_elems;
    T* out = dubuf.p + static_cast<int64_t>(slot) * R * d;
    const int64_t i0 = I * bs, bi = std::min(bs, R - i0);
    if (J < 0) {
      for (int64_t c0 = 0; c0 < P.m; c0 += kBC) {
        const int64_t cb = std::min(kBC, P.m - c0);
        const T* bank = P.Bank + c0 * d;
        gemm_serial(false, true, bi, cb, d, it, P.Q() + i0 * d, d, bank, d, T(0), S, bank_w);
        for (int64_t i = 0; i < bi; ++i)
          exp_one(S + i * bank_w, cb, a[i0 + i], lse[i0 + i], H + i * bank_w);
        gemm_serial(false, false, bi, d, cb, it, H, bank_w, bank, d, T(1), out + i0 * d, d);
      }
      return;
    }
    const int64_t j0 = J * bs, bj = std::min(bs, R - j0);
    gemm_serial(false, true, bi, bj, d, it, P.Q() + i0 * d, d, P.Q() + j0 * d, d, T(0), S, ld);
    if (fixed) {
      const V vc = broadcast(c);
      for (int64_t i = 0; i < bi; ++i) {
        const T* s = S + i * ld;
        T* h = H + i * ld;
        const T ai = alpha[i0 + i];
        const V vai = broadcast(ai);
        const T* aj = alpha + j0;
        int64_t j = 0;
        for (; j + W <= bj; j += W)
          storeu(h + j, mul(vexp(sub(loadu(s + j), vc)), add(vai, loadu(aj + j))));
        for (; j < bj; ++j) h[j] = std::exp(s[j] - c) * (ai + aj[j]);
      }
    } else {
      for (int64_t i = 0; i < bi; ++i)
        exp_pair(S + i * ld, bj, a[i0 + i], lse[i0 + i], a + j0, lse + j0, H + i * ld);
    }
    mask_tile(P, H, ld, i0, bi, j0, bj, T(0));
    gemm_serial(false, false, bi, d, bj, it, H, ld, P.Q() + j0 * d, d, T(1), out + i0 * d, d);
    if (I != J) gemm_serial(true, false, bj, d, bi, it, H, ld, P.Q() + i0 * d, d, T(1), out + j0 * d, d);
  });
  std::vector<T*> extra;
  for (int s = 1; s < slots; ++s) extra.push_back(dubuf.p + static_cast<int64_t>(s) * R * d);
  finish_backward(P, a, dubuf.p, extra, dz1, dz2);
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
        const T* keys = part == 0 ? P.Keys() : P.Bank;
        for (int64_t c0 = 0; c0 < Kp; c0 += kBC) {
          const int64_t cb = std::min(kBC, Kp - c0);
          gemm_serial(false, true, rb, cb, d, it, P.Q() + r0 * d, d, keys + c0 * d, d, T(0), S.data(),
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
          gemm_serial(false, false, rb, d, cb, it, G.data(), kBC, keys + c0 * d, d, first ? T(0) : T(1),
               dQ + r0 * d, d);
          first = false;
          if (part == 0 && !p.both)
            gemm_serial(true, false, cb, d, rb, it, G.data(), kBC, P.Q() + r0 * d, d, T(1),
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
  finish_backward(P, a, dU.data(), {}, dz1, dz2);
  return Status::Ok();
}

}  // namespace

Status info_nce_forward(const InfoNCEParams& p, void* losses, void* lse, void* lse_pos) {
  SELFSUP_RETURN_IF_ERROR(info_nce_check(p));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
    return forward_impl<T>(p, static_cast<T*>(losses), static_cast<T*>(lse), static_cast<T*>(lse_pos));
  });
}

Status info_nce_backward(const InfoNCEParams& p, const void* grad_rows, const void* lse,
                         const void* lse_pos, void* dz1, void* dz2) {
  SELFSUP_RETURN_IF_ERROR(info_nce_check(p));
  if (p.labels && !lse_pos)
    return Status::Invalid("Expected the forward's lsePos for lsePos but received null");
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
    return backward_impl<T>(p, static_cast<const T*>(grad_rows), static_cast<const T*>(lse),
                            static_cast<const T*>(lse_pos), static_cast<T*>(dz1), static_cast<T*>(dz2));
  });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
