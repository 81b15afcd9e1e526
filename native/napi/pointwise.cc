// N-API bindings for the pointwise family (native/ops/pointwise). Sync, zero-copy; every length
// is checked against the sizes here before a kernel runs. Optional arrays may be null/undefined.
//
//   geluForward(x, bias|null, out, {rows, cols, mode})          mode 0 erf, 1 tanh; bias [cols]
//   geluBackward(grad, x, bias|null, dx, dbias|null, {rows, cols, mode})   dbias needs bias
//   layerNormForward(x, weight|null, bias|null, out, mean, rstd, {rows, cols, eps})
//                                                                mean, rstd Float64Array [rows]
//   layerNormBackward(grad, x, weight|null, mean, rstd, dx, dweight|null, dbias|null, {rows, cols})
//   sumRows(x, out, {rows, cols})                                out[c] = sum_r x[r, c]
#include <string>

#include "napi/convert.h"
#include "napi/pointwise.h"
#include "napi/register.h"
#include "ops/pointwise/params.h"

namespace selfsup {
namespace napi {

RowsCols ReadRowsCols(Napi::Env env, const Napi::Object& o, int64_t length, const char* name) {
  constexpr int64_t kMax = int64_t(1) << 40;
  RowsCols r;
  r.rows = GetIntProp(o, "rows", 0, kMax);
  r.cols = GetIntProp(o, "cols", 0, kMax);
  const int64_t total = CheckedMul(env, {r.rows, r.cols}, name);
  if (length != total)
    ThrowRange(env, "an array of length rows*cols = " + std::to_string(total), name, "length " + std::to_string(length));
  return r;
}

namespace {

// The rows x cols matrix argument `idx` (float32 or float64 of `dtype` when given) and the
// options' rows, cols checked against its length.
struct Rows {
  ArrayArg x;
  int64_t rows = 0, cols = 0;
};
Rows ReadRows(Call& c, size_t idx, const char* name, std::initializer_list<DType> dtypes) {
  Rows r;
  r.x = c.Arg(idx, name, dtypes);
  const RowsCols rc = ReadRowsCols(c.Env(), c.Options(), r.x.length, name);
  r.rows = rc.rows, r.cols = rc.cols;
  return r;
}

const std::initializer_list<DType> kFloats = {DType::kFloat32, DType::kFloat64};

Napi::Value GeluForward(Call& c) {
  const Rows r = ReadRows(c, 0, "x", kFloats);
  GeluParams p;
  p.dtype = r.x.dtype; p.rows = r.rows; p.cols = r.cols;
  p.mode = static_cast<GeluMode>(GetIntProp(c.Options(), "mode", 0, 1));
  p.x = c.In(r.x);
  p.bias = c.In(c.Optional(1, "bias", {p.dtype}, p.cols));
  void* y = c.Out(0, "out", p.dtype, r.x.length);
  return c.Run([=] { return SELFSUP_DISPATCH(gelu_forward)(p, y); });
}

Napi::Value GeluBackward(Call& c) {
  const ArrayArg g = c.Arg(0, "grad", kFloats);
  const Rows r = ReadRows(c, 1, "x", {g.dtype});
  GeluParams p;
  p.dtype = r.x.dtype; p.rows = r.rows; p.cols = r.cols;
  p.mode = static_cast<GeluMode>(GetIntProp(c.Options(), "mode", 0, 1));
  const void* gd = c.In(c.Arg(0, "grad", {g.dtype}, r.x.length));
  p.x = c.In(r.x);
  const ArrayArg b = c.Optional(2, "bias", {p.dtype}, p.cols);
  p.bias = c.In(b);
  void* dx = c.Out(0, "dx", p.dtype, r.x.length);
  void* db = c.OptionalOut(1, "dbias", p.dtype, p.cols, false);
  if (db && !p.bias) ThrowType(c.Env(), "a bias array (dbias needs the fused bias)", "bias", Describe(c.info()[2]));
  return c.Run([=] { return SELFSUP_DISPATCH(gelu_backward)(p, gd, dx, db); });
}

Napi::Value LayerNormForward(Call& c) {
  const Rows r = ReadRows(c, 0, "x", kFloats);
  LayerNormParams p;
  p.dtype = r.x.dtype; p.rows = r.rows; p.n = r.cols;
  if (p.n == 0 && p.rows > 0) ThrowRange(c.Env(), "n >= 1", "n", "0");
  p.x = c.In(r.x);
  p.weight = c.In(c.Optional(1, "weight", {p.dtype}, p.n));
  p.bias = c.In(c.Optional(2, "bias", {p.dtype}, p.n));
  p.eps = GetDoubleProp(c.Options(), "eps");
  if (p.eps < 0) ThrowRange(c.Env(), "a number >= 0", "eps", Describe(c.Options().Get("eps")));
  void* y = c.Out(0, "out", p.dtype, r.x.length);
  auto* mean = static_cast<double*>(c.Out(1, "mean", DType::kFloat64, p.rows));
  auto* rstd = static_cast<double*>(c.Out(2, "rstd", DType::kFloat64, p.rows));
  return c.Run([=] { return SELFSUP_DISPATCH(layer_norm_forward)(p, y, mean, rstd); });
}

Napi::Value LayerNormBackward(Call& c) {
  const ArrayArg g = c.Arg(0, "grad", kFloats);
  const Rows r = ReadRows(c, 1, "x", {g.dtype});
  LayerNormParams p;
  p.dtype = r.x.dtype; p.rows = r.rows; p.n = r.cols;
  const void* gd = c.In(c.Arg(0, "grad", {g.dtype}, r.x.length));
  p.x = c.In(r.x);
  p.weight = c.In(c.Optional(2, "weight", {p.dtype}, p.n));
  const auto* mean = static_cast<const double*>(c.In(c.Arg(3, "mean", {DType::kFloat64}, p.rows)));
  const auto* rstd = static_cast<const double*>(c.In(c.Arg(4, "rstd", {DType::kFloat64}, p.rows)));
  void* dx = c.Out(0, "dx", p.dtype, r.x.length);
  void* dw = c.OptionalOut(1, "dweight", p.dtype, p.n, false);
  void* db = c.OptionalOut(2, "dbias", p.dtype, p.n, false);
  return c.Run([=] { return SELFSUP_DISPATCH(layer_norm_backward)(p, gd, mean, rstd, dx, dw, db); });
}

Napi::Value SumRows(Call& c) {
  const Rows r = ReadRows(c, 0, "x", kFloats);
  const void* x = c.In(r.x);
  void* out = c.Out(0, "out", r.x.dtype, r.cols);
  const DType dt = r.x.dtype;
  const int64_t rows = r.rows, cols = r.cols;
  return c.Run([=] { return SELFSUP_DISPATCH(sum_rows)(dt, x, rows, cols, out); });
}
}  // namespace

void RegisterPointwise(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Sync<GeluForward, 2, 1>("geluForward"), Sync<GeluBackward, 3, 2>("geluBackward"),
                           Sync<LayerNormForward, 3, 3>("layerNormForward"),
                           Sync<LayerNormBackward, 5, 3>("layerNormBackward"), Sync<SumRows, 1, 1>("sumRows")});
}

}  // namespace napi
}  // namespace selfsup
