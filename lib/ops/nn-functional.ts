/**
 * Neural-network functionals: softmax family, normalization layers, dropout, cosine similarity.
 * Softmax/layerNorm/batchNorm are single fused Functions (one pass forward, closed-form backward)
 * rather than compositions, to keep memory at one saved tensor and the math stable.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { useReference } from '../backends/native';
import { layerNorm as klayerNorm, layerNormBackward as klayerNormBackward } from '../kernels/pointwise';
import type { FloatArray } from '../validate';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { STREAM_DROPOUT, resolveSeed } from '../factories';
import { uniformFloat32 } from '../random';
import { Tensor } from '../tensor';
import { checkCudaFloat32, checkFloat, checkSameDtype, emptyLike, newArray, normDim, opts, optBool, optNumber, splitAt, broadcastShapes, sameShape, scalarLike } from './common';
import { add, clamp, div, mul, raw, rsqrt, square, sub, whereRaw } from './elementwise';
import { mean, norm, sum } from './reduce';
import { expand } from './shape';
import * as nc from './native-core';
import { noGrad } from '../autograd/grad-mode';

// ---- softmax / logSoftmax ------------------------------------------------------------------

function softmaxForward(x: Tensor, dim: number, log: boolean): Tensor {
  const { outer, size, inner } = splitAt(x.shape, dim);
  const y = new Tensor(nc.outArray(x.dtype, x.numel(), x.device), x.shape), xd = x.data, yd = y.data;
  if (nc.softmax(log, xd, yd, outer, size, inner)) return y;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let m = -Infinity;
      for (let d = 0; d < size; d++) { const v = xd[base + d * inner]; if (v > m) m = v; }
      if (m === -Infinity) m = 0; // an all -inf row gives NaN like PyTorch, not a crash
      let s = 0;
      for (let d = 0; d < size; d++) s += Math.exp(xd[base + d * inner] - m);
      if (log) {
        const lse = m + Math.log(s);
        for (let d = 0; d < size; d++) yd[base + d * inner] = xd[base + d * inner] - lse;
      } else {
        const inv = 1 / s;
        for (let d = 0; d < size; d++) yd[base + d * inner] = Math.exp(xd[base + d * inner] - m) * inv;
      }
    }
  }
  return y;
}

function softmaxFn(log: boolean) {
  return defineFunction({
    name: log ? 'LogSoftmax' : 'Softmax',
    forward(ctx, x: Tensor, dim: number) {
      const y = softmaxForward(x, dim, log);
      ctx.save(y);
      ctx.dim = dim;
      return y;
    },
    backward(ctx, g) {
      const [y] = ctx.saved;
      const { outer, size, inner } = splitAt(y.shape, ctx.dim);
      const gx = new Tensor(nc.outArray(g.dtype, g.numel(), g.device), g.shape), gd = g.data, yd = y.data, od = gx.data;
      if (nc.softmaxBackward(log, gd, yd, od, outer, size, inner)) return [gx];
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * size * inner + i;
          let s = 0;
          // softmax: gx = y (g - sum(g y)); logSoftmax: gx = g - exp(y) sum(g)
          if (log) {
            for (let d = 0; d < size; d++) s += gd[base + d * inner];
            for (let d = 0; d < size; d++) { const k = base + d * inner; od[k] = gd[k] - Math.exp(yd[k]) * s; }
          } else {
            for (let d = 0; d < size; d++) { const k = base + d * inner; s += gd[k] * yd[k]; }
            for (let d = 0; d < size; d++) { const k = base + d * inner; od[k] = yd[k] * (gd[k] - s); }
          }
        }
      }
      return [gx];
    },
  });
}
const SoftmaxFn = softmaxFn(false);
const LogSoftmaxFn = softmaxFn(true);

export function softmax(x: Tensor, dim: number): Tensor {
  checkFloat('softmax', 'x', x);
  return SoftmaxFn(x, normDim('softmax', 'dim', dim, x.ndim));
}
/** log(softmax(x)) computed as x - logsumexp(x) (no log of an underflowed 0). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  checkFloat('logSoftmax', 'x', x);
  return LogSoftmaxFn(x, normDim('logSoftmax', 'dim', dim, x.ndim));
}

// ---- layerNorm ------------------------------------------------------------------------------

/**
 * One pass per row each way. Forward saves x (alive anyway: it is the residual stream in a
 * transformer) and per-row mean / rstd instead of a materialized xhat, which backward recomputes
 * on the fly: one [rows, n] buffer fewer to allocate, write and keep.
 */
const LayerNormFn = defineFunction({
  name: 'LayerNorm',
  forward(ctx, x: Tensor, w: Tensor | null, b: Tensor | null, n: number, eps: number) {
    const rows = n === 0 ? 0 : x.numel() / n;
    ctx.save(x, w);
    if (x.device === 'cuda') { // native/ops/pointwise/cuda.cu: mean / rstd are float32 on the device
      const y = emptyLike(x);
      const mean = nc.deviceArray('float32', rows), rstd = nc.deviceArray('float32', rows);
      nc.layerNormDevice(x.data, w?.data ?? null, b?.data ?? null, y.data, mean, rstd, rows, n, eps);
      Object.assign(ctx, { mean, rstd, n });
      return y;
    }
    if (!useReference()) { // native/ops/pointwise: SIMD rows, multithreaded
      const r = klayerNorm(x.data as FloatArray, [rows, n], { weight: (w?.data ?? null) as FloatArray | null, bias: (b?.data ?? null) as FloatArray | null, eps });
      Object.assign(ctx, { mean: r.mean, rstd: r.rstd, n });
      return new Tensor(r.out, x.shape);
    }
    const y = emptyLike(x);
    const mean = new Float64Array(rows), rstd = new Float64Array(rows);
    layerNormRows(x.data, y.data, w?.data ?? null, b?.data ?? null, mean, rstd, rows, n, eps);
    Object.assign(ctx, { mean, rstd, n });
    return y;
  },
  backward(ctx, g) {
    const [x, w] = ctx.saved;
    const n: number = ctx.n;
    const rows = n === 0 ? 0 : g.numel() / n;
    if (g.device === 'cuda') {
      const gx = emptyLike(g);
      const gw = w && ctx.needsInputGrad[1] ? emptyLike(w) : null, gb = ctx.needsInputGrad[2] ? emptyLike(g, [n]) : null;
      nc.layerNormBackwardDevice(g.data, x.data, w?.data ?? null, ctx.mean, ctx.rstd, gx.data, gw?.data ?? null, gb?.data ?? null, rows, n);
      return [gx, gw, gb];
    }
    if (!useReference()) {
      const r = klayerNormBackward(g.data as FloatArray, x.data as FloatArray, [rows, n], ctx.mean as Float64Array, ctx.rstd as Float64Array, {
        weight: (w?.data ?? null) as FloatArray | null, weightGrad: !!w && ctx.needsInputGrad[1], biasGrad: !!ctx.needsInputGrad[2],
      });
      return [new Tensor(r.dx, g.shape), r.dweight ? new Tensor(r.dweight, [n]) : null, r.dbias ? new Tensor(r.dbias, [n]) : null];
    }
    const gx = emptyLike(g);
    const gw = w && ctx.needsInputGrad[1] ? new Float64Array(n) : null, gb = ctx.needsInputGrad[2] ? new Float64Array(n) : null;
    layerNormBackwardRows(g.data, x.data, w?.data ?? null, ctx.mean as Float64Array, ctx.rstd as Float64Array, gx.data, gw, gb, rows, n);
    const toT = (a: Float64Array | null): Tensor | null => {
      if (!a) return null;
      const t = new Tensor(newArray(g.dtype, n), [n]);
      t.data.set(a);
      return t;
    };
    return [gx, toT(gw), toT(gb)];
  },
});

type Arr = Float32Array | Float64Array | Int32Array | Uint8Array;

function layerNormRows(xd: Arr, yd: Arr, wd: Arr | null, bd: Arr | null, mean: Float64Array, rstd: Float64Array, rows: number, n: number, eps: number): void {
  for (let r = 0, off = 0; r < rows; r++, off += n) {
    let m = 0;
    for (let j = 0; j < n; j++) m += xd[off + j];
    m /= n;
    let v = 0;
    for (let j = 0; j < n; j++) { const d = xd[off + j] - m; v += d * d; }
    const rs = 1 / Math.sqrt(v / n + eps); // biased variance, as PyTorch
    mean[r] = m;
    rstd[r] = rs;
    if (wd && bd) for (let j = 0; j < n; j++) yd[off + j] = (xd[off + j] - m) * rs * wd[j] + bd[j];
    else for (let j = 0; j < n; j++) yd[off + j] = (wd ? (xd[off + j] - m) * rs * wd[j] : (xd[off + j] - m) * rs) + (bd ? bd[j] : 0);
  }
}

/** gx = rstd (gh - mean(gh) - xhat mean(gh xhat)) with gh = g w; gw += g xhat, gb += g (float64 sums). */
function layerNormBackwardRows(gd: Arr, xd: Arr, wd: Arr | null, mean: Float64Array, rstd: Float64Array, od: Arr, gw: Float64Array | null, gb: Float64Array | null, rows: number, n: number): void {
  for (let r = 0, off = 0; r < rows; r++, off += n) {
    const m = mean[r], rs = rstd[r];
    let a = 0, c = 0;
    if (wd) {
      for (let j = 0; j < n; j++) { const gh = gd[off + j] * wd[j]; a += gh; c += gh * (xd[off + j] - m) * rs; }
    } else {
      for (let j = 0; j < n; j++) { const gh = gd[off + j]; a += gh; c += gh * (xd[off + j] - m) * rs; }
    }
    a /= n;
    c /= n;
    if (wd) for (let j = 0; j < n; j++) od[off + j] = rs * (gd[off + j] * wd[j] - a - (xd[off + j] - m) * rs * c);
    else for (let j = 0; j < n; j++) od[off + j] = rs * (gd[off + j] - a - (xd[off + j] - m) * rs * c);
    if (gw) for (let j = 0; j < n; j++) gw[j] += gd[off + j] * (xd[off + j] - m) * rs;
    if (gb) for (let j = 0; j < n; j++) gb[j] += gd[off + j];
  }
}

export interface LayerNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
}

/** F.layer_norm over the trailing `normalizedShape` dims; weight/bias have that shape. */
export function layerNorm(x: Tensor, normalizedShape: number | number[], options?: LayerNormOptions): Tensor {
  checkFloat('layerNorm', 'x', x);
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (!Array.isArray(ns)) throw typeError('an integer or an array of integers', 'layerNorm(normalizedShape)', normalizedShape);
  const tail = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || !sameShape(tail, ns)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `an input whose trailing dims are ${shapeStr(ns)}`, 'layerNorm(x)', shapeStr(x.shape));
  }
  checkCudaFloat32('layerNorm', 'x', x);
  const o = opts<LayerNormOptions>('layerNorm', options, ['weight', 'bias', 'eps']);
  const eps = optNumber('layerNorm', 'options.eps', o.eps, 1e-5, { min: 0 });
  const params: Array<Tensor | null> = [o.weight ?? null, o.bias ?? null];
  ['weight', 'bias'].forEach((name, i) => {
    const p = params[i];
    if (!p) return;
    checkFloat('layerNorm', `options.${name}`, p);
    checkSameDtype('layerNorm', `options.${name}`, p, x, 'x');
    if (!sameShape(p.shape, ns)) throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(ns)} (normalizedShape)`, `layerNorm(options.${name})`, shapeStr(p.shape));
  });
  const n = ns.reduce((a, d) => a * d, 1);
  // weight/bias are flattened to [n] for the kernel; their gradients come back in their own shape.
  const w = params[0] ? params[0].reshape([n]) : null;
  const b = params[1] ? params[1].reshape([n]) : null;
  return LayerNormFn(x, w, b, n, eps);
}

// ---- batchNorm ------------------------------------------------------------------------------

const BatchNormFn = defineFunction({
  name: 'BatchNorm',
  forward(ctx, x: Tensor, w: Tensor | null, b: Tensor | null, mean: Float64Array, rstd: Float64Array, training: boolean) {
    const C = x.shape[1], L = x.numel() / (x.shape[0] * C) || 0, N = x.shape[0];
    const xhat = emptyLike(x), y = emptyLike(x);
    const xd = x.data, hd = xhat.data, yd = y.data, wd = w?.data, bd = b?.data;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const off = (n * C + c) * L, m = mean[c], rs = rstd[c], sc = wd ? wd[c] : 1, sh = bd ? bd[c] : 0;
        for (let l = 0; l < L; l++) { const h = (xd[off + l] - m) * rs; hd[off + l] = h; yd[off + l] = h * sc + sh; }
      }
    }
    ctx.save(xhat, w);
    Object.assign(ctx, { rstd, training, N, C, L });
    return y;
  },
  backward(ctx, g) {
    const [xhat, w] = ctx.saved;
    const { N, C, L, training } = ctx as unknown as { N: number; C: number; L: number; training: boolean };
    const rstd = ctx.rstd as Float64Array;
    const M = N * L;
    const sg = new Float64Array(C), sgh = new Float64Array(C);
    const gd = g.data, hd = xhat.data, wd = w?.data;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const off = (n * C + c) * L;
        let a = 0, b = 0;
        for (let l = 0; l < L; l++) { a += gd[off + l]; b += gd[off + l] * hd[off + l]; }
        sg[c] += a;
        sgh[c] += b;
      }
    }
    const gx = emptyLike(g), od = gx.data;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const off = (n * C + c) * L, k = (wd ? wd[c] : 1) * rstd[c];
        if (training) {
          // Batch statistics depend on x: gx = w rstd (g - mean(g) - xhat mean(g xhat)).
          const mg = sg[c] / M, mgh = sgh[c] / M;
          for (let l = 0; l < L; l++) od[off + l] = k * (gd[off + l] - mg - hd[off + l] * mgh);
        } else {
          for (let l = 0; l < L; l++) od[off + l] = k * gd[off + l];
        }
      }
    }
    const gw = ctx.needsInputGrad[1] ? new Tensor(newArray(g.dtype, C), [C]) : null;
    const gb = ctx.needsInputGrad[2] ? new Tensor(newArray(g.dtype, C), [C]) : null;
    for (let c = 0; c < C; c++) {
      if (gw) gw.data[c] = sgh[c];
      if (gb) gb.data[c] = sg[c];
    }
    return [gx, gw, gb];
  },
});

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Batch statistics (and running-stat update) when true; running statistics when false. Default false, as F.batch_norm. */
  training?: boolean;
  /** running = (1 - momentum) running + momentum batchStat (default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * F.batch_norm over x [N, C, ...]. In training the running stats (if given) are updated in place
 * with the unbiased batch variance, like PyTorch; normalization uses the biased one.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options?: BatchNormOptions): Tensor {
  checkFloat('batchNorm', 'x', x);
  if (x.ndim < 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'an input [N, C, ...] with at least 2 dims', 'batchNorm(x)', shapeStr(x.shape));
  const o = opts<BatchNormOptions>('batchNorm', options, ['weight', 'bias', 'training', 'momentum', 'eps']);
  const training = optBool('batchNorm', 'options.training', o.training, false);
  const momentum = optNumber('batchNorm', 'options.momentum', o.momentum, 0.1, { min: 0, max: 1 });
  const eps = optNumber('batchNorm', 'options.eps', o.eps, 1e-5, { min: 0 });
  const C = x.shape[1];
  const check = (name: string, t: Tensor | null | undefined): Tensor | null => {
    if (t === undefined || t === null) return null;
    checkFloat('batchNorm', name, t);
    checkSameDtype('batchNorm', name, t, x, 'x');
    if (t.ndim !== 1 || t.shape[0] !== C) throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${C}] (the channels of x)`, `batchNorm(${name})`, shapeStr(t.shape));
    return t;
  };
  const rm = check('runningMean', runningMean), rv = check('runningVar', runningVar);
  const w = check('options.weight', o.weight), b = check('options.bias', o.bias);
  if ((rm === null) !== (rv === null)) throw typeError('both runningMean and runningVar, or neither', 'batchNorm(runningVar)', runningVar);
  const N = x.shape[0], L = x.numel() / (N * C) || 0, M = N * L;
  if (training && M <= 1) throw rangeError('more than 1 value per channel when training', 'batchNorm(x)', `shape ${shapeStr(x.shape)}`, true);
  if (!training && (!rm || !rv)) throw typeError('running statistics (Tensors of shape [C]) when training is false', 'batchNorm(runningMean)', runningMean);
  if (x.device === 'cuda') return batchNormDevice(x, rm, rv, w, b, training, momentum, eps, M);
  const mean = new Float64Array(C), rstd = new Float64Array(C);
  if (training) {
    const xd = x.data, vr = new Float64Array(C);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) { const off = (n * C + c) * L; for (let l = 0; l < L; l++) mean[c] += xd[off + l]; }
    for (let c = 0; c < C; c++) mean[c] /= M;
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) { const off = (n * C + c) * L, m = mean[c]; for (let l = 0; l < L; l++) { const d = xd[off + l] - m; vr[c] += d * d; } }
    for (let c = 0; c < C; c++) {
      rstd[c] = 1 / Math.sqrt(vr[c] / M + eps);
      if (rm && rv) {
        rm.data[c] = (1 - momentum) * rm.data[c] + momentum * mean[c];
        rv.data[c] = (1 - momentum) * rv.data[c] + (momentum * vr[c]) / (M - 1);
      }
    }
  } else if (rm && rv) {
    for (let c = 0; c < C; c++) {
      mean[c] = rm.data[c];
      rstd[c] = 1 / Math.sqrt(rv.data[c] + eps);
    }
  }
  return BatchNormFn(x, w, b, mean, rstd, training);
}

/**
 * batchNorm on 'cuda' in differentiable device ops: the statistics over every dim but the channels
 * (two passes: the mean, then the biased variance), x̂ = (x - mean) rsqrt(var + eps), the affine
 * per channel; autograd through the statistics gives the training gradient the CPU writes out.
 * The running statistics move in place on the device (unbiased variance, as PyTorch).
 */
function batchNormDevice(x: Tensor, rm: Tensor | null, rv: Tensor | null, w: Tensor | null, b: Tensor | null,
  training: boolean, momentum: number, eps: number, M: number): Tensor {
  const C = x.shape[1];
  const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const perChannel = (t: Tensor): Tensor => t.reshape(x.shape.map((s, i) => (i === 1 ? C : 1)));
  let mu: Tensor, v: Tensor;
  if (training) {
    mu = mean(x, dims, true);
    v = mean(square(sub(x, mu)), dims, true);
    if (rm && rv) {
      noGrad(() => {
        rm.mul_(1 - momentum).add_(mu.reshape([C]), momentum);
        rv.mul_(1 - momentum).add_(v.reshape([C]), (momentum * M) / (M - 1));
      });
    }
  } else {
    mu = perChannel((rm as Tensor).detach());
    v = perChannel((rv as Tensor).detach());
  }
  let y = mul(sub(x, mu), rsqrt(add(v, eps)));
  if (w) y = mul(y, perChannel(w));
  if (b) y = add(y, perChannel(b));
  return y;
}

// ---- dropout --------------------------------------------------------------------------------

const DropoutFn = defineFunction({
  name: 'Dropout',
  forward(ctx, x: Tensor, p: number, seed: number) {
    const n = x.numel();
    if (x.device === 'cuda') {
      // The same mask from the device's Philox (native/ops/dropout), applied by the device select:
      // a dropped inf or NaN gives 0, as on the CPU.
      const keep = new Tensor(nc.outArray('bool', n, 'cuda'), x.shape);
      nc.dropoutMaskDevice(keep.data, seed, STREAM_DROPOUT, p);
      const scale = p >= 1 ? 0 : 1 / (1 - p);
      Object.assign(ctx, { keepDev: keep, scale });
      return whereRaw(keep, raw.scale(x, scale), scalarLike(0, x));
    }
    const u = uniformFloat32(seed, STREAM_DROPOUT, 0, n);
    const keep = new Uint8Array(n);
    const scale = p >= 1 ? 0 : 1 / (1 - p);
    const y = emptyLike(x), xd = x.data, yd = y.data;
    for (let i = 0; i < n; i++) {
      const k = u[i] >= p ? 1 : 0;
      keep[i] = k;
      yd[i] = k ? xd[i] * scale : 0;
    }
    Object.assign(ctx, { keep, scale });
    return y;
  },
  backward(ctx, g) {
    const keep = ctx.keep as Uint8Array, scale = ctx.scale as number;
    if (g.device === 'cuda') return [whereRaw(ctx.keepDev as Tensor, raw.scale(g, scale), scalarLike(0, g))];
    const gx = emptyLike(g);
    for (let i = 0; i < keep.length; i++) gx.data[i] = keep[i] ? g.data[i] * scale : 0;
    return [gx];
  },
});

export interface DropoutOptions {
  /** Identity when false (default true, as F.dropout). */
  training?: boolean;
  /** Philox seed of the mask: element i is dropped when uniformFloat32(seed, STREAM_DROPOUT=2, i) < p. */
  seed?: number;
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, options?: DropoutOptions): Tensor {
  checkFloat('dropout', 'x', x);
  optNumber('dropout', 'p', p, 0.5, { min: 0, max: 1 });
  const o = opts<DropoutOptions>('dropout', options, ['training', 'seed']);
  const training = optBool('dropout', 'options.training', o.training, true);
  if (!training || p === 0) return x;
  return DropoutFn(x, p, resolveSeed('dropout(options.seed)', o.seed));
}

// ---- cosine similarity / normalize ---------------------------------------------------------

/** x1.x2 / (max(||x1||, eps) max(||x2||, eps)) along dim (torch.nn.functional.cosine_similarity, eps 1e-8). */
export function cosineSimilarity(x1: Tensor, x2: Tensor, options?: { dim?: number; eps?: number }): Tensor {
  checkFloat('cosineSimilarity', 'x1', x1);
  checkFloat('cosineSimilarity', 'x2', x2);
  checkSameDtype('cosineSimilarity', 'x2', x2, x1, 'x1');
  const o = opts<{ dim: number; eps: number }>('cosineSimilarity', options, ['dim', 'eps']);
  const eps = optNumber('cosineSimilarity', 'options.eps', o.eps, 1e-8, { min: 0 });
  const shape = broadcastShapes('cosineSimilarity', 'x2', x1.shape, x2.shape);
  const d = normDim('cosineSimilarity', 'options.dim', o.dim ?? 1, shape.length);
  const a = sameShape(x1.shape, shape) ? x1 : expand(x1, shape);
  const b = sameShape(x2.shape, shape) ? x2 : expand(x2, shape);
  const dot = sum(mul(a, b), d);
  const n1 = clamp(norm(a, 2, d), eps, null), n2 = clamp(norm(b, 2, d), eps, null);
  return div(dot, mul(n1, n2));
}

/** x / max(||x||_p, eps) along dim (F.normalize: p 2, dim 1, eps 1e-12). */
export function normalize(x: Tensor, options?: { p?: number; dim?: number; eps?: number }): Tensor {
  checkFloat('normalize', 'x', x);
  const o = opts<{ p: number; dim: number; eps: number }>('normalize', options, ['p', 'dim', 'eps']);
  const p = optNumber('normalize', 'options.p', o.p, 2, { min: 0, minExclusive: true });
  const eps = optNumber('normalize', 'options.eps', o.eps, 1e-12, { min: 0 });
  const d = normDim('normalize', 'options.dim', o.dim ?? 1, x.ndim);
  return div(x, clamp(norm(x, p, d, true), eps, null));
}
