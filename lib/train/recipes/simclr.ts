/**
 * SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations"): two augmented views, a backbone, an MLP projector (2 layers, BN, ReLU), and
 * the NT-Xent loss over the 2B views. Temperature 0.5, the paper's best on CIFAR-10 (its Table
 * B.7 / Fig. B.7). The optimizer follows MoCo v3's ViT recipe (AdamW, lr 1.5e-4 x B/256 ... here
 * 1e-3 x B/256 for the small model, wd 0.1, 10% warm-up, cosine), since LARS is the ResNet setting.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { SIMCLR_AUGMENT } from '../../data/augment';
import { backboneDepths, headDepths, paramsOf, vit } from '../backbone';
import type { Recipe } from '../recipe';

export const simclr: Recipe = {
  name: 'simclr',
  paper: 'Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations (ICML)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.1, betas: [0.9, 0.999], warmup: 0.1 },
  augment: [SIMCLR_AUGMENT, SIMCLR_AUGMENT],
  build(ctx) {
    const backbone = vit(ctx, { clsToken: true, stream: 0 });
    const d = backbone.dim;
    const projector = new nn.MLP([d, 2 * d, 128], { projector: 'simclr', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) });
    const temperature = (ctx.flags.temperature as number) ?? 0.5;
    return {
      modules: { backbone, projector },
      params: paramsOf(backbone, projector),
      views: 2,
      loss([a, b]) {
        const B = a.shape[0];
        const z = projector.forward(backboneDepths(backbone, F.cat([a, b], 0)).rep);
        return F.infoNCE(z.narrow(0, 0, B), z.narrow(0, B, B), { temperature });
      },
      features(images) {
        const { rep, depths } = backboneDepths(backbone, images);
        return [...depths, ...headDepths(projector, rep, 'projector')];
      },
    };
  },
};
