/**
 * What the 'selfsup' backend's kernels use of tfjs's cpu backend (a MathBackendCPU instance): its
 * storage (`data.get(dataId).values`, the typed array itself), `makeTensorInfo` (keeps the array
 * given, no copy) and the cpu kernel functions for everything not overridden. Types only from
 * @tensorflow/tfjs-core.
 */
import type * as tfc from '@tensorflow/tfjs-core';

export type TensorInfo = tfc.TensorInfo;
export type DataType = tfc.DataType;

export interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: unknown): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
}

export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: CpuBackend;
  attrs: Record<string, unknown>;
}
export type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** The part of tfjs-core's `backend_util` the kernels use. */
export interface BackendUtil {
  computeConv2DInfo: typeof tfc.backend_util.computeConv2DInfo;
  convertConv2DDataFormat: typeof tfc.backend_util.convertConv2DDataFormat;
  assertAndGetBroadcastShape: typeof tfc.backend_util.assertAndGetBroadcastShape;
  computePool2DInfo: typeof tfc.backend_util.computePool2DInfo;
}

/** The float32 array behind `t`, or null when it is not one (another dtype, complex, no values). */
export function f32Of(be: CpuBackend, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = be.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

export const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Per overridden kernel: calls that ran the selfsup path, and calls handed to the cpu kernel. */
export const PATH_COUNTS: Record<string, { selfsup: number; cpu: number }> = {};

/** A kernel that tries its fast path and falls back to the cpu kernel when the path returns null. */
export function withFallback(name: string, fast: (args: KernelArgs) => TensorInfo | null, cpu: KernelFn): KernelFn {
  const n = (PATH_COUNTS[name] ??= { selfsup: 0, cpu: 0 });
  return (args) => {
    const out = fast(args);
    if (out) { n.selfsup++; return out; }
    n.cpu++;
    return cpu(args);
  };
}
