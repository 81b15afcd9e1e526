/**
 * RankMe (Garrido et al. 2023, "RankMe: Assessing the Downstream Performance of Pretrained
 * Self-Supervised Representations by Their Rank"): the effective rank of an embedding matrix
 * Z [N, D], exp(-sum_k p_k log p_k) with p_k = sigma_k / ||sigma||_1 + eps over its singular values.
 *
 * The singular values come from the eigenvalues of the D x D Gram matrix Z^T Z in float64, by
 * cyclic Jacobi rotations (a local helper: the package has no eigen/svd op).
 */
import type { Tensor } from '../tensor';

export function rankMe(z: Tensor, eps = 1e-7): number {
  const [N, D] = z.shape;
  const x = z.data;
  const g = new Float64Array(D * D);
  for (let n = 0; n < N; n++) {
    const row = n * D;
    for (let i = 0; i < D; i++) {
      const a = x[row + i];
      if (a === 0) continue;
      for (let j = i; j < D; j++) g[i * D + j] += a * x[row + j];
    }
  }
  for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) g[i * D + j] = g[j * D + i];
  const sigma = symmetricEigenvalues(g, D).map((l) => Math.sqrt(Math.max(l, 0)));
  const total = sigma.reduce((s, v) => s + v, 0);
  if (!(total > 0)) return 1;
  let h = 0;
  for (const s of sigma) {
    const p = s / total + eps;
    h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** Eigenvalues of a symmetric matrix a [n, n] (overwritten) by cyclic Jacobi sweeps. */
export function symmetricEigenvalues(a: Float64Array, n: number, maxSweeps = 50): number[] {
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0, diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i] * a[i * n + i];
      for (let j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p], aqq = a[q * n + q];
        // Rotation angle that zeroes a[p][q] (Golub and Van Loan, Algorithm 8.5.2).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]);
}
