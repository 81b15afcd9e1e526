/**
 * Shape ops. Storage is always contiguous, so reshape/view/squeeze/unsqueeze/flatten share the
 * input's `data` (views, like PyTorch), while permute/transpose/expand/narrow/slice/cat copy.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import * as nc from './native-core';
import { whereRaw } from './select';
import { Tensor, arrayCtor, checkDevice, isFloatingDType, type DType, type Device, type Dims } from '../tensor';
import {
  castCuda, checkTensor, cloneRaw, contiguousStrides, expandRaw, toCuda, zerosArray, forEachRow, newArray, normDim, normDims, sameShape, scalarLike, sizeOf, splitAt, sumToShape,
} from './common';

export { normDim };

// ---- views ----------------------------------------------------------------------------------

const ViewFn = defineFunction({
  name: 'View',
  forward(ctx, x: Tensor, shape: number[]) {
    ctx.inShape = x.shape;
    return new Tensor(x.data, shape);
  },
  backward(ctx, g) {
    return [new Tensor(g.data, ctx.inShape)];
  },
});

/** Resolves one -1 and checks the element count. */
function inferShape(op: string, x: Tensor, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw typeError('an array of integers', `${op}(shape)`, shape);
  let infer = -1, known = 1;
  shape.forEach((d, i) => {
    if (typeof d !== 'number') throw typeError('an integer', `${op}(shape[${i}])`, d);
    if (d === -1) {
      if (infer >= 0) throw rangeError('at most one -1', `${op}(shape)`, shape);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) throw rangeError('a non-negative integer or -1', `${op}(shape[${i}])`, d);
    else known *= d;
  });
  const out = (shape as number[]).slice();
  const n = x.numel();
  if (infer >= 0) {
    if (known === 0 || n % known !== 0) throw selfsupError('ERR_SHAPE_MISMATCH', `a shape compatible with ${n} elements (input shape ${shapeStr(x.shape)})`, `${op}(shape)`, shapeStr(out));
    out[infer] = n / known;
  } else if (known !== n) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape with ${n} elements (input shape ${shapeStr(x.shape)})`, `${op}(shape)`, shapeStr(out));
  }
  return out;
}

/** Same data, new shape (one dim may be -1). Always a view: storage is contiguous. */
export function reshape(x: Tensor, shape: number[], op = 'reshape'): Tensor {
  checkTensor(op, 'x', x);
  return ViewFn(x, inferShape(op, x, shape));
}
export function view(x: Tensor, shape: number[]): Tensor {
  return reshape(x, shape, 'view');
}

/** Removes size-1 dims (all, or the given ones; a given dim whose size is not 1 is kept, as PyTorch). */
export function squeeze(x: Tensor, dim?: Dims): Tensor {
  checkTensor('squeeze', 'x', x);
  const dims = dim === undefined ? null : new Set(normDims('squeeze', 'dim', dim, x.ndim));
  return ViewFn(x, x.shape.filter((s, i) => !(s === 1 && (dims === null || dims.has(i)))));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor('unsqueeze', 'x', x);
  const d = normDim('unsqueeze', 'dim', dim, x.ndim + 1);
  const s = x.shape.slice();
  s.splice(d, 0, 1);
  return ViewFn(x, s);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', 'x', x);
  if (x.ndim === 0) return ViewFn(x, [1]);
  const s = normDim('flatten', 'startDim', startDim, x.ndim), e = normDim('flatten', 'endDim', endDim, x.ndim);
  if (s > e) throw rangeError(`an endDim >= startDim (${s})`, 'flatten(endDim)', endDim);
  return ViewFn(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

// ---- copies ---------------------------------------------------------------------------------

const CloneFn = defineFunction({
  name: 'Clone',
  forward(_ctx, x: Tensor) {
    return cloneRaw(x);
  },
  backward(_ctx, g) {
    return [g];
  },
});
export function clone(x: Tensor): Tensor {
  return CloneFn(checkTensor('clone', 'x', x));
}

function convert(x: Tensor, dtype: DType): Tensor {
  if (x.device === 'cuda') return castCuda(x, dtype); // float64 is refused: it has no cuda storage
  const out = newArray(dtype, x.numel());
  if (dtype === 'bool') for (let i = 0; i < out.length; i++) out[i] = x.data[i] !== 0 ? 1 : 0;
  else if (dtype === 'int32') for (let i = 0; i < out.length; i++) out[i] = Math.trunc(x.data[i]); // toward zero, as PyTorch
  else out.set(x.data);
  return new Tensor(out, x.shape);
}

/** A conversion whose gradient converts back (`to(dtype)`, `to(device)`): `of` reads what to restore. */
function conversionFn<T>(name: string, of: (x: Tensor) => T, conv: (x: Tensor, target: T) => Tensor) {
  return defineFunction({
    name,
    forward(ctx, x: Tensor, target: T) {
      ctx.back = of(x);
      return conv(x, target);
    },
    backward(ctx, g) {
      return [conv(g, ctx.back)];
    },
  });
}
const ToFn = conversionFn<DType>('To', (x) => x.dtype, convert);

function moveRaw(x: Tensor, device: Device): Tensor {
  if (x.device === device) return x;
  return device === 'cuda' ? toCuda(x) : x.cpuCopy();
}
/** A device move; the gradient moves back (PyTorch's `to(device)` is differentiable too). */
const ToDeviceFn = conversionFn<Device>('ToDevice', (x) => x.device, moveRaw);

/** `x` on `device` ('cpu' | 'cuda'; itself when already there). float64 stays on 'cpu'. */
export function toDevice(x: Tensor, device: unknown): Tensor {
  checkTensor('to', 'x', x);
  const d = checkDevice('to(device)', device);
  if (d === x.device) return x;
  if (d === 'cuda' && x.dtype === 'float64') {
    throw selfsupError('ERR_UNSUPPORTED', "a float32, int32 or bool Tensor (float64 has no cuda storage; convert with .float() first)", 'to(device)', 'a float64 Tensor');
  }
  return isFloatingDType(x.dtype) ? ToDeviceFn(x, d) : moveRaw(x, d);
}

/**
 * dtype conversion; differentiable between floating dtypes (int32/bool results carry no grad).
 * bfloat16 and float16 exist on 'cuda' only.
 */
export function toDtype(x: Tensor, dtype: DType): Tensor {
  checkTensor('to', 'x', x);
  if (!['float32', 'float64', 'int32', 'bool', 'bfloat16', 'float16'].includes(dtype as string)) {
    throw (typeof dtype === 'string' ? rangeError : typeError)("'float32' | 'float64' | 'int32' | 'bool' | 'bfloat16' | 'float16' | 'cpu' | 'cuda'", 'to(dtype)', dtype);
  }
  if (dtype === x.dtype) return x;
  if (dtype === 'float64' && x.device === 'cuda') {
    throw selfsupError('ERR_UNSUPPORTED', "float32, bfloat16, float16, int32 or bool (the dtypes of cuda tensors)", 'to(dtype)', "'float64' for a cuda Tensor (float64 has no cuda storage; use .cpu() first)");
  }
  if ((dtype === 'bfloat16' || dtype === 'float16') && x.device !== 'cuda') {
    throw selfsupError('ERR_UNSUPPORTED', "a cuda Tensor (bfloat16 and float16 exist on 'cuda' only)", 'to(dtype)', `'${dtype}' for a cpu Tensor`);
  }
  if (!isFloatingDType(dtype) || !isFloatingDType(x.dtype)) return convert(x, dtype);
  return ToFn(x, dtype);
}

function permuteRaw(x: Tensor, perm: number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]);
  const xs = contiguousStrides(x.shape);
  const out = nc.outArray(x.dtype, x.numel(), x.device); // written in full
  const xd = x.data;
  if (nc.copyStrided(xd, out, outShape, perm.map((p) => xs[p]))) return new Tensor(out, outShape);
  forEachRow(outShape, [contiguousStrides(outShape), perm.map((p) => xs[p])], (o, n, s) => {
    const oo = o[0], xo = o[1], st = s[1];
    // Contiguous inner dim (the head split / merge of attention: rows of headDim): a typed-array
    // copy (memcpy) instead of an element loop that V8 sees with every array type.
    if (st === 1 && n >= 16) (out as Float32Array).set((xd as Float32Array).subarray(xo, xo + n), oo);
    else for (let i = 0; i < n; i++) out[oo + i] = xd[xo + i * st];
  });
  return new Tensor(out, outShape);
}

const PermuteFn = defineFunction({
  name: 'Permute',
  forward(ctx, x: Tensor, perm: number[]) {
    ctx.perm = perm;
    return permuteRaw(x, perm);
  },
  backward(ctx, g) {
    const perm: number[] = ctx.perm;
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [permuteRaw(g, inv)];
  },
});

export function permute(x: Tensor, dims: number[]): Tensor {
  checkTensor('permute', 'x', x);
  if (!Array.isArray(dims)) throw typeError('an array of dims', 'permute(dims)', dims);
  if (dims.length !== x.ndim) throw rangeError(`${x.ndim} dims (a permutation of the input's dims)`, 'permute(dims)', dims);
  const perm = dims.map((d, i) => normDim('permute', `dims[${i}]`, d, x.ndim));
  if (new Set(perm).size !== perm.length) throw rangeError('a permutation (each dim once)', 'permute(dims)', dims);
  if (perm.every((p, i) => p === i)) return ViewFn(x, x.shape);
  return PermuteFn(x, perm);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  checkTensor('transpose', 'x', x);
  const a = normDim('transpose', 'dim0', dim0, x.ndim), b = normDim('transpose', 'dim1', dim1, x.ndim);
  const perm = Array.from({ length: x.ndim }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return a === b ? ViewFn(x, x.shape) : PermuteFn(x, perm);
}

const ExpandFn = defineFunction({
  name: 'Expand',
  forward(ctx, x: Tensor, shape: number[]) {
    ctx.inShape = x.shape;
    const y = expandRaw(x, shape);
    return y === x ? cloneRaw(x, shape) : y;
  },
  backward(ctx, g) {
    return [sumToShape(g, ctx.inShape)];
  },
});

/** Broadcasts to `shape` (new leading dims allowed; -1 keeps a dim; only size-1 dims grow). Copies. */
export function expand(x: Tensor, shape: number[]): Tensor {
  checkTensor('expand', 'x', x);
  if (!Array.isArray(shape)) throw typeError('an array of integers', 'expand(shape)', shape);
  if (shape.length < x.ndim) throw selfsupError('ERR_SHAPE_MISMATCH', `a shape of at least ${x.ndim} dims broadcastable from ${shapeStr(x.shape)}`, 'expand(shape)', shapeStr(shape));
  const off = shape.length - x.ndim;
  const out = shape.map((d, i) => {
    const src = i >= off ? x.shape[i - off] : 1;
    if (d === -1 && i >= off) return src;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw rangeError('a non-negative integer (or -1 for an existing dim)', `expand(shape[${i}])`, d);
    if (src !== d && src !== 1) throw selfsupError('ERR_SHAPE_MISMATCH', `a shape broadcastable from ${shapeStr(x.shape)}`, 'expand(shape)', shapeStr(shape));
    return d;
  });
  if (sameShape(out, x.shape)) return ViewFn(x, out);
  return ExpandFn(x, out);
}

/**
 * Tensor.repeat (PyTorch): tiles x `sizes[i]` times along dim i; sizes may be longer than x's
 * rank (new leading dims). Written as expand of an interleaved view, [1, s0, 1, s1, ...] ->
 * [r0, s0, r1, s1, ...] -> [r0 s0, r1 s1, ...], so the gradient is Expand's (a sum over the copies).
 */
export function repeat(x: Tensor, sizes: number[]): Tensor {
  checkTensor('repeat', 'x', x);
  if (!Array.isArray(sizes)) throw typeError('an array of non-negative integers', 'repeat(sizes)', sizes);
  if (sizes.length < x.ndim) throw rangeError(`at least ${x.ndim} sizes (one per dim of ${shapeStr(x.shape)})`, 'repeat(sizes)', sizes);
  sizes.forEach((r, i) => {
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0) throw rangeError('a non-negative integer', `repeat(sizes[${i}])`, r);
  });
  const src = [...new Array<number>(sizes.length - x.ndim).fill(1), ...x.shape];
  const inter = src.flatMap((s) => [1, s]);
  const tiled = src.flatMap((s, i) => [sizes[i], s]);
  return reshape(expand(reshape(x, inter), tiled), src.map((s, i) => s * sizes[i]));
}

/** Reverses the order along each of `dims` (torch.flip). Copies; the gradient is the same flip. */
function flipRaw(x: Tensor, dims: readonly number[]): Tensor {
  const st = contiguousStrides(x.shape);
  // Read x with negated strides on the flipped dims, starting from their last element.
  let base = 0;
  const read = st.map((s, d) => {
    if (!dims.includes(d)) return s;
    base += (x.shape[d] - 1) * s;
    return -s;
  });
  if (x.device === 'cuda') { // one strided device copy (negative strides from the last element)
    const out = nc.outArray(x.dtype, x.numel(), 'cuda');
    if (x.numel() > 0) nc.copyStrided(x.data, out, x.shape, read, base);
    return new Tensor(out, x.shape);
  }
  const out = newArray(x.dtype, x.numel()), xd = x.data;
  forEachRow(x.shape, [st, read], (o, n, s) => {
    const oo = o[0], xo = base + o[1], xs = s[1];
    for (let i = 0; i < n; i++) out[oo + i] = xd[xo + i * xs];
  });
  return new Tensor(out, x.shape);
}

/** A linear map that is its own adjoint (a flip, a triangular mask): backward maps g the same way. */
function selfAdjoint<P>(name: string, map: (x: Tensor, p: P) => Tensor) {
  return defineFunction({
    name,
    forward(ctx, x: Tensor, p: P) {
      ctx.p = p;
      return map(x, p);
    },
    backward(ctx, g) {
      return [map(g, ctx.p)];
    },
  });
}

const FlipFn = selfAdjoint('Flip', flipRaw);

export function flip(x: Tensor, dims: Dims): Tensor {
  checkTensor('flip', 'x', x);
  if (dims === undefined || dims === null) throw typeError('a dim or an array of dims', 'flip(dims)', dims);
  return FlipFn(x, normDims('flip', 'dims', dims, x.ndim));
}

/** 1 where the [rows, cols] matrix position is kept: j - i <= k (lower) or j - i >= k (upper). */
function triRaw(x: Tensor, k: number, lower: boolean): Tensor {
  const r = x.shape[x.ndim - 2], c = x.shape[x.ndim - 1];
  if (x.device === 'cuda') {
    // The keep mask from two index vectors compared on the device (j <= i + k, or j >= i + k;
    // float32 holds the indices exactly below 2^24), then the device select against 0.
    const rows = toCuda(new Tensor(Float32Array.from({ length: r }, (_, i) => i + k), [r, 1]));
    const cols = toCuda(new Tensor(Float32Array.from({ length: c }, (_, j) => j), [1, c]));
    const keep = new Tensor(nc.outArray('bool', r * c, 'cuda'), [r, c]);
    const [a, b] = lower ? [rows, cols] : [cols, rows];
    nc.binary('ge', keep.data, keep.shape, a.data, a.shape, b.data, b.shape);
    return whereRaw(keep, x, scalarLike(0, x));
  }
  const out = newArray(x.dtype, x.numel()), xd = x.data;
  if (out.length === 0) return new Tensor(out, x.shape);
  for (let m = 0; m < xd.length; m += r * c) {
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        const keep = lower ? j - i <= k : j - i >= k;
        if (keep) out[m + i * c + j] = xd[m + i * c + j];
      }
    }
  }
  return new Tensor(out, x.shape);
}

const TrilFn = selfAdjoint('Tril', (x, k: number) => triRaw(x, k, true));
const TriuFn = selfAdjoint('Triu', (x, k: number) => triRaw(x, k, false));

function tri(op: string, fn: typeof TrilFn, x: Tensor, diagonal: number): Tensor {
  checkTensor(op, 'x', x);
  if (x.ndim < 2) throw rangeError('a tensor with at least 2 dims (a batch of matrices)', `${op}(x)`, `shape ${shapeStr(x.shape)}`, true);
  if (typeof diagonal !== 'number') throw typeError('an integer', `${op}(diagonal)`, diagonal);
  if (!Number.isInteger(diagonal)) throw rangeError('an integer', `${op}(diagonal)`, diagonal);
  return fn(x, diagonal);
}

/** Lower triangle of the last two dims (torch.tril): keeps j - i <= diagonal, zeroes the rest. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return tri('tril', TrilFn, x, diagonal);
}
/** Upper triangle of the last two dims (torch.triu): keeps j - i >= diagonal, zeroes the rest. */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return tri('triu', TriuFn, x, diagonal);
}

// ---- slicing --------------------------------------------------------------------------------

function sliceRaw(x: Tensor, dim: number, start: number, step: number, count: number): Tensor {
  const { outer, size, inner } = splitAt(x.shape, dim);
  const shape = x.shape.slice();
  shape[dim] = count;
  const out = nc.outArray(x.dtype, outer * count * inner, x.device); // written in full
  const xd = x.data;
  // As a strided read [outer, count, inner] of x: one native pass.
  if (nc.copyStrided(xd, out, [outer, count, inner], [size * inner, step * inner, 1], start * inner)) return new Tensor(out, shape);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      const src = (o * size + start + j * step) * inner, dst = (o * count + j) * inner;
      if (inner === 1) out[dst] = xd[src];
      else out.set(xd.subarray(src, src + inner), dst);
    }
  }
  return new Tensor(out, shape);
}

const SliceFn = defineFunction({
  name: 'Slice',
  forward(ctx, x: Tensor, dim: number, start: number, step: number, count: number) {
    Object.assign(ctx, { inShape: x.shape, dim, start, step, count });
    return sliceRaw(x, dim, start, step, count);
  },
  backward(ctx, g) {
    const { outer, size, inner } = splitAt(ctx.inShape, ctx.dim);
    const gx = zerosArray(g.dtype, sizeOf(ctx.inShape), g.device);
    const gd = g.data, count: number = ctx.count, start: number = ctx.start, step: number = ctx.step;
    // Natively: g written into its strided region of the zeroed gradient in one pass.
    if (count === 0 || nc.copyStrided(gd, gx, [outer, count, inner], [count * inner, inner, 1], 0, [size * inner, step * inner, 1], start * inner)) {
      return [new Tensor(gx, ctx.inShape)];
    }
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < count; j++) {
        const dst = (o * size + start + j * step) * inner, src = (o * count + j) * inner;
        for (let i = 0; i < inner; i++) gx[dst + i] = gd[src + i];
      }
    }
    return [new Tensor(gx, ctx.inShape)];
  },
});

/** Elements [start, start + length) along `dim`. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  checkTensor('narrow', 'x', x);
  if (x.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'narrow(x)', x);
  const d = normDim('narrow', 'dim', dim, x.ndim);
  const size = x.shape[d];
  if (typeof start !== 'number' || !Number.isInteger(start)) throw typeError('an integer', 'narrow(start)', start);
  const s = start < 0 ? start + size : start;
  if (s < 0 || s > size) throw rangeError(`an integer in [${-size}, ${size}]`, 'narrow(start)', start);
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || s + length > size) {
    throw rangeError(`an integer in [0, ${size - s}] (dim ${d} has size ${size}, start ${s})`, 'narrow(length)', length);
  }
  return SliceFn(x, d, s, 1, length);
}

/** Python slicing `start:end:step` along `dim` (out-of-range bounds are clamped, like Python). */
export function slice(x: Tensor, dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
  checkTensor('slice', 'x', x);
  if (x.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'slice(x)', x);
  const d = normDim('slice', 'dim', dim, x.ndim);
  const size = x.shape[d];
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 1) throw rangeError('a positive integer', 'slice(step)', step);
  const norm = (v: number | null | undefined, dflt: number, name: string): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError('an integer', `slice(${name})`, v);
    const w = v < 0 ? v + size : v;
    return Math.min(Math.max(w, 0), size);
  };
  const s = norm(start, 0, 'start'), e = norm(end, size, 'end');
  const count = e > s ? Math.ceil((e - s) / step) : 0;
  return SliceFn(x, d, s, step, count);
}

export function split(x: Tensor, splitSize: number | number[], dim = 0): Tensor[] {
  checkTensor('split', 'x', x);
  const d = normDim('split', 'dim', dim, x.ndim);
  const size = x.shape[d];
  let sizes: number[];
  if (Array.isArray(splitSize)) {
    sizes = splitSize;
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== size) throw rangeError(`sizes summing to ${size}`, 'split(splitSize)', splitSize);
  } else {
    if (typeof splitSize !== 'number' || !Number.isInteger(splitSize) || splitSize < 1) throw rangeError('a positive integer', 'split(splitSize)', splitSize);
    sizes = [];
    for (let s = 0; s < size; s += splitSize) sizes.push(Math.min(splitSize, size - s));
  }
  let off = 0;
  return sizes.map((n) => {
    const t = narrow(x, d, off, n);
    off += n;
    return t;
  });
}

export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  checkTensor('chunk', 'x', x);
  if (typeof chunks !== 'number' || !Number.isInteger(chunks) || chunks < 1) throw rangeError('a positive integer', 'chunk(chunks)', chunks);
  const d = normDim('chunk', 'dim', dim, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[d] / chunks)), d);
}

// ---- fused head split ------------------------------------------------------------------------

/**
 * x [B, N, parts * heads * d] -> `parts` tensors [B, heads, N, d]: the QKV projection's output
 * split into per-head q, k, v (PyTorch's reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4) + unbind).
 * One strided copy per part each way, instead of a permute copy, three slice copies, and three
 * full-size slice gradients added together.
 */
const SplitHeadsFn = defineFunction({
  name: 'SplitHeads',
  forward(ctx, x: Tensor, parts: number, heads: number) {
    const [B, N, W] = x.shape;
    const D = W / parts, d = D / heads;
    Object.assign(ctx, { B, N, W, parts, heads });
    const outs: Tensor[] = [];
    for (let j = 0; j < parts; j++) {
      const out = nc.outArray(x.dtype, B * heads * N * d, x.device);
      if (!nc.copyStrided(x.data, out, [B, heads, N, d], [N * W, d, W, 1], j * D)) {
        for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let n = 0; n < N; n++) for (let e = 0; e < d; e++) {
          out[((b * heads + h) * N + n) * d + e] = x.data[(b * N + n) * W + j * D + h * d + e];
        }
      }
      outs.push(new Tensor(out, [B, heads, N, d]));
    }
    return outs;
  },
  backward(ctx, ...gs: Tensor[]) {
    const { B, N, W, parts, heads } = ctx as unknown as { B: number; N: number; W: number; parts: number; heads: number };
    const D = W / parts, d = D / heads;
    // The parts tile the gradient exactly, so it needs no zero-fill when the native copies run.
    const gx = nc.outArray(gs[0].dtype, B * N * W, gs[0].device);
    gs.forEach((g, j) => {
      if (nc.copyStrided(g.data, gx, [B, heads, N, d], [heads * N * d, N * d, d, 1], 0, [N * W, d, W, 1], j * D)) return;
      for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let n = 0; n < N; n++) for (let e = 0; e < d; e++) {
        gx[(b * N + n) * W + j * D + h * d + e] = g.data[((b * heads + h) * N + n) * d + e];
      }
    });
    return [new Tensor(gx, [B, N, W]), null, null];
  },
});

/** x [B, N, parts * heads * d] -> parts x [B, heads, N, d] (see SplitHeadsFn). */
export function splitHeads(x: Tensor, parts: number, heads: number): Tensor[] {
  checkTensor('splitHeads', 'x', x, ['float32', 'float64']);
  if (x.ndim !== 3) throw selfsupError('ERR_SHAPE_MISMATCH', 'a Tensor [B, N, parts * heads * d]', 'splitHeads(x)', shapeStr(x.shape));
  for (const [name, v] of [['parts', parts], ['heads', heads]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw rangeError('a positive integer', `splitHeads(${name})`, v);
  }
  if (x.shape[2] % (parts * heads) !== 0) throw rangeError(`a last dim divisible by parts * heads = ${parts * heads}`, 'splitHeads(x)', shapeStr(x.shape));
  return SplitHeadsFn(x, parts, heads) as Tensor[];
}

// ---- cat / stack ----------------------------------------------------------------------------

const CatFn = defineFunction({
  name: 'Cat',
  forward(ctx, dim: number, ...ts: Tensor[]) {
    const shape = ts[0].shape.slice();
    shape[dim] = ts.reduce((a, t) => a + t.shape[dim], 0);
    const { outer, inner } = splitAt(shape, dim);
    const total = shape[dim] * inner;
    ctx.dim = dim;
    ctx.sizes = ts.map((t) => t.shape[dim]);
    if (ts[0].device === 'cuda') {
      // Each input is one strided copy into its columns [off, off + block) of every outer row.
      const dout = nc.deviceArray(ts[0].dtype, sizeOf(shape));
      let at = 0;
      for (const t of ts) {
        const block = t.shape[dim] * inner;
        if (block > 0 && outer > 0) nc.copyStrided(t.data, dout, [outer, block], [block, 1], 0, [total, 1], at);
        at += block;
      }
      return new Tensor(dout, shape);
    }
    const out = newArray(ts[0].dtype, sizeOf(shape));
    let off = 0;
    for (const t of ts) {
      const block = t.shape[dim] * inner;
      for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * block, (o + 1) * block), o * total + off);
      off += block;
    }
    return new Tensor(out, shape);
  },
  backward(ctx, g) {
    const grads: Array<Tensor | null> = [null];
    let off = 0;
    (ctx.sizes as number[]).forEach((n, i) => {
      grads.push(ctx.needsInputGrad[i + 1] ? sliceRaw(g, ctx.dim, off, 1, n) : null);
      off += n;
    });
    return grads;
  },
});

/** Concatenates along `dim`; all tensors share dtype, rank and every other dim. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw typeError('a non-empty array of Tensors', 'cat(tensors)', tensors);
  tensors.forEach((t, i) => checkTensor('cat', `tensors[${i}]`, t));
  const first = tensors[0];
  if (first.ndim === 0) throw rangeError('tensors with at least 1 dim', 'cat(tensors[0])', first);
  const d = normDim('cat', 'dim', dim, first.ndim);
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) throw selfsupError('ERR_DTYPE_MISMATCH', `a ${first.dtype} Tensor (the dtype of tensors[0])`, `cat(tensors[${i}])`, `a ${t.dtype} Tensor`);
    const ok = t.ndim === first.ndim && t.shape.every((s, j) => j === d || s === first.shape[j]);
    if (!ok) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a shape matching ${shapeStr(first.shape)} except in dim ${d}`, `cat(tensors[${i}])`, shapeStr(t.shape));
    }
  });
  return CatFn(d, ...tensors);
}

/** Stacks equal-shape tensors along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw typeError('a non-empty array of Tensors', 'stack(tensors)', tensors);
  tensors.forEach((t, i) => checkTensor('stack', `tensors[${i}]`, t));
  const first = tensors[0];
  const d = normDim('stack', 'dim', dim, first.ndim + 1);
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, first.shape)) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(first.shape)} (the shape of tensors[0])`, `stack(tensors[${i}])`, shapeStr(t.shape));
  });
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

export { arrayCtor };
