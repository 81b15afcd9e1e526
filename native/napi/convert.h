// JS -> C++ argument conversion for the export table. Every check here repeats (natively) what
// the TS layer already validated, so that a caller bypassing TS (or a bug there) gets a JS
// exception instead of a crash. Message grammar: "Expected X for NAME but received Y".
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {
namespace napi {

std::string Describe(const Napi::Value& v);
[[noreturn]] void ThrowType(Napi::Env env, const std::string& expected, const std::string& name,
                            const std::string& received);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& expected, const std::string& name,
                             const std::string& received);
// Throws the JS error for a non-ok status (RangeError / TypeError / Error with .code).
void ThrowIfError(Napi::Env env, const Status& s);
Napi::Error StatusToError(Napi::Env env, const Status& s);

// A typed array argument of the given dtype (bool = Uint8Array), live (not detached).
// expected_len < 0 skips the length check.
struct ArrayArg {
  void* data = nullptr;
  void* base = nullptr;  // start of the backing (Shared)ArrayBuffer: equal bases = same buffer
  int64_t length = 0;
  DType dtype = DType::kFloat32;
  Napi::TypedArray array;  // keeps the JS object reachable for the duration of a sync call
  bool device = false;     // a cuda device buffer (data is a device pointer; see ToArrayOrDevice)
  int device_index = 0;
};
ArrayArg GetArray(const Napi::CallbackInfo& info, size_t idx, const char* name,
                  std::initializer_list<DType> allowed, int64_t expected_len = -1);
// The same checks for any JS value (an element of an array argument, e.g. "params[3]").
ArrayArg ToArray(Napi::Env env, const Napi::Value& v, const std::string& name,
                 std::initializer_list<DType> allowed, int64_t expected_len = -1);
// A typed array, or in the CUDA build a cuda device buffer (the handle of a lib/cuda.ts
// DeviceArray, or the DeviceArray itself): where the bindings of the tensor core and the
// optimizers accept either, the kernel runs on the CPU or on the GPU accordingly. A device buffer
// of float32 also passes where Float32Array is allowed, and so do bfloat16 and float16 ones (GPU
// only). A foreign or disposed handle is a JS error naming the argument. The CPU build accepts
// typed arrays only (as ToArray).
ArrayArg ToArrayOrDevice(Napi::Env env, const Napi::Value& v, const std::string& name,
                         std::initializer_list<DType> allowed, int64_t expected_len = -1);
ArrayArg GetArrayOrDevice(const Napi::CallbackInfo& info, size_t idx, const char* name,
                          std::initializer_list<DType> allowed, int64_t expected_len = -1);
// Throws a TypeError unless every present operand is where `first` is (all on the CPU or all
// device buffers): `names` and `args` side by side.
void SameDevice(Napi::Env env, const ArrayArg& first, const char* first_name,
                std::initializer_list<std::pair<const ArrayArg*, const char*>> others);
// The stream of a device buffer's device (a cudaStream_t); throws the Status as a JS error.
void* DeviceStream(Napi::Env env, const ArrayArg& a);

// True when argument idx is missing, null or undefined (an optional argument left out).
bool IsAbsent(const Napi::CallbackInfo& info, size_t idx);
// An optional typed array: ArrayArg{} (data == nullptr) when absent, else as GetArray.
ArrayArg GetOptionalArray(const Napi::CallbackInfo& info, size_t idx, const char* name,
                          std::initializer_list<DType> allowed, int64_t expected_len = -1);
int64_t GetInt(const Napi::CallbackInfo& info, size_t idx, const char* name, int64_t lo,
               int64_t hi);
double GetDouble(const Napi::CallbackInfo& info, size_t idx, const char* name,
                 bool allow_nonfinite = false);
bool GetBool(const Napi::CallbackInfo& info, size_t idx, const char* name);
// The same checks for any JS value.
int64_t ToInt(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t lo, int64_t hi);
double ToDouble(Napi::Env env, const Napi::Value& v, const std::string& name, bool allow_nonfinite = false);
bool ToBool(Napi::Env env, const Napi::Value& v, const std::string& name);

// Options objects: a family's scalar options travel as one object and each field is read by its
// name (messages name the field: "Expected an integer for Hk but received ...").
Napi::Object GetOptions(const Napi::CallbackInfo& info, size_t idx);
bool HasProp(const Napi::Object& o, const char* key);  // present and not null/undefined
int64_t GetIntProp(const Napi::Object& o, const char* key, int64_t lo, int64_t hi);
double GetDoubleProp(const Napi::Object& o, const char* key, bool allow_nonfinite = false);
bool GetBoolProp(const Napi::Object& o, const char* key);
// An array of `count` integers in [lo, hi] (a dims or strides list; messages name "key[i]").
std::vector<int64_t> GetIntsProp(const Napi::Object& o, const char* key, size_t count, int64_t lo, int64_t hi);
ArrayArg GetOptionalArrayProp(const Napi::Object& o, const char* key,
                              std::initializer_list<DType> allowed, int64_t expected_len = -1);
// int64 product with overflow detection (throws RangeError naming `name`).
int64_t CheckedMul(Napi::Env env, std::initializer_list<int64_t> dims, const char* name);

// Copies an input so an async kernel can run while JS mutates/detaches the original buffer.
struct OwnedArray {
  std::vector<uint8_t> bytes;
  DType dtype = DType::kFloat32;
  int64_t length = 0;
  template <typename T> T* ptr() { return reinterpret_cast<T*>(bytes.data()); }
};
std::shared_ptr<OwnedArray> CopyArray(const ArrayArg& a);
std::shared_ptr<OwnedArray> NewOwned(DType dt, int64_t length);
// A fresh JS typed array holding a copy of `a`.
Napi::TypedArray ToJsArray(Napi::Env env, const OwnedArray& a);

// Runs `work` on the libuv pool and resolves the returned Promise with `done(env)`, or rejects
// with the Status / exception message. Captured OwnedArrays keep inputs alive.
Napi::Value RunAsync(Napi::Env env, std::function<Status()> work,
                     std::function<Napi::Value(Napi::Env)> done);

// One binding body for both forms of a family function (registered with Pair in ExportAll) `name(inputs..., outputs..., options)`:
//  - sync (`name`): zero-copy; inputs and outputs are the caller's typed arrays, the kernel runs
//    now, and the call returns undefined (or an object of the `extra` fields);
//  - async (`nameAsync(inputs..., options)`): inputs are copied (In), outputs are allocated fresh
//    (Out), the kernel runs on the libuv pool, and the promise resolves with { <output name>:
//    array, ...extra fields }.
// The body reads and checks its arguments through Call and never branches on the form.
class Call {
 public:
  using Extra = std::function<void(Napi::Env, Napi::Object&)>;
  Call(const Napi::CallbackInfo& info, bool async, size_t n_in, size_t n_out);
  Napi::Env Env() const { return info_.Env(); }
  bool async() const { return async_; }
  const Napi::CallbackInfo& info() const { return info_; }
  // The options object: the argument after the inputs (and, sync, the outputs).
  Napi::Object Options() const;
  // Input argument idx, checked as GetArray (Optional: ArrayArg{} when null/undefined).
  ArrayArg Arg(size_t idx, const char* name, std::initializer_list<DType> allowed, int64_t len = -1) const;
  ArrayArg Optional(size_t idx, const char* name, std::initializer_list<DType> allowed, int64_t len = -1) const;
  // The kernel's pointer for a checked input: the caller's data (sync) or a private copy (async);
  // nullptr for an absent optional one.
  void* In(const ArrayArg& a);
  // Output k: the caller's array at argument n_in + k (sync, checked) or a fresh one (async).
  void* Out(size_t k, const char* name, DType dt, int64_t len);
  // An output that exists only when `present` (async resolves it as null otherwise); sync
  // accepts null/undefined when absent.
  void* OptionalOut(size_t k, const char* name, DType dt, int64_t len, bool present);
  // Runs the kernel (sync: now; async: on the pool) and returns undefined / the result object /
  // the promise.
  Napi::Value Run(std::function<Status()> kernel, Extra extra = nullptr);

 private:
  const Napi::CallbackInfo& info_;
  bool async_;
  size_t n_in_, n_out_;
  std::vector<ArrayArg> live_;  // sync: keeps the JS arrays reachable during the call
  std::vector<std::shared_ptr<OwnedArray>> owned_;  // async: copies and fresh outputs
  std::vector<std::pair<std::string, std::shared_ptr<OwnedArray>>> outs_;
};

// exports[name] = a JS function named `name` calling `fn` (the export tables' one line per
// binding; the name is written once, so the property and Function.name cannot disagree).
inline void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// A family's export table in one call: ExportAll(env, exports, {{"name", Fn}, Pair<Body, nIn,
// nOut>("name"), Sync<Body, nIn, nOut>("name"), ...}). Pair exports both forms of a Call body
// (`name` and `nameAsync`), Sync the sync form only.
using NapiFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct Binding {
  const char* name;
  NapiFn fn;
  NapiFn async_fn = nullptr;  // exported as name + "Async"
};
template <Napi::Value (*Body)(Call&), size_t NIn, size_t NOut, bool Async>
Napi::Value CallBody(const Napi::CallbackInfo& info) {
  Call c(info, Async, NIn, NOut);
  return Body(c);
}
template <Napi::Value (*Body)(Call&), size_t NIn, size_t NOut>
Binding Sync(const char* name) {
  return {name, &CallBody<Body, NIn, NOut, false>};
}
template <Napi::Value (*Body)(Call&), size_t NIn, size_t NOut>
Binding Pair(const char* name) {
  return {name, &CallBody<Body, NIn, NOut, false>, &CallBody<Body, NIn, NOut, true>};
}
inline void ExportAll(Napi::Env env, Napi::Object exports, std::initializer_list<Binding> table) {
  for (const Binding& b : table) {
    Export(env, exports, b.name, b.fn);
    if (b.async_fn) {
      const std::string name = std::string(b.name) + "Async";
      exports.Set(name, Napi::Function::New(env, b.async_fn, name));
    }
  }
}

// Calls fn, converting C++ exceptions (selfsup::Error, std::bad_alloc, std::exception) to JS.
template <typename F>
auto Guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw StatusToError(env, Status{e.code(), e.what()});
  } catch (const std::bad_alloc&) {
    throw StatusToError(env, Status::OutOfRange("Expected a size that fits in memory for the "
                                                "kernel workspace but received an allocation failure"));
  } catch (const std::exception& e) {
    throw StatusToError(env, Status::Internal(e.what()));
  }
}

// Runs a kernel returning Status now, throwing its error; returns undefined.
template <typename F>
Napi::Value RunNow(Napi::Env env, F&& kernel) {
  Guard(env, [&] { ThrowIfError(env, kernel()); });
  return env.Undefined();
}

}  // namespace napi
}  // namespace selfsup
