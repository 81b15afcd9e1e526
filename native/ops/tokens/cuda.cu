// Token gather / scatter / stochastic positions on CUDA (contracts in params.h; CPU kernels in
// cpu.cc). Memory-bound row copies: a block per output row (grid-stride over rows), threads over
// the feature dimension, so reads and writes of a row are coalesced.
//
// Determinism without atomics on floats: every sum is owned by one thread and taken in a fixed
// order. Gradients that scatter-add (gather backward, dpos) are computed per output row by
// scanning that row's candidate indices in ascending (b, k) order, the CPU's order, so the sums
// match the CPU bit for bit; the cost is O(B K) index reads per output row (cached broadcast loads,
// small next to the D-wide rows at the usual K <= 1024). Column sums over many rows (the mask
// token's gradient, dbias) go through per-batch-row partials summed in batch order.
//
// Index checks run on the device (check_token_indices_cuda): integer atomicMin picks the first
// error in (row, position) order, which is what the CPU's sequential check reports.
#include "ops/tokens/cuda.h"

#include <algorithm>
#include <string>

#include "cuda/gemm.h"
#include "cuda/reduce.cuh"

namespace selfsup {
namespace {

using cuda::ceil_div;
using cuda::cuda_status;
using cuda::launch_status;

constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = 65535;

unsigned grid_for(int64_t rows) { return static_cast<unsigned>(std::max<int64_t>(1, std::min(rows, kMaxGrid))); }

__device__ __forceinline__ int64_t row_len(const int32_t* lengths, int64_t b, int64_t K) {
  return lengths ? lengths[b] : K;
}

// ---- index checks -------------------------------------------------------------------------------
// Error codes: key * 4 + kind, key = b (K + 1) (a bad lengths[b]) or b (K + 1) + 1 + k (position k
// of row b); kind 0 lengths, 1 out of range, 2 repeated. The smallest code is the CPU's first error.
__global__ void check_lengths_kernel(const int32_t* lengths, int64_t B, int64_t K, unsigned long long* code) {
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < B; b += int64_t(gridDim.x) * blockDim.x)
    if (lengths[b] < 0 || lengths[b] > K) atomicMin(code, static_cast<unsigned long long>(b * (K + 1)) * 4);
}

// Pass 1: range errors, and (unique) the first position of each index per row into first[b, v].
// Pass 2 (unique): a position whose index appeared earlier in its row.
__global__ void check_indices_kernel(const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K,
                                     int64_t N, int* first, bool pass2, unsigned long long* code) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * K; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / K, k = i % K;
    const int64_t len = row_len(lengths, b, K);
    if (len < 0 || len > K || k >= len) continue;
    const int32_t v = idx[i];
    const unsigned long long key = static_cast<unsigned long long>(b * (K + 1) + 1 + k);
    if (v < 0 || v >= N) {
      if (!pass2) atomicMin(code, key * 4 + 1);
      continue;
    }
    if (!first) continue;
    if (!pass2) atomicMin(&first[b * N + v], static_cast<int>(k));
    else if (first[b * N + v] < k) atomicMin(code, key * 4 + 2);
  }
}

// ---- gather / scatter -----------------------------------------------------------------------------
// out[b, k] = x[b, idx[b, k]] (+ pos[idx[b, k]]), zero past the row's length.
__global__ void __launch_bounds__(kThreads)
gather_kernel(const float* x, const float* pos, const int32_t* idx, const int32_t* lengths, int64_t B,
              int64_t K, int64_t N, int64_t D, bool shared, float* out) {
  for (int64_t r = blockIdx.x; r < B * K; r += gridDim.x) {
    const int64_t b = r / K, k = r % K;
    float* o = out + r * D;
    if (k >= row_len(lengths, b, K)) {
      for (int64_t d = threadIdx.x; d < D; d += kThreads) o[d] = 0.0f;
      continue;
    }
    const int64_t n = idx[r];
    const float* src = x + (shared ? 0 : b * N * D) + n * D;
    if (pos) {
      const float* pr = pos + n * D;
      for (int64_t d = threadIdx.x; d < D; d += kThreads) o[d] = src[d] + pr[d];
    } else {
      for (int64_t d = threadIdx.x; d < D; d += kThreads) o[d] = src[d];
    }
  }
}

// dst[row] = sum of g[b, k] over the valid (b, k) with idx[b, k] = n, ascending (b, k); zero if
// none. per_batch: rows are (b, n) of [B, N, D] (only batch row b contributes); else rows are n of
// [N, D] (every batch row contributes).
__global__ void __launch_bounds__(kThreads)
scatter_add_kernel(const float* g, const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K,
                   int64_t N, int64_t D, bool per_batch, float* dst) {
  const int64_t rows = per_batch ? B * N : N;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t n = per_batch ? r % N : r;
    const int64_t b0 = per_batch ? r / N : 0, b1 = per_batch ? b0 + 1 : B;
    for (int64_t d = threadIdx.x; d < D; d += kThreads) {
      float s = 0.0f;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t len = row_len(lengths, b, K);
        for (int64_t k = 0; k < len; ++k)
          if (idx[b * K + k] == n) s += g[(b * K + k) * D + d];
      }
      dst[r * D + d] = s;
    }
  }
}

// from[b, idx[b, k]] = k for the valid positions (indices are unique per row); from is -1 first.
__global__ void inverse_kernel(const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K, int64_t N,
                               int32_t* from) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * K; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / K, k = i % K;
    if (k < row_len(lengths, b, K)) from[b * N + idx[i]] = static_cast<int32_t>(k);
  }
}

// out[b, n] = src[b, from[b, n]], or fill / zero for the rows no index selected.
__global__ void __launch_bounds__(kThreads)
scatter_kernel(const float* src, const int32_t* from, const float* fill, int64_t B, int64_t N, int64_t K,
               int64_t D, float* out) {
  for (int64_t r = blockIdx.x; r < B * N; r += gridDim.x) {
    const int64_t b = r / N;
    const int32_t f = from[r];
    float* o = out + r * D;
    const float* s = f >= 0 ? src + (b * K + f) * D : fill;
    for (int64_t d = threadIdx.x; d < D; d += kThreads) o[d] = s ? s[d] : 0.0f;
  }
}

// part[b, d] = sum over the rows j < R of batch row b that are included of g[b, j, d]:
// with `from`, the rows no index selected (from < 0); without, the rows j < lengths[b].
__global__ void __launch_bounds__(kThreads)
masked_sum_partial_kernel(const float* g, int64_t B, int64_t R, int64_t D, const int32_t* from,
                          const int32_t* lengths, float* part) {
  const int64_t d = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  if (d >= D) return;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const int64_t len = from ? R : row_len(lengths, b, R);
    float s = 0.0f;
    for (int64_t j = 0; j < len; ++j)
      if (!from || from[b * R + j] < 0) s += g[(b * R + j) * D + d];
    part[b * D + d] = s;
  }
}

// out[d] = sum_b part[b, d], in batch order.
__global__ void sum_partials_kernel(const float* part, int64_t B, int64_t D, float* out) {
  const int64_t d = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (d >= D) return;
  float s = 0.0f;
  for (int64_t b = 0; b < B; ++b) s += part[b * D + d];
  out[d] = s;
}

// ---- StoP -------------------------------------------------------------------------------------
// nz[b, k, i] = std * normal(seed, (3 << 24) | b, k Din + i), zero past the row's length.
__global__ void noise_kernel(uint64_t seed, int64_t B, int64_t K, int64_t Din, const int32_t* lengths, float stdf,
                             float* nz) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * K * Din; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / Din, c = i % Din, b = r / K, k = r % K;
    nz[i] = k < row_len(lengths, b, K)
                ? stdf * philox_normal_at(seed, kStreamStoP | static_cast<uint32_t>(b), static_cast<uint64_t>(k * Din + c))
                : 0.0f;
  }
}

// out[b, k] += pos[idx[b, k]] (+ bias), or zero past the row's length.
__global__ void __launch_bounds__(kThreads)
stop_add_kernel(const float* pos, const int32_t* idx, const int32_t* lengths, const float* bias, int64_t B, int64_t K,
                int64_t Dp, float* out) {
  for (int64_t r = blockIdx.x; r < B * K; r += gridDim.x) {
    const int64_t b = r / K, k = r % K;
    float* o = out + r * Dp;
    if (k >= row_len(lengths, b, K)) {
      for (int64_t d = threadIdx.x; d < Dp; d += kThreads) o[d] = 0.0f;
      continue;
    }
    const float* pr = pos + static_cast<int64_t>(idx[r]) * Dp;
    for (int64_t d = threadIdx.x; d < Dp; d += kThreads) {
      float v = o[d] + pr[d];
      if (bias) v += bias[d];
      o[d] = v;
    }
  }
}

// Zeroes the noise rows past each row's length (a caller's noise buffer may hold anything there).
__global__ void mask_rows_kernel(const int32_t* lengths, int64_t B, int64_t K, int64_t Din, float* nz) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * K * Din; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / Din, b = r / K, k = r % K;
    if (k >= lengths[b]) nz[i] = 0.0f;
  }
}

unsigned flat_grid(int64_t n) { return grid_for(ceil_div(n, kThreads)); }

template <class P> Status check_common(const P& p, bool unique, bool stop, cudaStream_t s) {
  if (p.dtype != DType::kFloat32)
    return Status::Unsupported(std::string("Expected float32 for dtype on CUDA but received ") + dtype_name(p.dtype));
  if (p.B < 0 || p.K < 0 || p.N < 0)
    return Status::OutOfRange("Expected B, N, K >= 0 for shape but received B=" + std::to_string(p.B) +
                              ", N=" + std::to_string(p.N) + ", K=" + std::to_string(p.K));
  if (stop && p.B > kMaxTokenBatch)
    return Status::OutOfRange("Expected batch <= " + std::to_string(kMaxTokenBatch) + " for idx but received " +
                              std::to_string(p.B));
  return check_token_indices_cuda("idx", p.idx, p.lengths, p.B, p.K, p.N, unique, s);
}

// Scatter-add of [B, K, D] rows into [B, N, D] (per_batch) or [N, D].
Status scatter_add(const float* g, const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K, int64_t N,
                   int64_t D, bool per_batch, float* dst, cudaStream_t s) {
  const int64_t rows = per_batch ? B * N : N;
  if (rows == 0 || D == 0) return Status::Ok();
  scatter_add_kernel<<<grid_for(rows), kThreads, 0, s>>>(g, idx, lengths, B, K, N, D, per_batch, dst);
  return launch_status("tokens scatter_add_kernel");
}

// out[d] = sum over batch rows of the included rows (see masked_sum_partial_kernel).
Status masked_column_sum(const float* g, int64_t B, int64_t R, int64_t D, const int32_t* from,
                         const int32_t* lengths, float* out, cudaStream_t s) {
  if (D == 0) return Status::Ok();
  if (B == 0) return cuda_status(cudaMemsetAsync(out, 0, sizeof(float) * D, s), "tokens memset");
  cuda::StreamBuffer part(s);
  SELFSUP_RETURN_IF_ERROR(part.alloc(sizeof(float) * static_cast<size_t>(B * D), "tokens workspace"));
  masked_sum_partial_kernel<<<dim3(static_cast<unsigned>(ceil_div(D, kThreads)), grid_for(B)), kThreads, 0, s>>>(
      g, B, R, D, from, lengths, part.as<float>());
  SELFSUP_RETURN_IF_ERROR(launch_status("tokens masked_sum_partial_kernel"));
  sum_partials_kernel<<<static_cast<unsigned>(ceil_div(D, kThreads)), kThreads, 0, s>>>(part.as<float>(), B, D, out);
  return launch_status("tokens sum_partials_kernel");
}

Status gather(const float* x, const float* pos, const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K,
              int64_t N, int64_t D, bool shared, float* out, cudaStream_t s) {
  if (B * K == 0 || D == 0) return Status::Ok();
  gather_kernel<<<grid_for(B * K), kThreads, 0, s>>>(x, pos, idx, lengths, B, K, N, D, shared, out);
  return launch_status("tokens gather_kernel");
}

// from [B, N]: the position that selected each row, -1 for none.
Status inverse(const int32_t* idx, const int32_t* lengths, int64_t B, int64_t K, int64_t N, int32_t* from,
               cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(from, 0xff, sizeof(int32_t) * B * N, s), "tokens memset"));
  if (B * K == 0) return Status::Ok();
  inverse_kernel<<<flat_grid(B * K), kThreads, 0, s>>>(idx, lengths, B, K, N, from);
  return launch_status("tokens inverse_kernel");
}

// The StoP noise [B, K, Din] into nz (std * normal, zero padding rows).
Status draw_noise(uint64_t seed, int64_t B, int64_t K, int64_t Din, const int32_t* lengths, double std_, float* nz,
                  cudaStream_t s) {
  if (B * K * Din == 0) return Status::Ok();
  noise_kernel<<<flat_grid(B * K * Din), kThreads, 0, s>>>(seed, B, K, Din, lengths, static_cast<float>(std_), nz);
  return launch_status("tokens noise_kernel");
}

}  // namespace

Status check_token_indices_cuda(const char* name, const int32_t* idx, const int32_t* lengths, int64_t B,
                                int64_t K, int64_t N, bool unique, cudaStream_t s) {
  if (B * K > 0 && !idx) return Status::Invalid(std::string("Expected a non-null device array for ") + name + " but received null");
  if (B == 0) return Status::Ok();
  cuda::StreamBuffer work(s);
  const bool first = unique && B * K > 0;
  SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(unsigned long long) + (first ? sizeof(int) * B * N : 0), "tokens index check"));
  unsigned long long* code = work.as<unsigned long long>();
  int* firstpos = first ? reinterpret_cast<int*>(code + 1) : nullptr;
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(code, 0xff, sizeof(*code), s), "tokens memset"));
  if (first) SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(firstpos, 0x7f, sizeof(int) * B * N, s), "tokens memset"));
  if (lengths) {
    check_lengths_kernel<<<flat_grid(B), kThreads, 0, s>>>(lengths, B, K, code);
    SELFSUP_RETURN_IF_ERROR(launch_status("tokens check_lengths_kernel"));
  }
  if (B * K > 0) {
    check_indices_kernel<<<flat_grid(B * K), kThreads, 0, s>>>(idx, lengths, B, K, N, firstpos, false, code);
    SELFSUP_RETURN_IF_ERROR(launch_status("tokens check_indices_kernel"));
    if (first) {
      check_indices_kernel<<<flat_grid(B * K), kThreads, 0, s>>>(idx, lengths, B, K, N, firstpos, true, code);
      SELFSUP_RETURN_IF_ERROR(launch_status("tokens check_indices_kernel"));
    }
  }
  unsigned long long h = 0;
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(&h, code, sizeof(h), cudaMemcpyDeviceToHost, s), "tokens index check"));
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(s), "tokens index check"));
  if (h == ~0ull) return Status::Ok();
  // Decode and read the offending value: the CPU check's messages.
  const int kind = static_cast<int>(h % 4);
  const int64_t key = static_cast<int64_t>(h / 4), b = key / (K + 1), k = key % (K + 1) - 1;
  int32_t v = 0;
  const int32_t* at = kind == 0 ? lengths + b : idx + b * K + k;
  SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemcpy(&v, at, sizeof(v), cudaMemcpyDeviceToHost), "tokens index check"));
  const std::string sb = std::to_string(b), sk = std::to_string(k), sv = std::to_string(v);
  if (kind == 0)
    return Status::OutOfRange("Expected lengths in [0, " + std::to_string(K) + "] for lengths but received lengths[" + sb +
                              "] = " + sv);
  if (kind == 1)
    return Status::OutOfRange("Expected indices in [0, " + std::to_string(N) + ") for " + name + " but received " + sv +
                              " at " + name + "[" + sb + ", " + sk + "] (batch row " + sb + ", position " + sk + ")");
  return Status::Invalid("Expected unique indices within each row for " + std::string(name) + " but received " + sv +
                         " twice in batch row " + sb + " (again at position " + sk + ")");
}

Status tokens_gather_cuda(const TokenGatherParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, false, false, s));
  return gather(static_cast<const float*>(p.x), static_cast<const float*>(p.pos), p.idx, p.lengths, p.B, p.K, p.N,
                p.D, p.x_shared, static_cast<float*>(p.out), s);
}

Status tokens_gather_backward_cuda(const TokenGatherBackwardParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, false, false, s));
  const float* g = static_cast<const float*>(p.grad);
  if (p.dx)
    SELFSUP_RETURN_IF_ERROR(scatter_add(g, p.idx, p.lengths, p.B, p.K, p.N, p.D, !p.x_shared, static_cast<float*>(p.dx), s));
  if (p.dpos)
    SELFSUP_RETURN_IF_ERROR(scatter_add(g, p.idx, p.lengths, p.B, p.K, p.N, p.D, false, static_cast<float*>(p.dpos), s));
  return Status::Ok();
}

Status tokens_scatter_cuda(const TokenScatterParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, true, false, s));
  if (p.B * p.N == 0 || p.D == 0) return Status::Ok();
  cuda::StreamBuffer work(s);
  SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(int32_t) * p.B * p.N, "tokens workspace"));
  SELFSUP_RETURN_IF_ERROR(inverse(p.idx, p.lengths, p.B, p.K, p.N, work.as<int32_t>(), s));
  scatter_kernel<<<grid_for(p.B * p.N), kThreads, 0, s>>>(static_cast<const float*>(p.src), work.as<int32_t>(),
                                                          static_cast<const float*>(p.fill), p.B, p.N, p.K, p.D,
                                                          static_cast<float*>(p.out));
  return launch_status("tokens scatter_kernel");
}

Status tokens_scatter_backward_cuda(const TokenScatterBackwardParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, true, false, s));
  const float* g = static_cast<const float*>(p.grad);
  if (p.dsrc)  // dsrc = gather(grad, idx)
    SELFSUP_RETURN_IF_ERROR(gather(g, nullptr, p.idx, p.lengths, p.B, p.K, p.N, p.D, false, static_cast<float*>(p.dsrc), s));
  if (p.dfill) {
    cuda::StreamBuffer work(s);
    SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(int32_t) * p.B * p.N, "tokens workspace"));
    SELFSUP_RETURN_IF_ERROR(inverse(p.idx, p.lengths, p.B, p.K, p.N, work.as<int32_t>(), s));
    SELFSUP_RETURN_IF_ERROR(masked_column_sum(g, p.B, p.N, p.D, work.as<int32_t>(), nullptr, static_cast<float*>(p.dfill), s));
  }
  return Status::Ok();
}

Status stochastic_positions_cuda(const StochasticPositionsParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, false, true, s));
  const int64_t B = p.B, K = p.K, Dp = p.Dp, Din = p.Din, rows = B * K;
  if (rows == 0 || Dp == 0) {
    if (p.noise) return draw_noise(p.seed, B, K, Din, p.lengths, p.std, static_cast<float*>(p.noise), s);
    return Status::Ok();
  }
  float* out = static_cast<float*>(p.out);
  cuda::StreamBuffer work(s);
  float* nz = static_cast<float*>(p.noise);
  if (!nz) {
    SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(float) * static_cast<size_t>(rows * Din), "tokens workspace"));
    nz = work.as<float>();
  }
  SELFSUP_RETURN_IF_ERROR(draw_noise(p.seed, B, K, Din, p.lengths, p.std, nz, s));
  // out = n W^T (W is [Dp, Din]), then + pos[idx] + bias row by row.
  if (Din > 0)
    SELFSUP_RETURN_IF_ERROR(cuda::sgemm(false, true, rows, Dp, Din, 1.0f, nz, Din, static_cast<const float*>(p.weight),
                                        Din, 0.0f, out, Dp, s));
  else
    SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(out, 0, sizeof(float) * rows * Dp, s), "tokens memset"));
  stop_add_kernel<<<grid_for(rows), kThreads, 0, s>>>(static_cast<const float*>(p.pos), p.idx, p.lengths,
                                                      static_cast<const float*>(p.bias), B, K, Dp, out);
  return launch_status("tokens stop_add_kernel");
}

Status stochastic_positions_backward_cuda(const StochasticPositionsBackwardParams& p, cudaStream_t s) {
  SELFSUP_RETURN_IF_ERROR(check_common(p, false, true, s));
  const int64_t B = p.B, K = p.K, Dp = p.Dp, Din = p.Din, rows = B * K;
  const float* g = static_cast<const float*>(p.grad);
  if (p.dpos) {
    if (rows == 0)
      SELFSUP_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(p.dpos, 0, sizeof(float) * p.N * Dp, s), "tokens memset"));
    else
      SELFSUP_RETURN_IF_ERROR(scatter_add(g, p.idx, p.lengths, B, K, p.N, Dp, false, static_cast<float*>(p.dpos), s));
  }
  if (p.dbias) SELFSUP_RETURN_IF_ERROR(masked_column_sum(g, B, K, Dp, nullptr, p.lengths, static_cast<float*>(p.dbias), s));
  if (!p.dweight) return Status::Ok();
  float* dw = static_cast<float*>(p.dweight);
  if (rows == 0 || Din == 0 || Dp == 0)
    return cuda_status(cudaMemsetAsync(dw, 0, sizeof(float) * Dp * Din, s), "tokens memset");
  // dW = G^T n over all rows; padding rows have zero noise, so they contribute nothing.
  cuda::StreamBuffer work(s);
  const float* nz = static_cast<const float*>(p.noise);
  if (!nz || p.lengths) {
    SELFSUP_RETURN_IF_ERROR(work.alloc(sizeof(float) * static_cast<size_t>(rows * Din), "tokens workspace"));
    float* w = work.as<float>();
    if (!nz) {
      SELFSUP_RETURN_IF_ERROR(draw_noise(p.seed, B, K, Din, p.lengths, p.std, w, s));
    } else {  // a caller's noise buffer: mask its padding rows through a copy
      SELFSUP_RETURN_IF_ERROR(cuda_status(
          cudaMemcpyAsync(w, nz, sizeof(float) * rows * Din, cudaMemcpyDeviceToDevice, s), "tokens copy"));
      mask_rows_kernel<<<flat_grid(rows * Din), kThreads, 0, s>>>(p.lengths, B, K, Din, w);
      SELFSUP_RETURN_IF_ERROR(launch_status("tokens mask_rows_kernel"));
    }
    nz = w;
  }
  return cuda::sgemm(true, false, Dp, Din, rows, 1.0f, g, Dp, nz, Din, 0.0f, dw, Din, s);
}

}  // namespace selfsup
