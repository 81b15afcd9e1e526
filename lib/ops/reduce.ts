/**
 * Reductions over any set of dims (keepdim like PyTorch). One strided pass per reduction: the
 * output is read with stride 0 along reduced dims (common.forEachRow), so no permute/copy is needed.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, typeError } from '../errors';
import { Tensor, type Dims } from '../tensor';
import { abs, raw, sqrt } from './elementwise';
import * as nc from './native-core';
import { broadcastStrides, castCuda, checkFloat, checkTensor, cloneRaw, contiguousStrides, expandRaw, forEachRow, newArray, normDim, normDims, opts, optBool, optNumber, scalarLike, sizeOf, splitAt, toCuda } from './common';

function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((s, i) => (dims.includes(i) ? 1 : s));
}
function finalShape(shape: readonly number[], dims: readonly number[], keepdim: boolean): number[] {
  return keepdim ? keptShape(shape, dims) : shape.filter((_, i) => !dims.includes(i));
}

type Kind = 'sum' | 'max' | 'min';
/** Reduces into the keepdim shape. Empty reductions give 0 (sum) or -inf/+inf (max/min). */
function reduceRaw(x: Tensor, dims: readonly number[], kind: Kind, scale = 1): Tensor {
  const ks = keptShape(x.shape, dims);
  if (nc.core() || x.device === 'cuda') {
    const nout = nc.outArray(x.dtype, sizeOf(ks), x.device);
    if (nc.reduce(kind, x.data, x.shape, x.shape.map((_, i) => dims.includes(i)), nout, scale)) return new Tensor(nout, ks);
  }
  const out = newArray(x.dtype, sizeOf(ks)); // the loop below accumulates: zeroed
  if (kind !== 'sum') out.fill(kind === 'max' ? -Infinity : Infinity);
  const xd = x.data;
  forEachRow(x.shape, [contiguousStrides(x.shape), broadcastStrides(ks, x.shape)], (o, n, s) => {
    const xo = o[0], oo = o[1], os = s[1];
    if (kind === 'sum') {
      if (os === 0) {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += xd[xo + i];
        out[oo] += acc;
      } else for (let i = 0; i < n; i++) out[oo + i * os] += xd[xo + i];
    } else if (kind === 'max') {
      for (let i = 0; i < n; i++) { const v = xd[xo + i], j = oo + i * os; if (v > out[j] || v !== v) out[j] = v; }
    } else {
      for (let i = 0; i < n; i++) { const v = xd[xo + i], j = oo + i * os; if (v < out[j] || v !== v) out[j] = v; }
    }
  });
  if (scale !== 1) for (let i = 0; i < out.length; i++) out[i] *= scale;
  return new Tensor(out, ks);
}

/** Gradient of a keepdim-shaped result broadcast back over the input. */
function spread(g: Tensor, ks: number[], shape: number[]): Tensor {
  return expandRaw(new Tensor(g.data, ks), shape);
}

function sumFn(name: string) {
  return defineFunction({
  name,
  forward(ctx, x: Tensor, dims: number[], keepdim: boolean, scale: number) {
    ctx.inShape = x.shape;
    ctx.ks = keptShape(x.shape, dims);
    ctx.scale = scale;
    const r = reduceRaw(x, dims, 'sum', scale);
    return new Tensor(r.data, finalShape(x.shape, dims, keepdim));
  },
  backward(ctx, g) {
    const gx = spread(g, ctx.ks, ctx.inShape);
    const out = gx === g || gx.data === g.data ? cloneRaw(g, ctx.inShape) : gx;
    if (ctx.scale !== 1 && !nc.unary('affine', out.data, out.data, ctx.scale, 0)) for (let i = 0; i < out.data.length; i++) out.data[i] *= ctx.scale;
    return [out];
  },
});
}
const SumFn = sumFn('Sum');
/** Same kernel with the 1/count scale; a separate name so graphs print MeanBackward. */
const MeanFn = sumFn('Mean');

/** Sum over `dim` (all dims when omitted). */
export function sum(x: Tensor, dim?: Dims | null, keepdim = false): Tensor {
  checkFloat('sum', 'x', x);
  optBool('sum', 'keepdim', keepdim, false);
  return SumFn(x, normDims('sum', 'dim', dim, x.ndim), keepdim, 1);
}

/** Mean over `dim` (all dims when omitted); an empty reduction is NaN like PyTorch. */
export function mean(x: Tensor, dim?: Dims | null, keepdim = false): Tensor {
  checkFloat('mean', 'x', x);
  optBool('mean', 'keepdim', keepdim, false);
  const dims = normDims('mean', 'dim', dim, x.ndim);
  const count = dims.reduce((a, d) => a * x.shape[d], 1);
  return MeanFn(x, dims, keepdim, count === 0 ? NaN : 1 / count);
}

// ---- max / min ------------------------------------------------------------------------------

/** Max (or min) over dims, values only; the gradient is shared evenly among ties (torch.amax). */
const ExtremeFn = defineFunction({
  name: 'Amax',
  forward(ctx, x: Tensor, dims: number[], keepdim: boolean, kind: 'max' | 'min') {
    const r = reduceRaw(x, dims, kind);
    ctx.save(x, r);
    ctx.ks = r.shape;
    return new Tensor(r.data, finalShape(x.shape, dims, keepdim));
  },
  backward(ctx, g) {
    const [x, r] = ctx.saved;
    const ks: number[] = ctx.ks;
    const rr = spread(r, ks, x.shape), gg = spread(g, ks, x.shape);
    const reducedDims = ks.map((s, i) => (s === 1 && x.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
    if (x.device === 'cuda') {
      // The same formula in device ops: mask = (x == r), gx = mask * g / count.
      const m = castCuda(raw.eq(x, rr), x.dtype);
      const cc = spread(reduceRaw(m, reducedDims, 'sum'), ks, x.shape);
      return [raw.div(raw.mul(m, gg), cc)];
    }
    const mask = newArray(x.dtype, x.numel());
    for (let i = 0; i < mask.length; i++) mask[i] = x.data[i] === rr.data[i] ? 1 : 0;
    const count = reduceRaw(new Tensor(mask, x.shape), reducedDims, 'sum');
    const cc = spread(count, ks, x.shape);
    const gx = newArray(x.dtype, x.numel());
    for (let i = 0; i < gx.length; i++) gx[i] = mask[i] ? gg.data[i] / cc.data[i] : 0;
    return [new Tensor(gx, x.shape)];
  },
});

/** (values, indices) along one dim; the gradient goes to the selected index only (torch.max(dim)). */
const ExtremeDimFn = defineFunction({
  name: 'MaxDim',
  forward(ctx, x: Tensor, dim: number, keepdim: boolean, kind: 'max' | 'min') {
    const { outer, size, inner } = splitAt(x.shape, dim);
    const shape = finalShape(x.shape, [dim], keepdim);
    Object.assign(ctx, { inShape: x.shape, dim });
    if (x.device === 'cuda') { // one device scan per output (first index wins, NaN propagates)
      const vals = nc.deviceArray(x.dtype, outer * inner), idx = nc.deviceArray('int32', outer * inner);
      nc.argReduceDevice(kind === 'max', x.data, idx, outer, size, inner, vals);
      ctx.save(new Tensor(idx, shape));
      return [new Tensor(vals, shape), new Tensor(idx, shape)];
    }
    const vals = newArray(x.dtype, outer * inner), idx = new Int32Array(outer * inner);
    const xd = x.data, sign = kind === 'max' ? 1 : -1;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = xd[o * size * inner + i], bi = 0;
        for (let d = 1; d < size; d++) {
          const v = xd[(o * size + d) * inner + i];
          if (best !== best) break; // NaN wins (propagates), as PyTorch
          if (sign * v > sign * best || v !== v) { best = v; bi = d; }
        }
        vals[o * inner + i] = best;
        idx[o * inner + i] = bi;
      }
    }
    ctx.save(new Tensor(idx, shape));
    return [new Tensor(vals, shape), new Tensor(idx, shape)];
  },
  backward(ctx, g) {
    const [idx] = ctx.saved;
    const { outer, size, inner } = splitAt(ctx.inShape, ctx.dim);
    if (g.device === 'cuda') {
      // The scatter as device ops: gx = (d == idx) * g over [outer, size, inner]. The comparison
      // runs in float32 (exact for indices below 2^24), then the mask takes g's dtype.
      const at = castCuda(new Tensor(idx.data, [outer, 1, inner]), 'float32');
      const ds = toCuda(new Tensor(Float32Array.from({ length: size }, (_, d) => d), [1, size, 1]));
      const mask = castCuda(raw.eq(at, ds), g.dtype);
      return [new Tensor(raw.mul(mask, new Tensor(g.data, [outer, 1, inner])).data, ctx.inShape)];
    }
    const gx = newArray(g.dtype, outer * size * inner);
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) gx[(o * size + idx.data[o * inner + i]) * inner + i] = g.data[o * inner + i];
    return [new Tensor(gx, ctx.inShape)];
  },
});

function extreme(op: string, kind: 'max' | 'min', x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  checkTensor(op, 'x', x, ['float32', 'float64', 'int32']);
  if (dim === undefined) {
    if (x.numel() === 0) throw rangeError('a non-empty tensor (or a dim)', `${op}(x)`, x);
    return ExtremeFn(x, normDims(op, 'dim', null, x.ndim), false, kind);
  }
  optBool(op, 'keepdim', keepdim, false);
  const d = normDim(op, 'dim', dim, x.ndim);
  if (x.ndim > 0 && x.shape[d] === 0) throw rangeError(`a non-empty dim ${d}`, `${op}(dim)`, dim);
  // The device's index reduction (cudaArgReduce) runs on float32 only.
  if (x.device === 'cuda' && x.dtype !== 'float32') {
    throw selfsupError('ERR_UNSUPPORTED', "a float32 Tensor on 'cuda'", `${op}(x)`, `a ${x.dtype} cuda Tensor: ${op} over a dim runs in float32 only on cuda; call .to('float32') or .cpu() first`);
  }
  if (x.device === 'cuda' && (op === 'argmax' || op === 'argmin')) {
    // argmax / argmin (no gradient): indices only.
    const { outer, size, inner } = splitAt(x.ndim === 0 ? [1] : x.shape, x.ndim === 0 ? 0 : d);
    const idx = nc.deviceArray('int32', outer * inner);
    nc.argReduceDevice(kind === 'max', x.data, idx, outer, size, inner);
    return { values: null as unknown as Tensor, indices: new Tensor(idx, x.ndim === 0 ? [] : finalShape(x.shape, [d], keepdim)) };
  }
  const [values, indices] = ExtremeDimFn(x.ndim === 0 ? x.reshape(1) : x, x.ndim === 0 ? 0 : d, keepdim || x.ndim === 0, kind);
  return x.ndim === 0 ? { values: values.reshape([]), indices: indices.reshape([]) } : { values, indices };
}

/** max(x): scalar; max(x, dim, keepdim): { values, indices } (indices int32). */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  return extreme('max', 'max', x, dim, keepdim);
}
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  return extreme('min', 'min', x, dim, keepdim);
}

/** Max over several dims (values only), like torch.amax. */
export function amax(x: Tensor, dim?: Dims | null, keepdim = false): Tensor {
  checkTensor('amax', 'x', x, ['float32', 'float64', 'int32']);
  const dims = normDims('amax', 'dim', dim, x.ndim);
  if (dims.some((d) => x.shape[d] === 0)) throw rangeError('non-empty reduced dims', 'amax(x)', x);
  return ExtremeFn(x, dims, keepdim, 'max');
}
export function amin(x: Tensor, dim?: Dims | null, keepdim = false): Tensor {
  checkTensor('amin', 'x', x, ['float32', 'float64', 'int32']);
  const dims = normDims('amin', 'dim', dim, x.ndim);
  if (dims.some((d) => x.shape[d] === 0)) throw rangeError('non-empty reduced dims', 'amin(x)', x);
  return ExtremeFn(x, dims, keepdim, 'min');
}

/** Index of the max (int32); over the flattened tensor when dim is omitted. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return (extreme('argmax', 'max', (checkTensor('argmax', 'x', x)).reshape(-1), 0, false) as { indices: Tensor }).indices;
  return (extreme('argmax', 'max', x, dim, keepdim) as { indices: Tensor }).indices;
}
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return (extreme('argmin', 'min', (checkTensor('argmin', 'x', x)).reshape(-1), 0, false) as { indices: Tensor }).indices;
  return (extreme('argmin', 'min', x, dim, keepdim) as { indices: Tensor }).indices;
}

// ---- cumsum -------------------------------------------------------------------------------

/** Running sum along one dim; `reverse` runs from the end (the gradient of a cumsum). */
function cumsumRaw(x: Tensor, dim: number, reverse: boolean): Tensor {
  const { outer, size, inner } = splitAt(x.shape, dim);
  if (x.device === 'cuda') return cumsumDevice(x, outer, size, inner, reverse);
  const out = newArray(x.dtype, x.numel()), xd = x.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let j = 0; j < size; j++) {
        const at = (o * size + (reverse ? size - 1 - j : j)) * inner + i;
        acc += xd[at];
        out[at] = acc;
      }
    }
  }
  return new Tensor(out, x.shape);
}

/**
 * The running sum on 'cuda': Hillis & Steele's scan (1986), ceil(log2 size) passes of y += y shifted
 * by s = 1, 2, 4, ... along the dim (towards the end, or the start for `reverse`), each pass two
 * strided device copies (the shifted values and the zeros they leave) and one add. O(n log n) work
 * in float32 (the CPU adds in sequence).
 */
function cumsumDevice(x: Tensor, outer: number, size: number, inner: number, reverse: boolean): Tensor {
  let y = x;
  const zero = toCuda(new Tensor(new Float32Array(1), []), x.dtype);
  const st = [size * inner, inner, 1];
  for (let s = 1; s < size; s *= 2) {
    const shifted = new Tensor(nc.outArray(x.dtype, x.numel(), 'cuda'), x.shape);
    // Values move from [0, size - s) to [s, size) (or back for reverse); the s vacated rows get 0.
    const [from, to, gap] = reverse ? [s, 0, size - s] : [0, s, 0];
    nc.copyStrided(y.data, shifted.data, [outer, size - s, inner], st, from * inner, st, to * inner);
    nc.copyStrided(zero.data, shifted.data, [outer, s, inner], [0, 0, 0], 0, st, gap * inner);
    y = raw.add(y, shifted);
  }
  return y === x ? cloneRaw(x) : y;
}

const CumsumFn = defineFunction({
  name: 'Cumsum',
  forward(ctx, x: Tensor, dim: number) {
    ctx.dim = dim;
    return cumsumRaw(x, dim, false);
  },
  backward(ctx, g) {
    // y_j = sum_{i <= j} x_i, so dL/dx_i = sum_{j >= i} g_j: a cumsum from the end.
    return [cumsumRaw(g, ctx.dim, true)];
  },
});

/** Cumulative sum along `dim` (torch.cumsum); int32 sums in int32, floats are differentiable. */
export function cumsum(x: Tensor, dim: number): Tensor {
  checkTensor('cumsum', 'x', x, ['float32', 'float64', 'int32']);
  // The device adds in float: an int32 running sum would round past 2^24.
  if (x.device === 'cuda' && x.dtype === 'int32') throw selfsupError('ERR_NO_DEVICE', "a float Tensor on 'cuda' (or an int32 one on 'cpu')", 'cumsum(x)', "an int32 cuda Tensor: cumsum has no int32 path yet on cuda; call .cpu() first");
  const d = normDim('cumsum', 'dim', dim, x.ndim);
  return x.ndim === 0 ? CumsumFn(x.reshape([1]), 0).reshape([]) : CumsumFn(x, d);
}

// ---- var / std / norm / logsumexp -----------------------------------------------------------

export interface VarOptions {
  /** Bessel's correction (divide by N - 1); default true like PyTorch. */
  unbiased?: boolean;
  /** Overrides unbiased: divide by N - correction (PyTorch >= 2.0). */
  correction?: number;
  keepdim?: boolean;
}

const VarFn = defineFunction({
  name: 'Var',
  forward(ctx, x: Tensor, dims: number[], keepdim: boolean, correction: number) {
    const n = dims.reduce((a, d) => a * x.shape[d], 1);
    if (x.device === 'cuda') {
      // The same two passes in device ops: the mean, then the scaled sum of squared deviations.
      const m = reduceRaw(x, dims, 'sum', 1 / n);
      const dev = raw.sub(x, m);
      const denom = Math.max(n - correction, 0);
      const out = reduceRaw(raw.mul(dev, dev), dims, 'sum', 1 / denom);
      ctx.save(x, m);
      ctx.denom = denom;
      return new Tensor(out.data, finalShape(x.shape, dims, keepdim));
    }
    const m = reduceRaw(x, dims, 'sum');
    for (let i = 0; i < m.data.length; i++) m.data[i] /= n;
    const ks = m.shape;
    const out = newArray(x.dtype, m.numel());
    const xd = x.data, md = m.data;
    // Two passes (mean, then squared deviations): stable where E[x^2] - E[x]^2 is not.
    forEachRow(x.shape, [contiguousStrides(x.shape), broadcastStrides(ks, x.shape)], (o, len, s) => {
      const xo = o[0], oo = o[1], os = s[1];
      for (let i = 0; i < len; i++) { const dv = xd[xo + i] - md[oo + i * os]; out[oo + i * os] += dv * dv; }
    });
    const denom = Math.max(n - correction, 0);
    for (let i = 0; i < out.length; i++) out[i] /= denom;
    ctx.save(x, m);
    ctx.denom = denom;
    return new Tensor(out, finalShape(x.shape, dims, keepdim));
  },
  backward(ctx, g) {
    const [x, m] = ctx.saved;
    if (x.device === 'cuda') return [raw.scale(raw.mul(new Tensor(g.data, m.shape), raw.sub(x, m)), 2 / ctx.denom)];
    const gg = spread(g, m.shape, x.shape), mm = spread(m, m.shape, x.shape);
    const gx = newArray(x.dtype, x.numel());
    const k = 2 / ctx.denom;
    for (let i = 0; i < gx.length; i++) gx[i] = k * gg.data[i] * (x.data[i] - mm.data[i]);
    return [new Tensor(gx, x.shape)];
  },
});

function varArgs(op: string, options: unknown): { correction: number; keepdim: boolean } {
  const o = opts<VarOptions>(op, options, ['unbiased', 'correction', 'keepdim']);
  const unbiased = optBool(op, 'options.unbiased', o.unbiased, true);
  const correction = optNumber(op, 'options.correction', o.correction, unbiased ? 1 : 0, { min: 0 });
  return { correction, keepdim: optBool(op, 'options.keepdim', o.keepdim, false) };
}

/** Variance over dims (unbiased by default, like torch.var). */
export function variance(x: Tensor, dim?: Dims | null, options?: VarOptions): Tensor {
  checkFloat('var', 'x', x);
  const { correction, keepdim } = varArgs('var', options);
  return VarFn(x, normDims('var', 'dim', dim, x.ndim), keepdim, correction);
}
export { variance as var_ };

export function std(x: Tensor, dim?: Dims | null, options?: VarOptions): Tensor {
  checkFloat('std', 'x', x);
  const { correction, keepdim } = varArgs('std', options);
  return sqrt(VarFn(x, normDims('std', 'dim', dim, x.ndim), keepdim, correction));
}

const NormFn = defineFunction({
  name: 'Norm',
  forward(ctx, x: Tensor, dims: number[], keepdim: boolean, p: number) {
    if (x.device === 'cuda') {
      // (sum |x|^p)^(1/p) in device ops; p = 2 as sqrt(sum x^2).
      const r = p === 2 ? sqrtRaw(reduceRaw(unaryRaw('square', x), dims, 'sum'))
        : unaryRaw('powScalar', reduceRaw(unaryRaw('powScalar', abs(x), p), dims, 'sum'), 1 / p);
      ctx.save(x, r);
      ctx.p = p;
      return new Tensor(r.data, finalShape(x.shape, dims, keepdim));
    }
    const ax = newArray(x.dtype, x.numel());
    for (let i = 0; i < ax.length; i++) ax[i] = Math.pow(Math.abs(x.data[i]), p);
    const r = reduceRaw(new Tensor(ax, x.shape), dims, 'sum');
    for (let i = 0; i < r.data.length; i++) r.data[i] = Math.pow(r.data[i], 1 / p);
    ctx.save(x, r);
    ctx.p = p;
    return new Tensor(r.data, finalShape(x.shape, dims, keepdim));
  },
  backward(ctx, g) {
    const [x, r] = ctx.saved;
    const p: number = ctx.p;
    if (x.device === 'cuda') return [normGradDevice(x, r, new Tensor(g.data, r.shape), p)];
    const gg = spread(g, r.shape, x.shape), rr = spread(r, r.shape, x.shape);
    const gx = newArray(x.dtype, x.numel());
    // d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); 0 where the norm is 0 (PyTorch's subgradient).
    for (let i = 0; i < gx.length; i++) {
      const v = x.data[i], nrm = rr.data[i];
      gx[i] = nrm === 0 || v === 0 ? 0 : gg.data[i] * Math.sign(v) * Math.pow(Math.abs(v) / nrm, p - 1);
    }
    return [new Tensor(gx, x.shape)];
  },
});

/** y = op(x; p0) elementwise on x's device (a new tensor). Not recorded. */
function unaryRaw(op: nc.UnaryOpName, x: Tensor, p0 = 0, p1 = 0): Tensor {
  const y = new Tensor(nc.outArray(x.dtype, x.numel(), x.device), x.shape);
  nc.unary(op, x.data, y.data, p0, p1);
  return y;
}
const sqrtRaw = (x: Tensor): Tensor => unaryRaw('sqrt', x);
/** 1 where x == v, else 0, in x's dtype (a device comparison). */
const isValue = (x: Tensor, v: number): Tensor => castCuda(raw.eq(x, scalarLike(v, x)), x.dtype);

/**
 * The CPU's norm gradient g sign(x) (|x| / r)^(p-1), 0 where r = 0 or x = 0, in device ops: the
 * zeros are steered around (r + [r = 0], |x| + [x = 0]) instead of selected, so 0 / 0 and
 * 0^(p-1) for p < 1 never form; sign(x) = [x > 0] - [x < 0] then zeroes x = 0.
 */
function normGradDevice(x: Tensor, r: Tensor, g: Tensor, p: number): Tensor {
  const zero = scalarLike(0, x);
  const sign = raw.sub(castCuda(raw.gt(x, zero), x.dtype), castCuda(raw.gt(zero, x), x.dtype));
  const rs = raw.add(r, isValue(r, 0));
  if (p === 2) return raw.mul(raw.mul(g, sign), raw.div(abs(x), rs));
  const ax = abs(x);
  return raw.mul(raw.mul(g, sign), unaryRaw('powScalar', raw.div(raw.add(ax, isValue(ax, 0)), rs), p - 1));
}

/** Vector p-norm over dims (all by default): p > 0 finite, or Infinity (max |x|). */
export function norm(x: Tensor, p = 2, dim?: Dims | null, keepdim = false): Tensor {
  checkFloat('norm', 'x', x);
  if (typeof p !== 'number') throw typeError('a number', 'norm(p)', p);
  if (!(p > 0)) throw rangeError('a number > 0 (or Infinity)', 'norm(p)', p);
  const dims = normDims('norm', 'dim', dim, x.ndim);
  optBool('norm', 'keepdim', keepdim, false);
  if (p === Infinity) return ExtremeFn(abs(x), dims, keepdim, 'max');
  return NormFn(x, dims, keepdim, p);
}

/** The largest finite value of each cuda float dtype. */
const MAX_FINITE = { float32: 3.4028234663852886e38, bfloat16: 3.3895313892515355e38, float16: 65504 };

const LogSumExpFn = defineFunction({
  name: 'LogSumExp',
  forward(ctx, x: Tensor, dims: number[], keepdim: boolean) {
    if (x.device === 'cuda') {
      // The max shift clamped to the finite floats: an all -inf row shifts by -FLT_MAX and gives
      // log 0 = -inf, a row with +inf gives inf (the CPU shifts both by 0); NaN stays NaN.
      const big = MAX_FINITE[x.dtype as 'float32'];
      const m = unaryRaw('clamp', reduceRaw(x, dims, 'max'), -big, big);
      const lse = raw.add(unaryRaw('log', reduceRaw(unaryRaw('exp', raw.sub(x, m)), dims, 'sum')), m);
      ctx.save(x, lse);
      return new Tensor(lse.data, finalShape(x.shape, dims, keepdim));
    }
    const m = reduceRaw(x, dims, 'max');
    const md = m.data;
    for (let i = 0; i < md.length; i++) if (!Number.isFinite(md[i])) md[i] = md[i] !== md[i] ? md[i] : 0; // all -inf rows give -inf, not NaN
    const e = newArray(x.dtype, m.numel());
    const xd = x.data;
    forEachRow(x.shape, [contiguousStrides(x.shape), broadcastStrides(m.shape, x.shape)], (o, n, s) => {
      const xo = o[0], oo = o[1], os = s[1];
      for (let i = 0; i < n; i++) e[oo + i * os] += Math.exp(xd[xo + i] - md[oo + i * os]);
    });
    for (let i = 0; i < e.length; i++) e[i] = Math.log(e[i]) + md[i];
    const lse = new Tensor(e, m.shape);
    ctx.save(x, lse);
    return new Tensor(e, finalShape(x.shape, dims, keepdim));
  },
  backward(ctx, g) {
    const [x, lse] = ctx.saved;
    if (x.device === 'cuda') return [raw.mul(new Tensor(g.data, lse.shape), unaryRaw('exp', raw.sub(x, lse)))];
    const gg = spread(g, lse.shape, x.shape), ll = spread(lse, lse.shape, x.shape);
    const gx = newArray(x.dtype, x.numel());
    for (let i = 0; i < gx.length; i++) gx[i] = gg.data[i] * Math.exp(x.data[i] - ll.data[i]);
    return [new Tensor(gx, x.shape)];
  },
});

/** log(sum(exp(x))) over dims, shifted by the max for stability. */
export function logsumexp(x: Tensor, dim: Dims, keepdim = false): Tensor {
  checkFloat('logsumexp', 'x', x);
  if (dim === undefined) throw typeError('a dim or an array of dims', 'logsumexp(dim)', dim);
  optBool('logsumexp', 'keepdim', keepdim, false);
  return LogSumExpFn(x, normDims('logsumexp', 'dim', dim, x.ndim), keepdim);
}
