/**
 * Op-table rows for F.koleo. The reference is the definition in float64 with plain loops: every
 * pairwise dot product (no GEMM, no blocking), the first maximum as the neighbour.
 */
import { SelfsupError, koleo, tensor, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import type { RefTensor } from '../helpers';

function refKoLeo(x: RefTensor, o: { eps?: number } = {}): RefTensor {
  const [n, d] = x.shape;
  const eps = o.eps ?? 1e-8;
  const xn = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x.data[i * d + k] ** 2;
    for (let k = 0; k < d; k++) xn[i * d + k] = x.data[i * d + k] / Math.max(Math.sqrt(s), eps);
  }
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let best = -Infinity, nn = -1;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += xn[i * d + k] * xn[j * d + k];
      if (dot > best) { best = dot; nn = j; }
    }
    let s = 0;
    for (let k = 0; k < d; k++) s += (xn[i * d + k] - xn[nn * d + k] + eps) ** 2;
    loss -= Math.log(Math.sqrt(s) + eps) / n;
  }
  return { shape: [], data: Float64Array.of(loss) };
}

export const rows: OpRow[] = [
  {
    name: 'koleo',
    fn: (x, o) => koleo(x, o),
    ref: refKoLeo,
    samples: (g) => [
      { label: '2x3', args: [g.t([2, 3]), {}] },
      { label: '7x5', args: [g.t([7, 5]), {}] },
      { label: 'eps', args: [g.t([5, 4]), { eps: 1e-3 }] },
      // more rows than one GEMM block (256): the neighbour search crosses blocks
      { label: '300x17', args: [g.t([300, 17]), {}], gradcheck: false },
      { label: 'large-magnitude', args: [g.t([6, 3], { min: -1e6, max: 1e6 }), {}] },
    ],
    errors: [
      { args: () => [zeros([1, 4])], error: RangeError, message: 'Expected at least 2 rows (each row needs a neighbour) for koleo(x) but received [1, 4]' },
      { args: () => [zeros([2, 3, 4])], error: SelfsupError, message: 'for koleo(x)', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' })], error: TypeError, message: 'for koleo(x)' },
      { args: () => [zeros([3, 2]), { eps: -1 }], error: RangeError, message: 'for koleo(options.eps)' },
      { args: () => [zeros([3, 2]), { epsilon: 1 }], error: TypeError, message: 'for koleo(options)' },
    ],
  },
];
