// CUDA device buffers for `device: 'cuda'` tensors (lib/cuda.ts): allocation through the caching
// allocator (native/cuda/memory.h), dispose, upload/download (sync, and async through pinned
// staging that a libuv worker waits on), memory stats, casts; and the argument helpers that let a
// device buffer stand where a typed array stands (convert.h ToArrayOrDevice).
//
//   cudaAlloc(dtype, length) -> handle        an External; its finalizer returns the block to the
//                                             cache if dispose() was never called
//   cudaDispose(handle)                       returns the block now (idempotent)
//   cudaUpload(handle, typedArray)            host -> device, sync
//   cudaDownload(handle, typedArray)          device -> host, sync (waits for pending work)
//   cudaDownloadAsync(handle) -> Promise<typed array>
//   cudaCast(x, y)                            y = x converted to y's dtype (same length)
//   cudaArgReduce(isMax, x, vals, idx, outer, size, inner)   argmax / argmin along a dim
//   cudaMemoryStats(), cudaEmptyCache(), cudaSynchronize()
//
// Only the CUDA build exports these; both builds export cudaInfo (core.cc).
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#include "napi/convert.h"
#include "napi/register.h"
#ifdef SELFSUP_CUDA
#include "cuda/memory.h"
#include "ops/tensor/cuda.h"
#endif

namespace selfsup {
namespace napi {

ArrayArg GetArrayOrDevice(const Napi::CallbackInfo& info, size_t idx, const char* name,
                          std::initializer_list<DType> allowed, int64_t expected_len) {
  return ToArrayOrDevice(info.Env(), info.Length() > idx ? info[idx] : info.Env().Undefined(), name, allowed, expected_len);
}

void SameDevice(Napi::Env env, const ArrayArg& first, const char* first_name,
                std::initializer_list<std::pair<const ArrayArg*, const char*>> others) {
  for (const auto& [a, name] : others) {
    if (!a->data || a->device == first.device) continue;
    ThrowType(env, std::string("a ") + (first.device ? "cuda device buffer" : "typed array") + " (" + first_name + " is " +
                       (first.device ? "on cuda" : "on the cpu") + ")",
              name, a->device ? "a cuda device buffer" : "a typed array");
  }
}

#ifndef SELFSUP_CUDA

ArrayArg ToArrayOrDevice(Napi::Env env, const Napi::Value& v, const std::string& name,
                         std::initializer_list<DType> allowed, int64_t expected_len) {
  return ToArray(env, v, name, allowed, expected_len);
}

void* DeviceStream(Napi::Env env, const ArrayArg&) {
  ThrowIfError(env, Status::NoDevice("this addon was built without CUDA"));
  return nullptr;
}

void RegisterCuda(Napi::Env, Napi::Object) {}

#else

namespace {

struct DeviceBuffer {
  cuda::Block block;
  DType dtype = DType::kFloat32;
  int64_t length = 0;
  int64_t bytes = 0;
  bool live = true;
};

// Every buffer this addon made and not yet finalized: a handle is checked against it before its
// pointer is used, so a foreign External is an error, not a crash.
std::mutex g_mu;
std::unordered_set<const DeviceBuffer*>& registry() {
  static auto* s = new std::unordered_set<const DeviceBuffer*>();  // never destroyed (finalizers at exit)
  return *s;
}

void Release(Napi::Env env, DeviceBuffer* b) {
  if (!b->live) return;
  b->live = false;
  cuda::release(b->block);
  int64_t ignored = 0;
  napi_adjust_external_memory(env, -b->bytes, &ignored);
}

// The buffer behind a handle (an External) or a DeviceArray ({ handle }); nullptr when `v` is
// neither (the caller decides what else it accepts).
DeviceBuffer* Lookup(Napi::Env env, const Napi::Value& v, const std::string& name) {
  Napi::Value h = v;
  if (v.IsObject() && !v.IsExternal() && !v.IsTypedArray()) h = v.As<Napi::Object>().Get("handle");
  if (!h.IsExternal()) return nullptr;
  auto* b = h.As<Napi::External<DeviceBuffer>>().Data();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!registry().count(b)) ThrowType(env, "a cuda device buffer made by selfsup", name, "a foreign External");
  }
  if (!b->live) {
    ThrowIfError(env, Status::Invalid("Expected a live cuda buffer for " + name +
                                      " but received a disposed one (dispose() was called on its tensor)"));
  }
  return b;
}

DeviceBuffer* GetBuffer(const Napi::CallbackInfo& info, size_t idx, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > idx ? info[idx] : env.Undefined();
  DeviceBuffer* b = Lookup(env, v, name);
  if (!b) ThrowType(env, "a cuda device buffer", name, Describe(v));
  return b;
}

DType ParseDtype(const Napi::CallbackInfo& info, size_t idx) {
  Napi::Env env = info.Env();
  const char* kExpected = "'float32' | 'bfloat16' | 'float16' | 'int32' | 'bool'";
  if (info.Length() <= idx || !info[idx].IsString()) ThrowType(env, kExpected, "dtype", Describe(info.Length() > idx ? info[idx] : env.Undefined()));
  const std::string s = info[idx].As<Napi::String>().Utf8Value();
  for (DType d : {DType::kFloat32, DType::kBFloat16, DType::kFloat16, DType::kInt32, DType::kBool})
    if (s == dtype_name(d)) return d;
  ThrowRange(env, kExpected, "dtype", Describe(info[idx]));
}

// The host array of a buffer's dtype: bfloat16 and float16 travel as Uint16Array bits.
ArrayArg HostArray(const Napi::CallbackInfo& info, size_t idx, const char* name, const DeviceBuffer& b) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > idx ? info[idx] : env.Undefined();
  if (b.dtype == DType::kBFloat16 || b.dtype == DType::kFloat16) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
      ThrowType(env, "a Uint16Array (the bits of a " + std::string(dtype_name(b.dtype)) + " buffer)", name, Describe(v));
    auto ta = v.As<Napi::TypedArray>();
    if (static_cast<int64_t>(ta.ElementLength()) != b.length)
      ThrowRange(env, "an array of length " + std::to_string(b.length) + " (the buffer's)", name, Describe(v));
    ArrayArg a;
    a.data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    a.length = b.length;
    a.dtype = b.dtype;
    return a;
  }
  return ToArray(env, v, name, {b.dtype}, b.length);
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType dt = ParseDtype(info, 0);
  const int64_t n = GetInt(info, 1, "length", 0, int64_t(1) << 50);
  const int64_t bytes = CheckedMul(env, {n, dtype_size(dt)}, "length");
  auto* b = new DeviceBuffer();
  b->dtype = dt;
  b->length = n;
  b->bytes = bytes;
  const Status s = cuda::alloc(0, static_cast<size_t>(bytes), &b->block);
  if (!s.ok()) {
    delete b;
    ThrowIfError(env, s);
  }
  {
    std::lock_guard<std::mutex> lock(g_mu);
    registry().insert(b);
  }
  int64_t ignored = 0;
  napi_adjust_external_memory(env, bytes, &ignored);
  return Napi::External<DeviceBuffer>::New(env, b, [](Napi::Env e, DeviceBuffer* p) {
    Release(e, p);
    {
      std::lock_guard<std::mutex> lock(g_mu);
      registry().erase(p);
    }
    delete p;
  });
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > 0 ? info[0] : env.Undefined();
  Napi::Value h = v.IsObject() && !v.IsExternal() ? v.As<Napi::Object>().Get("handle") : v;
  if (!h.IsExternal()) ThrowType(env, "a cuda device buffer", "handle", Describe(v));
  auto* b = h.As<Napi::External<DeviceBuffer>>().Data();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!registry().count(b)) ThrowType(env, "a cuda device buffer made by selfsup", "handle", "a foreign External");
  }
  Release(env, b);  // a second dispose is a no-op
  return env.Undefined();
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  DeviceBuffer* b = GetBuffer(info, 0, "handle");
  ArrayArg h = HostArray(info, 1, "data", *b);
  return RunNow(info.Env(), [&] { return cuda::upload(b->block, h.data, static_cast<size_t>(b->bytes)); });
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  DeviceBuffer* b = GetBuffer(info, 0, "handle");
  ArrayArg h = HostArray(info, 1, "out", *b);
  return RunNow(info.Env(), [&] { return cuda::download(h.data, b->block, static_cast<size_t>(b->bytes)); });
}

// The copy is enqueued now (stream order: after every op already enqueued on the buffer); a
// libuv worker waits for its event, so the event loop never blocks on the GPU.
Napi::Value DownloadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceBuffer* b = GetBuffer(info, 0, "handle");
  // bfloat16 / float16 come back as their Uint16Array bits (ToJsArray has no 16-bit float arrays).
  auto out = NewOwned(b->dtype, b->length);
  auto pending = std::make_shared<cuda::PendingDownload>();
  ThrowIfError(env, cuda::download_begin(b->block, static_cast<size_t>(b->bytes), pending.get()));
  const bool half = b->dtype == DType::kBFloat16 || b->dtype == DType::kFloat16;
  const int64_t n = b->length;
  return RunAsync(
      env, [out, pending] { return cuda::download_wait(pending.get(), out->bytes.data()); },
      [out, half, n](Napi::Env e) -> Napi::Value {
        if (!half) return ToJsArray(e, *out);
        Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(e, out->bytes.size());
        if (!out->bytes.empty()) std::memcpy(buf.Data(), out->bytes.data(), out->bytes.size());
        return Napi::Uint16Array::New(e, static_cast<size_t>(n), buf, 0);
      });
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceBuffer* x = GetBuffer(info, 0, "x");
  DeviceBuffer* y = GetBuffer(info, 1, "y");
  if (y->length != x->length) ThrowRange(env, "a buffer of length " + std::to_string(x->length) + " (x's)", "y", "length " + std::to_string(y->length));
  if (x == y) ThrowRange(env, "a buffer other than x", "y", "x itself");
  void* s = nullptr;
  ThrowIfError(env, cuda::stream(x->block.device, &s));
  return RunNow(env, [&] {
    return tensor_cast_cuda(x->dtype, y->dtype, x->block.ptr, y->block.ptr, x->length, static_cast<cudaStream_t>(s));
  });
}

// cudaArgReduce(isMax, x, vals | null, idx, outer, size, inner): x [outer, size, inner] float;
// vals (x's dtype) and idx (int32) of length outer * inner.
Napi::Value ArgReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool is_max = GetBool(info, 0, "isMax");
  const int64_t kMax = int64_t(1) << 50;
  const int64_t outer = GetInt(info, 4, "outer", 0, kMax), size = GetInt(info, 5, "size", 1, INT32_MAX), inner = GetInt(info, 6, "inner", 0, kMax);
  const int64_t n = CheckedMul(env, {outer, size, inner}, "x");
  ArrayArg x = GetArrayOrDevice(info, 1, "x", {DType::kFloat32}, n);
  ArrayArg vals = IsAbsent(info, 2) ? ArrayArg{} : GetArrayOrDevice(info, 2, "vals", {x.dtype}, outer * inner);
  ArrayArg idx = GetArrayOrDevice(info, 3, "idx", {DType::kInt32}, outer * inner);
  if (!x.device) ThrowType(env, "a cuda device buffer", "x", "a typed array");
  SameDevice(env, x, "x", {{&vals, "vals"}, {&idx, "idx"}});
  void* s = DeviceStream(env, x);
  return RunNow(env, [&] {
    return tensor_argreduce_cuda(is_max, x.dtype, x.data, vals.data, static_cast<int32_t*>(idx.data), outer, size, inner,
                                 static_cast<cudaStream_t>(s));
  });
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::MemoryStats s = cuda::memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocatedBytes", static_cast<double>(s.allocated));
  o.Set("reservedBytes", static_cast<double>(s.reserved));
  o.Set("peakAllocatedBytes", static_cast<double>(s.peak_allocated));
  o.Set("numMallocs", static_cast<double>(s.num_mallocs));
  o.Set("numFrees", static_cast<double>(s.num_frees));
  o.Set("cacheHits", static_cast<double>(s.cache_hits));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  return RunNow(info.Env(), [] { return cuda::empty_cache(); });
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return RunNow(info.Env(), [] { return cuda::synchronize(0); });
}

}  // namespace

ArrayArg ToArrayOrDevice(Napi::Env env, const Napi::Value& v, const std::string& name,
                         std::initializer_list<DType> allowed, int64_t expected_len) {
  if (v.IsTypedArray() || !(v.IsObject() || v.IsExternal())) return ToArray(env, v, name, allowed, expected_len);
  DeviceBuffer* b = Lookup(env, v, name);
  if (!b) return ToArray(env, v, name, allowed, expected_len);  // throws the typed-array message
  bool ok = false, f32 = false;
  std::string expected;
  for (DType d : allowed) {
    ok = ok || d == b->dtype;
    f32 = f32 || d == DType::kFloat32;
    if (d != DType::kFloat64) expected += (expected.empty() ? "a " : " or ") + std::string(dtype_name(d));
  }
  if (f32) {
    ok = ok || b->dtype == DType::kBFloat16 || b->dtype == DType::kFloat16;
    expected += " or bfloat16 or float16";
  }
  if (!ok) ThrowType(env, expected + " cuda buffer", name, std::string("a ") + dtype_name(b->dtype) + " cuda buffer");
  if (expected_len >= 0 && b->length != expected_len)
    ThrowRange(env, "a buffer of length " + std::to_string(expected_len), name, "length " + std::to_string(b->length));
  ArrayArg a;
  a.data = b->block.ptr;
  a.base = b->block.ptr;
  a.length = b->length;
  a.dtype = b->dtype;
  a.device = true;
  a.device_index = b->block.device;
  return a;
}

void* DeviceStream(Napi::Env env, const ArrayArg& a) {
  void* s = nullptr;
  ThrowIfError(env, cuda::stream(a.device_index, &s));
  return s;
}

void RegisterCuda(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"cudaAlloc", Alloc}, {"cudaDispose", Dispose}, {"cudaUpload", Upload},
                           {"cudaDownload", Download}, {"cudaDownloadAsync", DownloadAsync}, {"cudaCast", Cast},
                           {"cudaArgReduce", ArgReduce},
                           {"cudaMemoryStats", MemoryStats}, {"cudaEmptyCache", EmptyCache},
                           {"cudaSynchronize", Synchronize}});
  RegisterCudaFused(env, exports);  // the fused families (cuda_fused.cc)
  RegisterCudaLinalg(env, exports);
  RegisterCudaMore(env, exports);  // where and the training ops (cuda_more.cc)
}

#endif  // SELFSUP_CUDA

}  // namespace napi
}  // namespace selfsup
