import { SelfsupError, bmm, linear, matmul, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { bshape, size, type RefTensor } from '../helpers';

/** torch.matmul semantics written out with loops: promote 1-D, broadcast batch, then contract. */
function refMatmul(a: RefTensor, b: RefTensor): RefTensor {
  const A = a.shape.length === 1 ? { shape: [1, a.shape[0]], data: a.data } : a;
  const B = b.shape.length === 1 ? { shape: [b.shape[0], 1], data: b.data } : b;
  const m = A.shape[A.shape.length - 2], k = A.shape[A.shape.length - 1], n = B.shape[B.shape.length - 1];
  const ba = A.shape.slice(0, -2), bb = B.shape.slice(0, -2);
  const batch = bshape(ba, bb);
  const nb = size(batch);
  const out = new Float64Array(nb * m * n);
  for (let t = 0; t < nb; t++) {
    const idx: number[] = [];
    let r = t;
    for (let d = batch.length - 1; d >= 0; d--) { idx.unshift(r % batch[d]); r = Math.floor(r / batch[d]); }
    const off = (bs: number[]) => {
      let o = 0;
      for (let d = 0; d < bs.length; d++) o = o * bs[d] + (bs[d] === 1 ? 0 : idx[d + batch.length - bs.length]);
      return o;
    };
    const ao = off(ba) * m * k, bo = off(bb) * k * n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A.data[ao + i * k + p] * B.data[bo + p * n + j];
      out[t * m * n + i * n + j] = s;
    }
  }
  let shape = [...batch, m, n];
  if (a.shape.length === 1) shape = shape.filter((_, i) => i !== shape.length - 2);
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  return { shape, data: out };
}

const TOL32: [number, number] = [1e-4, 1e-4];

export const rows: OpRow[] = [
  {
    name: 'matmul',
    fn: (a, b) => matmul(a, b),
    ref: refMatmul,
    samples: (g) => [
      { label: '2d-awkward', args: [g.t([113, 59]), g.t([59, 7])], gradcheck: false },
      { label: '2d', args: [g.t([5, 3]), g.t([3, 4])] },
      { label: 'dot', args: [g.t([7]), g.t([7])] },
      { label: 'mv', args: [g.t([3, 4]), g.t([4])] },
      { label: 'vm', args: [g.t([4]), g.t([4, 3])] },
      { label: 'batched-2d', args: [g.t([2, 3, 4]), g.t([4, 2])] },
      { label: 'bcast-batch', args: [g.t([2, 1, 3, 2]), g.t([3, 2, 2])] },
      { label: '2d-batched', args: [g.t([3, 2]), g.t([2, 2, 3])] },
      { label: 'k-empty', args: [g.t([3, 0]), g.t([0, 2])] },
      { label: 'size1', args: [g.t([1, 5]), g.t([5, 1])] },
    ],
    tol: { float32: TOL32 },
    errors: [
      { args: () => [zeros([2, 3]), zeros([4, 5])], error: SelfsupError, message: 'matches the last dim of [2, 3] (3) for matmul(b) but received [4, 5]', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [zeros([2, 3]), zeros([3], { dtype: 'float64' })], error: SelfsupError, message: 'for matmul(b)', code: 'ERR_DTYPE_MISMATCH' },
      { args: () => [zeros([]), zeros([3])], error: RangeError, message: 'for matmul(a)' },
      { args: () => [zeros([2, 2, 3]), zeros([3, 3, 2])], error: SelfsupError, message: 'Expected shapes broadcastable with [2] for matmul(b) but received [3]' },
    ],
  },
  {
    name: 'bmm',
    fn: (a, b) => bmm(a, b),
    ref: refMatmul,
    samples: (g) => [
      { args: [g.t([2, 3, 4]), g.t([2, 4, 2])] },
      { args: [g.t([3, 13, 7]), g.t([3, 7, 5])], gradcheck: false },
      { label: 'empty batch', args: [g.t([0, 3, 4]), g.t([0, 4, 2])] },
      { label: 'empty inner dim', args: [g.t([2, 3, 0]), g.t([2, 0, 2])] },
    ],
    tol: { float32: TOL32 },
    errors: [{ args: () => [zeros([2, 3, 4]), zeros([3, 4, 2])], error: SelfsupError, message: 'for bmm(b) but received [3, 4, 2]' }],
  },
  {
    name: 'linear',
    fn: (x, w, b) => linear(x, w, b),
    ref: (x: RefTensor, w: RefTensor, b: RefTensor | null) => {
      const [out, inF] = w.shape;
      const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const y = new Float64Array(rows * out);
      for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) {
        let s = b ? b.data[o] : 0;
        for (let i = 0; i < inF; i++) s += x.data[r * inF + i] * w.data[o * inF + i];
        y[r * out + o] = s;
      }
      return { shape: [...x.shape.slice(0, -1), out], data: y };
    },
    samples: (g) => [
      { args: [g.t([4, 3]), g.t([2, 3]), g.t([2])] },
      { label: 'no-in-features', args: [g.t([2, 3, 0]), g.t([4, 0]), g.t([4])] },
      { args: [g.t([2, 3, 3]), g.t([4, 3]), null] },
      { args: [g.t([3]), g.t([2, 3]), g.t([2])] },
      { args: [g.t([113, 59]), g.t([7, 59]), g.t([7])], gradcheck: false },
    ],
    tol: { float32: TOL32 },
    errors: [
      { args: () => [zeros([4, 3]), zeros([2, 4]), null], error: SelfsupError, message: 'Expected a last dim of 4 (weight is [2, 4]) for linear(x) but received [4, 3]' },
      { args: () => [zeros([4, 3]), zeros([2, 3]), zeros([3])], error: SelfsupError, message: 'Expected shape [2] for linear(bias) but received [3]' },
    ],
  },
];
