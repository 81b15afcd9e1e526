// Index validation and mask generation for the tokens family (core code, compiled once).
// Mask arithmetic must match lib/backends/reference-tokens.ts bit for bit (same seed, same masks
// in C++ and TypeScript), so floating-point contraction is off here: an FMA would round
// `min + r * (max - min)` differently from JavaScript.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/threadpool.h"
#include "ops/tokens/params.h"
#include "selfsup/philox.h"

namespace selfsup {

Status check_token_indices(const char* name, const int32_t* idx, const int32_t* lengths, int64_t B,
                           int64_t K, int64_t N, bool unique) {
  std::vector<int32_t> seen;
  if (unique) seen.assign(static_cast<size_t>(N), -1);
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = K;
    if (lengths) {
      len = lengths[b];
      if (len < 0 || len > K)
        return Status::OutOfRange("Expected lengths in [0, " + std::to_string(K) +
                                  "] for lengths but received lengths[" + std::to_string(b) +
                                  "] = " + std::to_string(len));
    }
    const int32_t* row = idx + b * K;
    for (int64_t k = 0; k < len; ++k) {
      const int32_t v = row[k];
      if (v < 0 || v >= N)
        return Status::OutOfRange("Expected indices in [0, " + std::to_string(N) + ") for " +
                                  name + " but received " + std::to_string(v) + " at " + name +
                                  "[" + std::to_string(b) + ", " + std::to_string(k) +
                                  "] (batch row " + std::to_string(b) + ", position " +
                                  std::to_string(k) + ")");
      if (unique) {
        if (seen[v] == static_cast<int32_t>(b))
          return Status::Invalid("Expected unique indices within each row for " +
                                 std::string(name) + " but received " + std::to_string(v) +
                                 " twice in batch row " + std::to_string(b) + " (again at position " +
                                 std::to_string(k) + ")");
        seen[v] = static_cast<int32_t>(b);
      }
    }
  }
  return Status::Ok();
}

namespace {

// Sequential 32-bit words of one Philox stream.
class WordStream {
 public:
  WordStream(uint64_t seed, uint32_t stream) : seed_(seed), stream_(stream) {}
  uint32_t next() {
    if (lane_ == 4) {
      w_ = philox4x32_10(static_cast<uint32_t>(block_), static_cast<uint32_t>(block_ >> 32),
                         stream_, 0u, static_cast<uint32_t>(seed_),
                         static_cast<uint32_t>(seed_ >> 32));
      ++block_;
      lane_ = 0;
    }
    return w_.v[lane_++];
  }
  // Uniform integer in [0, n): the top 24 bits scaled (exact in JS doubles too).
  int64_t below(int64_t n) {
    return static_cast<int64_t>((static_cast<uint64_t>(next() >> 8) * static_cast<uint64_t>(n)) >> 24);
  }

 private:
  uint64_t seed_;
  uint32_t stream_;
  uint64_t block_ = 0;
  int lane_ = 4;
  Philox4x32 w_{};
};

inline double word_uniform(uint32_t w) { return static_cast<double>(w >> 8) / 16777216.0; }

// _sample_block_size of the reference: ONE uniform draws both the scale and the aspect ratio (a
// quirk kept for fidelity: larger target blocks are also taller). Python's round() is replaced by
// floor(x + 0.5) (identical except at exact .5 ties, and the same in C++ and JS). Sizes are
// clamped to [1, H - 1] x [1, W - 1] as in the reference (its `while h >= height: h -= 1`), with
// the lower bound added so 1-row grids do not produce empty blocks.
void block_size(double r, const double scale[2], const double aspect[2], int64_t H, int64_t W,
                int32_t out[2]) {
  const double s = scale[0] + r * (scale[1] - scale[0]);
  const double max_keep = std::floor(static_cast<double>(H * W) * s);
  const double ar = aspect[0] + r * (aspect[1] - aspect[0]);
  int64_t h = static_cast<int64_t>(std::floor(std::sqrt(max_keep * ar) + 0.5));
  int64_t w = static_cast<int64_t>(std::floor(std::sqrt(max_keep / ar) + 0.5));
  h = std::max<int64_t>(1, std::min(h, H - 1));
  w = std::max<int64_t>(1, std::min(w, W - 1));
  out[0] = static_cast<int32_t>(h);
  out[1] = static_cast<int32_t>(w);
}

struct Rect {
  int32_t top, left;
};

}  // namespace

Status mask_random(int64_t B, int64_t N, int64_t keep_count, uint64_t seed, int32_t* keep,
                   int32_t* masked, int32_t* restore) {
  if (keep_count < 0 || keep_count > N)
    return Status::OutOfRange("Expected keepCount in [0, " + std::to_string(N) +
                              "] for keepCount but received " + std::to_string(keep_count));
  if (B > kMaxTokenBatch)
    return Status::OutOfRange("Expected batch <= " + std::to_string(kMaxTokenBatch) +
                              " for batch but received " + std::to_string(B));
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    std::vector<uint32_t> w(static_cast<size_t>(N));
    std::vector<int32_t> order(static_cast<size_t>(N));
    for (int64_t b = b0; b < b1; ++b) {
      philox_words(seed, kStreamRandomMask | static_cast<uint32_t>(b), 0, N, w.data());
      for (int64_t n = 0; n < N; ++n) order[n] = static_cast<int32_t>(n);
      // argsort of the noise (mae: ids_shuffle = argsort(noise)); ties broken by index so the
      // order is total and the same in TS.
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t c) {
        return w[a] != w[c] ? w[a] < w[c] : a < c;
      });
      for (int64_t j = 0; j < N; ++j) {
        if (j < keep_count) keep[b * keep_count + j] = order[j];
        else masked[b * (N - keep_count) + (j - keep_count)] = order[j];
        restore[b * N + order[j]] = static_cast<int32_t>(j);
      }
    }
  });
  return Status::Ok();
}

Status mask_multi_block(const MultiBlockParams& p, MultiBlockResult* r) {
  const int64_t H = p.H, W = p.W, B = p.B, nE = p.n_enc, nP = p.n_pred;
  if (B > kMaxTokenBatch)
    return Status::OutOfRange("Expected batch <= " + std::to_string(kMaxTokenBatch) +
                              " for batch but received " + std::to_string(B));
  // Block sizes: one pair per batch, like the reference collator.
  WordStream sizes(p.seed, kStreamMultiBlock);
  const double r_pred = word_uniform(sizes.next());
  const double r_enc = word_uniform(sizes.next());
  const double unit[2] = {1.0, 1.0};
  block_size(r_pred, p.pred_scale, p.aspect, H, W, r->pred_block);
  block_size(r_enc, p.enc_scale, unit, H, W, r->enc_block);
  const int64_t ph = r->pred_block[0], pw = r->pred_block[1];
  const int64_t eh = r->enc_block[0], ew = r->enc_block[1];
  // github.com/facebookresearch/ijepa/issues/68: the reference loops forever when even an unconstrained block holds <= minKeep
  // tokens (small grids). That is decided here, before any sampling.
  const auto too_small = [&](const char* which, int64_t bh, int64_t bw, const char* scale) {
    return Status::OutOfRange(
        std::string("Expected minKeep below the ") + which + " block size (" + std::to_string(bh) +
        "x" + std::to_string(bw) + " = " + std::to_string(bh * bw) + " tokens on a " +
        std::to_string(H) + "x" + std::to_string(W) + " grid) for minKeep but received " +
        std::to_string(p.min_keep) + " (use a larger grid, larger " + scale + " or a smaller minKeep)");
  };
  if (nP > 0 && ph * pw <= p.min_keep) return too_small("target", ph, pw, "predScale");
  if (nE > 0 && eh * ew <= p.min_keep) return too_small("context", eh, ew, "encScale");

  std::vector<Rect> pred(static_cast<size_t>(B * nP)), enc(static_cast<size_t>(B * nE));
  std::vector<int32_t> enc_regions(static_cast<size_t>(B * nE));  // target blocks excluded
  r->context_len.assign(static_cast<size_t>(nE * B), 0);
  r->target_len.assign(static_cast<size_t>(nP * B), static_cast<int32_t>(ph * pw));
  r->relaxed.assign(static_cast<size_t>(B), 0);
  const int64_t n_regions = p.allow_overlap ? 0 : nP;

  parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      WordStream ws(p.seed, kStreamMultiBlock | static_cast<uint32_t>(b + 1));
      Rect* pr = pred.data() + b * nP;  // data(): pred may be empty when nP == 0
      // github.com/facebookresearch/ijepa/issues/40: the reference draws corners with randint(0, H - h) (exclusive), so the
      // last row/column is never covered; corners here are uniform over [0, H - h] inclusive.
      for (int64_t j = 0; j < nP; ++j) {
        pr[j].top = static_cast<int32_t>(ws.below(H - ph + 1));
        pr[j].left = static_cast<int32_t>(ws.below(W - pw + 1));
      }
      for (int64_t e = 0; e < nE; ++e) {
        // The reference's retry loop: 20 tries per level, then one more target block is dropped
        // from the acceptable region (the last ones first). With every block dropped the
        // unconstrained block is valid (checked above), so this terminates.
        int64_t tries = 0, timeout = 20;
        for (;;) {
          Rect c{static_cast<int32_t>(ws.below(H - eh + 1)), static_cast<int32_t>(ws.below(W - ew + 1))};
          const int64_t used = std::max<int64_t>(n_regions - tries, 0);
          int64_t count = 0;
          for (int64_t y = c.top; y < c.top + eh; ++y)
            for (int64_t x = c.left; x < c.left + ew; ++x) {
              bool inside = false;
              for (int64_t j = 0; j < used && !inside; ++j)
                inside = y >= pr[j].top && y < pr[j].top + ph && x >= pr[j].left && x < pr[j].left + pw;
              count += inside ? 0 : 1;
            }
          if (count > p.min_keep) {
            enc[b * nE + e] = c;
            enc_regions[b * nE + e] = static_cast<int32_t>(used);
            r->context_len[e * B + b] = static_cast<int32_t>(count);
            r->relaxed[b] = std::max<int32_t>(r->relaxed[b], static_cast<int32_t>(n_regions - used));
            break;
          }
          if (--timeout == 0) {
            ++tries;
            timeout = 20;
          }
        }
      }
    }
  });

  // Reference: every mask of a group is cut to the group's batch minimum (default_collate needs
  // equal lengths); ragged keeps all of them, padded with -1, and reports the lengths.
  int64_t kc = 0;
  if (nE > 0 && B > 0) {
    kc = p.ragged ? 0 : H * W;
    for (int32_t v : r->context_len) kc = p.ragged ? std::max<int64_t>(kc, v) : std::min<int64_t>(kc, v);
  }
  const int64_t kt = (nP > 0 && B > 0) ? ph * pw : 0;
  r->kc = kc;
  r->kt = kt;
  r->context.assign(static_cast<size_t>(nE * B * kc), -1);
  r->targets.assign(static_cast<size_t>(nP * B * kt), -1);
  parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const Rect* pr = pred.data() + b * nP;
      for (int64_t j = 0; j < nP; ++j) {
        int32_t* o = &r->targets[(j * B + b) * kt];
        int64_t n = 0;
        for (int64_t y = pr[j].top; y < pr[j].top + ph; ++y)
          for (int64_t x = pr[j].left; x < pr[j].left + pw; ++x) o[n++] = static_cast<int32_t>(y * W + x);
      }
      for (int64_t e = 0; e < nE; ++e) {
        const Rect c = enc[b * nE + e];
        const int64_t used = enc_regions[b * nE + e];
        int32_t* o = &r->context[(e * B + b) * kc];
        int64_t n = 0;
        for (int64_t y = c.top; y < c.top + eh && n < kc; ++y)
          for (int64_t x = c.left; x < c.left + ew && n < kc; ++x) {
            bool inside = false;
            for (int64_t j = 0; j < used && !inside; ++j)
              inside = y >= pr[j].top && y < pr[j].top + ph && x >= pr[j].left && x < pr[j].left + pw;
            if (!inside) o[n++] = static_cast<int32_t>(y * W + x);
          }
      }
    }
  });
  return Status::Ok();
}

}  // namespace selfsup
