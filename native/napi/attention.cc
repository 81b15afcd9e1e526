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
//   opts = { B, H, Hk, Nq, Nk, d, scale, causal, maskArray?, maskStrides: [4], dropout, seed,
//            qLayout?, kLayout?, vLayout?, oLayout? }
// lseLo (optional) is the low part of lse, written by the forward and read by the backward.
// A layout [offset, sb, sh, sr] (elements) places q / k / v / out (and dq / dk / dv / dout with
// them) inside a larger array: row i of head h of batch b starts at offset + b sb + h sh + i sr,
// its d elements contiguous. Self-attention over a packed qkv projection [B, N, 3, H, d] passes
// the same array as q, k and v (and as dq, dk, dv: the three parts tile it), and an out in
// [B, N, H, d] order: no split or merge copies. Without a layout, the contiguous shapes above.
#include <string>
#include <type_traits>

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

// Where q, k, v and out (and their gradients) start in their arrays.
struct Offsets {
  int64_t q = 0, k = 0, v = 0, o = 0;
};

// opts[key] = [offset, sb, sh, sr] when present: the strides go into p, the offset is returned.
int64_t ReadLayout(const Napi::Object& o, const char* key, int64_t& sb, int64_t& sh, int64_t& sr) {
  if (!HasProp(o, key)) return 0;
  const std::vector<int64_t> l = GetIntsProp(o, key, 4, 0, int64_t(1) << 40);
  sb = l[1]; sh = l[2]; sr = l[3];
  return l[0];
}

// The elements an array needs to hold rows [B, heads, N] of d elements at these strides.
int64_t Extent(int64_t off, int64_t B, int64_t heads, int64_t N, int64_t d, int64_t sb, int64_t sh, int64_t sr) {
  if (B == 0 || N == 0) return off;
  return off + (B - 1) * sb + (heads - 1) * sh + (N - 1) * sr + d;
}

Offsets ReadLayouts(const Napi::Object& o, AttentionParams& p) {
  Offsets f;
  f.q = ReadLayout(o, "qLayout", p.q_sb, p.q_sh, p.q_sr);
  f.k = ReadLayout(o, "kLayout", p.k_sb, p.k_sh, p.k_sr);
  f.v = ReadLayout(o, "vLayout", p.v_sb, p.v_sh, p.v_sr);
  f.o = ReadLayout(o, "oLayout", p.o_sb, p.o_sh, p.o_sr);
  // Rows must not overlap within a head: the kernel reads and writes d contiguous elements each.
  const struct { const char* name; int64_t sr; } rows[] = {
      {"qLayout", p.q_sr}, {"kLayout", p.k_sr}, {"vLayout", p.v_sr}, {"oLayout", p.o_sr}};
  for (const auto& r : rows)
    if (r.sr < p.d) ThrowRange(o.Env(), "a row stride >= d = " + std::to_string(p.d), r.name, std::to_string(r.sr));
  return f;
}

int64_t QExt(const AttentionParams& p, int64_t off) { return Extent(off, p.B, p.H, p.Nq, p.d, p.q_sb, p.q_sh, p.q_sr); }
int64_t KExt(const AttentionParams& p, int64_t off) { return Extent(off, p.B, p.Hk, p.Nk, p.d, p.k_sb, p.k_sh, p.k_sr); }
int64_t VExt(const AttentionParams& p, int64_t off) { return Extent(off, p.B, p.Hk, p.Nk, p.d, p.v_sb, p.v_sh, p.v_sr); }
int64_t OExt(const AttentionParams& p, int64_t off) { return Extent(off, p.B, p.H, p.Nq, p.d, p.o_sb, p.o_sh, p.o_sr); }

// Element `off` of a kernel pointer (nullptr stays nullptr).
template <typename P>
P* At(P* base, int64_t off, DType dt) {
  if (base == nullptr) return nullptr;
  using Byte = std::conditional_t<std::is_const_v<P>, const char, char>;
  return reinterpret_cast<P*>(reinterpret_cast<Byte*>(base) + off * (dt == DType::kFloat64 ? 8 : 4));
}

// Input idx covering `need` elements: an exact length when the layout is the contiguous one
// (need is then its length), at least `need` otherwise.
ArrayArg LaidOutArg(Call& c, size_t idx, const char* name, DType dt, int64_t need, bool laid_out) {
  if (!laid_out) return c.Arg(idx, name, {dt}, need);
  ArrayArg a = c.Arg(idx, name, {dt});
  if (a.length < need)
    ThrowRange(c.Env(), "an array of at least " + std::to_string(need) + " elements (its layout's extent)", name,
               "length " + std::to_string(a.length));
  return a;
}

// Output k covering `need` elements (sync: the caller's array, at least that long; async: new).
void* LaidOutOut(Call& c, size_t n_in, size_t k, const char* name, DType dt, int64_t need, bool laid_out) {
  if (!laid_out || c.async()) return c.Out(k, name, dt, need);
  const ArrayArg a = LaidOutArg(c, n_in + k, name, dt, need, true);
  return c.Out(k, name, dt, a.length);
}

int64_t LseLen(const AttentionParams& p) { return p.B * p.H * p.Nq; }

// The optional mask of opts: host arrays here (cuda_fused.cc reads device ones).
void ReadMask(Call& c, const Napi::Object& o, AttentionParams& p) {
  ArrayArg mask = GetOptionalArrayProp(o, "maskArray", {DType::kBool, p.dtype});
  ReadAttentionMask(o, p, mask, !mask.array.IsEmpty());
  if (!mask.array.IsEmpty()) p.mask = c.In(mask);
}

// q's dtype, then opts (sizes, layouts and mask), then q, k, v checked against them.
struct QKV {
  AttentionParams p;
  Offsets off;
  bool laid_out;
};
QKV ReadQKV(Call& c) {
  const ArrayArg q0 = c.Arg(0, "q", {DType::kFloat32, DType::kFloat64});
  const Napi::Object o = c.Options();
  QKV r{ReadAttentionSizes(o, q0.dtype), {}, false};
  AttentionParams& p = r.p;
  r.laid_out = HasProp(o, "qLayout") || HasProp(o, "kLayout") || HasProp(o, "vLayout") || HasProp(o, "oLayout");
  if (r.laid_out) r.off = ReadLayouts(o, p);
  p.q = At(c.In(LaidOutArg(c, 0, "q", p.dtype, QExt(p, r.off.q), r.laid_out)), r.off.q, p.dtype);
  p.k = At(c.In(LaidOutArg(c, 1, "k", p.dtype, KExt(p, r.off.k), r.laid_out)), r.off.k, p.dtype);
  p.v = At(c.In(LaidOutArg(c, 2, "v", p.dtype, VExt(p, r.off.v), r.laid_out)), r.off.v, p.dtype);
  ReadMask(c, o, p);
  return r;
}

Napi::Value Forward(Call& c) {
  QKV r = ReadQKV(c);
  AttentionParams& p = r.p;
  p.out = At(LaidOutOut(c, 3, 0, "out", p.dtype, OExt(p, r.off.o), r.laid_out), r.off.o, p.dtype);
  p.lse = c.Out(1, "lse", p.dtype, LseLen(p));
  p.lse_lo = c.OptionalOut(2, "lseLo", p.dtype, LseLen(p), c.async());
  return c.Run([p] { return SELFSUP_DISPATCH(attention_forward)(p); });
}

Napi::Value Backward(Call& c) {
  QKV r = ReadQKV(c);
  AttentionParams& p = r.p;
  const Offsets& f = r.off;
  p.out = At(c.In(LaidOutArg(c, 3, "out", p.dtype, OExt(p, f.o), r.laid_out)), f.o, p.dtype);
  p.lse = c.In(c.Arg(4, "lse", {p.dtype}, LseLen(p)));
  p.dout = At(c.In(LaidOutArg(c, 5, "dout", p.dtype, OExt(p, f.o), r.laid_out)), f.o, p.dtype);
  p.dlse = c.In(c.Optional(6, "dlse", {p.dtype}, LseLen(p)));
  p.lse_lo = c.In(c.Optional(7, "lseLo", {p.dtype}, LseLen(p)));
  p.dq = At(LaidOutOut(c, 8, 0, "dq", p.dtype, QExt(p, f.q), r.laid_out), f.q, p.dtype);
  p.dk = At(LaidOutOut(c, 8, 1, "dk", p.dtype, KExt(p, f.k), r.laid_out), f.k, p.dtype);
  p.dv = At(LaidOutOut(c, 8, 2, "dv", p.dtype, VExt(p, f.v), r.laid_out), f.v, p.dtype);
  return c.Run([p] { return SELFSUP_DISPATCH(attention_backward)(p); });
}
}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Pair<Forward, 3, 3>("attention"), Pair<Backward, 8, 3>("attentionBackward")});
}

}  // namespace napi
}  // namespace selfsup
