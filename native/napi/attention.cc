// attention / attentionBackward (+ their Async forms): the fused attention kernels
// (native/ops/attention). Contiguous tensors: q [B,H,Nq,d], k/v [B,Hk,Nk,d], out [B,H,Nq,d],
// lse and lseLo [B,H,Nq] (the inputs' float type). The mask is a typed array (Uint8Array: bool,
// nonzero = attend; the float type: additive) read at b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3].
//
//   attention(q, k, v, out, lse, lseLo|null, opts)                     -> undefined
//   attentionAsync(q, k, v, opts)                                      -> Promise<{out, lse, lseLo}>
//   attentionBackward(q, k, v, out, lse, dout, dlse|null, lseLo|null, dq, dk, dv, opts)
//   attentionBackwardAsync(q, k, v, out, lse, dout, dlse|null, lseLo|null, opts)
//                                                                      -> Promise<{dq, dk, dv}>
//   opts = { B, H, Hk, Nq, Nk, d, scale, causal, maskArray?, maskStrides: [4], dropout, seed }
// lseLo (optional) is the low part of lse, written by the forward and read by the backward.
#include <string>

#include "napi/convert.h"
#include "napi/fused_opts.h"
#include "napi/register.h"
#include "ops/attention/params.h"

namespace selfsup {
namespace napi {

// The sizes and scalars of opts, every range checked, and the contiguous strides.
AttentionParams ReadAttentionSizes(const Napi::Object& o, DType dt) {
  Napi::Env env = o.Env();
  const int64_t kMax = int64_t(1) << 40;
  AttentionParams p;
  p.dtype = dt;
  p.B = GetIntProp(o, "B", 0, kMax);
  p.H = GetIntProp(o, "H", 1, kMax);
  p.Hk = GetIntProp(o, "Hk", 1, kMax);
  p.Nq = GetIntProp(o, "Nq", 0, kMax);
  p.Nk = GetIntProp(o, "Nk", 0, kMax);
  p.d = GetIntProp(o, "d", 1, 1 << 16);
  if (p.H % p.Hk != 0)
    ThrowRange(env, "a number of key/value heads that divides H = " + std::to_string(p.H), "Hk",
               std::to_string(p.Hk));
  CheckedMul(env, {p.B, p.H, p.Nq, p.d}, "q");
  CheckedMul(env, {p.B, p.Hk, p.Nk, p.d}, "k");
  p.scale = GetDoubleProp(o, "scale");
  p.causal = GetBoolProp(o, "causal");
  p.dropout = GetDoubleProp(o, "dropout");
  if (!(p.dropout >= 0 && p.dropout < 1))
    ThrowRange(env, "a number >= 0 and < 1", "dropout", std::to_string(p.dropout));
  p.seed = static_cast<uint64_t>(GetIntProp(o, "seed", 0, (int64_t(1) << 53) - 1));
  p.q_sr = p.d; p.q_sh = p.Nq * p.d; p.q_sb = p.H * p.q_sh;
  p.o_sr = p.q_sr; p.o_sh = p.q_sh; p.o_sb = p.q_sb;
  p.k_sr = p.d; p.k_sh = p.Nk * p.d; p.k_sb = p.Hk * p.k_sh;
  p.v_sr = p.k_sr; p.v_sh = p.k_sh; p.v_sb = p.k_sb;
  return p;
}

// The mask's strides, and a check that every offset the kernel can read lies inside it (all
// strides are >= 0).
void ReadAttentionMask(const Napi::Object& o, AttentionParams& p, const ArrayArg& mask, bool present) {
  const std::vector<int64_t> ms = GetIntsProp(o, "maskStrides", 4, 0, int64_t(1) << 40);
  p.m_sb = ms[0]; p.m_sh = ms[1]; p.m_sq = ms[2]; p.m_sk = ms[3];
  if (!present) return;
  p.mask_kind = mask.dtype == DType::kBool ? AttnMaskKind::kBool : AttnMaskKind::kAdditive;
  if (p.B > 0 && p.Nq > 0 && p.Nk > 0) {
    const double last = double(p.B - 1) * p.m_sb + double(p.H - 1) * p.m_sh +
                        double(p.Nq - 1) * p.m_sq + double(p.Nk - 1) * p.m_sk;
    if (last >= double(mask.length))
      ThrowRange(o.Env(), "a mask covering offset " + std::to_string(int64_t(last)) +
                 " (strides of its broadcast to [B, H, Nq, Nk])", "mask",
                 "length " + std::to_string(mask.length));
  }
}

namespace {

int64_t QLen(const AttentionParams& p) { return p.B * p.H * p.Nq * p.d; }
int64_t KLen(const AttentionParams& p) { return p.B * p.Hk * p.Nk * p.d; }
int64_t LseLen(const AttentionParams& p) { return p.B * p.H * p.Nq; }

// The optional mask of opts: host arrays here (cuda_fused.cc reads device ones).
void ReadMask(Call& c, const Napi::Object& o, AttentionParams& p) {
  ArrayArg mask = GetOptionalArrayProp(o, "maskArray", {DType::kBool, p.dtype});
  ReadAttentionMask(o, p, mask, !mask.array.IsEmpty());
  if (!mask.array.IsEmpty()) p.mask = c.In(mask);
}

// q's dtype, then opts (sizes and mask), then q, k, v checked against the sizes.
AttentionParams ReadQKV(Call& c) {
  const ArrayArg q0 = c.Arg(0, "q", {DType::kFloat32, DType::kFloat64});
  const Napi::Object o = c.Options();
  AttentionParams p = ReadAttentionSizes(o, q0.dtype);
  p.q = c.In(c.Arg(0, "q", {p.dtype}, QLen(p)));
  p.k = c.In(c.Arg(1, "k", {p.dtype}, KLen(p)));
  p.v = c.In(c.Arg(2, "v", {p.dtype}, KLen(p)));
  ReadMask(c, o, p);
  return p;
}

Napi::Value Forward(Call& c) {
  AttentionParams p = ReadQKV(c);
  p.out = c.Out(0, "out", p.dtype, QLen(p));
  p.lse = c.Out(1, "lse", p.dtype, LseLen(p));
  p.lse_lo = c.OptionalOut(2, "lseLo", p.dtype, LseLen(p), c.async());
  return c.Run([p] { return SELFSUP_DISPATCH(attention_forward)(p); });
}

Napi::Value Backward(Call& c) {
  AttentionParams p = ReadQKV(c);
  p.out = c.In(c.Arg(3, "out", {p.dtype}, QLen(p)));
  p.lse = c.In(c.Arg(4, "lse", {p.dtype}, LseLen(p)));
  p.dout = c.In(c.Arg(5, "dout", {p.dtype}, QLen(p)));
  p.dlse = c.In(c.Optional(6, "dlse", {p.dtype}, LseLen(p)));
  p.lse_lo = c.In(c.Optional(7, "lseLo", {p.dtype}, LseLen(p)));
  p.dq = c.Out(0, "dq", p.dtype, QLen(p));
  p.dk = c.Out(1, "dk", p.dtype, KLen(p));
  p.dv = c.Out(2, "dv", p.dtype, KLen(p));
  return c.Run([p] { return SELFSUP_DISPATCH(attention_backward)(p); });
}
}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Pair<Forward, 3, 3>("attention"), Pair<Backward, 8, 3>("attentionBackward")});
}

}  // namespace napi
}  // namespace selfsup
