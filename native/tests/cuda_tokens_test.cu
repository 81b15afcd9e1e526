// CUDA token kernels against the CPU kernels (the addon's dispatch) on fresh random inputs: gather
// (shared table or per-sample, with pos, repeated indices, ragged lengths), its backward (exact:
// same summation order), scatter with and without a fill token and its backward, StoP forward
// (the noise drawn from the CPU's Philox stream) and backward (noise regenerated or passed), and
// the device index checks' messages against the CPU check's. Exit 77 without a device.
#include <algorithm>
#include <numeric>

#include "ops/tokens/cuda.h"
#include "tests/cuda_check.h"

using namespace selfsup;

namespace {

struct Shape {
  int64_t B, N, K, D;
  bool ragged;
};

std::vector<int32_t> lengths_of(const Shape& s) {
  std::vector<int32_t> len(s.B);
  for (int64_t b = 0; b < s.B; ++b) len[b] = s.ragged ? static_cast<int32_t>(rng()() % (s.K + 1)) : static_cast<int32_t>(s.K);
  return len;
}
// Random indices in [0, N); unique per row when asked (a random permutation's prefix).
std::vector<int32_t> indices(const Shape& s, bool unique) {
  std::vector<int32_t> idx(s.B * s.K);
  std::vector<int32_t> perm(s.N);
  for (int64_t b = 0; b < s.B; ++b) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng());
    for (int64_t k = 0; k < s.K; ++k)
      idx[b * s.K + k] = unique ? perm[k] : static_cast<int32_t>(rng()() % s.N);
  }
  return idx;
}

void gather_case(const Shape& s, bool shared, bool with_pos) {
  const int64_t B = s.B, N = s.N, K = s.K, D = s.D;
  std::vector<float> x = randn((shared ? 1 : B) * N * D), pos = randn(N * D), g = randn(B * K * D);
  std::vector<int32_t> idx = indices(s, false), len = lengths_of(s);
  TokenGatherParams p;
  p.B = B; p.N = N; p.D = D; p.K = K; p.x_shared = shared;
  p.x = x.data(); p.pos = with_pos ? pos.data() : nullptr; p.idx = idx.data(); p.lengths = s.ragged ? len.data() : nullptr;
  std::vector<float> out(B * K * D), dx((shared ? 1 : B) * N * D), dpos(N * D);
  p.out = out.data();
  EXPECT_OK(SELFSUP_DISPATCH(tokens_gather)(p));
  TokenGatherBackwardParams q;
  q.B = B; q.N = N; q.D = D; q.K = K; q.x_shared = shared;
  q.grad = g.data(); q.idx = p.idx; q.lengths = p.lengths; q.dx = dx.data(); q.dpos = with_pos ? dpos.data() : nullptr;
  EXPECT_OK(SELFSUP_DISPATCH(tokens_gather_backward)(q));

  DeviceVec<float> gx(x), gpos(pos), gg(g), gout(out.size()), gdx(dx.size()), gdpos(dpos.size());
  DeviceVec<int32_t> gidx(idx), glen(len);
  p.x = gx.p; p.pos = with_pos ? gpos.p : nullptr; p.idx = gidx.p; p.lengths = s.ragged ? glen.p : nullptr; p.out = gout.p;
  EXPECT_OK(tokens_gather_cuda(p, nullptr));
  q.grad = gg.p; q.idx = gidx.p; q.lengths = p.lengths; q.dx = gdx.p; q.dpos = with_pos ? gdpos.p : nullptr;
  EXPECT_OK(tokens_gather_backward_cuda(q, nullptr));
  std::printf("gather B%ld N%ld K%ld D%ld%s%s%s\n", (long)B, (long)N, (long)K, (long)D, shared ? " shared" : "",
              with_pos ? " pos" : "", s.ragged ? " ragged" : "");
  // Copies and same-order sums: exact.
  expect_close("  out", gout.host(), widen(out), 0.0);
  expect_close("  dx", gdx.host(), widen(dx), 0.0);
  if (with_pos) expect_close("  dpos", gdpos.host(), widen(dpos), 0.0);
}

void scatter_case(const Shape& s, bool with_fill) {
  const int64_t B = s.B, N = s.N, K = s.K, D = s.D;
  std::vector<float> src = randn(B * K * D), fill = randn(D), g = randn(B * N * D);
  std::vector<int32_t> idx = indices(s, true), len = lengths_of(s);
  TokenScatterParams p;
  p.B = B; p.N = N; p.D = D; p.K = K;
  p.src = src.data(); p.idx = idx.data(); p.lengths = s.ragged ? len.data() : nullptr; p.fill = with_fill ? fill.data() : nullptr;
  std::vector<float> out(B * N * D), dsrc(B * K * D), dfill(D);
  p.out = out.data();
  EXPECT_OK(SELFSUP_DISPATCH(tokens_scatter)(p));
  TokenScatterBackwardParams q;
  q.B = B; q.N = N; q.D = D; q.K = K;
  q.grad = g.data(); q.idx = p.idx; q.lengths = p.lengths; q.dsrc = dsrc.data(); q.dfill = dfill.data();
  EXPECT_OK(SELFSUP_DISPATCH(tokens_scatter_backward)(q));

  DeviceVec<float> gsrc(src), gfill(fill), gg(g), gout(out.size()), gdsrc(dsrc.size()), gdfill(D);
  DeviceVec<int32_t> gidx(idx), glen(len);
  p.src = gsrc.p; p.idx = gidx.p; p.lengths = s.ragged ? glen.p : nullptr; p.fill = with_fill ? gfill.p : nullptr; p.out = gout.p;
  EXPECT_OK(tokens_scatter_cuda(p, nullptr));
  q.grad = gg.p; q.idx = gidx.p; q.lengths = p.lengths; q.dsrc = gdsrc.p; q.dfill = gdfill.p;
  EXPECT_OK(tokens_scatter_backward_cuda(q, nullptr));
  std::printf("scatter B%ld N%ld K%ld D%ld%s%s\n", (long)B, (long)N, (long)K, (long)D, with_fill ? " fill" : "",
              s.ragged ? " ragged" : "");
  expect_close("  out", gout.host(), widen(out), 0.0);
  expect_close("  dsrc", gdsrc.host(), widen(dsrc), 0.0);
  // dfill: a sum over B N rows taken per batch row then across (the CPU: one running sum).
  expect_close("  dfill", gdfill.host(), widen(dfill), 1e-5, max_abs(dfill) + 1e-30);
}

void stop_case(const Shape& s, int64_t Dp, int64_t Din, bool bias) {
  const int64_t B = s.B, N = s.N, K = s.K;
  std::vector<float> pos = randn(N * Dp), W = randn(Dp * Din, 0.3f), bv = randn(Dp), g = randn(B * K * Dp);
  std::vector<int32_t> idx = indices(s, false), len = lengths_of(s);
  StochasticPositionsParams p;
  p.B = B; p.N = N; p.Dp = Dp; p.K = K; p.Din = Din;
  p.pos = pos.data(); p.idx = idx.data(); p.lengths = s.ragged ? len.data() : nullptr;
  p.weight = W.data(); p.bias = bias ? bv.data() : nullptr;
  p.std = 0.25;
  p.seed = 0x123456789abcull + rng()() % 1000;
  std::vector<float> out(B * K * Dp), noise(B * K * Din);
  p.out = out.data(); p.noise = noise.data();
  EXPECT_OK(SELFSUP_DISPATCH(stochastic_positions)(p));
  StochasticPositionsBackwardParams q;
  q.B = B; q.N = N; q.Dp = Dp; q.K = K; q.Din = Din;
  q.grad = g.data(); q.idx = p.idx; q.lengths = p.lengths; q.noise = nullptr; q.std = p.std; q.seed = p.seed;
  std::vector<float> dpos(N * Dp), dw(Dp * Din), db(Dp);
  q.dpos = dpos.data(); q.dweight = dw.data(); q.dbias = bias ? db.data() : nullptr;
  EXPECT_OK(SELFSUP_DISPATCH(stochastic_positions_backward)(q));

  DeviceVec<float> gpos(pos), gW(W), gb(bv), gg(g), gout(out.size()), gnoise(noise.size()), gdpos(dpos.size()),
      gdw(dw.size()), gdw2(dw.size()), gdb(Dp);
  DeviceVec<int32_t> gidx(idx), glen(len);
  gnoise.fill_bytes(0x7f);  // padding rows must be written (zero)
  p.pos = gpos.p; p.idx = gidx.p; p.lengths = s.ragged ? glen.p : nullptr; p.weight = gW.p; p.bias = bias ? gb.p : nullptr;
  p.out = gout.p; p.noise = gnoise.p;
  EXPECT_OK(stochastic_positions_cuda(p, nullptr));
  q.grad = gg.p; q.idx = gidx.p; q.lengths = p.lengths; q.dpos = gdpos.p; q.dweight = gdw.p; q.dbias = bias ? gdb.p : nullptr;
  EXPECT_OK(stochastic_positions_backward_cuda(q, nullptr));  // noise regenerated
  q.noise = gnoise.p; q.dweight = gdw2.p; q.dpos = nullptr; q.dbias = nullptr;
  EXPECT_OK(stochastic_positions_backward_cuda(q, nullptr));  // noise passed
  std::printf("stop B%ld N%ld K%ld Dp%ld Din%ld%s%s\n", (long)B, (long)N, (long)K, (long)Dp, (long)Din,
              bias ? " bias" : "", s.ragged ? " ragged" : "");
  // The same Philox words; the float normals may differ in the last bit (double libm vs CUDA).
  expect_close("  noise", gnoise.host(), widen(noise), 2e-7, 1.0);
  expect_close("  out", gout.host(), widen(out), 1e-5, max_abs(out) + 1e-30);
  expect_close("  dpos", gdpos.host(), widen(dpos), 0.0);
  expect_close("  dweight (regenerated)", gdw.host(), widen(dw), 1e-5, max_abs(dw) + 1e-30);
  expect_close("  dweight (passed)", gdw2.host(), widen(dw), 1e-5, max_abs(dw) + 1e-30);
  if (bias) expect_close("  dbias", gdb.host(), widen(db), 1e-5, max_abs(db) + 1e-30);
}

// Device index checks give the CPU check's message.
void check_messages() {
  const Shape s{4, 9, 5, 3, true};
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<int32_t> idx = indices(s, trial >= 2), len = lengths_of(s);
    len[2] = 5;
    if (trial == 0) idx[2 * 5 + 3] = 9;                       // out of range
    if (trial == 1) len[1] = 6;                               // bad length
    if (trial == 2) idx[2 * 5 + 4] = idx[2 * 5 + 1];          // repeated (unique check)
    if (trial == 3) { idx[3 * 5 + 0] = -1; len[3] = 5; idx[2 * 5 + 2] = idx[2 * 5 + 0]; }  // both: first wins
    const bool unique = trial >= 2;
    const Status want = check_token_indices("idx", idx.data(), len.data(), s.B, s.K, s.N, unique);
    DeviceVec<int32_t> gidx(idx), glen(len);
    const Status got = check_token_indices_cuda("idx", gidx.p, glen.p, s.B, s.K, s.N, unique, nullptr);
    std::printf("index check %d: %s\n", trial, got.message.c_str());
    EXPECT(!want.ok() && got.code == want.code && got.message == want.message);
  }
}

// The device noise function, built for the host: the CPU's philox_normal values at any offset.
void check_normal_on_host() {
  std::vector<float> want(1000);
  const uint64_t seed = 0xfedcba9876ull;
  const uint32_t stream = kStreamStoP | 5u;
  for (uint64_t offset : {uint64_t(0), uint64_t(1), uint64_t(3), uint64_t(123457), (uint64_t(1) << 33) + 7}) {
    philox_normal(seed, stream, offset, static_cast<int64_t>(want.size()), want.data());
    int mismatches = 0;
    for (size_t i = 0; i < want.size(); ++i)
      mismatches += philox_normal_at(seed, stream, offset + i) != want[i];
    EXPECT(mismatches == 0);
  }
}

void check_arguments() {
  TokenGatherParams p;
  p.dtype = DType::kFloat64;
  Status s = tokens_gather_cuda(p, nullptr);
  EXPECT(s.code == Code::kUnsupported && s.message.find("float32 for dtype") != std::string::npos);
  StochasticPositionsParams q;
  q.B = kMaxTokenBatch + 1;
  EXPECT(stochastic_positions_cuda(q, nullptr).code == Code::kOutOfRange);
}

}  // namespace

int main() {
  check_arguments();
  check_normal_on_host();
  if (int rc = after_host_checks(); rc >= 0) return rc;
  check_messages();
  const Shape shapes[] = {{3, 37, 11, 65, true}, {2, 196, 147, 384, false}, {1, 1, 1, 1, false}, {5, 50, 7, 300, true}};
  for (const Shape& s : shapes) {
    gather_case(s, false, true);
    gather_case(s, true, false);
    scatter_case(s, true);
    scatter_case(s, false);
  }
  stop_case({3, 20, 9, 0, true}, 33, 17, true);
  stop_case({2, 196, 147, 0, false}, 384, 96, false);
  stop_case({4, 7, 3, 0, true}, 5, 1, true);
  return test_result();
}
