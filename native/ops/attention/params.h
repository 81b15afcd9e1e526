// Fused scaled-dot-product attention: the kernel ABI (one params struct, filled in one place:
// native/napi/attention.cc) and the per-ISA kernel declarations.
//
//   logits[b,h,i,j] = scale * <q[b,h,i,:], k[b,h/G,j,:]> + mask(b,h,i,j)      (G = H / Hk)
//   lse[b,h,i]      = log sum_j exp(logits[b,h,i,j])
//   out[b,h,i,:]    = sum_j dropout(exp(logits - lse))[i,j] * v[b,h/G,j,:]
//
// Same function as PyTorch's scaled_dot_product_attention; lse is what FlashAttention-2 returns.
// Rows whose keys are all masked give out = 0, lse = -inf and zero gradients (not NaN).
#pragma once
#include <cstdint>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

enum class AttnMaskKind : int32_t { kNone = 0, kBool = 1, kAdditive = 2 };

// Philox stream of the attention dropout keep-mask (selfsup/philox.h). The keep decision of
// (b, h, i, j) is uniform(seed, stream, ((b*H + h)*Nq + i)*Nk + j) >= dropout: the stream and the
// offsets of F.dropout (lib/factories.ts STREAM_DROPOUT) on the [B, H, Nq, Nk] probabilities, so
// the fused op drops exactly what F.dropout(softmax(logits), p, { seed }) drops.
constexpr uint32_t kAttentionDropoutStream = 2;

struct AttentionParams {
  DType dtype = DType::kFloat32;  // float32 or float64; every float tensor has this type
  int64_t B = 0, H = 0, Hk = 0, Nq = 0, Nk = 0, d = 0;

  // Element strides (batch, head, row); the last dim (d) is contiguous.
  const void* q = nullptr;
  int64_t q_sb = 0, q_sh = 0, q_sr = 0;
  const void* k = nullptr;
  int64_t k_sb = 0, k_sh = 0, k_sr = 0;
  const void* v = nullptr;
  int64_t v_sb = 0, v_sh = 0, v_sr = 0;
  // Forward output / saved for backward: out [B,H,Nq,d] (strides o_*), lse [B,H,Nq] contiguous.
  void* out = nullptr;
  int64_t o_sb = 0, o_sh = 0, o_sr = 0;
  void* lse = nullptr;
  // Optional [B,H,Nq]: lse's rounding residual (the exact lse minus the stored one). Forward
  // writes it when non-null, backward adds it when non-null: a float32 lse alone carries an
  // absolute error of half an ulp of |lse| into every recomputed probability of its row.
  void* lse_lo = nullptr;

  double scale = 1.0;
  bool causal = false;  // bottom-right aligned: key j is visible to query i iff j <= i + Nk - Nq

  // Mask element (b,h,i,j) at mask[b*m_sb + h*m_sh + i*m_sq + j*m_sk] (strides >= 0; 0 = broadcast).
  // kBool: uint8, nonzero = attend. kAdditive: dtype, added to the logits.
  AttnMaskKind mask_kind = AttnMaskKind::kNone;
  const void* mask = nullptr;
  int64_t m_sb = 0, m_sh = 0, m_sq = 0, m_sk = 0;

  double dropout = 0.0;  // in [0, 1)
  uint64_t seed = 0;

  // Backward only. dout has out's strides; dlse (optional, contiguous [B,H,Nq]) is the gradient
  // of lse when the caller used it. dq/dk/dv have q/k/v's strides and are overwritten.
  const void* dout = nullptr;
  const void* dlse = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
};

// Checks shapes, strides and options (the napi layer checks buffer lengths).
Status attention_validate(const AttentionParams& p, bool backward);

}  // namespace selfsup

SELFSUP_ISA_DECLARE(::selfsup::Status, attention_forward, (const ::selfsup::AttentionParams& p))
SELFSUP_ISA_DECLARE(::selfsup::Status, attention_backward, (const ::selfsup::AttentionParams& p))
