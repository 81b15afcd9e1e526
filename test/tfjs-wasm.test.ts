/**
 * selfsup/tfjs's fused ops on a backend that is not the cpu one: tfjs's WebAssembly backend
 * (@tensorflow/tfjs-backend-wasm, runs in Node). There the ops take the tf.customGrad path (the
 * kernels read the inputs with dataSync and return tensors of the active backend). Every op's
 * value and gradients on 'wasm' must equal those on 'cpu' (the registered-kernel path) to 1e-4.
 * The webgl and webgpu backends need a browser and are not exercised here.
 */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type * as tfc from '@tensorflow/tfjs-core';
import { createOps, type SelfsupTfOps } from '../lib/tfjs/index';
import { expectCloseNormwise } from './helpers';
import { CASES, type Input } from './browser/cases';

const require = createRequire(import.meta.url);
type TF = typeof tfc;
type T = tfc.Tensor;

function load(): TF | null {
  try {
    const tf = require('@tensorflow/tfjs-core') as TF;
    require('@tensorflow/tfjs-backend-cpu');
    require('@tensorflow/tfjs-backend-wasm');
    return tf;
  } catch {
    return null;
  }
}
const tf = load() as TF;

/** Value and input gradients of f (upstream gradient all ones) on one backend, as plain arrays. */
async function valueAndGrads(backend: string, ops: () => SelfsupTfOps, f: (o: SelfsupTfOps, xs: T[]) => T, inputs: Input[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const o = ops();
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape, 'float32'));
  const value = f(o, xs);
  // tfjs-core alone registers no gradient for Sum: seed the backward with ones instead
  const dy = tf.onesLike(value);
  const grads = tf.grads((...a: T[]) => f(o, a))(xs, dy);
  const out = [value, ...grads].map((t) => Float32Array.from(t.dataSync()));
  tf.dispose([value, dy, ...grads, ...xs]);
  return out;
}

describe.skipIf(!tf)('selfsup/tfjs ops on the wasm backend', () => {
  let wasmOps: SelfsupTfOps | undefined, cpuOps: SelfsupTfOps | undefined;
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
  });


  for (const [name, f, inputs] of CASES) {
    it(`${name}: value and gradients equal the cpu backend's`, async () => {
      const onWasm = await valueAndGrads('wasm', () => (wasmOps ??= createOps(tf)), f, inputs);
      expect(tf.getBackend()).toBe('wasm');
      expect(wasmOps!.path()).toBe('customGrad');
      const onCpu = await valueAndGrads('cpu', () => (cpuOps ??= createOps(tf)), f, inputs);
      expect(onWasm.length).toBe(onCpu.length);
      onWasm.forEach((w, i) => expectCloseNormwise(w, onCpu[i], 1e-4, 1e-6));
    });
  }
});
