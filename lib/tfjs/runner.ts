/**
 * Runs an OpSpec (lib/tfjs/specs.ts) on tf.Tensors, by one of two paths:
 *
 *  - registered kernels (the 'cpu' backend): `Selfsup<Name>` is a tfjs kernel (tf.registerKernel)
 *    whose gradient (tf.registerGradient) runs the `Selfsup<Name>Grad` kernel. Inputs are read with
 *    backend.readSync and outputs written with backend.makeTensorInfo: both keep the typed array
 *    as is on the cpu backend, so nothing is copied. The ops show up by name in tf.profile.
 *  - tf.customGrad (every other backend, or kernels: false): the forward reads dataSync() (the
 *    backing array on cpu, a download on webgl/wasm) and wraps its results with tf.tensor.
 *
 * Both paths compute the same arrays with the same selfsup kernels. No tfjs import at run time:
 * the tf module is the caller's.
 */
import type * as tfjs from '@tensorflow/tfjs-core';
import type { Attrs, In, InArray, Ins, OpSpec, Out } from './specs';

type Tensor = tfjs.Tensor;

/** The part of the tf module the adapter uses (@tensorflow/tfjs-core's exports; tfjs and tfjs-node have them). */
export type TfModule = Pick<typeof tfjs,
  | 'Tensor' | 'tensor' | 'zeros' | 'customGrad' | 'tidy' | 'engine' | 'getBackend'
  | 'registerKernel' | 'registerGradient' | 'getKernel' | 'getGradient'>;

/** What a registered cpu kernel needs of the backend (MathBackendCPU has both). */
interface CpuBackendLike {
  readSync(dataId: object): unknown;
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tfjs.TensorInfo;
}

export const KERNEL_BACKEND = 'cpu';
/** The backends the `Selfsup*` kernels are registered for: cpu, and the selfsup backend (lib/tfjs/backend.ts), which shares its storage. */
export const KERNEL_BACKENDS: readonly string[] = [KERNEL_BACKEND, 'selfsup'];

/** What registering a spec's kernels and gradient needs of the tf module. */
type TfRegistry = Pick<TfModule, 'registerKernel' | 'getKernel' | 'registerGradient' | 'getGradient' | 'engine' | 'zeros'>;
export const kernelName = (spec: OpSpec): string => `Selfsup${spec.name}`;
export const gradKernelName = (spec: OpSpec): string => `Selfsup${spec.name}Grad`;

/** Backends keep numeric data in typed arrays; coerce defensively (a copy only if one did not). */
function asArray(v: unknown, dtype: string): InArray {
  if (dtype === 'int32') return v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>);
  if (dtype === 'bool') return v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>);
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

function readTensor(t: Tensor): In {
  return { values: asArray(t.dataSync(), t.dtype), shape: t.shape.slice() };
}

// ---- path 1: tf.customGrad ---------------------------------------------------------------------

function runCustomGrad(tf: TfModule, spec: OpSpec, inputs: Record<string, Tensor | null>, attrs: Attrs): Tensor[] {
  const x: Ins = {};
  for (const n of spec.inputs) x[n] = inputs[n] ? (spec.diff.includes(n) ? null : readTensor(inputs[n]!)) : null;
  const diffNames = spec.backward ? spec.diff.filter((n) => inputs[n]) : [];
  if (diffNames.length === 0) {
    // No gradient (Sinkhorn) or nothing to differentiate: a constant, i.e. stop-gradient.
    for (const n of spec.diff) if (inputs[n]) x[n] = readTensor(inputs[n]!);
    return spec.forward(x, attrs).map((o) => tf.tensor(o.values, o.shape, 'float32'));
  }
  let outs: Out[] = [];
  const f = tf.customGrad((...args: unknown[]) => {
    diffNames.forEach((n, i) => { x[n] = readTensor(args[i] as Tensor); });
    outs = spec.forward(x, attrs);
    return {
      value: tf.tensor(outs[0].values, outs[0].shape, 'float32'),
      gradFunc: (dy: Tensor) => {
        const g = spec.backward!(x, outs, asArray(dy.dataSync(), 'float32') as Float32Array, attrs);
        return diffNames.map((n) => tf.tensor(g[n], x[n]!.shape, 'float32'));
      },
    };
  });
  return [f(...diffNames.map((n) => inputs[n]!))];
}

// ---- path 2: registered kernels ----------------------------------------------------------------

function kernelInputs(spec: OpSpec, inputs: tfjs.NamedTensorInfoMap, present: boolean[], backend: CpuBackendLike): Ins {
  const x: Ins = {};
  spec.inputs.forEach((n, i) => {
    const t = inputs[n]!;
    x[n] = present[i] ? { values: asArray(backend.readSync(t.dataId), t.dtype), shape: t.shape.slice() } : null;
  });
  return x;
}

/**
 * Registers `Selfsup<Name>` (+ `Selfsup<Name>Grad` and the gradient) for the cpu backend unless
 * already registered (a second createOps, or another copy of selfsup on the same tfjs-core).
 * Absent optional inputs travel as [0]-shaped placeholders with attrs.present saying which:
 * tfjs saves inputs for the gradient by name, so every name must exist.
 */
export function registerSpec(tf: TfRegistry, spec: OpSpec, backendName: string): void {
  const name = kernelName(spec), gradName = gradKernelName(spec);
  // Both kernels read the cpu backend's arrays in place; registered once per backend.
  const register = (kernelName: string, run: (inputs: tfjs.NamedTensorInfoMap, be: CpuBackendLike, a: Attrs) => tfjs.TensorInfo | tfjs.TensorInfo[]) => {
    if (tf.getKernel(kernelName, backendName)) return;
    tf.registerKernel({ kernelName, backendName, kernelFunc: ({ inputs, backend, attrs }) => run(inputs, backend as unknown as CpuBackendLike, attrs as unknown as Attrs) });
  };
  register(name, (inputs, be, a) => {
    const outs = spec.forward(kernelInputs(spec, inputs, a.present as boolean[], be), a);
    return outs.map((o) => be.makeTensorInfo(o.shape, 'float32', o.values));
  });
  if (spec.backward) {
    register(gradName, (inputs, be, a) => {
      const x = kernelInputs(spec, inputs, a.present as boolean[], be);
      const outs: Out[] = [];
      for (let i = 0; inputs[`out${i}`]; i++) {
        const t = inputs[`out${i}`]!;
        outs.push({ values: asArray(be.readSync(t.dataId), 'float32') as Float32Array, shape: t.shape.slice() });
      }
      const dy = asArray(be.readSync(inputs.dy!.dataId), 'float32') as Float32Array;
      const g = spec.backward!(x, outs, dy, a);
      return spec.diff.map((n) => (x[n] ? be.makeTensorInfo(x[n]!.shape, 'float32', g[n]) : be.makeTensorInfo([0], 'float32', new Float32Array(0))));
    });
  }
  if (!tf.getGradient(name)) {
    tf.registerGradient({
      kernelName: name,
      inputsToSave: [...spec.inputs],
      outputsToSave: new Array(8).fill(true),
      gradFunc: (dy, saved, attrs) => {
        const nIn = spec.inputs.length;
        const zeros = (i: number) => () => tf.zeros(saved[i].shape, 'float32');
        const result: Record<string, () => Tensor> = {};
        spec.inputs.forEach((n, i) => { result[n] = zeros(i); });
        if (!spec.backward) return result; // stop-gradient
        const gin: tfjs.NamedTensorMap = {};
        spec.inputs.forEach((n, i) => { gin[n] = saved[i]; });
        saved.slice(nIn).forEach((t, i) => { gin[`out${i}`] = t; });
        gin.dy = Array.isArray(dy) ? dy[0] : dy;
        // Run eagerly (not inside the per-input closures): tfjs calls each closure in its own
        // tidy, which would dispose the sibling gradients of a multi-output kernel.
        const grads = tf.engine().runKernel(gradName, gin, attrs as tfjs.NamedAttrMap) as Tensor[];
        spec.diff.forEach((n, i) => {
          if ((attrs.present as boolean[])[spec.inputs.indexOf(n)]) result[n] = () => grads[i];
        });
        return result;
      },
    });
  }
}

function runKernel(tf: TfModule, spec: OpSpec, inputs: Record<string, Tensor | null>, attrs: Attrs): Tensor[] {
  const present = spec.inputs.map((n) => inputs[n] != null);
  const map: tfjs.NamedTensorMap = {};
  for (const n of spec.inputs) map[n] = inputs[n] ?? tf.zeros([0], 'float32');
  const out = tf.engine().runKernel(kernelName(spec), map, { ...attrs, present } as unknown as tfjs.NamedAttrMap);
  return Array.isArray(out) ? (out as Tensor[]) : [out as Tensor];
}

/** True when `spec` runs as a registered kernel on the current backend. */
export function usesKernel(tf: TfModule, spec: OpSpec, kernels: boolean): boolean {
  if (!kernels) return false;
  // tfjs picks its backend lazily, on the first op: touch it so the answer is final.
  if (tf.getBackend() === undefined) void tf.engine().backend;
  const name = tf.getBackend();
  return KERNEL_BACKENDS.includes(name) && tf.getKernel(kernelName(spec), name) !== undefined;
}

/**
 * Runs the op; returns output 0 (the others, saved for the backward, are disposed with the
 * surrounding tidy, which also disposes the placeholders of absent inputs).
 */
export function runSpec(tf: TfModule, spec: OpSpec, kernels: boolean, inputs: Record<string, Tensor | null>, attrs: Attrs): Tensor {
  return tf.tidy(() => (usesKernel(tf, spec, kernels) ? runKernel(tf, spec, inputs, attrs) : runCustomGrad(tf, spec, inputs, attrs))[0]);
}
