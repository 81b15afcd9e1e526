/**
 * SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations"): two augmented views, a backbone, an MLP projector (2 layers, BN, ReLU), and
 * the NT-Xent loss over the 2B views. The optimizer follows MoCo v3's ViT setting (AdamW, wd 0.1,
 * warm-up, cosine) rather than SimCLR's LARS, which is tuned for ResNets.
 *
 * Defaults measured for a 300-step run on the 32 px synthetic data (docs/train.md has the table):
 * temperature 0.1 (the best of the paper's Table 5; its CIFAR-10 setting 0.5 was worse here),
 * base LR 4e-3 (peak 2e-3 at batch 128: a 300-step run has no time for a small one; 8e-3 was
 * no better at 300 steps, and its 20-step runs are chaotic enough that float32 and float64 part
 * by ~1e-4 on some seeds), the backbone behind a convolutional stem and ending in an affine-free
 * BatchNorm (the projector's BN hides a vector shared by every backbone output from the loss;
 * backbone.ts), and views that share only the object: the background
 * augmentation, any hue (torchvision hue 0.5) and crops of area [0.9, 1] (the objects fill most
 * of the image, so smaller crops cut the shape out and the pair teaches nothing).
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { OBJECT_VIEW } from '../../data/augment';
import { jointEmbedding } from '../backbone';
import { globalRows, type Recipe } from '../recipe';
import { rangeError } from '../../errors';
import type { Tensor } from '../../tensor';

export const simclr: Recipe = {
  name: 'simclr',
  paper: 'Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations (ICML)',
  optimizer: { kind: 'adamw', lr: 4e-3, weightDecay: 0.1, betas: [0.9, 0.999], warmup: 0.1 },
  augment: [OBJECT_VIEW, OBJECT_VIEW],
  build(ctx) {
    // The projector's depth and hidden width (SimCLR v2 uses 3 layers; both are measured in docs/train.md).
    const { projectorLayers: layers = 2, projectorWidth } = ctx.flags as { projectorLayers?: number; projectorWidth?: number };
    if (!Number.isSafeInteger(layers) || layers < 1) throw rangeError('an integer >= 1', 'train options.flags.projectorLayers', layers);
    if (projectorWidth !== undefined && !(Number.isSafeInteger(projectorWidth) && projectorWidth >= 1)) throw rangeError('a positive integer', 'train options.flags.projectorWidth', projectorWidth);
    const head = (d: number) => {
      const width = projectorWidth ?? 2 * d;
      return new nn.MLP([d, ...Array<number>(layers - 1).fill(width), 128], { projector: 'simclr', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) });
    };
    const j = jointEmbedding({ ...ctx, flags: { stem: 64, repNorm: 'batch', ...ctx.flags } }, head, 'projector');
    const temperature = (ctx.flags.temperature as number) ?? 0.1;
    return {
      ...j.parts(),
      loss: ([a, b]) => F.infoNCE(...(globalRows(ctx, j.embed(a, b)) as [Tensor, Tensor]), { temperature }),
    };
  },
};
