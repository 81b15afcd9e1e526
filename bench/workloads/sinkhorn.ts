/**
 * Sinkhorn-Knopp prior balancing (kernels.sinkhorn), SwAV settings: scores [B, K] cosine-like
 * (uniform in [-1, 1]), epsilon 0.05, 3 iterations, uniform prior; ours is the log-domain kernel.
 *
 * Two rows per shape, the same selfsup run against two PyTorch peers:
 *   exp-BxK: SwAV's own exp form (main_swav.py distributed_sinkhorn, one process) — fast but it
 *            overflows once scores / epsilon > ~88 (float32);
 *   log-BxK: the textbook log-domain form with torch.logsumexp (safe, what ours computes).
 *
 * Bytes (the passes an n-iteration Sinkhorn must make over [B, K] in float32): each iteration
 * needs the whole matrix once for its row update and the column sums of the next column update
 * (they share one pass), the first column update needs one more, and the output is written once:
 * 4·B·K·(n + 2). (Ours moves one more write: sweep 0 caches exp(S/eps - m_b) in the output
 * buffer, see native/ops/sinkhorn/cpu.cc; it is not counted, so % of bandwidth is conservative.)
 * FLOPs: B·K·(2 + 4n) (sweep 0: scale and shift; per iteration: E·u, the row sum, the column
 * multiply-add, the output scale); the exps are not counted.
 *
 * ONNX Runtime (--vs ort): the row's form (exp or log-domain) in ONNX ops, iterations unrolled.
 *
 * Check: the full output against the float64 log-domain reference (lib/backends/reference-
 * sinkhorn.ts) at the same iteration count, max |x - x64| / max |x64|.
 */
import { sinkhorn } from '../../lib/kernels/sinkhorn';
import { refSinkhorn } from '../../lib/backends/reference-sinkhorn';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { ortSinkhorn } from '../onnx-models';
import { autogradPath, place } from '../autograd-path';
import { F } from '../../lib/functional';

const ITERATIONS = 3;
const EPSILON = 0.05;

const TORCH = `
import math

def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    B, K, log_form = shape["B"], shape["K"], shape["logDomain"] == 1
    scores = torch.rand(B, K, generator=g, dtype=dt) * 2 - 1
    eps, iters = ${EPSILON}, ${ITERATIONS}

    @torch.no_grad()
    def swav_exp(out):
        # facebookresearch/swav main_swav.py distributed_sinkhorn (world size 1)
        Q = torch.exp(out / eps).t()
        Bq, Kq = Q.shape[1], Q.shape[0]
        Q /= torch.sum(Q)
        for _ in range(iters):
            Q /= torch.sum(Q, dim=1, keepdim=True)
            Q /= Kq
            Q /= torch.sum(Q, dim=0, keepdim=True)
            Q /= Bq
        Q *= Bq
        return Q.t()

    @torch.no_grad()
    def sinkhorn_log(out):
        L = out / eps
        Bl, Kl = L.shape
        log_r, log_c = -math.log(Bl), -math.log(Kl)
        f = torch.zeros(Bl, dtype=L.dtype)
        gk = torch.zeros(Kl, dtype=L.dtype)
        for _ in range(iters):
            gk = log_c - torch.logsumexp(L + f[:, None], dim=0)
            f = log_r - torch.logsumexp(L + gk[None, :], dim=1)
        return torch.exp(L + f[:, None] + gk[None, :] - log_r)

    fn = sinkhorn_log if log_form else swav_exp
    def run(mode):
        fn(scores)
    return run
`;

function uniformScores(n: number, seed: number, Arr: Float32ArrayConstructor | Float64ArrayConstructor): Float32Array | Float64Array {
  let s = (seed * 0x9e3779b9 + 0x6d2b79f5) >>> 0;
  const out = new Arr(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296) * 2 - 1;
  }
  return out;
}

function make(peerForm: 'exp' | 'log', B: number, K: number, quick: boolean): Workload {
  const n = B * K;
  return {
    op: 'sinkhorn',
    name: `${peerForm}-${B}x${K}`,
    shape: { B, K, iterations: ITERATIONS, logDomain: peerForm === 'log' ? 1 : 0 },
    modes: ['fwd'],
    quick,
    flops: () => n * (2 + 4 * ITERATIONS),
    bytes: () => 4 * n * (ITERATIONS + 2),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const scores = uniformScores(n, seed, Arr);
      const out = new Arr(n);
      const opts = { epsilon: EPSILON, iterations: ITERATIONS, out };
      return {
        run: (_mode: BenchMode) => {
          sinkhorn(scores, [B, K], opts);
        },
        check: () => {
          sinkhorn(scores, [B, K], opts);
          const want = refSinkhorn(scores, {
            B, K, probs: false, epsilon: EPSILON, iterations: ITERATIONS, tolerance: 0,
            col: new Float64Array(K).fill(1 / K), row: null, wantError: false,
          }).out;
          let e = 0, m = 0;
          for (let i = 0; i < n; i++) {
            e = Math.max(e, Math.abs(out[i] - want[i]));
            m = Math.max(m, Math.abs(want[i]));
          }
          return m > 0 ? e / m : e;
        },
        extraBytes: () => 4 * (8 * 4 * Math.ceil(K / 8) * 8 + 3 * B + 4 * K) + 8 * (8 * K + 2 * B),
      };
    },
    torch: TORCH,
    // F.sinkhorn (no gradient: forward only); on cuda, the row of `selfsup bench --device cuda`.
    autograd: (at) => {
      const s = place(uniformScores(n, at.seed, at.dtype === 'float64' ? Float64Array : Float32Array), [B, K], at);
      return autogradPath([s], () => F.sinkhorn(s, { epsilon: EPSILON, iterations: ITERATIONS }));
    },
    ort: ({ seed }) => {
      const scores = uniformScores(n, seed, Float32Array) as Float32Array;
      const { out } = sinkhorn(scores, [B, K], { epsilon: EPSILON, iterations: ITERATIONS });
      return ortSinkhorn(scores, B, K, { epsilon: EPSILON, iterations: ITERATIONS, logDomain: peerForm === 'log' }, out);
    },
  };
}

export const workloads: Workload[] = [
  make('exp', 1024, 1024, true),
  make('log', 1024, 1024, true),
  make('exp', 4096, 3000, false),
  make('log', 4096, 3000, false),
];
