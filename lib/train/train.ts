/**
 * `train()`: one self-supervised run end to end — data, augmented views, the recipe's loss, its
 * optimizer and cosine-with-warm-up schedule, a JSON-lines log, safetensors checkpoints with the
 * optimizer state, `resume`, and the evaluation (kNN, linear probe per depth, RankMe, per-factor
 * accuracy). Everything random is a function of (seed, step), so a resumed run reproduces the
 * uninterrupted one bit for bit at a fixed thread count.
 */
import * as fs from 'node:fs';
import '../tensor-methods'; // the Tensor methods the recipes and probes call (train() may be imported on its own)
import * as path from 'node:path';
import { Tensor, type FloatDType } from '../tensor';
import { noGrad } from '../autograd/grad-mode';
import { tidy } from '../scope';
import { manualSeed } from '../factories';
import { deriveSeed } from '../nn/init';
import { AdamW } from '../optim/adamw';
import { LARS, excludeBiasAndNorm } from '../optim/lars';
import { cosineWithWarmup } from '../optim/scheduler';
import type { Optimizer } from '../optim/optimizer';
import { readSafetensorsFile, writeSafetensorsFile, type RawTensor } from '../nn/safetensors';
import { rawTensor } from '../nn/module';
import { SelfsupError, rangeError, typeError } from '../errors';
import { setNumThreads, getNumThreads } from '../info';
import { normalizeImages, type AugmentOptions } from '../data/augment';
import { FolderSource } from '../data/folder';
import { parseSynthetic, SyntheticSource, type DataSource, type LabelledSet } from '../data/source';
import { viewPlan } from '../data/views';
import { Prefetcher } from '../data/prefetch';
import { knnAccuracy } from '../eval/knn';
import { linearProbeAccuracy } from '../eval/linear';
import { rankMe } from '../eval/rankme';
import { RECIPES } from './registry';
import { writeReport } from './report';
import { Module } from '../nn/module';
import { init as distInit, allGather, collective, DistributedDataParallel } from '../distributed/index';
import type { Depth, Recipe, RecipeModel, StepContext } from './recipe';

export type EvalKind = 'knn' | 'linear' | 'rankme';
export const EVAL_KINDS: readonly EvalKind[] = ['knn', 'linear', 'rankme'];

export interface TrainOptions {
  recipe: string;
  /** 'synthetic[:k=v,...]', a folder path, or a DataSource. Default 'synthetic'. */
  data?: string | DataSource;
  steps: number;
  batch: number;
  seed?: number;
  /** Evaluations at the end (default all three). */
  eval?: EvalKind[];
  /**
   * Also evaluate RankMe and kNN (those of `eval`) every N steps, for the report's curves over
   * training (default steps / 4, rounded down; 0: only at the end).
   */
  evalEvery?: number;
  /** Steps whose data is prepared in worker threads ahead of the running one (default 2; 0: none). */
  prefetch?: number;
  /** Run directory: log.jsonl, checkpoint.safetensors, result.json, report.html. */
  out?: string;
  /** A run directory to continue from (its checkpoint); `out` defaults to it. */
  resume?: string;
  /** Checkpoint every N steps (default: steps / 4, at least 1) and at the end. */
  checkpointEvery?: number;
  /** Stop after this step, as if the run were killed there (tests and staged runs). */
  stopAfter?: number;
  /** Peak LR for a batch of 256 (default: the recipe's). */
  lr?: number;
  threads?: number;
  dtype?: FloatDType;
  /** Recipe switches (stochasticPositions, temperature) and backbone size (patch, dim, depth, heads). */
  flags?: Record<string, unknown>;
  /** Overrides of the recipe's augmentations (every view). */
  augment?: AugmentOptions;
  /** Called after every step (the CLI's progress line); on rank 0 only in a data-parallel run. */
  onStep?: (p: StepInfo) => void;
  /** Warnings (skipped files...). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  elapsed: number;
}

export interface ProbeResult {
  depth: string;
  dim: number;
  linearTop1?: number;
  knnTop1?: number;
}

export interface TrainResult {
  recipe: string;
  steps: number;
  /** Wall seconds of this process's training and evaluation. */
  seconds: number;
  trainSeconds: number;
  finalLoss: number;
  /** Losses of the steps run by this call (index 0 = step `startStep`). */
  losses: number[];
  startStep: number;
  knnTop1: number | null;
  linearTop1: number | null;
  rankme: number | null;
  /** kNN top-1 per factor (synthetic data) on the held-out images. */
  perFactor: Record<string, number> | null;
  /** Linear probe (and kNN) per depth: each block, the backbone output, each projector layer. */
  probes: ProbeResult[];
  threads: number;
  /** The prefetch depth, and the seconds the main thread spent waiting for (or making) the steps' data. */
  prefetch: number;
  dataWaitSeconds: number;
  /** Seconds of evaluation (periodic and final). */
  evalSeconds: number;
  out: string | null;
  /** Data-parallel runs (under `selfsup launch` / `train --nproc`): this process's rank and the rank count. */
  rank: number;
  worldSize: number;
}

const CKPT = 'checkpoint.safetensors';

export function resolveData(data: string | DataSource | undefined, seed: number): DataSource {
  if (data === undefined) return new SyntheticSource(parseSynthetic('synthetic', seed));
  if (typeof data === 'string') {
    if (data === 'synthetic' || data.startsWith('synthetic:')) return new SyntheticSource(parseSynthetic(data, seed));
    return new FolderSource(data, { seed }); // sharp (optional) is loaded on first decode
  }
  if (data === null || typeof data !== 'object' || typeof (data as DataSource).trainBatch !== 'function') {
    throw typeError("'synthetic[:k=v,...]', a folder path or a DataSource", 'train options.data', data);
  }
  return data;
}

function nonNegInt(name: string, v: unknown): number {
  if (typeof v !== 'number') throw typeError('an integer >= 0', name, v);
  if (!Number.isSafeInteger(v) || v < 0) throw rangeError('an integer >= 0', name, v);
  return v;
}

function posInt(name: string, v: unknown): number {
  if (typeof v !== 'number') throw typeError('a positive integer', name, v);
  if (!Number.isSafeInteger(v) || v < 1) throw rangeError('a positive integer', name, v);
  return v;
}

export function getRecipe(name: unknown): Recipe {
  if (typeof name !== 'string' || !(name in RECIPES)) throw rangeError(`one of ${Object.keys(RECIPES).join(', ')}`, 'recipe', name);
  return RECIPES[name];
}

/** Makes sure `dir` exists and is writable, or throws naming it. */
export function ensureWritableDir(dir: string, name: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    const probe = path.join(dir, `.write-test-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected a writable directory for ${name} but received "${dir}" (${(e as Error).message})`);
  }
}

function makeOptimizer(recipe: Recipe, params: Tensor[], lr: number): Optimizer<object> {
  const o = recipe.optimizer;
  if (o.kind === 'lars') {
    return new LARS(params, { lr, weightDecay: o.weightDecay, momentum: o.momentum ?? 0.9, exclude: excludeBiasAndNorm }) as unknown as Optimizer<object>;
  }
  // Biases and norm gains get no weight decay (the common ViT practice: MAE, I-JEPA, MoCo v3).
  const decay = params.filter((p) => p.ndim > 1), noDecay = params.filter((p) => p.ndim <= 1);
  const groups = [{ params: decay }, ...(noDecay.length ? [{ params: noDecay, weightDecay: 0 }] : [])];
  return new AdamW(groups, { lr, weightDecay: o.weightDecay, betas: o.betas ?? [0.9, 0.999] }) as unknown as Optimizer<object>;
}

// ---- checkpoints ------------------------------------------------------------------------------

interface CheckpointMeta {
  format: 'selfsup-train/1';
  recipe: string;
  step: number;
  config: Record<string, unknown>;
  optimizer: { paramGroups: unknown[]; scalars: Record<number, Record<string, number>> };
  scheduler: { lastStep: number; baseLrs: number[] };
}

function saveCheckpoint(file: string, model: RecipeModel, opt: Optimizer<object>, sched: ReturnType<typeof cosineWithWarmup>, step: number, recipe: string, config: Record<string, unknown>): void {
  const tensors = new Map<string, RawTensor>();
  for (const [name, m] of Object.entries(model.modules)) {
    for (const [k, t] of Object.entries(m.stateDict())) tensors.set(`model.${name}.${k}`, rawTensor(t));
  }
  const sd = opt.stateDict();
  const scalars: Record<number, Record<string, number>> = {};
  for (const [i, st] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(st)) {
      if (typeof v === 'number') (scalars[Number(i)] ??= {})[k] = v;
      else tensors.set(`optim.${i}.${k}`, { dtype: v instanceof Float64Array ? 'float64' : 'float32', shape: [v.length], data: v });
    }
  }
  const groups = sd.paramGroups.map((g) => Object.fromEntries(Object.entries(g).filter(([, v]) => typeof v !== 'function')));
  const meta: CheckpointMeta = { format: 'selfsup-train/1', recipe, step, config, optimizer: { paramGroups: groups, scalars }, scheduler: sched.stateDict() };
  writeSafetensorsFile(file, tensors, { selfsup: JSON.stringify(meta) });
}

function readCheckpoint(dir: string): { meta: CheckpointMeta; tensors: Map<string, RawTensor> } {
  const file = path.join(dir, CKPT);
  if (!fs.existsSync(file)) throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected a run directory with ${CKPT} for resume but received "${dir}" (no such file)`);
  const { tensors, metadata } = readSafetensorsFile(file);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.selfsup ?? '');
  } catch {
    throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected a selfsup train checkpoint for resume but received "${file}" (no selfsup metadata)`);
  }
  if (meta.format !== 'selfsup-train/1') throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected checkpoint format selfsup-train/1 for resume but received "${meta.format}"`);
  return { meta, tensors };
}

function loadCheckpoint(ck: { meta: CheckpointMeta; tensors: Map<string, RawTensor> }, model: RecipeModel, opt: Optimizer<object>): void {
  for (const [name, m] of Object.entries(model.modules)) {
    const prefix = `model.${name}.`;
    const sd: Record<string, RawTensor> = {};
    for (const [k, t] of ck.tensors) if (k.startsWith(prefix)) sd[k.slice(prefix.length)] = t;
    m.loadStateDict(sd);
  }
  const state: Record<number, Record<string, number | Float32Array | Float64Array>> = {};
  for (const [i, sc] of Object.entries(ck.meta.optimizer.scalars)) state[Number(i)] = { ...sc };
  for (const [k, t] of ck.tensors) {
    if (!k.startsWith('optim.')) continue;
    const [, i, key] = k.split('.');
    (state[Number(i)] ??= {})[key] = t.data as Float32Array | Float64Array;
  }
  const groups = ck.meta.optimizer.paramGroups.map((g, gi) => ({ ...opt.paramGroups[gi], ...(g as object), params: (g as { params: number[] }).params }));
  opt.loadStateDict({ state, paramGroups: groups as never });
}

// ---- the run ----------------------------------------------------------------------------------

export async function train(options: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  if (options === null || typeof options !== 'object') throw typeError('an options object', 'train(options)', options);
  const recipe = getRecipe(options.recipe);
  const steps = posInt('train options.steps', options.steps);
  const batch = posInt('train options.batch', options.batch);
  if (batch < 2) throw rangeError('a batch of at least 2 (the losses compare samples)', 'train options.batch', batch);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw rangeError('an integer >= 0', 'train options.seed', seed);
  const evals = options.eval ?? [...EVAL_KINDS];
  for (const e of evals) if (!EVAL_KINDS.includes(e)) throw rangeError(`one of ${EVAL_KINDS.join(', ')}`, 'train options.eval', e);
  const dtype = options.dtype ?? 'float32';
  const warn = options.onWarning ?? ((m: string) => process.emitWarning(m));
  if (options.threads !== undefined) setNumThreads(posInt('train options.threads', options.threads));
  const ckEvery = options.checkpointEvery ?? Math.max(1, Math.floor(steps / 4));
  posInt('train options.checkpointEvery', ckEvery);
  const periodic = evals.filter((e) => e !== 'linear');
  const evalEvery = nonNegInt('train options.evalEvery', options.evalEvery ?? (periodic.length ? Math.floor(steps / 4) : 0));
  if (evalEvery > 0 && periodic.length === 0) throw rangeError('knn or rankme in train options.eval (the periodic evaluation runs those)', 'train options.evalEvery', evalEvery);
  const prefetch = nonNegInt('train options.prefetch', options.prefetch ?? 2);
  // Data parallel when started by an MPI launcher: each rank takes its shard of every batch, DDP
  // averages the gradients, and rank 0 alone logs, checkpoints and evaluates.
  const world = distInit();
  const W = world.worldSize, lead = world.rank === 0;
  if (batch % W !== 0) throw rangeError(`a batch divisible by the ${W} processes`, 'train options.batch', batch);
  const out = lead ? options.out ?? options.resume ?? null : null;
  if (out !== null) ensureWritableDir(out, 'out');
  const resumed = options.resume !== undefined ? readCheckpoint(options.resume) : null;
  if (resumed && resumed.meta.recipe !== recipe.name) {
    throw rangeError(`the checkpoint's recipe (${resumed.meta.recipe})`, 'recipe', recipe.name);
  }

  const data = resolveData(options.data, seed);
  await data.prepare?.();
  for (const w of data.warnings) warn(w);
  const lrFlag = options.lr;
  const baseLr = (lrFlag ?? recipe.optimizer.lr) * (batch / 256);
  const flags = options.flags ?? {};
  const dist = W > 1 ? { gather: allGather, collective: collective() } : undefined;
  const model = recipe.build({ imageSize: data.imageSize, channels: data.channels, seed, dtype, steps, batch, flags, dist });
  const opt = makeOptimizer(recipe, model.params, baseLr);
  const config = { recipe: recipe.name, data: typeof options.data === 'string' ? options.data : data.name, steps, batch, seed, lr: baseLr, dtype, flags };
  // Each rank makes the views of its shard of the global batch, keyed by the images' global indices.
  const local = batch / W;
  const plan = viewPlan(recipe.augment, options.augment ?? {}, seed, data.channels, data.imageSize, batch, world.rank * local, local);
  let start = 0;
  if (resumed) {
    const c = resumed.meta.config;
    for (const k of ['batch', 'seed', 'steps', 'dtype'] as const) {
      if (c[k] !== config[k]) throw rangeError(`the checkpoint's ${k} (${String(c[k])})`, k, config[k]);
    }
    loadCheckpoint(resumed, model, opt);
    start = resumed.meta.step;
  }
  const sched = cosineWithWarmup(opt, {
    warmupSteps: Math.round(recipe.optimizer.warmup * steps), totalSteps: steps, finalLr: (recipe.optimizer.finalLr ?? 0) * baseLr,
  });
  if (resumed) sched.loadStateDict(resumed.meta.scheduler);
  const logFile = out ? path.join(out, 'log.jsonl') : null;
  if (logFile) {
    // A resumed run keeps the log up to its checkpoint and rewrites what followed.
    const keep = (e: { type: string; step: number }) => e.type !== 'result' && e.step <= start;
    const kept = resumed && fs.existsSync(logFile)
      ? fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l && keep(JSON.parse(l)))
      : [JSON.stringify({
        type: 'config', step: 0, ...config, threads: getNumThreads(), prefetch, evalEvery, eval: evals,
        paper: recipe.paper, optimizer: recipe.optimizer, augment: plan.augment, classes: data.classes,
      })];
    fs.writeFileSync(logFile, kept.map((l) => l + '\n').join(''));
  }
  const log = (entry: Record<string, unknown>) => logFile && fs.appendFileSync(logFile, JSON.stringify(entry) + '\n');

  const ddp = W > 1 ? new DistributedDataParallel(new Replica(model.modules)) : null;
  const losses: number[] = [];
  const tTrain = performance.now();
  const last = Math.min(steps, options.stopAfter ?? steps);
  const sec = (ms: number) => +(ms / 1000).toFixed(4);
  let dataWait = 0, evalMs = 0;
  Object.values(model.modules).forEach((m) => m.train());
  const prefetcher = new Prefetcher(data, plan, prefetch, start, last);
  try {
    for (let step = start; step < last; step++) {
      const ctx: StepContext = { step, seed: deriveSeed(seed, 1_000_000 + step) };
      const tStep = performance.now();
      const arrays = await prefetcher.take(step);
      const wait = performance.now() - tStep;
      dataWait += wait;
      manualSeed(ctx.seed); // any unseeded op inside the step draws from (seed, step)
      const views = arrays.map((a) => new Tensor(dtype === 'float64' ? Float64Array.from(a) : a, [local, data.channels, data.imageSize, data.imageSize]));
      // The step's activations, saved tensors and gradients are released when backward is done
      // (tidy: their memory goes back to the pool, still in cache for the next step); the loss
      // and the parameters' .grad are kept.
      const loss = tidy(() => {
        const l = model.loss(views, ctx);
        opt.zeroGrad();
        l.backward();
        return l;
      });
      await ddp?.synchronize();
      opt.step();
      model.afterStep?.(ctx);
      const lr = (opt.paramGroups[0] as unknown as { lr: number }).lr;
      sched.step();
      const value = loss.item();
      if (!Number.isFinite(value)) throw new SelfsupError('ERR_NOT_CONVERGED', `Expected a finite loss at step ${step + 1} but received ${value} (lower --lr)`);
      losses.push(value);
      const elapsed = (performance.now() - tTrain - evalMs) / 1000; // training time: periodic evaluations excluded
      log({ type: 'step', step: step + 1, loss: value, lr, seconds: +elapsed.toFixed(3), stepSeconds: sec(performance.now() - tStep), waitSeconds: sec(wait) });
      if (lead) options.onStep?.({ step: step + 1, steps, loss: value, lr, elapsed });
      if (out && ((step + 1) % ckEvery === 0 || step + 1 === last)) {
        saveCheckpoint(path.join(out, CKPT), model, opt, sched, step + 1, recipe.name, config);
      }
      if (lead && evalEvery > 0 && (step + 1) % evalEvery === 0 && step + 1 < steps) {
        // RankMe and kNN during training, for the report; the model goes back to train mode and
        // nothing random is drawn, so the losses are those of a run without it.
        const tEval = performance.now();
        const r = await evaluate(model, data, periodic, seed, dtype, false);
        evalMs += performance.now() - tEval;
        log({ type: 'eval', step: step + 1, knnTop1: r.knnTop1, rankme: r.rankme, seconds: sec(performance.now() - tEval) });
      }
    }
  } finally {
    await prefetcher.close();
  }
  const trainSeconds = (performance.now() - tTrain - evalMs) / 1000;

  const result: TrainResult = {
    recipe: recipe.name, steps: last, seconds: 0, trainSeconds, finalLoss: losses.at(-1) ?? NaN, losses, startStep: start,
    knnTop1: null, linearTop1: null, rankme: null, perFactor: null, probes: [], threads: getNumThreads(),
    prefetch, dataWaitSeconds: dataWait / 1000, evalSeconds: 0, out, rank: world.rank, worldSize: W,
  };
  ddp?.close();
  const tEval = performance.now();
  if (lead && evals.length && last === steps) Object.assign(result, await evaluate(model, data, evals, seed, dtype));
  result.evalSeconds = (evalMs + performance.now() - tEval) / 1000;
  await data.close?.();
  result.seconds = (performance.now() - t0) / 1000;
  const summary: Partial<TrainResult> = { ...result };
  delete summary.losses; // in the step lines already
  log({ type: 'result', step: last, ...summary });
  if (out) {
    fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify(summary, null, 2) + '\n');
    writeReport(out);
  }
  return result;
}

/** The recipe's modules as one Module, for DistributedDataParallel (EMA targets need no grad: not bucketed). */
class Replica extends Module {
  constructor(modules: Record<string, Module>) {
    super();
    Object.assign(this, modules);
  }
  forward(): never {
    throw new SelfsupError('ERR_UNSUPPORTED', 'Expected the recipe loss to run the modules but received a forward() call on the DDP container');
  }
}

/** Features per depth of a labelled set, in chunks, under noGrad with the model in eval mode. */
function featuresOf(model: RecipeModel, set: LabelledSet, C: number, S: number, dtype: FloatDType): Depth[] {
  const per = C * S * S, chunk = 256;
  const parts: Depth[][] = [];
  Object.values(model.modules).forEach((m) => m.eval());
  noGrad(() => {
    for (let i = 0; i < set.n; i += chunk) {
      const n = Math.min(chunk, set.n - i);
      const x = normalizeImages(set.images.slice(i * per, (i + n) * per));
      parts.push(model.features(new Tensor(dtype === 'float64' ? Float64Array.from(x) : x, [n, C, S, S])));
    }
  });
  Object.values(model.modules).forEach((m) => m.train());
  return parts[0].map((d, j) => {
    const D = d.x.shape[1];
    const all = new Float32Array(set.n * D);
    let off = 0;
    for (const p of parts) {
      all.set(p[j].x.data, off);
      off += p[j].x.data.length;
    }
    return { name: d.name, x: new Tensor(all, [set.n, D]) };
  });
}

/** The evaluations of `evals` on the frozen features (perFactor only when `perFactor`). */
export async function evaluate(model: RecipeModel, data: DataSource, evals: EvalKind[], seed: number, dtype: FloatDType = 'float32', perFactor = true) {
  const bank = await data.bank(), test = await data.test();
  const fb = featuresOf(model, bank, data.channels, data.imageSize, dtype);
  const ft = evals.some((e) => e !== 'rankme') ? featuresOf(model, test, data.channels, data.imageSize, dtype) : [];
  const K = data.classes.object;
  const rep = 0; // features() lists the backbone output first
  const r = { knnTop1: null as number | null, linearTop1: null as number | null, rankme: null as number | null, perFactor: null as Record<string, number> | null, probes: [] as ProbeResult[] };
  if (evals.includes('knn')) {
    r.knnTop1 = knnAccuracy(fb[rep].x, bank.labels.object, ft[rep].x, test.labels.object, K);
    if (perFactor && Object.keys(data.classes).length > 1) {
      r.perFactor = {};
      for (const [f, c] of Object.entries(data.classes)) r.perFactor[f] = knnAccuracy(fb[rep].x, bank.labels[f], ft[rep].x, test.labels[f], c);
    }
  }
  if (evals.includes('linear')) {
    r.probes = fb.map((d, j) => ({
      depth: d.name, dim: d.x.shape[1],
      linearTop1: linearProbeAccuracy(d.x, bank.labels.object, ft[j].x, test.labels.object, K, { seed }),
      ...(evals.includes('knn') ? { knnTop1: knnAccuracy(d.x, bank.labels.object, ft[j].x, test.labels.object, K) } : {}),
    }));
    r.linearTop1 = r.probes[rep].linearTop1 ?? null;
  }
  if (evals.includes('rankme')) r.rankme = rankMe(fb[rep].x);
  return r;
}
