/**
 * The unfused compositions (--vs unfused): the same losses written with selfsup's own primitive
 * Tensor ops and autograd, the way a user without the fused kernels would. They materialize what
 * the fused kernels avoid (the [2N, 2N] logits, the D x D covariance), so the ratio shows what
 * fusion buys inside this library, independent of any peer.
 */
import { tensor, full } from '../lib/factories';
import { noGrad } from '../lib/autograd/grad-mode';
import { cat } from '../lib/ops/shape';
import { normalize } from '../lib/ops/nn-functional';
import { crossEntropy, mse } from '../lib/ops/loss';
import type { Tensor } from '../lib/tensor';
import type { BenchMode, WorkloadInstance } from './types';
import { seededNormal } from './workloads/sgemm';

type Dt = 'float32' | 'float64';
const arr = (dt: Dt) => (dt === 'float64' ? Float64Array : Float32Array);

function instance(compose: () => Tensor, params: Tensor[]): WorkloadInstance {
  return {
    run: (mode: BenchMode) => {
      if (mode === 'fwd') noGrad(compose);
      else {
        for (const p of params) p.grad = null;
        compose().backward();
      }
    },
  };
}

/** SimCLR NT-Xent over 2N views (lightly's mean over rows), temperature tau, L2-normalized. */
export function unfusedInfoNCE(n: number, d: number, tau: number, dtype: Dt, seed: number): WorkloadInstance {
  const A = arr(dtype);
  const z1 = tensor(seededNormal(n * d, seed, A), [n, d], { dtype, requiresGrad: true });
  const z2 = tensor(seededNormal(n * d, seed + 1, A), [n, d], { dtype, requiresGrad: true });
  const R = 2 * n;
  // Self-similarity excluded with a large negative logit on the diagonal.
  const diag = new A(R * R);
  for (let i = 0; i < R; i++) diag[i * R + i] = -1e9;
  const mask = tensor(diag, [R, R], { dtype });
  const target = tensor(Int32Array.from({ length: R }, (_, i) => (i + n) % R), [R], { dtype: 'int32' });
  const compose = () => {
    const z = cat([normalize(z1, { dim: 1 }), normalize(z2, { dim: 1 })], 0);
    const logits = z.matmul(z.transpose(0, 1)).mul(1 / tau).add(mask);
    return crossEntropy(logits, target);
  };
  return instance(compose, [z1, z2]);
}

/** VICReg as in facebookresearch/vicreg (25 / 25 / 1, eps 1e-4), covariance through D x D. */
export function unfusedVICReg(n: number, d: number, dtype: Dt, seed: number): WorkloadInstance {
  const A = arr(dtype);
  const x = tensor(seededNormal(n * d, seed, A), [n, d], { dtype, requiresGrad: true });
  const y = tensor(seededNormal(n * d, seed + 1, A), [n, d], { dtype, requiresGrad: true });
  const one = full([1], 1, { dtype });
  const terms = (z: Tensor) => {
    const c = z.sub(z.mean(0, true));
    const std = c.var(0).add(1e-4).sqrt();
    const variance = one.sub(std).relu().mean().div(2);
    const cov = c.transpose(0, 1).matmul(c).div(n - 1);
    // Σ_{i≠j} C_ij² = Σ C² − Σ diag(C)², diag(C)_j = Σ_n c_nj² / (N − 1)
    const diag = c.pow(2).sum(0).div(n - 1);
    const covariance = cov.pow(2).sum().sub(diag.pow(2).sum()).div(d);
    return { variance, covariance };
  };
  const compose = () => {
    const tx = terms(x), ty = terms(y);
    return mse(x, y).mul(25).add(tx.variance.add(ty.variance).mul(25)).add(tx.covariance.add(ty.covariance));
  };
  return instance(compose, [x, y]);
}
