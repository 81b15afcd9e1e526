/**
 * `selfsup train`: the command-line face of `train()` (lib/train/train.ts). Progress on stderr,
 * results on stdout; with --json the last stdout line is one JSON object (a contract for scripts).
 */
import { train, EVAL_KINDS, getRecipe, type EvalKind } from '../train/train';
import { RECIPES } from '../train/registry';
import { UsageError } from './usage-error';
import { launch } from './launch';
import * as os from 'node:os';
import * as path from 'node:path';

export const TRAIN_USAGE = `usage: selfsup train --recipe <name> [--data synthetic[:k=v,...] | --data <folder>]
                     --steps N --batch B --seed S [options]

recipes: ${Object.keys(RECIPES).join(', ')}

options:
  --recipe NAME            the method (docs/train.md has one part per recipe)
  --data SPEC              synthetic (default) with k=v options size, classes, seed, bank, test,
                           heldout (e.g. synthetic:classes=6,size=32), or an image folder with
                           one sub-folder per class (decoded with sharp)
  --steps N                optimizer steps (required)
  --batch B                images per step (required)
  --seed S                 run seed: model init, data, augmentations, masks (default 0)
  --eval LIST              comma list of knn, linear, rankme (default all; "none" for none)
  --eval-every N           also evaluate RankMe and kNN every N steps, for the report's
                           curves (default steps / 4; 0: only at the end)
  --json                   print the result as one JSON object (the last stdout line)
  --out DIR                run directory: log.jsonl, checkpoint.safetensors, result.json,
                           report.html (\`selfsup report DIR\` rewrites it)
  --resume DIR             continue the run saved in DIR (same recipe, batch, seed, steps)
  --checkpoint-every N     checkpoint every N steps (default steps / 4) and at the end
  --lr X                   peak learning rate for a batch of 256 (default: the recipe's)
  --threads N              thread-pool size (fix it for bit-reproducible runs); per process with --nproc
  --nproc N                data-parallel over N processes (selfsup launch / mpirun): each takes
                           batch / N images per step, DDP averages the gradients, the losses see
                           the global batch; rank 0 logs, checkpoints and evaluates
  --prefetch N             steps whose data is made in worker threads ahead of the running
                           one (default 2; 0: on the main thread); the same bits either way
  --stochastic-positions   ijepa: StoP stochastic positions for the masked tokens
  -h, --help               this text
`;

const VALUE_FLAGS = ['--recipe', '--data', '--steps', '--batch', '--seed', '--eval', '--out', '--resume', '--checkpoint-every', '--lr', '--threads', '--nproc', '--prefetch', '--eval-every'];
const BOOL_FLAGS = ['--json', '--stochastic-positions', '--help', '-h'];

export interface TrainArgs {
  recipe?: string;
  data: string;
  steps?: number;
  batch?: number;
  seed: number;
  eval: EvalKind[];
  json: boolean;
  out?: string;
  resume?: string;
  checkpointEvery?: number;
  lr?: number;
  threads?: number;
  nproc?: number;
  prefetch?: number;
  evalEvery?: number;
  stochasticPositions: boolean;
  help: boolean;
}

function intArg(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`Expected an integer >= ${min} for ${flag} but received "${v}"`);
  return n;
}

export function parseTrainArgs(argv: string[]): TrainArgs {
  const a: TrainArgs = { data: 'synthetic', seed: 0, eval: [...EVAL_KINDS], json: false, stochasticPositions: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    if (BOOL_FLAGS.includes(flag)) {
      if (value !== undefined) throw new UsageError(`Expected no value for ${flag} but received "${value}"`);
      if (flag === '--json') a.json = true;
      else if (flag === '--stochastic-positions') a.stochasticPositions = true;
      else a.help = true;
      continue;
    }
    if (!VALUE_FLAGS.includes(flag)) {
      throw new UsageError(`Expected one of ${[...VALUE_FLAGS, ...BOOL_FLAGS].join(', ')} for train option but received "${flag}"`);
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`Expected a value for ${flag} but received ${value === undefined ? 'nothing' : `"${value}"`}`);
    }
    switch (flag) {
      case '--recipe':
        if (!(value in RECIPES)) throw new UsageError(`Expected one of ${Object.keys(RECIPES).join(', ')} for --recipe but received "${value}"`);
        a.recipe = value;
        break;
      case '--data': a.data = value; break;
      case '--steps': a.steps = intArg(flag, value, 1); break;
      case '--batch': a.batch = intArg(flag, value, 2); break;
      case '--seed': a.seed = intArg(flag, value, 0); break;
      case '--out': a.out = value; break;
      case '--resume': a.resume = value; break;
      case '--checkpoint-every': a.checkpointEvery = intArg(flag, value, 1); break;
      case '--threads': a.threads = intArg(flag, value, 1); break;
      case '--nproc': a.nproc = intArg(flag, value, 1); break;
      case '--prefetch': a.prefetch = intArg(flag, value, 0); break;
      case '--eval-every': a.evalEvery = intArg(flag, value, 0); break;
      case '--lr': {
        const x = Number(value);
        if (!(x > 0) || !Number.isFinite(x)) throw new UsageError(`Expected a number > 0 for --lr but received "${value}"`);
        a.lr = x;
        break;
      }
      case '--eval': {
        const list = value === 'none' ? [] : value.split(',');
        for (const e of list) if (!EVAL_KINDS.includes(e as EvalKind)) throw new UsageError(`Expected a comma list of ${EVAL_KINDS.join(', ')} (or none) for --eval but received "${e}"`);
        a.eval = list as EvalKind[];
        break;
      }
    }
  }
  if (!a.help) {
    for (const [flag, v] of [['--recipe', a.recipe], ['--steps', a.steps], ['--batch', a.batch]] as const) {
      if (v === undefined) throw new UsageError(`Expected ${flag} for train but received nothing`);
    }
  }
  return a;
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  return s < 60 ? `${s.toFixed(0)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** Bad input (flags, data, out dir) is reported in one line with exit code 2, never a stack. */
export async function runTrain(argv: string[]): Promise<number> {
  try {
    return await runTrainUnchecked(argv);
  } catch (e) {
    const err = e as Error & { code?: string };
    const usage = err instanceof UsageError || err.name === 'UsageError';
    if (usage || err instanceof TypeError || err instanceof RangeError || err.code === 'ERR_INVALID_ARGUMENT') {
      process.stderr.write(`selfsup train: ${err.message}\n${usage ? '\n' + TRAIN_USAGE : ''}`);
      return 2;
    }
    throw e;
  }
}

async function runTrainUnchecked(argv: string[]): Promise<number> {
  const a = parseTrainArgs(argv);
  if (a.help) {
    process.stdout.write(TRAIN_USAGE);
    return 0;
  }
  if (a.nproc !== undefined && a.nproc > 1) {
    // Re-run this command once per rank under the MPI launcher, without --nproc; the cores are
    // shared out between the ranks unless --threads says otherwise.
    if (a.batch! % a.nproc !== 0) throw new UsageError(`Expected a --batch divisible by --nproc ${a.nproc} but received "${a.batch}"`);
    const rest = argv.filter((x, i) => x !== '--nproc' && !x.startsWith('--nproc=') && argv[i - 1] !== '--nproc');
    if (a.threads === undefined && !process.env.SELFSUP_NUM_THREADS) process.env.SELFSUP_NUM_THREADS = String(Math.max(1, Math.floor(os.cpus().length / a.nproc)));
    return launch({ nproc: a.nproc, command: [path.resolve(__dirname, '..', '..', '..', 'bin', 'selfsup.js'), 'train', ...rest] });
  }
  const recipe = getRecipe(a.recipe);
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  const result = await train({
    recipe: recipe.name, data: a.data, steps: a.steps!, batch: a.batch!, seed: a.seed, eval: a.eval,
    out: a.out, resume: a.resume, checkpointEvery: a.checkpointEvery, lr: a.lr, threads: a.threads,
    prefetch: a.prefetch, evalEvery: a.evalEvery,
    flags: a.stochasticPositions ? { stochasticPositions: true } : {},
    onWarning: (m) => process.stderr.write(`selfsup train: warning: ${m}\n`),
    onStep: (p) => {
      // A bar redrawn in place on a terminal; a line every ~5 s (and the last) in a log file.
      const now = p.elapsed;
      if (!tty && now - lastPrint < 5 && p.step !== p.steps) return;
      lastPrint = now;
      const done = p.step, rate = done / Math.max(now, 1e-9);
      const width = 24, fill = Math.round((width * done) / p.steps);
      const line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] step ${done}/${p.steps}  ${rate.toFixed(2)} step/s  ETA ${fmtSeconds((p.steps - done) / rate)}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}`;
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
    },
  });
  if (result.rank !== 0) return 0; // rank 0 reports for a data-parallel run
  if (tty) process.stderr.write('\n');
  const summary = {
    recipe: result.recipe, steps: result.steps, seconds: +result.seconds.toFixed(2), trainSeconds: +result.trainSeconds.toFixed(2),
    finalLoss: result.finalLoss, knnTop1: result.knnTop1, linearTop1: result.linearTop1, rankme: result.rankme,
    perFactor: result.perFactor, probes: result.probes, threads: result.threads,
    prefetch: result.prefetch, dataWaitSeconds: +result.dataWaitSeconds.toFixed(3), evalSeconds: +result.evalSeconds.toFixed(2), out: result.out,
  };
  if (a.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  }
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
  const lines = [
    `${result.recipe}: ${result.steps} steps in ${result.trainSeconds.toFixed(1)} s (${result.threads} threads), final loss ${result.finalLoss.toFixed(4)}`,
    `kNN top-1 ${pct(result.knnTop1)}   linear top-1 ${pct(result.linearTop1)}   RankMe ${result.rankme === null ? '-' : result.rankme.toFixed(1)}`,
  ];
  if (result.perFactor) lines.push(`per factor (kNN): ${Object.entries(result.perFactor).map(([k, v]) => `${k} ${pct(v)}`).join('  ')}`);
  if (result.probes.length) {
    lines.push('probe per depth:');
    for (const p of result.probes) lines.push(`  ${p.depth.padEnd(12)} dim ${String(p.dim).padStart(4)}  linear ${pct(p.linearTop1).padStart(6)}  kNN ${pct(p.knnTop1).padStart(6)}`);
  }
  if (result.out) lines.push(`run directory: ${result.out} (report.html)`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
