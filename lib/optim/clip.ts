/**
 * clipGradNorm: PyTorch's torch.nn.utils.clip_grad_norm_. The total norm is the norm of all
 * gradients concatenated (normType 2 by default, Infinity for the max-abs norm); when it exceeds
 * maxNorm every gradient is scaled in place by maxNorm / (total + 1e-6). Returns the total norm
 * before clipping (a number; PyTorch returns a 0-d tensor).
 */
import { SelfsupError, expectedMessage, rangeError, typeError } from '../errors';
import type { Tensor } from '../tensor';
import * as dev from './device';
import { gradData, num, type FloatArray } from './optimizer';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it (default false). */
  errorIfNonfinite?: boolean;
}

export function clipGradNorm(params: Iterable<Tensor> | Tensor, maxNorm: number, normType = 2, options: ClipGradNormOptions = {}): number {
  const who = 'clipGradNorm';
  const list = params instanceof Object && Symbol.iterator in (params as object) ? [...(params as Iterable<Tensor>)] : [params as Tensor];
  num(`${who}(maxNorm)`, maxNorm, 0);
  if (typeof normType !== 'number' || Number.isNaN(normType)) throw typeError('a number (or Infinity)', `${who}(normType)`, normType);
  if (!(normType > 0)) throw rangeError('a number > 0 (or Infinity)', `${who}(normType)`, normType);
  const grads: FloatArray[] = [];
  list.forEach((p, i) => {
    if (p === null || typeof p !== 'object' || !('data' in p)) throw typeError('a Tensor', `${who}(params)[${i}]`, p);
    const g = gradData(p, `${who}(params)[${i}]`, true);
    if (g) grads.push(g);
  });
  if (grads.length === 0) return 0;
  // cuda gradients: the 2-norm from device sums of squares (one read-back each), scaled on the device.
  const onDevice = grads.some((g) => dev.isDevice(g));
  if (onDevice && normType !== 2) {
    throw new SelfsupError('ERR_NO_DEVICE', expectedMessage('normType 2 for cuda gradients', `${who}(normType)`, String(normType)) + ' (the other norms have no CUDA path yet; call .cpu() first)');
  }
  let total: number;
  if (normType === Infinity) {
    total = 0;
    for (const g of grads) for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]));
    if (grads.some((g) => g.some((v) => Number.isNaN(v)))) total = NaN;
  } else {
    // Sum of |g|^p over every element, in float64; p = 2 is special-cased for speed and accuracy.
    let s = 0;
    for (const g of grads) {
      if (dev.isDevice(g)) s += dev.sumSquares(g);
      else if (normType === 2) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
      else if (normType === 1) for (let i = 0; i < g.length; i++) s += Math.abs(g[i]);
      else for (let i = 0; i < g.length; i++) s += Math.abs(g[i]) ** normType;
    }
    total = normType === 2 ? Math.sqrt(s) : normType === 1 ? s : s ** (1 / normType);
  }
  if (!Number.isFinite(total)) {
    if (options.errorIfNonfinite) {
      throw new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage('a finite total gradient norm', `${who}(params)`, String(total)) + ' (set errorIfNonfinite: false to scale anyway)');
    }
  }
  const coef = maxNorm / (total + 1e-6);
  // PyTorch multiplies by clamp(coef, max=1) unconditionally; skipping coef >= 1 gives the same values.
  if (coef < 1 || Number.isNaN(coef)) {
    for (const g of grads) {
      if (dev.isDevice(g)) dev.scale(g, coef);
      else for (let i = 0; i < g.length; i++) g[i] *= coef;
    }
  }
  return total;
}
