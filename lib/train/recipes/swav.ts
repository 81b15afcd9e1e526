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
import { SIMCLR_AUGMENT } from '../../data/augment';
import { backboneDepths, headDepths, normalizeRows_, paramsOf, vit } from '../backbone';
import type { Recipe } from '../recipe';

export const swav: Recipe = {
  name: 'swav',
  paper: 'Caron, Misra, Mairal, Goyal, Bojanowski and Joulin 2020, Unsupervised Learning of Visual Features by Contrasting Cluster Assignments (NeurIPS)',
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, warmup: 0.1 },
  augment: [SIMCLR_AUGMENT, SIMCLR_AUGMENT],
  build(ctx) {
    const backbone = vit(ctx, { clsToken: true, stream: 0 });
    const d = backbone.dim;
    const projector = new nn.MLP([d, 2 * d, 128], { projector: 'byol', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) });
    const K = (ctx.flags.prototypes as number) ?? 64;
    const prototypes = new nn.Linear(128, K, { bias: false, dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 2) });
    normalizeRows_(prototypes.weight);
    const freeze = Math.round(0.05 * ctx.steps);
    return {
      modules: { backbone, projector, prototypes },
      params: paramsOf(backbone, projector, prototypes),
      views: 2,
      loss([a, b], { step }) {
        const B = a.shape[0];
        const z = F.normalize(projector.forward(backboneDepths(backbone, F.cat([a, b], 0)).rep), { dim: 1 });
        // Frozen prototypes early on (SwAV's freeze_prototypes_niters): no gradient reaches them.
        const w = step < freeze ? prototypes.weight.detach() : prototypes.weight;
        const scores = F.linear(z, w);
        return F.swavLoss(scores.narrow(0, 0, B), scores.narrow(0, B, B), { temperature: 0.1, epsilon: 0.05, iterations: 3 });
      },
      afterStep({ step }) {
        if (step < freeze) return;
        normalizeRows_(prototypes.weight);
      },
      features(images) {
        const { rep, depths } = backboneDepths(backbone, images);
        return [...depths, ...headDepths(projector, rep, 'projector')];
      },
    };
  },
};
