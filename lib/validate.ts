/** Argument validation helpers: every public entry point validates here, with one grammar. */
import { constants as bufferConstants } from 'node:buffer';
import { describe, expectedMessage, isDetached, rangeError, typeError, selfsupError, shapeStr } from './errors';

export type FloatArray = Float32Array | Float64Array;
export type KernelArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** A finite number (optionally integer, optionally within [min, max]). */
export function checkNumber(
  name: string,
  value: unknown,
  opts: { integer?: boolean; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {},
): number {
  if (typeof value !== 'number') throw typeError(opts.integer ? 'an integer' : 'a number', name, value);
  if (!Number.isFinite(value)) throw rangeError(opts.integer ? 'a finite integer' : 'a finite number', name, value);
  if (opts.integer && !Number.isInteger(value)) throw rangeError('an integer', name, value);
  const lo = opts.min, hi = opts.max;
  const lowBad = lo !== undefined && (opts.minExclusive ? value <= lo : value < lo);
  const highBad = hi !== undefined && (opts.maxExclusive ? value >= hi : value > hi);
  if (lowBad || highBad) {
    const l = lo === undefined ? '' : opts.minExclusive ? `> ${lo}` : `>= ${lo}`;
    const h = hi === undefined ? '' : opts.maxExclusive ? `< ${hi}` : `<= ${hi}`;
    const what = l && h ? `a number ${l} and ${h}` : `a number ${l || h}`;
    throw rangeError(opts.integer ? what.replace('a number', 'an integer') : what, name, value);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError('a boolean', name, value);
  return value;
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    const exp = allowed.map((a) => `'${a}'`).join(' | ');
    if (typeof value !== 'string') throw typeError(exp, name, value);
    throw rangeError(exp, name, value);
  }
  return value as T;
}

/**
 * An options bag: undefined becomes {}, anything but a plain object throws, and so does a key
 * outside `known` (a misspelt option would otherwise be ignored and its default used silently).
 */
export function checkOptions<T extends object>(name: string, value: unknown, known: readonly (keyof T & string)[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError('an options object', name, value);
  checkKnownKeys(name, value, known);
  return value as Partial<T>;
}

/** Throws a TypeError naming the first key of `value` that is not in `known`, with the known ones. */
export function checkKnownKeys(name: string, value: object, known: readonly string[]): void {
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key) || known.includes(key)) continue;
    const list = known.length ? `one of the options ${known.join(', ')}` : 'no options';
    throw typeError(list, name, `'${key}'`, true);
  }
}

/**
 * The most elements one array of `bytesPerElement`-byte elements may have. Outputs are allocated
 * either by a typed-array constructor or by Buffer.allocUnsafeSlow (lib/storage.ts), and the
 * latter stops at buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20), so that byte limit applies
 * to every array; without it V8 throws its own message, or a huge size is attempted for real.
 */
export function maxElements(bytesPerElement: number): number {
  const maxBytes = Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER);
  return Math.floor(maxBytes / bytesPerElement);
}

/** Checked before allocating `n` elements for `name` (an output or a factory's tensor). */
export function checkAllocation(name: string, n: number, bytesPerElement: number, detail = ''): void {
  const max = maxElements(bytesPerElement);
  if (!(n <= max)) {
    const got = `${n} elements${detail ? ` (${detail})` : ''}`;
    throw new RangeError(expectedMessage(`a size of at most ${max} elements`, name, got));
  }
}

/** A shape: array of non-negative safe integers. */
export function checkShape(name: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw typeError('an array of non-negative integers', name, value);
  value.forEach((d, i) => {
    if (typeof d !== 'number') throw typeError('a non-negative integer', `${name}[${i}]`, d);
    if (!Number.isSafeInteger(d) || d < 0) throw rangeError('a non-negative integer', `${name}[${i}]`, d);
  });
  let n = 1;
  for (const d of value as number[]) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) throw rangeError('a shape whose size fits in 2^53', name, shapeStr(value), true);
  }
  return (value as number[]).slice();
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const ctorName: Record<string, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  int32: 'Int32Array',
  bool: 'Uint8Array',
};

/**
 * A typed array of one of the allowed kinds, not detached, with exactly `sizeOf(shape)` elements
 * when a shape is given.
 */
export function checkArray<T extends KernelArray>(
  name: string,
  value: unknown,
  allowed: ReadonlyArray<'float32' | 'float64' | 'int32' | 'bool'>,
  shape?: readonly number[],
): T {
  const expected = allowed.map((a) => ctorName[a]).join(' or ');
  const ok =
    (value instanceof Float32Array && allowed.includes('float32')) ||
    (value instanceof Float64Array && allowed.includes('float64')) ||
    (value instanceof Int32Array && allowed.includes('int32')) ||
    (value instanceof Uint8Array && allowed.includes('bool'));
  if (!ok) throw typeError(`a ${expected}`, name, value);
  const arr = value as T;
  if (isDetached(arr.buffer)) throw selfsupError('ERR_INVALID_ARGUMENT', `a live (not detached) ${expected}`, name, 'a detached buffer (released by dispose() or tidy(), or transferred)');
  if (shape) {
    const n = sizeOf(shape);
    if (arr.length !== n) throw rangeError(`a ${expected} of length ${n} (shape ${shapeStr(shape)})`, name, `length ${arr.length}`, true);
  }
  return arr;
}

export function dtypeOfArray(a: KernelArray): 'float32' | 'float64' | 'int32' | 'bool' {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  return 'bool';
}

export { describe };
