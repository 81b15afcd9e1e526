/**
 * The Tensor's op methods, attached to `Tensor.prototype` in one place (declaration merging, as
 * tfjs-core attaches its chained ops). lib/tensor.ts holds the data and the autograd state and
 * imports no op; this module imports both, so there is no import cycle. The package entries
 * (lib/index.ts, lib/cli/main.ts) import it for its effect.
 *
 * Plain methods come from the op table (lib/ops/table.ts, rows with `method: true`):
 * `x.name(...rest)` calls `fn(x, ...rest)`, with the same validation and autograd. The methods
 * below are the ones whose form differs from the function (varargs shapes, overloads, options
 * given positionally), plus autograd and the in-place updates.
 */
import { rangeError, selfsupError, shapeStr } from './errors';
import { Tensor, checkInPlace, type DType, type Device } from './tensor';
import { backward as runBackward } from './autograd/engine';
import { bumpVersion } from './autograd/version';
import { OP_TABLE, type Functional, type MethodKeys } from './ops/table';
import { checkTensor, normDim } from './ops/common';
import * as ew from './ops/elementwise';
import * as red from './ops/reduce';
import * as sh from './ops/shape';
import * as inplace from './ops/inplace';
import * as nc from './ops/native-core';
import { noGrad } from './autograd/grad-mode';

/** `(x, ...rest) => out` as the method `(...rest) => out`. */
type MethodOf<Fn> = Fn extends (x: Tensor, ...rest: infer R) => infer O ? (...rest: R) => O : never;
type TableMethods = { [K in MethodKeys]: MethodOf<Functional[K]> };

/** The methods whose form differs from the functional op. */
interface VariantMethods {
  /** Size of one dim (negative counts from the end), or the whole shape. */
  size(): number[];
  size(dim: number): number;
  /**
   * Dtype conversion (differentiable between float dtypes) or device move ('cuda' needs a CUDA build
   * and a device: ERR_NO_DEVICE with the reason otherwise; docs/cuda.md).
   */
  to(target: DType | Device | 'cuda:0'): Tensor;
  /** this.to('cpu'). */
  cpu(): Tensor;
  /** this.to('cuda'). */
  cuda(): Tensor;
  float(): Tensor;
  double(): Tensor;
  int(): Tensor;
  bool(): Tensor;
  /**
   * Reverse-mode pass from this tensor. `grad` defaults to 1 for a scalar (required otherwise).
   * Gradients accumulate into the `.grad` of every leaf that requires grad. The graph's saved
   * tensors are freed unless `retainGraph` is true; a second pass then throws ERR_AUTOGRAD.
   */
  backward(grad?: Tensor | number, options?: { retainGraph?: boolean }): void;
  /** Copies `src` (same shape; dtype converted) into this tensor's storage. */
  copy_(src: Tensor): this;
  /** In place `this += alpha * other` (other broadcasts to this shape). Under noGrad for parameters. */
  add_(other: Tensor | number, alpha?: number): this;
  sub_(other: Tensor | number, alpha?: number): this;
  mul_(other: Tensor | number): this;
  div_(other: Tensor | number): this;
  /** In place `this += weight * (end - this)`: the EMA target update (`target.lerp_(online, 1 - m)`). */
  lerp_(end: Tensor, weight: number): this;
  gelu(approximate?: 'none' | 'tanh'): Tensor;
  clampMin(min: number): Tensor;
  clampMax(max: number): Tensor;
  /** PyTorch's `x.where(condition, y)`: x where condition, else y. */
  where(condition: Tensor, other: Tensor | number): Tensor;
  /** max() -> scalar; max(dim, keepdim) -> { values, indices } like PyTorch. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  /** Shares `data` (storage is always contiguous). One dim may be -1 (inferred). */
  reshape(...shape: number[] | [number[]]): Tensor;
  view(...shape: number[] | [number[]]): Tensor;
  permute(...dims: number[] | [number[]]): Tensor;
  /** Broadcast to a larger shape (-1 keeps a dim). Copies (no strided views here). */
  expand(...shape: number[] | [number[]]): Tensor;
  /** PyTorch's Tensor.repeat: tiles sizes[i] times along dim i (more sizes than dims add leading dims). */
  repeat(...sizes: number[] | [number[]]): Tensor;
  expandAs(other: Tensor): Tensor;
  /** 2-D transpose (PyTorch's `t()`). */
  t(): Tensor;
  /** Storage is always contiguous: returns this. */
  contiguous(): Tensor;
}

/** Read-only properties computed from the tensor (PyTorch's `x.T`). */
interface Getters {
  /** The tensor with its dims reversed (PyTorch's Tensor.T): a transpose for 2-D, itself for 0-D and 1-D. Copies. */
  readonly T: Tensor;
}

declare module './tensor' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends TableMethods, VariantMethods, Getters {}
}

/** `f(2, 3)` and `f([2, 3])` are the same call (PyTorch accepts both). */
function flatArgs(args: number[] | [number[]]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return args[0] as number[];
  return args as number[];
}

type Impl<T> = { [K in keyof T]: (this: Tensor, ...args: never[]) => unknown };

const variants: Impl<VariantMethods> = {
  size(this: Tensor, dim?: number) {
    if (dim === undefined) return this.shape.slice();
    return this.shape[normDim('size', 'dim', dim, this.ndim)];
  },
  to(this: Tensor, target: DType | Device | 'cuda:0') {
    if (target === 'cpu' || (typeof target === 'string' && target.startsWith('cuda'))) return sh.toDevice(this, target);
    return sh.toDtype(this, target as DType);
  },
  cpu(this: Tensor) { return sh.toDevice(this, 'cpu'); },
  cuda(this: Tensor) { return sh.toDevice(this, 'cuda'); },
  float(this: Tensor) { return this.to('float32'); },
  double(this: Tensor) { return this.to('float64'); },
  int(this: Tensor) { return this.to('int32'); },
  bool(this: Tensor) { return this.to('bool'); },
  backward(this: Tensor, grad?: Tensor | number, options: { retainGraph?: boolean } = {}) {
    runBackward([this], grad === undefined ? [undefined] : [grad], options);
  },
  copy_(this: Tensor, src: Tensor) {
    checkInPlace(this, 'copy_');
    const s = checkTensor('copy_', 'src', src);
    if (shapeStr(s.shape) !== shapeStr(this.shape)) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(this.shape)}`, 'copy_(src)', shapeStr(s.shape));
    if (this.device === 'cuda') {
      // Across devices and dtypes as PyTorch's copy_: src moved and converted first (untracked; a
      // float64 one rounds on the host, which has that dtype), then one device copy.
      const v = noGrad(() => (s.dtype === 'float64' ? s.to('float32') : s).to('cuda').to(this.dtype));
      nc.copyStrided(v.data, this.data, [this.numel()], [1]);
    } else this.data.set(s.device === 'cuda' ? s.toArray() : s.data); // a download converts like any host copy
    bumpVersion(this.data);
    return this;
  },
  add_(this: Tensor, other: Tensor | number, alpha = 1) { checkInPlace(this, 'add_'); inplace.binary('add_', this, other, alpha); return this; },
  sub_(this: Tensor, other: Tensor | number, alpha = 1) { checkInPlace(this, 'sub_'); inplace.binary('sub_', this, other, alpha); return this; },
  mul_(this: Tensor, other: Tensor | number) { checkInPlace(this, 'mul_'); inplace.binary('mul_', this, other, 1); return this; },
  div_(this: Tensor, other: Tensor | number) { checkInPlace(this, 'div_'); inplace.binary('div_', this, other, 1); return this; },
  lerp_(this: Tensor, end: Tensor, weight: number) { checkInPlace(this, 'lerp_'); inplace.lerp(this, end, weight); return this; },
  gelu(this: Tensor, approximate: 'none' | 'tanh' = 'none') { return ew.gelu(this, { approximate }); },
  clampMin(this: Tensor, min: number) { return ew.clamp(this, min, null); },
  clampMax(this: Tensor, max: number) { return ew.clamp(this, null, max); },
  where(this: Tensor, condition: Tensor, other: Tensor | number) { return ew.where(condition, this, other); },
  max(this: Tensor, dim?: number, keepdim = false) { return dim === undefined ? red.max(this) : red.max(this, dim, keepdim); },
  min(this: Tensor, dim?: number, keepdim = false) { return dim === undefined ? red.min(this) : red.min(this, dim, keepdim); },
  reshape(this: Tensor, ...shape: number[] | [number[]]) { return sh.reshape(this, flatArgs(shape)); },
  view(this: Tensor, ...shape: number[] | [number[]]) { return sh.reshape(this, flatArgs(shape), 'view'); },
  permute(this: Tensor, ...dims: number[] | [number[]]) { return sh.permute(this, flatArgs(dims)); },
  expand(this: Tensor, ...shape: number[] | [number[]]) { return sh.expand(this, flatArgs(shape)); },
  repeat(this: Tensor, ...sizes: number[] | [number[]]) { return sh.repeat(this, flatArgs(sizes)); },
  expandAs(this: Tensor, other: Tensor) { return sh.expand(this, other.shape); },
  t(this: Tensor) {
    if (this.ndim > 2) throw rangeError('a tensor with at most 2 dims', 't(this)', `shape ${shapeStr(this.shape)}`, true);
    return this.ndim < 2 ? this : sh.transpose(this, 0, 1);
  },
  contiguous(this: Tensor) { return this; },
};

/** Non-enumerable, like class methods, so that tensors compare and print as before. */
function attach(name: string, fn: (this: Tensor, ...args: never[]) => unknown): void {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}

for (const [name, r] of Object.entries(OP_TABLE)) {
  if (r.method !== true) continue;
  // Fixed arity (the longest row, slice, takes 4 after x) rather than ...rest: no array per call on
  // the small-tensor path. Missing arguments arrive as undefined, which is what defaults expect.
  const fn = r.fn as (x: Tensor, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => unknown;
  attach(name, function (this: Tensor, a?: unknown, b?: unknown, c?: unknown, d?: unknown) { return fn(this, a, b, c, d); });
}
for (const [name, fn] of Object.entries(variants)) attach(name, fn);

const getters: { [K in keyof Getters]: (this: Tensor) => Getters[K] } = {
  T(this: Tensor) {
    return this.ndim < 2 ? this : sh.permute(this, this.shape.map((_, i) => this.ndim - 1 - i));
  },
};
for (const [name, get] of Object.entries(getters)) {
  Object.defineProperty(Tensor.prototype, name, { get, configurable: true, enumerable: false });
}

/** The names this module attaches (the op-table test checks each has a test row). */
export const TABLE_METHODS: readonly string[] = Object.entries(OP_TABLE).filter(([, r]) => r.method === true).map(([k]) => k);
export const VARIANT_METHODS: readonly string[] = Object.keys(variants);
export const GETTERS: readonly string[] = Object.keys(getters);
