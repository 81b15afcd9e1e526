/**
 * Foundation checks: the native addon loads, the packed GEMM matches a float64
 * reference at 1024^3 through both the raw kernel and the Tensor API, every entry point turns bad
 * input into a JS error naming the argument (and the process survives), the async form is safe
 * against buffer detachment, and the addon loads in several worker threads at once.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { backendName, native, packageRoot, tryNative } from '../lib/backends/native';
import { matmul, matmulAsync } from '../lib/kernels/linalg';
import { tensor } from '../lib/factories';
import { mulberry32 } from './ops/helpers';
import { emulated, expectThrows } from './helpers';

const hasNative = process.env.SELFSUP_BACKEND !== 'reference' && tryNative() !== null;

function randArray(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() < 0.5 ? -1 : 1) * (0.1 + r());
  return a;
}

/** Float64 reference of C = A B for row-major A [m,k], B [k,n], blocked for cache but exact. */
function refMatmul64(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  const bt = new Float64Array(k * n);
  for (let i = 0; i < k * n; i++) bt[i] = b[i];
  for (let i = 0; i < m; i++) {
    const row = c.subarray(i * n, (i + 1) * n);
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      const bo = p * n;
      for (let j = 0; j < n; j++) row[j] += av * bt[bo + j];
    }
  }
  return c;
}

function relFrobenius(x: ArrayLike<number>, ref: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = x[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return Math.sqrt(num / den);
}

describe('native addon', () => {
  it('loads (the test suite must exercise the native backend unless told otherwise)', () => {
    if (process.env.SELFSUP_BACKEND === 'reference') return;
    expect(backendName()).toBe('native');
    const a = native();
    expect(process.arch === 'arm64' ? ['neon', 'generic'] : ['avx512', 'avx2', 'generic']).toContain(a.isa());
    expect(a.numThreads()).toBeGreaterThanOrEqual(1);
    const c = a.cudaInfo();
    expect(typeof c.built).toBe('boolean');
    if (!c.built) expect(c.devices).toEqual([]);
  });

  it.skipIf(!hasNative)('measures a positive FMA peak and bandwidth', () => {
    const a = native();
    // 0.5 GFLOP/s is far below any real core; qemu translating every FMA measured ~0.14.
    expect(a.measurePeakGflops(1, 0.02)).toBeGreaterThan(emulated ? 0 : 0.5);
    expect(a.measureBandwidthGBs(1, 0.02)).toBeGreaterThan(0.1);
    expect(() => a.measurePeakGflops(0, 0.1)).toThrow(/threads/);
    expect(() => a.measurePeakGflops(1, NaN)).toThrow(/seconds/);
  });
});

describe('matmul 1024 x 1024 x 1024 against float64', () => {
  const m = 1024, k = 1024, n = 1024;
  const A = randArray(m * k, 11), B = randArray(k * n, 12);
  const ref = refMatmul64(A, B, m, k, n);

  it('kernels.matmul: relative Frobenius error < 1e-5', () => {
    const C = matmul(A, [m, k], B, [k, n]);
    expect(C).toBeInstanceOf(Float32Array);
    expect(relFrobenius(C, ref)).toBeLessThan(1e-5);
  });

  it('Tensor API: relative Frobenius error < 1e-5', () => {
    const C = tensor(A, [m, k]).matmul(tensor(B, [k, n]));
    expect(C.shape).toEqual([m, n]);
    expect(relFrobenius(C.toArray() as Float32Array, ref)).toBeLessThan(1e-5);
  });

  it('matmulAsync gives the same result and survives the input being detached mid-call', async () => {
    const a2 = A.slice(), b2 = B.slice();
    const p = matmulAsync(a2, [m, k], b2, [k, n]);
    // Detach the caller's buffers while the kernel runs: the async form owns copies.
    structuredClone(a2.buffer, { transfer: [a2.buffer] });
    structuredClone(b2.buffer, { transfer: [b2.buffer] });
    expect(a2.length).toBe(0);
    const C = await p;
    expect(relFrobenius(C, ref)).toBeLessThan(1e-5);
  });
});

describe('matmul transposes and batches against float64 at awkward shapes', () => {
  for (const [m, k, n] of [[1, 1, 1], [7, 59, 113], [113, 7, 3], [0, 5, 4], [3, 0, 2]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`m=${m} k=${k} n=${n} transA=${transA} transB=${transB} batch=3`, () => {
          const batch = 3;
          const A = randArray(batch * m * k, m + 7 * k + 13 * n);
          const B = randArray(batch * k * n, 5 + m + k + n);
          const C = matmul(A, transA ? [batch, k, m] : [batch, m, k], B, transB ? [batch, n, k] : [batch, k, n], { transA, transB });
          for (let bi = 0; bi < batch; bi++) {
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let s = 0;
                for (let p = 0; p < k; p++) {
                  const av = transA ? A[bi * m * k + p * m + i] : A[bi * m * k + i * k + p];
                  const bv = transB ? B[bi * k * n + j * k + p] : B[bi * k * n + p * n + j];
                  s += av * bv;
                }
                expect(Math.abs(C[bi * m * n + i * n + j] - s)).toBeLessThan(1e-5 * (1 + Math.abs(s)) * Math.sqrt(k + 1));
              }
            }
          }
        });
      }
    }
  }

  it('float64 inputs give a float64 product accurate to 1e-12', () => {
    const A = Float64Array.from(randArray(17 * 33, 1)), B = Float64Array.from(randArray(33 * 9, 2));
    const C = matmul(A, [17, 33], B, [33, 9]);
    expect(C).toBeInstanceOf(Float64Array);
    let worst = 0;
    for (let i = 0; i < 17; i++) for (let j = 0; j < 9; j++) {
      let s = 0;
      for (let p = 0; p < 33; p++) s += A[i * 33 + p] * B[p * 9 + j];
      worst = Math.max(worst, Math.abs(C[i * 9 + j] - s));
    }
    expect(worst).toBeLessThan(1e-12);
  });

  it('broadcasts an unbatched operand', () => {
    const A = randArray(4 * 2 * 3, 3), B = randArray(3 * 5, 4);
    const C = matmul(A, [4, 2, 3], B, [3, 5]);
    const C0 = matmul(A.slice(6, 12), [2, 3], B, [3, 5]);
    expect(Array.from(C.slice(10, 20))).toEqual(Array.from(C0));
  });
});

describe('bad input is a JS error naming the argument; the process survives', () => {
  const a = randArray(6, 1), b = randArray(6, 2);
  const cases: Array<[string, () => unknown, RegExp, ErrorConstructor | typeof RangeError | typeof TypeError]> = [
    ['wrong typed array', () => matmul(new Int32Array(6) as unknown as Float32Array, [2, 3], b, [3, 2]), /for a but received a Int32Array/, TypeError],
    ['mixed dtypes', () => matmul(a, [2, 3], new Float64Array(6), [3, 2]), /for b but received/, TypeError],
    ['length not matching shape', () => matmul(a, [2, 4], b, [4, 2]), /for a but received length 6/, RangeError],
    ['inner dims', () => matmul(a, [2, 3], b, [2, 3]), /inner dimensions.*for bShape/, Error],
    ['NaN size', () => matmul(a, [2, NaN], b, [3, 2]), /for aShape\[1\] but received NaN/, RangeError],
    ['negative size', () => matmul(a, [-2, -3], b, [3, 2]), /for aShape\[0\]/, RangeError],
    ['fractional size', () => matmul(a, [2, 1.5], b, [3, 2]), /for aShape\[1\]/, RangeError],
    ['shape not an array', () => matmul(a, 6 as unknown as number[], b, [3, 2]), /for aShape but received 6/, TypeError],
    ['rank 1', () => matmul(a, [6], b, [6, 1]), /rank >= 2 for aShape/, Error],
    ['bad option type', () => matmul(a, [2, 3], b, [3, 2], { transA: 1 as unknown as boolean }), /for options.transA but received 1/, TypeError],
    ['detached buffer', () => {
      const d = randArray(6, 3);
      structuredClone(d.buffer, { transfer: [d.buffer] });
      return matmul(d, [2, 3], b, [3, 2]);
    }, /detached.*for a but received a detached buffer/, Error],
    ['out of the wrong length', () => matmul(a, [2, 3], b, [3, 2], { out: new Float32Array(3) }), /for options.out but received length 3/, RangeError],
  ];
  for (const [label, fn, msg, cls] of cases) {
    it(label, () => {
      expectThrows(fn, cls, /^Expected .* for .* but received/, msg);
    });
  }


  it.skipIf(!hasNative)('native matmul rejects lengths, strides, NaN sizes and detached buffers', () => {
    const fn = native().matmul as (...args: unknown[]) => void;
    const c = new Float32Array(4);
    // sizes and flags travel in one options object, read by name natively
    const o = (k: Record<string, unknown> = {}) => ({ batch: 1, m: 2, n: 2, k: 3, transA: false, transB: false, strideA: 0, strideB: 0, ...k });
    fn(a, b, c, null, o()); // valid: 2x3 @ 3x2
    const bad: Array<[unknown[], RegExp]> = [
      [[a, b, c, null, o({ k: 4 })], /for a but received length 6/],
      [[a, b, c, null, o({ k: NaN })], /for k but received NaN/],
      [[a, b, c, null, o({ batch: 1e300 })], /for batch/],
      [[a, b, c, null, o({ strideA: 7 })], /for strideA/],
      [[a, b, new Float32Array(3), null, o()], /for out but received length 3/],
      [[a, new Float64Array(6), c, null, o()], /for b but received a Float64Array/],
      [[a, b, c, null, o({ transA: 'no' })], /for transA but received "no"/],
      [[a, b, c, null, { m: 2, n: 2, k: 3 }], /for batch but received undefined/],
      [[a, b, c, null, 5], /options/],
      [[a, b], /for out but received undefined|for options|for bias/],
    ];
    for (const [args, re] of bad) expectThrows(() => fn(...args), Error, re);
    const d = new Float32Array(6);
    structuredClone(d.buffer, { transfer: [d.buffer] });
    expect(() => fn(d, b, c, null, o())).toThrow(/detached/);
  });
});

describe('worker threads', () => {
  it.skipIf(!hasNative)('the addon loads and runs in several worker threads at once', async () => {
    const addon = path.join(packageRoot(), 'node_modules', 'node-gyp-build');
    const src = `
      const { parentPort, workerData } = require('worker_threads');
      const a = process.env.SELFSUP_ADDON ? require(process.env.SELFSUP_ADDON) : require(${JSON.stringify(addon)})(${JSON.stringify(packageRoot())});
      const n = 96, A = new Float32Array(n * n).fill(workerData), C = new Float32Array(n * n);
      for (let r = 0; r < 20; r++) a.matmul(A, A, C, null, { batch: 1, m: n, n, k: n, transA: false, transB: false, strideA: 0, strideB: 0 });
      parentPort.postMessage(C[0]);
    `;
    const run = (v: number) =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(src, { eval: true, workerData: v });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([1, 2, 3, 4].map(run));
    expect(results).toEqual([1, 2, 3, 4].map((v) => v * v * 96));
  });
});
