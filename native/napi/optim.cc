// N-API bindings for the fused optimizer steps (native/ops/optim): one call per parameter group.
// Sync and zero-copy; every array is checked (dtype, length against its parameter, no overlap
// between a parameter's buffers) before the kernel runs.
//
//   optimAdamW(params, grads, expAvg, expAvgSq, maxExpAvgSq | null, stepSize, sqrtBc2, hyper)
//       arrays of typed arrays (one per parameter); stepSize / sqrtBc2 Float64Array [count];
//       hyper Float64Array [b1, b2, eps, decay, sign]
//   optimSGD(params, grads, buffers | null, first | null, hyper)
//       first Uint8Array [count] (1: initialize the buffer with the gradient);
//       hyper Float64Array [lr, momentum, dampening, weightDecay, sign, nesterov]
//
// CUDA build: optimAdamW also takes float32 cuda device buffers (every array of the call on the
// device) and runs ops/optim/cuda.h on the device's stream.
#include <cmath>
#include <string>
#include <vector>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/optim/params.h"
#ifdef SELFSUP_CUDA
#include "ops/optim/cuda.h"
#endif

namespace selfsup {
namespace napi {
namespace {

// Element i of a JS array argument, of dtype `dt` and length `n` (n < 0: any).
struct Elem {
  void* data = nullptr;
  int64_t length = 0;
  int64_t bytes = 0;
  bool device = false;
  int device_index = 0;
};
Elem GetElem(Napi::Env env, const Napi::Array& arr, uint32_t i, const std::string& name, DType dt, int64_t n,
             bool allow_device = false) {
  const std::string nm = name + "[" + std::to_string(i) + "]";
  const ArrayArg a = allow_device ? ToArrayOrDevice(env, arr.Get(i), nm, {dt}, n) : ToArray(env, arr.Get(i), nm, {dt}, n);
  if (a.device && a.dtype != DType::kFloat32)
    ThrowType(env, "a float32 cuda buffer", nm, std::string("a ") + dtype_name(a.dtype) + " cuda buffer");
  return Elem{a.data, a.length, a.length * dtype_size(a.dtype), a.device, a.device_index};
}

Napi::Array GetList(const Napi::CallbackInfo& info, size_t idx, const char* name, uint32_t count) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > idx ? info[idx] : env.Undefined();
  if (!v.IsArray()) ThrowType(env, "an array of typed arrays", name, Describe(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != count) ThrowRange(env, "an array of " + std::to_string(count) + " typed arrays (one per parameter)", name, "length " + std::to_string(a.Length()));
  return a;
}

bool Overlaps(const Elem& a, const Elem& b) {
  if (!a.data || !b.data || a.bytes == 0 || b.bytes == 0) return false;
  const char* pa = static_cast<const char*>(a.data);
  const char* pb = static_cast<const char*>(b.data);
  return pa < pb + b.bytes && pb < pa + a.bytes;
}
void Distinct(Napi::Env env, const std::vector<std::pair<const Elem*, std::string>>& es, uint32_t i) {
  for (size_t x = 0; x < es.size(); x++)
    for (size_t y = x + 1; y < es.size(); y++)
      if (Overlaps(*es[x].first, *es[y].first))
        ThrowRange(env, "an array that does not overlap " + es[x].second + "[" + std::to_string(i) + "]",
                   es[y].second + "[" + std::to_string(i) + "]", "an overlapping array");
}

// params is a non-empty array; returns its dtype (from params[0]).
DType ParamsDtype(const Napi::CallbackInfo& info, uint32_t* count) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > 0 ? info[0] : env.Undefined();
  if (!v.IsArray()) ThrowType(env, "an array of Float32Array or Float64Array", "params", Describe(v));
  Napi::Array a = v.As<Napi::Array>();
  *count = a.Length();
  if (*count == 0) return DType::kFloat32;
  Napi::Value p0 = a.Get(uint32_t(0));
  if (p0.IsTypedArray() && p0.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) return DType::kFloat64;
  return DType::kFloat32;
}

const double* GetF64(const Napi::CallbackInfo& info, size_t idx, const char* name, int64_t n) {
  ArrayArg a = GetArray(info, idx, name, {DType::kFloat64}, n);
  return static_cast<const double*>(a.data);
}

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count = 0;
  const DType dt = ParamsDtype(info, &count);
  Napi::Array P = GetList(info, 0, "params", count), G = GetList(info, 1, "grads", count);
  Napi::Array M = GetList(info, 2, "expAvg", count), V = GetList(info, 3, "expAvgSq", count);
  const bool ams = !IsAbsent(info, 4);
  Napi::Array VM = ams ? GetList(info, 4, "maxExpAvgSq", count) : Napi::Array();
  const double* step = GetF64(info, 5, "stepSize", count);
  const double* sbc2 = GetF64(info, 6, "sqrtBc2", count);
  const double* hy = GetF64(info, 7, "hyper", 5);
  AdamWHyper h{hy[0], hy[1], hy[2], hy[3], hy[4]};
  std::vector<AdamWTensor> ts(count);
  bool device = false;
  int device_index = 0;
  for (uint32_t i = 0; i < count; i++) {
    Elem w = GetElem(env, P, i, "params", dt, -1, true);
    Elem g = GetElem(env, G, i, "grads", dt, w.length, true), m = GetElem(env, M, i, "expAvg", dt, w.length, true);
    Elem v = GetElem(env, V, i, "expAvgSq", dt, w.length, true);
    Elem vm = ams ? GetElem(env, VM, i, "maxExpAvgSq", dt, w.length, true) : Elem{};
    if (i == 0) { device = w.device; device_index = w.device_index; }
    for (const auto& [e, nm] : {std::pair<const Elem*, const char*>{&w, "params"}, {&g, "grads"}, {&m, "expAvg"}, {&v, "expAvgSq"}, {&vm, "maxExpAvgSq"}}) {
      if (e->data && (e->device != device || e->device_index != device_index))
        ThrowType(env, std::string("an array on the device of params[0] (") + (device ? "cuda" : "cpu") + ")",
                  std::string(nm) + "[" + std::to_string(i) + "]", e->device ? "a cuda device buffer" : "a typed array");
    }
    Distinct(env, {{&w, "params"}, {&g, "grads"}, {&m, "expAvg"}, {&v, "expAvgSq"}, {&vm, "maxExpAvgSq"}}, i);
    ts[i] = AdamWTensor{w.data, g.data, m.data, v.data, vm.data, w.length, step[i], sbc2[i]};
  }
  if (device) {
#ifdef SELFSUP_CUDA
    ArrayArg where;
    where.device = true;
    where.device_index = device_index;
    cudaStream_t stream = static_cast<cudaStream_t>(DeviceStream(env, where));
    return RunNow(env, [&] { return adamw_step_cuda(DType::kFloat32, h, ts.data(), static_cast<int64_t>(count), stream); });
#endif
  }
  Guard(env, [&] { SELFSUP_DISPATCH(adamw_step)(dt, h, ts.data(), static_cast<int64_t>(count)); });
  return env.Undefined();
}

Napi::Value SGD(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count = 0;
  const DType dt = ParamsDtype(info, &count);
  Napi::Array P = GetList(info, 0, "params", count), G = GetList(info, 1, "grads", count);
  const bool mom = !IsAbsent(info, 2);
  Napi::Array B = mom ? GetList(info, 2, "buffers", count) : Napi::Array();
  const uint8_t* first = nullptr;
  if (mom) first = static_cast<const uint8_t*>(GetArray(info, 3, "first", {DType::kBool}, count).data);
  const double* hy = GetF64(info, 4, "hyper", 6);
  SGDHyper h{hy[0], hy[1], hy[2], hy[3], hy[4], hy[5] != 0};
  std::vector<SGDTensor> ts(count);
  for (uint32_t i = 0; i < count; i++) {
    Elem w = GetElem(env, P, i, "params", dt, -1);
    Elem g = GetElem(env, G, i, "grads", dt, w.length);
    Elem b = mom ? GetElem(env, B, i, "buffers", dt, w.length) : Elem{};
    Distinct(env, {{&w, "params"}, {&g, "grads"}, {&b, "buffers"}}, i);
    ts[i] = SGDTensor{w.data, g.data, b.data, w.length, first ? first[i] != 0 : false};
  }
  Guard(env, [&] { SELFSUP_DISPATCH(sgd_step)(dt, h, ts.data(), static_cast<int64_t>(count)); });
  return env.Undefined();
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "optimAdamW", AdamW);
  Export(env, exports, "optimSGD", SGD);
}

}  // namespace napi
}  // namespace selfsup
