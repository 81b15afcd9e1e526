/**
 * The 'selfsup' backend's MaxPool and MaxPoolGrad (NHWC, float32). Both scan each window in the
 * cpu kernel's order with a strict `>` (NaN never wins, the first maximum does), so the forward
 * and the routing of the gradient equal the cpu backend's; the gradient is scattered to each
 * window's argmax instead of gathered per input pixel.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { f32Of, type BackendUtil, type KernelArgs, type TensorInfo } from './cpu';

type Fast = (args: KernelArgs) => TensorInfo | null;
type PoolInfo = tfc.backend_util.Conv2DInfo;

/** Calls fn(outOffset, argmaxOffset) per output element; argmax -1 when the window has no number above -Infinity. */
function forEachWindowMax(x: Float32Array, c: PoolInfo, fn: (out: number, at: number, max: number) => void): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = c;
  const at = new Int32Array(C), mx = new Float32Array(C);
  for (let b = 0; b < c.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * c.strideHeight - c.padInfo.top;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * c.strideWidth - c.padInfo.left;
        at.fill(-1);
        mx.fill(-Infinity);
        for (let r = Math.max(0, r0); r < Math.min(H, r0 + c.effectiveFilterHeight); r++) {
          for (let q = Math.max(0, c0); q < Math.min(W, c0 + c.effectiveFilterWidth); q++) {
            const base = ((b * H + r) * W + q) * C;
            for (let ch = 0; ch < C; ch++) if (x[base + ch] > mx[ch]) { mx[ch] = x[base + ch]; at[ch] = base + ch; }
          }
        }
        const out = ((b * OH + oh) * OW + ow) * C;
        for (let ch = 0; ch < C; ch++) fn(out + ch, at[ch], mx[ch]);
      }
    }
  }
}

function poolInfo(util: BackendUtil, shape: number[], attrs: Record<string, unknown>): PoolInfo | null {
  const c = util.computePool2DInfo(shape as [number, number, number, number], attrs.filterSize as [number, number],
    attrs.strides as [number, number], 1, attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined);
  const identity = c.filterWidth === 1 && c.filterHeight === 1 && c.outHeight === c.inHeight && c.outWidth === c.inWidth;
  return identity || c.batchSize * c.outHeight * c.outWidth * c.inChannels === 0 ? null : c;
}

export function poolKernels(util: BackendUtil): Record<string, Fast> {
  return {
    MaxPool: ({ inputs, backend, attrs }) => {
      const X = f32Of(backend, inputs.x);
      const c = X && poolInfo(util, inputs.x!.shape, attrs);
      if (!X || !c) return null;
      const y = new Float32Array(c.batchSize * c.outHeight * c.outWidth * c.inChannels);
      forEachWindowMax(X, c, (o, _at, m) => { y[o] = m; });
      return backend.makeTensorInfo(c.outShape, 'float32', y);
    },
    MaxPoolGrad: ({ inputs, backend, attrs }) => {
      const X = f32Of(backend, inputs.input), dy = f32Of(backend, inputs.dy);
      const c = X && dy && poolInfo(util, inputs.input!.shape, attrs);
      if (!X || !dy || !c) return null;
      const dx = new Float32Array(X.length);
      forEachWindowMax(X, c, (o, at) => { if (at >= 0) dx[at] += dy[o]; });
      return backend.makeTensorInfo(inputs.input!.shape, 'float32', dx);
    },
  };
}
