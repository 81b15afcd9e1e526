/**
 * VICReg / Barlow Twins: what the op table cannot say. Gram and direct paths agree with each other
 * and with the float64 reference at the benchmark-like shape ratio (N << D); the fused float32
 * error is within 2x of the naive float32 composition's; kernel backward vs the reference in
 * float32; all four vicreg outputs are differentiable; async forms; native argument checks.
 */
import { describe, expect, it } from 'vitest';
import { tryNative, useReference } from '../lib/backends/native';
import { refBarlowTwins, refBarlowTwinsBackward, refCovarianceLoss, refVicregBackward, refVicregTerms } from '../lib/backends/reference-vicreg';
import {
  barlowTwins, barlowTwinsAsync, barlowTwinsBackward, barlowTwinsBackwardAsync, covarianceLoss,
  vicreg as vicregTerms, vicregAsync, vicregBackward, vicregBackwardAsync,
} from '../lib/kernels/vicreg';
import { vicreg } from '../lib/ops/vicreg';
import { Tensor } from '../lib/index';
import { mulberry32 } from './ops/helpers';
import { normwiseRelErr } from './helpers';

function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return a;
}

const maxRel = normwiseRelErr;

/** The textbook float32 covariance term: d x d covariance accumulated in float32, then the
 * off-diagonal squares summed in float32 (what torch does in float32). */
function naiveCovFloat32(x: Float32Array, n: number, d: number): number {
  const f = Math.fround;
  const mean = new Float32Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] = f(mean[c] + x[i * d + c]);
  for (let c = 0; c < d; c++) mean[c] = f(mean[c] / n);
  const xc = Float32Array.from(x, (v, k) => f(v - mean[k % d]));
  let s = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    if (i === j) continue;
    let c = 0;
    for (let r = 0; r < n; r++) c = f(c + f(xc[r * d + i] * xc[r * d + j]));
    c = f(c / (n - 1));
    s = f(s + f(c * c));
  }
  return f(s / d);
}

describe('vicreg kernels', () => {
  it.skipIf(process.env.SELFSUP_BACKEND === 'reference')('runs on the native backend', () => {
    expect(useReference()).toBe(false);
    expect(typeof tryNative()?.vicregForward).toBe('function');
  });

  it('Gram and direct covariance paths agree with the reference (N=16, D=96) in float64', () => {
    const n = 16, d = 96;
    const x = Float64Array.from(randn(n * d, 1)), y = Float64Array.from(randn(n * d, 2, 0.7));
    const want = refVicregTerms(x, y, n, d, 1e-4);
    for (const covPath of ['gram', 'direct'] as const) {
      const t = vicregTerms(x, y, [n, d], { covPath });
      expect(Math.abs(t.covariance - want.covariance) / want.covariance).toBeLessThan(1e-12);
      expect(Math.abs(t.variance - want.variance)).toBeLessThan(1e-12);
      expect(Math.abs(t.invariance - want.invariance) / want.invariance).toBeLessThan(1e-12);
      const g = vicregBackward(x, y, [n, d], { invariance: 0.3, variance: 25, covariance: 2 }, { covPath });
      const rg = refVicregBackward(x, y, n, d, 1e-4, 0.3, 25, 2);
      expect(maxRel(g.dx, rg.dx)).toBeLessThan(1e-10);
      expect(maxRel(g.dy, rg.dy)).toBeLessThan(1e-10);
    }
  });

  it('float32 backward matches the reference on both paths', () => {
    const n = 12, d = 40;
    const x = randn(n * d, 3), y = randn(n * d, 4, 1.3);
    const rg = refVicregBackward(x, y, n, d, 1e-4, 25, 25, 1);
    for (const covPath of ['gram', 'direct'] as const) {
      const g = vicregBackward(x, y, [n, d], { invariance: 25, variance: 25, covariance: 1 }, { covPath });
      expect(maxRel(g.dx, rg.dx)).toBeLessThan(1e-4);
      expect(maxRel(g.dy, rg.dy)).toBeLessThan(1e-4);
    }
  });

  for (const covPath of ['gram', 'direct'] as const) {
    it(`fused float32 covariance error <= 2x the naive float32 composition's (${covPath}, N=24, D=80)`, () => {
      const n = 24, d = 80;
      const x = randn(n * d, 5, 2);
      const want = refCovarianceLoss(x, n, d);
      const fused = covarianceLoss(x, [n, d], { covPath });
      const naive = naiveCovFloat32(x, n, d);
      expect(Math.abs(fused - want)).toBeLessThanOrEqual(2 * Math.abs(naive - want) + 1e-7 * want);
    });
  }

  it('Barlow Twins: Gram and direct agree with the reference, forward and backward', () => {
    const n = 10, d = 48;
    const a = Float64Array.from(randn(n * d, 6)), b = Float64Array.from(randn(n * d, 7, 0.5));
    const want = refBarlowTwins(a, b, n, d, 0.0051, 1e-5);
    const wg = refBarlowTwinsBackward(a, b, n, d, 0.0051, 1e-5, 1.5);
    for (const covPath of ['gram', 'direct'] as const) {
      const t = barlowTwins(a, b, [n, d], { covPath });
      expect(Math.abs(t.loss - want.loss) / want.loss).toBeLessThan(1e-12);
      expect(Math.abs(t.offDiagonal - want.offDiagonal) / want.offDiagonal).toBeLessThan(1e-11);
      const g = barlowTwinsBackward(a, b, [n, d], 1.5, { covPath });
      expect(maxRel(g.dz1, wg.dz1)).toBeLessThan(1e-9);
      expect(maxRel(g.dz2, wg.dz2)).toBeLessThan(1e-9);
    }
  });
});

describe('vicreg autograd op', () => {
  it('returns four scalar tensors, all differentiable', () => {
    const n = 6, d = 9;
    const xa = randn(n * d, 8), ya = randn(n * d, 9);
    const x = new Tensor(Float64Array.from(xa), [n, d], { requiresGrad: true });
    const y = new Tensor(Float64Array.from(ya), [n, d], { requiresGrad: true });
    const out = vicreg(x, y);
    expect(Object.keys(out)).toEqual(['loss', 'invariance', 'variance', 'covariance']);
    for (const t of Object.values(out)) expect(t.shape).toEqual([]);
    const t = refVicregTerms(x.data, y.data, n, d, 1e-4);
    expect(out.loss.item()).toBeCloseTo(25 * t.invariance + 25 * t.variance + t.covariance, 10);
    // d(covariance)/dx alone equals the kernel's gradient with only the covariance weight.
    out.covariance.backward();
    const want = refVicregBackward(x.data, y.data, n, d, 1e-4, 0, 0, 1);
    expect(maxRel(x.grad!.data, want.dx)).toBeLessThan(1e-10);
  });
});

describe('vicreg async forms and native argument checks', () => {
  it('async forms equal the sync ones', async () => {
    const n = 8, d = 21;
    const x = randn(n * d, 10), y = randn(n * d, 11);
    expect(await vicregAsync(x, y, [n, d])).toEqual(vicregTerms(x, y, [n, d]));
    const g = { invariance: 1, variance: 2, covariance: 3 };
    const s = vicregBackward(x, y, [n, d], g), a = await vicregBackwardAsync(x, y, [n, d], g);
    expect(Array.from(a.dx)).toEqual(Array.from(s.dx));
    expect(await barlowTwinsAsync(x, y, [n, d])).toEqual(barlowTwins(x, y, [n, d]));
    const bs = barlowTwinsBackward(x, y, [n, d], 2), ba = await barlowTwinsBackwardAsync(x, y, [n, d], 2);
    expect(Array.from(ba.dz2)).toEqual(Array.from(bs.dz2));
  });

  it('kernels reject N < 2 and bad options with the package grammar', () => {
    const x = new Float32Array(4);
    expect(() => vicregTerms(x, x, [1, 4])).toThrow(/Expected a batch of at least 2 rows \(the variance needs n >= 2\) for x but received \[1, 4\]/);
    expect(() => vicregTerms(x, new Float32Array(3), [2, 2])).toThrow(/for y but received length 3/);
    expect(() => vicregTerms(x, x, [2, 2], { covPath: 'fast' as 'gram' })).toThrow(RangeError);
    expect(() => barlowTwins(x, x, [2, 2], { lambda: -1 })).toThrow(/for options.lambda but received -1/);
  });

  it.skipIf(!tryNative()?.vicregForward)('the addon rejects bad arguments with JS errors (no crash)', () => {
    const nat = tryNative()!;
    const fwd = nat.vicregForward as (...a: unknown[]) => unknown;
    const z = new Float32Array(12);
    const o = (over: Record<string, unknown> = {}) => ({ n: 4, d: 3, eps: 1e-4, path: 0, ...over });
    expect(() => fwd(z, z, o())).not.toThrow();
    expect(() => fwd(z, z, o({ n: 1, d: 12 }))).toThrow(/at least 2 rows/);
    expect(() => fwd(z, new Float32Array(2), o())).toThrow(/for y but received length 2/);
    expect(() => fwd(z, new Float64Array(12), o())).toThrow(TypeError);
    expect(() => fwd(z, z, o({ eps: -1 }))).toThrow(/for eps/);
    expect(() => fwd(z, z, o({ path: 7 }))).toThrow(/for path/);
    const back = nat.vicregBackward as (...a: unknown[]) => unknown;
    expect(() => back(z, z, new Float32Array(12), new Float32Array(5), o({ gInv: 1, gVar: 1, gCov: 1 }))).toThrow(/for dy but received length 5/);
    expect(() => back(z, z, new Float32Array(12), new Float32Array(12), o({ gInv: 1, gVar: 1 }))).toThrow(/Expected a number for gCov but received undefined/);
    const term = nat.vicregTermForward as (...a: unknown[]) => unknown;
    expect(() => term(z, o({ which: 2 }))).toThrow(/for which/);
    const barlow = nat.barlowTwinsForward as (...a: unknown[]) => unknown;
    expect(() => barlow(z, z, o({ lambda: -1 }))).toThrow(/Expected a number >= 0 for lambda but received -1/);
  });
});
