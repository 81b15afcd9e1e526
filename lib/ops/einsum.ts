/**
 * einsum for one or two operands, written as sum + permute + reshape + one bmm (the way
 * opt_einsum and torch.einsum lower a pairwise contraction): every index is a batch index (in
 * both operands and the output), a contracted index (in both, not in the output), a free index of
 * one operand (kept in the output), or an index of one operand alone that is summed out first.
 * The gradient comes from the composed ops (sum, permute, reshape, bmm).
 */
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import type { Tensor } from '../tensor';
import { checkFloat, checkSameDtype } from './common';
import { bmm } from './linalg';
import { sum } from './reduce';
import { permute, reshape } from './shape';

const LETTER = /^[a-zA-Z]$/;

function parseTerm(term: string, what: string): string[] {
  const letters = [...term];
  letters.forEach((c) => {
    if (!LETTER.test(c)) throw rangeError('index letters a-z or A-Z', `einsum(equation) ${what}`, `'${term}'`, true);
  });
  const seen = new Set<string>();
  for (const c of letters) {
    if (seen.has(c)) {
      throw rangeError(`distinct indices within ${what} (a repeated index, a diagonal or trace, is not supported)`, 'einsum(equation)', `'${term}'`, true);
    }
    seen.add(c);
  }
  return letters;
}

/** Reorders `x` (indexed by `have`) to `want`'s order, a permutation of `have`. */
function arrange(x: Tensor, have: string[], want: string[]): Tensor {
  return permute(x, want.map((c) => have.indexOf(c)));
}

/**
 * torch.einsum(equation, a) or (equation, a, b): e.g. 'ij,jk->ik' (matmul), 'bij,bjk->bik'
 * (bmm), 'ik,jk->ij' (a b^T), 'ij,ij->i' (row dots), 'i,j->ij' (outer), 'bhnd,bhmd->bhnm'
 * (attention scores), 'ij->ji'. Without '->', the output is the indices that appear once, in
 * alphabetical order. Not supported (clear errors): ellipsis, repeated indices within one operand,
 * more than two operands, and size-1 broadcasting between operands (sizes of an index must agree).
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  if (typeof equation !== 'string') throw typeError("an equation string such as 'ij,jk->ik'", 'einsum(equation)', equation);
  const eq = equation.replace(/\s+/g, '');
  if (eq.includes('.')) throw rangeError('an equation without ellipsis (... is not supported)', 'einsum(equation)', `'${equation}'`, true);
  const sides = eq.split('->');
  if (sides.length > 2) throw rangeError("at most one '->'", 'einsum(equation)', `'${equation}'`, true);
  const terms = sides[0].split(',');
  if (terms.length > 2) throw rangeError('one or two operands (contract larger products pairwise)', 'einsum(equation)', `${terms.length} operands in '${equation}'`, true);
  if (operands.length !== terms.length) {
    throw rangeError(`${terms.length} operand${terms.length > 1 ? 's' : ''} (one per term of '${equation}')`, 'einsum(operands)', `${operands.length}`, true);
  }
  operands.forEach((t, i) => {
    checkFloat('einsum', `operands[${i}]`, t);
    if (i > 0) checkSameDtype('einsum', `operands[${i}]`, t, operands[0], 'operands[0]');
  });
  const ins = terms.map((t, i) => parseTerm(t, `operand ${i}`));
  const size = new Map<string, number>();
  ins.forEach((letters, i) => {
    const x = operands[i];
    if (letters.length !== x.ndim) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a ${letters.length}-D tensor (term '${terms[i]}')`, `einsum(operands[${i}])`, shapeStr(x.shape));
    }
    letters.forEach((c, d) => {
      const s = size.get(c);
      if (s !== undefined && s !== x.shape[d]) {
        throw selfsupError('ERR_SHAPE_MISMATCH', `size ${s} for index '${c}' (its size in operands[0])`, `einsum(operands[${i}])`, shapeStr(x.shape));
      }
      size.set(c, x.shape[d]);
    });
  });
  const all = ins.flat();
  let out: string[];
  if (sides.length === 2) {
    out = parseTerm(sides[1], 'the output');
    for (const c of out) if (!size.has(c)) throw rangeError(`output indices that appear in an operand`, 'einsum(equation)', `'${c}' in '${equation}'`, true);
  } else {
    out = [...size.keys()].filter((c) => all.indexOf(c) === all.lastIndexOf(c)).sort();
  }

  // Indices of one operand that are neither in the other operand nor in the output: sum them out.
  const reduced = ins.map((letters, i) => {
    const other = ins[1 - i] ?? [];
    const drop = letters.map((c, d) => (!out.includes(c) && !other.includes(c) ? d : -1)).filter((d) => d >= 0);
    const x = drop.length ? sum(operands[i], drop) : operands[i];
    return { x, letters: letters.filter((_, d) => !drop.includes(d)) };
  });
  if (reduced.length === 1) return arrange(reduced[0].x, reduced[0].letters, out);

  const [A, B] = reduced;
  const batch = out.filter((c) => A.letters.includes(c) && B.letters.includes(c));
  const contr = A.letters.filter((c) => B.letters.includes(c) && !out.includes(c));
  const aFree = A.letters.filter((c) => !B.letters.includes(c));
  const bFree = B.letters.filter((c) => !A.letters.includes(c));
  const prod = (cs: string[]) => cs.reduce((p, c) => p * size.get(c)!, 1);
  const a3 = reshape(arrange(A.x, A.letters, [...batch, ...aFree, ...contr]), [prod(batch), prod(aFree), prod(contr)]);
  const b3 = reshape(arrange(B.x, B.letters, [...batch, ...contr, ...bFree]), [prod(batch), prod(contr), prod(bFree)]);
  const have = [...batch, ...aFree, ...bFree];
  const y = reshape(bmm(a3, b3), have.map((c) => size.get(c)!));
  return arrange(y, have, out);
}
