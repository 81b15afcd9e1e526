/**
 * Fused VICReg (kernels.vicreg / vicregBackward), official coefficients 25 / 25 / 1, x, y [N, D].
 * CLI name 'vicreg'. At N < D the covariance terms run through the N x N Gram matrices.
 *
 * FLOPs (what the Gram path needs, not the textbook D x D product): forward the two Gram matrices
 * X_c X_c^T and Y_c Y_c^T, 2·2·N²·D; forward + backward adds (X_c X_c^T) X_c and the same for y,
 * another 2·2·N²·D (the fused backward recomputes the Gram matrices, so it does 1.5x this count).
 * The textbook composition (cov = X_c^T X_c, D x D) needs D/N times more: 32x at N=256, D=8192.
 * Elementwise work (means, variances, the hinge, mse) is O(N·D) and not counted.
 * Bytes (minimum): fwd reads x, y (4·2·N·D); fwd+bwd also writes dx, dy (4·4·N·D).
 *
 * Check: the three terms against the float64 reference through the Gram identity (the d x d
 * reference would take minutes in JS at D=8192; the identity is checked against the d x d reference
 * in test/vicreg.test.ts); max relative error over the terms.
 *
 * Peer: the official facebookresearch/vicreg loss written in PyTorch (mse, centred var/std hinge,
 * D x D covariance with the off_diagonal view); backward through autograd.
 * ONNX Runtime (--vs ort, forward): the same formulas in ONNX ops, the D x D covariance included.
 */
import { vicreg, vicregBackward } from '../../lib/kernels/vicreg';
import type { Workload, WorkloadInstance } from '../types';
import { seededNormal } from './sgemm';
import { tfjsVICReg } from '../tfjs-peers';
import { unfusedVICReg } from '../unfused';
import { autogradPath, leaf } from '../autograd-path';
import { F } from '../../lib/functional';
import { torchTwoLeafLoss } from '../torch-snippet';
import { ortVICReg } from '../onnx-models';

const TORCH = torchTwoLeafLoss('x', 'y', `
    def off_diagonal(m):
        return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
    def loss():
        repr_loss = F.mse_loss(x, y)
        xc = x - x.mean(dim=0)
        yc = y - y.mean(dim=0)
        std_x = torch.sqrt(xc.var(dim=0) + 0.0001)
        std_y = torch.sqrt(yc.var(dim=0) + 0.0001)
        std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
        cov_x = (xc.T @ xc) / (n - 1)
        cov_y = (yc.T @ yc) / (n - 1)
        cov_loss = off_diagonal(cov_x).pow_(2).sum().div(d) + off_diagonal(cov_y).pow_(2).sum().div(d)
        return 25 * repr_loss + 25 * std_loss + cov_loss
`);

/** Float64 terms via the Gram identity, plain loops. */
function refTerms(x: ArrayLike<number>, y: ArrayLike<number>, n: number, d: number): number[] {
  let inv = 0;
  for (let k = 0; k < n * d; k++) inv += (x[k] - y[k]) ** 2;
  let variance = 0, cov = 0;
  for (const z of [x, y]) {
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += z[i * d + c] / n;
    const zc = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) zc[i * d + c] = z[i * d + c] - mean[c];
    const s = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) s[c] += zc[i * d + c] ** 2;
    for (let c = 0; c < d; c++) variance += Math.max(0, 1 - Math.sqrt(s[c] / (n - 1) + 1e-4)) / d / 2;
    let fro = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let k = 0;
      for (let c = 0; c < d; c++) k += zc[i * d + c] * zc[j * d + c];
      fro += k * k;
    }
    let diag = 0;
    for (let c = 0; c < d; c++) diag += s[c] * s[c];
    cov += (fro - diag) / ((n - 1) ** 2 * d);
  }
  return [inv / (n * d), variance, cov];
}

function make(n: number, d: number, quick: boolean): Workload {
  return {
    op: 'vicreg',
    name: `${n}x${d}`,
    shape: { N: n, D: d },
    modes: ['fwd', 'fwd+bwd'],
    quick,
    flops: (mode) => (mode === 'fwd' ? 1 : 2) * 2 * 2 * n * n * d,
    bytes: (mode) => 4 * (mode === 'fwd' ? 2 : 4) * n * d,
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const x = seededNormal(n * d, seed, Arr), y = seededNormal(n * d, seed + 1, Arr);
      const shape: [number, number] = [n, d];
      const size = dtype === 'float64' ? 8 : 4;
      return {
        run: (mode) => {
          vicreg(x, y, shape);
          if (mode === 'fwd+bwd') vicregBackward(x, y, shape, { invariance: 25, variance: 25, covariance: 1 });
        },
        check: () => {
          const t = vicreg(x, y, shape);
          const want = refTerms(x, y, n, d);
          const got = [t.invariance, t.variance, t.covariance];
          return Math.max(...got.map((v, i) => Math.abs(v - want[i]) / Math.max(Math.abs(want[i]), 1e-12)));
        },
        // A centred copy and the N x N Gram matrix per input (plus dx-sized temporaries: none).
        extraBytes: () => size * (n * d + n * n),
      };
    },
    torch: TORCH,
    // tfjs's cpu backend is plain JS: the D x D covariance at D = 8192 would take minutes a run.
    tfjs: d <= 2048 ? (tf, s) => tfjsVICReg(tf, s) : undefined,
    ort: ({ seed }) => {
      const x = seededNormal(n * d, seed) as Float32Array, y = seededNormal(n * d, seed + 1) as Float32Array;
      return ortVICReg(x, y, n, d, vicreg(x, y, [n, d]));
    },

    unfused: ({ dtype, seed }) => unfusedVICReg(n, d, dtype, seed),
    autograd: (at) => {
      const Arr = at.dtype === 'float64' ? Float64Array : Float32Array;
      const a = leaf(seededNormal(n * d, at.seed, Arr), [n, d], at), b = leaf(seededNormal(n * d, at.seed + 1, Arr), [n, d], at);
      return autogradPath([a, b], () => F.vicreg(a, b).loss);
    },
  };
}

export const workloads: Workload[] = [make(256, 2048, true), make(256, 8192, false)];
