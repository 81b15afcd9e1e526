/** Op-table rows of the tokens family: gatherTokens (+ positions, shared table), scatterTokens, stochasticPositions. */
import { SelfsupError } from '../../../lib/errors';
import { gatherTokens, scatterTokens, stochasticPositions } from '../../../lib/ops/tokens';
import { Tensor } from '../../../lib/tensor';
import { normalFloat32 } from '../../../lib/random';
import type { OpRow } from '../op-db';
import type { Gen, RefTensor, TSpec } from '../helpers';

/** int32 index spec whose rows hold distinct values (scatter needs unique indices). */
function uniqueIdx(g: Gen, B: number, K: number, N: number): TSpec {
  const v = new Int32Array(B * K);
  for (let b = 0; b < B; b++) {
    const perm = Array.from({ length: N }, (_, i) => i);
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(g.next() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let k = 0; k < K; k++) v[b * K + k] = perm[k];
  }
  return { __spec: true, shape: [B, K], kind: 'int32', values: v, grad: false };
}

function refGather(x: RefTensor, idx: RefTensor, o?: { addPositions?: RefTensor }): RefTensor {
  const shared = x.shape.length === 2;
  const [N, D] = x.shape.slice(-2);
  const [B, K] = idx.shape;
  const out = new Float64Array(B * K * D);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) {
    const n = Number(idx.data[b * K + k]);
    for (let d = 0; d < D; d++) {
      out[(b * K + k) * D + d] = x.data[(shared ? 0 : b * N * D) + n * D + d] + (o?.addPositions ? o.addPositions.data[n * D + d] : 0);
    }
  }
  return { shape: [B, K, D], data: out };
}

function refScatter(src: RefTensor, idx: RefTensor, N: number, o?: { maskToken?: RefTensor }): RefTensor {
  const [B, K, D] = src.shape;
  const out = new Float64Array(B * N * D);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) out[(b * N + n) * D + d] = o?.maskToken ? o.maskToken.data[d] : 0;
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) {
    const n = Number(idx.data[b * K + k]);
    for (let d = 0; d < D; d++) out[(b * N + n) * D + d] = src.data[(b * K + k) * D + d];
  }
  return { shape: [B, N, D], data: out };
}

/** StoP written out: pos[idx] + W (std z) + bias with z the Philox normals of (seed, stream (3<<24)|b, k*Din+i). */
function refStoP(pos: RefTensor, idx: RefTensor, o: { std?: number; seed: number; projection: { weight: RefTensor; bias?: RefTensor } }): RefTensor {
  const [, Dp] = pos.shape;
  const [B, K] = idx.shape;
  const W = o.projection.weight, Din = W.shape[1];
  const std = o.std ?? 0.25;
  const out = new Float64Array(B * K * Dp);
  for (let b = 0; b < B; b++) {
    const z = normalFloat32(o.seed, (3 << 24) + b, 0, K * Din);
    for (let k = 0; k < K; k++) {
      const n = Number(idx.data[b * K + k]);
      for (let j = 0; j < Dp; j++) {
        let s = pos.data[n * Dp + j] + (o.projection.bias ? o.projection.bias.data[j] : 0);
        for (let i = 0; i < Din; i++) s += W.data[j * Din + i] * std * z[k * Din + i];
        out[(b * K + k) * Dp + j] = s;
      }
    }
  }
  return { shape: [B, K, Dp], data: out };
}

const idxT = (v: number[], shape: number[]) => new Tensor(Int32Array.from(v), shape);
const x3 = () => new Tensor(new Float32Array(2 * 5 * 3).fill(0.5), [2, 5, 3]);

export const rows: OpRow[] = [
  {
    name: 'gatherTokens',
    fn: (x, idx, o) => gatherTokens(x, idx, o),
    ref: refGather,
    samples: (g) => [
      { label: 'repeats', args: [g.t([2, 5, 3]), g.int([2, 7], 5)] },
      { label: 'addPositions', args: [g.t([2, 5, 3]), g.int([2, 4], 5), { addPositions: g.t([5, 3]) }] },
      { label: 'shared table', args: [g.t([6, 4]), g.int([3, 5], 6)] },
      { label: 'awkward', args: [g.t([3, 113, 59]), g.int([3, 31], 113), { addPositions: g.t([113, 59]) }], gradcheck: false },
      { label: 'empty K', args: [g.t([2, 5, 3]), g.int([2, 0], 5)] , gradcheck: false },
    ],
    errors: [
      { label: 'index too large', args: () => [x3(), idxT([0, 1, 2, 5], [2, 2])], error: RangeError, message: 'for idx but received 5 at idx[1, 1] (batch row 1, position 1)' },
      { label: 'negative index', args: () => [x3(), idxT([0, -1, 2, 3], [2, 2])], error: RangeError, message: 'received -1 at idx[0, 1]' },
      { label: 'float index', args: () => [x3(), new Tensor(new Float32Array(4), [2, 2])], error: TypeError, message: 'for gatherTokens(idx)' },
      { label: 'batch mismatch', args: () => [x3(), idxT([0, 1, 2], [3, 1])], error: SelfsupError, message: 'for gatherTokens(idx)', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'pos shape', args: () => [x3(), idxT([0, 1], [2, 1]), { addPositions: new Tensor(new Float32Array(4), [2, 2]) }], error: SelfsupError, message: 'for gatherTokens(options.addPositions)' },
    ],
  },
  {
    name: 'scatterTokens',
    fn: (src, idx, N, o) => scatterTokens(src, idx, N, o),
    ref: refScatter,
    samples: (g) => [
      { label: 'zeros', args: [g.t([2, 3, 4]), uniqueIdx(g, 2, 3, 6), 6] },
      { label: 'mask token', args: [g.t([2, 3, 3]), uniqueIdx(g, 2, 3, 7), 7, { maskToken: g.t([1, 1, 3]) }] },
      { label: 'awkward', args: [g.t([3, 29, 59]), uniqueIdx(g, 3, 29, 113), 113, { maskToken: g.t([59]) }], gradcheck: false },
    ],
    errors: [
      { label: 'duplicate', args: () => [x3(), idxT([0, 1, 2, 3, 3, 4, 0, 1, 2, 3], [2, 5]), 5], error: SelfsupError, message: 'Expected unique indices within each row for idx but received 3 twice in batch row 0', code: 'ERR_INVALID_ARGUMENT' },
      { label: 'out of range', args: () => [x3(), idxT([0, 1, 2, 3, 4, 0, 1, 2, 3, 9], [2, 5]), 5], error: RangeError, message: 'idx[1, 4] (batch row 1, position 4)' },
      { label: 'tokens', args: () => [x3(), idxT([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [2, 5]), -1], error: RangeError, message: 'for scatterTokens(tokens)' },
    ],
  },
  {
    name: 'stochasticPositions',
    fn: (pos, idx, o) => stochasticPositions(pos, idx, o),
    ref: refStoP,
    samples: (g) => [
      { label: 'small', args: [g.t([5, 3]), g.int([2, 3], 5), { std: 0.25, seed: 7, projection: { weight: g.t([3, 4]), bias: g.t([3]) } }] },
      { label: 'no bias', args: [g.t([4, 2]), g.int([2, 2], 4), { std: 0.5, seed: 11, projection: { weight: g.t([2, 3]) } }] },
      { label: 'awkward', args: [g.t([113, 59]), g.int([3, 41], 113), { std: 0.2, seed: 1, projection: { weight: g.t([59, 37]), bias: g.t([59]) } }], gradcheck: false },
    ],
    tol: { float32: [1e-4, 1e-4] },
    errors: [
      { label: 'weight shape', args: () => [new Tensor(new Float32Array(6), [3, 2]), idxT([0, 1], [1, 2]), { projection: { weight: new Tensor(new Float32Array(6), [3, 2]) } }], error: SelfsupError, message: 'for stochasticPositions(options.projection.weight)' },
      { label: 'no projection', args: () => [new Tensor(new Float32Array(6), [3, 2]), idxT([0, 1], [1, 2]), { seed: 1 }], error: TypeError, message: 'Expected an nn.Linear or { weight, bias } for stochasticPositions(options.projection)' },
      { label: 'bad index', args: () => [new Tensor(new Float32Array(6), [3, 2]), idxT([0, 3], [1, 2]), { projection: { weight: new Tensor(new Float32Array(4), [2, 2]) } }], error: RangeError, message: 'received 3 at idx[0, 1] (batch row 0, position 1)' },
    ],
  },
];
