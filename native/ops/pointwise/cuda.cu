// GELU and LayerNorm on CUDA (see cuda.h). The formulas are cpu.cc's (PyTorch's F.gelu and
// F.layer_norm); the layout of the work:
// - GELU: one grid-stride elementwise kernel each way.
// - LayerNorm: a 256-thread block per row; mean, variance and the backward's two row sums are
//   double sums over a fixed strided assignment, combined by a fixed shared-memory tree.
// - Column sums (dweight, dbias, GELU's dbias): a block per 32 columns; its 8 row groups walk the
//   rows with a fixed stride in double and are merged in a fixed order. No atomics anywhere, so
//   every result is the same bits on every run.
#include "ops/pointwise/cuda.h"

#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <type_traits>

#include "cuda/memory.h"

namespace selfsup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid-stride beyond this
constexpr int kColTile = 32, kRowGroups = kThreads / kColTile;
constexpr float kSqrt1_2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kTanhK = 0.79788456080286536f, kTanhC = 0.044715f;  // sqrt(2/pi), the cubic term

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

Status float32_only(const char* op, DType dt) {
  if (dt == DType::kFloat32) return Status::Ok();
  return Status::Unsupported(std::string("Expected a float32 tensor for ") + op + " on cuda but received " + dtype_name(dt));
}

// gelu(x) and gelu'(x). The erf form as x Phi(x) with Phi = erfc(-x / sqrt 2) / 2: no
// cancellation on the lower tail (cpu.cc's reason too). The tanh form's 0.5 (1 + tanh u) is
// sigmoid(2u), which stays finite for any x.
// As on the CPU, x is clamped at -40 where Phi (and the density) is 0 in float, so -inf gives -0
// and a zero gradient, not NaN.
template <GeluMode M> __device__ __forceinline__ float gelu_f(float x) {
  if (M == GeluMode::kErf) return fmaxf(x, -40.0f) * 0.5f * erfcf(-x * kSqrt1_2);
  const float u = kTanhK * (x + kTanhC * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}
template <GeluMode M> __device__ __forceinline__ float gelu_grad_f(float x) {
  if (M == GeluMode::kErf) return 0.5f * erfcf(-x * kSqrt1_2) + fminf(fmaxf(x, -40.0f), 40.0f) * kInvSqrt2Pi * expf(-0.5f * x * x);
  const float u = kTanhK * (x + kTanhC * x * x * x);
  const float s = 1.0f / (1.0f + expf(-2.0f * u));  // 0.5 (1 + tanh u)
  return s + x * 2.0f * s * (1.0f - s) * kTanhK * (1.0f + 3.0f * kTanhC * x * x);
}

template <GeluMode M>
__global__ void gelu_fwd_kernel(const float* x, const float* bias, float* y, int64_t n, int64_t cols) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = gelu_f<M>(bias ? x[i] + bias[i % cols] : x[i]);
}

template <GeluMode M>
__global__ void gelu_bwd_kernel(const float* g, const float* x, const float* bias, float* dx, int64_t n, int64_t cols) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = g[i] * gelu_grad_f<M>(bias ? x[i] + bias[i % cols] : x[i]);
}

// The sum of v over the block (every thread gets it): a fixed tree over shared memory.
__device__ double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();  // sh is reused by the next call
  return r;
}

__global__ void ln_fwd_kernel(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                              int64_t n, double eps) {
  __shared__ double sh[kThreads];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * n;
  float* yr = y + row * n;
  double s = 0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) s += xr[j];
  const double m = block_sum(s, sh) / double(n);
  double q = 0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const double d = xr[j] - m;
    q += d * d;
  }
  const double rs = 1.0 / sqrt(block_sum(q, sh) / double(n) + eps);  // biased variance, as PyTorch
  const float mf = static_cast<float>(m), rf = static_cast<float>(rs);
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    float v = (xr[j] - mf) * rf;  // every x read precedes this row's writes (block_sum syncs): y may alias x
    if (w) v *= w[j];
    if (b) v += b[j];
    yr[j] = v;
  }
  if (threadIdx.x == 0) {
    mean[row] = mf;
    rstd[row] = rf;
  }
}

__global__ void ln_bwd_kernel(const float* g, const float* x, const float* w, const float* mean, const float* rstd,
                              float* dx, int64_t n) {
  __shared__ double sh[kThreads];
  const int64_t row = blockIdx.x;
  const float* gr = g + row * n;
  const float* xr = x + row * n;
  const float m = mean[row], rs = rstd[row];
  double a = 0, c = 0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const double gh = w ? double(gr[j]) * w[j] : double(gr[j]);
    a += gh;
    c += gh * ((xr[j] - m) * rs);
  }
  const float af = static_cast<float>(block_sum(a, sh) / double(n));
  const float cf = static_cast<float>(block_sum(c, sh) / double(n));
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const float gh = w ? gr[j] * w[j] : gr[j];
    dx[row * n + j] = rs * (gh - af - (xr[j] - m) * rs * cf);
  }
}

// out[c] = sum over rows of f(r, c), for the block's 32 columns: row group t walks rows t, t + 8,
// ...; the 8 partials of a column are added in group order.
template <class F>
__device__ void column_sums(F f, float* out, int64_t rows, int64_t cols) {
  __shared__ double sh[kRowGroups][kColTile];
  const int lane = threadIdx.x % kColTile, grp = threadIdx.x / kColTile;
  const int64_t c = blockIdx.x * int64_t(kColTile) + lane;
  double s = 0;
  if (c < cols)
    for (int64_t r = grp; r < rows; r += kRowGroups) s += f(r, c);
  sh[grp][lane] = s;
  __syncthreads();
  if (grp == 0 && c < cols) {
    double t = 0;
    for (int k = 0; k < kRowGroups; k++) t += sh[k][lane];
    out[c] = static_cast<float>(t);
  }
}

// dweight[c] = sum_r g xhat, dbias[c] = sum_r g (either may be null).
__global__ void ln_param_grad_kernel(const float* g, const float* x, const float* mean, const float* rstd,
                                     float* dweight, float* dbias, int64_t rows, int64_t n) {
  if (dweight)
    column_sums([&](int64_t r, int64_t c) { return double(g[r * n + c]) * ((x[r * n + c] - mean[r]) * rstd[r]); },
                dweight, rows, n);
  if (dweight && dbias) __syncthreads();  // the shared partials are reused
  if (dbias) column_sums([&](int64_t r, int64_t c) { return double(g[r * n + c]); }, dbias, rows, n);
}

__global__ void col_sum_kernel(const float* v, float* out, int64_t rows, int64_t cols) {
  column_sums([&](int64_t r, int64_t c) { return double(v[r * cols + c]); }, out, rows, cols);
}

int col_blocks(int64_t cols) { return static_cast<int>((cols + kColTile - 1) / kColTile); }

template <class F> Status with_mode(GeluMode m, F&& f) {
  if (m == GeluMode::kErf) f(std::integral_constant<GeluMode, GeluMode::kErf>{});
  else if (m == GeluMode::kTanh) f(std::integral_constant<GeluMode, GeluMode::kTanh>{});
  else return Status::OutOfRange("Expected 0 (erf) or 1 (tanh) for mode but received " + std::to_string(static_cast<int>(m)));
  return Status::Ok();
}

// Column sums of zero rows are zeros (the CPU writes them too).
Status zero(void* p, int64_t n, cudaStream_t s) {
  if (!p || n == 0) return Status::Ok();
  return cuda::from_cuda(static_cast<int>(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), s)), "cudaMemsetAsync");
}

}  // namespace

Status gelu_forward_cuda(const GeluParams& p, void* y, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.cols, p.x));
  SELFSUP_RETURN_IF_ERROR(float32_only("gelu", p.dtype));
  const int64_t n = p.rows * p.cols;
  if (n == 0) return Status::Ok();
  if (!y) return Status::Invalid("Expected a non-null array for out but received null");
  const auto* x = static_cast<const float*>(p.x);
  const auto* b = static_cast<const float*>(p.bias);
  SELFSUP_RETURN_IF_ERROR(with_mode(p.mode, [&](auto mode) {
    gelu_fwd_kernel<decltype(mode)::value><<<blocks_for(n), kThreads, 0, s>>>(x, b, static_cast<float*>(y), n, p.cols);
  }));
  return cuda::check_launch("gelu_fwd_kernel");
}

Status gelu_backward_cuda(const GeluParams& p, const void* g, void* dx, void* dbias, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.cols, p.x));
  SELFSUP_RETURN_IF_ERROR(float32_only("gelu", p.dtype));
  if (dbias && !p.bias) return Status::Invalid("Expected a bias for dbias but received null");
  const int64_t n = p.rows * p.cols;
  if (n == 0) return zero(dbias, p.cols, s);
  if (!g || !dx) return Status::Invalid("Expected non-null arrays for grad, dx but received null");
  const auto* x = static_cast<const float*>(p.x);
  const auto* b = static_cast<const float*>(p.bias);
  SELFSUP_RETURN_IF_ERROR(with_mode(p.mode, [&](auto mode) {
    gelu_bwd_kernel<decltype(mode)::value><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const float*>(g), x, b, static_cast<float*>(dx), n, p.cols);
  }));
  SELFSUP_RETURN_IF_ERROR(cuda::check_launch("gelu_bwd_kernel"));
  if (!dbias) return Status::Ok();
  col_sum_kernel<<<col_blocks(p.cols), kThreads, 0, s>>>(static_cast<const float*>(dx), static_cast<float*>(dbias), p.rows, p.cols);
  return cuda::check_launch("col_sum_kernel");
}

Status layer_norm_forward_cuda(const LayerNormParams& p, void* y, float* mean, float* rstd, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.n, p.x));
  SELFSUP_RETURN_IF_ERROR(float32_only("layerNorm", p.dtype));
  if (!(p.eps >= 0) || !std::isfinite(p.eps))
    return Status::OutOfRange("Expected a finite number >= 0 for eps but received " + std::to_string(p.eps));
  if (p.rows == 0) return Status::Ok();
  if (p.n == 0) return Status::OutOfRange("Expected n >= 1 for x but received n=0");
  if (!y || !mean || !rstd) return Status::Invalid("Expected non-null arrays for out, mean, rstd but received null");
  if (p.rows > INT32_MAX) return Status::Unsupported("Expected at most 2^31 - 1 rows for layerNorm on cuda but received " + std::to_string(p.rows));
  ln_fwd_kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, s>>>(static_cast<const float*>(p.x), static_cast<const float*>(p.weight),
                                                                   static_cast<const float*>(p.bias), static_cast<float*>(y), mean, rstd, p.n, p.eps);
  return cuda::check_launch("ln_fwd_kernel");
}

Status layer_norm_backward_cuda(const LayerNormParams& p, const void* g, const float* mean, const float* rstd,
                                void* dx, void* dweight, void* dbias, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.n, p.x));
  SELFSUP_RETURN_IF_ERROR(float32_only("layerNorm", p.dtype));
  if (p.rows == 0 || p.n == 0) {
    SELFSUP_RETURN_IF_ERROR(zero(dweight, p.n, s));
    return zero(dbias, p.n, s);
  }
  if (!g || !mean || !rstd || !dx) return Status::Invalid("Expected non-null arrays for grad, mean, rstd, dx but received null");
  if (p.rows > INT32_MAX) return Status::Unsupported("Expected at most 2^31 - 1 rows for layerNorm on cuda but received " + std::to_string(p.rows));
  const auto* gf = static_cast<const float*>(g);
  const auto* x = static_cast<const float*>(p.x);
  // The parameter gradients read g, so they run before dx is written (dx may alias g).
  if (dweight || dbias) {
    ln_param_grad_kernel<<<col_blocks(p.n), kThreads, 0, s>>>(gf, x, mean, rstd, static_cast<float*>(dweight),
                                                              static_cast<float*>(dbias), p.rows, p.n);
    SELFSUP_RETURN_IF_ERROR(cuda::check_launch("ln_param_grad_kernel"));
  }
  ln_bwd_kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, s>>>(gf, x, static_cast<const float*>(p.weight), mean, rstd,
                                                                   static_cast<float*>(dx), p.n);
  return cuda::check_launch("ln_bwd_kernel");
}

}  // namespace selfsup
