/**
 * Vision Transformer pieces: MultiheadSelfAttention, FeedForward, TransformerBlock (pre-norm),
 * PatchEmbed (conv-free), and VisionTransformer with fixed 2-D sin-cos positional embeddings.
 *
 * Module and parameter names follow timm's VisionTransformer (patch_embed.proj, cls_token,
 * pos_embed, blocks.i.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2, norm) so state
 * dicts map onto timm / MAE / I-JEPA checkpoints key for key; the one layout difference is
 * patch_embed.proj.weight, a Linear [dim, C*p*p] here and a Conv2d [dim, C, p, p] there: the
 * patch vector is flattened in (c, i, j) order precisely so that a reshape converts one into the
 * other (docs/nn.md).
 */
import { SelfsupError, expectedMessage, rangeError, shapeStr, typeError } from '../errors';
import { Tensor, type FloatDType } from '../tensor';
import { cat, splitHeads } from '../ops/shape';
import { CUDA_OPS } from '../ops/common';
import { F } from '../functional';
import { packedSelfAttention } from '../ops/attention';
import { Module, ModuleList, Parameter } from './module';
import { GELU, LayerNorm, Linear, emptyFloat, type LinearInit } from './layers';
import { deriveSeed, nextSeed, truncNormal_ } from './init';
import { checkOptions } from '../validate';

const TRANSFORMER_KEYS = ['init', 'dtype', 'seed'] as const;

/** Options shared by the transformer modules. */
export interface TransformerOptions {
  /** Linear init (default 'truncNormal', std 0.02: timm / I-JEPA; 'xavier' is MAE's). */
  init?: LinearInit;
  dtype?: FloatDType;
  seed?: number;
}

function posInt(v: unknown, name: string): number {
  if (typeof v !== 'number') throw typeError('a positive integer', name, v);
  if (!Number.isSafeInteger(v) || v < 1) throw rangeError('a positive integer', name, v);
  return v;
}

/** Attention mask: bool [B, Nk] (true = attend, PyTorch SDPA's convention) or additive float broadcastable to [B, H, Nq, Nk]. */
export interface AttentionCallOptions {
  mask?: Tensor;
}

type AttentionFn = (q: Tensor, k: Tensor, v: Tensor, options: { scale: number; mask?: Tensor }) => Tensor;

/**
 * softmax(q k^T * scale + mask) v, the textbook composition. Used when `F.attention` (the fused
 * kernel) is not available; it is also the reference the fused kernel is tested against.
 */
export function attentionReference(q: Tensor, k: Tensor, v: Tensor, options: { scale: number; mask?: Tensor }): Tensor {
  let scores = q.matmul(k.transpose(-2, -1)).mul(options.scale);
  const mask = options.mask;
  if (mask !== undefined) {
    const [B, , , Nk] = scores.shape;
    if (mask.dtype === 'bool') {
      if (mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== Nk) {
        throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`a bool mask [${B}, ${Nk}]`, 'attention(options.mask)', shapeStr(mask.shape)));
      }
      if (mask.device === 'cuda') {
        // log(1) = 0 where attended, log(0) = -inf where masked: the additive mask on the device.
        return scores.add(mask.to('float32').log().reshape([B, 1, 1, Nk])).softmax(-1).matmul(v);
      }
      const add = new (scores.dtype === 'float64' ? Float64Array : Float32Array)(B * Nk);
      for (let i = 0; i < add.length; i++) add[i] = mask.data[i] ? 0 : -Infinity;
      scores = scores.add(new Tensor(add, [B, 1, 1, Nk]));
    } else {
      scores = scores.add(mask.ndim === 2 ? mask.reshape([mask.shape[0], 1, 1, mask.shape[1]]) : mask);
    }
  }
  return scores.softmax(-1).matmul(v);
}

/**
 * The fused kernel when the functional layer has one (checked per call: it may be added later).
 * On 'cuda' the fused op is used once it has a CUDA path (CUDA_OPS); until then the composition,
 * whose matmuls and softmax run on the device.
 */
function attentionImpl(q: Tensor): AttentionFn {
  const fused = (F as unknown as Record<string, unknown>).attention;
  if (q.device === 'cuda' && !CUDA_OPS.has('attention')) return attentionReference;
  return typeof fused === 'function' ? (fused as AttentionFn) : attentionReference;
}

export interface MultiheadSelfAttentionOptions extends TransformerOptions {
  /** Bias on the qkv projection (default true, as timm's ViT). */
  qkvBias?: boolean;
  /** Logit scale (default headDim^-0.5). */
  scale?: number;
}

/**
 * Self-attention over x [B, N, dim]: qkv = Linear(dim, 3 dim) split as [B, N, 3, heads, headDim]
 * (timm's layout), attention per head, heads concatenated, output projection.
 */
export class MultiheadSelfAttention extends Module {
  readonly dim: number;
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  qkv: Linear;
  proj: Linear;

  constructor(dim: number, heads: number, options: MultiheadSelfAttentionOptions = {}) {
    super();
    this.dim = posInt(dim, 'MultiheadSelfAttention(dim)');
    this.heads = posInt(heads, 'MultiheadSelfAttention(heads)');
    if (dim % heads !== 0) throw rangeError(`a divisor of dim (${dim})`, 'MultiheadSelfAttention(heads)', heads);
    this.headDim = dim / heads;
    checkOptions<MultiheadSelfAttentionOptions>('MultiheadSelfAttention(options)', options, [...TRANSFORMER_KEYS, 'qkvBias', 'scale']);
    this.scale = options.scale ?? this.headDim ** -0.5;
    if (typeof this.scale !== 'number' || !Number.isFinite(this.scale)) throw rangeError('a finite number', 'MultiheadSelfAttention options.scale', this.scale);
    const seed = options.seed ?? nextSeed();
    const lin = { init: options.init ?? 'truncNormal', dtype: options.dtype };
    this.qkv = new Linear(dim, 3 * dim, { ...lin, bias: options.qkvBias ?? true, seed: deriveSeed(seed, 0) });
    this.proj = new Linear(dim, dim, { ...lin, seed: deriveSeed(seed, 1) });
  }

  forward(x: Tensor, options: AttentionCallOptions = {}): Tensor {
    if (!(x instanceof Tensor)) throw typeError('a Tensor', 'MultiheadSelfAttention.forward(x)', x);
    checkOptions<AttentionCallOptions>('MultiheadSelfAttention.forward(options)', options, ['mask']);
    if (x.ndim !== 3 || x.shape[2] !== this.dim) {
      throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`an input [B, N, ${this.dim}]`, 'MultiheadSelfAttention.forward(x)', shapeStr(x.shape)));
    }
    const [B, N] = x.shape;
    const qkv = this.qkv.forward(x);
    // Without a mask, the fused kernel reads q, k, v inside qkv and writes the heads merged.
    const packed = options.mask === undefined && attentionImpl(qkv) !== attentionReference ? packedSelfAttention(qkv, this.heads, this.scale) : null;
    if (packed) return this.proj.forward(packed);
    // [B, N, 3 * dim] -> q, k, v [B, heads, N, headDim] in one fused split (PyTorch's reshape +
    // permute + unbind).
    const [q, k, v] = splitHeads(qkv, 3, this.heads);
    const out = attentionImpl(q)(q, k, v, { scale: this.scale, mask: options.mask });
    return this.proj.forward(out.transpose(1, 2).reshape([B, N, this.dim]));
  }

  protected override extraRepr(): string {
    return `dim=${this.dim}, heads=${this.heads}`;
  }
}

/** fc1 -> GELU -> fc2 (timm's `Mlp`, the transformer feed-forward). */
export class FeedForward extends Module {
  fc1: Linear;
  act: GELU;
  fc2: Linear;
  constructor(dim: number, hidden: number, options: TransformerOptions = {}) {
    super();
    checkOptions<TransformerOptions>('FeedForward(options)', options, TRANSFORMER_KEYS);
    const seed = options.seed ?? nextSeed();
    const lin = { init: options.init ?? 'truncNormal', dtype: options.dtype };
    this.fc1 = new Linear(dim, hidden, { ...lin, seed: deriveSeed(seed, 0) });
    this.act = new GELU();
    this.fc2 = new Linear(hidden, dim, { ...lin, seed: deriveSeed(seed, 1) });
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
  }
}

export interface TransformerBlockOptions extends TransformerOptions {
  /** Hidden width of the feed-forward as a multiple of dim (default 4). */
  mlpRatio?: number;
  qkvBias?: boolean;
  /** LayerNorm eps (default 1e-6, as timm's ViT). */
  eps?: number;
}

/** Pre-norm block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
export class TransformerBlock extends Module {
  norm1: LayerNorm;
  attn: MultiheadSelfAttention;
  norm2: LayerNorm;
  mlp: FeedForward;

  constructor(dim: number, heads: number, options: TransformerBlockOptions = {}) {
    super();
    checkOptions<TransformerBlockOptions>('TransformerBlock(options)', options, [...TRANSFORMER_KEYS, 'mlpRatio', 'qkvBias', 'eps']);
    const seed = options.seed ?? nextSeed();
    const ratio = options.mlpRatio ?? 4;
    if (typeof ratio !== 'number' || !(ratio > 0) || !Number.isInteger(dim * ratio)) {
      throw rangeError('a number > 0 with dim * mlpRatio an integer', 'TransformerBlock options.mlpRatio', ratio);
    }
    const common = { init: options.init, dtype: options.dtype };
    this.norm1 = new LayerNorm(dim, { eps: options.eps ?? 1e-6, dtype: options.dtype });
    this.attn = new MultiheadSelfAttention(dim, heads, { ...common, qkvBias: options.qkvBias, seed: deriveSeed(seed, 0) });
    this.norm2 = new LayerNorm(dim, { eps: options.eps ?? 1e-6, dtype: options.dtype });
    this.mlp = new FeedForward(dim, dim * ratio, { ...common, seed: deriveSeed(seed, 1) });
  }

  forward(x: Tensor, options: AttentionCallOptions = {}): Tensor {
    checkOptions<AttentionCallOptions>('TransformerBlock.forward(options)', options, ['mask']);
    const h = x.add(this.attn.forward(this.norm1.forward(x), options));
    return h.add(this.mlp.forward(this.norm2.forward(h)));
  }
}

export interface PatchEmbedOptions extends TransformerOptions {
  imageSize: number | [number, number];
  patchSize: number;
  inChannels?: number;
  dim: number;
}

/**
 * Images [B, C, H, W] -> patches [B, N, C*p*p] (row-major over the patch grid, each patch
 * flattened in (c, i, j) order, matching a Conv2d weight [dim, C, p, p]) -> Linear -> [B, N, dim].
 */
export class PatchEmbed extends Module {
  readonly imageSize: [number, number];
  readonly patchSize: number;
  readonly inChannels: number;
  readonly grid: [number, number];
  readonly numPatches: number;
  proj: Linear;

  constructor(options: PatchEmbedOptions) {
    super();
    if (options === null || typeof options !== 'object') throw typeError('an options object', 'PatchEmbed(options)', options);
    checkOptions<PatchEmbedOptions>('PatchEmbed(options)', options, [...TRANSFORMER_KEYS, 'imageSize', 'patchSize', 'inChannels', 'dim']);
    const size = typeof options.imageSize === 'number' ? [options.imageSize, options.imageSize] : options.imageSize;
    if (!Array.isArray(size) || size.length !== 2) throw typeError('a number or [H, W]', 'PatchEmbed options.imageSize', options.imageSize);
    const p = posInt(options.patchSize, 'PatchEmbed options.patchSize');
    size.forEach((s, i) => {
      posInt(s, `PatchEmbed options.imageSize[${i}]`);
      if (s % p !== 0) throw rangeError(`a multiple of patchSize (${p})`, `PatchEmbed options.imageSize[${i}]`, s);
    });
    this.imageSize = [size[0], size[1]];
    this.patchSize = p;
    this.inChannels = posInt(options.inChannels ?? 3, 'PatchEmbed options.inChannels');
    this.grid = [size[0] / p, size[1] / p];
    this.numPatches = this.grid[0] * this.grid[1];
    posInt(options.dim, 'PatchEmbed options.dim');
    this.proj = new Linear(this.inChannels * p * p, options.dim, { init: options.init ?? 'truncNormal', dtype: options.dtype, seed: options.seed ?? nextSeed() });
  }

  /** [B, C, H, W] -> [B, N, C*p*p] without the projection (MAE's `patchify`, in (c, i, j) order). */
  patchify(x: Tensor): Tensor {
    const [H, W] = this.imageSize, C = this.inChannels, p = this.patchSize;
    if (!(x instanceof Tensor)) throw typeError('a Tensor', 'PatchEmbed.forward(x)', x);
    if (x.ndim !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) {
      throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`images [B, ${C}, ${H}, ${W}]`, 'PatchEmbed.forward(x)', shapeStr(x.shape)));
    }
    const B = x.shape[0], [gh, gw] = this.grid;
    return x.reshape([B, C, gh, p, gw, p]).permute([0, 2, 4, 1, 3, 5]).reshape([B, gh * gw, C * p * p]);
  }

  forward(x: Tensor): Tensor {
    return this.proj.forward(this.patchify(x));
  }
}

/**
 * Fixed 2-D sin-cos positional embedding [gridH * gridW (+1), dim], as in MAE
 * (He et al. 2022, `get_2d_sincos_pos_embed` in facebookresearch/mae) and I-JEPA (Assran et al.
 * 2023): the first dim/2 channels encode the column, the last dim/2 the row, each as
 * [sin(pos * w_k), cos(pos * w_k)] with w_k = 10000^(-k / (dim/4)), k < dim/4. With a cls token,
 * row 0 is zeros. Computed in float64.
 */
export function sincosPosEmbed2d(dim: number, gridH: number, gridW: number, clsToken = false): Float64Array {
  posInt(dim, 'sincosPosEmbed2d(dim)');
  if (dim % 4 !== 0) throw rangeError('a multiple of 4', 'sincosPosEmbed2d(dim)', dim);
  const quarter = dim / 4;
  const extra = clsToken ? 1 : 0;
  const out = new Float64Array((gridH * gridW + extra) * dim);
  const omega = Array.from({ length: quarter }, (_, k) => 1 / 10000 ** (k / quarter));
  for (let r = 0; r < gridH; r++) {
    for (let c = 0; c < gridW; c++) {
      const base = (extra + r * gridW + c) * dim;
      for (let k = 0; k < quarter; k++) {
        out[base + k] = Math.sin(c * omega[k]);
        out[base + quarter + k] = Math.cos(c * omega[k]);
        out[base + 2 * quarter + k] = Math.sin(r * omega[k]);
        out[base + 3 * quarter + k] = Math.cos(r * omega[k]);
      }
    }
  }
  return out;
}

export interface VisionTransformerOptions extends TransformerOptions {
  imageSize: number | [number, number];
  patchSize: number;
  inChannels?: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio?: number;
  /** Prepend a learnable [CLS] token (default true). I-JEPA's encoder has none. */
  clsToken?: boolean;
  qkvBias?: boolean;
  eps?: number;
}

export interface VisionTransformerOutput {
  /** Final-norm tokens [B, (1 +) N or K, dim] (the cls token first when enabled). */
  tokens: Tensor;
  /** Each block's output (before the final norm), for probing any depth. */
  blocks: Tensor[];
}

export interface VisionTransformerCallOptions extends AttentionCallOptions {
  /**
   * int32 [B, K] patch indices to keep (I-JEPA context / MAE visible tokens): positional
   * embeddings are added first, then only these patches go through the blocks.
   */
  keep?: Tensor;
}

export class VisionTransformer extends Module {
  readonly dim: number;
  readonly depth: number;
  readonly numPatches: number;
  readonly hasClsToken: boolean;
  patchEmbed: PatchEmbed;
  clsToken: Tensor | null;
  declare posEmbed: Tensor;
  blocks: ModuleList<TransformerBlock>;
  norm: LayerNorm;

  constructor(options: VisionTransformerOptions) {
    super();
    if (options === null || typeof options !== 'object') throw typeError('an options object', 'VisionTransformer(options)', options);
    checkOptions<VisionTransformerOptions>('VisionTransformer(options)', options, [
      ...TRANSFORMER_KEYS, 'imageSize', 'patchSize', 'inChannels', 'dim', 'depth', 'heads', 'mlpRatio', 'clsToken', 'qkvBias', 'eps',
    ]);
    this.dim = posInt(options.dim, 'VisionTransformer options.dim');
    this.depth = posInt(options.depth, 'VisionTransformer options.depth');
    posInt(options.heads, 'VisionTransformer options.heads');
    if (this.dim % 4 !== 0) throw rangeError('a multiple of 4 (2-D sin-cos embedding)', 'VisionTransformer options.dim', this.dim);
    const seed = options.seed ?? nextSeed();
    const dtype = options.dtype ?? 'float32';
    const init = options.init ?? 'truncNormal';
    this.hasClsToken = options.clsToken ?? true;
    const { imageSize, patchSize, inChannels } = options;
    this.patchEmbed = new PatchEmbed({ imageSize, patchSize, inChannels, dim: options.dim, dtype: options.dtype, init, seed: deriveSeed(seed, 0) });
    this.numPatches = this.patchEmbed.numPatches;
    this.clsToken = this.hasClsToken ? Parameter(truncNormal_(emptyFloat([1, 1, this.dim], dtype), { std: 0.02, seed, stream: 0 })) : null;
    const [gh, gw] = this.patchEmbed.grid;
    const pe = sincosPosEmbed2d(this.dim, gh, gw, this.hasClsToken);
    const peT = emptyFloat([1, this.numPatches + (this.hasClsToken ? 1 : 0), this.dim], dtype);
    peT.data.set(pe);
    this.registerBuffer('posEmbed', peT);
    const blocks: TransformerBlock[] = [];
    for (let i = 0; i < this.depth; i++) {
      blocks.push(new TransformerBlock(this.dim, options.heads, { init, dtype, mlpRatio: options.mlpRatio, qkvBias: options.qkvBias, eps: options.eps, seed: deriveSeed(seed, 1 + i) }));
    }
    this.blocks = new ModuleList(blocks);
    this.norm = new LayerNorm(this.dim, { eps: options.eps ?? 1e-6, dtype });
  }

  forward(images: Tensor, options: VisionTransformerCallOptions = {}): VisionTransformerOutput {
    checkOptions<VisionTransformerCallOptions>('VisionTransformer.forward(options)', options, ['mask', 'keep']);
    let x = this.patchEmbed.forward(images);
    const B = x.shape[0], N = this.numPatches, D = this.dim;
    const off = this.hasClsToken ? 1 : 0;
    x = x.add(this.posEmbed.narrow(1, off, N));
    if (options.keep !== undefined) x = keepTokens(x, options.keep);
    if (this.clsToken) {
      const cls = this.clsToken.add(this.posEmbed.narrow(1, 0, 1)).expand([B, 1, D]);
      x = cat([cls, x], 1);
    }
    const outs: Tensor[] = [];
    for (const blk of this.blocks) {
      x = blk.forward(x, { mask: options.mask });
      outs.push(x);
    }
    return { tokens: this.norm.forward(x), blocks: outs };
  }

  protected override extraRepr(): string {
    return `dim=${this.dim}, depth=${this.depth}, patches=${this.numPatches}, clsToken=${this.hasClsToken}`;
  }
}

/** x [B, N, D], idx int32 [B, K] -> [B, K, D] (differentiable gather along the token dim). */
function keepTokens(x: Tensor, idx: Tensor): Tensor {
  const [B, N, D] = x.shape;
  if (!(idx instanceof Tensor) || idx.dtype !== 'int32') throw typeError('an int32 Tensor [B, K]', 'VisionTransformer.forward options.keep', idx);
  if (idx.ndim !== 2 || idx.shape[0] !== B) {
    throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`an int32 Tensor [${B}, K]`, 'VisionTransformer.forward options.keep', shapeStr(idx.shape)));
  }
  const K = idx.shape[1];
  // On 'cuda' the gather's kernel checks the indices on the device (its message names idx).
  for (let i = 0; i < (idx.device === 'cuda' ? 0 : B * K); i++) {
    const v = idx.data[i];
    if (!(v >= 0 && v < N)) throw rangeError(`indices in [0, ${N})`, 'VisionTransformer.forward options.keep', `${v} at position ${i}`, true);
  }
  // The fused masked-token gather (one pass each way), not a [B, K, D] index for gather.
  return D > 0 ? F.gatherTokens(x, idx) : x.narrow(1, 0, K);
}
