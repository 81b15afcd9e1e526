// The model path's kernels on cuda device buffers: matmul through cuda::gemm (float32 SIMT,
// bfloat16 / float16 on the tensor cores), GELU and LayerNorm (native/ops/pointwise/cuda.h,
// float32). Each takes the CPU export's arguments (linalg.cc, pointwise.cc) with device buffers
// in place of typed arrays, runs the CPU binding's checks on the host, and enqueues on the
// device's stream. LayerNorm's mean and rstd are float32 device buffers (float64 on the CPU).
//
//   cudaMatmul(a, b, out, bias | null, { batch, m, n, k, transA, transB, strideA, strideB })
//   cudaGeluForward(x, bias | null, out, { rows, cols, mode })
//   cudaGeluBackward(grad, x, bias | null, dx, dbias | null, { rows, cols, mode })
//   cudaLayerNormForward(x, weight | null, bias | null, out, mean, rstd, { rows, cols, eps })
//   cudaLayerNormBackward(grad, x, weight | null, mean, rstd, dx, dweight | null, dbias | null, { rows, cols })
//
// Only the CUDA build has them (RegisterCudaLinalg is called from cuda.cc's RegisterCuda).
#ifdef SELFSUP_CUDA
#include <string>

#include "cuda/gemm.h"
#include "napi/convert.h"
#include "napi/linalg.h"
#include "napi/pointwise.h"
#include "ops/pointwise/cuda.h"
#include "ops/tensor/cuda.h"

namespace selfsup {
namespace napi {

namespace {
const std::initializer_list<DType> kF32 = {DType::kFloat32};

// Argument `idx` as a device buffer of `allowed` (length checked when >= 0): a typed array there
// is an error naming it, not a host read of a device pointer.
ArrayArg Dev(const Napi::CallbackInfo& info, size_t idx, const char* name, std::initializer_list<DType> allowed,
             int64_t len = -1, bool optional = false) {
  if (optional && IsAbsent(info, idx)) return ArrayArg{};
  ArrayArg a = GetArrayOrDevice(info, idx, name, allowed, len);
  if (!a.device) ThrowType(info.Env(), "a cuda device buffer", name, "a typed array");
  return a;
}

// GELU and LayerNorm run in float32 only: every buffer exactly float32.
ArrayArg DevF32(const Napi::CallbackInfo& info, size_t idx, const char* name, int64_t len = -1, bool optional = false) {
  ArrayArg a = Dev(info, idx, name, kF32, len, optional);
  if (a.data && a.dtype != DType::kFloat32)
    ThrowType(info.Env(), "a float32 cuda buffer", name, std::string("a ") + dtype_name(a.dtype) + " cuda buffer");
  return a;
}

// ToArrayOrDevice lets a bfloat16 / float16 buffer stand where float32 is allowed; operands that
// must share a dtype are checked here.
void SameDtype(Napi::Env env, const ArrayArg& a, const char* name, const ArrayArg& ref, const char* ref_name) {
  if (a.data && a.dtype != ref.dtype)
    ThrowType(env, std::string("a ") + dtype_name(ref.dtype) + " cuda buffer (the dtype of " + ref_name + ")", name,
              std::string("a ") + dtype_name(a.dtype) + " cuda buffer");
}

cudaStream_t Stream(Napi::Env env, const ArrayArg& a) { return static_cast<cudaStream_t>(DeviceStream(env, a)); }

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg A = Dev(info, 0, "a", kF32);
  ArrayArg B = Dev(info, 1, "b", kF32);
  SameDtype(env, B, "b", A, "a");
  MatmulArgs a = ReadMatmulArgs(info, 4, A.length, B.length);
  ArrayArg C = Dev(info, 2, "out", kF32, a.batch * a.m * a.n);
  SameDtype(env, C, "out", A, "a");
  ArrayArg bias = Dev(info, 3, "bias", kF32, a.n, true);
  SameDtype(env, bias, "bias", A, "a");
  SameDevice(env, A, "a", {{&B, "b"}, {&C, "out"}, {&bias, "bias"}});
  if (bias.data == C.data) ThrowRange(env, "a buffer other than out", "bias", "out itself");
  cudaStream_t s = Stream(env, A);
  cuda::GemmParams p;
  p.in_dtype = p.out_dtype = A.dtype;
  p.transA = a.transA;
  p.transB = a.transB;
  p.m = a.m, p.n = a.n, p.k = a.k;
  p.A = A.data, p.lda = a.transA ? a.m : a.k, p.strideA = a.strideA;
  p.B = B.data, p.ldb = a.transB ? a.k : a.n, p.strideB = a.strideB;
  p.C = C.data, p.ldc = a.n, p.strideC = a.m * a.n;
  p.batch = a.batch;
  return RunNow(env, [&]() -> Status {
    if (bias.data) {
      // C's rows start as the bias (a broadcast copy), and the GEMM accumulates into them.
      Loop L;
      const int64_t shape[2] = {a.batch * a.m, a.n}, dst[2] = {a.n, 1}, src[2] = {0, 1};
      const int64_t* strides[2] = {dst, src};
      if (!make_loop(2, shape, strides, 2, &L)) return Status::Internal("matmul: the bias loop did not build");
      SELFSUP_RETURN_IF_ERROR(tensor_copy_cuda(static_cast<int>(dtype_size(A.dtype)), C.data, bias.data, L, s));
      p.beta = 1.0f;
    }
    return cuda::gemm(p, s);
  });
}

struct Rows {
  ArrayArg x;
  int64_t rows = 0, cols = 0;
};
// The rows x cols float32 device matrix argument `idx` and the options' (argument `opt`) sizes.
Rows ReadRows(const Napi::CallbackInfo& info, size_t idx, const char* name, size_t opt) {
  Rows r;
  r.x = DevF32(info, idx, name);
  const RowsCols rc = ReadRowsCols(info.Env(), GetOptions(info, opt), r.x.length, name);
  r.rows = rc.rows, r.cols = rc.cols;
  return r;
}

Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Rows r = ReadRows(info, 0, "x", 3);
  GeluParams p;
  p.rows = r.rows, p.cols = r.cols;
  p.mode = static_cast<GeluMode>(GetIntProp(GetOptions(info, 3), "mode", 0, 1));
  p.x = r.x.data;
  const ArrayArg b = DevF32(info, 1, "bias", p.cols, true);
  const ArrayArg y = DevF32(info, 2, "out", r.x.length);
  SameDevice(env, r.x, "x", {{&b, "bias"}, {&y, "out"}});
  p.bias = b.data;
  cudaStream_t s = Stream(env, r.x);
  return RunNow(env, [&] { return gelu_forward_cuda(p, y.data, s); });
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Rows r = ReadRows(info, 1, "x", 5);
  const ArrayArg g = DevF32(info, 0, "grad", r.x.length);
  GeluParams p;
  p.rows = r.rows, p.cols = r.cols;
  p.mode = static_cast<GeluMode>(GetIntProp(GetOptions(info, 5), "mode", 0, 1));
  p.x = r.x.data;
  const ArrayArg b = DevF32(info, 2, "bias", p.cols, true);
  const ArrayArg dx = DevF32(info, 3, "dx", r.x.length);
  const ArrayArg db = DevF32(info, 4, "dbias", p.cols, true);
  if (db.data && !b.data) ThrowType(env, "a bias array (dbias needs the fused bias)", "bias", Describe(info[2]));
  SameDevice(env, r.x, "x", {{&g, "grad"}, {&b, "bias"}, {&dx, "dx"}, {&db, "dbias"}});
  p.bias = b.data;
  cudaStream_t s = Stream(env, r.x);
  return RunNow(env, [&] { return gelu_backward_cuda(p, g.data, dx.data, db.data, s); });
}

Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Rows r = ReadRows(info, 0, "x", 6);
  LayerNormParams p;
  p.rows = r.rows, p.n = r.cols;
  if (p.n == 0 && p.rows > 0) ThrowRange(env, "n >= 1", "n", "0");
  p.eps = GetDoubleProp(GetOptions(info, 6), "eps");
  if (p.eps < 0) ThrowRange(env, "a number >= 0", "eps", Describe(GetOptions(info, 6).Get("eps")));
  const ArrayArg w = DevF32(info, 1, "weight", p.n, true);
  const ArrayArg b = DevF32(info, 2, "bias", p.n, true);
  const ArrayArg y = DevF32(info, 3, "out", r.x.length);
  const ArrayArg mean = DevF32(info, 4, "mean", p.rows);
  const ArrayArg rstd = DevF32(info, 5, "rstd", p.rows);
  SameDevice(env, r.x, "x", {{&w, "weight"}, {&b, "bias"}, {&y, "out"}, {&mean, "mean"}, {&rstd, "rstd"}});
  p.x = r.x.data, p.weight = w.data, p.bias = b.data;
  cudaStream_t s = Stream(env, r.x);
  return RunNow(env, [&] {
    return layer_norm_forward_cuda(p, y.data, static_cast<float*>(mean.data), static_cast<float*>(rstd.data), s);
  });
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Rows r = ReadRows(info, 1, "x", 8);
  LayerNormParams p;
  p.rows = r.rows, p.n = r.cols;
  const ArrayArg g = DevF32(info, 0, "grad", r.x.length);
  const ArrayArg w = DevF32(info, 2, "weight", p.n, true);
  const ArrayArg mean = DevF32(info, 3, "mean", p.rows);
  const ArrayArg rstd = DevF32(info, 4, "rstd", p.rows);
  const ArrayArg dx = DevF32(info, 5, "dx", r.x.length);
  const ArrayArg dw = DevF32(info, 6, "dweight", p.n, true);
  const ArrayArg db = DevF32(info, 7, "dbias", p.n, true);
  SameDevice(env, r.x, "x", {{&g, "grad"}, {&w, "weight"}, {&mean, "mean"}, {&rstd, "rstd"}, {&dx, "dx"}, {&dw, "dweight"}, {&db, "dbias"}});
  p.x = r.x.data, p.weight = w.data;
  cudaStream_t s = Stream(env, r.x);
  return RunNow(env, [&] {
    return layer_norm_backward_cuda(p, g.data, static_cast<const float*>(mean.data), static_cast<const float*>(rstd.data),
                                    dx.data, dw.data, db.data, s);
  });
}
}  // namespace

void RegisterCudaLinalg(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"cudaMatmul", Matmul}, {"cudaGeluForward", GeluForward}, {"cudaGeluBackward", GeluBackward},
                           {"cudaLayerNormForward", LayerNormForward}, {"cudaLayerNormBackward", LayerNormBackward}});
}

}  // namespace napi
}  // namespace selfsup
#endif  // SELFSUP_CUDA
