/**
 * Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
 * Reduction"): two views, a 3-layer projector with BN, and the cross-correlation loss that pushes
 * the batch-normalized cross-correlation matrix to the identity, off-diagonal weight
 * lambda = 0.0051. AdamW (the ViT setting) instead of LARS.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { OBJECT_VIEW } from '../../data/augment';
import { jointEmbedding } from '../backbone';
import { globalRows, type Recipe } from '../recipe';
import type { Tensor } from '../../tensor';

export const barlowtwins: Recipe = {
  name: 'barlowtwins',
  paper: 'Zbontar, Jing, Misra, LeCun and Deny 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction (ICML)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, warmup: 0.1 },
  augment: [OBJECT_VIEW, OBJECT_VIEW],
  build(ctx) {
    const j = jointEmbedding({ ...ctx, flags: { repNorm: 'batch', ...ctx.flags } }, (d) => new nn.MLP([d, 4 * d, 4 * d, 4 * d], { projector: 'vicreg', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) }), 'projector');
    return {
      ...j.parts(),
      loss: ([a, b]) => F.barlowTwins(...(globalRows(ctx, j.embed(a, b)) as [Tensor, Tensor]), { lambda: 0.0051 }),
    };
  },
};
