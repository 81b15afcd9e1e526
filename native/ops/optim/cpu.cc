// Fused optimizer steps (see params.h). No FMA contraction: every product and sum rounds as the
// TypeScript loops' do (bit-identical float64 results). No FP traps are relied on, so the
// compiler may vectorize the selects.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off", "no-trapping-math")
#endif
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/threadpool.h"
#include "ops/optim/params.h"

namespace selfsup {
namespace SELFSUP_ISA_NS {
namespace {

constexpr int64_t kGrain = 32 * 1024;

// Runs fn(tensor index, begin, end) over the concatenated elements of `count` tensors, in chunks.
template <class T, class F>
void over_elements(const T* ts, int64_t count, F&& fn) {
  std::vector<int64_t> start(static_cast<size_t>(count) + 1, 0);
  for (int64_t i = 0; i < count; i++) start[static_cast<size_t>(i) + 1] = start[static_cast<size_t>(i)] + ts[i].n;
  const int64_t total = start.back();
  auto run = [&](int64_t b, int64_t e) {
    int64_t t = std::upper_bound(start.begin(), start.end(), b) - start.begin() - 1;
    while (b < e && t < count) {
      const int64_t lo = b - start[static_cast<size_t>(t)];
      const int64_t hi = std::min(e, start[static_cast<size_t>(t) + 1]) - start[static_cast<size_t>(t)];
      if (hi > lo) fn(t, lo, hi);
      b = start[static_cast<size_t>(t) + 1];
      t++;
    }
  };
  if (total <= kGrain || num_threads() == 1) run(0, total);
  else parallel_for(total, kGrain, run);
}

template <class T>
void adamw_range(const AdamWHyper& h, const AdamWTensor& p, int64_t lo, int64_t hi) {
  T* __restrict w = static_cast<T*>(p.w);
  const T* __restrict g = static_cast<const T*>(p.g);
  T* __restrict m = static_cast<T*>(p.m);
  T* __restrict v = static_cast<T*>(p.v);
  T* __restrict vmax = static_cast<T*>(p.vmax);
  const double b1 = h.b1, b2 = h.b2, c1 = 1 - h.b1, c2 = 1 - h.b2, eps = h.eps, decay = h.decay, sign = h.sign;
  const double step = p.step_size, sbc2 = p.sqrt_bc2;
  for (int64_t i = lo; i < hi; i++) {
    const double gi = sign * static_cast<double>(g[i]);
    const T mi = static_cast<T>(b1 * static_cast<double>(m[i]) + c1 * gi);
    const T vi = static_cast<T>(b2 * static_cast<double>(v[i]) + c2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if (vmax) second = vmax[i] = std::max(vmax[i], vi);
    const T wd = static_cast<T>(static_cast<double>(w[i]) * decay);
    w[i] = static_cast<T>(static_cast<double>(wd) - (step * static_cast<double>(mi)) / (std::sqrt(static_cast<double>(second)) / sbc2 + eps));
  }
}

template <class T>
void sgd_range(const SGDHyper& h, const SGDTensor& p, int64_t lo, int64_t hi) {
  T* __restrict w = static_cast<T*>(p.w);
  const T* __restrict g = static_cast<const T*>(p.g);
  T* __restrict buf = static_cast<T*>(p.buf);
  const double lr = h.lr, mu = h.momentum, damp = 1 - h.dampening, wd = h.wd, sign = h.sign;
  if (!buf) {
    for (int64_t i = lo; i < hi; i++)
      w[i] = static_cast<T>(static_cast<double>(w[i]) - lr * (sign * static_cast<double>(g[i]) + wd * static_cast<double>(w[i])));
    return;
  }
  for (int64_t i = lo; i < hi; i++) {
    const double gi = sign * static_cast<double>(g[i]) + wd * static_cast<double>(w[i]);
    const T b = static_cast<T>(p.first ? gi : mu * static_cast<double>(buf[i]) + damp * gi);
    buf[i] = b;
    // The stored (rounded) buffer value, as PyTorch reads it back.
    const double step = h.nesterov ? gi + mu * static_cast<double>(b) : static_cast<double>(b);
    w[i] = static_cast<T>(static_cast<double>(w[i]) - lr * step);
  }
}

}  // namespace

void adamw_step(DType dt, const AdamWHyper& h, const AdamWTensor* ts, int64_t count) {
  over_elements(ts, count, [&](int64_t t, int64_t lo, int64_t hi) {
    SELFSUP_FLOAT_SWITCH(dt, T, [&] { adamw_range<T>(h, ts[t], lo, hi); });
  });
}

void sgd_step(DType dt, const SGDHyper& h, const SGDTensor* ts, int64_t count) {
  over_elements(ts, count, [&](int64_t t, int64_t lo, int64_t hi) {
    SELFSUP_FLOAT_SWITCH(dt, T, [&] { sgd_range<T>(h, ts[t], lo, hi); });
  });
}

}  // namespace SELFSUP_ISA_NS
}  // namespace selfsup
