// Sinkhorn-Knopp forward on CPU, log-domain (see params.h for the math and the update order).
//
// Cost model (memory-bound passes over [B, K]; bytes counted in `sweeps`):
// - Sweep 0 (logits) reads the scores once, validates them, and caches the row-stabilized Gibbs
//   kernel E[b,k] = exp(S[b,k]/eps - m_b) in `out` (the only per-element exp of the whole run;
//   m_b is the middle of the row's range, at most 64 below its max). In the same pass, while the
//   row is in L1, it adds E[b,:] * exp(m_b - R) to the column sums of the first column update.
// - Every later sweep reads E (logits) or the probabilities (probs) once and does BOTH the row
//   update of iteration t (S_b = sum_k E[b,k] u_k with u = exp(g), f_b = log r_b - m_b - log S_b)
//   AND the column sums of the resulting plan P[b,k] = E[b,k] u_k r_b / S_b that the column
//   update of iteration t+1 needs. n iterations: n + 1 read sweeps, 2 writes of [B, K].
// - The last sweep writes out = E u / S_b in place.
// - All sweeps run inside one parallel region (class Team, team.h), rows in groups of 4 (rows_dot,
//   rows_axpy in rows.h); see docs/sinkhorn.md, Performance, for the measurements behind each choice.
// Potentials stay in the log domain (g in double, shifted so max g = 0, u = exp(g) <= 1), so
// nothing overflows. Underflow is detected, never ignored: a row whose sum S_b < K * 1e-30 may
// have lost its mass to underflow in E and is redone from the scores with its exact max; a column
// whose plan sum is below 1e-30 * sum_b (r_b / S_b) may have lost mass (each lost entry is below
// 1.2e-38 r_b / S_b), and its update is then redone with an exact blocked online log-sum-exp over
// the scores and the stored f (one more sweep). Well-conditioned inputs (SwAV: eps 0.05, cosine
// scores) never take a fallback; eps 1e-3 with |scores| ~ 100 does, and stays exact and finite.
//
// The 'probs' input (MSN) has no per-element transcendental at all: P = p * exp(g) * exp(f), so
// the row pass is a dot product with u = exp(g) and the column update needs sum_b p * exp(f_b).
#include <algorithm>
#include <exception>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/sinkhorn/params.h"
#include "ops/sinkhorn/rows.h"
#include "ops/sinkhorn/team.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

using namespace sinkhorn_detail;  // Team (team.h), row primitives and W (rows.h)
// Fixed row partition (independent of the thread count, so results are reproducible across
// SELFSUP_NUM_THREADS); 8 chunks keep 2-8 threads balanced and the chunk merge negligible.
constexpr int64_t kMaxChunks = 8;
constexpr float kNegBig = -std::numeric_limits<float>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();

struct State {
  SinkhornParams& p;
  Team* team = nullptr;
  int64_t B = 0, K = 0, Kp = 0, nchunks = 0, block_rows = 1;
  float inv_eps = 1.f;
  std::vector<double> g, logc, r, f, w;
  std::vector<float> gf, uf, rowmax;
  std::vector<double> acc;              // [nchunks, Kp] per-chunk column accumulators
  std::vector<float> part, erow, cmax;  // [nchunks, Kp] block partials / row scratch / running max
  std::vector<double> wsum;             // [nchunks]
  std::vector<int> bad;                 // [nchunks]
  explicit State(SinkhornParams& pp) : p(pp) {}
  int64_t row_begin(int64_t c) const { return B * c / nchunks; }
};

template <typename Fn>
void for_chunks(State& st, const Fn& fn) {
  if (st.nchunks == 0) return;
  if (st.team) {
    st.team->run(st.nchunks, [&](int64_t c) { fn(c, st.row_begin(c), st.row_begin(c + 1)); });
    return;
  }
  parallel_for(st.nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, st.row_begin(c), st.row_begin(c + 1));
  });
}

void all_reduce(State& st, std::vector<double>& buf) {
  if (st.p.all_reduce) st.p.all_reduce(buf.data(), static_cast<int64_t>(buf.size()));
}

// dst[k] += src[k] (float partial into double accumulator), src reset to 0.
inline void flush(double* dst, float* src, int64_t n) {
  for (int64_t k = 0; k < n; ++k) { dst[k] += src[k]; src[k] = 0.f; }
}

// ---- sweep 0 / exact column update (logits): lse_k = LSE_b(S[b,k]/eps + f_b). ----------------
// Blocked online log-sum-exp: per block of rows, the block's column max (a max pass, no exp),
// one rescale of the running sums per block, then the exp pass over the block (now in L2).
void exact_columns(State& st, bool use_f, std::vector<double>& lse) {
  const int64_t K = st.K, Kp = st.Kp, R = st.block_rows;
  const float inv = st.inv_eps;
  const float* S = st.p.scores;
  for_chunks(st, [&](int64_t c, int64_t b0, int64_t b1) {
    float* M = st.cmax.data() + c * Kp;
    float* bm = st.erow.data() + c * Kp;
    float* part = st.part.data() + c * Kp;
    double* A = st.acc.data() + c * Kp;
    std::fill(M, M + Kp, kNegBig);
    std::fill(A, A + Kp, 0.0);
    for (int64_t rb = b0; rb < b1; rb += R) {
      const int64_t re = std::min(b1, rb + R);
      std::fill(bm, bm + Kp, kNegBig);
      for (int64_t b = rb; b < re; ++b) {
        const float* s = S + b * K;
        const Vec vf = broadcast(use_f ? static_cast<float>(st.f[b]) : 0.f), vi = broadcast(inv);
        int64_t k = 0;
        for (; k + W <= K; k += W) storeu(bm + k, max(loadu(bm + k), fma(loadu(s + k), vi, vf)));
        if (k < K)  // padded lanes hold f: harmless, columns >= K are never read
          storeu(bm + k, max(loadu(bm + k), fma(load_partial(s + k, static_cast<int>(K - k)), vi, vf)));
      }
      // Rescale the running sums to the new maxima: A *= exp(M_old - M_new).
      for (int64_t k = 0; k < Kp; k += W) {
        const Vec mo = loadu(M + k), mn = max(mo, loadu(bm + k));
        storeu(M + k, mn);
        storeu(part + k, vexp(mo - mn));
      }
      for (int64_t k = 0; k < Kp; ++k) { A[k] *= part[k]; part[k] = 0.f; }
      for (int64_t b = rb; b < re; ++b) {
        const float* s = S + b * K;
        const Vec vf = broadcast(use_f ? static_cast<float>(st.f[b]) : 0.f), vi = broadcast(inv);
        int64_t k = 0;
        for (; k + W <= K; k += W)
          storeu(part + k, loadu(part + k) + vexp(fma(loadu(s + k), vi, vf) - loadu(M + k)));
        if (k < K)
          storeu(part + k, loadu(part + k) +
                               vexp(fma(load_partial(s + k, static_cast<int>(K - k)), vi, vf) - loadu(M + k)));
      }
      flush(A, part, Kp);
    }
  });

  // Merge the chunks: Mg = max_c M_c, s = sum_c A_c exp(M_c - Mg).
  std::vector<float> Mg(Kp, kNegBig), sc(Kp);
  std::vector<double> s(K, 0.0);
  for (int64_t c = 0; c < st.nchunks; ++c) {
    const float* M = st.cmax.data() + c * Kp;
    for (int64_t k = 0; k < Kp; k += W) storeu(Mg.data() + k, max(loadu(Mg.data() + k), loadu(M + k)));
  }
  for (int64_t c = 0; c < st.nchunks; ++c) {
    const float* M = st.cmax.data() + c * Kp;
    const double* A = st.acc.data() + c * Kp;
    for (int64_t k = 0; k < Kp; k += W) storeu(sc.data() + k, vexp(loadu(M + k) - loadu(Mg.data() + k)));
    for (int64_t k = 0; k < K; ++k) s[k] += A[k] * sc[k];
  }
  lse.assign(K, -kInf);
  if (!st.p.all_reduce) {
    for (int64_t k = 0; k < K; ++k)
      if (s[k] > 0) lse[k] = static_cast<double>(Mg[k]) + std::log(s[k]);
    return;
  }
  // Across processes: a shared per-column reference R_k = mean of the processes' finite local
  // maxima (allReduceSum only), then the sums relative to it. Exact unless one process's best entry
  // in a column exceeds the mean by more than e^80 (the float32 transport would overflow).
  std::vector<double> buf(2 * K);
  for (int64_t k = 0; k < K; ++k) {
    const bool has = s[k] > 0 && Mg[k] > kNegBig;
    buf[k] = has ? Mg[k] : 0.0;
    buf[K + k] = has ? 1.0 : 0.0;
  }
  all_reduce(st, buf);
  std::vector<double> ref(K), buf2(K);
  for (int64_t k = 0; k < K; ++k) {
    ref[k] = buf[K + k] > 0 ? buf[k] / buf[K + k] : 0.0;
    buf2[k] = s[k] > 0 ? s[k] * std::exp(std::min(80.0, static_cast<double>(Mg[k]) - ref[k])) : 0.0;
  }
  all_reduce(st, buf2);
  for (int64_t k = 0; k < K; ++k)
    if (buf2[k] > 0) lse[k] = ref[k] + std::log(buf2[k]);
}

// ---- probs sweep 0: validates p, sums rows (all-zero rows are an error), A_k = sum_b p[b,k]. --
void probs_first(State& st, std::vector<double>& A, int64_t& bad_row) {
  const int64_t K = st.K, Kp = st.Kp, R = st.block_rows;
  std::vector<int64_t> zero_row(st.nchunks, -1);
  for_chunks(st, [&](int64_t c, int64_t b0, int64_t b1) {
    float* part = st.part.data() + c * Kp;
    double* acc = st.acc.data() + c * Kp;
    std::fill(part, part + Kp, 0.f);
    std::fill(acc, acc + Kp, 0.0);
    Vec badv = zero_f(), mn = zero_f();
    int64_t nrows = 0;
    for (int64_t b = b0; b < b1; ++b) {
      const float* s = st.p.scores + b * K;
      Vec rs = zero_f();
      int64_t k = 0;
      for (; k + W <= K; k += W) {
        const Vec x = loadu(s + k);
        badv = fma(x, zero_f(), badv); mn = min(mn, x); rs = rs + x;
        storeu(part + k, loadu(part + k) + x);
      }
      if (k < K) {
        const Vec x = load_partial(s + k, static_cast<int>(K - k));
        badv = fma(x, zero_f(), badv); mn = min(mn, x); rs = rs + x;
        storeu(part + k, loadu(part + k) + x);
      }
      if (!(hsum(rs) > 0.f) && zero_row[c] < 0) zero_row[c] = b;
      if (++nrows == R) { flush(acc, part, Kp); nrows = 0; }
    }
    flush(acc, part, Kp);
    st.bad[c] = (hsum(badv) == 0.f && hmax(abs(mn)) == 0.f) ? 0 : 1;
  });
  A.assign(K, 0.0);
  for (int64_t c = 0; c < st.nchunks; ++c)
    for (int64_t k = 0; k < K; ++k) A[k] += st.acc[c * Kp + k];
  bad_row = -1;
  for (int64_t c = 0; c < st.nchunks && bad_row < 0; ++c) bad_row = zero_row[c];
}

// ---- logits sweep 0: validates S/eps, caches E = exp(S/eps - m_b) in `out` (m_b: row reference),
// and sums the columns of exp(S/eps - Rc) = E * exp(m_b - Rc) (Rc: running max of m_b in the chunk,
// the sums rescaled when it grows) for the first column update. --------------------------------
void logits_first(State& st, std::vector<double>& A, double& Wtot, double& Rref) {
  const int64_t K = st.K, Kp = st.Kp, R = st.block_rows;
  const float inv = st.inv_eps;
  std::vector<double> Rc(st.nchunks, -kInf);
  // Stream E past the caches only when [B, K] is well beyond L3 (32 MiB here; 1024 x 1024 stays
  // cached and is re-read from L3 by the next sweep).
  const bool stream = st.B * K * 4 > (int64_t(24) << 20);
  (void)stream;  // the portable build has no streaming store
  for_chunks(st, [&](int64_t c, int64_t b0, int64_t b1) {
    float* part = st.part.data() + c * Kp;
    double* acc = st.acc.data() + c * Kp;
    const float* g0 = st.uf.data() + st.Kp;  // zeros padded with -inf (see sinkhorn_forward)
    std::fill(part, part + Kp, 0.f);
    std::fill(acc, acc + Kp, 0.0);
    double wsum = 0, ref = -kInf;
    Vec badv = zero_f();
    int64_t nrows = 0;
    for (int64_t b = b0; b < b1; ++b) {
      const float* s = st.p.scores + b * K;
      float* E = st.p.out + b * K;
      const Vec vi = broadcast(inv);
      Vec mx = broadcast(-kInfF), mn = broadcast(kInfF);
      int64_t k = 0;
      {  // two independent chains each (the fma chain alone would cost 4 cycles a vector)
        Vec mx1 = mx, mn1 = mn, bad1 = zero_f();
        for (; k + 2 * W <= K; k += 2 * W) {
          const Vec y0 = loadu(s + k) * vi, y1 = loadu(s + k + W) * vi;
          badv = fma(y0, zero_f(), badv);
          bad1 = fma(y1, zero_f(), bad1);
          mx = max(mx, y0); mx1 = max(mx1, y1);
          mn = min(mn, y0); mn1 = min(mn1, y1);
        }
        badv = badv + bad1; mx = max(mx, mx1); mn = min(mn, mn1);
      }
      for (; k + W <= K; k += W) {
        const Vec y = loadu(s + k) * vi;
        badv = fma(y, zero_f(), badv);
        mx = max(mx, y);
        mn = min(mn, y);
      }
      if (k < K) {
        const Vec y = load_partial(s + k, static_cast<int>(K - k)) * vi;
        badv = fma(y, zero_f(), badv);
        mx = max(mx, y + loadu(g0 + k));      // padded lanes: -inf for the max
        mn = min(mn, y - loadu(g0 + k));      // and +inf for the min
      }
      // Row reference: the middle of the row's range (so |S/eps - m| <= range / 2 rounds no worse
      // than S/eps itself), but never more than 64 below the max (E <= e^64: K E cannot overflow).
      const float hi = hmax(mx), lo = -hmax(broadcast(0.f) - mn);
      const float m = std::max(0.5f * hi + 0.5f * lo, hi - 64.f);
      st.rowmax[b] = m;  // f_b = log r_b - m_b - log S_b (the exact column fallback reads f)
      if (!(m <= ref)) {  // first row, or a larger reference: rescale what the chunk has so far
        flush(acc, part, Kp);
        nrows = 0;
        if (ref > -kInf) {
          const double sc = std::exp(ref - static_cast<double>(m));
          for (int64_t j = 0; j < K; ++j) acc[j] *= sc;
          wsum *= sc;
        }
        ref = std::isfinite(m) ? m : 0.0;
      }
      const double wb = std::exp(static_cast<double>(m) - ref);
      wsum += wb;
      // E = exp(S/eps - m) into out, and part += E * w_b from the same registers. When [B, K]
      // exceeds the caches E is written with streaming stores (no read-for-ownership of `out`:
      // one pass of traffic less; E is read back by the next sweep, from DRAM either way).
      // The FMA forms the exact S * inv while m comes from the rounded products, so an argument
      // can exceed hi - m by half an ulp of S/eps: nothing at ordinary sizes, but 2^11 at
      // |S/eps| ~ 6e10, where exp overflowed to inf and the row's sum to inf / NaN. The argument
      // is capped at 64 (E <= e^64 as above); at such sizes the capped entries are ties within
      // float32's resolution of S/eps, and a row whose mass then underflows is redone exactly.
      {
        const Vec vm = broadcast(-m), vw = broadcast(static_cast<float>(wb)), cap = broadcast(64.f);
        int64_t j = 0;
        // Partial vectors (row head / tail) store only their n lanes, to E and to part alike.
        auto partial = [&](int64_t at, int n) {
          const Vec e = vexp(min(cap, fma(load_partial(s + at, n), vi, vm)));
          store_partial(E + at, e, n);
          store_partial(part + at, fma(e, vw, load_partial(part + at, n)), n);
        };
#if SELFSUP_SIMD_X86_AVX2
        // Rows of a JS Float32Array are rarely vector aligned (malloc gives 16): peel the head
        // up to the next kVecBytes boundary so the streaming stores apply to every row. Each lane
        // is computed independently, so the values do not depend on where the vectors start.
        if (stream && (reinterpret_cast<uintptr_t>(E) & 3) == 0) {
          constexpr uintptr_t kA = kVecBytes;
          const int64_t head = std::min<int64_t>(K, ((kA - (reinterpret_cast<uintptr_t>(E) & (kA - 1))) & (kA - 1)) / 4);
          if (head > 0) partial(0, static_cast<int>(head));
          for (j = head; j + W <= K; j += W) {
            const Vec e = vexp(min(cap, fma(loadu(s + j), vi, vm)));
            stream_store(E + j, e);
            storeu(part + j, fma(e, vw, loadu(part + j)));
          }
        }
#endif
        for (; j + W <= K; j += W) {
          const Vec e = vexp(min(cap, fma(loadu(s + j), vi, vm)));
          storeu(E + j, e);
          storeu(part + j, fma(e, vw, loadu(part + j)));
        }
        if (j < K) partial(j, static_cast<int>(K - j));
      }
      if (++nrows == R) { flush(acc, part, Kp); nrows = 0; }
    }
    flush(acc, part, Kp);
#if SELFSUP_SIMD_X86_AVX2
    if (stream) stream_fence();  // streaming stores visible before the pool's join
#endif
    st.wsum[c] = wsum;
    Rc[c] = ref;
    st.bad[c] = hsum(badv) == 0.f ? 0 : 1;
  });
  Rref = -kInf;
  for (int64_t c = 0; c < st.nchunks; ++c) Rref = std::max(Rref, Rc[c]);
  A.assign(K, 0.0);
  Wtot = 0;
  for (int64_t c = 0; c < st.nchunks; ++c) {
    const double sc = std::exp(Rc[c] - Rref);
    for (int64_t k = 0; k < K; ++k) A[k] += st.acc[c * Kp + k] * sc;
    Wtot += st.wsum[c] * sc;
  }
}

// ---- the per-iteration sweep: row update with the current g, then either the column sums of
// the plan (update) or the output rows (output, plus the plan's column sums when want_sums). ---
// Returns, per column: A_k (logits: plan column sum; probs: sum_b p[b,k] exp(f_b)), and W.
void fast_sweep(State& st, bool output, bool want_sums, std::vector<double>& A,
                double& Wtot) {
  const int64_t K = st.K, Kp = st.Kp, R = st.block_rows;
  const float inv = st.inv_eps;
  const bool probs = st.p.probs;
  const float kTiny = static_cast<float>(K) * 1e-30f;
  for_chunks(st, [&](int64_t c, int64_t b0, int64_t b1) {
    float* part = st.part.data() + c * Kp;
    float* scratch = st.erow.data() + c * Kp;
    double* acc = st.acc.data() + c * Kp;
    std::fill(part, part + Kp, 0.f);
    std::fill(acc, acc + Kp, 0.0);
    std::fill(scratch, scratch + Kp, 0.f);
    double wsum = 0;
    int64_t nrows = 0;
    if (!probs) {
      // Logits: E = exp(S/eps - m_b) was cached in `out` by sweep 0; the row update is a dot with
      // u. Rows go in groups that never straddle a flush, so the sums are the row-by-row ones.
      const float* u = st.uf.data();
      for (int64_t b = b0; b < b1;) {
        const int nr = static_cast<int>(std::min<int64_t>({kGroup, b1 - b, R - nrows}));
        float* E[kGroup];
        float Sf[kGroup], w[kGroup];
        for (int i = 0; i < nr; ++i) E[i] = st.p.out + (b + i) * K;
        group_dot(nr, E, u, K, Sf);
        bool any_fallback = false;
        for (int i = 0; i < nr; ++i) any_fallback |= !(Sf[i] >= kTiny);
        for (int i = 0; i < nr; ++i) {
          const int64_t bi = b + i;
          const double rb = st.r[bi];
          double m = st.rowmax[bi];
          const bool fb = !(Sf[i] >= kTiny);
          float* e = output ? E[i] : scratch;
          if (fb) {  // the row's mass sits where E underflowed: redo it from the scores
            const float* s = st.p.scores + bi * K;
            m = row_max(s, st.gf.data(), inv, K);
            Sf[i] = row_exp(s, st.gf.data(), inv, static_cast<float>(m), e, K);
          }
          const double Sd = Sf[i];
          st.f[bi] = std::log(rb) - m - std::log(Sd);
          const double wb = Sd > 0 ? rb / Sd : 0.0;  // P[b,k] = (E u)[b,k] * wb
          wsum += wb;
          w[i] = static_cast<float>(wb);
          if (output) {
            const float a = Sd > 0 ? static_cast<float>(1.0 / Sd) : 0.f;
            if (fb) scale_row(e, a, K); else row_out(e, u, a, K);
            if (want_sums) axpy(part, e, static_cast<float>(rb), K);
          } else if (any_fallback) {  // rare: keep the row order of the sums
            if (fb) axpy_pad(part, scratch, w[i], Kp);
            else group_axpy(1, part, &E[i], u, &w[i], K);
          }
        }
        if (!output && !any_fallback) group_axpy(nr, part, E, u, w, K);
        b += nr;
        nrows += nr;
        if (nrows == R) { flush(acc, part, Kp); nrows = 0; }
      }
      flush(acc, part, Kp);
      st.wsum[c] = wsum;
      return;
    }
    for (int64_t b = b0; b < b1; ++b) {
      const float* s = st.p.scores + b * K;
      float* e = output ? st.p.out + b * K : scratch;
      const double rb = st.r[b];
      double Sd, ef;  // row sum of e, and exp(f_b) relative to e (so P = e * r_b / S_b)
      bool fallback_probs = false;
      double m = 0;
      if (!probs) {
        // E = exp(S/eps - rowmax) was cached in `out` by sweep 0: the row update is a dot with u.
        float* E = st.p.out + b * K;
        float Sf = row_dot(E, st.uf.data(), e, K);
        m = st.rowmax[b];
        if (!(Sf >= kTiny)) {  // the row's mass sits where E underflowed: redo it from the scores
          m = row_max(s, st.gf.data(), inv, K);
          Sf = row_exp(s, st.gf.data(), inv, static_cast<float>(m), e, K);
        }
        Sd = Sf;
        st.f[b] = std::log(rb) - m - std::log(Sd);
        ef = rb / Sd;
      } else {
        float Sf = row_dot(s, st.uf.data(), e, K);
        if (Sf >= kTiny) {
          Sd = Sf;
          ef = rb / Sd;  // exp(f_b), because max g = 0 makes u = exp(g) exactly
        } else {
          // Exact row in double: shift by the largest g on the row's support.
          double G = -kInf;
          for (int64_t k = 0; k < K; ++k)
            if (s[k] > 0 && st.g[k] > G) G = st.g[k];
          Sd = 0;
          if (G > -kInf) {
            for (int64_t k = 0; k < K; ++k) {
              const double v = s[k] > 0 ? s[k] * std::exp(st.g[k] - G) : 0.0;
              e[k] = static_cast<float>(v);
              Sd += v;
            }
          } else {
            for (int64_t k = 0; k < K; ++k) e[k] = 0.f;
          }
          fallback_probs = true;
          ef = Sd > 0 ? rb / Sd * std::exp(-G) : 0.0;  // exp(f_b) in double (may exceed float)
          m = G;
        }
        st.f[b] = Sd > 0 ? std::log(rb) - std::log(Sd) - m : -kInf;
      }
      const double wb = Sd > 0 ? rb / Sd : 0.0;  // P[b,k] = e[b,k] * wb
      wsum += wb;
      if (output) {
        scale_row(e, Sd > 0 ? static_cast<float>(1.0 / Sd) : 0.f, K);
        if (want_sums) axpy(part, e, static_cast<float>(rb), K);
      } else if (!probs) {
        axpy_pad(part, scratch, static_cast<float>(wb), Kp);
      } else if (!fallback_probs) {
        axpy(part, s, static_cast<float>(ef), K);
      } else {
        for (int64_t k = 0; k < K; ++k) acc[k] += static_cast<double>(s[k]) * ef;
      }
      if (++nrows == R) { flush(acc, part, Kp); nrows = 0; }
    }
    flush(acc, part, Kp);
    st.wsum[c] = wsum;
  });
  A.assign(K, 0.0);
  Wtot = 0;
  for (int64_t c = 0; c < st.nchunks; ++c) {
    for (int64_t k = 0; k < K; ++k) A[k] += st.acc[c * Kp + k];
    Wtot += st.wsum[c];
  }
}

void set_g(State& st, const std::vector<double>& lse) {
  double gmax = -kInf;
  for (int64_t k = 0; k < st.K; ++k) {
    const double gk = (st.logc[k] > -kInf && lse[k] > -kInf && std::isfinite(lse[k])) ? st.logc[k] - lse[k] : -kInf;
    st.g[k] = gk;
    if (gk > gmax) gmax = gk;
  }
  if (!(gmax > -kInf)) gmax = 0;
  for (int64_t k = 0; k < st.K; ++k) {
    st.g[k] -= gmax;
    st.gf[k] = static_cast<float>(st.g[k]);
    st.uf[k] = static_cast<float>(std::exp(st.g[k]));
  }
}

std::string fmt(double v) { return sinkhorn_fmt(v); }

Status forward_impl(SinkhornParams& p, Team* team) {
  SELFSUP_RETURN_IF_ERROR(sinkhorn_check(p));

  State st(p);
  st.team = team;
  const int64_t K = p.K, B = p.B;
  st.B = B; st.K = K; st.Kp = (K + W - 1) / W * W;
  st.nchunks = std::min<int64_t>(kMaxChunks, B);
  // Rows per block so that a block of scores stays in L2 (~512 KiB) between its two passes.
  st.block_rows = std::max<int64_t>(1, std::min<int64_t>(64, (int64_t(1) << 17) / K));
  st.inv_eps = p.probs ? 1.f : static_cast<float>(1.0 / p.epsilon);
  p.sweeps = 0;
  p.iterations_done = 0;

  // Column marginal: validated and normalized here too (c_k >= 0, finite, positive sum).
  std::vector<double> c;
  SELFSUP_RETURN_IF_ERROR(sinkhorn_col_marginal(p, &c));
  st.logc.resize(K);
  for (int64_t k = 0; k < K; ++k) st.logc[k] = std::log(c[k]);

  // Global batch size and row-marginal normalization (one collective).
  double rsum_local = 0;
  SELFSUP_RETURN_IF_ERROR(sinkhorn_row_sum(p, &rsum_local));
  std::vector<double> head = {static_cast<double>(B), rsum_local};
  all_reduce(st, head);
  const double Bg = head[0], rsum = head[1];
  if (!(Bg >= 1)) {  // nothing to transport
    p.marginal_error = 1.0;
    return Status::Ok();
  }
  if (p.row_marginal && !(rsum > 0))
    return Status::OutOfRange("Expected a row marginal with a positive sum for rowMarginal but received a sum of " + fmt(rsum));
  st.r.resize(B);
  for (int64_t b = 0; b < B; ++b) st.r[b] = p.row_marginal ? p.row_marginal[b] / rsum : 1.0 / Bg;

  st.g.assign(K, 0.0);
  st.gf.assign(st.Kp, -kInfF);
  st.uf.assign(2 * st.Kp, -kInfF);  // [0, Kp): u = exp(g), zero-padded; [Kp, 2Kp): g0 = 0, -inf-padded
  for (int64_t k = 0; k < st.Kp; ++k) st.uf[k] = k < K ? 1.f : 0.f;
  for (int64_t k = 0; k < K; ++k) { st.gf[k] = 0.f; st.uf[st.Kp + k] = 0.f; }
  st.f.assign(B, 0.0);
  st.rowmax.assign(B, 0.f);
  st.acc.assign(st.nchunks * st.Kp, 0.0);
  st.part.assign(st.nchunks * st.Kp, 0.f);
  st.erow.assign(st.nchunks * st.Kp, 0.f);
  st.cmax.assign(st.nchunks * st.Kp, 0.f);
  st.wsum.assign(st.nchunks, 0.0);
  st.bad.assign(st.nchunks, 0);

  // Non-finite (or, for probs, negative) scores: name the first offender, before any collective.
  auto check_bad = [&]() -> Status {
    if (std::find(st.bad.begin(), st.bad.end(), 1) == st.bad.end()) return Status::Ok();
    for (int64_t i = 0; i < B * K; ++i) {
      const float v = p.scores[i];
      const float y = p.probs ? v : v * st.inv_eps;
      if (!std::isfinite(y) || (p.probs && v < 0)) {
        const std::string what = p.probs ? "finite non-negative probabilities" : "finite values of scores / epsilon";
        return Status::OutOfRange("Expected " + what + " for scores but received " + fmt(v) + " at index " + std::to_string(i));
      }
    }
    return Status::Ok();
  };
  // Sweep 0: validation (+ row maxima) and the first column update from the raw kernel.
  std::vector<double> lse, A;
  bool need_exact0 = false;
  if (!p.probs) {
    double Wtot0 = 0, Rref = 0;
    logits_first(st, A, Wtot0, Rref);
    SELFSUP_RETURN_IF_ERROR(check_bad());
    if (p.iterations > 0) {
      if (p.all_reduce) {
        // Shared reference: the mean of the processes' Rref (exact while they differ by < e^80).
        std::vector<double> head2 = {Rref, 1.0};
        all_reduce(st, head2);
        const double Rbar = head2[0] / head2[1];
        const double sc = std::exp(std::min(80.0, Rref - Rbar));
        std::vector<double> buf(K + 1);
        for (int64_t k = 0; k < K; ++k) buf[k] = A[k] * sc;
        buf[K] = Wtot0 * sc;
        all_reduce(st, buf);
        Wtot0 = buf[K];
        for (int64_t k = 0; k < K; ++k) A[k] = buf[k];
        Rref = Rbar;
      }
      lse.assign(K, -kInf);
      for (int64_t k = 0; k < K; ++k) {
        if (A[k] > 1e-30 * Wtot0) lse[k] = Rref + std::log(A[k]);
        else if (st.logc[k] > -kInf) need_exact0 = true;
      }
    }
  } else {
    int64_t zero_row = -1;
    probs_first(st, A, zero_row);
    SELFSUP_RETURN_IF_ERROR(check_bad());
    if (zero_row >= 0)
      return Status::OutOfRange("Expected each row of scores to have a positive entry (input 'probs') but received an all-zero row " + std::to_string(zero_row));
    if (p.iterations > 0) {
      if (p.all_reduce) all_reduce(st, A);
      lse.assign(K, -kInf);
      for (int64_t k = 0; k < K; ++k) if (A[k] > 0) lse[k] = std::log(A[k]);
    }
  }
  p.sweeps = 1;
  if (need_exact0) {  // some column's mass underflowed in E: exact log-sum-exp from the scores
    exact_columns(st, false, lse);
    ++p.sweeps;
  }
  const int64_t n = p.iterations;
  const bool tol = p.tolerance > 0;
  if (n > 0) set_g(st, lse);
  double Wtot = 0;
  int64_t t = 0;
  auto plan_sums_and_error = [&](std::vector<double>& Asum, bool is_plan) {
    // Asum (global) -> plan column sums in place; returns sum_k |P^T 1 - c|_k.
    double err = 0;
    for (int64_t k = 0; k < K; ++k) {
      if (!is_plan) Asum[k] = st.g[k] > -kInf ? std::exp(st.g[k]) * Asum[k] : 0.0;
      err += std::fabs(Asum[k] - c[k]);
    }
    return err;
  };
  for (;;) {
    const bool final_fixed = (!tol && t + 1 >= n) || n == 0;
    if (final_fixed) {
      const bool want = p.want_error;
      fast_sweep(st, true, want, A, Wtot);
      ++p.sweeps;
      t = n;
      if (want) {
        if (p.all_reduce) all_reduce(st, A);
        p.marginal_error = plan_sums_and_error(A, true);
      }
      break;
    }
    fast_sweep(st, false, false, A, Wtot);
    ++p.sweeps;
    ++t;
    std::vector<double> buf(A);
    buf.push_back(Wtot);
    if (p.all_reduce) all_reduce(st, buf);
    Wtot = buf[K];
    buf.resize(K);
    std::vector<double> plan = buf;
    const double err = plan_sums_and_error(plan, !p.probs);
    if (tol && (err < p.tolerance || t >= n)) {
      fast_sweep(st, true, false, A, Wtot);  // same g: the plan whose error was measured
      ++p.sweeps;
      p.marginal_error = err;
      break;
    }
    // Column update t+1.
    lse.assign(K, -kInf);
    bool need_exact = false;
    for (int64_t k = 0; k < K; ++k) {
      if (!p.probs) {
        if (buf[k] > 1e-30 * Wtot) lse[k] = std::log(buf[k]) - st.g[k];
        else if (st.logc[k] > -kInf) need_exact = true;
      } else if (buf[k] > 0) {
        lse[k] = std::log(buf[k]);
      }
    }
    if (need_exact) {
      exact_columns(st, true, lse);
      ++p.sweeps;
    }
    set_g(st, lse);
  }
  p.iterations_done = t;
  return Status::Ok();
}

}  // namespace

Status sinkhorn_forward(SinkhornParams& p) {
  // The collective is called on the calling thread (params.h): that path keeps one parallel_for
  // per sweep. So do single-chunk problems and single-thread pools.
  const int64_t chunks = std::min<int64_t>(kMaxChunks, std::max<int64_t>(p.B, 0));
  const int64_t parts = std::min<int64_t>(num_threads(), chunks);
  if (p.all_reduce || parts <= 1 || p.K < 1) return forward_impl(p, nullptr);
  Team team;
  Status result;
  std::exception_ptr error;
  parallel_for(parts, 1, [&](int64_t, int64_t) {
    if (!team.claim_leader()) {
      team.help();
      return;
    }
    try {
      result = forward_impl(p, &team);
    } catch (...) {
      error = std::current_exception();
    }
    team.finish();
  });
  if (error) std::rethrow_exception(error);
  return result;
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
