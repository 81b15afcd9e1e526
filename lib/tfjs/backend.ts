/**
 * The 'selfsup' TensorFlow.js backend: tfjs's cpu backend (same tensor storage: typed arrays in
 * a MathBackendCPU) with the hot kernels replaced by selfsup's.
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   import { registerBackend } from 'selfsup/tfjs';
 *   registerBackend(tf);
 *   await tf.setBackend('selfsup');
 *
 * Every kernel registered for 'cpu' is registered for 'selfsup' too; the overridden ones try
 * their selfsup path and hand any case outside it (int32, NCHW, odd broadcasts) to the cpu
 * kernel. The fused SSL ops of createOps run there as `Selfsup*` kernels. One gradient is
 * replaced while 'selfsup' is active: Tile's (lib/tfjs/backend-grads.ts).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { describe, selfsupError, typeError } from '../errors';
import { checkNumber, checkOptions } from '../validate';
import { withFallback, type BackendUtil, type KernelArgs, type KernelFn, type TensorInfo } from './cpu';
import { batchMatMul, conv2D, conv2DBackpropFilter, conv2DBackpropInput, fusedConv2D, fusedMatMul, type CpuKernels } from './backend-linalg';
import { elementwiseKernels } from './backend-elementwise';
import { poolKernels } from './backend-pool';
import { registerTileGradient } from './backend-grads';
import { registerSpec } from './runner';
import { SPECS } from './specs';

export const BACKEND_NAME = 'selfsup';
export { PATH_COUNTS } from './cpu';

/** The part of the tf module registerBackend uses (@tensorflow/tfjs-core's exports are enough). */
export type TfBackendModule = Pick<typeof tfc,
  | 'registerBackend' | 'findBackendFactory' | 'registerKernel' | 'getKernel' | 'getKernelsForBackend'
  | 'backend_util' | 'registerGradient' | 'getGradient' | 'engine' | 'zeros' | 'tidy' | 'getBackend' | 'reshape' | 'sum'>;

export interface RegisterBackendOptions {
  /** tfjs picks the registered backend of highest priority when none is set (cpu: 1, webgl: 2). Default 1. */
  priority?: number;
}

type Fast = (args: KernelArgs) => TensorInfo | null;

/** The overridden kernels by tfjs kernel name. */
function overrides(util: BackendUtil, cpu: CpuKernels): Record<string, Fast> {
  return {
    BatchMatMul: batchMatMul(util),
    _FusedMatMul: fusedMatMul(util, cpu),
    Conv2D: conv2D(util),
    FusedConv2D: fusedConv2D(util, cpu),
    Conv2DBackpropInput: conv2DBackpropInput(util),
    Conv2DBackpropFilter: conv2DBackpropFilter(util),
    ...elementwiseKernels(util),
    ...poolKernels(util),
  };
}

/** The kernel names the 'selfsup' backend runs with selfsup code (the rest are the cpu kernels). */
export const OVERRIDDEN_KERNELS: readonly string[] = Object.keys(overrides({} as BackendUtil, () => () => []));

function checkTfBackend(tf: unknown): TfBackendModule {
  const needs = ['registerBackend', 'findBackendFactory', 'registerKernel', 'getKernel', 'getKernelsForBackend', 'registerGradient', 'getGradient', 'getBackend', 'reshape', 'sum'] as const;
  const t = tf as Record<string, unknown> | null;
  const what = "a TensorFlow.js module (import * as tf from '@tensorflow/tfjs' or '@tensorflow/tfjs-core')";
  if (t === null || (typeof t !== 'object' && typeof t !== 'function')) throw typeError(what, 'registerBackend(tf)', tf);
  const missing = needs.filter((k) => typeof t[k] !== 'function');
  if (missing.length > 0 || typeof t.backend_util !== 'object') {
    throw typeError(what, 'registerBackend(tf)', `${describe(tf)} without ${[...missing, 'backend_util'].slice(0, 3).map((k) => `tf.${k}`).join(', ')}`, true);
  }
  return tf as TfBackendModule;
}

/**
 * Registers the 'selfsup' backend (and its kernels) with `tf`. Needs the cpu backend registered
 * first (@tensorflow/tfjs, or @tensorflow/tfjs-backend-cpu imported). Returns false when 'selfsup'
 * was already registered on this tfjs-core instance (nothing is registered twice).
 */
export function registerBackend(tf: TfBackendModule, options?: RegisterBackendOptions): boolean {
  const TF = checkTfBackend(tf);
  const o = checkOptions<RegisterBackendOptions>('registerBackend(options)', options, ['priority']);
  const priority = o.priority === undefined ? 1 : checkNumber('registerBackend(options.priority)', o.priority);
  const cpuFactory = TF.findBackendFactory('cpu');
  if (!cpuFactory) {
    throw selfsupError('ERR_UNSUPPORTED', "the 'cpu' backend registered (import '@tensorflow/tfjs' or '@tensorflow/tfjs-backend-cpu' before registerBackend)",
      'registerBackend(tf)', 'a tf module without it');
  }
  if (TF.findBackendFactory(BACKEND_NAME)) return false;
  const cpuKernels = new Map(TF.getKernelsForBackend('cpu').map((k) => [k.kernelName, k.kernelFunc as unknown as KernelFn]));
  const cpu: CpuKernels = (name) => {
    const k = cpuKernels.get(name);
    if (!k) throw selfsupError('ERR_UNSUPPORTED', `a cpu kernel named ${name}`, 'the selfsup backend', 'none registered');
    return k;
  };
  const fast = overrides(TF.backend_util as unknown as BackendUtil, cpu);
  for (const [name, cpuFn] of cpuKernels) {
    if (TF.getKernel(name, BACKEND_NAME)) continue;
    const fn = fast[name] ? withFallback(name, fast[name], cpuFn) : cpuFn;
    TF.registerKernel({ kernelName: name, backendName: BACKEND_NAME, kernelFunc: fn as unknown as tfc.KernelFunc });
  }
  for (const spec of SPECS) registerSpec(TF, spec, BACKEND_NAME);
  registerTileGradient(TF, BACKEND_NAME);
  TF.registerBackend(BACKEND_NAME, () => cpuFactory() as tfc.KernelBackend, priority);
  return true;
}
