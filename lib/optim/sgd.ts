/**
 * SGD with momentum, dampening, Nesterov and L2 weight decay, with PyTorch's semantics
 * (torch.optim.SGD): weight decay is added to the gradient (coupled), the momentum buffer starts
 * as a copy of the first gradient (not zeros), and lr multiplies the buffer (not inside it).
 *
 *   g = grad + weightDecay * p
 *   buf = g                                          (first step)
 *   buf = momentum * buf + (1 - dampening) * g       (later steps)
 *   g = nesterov ? g + momentum * buf : buf          (when momentum != 0)
 *   p = p - lr * g          (maximize negates grad first, as PyTorch does)
 */
import { SelfsupError, expectedMessage } from '../errors';
import * as dev from './device';
import { byDtype, fusedAddon } from './fused';
import { Optimizer, bool, num, type FloatArray, type Param, type ParamGroup, type ParamsArg } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  protected override readonly cudaStep = true;

  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> = {}) {
    // lr = 1e-3 is PyTorch's default since 2.x (it used to be required).
    super('SGD', params, { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, options);
  }

  protected validateGroup(g: ParamGroup<SGDOptions>, where: string): void {
    num(`${where}.lr`, g.lr, 0);
    num(`${where}.momentum`, g.momentum, 0);
    num(`${where}.dampening`, g.dampening);
    num(`${where}.weightDecay`, g.weightDecay, 0);
    bool(`${where}.nesterov`, g.nesterov);
    bool(`${where}.maximize`, g.maximize);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage('momentum > 0 and dampening = 0', `${where}.nesterov`, `momentum ${g.momentum} and dampening ${g.dampening}`));
    }
  }

  protected updateGroup(g: ParamGroup<SGDOptions>, params: Param[], grads: FloatArray[]): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = g;
    const sign = g.maximize ? -1 : 1;
    if (params.some((p) => dev.isDevice(p.data))) {
      params.forEach((p, pi) => this.deviceStep(g, p, grads[pi]));
      return;
    }
    const a = fusedAddon();
    if (a) {
      // One native multi-tensor call per dtype (native/ops/optim): the same arithmetic, threaded.
      for (const idx of byDtype(params, grads)) {
        const ws = idx.map((i) => params[i].data as FloatArray), gs = idx.map((i) => grads[i]);
        let bufs: FloatArray[] | null = null, first: Uint8Array | null = null;
        if (mu !== 0) {
          first = new Uint8Array(idx.length);
          bufs = idx.map((pi, k) => {
            const s = this.stateOf(params[pi]);
            if (s.momentumBuffer === undefined) {
              s.momentumBuffer = this.zerosLike(params[pi]);
              first![k] = 1;
            }
            return s.momentumBuffer as FloatArray;
          });
        }
        a.optimSGD(ws, gs, bufs, first, Float64Array.of(lr, mu, dampening, wd, sign, nesterov ? 1 : 0));
      }
      return;
    }
    params.forEach((p, pi) => {
      const w = p.data as FloatArray;
      const grad = grads[pi];
      const n = w.length;
      if (mu === 0) {
        for (let i = 0; i < n; i++) w[i] -= lr * (sign * grad[i] + wd * w[i]);
        return;
      }
      const s = this.stateOf(p);
      let buf = s.momentumBuffer as FloatArray | undefined;
      const first = buf === undefined;
      if (!buf) buf = s.momentumBuffer = this.zerosLike(p);
      for (let i = 0; i < n; i++) {
        const gi = sign * grad[i] + wd * w[i];
        const b = first ? gi : mu * buf[i] + (1 - dampening) * gi;
        buf[i] = b;
        // Use the stored (rounded) buffer value, as PyTorch does when it reads buf back.
        const step = nesterov ? gi + mu * buf[i] : buf[i];
        w[i] -= lr * step;
      }
    });
  }

  /** The same update on a cuda parameter, in device ops (lib/optim/device.ts). */
  private deviceStep(g: ParamGroup<SGDOptions>, p: Param, grad: FloatArray): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = g;
    const w = p.data as FloatArray;
    const d = dev.scaled(grad, g.maximize ? -1 : 1);
    if (wd !== 0) dev.axpy(d, w, wd);
    let step: FloatArray | typeof d = d;
    if (mu !== 0) {
      const s = this.stateOf(p);
      let buf = s.momentumBuffer as FloatArray | undefined;
      if (buf === undefined) buf = s.momentumBuffer = dev.scaled(d, 1) as unknown as FloatArray;
      else {
        dev.scale(buf, mu);
        dev.axpy(buf, d, 1 - dampening);
      }
      if (nesterov) dev.axpy(d, buf, mu);
      else step = buf;
    }
    dev.axpy(w, step, -lr);
    d.dispose();
  }
}
