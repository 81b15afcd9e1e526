/**
 * InfoNCE / NT-Xent: what the op table cannot say. Kernel forward/backward against the plain
 * float64 reference over every option combination, the fused-vs-naive float32 error bound, the
 * small-temperature overflow case, async forms, native argument checks, and the N = 16,384 peak-RSS
 * test (the [2N, 2N] logits would need 4 GiB).
 */
import { describe, expect, it } from 'vitest';
import { infoNCE } from '../lib/ops/info_nce';
import { Tensor } from '../lib/tensor';
import { infoNCEBackward, infoNCEBackwardAsync, infoNCEForward, infoNCEForwardAsync, type InfoNCEKernelOptions } from '../lib/kernels/info_nce';
import { refInfoNCEBackward, refInfoNCEForward } from '../lib/backends/reference-info_nce';
import { tryNative, useReference } from '../lib/backends/native';
import { mulberry32 } from './ops/helpers';

function randn(n: number, seed: number, kind: 'f32' | 'f64' = 'f64'): Float64Array | Float32Array {
  const r = mulberry32(seed);
  const a = kind === 'f32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    a[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) || 0.3;
  }
  return a;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

function refArgs(z1: ArrayLike<number>, z2: ArrayLike<number>, n: number, d: number, o: InfoNCEKernelOptions) {
  const neg = o.negatives ? Float64Array.from(o.negatives) : null;
  return {
    z1: Float64Array.from(z1), z2: Float64Array.from(z2), negatives: neg, labels: o.labels ?? null,
    n, d, m: neg ? neg.length / d : 0, temperature: o.temperature ?? 0.1, normalize: o.normalize ?? true,
    both: (o.direction ?? 'both') === 'both', decoupled: o.decoupled ?? false,
  };
}

const configs: Array<{ label: string; n: number; d: number; o: (seed: number) => InfoNCEKernelOptions }> = [
  { label: 'both', n: 13, d: 7, o: () => ({}) },
  { label: 'both tau=0.5 unnormalized', n: 9, d: 5, o: () => ({ temperature: 0.5, normalize: false }) },
  { label: 'oneWay', n: 11, d: 6, o: () => ({ direction: 'oneWay' }) },
  { label: 'decoupled', n: 10, d: 4, o: () => ({ decoupled: true }) },
  { label: 'oneWay decoupled', n: 10, d: 4, o: () => ({ direction: 'oneWay', decoupled: true }) },
  { label: 'labels', n: 12, d: 5, o: (s) => ({ labels: Int32Array.from(randn(12, s).map((v) => Math.abs(Math.floor(v * 2)) % 4)) }) },
  { label: 'labels decoupled', n: 12, d: 5, o: (s) => ({ decoupled: true, labels: Int32Array.from(randn(12, s).map((v) => Math.abs(Math.floor(v * 2)) % 4)) }) },
  { label: 'oneWay labels', n: 12, d: 5, o: (s) => ({ direction: 'oneWay', labels: Int32Array.from(randn(12, s).map((v) => Math.abs(Math.floor(v * 2)) % 3)) }) },
  { label: 'negatives', n: 8, d: 6, o: (s) => ({ negatives: randn(17 * 6, s) }) },
  { label: 'oneWay negatives decoupled', n: 8, d: 6, o: (s) => ({ direction: 'oneWay', decoupled: true, negatives: randn(5 * 6, s) }) },
  { label: 'multi-tile (700 rows, 1 negative tile)', n: 350, d: 33, o: (s) => ({ temperature: 0.07, negatives: randn(600 * 33, s) }) },
  { label: 'multi-tile oneWay labels', n: 530, d: 9, o: (s) => ({ direction: 'oneWay', labels: Int32Array.from({ length: 530 }, (_, i) => (i * 7) % 200) }) },
];

describe('infoNCE kernels vs the float64 reference', () => {
  for (const c of configs) {
    it(`${c.label} (float64 forward + backward)`, () => {
      const z1 = randn(c.n * c.d, 1) as Float64Array, z2 = randn(c.n * c.d, 2) as Float64Array;
      const o = c.o(3);
      if (o.negatives) o.negatives = Float64Array.from(o.negatives);
      const f = infoNCEForward(z1, z2, [c.n, c.d], o);
      const r = refInfoNCEForward(refArgs(z1, z2, c.n, c.d, o));
      expect(maxRel(f.losses, r.losses)).toBeLessThan(1e-10);
      const g = randn(f.losses.length, 4) as Float64Array;
      const b = infoNCEBackward(z1, z2, [c.n, c.d], f, g, o);
      const rb = refInfoNCEBackward(refArgs(z1, z2, c.n, c.d, o), g);
      expect(maxRel(b.dz1, rb.dz1)).toBeLessThan(1e-9);
      expect(maxRel(b.dz2, rb.dz2)).toBeLessThan(1e-9);
    });
    it(`${c.label} (float32)`, () => {
      const z1 = randn(c.n * c.d, 1, 'f32') as Float32Array, z2 = randn(c.n * c.d, 2, 'f32') as Float32Array;
      const o = c.o(3);
      if (o.negatives) o.negatives = Float32Array.from(o.negatives);
      const f = infoNCEForward(z1, z2, [c.n, c.d], o);
      const r = refInfoNCEForward(refArgs(z1, z2, c.n, c.d, o));
      expect(maxRel(f.losses, r.losses)).toBeLessThan(2e-5);
      const g = Float32Array.from(randn(f.losses.length, 4));
      const b = infoNCEBackward(z1, z2, [c.n, c.d], f, g, o);
      const rb = refInfoNCEBackward(refArgs(z1, z2, c.n, c.d, o), g);
      expect(maxRel(b.dz1, rb.dz1)).toBeLessThan(1e-4);
      expect(maxRel(b.dz2, rb.dz2)).toBeLessThan(1e-4);
    });
  }
});
