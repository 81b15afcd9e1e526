// JS -> C++ argument conversion for the export table. Every check here repeats (natively) what
// the TS layer already validated, so that a caller bypassing TS (or a bug there) gets a JS
// exception instead of a crash. Message grammar: "Expected X for NAME but received Y".
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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
};
ArrayArg GetArray(const Napi::CallbackInfo& info, size_t idx, const char* name,
                  std::initializer_list<DType> allowed, int64_t expected_len = -1);
// The same checks for any JS value (an element of an array argument, e.g. "params[3]").
ArrayArg ToArray(Napi::Env env, const Napi::Value& v, const std::string& name,
                 std::initializer_list<DType> allowed, int64_t expected_len = -1);
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

// exports[name] = a JS function named `name` calling `fn` (the export tables' one line per
// binding; the name is written once, so the property and Function.name cannot disagree).
inline void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, fn, name));
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

}  // namespace napi
}  // namespace selfsup
