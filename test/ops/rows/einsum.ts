import { SelfsupError, einsum, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import { size, unravel, type RefTensor } from '../helpers';

/** Reference einsum: a loop over every assignment of every index, summing the products. */
function refEinsum(eq: string, ...ts: RefTensor[]): RefTensor {
  const [lhs, rhs] = eq.replace(/\s/g, '').split('->');
  const terms = lhs.split(',');
  const dims = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((c, d) => dims.set(c, ts[i].shape[d])));
  const once = [...dims.keys()].filter((c) => terms.join('').split(c).length === 2).sort();
  const out = rhs === undefined ? once : [...rhs];
  const letters = [...dims.keys()];
  const sizes = letters.map((c) => dims.get(c)!);
  const shape = out.map((c) => dims.get(c)!);
  const res = new Float64Array(size(shape));
  const flat = (t: string, v: Map<string, number>, sh: number[]) => [...t].reduce((a, c, d) => a * sh[d] + v.get(c)!, 0);
  for (let i = 0; i < size(sizes); i++) {
    const idx = unravel(i, sizes);
    const v = new Map(letters.map((c, j) => [c, idx[j]]));
    let p = 1;
    terms.forEach((t, k) => (p *= ts[k].data[flat(t, v, ts[k].shape)]));
    res[flat(out.join(''), v, shape)] += p;
  }
  return { shape, data: res };
}

export const rows: OpRow[] = [
  {
    name: 'einsum',
    fn: (eq: string, ...ts) => einsum(eq, ...ts),
    ref: refEinsum,
    samples: (g) => [
      { label: 'matmul', args: ['ij,jk->ik', g.t([3, 4]), g.t([4, 5])] },
      { label: 'bmm', args: ['bij,bjk->bik', g.t([2, 3, 4]), g.t([2, 4, 2])] },
      { label: 'a b^T', args: ['ik,jk->ij', g.t([3, 4]), g.t([5, 4])] },
      { label: 'row dots', args: ['ij,ij->i', g.t([4, 6]), g.t([4, 6])] },
      { label: 'outer', args: ['i,j->ij', g.t([4]), g.t([5])] },
      { label: 'attention scores', args: ['bhnd,bhmd->bhnm', g.t([2, 2, 3, 4]), g.t([2, 2, 5, 4])] },
      { label: 'similarity', args: ['nc,mc->nm', g.t([3, 6]), g.t([4, 6])] },
      { label: 'output permuted', args: ['bij,bjk->kbi', g.t([2, 3, 4]), g.t([2, 4, 3])] },
      { label: 'summed free index', args: ['ij,jk->k', g.t([3, 4]), g.t([4, 2])] },
      { label: 'batch in the middle', args: ['ibj,jbk->bik', g.t([3, 2, 4]), g.t([4, 2, 5])] },
      { label: 'full contraction', args: ['ij,ij->', g.t([3, 4]), g.t([3, 4])] },
      { label: 'implicit output', args: ['ij,jk', g.t([3, 4]), g.t([4, 2])] },
      { label: 'spaces', args: [' ij , jk -> ki ', g.t([2, 3]), g.t([3, 2])] },
      { label: 'one operand: transpose', args: ['ij->ji', g.t([3, 4])] },
      { label: 'one operand: row sums', args: ['ij->i', g.t([3, 4])] },
      { label: 'size-1 dims', args: ['bij,bjk->bik', g.t([1, 1, 4]), g.t([1, 4, 1])] },
      { label: 'empty contraction', args: ['ij,jk->ik', g.t([3, 0]), g.t([0, 2])] },
      { label: 'empty batch', args: ['bij,bjk->bik', g.t([0, 2, 3]), g.t([0, 3, 2])] },
      { label: 'large', args: ['bhnd,bhmd->bhnm', g.t([2, 3, 17, 8]), g.t([2, 3, 13, 8])], gradcheck: false },
    ],
    errors: [
      { label: 'repeated index', args: () => ['ii,ij->j', zeros([2, 2]), zeros([2, 3])], error: RangeError, message: "Expected distinct indices within operand 0 (a repeated index, a diagonal or trace, is not supported) for einsum(equation) but received 'ii'" },
      { label: 'ellipsis', args: () => ['...ij,...jk->...ik', zeros([2, 2]), zeros([2, 2])], error: RangeError, message: 'Expected an equation without ellipsis (... is not supported) for einsum(equation)' },
      { label: 'three operands', args: () => ['ij,jk,kl->il', zeros([2, 2]), zeros([2, 2]), zeros([2, 2])], error: RangeError, message: 'Expected one or two operands (contract larger products pairwise) for einsum(equation) but received 3 operands' },
      { label: 'operand count', args: () => ['ij,jk->ik', zeros([2, 2])], error: RangeError, message: 'Expected 2 operands' },
      { label: 'rank', args: () => ['ij,jk->ik', zeros([2, 2, 2]), zeros([2, 2])], error: SelfsupError, message: "Expected a 2-D tensor (term 'ij') for einsum(operands[0]) but received [2, 2, 2]", code: 'ERR_SHAPE_MISMATCH' },
      { label: 'sizes', args: () => ['ij,jk->ik', zeros([2, 3]), zeros([4, 2])], error: SelfsupError, message: "Expected size 3 for index 'j'", code: 'ERR_SHAPE_MISMATCH' },
      { label: 'unknown output', args: () => ['ij,jk->iz', zeros([2, 3]), zeros([3, 2])], error: RangeError, message: "received 'z' in" },
      { label: 'bad letter', args: () => ['i1,1k->ik', zeros([2, 3]), zeros([3, 2])], error: RangeError, message: 'Expected index letters a-z or A-Z' },
      { label: 'dtype', args: () => ['ij,jk->ik', zeros([2, 3]), zeros([3, 2], { dtype: 'float64' })], error: SelfsupError, message: 'for einsum(operands[1])', code: 'ERR_DTYPE_MISMATCH' },
      { label: 'equation type', args: () => [3, zeros([2])], error: TypeError, message: 'for einsum(equation)' },
    ],
  },
];
