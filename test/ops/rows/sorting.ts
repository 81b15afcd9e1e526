import { sort, tensor, topk, zeros, type Tensor } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { split, type RefTensor, type TSpec } from '../helpers';

/** A float spec with given values (ties and NaN on purpose). */
function fixed(shape: number[], values: number[], grad = true): TSpec {
  return { __spec: true, shape, kind: 'float', values: Float64Array.from(values), grad };
}

/** n values from {-1, 0, 0.5, 2, NaN}: long runs of ties across the merge sort's 16-element runs. */
function manyTies(n: number): number[] {
  return Array.from({ length: n }, (_, i) => [-1, 0, 0.5, 2, NaN][(i * 7 + (i >> 3)) % 5]);
}

/** Reference: insertion sort of each line (stable by construction), NaN as the largest value, first k. */
function refSort(x: RefTensor, dim: number, descending: boolean, k?: number): { values: RefTensor; indices: RefTensor } {
  const nd = x.shape.length;
  const d = nd === 0 ? 0 : dim < 0 ? dim + nd : dim;
  const { outer, size, inner } = split(nd === 0 ? [1] : x.shape, d);
  const kk = k ?? size;
  const before = (a: number, b: number) => {
    // true when a must come strictly before b
    const an = Number.isNaN(a), bn = Number.isNaN(b);
    if (an || bn) return descending ? an && !bn : bn && !an;
    return descending ? a > b : a < b;
  };
  const shape = nd === 0 ? [] : x.shape.map((s, i) => (i === d ? kk : s));
  const values = new Float64Array(outer * kk * inner), indices = new Int32Array(outer * kk * inner);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const ord: number[] = [];
    for (let j = 0; j < size; j++) {
      const v = x.data[(o * size + j) * inner + i];
      let p = ord.length;
      while (p > 0 && before(v, x.data[(o * size + ord[p - 1]) * inner + i])) p--;
      ord.splice(p, 0, j);
    }
    for (let j = 0; j < kk; j++) {
      values[(o * kk + j) * inner + i] = x.data[(o * size + ord[j]) * inner + i];
      indices[(o * kk + j) * inner + i] = ord[j];
    }
  }
  return { values: { shape, data: values }, indices: { shape, data: indices } };
}

export const rows: OpRow[] = [
  {
    name: 'sort',
    fn: (x, d, desc) => sort(x, d, desc),
    ref: (x: RefTensor, d = -1, desc = false) => refSort(x, d, desc),
    samples: (g) => [
      { args: [g.t([7]), -1, false] },
      { args: [g.t([3, 5]), 0, true] },
      { args: [g.t([2, 3, 4]), 1, false] },
      { label: 'ties stay in order (ascending)', args: [fixed([2, 5], [1, 0.5, 1, 0.5, 1, 2, 2, -1, 2, 2]), 1, false], gradcheck: false },
      { label: 'ties stay in order (descending)', args: [fixed([2, 5], [1, 0.5, 1, 0.5, 1, 2, 2, -1, 2, 2]), 1, true], gradcheck: false },
      { label: 'NaN sorts as the largest', args: [fixed([5], [0.5, NaN, -1, NaN, 2]), 0, false], gradcheck: false },
      { label: 'NaN first when descending', args: [fixed([5], [0.5, NaN, -1, NaN, 2]), 0, true], gradcheck: false },
      { label: 'long rows with many ties and NaN (merge phase), ascending', args: [fixed([2, 37], manyTies(74)), 1, false], gradcheck: false },
      { label: 'long rows with many ties and NaN (merge phase), descending', args: [fixed([37, 2], manyTies(74)), 0, true], gradcheck: false },
      { label: 'size-1 dim', args: [g.t([4, 1]), 1, true] },
      { label: 'empty', args: [g.t([0, 3]), 0, false] },
      { label: 'scalar', args: [g.t([]), 0, false] },
      { args: [g.t([23, 71]), -1, true], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 3]), 2], error: RangeError, message: 'Expected an integer in [-2, 1] for sort(dim) but received 2' },
      { args: () => [zeros([2], { dtype: 'bool' })], error: TypeError, message: 'for sort(x)' },
      { args: () => [zeros([2]), 0, 'yes'], error: TypeError, message: 'Expected a boolean for sort(descending)' },
    ],
  },
  {
    name: 'sort-default-dim',
    op: ['sort'],
    fn: (x: Tensor) => sort(x),
    method: (x: Tensor) => x.sort(),
    ref: (x: RefTensor) => refSort(x, -1, false),
    samples: (g) => [{ args: [g.t([3, 6])] }],
  },
  {
    name: 'sort-int32',
    op: ['sort'],
    fn: (x: Tensor) => sort(x.to('int32'), 0, true),
    method: (x: Tensor) => x.to('int32').sort(0, true),
    ref: (x: RefTensor) => refSort({ shape: x.shape, data: x.data.map(Math.trunc) }, 0, true),
    samples: () => [{ args: [fixed([9], [3, -2, 7, 3, 0, -2, 9, 1, 3], false)] }],
    gradcheck: false,
  },
  {
    name: 'topk',
    fn: (x, k, d, largest, sorted) => topk(x, k, d, largest, sorted),
    ref: (x: RefTensor, k: number, d = -1, largest = true) => refSort(x, d, largest, k),
    samples: (g) => [
      { args: [g.t([9]), 3] },
      { args: [g.t([4, 6]), 2, 1, false] },
      { args: [g.t([5, 3]), 5, 0, true, false] },
      { args: [g.t([2, 3, 4]), 1, -2] },
      { label: 'k = 0', args: [g.t([3, 4]), 0, 1] },
      { label: 'ties go to the lower index', args: [fixed([6], [1, 2, 2, 0, 2, 1]), 2], gradcheck: false },
      { label: 'smallest with ties', args: [fixed([6], [1, 2, 2, 0, 2, 0]), 3, 0, false], gradcheck: false },
      { label: 'selection path (k <= size / 4)', args: [g.t([3, 29]), 4, 1] },
      { label: 'selection path, inner dim', args: [g.t([17, 2]), 3, 0, false] },
      {
        label: 'selection path: ties and NaN',
        args: [fixed([24], [1, 3, NaN, 3, 0, 2, 3, NaN, 1, 1, -4, 3, 2, 2, 0, 3, 5, 5, -1, 3, 0, 1, 5, 2]), 5],
        gradcheck: false,
      },
      { label: 'selection path: ties, smallest', args: [fixed([24], [1, 3, 0, 3, 0, 2, 3, 1, 1, 1, -4, 3, 2, 2, 0, 3, 5, 5, -4, 3, 0, 1, 5, 2]), 6, 0, false], gradcheck: false },
      { args: [g.t([31, 47]), 5, -1], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 3]), 4], error: RangeError, message: 'Expected an integer in [0, 3] (the size of dim 1) for topk(k) but received 4' },
      { args: () => [zeros([2, 3]), -1], error: RangeError, message: 'for topk(k) but received -1' },
      { args: () => [zeros([2, 3]), 1, 3], error: RangeError, message: 'for topk(dim)' },
      { args: () => [zeros([2, 3]), '1'], error: TypeError, message: 'Expected an integer for topk(k)' },
      { args: () => [tensor([1, 2]), 1, 0, 1], error: TypeError, message: 'for topk(largest)' },
    ],
  },
];
