/**
 * MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners"): 75% of the patches
 * masked at random; the encoder sees the visible 25%; a light decoder (here 2 blocks of half the
 * width) puts mask tokens back in place and predicts the pixels of every patch; the loss is the
 * MSE on the masked patches of per-patch normalized pixels (norm_pix_loss). Augmentation: random
 * resized crop (scale [0.2, 1]) and flip only. AdamW, betas (0.9, 0.95), wd 0.05.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { masks } from '../../masks';
import { noGrad } from '../../autograd/grad-mode';
import { Tensor } from '../../tensor';
import { SIMCLR_AUGMENT } from '../../data/augment';
import { backboneDepths, narrowHeads, paramsOf, vit } from '../backbone';
import type { Recipe } from '../recipe';

const MAE_AUGMENT = { ...SIMCLR_AUGMENT, cropScale: [0.2, 1] as [number, number], jitterProb: 0, grayProb: 0, blurProb: 0, solarizeProb: 0 };

class Decoder extends nn.Module {
  embed: nn.Linear;
  maskToken: Tensor;
  declare pos: Tensor;
  blocks: nn.ModuleList<nn.TransformerBlock>;
  norm: nn.LayerNorm;
  pred: nn.Linear;
  constructor(dim: number, dd: number, depth: number, heads: number, grid: [number, number], patchDim: number, dtype: 'float32' | 'float64', seed: number) {
    super();
    this.embed = new nn.Linear(dim, dd, { dtype, seed: deriveSeed(seed, 0) });
    this.maskToken = nn.Parameter(nn.init.truncNormal_(new Tensor(new (dtype === 'float64' ? Float64Array : Float32Array)(dd), [1, 1, dd]), { std: 0.02, seed, stream: 1 }));
    const pe = nn.sincosPosEmbed2d(dd, grid[0], grid[1]);
    this.registerBuffer('pos', new Tensor(dtype === 'float64' ? pe : Float32Array.from(pe), [1, grid[0] * grid[1], dd]));
    this.blocks = new nn.ModuleList(Array.from({ length: depth }, (_, i) => new nn.TransformerBlock(dd, heads, { dtype, seed: deriveSeed(seed, 2 + i) })));
    this.norm = new nn.LayerNorm(dd, { dtype, eps: 1e-6 });
    this.pred = new nn.Linear(dd, patchDim, { dtype, seed: deriveSeed(seed, 1) });
  }
  forward(visible: Tensor, keep: Tensor): Tensor {
    const N = this.pos.shape[1];
    let x = F.scatterTokens(this.embed.forward(visible), keep, N, { maskToken: this.maskToken }).add(this.pos);
    for (const b of this.blocks) x = b.forward(x);
    return this.pred.forward(this.norm.forward(x));
  }
}

export const mae: Recipe = {
  name: 'mae',
  paper: 'He, Chen, Xie, Li, Dollár and Girshick 2022, Masked Autoencoders Are Scalable Vision Learners (CVPR)',
  optimizer: { kind: 'adamw', lr: 1.5e-4 * 10, weightDecay: 0.05, betas: [0.9, 0.95], warmup: 0.1 },
  augment: [MAE_AUGMENT],
  build(ctx) {
    const encoder = vit(ctx, { clsToken: false, stream: 0, patch: Math.max(1, Math.floor(ctx.imageSize / 8)) });
    const d = encoder.dim, grid = encoder.patchEmbed.grid, N = encoder.numPatches;
    const p = encoder.patchEmbed.patchSize, patchDim = ctx.channels * p * p;
    const decoder = new Decoder(d, d / 2, 2, narrowHeads(ctx), grid, patchDim, ctx.dtype, deriveSeed(ctx.seed, 3));
    return {
      modules: { encoder, decoder },
      params: paramsOf(encoder, decoder),
      views: 1,
      loss([x], { seed }) {
        const B = x.shape[0];
        // The masks are drawn on the host; their indices go where the images are (one upload each).
        const mk = masks.random({ batch: B, tokens: N, ratio: 0.75, seed });
        const keep = mk.keep.to(x.device), masked = mk.masked.to(x.device);
        const target = noGrad(() => {
          const t = encoder.patchEmbed.patchify(x);
          return t.sub(t.mean(-1, true)).div(t.var(-1, { keepdim: true }).add(1e-6).sqrt());
        });
        const pred = decoder.forward(encoder.forward(x, { keep }).tokens, keep);
        return F.mse(F.gatherTokens(pred, masked), F.gatherTokens(target, masked));
      },
      features(images) {
        return backboneDepths(encoder, images).depths;
      },
    };
  },
};
