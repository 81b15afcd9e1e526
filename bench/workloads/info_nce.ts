/**
 * Fused InfoNCE / NT-Xent (kernels.infoNCEForward / infoNCEBackward), SimCLR shapes: z1, z2 [N, D],
 * both directions (R = 2N rows against 2N keys), temperature 0.1, L2-normalized. CLI name 'infonce'.
 *
 * FLOPs: the work the fused kernel must do. S = Z Zᵀ is symmetric, so only the upper triangle of
 * tiles is needed: forward R²·D, backward (recompute + H Z + Hᵀ Z on half the tiles) 3·R²·D, so
 * fwd+bwd 4·R²·D. (The textbook composition that PyTorch runs does 2·R²·D and 6·R²·D; counting
 * that instead would let %peak exceed 100%. The torch column compares times, so it is unaffected.)
 * Exps and normalization (O(R²) and O(R·D)) are not counted.
 * Bytes (minimum traffic): fwd reads z1, z2 (4·2·N·D) and writes 2N losses; fwd+bwd also writes
 * dz1, dz2: 4·(4·N·D + 4·N).
 *
 * Check: the per-row losses of up to 16 rows spread over the batch against a plain float64
 * computation of those rows (each row's loss needs every key, so the slice is exact); relative
 * error normwise, max|l - l64| / max|l64|.
 *
 * Extra memory: measured (resident-set growth over the first run). The kernel's workspace is
 * O(N·D): a normalized copy of both views (4·2N·D), per-thread similarity tiles (two in the
 * backward) and, in the backward, one dU (4·2N·D) per thread; buffers up to 8 MB are kept per
 * thread between calls, so a later row of the table may show less than the first.
 *
 * Peer: the textbook PyTorch composition (lightly's NTXentLoss): normalize, cat, Z Z^T / tau,
 * masked_fill of the diagonal, cross_entropy; backward through autograd.
 * ONNX Runtime (--vs ort, forward): the same composition in ONNX ops (not the heavy row: the
 * [2N, 2N] logits would not fit).
 */
import { infoNCEBackward, infoNCEForward } from '../../lib/kernels/info_nce';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { seededNormal } from './sgemm';
import { tfjsInfoNCE } from '../tfjs-peers';
import { unfusedInfoNCE } from '../unfused';
import { autogradPath, leaf } from '../autograd-path';
import { F } from '../../lib/functional';
import { torchTwoLeafLoss } from '../torch-snippet';
import { ortInfoNCE } from '../onnx-models';

const TAU = 0.1;

const TORCH = torchTwoLeafLoss('z1', 'z2', `
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    eye = torch.eye(2 * n, dtype=torch.bool)
    def loss():
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        s = (z @ z.T / ${TAU}).masked_fill(eye, float("-inf"))
        return F.cross_entropy(s, target)
`);

const CHECK_ROWS = 16;

/** Plain float64 loss of row r (0 <= r < 2N): normalized views, every key, log-sum-exp. */
function refRow(z1: ArrayLike<number>, z2: ArrayLike<number>, n: number, d: number, r: number): number {
  const view = (i: number): Float64Array => {
    const src = i < n ? z1 : z2, o = (i % n) * d;
    const v = new Float64Array(d);
    let s = 0;
    for (let k = 0; k < d; k++) { v[k] = src[o + k]; s += v[k] * v[k]; }
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let k = 0; k < d; k++) v[k] *= inv;
    return v;
  };
  const u = view(r);
  const sims: number[] = [];
  let pos = 0;
  for (let c = 0; c < 2 * n; c++) {
    if (c === r) continue;
    const w = view(c);
    let s = 0;
    for (let k = 0; k < d; k++) s += u[k] * w[k];
    s /= TAU;
    sims.push(s);
    if (c === (r + n) % (2 * n)) pos = s;
  }
  let mx = -Infinity; // a loop, not Math.max(...sims): 131,071 arguments overflow the stack
  for (const s of sims) mx = s > mx ? s : mx;
  let se = 0;
  for (const s of sims) se += Math.exp(s - mx);
  return mx + Math.log(se) - pos;
}

function make(n: number, d: number, opts: { quick?: boolean; heavy?: boolean; torch?: boolean; modes?: BenchMode[] } = {}): Workload {
  const R = 2 * n;
  return {
    op: 'infonce',
    name: `${n}x${d}`,
    shape: { N: n, D: d },
    modes: opts.modes ?? ['fwd', 'fwd+bwd'],
    quick: opts.quick ?? false,
    heavy: opts.heavy ?? false,
    flops: (mode) => (mode === 'fwd' ? 1 : 4) * R * R * d,
    bytes: (mode) => (mode === 'fwd' ? 4 * (2 * n * d + R) : 4 * (4 * n * d + 2 * R)),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const z1 = seededNormal(n * d, seed, Arr), z2 = seededNormal(n * d, seed + 1, Arr);
      const g = new Arr(R).fill(1 / R);
      const shape: [number, number] = [n, d];
      return {
        run: (mode) => {
          const f = infoNCEForward(z1, z2, shape, { temperature: TAU });
          if (mode === 'fwd+bwd') infoNCEBackward(z1, z2, shape, f, g, { temperature: TAU });
        },
        check: () => {
          const { losses } = infoNCEForward(z1, z2, shape, { temperature: TAU });
          let e = 0, m = 0;
          const rows = Math.min(CHECK_ROWS, R);
          for (let s = 0; s < rows; s++) {
            const r = Math.floor((s * R) / rows);
            const want = refRow(z1, z2, n, d, r);
            e = Math.max(e, Math.abs(losses[r] - want));
            m = Math.max(m, Math.abs(want));
          }
          return m > 0 ? e / m : e;
        },
      };
    },
    torch: opts.torch === false ? undefined : TORCH,
    tfjs: opts.heavy ? undefined : (tf, s) => tfjsInfoNCE(tf, s, TAU),
    ort: opts.heavy ? undefined : ({ seed }) => {
      const z1 = seededNormal(n * d, seed) as Float32Array, z2 = seededNormal(n * d, seed + 1) as Float32Array;
      return ortInfoNCE(z1, z2, n, d, TAU, infoNCEForward(z1, z2, [n, d], { temperature: TAU }).losses);
    },

    unfused: opts.heavy ? undefined : ({ dtype, seed }) => unfusedInfoNCE(n, d, TAU, dtype, seed),
    autograd: (at) => {
      const Arr = at.dtype === 'float64' ? Float64Array : Float32Array;
      const a = leaf(seededNormal(n * d, at.seed, Arr), [n, d], at), b = leaf(seededNormal(n * d, at.seed + 1, Arr), [n, d], at);
      return autogradPath([a, b], () => F.infoNCE(a, b, { temperature: TAU }));
    },
  };
}

export const workloads: Workload[] = [
  make(256, 128, { quick: true }),
  make(1024, 256),
  // The full logits would need (2·65536)² · 4 B = 68.7 GB; the fused kernel needs O(N·D). Forward
  // only (the fwd+bwd would take minutes on 2 cores); no torch peer (it cannot allocate S).
  make(65536, 128, { torch: false, modes: ['fwd'], heavy: true }),
];
