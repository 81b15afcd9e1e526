import { SelfsupError, crossEntropy, mse, smoothL1, tensor, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { split, type RefTensor, type TSpec } from '../helpers';

/** An int32 target spec with positions `at` set to `value` (the ignored class). */
function ignoring(t: TSpec, at: number[], value = -100): TSpec {
  const values = Int32Array.from(t.values);
  for (const i of at) values[i] = value;
  return { ...t, values };
}

function reduce(v: Float64Array, shape: number[], r: string | undefined): RefTensor {
  if (r === 'none') return { shape, data: v };
  const s = v.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.of(r === 'sum' ? s : s / v.length) };
}

export const rows: OpRow[] = [
  {
    name: 'crossEntropy',
    fn: (x, t, o) => crossEntropy(x, t, o),
    ref: (x: RefTensor, t: RefTensor, o: { labelSmoothing?: number; reduction?: string; ignoreIndex?: number }) => {
      const cdim = x.shape.length === 1 ? 0 : 1;
      const { outer, size: C, inner } = split(x.shape, cdim);
      const ls = o.labelSmoothing ?? 0;
      const ignore = o.ignoreIndex ?? -100;
      const losses = new Float64Array(outer * inner);
      let kept = 0;
      for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) {
        if (t.data instanceof Int32Array && t.data[a * inner + i] === ignore) continue; // loss 0
        kept++;
        let m = -Infinity;
        for (let c = 0; c < C; c++) m = Math.max(m, x.data[(a * C + c) * inner + i]);
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(x.data[(a * C + c) * inner + i] - m);
        const lse = m + Math.log(s);
        let l = 0;
        for (let c = 0; c < C; c++) {
          const logp = x.data[(a * C + c) * inner + i] - lse;
          const p = t.data instanceof Int32Array ? (t.data[a * inner + i] === c ? 1 : 0) : t.data[(a * C + c) * inner + i];
          l -= ((1 - ls) * p + ls / C) * logp;
        }
        losses[a * inner + i] = l;
      }
      // 'mean' divides by the count of kept positions (PyTorch's ignore_index semantics).
      if ((o.reduction ?? 'mean') === 'mean') return { shape: [], data: Float64Array.of(losses.reduce((p, v) => p + v, 0) / kept) };
      return reduce(losses, x.shape.filter((_, i) => i !== cdim), o.reduction);
    },
    samples: (g) => [
      { label: 'indices', args: [g.t([6, 5]), g.int([6], 5), {}] },
      { label: 'indices-smooth-sum', args: [g.t([4, 3]), g.int([4], 3), { labelSmoothing: 0.1, reduction: 'sum' }] },
      { label: 'spatial-none', args: [g.t([2, 3, 4]), g.int([2, 4], 3), { reduction: 'none' }] },
      { label: 'probs', args: [g.t([3, 4]), g.probs([3, 4], 1), { labelSmoothing: 0.2 }] },
      { label: 'unbatched', args: [g.t([7]), g.int([], 7), {}] },
      { label: 'large', args: [g.t([113, 59]), g.int([113], 59), {}], gradcheck: false },
      { label: 'ignore-default', args: [g.t([6, 5]), ignoring(g.int([6], 5), [1, 4]), {}] },
      { label: 'ignore-custom-smooth', args: [g.t([5, 4]), ignoring(g.int([5], 3), [0, 3], 3), { ignoreIndex: 3, labelSmoothing: 0.1 }] },
      { label: 'ignore-spatial-none', args: [g.t([2, 3, 4]), ignoring(g.int([2, 4], 3), [2, 5, 6]), { reduction: 'none' }] },
      { label: 'ignore-sum', args: [g.t([4, 3]), ignoring(g.int([4], 3), [3], 7), { ignoreIndex: 7, reduction: 'sum' }] },
      { label: 'all-ignored (NaN mean, as PyTorch)', args: [g.t([2, 3]), ignoring(g.int([2], 3), [0, 1]), {}], gradcheck: false },
      { label: 'size-1 batch ignored', args: [g.t([1, 4]), ignoring(g.int([1], 4), [0]), { reduction: 'sum' }] },
    ],
    tol: { float32: [1e-5, 1e-4] },
    errors: [
      { args: () => [zeros([4, 3]), tensor([0, 1, 3, 0], null, { dtype: 'int32' }), {}], error: RangeError, message: 'Expected class indices in [0, 3) or ignoreIndex (-100) for crossEntropy(target) but received 3 at position 2' },
      { args: () => [zeros([2, 3]), tensor([0, -1], null, { dtype: 'int32' }), { ignoreIndex: -100 }], error: RangeError, message: 'received -1 at position 1' },
      { args: () => [zeros([2, 3]), tensor([0, 1], null, { dtype: 'int32' }), { ignoreIndex: 0.5 }], error: RangeError, message: 'Expected an integer for crossEntropy(options.ignoreIndex) but received 0.5' },
      { args: () => [zeros([4, 3]), zeros([4], { dtype: 'int32' }).reshape(2, 2), {}], error: SelfsupError, message: 'for crossEntropy(target) but received [2, 2]' },
      { args: () => [zeros([4, 3]), zeros([4, 2]), {}], error: SelfsupError, message: 'for crossEntropy(target) but received [4, 2]' },
      { args: () => [zeros([4, 3]), zeros([4], { dtype: 'int32' }), { reduction: 'avg' }], error: RangeError, message: "Expected 'mean' | 'sum' | 'none' for crossEntropy(options.reduction)" },
    ],
  },
  {
    name: 'mse',
    fn: (x, t, o) => mse(x, t, o),
    ref: (x: RefTensor, t: RefTensor, o: { reduction?: string }) => reduce(x.data.map((v, i) => (v - t.data[i]) ** 2), x.shape, o.reduction),
    samples: (g) => [{ args: [g.t([113]), g.t([113]), {}] }, { args: [g.t([3, 4]), g.t([3, 4]), { reduction: 'sum' }] }, { args: [g.t([2, 3]), g.t([2, 3]), { reduction: 'none' }] }],
    errors: [{ args: () => [zeros([3, 4]), zeros([4]), {}], error: SelfsupError, message: "Expected shape [3, 4] (the input's shape) for mse(target) but received [4]" }],
  },
  {
    name: 'smoothL1',
    fn: (x, t, o) => smoothL1(x, t, o),
    ref: (x: RefTensor, t: RefTensor, o: { beta?: number; reduction?: string }) => {
      const beta = o.beta ?? 1;
      return reduce(x.data.map((v, i) => { const d = Math.abs(v - t.data[i]); return d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta; }), x.shape, o.reduction);
    },
    samples: (g) => [{ args: [g.t([113]), g.t([113]), {}] }, { args: [g.t([3, 4]), g.t([3, 4]), { beta: 0.5, reduction: 'sum' }] }, { args: [g.t([5]), g.t([5]), { beta: 0 }] }],
    errors: [{ args: () => [zeros([3]), zeros([3]), { beta: -1 }], error: RangeError, message: 'for smoothL1(options.beta) but received -1' }],
  },
];
