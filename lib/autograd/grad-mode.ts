/**
 * Global grad mode (PyTorch's torch.no_grad / torch.enable_grad). JavaScript is single-threaded
 * per isolate, so one module-level flag is enough. The helpers are synchronous: the flag is
 * restored when `fn` returns, so do not `await` inside `noGrad(async () => ...)`.
 */
import { typeError } from '../errors';

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Sets the mode and returns the previous one (for code that cannot use a callback). */
export function setGradEnabled(mode: boolean): boolean {
  if (typeof mode !== 'boolean') throw typeError('a boolean', 'setGradEnabled(mode)', mode);
  const prev = enabled;
  enabled = mode;
  return prev;
}

function withMode<T>(mode: boolean, name: string, fn: () => T): T {
  if (typeof fn !== 'function') throw typeError('a function', `${name}(fn)`, fn);
  const prev = enabled;
  enabled = mode;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Runs `fn` without recording ops: results have requiresGrad false. */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, 'noGrad', fn);
}

/** Runs `fn` with recording on (inside a noGrad block). */
export function enableGrad<T>(fn: () => T): T {
  return withMode(true, 'enableGrad', fn);
}
