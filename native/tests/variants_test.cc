// Op kernels in every ISA variant this build and CPU have (x86-64: avx512, avx2, generic; arm64,
// also under qemu: neon, generic), called directly in each variant's namespace rather than through
// the load-time dispatch, against float64 references on seeded random inputs at shapes that are
// not multiples of any vector width: fused attention forward (out and lse, plain and causal) and
// GELU forward (erf and tanh, with a fused bias). gemm_test covers the GEMM the same way.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/attention/params.h"
#include "ops/pointwise/params.h"
#include "tests/check.h"

using namespace selfsup;

namespace {

struct Kernels {
  Status (*attention)(const AttentionParams&);
  Status (*gelu)(const GeluParams&, void*);
};
#define KERNELS_OF(ns) Kernels{&ns::attention_forward, &ns::gelu_forward}

// The kernels of `isa` (which this build must contain).
Kernels kernels_of(Isa isa) {
#if SELFSUP_HAVE_AVX512_VARIANT
  if (isa == Isa::kAvx512) return KERNELS_OF(isa_avx512);
#endif
#if SELFSUP_HAVE_AVX2_VARIANT
  if (isa == Isa::kAvx2) return KERNELS_OF(isa_avx2);
#endif
#if SELFSUP_HAVE_NEON_VARIANT
  if (isa == Isa::kNeon) return KERNELS_OF(isa_neon);
#endif
  (void)isa;
  return KERNELS_OF(isa_generic);
}

template <class T>
std::vector<T> random(size_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

// B = 2, H = 3 heads over Hk = 3 key heads, contiguous; scale 1/sqrt(d).
template <class T>
void attention_case(Isa isa, int64_t Nq, int64_t Nk, int64_t d, bool causal, double tol) {
  const int64_t B = 2, H = 3;
  const auto q = random<T>(B * H * Nq * d, 1, -2, 2), k = random<T>(B * H * Nk * d, 2, -2, 2),
             v = random<T>(B * H * Nk * d, 3, -1, 1);
  std::vector<T> out(B * H * Nq * d, T(-7)), lse(B * H * Nq, T(-7));  // -7: unwritten shows
  AttentionParams p;
  p.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  p.B = B, p.H = H, p.Hk = H, p.Nq = Nq, p.Nk = Nk, p.d = d;
  p.q = q.data(), p.q_sb = H * Nq * d, p.q_sh = Nq * d, p.q_sr = d;
  p.k = k.data(), p.k_sb = H * Nk * d, p.k_sh = Nk * d, p.k_sr = d;
  p.v = v.data(), p.v_sb = H * Nk * d, p.v_sh = Nk * d, p.v_sr = d;
  p.out = out.data(), p.o_sb = H * Nq * d, p.o_sh = Nq * d, p.o_sr = d;
  p.lse = lse.data();
  p.scale = 1.0 / std::sqrt(static_cast<double>(d));
  p.causal = causal;
  EXPECT(kernels_of(isa).attention(p).ok());
  double worst = 0;
  std::vector<double> s(Nk);
  for (int64_t bh = 0; bh < B * H; ++bh) {
    for (int64_t i = 0; i < Nq; ++i) {
      const T* qi = &q[(bh * Nq + i) * d];
      const int64_t last = causal ? std::min(Nk - 1, i + Nk - Nq) : Nk - 1;  // bottom-right
      double m = -INFINITY;
      for (int64_t j = 0; j <= last; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += double(qi[c]) * double(k[(bh * Nk + j) * d + c]);
        s[j] = dot * p.scale;
        m = std::max(m, s[j]);
      }
      double z = 0;
      for (int64_t j = 0; j <= last; ++j) z += std::exp(s[j] - m);
      const double l = m + std::log(z);
      if (last < 0) {
        EXPECT(lse[bh * Nq + i] == -INFINITY);  // every key masked: lse = -inf, out = 0
      } else {
        const double e = std::fabs(double(lse[bh * Nq + i]) - l) / (1 + std::fabs(l));
        worst = std::isnan(e) ? INFINITY : std::max(worst, e);
      }
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j <= last; ++j) o += std::exp(s[j] - l) * double(v[(bh * Nk + j) * d + c]);
        const double e = std::fabs(double(out[(bh * Nq + i) * d + c]) - o) / (1 + std::fabs(o));
        worst = std::isnan(e) ? INFINITY : std::max(worst, e);
      }
    }
  }
  std::printf("%-8s attention %s Nq %lld Nk %lld d %lld%s: max rel error %.2e (limit %.0e)\n",
              isa_name(isa), sizeof(T) == 4 ? "f32" : "f64", (long long)Nq, (long long)Nk,
              (long long)d, causal ? " causal" : "", worst, tol);
  EXPECT(worst <= tol);
}

// One query, keys [0, big]: softmax = [0, 1] (to float precision), so out = v[1] = 20 and lse =
// big * scale. Logits past 2^24 take the float forward's double-lane path, whose FMA residual
// must match the running max's (a mismatch gave lse = NaN in the generic variant on arm64, where
// GCC fuses a * b + c).
void attention_huge_case(Isa isa) {
  double worst_out = 0, worst_lse = 0;
  for (double big : {1e8, 1.5e9, 1e10, 3e12, 1e20}) {
    for (double scale : {1.0, 0.125}) {
      const float q = 1, k[2] = {0, static_cast<float>(big)}, v[2] = {10, 20};
      float out = -7, lse = -7;
      AttentionParams p;
      p.dtype = DType::kFloat32;
      p.B = p.H = p.Hk = p.Nq = p.d = 1, p.Nk = 2;
      p.q = &q, p.q_sb = p.q_sh = p.q_sr = 1;
      p.k = k, p.k_sb = p.k_sh = 2, p.k_sr = 1;
      p.v = v, p.v_sb = p.v_sh = 2, p.v_sr = 1;
      p.out = &out, p.o_sb = p.o_sh = p.o_sr = 1;
      p.lse = &lse;
      p.scale = scale;
      EXPECT(kernels_of(isa).attention(p).ok());
      const double l = double(k[1]) * scale;
      const double eo = std::fabs(out - 20.0) / 20, el = std::fabs(lse - l) / l;
      worst_out = std::isnan(eo) ? INFINITY : std::max(worst_out, eo);
      worst_lse = std::isnan(el) ? INFINITY : std::max(worst_lse, el);
    }
  }
  std::printf("%-8s attention f32 logits 1e8..1e20: max rel error out %.2e, lse %.2e (limit 2e-7)\n",
              isa_name(isa), worst_out, worst_lse);
  EXPECT(worst_out <= 2e-7 && worst_lse <= 2e-7);
}

template <class T>
void gelu_case(Isa isa, GeluMode mode, int64_t rows, int64_t cols, double tol) {
  const auto x = random<T>(rows * cols, 4, -3, 3), bias = random<T>(cols, 5, -0.5, 0.5);
  std::vector<T> y(rows * cols, T(-7));
  GeluParams p;
  p.dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  p.mode = mode, p.rows = rows, p.cols = cols, p.x = x.data(), p.bias = bias.data();
  EXPECT(kernels_of(isa).gelu(p, y.data()).ok());
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double u = double(x[r * cols + c]) + double(bias[c]);
      const double g = mode == GeluMode::kErf
                           ? 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)))
                           : 0.5 * u * (1 + std::tanh(std::sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
      const double e = std::fabs(double(y[r * cols + c]) - g) / (1 + std::fabs(g));
      worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    }
  }
  std::printf("%-8s gelu %s %s %lldx%lld: max rel error %.2e (limit %.0e)\n", isa_name(isa),
              mode == GeluMode::kErf ? "erf" : "tanh", sizeof(T) == 4 ? "f32" : "f64",
              (long long)rows, (long long)cols, worst, tol);
  EXPECT(worst <= tol);
}

}  // namespace

int main() {
  for (int i = kIsaCount - 1; i >= 0; --i) {
    const Isa isa = static_cast<Isa>(i);
    if (!isa_supported(isa)) {
      std::printf("%s variant skipped (not supported by this CPU/OS)\n", isa_name(isa));
      continue;
    }
    for (bool causal : {false, true}) {
      attention_case<float>(isa, 37, 53, 19, causal, 2e-6);
      attention_case<float>(isa, 70, 45, 64, causal, 2e-6);  // causal: rows 0-24 see no key
      attention_case<double>(isa, 37, 53, 19, causal, 1e-13);
    }
    attention_huge_case(isa);
    for (GeluMode mode : {GeluMode::kErf, GeluMode::kTanh}) {
      gelu_case<float>(isa, mode, 7, 29, 5e-7);
      gelu_case<double>(isa, mode, 7, 29, 1e-14);
    }
  }
  return test_result();
}
