/**
 * Masked-token ops with autograd: gatherTokens (+ fused position add), scatterTokens, and StoP's
 * stochasticPositions. Forward and backward call the fused kernels of lib/kernels/tokens (native,
 * or the float64 reference backend). Index tensors (int32) are never differentiable.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { resolveSeed } from '../factories';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import {
  gatherTokens as kGather, gatherTokensBackward as kGatherBackward, scatterTokens as kScatter,
  scatterTokensBackward as kScatterBackward, stochasticPositions as kStoP,
  stochasticPositionsBackward as kStoPBackward, planStopStd,
} from '../kernels/tokens';
import { Tensor } from '../tensor';
import type { FloatArray } from '../validate';
import { checkFloat, checkSameDtype, checkTensor, optBool, opts } from './common';

const f = (t: Tensor): FloatArray => t.data as FloatArray;

function checkIdx(op: string, idx: unknown): Tensor {
  const t = checkTensor(op, 'idx', idx, ['int32']);
  if (t.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'an int32 Tensor of shape [B, K]', `${op}(idx)`, `shape ${shapeStr(t.shape)}`);
  return t;
}

function checkLengths(op: string, lengths: unknown, B: number): Int32Array | null {
  if (lengths === undefined || lengths === null) return null;
  const t = checkTensor(op, 'options.lengths', lengths, ['int32']);
  if (t.ndim !== 1 || t.shape[0] !== B) throw selfsupError('ERR_SHAPE_MISMATCH', `an int32 Tensor of shape [${B}]`, `${op}(options.lengths)`, `shape ${shapeStr(t.shape)}`);
  return t.data as Int32Array;
}

// ---- gatherTokens --------------------------------------------------------------------------

export interface GatherTokensOptions {
  /** [N, D] position embeddings added in the same pass: out = x[idx] + pos[idx]. */
  addPositions?: Tensor;
  /** int32 [B]: ragged index sets (positions k >= lengths[b] are padding: zero output, no grad). */
  lengths?: Tensor;
}

const gatherFn = defineFunction({
  name: 'gatherTokens',
  forward(ctx: FunctionCtx, x: Tensor, idx: Tensor, pos: Tensor | null, lengths: Int32Array | null): Tensor {
    const out = kGather(f(x), x.shape, idx.data as Int32Array, idx.shape, { lengths, addPositions: pos ? f(pos) : null });
    ctx.idx = idx;
    ctx.lengths = lengths;
    ctx.xShape = x.shape.slice();
    ctx.N = x.shape[x.ndim - 2];
    return new Tensor(out, [idx.shape[0], idx.shape[1], x.shape[x.ndim - 1]]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // Scatter-add: each used row of x (and of pos) receives the sum of its gathered gradients.
    const idx = ctx.idx as Tensor;
    const { dx, dpos } = kGatherBackward(f(g), idx.data as Int32Array, idx.shape, ctx.N, {
      lengths: ctx.lengths, xShared: ctx.xShape.length === 2, wantX: ctx.needsInputGrad[0], wantPositions: ctx.needsInputGrad[2],
    });
    return [dx ? new Tensor(dx, ctx.xShape) : null, null, dpos ? new Tensor(dpos, [ctx.N, ctx.xShape[ctx.xShape.length - 1]]) : null];
  },
});

/**
 * x [B, N, D] (or a shared table [N, D]), idx int32 [B, K] -> [B, K, D]: out[b, k] = x[b, idx[b, k]]
 * (+ pos[idx[b, k]] with `addPositions`). Backward scatter-adds into x (and pos). The I-JEPA
 * predictor input `mask_token + pos_embed[idx]` is `F.gatherTokens(pos, idx).add(maskToken)`.
 */
export function gatherTokens(x: Tensor, idx: Tensor, options?: GatherTokensOptions): Tensor {
  const op = 'gatherTokens';
  const X = checkFloat(op, 'x', x);
  const I = checkIdx(op, idx);
  if (X.ndim !== 3 && X.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a Tensor of shape [B, N, D] or [N, D]', `${op}(x)`, `shape ${shapeStr(X.shape)}`);
  if (X.ndim === 3 && X.shape[0] !== I.shape[0]) throw selfsupError('ERR_SHAPE_MISMATCH', `an index of shape [${X.shape[0]}, K] (x has batch ${X.shape[0]})`, `${op}(idx)`, `shape ${shapeStr(I.shape)}`);
  const o = opts<GatherTokensOptions>(op, options, ['addPositions', 'lengths']);
  let pos: Tensor | null = null;
  if (o.addPositions !== undefined && o.addPositions !== null) {
    pos = checkFloat(op, 'options.addPositions', o.addPositions);
    checkSameDtype(op, 'options.addPositions', pos, X, 'x');
    const want = X.shape.slice(-2);
    if (pos.ndim !== 2 || pos.shape[0] !== want[0] || pos.shape[1] !== want[1]) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a Tensor of shape ${shapeStr(want)}`, `${op}(options.addPositions)`, `shape ${shapeStr(pos.shape)}`);
    }
  }
  return gatherFn(X, I, pos, checkLengths(op, o.lengths, I.shape[0]));
}

// ---- scatterTokens -------------------------------------------------------------------------

export interface ScatterTokensOptions {
  /** Written at every unselected position: a [D] (or [1, 1, D]) mask token; default zeros. */
  maskToken?: Tensor;
  lengths?: Tensor;
}

const scatterFn = defineFunction({
  name: 'scatterTokens',
  forward(ctx: FunctionCtx, src: Tensor, idx: Tensor, maskToken: Tensor | null, N: number, lengths: Int32Array | null): Tensor {
    const out = kScatter(f(src), src.shape, idx.data as Int32Array, N, { lengths, fill: maskToken ? f(maskToken) : null });
    ctx.idx = idx;
    ctx.lengths = lengths;
    ctx.tokenShape = maskToken ? maskToken.shape.slice() : null;
    return new Tensor(out, [src.shape[0], N, src.shape[2]]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // src gets the gradient of the rows it was placed at (a gather); the mask token the sum of the rest.
    const idx = ctx.idx as Tensor;
    const { dsrc, dfill } = kScatterBackward(f(g), g.shape, idx.data as Int32Array, idx.shape, {
      lengths: ctx.lengths, wantSrc: ctx.needsInputGrad[0], wantFill: ctx.needsInputGrad[2],
    });
    return [dsrc ? new Tensor(dsrc, [g.shape[0], idx.shape[1], g.shape[2]]) : null, null, dfill ? new Tensor(dfill, ctx.tokenShape) : null];
  },
});

/**
 * The inverse of gatherTokens: src [B, K, D] placed at idx (unique per row) in a [B, tokens, D]
 * output; every other position holds `maskToken` (MAE decoder / I-JEPA style) or zeros.
 */
export function scatterTokens(src: Tensor, idx: Tensor, tokens: number, options?: ScatterTokensOptions): Tensor {
  const op = 'scatterTokens';
  const S = checkFloat(op, 'src', src);
  const I = checkIdx(op, idx);
  if (S.ndim !== 3 || S.shape[0] !== I.shape[0] || S.shape[1] !== I.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a Tensor of shape [${I.shape[0]}, ${I.shape[1]}, D] (matching idx)`, `${op}(src)`, `shape ${shapeStr(S.shape)}`);
  }
  if (typeof tokens !== 'number') throw typeError('an integer', `${op}(tokens)`, tokens);
  if (!Number.isInteger(tokens) || tokens < 0) throw rangeError('a non-negative integer', `${op}(tokens)`, tokens);
  const o = opts<ScatterTokensOptions>(op, options, ['maskToken', 'lengths']);
  let mt: Tensor | null = null;
  if (o.maskToken !== undefined && o.maskToken !== null) {
    mt = checkFloat(op, 'options.maskToken', o.maskToken);
    checkSameDtype(op, 'options.maskToken', mt, S, 'src');
    if (mt.numel() !== S.shape[2]) throw selfsupError('ERR_SHAPE_MISMATCH', `a Tensor of ${S.shape[2]} elements ([D] or [1, 1, D])`, `${op}(options.maskToken)`, `shape ${shapeStr(mt.shape)}`);
  }
  return scatterFn(S, I, mt, tokens, checkLengths(op, o.lengths, I.shape[0]));
}

// ---- stochasticPositions -------------------------------------------------------------------

export interface StochasticPositionsOptions {
  /** Noise standard deviation (StoP configs call it `var`: 0.25 ViT-B/L, 0.2 ViT-H). Default 0.25. */
  std?: number;
  /** The predictor's input projection: an nn.Linear(Din, Dp) or { weight [Dp, Din], bias [Dp] | null }. */
  projection: { weight: Tensor; bias?: Tensor | null };
  /** Philox seed; default: the next global seed (fresh noise every call, like StoP). */
  seed?: number;
  lengths?: Tensor;
  /** Return { out, noise } with the noise [B, K, Din] (default false: the noise never exists in memory). */
  materializeNoise?: boolean;
}

interface StoPCfg { std: number; seed: number; lengths: Int32Array | null; materialize: boolean; noise?: Tensor }

const stopFn = defineFunction({
  name: 'stochasticPositions',
  forward(ctx: FunctionCtx, pos: Tensor, idx: Tensor, weight: Tensor, bias: Tensor | null, cfg: StoPCfg): Tensor {
    const { out, noise } = kStoP(f(pos), pos.shape, idx.data as Int32Array, idx.shape, f(weight), weight.shape, bias ? f(bias) : null, {
      std: cfg.std, seed: cfg.seed, lengths: cfg.lengths, materializeNoise: cfg.materialize,
    });
    if (noise) cfg.noise = new Tensor(noise, [idx.shape[0], idx.shape[1], weight.shape[1]]);
    ctx.idx = idx;
    ctx.cfg = cfg;
    ctx.posShape = pos.shape.slice();
    ctx.weightShape = weight.shape.slice();
    return new Tensor(out, [idx.shape[0], idx.shape[1], pos.shape[1]]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // The noise is a constant: pos gets a scatter-add, weight sum_bk g n^T, bias sum_bk g.
    const idx = ctx.idx as Tensor;
    const cfg = ctx.cfg as StoPCfg;
    const r = kStoPBackward(f(g), ctx.posShape, idx.data as Int32Array, idx.shape, ctx.weightShape, {
      std: cfg.std, seed: cfg.seed, lengths: cfg.lengths, noise: cfg.noise ? f(cfg.noise) : null,
      wantPositions: ctx.needsInputGrad[0], wantWeight: ctx.needsInputGrad[2], wantBias: ctx.needsInputGrad[3],
    });
    return [
      r.dpos ? new Tensor(r.dpos, ctx.posShape) : null, null,
      r.dweight ? new Tensor(r.dweight, ctx.weightShape) : null,
      r.dbias ? new Tensor(r.dbias, [ctx.weightShape[0]]) : null,
    ];
  },
});

/**
 * FlexPredict/StoP stochastic positions (Bar et al. 2024; amirbar/StoP): pos [N, Dp], idx [B, K] ->
 * pos[idx] + projection(n), n ~ N(0, std^2) [B, K, Din] drawn in the kernel from Philox keyed by
 * (seed, b, k, i), so CPU and CUDA agree. Gradients flow to pos, weight and bias.
 */
export function stochasticPositions(pos: Tensor, idx: Tensor, options: StochasticPositionsOptions & { materializeNoise: true }): { out: Tensor; noise: Tensor };
export function stochasticPositions(pos: Tensor, idx: Tensor, options: StochasticPositionsOptions): Tensor;
export function stochasticPositions(pos: Tensor, idx: Tensor, options: StochasticPositionsOptions): Tensor | { out: Tensor; noise: Tensor } {
  const op = 'stochasticPositions';
  const P = checkFloat(op, 'pos', pos);
  if (P.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a Tensor of shape [N, Dp]', `${op}(pos)`, `shape ${shapeStr(P.shape)}`);
  const I = checkIdx(op, idx);
  const o = opts<StochasticPositionsOptions>(op, options, ['std', 'projection', 'seed', 'lengths', 'materializeNoise']);
  const proj = o.projection as unknown;
  if (proj === null || typeof proj !== 'object' || !((proj as { weight?: unknown }).weight instanceof Tensor)) {
    throw typeError('an nn.Linear or { weight, bias }', `${op}(options.projection)`, proj);
  }
  const W = checkFloat(op, 'options.projection.weight', (proj as { weight: Tensor }).weight);
  checkSameDtype(op, 'options.projection.weight', W, P, 'pos');
  if (W.ndim !== 2 || W.shape[0] !== P.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a weight of shape [${P.shape[1]}, Din] (nn.Linear(Din, ${P.shape[1]}))`, `${op}(options.projection.weight)`, `shape ${shapeStr(W.shape)}`);
  }
  const rawBias = (proj as { bias?: unknown }).bias;
  let bias: Tensor | null = null;
  if (rawBias !== undefined && rawBias !== null) {
    bias = checkFloat(op, 'options.projection.bias', rawBias);
    checkSameDtype(op, 'options.projection.bias', bias, P, 'pos');
    if (bias.ndim !== 1 || bias.shape[0] !== P.shape[1]) throw selfsupError('ERR_SHAPE_MISMATCH', `a bias of shape [${P.shape[1]}]`, `${op}(options.projection.bias)`, `shape ${shapeStr(bias.shape)}`);
  }
  const cfg: StoPCfg = {
    std: planStopStd(op, o.std),
    seed: resolveSeed(`${op}(options.seed)`, o.seed),
    lengths: checkLengths(op, o.lengths, I.shape[0]),
    materialize: optBool(op, 'materializeNoise', o.materializeNoise, false),
  };
  const out = stopFn(P, I, W, bias, cfg);
  return cfg.materialize ? { out, noise: cfg.noise as Tensor } : out;
}
