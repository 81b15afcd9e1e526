// matmul / matmulAsync: batched C = op(A) op(B) through the packed GEMM. matmul takes an optional
// trailing bias [n]: the GEMM adds it in its final write of each C tile, so F.linear's bias costs
// no extra pass over the output.
#include <vector>

#include "cpu/gemm.h"
#include "napi/convert.h"
#include "napi/linalg.h"
#include "napi/register.h"

namespace selfsup {
namespace napi {

MatmulArgs ReadMatmulArgs(const Napi::CallbackInfo& info, size_t idx, int64_t lenA, int64_t lenB) {
  Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 40;
  Napi::Object o = GetOptions(info, idx);
  MatmulArgs a;
  a.batch = GetIntProp(o, "batch", 1, kMax);
  a.m = GetIntProp(o, "m", 0, kMax);
  a.n = GetIntProp(o, "n", 0, kMax);
  a.k = GetIntProp(o, "k", 0, kMax);
  a.transA = GetBoolProp(o, "transA");
  a.transB = GetBoolProp(o, "transB");
  a.strideA = GetIntProp(o, "strideA", 0, kMax);
  a.strideB = GetIntProp(o, "strideB", 0, kMax);
  int64_t mk = CheckedMul(env, {a.m, a.k}, "a"), kn = CheckedMul(env, {a.k, a.n}, "b");
  CheckedMul(env, {a.batch, a.m, a.n}, "out");
  if (a.strideA != 0 && a.strideA != mk)
    ThrowRange(env, "0 or m*k = " + std::to_string(mk), "strideA", std::to_string(a.strideA));
  if (a.strideB != 0 && a.strideB != kn)
    ThrowRange(env, "0 or k*n = " + std::to_string(kn), "strideB", std::to_string(a.strideB));
  int64_t needA = a.strideA ? CheckedMul(env, {a.batch, mk}, "a") : mk;
  int64_t needB = a.strideB ? CheckedMul(env, {a.batch, kn}, "b") : kn;
  if (lenA != needA) ThrowRange(env, "an array of length " + std::to_string(needA), "a", "length " + std::to_string(lenA));
  if (lenB != needB) ThrowRange(env, "an array of length " + std::to_string(needB), "b", "length " + std::to_string(lenB));
  return a;
}

namespace {
template <typename T>
void Run(const MatmulArgs& a, const T* A, const T* B, T* C, const T* bias = nullptr) {
  const int64_t lda = a.transA ? a.m : a.k, ldb = a.transB ? a.k : a.n;
  gemm_batched<T>(a.batch, a.transA, a.transB, a.m, a.n, a.k, 1, A, lda, a.strideA, B, ldb,
                  a.strideB, 0, C, a.n, a.m * a.n, bias);
}
}  // namespace

// matmul(A, B, C, bias | null, { batch, m, n, k, transA, transB, strideA, strideB })
static Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg A = GetArray(info, 0, "a", {DType::kFloat32, DType::kFloat64});
  ArrayArg B = GetArray(info, 1, "b", {A.dtype});
  MatmulArgs a = ReadMatmulArgs(info, 4, A.length, B.length);
  ArrayArg C = GetArray(info, 2, "out", {A.dtype}, a.batch * a.m * a.n);
  ArrayArg bias = GetOptionalArray(info, 3, "bias", {A.dtype}, a.n);
  Guard(env, [&] {
    SELFSUP_FLOAT_SWITCH(A.dtype, T, [&] {
      // The bias is copied first: it may alias C (a caller bypassing the TS checks).
      std::vector<T> bcopy;
      if (bias.data) bcopy.assign(static_cast<const T*>(bias.data), static_cast<const T*>(bias.data) + a.n);
      Run<T>(a, static_cast<T*>(A.data), static_cast<T*>(B.data), static_cast<T*>(C.data),
             bias.data ? bcopy.data() : nullptr);
    });
  });
  return env.Undefined();
}

// matmulAsync(A, B, { batch, m, n, k, transA, transB, strideA, strideB }) -> Promise<TypedArray>
static Napi::Value MatmulAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg A = GetArray(info, 0, "a", {DType::kFloat32, DType::kFloat64});
  ArrayArg B = GetArray(info, 1, "b", {A.dtype});
  MatmulArgs a = ReadMatmulArgs(info, 2, A.length, B.length);
  auto ca = CopyArray(A), cb = CopyArray(B);
  auto out = NewOwned(A.dtype, a.batch * a.m * a.n);
  return RunAsync(
      env,
      [a, ca, cb, out]() {
        SELFSUP_FLOAT_SWITCH(ca->dtype, T, [&] { Run<T>(a, ca->ptr<T>(), cb->ptr<T>(), out->ptr<T>()); });
        return Status::Ok();
      },
      [out](Napi::Env e) -> Napi::Value { return ToJsArray(e, *out); });
}

void RegisterLinalg(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "matmul", Matmul);
  Export(env, exports, "matmulAsync", MatmulAsync);
}

}  // namespace napi
}  // namespace selfsup
