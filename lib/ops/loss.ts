/**
 * Losses. crossEntropy is log-softmax + gather (PyTorch's decomposition: same numbers, and the
 * gradient comes out as softmax - onehot through the composed backward passes).
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, checkTensor, emptyLike, opts, optEnum, optNumber, sameShape } from './common';
import { add, mul, neg, square, sub } from './elementwise';
import { gather } from './indexing';
import { logSoftmax } from './nn-functional';
import { mean, sum } from './reduce';
import { squeeze, unsqueeze } from './shape';

export type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? sum(loss) : mean(loss);
}

export interface CrossEntropyOptions {
  /** Mixes the target with the uniform distribution: (1 - s) target + s / C (default 0). */
  labelSmoothing?: number;
  reduction?: Reduction;
}

/**
 * F.cross_entropy. input: logits [C], [N, C] or [N, C, d1, ...] (classes on dim 1). target: int32
 * class indices of the input's shape without the class dim, or float probabilities of the input's
 * shape. 'mean' averages over the N x d1 x ... positions (both target kinds, like PyTorch).
 */
export function crossEntropy(input: Tensor, target: Tensor, options?: CrossEntropyOptions): Tensor {
  checkFloat('crossEntropy', 'input', input);
  checkTensor('crossEntropy', 'target', target, ['int32', 'float32', 'float64']);
  const o = opts<CrossEntropyOptions>('crossEntropy', options, ['labelSmoothing', 'reduction']);
  const ls = optNumber('crossEntropy', 'options.labelSmoothing', o.labelSmoothing, 0, { min: 0, max: 1 });
  const reduction = optEnum('crossEntropy', 'options.reduction', o.reduction, REDUCTIONS, 'mean');
  if (input.ndim === 0) throw selfsupError('ERR_SHAPE_MISMATCH', 'logits of shape [C], [N, C] or [N, C, ...]', 'crossEntropy(input)', '[]');
  const cdim = input.ndim === 1 ? 0 : 1;
  const C = input.shape[cdim];
  const logp = logSoftmax(input, cdim);
  let loss: Tensor;
  if (target.dtype === 'int32') {
    const expected = input.shape.filter((_, i) => i !== cdim);
    if (!sameShape(target.shape, expected)) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `class indices of shape ${shapeStr(expected)} (input ${shapeStr(input.shape)} without the class dim)`, 'crossEntropy(target)', shapeStr(target.shape));
    }
    const td = target.data;
    for (let i = 0; i < td.length; i++) {
      if (td[i] < 0 || td[i] >= C) throw rangeError(`class indices in [0, ${C})`, 'crossEntropy(target)', `${td[i]} at position ${i}`, true);
    }
    const nll = neg(squeeze(gather(logp, cdim, unsqueeze(target, cdim)), cdim));
    // Smoothing: (1 - s) nll + s * mean_c(-logp), i.e. the cross-entropy with the smoothed target.
    loss = ls > 0 ? add(mul(nll, 1 - ls), mul(neg(mean(logp, cdim)), ls)) : nll;
  } else {
    checkSameDtype('crossEntropy', 'target', target, input, 'input');
    if (!sameShape(target.shape, input.shape)) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `probabilities of shape ${shapeStr(input.shape)} (the input's shape)`, 'crossEntropy(target)', shapeStr(target.shape));
    }
    const t = ls > 0 ? add(mul(target, 1 - ls), ls / C) : target;
    loss = neg(sum(mul(logp, t), cdim));
  }
  return reduce(loss, reduction);
}

function checkPair(op: string, input: Tensor, target: Tensor): void {
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  checkSameDtype(op, 'target', target, input, 'input');
  // PyTorch only warns on broadcasting here; a silently broadcast loss is almost always a bug.
  if (!sameShape(input.shape, target.shape)) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(input.shape)} (the input's shape)`, `${op}(target)`, shapeStr(target.shape));
}

/** Mean squared error (F.mse_loss). */
export function mse(input: Tensor, target: Tensor, options?: { reduction?: Reduction }): Tensor {
  checkPair('mse', input, target);
  const reduction = optEnum('mse', 'options.reduction', opts<{ reduction: Reduction }>('mse', options, ['reduction']).reduction, REDUCTIONS, 'mean');
  return reduce(square(sub(input, target)), reduction);
}

const SmoothL1Fn = defineFunction({
  name: 'SmoothL1',
  forward(ctx, d: Tensor, beta: number) {
    const y = emptyLike(d), dd = d.data, yd = y.data;
    for (let i = 0; i < dd.length; i++) {
      const a = Math.abs(dd[i]);
      yd[i] = a < beta ? (0.5 * a * a) / beta : a - 0.5 * beta;
    }
    ctx.save(d);
    ctx.beta = beta;
    return y;
  },
  backward(ctx, g) {
    const [d] = ctx.saved;
    const beta: number = ctx.beta;
    const gx = emptyLike(g), dd = d.data;
    for (let i = 0; i < dd.length; i++) {
      const v = dd[i];
      gx.data[i] = g.data[i] * (Math.abs(v) < beta ? v / beta : v > 0 ? 1 : v < 0 ? -1 : 0);
    }
    return [gx];
  },
});

/** Huber-style smooth L1 (F.smooth_l1_loss): 0.5 d^2 / beta where |d| < beta, else |d| - beta / 2. beta 0 is L1. */
export function smoothL1(input: Tensor, target: Tensor, options?: { beta?: number; reduction?: Reduction }): Tensor {
  checkPair('smoothL1', input, target);
  const o = opts<{ beta: number; reduction: Reduction }>('smoothL1', options, ['beta', 'reduction']);
  const beta = optNumber('smoothL1', 'options.beta', o.beta, 1, { min: 0 });
  const reduction = optEnum('smoothL1', 'options.reduction', o.reduction, REDUCTIONS, 'mean');
  return reduce(SmoothL1Fn(sub(input, target), beta), reduction);
}
