/**
 * The shared backbone of the recipes: a small ViT sized for the synthetic 32 px images on a CPU
 * (patch 8 -> 4 x 4 tokens, width 96, 3 blocks, 3 heads; the masked-image recipes use an 8 x 8 grid;
 * simclr puts a convolutional stem before it), and the pooling and per-depth feature helpers the
 * probes use.
 */
import { Tensor } from '../tensor';
import { cat } from '../ops/shape';
import * as nn from '../nn/index';
import { deriveSeed } from '../nn/init';
import { noGrad } from '../autograd/grad-mode';
import { rangeError, typeError } from '../errors';
import type { Depth, RecipeContext } from './recipe';

export interface BackboneSize {
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  /** Channels of a convolutional stem before the ViT (0: none, the ViT patchifies the image). */
  stem: number;
}

/** The default size; `--model` style overrides come in through ctx.flags (tests use tiny ones). */
export function backboneSize(ctx: RecipeContext): BackboneSize {
  const f = ctx.flags;
  return {
    patch: (f.patch as number) ?? (ctx.imageSize >= 32 ? 8 : 4),
    dim: (f.dim as number) ?? 96,
    depth: (f.depth as number) ?? 3,
    heads: (f.heads as number) ?? 3,
    stem: (f.stem as number) ?? 0,
  };
}

/** Heads for a half-width predictor / decoder: the backbone's count when it divides dim / 2. */
export function narrowHeads(ctx: RecipeContext): number {
  const s = backboneSize(ctx);
  return (s.dim / 2) % s.heads === 0 ? s.heads : 1;
}

/** The recipe's ViT; `patch` is the recipe's default patch size (the masked-image recipes want a finer grid). */
export function vit(ctx: RecipeContext, options: { clsToken: boolean; stream: number; patch?: number }): nn.VisionTransformer {
  const s = backboneSize(ctx);
  if (options.patch !== undefined && ctx.flags.patch === undefined) s.patch = options.patch;
  return new nn.VisionTransformer({
    imageSize: ctx.imageSize, inChannels: ctx.channels, patchSize: s.patch, dim: s.dim, depth: s.depth, heads: s.heads,
    clsToken: options.clsToken, dtype: ctx.dtype, seed: deriveSeed(ctx.seed, options.stream),
    // MAE's initialization (xavier-uniform Linears, the patch embedding included): with timm's
    // std-0.02 default the 48-wide patch embedding is ~5x smaller than the positional embedding
    // and a small ViT barely moves in a few hundred steps.
    init: 'xavier',
  });
}

/**
 * A ViT on the feature map of a small convolutional stem (Xiao et al. 2021, "Early Convolutions
 * Help Transformers See Better"): two 3 x 3 stride-2 convolutions with ReLU (32 px -> 8 x 8 x C),
 * then the ViT with patch 2 on that map. The convolutions give the locality and translation
 * equivariance that a patch-8 ViT must otherwise learn from data, which a few hundred steps do not
 * provide. Same output as the ViT's forward (tokens, blocks).
 */
export class StemViT extends nn.Module {
  stem: nn.Sequential;
  vit: nn.VisionTransformer;
  constructor(stem: nn.Sequential, net: nn.VisionTransformer) {
    super();
    this.stem = stem;
    this.vit = net;
  }
  get dim(): number {
    return this.vit.dim;
  }
  get hasClsToken(): boolean {
    return this.vit.hasClsToken;
  }
  forward(images: Tensor): nn.VisionTransformerOutput {
    return this.vit.forward(this.stem.forward(images));
  }
}

/** The two-view recipes' backbone: the ViT, behind a convolutional stem when the size asks for one. */
export function stemVit(ctx: RecipeContext, options: { clsToken: boolean; stream: number }): StemViT | nn.VisionTransformer {
  const s = backboneSize(ctx);
  if (s.stem === 0) return vit(ctx, options);
  if (!Number.isInteger(s.stem) || s.stem < 2 || s.stem % 2 !== 0) throw rangeError('an even integer >= 2 (or 0: no stem)', 'train options.flags.stem', s.stem);
  const seed = deriveSeed(ctx.seed, options.stream + 100), c = s.stem, dtype = ctx.dtype;
  const stem = new nn.Sequential(
    new nn.Conv2d(ctx.channels, c / 2, 3, { stride: 2, padding: 1, dtype, seed: deriveSeed(seed, 0) }), new nn.ReLU(),
    new nn.Conv2d(c / 2, c, 3, { stride: 2, padding: 1, dtype, seed: deriveSeed(seed, 1) }), new nn.ReLU(),
  );
  const net = new nn.VisionTransformer({
    imageSize: Math.ceil(Math.ceil(ctx.imageSize / 2) / 2), inChannels: c, patchSize: (ctx.flags.patch as number) ?? 2, dim: s.dim, depth: s.depth, heads: s.heads,
    clsToken: options.clsToken, dtype, seed: deriveSeed(ctx.seed, options.stream), init: 'xavier',
  });
  return new StemViT(stem, net);
}

/** [B, T, D] -> [B, D]: the cls token when there is one, else the mean over tokens (I-JEPA's probe). */
export function pool(tokens: Tensor, hasCls: boolean): Tensor {
  return hasCls ? tokens.narrow(1, 0, 1).reshape([tokens.shape[0], tokens.shape[2]]) : tokens.mean(1);
}

/** The backbone representation plus each block's pooled output (Guillotine Regularization's depths). */
export function backboneDepths(net: nn.VisionTransformer | StemViT, images: Tensor): { rep: Tensor; depths: Depth[] } {
  const out = net.forward(images);
  const rep = pool(out.tokens, net.hasClsToken);
  const depths: Depth[] = [{ name: 'backbone', x: rep }];
  out.blocks.forEach((b, i) => depths.push({ name: `block${i + 1}`, x: pool(b, net.hasClsToken) }));
  return { rep, depths };
}

/** Each Linear's output (after its norm and activation when they follow) of an MLP head. */
export function headDepths(head: nn.Sequential, x: Tensor, prefix: string): Depth[] {
  const depths: Depth[] = [];
  const kids = [...head.children()];
  let y = x;
  let layer = 0;
  kids.forEach((m, i) => {
    y = (m as unknown as { forward(t: Tensor): Tensor }).forward(y);
    const next = kids[i + 1];
    if (next === undefined || next instanceof nn.Linear) depths.push({ name: `${prefix}${++layer}`, x: y });
  });
  return depths;
}

/** Trainable parameters of several modules. */
export function paramsOf(...modules: nn.Module[]): Tensor[] {
  return modules.flatMap((m) => m.parameters());
}

/** A frozen copy of `online` (same architecture built by `make`), for EMA targets. */
export function targetCopy<M extends nn.Module>(online: M, make: () => M): M {
  const t = make();
  t.loadStateDict(online.stateDict());
  for (const p of t.parameters()) p.requiresGrad_(false);
  return t;
}

/**
 * target <- m target + (1 - m) online, in place under noGrad (lerp_), with the momentum rising
 * linearly from m0 to 1 over the run (I-JEPA's and MSN's schedule).
 */
export function emaUpdate(target: nn.Module, online: nn.Module, step: number, steps: number, m0: number): void {
  const m = m0 + ((1 - m0) * (step + 1)) / steps;
  const tp = target.parameters(), op = online.parameters();
  noGrad(() => tp.forEach((p, i) => p.lerp_(op[i], 1 - m)));
}

/** Prototypes [K, D] rescaled to unit rows in place (SwAV / MSN normalize them every step). */
export function normalizeRows_(w: Tensor): void {
  noGrad(() => w.div_(w.norm(2, 1, true).clampMin(1e-12)));
}

/**
 * The joint-embedding core of the two-view recipes (SimCLR, VICReg, Barlow Twins, SwAV): both
 * views through the backbone and the head in one batch (so BatchNorm sees 2B rows, as a global
 * BN does), split back into (z1, z2); features are the backbone depths then the head's layers.
 *
 * `flags.repNorm: 'batch'` ends the backbone in a BatchNorm without affine parameters (its running
 * statistics in eval mode). A head that starts Linear-BN cannot see a vector added to every
 * backbone output (the BN subtracts it), so nothing in the loss keeps the representation from
 * carrying one: after 300 simclr steps it held ~90% of the features' energy, and cosine kNN reads
 * it as similarity between every pair. The BatchNorm removes it inside the network.
 * `flags.clsToken: false` pools the mean of the tokens instead of a cls token.
 */
export function jointEmbedding(ctx: RecipeContext, head: (dim: number) => nn.Sequential, headName: string) {
  const { clsToken = true, repNorm: norm = 'none' } = ctx.flags as { clsToken?: unknown; repNorm?: unknown };
  if (typeof clsToken !== 'boolean') throw typeError('a boolean', 'train options.flags.clsToken', clsToken);
  if (norm !== 'batch' && norm !== 'none') throw rangeError("'batch' or 'none'", 'train options.flags.repNorm', norm);
  const backbone = stemVit(ctx, { clsToken, stream: 0 });
  const h = head(backbone.dim);
  const repNorm = norm === 'batch' ? new nn.BatchNorm1d(backbone.dim, { affine: false, dtype: ctx.dtype }) : null;
  const out = (images: Tensor) => {
    const r = backboneDepths(backbone, images);
    if (repNorm) r.depths[0] = { name: 'backbone', x: (r.rep = repNorm.forward(r.rep)) };
    return r;
  };
  return {
    backbone,
    head: h,
    embed(a: Tensor, b: Tensor): [Tensor, Tensor] {
      const B = a.shape[0];
      const z = h.forward(out(cat([a, b], 0)).rep);
      return [z.narrow(0, 0, B), z.narrow(0, B, B)];
    },
    features(images: Tensor): Depth[] {
      const { rep, depths } = out(images);
      return [...depths, ...headDepths(h, rep, headName)];
    },
    /** The recipe model's shared fields: modules (backbone, the head under its name, extras), params, two views, features. */
    parts(extra: Record<string, nn.Module> = {}) {
      return {
        modules: { backbone, [headName]: h, ...(repNorm ? { repNorm } : {}), ...extra },
        params: paramsOf(backbone, h, ...Object.values(extra)),
        views: 2,
        features: this.features,
      };
    },
  };
}
