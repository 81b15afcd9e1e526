// VICReg and Barlow Twins on CUDA (math in params.h; the CPU kernels are cpu.cc).
//
// The O(n d^2) work is one product per view on the shared GEMM (native/cuda/gemm.cu): the n x n
// Gram X_c X_c^T when n < d (auto; 32x fewer FLOPs at n = 256, d = 8192), else the d x d
// covariance / cross-correlation, exactly the CPU's two paths. Everything else is O(n d) and
// memory-bound: column statistics (one block per 32 columns, 8 row groups, double sums, two-pass
// mean / squared deviation like the CPU), centring, and the elementwise gradient terms.
// Scalars come out of a deterministic two-stage reduction: each reduction fills 256 per-block
// partial sums (grid-stride, fixed assignment, double), and one finalize block adds each slot's
// partials in a fixed tree and writes the outputs as fixed linear combinations of the slot totals.
// No atomics anywhere, so results are bitwise reproducible run to run.
#include "ops/vicreg/cuda.h"

#include <algorithm>
#include <string>

#include "cuda/gemm.h"
#include "cuda/reduce.cuh"

namespace selfsup {
namespace {

using cuda::block_sum;
using cuda::ceil_div;
using cuda::launch_status;
using cuda::sgemm;

constexpr int kThreads = 256;
constexpr int kParts = 256;    // partial sums per reduction slot (= grid of reduce_kernel)
constexpr int kMaxSlots = 8;

unsigned grid_for(int64_t count) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(ceil_div(count, kThreads), 8192)));
}

// f(i) for every i < count (grid-stride).
template <class F> __global__ void for_each_kernel(int64_t count, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}
template <class F> Status for_each(int64_t count, F f, cudaStream_t s, const char* what) {
  for_each_kernel<<<grid_for(count), kThreads, 0, s>>>(count, f);
  return launch_status(what);
}

// parts[blockIdx.x] = sum of f(i) over this block's grid-stride share of [0, count).
template <class F> __global__ void __launch_bounds__(kThreads) reduce_kernel(int64_t count, F f, double* parts) {
  __shared__ double red[32];
  double s = 0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < count; i += int64_t(kParts) * kThreads)
    s += f(i);
  s = block_sum(s, red);
  if (threadIdx.x == 0) parts[blockIdx.x] = s;
}

struct Coef {
  double w[3][kMaxSlots];  // out[k] = sum_s w[k][s] * total[s]
  int nslots, nout;
};

__global__ void __launch_bounds__(kParts) finalize_kernel(const double* parts, Coef c, double* out) {
  __shared__ double red[32];
  __shared__ double total[kMaxSlots];
  for (int s = 0; s < c.nslots; ++s) {
    const double t = block_sum(parts[s * kParts + threadIdx.x], red);
    if (threadIdx.x == 0) total[s] = t;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int k = 0; k < c.nout; ++k) {
    double v = 0;
    for (int s = 0; s < c.nslots; ++s) v += c.w[k][s] * total[s];
    out[k] = v;
  }
}

// Scalar reductions of one call: add() fills the next slot, finish() writes out[].
class Reducer {
 public:
  Reducer(double* parts, cudaStream_t s) : parts_(parts), s_(s) {}
  template <class F> Status add(int64_t count, F f, int* slot) {
    if (n_ == kMaxSlots) return Status::Internal("vicreg: too many reduction slots");
    *slot = n_;
    reduce_kernel<<<kParts, kThreads, 0, s_>>>(count, f, parts_ + n_ * kParts);
    ++n_;
    return launch_status("vicreg reduce_kernel");
  }
  Status finish(Coef c, double* out) {
    c.nslots = n_;
    finalize_kernel<<<1, kParts, 0, s_>>>(parts_, c, out);
    return launch_status("vicreg finalize_kernel");
  }

 private:
  double* parts_;
  cudaStream_t s_;
  int n_ = 0;
};

// ---- column statistics (32 columns per block, 8 row groups, fixed-order double sums) ---------
// mean_c and ss_c = sum_n (x - mean_c)^2 (two passes, like the CPU).
__global__ void __launch_bounds__(kThreads)
column_stats_kernel(const float* X, int64_t n, int64_t d, double* mean, double* ss) {
  __shared__ double part[8][33];
  __shared__ double mu[32];
  const int cx = threadIdx.x % 32, ry = threadIdx.x / 32;
  const int64_t c = blockIdx.x * int64_t(32) + cx;
  double s = 0;
  if (c < d)
    for (int64_t i = ry; i < n; i += 8) s += X[i * d + c];
  part[ry][cx] = s;
  __syncthreads();
  if (ry == 0) {
    double t = 0;
    for (int k = 0; k < 8; ++k) t += part[k][cx];
    mu[cx] = t / double(n);
    if (c < d) mean[c] = mu[cx];
  }
  __syncthreads();
  s = 0;
  if (c < d)
    for (int64_t i = ry; i < n; i += 8) {
      const double t = X[i * d + c] - mu[cx];
      s += t * t;
    }
  part[ry][cx] = s;
  __syncthreads();
  if (ry == 0 && c < d) {
    double t = 0;
    for (int k = 0; k < 8; ++k) t += part[k][cx];
    ss[c] = t;
  }
}

// out_c = scale * sum_n X[n, c] * Y[n, c] (Y null: scale * sum_n X[n, c]).
__global__ void __launch_bounds__(kThreads)
column_dot_kernel(const float* X, const float* Y, int64_t n, int64_t d, double scale, double* out) {
  __shared__ double part[8][33];
  const int cx = threadIdx.x % 32, ry = threadIdx.x / 32;
  const int64_t c = blockIdx.x * int64_t(32) + cx;
  double s = 0;
  if (c < d)
    for (int64_t i = ry; i < n; i += 8) s += Y ? double(X[i * d + c]) * Y[i * d + c] : double(X[i * d + c]);
  part[ry][cx] = s;
  __syncthreads();
  if (ry == 0 && c < d) {
    double t = 0;
    for (int k = 0; k < 8; ++k) t += part[k][cx];
    out[c] = scale * t;
  }
}

// ---- elementwise functors -------------------------------------------------------------------
struct Center {  // out = (X - mean) * scale (scale null: 1)
  const float* X; const double* mean; const double* scale; int64_t d; float* out;
  __device__ void operator()(int64_t i) const {
    const int64_t c = i % d;
    double v = X[i] - mean[c];
    if (scale) v *= scale[c];
    out[i] = float(v);
  }
};
struct InvStd {  // batch norm: 1 / sqrt(biased var + eps)
  const double* ss; double n, eps; double* out;
  __device__ void operator()(int64_t c) const { out[c] = 1.0 / sqrt(ss[c] / n + eps); }
};
struct AddCols {  // dX += w_c X (w_c = 0 adds nothing)
  float* dX; const float* X; const double* w; int64_t d;
  __device__ void operator()(int64_t i) const { dX[i] = float(dX[i] + w[i % d] * X[i]); }
};
struct InvGrad {  // dx = gi (x - y), dy = -dx
  const float* x; const float* y; double gi; float* dx; float* dy;
  __device__ void operator()(int64_t i) const {
    const double t = gi * (double(x[i]) - y[i]);
    dx[i] = float(t);
    dy[i] = float(-t);
  }
};
// VICReg per-column weight of x_c in the gradient: the variance term
// -g_var [std < 1] / (d (n - 1) std) (relu'(0) = 0 as in PyTorch), and on the Gram path the
// covariance term's -4 scale s_c.
struct VicColW {
  const double* ss; double nm1, eps, d, g_var, cov4, gram; double* w;
  __device__ void operator()(int64_t c) const {
    const double sd = sqrt(ss[c] / nm1 + eps);
    double v = (g_var != 0 && sd < 1.0) ? -g_var / (d * nm1 * sd) : 0.0;
    if (gram != 0) v -= cov4 * ss[c];
    w[c] = v;
  }
};
struct ZeroDiag {
  float* M; int64_t d;
  __device__ void operator()(int64_t i) const { M[i * d + i] = 0.0f; }
};
// Barlow Gram path: w_c = g (2 (c_ii - 1) - 2 lam c_ii) / n.
struct BarlowColW {
  const double* cd; double g, lam, n; double* w;
  __device__ void operator()(int64_t c) const { w[c] = g * (2.0 * (cd[c] - 1) - 2.0 * lam * cd[c]) / n; }
};
// Barlow direct path: dc = 2 (c_ii - 1) on the diagonal, 2 lam c_ij off it (in place).
struct BarlowDc {
  float* C; const double* cd; double lam; int64_t d;
  __device__ void operator()(int64_t i) const {
    const int64_t r = i / d, c = i % d;
    C[i] = r == c ? float(2.0 * (cd[r] - 1)) : float(2.0 * lam * C[i]);
  }
};
// Batch-norm backward (biased var): dz = inv_std (dA - m1 - A m2), m1 / m2 column means.
struct BnBwd {
  const float* dA; const float* A; const double* inv; const double* m1; const double* m2; int64_t d; float* dz;
  __device__ void operator()(int64_t i) const {
    const int64_t c = i % d;
    dz[i] = float(inv[c] * (dA[i] - m1[c] - A[i] * m2[c]));
  }
};

// ---- reduction functors ---------------------------------------------------------------------
struct SqDiff {
  const float* x; const float* y;
  __device__ double operator()(int64_t i) const { const double t = double(x[i]) - y[i]; return t * t; }
};
struct SumSq {  // sum M_ij^2, off the diagonal only when skip_diag
  const float* M; int64_t cols; bool skip_diag;
  __device__ double operator()(int64_t i) const {
    if (skip_diag && i / cols == i % cols) return 0.0;
    return double(M[i]) * M[i];
  }
};
struct Prod {
  const float* a; const float* b;
  __device__ double operator()(int64_t i) const { return double(a[i]) * b[i]; }
};
struct VarTerm {  // relu(1 - sqrt(var + eps))
  const double* ss; double nm1, eps;
  __device__ double operator()(int64_t c) const { return fmax(0.0, 1.0 - sqrt(ss[c] / nm1 + eps)); }
};
struct SqShift {  // (v - shift)^2
  const double* v; double shift;
  __device__ double operator()(int64_t c) const { const double t = v[c] - shift; return t * t; }
};

// ---- workspace --------------------------------------------------------------------------------
struct Work {
  cuda::StreamBuffer fbuf, dbuf;
  float *xc[2], *M[2], *dA[2];
  double *mean[2], *ss[2], *inv[2], *col[3], *parts;
  explicit Work(cudaStream_t s) : fbuf(s), dbuf(s) {}
  // `mats` product matrices of the path's size, `grads` [n, d] gradient buffers.
  Status make(const VICRegParams& p, int mats, int grads) {
    const int64_t n = p.n, d = p.d, mm = vicreg_use_gram(p) ? n * n : d * d;
    SELFSUP_RETURN_IF_ERROR(fbuf.alloc(sizeof(float) * static_cast<size_t>((2 + grads) * n * d + mats * mm),
                                       "vicreg workspace"));
    SELFSUP_RETURN_IF_ERROR(dbuf.alloc(sizeof(double) * static_cast<size_t>(9 * d + kMaxSlots * kParts),
                                       "vicreg workspace"));
    float* f = fbuf.as<float>();
    for (int v = 0; v < 2; ++v, f += n * d) xc[v] = f;
    for (int v = 0; v < 2; ++v) {
      dA[v] = v < grads ? f : nullptr;
      if (v < grads) f += n * d;
    }
    for (int v = 0; v < 2; ++v) {
      M[v] = v < mats ? f : nullptr;
      if (v < mats) f += mm;
    }
    double* g = dbuf.as<double>();
    for (int v = 0; v < 2; ++v) { mean[v] = g; ss[v] = g + d; inv[v] = g + 2 * d; g += 3 * d; }
    for (int k = 0; k < 3; ++k, g += d) col[k] = g;
    parts = g;
    return Status::Ok();
  }
};

Status check_cuda(const VICRegParams& p, bool need_y) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, need_y));
  if (p.dtype != DType::kFloat32)
    return Status::Unsupported(std::string("Expected float32 for x on CUDA but received ") +
                               dtype_name(p.dtype));
  return Status::Ok();
}

Status check_term(const VICRegParams& p, int which) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p, false));
  if (which != 0 && which != 1)
    return Status::Invalid("Expected 0 (variance) or 1 (covariance) for which but received " + std::to_string(which));
  return Status::Ok();
}

// Column statistics of view v into W, then its centred copy xc[v] (scaled by 1 / std when
// batch-normalizing: the Barlow Twins inputs A, B).
Status center_view(const float* X, const VICRegParams& p, int v, bool batchnorm, Work& W, cudaStream_t s) {
  const int64_t n = p.n, d = p.d;
  column_stats_kernel<<<static_cast<unsigned>(ceil_div(d, 32)), kThreads, 0, s>>>(X, n, d, W.mean[v], W.ss[v]);
  SELFSUP_RETURN_IF_ERROR(launch_status("vicreg column_stats_kernel"));
  if (batchnorm)
    SELFSUP_RETURN_IF_ERROR(for_each(d, InvStd{W.ss[v], double(n), p.eps, W.inv[v]}, s, "vicreg inv_std"));
  return for_each(n * d, Center{X, W.mean[v], batchnorm ? W.inv[v] : nullptr, d, W.xc[v]}, s, "vicreg center");
}

// The covariance product of a centred view into M: Gram X_c X_c^T [n, n] or X_c^T X_c [d, d].
Status cov_product(const float* Xc, const VICRegParams& p, float* M, cudaStream_t s) {
  const int64_t n = p.n, d = p.d;
  if (vicreg_use_gram(p)) return sgemm(false, true, n, n, d, 1.0f, Xc, d, Xc, d, 0.0f, M, n, s);
  return sgemm(true, false, d, d, n, 1.0f, Xc, d, Xc, d, 0.0f, M, d, s);
}

// Adds view v's variance and covariance slots: sum relu(1 - std) into *var_slot, and
// f = sum_{i != j} C_ij^2 as cov slots (Gram: ||K||_F^2 - sum_c s_c^2; weights +1 / -1).
Status view_forward(const float* X, const VICRegParams& p, int v, Work& W, Reducer& red,
                    int* var_slot, int cov_slot[2], cudaStream_t s) {
  const int64_t n = p.n, d = p.d;
  SELFSUP_RETURN_IF_ERROR(center_view(X, p, v, false, W, s));
  SELFSUP_RETURN_IF_ERROR(red.add(d, VarTerm{W.ss[v], double(n - 1), p.eps}, var_slot));
  SELFSUP_RETURN_IF_ERROR(cov_product(W.xc[v], p, W.M[0], s));
  const bool gram = vicreg_use_gram(p);
  SELFSUP_RETURN_IF_ERROR(red.add(gram ? n * n : d * d, SumSq{W.M[0], gram ? n : d, !gram}, &cov_slot[0]));
  cov_slot[1] = -1;
  if (gram) SELFSUP_RETURN_IF_ERROR(red.add(d, SqShift{W.ss[v], 0.0}, &cov_slot[1]));
  return Status::Ok();
}

// dX += g_var d(sum relu(1 - std) / d)/dX + cov_scale d(f)/dX on view v (dX initialized).
Status view_backward(const float* X, const VICRegParams& p, int v, double g_var, double cov_scale,
                     Work& W, float* dX, cudaStream_t s) {
  const int64_t n = p.n, d = p.d;
  const bool gram = vicreg_use_gram(p);
  SELFSUP_RETURN_IF_ERROR(center_view(X, p, v, false, W, s));
  const float* xc = W.xc[v];
  if (cov_scale != 0) {
    SELFSUP_RETURN_IF_ERROR(cov_product(xc, p, W.M[0], s));
    const float a = static_cast<float>(4.0 * cov_scale);
    if (gram) {  // 4 scale (K X_c - X_c diag(s)): the diag part goes into the column weights
      SELFSUP_RETURN_IF_ERROR(sgemm(false, false, n, d, n, a, W.M[0], n, xc, d, 1.0f, dX, d, s));
    } else {     // 4 scale X_c (C - diag C)
      SELFSUP_RETURN_IF_ERROR(for_each(d, ZeroDiag{W.M[0], d}, s, "vicreg zero_diag"));
      SELFSUP_RETURN_IF_ERROR(sgemm(false, false, n, d, d, a, xc, d, W.M[0], d, 1.0f, dX, d, s));
    }
  }
  SELFSUP_RETURN_IF_ERROR(for_each(d,
      VicColW{W.ss[v], double(n - 1), p.eps, double(d), g_var, 4.0 * cov_scale,
              (gram && cov_scale != 0) ? 1.0 : 0.0, W.col[0]}, s, "vicreg column weights"));
  return for_each(n * d, AddCols{dX, xc, W.col[0], d}, s, "vicreg add_cols");
}

double cov_norm(const VICRegParams& p) {  // 1 / ((n - 1)^2 d)
  return 1.0 / (static_cast<double>(p.n - 1) * (p.n - 1) * p.d);
}

// Barlow Twins: A, B (batch-normalized views), c_ii into col[2], and the product(s): Gram
// A A^T, B B^T into M[0], M[1], or C = A^T B / n into M[0].
Status barlow_prepare(const VICRegParams& p, Work& W, cudaStream_t s) {
  const int64_t n = p.n, d = p.d;
  SELFSUP_RETURN_IF_ERROR(center_view(static_cast<const float*>(p.x), p, 0, true, W, s));
  SELFSUP_RETURN_IF_ERROR(center_view(static_cast<const float*>(p.y), p, 1, true, W, s));
  column_dot_kernel<<<static_cast<unsigned>(ceil_div(d, 32)), kThreads, 0, s>>>(
      W.xc[0], W.xc[1], n, d, 1.0 / double(n), W.col[2]);
  SELFSUP_RETURN_IF_ERROR(launch_status("barlow column_dot_kernel"));
  if (vicreg_use_gram(p)) {
    SELFSUP_RETURN_IF_ERROR(sgemm(false, true, n, n, d, 1.0f, W.xc[0], d, W.xc[0], d, 0.0f, W.M[0], n, s));
    return sgemm(false, true, n, n, d, 1.0f, W.xc[1], d, W.xc[1], d, 0.0f, W.M[1], n, s);
  }
  return sgemm(true, false, d, d, n, static_cast<float>(1.0 / double(n)), W.xc[0], d, W.xc[1], d,
               0.0f, W.M[0], d, s);
}

}  // namespace

Status vicreg_forward_cuda(const VICRegParams& p, double* out, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p, true));
  if (!out) return Status::Invalid("Expected a non-null device array for out but received null");
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, 1, 0));
  Reducer red(W.parts, s);
  const int64_t n = p.n, d = p.d;
  const float* x = static_cast<const float*>(p.x);
  const float* y = static_cast<const float*>(p.y);
  Coef c{};
  c.nout = 3;
  int inv_slot;
  SELFSUP_RETURN_IF_ERROR(red.add(n * d, SqDiff{x, y}, &inv_slot));
  c.w[0][inv_slot] = 1.0 / static_cast<double>(n * d);
  const float* views[2] = {x, y};
  for (int v = 0; v < 2; ++v) {
    int var_slot, cov[2];
    SELFSUP_RETURN_IF_ERROR(view_forward(views[v], p, v, W, red, &var_slot, cov, s));
    c.w[1][var_slot] = 1.0 / (2.0 * d);
    c.w[2][cov[0]] = cov_norm(p);
    if (cov[1] >= 0) c.w[2][cov[1]] = -cov_norm(p);
  }
  return red.finish(c, out);
}

Status vicreg_backward_cuda(const VICRegParams& p, double g_inv, double g_var, double g_cov,
                            void* dx, void* dy, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p, true));
  if (!dx || !dy) return Status::Invalid("Expected non-null device arrays for dx, dy but received null");
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, 1, 0));
  const int64_t n = p.n, d = p.d;
  const float* x = static_cast<const float*>(p.x);
  const float* y = static_cast<const float*>(p.y);
  float* g[2] = {static_cast<float*>(dx), static_cast<float*>(dy)};
  SELFSUP_RETURN_IF_ERROR(for_each(n * d, InvGrad{x, y, 2.0 * g_inv / static_cast<double>(n * d), g[0], g[1]},
                                   s, "vicreg invariance grad"));
  const float* views[2] = {x, y};
  for (int v = 0; v < 2; ++v)
    SELFSUP_RETURN_IF_ERROR(view_backward(views[v], p, v, g_var / 2, g_cov * cov_norm(p), W, g[v], s));
  return Status::Ok();
}

Status vicreg_term_forward_cuda(const VICRegParams& p, int which, double* out, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_term(p, which));
  if (!out) return Status::Invalid("Expected a non-null device array for out but received null");
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, 1, 0));
  Reducer red(W.parts, s);
  Coef c{};
  c.nout = 1;
  int var_slot, cov[2];
  SELFSUP_RETURN_IF_ERROR(view_forward(static_cast<const float*>(p.x), p, 0, W, red, &var_slot, cov, s));
  if (which == 0) {
    c.w[0][var_slot] = 1.0 / static_cast<double>(p.d);
  } else {
    c.w[0][cov[0]] = cov_norm(p);
    if (cov[1] >= 0) c.w[0][cov[1]] = -cov_norm(p);
  }
  return red.finish(c, out);
}

Status vicreg_term_backward_cuda(const VICRegParams& p, int which, double g, void* dx, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_term(p, which));
  if (!dx) return Status::Invalid("Expected a non-null device array for dx but received null");
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, 1, 0));
  SELFSUP_RETURN_IF_ERROR(cuda::cuda_status(
      cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<size_t>(p.n * p.d), s), "cudaMemsetAsync"));
  return view_backward(static_cast<const float*>(p.x), p, 0, which == 0 ? g : 0.0,
                       which == 1 ? g * cov_norm(p) : 0.0, W, static_cast<float*>(dx), s);
}

Status barlow_twins_forward_cuda(const VICRegParams& p, double* out, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p, true));
  if (!out) return Status::Invalid("Expected a non-null device array for out but received null");
  const bool gram = vicreg_use_gram(p);
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, gram ? 2 : 1, 0));
  SELFSUP_RETURN_IF_ERROR(barlow_prepare(p, W, s));
  const int64_t n = p.n, d = p.d;
  Reducer red(W.parts, s);
  Coef c{};
  c.nout = 3;
  int on, sq, f;
  SELFSUP_RETURN_IF_ERROR(red.add(d, SqShift{W.col[2], 1.0}, &on));
  // off = sum (A A^T) o (B B^T) / n^2 - sum c_ii^2 (Gram), or sum_{i != j} C_ij^2.
  double wf = 1.0, wsq = 0.0;
  if (gram) {
    SELFSUP_RETURN_IF_ERROR(red.add(d, SqShift{W.col[2], 0.0}, &sq));
    SELFSUP_RETURN_IF_ERROR(red.add(n * n, Prod{W.M[0], W.M[1]}, &f));
    wf = 1.0 / (static_cast<double>(n) * n);
    wsq = -1.0;
  } else {
    SELFSUP_RETURN_IF_ERROR(red.add(d * d, SumSq{W.M[0], d, true}, &f));
    sq = f;  // unused (weight 0)
  }
  c.w[1][on] = 1.0;
  c.w[2][f] = wf;
  c.w[2][sq] += wsq;
  c.w[0][on] = 1.0;
  c.w[0][f] = p.lambda * wf;
  c.w[0][sq] += p.lambda * wsq;
  return red.finish(c, out);
}

Status barlow_twins_backward_cuda(const VICRegParams& p, double g, void* dz1, void* dz2, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_cuda(p, true));
  if (!dz1 || !dz2) return Status::Invalid("Expected non-null device arrays for dz1, dz2 but received null");
  const bool gram = vicreg_use_gram(p);
  Work W(s);
  SELFSUP_RETURN_IF_ERROR(W.make(p, gram ? 2 : 1, 2));
  SELFSUP_RETURN_IF_ERROR(barlow_prepare(p, W, s));
  const int64_t n = p.n, d = p.d;
  const double lam = p.lambda;
  const float *A = W.xc[0], *B = W.xc[1];
  float *dA = W.dA[0], *dB = W.dA[1];
  if (gram) {
    // dA = 2 lam Kb A / n^2 + B diag(w), dB = 2 lam Ka B / n^2 + A diag(w).
    const float a = static_cast<float>(g * 2.0 * lam / (static_cast<double>(n) * n));
    SELFSUP_RETURN_IF_ERROR(sgemm(false, false, n, d, n, a, W.M[1], n, A, d, 0.0f, dA, d, s));
    SELFSUP_RETURN_IF_ERROR(sgemm(false, false, n, d, n, a, W.M[0], n, B, d, 0.0f, dB, d, s));
    SELFSUP_RETURN_IF_ERROR(for_each(d, BarlowColW{W.col[2], g, lam, double(n), W.col[0]}, s, "barlow column weights"));
    SELFSUP_RETURN_IF_ERROR(for_each(n * d, AddCols{dA, B, W.col[0], d}, s, "barlow add_cols"));
    SELFSUP_RETURN_IF_ERROR(for_each(n * d, AddCols{dB, A, W.col[0], d}, s, "barlow add_cols"));
  } else {
    // dc in place of C; dA = B dc^T / n, dB = A dc / n.
    SELFSUP_RETURN_IF_ERROR(for_each(d * d, BarlowDc{W.M[0], W.col[2], lam, d}, s, "barlow dc"));
    const float a = static_cast<float>(g / double(n));
    SELFSUP_RETURN_IF_ERROR(sgemm(false, true, n, d, d, a, B, d, W.M[0], d, 0.0f, dA, d, s));
    SELFSUP_RETURN_IF_ERROR(sgemm(false, false, n, d, d, a, A, d, W.M[0], d, 0.0f, dB, d, s));
  }
  // Back through each batch norm: m1 = mean_n dA, m2 = mean_n dA A.
  const float* dIn[2] = {dA, dB};
  float* dOut[2] = {static_cast<float*>(dz1), static_cast<float*>(dz2)};
  for (int v = 0; v < 2; ++v) {
    const unsigned blocks = static_cast<unsigned>(ceil_div(d, 32));
    column_dot_kernel<<<blocks, kThreads, 0, s>>>(dIn[v], nullptr, n, d, 1.0 / double(n), W.col[0]);
    SELFSUP_RETURN_IF_ERROR(launch_status("barlow column_dot_kernel"));
    column_dot_kernel<<<blocks, kThreads, 0, s>>>(dIn[v], W.xc[v], n, d, 1.0 / double(n), W.col[1]);
    SELFSUP_RETURN_IF_ERROR(launch_status("barlow column_dot_kernel"));
    SELFSUP_RETURN_IF_ERROR(for_each(n * d, BnBwd{dIn[v], W.xc[v], W.inv[v], W.col[0], W.col[1], d, dOut[v]},
                                     s, "barlow batchnorm backward"));
  }
  return Status::Ok();
}

}  // namespace selfsup
