import { SelfsupError, embedding, gather, indexSelect, scatterAdd, tensor, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { split, unravel, type RefTensor } from '../helpers';

const offsetOf = (idx: number[], shape: number[]) => idx.reduce((o, v, d) => o * shape[d] + v, 0);

export const rows: OpRow[] = [
  {
    name: 'gather',
    fn: (x, d, i) => gather(x, d, i),
    ref: (x: RefTensor, d: number, index: RefTensor) => {
      const out = new Float64Array(index.data.length);
      for (let p = 0; p < out.length; p++) {
        const idx = unravel(p, index.shape);
        idx[d] = index.data[p];
        out[p] = x.data[offsetOf(idx, x.shape)];
      }
      return { shape: index.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([3, 5]), 1, g.int([3, 4], 5)] },
      { args: [g.t([4, 3]), 0, g.int([2, 3], 4)] },
      { args: [g.t([2, 3, 4]), 2, g.int([2, 2, 6], 4)] },
      { args: [g.t([113, 7]), 1, g.int([113, 2], 7)] },
    ],
    errors: [
      { args: () => [zeros([3, 5]), 1, tensor([[7]], null, { dtype: 'int32' })], error: RangeError, message: 'Expected indices in [0, 5) for gather(index) but received 7 at position [0, 0]' },
      { args: () => [zeros([3, 5]), 1, zeros([3, 1])], error: TypeError, message: 'for gather(index)' },
      { args: () => [zeros([3, 5]), 1, tensor([1, 2], null, { dtype: 'int32' })], error: SelfsupError, message: 'for gather(index)' },
    ],
  },
  {
    name: 'indexSelect',
    fn: (x, d, i) => indexSelect(x, d, i),
    ref: (x: RefTensor, d: number, index: RefTensor) => {
      const { outer, size, inner } = split(x.shape, d);
      const k = index.data.length;
      const out = new Float64Array(outer * k * inner);
      for (let o = 0; o < outer; o++) for (let j = 0; j < k; j++) for (let i = 0; i < inner; i++) out[(o * k + j) * inner + i] = x.data[(o * size + index.data[j]) * inner + i];
      const shape = x.shape.slice();
      shape[d] = k;
      return { shape, data: out };
    },
    samples: (g) => [{ args: [g.t([5, 3]), 0, g.int([7], 5)] }, { args: [g.t([2, 6, 2]), 1, g.int([3], 6)] }, { args: [g.t([4, 3]), 1, g.int([0], 3)] }],
    errors: [{ args: () => [zeros([3]), 0, tensor([-1], null, { dtype: 'int32' })], error: RangeError, message: 'for indexSelect(index) but received -1 at position 0' }],
  },
  {
    name: 'scatterAdd',
    fn: (x, d, i, s) => scatterAdd(x, d, i, s),
    ref: (x: RefTensor, d: number, index: RefTensor, src: RefTensor) => {
      const out = Float64Array.from(x.data);
      for (let p = 0; p < index.data.length; p++) {
        const idx = unravel(p, index.shape);
        const sv = src.data[offsetOf(idx, src.shape)];
        idx[d] = index.data[p];
        out[offsetOf(idx, x.shape)] += sv;
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([3, 5]), 1, g.int([3, 4], 5), g.t([3, 4])] },
      { args: [g.t([4, 3]), 0, g.int([6, 2], 4), g.t([6, 3])] },
    ],
    errors: [{ args: () => [zeros([3, 5]), 1, zeros([3, 4], { dtype: 'int32' }), zeros([3, 2])], error: SelfsupError, message: 'for scatterAdd(index)' }],
  },
  {
    name: 'embedding',
    fn: (i, w) => embedding(i, w),
    ref: (index: RefTensor, w: RefTensor) => {
      const D = w.shape[1];
      const out = new Float64Array(index.data.length * D);
      for (let j = 0; j < index.data.length; j++) for (let k = 0; k < D; k++) out[j * D + k] = w.data[index.data[j] * D + k];
      return { shape: [...index.shape, D], data: out };
    },
    samples: (g) => [{ args: [g.int([2, 3], 5), g.t([5, 4])] }, { args: [g.int([113], 7), g.t([7, 3])], gradcheck: false }, { args: [g.int([], 3), g.t([3, 2])] }],
    errors: [{ args: () => [tensor([3], null, { dtype: 'int32' }), zeros([3, 2])], error: RangeError, message: 'Expected indices in [0, 3) for embedding(input) but received 3 at position 0' }],
  },
];
