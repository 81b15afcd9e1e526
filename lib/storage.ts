/**
 * Tensor storage allocation. `new Float32Array(n)` zero-fills (a calloc): for outputs that a
 * kernel overwrites entirely, that is a wasted pass over memory, 1-2 ms for a 19 MB activation
 * (measured on a 2-core Zen 4: 2.35 ms zeroed against 0.09 ms uninitialized). Node can hand out
 * uninitialized memory (Buffer.allocUnsafeSlow: its own ArrayBuffer, offset 0, never pooled).
 * Small sizes, and runtimes without Buffer, use the zeroed constructor.
 *
 * Recycling. Every new ArrayBuffer counts as external memory for V8, and V8 starts a major GC
 * each time that grows by ~64 MB: a ViT step that allocates ~600 MB of activations and gradients
 * ran ~10 of them per step. Buffers come back to the pool two ways, and `uninitialized` gives
 * them out again, still warm in cache (PyTorch's caching allocator does the same for every
 * tensor, but JavaScript cannot know when a user-visible tensor dies):
 *  - the autograd engine knows when a gradient buffer it allocated during backward is dead
 *    (consumed by the next node and returned by none) and hands it to `recycle`;
 *  - the user says a tensor is dead: `dispose()` or the end of a `tidy()` scope (lib/scope.ts)
 *    calls `release`, which detaches the buffer first so that no stale view can see the reuse.
 */
type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

const MIN_POOL_BYTES = 65536;
/** Arrays below this many bytes are plain zeroed ones, never pooled nor released. */
let MIN_BYTES = MIN_POOL_BYTES;
/** What the pool may hold at once; beyond it, dead buffers are left to the GC. */
const MAX_POOL_BYTES = 512 * 2 ** 20;
const MAX_PER_SIZE = 64;

let recycling = true;
const pool = new Map<number, ArrayBuffer[]>();
const pooled = new Set<ArrayBuffer>();
let pooledBytes = 0;

/**
 * Scopes (`tidy`, lib/scope.ts). Each open scope records the buffers `uninitialized` hands out
 * while it is innermost (`born`) and which of them a Tensor was built on (`wrapped`, from the
 * Tensor constructor): at its end those are released unless they are returned or kept. Buffers
 * born before the scope (parameters, the caller's tensors) are never touched, even when a view of
 * them is made inside.
 */
interface Scope { born: Set<ArrayBuffer>; wrapped: Set<ArrayBuffer> }
const scopes: Scope[] = [];
/** Buffers `keep()` exempted from every scope. */
const kept = new WeakSet<ArrayBuffer>();
/** Buffers just handed out again by the pool, still in cache until their first write (`takeWarm`). */
const warm = new WeakSet<ArrayBuffer>();
/** Buffers `uninitialized` allocated: the only ones `release` may detach. */
const owned = new WeakSet<ArrayBuffer>();

/** A fresh array whose initial contents are unspecified: only for outputs written in full. */
export function uninitialized<C extends FloatCtor>(Ctor: C, n: number): InstanceType<C> {
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  if (bytes < MIN_BYTES || typeof Buffer === 'undefined') return new Ctor(n) as InstanceType<C>;
  let buf = pool.get(bytes)?.pop();
  if (buf) {
    pooled.delete(buf);
    pooledBytes -= bytes;
    warm.add(buf);
  } else {
    buf = Buffer.allocUnsafeSlow(bytes).buffer; // its own ArrayBuffer, offset 0
    owned.add(buf);
  }
  if (scopes.length > 0) {
    // A new life for the buffer: whatever tensor wrapped it before it was pooled is gone.
    for (const sc of scopes) sc.wrapped.delete(buf);
    scopes[scopes.length - 1].born.add(buf);
  }
  return new Ctor(buf, 0, n) as InstanceType<C>;
}

/**
 * Whether `a` is an output the pool just handed back (so still in cache: the native core then
 * writes it with normal stores rather than streaming stores); true once per hand-out.
 */
export function takeWarm(a: ArrayBufferView): boolean {
  return a.byteLength >= MIN_BYTES && warm.delete(a.buffer as ArrayBuffer);
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

/**
 * Detaches `buf` (every typed array on it, in every tensor and view, then reads as length 0, so
 * a later use is a clear error instead of a read of reused memory) and pools its memory, which a
 * transfer moves to a new ArrayBuffer without a copy. Only whole buffers `uninitialized` made are
 * released; false for anything else (left to the GC).
 */
export function release(buf: ArrayBuffer): boolean {
  if (!owned.has(buf) || pooled.has(buf) || buf.byteLength === 0) return false;
  let moved: ArrayBuffer;
  try {
    moved = structuredClone(buf, { transfer: [buf] });
  } catch {
    return false; // a runtime that cannot transfer it: left to the GC, still attached
  }
  owned.add(moved);
  recycle(new Uint8Array(moved));
  return true;
}

/**
 * Called by the Tensor constructor inside a scope: a tensor now lives on `a`'s buffer. Small
 * arrays are skipped before `.buffer` is read (that read makes V8 materialize an ArrayBuffer for
 * a small typed array, ~0.4 us).
 */
export function noteTensor(a: ArrayBufferView): void {
  if (a.byteLength < MIN_BYTES) return;
  const s = scopes[scopes.length - 1];
  if (s.born.has(a.buffer as ArrayBuffer)) s.wrapped.add(a.buffer as ArrayBuffer);
}

/** Whether a scope is open (the Tensor constructor checks this before `noteTensor`). */
export function inScope(): boolean {
  return scopes.length > 0;
}

/** Exempts `buf` from release at the end of every scope (its tensor outlives them). */
export function keepBuffer(buf: ArrayBufferLike): void {
  if (buf instanceof ArrayBuffer) kept.add(buf);
}

export function openScope(): void {
  scopes.push({ born: new Set(), wrapped: new Set() });
}

/**
 * Closes the innermost scope: releases the buffers born in it that a tensor was built on, except
 * kept ones and `survivors` (the buffers of what the scope returns), which move to the enclosing
 * scope (released at its end unless it returns them too); `null` releases nothing and hands all
 * of them on. Returns how many were released.
 */
export function closeScope(survivors: ReadonlySet<ArrayBufferLike> | null): number {
  const s = scopes.pop();
  if (!s) return 0;
  const parent = scopes[scopes.length - 1];
  let n = 0;
  for (const b of s.born) {
    if (kept.has(b)) continue;
    if (survivors === null || survivors.has(b)) {
      if (parent) {
        parent.born.add(b);
        if (s.wrapped.has(b)) parent.wrapped.add(b);
      }
    } else if (s.wrapped.has(b)) {
      if (release(b)) n++;
    } else if (parent) parent.born.add(b); // not a tensor yet (a kernel's array): the parent decides
  }
  return n;
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

/**
 * Sets the size below which arrays are left to the GC (default 64 KiB); tests set 1 so that the
 * small shapes they run go through the pool and scopes too. Returns the previous value.
 */
export function setPoolMinBytes(bytes: number = MIN_POOL_BYTES): number {
  const prev = MIN_BYTES;
  MIN_BYTES = Math.max(1, bytes);
  return prev;
}

/** Empties the pool (its buffers go to the GC). */
export function clearPool(): void {
  pool.clear();
  pooled.clear();
  pooledBytes = 0;
}
