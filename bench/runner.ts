/**
 * Timing: warm-up runs first, then repeats until both a minimum count and a minimum time are
 * reached (capped by a maximum time so one slow workload cannot eat the whole suite), then the
 * median and the 10th/90th percentiles. Rates and the roofline come from the workload's stated
 * FLOP and byte counts and the machine probe (lib/info.ts), so every number has one source.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { BenchMode } from './types';

export interface TimingOptions {
  warmup: number;
  /** Minimum number of timed runs. */
  minRepeats: number;
  /** Minimum total timed seconds. */
  minSeconds: number;
  /** Stop after this many timed seconds once `floorRepeats` runs are in, even below minRepeats. */
  maxSeconds: number;
  floorRepeats: number;
  /** Called before each timed run (progress line). */
  onRepeat?: (i: number, planned: number) => void;
}

export interface TimingStats {
  /** Seconds. */
  median: number;
  p10: number;
  p90: number;
  repeats: number;
  /** All samples (seconds), in run order. */
  samples: number[];
}

export const DEFAULT_TIMING: TimingOptions = { warmup: 1, minRepeats: 5, minSeconds: 0.6, maxSeconds: 4, floorRepeats: 3 };
export const QUICK_TIMING: TimingOptions = { warmup: 1, minRepeats: 3, minSeconds: 0.1, maxSeconds: 0.6, floorRepeats: 1 };

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

/** Percentile by linear interpolation between order statistics (numpy's default). */
export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: number[]): TimingStats {
  const s = [...samples].sort((a, b) => a - b);
  return { median: percentile(s, 0.5), p10: percentile(s, 0.1), p90: percentile(s, 0.9), repeats: s.length, samples };
}

/** Repeat-until rule shared by the in-process runner and (as parameters) the python peer. */
export function keepGoing(n: number, elapsed: number, o: TimingOptions): boolean {
  if (n < o.floorRepeats) return true;
  if (elapsed >= o.maxSeconds) return false;
  return n < o.minRepeats || elapsed < o.minSeconds;
}

/** Estimated repeat count for the progress line (from the first sample). */
function planned(first: number, o: TimingOptions): number {
  const byTime = first > 0 ? Math.ceil(o.minSeconds / first) : o.minRepeats;
  const cap = first > 0 ? Math.max(o.floorRepeats, Math.floor(o.maxSeconds / first)) : Infinity;
  return Math.max(o.floorRepeats, Math.min(Math.max(o.minRepeats, byTime), cap));
}

/** Times a synchronous function. */
export function timeSync(fn: () => void, o: TimingOptions): TimingStats {
  for (let i = 0; i < o.warmup; i++) fn();
  const samples: number[] = [];
  let elapsed = 0;
  while (keepGoing(samples.length, elapsed, o)) {
    o.onRepeat?.(samples.length + 1, samples.length ? planned(samples[0], o) : o.minRepeats);
    const t0 = now();
    fn();
    const dt = now() - t0;
    samples.push(dt);
    elapsed += dt;
  }
  return summarize(samples);
}

/** Times an asynchronous function (e.g. a tfjs backend that must await). */
export async function timeAsync(fn: () => unknown, o: TimingOptions): Promise<TimingStats> {
  for (let i = 0; i < o.warmup; i++) await fn();
  const samples: number[] = [];
  let elapsed = 0;
  while (keepGoing(samples.length, elapsed, o)) {
    o.onRepeat?.(samples.length + 1, samples.length ? planned(samples[0], o) : o.minRepeats);
    const t0 = now();
    await fn();
    const dt = now() - t0;
    samples.push(dt);
    elapsed += dt;
  }
  return summarize(samples);
}

// ---- roofline -------------------------------------------------------------------------------

export interface Roofline {
  /** The time floor in seconds: max(flops / peak, bytes / bandwidth). */
  floor: number;
  bound: 'compute' | 'memory';
  /** floor / measured time, in percent (NaN without a probe). */
  percent: number;
  gflops: number;
  gbs: number;
}

/** peakGflops in GFLOP/s, bandwidthGBs in GB/s (1e9 bytes). */
export function roofline(flops: number, bytes: number, seconds: number, peakGflops: number, bandwidthGBs: number): Roofline {
  const tc = flops / (peakGflops * 1e9);
  const tm = bytes / (bandwidthGBs * 1e9);
  const probed = Number.isFinite(tc) && Number.isFinite(tm);
  const floor = probed ? Math.max(tc, tm) : NaN;
  return {
    floor,
    bound: probed ? (tc >= tm ? 'compute' : 'memory') : flops > 0 ? 'compute' : 'memory',
    percent: probed && seconds > 0 ? (100 * floor) / seconds : NaN,
    gflops: flops / seconds / 1e9,
    gbs: bytes / seconds / 1e9,
  };
}

// ---- memory ---------------------------------------------------------------------------------

let gcFn: (() => void) | undefined | null;
function gc(): void {
  if (gcFn === undefined) {
    try {
      // The documented V8 way to get a gc() without restarting node with --expose-gc.
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  // Twice: array-buffer backing stores of the first collection are only released by the second.
  gcFn?.();
  gcFn?.();
}

function statusKb(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Peak resident-memory growth (bytes) during one call of fn: collect garbage, reset the kernel's
 * high-water mark (Linux: writing 5 to /proc/self/clear_refs), run, read VmHWM. It is a lower
 * bound (memory the allocator already holds is reused without growing RSS) and NaN off Linux.
 */
export function measurePeakExtra(fn: () => void): number {
  let base: number;
  try {
    gc();
    fs.writeFileSync('/proc/self/clear_refs', '5');
    base = statusKb('VmRSS');
  } catch {
    fn();
    return NaN;
  }
  fn();
  return Math.max(0, statusKb('VmHWM') - base);
}

// ---- errors ---------------------------------------------------------------------------------

/** Default tolerance on the max relative error against the float64 reference, per dtype. */
export function defaultTolerance(dtype: string): number {
  return dtype === 'float64' ? 1e-9 : dtype === 'bfloat16' ? 3e-2 : 2e-3;
}

export type { BenchMode };
