// GEMM on CUDA (contract in gemm.h). Two kernels:
//
// float32, SIMT: the classic shared-memory + register tiling (as in Volkov & Demmel 2008 and the
// CUTLASS SIMT "sgemm" structure): a 256-thread block computes a BM x BN tile of C, staging BK-deep
// slices of op(A) and op(B) in shared memory (k-major, so the inner product reads one column of A
// and one row of B per step); each thread owns TM x TN outputs strided by 16 rows / 16 columns
// (conflict-free shared reads, half-warp-coalesced stores). 128 x 128 (8 x 8 per thread) for large
// problems, 64 x 64 (4 x 4) when the large tiles would leave most SMs idle.
//
// bfloat16 / float16, tensor cores: mma.sync.m16n8k16 (PTX ISA, "Matrix multiply-accumulate
// operation using mma instruction", fragment layouts for .m16n8k16) with fp32 accumulators.
// 128 x 128 x 32 block tile, 8 warps in a 2 x 4 grid, each warp 64 x 32 = 4 x 4 mma tiles. Both
// operands sit in shared memory k-contiguous ([row][k], row stride 40 halves = 20 words: the 8
// rows x 4 words a fragment load touches fall in 32 distinct banks). Operands whose k is
// contiguous in global memory load 16 bytes at a time when aligned.
//
// Out-of-range rows / columns / k are zero-filled on load and skipped on store, so any m, n, k
// and leading dimension work. Determinism: every output is one thread's fixed-order sum.
#include "cuda/gemm.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

namespace selfsup {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535, kMaxGridZ = 65535;

struct Args {
  bool transA, transB;
  int64_t m, n, k;
  float alpha, beta;
  const void* A;
  int64_t lda, strideA;
  const void* B;
  int64_t ldb, strideB;
  void* C;
  int64_t ldc, strideC;
  int64_t batch;
};

// ---- float32 SIMT -----------------------------------------------------------------------------
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__(kThreads) sgemm_kernel(Args p) {
  static_assert((BM / TM) * (BN / TN) == kThreads, "one thread per TM x TN micro-tile");
  constexpr int kCols = BN / TN;  // threads along n (16)
  constexpr int kRows = BM / TM;  // threads along m (16)
  __shared__ float As[BK][BM + 4];  // +4: the k-contiguous store pattern spreads over banks
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x, tx = tid % kCols, ty = tid / kCols;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;
  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const float* A = static_cast<const float*>(p.A) + z * p.strideA;
    const float* B = static_cast<const float*>(p.B) + z * p.strideB;
    float* C = static_cast<float*>(p.C) + z * p.strideC;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < p.k; k0 += BK) {
      // op(A)(i, kk) -> As[kk][i]; consecutive threads walk the contiguous direction.
      for (int idx = tid; idx < BM * BK; idx += kThreads) {
        int r, kk;
        if (!p.transA) { r = idx / BK; kk = idx % BK; } else { kk = idx / BM; r = idx % BM; }
        const int64_t gi = m0 + r, gk = k0 + kk;
        float v = 0.0f;
        if (gi < p.m && gk < p.k) v = p.transA ? A[gk * p.lda + gi] : A[gi * p.lda + gk];
        As[kk][r] = v;
      }
      // op(B)(kk, j) -> Bs[kk][j].
      for (int idx = tid; idx < BN * BK; idx += kThreads) {
        int c, kk;
        if (!p.transB) { kk = idx / BN; c = idx % BN; } else { c = idx / BK; kk = idx % BK; }
        const int64_t gj = n0 + c, gk = k0 + kk;
        float v = 0.0f;
        if (gj < p.n && gk < p.k) v = p.transB ? B[gj * p.ldb + gk] : B[gk * p.ldb + gj];
        Bs[kk][c] = v;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + kRows * i];
#pragma unroll
        for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + kCols * j];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      __syncthreads();  // the next slice overwrites As / Bs
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int64_t gi = m0 + ty + kRows * i;
      if (gi >= p.m) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int64_t gj = n0 + tx + kCols * j;
        if (gj >= p.n) continue;
        float* c = C + gi * p.ldc + gj;
        const float v = p.alpha * acc[i][j];
        *c = p.beta == 0.0f ? v : fmaf(p.beta, *c, v);  // beta == 0: C is not read
      }
    }
  }
}

// ---- bfloat16 / float16 on tensor cores ------------------------------------------------------
template <bool kBf16> struct Half;
template <> struct Half<true> {
  static __device__ float to_float(uint16_t h) { return __bfloat162float(__ushort_as_bfloat16(h)); }
  static __device__ uint16_t from_float(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }
};
template <> struct Half<false> {
  static __device__ float to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
  static __device__ uint16_t from_float(float f) { return __half_as_ushort(__float2half_rn(f)); }
};

template <bool kBf16>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (kBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

constexpr int kTBM = 128, kTBN = 128, kTBK = 32, kTLd = kTBK + 8;  // row stride 80 bytes

// Stages rows [row0, row0 + 128) x k [k0, k0 + 32) of an operand into S[row][k]. Element (r, k)
// is X[r * ld + k] when kcontig, else X[k * ld + r]; outside rows < nrows, k < K it is zero.
__device__ __forceinline__ void load_tile_k(uint16_t (*S)[kTLd], const uint16_t* X, int64_t ld,
                                            bool kcontig, int64_t row0, int64_t nrows, int64_t k0,
                                            int64_t K) {
  const int tid = threadIdx.x;
  if (kcontig) {
    // 8-element chunks: 128 rows x 4 chunks, two per thread.
    for (int c = tid; c < kTBM * (kTBK / 8); c += kThreads) {
      const int r = c / (kTBK / 8), kk = (c % (kTBK / 8)) * 8;
      const int64_t gr = row0 + r, gk = k0 + kk;
      uint16_t* dst = &S[r][kk];
      const uint16_t* src = X + gr * ld + gk;
      if (gr < nrows && gk + 8 <= K && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) dst[e] = (gr < nrows && gk + e < K) ? src[e] : uint16_t(0);
      }
    }
  } else {
    for (int idx = tid; idx < kTBM * kTBK; idx += kThreads) {
      const int kk = idx / kTBM, r = idx % kTBM;  // consecutive threads: consecutive rows
      const int64_t gr = row0 + r, gk = k0 + kk;
      S[r][kk] = (gr < nrows && gk < K) ? X[gk * ld + gr] : uint16_t(0);
    }
  }
}

template <bool kBf16, bool kHalfOut>
__global__ void __launch_bounds__(kThreads) hgemm_kernel(Args p) {
  __shared__ __align__(16) uint16_t As[kTBM][kTLd];
  __shared__ __align__(16) uint16_t Bs[kTBN][kTLd];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane >> 2, t = lane & 3;                 // fragment row group / thread in group
  const int wm0 = (warp / 4) * 64, wn0 = (warp % 4) * 32;  // this warp's 64 x 32 sub-tile
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTBM, n0 = static_cast<int64_t>(blockIdx.x) * kTBN;
  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const uint16_t* A = static_cast<const uint16_t*>(p.A) + z * p.strideA;
    const uint16_t* B = static_cast<const uint16_t*>(p.B) + z * p.strideB;
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    for (int64_t k0 = 0; k0 < p.k; k0 += kTBK) {
      load_tile_k(As, A, p.lda, !p.transA, m0, p.m, k0, p.k);
      load_tile_k(Bs, B, p.ldb, p.transB, n0, p.n, k0, p.k);
      __syncthreads();
#pragma unroll
      for (int ks = 0; ks < kTBK; ks += 16) {
        uint32_t a[4][4], b[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          const int r = wm0 + mi * 16 + g;
          a[mi][0] = *reinterpret_cast<const uint32_t*>(&As[r][ks + 2 * t]);
          a[mi][1] = *reinterpret_cast<const uint32_t*>(&As[r + 8][ks + 2 * t]);
          a[mi][2] = *reinterpret_cast<const uint32_t*>(&As[r][ks + 2 * t + 8]);
          a[mi][3] = *reinterpret_cast<const uint32_t*>(&As[r + 8][ks + 2 * t + 8]);
        }
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
          const int c = wn0 + ni * 8 + g;
          b[ni][0] = *reinterpret_cast<const uint32_t*>(&Bs[c][ks + 2 * t]);
          b[ni][1] = *reinterpret_cast<const uint32_t*>(&Bs[c][ks + 2 * t + 8]);
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
          for (int ni = 0; ni < 4; ++ni) mma16816<kBf16>(acc[mi][ni], a[mi], b[ni]);
      }
      __syncthreads();
    }
    // Accumulator e of tile (mi, ni): row g (+8 for e >= 2), column 2t + (e & 1).
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t gi = m0 + wm0 + mi * 16 + g + (e >= 2 ? 8 : 0);
          const int64_t gj = n0 + wn0 + ni * 8 + 2 * t + (e & 1);
          if (gi >= p.m || gj >= p.n) continue;
          const int64_t off = z * p.strideC + gi * p.ldc + gj;
          const float v = p.alpha * acc[mi][ni][e];
          if constexpr (kHalfOut) {
            uint16_t* c = static_cast<uint16_t*>(p.C) + off;
            *c = Half<kBf16>::from_float(p.beta == 0.0f ? v : fmaf(p.beta, Half<kBf16>::to_float(*c), v));
          } else {
            float* c = static_cast<float*>(p.C) + off;
            *c = p.beta == 0.0f ? v : fmaf(p.beta, *c, v);
          }
        }
  }
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

Status gemm_check(const GemmParams& p) {
  const bool half_in = p.in_dtype == DType::kBFloat16 || p.in_dtype == DType::kFloat16;
  if (p.in_dtype != DType::kFloat32 && !half_in)
    return Status::Invalid(std::string("Expected float32, bfloat16 or float16 for A but received ") +
                           dtype_name(p.in_dtype));
  if (p.out_dtype != DType::kFloat32 && !(half_in && p.out_dtype == p.in_dtype))
    return Status::Invalid(std::string("Expected float32 or ") + dtype_name(p.in_dtype) +
                           " for C but received " + dtype_name(p.out_dtype));
  if (p.m < 0 || p.n < 0 || p.k < 0 || p.batch < 1)
    return Status::OutOfRange("Expected m, n, k >= 0 and batch >= 1 for shape but received m=" +
                              std::to_string(p.m) + ", n=" + std::to_string(p.n) + ", k=" +
                              std::to_string(p.k) + ", batch=" + std::to_string(p.batch));
  const int64_t lda_min = std::max<int64_t>(1, p.transA ? p.m : p.k);
  const int64_t ldb_min = std::max<int64_t>(1, p.transB ? p.k : p.n);
  const int64_t ldc_min = std::max<int64_t>(1, p.n);
  if (p.lda < lda_min || p.ldb < ldb_min || p.ldc < ldc_min)
    return Status::OutOfRange("Expected lda >= " + std::to_string(lda_min) + ", ldb >= " +
                              std::to_string(ldb_min) + ", ldc >= " + std::to_string(ldc_min) +
                              " for leading dimensions but received " + std::to_string(p.lda) +
                              ", " + std::to_string(p.ldb) + ", " + std::to_string(p.ldc));
  if (p.strideA < 0 || p.strideB < 0 || p.strideC < 0)
    return Status::OutOfRange("Expected strides >= 0 for batch strides but received a negative one");
  if (p.m == 0 || p.n == 0) return Status::Ok();
  if (!p.C || (p.k > 0 && (!p.A || !p.B)))
    return Status::Invalid("Expected non-null device pointers for A, B, C but received null");
  if (cdiv(p.m, 128) > kMaxGridY)
    return Status::OutOfRange("Expected m <= " + std::to_string(kMaxGridY * 128) +
                              " for m but received " + std::to_string(p.m));
  return Status::Ok();
}

Status gemm(const GemmParams& p, cudaStream_t stream) {
  SELFSUP_RETURN_IF_ERROR(gemm_check(p));
  if (p.m == 0 || p.n == 0) return Status::Ok();
  const Args a{p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.A, p.lda, p.strideA,
               p.B, p.ldb, p.strideB, p.C, p.ldc, p.strideC, p.batch};
  const unsigned gz = static_cast<unsigned>(std::min(p.batch, kMaxGridZ));
  if (p.in_dtype == DType::kFloat32) {
    int sms = 108;
    int dev = 0;
    if (cudaGetDevice(&dev) == cudaSuccess)
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    cudaGetLastError();
    // Large tiles only when they still give every SM a block.
    if (cdiv(p.m, 128) * cdiv(p.n, 128) * p.batch >= sms) {
      dim3 grid(static_cast<unsigned>(cdiv(p.n, 128)), static_cast<unsigned>(cdiv(p.m, 128)), gz);
      sgemm_kernel<128, 128, 8, 8, 8><<<grid, kThreads, 0, stream>>>(a);
    } else {
      dim3 grid(static_cast<unsigned>(cdiv(p.n, 64)), static_cast<unsigned>(cdiv(p.m, 64)), gz);
      sgemm_kernel<64, 64, 16, 4, 4><<<grid, kThreads, 0, stream>>>(a);
    }
    return launch_status("sgemm_kernel");
  }
  dim3 grid(static_cast<unsigned>(cdiv(p.n, kTBN)), static_cast<unsigned>(cdiv(p.m, kTBM)), gz);
  const bool bf16 = p.in_dtype == DType::kBFloat16, half_out = p.out_dtype != DType::kFloat32;
  if (bf16 && half_out) hgemm_kernel<true, true><<<grid, kThreads, 0, stream>>>(a);
  else if (bf16) hgemm_kernel<true, false><<<grid, kThreads, 0, stream>>>(a);
  else if (half_out) hgemm_kernel<false, true><<<grid, kThreads, 0, stream>>>(a);
  else hgemm_kernel<false, false><<<grid, kThreads, 0, stream>>>(a);
  return launch_status("hgemm_kernel");
}

Status sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
             cudaStream_t stream) {
  GemmParams p;
  p.transA = transA;
  p.transB = transB;
  p.m = m;
  p.n = n;
  p.k = k;
  p.alpha = alpha;
  p.beta = beta;
  p.A = A;
  p.lda = lda;
  p.B = B;
  p.ldb = ldb;
  p.C = C;
  p.ldc = ldc;
  return gemm(p, stream);
}

}  // namespace cuda
}  // namespace selfsup
