import { SelfsupError, conv2d, zeros } from '../../../lib/index';
import type { OpRow } from '../op-db';
import type { RefTensor } from '../helpers';

/** Direct convolution (cross-correlation) in float64: seven nested loops, no im2col. */
function refConv2d(x: RefTensor, w: RefTensor, b: RefTensor | null, o: { stride?: number | number[]; padding?: number | number[] } = {}): RefTensor {
  const unbatched = x.shape.length === 3;
  const [N, C, H, W] = unbatched ? [1, ...x.shape] : x.shape;
  const [O, , kh, kw] = w.shape;
  const [sh, sw] = Array.isArray(o.stride) ? o.stride : [o.stride ?? 1, o.stride ?? 1];
  const [ph, pw] = Array.isArray(o.padding) ? o.padding : [o.padding ?? 0, o.padding ?? 0];
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1, Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const out = new Float64Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++) for (let f = 0; f < O; f++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
    let acc = b ? b.data[f] : 0;
    for (let c = 0; c < C; c++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const h = i * sh - ph + u, ww = j * sw - pw + v;
      if (h >= 0 && h < H && ww >= 0 && ww < W) acc += x.data[((n * C + c) * H + h) * W + ww] * w.data[((f * C + c) * kh + u) * kw + v];
    }
    out[((n * O + f) * Ho + i) * Wo + j] = acc;
  }
  return { shape: unbatched ? [O, Ho, Wo] : [N, O, Ho, Wo], data: out };
}

export const rows: OpRow[] = [
  {
    name: 'conv2d',
    fn: (x, w, b, o) => conv2d(x, w, b, o),
    ref: refConv2d,
    samples: (g) => [
      { label: '3x3 stride 1', args: [g.t([2, 2, 5, 4]), g.t([3, 2, 3, 3]), g.t([3]), {}] },
      { label: 'padding, stride 2, odd sizes', args: [g.t([1, 2, 5, 6]), g.t([2, 2, 3, 2]), g.t([2]), { stride: 2, padding: 1 }] },
      { label: 'per-axis stride and padding', args: [g.t([1, 1, 4, 7]), g.t([2, 1, 2, 3]), null, { stride: [1, 2], padding: [0, 2] }] },
      { label: 'patch embedding (kernel = stride, tiling: the permute path)', args: [g.t([2, 3, 4, 6]), g.t([4, 3, 2, 2]), g.t([4]), { stride: 2 }] },
      { label: 'kernel = stride with leftover rows and columns (the loop path)', args: [g.t([1, 2, 5, 7]), g.t([2, 2, 2, 2]), g.t([2]), { stride: 2 }] },
      { label: '1x1', args: [g.t([2, 3, 2, 2]), g.t([2, 3, 1, 1]), null, {}] },
      { label: 'kernel = image', args: [g.t([1, 2, 3, 3]), g.t([1, 2, 3, 3]), g.t([1]), {}] },
      { label: 'unbatched', args: [g.t([2, 3, 3]), g.t([2, 2, 2, 2]), null, { padding: 1 }] },
      { label: 'empty batch', args: [g.t([0, 2, 4, 4]), g.t([3, 2, 3, 3]), g.t([3]), {}] },
      { label: 'ViT-sized patches', args: [g.t([2, 3, 32, 32]), g.t([16, 3, 8, 8]), g.t([16]), { stride: 8 }], gradcheck: false },
    ],
    tol: { float32: [1e-5, 1e-4] },
    errors: [
      { args: () => [zeros([1, 3, 4, 4]), zeros([2, 2, 3, 3])], error: SelfsupError, message: 'Expected a weight [O, 3, kh, kw] (x has 3 channels) for conv2d(weight) but received [2, 2, 3, 3]', code: 'ERR_SHAPE_MISMATCH' },
      { args: () => [zeros([3, 4]), zeros([2, 3, 3, 3])], error: SelfsupError, message: 'for conv2d(x) but received [3, 4]' },
      { args: () => [zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3])], error: SelfsupError, message: "Expected an input at least the kernel's size 3x3 (after padding 0, 0) for conv2d(x)" },
      { args: () => [zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), zeros([3])], error: SelfsupError, message: 'Expected shape [2] for conv2d(bias) but received [3]' },
      { args: () => [zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), null, { stride: 0 }], error: RangeError, message: 'Expected an integer >= 1 for conv2d(options.stride) but received 0' },
      { args: () => [zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), null, { padding: [1, -1] }], error: RangeError, message: 'for conv2d(options.padding[1]) but received -1' },
      { args: () => [zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), null, { dilation: 2 }], error: TypeError, message: 'conv2d(options)' },
      { args: () => [zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3], { dtype: 'float64' })], error: SelfsupError, message: 'for conv2d(weight)', code: 'ERR_DTYPE_MISMATCH' },
    ],
  },
];
