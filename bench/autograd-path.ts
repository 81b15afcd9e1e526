/**
 * The `--vs autograd` peer: a fused op through the public API as a user calls it, `F.op(...)`
 * under noGrad for fwd, and `F.op(...)` then `.backward(grad)` (leaf grads reset first) for
 * fwd+bwd. Next to the raw-kernel row it shows what the autograd layer costs on top.
 *
 * The same instances are the rows of `selfsup bench --device cuda`: built with `device: 'cuda'`
 * the tensors live on the GPU, the ops run their CUDA kernels, and each run ends with
 * cuda.synchronize() so that the time covers the kernels, not only their enqueueing.
 */
import { noGrad } from '../lib/autograd/grad-mode';
import { cuda } from '../lib/cuda';
import { tensor } from '../lib/factories';
import type { Tensor } from '../lib/tensor';
import type { AutogradOptions, BenchMode, WorkloadInstance } from './types';

export function autogradPath(leaves: Tensor[], forward: () => unknown, grad?: Tensor): WorkloadInstance {
  const sync = leaves.some((l) => l.device === 'cuda') ? () => cuda.synchronize() : () => undefined;
  return {
    run: (mode: BenchMode) => {
      if (mode === 'fwd') noGrad(forward);
      else {
        for (const l of leaves) l.grad = null;
        (forward() as Tensor).backward(grad);
      }
      sync();
    },
  };
}

/** A constant tensor over `data`, on the run's device (and in its dtype there: bfloat16 on cuda). */
export function place(data: Float32Array | Float64Array | Int32Array, shape: number[], at: Partial<AutogradOptions> = {}): Tensor {
  const t = tensor(data, shape);
  if (at.device !== 'cuda') return t;
  const d = t.to('cuda');
  return at.dtype === 'bfloat16' && d.dtype === 'float32' ? d.to('bfloat16') : d;
}

/** A leaf tensor over `data` (requires grad), placed as `place` does. */
export function leaf(data: Float32Array | Float64Array, shape: number[], at: Partial<AutogradOptions> = {}): Tensor {
  return place(data, shape, at).requiresGrad_();
}
