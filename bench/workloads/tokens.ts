/**
 * Masked-token data path: `gather` (kernels.gatherTokens / gatherTokensBackward), `stop`
 * (StoP stochastic positions) and `masks` (I-JEPA multi-block mask generation).
 *
 * gather: x [B, N, D] float32, idx int32 [B, K] (distinct per row, like a mask). No FLOPs counted
 * (copies). Bytes (minimum traffic): fwd reads the K selected rows and writes them, 2·4·B·K·D (+
 * the index, 4·B·K); fwd+bwd adds reading dout (4·B·K·D) and writing the dense dx (4·B·N·D: rows
 * that no index selected must still be zeroed). Peer: torch.gather with the int64 [B, K, D]
 * expanded index (what a PyTorch user writes: apply_masks in ijepa/src/masks/utils.py), backward
 * through autograd (a scatter-add into a zeroed [B, N, D]).
 *
 * stop: pos [N, Dp], idx [B, K], projection [Dp, Din] + bias. FLOPs 2·B·K·Dp·Din (the noise
 * projection; fwd+bwd adds dW = G^T n: 2x). Bytes: fwd writes B·K·Dp and reads pos rows; the noise
 * never reaches memory (drawn in L2-sized tiles by the AVX2 Philox/Box-Muller generator, ~2.4 ns per
 * value on one core, and regenerated the same way in the backward). Peer: randn, F.linear, + pos[idx]
 * in PyTorch.
 *
 * masks: one I-JEPA batch (grid 14x14, defaults of the in1k configs) per run; no FLOPs; bytes =
 * the int32 indices written. Two rows: the native generator and the plain TS port of the reference
 * loop (materialized H x W masks, multiplied acceptable regions, nonzero) from
 * lib/backends/reference-tokens.ts, so masks/s of both sit side by side.
 */
import {
  gatherTokens, gatherTokensBackward, maskMultiBlock, stochasticPositions, stochasticPositionsBackward,
} from '../../lib/kernels/tokens';
import { refGatherTokens, refGatherTokensBackward, refMaskMultiBlock, refStochasticPositions } from '../../lib/backends/reference-tokens';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { seededNormal } from './sgemm';
import { autogradPath, leaf, place } from '../autograd-path';
import { F } from '../../lib/functional';
import { normwiseError } from '../check';

const TORCH_GATHER = `
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    B, N, D, K = shape["B"], shape["N"], shape["D"], shape["K"]
    x = torch.randn(B, N, D, generator=g, dtype=dt).requires_grad_()
    idx = torch.stack([torch.randperm(N, generator=g)[:K] for _ in range(B)])
    go = torch.randn(B, K, D, generator=g, dtype=dt)
    def run(mode):
        if mode == "fwd":
            with torch.no_grad():
                torch.gather(x, dim=1, index=idx.unsqueeze(-1).repeat(1, 1, D))
        else:
            x.grad = None
            torch.gather(x, dim=1, index=idx.unsqueeze(-1).repeat(1, 1, D)).backward(go)
    return run
`;

const TORCH_STOP = `
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    B, N, Dp, K, Din = shape["B"], shape["N"], shape["Dp"], shape["K"], shape["Din"]
    pos = torch.randn(N, Dp, generator=g, dtype=dt).requires_grad_()
    w = torch.randn(Dp, Din, generator=g, dtype=dt).requires_grad_()
    b = torch.randn(Dp, generator=g, dtype=dt).requires_grad_()
    idx = torch.stack([torch.randperm(N, generator=g)[:K] for _ in range(B)])
    go = torch.randn(B, K, Dp, generator=g, dtype=dt)
    def f():
        n = torch.randn(B, K, Din, dtype=dt) * 0.25
        return pos[idx] + torch.nn.functional.linear(n, w, b)
    def run(mode):
        if mode == "fwd":
            with torch.no_grad():
                f()
        else:
            pos.grad = w.grad = b.grad = None
            f().backward(go)
    return run
`;

/** Distinct indices per row (a mask), seeded. */
function maskIdx(B: number, N: number, K: number, seed: number): Int32Array {
  const u = seededNormal(B * N, seed, Float64Array);
  const idx = new Int32Array(B * K);
  for (let b = 0; b < B; b++) {
    const order = Array.from({ length: N }, (_, i) => i).sort((p, q) => u[b * N + p] - u[b * N + q]);
    for (let k = 0; k < K; k++) idx[b * K + k] = order[k];
  }
  return idx;
}

function gather(name: string, B: number, N: number, D: number, K: number): Workload {
  return {
    op: 'gather', name, shape: { B, N, D, K }, modes: ['fwd', 'fwd+bwd'], quick: true,
    flops: () => 0,
    bytes: (mode: BenchMode) => 4 * (2 * B * K * D + B * K) + (mode === 'fwd' ? 0 : 4 * (B * K * D + B * N * D)),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const x = seededNormal(B * N * D, seed, Arr), dout = seededNormal(B * K * D, seed + 1, Arr);
      const idx = maskIdx(B, N, K, seed + 2);
      const out = new Arr(B * K * D);
      const dx = new Arr(B * N * D);
      const run = (mode: BenchMode) => {
        gatherTokens(x, [B, N, D], idx, [B, K], { out });
        if (mode === 'fwd+bwd') gatherTokensBackward(dout, idx, [B, K], N, { dxOut: dx });
      };
      return {
        run,
        check: (mode: BenchMode) => {
          run(mode);
          if (mode === 'fwd') {
            const want = new Float64Array(B * K * D);
            refGatherTokens(x, idx, null, null, want, B, N, D, K, false);
            return normwiseError(out, want);
          }
          const want = new Float64Array(B * N * D);
          refGatherTokensBackward(dout, idx, null, want, null, B, N, D, K, false);
          return normwiseError(dx, want);
        },
        extraBytes: () => 0,
      };
    },
    torch: TORCH_GATHER,
    autograd: (at) => {
      const Arr = at.dtype === 'float64' ? Float64Array : Float32Array;
      const x = leaf(seededNormal(B * N * D, at.seed, Arr), [B, N, D], at);
      const idx = place(maskIdx(B, N, K, at.seed + 2), [B, K], at);
      return autogradPath([x], () => F.gatherTokens(x, idx), place(seededNormal(B * K * D, at.seed + 1, Arr), [B, K, D], at));
    },
  };
}

function stop(name: string, B: number, N: number, Dp: number, K: number, Din: number): Workload {
  const fl = 2 * B * K * Dp * Din;
  return {
    op: 'stop', name, shape: { B, N, Dp, K, Din }, modes: ['fwd', 'fwd+bwd'], quick: false,
    flops: (mode: BenchMode) => (mode === 'fwd' ? fl : 2 * fl),
    bytes: (mode: BenchMode) => 4 * (B * K * Dp * 2 + Dp * Din + B * K) + (mode === 'fwd' ? 0 : 4 * (B * K * Dp + N * Dp + Dp * Din)),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const pos = seededNormal(N * Dp, seed, Arr), w = seededNormal(Dp * Din, seed + 1, Arr), bias = seededNormal(Dp, seed + 2, Arr);
      const g = seededNormal(B * K * Dp, seed + 3, Arr);
      const idx = maskIdx(B, N, K, seed + 4);
      const out = new Arr(B * K * Dp);
      const run = (mode: BenchMode) => {
        stochasticPositions(pos, [N, Dp], idx, [B, K], w, [Dp, Din], bias, { std: 0.25, seed, out });
        if (mode === 'fwd+bwd') stochasticPositionsBackward(g, [N, Dp], idx, [B, K], [Dp, Din], { std: 0.25, seed });
      };
      return {
        run,
        check: () => {
          run('fwd');
          // First batch row only (rows are independent).
          const want = new Float64Array(K * Dp);
          refStochasticPositions(pos, idx.subarray(0, K), null, w, bias, want, null, 1, N, Dp, K, Din, 0.25, seed);
          return normwiseError(out.subarray(0, K * Dp), want);
        },
        // The backward regenerates the noise for dW slice by slice (per-thread 384-row chunks of a
        // column slice, in cache); nothing of size [B, K, Din] is allocated in either pass.
        extraBytes: () => 0,
      };
    },
    torch: TORCH_STOP,
    autograd: (at) => {
      const Arr = at.dtype === 'float64' ? Float64Array : Float32Array;
      const pos = leaf(seededNormal(N * Dp, at.seed, Arr), [N, Dp], at), w = leaf(seededNormal(Dp * Din, at.seed + 1, Arr), [Dp, Din], at);
      const bias = leaf(seededNormal(Dp, at.seed + 2, Arr), [Dp], at), idx = place(maskIdx(B, N, K, at.seed + 4), [B, K], at);
      const g = place(seededNormal(B * K * Dp, at.seed + 3, Arr), [B, K, Dp], at);
      return autogradPath([pos, w, bias], () => F.stochasticPositions(pos, idx, { projection: { weight: w, bias }, seed: at.seed }), g);
    },
  };
}

function masks(name: string, B: number, impl: 'native' | 'ts-reference'): Workload {
  // Output: 1 context [B, ~130] + 4 targets [B, ~35] int32 indices.
  const outBytes = 4 * B * (130 + 4 * 35);
  const args = { H: 14, W: 14, B, encScale: [0.85, 1] as [number, number], predScale: [0.15, 0.2] as [number, number], aspectRatio: [0.75, 1.5] as [number, number], nEnc: 1, nPred: 4, minKeep: 10, allowOverlap: false, ragged: false };
  return {
    op: 'masks', name, shape: { B, H: 14, W: 14 }, modes: ['fwd'], quick: true,
    flops: () => 0,
    bytes: () => outBytes,
    setup({ seed }): WorkloadInstance {
      let s = seed;
      return {
        run: () => {
          s++;
          if (impl === 'native') maskMultiBlock({ grid: [14, 14], batch: B, seed: s });
          else refMaskMultiBlock({ ...args, seed: s });
        },
        // Both implementations must give the same masks for the same seed (0 = identical).
        check: () => {
          const a = maskMultiBlock({ grid: [14, 14], batch: B, seed });
          const b = refMaskMultiBlock({ ...args, seed });
          return a.context.length === b.context.length && a.context.every((v, i) => v === b.context[i]) && a.targets.every((v, i) => v === b.targets[i]) ? 0 : 1;
        },
      };
    },
  };
}

export const workloads: Workload[] = [
  gather('ijepa-ctx-384', 64, 196, 384, 49),
  gather('ijepa-147-768', 64, 196, 768, 147),
  stop('vit-b-targets', 64, 196, 384, 147, 384),
  masks('ijepa-b64-native', 64, 'native'),
  masks('ijepa-b64-ts-reference', 64, 'ts-reference'),
];
