/**
 * Prefetch: the views of the next steps are made while the current step runs. A step's forward
 * and backward block the main thread (the native kernels are synchronous), so overlapping needs
 * other threads: with depth N >= 1, before step t runs, steps t + 1 .. t + N are sent to worker
 * threads that render or sample the batch and augment it (lib/data/prefetch-worker.ts); the main
 * thread then only waits for what is not ready yet. Every batch and view is a pure function of
 * (seed, step) computed by the same code as on the main thread (lib/data/views.ts), so the bits,
 * the order and the resume guarantee do not depend on the depth.
 *
 * A source without a worker spec (a user's DataSource) is prefetched on the main thread: its
 * trainBatch(t + k) is requested early, which overlaps whatever that source does off-thread.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SelfsupError } from '../errors';
import type { DataSource } from './source';
import { redrawMaker, shardOf, stepViews, type Redraw, type ViewPlan } from './views';

let live = 0;

/** Prefetch workers started in this process and not yet exited (the tests check shutdown with it). */
export function livePrefetchWorkers(): number {
  return live;
}

// The compiled worker next to this file; from the TypeScript sources (vitest), the copy in dist/.
function workerFile(): string {
  const here = path.join(__dirname, 'prefetch-worker.js');
  if (fs.existsSync(here)) return here;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'lib', 'data', 'prefetch-worker.js');
  if (fs.existsSync(built)) return built;
  throw new SelfsupError('ERR_UNSUPPORTED', `Expected the compiled prefetch worker ${built} for train options.prefetch but received nothing (run npm run build:ts, or use prefetch 0)`);
}

type Job = { resolve: (views: Float32Array[]) => void; reject: (e: Error) => void };

export class Prefetcher {
  private readonly pending = new Map<number, Promise<Float32Array[]>>();
  private readonly jobs = new Map<number, Job>();
  private readonly workers: Worker[] = [];
  private next: number;
  private closed = false;
  private failure: Error | null = null;
  /** The background augmentation's re-renderer on this thread (the workers make their own). */
  private readonly redraw: Redraw | undefined;

  /**
   * Views of steps [first, end) of `source` (of this process's shard of each batch: `plan`), taken
   * in order; `depth` steps are prepared ahead of the one taken, by `workers` threads (default
   * min(depth, cores - 1), at least 1).
   */
  constructor(private readonly source: DataSource, private readonly plan: ViewPlan,
    readonly depth: number, first: number, private readonly end: number, workers?: number) {
    this.next = first;
    const spec = first < end ? source.batchSpec?.() : undefined;
    this.redraw = redrawMaker(spec);
    if (!spec || depth === 0) return;
    const file = workerFile();
    const n = Math.max(1, Math.min(depth, workers ?? os.availableParallelism() - 1));
    for (let i = 0; i < n; i++) {
      const w = new Worker(file, { workerData: { spec, plan } });
      live++;
      w.on('message', (m: { step: number; views?: Float32Array[]; error?: string }) => {
        const job = this.jobs.get(m.step);
        this.jobs.delete(m.step);
        if (m.views) job?.resolve(m.views);
        else job?.reject(new SelfsupError('ERR_INTERNAL', `Expected the views of step ${m.step + 1} from a prefetch worker but received an error: ${m.error}`));
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        live--;
        if (!this.closed) this.fail(new SelfsupError('ERR_INTERNAL', `Expected a running prefetch worker but received its exit (code ${code})`));
      });
      this.workers.push(w);
    }
  }

  /** The views of `step` (the step after the last one taken); first requests the next `depth`. */
  async take(step: number): Promise<Float32Array[]> {
    if (this.depth === 0) return this.views(await this.source.trainBatch(step, this.plan.batch), step);
    for (const last = Math.min(step + this.depth, this.end - 1); this.next <= last; this.next++) this.request(this.next);
    const views = this.pending.get(step);
    if (!views) throw new SelfsupError('ERR_INTERNAL', `Expected the steps taken in order from prefetch but received step ${step + 1}`);
    this.pending.delete(step);
    return views;
  }

  private request(step: number): void {
    let p: Promise<Float32Array[]>;
    if (this.workers.length) {
      p = new Promise((resolve, reject) => this.jobs.set(step, { resolve, reject }));
      if (this.failure) this.fail(this.failure);
      else this.workers[step % this.workers.length].postMessage(step);
    } else {
      p = this.source.trainBatch(step, this.plan.batch).then((raw) => this.views(raw, step));
    }
    p.catch(() => {}); // take() awaits it; a failure before then is not an unhandled rejection
    this.pending.set(step, p);
  }

  private views(raw: Float32Array, step: number): Float32Array[] {
    return stepViews(shardOf(raw, this.plan), this.plan, step, this.redraw);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const job of this.jobs.values()) job.reject(this.failure);
    this.jobs.clear();
  }

  /** Ends the workers (also after an error: the caller runs it in a finally). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new SelfsupError('ERR_INTERNAL', 'Expected an open prefetcher but received a closed one'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
