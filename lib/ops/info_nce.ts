/**
 * F.infoNCE: the fused InfoNCE / NT-Xent loss (SimCLR, Chen et al. 2020) with autograd.
 *
 * Matches lightly's NTXentLoss (mean over the 2N rows; SimCLR's TensorFlow code reports twice
 * this value, the sum of the two directions' means). Options cover one-way InfoNCE (CLIP / MoCo),
 * DCL (decoupled, Yeh et al. 2022), multi-positive labels (solo-learn's `indexes`:
 * -log(sum_pos e^s / sum_{j != i} e^s)) and a MoCo-style bank of extra negatives (no gradient).
 * The [2N, 2N] logits are never materialized (native/ops/info_nce): memory is O(N D).
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import { checkDecoupledNegatives, infoNCEBackward, infoNCEForward, planInfoNCEScalars, type InfoNCEKernelOptions } from '../kernels/info_nce';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, checkTensor, opts, optEnum } from './common';
import type { FloatArray } from '../validate';

/** InfoNCE options over any tensor type T (selfsup's Tensor here; the tfjs adapter reuses it). */
export interface InfoNCEOptionsOf<T> {
  /** Temperature tau > 0 (default 0.1). Numerically safe down to 0.01 and below. */
  temperature?: number;
  /** L2-normalize the embeddings first (default true); the gradient goes through it. */
  normalize?: boolean;
  /** 'both' (default): NT-Xent over the 2N views; 'oneWay': z1 rows against z2 keys (N x N). */
  direction?: 'both' | 'oneWay';
  /** DCL: leave the positives out of the denominator (default false). */
  decoupled?: boolean;
  /** int32 [N]: every other view with the same label is a positive. */
  labels?: T;
  /** [M, D] extra negatives (a MoCo queue), same dtype as z1; never receives a gradient. */
  negatives?: T;
  /** 'mean' (default) over the rows, 'sum', or 'none' (per-row losses, [2N] or [N]). */
  reduction?: 'mean' | 'sum' | 'none';
}

export type InfoNCEOptions = InfoNCEOptionsOf<Tensor>;

const OP = 'infoNCE';

interface Checked {
  shape: [number, number];
  kernel: InfoNCEKernelOptions;
  reduction: 'mean' | 'sum' | 'none';
  rows: number;
}

function check(z1: unknown, z2: unknown, options: unknown): Checked {
  const a = checkFloat(OP, 'z1', z1);
  const b = checkFloat(OP, 'z2', z2);
  checkSameDtype(OP, 'z2', b, a, 'z1');
  if (a.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D tensor [N, D]', `${OP}(z1)`, shapeStr(a.shape));
  if (b.ndim !== 2 || b.shape[0] !== a.shape[0] || b.shape[1] !== a.shape[1]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `shape ${shapeStr(a.shape)} (the shape of z1)`, `${OP}(z2)`, shapeStr(b.shape));
  }
  const [n, d] = a.shape;
  if (n < 1 || d < 1) throw rangeError('a non-empty [N, D] tensor', `${OP}(z1)`, shapeStr(a.shape), true);
  const o = opts<InfoNCEOptions>(OP, options, ['temperature', 'normalize', 'direction', 'decoupled', 'labels', 'negatives', 'reduction']);
  const sc = planInfoNCEScalars(OP, o);
  const reduction = optEnum(OP, 'options.reduction', o.reduction, ['mean', 'sum', 'none'] as const, 'mean');
  const kernel: InfoNCEKernelOptions = { temperature: sc.temperature, normalize: sc.normalize, direction: sc.both ? 'both' : 'oneWay', decoupled: sc.decoupled };
  if (o.labels !== undefined) {
    const l = checkTensor(OP, 'options.labels', o.labels, ['int32']);
    if (l.ndim !== 1 || l.shape[0] !== n) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `labels of shape [${n}] (one per row of z1)`, `${OP}(options.labels)`, shapeStr(l.shape));
    }
    kernel.labels = l.data as Int32Array;
  }
  if (o.negatives !== undefined) {
    const g = checkFloat(OP, 'options.negatives', o.negatives);
    checkSameDtype(OP, 'options.negatives', g, a, 'z1');
    if (g.ndim !== 2 || g.shape[1] !== d) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a [M, ${d}] tensor (z1's feature size)`, `${OP}(options.negatives)`, shapeStr(g.shape));
    }
    kernel.negatives = g.data as FloatArray;
  }
  checkDecoupledNegatives(OP, sc.decoupled, n, kernel.labels ?? null, kernel.negatives ? 1 : 0);
  return { shape: [n, d], kernel, reduction, rows: sc.both ? 2 * n : n };
}

const InfoNCEFn = defineFunction({
  name: 'infoNCE',
  forward(ctx: FunctionCtx, z1: Tensor, z2: Tensor, c: Checked): Tensor {
    const x1 = z1.data as FloatArray, x2 = z2.data as FloatArray;
    const { losses, lse, lsePos } = infoNCEForward(x1, x2, c.shape, c.kernel);
    ctx.z1 = x1;
    ctx.z2 = x2;
    ctx.lse = lse;
    ctx.lsePos = lsePos;
    ctx.c = c;
    if (c.reduction === 'none') return new Tensor(losses, [c.rows]);
    let s = 0;
    for (let i = 0; i < losses.length; i++) s += losses[i];
    const out = new (losses.constructor as Float64ArrayConstructor)(1);
    out[0] = c.reduction === 'sum' ? s : s / c.rows;
    return new Tensor(out, []);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const c = ctx.c as Checked;
    const x1 = ctx.z1 as FloatArray;
    const rowsGrad = new (x1.constructor as Float64ArrayConstructor)(c.rows);
    if (c.reduction === 'none') rowsGrad.set(g.data as FloatArray);
    else rowsGrad.fill(c.reduction === 'sum' ? g.data[0] : g.data[0] / c.rows);
    const { dz1, dz2 } = infoNCEBackward(x1, ctx.z2 as FloatArray, c.shape, { lse: ctx.lse, lsePos: ctx.lsePos }, rowsGrad, c.kernel);
    return [
      ctx.needsInputGrad[0] ? new Tensor(dz1, c.shape) : null,
      ctx.needsInputGrad[1] ? new Tensor(dz2, c.shape) : null,
    ];
  },
});

/**
 * NT-Xent / InfoNCE loss of two views z1, z2 [N, D]. Returns a scalar (or [R] per-row losses
 * with reduction 'none', view 1's rows first).
 *
 *   const loss = F.infoNCE(z1, z2, { temperature: 0.1 });
 *   loss.backward();
 */
export function infoNCE(z1: Tensor, z2: Tensor, options?: InfoNCEOptions): Tensor {
  return InfoNCEFn(z1, z2, check(z1, z2, options));
}
