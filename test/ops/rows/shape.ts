import {
  SelfsupError, cat, chunk, clone, expand, flatten, flip, narrow, permute, repeat, reshape, slice, split as splitOp, squeeze, stack, transpose, tril, triu,
  unsqueeze, view, zeros,
  type Tensor,
} from '../../../lib/index';
import type { OpRow } from '../op-db';
import { splitHeads } from '../../../lib/ops/shape';
import { refIndexMap, size, split, type RefTensor } from '../helpers';

function refPermute(x: RefTensor, perm: number[]): RefTensor {
  const shape = perm.map((p) => x.shape[p]);
  const out = new Float64Array(x.data.length);
  const strides = x.shape.map((_, i) => size(x.shape.slice(i + 1)));
  for (let i = 0; i < out.length; i++) {
    let r = i, off = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      off += (r % shape[d]) * strides[perm[d]];
      r = Math.floor(r / shape[d]);
    }
    out[i] = x.data[off];
  }
  return { shape, data: out };
}

function refSlice(x: RefTensor, dim: number, start: number, step: number, count: number): RefTensor {
  const { outer, size: s, inner } = split(x.shape, dim);
  const shape = x.shape.slice();
  shape[dim] = count;
  const out = new Float64Array(outer * count * inner);
  for (let o = 0; o < outer; o++) for (let j = 0; j < count; j++) for (let i = 0; i < inner; i++) out[(o * count + j) * inner + i] = x.data[(o * s + start + j * step) * inner + i];
  return { shape, data: out };
}

function refCat(ts: RefTensor[], dim: number): RefTensor {
  const shape = ts[0].shape.slice();
  shape[dim] = ts.reduce((a, t) => a + t.shape[dim], 0);
  const { outer, inner } = split(shape, dim);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (const t of ts) {
    const block = t.shape[dim] * inner;
    for (let k = 0; k < block; k++) out.push(t.data[o * block + k]);
  }
  return { shape, data: Float64Array.from(out) };
}

function refExpand(x: RefTensor, s: number[]): RefTensor {
  const shape = s.map((d, i) => (d === -1 ? x.shape[i - (s.length - x.shape.length)] : d));
  const out = new Float64Array(size(shape));
  for (let i = 0; i < out.length; i++) {
    let r = i, off = 0, mul = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const idx = r % shape[d];
      r = Math.floor(r / shape[d]);
      const xd = d - (shape.length - x.shape.length);
      if (xd >= 0) {
        off += (x.shape[xd] === 1 ? 0 : idx) * mul;
        mul *= x.shape[xd];
      }
    }
    out[i] = x.data[off];
  }
  return { shape, data: out };
}

export const rows: OpRow[] = [
  {
    name: 'reshape',
    fn: (x, s) => reshape(x, s),
    method: (x: Tensor, s: number[]) => x.reshape(...s),
    ref: (x: RefTensor, s: number[]) => {
      const known = s.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      return { shape: s.map((d) => (d === -1 ? x.data.length / known : d)), data: x.data.slice() };
    },
    samples: (g) => [{ args: [g.t([3, 4]), [2, -1]] }, { args: [g.t([113]), [113, 1]] }, { args: [g.t([0, 3]), [3, 0]] }, { args: [g.t([]), [1, 1]] }],
    errors: [
      { args: () => [zeros([3, 4]), [5, -1]], error: SelfsupError, message: 'Expected a shape compatible with 12 elements (input shape [3, 4]) for reshape(shape) but received [5, -1]' },
      { args: () => [zeros([3, 4]), [-1, -1]], error: RangeError, message: 'at most one -1 for reshape(shape)' },
    ],
  },
  {
    name: 'transpose',
    fn: (x, a, b) => transpose(x, a, b),
    ref: (x: RefTensor, a: number, b: number) => {
      const perm = x.shape.map((_, i) => i);
      const nd = x.shape.length;
      const [p, q] = [(a + nd) % nd, (b + nd) % nd];
      [perm[p], perm[q]] = [perm[q], perm[p]];
      return refPermute(x, perm);
    },
    samples: (g) => [{ args: [g.t([7, 59]), 0, 1], gradcheck: false }, { args: [g.t([2, 3, 4]), 0, -1] }, { args: [g.t([3, 1, 2]), 1, 2] }],
    errors: [{ args: () => [zeros([2, 3]), 0, 2], error: RangeError, message: 'for transpose(dim1) but received 2' }],
  },
  {
    name: 'permute',
    fn: (x, p) => permute(x, p),
    method: (x: Tensor, p: number[]) => x.permute(...p),
    ref: (x: RefTensor, p: number[]) => refPermute(x, p),
    samples: (g) => [{ args: [g.t([2, 3, 4]), [2, 0, 1]] }, { args: [g.t([5, 1, 3, 2]), [3, 1, 0, 2]] }],
    errors: [{ args: () => [zeros([2, 3]), [0, 0]], error: RangeError, message: 'for permute(dims)' }],
  },
  {
    // The fused QKV split: x [B, N, parts * heads * d] -> parts x [B, heads, N, d].
    name: 'splitHeads',
    fn: (x, parts: number, heads: number) => splitHeads(x, parts, heads),
    ref: (x: RefTensor, parts: number, heads: number) => {
      const [B, N, W] = x.shape;
      const D = W / parts, d = D / heads;
      return Array.from({ length: parts }, (_, j) => {
        const data = new Float64Array(B * heads * N * d);
        for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let n = 0; n < N; n++) for (let e = 0; e < d; e++) {
          data[((b * heads + h) * N + n) * d + e] = x.data[(b * N + n) * W + j * D + h * d + e];
        }
        return { shape: [B, heads, N, d], data };
      });
    },
    samples: (g) => [
      { args: [g.t([2, 5, 3 * 3 * 4]), 3, 3] },
      { args: [g.t([1, 7, 2 * 1 * 3]), 2, 1] },
      { label: 'large', args: [g.t([3, 17, 3 * 4 * 16]), 3, 4], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 5, 10]), 3, 1], error: RangeError, message: 'for splitHeads(x)' },
      { args: () => [zeros([2, 12]), 3, 2], error: SelfsupError, message: 'for splitHeads(x)', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [zeros([2, 5, 12]), 0, 2], error: RangeError, message: 'for splitHeads(parts)' },
    ],
  },
  {
    name: 'squeeze-unsqueeze-flatten',
    op: ['squeeze', 'unsqueeze', 'flatten'],
    fn: (x) => flatten(unsqueeze(squeeze(x, 1), 0), 1, -1),
    method: (x: Tensor) => x.squeeze(1).unsqueeze(0).flatten(1, -1),
    ref: (x: RefTensor) => ({ shape: [1, x.data.length], data: x.data.slice() }),
    samples: (g) => [{ args: [g.t([3, 1, 4])] }, { args: [g.t([2, 1])] }],
    errors: [{ args: () => [zeros([])], error: RangeError, message: 'for squeeze(dim)' }],
  },
  {
    name: 'expand',
    fn: (x, s) => expand(x, s),
    method: (x: Tensor, s: number[]) => x.expand(...s),
    ref: (x: RefTensor, s: number[]) => refExpand(x, s),
    samples: (g) => [{ args: [g.t([3, 1]), [2, 3, 4]] }, { args: [g.t([1, 5]), [-1, 5]] }, { args: [g.t([4]), [0, 4]] }],
    errors: [{ args: () => [zeros([3, 2]), [3, 4]], error: SelfsupError, message: 'Expected a shape broadcastable from [3, 2] for expand(shape) but received [3, 4]' }],
  },
  {
    name: 'expandAs',
    fn: (x: Tensor, o: Tensor) => x.expandAs(o),
    ref: (x: RefTensor, o: RefTensor) => refExpand(x, o.shape),
    samples: (g) => [{ args: [g.t([3, 1]), g.t([2, 3, 4])] }, { args: [g.t([5]), g.t([2, 5])] }],
  },
  {
    name: 'view',
    fn: (x, s) => view(x, s),
    method: (x: Tensor, s: number[]) => x.view(s),
    ref: (x: RefTensor, s: number[]) => ({ shape: s, data: x.data.slice() }),
    samples: (g) => [{ args: [g.t([3, 4]), [4, 3]] }, { args: [g.t([2, 3, 2]), [12]] }],
    errors: [{ args: () => [zeros([3, 4]), [5, 2]], error: SelfsupError, message: 'for view(shape)' }],
  },
  {
    name: 't',
    fn: (x: Tensor) => x.t(),
    ref: (x: RefTensor) => (x.shape.length < 2 ? { shape: x.shape, data: x.data.slice() } : refPermute(x, [1, 0])),
    samples: (g) => [{ args: [g.t([7, 59])], gradcheck: false }, { args: [g.t([3, 4])] }, { args: [g.t([5])] }],
    errors: [{ args: () => [zeros([2, 3, 4])], error: RangeError, message: 'Expected a tensor with at most 2 dims for t(this) but received shape [2, 3, 4]' }],
  },
  {
    name: 'contiguous',
    fn: (x: Tensor) => x.contiguous(),
    ref: (x: RefTensor) => ({ shape: x.shape, data: x.data.slice() }),
    samples: (g) => [{ args: [g.t([3, 4])] }],
  },
  {
    name: 'clone',
    fn: (x) => clone(x),
    ref: (x: RefTensor) => ({ shape: x.shape, data: x.data.slice() }),
    samples: (g) => [{ args: [g.t([3, 4])] }, { args: [g.t([0, 2])] }, { args: [g.t([])] }],
    errors: [{ args: () => [[1, 2]], error: TypeError, message: 'for clone(x)' }],
  },
  {
    name: 'split',
    fn: (x, s, d) => splitOp(x, s, d),
    ref: (x: RefTensor, s: number | number[], dim: number) => {
      const d = dim < 0 ? dim + x.shape.length : dim, n = x.shape[d];
      const sizes = Array.isArray(s) ? s : Array.from({ length: Math.ceil(n / s) }, (_, i) => Math.min(s, n - i * s));
      let start = 0;
      return sizes.map((len) => { const r = refSlice(x, d, start, 1, len); start += len; return r; });
    },
    samples: (g) => [{ args: [g.t([7, 5]), 3, 0] }, { args: [g.t([4, 6]), [1, 2, 3], 1] }, { args: [g.t([3, 4]), 4, -1] }],
    errors: [{ args: () => [zeros([4]), [1, 2], 0], error: RangeError, message: 'for split(splitSize)' }],
  },
  {
    name: 'chunk',
    fn: (x, c, d) => chunk(x, c, d),
    ref: (x: RefTensor, c: number, d: number) => {
      const n = x.shape[d], each = Math.ceil(n / c);
      const out: RefTensor[] = [];
      for (let start = 0; start < n; start += each) out.push(refSlice(x, d, start, 1, Math.min(each, n - start)));
      return out;
    },
    samples: (g) => [{ args: [g.t([7, 5]), 3, 0] }, { args: [g.t([4, 6]), 2, 1] }],
    errors: [{ args: () => [zeros([4]), 0, 0], error: RangeError, message: 'for chunk(chunks)' }],
  },
  {
    name: 'narrow',
    fn: (x, d, s, l) => narrow(x, d, s, l),
    ref: (x: RefTensor, d: number, s: number, l: number) => refSlice(x, d, s, 1, l),
    samples: (g) => [{ args: [g.t([113]), 0, 5, 7] }, { args: [g.t([4, 6]), 1, 2, 3] }, { args: [g.t([3, 5]), 0, 1, 0] }],
    errors: [{ args: () => [zeros([4]), 0, 2, 5], error: RangeError, message: 'for narrow(length) but received 5' }],
  },
  {
    name: 'slice',
    fn: (x, d, s, e, st) => slice(x, d, s, e, st),
    ref: (x: RefTensor, d: number, s: number, e: number, st: number) => {
      const n = x.shape[d];
      const a = Math.min(Math.max(s < 0 ? s + n : s, 0), n), b = Math.min(Math.max(e < 0 ? e + n : e, 0), n);
      return refSlice(x, d, a, st, b > a ? Math.ceil((b - a) / st) : 0);
    },
    samples: (g) => [{ args: [g.t([113]), 0, 3, -5, 7] }, { args: [g.t([4, 6]), 1, -4, 100, 2] }, { args: [g.t([3, 5]), 0, 2, 1, 1] }],
    errors: [{ args: () => [zeros([4]), 0, 0, 2, 0], error: RangeError, message: 'for slice(step)' }],
  },
  {
    name: 'cat',
    fn: (ts, d) => cat(ts, d),
    ref: (ts: RefTensor[], d: number) => refCat(ts, d < 0 ? d + ts[0].shape.length : d),
    samples: (g) => [
      { args: [[g.t([2, 3]), g.t([4, 3]), g.t([0, 3])], 0] },
      { args: [[g.t([2, 1, 3]), g.t([2, 5, 3])], 1] },
      { args: [[g.t([3, 2]), g.t([3, 1])], -1] },
    ],
    errors: [
      { args: () => [[zeros([2, 3]), zeros([2, 4])], 0], error: SelfsupError, message: 'Expected a shape matching [2, 3] except in dim 0 for cat(tensors[1]) but received [2, 4]' },
      { args: () => [[zeros([2]), zeros([2], { dtype: 'float64' })], 0], error: SelfsupError, message: 'for cat(tensors[1])', code: 'ERR_DTYPE_MISMATCH' },
      { args: () => [[], 0], error: TypeError, message: 'for cat(tensors)' },
    ],
  },
  {
    name: 'stack',
    fn: (ts, d) => stack(ts, d),
    ref: (ts: RefTensor[], d: number) => {
      const us = ts.map((t) => ({ shape: [...t.shape.slice(0, d), 1, ...t.shape.slice(d)], data: t.data }));
      return refCat(us, d);
    },
    samples: (g) => [{ args: [[g.t([2, 3]), g.t([2, 3]), g.t([2, 3])], 1] }, { args: [[g.t([4]), g.t([4])], 0] }],
    errors: [{ args: () => [[zeros([2]), zeros([3])], 0], error: SelfsupError, message: 'for stack(tensors[1])' }],
  },
];

const refFlip = (x: RefTensor, dims: number[] | number): RefTensor => {
  const ds = ([] as number[]).concat(dims).map((d) => (d < 0 ? d + x.shape.length : d));
  return refIndexMap(x, x.shape, (idx) => idx.map((v, d) => (ds.includes(d) ? x.shape[d] - 1 - v : v)));
};
const refRepeat = (x: RefTensor, sizes: number[]): RefTensor => {
  const lead = sizes.length - x.shape.length;
  const shape = sizes.map((r, i) => r * (i < lead ? 1 : x.shape[i - lead]));
  return refIndexMap(x, shape, (idx) => idx.slice(lead).map((v, d) => v % x.shape[d]));
};
const refTri = (lower: boolean) => (x: RefTensor, k = 0): RefTensor => {
  const n = x.shape.length;
  return refIndexMap(x, x.shape, (idx) => ((lower ? idx[n - 1] - idx[n - 2] <= k : idx[n - 1] - idx[n - 2] >= k) ? idx : null));
};
const triRow = (name: 'tril' | 'triu', fn: typeof tril): OpRow => ({
  name,
  fn: (x, k) => fn(x, k),
  ref: refTri(name === 'tril'),
  samples: (g) => [
    { args: [g.t([5, 7]), 0] },
    { args: [g.t([2, 4, 3]), -1] },
    { args: [g.t([3, 6]), 2] },
    { args: [g.t([4, 4]), 10] },
    { args: [g.t([4, 4]), -10] },
    { label: 'size-1 and empty', args: [g.t([1, 0, 3]), 1] },
    { args: [g.t([59, 61]), 0], gradcheck: false },
  ],
  errors: [
    { args: () => [zeros([3]), 0], error: RangeError, message: `Expected a tensor with at least 2 dims (a batch of matrices) for ${name}(x) but received shape [3]` },
    { args: () => [zeros([3, 3]), 0.5], error: RangeError, message: `for ${name}(diagonal) but received 0.5` },
  ],
});

rows.push(
  {
    name: 'flip',
    fn: (x, d) => flip(x, d),
    ref: refFlip,
    samples: (g) => [
      { args: [g.t([7]), 0] },
      { args: [g.t([3, 4, 5]), [0, 2]] },
      { args: [g.t([2, 3, 4]), -1] },
      { args: [g.t([2, 1, 3]), [0, 1, 2]] },
      { label: 'empty', args: [g.t([0, 3]), 1] },
      { args: [g.t([11, 13, 7]), [1]], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 3]), [0, 0]], error: RangeError, message: 'Expected distinct dims for flip(dims)' },
      { args: () => [zeros([2, 3]), 2], error: RangeError, message: 'for flip(dims) but received 2' },
      { args: () => [zeros([2, 3]), undefined], error: TypeError, message: 'for flip(dims)' },
    ],
  },
  {
    name: 'repeat',
    fn: (x, s) => repeat(x, s),
    method: (x: Tensor, s: number[]) => x.repeat(...s),
    ref: refRepeat,
    samples: (g) => [
      { args: [g.t([3]), [2]] },
      { args: [g.t([2, 3]), [2, 1]] },
      { args: [g.t([2, 3]), [3, 1, 2]] },
      { args: [g.t([1, 4]), [2, 2]] },
      { label: 'zero repeats', args: [g.t([2, 3]), [0, 2]] },
      { label: 'scalar', args: [g.t([]), [2, 3]] },
      { args: [g.t([17, 9]), [3, 4]], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([2, 3]), [2]], error: RangeError, message: 'Expected at least 2 sizes (one per dim of [2, 3]) for repeat(sizes)' },
      { args: () => [zeros([2]), [-1]], error: RangeError, message: 'for repeat(sizes[0]) but received -1' },
    ],
  },
  {
    name: 'repeat-array-arg',
    op: ['repeat'],
    fn: (x: Tensor, s: number[]) => x.repeat(s),
    ref: refRepeat,
    samples: (g) => [{ args: [g.t([2, 3]), [1, 2]] }],
  },
  triRow('tril', tril),
  triRow('triu', triu),
  {
    name: 'T',
    fn: (x: Tensor) => x.T,
    ref: (x: RefTensor) => refPermute(x, x.shape.map((_, i) => x.shape.length - 1 - i)),
    samples: (g) => [
      { args: [g.t([3, 4])] },
      { args: [g.t([2, 3, 4])] },
      { args: [g.t([5])] },
      { args: [g.t([])] },
      { args: [g.t([0, 3])] },
      { args: [g.t([31, 17])], gradcheck: false },
    ],
  },
);
