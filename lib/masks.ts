/**
 * `masks`: index masks for masked-token SSL, as int32 Tensors ready for F.gatherTokens.
 * Generated natively (Philox-seeded; the same seed gives the same masks in C++ and in the TS
 * reference backend, see docs/tokens.md).
 *
 *   const { keep, masked, restore } = masks.random({ batch: 64, tokens: 196, ratio: 0.75, seed: 0 });
 *   const { context, targets } = masks.multiBlock({ grid: [14, 14], batch: 64, seed: step });
 *   const ctx = F.gatherTokens(x, context);                  // [B, Kc, D]
 *   const tgt = targets.map((t) => F.gatherTokens(h, t));    // nPred x [B, Kt, D]
 */
import { resolveSeed } from './factories';
import {
  maskMultiBlock, maskMultiBlockAsync, maskRandom,
  type MaskMultiBlockOptions, type MaskRandomOptions, type MultiBlockRaw,
} from './kernels/tokens';
import { checkOptions } from './validate';
import { Tensor } from './tensor';

export interface RandomMasks {
  /** int32 [B, K]: kept token indices, K = floor(N (1 - ratio)), in noise order (MAE's ids_keep). */
  keep: Tensor;
  /** int32 [B, N - K]: masked token indices. */
  masked: Tensor;
  /** int32 [B, N]: the inverse permutation (MAE's ids_restore). */
  restore: Tensor;
}

export interface MultiBlockMasks {
  /** int32 [B, Kc]: the first (usually only) context mask. */
  context: Tensor;
  /** nEnc context masks, int32 [B, Kc] each. */
  contexts: Tensor[];
  /** nPred target masks, int32 [B, Kt] each. */
  targets: Tensor[];
  /** int32 [B] per context / target mask: each sample's full mask size (the valid prefix when ragged). */
  contextLengths: Tensor[];
  targetLengths: Tensor[];
  /** int32 [B]: target blocks dropped from the context constraint after 20 failed tries each (0 = none). */
  relaxed: Tensor;
  /** Block sizes [h, w] drawn for this batch. */
  predBlock: [number, number];
  encBlock: [number, number];
}

function toTensors(r: MultiBlockRaw, B: number): MultiBlockMasks {
  const split = (data: Int32Array, count: number, k: number): Tensor[] =>
    Array.from({ length: count }, (_, j) => new Tensor(data.slice(j * B * k, (j + 1) * B * k), [B, k]));
  const nEnc = B === 0 ? 0 : r.contextLengths.length / B;
  const nPred = B === 0 ? 0 : r.targetLengths.length / B;
  const contexts = split(r.context, nEnc, r.kc);
  return {
    context: contexts[0] ?? new Tensor(new Int32Array(0), [B, 0]),
    contexts,
    targets: split(r.targets, nPred, r.kt),
    contextLengths: split(r.contextLengths, nEnc, 1).map((t) => new Tensor(t.data, [B])),
    targetLengths: split(r.targetLengths, nPred, 1).map((t) => new Tensor(t.data, [B])),
    relaxed: new Tensor(r.relaxed, [B]),
    predBlock: [r.predBlock[0], r.predBlock[1]],
    encBlock: [r.encBlock[0], r.encBlock[1]],
  };
}

const MULTI_BLOCK_KEYS: readonly (keyof MaskMultiBlockOptions)[] = [
  'grid', 'batch', 'seed', 'encScale', 'predScale', 'aspectRatio', 'nEnc', 'nPred', 'minKeep', 'allowOverlap', 'ragged',
];

function withSeed<T extends { seed?: number }>(name: string, options: unknown, known: readonly (keyof T & string)[]): T {
  const o = checkOptions<T>(`${name}(options)`, options, known) as T;
  if (options === undefined) return o; // the kernel reports the missing fields
  return { ...o, seed: resolveSeed(`${name}(options.seed)`, o.seed) };
}

export const masks = {
  /**
   * MAE random masking (facebookresearch/mae random_masking): per sample, a random permutation
   * of the N tokens; the first floor(N (1 - ratio)) are kept.
   */
  random(options: MaskRandomOptions): RandomMasks {
    const o = withSeed<MaskRandomOptions>('masks.random', options, ['batch', 'tokens', 'ratio', 'seed']);
    const r = maskRandom(o);
    const B = o.batch, N = o.tokens, K = r.keepCount;
    return { keep: new Tensor(r.keep, [B, K]), masked: new Tensor(r.masked, [B, N - K]), restore: new Tensor(r.restore, [B, N]) };
  },

  /**
   * I-JEPA multi-block masks (facebookresearch/ijepa MaskCollator; defaults = the in1k configs:
   * encScale [0.85, 1], predScale [0.15, 0.2], aspectRatio [0.75, 1.5], nEnc 1, nPred 4,
   * minKeep 10, allowOverlap false). Fixes over the reference: corners can reach the last
   * row/column (github.com/facebookresearch/ijepa/issues/40), a clear RangeError instead of an endless loop when no valid mask
   * exists (github.com/facebookresearch/ijepa/issues/68), and `ragged: true` keeps every full mask (padded with -1, lengths given)
   * instead of cutting all samples to the batch minimum.
   */
  multiBlock(options: MaskMultiBlockOptions): MultiBlockMasks {
    const o = withSeed<MaskMultiBlockOptions>('masks.multiBlock', options, MULTI_BLOCK_KEYS);
    return toTensors(maskMultiBlock(o), o.batch);
  },

  /** multiBlock off the JavaScript thread (for data loaders). */
  async multiBlockAsync(options: MaskMultiBlockOptions): Promise<MultiBlockMasks> {
    const o = withSeed<MaskMultiBlockOptions>('masks.multiBlock', options, MULTI_BLOCK_KEYS);
    return toTensors(await maskMultiBlockAsync(o), o.batch);
  },
};
