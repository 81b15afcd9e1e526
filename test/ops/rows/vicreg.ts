/**
 * Op-table rows for F.vicreg, F.varianceLoss, F.covarianceLoss and F.barlowTwins. References are
 * the plain float64 d x d formulas (lib/backends/reference-vicreg.ts). Both covariance paths (Gram
 * n x n and direct d x d) are rows of their own and must equal the same reference.
 */
import { SelfsupError } from '../../../lib/errors';
import { zeros } from '../../../lib/factories';
import { refBarlowTwins, refCovarianceLoss, refVarianceLoss, refVicregTerms } from '../../../lib/backends/reference-vicreg';
import { barlowTwins, covarianceLoss, varianceLoss, vicreg } from '../../../lib/ops/vicreg';
import type { OpRow } from '../op-db';
import type { RefTensor } from '../helpers';

const s = (v: number): RefTensor => ({ shape: [], data: Float64Array.of(v) });

function refVicreg(x: RefTensor, y: RefTensor, o: { simCoeff?: number; stdCoeff?: number; covCoeff?: number; eps?: number } = {}) {
  const [n, d] = x.shape;
  const t = refVicregTerms(x.data, y.data, n, d, o.eps ?? 1e-4);
  const loss = (o.simCoeff ?? 25) * t.invariance + (o.stdCoeff ?? 25) * t.variance + (o.covCoeff ?? 1) * t.covariance;
  return { loss: s(loss), invariance: s(t.invariance), variance: s(t.variance), covariance: s(t.covariance) };
}

/** Values with a spread around 1 so some feature stds are below 1 (hinge active) and some above. */
const spread = { min: -2, max: 2 };

const shapeErrors = (op: string) => [
  { label: 'N < 2', args: () => [zeros([1, 4]), zeros([1, 4]), {}], error: RangeError, message: `Expected at least 2 rows (the variance over the batch needs N >= 2) for ${op}` },
  { label: 'shape mismatch', args: () => [zeros([4, 3]), zeros([4, 2]), {}], error: SelfsupError, message: `for ${op}(` },
  { label: 'rank', args: () => [zeros([4]), zeros([4]), {}], error: SelfsupError, message: 'Expected a 2-D tensor [N, D]' },
  { label: 'covPath', args: () => [zeros([4, 3]), zeros([4, 3]), { covPath: 'fast' }], error: RangeError, message: `for ${op}(options.covPath)` },
];

export const rows: OpRow[] = [
  {
    name: 'vicreg',
    fn: (x, y, o) => vicreg(x, y, o),
    ref: refVicreg,
    samples: (g) => [
      { label: 'gram (N<D)', args: [g.t([5, 7], spread), g.t([5, 7], spread), { covPath: 'gram' }] },
      { label: 'direct (N<D)', args: [g.t([5, 7], spread), g.t([5, 7], spread), { covPath: 'direct' }] },
      { label: 'auto N>D coeffs', args: [g.t([9, 4], spread), g.t([9, 4], spread), { simCoeff: 1, stdCoeff: 2, covCoeff: 3, eps: 1e-3 }] },
      { label: 'N=7 D=1000 gram', args: [g.t([7, 1000]), g.t([7, 1000]), {}], gradcheck: false },
      { label: 'N=7 D=1000 direct', args: [g.t([7, 1000]), g.t([7, 1000]), { covPath: 'direct' }], gradcheck: false },
      { label: 'N=300 D=129 direct', args: [g.t([300, 129]), g.t([300, 129]), {}], gradcheck: false },
      { label: 'N=300 D=129 gram', args: [g.t([300, 129]), g.t([300, 129]), { covPath: 'gram' }], gradcheck: false },
    ],
    tol: { float32: [1e-4, 1e-4] },
    errors: [
      ...shapeErrors('vicreg'),
      { label: 'simCoeff', args: () => [zeros([4, 3]), zeros([4, 3]), { simCoeff: -1 }], error: RangeError, message: 'for vicreg(options.simCoeff) but received -1' },
    ],
  },
  {
    name: 'varianceLoss',
    fn: (x, o) => varianceLoss(x, o),
    ref: (x: RefTensor, o: { eps?: number } = {}) => s(refVarianceLoss(x.data, x.shape[0], x.shape[1], o.eps ?? 1e-4)),
    samples: (g) => [
      { args: [g.t([6, 5], spread), {}] },
      { args: [g.t([2, 3], { min: -0.5, max: 0.5 }), { eps: 1e-2 }] },
      { label: 'N=300 D=129', args: [g.t([300, 129]), {}], gradcheck: false },
    ],
    errors: [
      { label: 'N < 2', args: () => [zeros([1, 4]), {}], error: RangeError, message: 'for varianceLoss(x) but received [1, 4]' },
      { label: 'eps', args: () => [zeros([3, 4]), { eps: -1 }], error: RangeError, message: 'for varianceLoss(options.eps) but received -1' },
    ],
  },
  {
    name: 'covarianceLoss',
    fn: (x, o) => covarianceLoss(x, o),
    ref: (x: RefTensor) => s(refCovarianceLoss(x.data, x.shape[0], x.shape[1])),
    samples: (g) => [
      { label: 'gram', args: [g.t([4, 9]), { covPath: 'gram' }] },
      { label: 'direct', args: [g.t([4, 9]), { covPath: 'direct' }] },
      { label: 'auto N>D', args: [g.t([8, 3]), {}] },
      { label: 'gram N>D', args: [g.t([8, 3]), { covPath: 'gram' }] },
      { label: 'N=7 D=1000', args: [g.t([7, 1000]), {}], gradcheck: false },
    ],
    tol: { float32: [1e-5, 2e-4] },
    errors: [{ label: 'N < 2', args: () => [zeros([1, 4])], error: RangeError, message: 'for covarianceLoss(x) but received [1, 4]' }],
  },
  {
    name: 'barlowTwins',
    fn: (a, b, o) => barlowTwins(a, b, o),
    ref: (a: RefTensor, b: RefTensor, o: { lambda?: number; eps?: number } = {}) =>
      s(refBarlowTwins(a.data, b.data, a.shape[0], a.shape[1], o.lambda ?? 0.0051, o.eps ?? 1e-5).loss),
    samples: (g) => [
      { label: 'gram', args: [g.t([5, 7]), g.t([5, 7]), { covPath: 'gram', lambda: 0.1 }] },
      { label: 'direct', args: [g.t([5, 7]), g.t([5, 7]), { covPath: 'direct', lambda: 0.1 }] },
      { label: 'auto N>D', args: [g.t([8, 3]), g.t([8, 3]), {}] },
      { label: 'N=7 D=1000', args: [g.t([7, 1000]), g.t([7, 1000]), {}], gradcheck: false },
      { label: 'N=300 D=129', args: [g.t([300, 129]), g.t([300, 129]), {}], gradcheck: false },
    ],
    tol: { float32: [1e-4, 2e-4] },
    errors: [
      ...shapeErrors('barlowTwins'),
      { label: 'lambda', args: () => [zeros([4, 3]), zeros([4, 3]), { lambda: NaN }], error: RangeError, message: 'for barlowTwins(options.lambda) but received NaN' },
    ],
  },
];
