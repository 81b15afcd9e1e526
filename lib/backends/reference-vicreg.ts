/**
 * Float64 references for VICReg, its single-input terms and Barlow Twins, written plainly with
 * the full d x d matrices (the textbook formulas of facebookresearch/vicreg and
 * facebookresearch/barlowtwins). Oracle in tests and the fallback backend. Gradients are the
 * hand-derived ones of the textbook composition (also through the d x d matrices).
 */
import type { FloatArray } from '../validate';

type Mat = Float64Array; // row-major

function centered(x: FloatArray, n: number, d: number): { xc: Mat; mean: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += x[i * d + c];
  for (let c = 0; c < d; c++) mean[c] /= n;
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) xc[i * d + c] = x[i * d + c] - mean[c];
  return { xc, mean };
}

/** cov = x_c^T x_c / (n - 1), [d, d]. */
function covariance(xc: Mat, n: number, d: number): Mat {
  const C = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += xc[r * d + i] * xc[r * d + j];
      C[i * d + j] = s / (n - 1);
    }
  return C;
}

function stds(xc: Mat, n: number, d: number, eps: number): Float64Array {
  const s = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    let v = 0;
    for (let r = 0; r < n; r++) v += xc[r * d + c] ** 2;
    s[c] = Math.sqrt(v / (n - 1) + eps);
  }
  return s;
}

/** mean_d relu(1 - sqrt(var_d + eps)) (unbiased var). */
export function refVarianceLoss(x: FloatArray, n: number, d: number, eps: number): number {
  const { xc } = centered(x, n, d);
  const s = stds(xc, n, d, eps);
  let t = 0;
  for (let c = 0; c < d; c++) t += Math.max(0, 1 - s[c]);
  return t / d;
}

export function refVarianceLossBackward(x: FloatArray, n: number, d: number, eps: number, g: number): Float64Array {
  const { xc } = centered(x, n, d);
  const s = stds(xc, n, d, eps);
  const dx = new Float64Array(n * d);
  // d std_c / d x_rc = x_c,rc / ((n - 1) std_c) (the mean's part sums to zero).
  for (let r = 0; r < n; r++)
    for (let c = 0; c < d; c++) dx[r * d + c] = s[c] < 1 ? (-g * xc[r * d + c]) / (d * (n - 1) * s[c]) : 0;
  return dx;
}

/** sum_{i != j} cov_ij^2 / d. */
export function refCovarianceLoss(x: FloatArray, n: number, d: number): number {
  const { xc } = centered(x, n, d);
  const C = covariance(xc, n, d);
  let t = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) if (i !== j) t += C[i * d + j] ** 2;
  return t / d;
}

export function refCovarianceLossBackward(x: FloatArray, n: number, d: number, g: number): Float64Array {
  const { xc } = centered(x, n, d);
  const C = covariance(xc, n, d);
  for (let i = 0; i < d; i++) C[i * d + i] = 0;
  // d/dx_c sum_{i != j} C_ij^2 = 4 x_c C_off / (n - 1); centring's gradient is zero here.
  const dx = new Float64Array(n * d);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += xc[r * d + i] * C[i * d + j];
      dx[r * d + j] = (g * 4 * s) / ((n - 1) * d);
    }
  return dx;
}

export function refVicregTerms(x: FloatArray, y: FloatArray, n: number, d: number, eps: number): { invariance: number; variance: number; covariance: number } {
  let inv = 0;
  for (let k = 0; k < n * d; k++) inv += (x[k] - y[k]) ** 2;
  return {
    invariance: inv / (n * d),
    variance: refVarianceLoss(x, n, d, eps) / 2 + refVarianceLoss(y, n, d, eps) / 2,
    covariance: refCovarianceLoss(x, n, d) + refCovarianceLoss(y, n, d),
  };
}

export function refVicregBackward(
  x: FloatArray, y: FloatArray, n: number, d: number, eps: number,
  gInv: number, gVar: number, gCov: number,
): { dx: Float64Array; dy: Float64Array } {
  const out: Float64Array[] = [];
  for (const [z, sign] of [[x, 1], [y, -1]] as const) {
    const g = new Float64Array(n * d);
    for (let k = 0; k < n * d; k++) g[k] = (sign * 2 * gInv * (x[k] - y[k])) / (n * d);
    const v = refVarianceLossBackward(z, n, d, eps, gVar / 2);
    const c = refCovarianceLossBackward(z, n, d, gCov);
    for (let k = 0; k < n * d; k++) g[k] += v[k] + c[k];
    out.push(g);
  }
  return { dx: out[0], dy: out[1] };
}

/** Batch norm without affine, biased variance (nn.BatchNorm1d(affine=False) in training mode). */
function batchNorm(z: FloatArray, n: number, d: number, eps: number): { a: Mat; invStd: Float64Array } {
  const { xc } = centered(z, n, d);
  const invStd = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    let v = 0;
    for (let r = 0; r < n; r++) v += xc[r * d + c] ** 2;
    invStd[c] = 1 / Math.sqrt(v / n + eps);
  }
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) xc[r * d + c] *= invStd[c];
  return { a: xc, invStd };
}

function crossCorrelation(A: Mat, B: Mat, n: number, d: number): Mat {
  const C = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += A[r * d + i] * B[r * d + j];
      C[i * d + j] = s / n;
    }
  return C;
}

export function refBarlowTwins(z1: FloatArray, z2: FloatArray, n: number, d: number, lambda: number, eps: number): { loss: number; onDiagonal: number; offDiagonal: number } {
  const A = batchNorm(z1, n, d, eps).a, B = batchNorm(z2, n, d, eps).a;
  const C = crossCorrelation(A, B, n, d);
  let on = 0, off = 0;
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      if (i === j) on += (C[i * d + j] - 1) ** 2;
      else off += C[i * d + j] ** 2;
    }
  return { loss: on + lambda * off, onDiagonal: on, offDiagonal: off };
}

export function refBarlowTwinsBackward(z1: FloatArray, z2: FloatArray, n: number, d: number, lambda: number, eps: number, g: number): { dz1: Float64Array; dz2: Float64Array } {
  const bnA = batchNorm(z1, n, d, eps), bnB = batchNorm(z2, n, d, eps);
  const A = bnA.a, B = bnB.a;
  const C = crossCorrelation(A, B, n, d);
  const dc = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) dc[i * d + j] = g * (i === j ? 2 * (C[i * d + j] - 1) : 2 * lambda * C[i * d + j]);
  const dA = new Float64Array(n * d), dB = new Float64Array(n * d);
  for (let r = 0; r < n; r++)
    for (let i = 0; i < d; i++) {
      let sa = 0, sb = 0;
      for (let j = 0; j < d; j++) {
        sa += dc[i * d + j] * B[r * d + j];
        sb += dc[j * d + i] * A[r * d + j];
      }
      dA[r * d + i] = sa / n;
      dB[r * d + i] = sb / n;
    }
  const bnBack = (bn: { a: Mat; invStd: Float64Array }, dX: Mat): Float64Array => {
    const dz = new Float64Array(n * d);
    for (let c = 0; c < d; c++) {
      let m1 = 0, m2 = 0;
      for (let r = 0; r < n; r++) { m1 += dX[r * d + c]; m2 += dX[r * d + c] * bn.a[r * d + c]; }
      m1 /= n; m2 /= n;
      for (let r = 0; r < n; r++) dz[r * d + c] = bn.invStd[c] * (dX[r * d + c] - m1 - bn.a[r * d + c] * m2);
    }
    return dz;
  };
  return { dz1: bnBack(bnA, dA), dz2: bnBack(bnB, dB) };
}
