/**
 * DistributedDataParallel (PyTorch DDP, Li et al. 2020, "PyTorch Distributed: Experiences on
 * Accelerating Data Parallel Training"): every rank runs the same module on its shard of the
 * batch; gradients are averaged over ranks so every replica takes the same optimizer step.
 *
 * - Construction broadcasts rank 0's parameters and buffers, so the replicas start equal.
 * - Parameters are grouped into buckets (reverse registration order, the order backward usually
 *   reaches them; at most bucketCapMB per bucket, one dtype per bucket). A gradient-ready hook on
 *   every parameter copies its gradient into its bucket; a full bucket starts an asynchronous
 *   all-reduce (average) on the communication thread while backward keeps running. Buckets are
 *   started in index order on every rank, since MPI requires the same collective order everywhere.
 * - `await ddp.synchronize()` starts what is left (parameters no gradient reached contribute
 *   their current .grad, or zeros), waits for every bucket and writes the averages into .grad.
 * - `ddp.noSync(fn)` runs fn (forward + backward) without communication: gradients accumulate
 *   locally, and the next synchronized backward averages the accumulated sum.
 */
import { registerGradReadyHook } from '../autograd/engine';
import { bumpVersion } from '../autograd/version';
import { SelfsupError, rangeError, typeError } from '../errors';
import { Module } from '../nn/module';
import { Tensor, arrayCtor } from '../tensor';
import { checkOptions } from '../validate';
import { allReduceArrayAsync, broadcastArray, requireWorld } from './process-group';

type FloatData = Float32Array | Float64Array;

interface Bucket {
  params: Tensor[];
  offsets: number[];
  buf: FloatData;
  ready: number;
  launched: Promise<void> | null;
}

export interface DDPOptions {
  /** Bucket size cap in MiB (default 25, PyTorch's). */
  bucketCapMB?: number;
  /** Broadcast rank 0's parameters and buffers at construction (default true). */
  broadcastInitial?: boolean;
}

export class DistributedDataParallel<M extends Module> extends Module {
  readonly module: M;
  private readonly buckets: Bucket[] = [];
  private readonly where = new Map<Tensor, { bucket: number; index: number }>();
  private readonly hooks: Array<{ remove(): void }> = [];
  private readonly seen = new Set<Tensor>();
  private nextLaunch = 0;
  private syncing = true;

  constructor(module: M, options: DDPOptions = {}) {
    super();
    const fn = 'DistributedDataParallel';
    if (!(module instanceof Module)) throw typeError('an nn.Module', `${fn}(module)`, module);
    const o = checkOptions<DDPOptions>(`${fn}(options)`, options, ['bucketCapMB', 'broadcastInitial']);
    const cap = o.bucketCapMB ?? 25;
    if (typeof cap !== 'number' || !(cap > 0) || !Number.isFinite(cap)) throw rangeError('a positive number of MiB', `${fn}(options.bucketCapMB)`, cap);
    requireWorld(fn);
    this.module = module;
    if (o.broadcastInitial ?? true) {
      for (const p of module.parameters()) broadcastTensor(p);
      for (const [, b] of module.namedBuffers()) if (b.dtype !== 'bool') broadcastTensor(b);
    }
    const params = module.parameters().filter((p) => p.requiresGrad).reverse();
    const capBytes = cap * 2 ** 20;
    for (const dtype of ['float32', 'float64'] as const) {
      let group: Tensor[] = [], bytes = 0;
      const flush = (): void => {
        if (group.length) this.addBucket(group);
        group = [];
        bytes = 0;
      };
      for (const p of params) {
        if (p.dtype !== dtype) continue;
        const b = p.numel() * (dtype === 'float64' ? 8 : 4);
        if (bytes > 0 && bytes + b > capBytes) flush();
        group.push(p);
        bytes += b;
      }
      flush();
    }
    for (const p of params) this.hooks.push(registerGradReadyHook(p, (g) => this.onGradReady(p, g)));
  }

  /** Runs the wrapped module (the same call as module.forward). */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    return (this.module.forward as (...a: unknown[]) => ReturnType<M['forward']>)(...args);
  }

  /** Number of gradient buckets (for tests and logs). */
  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Buckets whose all-reduce has started in this pass (after backward(): all of them, started from its hooks). */
  get bucketsLaunched(): number {
    return this.nextLaunch;
  }

  /**
   * Runs `fn` with gradient synchronization off (gradient accumulation): backward() inside
   * accumulates into .grad locally. Returns fn's result (awaited first when it is a Promise).
   */
  noSync<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw typeError('a function', 'noSync(fn)', fn);
    const prev = this.syncing;
    this.syncing = false;
    let r: T;
    try {
      r = fn();
    } catch (e) {
      this.syncing = prev;
      throw e;
    }
    if (r instanceof Promise) return r.finally(() => (this.syncing = prev)) as T;
    this.syncing = prev;
    return r;
  }

  /**
   * Waits for the gradient all-reduces of the last backward() and writes the averaged gradients
   * into each parameter's .grad. Call it after every synchronized backward, before the
   * optimizer step.
   */
  async synchronize(): Promise<void> {
    for (const p of this.where.keys()) if (!this.seen.has(p)) this.fill(p, null);
    this.launchReady();
    try {
      await Promise.all(this.buckets.map((b) => b.launched));
    } finally {
      this.resetPass();
    }
    for (const b of this.buckets) {
      b.params.forEach((p, i) => {
        const slice = b.buf.subarray(b.offsets[i], b.offsets[i] + p.numel());
        if (p.grad && p.grad.dtype === p.dtype && p.grad.numel() === p.numel()) {
          p.grad.data.set(slice);
          bumpVersion(p.grad.data);
        } else p.grad = new Tensor(slice.slice(), p.shape);
      });
    }
  }

  /** Removes the hooks (the module keeps working without DDP). */
  close(): void {
    for (const h of this.hooks) h.remove();
    this.hooks.length = 0;
  }

  private addBucket(params: Tensor[]): void {
    const offsets: number[] = [];
    let n = 0;
    for (const p of params) {
      this.where.set(p, { bucket: this.buckets.length, index: offsets.length });
      offsets.push(n);
      n += p.numel();
    }
    const buf = new (arrayCtor(params[0].dtype) as Float32ArrayConstructor)(n) as FloatData;
    this.buckets.push({ params, offsets, buf, ready: 0, launched: null });
  }

  private onGradReady(p: Tensor, g: Tensor | null): void {
    if (!this.syncing) return;
    if (this.seen.has(p)) {
      throw new SelfsupError('ERR_DISTRIBUTED', 'Expected await ddp.synchronize() between two synchronized backward() calls ' +
        'but received a second backward reaching the same parameter (use ddp.noSync() to accumulate gradients)');
    }
    this.fill(p, g);
    this.launchReady();
  }

  /** The parameter's slice of its bucket = its gradient after this pass: .grad (accumulated) + g. */
  private fill(p: Tensor, g: Tensor | null): void {
    const { bucket, index } = this.where.get(p)!;
    const b = this.buckets[bucket];
    const slice = b.buf.subarray(b.offsets[index], b.offsets[index] + p.numel());
    const acc = p.grad && p.grad.numel() === p.numel() ? p.grad.data : null;
    if (acc) slice.set(acc);
    else slice.fill(0);
    if (g) {
      const d = g.data;
      for (let i = 0; i < slice.length; i++) slice[i] += d[i];
    }
    this.seen.add(p);
    b.ready++;
  }

  private launchReady(): void {
    while (this.nextLaunch < this.buckets.length) {
      const b = this.buckets[this.nextLaunch];
      if (b.ready < b.params.length) return;
      b.launched = allReduceArrayAsync(b.buf, 'avg');
      b.launched.catch(() => {}); // reported by synchronize(), not as an unhandled rejection before it
      this.nextLaunch++;
    }
  }

  private resetPass(): void {
    this.seen.clear();
    this.nextLaunch = 0;
    for (const b of this.buckets) {
      b.ready = 0;
      b.launched = null;
    }
  }
}

function broadcastTensor(t: Tensor): void {
  broadcastArray(t.data as FloatData, 0);
  bumpVersion(t.data);
}
