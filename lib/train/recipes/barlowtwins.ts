/**
 * Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
 * Reduction"): two views, a 3-layer projector with BN, and the cross-correlation loss that pushes
 * the batch-normalized cross-correlation matrix to the identity, off-diagonal weight
 * lambda = 0.0051. AdamW (the ViT setting) instead of LARS.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { SIMCLR_AUGMENT } from '../../data/augment';
import { backboneDepths, headDepths, paramsOf, vit } from '../backbone';
import type { Recipe } from '../recipe';

export const barlowtwins: Recipe = {
  name: 'barlowtwins',
  paper: 'Zbontar, Jing, Misra, LeCun and Deny 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction (ICML)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, warmup: 0.1 },
  augment: [SIMCLR_AUGMENT, SIMCLR_AUGMENT],
  build(ctx) {
    const backbone = vit(ctx, { clsToken: true, stream: 0 });
    const d = backbone.dim;
    const projector = new nn.MLP([d, 4 * d, 4 * d, 4 * d], { projector: 'vicreg', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) });
    return {
      modules: { backbone, projector },
      params: paramsOf(backbone, projector),
      views: 2,
      loss([a, b]) {
        const B = a.shape[0];
        const z = projector.forward(backboneDepths(backbone, F.cat([a, b], 0)).rep);
        return F.barlowTwins(z.narrow(0, 0, B), z.narrow(0, B, B), { lambda: 0.0051 });
      },
      features(images) {
        const { rep, depths } = backboneDepths(backbone, images);
        return [...depths, ...headDepths(projector, rep, 'projector')];
      },
    };
  },
};
