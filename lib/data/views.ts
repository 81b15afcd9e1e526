/**
 * A training step's input: the raw batch of step t and its augmented, normalized views, as float
 * arrays. The main thread (prefetch 0) and the prefetch workers (lib/data/prefetch-worker.ts) run
 * these same functions, so a run gives the same bits with or without prefetch. This module must
 * not load the native addon: the workers import it.
 */
import { augment, checkAugment, normalizeImages, Rng, type AugmentOptions } from './augment';
import { SyntheticDataset, type SyntheticOptions } from './synthetic';

const AUG_STREAM = 21, BG_STREAM = 22, SAMPLE_STREAM = 32;

/** How a step's views are made from its raw batch. */
export interface ViewPlan {
  /** Per view: the augmentation (the recipe's merged with the run's overrides), or null for the raw image. */
  augment: Array<Required<AugmentOptions> | null>;
  seed: number;
  channels: number;
  size: number;
  /** Images per step (the global batch), and this process's shard of them (data-parallel ranks). */
  batch: number;
  first: number;
  count: number;
}

export function viewPlan(recipeAugment: Array<Required<AugmentOptions> | null>, over: AugmentOptions, seed: number, channels: number, size: number,
  batch: number, first = 0, count = batch): ViewPlan {
  checkAugment(over);
  return { augment: recipeAugment.map((base) => base && { ...base, ...over }), seed, channels, size, batch, first, count };
}

/** This process's shard [count, C, S, S] of a step's raw batch [batch, C, S, S] (a view, no copy). */
export function shardOf(raw: Float32Array, plan: ViewPlan): Float32Array {
  const per = plan.channels * plan.size * plan.size;
  return plan.first === 0 && plan.count === plan.batch ? raw : raw.subarray(plan.first * per, (plan.first + plan.count) * per);
}

/**
 * Training images [start, start + rand.length) re-rendered with image i's background and lighting
 * redrawn by the generator rand[i] (null: kept as is): the background augmentation.
 */
export type Redraw = (start: number, rand: Array<(() => number) | null>) => Float32Array;

/** The re-renderer of a batch spec: the synthetic data knows its objects; image sets have no masks. */
export function redrawMaker(spec: BatchSpec | undefined): Redraw | undefined {
  if (spec?.kind !== 'synthetic') return undefined;
  const ds = new SyntheticDataset(spec.options);
  return (start, rand) => ds.batchNewBackgrounds('train', start, rand);
}

/**
 * The views of step `step` from the shard `raw` of its batch: view v of the image at index g of
 * the global batch draws from the generator (seed, AUG_STREAM, (step B + g) V + v), a pure function
 * of the run seed, the step and g, so a rank's shard gets the views a single process would. With
 * `redraw` and an augmentation's `background` > 0, the view starts from the image re-rendered on
 * a new background (whether, and which, from (seed, BG_STREAM, the same key)).
 */
export function stepViews(raw: Float32Array, plan: ViewPlan, step: number, redraw?: Redraw): Float32Array[] {
  const { channels: C, size: S, count } = plan;
  const per = C * S * S, V = plan.augment.length, g0 = step * plan.batch + plan.first;
  return plan.augment.map((aug, v) => {
    const out = new Float32Array(count * per);
    let src = raw;
    if (aug && aug.background > 0 && redraw) {
      src = redraw(g0, Array.from({ length: count }, (_, i) => {
        const r = new Rng(plan.seed, BG_STREAM, (g0 + i) * V + v);
        return r.next() < aug.background ? () => r.next() : null;
      }));
    }
    if (aug === null) out.set(raw);
    else for (let i = 0; i < count; i++) {
      const rng = new Rng(plan.seed, AUG_STREAM, (g0 + i) * V + v);
      augment(src.subarray(i * per, (i + 1) * per), S, S, out.subarray(i * per, (i + 1) * per), S, rng, aug);
    }
    return normalizeImages(out);
  });
}

/**
 * What a worker needs to make a source's training batch itself, bit for bit: the synthetic
 * dataset's options, or a decoded image set (in a SharedArrayBuffer, read in place by every worker)
 * that batches are sampled from.
 */
export type BatchSpec =
  | { kind: 'synthetic'; options: SyntheticOptions }
  | { kind: 'sample'; images: Float32Array; n: number; per: number; seed: number };

/** Step `step`'s batch of a sampled image set: B draws with replacement from a per-step generator. */
export function sampleBatch(images: Float32Array, n: number, per: number, seed: number, step: number, batch: number): Float32Array {
  const out = new Float32Array(batch * per);
  const rng = new Rng(seed, SAMPLE_STREAM, step);
  for (let i = 0; i < batch; i++) {
    const j = Math.floor(rng.next() * n);
    out.set(images.subarray(j * per, (j + 1) * per), i * per);
  }
  return out;
}

/** A batch maker for a spec (the synthetic dataset is built once per maker). */
export function batchMaker(spec: BatchSpec): (step: number, batch: number) => Float32Array {
  if (spec.kind === 'sample') return (step, batch) => sampleBatch(spec.images, spec.n, spec.per, spec.seed, step, batch);
  const ds = new SyntheticDataset(spec.options);
  return (step, batch) => ds.batch('train', step * batch, batch).images;
}
