/**
 * One error grammar for the whole package:
 *   `Expected ${expected} for ${name} but received ${actual}`
 * TypeError for wrong types, RangeError for out-of-bounds values, SelfsupError (with a stable
 * `code`) for everything else (shape mismatches, missing native addon, unsupported device...).
 */

export type SelfsupErrorCode =
  | 'ERR_SHAPE_MISMATCH'
  | 'ERR_DTYPE_MISMATCH'
  | 'ERR_DEVICE_MISMATCH'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NO_NATIVE'
  | 'ERR_NO_DEVICE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_AUTOGRAD'
  | 'ERR_NOT_CONVERGED'
  | 'ERR_DISTRIBUTED'
  | 'ERR_INTERNAL';

export class SelfsupError extends Error {
  readonly code: SelfsupErrorCode;
  constructor(code: SelfsupErrorCode, message: string) {
    super(message);
    this.name = 'SelfsupError';
    this.code = code;
  }
}

/** A short, human description of any value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) {
    if (value.length <= 8 && value.every((v) => typeof v === 'number')) return `[${value.join(', ')}]`;
    return `an Array of length ${value.length}`;
  }
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'TypedArray';
    if (value.buffer.byteLength === 0 && value.byteLength === 0 && isDetached(value.buffer)) return `a detached ${name}`;
    return `a ${name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  }
  const maybeTensor = value as { shape?: unknown; dtype?: unknown; constructor?: { name?: string } };
  if (maybeTensor.constructor?.name === 'Tensor' && Array.isArray(maybeTensor.shape)) {
    return `a ${String(maybeTensor.dtype)} Tensor of shape [${(maybeTensor.shape as number[]).join(', ')}]`;
  }
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/** True when an ArrayBuffer was transferred/detached (its memory is gone). */
export function isDetached(buf: ArrayBufferLike): boolean {
  const d = (buf as { detached?: boolean }).detached;
  if (typeof d === 'boolean') return d;
  if (buf.byteLength !== 0) return false;
  try {
    // Constructing a view on a detached buffer throws in every engine.
    new Uint8Array(buf as ArrayBuffer);
    return false;
  } catch {
    return true;
  }
}

/** Message in the package grammar. */
export function expectedMessage(expected: string, name: string, actual: string): string {
  return `Expected ${expected} for ${name} but received ${actual}`;
}

export function typeError(expected: string, name: string, received: unknown, receivedIsText = false): TypeError {
  return new TypeError(expectedMessage(expected, name, receivedIsText ? String(received) : describe(received)));
}

export function rangeError(expected: string, name: string, received: unknown, receivedIsText = false): RangeError {
  return new RangeError(expectedMessage(expected, name, receivedIsText ? String(received) : describe(received)));
}

export function selfsupError(
  code: SelfsupErrorCode,
  expected: string,
  name: string,
  received: string,
): SelfsupError {
  return new SelfsupError(code, expectedMessage(expected, name, received));
}

/** `[2, 3]` for messages. */
/** Flat index i of a row-major tensor of `shape` as '[i0, i1, ...]' (for messages). */
export function indexStr(i: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(i % shape[d]);
    i = Math.floor(i / shape[d]);
  }
  return `[${idx.join(', ')}]`;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
