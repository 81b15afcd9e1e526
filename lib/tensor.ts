/**
 * The `Tensor`: a contiguous row-major typed array plus a shape, a dtype and autograd state.
 *
 * Storage is always contiguous (no strides): that keeps every kernel a plain typed-array loop and
 * lets `data` be handed zero-copy to the native kernels. The price: `transpose`, `permute`,
 * `expand`, `narrow` copy (PyTorch returns strided views); `reshape`/`view`/`squeeze`/`unsqueeze`/
 * `flatten` share `data` with their input like PyTorch's views.
 *
 * Methods are thin wrappers over the functional ops in lib/ops (same validation, same autograd).
 */
import { SelfsupError, describe, expectedMessage, isDetached, rangeError, selfsupError, shapeStr, typeError } from './errors';
import type { Node } from './autograd/engine';
import { backward as runBackward } from './autograd/engine';
import { isGradEnabled } from './autograd/grad-mode';
import * as ew from './ops/elementwise';
import * as red from './ops/reduce';
import * as sh from './ops/shape';
import * as la from './ops/linalg';
import * as nnf from './ops/nn-functional';
import * as ix from './ops/indexing';
import { formatTensor } from './ops/print';
import * as inplace from './ops/inplace';
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
  /** Size of one dim (negative counts from the end), or the whole shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return this.shape.slice();
    return this.shape[sh.normDim('size', 'dim', dim, this.ndim)];
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
  /** A copy of the data, recorded in the graph (gradient flows through). */
  clone(): Tensor {
    return sh.clone(this);
  }
  /** Dtype conversion (differentiable between float dtypes) or device move ('cuda' throws ERR_NO_DEVICE). */
  to(target: DType | Device): Tensor {
    if (target === 'cpu') return this;
    if (target === 'cuda') return checkDevice('to(device)', target) as never;
    return sh.toDtype(this, target as DType);
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }

  // ---- autograd --------------------------------------------------------------------------
  /**
   * Reverse-mode pass from this tensor. `grad` defaults to 1 for a scalar (required otherwise).
   * Gradients accumulate into the `.grad` of every leaf that requires grad. The graph's saved
   * tensors are freed unless `retainGraph` is true; a second pass then throws ERR_AUTOGRAD.
   */
  backward(grad?: Tensor | number, options: { retainGraph?: boolean } = {}): void {
    runBackward([this], grad === undefined ? [undefined] : [grad], options);
  }

  // ---- in-place (optimizers and init; refused on leaves that require grad while recording) --
  // In-place ops are not recorded by autograd. On a leaf that requires grad that is PyTorch's
  // error too; on a tensor computed by a recorded op it would leave a graph that no longer
  // describes the values (y = x.mul(2); y.mul_(3) would still give dy/dx = 2): refused as well.
  private checkInPlace(op: string): void {
    if (this._requiresGrad && isGradEnabled()) {
      const what = this.gradFn === null ? 'a leaf tensor that requires grad' : `a tensor computed by ${this.gradFn.name} (in-place ops are not recorded)`;
      throw selfsupError('ERR_AUTOGRAD', 'a tensor that does not require grad, or noGrad() around the in-place update', `${op}(this)`, what);
    }
  }
  /** PyTorch's `_version`: how many in-place writes this tensor's storage has seen. */
  get version(): number {
    return versionOf(this.data);
  }
  zero_(): this {
    this.checkInPlace('zero_');
    this.data.fill(0);
    bumpVersion(this.data);
    return this;
  }
  fill_(value: number): this {
    this.checkInPlace('fill_');
    if (typeof value !== 'number') throw typeError('a number', 'fill_(value)', value);
    this.data.fill(value);
    bumpVersion(this.data);
    return this;
  }
  /** Copies `src` (same shape; dtype converted) into this tensor's storage. */
  copy_(src: Tensor): this {
    this.checkInPlace('copy_');
    const s = ew.checkTensor('copy_', 'src', src);
    if (shapeStr(s.shape) !== shapeStr(this.shape)) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(this.shape)}`, 'copy_(src)', shapeStr(s.shape));
    this.data.set(s.data);
    bumpVersion(this.data);
    return this;
  }
  /** In place `this += alpha * other` (other broadcasts to this shape). Under noGrad for parameters. */
  add_(other: Tensor | number, alpha = 1): this {
    this.checkInPlace('add_');
    inplace.binary('add_', this, other, alpha);
    return this;
  }
  sub_(other: Tensor | number, alpha = 1): this {
    this.checkInPlace('sub_');
    inplace.binary('sub_', this, other, alpha);
    return this;
  }
  mul_(other: Tensor | number): this {
    this.checkInPlace('mul_');
    inplace.binary('mul_', this, other, 1);
    return this;
  }
  div_(other: Tensor | number): this {
    this.checkInPlace('div_');
    inplace.binary('div_', this, other, 1);
    return this;
  }
  /** In place `this += weight * (end - this)`: the EMA target update (`target.lerp_(online, 1 - m)`). */
  lerp_(end: Tensor, weight: number): this {
    this.checkInPlace('lerp_');
    inplace.lerp(this, end, weight);
    return this;
  }

  // ---- elementwise -----------------------------------------------------------------------
  add(other: Tensor | number): Tensor { return ew.add(this, other); }
  sub(other: Tensor | number): Tensor { return ew.sub(this, other); }
  mul(other: Tensor | number): Tensor { return ew.mul(this, other); }
  div(other: Tensor | number): Tensor { return ew.div(this, other); }
  neg(): Tensor { return ew.neg(this); }
  pow(exponent: Tensor | number): Tensor { return ew.pow(this, exponent); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  square(): Tensor { return ew.square(this); }
  abs(): Tensor { return ew.abs(this); }
  clamp(min?: number | null, max?: number | null): Tensor { return ew.clamp(this, min, max); }
  clampMin(min: number): Tensor { return ew.clamp(this, min, null); }
  clampMax(max: number): Tensor { return ew.clamp(this, null, max); }
  relu(): Tensor { return ew.relu(this); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return ew.gelu(this, { approximate }); }
  silu(): Tensor { return ew.silu(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  tanh(): Tensor { return ew.tanh(this); }
  maximum(other: Tensor | number): Tensor { return ew.maximum(this, other); }
  minimum(other: Tensor | number): Tensor { return ew.minimum(this, other); }
  /** PyTorch's `x.where(condition, y)`: x where condition, else y. */
  where(condition: Tensor, other: Tensor | number): Tensor { return ew.where(condition, this, other); }
  gt(other: Tensor | number): Tensor { return ew.gt(this, other); }
  ge(other: Tensor | number): Tensor { return ew.ge(this, other); }
  lt(other: Tensor | number): Tensor { return ew.lt(this, other); }
  le(other: Tensor | number): Tensor { return ew.le(this, other); }
  eq(other: Tensor | number): Tensor { return ew.eq(this, other); }

  // ---- reductions ------------------------------------------------------------------------
  sum(dim?: Dims | null, keepdim = false): Tensor { return red.sum(this, dim, keepdim); }
  mean(dim?: Dims | null, keepdim = false): Tensor { return red.mean(this, dim, keepdim); }
  /** max() -> scalar; max(dim, keepdim) -> { values, indices } like PyTorch. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? red.max(this) : red.max(this, dim, keepdim);
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? red.min(this) : red.min(this, dim, keepdim);
  }
  /** Max over several dims at once (values only), like torch.amax. */
  amax(dim?: Dims | null, keepdim = false): Tensor { return red.amax(this, dim, keepdim); }
  argmax(dim?: number, keepdim = false): Tensor { return red.argmax(this, dim, keepdim); }
  var(dim?: Dims | null, options: red.VarOptions = {}): Tensor { return red.variance(this, dim, options); }
  std(dim?: Dims | null, options: red.VarOptions = {}): Tensor { return red.std(this, dim, options); }
  norm(p = 2, dim?: Dims | null, keepdim = false): Tensor { return red.norm(this, p, dim, keepdim); }
  logsumexp(dim: Dims, keepdim = false): Tensor { return red.logsumexp(this, dim, keepdim); }

  // ---- shape -----------------------------------------------------------------------------
  /** Shares `data` (storage is always contiguous). One dim may be -1 (inferred). */
  reshape(...shape: number[] | [number[]]): Tensor { return sh.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [number[]]): Tensor { return sh.reshape(this, flatArgs(shape), 'view'); }
  transpose(dim0: number, dim1: number): Tensor { return sh.transpose(this, dim0, dim1); }
  /** 2-D transpose (PyTorch's `t()`). */
  t(): Tensor {
    if (this.ndim > 2) throw rangeError('a tensor with at most 2 dims', 't(this)', `shape ${shapeStr(this.shape)}`, true);
    return this.ndim < 2 ? this : sh.transpose(this, 0, 1);
  }
  permute(...dims: number[] | [number[]]): Tensor { return sh.permute(this, flatArgs(dims)); }
  squeeze(dim?: Dims): Tensor { return sh.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return sh.unsqueeze(this, dim); }
  flatten(startDim = 0, endDim = -1): Tensor { return sh.flatten(this, startDim, endDim); }
  /** Broadcast to a larger shape (-1 keeps a dim). Copies (no strided views here). */
  expand(...shape: number[] | [number[]]): Tensor { return sh.expand(this, flatArgs(shape)); }
  expandAs(other: Tensor): Tensor { return sh.expand(this, other.shape); }
  /** Storage is always contiguous: returns this. */
  contiguous(): Tensor { return this; }
  narrow(dim: number, start: number, length: number): Tensor { return sh.narrow(this, dim, start, length); }
  /** Python-style `x[..., start:end:step, ...]` along one dim (negative indices count from the end). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor { return sh.slice(this, dim, start, end, step); }
  chunk(chunks: number, dim = 0): Tensor[] { return sh.chunk(this, chunks, dim); }
  split(splitSize: number | number[], dim = 0): Tensor[] { return sh.split(this, splitSize, dim); }

  // ---- linear algebra, nn ----------------------------------------------------------------
  matmul(other: Tensor): Tensor { return la.matmul(this, other); }
  bmm(other: Tensor): Tensor { return la.bmm(this, other); }
  softmax(dim: number): Tensor { return nnf.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return nnf.logSoftmax(this, dim); }

  // ---- indexing --------------------------------------------------------------------------
  gather(dim: number, index: Tensor): Tensor { return ix.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return ix.indexSelect(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return ix.scatterAdd(this, dim, index, src); }
}

/** `f(2, 3)` and `f([2, 3])` are the same call (PyTorch accepts both). */
function flatArgs(args: number[] | [number[]]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return args[0] as number[];
  return args as number[];
}
