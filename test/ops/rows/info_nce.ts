/**
 * Op-table rows for F.infoNCE. The reference is the plain float64 full-matrix one
 * (lib/backends/reference-info_nce.ts: every similarity, boolean masks, per-row log-sum-exp).
 */
import { SelfsupError } from '../../../lib/errors';
import { tensor, zeros } from '../../../lib/factories';
import { refInfoNCEForward } from '../../../lib/backends/reference-info_nce';
import { infoNCE } from '../../../lib/ops/info_nce';
import type { OpRow } from '../op-db';
import type { RefTensor } from '../helpers';

interface RefOpts {
  temperature?: number; normalize?: boolean; direction?: string; decoupled?: boolean;
  labels?: RefTensor; negatives?: RefTensor; reduction?: string;
}

function ref(z1: RefTensor, z2: RefTensor, o: RefOpts = {}): RefTensor {
  const [n, d] = z1.shape;
  const r = refInfoNCEForward({
    z1: z1.data as Float64Array, z2: z2.data as Float64Array,
    negatives: o.negatives ? (o.negatives.data as Float64Array) : null,
    labels: o.labels ? Int32Array.from(o.labels.data) : null,
    n, d, m: o.negatives ? o.negatives.shape[0] : 0,
    temperature: o.temperature ?? 0.1, normalize: o.normalize ?? true,
    both: (o.direction ?? 'both') === 'both', decoupled: o.decoupled ?? false,
  });
  if (o.reduction === 'none') return { shape: [r.losses.length], data: r.losses };
  const s = r.losses.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.of(o.reduction === 'sum' ? s : s / r.losses.length) };
}

export const rows: OpRow[] = [
  {
    name: 'infoNCE',
    fn: (z1, z2, o) => infoNCE(z1, z2, o),
    ref,
    samples: (g) => [
      { label: 'ntxent', args: [g.t([4, 5]), g.t([4, 5]), {}] },
      { label: 'tau0.5-sum', args: [g.t([3, 6]), g.t([3, 6]), { temperature: 0.5, reduction: 'sum' }] },
      { label: 'none-unnormalized', args: [g.t([3, 4]), g.t([3, 4]), { normalize: false, temperature: 2, reduction: 'none' }] },
      { label: 'oneWay', args: [g.t([4, 5]), g.t([4, 5]), { direction: 'oneWay' }] },
      { label: 'decoupled', args: [g.t([4, 5]), g.t([4, 5]), { decoupled: true }] },
      { label: 'labels', args: [g.t([5, 4]), g.t([5, 4]), { labels: g.int([5], 2) }] },
      { label: 'labels-decoupled-oneWay', args: [g.t([5, 4]), g.t([5, 4]), { labels: g.int([5], 3), decoupled: true, direction: 'oneWay', negatives: g.t([3, 4], { grad: false }) }] },
      { label: 'negatives', args: [g.t([4, 5]), g.t([4, 5]), { negatives: g.t([6, 5], { grad: false }) }] },
      { label: 'tau0.01', args: [g.t([4, 5]), g.t([4, 5]), { temperature: 0.01 }] },
      // Awkward sizes, forward only: several key tiles, partial SIMD tails.
      { label: 'N=7 D=1000', args: [g.t([7, 1000]), g.t([7, 1000]), {}], gradcheck: false },
      { label: 'N=300 D=129 negatives', args: [g.t([300, 129]), g.t([300, 129]), { negatives: g.t([257, 129], { grad: false }), temperature: 0.2 }], gradcheck: false },
      { label: 'N=300 D=129 labels decoupled', args: [g.t([300, 129]), g.t([300, 129]), { labels: g.int([300], 37), decoupled: true }], gradcheck: false },
    ],
    tol: { float32: [1e-5, 1e-4] },
    gradcheck: { atol: 1e-6, rtol: 1e-4 },
    errors: [
      { label: 'shape mismatch', args: () => [zeros([4, 3]), zeros([4, 2]), {}], error: SelfsupError, message: 'for infoNCE(z2) but received [4, 2]' },
      { label: 'rows mismatch', args: () => [zeros([4, 3]), zeros([5, 3]), {}], error: SelfsupError, message: 'Expected shape [4, 3] (the shape of z1) for infoNCE(z2)' },
      { label: '1-D', args: () => [zeros([4]), zeros([4]), {}], error: SelfsupError, message: 'for infoNCE(z1) but received [4]' },
      { label: 'dtype mismatch', args: () => [zeros([4, 3]), zeros([4, 3], { dtype: 'float64' }), {}], error: SelfsupError, message: 'for infoNCE(z2)' },
      { label: 'temperature 0', args: () => [zeros([4, 3]), zeros([4, 3]), { temperature: 0 }], error: RangeError, message: 'Expected a number > 0 for infoNCE(options.temperature) but received 0' },
      { label: 'temperature < 0', args: () => [zeros([4, 3]), zeros([4, 3]), { temperature: -0.1 }], error: RangeError, message: 'for infoNCE(options.temperature) but received -0.1' },
      { label: 'temperature NaN', args: () => [zeros([4, 3]), zeros([4, 3]), { temperature: NaN }], error: RangeError, message: 'for infoNCE(options.temperature) but received NaN' },
      { label: 'temperature string', args: () => [zeros([4, 3]), zeros([4, 3]), { temperature: '0.1' }], error: TypeError, message: 'for infoNCE(options.temperature)' },
      { label: 'labels length', args: () => [zeros([4, 3]), zeros([4, 3]), { labels: tensor([0, 1, 2], null, { dtype: 'int32' }) }], error: SelfsupError, message: 'Expected labels of shape [4] (one per row of z1) for infoNCE(options.labels) but received [3]' },
      { label: 'labels dtype', args: () => [zeros([4, 3]), zeros([4, 3]), { labels: zeros([4]) }], error: TypeError, message: 'Expected a int32 Tensor for infoNCE(options.labels)' },
      { label: 'negatives width', args: () => [zeros([4, 3]), zeros([4, 3]), { negatives: zeros([5, 2]) }], error: SelfsupError, message: 'for infoNCE(options.negatives) but received [5, 2]' },
      { label: 'direction', args: () => [zeros([4, 3]), zeros([4, 3]), { direction: 'twoWay' }], error: RangeError, message: "Expected 'both' | 'oneWay' for infoNCE(options.direction)" },
      { label: 'reduction', args: () => [zeros([4, 3]), zeros([4, 3]), { reduction: 'avg' }], error: RangeError, message: 'for infoNCE(options.reduction)' },
      { label: 'decoupled without negatives', args: () => [zeros([1, 3]), zeros([1, 3]), { decoupled: true }], error: RangeError, message: 'for infoNCE(options.decoupled)' },
    ],
  },
];
