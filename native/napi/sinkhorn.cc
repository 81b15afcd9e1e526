// sinkhorn / sinkhornAsync: log-domain Sinkhorn-Knopp balancing (native/ops/sinkhorn).
//
//   sinkhorn(scores, out, opts)   -> { iterations, marginalError, sweeps }
//   sinkhornAsync(scores, opts)   -> Promise<{ out, iterations, marginalError, sweeps }>
//   opts = { B, K, probs, epsilon, iterations, tolerance, colMarginal, rowMarginal?, wantError,
//            allReduceSum? }
//
// scores/out: Float32Array [B*K]; colMarginal: Float64Array [K]; rowMarginal: Float64Array [B]
// or absent (uniform). allReduceSum(Float32Array) sums its argument across processes, in place or
// by returning a Float32Array of the same length; it is called synchronously on this thread
// between sweeps (sync form only).
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/threadpool.h"
#include "napi/convert.h"
#include "napi/fused_opts.h"
#include "napi/register.h"
#include "ops/sinkhorn/params.h"

namespace selfsup {
namespace napi {

constexpr int64_t kMaxDim = int64_t(1) << 40;

// Reads opts (B, K, probs, epsilon, iterations, tolerance, colMarginal, rowMarginal, wantError),
// checking every value and the marginal lengths.
SinkhornOptions ReadSinkhornOptions(const Napi::Object& o, int64_t scores_len) {
  Napi::Env env = o.Env();
  SinkhornOptions c;
  c.B = GetIntProp(o, "B", 0, kMaxDim);
  c.K = GetIntProp(o, "K", 1, kMaxDim);
  const int64_t n = CheckedMul(env, {c.B, c.K}, "scores");
  if (scores_len != n)
    ThrowRange(env, "a Float32Array of length B*K = " + std::to_string(n), "scores",
               "length " + std::to_string(scores_len));
  c.probs = GetBoolProp(o, "probs");
  c.epsilon = GetDoubleProp(o, "epsilon");
  if (!c.probs && !(c.epsilon > 0)) ThrowRange(env, "a number > 0", "epsilon", Describe(o.Get("epsilon")));
  c.iterations = GetIntProp(o, "iterations", 0, int64_t(1) << 31);
  c.tolerance = GetDoubleProp(o, "tolerance");
  if (c.tolerance < 0) ThrowRange(env, "a number >= 0", "tolerance", Describe(o.Get("tolerance")));
  ArrayArg col = ToArray(env, o.Get("colMarginal"), "colMarginal", {DType::kFloat64}, c.K);
  c.col.assign(static_cast<double*>(col.data), static_cast<double*>(col.data) + c.K);
  ArrayArg row = GetOptionalArrayProp(o, "rowMarginal", {DType::kFloat64}, c.B);
  if (!row.array.IsEmpty()) {
    c.row.assign(static_cast<double*>(row.data), static_cast<double*>(row.data) + c.B);
    c.has_row = true;
  }
  c.want_error = GetBoolProp(o, "wantError");
  return c;
}

SinkhornParams MakeSinkhornParams(const SinkhornOptions& c, const float* scores, float* out) {
  SinkhornParams p;
  p.B = c.B; p.K = c.K; p.scores = scores; p.out = out; p.probs = c.probs;
  p.epsilon = c.probs ? 1.0 : c.epsilon;
  p.col_marginal = c.col.data();
  p.row_marginal = c.has_row ? c.row.data() : nullptr;
  p.iterations = c.iterations; p.tolerance = c.tolerance; p.want_error = c.want_error;
  return p;
}

namespace {
Napi::Object Info(Napi::Env env, const SinkhornParams& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("iterations", Napi::Number::New(env, static_cast<double>(p.iterations_done)));
  o.Set("marginalError", Napi::Number::New(env, p.marginal_error));
  o.Set("sweeps", Napi::Number::New(env, static_cast<double>(p.sweeps)));
  return o;
}
}  // namespace

static Napi::Value Sinkhorn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg S = GetArray(info, 0, "scores", {DType::kFloat32});
  const Napi::Object opts = GetOptions(info, 2);
  SinkhornOptions c = ReadSinkhornOptions(opts, S.length);
  ArrayArg O = GetArray(info, 1, "out", {DType::kFloat32}, c.B * c.K);
  if (O.base == S.base && c.B * c.K > 0)
    ThrowRange(env, "an out array that does not alias scores", "out", "an aliasing array");
  Napi::Value cb = opts.Get("allReduceSum");
  if (!cb.IsUndefined() && !cb.IsNull() && !cb.IsFunction())
    ThrowType(env, "a function", "collective.allReduceSum", Describe(cb));

  if (!cb.IsFunction()) {
    SinkhornParams p = MakeSinkhornParams(c, static_cast<const float*>(S.data), static_cast<float*>(O.data));
    Guard(env, [&] { ThrowIfError(env, SELFSUP_DISPATCH(sinkhorn_forward)(p)); });
    return Info(env, p);
  }

  // With a collective, JS runs in the middle of the kernel and could detach or resize the arrays
  // we hold: work on private copies and write `out` back only if it is still live afterwards.
  auto scores = CopyArray(S);
  auto out = NewOwned(DType::kFloat32, c.B * c.K);
  Napi::Function fn = cb.As<Napi::Function>();
  SinkhornParams p = MakeSinkhornParams(c, scores->ptr<float>(), out->ptr<float>());
  p.all_reduce = [env, fn](double* buf, int64_t n) {
    Napi::Float32Array arr = Napi::Float32Array::New(env, static_cast<size_t>(n));
    float* a = arr.Data();
    for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>(buf[i]);
    Napi::Value r = fn.Call({arr});  // a JS exception propagates as Napi::Error
    Napi::Float32Array src = arr;
    if (r.IsTypedArray()) {
      Napi::TypedArray ta = r.As<Napi::TypedArray>();
      if (ta.TypedArrayType() != napi_float32_array || static_cast<int64_t>(ta.ElementLength()) != n)
        ThrowRange(env, "a Float32Array of length " + std::to_string(n), "the result of collective.allReduceSum", Describe(r));
      src = r.As<Napi::Float32Array>();
    } else if (!r.IsUndefined()) {
      ThrowType(env, "undefined or a Float32Array", "the result of collective.allReduceSum", Describe(r));
    }
    if (src.ArrayBuffer().IsDetached() || static_cast<int64_t>(src.ElementLength()) != n)
      ThrowRange(env, "a live Float32Array of length " + std::to_string(n), "collective.allReduceSum's buffer", "a detached or resized buffer");
    const float* sp = src.Data();
    for (int64_t i = 0; i < n; ++i) {
      const float v = sp[i];
      if (std::isnan(v)) ThrowRange(env, "numbers (not NaN)", "the result of collective.allReduceSum", "NaN");
      buf[i] = v;
    }
  };
  Guard(env, [&] { ThrowIfError(env, SELFSUP_DISPATCH(sinkhorn_forward)(p)); });
  ArrayArg O2 = GetArray(info, 1, "out", {DType::kFloat32}, c.B * c.K);
  if (c.B * c.K > 0) std::memcpy(O2.data, out->ptr<float>(), static_cast<size_t>(c.B * c.K) * sizeof(float));
  return Info(env, p);
}

static Napi::Value SinkhornAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg S = GetArray(info, 0, "scores", {DType::kFloat32});
  SinkhornOptions c = ReadSinkhornOptions(GetOptions(info, 1), S.length);
  auto scores = CopyArray(S);
  auto out = NewOwned(DType::kFloat32, c.B * c.K);
  auto p = std::make_shared<SinkhornParams>(MakeSinkhornParams(c, scores->ptr<float>(), out->ptr<float>()));
  auto keep = std::make_shared<SinkhornOptions>(std::move(c));
  p->col_marginal = keep->col.data();
  p->row_marginal = keep->has_row ? keep->row.data() : nullptr;
  return RunAsync(
      env, [p, keep, scores, out]() { return SELFSUP_DISPATCH(sinkhorn_forward)(*p); },
      [p, out](Napi::Env e) -> Napi::Value {
        Napi::Object o = Info(e, *p);
        o.Set("out", ToJsArray(e, *out));
        return o;
      });
}

void RegisterSinkhorn(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "sinkhorn", Sinkhorn);
  Export(env, exports, "sinkhornAsync", SinkhornAsync);
}

}  // namespace napi
}  // namespace selfsup
