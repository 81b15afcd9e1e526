// N-API bindings for InfoNCE / NT-Xent (native/ops/info_nce). Every argument is checked here
// again (types, lengths against n, d, m, ranges) before a kernel touches memory.
//
//   infoNCEForward(z1, z2, negatives|null, labels|null, losses, lse, lsePos|null, opts)
//   infoNCEForwardAsync(z1, z2, negatives|null, labels|null, opts) -> Promise<{losses, lse, lsePos}>
//   infoNCEBackward(z1, z2, negatives|null, labels|null, gradRows, lse, lsePos|null, dz1, dz2, opts)
//   infoNCEBackwardAsync(<the 7 inputs>, opts)                       -> Promise<{dz1, dz2}>
//   opts = { n, d, m, temperature, normalize, both, decoupled }
// lsePos (rows) exists only with labels; the async forward resolves it as null without them.
#include <string>

#include "napi/convert.h"
#include "napi/fused_opts.h"
#include "napi/register.h"
#include "ops/info_nce/params.h"

namespace selfsup {
namespace napi {

InfoNCEParams ReadInfoNCEOptions(const Napi::Object& o, DType dt) {
  Napi::Env env = o.Env();
  const int64_t kMax = int64_t(1) << 40;
  InfoNCEParams p;
  p.dtype = dt;
  p.n = GetIntProp(o, "n", 1, kMax);
  p.d = GetIntProp(o, "d", 1, kMax);
  p.m = GetIntProp(o, "m", 0, kMax);
  CheckedMul(env, {p.n, p.d}, "z1");
  CheckedMul(env, {p.m, p.d}, "negatives");
  CheckedMul(env, {2 * p.n, p.d}, "z1");
  p.temperature = GetDoubleProp(o, "temperature", true);
  if (!(p.temperature > 0) || !(p.temperature < 1e30))
    ThrowRange(env, "a finite number > 0", "temperature", Describe(o.Get("temperature")));
  p.normalize = GetBoolProp(o, "normalize");
  p.both = GetBoolProp(o, "both");
  p.decoupled = GetBoolProp(o, "decoupled");
  return p;
}

namespace {

// opts, then z1, z2, negatives and labels checked against n, d, m.
InfoNCEParams ReadInputs(Call& c) {
  Napi::Env env = c.Env();
  const ArrayArg z1 = c.Arg(0, "z1", {DType::kFloat32, DType::kFloat64});
  InfoNCEParams p = ReadInfoNCEOptions(c.Options(), z1.dtype);
  const int64_t nd = p.n * p.d;
  if (z1.length != nd)
    ThrowRange(env, "an array of length n*d = " + std::to_string(nd), "z1", "length " + std::to_string(z1.length));
  p.z1 = c.In(z1);
  p.z2 = c.In(c.Arg(1, "z2", {p.dtype}, nd));
  const ArrayArg neg = c.Optional(2, "negatives", {p.dtype}, p.m * p.d);
  if (neg.array.IsEmpty() && p.m != 0) ThrowRange(env, "m = 0 when negatives is null", "m", std::to_string(p.m));
  p.negatives = c.In(neg);
  p.labels = static_cast<const int32_t*>(c.In(c.Optional(3, "labels", {DType::kInt32}, p.n)));
  return p;
}

Napi::Value Forward(Call& c) {
  const InfoNCEParams p = ReadInputs(c);
  const int64_t rows = info_nce_rows(p);
  void* losses = c.Out(0, "losses", p.dtype, rows);
  void* lse = c.Out(1, "lse", p.dtype, rows);
  void* lse_pos = c.OptionalOut(2, "lsePos", p.dtype, rows, p.labels != nullptr);
  return c.Run([=] { return SELFSUP_DISPATCH(info_nce_forward)(p, losses, lse, lse_pos); });
}

Napi::Value Backward(Call& c) {
  const InfoNCEParams p = ReadInputs(c);
  const int64_t rows = info_nce_rows(p), nd = p.n * p.d;
  const void* g = c.In(c.Arg(4, "gradRows", {p.dtype}, rows));
  const void* lse = c.In(c.Arg(5, "lse", {p.dtype}, rows));
  const void* lse_pos = p.labels ? c.In(c.Arg(6, "lsePos", {p.dtype}, rows)) : nullptr;
  void* dz1 = c.Out(0, "dz1", p.dtype, nd);
  void* dz2 = c.Out(1, "dz2", p.dtype, nd);
  return c.Run([=] { return SELFSUP_DISPATCH(info_nce_backward)(p, g, lse, lse_pos, dz1, dz2); });
}
}  // namespace

void RegisterInfoNCE(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Pair<Forward, 4, 3>("infoNCEForward"), Pair<Backward, 7, 2>("infoNCEBackward")});
}

}  // namespace napi
}  // namespace selfsup
