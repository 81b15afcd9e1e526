/**
 * F.vicreg, F.varianceLoss, F.covarianceLoss, F.barlowTwins: fused native kernels with autograd
 * (native/ops/vicreg). Defaults and formulas follow the official repositories
 * (facebookresearch/vicreg, facebookresearch/barlowtwins); see docs/losses.md for how lightly and
 * solo-learn differ. When N < D the covariance / cross-correlation sums go through N x N Gram
 * matrices (O(N^2 D) instead of O(N D^2)); covPath forces either path.
 *
 * On 'cuda' (float32) the CUDA kernels run both directions. Their forwards return host numbers
 * (the scalars are read back: one synchronization) that become 0-dim cuda tensors, and their
 * backwards read the upstream gradients' values (one synchronization each).
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
import { checkCudaFloat32, cudaScalar, dev, devOut, devTensor, fused } from './fused-device';

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

/** A 0-dim tensor holding v, of the input's float type and on its device. */
function scalar(v: number, like: FloatArray | Tensor): Tensor {
  if (like instanceof Tensor) return like.device === 'cuda' ? cudaScalar(v) : scalar(v, like.data as FloatArray);
  const a = new (like.constructor as Float64ArrayConstructor)(1);
  a[0] = v;
  return new Tensor(a, []);
}

function checkInput(op: string, arg: string, x: unknown): Tensor {
  const t = checkFloat(op, arg, x);
  checkCudaFloat32(op, arg, t);
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

const PATH_CODES: Record<CovPath, number> = { auto: 0, gram: 1, direct: 2 };
/** The CUDA bindings' options (the CPU binding's, native/napi/vicreg.cc). */
function cudaOpts(c: { eps: number; covPath: CovPath; shape: [number, number]; lambda?: number }): Record<string, unknown> {
  return { n: c.shape[0], d: c.shape[1], eps: c.eps, path: PATH_CODES[c.covPath], lambda: c.lambda ?? 0 };
}

const VicregFn = defineFunction({
  name: 'vicreg',
  forward(ctx: FunctionCtx, x: Tensor, y: Tensor, c: VicregCfg): VICRegOutput {
    const cuda = x.device === 'cuda';
    const t = cuda ? fused('vicreg').cudaVicregForward(dev(x), dev(y), cudaOpts(c))
      : kVicreg(x.data as FloatArray, y.data as FloatArray, c.shape, { eps: c.eps, covPath: c.covPath });
    Object.assign(ctx, { x, y, c });
    return {
      loss: scalar(c.sim * t.invariance + c.std * t.variance + c.cov * t.covariance, x),
      invariance: scalar(t.invariance, x),
      variance: scalar(t.variance, x),
      covariance: scalar(t.covariance, x),
    };
  },
  backward(ctx: FunctionCtx, gLoss: Tensor, gInv: Tensor, gVar: Tensor, gCov: Tensor) {
    const c = ctx.c as VicregCfg, x = ctx.x as Tensor, y = ctx.y as Tensor;
    const gl = gLoss.item();
    const w = { invariance: c.sim * gl + gInv.item(), variance: c.std * gl + gVar.item(), covariance: c.cov * gl + gCov.item() };
    let dx, dy;
    if (x.device === 'cuda') {
      [dx, dy] = [devOut('float32', x.numel()), devOut('float32', x.numel())];
      fused('vicreg').cudaVicregBackward(dev(x), dev(y), dx, dy, { ...cudaOpts(c), gInv: w.invariance, gVar: w.variance, gCov: w.covariance });
    } else {
      ({ dx, dy } = kVicregBack(x.data as FloatArray, y.data as FloatArray, c.shape, w, { eps: c.eps, covPath: c.covPath }));
    }
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

/**
 * One VICReg term of x alone as an autograd op: the kernel's value, and its gradient times g
 * (`which`: 0 variance, 1 covariance, the CUDA binding's code).
 */
function termFn(name: string, which: 0 | 1, value: (x: FloatArray, c: TermCfg) => number, grad: (x: FloatArray, c: TermCfg, g: number) => FloatArray) {
  return defineFunction({
    name,
    forward(ctx: FunctionCtx, x: Tensor, c: TermCfg): Tensor {
      ctx.x = x;
      ctx.c = c;
      if (x.device === 'cuda') return cudaScalar(fused(name).cudaVicregTermForward(dev(x), { ...cudaOpts(c), which }).value);
      return scalar(value(x.data as FloatArray, c), x);
    },
    backward(ctx: FunctionCtx, g: Tensor) {
      const c = ctx.c as TermCfg, x = ctx.x as Tensor;
      if (x.device !== 'cuda') return [new Tensor(grad(x.data as FloatArray, c, g.data[0]), c.shape)];
      const dx = devOut('float32', x.numel());
      fused(name).cudaVicregTermBackward(dev(x), dx, { ...cudaOpts(c), which, g: g.item() });
      return [devTensor(dx, c.shape)];
    },
  });
}

const VarianceFn = termFn('varianceLoss', 0, (x, c) => kVar(x, c.shape, { eps: c.eps }), (x, c, g) => kVarBack(x, c.shape, g, { eps: c.eps }));
const CovarianceFn = termFn('covarianceLoss', 1, (x, c) => kCov(x, c.shape, { covPath: c.covPath }), (x, c, g) => kCovBack(x, c.shape, g, { covPath: c.covPath }));

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
    Object.assign(ctx, { z1, z2, c });
    const t = z1.device === 'cuda' ? fused('barlowTwins').cudaBarlowTwinsForward(dev(z1), dev(z2), cudaOpts(c))
      : kBarlow(z1.data as FloatArray, z2.data as FloatArray, c.shape, { lambda: c.lambda, eps: c.eps, covPath: c.covPath });
    return scalar(t.loss, z1);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const c = ctx.c as BarlowCfg, z1 = ctx.z1 as Tensor, z2 = ctx.z2 as Tensor;
    let dz1, dz2;
    if (z1.device === 'cuda') {
      [dz1, dz2] = [devOut('float32', z1.numel()), devOut('float32', z1.numel())];
      fused('barlowTwins').cudaBarlowTwinsBackward(dev(z1), dev(z2), dz1, dz2, { ...cudaOpts(c), g: g.item() });
    } else {
      ({ dz1, dz2 } = kBarlowBack(z1.data as FloatArray, z2.data as FloatArray, c.shape, g.data[0], { lambda: c.lambda, eps: c.eps, covPath: c.covPath }));
    }
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
