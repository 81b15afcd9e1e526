/**
 * The fused optimizer steps of the native addon (native/ops/optim): one multi-tensor call per
 * parameter group and dtype, the arithmetic of the TypeScript loops (bit-identical in float64).
 * null on the reference backend, where the optimizers run their loops.
 */
import { tryNative } from '../backends/native';
import type { NativeAddon } from '../backends/native-api';

type FloatArray = Float32Array | Float64Array;

export type FusedOptimAddon = Pick<NativeAddon, 'optimAdamW' | 'optimSGD'>;

/** Indices of the params (and grads) of each float dtype: one fused call per dtype. */
export function byDtype(params: ReadonlyArray<{ data: unknown }>, grads: ReadonlyArray<FloatArray>): number[][] {
  return [Float32Array, Float64Array]
    .map((C) => params.map((_, i) => i).filter((i) => params[i].data instanceof C && grads[i] instanceof C))
    .filter((idx) => idx.length > 0);
}

let cached: FusedOptimAddon | null | undefined;
export function fusedAddon(): FusedOptimAddon | null {
  if (!enabled) return null;
  if (cached === undefined) {
    const a = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();
    cached = a && typeof a.optimAdamW === 'function' ? a : null;
  }
  return cached;
}

let enabled = true;
/** Turns the fused native steps off (the TypeScript loops run): for tests comparing the two. */
export function setFusedOptimizers(on: boolean): void {
  enabled = on;
}
