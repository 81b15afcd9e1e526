/**
 * The 'selfsup' backend's elementwise, reduction, softmax and data-movement kernels: the ones a
 * model.fit step spends its time in once the GEMMs are native (measured with tf.profile on the
 * docs/tfjs.md models). tfjs's cpu kernels index every element of a broadcast through
 * indexToLoc, and reduce a non-innermost axis by transposing first; these are single passes of
 * selfsup's native tensor core (native/ops/tensor: any NumPy broadcast, reductions over any axes
 * in double, strided copies). float32 only: other dtypes, tensors under the core's 512-element
 * threshold and a run without the native addon return null and take the cpu kernel.
 */
import {
  binary as nativeBinary, copyStrided, reduce as nativeReduce, softmax as nativeSoftmax, unary as nativeUnary,
  type BinaryOpName, type UnaryOpName,
} from '../ops/native-core';
import { f32Of, sizeOf, type BackendUtil, type CpuBackend, type KernelArgs, type TensorInfo } from './cpu';

type Fast = (args: KernelArgs) => TensorInfo | null;

// ---- native passes -----------------------------------------------------------------------------

/** Add, Sub, Multiply, RealDiv with any NumPy broadcast: one native pass. */
function binary(util: BackendUtil, op: BinaryOpName): Fast {
  return ({ inputs, backend }) => {
    const a = inputs.a!, b = inputs.b!;
    const A = f32Of(backend, a), B = f32Of(backend, b);
    if (!A || !B) return null;
    const shape = util.assertAndGetBroadcastShape(a.shape, b.shape);
    const y = new Float32Array(sizeOf(shape));
    return nativeBinary(op, y, shape, A, a.shape, B, b.shape) ? backend.makeTensorInfo(shape, 'float32', y) : null;
  };
}

function unary(op: UnaryOpName): Fast {
  return ({ inputs, backend }) => {
    const X = f32Of(backend, inputs.x);
    if (!X) return null;
    const y = new Float32Array(X.length);
    return nativeUnary(op, X, y) ? backend.makeTensorInfo(inputs.x!.shape, 'float32', y) : null;
  };
}

/** Sum / Mean over any axes, accumulated in double (tfjs's parseAxisParam: null = all, negatives from the end). */
function reduce(be: CpuBackend, t: TensorInfo, axis: unknown, keepDims: boolean, mean: boolean): TensorInfo | null {
  const X = f32Of(be, t);
  if (!X) return null;
  const rank = t.shape.length;
  const list = axis === null || axis === undefined ? [...Array(rank).keys()] : Array.isArray(axis) ? (axis as number[]) : [axis as number];
  const axes = list.map((a) => (a < 0 ? a + rank : a));
  if (axes.some((a) => !(a >= 0 && a < rank))) return null; // the cpu kernel throws its error
  const reduced = t.shape.map((_, i) => axes.includes(i));
  const count = sizeOf(t.shape.filter((_, i) => reduced[i]));
  const y = new Float32Array(sizeOf(t.shape.filter((_, i) => !reduced[i])));
  if (count === 0 || !nativeReduce('sum', X, t.shape, reduced, y, mean ? 1 / count : 1)) return null;
  const shape = keepDims ? t.shape.map((d, i) => (reduced[i] ? 1 : d)) : t.shape.filter((_, i) => !reduced[i]);
  return be.makeTensorInfo(shape, 'float32', y);
}

/** softmax over the last dim (the only one tfjs allows): float32 SIMD exp, sums in double. */
function softmax({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const t = inputs.logits!, X = f32Of(backend, t);
  const rank = t.shape.length;
  if (!X || rank === 0 || (attrs.dim !== -1 && attrs.dim !== rank - 1)) return null;
  const n = t.shape[rank - 1], y = new Float32Array(X.length);
  return n > 0 && nativeSoftmax(false, X, y, X.length / n, n, 1) ? backend.makeTensorInfo(t.shape, 'float32', y) : null;
}

/** Any permutation: one strided native copy. */
function transpose({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const x = inputs.x!, X = f32Of(backend, x);
  if (!X) return null;
  const perm = attrs.perm as number[];
  const strides = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const y = new Float32Array(X.length);
  return copyStrided(X, y, shape, perm.map((p) => strides[p])) ? backend.makeTensorInfo(shape, 'float32', y) : null;
}

// ---- relu and step (tfjs keeps NaN: relu(NaN) = step(NaN) = NaN) ---------------------------------

const ZERO = Float32Array.of(0);

/** relu(x) = maximum(x, 0) in place on `y` (may be x's array): the native maximum lets NaN win, as tf.relu. */
export function reluInPlace(x: Float32Array, shape: number[], y: Float32Array): boolean {
  return nativeBinary('maximum', y, shape, x, shape, ZERO, []);
}

function relu({ inputs, backend }: KernelArgs): TensorInfo | null {
  const X = f32Of(backend, inputs.x);
  if (!X) return null;
  const y = new Float32Array(X.length);
  return reluInPlace(X, inputs.x!.shape, y) ? backend.makeTensorInfo(inputs.x!.shape, 'float32', y) : null;
}

/** step(x) = x > 0 ? 1 : alpha, NaN for NaN: a native x > 0 mask, widened with the NaNs put back (alpha 0 only: relu's gradient). */
function step({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const X = f32Of(backend, inputs.x);
  if (!X || attrs.alpha !== 0) return null;
  const mask = new Uint8Array(X.length);
  if (!nativeBinary('gt', mask, inputs.x!.shape, X, inputs.x!.shape, ZERO, [])) return null;
  const y = new Float32Array(X.length);
  y.set(mask); // widened by the engine, not a JS loop
  for (let i = 0; i < X.length; i++) if (X[i] !== X[i]) y[i] = NaN;
  return backend.makeTensorInfo(inputs.x!.shape, 'float32', y);
}

// ---- data movement -----------------------------------------------------------------------------

/** GatherV2 with batchDims 0: x viewed as [outer, N, inner], rows picked by int32 indices. */
function gather({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const x = inputs.x!, ind = inputs.indices!;
  const X = backend.data.get(x.dataId).values, I = backend.data.get(ind.dataId).values;
  if (!(X instanceof Float32Array || X instanceof Int32Array) || !(I instanceof Int32Array) || (attrs.batchDims ?? 0) !== 0) return null;
  const rank = x.shape.length;
  const axis = (attrs.axis as number) < 0 ? (attrs.axis as number) + rank : (attrs.axis as number);
  if (!(axis >= 0 && axis < rank)) return null;
  const N = x.shape[axis], outer = sizeOf(x.shape.slice(0, axis)), inner = sizeOf(x.shape.slice(axis + 1));
  for (let i = 0; i < I.length; i++) if (!(I[i] >= 0 && I[i] < N)) return null; // the cpu kernel throws its error
  const y = new (X.constructor as Float32ArrayConstructor)(outer * I.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < I.length; i++) {
      const src = (o * N + I[i]) * inner;
      y.set(X.subarray(src, src + inner), (o * I.length + i) * inner);
    }
  }
  return backend.makeTensorInfo([...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)], x.dtype, y);
}

const stridesOf = (shape: number[]): number[] => shape.map((_, i) => sizeOf(shape.slice(i + 1)));

/**
 * A slice that is not one contiguous run (tfjs's cpu kernel reads those element by element; a
 * contiguous one it returns as a subarray, without a copy, so that case stays there).
 */
function slice({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const x = inputs.x!, X = f32Of(backend, x);
  const rank = x.shape.length, begin = attrs.begin as number[], sz = attrs.size as number[];
  if (!X || !Array.isArray(begin) || !Array.isArray(sz) || begin.length !== rank || sz.length !== rank) return null;
  const size = sz.map((d, i) => (d === -1 ? x.shape[i] - begin[i] : d));
  if (size.some((d, i) => !(begin[i] >= 0 && d >= 0 && begin[i] + d <= x.shape[i]))) return null;
  const first = size.findIndex((d) => d !== 1);
  if (first < 0 || size.every((d, i) => i <= first || (begin[i] === 0 && d === x.shape[i]))) return null;
  const st = stridesOf(x.shape), y = new Float32Array(sizeOf(size));
  const offset = begin.reduce((acc, b, i) => acc + b * st[i], 0);
  return copyStrided(X, y, size, st, offset) ? backend.makeTensorInfo(size, 'float32', y) : null;
}

/** Tile: the output viewed as [r0, s0, r1, s1, ...] is x read with stride 0 along every r axis. */
function tile({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const x = inputs.x!, X = f32Of(backend, x), reps = attrs.reps as number[];
  if (!X || reps.length !== x.shape.length) return null;
  const st = stridesOf(x.shape), shape = x.shape.map((d, i) => d * reps[i]);
  const y = new Float32Array(sizeOf(shape));
  const ok = copyStrided(X, y, x.shape.flatMap((d, i) => [reps[i], d]), st.flatMap((s) => [0, s]));
  return ok ? backend.makeTensorInfo(shape, 'float32', y) : null;
}

/** PadV2: the constant everywhere, then x copied into the interior with the output's strides. */
function pad({ inputs, backend, attrs }: KernelArgs): TensorInfo | null {
  const x = inputs.x!, X = f32Of(backend, x), p = attrs.paddings as [number, number][];
  if (!X || p.length !== x.shape.length || p.some(([lo, hi]) => lo < 0 || hi < 0)) return null;
  const shape = x.shape.map((d, i) => p[i][0] + d + p[i][1]), ost = stridesOf(shape);
  const y = new Float32Array(sizeOf(shape)).fill(attrs.constantValue as number);
  const offset = p.reduce((acc, [lo], i) => acc + lo * ost[i], 0);
  return copyStrided(X, y, x.shape, stridesOf(x.shape), 0, ost, offset) ? backend.makeTensorInfo(shape, 'float32', y) : null;
}

export function elementwiseKernels(util: BackendUtil): Record<string, Fast> {
  return {
    Add: binary(util, 'add'),
    Sub: binary(util, 'sub'),
    Multiply: binary(util, 'mul'),
    RealDiv: binary(util, 'div'),
    Exp: unary('exp'),
    Square: unary('square'),
    Sqrt: unary('sqrt'),
    Rsqrt: unary('rsqrt'),
    Neg: unary('neg'),
    Relu: relu,
    Step: step,
    Sum: ({ inputs, backend, attrs }) => reduce(backend, inputs.x!, attrs.axis, attrs.keepDims === true, false),
    Mean: ({ inputs, backend, attrs }) => reduce(backend, inputs.x!, attrs.axis, attrs.keepDims === true, true),
    Softmax: softmax,
    Transpose: transpose,
    Slice: slice,
    Tile: tile,
    PadV2: pad,
    GatherV2: gather,
  };
}
