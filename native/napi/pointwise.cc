// N-API bindings for the pointwise family (native/ops/pointwise). Sync, zero-copy; every length
// is checked against the sizes here before a kernel runs. Optional arrays may be null/undefined.
//
//   geluForward(x, rows, cols, mode, bias, out)                  mode 0 erf, 1 tanh; bias [cols]
//   geluBackward(grad, x, rows, cols, mode, bias, dx, dbias)      dbias [cols] needs bias
//   layerNormForward(x, rows, n, weight, bias, eps, out, mean, rstd)   mean, rstd Float64Array[rows]
//   layerNormBackward(grad, x, rows, n, weight, mean, rstd, dx, dweight, dbias)
//   sumRows(x, rows, cols, out)                                   out[c] = sum_r x[r, c]
#include <string>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/pointwise/params.h"

namespace selfsup {
namespace napi {

namespace {
constexpr int64_t kMax = int64_t(1) << 40;

void Check(Napi::Env env, const Status& s) { ThrowIfError(env, s); }

// (rows, cols) at i0, i0+1 with rows*cols == expected length of `x`.
void ReadRowsCols(const Napi::CallbackInfo& info, size_t i0, const ArrayArg& x, const char* xname,
                  int64_t* rows, int64_t* cols) {
  Napi::Env env = info.Env();
  *rows = GetInt(info, i0, "rows", 0, kMax);
  *cols = GetInt(info, i0 + 1, "cols", 0, kMax);
  const int64_t total = CheckedMul(env, {*rows, *cols}, xname);
  if (x.length != total)
    ThrowRange(env, "an array of length rows*cols = " + std::to_string(total), xname, "length " + std::to_string(x.length));
}
}  // namespace

static Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg x = GetArray(info, 0, "x", {DType::kFloat32, DType::kFloat64});
  GeluParams p;
  ReadRowsCols(info, 1, x, "x", &p.rows, &p.cols);
  p.dtype = x.dtype;
  p.mode = static_cast<GeluMode>(GetInt(info, 3, "mode", 0, 1));
  ArrayArg b = GetOptionalArray(info, 4, "bias", {x.dtype}, p.cols);
  ArrayArg y = GetArray(info, 5, "out", {x.dtype}, x.length);
  p.x = x.data;
  p.bias = b.data;
  Guard(env, [&] { Check(env, SELFSUP_DISPATCH(gelu_forward)(p, y.data)); });
  return env.Undefined();
}

static Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg g = GetArray(info, 0, "grad", {DType::kFloat32, DType::kFloat64});
  ArrayArg x = GetArray(info, 1, "x", {g.dtype}, g.length);
  GeluParams p;
  ReadRowsCols(info, 2, x, "x", &p.rows, &p.cols);
  p.dtype = x.dtype;
  p.mode = static_cast<GeluMode>(GetInt(info, 4, "mode", 0, 1));
  ArrayArg b = GetOptionalArray(info, 5, "bias", {x.dtype}, p.cols);
  ArrayArg dx = GetArray(info, 6, "dx", {x.dtype}, x.length);
  ArrayArg db = GetOptionalArray(info, 7, "dbias", {x.dtype}, p.cols);
  if (db.data && !b.data) ThrowType(env, "a bias array (dbias needs the fused bias)", "bias", Describe(info[5]));
  p.x = x.data;
  p.bias = b.data;
  Guard(env, [&] { Check(env, SELFSUP_DISPATCH(gelu_backward)(p, g.data, dx.data, db.data)); });
  return env.Undefined();
}

static Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg x = GetArray(info, 0, "x", {DType::kFloat32, DType::kFloat64});
  LayerNormParams p;
  ReadRowsCols(info, 1, x, "x", &p.rows, &p.n);
  if (p.n == 0 && p.rows > 0) ThrowRange(env, "n >= 1", "n", "0");
  p.dtype = x.dtype;
  ArrayArg w = GetOptionalArray(info, 3, "weight", {x.dtype}, p.n);
  ArrayArg b = GetOptionalArray(info, 4, "bias", {x.dtype}, p.n);
  p.eps = GetDouble(info, 5, "eps");
  if (p.eps < 0) ThrowRange(env, "a number >= 0", "eps", Describe(info[5]));
  ArrayArg y = GetArray(info, 6, "out", {x.dtype}, x.length);
  ArrayArg mean = GetArray(info, 7, "mean", {DType::kFloat64}, p.rows);
  ArrayArg rstd = GetArray(info, 8, "rstd", {DType::kFloat64}, p.rows);
  p.x = x.data;
  p.weight = w.data;
  p.bias = b.data;
  Guard(env, [&] {
    Check(env, SELFSUP_DISPATCH(layer_norm_forward)(p, y.data, static_cast<double*>(mean.data), static_cast<double*>(rstd.data)));
  });
  return env.Undefined();
}

static Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg g = GetArray(info, 0, "grad", {DType::kFloat32, DType::kFloat64});
  ArrayArg x = GetArray(info, 1, "x", {g.dtype}, g.length);
  LayerNormParams p;
  ReadRowsCols(info, 2, x, "x", &p.rows, &p.n);
  p.dtype = x.dtype;
  ArrayArg w = GetOptionalArray(info, 4, "weight", {x.dtype}, p.n);
  ArrayArg mean = GetArray(info, 5, "mean", {DType::kFloat64}, p.rows);
  ArrayArg rstd = GetArray(info, 6, "rstd", {DType::kFloat64}, p.rows);
  ArrayArg dx = GetArray(info, 7, "dx", {x.dtype}, x.length);
  ArrayArg dw = GetOptionalArray(info, 8, "dweight", {x.dtype}, p.n);
  ArrayArg db = GetOptionalArray(info, 9, "dbias", {x.dtype}, p.n);
  p.x = x.data;
  p.weight = w.data;
  Guard(env, [&] {
    Check(env, SELFSUP_DISPATCH(layer_norm_backward)(p, g.data, static_cast<const double*>(mean.data),
                                                     static_cast<const double*>(rstd.data), dx.data, dw.data, db.data));
  });
  return env.Undefined();
}

static Napi::Value SumRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg x = GetArray(info, 0, "x", {DType::kFloat32, DType::kFloat64});
  int64_t rows, cols;
  ReadRowsCols(info, 1, x, "x", &rows, &cols);
  ArrayArg out = GetArray(info, 3, "out", {x.dtype}, cols);
  Guard(env, [&] { Check(env, SELFSUP_DISPATCH(sum_rows)(x.dtype, x.data, rows, cols, out.data)); });
  return env.Undefined();
}

void RegisterPointwise(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"geluForward", GeluForward}, {"geluBackward", GeluBackward},
                           {"layerNormForward", LayerNormForward},
                           {"layerNormBackward", LayerNormBackward}, {"sumRows", SumRows}});
}

}  // namespace napi
}  // namespace selfsup
