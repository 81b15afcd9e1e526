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
#include "cuda_check.h"
#include "ops/pointwise/cuda.h"
#include "ops/pointwise/params.h"

using namespace selfsup;

namespace {

// Outputs start as NaN, so an element never written shows.
std::vector<float> nans(size_t n) { return std::vector<float>(n, NAN); }
float* fp(const Dev& d) { return static_cast<float*>(d.p()); }
std::vector<float> f32(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }
void check(const std::string& what, double s) { report(what.c_str(), s); }

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
        Dev X(x), B(bias), G(g), Y(nans(n)), DX(nans(n)), DB(nans(cols));
        p.x = fp(X), p.bias = with_bias ? fp(B) : nullptr;
        EXPECT(gelu_forward_cuda(p, fp(Y), g_stream).ok());
        EXPECT(gelu_backward_cuda(p, fp(G), fp(DX), with_bias ? fp(DB) : nullptr, g_stream).ok());
        const std::string tag = std::string(mode == GeluMode::kErf ? "gelu erf " : "gelu tanh ") + std::to_string(rows) + "x" +
                                std::to_string(cols) + (with_bias ? " +bias" : "");
        check(tag + " y", score(Y.get<float>(), y, 1e-6, 1e-5));
        check(tag + " dx", score(DX.get<float>(), dx, 1e-6, 1e-5));
        if (with_bias) check(tag + " dbias", score(DB.get<float>(), db, 1e-5 * (max_abs(db) + 1), 1e-5));
        // dx may alias g.
        EXPECT(gelu_backward_cuda(p, fp(G), fp(G), nullptr, g_stream).ok());
        check(tag + " dx in place", score(G.get<float>(), dx, 1e-6, 1e-5));
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
        Dev X(x), W(w), B(b), G(g), Y(nans(rows * n)), M(nans(rows)), R(nans(rows)), DX(nans(rows * n)), DW(nans(n)), DB(nans(n));
        p.x = fp(X), p.weight = affine ? fp(W) : nullptr, p.bias = affine ? fp(B) : nullptr;
        EXPECT(layer_norm_forward_cuda(p, fp(Y), fp(M), fp(R), g_stream).ok());
        EXPECT(layer_norm_backward_cuda(p, fp(G), fp(M), fp(R), fp(DX), fp(DW), fp(DB), g_stream).ok());
        const std::string tag = "layerNorm " + std::to_string(rows) + "x" + std::to_string(n) + (affine ? " affine" : "") +
                                (shift != 0 ? " mean 100" : "");
        check(tag + " y", score(Y.get<float>(), y, 1e-5 * (max_abs(y) + 1), 1e-5));
        check(tag + " mean", score(M.get<float>(), f32(mean), 1e-6, 1e-6));
        check(tag + " rstd", score(R.get<float>(), f32(rstd), 0, 1e-6));
        check(tag + " dx", score(DX.get<float>(), dx, 1e-5 * (max_abs(dx) + 1), 1e-5));
        check(tag + " dweight", score(DW.get<float>(), dw, 1e-5 * (max_abs(dw) + 1), 1e-5));
        check(tag + " dbias", score(DB.get<float>(), db, 1e-5 * (max_abs(db) + 1), 1e-5));
        // The same bits twice (fixed reduction trees, no atomics), then dx in place over g.
        const std::vector<float> dx1 = DX.get<float>(), dw1 = DW.get<float>();
        EXPECT(layer_norm_backward_cuda(p, fp(G), fp(M), fp(R), fp(DX), fp(DW), nullptr, g_stream).ok());
        EXPECT(std::memcmp(dx1.data(), DX.get<float>().data(), dx1.size() * sizeof(float)) == 0);
        EXPECT(std::memcmp(dw1.data(), DW.get<float>().data(), dw1.size() * sizeof(float)) == 0);
        EXPECT(layer_norm_backward_cuda(p, fp(G), fp(M), fp(R), fp(G), nullptr, nullptr, g_stream).ok());
        EXPECT(std::memcmp(dx1.data(), G.get<float>().data(), dx1.size() * sizeof(float)) == 0);
        // y may alias x.
        EXPECT(layer_norm_forward_cuda(p, fp(X), fp(M), fp(R), g_stream).ok());
        check(tag + " y in place", score(X.get<float>(), y, 1e-5 * (max_abs(y) + 1), 1e-5));
      }
    }
  }
  // No rows: the parameter gradients are zeros.
  LayerNormParams p;
  p.rows = 0, p.n = 5;
  Dev DW(nans(5)), DB(nans(5));
  EXPECT(layer_norm_backward_cuda(p, nullptr, nullptr, nullptr, nullptr, fp(DW), fp(DB), g_stream).ok());
  check("layerNorm 0 rows dweight", score(DW.get<float>(), std::vector<float>(5, 0.0f), 0, 0));
}

}  // namespace

int main() {
  test_checks();
  if (const int rc = device_setup(); rc >= 0) return rc;
  test_gelu();
  test_layer_norm();
  return test_result();
}
