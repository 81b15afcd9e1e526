/**
 * Raw typed-array Sinkhorn-Knopp prior balancing and the SwAV / MSN / PMSN losses (no autograd).
 *
 *   const { out, iterations, marginalError } = sinkhorn(scores, [B, K], { epsilon: 0.05, iterations: 3 });
 *
 * scores [B, K] are logits (default; the Gibbs kernel is exp(scores / epsilon)) or probabilities
 * (`input: 'probs'`, MSN: the kernel is the probabilities themselves, epsilon unused). The result
 * `out` [B, K] is the balanced transport plan with each row scaled to sum to 1 (SwAV/MSN
 * "codes"); the plan itself is out[b, k] * r_b. Log-domain potentials (native/ops/sinkhorn), so
 * epsilon down to 1e-3 with |scores| ~ 100 stays finite where SwAV's exp form overflows
 * (github.com/facebookresearch/swav/issues/67, github.com/facebookresearch/dinov2/pull/583). Float32 runs the native kernel; Float64 runs
 * the float64 reference kernel (exact, slower). Targets are stop-gradient in SwAV and MSN, so
 * nothing here is differentiated through the Sinkhorn iterations.
 */
import { native, useReference } from '../backends/native';
import type { NativeSinkhornOptions } from '../backends/native-api';
import {
  refSinkhorn, type RefCollective, type RefSinkhornArgs,
} from '../backends/reference-sinkhorn';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { DeviceArray } from '../cuda';
import { checkArray, checkBoolean, checkNumber, checkOneOf, checkOptions, checkShape, type FloatArray } from '../validate';

/** Column (prototype) marginal: uniform, PMSN's power law p_k ∝ k^(-tau) (k = 1..K), or explicit [K]. */
export type SinkhornPrior = 'uniform' | { powerLaw: number } | FloatArray;

/** Multi-process hook: sums `buf` over all processes (in place, or returns the summed array). */
export interface SinkhornCollective {
  allReduceSum(buf: Float32Array): Float32Array | void;
  /** Optional float64 form: when present, the float64 paths (reference kernel, MSN's mean prediction) reduce in float64. */
  allReduceSum64?(buf: Float64Array): Float64Array | void;
}

export interface SinkhornKernelOptions {
  input?: 'logits' | 'probs';
  /** Entropic regularization (logits only), > 0; default 0.05 (SwAV). */
  epsilon?: number;
  /** Maximum number of (column, row) update pairs; default 3 (SwAV/MSN), 1000 with a tolerance. */
  iterations?: number;
  /** Stop once ||P^T 1 - c||_1 < tolerance (checked after every iteration: the sweep computes it). */
  tolerance?: number;
  prior?: SinkhornPrior;
  /** Row marginal: 'uniform' (default) or [B] non-negative weights (normalized). */
  rowMarginal?: 'uniform' | FloatArray;
  /** Batch reductions through a multi-process all-reduce (SwAV's distributed_sinkhorn). */
  collective?: SinkhornCollective;
  /** Also compute marginalError for a fixed iteration count (always computed with a tolerance). */
  returnInfo?: boolean;
  /** Written in place when given (same type and length as scores, not aliasing it). */
  out?: FloatArray;
}

export interface SinkhornKernelResult<T extends FloatArray> {
  out: T;
  /** Iterations performed (< the maximum when the tolerance was reached). */
  iterations: number;
  /** ||P^T 1 - c||_1 of the returned plan (NaN unless returnInfo or tolerance). */
  marginalError: number;
  /** Full read passes over the scores (bytes moved ~ (sweeps + 2) * B * K * 4 natively). */
  sweeps: number;
}

const nm = (op: string | undefined, arg: string): string => (op ? `${op}(${arg})` : arg);

/** The normalized column marginal for a prior (validates it). */
export function priorMarginal(prior: unknown, K: number, op?: string, arg = 'options.prior'): Float64Array {
  const name = nm(op, arg);
  const c = new Float64Array(K);
  if (prior === undefined || prior === 'uniform') return c.fill(1 / K);
  if (typeof prior === 'string') throw rangeError("'uniform' | { powerLaw: tau } | an array of length K", name, prior);
  if (prior !== null && typeof prior === 'object' && !ArrayBuffer.isView(prior) && 'powerLaw' in prior) {
    const tau = (prior as { powerLaw: unknown }).powerLaw;
    if (typeof tau !== 'number') throw typeError('a number', nm(op, `${arg}.powerLaw`), tau);
    if (!Number.isFinite(tau) || tau < 0) throw rangeError('a finite number >= 0', nm(op, `${arg}.powerLaw`), tau);
    let s = 0;
    for (let k = 0; k < K; k++) s += (c[k] = Math.pow(k + 1, -tau));
    for (let k = 0; k < K; k++) c[k] /= s;
    return c;
  }
  if (!(prior instanceof Float32Array) && !(prior instanceof Float64Array)) {
    throw typeError("'uniform' | { powerLaw: tau } | a Float32Array or Float64Array of length K", name, prior);
  }
  if (prior.length !== K) throw selfsupError('ERR_SHAPE_MISMATCH', `a prior of length K = ${K}`, name, `length ${prior.length}`);
  let s = 0;
  for (let k = 0; k < K; k++) {
    const v = prior[k];
    if (!(v >= 0) || !Number.isFinite(v)) throw rangeError('finite non-negative entries', name, `${v} at index ${k}`, true);
    s += v;
  }
  if (!(s > 0) || !Number.isFinite(s)) throw rangeError('a normalizable prior (positive finite sum)', name, `a sum of ${s}`, true);
  for (let k = 0; k < K; k++) c[k] = prior[k] / s;
  return c;
}

/** The checked arguments: the reference kernel's (RefSinkhornArgs) plus the scores and out. */
export interface PlannedSinkhorn extends Omit<RefSinkhornArgs, 'collective'> {
  S: FloatArray;
  collective?: SinkhornCollective;
  out?: FloatArray;
}

/** Validates the arguments (names prefixed with `op(...)` when given). */
export function planSinkhorn(scores: unknown, shape: unknown, options: unknown, op?: string): PlannedSinkhorn {
  const sh = checkShape(nm(op, 'shape'), shape);
  if (sh.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a [B, K] shape', nm(op, 'scores'), shapeStr(sh));
  const [B, K] = sh;
  if (K < 1) throw rangeError('a [B, K] shape with K >= 1', nm(op, 'scores'), shapeStr(sh), true);
  // Device scores (F.sinkhorn on 'cuda') are checked by the CUDA binding; the options here.
  const S = scores instanceof DeviceArray ? (scores as unknown as FloatArray) : checkArray<FloatArray>(nm(op, 'scores'), scores, ['float32', 'float64'], sh);
  const o = checkOptions<SinkhornKernelOptions>(nm(op, 'options'), options, ['input', 'epsilon', 'iterations', 'tolerance', 'prior', 'rowMarginal', 'collective', 'returnInfo', 'out']);
  const input = o.input === undefined ? 'logits' : checkOneOf(nm(op, 'options.input'), o.input, ['logits', 'probs'] as const);
  const epsilon = o.epsilon === undefined ? 0.05 : checkNumber(nm(op, 'options.epsilon'), o.epsilon, { min: 0, minExclusive: true });
  const tolerance = o.tolerance === undefined ? 0 : checkNumber(nm(op, 'options.tolerance'), o.tolerance, { min: 0, minExclusive: true });
  const iterations = o.iterations === undefined ? (tolerance > 0 ? 1000 : 3)
    : checkNumber(nm(op, 'options.iterations'), o.iterations, { integer: true, min: 0, max: 2 ** 31 - 1 });
  const col = priorMarginal(o.prior, K, op);
  let row: Float64Array | null = null;
  if (o.rowMarginal !== undefined && o.rowMarginal !== 'uniform') {
    const r = checkArray<FloatArray>(nm(op, 'options.rowMarginal'), o.rowMarginal, ['float32', 'float64']);
    if (r.length !== B) throw selfsupError('ERR_SHAPE_MISMATCH', `a row marginal of length B = ${B}`, nm(op, 'options.rowMarginal'), `length ${r.length}`);
    let s = 0;
    for (let b = 0; b < B; b++) {
      if (!(r[b] >= 0) || !Number.isFinite(r[b])) throw rangeError('finite non-negative entries', nm(op, 'options.rowMarginal'), `${r[b]} at index ${b}`, true);
      s += r[b];
    }
    if (!(s > 0) && !o.collective) throw rangeError('a normalizable row marginal (positive sum)', nm(op, 'options.rowMarginal'), `a sum of ${s}`, true);
    row = Float64Array.from(r);
  }
  const wantError = o.returnInfo === undefined ? false : checkBoolean(nm(op, 'options.returnInfo'), o.returnInfo);
  let collective: SinkhornCollective | undefined;
  if (o.collective !== undefined) {
    const c = o.collective as { allReduceSum?: unknown };
    if (c === null || typeof c !== 'object' || typeof c.allReduceSum !== 'function') {
      throw typeError('an object with an allReduceSum(Float32Array) method', nm(op, 'options.collective'), o.collective);
    }
    collective = o.collective;
  }
  let out: FloatArray | undefined;
  if (o.out !== undefined) {
    out = checkArray<FloatArray>(nm(op, 'options.out'), o.out, [S instanceof Float32Array ? 'float32' : 'float64'], sh);
    if (out.buffer === S.buffer) throw selfsupError('ERR_INVALID_ARGUMENT', 'an output buffer that does not alias scores', nm(op, 'options.out'), 'an aliasing array');
  }
  return { S, B, K, probs: input === 'probs', epsilon, iterations, tolerance, col, row, wantError, collective, out };
}

function refRun(p: PlannedSinkhorn, op?: string): { out: Float64Array; iterations: number; marginalError: number } {
  for (let i = 0; i < p.S.length; i++) {
    const v = p.S[i];
    const y = p.probs ? v : v / p.epsilon;
    if (!Number.isFinite(y) || (p.probs && v < 0)) {
      throw rangeError(p.probs ? 'finite non-negative probabilities' : 'finite values of scores / epsilon', nm(op, 'scores'), `${v} at index ${i}`, true);
    }
  }
  if (p.probs) {
    for (let b = 0; b < p.B; b++) {
      let s = 0;
      for (let k = 0; k < p.K; k++) s += p.S[b * p.K + k];
      if (!(s > 0)) throw rangeError("each row of scores to have a positive entry (input 'probs')", nm(op, 'scores'), `an all-zero row ${b}`, true);
    }
  }
  return refSinkhorn(p.S, { ...p, wantError: p.wantError || p.tolerance > 0, collective: p.collective as RefCollective | undefined });
}

/** The bindings' options object (the CPU and the CUDA build's). */
export function nativeOptions(p: PlannedSinkhorn, allReduceSum: NativeSinkhornOptions['allReduceSum']): NativeSinkhornOptions {
  return {
    B: p.B, K: p.K, probs: p.probs, epsilon: p.epsilon, iterations: p.iterations, tolerance: p.tolerance,
    colMarginal: p.col, rowMarginal: p.row, wantError: p.wantError, allReduceSum,
  };
}

/** Runs a validated plan. */
export function runSinkhorn<T extends FloatArray>(p: PlannedSinkhorn, op?: string): SinkhornKernelResult<T> {
  const out = (p.out ?? new (p.S.constructor as Float32ArrayConstructor)(p.B * p.K)) as T;
  if (useReference() || p.S instanceof Float64Array) {
    const r = refRun(p, op);
    out.set(r.out);
    return { out, iterations: r.iterations, marginalError: r.marginalError, sweeps: r.iterations + 1 };
  }
  const allReduceSum = p.collective ? (buf: Float32Array) => p.collective!.allReduceSum(buf) : null;
  const r = native().sinkhorn(p.S as Float32Array, out as Float32Array, nativeOptions(p, allReduceSum));
  const marginalError = p.wantError || p.tolerance > 0 ? r.marginalError : NaN;
  return { out, iterations: r.iterations, marginalError, sweeps: r.sweeps };
}

/** Balanced assignments [B, K] (rows sum to 1) of scores [B, K]; see the module comment. */
export function sinkhorn<T extends FloatArray>(scores: T, shape: [number, number] | number[], options?: SinkhornKernelOptions): SinkhornKernelResult<T> {
  return runSinkhorn<T>(planSinkhorn(scores, shape, options));
}

/** Off-thread form (inputs copied at call time). A collective needs the synchronous form. */
export async function sinkhornAsync<T extends FloatArray>(scores: T, shape: [number, number] | number[], options?: SinkhornKernelOptions): Promise<SinkhornKernelResult<T>> {
  const p = planSinkhorn(scores, shape, options);
  if (p.collective) {
    throw selfsupError('ERR_UNSUPPORTED', 'no collective for sinkhornAsync (the all-reduce runs on the calling thread; use sinkhorn)', 'options.collective', 'a collective');
  }
  if (useReference() || p.S instanceof Float64Array) return runSinkhorn<T>(p);
  const r = await native().sinkhornAsync(p.S as Float32Array, nativeOptions(p, null));
  let out = r.out as FloatArray;
  if (p.out) {
    // The caller kept `out` while the kernel ran; it may have been transferred in the meantime.
    checkArray<FloatArray>('options.out', p.out, ['float32'], [p.B, p.K]);
    p.out.set(r.out);
    out = p.out;
  }
  return { out: out as T, iterations: r.iterations, marginalError: p.wantError || p.tolerance > 0 ? r.marginalError : NaN, sweeps: r.sweeps };
}

// ---------------------------------------------------------------------------------------------
// Losses (raw forms). Both return the loss and its gradient with respect to the differentiated
// inputs (the Sinkhorn codes / targets are constants, as in the reference implementations).
// ---------------------------------------------------------------------------------------------

export interface SwavLossKernelOptions {
  /** Softmax temperature of the predictions; default 0.1 (SwAV). */
  temperature?: number;
  /** Sinkhorn epsilon of the codes; default 0.05. */
  epsilon?: number;
  iterations?: number;
  prior?: SinkhornPrior;
  collective?: SinkhornCollective;
  /** Precomputed codes [q1, q2] (each [B, K], rows summing to 1) used instead of sinkhorn(s_i). */
  codes?: [FloatArray, FloatArray];
}

/**
 * SwAV swapped prediction for two views (main_swav.py with 2 crops, both used for assignment):
 *   q_i = sinkhorn(scores_i) (stop-gradient),
 *   loss = -1/(2B) sum_b sum_k [q2 log softmax(s1/T) + q1 log softmax(s2/T)].
 * Returns the loss, d loss / d scores_i = (softmax(s_i/T) - q_j) / (2 B T), and the codes.
 */
export function swavLossKernel<T extends FloatArray>(s1: T, s2: T, shape: [number, number] | number[], options?: SwavLossKernelOptions, op?: string): { loss: number; grad1: T; grad2: T; q1: T; q2: T } {
  const o = checkOptions<SwavLossKernelOptions>(nm(op, 'options'), options, ['temperature', 'epsilon', 'iterations', 'prior', 'collective', 'codes']);
  const temperature = o.temperature === undefined ? 0.1 : checkNumber(nm(op, 'options.temperature'), o.temperature, { min: 0, minExclusive: true });
  const sk = { epsilon: o.epsilon, iterations: o.iterations, prior: o.prior, collective: o.collective };
  const p1 = planSinkhorn(s1, shape, sk, op);
  const p2 = planSinkhorn(s2, shape, sk, op);
  if (s1.constructor !== s2.constructor) throw typeError(`a ${s1.constructor.name} (same type as scores1)`, nm(op, 'scores2'), s2);
  const { B, K } = p1;
  let q1: T, q2: T;
  if (o.codes !== undefined) {
    if (!Array.isArray(o.codes) || o.codes.length !== 2) throw typeError('an array [q1, q2]', nm(op, 'options.codes'), o.codes);
    q1 = checkArray<T>(nm(op, 'options.codes[0]'), o.codes[0], ['float32', 'float64'], [B, K]);
    q2 = checkArray<T>(nm(op, 'options.codes[1]'), o.codes[1], ['float32', 'float64'], [B, K]);
  } else {
    q1 = runSinkhorn<T>(p1, op).out;
    q2 = runSinkhorn<T>(p2, op).out;
  }
  const Ctor = s1.constructor as Float64ArrayConstructor;
  const grad1 = new Ctor(B * K) as unknown as T, grad2 = new Ctor(B * K) as unknown as T;
  let loss = 0;
  const scale = 1 / (2 * B * temperature);
  const side = (s: FloatArray, q: FloatArray, g: FloatArray): void => {
    for (let b = 0; b < B; b++) {
      const o0 = b * K;
      let m = -Infinity;
      for (let k = 0; k < K; k++) m = Math.max(m, s[o0 + k]);
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp((s[o0 + k] - m) / temperature);
      const lse = m / temperature + Math.log(z);
      let qs = 0;
      for (let k = 0; k < K; k++) {
        const logp = s[o0 + k] / temperature - lse;
        loss -= q[o0 + k] * logp;
        qs += q[o0 + k];
        g[o0 + k] = Math.exp(logp);
      }
      // d/ds = (softmax * sum_k q - q) / T: sum_k q = 1 up to rounding; keep it exact.
      for (let k = 0; k < K; k++) g[o0 + k] = (g[o0 + k] * qs - q[o0 + k]) * scale;
    }
  };
  side(s1, q2, grad1);
  side(s2, q1, grad2);
  return { loss: B > 0 ? loss / (2 * B) : 0, grad1, grad2, q1, q2 };
}

export interface MsnLossKernelOptions {
  /** Target sharpening temperature T (targets ∝ p^(1/T)); default 0.25 (MSN). */
  temperature?: number;
  /** Weight of the mean-entropy-maximization / prior-matching regularizer; default 1. */
  meMaxWeight?: number;
  /** Balance the sharpened targets with Sinkhorn (default true, as in MSN's configs). */
  sinkhorn?: boolean;
  iterations?: number;
  /** Column prior: 'uniform' (MSN) or { powerLaw: tau } (PMSN) or explicit [K]. */
  prior?: SinkhornPrior;
  /** All-reduce for the target Sinkhorn and the mean anchor prediction (as MSN's AllReduce). */
  collective?: SinkhornCollective;
}

/**
 * MSN loss (facebookresearch/msn src/losses.py) with the PMSN prior (Assran et al. 2023):
 *   t = sinkhorn(sharpen(target, T), prior) (stop-gradient), anchor row i uses target row i mod Bt,
 *   crossEntropy = -1/N sum_i sum_k t log a,   abar = mean_i a_i (all-reduced mean over processes),
 *   regularizer = KL(abar || prior) = sum_k abar_k (log abar_k - log prior_k),
 *   loss = crossEntropy + meMaxWeight * regularizer.
 * With the uniform prior the regularizer is exactly MSN's me-max term (sum abar log abar + log K).
 */
export function msnLossKernel<T extends FloatArray>(
  anchor: T, target: T, anchorShape: number[], targetShape: number[], options?: MsnLossKernelOptions, op?: string,
): { loss: number; crossEntropy: number; regularizer: number; grad: T; targets: T } {
  const as = checkShape(nm(op, 'anchorShape'), anchorShape), ts = checkShape(nm(op, 'targetShape'), targetShape);
  if (as.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a [N, K] shape', nm(op, 'anchorProbs'), shapeStr(as));
  if (ts.length !== 2 || ts[1] !== as[1]) throw selfsupError('ERR_SHAPE_MISMATCH', `a [B, ${as[1]}] shape (anchor's K)`, nm(op, 'targetProbs'), shapeStr(ts));
  const [N, K] = as, Bt = ts[0];
  if (K < 1) throw rangeError('a [N, K] shape with K >= 1', nm(op, 'anchorProbs'), shapeStr(as), true);
  if (Bt < 1 || N % Bt !== 0) throw selfsupError('ERR_SHAPE_MISMATCH', `a row count that divides N = ${N} (anchor views of each target)`, nm(op, 'targetProbs'), shapeStr(ts));
  const A = checkArray<FloatArray>(nm(op, 'anchorProbs'), anchor, ['float32', 'float64'], as);
  const Tg = checkArray<FloatArray>(nm(op, 'targetProbs'), target, ['float32', 'float64'], ts);
  if (A.constructor !== Tg.constructor) throw typeError(`a ${A.constructor.name} (same type as anchorProbs)`, nm(op, 'targetProbs'), Tg);
  const o = checkOptions<MsnLossKernelOptions>(nm(op, 'options'), options, ['temperature', 'meMaxWeight', 'sinkhorn', 'iterations', 'prior', 'collective']);
  const T = o.temperature === undefined ? 0.25 : checkNumber(nm(op, 'options.temperature'), o.temperature, { min: 0, minExclusive: true });
  const w = o.meMaxWeight === undefined ? 1 : checkNumber(nm(op, 'options.meMaxWeight'), o.meMaxWeight, { min: 0 });
  const useSinkhorn = o.sinkhorn === undefined ? true : checkBoolean(nm(op, 'options.sinkhorn'), o.sinkhorn);
  const rho = priorMarginal(o.prior, K, op);
  const Ctor = A.constructor as Float64ArrayConstructor;
  // Sharpen: p^(1/T) / sum_k p^(1/T), computed as exp((log p - max log p) / T) so that small
  // probabilities do not all underflow to 0 before the normalization.
  const sharp = new Ctor(Bt * K);
  for (let b = 0; b < Bt; b++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = Tg[b * K + k];
      if (!(v >= 0) || !Number.isFinite(v)) throw rangeError('finite non-negative probabilities', nm(op, 'targetProbs'), `${v} at index ${b * K + k}`, true);
      m = Math.max(m, Math.log(v));
    }
    if (m === -Infinity) throw rangeError('each row to have a positive entry', nm(op, 'targetProbs'), `an all-zero row ${b}`, true);
    let s = 0;
    for (let k = 0; k < K; k++) s += (sharp[b * K + k] = Math.exp((Math.log(Tg[b * K + k]) - m) / T));
    for (let k = 0; k < K; k++) sharp[b * K + k] /= s;
  }
  const targets = useSinkhorn
    ? runSinkhorn<T>(planSinkhorn(sharp, [Bt, K], { input: 'probs', iterations: o.iterations, prior: o.prior, collective: o.collective }, op), op).out
    : (sharp as unknown as T);
  let ce = 0;
  const abar = new Float64Array(K);
  for (let i = 0; i < N; i++) {
    const ti = (i % Bt) * K;
    for (let k = 0; k < K; k++) {
      const a = A[i * K + k], t = targets[ti + k];
      if (t !== 0) ce -= t * Math.log(a);
      abar[k] += a;
    }
  }
  ce /= N;
  for (let k = 0; k < K; k++) abar[k] /= N;
  if (o.collective) {
    // MSN's AllReduce: mean over processes of the local means (its backward is the identity).
    const world = Float32Array.of(1);
    const wr = o.collective.allReduceSum(world);
    const W = (wr instanceof Float32Array ? wr : world)[0];
    let src: Float32Array | Float64Array;
    if (o.collective.allReduceSum64) {
      const r = o.collective.allReduceSum64(abar);
      src = r instanceof Float64Array ? r : abar;
    } else {
      const buf = Float32Array.from(abar);
      const r = o.collective.allReduceSum(buf);
      src = r instanceof Float32Array ? r : buf;
    }
    for (let k = 0; k < K; k++) abar[k] = src[k] / W;
  }
  let reg = 0;
  const dreg = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    if (abar[k] > 0) reg += abar[k] * (Math.log(abar[k]) - Math.log(rho[k]));
    dreg[k] = (w * (Math.log(abar[k]) - Math.log(rho[k]) + 1)) / N;
  }
  const grad = new Ctor(N * K) as unknown as T;
  for (let i = 0; i < N; i++) {
    const ti = (i % Bt) * K;
    for (let k = 0; k < K; k++) {
      const t = targets[ti + k];
      grad[i * K + k] = (t !== 0 ? -t / (N * A[i * K + k]) : 0) + dreg[k];
    }
  }
  return { loss: ce + w * reg, crossEntropy: ce, regularizer: reg, grad, targets };
}
