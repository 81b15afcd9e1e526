/**
 * selfsup/tfjs: the fused selfsup kernels as TensorFlow.js ops with gradients.
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   import { createOps } from 'selfsup/tfjs';
 *   const ops = createOps(tf);
 *   const loss = ops.infoNCE(z1, z2, { temperature: 0.1 });   // works in tf.grad / optimizer.minimize
 *
 * selfsup never imports tfjs: the caller passes its `tf` module (any tfjs >= 4 flavour: tfjs,
 * tfjs-node, tfjs-core + a backend). On the 'cpu' backend the ops run as registered kernels named
 * `Selfsup<Op>` (zero-copy in and out); on every other backend through tf.customGrad
 * (lib/tfjs/runner.ts). TensorFlow.js tensors are float32, so the float32 kernels run.
 */
import type * as tfjs from '@tensorflow/tfjs-core';
import { describe, rangeError, selfsupError, shapeStr, typeError } from '../errors';
import type { InfoNCEOptionsOf } from '../ops/info_nce';
import type { BarlowTwinsOptions, VICRegOptions } from '../ops/vicreg';
import { checkBoolean, checkNumber, checkOneOf, checkOptions } from '../validate';
import { planAttentionScalars } from '../kernels/attention';
import { checkDecoupledNegatives, planInfoNCEScalars } from '../kernels/info_nce';
import { planVicregScalars, planVicregWeights } from '../kernels/vicreg';
import { KERNEL_BACKEND, KERNEL_BACKENDS, gradKernelName, kernelName, registerSpec, runSpec, usesKernel, type TfModule } from './runner';
import {
  SPECS, attentionSpec, barlowTwinsSpec, gatherTokensSpec, infoNCESpec, matmulSpec,
  scatterTokensSpec, sinkhornSpec, vicregSpec, weightedSumSpec, type Attrs, type OpSpec,
} from './specs';

export type { TfModule } from './runner';
type Tensor = tfjs.Tensor;

export interface TfMatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface TfAttentionOptions {
  /** Logit scale; default 1/sqrt(d). */
  scale?: number;
  /** Bottom-right aligned causal mask: key j is visible to query i iff j <= i + Nk - Nq. */
  causal?: boolean;
  /** bool (true = attend; rank 2 = key padding [B, Nk]) or float32 additive, broadcast to [B, H, Nq, Nk]. Not differentiated. */
  mask?: Tensor | null;
  /** Dropout on the attention weights, in [0, 1) (default 0). */
  dropout?: number;
  /** Philox seed of the dropout mask (default 0). */
  seed?: number;
}

/** Same options as F.infoNCE (lib/ops/info_nce.ts); labels int32 [N], negatives float32 [M, D]. */
export type TfInfoNCEOptions = InfoNCEOptionsOf<Tensor>;

/** Same options as F.vicreg (lib/ops/vicreg.ts). */
export type TfVICRegOptions = VICRegOptions;

export interface TfVICRegOutput {
  loss: tfjs.Scalar;
  invariance: tfjs.Scalar;
  variance: tfjs.Scalar;
  covariance: tfjs.Scalar;
}

/** Same options as F.barlowTwins (lib/ops/vicreg.ts). */
export type TfBarlowTwinsOptions = BarlowTwinsOptions;

export interface TfSinkhornOptions {
  /** 'logits' (default; kernel exp(scores / epsilon)) or 'probs' (MSN). */
  input?: 'logits' | 'probs';
  /** Entropic regularization, > 0 (default 0.05). */
  epsilon?: number;
  /** (column, row) update pairs: default 3 (SwAV), at most 1000 with a tolerance. */
  iterations?: number;
  /** Stop once ||P^T 1 - c||_1 < tolerance. */
  tolerance?: number;
  /** Column marginal: 'uniform' (default), { powerLaw: tau } (PMSN), or a float32 [K] tensor. */
  prior?: 'uniform' | { powerLaw: number } | Tensor;
  /** Row marginal: 'uniform' (default) or a float32 [B] tensor. */
  rowMarginal?: 'uniform' | Tensor;
}

export interface TfGatherTokensOptions {
  /** int32 [B]: ragged index sets (positions k >= lengths[b] are padding: zeros, no gradient). */
  lengths?: Tensor;
  /** float32 [N, D] added to every gathered row in the same pass (differentiable). */
  addPositions?: Tensor;
}

export interface TfScatterTokensOptions {
  lengths?: Tensor;
  /** float32 [D] written at every unselected position (MAE's mask token; default zeros; differentiable). */
  maskToken?: Tensor;
}

export interface SelfsupTfOps {
  /** a [..., m, k] x b [..., k, n] (batch dims equal, or one side without / all ones). */
  matmul(a: Tensor, b: Tensor, options?: TfMatmulOptions): Tensor;
  /** softmax(scale q k^T + mask) v per head; q [B, H, Nq, d], k and v [B, Hk, Nk, d] (Hk divides H). */
  attention(q: Tensor, k: Tensor, v: Tensor, options?: TfAttentionOptions): tfjs.Tensor4D;
  /** NT-Xent / InfoNCE of z1, z2 [N, D]: a scalar, or per-row losses with reduction 'none'. */
  infoNCE(z1: Tensor, z2: Tensor, options?: TfInfoNCEOptions): Tensor;
  /** VICReg of x, y [N, D] (N >= 2): all four outputs are differentiable scalars. */
  vicreg(x: Tensor, y: Tensor, options?: TfVICRegOptions): TfVICRegOutput;
  /** Barlow Twins loss of z1, z2 [N, D] (N >= 2). */
  barlowTwins(z1: Tensor, z2: Tensor, options?: TfBarlowTwinsOptions): tfjs.Scalar;
  /** Balanced assignments [B, K] (rows sum to 1) of scores [B, K]. A constant: no gradient flows (SwAV/MSN targets). */
  sinkhorn(scores: Tensor, options?: TfSinkhornOptions): tfjs.Tensor2D;
  /** out[b, k] = x[b, idx[b, k]] (+ positions[idx[b, k]]); x [B, N, D] or a shared [N, D], idx int32 [B, K]. */
  gatherTokens(x: Tensor, idx: Tensor, options?: TfGatherTokensOptions): tfjs.Tensor3D;
  /** out [B, tokens, D]: out[b, idx[b, k]] = src[b, k], every other row = maskToken (or 0). Indices unique per row. */
  scatterTokens(src: Tensor, idx: Tensor, tokens: number, options?: TfScatterTokensOptions): tfjs.Tensor3D;
  /** 'kernel' when the ops run as registered `Selfsup*` kernels on the current backend, else 'customGrad'. */
  path(): 'kernel' | 'customGrad';
  /** The kernel names registered for the 'cpu' and 'selfsup' backends (empty with kernels: false). */
  readonly kernelNames: readonly string[];
}

export interface CreateOpsOptions {
  /**
   * Register the ops as named tfjs kernels for the 'cpu' and 'selfsup' backends and use them
   * there (default true). false: always tf.customGrad.
   */
  kernels?: boolean;
}

const FN = 'createOps';

function isTensorLike(x: unknown): x is Tensor {
  const t = x as { dataId?: unknown; shape?: unknown; dtype?: unknown; dataSync?: unknown };
  return t !== null && typeof t === 'object' && t.dataId !== undefined && Array.isArray(t.shape) && typeof t.dtype === 'string' && typeof t.dataSync === 'function';
}

function describeTf(x: unknown): string {
  if (isTensorLike(x)) return `a ${x.dtype} tf.Tensor of shape ${shapeStr(x.shape)}`;
  return describe(x);
}

/** The caller's tf module, checked for what the adapter uses. */
function checkTf(tf: unknown): TfModule {
  const needs = ['Tensor', 'tensor', 'zeros', 'customGrad', 'tidy', 'engine', 'getBackend'] as const;
  const t = tf as Record<string, unknown> | null;
  const what = "a TensorFlow.js module (import * as tf from '@tensorflow/tfjs')";
  if (t === null || (typeof t !== 'object' && typeof t !== 'function')) throw typeError(what, `${FN}(tf)`, tf);
  const missing = needs.filter((k) => typeof t[k] !== 'function');
  if (missing.length > 0) {
    throw typeError(what, `${FN}(tf)`, `${describe(tf)} without ${missing.slice(0, 3).map((k) => `tf.${k}`).join(', ')}`, true);
  }
  return tf as unknown as TfModule;
}

type DT = 'float32' | 'int32' | 'bool';

/** A live tf.Tensor of this tf module, of one of the dtypes and (when given) one of the ranks. */
function checkT(tf: TfModule, op: string, arg: string, x: unknown, dtypes: readonly DT[], ranks?: readonly number[], rankText?: string): Tensor {
  const name = `tfjs.${op}(${arg})`;
  const exp = `a ${dtypes.join(' or ')} tf.Tensor`;
  if (!isTensorLike(x)) throw typeError(exp, name, describeTf(x), true);
  if (!(x instanceof tf.Tensor)) {
    throw selfsupError('ERR_INVALID_ARGUMENT', 'a tf.Tensor of the tf module given to createOps (two copies of @tensorflow/tfjs-core are loaded)', name, describeTf(x));
  }
  if (x.isDisposed) throw selfsupError('ERR_INVALID_ARGUMENT', `a live ${dtypes.join(' or ')} tf.Tensor`, name, `a disposed tf.Tensor of shape ${shapeStr(x.shape)}`);
  if (!dtypes.includes(x.dtype as DT)) throw typeError(exp, name, describeTf(x), true);
  if (ranks && !ranks.includes(x.rank)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', rankText ?? `a tensor of rank ${ranks.join(' or ')}`, name, shapeStr(x.shape));
  }
  return x;
}

function sameShape(op: string, arg: string, x: Tensor, ref: Tensor, refArg: string): void {
  if (shapeStr(x.shape) !== shapeStr(ref.shape)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(ref.shape)} (the shape of ${refArg})`, `tfjs.${op}(${arg})`, shapeStr(x.shape));
  }
}

const opt = (op: string, name: string): string => `tfjs.${op}(${name})`;

function num(op: string, name: string, v: unknown, dflt: number, o: Parameters<typeof checkNumber>[2] = {}): number {
  return v === undefined ? dflt : checkNumber(opt(op, name), v, o);
}
function bool(op: string, name: string, v: unknown, dflt: boolean): boolean {
  return v === undefined ? dflt : checkBoolean(opt(op, name), v);
}
function oneOf<T extends string>(op: string, name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  return v === undefined ? dflt : checkOneOf(opt(op, name), v, allowed);
}
function opts<T extends object>(op: string, v: unknown, known: readonly (keyof T & string)[]): Partial<T> {
  return checkOptions<T>(opt(op, 'options'), v, known);
}

function pair(tf: TfModule, op: string, a: unknown, b: unknown, names: [string, string], minRows: number): [Tensor, Tensor] {
  const x = checkT(tf, op, names[0], a, ['float32'], [2], 'a 2-D tensor [N, D]');
  const y = checkT(tf, op, names[1], b, ['float32'], [2], 'a 2-D tensor [N, D]');
  sameShape(op, names[1], y, x, names[0]);
  if (x.shape[0] < minRows) {
    throw rangeError(minRows === 2 ? 'at least 2 rows (the variance over the batch needs N >= 2)' : 'at least 1 row', `tfjs.${op}(${names[0]})`, shapeStr(x.shape), true);
  }
  if ((x.shape as number[])[1] < 1) throw rangeError('a feature size D >= 1', `tfjs.${op}(${names[0]})`, shapeStr(x.shape), true);
  return [x, y];
}

/** What each op needs: the caller's tf module and the spec runner (kernel or customGrad path). */
interface Ctx {
  TF: TfModule;
  run(spec: OpSpec, inputs: Record<string, Tensor | null>, attrs: Attrs): Tensor;
}

function matmulOp({ TF, run }: Ctx, a: Tensor, b: Tensor, options?: TfMatmulOptions): Tensor {
  const op = 'matmul';
  const A = checkT(TF, op, 'a', a, ['float32']);
  const B = checkT(TF, op, 'b', b, ['float32']);
  if (A.rank < 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a tensor of rank >= 2', `tfjs.${op}(a)`, shapeStr(A.shape));
  if (B.rank < 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a tensor of rank >= 2', `tfjs.${op}(b)`, shapeStr(B.shape));
  const oo = opts<TfMatmulOptions>(op, options, ['transposeA', 'transposeB']);
  const tA = bool(op, 'options.transposeA', oo.transposeA, false);
  const tB = bool(op, 'options.transposeB', oo.transposeB, false);
  const ka = tA ? A.shape[A.rank - 2] : A.shape[A.rank - 1];
  const kb = tB ? B.shape[B.rank - 1] : B.shape[B.rank - 2];
  if (ka !== kb) throw selfsupError('ERR_SHAPE_MISMATCH', `inner dimensions to agree (a has k = ${ka})`, `tfjs.${op}(b)`, `${shapeStr(B.shape)} (k = ${kb})`);
  // Batch broadcasting is checked by the kernel (lib/kernels/linalg.ts).
  return run(matmulSpec, { a: A, b: B }, { transposeA: tA, transposeB: tB });
}

function attentionOp({ TF, run }: Ctx, q: Tensor, k: Tensor, v: Tensor, options?: TfAttentionOptions): tfjs.Tensor4D {
  const op = 'attention';
  const Q = checkT(TF, op, 'q', q, ['float32'], [4], 'a 4-D tensor [B, H, Nq, d]');
  const K = checkT(TF, op, 'k', k, ['float32'], [4], 'a 4-D tensor [B, Hk, Nk, d]');
  const V = checkT(TF, op, 'v', v, ['float32'], [4], 'a 4-D tensor [B, Hk, Nk, d]');
  const [B, H, , d] = Q.shape;
  const ks = K.shape as number[];
  if (ks[0] !== B || ks[3] !== d || ks[1] < 1 || H % ks[1] !== 0) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape [${B}, Hk, Nk, ${d}] with Hk dividing H = ${H}`, `tfjs.${op}(k)`, shapeStr(K.shape));
  }
  sameShape(op, 'v', V, K, 'k');
  const oo = opts<TfAttentionOptions>(op, options, ['scale', 'causal', 'mask', 'dropout', 'seed']);
  const mask = oo.mask === undefined || oo.mask === null ? null : checkT(TF, op, 'options.mask', oo.mask, ['bool', 'float32']);
  const attrs: Attrs = {
    ...planAttentionScalars(`tfjs.${op}`, oo, d),
    seed: num(op, 'options.seed', oo.seed, 0, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
  };
  return run(attentionSpec, { q: Q, k: K, v: V, mask }, attrs) as tfjs.Tensor4D;
}

function infoNCEOp({ TF, run }: Ctx, z1: Tensor, z2: Tensor, options?: TfInfoNCEOptions): Tensor {
  const op = 'infoNCE';
  const [a, b] = pair(TF, op, z1, z2, ['z1', 'z2'], 1);
  const [n, d] = a.shape;
  const oo = opts<TfInfoNCEOptions>(op, options, ['temperature', 'normalize', 'direction', 'decoupled', 'labels', 'negatives', 'reduction']);
  const sc = planInfoNCEScalars(`tfjs.${op}`, oo);
  const reduction = oneOf(op, 'options.reduction', oo.reduction, ['mean', 'sum', 'none'] as const, 'mean');
  let labels: Tensor | null = null, negatives: Tensor | null = null;
  if (oo.labels !== undefined) {
    labels = checkT(TF, op, 'options.labels', oo.labels, ['int32'], [1], `an int32 tensor [${n}] (one label per row)`);
    if (labels.shape[0] !== n) throw selfsupError('ERR_SHAPE_MISMATCH', `labels of shape [${n}] (one per row of z1)`, opt(op, 'options.labels'), shapeStr(labels.shape));
  }
  if (oo.negatives !== undefined) {
    negatives = checkT(TF, op, 'options.negatives', oo.negatives, ['float32'], [2], `a 2-D tensor [M, ${d}]`);
    if (negatives.shape[1] !== d) throw selfsupError('ERR_SHAPE_MISMATCH', `a [M, ${d}] tensor (z1's feature size)`, opt(op, 'options.negatives'), shapeStr(negatives.shape));
  }
  // with labels the kernel checks (it reads them); without, the rule needs only the sizes
  if (!labels) checkDecoupledNegatives(`tfjs.${op}`, sc.decoupled, n, null, negatives ? negatives.shape[0] : 0);
  const attrs: Attrs = { temperature: sc.temperature, normalize: sc.normalize, direction: sc.both ? 'both' : 'oneWay', decoupled: sc.decoupled };
  return TF.tidy(() => {
    const rows = run(infoNCESpec, { z1: a, z2: b, labels, negatives }, attrs);
    return reduction === 'none' ? rows : run(weightedSumSpec, { x: rows }, { scale: reduction === 'sum' ? 1 : 1 / rows.shape[0] });
  });
}

function vicregOp({ TF, run }: Ctx, x: Tensor, y: Tensor, options?: TfVICRegOptions): TfVICRegOutput {
  const op = 'vicreg';
  const [a, b] = pair(TF, op, x, y, ['x', 'y'], 2);
  const oo = opts<TfVICRegOptions>(op, options, ['simCoeff', 'stdCoeff', 'covCoeff', 'eps', 'covPath']);
  const ww = planVicregWeights(`tfjs.${op}`, oo);
  const w = [ww.sim, ww.std, ww.cov];
  const sc = planVicregScalars(`tfjs.${op}`, oo);
  const attrs: Attrs = { eps: sc.eps, covPath: sc.covPath };
  return TF.tidy(() => {
    const terms = run(vicregSpec, { x: a, y: b }, attrs);
    const pick = (weights: number[]) => run(weightedSumSpec, { x: terms }, { weights }) as tfjs.Scalar;
    return { loss: pick(w), invariance: pick([1, 0, 0]), variance: pick([0, 1, 0]), covariance: pick([0, 0, 1]) };
  });
}

function barlowTwinsOp({ TF, run }: Ctx, z1: Tensor, z2: Tensor, options?: TfBarlowTwinsOptions): tfjs.Scalar {
  const op = 'barlowTwins';
  const [a, b] = pair(TF, op, z1, z2, ['z1', 'z2'], 2);
  const oo = opts<TfBarlowTwinsOptions>(op, options, ['lambda', 'eps', 'covPath']);
  const sc = planVicregScalars(`tfjs.${op}`, oo, 'barlowTwins');
  const attrs: Attrs = { lambda: sc.lambda, eps: sc.eps, covPath: sc.covPath };
  return run(barlowTwinsSpec, { z1: a, z2: b }, attrs) as tfjs.Scalar;
}

function sinkhornOp({ TF, run }: Ctx, scores: Tensor, options?: TfSinkhornOptions): tfjs.Tensor2D {
  const op = 'sinkhorn';
  const S = checkT(TF, op, 'scores', scores, ['float32'], [2], 'a 2-D tensor [B, K]');
  const [Bn, K] = S.shape;
  const oo = opts<TfSinkhornOptions>(op, options, ['input', 'epsilon', 'iterations', 'tolerance', 'prior', 'rowMarginal']);
  let prior: Tensor | null = null, powerLaw = -1;
  if (oo.prior !== undefined && oo.prior !== 'uniform') {
    if (isTensorLike(oo.prior)) {
      prior = checkT(TF, op, 'options.prior', oo.prior, ['float32'], [1], `a 1-D tensor [${K}]`);
      if (prior.shape[0] !== K) throw selfsupError('ERR_SHAPE_MISMATCH', `a prior of shape [${K}] (K)`, opt(op, 'options.prior'), shapeStr(prior.shape));
    } else if (oo.prior !== null && typeof oo.prior === 'object' && 'powerLaw' in oo.prior) {
      powerLaw = num(op, 'options.prior.powerLaw', oo.prior.powerLaw, 0, { min: 0 });
    } else {
      throw typeError("'uniform' | { powerLaw: tau } | a float32 tf.Tensor [K]", opt(op, 'options.prior'), describeTf(oo.prior), true);
    }
  }
  let rowMarginal: Tensor | null = null;
  if (oo.rowMarginal !== undefined && oo.rowMarginal !== 'uniform') {
    rowMarginal = checkT(TF, op, 'options.rowMarginal', oo.rowMarginal, ['float32'], [1], `a 1-D tensor [${Bn}]`);
    if (rowMarginal.shape[0] !== Bn) throw selfsupError('ERR_SHAPE_MISMATCH', `a row marginal of shape [${Bn}] (B)`, opt(op, 'options.rowMarginal'), shapeStr(rowMarginal.shape));
  }
  const tolerance = num(op, 'options.tolerance', oo.tolerance, 0, { min: 0 });
  const attrs: Attrs = {
    input: oneOf(op, 'options.input', oo.input, ['logits', 'probs'] as const, 'logits'),
    epsilon: num(op, 'options.epsilon', oo.epsilon, 0.05, { min: 0, minExclusive: true }),
    iterations: num(op, 'options.iterations', oo.iterations, tolerance > 0 ? 1000 : 3, { integer: true, min: 0, max: 2 ** 31 - 1 }),
    tolerance,
    powerLaw,
  };
  return run(sinkhornSpec, { scores: S, prior, rowMarginal }, attrs) as tfjs.Tensor2D;
}

function gatherTokensOp({ TF, run }: Ctx, x: Tensor, idx: Tensor, options?: TfGatherTokensOptions): tfjs.Tensor3D {
  const op = 'gatherTokens';
  const X = checkT(TF, op, 'x', x, ['float32'], [2, 3], 'a tensor [B, N, D] or a shared [N, D]');
  const I = checkT(TF, op, 'idx', idx, ['int32'], [2], 'an int32 tensor [B, K]');
  if (X.rank === 3 && X.shape[0] !== I.shape[0]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `an index tensor [${X.shape[0]}, K] (x's batch)`, `tfjs.${op}(idx)`, shapeStr(I.shape));
  }
  const oo = opts<TfGatherTokensOptions>(op, options, ['lengths', 'addPositions']);
  const lengths = tokenLengths(TF, op, oo.lengths, I.shape[0]);
  let positions: Tensor | null = null;
  if (oo.addPositions !== undefined) {
    const [N, D] = X.shape.slice(-2);
    positions = checkT(TF, op, 'options.addPositions', oo.addPositions, ['float32'], [2], `a 2-D tensor [${N}, ${D}]`);
    if (positions.shape[0] !== N || positions.shape[1] !== D) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${N}, ${D}] (x's tokens and features)`, opt(op, 'options.addPositions'), shapeStr(positions.shape));
    }
  }
  return run(gatherTokensSpec, { x: X, idx: I, lengths, positions }, {}) as tfjs.Tensor3D;
}

function scatterTokensOp({ TF, run }: Ctx, src: Tensor, idx: Tensor, tokens: number, options?: TfScatterTokensOptions): tfjs.Tensor3D {
  const op = 'scatterTokens';
  const S = checkT(TF, op, 'src', src, ['float32'], [3], 'a 3-D tensor [B, K, D]');
  const I = checkT(TF, op, 'idx', idx, ['int32'], [2], 'an int32 tensor [B, K]');
  if (I.shape[0] !== S.shape[0] || I.shape[1] !== S.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `an index tensor [${S.shape[0]}, ${S.shape[1]}] (src's [B, K])`, `tfjs.${op}(idx)`, shapeStr(I.shape));
  }
  const N = checkNumber(`tfjs.${op}(tokens)`, tokens, { integer: true, min: 0 });
  const oo = opts<TfScatterTokensOptions>(op, options, ['lengths', 'maskToken']);
  const lengths = tokenLengths(TF, op, oo.lengths, I.shape[0]);
  let fill: Tensor | null = null;
  if (oo.maskToken !== undefined && oo.maskToken !== null) {
    fill = checkT(TF, op, 'options.maskToken', oo.maskToken, ['float32'], [1], `a 1-D tensor [${S.shape[2]}]`);
    if (fill.shape[0] !== S.shape[2]) throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${S.shape[2]}] (src's D)`, opt(op, 'options.maskToken'), shapeStr(fill.shape));
  }
  return run(scatterTokensSpec, { src: S, idx: I, lengths, fill }, { tokens: N }) as tfjs.Tensor3D;
}

function tokenLengths(TF: TfModule, op: string, v: unknown, B: number): Tensor | null {
  if (v === undefined || v === null) return null;
  const L = checkT(TF, op, 'options.lengths', v, ['int32'], [1], `an int32 tensor [${B}]`);
  if (L.shape[0] !== B) throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${B}] (one length per batch row)`, opt(op, 'options.lengths'), shapeStr(L.shape));
  return L;
}

/**
 * The selfsup ops on `tf`'s tensors. Registers the `Selfsup*` kernels for the 'cpu' and 'selfsup'
 * backends once per tfjs-core instance (kernels: false skips that). Every op works inside tf.grad, tf.grads,
 * tf.variableGrads and optimizer.minimize.
 */
export function createOps(tf: TfModule, options?: CreateOpsOptions): SelfsupTfOps {
  const TF = checkTf(tf);
  const o = checkOptions<CreateOpsOptions>(`${FN}(options)`, options, ['kernels']);
  const canRegister = ['registerKernel', 'registerGradient', 'getKernel', 'getGradient'].every((k) => typeof (tf as unknown as Record<string, unknown>)[k] === 'function');
  const kernels = (o.kernels === undefined ? true : checkBoolean(`${FN}(options.kernels)`, o.kernels)) && canRegister;
  const names: string[] = [];
  if (kernels) {
    for (const spec of SPECS) {
      for (const be of KERNEL_BACKENDS) registerSpec(TF, spec, be);
      names.push(kernelName(spec));
      if (spec.backward) names.push(gradKernelName(spec));
    }
  }
  const c: Ctx = { TF, run: (spec, inputs, attrs) => runSpec(TF, spec, kernels, inputs, attrs) };
  return {
    matmul: (a, b, o) => matmulOp(c, a, b, o),
    attention: (q, k, v, o) => attentionOp(c, q, k, v, o),
    infoNCE: (z1, z2, o) => infoNCEOp(c, z1, z2, o),
    vicreg: (x, y, o) => vicregOp(c, x, y, o),
    barlowTwins: (z1, z2, o) => barlowTwinsOp(c, z1, z2, o),
    sinkhorn: (s, o) => sinkhornOp(c, s, o),
    gatherTokens: (x, idx, o) => gatherTokensOp(c, x, idx, o),
    scatterTokens: (src, idx, tokens, o) => scatterTokensOp(c, src, idx, tokens, o),
    path: () => (usesKernel(TF, matmulSpec, kernels) ? 'kernel' : 'customGrad'),
    kernelNames: names,
  };
}

/** Alias of createOps (the ops are registered with tfjs as a side effect). */
export const register = createOps;

export { KERNEL_BACKEND, KERNEL_BACKENDS };
export { registerBackend, BACKEND_NAME, OVERRIDDEN_KERNELS, PATH_COUNTS, type RegisterBackendOptions, type TfBackendModule } from './backend';
