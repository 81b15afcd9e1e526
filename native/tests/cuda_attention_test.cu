// CUDA flash attention (native/ops/attention/cuda.cu) against the CPU kernel (the dispatch the
// addon uses) on fresh random inputs at awkward shapes: forward O / lse and backward dQ / dK / dV,
// float32 (tight) and bfloat16 / float16 (the CPU run on the same rounded inputs, looser), GQA,
// causal with Nq != Nk, boolean and additive masks with broadcast strides, fully masked rows,
// strided rows, dropout (the same keep pattern as the CPU, checked element by element), bit-equal
// reruns. Bad input is checked first (no device needed); then exits 77 (ctest skip) when there
// is no device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/attention/cuda.h"
#include "ops/attention/params.h"
#include "selfsup/philox.h"
#include "tests/cuda_check.h"

using namespace selfsup;

namespace {

template <class T> struct Ty;
template <> struct Ty<float> {
  static constexpr DType kD = DType::kFloat32;
  static constexpr const char* kName = "float32";
  static float from(float x) { return x; }
  static float to(float x) { return x; }
};
template <> struct Ty<__nv_bfloat16> {
  static constexpr DType kD = DType::kBFloat16;
  static constexpr const char* kName = "bfloat16";
  static __nv_bfloat16 from(float x) { return __float2bfloat16_rn(x); }
  static float to(__nv_bfloat16 x) { return __bfloat162float(x); }
};
template <> struct Ty<__half> {
  static constexpr DType kD = DType::kFloat16;
  static constexpr const char* kName = "float16";
  static __half from(float x) { return __float2half_rn(x); }
  static float to(__half x) { return __half2float(x); }
};

struct Case {
  const char* name;
  int B, H, Hk, Nq, Nk, d;
  bool causal = false;
  AttnMaskKind mask = AttnMaskKind::kNone;
  bool key_padding = false;  // mask [B, 1, 1, Nk] (broadcast strides) instead of [B, H, Nq, Nk]
  double dropout = 0;
  float mag = 1;     // input standard deviation
  int row_pad = 0;   // extra elements per row (strided rows; not a multiple of 8 = unaligned)
  bool lse_lo = false;
};

// max |x - ref| / max(max |ref|, floor) over the entries; an infinity must match exactly.
struct Err {
  double worst = 0;
  bool inf_mismatch = false;
  void add(const std::vector<float>& x, const std::vector<float>& ref, double floor = 1e-6) {
    double mref = floor, m = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      if (std::isfinite(ref[i])) mref = std::max(mref, std::fabs(static_cast<double>(ref[i])));
    for (size_t i = 0; i < ref.size(); ++i) {
      if (!std::isfinite(ref[i]) || !std::isfinite(x[i])) {
        if (!(x[i] == ref[i])) inf_mismatch = true;
        continue;
      }
      m = std::max(m, std::fabs(static_cast<double>(x[i]) - ref[i]));
    }
    worst = m / mref;
  }
};

struct Tol {
  double out, lse, grad;
};

// Strided [B, heads, N, d] tensor: row stride d + pad, contiguous otherwise.
struct Layout {
  int64_t sb, sh, sr;
  Layout(int heads, int N, int d, int pad) {
    sr = d + pad;
    sh = sr * N;
    sb = sh * heads;
  }
};

std::vector<float> strided_to_dense(const std::vector<float>& x, const Layout& l, int B, int heads, int N,
                                    int d) {
  std::vector<float> o(static_cast<size_t>(B) * heads * N * d);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < N; ++i)
        for (int c = 0; c < d; ++c)
          o[((static_cast<size_t>(b) * heads + h) * N + i) * d + c] = x[b * l.sb + h * l.sh + i * l.sr + c];
  return o;
}

template <class T>
std::vector<float> to_float(const std::vector<T>& x) {
  std::vector<float> o(x.size());
  for (size_t i = 0; i < x.size(); ++i) o[i] = Ty<T>::to(x[i]);
  return o;
}

uint64_t g_seed = 0;

// Runs one case on the GPU and the CPU and compares (EXPECT records a failure).
template <class T>
void run_case(const Case& c, const Tol& tol) {
  std::mt19937_64 rng(0x5eed0000ull + (g_seed++));
  std::normal_distribution<float> nd(0.f, c.mag);
  const Layout lq(c.H, c.Nq, c.d, c.row_pad), lk(c.Hk, c.Nk, c.d, c.row_pad);
  const size_t nq = static_cast<size_t>(c.B) * lq.sb, nk = static_cast<size_t>(c.B) * lk.sb;
  // Inputs rounded to T; the CPU gets the rounded values as float.
  auto gen = [&](size_t n, float scale) {
    std::vector<T> t(n);
    for (auto& x : t) x = Ty<T>::from(nd(rng) * scale);
    return t;
  };
  const std::vector<T> hq = gen(nq, 1.f), hk = gen(nk, 1.f), hv = gen(nk, 1.f / c.mag), hg = gen(nq, 1.f / c.mag);
  const std::vector<float> fq = to_float(hq), fk = to_float(hk), fv = to_float(hv), fg = to_float(hg);

  // Mask: bool (~20% masked, row 0 of batch 0 fully masked when per-query) or additive (some -inf).
  std::vector<uint8_t> mb;
  std::vector<T> ma;
  std::vector<float> fma_;
  int64_t m_sb = 0, m_sh = 0, m_sq = 0, m_sk = 0;
  if (c.mask != AttnMaskKind::kNone) {
    const size_t n = c.key_padding ? static_cast<size_t>(c.B) * c.Nk
                                   : static_cast<size_t>(c.B) * c.H * c.Nq * c.Nk;
    m_sk = 1;
    if (c.key_padding) {
      m_sb = c.Nk;
    } else {
      m_sq = c.Nk;
      m_sh = static_cast<int64_t>(c.Nq) * c.Nk;
      m_sb = m_sh * c.H;
    }
    std::uniform_real_distribution<float> ud(0.f, 1.f);
    if (c.mask == AttnMaskKind::kBool) {
      mb.resize(n);
      for (auto& x : mb) x = ud(rng) >= 0.2f;
      if (!c.key_padding)
        for (int j = 0; j < c.Nk; ++j) mb[j] = 0;  // (b, h, i) = (0, 0, 0) sees no key
    } else {
      ma.resize(n);
      for (auto& x : ma) x = Ty<T>::from(ud(rng) < 0.1f ? -INFINITY : -3.f * ud(rng));
      fma_ = to_float(ma);
    }
  }

  AttentionParams p;
  p.B = c.B, p.H = c.H, p.Hk = c.Hk, p.Nq = c.Nq, p.Nk = c.Nk, p.d = c.d;
  p.q_sb = lq.sb, p.q_sh = lq.sh, p.q_sr = lq.sr;
  p.k_sb = lk.sb, p.k_sh = lk.sh, p.k_sr = lk.sr;
  p.v_sb = lk.sb, p.v_sh = lk.sh, p.v_sr = lk.sr;
  p.o_sb = lq.sb, p.o_sh = lq.sh, p.o_sr = lq.sr;
  p.scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  p.causal = c.causal;
  p.mask_kind = c.mask;
  p.m_sb = m_sb, p.m_sh = m_sh, p.m_sq = m_sq, p.m_sk = m_sk;
  p.dropout = c.dropout;
  p.seed = 0x123456789abull + g_seed;
  const size_t nl = static_cast<size_t>(c.B) * c.H * c.Nq;

  // CPU reference (float32, the dispatch the addon uses).
  std::vector<float> co(nq, 0.f), cl(nl), cll(nl), cdq(nq, 0.f), cdk(nk, 0.f), cdv(nk, 0.f);
  AttentionParams pc = p;
  pc.dtype = DType::kFloat32;
  pc.q = fq.data(), pc.k = fk.data(), pc.v = fv.data(), pc.out = co.data(), pc.lse = cl.data();
  pc.lse_lo = c.lse_lo ? cll.data() : nullptr;
  pc.mask = c.mask == AttnMaskKind::kBool ? static_cast<const void*>(mb.data())
                                          : static_cast<const void*>(fma_.data());
  EXPECT_OK(SELFSUP_DISPATCH(attention_forward)(pc));
  pc.dout = fg.data(), pc.dq = cdq.data(), pc.dk = cdk.data(), pc.dv = cdv.data();
  EXPECT_OK(SELFSUP_DISPATCH(attention_backward)(pc));

  // GPU, outputs pre-filled with NaN (0xff bytes) so an element never written shows.
  DeviceVec<T> dev_q(hq), dev_k(hk), dev_v(hv), dev_dout(hg), dev_out(nq), dev_dq(nq), dev_dk(nk), dev_dv(nk);
  DeviceVec<float> dev_lse(nl), dev_lse_lo(nl);
  DeviceVec<uint8_t> dev_mask_b(mb);
  DeviceVec<T> dev_mask_a(ma);
  auto nan_fill = [&] {
    for (DeviceVec<T>* x : {&dev_out, &dev_dq, &dev_dk, &dev_dv}) x->fill_bytes(0xff);
    dev_lse.fill_bytes(0xff);
    dev_lse_lo.fill_bytes(0xff);
  };
  nan_fill();
  AttentionParams pg = p;
  pg.dtype = Ty<T>::kD;
  pg.q = dev_q.p, pg.k = dev_k.p, pg.v = dev_v.p, pg.out = dev_out.p, pg.lse = dev_lse.p;
  pg.lse_lo = c.lse_lo ? dev_lse_lo.p : nullptr;
  pg.mask = c.mask == AttnMaskKind::kBool ? static_cast<const void*>(dev_mask_b.p)
                                          : static_cast<const void*>(dev_mask_a.p);
  EXPECT_OK(attention_forward_cuda(pg, nullptr));
  const std::vector<T> go = dev_out.host();
  const std::vector<float> gl = dev_lse.host();
  pg.dout = dev_dout.p, pg.dq = dev_dq.p, pg.dk = dev_dk.p, pg.dv = dev_dv.p;
  EXPECT_OK(attention_backward_cuda(pg, nullptr));
  const std::vector<T> gdq = dev_dq.host(), gdk = dev_dk.host(), gdv = dev_dv.host();

  // Bit-reproducible: a second forward and backward (into NaN-filled buffers again) give the
  // same bytes, padding elements of strided rows included (never written).
  nan_fill();
  EXPECT_OK(attention_forward_cuda(pg, nullptr));
  EXPECT_OK(attention_backward_cuda(pg, nullptr));
  {
    const std::vector<T> o2 = dev_out.host(), q2 = dev_dq.host(), k2 = dev_dk.host(), v2 = dev_dv.host();
    const std::vector<float> l2 = dev_lse.host();
    EXPECT(std::memcmp(o2.data(), go.data(), sizeof(T) * nq) == 0);
    EXPECT(std::memcmp(q2.data(), gdq.data(), sizeof(T) * nq) == 0);
    EXPECT(std::memcmp(k2.data(), gdk.data(), sizeof(T) * nk) == 0);
    EXPECT(std::memcmp(v2.data(), gdv.data(), sizeof(T) * nk) == 0);
    EXPECT(std::memcmp(l2.data(), gl.data(), sizeof(float) * nl) == 0);
    for (size_t r = 0; c.row_pad > 0 && r < nq / lq.sr; ++r)
      for (int e = c.d; e < lq.sr; ++e) {
        const T x = o2[r * lq.sr + e], y = q2[r * lq.sr + e];
        EXPECT(std::isnan(Ty<T>::to(x)) && std::isnan(Ty<T>::to(y)));
      }
  }

  Err eo, el, eq, ek, ev;
  eo.add(strided_to_dense(to_float(go), lq, c.B, c.H, c.Nq, c.d), strided_to_dense(co, lq, c.B, c.H, c.Nq, c.d));
  el.add(gl, cl, 1.0);  // lse: absolute error, relative past |lse| = 1
  eq.add(strided_to_dense(to_float(gdq), lq, c.B, c.H, c.Nq, c.d), strided_to_dense(cdq, lq, c.B, c.H, c.Nq, c.d));
  ek.add(strided_to_dense(to_float(gdk), lk, c.B, c.Hk, c.Nk, c.d), strided_to_dense(cdk, lk, c.B, c.Hk, c.Nk, c.d));
  ev.add(strided_to_dense(to_float(gdv), lk, c.B, c.Hk, c.Nk, c.d), strided_to_dense(cdv, lk, c.B, c.Hk, c.Nk, c.d));
  const bool ok = eo.worst <= tol.out && el.worst <= tol.lse && eq.worst <= tol.grad && ek.worst <= tol.grad &&
                  ev.worst <= tol.grad && !eo.inf_mismatch && !el.inf_mismatch && !eq.inf_mismatch &&
                  !ek.inf_mismatch && !ev.inf_mismatch;
  std::printf("%-4s %-9s %-34s out %.2e lse %.2e dq %.2e dk %.2e dv %.2e%s\n", ok ? "ok" : "FAIL",
              Ty<T>::kName, c.name, eo.worst, el.worst, eq.worst, ek.worst, ev.worst,
              (eo.inf_mismatch || el.inf_mismatch || eq.inf_mismatch || ek.inf_mismatch || ev.inf_mismatch)
                  ? " (inf/nan mismatch)"
                  : "");
  EXPECT(ok);
}

// Dropout: with V = the identity (Nk <= d), out[i][j] = P_drop[i][j] / l exactly 0 iff dropped, so
// the zero pattern of O is the keep pattern; it must equal the CPU's element for element.
template <class T>
void dropout_pattern() {
  const int B = 2, H = 3, Nq = 37, Nk = 61, d = 64;
  std::mt19937_64 rng(99);
  std::normal_distribution<float> nd(0.f, 0.5f);
  const size_t nq = static_cast<size_t>(B) * H * Nq * d, nk = static_cast<size_t>(B) * H * Nk * d;
  std::vector<T> hq(nq), hk(nk), hv(nk);
  for (auto& x : hq) x = Ty<T>::from(nd(rng));
  for (auto& x : hk) x = Ty<T>::from(nd(rng));
  for (size_t r = 0; r < nk / d; ++r)
    for (int c = 0; c < d; ++c) hv[r * d + c] = Ty<T>::from(static_cast<int>(r % Nk) == c ? 1.f : 0.f);
  const std::vector<float> fq = to_float(hq), fk = to_float(hk), fv = to_float(hv);
  AttentionParams p;
  p.B = B, p.H = H, p.Hk = H, p.Nq = Nq, p.Nk = Nk, p.d = d;
  p.q_sr = p.o_sr = d, p.q_sh = p.o_sh = int64_t{Nq} * d, p.q_sb = p.o_sb = int64_t{H} * Nq * d;
  p.k_sr = p.v_sr = d, p.k_sh = p.v_sh = int64_t{Nk} * d, p.k_sb = p.v_sb = int64_t{H} * Nk * d;
  p.scale = 0.125;
  p.dropout = 0.3;
  p.seed = 0xfedcba987654ull;
  std::vector<float> co(nq), cl(static_cast<size_t>(B) * H * Nq);
  AttentionParams pc = p;
  pc.q = fq.data(), pc.k = fk.data(), pc.v = fv.data(), pc.out = co.data(), pc.lse = cl.data();
  EXPECT(SELFSUP_DISPATCH(attention_forward)(pc).ok());
  DeviceVec<T> q(hq), k(hk), v(hv), o(nq);
  DeviceVec<float> l(cl.size());
  AttentionParams pg = p;
  pg.dtype = Ty<T>::kD;
  pg.q = q.p, pg.k = k.p, pg.v = v.p, pg.out = o.p, pg.lse = l.p;
  EXPECT_OK(attention_forward_cuda(pg, nullptr));
  const std::vector<float> go = to_float(o.host());
  int64_t differ = 0, dropped = 0, total = 0;
  for (size_t r = 0; r < nq / d; ++r)
    for (int c = 0; c < Nk; ++c) {
      const bool gz = go[r * d + c] == 0.f, cz = co[r * d + c] == 0.f;
      differ += gz != cz;
      dropped += cz;
      ++total;
    }
  const double frac = static_cast<double>(dropped) / static_cast<double>(total);
  std::printf("%-4s %-9s dropout pattern: %lld of %lld differ, dropped fraction %.3f (p = 0.3)\n",
              differ == 0 ? "ok" : "FAIL", Ty<T>::kName, static_cast<long long>(differ),
              static_cast<long long>(total), frac);
  EXPECT(differ == 0);
  EXPECT(frac > 0.25 && frac < 0.35);  // the pattern is not trivially all-kept or all-dropped
}

// philox_word on the device equals the CPU stream (offsets across the 2^32 block boundary).
__global__ void philox_kernel(uint64_t seed, uint64_t off, uint32_t* out) {
  out[threadIdx.x] = philox_word(seed, kAttentionDropoutStream, off + threadIdx.x);
}
void philox_device() {
  const uint64_t seed = 0x9e3779b97f4aull, off = (uint64_t{1} << 34) - 61;
  std::vector<uint32_t> ref(128);
  philox_words(seed, kAttentionDropoutStream, off, 128, ref.data());
  DeviceVec<uint32_t> d(128);
  philox_kernel<<<1, 128>>>(seed, off, d.p);
  EXPECT(cudaGetLastError() == cudaSuccess);
  EXPECT(d.host() == ref);
  std::printf("philox device words checked\n");
}

// Bad input: a Status naming the argument, before any launch (runs without a device).
void bad_input() {
  float dummy[64] = {};
  AttentionParams p;
  p.B = p.H = p.Hk = 1, p.Nq = p.Nk = 4, p.d = 8;
  p.q_sr = p.k_sr = p.v_sr = p.o_sr = 8;
  p.q = p.k = p.v = dummy, p.out = dummy, p.lse = dummy;
  AttentionParams x = p;
  x.dtype = DType::kFloat64;
  Status s = attention_forward_cuda(x, nullptr);
  EXPECT(s.code == Code::kUnsupported && s.message.find("float64") != std::string::npos);
  x = p;
  x.d = 300, x.q_sr = x.k_sr = x.v_sr = x.o_sr = 300;
  s = attention_forward_cuda(x, nullptr);
  EXPECT(s.code == Code::kUnsupported && s.message.find("for d") != std::string::npos);
  x = p;
  x.H = 3, x.Hk = 2;
  s = attention_forward_cuda(x, nullptr);
  EXPECT(s.code == Code::kInvalidArgument && s.message.find("Hk") != std::string::npos);
  x = p;
  x.dropout = 1.0;
  s = attention_forward_cuda(x, nullptr);
  EXPECT(s.code == Code::kOutOfRange && s.message.find("dropout") != std::string::npos);
  x = p;
  s = attention_backward_cuda(x, nullptr);  // no dout / dq / dk / dv
  EXPECT(s.code == Code::kInvalidArgument);
  x = p;
  x.dtype = DType::kInt32;
  s = attention_forward_cuda(x, nullptr);
  EXPECT(s.code == Code::kInvalidArgument);
  std::printf("bad input checked\n");
}

const Case kCases[] = {
    {"N=7 d=64", 2, 3, 3, 7, 7, 64},
    {"N=1 d=128", 3, 2, 2, 1, 1, 128},
    {"N=197 d=80 GQA key-padding", 1, 4, 2, 197, 197, 80, false, AttnMaskKind::kBool, true},
    {"N=197 d=64 GQA(4:1) causal", 2, 4, 1, 197, 197, 64, true},
    {"N=1025 d=128 causal", 1, 2, 1, 1025, 1025, 128, true},
    {"N=1025 d=64 additive", 1, 2, 2, 1025, 1025, 64, false, AttnMaskKind::kAdditive},
    {"Nq=1 Nk=197 d=128 bool", 2, 2, 2, 1, 197, 128, false, AttnMaskKind::kBool},
    {"Nq=197 Nk=7 d=64 causal (masked rows)", 1, 2, 2, 197, 7, 64, true},
    {"Nq=64 Nk=200 d=128 causal+bool", 1, 3, 3, 64, 200, 128, true, AttnMaskKind::kBool},
    {"N=197 d=64 dropout 0.2 GQA", 1, 4, 2, 197, 197, 64, false, AttnMaskKind::kNone, false, 0.2},
    {"N=130 d=128 dropout causal", 1, 2, 1, 130, 130, 128, true, AttnMaskKind::kNone, false, 0.1},
    {"N=100x130 d=64 large logits", 1, 2, 2, 100, 130, 64, false, AttnMaskKind::kNone, false, 0, 3.f},
    {"N=100 d=64 tiny inputs", 1, 2, 2, 100, 100, 64, false, AttnMaskKind::kNone, false, 0, 1e-3f},
    {"N=77 d=64 unaligned rows", 2, 2, 1, 77, 77, 64, false, AttnMaskKind::kNone, false, 0, 1.f, 3},
    {"N=77 d=128 aligned strided rows lse_lo", 1, 2, 2, 77, 90, 128, false, AttnMaskKind::kNone, false, 0,
     1.f, 8, true},
    {"N=40x50 d=33 bool dropout", 1, 3, 1, 40, 50, 33, false, AttnMaskKind::kBool, false, 0.25},
    {"N=40x50 d=256", 1, 2, 2, 40, 50, 256},
    {"Nk=0", 1, 2, 2, 5, 0, 64},
    {"Nq=0", 1, 2, 2, 0, 5, 64},
};

}  // namespace

int main() {
  bad_input();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  philox_device();
  // Tolerances: float32 against a float32 CPU kernel summing in another order; bfloat16 /
  // float16 against the CPU on the same rounded inputs (the GPU also rounds P, dS and the outputs).
  // SELFSUP_CUDA_TEST_QUICK (scripts/gpu-check.sh sets it under compute-sanitizer): the cases
  // with at most 40000 score elements per head only.
  const bool quick = std::getenv("SELFSUP_CUDA_TEST_QUICK") != nullptr;
  for (const Case& c : kCases) {
    if (quick && static_cast<int64_t>(c.Nq) * c.Nk > 40000) continue;
    run_case<float>(c, {1e-4, 2e-5, 5e-4});
    run_case<__nv_bfloat16>(c, {1.5e-2, 1e-3, 3e-2});
    run_case<__half>(c, {3e-3, 1e-3, 1e-2});
  }
  dropout_pattern<float>();
  dropout_pattern<__nv_bfloat16>();
  dropout_pattern<__half>();
  return test_result();
}
