/**
 * Plain float64 reference kernels for the Sinkhorn family (loops, no cleverness): the oracle of
 * the tests and the fallback backend. Same math and update order as native/ops/sinkhorn/cpu.cc:
 * log-domain potentials, SwAV's order (column update, then row update, per iteration), output =
 * the plan with rows scaled to sum to 1 (softmax_k(log G + g) after the last row update).
 */
import type { FloatArray } from '../validate';

export interface RefCollective {
  allReduceSum(buf: Float32Array): Float32Array | void;
  allReduceSum64?(buf: Float64Array): Float64Array | void;
}

export interface RefSinkhornArgs {
  B: number;
  K: number;
  probs: boolean;
  epsilon: number;
  iterations: number;
  /** > 0: stop once sum_k |P^T 1 - c|_k < tolerance (checked after every iteration). */
  tolerance: number;
  /** Column marginal [K], non-negative, any positive sum (normalized here). */
  col: Float64Array;
  /** Row marginal [B] (local rows), or null for uniform 1 / B_global. */
  row: Float64Array | null;
  wantError: boolean;
  collective?: RefCollective;
}

export interface RefSinkhornResult {
  out: Float64Array;
  iterations: number;
  marginalError: number;
}

function reduce(c: RefCollective | undefined, buf: Float64Array): void {
  if (!c) return;
  if (c.allReduceSum64) {
    // A float64 collective keeps these sums in float64 (no rounding through Float32Array).
    const r = c.allReduceSum64(buf);
    if (r instanceof Float64Array && r !== buf) buf.set(r);
    return;
  }
  const f = Float32Array.from(buf);
  const r = c.allReduceSum(f);
  const src = r instanceof Float32Array ? r : f;
  for (let i = 0; i < buf.length; i++) buf[i] = src[i];
}

/** Log-domain Sinkhorn-Knopp in float64. */
export function refSinkhorn(scores: FloatArray, a: RefSinkhornArgs): RefSinkhornResult {
  const { B, K, probs, epsilon, iterations: n, tolerance, collective } = a;
  const logG = new Float64Array(B * K);
  for (let i = 0; i < B * K; i++) logG[i] = probs ? Math.log(scores[i]) : scores[i] / epsilon;
  let csum = 0;
  for (let k = 0; k < K; k++) csum += a.col[k];
  const c = new Float64Array(K), logc = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    c[k] = a.col[k] / csum;
    logc[k] = Math.log(c[k]);
  }
  let rsumLocal = 0;
  if (a.row) for (let b = 0; b < B; b++) rsumLocal += a.row[b];
  const head = Float64Array.of(B, rsumLocal);
  reduce(collective, head);
  const out = new Float64Array(B * K);
  if (head[0] < 1) return { out, iterations: 0, marginalError: 1 };
  const r = new Float64Array(B);
  for (let b = 0; b < B; b++) r[b] = a.row ? a.row[b] / head[1] : 1 / head[0];

  const f = new Float64Array(B), g = new Float64Array(K);

  const columnUpdate = (): void => {
    // lse_k = LSE_b(logG[b,k] + f_b) over all processes: per-column reference = mean of the
    // processes' local maxima, then sums relative to it (the native kernel does the same).
    const M = new Float64Array(K).fill(-Infinity);
    for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) M[k] = Math.max(M[k], logG[b * K + k] + f[b]);
    const s = new Float64Array(K);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) if (M[k] > -Infinity) s[k] += Math.exp(logG[b * K + k] + f[b] - M[k]);
    }
    const ref = new Float64Array(K);
    if (collective) {
      const buf = new Float64Array(2 * K);
      for (let k = 0; k < K; k++) {
        const has = s[k] > 0;
        buf[k] = has ? M[k] : 0;
        buf[K + k] = has ? 1 : 0;
      }
      reduce(collective, buf);
      for (let k = 0; k < K; k++) {
        ref[k] = buf[K + k] > 0 ? buf[k] / buf[K + k] : 0;
        s[k] = s[k] > 0 ? s[k] * Math.exp(Math.min(80, M[k] - ref[k])) : 0;
      }
      reduce(collective, s);
    } else {
      ref.set(M);
    }
    for (let k = 0; k < K; k++) {
      const lse = s[k] > 0 ? ref[k] + Math.log(s[k]) : -Infinity;
      g[k] = logc[k] > -Infinity && lse > -Infinity ? logc[k] - lse : -Infinity;
    }
  };
  const rowUpdate = (): void => {
    for (let b = 0; b < B; b++) {
      let m = -Infinity;
      for (let k = 0; k < K; k++) m = Math.max(m, logG[b * K + k] + g[k]);
      let s = 0;
      if (m > -Infinity) for (let k = 0; k < K; k++) s += Math.exp(logG[b * K + k] + g[k] - m);
      f[b] = s > 0 ? Math.log(r[b]) - m - Math.log(s) : -Infinity;
    }
  };
  const marginalError = (): number => {
    const P = new Float64Array(K);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) {
        const v = logG[b * K + k] + f[b] + g[k];
        if (v > -Infinity) P[k] += Math.exp(v);
      }
    }
    reduce(collective, P);
    let e = 0;
    for (let k = 0; k < K; k++) e += Math.abs(P[k] - c[k]);
    return e;
  };

  if (n > 0) columnUpdate();
  let t = 0;
  let err = NaN;
  for (;;) {
    rowUpdate();
    if ((tolerance <= 0 && t + 1 >= n) || n === 0) {
      t = n;
      if (a.wantError) err = marginalError();
      break;
    }
    t++;
    err = marginalError();
    if (tolerance > 0 && (err < tolerance || t >= n)) break;
    columnUpdate();
  }
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logG[b * K + k] + g[k]);
    let s = 0;
    if (m > -Infinity) for (let k = 0; k < K; k++) s += Math.exp(logG[b * K + k] + g[k] - m);
    for (let k = 0; k < K; k++) out[b * K + k] = s > 0 ? Math.exp(logG[b * K + k] + g[k] - m) / s : 0;
  }
  return { out, iterations: t, marginalError: err };
}

/**
 * SwAV's own exp-form Sinkhorn (facebookresearch/swav main_swav.py distributed_sinkhorn, one
 * process), in the given precision: `round` = Math.fround gives the float32 composition, identity
 * gives float64. It overflows (Inf/NaN) once scores/epsilon exceeds ~88 (float32) or ~709 (float64).
 */
export function refSinkhornExp(
  scores: FloatArray, B: number, K: number, epsilon: number, iterations: number,
  round: (x: number) => number = (x) => x,
): Float64Array {
  const Q = new Float64Array(B * K);
  let total = 0;
  for (let i = 0; i < B * K; i++) {
    Q[i] = round(Math.exp(round(scores[i] / epsilon)));
    total = round(total + Q[i]);
  }
  for (let i = 0; i < B * K; i++) Q[i] = round(Q[i] / total);
  for (let it = 0; it < iterations; it++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let b = 0; b < B; b++) s = round(s + Q[b * K + k]);
      for (let b = 0; b < B; b++) Q[b * K + k] = round(round(Q[b * K + k] / s) / K);
    }
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = round(s + Q[b * K + k]);
      for (let k = 0; k < K; k++) Q[b * K + k] = round(round(Q[b * K + k] / s) / B);
    }
  }
  for (let i = 0; i < B * K; i++) Q[i] = round(Q[i] * B);
  return Q;
}

/** Row-wise log-softmax of x / temperature, float64. */
export function refLogSoftmax(x: FloatArray, B: number, K: number, temperature: number): Float64Array {
  const out = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, x[b * K + k] / temperature);
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(x[b * K + k] / temperature - m);
    const lse = m + Math.log(s);
    for (let k = 0; k < K; k++) out[b * K + k] = x[b * K + k] / temperature - lse;
  }
  return out;
}

/**
 * SwAV swapped-prediction loss for two views, given their codes q1 = sinkhorn(s1), q2 = sinkhorn(s2):
 * loss = -1/(2B) sum_b sum_k [q2 log softmax(s1/T) + q1 log softmax(s2/T)] (main_swav.py, 2 crops).
 * Gradients: d/ds1 = (softmax(s1/T) - q2) / (2 B T) (rows of q sum to 1), same for s2.
 */
export function refSwavLoss(
  s1: FloatArray, s2: FloatArray, q1: FloatArray, q2: FloatArray, B: number, K: number, temperature: number,
): { loss: number; grad1: Float64Array; grad2: Float64Array } {
  const l1 = refLogSoftmax(s1, B, K, temperature), l2 = refLogSoftmax(s2, B, K, temperature);
  let loss = 0;
  const grad1 = new Float64Array(B * K), grad2 = new Float64Array(B * K);
  for (let i = 0; i < B * K; i++) {
    loss -= q2[i] * l1[i] + q1[i] * l2[i];
    grad1[i] = (Math.exp(l1[i]) - q2[i]) / (2 * B * temperature);
    grad2[i] = (Math.exp(l2[i]) - q1[i]) / (2 * B * temperature);
  }
  return { loss: loss / (2 * B), grad1, grad2 };
}

/** p^(1/T) normalized per row (MSN's sharpen), float64. */
export function refSharpen(p: FloatArray, B: number, K: number, T: number): Float64Array {
  const out = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (out[b * K + k] = Math.pow(p[b * K + k], 1 / T));
    for (let k = 0; k < K; k++) out[b * K + k] /= s;
  }
  return out;
}

/**
 * MSN / PMSN loss given the (already sharpened and balanced) targets t [Bt, K] and anchor
 * probabilities a [N, K] with N = V * Bt (anchor row i uses target row i mod Bt, as MSN repeats
 * the targets once per anchor view):
 *   crossEntropy = -1/N sum_i sum_k t log a,  abar = mean_i a_i,
 *   regularizer = KL(abar || rho) = sum_k abar_k (log abar_k - log rho_k)   (rho uniform: MSN me-max)
 *   loss = crossEntropy + weight * regularizer.
 */
export function refMsnLoss(
  a: FloatArray, t: FloatArray, N: number, Bt: number, K: number, rho: Float64Array, weight: number,
): { loss: number; crossEntropy: number; regularizer: number; grad: Float64Array } {
  let ce = 0;
  const abar = new Float64Array(K);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < K; k++) {
      const tv = t[(i % Bt) * K + k];
      if (tv !== 0) ce -= tv * Math.log(a[i * K + k]);
      abar[k] += a[i * K + k] / N;
    }
  }
  ce /= N;
  let reg = 0;
  for (let k = 0; k < K; k++) if (abar[k] > 0) reg += abar[k] * (Math.log(abar[k]) - Math.log(rho[k]));
  const grad = new Float64Array(N * K);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < K; k++) {
      const tv = t[(i % Bt) * K + k];
      grad[i * K + k] = (tv !== 0 ? -tv / a[i * K + k] : 0) / N + (weight * (Math.log(abar[k]) - Math.log(rho[k]) + 1)) / N;
    }
  }
  return { loss: ce + weight * reg, crossEntropy: ce, regularizer: reg, grad };
}
