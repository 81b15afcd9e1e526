/**
 * VICReg (Bardes, Ponce and LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
 * Self-Supervised Learning"): two views, a 3-layer expander (Linear-BN-ReLU x 2, Linear), and
 * invariance (MSE) + variance (hinge on the std, gamma 1) + covariance (off-diagonal squares)
 * with the paper's coefficients lambda = mu = 25, nu = 1. AdamW (the ViT setting) instead of LARS.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { OBJECT_VIEW } from '../../data/augment';
import { jointEmbedding } from '../backbone';
import { globalRows, type Recipe } from '../recipe';
import type { Tensor } from '../../tensor';

export const vicreg: Recipe = {
  name: 'vicreg',
  paper: 'Bardes, Ponce and LeCun 2022, VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning (ICLR)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, warmup: 0.1 },
  augment: [OBJECT_VIEW, OBJECT_VIEW],
  build(ctx) {
    // The paper's expander is 8192-8192-8192 on a 2048-d ResNet-50 (4x the embedding).
    const j = jointEmbedding({ ...ctx, flags: { repNorm: 'batch', ...ctx.flags } }, (d) => new nn.MLP([d, 4 * d, 4 * d, 4 * d], { projector: 'vicreg', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) }), 'expander');
    return {
      ...j.parts(),
      loss: ([a, b]) => F.vicreg(...(globalRows(ctx, j.embed(a, b)) as [Tensor, Tensor]), { simCoeff: 25, stdCoeff: 25, covCoeff: 1 }).loss,
    };
  },
};
