/**
 * SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations"): two augmented views, a backbone, an MLP projector (2 layers, BN, ReLU), and
 * the NT-Xent loss over the 2B views at temperature 0.5 (the paper's CIFAR-10 setting, its
 * Appendix B.9). The optimizer follows MoCo v3's ViT setting (AdamW, wd 0.1, warm-up, cosine)
 * rather than SimCLR's LARS, which is tuned for ResNets; base LR 1e-3 x B/256 for this small ViT.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { SIMCLR_AUGMENT } from '../../data/augment';
import { jointEmbedding } from '../backbone';
import { globalRows, type Recipe } from '../recipe';
import type { Tensor } from '../../tensor';

export const simclr: Recipe = {
  name: 'simclr',
  paper: 'Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations (ICML)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.1, betas: [0.9, 0.999], warmup: 0.1 },
  augment: [SIMCLR_AUGMENT, SIMCLR_AUGMENT],
  build(ctx) {
    const j = jointEmbedding(ctx, (d) => new nn.MLP([d, 2 * d, 128], { projector: 'simclr', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) }), 'projector');
    const temperature = (ctx.flags.temperature as number) ?? 0.5;
    return {
      ...j.parts(),
      loss: ([a, b]) => F.infoNCE(...(globalRows(ctx, j.embed(a, b)) as [Tensor, Tensor]), { temperature }),
    };
  },
};
