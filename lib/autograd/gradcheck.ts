/**
 * gradcheck, like torch.autograd.gradcheck: compares the analytical Jacobian (one backward pass
 * per output element) with central finite differences (two forward passes per input element)
 * for every float64 input that requires grad. Inputs are perturbed in place and restored, so
 * `fn` may close over tensors nested in options. Keep inputs small: cost is O(in x out).
 */
import { SelfsupError, indexStr, selfsupError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { grad } from './engine';
import type { FunctionOutput } from './function';
import { noGrad } from './grad-mode';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** |analytic - numeric| <= atol + rtol |numeric| (defaults 1e-5, 1e-3). */
  atol?: number;
  rtol?: number;
}

function outputsOf(out: unknown): Tensor[] {
  if (out instanceof Tensor) return [out];
  if (Array.isArray(out)) return out.filter((t): t is Tensor => t instanceof Tensor);
  if (out !== null && typeof out === 'object') return Object.values(out).filter((t): t is Tensor => t instanceof Tensor);
  throw typeError('a Tensor, an array or a record of Tensors', 'gradcheck(fn) result', out);
}

/** Returns true, or throws a SelfsupError (ERR_AUTOGRAD) describing the worst mismatch. */
export function gradcheck(fn: (...inputs: Tensor[]) => FunctionOutput, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  if (typeof fn !== 'function') throw typeError('a function', 'gradcheck(fn)', fn);
  if (!Array.isArray(inputs)) throw typeError('an array of Tensors', 'gradcheck(inputs)', inputs);
  const eps = options.eps ?? 1e-6, atol = options.atol ?? 1e-5, rtol = options.rtol ?? 1e-3;
  const checked: number[] = [];
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw typeError('a Tensor', `gradcheck(inputs[${i}])`, t);
    if (!t.requiresGrad) return;
    if (t.dtype !== 'float64') throw typeError('a float64 Tensor (finite differences need double precision)', `gradcheck(inputs[${i}])`, t);
    if (!t.isLeaf) throw selfsupError('ERR_AUTOGRAD', 'a leaf tensor', `gradcheck(inputs[${i}])`, `a tensor computed by ${t.gradFn?.name}`);
    checked.push(i);
  });
  if (checked.length === 0) throw selfsupError('ERR_AUTOGRAD', 'at least one input with requiresGrad: true', 'gradcheck(inputs)', 'none');

  const outs = outputsOf(fn(...inputs)).filter((o) => o.dtype === 'float64' || o.dtype === 'float32');
  const flatOut = (): Float64Array[] => noGrad(() => outputsOf(fn(...inputs)).filter((o) => o.dtype === 'float64' || o.dtype === 'float32').map((o) => Float64Array.from(o.data)));

  // Numerical Jacobian columns: d out / d in[i][k].
  const numeric: Float64Array[][][] = checked.map((i) => {
    const x = inputs[i].data;
    const cols: Float64Array[][] = [];
    for (let k = 0; k < x.length; k++) {
      const orig = x[k];
      x[k] = orig + eps;
      const plus = flatOut();
      x[k] = orig - eps;
      const minus = flatOut();
      x[k] = orig;
      cols.push(plus.map((p, o) => p.map((v, j) => (v - minus[o][j]) / (2 * eps))));
    }
    return cols;
  });

  let worst: { excess: number; msg: string } | null = null;
  const consider = (ci: number, k: number, o: number, j: number, num: number, ana: number): void => {
    const excess = Math.abs(num - ana) - (atol + rtol * Math.abs(num));
    if (excess > 0 || Number.isNaN(num) !== Number.isNaN(ana)) {
      const i = checked[ci];
      const e = Number.isNaN(excess) ? Infinity : excess;
      if (!worst || e > worst.excess) {
        worst = {
          excess: e,
          msg:
            `Expected analytical gradient ${num} (numeric, within atol ${atol} + rtol ${rtol}) for gradcheck(inputs[${i}]) ` +
            `at index ${indexStr(k, inputs[i].shape)} (output ${o}, element ${indexStr(j, outs[o].shape)}) but received ${ana}`,
        };
      }
    }
  };

  // Analytical Jacobian rows: one backward per output element with a one-hot gradient.
  outs.forEach((out, o) => {
    for (let j = 0; j < out.numel(); j++) {
      let gs: Array<Tensor | null>;
      if (!out.requiresGrad) gs = checked.map(() => null);
      else {
        const onehot = new Tensor(new (out.data.constructor as Float64ArrayConstructor)(out.numel()), out.shape);
        onehot.data[j] = 1;
        gs = grad(out, checked.map((i) => inputs[i]), onehot, { retainGraph: true });
      }
      checked.forEach((i, ci) => {
        const g = gs[ci];
        for (let k = 0; k < inputs[i].numel(); k++) consider(ci, k, o, j, numeric[ci][k][o][j], g ? g.data[k] : 0);
      });
    }
  });
  if (worst) throw new SelfsupError('ERR_AUTOGRAD', (worst as { msg: string }).msg);
  return true;
}
