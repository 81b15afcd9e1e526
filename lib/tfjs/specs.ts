/**
 * The fused ops of the TensorFlow.js adapter written once, on typed arrays: each spec's forward
 * reads its inputs' float32 / int32 / bool arrays (zero-copy on the cpu backend) and returns
 * float32 outputs; its backward maps the upstream gradient of output 0 to the gradients of the
 * differentiable inputs. lib/tfjs/runner.ts turns a spec into a tf.customGrad function and into a
 * registered `Selfsup<Name>` / `Selfsup<Name>Grad` kernel pair; neither path needs tfjs here.
 *
 * Output 0 is what the op returns; further outputs are saved for the backward (attention's lse,
 * InfoNCE's per-row log-sum-exps) and never reach the user, so their upstream gradient is zero.
 */
import { attention as kAttention, attentionBackward as kAttentionBackward } from '../kernels/attention';
import { infoNCEBackward, infoNCEForward } from '../kernels/info_nce';
import { matmul as kMatmul } from '../kernels/linalg';
import { sinkhorn as kSinkhorn, type SinkhornPrior } from '../kernels/sinkhorn';
import { gatherTokens as kGather, gatherTokensBackward as kGatherBackward, scatterTokens as kScatter, scatterTokensBackward as kScatterBackward } from '../kernels/tokens';
import { barlowTwins as kBarlow, barlowTwinsBackward as kBarlowBackward, vicreg as kVicreg, vicregBackward as kVicregBackward, type CovPath } from '../kernels/vicreg';

export type InArray = Float32Array | Int32Array | Uint8Array;
export interface In { values: InArray; shape: number[] }
export interface Out { values: Float32Array; shape: number[] }
/** tfjs kernel attributes (numbers, booleans, strings and arrays of them). */
export type Attrs = Record<string, number | boolean | string | number[] | boolean[]>;
export type Ins = Record<string, In | null>;

export interface OpSpec {
  /** Registered as `Selfsup${name}` (forward) and `Selfsup${name}Grad` (backward). */
  name: string;
  /** Tensor inputs, in order; optional ones may be null. */
  inputs: readonly string[];
  /** The inputs that receive a gradient (every other input is a constant). */
  diff: readonly string[];
  forward(x: Ins, attrs: Attrs): Out[];
  /** Gradients (one per present diff input, the input's length) given d loss / d output 0. Absent: stop-gradient. */
  backward?(x: Ins, outs: Out[], dy: Float32Array, attrs: Attrs): Record<string, Float32Array>;
}

const f32 = (x: In | null): Float32Array => x!.values as Float32Array;
const i32 = (x: In | null): Int32Array | null => (x ? (x.values as Int32Array) : null);
const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

// ---- matmul ------------------------------------------------------------------------------------

/** [...batch, m, n] for a [..., m, k] (or [..., k, m]) times b [..., k, n] (or [..., n, k]). */
export function matmulOutShape(a: number[], b: number[], tA: boolean, tB: boolean): number[] {
  const ba = a.slice(0, -2), bb = b.slice(0, -2);
  const na = sizeOf(ba), nb = sizeOf(bb);
  const batch = na === nb ? (ba.length >= bb.length ? ba : bb) : na > nb ? ba : bb;
  const m = tA ? a[a.length - 1] : a[a.length - 2];
  const n = tB ? b[b.length - 2] : b[b.length - 1];
  return [...batch, m, n];
}

/** Sums a batched gradient [batch, r, c] over the batch when the input was broadcast. */
function reduceBatch(g: Float32Array, size: number): Float32Array {
  if (g.length === size) return g;
  const out = new Float32Array(size);
  for (let off = 0; off < g.length; off += size) for (let j = 0; j < size; j++) out[j] += g[off + j];
  return out;
}

export const matmulSpec: OpSpec = {
  name: 'Matmul',
  inputs: ['a', 'b'],
  diff: ['a', 'b'],
  forward(x, at) {
    const a = x.a!, b = x.b!;
    const tA = at.transposeA as boolean, tB = at.transposeB as boolean;
    const values = kMatmul(f32(a), a.shape, f32(b), b.shape, { transA: tA, transB: tB });
    return [{ values, shape: matmulOutShape(a.shape, b.shape, tA, tB) }];
  },
  backward(x, outs, dy, at) {
    const a = x.a!, b = x.b!, A = f32(a), B = f32(b), ys = outs[0].shape;
    const tA = at.transposeA as boolean, tB = at.transposeB as boolean;
    // The four cases of tf.matMul's gradient (tfjs-core gradients/BatchMatMul_grad).
    const mm = (p: Float32Array, ps: number[], q: Float32Array, qs: number[], t1: boolean, t2: boolean) => kMatmul(p, ps, q, qs, { transA: t1, transB: t2 });
    let da: Float32Array, db: Float32Array;
    if (!tA && !tB) { da = mm(dy, ys, B, b.shape, false, true); db = mm(A, a.shape, dy, ys, true, false); }
    else if (!tA && tB) { da = mm(dy, ys, B, b.shape, false, false); db = mm(dy, ys, A, a.shape, true, false); }
    else if (tA && !tB) { da = mm(B, b.shape, dy, ys, false, true); db = mm(A, a.shape, dy, ys, false, false); }
    else { da = mm(B, b.shape, dy, ys, true, true); db = mm(dy, ys, A, a.shape, true, true); }
    return { a: reduceBatch(da, A.length), b: reduceBatch(db, B.length) };
  },
};

// ---- attention ---------------------------------------------------------------------------------

function attentionOptions(x: Ins, at: Attrs) {
  return {
    scale: at.scale as number, causal: at.causal as boolean, dropout: at.dropout as number, seed: at.seed as number,
    mask: x.mask ? (x.mask.values as Uint8Array | Float32Array) : null,
    maskShape: x.mask ? x.mask.shape : undefined,
  };
}

export const attentionSpec: OpSpec = {
  name: 'Attention',
  inputs: ['q', 'k', 'v', 'mask'],
  diff: ['q', 'k', 'v'],
  forward(x, at) {
    const q = x.q!, k = x.k!, v = x.v!;
    const [B, H, Nq, d] = q.shape;
    // lseLo (the lse's float32 rounding residual) keeps the backward exact to float32 (F.attention does the same).
    const lseLo = new Float32Array(B * H * Nq);
    const r = kAttention(f32(q), q.shape, f32(k), k.shape, f32(v), v.shape, { ...attentionOptions(x, at), lseLo });
    return [{ values: r.out, shape: [B, H, Nq, d] }, { values: r.lse, shape: [B, H, Nq] }, { values: lseLo, shape: [B, H, Nq] }];
  },
  backward(x, outs, dy, at) {
    const q = x.q!, k = x.k!, v = x.v!;
    const r = kAttentionBackward(f32(q), q.shape, f32(k), k.shape, f32(v), v.shape, outs[0].values, outs[1].values, dy, {
      ...attentionOptions(x, at), lseLo: outs[2].values,
    });
    return { q: r.dq, k: r.dk, v: r.dv };
  },
};

// ---- InfoNCE -----------------------------------------------------------------------------------

function infoNCEOptions(x: Ins, at: Attrs) {
  return {
    temperature: at.temperature as number, normalize: at.normalize as boolean,
    direction: at.direction as 'both' | 'oneWay', decoupled: at.decoupled as boolean,
    labels: i32(x.labels) ?? undefined, negatives: x.negatives ? f32(x.negatives) : undefined,
  };
}

/** Output 0: per-row losses [R] (R = 2N for 'both', N for 'oneWay'); the reduction is a tf op. */
export const infoNCESpec: OpSpec = {
  name: 'InfoNCE',
  inputs: ['z1', 'z2', 'labels', 'negatives'],
  diff: ['z1', 'z2'],
  forward(x, at) {
    const z1 = x.z1!;
    const shape = z1.shape as [number, number];
    const r = infoNCEForward(f32(z1), f32(x.z2), shape, infoNCEOptions(x, at));
    const R = r.losses.length;
    return [
      { values: r.losses, shape: [R] },
      { values: r.lse, shape: [R] },
      r.lsePos ? { values: r.lsePos, shape: [R] } : { values: new Float32Array(0), shape: [0] },
    ];
  },
  backward(x, outs, dy, at) {
    const z1 = x.z1!;
    const saved = { lse: outs[1].values, lsePos: x.labels ? outs[2].values : null };
    const r = infoNCEBackward(f32(z1), f32(x.z2), z1.shape as [number, number], saved, dy, infoNCEOptions(x, at));
    return { z1: r.dz1, z2: r.dz2 };
  },
};

// ---- VICReg / Barlow Twins ---------------------------------------------------------------------

/** Output 0: the unweighted terms [invariance, variance, covariance]; the weighting is a tf op. */
export const vicregSpec: OpSpec = {
  name: 'VICReg',
  inputs: ['x', 'y'],
  diff: ['x', 'y'],
  forward(x, at) {
    const t = kVicreg(f32(x.x), f32(x.y), x.x!.shape as [number, number], { eps: at.eps as number, covPath: at.covPath as CovPath });
    return [{ values: Float32Array.of(t.invariance, t.variance, t.covariance), shape: [3] }];
  },
  backward(x, _outs, dy, at) {
    const r = kVicregBackward(f32(x.x), f32(x.y), x.x!.shape as [number, number],
      { invariance: dy[0], variance: dy[1], covariance: dy[2] }, { eps: at.eps as number, covPath: at.covPath as CovPath });
    return { x: r.dx, y: r.dy };
  },
};

function barlowOptions(at: Attrs) {
  return { lambda: at.lambda as number, eps: at.eps as number, covPath: at.covPath as CovPath };
}

export const barlowTwinsSpec: OpSpec = {
  name: 'BarlowTwins',
  inputs: ['z1', 'z2'],
  diff: ['z1', 'z2'],
  forward(x, at) {
    const t = kBarlow(f32(x.z1), f32(x.z2), x.z1!.shape as [number, number], barlowOptions(at));
    return [{ values: Float32Array.of(t.loss), shape: [] }];
  },
  backward(x, _outs, dy, at) {
    const r = kBarlowBackward(f32(x.z1), f32(x.z2), x.z1!.shape as [number, number], dy[0], barlowOptions(at));
    return { z1: r.dz1, z2: r.dz2 };
  },
};

// ---- Sinkhorn (stop-gradient) ------------------------------------------------------------------

export const sinkhornSpec: OpSpec = {
  name: 'Sinkhorn',
  inputs: ['scores', 'prior', 'rowMarginal'],
  diff: [],
  forward(x, at) {
    const s = x.scores!;
    const powerLaw = at.powerLaw as number;
    const prior: SinkhornPrior = x.prior ? f32(x.prior) : powerLaw >= 0 ? { powerLaw } : 'uniform';
    const r = kSinkhorn(f32(s), s.shape, {
      input: at.input as 'logits' | 'probs', epsilon: at.epsilon as number, iterations: at.iterations as number,
      tolerance: (at.tolerance as number) > 0 ? (at.tolerance as number) : undefined,
      prior, rowMarginal: x.rowMarginal ? f32(x.rowMarginal) : 'uniform',
    });
    return [{ values: r.out, shape: s.shape.slice() }];
  },
};

// ---- tokens ------------------------------------------------------------------------------------

export const gatherTokensSpec: OpSpec = {
  name: 'GatherTokens',
  inputs: ['x', 'idx', 'lengths', 'positions'],
  diff: ['x', 'positions'],
  forward(x) {
    const X = x.x!, idx = x.idx!;
    const D = X.shape[X.shape.length - 1];
    const values = kGather(f32(X), X.shape, idx.values as Int32Array, idx.shape, {
      lengths: i32(x.lengths), addPositions: x.positions ? f32(x.positions) : null,
    });
    return [{ values, shape: [idx.shape[0], idx.shape[1], D] }];
  },
  backward(x, _outs, dy) {
    const X = x.x!, idx = x.idx!;
    const r = kGatherBackward(dy, idx.values as Int32Array, idx.shape, X.shape[X.shape.length - 2], {
      lengths: i32(x.lengths), xShared: X.shape.length === 2, wantX: true, wantPositions: x.positions !== null,
    });
    const g: Record<string, Float32Array> = { x: r.dx! };
    if (x.positions) g.positions = r.dpos!;
    return g;
  },
};

export const scatterTokensSpec: OpSpec = {
  name: 'ScatterTokens',
  inputs: ['src', 'idx', 'lengths', 'fill'],
  diff: ['src', 'fill'],
  forward(x, at) {
    const src = x.src!, idx = x.idx!;
    const N = at.tokens as number;
    const values = kScatter(f32(src), src.shape, idx.values as Int32Array, N, { lengths: i32(x.lengths), fill: x.fill ? f32(x.fill) : null });
    return [{ values, shape: [src.shape[0], N, src.shape[2]] }];
  },
  backward(x, outs, dy) {
    const idx = x.idx!;
    const r = kScatterBackward(dy, outs[0].shape, idx.values as Int32Array, idx.shape, {
      lengths: i32(x.lengths), wantSrc: true, wantFill: x.fill !== null,
    });
    const g: Record<string, Float32Array> = { src: r.dsrc! };
    if (x.fill) g.fill = r.dfill!;
    return g;
  },
};

// ---- weighted sum (the losses' reductions) -------------------------------------------------------

/**
 * sum_i w_i x_i of a 1-D x, w_i = weights[i] or the one `scale`: infoNCE's mean / sum over rows and
 * vicreg's weighting and term picks. A kernel of its own (not tf.sum / tf.mul / tf.unstack) so the
 * adapter's gradients need nothing from tfjs's gradient registry, which @tensorflow/tfjs-core alone
 * leaves empty.
 */
export const weightedSumSpec: OpSpec = {
  name: 'WeightedSum',
  inputs: ['x'],
  diff: ['x'],
  forward(x, at) {
    const X = f32(x.x), w = at.weights as number[] | undefined, c = at.scale as number;
    let s = 0;
    for (let i = 0; i < X.length; i++) s += (w ? w[i] : c) * X[i];
    return [{ values: Float32Array.of(s), shape: [] }];
  },
  backward(x, _outs, dy, at) {
    const w = at.weights as number[] | undefined, c = at.scale as number;
    return { x: Float32Array.from(f32(x.x), (_, i) => dy[0] * (w ? w[i] : c)) };
  },
};

export const SPECS: readonly OpSpec[] = [
  matmulSpec, attentionSpec, infoNCESpec, vicregSpec, barlowTwinsSpec, sinkhornSpec, gatherTokensSpec, scatterTokensSpec, weightedSumSpec,
];
