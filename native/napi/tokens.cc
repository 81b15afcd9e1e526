// N-API bindings for the tokens family: gather/scatter (+ backward), stochastic positions
// (+ backward), MAE random masks and I-JEPA multi-block masks. Sync forms are zero-copy (outputs
// passed in); the Async forms copy their inputs and resolve with fresh arrays. Every length is
// checked against the sizes here and every index inside the kernels, before memory is touched.
// Sizes and scalars come last, as one options object read by name:
//
//   tokensGather(x, idx, lengths|null, pos|null, out, {B, N, D, K, xShared})
//   tokensGatherAsync(x, idx, lengths|null, pos|null, {B, N, D, K, xShared}) -> Promise<{out}>
//   tokensGatherBackward(grad, idx, lengths|null, dx|null, dpos|null, {B, N, D, K, xShared})
//   tokensScatter(src, idx, lengths|null, fill|null, out, {B, N, D, K})
//   tokensScatterBackward(grad, idx, lengths|null, dsrc|null, dfill|null, {B, N, D, K})
//   stochasticPositions(pos, idx, lengths|null, weight, bias|null, out, noise|null,
//                       {B, N, Dp, K, Din, std, seed})
//   stochasticPositionsBackward(grad, idx, lengths|null, noise|null, dpos|null, dweight|null,
//                               dbias|null, {B, N, Dp, K, Din, std, seed})
//   maskRandom(keep, masked, restore, {B, N, keepCount, seed})
//   maskMultiBlock({H, W, B, seed, encScale, predScale, aspectRatio, nEnc, nPred, minKeep,
//                   allowOverlap, ragged}) (+ Async) -> {kc, kt, context, targets, ...}
#include <cstring>
#include <string>
#include <utility>

#include "napi/convert.h"
#include "napi/fused_opts.h"
#include "napi/register.h"
#include "ops/tokens/params.h"

namespace selfsup {
namespace napi {

namespace {
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr int64_t kMaxSeed = (int64_t(1) << 53) - 1;
}  // namespace

// {B, N, D, K[, xShared]} of the options object at argument idx.
TokenDims ReadTokenDims(const Napi::CallbackInfo& info, size_t idx, bool with_shared) {
  const Napi::Object o = GetOptions(info, idx);
  TokenDims d;
  d.B = GetIntProp(o, "B", 0, kMaxDim);
  d.N = GetIntProp(o, "N", 0, kMaxDim);
  d.D = GetIntProp(o, "D", 0, kMaxDim);
  d.K = GetIntProp(o, "K", 0, kMaxDim);
  if (with_shared) d.shared = GetBoolProp(o, "xShared");
  CheckedMul(info.Env(), {d.B, d.N, d.D}, "x");
  CheckedMul(info.Env(), {d.B, d.K, d.D}, "out");
  return d;
}

namespace {

const int32_t* I32(const ArrayArg& a) { return static_cast<const int32_t*>(a.data); }

// Arguments 0..2 of every token binding: the float array `name` of length `len`, idx [B, K] and
// the optional lengths [B].
struct IdxArgs {
  ArrayArg x, idx, len;
};
template <class Sizes>
IdxArgs ReadIdxArgs(const Napi::CallbackInfo& info, const char* name, int64_t len, const Sizes& d) {
  IdxArgs a;
  a.x = GetArray(info, 0, name, {DType::kFloat32, DType::kFloat64}, len);
  a.idx = GetArray(info, 1, "idx", {DType::kInt32}, d.B * d.K);
  a.len = GetOptionalArray(info, 2, "lengths", {DType::kInt32}, d.B);
  return a;
}

// Outputs are written while the inputs are still read (rows in any order, several threads), so an
// output whose bytes overlap an input's (or an earlier output's) would read back its own writes:
// rejected here too, for callers that bypass lib/kernels.
void CheckNoOverlap(Napi::Env env, const char* name, const ArrayArg& out,
                    std::initializer_list<std::pair<const char*, const ArrayArg*>> others) {
  if (!out.data || out.length == 0) return;
  const uintptr_t o0 = reinterpret_cast<uintptr_t>(out.data);
  const uintptr_t o1 = o0 + static_cast<uintptr_t>(out.length * dtype_size(out.dtype));
  for (const auto& [what, a] : others) {
    if (!a->data || a->length == 0) continue;
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(a->data);
    const uintptr_t a1 = a0 + static_cast<uintptr_t>(a->length * dtype_size(a->dtype));
    if (a0 < o1 && o0 < a1)
      ThrowRange(env, std::string("an output that does not overlap ") + what, name,
                 std::string("an array overlapping ") + what);
  }
}
}  // namespace

static Napi::Value TokensGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TokenDims d = ReadTokenDims(info, 5, true);
  const bool shared = d.shared;
  const IdxArgs a = ReadIdxArgs(info, "x", shared ? d.N * d.D : d.B * d.N * d.D, d);
  const ArrayArg &x = a.x, &idx = a.idx, &len = a.len;
  ArrayArg pos = GetOptionalArray(info, 3, "pos", {x.dtype}, d.N * d.D);
  ArrayArg out = GetArray(info, 4, "out", {x.dtype}, d.B * d.K * d.D);
  CheckNoOverlap(env, "out", out, {{"x", &x}, {"idx", &idx}, {"lengths", &len}, {"pos", &pos}});
  TokenGatherParams p;
  p.dtype = x.dtype; p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K; p.x_shared = shared;
  p.x = x.data; p.pos = pos.data; p.idx = I32(idx); p.lengths = I32(len); p.out = out.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(tokens_gather)(p); });
}

static Napi::Value TokensGatherAsync(const Napi::CallbackInfo& info) {
  TokenDims d = ReadTokenDims(info, 4, true);
  const bool shared = d.shared;
  const IdxArgs a = ReadIdxArgs(info, "x", shared ? d.N * d.D : d.B * d.N * d.D, d);
  const ArrayArg &x = a.x, &idx = a.idx, &len = a.len;
  ArrayArg pos = GetOptionalArray(info, 3, "pos", {x.dtype}, d.N * d.D);
  auto cx = CopyArray(x), ci = CopyArray(idx);
  auto cl = len.data ? CopyArray(len) : nullptr;
  auto cp = pos.data ? CopyArray(pos) : nullptr;
  auto out = NewOwned(x.dtype, d.B * d.K * d.D);
  return RunAsync(
      info.Env(),
      [=]() {
        TokenGatherParams p;
        p.dtype = cx->dtype; p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K; p.x_shared = shared;
        p.x = cx->bytes.data(); p.pos = cp ? cp->bytes.data() : nullptr;
        p.idx = ci->ptr<int32_t>(); p.lengths = cl ? cl->ptr<int32_t>() : nullptr;
        p.out = out->bytes.data();
        return SELFSUP_DISPATCH(tokens_gather)(p);
      },
      [out](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("out", ToJsArray(e, *out));
        return r;
      });
}

static Napi::Value TokensGatherBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TokenDims d = ReadTokenDims(info, 5, true);
  const bool shared = d.shared;
  const IdxArgs a = ReadIdxArgs(info, "grad", d.B * d.K * d.D, d);
  const ArrayArg &g = a.x, &idx = a.idx, &len = a.len;
  ArrayArg dx = GetOptionalArray(info, 3, "dx", {g.dtype}, shared ? d.N * d.D : d.B * d.N * d.D);
  ArrayArg dpos = GetOptionalArray(info, 4, "dpos", {g.dtype}, d.N * d.D);
  CheckNoOverlap(env, "dx", dx, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}});
  CheckNoOverlap(env, "dpos", dpos, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}, {"dx", &dx}});
  TokenGatherBackwardParams p;
  p.dtype = g.dtype; p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K; p.x_shared = shared;
  p.grad = g.data; p.idx = I32(idx); p.lengths = I32(len); p.dx = dx.data; p.dpos = dpos.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(tokens_gather_backward)(p); });
}

static Napi::Value TokensScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TokenDims d = ReadTokenDims(info, 5, false);
  const IdxArgs a = ReadIdxArgs(info, "src", d.B * d.K * d.D, d);
  const ArrayArg &src = a.x, &idx = a.idx, &len = a.len;
  ArrayArg fill = GetOptionalArray(info, 3, "fill", {src.dtype}, d.D);
  ArrayArg out = GetArray(info, 4, "out", {src.dtype}, d.B * d.N * d.D);
  CheckNoOverlap(env, "out", out, {{"src", &src}, {"idx", &idx}, {"lengths", &len}, {"fill", &fill}});
  TokenScatterParams p;
  p.dtype = src.dtype; p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K;
  p.src = src.data; p.idx = I32(idx); p.lengths = I32(len); p.fill = fill.data; p.out = out.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(tokens_scatter)(p); });
}

static Napi::Value TokensScatterBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TokenDims d = ReadTokenDims(info, 5, false);
  const IdxArgs a = ReadIdxArgs(info, "grad", d.B * d.N * d.D, d);
  const ArrayArg &g = a.x, &idx = a.idx, &len = a.len;
  ArrayArg dsrc = GetOptionalArray(info, 3, "dsrc", {g.dtype}, d.B * d.K * d.D);
  ArrayArg dfill = GetOptionalArray(info, 4, "dfill", {g.dtype}, d.D);
  CheckNoOverlap(env, "dsrc", dsrc, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}});
  CheckNoOverlap(env, "dfill", dfill, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}, {"dsrc", &dsrc}});
  TokenScatterBackwardParams p;
  p.dtype = g.dtype; p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K;
  p.grad = g.data; p.idx = I32(idx); p.lengths = I32(len); p.dsrc = dsrc.data; p.dfill = dfill.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(tokens_scatter_backward)(p); });
}

StoPDims ReadStoPDims(const Napi::CallbackInfo& info, size_t idx) {
  const Napi::Object o = GetOptions(info, idx);
  StoPDims s;
  s.B = GetIntProp(o, "B", 0, kMaxTokenBatch);
  s.N = GetIntProp(o, "N", 0, kMaxDim);
  s.Dp = GetIntProp(o, "Dp", 0, kMaxDim);
  s.K = GetIntProp(o, "K", 0, kMaxDim);
  s.Din = GetIntProp(o, "Din", 0, kMaxDim);
  s.std = GetDoubleProp(o, "std");
  if (s.std < 0) ThrowRange(info.Env(), "a number >= 0", "std", std::to_string(s.std));
  s.seed = static_cast<uint64_t>(GetIntProp(o, "seed", 0, kMaxSeed));
  CheckedMul(info.Env(), {s.B, s.K, s.Dp}, "out");
  CheckedMul(info.Env(), {s.B, s.K, s.Din}, "noise");
  CheckedMul(info.Env(), {s.Dp, s.Din}, "weight");
  return s;
}

static Napi::Value StochasticPositions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoPDims s = ReadStoPDims(info, 7);
  const IdxArgs a = ReadIdxArgs(info, "pos", s.N * s.Dp, s);
  const ArrayArg &pos = a.x, &idx = a.idx, &len = a.len;
  ArrayArg w = GetArray(info, 3, "weight", {pos.dtype}, s.Dp * s.Din);
  ArrayArg bias = GetOptionalArray(info, 4, "bias", {pos.dtype}, s.Dp);
  ArrayArg out = GetArray(info, 5, "out", {pos.dtype}, s.B * s.K * s.Dp);
  ArrayArg noise = GetOptionalArray(info, 6, "noise", {pos.dtype}, s.B * s.K * s.Din);
  CheckNoOverlap(env, "out", out, {{"pos", &pos}, {"idx", &idx}, {"lengths", &len}, {"weight", &w}, {"bias", &bias}});
  CheckNoOverlap(env, "noise", noise, {{"pos", &pos}, {"idx", &idx}, {"lengths", &len}, {"weight", &w}, {"bias", &bias}, {"out", &out}});
  StochasticPositionsParams p;
  p.dtype = pos.dtype; p.B = s.B; p.N = s.N; p.Dp = s.Dp; p.K = s.K; p.Din = s.Din;
  p.pos = pos.data; p.idx = I32(idx); p.lengths = I32(len); p.weight = w.data; p.bias = bias.data;
  p.std = s.std; p.seed = s.seed; p.out = out.data; p.noise = noise.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(stochastic_positions)(p); });
}

static Napi::Value StochasticPositionsBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoPDims s = ReadStoPDims(info, 7);
  const IdxArgs a = ReadIdxArgs(info, "grad", s.B * s.K * s.Dp, s);
  const ArrayArg &g = a.x, &idx = a.idx, &len = a.len;
  ArrayArg noise = GetOptionalArray(info, 3, "noise", {g.dtype}, s.B * s.K * s.Din);
  ArrayArg dpos = GetOptionalArray(info, 4, "dpos", {g.dtype}, s.N * s.Dp);
  ArrayArg dw = GetOptionalArray(info, 5, "dweight", {g.dtype}, s.Dp * s.Din);
  ArrayArg db = GetOptionalArray(info, 6, "dbias", {g.dtype}, s.Dp);
  CheckNoOverlap(env, "dpos", dpos, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}, {"noise", &noise}});
  CheckNoOverlap(env, "dweight", dw, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}, {"noise", &noise}, {"dpos", &dpos}});
  CheckNoOverlap(env, "dbias", db, {{"grad", &g}, {"idx", &idx}, {"lengths", &len}, {"noise", &noise}, {"dpos", &dpos}, {"dweight", &dw}});
  StochasticPositionsBackwardParams p;
  p.dtype = g.dtype; p.B = s.B; p.N = s.N; p.Dp = s.Dp; p.K = s.K; p.Din = s.Din;
  p.grad = g.data; p.idx = I32(idx); p.lengths = I32(len); p.noise = noise.data;
  p.std = s.std; p.seed = s.seed; p.dpos = dpos.data; p.dweight = dw.data; p.dbias = db.data;
  return RunNow(env, [&] { return SELFSUP_DISPATCH(stochastic_positions_backward)(p); });
}

static Napi::Value MaskRandom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = GetOptions(info, 3);
  const int64_t B = GetIntProp(o, "B", 0, kMaxTokenBatch);
  const int64_t N = GetIntProp(o, "N", 0, int64_t(1) << 31);
  const int64_t K = GetIntProp(o, "keepCount", 0, N);
  const uint64_t seed = static_cast<uint64_t>(GetIntProp(o, "seed", 0, kMaxSeed));
  CheckedMul(env, {B, N}, "restore");
  ArrayArg keep = GetArray(info, 0, "keep", {DType::kInt32}, B * K);
  ArrayArg masked = GetArray(info, 1, "masked", {DType::kInt32}, B * (N - K));
  ArrayArg restore = GetArray(info, 2, "restore", {DType::kInt32}, B * N);
  CheckNoOverlap(env, "masked", masked, {{"keep", &keep}});
  CheckNoOverlap(env, "restore", restore, {{"keep", &keep}, {"masked", &masked}});
  Guard(env, [&] {
    ThrowIfError(env, mask_random(B, N, K, seed, static_cast<int32_t*>(keep.data),
                                  static_cast<int32_t*>(masked.data), static_cast<int32_t*>(restore.data)));
  });
  return env.Undefined();
}

namespace {
// The options object of maskMultiBlock (argument 0).
MultiBlockParams ReadMultiBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = GetOptions(info, 0);
  MultiBlockParams p;
  p.H = GetIntProp(o, "H", 1, 1 << 15);
  p.W = GetIntProp(o, "W", 1, 1 << 15);
  p.B = GetIntProp(o, "B", 0, kMaxTokenBatch);
  p.seed = static_cast<uint64_t>(GetIntProp(o, "seed", 0, kMaxSeed));
  const char* names[6] = {"encScale[0]", "encScale[1]", "predScale[0]", "predScale[1]",
                          "aspectRatio[0]", "aspectRatio[1]"};
  double* dst[6] = {&p.enc_scale[0], &p.enc_scale[1], &p.pred_scale[0], &p.pred_scale[1],
                    &p.aspect[0], &p.aspect[1]};
  for (int i = 0; i < 6; ++i) {
    const std::string key(names[i], std::strchr(names[i], '['));
    Napi::Value pair = o.Get(key);
    if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2)
      ThrowType(env, "an Array of 2 numbers", key, Describe(pair));
    *dst[i] = ToDouble(env, pair.As<Napi::Array>().Get(uint32_t(i % 2)), names[i]);
    const bool ok = i < 4 ? (*dst[i] > 0 && *dst[i] <= 1) : (*dst[i] > 0 && *dst[i] < 1e6);
    if (!ok) ThrowRange(env, i < 4 ? "a number in (0, 1]" : "a positive number", names[i], std::to_string(*dst[i]));
  }
  if (p.enc_scale[0] > p.enc_scale[1]) ThrowRange(env, "encScale[0] <= encScale[1]", "encScale", "a decreasing range");
  if (p.pred_scale[0] > p.pred_scale[1]) ThrowRange(env, "predScale[0] <= predScale[1]", "predScale", "a decreasing range");
  if (p.aspect[0] > p.aspect[1]) ThrowRange(env, "aspectRatio[0] <= aspectRatio[1]", "aspectRatio", "a decreasing range");
  p.n_enc = GetIntProp(o, "nEnc", 0, 1024);
  p.n_pred = GetIntProp(o, "nPred", 0, 1024);
  p.min_keep = GetIntProp(o, "minKeep", 0, int64_t(1) << 30);
  p.allow_overlap = GetBoolProp(o, "allowOverlap");
  p.ragged = GetBoolProp(o, "ragged");
  CheckedMul(env, {p.B, p.H, p.W, p.n_enc + p.n_pred}, "masks");
  return p;
}

Napi::Int32Array ToInt32(Napi::Env env, const std::vector<int32_t>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(int32_t));
  return a;
}

Napi::Object MultiBlockToJs(Napi::Env env, const MultiBlockResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kc", Napi::Number::New(env, static_cast<double>(r.kc)));
  o.Set("kt", Napi::Number::New(env, static_cast<double>(r.kt)));
  o.Set("context", ToInt32(env, r.context));
  o.Set("targets", ToInt32(env, r.targets));
  o.Set("contextLengths", ToInt32(env, r.context_len));
  o.Set("targetLengths", ToInt32(env, r.target_len));
  o.Set("relaxed", ToInt32(env, r.relaxed));
  o.Set("predBlock", ToInt32(env, {r.pred_block[0], r.pred_block[1]}));
  o.Set("encBlock", ToInt32(env, {r.enc_block[0], r.enc_block[1]}));
  return o;
}
}  // namespace

static Napi::Value MaskMultiBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MultiBlockParams p = ReadMultiBlock(info);
  MultiBlockResult r;
  Guard(env, [&] { ThrowIfError(env, mask_multi_block(p, &r)); });
  return MultiBlockToJs(env, r);
}

static Napi::Value MaskMultiBlockAsync(const Napi::CallbackInfo& info) {
  MultiBlockParams p = ReadMultiBlock(info);
  auto r = std::make_shared<MultiBlockResult>();
  return RunAsync(
      info.Env(), [p, r]() { return mask_multi_block(p, r.get()); },
      [r](Napi::Env e) -> Napi::Value { return MultiBlockToJs(e, *r); });
}

void RegisterTokens(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"tokensGather", TokensGather}, {"tokensGatherAsync", TokensGatherAsync},
                           {"tokensGatherBackward", TokensGatherBackward},
                           {"tokensScatter", TokensScatter},
                           {"tokensScatterBackward", TokensScatterBackward},
                           {"stochasticPositions", StochasticPositions},
                           {"stochasticPositionsBackward", StochasticPositionsBackward},
                           {"maskRandom", MaskRandom}, {"maskMultiBlock", MaskMultiBlock},
                           {"maskMultiBlockAsync", MaskMultiBlockAsync}});
}

}  // namespace napi
}  // namespace selfsup
