// CUDA GEMM against a float64 host reference: every transpose pair, awkward sizes (1, primes,
// sizes just past a tile), padded leading dimensions, batches with a broadcast operand, beta == 0
// over a NaN-filled C (C must not be read) and beta != 0; float32 on the SIMT kernels, bfloat16 and
// float16 on tensor cores against the reference on the same rounded inputs. Argument checks run
// first, without a device. Exit 77 when there is no device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>

#include "cuda/gemm.h"
#include "tests/cuda_check.h"

using selfsup::DType;
using selfsup::cuda::GemmParams;

namespace {

struct Case {
  int64_t m, n, k, batch;
  bool ta, tb;
  float alpha, beta;
  int64_t pad;  // extra columns in every leading dimension
};

uint16_t to_bits(float f, DType t) {
  if (t == DType::kBFloat16) return __bfloat16_as_ushort(__float2bfloat16_rn(f));
  return __half_as_ushort(__float2half_rn(f));
}
float from_bits(uint16_t h, DType t) {
  if (t == DType::kBFloat16) return __bfloat162float(__ushort_as_bfloat16(h));
  return __half2float(__ushort_as_half(h));
}

void run_case(const Case& c, DType in, DType out, float scale) {
  const int64_t ar = c.ta ? c.k : c.m, ac = c.ta ? c.m : c.k;  // stored shape of A
  const int64_t br = c.tb ? c.n : c.k, bc = c.tb ? c.k : c.n;
  const int64_t lda = ac + c.pad, ldb = bc + c.pad, ldc = c.n + c.pad;
  const int64_t sA = ar * lda, sB = 0, sC = c.m * ldc + 3;  // B broadcast over the batch
  std::vector<float> A = randn(static_cast<size_t>(sA * c.batch), scale);
  std::vector<float> B = randn(static_cast<size_t>(br * ldb), scale);
  std::vector<float> C0 = randn(static_cast<size_t>(sC * c.batch), scale);
  if (in != DType::kFloat32)  // the reference sees the rounded inputs
    for (auto* v : {&A, &B, &C0})
      for (auto& x : *v) x = from_bits(to_bits(x, in), in);
  if (c.beta == 0.0f) std::fill(C0.begin(), C0.end(), NAN);

  // float64 reference; `mag` = alpha sum |a||b| + |beta c| bounds the rounding of each output.
  std::vector<double> want(C0.size()), mag(C0.size(), 0.0);
  for (int64_t z = 0; z < c.batch; ++z)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0, a = 0;
        for (int64_t l = 0; l < c.k; ++l) {
          const double x = A[z * sA + (c.ta ? l * lda + i : i * lda + l)];
          const double y = B[z * sB + (c.tb ? j * ldb + l : l * ldb + j)];
          s += x * y;
          a += std::fabs(x * y);
        }
        const size_t o = static_cast<size_t>(z * sC + i * ldc + j);
        const double cv = c.beta == 0.0f ? 0.0 : C0[o];
        want[o] = c.alpha * s + c.beta * cv;
        mag[o] = std::fabs(c.alpha) * a + std::fabs(c.beta * cv);
      }

  GemmParams p;
  p.in_dtype = in;
  p.out_dtype = out;
  p.transA = c.ta;
  p.transB = c.tb;
  p.m = c.m; p.n = c.n; p.k = c.k; p.batch = c.batch;
  p.alpha = c.alpha; p.beta = c.beta;
  p.lda = lda; p.ldb = ldb; p.ldc = ldc;
  p.strideA = sA; p.strideB = sB; p.strideC = sC;
  std::vector<float> got(C0.size());
  if (in == DType::kFloat32) {
    DeviceVec<float> dA(A), dB(B), dC(C0);
    p.A = dA.p; p.B = dB.p; p.C = dC.p;
    EXPECT_OK(selfsup::cuda::gemm(p, nullptr));
    got = dC.host();
  } else {
    std::vector<uint16_t> hA(A.size()), hB(B.size()), hC(C0.size());
    for (size_t i = 0; i < A.size(); ++i) hA[i] = to_bits(A[i], in);
    for (size_t i = 0; i < B.size(); ++i) hB[i] = to_bits(B[i], in);
    for (size_t i = 0; i < C0.size(); ++i) hC[i] = to_bits(C0[i], in);
    DeviceVec<uint16_t> dA(hA), dB(hB);
    p.A = dA.p; p.B = dB.p;
    if (out == DType::kFloat32) {
      DeviceVec<float> dC(C0);
      p.C = dC.p;
      EXPECT_OK(selfsup::cuda::gemm(p, nullptr));
      got = dC.host();
    } else {
      DeviceVec<uint16_t> dC(hC);
      p.C = dC.p;
      EXPECT_OK(selfsup::cuda::gemm(p, nullptr));
      std::vector<uint16_t> h = dC.host();
      for (size_t i = 0; i < h.size(); ++i) got[i] = from_bits(h[i], in);
    }
  }
  // Only the outputs: the gaps between rows and matrices must keep their (NaN / random) values.
  std::vector<float> g2;
  std::vector<double> w2;
  bool gaps_kept = true;
  for (int64_t z = 0; z < c.batch; ++z)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < ldc; ++j) {
        const size_t o = static_cast<size_t>(z * sC + i * ldc + j);
        if (j >= c.n) {
          const float before = C0[o];
          const bool same = std::memcmp(&before, &got[o], 4) == 0 ||
                            (in != DType::kFloat32 && out != DType::kFloat32 &&
                             from_bits(to_bits(before, in), in) == got[o]) ||
                            (before != before && got[o] != got[o]);
          if (!same) gaps_kept = false;
          continue;
        }
        g2.push_back(static_cast<float>(got[o] / (mag[o] + 1e-30)));
        w2.push_back(want[o] / (mag[o] + 1e-30));
      }
  EXPECT(gaps_kept);
  // Errors relative to the magnitude sum: fp32 accumulation ~ k u32; a half output adds its
  // own rounding (bf16 2^-8, fp16 2^-11).
  double tol = 2e-6 * std::sqrt(static_cast<double>(c.k) + 1) + 1e-6;
  if (out == DType::kBFloat16) tol += 4e-3;
  if (out == DType::kFloat16) tol += 5e-4;
  char name[160];
  std::snprintf(name, sizeof(name), "%s->%s %ldx%ldx%ld b%ld %c%c a%.2g b%.2g s%g",
                selfsup::dtype_name(in), selfsup::dtype_name(out), (long)c.m, (long)c.n, (long)c.k,
                (long)c.batch, c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', c.alpha, c.beta, scale);
  expect_close(name, g2, w2, tol);  // |got - want| / mag, within 2x
}

void check_arguments() {
  GemmParams p;
  p.m = 4; p.n = 5; p.k = 6; p.lda = 6; p.ldb = 5; p.ldc = 5;
  float dummy = 0;
  p.A = p.B = &dummy;
  p.C = &dummy;
  EXPECT(selfsup::cuda::gemm_check(p).ok());
  GemmParams q = p;
  q.lda = 5;
  selfsup::Status s = selfsup::cuda::gemm_check(q);
  EXPECT(s.code == selfsup::Code::kOutOfRange && s.message.find("lda >= 6") != std::string::npos);
  q = p;
  q.in_dtype = DType::kFloat64;
  s = selfsup::cuda::gemm_check(q);
  EXPECT(s.code == selfsup::Code::kInvalidArgument && s.message.find("for A") != std::string::npos);
  q = p;
  q.out_dtype = DType::kBFloat16;  // a half output needs half inputs
  EXPECT(selfsup::cuda::gemm_check(q).code == selfsup::Code::kInvalidArgument);
  q = p;
  q.batch = 0;
  EXPECT(selfsup::cuda::gemm_check(q).code == selfsup::Code::kOutOfRange);
  q = p;
  q.C = nullptr;
  EXPECT(selfsup::cuda::gemm_check(q).code == selfsup::Code::kInvalidArgument);
}

}  // namespace

int main() {
  check_arguments();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  const Case cases[] = {
      {1, 1, 1, 1, false, false, 1.0f, 0.0f, 0},     {37, 53, 29, 1, false, false, 0.7f, 0.0f, 3},
      {37, 53, 29, 1, true, false, 1.0f, -1.3f, 1},  {37, 53, 29, 1, false, true, 1.0f, 0.5f, 0},
      {37, 53, 29, 1, true, true, -2.0f, 0.0f, 5},   {129, 65, 257, 3, false, true, 1.0f, 0.0f, 2},
      {300, 200, 130, 2, true, false, 0.25f, 1.0f, 0}, {513, 129, 33, 1, false, false, 1.0f, 0.0f, 8},
      {64, 64, 0, 2, false, false, 1.0f, 2.0f, 0},   {17, 1000, 8, 1, true, true, 1.0f, 0.0f, 1},
  };
  for (const Case& c : cases) {
    for (float scale : {1.0f, 1e-3f, 1e3f}) run_case(c, DType::kFloat32, DType::kFloat32, scale);
    for (DType t : {DType::kBFloat16, DType::kFloat16}) {
      run_case(c, t, DType::kFloat32, 1.0f);
      run_case(c, t, t, t == DType::kFloat16 ? 0.1f : 10.0f);
    }
  }
  return test_result();
}
