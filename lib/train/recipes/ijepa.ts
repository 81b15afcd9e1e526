/**
 * I-JEPA (Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding
 * Predictive Architecture"): no augmentations; multi-block masks (1 context block of scale
 * [0.85, 1], 4 target blocks of scale [0.15, 0.2], aspect [0.75, 1.5], targets removed from the
 * context); a context encoder on the context tokens; a narrow predictor that fills mask tokens at
 * the target positions; targets are the layer-normed tokens of an EMA target encoder (momentum
 * 0.996 -> 1, linear); smooth-L1 loss. AdamW, wd 0.04.
 *
 * `stochasticPositions` (CLI --stochastic-positions) turns on StoP (Bar et al. 2024, "Stochastic
 * positional embeddings improve masked image modeling"): the mask tokens' positions become
 * pos[idx] + A n with n ~ N(0, 0.25^2) and A learned, through the fused F.stochasticPositions.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { masks } from '../../masks';
import { noGrad } from '../../autograd/grad-mode';
import { Tensor } from '../../tensor';
import { backboneDepths, narrowHeads, emaUpdate, paramsOf, targetCopy, vit } from '../backbone';
import type { Recipe } from '../recipe';

/** The I-JEPA predictor: context tokens + mask tokens at the target positions -> target tokens. */
class Predictor extends nn.Module {
  embed: nn.Linear;
  maskToken: Tensor;
  declare pos: Tensor;
  blocks: nn.ModuleList<nn.TransformerBlock>;
  norm: nn.LayerNorm;
  proj: nn.Linear;
  stop: nn.Linear | null;
  constructor(dim: number, pd: number, depth: number, heads: number, grid: [number, number], stop: boolean, dtype: 'float32' | 'float64', seed: number) {
    super();
    this.embed = new nn.Linear(dim, pd, { dtype, seed: deriveSeed(seed, 0) });
    this.maskToken = nn.Parameter(nn.init.truncNormal_(new Tensor(new (dtype === 'float64' ? Float64Array : Float32Array)(pd), [1, 1, pd]), { std: 0.02, seed, stream: 1 }));
    const pe = nn.sincosPosEmbed2d(pd, grid[0], grid[1]);
    this.registerBuffer('pos', new Tensor(dtype === 'float64' ? pe : Float32Array.from(pe), [grid[0] * grid[1], pd]));
    this.blocks = new nn.ModuleList(Array.from({ length: depth }, (_, i) => new nn.TransformerBlock(pd, heads, { dtype, seed: deriveSeed(seed, 2 + i) })));
    this.norm = new nn.LayerNorm(pd, { dtype, eps: 1e-6 });
    this.proj = new nn.Linear(pd, dim, { dtype, seed: deriveSeed(seed, 1) });
    this.stop = stop ? new nn.Linear(pd, pd, { bias: false, dtype, seed: deriveSeed(seed, 100) }) : null;
  }

  private posAt(idx: Tensor): Tensor {
    const [B, K] = idx.shape;
    return F.indexSelect(this.pos, 0, idx.reshape([B * K])).reshape([B, K, this.pos.shape[1]]);
  }

  forward(ctx: Tensor, ctxIdx: Tensor, tgtIdx: Tensor, seed: number): Tensor {
    const [B, Kt] = tgtIdx.shape;
    const c = this.embed.forward(ctx).add(this.posAt(ctxIdx));
    const pos = this.stop ? F.stochasticPositions(this.pos, tgtIdx, { std: 0.25, projection: this.stop, seed }) : this.posAt(tgtIdx);
    const m = this.maskToken.expand([B, Kt, this.pos.shape[1]]).add(pos);
    let x = F.cat([c, m], 1);
    for (const b of this.blocks) x = b.forward(x);
    return this.proj.forward(this.norm.forward(x).narrow(1, ctx.shape[1], Kt));
  }
}

export const ijepa: Recipe = {
  name: 'ijepa',
  paper: 'Assran et al. 2023, Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture (CVPR); StoP: Bar et al. 2024 (ICML)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.04, warmup: 0.1 },
  augment: [null],
  build(ctx) {
    const make = () => vit(ctx, { clsToken: false, stream: 0, patch: Math.max(1, Math.floor(ctx.imageSize / 8)) });
    const encoder = make();
    const target = targetCopy(encoder, make);
    const d = encoder.dim, grid = encoder.patchEmbed.grid;
    const predictor = new Predictor(d, d / 2, 2, narrowHeads(ctx), grid, ctx.flags.stochasticPositions === true, ctx.dtype, deriveSeed(ctx.seed, 3));
    return {
      modules: { encoder, predictor, target },
      params: paramsOf(encoder, predictor),
      views: 1,
      loss([x], { seed }) {
        const B = x.shape[0];
        // minKeep scaled to the grid (10 of 196 patches in the paper).
        const m = masks.multiBlock({ grid, batch: B, seed, minKeep: Math.max(1, Math.round((grid[0] * grid[1]) / 20)) });
        const h = noGrad(() => {
          const t = target.forward(x).tokens;
          return F.layerNorm(t, d);
        });
        // The masks are drawn on the host; their indices go where the images are.
        const context = m.context.to(x.device), targets = m.targets.map((t) => t.to(x.device));
        const z = encoder.forward(x, { keep: context }).tokens;
        const losses = targets.map((t, i) => F.smoothL1(predictor.forward(z, context, t, deriveSeed(seed, i)), F.gatherTokens(h, t)));
        return losses.reduce((a, b) => a.add(b)).div(losses.length);
      },
      afterStep({ step }) {
        emaUpdate(target, encoder, step, ctx.steps, 0.996);
      },
      features(images) {
        return backboneDepths(target, images).depths;
      },
    };
  },
};
