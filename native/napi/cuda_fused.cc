// The fused families on cuda device buffers (lib/ops routes `device: 'cuda'` tensors here): the
// CPU bindings' argument layouts and option objects (read by the same functions, fused_opts.h),
// with every array a cuda device buffer, enqueued on the device's stream by the family's
// `*_cuda` entry point. Sync forms only (the work is asynchronous on the stream anyway).
//
//   cudaAttention(q, k, v, out, lse, lseLo|null, opts)           lse / lseLo float32 for every dtype
//   cudaAttentionBackward(q, k, v, out, lse, dout, dlse|null, lseLo|null, dq, dk, dv, opts)
//   cudaInfoNCEForward(z1, z2, negatives|null, labels|null, losses, lse, lsePos|null, opts)
//   cudaInfoNCEBackward(z1, z2, negatives|null, labels|null, gradRows, lse, lsePos|null, dz1, dz2, opts)
//   cudaVicregForward(x, y, opts) -> { invariance, variance, covariance }
//   cudaVicregBackward(x, y, dx, dy, opts)                       opts also { gInv, gVar, gCov }
//   cudaVicregTermForward(x, opts) -> { value }                  opts also { which }
//   cudaVicregTermBackward(x, dx, opts)                          opts also { which, g }
//   cudaBarlowTwinsForward(z1, z2, opts) -> { loss, onDiagonal, offDiagonal }
//   cudaBarlowTwinsBackward(z1, z2, dz1, dz2, opts)              opts also { lambda, g }
//   cudaSinkhorn(scores, out, opts) -> { iterations, marginalError, sweeps }
//   cudaTokensGather / cudaTokensGatherBackward / cudaTokensScatter / cudaTokensScatterBackward /
//   cudaStochasticPositions / cudaStochasticPositionsBackward: tokens.cc's argument lists.
//
// Attention takes float32, bfloat16 or float16; every other family float32 only. The VICReg /
// Barlow forwards and Sinkhorn return host numbers, so they synchronize the stream (the scalars
// are small; the kernels write doubles, which have no device-buffer dtype). The token kernels
// check their indices on the device and synchronize for it.
#include "napi/fused_opts.h"
#include "napi/register.h"

#ifdef SELFSUP_CUDA
#include <array>
#include <string>

#include "cuda/memory.h"
#include "ops/attention/cuda.h"
#include "ops/info_nce/cuda.h"
#include "ops/sinkhorn/cuda.h"
#include "ops/tokens/cuda.h"
#include "ops/vicreg/cuda.h"

namespace selfsup {
namespace napi {
namespace {

std::string Buffer(DType dt) { return std::string("a ") + dtype_name(dt) + " cuda buffer"; }

// Argument idx: a cuda device buffer of exactly `dt` and length `len` (< 0: any length).
ArrayArg Dev(const Napi::CallbackInfo& info, size_t idx, const char* name, DType dt, int64_t len) {
  Napi::Env env = info.Env();
  ArrayArg a = GetArrayOrDevice(info, idx, name, {dt}, len);
  if (!a.device) ThrowType(env, "a cuda device buffer", name, "a typed array");
  if (a.dtype != dt) ThrowType(env, Buffer(dt), name, Buffer(a.dtype));
  return a;
}
ArrayArg OptDev(const Napi::CallbackInfo& info, size_t idx, const char* name, DType dt, int64_t len) {
  return IsAbsent(info, idx) ? ArrayArg{} : Dev(info, idx, name, dt, len);
}
// The dtype of the first float input: float32, or (halves) bfloat16 / float16 too.
DType FloatDtype(const Napi::CallbackInfo& info, size_t idx, const char* name, bool halves) {
  const ArrayArg a = GetArrayOrDevice(info, idx, name, {DType::kFloat32});
  if (!a.device) ThrowType(info.Env(), "a cuda device buffer", name, "a typed array");
  if (!halves && a.dtype != DType::kFloat32)
    ThrowType(info.Env(), "a float32 cuda buffer (this family's CUDA kernels are float32 only)", name, Buffer(a.dtype));
  return a.dtype;
}
cudaStream_t Stream(Napi::Env env, const ArrayArg& a) { return static_cast<cudaStream_t>(DeviceStream(env, a)); }
const int32_t* I32(const ArrayArg& a) { return static_cast<const int32_t*>(a.data); }

// Runs a kernel writing N doubles to device scratch on x's stream, then copies them back
// (synchronizes).
template <size_t N, class F>
std::array<double, N> RunScalars(Napi::Env env, const ArrayArg& x, F&& kernel) {
  const cudaStream_t st = Stream(env, x);
  cuda::Block b;
  ThrowIfError(env, cuda::alloc(x.device_index, N * sizeof(double), &b));
  std::array<double, N> out{};
  Status s = Guard(env, [&] { return kernel(static_cast<double*>(b.ptr), st); });
  if (s.ok()) s = cuda::download(out.data(), b, N * sizeof(double));
  cuda::release(b);
  ThrowIfError(env, s);
  return out;
}

// ---- attention -------------------------------------------------------------------------------

AttentionParams AttentionArgs(const Napi::CallbackInfo& info, size_t opts_idx, ArrayArg* q) {
  Napi::Env env = info.Env();
  const DType dt = FloatDtype(info, 0, "q", true);
  const Napi::Object o = GetOptions(info, opts_idx);
  AttentionParams p = ReadAttentionSizes(o, dt);
  *q = Dev(info, 0, "q", dt, p.B * p.H * p.Nq * p.d);
  const int64_t nk = p.B * p.Hk * p.Nk * p.d;
  p.q = q->data;
  p.k = Dev(info, 1, "k", dt, nk).data;
  p.v = Dev(info, 2, "v", dt, nk).data;
  const Napi::Value mv = o.Get("maskArray");
  const bool present = !mv.IsUndefined() && !mv.IsNull();
  ArrayArg mask;
  if (present) {
    mask = ToArrayOrDevice(env, mv, "maskArray", {DType::kBool, dt});
    if (!mask.device) ThrowType(env, "a cuda device buffer", "maskArray", "a typed array");
    if (mask.dtype != DType::kBool && mask.dtype != dt) ThrowType(env, "a bool or " + Buffer(dt).substr(2), "maskArray", Buffer(mask.dtype));
  }
  ReadAttentionMask(o, p, mask, present);
  p.mask = mask.data;
  return p;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  ArrayArg q;
  AttentionParams p = AttentionArgs(info, 6, &q);
  const int64_t nq = p.B * p.H * p.Nq * p.d, nl = p.B * p.H * p.Nq;
  p.out = Dev(info, 3, "out", p.dtype, nq).data;
  p.lse = Dev(info, 4, "lse", DType::kFloat32, nl).data;
  p.lse_lo = OptDev(info, 5, "lseLo", DType::kFloat32, nl).data;
  return RunNow(info.Env(), [&] { return attention_forward_cuda(p, Stream(info.Env(), q)); });
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  ArrayArg q;
  AttentionParams p = AttentionArgs(info, 11, &q);
  const int64_t nq = p.B * p.H * p.Nq * p.d, nk = p.B * p.Hk * p.Nk * p.d, nl = p.B * p.H * p.Nq;
  p.out = Dev(info, 3, "out", p.dtype, nq).data;
  p.lse = Dev(info, 4, "lse", DType::kFloat32, nl).data;
  p.dout = Dev(info, 5, "dout", p.dtype, nq).data;
  p.dlse = OptDev(info, 6, "dlse", DType::kFloat32, nl).data;
  p.lse_lo = OptDev(info, 7, "lseLo", DType::kFloat32, nl).data;
  p.dq = Dev(info, 8, "dq", p.dtype, nq).data;
  p.dk = Dev(info, 9, "dk", p.dtype, nk).data;
  p.dv = Dev(info, 10, "dv", p.dtype, nk).data;
  return RunNow(info.Env(), [&] { return attention_backward_cuda(p, Stream(info.Env(), q)); });
}

// ---- InfoNCE ---------------------------------------------------------------------------------

InfoNCEParams InfoNCEArgs(const Napi::CallbackInfo& info, size_t opts_idx, ArrayArg* z1) {
  const DType dt = FloatDtype(info, 0, "z1", false);
  InfoNCEParams p = ReadInfoNCEOptions(GetOptions(info, opts_idx), dt);
  *z1 = Dev(info, 0, "z1", dt, p.n * p.d);
  p.z1 = z1->data;
  p.z2 = Dev(info, 1, "z2", dt, p.n * p.d).data;
  p.negatives = OptDev(info, 2, "negatives", dt, p.m * p.d).data;
  if (!p.negatives && p.m != 0) ThrowRange(info.Env(), "m = 0 when negatives is null", "m", std::to_string(p.m));
  p.labels = I32(OptDev(info, 3, "labels", DType::kInt32, p.n));
  return p;
}

Napi::Value InfoNCEForward(const Napi::CallbackInfo& info) {
  ArrayArg z1;
  const InfoNCEParams p = InfoNCEArgs(info, 7, &z1);
  const int64_t rows = info_nce_rows(p);
  void* losses = Dev(info, 4, "losses", p.dtype, rows).data;
  void* lse = Dev(info, 5, "lse", p.dtype, rows).data;
  void* lse_pos = p.labels ? Dev(info, 6, "lsePos", p.dtype, rows).data : nullptr;
  return RunNow(info.Env(), [&] { return info_nce_forward_cuda(p, losses, lse, lse_pos, Stream(info.Env(), z1)); });
}

Napi::Value InfoNCEBackward(const Napi::CallbackInfo& info) {
  ArrayArg z1;
  const InfoNCEParams p = InfoNCEArgs(info, 9, &z1);
  const int64_t rows = info_nce_rows(p), nd = p.n * p.d;
  const void* g = Dev(info, 4, "gradRows", p.dtype, rows).data;
  const void* lse = Dev(info, 5, "lse", p.dtype, rows).data;
  const void* lse_pos = p.labels ? Dev(info, 6, "lsePos", p.dtype, rows).data : nullptr;
  void* dz1 = Dev(info, 7, "dz1", p.dtype, nd).data;
  void* dz2 = Dev(info, 8, "dz2", p.dtype, nd).data;
  return RunNow(info.Env(), [&] { return info_nce_backward_cuda(p, g, lse, lse_pos, dz1, dz2, Stream(info.Env(), z1)); });
}

// ---- VICReg / Barlow Twins -------------------------------------------------------------------

VICRegParams VicregArgs(const Napi::CallbackInfo& info, size_t opts_idx, bool two, const char* xn, const char* yn, ArrayArg* x) {
  const DType dt = FloatDtype(info, 0, xn, false);
  VICRegParams p = ReadVicregOptions(GetOptions(info, opts_idx), dt, xn);
  *x = Dev(info, 0, xn, dt, p.n * p.d);
  p.x = x->data;
  p.y = two ? Dev(info, 1, yn, dt, p.n * p.d).data : nullptr;
  return p;
}

Napi::Object Terms(Napi::Env env, const std::array<double, 3>& t, const char* a, const char* b, const char* c) {
  Napi::Object r = Napi::Object::New(env);
  r.Set(a, t[0]);
  r.Set(b, t[1]);
  r.Set(c, t[2]);
  return r;
}

Napi::Value VicregForward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  const VICRegParams p = VicregArgs(info, 2, true, "x", "y", &x);
  const auto t = RunScalars<3>(info.Env(), x, [&](double* out, cudaStream_t st) { return vicreg_forward_cuda(p, out, st); });
  return Terms(info.Env(), t, "invariance", "variance", "covariance");
}

Napi::Value VicregBackward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  const VICRegParams p = VicregArgs(info, 4, true, "x", "y", &x);
  const Napi::Object o = GetOptions(info, 4);
  const double gi = GetDoubleProp(o, "gInv"), gv = GetDoubleProp(o, "gVar"), gc = GetDoubleProp(o, "gCov");
  void* dx = Dev(info, 2, "dx", p.dtype, p.n * p.d).data;
  void* dy = Dev(info, 3, "dy", p.dtype, p.n * p.d).data;
  return RunNow(info.Env(), [&] { return vicreg_backward_cuda(p, gi, gv, gc, dx, dy, Stream(info.Env(), x)); });
}

Napi::Value VicregTermForward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  const VICRegParams p = VicregArgs(info, 1, false, "x", "", &x);
  const int which = static_cast<int>(GetIntProp(GetOptions(info, 1), "which", 0, 1));
  const auto t = RunScalars<1>(info.Env(), x, [&](double* out, cudaStream_t st) { return vicreg_term_forward_cuda(p, which, out, st); });
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("value", t[0]);
  return r;
}

Napi::Value VicregTermBackward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  const VICRegParams p = VicregArgs(info, 2, false, "x", "", &x);
  const Napi::Object o = GetOptions(info, 2);
  const int which = static_cast<int>(GetIntProp(o, "which", 0, 1));
  const double g = GetDoubleProp(o, "g");
  void* dx = Dev(info, 1, "dx", p.dtype, p.n * p.d).data;
  return RunNow(info.Env(), [&] { return vicreg_term_backward_cuda(p, which, g, dx, Stream(info.Env(), x)); });
}

Napi::Value BarlowForward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  VICRegParams p = VicregArgs(info, 2, true, "z1", "z2", &x);
  p.lambda = GetNonNegativeProp(GetOptions(info, 2), "lambda");
  const auto t = RunScalars<3>(info.Env(), x, [&](double* out, cudaStream_t st) { return barlow_twins_forward_cuda(p, out, st); });
  return Terms(info.Env(), t, "loss", "onDiagonal", "offDiagonal");
}

Napi::Value BarlowBackward(const Napi::CallbackInfo& info) {
  ArrayArg x;
  VICRegParams p = VicregArgs(info, 4, true, "z1", "z2", &x);
  const Napi::Object o = GetOptions(info, 4);
  p.lambda = GetNonNegativeProp(o, "lambda");
  const double g = GetDoubleProp(o, "g");
  void* d1 = Dev(info, 2, "dz1", p.dtype, p.n * p.d).data;
  void* d2 = Dev(info, 3, "dz2", p.dtype, p.n * p.d).data;
  return RunNow(info.Env(), [&] { return barlow_twins_backward_cuda(p, g, d1, d2, Stream(info.Env(), x)); });
}

// ---- Sinkhorn --------------------------------------------------------------------------------

Napi::Value Sinkhorn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FloatDtype(info, 0, "scores", false);
  const ArrayArg S = Dev(info, 0, "scores", DType::kFloat32, -1);
  const Napi::Object opts = GetOptions(info, 2);
  const SinkhornOptions c = ReadSinkhornOptions(opts, S.length);
  const ArrayArg O = Dev(info, 1, "out", DType::kFloat32, c.B * c.K);
  if (O.data == S.data && c.B * c.K > 0) ThrowRange(env, "an out array that does not alias scores", "out", "an aliasing array");
  const Napi::Value cb = opts.Get("allReduceSum");
  if (!cb.IsUndefined() && !cb.IsNull())
    ThrowIfError(env, Status::Unsupported("Expected a single process for collective on CUDA but received an allReduceSum hook"));
  SinkhornParams p = MakeSinkhornParams(c, static_cast<const float*>(S.data), static_cast<float*>(O.data));
  Guard(env, [&] { ThrowIfError(env, sinkhorn_forward_cuda(p, Stream(env, S))); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("iterations", static_cast<double>(p.iterations_done));
  r.Set("marginalError", p.marginal_error);
  r.Set("sweeps", static_cast<double>(p.sweeps));
  return r;
}

// ---- tokens ----------------------------------------------------------------------------------

// Arguments 0..2 of every token binding: the float32 buffer `name` of length `len`, idx [B, K]
// and the optional lengths [B].
struct Idx {
  ArrayArg x, idx, len;
};
Idx IdxArgs(const Napi::CallbackInfo& info, const char* name, int64_t len, int64_t B, int64_t K) {
  FloatDtype(info, 0, name, false);
  return {Dev(info, 0, name, DType::kFloat32, len), Dev(info, 1, "idx", DType::kInt32, B * K), OptDev(info, 2, "lengths", DType::kInt32, B)};
}
// The fields the gather / scatter params share: sizes, indices, lengths.
template <class P> P TokenParams(const TokenDims& d, const Idx& a) {
  P p;
  p.B = d.B; p.N = d.N; p.D = d.D; p.K = d.K;
  p.idx = I32(a.idx); p.lengths = I32(a.len);
  return p;
}

Napi::Value TokensGather(const Napi::CallbackInfo& info) {
  const TokenDims d = ReadTokenDims(info, 5, true);
  const Idx a = IdxArgs(info, "x", d.shared ? d.N * d.D : d.B * d.N * d.D, d.B, d.K);
  auto p = TokenParams<TokenGatherParams>(d, a);
  p.x_shared = d.shared;
  p.x = a.x.data;
  p.pos = OptDev(info, 3, "pos", DType::kFloat32, d.N * d.D).data;
  p.out = Dev(info, 4, "out", DType::kFloat32, d.B * d.K * d.D).data;
  return RunNow(info.Env(), [&] { return tokens_gather_cuda(p, Stream(info.Env(), a.x)); });
}

Napi::Value TokensGatherBackward(const Napi::CallbackInfo& info) {
  const TokenDims d = ReadTokenDims(info, 5, true);
  const Idx a = IdxArgs(info, "grad", d.B * d.K * d.D, d.B, d.K);
  auto p = TokenParams<TokenGatherBackwardParams>(d, a);
  p.x_shared = d.shared;
  p.grad = a.x.data;
  p.dx = OptDev(info, 3, "dx", DType::kFloat32, d.shared ? d.N * d.D : d.B * d.N * d.D).data;
  p.dpos = OptDev(info, 4, "dpos", DType::kFloat32, d.N * d.D).data;
  return RunNow(info.Env(), [&] { return tokens_gather_backward_cuda(p, Stream(info.Env(), a.x)); });
}

Napi::Value TokensScatter(const Napi::CallbackInfo& info) {
  const TokenDims d = ReadTokenDims(info, 5, false);
  const Idx a = IdxArgs(info, "src", d.B * d.K * d.D, d.B, d.K);
  auto p = TokenParams<TokenScatterParams>(d, a);
  p.src = a.x.data;
  p.fill = OptDev(info, 3, "fill", DType::kFloat32, d.D).data;
  p.out = Dev(info, 4, "out", DType::kFloat32, d.B * d.N * d.D).data;
  return RunNow(info.Env(), [&] { return tokens_scatter_cuda(p, Stream(info.Env(), a.x)); });
}

Napi::Value TokensScatterBackward(const Napi::CallbackInfo& info) {
  const TokenDims d = ReadTokenDims(info, 5, false);
  const Idx a = IdxArgs(info, "grad", d.B * d.N * d.D, d.B, d.K);
  auto p = TokenParams<TokenScatterBackwardParams>(d, a);
  p.grad = a.x.data;
  p.dsrc = OptDev(info, 3, "dsrc", DType::kFloat32, d.B * d.K * d.D).data;
  p.dfill = OptDev(info, 4, "dfill", DType::kFloat32, d.D).data;
  return RunNow(info.Env(), [&] { return tokens_scatter_backward_cuda(p, Stream(info.Env(), a.x)); });
}

Napi::Value StochasticPositions(const Napi::CallbackInfo& info) {
  const StoPDims s = ReadStoPDims(info, 7);
  const Idx a = IdxArgs(info, "pos", s.N * s.Dp, s.B, s.K);
  StochasticPositionsParams p;
  p.B = s.B; p.N = s.N; p.Dp = s.Dp; p.K = s.K; p.Din = s.Din; p.std = s.std; p.seed = s.seed;
  p.pos = a.x.data; p.idx = I32(a.idx); p.lengths = I32(a.len);
  p.weight = Dev(info, 3, "weight", DType::kFloat32, s.Dp * s.Din).data;
  p.bias = OptDev(info, 4, "bias", DType::kFloat32, s.Dp).data;
  p.out = Dev(info, 5, "out", DType::kFloat32, s.B * s.K * s.Dp).data;
  p.noise = OptDev(info, 6, "noise", DType::kFloat32, s.B * s.K * s.Din).data;
  return RunNow(info.Env(), [&] { return stochastic_positions_cuda(p, Stream(info.Env(), a.x)); });
}

Napi::Value StochasticPositionsBackward(const Napi::CallbackInfo& info) {
  const StoPDims s = ReadStoPDims(info, 7);
  const Idx a = IdxArgs(info, "grad", s.B * s.K * s.Dp, s.B, s.K);
  StochasticPositionsBackwardParams p;
  p.B = s.B; p.N = s.N; p.Dp = s.Dp; p.K = s.K; p.Din = s.Din; p.std = s.std; p.seed = s.seed;
  p.grad = a.x.data; p.idx = I32(a.idx); p.lengths = I32(a.len);
  p.noise = OptDev(info, 3, "noise", DType::kFloat32, s.B * s.K * s.Din).data;
  p.dpos = OptDev(info, 4, "dpos", DType::kFloat32, s.N * s.Dp).data;
  p.dweight = OptDev(info, 5, "dweight", DType::kFloat32, s.Dp * s.Din).data;
  p.dbias = OptDev(info, 6, "dbias", DType::kFloat32, s.Dp).data;
  return RunNow(info.Env(), [&] { return stochastic_positions_backward_cuda(p, Stream(info.Env(), a.x)); });
}

}  // namespace

void RegisterCudaFused(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"cudaAttention", Attention}, {"cudaAttentionBackward", AttentionBackward},
      {"cudaInfoNCEForward", InfoNCEForward}, {"cudaInfoNCEBackward", InfoNCEBackward},
      {"cudaVicregForward", VicregForward}, {"cudaVicregBackward", VicregBackward},
      {"cudaVicregTermForward", VicregTermForward}, {"cudaVicregTermBackward", VicregTermBackward},
      {"cudaBarlowTwinsForward", BarlowForward}, {"cudaBarlowTwinsBackward", BarlowBackward},
      {"cudaSinkhorn", Sinkhorn},
      {"cudaTokensGather", TokensGather}, {"cudaTokensGatherBackward", TokensGatherBackward},
      {"cudaTokensScatter", TokensScatter}, {"cudaTokensScatterBackward", TokensScatterBackward},
      {"cudaStochasticPositions", StochasticPositions},
      {"cudaStochasticPositionsBackward", StochasticPositionsBackward}});
}

}  // namespace napi
}  // namespace selfsup

#endif  // SELFSUP_CUDA
