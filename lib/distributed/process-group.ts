/**
 * The process group: init / finalize, rank and world size, and the collectives on raw typed
 * arrays (in place, sync and async). The tensor API (collectives.ts) and DDP sit on top.
 *
 * MPI is found at run time (native/ops/distributed: dlopen, one comm thread), so the package
 * loads without it. A process started without an MPI launcher is a world of one: the
 * collectives are then identities and no MPI library is needed (`backend: 'mpi'` forces MPI).
 */
import { native } from '../backends/native';
import type { DistArray, DistOp } from '../backends/native-api';
import { SelfsupError, isDetached, rangeError, selfsupError, typeError } from '../errors';
import { checkOptions } from '../validate';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

export interface InitOptions {
  /**
   * 'auto' (default): MPI when started by mpirun / mpiexec (or `selfsup launch`), else one
   * process. 'nccl': MPI starts the job and NCCL moves the data (CUDA builds; libnccl.so.2 or
   * SELFSUP_NCCL_LIB at run time).
   */
  backend?: 'auto' | 'mpi' | 'nccl' | 'single';
  /** Path of libmpi.so (default: SELFSUP_MPI_LIB, then the Open MPI and MPICH sonames). */
  library?: string;
  /**
   * Seconds a collective may block before the process reports it and exits (a peer died or
   * stopped calling collectives; MPI cannot cancel the call). Default SELFSUP_DIST_TIMEOUT or 600;
   * 0 waits forever.
   */
  timeout?: number;
}

export interface WorldInfo {
  rank: number;
  worldSize: number;
  backend: 'mpi' | 'nccl' | 'single';
  /** 'openmpi' | 'mpich' ('' for a single process). */
  abi: string;
  library: string;
  version: string;
}

let world: WorldInfo | null = null;
let finalized = false;

/** Environment variables by which MPI launchers announce a multi-process job. */
const LAUNCHER_ENV = ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK', 'MPI_LOCALNRANKS'];

/** Joins the process group (idempotent). Registers finalize() on process exit. */
export function init(options: InitOptions = {}): WorldInfo {
  const o = checkOptions<InitOptions>('distributed.init(options)', options, ['backend', 'library', 'timeout']);
  if (world) return world;
  if (finalized) throw new SelfsupError('ERR_DISTRIBUTED', 'Expected distributed.init() before finalize() but received a finalized process group (MPI cannot be initialized twice)');
  const backend = o.backend ?? 'auto';
  if (!['auto', 'mpi', 'nccl', 'single'].includes(backend)) throw typeError("'auto', 'mpi', 'nccl' or 'single'", 'distributed.init(options.backend)', backend);
  if (o.library !== undefined && typeof o.library !== 'string') throw typeError('a string (a path to libmpi)', 'distributed.init(options.library)', o.library);
  const envTimeout = process.env.SELFSUP_DIST_TIMEOUT;
  const timeout = o.timeout ?? (envTimeout !== undefined ? Number(envTimeout) : 600);
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw rangeError('a number of seconds >= 0', o.timeout === undefined ? 'SELFSUP_DIST_TIMEOUT' : 'distributed.init(options.timeout)', o.timeout ?? envTimeout);
  }
  const launched = LAUNCHER_ENV.some((k) => process.env[k] !== undefined);
  if (backend === 'single' || (backend === 'auto' && !launched)) {
    world = { rank: 0, worldSize: 1, backend: 'single', abi: '', library: '', version: '' };
    return world;
  }
  const library = o.library ?? process.env.SELFSUP_MPI_LIB;
  const r = wrap(() => native().distInit({ library, timeout, nccl: backend === 'nccl' }));
  world = { rank: r.rank, worldSize: r.size, backend: r.transport === 'nccl' ? 'nccl' : 'mpi', abi: r.abi, library: r.library, version: r.version };
  // MPI requires MPI_Finalize before a clean exit (Open MPI's mpirun reports a process that
  // exits without it as failed).
  process.once('exit', () => finalize());
  return world;
}

/** Leaves the process group (MPI_Finalize). Pending async collectives finish first. */
export function finalize(): void {
  if (!world) return;
  const w = world;
  world = null;
  finalized = true;
  if (w.backend !== 'single') wrap(() => native().distFinalize());
}

export function isInitialized(): boolean {
  return world !== null;
}

/** This process's rank in [0, worldSize). */
export function rank(): number {
  return requireWorld('rank()').rank;
}

/** The number of processes. */
export function worldSize(): number {
  return requireWorld('worldSize()').worldSize;
}

export function requireWorld(fn: string): WorldInfo {
  if (!world) {
    throw new SelfsupError('ERR_DISTRIBUTED', `Expected an initialized process group for distributed.${fn} but received none (call distributed.init() first${finalized ? '; it was finalized' : ''})`);
  }
  return world;
}

/** Native errors of the collectives become SelfsupError ERR_DISTRIBUTED (argument errors pass). */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw convert(e);
  }
}

function convert(e: unknown): unknown {
  if (e instanceof TypeError || e instanceof RangeError) return e;
  const err = e as { message?: string; code?: string };
  // Missing MPI / NCCL / CUDA and bad arguments keep their codes; MPI failures are ERR_DISTRIBUTED.
  if (err && (err.code === 'ERR_UNSUPPORTED' || err.code === 'ERR_NO_DEVICE' || err.code === 'ERR_INVALID_ARGUMENT')) return new SelfsupError(err.code, err.message ?? '');
  return new SelfsupError('ERR_DISTRIBUTED', err?.message ?? String(e));
}

async function wrapAsync(p: () => Promise<void>): Promise<void> {
  try {
    await p();
  } catch (e) {
    throw convert(e);
  }
}

function nativeOp(op: ReduceOp, fn: string): { op: DistOp; average: boolean } {
  if (op === 'avg') return { op: 'sum', average: true };
  if (op === 'sum' || op === 'max' || op === 'min') return { op, average: false };
  throw typeError("'sum', 'avg', 'max' or 'min'", `${fn}(options.op)`, op);
}

function checkArray(fn: string, name: string, a: unknown): DistArray {
  if (!(a instanceof Float32Array) && !(a instanceof Float64Array) && !(a instanceof Int32Array)) {
    throw typeError('a Float32Array, Float64Array or Int32Array', `${fn}(${name})`, a);
  }
  if (isDetached(a.buffer)) throw selfsupError('ERR_INVALID_ARGUMENT', `a live (not detached) ${a.constructor.name}`, `${fn}(${name})`, 'a detached buffer (released by dispose() or tidy(), or transferred)');
  return a;
}

/** The same checks natively; repeated here so that a world of one refuses what MPI would. */
function checkPair(fn: string, send: unknown, recv: unknown, recvLen: (n: number) => number): void {
  const s = checkArray(fn, 'tensor', send), r = checkArray(fn, 'output', recv);
  if (r.constructor !== s.constructor) throw typeError(`a ${s.constructor.name} (same type as tensor)`, `${fn}(output)`, r);
  if (r.length !== recvLen(s.length)) throw rangeError(`an array of length ${recvLen(s.length)}`, `${fn}(output)`, `length ${r.length}`, true);
  if (r.buffer === s.buffer) throw typeError('an output array that does not share the input buffer', `${fn}(output)`, r);
}

// ---- collectives on typed arrays (in place; `Async` forms return a Promise, rejected on bad input) --
// With one process every collective is the identity (allGather / reduceScatter copy).

/** Reduces `buf` over all ranks in place (op 'avg' = sum / worldSize, floating point only). */
export function allReduceArray(buf: DistArray, op: ReduceOp = 'sum'): void {
  const fn = 'allReduce';
  const w = requireWorld(fn);
  checkArray(fn, 'tensor', buf);
  const o = nativeOp(op, fn);
  if (o.average && buf instanceof Int32Array) throw typeError("a floating-point array for op 'avg'", `${fn}(tensor)`, buf);
  if (w.backend !== 'single') wrap(() => native().distAllReduce(buf, o));
}

export async function allReduceArrayAsync(buf: DistArray, op: ReduceOp = 'sum'): Promise<void> {
  const fn = 'allReduceAsync';
  const w = requireWorld(fn);
  checkArray(fn, 'tensor', buf);
  const o = nativeOp(op, fn);
  if (o.average && buf instanceof Int32Array) throw typeError("a floating-point array for op 'avg'", `${fn}(tensor)`, buf);
  if (w.backend !== 'single') await wrapAsync(() => native().distAllReduceAsync(buf, o));
}

/** recv (worldSize x send.length) = every rank's `send`, in rank order. */
export function allGatherArray(send: DistArray, recv: DistArray): void {
  const w = requireWorld('allGather');
  checkPair('allGather', send, recv, (n) => n * w.worldSize);
  if (w.backend !== 'single') wrap(() => native().distAllGather(send, recv));
  else recv.set(send);
}

export async function allGatherArrayAsync(send: DistArray, recv: DistArray): Promise<void> {
  const w = requireWorld('allGatherAsync');
  checkPair('allGatherAsync', send, recv, (n) => n * w.worldSize);
  if (w.backend !== 'single') await wrapAsync(() => native().distAllGatherAsync(send, recv));
  else recv.set(send);
}

/** recv (send.length / worldSize) = this rank's block of the reduction of `send` over ranks. */
export function reduceScatterArray(send: DistArray, recv: DistArray, op: ReduceOp = 'sum'): void {
  const w = requireWorld('reduceScatter');
  const o = nativeOp(op, 'reduceScatter');
  checkPair('reduceScatter', send, recv, (n) => n / w.worldSize);
  if (w.backend !== 'single') {
    wrap(() => native().distReduceScatter(send, recv, { op: o.op }));
    if (o.average) scale(recv, 1 / w.worldSize);
  } else recv.set(send);
}

export async function reduceScatterArrayAsync(send: DistArray, recv: DistArray, op: ReduceOp = 'sum'): Promise<void> {
  const w = requireWorld('reduceScatterAsync');
  const o = nativeOp(op, 'reduceScatterAsync');
  checkPair('reduceScatterAsync', send, recv, (n) => n / w.worldSize);
  if (w.backend !== 'single') {
    await wrapAsync(() => native().distReduceScatterAsync(send, recv, { op: o.op }));
    if (o.average) scale(recv, 1 / w.worldSize);
  } else recv.set(send);
}

/** Copies rank `root`'s buffer to every rank, in place. */
export function broadcastArray(buf: DistArray, root = 0): void {
  const w = requireWorld('broadcast');
  checkRoot('broadcast', root, w);
  checkArray('broadcast', 'tensor', buf);
  if (w.backend !== 'single') wrap(() => native().distBroadcast(buf, { root }));
}

export async function broadcastArrayAsync(buf: DistArray, root = 0): Promise<void> {
  const w = requireWorld('broadcastAsync');
  checkRoot('broadcastAsync', root, w);
  checkArray('broadcastAsync', 'tensor', buf);
  if (w.backend !== 'single') await wrapAsync(() => native().distBroadcastAsync(buf, { root }));
}

/** Sums `buf` over ranks into rank `root`'s buffer (the others' buffers are left unchanged). */
export function reduceArray(buf: DistArray, root = 0): void {
  const w = requireWorld('reduce');
  checkRoot('reduce', root, w);
  checkArray('reduce', 'tensor', buf);
  if (w.backend !== 'single') wrap(() => native().distReduce(buf, { op: 'sum', root }));
}

/** Waits until every rank has called barrier(). */
export function barrier(): void {
  const w = requireWorld('barrier');
  if (w.backend !== 'single') wrap(() => native().distBarrier());
}

export async function barrierAsync(): Promise<void> {
  const w = requireWorld('barrierAsync');
  if (w.backend !== 'single') await wrapAsync(() => native().distBarrierAsync());
}

function checkRoot(fn: string, root: unknown, w: WorldInfo): void {
  if (typeof root !== 'number' || !Number.isInteger(root)) throw typeError('an integer rank', `${fn}(src)`, root);
  if (root < 0 || root >= w.worldSize) throw rangeError(`a rank in [0, ${w.worldSize - 1}]`, `${fn}(src)`, root);
}

function scale(a: DistArray, s: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= s;
}
