// Per-ISA half of the packed GEMM (compiled once per variant; see selfsup/isa.h): the packing
// routines, the register-blocked micro-kernel and the single-threaded blocked driver. Threading,
// argument edge cases (empty shapes, k == 0, alpha == 0) and dispatch live in gemm.cc.
//
// Blocking follows Goto & van de Geijn, "Anatomy of high-performance matrix multiplication"
// (ACM TOMS 2008) in the loop order of BLIS (Van Zee & van de Geijn, "BLIS: A framework for
// rapidly instantiating BLAS functionality", ACM TOMS 2015):
//
//   for jc in [0, n) step NC          B block KC x NC packed into NR-wide panels (lives in L3)
//     for pc in [0, k) step KC
//       pack B(pc:pc+KC, jc:jc+NC)
//       for ic in [0, m) step MC      A block MC x KC packed into MR-tall panels (lives in L2)
//         pack A(ic:ic+MC, pc:pc+KC)
//         for jr in [0, NC) step NR   one B panel KC x NR (lives in L1 across the ir loop)
//           for ir in [0, MC) step MR
//             micro-kernel: C(MR x NR) += A panel * B panel, accumulators in registers
//
// Panels are zero-padded to full MR / NR, so the micro-kernel always runs a full tile and only
// its final write to C is masked at the edges. C = alpha * AB + beta * C (+ a bias row, Linear's)
// is applied in that final write; later KC blocks use beta = 1 and no bias. beta == 0 never reads
// C (it may hold NaN).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "cpu/simd.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

// Register and cache blocking per element type and ISA. Measured on AMD EPYC (Zen 4, 2 cores,
// 32 KiB L1d, 1 MiB L2 per core, 32 MiB L3) with bench/gemm_probe.cc.
//  - AVX2 float 6x16: 12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of 16 registers; 12
//    independent FMA chains cover the 4-cycle latency of 2 FMA pipes (needs >= 8). KC = 384: the
//    24 KiB B micro-panel stays in L1 while the 9 KiB A micro-panel streams (KC = 256 and 512
//    measured within 2%; longer KC means fewer read-modify-write passes over C). MC = 144 keeps
//    the 216 KiB A block in the 1 MiB L2 with room for B panels; NC only bounds the packed-B buffer
//    (the B block is read from L3). On the ViT step's shapes (2080 x 384..1536 x 384..2080) MC x KC
//    from 72 x 768 to 288 x 384, an 8-deep unroll and prefetching A ahead all measured within 1%
//    of this (docs/tensor-core.md). Prefetching the C tile at the start of the micro-kernel was
//    worth ~15% at 1024^3 and above (85 -> 102 GFLOP/s per core), where C no longer fits in L2.
//  - AVX2 double 6x8: the same register budget with 4-wide vectors.
//  - AVX-512 float 6x64: 24 zmm accumulators + 4 B vectors + 1 broadcast = 29 of 32 registers
//    (Zen 4 executes a zmm FMA as two 256-bit halves: 1 per cycle, latency 4, so >= 4 chains).
//    Measured 1 thread, 1024^3 NN, best of 4 on the shared 2-core Zen 4 (bench/gemm_probe.cc):
//    6x64 MC 72 KC 512: 107 GFLOP/s; 6x64 KC 256: 101-104; 14x32 KC 384: 100; 14x32 KC 128: 91;
//    12x32 KC 256: 101; 8x48 KC 256: 97; the AVX2 6x16 kernel: 104-106 (peak ~116 per core for
//    both). The long KC halves the read-modify-write passes over C; the 6-row A micro-panel (12
//    KiB at KC 512) stays in L1 while the 64-wide B micro-panel streams from L2. MR = 6 also keeps
//    the vectorized 6-row A packing and gemm.cc's 24-row thread slabs.
//  - AVX-512 double 6x32: the float tile's shape in 8-wide vectors (14x16 measured 5-20% slower
//    than the AVX2 6x8 kernel on small products).
//  - generic: on x86-64 without -mavx a Vec is two SSE registers, so the tile is halved to fit 16
//    xmm registers (6x8 float = 12 xmm accumulators); arm64 NEON has 32 registers and could take
//    more, but the generic variant favours "always correct, never spills" over the last 2x.
//  - NEON: the AVX2 shapes. A Vec is two q registers, so 6x16 float takes 24 of the 32 q
//    registers as accumulators + 4 for B + 1 broadcast; not tuned on arm64 hardware (this project
//    tests the variant under qemu, which measures correctness, not speed).
template <class T>
struct Blocking;
#if SELFSUP_SIMD_AVX512
template <> struct Blocking<float> {  static constexpr int MR = 6, NR = 64; static constexpr int64_t MC = 72, KC = 512, NC = 4080; };
template <> struct Blocking<double> { static constexpr int MR = 6, NR = 32; static constexpr int64_t MC = 72, KC = 256, NC = 4080; };
#elif SELFSUP_SIMD_AVX2 || SELFSUP_SIMD_NEON
template <> struct Blocking<float> {  static constexpr int MR = 6, NR = 16; static constexpr int64_t MC = 144, KC = 384, NC = 4080; };
template <> struct Blocking<double> { static constexpr int MR = 6, NR = 8; static constexpr int64_t MC = 72, KC = 256, NC = 4080; };
#else
template <> struct Blocking<float> {  static constexpr int MR = 6, NR = 8; static constexpr int64_t MC = 120, KC = 256, NC = 4080; };
template <> struct Blocking<double> { static constexpr int MR = 6, NR = 4; static constexpr int64_t MC = 60, KC = 256, NC = 2040; };
#endif


// Thread-local, 64-byte aligned packing buffers, grown on demand and reused across calls (every
// pool worker and every JS thread gets its own; no locking).
template <class T>
struct PackBuffers {
  T* a = nullptr;
  T* b = nullptr;
  size_t a_cap = 0, b_cap = 0;
  static T* grow(T* p, size_t& cap, size_t need) {
    if (need <= cap) return p;
    if (p != nullptr) ::operator delete(p, std::align_val_t(64));
    p = static_cast<T*>(::operator new(need * sizeof(T), std::align_val_t(64)));
    cap = need;
    return p;
  }
  ~PackBuffers() {
    if (a != nullptr) ::operator delete(a, std::align_val_t(64));
    if (b != nullptr) ::operator delete(b, std::align_val_t(64));
  }
};

template <class T>
PackBuffers<T>& pack_buffers() {
  static thread_local PackBuffers<T> bufs;
  return bufs;
}

#if SELFSUP_SIMD_X86_AVX2
// x86 float helpers for pack_a with MR = 6 (the packing loops below were scalar and took ~10% of
// a 96x96x128 product, the InfoNCE tile size). 8-wide (Vec8) in both x86 variants.
//
// Non-transposed A: rows r < rows of src[] (the rest packed as zeros), 8 k at a time through the
// in-register 8x8 transpose; output column q (6 values for k = p + q) is stored with overlapping
// 8-wide stores (lanes 6 and 7 are overwritten by the next store), the last one with 4 + 2.
inline void pack_a6_rows_f32(const float* const* src, int rows, int64_t kc, float* d) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    Vec8 r[8];
    for (int c = 0; c < 6; ++c) r[c] = c < rows ? loadu8(src[c] + p) : zero8();
    r[6] = zero8();
    r[7] = zero8();
    transpose8x8(r);
    float* o = d + p * 6;
    for (int q = 0; q < 7; ++q) storeu(o + q * 6, r[q]);
    _mm_storeu_ps(o + 42, _mm256_castps256_ps128(r[7].v));
    _mm_storel_pi(reinterpret_cast<__m64*>(o + 46), _mm256_extractf128_ps(r[7].v, 1));
  }
  for (; p < kc; ++p) {
    for (int c = 0; c < 6; ++c) d[p * 6 + c] = c < rows ? src[c][p] : 0.f;
  }
}

// Transposed A: each k gives `rows` contiguous values at src + p*lda. `wide` says 8 values may be
// read (the two extra rows exist in A); otherwise a masked load reads exactly `rows`.
inline void pack_a6_trans_f32(const float* src, int64_t lda, int rows, bool wide, int64_t kc,
                              float* d) {
  if (kc <= 0) return;
  const int64_t last = kc - 1;
  if (wide) {
    for (int64_t p = 0; p < last; ++p) storeu(d + p * 6, loadu8(src + p * lda));
    store_partial(d + last * 6, loadu8(src + last * lda), 6);
  } else {
    for (int64_t p = 0; p < last; ++p) storeu(d + p * 6, load_partial8(src + p * lda, rows));
    store_partial(d + last * 6, load_partial8(src + last * lda, rows), 6);
  }
}
#endif

// Pack op(A)(i0:i0+mc, p0:p0+kc) into MR-tall panels: panel q holds rows i0+q*MR.., stored k-major
// (MR consecutive values per k), zero-padded below row mc.
template <class T, int MR>
void pack_a(bool transA, const T* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
            T* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    T* d = dst + ir * kc;
    if (!transA) {
      // a(i, p) = A[i*lda + p]: MR row streams, transposed into k-major order.
      const T* src[MR];
      for (int r = 0; r < MR; ++r) src[r] = A + (i0 + ir + std::min(r, rows - 1)) * lda + p0;
#if SELFSUP_SIMD_X86_AVX2
      if constexpr (std::is_same<T, float>::value && MR == 6) {
        pack_a6_rows_f32(src, rows, kc, d);
        continue;
      }
#endif
      if (rows == MR) {
        for (int64_t p = 0; p < kc; ++p) {
          for (int r = 0; r < MR; ++r) d[p * MR + r] = src[r][p];
        }
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          for (int r = 0; r < MR; ++r) d[p * MR + r] = r < rows ? src[r][p] : T(0);
        }
      }
    } else {
      // a(i, p) = A[p*lda + i]: each k gives MR contiguous values.
      const T* src = A + p0 * lda + i0 + ir;
#if SELFSUP_SIMD_X86_AVX2
      if constexpr (std::is_same<T, float>::value && MR == 6) {
        pack_a6_trans_f32(src, lda, rows, ir + 8 <= mc, kc, d);
        continue;
      }
#endif
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = src + p * lda;
        for (int r = 0; r < MR; ++r) d[p * MR + r] = r < rows ? s[r] : T(0);
      }
    }
  }
}

// Pack op(B)(p0:p0+kc, j0:j0+nc) into NR-wide panels, k-major, zero-padded right of column nc.
template <class T, int NR>
void pack_b(bool transB, const T* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
            T* dst) {
  constexpr int W = VecOf<T>::W;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    T* d = dst + jr * kc;
    if (!transB) {
      // b(p, j) = B[p*ldb + j]: NR contiguous values per k.
      const T* src = B + p0 * ldb + j0 + jr;
      if (cols == NR) {
        for (int64_t p = 0; p < kc; ++p) {
          const T* s = src + p * ldb;
          for (int v = 0; v < NR / W; ++v) store(d + p * NR + v * W, loadu(s + v * W));
        }
      } else {
        // Right edge: masked loads of the `cols` existing values, zeros beyond.
        for (int64_t p = 0; p < kc; ++p) {
          const T* s = src + p * ldb;
          for (int v = 0; v < NR / W; ++v) {
            const int lanes = cols - v * W;
            using V = typename VecOf<T>::V;
            const V x = lanes >= W ? loadu(s + v * W)
                                   : lanes > 0 ? load_partial(s + v * W, lanes) : broadcast(T(0));
            store(d + p * NR + v * W, x);
          }
        }
      }
    } else {
      // b(p, j) = B[j*ldb + p]: NR column streams, transposed into k-major order. For float
      // panels, 8 columns x 8 k at a time through an in-register 8x8 transpose (the scalar gather
      // cost ~20% of the whole product at m = 64, as in attention's Q K^T).
      const T* src[NR];
      for (int c = 0; c < NR; ++c) src[c] = B + (j0 + jr + std::min(c, cols - 1)) * ldb + p0;
      int64_t p = 0;
      if (std::is_same<T, float>::value && NR % 8 == 0 && cols >= 8) {
        // Groups of 8 existing columns through the transpose; a partial group (right edge of a
        // wide panel: 96 columns are 64 + 32 with the AVX-512 tile) scalar; padding as zeros.
        for (; p + 8 <= kc; p += 8) {
          for (int g = 0; g < NR; g += 8) {
            if (g + 8 <= cols) {
              Vec8 r[8];  // 8 wide whatever the vector width
              for (int c = 0; c < 8; ++c) {
                r[c] = loadu8(reinterpret_cast<const float*>(src[g + c] + p));
              }
              transpose8x8(r);
              for (int q = 0; q < 8; ++q) {
                storeu(reinterpret_cast<float*>(d + (p + q) * NR + g), r[q]);
              }
            } else if (g >= cols) {
              for (int q = 0; q < 8; ++q) storeu(reinterpret_cast<float*>(d + (p + q) * NR + g), zero8());
            } else {
              for (int q = 0; q < 8; ++q) {
                for (int c = g; c < g + 8; ++c) d[(p + q) * NR + c] = c < cols ? src[c][p + q] : T(0);
              }
            }
          }
        }
      }
      for (; p < kc; ++p) {
        for (int c = 0; c < NR; ++c) d[p * NR + c] = c < cols ? src[c][p] : T(0);
      }
    }
  }
}

// C(0:mr, 0:nr) = alpha * Ap * Bp + beta * C for one MR x NR tile; Ap is kc x MR (k-major), Bp
// is kc x NR with rows BS apart (BS = the packed panel width; BS > NR runs a narrower kernel on
// the left columns of a panel, for narrow right edges). The accumulator array is fully unrolled
// by the compiler into registers (checked in the generated assembly: no spills in the k loop for
// the AVX2 6x16 and the AVX-512 6x64 float tiles).
template <class T, int MR, int NR, int BS = NR>
inline void micro_kernel(int64_t kc, const T* __restrict Ap, const T* __restrict Bp, T* C,
                         int64_t ldc, T alpha, T beta, const T* bias, int mr, int nr) {
  using V = typename VecOf<T>::V;
  constexpr int W = VecOf<T>::W;
  constexpr int NV = NR / W;
  static_assert(NR % W == 0, "NR must be a multiple of the vector width");
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = broadcast(T(0));
#if defined(__GNUC__) || defined(__clang__)
  // Start fetching the C tile now so its (likely L3 or DRAM) latency overlaps the k loop; only the
  // rows that exist, the first and last element of each (a tile row spans <= 2 cache lines).
  for (int i = 0; i < mr; ++i) {
    __builtin_prefetch(C + i * ldc, 1, 3);
    __builtin_prefetch(C + i * ldc + nr - 1, 1, 3);
  }
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
  for (int64_t p = 0; p < kc; ++p) {
    V b[NV];
    for (int j = 0; j < NV; ++j) b[j] = load(Bp + j * W);
    for (int i = 0; i < MR; ++i) {
      const V a = broadcast(Ap[i]);
      for (int j = 0; j < NV; ++j) acc[i][j] = fma(a, b[j], acc[i][j]);
    }
    Ap += MR;
    Bp += BS;
  }

  // The epilogue: alpha * acc (+ beta * C) (+ the bias row, Linear's bias: one pass over C less
  // than pre-filling C with it and accumulating with beta = 1).
  const V va = broadcast(alpha);
  const V vb = broadcast(beta);
  if (mr == MR && nr == NR) {
    V vbias[NV];
    for (int j = 0; j < NV; ++j) vbias[j] = bias != nullptr ? loadu(bias + j * W) : broadcast(T(0));
    for (int i = 0; i < MR; ++i) {
      T* c = C + i * ldc;
      for (int j = 0; j < NV; ++j) {
        V r = bias != nullptr ? fma(va, acc[i][j], vbias[j]) : mul(va, acc[i][j]);
        if (beta != T(0)) r = fma(vb, loadu(c + j * W), r);
        storeu(c + j * W, r);
      }
    }
  } else {
    for (int i = 0; i < mr; ++i) {
      T* c = C + i * ldc;
      for (int j = 0; j < NV; ++j) {
        const int lanes = std::min(W, nr - j * W);
        if (lanes <= 0) break;
        V r = mul(va, acc[i][j]);
        if (lanes == W) {
          if (bias != nullptr) r = add(r, loadu(bias + j * W));
          if (beta != T(0)) r = fma(vb, loadu(c + j * W), r);
          storeu(c + j * W, r);
        } else {
          if (bias != nullptr) r = add(r, load_partial(bias + j * W, lanes));
          if (beta != T(0)) r = fma(vb, load_partial(c + j * W, lanes), r);
          store_partial(c + j * W, r, lanes);
        }
      }
    }
  }
}

// Single-threaded blocked GEMM. Preconditions (checked by gemm.cc): m, n, k > 0, alpha != 0.
// bias (n values or null) is added to every row of C with the first K block.
template <class T>
void gemm_blocked(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                  const T* bias) {
  using BL = Blocking<T>;
  constexpr int MR = BL::MR, NR = BL::NR;
  PackBuffers<T>& bufs = pack_buffers<T>();
  const int64_t kc_max = std::min<int64_t>(k, BL::KC);
  const int64_t mc_max = std::min<int64_t>((m + MR - 1) / MR * MR, BL::MC);
  const int64_t nc_max = std::min<int64_t>((n + NR - 1) / NR * NR, BL::NC);
  bufs.a = PackBuffers<T>::grow(bufs.a, bufs.a_cap, static_cast<size_t>(mc_max * kc_max));
  bufs.b = PackBuffers<T>::grow(bufs.b, bufs.b_cap, static_cast<size_t>(nc_max * kc_max));
  T* Ap = bufs.a;
  T* Bp = bufs.b;

  for (int64_t jc = 0; jc < n; jc += BL::NC) {
    const int64_t nc = std::min<int64_t>(BL::NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += BL::KC) {
      const int64_t kc = std::min<int64_t>(BL::KC, k - pc);
      const T beta_eff = pc == 0 ? beta : T(1);
      const T* bias_eff = pc == 0 ? bias : nullptr;
      pack_b<T, NR>(transB, B, ldb, pc, jc, kc, nc, Bp);
      for (int64_t ic = 0; ic < m; ic += BL::MC) {
        const int64_t mc = std::min<int64_t>(BL::MC, m - ic);
        pack_a<T, MR>(transA, A, lda, ic, pc, mc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            const T* a = Ap + ir * kc;
            const T* b = Bp + jr * kc;
            T* c = C + (ic + ir) * ldc + jc + jr;
            const T* bs = bias_eff != nullptr ? bias_eff + jc + jr : nullptr;
            // Tiles 4 vectors wide (AVX-512): a right edge of 1-3 vectors runs a kernel of that
            // width instead of multiplying zero padding (InfoNCE's 96-column tiles are 64 + 32).
            if constexpr (NR == 4 * VecOf<T>::W) {
              constexpr int W = VecOf<T>::W;
              switch ((nr + W - 1) / W) {
                case 1: micro_kernel<T, MR, W, NR>(kc, a, b, c, ldc, alpha, beta_eff, bs, mr, nr); continue;
                case 2: micro_kernel<T, MR, 2 * W, NR>(kc, a, b, c, ldc, alpha, beta_eff, bs, mr, nr); continue;
                case 3: micro_kernel<T, MR, 3 * W, NR>(kc, a, b, c, ldc, alpha, beta_eff, bs, mr, nr); continue;
                default: break;
              }
            }
            micro_kernel<T, MR, NR>(kc, a, b, c, ldc, alpha, beta_eff, bs, mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm_blocked(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc, const float* bias) {
  gemm_blocked<float>(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}

void dgemm_blocked(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha,
                   const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                   double* C, int64_t ldc, const double* bias) {
  gemm_blocked<double>(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
