/**
 * Masked-token ops with autograd: gatherTokens (+ fused position add), scatterTokens, and StoP's
 * stochasticPositions. Forward and backward call the fused kernels of lib/kernels/tokens (native,
 * or the float64 reference backend). Index tensors (int32) are never differentiable.
 * On 'cuda' (float32) the CUDA kernels run both directions; idx, lengths and every other tensor
 * argument must be on the device too, and the indices are checked there (the same messages).
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
import { checkCudaFloat32, checkSameDevice, dev, devOut, devTensor, fused } from './fused-device';

const f = (t: Tensor): FloatArray => t.data as FloatArray;
/** A ragged-lengths argument: the host array, or on 'cuda' the tensor (its device storage). */
type Lengths = Int32Array | Tensor | null;
const hostLengths = (l: Lengths): Int32Array | null => (l instanceof Tensor ? null : l);

/** idx int32 [B, K] on the device of the op's float input `x` (named `xArg`). */
function checkIdx(op: string, idx: unknown, x: Tensor, xArg: string): Tensor {
  const t = checkTensor(op, 'idx', idx, ['int32']);
  if (t.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'an int32 Tensor of shape [B, K]', `${op}(idx)`, `shape ${shapeStr(t.shape)}`);
  checkSameDevice(op, 'idx', t, x, xArg);
  checkCudaFloat32(op, xArg, x);
  return t;
}

function checkLengths(op: string, lengths: unknown, B: number, x: Tensor, xArg: string): Lengths {
  if (lengths === undefined || lengths === null) return null;
  const t = checkTensor(op, 'options.lengths', lengths, ['int32']);
  if (t.ndim !== 1 || t.shape[0] !== B) throw selfsupError('ERR_SHAPE_MISMATCH', `an int32 Tensor of shape [${B}]`, `${op}(options.lengths)`, `shape ${shapeStr(t.shape)}`);
  checkSameDevice(op, 'options.lengths', t, x, xArg);
  return t.device === 'cuda' ? t : (t.data as Int32Array);
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
  forward(ctx: FunctionCtx, x: Tensor, idx: Tensor, pos: Tensor | null, lengths: Lengths): Tensor {
    const [B, K] = idx.shape, N = x.shape[x.ndim - 2], D = x.shape[x.ndim - 1];
    Object.assign(ctx, { idx, lengths, xShape: x.shape.slice(), N });
    if (x.device === 'cuda') {
      const out = devOut('float32', B * K * D);
      fused('gatherTokens').cudaTokensGather(dev(x), dev(idx), dev(lengths as Tensor | null), dev(pos), out, { B, N, D, K, xShared: x.ndim === 2 });
      return devTensor(out, [B, K, D]);
    }
    const out = kGather(f(x), x.shape, idx.data as Int32Array, idx.shape, { lengths: hostLengths(lengths), addPositions: pos ? f(pos) : null });
    return new Tensor(out, [B, K, D]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // Scatter-add: each used row of x (and of pos) receives the sum of its gathered gradients.
    const idx = ctx.idx as Tensor, xShape = ctx.xShape as number[], N = ctx.N as number;
    const D = xShape[xShape.length - 1], shared = xShape.length === 2;
    const [wantX, wantP] = [ctx.needsInputGrad[0], ctx.needsInputGrad[2]];
    let dx, dpos;
    if (g.device === 'cuda') {
      dx = wantX ? devOut('float32', (shared ? 1 : idx.shape[0]) * N * D) : null;
      dpos = wantP ? devOut('float32', N * D) : null;
      fused('gatherTokens').cudaTokensGatherBackward(dev(g), dev(idx), dev(ctx.lengths as Tensor | null), dx, dpos,
        { B: idx.shape[0], N, D, K: idx.shape[1], xShared: shared });
    } else {
      ({ dx, dpos } = kGatherBackward(f(g), idx.data as Int32Array, idx.shape, N, {
        lengths: hostLengths(ctx.lengths), xShared: shared, wantX, wantPositions: wantP,
      }));
    }
    return [dx ? new Tensor(dx, xShape) : null, null, dpos ? new Tensor(dpos, [N, D]) : null];
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
  const I = checkIdx(op, idx, X, 'x');
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
  return gatherFn(X, I, pos, checkLengths(op, o.lengths, I.shape[0], X, 'x'));
}

// ---- scatterTokens -------------------------------------------------------------------------

export interface ScatterTokensOptions {
  /** Written at every unselected position: a [D] (or [1, 1, D]) mask token; default zeros. */
  maskToken?: Tensor;
  lengths?: Tensor;
}

const scatterFn = defineFunction({
  name: 'scatterTokens',
  forward(ctx: FunctionCtx, src: Tensor, idx: Tensor, maskToken: Tensor | null, N: number, lengths: Lengths): Tensor {
    const [B, K, D] = src.shape;
    Object.assign(ctx, { idx, lengths, tokenShape: maskToken ? maskToken.shape.slice() : null });
    if (src.device === 'cuda') {
      const out = devOut('float32', B * N * D);
      fused('scatterTokens').cudaTokensScatter(dev(src), dev(idx), dev(lengths as Tensor | null), dev(maskToken), out, { B, N, D, K });
      return devTensor(out, [B, N, D]);
    }
    const out = kScatter(f(src), src.shape, idx.data as Int32Array, N, { lengths: hostLengths(lengths), fill: maskToken ? f(maskToken) : null });
    return new Tensor(out, [B, N, D]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // src gets the gradient of the rows it was placed at (a gather); the mask token the sum of the rest.
    const idx = ctx.idx as Tensor;
    const [B, N, D] = g.shape, K = idx.shape[1];
    const [wantSrc, wantFill] = [ctx.needsInputGrad[0], ctx.needsInputGrad[2]];
    let dsrc, dfill;
    if (g.device === 'cuda') {
      dsrc = wantSrc ? devOut('float32', B * K * D) : null;
      dfill = wantFill ? devOut('float32', D) : null;
      fused('scatterTokens').cudaTokensScatterBackward(dev(g), dev(idx), dev(ctx.lengths as Tensor | null), dsrc, dfill, { B, N, D, K });
    } else {
      ({ dsrc, dfill } = kScatterBackward(f(g), g.shape, idx.data as Int32Array, idx.shape, { lengths: hostLengths(ctx.lengths), wantSrc, wantFill }));
    }
    return [dsrc ? new Tensor(dsrc, [B, K, D]) : null, null, dfill ? new Tensor(dfill, ctx.tokenShape) : null];
  },
});

/**
 * The inverse of gatherTokens: src [B, K, D] placed at idx (unique per row) in a [B, tokens, D]
 * output; every other position holds `maskToken` (MAE decoder / I-JEPA style) or zeros.
 */
export function scatterTokens(src: Tensor, idx: Tensor, tokens: number, options?: ScatterTokensOptions): Tensor {
  const op = 'scatterTokens';
  const S = checkFloat(op, 'src', src);
  const I = checkIdx(op, idx, S, 'src');
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
  return scatterFn(S, I, mt, tokens, checkLengths(op, o.lengths, I.shape[0], S, 'src'));
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

interface StoPCfg { std: number; seed: number; lengths: Lengths; materialize: boolean; noise?: Tensor }

// The device backward: the noise regenerated from the seed on the device unless it was kept.
function stopBackwardCuda(g: Tensor, idx: Tensor, cfg: StoPCfg, [N, Dp]: number[], [, Din]: number[],
  want: { wantPositions: boolean; wantWeight: boolean; wantBias: boolean }) {
  const [B, K] = idx.shape;
  const dpos = want.wantPositions ? devOut('float32', N * Dp) : null;
  const dweight = want.wantWeight ? devOut('float32', Dp * Din) : null;
  const dbias = want.wantBias ? devOut('float32', Dp) : null;
  fused('stochasticPositions').cudaStochasticPositionsBackward(dev(g), dev(idx), dev(cfg.lengths as Tensor | null), dev(cfg.noise ?? null), dpos, dweight, dbias,
    { B, N, Dp, K, Din, std: cfg.std, seed: cfg.seed });
  return { dpos, dweight, dbias };
}

const stopFn = defineFunction({
  name: 'stochasticPositions',
  forward(ctx: FunctionCtx, pos: Tensor, idx: Tensor, weight: Tensor, bias: Tensor | null, cfg: StoPCfg): Tensor {
    const [B, K] = idx.shape, [N, Dp] = pos.shape, Din = weight.shape[1];
    Object.assign(ctx, { idx, cfg, posShape: pos.shape.slice(), weightShape: weight.shape.slice() });
    if (pos.device === 'cuda') {
      const out = devOut('float32', B * K * Dp), noise = cfg.materialize ? devOut('float32', B * K * Din) : null;
      fused('stochasticPositions').cudaStochasticPositions(dev(pos), dev(idx), dev(cfg.lengths as Tensor | null), dev(weight), dev(bias), out, noise,
        { B, N, Dp, K, Din, std: cfg.std, seed: cfg.seed });
      if (noise) cfg.noise = devTensor(noise, [B, K, Din]);
      return devTensor(out, [B, K, Dp]);
    }
    const { out, noise } = kStoP(f(pos), pos.shape, idx.data as Int32Array, idx.shape, f(weight), weight.shape, bias ? f(bias) : null, {
      std: cfg.std, seed: cfg.seed, lengths: hostLengths(cfg.lengths), materializeNoise: cfg.materialize,
    });
    if (noise) cfg.noise = new Tensor(noise, [B, K, Din]);
    return new Tensor(out, [B, K, Dp]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    // The noise is a constant: pos gets a scatter-add, weight sum_bk g n^T, bias sum_bk g.
    const idx = ctx.idx as Tensor;
    const cfg = ctx.cfg as StoPCfg;
    const want = { wantPositions: ctx.needsInputGrad[0], wantWeight: ctx.needsInputGrad[2], wantBias: ctx.needsInputGrad[3] };
    const r = g.device === 'cuda' ? stopBackwardCuda(g, idx, cfg, ctx.posShape, ctx.weightShape, want)
      : kStoPBackward(f(g), ctx.posShape, idx.data as Int32Array, idx.shape, ctx.weightShape, {
        std: cfg.std, seed: cfg.seed, lengths: hostLengths(cfg.lengths), noise: cfg.noise ? f(cfg.noise) : null, ...want,
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
  const I = checkIdx(op, idx, P, 'pos');
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
    lengths: checkLengths(op, o.lengths, I.shape[0], P, 'pos'),
    materialize: optBool(op, 'materializeNoise', o.materializeNoise, false),
  };
  const out = stopFn(P, I, W, bias, cfg);
  return cfg.materialize ? { out, noise: cfg.noise as Tensor } : out;
}
