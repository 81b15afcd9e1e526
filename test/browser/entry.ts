/**
 * The page of test/tfjs-browser.test.ts, bundled with esbuild for the browser: tfjs-core with its
 * cpu, webgl and webgpu backends, and selfsup/tfjs as a user's bundler gets it (dist/, with
 * package.json's "browser" field swapping the addon loader for the reference kernels).
 * window.selfsupRun(backend) runs every case on `backend` and on 'cpu' and returns the arrays.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { createOps, type SelfsupTfOps } from '../../dist/esm/tfjs.mjs';
import { CASES, type Input } from './cases';

type T = tf.Tensor;

/** Value and input gradients of f (upstream gradient all ones) on one backend, as plain arrays. */
async function valueAndGrads(backend: string, f: (o: SelfsupTfOps, xs: T[]) => T, inputs: Input[]): Promise<{ arrays: number[][]; active: string; path: string }> {
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
  await tf.ready();
  const o = createOps(tf);
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape, 'float32'));
  const value = f(o, xs);
  // tfjs-core alone registers no gradient for Sum: seed the backward with ones instead
  const dy = tf.onesLike(value);
  const grads = tf.grads((...a: T[]) => f(o, a))(xs, dy);
  const arrays = await Promise.all([value, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([value, dy, ...grads, ...xs]);
  return { arrays, active: tf.getBackend(), path: o.path() };
}

export interface CaseResult { name: string; on: number[][]; cpu: number[][]; active: string; path: string }

async function run(backend: string): Promise<{ results: CaseResult[]; flags: Record<string, unknown> }> {
  const results: CaseResult[] = [];
  for (const [name, f, inputs] of CASES) {
    const on = await valueAndGrads(backend, f, inputs);
    const cpu = await valueAndGrads('cpu', f, inputs);
    results.push({ name, on: on.arrays, cpu: cpu.arrays, active: on.active, path: on.path });
  }
  await tf.setBackend(backend);
  const flags: Record<string, unknown> = {};
  for (const f of ['WEBGL_VERSION', 'WEBGL_RENDER_FLOAT32_ENABLED', 'WEBGL_PACK'] as const) if (backend === 'webgl') flags[f] = tf.env().get(f);
  return { results, flags };
}

/** Why a backend cannot start here, in the browser's own words (null when it can). */
async function unavailable(backend: string): Promise<string | null> {
  if (backend === 'webgpu') {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return 'navigator.gpu is undefined';
    const adapter = await gpu.requestAdapter().catch((e: Error) => { throw new Error(`navigator.gpu.requestAdapter() threw: ${e.message}`); });
    if (!adapter) return 'navigator.gpu.requestAdapter() returned null';
  }
  if (backend === 'webgl' && !document.createElement('canvas').getContext('webgl2') && !document.createElement('canvas').getContext('webgl')) {
    return 'canvas.getContext(webgl2/webgl) returned null';
  }
  try {
    if (!(await tf.setBackend(backend))) return `tf.setBackend('${backend}') returned false`;
  } catch (e) {
    return `tf.setBackend('${backend}') threw: ${(e as Error).message}`;
  }
  // tfjs's own arithmetic, read back synchronously as the customGrad path does, must hold before
  // selfsup's can be judged: WebGPU on SwiftShader without --use-vulkan=swiftshader hands out an
  // adapter whose dataSync() reads zeros. onesLike is filled on the device, so the sum runs there.
  // (tfjs-webgpu would hand a sum of two small uploaded tensors to the cpu backend.)
  const x = tf.tensor([1, 0.5, -1.25, 7]);
  const y = tf.add(x, tf.onesLike(x));
  const got = Array.from(y.dataSync()); // the customGrad path reads synchronously
  tf.dispose([x, y]);
  const want = [2, 1.5, -0.25, 8];
  return got.every((v, i) => v === want[i]) ? null : `tfjs's own x + onesLike(x) on ${backend} read back [${got}] for x = [1, 0.5, -1.25, 7]`;
}

/** The WebGPU adapter's self-description (vendor, architecture, description), for the test log. */
async function adapterInfo(): Promise<Record<string, string> | null> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
  const a = gpu ? await gpu.requestAdapter() : null;
  return a?.info ? { vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description } : null;
}

Object.assign(window, { selfsupRun: run, selfsupUnavailable: unavailable, selfsupAdapter: adapterInfo });
