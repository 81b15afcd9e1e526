/**
 * MSN (Assran et al. 2022, "Masked Siamese Networks for Label-Efficient Learning") and PMSN
 * (Assran et al. 2023, "The Hidden Uniform Cluster Prior in Self-Supervised Learning").
 *
 * An anchor view with 15% of its patches dropped (the ViT-S/16 setting) goes through the online
 * ViT and a 3-layer projector; the other view, unmasked, goes through an EMA target (momentum
 * 0.996 -> 1, linear). Both are compared by cosine to learnable prototypes at temperature 0.1;
 * the loss is the cross-entropy to the target's sharpened (T+ / T = 0.025 / 0.1 = 0.25),
 * Sinkhorn-balanced assignment plus the mean-entropy-maximization regularizer (weight 1). PMSN
 * replaces the uniform prior of that regularizer (and of the Sinkhorn marginal) by a power law
 * p_k ∝ k^-0.25. K = 64 prototypes here (1024 in the paper, for ImageNet).
 */
import { F } from '../../functional';
import * as nn from '../../nn/index';
import { deriveSeed } from '../../nn/init';
import { masks } from '../../masks';
import { noGrad } from '../../autograd/grad-mode';
import { TWO_VIEW_AUGMENT } from '../../data/augment';
import { backboneDepths, emaUpdate, headDepths, paramsOf, pool, targetCopy, vit } from '../backbone';
import type { Recipe, RecipeContext } from '../recipe';
import type { Tensor } from '../../tensor';

function makeMsn(name: 'msn' | 'pmsn'): Recipe {
  const prior = name === 'pmsn' ? { powerLaw: 0.25 } : ('uniform' as const);
  return {
    name,
    paper: name === 'msn'
      ? 'Assran et al. 2022, Masked Siamese Networks for Label-Efficient Learning (ECCV)'
      : 'Assran et al. 2023, The Hidden Uniform Cluster Prior in Self-Supervised Learning (ICLR)',
    optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.04, warmup: 0.1 },
    augment: [TWO_VIEW_AUGMENT, TWO_VIEW_AUGMENT],
    build(ctx: RecipeContext) {
      const makeBackbone = () => vit(ctx, { clsToken: true, stream: 0 });
      const makeHead = () => new nn.MLP([d, 2 * d, 2 * d, 128], { projector: 'byol', norm: 'batch', activation: 'gelu', dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 1) });
      const backbone = makeBackbone();
      const d = backbone.dim;
      const projector = makeHead();
      const targetBackbone = targetCopy(backbone, makeBackbone);
      const targetProjector = targetCopy(projector, makeHead);
      const K = (ctx.flags.prototypes as number) ?? 64;
      const prototypes = new nn.Linear(128, K, { bias: false, dtype: ctx.dtype, seed: deriveSeed(ctx.seed, 2) });
      const T = 0.1;
      const probs = (z: Tensor) => F.softmax(F.linear(F.normalize(z, { dim: 1 }), F.normalize(prototypes.weight, { dim: 1 })).div(T), -1);
      return {
        modules: { backbone, projector, prototypes, targetBackbone, targetProjector },
        params: paramsOf(backbone, projector, prototypes),
        views: 2,
        loss([anchor, target], { seed }) {
          const B = anchor.shape[0];
          const keep = masks.random({ batch: B, tokens: backbone.numPatches, ratio: 0.15, seed }).keep.to(anchor.device);
          const za = projector.forward(pool(backbone.forward(anchor, { keep }).tokens, true));
          const pt = noGrad(() => probs(targetProjector.forward(pool(targetBackbone.forward(target).tokens, true))));
          return F.msnLoss(probs(za), pt, { temperature: 0.25, meMaxWeight: 1, sinkhorn: true, prior, collective: ctx.dist?.collective });
        },
        afterStep({ step }) {
          emaUpdate(targetBackbone, backbone, step, ctx.steps, 0.996);
          emaUpdate(targetProjector, projector, step, ctx.steps, 0.996);
        },
        features(images) {
          const { rep, depths } = backboneDepths(targetBackbone, images);
          return [...depths, ...headDepths(targetProjector, rep, 'projector')];
        },
      };
    },
  };
}

export const msn = makeMsn('msn');
export const pmsn = makeMsn('pmsn');
