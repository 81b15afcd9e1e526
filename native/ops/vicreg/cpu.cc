// VICReg and Barlow Twins on CPU: forward and backward side by side (math in params.h).
//
// The O(n d^2) part of both losses is a d x d product (covariance, cross-correlation). When the
// batch is smaller than the width (the usual SSL regime: n = 256, d = 8192) the same sums come
// from n x n Gram matrices in O(n^2 d): 32x fewer FLOPs at n = 256, d = 8192. Both paths stay
// (CovPath) and the op table checks they agree. Column statistics accumulate in double; the
// products run on the shared packed GEMM (multithreaded gemm<T>).
//
// Gradients through the centring are dropped on purpose: every term's gradient w.r.t. the centred
// matrix already has zero column sums (1^T X_c = 0, so 1^T K X_c = 0 and 1^T X_c diag(s) = 0), so
// subtracting the column mean again would only add rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/threadpool.h"
#include "ops/vicreg/params.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

// Row-parallel loop over an [n, d] matrix with enough work per task to amortize the wake-up.
template <class F> void for_rows(int64_t n, int64_t d, F&& f) {
  parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

// Column means and sums of squared deviations (two-pass, double), split over column blocks.
template <class T>
void column_stats(const T* X, int64_t n, int64_t d, std::vector<double>& mean,
                  std::vector<double>& ss) {
  mean.assign(static_cast<size_t>(d), 0.0);
  ss.assign(static_cast<size_t>(d), 0.0);
  parallel_for(d, std::max<int64_t>(64, 16384 / n), [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = c0; c < c1; ++c) mean[c] += X[i * d + c];
    for (int64_t c = c0; c < c1; ++c) mean[c] /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = c0; c < c1; ++c) {
        const double t = X[i * d + c] - mean[c];
        ss[c] += t * t;
      }
  });
}

// A centred (optionally scaled per column) copy: out = (X - mean) * scale.
template <class T>
void center(const T* X, int64_t n, int64_t d, const std::vector<double>& mean,
            const std::vector<double>* scale, T* out) {
  for_rows(n, d, [&](int64_t i) {
    for (int64_t c = 0; c < d; ++c) {
      double v = X[i * d + c] - mean[c];
      if (scale) v *= (*scale)[c];
      out[i * d + c] = static_cast<T>(v);
    }
  });
}

// ---- variance: mean_d relu(1 - sqrt(var_d + eps)) -------------------------------------------
template <class T> struct Centered {
  std::vector<double> mean, ss, std_;
  std::vector<T> xc;
  Centered(const T* X, int64_t n, int64_t d, double eps) {
    column_stats(X, n, d, mean, ss);
    std_.resize(static_cast<size_t>(d));
    for (int64_t c = 0; c < d; ++c) std_[c] = std::sqrt(ss[c] / static_cast<double>(n - 1) + eps);
    xc.resize(static_cast<size_t>(n * d));
    center(X, n, d, mean, nullptr, xc.data());
  }
};

template <class T> double variance_fwd(const Centered<T>& C, int64_t d) {
  double s = 0;
  for (int64_t c = 0; c < d; ++c) s += std::max(0.0, 1.0 - C.std_[c]);
  return s / static_cast<double>(d);
}

// dX += g d(variance)/dX = -g [std < 1] x_c / (d (n - 1) std). relu'(0) = 0 as in PyTorch.
template <class T> void variance_bwd(const Centered<T>& C, int64_t n, int64_t d, double g, T* dX) {
  std::vector<double> w(static_cast<size_t>(d));
  for (int64_t c = 0; c < d; ++c)
    w[c] = C.std_[c] < 1.0 ? -g / (static_cast<double>(d) * (n - 1) * C.std_[c]) : 0.0;
  for_rows(n, d, [&](int64_t i) {
    for (int64_t c = 0; c < d; ++c) dX[i * d + c] += static_cast<T>(w[c] * C.xc[i * d + c]);
  });
}

// ---- covariance: f = sum_{i != j} (X_c^T X_c)_ij^2 ----------------------------------------------
// Returns f (not yet divided by (n-1)^2 d). Keeps the product for the backward when asked.
template <class T> struct CovWork {
  bool gram;
  std::vector<T> M;        // K = X_c X_c^T [n, n] or C = X_c^T X_c [d, d]
  std::vector<double> s;   // Gram: column sums of squares
};

template <class T> double cov_fwd(const T* Xc, int64_t n, int64_t d, bool gram, CovWork<T>& w) {
  w.gram = gram;
  double total = 0, diag = 0;
  if (gram) {
    w.M.resize(static_cast<size_t>(n * n));
    gemm(false, true, n, n, d, T(1), Xc, d, Xc, d, T(0), w.M.data(), n);
    w.s.assign(static_cast<size_t>(d), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < d; ++c) w.s[c] += static_cast<double>(Xc[i * d + c]) * Xc[i * d + c];
    for (int64_t k = 0; k < n * n; ++k) total += static_cast<double>(w.M[k]) * w.M[k];
    for (int64_t c = 0; c < d; ++c) diag += w.s[c] * w.s[c];
    return total - diag;
  }
  w.M.resize(static_cast<size_t>(d * d));
  gemm(true, false, d, d, n, T(1), Xc, d, Xc, d, T(0), w.M.data(), d);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (i != j) total += static_cast<double>(w.M[i * d + j]) * w.M[i * d + j];
  return total;
}

// dX += scale * df/dX_c = scale * 4 (K X_c - X_c diag(s))  or  scale * 4 X_c (C - diag C).
template <class T>
void cov_bwd(const T* Xc, int64_t n, int64_t d, CovWork<T>& w, double scale, T* dX) {
  const T a = static_cast<T>(4.0 * scale);
  if (w.gram) {
    gemm(false, false, n, d, n, a, w.M.data(), n, Xc, d, T(1), dX, d);
    for_rows(n, d, [&](int64_t i) {
      for (int64_t c = 0; c < d; ++c)
        dX[i * d + c] -= static_cast<T>(4.0 * scale * w.s[c] * Xc[i * d + c]);
    });
  } else {
    for (int64_t i = 0; i < d; ++i) w.M[i * d + i] = T(0);
    gemm(false, false, n, d, d, a, Xc, d, w.M.data(), d, T(1), dX, d);
  }
}

template <class T> double invariance_fwd(const T* x, const T* y, int64_t nd) {
  double s = 0;
  for (int64_t k = 0; k < nd; ++k) {
    const double t = static_cast<double>(x[k]) - y[k];
    s += t * t;
  }
  return s / static_cast<double>(nd);
}

template <class T> Status vicreg_fwd_impl(const VICRegParams& p, double* out) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.y);
  const int64_t n = p.n, d = p.d;
  const bool gram = vicreg_use_gram(p);
  const double cs = 1.0 / (static_cast<double>(n - 1) * (n - 1) * d);
  out[0] = invariance_fwd(x, y, n * d);
  double var = 0, cov = 0;
  for (const T* z : {x, y}) {
    Centered<T> C(z, n, d, p.eps);
    var += variance_fwd(C, d) / 2;
    CovWork<T> w;
    cov += cov_fwd(C.xc.data(), n, d, gram, w) * cs;
  }
  out[1] = var;
  out[2] = cov;
  return Status::Ok();
}

template <class T>
Status vicreg_bwd_impl(const VICRegParams& p, double g_inv, double g_var, double g_cov, T* dx,
                       T* dy) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.y);
  const int64_t n = p.n, d = p.d;
  const bool gram = vicreg_use_gram(p);
  const double cs = 1.0 / (static_cast<double>(n - 1) * (n - 1) * d);
  const double gi = 2.0 * g_inv / static_cast<double>(n * d);
  for_rows(n, d, [&](int64_t i) {
    for (int64_t c = 0; c < d; ++c) {
      const double t = gi * (static_cast<double>(x[i * d + c]) - y[i * d + c]);
      dx[i * d + c] = static_cast<T>(t);
      dy[i * d + c] = static_cast<T>(-t);
    }
  });
  const T* in[2] = {x, y};
  T* grads[2] = {dx, dy};
  for (int v = 0; v < 2; ++v) {
    Centered<T> C(in[v], n, d, p.eps);
    if (g_var != 0) variance_bwd(C, n, d, g_var / 2, grads[v]);
    if (g_cov != 0) {
      CovWork<T> w;
      cov_fwd(C.xc.data(), n, d, gram, w);
      cov_bwd(C.xc.data(), n, d, w, g_cov * cs, grads[v]);
    }
  }
  return Status::Ok();
}

template <class T> Status term_fwd_impl(const VICRegParams& p, int which, double* out) {
  const int64_t n = p.n, d = p.d;
  Centered<T> C(static_cast<const T*>(p.x), n, d, p.eps);
  if (which == 0) {
    *out = variance_fwd(C, d);
  } else {
    CovWork<T> w;
    *out = cov_fwd(C.xc.data(), n, d, vicreg_use_gram(p), w) /
           (static_cast<double>(n - 1) * (n - 1) * d);
  }
  return Status::Ok();
}

template <class T> Status term_bwd_impl(const VICRegParams& p, int which, double g, T* dx) {
  const int64_t n = p.n, d = p.d;
  Centered<T> C(static_cast<const T*>(p.x), n, d, p.eps);
  std::fill(dx, dx + n * d, T(0));
  if (which == 0) {
    variance_bwd(C, n, d, g, dx);
  } else {
    CovWork<T> w;
    cov_fwd(C.xc.data(), n, d, vicreg_use_gram(p), w);
    cov_bwd(C.xc.data(), n, d, w, g / (static_cast<double>(n - 1) * (n - 1) * d), dx);
  }
  return Status::Ok();
}

// ---- Barlow Twins ---------------------------------------------------------------------------
template <class T> struct BatchNormed {
  std::vector<double> mean, ss, inv_std;
  std::vector<T> a;  // (z - mean) / sqrt(biased var + eps)
  BatchNormed(const T* z, int64_t n, int64_t d, double eps) {
    column_stats(z, n, d, mean, ss);
    inv_std.resize(static_cast<size_t>(d));
    for (int64_t c = 0; c < d; ++c) inv_std[c] = 1.0 / std::sqrt(ss[c] / static_cast<double>(n) + eps);
    a.resize(static_cast<size_t>(n * d));
    center(z, n, d, mean, &inv_std, a.data());
  }
};

template <class T> struct BarlowState {
  BatchNormed<T> A, B;
  std::vector<double> cdiag;  // c_ii
  bool gram;
  std::vector<T> Ka, Kb, C;  // Gram: A A^T, B B^T [n, n]; direct: C = A^T B / n [d, d]
  double on = 0, off = 0;

  BarlowState(const VICRegParams& p)
      : A(static_cast<const T*>(p.x), p.n, p.d, p.eps), B(static_cast<const T*>(p.y), p.n, p.d, p.eps) {
    const int64_t n = p.n, d = p.d;
    gram = vicreg_use_gram(p);
    cdiag.assign(static_cast<size_t>(d), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < d; ++c)
        cdiag[c] += static_cast<double>(A.a[i * d + c]) * B.a[i * d + c];
    double sq = 0;
    for (int64_t c = 0; c < d; ++c) {
      cdiag[c] /= static_cast<double>(n);
      on += (cdiag[c] - 1) * (cdiag[c] - 1);
      sq += cdiag[c] * cdiag[c];
    }
    if (gram) {
      Ka.resize(static_cast<size_t>(n * n));
      Kb.resize(static_cast<size_t>(n * n));
      gemm(false, true, n, n, d, T(1), A.a.data(), d, A.a.data(), d, T(0), Ka.data(), n);
      gemm(false, true, n, n, d, T(1), B.a.data(), d, B.a.data(), d, T(0), Kb.data(), n);
      double f = 0;
      for (int64_t k = 0; k < n * n; ++k) f += static_cast<double>(Ka[k]) * Kb[k];
      off = f / (static_cast<double>(n) * n) - sq;
    } else {
      C.resize(static_cast<size_t>(d * d));
      gemm(true, false, d, d, n, static_cast<T>(1.0 / n), A.a.data(), d, B.a.data(), d, T(0),
           C.data(), d);
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j)
          if (i != j) off += static_cast<double>(C[i * d + j]) * C[i * d + j];
    }
  }
};

// dz = inv_std (dA - mean_n dA - A mean_n(dA A)) per column (batch norm, biased var).
template <class T>
void batchnorm_bwd(const BatchNormed<T>& N, const T* dA, int64_t n, int64_t d, T* dz) {
  std::vector<double> m1(static_cast<size_t>(d), 0.0), m2(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) {
      m1[c] += dA[i * d + c];
      m2[c] += static_cast<double>(dA[i * d + c]) * N.a[i * d + c];
    }
  for (int64_t c = 0; c < d; ++c) { m1[c] /= static_cast<double>(n); m2[c] /= static_cast<double>(n); }
  for_rows(n, d, [&](int64_t i) {
    for (int64_t c = 0; c < d; ++c)
      dz[i * d + c] = static_cast<T>(N.inv_std[c] * (dA[i * d + c] - m1[c] - N.a[i * d + c] * m2[c]));
  });
}

template <class T> Status barlow_fwd_impl(const VICRegParams& p, double* out) {
  BarlowState<T> S(p);
  out[0] = S.on + p.lambda * S.off;
  out[1] = S.on;
  out[2] = S.off;
  return Status::Ok();
}

template <class T> Status barlow_bwd_impl(const VICRegParams& p, double g, T* dz1, T* dz2) {
  BarlowState<T> S(p);
  const int64_t n = p.n, d = p.d;
  const double lam = p.lambda;
  std::vector<T> dA(static_cast<size_t>(n * d)), dB(static_cast<size_t>(n * d));
  if (S.gram) {
    // dA = 2 lam Kb A / n^2 + B diag(2 (c_ii - 1) - 2 lam c_ii) / n, and symmetrically for B.
    std::vector<double> w(static_cast<size_t>(d));
    for (int64_t c = 0; c < d; ++c)
      w[c] = g * (2.0 * (S.cdiag[c] - 1) - 2.0 * lam * S.cdiag[c]) / static_cast<double>(n);
    const T a = static_cast<T>(g * 2.0 * lam / (static_cast<double>(n) * n));
    gemm(false, false, n, d, n, a, S.Kb.data(), n, S.A.a.data(), d, T(0), dA.data(), d);
    gemm(false, false, n, d, n, a, S.Ka.data(), n, S.B.a.data(), d, T(0), dB.data(), d);
    for_rows(n, d, [&](int64_t i) {
      for (int64_t c = 0; c < d; ++c) {
        dA[i * d + c] += static_cast<T>(w[c] * S.B.a[i * d + c]);
        dB[i * d + c] += static_cast<T>(w[c] * S.A.a[i * d + c]);
      }
    });
  } else {
    // dc = 2 lam c (off-diagonal), 2 (c_ii - 1) (diagonal); dA = B dc^T / n, dB = A dc / n.
    std::vector<T>& dc = S.C;
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j)
        dc[i * d + j] = static_cast<T>(i == j ? 2.0 * (S.cdiag[i] - 1) : 2.0 * lam * dc[i * d + j]);
    const T a = static_cast<T>(g / n);
    gemm(false, true, n, d, d, a, S.B.a.data(), d, dc.data(), d, T(0), dA.data(), d);
    gemm(false, false, n, d, d, a, S.A.a.data(), d, dc.data(), d, T(0), dB.data(), d);
  }
  batchnorm_bwd(S.A, dA.data(), n, d, dz1);
  batchnorm_bwd(S.B, dB.data(), n, d, dz2);
  return Status::Ok();
}

}  // namespace

Status vicreg_forward(const VICRegParams& p, double* out) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, true));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return vicreg_fwd_impl<T>(p, out); });
}

Status vicreg_backward(const VICRegParams& p, double g_inv, double g_var, double g_cov, void* dx,
                       void* dy) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, true));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
    return vicreg_bwd_impl<T>(p, g_inv, g_var, g_cov, static_cast<T*>(dx), static_cast<T*>(dy));
  });
}

Status vicreg_term_forward(const VICRegParams& p, int which, double* out) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, false));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return term_fwd_impl<T>(p, which, out); });
}

Status vicreg_term_backward(const VICRegParams& p, int which, double g, void* dx) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, false));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return term_bwd_impl<T>(p, which, g, static_cast<T*>(dx)); });
}

Status barlow_twins_forward(const VICRegParams& p, double* out) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, true));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return barlow_fwd_impl<T>(p, out); });
}

Status barlow_twins_backward(const VICRegParams& p, double g, void* dz1, void* dz2) {
  SELFSUP_RETURN_IF_ERROR(vicreg_check(p, true));
  return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] {
    return barlow_bwd_impl<T>(p, g, static_cast<T*>(dz1), static_cast<T*>(dz2));
  });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
