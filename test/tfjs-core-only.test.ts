/**
 * selfsup/tfjs with @tensorflow/tfjs-core + @tensorflow/tfjs-backend-cpu and no umbrella package:
 * tfjs's gradient registry is then empty (this file never loads @tensorflow/tfjs; vitest runs
 * each file in its own process), so every gradient the adapter composes must be its own. The
 * gradients of infoNCE (mean, sum) and vicreg (all four outputs) are checked against central
 * differences on 'cpu' and on 'selfsup'. Also: the adapter's sources and declarations name no
 * package but @tensorflow/tfjs-core.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type * as tfc from '@tensorflow/tfjs-core';
import { createOps, registerBackend } from '../lib/tfjs/index';

const require = createRequire(import.meta.url);
type TF = typeof tfc;

function load(): TF | null {
  try {
    const tf = require('@tensorflow/tfjs-core') as TF;
    require('@tensorflow/tfjs-backend-cpu');
    return tf;
  } catch {
    return null;
  }
}
const tfOrNull = load();
const tf = tfOrNull as TF;

/** d f / d x by central differences in float64 arithmetic on float32 evaluations. */
function centralDiff(f: (x: Float32Array) => number, x: Float32Array, h = 1e-2): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = x.slice(), m = x.slice();
    p[i] += h;
    m[i] -= h;
    g[i] = (f(p) - f(m)) / (2 * h);
  }
  return g;
}

function expectGradClose(got: ArrayLike<number>, want: Float64Array, tol: number): void {
  let err = 0, mag = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    mag = Math.max(mag, Math.abs(want[i]));
  }
  expect(err).toBeLessThanOrEqual(tol * (1 + mag));
}

describe.skipIf(!tfOrNull)('selfsup/tfjs on @tensorflow/tfjs-core alone', () => {
  it('has no umbrella gradients here (the premise of this file)', () => {
    expect(tf.getGradient('Sum')).toBeUndefined();
    expect(tf.getGradient('Mean')).toBeUndefined();
  });

  for (const backend of ['cpu', 'selfsup']) {
    it(`infoNCE and vicreg gradients on '${backend}' match central differences`, async () => {
      registerBackend(tf);
      await tf.setBackend(backend);
      const ops = createOps(tf);
      expect(ops.path()).toBe('kernel');
      const [N, D] = [5, 3];
      const z1v = Float32Array.from({ length: N * D }, (_, i) => Math.sin(1.3 * i + 0.2));
      const z2v = Float32Array.from({ length: N * D }, (_, i) => Math.cos(0.7 * i - 0.4));
      const z2 = tf.tensor2d(z2v, [N, D]);
      const losses: [string, (z: tfc.Tensor) => tfc.Scalar][] = [
        ['infoNCE mean', (z) => ops.infoNCE(z, z2, { temperature: 0.5 }) as tfc.Scalar],
        ['infoNCE sum', (z) => ops.infoNCE(z, z2, { temperature: 0.5, reduction: 'sum' }) as tfc.Scalar],
        ['vicreg loss', (z) => ops.vicreg(z, z2).loss],
        ['vicreg variance', (z) => ops.vicreg(z, z2).variance],
        ['vicreg covariance', (z) => ops.vicreg(z, z2, { covCoeff: 3 }).covariance],
      ];
      for (const [name, f] of losses) {
        const g = tf.grad(f)(tf.tensor2d(z1v, [N, D]));
        const want = centralDiff((x) => tf.tidy(() => f(tf.tensor2d(x, [N, D])).dataSync()[0]), z1v);
        expect(g.shape, name).toEqual([N, D]);
        expectGradClose(g.dataSync(), want, 2e-2);
      }
    });
  }

  it('the adapter imports types from @tensorflow/tfjs-core only (sources and built declarations)', () => {
    const root = path.resolve(__dirname, '..');
    const files = [
      ...readdirSync(path.join(root, 'lib/tfjs')).map((f) => path.join(root, 'lib/tfjs', f)),
      ...(() => { try { return readdirSync(path.join(root, 'dist/lib/tfjs')).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(root, 'dist/lib/tfjs', f)); } catch { return []; } })(),
    ];
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      // import / export ... from statements and import('...') types (comments name the umbrella in usage examples).
      const src = readFileSync(f, 'utf8');
      const pkgs = [...src.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*'(@tensorflow\/[^']+)'/gm), ...src.matchAll(/import\(\s*["'](@tensorflow\/[^"']+)["']\s*\)/g)].map((m) => m[1]);
      for (const p of pkgs) expect(p, f).toBe('@tensorflow/tfjs-core');
    }
  });
});
