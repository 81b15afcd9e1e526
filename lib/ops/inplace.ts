/**
 * In-place arithmetic (`add_`, `sub_`, `mul_`, `div_`, `lerp_`), as PyTorch's: `other` broadcasts to
 * the tensor's own shape and, of any dtype, casts into the tensor's (lerp_'s `end` must have the
 * tensor's dtype, as in PyTorch); the result is written into its storage (one native pass; the
 * loops are the reference backend's), and the storage's version is bumped so a graph that saved the tensor
 * refuses to backprop through the stale value. Not recorded by autograd: use them on tensors
 * that do not require grad, or under noGrad (parameter and EMA-target updates).
 */
import { bumpVersion } from '../autograd/version';
import { selfsupError, shapeStr, typeError } from '../errors';
import { Tensor, isFloatingDType } from '../tensor';
import { binaryOperands, broadcastShapes, broadcastStrides, checkFloat, checkTensor, contiguousStrides, forEachRow, sameShape, toCuda } from './common';
import { toDtype } from './shape';
import * as nc from './native-core';

type Op = 'add_' | 'sub_' | 'mul_' | 'div_';

/**
 * `other` of an in-place op on the float tensor `self`. PyTorch computes in the promoted dtype and
 * casts the result into self, which every other dtype allows here: a float64 other stays float64
 * (the loop computes in double and rounds once into self, like PyTorch's cast of its float64
 * result); int32, bool and float32 others take self's dtype, the dtype PyTorch computes in.
 */
function otherOperand(op: Op, self: Tensor, other: unknown): Tensor {
  if (!(other instanceof Tensor)) return binaryOperands(op, self, other)[1]; // a number: a scalar of self's dtype
  checkTensor(op, 'other', other);
  const o = other.device === self.device ? other : sameDeviceAs(op, 'other', self, other);
  return o.dtype === self.dtype || o.dtype === 'float64' ? o : toDtype(o, self.dtype);
}

/**
 * `other` of an in-place op on a tensor of another device: a 0-dim cpu tensor moves to 'cuda'
 * (PyTorch's cpu scalars), anything else is ERR_DEVICE_MISMATCH naming the argument.
 */
function sameDeviceAs(op: string, arg: string, self: Tensor, other: Tensor): Tensor {
  if (self.device === 'cuda' && other.ndim === 0) return toCuda(other, isFloatingDType(other.dtype) ? self.dtype : other.dtype);
  throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${self.device}' (the device of this)`, `${op}(${arg})`, `a Tensor on '${other.device}'`);
}

export function binary(op: Op, self: Tensor, other: Tensor | number, alpha: number): void {
  checkFloat(op, 'this', self);
  if (typeof alpha !== 'number') throw typeError('a number', `${op}(alpha)`, alpha);
  const B0 = otherOperand(op, self, other);
  const out = broadcastShapes(op, 'other', self.shape, B0.shape);
  if (!sameShape(out, self.shape)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape that broadcasts to ${shapeStr(self.shape)} (the tensor's own)`, `${op}(other)`, shapeStr(B0.shape));
  }
  let B = B0;
  // alpha folds into other first (a scaled copy: PyTorch's add_(other, alpha=a) is self + a * other).
  if (alpha !== 1 && (op === 'add_' || op === 'sub_') && self.device === 'cuda') {
    B = new Tensor(nc.outArray(B0.dtype, B0.numel(), 'cuda'), B0.shape);
    nc.unary('affine', B0.data, B.data, alpha, 0);
  } else if (alpha !== 1 && (op === 'add_' || op === 'sub_')) {
    const scaled = new (B0.data.constructor as Float32ArrayConstructor)(B0.data.length);
    if (!nc.unary('affine', B0.data, scaled, alpha, 0)) for (let i = 0; i < scaled.length; i++) scaled[i] = B0.data[i] * alpha;
    B = { data: scaled, shape: B0.shape, dtype: B0.dtype } as Tensor;
  }
  const name = op === 'add_' ? 'add' : op === 'sub_' ? 'sub' : op === 'mul_' ? 'mul' : 'div';
  // The native pass wants one dtype; a float64 other into float32 runs the double-precision loop.
  if (B.dtype !== self.dtype || !nc.binary(name, self.data, self.shape, self.data, self.shape, B.data, B.shape)) {
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
  if (end instanceof Tensor && end.device !== self.device) end = sameDeviceAs('lerp_', 'end', self, end);
  const [, E] = binaryOperands('lerp_', self, end);
  const out = broadcastShapes('lerp_', 'end', self.shape, E.shape);
  if (!sameShape(out, self.shape)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape that broadcasts to ${shapeStr(self.shape)} (the tensor's own)`, 'lerp_(end)', shapeStr(E.shape));
  }
  // On 'cuda' both device passes always run (the out-of-place sub, then axpy into self).
  const diff = self.device === 'cuda' ? nc.outArray(self.dtype, self.numel(), 'cuda') : new (self.data.constructor as Float32ArrayConstructor)(self.data.length);
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
