/**
 * What a recipe is: a model (backbone + heads), a loss over augmented views, the optimizer and
 * schedule of its paper, and the features the evaluation probes. One file per recipe in recipes/.
 */
import { Tensor, type FloatDType } from '../tensor';
import type * as nn from '../nn/index';
import type { AugmentOptions } from '../data/augment';
import type { SinkhornCollective } from '../kernels/sinkhorn';

export interface RecipeContext {
  imageSize: number;
  channels: number;
  seed: number;
  dtype: FloatDType;
  steps: number;
  batch: number;
  /** Recipe switches from the CLI (`stochasticPositions` for ijepa). */
  flags: Record<string, unknown>;
  /**
   * Data-parallel runs (several processes): `gather` concatenates every rank's rows (allGather,
   * with its reduce-scatter backward) so batch losses see the global batch; `collective` is the
   * Sinkhorn / MSN all-reduce. Absent in a single process.
   */
  dist?: { gather(z: Tensor): Tensor; collective: SinkhornCollective };
}

/** The embeddings of the global batch (every rank's rows) in a data-parallel run, else unchanged. */
export function globalRows(ctx: RecipeContext, zs: Tensor[]): Tensor[] {
  return ctx.dist ? zs.map((z) => ctx.dist!.gather(z)) : zs;
}

export interface StepContext {
  step: number;
  /** A seed unique to (run seed, step), for masks and noise: resumed runs draw the same ones. */
  seed: number;
}

/** A named feature matrix [B, D] at one depth of the network (for probes and RankMe). */
export interface Depth {
  name: string;
  x: Tensor;
}

export interface RecipeModel {
  /** Every module whose state is checkpointed (online networks and EMA targets). */
  modules: Record<string, nn.Module>;
  /** Trainable parameters (EMA targets excluded). */
  params: Tensor[];
  /** Augmented views of each image the loss consumes (1 for the masked-image recipes). */
  views: number;
  /** The loss of one batch; `views[v]` is [B, C, H, W]. */
  loss(views: Tensor[], ctx: StepContext): Tensor;
  /** After the optimizer step (EMA target updates, under noGrad). */
  afterStep?(ctx: StepContext): void;
  /**
   * Features per depth, deepest backbone output first as 'backbone' (the representation that
   * kNN, the linear probe and RankMe report), then each block and each projector layer.
   */
  features(images: Tensor): Depth[];
}

export interface OptimizerSpec {
  kind: 'adamw' | 'lars';
  /** Base learning rate for a batch of 256 (scaled linearly with the batch, as the papers do). */
  lr: number;
  weightDecay: number;
  betas?: [number, number];
  momentum?: number;
  /** Warm-up as a fraction of the run (the papers' 10 of 100 epochs = 0.1). */
  warmup: number;
  /** Final LR as a fraction of the peak. */
  finalLr?: number;
}

export interface Recipe {
  name: string;
  /** The source paper, for docs and `--help`. */
  paper: string;
  optimizer: OptimizerSpec;
  /** Augmentations per view (one entry per view; null: the raw image). */
  augment: Array<Required<AugmentOptions> | null>;
  build(ctx: RecipeContext): RecipeModel;
}

export type { Tensor };
