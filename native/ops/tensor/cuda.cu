// The tensor core on CUDA (see cuda.h). One grid-stride kernel per elementwise op; a Loop (the
// coalesced dims cpu.cc runs on) gives each operand's element offset. Reductions and softmax use a
// fixed thread assignment and a fixed tree (deterministic). Arithmetic matches cpu.cc's float32
// path: binary ops in float, transcendentals evaluated in double and rounded once.
#include "ops/tensor/cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/memory.h"

namespace selfsup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid-stride beyond this

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

// Element loads and stores through float.
__device__ __forceinline__ float ld(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float ld(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float ld(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void st(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void st(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

// Runs fn.template operator()<T>() with T the storage type of a float dtype; false for others.
template <class F>
bool float_switch(DType dt, F&& fn) {
  switch (dt) {
    case DType::kFloat32: fn(static_cast<float*>(nullptr)); return true;
    case DType::kBFloat16: fn(static_cast<__nv_bfloat16*>(nullptr)); return true;
    case DType::kFloat16: fn(static_cast<__half*>(nullptr)); return true;
    default: return false;
  }
}

Status unsupported(const char* op, DType dt) {
  return Status::Unsupported(std::string("Expected a float32, bfloat16 or float16 tensor for ") + op +
                             " on cuda but received " + dtype_name(dt));
}

// Offsets of element i (row-major over L.shape) in each operand.
template <int NOps>
__device__ __forceinline__ void loop_offsets(const Loop& L, int64_t i, int64_t* off) {
  for (int k = 0; k < NOps; k++) off[k] = L.offset[k];
  for (int d = L.nd - 1; d >= 0; d--) {
    const int64_t sz = L.shape[d];
    const int64_t idx = i % sz;
    i /= sz;
    for (int k = 0; k < NOps; k++) off[k] += idx * L.stride[k][d];
  }
}

// ---- binary ------------------------------------------------------------------------------

__device__ __forceinline__ float binary_f(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::kAdd: return x + y;
    case BinaryOp::kSub: return x - y;
    case BinaryOp::kMul: return x * y;
    case BinaryOp::kDiv: return x / y;
    case BinaryOp::kPow: return static_cast<float>(pow(static_cast<double>(x), static_cast<double>(y)));
    // NaN in either operand wins (PyTorch's maximum/minimum propagate NaN).
    case BinaryOp::kMaximum: return (x > y || x != x) ? x : y;
    case BinaryOp::kMinimum: return (x < y || x != x) ? x : y;
    default: return 0.0f;
  }
}
__device__ __forceinline__ uint8_t compare_f(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::kGt: return x > y;
    case BinaryOp::kGe: return x >= y;
    case BinaryOp::kLt: return x < y;
    case BinaryOp::kLe: return x <= y;
    case BinaryOp::kEq: return x == y;
    default: return x != y;
  }
}

template <class T>
__global__ void binary_kernel(BinaryOp op, bool cmp, void* out, const T* a, const T* b, Loop L, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    loop_offsets<3>(L, i, off);
    const float x = ld(a, off[1]), y = ld(b, off[2]);
    if (cmp) static_cast<uint8_t*>(out)[off[0]] = compare_f(op, x, y);
    else st(static_cast<T*>(out), off[0], binary_f(op, x, y));
  }
}

// ---- unary -------------------------------------------------------------------------------

__device__ __forceinline__ float unary_f(UnaryOp op, float v, double p0, double p1) {
  const float a = static_cast<float>(p0), c = static_cast<float>(p1);
  const double d = v;
  switch (op) {
    case UnaryOp::kNeg: return -v;
    case UnaryOp::kExp: return static_cast<float>(exp(d));
    case UnaryOp::kLog: return static_cast<float>(log(d));
    case UnaryOp::kSqrt: return sqrtf(v);
    case UnaryOp::kRsqrt: return 1.0f / sqrtf(v);
    case UnaryOp::kSquare: return v * v;
    case UnaryOp::kAbs: return fabsf(v);
    case UnaryOp::kRelu: return v > 0.0f ? v : 0.0f;
    case UnaryOp::kSigmoid: return static_cast<float>(1.0 / (1.0 + exp(-d)));
    case UnaryOp::kTanh: return static_cast<float>(tanh(d));
    case UnaryOp::kAffine: return a * v + c;
    case UnaryOp::kClamp: return v < a ? a : v > c ? c : v;
    case UnaryOp::kPowScalar: return static_cast<float>(pow(d, p0));
    case UnaryOp::kLeakyRelu: return v > 0.0f ? v : a * v;
    default: return 0.0f;
  }
}

// s is x or y as unary_backward_reads_output says (unused for neg and affine).
__device__ __forceinline__ float unary_grad_f(UnaryOp op, float g, float s, double p0, double p1) {
  const float a = static_cast<float>(p0), c = static_cast<float>(p1);
  switch (op) {
    case UnaryOp::kNeg: return -g;
    case UnaryOp::kExp: return g * s;
    case UnaryOp::kLog: return g / s;
    case UnaryOp::kSqrt: return (0.5f * g) / s;
    case UnaryOp::kRsqrt: return -0.5f * g * s * s * s;
    case UnaryOp::kSquare: return 2.0f * g * s;
    case UnaryOp::kAbs: return s > 0 ? g : s < 0 ? -g : 0.0f;
    case UnaryOp::kRelu: return s > 0 ? g : 0.0f;
    case UnaryOp::kSigmoid: return g * s * (1.0f - s);
    case UnaryOp::kTanh: return g * (1.0f - s * s);
    case UnaryOp::kAffine: return g * a;
    case UnaryOp::kClamp: return s >= a && s <= c ? g : 0.0f;  // inclusive bounds, as PyTorch
    case UnaryOp::kPowScalar:
      return p0 == 0.0 ? 0.0f : static_cast<float>(static_cast<double>(g) * p0 * pow(static_cast<double>(s), p0 - 1.0));
    case UnaryOp::kLeakyRelu: return s > 0 ? g : a * g;
    default: return 0.0f;
  }
}

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* y, int64_t n, double p0, double p1) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, unary_f(op, ld(x, i), p0, p1));
}

template <class T>
__global__ void unary_backward_kernel(UnaryOp op, const T* g, const T* s, T* gx, int64_t n, double p0, double p1) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    st(gx, i, unary_grad_f(op, ld(g, i), s ? ld(s, i) : 0.0f, p0, p1));
}

// ---- reductions --------------------------------------------------------------------------

// x viewed as [kept..., reduced...] after merging adjacent dims with the same flag: element
// (o, r) lies at koff(o) + roff(r).
struct ReduceShape {
  int nk = 0, nr = 0;
  int64_t ksize[kLoopDims], kstride[kLoopDims];
  int64_t rsize[kLoopDims], rstride[kLoopDims];
  int64_t nout = 1, nred = 1;
};

__device__ __forceinline__ int64_t dims_offset(int64_t i, int n, const int64_t* size, const int64_t* stride) {
  int64_t off = 0;
  for (int d = n - 1; d >= 0; d--) {
    off += (i % size[d]) * stride[d];
    i /= size[d];
  }
  return off;
}

struct Acc {
  ReduceOp op;
  __device__ __forceinline__ double init() const {
    return op == ReduceOp::kSum ? 0.0 : op == ReduceOp::kMax ? -INFINITY : INFINITY;
  }
  // NaN wins in max/min, as cpu.cc and PyTorch.
  __device__ __forceinline__ double combine(double acc, double v) const {
    if (op == ReduceOp::kSum) return acc + v;
    if (v != v || acc != acc) return v != v ? v : acc;
    return op == ReduceOp::kMax ? (v > acc ? v : acc) : (v < acc ? v : acc);
  }
};

// One thread per output: for many outputs with short reductions (the kept dims are usually the
// inner ones, so neighbouring threads read neighbouring elements).
template <class T>
__global__ void reduce_thread_kernel(Acc acc, const T* x, T* out, ReduceShape rs, double scale) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < rs.nout; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = dims_offset(o, rs.nk, rs.ksize, rs.kstride);
    double a = acc.init();
    for (int64_t r = 0; r < rs.nred; r++) a = acc.combine(a, ld(x, base + dims_offset(r, rs.nr, rs.rsize, rs.rstride)));
    st(out, o, static_cast<float>(scale * a));
  }
}

// One block per output: thread t takes r = t, t + 256, ... in order, then a shared-memory tree.
template <class T>
__global__ void reduce_block_kernel(Acc acc, const T* x, T* out, ReduceShape rs, double scale) {
  __shared__ double part[kThreads];
  for (int64_t o = blockIdx.x; o < rs.nout; o += gridDim.x) {
    const int64_t base = dims_offset(o, rs.nk, rs.ksize, rs.kstride);
    double a = acc.init();
    for (int64_t r = threadIdx.x; r < rs.nred; r += blockDim.x) a = acc.combine(a, ld(x, base + dims_offset(r, rs.nr, rs.rsize, rs.rstride)));
    part[threadIdx.x] = a;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) part[threadIdx.x] = acc.combine(part[threadIdx.x], part[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) st(out, o, static_cast<float>(scale * part[0]));
    __syncthreads();  // part[0] is read before the next output overwrites part
  }
}

// ---- softmax: one warp per row -----------------------------------------------------------

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = (w > v || w != w) ? w : v;
  }
  return v;
}

// Row (o, i) of [outer, size, inner]: elements (o * size + j) * inner + i, j < size.
template <class T>
__global__ void softmax_kernel(bool log_out, const T* x, T* y, int64_t outer, int64_t size, int64_t inner) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = outer * inner;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; row < rows; row += warps) {
    const int64_t base = (row / inner) * size * inner + row % inner;
    float m = -INFINITY;
    for (int64_t j = lane; j < size; j += 32) {
      const float v = ld(x, base + j * inner);
      m = (v > m || v != v) ? v : m;
    }
    m = warp_max(m);
    double s = 0;
    for (int64_t j = lane; j < size; j += 32) s += exp(static_cast<double>(ld(x, base + j * inner)) - m);
    s = warp_sum(s);
    const double ls = log(s);
    for (int64_t j = lane; j < size; j += 32) {
      const double z = static_cast<double>(ld(x, base + j * inner)) - m;
      st(y, base + j * inner, static_cast<float>(log_out ? z - ls : exp(z) / s));
    }
  }
}

// softmax: gx = y (g - sum(g y)); log-softmax: gx = g - exp(y) sum(g). gx may be g: each lane
// reads g[j] before writing gx[j] for the same j, after the sums are complete.
template <class T>
__global__ void softmax_backward_kernel(bool log_out, const T* g, const T* y, T* gx, int64_t outer, int64_t size, int64_t inner) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = outer * inner;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; row < rows; row += warps) {
    const int64_t base = (row / inner) * size * inner + row % inner;
    double s = 0;
    for (int64_t j = lane; j < size; j += 32) {
      const int64_t k = base + j * inner;
      s += log_out ? static_cast<double>(ld(g, k)) : static_cast<double>(ld(g, k)) * ld(y, k);
    }
    s = warp_sum(s);
    for (int64_t j = lane; j < size; j += 32) {
      const int64_t k = base + j * inner;
      const double gv = ld(g, k), yv = ld(y, k);
      st(gx, k, static_cast<float>(log_out ? gv - exp(yv) * s : yv * (gv - s)));
    }
  }
}

// ---- argmax / argmin: a thread per (outer, inner) pair, lib/ops/reduce.ts's scan ----------

template <class T>
__global__ void argreduce_kernel(bool is_max, const T* x, T* vals, int32_t* idx, int64_t outer, int64_t size, int64_t inner) {
  const int64_t n = outer * inner;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < n; r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (r / inner) * size * inner + r % inner;
    float best = ld(x, base);
    int32_t bi = 0;
    for (int64_t d = 1; d < size && best == best; d++) {  // NaN wins (propagates), as PyTorch
      const float v = ld(x, base + d * inner);
      if ((is_max ? v > best : v < best) || v != v) {
        best = v;
        bi = static_cast<int32_t>(d);
      }
    }
    if (vals) st(vals, r, best);
    idx[r] = bi;
  }
}

// ---- copies, axpy, casts -----------------------------------------------------------------

template <class E>
__global__ void copy_kernel(E* dst, const E* src, Loop L, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    loop_offsets<2>(L, i, off);
    dst[off[0]] = src[off[1]];
  }
}

template <class T>
__global__ void axpy_kernel(T* y, const T* x, int64_t n, double alpha) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, static_cast<float>(static_cast<double>(ld(y, i)) + alpha * ld(x, i)));
}

__device__ __forceinline__ float ld_any(DType dt, const void* p, int64_t i) {
  switch (dt) {
    case DType::kFloat32: return static_cast<const float*>(p)[i];
    case DType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case DType::kFloat16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::kInt32: return static_cast<float>(static_cast<const int32_t*>(p)[i]);
    default: return static_cast<float>(static_cast<const uint8_t*>(p)[i]);
  }
}

__global__ void cast_kernel(DType from, DType to, const void* x, void* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (from == DType::kInt32 && to == DType::kBool) {  // exact for every int32 (no float detour)
      static_cast<uint8_t*>(y)[i] = static_cast<const int32_t*>(x)[i] != 0;
      continue;
    }
    const float v = ld_any(from, x, i);
    switch (to) {
      case DType::kFloat32: static_cast<float*>(y)[i] = v; break;
      case DType::kBFloat16: static_cast<__nv_bfloat16*>(y)[i] = __float2bfloat16_rn(v); break;
      case DType::kFloat16: static_cast<__half*>(y)[i] = __float2half_rn(v); break;
      case DType::kInt32: static_cast<int32_t*>(y)[i] = __float2int_rz(v); break;  // NaN -> 0
      default: static_cast<uint8_t*>(y)[i] = v != 0.0f; break;                    // NaN -> 1
    }
  }
}

bool cast_dtype(DType d) {
  return d == DType::kFloat32 || d == DType::kBFloat16 || d == DType::kFloat16 || d == DType::kInt32 || d == DType::kBool;
}

}  // namespace

Status tensor_binary_cuda(BinaryOp op, DType dt, void* out, const void* a, const void* b, const Loop& L, cudaStream_t s) {
  const int64_t n = L.numel();
  if (n == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        binary_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(op, binary_is_compare(op), out, static_cast<const T*>(a), static_cast<const T*>(b), L, n);
      }))
    return unsupported("tensorBinary", dt);
  return cuda::check_launch("binary_kernel");
}

Status tensor_unary_cuda(UnaryOp op, DType dt, const void* x, void* y, int64_t n, double p0, double p1, cudaStream_t s) {
  if (n == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        unary_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(op, static_cast<const T*>(x), static_cast<T*>(y), n, p0, p1);
      }))
    return unsupported("tensorUnary", dt);
  return cuda::check_launch("unary_kernel");
}

Status tensor_unary_backward_cuda(UnaryOp op, DType dt, const void* g, const void* sv, void* gx, int64_t n, double p0,
                                  double p1, cudaStream_t s) {
  if (n == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        unary_backward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(op, static_cast<const T*>(g), static_cast<const T*>(sv),
                                                                    static_cast<T*>(gx), n, p0, p1);
      }))
    return unsupported("tensorUnaryBackward", dt);
  return cuda::check_launch("unary_backward_kernel");
}

Status tensor_reduce_cuda(ReduceOp op, DType dt, const void* x, void* out, int nd, const int64_t* shape,
                          const bool* reduced, double scale, cudaStream_t s) {
  ReduceShape rs;
  // Merge adjacent dims with the same flag (x is contiguous), innermost first; size-1 dims drop.
  int64_t stride = 1;
  int prev = -1;  // flag of the last merged dim
  int64_t kd[kLoopDims], ks[kLoopDims], rd[kLoopDims], rst[kLoopDims];
  for (int d = nd - 1; d >= 0; d--) {
    const int64_t sz = shape[d];
    if (sz == 0) {
      // An empty x: outputs of a kept empty dim do not exist; reducing an empty dim gives init.
      if (!reduced[d]) return Status::Ok();
      rs.nred = 0;
    }
    if (sz <= 1) continue;
    const int flag = reduced[d] ? 1 : 0;
    int64_t* sizes = flag ? rd : kd;
    int64_t* strides = flag ? rst : ks;
    int& cnt = flag ? rs.nr : rs.nk;
    if (flag == prev) {
      sizes[cnt - 1] *= sz;
    } else {
      if (cnt == kLoopDims) return Status::Unsupported("Expected at most 16 alternating kept/reduced dims for tensorReduce on cuda but received more");
      sizes[cnt] = sz;
      strides[cnt] = stride;
      cnt++;
    }
    prev = flag;
    stride *= sz;
  }
  // The lists were built innermost first: store them outermost first.
  for (int i = 0; i < rs.nk; i++) { rs.ksize[i] = kd[rs.nk - 1 - i]; rs.kstride[i] = ks[rs.nk - 1 - i]; rs.nout *= rs.ksize[i]; }
  if (rs.nred != 0) {
    for (int i = 0; i < rs.nr; i++) { rs.rsize[i] = rd[rs.nr - 1 - i]; rs.rstride[i] = rst[rs.nr - 1 - i]; rs.nred *= rs.rsize[i]; }
  } else {
    rs.nr = 0;
  }
  const Acc acc{op};
  // Long reductions with few outputs: a block per output; otherwise a thread per output.
  const bool per_block = rs.nred >= 4096 || (rs.nred >= 256 && rs.nout < 4096);
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (per_block)
          reduce_block_kernel<T><<<static_cast<int>(rs.nout < kMaxBlocks ? rs.nout : kMaxBlocks), kThreads, 0, s>>>(
              acc, static_cast<const T*>(x), static_cast<T*>(out), rs, scale);
        else
          reduce_thread_kernel<T><<<blocks_for(rs.nout), kThreads, 0, s>>>(acc, static_cast<const T*>(x), static_cast<T*>(out), rs, scale);
      }))
    return unsupported("tensorReduce", dt);
  return cuda::check_launch("reduce_kernel");
}

namespace {
int softmax_blocks(int64_t rows) {
  const int64_t per = kThreads / 32;
  const int64_t b = (rows + per - 1) / per;
  return static_cast<int>(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}
}  // namespace

Status tensor_softmax_cuda(bool log, DType dt, const void* x, void* y, int64_t outer, int64_t size, int64_t inner,
                           cudaStream_t s) {
  if (outer * size * inner == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        softmax_kernel<T><<<softmax_blocks(outer * inner), kThreads, 0, s>>>(log, static_cast<const T*>(x), static_cast<T*>(y), outer, size, inner);
      }))
    return unsupported("tensorSoftmax", dt);
  return cuda::check_launch("softmax_kernel");
}

Status tensor_softmax_backward_cuda(bool log, DType dt, const void* g, const void* y, void* gx, int64_t outer,
                                    int64_t size, int64_t inner, cudaStream_t s) {
  if (outer * size * inner == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        softmax_backward_kernel<T><<<softmax_blocks(outer * inner), kThreads, 0, s>>>(
            log, static_cast<const T*>(g), static_cast<const T*>(y), static_cast<T*>(gx), outer, size, inner);
      }))
    return unsupported("tensorSoftmaxBackward", dt);
  return cuda::check_launch("softmax_backward_kernel");
}

Status tensor_argreduce_cuda(bool is_max, DType dt, const void* x, void* vals, int32_t* idx, int64_t outer,
                             int64_t size, int64_t inner, cudaStream_t s) {
  if (size < 1 || size > INT32_MAX) return Status::OutOfRange("Expected a reduced size in [1, 2^31 - 1] for argmax/argmin on cuda but received " + std::to_string(size));
  if (outer * inner == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        argreduce_kernel<T><<<blocks_for(outer * inner), kThreads, 0, s>>>(is_max, static_cast<const T*>(x), static_cast<T*>(vals), idx, outer, size, inner);
      }))
    return unsupported("argmax/argmin", dt);
  return cuda::check_launch("argreduce_kernel");
}

Status tensor_copy_cuda(int elem_size, void* dst, const void* src, const Loop& L, cudaStream_t s) {
  const int64_t n = L.numel();
  if (n == 0) return Status::Ok();
  switch (elem_size) {
    case 1: copy_kernel<uint8_t><<<blocks_for(n), kThreads, 0, s>>>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), L, n); break;
    case 2: copy_kernel<uint16_t><<<blocks_for(n), kThreads, 0, s>>>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), L, n); break;
    case 4: copy_kernel<uint32_t><<<blocks_for(n), kThreads, 0, s>>>(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), L, n); break;
    case 8: copy_kernel<uint64_t><<<blocks_for(n), kThreads, 0, s>>>(static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), L, n); break;
    default: return Status::Unsupported("Expected an element size of 1, 2, 4 or 8 bytes for tensorCopy but received " + std::to_string(elem_size));
  }
  return cuda::check_launch("copy_kernel");
}

Status tensor_axpy_cuda(DType dt, void* y, const void* x, int64_t n, double alpha, cudaStream_t s) {
  if (n == 0) return Status::Ok();
  if (!float_switch(dt, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        axpy_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(x), n, alpha);
      }))
    return unsupported("tensorAxpy", dt);
  return cuda::check_launch("axpy_kernel");
}

Status tensor_cast_cuda(DType from, DType to, const void* x, void* y, int64_t n, cudaStream_t s) {
  if (!cast_dtype(from) || !cast_dtype(to))
    return Status::Unsupported(std::string("Expected float32, bfloat16, float16, int32 or bool for tensorCast on cuda but received ") +
                               dtype_name(from) + " -> " + dtype_name(to));
  if (n == 0) return Status::Ok();
  cast_kernel<<<blocks_for(n), kThreads, 0, s>>>(from, to, x, y, n);
  return cuda::check_launch("cast_kernel");
}

}  // namespace selfsup
