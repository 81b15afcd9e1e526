/**
 * The device select: cond ? a : b on 'cuda' over the broadcast shape. The operands are expanded
 * (strided copies) and native/ops/where moves elements as bits, so an inf or NaN in the branch not
 * taken never reaches the result. Used by where, tril / triu, dropout and the masked losses.
 */
import { Tensor } from '../tensor';
import { broadcastShapes, expandRaw, sizeOf } from './common';
import * as nc from './native-core';

/** cond (bool) ? a : b, all on 'cuda'; a and b share a dtype. Not recorded. */
export function whereRaw(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes('where', 'b', broadcastShapes('where', 'a', cond.shape, a.shape), b.shape);
  const out = nc.outArray(a.dtype, sizeOf(shape), 'cuda');
  nc.whereDevice(expandRaw(cond, shape).data, expandRaw(a, shape).data, expandRaw(b, shape).data, out);
  return new Tensor(out, shape);
}
