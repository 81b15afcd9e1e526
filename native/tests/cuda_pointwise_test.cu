// GELU and LayerNorm on CUDA (native/ops/pointwise/cuda.h) against the CPU kernels (the addon's
// dispatch), on fresh random inputs at awkward shapes (1 x 1, rows of 33, 257, 1025 and 1037
// columns, a large mean), with and without bias / affine parameters, in place, and twice for
// determinism. Argument checks run first, without a device; exit 77 (skipped) when there is none.
//
// Tolerances (|gpu - cpu| <= atol + rtol |cpu|):
// - GELU: 1e-6 + 1e-5 |cpu|. The device uses erfcf / expf (a few ulp each); on the lower tail the
//   rounding of -x / sqrt 2 is amplified by about x^2 in Phi, 144 ulp (~9e-6 relative) at x = -12,
//   the most negative test input.
// - LayerNorm: 1e-5 relative to the row's scale; mean and rstd (float32 on the device, double on
//   the CPU) 1e-6 relative; dweight / dbias (double sums over up to 37 rows) 1e-5.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/memory.h"
#include "ops/pointwise/cuda.h"
#include "ops/pointwise/params.h"

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

// A device buffer of n floats, uploaded from `h` (or NaN-filled, so an element never written
// shows), returned to the allocator at scope end.
struct Buf {
  cuda::Block b;
  size_t n;
  explicit Buf(const std::vector<float>& h) : n(h.size()) {
    EXPECT(cuda::alloc(0, n * sizeof(float), &b).ok());
    EXPECT(cuda::upload(b, h.data(), n * sizeof(float)).ok());
  }
  explicit Buf(size_t count) : Buf(std::vector<float>(count, NAN)) {}
  ~Buf() { cuda::release(b); }
  std::vector<float> get() const {
    std::vector<float> h(n);
    EXPECT(cuda::download(h.data(), b, n * sizeof(float)).ok());
    return h;
  }
  float* p() const { return static_cast<float*>(b.ptr); }
};

// max |got - want| / (atol + rtol |want|); <= 1 passes.
template <class W>
double score(const std::vector<float>& got, const std::vector<W>& want, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); i++) {
    const double g = got[i], w = static_cast<double>(want[i]);
    if (std::isnan(g) != std::isnan(w)) return INFINITY;
    if (std::isnan(w)) continue;
    worst = std::fmax(worst, std::fabs(g - w) / (atol + rtol * std::fabs(w)));
  }
  return worst;
}
void report(const std::string& what, double s) {
  std::printf("%-52s worst error / tolerance = %.3g\n", what.c_str(), s);
  if (!(s <= 1.0)) { ++g_failures; std::printf("FAIL %s\n", what.c_str()); }
}
double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::fmax(m, std::fabs(x));
  return m;
}

void test_checks() {
  GeluParams g;
  g.rows = 2, g.cols = 3;
  float dummy = 0;
  g.x = &dummy;
  g.dtype = DType::kFloat64;
  EXPECT(gelu_forward_cuda(g, &dummy, nullptr).code == Code::kUnsupported);
  g.dtype = DType::kFloat32;
  g.mode = static_cast<GeluMode>(7);
  EXPECT(gelu_forward_cuda(g, &dummy, nullptr).code == Code::kOutOfRange);
  g.mode = GeluMode::kErf;
  EXPECT(gelu_backward_cuda(g, &dummy, &dummy, &dummy, nullptr).code == Code::kInvalidArgument);  // dbias without bias
  LayerNormParams l;
  l.rows = 2, l.n = 3, l.x = &dummy;
  l.eps = -1;
  EXPECT(layer_norm_forward_cuda(l, &dummy, &dummy, &dummy, nullptr).code == Code::kOutOfRange);
  l.eps = 1e-5, l.n = 0;
  EXPECT(layer_norm_forward_cuda(l, &dummy, &dummy, &dummy, nullptr).code == Code::kOutOfRange);
  l.n = 3, l.dtype = DType::kFloat64;
  EXPECT(layer_norm_backward_cuda(l, &dummy, &dummy, &dummy, &dummy, nullptr, nullptr, nullptr).code == Code::kUnsupported);
}

void test_gelu() {
  const int64_t shapes[][2] = {{1, 1}, {7, 1037}, {13, 33}};
  for (auto mode : {GeluMode::kErf, GeluMode::kTanh}) {
    for (auto& sh : shapes) {
      for (bool with_bias : {false, true}) {
        const int64_t rows = sh[0], cols = sh[1], n = rows * cols;
        std::vector<float> x = randn(n, 3.0f), bias = randn(cols), g = randn(n);
        const float special[] = {0.0f, -0.0f, 1e-3f, -1e-3f, 5.0f, -8.0f, -12.0f, 12.0f};
        for (size_t i = 0; i < sizeof(special) / sizeof(float) && i < x.size(); i++) x[i] = special[i];
        GeluParams p;
        p.mode = mode, p.rows = rows, p.cols = cols, p.x = x.data(), p.bias = with_bias ? bias.data() : nullptr;
        std::vector<float> y(n), dx(n), db(cols);
        EXPECT(SELFSUP_DISPATCH(gelu_forward)(p, y.data()).ok());
        EXPECT(SELFSUP_DISPATCH(gelu_backward)(p, g.data(), dx.data(), with_bias ? db.data() : nullptr).ok());
        Buf X(x), B(bias), G(g), Y(n), DX(n), DB(cols);
        p.x = X.p(), p.bias = with_bias ? B.p() : nullptr;
        EXPECT(gelu_forward_cuda(p, Y.p(), g_stream).ok());
        EXPECT(gelu_backward_cuda(p, G.p(), DX.p(), with_bias ? DB.p() : nullptr, g_stream).ok());
        const std::string tag = std::string(mode == GeluMode::kErf ? "gelu erf " : "gelu tanh ") + std::to_string(rows) + "x" +
                                std::to_string(cols) + (with_bias ? " +bias" : "");
        report(tag + " y", score(Y.get(), y, 1e-6, 1e-5));
        report(tag + " dx", score(DX.get(), dx, 1e-6, 1e-5));
        if (with_bias) report(tag + " dbias", score(DB.get(), db, 1e-5 * (max_abs(db) + 1), 1e-5));
        // dx may alias g.
        EXPECT(gelu_backward_cuda(p, G.p(), G.p(), nullptr, g_stream).ok());
        report(tag + " dx in place", score(G.get(), dx, 1e-6, 1e-5));
      }
    }
  }
}

void test_layer_norm() {
  const int64_t shapes[][2] = {{1, 1}, {3, 1025}, {37, 33}, {5, 257}};
  for (auto& sh : shapes) {
    for (bool affine : {false, true}) {
      for (float shift : {0.0f, 100.0f}) {
        const int64_t rows = sh[0], n = sh[1];
        std::vector<float> x = randn(rows * n, 2.0f, shift), w = randn(n), b = randn(n), g = randn(rows * n);
        LayerNormParams p;
        p.rows = rows, p.n = n, p.eps = 1e-5, p.x = x.data();
        p.weight = affine ? w.data() : nullptr, p.bias = affine ? b.data() : nullptr;
        std::vector<float> y(rows * n), dx(rows * n), dw(n), db(n);
        std::vector<double> mean(rows), rstd(rows);
        EXPECT(SELFSUP_DISPATCH(layer_norm_forward)(p, y.data(), mean.data(), rstd.data()).ok());
        EXPECT(SELFSUP_DISPATCH(layer_norm_backward)(p, g.data(), mean.data(), rstd.data(), dx.data(), dw.data(), db.data()).ok());
        Buf X(x), W(w), B(b), G(g), Y(rows * n), M(rows), R(rows), DX(rows * n), DW(n), DB(n);
        p.x = X.p(), p.weight = affine ? W.p() : nullptr, p.bias = affine ? B.p() : nullptr;
        EXPECT(layer_norm_forward_cuda(p, Y.p(), M.p(), R.p(), g_stream).ok());
        EXPECT(layer_norm_backward_cuda(p, G.p(), M.p(), R.p(), DX.p(), DW.p(), DB.p(), g_stream).ok());
        const std::string tag = "layerNorm " + std::to_string(rows) + "x" + std::to_string(n) + (affine ? " affine" : "") +
                                (shift != 0 ? " mean 100" : "");
        report(tag + " y", score(Y.get(), y, 1e-5 * (max_abs(y) + 1), 1e-5));
        report(tag + " mean", score(M.get(), mean, 1e-6, 1e-6));
        report(tag + " rstd", score(R.get(), rstd, 0, 1e-6));
        report(tag + " dx", score(DX.get(), dx, 1e-5 * (max_abs(dx) + 1), 1e-5));
        report(tag + " dweight", score(DW.get(), dw, 1e-5 * (max_abs(dw) + 1), 1e-5));
        report(tag + " dbias", score(DB.get(), db, 1e-5 * (max_abs(db) + 1), 1e-5));
        // The same bits twice (fixed reduction trees, no atomics), then dx in place over g.
        const std::vector<float> dx1 = DX.get(), dw1 = DW.get();
        EXPECT(layer_norm_backward_cuda(p, G.p(), M.p(), R.p(), DX.p(), DW.p(), nullptr, g_stream).ok());
        EXPECT(std::memcmp(dx1.data(), DX.get().data(), dx1.size() * sizeof(float)) == 0);
        EXPECT(std::memcmp(dw1.data(), DW.get().data(), dw1.size() * sizeof(float)) == 0);
        EXPECT(layer_norm_backward_cuda(p, G.p(), M.p(), R.p(), G.p(), nullptr, nullptr, g_stream).ok());
        EXPECT(std::memcmp(dx1.data(), G.get().data(), dx1.size() * sizeof(float)) == 0);
        // y may alias x.
        EXPECT(layer_norm_forward_cuda(p, X.p(), M.p(), R.p(), g_stream).ok());
        report(tag + " y in place", score(X.get(), y, 1e-5 * (max_abs(y) + 1), 1e-5));
      }
    }
  }
  // No rows: the parameter gradients are zeros.
  LayerNormParams p;
  p.rows = 0, p.n = 5;
  Buf DW(5), DB(5);
  EXPECT(layer_norm_backward_cuda(p, nullptr, nullptr, nullptr, nullptr, DW.p(), DB.p(), g_stream).ok());
  report("layerNorm 0 rows dweight", score(DW.get(), std::vector<float>(5, 0.0f), 0, 0));
}

}  // namespace

int main() {
  test_checks();
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("%d failures in the argument checks; skip: no CUDA device\n", g_failures);
    return g_failures ? 1 : 77;
  }
  const uint64_t seed = std::random_device{}();
  rng.seed(seed);
  std::printf("seed %llu\n", (unsigned long long)seed);
  void* s = nullptr;
  if (!cuda::stream(0, &s).ok()) { std::printf("FAIL: no stream\n"); return 1; }
  g_stream = static_cast<cudaStream_t>(s);
  test_gelu();
  test_layer_norm();
  return test_result();
}
