// Tensor core kernels (see params.h). Compiled once per ISA variant.
//
// How they are fast: every op is one pass over memory, split across the pool above a size
// threshold and run inline below it (a pool wake-up costs ~10-50 us, more than a small op). The
// inner loops are plain contiguous loops over __restrict pointers that the compiler vectorizes
// for the variant's ISA; the transcendentals are branch-free (selects, not branches) so they
// vectorize too. Broadcast operands are handled by giving the inner loop a stride of 0 or 1, so
// the common shapes (same shape, bias row, scalar) all run the contiguous loop.
// No FP-exception traps are relied on anywhere: without trapping math the compiler may turn the
// selects and clamps below into blends and vectorize the transcendental loops (with it, every
// comparison is "control flow" and those loops stay scalar, ~5x slower). Before the includes so
// that every inline function of this TU carries the same options (GCC does not inline across
// differing optimize attributes).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/math_f32.h"
#include "cpu/math_f32_simd.h"
#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/tensor/params.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

// Elements per task: memory-bound ops need large chunks to amortize the pool wake-up; ops that
// spend ~10+ cycles per element (transcendentals) are worth splitting earlier.
constexpr int64_t kGrainSimple = 64 * 1024;
constexpr int64_t kGrainHeavy = 8 * 1024;

// Runs fn(begin, end) over [0, n) in chunks of at least `grain`, inline when one chunk suffices.
template <class F>
void split(int64_t n, int64_t grain, F&& fn) {
  if (n <= grain || num_threads() == 1) {
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  parallel_for(n, grain, [&](int64_t b, int64_t e) { fn(b, e); });
}

// Runs row(off[3], n, inner_stride[3]) over every innermost row of L, in parallel chunks of rows
// (or of one long row). Offsets are element offsets per operand.
template <class Row>
void run_loop(const Loop& L, int64_t grain, Row&& row) {
  const int nops = L.nops;
  if (L.nd == 0) {  // a single element
    int64_t off[3] = {L.offset[0], L.offset[1], L.offset[2]};
    const int64_t st[3] = {0, 0, 0};
    row(off, int64_t(1), st);
    return;
  }
  const int last = L.nd - 1;
  const int64_t inner = L.shape[last];
  if (inner == 0) return;
  const int64_t rows = L.numel() / inner;
  const int64_t st[3] = {L.stride[0][last], nops > 1 ? L.stride[1][last] : 0, nops > 2 ? L.stride[2][last] : 0};
  if (rows == 1) {
    split(inner, grain, [&](int64_t b, int64_t e) {
      int64_t off[3];
      for (int k = 0; k < 3; k++) off[k] = L.offset[k] + b * st[k];
      row(off, e - b, st);
    });
    return;
  }
  const int64_t row_grain = std::max<int64_t>(1, grain / inner);
  split(rows, row_grain, [&](int64_t r0, int64_t r1) {
    // Multi-index of row r0 over the outer dims, then an odometer.
    int64_t idx[kLoopDims];
    int64_t off[3] = {L.offset[0], L.offset[1], L.offset[2]};
    int64_t r = r0;
    for (int d = last - 1; d >= 0; d--) {
      idx[d] = r % L.shape[d];
      r /= L.shape[d];
      for (int k = 0; k < nops; k++) off[k] += idx[d] * L.stride[k][d];
    }
    for (int64_t i = r0; i < r1; i++) {
      row(off, inner, st);
      for (int d = last - 1; d >= 0; d--) {
        for (int k = 0; k < nops; k++) off[k] += L.stride[k][d];
        if (++idx[d] < L.shape[d]) break;
        for (int k = 0; k < nops; k++) off[k] -= L.stride[k][d] * L.shape[d];
        idx[d] = 0;
      }
    }
  });
}

// ---- branch-free math (vectorizable) ---------------------------------------------------------

// Always inlined: a call left in a loop body stops it from vectorizing.
// The transcendental lambdas too: GCC 12 left tanh's (the largest body) as a call, and its loop
// scalar (8.3 ns per element instead of ~1).
#if defined(__GNUC__)
#define SELFSUP_TENSOR_INLINE inline __attribute__((always_inline))
#define SELFSUP_TENSOR_INLINE_LAMBDA __attribute__((always_inline))
#else
#define SELFSUP_TENSOR_INLINE inline
#define SELFSUP_TENSOR_INLINE_LAMBDA
#endif

SELFSUP_TENSOR_INLINE double as_double(int64_t i) { double d; std::memcpy(&d, &i, 8); return d; }

// e^x in double for the float32 softmax's strided columns and row tails: Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, then a degree-11 Taylor polynomial (relative error < 2e-16 on the
// reduced range) and 2^n built in the exponent field. n is rounded with the 1.5 * 2^52 shift
// trick, whose low mantissa bits then hold n, so no double -> int64 conversion is needed (AVX2
// has none: it would stop the loop from vectorizing). x is clamped to [-700, 700], so n + 1023
// stays in [13, 2033] (below -700 the result is 0); callers only need float range.
SELFSUP_TENSOR_INLINE double exp_d(double x) {
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52
  const double x0 = x;
  x = std::min(std::max(x, -700.0), 700.0);
  const double t = x * 1.4426950408889634 + kShift;
  const double n = t - kShift;
  const double r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  double p = 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  int64_t bits;
  std::memcpy(&bits, &t, 8);
  const double y = p * as_double(static_cast<int64_t>(static_cast<uint64_t>(bits + 1023) << 52));
  // Below the clamp the true value is far under every float result (and exactly 0 for -inf,
  // which an all -inf softmax row needs to come out NaN, as in PyTorch).
  return x0 < -700.0 ? 0.0 : y;
}

// The float32 unary ops: float32 lanes, branch-free (native/cpu/math_f32.h); sigmoid is written
// on Vec (native/cpu/math_f32_simd.h, 1.6x faster than its auto-vectorized scalar form).
SELFSUP_TENSOR_INLINE float exp_f(float x) { return mathf::exp(x); }
SELFSUP_TENSOR_INLINE float log_f(float x) { return mathf::log(x); }
SELFSUP_TENSOR_INLINE float tanh_f(float x) { return mathf::tanh(x); }

inline double sigmoid_d(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// ---- streaming outputs ------------------------------------------------------------------------

// A float32 output larger than half the last-level cache is written with streaming stores. Such a
// fresh output is rarely in cache: V8 frees a dead ArrayBuffer only after a GC, so malloc seldom
// hands back the block the previous op just wrote, and a normal store first reads each line it
// writes (read for ownership): a unary op then costs three memory passes instead of two.
// Streaming stores write whole lines without reading them, and leave the cache to the inputs.
// Measured on a 2-core Zen 4 (32 MiB L3), 4.8M floats times a scalar with 2 threads: 0.69 ms
// streaming; 0.77-0.88 ms with normal stores into buffers out of cache (rotating over 3-6); 0.47
// ms with normal stores into the buffer still in cache, which is what a reference-counted
// framework gets when the previous result is freed at once. Two such ops chained: 1.48 ms
// streaming, 1.90 ms normal. Below the threshold the output may still be in cache when the next
// op reads it, and normal stores win. Only the memory-bound ops stream: the transcendentals
// (exp, sigmoid at 4.8M floats) measured 20-30% slower with streaming stores.
template <class T>
bool streamed_out(const void* out, int64_t n, const void* in0, const void* in1 = nullptr) {
  return std::is_same<T, float>::value && out != in0 && out != in1 && out != tensor_warm_output() &&
         n * int64_t(sizeof(T)) >= tensor_stream_min_bytes();
}

constexpr int64_t kLineFloats = 64 / sizeof(float);

// Floats from y to the next cache-line boundary (n when y is not float aligned: no streaming).
SELFSUP_TENSOR_INLINE int64_t line_head(const float* y, int64_t n) {
  const auto addr = reinterpret_cast<uintptr_t>(y);
  if (addr & 3) return n;
  return std::min(n, static_cast<int64_t>(((64 - (addr & 63)) & 63) / 4));
}

// Writes y[0, n): fn(dst, i, m) computes the results for elements [i, i + m) into dst. The whole
// cache lines of y get them through a 4 KiB tile in L1 and streaming stores; the partial lines at
// the two ends are written directly, so no line receives both kinds of store (a line that does is
// written back partially and read again: 3x slower, measured on a bias add streamed row by row).
// The caller fences once per chunk.
template <class Fn>
SELFSUP_TENSOR_INLINE void stream_span(float* y, int64_t n, Fn&& fn) {
  constexpr int64_t kTile = 1024;
  alignas(64) float tile[kTile];
  const int64_t head = line_head(y, n);
  if (head > 0) fn(y, int64_t(0), head);
  int64_t i = head;
  while (n - i >= kLineFloats) {
    const int64_t m = std::min(kTile, (n - i) / kLineFloats * kLineFloats);
    fn(tile, i, m);
    for (int64_t k = 0; k < m; k += kVecWidth) stream_store(y + i + k, loadu(tile + k));
    i += m;
  }
  if (i < n) fn(y + i, i, n - i);
}

// ---- binary -----------------------------------------------------------------------------------

// One row: o[i] = f(x[i * sa], y[i * sb]), with the unit and broadcast strides as plain loops.
template <class T, class O, class F>
SELFSUP_TENSOR_INLINE void binary_row(O* __restrict o, const T* __restrict x, const T* __restrict y, int64_t n, int64_t sa, int64_t sb, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = f(x[i], y[i]);
  } else if (sa == 1 && sb == 0) {
    const T yv = y[0];
    for (int64_t i = 0; i < n; i++) o[i] = f(x[i], yv);
  } else if (sa == 0 && sb == 1) {
    const T xv = x[0];
    for (int64_t i = 0; i < n; i++) o[i] = f(xv, y[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i] = f(x[i * sa], y[i * sb]);
  }
}

// The streaming form: out is contiguous, so it is one flat span, streamed in tiles that may cover
// several rows (streaming row by row would leave lines at the row ends half streamed, half
// stored: measured 3x slower on a bias add with 384-float rows).
template <class T, class F>
void binary_flat_streamed(const Loop& L, float* out, const T* a, const T* b, F f) {
  const int last = L.nd - 1;
  const int64_t inner = L.shape[last], sa = L.stride[1][last], sb = L.stride[2][last];
  split(L.numel(), kGrainSimple, [&](int64_t b0, int64_t e0) {
    stream_span(out + L.offset[0] + b0, e0 - b0, [&](float* d, int64_t i, int64_t m) {
      for (int64_t k = b0 + i, end = b0 + i + m; k < end;) {
        int64_t r = k / inner, offa = L.offset[1], offb = L.offset[2];
        const int64_t c = k - r * inner, len = std::min(inner - c, end - k);
        for (int dd = last - 1; dd >= 0; dd--) {
          const int64_t ix = r % L.shape[dd];
          r /= L.shape[dd];
          offa += ix * L.stride[1][dd];
          offb += ix * L.stride[2][dd];
        }
        binary_row<T, float>(d + (k - b0 - i), a + offa + c * sa, b + offb + c * sb, len, sa, sb, f);
        k += len;
      }
    });
    stream_fence();
  });
}

// True when operand k of L walks its elements contiguously (row-major, no gaps).
inline bool loop_contiguous(const Loop& L, int k) {
  int64_t expect = 1;
  for (int d = L.nd - 1; d >= 0; d--) {
    if (L.stride[k][d] != expect) return false;
    expect *= L.shape[d];
  }
  return true;
}

template <class T, class O, class F>
void binary_rows(const Loop& L, O* out, const T* a, const T* b, F f) {
  if constexpr (std::is_same<O, float>::value && std::is_same<T, float>::value) {
    if (L.nd > 0 && loop_contiguous(L, 0) && streamed_out<float>(out, L.numel(), a, b)) return binary_flat_streamed<T>(L, out, a, b, f);
  }
  run_loop(L, kGrainSimple, [&](const int64_t* off, int64_t n, const int64_t* st) {
    binary_row<T, O>(out + off[0], a + off[1], b + off[2], n, st[1], st[2], f);
  });
}

// In place (out is a): the same rows with o and x the same pointer, so no __restrict on them.
template <class T, class F>
void binary_rows_inplace(const Loop& L, T* out, const T* b, F f) {
  run_loop(L, kGrainSimple, [&](const int64_t* off, int64_t n, const int64_t* st) {
    T* o = out + off[0];
    const T* __restrict y = b + off[2];
    if (st[2] == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = f(o[i], y[i]);
    } else if (st[2] == 0) {
      const T yv = y[0];
      for (int64_t i = 0; i < n; i++) o[i] = f(o[i], yv);
    } else {
      for (int64_t i = 0; i < n; i++) o[i] = f(o[i], y[i * st[2]]);
    }
  });
}

template <class T>
void binary_t(BinaryOp op, void* out, const void* a, const void* b, const Loop& L) {
  const T* A = static_cast<const T*>(a);
  const T* B = static_cast<const T*>(b);
  uint8_t* O8 = static_cast<uint8_t*>(out);
  T* O = static_cast<T*>(out);
  const bool inplace = out == a && L.offset[0] == L.offset[1];
  auto arith = [&](auto f) {
    if (inplace) binary_rows_inplace<T>(L, O, B, f);
    else binary_rows<T, T>(L, O, A, B, f);
  };
  switch (op) {
    case BinaryOp::kAdd: return arith([](T x, T y) { return x + y; });
    case BinaryOp::kSub: return arith([](T x, T y) { return x - y; });
    case BinaryOp::kMul: return arith([](T x, T y) { return x * y; });
    case BinaryOp::kDiv: return arith([](T x, T y) { return x / y; });
    case BinaryOp::kPow: return arith([](T x, T y) { return static_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(y))); });
    // NaN in either operand wins (PyTorch's maximum/minimum propagate NaN).
    case BinaryOp::kMaximum: return arith([](T x, T y) { return (x > y || x != x) ? x : y; });
    case BinaryOp::kMinimum: return arith([](T x, T y) { return (x < y || x != x) ? x : y; });
    case BinaryOp::kGt: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x > y); });
    case BinaryOp::kGe: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x >= y); });
    case BinaryOp::kLt: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x < y); });
    case BinaryOp::kLe: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x <= y); });
    case BinaryOp::kEq: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x == y); });
    case BinaryOp::kNe: return binary_rows<T, uint8_t>(L, O8, A, B, [](T x, T y) { return static_cast<uint8_t>(x != y); });
    case BinaryOp::kCount: break;
  }
}

// ---- unary ------------------------------------------------------------------------------------

// The loops take __restrict parameters (more reliably honoured by the vectorizer than restrict
// locals); the in-place form has its own loop.
template <class T, class F>
void loop1(const T* __restrict x, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}
template <class T, class F>
void loop1_inplace(T* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(y[i]);
}
template <class T, class F>
void loop2(const T* __restrict g, const T* __restrict s, T* __restrict gx, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) gx[i] = f(g[i], s[i]);
}

template <class T, class F>
void map1(const T* x, T* y, int64_t n, int64_t grain, F f) {
  const bool nt = grain == kGrainSimple && streamed_out<T>(y, n, x);
  split(n, grain, [&](int64_t b, int64_t e) {
    if (x == y) return loop1_inplace(y + b, e - b, f);
    if constexpr (std::is_same<T, float>::value) {
      if (nt) {
        stream_span(y + b, e - b, [&](float* d, int64_t i, int64_t m) { loop1(x + b + i, d, m, f); });
        return stream_fence();
      }
    }
    loop1(x + b, y + b, e - b, f);
  });
}

// The same over whole vectors, for functions written on Vec (cpu/math_f32_simd.h): every vector
// is loaded before it is stored, so y may alias x; the tail goes through a partial vector.
template <class F>
void map1_vec(const float* x, float* y, int64_t n, int64_t grain, F f) {
  split(n, grain, [&](int64_t b, int64_t e) {
    int64_t i = b;
    for (; i + kVecWidth <= e; i += kVecWidth) storeu(y + i, f(loadu(x + i)));
    if (i < e) store_partial(y + i, f(load_partial(x + i, static_cast<int>(e - i))), static_cast<int>(e - i));
  });
}

template <class T, class F>
void map2(const T* g, const T* s, T* gx, int64_t n, int64_t grain, F f) {
  const bool nt = grain == kGrainSimple && streamed_out<T>(gx, n, g, s);
  split(n, grain, [&](int64_t b, int64_t e) {
    if (gx == g) {  // in place over g (allowed by the binding): a plain loop
      for (int64_t i = b; i < e; i++) gx[i] = f(g[i], s[i]);
      return;
    }
    if constexpr (std::is_same<T, float>::value) {
      if (nt) {
        stream_span(gx + b, e - b, [&](float* d, int64_t i, int64_t m) { loop2(g + b + i, s + b + i, d, m, f); });
        return stream_fence();
      }
    }
    loop2(g + b, s + b, gx + b, e - b, f);
  });
}

void unary_f32(UnaryOp op, const float* x, float* y, int64_t n, double p0, double p1) {
  const float a = static_cast<float>(p0), c = static_cast<float>(p1);
  switch (op) {
    case UnaryOp::kNeg: return map1(x, y, n, kGrainSimple, [](float v) { return -v; });
    case UnaryOp::kExp: return map1(x, y, n, kGrainHeavy, [](float v) SELFSUP_TENSOR_INLINE_LAMBDA { return exp_f(v); });
    case UnaryOp::kLog: return map1(x, y, n, kGrainHeavy, [](float v) SELFSUP_TENSOR_INLINE_LAMBDA { return log_f(v); });
    case UnaryOp::kSqrt: return map1(x, y, n, kGrainSimple, [](float v) { return std::sqrt(v); });
    case UnaryOp::kRsqrt: return map1(x, y, n, kGrainSimple, [](float v) { return 1.0f / std::sqrt(v); });
    case UnaryOp::kSquare: return map1(x, y, n, kGrainSimple, [](float v) { return v * v; });
    case UnaryOp::kAbs: return map1(x, y, n, kGrainSimple, [](float v) { return std::fabs(v); });
    case UnaryOp::kRelu: return map1(x, y, n, kGrainSimple, [](float v) { return v > 0.0f ? v : 0.0f; });
    case UnaryOp::kSigmoid: return map1_vec(x, y, n, kGrainHeavy, [](Vec v) SELFSUP_TENSOR_INLINE_LAMBDA { return mathf::sigmoid_v(v); });
    case UnaryOp::kTanh: return map1(x, y, n, kGrainHeavy, [](float v) SELFSUP_TENSOR_INLINE_LAMBDA { return tanh_f(v); });
    case UnaryOp::kAffine: return map1(x, y, n, kGrainSimple, [a, c](float v) { return a * v + c; });
    case UnaryOp::kClamp: return map1(x, y, n, kGrainSimple, [a, c](float v) { return v < a ? a : v > c ? c : v; });
    case UnaryOp::kPowScalar:
      // x^2 (a loss's tokens.pow(2)) as one multiply: the double product of two floats is exact,
      // so rounding it once to float is the same value std::pow gives, without a libm call.
      if (p0 == 2.0) return map1(x, y, n, kGrainSimple, [](float v) { return v * v; });
      return map1(x, y, n, kGrainHeavy, [p0](float v) { return static_cast<float>(std::pow(static_cast<double>(v), p0)); });
    case UnaryOp::kLeakyRelu: return map1(x, y, n, kGrainSimple, [a](float v) { return v > 0.0f ? v : a * v; });
    case UnaryOp::kCount: break;
  }
}

void unary_f64(UnaryOp op, const double* x, double* y, int64_t n, double a, double c) {
  switch (op) {
    case UnaryOp::kNeg: return map1(x, y, n, kGrainSimple, [](double v) { return -v; });
    case UnaryOp::kExp: return map1(x, y, n, kGrainHeavy, [](double v) { return std::exp(v); });
    case UnaryOp::kLog: return map1(x, y, n, kGrainHeavy, [](double v) { return std::log(v); });
    case UnaryOp::kSqrt: return map1(x, y, n, kGrainSimple, [](double v) { return std::sqrt(v); });
    case UnaryOp::kRsqrt: return map1(x, y, n, kGrainSimple, [](double v) { return 1.0 / std::sqrt(v); });
    case UnaryOp::kSquare: return map1(x, y, n, kGrainSimple, [](double v) { return v * v; });
    case UnaryOp::kAbs: return map1(x, y, n, kGrainSimple, [](double v) { return std::fabs(v); });
    case UnaryOp::kRelu: return map1(x, y, n, kGrainSimple, [](double v) { return v > 0.0 ? v : 0.0; });
    case UnaryOp::kSigmoid: return map1(x, y, n, kGrainHeavy, [](double v) { return sigmoid_d(v); });
    case UnaryOp::kTanh: return map1(x, y, n, kGrainHeavy, [](double v) { return std::tanh(v); });
    case UnaryOp::kAffine: return map1(x, y, n, kGrainSimple, [a, c](double v) { return a * v + c; });
    case UnaryOp::kClamp: return map1(x, y, n, kGrainSimple, [a, c](double v) { return v < a ? a : v > c ? c : v; });
    case UnaryOp::kPowScalar: return map1(x, y, n, kGrainHeavy, [a](double v) { return std::pow(v, a); });
    case UnaryOp::kLeakyRelu: return map1(x, y, n, kGrainSimple, [a](double v) { return v > 0.0 ? v : a * v; });
    case UnaryOp::kCount: break;
  }
}

// The derivative formulas, written once for both dtypes (T is the storage type; the arithmetic is
// in T, as the TypeScript reference does it in float64 and PyTorch in the tensor's dtype).
template <class T>
void unary_backward_t(UnaryOp op, const T* g, const T* s, T* gx, int64_t n, double p0, double p1) {
  const T a = static_cast<T>(p0), c = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::kNeg: return map1(g, gx, n, kGrainSimple, [](T v) { return -v; });
    case UnaryOp::kExp: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return gv * y; });
    case UnaryOp::kLog: return map2(g, s, gx, n, kGrainSimple, [](T gv, T x) { return gv / x; });
    case UnaryOp::kSqrt: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return (T(0.5) * gv) / y; });
    case UnaryOp::kRsqrt: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return T(-0.5) * gv * y * y * y; });
    case UnaryOp::kSquare: return map2(g, s, gx, n, kGrainSimple, [](T gv, T x) { return T(2) * gv * x; });
    case UnaryOp::kAbs: return map2(g, s, gx, n, kGrainSimple, [](T gv, T x) { return x > 0 ? gv : x < 0 ? -gv : T(0); });
    case UnaryOp::kRelu: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return y > 0 ? gv : T(0); });
    case UnaryOp::kSigmoid: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return gv * y * (T(1) - y); });
    case UnaryOp::kTanh: return map2(g, s, gx, n, kGrainSimple, [](T gv, T y) { return gv * (T(1) - y * y); });
    case UnaryOp::kAffine: return map1(g, gx, n, kGrainSimple, [a](T gv) { return gv * a; });
    // PyTorch passes the gradient where lo <= x <= hi (inclusive bounds).
    case UnaryOp::kClamp: return map2(g, s, gx, n, kGrainSimple, [a, c](T gv, T x) { return x >= a && x <= c ? gv : T(0); });
    // d/dx x^p = p x^(p-1); 0 for p = 0 (PyTorch).
    case UnaryOp::kPowScalar:
      // p = 2: x^(p-1) = x exactly (IEEE pow(x, 1) = x), so the same product without the libm call.
      if (p0 == 2.0) return map2(g, s, gx, n, kGrainSimple, [](T gv, T x) { return static_cast<T>(static_cast<double>(gv) * 2.0 * static_cast<double>(x)); });
      return map2(g, s, gx, n, kGrainHeavy, [p0](T gv, T x) {
        return p0 == 0.0 ? T(0) : static_cast<T>(static_cast<double>(gv) * p0 * std::pow(static_cast<double>(x), p0 - 1.0));
      });
    case UnaryOp::kLeakyRelu: return map2(g, s, gx, n, kGrainSimple, [a](T gv, T x) { return x > 0 ? gv : a * gv; });
    case UnaryOp::kCount: break;
  }
}

// ---- reductions -------------------------------------------------------------------------------

// float64 sums accumulate in double. float32 rows accumulate in float32 vector lanes over blocks of
// kSumBlock elements, and the block totals in double: each lane adds at most kSumBlock / (4 lanes
// of kVecWidth) values before its partial goes to double, so the rounding error stays within a few
// ulp of the sum of |x| (near a double accumulation's), while the loop reads float32 at full speed
// (widening every element to double halved its throughput from L3). Split points are fixed by the
// size, so sums do not depend on the thread count.

constexpr int kLanes = 8;  // independent accumulators: lets the compiler keep a vector of them

template <class T>
double row_sum(const T* __restrict x, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; j++) acc[j] += static_cast<double>(x[i + j]);
  double s = 0;
  for (int j = 0; j < kLanes; j++) s += acc[j];
  for (; i < n; i++) s += static_cast<double>(x[i]);
  return s;
}
template <>
double row_sum<float>(const float* __restrict x, int64_t n) {
  constexpr int64_t kStep = 4 * kVecWidth;
  constexpr int64_t kSumBlock = 32 * kStep;  // 32 adds per lane between flushes
  VecD d0 = zero_d(), d1 = zero_d();
  int64_t i = 0;
  const int64_t body = n - n % kStep;
  while (i < body) {
    const int64_t end = std::min(body, i + kSumBlock);
    Vec a0 = zero_f(), a1 = zero_f(), a2 = zero_f(), a3 = zero_f();
    for (; i < end; i += kStep) {
      a0 = add(a0, loadu(x + i));
      a1 = add(a1, loadu(x + i + kVecWidth));
      a2 = add(a2, loadu(x + i + 2 * kVecWidth));
      a3 = add(a3, loadu(x + i + 3 * kVecWidth));
    }
    const Vec t = add(add(a0, a1), add(a2, a3));
    d0 = add(d0, widen_lo(t));
    d1 = add(d1, widen_hi(t));
  }
  double s = hsum(add(d0, d1));
  for (; i < n; i++) s += static_cast<double>(x[i]);
  return s;
}

// max (sign = 1) or min (sign = -1) of a row; NaN propagates.
template <class T>
T row_extreme(const T* __restrict x, int64_t n, bool is_max) {
  T acc[kLanes];
  const T init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  for (int j = 0; j < kLanes; j++) acc[j] = init;
  int64_t i = 0;
  if (is_max) {
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; j++) { const T v = x[i + j]; acc[j] = (v > acc[j] || v != v) ? v : acc[j]; }
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; j++) { const T v = x[i + j]; acc[j] = (v < acc[j] || v != v) ? v : acc[j]; }
  }
  T r = init;
  for (int j = 0; j < kLanes; j++) { const T v = acc[j]; r = ((is_max ? v > r : v < r) || v != v) ? v : r; }
  for (; i < n; i++) { const T v = x[i]; r = ((is_max ? v > r : v < r) || v != v) ? v : r; }
  return r;
}

// Output rows at least this wide are summed by column blocks (see reduce_t).
constexpr int64_t kWideColumns = 2048;

// Column sums of float32 rows: acc[j] += sum of x[r * w + j] over rows [r0, r1), j in [0, cw).
// Blocks of 32 rows are summed in float32 into f (cw floats, in L1) and flushed into the double
// acc, as row_sum does; f is updated four input rows per pass, so it is read and written once per
// four rows (one row per pass: [384, 12544] summed over rows took 0.44 ms, four: 0.29).
inline void col_sums_f32(const float* x, int64_t w, int64_t r0, int64_t r1, int64_t cw, float* __restrict f,
                         double* __restrict acc) {
  for (int64_t b0 = r0; b0 < r1; b0 += 32) {
    const int64_t b1 = std::min(r1, b0 + 32);
    const float* __restrict src = x + b0 * w;
    for (int64_t j = 0; j < cw; j++) f[j] = src[j];
    int64_t r = b0 + 1;
    for (; r + 4 <= b1; r += 4) {
      const float* __restrict s0 = x + r * w;
      const float* __restrict s1 = s0 + w;
      const float* __restrict s2 = s1 + w;
      const float* __restrict s3 = s2 + w;
      for (int64_t j = 0; j < cw; j++) f[j] += (s0[j] + s1[j]) + (s2[j] + s3[j]);
    }
    for (; r < b1; r++) {
      src = x + r * w;
      for (int64_t j = 0; j < cw; j++) f[j] += src[j];
    }
    for (int64_t j = 0; j < cw; j++) acc[j] += static_cast<double>(f[j]);
  }
}

// Reduction in canonical form: x viewed as [K..., R...] through strides (kept dims then reduced
// dims, each list coalesced). Two shapes cover the user's cases fast:
//  - the innermost input dim is reduced: each output is a sum over contiguous runs (row sums);
//  - the innermost input dim is kept: each output row accumulates contiguous runs (column sums,
//    e.g. the bias gradient [B*N, D] -> [D]).
template <class T>
void reduce_t(ReduceOp op, const T* x, T* out, int nd, const int64_t* shape, const bool* reduced, double scale) {
  // Coalesce dims of the same kind (x is contiguous, so adjacent same-kind dims always merge).
  int64_t dims[kLoopDims * 4];
  bool red[kLoopDims * 4];
  int m = 0;
  int64_t total = 1;
  for (int d = 0; d < nd; d++) {
    total *= shape[d];
    if (shape[d] == 1) continue;
    if (m > 0 && red[m - 1] == reduced[d]) dims[m - 1] *= shape[d];
    else { dims[m] = shape[d]; red[m] = reduced[d]; m++; }
  }
  int64_t nout = 1;
  for (int d = 0; d < nd; d++) if (!reduced[d]) nout *= shape[d];
  const bool is_sum = op == ReduceOp::kSum;
  const bool is_max = op == ReduceOp::kMax;
  const T init = is_sum ? T(0) : is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  if (total == 0) {  // empty input: every output is the identity (or nothing to write)
    for (int64_t i = 0; i < nout; i++) out[i] = static_cast<T>(is_sum ? 0.0 * scale : static_cast<double>(init));
    return;
  }
  // Strides of each coalesced dim in x.
  int64_t xst[kLoopDims * 4];
  {
    int64_t acc = 1;
    for (int d = m - 1; d >= 0; d--) { xst[d] = acc; acc *= dims[d]; }
  }
  // Kept and reduced lists (outermost first).
  int nk = 0, nr = 0;
  int64_t ks[kLoopDims * 4], kst[kLoopDims * 4], rs[kLoopDims * 4], rst[kLoopDims * 4];
  for (int d = 0; d < m; d++) {
    if (red[d]) { rs[nr] = dims[d]; rst[nr] = xst[d]; nr++; }
    else { ks[nk] = dims[d]; kst[nk] = xst[d]; nk++; }
  }
  int64_t nred = 1;
  for (int d = 0; d < nr; d++) nred *= rs[d];
  auto combine = [is_sum, is_max](double a, double v) {
    return is_sum ? a + v : ((is_max ? v > a : v < a) || v != v) ? v : a;
  };
  // Offset of kept multi-index k (flattened, row-major over ks).
  auto kept_offset = [&](int64_t k) {
    int64_t off = 0;
    for (int d = nk - 1; d >= 0; d--) { off += (k % ks[d]) * kst[d]; k /= ks[d]; }
    return off;
  };
  const bool inner_reduced = m > 0 && red[m - 1];
  if (nr == 0) {  // nothing reduced (all reduced dims have size 1): a scaled copy
    split(total, kGrainSimple, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) out[i] = static_cast<T>(is_sum ? static_cast<double>(x[i]) * scale : static_cast<double>(x[i]));
    });
    return;
  }
  if (inner_reduced) {
    // Each output: iterate the reduced multi-index with the innermost reduced dim as a
    // contiguous run of length rs[nr-1].
    const int64_t run = rs[nr - 1];
    const int64_t runs = nred / run;
    auto one = [&](int64_t k) -> double {
      const T* base = x + kept_offset(k);
      double acc = static_cast<double>(init);
      for (int64_t r = 0; r < runs; r++) {
        int64_t off = 0, rr = r;
        for (int d = nr - 2; d >= 0; d--) { off += (rr % rs[d]) * rst[d]; rr /= rs[d]; }
        const double v = is_sum ? row_sum(base + off, run) : static_cast<double>(row_extreme(base + off, run, is_max));
        acc = combine(acc, v);
      }
      return acc;
    };
    if (nr == 1 && nk == 1 && is_sum && nout >= 2) {
      // Contiguous rows [nout, run] (x.sum(-1)): a row is `run` elements from x + k * run, so the
      // general multi-index walk above (a division per kept dim per output) is skipped.
      split(nout, std::max<int64_t>(1, kGrainSimple / nred), [&](int64_t b, int64_t e) {
        const T* xr = x + b * run;
        for (int64_t k = b; k < e; k++, xr += run) out[k] = static_cast<T>(row_sum(xr, run) * scale);
      });
      return;
    }
    if (nout >= 2 || nred < 2 * kGrainSimple) {
      split(nout, std::max<int64_t>(1, kGrainSimple / nred), [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; k++) out[k] = static_cast<T>(is_sum ? one(k) * scale : one(k));
      });
      return;
    }
    // One output over a long input (x.sum()): fixed chunks per task, partials combined in order
    // (deterministic for a given thread count and size).
    const int64_t chunk = kGrainSimple;
    const int64_t nchunks = (total + chunk - 1) / chunk;
    std::vector<double> part(static_cast<size_t>(nchunks));
    split(nchunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; c++) {
        const int64_t s0 = c * chunk, len = std::min(chunk, total - s0);
        part[static_cast<size_t>(c)] = is_sum ? row_sum(x + s0, len) : static_cast<double>(row_extreme(x + s0, len, is_max));
      }
    });
    double acc = static_cast<double>(init);
    for (double p : part) acc = combine(acc, p);
    out[0] = static_cast<T>(is_sum ? acc * scale : acc);
    return;
  }
  // Innermost dim kept: outputs come in contiguous rows of width w = ks[nk-1] (x stride 1).
  const int64_t w = ks[nk - 1];
  if (nk == 1 && nr == 1 && is_sum && w >= kWideColumns) {
    // x is [R, w] summed over rows with wide rows (x.sum(0) of [384, 12544], VICReg's mean over
    // the batch of [256, 8192]): tasks own column blocks and read every row's segment of their
    // block, so no partial rows are combined afterwards. Splitting rows instead made 64 partial
    // rows of w doubles, added serially: [384, 12544] took 1.24 ms, torch 0.23 (Zen 3, 2 threads).
    // Accumulation as below (float32 blocks of 32 rows flushed into double); no partials to order,
    // so the sums do not depend on the split at all.
    const int64_t R = rs[0];
    const int64_t cbw = std::min<int64_t>(2048, std::max<int64_t>(256, (w / 8 + 63) / 64 * 64));
    const int64_t nblk = (w + cbw - 1) / cbw;
    split(nblk, 1, [&](int64_t b, int64_t e) {
      std::vector<double> accv(static_cast<size_t>(cbw));
      std::vector<float> fv(static_cast<size_t>(cbw));
      for (int64_t blk = b; blk < e; blk++) {
        const int64_t c0 = blk * cbw, cw = std::min(cbw, w - c0);
        double* __restrict acc = accv.data();
        for (int64_t j = 0; j < cw; j++) acc[j] = 0.0;
        if constexpr (std::is_same_v<T, float>) {
          col_sums_f32(x + c0, w, 0, R, cw, fv.data(), acc);
        } else {
          for (int64_t r = 0; r < R; r++) {
            const T* __restrict src = x + r * w + c0;
            for (int64_t j = 0; j < cw; j++) acc[j] += static_cast<double>(src[j]);
          }
        }
        for (int64_t j = 0; j < cw; j++) out[c0 + j] = static_cast<T>(acc[j] * scale);
      }
    });
    return;
  }
  if (nk == 1 && nr == 1 && is_sum) {
    // x is [R, w] summed over rows (the bias gradient): chunks of whole rows per task, read
    // contiguously into a double partial row each, then the partials added in chunk order
    // (deterministic for a given size).
    const int64_t R = rs[0];
    const int64_t nchunks = std::min<int64_t>(R, std::max<int64_t>(1, std::min<int64_t>(64, R * w / kGrainSimple)));
    const int64_t per = (R + nchunks - 1) / nchunks;
    std::vector<double> part(static_cast<size_t>(nchunks * w), 0.0);
    split(nchunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; c++) {
        double* __restrict acc = part.data() + c * w;
        const int64_t r1 = std::min(R, (c + 1) * per);
        if constexpr (std::is_same_v<T, float>) {
          // float32 partial rows over blocks of 32 input rows, flushed into double (as row_sum).
          std::vector<float> fbuf(static_cast<size_t>(w));
          col_sums_f32(x, w, c * per, r1, w, fbuf.data(), acc);
        } else {
          for (int64_t r = c * per; r < r1; r++) {
            const T* __restrict src = x + r * w;
            for (int64_t j = 0; j < w; j++) acc[j] += static_cast<double>(src[j]);
          }
        }
      }
    });
    for (int64_t c = 1; c < nchunks; c++)
      for (int64_t j = 0; j < w; j++) part[static_cast<size_t>(j)] += part[static_cast<size_t>(c * w + j)];
    for (int64_t j = 0; j < w; j++) out[j] = static_cast<T>(part[static_cast<size_t>(j)] * scale);
    return;
  }
  const int64_t orows = nout / w;
  // Split the width into column blocks so both threads work even when there is one output row.
  const int64_t cb = std::max<int64_t>(64, std::min<int64_t>(w, (kGrainSimple + nred - 1) / nred));
  const int64_t nblk = (w + cb - 1) / cb;
  const int64_t tasks = orows * nblk;
  auto do_task = [&](int64_t t, double* acc) {
    const int64_t orow = t / nblk, c0 = (t % nblk) * cb, cw = std::min(cb, w - c0);
    // kept offset of (orow, c0): orow indexes the kept dims except the last.
    int64_t off = 0, k = orow;
    for (int d = nk - 2; d >= 0; d--) { off += (k % ks[d]) * kst[d]; k /= ks[d]; }
    const T* base = x + off + c0;
    for (int64_t j = 0; j < cw; j++) acc[j] = static_cast<double>(init);
    for (int64_t r = 0; r < nred; r++) {
      int64_t roff = 0, rr = r;
      for (int d = nr - 1; d >= 0; d--) { roff += (rr % rs[d]) * rst[d]; rr /= rs[d]; }
      const T* __restrict src = base + roff;
      if (is_sum) {
        for (int64_t j = 0; j < cw; j++) acc[j] += static_cast<double>(src[j]);
      } else if (is_max) {
        for (int64_t j = 0; j < cw; j++) { const double v = src[j]; acc[j] = (v > acc[j] || v != v) ? v : acc[j]; }
      } else {
        for (int64_t j = 0; j < cw; j++) { const double v = src[j]; acc[j] = (v < acc[j] || v != v) ? v : acc[j]; }
      }
    }
    T* o = out + orow * w + c0;
    for (int64_t j = 0; j < cw; j++) o[j] = static_cast<T>(is_sum ? acc[j] * scale : acc[j]);
  };
  split(tasks, std::max<int64_t>(1, kGrainSimple / std::max<int64_t>(1, nred * cb)), [&](int64_t b, int64_t e) {
    std::vector<double> acc(static_cast<size_t>(cb));
    for (int64_t t = b; t < e; t++) do_task(t, acc.data());
  });
}

// ---- softmax ----------------------------------------------------------------------------------

// float32 rows (inner == 1, the common case) with the simd layer: the exponentials in float
// (vexp, <= 1 ulp), the denominator summed in double. A NaN or +inf in the row makes the sum NaN,
// so the whole row comes out NaN as in PyTorch; an all -inf row gives 0 / 0 = NaN too.
float row_max_f32(const float* x, int64_t n) {
  Vec m = broadcast(-std::numeric_limits<float>::infinity());
  int64_t k = 0;
  for (; k + kVecWidth <= n; k += kVecWidth) m = max(m, loadu(x + k));
  float r = hmax(m);
  for (; k < n; k++) r = x[k] > r ? x[k] : r;
  return r;
}

// y = exp(x - mx); returns sum(y) in double.
double exp_store_sum_f32(const float* __restrict x, float* __restrict y, int64_t n, float mx) {
  const Vec vm = broadcast(mx);
  VecD s0 = zero_d(), s1 = zero_d();
  int64_t k = 0;
  for (; k + kVecWidth <= n; k += kVecWidth) {
    const Vec e = vexp(sub(loadu(x + k), vm));
    storeu(y + k, e);
    s0 = add(s0, widen_lo(e));
    s1 = add(s1, widen_hi(e));
  }
  double s = hsum(add(s0, s1));
  for (; k < n; k++) {
    y[k] = static_cast<float>(exp_d(static_cast<double>(x[k]) - static_cast<double>(mx)));
    s += y[k];
  }
  return s;
}

void softmax_row_f32(bool log, const float* __restrict x, float* __restrict y, int64_t n) {
  const float m0 = row_max_f32(x, n);
  const float mx = m0 == -std::numeric_limits<float>::infinity() ? 0.0f : m0;
  const double s = exp_store_sum_f32(x, y, n, mx);
  if (log) {
    const double lse = static_cast<double>(mx) + std::log(s);
    for (int64_t k = 0; k < n; k++) y[k] = static_cast<float>(static_cast<double>(x[k]) - lse);
  } else {
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t k = 0; k < n; k++) y[k] *= inv;
  }
}

// float64 rows: libm exponentials (the float64 path is the exact one).
void softmax_row_f64(bool log, const double* __restrict x, double* __restrict y, int64_t size) {
  const double mx0 = row_extreme(x, size, true);
  const double mx = mx0 == -std::numeric_limits<double>::infinity() ? 0.0 : mx0;
  double s = 0;
  for (int64_t k = 0; k < size; k++) s += std::exp(x[k] - mx);
  if (log) {
    const double lse = mx + std::log(s);
    for (int64_t k = 0; k < size; k++) y[k] = x[k] - lse;
  } else {
    const double inv = 1.0 / s;
    for (int64_t k = 0; k < size; k++) y[k] = std::exp(x[k] - mx) * inv;
  }
}

inline void softmax_row(bool log, const float* x, float* y, int64_t n) { softmax_row_f32(log, x, y, n); }
inline void softmax_row(bool log, const double* x, double* y, int64_t n) { softmax_row_f64(log, x, y, n); }

// Row backward (inner == 1). softmax: gx = y (g - sum(g y)); log-softmax: gx = g - exp(y) sum(g).
// The row sums in double; float32 exponentials of y <= 0 with vexp.
double row_dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  VecD s0 = zero_d(), s1 = zero_d();
  int64_t k = 0;
  for (; k + kVecWidth <= n; k += kVecWidth) {
    const Vec va = loadu(a + k), vb = loadu(b + k);
    s0 = fma(widen_lo(va), widen_lo(vb), s0);
    s1 = fma(widen_hi(va), widen_hi(vb), s1);
  }
  double s = hsum(add(s0, s1));
  for (; k < n; k++) s += static_cast<double>(a[k]) * static_cast<double>(b[k]);
  return s;
}
double row_dot(const double* __restrict a, const double* __restrict b, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; k++) s += a[k] * b[k];
  return s;
}

void softmax_row_backward(bool log, const float* __restrict g, const float* __restrict y, float* gx, int64_t n) {
  if (log) {
    const float s = static_cast<float>(row_sum(g, n));
    const Vec vs = broadcast(s);
    int64_t k = 0;
    for (; k + kVecWidth <= n; k += kVecWidth) storeu(gx + k, fnma(vexp(loadu(y + k)), vs, loadu(g + k)));
    for (; k < n; k++) gx[k] = g[k] - exp_f(y[k]) * s;
  } else {
    const float s = static_cast<float>(row_dot(g, y, n));
    for (int64_t k = 0; k < n; k++) gx[k] = y[k] * (g[k] - s);
  }
}
void softmax_row_backward(bool log, const double* __restrict g, const double* __restrict y, double* gx, int64_t n) {
  if (log) {
    const double s = row_sum(g, n);
    for (int64_t k = 0; k < n; k++) gx[k] = g[k] - std::exp(y[k]) * s;
  } else {
    const double s = row_dot(g, y, n);
    for (int64_t k = 0; k < n; k++) gx[k] = y[k] * (g[k] - s);
  }
}

// Softmax along a strided dim: columns of width `inner` handled together (vectorized across
// the inner dim), with double accumulators.
template <class T>
void softmax_cols(bool log, const T* x, T* y, int64_t size, int64_t inner, double* mx, double* s) {
  for (int64_t i = 0; i < inner; i++) { mx[i] = -std::numeric_limits<double>::infinity(); s[i] = 0; }
  for (int64_t d = 0; d < size; d++) {
    const T* r = x + d * inner;
    for (int64_t i = 0; i < inner; i++) { const double v = r[i]; mx[i] = (v > mx[i] || v != v) ? v : mx[i]; }
  }
  for (int64_t i = 0; i < inner; i++) if (mx[i] == -std::numeric_limits<double>::infinity()) mx[i] = 0;
  for (int64_t d = 0; d < size; d++) {
    const T* r = x + d * inner;
    for (int64_t i = 0; i < inner; i++) s[i] += sizeof(T) == 4 ? exp_d(r[i] - mx[i]) : std::exp(r[i] - mx[i]);
  }
  for (int64_t i = 0; i < inner; i++) s[i] = log ? mx[i] + std::log(s[i]) : 1.0 / s[i];
  for (int64_t d = 0; d < size; d++) {
    const T* r = x + d * inner;
    T* o = y + d * inner;
    for (int64_t i = 0; i < inner; i++)
      o[i] = static_cast<T>(log ? r[i] - s[i] : (sizeof(T) == 4 ? exp_d(r[i] - mx[i]) : std::exp(r[i] - mx[i])) * s[i]);
  }
}

template <class T>
void softmax_t(bool log, const T* x, T* y, int64_t outer, int64_t size, int64_t inner) {
  if (inner == 1) {
    split(outer, std::max<int64_t>(1, kGrainHeavy / std::max<int64_t>(1, size)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) softmax_row(log, x + o * size, y + o * size, size);
    });
    return;
  }
  split(outer, std::max<int64_t>(1, kGrainHeavy / std::max<int64_t>(1, size * inner)), [&](int64_t b, int64_t e) {
    std::vector<double> mx(static_cast<size_t>(inner)), s(static_cast<size_t>(inner));
    for (int64_t o = b; o < e; o++) softmax_cols(log, x + o * size * inner, y + o * size * inner, size, inner, mx.data(), s.data());
  });
}

template <class T>
void softmax_backward_t(bool log, const T* g, const T* y, T* gx, int64_t outer, int64_t size, int64_t inner) {
  if (inner == 1) {
    split(outer, std::max<int64_t>(1, kGrainSimple / std::max<int64_t>(1, size)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) softmax_row_backward(log, g + o * size, y + o * size, gx + o * size, size);
    });
    return;
  }
  split(outer, std::max<int64_t>(1, kGrainSimple / std::max<int64_t>(1, size * inner)), [&](int64_t b, int64_t e) {
    std::vector<double> acc(static_cast<size_t>(inner));
    for (int64_t o = b; o < e; o++) {
      const int64_t base = o * size * inner;
      const T* G = g + base;
      const T* Y = y + base;
      T* X = gx + base;
      std::fill(acc.begin(), acc.end(), 0.0);
      // softmax: gx = y (g - sum(g y)); logSoftmax: gx = g - exp(y) sum(g)
      for (int64_t d = 0; d < size; d++)
        for (int64_t i = 0; i < inner; i++) {
          const int64_t k = d * inner + i;
          acc[static_cast<size_t>(i)] += log ? static_cast<double>(G[k]) : static_cast<double>(G[k]) * static_cast<double>(Y[k]);
        }
      for (int64_t d = 0; d < size; d++)
        for (int64_t i = 0; i < inner; i++) {
          const int64_t k = d * inner + i;
          const double a = acc[static_cast<size_t>(i)];
          if (log) {
            const double ey = sizeof(T) == 4 ? exp_d(static_cast<double>(Y[k])) : std::exp(static_cast<double>(Y[k]));
            X[k] = static_cast<T>(static_cast<double>(G[k]) - ey * a);
          } else {
            X[k] = static_cast<T>(static_cast<double>(Y[k]) * (static_cast<double>(G[k]) - a));
          }
        }
    }
  });
}

// ---- copy / axpy ------------------------------------------------------------------------------

template <class E>
void copy_t(E* dst, const E* src, const Loop& L) {
  run_loop(L, kGrainSimple, [&](const int64_t* off, int64_t n, const int64_t* st) {
    E* __restrict o = dst + off[0];
    const E* __restrict s = src + off[1];
    if (st[0] == 1 && st[1] == 1) std::memcpy(o, s, static_cast<size_t>(n) * sizeof(E));
    else if (st[0] == 1 && st[1] == 0) { const E v = s[0]; for (int64_t i = 0; i < n; i++) o[i] = v; }
    else if (st[0] == 1) { const int64_t ss = st[1]; for (int64_t i = 0; i < n; i++) o[i] = s[i * ss]; }
    else { const int64_t so = st[0], ss = st[1]; for (int64_t i = 0; i < n; i++) o[i * so] = s[i * ss]; }
  });
}

template <class T>
void axpy_t(T* y, const T* x, int64_t n, double alpha) {
  const T a = static_cast<T>(alpha);
  split(n, kGrainSimple, [&](int64_t b, int64_t e) {
    T* __restrict yy = y + b;
    const T* __restrict xx = x + b;
    const int64_t m = e - b;
    if (alpha == 1.0) for (int64_t i = 0; i < m; i++) yy[i] += xx[i];
    else for (int64_t i = 0; i < m; i++) yy[i] += a * xx[i];
  });
}

}  // namespace

void tensor_binary(BinaryOp op, DType dt, void* out, const void* a, const void* b, const Loop& L) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] { binary_t<T>(op, out, a, b, L); });
}

void tensor_unary(UnaryOp op, DType dt, const void* x, void* y, int64_t n, double p0, double p1) {
  if (dt == DType::kFloat32) unary_f32(op, static_cast<const float*>(x), static_cast<float*>(y), n, p0, p1);
  else unary_f64(op, static_cast<const double*>(x), static_cast<double*>(y), n, p0, p1);
}

void tensor_unary_backward(UnaryOp op, DType dt, const void* g, const void* s, void* gx, int64_t n, double p0, double p1) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] {
    unary_backward_t<T>(op, static_cast<const T*>(g), static_cast<const T*>(s), static_cast<T*>(gx), n, p0, p1);
  });
}

void tensor_reduce(ReduceOp op, DType dt, const void* x, void* out, int nd, const int64_t* shape, const bool* reduced, double scale) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] { reduce_t<T>(op, static_cast<const T*>(x), static_cast<T*>(out), nd, shape, reduced, scale); });
}

void tensor_softmax(bool log, DType dt, const void* x, void* y, int64_t outer, int64_t size, int64_t inner) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] { softmax_t<T>(log, static_cast<const T*>(x), static_cast<T*>(y), outer, size, inner); });
}

void tensor_softmax_backward(bool log, DType dt, const void* g, const void* y, void* gx, int64_t outer, int64_t size, int64_t inner) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] {
    softmax_backward_t<T>(log, static_cast<const T*>(g), static_cast<const T*>(y), static_cast<T*>(gx), outer, size, inner);
  });
}

void tensor_copy(int elem_size, void* dst, const void* src, const Loop& L) {
  if (elem_size == 8) copy_t<uint64_t>(static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), L);
  else if (elem_size == 4) copy_t<uint32_t>(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), L);
  else copy_t<uint8_t>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), L);
}

void tensor_axpy(DType dt, void* y, const void* x, int64_t n, double alpha) {
  SELFSUP_FLOAT_SWITCH(dt, T, [&] { axpy_t<T>(static_cast<T*>(y), static_cast<const T*>(x), n, alpha); });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
