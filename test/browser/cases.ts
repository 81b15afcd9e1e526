/** The cases of test/tfjs-browser.test.ts and test/tfjs-wasm.test.ts: each createOps op at awkward shapes. */
import type * as tf from '@tensorflow/tfjs-core';
import type { SelfsupTfOps } from '../../lib/tfjs/index';

type T = tf.Tensor;
export interface Input { data: Float32Array; shape: number[] }

function rnd(shape: number[], seed: number): Input {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; data[i] = (s / 2 ** 32) * 2 - 1; }
  return { data, shape };
}

export const CASES: Array<[string, (o: SelfsupTfOps, x: T[]) => T, Input[]]> = [
  ['matmul', (o, [a, b]) => o.matmul(a, b, { transposeB: true }), [rnd([5, 7], 1), rnd([3, 7], 2)]],
  ['attention', (o, [q, k, v]) => o.attention(q, k, v, { causal: true }), [rnd([1, 2, 5, 4], 3), rnd([1, 1, 6, 4], 4), rnd([1, 1, 6, 4], 5)]],
  ['infoNCE', (o, [a, b]) => o.infoNCE(a, b, { temperature: 0.2 }), [rnd([6, 5], 6), rnd([6, 5], 7)]],
  ['vicreg', (o, [a, b]) => o.vicreg(a, b).loss, [rnd([7, 4], 8), rnd([7, 4], 9)]],
  ['barlowTwins', (o, [a, b]) => o.barlowTwins(a, b), [rnd([7, 4], 10), rnd([7, 4], 11)]],
];
