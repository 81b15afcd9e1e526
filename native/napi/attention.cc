// attention / attentionAsync / attentionBackward / attentionBackwardAsync: the fused attention
// kernels (native/ops/attention). Contiguous tensors: q [B,H,Nq,d], k/v [B,Hk,Nk,d],
// out [B,H,Nq,d], lse [B,H,Nq] (the inputs' float type). The mask is a typed array (Uint8Array:
// bool, nonzero = attend; the float type: additive) read at b*msb + h*msh + i*msq + j*msk.
//
//   attention(q, k, v, out, lse, ...opts)                             -> undefined (sync)
//   attentionAsync(q, k, v, ...opts)                                  -> Promise<{out, lse}>
//   attentionBackward(q, k, v, out, lse, dout, dlse|null, dq, dk, dv, ...opts)
//   attentionBackwardAsync(q, k, v, out, lse, dout, dlse|null, ...opts) -> Promise<{dq, dk, dv}>
//   opts = B, H, Hk, Nq, Nk, d, scale, causal, mask|null, msb, msh, msq, msk, dropout, seed,
//          lseLo|null (optional [B,H,Nq]: written by the sync forward, read by the backward;
//          attentionAsync always returns it as `lseLo`)
#include <string>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/attention/params.h"

namespace selfsup {
namespace napi {

namespace {

struct Opts {
  AttentionParams p;
  bool has_mask = false;
  ArrayArg mask;
};

// Reads opts starting at argument i0, checks every range and that the mask's reachable offsets
// lie inside it, and fills the contiguous strides. Buffer lengths are checked by the callers.
Opts ReadOpts(const Napi::CallbackInfo& info, size_t i0, DType dt) {
  Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 40;
  Opts o;
  AttentionParams& p = o.p;
  p.dtype = dt;
  p.B = GetInt(info, i0 + 0, "B", 0, kMax);
  p.H = GetInt(info, i0 + 1, "H", 1, kMax);
  p.Hk = GetInt(info, i0 + 2, "Hk", 1, kMax);
  p.Nq = GetInt(info, i0 + 3, "Nq", 0, kMax);
  p.Nk = GetInt(info, i0 + 4, "Nk", 0, kMax);
  p.d = GetInt(info, i0 + 5, "d", 1, 1 << 16);
  if (p.H % p.Hk != 0)
    ThrowRange(env, "a number of key/value heads that divides H = " + std::to_string(p.H), "Hk",
               std::to_string(p.Hk));
  CheckedMul(env, {p.B, p.H, p.Nq, p.d}, "q");
  CheckedMul(env, {p.B, p.Hk, p.Nk, p.d}, "k");
  p.scale = GetDouble(info, i0 + 6, "scale");
  p.causal = GetBool(info, i0 + 7, "causal");
  p.m_sb = GetInt(info, i0 + 9, "maskStrides[0]", 0, kMax);
  p.m_sh = GetInt(info, i0 + 10, "maskStrides[1]", 0, kMax);
  p.m_sq = GetInt(info, i0 + 11, "maskStrides[2]", 0, kMax);
  p.m_sk = GetInt(info, i0 + 12, "maskStrides[3]", 0, kMax);
  p.dropout = GetDouble(info, i0 + 13, "dropout");
  if (!(p.dropout >= 0 && p.dropout < 1))
    ThrowRange(env, "a number >= 0 and < 1", "dropout", std::to_string(p.dropout));
  p.seed = static_cast<uint64_t>(GetInt(info, i0 + 14, "seed", 0, (int64_t(1) << 53) - 1));
  if (!IsAbsent(info, i0 + 8)) {
    o.mask = GetArray(info, i0 + 8, "mask", {DType::kBool, dt});
    o.has_mask = true;
    p.mask = o.mask.data;
    p.mask_kind = o.mask.dtype == DType::kBool ? AttnMaskKind::kBool : AttnMaskKind::kAdditive;
    if (p.B > 0 && p.Nq > 0 && p.Nk > 0) {
      // Largest element offset the kernel can read (all strides are >= 0).
      const double last = double(p.B - 1) * p.m_sb + double(p.H - 1) * p.m_sh +
                          double(p.Nq - 1) * p.m_sq + double(p.Nk - 1) * p.m_sk;
      if (last >= double(o.mask.length))
        ThrowRange(env, "a mask covering offset " + std::to_string(int64_t(last)) +
                   " (strides of its broadcast to [B, H, Nq, Nk])", "mask",
                   "length " + std::to_string(o.mask.length));
    }
  }
  p.q_sr = p.d; p.q_sh = p.Nq * p.d; p.q_sb = p.H * p.q_sh;
  p.o_sr = p.q_sr; p.o_sh = p.q_sh; p.o_sb = p.q_sb;
  p.k_sr = p.d; p.k_sh = p.Nk * p.d; p.k_sb = p.Hk * p.k_sh;
  p.v_sr = p.k_sr; p.v_sh = p.k_sh; p.v_sb = p.k_sb;
  return o;
}

int64_t QLen(const AttentionParams& p) { return p.B * p.H * p.Nq * p.d; }
int64_t KLen(const AttentionParams& p) { return p.B * p.Hk * p.Nk * p.d; }
int64_t LseLen(const AttentionParams& p) { return p.B * p.H * p.Nq; }

// The optional lse residual at argument idx (null/undefined: none).
void* OptLseLo(const Napi::CallbackInfo& info, size_t idx, DType dt, const AttentionParams& p,
               ArrayArg* keep) {
  *keep = GetOptionalArray(info, idx, "lseLo", {dt}, LseLen(p));
  return keep->data;
}

// Copies the mask (when present) for an async call and points the params at the copy.
std::shared_ptr<OwnedArray> OwnMask(Opts& o) {
  if (!o.has_mask) return nullptr;
  auto m = CopyArray(o.mask);
  o.p.mask = m->bytes.data();
  return m;
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg q = GetArray(info, 0, "q", {DType::kFloat32, DType::kFloat64});
  Opts o = ReadOpts(info, 5, q.dtype);
  AttentionParams& p = o.p;
  GetArray(info, 0, "q", {q.dtype}, QLen(p));
  ArrayArg k = GetArray(info, 1, "k", {q.dtype}, KLen(p));
  ArrayArg v = GetArray(info, 2, "v", {q.dtype}, KLen(p));
  ArrayArg out = GetArray(info, 3, "out", {q.dtype}, QLen(p));
  ArrayArg lse = GetArray(info, 4, "lse", {q.dtype}, LseLen(p));
  p.q = q.data; p.k = k.data; p.v = v.data; p.out = out.data; p.lse = lse.data;
  ArrayArg lo;
  p.lse_lo = OptLseLo(info, 5 + 15, q.dtype, p, &lo);
  Guard(env, [&] { ThrowIfError(env, SELFSUP_DISPATCH(attention_forward)(p)); });
  return env.Undefined();
}

Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg q = GetArray(info, 0, "q", {DType::kFloat32, DType::kFloat64});
  Opts o = ReadOpts(info, 3, q.dtype);
  GetArray(info, 0, "q", {q.dtype}, QLen(o.p));
  ArrayArg k = GetArray(info, 1, "k", {q.dtype}, KLen(o.p));
  ArrayArg v = GetArray(info, 2, "v", {q.dtype}, KLen(o.p));
  auto cq = CopyArray(q), ck = CopyArray(k), cv = CopyArray(v), cm = OwnMask(o);
  auto out = NewOwned(q.dtype, QLen(o.p)), lse = NewOwned(q.dtype, LseLen(o.p)),
       lo = NewOwned(q.dtype, LseLen(o.p));
  AttentionParams p = o.p;
  p.q = cq->bytes.data(); p.k = ck->bytes.data(); p.v = cv->bytes.data();
  p.out = out->bytes.data(); p.lse = lse->bytes.data(); p.lse_lo = lo->bytes.data();
  return RunAsync(
      env, [p, cq, ck, cv, cm, out, lse, lo]() { return SELFSUP_DISPATCH(attention_forward)(p); },
      [out, lse, lo](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("out", ToJsArray(e, *out));
        r.Set("lse", ToJsArray(e, *lse));
        r.Set("lseLo", ToJsArray(e, *lo));
        return r;
      });
}

// Reads q, k, v, out, lse, dout, dlse (args 0..6) with their lengths checked against opts.
struct BwdInputs {
  ArrayArg q, k, v, out, lse, dout, dlse;
  bool has_dlse = false;
};
BwdInputs ReadBwdInputs(const Napi::CallbackInfo& info, const Opts& o, DType dt) {
  BwdInputs in;
  const AttentionParams& p = o.p;
  in.q = GetArray(info, 0, "q", {dt}, QLen(p));
  in.k = GetArray(info, 1, "k", {dt}, KLen(p));
  in.v = GetArray(info, 2, "v", {dt}, KLen(p));
  in.out = GetArray(info, 3, "out", {dt}, QLen(p));
  in.lse = GetArray(info, 4, "lse", {dt}, LseLen(p));
  in.dout = GetArray(info, 5, "dout", {dt}, QLen(p));
  in.dlse = GetOptionalArray(info, 6, "dlse", {dt}, LseLen(p));
  in.has_dlse = !IsAbsent(info, 6);
  return in;
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg q0 = GetArray(info, 0, "q", {DType::kFloat32, DType::kFloat64});
  Opts o = ReadOpts(info, 10, q0.dtype);
  AttentionParams& p = o.p;
  BwdInputs in = ReadBwdInputs(info, o, q0.dtype);
  ArrayArg dq = GetArray(info, 7, "dq", {q0.dtype}, QLen(p));
  ArrayArg dk = GetArray(info, 8, "dk", {q0.dtype}, KLen(p));
  ArrayArg dv = GetArray(info, 9, "dv", {q0.dtype}, KLen(p));
  p.q = in.q.data; p.k = in.k.data; p.v = in.v.data; p.out = in.out.data; p.lse = in.lse.data;
  p.dout = in.dout.data; p.dlse = in.has_dlse ? in.dlse.data : nullptr;
  p.dq = dq.data; p.dk = dk.data; p.dv = dv.data;
  ArrayArg lo;
  p.lse_lo = OptLseLo(info, 10 + 15, q0.dtype, p, &lo);
  Guard(env, [&] { ThrowIfError(env, SELFSUP_DISPATCH(attention_backward)(p)); });
  return env.Undefined();
}

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg q0 = GetArray(info, 0, "q", {DType::kFloat32, DType::kFloat64});
  Opts o = ReadOpts(info, 7, q0.dtype);
  BwdInputs in = ReadBwdInputs(info, o, q0.dtype);
  auto cq = CopyArray(in.q), ck = CopyArray(in.k), cv = CopyArray(in.v), co = CopyArray(in.out);
  auto cl = CopyArray(in.lse), cg = CopyArray(in.dout), cm = OwnMask(o);
  std::shared_ptr<OwnedArray> cgl = in.has_dlse ? CopyArray(in.dlse) : nullptr;
  ArrayArg lo;
  std::shared_ptr<OwnedArray> clo =
      OptLseLo(info, 7 + 15, q0.dtype, o.p, &lo) ? CopyArray(lo) : nullptr;
  auto dq = NewOwned(q0.dtype, QLen(o.p)), dk = NewOwned(q0.dtype, KLen(o.p)),
       dv = NewOwned(q0.dtype, KLen(o.p));
  AttentionParams p = o.p;
  p.q = cq->bytes.data(); p.k = ck->bytes.data(); p.v = cv->bytes.data();
  p.out = co->bytes.data(); p.lse = cl->bytes.data(); p.dout = cg->bytes.data();
  p.dlse = cgl ? cgl->bytes.data() : nullptr;
  p.lse_lo = clo ? clo->bytes.data() : nullptr;
  p.dq = dq->bytes.data(); p.dk = dk->bytes.data(); p.dv = dv->bytes.data();
  return RunAsync(
      env,
      [p, cq, ck, cv, co, cl, cg, cm, cgl, clo, dq, dk, dv]() {
        return SELFSUP_DISPATCH(attention_backward)(p);
      },
      [dq, dk, dv](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("dq", ToJsArray(e, *dq));
        r.Set("dk", ToJsArray(e, *dk));
        r.Set("dv", ToJsArray(e, *dv));
        return r;
      });
}
}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "attention", Forward);
  Export(env, exports, "attentionAsync", ForwardAsync);
  Export(env, exports, "attentionBackward", Backward);
  Export(env, exports, "attentionBackwardAsync", BackwardAsync);
}

}  // namespace napi
}  // namespace selfsup
