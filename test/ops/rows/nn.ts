import { SelfsupError, batchNorm, cosineSimilarity, dropout, layerNorm, logSoftmax, normalize, softmax, zeros, ones } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { uniformFloat32 } from '../../../lib/random';
import { split, bshape, unravel, bindex, size, type RefTensor } from '../helpers';

function refSoftmax(x: RefTensor, dim: number, log: boolean): RefTensor {
  const d = dim < 0 ? dim + x.shape.length : dim;
  const { outer, size: n, inner } = split(x.shape, d);
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x.data[(o * n + j) * inner + i]);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x.data[(o * n + j) * inner + i] - m);
    for (let j = 0; j < n; j++) {
      const k = (o * n + j) * inner + i;
      out[k] = log ? x.data[k] - m - Math.log(s) : Math.exp(x.data[k] - m) / s;
    }
  }
  return { shape: x.shape, data: out };
}

const softmaxSamples = (g: import('../helpers').Gen) => [
  { args: [g.t([7, 59]), -1], gradcheck: false },
  { args: [g.t([3, 5]), 1] },
  { args: [g.t([2, 3, 4]), 1] },
  { args: [g.t([113], { min: -30, max: 30 }), 0], gradcheck: false },
  { args: [g.t([4, 1]), 1] },
];

export const rows: OpRow[] = [
  {
    name: 'softmax',
    fn: (x, d) => softmax(x, d),
    ref: (x: RefTensor, d: number) => refSoftmax(x, d, false),
    samples: softmaxSamples,
    errors: [{ args: () => [zeros([2, 3]), 2], error: RangeError, message: 'Expected an integer in [-2, 1] for softmax(dim) but received 2' }],
  },
  {
    name: 'logSoftmax',
    fn: (x, d) => logSoftmax(x, d),
    ref: (x: RefTensor, d: number) => refSoftmax(x, d, true),
    samples: softmaxSamples,
    errors: [{ args: () => [zeros([2], { dtype: 'int32' }), 0], error: TypeError, message: 'for logSoftmax(x)' }],
  },
  {
    name: 'layerNorm',
    fn: (x, ns, o) => layerNorm(x, ns, o),
    ref: (x: RefTensor, ns: number[], o: { weight?: RefTensor; bias?: RefTensor; eps?: number }) => {
      const n = ns.reduce((a, b) => a * b, 1), eps = o.eps ?? 1e-5;
      const out = new Float64Array(x.data.length);
      for (let r = 0; r < x.data.length / n; r++) {
        let m = 0;
        for (let j = 0; j < n; j++) m += x.data[r * n + j] / n;
        let v = 0;
        for (let j = 0; j < n; j++) v += (x.data[r * n + j] - m) ** 2 / n;
        for (let j = 0; j < n; j++) out[r * n + j] = ((x.data[r * n + j] - m) / Math.sqrt(v + eps)) * (o.weight ? o.weight.data[j] : 1) + (o.bias ? o.bias.data[j] : 0);
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([3, 5]), [5], { weight: g.t([5]), bias: g.t([5]) }] },
      { args: [g.t([2, 3, 4]), [3, 4], { weight: g.t([3, 4]) }] },
      { args: [g.t([4, 6]), [6], {}] },
      { args: [g.t([113, 59]), [59], { weight: g.t([59]), bias: g.t([59]), eps: 1e-3 }], gradcheck: false },
      { args: [g.t([1, 7]), [7], { bias: g.t([7]) }] },
    ],
    tol: { float32: [1e-4, 1e-4] },
    errors: [
      { args: () => [zeros([3, 5]), [4], {}], error: SelfsupError, message: 'Expected an input whose trailing dims are [4] for layerNorm(x) but received [3, 5]' },
      { args: () => [zeros([3, 5]), [5], { weight: zeros([4]) }], error: SelfsupError, message: 'for layerNorm(options.weight) but received [4]' },
    ],
  },
  {
    name: 'batchNorm-train',
    op: ['batchNorm'],
    fn: (x, o) => batchNorm(x, null, null, { ...o, training: true }),
    ref: (x: RefTensor, o: { weight?: RefTensor; bias?: RefTensor; eps?: number }) => {
      const [N, C] = x.shape, L = x.data.length / (N * C), eps = o.eps ?? 1e-5;
      const out = new Float64Array(x.data.length);
      for (let c = 0; c < C; c++) {
        let m = 0, v = 0;
        for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) m += x.data[(n * C + c) * L + l] / (N * L);
        for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) v += (x.data[(n * C + c) * L + l] - m) ** 2 / (N * L);
        for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) {
          const k = (n * C + c) * L + l;
          out[k] = ((x.data[k] - m) / Math.sqrt(v + eps)) * (o.weight ? o.weight.data[c] : 1) + (o.bias ? o.bias.data[c] : 0);
        }
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([6, 3]), { weight: g.t([3]), bias: g.t([3]) }] },
      { args: [g.t([2, 3, 4]), { weight: g.t([3]) }] },
      { args: [g.t([113, 5]), {}], gradcheck: false },
    ],
    tol: { float32: [1e-4, 1e-4] },
    errors: [
      { args: () => [zeros([1, 3]), {}], error: RangeError, message: 'Expected more than 1 value per channel when training for batchNorm(x)' },
      { args: () => [zeros([4]), {}], error: SelfsupError, message: 'for batchNorm(x) but received [4]' },
    ],
  },
  {
    name: 'batchNorm-eval',
    op: ['batchNorm'],
    fn: (x, rm, rv, o) => batchNorm(x, rm, rv, o),
    ref: (x: RefTensor, rm: RefTensor, rv: RefTensor, o: { weight?: RefTensor; bias?: RefTensor }) => {
      const [N, C] = x.shape, L = x.data.length / (N * C);
      const out = new Float64Array(x.data.length);
      for (let k = 0; k < out.length; k++) {
        const c = Math.floor(k / L) % C;
        out[k] = ((x.data[k] - rm.data[c]) / Math.sqrt(rv.data[c] + 1e-5)) * (o.weight ? o.weight.data[c] : 1) + (o.bias ? o.bias.data[c] : 0);
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [
      { args: [g.t([4, 3, 2]), g.t([3], { grad: false }), g.t([3], { min: 0.5, max: 2, grad: false }), { weight: g.t([3]), bias: g.t([3]) }] },
      { args: [g.t([1, 2]), g.t([2], { grad: false }), g.t([2], { min: 0.5, max: 2, grad: false }), {}] },
    ],
    errors: [{ args: () => [zeros([2, 3]), null, null, {}], error: TypeError, message: 'for batchNorm(runningMean)' }],
  },
  {
    name: 'dropout',
    fn: (x, p) => dropout(x, p, { seed: 1234 }),
    ref: (x: RefTensor, p: number) => {
      // The mask is Philox stream 2 of seed 1234: element i kept when uniform >= p (lib/random.ts).
      const u = uniformFloat32(1234, 2, 0, x.data.length);
      return { shape: x.shape, data: x.data.map((v, i) => (u[i] >= p ? v / (1 - p) : 0)) };
    },
    samples: (g) => [{ args: [g.t([113]), 0.3] }, { args: [g.t([7, 9]), 0.5], gradcheck: false }, { args: [g.t([2, 3]), 0] }],
    errors: [{ args: () => [zeros([2]), 1.5], error: RangeError, message: 'Expected a number <= 1 for dropout(p) but received 1.5' }],
  },
  {
    name: 'cosineSimilarity',
    fn: (a, b, o) => cosineSimilarity(a, b, o),
    ref: (a: RefTensor, b: RefTensor, o: { dim?: number; eps?: number }) => {
      const shape = bshape(a.shape, b.shape), eps = o.eps ?? 1e-8;
      const d = (o.dim ?? 1) < 0 ? (o.dim ?? 1) + shape.length : o.dim ?? 1;
      const outShape = shape.filter((_, i) => i !== d);
      const out = new Float64Array(size(outShape));
      const dot = new Float64Array(out.length), n1 = new Float64Array(out.length), n2 = new Float64Array(out.length);
      for (let i = 0; i < size(shape); i++) {
        const idx = unravel(i, shape);
        const oi = bindex(idx.filter((_, j) => j !== d), outShape);
        const x = a.data[bindex(idx, a.shape)], y = b.data[bindex(idx, b.shape)];
        dot[oi] += x * y; n1[oi] += x * x; n2[oi] += y * y;
      }
      for (let i = 0; i < out.length; i++) out[i] = dot[i] / (Math.max(Math.sqrt(n1[i]), eps) * Math.max(Math.sqrt(n2[i]), eps));
      return { shape: outShape, data: out };
    },
    samples: (g) => [
      { args: [g.t([4, 5]), g.t([4, 5]), {}] },
      { args: [g.t([3, 6]), g.t([1, 6]), { dim: 1 }] },
      { args: [g.t([2, 3, 2]), g.t([2, 3, 2]), { dim: -1 }] },
      { args: [g.t([113, 7]), g.t([113, 7]), {}], gradcheck: false },
    ],
    errors: [{ args: () => [zeros([3, 4]), zeros([2, 4]), {}], error: SelfsupError, message: 'Expected shapes broadcastable with [3, 4] for cosineSimilarity(x2) but received [2, 4]' }],
  },
  {
    name: 'normalize',
    fn: (x, o) => normalize(x, o),
    ref: (x: RefTensor, o: { p?: number; dim?: number; eps?: number }) => {
      const p = o.p ?? 2, eps = o.eps ?? 1e-12;
      const d = (o.dim ?? 1) < 0 ? (o.dim ?? 1) + x.shape.length : o.dim ?? 1;
      const { outer, size: n, inner } = split(x.shape, d);
      const out = new Float64Array(x.data.length);
      for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.abs(x.data[(a * n + j) * inner + i]) ** p;
        const nrm = Math.max(s ** (1 / p), eps);
        for (let j = 0; j < n; j++) out[(a * n + j) * inner + i] = x.data[(a * n + j) * inner + i] / nrm;
      }
      return { shape: x.shape, data: out };
    },
    samples: (g) => [{ args: [g.t([4, 5]), {}] }, { args: [g.t([3, 4, 2]), { dim: -1, p: 1 }] }, { args: [g.t([113, 7]), { dim: 0 }], gradcheck: false }],
    errors: [{ args: () => [ones([3]), { p: 0 }], error: RangeError, message: 'for normalize(options.p) but received 0' }],
  },
];
