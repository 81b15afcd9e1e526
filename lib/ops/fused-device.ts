/**
 * The fused families on 'cuda' (docs/cuda.md): the CUDA build's bindings of their kernels
 * (native/napi/cuda_fused.cc) and the checks every family's device path shares. The ops in
 * lib/ops (attention, info_nce, vicreg, sinkhorn, tokens) route a cuda tensor here; the bindings
 * take the CPU exports' argument layouts with device buffers in place of typed arrays.
 *
 * Device rule for the fused ops: every tensor argument (indices, lengths, masks, labels,
 * negatives, priors, projections) must be on the device of the op's first input, else
 * ERR_DEVICE_MISMATCH; only numbers cross devices (as in the elementwise ops).
 */
import { selfsupError } from '../errors';
import { DeviceArray, cudaAddon } from '../cuda';
import { Tensor, type DType } from '../tensor';
import { deviceArray } from './native-core';
import { toCuda } from './common';

type Dev = DeviceArray;
type Opts = Record<string, unknown>;

/** The fused exports of a CUDA build (the device arrays stand where the CPU exports take typed arrays). */
export interface CudaFusedAddon {
  cudaAttention(q: Dev, k: Dev, v: Dev, out: Dev, lse: Dev, lseLo: Dev | null, opts: Opts): void;
  cudaAttentionBackward(q: Dev, k: Dev, v: Dev, out: Dev, lse: Dev, dout: Dev, dlse: Dev | null, lseLo: Dev | null, dq: Dev, dk: Dev, dv: Dev, opts: Opts): void;
  cudaInfoNCEForward(z1: Dev, z2: Dev, negatives: Dev | null, labels: Dev | null, losses: Dev, lse: Dev, lsePos: Dev | null, opts: Opts): void;
  cudaInfoNCEBackward(z1: Dev, z2: Dev, negatives: Dev | null, labels: Dev | null, gradRows: Dev, lse: Dev, lsePos: Dev | null, dz1: Dev, dz2: Dev, opts: Opts): void;
  cudaVicregForward(x: Dev, y: Dev, opts: Opts): { invariance: number; variance: number; covariance: number };
  cudaVicregBackward(x: Dev, y: Dev, dx: Dev, dy: Dev, opts: Opts): void;
  cudaVicregTermForward(x: Dev, opts: Opts): { value: number };
  cudaVicregTermBackward(x: Dev, dx: Dev, opts: Opts): void;
  cudaBarlowTwinsForward(z1: Dev, z2: Dev, opts: Opts): { loss: number; onDiagonal: number; offDiagonal: number };
  cudaBarlowTwinsBackward(z1: Dev, z2: Dev, dz1: Dev, dz2: Dev, opts: Opts): void;
  cudaSinkhorn(scores: Dev, out: Dev, opts: Opts): { iterations: number; marginalError: number; sweeps: number };
  cudaTokensGather(x: Dev, idx: Dev, lengths: Dev | null, pos: Dev | null, out: Dev, opts: Opts): void;
  cudaTokensGatherBackward(grad: Dev, idx: Dev, lengths: Dev | null, dx: Dev | null, dpos: Dev | null, opts: Opts): void;
  cudaTokensScatter(src: Dev, idx: Dev, lengths: Dev | null, fill: Dev | null, out: Dev, opts: Opts): void;
  cudaTokensScatterBackward(grad: Dev, idx: Dev, lengths: Dev | null, dsrc: Dev | null, dfill: Dev | null, opts: Opts): void;
  cudaStochasticPositions(pos: Dev, idx: Dev, lengths: Dev | null, weight: Dev, bias: Dev | null, out: Dev, noise: Dev | null, opts: Opts): void;
  cudaStochasticPositionsBackward(grad: Dev, idx: Dev, lengths: Dev | null, noise: Dev | null, dpos: Dev | null, dweight: Dev | null, dbias: Dev | null, opts: Opts): void;
}

/** The fused bindings of the CUDA build (ERR_NO_DEVICE naming `op` without one). */
export function fused(op: string): CudaFusedAddon {
  return cudaAddon(op) as unknown as CudaFusedAddon;
}

/** A tensor's device storage (for the bindings). */
export function dev(t: Tensor): Dev;
export function dev(t: Tensor | null): Dev | null;
export function dev(t: Tensor | null): Dev | null {
  return t ? (t.data as unknown as Dev) : null;
}

/** New device storage of n elements (contents unspecified: for outputs the kernel writes in full). */
export function devOut(dtype: DType, n: number): Dev {
  return deviceArray(dtype, n) as unknown as Dev;
}

/** A tensor over device storage. */
export function devTensor(d: Dev, shape: readonly number[]): Tensor {
  return new Tensor(d as never, shape);
}

/** ERR_DEVICE_MISMATCH unless `t` is on `ref`'s device (for arguments of another dtype than ref). */
export function checkSameDevice(op: string, arg: string, t: Tensor, ref: Tensor, refArg: string): void {
  if (t.device !== ref.device) {
    throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${ref.device}' (the device of ${refArg})`, `${op}(${arg})`, `a Tensor on '${t.device}'`);
  }
}

/**
 * On 'cuda', the fused kernels other than attention are float32 only: a bfloat16 / float16 input
 * is ERR_UNSUPPORTED naming op and argument (never a silent conversion).
 */
export function checkCudaFloat32(op: string, arg: string, t: Tensor): void {
  if (t.device === 'cuda' && t.dtype !== 'float32') {
    throw selfsupError('ERR_UNSUPPORTED', `a float32 Tensor (${op} has float32 CUDA kernels only)`, `${op}(${arg})`, `a ${t.dtype} Tensor on 'cuda'`);
  }
}

/** A 0-dim float32 cuda tensor holding v (one upload). */
export function cudaScalar(v: number): Tensor {
  return toCuda(new Tensor(Float32Array.of(v), []));
}
