/**
 * Memory scopes for CPU tensors: `tidy(fn)` releases, when `fn` returns, the memory of every
 * tensor `fn` created and did not return, and `keep(t)` exempts a tensor from that. The names and
 * the contract are TensorFlow.js's (`tf.tidy`, `tf.keep`). Why: JavaScript frees a dead tensor only
 * at a garbage collection, long after its last use, so each op output is a fresh block that is no
 * longer in cache; PyTorch frees a result as soon as its last reference goes and the next op gets
 * that block back, still in cache. Released memory goes to the storage pool (lib/storage.ts) and
 * the next outputs of its size reuse it. A released tensor's buffer is detached, so any later use
 * of it, of a view or of an array taken from it is a clear error, never a read of reused memory.
 *
 * Only memory allocated inside the scope is released: tensors created before it (parameters, the
 * caller's inputs) and views of them are never touched. `.grad` tensors that backward() assigns
 * are kept. The optimizers keep their state in their own arrays. On 'cuda', tensors are left to
 * dispose() and the GC.
 */
import { Tensor } from './tensor';
import { closeScope, keepBuffer, openScope } from './storage';
import { selfsupError, typeError } from './errors';

/** The buffers of every CPU tensor (or typed array) reachable in `v` through arrays, Maps and plain objects. */
function survivorsOf(v: unknown, into: Set<ArrayBufferLike>, seen: Set<unknown>): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof Tensor) {
    if (v.device === 'cpu') into.add(v.data.buffer);
    if (v.grad) survivorsOf(v.grad, into, seen);
    return;
  }
  if (ArrayBuffer.isView(v)) {
    into.add(v.buffer);
    return;
  }
  if (Array.isArray(v)) for (const x of v) survivorsOf(x, into, seen);
  else if (v instanceof Map) for (const x of v.values()) survivorsOf(x, into, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) survivorsOf(x, into, seen);
}

/**
 * Runs `fn` and releases the memory of the CPU tensors it created, except those it returns
 * (directly, or inside arrays, Maps and plain objects) and those passed to `keep`. Scopes nest:
 * what an inner tidy returns belongs to the outer one. `fn` must be synchronous.
 *
 * ```ts
 * const loss = tidy(() => {
 *   const l = model.loss(views);  // activations, saved tensors, gradients: released at the end
 *   opt.zeroGrad();
 *   l.backward();                 // the parameters' .grad is kept
 *   return l;                     // kept: readable after tidy; do not call backward() on it again
 * });
 * opt.step();
 * ```
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw typeError('a function', 'tidy(fn)', fn);
  openScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(new Set()); // what fn made is garbage now
    throw e;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    closeScope(null); // the async work goes on using what it made: release nothing
    throw selfsupError('ERR_INVALID_ARGUMENT', 'a synchronous function (tidy cannot span an await)', 'tidy(fn)', 'a function that returned a Promise');
  }
  const survivors = new Set<ArrayBufferLike>();
  survivorsOf(result, survivors, new Set());
  closeScope(survivors);
  return result;
}

/** Exempts `t` (and its views) from release by every enclosing and later `tidy`; returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw typeError('a Tensor', 'keep(t)', t);
  if (t.device === 'cpu') keepBuffer(t.data.buffer);
  return t;
}
