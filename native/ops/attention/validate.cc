// Shape/option checks for the attention kernels (compiled once; the kernels call it again so a
// caller that bypasses the napi layer still gets a Status instead of undefined behaviour).
#include <cmath>
#include <string>

#include "ops/attention/params.h"

namespace selfsup {

namespace {
std::string Msg(const std::string& expected, const std::string& name, const std::string& got) {
  return "Expected " + expected + " for " + name + " but received " + got;
}
}  // namespace

Status attention_validate(const AttentionParams& p, bool backward) {
  if (p.dtype != DType::kFloat32 && p.dtype != DType::kFloat64)
    return Status::Invalid(Msg("float32 or float64", "q", dtype_name(p.dtype)));
  const struct { const char* name; int64_t v; } dims[] = {
      {"B", p.B}, {"H", p.H}, {"Hk", p.Hk}, {"Nq", p.Nq}, {"Nk", p.Nk}, {"d", p.d}};
  for (const auto& x : dims)
    if (x.v < 0) return Status::OutOfRange(Msg("a non-negative size", x.name, std::to_string(x.v)));
  if (p.d < 1) return Status::OutOfRange(Msg("a head dim >= 1", "d", std::to_string(p.d)));
  if (p.H < 1 || p.Hk < 1 || p.H % p.Hk != 0)
    return Status::Invalid(Msg("a number of key/value heads that divides H = " + std::to_string(p.H),
                               "Hk", std::to_string(p.Hk)));
  if (!std::isfinite(p.scale))
    return Status::OutOfRange(Msg("a finite number", "scale", std::to_string(p.scale)));
  if (!(p.dropout >= 0.0 && p.dropout < 1.0))
    return Status::OutOfRange(Msg("a number >= 0 and < 1", "dropout", std::to_string(p.dropout)));
  const int64_t strides[] = {p.q_sb, p.q_sh, p.q_sr, p.k_sb, p.k_sh, p.k_sr, p.v_sb, p.v_sh,
                             p.v_sr, p.o_sb, p.o_sh, p.o_sr, p.m_sb, p.m_sh, p.m_sq, p.m_sk};
  for (int64_t s : strides)
    if (s < 0) return Status::OutOfRange(Msg("non-negative strides", "strides", std::to_string(s)));
  if (p.q_sr < p.d || p.k_sr < p.d || p.v_sr < p.d || p.o_sr < p.d)
    return Status::OutOfRange(Msg("row strides >= d", "strides", "a smaller row stride"));
  const bool empty = p.B == 0 || p.Nq == 0;
  if (!empty && (p.q == nullptr || p.out == nullptr || p.lse == nullptr))
    return Status::Invalid(Msg("non-null q, out and lse", "params", "a null pointer"));
  if (!empty && p.Nk > 0 && (p.k == nullptr || p.v == nullptr))
    return Status::Invalid(Msg("non-null k and v", "params", "a null pointer"));
  if (p.mask_kind != AttnMaskKind::kNone && p.mask == nullptr && !empty && p.Nk > 0)
    return Status::Invalid(Msg("a mask pointer", "mask", "null"));
  if (backward && !empty &&
      (p.dout == nullptr || p.dq == nullptr || (p.Nk > 0 && (p.dk == nullptr || p.dv == nullptr))))
    return Status::Invalid(Msg("non-null dout, dq, dk and dv", "params", "a null pointer"));
  return Status::Ok();
}

}  // namespace selfsup
