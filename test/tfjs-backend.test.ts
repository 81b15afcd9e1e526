/**
 * The 'selfsup' TensorFlow.js backend: tfjs-core's own jasmine suites for every overridden kernel
 * (test/tfjs-core/run.mjs, in a child process); each overridden kernel against a float64
 * reference at awkward shapes on fresh seeded inputs, and its gradients against the cpu
 * backend's and central differences; the three docs/tfjs.md models trained on 'cpu' and on
 * 'selfsup' from the same weights (predictions and weights within 1e-4); fallbacks; errors.
 * Runs on dist/ (npm test builds it first). Skipped when @tensorflow/tfjs is not installed.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type * as tfjs from '@tensorflow/tfjs';
import { expectCloseNormwise, nodeCommand } from './helpers';

const require = createRequire(import.meta.url);
const root = path.resolve(__dirname, '..');
type TF = typeof tfjs;
type Tensor = tfjs.Tensor;

function load(): TF | null {
  try {
    return require('@tensorflow/tfjs') as TF;
  } catch {
    return null;
  }
}
const tfOrNull = load();
const tf = tfOrNull as TF;
const dist = require(path.join(root, 'dist/lib/tfjs/index.js')) as typeof import('../lib/tfjs/index');
const nativeCore = require(path.join(root, 'dist/lib/ops/native-core.js')) as typeof import('../lib/ops/native-core');

let seed = 7000;
const randn = (shape: number[]): Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed++);

const expectClose = expectCloseNormwise;

/** Runs fn on 'selfsup' and returns its arrays; asserts the named kernel took the selfsup path. */
function onSelfsup(kernel: string, fn: () => Tensor | Tensor[]): Float32Array[] {
  tf.setBackend('selfsup');
  const before = dist.PATH_COUNTS[kernel]?.selfsup ?? 0;
  const out = tf.tidy(() => [fn()].flat().map((t) => t.dataSync() as Float32Array));
  expect(dist.PATH_COUNTS[kernel].selfsup).toBeGreaterThan(before);
  return out;
}
function onCpu(fn: () => Tensor | Tensor[]): Float32Array[] {
  tf.setBackend('cpu');
  return tf.tidy(() => [fn()].flat().map((t) => t.dataSync() as Float32Array));
}

// ---- float64 references -----------------------------------------------------------------------

const f64 = (t: Tensor): Float64Array => Float64Array.from(t.dataSync());

/** NHWC conv2d in float64 with explicit [top, left] padding, strides and dilations. */
function refConv(x: Tensor, w: Tensor, s: [number, number], d: [number, number], pad: [number, number], out: [number, number]): Float64Array {
  const [B, H, W, C] = x.shape, [FH, FW, , N] = w.shape;
  const X = f64(x), Wt = f64(w), y = new Float64Array(B * out[0] * out[1] * N);
  for (let b = 0; b < B; b++) for (let oh = 0; oh < out[0]; oh++) for (let ow = 0; ow < out[1]; ow++) for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let i = 0; i < FH; i++) for (let j = 0; j < FW; j++) {
      const ih = oh * s[0] - pad[0] + i * d[0], iw = ow * s[1] - pad[1] + j * d[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      for (let c = 0; c < C; c++) acc += X[((b * H + ih) * W + iw) * C + c] * Wt[((i * FW + j) * C + c) * N + n];
    }
    y[((b * out[0] + oh) * out[1] + ow) * N + n] = acc;
  }
  return y;
}

/** a [batch..., m, k] x b [k, n] (b shared over the batch) in float64. */
function refMatmul(a: Tensor, b: Tensor): Float64Array {
  const A = f64(a), Bv = f64(b), k = a.shape[a.rank - 1], n = b.shape[1], rows = A.length / k;
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let p = 0; p < k; p++) acc += A[r * k + p] * Bv[p * n + j];
    y[r * n + j] = acc;
  }
  return y;
}

describe.skipIf(!tfOrNull)("the 'selfsup' tfjs backend", () => {
  beforeAll(() => {
    dist.registerBackend(tf);
    // Every size through the native tensor core (it leaves tensors under 512 elements to the cpu kernel otherwise).
    nativeCore.setNativeMinElements(0);
  });

  it("passes tfjs-core's own jasmine suites for every overridden kernel", () => {
    const r = spawnSync(...nodeCommand([path.join(root, 'test/tfjs-core/run.mjs')]), { cwd: root, encoding: 'utf8', env: process.env, timeout: 120_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    const res = JSON.parse(line) as { passed: number; failed: number; excluded: number; failures: string[]; suites: Record<string, number>; paths: Record<string, { selfsup: number; cpu: number }> };
    expect(res.failures).toEqual([]);
    expect(res.failed).toBe(0);
    expect(res.excluded).toBe(0);
    expect(res.passed).toBeGreaterThan(620);
    for (const suite of ['matmul', 'matmulBatch', 'fused matmul', 'conv2d', 'fused conv2d', 'conv2dTranspose', 'softmax', 'add', 'sub', 'mul', 'div',
      'exp', 'square', 'sqrt', 'rsqrt', 'neg', 'relu', 'step kernel', 'sum', 'mean', 'transpose', 'slice', 'tile', 'pad', 'gather', 'maxPool', 'maxPoolBackprop']) {
      expect(res.suites[suite], suite).toBeGreaterThan(0);
    }
    // The suites reached selfsup's code for every overridden kernel, not only the cpu fallback.
    for (const k of dist.OVERRIDDEN_KERNELS) expect(res.paths[k]?.selfsup ?? 0, k).toBeGreaterThan(0);
    expect(r.status).toBe(0);
  }, 120_000);

  it('conv2d at awkward shapes (strides, dilations, valid / same / explicit padding) matches float64; gradients match cpu and central differences', () => {
    const cases: { x: number[]; w: number[]; s: [number, number]; d: [number, number]; pad: 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]] }[] = [
      { x: [2, 9, 7, 3], w: [3, 2, 3, 5], s: [2, 1], d: [1, 1], pad: 'valid' },
      { x: [3, 8, 11, 17], w: [3, 3, 17, 6], s: [1, 1], d: [1, 1], pad: 'same' },
      { x: [1, 10, 9, 4], w: [2, 3, 4, 7], s: [1, 1], d: [2, 3], pad: 'valid' },
      { x: [2, 7, 6, 5], w: [3, 3, 5, 3], s: [2, 2], d: [1, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
      { x: [2, 5, 6, 9], w: [1, 1, 9, 4], s: [1, 1], d: [1, 1], pad: 'valid' }, // the zero-copy 1x1 path
    ];
    for (const c of cases) {
      const x = randn(c.x), w = randn(c.w);
      const [y] = onSelfsup('Conv2D', () => tf.conv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, c.s, c.pad, 'NHWC', c.d));
      const outShape = tf.conv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, c.s, c.pad, 'NHWC', c.d).shape;
      const pads: [number, number] = c.pad === 'valid' ? [0, 0] : c.pad === 'same'
        ? [Math.floor(Math.max(0, (outShape[1] - 1) * c.s[0] + (c.w[0] - 1) * c.d[0] + 1 - c.x[1]) / 2), Math.floor(Math.max(0, (outShape[2] - 1) * c.s[1] + (c.w[1] - 1) * c.d[1] + 1 - c.x[2]) / 2)]
        : [c.pad[1][0], c.pad[2][0]];
      expectClose(y, refConv(x, w, c.s, c.d, pads, [outShape[1], outShape[2]]), 1e-5);
      if (c.d[0] === 1 && c.d[1] === 1) {
        // tfjs differentiates conv2d only without dilation.
        const dy = randn(outShape);
        const grads = () => tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(tf.conv2d(a as tfjs.Tensor4D, b as tfjs.Tensor4D, c.s, c.pad), dy)))([x, w]);
        const ours = onSelfsup('Conv2DBackpropFilter', grads), ref = onCpu(grads);
        expect(dist.PATH_COUNTS.Conv2DBackpropInput.selfsup).toBeGreaterThan(0);
        expectClose(ours[0], ref[0], 1e-5);
        expectClose(ours[1], ref[1], 1e-5);
        // conv is linear in x: a central difference is exact up to float32 rounding.
        tf.setBackend('selfsup');
        const loss = (xv: Tensor) => tf.tidy(() => tf.sum(tf.mul(tf.conv2d(xv as tfjs.Tensor4D, w as tfjs.Tensor4D, c.s, c.pad), dy)).dataSync()[0]);
        const X = x.dataSync();
        for (const i of [0, 7, X.length - 1]) {
          const h = 0.5, e = new Float32Array(X.length);
          e[i] = h;
          const fd = (loss(tf.add(x, tf.tensor(e, x.shape))) - loss(tf.sub(x, tf.tensor(e, x.shape)))) / (2 * h);
          expect(Math.abs(fd - ours[0][i])).toBeLessThanOrEqual(2e-3 * (1 + Math.abs(ours[0][i])));
        }
      }
    }
  });

  it('matMul and the fused Dense matMul (bias, relu / elu epilogue, broadcast batch) match float64', () => {
    const a = randn([3, 2, 13, 7]), b = randn([7, 11]), bias = randn([11]);
    const [y] = onSelfsup('BatchMatMul', () => tf.matMul(a, tf.reshape(b, [1, 7, 11])));
    expectClose(y, refMatmul(a, b), 1e-5);
    const ref = refMatmul(a, b).map((v, i) => v + bias.dataSync()[i % 11]);
    const [fr] = onSelfsup('_FusedMatMul', () => tf.fused.matMul({ a: tf.reshape(a, [78, 7]), b, bias, activation: 'relu' }));
    expectClose(fr, ref.map((v) => Math.max(v, 0)), 1e-5);
    const [fe] = onSelfsup('_FusedMatMul', () => tf.fused.matMul({ a: tf.reshape(a, [78, 7]), b, bias, activation: 'elu' }));
    expectClose(fe, ref.map((v) => (v > 0 ? v : Math.expm1(v))), 1e-5);
    // transposes, and a bias the GEMM epilogue cannot take ([78, 1]: added by the cpu Add)
    const at = randn([7, 78]), col = randn([78, 1]);
    const [ft] = onSelfsup('_FusedMatMul', () => tf.fused.matMul({ a: at, b: tf.transpose(b), transposeA: true, transposeB: true, bias: col }));
    const refT = refMatmul(tf.transpose(at), b).map((v, i) => v + col.dataSync()[Math.floor(i / 11)]);
    expectClose(ft, refT, 1e-5);
  });

  it('softmax, broadcast binary ops, reductions over middle axes, transpose and gather match float64', () => {
    const x = randn([5, 3, 37]);
    const X = f64(x);
    const [sm] = onSelfsup('Softmax', () => tf.softmax(x));
    const refSm = new Float64Array(X.length);
    for (let r = 0; r < 15; r++) {
      const row = X.subarray(r * 37, r * 37 + 37), m = Math.max(...row);
      const s = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
      row.forEach((v, j) => { refSm[r * 37 + j] = Math.exp(v - m) / s; });
    }
    expectClose(sm, refSm, 1e-6);

    const a = randn([4, 1, 6]), b = randn([5, 1]);
    const [sum] = onSelfsup('Add', () => tf.add(a, b));
    const [div] = onSelfsup('RealDiv', () => tf.div(a, tf.add(tf.abs(b), 0.5)));
    const A = f64(a), Bv = f64(b), refAdd = new Float64Array(120), refDiv = new Float64Array(120);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) for (let k = 0; k < 6; k++) {
      refAdd[(i * 5 + j) * 6 + k] = A[i * 6 + k] + Bv[j];
      refDiv[(i * 5 + j) * 6 + k] = A[i * 6 + k] / (Math.abs(Bv[j]) + 0.5);
    }
    expectClose(sum, refAdd, 1e-6);
    expectClose(div, refDiv, 1e-6);

    const [s1, m02] = onSelfsup('Sum', () => [tf.sum(x, 1), tf.mean(x, [0, 2], true)]);
    const refS1 = new Float64Array(5 * 37), refM = new Float64Array(3);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 37; k++) {
      refS1[i * 37 + k] += X[(i * 3 + j) * 37 + k];
      refM[j] += X[(i * 3 + j) * 37 + k] / (5 * 37);
    }
    expectClose(s1, refS1, 1e-6);
    expectClose(m02, refM, 1e-6);

    const [t] = onSelfsup('Transpose', () => tf.transpose(x, [2, 0, 1]));
    const refT = new Float64Array(X.length);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 37; k++) refT[(k * 5 + i) * 3 + j] = X[(i * 3 + j) * 37 + k];
    expectClose(t, refT, 0, 0);

    const [g] = onSelfsup('GatherV2', () => tf.gather(x, tf.tensor1d([36, 0, 5, 5], 'int32'), 2));
    const refG = new Float64Array(5 * 3 * 4);
    for (let r = 0; r < 15; r++) [36, 0, 5, 5].forEach((c, q) => { refG[r * 4 + q] = X[r * 37 + c]; });
    expectClose(g, refG, 0, 0);
  });

  it('trains the docs/tfjs.md models (Dense MLP, CNN, transformer block) to the same predictions and weights as cpu', async () => {
    const { compare } = require(path.join(root, 'scripts/tfjs-models.js')) as { compare(n: string, o: object): Promise<{ predDiff: number; weightDiff: number }> };
    const before = { ...dist.PATH_COUNTS.Conv2DBackpropFilter }, mm = dist.PATH_COUNTS._FusedMatMul.selfsup;
    for (const name of ['mlp', 'cnn', 'transformer']) {
      const r = await compare(name, { size: 'small', steps: 3 });
      expect(r.predDiff, name).toBeLessThanOrEqual(1e-4);
      expect(r.weightDiff, name).toBeLessThanOrEqual(1e-4);
    }
    expect(dist.PATH_COUNTS.Conv2DBackpropFilter.selfsup).toBeGreaterThan(before.selfsup);
    expect(dist.PATH_COUNTS._FusedMatMul.selfsup).toBeGreaterThan(mm);
  }, 60_000);

  it("Tile's gradient (one reshape + sum on selfsup) equals tfjs's", () => {
    const x = randn([2, 1, 3]), dy = randn([4, 5, 6]);
    const grad = () => tf.grad((v: Tensor) => tf.sum(tf.mul(tf.tile(v, [2, 5, 2]), dy)))(x);
    const ours = onSelfsup('Sum', grad), ref = onCpu(grad);
    expectClose(ours[0], ref[0], 1e-6);
  });

  it('falls back to the cpu kernels outside the fast paths (int32, NCHW) with the same results', () => {
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), b = tf.tensor2d([1, 0, -1, 2, 3, 1], [3, 2], 'int32');
    const cpuBefore = dist.PATH_COUNTS.BatchMatMul.cpu;
    tf.setBackend('selfsup');
    const c = tf.matMul(a, b);
    expect(c.dtype).toBe('int32');
    expect(Array.from(c.dataSync())).toEqual([8, 7, 17, 16]);
    expect(dist.PATH_COUNTS.BatchMatMul.cpu).toBe(cpuBefore + 1);
    const x = randn([1, 2, 5, 5]), w = randn([3, 3, 2, 4]);
    const conv = () => tf.conv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, 1, 'same', 'NCHW');
    const [ours] = onCpu(conv); // tfjs's cpu conv2d supports NCHW; so must selfsup, through it
    tf.setBackend('selfsup');
    expectClose(conv().dataSync(), ours, 0, 0);
  });

  it('registers once, and rejects what it cannot use with clear errors', () => {
    expect(dist.registerBackend(tf)).toBe(false);
    expect(tf.findBackendFactory('selfsup')).toBeTruthy();
    expect(() => dist.registerBackend({} as never)).toThrow(/Expected a TensorFlow.js module .* for registerBackend\(tf\)/);
    expect(() => dist.registerBackend(tf, { priority: 'high' as never })).toThrow(/registerBackend\(options.priority\)/);
    expect(() => dist.registerBackend(tf, { prio: 1 } as never)).toThrow(/registerBackend\(options\)/);
  });
});
