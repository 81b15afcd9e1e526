// The CUDA tensor core and AdamW against the CPU kernels (the addon's dispatch), on fresh random
// inputs at awkward shapes; plus the caching allocator's reuse and stats and the async download.
// Exit 0: pass; 1: a failure (each printed); 77: no CUDA device (ctest counts it as skipped).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "cuda/memory.h"
#include "ops/optim/cuda.h"
#include "ops/optim/params.h"
#include "ops/tensor/cuda.h"
#include "ops/tensor/params.h"

using namespace selfsup;

namespace {

std::mt19937_64 rng;
cudaStream_t g_stream = nullptr;

std::vector<float> randn(size_t n, float scale = 1.0f, float shift = 0.0f) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng) * scale + shift;
  return v;
}

// A device copy of a host vector (through the caching allocator), freed at scope end.
struct Dev {
  cuda::Block b;
  size_t bytes = 0;
  template <class T>
  explicit Dev(const std::vector<T>& h) : bytes(h.size() * sizeof(T)) {
    EXPECT(cuda::alloc(0, bytes, &b).ok());
    EXPECT(cuda::upload(b, h.data(), bytes).ok());
  }
  explicit Dev(size_t nbytes) : bytes(nbytes) { EXPECT(cuda::alloc(0, nbytes, &b).ok()); }
  ~Dev() { cuda::release(b); }
  template <class T>
  std::vector<T> get() const {
    std::vector<T> h(bytes / sizeof(T));
    EXPECT(cuda::download(h.data(), b, bytes).ok());
    return h;
  }
  void* p() const { return b.ptr; }
};

// max |a - b| / (atol + rtol |b|) over the arrays; <= 1 passes. NaN must match NaN.
double score(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); i++) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) || std::isnan(g)) { if (std::isnan(w) != std::isnan(g)) return INFINITY; continue; }
    if (std::isinf(w) || std::isinf(g)) { if (g != w) return INFINITY; continue; }
    worst = std::fmax(worst, std::fabs(g - w) / (atol + rtol * std::fabs(w)));
  }
  return worst;
}
void report(const char* what, double s) {
  std::printf("%-44s worst error / tolerance = %.3g\n", what, s);
  if (!(s <= 1.0)) { ++g_failures; std::printf("FAIL %s\n", what); }
}

Loop loop_of(int nd, const int64_t* shape, const int64_t* const* strides, int nops) {
  Loop L;
  EXPECT(make_loop(nd, shape, strides, nops, &L));
  return L;
}

void test_binary() {
  // out [5, 3, 7] = a [5, 1, 7] (op) b [3, 1]: both broadcast.
  const int64_t os[3] = {5, 3, 7}, ost[3] = {21, 7, 1}, ast[3] = {7, 0, 1}, bst[3] = {0, 1, 0};
  const int64_t* strides[3] = {ost, ast, bst};
  const Loop L = loop_of(3, os, strides, 3);
  auto a = randn(35), b = randn(3, 1.0f, 0.0f);
  auto ap = a; for (auto& x : ap) x = std::fabs(x) + 0.1f;  // pow's base
  const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv, BinaryOp::kPow,
                          BinaryOp::kMaximum, BinaryOp::kMinimum, BinaryOp::kGt, BinaryOp::kEq, BinaryOp::kNe};
  for (BinaryOp op : ops) {
    const auto& A = op == BinaryOp::kPow ? ap : a;
    Dev da(A), db(b), dout(size_t(105) * 4);
    EXPECT(tensor_binary_cuda(op, DType::kFloat32, dout.p(), da.p(), db.p(), L, g_stream).ok());
    char name[64];
    std::snprintf(name, sizeof name, "binary op %d [5,1,7] x [3,1]", int(op));
    if (binary_is_compare(op)) {
      std::vector<uint8_t> want(105);
      SELFSUP_DISPATCH(tensor_binary)(op, DType::kFloat32, want.data(), A.data(), b.data(), L);
      auto got = dout.get<uint8_t>();
      got.resize(105);
      report(name, std::memcmp(got.data(), want.data(), 105) == 0 ? 0.0 : INFINITY);
    } else {
      std::vector<float> want(105);
      SELFSUP_DISPATCH(tensor_binary)(op, DType::kFloat32, want.data(), A.data(), b.data(), L);
      // + - * / max min are correctly rounded on both sides: exact; pow within a few ulp.
      report(name, score(dout.get<float>(), want, 0, op == BinaryOp::kPow ? 1e-6 : 1e-12));
    }
  }
}

void test_unary() {
  const int64_t n = 1000 + 37;
  auto x = randn(n, 3.0f);
  auto xp = x; for (auto& v : xp) v = std::fabs(v) + 1e-3f;
  for (int o = 0; o < int(UnaryOp::kCount); o++) {
    const auto op = static_cast<UnaryOp>(o);
    const bool positive = op == UnaryOp::kLog || op == UnaryOp::kSqrt || op == UnaryOp::kRsqrt || op == UnaryOp::kPowScalar;
    const auto& X = positive ? xp : x;
    const double p0 = op == UnaryOp::kClamp ? -0.5 : op == UnaryOp::kPowScalar ? 1.7 : 0.3, p1 = 0.75;
    Dev dx(X), dy(size_t(n) * 4), dg(randn(n)), dgx(size_t(n) * 4);
    std::vector<float> want(n), g = dg.get<float>(), gwant(n);
    EXPECT(tensor_unary_cuda(op, DType::kFloat32, dx.p(), dy.p(), n, p0, p1, g_stream).ok());
    SELFSUP_DISPATCH(tensor_unary)(op, DType::kFloat32, X.data(), want.data(), n, p0, p1);
    char name[64];
    std::snprintf(name, sizeof name, "unary op %d (n = %lld)", o, (long long)n);
    // A few float ulps; the absolute term covers cancellation where either side contracts an FMA
    // (affine: a x + c; nvcc contracts by default, the CPU's FMA variants may).
    report(name, score(dy.get<float>(), want, 1e-6, 4e-7));
    // The backward reads x or y, as the binding passes it.
    const bool reads_y = unary_backward_reads_output(op);
    const float* s = reads_y ? want.data() : X.data();
    Dev ds(reads_y ? want : X);
    EXPECT(tensor_unary_backward_cuda(op, DType::kFloat32, dg.p(), ds.p(), dgx.p(), n, p0, p1, g_stream).ok());
    SELFSUP_DISPATCH(tensor_unary_backward)(op, DType::kFloat32, g.data(), s, gwant.data(), n, p0, p1);
    std::snprintf(name, sizeof name, "unary backward op %d", o);
    report(name, score(dgx.get<float>(), gwant, 2e-6, 1e-6));
  }
}

void test_reduce() {
  struct Case { std::vector<int64_t> shape; std::vector<bool> red; };
  const Case cases[] = {{{7, 300, 5}, {false, true, false}}, {{7, 300, 5}, {true, false, true}},
                        {{7, 300, 5}, {true, true, true}},   {{3, 5001}, {false, true}},
                        {{4099, 3}, {true, false}},          {{2, 0, 3}, {false, true, false}},
                        {{1, 9, 1, 11}, {true, false, true, true}}};
  for (const Case& c : cases) {
    int64_t n = 1, nout = 1;
    for (size_t d = 0; d < c.shape.size(); d++) { n *= c.shape[d]; if (!c.red[d]) nout *= c.shape[d]; }
    auto x = randn(size_t(n), 2.0f, 0.5f);
    bool red[8];
    for (size_t d = 0; d < c.red.size(); d++) red[d] = c.red[d];
    for (int o = 0; o < int(ReduceOp::kCount); o++) {
      const auto op = static_cast<ReduceOp>(o);
      Dev dx(x.empty() ? std::vector<float>(1) : x), dout(size_t(nout) * 4);
      std::vector<float> want(nout);
      const double scale = op == ReduceOp::kSum ? 0.25 : 1.0;
      EXPECT(tensor_reduce_cuda(op, DType::kFloat32, dx.p(), dout.p(), int(c.shape.size()), c.shape.data(), red, scale, g_stream).ok());
      SELFSUP_DISPATCH(tensor_reduce)(op, DType::kFloat32, x.data(), want.data(), int(c.shape.size()), c.shape.data(), red, scale);
      char name[80];
      std::snprintf(name, sizeof name, "reduce op %d, n = %lld -> %lld", o, (long long)n, (long long)nout);
      // Sums accumulate in double on both sides, in different orders: a few float ulp apart.
      report(name, score(dout.get<float>(), want, 1e-5, 1e-6));
    }
  }
  // Determinism: the same input twice gives the same bits.
  const int64_t shape[2] = {3, 100003};
  const bool red[2] = {false, true};
  Dev dx(randn(300009)), o1(12), o2(12);
  EXPECT(tensor_reduce_cuda(ReduceOp::kSum, DType::kFloat32, dx.p(), o1.p(), 2, shape, red, 1.0, g_stream).ok());
  EXPECT(tensor_reduce_cuda(ReduceOp::kSum, DType::kFloat32, dx.p(), o2.p(), 2, shape, red, 1.0, g_stream).ok());
  EXPECT(o1.get<float>() == o2.get<float>());
}

void test_softmax() {
  const int64_t shapes[][3] = {{3, 1001, 1}, {4, 37, 5}, {1, 1, 9}, {65, 3, 1}};
  for (const auto& sh : shapes) {
    const int64_t n = sh[0] * sh[1] * sh[2];
    for (int lg = 0; lg < 2; lg++) {
      auto x = randn(size_t(n), 4.0f);
      x[0] = -INFINITY;  // a -inf entry (masked logit) stays exact
      Dev dx(x), dy(size_t(n) * 4), dg(randn(size_t(n))), dgx(size_t(n) * 4);
      std::vector<float> want(n), gwant(n), g = dg.get<float>();
      EXPECT(tensor_softmax_cuda(lg, DType::kFloat32, dx.p(), dy.p(), sh[0], sh[1], sh[2], g_stream).ok());
      SELFSUP_DISPATCH(tensor_softmax)(lg, DType::kFloat32, x.data(), want.data(), sh[0], sh[1], sh[2]);
      char name[80];
      std::snprintf(name, sizeof name, "%s [%lld, %lld, %lld]", lg ? "logSoftmax" : "softmax", (long long)sh[0], (long long)sh[1], (long long)sh[2]);
      report(name, score(dy.get<float>(), want, 1e-7, 2e-6));
      // Backward from the CPU's y on both sides; gx written over g (in place, as the binding allows).
      Dev dyc(want);
      EXPECT(tensor_softmax_backward_cuda(lg, DType::kFloat32, dg.p(), dyc.p(), dg.p(), sh[0], sh[1], sh[2], g_stream).ok());
      SELFSUP_DISPATCH(tensor_softmax_backward)(lg, DType::kFloat32, g.data(), want.data(), gwant.data(), sh[0], sh[1], sh[2]);
      std::snprintf(name, sizeof name, "%s backward (in place)", lg ? "logSoftmax" : "softmax");
      report(name, score(dg.get<float>(), gwant, 1e-6, 2e-5));
    }
  }
}

void test_copy_cast_axpy() {
  // The transpose of [13, 17] into a contiguous [17, 13], 4-byte and 2-byte elements.
  const int64_t shape[2] = {17, 13}, dst[2] = {13, 1}, src[2] = {1, 17};
  const int64_t* strides[2] = {dst, src};
  const Loop L = loop_of(2, shape, strides, 2);
  auto x = randn(221);
  Dev dx(x), dy(221 * 4);
  EXPECT(tensor_copy_cuda(4, dy.p(), dx.p(), L, g_stream).ok());
  std::vector<float> want(221);
  SELFSUP_DISPATCH(tensor_copy)(4, want.data(), x.data(), L);
  report("copy transpose [13, 17] (4-byte)", dy.get<float>() == want ? 0.0 : INFINITY);
  std::vector<uint16_t> h(221), hw(221);
  for (size_t i = 0; i < h.size(); i++) h[i] = uint16_t(rng());
  Dev dh(h), dh2(221 * 2);
  EXPECT(tensor_copy_cuda(2, dh2.p(), dh.p(), L, g_stream).ok());
  for (int i = 0; i < 17; i++) for (int j = 0; j < 13; j++) hw[i * 13 + j] = h[j * 17 + i];
  report("copy transpose [13, 17] (2-byte)", dh2.get<uint16_t>() == hw ? 0.0 : INFINITY);

  // float32 -> bfloat16 -> float32: round to nearest even on the top 16 bits.
  const int64_t n = 4097;
  auto f = randn(n, 1e3f);
  f[0] = 1e-40f; f[1] = 3.0e38f; f[2] = -0.0f;
  Dev df(f), db(size_t(n) * 2), dback(size_t(n) * 4), di(size_t(n) * 4);
  EXPECT(tensor_cast_cuda(DType::kFloat32, DType::kBFloat16, df.p(), db.p(), n, g_stream).ok());
  EXPECT(tensor_cast_cuda(DType::kBFloat16, DType::kFloat32, db.p(), dback.p(), n, g_stream).ok());
  std::vector<float> rne(n);
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &f[i], 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&rne[i], &u, 4);
  }
  report("cast float32 -> bfloat16 -> float32", dback.get<float>() == rne ? 0.0 : INFINITY);
  EXPECT(tensor_cast_cuda(DType::kFloat32, DType::kInt32, df.p(), di.p(), n, g_stream).ok());
  auto gi = di.get<int32_t>();
  bool ok = true;
  for (int64_t i = 3; i < n; i++) ok = ok && gi[i] == int32_t(std::trunc(f[i]));
  report("cast float32 -> int32 (toward zero)", ok ? 0.0 : INFINITY);

  auto y = randn(n), xx = randn(n);
  Dev dyy(y), dxx(xx);
  EXPECT(tensor_axpy_cuda(DType::kFloat32, dyy.p(), dxx.p(), n, -0.37, g_stream).ok());
  SELFSUP_DISPATCH(tensor_axpy)(DType::kFloat32, y.data(), xx.data(), n, -0.37);
  report("axpy", score(dyy.get<float>(), y, 1e-6, 1e-6));
}

void test_adamw() {
  const int64_t sizes[] = {1, 1000, 70001, 0, 1025};
  for (int ams = 0; ams < 2; ams++) {
    std::vector<std::vector<float>> w, g, m, v, vm;
    std::vector<Dev*> dev;
    std::vector<AdamWTensor> cpu, gpu;
    for (int64_t n : sizes) {
      w.push_back(randn(n)); g.push_back(randn(n, 1e-2f)); m.push_back(randn(n, 1e-3f));
      auto vv = randn(n, 1e-4f); for (auto& e : vv) e = std::fabs(e);
      v.push_back(vv); vm.push_back(vv);
    }
    for (size_t t = 0; t < w.size(); t++) {
      Dev* d[5] = {new Dev(w[t]), new Dev(g[t]), new Dev(m[t]), new Dev(v[t]), new Dev(vm[t])};
      for (Dev* x : d) dev.push_back(x);
      const double step = 1e-3 / (1 - 0.9 * 0.9), sbc2 = std::sqrt(1 - 0.999 * 0.999);
      cpu.push_back({w[t].data(), g[t].data(), m[t].data(), v[t].data(), ams ? vm[t].data() : nullptr, sizes[t], step, sbc2});
      gpu.push_back({d[0]->p(), d[1]->p(), d[2]->p(), d[3]->p(), ams ? d[4]->p() : nullptr, sizes[t], step, sbc2});
    }
    const AdamWHyper h{0.9, 0.999, 1e-8, 1 - 1e-3 * 0.05, 1};
    for (int rep = 0; rep < 2; rep++) {
      EXPECT(adamw_step_cuda(DType::kFloat32, h, gpu.data(), int64_t(gpu.size()), g_stream).ok());
      SELFSUP_DISPATCH(adamw_step)(DType::kFloat32, h, cpu.data(), int64_t(cpu.size()));
    }
    bool same = true;
    for (size_t t = 0; t < w.size(); t++) {
      same = same && dev[5 * t]->get<float>() == w[t] && dev[5 * t + 2]->get<float>() == m[t] && dev[5 * t + 3]->get<float>() == v[t];
    }
    report(ams ? "adamw (amsgrad), 2 steps, bit-exact vs cpu" : "adamw, 2 steps, bit-exact vs cpu", same ? 0.0 : INFINITY);
    for (Dev* d : dev) delete d;
  }
}

void test_allocator() {
  const cuda::MemoryStats s0 = cuda::memory_stats();
  cuda::Block a, b;
  EXPECT(cuda::alloc(0, 1000, &a).ok());
  EXPECT(a.size == 1024);
  cuda::release(a);
  EXPECT(cuda::alloc(0, 900, &b).ok());  // same class: the cached block, no cudaMalloc
  EXPECT(b.ptr == a.ptr);
  const cuda::MemoryStats s1 = cuda::memory_stats();
  EXPECT(s1.cache_hits >= s0.cache_hits + 1);
  EXPECT(s1.allocated >= 1024);
  EXPECT(s1.peak_allocated >= s1.allocated);
  // Async download through pinned staging.
  std::vector<float> h = randn(256), back(256);
  EXPECT(cuda::upload(b, h.data(), 1024).ok());
  cuda::PendingDownload pd;
  EXPECT(cuda::download_begin(b, 1024, &pd).ok());
  EXPECT(cuda::download_wait(&pd, back.data()).ok());
  report("async download round trip", back == h ? 0.0 : INFINITY);
  cuda::release(b);
  EXPECT(cuda::empty_cache().ok());
  const cuda::MemoryStats s2 = cuda::memory_stats();
  EXPECT(s2.reserved == s2.allocated);
  std::printf("allocator: %lld cudaMalloc, %lld cache hits, peak %lld bytes\n", (long long)s2.num_mallocs,
              (long long)s2.cache_hits, (long long)s2.peak_allocated);
}

}  // namespace

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("skip: no CUDA device\n");
    return 77;
  }
  const uint64_t seed = std::random_device{}();
  rng.seed(seed);
  std::printf("seed %llu\n", (unsigned long long)seed);
  void* s = nullptr;
  if (!cuda::stream(0, &s).ok()) { std::printf("FAIL: no stream\n"); return 1; }
  g_stream = static_cast<cudaStream_t>(s);
  test_allocator();
  test_binary();
  test_unary();
  test_reduce();
  test_softmax();
  test_copy_cast_axpy();
  test_adamw();
  return test_result();
}
