/**
 * Optimizer arithmetic on 'cuda' parameters, composed from the tensor core's device ops
 * (native/ops/tensor/cuda.cu: affine, axpy, square, sum): SGD, LARS and clipGradNorm use these
 * where they have no fused CUDA kernel (AdamW has one). Each op is one elementwise kernel on the
 * device's stream; values are rounded to float32 after each op (the CPU steps compute an element's
 * update in double and round once), so the results agree with the CPU to float32 rounding, not bit
 * for bit. A norm is a device sum read back to the host: one synchronization.
 */
import * as nc from '../ops/native-core';
import { DeviceArray, download } from '../cuda';
import type { TensorData } from '../tensor';
import type { FloatArray } from './optimizer';

const T = (x: FloatArray | DeviceArray): TensorData => x as unknown as TensorData;

export function isDevice(x: unknown): x is DeviceArray {
  return x instanceof DeviceArray;
}

/** A new device array a * x. */
export function scaled(x: FloatArray | DeviceArray, a: number): DeviceArray {
  const y = nc.deviceArray('float32', x.length);
  nc.unary('affine', T(x), y, a, 0);
  return y as unknown as DeviceArray;
}

/** x *= a, in place. */
export function scale(x: FloatArray | DeviceArray, a: number): void {
  nc.unary('affine', T(x), T(x), a, 0);
}

/** y += alpha x. */
export function axpy(y: FloatArray | DeviceArray, x: FloatArray | DeviceArray, alpha: number): void {
  nc.axpy(T(y), T(x), alpha);
}

/** sum x^2 (double accumulation on the device), read back: synchronizes. */
export function sumSquares(x: FloatArray | DeviceArray): number {
  const sq = nc.deviceArray('float32', x.length), out = nc.deviceArray('float32', 1);
  nc.unary('square', T(x), sq);
  nc.reduce('sum', sq, [x.length], [true], out);
  const v = download(out as unknown as DeviceArray)[0];
  (sq as unknown as DeviceArray).dispose();
  (out as unknown as DeviceArray).dispose();
  return v;
}
