// The tensor core: the generic ops that surround every fused kernel on the user's path
// (elementwise with broadcasting, reductions, softmax, strided copies, in-place accumulation,
// optimizer steps). Each is one multithreaded pass over memory; forward and backward side by side
// in cpu.cc. float32 and float64 (bool outputs for comparisons; any 1/4/8-byte dtype for copies).
//
// Precision: float32 sums (reductions, softmax denominators) accumulate in double, and float32
// transcendentals are evaluated in double and rounded once, so results are within an ulp or two
// of the correctly rounded float32 answer. float64 transcendentals call libm (the same accuracy
// as JavaScript's Math).
#pragma once
#include <cstdint>

#include "selfsup/isa.h"
#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

// Dims of one loop after coalescing (adjacent dims merge when every operand is contiguous
// across them, size-1 dims drop), so contiguous same-shape operands are a single dim.
constexpr int kLoopDims = 16;

// An elementwise loop over `shape` (outermost first) for up to 3 operands. Strides are in
// elements; operand 0 is the output. `offset` is each operand's starting element.
struct Loop {
  int nd = 0;
  int nops = 0;
  int64_t shape[kLoopDims] = {};
  int64_t stride[3][kLoopDims] = {};
  int64_t offset[3] = {};
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    return n;
  }
};

// Builds a coalesced Loop from `nd` raw dims (shape[d], strides[op][d]); false when more than
// kLoopDims dims remain after coalescing.
bool make_loop(int nd, const int64_t* shape, const int64_t* const* strides, int nops, Loop* out);

enum class BinaryOp : int32_t {
  kAdd = 0, kSub, kMul, kDiv, kPow, kMaximum, kMinimum,
  kGt, kGe, kLt, kLe, kEq, kNe,  // bool (uint8) output
  kCount
};
inline bool binary_is_compare(BinaryOp op) { return op >= BinaryOp::kGt && op < BinaryOp::kCount; }

// y = f(x; p0, p1) over n contiguous elements. kAffine: p0 * x + p1; kClamp: min(max(x, p0), p1)
// (NaN stays NaN); kPowScalar: x^p0; kLeakyRelu: x > 0 ? x : p0 x.
enum class UnaryOp : int32_t {
  kNeg = 0, kExp, kLog, kSqrt, kRsqrt, kSquare, kAbs, kRelu, kSigmoid, kTanh,
  kAffine, kClamp, kPowScalar, kLeakyRelu,
  kCount
};
// Which tensor the unary backward reads: the input x or the output y (save only that).
inline bool unary_backward_reads_output(UnaryOp op) {
  return op == UnaryOp::kExp || op == UnaryOp::kSqrt || op == UnaryOp::kRsqrt ||
         op == UnaryOp::kRelu || op == UnaryOp::kSigmoid || op == UnaryOp::kTanh;
}

enum class ReduceOp : int32_t { kSum = 0, kMax, kMin, kCount };

// Float32 outputs of at least this many bytes are written with streaming (non-temporal) stores
// (cpu.cc explains why). Default: half the last-level cache (sysconf), 16 MiB where unknown;
// SELFSUP_STREAM_MIN_BYTES overrides at load and set_tensor_stream_min_bytes at run time (the
// tests set 0 to run the streaming loops on small shapes). Read on every op; thread safe.
int64_t tensor_stream_min_bytes();
void set_tensor_stream_min_bytes(int64_t bytes);

// An output its caller knows to be in cache (a buffer the JS storage pool just handed back) is
// written with normal stores whatever its size: streaming it would evict the lines the op is
// about to overwrite. Set on the calling thread for one call (WarmOutput in the binding); the
// decision is taken on that thread before the work is split.
const void* tensor_warm_output();
void set_tensor_warm_output(const void* out);

}  // namespace selfsup

// out = a (op) b over loop L (operand 0 out, 1 a, 2 b); dtype of a and b; out is uint8 for
// comparisons. out may be a (or b) itself when its strides equal out's (in place).
SELFSUP_ISA_DECLARE(void, tensor_binary,
                    (::selfsup::BinaryOp op, ::selfsup::DType dt, void* out, const void* a,
                     const void* b, const ::selfsup::Loop& L))
// y = f(x) over n contiguous elements; y may be x.
SELFSUP_ISA_DECLARE(void, tensor_unary,
                    (::selfsup::UnaryOp op, ::selfsup::DType dt, const void* x, void* y, int64_t n,
                     double p0, double p1))
// gx = g * f'(.) where `s` is x or y per unary_backward_reads_output (kNeg reads nothing).
SELFSUP_ISA_DECLARE(void, tensor_unary_backward,
                    (::selfsup::UnaryOp op, ::selfsup::DType dt, const void* g, const void* s,
                     void* gx, int64_t n, double p0, double p1))
// out[kept] = scale * reduce over the dims with reduced[d] of x [shape] (contiguous). out has
// the kept dims' sizes (keepdim layout, contiguous). Empty reductions: 0 / -inf / +inf.
SELFSUP_ISA_DECLARE(void, tensor_reduce,
                    (::selfsup::ReduceOp op, ::selfsup::DType dt, const void* x, void* out, int nd,
                     const int64_t* shape, const bool* reduced, double scale))
// Softmax (or log-softmax) of x [outer, size, inner] along the middle dim.
SELFSUP_ISA_DECLARE(void, tensor_softmax,
                    (bool log, ::selfsup::DType dt, const void* x, void* y, int64_t outer,
                     int64_t size, int64_t inner))
// gx = y (g - sum(g y)) for softmax, g - exp(y) sum(g) for log-softmax; gx may alias g.
SELFSUP_ISA_DECLARE(void, tensor_softmax_backward,
                    (bool log, ::selfsup::DType dt, const void* g, const void* y, void* gx,
                     int64_t outer, int64_t size, int64_t inner))
// dst = src through loop L (operand 0 dst, 1 src, each with its strides and offset; a dst
// stride may not be 0); elem_size 1, 4 or 8 bytes.
SELFSUP_ISA_DECLARE(void, tensor_copy,
                    (int elem_size, void* dst, const void* src, const ::selfsup::Loop& L))
// y += alpha * x over n elements.
SELFSUP_ISA_DECLARE(void, tensor_axpy,
                    (::selfsup::DType dt, void* y, const void* x, int64_t n, double alpha))
