import { SelfsupError, cumsum, amax, amin, argmin, logsumexp, max, mean, min, norm, std, sum, tensor, variance, zeros, argmax, type Tensor } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { refReduce, split, type RefTensor, type Gen } from '../helpers';

/** Reduction samples: all dims, one dim, negative dim, several dims, keepdim, size-1 and empty dims. */
const dimSamples = (g: Gen) => [
  { label: 'all', args: [g.t([113]), null, false] },
  { label: 'dim1', args: [g.t([7, 59]), 1, false], gradcheck: false },
  { label: 'dim0-keep', args: [g.t([5, 3]), 0, true] },
  { label: 'neg', args: [g.t([2, 3, 4]), -1, false] },
  { label: 'multi', args: [g.t([3, 4, 5]), [0, 2], true] },
  { label: 'size1', args: [g.t([1, 6, 1]), [0, 2], false] },
  { label: 'empty-outer', args: [g.t([0, 4]), 1, false] },
];

const dimErrors = (name: string) => [
  { args: () => [zeros([2, 3]), 2, false], error: RangeError, message: `Expected an integer in [-2, 1] for ${name}(dim) but received 2` },
  { args: () => [zeros([2], { dtype: 'int32' }), 0, false], error: TypeError, message: `for ${name}(x)` },
];

const mean_ = (a: number, n: number) => a / n;

/** Two-pass variance over dims for the reference. */
function refVar(x: RefTensor, dims: number[] | null, keepdim: boolean, correction: number): RefTensor {
  const m = refReduce(x, dims, true, (a, v) => a + v, 0, mean_);
  const nd = x.shape.length;
  const ds = (dims ?? Array.from({ length: nd }, (_, i) => i)).map((d) => (d < 0 ? d + nd : d));
  const dev: RefTensor = { shape: x.shape, data: new Float64Array(x.data.length) };
  for (let i = 0; i < x.data.length; i++) {
    let r = i, mo = 0, mul = 1;
    for (let d = nd - 1; d >= 0; d--) {
      const idx = r % x.shape[d];
      r = Math.floor(r / x.shape[d]);
      if (!ds.includes(d)) mo += idx * mul;
      mul *= ds.includes(d) ? 1 : x.shape[d];
    }
    dev.data[i] = (x.data[i] - m.data[mo]) ** 2;
  }
  return refReduce(dev, dims, keepdim, (a, v) => a + v, 0, (a, n) => a / (n - correction));
}

type ExtremeFn = { (x: Tensor): Tensor; (x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor } };

/** max/min over one dim (values + indices of the first extreme), over everything, amax/amin, argmax/argmin. */
function extremeRows(
  name: 'max' | 'min', fn: ExtremeFn, afn: typeof amax, argfn: typeof argmax, better: (a: number, b: number) => boolean, init: number,
): OpRow[] {
  const pick = (a: number, v: number) => (better(v, a) ? v : a);
  return [
    {
      name: `${name}-dim`,
      op: [name],
      fn: (x, d, k) => fn(x, d, k),
      method: (x: Tensor, d: number, k: boolean) => x[name](d, k),
      ref: (x: RefTensor, d: number, k: boolean) => {
        const nd = x.shape.length, dd = d < 0 ? d + nd : d;
        const { outer, size, inner } = split(x.shape, dd);
        const values = new Float64Array(outer * inner), indices = new Int32Array(outer * inner);
        for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
          let b = init, bi = 0;
          for (let j = 0; j < size; j++) if (better(x.data[(o * size + j) * inner + i], b)) { b = x.data[(o * size + j) * inner + i]; bi = j; }
          values[o * inner + i] = b;
          indices[o * inner + i] = bi;
        }
        const shape = k ? x.shape.map((s, i) => (i === dd ? 1 : s)) : x.shape.filter((_, i) => i !== dd);
        return { values: { shape, data: values }, indices: { shape, data: indices } };
      },
      samples: (g) => [
        { args: [g.t([113]), 0, false] },
        { args: [g.t([7, 59]), 1, false], gradcheck: false },
        { args: [g.t([3, 4, 5]), 1, true] },
        { args: [g.t([2, 1, 3]), -1, false] },
      ],
      errors: [
        { args: () => [zeros([2, 3]), 5], error: RangeError, message: `for ${name}(dim)` },
        { args: () => [zeros([2, 0]), 1], error: RangeError, message: `for ${name}(dim)` },
      ],
    },
    {
      name: `${name}-all`,
      op: [name],
      fn: (x) => fn(x),
      method: (x: Tensor) => x[name](),
      ref: (x: RefTensor) => refReduce(x, null, false, pick, init),
      samples: (g) => [{ args: [g.t([113])] }, { args: [g.t([3, 1, 5])] }, { args: [g.t([])] }],
      errors: [{ args: () => [zeros([0])], error: RangeError, message: `for ${name}(x)` }],
    },
    {
      name: `a${name}`,
      fn: (x, d, k) => afn(x, d, k),
      ref: (x: RefTensor, d: number[] | number | null, k: boolean) => refReduce(x, d === null ? null : ([] as number[]).concat(d), k, pick, init),
      samples: (g) => dimSamples(g).filter((s) => s.label !== 'empty-outer'),
      errors: dimErrors(`a${name}`).slice(0, 1),
    },
    {
      name: `arg${name}`,
      fn: (x, d) => argfn(x, d),
      ref: (x: RefTensor, d: number) => {
        const { outer, size, inner } = split(x.shape, d);
        const out = new Int32Array(outer * inner);
        for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
          let b = init;
          for (let j = 0; j < size; j++) if (better(x.data[(o * size + j) * inner + i], b)) { b = x.data[(o * size + j) * inner + i]; out[o * inner + i] = j; }
        }
        return { shape: x.shape.filter((_, i) => i !== d), data: out };
      },
      samples: (g) => [{ args: [g.t([7, 59]), 1] }, { args: [g.t([113, 2]), 0] }],
      gradcheck: false,
    },
  ];
}

export const rows: OpRow[] = [
  {
    name: 'sum',
    fn: (x, d, k) => sum(x, d, k),
    ref: (x: RefTensor, d: number[] | number | null, k: boolean) => refReduce(x, d === null ? null : ([] as number[]).concat(d), k, (a, v) => a + v, 0),
    samples: dimSamples,
    errors: dimErrors('sum'),
  },
  {
    name: 'mean',
    fn: (x, d, k) => mean(x, d, k),
    ref: (x: RefTensor, d: number[] | number | null, k: boolean) => refReduce(x, d === null ? null : ([] as number[]).concat(d), k, (a, v) => a + v, 0, mean_),
    samples: (g) => dimSamples(g).filter((s) => s.label !== 'empty-outer'),
    errors: dimErrors('mean'),
  },
  ...extremeRows('max', max, amax, argmax, (a, b) => a > b, -Infinity),
  ...extremeRows('min', min, amin, argmin, (a, b) => a < b, Infinity),
  {
    name: 'var',
    fn: (x, d, o) => variance(x, d, o),
    ref: (x: RefTensor, d: number[] | number | null, o: { unbiased?: boolean; keepdim?: boolean }) =>
      refVar(x, d === null ? null : ([] as number[]).concat(d), o.keepdim ?? false, o.unbiased === false ? 0 : 1),
    samples: (g) => [
      { args: [g.t([113]), null, {}] },
      { args: [g.t([7, 59]), 1, { unbiased: false }], gradcheck: false },
      { args: [g.t([3, 4, 5]), [0, 2], { keepdim: true }] },
      { args: [g.t([4, 3]), 0, { unbiased: false, keepdim: true }] },
    ],
    errors: [
      { args: () => [zeros([3]), 0, { unbiased: 1 }], error: TypeError, message: 'Expected a boolean for var(options.unbiased) but received 1' },
    ],
  },
  {
    name: 'std',
    fn: (x, d, o) => std(x, d, o),
    ref: (x: RefTensor, d: number[] | number | null, o: { unbiased?: boolean; keepdim?: boolean }) => {
      const v = refVar(x, d === null ? null : ([] as number[]).concat(d), o.keepdim ?? false, o.unbiased === false ? 0 : 1);
      return { shape: v.shape, data: v.data.map(Math.sqrt) };
    },
    samples: (g) => [{ args: [g.t([113]), null, {}] }, { args: [g.t([6, 5]), -1, { unbiased: false }] }],
  },
  {
    name: 'norm',
    fn: (x, p, d, k) => norm(x, p, d, k),
    ref: (x: RefTensor, p: number, d: number[] | number | null, k: boolean) =>
      p === Infinity
        ? refReduce(x, d === null ? null : ([] as number[]).concat(d), k, (a, v) => Math.max(a, Math.abs(v)), 0)
        : refReduce(x, d === null ? null : ([] as number[]).concat(d), k, (a, v) => a + Math.abs(v) ** p, 0, (a) => a ** (1 / p)),
    samples: (g) => [
      { args: [g.t([113]), 2, null, false] },
      { args: [g.t([7, 59]), 2, 1, true], gradcheck: false },
      { args: [g.t([3, 4]), 1, 0, false] },
      { args: [g.t([3, 4]), 3, [0, 1], false] },
      { args: [g.t([2, 5]), Infinity, 1, false] },
    ],
    errors: [{ args: () => [zeros([3]), -1], error: RangeError, message: 'for norm(p)' }],
  },
  {
    name: 'logsumexp',
    fn: (x, d, k) => logsumexp(x, d, k),
    ref: (x: RefTensor, d: number[] | number, k: boolean) => {
      // Unshifted sum of exponentials is exact enough in float64 for inputs of magnitude < 20.
      return refReduce(x, ([] as number[]).concat(d), k, (a, v) => a + Math.exp(v), 0, Math.log);
    },
    samples: (g) => [
      { args: [g.t([113], { min: -20, max: 20 }), 0, false] },
      { args: [g.t([7, 59], { min: -5, max: 5 }), 1, true], gradcheck: false },
      { args: [g.t([3, 4, 2]), [0, 2], false] },
    ],
    errors: [{ args: () => [tensor([1, 2]), undefined], error: TypeError, message: 'for logsumexp(dim)' }],
  },
  {
    name: 'cumsum',
    fn: (x, d) => cumsum(x, d),
    ref: (x: RefTensor, d: number) => {
      const nd = x.shape.length, dd = nd === 0 ? 0 : d < 0 ? d + nd : d;
      const { outer, size, inner } = split(nd === 0 ? [1] : x.shape, dd);
      const out = new Float64Array(x.data.length);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
        let acc = 0;
        for (let j = 0; j < size; j++) out[(o * size + j) * inner + i] = acc += x.data[(o * size + j) * inner + i];
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([11]), 0] },
      { args: [g.t([3, 4]), 1] },
      { args: [g.t([3, 4, 2]), 1] },
      { args: [g.t([2, 3, 4]), -3] },
      { label: 'size-1', args: [g.t([1, 5]), 0] },
      { label: 'empty', args: [g.t([0, 5]), 1] },
      { label: 'scalar', args: [g.t([]), 0] },
      { args: [g.t([13, 97]), 1], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 3]), 2], error: RangeError, message: 'Expected an integer in [-2, 1] for cumsum(dim) but received 2' },
      { args: () => [zeros([2, 3])], error: TypeError, message: 'Expected an integer for cumsum(dim)' },
      { args: () => [zeros([2], { dtype: 'bool' }), 0], error: TypeError, message: 'for cumsum(x)' },
    ],
  },
  {
    name: 'cumsum-int32',
    op: ['cumsum'],
    fn: (x: Tensor) => cumsum(x.to('int32'), 0),
    method: (x: Tensor) => x.to('int32').cumsum(0),
    ref: (x: RefTensor) => {
      let acc = 0;
      return { shape: x.shape, data: Int32Array.from(x.data, (v) => (acc += Math.trunc(v))) };
    },
    samples: (g) => [{ args: [g.t([9], { min: -20, max: 20 })] }],
    gradcheck: false,
  },
];
void SelfsupError;
