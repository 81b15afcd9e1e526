/**
 * Per-step learning-rate schedules: `cosineWithWarmup`, and PyTorch's `stepLR` and `multiStepLR`.
 * Each is a pure function of the step (`valueAt`) applied to every param group by one scheduler
 * object (`schedule` below). `cosineWithWarmup` is the SSL standard (SimCLR, BYOL, VICReg,
 * DINO, I-JEPA): linear warmup from `warmupStartLr` to each group's base lr over `warmupSteps`,
 * then a half cosine from the base lr down to `finalLr` at `totalSteps`, constant afterwards.
 * VICReg's `adjust_learning_rate` is this with warmupStartLr = 0 and finalLr = 0.001 * base.
 *
 * Usage (step after each optimizer step, like PyTorch schedulers):
 *   const sched = cosineWithWarmup(opt, { warmupSteps: 500, totalSteps: 10_000, finalLr: 1e-6 });
 *   for (...) { loss.backward(); opt.step(); opt.zeroGrad(); sched.step(); }
 */
import { SelfsupError, expectedMessage, rangeError, typeError } from '../errors';
import { num, type Optimizer } from './optimizer';

export interface CosineWithWarmupOptions {
  /** Steps of linear warmup (0: start at the base value). */
  warmupSteps: number;
  /** Step at which the cosine reaches finalLr (must be >= warmupSteps). */
  totalSteps: number;
  /** Value at and after totalSteps (default 0). Same for every group. */
  finalLr?: number;
  /** Value at step 0 when warmupSteps > 0 (default 0). Same for every group. */
  warmupStartLr?: number;
  /** Base value per group; default: each group's value when the scheduler is created. */
  baseLr?: number | number[];
  /**
   * Which group option to schedule: 'lr' (default) or 'weightDecay' (DINO and I-JEPA also
   * cosine-schedule weight decay; then finalLr/warmupStartLr are weight-decay values).
   */
  key?: 'lr' | 'weightDecay';
}

export interface LRScheduler {
  /** Number of step() calls so far; the current values are those of this step. */
  readonly lastStep: number;
  /** Advances one step and writes the new value into every param group. */
  step(): void;
  /** The value for group `group` at step `t` (pure; t defaults to the current step). */
  valueAt(t: number, group?: number): number;
  /** Current value of each group. */
  getLastLr(): number[];
  stateDict(): { lastStep: number; baseLrs: number[] };
  loadStateDict(sd: { lastStep: number; baseLrs: number[] }): void;
}

/** The schedule as a pure function of the step (exported for plotting and tests). */
export function cosineWithWarmupValue(t: number, base: number, o: { warmupSteps: number; totalSteps: number; finalLr: number; warmupStartLr: number }): number {
  const { warmupSteps: W, totalSteps: T, finalLr, warmupStartLr } = o;
  if (t < W) return warmupStartLr + ((base - warmupStartLr) * t) / W;
  if (t >= T) return finalLr; // also covers T === W (no cosine phase)
  const q = 0.5 * (1 + Math.cos((Math.PI * (t - W)) / (T - W)));
  return finalLr + (base - finalLr) * q;
}

/** The optimizer's groups as records, or a TypeError naming the scheduler. */
function groupsOf(who: string, optimizer: unknown): Array<Record<string, unknown>> {
  if (optimizer === null || typeof optimizer !== 'object' || !Array.isArray((optimizer as { paramGroups?: unknown }).paramGroups)) {
    throw typeError('an Optimizer', `${who}(optimizer)`, optimizer);
  }
  return (optimizer as { paramGroups: Array<Record<string, unknown>> }).paramGroups;
}

/** Base value per group: `baseLr` (one number or one per group), else each group's current value. */
function baseValues(who: string, optimizer: Optimizer<object>, key: string, baseLr: number | number[] | undefined): number[] {
  const groups = groupsOf(who, optimizer);
  if (baseLr === undefined) {
    return groups.map((g, i) => {
      if (!(key in g)) {
        throw new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage(`an optimizer whose groups have '${key}'`, `${who}(optimizer) paramGroups[${i}]`, `${optimizer.name} without it`));
      }
      return num(`${who} paramGroups[${i}].${key}`, g[key], 0);
    });
  }
  if (typeof baseLr === 'number') return groups.map(() => num(`${who} options.baseLr`, baseLr, 0));
  if (!Array.isArray(baseLr) || baseLr.length !== groups.length) {
    throw typeError(`a number or an array of ${groups.length} numbers (one per group)`, `${who} options.baseLr`, baseLr);
  }
  return baseLr.map((b, i) => num(`${who} options.baseLr[${i}]`, b, 0));
}

/**
 * The scheduler object around a pure schedule `value(t, base)`: writes step 0's value into every
 * group right away (as PyTorch does) and each new step's value on step().
 */
function schedule(who: string, optimizer: Optimizer<object>, key: string, baseLr: number | number[] | undefined, value: (t: number, base: number) => number): LRScheduler {
  const groups = groupsOf(who, optimizer);
  let baseLrs = baseValues(who, optimizer, key, baseLr);
  let lastStep = 0;
  const apply = () => groups.forEach((g, i) => (g[key] = value(lastStep, baseLrs[i])));
  apply();
  return {
    get lastStep() {
      return lastStep;
    },
    step() {
      lastStep += 1;
      apply();
    },
    valueAt(t: number, group = 0) {
      num(`${who}.valueAt(t)`, t, 0);
      if (!Number.isInteger(group) || group < 0 || group >= baseLrs.length) throw rangeError(`a group index in [0, ${baseLrs.length})`, `${who}.valueAt(group)`, group);
      return value(t, baseLrs[group]);
    },
    getLastLr() {
      return groups.map((g) => g[key] as number);
    },
    stateDict() {
      return { lastStep, baseLrs: baseLrs.slice() };
    },
    loadStateDict(sd) {
      if (sd === null || typeof sd !== 'object') throw typeError('a { lastStep, baseLrs } object', `${who}.loadStateDict(stateDict)`, sd);
      const s = num(`${who}.loadStateDict stateDict.lastStep`, sd.lastStep, 0);
      if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== groups.length) {
        throw typeError(`an array of ${groups.length} numbers`, `${who}.loadStateDict stateDict.baseLrs`, sd.baseLrs);
      }
      baseLrs = sd.baseLrs.map((b, i) => num(`${who}.loadStateDict stateDict.baseLrs[${i}]`, b, 0));
      lastStep = s;
      apply();
    },
  };
}

/** The arguments every scheduler checks first: an optimizer and an options object. */
function checkArgs(who: string, optimizer: unknown, options: unknown): void {
  groupsOf(who, optimizer);
  if (options === null || typeof options !== 'object') throw typeError('an options object', `${who}(options)`, options);
}

function checkInt(where: string, v: unknown, min: number): number {
  num(where, v, min);
  if (!Number.isInteger(v)) throw rangeError('an integer', where, v);
  return v as number;
}

/** Creates the scheduler and sets step 0's value on the optimizer right away (as PyTorch does). */
export function cosineWithWarmup<O extends object>(optimizer: Optimizer<O>, options: CosineWithWarmupOptions): LRScheduler {
  const who = 'cosineWithWarmup';
  checkArgs(who, optimizer, options);
  const key = options.key ?? 'lr';
  if (key !== 'lr' && key !== 'weightDecay') throw rangeError("'lr' | 'weightDecay'", `${who} options.key`, key);
  const W = checkInt(`${who} options.warmupSteps`, options.warmupSteps, 0);
  const T = checkInt(`${who} options.totalSteps`, options.totalSteps, 0);
  if (T < W) throw rangeError(`an integer >= warmupSteps (${W})`, `${who} options.totalSteps`, T);
  const finalLr = num(`${who} options.finalLr`, options.finalLr ?? 0, 0);
  const warmupStartLr = num(`${who} options.warmupStartLr`, options.warmupStartLr ?? 0, 0);
  const sched = { warmupSteps: W, totalSteps: T, finalLr, warmupStartLr };
  return schedule(who, optimizer as Optimizer<object>, key, options.baseLr, (t, base) => cosineWithWarmupValue(t, base, sched));
}

export interface StepLROptions {
  /** Steps between decays (a positive integer). */
  stepSize: number;
  /** Multiplicative factor per decay (default 0.1, as PyTorch). */
  gamma?: number;
  /** Base value per group; default: each group's lr when the scheduler is created. */
  baseLr?: number | number[];
}

/** torch.optim.lr_scheduler.StepLR in closed form: lr(t) = base * gamma^floor(t / stepSize). */
export function stepLR<O extends object>(optimizer: Optimizer<O>, options: StepLROptions): LRScheduler {
  const who = 'stepLR';
  checkArgs(who, optimizer, options);
  const stepSize = checkInt(`${who} options.stepSize`, options.stepSize, 1);
  const gamma = num(`${who} options.gamma`, options.gamma ?? 0.1, 0);
  return schedule(who, optimizer as Optimizer<object>, 'lr', options.baseLr, (t, base) => base * gamma ** Math.floor(t / stepSize));
}

export interface MultiStepLROptions {
  /** Steps at which the lr is multiplied by gamma (non-negative integers; a repeated one counts twice, as PyTorch's Counter). */
  milestones: number[];
  /** Multiplicative factor per milestone (default 0.1, as PyTorch). */
  gamma?: number;
  baseLr?: number | number[];
}

/**
 * torch.optim.lr_scheduler.MultiStepLR in closed form: lr(t) = base * gamma^k, k the number of
 * milestones <= t (bisect_right over the sorted milestones, as PyTorch's _get_closed_form_lr).
 */
export function multiStepLR<O extends object>(optimizer: Optimizer<O>, options: MultiStepLROptions): LRScheduler {
  const who = 'multiStepLR';
  checkArgs(who, optimizer, options);
  if (!Array.isArray(options.milestones)) throw typeError('an array of step numbers', `${who} options.milestones`, options.milestones);
  const milestones = options.milestones.map((m, i) => checkInt(`${who} options.milestones[${i}]`, m, 0));
  const gamma = num(`${who} options.gamma`, options.gamma ?? 0.1, 0);
  return schedule(who, optimizer as Optimizer<object>, 'lr', options.baseLr, (t, base) => base * gamma ** milestones.filter((m) => m <= t).length);
}
