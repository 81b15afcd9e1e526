/**
 * In-place arithmetic (`add_`, `sub_`, `mul_`, `div_`, `lerp_`), as PyTorch's: `other` broadcasts to
 * the tensor's own shape, the result is written into its storage (one native pass; the loops are
 * the reference backend's), and the storage's version is bumped so a graph that saved the tensor
 * refuses to backprop through the stale value. Not recorded by autograd: use them on tensors
 * that do not require grad, or under noGrad (parameter and EMA-target updates).
 */
import { bumpVersion } from '../autograd/version';
import { selfsupError, shapeStr, typeError } from '../errors';
import type { Tensor } from '../tensor';
import { binaryOperands, broadcastShapes, broadcastStrides, checkFloat, contiguousStrides, forEachRow, sameShape } from './common';
import * as nc from './native-core';

type Op = 'add_' | 'sub_' | 'mul_' | 'div_';

export function binary(op: Op, self: Tensor, other: Tensor | number, alpha: number): void {
  checkFloat(op, 'this', self);
  if (typeof alpha !== 'number') throw typeError('a number', `${op}(alpha)`, alpha);
  const [, B0] = binaryOperands(op, self, other);
  const out = broadcastShapes(op, 'other', self.shape, B0.shape);
  if (!sameShape(out, self.shape)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape that broadcasts to ${shapeStr(self.shape)} (the tensor's own)`, `${op}(other)`, shapeStr(B0.shape));
  }
  let B = B0;
  // alpha folds into other first (a scaled copy: PyTorch's add_(other, alpha=a) is self + a * other).
  if (alpha !== 1 && (op === 'add_' || op === 'sub_')) {
    const scaled = new (B0.data.constructor as Float32ArrayConstructor)(B0.data.length);
    if (!nc.unary('affine', B0.data, scaled, alpha, 0)) for (let i = 0; i < scaled.length; i++) scaled[i] = B0.data[i] * alpha;
    B = { data: scaled, shape: B0.shape } as Tensor;
  }
  const name = op === 'add_' ? 'add' : op === 'sub_' ? 'sub' : op === 'mul_' ? 'mul' : 'div';
  if (!nc.binary(name, self.data, self.shape, self.data, self.shape, B.data, B.shape)) {
    const d = self.data, bd = B.data;
    forEachRow(self.shape, [contiguousStrides(self.shape), broadcastStrides(B.shape, self.shape)], (o, n, s) => {
      const oo = o[0], bo = o[1], bs = s[1];
      for (let i = 0; i < n; i++) {
        const x = d[oo + i], y = bd[bo + i * bs];
        d[oo + i] = name === 'add' ? x + y : name === 'sub' ? x - y : name === 'mul' ? x * y : x / y;
      }
    });
  }
  bumpVersion(self.data);
}

/** self += weight * (end - self), end of the same shape (broadcasting too). */
export function lerp(self: Tensor, end: Tensor, weight: number): void {
  checkFloat('lerp_', 'this', self);
  if (typeof weight !== 'number') throw typeError('a number', 'lerp_(weight)', weight);
  const [, E] = binaryOperands('lerp_', self, end);
  const out = broadcastShapes('lerp_', 'end', self.shape, E.shape);
  if (!sameShape(out, self.shape)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape that broadcasts to ${shapeStr(self.shape)} (the tensor's own)`, 'lerp_(end)', shapeStr(E.shape));
  }
  const diff = new (self.data.constructor as Float32ArrayConstructor)(self.data.length);
  if (nc.binary('sub', diff, self.shape, E.data, E.shape, self.data, self.shape) && nc.axpy(self.data, diff, weight)) {
    bumpVersion(self.data);
    return;
  }
  const d = self.data, ed = E.data;
  forEachRow(self.shape, [contiguousStrides(self.shape), broadcastStrides(E.shape, self.shape)], (o, n, s) => {
    for (let i = 0; i < n; i++) d[o[0] + i] += weight * (ed[o[1] + i * s[1]] - d[o[0] + i]);
  });
  bumpVersion(self.data);
}
