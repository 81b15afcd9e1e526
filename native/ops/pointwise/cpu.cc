// GELU, LayerNorm, bias fill / column sums on CPU: forward and backward side by side (math and
// conventions in params.h). Written once over simd.h; parallel_for over rows (or flat element
// ranges) with grains of ~16k elements so the small tensors of the op tests stay single-threaded.
//
// float32 exact GELU: Phi(x) from its lower tail Phi(-a) (a = |x|), which keeps relative accuracy
// where Phi is tiny (x << 0; 1 + erf(x / sqrt 2) cancels there, and a clamped erf leaves a constant
// floor). Evaluated on float32 vectors (native/cpu/math_f32_simd.h: explicit SIMD for |x| <= 4,
// math_f32.h's scalar gelu_erf / gelu_erf_grad for the other lanes).
// float64 uses libm's erfc / exp / tanh (double accuracy; the element loop is scalar).
//
// Column reductions (bias gradients, LayerNorm dweight / dbias) use one partial row per fixed-size
// chunk of rows (the chunking depends on the shape only, not on the thread count, so results are
// deterministic), summed in double at the end.
// Without trapping math GCC turns the selects of the float32 GELU into blends and vectorizes its
// loops (see native/ops/tensor/cpu.cc). Before the includes, so every inline function agrees.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

// This file's vector loops step by 8 floats (GELU spans, the LayerNorm blocks): it keeps 8-lane
// vectors in the avx512 variant too (simd.h, SELFSUP_SIMD_YMM).
#define SELFSUP_SIMD_YMM 1
#include "cpu/math_f32_simd.h"
#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/pointwise/params.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

constexpr int64_t kGrainElems = 16384;

inline int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(cols, 1)); }

// ---- float32 lanes -------------------------------------------------------------------------
constexpr float kTanhK = 0.79788456080286536f, kTanhC = 0.044715f;

// The tanh form's gelu and gelu' for one vector of (already biased) inputs.
SELFSUP_SIMD_INLINE Vec gelu_tanh_v(Vec x) {
  // 0.5 (1 + tanh u) = sigmoid(2u): y = x / (1 + exp(-2u)), no cancellation, inf-safe.
  const Vec u2 = x * fma(broadcast(-2.0f * kTanhK * kTanhC), x * x, broadcast(-2.0f * kTanhK));
  return x / (broadcast(1.0f) + vexp(u2));
}
SELFSUP_SIMD_INLINE Vec gelu_tanh_grad_v(Vec x) {
  const Vec x2 = x * x;
  const Vec e = vexp(x * fma(broadcast(-2.0f * kTanhK * kTanhC), x2, broadcast(-2.0f * kTanhK)));
  const Vec s = broadcast(1.0f) / (broadcast(1.0f) + e);
  // d/dx = s + 2 x s (1 - s) K (1 + 3 c x^2), with 1 - s = e s (no cancellation as s -> 1).
  // e = inf (x -> -inf): s = 0 and e s = NaN, so the product term is taken as 0 there.
  const Vec du = fma(broadcast(6.0f * kTanhK * kTanhC), x2, broadcast(2.0f * kTanhK));
  const Vec t = x * min(e * s, broadcast(1.0f)) * s;
  return fma(t, du, s);
}

// One vector of either form; the erf form's lanes beyond the fast path's |x| <= 4 (and NaN) go
// through math_f32.h's scalar code (cpu/math_f32_simd.h).
template <GeluMode M> SELFSUP_SIMD_INLINE Vec gelu_v(Vec v) {
  if constexpr (M == GeluMode::kErf) return mathf::gelu_erf_v(v);
  else return gelu_tanh_v(v);
}
template <GeluMode M> SELFSUP_SIMD_INLINE Vec gelu_grad_v(Vec v) {
  if constexpr (M == GeluMode::kErf) return mathf::gelu_erf_grad_v(v);
  else return gelu_tanh_grad_v(v);
}
// Two vectors at a time: the erf form tests both for the fast path at once, and their long
// dependency chains (a division, two polynomials) overlap (1.2x faster than one at a time, Zen 4).
template <GeluMode M, bool Grad> SELFSUP_SIMD_INLINE void gelu_pair(Vec& v0, Vec& v1) {
  if constexpr (M == GeluMode::kErf) {
    if (mathf::gelu_fast_ok(max(abs(v0), abs(v1)))) {
      v0 = Grad ? mathf::gelu_erf_grad_fast(v0) : mathf::gelu_erf_fast(v0);
      v1 = Grad ? mathf::gelu_erf_grad_fast(v1) : mathf::gelu_erf_fast(v1);
      return;
    }
  }
  v0 = Grad ? gelu_grad_v<M>(v0) : gelu_v<M>(v0);
  v1 = Grad ? gelu_grad_v<M>(v1) : gelu_v<M>(v1);
}

// One contiguous span; b (bias aligned with x[0]) may be null. y may alias x: every vector is
// loaded before it is stored.
template <GeluMode M>
void gelu_span(const float* x, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 2 * kVecWidth <= n; i += 2 * kVecWidth) {
    Vec v0 = loadu(x + i), v1 = loadu(x + i + kVecWidth);
    if (b) v0 = v0 + loadu(b + i), v1 = v1 + loadu(b + i + kVecWidth);
    gelu_pair<M, false>(v0, v1);
    storeu(y + i, v0);
    storeu(y + i + kVecWidth, v1);
  }
  for (; i < n; i += kVecWidth) {
    const int r = static_cast<int>(std::min<int64_t>(kVecWidth, n - i));
    Vec v = load_partial(x + i, r);
    if (b) v = v + load_partial(b + i, r);
    store_partial(y + i, gelu_v<M>(v), r);
  }
}
// dx = g gelu'(x + b); acc[j] += dx[j] when acc is given. Loads precede the stores (dx may alias g).
template <GeluMode M>
void gelu_grad_span(const float* g, const float* x, const float* b, float* dx, float* acc, int64_t n) {
  int64_t i = 0;
  for (; i + 2 * kVecWidth <= n; i += 2 * kVecWidth) {
    Vec v0 = loadu(x + i), v1 = loadu(x + i + kVecWidth);
    if (b) v0 = v0 + loadu(b + i), v1 = v1 + loadu(b + i + kVecWidth);
    gelu_pair<M, true>(v0, v1);
    const Vec d0 = loadu(g + i) * v0, d1 = loadu(g + i + kVecWidth) * v1;
    if (acc) {
      storeu(acc + i, loadu(acc + i) + d0);
      storeu(acc + i + kVecWidth, loadu(acc + i + kVecWidth) + d1);
    }
    storeu(dx + i, d0);
    storeu(dx + i + kVecWidth, d1);
  }
  for (; i < n; i += kVecWidth) {
    const int r = static_cast<int>(std::min<int64_t>(kVecWidth, n - i));
    Vec v = load_partial(x + i, r);
    if (b) v = v + load_partial(b + i, r);
    const Vec d = load_partial(g + i, r) * gelu_grad_v<M>(v);
    if (acc) store_partial(acc + i, load_partial(acc + i, r) + d, r);
    store_partial(dx + i, d, r);
  }
}

// ---- float64: libm, scalar ------------------------------------------------------------------
// Phi(x) = erfc(-x / sqrt 2) / 2: relative accuracy on the lower tail, where 1 + erf cancels.
inline double normal_cdf(double x) { return 0.5 * std::erfc(x * -0.7071067811865476); }
template <GeluMode M> inline double gelu_d(double x) {
  if constexpr (M == GeluMode::kErf) {
    const double p = normal_cdf(x);
    return p == 0.0 ? -0.0 : x * p;  // Phi underflows to 0 below x = -38.5; -inf * 0 would be NaN
  } else {
    return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  }
}
template <GeluMode M> inline double gelu_grad_d(double x) {
  if constexpr (M == GeluMode::kErf) {
    // x phi(x) is 0 in double beyond |x| = 40 (and inf * 0 would be NaN)
    return normal_cdf(x) + (std::fabs(x) < 40.0 ? x * 0.3989422804014327 * std::exp(-0.5 * x * x) : 0.0);
  } else {
    const double K = 0.7978845608028654, t = std::tanh(K * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * K * (1.0 + 3.0 * 0.044715 * x * x);
  }
}
template <GeluMode M>
void gelu_span(const double* x, const double* b, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_d<M>(b ? x[i] + b[i] : x[i]);
}
template <GeluMode M>
void gelu_grad_span(const double* g, const double* x, const double* b, double* dx, double* acc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double d = g[i] * gelu_grad_d<M>(b ? x[i] + b[i] : x[i]);
    if (acc) acc[i] += d;
    dx[i] = d;
  }
}

// Column sums over [rows, cols] through per-chunk partial rows of type A: body(r0, r1, partial)
// fills the chunk's nout partial rows (zeroed, cols wide each); they are summed in double into
// each out[k].
template <class T, class A = T, class Body>
void chunked_column_sums(int64_t rows, int64_t cols, int nout, T* const* out, Body&& body) {
  const int64_t chunk = row_grain(cols);
  const int64_t nchunks = (rows + chunk - 1) / chunk;
  std::vector<A> part(static_cast<size_t>(std::max<int64_t>(nchunks, 1) * nout * cols), A(0));
  parallel_for(nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      body(c * chunk, std::min(rows, (c + 1) * chunk), part.data() + c * nout * cols);
  });
  // Chunk by chunk over contiguous rows of partials (the compiler vectorizes it): each column
  // still adds its partials in chunk order. Column by column, the strided walk was serial and
  // took most of the time at 1536 columns: a float32 [2080, 1536] sum went 1.08 -> 0.39 ms
  // (2-core Zen 4).
  std::vector<double> sum(static_cast<size_t>(cols));
  for (int k = 0; k < nout; ++k) {
    if (!out[k]) continue;
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int64_t c = 0; c < nchunks; ++c) {
      const A* pc = part.data() + (c * nout + k) * cols;
      for (int64_t j = 0; j < cols; ++j) sum[j] += pc[j];
    }
    for (int64_t j = 0; j < cols; ++j) out[k][j] = static_cast<T>(sum[j]);
  }
}

template <class T, GeluMode M>
void gelu_fwd(const GeluParams& p, T* y) {
  const T* x = static_cast<const T*>(p.x);
  const T* b = static_cast<const T*>(p.bias);
  const int64_t rows = p.rows, cols = p.cols;
  if (!b) {
    parallel_for(rows * cols, kGrainElems, [&](int64_t i0, int64_t i1) { gelu_span<M>(x + i0, nullptr, y + i0, i1 - i0); });
    return;
  }
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) gelu_span<M>(x + r * cols, b, y + r * cols, cols);
  });
}

template <class T, GeluMode M>
void gelu_bwd(const GeluParams& p, const T* g, T* dx, T* dbias) {
  const T* x = static_cast<const T*>(p.x);
  const T* b = static_cast<const T*>(p.bias);
  const int64_t rows = p.rows, cols = p.cols;
  if (!dbias) {
    if (!b) {
      parallel_for(rows * cols, kGrainElems, [&](int64_t i0, int64_t i1) {
        gelu_grad_span<M>(g + i0, x + i0, nullptr, dx + i0, static_cast<T*>(nullptr), i1 - i0);
      });
    } else {
      parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          gelu_grad_span<M>(g + r * cols, x + r * cols, b, dx + r * cols, static_cast<T*>(nullptr), cols);
      });
    }
    return;
  }
  T* outs[1] = {dbias};
  chunked_column_sums<T>(rows, cols, 1, outs, [&](int64_t r0, int64_t r1, T* acc) {
    for (int64_t r = r0; r < r1; ++r) gelu_grad_span<M>(g + r * cols, x + r * cols, b, dx + r * cols, acc, cols);
  });
}

// ---- LayerNorm (both dtypes; arithmetic in double lanes) -------------------------------------
// The float32 path widens to double for the row statistics and the per-element formulas and
// rounds once at the store: float lanes measured 2.6x the reference's error on the ViT step's
// patch-embedding gradient (a sum that cancels to ~1e-8 of its terms, bench vit_step), double
// lanes match the float64-accumulating TS kernel. Blocks of 8 elements = two VecD.
template <class T> struct Blk;
template <> struct Blk<float> {
  static SELFSUP_SIMD_INLINE void load(const float* p, int cnt, VecD& lo, VecD& hi) {
    const Vec v = cnt == 8 ? loadu(p) : load_partial(p, cnt);
    lo = widen_lo(v);
    hi = widen_hi(v);
  }
  static SELFSUP_SIMD_INLINE void store(float* p, VecD lo, VecD hi, int cnt) {
    const Vec v = narrow(lo, hi);
    if (cnt == 8) storeu(p, v); else store_partial(p, v, cnt);
  }
};
template <> struct Blk<double> {
  static SELFSUP_SIMD_INLINE void load(const double* p, int cnt, VecD& lo, VecD& hi) {
    if (cnt == 8) { lo = loadu(p); hi = loadu(p + 4); return; }
    lo = cnt >= 4 ? loadu(p) : load_partial(p, cnt);
    hi = cnt > 4 ? load_partial(p + 4, cnt - 4) : zero_d();
  }
  static SELFSUP_SIMD_INLINE void store(double* p, VecD lo, VecD hi, int cnt) {
    if (cnt == 8) { storeu(p, lo); storeu(p + 4, hi); return; }
    if (cnt >= 4) storeu(p, lo); else store_partial(p, lo, cnt);
    if (cnt > 4) store_partial(p + 4, hi, cnt - 4);
  }
};

template <class T>
void ln_fwd(const LayerNormParams& p, T* y, double* mean, double* rstd) {
  const T* X = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const T* b = static_cast<const T*>(p.bias);
  const int64_t n = p.n;
  parallel_for(p.rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = X + r * n;
      T* yr = y + r * n;
      // Two passes (mean, then centred squares): no cancellation for rows with a large mean.
      VecD s0 = zero_d(), s1 = s0;
      for (int64_t j = 0; j < n; j += 8) {
        VecD lo, hi;
        Blk<T>::load(x + j, static_cast<int>(std::min<int64_t>(8, n - j)), lo, hi);
        s0 = s0 + lo;
        s1 = s1 + hi;
      }
      const double m = hsum(s0 + s1) / static_cast<double>(n);
      const VecD mv = broadcast(m);
      VecD q0 = zero_d(), q1 = q0;
      for (int64_t j = 0; j < n; j += 8) {
        const int cnt = static_cast<int>(std::min<int64_t>(8, n - j));
        VecD lo, hi;
        if (cnt == 8) {
          Blk<T>::load(x + j, 8, lo, hi);
        } else {  // pad the tail with the mean so its lanes add (almost exactly) nothing
          T tmp[8];
          for (int t = 0; t < 8; ++t) tmp[t] = t < cnt ? x[j + t] : static_cast<T>(m);
          Blk<T>::load(tmp, 8, lo, hi);
        }
        lo = lo - mv;
        hi = hi - mv;
        q0 = fma(lo, lo, q0);
        q1 = fma(hi, hi, q1);
      }
      const double var = hsum(q0 + q1) / static_cast<double>(n);
      const double rs = 1.0 / std::sqrt(var + p.eps);
      mean[r] = m;
      rstd[r] = rs;
      const VecD rv = broadcast(rs);
      for (int64_t j = 0; j < n; j += 8) {
        const int cnt = static_cast<int>(std::min<int64_t>(8, n - j));
        VecD lo, hi, wl, wh, bl, bh;
        Blk<T>::load(x + j, cnt, lo, hi);
        lo = (lo - mv) * rv;
        hi = (hi - mv) * rv;
        if (w) { Blk<T>::load(w + j, cnt, wl, wh); lo = lo * wl; hi = hi * wh; }
        if (b) { Blk<T>::load(b + j, cnt, bl, bh); lo = lo + bl; hi = hi + bh; }
        Blk<T>::store(yr + j, lo, hi, cnt);
      }
    }
  });
}

template <class T>
void ln_bwd(const LayerNormParams& p, const T* G, const double* mean, const double* rstd, T* DX,
            T* dweight, T* dbias) {
  const T* X = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const int64_t n = p.n;
  const bool need_w = dweight != nullptr, need_b = dbias != nullptr;
  // acc (when given) holds the chunk's dweight partial in [0, n) and dbias partial in [n, 2n).
  auto rows_body = [&](int64_t r0, int64_t r1, double* acc) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = X + r * n;
      const T* g = G + r * n;
      T* dx = DX + r * n;
      const VecD mv = broadcast(mean[r]), rv = broadcast(rstd[r]);
      VecD a = zero_d(), c = a;
      for (int64_t j = 0; j < n; j += 8) {
        const int cnt = static_cast<int>(std::min<int64_t>(8, n - j));
        VecD gl, gh, xl, xh, wl, wh;
        Blk<T>::load(g + j, cnt, gl, gh);
        Blk<T>::load(x + j, cnt, xl, xh);
        if (w) { Blk<T>::load(w + j, cnt, wl, wh); gl = gl * wl; gh = gh * wh; }
        a = a + gl + gh;
        c = fma(gl, (xl - mv) * rv, c);  // tail lanes: g = 0
        c = fma(gh, (xh - mv) * rv, c);
      }
      const VecD av = broadcast(hsum(a) / static_cast<double>(n));
      const VecD cv = broadcast(hsum(c) / static_cast<double>(n));
      for (int64_t j = 0; j < n; j += 8) {
        const int cnt = static_cast<int>(std::min<int64_t>(8, n - j));
        VecD gl, gh, xl, xh, wl, wh;
        Blk<T>::load(g + j, cnt, gl, gh);
        Blk<T>::load(x + j, cnt, xl, xh);
        xl = (xl - mv) * rv;
        xh = (xh - mv) * rv;
        if (acc) {
          VecD al, ah;
          if (need_w) {
            Blk<double>::load(acc + j, cnt, al, ah);
            Blk<double>::store(acc + j, fma(gl, xl, al), fma(gh, xh, ah), cnt);
          }
          if (need_b) {
            Blk<double>::load(acc + n + j, cnt, al, ah);
            Blk<double>::store(acc + n + j, al + gl, ah + gh, cnt);
          }
        }
        if (w) { Blk<T>::load(w + j, cnt, wl, wh); gl = gl * wl; gh = gh * wh; }
        Blk<T>::store(dx + j, rv * fnma(xl, cv, gl - av), rv * fnma(xh, cv, gh - av), cnt);
      }
    }
  };
  if (!need_w && !need_b) {
    parallel_for(p.rows, row_grain(n), [&](int64_t r0, int64_t r1) { rows_body(r0, r1, nullptr); });
    return;
  }
  T* outs[2] = {dweight, dbias};
  chunked_column_sums<T, double>(p.rows, n, 2, outs, rows_body);
}


template <class T> void sum_rows_t(const T* x, int64_t rows, int64_t cols, T* out) {
  constexpr int W = VecOf<T>::W;
  T* outs[1] = {out};
  chunked_column_sums<T>(rows, cols, 1, outs, [&](int64_t r0, int64_t r1, T* acc) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      int64_t j = 0;
      for (; j + W <= cols; j += W) storeu(acc + j, loadu(acc + j) + loadu(xr + j));
      for (; j < cols; ++j) acc[j] += xr[j];
    }
  });
}

template <class F> Status dispatch_mode(GeluMode m, F&& f) {
  if (m == GeluMode::kErf) f(std::integral_constant<GeluMode, GeluMode::kErf>{});
  else if (m == GeluMode::kTanh) f(std::integral_constant<GeluMode, GeluMode::kTanh>{});
  else return Status::OutOfRange("Expected 0 (erf) or 1 (tanh) for mode but received " + std::to_string(static_cast<int>(m)));
  return Status::Ok();
}

}  // namespace

Status gelu_forward(const GeluParams& p, void* y) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.cols, p.x));
  if (p.rows * p.cols == 0) return Status::Ok();
  if (!y) return Status::Invalid("Expected a non-null array for out but received null");
  return dispatch_mode(p.mode, [&](auto mode) {
    constexpr GeluMode M = decltype(mode)::value;
    SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { gelu_fwd<T, M>(p, static_cast<T*>(y)); });
  });
}

Status gelu_backward(const GeluParams& p, const void* g, void* dx, void* dbias) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.cols, p.x));
  if (dbias && !p.bias) return Status::Invalid("Expected a bias for dbias but received null");
  if (p.rows * p.cols == 0) {
    if (dbias) std::memset(dbias, 0, static_cast<size_t>(p.cols) * dtype_size(p.dtype));
    return Status::Ok();
  }
  if (!g || !dx) return Status::Invalid("Expected non-null arrays for grad, dx but received null");
  return dispatch_mode(p.mode, [&](auto mode) {
    constexpr GeluMode M = decltype(mode)::value;
    SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
      gelu_bwd<T, M>(p, static_cast<const T*>(g), static_cast<T*>(dx), static_cast<T*>(dbias));
    });
  });
}

Status layer_norm_forward(const LayerNormParams& p, void* y, double* mean, double* rstd) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.n, p.x));
  if (!(p.eps >= 0) || !std::isfinite(p.eps))
    return Status::OutOfRange("Expected a finite number >= 0 for eps but received " + std::to_string(p.eps));
  if (p.rows == 0) return Status::Ok();
  if (p.n == 0) return Status::OutOfRange("Expected n >= 1 for x but received n=0");
  if (!y || !mean || !rstd) return Status::Invalid("Expected non-null arrays for out, mean, rstd but received null");
  SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { ln_fwd<T>(p, static_cast<T*>(y), mean, rstd); });
  return Status::Ok();
}

Status layer_norm_backward(const LayerNormParams& p, const void* g, const double* mean,
                           const double* rstd, void* dx, void* dweight, void* dbias) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(p.dtype, p.rows, p.n, p.x));
  const size_t es = dtype_size(p.dtype);
  if (p.rows == 0 || p.n == 0) {
    if (dweight) std::memset(dweight, 0, static_cast<size_t>(p.n) * es);
    if (dbias) std::memset(dbias, 0, static_cast<size_t>(p.n) * es);
    return Status::Ok();
  }
  if (!g || !mean || !rstd || !dx) return Status::Invalid("Expected non-null arrays for grad, mean, rstd, dx but received null");
  SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
    ln_bwd<T>(p, static_cast<const T*>(g), mean, rstd, static_cast<T*>(dx), static_cast<T*>(dweight), static_cast<T*>(dbias));
  });
  return Status::Ok();
}

Status sum_rows(DType dt, const void* x, int64_t rows, int64_t cols, void* out) {
  SELFSUP_RETURN_IF_ERROR(pointwise_check(dt, rows, cols, x));
  if (cols == 0) return Status::Ok();
  if (!out) return Status::Invalid("Expected a non-null array for out but received null");
  if (rows == 0) {
    std::memset(out, 0, static_cast<size_t>(cols) * dtype_size(dt));
    return Status::Ok();
  }
  SELFSUP_FLOAT_SWITCH(dt, T, [&] { sum_rows_t(static_cast<const T*>(x), rows, cols, static_cast<T*>(out)); });
  return Status::Ok();
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
