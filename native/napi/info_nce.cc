// N-API bindings for InfoNCE / NT-Xent (native/ops/info_nce). Every argument is checked here
// again (types, lengths against n, d, m, ranges) before a kernel touches memory.
//
//   infoNCEForward(z1, z2, negatives|null, labels|null, n, d, m, temperature, normalize, both,
//                  decoupled, losses, lse, lsePos|null)                       -> undefined
//   infoNCEBackward(<same 11 inputs>, gradRows, lse, lsePos|null, dz1, dz2)   -> undefined
//   infoNCEForwardAsync(<11 inputs>)  -> Promise<{ losses, lse, lsePos }>  (inputs copied)
//   infoNCEBackwardAsync(<11 inputs>, gradRows, lse, lsePos|null) -> Promise<{ dz1, dz2 }>
#include <memory>
#include <vector>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/info_nce/params.h"

namespace selfsup {
namespace napi {

namespace {
constexpr size_t kNumInputs = 11;

struct NceArgs {
  InfoNCEParams p;
  ArrayArg z1, z2, neg, labels;
  bool has_neg = false, has_labels = false;
  int64_t rows = 0;
};

NceArgs ReadInputs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 40;
  NceArgs a;
  a.z1 = GetArray(info, 0, "z1", {DType::kFloat32, DType::kFloat64});
  const int64_t n = GetInt(info, 4, "n", 1, kMax);
  const int64_t d = GetInt(info, 5, "d", 1, kMax);
  const int64_t m = GetInt(info, 6, "m", 0, kMax);
  const int64_t nd = CheckedMul(env, {n, d}, "z1");
  const int64_t md = CheckedMul(env, {m, d}, "negatives");
  CheckedMul(env, {2 * n, d}, "z1");
  if (a.z1.length != nd)
    ThrowRange(env, "an array of length n*d = " + std::to_string(nd), "z1", "length " + std::to_string(a.z1.length));
  a.z2 = GetArray(info, 1, "z2", {a.z1.dtype}, nd);
  a.has_neg = !IsAbsent(info, 2);
  if (a.has_neg) {
    a.neg = GetArray(info, 2, "negatives", {a.z1.dtype}, md);
  } else if (m != 0) {
    ThrowRange(env, "m = 0 when negatives is null", "m", std::to_string(m));
  }
  a.has_labels = !IsAbsent(info, 3);
  if (a.has_labels) a.labels = GetArray(info, 3, "labels", {DType::kInt32}, n);
  const double t = GetDouble(info, 7, "temperature", true);
  if (!(t > 0) || !(t < 1e30)) ThrowRange(env, "a finite number > 0", "temperature", Describe(info[7]));
  a.p.dtype = a.z1.dtype;
  a.p.z1 = a.z1.data;
  a.p.z2 = a.z2.data;
  a.p.negatives = a.has_neg ? a.neg.data : nullptr;
  a.p.labels = a.has_labels ? static_cast<const int32_t*>(a.labels.data) : nullptr;
  a.p.n = n;
  a.p.d = d;
  a.p.m = m;
  a.p.temperature = t;
  a.p.normalize = GetBool(info, 8, "normalize");
  a.p.both = GetBool(info, 9, "both");
  a.p.decoupled = GetBool(info, 10, "decoupled");
  a.rows = info_nce_rows(a.p);
  return a;
}

// Output / saved arrays of the row count and the inputs' dtype.
ArrayArg RowArray(const Napi::CallbackInfo& info, size_t i, const char* name, const NceArgs& a) {
  return GetArray(info, i, name, {a.p.dtype}, a.rows);
}

// The async forms run on copies: rebinding the params to the owned buffers.
struct Owned {
  std::shared_ptr<OwnedArray> z1, z2, neg, labels;
};
Owned CopyInputs(NceArgs& a) {
  Owned o;
  o.z1 = CopyArray(a.z1);
  o.z2 = CopyArray(a.z2);
  if (a.has_neg) o.neg = CopyArray(a.neg);
  if (a.has_labels) o.labels = CopyArray(a.labels);
  return o;
}
InfoNCEParams Rebind(InfoNCEParams p, const Owned& o) {
  p.z1 = o.z1->bytes.data();
  p.z2 = o.z2->bytes.data();
  p.negatives = o.neg ? o.neg->bytes.data() : nullptr;
  p.labels = o.labels ? reinterpret_cast<const int32_t*>(o.labels->bytes.data()) : nullptr;
  return p;
}
}  // namespace

static Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NceArgs a = ReadInputs(info);
  ArrayArg losses = RowArray(info, kNumInputs, "losses", a);
  ArrayArg lse = RowArray(info, kNumInputs + 1, "lse", a);
  void* lse_pos = nullptr;
  ArrayArg lp;
  if (a.has_labels) {
    lp = RowArray(info, kNumInputs + 2, "lsePos", a);
    lse_pos = lp.data;
  }
  Status s = Guard(env, [&] { return SELFSUP_DISPATCH(info_nce_forward)(a.p, losses.data, lse.data, lse_pos); });
  ThrowIfError(env, s);
  return env.Undefined();
}

static Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NceArgs a = ReadInputs(info);
  ArrayArg g = RowArray(info, kNumInputs, "gradRows", a);
  ArrayArg lse = RowArray(info, kNumInputs + 1, "lse", a);
  const void* lse_pos = nullptr;
  ArrayArg lp;
  if (a.has_labels) {
    lp = RowArray(info, kNumInputs + 2, "lsePos", a);
    lse_pos = lp.data;
  }
  const int64_t nd = a.p.n * a.p.d;
  ArrayArg dz1 = GetArray(info, kNumInputs + 3, "dz1", {a.p.dtype}, nd);
  ArrayArg dz2 = GetArray(info, kNumInputs + 4, "dz2", {a.p.dtype}, nd);
  Status s = Guard(env, [&] {
    return SELFSUP_DISPATCH(info_nce_backward)(a.p, g.data, lse.data, lse_pos, dz1.data, dz2.data);
  });
  ThrowIfError(env, s);
  return env.Undefined();
}

static Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NceArgs a = ReadInputs(info);
  Owned o = CopyInputs(a);
  InfoNCEParams p = Rebind(a.p, o);
  auto losses = NewOwned(p.dtype, a.rows), lse = NewOwned(p.dtype, a.rows);
  auto lsp = a.has_labels ? NewOwned(p.dtype, a.rows) : nullptr;
  return RunAsync(
      env,
      [p, o, losses, lse, lsp]() {
        return SELFSUP_DISPATCH(info_nce_forward)(p, losses->bytes.data(), lse->bytes.data(),
                                                  lsp ? lsp->bytes.data() : nullptr);
      },
      [losses, lse, lsp](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("losses", ToJsArray(e, *losses));
        r.Set("lse", ToJsArray(e, *lse));
        r.Set("lsePos", lsp ? Napi::Value(ToJsArray(e, *lsp)) : e.Null());
        return r;
      });
}

static Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NceArgs a = ReadInputs(info);
  ArrayArg g = RowArray(info, kNumInputs, "gradRows", a);
  ArrayArg lse = RowArray(info, kNumInputs + 1, "lse", a);
  std::shared_ptr<OwnedArray> clp;
  if (a.has_labels) clp = CopyArray(RowArray(info, kNumInputs + 2, "lsePos", a));
  Owned o = CopyInputs(a);
  InfoNCEParams p = Rebind(a.p, o);
  auto cg = CopyArray(g), clse = CopyArray(lse);
  const int64_t nd = p.n * p.d;
  auto dz1 = NewOwned(p.dtype, nd), dz2 = NewOwned(p.dtype, nd);
  return RunAsync(
      env,
      [p, o, cg, clse, clp, dz1, dz2]() {
        return SELFSUP_DISPATCH(info_nce_backward)(p, cg->bytes.data(), clse->bytes.data(),
                                                   clp ? clp->bytes.data() : nullptr,
                                                   dz1->bytes.data(), dz2->bytes.data());
      },
      [dz1, dz2](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("dz1", ToJsArray(e, *dz1));
        r.Set("dz2", ToJsArray(e, *dz2));
        return r;
      });
}

void RegisterInfoNCE(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "infoNCEForward", Forward);
  Export(env, exports, "infoNCEBackward", Backward);
  Export(env, exports, "infoNCEForwardAsync", ForwardAsync);
  Export(env, exports, "infoNCEBackwardAsync", BackwardAsync);
}

}  // namespace napi
}  // namespace selfsup
