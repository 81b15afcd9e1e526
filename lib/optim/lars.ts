/**
 * LARS (You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017) as used by
 * the SSL reference code: SimCLR (google-research/simclr, lars_optimizer.py), BYOL, and VICReg /
 * Barlow Twins (facebookresearch/vicreg, main_vicreg.py `LARS`). This follows the VICReg/Barlow
 * Twins PyTorch version:
 *
 *   d = grad + weightDecay * p                                (unless exclude(p))
 *   q = eta * ||p|| / ||d||  when ||p|| > 0 and ||d|| > 0, else 1   (unless exclude(p))
 *   mu = momentum * mu + q * d                                (mu starts at zeros)
 *   p = p - lr * mu
 *
 * SimCLR's TF version puts lr inside the momentum buffer (mu = m mu + lr q d); the two agree while
 * lr is constant and differ slightly while a schedule changes it. By default biases and
 * normalization weights (every 1-D parameter, `p.shape.length === 1`) are excluded from both weight
 * decay and the trust-ratio adaptation, as `exclude_bias_and_norm` does in all three codebases.
 */
import { typeError } from '../errors';
import * as dev from './device';
import { Optimizer, bool, num, type FloatArray, type Param, type ParamGroup, type ParamsArg } from './optimizer';

/** Returns true for parameters that get neither weight decay nor LARS adaptation. */
export type LarsExclude = (param: Param) => boolean;

export interface LARSOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Trust coefficient (eta in the paper). */
  eta: number;
  /** Default: `excludeBiasAndNorm` (1-D params). `null` adapts and decays every parameter. */
  exclude: LarsExclude | null;
  nesterov: boolean;
}

/** The SSL default predicate: biases and norm weights, i.e. every 1-D parameter. */
export const excludeBiasAndNorm: LarsExclude = (p) => p.shape.length === 1;

function l2(a: FloatArray): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export class LARS extends Optimizer<LARSOptions> {
  protected override readonly cudaStep = true;

  constructor(params: ParamsArg<LARSOptions>, options: Partial<LARSOptions> = {}) {
    super('LARS', params, { lr: 0, momentum: 0.9, weightDecay: 0, eta: 0.001, exclude: excludeBiasAndNorm, nesterov: false }, options);
  }

  protected validateGroup(g: ParamGroup<LARSOptions>, where: string): void {
    num(`${where}.lr`, g.lr, 0);
    num(`${where}.momentum`, g.momentum, 0);
    num(`${where}.weightDecay`, g.weightDecay, 0);
    num(`${where}.eta`, g.eta, 0);
    if (g.exclude !== null && typeof g.exclude !== 'function') throw typeError('a function (param) => boolean or null', `${where}.exclude`, g.exclude);
    bool(`${where}.nesterov`, g.nesterov);
  }

  protected updateGroup(g: ParamGroup<LARSOptions>, params: Param[], grads: FloatArray[]): void {
    const { lr, momentum, weightDecay: wd, eta, exclude, nesterov } = g;
    params.forEach((p, pi) => {
      const w = p.data as FloatArray;
      const grad = grads[pi];
      const n = w.length;
      const excluded = exclude ? exclude(p) === true : false;
      if (dev.isDevice(w)) {
        this.deviceStep(g, p, grad, excluded);
        return;
      }
      // d is materialized because the trust ratio needs its norm before the update.
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = excluded ? grad[i] : grad[i] + wd * w[i];
      let q = 1;
      if (!excluded) {
        const pn = l2(w);
        let dn = 0;
        for (let i = 0; i < n; i++) dn += d[i] * d[i];
        dn = Math.sqrt(dn);
        if (pn > 0 && dn > 0) q = (eta * pn) / dn;
      }
      const s = this.stateOf(p);
      const mu = (s.mu as FloatArray | undefined) ?? (s.mu = this.zerosLike(p));
      for (let i = 0; i < n; i++) {
        const di = q * d[i];
        mu[i] = momentum * mu[i] + di;
        w[i] -= lr * (nesterov ? di + momentum * mu[i] : mu[i]);
      }
    });
  }

  /**
   * The same update on a cuda parameter, in device ops (lib/optim/device.ts); the two norms of the
   * trust ratio are read back to the host (one synchronization each).
   */
  private deviceStep(g: ParamGroup<LARSOptions>, p: Param, grad: FloatArray, excluded: boolean): void {
    const { lr, momentum, weightDecay: wd, eta, nesterov } = g;
    const w = p.data as FloatArray;
    const d = dev.scaled(grad, 1);
    let q = 1;
    if (!excluded) {
      if (wd !== 0) dev.axpy(d, w, wd);
      const pn = Math.sqrt(dev.sumSquares(w)), dn = Math.sqrt(dev.sumSquares(d));
      if (pn > 0 && dn > 0) q = (eta * pn) / dn;
    }
    const s = this.stateOf(p);
    const mu = (s.mu as FloatArray | undefined) ?? (s.mu = this.zerosLike(p));
    dev.scale(mu, momentum);
    dev.axpy(mu, d, q);
    if (nesterov) {
      dev.axpy(w, d, -lr * q);
      dev.axpy(w, mu, -lr * momentum);
    } else dev.axpy(w, mu, -lr);
    d.dispose();
  }
}
