import {
  SelfsupError, abs, add, allclose, clamp, div, eq, exp, ge, gelu, gt, le, log, lt, maximum, minimum, mul, neg, pow, relu, rsqrt, sigmoid, silu,
  sqrt, square, sub, tanh, tensor, where, zeros, isnan, type Tensor,
} from '../../../lib/index';
import type { OpRow } from '../op-db';
import { refBinary, refMap, ref, bshape, unravel, bindex, type RefTensor, type Gen, type TSpec } from '../helpers';

/** Broadcasting samples: same shape, row/column broadcast, scalar, size-1 and empty dims, rank mismatch. */
const bcast = (g: Gen, o: { min?: number; max?: number } = {}) => [
  { label: 'same', args: [g.t([113], o), g.t([113], o)] },
  { label: 'row', args: [g.t([7, 59], o), g.t([59], o)], gradcheck: false },
  { label: 'small-bcast', args: [g.t([3, 1, 4], o), g.t([5, 1], o)] },
  { label: 'scalar', args: [g.t([2, 3], o), g.t([], o)] },
  { label: 'size1', args: [g.t([1, 6], o), g.t([4, 1], o)] },
  { label: 'empty', args: [g.t([0, 3], o), g.t([3], o)] },
];

const x1 = () => zeros([2, 3]);
// Mixed dtypes (float32 with float64, int32 with a float) used to be errors here (ERR_DTYPE_MISMATCH,
// TypeError); binary ops now promote them as PyTorch does, which test/promotion.test.ts checks.
const binErrors = (name: string) => [
  { label: 'shape', args: () => [x1(), zeros([4])], error: SelfsupError, message: `Expected shapes broadcastable with [2, 3] for ${name}(b) but received [4]`, code: 'ERR_SHAPE_MISMATCH' },
  { label: 'type', args: () => [x1(), 'x'], error: TypeError, message: `for ${name}(b)` },
  { label: 'no tensor', args: () => [1, 2], error: TypeError, message: `Expected a Tensor for ${name}(a) but received 1` },
];
void 0;

function binary(name: string, fn: (a: never, b: never) => ReturnType<typeof add>, f: (x: number, y: number) => number, o: { min?: number; max?: number } = {}): OpRow {
  return {
    name,
    fn,
    ref: (a: RefTensor, b: RefTensor) => refBinary(a, b, f),
    samples: (g) => bcast(g, o),
    errors: binErrors(name),
  };
}

function unary(name: string, fn: (x: never) => ReturnType<typeof add>, f: (x: number) => number, o: { min?: number; max?: number } = {}): OpRow {
  return {
    name,
    fn,
    ref: (x: RefTensor) => refMap(x, f),
    samples: (g) => [
      { label: '113', args: [g.t([113], o)] },
      { label: '7x59', args: [g.t([7, 59], o)], gradcheck: false },
      { label: '2x1x3', args: [g.t([2, 1, 3], o)] },
      { label: 'scalar', args: [g.t([], o)] },
      { label: 'empty', args: [g.t([0, 5], o)] },
    ],
    errors: [
      { args: () => [tensor([1, 2], [2], { dtype: 'int32' })], error: TypeError, message: `for ${name}(x)` },
      { args: () => [[1, 2]], error: TypeError, message: `for ${name}(x) but received [1, 2]` },
    ],
  };
}

function compare(name: string, fn: (a: Tensor, b: Tensor) => Tensor, f: (x: number, y: number) => boolean): OpRow {
  return {
    name,
    fn,
    ref: (a: RefTensor, b: RefTensor) => {
      const r = refBinary(a, b, (x, y) => (f(x, y) ? 1 : 0));
      return { shape: r.shape, data: Uint8Array.from(r.data) };
    },
    samples: (g) => bcast(g),
    gradcheck: false,
    errors: [{ args: () => [zeros([2, 3]), zeros([4])], error: SelfsupError, message: `for ${name}(b)` }],
  };
}

/** erf for the reference: Abramowitz-Stegun 7.1.26 is too coarse, so integrate the series plainly. */
function refErf(x: number): number {
  // Maclaurin series with enough terms for |x| <= 6; beyond that erf is +-1 in double precision.
  if (Math.abs(x) > 6) return Math.sign(x);
  let sum = 0, term = x, n = 0;
  while (Math.abs(term) > 1e-17 * Math.max(1, Math.abs(sum)) || n < 5) {
    sum += term / (2 * n + 1);
    n++;
    term *= (-x * x) / n;
    if (n > 400) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/**
 * Phi(x) with relative accuracy on the lower tail, independently of lib's erfc: 0.5 (1 + erf) on
 * [-3, 3] (1 + erf >= 2.7e-3 there, so the cancellation costs < 1e-12 relative), the Laplace
 * continued fraction of the Mills ratio Phi(-a) / phi(a) = 1 / (a + 1 / (a + 2 / (a + 3 / ...))) on
 * the tails.
 */
function refPhi(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 3) return 1 - refPhi(-x); // refErf's series loses ~1e-9 at 6 / sqrt 2
  if (x >= -3) return 0.5 * (1 + refErf(x / Math.SQRT2));
  const a = -x;
  let f = a;
  for (let k = 400; k >= 1; k--) f = a + k / f;
  return Math.exp(-0.5 * a * a) / Math.sqrt(2 * Math.PI) / f;
}
/** A float spec with given values (both dtypes see them; float32-representable). */
const fixed = (v: number[]): TSpec => ({ __spec: true, shape: [v.length], kind: 'float', values: Float64Array.from(v), grad: true });
const refGelu = (x: number) => (x === -Infinity ? -0 : x * refPhi(x));

export const rows: OpRow[] = [
  binary('add', add as never, (x, y) => x + y),
  binary('sub', sub as never, (x, y) => x - y),
  binary('mul', mul as never, (x, y) => x * y),
  binary('div', div as never, (x, y) => x / y),
  binary('maximum', maximum as never, (x, y) => Math.max(x, y)),
  binary('minimum', minimum as never, (x, y) => Math.min(x, y)),
  {
    name: 'pow',
    fn: (a, b) => pow(a, b),
    ref: (a: RefTensor, b: RefTensor | number) => (typeof b === 'number' ? refMap(a, (x) => Math.pow(x, b)) : refBinary(a, b, Math.pow)),
    samples: (g) => [
      { label: 'tensor-exp', args: [g.t([3, 4], { min: 0.2, max: 2 }), g.t([4], { min: -1.5, max: 2 })] },
      { label: 'int-exp', args: [g.t([113]), 2] },
      { label: 'frac-exp', args: [g.t([5, 1, 3], { min: 0.2, max: 2 }), 0.5] },
      { label: 'neg-exp', args: [g.t([2, 57], { min: 0.2, max: 2 }), -1.5] },
      { label: 'zero-exp', args: [g.t([9]), 0] },
    ],
    errors: binErrors('pow'),
  },
  unary('neg', neg as never, (x) => -x),
  unary('exp', exp as never, Math.exp),
  unary('log', log as never, Math.log, { min: 0.05, max: 3 }),
  unary('sqrt', sqrt as never, Math.sqrt, { min: 0.05, max: 3 }),
  unary('rsqrt', rsqrt as never, (x) => 1 / Math.sqrt(x), { min: 0.05, max: 3 }),
  unary('square', square as never, (x) => x * x),
  unary('abs', abs as never, Math.abs),
  unary('relu', relu as never, (x) => Math.max(x, 0)),
  unary('sigmoid', sigmoid as never, (x) => 1 / (1 + Math.exp(-x)), { min: -8, max: 8 }),
  unary('tanh', tanh as never, Math.tanh, { min: -3, max: 3 }),
  unary('silu', silu as never, (x) => x / (1 + Math.exp(-x)), { min: -6, max: 6 }),
  {
    ...unary('gelu', ((x: never) => gelu(x)) as never, refGelu, { min: -5, max: 5 }),
    method: (x: Tensor) => x.gelu(),
    // relative tolerances: the lower tail is tiny (-7.6e-23 at -10) and must stay accurate
    tol: { float32: [1e-37, 2e-6], float64: [1e-300, 1e-12] },
    samples: (g: Gen) => [
      ...unary('gelu', gelu as never, refGelu, { min: -5, max: 5 }).samples(g),
      {
        label: 'tails',
        args: [fixed([-Infinity, -1e30, -100, -38, -20, -14, -10, -8, -6, -4.5, 4.5, 10, 1e30, Infinity])],
        gradcheck: false,
      },
      { label: 'tails-grad', args: [fixed([-12, -9, -6, -4, -3.5, 3.5, 6])] },
    ],
  },
  {
    ...unary('gelu-tanh', ((x: never) => gelu(x, { approximate: 'tanh' })) as never,
      (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))), { min: -5, max: 5 }),
    errors: [{ args: () => [zeros([2]), { approximate: 'exact' }], error: RangeError, message: "Expected 'none' | 'tanh' for gelu(options.approximate) but received \"exact\"" }],
    fn: (x: never, o?: never) => gelu(x, o ?? { approximate: 'tanh' }),
    op: ['gelu'],
    method: (x: Tensor) => x.gelu('tanh'),
  },
  {
    name: 'clampMin',
    fn: (x: Tensor, lo: number) => x.clampMin(lo),
    ref: (x: RefTensor, lo: number) => refMap(x, (v) => Math.max(v, lo)),
    samples: (g) => [{ args: [g.t([113]), -0.25] }, { args: [g.t([4, 0]), 0.5] }],
    errors: [{ args: () => [zeros([2]), 'a'], error: TypeError, message: 'for clamp(min)' }],
  },
  {
    name: 'clampMax',
    fn: (x: Tensor, hi: number) => x.clampMax(hi),
    ref: (x: RefTensor, hi: number) => refMap(x, (v) => Math.min(v, hi)),
    samples: (g) => [{ args: [g.t([7, 9]), 0.3] }, { args: [g.t([]), -0.1] }],
  },
  {
    name: 'clamp',
    fn: (x, lo, hi) => clamp(x, lo, hi),
    ref: (x: RefTensor, lo: number | null, hi: number | null) => refMap(x, (v) => Math.min(Math.max(v, lo ?? -Infinity), hi ?? Infinity)),
    samples: (g) => [
      { args: [g.t([113]), -0.5, 0.7] },
      { args: [g.t([4, 5]), null, 0.3] },
      { args: [g.t([2, 0]), 0.1, null] },
    ],
    errors: [
      { args: () => [zeros([2]), 'a', 1], error: TypeError, message: 'for clamp(min)' },
      { args: () => [zeros([2], { dtype: 'int32' }), 0, 1], error: TypeError, message: 'for clamp(x)' },
    ],
  },
  {
    name: 'where',
    fn: (c, a, b) => where(c, a, b),
    method: (c: Tensor, a: Tensor, b: Tensor) => a.where(c, b),
    ref: (c: RefTensor, a: RefTensor, b: RefTensor) => {
      const shape = bshape(bshape(c.shape, a.shape), b.shape);
      const out = ref(shape);
      for (let i = 0; i < out.data.length; i++) {
        const idx = unravel(i, shape);
        out.data[i] = c.data[bindex(idx, c.shape)] ? a.data[bindex(idx, a.shape)] : b.data[bindex(idx, b.shape)];
      }
      return out;
    },
    samples: (g) => [
      { args: [g.bool([113]), g.t([113]), g.t([113])] },
      { args: [g.bool([3, 1]), g.t([4]), g.t([3, 4])] },
      { args: [g.bool([2, 3]), g.t([]), g.t([1, 3])] },
    ],
    errors: [
      { args: () => [zeros([2]), zeros([2]), zeros([2])], error: TypeError, message: 'Expected a bool Tensor for where(condition)' },
      { args: () => [tensor([true, false]), zeros([3]), zeros([2])], error: SelfsupError, message: 'for where(a)', code: 'ERR_SHAPE_MISMATCH' },
    ],
  },
  compare('gt', gt, (x, y) => x > y),
  compare('ge', ge, (x, y) => x >= y),
  compare('lt', lt, (x, y) => x < y),
  compare('le', le, (x, y) => x <= y),
  {
    name: 'eq',
    fn: (a, b) => eq(a, b),
    ref: (a: RefTensor, b: RefTensor) => {
      const r = refBinary(a, b, (x, y) => (x === y ? 1 : 0));
      return { shape: r.shape, data: Uint8Array.from(r.data) };
    },
    samples: (g) => {
      const a = g.t([4, 5]);
      return [{ args: [a, a] }, { args: [g.t([3]), g.t([2, 3])] }];
    },
    gradcheck: false,
  },
  {
    name: 'isnan',
    fn: (x) => isnan(x),
    ref: (x: RefTensor) => ({ shape: x.shape, data: Uint8Array.from(x.data, (v) => (Number.isNaN(v) ? 1 : 0)) }),
    samples: (g) => {
      const x = g.t([3, 4]);
      const withNaN: TSpec = { ...x, values: x.values.map((v, i) => (i % 5 === 1 ? NaN : i === 3 ? Infinity : v)) };
      return [{ args: [withNaN] }, { args: [g.t([7])] }, { args: [g.t([])] }, { args: [g.t([0, 2])] }];
    },
    gradcheck: false,
    errors: [{ args: () => [[1, 2]], error: TypeError, message: 'Expected a Tensor for isnan(x)' }],
  },
  {
    name: 'isnan-int',
    op: ['isnan'],
    fn: (x: Tensor) => isnan(x.to('int32')),
    method: (x: Tensor) => x.to('int32').isnan(),
    ref: (x: RefTensor) => ({ shape: x.shape, data: new Uint8Array(x.data.length) }),
    samples: (g) => [{ args: [g.t([5])] }],
    gradcheck: false,
  },
  {
    name: 'allclose',
    fn: (a, b, rtol, atol) => tensor(allclose(a, b, rtol, atol)),
    method: (a: Tensor, b: Tensor, rtol?: number, atol?: number) => tensor(a.allclose(b, rtol, atol)),
    ref: (a: RefTensor, b: RefTensor, rtol = 1e-5, atol = 1e-8) => {
      const r = refBinary(a, b, (x, y) => (x === y || Math.abs(x - y) <= atol + rtol * Math.abs(y) ? 1 : 0));
      return { shape: [], data: Uint8Array.of(r.data.every((v) => v === 1) ? 1 : 0) };
    },
    samples: (g) => {
      const a = g.t([4, 5]);
      const near: TSpec = { ...a, values: a.values.map((v) => v * (1 + 1e-6)) };
      const oneOff: TSpec = { ...a, values: a.values.map((v, i) => (i === 7 ? v * 1.001 : v)) };
      const nan: TSpec = { ...a, values: a.values.map((v, i) => (i === 2 ? NaN : v)) };
      const inf: TSpec = { ...a, values: a.values.map((v, i) => (i === 2 ? -Infinity : v)) };
      return [
        { label: 'equal', args: [a, a] },
        { label: 'within rtol', args: [a, near] },
        { label: 'one element off', args: [a, oneOff] },
        { label: 'off but within a loose rtol', args: [a, oneOff, 1e-2] },
        { label: 'off but within atol', args: [a, oneOff, 0, 1e-2] },
        { label: 'NaN is never close', args: [nan, nan] },
        { label: 'equal infinities are close', args: [inf, inf] },
        { label: 'broadcast', args: [g.t([2, 3]), g.t([3])] },
        { label: 'empty', args: [g.t([0, 3]), g.t([3])] },
      ];
    },
    gradcheck: false,
    errors: [
      { args: () => [zeros([2, 3]), zeros([4])], error: SelfsupError, message: 'for allclose(b) but received [4]', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [zeros([2]), zeros([2]), -1], error: RangeError, message: 'Expected a number >= 0 for allclose(rtol) but received -1' },
      { args: () => [zeros([2]), zeros([2]), 1e-5, 'x'], error: TypeError, message: 'for allclose(atol)' },
      { args: () => [zeros([2]), zeros([2], { dtype: 'float64' })], error: SelfsupError, message: 'for allclose(b)', code: 'ERR_DTYPE_MISMATCH' },
    ],
  },
];
