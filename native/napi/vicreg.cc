// N-API bindings for VICReg, its single-input terms, and Barlow Twins (native/ops/vicreg).
//
//   vicregForward(x, y, n, d, eps, path)                     -> { invariance, variance, covariance }
//   vicregBackward(x, y, n, d, eps, path, gInv, gVar, gCov, dx, dy)
//   vicregTermForward(x, n, d, eps, path, which)             -> number  (which 0 variance, 1 cov)
//   vicregTermBackward(x, n, d, eps, path, which, g, dx)
//   barlowTwinsForward(z1, z2, n, d, eps, path, lambda)      -> { loss, onDiagonal, offDiagonal }
//   barlowTwinsBackward(z1, z2, n, d, eps, path, lambda, g, dz1, dz2)
//   ...Async forms of the four two-input functions (inputs copied; backward resolves {dx, dy}).
// path: 0 auto (Gram when n < d), 1 Gram, 2 direct.
#include <array>
#include <memory>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/vicreg/params.h"

namespace selfsup {
namespace napi {

namespace {
struct Args {
  VICRegParams p;
  ArrayArg x, y;
};

// Reads (x, [y,] n, d, eps, path) and checks the lengths.
Args ReadArgs(const Napi::CallbackInfo& info, bool two, const char* xname, const char* yname) {
  Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 40;
  Args a;
  const size_t i0 = two ? 2 : 1;
  a.x = GetArray(info, 0, xname, {DType::kFloat32, DType::kFloat64});
  const int64_t n = GetInt(info, i0, "n", 0, kMax);
  const int64_t d = GetInt(info, i0 + 1, "d", 1, kMax);
  if (n < 2)
    ThrowRange(env, "at least 2 rows (the variance needs n >= 2)", "n", std::to_string(n));
  const int64_t nd = CheckedMul(env, {n, d}, xname);
  CheckedMul(env, {d, d}, "d");
  if (a.x.length != nd)
    ThrowRange(env, "an array of length n*d = " + std::to_string(nd), xname, "length " + std::to_string(a.x.length));
  if (two) a.y = GetArray(info, 1, yname, {a.x.dtype}, nd);
  const double eps = GetDouble(info, i0 + 2, "eps");
  if (eps < 0) ThrowRange(env, "a number >= 0", "eps", Describe(info[i0 + 2]));
  a.p.dtype = a.x.dtype;
  a.p.x = a.x.data;
  a.p.y = two ? a.y.data : nullptr;
  a.p.n = n;
  a.p.d = d;
  a.p.eps = eps;
  a.p.path = static_cast<CovPath>(GetInt(info, i0 + 3, "path", 0, 2));
  return a;
}

Napi::Object Triple(Napi::Env env, const double* v, const char* a, const char* b, const char* c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(a, Napi::Number::New(env, v[0]));
  o.Set(b, Napi::Number::New(env, v[1]));
  o.Set(c, Napi::Number::New(env, v[2]));
  return o;
}

double ReadLambda(const Napi::CallbackInfo& info, size_t i) {
  const double l = GetDouble(info, i, "lambda");
  if (l < 0) ThrowRange(info.Env(), "a number >= 0", "lambda", Describe(info[i]));
  return l;
}
}  // namespace

static Napi::Value VicregForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, "x", "y");
  double out[3] = {0, 0, 0};
  ThrowIfError(env, Guard(env, [&] { return SELFSUP_DISPATCH(vicreg_forward)(a.p, out); }));
  return Triple(env, out, "invariance", "variance", "covariance");
}

static Napi::Value VicregBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, "x", "y");
  const double gi = GetDouble(info, 6, "gInv"), gv = GetDouble(info, 7, "gVar"), gc = GetDouble(info, 8, "gCov");
  const int64_t nd = a.p.n * a.p.d;
  ArrayArg dx = GetArray(info, 9, "dx", {a.p.dtype}, nd);
  ArrayArg dy = GetArray(info, 10, "dy", {a.p.dtype}, nd);
  ThrowIfError(env, Guard(env, [&] {
    return SELFSUP_DISPATCH(vicreg_backward)(a.p, gi, gv, gc, dx.data, dy.data);
  }));
  return env.Undefined();
}

static Napi::Value TermForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, false, "x", "");
  const int which = static_cast<int>(GetInt(info, 5, "which", 0, 1));
  double out = 0;
  ThrowIfError(env, Guard(env, [&] { return SELFSUP_DISPATCH(vicreg_term_forward)(a.p, which, &out); }));
  return Napi::Number::New(env, out);
}

static Napi::Value TermBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, false, "x", "");
  const int which = static_cast<int>(GetInt(info, 5, "which", 0, 1));
  const double g = GetDouble(info, 6, "g");
  ArrayArg dx = GetArray(info, 7, "dx", {a.p.dtype}, a.p.n * a.p.d);
  ThrowIfError(env, Guard(env, [&] { return SELFSUP_DISPATCH(vicreg_term_backward)(a.p, which, g, dx.data); }));
  return env.Undefined();
}

static Napi::Value BarlowForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, "z1", "z2");
  a.p.lambda = ReadLambda(info, 6);
  double out[3] = {0, 0, 0};
  ThrowIfError(env, Guard(env, [&] { return SELFSUP_DISPATCH(barlow_twins_forward)(a.p, out); }));
  return Triple(env, out, "loss", "onDiagonal", "offDiagonal");
}

static Napi::Value BarlowBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, "z1", "z2");
  a.p.lambda = ReadLambda(info, 6);
  const double g = GetDouble(info, 7, "g");
  const int64_t nd = a.p.n * a.p.d;
  ArrayArg d1 = GetArray(info, 8, "dz1", {a.p.dtype}, nd);
  ArrayArg d2 = GetArray(info, 9, "dz2", {a.p.dtype}, nd);
  ThrowIfError(env, Guard(env, [&] {
    return SELFSUP_DISPATCH(barlow_twins_backward)(a.p, g, d1.data, d2.data);
  }));
  return env.Undefined();
}

// ---- async forms: copy x, y; run on the libuv pool -----------------------------------------
namespace {
struct Copies {
  std::shared_ptr<OwnedArray> x, y;
};
VICRegParams Own(Args& a, Copies& c) {
  c.x = CopyArray(a.x);
  c.y = CopyArray(a.y);
  VICRegParams p = a.p;
  p.x = c.x->bytes.data();
  p.y = c.y->bytes.data();
  return p;
}

Napi::Value ForwardAsyncImpl(const Napi::CallbackInfo& info, bool barlow) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, barlow ? "z1" : "x", barlow ? "z2" : "y");
  if (barlow) a.p.lambda = ReadLambda(info, 6);
  Copies c;
  VICRegParams p = Own(a, c);
  auto out = std::make_shared<std::array<double, 3>>();
  return RunAsync(
      env,
      [p, c, out, barlow]() {
        return barlow ? SELFSUP_DISPATCH(barlow_twins_forward)(p, out->data())
                      : SELFSUP_DISPATCH(vicreg_forward)(p, out->data());
      },
      [out, barlow](Napi::Env e) -> Napi::Value {
        return barlow ? Triple(e, out->data(), "loss", "onDiagonal", "offDiagonal")
                      : Triple(e, out->data(), "invariance", "variance", "covariance");
      });
}

Napi::Value BackwardAsyncImpl(const Napi::CallbackInfo& info, bool barlow) {
  Napi::Env env = info.Env();
  Args a = ReadArgs(info, true, barlow ? "z1" : "x", barlow ? "z2" : "y");
  double g[3] = {0, 0, 0};
  if (barlow) {
    a.p.lambda = ReadLambda(info, 6);
    g[0] = GetDouble(info, 7, "g");
  } else {
    g[0] = GetDouble(info, 6, "gInv");
    g[1] = GetDouble(info, 7, "gVar");
    g[2] = GetDouble(info, 8, "gCov");
  }
  Copies c;
  VICRegParams p = Own(a, c);
  const int64_t nd = p.n * p.d;
  auto dx = NewOwned(p.dtype, nd), dy = NewOwned(p.dtype, nd);
  const double g0 = g[0], g1 = g[1], g2 = g[2];
  return RunAsync(
      env,
      [p, c, dx, dy, barlow, g0, g1, g2]() {
        return barlow ? SELFSUP_DISPATCH(barlow_twins_backward)(p, g0, dx->bytes.data(), dy->bytes.data())
                      : SELFSUP_DISPATCH(vicreg_backward)(p, g0, g1, g2, dx->bytes.data(), dy->bytes.data());
      },
      [dx, dy, barlow](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set(barlow ? "dz1" : "dx", ToJsArray(e, *dx));
        r.Set(barlow ? "dz2" : "dy", ToJsArray(e, *dy));
        return r;
      });
}
}  // namespace

static Napi::Value VicregForwardAsync(const Napi::CallbackInfo& info) { return ForwardAsyncImpl(info, false); }
static Napi::Value VicregBackwardAsync(const Napi::CallbackInfo& info) { return BackwardAsyncImpl(info, false); }
static Napi::Value BarlowForwardAsync(const Napi::CallbackInfo& info) { return ForwardAsyncImpl(info, true); }
static Napi::Value BarlowBackwardAsync(const Napi::CallbackInfo& info) { return BackwardAsyncImpl(info, true); }

void RegisterVICReg(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "vicregForward", VicregForward);
  Export(env, exports, "vicregBackward", VicregBackward);
  Export(env, exports, "vicregTermForward", TermForward);
  Export(env, exports, "vicregTermBackward", TermBackward);
  Export(env, exports, "barlowTwinsForward", BarlowForward);
  Export(env, exports, "barlowTwinsBackward", BarlowBackward);
  Export(env, exports, "vicregForwardAsync", VicregForwardAsync);
  Export(env, exports, "vicregBackwardAsync", VicregBackwardAsync);
  Export(env, exports, "barlowTwinsForwardAsync", BarlowForwardAsync);
  Export(env, exports, "barlowTwinsBackwardAsync", BarlowBackwardAsync);
}

}  // namespace napi
}  // namespace selfsup
