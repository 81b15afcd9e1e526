// Masked-token data path (I-JEPA, MAE, FlexPredict/StoP): index masks, token gather/scatter, and
// stochastic positions. Kernel ABI: one params struct per kernel, contiguous row-major buffers,
// explicit sizes. Index buffers are int32 (never an int64 [B, K, D] expansion as torch.gather
// needs): gather reads the K selected rows once and writes them once.
//
// Ragged index sets: when `lengths` is non-null, positions k >= lengths[b] of row b are padding;
// they are never read, their outputs are zero and they contribute no gradient.
//
// Philox streams (stream word of the counter; the high byte is a domain so one seed can drive
// masks and noise without correlated draws):
//   random mask, sample b:        stream (1 << 24) | b,        word offset = token index
//   multi-block sizes (batch):    stream (2 << 24),            words 0 (targets), 1 (context)
//   multi-block corners, sample b: stream (2 << 24) | (b + 1), words consumed in order
//   StoP noise, sample b:         stream (3 << 24) | b,        normal offset = k * Din + i
#pragma once
#include <cstdint>
#include <vector>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

constexpr uint32_t kStreamRandomMask = 1u << 24;
constexpr uint32_t kStreamMultiBlock = 2u << 24;
constexpr uint32_t kStreamStoP = 3u << 24;
constexpr int64_t kMaxTokenBatch = (int64_t(1) << 24) - 2;  // b (+1) must fit the stream's low bits

// out[b, k, :] = x[b, idx[b, k], :] (+ pos[idx[b, k], :]). With x_shared, x is [N, D] (one table
// for every batch row, e.g. position embeddings) instead of [B, N, D].
struct TokenGatherParams {
  DType dtype = DType::kFloat32;  // float32 | float64 (every float buffer has this dtype)
  int64_t B = 0, N = 0, D = 0, K = 0;
  bool x_shared = false;
  const void* x = nullptr;
  const void* pos = nullptr;          // [N, D] or null
  const int32_t* idx = nullptr;       // [B, K]
  const int32_t* lengths = nullptr;   // [B] or null
  void* out = nullptr;                // [B, K, D]
};

// Gather backward (scatter-add): dx[b, idx[b, k], :] += grad[b, k, :] (dx is [N, D] summed over b
// when x_shared), dpos[idx[b, k], :] += grad[b, k, :]. Outputs are overwritten, not accumulated.
struct TokenGatherBackwardParams {
  DType dtype = DType::kFloat32;
  int64_t B = 0, N = 0, D = 0, K = 0;
  bool x_shared = false;
  const void* grad = nullptr;         // [B, K, D]
  const int32_t* idx = nullptr;
  const int32_t* lengths = nullptr;
  void* dx = nullptr;                 // [B, N, D] ([N, D] when x_shared) or null
  void* dpos = nullptr;               // [N, D] or null
};

// Scatter (the inverse of gather): out[b, idx[b, k], :] = src[b, k, :]; every other row of out is
// `fill` (a [D] mask token) or zero. Indices must be unique within a row.
struct TokenScatterParams {
  DType dtype = DType::kFloat32;
  int64_t B = 0, N = 0, D = 0, K = 0;
  const void* src = nullptr;          // [B, K, D]
  const int32_t* idx = nullptr;
  const int32_t* lengths = nullptr;
  const void* fill = nullptr;         // [D] or null (zeros)
  void* out = nullptr;                // [B, N, D]
};

// Scatter backward: dsrc[b, k, :] = grad[b, idx[b, k], :]; dfill = sum of grad over the rows that
// no index selected.
struct TokenScatterBackwardParams {
  DType dtype = DType::kFloat32;
  int64_t B = 0, N = 0, D = 0, K = 0;
  const void* grad = nullptr;         // [B, N, D]
  const int32_t* idx = nullptr;
  const int32_t* lengths = nullptr;
  void* dsrc = nullptr;               // [B, K, D] or null
  void* dfill = nullptr;              // [D] or null
};

// StoP (Bar et al., "Predicting masked tokens in stochastic locations improves masked image
// modeling"; amirbar/StoP): out[b, k, :] = pos[idx[b, k], :] + weight @ n[b, k, :] + bias with
// n[b, k, i] = std * normal(seed, stream (3<<24)|b, offset k*Din + i). weight is [Dp, Din] (an
// nn.Linear's [out, in]). The noise is drawn tile by tile in the kernel; it is written to `noise`
// only when that is non-null.
struct StochasticPositionsParams {
  DType dtype = DType::kFloat32;
  int64_t B = 0, N = 0, Dp = 0, K = 0, Din = 0;
  const void* pos = nullptr;          // [N, Dp]
  const int32_t* idx = nullptr;
  const int32_t* lengths = nullptr;
  const void* weight = nullptr;       // [Dp, Din]
  const void* bias = nullptr;         // [Dp] or null
  double std = 0.25;
  uint64_t seed = 0;
  void* out = nullptr;                // [B, K, Dp]
  void* noise = nullptr;              // [B, K, Din] or null
};

// Backward: dpos = scatter-add of grad, dweight = sum grad^T n (noise regenerated from the seed when
// `noise` is null), dbias = sum of grad rows. Padding positions contribute nothing.
struct StochasticPositionsBackwardParams {
  DType dtype = DType::kFloat32;
  int64_t B = 0, N = 0, Dp = 0, K = 0, Din = 0;
  const void* grad = nullptr;         // [B, K, Dp]
  const int32_t* idx = nullptr;
  const int32_t* lengths = nullptr;
  const void* noise = nullptr;        // [B, K, Din] or null
  double std = 0.25;
  uint64_t seed = 0;
  void* dpos = nullptr;               // [N, Dp] or null
  void* dweight = nullptr;            // [Dp, Din] or null
  void* dbias = nullptr;              // [Dp] or null
};

// Index validation (core code, runs before any kernel touches memory): every used index in
// [0, N), lengths in [0, K], and (unique) no repeated index within a row. The message names the
// argument, the batch row and the position.
Status check_token_indices(const char* name, const int32_t* idx, const int32_t* lengths, int64_t B,
                           int64_t K, int64_t N, bool unique);

// ---- masks (core code, masks.cc) ----------------------------------------------------------

// MAE random masking (facebookresearch/mae models_mae.py random_masking): per sample, tokens are
// ordered by a Philox word (ties by index); keep = the first keep_count, masked = the rest in the
// same order, restore = the inverse permutation (restore[order[j]] = j).
Status mask_random(int64_t B, int64_t N, int64_t keep_count, uint64_t seed, int32_t* keep,
                   int32_t* masked, int32_t* restore);

struct MultiBlockParams {
  int64_t H = 14, W = 14, B = 1;
  uint64_t seed = 0;
  double enc_scale[2] = {0.85, 1.0};
  double pred_scale[2] = {0.15, 0.2};
  double aspect[2] = {0.75, 1.5};
  int64_t n_enc = 1, n_pred = 4, min_keep = 10;
  bool allow_overlap = false;
  bool ragged = false;
};

struct MultiBlockResult {
  int64_t kc = 0, kt = 0;             // columns of context / targets (min, or max when ragged)
  std::vector<int32_t> context;       // [n_enc, B, kc] (padding -1 when ragged)
  std::vector<int32_t> targets;       // [n_pred, B, kt]
  std::vector<int32_t> context_len;   // [n_enc, B] full mask sizes
  std::vector<int32_t> target_len;    // [n_pred, B]
  std::vector<int32_t> relaxed;       // [B] target blocks dropped from the context constraint
  int32_t pred_block[2] = {0, 0}, enc_block[2] = {0, 0};
};

// I-JEPA multi-block collator (facebookresearch/ijepa src/masks/multiblock.py) with the fixes
// documented in docs/tokens.md. Throws nothing; returns an error Status for impossible settings.
Status mask_multi_block(const MultiBlockParams& p, MultiBlockResult* r);

}  // namespace selfsup

SELFSUP_ISA_DECLARE(::selfsup::Status, tokens_gather, (const ::selfsup::TokenGatherParams&))
SELFSUP_ISA_DECLARE(::selfsup::Status, tokens_gather_backward,
                    (const ::selfsup::TokenGatherBackwardParams&))
SELFSUP_ISA_DECLARE(::selfsup::Status, tokens_scatter, (const ::selfsup::TokenScatterParams&))
SELFSUP_ISA_DECLARE(::selfsup::Status, tokens_scatter_backward,
                    (const ::selfsup::TokenScatterBackwardParams&))
SELFSUP_ISA_DECLARE(::selfsup::Status, stochastic_positions,
                    (const ::selfsup::StochasticPositionsParams&))
SELFSUP_ISA_DECLARE(::selfsup::Status, stochastic_positions_backward,
                    (const ::selfsup::StochasticPositionsBackwardParams&))
