/**
 * KoLeo, the Kozachenko-Leonenko entropy regularizer (Sablayrolles et al. 2019, "Spreading
 * vectors for similarity search"), as DINOv2 uses it (Oquab et al. 2023, KoLeoLoss): each
 * embedding is pushed away from its nearest neighbour in the batch, which spreads the batch
 * uniformly over the sphere.
 *
 *   x^_i = x_i / max(||x_i||, eps)                      (rows of x [n, d])
 *   nn(i) = argmax_{j != i} x^_i . x^_j                  (first index on ties; not differentiated)
 *   L = -1/n sum_i log(||x^_i - x^_nn(i) + eps|| + eps)  (torch's pairwise_distance adds eps)
 *
 * The nearest neighbours come from Gram rows computed by the package GEMM (`matmul`, native or
 * reference) in blocks of BLOCK rows, so memory is O(BLOCK n) and never the n x n matrix; the rest
 * is O(n d). Raw typed arrays, zero-copy, no autograd (F.koleo is the autograd op).
 *
 *   const { loss, nn } = koleoForward(x, [n, d]);
 *   const dx = koleoBackward(x, [n, d], { nn }, 1);
 */
import { rangeError, selfsupError, shapeStr } from '../errors';
import { checkArray, checkNumber, checkOptions, checkShape, type FloatArray } from '../validate';
import { named } from './args';
import { matmul } from './linalg';

export interface KoLeoOptions {
  /** Added in the normalization, the pairwise distance and the log, as DINOv2 (default 1e-8). */
  eps?: number;
}

export interface KoLeoPlan<T extends FloatArray = FloatArray> {
  x: T;
  n: number;
  d: number;
  eps: number;
}

/** Gram rows per GEMM call: 256 rows x n columns of scratch. */
const BLOCK = 256;

/** KoLeo's rules (n >= 2 rows, d >= 1, eps >= 0 finite), written once for the kernels and F.koleo. */
export function planKoLeo<T extends FloatArray>(op: string, x: T, shape: unknown, options: unknown): KoLeoPlan<T> {
  const { n, d, eps } = planKoLeoShape(op, shape, options);
  const X = checkArray<T>(named(op, 'x'), x, ['float32', 'float64'], [n, d]);
  return { x: X, n, d, eps };
}

/** The rules on the shape and the options alone (F.koleo's cuda path has no host array to check). */
export function planKoLeoShape(op: string, shape: unknown, options: unknown): { n: number; d: number; eps: number } {
  const s = checkShape(named(op, 'shape'), shape);
  if (s.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [n, d]', named(op, 'x'), shapeStr(s));
  const [n, d] = s;
  if (n < 2) throw rangeError('at least 2 rows (each row needs a neighbour)', named(op, 'x'), shapeStr(s), true);
  if (d < 1) throw rangeError('a feature size d >= 1', named(op, 'x'), shapeStr(s), true);
  const o = checkOptions<KoLeoOptions>(named(op, 'options'), options, ['eps']);
  const eps = o.eps === undefined ? 1e-8 : checkNumber(named(op, 'options.eps'), o.eps, { min: 0 });
  return { n, d, eps };
}

/** Row norms (in double) and the normalized rows, in x's array type (the GEMM's input). */
function normalizeRows<T extends FloatArray>(p: KoLeoPlan<T>): { xn: T; norms: Float64Array } {
  const { x, n, d, eps } = p;
  const xn = new (x.constructor as Float64ArrayConstructor)(n * d) as T;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k] * x[i * d + k];
    const nrm = Math.sqrt(s);
    norms[i] = nrm;
    const inv = 1 / Math.max(nrm, eps);
    for (let k = 0; k < d; k++) xn[i * d + k] = x[i * d + k] * inv;
  }
  return { xn, norms };
}

/** u = x^_i - x^_nn(i) + eps (as float64) and its length. */
function diff(xn: FloatArray, d: number, i: number, j: number, eps: number, u: Float64Array): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    u[k] = xn[i * d + k] - xn[j * d + k] + eps;
    s += u[k] * u[k];
  }
  return Math.sqrt(s);
}

export interface KoLeoForwardResult {
  /** The loss (a number; accumulated in double). */
  loss: number;
  /** int32 [n]: each row's nearest neighbour (saved for the backward). */
  nn: Int32Array;
}

/** The loss and each row's nearest neighbour. */
export function koleoForward<T extends FloatArray>(x: T, shape: [number, number], options?: KoLeoOptions): KoLeoForwardResult {
  const p = planKoLeo('', x, shape, options);
  const { n, d, eps } = p;
  const { xn } = normalizeRows(p);
  const nn = new Int32Array(n);
  for (let r0 = 0; r0 < n; r0 += BLOCK) {
    const rb = Math.min(BLOCK, n - r0);
    const g = matmul(xn.subarray(r0 * d, (r0 + rb) * d) as T, [rb, d], xn, [n, d], { transB: true });
    for (let r = 0; r < rb; r++) {
      const i = r0 + r;
      let best = -Infinity, arg = i === 0 ? 1 : 0;
      for (let j = 0; j < n; j++) {
        const v = g[r * n + j];
        if (j !== i && v > best) { best = v; arg = j; }
      }
      nn[i] = arg;
    }
  }
  const u = new Float64Array(d);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.log(diff(xn, d, i, nn[i], eps, u) + eps);
  return { loss: -sum / n, nn };
}

/**
 * dL/dx times `gradOutput`, for the neighbours the forward chose (`saved.nn`). Each pair (i, nn(i))
 * moves both rows; the gradient then goes back through the normalization.
 */
export function koleoBackward<T extends FloatArray>(x: T, shape: [number, number], saved: { nn: Int32Array }, gradOutput: number, options?: KoLeoOptions): T {
  const p = planKoLeo('', x, shape, options);
  const { n, d, eps } = p;
  const sv = checkOptions<{ nn: Int32Array; loss: number }>('saved', saved, ['nn', 'loss']);
  const nn = checkArray<Int32Array>('saved.nn', sv.nn, ['int32'], [n]);
  for (let i = 0; i < n; i++) if (!(nn[i] >= 0 && nn[i] < n && nn[i] !== i)) throw rangeError(`indices in [0, ${n}) other than the row's own`, 'saved.nn', `${nn[i]} at row ${i}`, true);
  const g = checkNumber('gradOutput', gradOutput);
  const { xn, norms } = normalizeRows(p);
  const dxn = new Float64Array(n * d);
  const u = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const j = nn[i];
    const dist = diff(xn, d, i, j, eps, u);
    if (dist === 0) continue; // the norm's subgradient at 0 (torch's as well)
    const c = -g / n / (dist + eps) / dist;
    for (let k = 0; k < d; k++) {
      dxn[i * d + k] += c * u[k];
      dxn[j * d + k] -= c * u[k];
    }
  }
  // x^ = x / max(||x||, eps): dx = (dx^ - x^ (x^ . dx^)) / ||x|| above eps, dx^ / eps below.
  const dx = new (x.constructor as Float64ArrayConstructor)(n * d) as T;
  for (let i = 0; i < n; i++) {
    if (norms[i] <= eps) {
      for (let k = 0; k < d; k++) dx[i * d + k] = dxn[i * d + k] / eps;
      continue;
    }
    let dot = 0;
    for (let k = 0; k < d; k++) dot += xn[i * d + k] * dxn[i * d + k];
    for (let k = 0; k < d; k++) dx[i * d + k] = (dxn[i * d + k] - xn[i * d + k] * dot) / norms[i];
  }
  return dx;
}
