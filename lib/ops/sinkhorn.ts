/**
 * F.sinkhorn, F.swavLoss, F.msnLoss: Sinkhorn-Knopp prior balancing and the losses built on it
 * (SwAV, Caron et al. 2020; MSN, Assran et al. 2022; PMSN, Assran et al. 2023 "The Hidden Uniform
 * Cluster Prior in Self-Supervised Learning"). Kernels: lib/kernels/sinkhorn.ts (native,
 * log-domain). The Sinkhorn codes / targets are stop-gradient, as in the reference repos: the
 * result of F.sinkhorn has requiresGrad false, and the losses differentiate the prediction side only.
 * F.sinkhorn runs on 'cuda' (float32 scores; the CUDA kernel, one process: no collective); the
 * losses built on it stay on the CPU.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import {
  msnLossKernel, nativeOptions, planSinkhorn, priorMarginal, runSinkhorn, swavLossKernel,
  type SinkhornCollective,
} from '../kernels/sinkhorn';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, optBool, optNumber, opts } from './common';
import { add, eq, ge, gt, log, lt, mul, sub, where } from './elementwise';
import { logSoftmax, softmax } from './nn-functional';
import { amax, mean, sum } from './reduce';
import { repeat } from './shape';
import { checkCudaFloat32, checkSameDevice, dev, devOut, devTensor, fused } from './fused-device';
import type { FloatArray } from '../validate';

export type SinkhornPriorOption = 'uniform' | { powerLaw: number } | Tensor;

export interface SinkhornOptions {
  /** What scores holds: 'logits' (default; kernel exp(scores / epsilon)) or 'probs' (MSN). */
  input?: 'logits' | 'probs';
  /** Entropic regularization for logits, > 0 (default 0.05). Safe down to 1e-3. */
  epsilon?: number;
  /** Maximum (column, row) update pairs: default 3 (SwAV/MSN), 1000 when a tolerance is given. */
  iterations?: number;
  /** Stop once ||P^T 1 - c||_1 < tolerance. */
  tolerance?: number;
  /** Column marginal: 'uniform' (default), { powerLaw: tau } (PMSN: p_k ∝ k^-tau), or a [K] tensor. */
  prior?: SinkhornPriorOption;
  /** Row marginal: 'uniform' (default) or a [B] tensor. */
  rowMarginal?: 'uniform' | Tensor;
  /** Multi-process batch reductions (SwAV's distributed_sinkhorn); default: one process. */
  collective?: SinkhornCollective;
  /** Return { plan, iterations, marginalError } instead of the plan alone. */
  returnInfo?: boolean;
}

export interface SinkhornInfo {
  /** [B, K] assignments: the transport plan with rows scaled to sum to 1 (the plan is plan[b,k] * r_b). */
  plan: Tensor;
  iterations: number;
  /** ||P^T 1 - c||_1 of the returned plan. */
  marginalError: number;
}

/**
 * A marginal given as a tensor: its host values (the kernels take the marginals as host arrays on
 * either device). It must be on the scores' device (`like`); a cuda one is read back.
 */
function tensorData(op: string, arg: string, v: unknown, like?: Tensor): unknown {
  if (v instanceof Tensor) {
    if (v.dtype !== 'float32' && v.dtype !== 'float64') throw typeError('a float32 or float64 Tensor', `${op}(${arg})`, v);
    if (v.ndim !== 1) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 1-D tensor', `${op}(${arg})`, shapeStr(v.shape));
    if (like) checkSameDevice(op, arg, v, like, 'scores');
    return v.device === 'cuda' ? v.toArray() : v.data;
  }
  return v;
}

function kernelOptions(op: string, o: Partial<SinkhornOptions>, like: Tensor): Record<string, unknown> {
  return {
    input: o.input, epsilon: o.epsilon, iterations: o.iterations, tolerance: o.tolerance,
    prior: tensorData(op, 'options.prior', o.prior, like),
    rowMarginal: tensorData(op, 'options.rowMarginal', o.rowMarginal, like),
    collective: o.collective, returnInfo: o.returnInfo,
  };
}

/**
 * Balanced assignments of scores [B, K]: rows sum to 1, columns (times r_b) to the prior.
 * Not differentiated (SwAV/MSN targets are stop-gradient): the result has requiresGrad false.
 *
 *   const q = F.sinkhorn(scores, { epsilon: 0.05, iterations: 3 });
 *   const { plan, iterations, marginalError } = F.sinkhorn(scores, { tolerance: 1e-6, returnInfo: true });
 */
export function sinkhorn(scores: Tensor, options?: SinkhornOptions & { returnInfo?: false }): Tensor;
export function sinkhorn(scores: Tensor, options: SinkhornOptions & { returnInfo: true }): SinkhornInfo;
export function sinkhorn(scores: Tensor, options?: SinkhornOptions): Tensor | SinkhornInfo {
  const OP = 'sinkhorn';
  const s = checkFloat(OP, 'scores', scores);
  if (s.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [B, K]', `${OP}(scores)`, shapeStr(s.shape));
  checkCudaFloat32(OP, 'scores', s);
  const o = opts<SinkhornOptions>(OP, options, ['input', 'epsilon', 'iterations', 'tolerance', 'prior', 'rowMarginal', 'collective', 'returnInfo']);
  const p = planSinkhorn(s.data, s.shape, kernelOptions(OP, o, s), OP);
  const r = s.device === 'cuda' ? sinkhornCuda(p, s) : runSinkhorn<FloatArray>(p, OP);
  const plan = r.out instanceof Tensor ? r.out : new Tensor(r.out, s.shape.slice());
  if (p.wantError) return { plan, iterations: r.iterations, marginalError: r.marginalError };
  return plan;
}

/** The CUDA kernel on device scores (one process; the collective is the CPU's). */
function sinkhornCuda(p: ReturnType<typeof planSinkhorn>, s: Tensor): { out: Tensor; iterations: number; marginalError: number } {
  if (p.collective) throw selfsupError('ERR_UNSUPPORTED', "no collective on 'cuda' (the CUDA kernel runs on one process)", 'sinkhorn(options.collective)', 'a collective');
  const out = devOut('float32', s.numel());
  const r = fused('sinkhorn').cudaSinkhorn(dev(s), out, nativeOptions(p, null) as unknown as Record<string, unknown>);
  // As runSinkhorn: the error is reported only when it was asked for or drove the loop.
  return { out: devTensor(out, s.shape), iterations: r.iterations, marginalError: p.wantError || p.tolerance > 0 ? r.marginalError : NaN };
}

export interface SwavLossOptions {
  /** Prediction temperature (default 0.1). */
  temperature?: number;
  /** Sinkhorn epsilon of the codes (default 0.05). */
  epsilon?: number;
  /** Sinkhorn iterations (default 3). */
  iterations?: number;
  prior?: 'uniform' | { powerLaw: number } | Tensor;
  collective?: SinkhornCollective;
  /** Precomputed codes [q1, q2] ([B, K] each; no gradient) instead of sinkhorn(scores_i). */
  codes?: [Tensor, Tensor];
}

/** The loss as a 0-d tensor of the input's dtype. */
function lossScalar(like: FloatArray | Tensor['data'], v: number): Tensor {
  const out = new (like.constructor as Float64ArrayConstructor)(1);
  out[0] = v;
  return new Tensor(out, []);
}
/** A gradient the forward computed for a unit upstream gradient, times the scalar g. */
function scaled(grad: FloatArray, g: number, shape: number[]): Tensor {
  const d = new (grad.constructor as Float64ArrayConstructor)(grad.length);
  for (let i = 0; i < grad.length; i++) d[i] = grad[i] * g;
  return new Tensor(d, shape);
}

const SwavFn = defineFunction({
  name: 'swavLoss',
  forward(ctx: FunctionCtx, s1: Tensor, s2: Tensor, o: Record<string, unknown>): Tensor {
    const r = swavLossKernel(s1.data as FloatArray, s2.data as FloatArray, s1.shape, o, 'swavLoss');
    ctx.grad1 = r.grad1;
    ctx.grad2 = r.grad2;
    ctx.shape = s1.shape.slice();
    return lossScalar(s1.data, r.loss);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const gv = g.data[0], shape = ctx.shape as number[];
    return [ctx.needsInputGrad[0] ? scaled(ctx.grad1 as FloatArray, gv, shape) : null, ctx.needsInputGrad[1] ? scaled(ctx.grad2 as FloatArray, gv, shape) : null];
  },
});

/**
 * SwAV swapped-prediction loss of two views' prototype scores [B, K] (scalar):
 * -1/(2B) sum [q2 · log softmax(s1/T) + q1 · log softmax(s2/T)] with q_i = sinkhorn(s_i) (no gradient).
 */
export function swavLoss(scores1: Tensor, scores2: Tensor, options?: SwavLossOptions): Tensor {
  const OP = 'swavLoss';
  const a = checkFloat(OP, 'scores1', scores1), b = checkFloat(OP, 'scores2', scores2);
  checkSameDtype(OP, 'scores2', b, a, 'scores1');
  if (a.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [B, K]', `${OP}(scores1)`, shapeStr(a.shape));
  if (b.ndim !== 2 || b.shape[0] !== a.shape[0] || b.shape[1] !== a.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(a.shape)} (the shape of scores1)`, `${OP}(scores2)`, shapeStr(b.shape));
  }
  const o = opts<SwavLossOptions>(OP, options, ['temperature', 'epsilon', 'iterations', 'prior', 'collective', 'codes']);
  let codes: [unknown, unknown] | undefined;
  if (o.codes !== undefined) {
    if (!Array.isArray(o.codes) || o.codes.length !== 2) throw typeError('an array [q1, q2] of Tensors', `${OP}(options.codes)`, o.codes);
    codes = [checkFloat(OP, 'options.codes[0]', o.codes[0]).data, checkFloat(OP, 'options.codes[1]', o.codes[1]).data];
  }
  if (a.device === 'cuda' || b.device === 'cuda') return swavLossDevice(a, b, o);
  const ko = { temperature: o.temperature, epsilon: o.epsilon, iterations: o.iterations, prior: tensorData(OP, 'options.prior', o.prior, a), collective: o.collective, codes };
  return SwavFn(a, b, ko);
}

export interface MsnLossOptions {
  /** Target sharpening temperature (default 0.25). */
  temperature?: number;
  /** Regularizer weight (default 1, MSN's me-max weight). */
  meMaxWeight?: number;
  /** Sinkhorn-balance the sharpened targets (default true). */
  sinkhorn?: boolean;
  /** Sinkhorn iterations (default 3). */
  iterations?: number;
  /** 'uniform' (MSN) or { powerLaw: tau } (PMSN, tau = 0.25 in the paper) or a [K] tensor. */
  prior?: 'uniform' | { powerLaw: number } | Tensor;
  collective?: SinkhornCollective;
}

const MsnFn = defineFunction({
  name: 'msnLoss',
  forward(ctx: FunctionCtx, a: Tensor, t: Tensor, o: Record<string, unknown>): Tensor {
    const r = msnLossKernel(a.data as FloatArray, t.data as FloatArray, a.shape, t.shape, o, 'msnLoss');
    ctx.grad = r.grad;
    ctx.shape = a.shape.slice();
    return lossScalar(a.data, r.loss);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    return [ctx.needsInputGrad[0] ? scaled(ctx.grad as FloatArray, g.data[0], ctx.shape as number[]) : null, null];
  },
});

/**
 * MSN / PMSN loss (scalar) of anchor predictions [N, K] (probabilities, N = views x B) against
 * target predictions [B, K] (no gradient): cross-entropy to the sharpened, Sinkhorn-balanced
 * targets plus meMaxWeight * KL(mean anchor prediction || prior). With `prior: { powerLaw: tau }`
 * (PMSN) the same prior is the column marginal of the target Sinkhorn.
 */
export function msnLoss(anchorProbs: Tensor, targetProbs: Tensor, options?: MsnLossOptions): Tensor {
  const OP = 'msnLoss';
  const a = checkFloat(OP, 'anchorProbs', anchorProbs), t = checkFloat(OP, 'targetProbs', targetProbs);
  checkSameDtype(OP, 'targetProbs', t, a, 'anchorProbs');
  if (a.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [N, K]', `${OP}(anchorProbs)`, shapeStr(a.shape));
  if (t.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [B, K]', `${OP}(targetProbs)`, shapeStr(t.shape));
  const o = opts<MsnLossOptions>(OP, options, ['temperature', 'meMaxWeight', 'sinkhorn', 'iterations', 'prior', 'collective']);
  if (a.device === 'cuda' || t.device === 'cuda') return msnLossDevice(a, t, o);
  const ko = {
    temperature: o.temperature, meMaxWeight: o.meMaxWeight, sinkhorn: o.sinkhorn, iterations: o.iterations,
    prior: tensorData(OP, 'options.prior', o.prior, a), collective: o.collective,
  };
  return MsnFn(a, t, ko);
}

// ---- the losses on 'cuda': compositions of device ops ----------------------------------------
// The codes / targets come from the Sinkhorn CUDA kernel (F.sinkhorn, no gradient); the rest is the
// CPU kernel's formula in differentiable device ops (logSoftmax, softmax, mul, sum, where), so the
// gradients come from autograd. Float32 on the device (the CPU kernels accumulate in double). One
// process only: a collective is ERR_UNSUPPORTED, as for F.sinkhorn on cuda.

function noCollective(op: string, c: unknown): void {
  if (c !== undefined && c !== null) throw selfsupError('ERR_UNSUPPORTED', "no collective on 'cuda' (the CUDA kernels run on one process)", `${op}(options.collective)`, 'a collective');
}

/** -1/(2B) sum [q2 . logSoftmax(s1 / T) + q1 . logSoftmax(s2 / T)], q_i = sinkhorn(s_i) or the given codes. */
function swavLossDevice(a: Tensor, b: Tensor, o: Partial<SwavLossOptions>): Tensor {
  const OP = 'swavLoss';
  checkSameDevice(OP, 'scores2', b, a, 'scores1');
  checkCudaFloat32(OP, 'scores1', a);
  noCollective(OP, o.collective);
  const T = optNumber(OP, 'options.temperature', o.temperature, 0.1, { min: 0, minExclusive: true });
  let q1: Tensor, q2: Tensor;
  if (o.codes !== undefined) {
    [q1, q2] = o.codes.map((q, i) => {
      const arg = `options.codes[${i}]`;
      checkSameDevice(OP, arg, q, a, 'scores1');
      if (q.ndim !== 2 || q.shape[0] !== a.shape[0] || q.shape[1] !== a.shape[1]) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(a.shape)} (the shape of scores1)`, `${OP}(${arg})`, shapeStr(q.shape));
      return q.detach();
    }) as [Tensor, Tensor];
  } else {
    const so = { epsilon: o.epsilon, iterations: o.iterations, prior: o.prior };
    [q1, q2] = [sinkhorn(a.detach(), so), sinkhorn(b.detach(), so)];
  }
  const B = a.shape[0];
  const side = (s: Tensor, q: Tensor): Tensor => sum(mul(q, logSoftmax(mul(s, 1 / T), 1)));
  return mul(add(side(a, q2), side(b, q1)), B > 0 ? -1 / (2 * B) : 0);
}

/**
 * MSN / PMSN on 'cuda': targets = sinkhorn(softmax(log p / T)) (p^(1/T) normalized), anchor row i
 * against target row i mod B; cross-entropy -1/N sum t log a (t = 0 terms skipped, through a select
 * so that log 0 never meets the gradient), plus w KL(mean_i a_i || prior) (abar = 0 terms skipped).
 * The target values are checked on the device and one count read back (a synchronization).
 */
function msnLossDevice(a: Tensor, t: Tensor, o: Partial<MsnLossOptions>): Tensor {
  const OP = 'msnLoss';
  checkSameDevice(OP, 'targetProbs', t, a, 'anchorProbs');
  checkCudaFloat32(OP, 'anchorProbs', a);
  noCollective(OP, o.collective);
  const [N, K] = a.shape, Bt = t.shape[0];
  if (t.shape[1] !== K) throw selfsupError('ERR_SHAPE_MISMATCH', `a [B, ${K}] shape (anchor's K)`, `${OP}(targetProbs)`, shapeStr(t.shape));
  if (K < 1) throw rangeError('a [N, K] shape with K >= 1', `${OP}(anchorProbs)`, shapeStr(a.shape), true);
  if (Bt < 1 || N % Bt !== 0) throw selfsupError('ERR_SHAPE_MISMATCH', `a row count that divides N = ${N} (anchor views of each target)`, `${OP}(targetProbs)`, shapeStr(t.shape));
  const T = optNumber(OP, 'options.temperature', o.temperature, 0.25, { min: 0, minExclusive: true });
  const w = optNumber(OP, 'options.meMaxWeight', o.meMaxWeight, 1, { min: 0 });
  const useSinkhorn = optBool(OP, 'options.sinkhorn', o.sinkhorn, true);
  const rho = priorMarginal(o.prior instanceof Tensor ? tensorData(OP, 'options.prior', o.prior, a) : o.prior, K, OP);
  const tv = t.detach();
  // !(v >= 0) or v infinite, and rows without a positive entry: one count, read back.
  const okv = mul(ge(tv, 0).to('float32'), lt(tv, Infinity).to('float32'));
  const bad = add(sum(sub(1, okv)), sum(eq(amax(tv, 1), 0).to('float32'))).item();
  if (bad > 0) throw rangeError('finite non-negative probabilities with a positive entry in each row', `${OP}(targetProbs)`, `${bad} bad values or all-zero rows`, true);
  const sharp = softmax(mul(log(tv), 1 / T), 1);
  const targets = useSinkhorn ? sinkhorn(sharp, { input: 'probs', iterations: o.iterations, prior: o.prior }) : sharp;
  const tf = Bt === N ? targets : repeat(targets, [N / Bt, 1]);
  const tnz = gt(tf, 0);
  const ce = mul(sum(mul(tf, log(where(tnz, a, 1)))), -1 / N);
  const abar = mean(a, 0);
  const pos = gt(abar, 0);
  const logRho = new Tensor(Float32Array.from(rho, Math.log), [K]).to('cuda');
  const reg = sum(where(pos, mul(abar, sub(log(where(pos, abar, 1)), logRho)), 0));
  return add(ce, mul(reg, w));
}
