// N-API bindings for VICReg, its single-input terms, and Barlow Twins (native/ops/vicreg).
//
//   vicregForward(x, y, opts)                -> { invariance, variance, covariance }
//   vicregBackward(x, y, dx, dy, opts)        opts also { gInv, gVar, gCov }
//   vicregTermForward(x, opts)               -> { value }  opts also { which } (0 variance, 1 cov)
//   vicregTermBackward(x, dx, opts)           opts also { which, g }
//   barlowTwinsForward(z1, z2, opts)         -> { loss, onDiagonal, offDiagonal }  opts also { lambda }
//   barlowTwinsBackward(z1, z2, dz1, dz2, opts) opts also { lambda, g }
//   ...Async forms of the four two-input functions (inputs copied; backward resolves {dx, dy} /
//   {dz1, dz2}).
//   opts = { n, d, eps, path } with path 0 auto (Gram when n < d), 1 Gram, 2 direct.
#include <array>
#include <memory>
#include <string>

#include "napi/convert.h"
#include "napi/fused_opts.h"
#include "napi/register.h"
#include "ops/vicreg/params.h"

namespace selfsup {
namespace napi {

VICRegParams ReadVicregOptions(const Napi::Object& o, DType dt, const char* xname) {
  Napi::Env env = o.Env();
  const int64_t kMax = int64_t(1) << 40;
  VICRegParams p;
  p.dtype = dt;
  p.n = GetIntProp(o, "n", 0, kMax);
  p.d = GetIntProp(o, "d", 1, kMax);
  if (p.n < 2) ThrowRange(env, "at least 2 rows (the variance needs n >= 2)", "n", std::to_string(p.n));
  CheckedMul(env, {p.n, p.d}, xname);
  CheckedMul(env, {p.d, p.d}, "d");
  p.eps = GetDoubleProp(o, "eps");
  if (p.eps < 0) ThrowRange(env, "a number >= 0", "eps", Describe(o.Get("eps")));
  p.path = static_cast<CovPath>(GetIntProp(o, "path", 0, 2));
  return p;
}

double GetNonNegativeProp(const Napi::Object& o, const char* key) {
  const double v = GetDoubleProp(o, key);
  if (v < 0) ThrowRange(o.Env(), "a number >= 0", key, Describe(o.Get(key)));
  return v;
}

namespace {

// opts, then the inputs x (and y when `two`) checked against n, d.
VICRegParams ReadArgs(Call& c, bool two, const char* xname, const char* yname) {
  const ArrayArg x = c.Arg(0, xname, {DType::kFloat32, DType::kFloat64});
  VICRegParams p = ReadVicregOptions(c.Options(), x.dtype, xname);
  const int64_t nd = p.n * p.d;
  if (x.length != nd)
    ThrowRange(c.Env(), "an array of length n*d = " + std::to_string(nd), xname, "length " + std::to_string(x.length));
  p.x = c.In(x);
  p.y = two ? c.In(c.Arg(1, yname, {p.dtype}, nd)) : nullptr;
  return p;
}


// A forward returning three numbers, resolved as { a, b, c }.
using Terms = std::shared_ptr<std::array<double, 3>>;
Call::Extra TermsOf(Terms t, const char* a, const char* b, const char* c) {
  return [t, a, b, c](Napi::Env e, Napi::Object& r) {
    r.Set(a, Napi::Number::New(e, (*t)[0]));
    r.Set(b, Napi::Number::New(e, (*t)[1]));
    r.Set(c, Napi::Number::New(e, (*t)[2]));
  };
}

Napi::Value VicregForward(Call& c) {
  const VICRegParams p = ReadArgs(c, true, "x", "y");
  auto t = std::make_shared<std::array<double, 3>>();
  return c.Run([p, t] { return SELFSUP_DISPATCH(vicreg_forward)(p, t->data()); },
               TermsOf(t, "invariance", "variance", "covariance"));
}

Napi::Value VicregBackward(Call& c) {
  const VICRegParams p = ReadArgs(c, true, "x", "y");
  const Napi::Object o = c.Options();
  const double gi = GetDoubleProp(o, "gInv"), gv = GetDoubleProp(o, "gVar"), gc = GetDoubleProp(o, "gCov");
  void* dx = c.Out(0, "dx", p.dtype, p.n * p.d);
  void* dy = c.Out(1, "dy", p.dtype, p.n * p.d);
  return c.Run([=] { return SELFSUP_DISPATCH(vicreg_backward)(p, gi, gv, gc, dx, dy); });
}

Napi::Value TermForward(Call& c) {
  const VICRegParams p = ReadArgs(c, false, "x", "");
  const int which = static_cast<int>(GetIntProp(c.Options(), "which", 0, 1));
  auto v = std::make_shared<double>(0);
  return c.Run([p, which, v] { return SELFSUP_DISPATCH(vicreg_term_forward)(p, which, v.get()); },
               [v](Napi::Env e, Napi::Object& r) { r.Set("value", Napi::Number::New(e, *v)); });
}

Napi::Value TermBackward(Call& c) {
  const VICRegParams p = ReadArgs(c, false, "x", "");
  const Napi::Object o = c.Options();
  const int which = static_cast<int>(GetIntProp(o, "which", 0, 1));
  const double g = GetDoubleProp(o, "g");
  void* dx = c.Out(0, "dx", p.dtype, p.n * p.d);
  return c.Run([=] { return SELFSUP_DISPATCH(vicreg_term_backward)(p, which, g, dx); });
}

Napi::Value BarlowForward(Call& c) {
  VICRegParams p = ReadArgs(c, true, "z1", "z2");
  p.lambda = GetNonNegativeProp(c.Options(), "lambda");
  auto t = std::make_shared<std::array<double, 3>>();
  return c.Run([p, t] { return SELFSUP_DISPATCH(barlow_twins_forward)(p, t->data()); },
               TermsOf(t, "loss", "onDiagonal", "offDiagonal"));
}

Napi::Value BarlowBackward(Call& c) {
  VICRegParams p = ReadArgs(c, true, "z1", "z2");
  p.lambda = GetNonNegativeProp(c.Options(), "lambda");
  const double g = GetDoubleProp(c.Options(), "g");
  void* d1 = c.Out(0, "dz1", p.dtype, p.n * p.d);
  void* d2 = c.Out(1, "dz2", p.dtype, p.n * p.d);
  return c.Run([=] { return SELFSUP_DISPATCH(barlow_twins_backward)(p, g, d1, d2); });
}
}  // namespace

void RegisterVICReg(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Pair<VicregForward, 2, 0>("vicregForward"), Pair<VicregBackward, 2, 2>("vicregBackward"),
                           Sync<TermForward, 1, 0>("vicregTermForward"), Sync<TermBackward, 1, 1>("vicregTermBackward"),
                           Pair<BarlowForward, 2, 0>("barlowTwinsForward"), Pair<BarlowBackward, 2, 2>("barlowTwinsBackward")});
}

}  // namespace napi
}  // namespace selfsup
