/**
 * The `--vs autograd` peer: a fused op through the public API as a user calls it, `F.op(...)`
 * under noGrad for fwd, and `F.op(...)` then `.backward(grad)` (leaf grads reset first) for
 * fwd+bwd. Next to the raw-kernel row it shows what the autograd layer costs on top.
 */
import { noGrad } from '../lib/autograd/grad-mode';
import { tensor } from '../lib/factories';
import type { Tensor } from '../lib/tensor';
import type { BenchMode, WorkloadInstance } from './types';

export function autogradPath(leaves: Tensor[], forward: () => Tensor, grad?: Tensor): WorkloadInstance {
  return {
    run: (mode: BenchMode) => {
      if (mode === 'fwd') {
        noGrad(forward);
        return;
      }
      for (const l of leaves) l.grad = null;
      forward().backward(grad);
    },
  };
}

/** A leaf tensor over `data` (requires grad). */
export function leaf(data: Float32Array | Float64Array, shape: number[]): Tensor {
  return tensor(data, shape, { requiresGrad: true });
}
