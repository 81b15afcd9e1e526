/**
 * Evaluation: kNN (cosine, temperature-weighted, k = 20), the linear probe, RankMe, and the local
 * top-k and eigenvalue helpers, against references computed here in float64.
 */
import '../lib/tensor-methods'; // the Tensor op methods, as the package entry attaches them
import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/tensor';
import { knnAccuracy, topkIndices } from '../lib/eval/knn';
import { linearProbeAccuracy } from '../lib/eval/linear';
import { rankMe, symmetricEigenvalues } from '../lib/eval/rankme';
import { mulberry32 } from './helpers';

/** Gaussian clusters: class c centred at 3 e_c in D dims, unit noise. */
function clusters(n: number, D: number, C: number, seed: number, noise = 1): { x: Tensor; y: Int32Array } {
  const r = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const x = new Float32Array(n * D), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % C;
    for (let j = 0; j < D; j++) x[i * D + j] = noise * gauss() + (j === y[i] ? 3 : 0);
  }
  return { x: new Tensor(x, [n, D]), y };
}

describe('eval', () => {
  it('topkIndices returns the k largest (ties to the lower index), as a full sort does', () => {
    const r = mulberry32(1);
    for (const [n, k] of [[1, 1], [7, 3], [50, 20], [33, 33], [100, 1]]) {
      const row = Float32Array.from({ length: n }, () => Math.round(r() * 20) / 4); // many ties
      const ref = Array.from({ length: n }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      expect(Array.from(topkIndices(row, n, k)).sort((a, b) => a - b)).toEqual(ref.sort((a, b) => a - b));
    }
  });

  it('kNN matches a float64 brute-force vote and beats chance on separable clusters', () => {
    const bank = clusters(300, 12, 5, 2), query = clusters(101, 12, 5, 3);
    const acc = knnAccuracy(bank.x, bank.y, query.x, query.y, 5);
    // Reference: cosine similarities in float64, the 20 best, exp(s / 0.07) votes.
    const norm = (t: Tensor, i: number) => {
      const D = t.shape[1];
      const v = Array.from(t.data.subarray(i * D, (i + 1) * D) as Float32Array);
      const s = Math.hypot(...v);
      return v.map((a) => a / s);
    };
    let correct = 0;
    for (let i = 0; i < 101; i++) {
      const q = norm(query.x, i);
      const sims = Array.from({ length: 300 }, (_, j) => norm(bank.x, j).reduce((s, v, d) => s + v * q[d], 0));
      const order = sims.map((_, j) => j).sort((a, b) => sims[b] - sims[a]).slice(0, 20);
      const votes = new Array(5).fill(0);
      for (const j of order) votes[bank.y[j]] += Math.exp(sims[j] / 0.07);
      if (votes.indexOf(Math.max(...votes)) === query.y[i]) correct++;
    }
    expect(acc).toBeCloseTo(correct / 101, 6);
    expect(acc).toBeGreaterThan(0.8); // chance is 0.2
    const shifted = Int32Array.from(bank.y, (c) => (c + 1) % 5); // every bank label wrong
    expect(knnAccuracy(bank.x, shifted, query.x, query.y, 5)).toBeLessThan(0.2);
  });

  it('the linear probe separates clusters and is at chance on noise', () => {
    const tr = clusters(300, 16, 4, 4), te = clusters(200, 16, 4, 5);
    expect(linearProbeAccuracy(tr.x, tr.y, te.x, te.y, 4)).toBeGreaterThan(0.9);
    const noiseTr = clusters(300, 16, 4, 6, 1), noiseTe = clusters(200, 16, 4, 7, 1);
    const random = Int32Array.from(noiseTr.y, (_, i) => (i * 2654435761) % 7 % 4);
    expect(linearProbeAccuracy(noiseTr.x, random, noiseTe.x, noiseTe.y, 4)).toBeLessThan(0.45);
  });

  it('symmetricEigenvalues matches the eigenvalues of a known spectrum', () => {
    // A = Q diag(l) Q^T with Q a product of Givens rotations.
    const n = 7, l = [5, 3, 3, 1, 0.5, 1e-3, 0];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = l[i];
    const r = mulberry32(8);
    for (let t = 0; t < 30; t++) {
      const p = Math.floor(r() * n), q = (p + 1 + Math.floor(r() * (n - 1))) % n, th = r() * 6.28;
      const c = Math.cos(th), s = Math.sin(th);
      for (let k = 0; k < n; k++) { const x = a[k * n + p], y = a[k * n + q]; a[k * n + p] = c * x - s * y; a[k * n + q] = s * x + c * y; }
      for (let k = 0; k < n; k++) { const x = a[p * n + k], y = a[q * n + k]; a[p * n + k] = c * x - s * y; a[q * n + k] = s * x + c * y; }
    }
    const ev = symmetricEigenvalues(a, n).sort((x, y) => y - x);
    ev.forEach((v, i) => expect(v).toBeCloseTo(l[i], 10));
  });

  it('RankMe is r for r equal singular values and follows the entropy formula otherwise', () => {
    // Z [N, D] with r orthogonal columns of equal norm: p_k = 1/r, RankMe = r (up to eps).
    const N = 40, D = 10, r = 6;
    const z = new Float32Array(N * D);
    for (let k = 0; k < r; k++) z[k * D + k] = 2; // rows e_k * 2
    expect(rankMe(new Tensor(z, [N, D]))).toBeCloseTo(r, 4);
    // Singular values 3, 1: p = (0.75, 0.25), exp(H) = exp(-(0.75 ln 0.75 + 0.25 ln 0.25)).
    const z2 = new Float32Array(4 * 3);
    z2[0] = 3; z2[1 * 3 + 1] = 1;
    expect(rankMe(new Tensor(z2, [4, 3]))).toBeCloseTo(Math.exp(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25))), 5);
    expect(rankMe(new Tensor(new Float32Array(12), [4, 3]))).toBe(1);
  });
});
