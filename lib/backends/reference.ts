/**
 * Pure-TypeScript reference kernels, accumulated in float64. They are the oracle in tests and the
 * fallback backend (SELFSUP_BACKEND=reference, or no native addon). Slow on purpose: plain loops.
 */
import type { FloatArray } from '../validate';

/** Batched C = op(A) op(B) over flattened batch dims (stride 0 broadcasts one side). */
export function refMatmul(
  a: FloatArray, b: FloatArray, out: FloatArray,
  batch: number, m: number, n: number, k: number,
  transA: boolean, transB: boolean, strideA: number, strideB: number,
): void {
  for (let bi = 0; bi < batch; bi++) {
    const ao = bi * strideA, bo = bi * strideB, co = bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = transB ? b[bo + j * k + p] : b[bo + p * n + j];
          s += av * bv;
        }
        out[co + i * n + j] = s;
      }
    }
  }
}
