/**
 * Tensor storage allocation. `new Float32Array(n)` zero-fills (a calloc): for outputs that a
 * kernel overwrites entirely, that is a wasted pass over memory, 1-2 ms for a 19 MB activation
 * (measured on a 2-core Zen 4: 2.35 ms zeroed against 0.09 ms uninitialized). Node can hand out
 * uninitialized memory (Buffer.allocUnsafeSlow: its own ArrayBuffer, offset 0, never pooled).
 * Small sizes, and runtimes without Buffer, use the zeroed constructor.
 *
 * Recycling. Every new ArrayBuffer counts as external memory for V8, and V8 starts a major GC
 * each time that grows by ~64 MB: a ViT step that allocates ~600 MB of activations and gradients
 * ran ~10 of them per step. The autograd engine knows when a gradient buffer it allocated during
 * backward is dead (consumed by the next node and returned by none); it hands such buffers to
 * `recycle`, and `uninitialized` gives them out again, still warm in cache (PyTorch's caching
 * allocator does the same for every tensor; JavaScript cannot know when a user-visible tensor
 * dies, so only those engine-private buffers come back here).
 */
type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

const MIN_BYTES = 65536;
/** What the pool may hold at once; beyond it, dead buffers are left to the GC. */
const MAX_POOL_BYTES = 256 * 2 ** 20;
const MAX_PER_SIZE = 16;

let recycling = true;
const pool = new Map<number, ArrayBuffer[]>();
const pooled = new Set<ArrayBuffer>();
let pooledBytes = 0;

/** A fresh array whose initial contents are unspecified: only for outputs written in full. */
export function uninitialized<C extends FloatCtor>(Ctor: C, n: number): InstanceType<C> {
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  if (bytes < MIN_BYTES || typeof Buffer === 'undefined') return new Ctor(n) as InstanceType<C>;
  const reuse = pool.get(bytes)?.pop();
  if (reuse) {
    pooled.delete(reuse);
    pooledBytes -= bytes;
    return new Ctor(reuse, 0, n) as InstanceType<C>;
  }
  const u = Buffer.allocUnsafeSlow(bytes);
  return new Ctor(u.buffer, u.byteOffset, n) as InstanceType<C>;
}

/**
 * Hands a dead array's memory back for `uninitialized` to reuse. The caller promises that nothing
 * reads or writes `a` (or another view of its buffer) afterwards. Only whole, plain ArrayBuffers of
 * pool size are kept; anything else is left to the GC.
 */
export function recycle(a: unknown): void {
  if (!recycling || !ArrayBuffer.isView(a)) return; // device arrays, numbers
  const b = a.buffer;
  const bytes = b.byteLength;
  if (!(b instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== bytes || bytes < MIN_BYTES) return;
  if (pooled.has(b) || pooledBytes + bytes > MAX_POOL_BYTES) return;
  let list = pool.get(bytes);
  if (!list) pool.set(bytes, (list = []));
  if (list.length >= MAX_PER_SIZE) return;
  list.push(b);
  pooled.add(b);
  pooledBytes += bytes;
}

/** The pool's contents (for tests and measurements). */
export function poolStats(): { buffers: number; bytes: number } {
  return { buffers: pooled.size, bytes: pooledBytes };
}

/** Turns recycling off (every buffer is left to the GC, as before the pool) or on; for A/B tests. */
export function setRecycling(on: boolean): void {
  recycling = on;
  if (!on) clearPool();
}

/** Empties the pool (its buffers go to the GC). */
export function clearPool(): void {
  pool.clear();
  pooled.clear();
  pooledBytes = 0;
}
