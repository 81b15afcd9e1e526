// Log-domain Sinkhorn-Knopp on CUDA (math and update order in params.h; CPU kernel cpu.cc).
//
// With L[b,k] = S[b,k] / eps (logits) or log S[b,k] (probs, -inf for 0), potentials f (rows) and
// g (columns) in double, and the plan P = exp(L + f_b + g_k), each iteration (SwAV's
// distributed_sinkhorn order) is two memory-bound passes over the scores:
//   column pass:  clse_k = LSE_b(L[b,k] + f_b),  g_k = log c_k - clse_k
//   row pass:     rlse_b = LSE_k(L[b,k] + g_k),  f_b = log r_b - rlse_b
// and the output is out[b,k] = exp(L + g_k - rlse_b) (rows scaled to 1). Every log-sum-exp keeps
// its running max (Milakov & Gimelshein 2018), so nothing over- or underflows at any epsilon: the
// CPU kernel's cached-exp fast path and its underflow fallbacks are not needed here, where the
// exps are cheap next to the memory traffic. The column pass also gives the previous plan's
// column sums (exp(g_k + clse_k)), so the tolerance check costs no extra pass.
//
// Column pass: a block per 32 columns x one row chunk (8 row groups of a warp each: coalesced
// 128-byte row segments), per-thread online LSE, merged in a fixed order, chunk partials merged in
// chunk order by a second kernel. Row pass: a block per row (block max, then block sum).
// Deterministic: no float atomics (the validation's integer atomicMin finds the first bad index,
// which is order-independent).
#include "ops/sinkhorn/cuda.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/gemm.h"
#include "cuda/reduce.cuh"

namespace selfsup {
namespace {

using cuda::block_max;
using cuda::block_sum;
using cuda::ceil_div;
using cuda::cuda_status;
using cuda::launch_status;

constexpr int kThreads = 256;
constexpr int64_t kMaxChunks = 32;

__device__ __forceinline__ double logit(float s, bool probs, float inv) {
  if (probs) return s > 0.0f ? log(double(s)) : -INFINITY;
  return double(s * inv);  // the CPU's float product
}

// Folds x into the running (m, s) of a log-sum-exp (x = -inf adds nothing).
__device__ __forceinline__ void lse_add(double& m, double& s, double x) {
  if (x == -INFINITY) return;
  if (x > m) {
    s = s * exp(m - x) + 1.0;
    m = x;
  } else {
    s += exp(x - m);
  }
}
__device__ __forceinline__ void lse_merge(double& m, double& s, double m2, double s2) {
  if (m2 == -INFINITY) return;
  if (m2 > m) {
    s = s * exp(m - m2) + s2;
    m = m2;
  } else {
    s += s2 * exp(m2 - m);
  }
}

// First invalid element (atomicMin of its index): a non-finite S / eps, a negative or
// non-finite probability; and with probs the first row without a positive entry.
__global__ void __launch_bounds__(kThreads)
validate_kernel(const float* S, int64_t K, bool probs, float inv, unsigned long long* bad,
                unsigned long long* zero_row) {
  __shared__ float red[32];
  const int64_t b = blockIdx.x;
  const float* s = S + b * K;
  float pos = 0.0f;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) {
    const float v = s[k];
    const float y = probs ? v : v * inv;
    if (!isfinite(y) || (probs && v < 0.0f)) atomicMin(bad, static_cast<unsigned long long>(b * K + k));
    if (v > 0.0f) pos = 1.0f;
  }
  if (probs) {
    pos = block_sum(pos, red);
    if (threadIdx.x == 0 && !(pos > 0.0f)) atomicMin(zero_row, static_cast<unsigned long long>(b));
  }
}

// Partial clse over rows [chunk * rows, ...) for columns blockIdx.x * 32 .. (+32).
__global__ void __launch_bounds__(kThreads)
column_kernel(const float* S, int64_t B, int64_t K, bool probs, float inv, const double* f,
              int64_t rows, double* pm, double* ps) {
  __shared__ double sm[8][33], ss[8][33];
  const int cx = threadIdx.x % 32, ry = threadIdx.x / 32;
  const int64_t k = blockIdx.x * int64_t(32) + cx;
  const int64_t b0 = blockIdx.y * rows, b1 = b0 + rows < B ? b0 + rows : B;
  double m = -INFINITY, s = 0.0;
  if (k < K)
    for (int64_t b = b0 + ry; b < b1; b += 8) lse_add(m, s, logit(S[b * K + k], probs, inv) + f[b]);
  sm[ry][cx] = m;
  ss[ry][cx] = s;
  __syncthreads();
  if (ry != 0 || k >= K) return;
  for (int i = 1; i < 8; ++i) lse_merge(m, s, sm[i][cx], ss[i][cx]);
  pm[blockIdx.y * K + k] = m;
  ps[blockIdx.y * K + k] = s;
}

// Merges the chunks into clse_k; plan_k = exp(g_k + clse_k) (the column sums of the current plan),
// then the column update g_k = log c_k - clse_k (-inf for an empty column or a zero prior).
__global__ void column_merge_kernel(const double* pm, const double* ps, int64_t nch, int64_t K,
                                    const double* logc, double* g, double* plan) {
  const int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (k >= K) return;
  double m = -INFINITY, s = 0.0;
  for (int64_t c = 0; c < nch; ++c) lse_merge(m, s, pm[c * K + k], ps[c * K + k]);
  const double clse = m == -INFINITY ? -INFINITY : m + log(s);
  plan[k] = (g[k] == -INFINITY || clse == -INFINITY) ? 0.0 : exp(g[k] + clse);
  g[k] = (logc[k] > -INFINITY && isfinite(clse)) ? logc[k] - clse : -INFINITY;
}

// err = sum_k |plan_k - c_k| (one block, fixed order).
__global__ void __launch_bounds__(kThreads)
error_kernel(const double* plan, const double* c, int64_t K, double* err) {
  __shared__ double red[32];
  double e = 0;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) e += fabs(plan[k] - c[k]);
  e = block_sum(e, red);
  if (threadIdx.x == 0) *err = e;
}

// Row update: rlse_b = LSE_k(L + g), f_b = log r_b - rlse_b.
__global__ void __launch_bounds__(kThreads)
row_kernel(const float* S, int64_t K, bool probs, float inv, const double* g, const double* logr,
           double* f, double* rlse) {
  __shared__ double red[32];
  const int64_t b = blockIdx.x;
  const float* s = S + b * K;
  double m = -INFINITY;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) m = fmax(m, logit(s[k], probs, inv) + g[k]);
  m = block_max(m, red);
  double sum = 0;
  if (m > -INFINITY)
    for (int64_t k = threadIdx.x; k < K; k += kThreads) {
      const double x = logit(s[k], probs, inv) + g[k];
      if (x > -INFINITY) sum += exp(x - m);
    }
  sum = block_sum(sum, red);
  if (threadIdx.x != 0) return;
  const double l = m == -INFINITY ? -INFINITY : m + log(sum);
  rlse[b] = l;
  f[b] = l == -INFINITY ? -INFINITY : logr[b] - l;
}

// out[b,k] = exp(L + g_k - rlse_b) (zero rows stay zero).
__global__ void out_kernel(const float* S, int64_t B, int64_t K, bool probs, float inv,
                           const double* g, const double* rlse, float* out) {
  const int64_t total = B * K;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / K, k = i % K;
    const double x = logit(S[i], probs, inv) + g[k];
    out[i] = (rlse[b] == -INFINITY || x == -INFINITY) ? 0.0f : float(exp(x - rlse[b]));
  }
}

}  // namespace

Status sinkhorn_forward_cuda(SinkhornParams& p, cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(sinkhorn_check(p));
  if (p.all_reduce)
    return Status::Unsupported("Expected a single process for collective on CUDA but received an allReduceSum hook");
  p.sweeps = 0;
  p.iterations_done = 0;
  std::vector<double> c;
  SELFSUP_RETURN_IF_ERROR(sinkhorn_col_marginal(p, &c));
  double rsum = 0;
  SELFSUP_RETURN_IF_ERROR(sinkhorn_row_sum(p, &rsum));
  const int64_t B = p.B, K = p.K;
  if (B < 1) {  // nothing to transport (as the CPU kernel)
    p.marginal_error = 1.0;
    return Status::Ok();
  }
  if (p.row_marginal && !(rsum > 0))
    return Status::OutOfRange("Expected a row marginal with a positive sum for rowMarginal but received a sum of " +
                              sinkhorn_fmt(rsum));
  if (B > 0x7fffffff)
    return Status::OutOfRange("Expected B < 2^31 for B but received " + std::to_string(B));
  // Host-side constants: log c, c, log r (normalized like the CPU kernel).
  std::vector<double> host(static_cast<size_t>(2 * K + B));
  for (int64_t k = 0; k < K; ++k) {
    host[k] = std::log(c[k]);
    host[K + k] = c[k];
  }
  for (int64_t b = 0; b < B; ++b)
    host[2 * K + b] = std::log(p.row_marginal ? p.row_marginal[b] / rsum : 1.0 / static_cast<double>(B));
  const bool probs = p.probs;
  const float inv = probs ? 1.0f : static_cast<float>(1.0 / p.epsilon);
  const int64_t rows = std::max<int64_t>(64, ceil_div(B, kMaxChunks));
  const int64_t nch = ceil_div(B, rows);
  // Device workspace: logc, c, logr, g, plan, saved g [K], f, rlse [B], chunk partials
  // 2 x [nch, K], error, then two validation words.
  cuda::StreamBuffer work(stream);
  const size_t ndouble = static_cast<size_t>(2 * K + B + 3 * K + 2 * B + 2 * nch * K + 1);
  SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(double) * ndouble + 2 * sizeof(unsigned long long), "sinkhorn workspace"));
  double* logc = work.as<double>();
  double* cdev = logc + K;
  double* logr = cdev + K;
  double* g = logr + B;
  double* plan = g + K;
  double* gsave = plan + K;
  double* f = gsave + K;
  double* rlse = f + B;
  double* pm = rlse + B;
  double* ps = pm + nch * K;
  double* err = ps + nch * K;
  unsigned long long* flags = reinterpret_cast<unsigned long long*>(err + 1);
  SELFSUP_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(logc, host.data(), sizeof(double) * host.size(), cudaMemcpyHostToDevice, stream),
      "sinkhorn upload"));
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(g, 0, sizeof(double) * K, stream), "sinkhorn init"));
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(f, 0, sizeof(double) * B, stream), "sinkhorn init"));
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(flags, 0xff, 2 * sizeof(unsigned long long), stream), "sinkhorn init"));

  // Validation (one sync): the CPU kernel's messages.
  validate_kernel<<<static_cast<unsigned>(B), kThreads, 0, stream>>>(p.scores, K, probs, inv, flags, flags + 1);
  SELFSUP_RETURN_IF_ERROR(launch_status("sinkhorn validate_kernel"));
  unsigned long long hflags[2];
  SELFSUP_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(hflags, flags, sizeof(hflags), cudaMemcpyDeviceToHost, stream), "sinkhorn validate"));
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream), "sinkhorn validate"));
  p.sweeps = 1;
  if (hflags[0] != ~0ull) {
    float v = 0;
    SELFSUP_RETURN_IF_ERROR(cuda_status(
        cudaMemcpy(&v, p.scores + hflags[0], sizeof(float), cudaMemcpyDeviceToHost), "sinkhorn validate"));
    const std::string what = probs ? "finite non-negative probabilities" : "finite values of scores / epsilon";
    return Status::OutOfRange("Expected " + what + " for scores but received " + sinkhorn_fmt(v) +
                              " at index " + std::to_string(hflags[0]));
  }
  if (hflags[1] != ~0ull)
    return Status::OutOfRange("Expected each row of scores to have a positive entry (input 'probs') but received an all-zero row " +
                              std::to_string(hflags[1]));

  const dim3 cgrid(static_cast<unsigned>(ceil_div(K, 32)), static_cast<unsigned>(nch));
  const unsigned kblocks = static_cast<unsigned>(ceil_div(K, kThreads));
  auto column_pass = [&]() -> Status {  // plan <- column sums of the current plan, g <- update
    column_kernel<<<cgrid, kThreads, 0, stream>>>(p.scores, B, K, probs, inv, f, rows, pm, ps);
    SELFSUP_RETURN_IF_ERROR(launch_status("sinkhorn column_kernel"));
    column_merge_kernel<<<kblocks, kThreads, 0, stream>>>(pm, ps, nch, K, logc, g, plan);
    ++p.sweeps;
    return launch_status("sinkhorn column_merge_kernel");
  };
  auto row_pass = [&]() -> Status {
    row_kernel<<<static_cast<unsigned>(B), kThreads, 0, stream>>>(p.scores, K, probs, inv, g, logr, f, rlse);
    ++p.sweeps;
    return launch_status("sinkhorn row_kernel");
  };
  auto read_error = [&](double* out) -> Status {  // error of the plan whose sums are in `plan`
    error_kernel<<<1, kThreads, 0, stream>>>(plan, cdev, K, err);
    SELFSUP_RETURN_IF_ERROR(launch_status("sinkhorn error_kernel"));
    SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(out, err, sizeof(double), cudaMemcpyDeviceToHost, stream),
                                        "sinkhorn error"));
    return cuda_status(cudaStreamSynchronize(stream), "sinkhorn error");
  };

  auto save_g = [&]() {
    return cuda_status(cudaMemcpyAsync(gsave, g, sizeof(double) * K, cudaMemcpyDeviceToDevice, stream), "sinkhorn save g");
  };
  auto restore_g = [&]() {
    return cuda_status(cudaMemcpyAsync(g, gsave, sizeof(double) * K, cudaMemcpyDeviceToDevice, stream), "sinkhorn restore g");
  };

  const int64_t n = p.iterations;
  const bool tol = p.tolerance > 0;
  int64_t t = 0;
  if (n > 0) {
    SELFSUP_RETURN_IF_ERROR(column_pass());  // f = 0: the raw kernel's columns
    for (;;) {
      SELFSUP_RETURN_IF_ERROR(row_pass());
      ++t;
      if (!tol && t >= n) break;
      // Column pass with the new f: the plan's column sums and the next column update. When
      // the tolerance stops the loop here, the output needs the measured plan's g: saved first.
      if (tol) SELFSUP_RETURN_IF_ERROR(save_g());
      SELFSUP_RETURN_IF_ERROR(column_pass());
      if (tol) {
        double e = 0;
        SELFSUP_RETURN_IF_ERROR(read_error(&e));
        if (e < p.tolerance || t >= n) {
          p.marginal_error = e;
          SELFSUP_RETURN_IF_ERROR(restore_g());
          break;
        }
      }
    }
  } else {
    SELFSUP_RETURN_IF_ERROR(row_pass());  // g = 0: the row softmax
  }
  p.iterations_done = n > 0 ? t : 0;
  if ((!tol || n == 0) && p.want_error) {  // column sums of the returned plan, g kept
    SELFSUP_RETURN_IF_ERROR(save_g());
    SELFSUP_RETURN_IF_ERROR(column_pass());
    SELFSUP_RETURN_IF_ERROR(read_error(&p.marginal_error));
    SELFSUP_RETURN_IF_ERROR(restore_g());
  }
  out_kernel<<<static_cast<unsigned>(std::min<int64_t>(ceil_div(B * K, kThreads), 65535)), kThreads, 0, stream>>>(
      p.scores, B, K, probs, inv, g, rlse, p.out);
  ++p.sweeps;
  SELFSUP_RETURN_IF_ERROR(launch_status("sinkhorn out_kernel"));
  return cuda_status(cudaStreamSynchronize(stream), "sinkhorn");
}

}  // namespace selfsup
