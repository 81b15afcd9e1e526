/**
 * The native tensor core (native/ops/tensor) as array-level helpers for lib/ops: elementwise with
 * broadcasting, reductions, softmax, strided copies and in-place accumulation, each one
 * multithreaded SIMD pass. Every helper returns false (or null) when the native backend is off
 * (SELFSUP_BACKEND=reference, no addon) or the shape is beyond the native loop's rank, and the
 * caller then runs its TypeScript loop, which stays the reference.
 *
 * Shapes travel in one reused Float64Array (`META`), so a call costs a few N-API conversions and
 * no JS array allocation: the fixed cost of a small op stays at a few microseconds.
 *
 * Cuda tensors (docs/cuda.md): their storage is a DeviceArray, which the same bindings accept
 * (the CUDA build enqueues the CUDA kernel). With any operand on the device every helper runs the
 * device path or throws; none returns false there (the callers' TypeScript loops would read a
 * DeviceArray as an empty array), and mixing device and host arrays is ERR_DEVICE_MISMATCH.
 */
import { tryNative } from '../backends/native';
import type { NativeAddon } from '../backends/native-api';
import type { Device, DType, TensorData } from '../tensor';
import { selfsupError } from '../errors';
import { DeviceArray, cudaAddon, type CudaDType, type CudaMatmulPlan } from '../cuda';
import { takeWarm, uninitialized } from '../storage';

type F = Float32Array | Float64Array;

type TensorCoreAddon = Pick<NativeAddon, 'tensorBinary' | 'tensorUnary' | 'tensorUnaryBackward' | 'tensorReduce' | 'tensorSoftmax' | 'tensorSoftmaxBackward' | 'tensorCopy' | 'tensorAxpy'>;

/** Op codes: the order of the enums in native/ops/tensor/params.h. */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, gt: 7, ge: 8, lt: 9, le: 10, eq: 11, ne: 12 } as const;
export const UnaryOp = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, square: 5, abs: 6, relu: 7, sigmoid: 8, tanh: 9,
  affine: 10, clamp: 11, powScalar: 12, leakyRelu: 13,
} as const;
export const ReduceOp = { sum: 0, max: 1, min: 2 } as const;
export type BinaryOpName = keyof typeof BinaryOp;
export type UnaryOpName = keyof typeof UnaryOp;

/**
 * Below this many elements the TypeScript loop is faster than crossing into native code (the
 * N-API conversions cost ~1 us, a small loop a few ns per element): the helpers decline and the
 * caller runs its loop. Measured with `selfsup bench tensor` (small-add row).
 */
export const SMALL = 512;
let small = SMALL;
/**
 * Sets the size below which the TypeScript loops run (tests set 0 so that every shape of the op
 * table exercises the native core; the loops are then checked under SELFSUP_BACKEND=reference).
 */
export function setNativeMinElements(n: number): void {
  small = n;
}
/** The deepest shape sent natively (the native side coalesces dims; 16 is its loop limit). */
const MAX_ND = 16;
const META = new Float64Array(1 + 3 * MAX_ND + 1);
const META_DST = new Float64Array(1 + 3 * MAX_ND + 2);

type Arg = TensorData | DeviceArray;
function isDev(x: unknown): x is DeviceArray {
  return x instanceof DeviceArray;
}
/** The tensor core that takes device arrays (the CUDA build of the addon), for `op`. */
function deviceCore(op: string, ...args: Array<Arg | null>): TensorCoreAddon {
  args.forEach((x, i) => {
    if (x !== null && !isDev(x)) throw selfsupError('ERR_DEVICE_MISMATCH', "operands on 'cuda' (another operand is)", `${op}(operand ${i})`, 'a host array');
  });
  return cudaAddon(op) as unknown as TensorCoreAddon;
}
function anyDev(...args: Array<Arg | null>): boolean {
  for (const x of args) if (isDev(x)) return true;
  return false;
}

let cached: TensorCoreAddon | null | undefined;
/** The addon's tensor core, or null on the reference backend (decided once per process). */
export function core(): TensorCoreAddon | null {
  if (cached === undefined) {
    const a = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();
    cached = a && typeof a.tensorBinary === 'function' ? a : null; // an addon built before the tensor core lacks it
  }
  return cached;
}

function isFloatArray(x: TensorData): x is F {
  return x instanceof Float32Array || x instanceof Float64Array;
}

/**
 * out = a (op) b with NumPy broadcasting of a [aShape] and b [bShape] to outShape (out is
 * contiguous; bool Uint8Array for comparisons). out may be `a` itself (in place).
 */
export function binary(op: BinaryOpName, out: TensorData, outShape: readonly number[], a: TensorData, aShape: readonly number[], b: TensorData, bShape: readonly number[]): boolean {
  const dev = anyDev(out, a, b);
  const c = dev ? deviceCore(op, out, a, b) : core();
  const nd = outShape.length;
  if (dev && nd > MAX_ND) throw tooDeep(op, nd);
  if (!dev && (!c || nd > MAX_ND || out.length < small || !isFloatArray(a) || !isFloatArray(b))) return false;
  if (!c) return false;
  const m = META;
  m[0] = nd;
  const oa = nd - aShape.length, ob = nd - bShape.length;
  for (let d = 0; d < nd; d++) {
    m[1 + d] = outShape[d];
    m[1 + nd + d] = d < oa ? 1 : aShape[d - oa];
    m[1 + 2 * nd + d] = d < ob ? 1 : bShape[d - ob];
  }
  c.tensorBinary(BinaryOp[op], out, a as F, b as F, m, takeWarm(out));
  return true;
}

/** y = f(x) elementwise (y may be x). */
export function unary(op: UnaryOpName, x: TensorData, y: TensorData, p0 = 0, p1 = 0): boolean {
  if (anyDev(x, y)) {
    deviceCore(op, x, y).tensorUnary(UnaryOp[op], x as F, y as F, p0, p1);
    return true;
  }
  const c = core();
  if (!c || x.length < small || !isFloatArray(x) || !isFloatArray(y)) return false;
  c.tensorUnary(UnaryOp[op], x, y, p0, p1, takeWarm(y));
  return true;
}

/** gx = g * f'(.), with s the saved input or output (see native/ops/tensor/params.h). */
export function unaryBackward(op: UnaryOpName, g: TensorData, s: TensorData | null, gx: TensorData, p0 = 0, p1 = 0): boolean {
  if (anyDev(g, s, gx)) {
    deviceCore(`${op} backward`, g, s, gx).tensorUnaryBackward(UnaryOp[op], g as F, s as F | null, gx as F, p0, p1);
    return true;
  }
  const c = core();
  if (!c || g.length < small || !isFloatArray(g) || !isFloatArray(gx) || (s !== null && !isFloatArray(s))) return false;
  c.tensorUnaryBackward(UnaryOp[op], g, s as F | null, gx, p0, p1, takeWarm(gx));
  return true;
}

/**
 * out (the keepdim shape, contiguous) = scale * sum (or max / min) of x [shape] over the dims
 * whose `reduced` flag is set.
 */
export function reduce(op: keyof typeof ReduceOp, x: TensorData, shape: readonly number[], reduced: readonly boolean[], out: TensorData, scale = 1): boolean {
  const dev = anyDev(x, out);
  const c = dev ? deviceCore(op, x, out) : core();
  const nd = shape.length;
  if (dev && nd > MAX_ND) throw tooDeep(op, nd);
  if (!dev && (!c || nd > MAX_ND || x.length < small || !isFloatArray(x) || !isFloatArray(out))) return false;
  if (!c) return false;
  const m = META;
  m[0] = nd;
  for (let d = 0; d < nd; d++) {
    m[1 + d] = shape[d];
    m[1 + nd + d] = reduced[d] ? 1 : 0;
  }
  c.tensorReduce(ReduceOp[op], x as F, out as F, m, scale);
  return true;
}

/** Sums g [gShape] down to `shape` (a shape g was broadcast from): the gradient of broadcasting. */
export function sumTo(g: TensorData, gShape: readonly number[], shape: readonly number[], out: TensorData): boolean {
  const off = gShape.length - shape.length;
  const red: boolean[] = new Array(gShape.length);
  for (let d = 0; d < gShape.length; d++) red[d] = d < off || (shape[d - off] === 1 && gShape[d] !== 1);
  return reduce('sum', g, gShape, red, out);
}

export function softmax(log: boolean, x: TensorData, y: TensorData, outer: number, size: number, inner: number): boolean {
  if (anyDev(x, y)) {
    deviceCore(log ? 'logSoftmax' : 'softmax', x, y).tensorSoftmax(log, x as F, y as F, outer, size, inner);
    return true;
  }
  const c = core();
  if (!c || x.length < small || !isFloatArray(x) || !isFloatArray(y)) return false;
  c.tensorSoftmax(log, x, y, outer, size, inner);
  return true;
}

export function softmaxBackward(log: boolean, g: TensorData, y: TensorData, gx: TensorData, outer: number, size: number, inner: number): boolean {
  if (anyDev(g, y, gx)) {
    deviceCore(log ? 'logSoftmax backward' : 'softmax backward', g, y, gx).tensorSoftmaxBackward(log, g as F, y as F, gx as F, outer, size, inner);
    return true;
  }
  const c = core();
  if (!c || g.length < small || !isFloatArray(g) || !isFloatArray(y) || !isFloatArray(gx)) return false;
  c.tensorSoftmaxBackward(log, g, y, gx, outer, size, inner);
  return true;
}

/**
 * dst = src over `shape`, src read with element strides `srcStrides` from `srcOffset`; dst is
 * contiguous, or written with `dstStrides` from `dstOffset` when given.
 */
export function copyStrided(src: TensorData, dst: TensorData, shape: readonly number[], srcStrides: readonly number[], srcOffset = 0, dstStrides?: readonly number[], dstOffset = 0): boolean {
  const dev = anyDev(src, dst);
  const c = dev ? deviceCore('copy', src, dst) : core();
  const nd = shape.length;
  if (dev && nd > MAX_ND) throw tooDeep('copy', nd);
  if (!dev && (!c || nd > MAX_ND || dst.length < small)) return false;
  if (!c) return false;
  const m = dstStrides ? META_DST : META;
  m[0] = nd;
  for (let d = 0; d < nd; d++) {
    m[1 + d] = shape[d];
    m[1 + nd + d] = srcStrides[d];
    if (dstStrides) m[2 + 2 * nd + d] = dstStrides[d];
  }
  m[1 + 2 * nd] = srcOffset;
  if (dstStrides) m[2 + 3 * nd] = dstOffset;
  // The binding tells the two forms apart by the meta's length: pass exactly that many entries.
  c.tensorCopy(src, dst, m.subarray(0, dstStrides ? 3 + 3 * nd : 2 + 2 * nd));
  return true;
}

/** y += alpha * x (same length). */
export function axpy(y: TensorData, x: TensorData, alpha = 1): boolean {
  if (anyDev(y, x)) {
    deviceCore('axpy', y, x).tensorAxpy(y as F, x as F, alpha);
    return true;
  }
  const c = core();
  if (!c || y.length < small || !isFloatArray(y) || !isFloatArray(x) || y.constructor !== x.constructor) return false;
  c.tensorAxpy(y, x, alpha);
  return true;
}

/**
 * Storage for an op output: uninitialized when the native core will write every element (no
 * zero-fill pass), zeroed otherwise (the TypeScript loops accumulate into some outputs).
 */
export function outArray(dtype: DType, n: number, device: Device = 'cpu'): TensorData {
  if (device === 'cuda') return deviceArray(dtype, n);
  if (core() && (dtype === 'float32' || dtype === 'float64')) return uninitialized(dtype === 'float32' ? Float32Array : Float64Array, n);
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int32': return new Int32Array(n);
    default: return new Uint8Array(n);
  }
}

function tooDeep(op: string, nd: number): Error {
  return selfsupError('ERR_UNSUPPORTED', `at most ${MAX_ND} dims for ${op} on 'cuda'`, `${op}(x)`, `${nd} dims`);
}

/** Uninitialized device storage of a cuda dtype, typed as TensorData for the op code. */
export function deviceArray(dtype: DType, n: number): TensorData {
  if (dtype === 'float64') throw selfsupError('ERR_UNSUPPORTED', "a float32, bfloat16, float16, int32 or bool tensor on 'cuda'", 'dtype', "float64 (float64 tensors stay on 'cpu')");
  return new DeviceArray(dtype as CudaDType, n) as unknown as TensorData;
}

/** idx (int32) = the index of the max (min) of x [outer, size, inner] along the middle dim, vals (optional) the values there; 'cuda' only. */
export function argReduceDevice(isMax: boolean, x: TensorData, idx: TensorData, outer: number, size: number, inner: number, vals: TensorData | null = null): void {
  deviceCore(isMax ? 'argmax' : 'argmin', x, idx, vals);
  cudaAddon(isMax ? 'argmax' : 'argmin').cudaArgReduce(isMax, x as unknown as DeviceArray, vals as unknown as DeviceArray | null, idx as unknown as DeviceArray, outer, size, inner);
}

// ---- the model path on 'cuda' (native/napi/cuda_linalg.cc) ----------------------------------
// Each checks that every operand is a device array (ERR_DEVICE_MISMATCH otherwise), then calls the
// CUDA export with the CPU export's argument layout.

const dev = (x: TensorData | null): DeviceArray | null => x as unknown as DeviceArray | null;

/** out = op(a) op(b) (+ bias rows) on 'cuda'. */
export function matmulDevice(a: TensorData, b: TensorData, out: TensorData, bias: TensorData | null, plan: CudaMatmulPlan): void {
  deviceCore('matmul', a, b, out, bias);
  cudaAddon('matmul').cudaMatmul(dev(a)!, dev(b)!, dev(out)!, dev(bias), plan);
}

/** y = gelu(x) on 'cuda' (mode 0 erf, 1 tanh); x is [rows, cols] (float32). */
export function geluDevice(x: TensorData, y: TensorData, mode: number): void {
  deviceCore('gelu', x, y);
  cudaAddon('gelu').cudaGeluForward(dev(x)!, null, dev(y)!, { rows: 1, cols: x.length, mode });
}

export function geluBackwardDevice(g: TensorData, x: TensorData, dx: TensorData, mode: number): void {
  deviceCore('gelu backward', g, x, dx);
  cudaAddon('gelu').cudaGeluBackward(dev(g)!, dev(x)!, null, dev(dx)!, null, { rows: 1, cols: x.length, mode });
}

/** LayerNorm over the rows of x [rows, n] on 'cuda'; mean and rstd are float32 device arrays [rows]. */
export function layerNormDevice(x: TensorData, w: TensorData | null, b: TensorData | null, y: TensorData, mean: TensorData, rstd: TensorData, rows: number, n: number, eps: number): void {
  deviceCore('layerNorm', x, w, b, y, mean, rstd);
  cudaAddon('layerNorm').cudaLayerNormForward(dev(x)!, dev(w), dev(b), dev(y)!, dev(mean)!, dev(rstd)!, { rows, cols: n, eps });
}

export function layerNormBackwardDevice(g: TensorData, x: TensorData, w: TensorData | null, mean: TensorData, rstd: TensorData, dx: TensorData, dw: TensorData | null, db: TensorData | null, rows: number, n: number): void {
  deviceCore('layerNorm backward', g, x, w, mean, rstd, dx, dw, db);
  cudaAddon('layerNorm').cudaLayerNormBackward(dev(g)!, dev(x)!, dev(w), dev(mean)!, dev(rstd)!, dev(dx)!, dev(dw), dev(db), { rows, cols: n });
}

/** out = cond ? a : b over contiguous operands of one length (cond bool); 'cuda' only (native/napi/cuda_more.cc). */
export function whereDevice(cond: TensorData, a: TensorData, b: TensorData, out: TensorData): void {
  deviceCore('where', cond, a, b, out);
  cudaAddon('where').cudaWhere(dev(cond)!, dev(a)!, dev(b)!, dev(out)!);
}

/** keep (bool, on 'cuda') = the Philox uniform at offset i of (seed, stream) is >= p (native/ops/dropout). */
export function dropoutMaskDevice(keep: TensorData, seed: number, stream: number, p: number): void {
  deviceCore('dropout', keep);
  cudaAddon('dropout').cudaDropoutMask(dev(keep)!, seed, stream, p);
}
