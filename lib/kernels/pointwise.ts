/**
 * Raw typed-array GELU, LayerNorm and column-sum kernels (zero-copy; no autograd). Arrays are
 * row-major Float32Array or Float64Array; the row dim is the last dim of `shape`.
 *
 *   const y = gelu(x, [rows, cols], { bias, approximate: 'none' });   // y = gelu(x + bias)
 *   const { dx, dbias } = geluBackward(g, x, [rows, cols], { bias, biasGrad: true });
 *   const { out, mean, rstd } = layerNorm(x, [rows, n], { weight, bias, eps: 1e-5 });
 *   const { dx, dweight, dbias } = layerNormBackward(g, x, [rows, n], mean, rstd, { weight });
 *   sumRows(g, [rows, cols]);                                         // the bias gradient
 *
 * Match torch.nn.functional.gelu (exact erf, or approximate='tanh') and layer_norm over the last
 * dim (biased variance); float32 erf is a rational approximation within ~1.2e-7 absolute.
 */
import { native, useReference } from '../backends/native';
import {
  refGelu, refGeluBackward, refLayerNorm, refLayerNormBackward, refSumRows,
} from '../backends/reference-pointwise';
import { selfsupError, shapeStr, typeError } from '../errors';
import { uninitialized } from '../storage';
import { checkArray, checkBoolean, checkNumber, checkOneOf, checkOptions, checkShape, sizeOf, type FloatArray } from '../validate';

export type GeluApproximate = 'none' | 'tanh';

export interface GeluKernelOptions<T extends FloatArray = FloatArray> {
  /** 'none' (exact erf, default) or 'tanh'. */
  approximate?: GeluApproximate;
  /** [cols], added to every row before the activation (fused bias). */
  bias?: T | null;
  /** Written in place when given (may be x itself). */
  out?: T;
}
export interface GeluBackwardOptions<T extends FloatArray = FloatArray> extends GeluKernelOptions<T> {
  /** Also return dbias = sum over rows of dx (needs bias). */
  biasGrad?: boolean;
}
export interface LayerNormKernelOptions<T extends FloatArray = FloatArray> {
  weight?: T | null;
  bias?: T | null;
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
  out?: T;
}
export interface LayerNormBackwardOptions<T extends FloatArray = FloatArray> {
  weight?: T | null;
  /** Return dweight (default: when weight is given) / dbias (default true). */
  weightGrad?: boolean;
  biasGrad?: boolean;
  out?: T;
}

interface Rows<T extends FloatArray> { X: T; rows: number; cols: number; dtype: 'float32' | 'float64'; ctor: { new(n: number): T } }

function rowsOf<T extends FloatArray>(name: string, x: unknown, shape: unknown): Rows<T> {
  const s = checkShape('shape', shape);
  if (s.length < 1) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape of rank >= 1', 'shape', shapeStr(s));
  const X = checkArray<T>(name, x, ['float32', 'float64'], s);
  const cols = s[s.length - 1];
  const total = sizeOf(s);
  return { X, rows: cols === 0 ? 0 : total / cols, cols, dtype: X instanceof Float32Array ? 'float32' : 'float64', ctor: X.constructor as { new(n: number): T } };
}

function sameType<T extends FloatArray>(name: string, v: unknown, like: Rows<T>, shape: number[]): T {
  if (!(v instanceof Float32Array || v instanceof Float64Array) || v.constructor !== like.X.constructor) {
    throw typeError(`a ${like.X.constructor.name} (same type as x)`, name, v);
  }
  return checkArray<T>(name, v, [like.dtype], shape);
}
function optional<T extends FloatArray>(name: string, v: unknown, like: Rows<T>, shape: number[]): T | null {
  return v === undefined || v === null ? null : sameType<T>(name, v, like, shape);
}

function geluMode(o: { approximate?: unknown }): 0 | 1 {
  return o.approximate === undefined ? 0 : checkOneOf('options.approximate', o.approximate, ['none', 'tanh'] as const) === 'tanh' ? 1 : 0;
}


/** A new output the size of x, uninitialized: every kernel here (native and reference) writes all of it. */
function fresh<T extends FloatArray>(r: { X: T }): T {
  return uninitialized(r.X.constructor as Float32ArrayConstructor, r.X.length) as unknown as T;
}

/** y = gelu(x [+ bias]) over rows of the last dim of `shape`. Returns `out` or a new array. */
export function gelu<T extends FloatArray>(x: T, shape: number[], options?: GeluKernelOptions<T>): T {
  const r = rowsOf<T>('x', x, shape);
  const o = checkOptions<GeluKernelOptions<T>>('options', options, ['approximate', 'bias', 'out']);
  const mode = geluMode(o);
  const bias = optional<T>('options.bias', o.bias, r, [r.cols]);
  const out = o.out === undefined ? fresh(r) : sameType<T>('options.out', o.out, r, shape);
  if (useReference()) refGelu(r.X, bias, out, r.rows, r.cols, mode === 1);
  else native().geluForward(r.X, bias, out, { ...r, mode });
  return out;
}

/** dx = grad * gelu'(x [+ bias]); with biasGrad also dbias = sum over rows of dx. */
export function geluBackward<T extends FloatArray>(grad: T, x: T, shape: number[], options?: GeluBackwardOptions<T>): { dx: T; dbias?: T } {
  const r = rowsOf<T>('x', x, shape);
  const G = sameType<T>('grad', grad, r, shape);
  const o = checkOptions<GeluBackwardOptions<T>>('options', options, ['approximate', 'bias', 'biasGrad', 'out']);
  const mode = geluMode(o);
  const bias = optional<T>('options.bias', o.bias, r, [r.cols]);
  const wantDb = o.biasGrad === undefined ? false : checkBoolean('options.biasGrad', o.biasGrad);
  if (wantDb && !bias) throw typeError('a bias array (biasGrad needs options.bias)', 'options.bias', o.bias);
  const dx = o.out === undefined ? fresh(r) : sameType<T>('options.out', o.out, r, shape);
  const dbias = wantDb ? new r.ctor(r.cols) : null;
  if (useReference()) refGeluBackward(G, r.X, bias, dx, dbias, r.rows, r.cols, mode === 1);
  else native().geluBackward(G, r.X, bias, dx, dbias, { ...r, mode });
  return dbias ? { dx, dbias } : { dx };
}

/** LayerNorm over the last dim of `shape`; also returns the per-row mean and rstd (float64). */
export function layerNorm<T extends FloatArray>(x: T, shape: number[], options?: LayerNormKernelOptions<T>): { out: T; mean: Float64Array; rstd: Float64Array } {
  const r = rowsOf<T>('x', x, shape);
  const o = checkOptions<LayerNormKernelOptions<T>>('options', options, ['weight', 'bias', 'eps', 'out']);
  const w = optional<T>('options.weight', o.weight, r, [r.cols]);
  const b = optional<T>('options.bias', o.bias, r, [r.cols]);
  const eps = o.eps === undefined ? 1e-5 : checkNumber('options.eps', o.eps, { min: 0 });
  const out = o.out === undefined ? fresh(r) : sameType<T>('options.out', o.out, r, shape);
  const mean = new Float64Array(r.rows), rstd = new Float64Array(r.rows);
  if (useReference()) refLayerNorm(r.X, w, b, eps, out, mean, rstd, r.rows, r.cols);
  else native().layerNormForward(r.X, w, b, out, mean, rstd, { ...r, eps });
  return { out, mean, rstd };
}

/** Gradients of layerNorm given the saved per-row mean and rstd. */
export function layerNormBackward<T extends FloatArray>(grad: T, x: T, shape: number[], mean: Float64Array, rstd: Float64Array, options?: LayerNormBackwardOptions<T>): { dx: T; dweight?: T; dbias?: T } {
  const r = rowsOf<T>('x', x, shape);
  const G = sameType<T>('grad', grad, r, shape);
  const M = checkArray<Float64Array>('mean', mean, ['float64'], [r.rows]);
  const R = checkArray<Float64Array>('rstd', rstd, ['float64'], [r.rows]);
  const o = checkOptions<LayerNormBackwardOptions<T>>('options', options, ['weight', 'weightGrad', 'biasGrad', 'out']);
  const w = optional<T>('options.weight', o.weight, r, [r.cols]);
  const wantW = o.weightGrad === undefined ? w !== null : checkBoolean('options.weightGrad', o.weightGrad);
  const wantB = o.biasGrad === undefined ? true : checkBoolean('options.biasGrad', o.biasGrad);
  const dx = o.out === undefined ? fresh(r) : sameType<T>('options.out', o.out, r, shape);
  const dweight = wantW ? new r.ctor(r.cols) : null, dbias = wantB ? new r.ctor(r.cols) : null;
  if (useReference()) refLayerNormBackward(G, r.X, w, M, R, dx, dweight, dbias, r.rows, r.cols);
  else native().layerNormBackward(G, r.X, w, M, R, dx, dweight, dbias, r);
  const res: { dx: T; dweight?: T; dbias?: T } = { dx };
  if (dweight) res.dweight = dweight;
  if (dbias) res.dbias = dbias;
  return res;
}

/** out[c] = sum over every leading index of x[..., c] (the gradient of a row-broadcast bias). */
export function sumRows<T extends FloatArray>(x: T, shape: number[], options?: { out?: T }): T {
  const r = rowsOf<T>('x', x, shape);
  const o = checkOptions<{ out?: T }>('options', options, ['out']);
  const out = o.out === undefined ? new r.ctor(r.cols) : sameType<T>('options.out', o.out, r, [r.cols]);
  if (useReference()) refSumRows(r.X, out, r.rows, r.cols);
  else native().sumRows(r.X, out, r);
  return out;
}
