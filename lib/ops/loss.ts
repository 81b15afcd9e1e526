/**
 * Losses. crossEntropy is log-softmax + gather (PyTorch's decomposition: same numbers, and the
 * gradient comes out as softmax - onehot through the composed backward passes).
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, checkTensor, emptyLike, opts, optEnum, optNumber, sameShape } from './common';
import { abs, add, div, eq, ge, lt, minimum, mul, neg, square, sub, where } from './elementwise';
import { gather } from './indexing';
import { logSoftmax } from './nn-functional';
import { amax, argmax, mean, sum } from './reduce';
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
  /**
   * Class-index targets equal to this contribute no loss and no gradient, and 'mean' divides by
   * the count of the other positions (default -100, as PyTorch). Ignored for probability targets.
   */
  ignoreIndex?: number;
}

/**
 * F.cross_entropy. input: logits [C], [N, C] or [N, C, d1, ...] (classes on dim 1). target: int32
 * class indices of the input's shape without the class dim, or float probabilities of the input's
 * shape. 'mean' averages over the N x d1 x ... positions (both target kinds, like PyTorch).
 */
export function crossEntropy(input: Tensor, target: Tensor, options?: CrossEntropyOptions): Tensor {
  checkFloat('crossEntropy', 'input', input);
  checkTensor('crossEntropy', 'target', target, ['int32', 'float32', 'float64']);
  const o = opts<CrossEntropyOptions>('crossEntropy', options, ['labelSmoothing', 'reduction', 'ignoreIndex']);
  const ls = optNumber('crossEntropy', 'options.labelSmoothing', o.labelSmoothing, 0, { min: 0, max: 1 });
  const ignore = optNumber('crossEntropy', 'options.ignoreIndex', o.ignoreIndex, -100, { integer: true });
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
    if (input.device === 'cuda' || target.device === 'cuda') return classNllDevice(logp, target, cdim, ignore, ls, reduction);
    const td = target.data;
    let kept = 0;
    for (let i = 0; i < td.length; i++) {
      if (td[i] === ignore) continue;
      kept++;
      if (td[i] < 0 || td[i] >= C) throw rangeError(`class indices in [0, ${C}) or ignoreIndex (${ignore})`, 'crossEntropy(target)', `${td[i]} at position ${i}`, true);
    }
    // Ignored positions gather class 0 and are multiplied by 0: no loss, no gradient.
    const keep = kept < td.length ? ignoredMask(target, ignore, input) : null;
    const idx = keep ? new Tensor(td.map((c) => (c === ignore ? 0 : c)), target.shape) : target;
    const nll = neg(squeeze(gather(logp, cdim, unsqueeze(idx, cdim)), cdim));
    // Smoothing: (1 - s) nll + s * mean_c(-logp), i.e. the cross-entropy with the smoothed target.
    loss = ls > 0 ? add(mul(nll, 1 - ls), mul(neg(mean(logp, cdim)), ls)) : nll;
    if (keep) {
      loss = mul(loss, keep);
      // PyTorch's 'mean' with ignored targets: the sum over the kept positions / their count (0/0 = NaN).
      if (reduction === 'mean') return mul(sum(loss), kept === 0 ? NaN : 1 / kept);
    }
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

/**
 * The class-index loss on 'cuda' (reduced as `reduction` says): the target picks its log-prob
 * through a one-hot select (target == class, compared in float32: exact below 2^24) instead of a
 * gather, so a -inf log-prob of another class cannot leak in; an ignored position matches no class
 * and is masked. 'mean' divides by the count of kept positions on the device (0 / 0 = NaN, as the
 * CPU). The range check reads one count back (a synchronization), and on failure the first bad
 * position and its value for the message.
 */
function classNllDevice(logp: Tensor, target: Tensor, cdim: number, ignore: number, ls: number, reduction: Reduction): Tensor {
  if (target.device !== logp.device) {
    throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${logp.device}' (the device of input)`, 'crossEntropy(target)', `a Tensor on '${target.device}'`);
  }
  const C = logp.shape[cdim];
  const t = target.to('float32');
  const kept = sub(1, eq(t, ignore).to('float32')), keep = kept.to(logp.dtype);
  const bad = mul(add(lt(t, 0).to('float32'), ge(t, C).to('float32')), kept);
  if (bad.numel() > 0 && amax(bad).item() > 0) {
    const at = argmax(bad.reshape([-1])).item();
    throw rangeError(`class indices in [0, ${C}) or ignoreIndex (${ignore})`, 'crossEntropy(target)', `${t.reshape([-1]).narrow(0, at, 1).item()} at position ${at}`, true);
  }
  const classes = new Tensor(Float32Array.from({ length: C }, (_, c) => c), logp.shape.map((s, i) => (i === cdim ? s : 1))).to('cuda');
  const onehot = eq(unsqueeze(t, cdim), classes);
  let loss = neg(sum(where(onehot, logp, 0), cdim));
  if (ls > 0) loss = add(mul(loss, 1 - ls), mul(neg(mean(logp, cdim)), ls));
  loss = mul(loss, keep);
  return reduction === 'mean' ? div(sum(loss), sum(keep)) : reduce(loss, reduction);
}

/** 1 where the target is kept, 0 where it equals ignoreIndex (the input's dtype: a constant factor). */
function ignoredMask(target: Tensor, ignore: number, like: Tensor): Tensor {
  const m = emptyLike(like, target.shape);
  for (let i = 0; i < m.data.length; i++) m.data[i] = target.data[i] === ignore ? 0 : 1;
  return m;
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
  const d = sub(input, target);
  if (d.device === 'cuda') {
    // With c = min(|d|, beta): 0.5 c^2 / beta + (|d| - c) is both branches at once, in device ops;
    // minimum's even split at |d| = beta gives the CPU's gradient there (sign d). beta 0 is L1.
    const a = abs(d);
    if (beta === 0) return reduce(a, reduction);
    const c = minimum(a, beta);
    return reduce(add(mul(square(c), 0.5 / beta), sub(a, c)), reduction);
  }
  return reduce(SmoothL1Fn(d, beta), reduction);
}
