/**
 * SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster
 * Assignments"): two views, a 2-layer projector to 128-d, L2-normalized prototypes, codes from 3
 * Sinkhorn-Knopp iterations with epsilon 0.05, and the swapped prediction loss at temperature 0.1.
 * Prototypes are renormalized after every step and frozen for the first 5% of the run (the
 * paper's first epoch). K = 10 x the expected classes, scaled down from 3000 for ImageNet's
 * 1000 classes (no queue: the batch is large next to K). Multi-crop is left out.
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { TWO_VIEW_AUGMENT } from '../../data/augment';
import { jointEmbedding, normalizeRows_ } from '../backbone';
import type { Recipe } from '../recipe';

export const swav: Recipe = {
  name: 'swav',
  paper: 'Caron, Misra, Mairal, Goyal, Bojanowski and Joulin 2020, Unsupervised Learning of Visual Features by Contrasting Cluster Assignments (NeurIPS)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, warmup: 0.1 },
  augment: [TWO_VIEW_AUGMENT, TWO_VIEW_AUGMENT],
  build(ctx) {
    const j = jointEmbedding(ctx, (d) => new nn.MLP([d, 2 * d, 128], { projector: 'byol', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) }), 'projector');
    const K = (ctx.flags.prototypes as number) ?? 64;
    const prototypes = new nn.Linear(128, K, { bias: false, dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 2) });
    normalizeRows_(prototypes.weight);
    const freeze = Math.round(0.05 * ctx.steps);
    return {
      ...j.parts({ prototypes }),
      loss([a, b], { step }) {
        // Frozen prototypes early on (SwAV's freeze_prototypes_niters): no gradient reaches them.
        const w = step < freeze ? prototypes.weight.detach() : prototypes.weight;
        const [s1, s2] = j.embed(a, b).map((z) => F.linear(F.normalize(z, { dim: 1 }), w));
        return F.swavLoss(s1, s2, { temperature: 0.1, epsilon: 0.05, iterations: 3, collective: ctx.dist?.collective });
      },
      afterStep({ step }) {
        if (step >= freeze) normalizeRows_(prototypes.weight);
      },
    };
  },
};
