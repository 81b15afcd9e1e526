/** Error measures the workloads' `check()` report (docs/bench.md, the error column). */

/** Normwise relative error: max |a - ref| / max |ref| (the absolute error when ref is all zeros). */
export function normwiseError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0, m = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return m > 0 ? e / m : e;
}
