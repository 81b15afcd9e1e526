// The option readers of the fused families, shared by their CPU bindings (attention.cc,
// info_nce.cc, vicreg.cc, sinkhorn.cc, tokens.cc) and the CUDA ones (cuda_fused.cc): one set of
// checks and messages whatever the device. Each reads the family's options object by field name.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "napi/convert.h"
#include "ops/attention/params.h"
#include "ops/info_nce/params.h"
#include "ops/sinkhorn/params.h"
#include "ops/vicreg/params.h"

namespace selfsup {
namespace napi {

// { B, H, Hk, Nq, Nk, d, scale, causal, dropout, seed }: sizes, scalars and contiguous strides.
AttentionParams ReadAttentionSizes(const Napi::Object& o, DType dt);
// opts.maskStrides, and (when `present`) the mask's kind and a check that every offset the kernel
// can read lies inside `mask`; p.mask is left to the caller.
void ReadAttentionMask(const Napi::Object& o, AttentionParams& p, const ArrayArg& mask, bool present);

// { n, d, m, temperature, normalize, both, decoupled }.
InfoNCEParams ReadInfoNCEOptions(const Napi::Object& o, DType dt);

// { n, d, eps, path } (n >= 2); `xname` names the input in size messages.
VICRegParams ReadVicregOptions(const Napi::Object& o, DType dt, const char* xname);
// A number >= 0 (Barlow Twins' lambda).
double GetNonNegativeProp(const Napi::Object& o, const char* key);

// { B, K, probs, epsilon, iterations, tolerance, colMarginal, rowMarginal?, wantError } with the
// marginals copied (host arrays on every device).
struct SinkhornOptions {
  int64_t B, K, iterations;
  bool probs, want_error;
  double epsilon, tolerance;
  std::vector<double> col, row;
  bool has_row = false;
};
SinkhornOptions ReadSinkhornOptions(const Napi::Object& o, int64_t scores_len);
// The kernel's params over `c` (which must outlive them) and the score / output pointers.
SinkhornParams MakeSinkhornParams(const SinkhornOptions& c, const float* scores, float* out);

// { B, N, D, K[, xShared] } of the token ops, and StoP's { B, N, Dp, K, Din, std, seed }.
struct TokenDims {
  int64_t B, N, D, K;
  bool shared = false;
};
TokenDims ReadTokenDims(const Napi::CallbackInfo& info, size_t idx, bool with_shared);
struct StoPDims {
  int64_t B, N, Dp, K, Din;
  double std;
  uint64_t seed;
};
StoPDims ReadStoPDims(const Napi::CallbackInfo& info, size_t idx);

}  // namespace napi
}  // namespace selfsup
