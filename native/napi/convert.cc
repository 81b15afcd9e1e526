#include "napi/convert.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace selfsup {
namespace napi {

static const char* TypedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

static const char* ArrayNameFor(DType d) {
  switch (d) {
    case DType::kFloat32: return "Float32Array";
    case DType::kFloat64: return "Float64Array";
    case DType::kInt32: return "Int32Array";
    case DType::kBool: return "Uint8Array";
    default: return "Uint16Array";
  }
}

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
  }
  if (v.IsString()) return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    return std::string("a ") + TypedArrayName(ta.TypedArrayType()) + " of length " +
           std::to_string(ta.ElementLength());
  }
  if (v.IsArray()) return "an Array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

static std::string Msg(const std::string& expected, const std::string& name,
                       const std::string& received) {
  return "Expected " + expected + " for " + name + " but received " + received;
}

void ThrowType(Napi::Env env, const std::string& expected, const std::string& name,
               const std::string& received) {
  throw Napi::TypeError::New(env, Msg(expected, name, received));
}

void ThrowRange(Napi::Env env, const std::string& expected, const std::string& name,
                const std::string& received) {
  throw Napi::RangeError::New(env, Msg(expected, name, received));
}

Napi::Error StatusToError(Napi::Env env, const Status& s) {
  Napi::Error err;
  const char* code = "ERR_INTERNAL";
  switch (s.code) {
    case Code::kOutOfRange: err = Napi::RangeError::New(env, s.message); code = "ERR_OUT_OF_RANGE"; break;
    case Code::kInvalidArgument: err = Napi::Error::New(env, s.message); code = "ERR_INVALID_ARGUMENT"; break;
    case Code::kUnsupported: err = Napi::Error::New(env, s.message); code = "ERR_UNSUPPORTED"; break;
    case Code::kNoDevice: err = Napi::Error::New(env, s.message); code = "ERR_NO_DEVICE"; break;
    default: err = Napi::Error::New(env, s.message); break;
  }
  err.Set("code", Napi::String::New(env, code));
  if (s.code != Code::kOutOfRange) err.Set("name", Napi::String::New(env, "SelfsupError"));
  return err;
}

void ThrowIfError(Napi::Env env, const Status& s) {
  if (!s.ok()) throw StatusToError(env, s);
}

ArrayArg GetArray(const Napi::CallbackInfo& info, size_t idx, const char* name,
                  std::initializer_list<DType> allowed, int64_t expected_len) {
  Napi::Env env = info.Env();
  return ToArray(env, info.Length() > idx ? info[idx] : env.Undefined(), name, allowed, expected_len);
}

ArrayArg ToArray(Napi::Env env, const Napi::Value& v, const std::string& name,
                 std::initializer_list<DType> allowed, int64_t expected_len) {
  std::string expected;
  for (DType d : allowed) expected += (expected.empty() ? "a " : " or ") + std::string(ArrayNameFor(d));
  if (!v.IsTypedArray()) ThrowType(env, expected, name, Describe(v));
  auto ta = v.As<Napi::TypedArray>();
  DType got;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: got = DType::kFloat32; break;
    case napi_float64_array: got = DType::kFloat64; break;
    case napi_int32_array: got = DType::kInt32; break;
    case napi_uint8_array: got = DType::kBool; break;
    default: ThrowType(env, expected, name, Describe(v));
  }
  bool ok = false;
  for (DType d : allowed) ok = ok || d == got;
  if (!ok) ThrowType(env, expected, name, Describe(v));
  // napi_get_typedarray_info rather than ta.ArrayBuffer(): the latter casts the backing store to
  // an ArrayBuffer, and every ArrayBuffer call on a SharedArrayBuffer fails with a bare "Invalid
  // argument". data comes back already offset to the first element; views of a SharedArrayBuffer
  // are read and written in place like any other.
  napi_typedarray_type type;
  size_t elems = 0, offset = 0;
  void* data = nullptr;
  napi_value backing;
  if (napi_get_typedarray_info(env, ta, &type, &elems, &data, &backing, &offset) != napi_ok)
    ThrowType(env, expected, name, Describe(v));
  bool is_ab = false, detached = false;
  if (napi_is_arraybuffer(env, backing, &is_ab) == napi_ok && is_ab)
    napi_is_detached_arraybuffer(env, backing, &detached);  // a SharedArrayBuffer cannot detach
  if (detached) {
    Napi::Error e = Napi::Error::New(env, Msg("a live (not detached) " + expected.substr(2), name,
                                              "a detached buffer (released by dispose() or tidy(), or transferred)"));
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARGUMENT"));
    throw e;
  }
  ArrayArg a;
  a.length = static_cast<int64_t>(elems);
  if (expected_len >= 0 && a.length != expected_len) {
    ThrowRange(env, expected.substr(0, 2) + std::string(ArrayNameFor(got)) + " of length " +
               std::to_string(expected_len), name, "length " + std::to_string(a.length));
  }
  a.data = data;
  a.base = static_cast<uint8_t*>(data) - offset;
  a.dtype = got;
  a.array = ta;
  return a;
}

bool IsAbsent(const Napi::CallbackInfo& info, size_t idx) {
  return info.Length() <= idx || info[idx].IsNull() || info[idx].IsUndefined();
}

ArrayArg GetOptionalArray(const Napi::CallbackInfo& info, size_t idx, const char* name,
                          std::initializer_list<DType> allowed, int64_t expected_len) {
  if (IsAbsent(info, idx)) return ArrayArg{};
  return GetArray(info, idx, name, allowed, expected_len);
}

static Napi::Value Arg(const Napi::CallbackInfo& info, size_t idx) {
  return info.Length() > idx ? info[idx] : info.Env().Undefined();
}

int64_t ToInt(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) ThrowType(env, "an integer", name, Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d))
    ThrowRange(env, "an integer", name, Describe(v));
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    ThrowRange(env, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", name,
               Describe(v));
  return static_cast<int64_t>(d);
}

double ToDouble(Napi::Env env, const Napi::Value& v, const std::string& name, bool allow_nonfinite) {
  if (!v.IsNumber()) ThrowType(env, "a number", name, Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!allow_nonfinite && !std::isfinite(d)) ThrowRange(env, "a finite number", name, Describe(v));
  return d;
}

bool ToBool(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) ThrowType(env, "a boolean", name, Describe(v));
  return v.As<Napi::Boolean>().Value();
}

int64_t GetInt(const Napi::CallbackInfo& info, size_t idx, const char* name, int64_t lo,
               int64_t hi) {
  return ToInt(info.Env(), Arg(info, idx), name, lo, hi);
}

double GetDouble(const Napi::CallbackInfo& info, size_t idx, const char* name,
                 bool allow_nonfinite) {
  return ToDouble(info.Env(), Arg(info, idx), name, allow_nonfinite);
}

bool GetBool(const Napi::CallbackInfo& info, size_t idx, const char* name) {
  return ToBool(info.Env(), Arg(info, idx), name);
}

// ---- options objects: each field read by name -----------------------------------------------

Napi::Object GetOptions(const Napi::CallbackInfo& info, size_t idx) {
  Napi::Value v = Arg(info, idx);
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction())
    ThrowType(info.Env(), "an options object", "options", Describe(v));
  return v.As<Napi::Object>();
}

bool HasProp(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

int64_t GetIntProp(const Napi::Object& o, const char* key, int64_t lo, int64_t hi) {
  return ToInt(o.Env(), o.Get(key), key, lo, hi);
}

double GetDoubleProp(const Napi::Object& o, const char* key, bool allow_nonfinite) {
  return ToDouble(o.Env(), o.Get(key), key, allow_nonfinite);
}

bool GetBoolProp(const Napi::Object& o, const char* key) { return ToBool(o.Env(), o.Get(key), key); }

std::vector<int64_t> GetIntsProp(const Napi::Object& o, const char* key, size_t count, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != count)
    ThrowType(o.Env(), "an Array of " + std::to_string(count) + " integers", key, Describe(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(count);
  for (uint32_t i = 0; i < count; ++i)
    out[i] = ToInt(o.Env(), a.Get(i), std::string(key) + "[" + std::to_string(i) + "]", lo, hi);
  return out;
}

ArrayArg GetOptionalArrayProp(const Napi::Object& o, const char* key,
                              std::initializer_list<DType> allowed, int64_t expected_len) {
  if (!HasProp(o, key)) return ArrayArg{};
  return ToArray(o.Env(), o.Get(key), key, allowed, expected_len);
}

// ---- Call: one binding body for the sync and the async form ---------------------------------

Call::Call(const Napi::CallbackInfo& info, bool async, size_t n_in, size_t n_out)
    : info_(info), async_(async), n_in_(n_in), n_out_(n_out) {}

Napi::Object Call::Options() const { return GetOptions(info_, n_in_ + (async_ ? 0 : n_out_)); }

ArrayArg Call::Arg(size_t idx, const char* name, std::initializer_list<DType> allowed,
                   int64_t len) const {
  return GetArray(info_, idx, name, allowed, len);
}

ArrayArg Call::Optional(size_t idx, const char* name, std::initializer_list<DType> allowed,
                        int64_t len) const {
  return GetOptionalArray(info_, idx, name, allowed, len);
}

void* Call::In(const ArrayArg& a) {
  if (a.array.IsEmpty()) return nullptr;  // an absent optional input
  if (!async_) {
    live_.push_back(a);
    return a.data;
  }
  auto c = CopyArray(a);
  owned_.push_back(c);
  return c->bytes.data();
}

void* Call::Out(size_t k, const char* name, DType dt, int64_t len) {
  if (!async_) {
    ArrayArg a = GetArray(info_, n_in_ + k, name, {dt}, len);
    live_.push_back(a);
    return a.data;
  }
  auto o = NewOwned(dt, len);
  owned_.push_back(o);
  outs_.emplace_back(name, o);
  return o->bytes.data();
}

void* Call::OptionalOut(size_t k, const char* name, DType dt, int64_t len, bool present) {
  if (async_) {
    if (!present) {
      outs_.emplace_back(name, nullptr);
      return nullptr;
    }
    return Out(k, name, dt, len);
  }
  if (!present && IsAbsent(info_, n_in_ + k)) return nullptr;
  ArrayArg a = GetArray(info_, n_in_ + k, name, {dt}, len);  // present: required
  live_.push_back(a);
  return a.data;
}

Napi::Value Call::Run(std::function<Status()> kernel, Extra extra) {
  Napi::Env env = info_.Env();
  if (!async_) {
    Guard(env, [&] { ThrowIfError(env, kernel()); });
    if (!extra) return env.Undefined();
    Napi::Object r = Napi::Object::New(env);
    extra(env, r);
    return r;
  }
  auto keep = std::make_shared<std::vector<std::shared_ptr<OwnedArray>>>(std::move(owned_));
  auto outs = outs_;
  return RunAsync(
      env, [kernel, keep]() { return kernel(); },
      [outs, extra](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        for (const auto& [name, a] : outs) r.Set(name, a ? Napi::Value(ToJsArray(e, *a)) : e.Null());
        if (extra) extra(e, r);
        return r;
      });
}

int64_t CheckedMul(Napi::Env env, std::initializer_list<int64_t> dims, const char* name) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) ThrowRange(env, "non-negative sizes", name, std::to_string(d));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d / 8)
      ThrowRange(env, "a total size that fits in memory", name, "an overflowing size");
    n *= d;
  }
  return n;
}

std::shared_ptr<OwnedArray> CopyArray(const ArrayArg& a) {
  auto o = std::make_shared<OwnedArray>();
  o->dtype = a.dtype;
  o->length = a.length;
  size_t bytes = static_cast<size_t>(a.length) * dtype_size(a.dtype);
  o->bytes.resize(bytes);
  if (bytes) std::memcpy(o->bytes.data(), a.data, bytes);
  return o;
}

std::shared_ptr<OwnedArray> NewOwned(DType dt, int64_t length) {
  auto o = std::make_shared<OwnedArray>();
  o->dtype = dt;
  o->length = length;
  o->bytes.resize(static_cast<size_t>(length) * dtype_size(dt));
  return o;
}

Napi::TypedArray ToJsArray(Napi::Env env, const OwnedArray& a) {
  size_t n = static_cast<size_t>(a.length);
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, a.bytes.size());
  if (!a.bytes.empty()) std::memcpy(buf.Data(), a.bytes.data(), a.bytes.size());
  switch (a.dtype) {
    case DType::kFloat64: return Napi::Float64Array::New(env, n, buf, 0);
    case DType::kInt32: return Napi::Int32Array::New(env, n, buf, 0);
    case DType::kBool: return Napi::Uint8Array::New(env, n, buf, 0);
    default: return Napi::Float32Array::New(env, n, buf, 0);
  }
}

namespace {
class Worker : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, std::function<Status()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "selfsup"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      status_ = work_();
    } catch (const Error& e) {
      status_ = Status{e.code(), e.what()};
    } catch (const std::bad_alloc&) {
      status_ = Status::OutOfRange("Expected a size that fits in memory for the kernel workspace "
                                   "but received an allocation failure");
    } catch (const std::exception& e) {
      status_ = Status::Internal(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  Status status_;
};
}  // namespace

Napi::Value RunAsync(Napi::Env env, std::function<Status()> work,
                     std::function<Napi::Value(Napi::Env)> done) {
  auto* w = new Worker(env, std::move(work), std::move(done));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace napi
}  // namespace selfsup
