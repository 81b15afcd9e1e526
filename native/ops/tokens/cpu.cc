// Token gather / scatter / stochastic positions on CPU: forward and backward side by side.
// Memory-bound kernels: each output row is written exactly once (no zero-then-accumulate pass
// where a copy suffices), rows are copied with SIMD loads/stores, work is split over the pool.
// Index checks (check_token_indices) run before any buffer is touched.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/simd.h"
#include "cpu/threadpool.h"
#include "ops/tensor/params.h"
#include "ops/tokens/params.h"
#include "selfsup/philox.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {


// o = a (+ b)
template <typename T>
inline void copy_row(T* o, const T* a, int64_t D) { std::memcpy(o, a, sizeof(T) * D); }

// Outputs much larger than the last-level cache are written with streaming (non-temporal) stores:
// a normal store first reads the line (write-allocate), so a dense [B, N, D] gradient would cost
// 3 passes over memory instead of 2. Below the threshold the output stays cache-resident for its
// consumer.
// The threshold is the tensor core's: tensor_stream_min_bytes() (half the last-level cache;
// SELFSUP_STREAM_MIN_BYTES).

// Writes one contiguous output front to back, a row at a time, with streaming stores on whole
// 64-byte lines only. Rows are not line-aligned in general (V8 backing stores are 16-byte aligned,
// rows are D elements): a row boundary inside a line is assembled in a small buffer and the line
// is stored once, streamed, so no line receives both kinds of store. Ordinary stores there cost a
// read-for-ownership miss per row, and x86 commits stores in order, so each such miss stalled the
// stream for a full memory latency (measured: the backward at B=64 N=196 D=384 took 1.6-2x as long). Only the partial lines at
// the two ends of the region get ordinary stores (neighbouring regions may own the rest of them).
template <typename T>
class LineWriter {
 public:
  static constexpr int kL = 64 / sizeof(T);  // elements per line

  explicit LineWriter(T* out) : pend_(out) {}
  ~LineWriter() { finish(); }

  // Appends D elements: a[0, D), or zeros when a is null.
  void put(const T* a, int64_t D) {
    int64_t d = 0;
    if (fill_ > 0 || !aligned(pend_)) {
      const int64_t need = to_boundary();
      const int64_t take = std::min<int64_t>(need, D);
      for (int64_t i = 0; i < take; ++i) buf_[fill_ + i] = a ? a[i] : T(0);
      fill_ += static_cast<int>(take);
      if (take < need) return;
      flush();
      d = take;
    }
    T* o = pend_;
    const int64_t lines = (D - d) / kL;
    if (a) for (int64_t l = 0; l < lines; ++l, d += kL, o += kL) stream_line(o, a + d);
    else for (int64_t l = 0; l < lines; ++l, o += kL) stream_zero(o);
    if (!a) d += lines * kL;
    pend_ = o;
    for (int64_t i = d; i < D; ++i) buf_[fill_++] = a ? a[i] : T(0);
  }

  // Stores what is pending (ordinary stores) and orders the streaming stores before later loads.
  void finish() {
    if (fill_ > 0) std::memcpy(pend_, buf_, sizeof(T) * fill_);
    pend_ += fill_;
    fill_ = 0;
    stream_fence_();
  }

 public:
  static void stream_line_(T* o, const T* a) { stream_line(o, a); }
  static void stream_zero_(T* o) { stream_zero(o); }

 private:
  static bool aligned(const T* p) { return (reinterpret_cast<uintptr_t>(p) & 63) == 0; }
  // Elements from the end of the pending ones to the next line boundary (1..kL).
  int64_t to_boundary() const {
    const uintptr_t end = reinterpret_cast<uintptr_t>(pend_ + fill_);
    return static_cast<int64_t>(((64 - (end & 63)) & 63) / sizeof(T)) + ((end & 63) == 0 ? kL : 0);
  }
  // pend_ + fill_ is at a line boundary: store the pending elements.
  void flush() {
    if (fill_ == kL && aligned(pend_)) stream_line(pend_, buf_);
    else std::memcpy(pend_, buf_, sizeof(T) * fill_);
    pend_ += fill_;
    fill_ = 0;
  }
  static void stream_line(float* o, const float* a) {
#if SELFSUP_SIMD_X86_AVX2
    _mm256_stream_ps(o, _mm256_loadu_ps(a));
    _mm256_stream_ps(o + 8, _mm256_loadu_ps(a + 8));
#else
    std::memcpy(o, a, 64);
#endif
  }
  static void stream_line(double* o, const double* a) {
#if SELFSUP_SIMD_X86_AVX2
    _mm256_stream_pd(o, _mm256_loadu_pd(a));
    _mm256_stream_pd(o + 4, _mm256_loadu_pd(a + 4));
#else
    std::memcpy(o, a, 64);
#endif
  }
  static void stream_zero(T* o) {
#if SELFSUP_SIMD_X86_AVX2
    const __m256 z = _mm256_setzero_ps();
    _mm256_stream_ps(reinterpret_cast<float*>(o), z);
    _mm256_stream_ps(reinterpret_cast<float*>(o) + 8, z);
#else
    std::memset(o, 0, 64);
#endif
  }
  static void stream_fence_() {
#if SELFSUP_SIMD_X86_AVX2
    _mm_sfence();
#endif
  }

  T* pend_;                 // output position of buf_[0]
  int fill_ = 0;            // elements in buf_
  alignas(64) T buf_[kL];
};

// Streams a contiguous run of rows (D elements each, D*sizeof(T) >= 64) whose rows are filled in
// any order: `row` stores the whole lines inside one row at once (so the caller can visit rows in
// the order that reads their sources sequentially), `seam` is then called for every row in
// ascending order and stores the lines that straddle two rows, assembled from the tail of the
// previous row and the head of this one. Every line is stored exactly once, streamed, except the
// partial lines at the two ends of the run (ordinary stores: a neighbouring run owns the rest).
template <typename T>
class SeamWriter {
 public:
  static constexpr int kL = 64 / sizeof(T);

  SeamWriter(T* out, int64_t D) : out_(out), D_(D) {}

  void row(int64_t r, const T* a) const {
    T* o = out_ + r * D_;
    const int64_t h = head(o);
    const int64_t lines = (D_ - h) / kL;
    T* ol = o + h;
    if (a) for (int64_t l = 0; l < lines; ++l) stream_line(ol + l * kL, a + h + l * kL);
    else for (int64_t l = 0; l < lines; ++l) stream_zero(ol + l * kL);
  }

  void seam(int64_t r, const T* a) {
    T* o = out_ + r * D_;
    const int64_t h = head(o);
    if (h > 0) {
      if (carry_n_ > 0) {
        alignas(64) T line[kL];
        std::memcpy(line, carry_, sizeof(T) * carry_n_);
        for (int64_t i = 0; i < h; ++i) line[carry_n_ + i] = a ? a[i] : T(0);
        stream_line(o - carry_n_, line);
      } else {
        for (int64_t i = 0; i < h; ++i) o[i] = a ? a[i] : T(0);
      }
    }
    const int64_t t = h + (D_ - h) / kL * kL;
    carry_n_ = static_cast<int>(D_ - t);
    for (int64_t i = 0; i < carry_n_; ++i) carry_[i] = a ? a[t + i] : T(0);
    carry_at_ = o + t;
  }

  ~SeamWriter() {
    if (carry_n_ > 0) std::memcpy(carry_at_, carry_, sizeof(T) * carry_n_);
#if SELFSUP_SIMD_X86_AVX2
    _mm_sfence();
#endif
  }

 private:
  static int64_t head(const T* o) { return static_cast<int64_t>(((64 - (reinterpret_cast<uintptr_t>(o) & 63)) & 63) / sizeof(T)); }
  static void stream_line(T* o, const T* a) { LineWriter<T>::stream_line_(o, a); }
  static void stream_zero(T* o) { LineWriter<T>::stream_zero_(o); }

  T* out_;
  int64_t D_;
  int carry_n_ = 0;
  T* carry_at_ = nullptr;
  T carry_[kL];
};

template <typename T>
inline void add2_row(T* o, const T* a, const T* b, int64_t D) {
  constexpr int W = VecOf<T>::W;
  int64_t d = 0;
  for (; d + 2 * W <= D; d += 2 * W) {
    storeu(o + d, add(loadu(a + d), loadu(b + d)));
    storeu(o + d + W, add(loadu(a + d + W), loadu(b + d + W)));
  }
  for (; d + W <= D; d += W) storeu(o + d, add(loadu(a + d), loadu(b + d)));
  if (d < D) {
    const int r = static_cast<int>(D - d);
    store_partial(o + d, add(load_partial(a + d, r), load_partial(b + d, r)), r);
  }
}

// o += a
template <typename T>
inline void acc_row(T* o, const T* a, int64_t D) {
  constexpr int W = VecOf<T>::W;
  int64_t d = 0;
  for (; d + W <= D; d += W) storeu(o + d, add(loadu(o + d), loadu(a + d)));
  if (d < D) {
    const int r = static_cast<int>(D - d);
    store_partial(o + d, add(load_partial(o + d, r), load_partial(a + d, r)), r);
  }
}

inline int64_t row_len(const int32_t* lengths, int64_t b, int64_t K) { return lengths ? lengths[b] : K; }

// Rows per task so that a task moves at least ~32 KiB.
inline int64_t row_grain(int64_t D, int64_t elem) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, D * elem)); }

// dst[n, c0:c1] = sum over the valid (b, k) with idx[b, k] = n of g[b, k, c0:c1], zero for the
// others; parallel over column slices so no two tasks write the same element and the result does
// not depend on the thread count.
template <typename T>
void scatter_add_shared(T* dst, const T* g, const int32_t* idx, const int32_t* lengths, int64_t B,
                        int64_t N, int64_t D, int64_t K) {
  constexpr int64_t kSlice = 64;
  const int64_t slices = (D + kSlice - 1) / kSlice;
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    const int64_t c0 = s0 * kSlice, c1 = std::min(D, s1 * kSlice), w = c1 - c0;
    for (int64_t n = 0; n < N; ++n) std::memset(dst + n * D + c0, 0, sizeof(T) * w);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = row_len(lengths, b, K);
      for (int64_t k = 0; k < len; ++k)
        acc_row(dst + static_cast<int64_t>(idx[b * K + k]) * D + c0, g + (b * K + k) * D + c0, w);
    }
  });
}

// Typed arrays always are; the line arithmetic of the writers relies on it.
template <typename T>
inline bool element_aligned(const T* p) { return reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0; }

// Chains the positions k < len of each index n of one batch row: first[n] is the earliest, next[k]
// the following one (-1 ends a chain), so walking n in order visits the sources in memory order.
inline void chain_indices(const int32_t* idx, int64_t len, int32_t* first, int64_t N, int32_t* next) {
  std::fill(first, first + N, -1);
  for (int64_t k = len - 1; k >= 0; --k) {
    const int64_t n = idx[k];
    next[k] = first[n];
    first[n] = static_cast<int32_t>(k);
  }
}

template <typename T>
void gather_impl(const TokenGatherParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* pos = static_cast<const T*>(p.pos);
  T* out = static_cast<T*>(p.out);
  const int64_t B = p.B, D = p.D, K = p.K, N = p.N;
  const bool stream = !pos && B * K * D * int64_t(sizeof(T)) >= tensor_stream_min_bytes() && element_aligned(out);
  auto src_of = [&](int64_t b, int64_t k) { return x + (p.x_shared ? 0 : b * N * D) + int64_t(p.idx[b * K + k]) * D; };
  if (stream && D >= LineWriter<T>::kL && B >= 2 * num_threads()) {
    // Large outputs: per batch row, the selected rows of x are read in ascending order (a mask's
    // indices are random; reading them sequentially measured 17% faster at B=64 K=147 D=768) and
    // their whole lines streamed to wherever they go in out; the lines where two rows meet follow.
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<int32_t> first(static_cast<size_t>(N)), next(static_cast<size_t>(K));
      SeamWriter<T> sw(out + b0 * K * D, D);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t len = row_len(p.lengths, b, K), rb = (b - b0) * K;
        const T* xb = x + (p.x_shared ? 0 : b * N * D);
        chain_indices(p.idx + b * K, len, first.data(), N, next.data());
        for (int64_t n = 0; n < N; ++n)
          for (int32_t k = first[n]; k >= 0; k = next[k]) sw.row(rb + k, xb + n * D);
        for (int64_t k = len; k < K; ++k) sw.row(rb + k, nullptr);
        for (int64_t k = 0; k < K; ++k) sw.seam(rb + k, k < len ? src_of(b, k) : nullptr);
      }
    });
    return;
  }
  parallel_for(B * K, row_grain(D, sizeof(T)), [&](int64_t r0, int64_t r1) {
    if (stream) {
      LineWriter<T> w(out + r0 * D);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / K, k = r - b * K;
        w.put(k < row_len(p.lengths, b, K) ? src_of(b, k) : nullptr, D);
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / K, k = r - b * K;
      T* o = out + r * D;
      if (k >= row_len(p.lengths, b, K)) {
        std::memset(o, 0, sizeof(T) * D);
        continue;
      }
      const int64_t n = p.idx[r];
      const T* src = x + (p.x_shared ? 0 : b * N * D) + n * D;
      if (pos) add2_row(o, src, pos + n * D, D);
      else copy_row(o, src, D);
    }
  });
}

template <typename T>
void gather_backward_impl(const TokenGatherBackwardParams& p) {
  const T* g = static_cast<const T*>(p.grad);
  const int64_t B = p.B, N = p.N, D = p.D, K = p.K;
  if (p.dx && p.x_shared) scatter_add_shared(static_cast<T*>(p.dx), g, p.idx, p.lengths, B, N, D, K);
  if (p.dx && !p.x_shared) {
    T* dx = static_cast<T*>(p.dx);
    // dx is written once (B*N*D; streamed when large) and grad read once (B*K*D): a row of dx
    // selected once is a copy of its grad row, a repeated one the sum of its grad rows in
    // ascending k, an unselected one zeros.
    const bool stream = B * N * D * int64_t(sizeof(T)) >= tensor_stream_min_bytes() && element_aligned(dx);
    // When grad itself is too large to stay in cache, it is read in order (k ascending) and the
    // rows of dx are streamed in that order, seams after (B=64 K=147 D=768: 22% faster than reading
    // grad in the order of dx's rows). A small grad (B=64 K=49 D=384: 4.8 MB) is read from cache
    // either way and dx is then written front to back (measured ~15% faster there).
    const bool by_grad = stream && D >= LineWriter<T>::kL && B * K * D * int64_t(sizeof(T)) >= tensor_stream_min_bytes();
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<int32_t> first(static_cast<size_t>(N)), next(static_cast<size_t>(K));
      std::vector<T> sums;
      std::vector<const T*> src(static_cast<size_t>(N));
      // One writer per task: the task's rows of dx are one contiguous run.
      LineWriter<T> lw(dx + b0 * N * D);
      SeamWriter<T> sw(dx + b0 * N * D, by_grad ? D : LineWriter<T>::kL);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t len = row_len(p.lengths, b, K);
        chain_indices(p.idx + b * K, len, first.data(), N, next.data());
        const T* gb = g + b * K * D;
        T* dxb = dx + b * N * D;
        if (stream) {
          // Sources of the rows of dx: a grad row, a sum of grad rows (in `sums`), or zeros.
          int64_t nrep = 0;
          for (int64_t n = 0; n < N; ++n) nrep += first[n] >= 0 && next[first[n]] >= 0;
          sums.resize(static_cast<size_t>(nrep * D));
          int64_t si = 0;
          for (int64_t n = 0; n < N; ++n) {
            const int32_t k0 = first[n];
            if (k0 < 0 || next[k0] < 0) { src[n] = k0 < 0 ? nullptr : gb + k0 * D; continue; }
            T* sm = sums.data() + (si++) * D;
            copy_row(sm, gb + k0 * D, D);
            for (int32_t k = next[k0]; k >= 0; k = next[k]) acc_row(sm, gb + k * D, D);
            src[n] = sm;
          }
        }
        if (by_grad) {
          const int64_t rb = (b - b0) * N;
          for (int64_t k = 0; k < len; ++k) {
            const int64_t n = p.idx[b * K + k];
            if (first[n] == k) sw.row(rb + n, src[n]);
          }
          for (int64_t n = 0; n < N; ++n)
            if (first[n] < 0) sw.row(rb + n, nullptr);
          for (int64_t n = 0; n < N; ++n) sw.seam(rb + n, src[n]);
          continue;
        }
        if (stream) {
          for (int64_t n = 0; n < N; ++n) lw.put(src[n], D);
          continue;
        }
        for (int64_t n = 0; n < N; ++n) {
          T* o = dxb + n * D;
          const int32_t k0 = first[n];
          if (k0 < 0) {
            std::memset(o, 0, sizeof(T) * D);
            continue;
          }
          copy_row(o, gb + k0 * D, D);
          for (int32_t k = next[k0]; k >= 0; k = next[k]) acc_row(o, gb + k * D, D);
        }
      }
    });
  }
  if (p.dpos) scatter_add_shared(static_cast<T*>(p.dpos), g, p.idx, p.lengths, B, N, D, K);
}

template <typename T>
void scatter_impl(const TokenScatterParams& p) {
  const T* src = static_cast<const T*>(p.src);
  const T* fill = static_cast<const T*>(p.fill);
  T* out = static_cast<T*>(p.out);
  const int64_t N = p.N, D = p.D, K = p.K;
  parallel_for(p.B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<int32_t> from(static_cast<size_t>(N));
    for (int64_t b = b0; b < b1; ++b) {
      std::fill(from.begin(), from.end(), -1);
      const int64_t len = row_len(p.lengths, b, K);
      for (int64_t k = 0; k < len; ++k) from[p.idx[b * K + k]] = static_cast<int32_t>(k);
      T* ob = out + b * N * D;
      for (int64_t n = 0; n < N; ++n) {
        if (from[n] >= 0) copy_row(ob + n * D, src + (b * K + from[n]) * D, D);
        else if (fill) copy_row(ob + n * D, fill, D);
        else std::memset(ob + n * D, 0, sizeof(T) * D);
      }
    }
  });
}

template <typename T>
void scatter_backward_impl(const TokenScatterBackwardParams& p) {
  const T* g = static_cast<const T*>(p.grad);
  const int64_t B = p.B, N = p.N, D = p.D, K = p.K;
  if (p.dsrc) {
    TokenGatherParams gp;
    gp.dtype = p.dtype; gp.B = B; gp.N = N; gp.D = D; gp.K = K;
    gp.x = p.grad; gp.idx = p.idx; gp.lengths = p.lengths; gp.out = p.dsrc;
    gather_impl<T>(gp);
  }
  if (p.dfill) {
    T* dfill = static_cast<T*>(p.dfill);
    constexpr int64_t kSlice = 64;
    const int64_t slices = (D + kSlice - 1) / kSlice;
    parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
      const int64_t c0 = s0 * kSlice, w = std::min(D, s1 * kSlice) - c0;
      std::vector<uint8_t> used(static_cast<size_t>(N));
      std::memset(dfill + c0, 0, sizeof(T) * w);
      for (int64_t b = 0; b < B; ++b) {
        std::fill(used.begin(), used.end(), 0);
        const int64_t len = row_len(p.lengths, b, K);
        for (int64_t k = 0; k < len; ++k) used[p.idx[b * K + k]] = 1;
        for (int64_t n = 0; n < N; ++n)
          if (!used[n]) acc_row(dfill + c0, g + (b * N + n) * D + c0, w);
      }
    });
  }
}

// C (+)= op(A) op(B): on this thread (gemm_serial_acc; beta 1 when `accumulate`, else C is
// overwritten) or on the pool (gemm_par).
template <class T>
void gemm_serial_acc(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* A, int64_t lda,
                     const T* Bm, int64_t ldb, T* C, int64_t ldc, bool accumulate = false) {
  ::selfsup::gemm_serial<T>(ta, tb, m, n, k, 1, A, lda, Bm, ldb, accumulate ? 1 : 0, C, ldc);
}
template <class T>
void gemm_par(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* A, int64_t lda,
              const T* Bm, int64_t ldb, T* C, int64_t ldc) {
  ::selfsup::gemm<T>(ta, tb, m, n, k, 1, A, lda, Bm, ldb, 0, C, ldc);
}

// Noise row segment n[b, k, i0:i0+w] = std * normal(seed, (3<<24)|b, k*Din + i0 ..) into dst.
// Normals come from philox_normal_simd (the philox_normal values bit for bit, 8 Philox blocks and
// 4 Box-Muller pairs per step); `scratch` holds w floats for the double instantiation.
inline void noise_segment(float* dst, float* /*scratch*/, uint64_t seed, int64_t b, int64_t k, int64_t i0,
                          int64_t w, int64_t Din, float s) {
  philox_normal_simd(seed, kStreamStoP | static_cast<uint32_t>(b), static_cast<uint64_t>(k * Din + i0), w, dst);
  const Vec vs = broadcast(s);
  int64_t i = 0;
  for (; i + kVecWidth <= w; i += kVecWidth) storeu(dst + i, mul(vs, loadu(dst + i)));
  for (; i < w; ++i) dst[i] = s * dst[i];
}
inline void noise_segment(double* dst, float* scratch, uint64_t seed, int64_t b, int64_t k, int64_t i0,
                          int64_t w, int64_t Din, double s) {
  philox_normal_simd(seed, kStreamStoP | static_cast<uint32_t>(b), static_cast<uint64_t>(k * Din + i0), w, scratch);
  for (int64_t i = 0; i < w; ++i) dst[i] = s * static_cast<double>(scratch[i]);
}

// n[b, k0:k0+rows, :] scaled by std into dst (row stride Din); rows past the length are zero.
// Valid rows are contiguous in the stream (offset k*Din + i), so they are drawn in one call.
template <typename T>
void draw_noise(T* dst, float* scratch, uint64_t seed, int64_t b, int64_t k0, int64_t rows,
                int64_t valid, int64_t Din, double std) {
  const int64_t nv = std::max<int64_t>(0, std::min(rows, valid - k0));
  if (nv > 0) noise_segment(dst, scratch, seed, b, k0, 0, nv * Din, Din, static_cast<T>(std));
  if (nv < rows) std::memset(dst + nv * Din, 0, sizeof(T) * (rows - nv) * Din);
}

// Rows of noise per forward task, at most: one gemm_serial call packs all of W (Dp x Din), so
// tiles are large enough to amortize that (32-row tiles spent ~25% of the GEMM time packing W at
// Dp = Din = 384) and small enough that the noise tile (192 x 384 floats = 288 KiB) stays in L2.
// Tiles of one batch row are balanced (K = 200 -> 100 + 100, not 192 + 8); K = 147 is one tile.
constexpr int64_t kStoPTileMax = 192;

inline int64_t stop_tile_rows(int64_t K) {
  if (K <= 0) return 1;
  const int64_t tiles = (K + kStoPTileMax - 1) / kStoPTileMax;
  return (K + tiles - 1) / tiles;
}

template <typename T>
void stop_impl(const StochasticPositionsParams& p) {
  const int64_t B = p.B, K = p.K, Dp = p.Dp, Din = p.Din;
  const T* pos = static_cast<const T*>(p.pos);
  const T* W = static_cast<const T*>(p.weight);
  const T* bias = static_cast<const T*>(p.bias);
  T* out = static_cast<T*>(p.out);
  T* noise = static_cast<T*>(p.noise);
  const int64_t tile = stop_tile_rows(K);
  const int64_t tiles_per_b = (K + tile - 1) / tile;
  parallel_for(B * tiles_per_b, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scratch(sizeof(T) == sizeof(float) ? 0 : static_cast<size_t>(tile * Din));
    std::vector<T> buf(noise ? 0 : static_cast<size_t>(tile * Din));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / tiles_per_b, k0 = (t % tiles_per_b) * tile;
      const int64_t rows = std::min(tile, K - k0);
      const int64_t valid = row_len(p.lengths, b, K);
      T* nz = noise ? noise + (b * K + k0) * Din : buf.data();
      draw_noise(nz, scratch.data(), p.seed, b, k0, rows, valid, Din, p.std);
      T* o = out + (b * K + k0) * Dp;
      // o = n W^T (W is [Dp, Din]), then + pos[idx] + bias, row by row while o is in cache.
      if (Din > 0) gemm_serial_acc(false, true, rows, Dp, Din, nz, Din, W, Din, o, Dp);
      else std::memset(o, 0, sizeof(T) * rows * Dp);
      for (int64_t r = 0; r < rows; ++r) {
        T* orow = o + r * Dp;
        if (k0 + r >= valid) {
          std::memset(orow, 0, sizeof(T) * Dp);
          continue;
        }
        acc_row(orow, pos + static_cast<int64_t>(p.idx[b * K + k0 + r]) * Dp, Dp);
        if (bias) acc_row(orow, bias, Dp);
      }
    }
  });
}

// dW[:, i0:i1] = sum over all (b, k) of g[b, k, :]^T n[b, k, i0:i1], with the noise regenerated
// for that column slice only (counter-based: each value is drawn independently, so the slices
// together draw the noise exactly once and nothing of size [B, K, Din] is allocated). Rows are
// taken in chunks of up to kRows of the flattened B*K (padding rows get zero noise), accumulated
// in order, so each dW element's sum does not depend on the number of threads (slices only
// change which task owns a column).
template <typename T>
void stop_dweight_regen(const StochasticPositionsBackwardParams& p, const T* g, T* dw) {
  const int64_t B = p.B, K = p.K, Dp = p.Dp, Din = p.Din, rows = B * K;
  constexpr int64_t kRows = 384;  // one KC block of the packed GEMM; the noise chunk stays in L2
  const int64_t threads = std::max<int64_t>(1, num_threads());
  int64_t sw = (Din + threads - 1) / threads;
  sw = std::max<int64_t>(16, (sw + 15) / 16 * 16);
  const int64_t slices = (Din + sw - 1) / sw;
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t i0 = s * sw, w = std::min(Din, i0 + sw) - i0;
      std::vector<T> nz(static_cast<size_t>(kRows * w));
      std::vector<float> scratch(sizeof(T) == sizeof(float) ? 0 : static_cast<size_t>(w));
      for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
        const int64_t nr = std::min(kRows, rows - r0);
        for (int64_t r = r0; r < r0 + nr; ++r) {
          const int64_t b = r / K, k = r - b * K;
          T* dst = nz.data() + (r - r0) * w;
          if (k < row_len(p.lengths, b, K)) noise_segment(dst, scratch.data(), p.seed, b, k, i0, w, Din, static_cast<T>(p.std));
          else std::memset(dst, 0, sizeof(T) * w);
        }
        gemm_serial_acc(true, false, Dp, w, nr, g + r0 * Dp, Dp, nz.data(), w, dw + i0, Din, r0 > 0);
      }
    }
  });
}

template <typename T>
void stop_backward_impl(const StochasticPositionsBackwardParams& p) {
  const int64_t B = p.B, K = p.K, Dp = p.Dp, Din = p.Din;
  const T* g = static_cast<const T*>(p.grad);
  T* dpos = static_cast<T*>(p.dpos);
  T* db = static_cast<T*>(p.dbias);
  if (dpos || db) {
    // dpos (scatter-add) and dbias (sum of rows) in one pass over g, parallel over column slices
    // so no two tasks write the same element and the sums do not depend on the thread count.
    constexpr int64_t kSlice = 64;
    parallel_for((Dp + kSlice - 1) / kSlice, 1, [&](int64_t s0, int64_t s1) {
      const int64_t c0 = s0 * kSlice, w = std::min(Dp, s1 * kSlice) - c0;
      if (dpos)
        for (int64_t n = 0; n < p.N; ++n) std::memset(dpos + n * Dp + c0, 0, sizeof(T) * w);
      if (db) std::memset(db + c0, 0, sizeof(T) * w);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t len = row_len(p.lengths, b, K);
        for (int64_t k = 0; k < len; ++k) {
          const T* gr = g + (b * K + k) * Dp + c0;
          if (dpos) acc_row(dpos + static_cast<int64_t>(p.idx[b * K + k]) * Dp + c0, gr, w);
          if (db) acc_row(db + c0, gr, w);
        }
      }
    });
  }
  if (p.dweight) {
    T* dw = static_cast<T*>(p.dweight);
    const int64_t rows = B * K;
    if (rows == 0 || Din == 0) {
      std::memset(dw, 0, sizeof(T) * Dp * Din);
      return;
    }
    // dW = G^T n over all rows; padding rows have zero noise, so they contribute nothing.
    if (!p.noise) {
      stop_dweight_regen<T>(p, g, dw);
      return;
    }
    const T* nz = static_cast<const T*>(p.noise);
    std::vector<T> masked;
    if (p.lengths) {
      // Materialized noise of padding rows is zero (written so by the forward) but a caller may
      // pass any buffer: mask through a copy of the valid rows.
      masked.assign(nz, nz + rows * Din);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = p.lengths[b]; k < K; ++k) std::memset(masked.data() + (b * K + k) * Din, 0, sizeof(T) * Din);
      nz = masked.data();
    }
    gemm_par(true, false, Dp, Din, rows, g, Dp, nz, Din, dw, Din);
  }
}

// The checks every token kernel runs first: a float dtype, every index in range (and unique for
// the scatters), and for StoP a batch the Philox counter layout can address.
template <typename P>
Status check_tokens(const P& p, bool unique, bool stop = false) {
  if (p.dtype != DType::kFloat32 && p.dtype != DType::kFloat64)
    return Status::Invalid(std::string("Expected float32 or float64 for dtype but received ") + dtype_name(p.dtype));
  SELFSUP_RETURN_IF_ERROR(check_token_indices("idx", p.idx, p.lengths, p.B, p.K, p.N, unique));
  if (stop && p.B > kMaxTokenBatch)
    return Status::OutOfRange("Expected batch <= " + std::to_string(kMaxTokenBatch) + " for idx but received " + std::to_string(p.B));
  return Status::Ok();
}

// The checks, then impl(T{}) with T the params' float type.
template <typename P, typename F>
Status run_tokens(const P& p, bool unique, bool stop, F impl) {
  SELFSUP_RETURN_IF_ERROR(check_tokens(p, unique, stop));
  SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { impl(T{}); });
  return Status::Ok();
}

}  // namespace

Status tokens_gather(const TokenGatherParams& p) {
  return run_tokens(p, false, false, [&](auto t) { gather_impl<decltype(t)>(p); });
}

Status tokens_gather_backward(const TokenGatherBackwardParams& p) {
  return run_tokens(p, false, false, [&](auto t) { gather_backward_impl<decltype(t)>(p); });
}

Status tokens_scatter(const TokenScatterParams& p) {
  return run_tokens(p, true, false, [&](auto t) { scatter_impl<decltype(t)>(p); });
}

Status tokens_scatter_backward(const TokenScatterBackwardParams& p) {
  return run_tokens(p, true, false, [&](auto t) { scatter_backward_impl<decltype(t)>(p); });
}

Status stochastic_positions(const StochasticPositionsParams& p) {
  return run_tokens(p, false, true, [&](auto t) { stop_impl<decltype(t)>(p); });
}

Status stochastic_positions_backward(const StochasticPositionsBackwardParams& p) {
  return run_tokens(p, false, true, [&](auto t) { stop_backward_impl<decltype(t)>(p); });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
