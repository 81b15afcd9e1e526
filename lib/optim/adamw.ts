/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) with PyTorch's
 * semantics (torch.optim.AdamW): decay multiplies the weights by (1 - lr * weightDecay) before the
 * Adam step, both moments are bias-corrected, and eps is added after the bias correction of the
 * second moment:
 *
 *   p = p * (1 - lr * wd)
 *   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   vmax = max(vmax, v) (amsgrad)
 *   p = p - lr / (1 - b1^t) * m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)
 */
import { rangeError, typeError } from '../errors';
import { Optimizer, bool, num, type FloatArray, type Param, type ParamGroup, type ParamsArg } from './optimizer';

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: ParamsArg<AdamWOptions>, options: Partial<AdamWOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...options });
  }

  protected validateGroup(g: ParamGroup<AdamWOptions>, where: string): void {
    num(`${where}.lr`, g.lr, 0);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw typeError('a pair [beta1, beta2]', `${where}.betas`, g.betas);
    g.betas.forEach((b, i) => {
      if (typeof b !== 'number') throw typeError('a number', `${where}.betas[${i}]`, b);
      if (!(b >= 0 && b < 1)) throw rangeError('a number >= 0 and < 1', `${where}.betas[${i}]`, b);
    });
    num(`${where}.eps`, g.eps, 0);
    num(`${where}.weightDecay`, g.weightDecay, 0);
    bool(`${where}.amsgrad`, g.amsgrad);
    bool(`${where}.maximize`, g.maximize);
  }

  protected updateGroup(g: ParamGroup<AdamWOptions>, params: Param[], grads: FloatArray[]): void {
    const { lr, eps, weightDecay: wd, amsgrad } = g;
    const [b1, b2] = g.betas;
    params.forEach((p, pi) => {
      const w = p.data as FloatArray;
      const grad = grads[pi];
      const s = this.stateOf(p);
      if (s.step === undefined) {
        s.step = 0;
        s.expAvg = this.zerosLike(p);
        s.expAvgSq = this.zerosLike(p);
        if (amsgrad) s.maxExpAvgSq = this.zerosLike(p);
      }
      if (amsgrad && s.maxExpAvgSq === undefined) s.maxExpAvgSq = this.zerosLike(p);
      const t = (s.step as number) + 1;
      s.step = t;
      const m = s.expAvg as FloatArray, v = s.expAvgSq as FloatArray;
      const vmax = s.maxExpAvgSq as FloatArray | undefined;
      const bc1 = 1 - b1 ** t;
      const sqrtBc2 = Math.sqrt(1 - b2 ** t);
      const stepSize = lr / bc1;
      const decay = 1 - lr * wd;
      const sign = g.maximize ? -1 : 1;
      for (let i = 0, n = w.length; i < n; i++) {
        const gi = sign * grad[i];
        w[i] *= decay;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        let second = v[i];
        if (amsgrad) second = vmax![i] = Math.max(vmax![i], v[i]);
        w[i] -= (stepSize * m[i]) / (Math.sqrt(second) / sqrtBc2 + eps);
      }
    });
  }
}
