// InfoNCE / NT-Xent on CUDA (math and masks in params.h; the CPU kernel is cpu.cc).
//
// Forward: one fused kernel, the FlashAttention recipe without the value matrix (Dao et al. 2022,
// "FlashAttention", online softmax of Milakov & Gimelshein 2018): a 256-thread block owns 64 rows
// and walks all keys (main keys, then the bank) in 64-wide tiles; each tile's 64 x 64 similarities
// are built in registers (4 x 4 per thread, d in slices of 32 through shared memory), masked
// (self, decoupled positives, out-of-range keys) and folded into a running (max, sum) per row, so
// no [R, K] matrix ever exists. The 16 threads of a row are one half-warp: the per-tile max and sum
// are shuffle trees in a fixed order (deterministic, no atomics).
//
// Backward: G_rc = a_r (e^{s_rc - lse_r} [c in den(r)] - [c in pos(r)] e^{s_rc - lsepos_r}), with
// e^{s - lsepos} = 1 for the single positive of the no-label modes; dU_rows = G K / tau and
// dU_keys = G^T Q / tau. Two views: keys are the rows, so dU = H U / tau with H = G + G^T (H_rc is
// formed from both rows' statistics; the masks are symmetric). Computed over column chunks of at
// most ~64 MiB: S = Q K_chunk^T / tau by the GEMM, G in place by an elementwise kernel, then two
// GEMMs accumulate in chunk order (deterministic). Finally back through the normalization,
// dz = (du - u (u . du)) / max(||z||, eps).
#include "ops/info_nce/cuda.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/gemm.h"
#include "cuda/reduce.cuh"

namespace selfsup {
namespace {

using cuda::block_sum;
using cuda::ceil_div;
using cuda::launch_status;

constexpr int kThreads = 256;
constexpr int kBR = 64, kBC = 64, kBD = 32;  // rows per block, keys per tile, d per slice
constexpr double kNormEps = 1e-12;           // F.normalize's eps
constexpr int64_t kChunkElems = int64_t(16) << 20;  // backward S chunk: 64 MiB of float32

// u = z / max(||z||, eps) (or a copy) for the pair (z1_b, z2_b), b < n, with posdot_b = u1 . u2;
// blocks n.. normalize the bank rows. Norms accumulate in double.
__global__ void __launch_bounds__(kThreads)
normalize_kernel(const float* z1, const float* z2, const float* zb, int64_t n, int64_t d,
                 bool normalize, float* U, float* bank, float* scale, float* posdot) {
  __shared__ double red[32];
  const int64_t b = blockIdx.x;
  if (b >= n) {
    const float* z = zb + (b - n) * d;
    double ss = 0;
    for (int64_t k = threadIdx.x; k < d; k += blockDim.x) ss += double(z[k]) * z[k];
    ss = block_sum(ss, red);
    const double sc = normalize ? 1.0 / fmax(sqrt(ss), kNormEps) : 1.0;
    for (int64_t k = threadIdx.x; k < d; k += blockDim.x) bank[(b - n) * d + k] = float(z[k] * sc);
    return;
  }
  const float* x = z1 + b * d;
  const float* y = z2 + b * d;
  double sx = 0, sy = 0;
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
    sx += double(x[k]) * x[k];
    sy += double(y[k]) * y[k];
  }
  sx = block_sum(sx, red);
  sy = block_sum(sy, red);
  const double cx = normalize ? 1.0 / fmax(sqrt(sx), kNormEps) : 1.0;
  const double cy = normalize ? 1.0 / fmax(sqrt(sy), kNormEps) : 1.0;
  double pd = 0;
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
    const float u = float(x[k] * cx), v = float(y[k] * cy);
    U[b * d + k] = u;
    U[(n + b) * d + k] = v;
    pd += double(u) * v;
  }
  pd = block_sum(pd, red);
  if (threadIdx.x == 0) {
    scale[b] = float(cx);
    scale[n + b] = float(cy);
    posdot[b] = float(pd);
  }
}

// Which keys a row sees (params.h): shared by the forward kernel and the backward's G kernel.
struct Masks {
  const int32_t* labels;
  int64_t n, K;  // K main keys; key indices >= K are bank rows
  bool both, decoupled;
  __device__ bool self(int64_t r, int64_t c) const { return both && r == c; }
  __device__ bool pos(int64_t r, int64_t c) const {  // c < K
    if (self(r, c)) return false;
    if (labels) return labels[r % n] == labels[c % n];
    return c == (both ? (r + n) % (2 * n) : r);
  }
  __device__ bool den(int64_t r, int64_t c, bool is_pos) const {  // c < K
    return !self(r, c) && !(decoupled && is_pos);
  }
};

struct FwdArgs {
  const float* Q;     // [R, d] rows
  const float* keys;  // [K, d]
  const float* bank;  // [M, d]
  const float* posdot;
  Masks mk;
  int64_t d, R, M;
  float inv_tau;
  float *losses, *lse, *lse_pos;
};

// Folds 4 values of a row (one thread's share of a tile; -inf = excluded) into (m, l): max and sum
// over the row's 16 threads (a half-warp) by xor shuffles. NaN similarities reach l through expf.
__device__ __forceinline__ void fold(const float (&v)[4], float& m, float& l) {
  float t = fmaxf(fmaxf(v[0], v[1]), fmaxf(v[2], v[3]));
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
  const float mn = fmaxf(m, t);
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < 4; ++j) s += v[j] == -INFINITY ? 0.0f : expf(v[j] - mn);
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  l = (m == mn ? l : l * expf(m - mn)) + s;  // m == mn also covers -inf == -inf
  m = mn;
}

__global__ void __launch_bounds__(kThreads) forward_kernel(FwdArgs a) {
  __shared__ float Qs[kBD][kBR + 4];
  __shared__ float Ks[kBD][kBC + 4];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kBR;
  const int64_t K = a.mk.K, Kt = K + a.M, d = a.d;
  const bool labels = a.mk.labels != nullptr;
  float m[4], l[4], mp[4], lp[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) { m[i] = mp[i] = -INFINITY; l[i] = lp[i] = 0.0f; }
  for (int64_t c0 = 0; c0 < Kt; c0 += kBC) {
    float s[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) s[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < d; k0 += kBD) {
      for (int idx = tid; idx < kBR * kBD; idx += kThreads) {
        const int r = idx / kBD, kk = idx % kBD;
        const int64_t gr = r0 + r, gk = k0 + kk;
        Qs[kk][r] = (gr < a.R && gk < d) ? a.Q[gr * d + gk] : 0.0f;
      }
      for (int idx = tid; idx < kBC * kBD; idx += kThreads) {
        const int c = idx / kBD, kk = idx % kBD;
        const int64_t gc = c0 + c, gk = k0 + kk;
        float v = 0.0f;
        if (gc < Kt && gk < d) v = gc < K ? a.keys[gc * d + gk] : a.bank[(gc - K) * d + gk];
        Ks[kk][c] = v;
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < kBD; ++kk) {
        float q[4], k[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) q[i] = Qs[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) k[j] = Ks[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) s[i][j] = fmaf(q[i], k[j], s[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t r = r0 + ty + 16 * i;
      float den[4], pos[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t c = c0 + tx + 16 * j;
        const float v = s[i][j] * a.inv_tau;
        bool in_den = c < Kt && r < a.R, in_pos = false;
        if (in_den && c < K) {
          const bool p = a.mk.pos(r, c);
          in_den = a.mk.den(r, c, p);
          in_pos = labels && p;
        }
        den[j] = in_den ? v : -INFINITY;
        pos[j] = in_pos ? v : -INFINITY;
      }
      fold(den, m[i], l[i]);
      if (labels) fold(pos, mp[i], lp[i]);
    }
  }
  if (tx != 0) return;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t r = r0 + ty + 16 * i;
    if (r >= a.R) continue;
    const float lse = m[i] + logf(l[i]);
    a.lse[r] = lse;
    if (labels) {
      const float lsp = mp[i] + logf(lp[i]);
      if (a.lse_pos) a.lse_pos[r] = lsp;
      a.losses[r] = lse - lsp;
    } else {
      a.losses[r] = lse - a.posdot[r % a.mk.n] * a.inv_tau;
    }
  }
}

// In place over an [R, cb] chunk of similarities (keys c0.., main keys when `main`, else bank
// rows): S -> G (one-way) or H = G + G^T (two views), the coefficients of the backward GEMMs.
__global__ void coef_kernel(float* S, int64_t R, int64_t cb, int64_t c0, bool main, Masks mk,
                            const float* a, const float* lse, const float* lsp) {
  const int64_t total = R * cb;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = idx / cb, c = c0 + idx % cb;
    const float s = S[idx];
    if (!main) {
      S[idx] = a[r] * expf(s - lse[r]);
      continue;
    }
    const bool p = mk.pos(r, c), dn = mk.den(r, c, p);
    // Row r's share, and with two views the mirror entry's (row c, key r).
    float w = dn ? a[r] * expf(s - lse[r]) : 0.0f;
    if (p) w -= a[r] * (mk.labels ? expf(s - lsp[r]) : 1.0f);
    if (mk.both) {
      if (dn) w += a[c] * expf(s - lse[c]);
      if (p) w -= a[c] * (mk.labels ? expf(s - lsp[c]) : 1.0f);
    }
    S[idx] = w;
  }
}

// dz = (g - u (u . g)) * scale for row i of [u1; u2] (a copy of g without normalization).
__global__ void __launch_bounds__(kThreads)
finish_kernel(const float* dU, const float* U, const float* z1, const float* z2,
              const float* scale, int64_t n, int64_t d, bool normalize, float* dz1, float* dz2) {
  __shared__ double red[32];
  const int64_t i = blockIdx.x;
  const float* g = dU + i * d;
  const float* u = U + i * d;
  const float* z = i < n ? z1 + i * d : z2 + (i - n) * d;
  float* o = i < n ? dz1 + i * d : dz2 + (i - n) * d;
  if (!normalize) {
    for (int64_t k = threadIdx.x; k < d; k += blockDim.x) o[k] = g[k];
    return;
  }
  double zz = 0, ug = 0;
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
    zz += double(z[k]) * z[k];
    ug += double(u[k]) * g[k];
  }
  zz = block_sum(zz, red);
  ug = block_sum(ug, red);
  const double proj = sqrt(zz) > kNormEps ? ug : 0.0;  // the eps branch is linear
  const double sc = scale[i];
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) o[k] = float((g[k] - u[k] * proj) * sc);
}

// Workspace shared by forward and backward: the normalized views and bank, scales, positive dots.
struct Normalized {
  cuda::StreamBuffer buf;
  float *U = nullptr, *bank = nullptr, *scale = nullptr, *posdot = nullptr;
  explicit Normalized(cudaStream_t s) : buf(s) {}
  Status make(const InfoNCEParams& p, cudaStream_t s) {
    const int64_t n = p.n, d = p.d, m = p.m;
    SELFSUP_RETURN_IF_ERROR(
        buf.alloc(sizeof(float) * static_cast<size_t>(2 * n * d + m * d + 3 * n), "info_nce workspace"));
    U = buf.as<float>();
    bank = U + 2 * n * d;
    scale = bank + m * d;
    posdot = scale + 2 * n;
    normalize_kernel<<<static_cast<unsigned>(n + m), kThreads, 0, s>>>(
        static_cast<const float*>(p.z1), static_cast<const float*>(p.z2),
        static_cast<const float*>(p.negatives), n, d, p.normalize, U, bank, scale, posdot);
    return launch_status("info_nce normalize_kernel");
  }
};

Status check_cuda(const InfoNCEParams& p) {
  SELFSUP_RETURN_IF_ERROR(info_nce_check(p));
  if (p.dtype != DType::kFloat32)
    return Status::Unsupported(std::string("Expected float32 for z1 on CUDA but received ") +
                               dtype_name(p.dtype));
  if (p.n + p.m > 0x7fffffff)
    return Status::OutOfRange("Expected n + m < 2^31 for shape but received n=" +
                              std::to_string(p.n) + ", m=" + std::to_string(p.m));
  return Status::Ok();
}

Masks masks_of(const InfoNCEParams& p) {
  return Masks{p.labels, p.n, info_nce_rows(p), p.both, p.decoupled};
}

}  // namespace

Status info_nce_forward_cuda(const InfoNCEParams& p, void* losses, void* lse, void* lse_pos,
                             cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p));
  if (!losses || !lse)
    return Status::Invalid("Expected non-null device arrays for losses, lse but received null");
  Normalized N(stream);
  SELFSUP_RETURN_IF_ERROR(N.make(p, stream));
  FwdArgs a;
  a.Q = N.U;
  a.keys = p.both ? N.U : N.U + p.n * p.d;
  a.bank = N.bank;
  a.posdot = N.posdot;
  a.mk = masks_of(p);
  a.d = p.d;
  a.R = info_nce_rows(p);
  a.M = p.m;
  a.inv_tau = static_cast<float>(1.0 / p.temperature);
  a.losses = static_cast<float*>(losses);
  a.lse = static_cast<float*>(lse);
  a.lse_pos = static_cast<float*>(lse_pos);
  forward_kernel<<<static_cast<unsigned>(ceil_div(a.R, kBR)), kThreads, 0, stream>>>(a);
  return launch_status("info_nce forward_kernel");
}

Status info_nce_backward_cuda(const InfoNCEParams& p, const void* grad_rows, const void* lse,
                              const void* lse_pos, void* dz1, void* dz2, cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p));
  if (p.labels && !lse_pos)
    return Status::Invalid("Expected the forward's lsePos for lsePos but received null");
  if (!grad_rows || !lse || !dz1 || !dz2)
    return Status::Invalid("Expected non-null device arrays for grad, lse, dz1, dz2 but received null");
  const int64_t n = p.n, d = p.d, R = info_nce_rows(p), K = R;
  const float it = static_cast<float>(1.0 / p.temperature);
  const float* a = static_cast<const float*>(grad_rows);
  const float* ls = static_cast<const float*>(lse);
  const float* lp = static_cast<const float*>(lse_pos);
  Normalized N(stream);
  SELFSUP_RETURN_IF_ERROR(N.make(p, stream));
  const float* Q = N.U;
  const float* keys = p.both ? N.U : N.U + n * d;
  // Chunk width: a multiple of 64 keys, S chunk within kChunkElems (at least 64 columns).
  const int64_t widest = std::max<int64_t>(K, p.m);
  const int64_t kc = std::min(widest, std::max<int64_t>(64, kChunkElems / R / 64 * 64));
  cuda::StreamBuffer work(stream);
  SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(float) * static_cast<size_t>(2 * n * d + R * kc),
                                     "info_nce backward workspace"));
  float* dU = work.as<float>();  // [2n, d]: both -> every row; one-way -> dQ then dK
  float* S = dU + 2 * n * d;
  const Masks mk = masks_of(p);
  bool first = true;
  for (int part = 0; part < 2; ++part) {
    const int64_t Kp = part == 0 ? K : p.m;
    const float* kp = part == 0 ? keys : N.bank;
    for (int64_t c0 = 0; c0 < Kp; c0 += kc) {
      const int64_t cb = std::min(kc, Kp - c0);
      SELFSUP_RETURN_IF_ERROR(
          cuda::sgemm(false, true, R, cb, d, it, Q, d, kp + c0 * d, d, 0.0f, S, cb, stream));
      const int64_t blocks = std::min<int64_t>(ceil_div(R * cb, kThreads), 65535);
      coef_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(S, R, cb, c0, part == 0,
                                                                         mk, a, ls, lp);
      SELFSUP_RETURN_IF_ERROR(launch_status("info_nce coef_kernel"));
      // dQ (+)= G K_chunk / tau; one-way also dK_chunk = G^T Q / tau (each key chunk once).
      SELFSUP_RETURN_IF_ERROR(cuda::sgemm(false, false, R, d, cb, it, S, cb, kp + c0 * d, d,
                                          first ? 0.0f : 1.0f, dU, d, stream));
      first = false;
      if (part == 0 && !p.both)
        SELFSUP_RETURN_IF_ERROR(cuda::sgemm(true, false, cb, d, R, it, S, cb, Q, d, 0.0f,
                                            dU + (n + c0) * d, d, stream));
    }
  }
  finish_kernel<<<static_cast<unsigned>(2 * n), kThreads, 0, stream>>>(
      dU, N.U, static_cast<const float*>(p.z1), static_cast<const float*>(p.z2), N.scale, n, d,
      p.normalize, static_cast<float*>(dz1), static_cast<float*>(dz2));
  return launch_status("info_nce finish_kernel");
}

}  // namespace selfsup
