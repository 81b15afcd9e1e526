/**
 * `selfsup bench [ops...] [options]`: the microbenchmark CLI. Reads the workload table
 * (bench/workloads/*), times selfsup and the requested peers on the same workloads in the same
 * run, and prints a device header plus one row per op × workload × mode. See docs/bench.md.
 */
import * as fs from 'node:fs';
import { info, probeMachine, setNumThreads, getNumThreads } from '../info';
import { UsageError } from './usage-error';
import { loadWorkloads } from '../../bench/index';
import {
  DEFAULT_TIMING, QUICK_TIMING, defaultTolerance, measurePeakExtra, roofline, timeSync, type TimingOptions, type TimingStats,
} from '../../bench/runner';
import {
  TextTable, fmtTime, headerLines, peerErrorLines, shapeStr, toCSV, toHTML, toJSON,
  type BenchHeader, type BenchReport, type BenchRow, type PeerResult,
} from '../../bench/report';
import { TorchPeer, describeTorch } from '../../bench/peers/torch';
import { TfjsPeer } from '../../bench/peers/tfjs';
import { OrtPeer, describeOrtVariants } from '../../bench/peers/ort';
import type { BenchMode, Workload, WorkloadInstance } from '../../bench/types';

export const BENCH_USAGE = `usage: selfsup bench [ops...] [options]

Runs the default suite (every op on its standard SSL workloads) when no op is named.

options:
  --shape k=v,...        only the workloads with these sizes (or a custom size, for ops that allow it)
  --dtype D              float32 (default) | float64 | bfloat16
  --device D             cpu (default) | cuda
  --threads N            thread count for selfsup and the peers (default: the pool's size)
  --repeat N             minimum timed repeats (default 5, --quick 3)
  --warmup N             untimed warm-up runs (default 1)
  --min-time S           minimum timed seconds per row (default 0.6, --quick 0.1)
  --mode M               fwd | fwd+bwd | both (default both)
  --vs PEERS             comma list of torch | tfjs | ort | unfused | autograd
  --seed N               input seed (default 0)
  --json | --csv         machine-readable output on stdout
  --out FILE.html        also write a self-contained HTML report
  --quick                the quick subset with short timings (~15 s)
  --heavy                also run the heavy workloads (minutes each: InfoNCE N=65,536...)
  --list                 list the workloads and exit
  -h, --help             this text
`;

type Dtype = 'float32' | 'float64' | 'bfloat16';
const PEERS = ['torch', 'tfjs', 'ort', 'unfused', 'autograd'] as const;
type Peer = (typeof PEERS)[number];

export interface BenchOptions {
  ops: string[];
  shape?: Record<string, number>;
  dtype: Dtype;
  device: 'cpu' | 'cuda';
  threads?: number;
  repeat?: number;
  warmup?: number;
  minTime?: number;
  mode: 'fwd' | 'fwd+bwd' | 'both';
  vs: Peer[];
  seed: number;
  format: 'text' | 'json' | 'csv';
  out?: string;
  quick: boolean;
  /** Include the workloads marked `heavy` (minutes each; left out of the default suite). */
  heavy?: boolean;
  list: boolean;
  help: boolean;
}

/**
 * A workload may offer more than types.ts requires (duck-typed, documented in docs/bench.md):
 * `withShape(shape)` builds the same op at a custom size (--shape), `unfused(opts)` runs selfsup's
 * own composition of primitive ops (--vs unfused), `autograd(opts)` the fused op through F and
 * backward() (--vs autograd), `tolerance` overrides the error tolerance.
 */
type ExtWorkload = Workload & {
  withShape?: (shape: Record<string, number>) => Workload;
  tolerance?: number | ((dtype: string) => number);
};

const VALUE_FLAGS = ['--shape', '--dtype', '--device', '--threads', '--repeat', '--warmup', '--min-time', '--mode', '--vs', '--seed', '--out'];
const BOOL_FLAGS = ['--json', '--csv', '--quick', '--heavy', '--list', '--help', '-h'];

function intFlag(flag: string, v: string, min: number, max = 1_000_000): number {
  const n = /^[+]?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`Expected an integer >= ${min}${max < 1_000_000 ? ` and <= ${max}` : ''} for ${flag} but received "${v}"`);
  }
  return n;
}

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new UsageError(`Expected one of ${allowed.join(' | ')} for ${flag} but received "${v}"`);
  return v as T;
}

/** Parses `k=v,k=v` (positive integer sizes). */
export function parseShape(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  const parts = v.split(',');
  for (const p of parts) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(p.trim());
    if (!m || !(Number(m[2]) >= 1) || !Number.isSafeInteger(Number(m[2]))) {
      throw new UsageError(`Expected k=v,... with positive integer sizes (e.g. m=512,n=512,k=512) for --shape but received "${v}"`);
    }
    if (m[1] in out) throw new UsageError(`Expected each size once for --shape but received "${m[1]}" twice in "${v}"`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export function parseBenchArgs(args: string[]): BenchOptions {
  const o: BenchOptions = { ops: [], dtype: 'float32', device: 'cpu', mode: 'both', vs: [], seed: 0, format: 'text', quick: false, list: false, help: false };
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    let val: string | undefined;
    if (a.startsWith('--') && a.includes('=')) {
      val = a.slice(a.indexOf('=') + 1);
      a = a.slice(0, a.indexOf('='));
    }
    if (!a.startsWith('-')) {
      if (!/^[A-Za-z0-9_.+-]+$/.test(a)) throw new UsageError(`Expected an op name for op but received "${a}"`);
      o.ops.push(a);
      continue;
    }
    if (BOOL_FLAGS.includes(a)) {
      if (val !== undefined) throw new UsageError(`Expected no value for ${a} but received "${val}"`);
      if (a === '--json' || a === '--csv') {
        const f = a === '--json' ? 'json' : 'csv';
        if (o.format !== 'text' && o.format !== f) throw new UsageError(`Expected only one of --json | --csv for ${a} but received both`);
        o.format = f;
      } else if (a === '--quick') o.quick = true;
      else if (a === '--heavy') o.heavy = true;
      else if (a === '--list') o.list = true;
      else o.help = true;
      continue;
    }
    if (!VALUE_FLAGS.includes(a)) {
      throw new UsageError(`Expected one of ${[...VALUE_FLAGS, ...BOOL_FLAGS.slice(0, -1)].join(' ')} for option but received "${a}"`);
    }
    if (val === undefined) {
      val = args[i + 1];
      if (val === undefined || (val.startsWith('--') && val.length > 2)) throw new UsageError(`Expected a value for ${a} but received nothing`);
      i++;
    }
    switch (a) {
      case '--shape': o.shape = parseShape(val); break;
      case '--dtype': o.dtype = oneOf(a, val, ['float32', 'float64', 'bfloat16'] as const); break;
      case '--device': o.device = oneOf(a, val, ['cpu', 'cuda'] as const); break;
      case '--threads': o.threads = intFlag(a, val, 1, 1024); break;
      case '--repeat': o.repeat = intFlag(a, val, 1); break;
      case '--warmup': o.warmup = intFlag(a, val, 0); break;
      case '--seed': o.seed = intFlag(a, val, 0, 2 ** 32 - 1); break;
      case '--min-time': {
        const s = Number(val);
        if (!/^\d*\.?\d+$/.test(val) || !(s >= 0) || s > 600) throw new UsageError(`Expected a number of seconds in [0, 600] for --min-time but received "${val}"`);
        o.minTime = s;
        break;
      }
      case '--mode': o.mode = oneOf(a, val, ['fwd', 'fwd+bwd', 'both'] as const); break;
      case '--vs': {
        const list = val.split(',').map((s) => s.trim()).filter(Boolean);
        if (!list.length) throw new UsageError(`Expected a comma list of ${PEERS.join(' | ')} for --vs but received "${val}"`);
        o.vs = [...new Set(list.map((p) => oneOf('--vs', p, PEERS)))];
        break;
      }
      case '--out':
        if (!val) throw new UsageError(`Expected a file name for --out but received ""`);
        o.out = val;
        break;
    }
  }
  return o;
}

/** The workloads the options select (throws UsageError for unknown ops and unmatched shapes). */
export function selectWorkloads(all: Workload[], o: BenchOptions, failedFiles: string[] = []): Workload[] {
  const known = [...new Set(all.map((w) => w.op))];
  for (const op of o.ops) {
    if (!known.includes(op)) {
      const hint = failedFiles.length ? ` (not loaded: ${failedFiles.join(', ')})` : '';
      throw new UsageError(`Expected one of ${known.length ? known.join(' | ') : '(no workloads found)'} for op but received "${op}"${hint}`);
    }
  }
  const ops = o.ops.length ? [...new Set(o.ops)] : known;
  // Heavy workloads (e.g. InfoNCE at N=65,536) run only when asked for with --heavy or --shape.
  let sel = all.filter((w) => ops.includes(w.op) && (!w.heavy || o.heavy || o.shape));
  if (o.shape) {
    const want = o.shape;
    const keysOk = sel.filter((w) => Object.keys(want).every((k) => k in w.shape));
    if (!keysOk.length) {
      const keys = [...new Set(sel.flatMap((w) => Object.keys(w.shape)))];
      throw new UsageError(`Expected sizes among ${keys.join(', ') || '(none)'} for --shape but received "${shapeStr(want)}"`);
    }
    const match = keysOk.filter((w) => Object.entries(want).every(([k, v]) => w.shape[k] === v));
    if (match.length) return match;
    // No stock workload has these sizes: build custom ones where the op allows it.
    const custom: Workload[] = [];
    for (const op of new Set(keysOk.map((w) => w.op))) {
      const base = keysOk.find((w) => w.op === op && typeof (w as ExtWorkload).withShape === 'function') as ExtWorkload | undefined;
      if (base) {
        try {
          custom.push(base.withShape!({ ...base.shape, ...want }));
        } catch (e) {
          throw new UsageError(`Expected sizes valid for ${op} for --shape but received "${shapeStr(want)}" (${(e as Error).message})`);
        }
      }
    }
    if (!custom.length) {
      const avail = keysOk.map((w) => `${w.op} ${shapeStr(w.shape)}`).join('; ');
      throw new UsageError(`Expected the sizes of a workload (${avail}) for --shape but received "${shapeStr(want)}"`);
    }
    return custom;
  }
  if (o.quick) {
    // The quick subset: the workloads marked quick, and for an op with none, its first one,
    // so every op that exists shows up.
    sel = ops.flatMap((op) => {
      const mine = sel.filter((w) => w.op === op);
      const q = mine.filter((w) => w.quick);
      return q.length ? q : mine.slice(0, 1);
    });
  }
  return sel;
}

function timingFor(o: BenchOptions): TimingOptions {
  const base = { ...(o.quick ? QUICK_TIMING : DEFAULT_TIMING) };
  if (o.warmup !== undefined) base.warmup = o.warmup;
  if (o.repeat !== undefined) {
    // An explicit count is honoured exactly as the minimum.
    base.minRepeats = o.repeat;
    base.floorRepeats = o.repeat;
    base.maxSeconds = 1e9; // finite: it travels to the python peer as JSON
  }
  if (o.minTime !== undefined) {
    base.minSeconds = o.minTime;
    base.maxSeconds = Math.max(base.maxSeconds, o.minTime);
  }
  return base;
}

function tolerance(w: Workload, dtype: string): number {
  const t = (w as ExtWorkload).tolerance;
  if (typeof t === 'number') return t;
  if (typeof t === 'function') return t(dtype);
  return defaultTolerance(dtype);
}

class Progress {
  private on = !!process.stderr.isTTY && !process.env.CI;
  private last = 0;
  private shown = false;
  show(text: string, force = false): void {
    if (!this.on) return;
    const t = Date.now();
    if (!force && t - this.last < 80) return;
    this.last = t;
    this.shown = true;
    const cols = process.stderr.columns || 100;
    process.stderr.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
  }
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

function errMsg(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  const l = m.split('\n')[0];
  return l.length > 160 ? l.slice(0, 160) + '…' : l;
}

export async function runBench(args: string[]): Promise<number> {
  const o = parseBenchArgs(args);
  if (o.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const loaded = await loadWorkloads();
  const selected = selectWorkloads(loaded.workloads, o, loaded.failures.map((f) => f.file));
  if (o.list) return listWorkloads(loaded, o);

  const { header, probe } = machineHeader(o, args, loaded.failures);
  const progress = new Progress();
  const peers = await startPeers(o, header, progress);
  printHeader(o, header, peers);

  const { rows, failed } = await runRows(selected, o, probe, progress, peers);
  const report: BenchReport = { header, rows, failures: loaded.failures };
  if (!writeReport(o, report, peers.labels)) return 1;
  if (failed) process.stderr.write('selfsup bench: some rows failed or exceeded their error tolerance (marked FAIL / skipped)\n');
  return failed ? 1 : 0;
}

type Loaded = Awaited<ReturnType<typeof loadWorkloads>>;
interface Peers { torch?: TorchPeer; tfjs: TfjsPeer[]; ort?: OrtPeer; labels: string[] }

/** `--list`: every workload of the named ops (all ops when none); `quick` marks the --quick subset, `heavy` the ones the default suite leaves out. */
function listWorkloads(loaded: Loaded, o: BenchOptions): number {
  const ops = o.ops.length ? o.ops : [...new Set(loaded.workloads.map((w) => w.op))];
  for (const w of loaded.workloads.filter((x) => ops.includes(x.op))) {
    const tag = w.quick ? 'quick ' : w.heavy ? 'heavy ' : '      ';
    process.stdout.write(`${w.op.padEnd(12)} ${w.name.padEnd(22)} ${w.modes.join(',').padEnd(12)} ${tag}${shapeStr(w.shape)}\n`);
  }
  for (const f of loaded.failures) process.stdout.write(`(not loaded) ${f.file}: ${f.error}\n`);
  return 0;
}

/** The machine, the addon and the run's settings (threads applied here), with the notes the run needs. */
function machineHeader(o: BenchOptions, args: string[], failures: Loaded['failures']): { header: BenchHeader; probe: { peakGflops: number; bandwidthGBs: number } } {
  const i = info();
  if (o.device === 'cuda' && !i.cuda.devices.length) {
    throw new UsageError(`Expected a CUDA device for --device but received none (${i.cuda.error ?? 'no device found'})`);
  }
  if (o.threads !== undefined) setNumThreads(o.threads);
  const threads = getNumThreads();
  const probe = probeMachine(threads);
  const notes: string[] = [];
  for (const f of failures) notes.push(`note: bench/workloads/${f.file} not loaded: ${f.error}`);
  if (o.device === 'cuda') {
    notes.push('note: --device cuda times the F.* ops on cuda tensors (autograd included, each run synchronized); workloads without such a run are skipped; no error check column (the parity tests check the values)');
    if (o.dtype === 'bfloat16') notes.push('note: bfloat16 on cuda: the ops with 16-bit CUDA kernels only (attention)');
  } else if (o.dtype === 'bfloat16') notes.push('note: no workload has a bfloat16 path yet; bfloat16 rows are skipped');
  if (i.backend === 'reference') {
    notes.push(
      process.env.SELFSUP_BACKEND === 'reference'
        ? 'note: SELFSUP_BACKEND=reference: timing the pure-TypeScript float64 reference kernels, not the native ones'
        : `WARNING: the native addon did not load (${i.loadError ?? 'unknown reason'}); these are the pure-TypeScript reference kernels, 10-1000x slower. Rebuild with \`npm rebuild selfsup\`.`,
    );
  }
  const header: BenchHeader = {
    version: i.version, node: i.node, date: new Date().toISOString(), command: `selfsup bench ${args.join(' ')}`.trim(),
    backend: i.backend, addon: i.addonPath, cpuModel: i.cpuModel, cores: i.cores, isa: i.isa, threads,
    peakGflops: probe.peakGflops, bandwidthGBs: probe.bandwidthGBs,
    cuda: i.cuda.devices.length
      ? i.cuda.devices.map((d) => `${d.name} (sm_${d.computeCapability.replace('.', '')}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB)`).join(', ')
      : `${i.cuda.built ? 'built' : 'not built'}; ${i.cuda.error ?? 'no CUDA device'}`,
    device: o.device, dtype: o.dtype, notes,
  };
  return { header, probe };
}

/** Peers start before the header prints, so it can name the torch version and BLAS. */
async function startPeers(o: BenchOptions, header: BenchHeader, progress: Progress): Promise<Peers> {
  const peers: Peers = { tfjs: [], labels: [] };
  if (o.vs.includes('torch')) {
    progress.show('starting the torch peer (import torch)…', true);
    const r = await TorchPeer.start(header.threads);
    peers.torch = r.peer;
    if (r.message) header.notes.push(r.message);
    if (peers.torch) {
      header.torch = peers.torch.info;
      const d = describeTorch(peers.torch.info);
      if (d.warning) header.notes.push(d.warning);
    }
  }
  if (o.vs.includes('tfjs')) {
    progress.show('loading tfjs…', true);
    const r = await TfjsPeer.start();
    peers.tfjs = r.peers;
    if (r.message) header.notes.push(r.message);
    if (peers.tfjs.length) header.tfjs = `${peers.tfjs[0].version} (${peers.tfjs.map((p) => p.backend).join(', ')})`;
  }
  if (o.vs.includes('ort')) {
    const r = OrtPeer.start(header.threads);
    peers.ort = r.peer;
    if (r.message) header.notes.push(r.message);
    if (peers.ort) header.ort = `onnxruntime-node ${peers.ort.version}, cpu execution provider, ${peers.ort.threads} intra-op threads, graph optimizations all`;
  }
  progress.clear();
  peers.labels = [
    ...(o.vs.includes('unfused') ? ['unfused'] : []), ...(o.vs.includes('autograd') ? ['autograd'] : []),
    ...(peers.torch ? ['torch'] : []), ...peers.tfjs.map((p) => p.label), ...(peers.ort ? ['ort'] : []),
  ];
  return peers;
}

/** Text output gets the header on stdout; JSON and CSV keep stdout for data and print the notes on stderr. */
function printHeader(o: BenchOptions, header: BenchHeader, peers: Peers): void {
  if (o.format !== 'text') {
    for (const n of header.notes) process.stderr.write(n + '\n');
    return;
  }
  const lines = headerLines(header);
  if (peers.torch) lines.push(describeTorch(peers.torch.info).line);
  if (header.tfjs) lines.push(`tfjs:       ${header.tfjs}`);
  if (header.ort) lines.push(`ort:        ${header.ort}`);
  lines.push(...header.notes);
  process.stdout.write(lines.join('\n') + '\n\n');
}

/** Every selected workload and mode, one row each (printed as it completes in text mode). */
async function runRows(
  selected: Workload[], o: BenchOptions, probe: { peakGflops: number; bandwidthGBs: number }, progress: Progress, peers: Peers,
): Promise<{ rows: BenchRow[]; failed: boolean }> {
  const text = o.format === 'text';
  const timing = timingFor(o);
  const table = new TextTable(peers.labels, Math.max(...selected.map((w) => w.op.length), 2), Math.max(...selected.map((w) => w.name.length), 8));
  if (text) process.stdout.write(table.head() + '\n');
  const rows: BenchRow[] = [];
  let failed = false;
  try {
    for (const w of selected) {
      const modes = o.mode === 'both' ? w.modes : w.modes.filter((m) => m === o.mode);
      if (!modes.length) continue;
      let inst: WorkloadInstance | undefined;
      let setupError: string | undefined;
      if (o.device === 'cuda') {
        // The workload's autograd instance on cuda tensors (bench/autograd-path.ts).
        if (!w.autograd) setupError = 'no CUDA run for this workload';
        else if (o.dtype === 'float64' || (o.dtype === 'bfloat16' && !w.cudaHalf)) setupError = `${o.dtype} has no CUDA kernel for this workload`;
        else {
          try {
            progress.show(`${w.op} ${w.name}: setup on cuda`, true);
            inst = w.autograd({ dtype: o.dtype, seed: o.seed, device: 'cuda' });
          } catch (e) {
            setupError = `setup failed: ${errMsg(e)}`;
            failed = true;
          }
        }
      } else if (o.dtype === 'bfloat16') setupError = 'bfloat16 is not supported by this workload';
      else {
        try {
          progress.show(`${w.op} ${w.name}: setup`, true);
          inst = w.setup({ dtype: o.dtype, seed: o.seed });
        } catch (e) {
          setupError = `setup failed: ${errMsg(e)}`;
          failed = true;
        }
      }
      for (const mode of modes) {
        const row = await benchOne(w, mode, inst, setupError, o, timing, probe, progress, peers);
        if (row.errorOk === false || (row.skipped && row.skipped.includes('failed'))) failed = true;
        rows.push(row);
        if (text) {
          progress.clear();
          process.stdout.write(table.row(row) + '\n');
        }
      }
      inst = undefined;
    }
  } finally {
    progress.clear();
    peers.torch?.close();
  }
  return { rows, failed };
}

/** The table's footer (text), or the JSON / CSV document; then the HTML report for --out. False when --out cannot be written. */
function writeReport(o: BenchOptions, report: BenchReport, peerLabels: string[]): boolean {
  const text = o.format === 'text';
  if (text) {
    const extra = peerErrorLines(report.rows);
    if (extra.length) process.stdout.write('\n' + extra.join('\n') + '\n');
    if (peerLabels.length) process.stdout.write(`\nvs X = X's median / selfsup's median (> 1: selfsup is faster).\n`);
  } else if (o.format === 'json') process.stdout.write(toJSON(report) + '\n');
  else process.stdout.write(toCSV(report, peerLabels));
  if (!o.out) return true;
  try {
    fs.writeFileSync(o.out, toHTML(report, peerLabels));
    if (text) process.stdout.write(`report: ${o.out}\n`);
    return true;
  } catch (e) {
    process.stderr.write(`selfsup bench: could not write --out ${o.out}: ${errMsg(e)}\n`);
    return false;
  }
}

async function benchOne(
  w: Workload, mode: BenchMode, inst: WorkloadInstance | undefined, setupError: string | undefined,
  o: BenchOptions, timing: TimingOptions, probe: { peakGflops: number; bandwidthGBs: number },
  progress: Progress, { torch, tfjs: tfjsPeers, ort }: Peers,
): Promise<BenchRow> {
  const flops = w.flops(mode), bytes = w.bytes(mode);
  const row: BenchRow = { op: w.op, workload: w.name, shape: w.shape, mode, dtype: o.dtype, flops, bytes, peers: [] };
  if (!inst) {
    row.skipped = setupError ?? 'no instance';
    return row;
  }
  const label = `${w.op} ${w.name} ${mode}`;
  let stats: TimingStats;
  try {
    // The first warm-up run doubles as the memory measurement (its allocations are the fresh ones).
    let extra = NaN;
    const t = { ...timing };
    if (w.heavy && o.repeat === undefined) {
      // A minutes-long workload: one warm-up (it also measures memory) and one timed run.
      t.warmup = Math.min(t.warmup, 1);
      t.minRepeats = 1;
      t.floorRepeats = 1;
      t.minSeconds = 0;
    }
    if (t.warmup > 0) {
      progress.show(`${label}: warm-up`, true);
      extra = measurePeakExtra(() => inst.run(mode));
      t.warmup -= 1;
    }
    stats = timeSync(() => inst.run(mode), { ...t, onRepeat: (n, N) => progress.show(`${label}: repeat ${n}/${Math.max(n, N)}`) });
    const stated = inst.extraBytes?.(mode);
    if (stated !== undefined && Number.isFinite(stated)) {
      row.extraBytes = stated;
      row.extraSource = 'stated';
    } else if (Number.isFinite(extra)) {
      row.extraBytes = extra;
      row.extraSource = 'measured';
    }
  } catch (e) {
    row.skipped = `run failed: ${errMsg(e)}`;
    return row;
  }
  Object.assign(row, { median: stats.median, p10: stats.p10, p90: stats.p90, repeats: stats.repeats });
  const rf = roofline(flops, bytes, stats.median, probe.peakGflops, probe.bandwidthGBs);
  Object.assign(row, { gflops: rf.gflops, gbs: rf.gbs, bound: rf.bound, roofPct: rf.percent });
  if (inst.check) {
    progress.show(`${label}: checking against the float64 reference`, true);
    try {
      row.maxRelError = inst.check(mode);
      row.tolerance = tolerance(w, o.dtype);
      row.errorOk = row.maxRelError <= row.tolerance; // NaN fails
    } catch (e) {
      row.maxRelError = NaN;
      row.errorOk = false;
      row.checkError = errMsg(e);
    }
  }
  const peers: PeerResult[] = [];
  const speed = (p: PeerResult): PeerResult => (p.median !== undefined ? { ...p, speedup: p.median / stats.median } : p);
  // selfsup's own other paths: the composition of primitive ops (unfused) and the fused op through
  // the public autograd API (autograd: F.op(...) then .backward(grad), what a user runs).
  for (const own of ['unfused', 'autograd'] as const) {
    if (!o.vs.includes(own)) continue;
    const make = own === 'unfused' ? (w as ExtWorkload).unfused : (w as ExtWorkload).autograd;
    if (!make) {
      peers.push({ label: own, error: own === 'unfused' ? 'no unfused composition defined' : 'no autograd path defined' });
      continue;
    }
    try {
      progress.show(`${label}: ${own}`, true);
      const u = make({ dtype: o.dtype as 'float32' | 'float64', seed: o.seed });
      const s = timeSync(() => u.run(mode), { ...timing, onRepeat: (n, N) => progress.show(`${label}: ${own} repeat ${n}/${Math.max(n, N)}`) });
      peers.push(speed({ label: own, median: s.median, p10: s.p10, p90: s.p90, repeats: s.repeats }));
    } catch (e) {
      peers.push({ label: own, error: errMsg(e) });
    }
  }
  if (torch) {
    if (!w.torch) peers.push({ label: 'torch', error: 'no torch composition defined' });
    else {
      progress.show(`${label}: torch`, true);
      try {
        const s = await torch.run(w, mode, o.dtype, timing, o.device);
        peers.push(speed({ label: 'torch', median: s.median, p10: s.p10, p90: s.p90, repeats: s.repeats }));
      } catch (e) {
        peers.push({ label: 'torch', error: errMsg(e) });
      }
    }
  }
  for (const tp of tfjsPeers) {
    if (!w.tfjs) peers.push({ label: tp.label, error: 'no tfjs composition defined' });
    else {
      progress.show(`${label}: ${tp.label}`, true);
      try {
        const s = await tp.run(w, mode, timing);
        peers.push(speed({ label: tp.label, median: s.median, p10: s.p10, p90: s.p90, repeats: s.repeats }));
      } catch (e) {
        peers.push({ label: tp.label, error: errMsg(e) });
      }
    }
  }
  if (ort) {
    progress.show(`${label}: ort`, true);
    try {
      const r = await ort.run(w, mode, o.dtype, o.seed, tolerance(w, o.dtype), timing);
      // The line under the table: each variant's time and error against selfsup's output, or why it was not timed.
      const detail = describeOrtVariants(r, fmtTime);
      if (!r.best) peers.push({ label: 'ort', error: detail, detail });
      else {
        const s = r.best.stats;
        peers.push(speed({ label: 'ort', median: s.median, p10: s.p10, p90: s.p90, repeats: s.repeats, variant: r.best.name, maxRelError: r.best.maxRelError, detail }));
      }
    } catch (e) {
      peers.push({ label: 'ort', error: errMsg(e) });
    }
  }
  row.peers.push(...peers);
  progress.show(`${label}: ${fmtTime(stats.median)}`);
  return row;
}
