/**
 * Raw typed-array VICReg, variance / covariance terms and Barlow Twins kernels (zero-copy; no
 * autograd). Inputs are row-major [n, d] Float32Array or Float64Array, n >= 2.
 *
 *   const t = vicreg(x, y, [n, d]);            // { invariance, variance, covariance } (unweighted)
 *   const { dx, dy } = vicregBackward(x, y, [n, d], { invariance: 25, variance: 25, covariance: 1 });
 *   barlowTwins(z1, z2, [n, d], { lambda: 0.0051 }); // { loss, onDiagonal, offDiagonal }
 *
 * covPath: 'gram' computes the covariance / cross-correlation sums through n x n Gram matrices
 * (O(n^2 d)), 'direct' through the d x d matrix (O(n d^2)); 'auto' (default) picks Gram when n < d.
 */
import { native, useReference } from '../backends/native';
import {
  refBarlowTwins, refBarlowTwinsBackward, refCovarianceLoss, refCovarianceLossBackward,
  refVarianceLoss, refVarianceLossBackward, refVicregBackward, refVicregTerms,
} from '../backends/reference-vicreg';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { named } from './args';
import { checkArray, checkNumber, checkOneOf, checkOptions, checkShape, type FloatArray } from '../validate';

export type CovPath = 'auto' | 'gram' | 'direct';

export interface VICRegKernelOptions {
  /** Added to the variance under the square root (default 1e-4, official VICReg). */
  eps?: number;
  covPath?: CovPath;
}

export interface BarlowTwinsKernelOptions {
  /** Off-diagonal weight (default 0.0051, official Barlow Twins). */
  lambda?: number;
  /** Batch-norm eps (default 1e-5, nn.BatchNorm1d). */
  eps?: number;
  covPath?: CovPath;
}

export type { BarlowTwinsTerms, VICRegTerms } from '../backends/native-api';
import type { BarlowTwinsTerms, VICRegTerms } from '../backends/native-api';

const PATHS = { auto: 0, gram: 1, direct: 2 } as const;
const VICREG_KEYS = ['eps', 'covPath'] as const;
const BARLOW_KEYS = ['lambda', 'eps', 'covPath'] as const;

/** The checked inputs and options; also the native options object (path as its code). */
interface Plan { x: FloatArray; y: FloatArray | null; n: number; d: number; eps: number; path: 0 | 1 | 2; lambda: number }

/** VICReg's and Barlow Twins' scalar options, checked and defaulted. */
export interface VicregScalars { eps: number; covPath: CovPath; path: 0 | 1 | 2; lambda: number }

/**
 * The rules and defaults of the family's scalar options, written once (eps 1e-4 for VICReg as in
 * facebookresearch/vicreg, 1e-5 for Barlow Twins' batch norm; lambda 0.0051 as in
 * facebookresearch/barlowtwins; covPath 'auto'): the raw kernels (op ''), F.vicreg & co. and the
 * tfjs adapter call it with their op name for messages.
 */
export function planVicregScalars(op: string, o: BarlowTwinsKernelOptions, family: 'vicreg' | 'barlowTwins' = 'vicreg'): VicregScalars {
  const at = (k: string) => named(op, `options.${k}`);
  const eps = o.eps === undefined ? (family === 'vicreg' ? 1e-4 : 1e-5) : checkNumber(at('eps'), o.eps, { min: 0 });
  const covPath = o.covPath === undefined ? 'auto' : checkOneOf(at('covPath'), o.covPath, ['auto', 'gram', 'direct'] as const);
  const lambda = o.lambda === undefined ? 0.0051 : checkNumber(at('lambda'), o.lambda, { min: 0 });
  return { eps, covPath, path: PATHS[covPath], lambda };
}

/**
 * VICReg's term weights (official defaults: invariance 25, variance 25, covariance 1), finite
 * numbers >= 0: F.vicreg and the tfjs adapter call it with their op name.
 */
export function planVicregWeights(op: string, o: { simCoeff?: number; stdCoeff?: number; covCoeff?: number }): { sim: number; std: number; cov: number } {
  const w = (k: 'simCoeff' | 'stdCoeff' | 'covCoeff', dflt: number) => (o[k] === undefined ? dflt : checkNumber(named(op, `options.${k}`), o[k], { min: 0 }));
  return { sim: w('simCoeff', 25), std: w('stdCoeff', 25), cov: w('covCoeff', 1) };
}

/** Validates shapes, arrays and options (shared with the autograd ops). */
export function planVicreg(
  x: unknown, y: unknown, shape: unknown, options: unknown, known: readonly (keyof BarlowTwinsKernelOptions)[],
  names: [string, string] = ['x', 'y'],
): Plan {
  const s = checkShape('shape', shape);
  if (s.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [n, d]', 'shape', shapeStr(s));
  const [n, d] = s;
  if (n < 2) throw rangeError('a batch of at least 2 rows (the variance needs n >= 2)', names[0], shapeStr(s), true);
  if (d < 1) throw rangeError('a feature size d >= 1', names[0], shapeStr(s), true);
  const X = checkArray<FloatArray>(names[0], x, ['float32', 'float64'], s);
  let Y: FloatArray | null = null;
  if (y !== null) {
    if (!(y instanceof Float32Array || y instanceof Float64Array) || y.constructor !== X.constructor) {
      throw typeError(`a ${X.constructor.name} (same type as ${names[0]})`, names[1], y);
    }
    Y = checkArray<FloatArray>(names[1], y, [X instanceof Float32Array ? 'float32' : 'float64'], s);
  }
  const o = checkOptions<BarlowTwinsKernelOptions>('options', options, known);
  const { eps, path, lambda } = planVicregScalars('', o, names[0] === 'z1' ? 'barlowTwins' : 'vicreg');
  return { x: X, y: Y, n, d, eps, path, lambda };
}

/**
 * The three term weights of vicregBackward, all required: a missing one used to count as 0, so
 * `grads` of the wrong shape ({ loss: 1 }, or none) silently gave zero gradients.
 */
function checkTermGrads(grads: unknown): { gi: number; gv: number; gc: number } {
  if (grads === undefined) throw typeError('an object { invariance, variance, covariance } of numbers', 'grads', grads);
  const g = checkOptions<VICRegTerms>('grads', grads, ['invariance', 'variance', 'covariance']);
  return {
    gi: checkNumber('grads.invariance', g.invariance),
    gv: checkNumber('grads.variance', g.variance),
    gc: checkNumber('grads.covariance', g.covariance),
  };
}

function like<T extends FloatArray>(a: T, n: number): T {
  return new (a.constructor as Float32ArrayConstructor)(n) as T;
}

/** The three unweighted VICReg terms. */
export function vicreg(x: FloatArray, y: FloatArray, shape: [number, number], options?: VICRegKernelOptions): VICRegTerms {
  const p = planVicreg(x, y, shape, options, VICREG_KEYS);
  if (useReference()) return refVicregTerms(p.x, p.y!, p.n, p.d, p.eps);
  return native().vicregForward(p.x, p.y!, p);
}

/** dx, dy of grads.invariance * invariance + grads.variance * variance + grads.covariance * covariance. */
export function vicregBackward<T extends FloatArray>(x: T, y: T, shape: [number, number], grads: VICRegTerms, options?: VICRegKernelOptions): { dx: T; dy: T } {
  const p = planVicreg(x, y, shape, options, VICREG_KEYS);
  const { gi, gv, gc } = checkTermGrads(grads);
  const dx = like(x, p.n * p.d), dy = like(x, p.n * p.d);
  if (useReference()) {
    const r = refVicregBackward(p.x, p.y!, p.n, p.d, p.eps, gi, gv, gc);
    dx.set(r.dx);
    dy.set(r.dy);
  } else {
    native().vicregBackward(p.x, p.y!, dx, dy, { ...p, gInv: gi, gVar: gv, gCov: gc });
  }
  return { dx, dy };
}

/** mean_d relu(1 - sqrt(var_d(x) + eps)) (unbiased var; VICReg's variance term is the mean over x and y). */
export function varianceLoss(x: FloatArray, shape: [number, number], options?: { eps?: number }): number {
  const p = planVicreg(x, null, shape, options, ['eps']);
  if (useReference()) return refVarianceLoss(p.x, p.n, p.d, p.eps);
  return native().vicregTermForward(p.x, { ...p, which: 0 }).value;
}

export function varianceLossBackward<T extends FloatArray>(x: T, shape: [number, number], grad: number, options?: { eps?: number }): T {
  const p = planVicreg(x, null, shape, options, ['eps']);
  const g = checkNumber('grad', grad);
  const dx = like(x, p.n * p.d);
  if (useReference()) dx.set(refVarianceLossBackward(p.x, p.n, p.d, p.eps, g));
  else native().vicregTermBackward(p.x, dx, { ...p, which: 0, g });
  return dx;
}

/** sum_{i != j} cov(x)_ij^2 / d, cov = x_c^T x_c / (n - 1). */
export function covarianceLoss(x: FloatArray, shape: [number, number], options?: { covPath?: CovPath }): number {
  const p = planVicreg(x, null, shape, options, ['covPath']);
  if (useReference()) return refCovarianceLoss(p.x, p.n, p.d);
  return native().vicregTermForward(p.x, { ...p, which: 1 }).value;
}

export function covarianceLossBackward<T extends FloatArray>(x: T, shape: [number, number], grad: number, options?: { covPath?: CovPath }): T {
  const p = planVicreg(x, null, shape, options, ['covPath']);
  const g = checkNumber('grad', grad);
  const dx = like(x, p.n * p.d);
  if (useReference()) dx.set(refCovarianceLossBackward(p.x, p.n, p.d, g));
  else native().vicregTermBackward(p.x, dx, { ...p, which: 1, g });
  return dx;
}

/** Barlow Twins loss terms (official facebookresearch/barlowtwins formulation). */
export function barlowTwins(z1: FloatArray, z2: FloatArray, shape: [number, number], options?: BarlowTwinsKernelOptions): BarlowTwinsTerms {
  const p = planVicreg(z1, z2, shape, options, BARLOW_KEYS, ['z1', 'z2']);
  if (useReference()) return refBarlowTwins(p.x, p.y!, p.n, p.d, p.lambda, p.eps);
  return native().barlowTwinsForward(p.x, p.y!, p);
}

export function barlowTwinsBackward<T extends FloatArray>(z1: T, z2: T, shape: [number, number], grad: number, options?: BarlowTwinsKernelOptions): { dz1: T; dz2: T } {
  const p = planVicreg(z1, z2, shape, options, BARLOW_KEYS, ['z1', 'z2']);
  const g = checkNumber('grad', grad);
  const dz1 = like(z1, p.n * p.d), dz2 = like(z1, p.n * p.d);
  if (useReference()) {
    const r = refBarlowTwinsBackward(p.x, p.y!, p.n, p.d, p.lambda, p.eps, g);
    dz1.set(r.dz1);
    dz2.set(r.dz2);
  } else {
    native().barlowTwinsBackward(p.x, p.y!, dz1, dz2, { ...p, g });
  }
  return { dz1, dz2 };
}

/** Off-thread forms (inputs copied at call time). */
export async function vicregAsync(x: FloatArray, y: FloatArray, shape: [number, number], options?: VICRegKernelOptions): Promise<VICRegTerms> {
  const p = planVicreg(x, y, shape, options, VICREG_KEYS);
  if (useReference()) return vicreg(x, y, shape, options);
  return native().vicregForwardAsync(p.x, p.y!, p);
}

export async function vicregBackwardAsync<T extends FloatArray>(x: T, y: T, shape: [number, number], grads: VICRegTerms, options?: VICRegKernelOptions): Promise<{ dx: T; dy: T }> {
  const p = planVicreg(x, y, shape, options, VICREG_KEYS);
  if (useReference()) return vicregBackward(x, y, shape, grads, options);
  const { gi, gv, gc } = checkTermGrads(grads);
  return native().vicregBackwardAsync(p.x as T, p.y as T, { ...p, gInv: gi, gVar: gv, gCov: gc });
}

export async function barlowTwinsAsync(z1: FloatArray, z2: FloatArray, shape: [number, number], options?: BarlowTwinsKernelOptions): Promise<BarlowTwinsTerms> {
  const p = planVicreg(z1, z2, shape, options, BARLOW_KEYS, ['z1', 'z2']);
  if (useReference()) return barlowTwins(z1, z2, shape, options);
  return native().barlowTwinsForwardAsync(p.x, p.y!, p);
}

export async function barlowTwinsBackwardAsync<T extends FloatArray>(z1: T, z2: T, shape: [number, number], grad: number, options?: BarlowTwinsKernelOptions): Promise<{ dz1: T; dz2: T }> {
  const p = planVicreg(z1, z2, shape, options, BARLOW_KEYS, ['z1', 'z2']);
  if (useReference()) return barlowTwinsBackward(z1, z2, shape, grad, options);
  const g = checkNumber('grad', grad);
  return native().barlowTwinsBackwardAsync(p.x as T, p.y as T, { ...p, g });
}
