/**
 * The `Tensor`: a contiguous row-major typed array plus a shape, a dtype and autograd state.
 *
 * Storage is always contiguous (no strides): that keeps every kernel a plain typed-array loop and
 * lets `data` be handed zero-copy to the native kernels. The price: `transpose`, `permute`,
 * `expand`, `narrow` copy (PyTorch returns strided views); `reshape`/`view`/`squeeze`/`unsqueeze`/
 * `flatten` share `data` with their input like PyTorch's views.
 *
 * On 'cuda' (docs/cuda.md) the storage is a `DeviceArray` (lib/cuda.ts): `data` is that handle,
 * not an indexable array, and reading values (`toArray()`, `tolist()`, `item()`, printing)
 * synchronizes with the device and copies; `await toArrayAsync()` copies without blocking.
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
import { inScope, noteTensor, release } from './storage';
import { DeviceArray, download, downloadAsync, isAvailable as cudaAvailable, unavailableReason, upload, uploadInto, type CudaDType, type HostArray } from './cuda';

/** bfloat16 and float16 exist only on 'cuda' (docs/cuda.md). */
export type DType = 'float32' | 'float64' | 'int32' | 'bool' | 'bfloat16' | 'float16';
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
    // bfloat16 / float16 (cuda only) read back as float32 values
    case 'bfloat16': case 'float16': return Float32Array;
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
  if (t.device === 'cuda') {
    if ((t.data as unknown as DeviceArray).disposed) {
      throw selfsupError('ERR_INVALID_ARGUMENT', 'a live Tensor', name, `a cuda Tensor of shape ${shapeStr(t.shape)} whose memory was released by dispose()`);
    }
    return t;
  }
  const len = t.data.length;
  let n = 1;
  for (const d of t.shape) n *= d;
  if (len !== n) {
    const what = isDetached(t.data.buffer) ? 'a Tensor whose memory was released (dispose() or tidy()) or whose buffer was transferred' : `a Tensor whose data has ${len} elements`;
    throw selfsupError('ERR_INVALID_ARGUMENT', `a Tensor whose data holds its ${n} elements (shape ${shapeStr(t.shape)})`, name, what);
  }
  return t;
}

export function isFloatDType(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64';
}

/** Floating dtypes of either device (bfloat16 and float16 exist on 'cuda' only). */
export function isFloatingDType(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}

/**
 * 'cpu', or 'cuda' ('cuda:0') when a CUDA build of the addon sees a device; ERR_NO_DEVICE with the
 * reason otherwise (docs/cuda.md), TypeError/RangeError for junk.
 */
export function checkDevice(name: string, device: unknown): Device {
  if (device === undefined || device === 'cpu') return 'cpu';
  if (device === 'cuda' || device === 'cuda:0') {
    if (!cudaAvailable()) {
      throw new SelfsupError('ERR_NO_DEVICE', `Expected 'cpu' for ${name} but received ${JSON.stringify(device)}: no CUDA device is usable (${unavailableReason()})`);
    }
    return 'cuda';
  }
  if (typeof device === 'string' && device.startsWith('cuda:')) {
    throw new SelfsupError('ERR_NO_DEVICE', `Expected 'cpu', 'cuda' or 'cuda:0' for ${name} but received ${JSON.stringify(device)}: only the first CUDA device is supported`);
  }
  if (typeof device !== 'string') throw typeError("'cpu' | 'cuda'", name, device);
  throw rangeError("'cpu' | 'cuda'", name, device);
}

/**
 * Swaps t's storage for `data` on `device` (same dtype and length), keeping the object: what
 * Module.to(device) does to parameters and buffers (PyTorch's `param.data = param.data.to(device)`),
 * so references held elsewhere (an optimizer's parameter list) follow the move. Package-internal.
 */
export function replaceStorage(t: Tensor, data: TensorData, device: Device): void {
  t.data = data;
  (t as { device: Device }).device = device;
}

export class Tensor {
  /**
   * Contiguous row-major storage; may be shared with views (reshape/view/squeeze/unsqueeze/flatten).
   * On 'cuda' it is the tensor's DeviceArray (typed as TensorData for the CPU code paths, which a
   * cuda tensor never reaches: ops without a CUDA kernel refuse it first).
   */
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
  constructor(data: TensorData | DeviceArray, shape: readonly number[], options: TensorOptions = {}) {
    if (data instanceof DeviceArray) {
      if (!Array.isArray(shape)) throw typeError('an array of non-negative integers', 'Tensor(shape)', shape);
      let n = 1;
      for (const d of shape) n *= d;
      if (data.length !== n) throw rangeError(`a DeviceArray of length ${n} (shape ${shapeStr(shape)})`, 'Tensor(data)', `length ${data.length}`, true);
      if (options.device !== undefined && options.device !== 'cuda') throw rangeError("'cuda' (the device of a DeviceArray)", 'Tensor(options.device)', options.device);
      if (options.dtype !== undefined && options.dtype !== data.dtype) throw typeError(`a ${options.dtype} DeviceArray`, 'Tensor(data)', `a ${data.dtype} DeviceArray`);
      this.data = data as unknown as TensorData;
      this.shape = shape.slice();
      this.dtype = data.dtype;
      this.device = 'cuda';
      if (options.requiresGrad) this.requiresGrad = true;
      return;
    }
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
    this.shape = shape.slice();
    this.dtype = dt;
    this.device = checkDevice('Tensor(options.device)', options.device);
    // A host array with device 'cuda' is uploaded (float64 has no cuda storage).
    if (this.device === 'cuda') {
      if (dt === 'float64') throw typeError("a float32, int32 or bool array (float64 tensors stay on 'cpu')", 'Tensor(data)', data);
      this.data = upload(data as HostArray, dt as CudaDType) as unknown as TensorData;
    } else {
      this.data = data;
      if (inScope()) noteTensor(data);
    }
    if (options.requiresGrad) this.requiresGrad = true;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (typeof v !== 'boolean') throw typeError('a boolean', 'requiresGrad', v);
    if (v && !isFloatingDType(this.dtype)) throw typeError('a float32 or float64 Tensor (only floating tensors can require grad)', 'requiresGrad', this);
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
  /**
   * The flat typed array (the storage itself: length 1 for a scalar). On 'cuda': a host copy,
   * after every op enqueued on the tensor (synchronizes; bfloat16/float16 as float32 values).
   */
  toArray(): TensorData {
    if (this.device === 'cuda') return download(checkLive(this, 'toArray(this)').data as unknown as DeviceArray);
    return this.data;
  }
  /** toArray() without blocking the event loop: on 'cuda' a worker thread waits for the copy. */
  async toArrayAsync(): Promise<TensorData> {
    if (this.device === 'cuda') return downloadAsync(checkLive(this, 'toArrayAsync(this)').data as unknown as DeviceArray);
    return this.data;
  }
  /** A host tensor with this one's values (itself on 'cpu'); not recorded by autograd (see to('cpu')). */
  cpuCopy(): Tensor {
    return this.device === 'cuda' ? new Tensor(this.toArray(), this.shape) : this;
  }
  /**
   * Releases the tensor's memory now instead of at a garbage collection; views of it (reshape,
   * view, squeeze...) share it and are released with it. Using the tensor, a view, or an array
   * taken from it with toArray() afterwards is an error (a JS error, never a read of reused
   * memory). On 'cuda' the device memory is freed (the GC's finalizer does the same for tensors
   * never disposed). On 'cpu' the memory goes to the storage pool, where the next op output of the
   * same size reuses it while it is still in cache: what PyTorch's reference counting does when a
   * result is dropped. CPU storage the library did not allocate (arrays you passed in, tensors
   * under 64 KiB) is left to the GC: dispose() is then a no-op. `tidy(fn)` disposes every tensor
   * `fn` creates and does not return.
   */
  dispose(): void {
    if (this.device === 'cuda') (this.data as unknown as DeviceArray).dispose();
    else if (this.data.byteOffset === 0 && this.data.byteLength === this.data.buffer.byteLength) release(this.data.buffer as ArrayBuffer);
  }
  /** Nested JS arrays (numbers, or booleans for bool tensors), like PyTorch's `tolist()`. */
  tolist(): unknown {
    checkLive(this, 'tolist(this)');
    if (this.device === 'cuda') return this.cpuCopy().tolist();
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
    return this.device === 'cuda' ? this.toArray()[0] : this.data[0];
  }
  toString(): string {
    checkLive(this, 'toString(this)');
    return formatTensor(this.cpuCopy());
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    checkLive(this, 'print(this)');
    return formatTensor(this.cpuCopy());
  }

  /** A new leaf sharing `data`, cut from the graph (no grad). */
  detach(): Tensor {
    return this.device === 'cuda' ? new Tensor(this.data as unknown as DeviceArray, this.shape) : new Tensor(this.data, this.shape);
  }

  // ---- in-place writes that need no op (the others are in lib/tensor-methods.ts) ----------
  /** PyTorch's `_version`: how many in-place writes this tensor's storage has seen. */
  get version(): number {
    return versionOf(this.data);
  }
  zero_(): this {
    return this.fill_(0);
  }
  fill_(value: number): this {
    checkInPlace(this, 'fill_');
    if (typeof value !== 'number') throw typeError('a number', 'fill_(value)', value);
    if (this.device === 'cuda') {
      // Written from the host: one upload of the filled values (no fill kernel yet).
      const d = checkLive(this, 'fill_(this)').data as unknown as DeviceArray;
      if (d.dtype === 'bfloat16' || d.dtype === 'float16') {
        throw new SelfsupError('ERR_NO_DEVICE', `Expected a float32, int32 or bool tensor for fill_(this) but received a ${d.dtype} cuda tensor: fill_ has no ${d.dtype} path yet; fill in float32 and convert with .to('${d.dtype}')`);
      }
      uploadInto(d, new (arrayCtor(this.dtype))(d.length).fill(value) as HostArray);
    } else this.data.fill(value);
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
