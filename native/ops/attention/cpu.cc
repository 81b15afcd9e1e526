// Fused attention on CPU, forward and backward side by side (compiled once per ISA variant).
//
// Forward: the FlashAttention online softmax (Dao et al., "FlashAttention", NeurIPS 2022; Dao,
// "FlashAttention-2", 2023, Algorithm 1): one task = (batch, head, some tiles of Br queries); each
// tile walks the key tiles of Bc keys keeping a running row max m, row sum l and an unnormalized
// output accumulator, rescaled by exp(m_old - m_new) when the max grows. Only a Br x Bc score tile
// ever exists; memory is O(N d) per thread (K^T and V packed into column panels per kv head).
//
// Backward: FlashAttention-2 Algorithm 2: one task = (batch, kv head, tile of Bc keys); it walks
// every query tile of every query head sharing that kv head, recomputes P = exp(logits - lse)
// from the saved log-sum-exp, and accumulates dV += P^T dO, dK += dS^T Q in registers/L1-sized
// tiles, with dS = P * (dO V^T - D), D_i = <dO_i, O_i> - dlse_i. dQ += dS K is accumulated in a
// per-slot buffer for the current head; each slot runs a fixed run of tasks, and a head shared
// by two slots is summed in slot order after the parallel loop (deterministic, no locks).
//
// Every product runs through one register-blocked micro-kernel (6 x 2 vectors of accumulators,
// the same shape as the packed GEMM's AVX2 kernel) that broadcasts A from any (row, col) strides,
// so P^T and dS^T are read in place instead of being transposed.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/attention/params.h"
#include "selfsup/philox.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Tile sizes. Forward: Bc = 128 amortizes the per-tile output rescale and row bookkeeping over
// more keys; the 64 x 128 score tile (32 KiB float) plus the K^T panel live in L1/L2. Backward
// keeps five 64 x 64 products per tile pair, all operands L2-resident.
constexpr int64_t kBrF = 64, kBcF = 128;
constexpr int64_t kBrB = 64, kBcB = 64, kKgB = 4;

// The tile size actually used for n rows: as many tiles as `max` needs, evened out and rounded up
// to `mult` (so 197 tokens become 4 query tiles of 54/54/54/35 rows, not 64/64/64/5 whose last
// tile runs the micro-kernel at a fraction of its speed). Never above round_up(max, mult).
inline int64_t balanced(int64_t n, int64_t max, int64_t mult) {
  if (n <= 0) return mult;
  const int64_t tiles = (n + max - 1) / max;
  return round_up((n + tiles - 1) / tiles, mult);
}
// balanced(), except that up to 1.5 * max rows stay one tile: a short sequence (65 tokens: a
// 64-token image plus the class token) is one tile of 66 instead of two of 36 + 29, which halves
// the per-tile work outside the products (packing, row bookkeeping, C loads and stores).
inline int64_t tile_for(int64_t n, int64_t max, int64_t mult) {
  return n <= max + max / 2 ? round_up(std::max<int64_t>(n, 1), mult) : balanced(n, max, mult);
}

// C[MR x NV*W] = (Ci +) sum_{p < kc} A[r*ars + p*aps] * B[p*ldb + c]. Accumulators in registers;
// A is broadcast element by element, so it may be row-major, transposed or strided. The
// accumulators start at zero and C is added after the loop: loaded up front, a C tile that is
// not in L1 (the backward's dQ rows) stalled the first FMA of every block on its load (the dQ
// product took 20% of the backward against ~16% for each of the other four). The addend Ci may
// differ from C (usually Ci = C): a sum kept in a local tile is then written out by its last
// product, without a copy.
template <class T, int MR, int NV, bool ACC>
SELFSUP_SIMD_INLINE void micro(int64_t kc, const T* A, int64_t ars, int64_t aps, const T* Bm,
                               int64_t ldb, T* C, int64_t ldc, const T* Ci, int64_t ldci) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  V acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = broadcast(T(0));
  for (int64_t p = 0; p < kc; ++p) {
    V b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = loadu(Bm + p * ldb + v * W);
    const T* a = A + p * aps;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const V ar = broadcast(a[r * ars]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = fma(ar, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      storeu(C + r * ldc + v * W, ACC ? acc[r][v] + loadu(Ci + r * ldci + v * W) : acc[r][v]);
}

template <class T, int NV, bool ACC>
void gemm_rows(int64_t m, int64_t kc, const T* A, int64_t ars, int64_t aps, const T* Bm,
               int64_t ldb, T* C, int64_t ldc, const T* Ci, int64_t ldci) {
  int64_t r = 0;
  for (; r + 6 <= m; r += 6)
    micro<T, 6, NV, ACC>(kc, A + r * ars, ars, aps, Bm, ldb, C + r * ldc, ldc, Ci + r * ldci, ldci);
  const T* a = A + r * ars;
  T* c = C + r * ldc;
  const T* ci = Ci + r * ldci;
  switch (m - r) {
    case 1: micro<T, 1, NV, ACC>(kc, a, ars, aps, Bm, ldb, c, ldc, ci, ldci); break;
    case 2: micro<T, 2, NV, ACC>(kc, a, ars, aps, Bm, ldb, c, ldc, ci, ldci); break;
    case 3: micro<T, 3, NV, ACC>(kc, a, ars, aps, Bm, ldb, c, ldc, ci, ldci); break;
    case 4: micro<T, 4, NV, ACC>(kc, a, ars, aps, Bm, ldb, c, ldc, ci, ldci); break;
    case 5: micro<T, 5, NV, ACC>(kc, a, ars, aps, Bm, ldb, c, ldc, ci, ldci); break;
    default: break;
  }
}

// C[m x n] = (Ci +) A[m x kc] B[kc x n] for n a multiple of the vector width (Ci = C unless
// given). B is read as column panels of 2W: panel c / 2W starts at Bm + (c / 2W) * pstride with rows ldb apart, so a plain
// row-major B passes pstride = 2W and a packed one (pack_kt / pack_v) passes ldb = 2W. Column
// panels outermost so one kc x 2W panel of B stays in L1 across the row blocks.
template <class T, bool ACC>
void tile_gemm(int64_t m, int64_t n, int64_t kc, const T* A, int64_t ars, int64_t aps,
               const T* Bm, int64_t ldb, int64_t pstride, T* C, int64_t ldc,
               const T* Ci = nullptr, int64_t ldci = 0) {
  constexpr int W = VecOf<T>::W;
  if (Ci == nullptr) Ci = C, ldci = ldc;
  int64_t c = 0;
  for (; c + 2 * W <= n; c += 2 * W, Bm += pstride)
    gemm_rows<T, 2, ACC>(m, kc, A, ars, aps, Bm, ldb, C + c, ldc, Ci + c, ldci);
  if (c < n) gemm_rows<T, 1, ACC>(m, kc, A, ars, aps, Bm, ldb, C + c, ldc, Ci + c, ldci);
}

// Packed B operands of the forward, in 2W-wide column panels, each panel contiguous: the
// micro-kernel then streams one 64-byte row per step. Measured: reading K^T as one [d][Nk] matrix
// (rows 4 / 16 KiB apart at N = 1024 / 4096) maps a panel's d rows onto a few L1 sets, and the
// forward ran at 50-52% of peak there against 57% at N = 197.
//
// K^T: dst[(j / P) * d * P + c * P + j % P] = k[j * sr + c], zero for j in [rows, round_up(rows, P)).
template <class T>
void pack_kt(T* dst, const T* src, int64_t sr, int64_t rows, int64_t d) {
  constexpr int64_t P = 2 * VecOf<T>::W;
  const int64_t rp = round_up(rows, P);
  for (int64_t j = 0; j < rp; ++j) {
    T* o = dst + (j / P) * d * P + j % P;
    if (j < rows)
      for (int64_t c = 0; c < d; ++c) o[c * P] = src[j * sr + c];
    else
      for (int64_t c = 0; c < d; ++c) o[c * P] = T(0);
  }
}
// float: 8 x 8 blocks through transpose8x8 (the scalar loop above writes 4-byte pieces 64 bytes
// apart; this path was measured at ~5-9% of the forward at N = 197 before). Blocks are 8 wide
// (Vec8) whatever the vector width; P is a multiple of 8.
template <>
void pack_kt<float>(float* dst, const float* src, int64_t sr, int64_t rows, int64_t d) {
  constexpr int64_t W = 8, P = 2 * kVecWidth;
  const int64_t rp = round_up(rows, P), d8 = d / W * W;
  const Vec8 zero = load_partial8(src, 0);
  for (int64_t j0 = 0; j0 < rp; j0 += W) {
    float* o = dst + (j0 / P) * d * P + j0 % P;
    if (j0 >= rows) {  // padding rows only
      for (int64_t c = 0; c < d; ++c) storeu(o + c * P, zero);
      continue;
    }
    // Rows past `rows` enter the transpose as zeros (65 keys: the block of key 64 is one row and
    // seven zeros, through the same 8 x 8 path instead of a scalar loop).
    const int64_t jn = std::min<int64_t>(W, rows - j0);
    for (int64_t c0 = 0; c0 < d8; c0 += W) {
      Vec8 r[8];
      for (int i = 0; i < 8; ++i) r[i] = i < jn ? loadu8(src + (j0 + i) * sr + c0) : zero;
      transpose8x8(r);
      for (int c = 0; c < 8; ++c) storeu(o + (c0 + c) * P, r[c]);
    }
    for (int64_t c = d8; c < d; ++c)
      for (int64_t i = 0; i < W; ++i) o[c * P + i] = i < jn ? src[(j0 + i) * sr + c] : 0.f;
  }
}

// V: dst[(c / P) * rows * P + j * P + c % P] = v[j * sr + c], zero for c in [d, round_up(d, P)).
template <class T>
void pack_v(T* dst, const T* src, int64_t sr, int64_t rows, int64_t d) {
  constexpr int64_t W = VecOf<T>::W, P = 2 * W;
  const int64_t full = d / P * P;
  for (int64_t j = 0; j < rows; ++j) {
    const T* in = src + j * sr;
    // Whole panels as two vector moves (GCC compiled the fixed-size element loop to 16 scalar
    // load/store pairs; no wall-time change measured at N = 197, where packing is cheapest).
    for (int64_t c0 = 0; c0 < full; c0 += P) {
      T* o = dst + (c0 / P) * rows * P + j * P;
      storeu(o, loadu(in + c0));
      storeu(o + W, loadu(in + c0 + W));
    }
    if (full < d) {
      T* o = dst + (full / P) * rows * P + j * P;
      for (int64_t c = 0; c < P; ++c) o[c] = full + c < d ? in[full + c] : T(0);
    }
  }
}

// The softmax exponential, by element type. float works in base 2: log2(e) is folded into the
// FMA that forms the argument and vexp2_nonpos (simd.h) needs no multiply or Cody-Waite split
// (6.6 against 9.9 cycles per vector for vexp_nonpos, measured on Zen 4; the forward's
// exp pass was ~17% of its time). The forward's running row max m is then kept in base-2 units
// rounded up to an integer, so exp(m_old - m_new) = 2^(integer) is exact and the O rescale by it
// loses nothing. m is ceil(max(s) * xu) with xu the float factor the FMA uses (both floats, so the
// product is exact in double): every argument t = s xu - m is <= 0 and the max's is > -1. m is
// held in double: a float m rounds to a multiple of 2^8 past 2^31 (logits ~1.5e9), which pushed
// the max's t past vexp2's range (the row came out as fully masked). double keeps the natural base
// and vexp_nonpos.
template <class T>
struct SoftExp;
template <>
struct SoftExp<float> {
  static constexpr double kUnit = 1.4426950408889634;  // log2(e): argument units per nat
  static Vec exp(Vec t) { return vexp2_nonpos(t); }
  // Running max in units: ceil(smax * xu), an integer (infinities pass through), with the product
  // as the vector FMA of this ISA forms it (exact where FMA is fused, rounded to float in the
  // portable build): the exp arguments and the backward's use that product, and t <= 0 needs m
  // above it. ph + d is that product exactly in double (d is the product's rounding error, an
  // exact float, or 0).
  static double units(float smax, float xu) {
    const float ph = smax * xu;
    if (!std::isfinite(ph)) return static_cast<double>(smax) * static_cast<double>(xu);
    const float d = hmax(fma(broadcast(smax), broadcast(xu), broadcast(-ph)));
    return std::ceil(static_cast<double>(ph) + static_cast<double>(d));
  }
  static float ratio(double dm) { return static_cast<float>(std::exp2(dm)); }
  static double nats(double m) { return m * 0.69314718055994531; }
};
template <>
struct SoftExp<double> {
  static constexpr double kUnit = 1.0;
  static VecD exp(VecD x) { return vexp_nonpos(x); }
  static double units(double smax, double xu) { return smax * xu; }
  static double ratio(double dm) { return std::exp(dm); }
  static double nats(double m) { return m; }
};

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// s[j] = -inf for j in [lim, bcp) (bcp a multiple of the vector width), as whole-vector stores:
// the row is read back as vectors right after, and a vector load cannot be forwarded from the
// scalar stores of a loop (it waits for them to reach the cache).
template <class T>
inline void neg_inf_tail(T* s, int64_t lim, int64_t bcp) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  struct Tail {  // W zeros, then W -inf: lanes [n, W) of a load at W - n are -inf
    T v[2 * W];
    Tail() {
      for (int l = 0; l < 2 * W; ++l) v[l] = l < W ? T(0) : kNegInf<T>;
    }
  };
  static const Tail tail;
  int64_t j = lim / W * W;
  if (j < lim) {
    const int n = static_cast<int>(lim - j);
    storeu(s + j, load_partial(s + j, n) + loadu(tail.v + W - n));
    j += W;
  }
  for (; j < bcp; j += W) storeu(s + j, broadcast(kNegInf<T>));
}

// Row i of a score tile (keys [j0, j0 + bc), padded to bcp): returns the max of s (the max logit
// is xs times it; 0 when kMax is false: the backward, which subtracts lse, skips that pass) and the
// factor `xs` with logits = xs * s. Scale > 0 and no additive mask (the usual case): s is left raw
// but for -inf at masked, causal and padding columns, and xs = scale, so the exp pass folds the
// scale into its FMA (and an all-true bool mask gives the same bits as none). Otherwise s becomes
// logits in place (scale, additive mask, -inf at causal and padding columns), xs = 1.
template <class T, bool kMax = true>
T row_logits(const AttentionParams& p, T* s, int64_t bc, int64_t bcp, T scale, int64_t b,
             int64_t h, int64_t i, int64_t j0, T& xs) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  int64_t lim = bc;  // keys [0, lim) of this tile pass the causal test
  if (p.causal) lim = std::max<int64_t>(0, std::min<int64_t>(bc, i + p.Nk - p.Nq - j0 + 1));
  const int64_t mo = b * p.m_sb + h * p.m_sh + i * p.m_sq + j0 * p.m_sk;
  if (p.mask_kind != AttnMaskKind::kAdditive && scale > T(0)) {
    xs = scale;
  } else {
    xs = T(1);
    const V sc = broadcast(scale);
    for (int64_t j = 0; j < bcp; j += W) storeu(s + j, loadu(s + j) * sc);
  }
  if (p.mask_kind == AttnMaskKind::kBool) {
    const uint8_t* m = static_cast<const uint8_t*>(p.mask) + mo;
    for (int64_t j = 0; j < lim; ++j)
      if (!m[j * p.m_sk]) s[j] = kNegInf<T>;
  } else if (p.mask_kind == AttnMaskKind::kAdditive) {
    const T* m = static_cast<const T*>(p.mask) + mo;
    for (int64_t j = 0; j < lim; ++j) s[j] += m[j * p.m_sk];
  }
  neg_inf_tail(s, lim, bcp);
  if (!kMax) return T(0);
  V mx = broadcast(kNegInf<T>);
  for (int64_t j = 0; j < bcp; j += W) mx = max(mx, loadu(s + j));
  return hmax(mx);
}

// Dropout keep-mask of row (b, h, i), keys [j0, j0 + n): u[j] >= p keeps (selfsup/philox.h).
inline void dropout_uniforms(const AttentionParams& p, int64_t b, int64_t h, int64_t i, int64_t j0,
                             int64_t n, float* u) {
  const uint64_t off = (static_cast<uint64_t>((b * p.H + h) * p.Nq + i)) * p.Nk + j0;
  philox_uniform(p.seed, kAttentionDropoutStream, off, n, u);
}

// Runs `body(task)` for task in [0, total) on the pool with dynamic (atomic counter) scheduling;
// `make` builds one workspace per worker. Dynamic because causal tiles differ in cost.
template <class Make, class Body>
void run_tasks(int64_t total, Make make, Body body) {
  if (total <= 0) return;
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(num_threads(), total);
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    auto ws = make();
    for (;;) {
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= total) break;
      body(ws, t);
    }
    ws.finish();
  });
}

// Writes n values of row `src` to `dst` (n may be any size; the tail uses a masked store).
template <class T>
inline void store_row(T* dst, const T* src, int64_t n, T mul) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  const V m = broadcast(mul);
  int64_t j = 0;
  for (; j + W <= n; j += W) storeu(dst + j, loadu(src + j) * m);
  if (j < n) store_partial(dst + j, loadu(src + j) * m, static_cast<int>(n - j));
}

// A per-thread buffer of at least n elements, kept between calls (contents unspecified): the
// O(N d) workspaces would otherwise be fresh pages, faulted in and zeroed by the OS every call.
template <class T, int kSlot>
T* scratch(size_t n) {
  static thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Copies rows [0, rows) of a strided matrix into a zero-padded [rows, dp] buffer.
template <class T>
void pad_rows(T* dst, const T* src, int64_t rows, int64_t d, int64_t dp, int64_t src_ld) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * dp, src + r * src_ld, sizeof(T) * d);
    std::fill(dst + r * dp + d, dst + (r + 1) * dp, T(0));
  }
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------
template <class T>
Status forward_impl(const AttentionParams& p) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  const int64_t B = p.B, H = p.H, Hk = p.Hk, Nq = p.Nq, Nk = p.Nk, d = p.d, G = H / Hk;
  if (B == 0 || Nq == 0) return Status::Ok();
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  T* out = static_cast<T*>(p.out);
  T* lse = static_cast<T*>(p.lse);
  T* lse_lo = static_cast<T*>(p.lse_lo);
  const T scale = static_cast<T>(p.scale);
  constexpr int64_t P = 2 * W;  // packed panel width
  const int64_t dp = round_up(d, W), NkP = round_up(Nk, P), dP = round_up(d, P);

  // Task = (batch, head, chunk of query tiles); the worker packs its kv head's K^T
  // [NkP / P][d][P] (B operand of S = Q K^T) and V [dP / P][Nk][P] (B operand of O += P V) into
  // its own buffers (pack_kt / pack_v) and reuses them while consecutive tasks share the kv head.
  // Measured against packing every head up front in a separate pass: at N = 197 that pass wrote
  // all heads' copies (4.8 MiB at ViT-S, past L2) and read them back from memory (6-7% of the
  // forward); packed on demand they are still in L2 when the micro-kernels read them.
  // Chunks per head: enough tasks (>= 8 per thread) for the dynamic schedule to even out.
  const int64_t Br = tile_for(Nq, kBrF, 6);
  const int64_t nqt = (Nq + Br - 1) / Br;
  const int64_t chunks =
      std::min<int64_t>(nqt, std::max<int64_t>(1, (8 * num_threads() + B * H - 1) / (B * H)));

  struct Ws {
    std::vector<T> s, o, l;
    std::vector<double> m, mn;  // running max in SoftExp units (see there), and its new value
    std::vector<T> xu;          // the exp argument's factor per row
    std::vector<float> u;
    T *kt = nullptr, *vp = nullptr;
    int64_t cur = -1;  // the (b * Hk + hk) packed in kt / vp
    void finish() {}
  };
  const int64_t Bc = balanced(Nk, kBcF, P);
  const int64_t off = Nk - Nq;  // causal: key j visible to query i iff j <= i + off
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p.dropout));
  run_tasks(
      B * H * chunks,
      [&] {
        Ws ws;
        ws.kt = scratch<T, 0>(static_cast<size_t>(d * NkP));
        ws.vp = scratch<T, 1>(static_cast<size_t>(Nk * dP));
        ws.s.resize(Br * Bc);
        ws.o.resize(Br * dp);
        ws.m.resize(Br);
        ws.mn.resize(Br);
        ws.xu.resize(Br);
        ws.l.resize(Br);
        if (p.dropout > 0) ws.u.resize(Bc);
        return ws;
      },
      [&](Ws& ws, int64_t t) {
        const int64_t bh = t / chunks, chunk = t % chunks;
        const int64_t b = bh / H, h = bh % H, hk = h / G;
        if (ws.cur != b * Hk + hk) {
          pack_kt(ws.kt, k + b * p.k_sb + hk * p.k_sh, p.k_sr, Nk, d);
          pack_v(ws.vp, v + b * p.v_sb + hk * p.v_sh, p.v_sr, Nk, d);
          ws.cur = b * Hk + hk;
        }
        // Query tiles chunk, chunk + chunks, ... (strided, so under a causal mask every chunk
        // gets a similar mix of long and short rows), later tiles first.
        for (int64_t it = chunk; it < nqt; it += chunks) {
          const int64_t qt = nqt - 1 - it;
          const int64_t i0 = qt * Br, br = std::min(Br, Nq - i0);
          const T* qi = q + b * p.q_sb + h * p.q_sh + i0 * p.q_sr;
          const T* kth = ws.kt;
          const T* vh = ws.vp;
          T* S = ws.s.data();
          T* O = ws.o.data();
          std::fill(ws.m.begin(), ws.m.end(), kNegInf<double>);
          std::fill(ws.l.begin(), ws.l.end(), T(0));
          int64_t jend = Nk;
          if (p.causal) jend = std::max<int64_t>(0, std::min<int64_t>(Nk, i0 + br + off));
          for (int64_t j0 = 0; j0 < jend; j0 += Bc) {
            const int64_t bc = std::min(Bc, jend - j0), bcp = round_up(bc, W);
            // j0 is a multiple of Bc, hence of P: key panel j0 / P starts this tile.
            tile_gemm<T, false>(br, bcp, d, qi, p.q_sr, 1, kth + j0 * d, P, d * P, S, Bc);
            // Two passes over the rows: the new row maxima first, then the exponentials. Each
            // row's max -> units -> exp chain is serial; split, consecutive rows' chains overlap.
            for (int64_t r = 0; r < br; ++r) {
              T xs;
              const T smax = row_logits<T>(p, S + r * Bc, bc, bcp, scale, b, h, i0 + r, j0, xs);
              ws.xu[r] = static_cast<T>(xs * SoftExp<T>::kUnit);
              // m: the running max in SoftExp units (see there).
              ws.mn[r] = std::max(ws.m[r], SoftExp<T>::units(smax, ws.xu[r]));
            }
            for (int64_t r = 0; r < br; ++r) {
              T* s = S + r * Bc;
              const T xu = ws.xu[r];
              const double mold = ws.m[r], mnew = ws.mn[r];
              // A row with no visible key so far keeps m = -inf; exp(-inf - 0) = 0 keeps it at 0.
              const double muse = mnew == kNegInf<double> ? 0.0 : mnew;
              // Once a row's max has settled (most tiles) alpha is exactly 1: skip the scalar call.
              // Before the first visible key alpha only scales l = 0 and a zero O row: no call.
              T alpha = T(1);
              if (mold != muse) alpha = mold == kNegInf<double> ? T(0) : SoftExp<T>::ratio(mold - muse);
              const V xv = broadcast(xu);
              V sum = broadcast(T(0));
              if (std::is_same_v<T, double> || std::fabs(muse) <= 16777216.0) {
                // -m is exact in T (an integer below 2^24 for float)
                const V mv = broadcast(static_cast<T>(-muse));
                for (int64_t j = 0; j < bcp; j += W) {
                  const V e = SoftExp<T>::exp(fma(loadu(s + j), xv, mv));
                  storeu(s + j, e);
                  sum = sum + e;
                }
              } else if constexpr (std::is_same_v<T, float>) {
                // |logits| past ~1.2e7: float cannot hold m exactly, so t = s xu - m is formed in
                // double lanes and rounded once, from the product as this ISA's FMA sees it (see
                // units): ph its float rounding, pl = the FMA's residual (exact, or 0; NaN at the
                // -inf of masked and padding columns, where max keeps its second operand).
                const VecD md = broadcast(-muse);
                const Vec nobig = broadcast(-1e30f);
                for (int64_t j = 0; j < bcp; j += W) {
                  const Vec sv = loadu(s + j), ph = sv * xv, pl = max(fma(sv, xv, zero_f() - ph), nobig);
                  const VecD tlo = (widen_lo(ph) + md) + widen_lo(pl), thi = (widen_hi(ph) + md) + widen_hi(pl);
                  const Vec e = SoftExp<T>::exp(narrow(tlo, thi));
                  storeu(s + j, e);
                  sum = sum + e;
                }
              }
              ws.l[r] = ws.l[r] * alpha + hsum(sum);
              ws.m[r] = mnew;
              // Before a row's first visible key its O row is still zero: nothing to rescale
              // (at N <= Bc that is every row's only tile).
              if (alpha != T(1) && mold != kNegInf<double>) {
                const V av = broadcast(alpha);
                T* orow = O + r * dp;
                for (int64_t c = 0; c < dp; c += W) storeu(orow + c, loadu(orow + c) * av);
              }
              if (p.dropout > 0) {
                dropout_uniforms(p, b, h, i0 + r, j0, bc, ws.u.data());
                for (int64_t j = 0; j < bc; ++j)
                  s[j] = static_cast<double>(ws.u[j]) >= p.dropout ? s[j] * keep_scale : T(0);
              }
            }
            // The first key tile sets O (nothing to zero first: the rescale above skips rows
            // before their first tile); later ones add to it.
            if (j0 == 0)
              tile_gemm<T, false>(br, dp, bc, S, Bc, 1, vh + j0 * P, P, Nk * P, O, dp);
            else
              tile_gemm<T, true>(br, dp, bc, S, Bc, 1, vh + j0 * P, P, Nk * P, O, dp);
          }
          for (int64_t r = 0; r < br; ++r) {
            const int64_t i = i0 + r;
            const T l = ws.l[r];
            T* orow = out + b * p.o_sb + h * p.o_sh + i * p.o_sr;
            const int64_t li = (b * H + h) * Nq + i;
            if (l == T(0)) {  // every key masked: zeros, lse = -inf (documented)
              std::fill(orow, orow + d, T(0));
              lse[li] = kNegInf<T>;
              if (lse_lo) lse_lo[li] = T(0);
            } else {
              store_row(orow, O + r * dp, d, T(1) / l);
              const double exact = SoftExp<T>::nats(ws.m[r]) + std::log(static_cast<double>(l));
              lse[li] = static_cast<T>(exact);
              if (lse_lo) lse_lo[li] = static_cast<T>(exact - static_cast<double>(lse[li]));
            }
          }
        }
      });
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------
// ---- backward: the steps before the tile loop ----------------------------------------------

// dq is accumulated into, so it starts at zero.
template <class T>
void zero_dq(const AttentionParams& p) {
  T* dq = static_cast<T*>(p.dq);
  parallel_for(p.B * p.H, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t bh = lo; bh < hi; ++bh)
      for (int64_t i = 0; i < p.Nq; ++i)
        std::fill_n(dq + (bh / p.H) * p.q_sb + (bh % p.H) * p.q_sh + i * p.q_sr, p.d, T(0));
  });
}

// dk = dv = 0 (no query or no key: no task writes them).
template <class T>
void zero_dk_dv(const AttentionParams& p) {
  T* dk = static_cast<T*>(p.dk);
  T* dv = static_cast<T*>(p.dv);
  for (int64_t bh = 0; bh < p.B * p.Hk; ++bh)
    for (int64_t j = 0; j < p.Nk; ++j) {
      std::fill_n(dk + (bh / p.Hk) * p.k_sb + (bh % p.Hk) * p.k_sh + j * p.k_sr, p.d, T(0));
      std::fill_n(dv + (bh / p.Hk) * p.v_sb + (bh % p.Hk) * p.v_sh + j * p.v_sr, p.d, T(0));
    }
}

// Per query row, once instead of once per tile:
//  - D_i = <dO_i, O_i> - dlse_i (FlashAttention-2's D for dS; the dlse term is lse's own
//    gradient, d lse_i / d logit_ij = P_ij);
//  - -lse in SoftExp units as a hi + lo pair (Lh, Ll): lse (+ its saved low part) times the unit
//    is formed in double and split in two so the shift in P = exp(logit - lse) keeps lse's full
//    precision.
template <class T>
struct BwdRows {
  T* D = nullptr;
  T* Lh = nullptr;
  T* Ll = nullptr;
};

// <a, b> of n elements summed in double (the dP - D cancellation makes D's rounding count):
// float products are exact in double lanes. Vector lanes, not a scalar loop: at N = 65 the
// scalar loop was ~6% of a forward + backward.
inline double dot_double(const float* a, const float* b, int64_t n) {
  constexpr int W = VecOf<float>::W;
  VecD lo = broadcast(0.0), hi = broadcast(0.0);
  for (int64_t c = 0; c < n; c += W) {
    const int m = static_cast<int>(std::min<int64_t>(W, n - c));
    const Vec x = m == W ? loadu(a + c) : load_partial(a + c, m);
    const Vec y = m == W ? loadu(b + c) : load_partial(b + c, m);
    lo = fma(widen_lo(x), widen_lo(y), lo);
    hi = fma(widen_hi(x), widen_hi(y), hi);
  }
  return hsum(lo + hi);
}
inline double dot_double(const double* a, const double* b, int64_t n) {
  constexpr int W = VecOf<double>::W;
  VecD acc = broadcast(0.0);
  for (int64_t c = 0; c < n; c += W) {
    const int m = static_cast<int>(std::min<int64_t>(W, n - c));
    const VecD x = m == W ? loadu(a + c) : load_partial(a + c, m);
    acc = fma(x, m == W ? loadu(b + c) : load_partial(b + c, m), acc);
  }
  return hsum(acc);
}

template <class T>
BwdRows<T> backward_rows(const AttentionParams& p) {
  const int64_t H = p.H, Nq = p.Nq, d = p.d, rows = p.B * H * Nq;
  const T* o = static_cast<const T*>(p.out);
  const T* lse = static_cast<const T*>(p.lse);
  const T* lse_lo = static_cast<const T*>(p.lse_lo);
  const T* dout = static_cast<const T*>(p.dout);
  const T* dlse = static_cast<const T*>(p.dlse);
  BwdRows<T> r;
  r.D = scratch<T, 2>(static_cast<size_t>(rows));
  r.Lh = scratch<T, 5>(static_cast<size_t>(rows));
  r.Ll = scratch<T, 6>(static_cast<size_t>(rows));
  // Rows in memory order: heads innermost when a row's heads sit side by side (the packed
  // [B, N, H * d] layout of nn.MultiheadSelfAttention), so the pass streams O and dO.
  const bool heads_inner = p.o_sh < p.o_sr;
  parallel_for(rows, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t x = lo; x < hi; ++x) {
      const int64_t b = x / (H * Nq);
      const int64_t h = heads_inner ? x % H : x / Nq % H, i = heads_inner ? x / H % Nq : x % Nq;
      const int64_t row = (b * H + h) * Nq + i;
      const T* orow = o + b * p.o_sb + h * p.o_sh + i * p.o_sr;
      const T* grow = dout + b * p.o_sb + h * p.o_sh + i * p.o_sr;
      const double dl = dlse ? static_cast<double>(dlse[row]) : 0.0;
      r.D[row] = static_cast<T>(dot_double(orow, grow, d) - dl);
      const T L = lse[row], Llo = lse_lo ? lse_lo[row] : T(0);
      if constexpr (std::is_same_v<T, float>) {
        const double lu = (static_cast<double>(L) + Llo) * SoftExp<T>::kUnit;
        r.Lh[row] = static_cast<float>(-lu);
        r.Ll[row] = static_cast<float>(static_cast<double>(-r.Lh[row]) - lu);
      } else {
        r.Lh[row] = -L;
        r.Ll[row] = -Llo;
      }
    }
  });
  return r;
}

// Tile sizes and the task grid: Br query rows and Bc keys per tile, nkt key tiles, KG key tiles
// per task (up to kKgB, fewer when that would leave < 4 tasks per thread), ngr task groups.
// ngr == 1 (every head with N <= 256 at the usual batch sizes): a task sees all of its head's
// keys, so each query tile's dQ is complete when the tile is done and is stored into dq directly.
struct BwdTiling {
  int64_t Br, Bc, nkt, KG, ngr;
};

inline BwdTiling backward_tiling(const AttentionParams& p, int W) {
  BwdTiling t;
  t.Br = tile_for(p.Nq, kBrB, 6);
  t.Bc = tile_for(p.Nk, kBcB, 2 * W);
  t.nkt = (p.Nk + t.Bc - 1) / t.Bc;
  t.KG = std::max<int64_t>(1, std::min<int64_t>({kKgB, t.nkt,
                                                  (p.B * p.Hk * t.nkt) / std::max<int64_t>(1, 4 * num_threads())}));
  t.ngr = (t.nkt + t.KG - 1) / t.KG;
  return t;
}

// Per-slot state: tile buffers plus the dQ accumulator of the current (b, kv head) group, added
// into dq when the slot moves to another group (flush). Only the slot that runs a head's first
// task adds into that head's dq rows; a slot whose first head began in an earlier slot keeps that
// head's sum in `carry`, added after the parallel loop in slot order.
template <class T>
struct BwdWorker {
  const AttentionParams* p = nullptr;
  int64_t dp = 0, G = 0;
  std::vector<T> kt, vt, kr, qc, gc, dk, dv, s, dpm, pd, dql, dqb, carry;
  std::vector<float> u;
  int64_t cur = -1, row_lo = 0;  // current (b*Hk + hk) and first dQ row touched
  int64_t shared = -1, carry_lo = 0;  // the head whose sum goes to carry, and its first row

  BwdWorker(const AttentionParams& params, int64_t dpad, const BwdTiling& t)
      : p(&params), dp(dpad), G(params.H / params.Hk) {
    const int64_t d = params.d, KG = t.KG, Bc = t.Bc, Br = t.Br;
    kt.resize(KG * d * Bc);
    vt.resize(KG * d * Bc);
    kr.resize(KG * Bc * dp);
    qc.resize(Br * dp);
    gc.resize(Br * dp);
    dk.resize(KG * Bc * dp);
    dv.resize(KG * Bc * dp);
    s.resize(Br * Bc);
    dpm.resize(Br * Bc);
    dql.resize(Br * dp);
    if (params.dropout > 0) {
      pd.resize(Br * Bc);
      u.resize(Bc);
    }
    if (t.ngr > 1) dqb.assign(static_cast<size_t>(G * params.Nq * dp), T(0));
  }
  // dq rows [lo, Nq) of head `bhk` += buf (G heads of [Nq][dp]).
  void add_into_dq(int64_t bhk, int64_t lo, const T* buf) const {
    const int64_t Nqq = p->Nq, dd = p->d, b = bhk / p->Hk, hk = bhk % p->Hk;
    T* dqo = static_cast<T*>(p->dq);
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = hk * G + g;
      for (int64_t i = lo; i < Nqq; ++i) {
        T* dst = dqo + b * p->q_sb + h * p->q_sh + i * p->q_sr;
        const T* src = buf + (g * Nqq + i) * dp;
        for (int64_t c = 0; c < dd; ++c) dst[c] += src[c];
      }
    }
  }
  void flush() {
    if (cur < 0) return;
    const int64_t Nqq = p->Nq;
    if (cur == shared) {
      carry = dqb;
      carry_lo = row_lo;
    } else {
      add_into_dq(cur, row_lo, dqb.data());
    }
    for (int64_t g = 0; g < G; ++g)
      std::fill(dqb.begin() + (g * Nqq + row_lo) * dp, dqb.begin() + (g + 1) * Nqq * dp, T(0));
    cur = -1;
  }
};

// Splits tasks [0, total) into `slots` contiguous runs of about equal cost (cost(t) >= 0, a
// deterministic estimate): slot s runs [first[s], first[s + 1]). Static, so each slot's sums do
// not depend on scheduling; by cost, because causal key tiles late in a head are much cheaper.
template <class Cost>
std::vector<int64_t> split_by_cost(int64_t total, int64_t slots, Cost cost) {
  std::vector<double> prefix(static_cast<size_t>(total) + 1, 0.0);
  for (int64_t t = 0; t < total; ++t) prefix[t + 1] = prefix[t] + cost(t);
  std::vector<int64_t> first(static_cast<size_t>(slots) + 1, total);
  first[0] = 0;
  for (int64_t s = 1; s < slots; ++s) {
    const double target = prefix[total] * static_cast<double>(s) / static_cast<double>(slots);
    const int64_t t = std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin();
    first[s] = std::max(first[s - 1], std::min(total, t));
  }
  return first;
}

// C[m x n] (a local tile, row stride ldc) summed over several products: the first one overwrites
// C; the last one, when `out` is given, writes C + A B into out (row stride ldo) instead of C,
// so the sum reaches dq / dk / dv without a separate copy.
template <class T>
void product_sum(bool first, T* out, int64_t ldo, int64_t m, int64_t n, int64_t kc, const T* A,
                 int64_t ars, int64_t aps, const T* Bm, int64_t ldb, int64_t pstride, T* C, int64_t ldc) {
  T* dst = out ? out : C;
  const int64_t ldd = out ? ldo : ldc;
  if (first)
    tile_gemm<T, false>(m, n, kc, A, ars, aps, Bm, ldb, pstride, dst, ldd);
  else
    tile_gemm<T, true>(m, n, kc, A, ars, aps, Bm, ldb, pstride, dst, ldd, C, ldc);
}

template <class T>
Status backward_impl(const AttentionParams& p) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  const int64_t B = p.B, H = p.H, Hk = p.Hk, Nq = p.Nq, Nk = p.Nk, d = p.d, G = H / Hk;
  if (B == 0) return Status::Ok();
  if (Nq == 0 || Nk == 0) {
    zero_dq<T>(p);
    zero_dk_dv<T>(p);
    return Status::Ok();
  }
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* lse = static_cast<const T*>(p.lse);
  const T* dout = static_cast<const T*>(p.dout);
  T* dk = static_cast<T*>(p.dk);
  T* dv = static_cast<T*>(p.dv);
  const T scale = static_cast<T>(p.scale);
  const int64_t dp = round_up(d, W);
  const BwdRows<T> rows = backward_rows<T>(p);
  const T *D = rows.D, *Lh = rows.Lh, *Ll = rows.Ll;
  // Q, dO and K tiles are B operands (dK += dS^T Q, dV += P^T dO, dQ += dS K): copied into
  // contiguous [rows][dp] buffers when d needs padding or their rows are not contiguous. In the
  // packed qkv layout rows are 4.5 KiB apart at ViT-S, each on its own page, and walking a panel
  // down 65 of them was ~20% of the backward (data TLB); the copy is a small part of the
  // first read.
  const bool pad = dp != d;
  const bool cq = pad || p.q_sr != d, cg = pad || p.o_sr != d, ck = pad || p.k_sr != d;
  const BwdTiling tiling = backward_tiling(p, W);
  const int64_t Br = tiling.Br, Bc = tiling.Bc, nkt = tiling.nkt, KG = tiling.KG, ngr = tiling.ngr;
  const int64_t off = Nk - Nq;
  // direct: dq rows are stored, not accumulated, and every row is stored except the causal rows
  // that see no key (Nq > Nk), so dq needs zeroing only in that case.
  const bool direct = ngr == 1;
  if (!direct || (p.causal && off < 0)) zero_dq<T>(p);
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p.dropout));
  using Ws = BwdWorker<T>;

  // Task = (batch, kv head, group of KG key tiles). For each query tile the group's key tiles
  // run back to back while Q_i, dO_i and a local dQ_i tile stay in L1, and dQ_i is added into the
  // slot's per-head buffer once per group: with one key tile per task, that buffer (1 MiB per
  // head at N = 4096, past L2 next to Q and dO) was read and written for every tile pair.
  const int64_t total = B * Hk * ngr;
  const int64_t slots = std::min<int64_t>(num_threads(), total);
  // Query rows x key tiles each task visits (causal tiles start at row kt * Bc - off).
  const std::vector<int64_t> first = split_by_cost(total, slots, [&](int64_t t) {
    double c = 0;
    for (int64_t kt = (t % ngr) * KG; kt < std::min(nkt, (t % ngr + 1) * KG); ++kt)
      c += static_cast<double>(Nq - (p.causal ? std::min(Nq, std::max<int64_t>(0, kt * Bc - off)) : 0));
    return c + 1;
  });
  auto body = [&](Ws& ws, int64_t t) {
    // (b, kv head)-major so a slot's dQ buffer is flushed only when its head changes.
    const int64_t bhk = t / ngr, kt0 = (t % ngr) * KG, kt1 = std::min(nkt, kt0 + KG);
    const int64_t b = bhk / Hk, hk = bhk % Hk;
    const int64_t jg0 = kt0 * Bc, jg1 = std::min(Nk, kt1 * Bc);
    // First query row that sees key jg0 under the causal mask; earlier rows are skipped.
    const int64_t istart = p.causal ? std::max<int64_t>(0, jg0 - off) : 0;
    if (istart >= Nq) {  // no query sees these keys
      for (int64_t j = jg0; j < jg1; ++j) {
        std::fill_n(dk + b * p.k_sb + hk * p.k_sh + j * p.k_sr, d, T(0));
        std::fill_n(dv + b * p.v_sb + hk * p.v_sh + j * p.v_sr, d, T(0));
      }
      return;
    }
    const int64_t qt0 = istart / Br;
    if (!direct) {
      if (ws.cur != bhk) {
        ws.flush();
        ws.cur = bhk;
        ws.row_lo = qt0 * Br;
      }
      ws.row_lo = std::min(ws.row_lo, qt0 * Br);
    }

    // Each key tile as K^T and V^T in the forward's column panels (pack_kt: [Bc / 2W][d][2W],
    // zero columns past bc) and, when d needs padding, K rows ([bc][dp]); otherwise the B operand
    // of dQ += dS K is K read in place.
    for (int64_t kt = kt0; kt < kt1; ++kt) {
      const int64_t x = kt - kt0, j0 = kt * Bc, bc = std::min(Bc, Nk - j0);
      const T* kj = k + b * p.k_sb + hk * p.k_sh + j0 * p.k_sr;
      const T* vj = v + b * p.v_sb + hk * p.v_sh + j0 * p.v_sr;
      pack_kt(ws.kt.data() + x * d * Bc, kj, p.k_sr, bc, d);
      pack_kt(ws.vt.data() + x * d * Bc, vj, p.v_sr, bc, d);
      if (ck) pad_rows(ws.kr.data() + x * Bc * dp, kj, bc, d, dp, p.k_sr);
    }
    bool started[kKgB] = {};  // key tile x has had its first dK / dV product
    T* S = ws.s.data();
    T* DP = ws.dpm.data();
    T* PD = p.dropout > 0 ? ws.pd.data() : S;
    T* DQ = ws.dql.data();

    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = hk * G + g, bh = b * H + h;
      for (int64_t i0 = qt0 * Br; i0 < Nq; i0 += Br) {
        const int64_t br = std::min(Br, Nq - i0);
        const T* qi = q + b * p.q_sb + h * p.q_sh + i0 * p.q_sr;
        const T* gi = dout + b * p.o_sb + h * p.o_sh + i0 * p.o_sr;
        if (cq) pad_rows(ws.qc.data(), qi, br, d, dp, p.q_sr);
        if (cg) pad_rows(ws.gc.data(), gi, br, d, dp, p.o_sr);
        const T* qb = cq ? ws.qc.data() : qi;
        const T* gb = cg ? ws.gc.data() : gi;
        const int64_t qb_ld = cq ? dp : p.q_sr, gb_ld = cg ? dp : p.o_sr;
        // Causal: key tiles from kt_end on are seen by no row of this query tile. Every query
        // tile visited sees key jg0 (it starts at or after istart), and the last one, holding row
        // Nq - 1, sees every key: its products are the last of each dK / dV sum.
        const int64_t kt_end = p.causal ? std::min(kt1, (i0 + br - 1 + off) / Bc + 1) : kt1;
        const bool last_q = g == G - 1 && i0 + br == Nq;
        for (int64_t kt = kt0; kt < kt_end; ++kt) {
          const int64_t x = kt - kt0, j0 = kt * Bc, bc = std::min(Bc, Nk - j0), bcp = round_up(bc, W);
          const T* ktx = ws.kt.data() + x * d * Bc;
          const T* vtx = ws.vt.data() + x * d * Bc;
          tile_gemm<T, false>(br, bcp, d, qb, qb_ld, 1, ktx, 2 * W, d * 2 * W, S, Bc);
          tile_gemm<T, false>(br, bcp, d, gb, gb_ld, 1, vtx, 2 * W, d * 2 * W, DP, Bc);
          for (int64_t r = 0; r < br; ++r) {
            const int64_t i = i0 + r;
            T* s = S + r * Bc;
            T* dps = DP + r * Bc;
            const T L = lse[bh * Nq + i];
            if (L == kNegInf<T>) {  // fully masked row: P = 0, no gradient
              std::fill_n(s, bcp, T(0));
              std::fill_n(dps, bcp, T(0));
              if (p.dropout > 0) std::fill_n(PD + r * Bc, bcp, T(0));
              continue;
            }
            T xs;
            row_logits<T, false>(p, s, bc, bcp, scale, b, h, i, j0, xs);
            // P = exp(logit - lse) in SoftExp units (Lh + Ll = -lse * unit, see above).
            const V lv = broadcast(Lh[bh * Nq + i]), lo = broadcast(Ll[bh * Nq + i]);
            const V xv = broadcast(static_cast<T>(xs * SoftExp<T>::kUnit));
            for (int64_t j = 0; j < bcp; j += W) storeu(s + j, SoftExp<T>::exp(fma(loadu(s + j), xv, lv) + lo));
            if (p.dropout > 0) {
              dropout_uniforms(p, b, h, i, j0, bc, ws.u.data());
              T* pdr = PD + r * Bc;
              for (int64_t j = 0; j < bcp; ++j) {
                const bool keep = j < bc && static_cast<double>(ws.u[j]) >= p.dropout;
                pdr[j] = keep ? s[j] * keep_scale : T(0);
                dps[j] = keep ? dps[j] * keep_scale : T(0);
              }
            }
            // dS (w.r.t. the raw scores Q K^T) = scale * P * (dP - D_i), written over dP.
            const V dv_ = broadcast(D[bh * Nq + i]), sc = broadcast(scale);
            for (int64_t j = 0; j < bcp; j += W)
              storeu(dps + j, loadu(s + j) * (loadu(dps + j) - dv_) * sc);
          }
          // dV += P_drop^T dO, dK += dS^T Q (A read transposed in place), dQ_i += dS K; the
          // last product of a sum writes it into dv / dk / dq when their rows need no padding.
          const bool kv_out = last_q && !pad, q_out = direct && !pad && kt == kt_end - 1;
          T* dvo = dv + b * p.v_sb + hk * p.v_sh + j0 * p.v_sr;
          T* dko = dk + b * p.k_sb + hk * p.k_sh + j0 * p.k_sr;
          T* dqo = static_cast<T*>(p.dq) + b * p.q_sb + h * p.q_sh + i0 * p.q_sr;
          product_sum(!started[x], kv_out ? dvo : nullptr, p.v_sr, bc, dp, br, PD, 1, Bc, gb, gb_ld, 2 * W,
                      ws.dv.data() + x * Bc * dp, dp);
          product_sum(!started[x], kv_out ? dko : nullptr, p.k_sr, bc, dp, br, DP, 1, Bc, qb, qb_ld, 2 * W,
                      ws.dk.data() + x * Bc * dp, dp);
          started[x] = true;
          const T* kb = ck ? ws.kr.data() + x * Bc * dp : k + b * p.k_sb + hk * p.k_sh + j0 * p.k_sr;
          product_sum(kt == kt0, q_out ? dqo : nullptr, p.q_sr, br, dp, bc, DP, Bc, 1, kb, ck ? dp : p.k_sr,
                      2 * W, DQ, dp);
        }
        if (direct) {
          if (pad) {
            T* dqo = static_cast<T*>(p.dq) + b * p.q_sb + h * p.q_sh + i0 * p.q_sr;
            for (int64_t r = 0; r < br; ++r) std::memcpy(dqo + r * p.q_sr, DQ + r * dp, sizeof(T) * d);
          }
        } else {
          T* dqrow = ws.dqb.data() + (g * Nq + i0) * dp;
          for (int64_t c = 0; c < br * dp; c += W) storeu(dqrow + c, loadu(dqrow + c) + loadu(DQ + c));
        }
      }
    }
    if (pad)
      for (int64_t j = jg0; j < jg1; ++j) {
        std::memcpy(dk + b * p.k_sb + hk * p.k_sh + j * p.k_sr, ws.dk.data() + (j - jg0) * dp, sizeof(T) * d);
        std::memcpy(dv + b * p.v_sb + hk * p.v_sh + j * p.v_sr, ws.dv.data() + (j - jg0) * dp, sizeof(T) * d);
      }
  };
  std::vector<std::unique_ptr<Ws>> wss(static_cast<size_t>(slots));
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t sl = s0; sl < s1; ++sl) {
      auto ws = std::make_unique<Ws>(p, dp, tiling);
      const int64_t t0 = first[sl], t1 = first[sl + 1];
      if (t0 % ngr != 0) ws->shared = t0 / ngr;  // this head's first task ran in an earlier slot
      for (int64_t t = t0; t < t1; ++t) body(*ws, t);
      ws->flush();
      ws->dqb = {};  // keep only what the merge below needs
      wss[sl] = std::move(ws);
    }
  });
  // Shared heads: the owner's sum is already in dq; add the later slots' sums in slot order.
  for (const auto& ws : wss)
    if (!ws->carry.empty()) ws->add_into_dq(ws->shared, ws->carry_lo, ws->carry.data());
  return Status::Ok();
}

}  // namespace

Status attention_forward(const AttentionParams& p) {
  SELFSUP_RETURN_IF_ERROR(attention_validate(p, false));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return forward_impl<T>(p); });
}

Status attention_backward(const AttentionParams& p) {
  SELFSUP_RETURN_IF_ERROR(attention_validate(p, true));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return backward_impl<T>(p); });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
