/**
 * The 'selfsup' backend's GEMM kernels: BatchMatMul, _FusedMatMul, and Conv2D / FusedConv2D /
 * Conv2DBackpropInput / Conv2DBackpropFilter as im2col + GEMM (NHWC). Each reads the cpu
 * backend's float32 arrays in place and hands its result over without a copy; a case outside
 * the fast path (int32, NCHW, a batch broadcast the GEMM does not take, empty tensors) returns
 * null and runs the cpu kernel.
 *
 * im2col: each output pixel's receptive field, [fh, fw, inC] in NHWC order, is one row of a
 * matrix, so the convolution is that matrix times the filter viewed as [fh * fw * inC, outC]
 * (Chellapilla et al., "High Performance Convolutional Neural Networks for Document Processing",
 * 2006). The filter gradient is cols^T dy, the input gradient dy W^T scattered back (col2im).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { matmul } from '../kernels/linalg';
import { reluInPlace } from './backend-elementwise';
import { f32Of, sizeOf, type BackendUtil, type CpuBackend, type KernelArgs, type KernelFn, type TensorInfo } from './cpu';

/** Cpu kernel lookup (the activations and the Add the fused kernels may need). */
export type CpuKernels = (name: string) => KernelFn;

// ---- matmul ------------------------------------------------------------------------------------

interface MatmulIn { A: Float32Array; B: Float32Array; sa: number[]; sb: number[]; tA: boolean; tB: boolean; outShape: number[] }

/** A BatchMatMul the native GEMM takes: float32, non-empty, batches equal or one side 1. */
function matmulIn(be: CpuBackend, util: BackendUtil, a: TensorInfo, b: TensorInfo, attrs: Record<string, unknown>): MatmulIn | null {
  const A = f32Of(be, a), B = f32Of(be, b);
  if (!A || !B || A.length === 0 || B.length === 0) return null;
  const tA = attrs.transposeA === true, tB = attrs.transposeB === true;
  const ra = a.shape.length, rb = b.shape.length;
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const nA = sizeOf(batchA), nB = sizeOf(batchB);
  const batch = util.assertAndGetBroadcastShape(batchA, batchB);
  // [2, 3] x [3, 1]-style broadcasts (neither side whole) stay on the cpu kernel.
  if (nA !== 1 && nB !== 1 && (nA !== nB || sizeOf(batch) !== nA)) return null;
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  return { A, B, tA, tB, sa: [nA, a.shape[ra - 2], a.shape[ra - 1]], sb: [nB, b.shape[rb - 2], b.shape[rb - 1]], outShape: [...batch, m, n] };
}

function runMatmul(x: MatmulIn, bias: Float32Array | null): Float32Array {
  return matmul(x.A, x.sa, x.B, x.sb, { transA: x.tA, transB: x.tB, bias });
}

export function batchMatMul(util: BackendUtil): (args: KernelArgs) => TensorInfo | null {
  return ({ inputs, backend, attrs }) => {
    const x = matmulIn(backend, util, inputs.a!, inputs.b!, attrs);
    return x && backend.makeTensorInfo(x.outShape, 'float32', runMatmul(x, null));
  };
}

/** A bias the GEMM epilogue adds: float32 [n] (leading ones allowed). */
function rowBias(be: CpuBackend, bias: TensorInfo | undefined, n: number): Float32Array | null {
  const v = f32Of(be, bias);
  return v && v.length === n && bias!.shape[bias!.shape.length - 1] === n ? v : null;
}

const CPU_ACTIVATION: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', prelu: 'Prelu', leakyrelu: 'LeakyRelu', sigmoid: 'Sigmoid' };

/**
 * The fused kernels' epilogue after the GEMM: a bias it could not take (added by the cpu Add),
 * then the activation (relu in place when the native core takes it, the others by their cpu kernels).
 */
function epilogue(cpu: CpuKernels, args: KernelArgs, out: TensorInfo, biasDone: boolean): TensorInfo {
  const { inputs, backend, attrs } = args;
  let cur = out;
  const swap = (next: TensorInfo) => { backend.disposeIntermediateTensorInfo(cur); cur = next; };
  if (inputs.bias && !biasDone) swap(cpu('Add')({ inputs: { a: cur, b: inputs.bias }, backend, attrs: {} }) as TensorInfo);
  const act = attrs.activation as string | undefined;
  if (act === 'relu' && reluInPlace(f32Of(backend, cur)!, cur.shape, f32Of(backend, cur)!)) {
    // done in place
  } else if (act && act !== 'linear') {
    const name = CPU_ACTIVATION[act];
    if (!name) throw new Error(`Activation ${act} has not been implemented for the selfsup backend.`);
    const ins: Record<string, TensorInfo | undefined> = { x: cur };
    if (act === 'prelu') ins.alpha = inputs.preluActivationWeights;
    swap(cpu(name)({ inputs: ins, backend, attrs: act === 'leakyrelu' ? { alpha: attrs.leakyreluAlpha } : {} }) as TensorInfo);
  }
  return cur;
}

export function fusedMatMul(util: BackendUtil, cpu: CpuKernels): (args: KernelArgs) => TensorInfo | null {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const x = matmulIn(backend, util, inputs.a!, inputs.b!, attrs);
    if (!x) return null;
    const bias = rowBias(backend, inputs.bias, x.outShape[x.outShape.length - 1]);
    const out = backend.makeTensorInfo(x.outShape, 'float32', runMatmul(x, bias));
    return epilogue(cpu, args, out, bias !== null);
  };
}

// ---- convolution -------------------------------------------------------------------------------

type Conv2DInfo = tfc.backend_util.Conv2DInfo;

/** im2col rows per chunk: bounds the patch matrix to ~16 MB whatever the batch. */
const CHUNK_ELEMS = 1 << 22;

function chunkImages(info: Conv2DInfo): number {
  const rowsPerImage = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels;
  return Math.max(1, Math.min(info.batchSize, Math.floor(CHUNK_ELEMS / Math.max(1, rowsPerImage))));
}

/** True when the patch matrix is x itself (1x1 filter, stride 1, no padding). */
function isPointwise(c: Conv2DInfo): boolean {
  return c.filterHeight === 1 && c.filterWidth === 1 && c.strideHeight === 1 && c.strideWidth === 1 && c.padInfo.top === 0 && c.padInfo.left === 0;
}

/**
 * Visits every (patch row, filter tap) pair of images [b0, b0 + nb) whose input pixel is inside
 * the image: fn(colOffset, xOffset) with C contiguous channels at each. Shared by im2col and col2im.
 */
function forEachTap(c: Conv2DInfo, b0: number, nb: number, fn: (col: number, xs: number) => void): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = c;
  const K = FH * FW * C;
  for (let b = 0; b < nb; b++) {
    const xb = (b0 + b) * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((b * OH + oh) * OW + ow) * K;
        for (let i = 0; i < FH; i++) {
          const ih = oh * c.strideHeight - c.padInfo.top + i * c.dilationHeight;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < FW; j++) {
            const iw = ow * c.strideWidth - c.padInfo.left + j * c.dilationWidth;
            if (iw < 0 || iw >= W) continue;
            fn(row + (i * FW + j) * C, xb + (ih * W + iw) * C);
          }
        }
      }
    }
  }
}

/** The patch matrix [nb * OH * OW, FH * FW * C] of images [b0, b0 + nb); padding reads as 0. */
function im2col(x: Float32Array, c: Conv2DInfo, b0: number, nb: number, cols: Float32Array): void {
  const C = c.inChannels;
  cols.fill(0);
  if (C >= 16) forEachTap(c, b0, nb, (col, xs) => cols.set(x.subarray(xs, xs + C), col));
  else forEachTap(c, b0, nb, (col, xs) => { for (let ch = 0; ch < C; ch++) cols[col + ch] = x[xs + ch]; });
}

/** dx[images b0..] += the patch-matrix gradient scattered back to the pixels it came from. */
function col2im(cols: Float32Array, c: Conv2DInfo, b0: number, nb: number, dx: Float32Array): void {
  const C = c.inChannels;
  forEachTap(c, b0, nb, (col, xs) => { for (let ch = 0; ch < C; ch++) dx[xs + ch] += cols[col + ch]; });
}

function convInfoOf(util: BackendUtil, xShape: number[], filterShape: number[], attrs: Record<string, unknown>, dilations: unknown): Conv2DInfo | null {
  if (attrs.dataFormat === 'NCHW') return null;
  return util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as [number, number], dilations as [number, number], attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined, false, 'channelsLast');
}

const nonEmpty = (c: Conv2DInfo): boolean => c.batchSize * c.outHeight * c.outWidth * c.outChannels * c.inChannels * c.inHeight * c.inWidth > 0;

/** A backprop whose dy is not the forward's output shape (tf.conv2dTranspose allows it) stays on the cpu kernel. */
const dyMatches = (c: Conv2DInfo, dy: TensorInfo): boolean => c.outShape.every((d, i) => d === dy.shape[i]);

/** y [B, OH, OW, outC] = im2col(x) W (+ bias per output channel). */
function conv2dForward(x: Float32Array, W: Float32Array, c: Conv2DInfo, bias: Float32Array | null): Float32Array {
  const K = c.filterHeight * c.filterWidth * c.inChannels, N = c.outChannels, P = c.outHeight * c.outWidth;
  if (isPointwise(c)) return matmul(x, [c.batchSize * P, K], W, [K, N], { bias });
  const y = new Float32Array(c.batchSize * P * N);
  const per = chunkImages(c);
  const cols = new Float32Array(per * P * K);
  for (let b0 = 0; b0 < c.batchSize; b0 += per) {
    const nb = Math.min(per, c.batchSize - b0), rows = nb * P;
    im2col(x, c, b0, nb, cols);
    matmul(cols.subarray(0, rows * K), [rows, K], W, [K, N], { bias, out: y.subarray(b0 * P * N, (b0 + nb) * P * N) });
  }
  return y;
}

function conv2dFast(util: BackendUtil, args: KernelArgs, bias: Float32Array | null | 'any'): { y: TensorInfo; biasDone: boolean } | null {
  const { inputs, backend, attrs } = args;
  const x = f32Of(backend, inputs.x), W = f32Of(backend, inputs.filter);
  if (!x || !W) return null;
  const c = convInfoOf(util, inputs.x!.shape, inputs.filter!.shape, attrs, attrs.dilations);
  if (!c || !nonEmpty(c)) return null;
  const b = bias === 'any' ? rowBias(backend, inputs.bias, c.outChannels) : bias;
  const y = conv2dForward(x, W, c, b);
  return { y: backend.makeTensorInfo(c.outShape, 'float32', y), biasDone: b !== null };
}

export function conv2D(util: BackendUtil): (args: KernelArgs) => TensorInfo | null {
  return (args) => conv2dFast(util, args, null)?.y ?? null;
}

export function fusedConv2D(util: BackendUtil, cpu: CpuKernels): (args: KernelArgs) => TensorInfo | null {
  return (args) => {
    const r = conv2dFast(util, args, 'any');
    return r && epilogue(cpu, args, r.y, r.biasDone);
  };
}

/** dx [B, H, W, C] = col2im(dy W^T). */
export function conv2DBackpropInput(util: BackendUtil): (args: KernelArgs) => TensorInfo | null {
  return ({ inputs, backend, attrs }) => {
    const dy = f32Of(backend, inputs.dy), W = f32Of(backend, inputs.filter);
    if (!dy || !W) return null;
    const c = convInfoOf(util, attrs.inputShape as number[], inputs.filter!.shape, attrs, 1);
    if (!c || !nonEmpty(c) || !dyMatches(c, inputs.dy!)) return null;
    const K = c.filterHeight * c.filterWidth * c.inChannels, N = c.outChannels, P = c.outHeight * c.outWidth;
    if (isPointwise(c)) return backend.makeTensorInfo(c.inShape, 'float32', matmul(dy, [c.batchSize * P, N], W, [K, N], { transB: true }));
    const dx = new Float32Array(sizeOf(c.inShape));
    const per = chunkImages(c);
    const cols = new Float32Array(per * P * K);
    for (let b0 = 0; b0 < c.batchSize; b0 += per) {
      const nb = Math.min(per, c.batchSize - b0), rows = nb * P;
      const part = cols.subarray(0, rows * K);
      matmul(dy.subarray(b0 * P * N, (b0 + nb) * P * N), [rows, N], W, [K, N], { transB: true, out: part });
      col2im(part, c, b0, nb, dx);
    }
    return backend.makeTensorInfo(c.inShape, 'float32', dx);
  };
}

/** dW [FH, FW, C, outC] = im2col(x)^T dy, summed over image chunks. */
export function conv2DBackpropFilter(util: BackendUtil): (args: KernelArgs) => TensorInfo | null {
  return ({ inputs, backend, attrs }) => {
    const x = f32Of(backend, inputs.x), dy = f32Of(backend, inputs.dy);
    if (!x || !dy) return null;
    const c = convInfoOf(util, inputs.x!.shape, attrs.filterShape as number[], attrs, 1);
    if (!c || !nonEmpty(c) || !dyMatches(c, inputs.dy!)) return null;
    const K = c.filterHeight * c.filterWidth * c.inChannels, N = c.outChannels, P = c.outHeight * c.outWidth;
    const shape = attrs.filterShape as number[];
    if (isPointwise(c)) return backend.makeTensorInfo(shape, 'float32', matmul(x, [c.batchSize * P, K], dy, [c.batchSize * P, N], { transA: true }));
    const dW = new Float32Array(K * N), part = new Float32Array(K * N);
    const per = chunkImages(c);
    const cols = new Float32Array(per * P * K);
    for (let b0 = 0; b0 < c.batchSize; b0 += per) {
      const nb = Math.min(per, c.batchSize - b0), rows = nb * P;
      im2col(x, c, b0, nb, cols);
      matmul(cols.subarray(0, rows * K), [rows, K], dy.subarray(b0 * P * N, (b0 + nb) * P * N), [rows, N], { transA: true, out: b0 === 0 ? dW : part });
      if (b0 > 0) for (let i = 0; i < dW.length; i++) dW[i] += part[i];
    }
    return backend.makeTensorInfo(shape, 'float32', dW);
  };
}
