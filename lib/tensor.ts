/**
 * The `Tensor`: a contiguous row-major typed array plus a shape, a dtype and autograd state.
 *
 * Storage is always contiguous (no strides): that keeps every kernel a plain typed-array loop and
 * lets `data` be handed zero-copy to the native kernels. The price: `transpose`, `permute`,
 * `expand`, `narrow` copy (PyTorch returns strided views); `reshape`/`view`/`squeeze`/`unsqueeze`/
 * `flatten` share `data` with their input like PyTorch's views.
 *
 * This module holds the data, the shape and the autograd state, and imports no op: the op methods
 * (`x.add(y)`, `x.sum()`, `x.backward()`...) are attached by lib/tensor-methods.ts, which the
 * package entry imports, so that lib/ops can import Tensor without an import cycle (the layering
 * tfjs-core uses; docs/architecture.md).
 */
import { SelfsupError, describe, expectedMessage, isDetached, rangeError, selfsupError, shapeStr, typeError } from './errors';
import type { Node } from './autograd/engine';
import { isGradEnabled } from './autograd/grad-mode';
import { formatTensor } from './ops/print';
import { bumpVersion, versionOf } from './autograd/version';

export type DType = 'float32' | 'float64' | 'int32' | 'bool';
export type FloatDType = 'float32' | 'float64';
export type Device = 'cpu' | 'cuda';
/** Storage of each dtype: bool is one byte per element (0 or 1). */
export type TensorData = Float32Array | Float64Array | Int32Array | Uint8Array;
export type Dims = number | number[];

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  device?: Device;
}

export function arrayCtor(dtype: DType): Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'int32': return Int32Array;
    default: return Uint8Array;
  }
}

export function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'bool';
}

/**
 * Throws unless `t.data` still holds the `prod(shape)` elements the tensor was made with. A
 * transferred (detached) buffer reads as length 0, so without this check ops compute NaN from it
 * and printing shows an empty tensor. One length comparison: cheap enough for every op entry.
 */
export function checkLive(t: Tensor, name: string): Tensor {
  const len = t.data.length;
  let n = 1;
  for (const d of t.shape) n *= d;
  if (len !== n) {
    const what = isDetached(t.data.buffer) ? 'a Tensor whose buffer was detached (transferred)' : `a Tensor whose data has ${len} elements`;
    throw selfsupError('ERR_INVALID_ARGUMENT', `a Tensor whose data holds its ${n} elements (shape ${shapeStr(t.shape)})`, name, what);
  }
  return t;
}

export function isFloatDType(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64';
}

/** Throws ERR_NO_DEVICE for 'cuda' (no CUDA tensor backend yet), TypeError/RangeError for junk. */
export function checkDevice(name: string, device: unknown): Device {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device === 'cuda' || (typeof device === 'string' && device.startsWith('cuda:'))) {
    throw new SelfsupError(
      'ERR_NO_DEVICE',
      `Expected 'cpu' for ${name} but received ${JSON.stringify(device)}: CUDA tensors are not implemented yet ` +
        `(the fused CUDA kernels are reachable through selfsup/kernels on a CUDA build)`,
    );
  }
  if (typeof device !== 'string') throw typeError("'cpu' | 'cuda'", name, device);
  throw rangeError("'cpu' | 'cuda'", name, device);
}

export class Tensor {
  /** Contiguous row-major storage; may be shared with views (reshape/view/squeeze/unsqueeze/flatten). */
  data: TensorData;
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: Device;
  /** Accumulated gradient (leaves only, like PyTorch); same dtype and shape as the tensor. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor (null for leaves and for untracked results). */
  gradFn: Node | null = null;
  /** Which output of `gradFn` this tensor is (multi-output functions). */
  outputNr = 0;
  private _requiresGrad = false;

  /**
   * Low-level constructor: `data` is used as is (zero-copy) and must have `prod(shape)` elements.
   * Prefer the `tensor()` factory, which also accepts nested arrays.
   */
  constructor(data: TensorData, shape: readonly number[], options: TensorOptions = {}) {
    // dtypeOf() maps anything it does not recognise to bool: plain arrays and strings must stop here.
    if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint8Array)) {
      const hint = Array.isArray(data) || typeof data === 'number' || typeof data === 'boolean' ? '; use tensor(data) for plain arrays and numbers' : '';
      throw new TypeError(expectedMessage('a Float32Array, Float64Array, Int32Array or Uint8Array', 'Tensor(data)', describe(data) + hint));
    }
    if (!Array.isArray(shape)) throw typeError('an array of non-negative integers', 'Tensor(shape)', shape);
    const dt = dtypeOf(data);
    if (options.dtype !== undefined && options.dtype !== dt) {
      throw typeError(`a ${arrayCtor(options.dtype).name} for dtype '${options.dtype}'`, 'Tensor(data)', data);
    }
    let n = 1;
    for (const d of shape) n *= d;
    if (data.length !== n) throw rangeError(`an array of length ${n} (shape ${shapeStr(shape)})`, 'Tensor(data)', `length ${data.length}`, true);
    this.data = data;
    this.shape = shape.slice();
    this.dtype = dt;
    this.device = checkDevice('Tensor(options.device)', options.device);
    if (options.requiresGrad) this.requiresGrad = true;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (typeof v !== 'boolean') throw typeError('a boolean', 'requiresGrad', v);
    if (v && !isFloatDType(this.dtype)) throw typeError('a float32 or float64 Tensor (only floating tensors can require grad)', 'requiresGrad', this);
    if (!v && this.gradFn) {
      throw selfsupError('ERR_AUTOGRAD', 'a leaf tensor (use detach() on a non-leaf)', 'requiresGrad = false', `a tensor computed by ${this.gradFn.name}`);
    }
    this._requiresGrad = v;
  }
  /** PyTorch's `requires_grad_()`: sets the flag on a leaf and returns this. */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  /** True for tensors created by the user (not by a recorded op). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get ndim(): number {
    return this.shape.length;
  }
  numel(): number {
    return this.data.length;
  }
  /** The flat typed array (the storage itself: length 1 for a scalar). */
  toArray(): TensorData {
    return this.data;
  }
  /** Nested JS arrays (numbers, or booleans for bool tensors), like PyTorch's `tolist()`. */
  tolist(): unknown {
    checkLive(this, 'tolist(this)');
    const conv = (v: number): number | boolean => (this.dtype === 'bool' ? v !== 0 : v);
    if (this.ndim === 0) return conv(this.data[0]);
    const rec = (d: number, off: number, stride: number): unknown[] => {
      const out: unknown[] = [];
      const inner = stride / this.shape[d];
      for (let i = 0; i < this.shape[d]; i++) out.push(d === this.ndim - 1 ? conv(this.data[off + i]) : rec(d + 1, off + i * inner, inner));
      return out;
    };
    return rec(0, 0, this.numel());
  }
  /** The single value of a one-element tensor. */
  item(): number {
    checkLive(this, 'item(this)');
    if (this.data.length !== 1) throw rangeError('a tensor with exactly one element', 'item()', `a tensor of shape ${shapeStr(this.shape)}`, true);
    return this.data[0];
  }
  toString(): string {
    checkLive(this, 'toString(this)');
    return formatTensor(this);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    checkLive(this, 'print(this)');
    return formatTensor(this);
  }

  /** A new leaf sharing `data`, cut from the graph (no grad). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, { device: this.device });
  }

  // ---- in-place writes that need no op (the others are in lib/tensor-methods.ts) ----------
  /** PyTorch's `_version`: how many in-place writes this tensor's storage has seen. */
  get version(): number {
    return versionOf(this.data);
  }
  zero_(): this {
    checkInPlace(this, 'zero_');
    this.data.fill(0);
    bumpVersion(this.data);
    return this;
  }
  fill_(value: number): this {
    checkInPlace(this, 'fill_');
    if (typeof value !== 'number') throw typeError('a number', 'fill_(value)', value);
    this.data.fill(value);
    bumpVersion(this.data);
    return this;
  }
}

// In-place ops are not recorded by autograd. On a leaf that requires grad that is PyTorch's
// error too; on a tensor computed by a recorded op it would leave a graph that no longer
// describes the values (y = x.mul(2); y.mul_(3) would still give dy/dx = 2): refused as well.
export function checkInPlace(t: Tensor, op: string): void {
  if (t.requiresGrad && isGradEnabled()) {
    const what = t.gradFn === null ? 'a leaf tensor that requires grad' : `a tensor computed by ${t.gradFn.name} (in-place ops are not recorded)`;
    throw selfsupError('ERR_AUTOGRAD', 'a tensor that does not require grad, or noGrad() around the in-place update', `${op}(this)`, what);
  }
}
