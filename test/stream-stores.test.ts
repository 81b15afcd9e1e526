// The tensor core's streaming-store loops (native/ops/tensor/cpu.cc, `streamed_out`): large float32
// outputs of the memory-bound ops are written through an L1 tile with non-temporal stores. Here
// the threshold is set to 0 bytes so that every shape takes that path, and each result must be
// bit-identical to the normal loop's (the same arithmetic, only the store differs) and match a
// float64 reference. The shapes are awkward (rows shorter and longer than the 1024-float tile,
// lengths that are not a multiple of the vector width) and the outputs start at every float offset
// within a cache line, since the loops peel an unaligned head and write a tail directly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, tensor } from '../lib';
import { tryNative } from '../lib/backends/native';
import { binary, unary, unaryBackward, SMALL, setNativeMinElements, type BinaryOpName, type UnaryOpName } from '../lib/ops/native-core';
import { gatherTokens as kGather, gatherTokensBackward as kGatherBackward } from '../lib/kernels/tokens';
import { mulberry32 } from './helpers';

const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : (tryNative() as unknown as { tensorStreamMinBytes(b?: number): number } | null);
let saved = 0;

beforeAll(() => {
  setNativeMinElements(0);
  if (addon) saved = addon.tensorStreamMinBytes();
});
afterAll(() => {
  setNativeMinElements(SMALL);
  if (addon) addon.tensorStreamMinBytes(saved);
});

function rand(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 3);
}
const SENTINEL = -12345.5;
const views: Float32Array[] = [];
/**
 * A Float32Array of length n starting `shift` floats into a fresh buffer (shift 0..15: every
 * offset in a 64-byte line), the rest of the buffer filled with a sentinel that checkMargins()
 * expects untouched (a head or tail written past the view would change it).
 */
function shifted(n: number, shift: number): Float32Array {
  const all = new Float32Array(n + 16).fill(SENTINEL);
  const v = new Float32Array(all.buffer, 4 * shift, n);
  views.push(v);
  return v;
}
function checkMargins(): void {
  for (const v of views.splice(0)) {
    const all = new Float32Array(v.buffer), lo = v.byteOffset / 4, hi = lo + v.length;
    for (let i = 0; i < all.length; i++) if (i < lo || i >= hi) expect(all[i], `margin [${i}] of a view at ${lo}..${hi}`).toBe(SENTINEL);
  }
}
/** Runs fn with streaming on (threshold 0) and off, returns both outputs. */
function both(fn: () => Float32Array): [Float32Array, Float32Array] {
  addon!.tensorStreamMinBytes(0);
  const on = fn();
  addon!.tensorStreamMinBytes(2 ** 52);
  const off = fn();
  checkMargins();
  return [on, off];
}
function expectSame(on: Float32Array, off: Float32Array, label: string): void {
  expect(on.length, label).toBe(off.length);
  let bad = -1;
  for (let i = 0; i < on.length && bad < 0; i++) if (!Object.is(on[i], off[i])) bad = i;
  expect(bad, `${label}: first element that differs`).toBe(-1);
}

const BIN: Array<[BinaryOpName, (a: number, b: number) => number]> = [
  ['add', (a, b) => a + b], ['sub', (a, b) => a - b], ['mul', (a, b) => a * b], ['div', (a, b) => a / b],
  ['maximum', (a, b) => Math.max(a, b)], ['minimum', (a, b) => Math.min(a, b)],
];
// [out shape, a shape, b shape]: same shape, a bias row (short and long rows), a scalar, a column,
// an outer product, and a strided middle broadcast.
const SHAPES: Array<[number[], number[], number[]]> = [
  [[4099], [4099], [4099]],
  [[37, 21], [37, 21], [21]],
  [[5, 1500], [5, 1500], [1500]],
  [[3, 7, 5], [3, 7, 5], []],
  [[33, 17], [33, 1], [33, 17]],
  [[29, 31], [29, 1], [1, 31]],
  [[6, 5, 9], [6, 5, 9], [6, 1, 9]],
];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** Element of an operand of shape s broadcast to out at flat index i. */
function at(x: Float32Array, s: number[], out: number[], i: number): number {
  const off = out.length - s.length;
  let k = 0, acc = 1;
  const idx: number[] = [];
  for (let d = out.length - 1; d >= 0; d--) { idx[d] = i % out[d]; i = Math.floor(i / out[d]); }
  for (let d = s.length - 1; d >= 0; d--) { k += (s[d] === 1 ? 0 : idx[d + off]) * acc; acc *= s[d]; }
  return x[k];
}

describe.skipIf(!addon)('tensor core: streaming stores give the normal loops\' results', () => {
  it('binary ops with broadcasting, every output offset in a cache line', () => {
    BIN.forEach(([op, ref], oi) => {
      SHAPES.forEach(([so, sa, sb], si) => {
        const a = rand(numel(sa), 100 * oi + si), b = rand(numel(sb), 100 * oi + si + 50);
        for (const shift of [0, 1, 3, 4, 8, 15]) {
          const run = () => {
            const out = shifted(numel(so), shift);
            expect(binary(op, out, so, a, sa, b, sb)).toBe(true);
            return out;
          };
          const [on, off] = both(run);
          const label = `${op} ${JSON.stringify([so, sa, sb])} shift ${shift}`;
          expectSame(on, off, label);
          for (let i = 0; i < on.length; i += 7) expect(on[i], `${label} [${i}]`).toBe(Math.fround(ref(at(a, sa, so, i), at(b, sb, so, i))));
        }
      });
    });
  });

  it('memory-bound unary ops and their backward, lengths around the vector width and the tile', () => {
    const U: Array<[UnaryOpName, number, number, (x: number) => number]> = [
      ['neg', 0, 0, (x) => -x], ['square', 0, 0, (x) => x * x], ['abs', 0, 0, Math.abs], ['relu', 0, 0, (x) => Math.max(x, 0)],
      // a * x + c with one rounding (the compiler contracts it to an FMA where the ISA has one)
      ['affine', 1.5, -0.25, (x) => 1.5 * x - 0.25], ['clamp', -1, 2, (x) => Math.min(Math.max(x, -1), 2)],
    ];
    const twoRoundings = (x: number) => Math.fround(Math.fround(1.5 * x) - 0.25);
    for (const n of [1, 7, 15, 16, 17, 1023, 1024, 1041, 5000]) {
      const x = rand(n, n), g = rand(n, n + 1);
      for (const [op, p0, p1, ref] of U) {
        for (const shift of [0, 5, 12]) {
          const [on, off] = both(() => { const y = shifted(n, shift); expect(unary(op, x, y, p0, p1)).toBe(true); return y; });
          expectSame(on, off, `${op} n=${n} shift ${shift}`);
          for (let i = 0; i < n; i += 3) {
            const ok = on[i] === Math.fround(ref(x[i])) || (op === 'affine' && on[i] === twoRoundings(x[i]));
            expect(ok, `${op} n=${n} [${i}]: ${on[i]} vs ${ref(x[i])}`).toBe(true);
          }
          const [bon, boff] = both(() => { const gx = shifted(n, shift); expect(unaryBackward(op, g, op === 'neg' || op === 'affine' ? null : x, gx, p0, p1)).toBe(true); return gx; });
          expectSame(bon, boff, `${op} backward n=${n} shift ${shift}`);
        }
      }
    }
  });

  it('the public API on a large-ish tensor: add, bias add, mul, relu fwd + bwd, grad accumulation', () => {
    const shape = [13, 17, 40];
    const mk = (seed: number, requiresGrad = false) => new Tensor(rand(numel(shape), seed), shape, { requiresGrad });
    const x = mk(1), y = mk(2), bias = tensor(rand(40, 3));
    const [a1, a2] = both(() => x.add(y).data as Float32Array);
    expectSame(a1, a2, 'add');
    const [b1, b2] = both(() => x.add(bias).mul(1.5).data as Float32Array);
    expectSame(b1, b2, 'add(bias).mul(1.5)');
    for (let i = 0; i < b1.length; i += 11) expect(b1[i]).toBe(Math.fround(Math.fround(x.data[i] + bias.data[i % 40]) * 1.5));
    const grads = both(() => {
      const w = mk(4, true);
      w.relu().mul(2).sum().backward();
      w.mul(3).sum().backward();
      return w.grad!.data as Float32Array;
    });
    expectSame(grads[0], grads[1], 'relu/mul grads');
    const w = mk(4);
    for (let i = 0; i < grads[0].length; i += 5) expect(grads[0][i]).toBe((w.data[i] > 0 ? 2 : 0) + 3);
  });

  it('the token gather and its backward (the same threshold): repeated, unselected and ragged rows, rows not a whole line', () => {
    for (const [B, N, D, K] of [[3, 11, 13, 7], [2, 9, 37, 12], [4, 6, 100, 5], [1, 5, 16, 9]]) {
      const x = rand(B * N * D, D), g = rand(B * K * D, D + 1);
      const r = mulberry32(N * K);
      const idx = Int32Array.from({ length: B * K }, () => Math.floor(r() * N));  // repeats and gaps
      const lengths = Int32Array.from({ length: B }, (_, b) => K - (b % 3));
      for (const dxOff of [0, 1, 7]) {
        const label = `B${B} N${N} D${D} K${K} offset ${dxOff}`;
        const [o1, o2] = both(() => kGather(x, [B, N, D], idx, [B, K], { lengths }));
        expectSame(o1, o2, `gather ${label}`);
        const [d1, d2] = both(() => { const dx = shifted(B * N * D, dxOff); kGatherBackward(g, idx, [B, K], N, { lengths, dxOut: dx }); return dx; });
        expectSame(d1, d2, `gather backward ${label}`);
        // dx[b, n] = sum of g[b, k] over the valid k with idx[b, k] = n (ascending k), else 0
        for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d += 5) {
          let want = 0;
          for (let k = 0; k < lengths[b]; k++) if (idx[b * K + k] === n) want = Math.fround(want + g[(b * K + k) * D + d]);
          expect(d1[(b * N + n) * D + d], `${label} dx[${b},${n},${d}]`).toBe(want);
        }
      }
    }
  });

  it('a warm output (just handed back by the pool) takes the normal stores: the same bits, and the flag is validated', () => {
    const a = addon as unknown as {
      tensorBinary(op: number, out: Float32Array, a: Float32Array, b: Float32Array, meta: Float64Array, warm?: unknown): void;
      tensorUnary(op: number, x: Float32Array, y: Float32Array, p0: number, p1: number, warm?: unknown): void;
      tensorUnaryBackward(op: number, g: Float32Array, s: Float32Array | null, gx: Float32Array, p0: number, p1: number, warm?: unknown): void;
    };
    const n = 3 * 1031;
    const x = rand(n, 11), y = rand(n, 12);
    const meta = new Float64Array([1, n, n, n]);
    for (const shift of [0, 3]) {
      // warm = true with the threshold at 0 must equal the normal loop (threshold off), bit for bit
      const [w1, w2] = both(() => { const o = shifted(n, shift); a.tensorBinary(2, o, x, y, meta, true); return o; });
      expectSame(w1, w2, `binary warm shift ${shift}`);
      const [u1, u2] = both(() => { const o = shifted(n, shift); a.tensorUnary(10, x, o, 1.5, 0.25, true); return o; });
      expectSame(u1, u2, `unary warm shift ${shift}`);
      const [g1, g2] = both(() => { const o = shifted(n, shift); a.tensorUnaryBackward(7, y, x, o, 0, 0, true); return o; });
      expectSame(g1, g2, `relu backward warm shift ${shift}`);
      for (let i = 0; i < n; i += 97) expect(w1[i]).toBe(Math.fround(x[i] * y[i]));
    }
    const out = new Float32Array(n);
    expect(() => a.tensorBinary(2, out, x, y, meta, 'yes')).toThrow(/Expected a boolean for warm/);
    expect(() => a.tensorUnary(10, x, out, 1, 0, 1)).toThrow(/Expected a boolean for warm/);
    expect(() => a.tensorUnaryBackward(7, y, x, out, 0, 0, {})).toThrow(/Expected a boolean for warm/);
  });

  it('the threshold setter validates its argument', () => {
    const set = addon!.tensorStreamMinBytes as unknown as (b: unknown) => number;
    expect(() => set(-1)).toThrow(/bytes/);
    expect(() => set('big')).toThrow(/bytes/);
    expect(set(undefined)).toBe(addon!.tensorStreamMinBytes());
  });
});
