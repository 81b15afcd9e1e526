// N-API bindings for the tensor core (native/ops/tensor). Sync and zero-copy: these run on every
// tensor op of the user's path, so the fixed cost per call matters (a handful of N-API calls, no
// JS arrays: shapes come packed in one Float64Array `meta`). Everything is checked here before a
// kernel runs: dtypes, every length against the shapes, broadcast rules, strides in bounds, and
// no partial overlap between the output and an input.
//
//   tensorBinary(op, out, a, b, meta, warm?) meta [nd, outShape(nd), aShape(nd), bShape(nd)]
//   tensorUnary(op, x, y, p0, p1, warm?)
//   tensorUnaryBackward(op, g, s, gx, p0, p1, warm?)  s = x or y (see params.h), null for neg /
//                                             affine
//   (warm: the output is known to be in cache, so it gets normal stores: params.h)
//   tensorReduce(op, x, out, meta, scale)     meta [nd, shape(nd), reduced(nd) as 0/1]
//   tensorSoftmax(log, x, y, outer, size, inner)
//   tensorSoftmaxBackward(log, g, y, gx, outer, size, inner)
//   tensorCopy(src, dst, meta)                meta [nd, shape(nd), srcStrides(nd), srcOffset
//                                             (, dstStrides(nd), dstOffset: a strided dst)]
//   tensorAxpy(y, x, alpha)                   y += alpha x
//   tensorStreamMinBytes(bytes?)              the streaming-store threshold (params.h): returns
//                                             it; sets it first when `bytes` is given
//
// In the CUDA build every array argument may instead be a cuda device buffer (convert.h
// ToArrayOrDevice): all of a call's arrays on the device, then the same checks run and the CUDA
// kernel (ops/tensor/cuda.h) is enqueued on the device's stream.
#include <cmath>
#include <string>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/tensor/params.h"
#ifdef SELFSUP_CUDA
#include "ops/tensor/cuda.h"
// Enqueues `call` (a *_cuda entry point; `stream` is in scope) when `arg` is a device buffer.
#define SELFSUP_ON_DEVICE(arg, call)                                                   \
  if ((arg).device) {                                                                  \
    cudaStream_t stream = static_cast<cudaStream_t>(DeviceStream(env, (arg)));          \
    return RunNow(env, [&] { return call; });                                          \
  }
#else
#define SELFSUP_ON_DEVICE(arg, call)
#endif

namespace selfsup {
namespace napi {

namespace {
constexpr int kMaxNd = 64;
constexpr double kMaxDim = 9007199254740991.0;  // 2^53 - 1

const std::initializer_list<DType> kFloats = {DType::kFloat32, DType::kFloat64};
const std::initializer_list<DType> kAnyDtype = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kBool};

std::string Str(int64_t v) { return std::to_string(v); }

// Reads `meta` (a Float64Array) and checks it has at least `need(nd)` entries.
struct Meta {
  const double* v = nullptr;
  int64_t len = 0;
  int nd = 0;
};
Meta ReadMeta(const Napi::CallbackInfo& info, size_t idx, int per_dim, int extra) {
  Napi::Env env = info.Env();
  ArrayArg m = GetArray(info, idx, "meta", {DType::kFloat64});
  Meta r;
  r.v = static_cast<const double*>(m.data);
  r.len = m.length;
  if (r.len < 1) ThrowRange(env, "a meta array of length >= 1", "meta", "length 0");
  const double nd = r.v[0];
  if (!(nd >= 0 && nd <= kMaxNd && nd == std::floor(nd)))
    ThrowRange(env, "an integer in [0, " + Str(kMaxNd) + "]", "meta[0] (ndim)", std::to_string(nd));
  r.nd = static_cast<int>(nd);
  const int64_t need = 1 + int64_t(per_dim) * r.nd + extra;
  if (r.len < need) ThrowRange(env, "a meta array of length >= " + Str(need), "meta", "length " + Str(r.len));
  return r;
}

// meta[at .. at+nd) as sizes (non-negative integers); returns their product (RangeError on
// overflow past 2^53).
int64_t ReadSizes(Napi::Env env, const Meta& m, int at, const char* what, int64_t* out) {
  double prod = 1;
  for (int d = 0; d < m.nd; d++) {
    const double s = m.v[at + d];
    if (!(s >= 0 && s <= kMaxDim && s == std::floor(s)))
      ThrowRange(env, "a non-negative integer size", std::string("meta (") + what + "[" + Str(d) + "])", std::to_string(s));
    out[d] = static_cast<int64_t>(s);
    prod *= s;
  }
  if (prod > kMaxDim) ThrowRange(env, "a total size <= 2^53 - 1", std::string("meta (") + what + ")", std::to_string(prod));
  int64_t n = 1;
  for (int d = 0; d < m.nd; d++) n *= out[d];
  return n;
}

void CheckLength(Napi::Env env, const ArrayArg& a, int64_t n, const char* name) {
  if (a.length != n) ThrowRange(env, "an array of length " + Str(n) + " (the shape's size)", name, "length " + Str(a.length));
}

bool Overlap(const ArrayArg& a, const ArrayArg& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* pa = static_cast<const char*>(a.data);
  const char* pb = static_cast<const char*>(b.data);
  return pa < pb + b.length * dtype_size(b.dtype) && pb < pa + a.length * dtype_size(a.dtype);
}
void NoOverlap(Napi::Env env, const ArrayArg& out, const char* oname, const ArrayArg& in, const char* iname) {
  if (Overlap(out, in))
    ThrowRange(env, std::string("an array that does not overlap ") + iname, oname, "an overlapping array");
}
// `out` may be exactly `in` (same start and length: an in-place elementwise op), nothing else.
void NoPartialOverlap(Napi::Env env, const ArrayArg& out, const char* oname, const ArrayArg& in, const char* iname) {
  if (out.data == in.data && out.length == in.length) return;
  NoOverlap(env, out, oname, in, iname);
}

void MakeLoop(Napi::Env env, int nd, const int64_t* shape, const int64_t* const* strides, int nops, Loop* L) {
  if (!make_loop(nd, shape, strides, nops, L))
    ThrowRange(env, "at most " + Str(kLoopDims) + " dims after merging contiguous dims", "meta", Str(nd) + " dims that do not merge");
}

// Marks `out` warm for the one call it lives across (optional boolean argument idx).
class WarmOutput {
 public:
  WarmOutput(const Napi::CallbackInfo& info, size_t idx, const void* out) {
    if (!IsAbsent(info, idx) && GetBool(info, idx, "warm")) set_tensor_warm_output(out);
  }
  ~WarmOutput() { set_tensor_warm_output(nullptr); }
  WarmOutput(const WarmOutput&) = delete;
  WarmOutput& operator=(const WarmOutput&) = delete;
};

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto op = static_cast<BinaryOp>(GetInt(info, 0, "op", 0, int64_t(BinaryOp::kCount) - 1));
  ArrayArg a = GetArrayOrDevice(info, 2, "a", kFloats);
  ArrayArg b = GetArrayOrDevice(info, 3, "b", {a.dtype});
  ArrayArg out = GetArrayOrDevice(info, 1, "out", {binary_is_compare(op) ? DType::kBool : a.dtype});
  SameDevice(env, a, "a", {{&b, "b"}, {&out, "out"}});
  Meta m = ReadMeta(info, 4, 3, 0);
  int64_t os[kMaxNd], as[kMaxNd], bs[kMaxNd];
  CheckLength(env, out, ReadSizes(env, m, 1, "outShape", os), "out");
  CheckLength(env, a, ReadSizes(env, m, 1 + m.nd, "aShape", as), "a");
  CheckLength(env, b, ReadSizes(env, m, 1 + 2 * m.nd, "bShape", bs), "b");
  // Contiguous strides, 0 along broadcast dims.
  int64_t ost[kMaxNd], ast[kMaxNd], bst[kMaxNd];
  int64_t so = 1, sa = 1, sb = 1;
  for (int d = m.nd - 1; d >= 0; d--) {
    if (as[d] != os[d] && as[d] != 1)
      ThrowRange(env, "a shape broadcastable to the output (size 1 or " + Str(os[d]) + ")", ("meta (aShape[" + Str(d) + "])").c_str(), Str(as[d]));
    if (bs[d] != os[d] && bs[d] != 1)
      ThrowRange(env, "a shape broadcastable to the output (size 1 or " + Str(os[d]) + ")", ("meta (bShape[" + Str(d) + "])").c_str(), Str(bs[d]));
    ost[d] = so;
    ast[d] = as[d] == 1 ? 0 : sa;
    bst[d] = bs[d] == 1 ? 0 : sb;
    so *= os[d];
    sa *= as[d];
    sb *= bs[d];
  }
  // In place only as out == a with a's full shape; any other overlap is refused.
  const bool inplace = out.data == a.data && out.length == a.length && out.dtype == a.dtype;
  if (!inplace) NoOverlap(env, out, "out", a, "a");
  NoOverlap(env, out, "out", b, "b");
  const int64_t* strides[3] = {ost, ast, bst};
  Loop L;
  MakeLoop(env, m.nd, os, strides, 3, &L);
  SELFSUP_ON_DEVICE(a, tensor_binary_cuda(op, a.dtype, out.data, a.data, b.data, L, stream));
  WarmOutput warm(info, 5, out.data);
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_binary)(op, a.dtype, out.data, a.data, b.data, L); });
  return env.Undefined();
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto op = static_cast<UnaryOp>(GetInt(info, 0, "op", 0, int64_t(UnaryOp::kCount) - 1));
  ArrayArg x = GetArrayOrDevice(info, 1, "x", kFloats);
  ArrayArg y = GetArrayOrDevice(info, 2, "y", {x.dtype}, x.length);
  SameDevice(env, x, "x", {{&y, "y"}});
  const double p0 = GetDouble(info, 3, "p0", true), p1 = GetDouble(info, 4, "p1", true);
  NoPartialOverlap(env, y, "y", x, "x");
  SELFSUP_ON_DEVICE(x, tensor_unary_cuda(op, x.dtype, x.data, y.data, x.length, p0, p1, stream));
  WarmOutput warm(info, 5, y.data);
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_unary)(op, x.dtype, x.data, y.data, x.length, p0, p1); });
  return env.Undefined();
}

Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto op = static_cast<UnaryOp>(GetInt(info, 0, "op", 0, int64_t(UnaryOp::kCount) - 1));
  ArrayArg g = GetArrayOrDevice(info, 1, "g", kFloats);
  const bool needs_s = op != UnaryOp::kNeg && op != UnaryOp::kAffine;
  ArrayArg s = needs_s || !IsAbsent(info, 2) ? GetArrayOrDevice(info, 2, "s", {g.dtype}, g.length) : ArrayArg{};
  ArrayArg gx = GetArrayOrDevice(info, 3, "gx", {g.dtype}, g.length);
  SameDevice(env, g, "g", {{&s, "s"}, {&gx, "gx"}});
  const double p0 = GetDouble(info, 4, "p0", true), p1 = GetDouble(info, 5, "p1", true);
  NoPartialOverlap(env, gx, "gx", g, "g");
  NoPartialOverlap(env, gx, "gx", s, "s");
  SELFSUP_ON_DEVICE(g, tensor_unary_backward_cuda(op, g.dtype, g.data, s.data, gx.data, g.length, p0, p1, stream));
  WarmOutput warm(info, 6, gx.data);
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_unary_backward)(op, g.dtype, g.data, s.data, gx.data, g.length, p0, p1); });
  return env.Undefined();
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto op = static_cast<ReduceOp>(GetInt(info, 0, "op", 0, int64_t(ReduceOp::kCount) - 1));
  ArrayArg x = GetArrayOrDevice(info, 1, "x", kFloats);
  ArrayArg out = GetArrayOrDevice(info, 2, "out", {x.dtype});
  SameDevice(env, x, "x", {{&out, "out"}});
  Meta m = ReadMeta(info, 3, 2, 0);
  const double scale = GetDouble(info, 4, "scale", true);
  int64_t shape[kMaxNd];
  bool reduced[kMaxNd];
  CheckLength(env, x, ReadSizes(env, m, 1, "shape", shape), "x");
  int64_t nout = 1;
  for (int d = 0; d < m.nd; d++) {
    const double f = m.v[1 + m.nd + d];
    if (f != 0 && f != 1) ThrowRange(env, "0 or 1", ("meta (reduced[" + Str(d) + "])").c_str(), std::to_string(f));
    reduced[d] = f == 1;
    if (!reduced[d]) nout *= shape[d];
  }
  CheckLength(env, out, nout, "out");
  NoOverlap(env, out, "out", x, "x");
  SELFSUP_ON_DEVICE(x, tensor_reduce_cuda(op, x.dtype, x.data, out.data, m.nd, shape, reduced, scale, stream));
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_reduce)(op, x.dtype, x.data, out.data, m.nd, shape, reduced, scale); });
  return env.Undefined();
}

// (outer, size, inner) at idx..idx+2 with outer*size*inner == n.
void ReadSplit(const Napi::CallbackInfo& info, size_t idx, int64_t n, const char* xname, int64_t* o, int64_t* s, int64_t* i) {
  Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 50;
  *o = GetInt(info, idx, "outer", 0, kMax);
  *s = GetInt(info, idx + 1, "size", 0, kMax);
  *i = GetInt(info, idx + 2, "inner", 0, kMax);
  const int64_t total = CheckedMul(env, {*o, *s, *i}, xname);
  if (total != n) ThrowRange(env, "an array of length outer*size*inner = " + Str(total), xname, "length " + Str(n));
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool log = GetBool(info, 0, "log");
  ArrayArg x = GetArrayOrDevice(info, 1, "x", kFloats);
  ArrayArg y = GetArrayOrDevice(info, 2, "y", {x.dtype}, x.length);
  SameDevice(env, x, "x", {{&y, "y"}});
  int64_t o, s, i;
  ReadSplit(info, 3, x.length, "x", &o, &s, &i);
  NoOverlap(env, y, "y", x, "x");
  SELFSUP_ON_DEVICE(x, tensor_softmax_cuda(log, x.dtype, x.data, y.data, o, s, i, stream));
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_softmax)(log, x.dtype, x.data, y.data, o, s, i); });
  return env.Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool log = GetBool(info, 0, "log");
  ArrayArg g = GetArrayOrDevice(info, 1, "g", kFloats);
  ArrayArg y = GetArrayOrDevice(info, 2, "y", {g.dtype}, g.length);
  ArrayArg gx = GetArrayOrDevice(info, 3, "gx", {g.dtype}, g.length);
  SameDevice(env, g, "g", {{&y, "y"}, {&gx, "gx"}});
  int64_t o, s, i;
  ReadSplit(info, 4, g.length, "g", &o, &s, &i);
  // gx is written after each (outer) block's sums are read, so gx == g is safe; y must differ.
  NoPartialOverlap(env, gx, "gx", g, "g");
  NoOverlap(env, gx, "gx", y, "y");
  SELFSUP_ON_DEVICE(g, tensor_softmax_backward_cuda(log, g.dtype, g.data, y.data, gx.data, o, s, i, stream));
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_softmax_backward)(log, g.dtype, g.data, y.data, gx.data, o, s, i); });
  return env.Undefined();
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg src = GetArrayOrDevice(info, 0, "src", kAnyDtype);
  ArrayArg dst = GetArrayOrDevice(info, 1, "dst", {src.dtype});
  SameDevice(env, src, "src", {{&dst, "dst"}});
  Meta m = ReadMeta(info, 2, 2, 1);
  int64_t shape[kMaxNd], st[kMaxNd], ost[kMaxNd];
  const int64_t n = ReadSizes(env, m, 1, "shape", shape);
  // The elements reached through (strides, offset) must lie inside the array.
  auto strided = [&](int at, const char* what, int64_t* out_st, const ArrayArg& arr, const char* aname, bool nonzero) -> int64_t {
    const double off = m.v[at + m.nd];
    if (!(off >= 0 && off <= kMaxDim && off == std::floor(off)))
      ThrowRange(env, "a non-negative integer", (std::string("meta (") + what + "Offset)").c_str(), std::to_string(off));
    double lo = off, hi = off;
    for (int d = 0; d < m.nd; d++) {
      const double s = m.v[at + d];
      if (!(std::fabs(s) <= kMaxDim && s == std::floor(s)) || (nonzero && s == 0 && shape[d] > 1))
        ThrowRange(env, nonzero ? "a non-zero integer stride" : "an integer stride", (std::string("meta (") + what + "Strides[" + Str(d) + "])").c_str(), std::to_string(s));
      out_st[d] = static_cast<int64_t>(s);
      if (shape[d] > 0) (s >= 0 ? hi : lo) += s * static_cast<double>(shape[d] - 1);
    }
    if (n > 0 && (lo < 0 || hi >= static_cast<double>(arr.length)))
      ThrowRange(env, std::string("strides and offset inside ") + aname + " (elements " + std::to_string(lo) + " .. " + std::to_string(hi) + ")", "meta", std::string(aname) + " of length " + Str(arr.length));
    return static_cast<int64_t>(off);
  };
  const int64_t soff = strided(1 + m.nd, "src", st, src, "src", false);
  int64_t doff = 0;
  if (m.len >= 1 + 3 * m.nd + 2) {
    // A strided destination (e.g. one third of a fused QKV gradient). Distinct elements only:
    // no zero stride, and the caller's layouts never overlap themselves.
    doff = strided(2 + 2 * m.nd, "dst", ost, dst, "dst", true);
  } else {
    CheckLength(env, dst, n, "dst");
    int64_t acc = 1;
    for (int d = m.nd - 1; d >= 0; d--) { ost[d] = acc; acc *= shape[d]; }
  }
  NoOverlap(env, dst, "dst", src, "src");
  const int64_t* strides[2] = {ost, st};
  Loop L;
  MakeLoop(env, m.nd, shape, strides, 2, &L);
  L.offset[0] = doff;
  L.offset[1] = soff;
  if (n == 0) return env.Undefined();
  SELFSUP_ON_DEVICE(src, tensor_copy_cuda(static_cast<int>(dtype_size(src.dtype)), dst.data, src.data, L, stream));
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_copy)(static_cast<int>(dtype_size(src.dtype)), dst.data, src.data, L); });
  return env.Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg y = GetArrayOrDevice(info, 0, "y", kFloats);
  ArrayArg x = GetArrayOrDevice(info, 1, "x", {y.dtype}, y.length);
  SameDevice(env, y, "y", {{&x, "x"}});
  const double alpha = GetDouble(info, 2, "alpha", true);
  NoOverlap(env, y, "y", x, "x");
  SELFSUP_ON_DEVICE(y, tensor_axpy_cuda(y.dtype, y.data, x.data, y.length, alpha, stream));
  Guard(env, [&] { SELFSUP_DISPATCH(tensor_axpy)(y.dtype, y.data, x.data, y.length, alpha); });
  return env.Undefined();
}

Napi::Value StreamMinBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && !info[0].IsUndefined()) set_tensor_stream_min_bytes(GetInt(info, 0, "bytes", 0, int64_t(1) << 53));
  return Napi::Number::New(env, static_cast<double>(tensor_stream_min_bytes()));
}
}  // namespace

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"tensorBinary", Binary}, {"tensorUnary", Unary},
                           {"tensorUnaryBackward", UnaryBackward}, {"tensorReduce", Reduce},
                           {"tensorSoftmax", Softmax}, {"tensorSoftmaxBackward", SoftmaxBackward},
                           {"tensorCopy", Copy}, {"tensorAxpy", Axpy},
                           {"tensorStreamMinBytes", StreamMinBytes}});
}

}  // namespace napi
}  // namespace selfsup
