/**
 * 2-D convolution (F.conv2d, NCHW) as im2col + the package's GEMM: the input's receptive fields
 * become the rows of a [N Ho Wo, C kh kw] matrix (Im2col), multiplied by the weight viewed as
 * [O, C kh kw] through F.linear (bias fused into the GEMM), then laid out as [N, O, Ho, Wo]. The
 * backward pass is linear's (two GEMMs) and col2im, the scatter-add of the rows back into the
 * input (Chellapilla et al., "High Performance Convolutional Neural Networks for Document
 * Processing", 2006). With kernel = stride and no padding (the ViT patch embedding), the rows are
 * the non-overlapping patches, taken by one strided copy.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, newArray, opts, zerosArray, type Arr } from './common';
import * as nc from './native-core';
import { linear } from './linalg';
import { permute, reshape, squeeze, unsqueeze } from './shape';

interface Geometry { N: number; C: number; H: number; W: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; Ho: number; Wo: number }

/**
 * Copies between the input [N, C, H, W] and the im2col matrix [N Ho Wo, C kh kw]: `toCols` fills
 * the matrix (padding taps stay 0), otherwise the matrix is added back into the input (col2im,
 * where overlapping windows, stride < kernel, accumulate). Both directions are one loop nest.
 */
function im2col(g: Geometry, img: Arr, cols: Arr, toCols: boolean): void {
  const { N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo } = g;
  const K = C * kh * kw;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        const row = ((n * Ho + oh) * Wo + ow) * K;
        // The taps j whose column w = ow sw - pw + j lies inside the image.
        const j0 = Math.max(0, pw - ow * sw), j1 = Math.min(kw, W + pw - ow * sw);
        for (let c = 0; c < C; c++) {
          for (let i = 0; i < kh; i++) {
            const h = oh * sh - ph + i;
            if (h < 0 || h >= H) continue;
            const src = ((n * C + c) * H + h) * W + ow * sw - pw, dst = row + (c * kh + i) * kw;
            if (toCols) for (let j = j0; j < j1; j++) cols[dst + j] = img[src + j];
            else for (let j = j0; j < j1; j++) img[src + j] += cols[dst + j];
          }
        }
      }
    }
  }
}

// ---- on 'cuda': strided device copies ------------------------------------------------------
// The padded image xp [N, C, Hp, Wp] is a zero fill plus one copy into its interior; the matrix is
// then ONE strided copy of xp (windows overlap in the source, never in the destination). col2im adds
// each tap's [N, C, Ho, Wo] gradients into its strided region of the padded gradient (read the
// region, add, write it back: a fixed order, no atomics), then takes the interior.

const dev = (dtype: Tensor['dtype'], shape: number[]): Tensor => new Tensor(nc.outArray(dtype, shape.reduce((a, b) => a * b, 1), 'cuda'), shape);

/** Zeros on the device: one element uploaded, copied with stride 0. */
function zerosDevice(dtype: Tensor['dtype'], shape: number[]): Tensor {
  const z = dev(dtype, shape);
  nc.copyStrided(zerosArray(dtype, 1, 'cuda'), z.data, [z.numel()], [0]);
  return z;
}

/** A zero-filled [N, C, Hp, Wp] device tensor with `img` [N, C, H, W] at (ph, pw). */
function padDevice(img: Tensor, g: Geometry, Hp: number, Wp: number): Tensor {
  const { N, C, H, W, ph, pw } = g;
  const xp = zerosDevice(img.dtype, [N, C, Hp, Wp]);
  nc.copyStrided(img.data, xp.data, [N, C, H, W], [C * H * W, H * W, W, 1], 0, [C * Hp * Wp, Hp * Wp, Wp, 1], ph * Wp + pw);
  return xp;
}

function im2colDevice(x: Tensor, g: Geometry): Tensor {
  const { N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo } = g;
  const Hp = H + 2 * ph, Wp = W + 2 * pw;
  const xp = ph || pw ? padDevice(x, g, Hp, Wp) : x;
  const cols = dev(x.dtype, [N * Ho * Wo, C * kh * kw]);
  nc.copyStrided(xp.data, cols.data, [N, Ho, Wo, C, kh, kw], [C * Hp * Wp, sh * Wp, sw, Hp * Wp, Wp, 1]);
  return cols;
}

function col2imDevice(grad: Tensor, g: Geometry): Tensor {
  const { N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo } = g;
  const Hp = H + 2 * ph, Wp = W + 2 * pw, K = C * kh * kw, shape = [N, C, Ho, Wo];
  const gxp = zerosDevice(grad.dtype, [N, C, Hp, Wp]);
  const region = [C * Hp * Wp, Hp * Wp, sh * Wp, sw];
  const cur = dev(grad.dtype, shape), tap = dev(grad.dtype, shape), sum = dev(grad.dtype, shape);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const at = i * Wp + j;
      nc.copyStrided(gxp.data, cur.data, shape, region, at);
      nc.copyStrided(grad.data, tap.data, shape, [Ho * Wo * K, kh * kw, Wo * K, K], i * kw + j);
      nc.binary('add', sum.data, shape, cur.data, shape, tap.data, shape);
      nc.copyStrided(sum.data, gxp.data, shape, [C * Ho * Wo, Ho * Wo, Wo, 1], 0, region, at);
    }
  }
  if (!ph && !pw) return gxp;
  const gx = dev(grad.dtype, [N, C, H, W]);
  nc.copyStrided(gxp.data, gx.data, [N, C, H, W], [C * Hp * Wp, Hp * Wp, Wp, 1], ph * Wp + pw);
  return gx;
}

const Im2colFn = defineFunction({
  name: 'Im2col',
  forward(ctx, x: Tensor, g: Geometry) {
    ctx.g = g;
    if (x.device === 'cuda') return im2colDevice(x, g);
    const cols = newArray(x.dtype, g.N * g.Ho * g.Wo * g.C * g.kh * g.kw);
    im2col(g, x.data, cols, true);
    return new Tensor(cols, [g.N * g.Ho * g.Wo, g.C * g.kh * g.kw]);
  },
  backward(ctx, grad) {
    const g: Geometry = ctx.g;
    if (grad.device === 'cuda') return [col2imDevice(grad, g)];
    const gx = newArray(grad.dtype, g.N * g.C * g.H * g.W);
    im2col(g, gx, grad.data, false);
    return [new Tensor(gx, [g.N, g.C, g.H, g.W])];
  },
});

/**
 * The im2col matrix as a differentiable op. Non-overlapping windows that tile the image exactly
 * (kernel = stride, no padding: the ViT patch embedding) are a reshape + permute, one native
 * strided copy each way; anything else runs the loop above.
 */
function columns(x: Tensor, g: Geometry): Tensor {
  const { N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo } = g;
  if (kh === sh && kw === sw && ph === 0 && pw === 0 && H === Ho * kh && W === Wo * kw) {
    return reshape(permute(reshape(x, [N, C, Ho, kh, Wo, kw]), [0, 2, 4, 1, 3, 5]), [N * Ho * Wo, C * kh * kw]);
  }
  return Im2colFn(x, g);
}

export interface Conv2dOptions {
  /** Step between windows: one number or [sh, sw] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side: one number or [ph, pw] (default 0). */
  padding?: number | [number, number];
}

/** A stride or padding: one integer >= min or a pair of them (errors name `op(arg)`). */
export function convPair(v: unknown, op: string, arg: string, min: number, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  const vs = Array.isArray(v) ? v : [v, v];
  if (vs.length !== 2) throw typeError('a number or a pair [h, w]', `${op}(${arg})`, v);
  vs.forEach((e, i) => {
    const name = Array.isArray(v) ? `${op}(${arg}[${i}])` : `${op}(${arg})`;
    if (typeof e !== 'number') throw typeError(`an integer >= ${min}`, name, e);
    if (!Number.isInteger(e) || e < min) throw rangeError(`an integer >= ${min}`, name, e);
  });
  return vs as [number, number];
}

/**
 * F.conv2d: x [N, C, H, W] (or unbatched [C, H, W]), weight [O, C, kh, kw], bias [O] or null ->
 * [N, O, Ho, Wo] with Ho = floor((H + 2 ph - kh) / sh) + 1 (cross-correlation, as PyTorch).
 * No dilation or groups.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor {
  checkFloat('conv2d', 'x', x);
  checkFloat('conv2d', 'weight', weight);
  checkSameDtype('conv2d', 'weight', weight, x, 'x');
  const o = opts<Conv2dOptions>('conv2d', options, ['stride', 'padding']);
  const [sh, sw] = convPair(o.stride, 'conv2d', 'options.stride', 1, 1);
  const [ph, pw] = convPair(o.padding, 'conv2d', 'options.padding', 0, 0);
  if (x.ndim === 3) return squeeze(conv2d(unsqueeze(x, 0), weight, bias, options), 0);
  if (x.ndim !== 4) throw selfsupError('ERR_SHAPE_MISMATCH', 'an input [N, C, H, W] or [C, H, W]', 'conv2d(x)', shapeStr(x.shape));
  const [N, C, H, W] = x.shape;
  if (weight.ndim !== 4 || weight.shape[1] !== C) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a weight [O, ${C}, kh, kw] (x has ${C} channels)`, 'conv2d(weight)', shapeStr(weight.shape));
  }
  const [O, , kh, kw] = weight.shape;
  if (kh === 0 || kw === 0) throw selfsupError('ERR_SHAPE_MISMATCH', 'a kernel of at least 1x1', 'conv2d(weight)', shapeStr(weight.shape));
  if (bias !== undefined && bias !== null) {
    checkFloat('conv2d', 'bias', bias);
    checkSameDtype('conv2d', 'bias', bias, x, 'x');
    if (bias.ndim !== 1 || bias.shape[0] !== O) throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${O}]`, 'conv2d(bias)', shapeStr(bias.shape));
  }
  if (H + 2 * ph < kh || W + 2 * pw < kw) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `an input at least the kernel's size ${kh}x${kw} (after padding ${ph}, ${pw})`, 'conv2d(x)', shapeStr(x.shape));
  }
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1, Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const cols = columns(x, { N, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo });
  const y = linear(cols, reshape(weight, [O, C * kh * kw]), bias ?? null); // [N Ho Wo, O]
  return permute(reshape(y, [N, Ho, Wo, O]), [0, 3, 1, 2]);
}
