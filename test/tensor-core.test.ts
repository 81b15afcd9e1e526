// The native tensor core (native/ops/tensor) through the public API, against float64 references
// computed here with plain index arithmetic: broadcasting at awkward shapes, float32
// transcendentals at extreme values (in ulps), every reduction over every dim subset, softmax
// along each dim with -inf rows, strided copies for every permutation, the autograd gradient
// buffers, and the bindings' errors. On the reference backend the same assertions check the
// TypeScript loops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, tensor } from '../lib';
import { tryNative } from '../lib/backends/native';
import { amin } from '../lib/ops/reduce';
import { splitHeads } from '../lib/ops/shape';
import { SMALL, setNativeMinElements } from '../lib/ops/native-core';
import { mulberry32 } from './helpers';

const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : (tryNative() as unknown as Record<string, (...a: unknown[]) => unknown> | null);

// The small broadcast pairs below run the native core too (in use, tensors under SMALL elements
// run the TypeScript loops; the reference-backend run of this file checks those).
beforeAll(() => setNativeMinElements(0));
afterAll(() => setNativeMinElements(SMALL));

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: Array<['float32' | 'float64', Ctor]> = [['float32', Float32Array], ['float64', Float64Array]];

function rand(shape: number[], C: Ctor, seed: number, scale = 1): Tensor {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new C(n);
  for (let i = 0; i < n; i++) d[i] = (r() * 2 - 1) * scale;
  return new Tensor(d, shape);
}
const strides = (s: number[]) => {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) { st[i] = acc; acc *= s[i]; }
  return st;
};
/** Multi-index of flat index i in shape. */
function unflat(i: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = i % shape[d]; i = Math.floor(i / shape[d]); }
  return idx;
}
/** Element of x at an index of the (broadcast) output shape. */
function bcastAt(x: Tensor, idx: number[]): number {
  const off = idx.length - x.ndim, st = strides(x.shape);
  let k = 0;
  for (let d = 0; d < x.ndim; d++) k += (x.shape[d] === 1 ? 0 : idx[d + off]) * st[d];
  return x.data[k];
}
/** |got - want| in units of float32 ulp at want (both rounded to float32 first). */
function ulps32(got: number, want: number): number {
  if (Number.isNaN(want)) return Number.isNaN(got) ? 0 : Infinity;
  const w = Math.fround(want);
  if (!Number.isFinite(w)) return got === w ? 0 : Infinity;
  const ulp = Math.max(Math.abs(w) * 2 ** -23, 2 ** -149);
  return Math.abs(got - w) / ulp;
}

describe('tensor core: binary ops with broadcasting', () => {
  const pairs: Array<[number[], number[]]> = [
    [[3, 1, 5], [4, 1]], [[2, 3, 4, 5], [3, 1, 5]], [[7], []], [[1], [6, 1, 2]], [[33, 17], [17]],
    [[2, 1, 4, 1], [1, 3, 1, 5]], [[65, 1031], [65, 1]], [[300, 257], [300, 257]],
  ];
  const ops: Array<[string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number]> = [
    ['add', (a, b) => a.add(b), (x, y) => x + y],
    ['sub', (a, b) => a.sub(b), (x, y) => x - y],
    ['mul', (a, b) => a.mul(b), (x, y) => x * y],
    ['div', (a, b) => a.div(b), (x, y) => x / y],
    ['maximum', (a, b) => a.maximum(b), (x, y) => Math.max(x, y)],
    ['minimum', (a, b) => a.minimum(b), (x, y) => Math.min(x, y)],
  ];
  for (const [dt, C] of DTYPES) {
    for (const [name, f, ref] of ops) {
      it(`${name} ${dt}: exact at every broadcast pair`, () => {
        pairs.forEach(([sa, sb], p) => {
          for (const [A, B] of [[sa, sb], [sb, sa]]) {
            const a = rand(A, C, 10 * p + 1), b = rand(B, C, 10 * p + 2);
            const out = f(a, b);
            const n = out.numel();
            for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 4000))) {
              const idx = unflat(i, out.shape);
              const want = ref(bcastAt(a, idx), bcastAt(b, idx));
              // One IEEE operation: float32 rounding of the exact double result is the float32 op.
              expect(out.data[i], `${name} ${A}x${B} at ${idx}`).toBe(dt === 'float32' ? Math.fround(want) : want);
            }
          }
        });
      });
    }
    it(`maximum/minimum ${dt} propagate NaN from either side; comparisons broadcast`, () => {
      const a = new Tensor(C.of(NaN, 1, 2, -Infinity), [4]), b = new Tensor(C.of(0, NaN), [2, 1]);
      for (const v of [a.maximum(b), b.minimum(a)]) {
        expect(Array.from(v.data).map((x) => Number.isNaN(x))).toEqual([true, false, false, false, true, true, true, true]);
      }
      const g = a.gt(b), e = a.eq(new Tensor(C.of(1), []));
      expect(Array.from(g.data)).toEqual([0, 1, 1, 0, 0, 0, 0, 0]);
      expect(Array.from(e.data)).toEqual([0, 1, 0, 0]);
    });
  }
});

describe('tensor core: float32 transcendentals at extreme values', () => {
  const special = [-Infinity, -1e30, -200, -104, -103.9, -88, -20, -1, -1e-3, -2.4e-4, -1e-7, -1e-30, -1e-45, -0, 0, 1e-45, 1e-38, 1e-30,
    1e-7, 2.5e-4, 1e-3, 0.5, 1, 20, 88, 88.7, 89, 100, 1e30, 3.4e38, Infinity, NaN];
  const r = mulberry32(7);
  const xs = Float32Array.from([...special, ...Array.from({ length: 3000 }, () => (r() * 2 - 1) * 30), ...Array.from({ length: 500 }, () => (r() * 2 - 1) * 1e-3)]);
  const x = new Tensor(xs, [xs.length]);
  const cases: Array<[string, (t: Tensor) => Tensor, (v: number) => number, number]> = [
    ['exp', (t) => t.exp(), Math.exp, 1],
    ['log', (t) => t.log(), Math.log, 1],
    ['tanh', (t) => t.tanh(), Math.tanh, 2],
    ['sigmoid', (t) => t.sigmoid(), (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))), 2],
    ['sqrt', (t) => t.sqrt(), Math.sqrt, 0.5],
    ['rsqrt', (t) => t.rsqrt(), (v) => 1 / Math.sqrt(v), 1],
  ];
  for (const [name, f, ref, maxUlp] of cases) {
    it(`${name}: within ${maxUlp} ulp of the float64 value`, () => {
      const y = f(x);
      let worst = 0, at = 0;
      for (let i = 0; i < xs.length; i++) {
        const u = ulps32(y.data[i], ref(xs[i]));
        if (u > worst) { worst = u; at = xs[i]; }
      }
      expect(worst, `${name} worst at x = ${at}`).toBeLessThanOrEqual(maxUlp);
    });
  }
});

/** The k floats on each side of p (by bit pattern, so across binade and sign boundaries too). */
function around(p: number, k: number): number[] {
  const f = new Float32Array(1), i = new Int32Array(f.buffer), out: number[] = [];
  f[0] = p;
  const b = i[0];
  for (let d = -k; d <= k; d++) {
    i[0] = p === 0 && d < 0 ? (0x80000000 | -d) : b + d; // below +0: the negative denormals
    out.push(f[0]);
  }
  return out;
}

describe('tensor core: float32 transcendentals at their switch points and over every binade', () => {
  // The float32 lanes (native/cpu/math_f32.h) switch formulas or scalings at these inputs: exp's
  // flush to 0 below -104, its first denormal and normal results and its overflow; log's mantissa
  // boundary at sqrt(1/2), the normal/denormal input boundary and 1; tanh's polynomial/exp switch at
  // 0.625, its saturation to 1 and the overflow of e^2|x|; sigmoid's sign switch and denormal tail.
  const points: Record<string, number[]> = {
    exp: [-104, -103.972084, -87.3365479, -87.3365402, 0, 88.7228394, 88.7228469, 1, -1],
    log: [Math.SQRT1_2, 2 * Math.SQRT1_2, 1, 1.17549435e-38, 1.4e-45, 0.5, 2, 3.4028235e38],
    tanh: [0.625, -0.625, 9.01, 44.4, 0, 2.44e-4],
    sigmoid: [0, -87.3365479, -103.972084, -104, 88.7, 16.6355],
  };
  const refs: Record<string, [(t: Tensor) => Tensor, (v: number) => number, number]> = {
    exp: [(t) => t.exp(), Math.exp, 1],
    log: [(t) => t.log(), Math.log, 1],
    tanh: [(t) => t.tanh(), Math.tanh, 2],
    sigmoid: [(t) => t.sigmoid(), (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))), 2],
  };
  // Every binade of both signs: 64 random mantissas per exponent.
  const r = mulberry32(17), wide: number[] = [];
  const f = new Float32Array(1), i = new Int32Array(f.buffer);
  for (let e = 0; e < 255; e++) {
    for (let k = 0; k < 64; k++) {
      i[0] = (e << 23) | Math.floor(r() * 0x800000) | (k & 1 ? 0x80000000 : 0);
      wide.push(f[0]);
    }
  }
  for (const [name, [op, ref, maxUlp]] of Object.entries(refs)) {
    it(`${name}: within ${maxUlp} ulp next to every switch point and over every binade`, () => {
      const xs = Float32Array.from([...points[name].flatMap((p) => around(p, 300)), ...wide]);
      const y = op(new Tensor(xs, [xs.length]));
      let worst = 0, at = 0;
      for (let k = 0; k < xs.length; k++) {
        const u = ulps32(y.data[k], ref(xs[k]));
        if (u > worst) { worst = u; at = xs[k]; }
      }
      expect(worst, `${name} worst at x = ${at}`).toBeLessThanOrEqual(maxUlp);
      if (name === 'tanh') expect(Object.is(op(new Tensor(Float32Array.of(-0), [1])).data[0], -0)).toBe(true);
    });
  }
});

describe('tensor core: reductions over every dim subset', () => {
  // At least 512 elements (smaller tensors run the TypeScript loops, not the native core).
  const shape = [6, 5, 7, 4];
  for (const [dt, C] of DTYPES) {
    it(`sum / mean / amax / amin ${dt}`, () => {
      const x = rand(shape, C, 3, 10);
      for (let mask = 1; mask < 16; mask++) {
        const dims = [0, 1, 2, 3].filter((d) => mask & (1 << d));
        const ks = shape.map((s, d) => (dims.includes(d) ? 1 : s));
        const nout = ks.reduce((a, b) => a * b, 1);
        const sum = new Float64Array(nout), mx = new Float64Array(nout).fill(-Infinity), mn = new Float64Array(nout).fill(Infinity);
        const kst = strides(ks);
        for (let i = 0; i < x.numel(); i++) {
          const idx = unflat(i, shape);
          let o = 0;
          for (let d = 0; d < 4; d++) o += (dims.includes(d) ? 0 : idx[d]) * kst[d];
          sum[o] += x.data[i];
          mx[o] = Math.max(mx[o], x.data[i]);
          mn[o] = Math.min(mn[o], x.data[i]);
        }
        const count = dims.reduce((a, d) => a * shape[d], 1);
        const got = { sum: x.sum(dims, true), mean: x.mean(dims, true), amax: x.amax(dims, true), amin: amin(x, dims, true) };
        const tol = dt === 'float32' ? 4e-7 : 1e-14;
        for (let o = 0; o < nout; o++) {
          expect(Math.abs(got.sum.data[o] - sum[o]), `sum dims ${dims}`).toBeLessThanOrEqual(tol * 840 * 10);
          expect(Math.abs(got.mean.data[o] - sum[o] / count), `mean dims ${dims}`).toBeLessThanOrEqual(tol * 10);
          expect(got.amax.data[o]).toBe(mx[o]);
          expect(got.amin.data[o]).toBe(mn[o]);
        }
      }
    });
  }
  // The native property (the TypeScript reference rounds each column step to float32): float32
  // lanes flushed into double every 32 adds, so a long sum stays within 1 ulp of the exact value
  // (a cancelling column: within 2^-24 sum |x|), far below a sequential float32 sum's error.
  it.skipIf(!addon)('float32 sums of 1e6 and column sums of 5000 rows stay within float32 rounding (parallel paths)', () => {
    const x = rand([1000, 1000], Float32Array, 9);
    let want = 0, naive = 0;
    for (const v of x.data) { want += v; naive = Math.fround(naive + v); }
    const err = Math.abs(x.sum().item() - want);
    expect(err).toBeLessThanOrEqual(Math.abs(want) * 2 ** -23 + 1e-6);
    expect(err).toBeLessThan(Math.abs(naive - want) / 10);
    const c = rand([5000, 70], Float32Array, 10), cs = c.sum(0);
    let errs = 0, naiveErrs = 0;
    for (let j = 0; j < 70; j++) {
      let s = 0, n = 0, a = 0;
      for (let i = 0; i < 5000; i++) { const v = c.data[i * 70 + j]; s += v; a += Math.abs(v); n = Math.fround(n + v); }
      // a cancelling column: the bound is on the sum of |x|, the scale float32 inputs carry
      expect(Math.abs(cs.data[j] - s)).toBeLessThanOrEqual(a * 2 ** -24);
      errs += Math.abs(cs.data[j] - s);
      naiveErrs += Math.abs(n - s);
    }
    expect(errs).toBeLessThan(naiveErrs / 4); // ~sqrt(5000 / 32) = 12x in expectation
  });
  // Rows of 2048 or more are summed over the batch by column blocks (a different path from the
  // narrow rows above): awkward widths and row counts (tails of the 4-row passes and of the
  // 32-row blocks, a last column block narrower than the rest), both dtypes, against float64.
  it.skipIf(!addon)('column sums of wide rows ([R, >= 2048] summed over R) match a float64 reference', () => {
    for (const [R, w] of [[1, 2048], [3, 2049], [37, 2113], [70, 5003], [129, 4096]]) {
      for (const [dt, C] of DTYPES) {
        const x = rand([R, w], C, 11 + R, dt === 'float32' ? 1e3 : 1);
        const got = x.sum(0), mean = x.mean(0, true);
        expect(got.shape).toEqual([w]);
        expect(mean.shape).toEqual([1, w]);
        for (let j = 0; j < w; j++) {
          let s = 0, a = 0;
          for (let i = 0; i < R; i++) { const v = x.data[i * w + j]; s += v; a += Math.abs(v); }
          // float32: blocks of <= 32 rows in float32 lanes, then double, then one final rounding:
          // a few ulps of sum |x| (a sequential float32 sum may reach R ulps). float64: sequential.
          const bound = dt === 'float32' ? a * 8 * 2 ** -24 : a * R * 2 ** -53;
          expect(Math.abs(got.data[j] - s), `${dt} [${R}, ${w}] column ${j}`).toBeLessThanOrEqual(bound);
          expect(Math.abs(mean.data[j] - s / R), `${dt} [${R}, ${w}] mean column ${j}`).toBeLessThanOrEqual(bound / R);
        }
      }
    }
  });
  it('max propagates NaN; empty sums are 0', () => {
    const x = new Tensor(Float32Array.of(1, NaN, 3, 4, 5, 6), [2, 3]);
    expect(Number.isNaN(x.amax().item())).toBe(true);
    expect(Array.from(x.amax(1).data).map(Number.isNaN)).toEqual([true, false]);
    expect(Array.from(new Tensor(new Float32Array(0), [0, 3]).sum(0).data)).toEqual([0, 0, 0]);
  });
});

describe('tensor core: softmax and logSoftmax along every dim', () => {
  for (const [dt, C] of DTYPES) {
    it(`${dt}: forward and backward against float64, -inf entries and an all -inf row`, () => {
      const shape = [4, 9, 17]; // 612 elements: the native core (under 512 the TypeScript loops run)
      const x = rand(shape, C, 5, 30);
      x.data[3] = -Infinity;
      for (let k = 0; k < 17; k++) x.data[17 + k] = -Infinity; // row (0, 1, :) all -inf
      for (let dim = 0; dim < 3; dim++) {
        for (const log of [false, true]) {
          const xr = x.detach().requiresGrad_();
          const y = log ? xr.logSoftmax(dim) : xr.softmax(dim);
          const g = rand(shape, C, 11);
          y.backward(g);
          const size = shape[dim], st = strides(shape)[dim];
          for (let i = 0; i < x.numel(); i++) {
            const idx = unflat(i, shape);
            if (idx[dim] !== 0) continue;
            const row = Array.from({ length: size }, (_, d) => i + d * st);
            const m = Math.max(...row.map((k) => x.data[k]));
            const mm = m === -Infinity ? 0 : m;
            const s = row.reduce((a, k) => a + Math.exp(x.data[k] - mm), 0);
            const yRef = row.map((k) => (log ? x.data[k] - mm - Math.log(s) : Math.exp(x.data[k] - mm) / s));
            const gs = row.reduce((a, k, j) => a + g.data[k] * (log ? 1 : yRef[j]), 0);
            row.forEach((k, j) => {
              const gxRef = log ? g.data[k] - Math.exp(yRef[j]) * gs : yRef[j] * (g.data[k] - gs);
              if (Number.isNaN(yRef[j])) {
                expect(Number.isNaN(y.data[k])).toBe(true);
                return;
              }
              const tol = dt === 'float32' ? 3e-7 : 1e-14;
              if (yRef[j] === -Infinity) expect(y.data[k]).toBe(-Infinity);
              else expect(Math.abs(y.data[k] - yRef[j]), `y dim ${dim} log ${log}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(yRef[j])) * 4);
              if (Number.isFinite(gxRef)) expect(Math.abs(xr.grad!.data[k] - gxRef), `gx dim ${dim} log ${log}`).toBeLessThanOrEqual(tol * 20);
            });
          }
        }
      }
    });
  }
});

describe('tensor core: strided copies', () => {
  it('every permutation of [3, 4, 6, 8], slices with steps, expand', () => {
    const x = rand([3, 4, 6, 8], Float32Array, 4);
    const perms: number[][] = [];
    const rec = (p: number[]) => { if (p.length === 4) perms.push(p); else for (let d = 0; d < 4; d++) if (!p.includes(d)) rec([...p, d]); };
    rec([]);
    const xs = strides(x.shape);
    for (const p of perms) {
      const y = x.permute(p);
      for (let i = 0; i < y.numel(); i++) {
        const idx = unflat(i, y.shape);
        let k = 0;
        p.forEach((src, j) => (k += idx[j] * xs[src]));
        expect(y.data[i]).toBe(x.data[k]);
      }
    }
    const s = x.slice(2, 1, 4, 2); // indices 1, 3 of dim 2
    expect(s.shape).toEqual([3, 4, 2, 8]);
    for (let i = 0; i < s.numel(); i++) {
      const [a, b, c, d] = unflat(i, s.shape);
      expect(s.data[i]).toBe(x.data[a * xs[0] + b * xs[1] + (1 + 2 * c) * xs[2] + d]);
    }
    const e = tensor([[1], [2]]).expand(2, 3);
    expect(Array.from(e.data)).toEqual([1, 1, 1, 2, 2, 2]);
  });
});

describe('tensor core: gradient buffers', () => {
  it('a gradient handed to two leaves is not added into in place (z = a + b, a used again)', () => {
    const a = tensor([1, 2], null, { requiresGrad: true }), b = tensor([3, 4], null, { requiresGrad: true });
    const z = a.add(b);
    const loss = z.mul(1).add(z.mul(1)).sum().add(a.sum());
    loss.backward();
    expect(Array.from(a.grad!.data)).toEqual([3, 3]);
    expect(Array.from(b.grad!.data)).toEqual([2, 2]);
    expect(a.grad!.data).not.toBe(b.grad!.data);
    const z2 = a.add(b);
    z2.mul(1).add(z2.mul(1)).sum().add(a.sum()).backward(); // accumulates into the existing .grad
    expect(Array.from(a.grad!.data)).toEqual([6, 6]);
    expect(Array.from(b.grad!.data)).toEqual([4, 4]);
  });
  it('the grad argument passed to backward is never aliased by .grad', () => {
    const w = tensor([1, 2, 3], null, { requiresGrad: true });
    const g = tensor([1, 1, 1]);
    w.mul(1).backward(g);
    w.grad!.data[0] = 100;
    expect(g.data[0]).toBe(1);
  });
});

describe.skipIf(!addon)('tensor core bindings: bad input throws in the error grammar', () => {
  const grammar = /^Expected .+ for .+ but received .+/;
  const f = (n: number) => new Float32Array(n);
  const meta = (...v: number[]) => Float64Array.from(v);
  const cases: Array<[string, () => unknown, ErrorConstructor]> = [
    ['binary: broadcast mismatch', () => addon!.tensorBinary(0, f(6), f(6), f(4), meta(1, 6, 6, 4)), RangeError],
    ['binary: out length', () => addon!.tensorBinary(0, f(5), f(6), f(6), meta(1, 6, 6, 6)), RangeError],
    ['binary: out overlaps b', () => { const x = f(6); return addon!.tensorBinary(0, x, f(6), x, meta(1, 6, 6, 6)); }, RangeError],
    ['binary: dtype', () => addon!.tensorBinary(0, f(6), f(6), new Float64Array(6), meta(1, 6, 6, 6)), TypeError],
    ['binary: compare needs a Uint8Array out', () => addon!.tensorBinary(7, f(6), f(6), f(6), meta(1, 6, 6, 6)), TypeError],
    ['binary: op code', () => addon!.tensorBinary(99, f(6), f(6), f(6), meta(1, 6, 6, 6)), RangeError],
    ['binary: short meta', () => addon!.tensorBinary(0, f(6), f(6), f(6), meta(2, 6)), RangeError],
    ['binary: fractional size', () => addon!.tensorBinary(0, f(6), f(6), f(6), meta(1, 6.5, 6, 6)), RangeError],
    ['unary: partial overlap', () => { const x = f(8); return addon!.tensorUnary(1, x.subarray(0, 6), x.subarray(2, 8), 0, 0); }, RangeError],
    ['reduce: out length', () => addon!.tensorReduce(0, f(6), f(3), meta(2, 2, 3, 0, 1), 1), RangeError],
    ['reduce: flag', () => addon!.tensorReduce(0, f(6), f(2), meta(2, 2, 3, 0, 2), 1), RangeError],
    ['softmax: split', () => addon!.tensorSoftmax(false, f(6), f(6), 2, 2, 2), RangeError],
    ['copy: strides out of bounds', () => addon!.tensorCopy(f(6), f(6), meta(2, 2, 3, 4, 1, 0)), RangeError],
    ['copy: negative offset', () => addon!.tensorCopy(f(6), f(6), meta(1, 6, 1, -1)), RangeError],
    ['copy: strided dst out of bounds', () => addon!.tensorCopy(f(6), f(6), meta(1, 6, 1, 0, 2, 0)), RangeError],
    ['copy: zero dst stride', () => addon!.tensorCopy(f(6), f(6), meta(1, 6, 1, 0, 0, 0)), RangeError],
    ['axpy: length', () => addon!.tensorAxpy(f(6), f(5), 1), RangeError],
  ];
  for (const [name, fn, cls] of cases) {
    it(name, () => {
      let err: unknown;
      try { fn(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(grammar);
    });
  }
});

describe('fused head split and strided slice gradients', () => {
  for (const C of [Float32Array, Float64Array]) {
    it(`splitHeads equals reshape + permute + unbind, forward and backward (${C.name})`, () => {
      const [B, N, H, d] = [2, 8, 3, 8];
      const x = rand([B, N, 3 * H * d], C, 21).requiresGrad_();
      const gs = [0, 1, 2].map((j) => rand([B, H, N, d], C, 30 + j));
      const parts = splitHeads(x, 3, H);
      parts.map((p, j) => p.mul(gs[j]).sum()).reduce((a, b) => a.add(b)).backward();
      const got = x.grad!.data.slice();
      const x2 = x.detach().requiresGrad_();
      const ref = x2.reshape([B, N, 3, H, d]).permute([2, 0, 3, 1, 4]).chunk(3, 0).map((t) => t.squeeze(0));
      ref.forEach((r, j) => expect(Array.from(parts[j].data)).toEqual(Array.from(r.data)));
      ref.map((r, j) => r.mul(gs[j]).sum()).reduce((a, b) => a.add(b)).backward();
      expect(Array.from(got)).toEqual(Array.from(x2.grad!.data));
    });
  }
  it('slice / narrow backward writes the strided region of a zeroed gradient', () => {
    const x = rand([6, 7, 16], Float64Array, 22).requiresGrad_();
    x.slice(1, 1, 7, 3).sum().backward(); // rows 1 and 4 of dim 1
    for (let i = 0; i < x.numel(); i++) {
      const [, j] = unflat(i, x.shape);
      expect(x.grad!.data[i]).toBe(j === 1 || j === 4 ? 1 : 0);
    }
  });
});
