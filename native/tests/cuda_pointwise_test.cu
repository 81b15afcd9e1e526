// GELU and LayerNorm on CUDA (native/ops/pointwise/cuda.h) against the CPU kernels (the addon's
// dispatch), on fresh random inputs at awkward shapes (1 x 1, rows of 33, 257, 1025 and 1037
// columns, a large mean), with and without bias / affine parameters, in place, and twice for
// determinism. Argument checks run first, without a device; exit 77 (skipped) when there is none.
//
// Tolerances (|gpu - cpu| <= tol (|cpu| + floor), cuda_check.h's expect_close):
// - GELU: tol 1e-5, floor 0.1 (1e-5 relative, 1e-6 absolute). The device uses erfcf / expf (a few
//   ulp each); on the lower tail the rounding of -x / sqrt 2 is amplified by about x^2 in Phi,
//   144 ulp (~9e-6 relative) at x = -12, the most negative test input.
// - LayerNorm: tol 1e-5 with the output's largest magnitude (+1) as the floor; mean 1e-6 (floor
//   1) and rstd 1e-6 relative: float32 on the device, double on the CPU.
#include <cstring>
#include <string>

#include "ops/pointwise/cuda.h"
#include "ops/pointwise/params.h"
#include "tests/cuda_check.h"

using namespace selfsup;

namespace {

// The test's kernels run on the legacy default stream, ordered with DeviceVec's copies.
const cudaStream_t kStream = nullptr;

std::vector<float> nans(size_t n) { return std::vector<float>(n, NAN); }  // an element never written shows
void close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double tol, double floor) {
  expect_close(what.c_str(), got, widen(want), tol, floor);
}

void test_checks() {
  GeluParams g;
  g.rows = 2, g.cols = 3;
  float dummy = 0;
  g.x = &dummy;
  g.dtype = DType::kFloat64;
  EXPECT(gelu_forward_cuda(g, &dummy, kStream).code == Code::kUnsupported);
  g.dtype = DType::kFloat32;
  g.mode = static_cast<GeluMode>(7);
  EXPECT(gelu_forward_cuda(g, &dummy, kStream).code == Code::kOutOfRange);
  g.mode = GeluMode::kErf;
  EXPECT(gelu_backward_cuda(g, &dummy, &dummy, &dummy, kStream).code == Code::kInvalidArgument);  // dbias without bias
  LayerNormParams l;
  l.rows = 2, l.n = 3, l.x = &dummy;
  l.eps = -1;
  EXPECT(layer_norm_forward_cuda(l, &dummy, &dummy, &dummy, kStream).code == Code::kOutOfRange);
  l.eps = 1e-5, l.n = 0;
  EXPECT(layer_norm_forward_cuda(l, &dummy, &dummy, &dummy, kStream).code == Code::kOutOfRange);
  l.n = 3, l.dtype = DType::kFloat64;
  EXPECT(layer_norm_backward_cuda(l, &dummy, &dummy, &dummy, &dummy, nullptr, nullptr, kStream).code == Code::kUnsupported);
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
        EXPECT_OK(SELFSUP_DISPATCH(gelu_forward)(p, y.data()));
        EXPECT_OK(SELFSUP_DISPATCH(gelu_backward)(p, g.data(), dx.data(), with_bias ? db.data() : nullptr));
        DeviceVec<float> X(x), B(bias), G(g), Y(nans(n)), DX(nans(n)), DB(nans(cols));
        p.x = X.p, p.bias = with_bias ? B.p : nullptr;
        EXPECT_OK(gelu_forward_cuda(p, Y.p, kStream));
        EXPECT_OK(gelu_backward_cuda(p, G.p, DX.p, with_bias ? DB.p : nullptr, kStream));
        const std::string tag = std::string(mode == GeluMode::kErf ? "gelu erf " : "gelu tanh ") + std::to_string(rows) + "x" +
                                std::to_string(cols) + (with_bias ? " +bias" : "");
        close(tag + " y", Y.host(), y, 1e-5, 0.1);
        close(tag + " dx", DX.host(), dx, 1e-5, 0.1);
        if (with_bias) close(tag + " dbias", DB.host(), db, 1e-5, max_abs(db) + 1);
        // dx may alias g.
        EXPECT_OK(gelu_backward_cuda(p, G.p, G.p, nullptr, kStream));
        close(tag + " dx in place", G.host(), dx, 1e-5, 0.1);
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
        std::vector<float> x = randn(rows * n, 2.0f), w = randn(n), b = randn(n), g = randn(rows * n);
        for (float& v : x) v += shift;
        LayerNormParams p;
        p.rows = rows, p.n = n, p.eps = 1e-5, p.x = x.data();
        p.weight = affine ? w.data() : nullptr, p.bias = affine ? b.data() : nullptr;
        std::vector<float> y(rows * n), dx(rows * n), dw(n), db(n);
        std::vector<double> mean(rows), rstd(rows);
        EXPECT_OK(SELFSUP_DISPATCH(layer_norm_forward)(p, y.data(), mean.data(), rstd.data()));
        EXPECT_OK(SELFSUP_DISPATCH(layer_norm_backward)(p, g.data(), mean.data(), rstd.data(), dx.data(), dw.data(), db.data()));
        DeviceVec<float> X(x), W(w), B(b), G(g), Y(nans(rows * n)), M(nans(rows)), R(nans(rows)), DX(nans(rows * n)),
            DW(nans(n)), DB(nans(n));
        p.x = X.p, p.weight = affine ? W.p : nullptr, p.bias = affine ? B.p : nullptr;
        EXPECT_OK(layer_norm_forward_cuda(p, Y.p, M.p, R.p, kStream));
        EXPECT_OK(layer_norm_backward_cuda(p, G.p, M.p, R.p, DX.p, DW.p, DB.p, kStream));
        const std::string tag = "layerNorm " + std::to_string(rows) + "x" + std::to_string(n) + (affine ? " affine" : "") +
                                (shift != 0 ? " mean 100" : "");
        close(tag + " y", Y.host(), y, 1e-5, max_abs(y) + 1);
        expect_close((tag + " mean").c_str(), M.host(), mean, 1e-6, 1);
        expect_close((tag + " rstd").c_str(), R.host(), rstd, 1e-6, 1e-30);
        close(tag + " dx", DX.host(), dx, 1e-5, max_abs(dx) + 1);
        close(tag + " dweight", DW.host(), dw, 1e-5, max_abs(dw) + 1);
        close(tag + " dbias", DB.host(), db, 1e-5, max_abs(db) + 1);
        // The same bits twice (fixed reduction trees, no atomics), then dx in place over g.
        const std::vector<float> dx1 = DX.host(), dw1 = DW.host();
        EXPECT_OK(layer_norm_backward_cuda(p, G.p, M.p, R.p, DX.p, DW.p, nullptr, kStream));
        EXPECT(std::memcmp(dx1.data(), DX.host().data(), dx1.size() * sizeof(float)) == 0);
        EXPECT(std::memcmp(dw1.data(), DW.host().data(), dw1.size() * sizeof(float)) == 0);
        EXPECT_OK(layer_norm_backward_cuda(p, G.p, M.p, R.p, G.p, nullptr, nullptr, kStream));
        EXPECT(std::memcmp(dx1.data(), G.host().data(), dx1.size() * sizeof(float)) == 0);
        // y may alias x.
        EXPECT_OK(layer_norm_forward_cuda(p, X.p, M.p, R.p, kStream));
        close(tag + " y in place", X.host(), y, 1e-5, max_abs(y) + 1);
      }
    }
  }
  // No rows: the parameter gradients are zeros.
  LayerNormParams p;
  p.rows = 0, p.n = 5;
  DeviceVec<float> DW(nans(5)), DB(nans(5));
  EXPECT_OK(layer_norm_backward_cuda(p, nullptr, nullptr, nullptr, nullptr, DW.p, DB.p, kStream));
  close("layerNorm 0 rows dweight", DW.host(), std::vector<float>(5, 0.0f), 0, 1);
  close("layerNorm 0 rows dbias", DB.host(), std::vector<float>(5, 0.0f), 0, 1);
}

}  // namespace

int main() {
  test_checks();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  test_gelu();
  test_layer_norm();
  return test_result();
}
