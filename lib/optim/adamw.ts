/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) with PyTorch's
 * semantics (torch.optim.AdamW): decay multiplies the weights by (1 - lr * weightDecay) before the
 * Adam step, both moments are bias-corrected, and eps is added after the bias correction of the
 * second moment:
 *
 *   p = p * (1 - lr * wd)
 *   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   vmax = max(vmax, v) (amsgrad)
 *   p = p - lr / (1 - b1^t) * m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)
 *
 * Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015) with torch.optim.Adam's
 * semantics is the same step with L2 weight decay instead: the first line becomes
 * g = g + wd * p (after maximize's sign flip), and the default weightDecay is 0.
 */
import { SelfsupError, expectedMessage, rangeError, typeError } from '../errors';
import { DeviceArray, cudaAddon } from '../cuda';
import { axpy, scaled } from './device';
import { byDtype, fusedAddon } from './fused';
import { Optimizer, bool, num, type FloatArray, type Param, type ParamGroup, type ParamsArg } from './optimizer';

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export type AdamOptions = AdamWOptions;

/** Adam and AdamW: one state layout and one update; they differ in how weight decay enters. */
abstract class AdamBase extends Optimizer<AdamWOptions> {
  /** true: AdamW's decoupled decay of the weights; false: Adam's L2 term added to the gradient. */
  protected abstract readonly decoupled: boolean;
  protected override readonly cudaStep = true;

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

  /** Creates the moments on first use (and vmax when amsgrad is turned on later); returns the step t. */
  private advance(p: Param, amsgrad: boolean): number {
    const s = this.stateOf(p);
    if (s.step === undefined) {
      s.step = 0;
      s.expAvg = this.zerosLike(p);
      s.expAvgSq = this.zerosLike(p);
    }
    if (amsgrad && s.maxExpAvgSq === undefined) s.maxExpAvgSq = this.zerosLike(p);
    s.step = (s.step as number) + 1;
    return s.step as number;
  }

  protected updateGroup(g: ParamGroup<AdamWOptions>, params: Param[], grads: FloatArray[]): void {
    const { lr, eps, amsgrad } = g;
    const [b1, b2] = g.betas;
    let wd = g.weightDecay, sign = g.maximize ? -1 : 1;
    const onCuda = params.some((p) => p.data instanceof DeviceArray);
    if (onCuda) {
      // The CUDA build's optimAdamW takes device arrays (native/ops/optim/cuda.h), all of one call on
      // the device.
      if (params.some((p) => !(p.data instanceof DeviceArray))) throw new SelfsupError('ERR_DEVICE_MISMATCH', expectedMessage('every parameter of a group on one device', `${this.name}.step`, "parameters on 'cpu' and 'cuda'"));
    }
    const temps: DeviceArray[] = [];
    if (!this.decoupled && wd !== 0 && onCuda) {
      // Adam's L2 term on the device: a scaled copy of each gradient plus wd * p (two device ops; the
      // sum rounds to float32 before the fused step, where the CPU keeps it in the step's double).
      grads = grads.map((gr, i) => {
        const out = scaled(gr, sign);
        axpy(out, params[i].data as FloatArray, wd);
        temps.push(out);
        return out as unknown as FloatArray;
      });
      wd = 0;
      sign = 1;
    } else if (!this.decoupled && wd !== 0) {
      // torch.optim.Adam: g = (maximize ? -g : g) + wd * p, then the plain Adam step (no decay, sign +1).
      grads = grads.map((gr, i) => {
        const w = params[i].data as FloatArray, out = new (gr.constructor as Float64ArrayConstructor)(gr.length);
        for (let k = 0; k < out.length; k++) out[k] = sign * gr[k] + wd * w[k];
        return out;
      });
      wd = 0;
      sign = 1;
    }
    const a = onCuda ? (cudaAddon(`${this.name}.step`) as unknown as NonNullable<ReturnType<typeof fusedAddon>>) : fusedAddon();
    if (a) {
      // One native multi-tensor call per dtype (native/ops/optim): the same arithmetic, threaded.
      for (const idx of onCuda ? [params.map((_, i) => i)] : byDtype(params, grads)) {
        const ws: FloatArray[] = [], gs: FloatArray[] = [], ms: FloatArray[] = [], vs: FloatArray[] = [], vmaxs: FloatArray[] = [];
        const stepSize = new Float64Array(idx.length), sqrtBc2 = new Float64Array(idx.length);
        idx.forEach((pi, k) => {
          const p = params[pi];
          const s = this.stateOf(p);
          const t = this.advance(p, amsgrad);
          ws.push(p.data as FloatArray);
          gs.push(grads[pi]);
          ms.push(s.expAvg as FloatArray);
          vs.push(s.expAvgSq as FloatArray);
          if (amsgrad) vmaxs.push(s.maxExpAvgSq as FloatArray);
          stepSize[k] = lr / (1 - b1 ** t);
          sqrtBc2[k] = Math.sqrt(1 - b2 ** t);
        });
        a.optimAdamW(ws, gs, ms, vs, amsgrad ? vmaxs : null, stepSize, sqrtBc2, Float64Array.of(b1, b2, eps, 1 - lr * wd, sign));
      }
      for (const t of temps) t.dispose(); // stream-ordered: the step enqueued before the blocks return
      return;
    }
    params.forEach((p, pi) => {
      const w = p.data as FloatArray;
      const grad = grads[pi];
      const s = this.stateOf(p);
      const t = this.advance(p, amsgrad);
      const m = s.expAvg as FloatArray, v = s.expAvgSq as FloatArray;
      const vmax = s.maxExpAvgSq as FloatArray | undefined;
      const bc1 = 1 - b1 ** t;
      const sqrtBc2 = Math.sqrt(1 - b2 ** t);
      const stepSize = lr / bc1;
      const decay = 1 - lr * wd;
      if (w instanceof Float32Array) adamw32(w, grad as Float32Array, m as Float32Array, v as Float32Array, vmax as Float32Array | undefined, b1, b2, stepSize, sqrtBc2, eps, decay, sign);
      else adamw64(w as Float64Array, grad as Float64Array, m as Float64Array, v as Float64Array, vmax as Float64Array | undefined, b1, b2, stepSize, sqrtBc2, eps, decay, sign);
    });
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 1e-2). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsArg<AdamWOptions>, options: Partial<AdamWOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false }, options);
  }
}

/** torch.optim.Adam: L2 weight decay added to the gradient (default 0). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false }, options);
  }
}

// One monomorphic loop per dtype (a loop fed both Float32Array and Float64Array goes polymorphic
// in V8); each element is loaded once and stored once per buffer.
function adamw32(w: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | undefined,
  b1: number, b2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number, sign: number): void {
  const c1 = 1 - b1, c2 = 1 - b2;
  for (let i = 0, n = w.length; i < n; i++) {
    const gi = sign * grad[i];
    const mi = Math.fround(b1 * m[i] + c1 * gi); // the stored float32 value, as before
    const vi = Math.fround(b2 * v[i] + c2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    let second = vi;
    if (vmax !== undefined) second = vmax[i] = Math.max(vmax[i], vi);
    w[i] = Math.fround(w[i] * decay) - (stepSize * mi) / (Math.sqrt(second) / sqrtBc2 + eps);
  }
}
function adamw64(w: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, vmax: Float64Array | undefined,
  b1: number, b2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number, sign: number): void {
  const c1 = 1 - b1, c2 = 1 - b2;
  for (let i = 0, n = w.length; i < n; i++) {
    const gi = sign * grad[i];
    const mi = b1 * m[i] + c1 * gi;
    const vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let second = vi;
    if (vmax !== undefined) second = vmax[i] = Math.max(vmax[i], vi);
    w[i] = w[i] * decay - (stepSize * mi) / (Math.sqrt(second) / sqrtBc2 + eps);
  }
}
