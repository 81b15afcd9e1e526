import { SelfsupError, Tensor, zeros } from '../../../lib/index';
import { msnLoss, sinkhorn, swavLoss } from '../../../lib/ops/sinkhorn';
import { priorMarginal } from '../../../lib/kernels/sinkhorn';
import { refMsnLoss, refSharpen, refSinkhorn, refSwavLoss } from '../../../lib/backends/reference-sinkhorn';
import type { OpRow } from '../op-db';
import type { RefTensor } from '../helpers';

type Opt = Record<string, unknown>;
const prior = (p: unknown, K: number): Float64Array => priorMarginal(p && typeof p === 'object' && 'data' in p ? (p as RefTensor).data : p, K);

function refCodes(s: RefTensor, o: Opt): Float64Array {
  const [B, K] = s.shape;
  return refSinkhorn(s.data as Float64Array, {
    B, K, probs: o.input === 'probs', epsilon: (o.epsilon as number) ?? 0.05, iterations: (o.iterations as number) ?? 3,
    tolerance: 0, col: prior(o.prior, K), row: o.rowMarginal ? ((o.rowMarginal as RefTensor).data as Float64Array) : null, wantError: false,
  }).out;
}

export const rows: OpRow[] = [
  {
    name: 'sinkhorn',
    fn: (s, o) => sinkhorn(s, o),
    ref: (s: RefTensor, o: Opt) => ({ shape: s.shape, data: refCodes(s, o) }),
    samples: (g) => [
      { label: 'swav', args: [g.t([113, 59]), {}] },
      { label: 'one-prototype', args: [g.t([7, 1]), {}] },
      { label: 'one-sample', args: [g.t([1, 5]), { iterations: 5 }] },
      { label: 'empty-batch', args: [g.t([0, 4]), {}] },
      { label: 'power-law', args: [g.t([31, 17]), { prior: { powerLaw: 0.25 }, epsilon: 0.1 }] },
      { label: 'prior-tensor+rows', args: [g.t([12, 5]), { prior: g.t([5], { min: 0.1, max: 1, grad: false }), rowMarginal: g.t([12], { min: 0.5, max: 2, grad: false }) }] },
      { label: 'probs', args: [g.probs([9, 6], 1), { input: 'probs', iterations: 4 }] },
    ],
    gradcheck: false,
    errors: [
      { args: () => [zeros([4, 0]), {}], error: RangeError, message: 'K >= 1 for sinkhorn(scores)' },
      { args: () => [zeros([4, 3]), { prior: new Tensor(Float32Array.of(1, 1), [2]) }], error: SelfsupError, message: 'for sinkhorn(options.prior) but received length 2', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [zeros([4, 3]), { prior: new Tensor(Float32Array.of(1, -1, 1), [3]) }], error: RangeError, message: 'for sinkhorn(options.prior) but received -1 at index 1' },
      { args: () => [zeros([4, 3]), { prior: new Tensor(new Float32Array(3), [3]) }], error: RangeError, message: 'normalizable prior' },
      { args: () => [zeros([4, 3]), { epsilon: 0 }], error: RangeError, message: 'for sinkhorn(options.epsilon) but received 0' },
      { args: () => [zeros([4, 3]), { epsilon: -0.5 }], error: RangeError, message: 'for sinkhorn(options.epsilon) but received -0.5' },
      { args: () => [zeros([4, 3]), { input: 'scores' }], error: RangeError, message: 'for sinkhorn(options.input)' },
      { args: () => [zeros([12]), {}], error: SelfsupError, message: 'for sinkhorn(scores) but received [12]' },
    ],
  },
  {
    name: 'swavLoss',
    fn: (s1, s2, o) => swavLoss(s1, s2, o),
    ref: (s1: RefTensor, s2: RefTensor, o: Opt) => {
      const [B, K] = s1.shape;
      const codes = o.codes as RefTensor[] | undefined;
      const q1 = codes ? codes[0].data : refCodes(s1, o), q2 = codes ? codes[1].data : refCodes(s2, o);
      return { shape: [], data: Float64Array.of(refSwavLoss(s1.data as Float64Array, s2.data as Float64Array, q1 as Float64Array, q2 as Float64Array, B, K, (o.temperature as number) ?? 0.1).loss) };
    },
    samples: (g) => [
      { label: 'swav', args: [g.t([113, 59]), g.t([113, 59]), {}], gradcheck: false },
      { label: 'power-law', args: [g.t([16, 9]), g.t([16, 9]), { prior: { powerLaw: 0.5 }, temperature: 0.2 }], gradcheck: false },
      { label: 'fixed-codes', args: [g.t([6, 5]), g.t([6, 5]), { codes: [{ ...g.probs([6, 5], 1), grad: false }, { ...g.probs([6, 5], 1), grad: false }], temperature: 0.5 }] },
    ],
    errors: [
      { args: () => [zeros([4, 3]), zeros([3, 4]), {}], error: SelfsupError, message: 'for swavLoss(scores2) but received [3, 4]' },
      { args: () => [zeros([4, 3]), zeros([4, 3]), { temperature: 0 }], error: RangeError, message: 'for swavLoss(options.temperature)' },
    ],
  },
  {
    name: 'msnLoss',
    fn: (a, t, o) => msnLoss(a, t, o),
    ref: (a: RefTensor, t: RefTensor, o: Opt) => {
      const [N, K] = a.shape, Bt = t.shape[0];
      const rho = prior(o.prior, K);
      const sharp = refSharpen(t.data as Float64Array, Bt, K, (o.temperature as number) ?? 0.25);
      const targets = o.sinkhorn === false ? sharp
        : refSinkhorn(sharp, { B: Bt, K, probs: true, epsilon: 1, iterations: 3, tolerance: 0, col: rho, row: null, wantError: false }).out;
      return { shape: [], data: Float64Array.of(refMsnLoss(a.data as Float64Array, targets, N, Bt, K, rho, (o.meMaxWeight as number) ?? 1).loss) };
    },
    samples: (g) => [
      { label: 'msn', args: [g.probs([8, 7], 1), { ...g.probs([4, 7], 1), grad: false }, {}] },
      { label: 'pmsn', args: [g.probs([6, 9], 1), { ...g.probs([6, 9], 1), grad: false }, { prior: { powerLaw: 0.25 } }] },
      { label: 'no-sinkhorn', args: [g.probs([5, 4], 1), { ...g.probs([5, 4], 1), grad: false }, { sinkhorn: false, meMaxWeight: 0.5 }] },
      { label: 'large', args: [g.probs([226, 59], 1), { ...g.probs([113, 59], 1), grad: false }, {}], gradcheck: false },
    ],
    errors: [
      { args: () => [zeros([6, 3]), zeros([4, 3]), {}], error: SelfsupError, message: 'for msnLoss(targetProbs) but received [4, 3]' },
      { args: () => [zeros([4, 3]), zeros([4, 3]), { prior: { powerLaw: -1 } }], error: RangeError, message: 'for msnLoss(options.prior.powerLaw)' },
    ],
  },
];
