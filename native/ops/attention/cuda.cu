// Fused attention on CUDA, forward and backward side by side: FlashAttention-2 (Dao,
// "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning", 2023).
//
// Forward (Algorithm 1): a block owns a tile of Br query rows of one (batch, head) and streams the
// K/V tiles of its kv head (h / G, GQA) through shared memory, keeping a running row max m, row
// sum l and an unnormalized O accumulator, rescaled by 2^(m_old - m_new) when the max grows. It
// writes O / l and lse = m + log(l). Everything runs in base 2: log2(e) is folded into the logits.
//
// Backward (Algorithm 2, with dQ in its own pass): P = exp(logit - lse) is recomputed from the
// saved lse; D_i = <dO_i, O_i> - dlse_i is recomputed by every block that needs it (O(Br d) next
// to the O(Br Bc d) products of a tile pair, so no workspace). One kernel owns a tile of keys of
// one (batch, kv head) and walks every query tile of the G query heads sharing it: dV += P^T dO,
// dK += dS^T Q with dS = P * (dP - D) * scale, dP = dO V^T. A second kernel owns a tile of query
// rows and walks the key tiles: dQ += dS K. dS is computed twice (once per kernel) instead of
// adding dQ with float atomics: every output element has exactly one writer and every sum runs in
// a fixed order, so results are bit-reproducible.
//
// Two kernel families:
//  - SIMT (float32, and bfloat16 / float16 at head dims without a tensor-core kernel): 32 x 32
//    tiles, 256 threads, operands in float in shared memory. Thread t works on row t / 8 of a
//    tile and on columns t % 8 + 8 u, so a row's 8 threads are 8 lanes of one warp and row
//    reductions are 3 shuffles.
//  - tensor cores (bfloat16 / float16, d = 64 or 128): mma.sync.m16n8k16 with float32
//    accumulation, 4 warps, each warp owning 16 rows of the tile. The forward keeps P in registers
//    (the accumulator fragments of S = Q K^T are the A fragments of P V, the FlashAttention-2
//    register layout). Tiles stay row-major in shared memory: an operand whose reduction dimension
//    is contiguous there (Q, K, dO, V as the B of Q K^T / dO V^T) is read as 32-bit pairs, one
//    whose reduction runs down the rows (V in P V, dO / Q in P^T dO / dS^T Q, K in dS K) through
//    ldmatrix .trans. Row strides are padded by 8 elements: the 8 rows a fragment or an ldmatrix
//    phase reads fall in 8 distinct 4-bank groups.
//
// Dropout draws the CPU kernel's Philox stream (params.h): keep (b, h, i, j) iff
// uniform(seed, 2, ((b H + h) Nq + i) Nk + j) >= p, i.e. word >> 8 >= ceil(p 2^24) (exact, since
// the uniform is (word >> 8) 2^-24).
#include "ops/attention/cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "cuda/memory.h"
#include "selfsup/philox.h"

namespace selfsup {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr double kLn2 = 0.69314718055994531;

// What the kernels read: the params with sizes narrowed to int (checked on the host) and the
// derived scalars. Passed by value (kernel parameter space).
struct Args {
  const void *q, *k, *v, *mask, *out, *dout;
  void *o, *dq, *dk, *dv;
  float *lse, *lse_lo;  // forward output (lse_lo optional)
  const float *lse_in, *lse_lo_in, *dlse;  // backward input (the last two optional)
  int64_t q_sb, q_sh, q_sr, k_sb, k_sh, k_sr, v_sb, v_sh, v_sr, o_sb, o_sh, o_sr;
  int64_t m_sb, m_sh, m_sq, m_sk;
  int B, H, Hk, G, Nq, Nk, d;
  int mask_kind;
  bool causal, drop, vec;
  float scale, keep_scale;
  uint32_t thr;  // dropout: keep iff word >> 8 >= thr
  uint64_t seed;
};

// ---- element types ---------------------------------------------------------------------------
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <class T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

// ---- shared helpers --------------------------------------------------------------------------
// Max / sum over the W lanes of an aligned group (W a power of two <= 32); every lane of the warp
// must call it.
template <int W>
__device__ __forceinline__ float group_max(float v) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <int W, class F>
__device__ __forceinline__ F group_sum(F v) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The logit of (b, h, i, j) in base-2 units, (scale * s + additive mask) * log2(e), from the raw
// score s = <q_i, k_j>; -inf when the pair takes no part: a padding row or column of a tile,
// past the causal diagonal (bottom-right aligned), or masked out by a boolean mask.
template <class T>
__device__ __forceinline__ float logit2(const Args& a, float s, int b, int h, int i, int j) {
  if (i >= a.Nq || j >= a.Nk || (a.causal && j > i + (a.Nk - a.Nq))) return -INFINITY;
  float x = s * a.scale;
  if (a.mask_kind != static_cast<int>(AttnMaskKind::kNone)) {
    const int64_t mo = b * a.m_sb + h * a.m_sh + static_cast<int64_t>(i) * a.m_sq +
                       static_cast<int64_t>(j) * a.m_sk;
    if (a.mask_kind == static_cast<int>(AttnMaskKind::kBool)) {
      if (!static_cast<const uint8_t*>(a.mask)[mo]) return -INFINITY;
    } else {
      x += to_f(static_cast<const T*>(a.mask)[mo]);
    }
  }
  return x * kLog2e;
}

// The dropout keep decision of (b, h, i, j) (the CPU kernel's Philox offsets).
__device__ __forceinline__ bool keep(const Args& a, int b, int h, int i, int j) {
  const uint64_t off =
      ((static_cast<uint64_t>(b) * a.H + h) * static_cast<uint64_t>(a.Nq) + i) * a.Nk + j;
  return (philox_word(a.seed, kAttentionDropoutStream, off) >> 8) >= a.thr;
}

// Per query row, computed by the W lanes of a group (lane `part` of W): D = <dO_i, O_i> - dlse_i
// (double accumulation: dP - D cancels) and lse in base-2 units, +inf where no probability is
// nonzero (a padding row, or a fully masked row whose lse is -inf): P is then 0.
template <class T, int W>
__device__ __forceinline__ void row_stats(const Args& a, int b, int h, int i, int part, float& D,
                                          float& L) {
  double acc = 0;
  if (i < a.Nq) {
    const int64_t ro = b * a.o_sb + h * a.o_sh + static_cast<int64_t>(i) * a.o_sr;
    const T* o = static_cast<const T*>(a.out) + ro;
    const T* g = static_cast<const T*>(a.dout) + ro;
    for (int c = part; c < a.d; c += W) acc += static_cast<double>(to_f(o[c])) * to_f(g[c]);
  }
  acc = group_sum<W>(acc);
  L = INFINITY;
  D = 0.f;
  if (i < a.Nq) {
    const int64_t li = (static_cast<int64_t>(b) * a.H + h) * a.Nq + i;
    D = static_cast<float>(acc - (a.dlse ? static_cast<double>(a.dlse[li]) : 0.0));
    const float lse = a.lse_in[li];
    if (lse != -INFINITY)
      L = static_cast<float>((static_cast<double>(lse) + (a.lse_lo_in ? a.lse_lo_in[li] : 0.f)) * kLog2e);
  }
}

// P and the two backward products of one score: P = 2^(x - L) (0 when L is +inf or -inf),
// pd = P with dropout applied (the weight in dV = P^T dO), ds = scale P (dP' - D) with dP' the
// dropped-out dP (the gradient w.r.t. the raw score).
template <class T>
__device__ __forceinline__ void probs(const Args& a, float s, float dp, float L, float D, int b,
                                      int h, int i, int j, float& pd, float& ds) {
  const float P = isinf(L) ? 0.f : exp2f(logit2<T>(a, s, b, h, i, j) - L);
  pd = P;
  if (a.drop) {
    const bool kp = keep(a, b, h, i, j);
    pd = kp ? P * a.keep_scale : 0.f;
    dp = kp ? dp * a.keep_scale : 0.f;
  }
  ds = P * (dp - D) * a.scale;
}

// The final row values of the forward: O / l and lse = m ln 2 + log l (in double, like the CPU
// kernel; lse_lo gets the float rounding residual). l = 0: no visible key, O = 0 and lse = -inf.
__device__ __forceinline__ void store_lse(const Args& a, int64_t li, float m, float l) {
  if (l == 0.f) {
    a.lse[li] = -INFINITY;
    if (a.lse_lo) a.lse_lo[li] = 0.f;
    return;
  }
  const double exact = static_cast<double>(m) * kLn2 + log(static_cast<double>(l));
  a.lse[li] = static_cast<float>(exact);
  if (a.lse_lo) a.lse_lo[li] = static_cast<float>(exact - static_cast<double>(a.lse[li]));
}

// Causal: the keys [0, jend) some row of the query tile [i0, i0 + br) sees.
__device__ __forceinline__ int key_end(const Args& a, int i0, int br) {
  if (!a.causal) return a.Nk;
  return max(0, min(a.Nk, i0 + br + (a.Nk - a.Nq)));
}
// Causal: the first query row that sees key j0.
__device__ __forceinline__ int query_start(const Args& a, int j0) {
  return a.causal ? max(0, j0 - (a.Nk - a.Nq)) : 0;
}

// The block of a query-tile kernel: (b, h) = (bh / H, bh % H), rows [i0, i0 + br), and the
// tile's q / dout rows and its kv head's k / v (GQA: head h reads kv head h / G).
template <class T>
struct QTile {
  int bh, b, h, i0;
  const T *q, *dout, *k, *v;
  __device__ QTile(const Args& a, int br) {
    const int nqt = (a.Nq + br - 1) / br;
    bh = blockIdx.x / nqt, i0 = (blockIdx.x % nqt) * br;
    b = bh / a.H, h = bh % a.H;
    const int hk = h / a.G;
    q = static_cast<const T*>(a.q) + b * a.q_sb + h * a.q_sh + i0 * a.q_sr;
    dout = static_cast<const T*>(a.dout) + b * a.o_sb + h * a.o_sh + i0 * a.o_sr;
    k = static_cast<const T*>(a.k) + b * a.k_sb + hk * a.k_sh;
    v = static_cast<const T*>(a.v) + b * a.v_sb + hk * a.v_sh;
  }
};

// =============================================================================================
// SIMT kernels: 32 x 32 tiles of float in shared memory, row stride d + 1 (odd for even d, so the
// 8 rows a warp reads at one column fall in distinct banks).
// =============================================================================================
constexpr int kSR = 32, kST = 256, kSP = 33;  // tile rows / keys, threads, score-tile stride

// rows x d tile of a strided [rows, d] matrix into float shared memory; rows past `valid` are 0.
template <class T>
__device__ void load_f(float* s, int ld, const T* g, int64_t sr, int rows, int valid, int d) {
  for (int e = threadIdx.x; e < rows * d; e += blockDim.x) {
    const int r = e / d, c = e - r * d;
    s[r * ld + c] = r < valid ? to_f(g[r * sr + c]) : 0.f;
  }
}

// s[u] = <X[row], Y[l8 + 8 u]> for u < 4 (X, Y float tiles with row stride ld).
__device__ __forceinline__ void dots4(const float* xrow, const float* Y, int ld, int l8, int d,
                                      float s[4]) {
#pragma unroll
  for (int u = 0; u < 4; ++u) s[u] = 0.f;
  for (int c = 0; c < d; ++c) {
    const float x = xrow[c];
#pragma unroll
    for (int u = 0; u < 4; ++u) s[u] = fmaf(x, Y[(l8 + 8 * u) * ld + c], s[u]);
  }
}

// acc[c] += sum_{r < 32} w[r * ws] * X[r][l8 + 8 c]: one row of a (32 x 32) x (32 x d) product
// (ws = 1: w is a row of a score tile; ws = kSP: a column, i.e. a row of its transpose).
template <int NC>
__device__ __forceinline__ void rowmul(float (&acc)[NC], const float* w, int ws, const float* X,
                                       int ld, int l8, int d) {
  for (int r = 0; r < kSR; ++r) {
    const float wr = w[r * ws];
#pragma unroll
    for (int c = 0; c < NC; ++c)
      if (l8 + 8 * c < d) acc[c] = fmaf(wr, X[r * ld + l8 + 8 * c], acc[c]);
  }
}

template <class T, int NC>
__device__ __forceinline__ void store_row(T* dst, const float (&acc)[NC], float mul, int l8, int d) {
#pragma unroll
  for (int c = 0; c < NC; ++c)
    if (l8 + 8 * c < d) dst[l8 + 8 * c] = from_f<T>(acc[c] * mul);
}

// Forward. Block = (b, h, query tile); NC = columns of O per thread (d <= 8 NC).
template <class T, int NC>
__global__ void __launch_bounds__(kST) fwd_simt(Args a) {
  extern __shared__ float sm[];
  const int ld = a.d + 1;
  float* Qs = sm;
  float* Ks = Qs + kSR * ld;
  float* Vs = Ks + kSR * ld;
  float* Ps = Vs + kSR * ld;
  const QTile<T> t(a, kSR);
  const int bh = t.bh, b = t.b, h = t.h, i0 = t.i0;
  const int r = threadIdx.x >> 3, l8 = threadIdx.x & 7, i = i0 + r;
  const T *k = t.k, *v = t.v;
  load_f(Qs, ld, t.q, a.q_sr, kSR, a.Nq - i0, a.d);
  float acc[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) acc[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  const int jend = key_end(a, i0, kSR);
  for (int j0 = 0; j0 < jend; j0 += kSR) {
    __syncthreads();  // the previous tile's readers are done
    load_f(Ks, ld, k + j0 * a.k_sr, a.k_sr, kSR, a.Nk - j0, a.d);
    load_f(Vs, ld, v + j0 * a.v_sr, a.v_sr, kSR, a.Nk - j0, a.d);
    __syncthreads();
    float s[4];
    dots4(Qs + r * ld, Ks, ld, l8, a.d, s);
    float mx = -INFINITY;
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      s[u] = logit2<T>(a, s[u], b, h, i, j0 + l8 + 8 * u);
      mx = fmaxf(mx, s[u]);
    }
    const float mnew = fmaxf(m, group_max<8>(mx));
    const float muse = mnew == -INFINITY ? 0.f : mnew;  // no visible key yet: everything stays 0
    const float alpha = exp2f(m - muse);
    float sum = 0.f;
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float pv = exp2f(s[u] - muse);
      sum += pv;
      if (a.drop) pv = keep(a, b, h, i, j0 + l8 + 8 * u) ? pv * a.keep_scale : 0.f;
      Ps[r * kSP + l8 + 8 * u] = pv;
    }
    l = l * alpha + group_sum<8>(sum);
    m = mnew;
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] *= alpha;
    __syncwarp();  // row r of Ps is written and read by the same 8 lanes
    rowmul(acc, Ps + r * kSP, 1, Vs, ld, l8, a.d);
  }
  if (i < a.Nq) {
    store_row(static_cast<T*>(a.o) + b * a.o_sb + h * a.o_sh + static_cast<int64_t>(i) * a.o_sr, acc,
              l > 0.f ? 1.f / l : 0.f, l8, a.d);
    if (l8 == 0) store_lse(a, static_cast<int64_t>(bh) * a.Nq + i, m, l);
  }
}

// Backward, dK and dV. Block = (b, kv head, key tile); walks the query tiles of its G heads.
template <class T, int NC>
__global__ void __launch_bounds__(kST) dkdv_simt(Args a) {
  extern __shared__ float sm[];
  const int ld = a.d + 1;
  float* Ks = sm;
  float* Vs = Ks + kSR * ld;
  float* Qs = Vs + kSR * ld;
  float* Gs = Qs + kSR * ld;  // dO
  float* Pd = Gs + kSR * ld;  // [query][key] dropped-out P
  float* Ss = Pd + kSR * kSP;  // [query][key] dS
  const int nkt = (a.Nk + kSR - 1) / kSR;
  const int bhk = blockIdx.x / nkt, j0 = (blockIdx.x % nkt) * kSR;
  const int b = bhk / a.Hk, hk = bhk % a.Hk;
  const int r = threadIdx.x >> 3, l8 = threadIdx.x & 7;
  load_f(Ks, ld, static_cast<const T*>(a.k) + b * a.k_sb + hk * a.k_sh + j0 * a.k_sr, a.k_sr, kSR,
         a.Nk - j0, a.d);
  load_f(Vs, ld, static_cast<const T*>(a.v) + b * a.v_sb + hk * a.v_sh + j0 * a.v_sr, a.v_sr, kSR,
         a.Nk - j0, a.d);
  float dk[NC], dv[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) dk[c] = dv[c] = 0.f;
  const int ifirst = query_start(a, j0) / kSR * kSR;
  for (int g = 0; g < a.G; ++g) {
    const int h = hk * a.G + g;
    for (int i0 = ifirst; i0 < a.Nq; i0 += kSR) {
      __syncthreads();  // the previous tile's readers are done (and K, V are loaded)
      const int64_t qo = b * a.q_sb + h * a.q_sh + i0 * a.q_sr;
      const int64_t go = b * a.o_sb + h * a.o_sh + i0 * a.o_sr;
      load_f(Qs, ld, static_cast<const T*>(a.q) + qo, a.q_sr, kSR, a.Nq - i0, a.d);
      load_f(Gs, ld, static_cast<const T*>(a.dout) + go, a.o_sr, kSR, a.Nq - i0, a.d);
      float D, L;  // of query row r, the row this thread scores below
      row_stats<T, 8>(a, b, h, i0 + r, l8, D, L);
      __syncthreads();
      // This thread: query row r, keys l8 + 8 u.
      float s[4], dp[4];
      dots4(Qs + r * ld, Ks, ld, l8, a.d, s);
      dots4(Gs + r * ld, Vs, ld, l8, a.d, dp);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int jl = l8 + 8 * u;
        probs<T>(a, s[u], dp[u], L, D, b, h, i0 + r, j0 + jl, Pd[r * kSP + jl], Ss[r * kSP + jl]);
      }
      __syncthreads();
      // This thread: key row r, columns l8 + 8 c. dV += Pd^T dO, dK += dS^T Q.
      rowmul(dv, Pd + r, kSP, Gs, ld, l8, a.d);
      rowmul(dk, Ss + r, kSP, Qs, ld, l8, a.d);
    }
  }
  const int j = j0 + r;
  if (j < a.Nk) {
    store_row(static_cast<T*>(a.dk) + b * a.k_sb + hk * a.k_sh + static_cast<int64_t>(j) * a.k_sr, dk,
              1.f, l8, a.d);
    store_row(static_cast<T*>(a.dv) + b * a.v_sb + hk * a.v_sh + static_cast<int64_t>(j) * a.v_sr, dv,
              1.f, l8, a.d);
  }
}

// Backward, dQ. Block = (b, h, query tile); walks the key tiles.
template <class T, int NC>
__global__ void __launch_bounds__(kST) dq_simt(Args a) {
  extern __shared__ float sm[];
  const int ld = a.d + 1;
  float* Qs = sm;
  float* Gs = Qs + kSR * ld;
  float* Ks = Gs + kSR * ld;
  float* Vs = Ks + kSR * ld;
  float* Ss = Vs + kSR * ld;
  const QTile<T> t(a, kSR);
  const int b = t.b, h = t.h, i0 = t.i0;
  const int r = threadIdx.x >> 3, l8 = threadIdx.x & 7, i = i0 + r;
  const T *k = t.k, *v = t.v;
  load_f(Qs, ld, t.q, a.q_sr, kSR, a.Nq - i0, a.d);
  load_f(Gs, ld, t.dout, a.o_sr, kSR, a.Nq - i0, a.d);
  float D, L;
  row_stats<T, 8>(a, b, h, i, l8, D, L);
  float acc[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) acc[c] = 0.f;
  const int jend = key_end(a, i0, kSR);
  for (int j0 = 0; j0 < jend; j0 += kSR) {
    __syncthreads();
    load_f(Ks, ld, k + j0 * a.k_sr, a.k_sr, kSR, a.Nk - j0, a.d);
    load_f(Vs, ld, v + j0 * a.v_sr, a.v_sr, kSR, a.Nk - j0, a.d);
    __syncthreads();
    float s[4], dp[4];
    dots4(Qs + r * ld, Ks, ld, l8, a.d, s);
    dots4(Gs + r * ld, Vs, ld, l8, a.d, dp);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float pd;
      probs<T>(a, s[u], dp[u], L, D, b, h, i, j0 + l8 + 8 * u, pd, Ss[r * kSP + l8 + 8 * u]);
    }
    __syncwarp();  // row r of Ss is written and read by the same 8 lanes
    rowmul(acc, Ss + r * kSP, 1, Ks, ld, l8, a.d);  // dQ += dS K
  }
  if (i < a.Nq)
    store_row(static_cast<T*>(a.dq) + b * a.q_sb + h * a.q_sh + static_cast<int64_t>(i) * a.q_sr, acc,
              1.f, l8, a.d);
}

// =============================================================================================
// Tensor-core kernels (bfloat16 / float16, D = 64 or 128): 4 warps, mma.sync.m16n8k16, fragment
// layouts from the PTX ISA ("Matrix fragments for mma.m16n8k16 with floating point type"):
// with g = lane / 4 and c = 2 (lane % 4),
//   A (16 x 16, row-major): regs {A[g][c..c+1], A[g+8][c..c+1], A[g][c+8..c+9], A[g+8][c+8..c+9]}
//   B (16 x 8):             regs {B[c..c+1][g], B[c+8..c+9][g]}
//   C (16 x 8, float):      {C[g][c], C[g][c+1], C[g+8][c], C[g+8][c+1]}
// =============================================================================================
constexpr int kTT = 128;  // threads

template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4],
                                                        const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Two floats as one register of T pairs (lo in the low half: the lower-index element).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}

template <class T>
__device__ __forceinline__ uint32_t ld32(const T* p) {
  return *reinterpret_cast<const uint32_t*>(p);  // p is at an even element index: 4-byte aligned
}

template <int N>
__device__ __forceinline__ void zero(float (&x)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n) x[n][0] = x[n][1] = x[n][2] = x[n][3] = 0.f;
}

// acc[16 x 8 NT] = A[16 x K] B[K x 8 NT]. A row-major (row stride lda); B stored n-major:
// B[k][n] at Bn[n * ldb + k]. K a multiple of 16.
template <class T, int NT>
__device__ __forceinline__ void warp_gemm(float (&acc)[NT][4], const T* A, int lda, const T* Bn,
                                          int ldb, int K) {
  const int lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
  zero(acc);
  for (int k0 = 0; k0 < K; k0 += 16) {
    const uint32_t af[4] = {ld32(A + g * lda + k0 + c), ld32(A + (g + 8) * lda + k0 + c),
                            ld32(A + g * lda + k0 + c + 8), ld32(A + (g + 8) * lda + k0 + c + 8)};
#pragma unroll
    for (int n = 0; n < NT; ++n) {
      const T* bp = Bn + (n * 8 + g) * ldb + k0 + c;
      const uint32_t bf[2] = {ld32(bp), ld32(bp + 8)};
      mma16816<T>(acc[n], af, bf);
    }
  }
}

// The B fragments of n-tiles n0 and n0 + 8 at k-tile k0 from a k-major tile (B[k][n] at
// R[k * ldr + n]): ldmatrix .x4 .trans of the 8 x 8 blocks (k0, n0), (k0 + 8, n0), (k0, n0 + 8),
// (k0 + 8, n0 + 8); lanes 8 m .. 8 m + 7 address the rows of block m, and .trans hands lane l the
// block elements [2 (l % 4) + {0, 1}][l / 4], which is the B fragment layout. Rows 16-byte
// aligned (ldr and n0 multiples of 8).
template <class T>
__device__ __forceinline__ void ldsm_b_trans(uint32_t (&b0)[2], uint32_t (&b1)[2], const T* R, int ldr,
                                             int k0, int n0) {
  const int lane = threadIdx.x & 31, m = lane >> 3;
  const T* row = R + (k0 + (lane & 7) + 8 * (m & 1)) * ldr + n0 + 8 * (m >> 1);
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(b0[0]), "=r"(b0[1]), "=r"(b1[0]), "=r"(b1[1])
               : "r"(addr)
               : "memory");
}

// acc[16 x 8 NT] += P[16 x 8 KT] B, P given as this warp's float accumulator fragments of an
// earlier product (rounded to T here): n-tiles 2 kk and 2 kk + 1 of P are, register for register,
// the A fragment of k-tile kk. B k-major (row-major [k][n], row stride ldr), NT even.
template <class T, int NT, int KT>
__device__ __forceinline__ void warp_gemm_regs(float (&acc)[NT][4], const float (&P)[KT][4],
                                               const T* R, int ldr) {
#pragma unroll
  for (int kk = 0; kk < KT / 2; ++kk) {
    const uint32_t af[4] = {pack2<T>(P[2 * kk][0], P[2 * kk][1]), pack2<T>(P[2 * kk][2], P[2 * kk][3]),
                            pack2<T>(P[2 * kk + 1][0], P[2 * kk + 1][1]),
                            pack2<T>(P[2 * kk + 1][2], P[2 * kk + 1][3])};
#pragma unroll
    for (int n = 0; n < NT; n += 2) {
      uint32_t b0[2], b1[2];
      ldsm_b_trans(b0, b1, R, ldr, kk * 16, n * 8);
      mma16816<T>(acc[n], af, b0);
      mma16816<T>(acc[n + 1], af, b1);
    }
  }
}

// rows x D tile of a strided matrix into shared memory (row stride ld), rows past `valid` zero.
// vec: 16-byte loads (the host checked pointer and stride alignment; D % 8 == 0).
template <class T, int D>
__device__ void load_rows(T* s, int ld, const T* g, int64_t sr, int rows, int valid, bool vec) {
  if (vec) {
    constexpr int kC = D / 8;
    for (int e = threadIdx.x; e < rows * kC; e += blockDim.x) {
      const int r = e / kC, c = (e - r * kC) * 8;
      uint4 x = make_uint4(0u, 0u, 0u, 0u);
      if (r < valid) x = *reinterpret_cast<const uint4*>(g + r * sr + c);
      *reinterpret_cast<uint4*>(s + r * ld + c) = x;
    }
  } else {
    for (int e = threadIdx.x; e < rows * D; e += blockDim.x) {
      const int r = e / D, c = e - r * D;
      s[r * ld + c] = r < valid ? g[r * sr + c] : from_f<T>(0.f);
    }
  }
}
// Stores this warp's 16 x D accumulator rows (times mul[row half]) at dst rows row0 + g (+ 8)
// with row stride sr, rows >= n skipped.
template <class T, int NO>
__device__ __forceinline__ void store_frag(T* dst, int64_t sr, int row0, int n, const float (&acc)[NO][4],
                                           const float (&mul)[2]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
#pragma unroll
  for (int x = 0; x < 2; ++x) {
    const int row = row0 + g + 8 * x;
    if (row >= n) continue;
    T* d = dst + static_cast<int64_t>(row) * sr;
#pragma unroll
    for (int u = 0; u < NO; ++u) {
      d[u * 8 + c] = from_f<T>(acc[u][2 * x] * mul[x]);
      d[u * 8 + c + 1] = from_f<T>(acc[u][2 * x + 1] * mul[x]);
    }
  }
}

// lse (base 2) and D of the query rows [i0, i0 + blockDim.x / W) into Ls / Ds, W lanes per row.
template <class T, int W>
__device__ __forceinline__ void row_stats_tile(const Args& a, int b, int h, int i0, float* Ls, float* Ds) {
  const int r = threadIdx.x / W;
  float Dv, Lv;
  row_stats<T, W>(a, b, h, i0 + r, threadIdx.x % W, Dv, Lv);
  if (threadIdx.x % W == 0) {
    Ls[r] = Lv;
    Ds[r] = Dv;
  }
}

template <int D>
struct TcFwd {
  static constexpr int BR = 64, BC = 64, LD = D + 8;
  static constexpr size_t kSmem = sizeof(uint16_t) * (BR * LD + 2 * BC * LD);
};

// Forward. Block = (b, h, 64-row query tile); warp w owns rows 16 w .. 16 w + 15.
template <class T, int D>
__global__ void __launch_bounds__(kTT) fwd_tc(Args a) {
  using Cfg = TcFwd<D>;
  constexpr int BR = Cfg::BR, BC = Cfg::BC, LD = Cfg::LD, NT = BC / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smraw[];
  T* Qs = reinterpret_cast<T*>(smraw);
  T* Ks = Qs + BR * LD;
  T* Vs = Ks + BC * LD;
  const QTile<T> t(a, BR);
  const int bh = t.bh, b = t.b, h = t.h, i0 = t.i0;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
  const T *k = t.k, *v = t.v;
  load_rows<T, D>(Qs, LD, t.q, a.q_sr, BR, a.Nq - i0, a.vec);
  float o[NO][4];
  zero(o);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const int row0 = i0 + 16 * w;  // this warp's rows: row0 + g and row0 + g + 8
  const int jend = key_end(a, i0, BR);
  for (int j0 = 0; j0 < jend; j0 += BC) {
    __syncthreads();
    load_rows<T, D>(Ks, LD, k + j0 * a.k_sr, a.k_sr, BC, a.Nk - j0, a.vec);
    load_rows<T, D>(Vs, LD, v + j0 * a.v_sr, a.v_sr, BC, a.Nk - j0, a.vec);
    __syncthreads();
    float s[NT][4];
    warp_gemm<T, NT>(s, Qs + 16 * w * LD, LD, Ks, LD, D);
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[n][e] = logit2<T>(a, s[n][e], b, h, row0 + g + 8 * (e >> 1), j0 + n * 8 + c + (e & 1));
        mx[e >> 1] = fmaxf(mx[e >> 1], s[n][e]);
      }
    float muse[2], alpha[2], sum[2] = {0.f, 0.f};
#pragma unroll
    for (int x = 0; x < 2; ++x) {
      const float mnew = fmaxf(m[x], group_max<4>(mx[x]));
      muse[x] = mnew == -INFINITY ? 0.f : mnew;
      alpha[x] = exp2f(m[x] - muse[x]);
      m[x] = mnew;
    }
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float pv = exp2f(s[n][e] - muse[e >> 1]);
        sum[e >> 1] += pv;
        if (a.drop)
          pv = keep(a, b, h, row0 + g + 8 * (e >> 1), j0 + n * 8 + c + (e & 1)) ? pv * a.keep_scale : 0.f;
        s[n][e] = pv;
      }
#pragma unroll
    for (int x = 0; x < 2; ++x) l[x] = l[x] * alpha[x] + group_sum<4>(sum[x]);
#pragma unroll
    for (int u = 0; u < NO; ++u) {
      o[u][0] *= alpha[0];
      o[u][1] *= alpha[0];
      o[u][2] *= alpha[1];
      o[u][3] *= alpha[1];
    }
    warp_gemm_regs<T, NO, NT>(o, s, Vs, LD);  // O += P V
  }
  const float inv[2] = {l[0] > 0.f ? 1.f / l[0] : 0.f, l[1] > 0.f ? 1.f / l[1] : 0.f};
  store_frag<T, NO>(static_cast<T*>(a.o) + b * a.o_sb + h * a.o_sh, a.o_sr, row0, a.Nq, o, inv);
  if ((lane & 3) == 0)
#pragma unroll
    for (int x = 0; x < 2; ++x)
      if (row0 + g + 8 * x < a.Nq) store_lse(a, static_cast<int64_t>(bh) * a.Nq + row0 + g + 8 * x, m[x], l[x]);
}

// Backward tiles: BC keys x BR queries; shared memory K, V [BC][LD], Q, dO [BR][LD], and lse / D
// of the BR query rows.
template <int BC_, int BR_, int D>
struct TcBwd {
  static constexpr int BC = BC_, BR = BR_, LD = D + 8;
  static constexpr size_t kSmem = sizeof(uint16_t) * 2 * (BC + BR) * LD + sizeof(float) * 2 * BR;
};
template <int D>
using TcDkdv = TcBwd<64, 32, D>;
template <int D>
using TcDq = TcBwd<64, 64, D>;

// Backward, dK and dV. Block = (b, kv head, 64-key tile); warp w owns keys 16 w .. 16 w + 15 and
// computes S^T = K Q^T and dP^T = V dO^T for them, so P^T and dS^T are already A fragments of
// dV += P^T dO and dK += dS^T Q.
template <class T, int D>
__global__ void __launch_bounds__(kTT) dkdv_tc(Args a) {
  using Cfg = TcDkdv<D>;
  constexpr int BC = Cfg::BC, BR = Cfg::BR, LD = Cfg::LD, NT = BR / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smraw[];
  T* Ks = reinterpret_cast<T*>(smraw);
  T* Vs = Ks + BC * LD;
  T* Qs = Vs + BC * LD;
  T* Gs = Qs + BR * LD;  // dO
  float* Ls = reinterpret_cast<float*>(Gs + BR * LD);
  float* Ds = Ls + BR;
  const int nkt = (a.Nk + BC - 1) / BC;
  const int bhk = blockIdx.x / nkt, j0 = (blockIdx.x % nkt) * BC;
  const int b = bhk / a.Hk, hk = bhk % a.Hk;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
  load_rows<T, D>(Ks, LD, static_cast<const T*>(a.k) + b * a.k_sb + hk * a.k_sh + j0 * a.k_sr, a.k_sr,
                  BC, a.Nk - j0, a.vec);
  load_rows<T, D>(Vs, LD, static_cast<const T*>(a.v) + b * a.v_sb + hk * a.v_sh + j0 * a.v_sr, a.v_sr,
                  BC, a.Nk - j0, a.vec);
  float dk[NO][4], dv[NO][4];
  zero(dk);
  zero(dv);
  const int jrow = j0 + 16 * w;  // this warp's keys: jrow + g and jrow + g + 8
  const int ifirst = query_start(a, j0) / BR * BR;
  for (int gi = 0; gi < a.G; ++gi) {
    const int h = hk * a.G + gi;
    for (int i0 = ifirst; i0 < a.Nq; i0 += BR) {
      __syncthreads();
      const T* q = static_cast<const T*>(a.q) + b * a.q_sb + h * a.q_sh + i0 * a.q_sr;
      const T* go = static_cast<const T*>(a.dout) + b * a.o_sb + h * a.o_sh + i0 * a.o_sr;
      load_rows<T, D>(Qs, LD, q, a.q_sr, BR, a.Nq - i0, a.vec);
      load_rows<T, D>(Gs, LD, go, a.o_sr, BR, a.Nq - i0, a.vec);
      row_stats_tile<T, kTT / BR>(a, b, h, i0, Ls, Ds);
      __syncthreads();
      float st[NT][4], dpt[NT][4];
      warp_gemm<T, NT>(st, Ks + 16 * w * LD, LD, Qs, LD, D);   // S^T = K Q^T
      warp_gemm<T, NT>(dpt, Vs + 16 * w * LD, LD, Gs, LD, D);  // dP^T = V dO^T
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int il = n * 8 + c + (e & 1);
          float pd, ds;
          probs<T>(a, st[n][e], dpt[n][e], Ls[il], Ds[il], b, h, i0 + il, jrow + g + 8 * (e >> 1), pd, ds);
          st[n][e] = pd;
          dpt[n][e] = ds;
        }
      warp_gemm_regs<T, NO, NT>(dv, st, Gs, LD);   // dV += P^T dO
      warp_gemm_regs<T, NO, NT>(dk, dpt, Qs, LD);  // dK += dS^T Q
    }
  }
  const float one[2] = {1.f, 1.f};
  store_frag<T, NO>(static_cast<T*>(a.dk) + b * a.k_sb + hk * a.k_sh, a.k_sr, jrow, a.Nk, dk, one);
  store_frag<T, NO>(static_cast<T*>(a.dv) + b * a.v_sb + hk * a.v_sh, a.v_sr, jrow, a.Nk, dv, one);
}

// Backward, dQ. Block = (b, h, 64-row query tile); warp w owns rows 16 w .. 16 w + 15.
template <class T, int D>
__global__ void __launch_bounds__(kTT) dq_tc(Args a) {
  using Cfg = TcDq<D>;
  constexpr int BR = Cfg::BR, BC = Cfg::BC, LD = Cfg::LD, NT = BC / 8, NO = D / 8;
  extern __shared__ __align__(16) unsigned char smraw[];
  T* Qs = reinterpret_cast<T*>(smraw);
  T* Gs = Qs + BR * LD;
  T* Ks = Gs + BR * LD;
  T* Vs = Ks + BC * LD;
  float* Ls = reinterpret_cast<float*>(Vs + BC * LD);
  float* Ds = Ls + BR;
  const QTile<T> t(a, BR);
  const int b = t.b, h = t.h, i0 = t.i0;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
  const T *k = t.k, *v = t.v;
  load_rows<T, D>(Qs, LD, t.q, a.q_sr, BR, a.Nq - i0, a.vec);
  load_rows<T, D>(Gs, LD, t.dout, a.o_sr, BR, a.Nq - i0, a.vec);
  row_stats_tile<T, kTT / BR>(a, b, h, i0, Ls, Ds);
  float dq[NO][4];
  zero(dq);
  const int rl = 16 * w + g;  // this thread's rows within the tile: rl and rl + 8
  const int jend = key_end(a, i0, BR);
  for (int j0 = 0; j0 < jend; j0 += BC) {
    __syncthreads();  // also publishes Ls / Ds on the first pass
    load_rows<T, D>(Ks, LD, k + j0 * a.k_sr, a.k_sr, BC, a.Nk - j0, a.vec);
    load_rows<T, D>(Vs, LD, v + j0 * a.v_sr, a.v_sr, BC, a.Nk - j0, a.vec);
    __syncthreads();
    float s[NT][4], dp[NT][4];
    warp_gemm<T, NT>(s, Qs + 16 * w * LD, LD, Ks, LD, D);
    warp_gemm<T, NT>(dp, Gs + 16 * w * LD, LD, Vs, LD, D);
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int il = rl + 8 * (e >> 1);
        float pd, ds;
        probs<T>(a, s[n][e], dp[n][e], Ls[il], Ds[il], b, h, i0 + il, j0 + n * 8 + c + (e & 1), pd, ds);
        s[n][e] = ds;
      }
    warp_gemm_regs<T, NO, NT>(dq, s, Ks, LD);  // dQ += dS K
  }
  const float one[2] = {1.f, 1.f};
  store_frag<T, NO>(static_cast<T*>(a.dq) + b * a.q_sb + h * a.q_sh, a.q_sr, i0 + 16 * w, a.Nq, dq, one);
}

// =============================================================================================
// Host side
// =============================================================================================
std::string Msg(const std::string& expected, const std::string& name, const std::string& got) {
  return "Expected " + expected + " for " + name + " but received " + got;
}

using cuda::from_cuda;  // cudaError_t -> Status (kNoDevice without a device)

bool is_half(DType t) { return t == DType::kBFloat16 || t == DType::kFloat16; }

// The CPU kernels' checks (shapes, strides, options, pointers) plus what CUDA adds: dtype and
// head dim limits, sizes that fit the kernels' int indices.
Status check(const AttentionParams& p, bool backward) {
  if (p.dtype != DType::kFloat32 && !is_half(p.dtype)) {
    const std::string m = Msg("float32, bfloat16 or float16 on CUDA", "q", dtype_name(p.dtype));
    return p.dtype == DType::kFloat64 ? Status::Unsupported(m) : Status::Invalid(m);
  }
  AttentionParams f = p;
  f.dtype = DType::kFloat32;  // the shared checks know float32 / float64 only
  SELFSUP_RETURN_IF_ERROR(attention_validate(f, backward));
  // Nq = 0 still writes dK = dV = 0 (the shared checks only ask for them when Nq > 0).
  if (backward && p.B > 0 && p.Nk > 0 && (p.dk == nullptr || p.dv == nullptr))
    return Status::Invalid(Msg("non-null dk and dv", "params", "a null pointer"));
  if (p.d > 256) return Status::Unsupported(Msg("a head dim <= 256 on CUDA", "d", std::to_string(p.d)));
  const int64_t big = INT_MAX / 2;
  if (p.B > big || p.H > big || p.Nq > big || p.Nk > big || p.B * p.H > big)
    return Status::OutOfRange(Msg("sizes below 2^30 on CUDA", "B, H, Nq, Nk", "a larger size"));
  return Status::Ok();
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

Args make_args(const AttentionParams& p, bool backward) {
  Args a{};
  a.q = p.q;
  a.k = p.k;
  a.v = p.v;
  a.mask = p.mask;
  a.out = p.out;
  a.dout = p.dout;
  a.o = p.out;
  a.dq = p.dq;
  a.dk = p.dk;
  a.dv = p.dv;
  a.lse = static_cast<float*>(p.lse);
  a.lse_lo = static_cast<float*>(p.lse_lo);
  a.lse_in = static_cast<const float*>(p.lse);
  a.lse_lo_in = static_cast<const float*>(p.lse_lo);
  a.dlse = static_cast<const float*>(p.dlse);
  a.q_sb = p.q_sb, a.q_sh = p.q_sh, a.q_sr = p.q_sr;
  a.k_sb = p.k_sb, a.k_sh = p.k_sh, a.k_sr = p.k_sr;
  a.v_sb = p.v_sb, a.v_sh = p.v_sh, a.v_sr = p.v_sr;
  a.o_sb = p.o_sb, a.o_sh = p.o_sh, a.o_sr = p.o_sr;
  a.m_sb = p.m_sb, a.m_sh = p.m_sh, a.m_sq = p.m_sq, a.m_sk = p.m_sk;
  a.B = static_cast<int>(p.B), a.H = static_cast<int>(p.H), a.Hk = static_cast<int>(p.Hk);
  a.G = static_cast<int>(p.H / p.Hk);
  a.Nq = static_cast<int>(p.Nq), a.Nk = static_cast<int>(p.Nk), a.d = static_cast<int>(p.d);
  a.mask_kind = static_cast<int>(p.mask_kind);
  a.causal = p.causal;
  a.drop = p.dropout > 0;
  a.scale = static_cast<float>(p.scale);
  a.keep_scale = static_cast<float>(1.0 / (1.0 - p.dropout));
  a.thr = static_cast<uint32_t>(std::ceil(p.dropout * 16777216.0));
  a.seed = p.seed;
  // 16-byte tile loads (tensor-core kernels): every row start of q, k, v (and dO) aligned.
  bool vec = p.d % 8 == 0 && aligned16(p.q) && aligned16(p.k) && aligned16(p.v);
  for (int64_t s : {p.q_sb, p.q_sh, p.q_sr, p.k_sb, p.k_sh, p.k_sr, p.v_sb, p.v_sh, p.v_sr})
    vec = vec && s % 8 == 0;
  if (backward) vec = vec && aligned16(p.dout) && p.o_sb % 8 == 0 && p.o_sh % 8 == 0 && p.o_sr % 8 == 0;
  a.vec = vec;
  return a;
}

// Launches kernel<<<blocks, threads, smem, stream>>>(a) after raising its dynamic shared-memory
// limit; a launch failure comes back as a Status naming the kernel.
template <class Kernel>
Status launch(Kernel kernel, int64_t blocks, int threads, size_t smem, cudaStream_t stream,
              const Args& a, const char* name) {
  if (blocks == 0) return Status::Ok();
  if (blocks > INT_MAX)
    return Status::OutOfRange(Msg("at most 2^31 - 1 thread blocks", name, std::to_string(blocks)));
  int dev = 0, optin = 0;
  SELFSUP_RETURN_IF_ERROR(from_cuda(cudaGetDevice(&dev), "cudaGetDevice"));
  SELFSUP_RETURN_IF_ERROR(
      from_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
                "cudaDeviceGetAttribute"));
  if (smem > static_cast<size_t>(optin))
    return Status::Unsupported(Msg("at most " + std::to_string(optin) + " bytes of shared memory per block",
                                   name, std::to_string(smem) + " bytes (a smaller head dim fits)"));
  SELFSUP_RETURN_IF_ERROR(from_cuda(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
      "cudaFuncSetAttribute"));
  kernel<<<static_cast<unsigned>(blocks), threads, smem, stream>>>(a);
  return from_cuda(cudaGetLastError(), name);
}

int64_t tiles(int64_t n, int64_t t) { return (n + t - 1) / t; }

// SIMT shared memory: `mats` float [32][d + 1] tiles plus `scores` [32][33] tiles.
size_t simt_smem(int64_t d, int mats, int scores) {
  return sizeof(float) * (static_cast<size_t>(mats) * kSR * (d + 1) + static_cast<size_t>(scores) * kSR * kSP);
}

// Calls f(std::integral_constant<int, NC>) with the per-thread column count for head dim d.
template <class F>
Status with_nc(int64_t d, F f) {
  if (d <= 64) return f(std::integral_constant<int, 8>{});
  if (d <= 128) return f(std::integral_constant<int, 16>{});
  return f(std::integral_constant<int, 32>{});
}

template <class T>
Status forward_t(const AttentionParams& p, const Args& a, cudaStream_t s) {
  const int64_t bh = p.B * p.H;
  if constexpr (!std::is_same_v<T, float>) {
    if (p.d == 64)
      return launch(fwd_tc<T, 64>, bh * tiles(p.Nq, 64), kTT, TcFwd<64>::kSmem, s, a, "attention fwd_tc");
    if (p.d == 128)
      return launch(fwd_tc<T, 128>, bh * tiles(p.Nq, 64), kTT, TcFwd<128>::kSmem, s, a, "attention fwd_tc");
  }
  return with_nc(p.d, [&](auto nc) {
    return launch(fwd_simt<T, decltype(nc)::value>, bh * tiles(p.Nq, kSR), kST, simt_smem(p.d, 3, 1),
                  s, a, "attention fwd_simt");
  });
}

template <class T>
Status backward_t(const AttentionParams& p, const Args& a, cudaStream_t s) {
  const int64_t bh = p.B * p.H, bhk = p.B * p.Hk;
  if constexpr (!std::is_same_v<T, float>) {
    if (p.d == 64 || p.d == 128) {
      const bool d64 = p.d == 64;
      SELFSUP_RETURN_IF_ERROR(launch(d64 ? dkdv_tc<T, 64> : dkdv_tc<T, 128>, bhk * tiles(p.Nk, 64), kTT,
                                     d64 ? TcDkdv<64>::kSmem : TcDkdv<128>::kSmem, s, a, "attention dkdv_tc"));
      return launch(d64 ? dq_tc<T, 64> : dq_tc<T, 128>, bh * tiles(p.Nq, 64), kTT,
                    d64 ? TcDq<64>::kSmem : TcDq<128>::kSmem, s, a, "attention dq_tc");
    }
  }
  return with_nc(p.d, [&](auto nc) {
    constexpr int NC = decltype(nc)::value;
    SELFSUP_RETURN_IF_ERROR(launch(dkdv_simt<T, NC>, bhk * tiles(p.Nk, kSR), kST, simt_smem(p.d, 4, 2), s,
                                   a, "attention dkdv_simt"));
    return launch(dq_simt<T, NC>, bh * tiles(p.Nq, kSR), kST, simt_smem(p.d, 4, 1), s, a,
                  "attention dq_simt");
  });
}

template <class F>
Status type_switch(DType t, F f) {
  if (t == DType::kBFloat16) return f(__nv_bfloat16{});
  if (t == DType::kFloat16) return f(__half{});
  return f(float{});
}

}  // namespace

Status attention_forward_cuda(const AttentionParams& p, cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(check(p, false));
  if (p.B == 0 || p.Nq == 0) return Status::Ok();
  const Args a = make_args(p, false);
  return type_switch(p.dtype, [&](auto t) { return forward_t<decltype(t)>(p, a, stream); });
}

Status attention_backward_cuda(const AttentionParams& p, cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(check(p, true));
  if (p.B == 0) return Status::Ok();
  const Args a = make_args(p, true);
  // Nq = 0: only dK / dV (zeros) are written; Nk = 0: only dQ (zeros); the kernels handle both.
  return type_switch(p.dtype, [&](auto t) { return backward_t<decltype(t)>(p, a, stream); });
}

}  // namespace selfsup
