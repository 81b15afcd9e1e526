/**
 * Shared plumbing of the ops: argument checks in the package grammar (op name + argument name),
 * broadcasting, and the strided row iterator that every broadcasting/reducing loop runs on.
 */
import { type SelfsupError, rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { Tensor, arrayCtor, checkLive, isFloatDType, type DType, type TensorData } from '../tensor';
import { checkKnownKeys } from '../validate';
import * as nc from './native-core';
import { type CudaDType, type DeviceArray, cast as cudaCast } from '../cuda';

export type Arr = TensorData;

/**
 * The ops that run on 'cuda' (docs/cuda.md): the elementwise/reduction/softmax core, the views and
 * copies, dtype conversion, the fused families. Every other op refuses a cuda tensor in checkTensor with
 * ERR_NO_DEVICE, before it could read the DeviceArray as a host array.
 */
export const CUDA_OPS: ReadonlySet<string> = new Set([
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq',
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'abs', 'relu', 'sigmoid', 'tanh', 'clamp',
  'sum', 'mean', 'amax', 'amin', 'softmax', 'logSoftmax',
  'reshape', 'view', 'squeeze', 'unsqueeze', 'flatten', 'transpose', 'permute', 'expand', 'clone', 'to',
  'narrow', 'slice', 'split', 'chunk', 'max', 'min', 'cat', 'stack', 'mse', 'argmax', 'argmin',
  // the fused families (lib/ops/fused-device.ts)
  'attention', 'infoNCE', 'vicreg', 'varianceLoss', 'covarianceLoss', 'barlowTwins', 'sinkhorn',
  'gatherTokens', 'scatterTokens', 'stochasticPositions',
  'matmul', 'bmm', 'linear', 'gelu', 'layerNorm', 'splitHeads',
  // compositions of the above, the device select (native/ops/where) and strided copies
  'where', 'isnan', 'allclose', 'silu', 'var', 'std', 'norm', 'logsumexp', 'normalize', 'cosineSimilarity',
  'smoothL1', 'crossEntropy', 'flip', 'repeat', 'tril', 'triu', 'swavLoss', 'msnLoss', 'koleo',
  'embedding', 'indexSelect', 'dropout', 'batchNorm', 'einsum', 'cumsum', 'conv2d',
  // in place (the EMA target update)
  'add_', 'sub_', 'mul_', 'div_', 'lerp_', 'copy_',
]);

/** ERR_NO_DEVICE for an op without a CUDA kernel. */
export function noCudaKernel(op: string, arg: string): SelfsupError {
  return selfsupError('ERR_NO_DEVICE', "a Tensor on 'cpu'", `${op}(${arg})`, `a cuda Tensor: ${op} has no CUDA kernel yet; call .cpu() first`);
}

/**
 * ERR_UNSUPPORTED for a bfloat16 / float16 cuda tensor given to an op whose CUDA kernel runs in
 * float32 only (GELU, LayerNorm): never a silent cast.
 */
export function checkCudaFloat32(op: string, arg: string, x: Tensor): void {
  if (x.device === 'cuda' && x.dtype !== 'float32') {
    throw selfsupError('ERR_UNSUPPORTED', "a float32 Tensor on 'cuda'", `${op}(${arg})`, `a ${x.dtype} cuda Tensor: ${op} runs in float32 only on cuda; call .to('float32') first`);
  }
}

/** A Tensor argument (optionally of given dtypes). */
export function checkTensor(op: string, arg: string, x: unknown, dtypes?: readonly DType[]): Tensor {
  if (!(x instanceof Tensor)) throw typeError(dtypes ? `a ${dtypes.join(' or ')} Tensor` : 'a Tensor', `${op}(${arg})`, x);
  if (x.device === 'cuda') {
    if (!CUDA_OPS.has(op)) throw noCudaKernel(op, arg);
    // float32 stands for the floating dtypes on the device (bfloat16 and float16 are cuda-only).
    if (dtypes && !dtypes.includes(x.dtype) && !(dtypes.includes('float32') && (x.dtype === 'bfloat16' || x.dtype === 'float16'))) {
      throw typeError(`a ${dtypes.join(' or ')} Tensor`, `${op}(${arg})`, x);
    }
    return checkLive(x, `${op}(${arg})`);
  }
  if (dtypes && !dtypes.includes(x.dtype)) throw typeError(`a ${dtypes.join(' or ')} Tensor`, `${op}(${arg})`, x);
  return checkLive(x, `${op}(${arg})`);
}

export const FLOATS: readonly DType[] = ['float32', 'float64'];

export function checkFloat(op: string, arg: string, x: unknown): Tensor {
  return checkTensor(op, arg, x, FLOATS);
}

/** `other` must have the dtype of `ref`: the ops outside the binary elementwise family do not promote (docs/tensor-core.md). */
export function checkSameDtype(op: string, arg: string, x: Tensor, ref: Tensor, refArg: string): void {
  if (x.dtype !== ref.dtype) {
    throw selfsupError('ERR_DTYPE_MISMATCH', `a ${ref.dtype} Tensor (the dtype of ${refArg})`, `${op}(${arg})`, `a ${x.dtype} Tensor of shape ${shapeStr(x.shape)}`);
  }
  if (x.device !== ref.device) {
    throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${ref.device}' (the device of ${refArg})`, `${op}(${arg})`, `a Tensor on '${x.device}'`);
  }
}

/** A number operand becomes a scalar tensor of `like`'s dtype (and device). */
export function scalarLike(v: number, like: Tensor): Tensor {
  const a = new (arrayCtor(like.dtype))(1);
  a[0] = v;
  return like.device === 'cuda' ? toCuda(new Tensor(a, []), like.dtype) : new Tensor(a, []);
}

/**
 * `t` (a host tensor) on 'cuda' in `dtype` (bfloat16 / float16 through a float32 upload and a
 * device cast). Not recorded by autograd.
 */
export function toCuda(t: Tensor, dtype: DType = t.dtype): Tensor {
  if (dtype === 'bfloat16' || dtype === 'float16') {
    const f = toCuda(t, 'float32');
    const out = castCuda(f, dtype);
    f.dispose();
    return out;
  }
  // Another host dtype converts on the host first (scalars: a float64 number tensor to float32).
  const data = t.dtype === dtype ? t.data : new (arrayCtor(dtype))(t.data as ArrayLike<number>);
  return new Tensor(data, t.shape, { device: 'cuda' });
}

/** Binary operands: at least one Tensor, numbers become scalars, same dtype and device. */
export function binaryOperands(op: string, a: unknown, b: unknown, dtypes: readonly DType[] = FLOATS): [Tensor, Tensor] {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw typeError('a Tensor', `${op}(a)`, a);
  if (a instanceof Tensor) checkTensor(op, 'a', a, dtypes);
  else if (typeof a !== 'number') throw typeError('a Tensor or a number', `${op}(a)`, a);
  if (b instanceof Tensor) checkTensor(op, 'b', b, dtypes);
  else if (typeof b !== 'number') throw typeError('a Tensor or a number', `${op}(b)`, b);
  const A = a instanceof Tensor ? a : scalarLike(a as number, b as Tensor);
  const B = b instanceof Tensor ? b : scalarLike(b as number, A);
  checkSameDtype(op, 'b', B, A, 'a');
  return [A, B];
}

/** NumPy broadcasting; the error names both shapes. */
export function broadcastShapes(op: string, arg: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a.length - r + i >= 0 ? a[a.length - r + i] : 1;
    const db = b.length - r + i >= 0 ? b[b.length - r + i] : 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `shapes broadcastable with ${shapeStr(a)}`, `${op}(${arg})`, shapeStr(b));
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Strides of `shape` read as `outShape` (right-aligned; 0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const st = contiguousStrides(shape);
  const r = outShape.length, off = r - shape.length;
  const out = new Array<number>(r).fill(0);
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 && outShape[off + i] !== 1 ? 0 : st[i];
  return out;
}

/** Normalizes a dim (negative counts from the end); RangeError names op and argument. */
export function normDim(op: string, arg: string, dim: unknown, ndim: number): number {
  if (typeof dim !== 'number') throw typeError('an integer', `${op}(${arg})`, dim);
  const lo = -Math.max(ndim, 1), hi = Math.max(ndim, 1) - 1;
  if (!Number.isInteger(dim) || dim < lo || dim > hi) throw rangeError(`an integer in [${lo}, ${hi}]`, `${op}(${arg})`, dim);
  return dim < 0 ? dim + Math.max(ndim, 1) : dim;
}

/** Dims to reduce: undefined/null = all; sorted, unique. */
export function normDims(op: string, arg: string, dims: unknown, ndim: number): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = Array.isArray(dims) ? dims : [dims];
  const out = list.map((d, i) => normDim(op, Array.isArray(dims) ? `${arg}[${i}]` : arg, d, ndim));
  const uniq = [...new Set(out)].sort((x, y) => x - y);
  if (uniq.length !== out.length) throw rangeError('distinct dims', `${op}(${arg})`, list);
  return ndim === 0 ? [] : uniq;
}

export function newArray(dtype: DType, n: number): Arr {
  return new (arrayCtor(dtype))(n);
}

/** A new tensor with t's values, in `shape` (same size); on t's device. Not recorded. */
export function cloneRaw(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  if (t.device !== 'cuda') return new Tensor(t.data.slice(), shape);
  const out = nc.deviceArray(t.dtype, t.numel());
  nc.copyStrided(t.data, out, [t.numel()], [1]);
  return new Tensor(out, shape);
}

/** t converted to `dtype` on 'cuda' (a device cast). Not recorded. */
export function castCuda(t: Tensor, dtype: DType): Tensor {
  return new Tensor(cudaCast(t.data as unknown as DeviceArray, dtype as CudaDType), t.shape);
}

/** A zeroed array of n elements on `device` (on 'cuda' a host array of zeros uploaded once). */
export function zerosArray(dtype: DType, n: number, device: 'cpu' | 'cuda' = 'cpu'): Arr {
  if (device !== 'cuda') return newArray(dtype, n);
  const half = dtype === 'bfloat16' || dtype === 'float16';
  const t = toCuda(new Tensor(newArray(half ? 'float32' : dtype, n), [n]), dtype);
  return t.data;
}

/** A zeroed tensor of x's dtype (uninitialized on 'cuda': only for outputs written in full). */
export function emptyLike(x: Tensor, shape: readonly number[] = x.shape): Tensor {
  if (x.device === 'cuda') return new Tensor(nc.deviceArray(x.dtype, sizeOf(shape)), shape);
  return new Tensor(newArray(x.dtype, sizeOf(shape)), shape);
}

export function isFloat(x: Tensor): boolean {
  return isFloatDType(x.dtype);
}

/**
 * Iterates `shape` in row-major order for several operands with given strides (element units),
 * calling `fn(offsets, n, rowStrides)` once per row. Adjacent dims are coalesced whenever every
 * operand is contiguous across them, so same-shape contiguous operands run as ONE row: the
 * per-row callback is the only indirection, the inner loops stay plain typed-array loops.
 */
export function forEachRow(shape: readonly number[], strides: number[][], fn: (offs: number[], n: number, rs: number[]) => void): void {
  const k = strides.length;
  const sizes: number[] = [];
  const sts: number[][] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d];
    if (size === 0) return;
    if (size === 1) continue;
    const last = sizes.length - 1;
    if (last >= 0 && strides.every((s, j) => s[d] === sts[last][j] * sizes[last])) {
      sizes[last] *= size;
    } else {
      sizes.push(size);
      sts.push(strides.map((s) => s[d]));
    }
  }
  const offs = new Array<number>(k).fill(0);
  if (sizes.length === 0) {
    fn(offs, 1, new Array<number>(k).fill(0));
    return;
  }
  const n = sizes[0], rs = sts[0];
  const nd = sizes.length;
  const idx = new Array<number>(nd).fill(0);
  for (;;) {
    fn(offs, n, rs);
    let d = 1;
    for (; d < nd; d++) {
      idx[d]++;
      const st = sts[d];
      for (let j = 0; j < k; j++) offs[j] += st[j];
      if (idx[d] < sizes[d]) break;
      for (let j = 0; j < k; j++) offs[j] -= st[j] * sizes[d];
      idx[d] = 0;
    }
    if (d === nd) return;
  }
}

/** Sums `g` (of a broadcast shape) down to `shape`: the gradient of broadcasting. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  if (nc.core() || g.device === 'cuda') {
    const nout = nc.outArray(g.dtype, sizeOf(shape), g.device);
    if (nc.sumTo(g.data, g.shape, shape, nout)) return new Tensor(nout, shape);
  }
  const out = newArray(g.dtype, sizeOf(shape)); // the loop below accumulates: zeroed
  const os = broadcastStrides(shape, g.shape);
  const gd = g.data;
  forEachRow(g.shape, [contiguousStrides(g.shape), os], (o, n, s) => {
    const go = o[0], oo = o[1], ost = s[1];
    if (ost === 0) {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += gd[go + i];
      out[oo] += acc;
    } else for (let i = 0; i < n; i++) out[oo + i * ost] += gd[go + i];
  });
  return new Tensor(out, shape);
}

/** Copies `x` broadcast to `shape` (shape must be a broadcast of x.shape). */
export function expandRaw(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const out = nc.outArray(x.dtype, sizeOf(shape), x.device); // written in full
  const xs = broadcastStrides(x.shape, shape);
  const xd = x.data;
  if (nc.copyStrided(xd, out, shape, xs)) return new Tensor(out, shape);
  forEachRow(shape, [contiguousStrides(shape), xs], (o, n, s) => {
    const oo = o[0], xo = o[1], xst = s[1];
    for (let i = 0; i < n; i++) out[oo + i] = xd[xo + i * xst];
  });
  return new Tensor(out, shape);
}

/** (outer, size, inner) split of a tensor around one dim: element (o, d, i) is at (o*size + d)*inner + i. */
export function splitAt(shape: readonly number[], dim: number): { outer: number; size: number; inner: number } {
  let outer = 1, inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i];
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, size: shape.length ? shape[dim] : 1, inner };
}

/**
 * Reads an options bag (undefined -> {}), TypeError on anything but a plain object, and on a key
 * outside `known`: a misspelt option (`temprature`) would otherwise be ignored for its default.
 */
export function opts<T extends object>(op: string, value: unknown, known: readonly (keyof T & string)[], arg = 'options'): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Tensor) throw typeError('an options object', `${op}(${arg})`, value);
  checkKnownKeys(`${op}(${arg})`, value, known);
  return value as Partial<T>;
}

export function optNumber(op: string, name: string, v: unknown, dflt: number, o: { min?: number; max?: number; minExclusive?: boolean; integer?: boolean } = {}): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError(o.integer ? 'an integer' : 'a number', `${op}(${name})`, v);
  if (Number.isNaN(v) || (o.integer && !Number.isInteger(v))) throw rangeError(o.integer ? 'an integer' : 'a number', `${op}(${name})`, v);
  if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min)) throw rangeError(`a number ${o.minExclusive ? '>' : '>='} ${o.min}`, `${op}(${name})`, v);
  if (o.max !== undefined && v > o.max) throw rangeError(`a number <= ${o.max}`, `${op}(${name})`, v);
  return v;
}

export function optBool(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError('a boolean', `${op}(${name})`, v);
  return v;
}

export function optEnum<T extends string>(op: string, name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  const exp = allowed.map((a) => `'${a}'`).join(' | ');
  if (typeof v !== 'string') throw typeError(exp, `${op}(${name})`, v);
  if (!allowed.includes(v as T)) throw rangeError(exp, `${op}(${name})`, v);
  return v as T;
}
