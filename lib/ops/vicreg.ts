/**
 * F.vicreg, F.varianceLoss, F.covarianceLoss, F.barlowTwins: fused native kernels with autograd
 * (native/ops/vicreg). Defaults and formulas follow the official repositories
 * (facebookresearch/vicreg, facebookresearch/barlowtwins); see docs/losses.md for how lightly and
 * solo-learn differ. When N < D the covariance / cross-correlation sums go through N x N Gram
 * matrices (O(N^2 D) instead of O(N D^2)); covPath forces either path.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import {
  barlowTwins as kBarlow, barlowTwinsBackward as kBarlowBack, covarianceLoss as kCov,
  covarianceLossBackward as kCovBack, varianceLoss as kVar, varianceLossBackward as kVarBack,
  planVicregScalars, planVicregWeights, vicreg as kVicreg, vicregBackward as kVicregBack, type CovPath,
} from '../kernels/vicreg';
import { Tensor } from '../tensor';
import type { FloatArray } from '../validate';
import { checkFloat, checkSameDtype, opts } from './common';

export interface VICRegOptions {
  /** Invariance weight (default 25). */
  simCoeff?: number;
  /** Variance weight (default 25). */
  stdCoeff?: number;
  /** Covariance weight (default 1). */
  covCoeff?: number;
  /** Added to the variance under the square root (default 1e-4). */
  eps?: number;
  /** 'auto' (Gram when N < D), 'gram' or 'direct'. */
  covPath?: CovPath;
}

export interface VICRegOutput {
  loss: Tensor;
  invariance: Tensor;
  variance: Tensor;
  covariance: Tensor;
}

export interface BarlowTwinsOptions {
  /** Off-diagonal weight (default 0.0051). */
  lambda?: number;
  /** Batch-norm eps (default 1e-5). */
  eps?: number;
  covPath?: CovPath;
}

function scalar(v: number, like: FloatArray): Tensor {
  const a = new (like.constructor as Float64ArrayConstructor)(1);
  a[0] = v;
  return new Tensor(a, []);
}

function checkInput(op: string, arg: string, x: unknown): Tensor {
  const t = checkFloat(op, arg, x);
  if (t.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [N, D]', `${op}(${arg})`, shapeStr(t.shape));
  if (t.shape[0] < 2) throw rangeError('at least 2 rows (the variance over the batch needs N >= 2)', `${op}(${arg})`, shapeStr(t.shape), true);
  if (t.shape[1] < 1) throw rangeError('a feature size D >= 1', `${op}(${arg})`, shapeStr(t.shape), true);
  return t;
}

function checkPair(op: string, a: unknown, b: unknown, names: [string, string]): [Tensor, Tensor] {
  const x = checkInput(op, names[0], a);
  const y = checkFloat(op, names[1], b);
  checkSameDtype(op, names[1], y, x, names[0]);
  if (y.ndim !== 2 || y.shape[0] !== x.shape[0] || y.shape[1] !== x.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(x.shape)} (the shape of ${names[0]})`, `${op}(${names[1]})`, shapeStr(y.shape));
  }
  return [x, y];
}

interface VicregCfg { sim: number; std: number; cov: number; eps: number; covPath: CovPath; shape: [number, number] }

const VicregFn = defineFunction({
  name: 'vicreg',
  forward(ctx: FunctionCtx, x: Tensor, y: Tensor, c: VicregCfg): VICRegOutput {
    const xd = x.data as FloatArray, yd = y.data as FloatArray;
    const t = kVicreg(xd, yd, c.shape, { eps: c.eps, covPath: c.covPath });
    ctx.x = xd;
    ctx.y = yd;
    ctx.c = c;
    return {
      loss: scalar(c.sim * t.invariance + c.std * t.variance + c.cov * t.covariance, xd),
      invariance: scalar(t.invariance, xd),
      variance: scalar(t.variance, xd),
      covariance: scalar(t.covariance, xd),
    };
  },
  backward(ctx: FunctionCtx, gLoss: Tensor, gInv: Tensor, gVar: Tensor, gCov: Tensor) {
    const c = ctx.c as VicregCfg;
    const gl = gLoss.data[0];
    const { dx, dy } = kVicregBack(ctx.x as FloatArray, ctx.y as FloatArray, c.shape, {
      invariance: c.sim * gl + gInv.data[0],
      variance: c.std * gl + gVar.data[0],
      covariance: c.cov * gl + gCov.data[0],
    }, { eps: c.eps, covPath: c.covPath });
    return [ctx.needsInputGrad[0] ? new Tensor(dx, c.shape) : null, ctx.needsInputGrad[1] ? new Tensor(dy, c.shape) : null];
  },
});

/**
 * VICReg (Bardes et al. 2022) of two embeddings x, y [N, D], N >= 2, official defaults:
 *   loss = simCoeff * mse(x, y) + stdCoeff * variance + covCoeff * covariance
 * All four outputs are scalar tensors and differentiable.
 */
export function vicreg(x: Tensor, y: Tensor, options?: VICRegOptions): VICRegOutput {
  const op = 'vicreg';
  const [a, b] = checkPair(op, x, y, ['x', 'y']);
  const o = opts<VICRegOptions>(op, options, ['simCoeff', 'stdCoeff', 'covCoeff', 'eps', 'covPath']);
  const c: VicregCfg = {
    ...planVicregWeights(op, o),
    ...planVicregScalars(op, o),
    shape: [a.shape[0], a.shape[1]],
  };
  return VicregFn(a, b, c);
}

interface TermCfg { eps: number; covPath: CovPath; shape: [number, number] }

/** One VICReg term of x alone as an autograd op: the kernel's value, and its gradient times g. */
function termFn(name: string, value: (x: FloatArray, c: TermCfg) => number, grad: (x: FloatArray, c: TermCfg, g: number) => FloatArray) {
  return defineFunction({
    name,
    forward(ctx: FunctionCtx, x: Tensor, c: TermCfg): Tensor {
      ctx.x = x.data;
      ctx.c = c;
      return scalar(value(x.data as FloatArray, c), x.data as FloatArray);
    },
    backward(ctx: FunctionCtx, g: Tensor) {
      const c = ctx.c as TermCfg;
      return [new Tensor(grad(ctx.x as FloatArray, c, g.data[0]), c.shape)];
    },
  });
}

const VarianceFn = termFn('varianceLoss', (x, c) => kVar(x, c.shape, { eps: c.eps }), (x, c, g) => kVarBack(x, c.shape, g, { eps: c.eps }));
const CovarianceFn = termFn('covarianceLoss', (x, c) => kCov(x, c.shape, { covPath: c.covPath }), (x, c, g) => kCovBack(x, c.shape, g, { covPath: c.covPath }));

/** mean_d relu(1 - sqrt(var_d(x) + eps)) over the batch (unbiased var). VICReg's variance term is
 * (varianceLoss(x) + varianceLoss(y)) / 2. */
export function varianceLoss(x: Tensor, options?: { eps?: number }): Tensor {
  const op = 'varianceLoss';
  const a = checkInput(op, 'x', x);
  const o = opts<{ eps: number }>(op, options, ['eps']);
  return VarianceFn(a, { eps: planVicregScalars(op, o).eps, covPath: 'auto', shape: [a.shape[0], a.shape[1]] });
}

/** sum_{i != j} cov(x)_ij^2 / D with cov = x_c^T x_c / (N - 1). VICReg's covariance term is
 * covarianceLoss(x) + covarianceLoss(y). */
export function covarianceLoss(x: Tensor, options?: { covPath?: CovPath }): Tensor {
  const op = 'covarianceLoss';
  const a = checkInput(op, 'x', x);
  const o = opts<{ covPath: CovPath }>(op, options, ['covPath']);
  return CovarianceFn(a, { eps: 0, covPath: planVicregScalars(op, o).covPath, shape: [a.shape[0], a.shape[1]] });
}

interface BarlowCfg { lambda: number; eps: number; covPath: CovPath; shape: [number, number] }

const BarlowFn = defineFunction({
  name: 'barlowTwins',
  forward(ctx: FunctionCtx, z1: Tensor, z2: Tensor, c: BarlowCfg): Tensor {
    ctx.z1 = z1.data;
    ctx.z2 = z2.data;
    ctx.c = c;
    const t = kBarlow(z1.data as FloatArray, z2.data as FloatArray, c.shape, { lambda: c.lambda, eps: c.eps, covPath: c.covPath });
    return scalar(t.loss, z1.data as FloatArray);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const c = ctx.c as BarlowCfg;
    const { dz1, dz2 } = kBarlowBack(ctx.z1 as FloatArray, ctx.z2 as FloatArray, c.shape, g.data[0], { lambda: c.lambda, eps: c.eps, covPath: c.covPath });
    return [ctx.needsInputGrad[0] ? new Tensor(dz1, c.shape) : null, ctx.needsInputGrad[1] ? new Tensor(dz2, c.shape) : null];
  },
});

/**
 * Barlow Twins (Zbontar et al. 2021), official formulation: per-view batch norm (affine=False,
 * biased variance, eps 1e-5), c = z1n^T z2n / N, loss = sum_i (1 - c_ii)^2 + lambda sum_{i != j} c_ij^2.
 */
export function barlowTwins(z1: Tensor, z2: Tensor, options?: BarlowTwinsOptions): Tensor {
  const op = 'barlowTwins';
  const [a, b] = checkPair(op, z1, z2, ['z1', 'z2']);
  const o = opts<BarlowTwinsOptions>(op, options, ['lambda', 'eps', 'covPath']);
  const { lambda, eps, covPath } = planVicregScalars(op, o, 'barlowTwins');
  return BarlowFn(a, b, { lambda, eps, covPath, shape: [a.shape[0], a.shape[1]] });
}
