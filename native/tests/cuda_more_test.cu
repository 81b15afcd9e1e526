// The kernels behind the training ops on cuda (native/napi/cuda_more.cc):
// - where (native/ops/where/cuda.h) against a host select, on fresh random conditions at awkward
//   lengths (1, 255, 257, 1037, 300007), every element size (float32, bfloat16 as raw 16-bit
//   words, int32, bool), branches holding inf and NaN (they must not leak into the other branch:
//   the select moves bits), out aliasing a and b, n = 0;
// - the dropout mask (native/ops/dropout/cuda.h) against the host's philox_uniform (the CPU's
//   mask) element for element, at lengths that end inside a Philox block, p = 0, 0.1, 0.5, 1, a
//   seed above 2^32, and the kept fraction near 1 - p.
// Argument checks run first, without a device; exit 77 (skipped) when there is none.
#include <cstring>
#include <string>

#include "ops/dropout/cuda.h"
#include "ops/where/cuda.h"
#include "selfsup/philox.h"
#include "tests/cuda_check.h"

using namespace selfsup;

namespace {

const cudaStream_t kStream = nullptr;  // the legacy default stream, ordered with DeviceVec's copies

void test_checks() {
  uint8_t c = 1;
  float x = 0;
  EXPECT(tensor_where_cuda(DType::kFloat64, &x, &c, &x, &x, 1, kStream).code == Code::kUnsupported);
  EXPECT(tensor_where_cuda(DType::kFloat32, &x, &c, &x, &x, -1, kStream).code == Code::kOutOfRange);
  EXPECT(tensor_where_cuda(DType::kFloat32, nullptr, &c, &x, &x, 1, kStream).code == Code::kInvalidArgument);
  EXPECT(tensor_where_cuda(DType::kFloat32, nullptr, nullptr, nullptr, nullptr, 0, kStream).ok());  // nothing to do
  EXPECT(dropout_mask_cuda(1, 2, 1.5, 4, &c, kStream).code == Code::kOutOfRange);
  EXPECT(dropout_mask_cuda(1, 2, NAN, 4, &c, kStream).code == Code::kOutOfRange);
  EXPECT(dropout_mask_cuda(1, 2, 0.5, -1, &c, kStream).code == Code::kOutOfRange);
  EXPECT(dropout_mask_cuda(1, 2, 0.5, 4, nullptr, kStream).code == Code::kInvalidArgument);
}

// keep[i] == (uniform i >= p) for the host's uniforms of (seed, stream 2).
void test_dropout_mask() {
  for (uint64_t seed : {uint64_t(7), (uint64_t(1) << 40) + 12345}) {
    for (size_t n : {size_t(1), size_t(6), size_t(1037), size_t(300007)}) {
      std::vector<float> u(n);
      philox_uniform(seed, 2, 0, static_cast<int64_t>(n), u.data());
      for (double p : {0.0, 0.1, 0.5, 1.0}) {
        DeviceVec<uint8_t> keep(n);
        keep.fill_bytes(0xAB);
        EXPECT_OK(dropout_mask_cuda(seed, 2, p, static_cast<int64_t>(n), keep.p, kStream));
        const std::vector<uint8_t> got = keep.host();
        size_t bad = 0, kept = 0;
        for (size_t i = 0; i < n; i++) {
          bad += got[i] != (u[i] >= p ? 1 : 0);
          kept += got[i] == 1;
        }
        const double frac = static_cast<double>(kept) / static_cast<double>(n);
        const bool ok = bad == 0 && (n < 1000 || std::fabs(frac - (1 - p)) < 0.02);
        std::printf("dropout mask seed %-14llu n %-7zu p %.1f mismatches %zu kept %.4f%s\n",
                    static_cast<unsigned long long>(seed), n, p, bad, frac, ok ? "" : "  FAIL");
        if (!ok) ++g_failures;
      }
    }
  }
}

std::vector<uint8_t> random_cond(size_t n) {
  std::vector<uint8_t> c(n);
  for (auto& v : c) v = static_cast<uint8_t>(rng()() % 3);  // 0, 1 and 2 (any nonzero byte takes a)
  return c;
}

// Raw words of E: a and b differ everywhere, so a wrong pick shows.
template <class E>
void check_size(DType dt, size_t n, const char* label) {
  std::vector<uint8_t> c = random_cond(n);
  std::vector<E> a(n), b(n);
  for (size_t i = 0; i < n; i++) {
    a[i] = static_cast<E>(rng()());
    b[i] = static_cast<E>(a[i] ^ E(1));
  }
  DeviceVec<uint8_t> dc(c);
  DeviceVec<E> da(a), db(b), dout(n);
  dout.fill_bytes(0xAB);
  EXPECT_OK(tensor_where_cuda(dt, dout.p, dc.p, da.p, db.p, static_cast<int64_t>(n), kStream));
  const std::vector<E> got = dout.host();
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += got[i] != (c[i] ? a[i] : b[i]);
  std::printf("%-40s n %-7zu mismatches %zu%s\n", label, n, bad, bad ? "  FAIL" : "");
  if (bad) ++g_failures;
  // In place: out = a, then out = b.
  EXPECT_OK(tensor_where_cuda(dt, da.p, dc.p, da.p, db.p, static_cast<int64_t>(n), kStream));
  const std::vector<E> in_a = da.host();
  EXPECT_OK(tensor_where_cuda(dt, db.p, dc.p, dout.p, db.p, static_cast<int64_t>(n), kStream));
  const std::vector<E> in_b = db.host();
  bad = 0;
  for (size_t i = 0; i < n; i++) bad += in_a[i] != got[i] || in_b[i] != got[i];
  if (bad) {
    std::printf("FAIL %s in place: %zu mismatches\n", label, bad);
    ++g_failures;
  }
}

// float32 branches with inf and NaN: the untaken branch never shows.
void test_nonfinite() {
  const size_t n = 1037;
  std::vector<uint8_t> c = random_cond(n);
  std::vector<float> a = randn(n), b = randn(n);
  for (size_t i = 0; i < n; i++) {
    if (c[i]) b[i] = (i % 2) ? INFINITY : NAN;
    else a[i] = (i % 2) ? -INFINITY : NAN;
  }
  DeviceVec<uint8_t> dc(c);
  DeviceVec<float> da(a), db(b), dout(n);
  EXPECT_OK(tensor_where_cuda(DType::kFloat32, dout.p, dc.p, da.p, db.p, static_cast<int64_t>(n), kStream));
  const std::vector<float> got = dout.host();
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += std::memcmp(&got[i], c[i] ? &a[i] : &b[i], sizeof(float)) != 0 || !std::isfinite(got[i]);
  std::printf("%-40s n %-7zu mismatches %zu%s\n", "float32, inf / NaN in the other branch", n, bad, bad ? "  FAIL" : "");
  if (bad) ++g_failures;
}

}  // namespace

int main() {
  test_checks();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  for (size_t n : {size_t(1), size_t(255), size_t(257), size_t(1037), size_t(300007)}) {
    check_size<uint32_t>(DType::kFloat32, n, "float32 (bits)");
    check_size<uint32_t>(DType::kInt32, n, "int32");
    check_size<uint16_t>(DType::kBFloat16, n, "bfloat16 (bits)");
    check_size<uint8_t>(DType::kBool, n, "bool");
  }
  test_nonfinite();
  test_dropout_mask();
  return test_result();
}
