/**
 * F.infoNCE: the fused InfoNCE / NT-Xent loss (SimCLR, Chen et al. 2020) with autograd.
 *
 * Matches lightly's NTXentLoss (mean over the 2N rows; SimCLR's TensorFlow code reports twice
 * this value, the sum of the two directions' means). Options cover one-way InfoNCE (CLIP / MoCo),
 * DCL (decoupled, Yeh et al. 2022), multi-positive labels (solo-learn's `indexes`:
 * -log(sum_pos e^s / sum_{j != i} e^s)) and a MoCo-style bank of extra negatives (no gradient).
 * The [2N, 2N] logits are never materialized (native/ops/info_nce): memory is O(N D).
 * On 'cuda' (float32) the CUDA kernels run forward and backward with every option.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import { checkDecoupledNegatives, infoNCEBackward, infoNCEForward, planInfoNCEScalars, type InfoNCEKernelOptions } from '../kernels/info_nce';
import { Tensor } from '../tensor';
import { checkFloat, checkSameDtype, checkTensor, opts, optEnum } from './common';
import { checkCudaFloat32, checkSameDevice, dev, devOut, devTensor, fused } from './fused-device';
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
  /** On 'cuda': the labels and negatives tensors (the kernel options hold host arrays only). */
  labels?: Tensor;
  negatives?: Tensor;
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
  checkCudaFloat32(OP, 'z1', a);
  const [n, d] = a.shape;
  if (n < 1 || d < 1) throw rangeError('a non-empty [N, D] tensor', `${OP}(z1)`, shapeStr(a.shape), true);
  const o = opts<InfoNCEOptions>(OP, options, ['temperature', 'normalize', 'direction', 'decoupled', 'labels', 'negatives', 'reduction']);
  const sc = planInfoNCEScalars(OP, o);
  const reduction = optEnum(OP, 'options.reduction', o.reduction, ['mean', 'sum', 'none'] as const, 'mean');
  const kernel: InfoNCEKernelOptions = { temperature: sc.temperature, normalize: sc.normalize, direction: sc.both ? 'both' : 'oneWay', decoupled: sc.decoupled };
  const dc: Pick<Checked, 'labels' | 'negatives'> = {};
  if (o.labels !== undefined) {
    const l = checkTensor(OP, 'options.labels', o.labels, ['int32']);
    if (l.ndim !== 1 || l.shape[0] !== n) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `labels of shape [${n}] (one per row of z1)`, `${OP}(options.labels)`, shapeStr(l.shape));
    }
    checkSameDevice(OP, 'options.labels', l, a, 'z1');
    if (l.device === 'cuda') dc.labels = l;
    else kernel.labels = l.data as Int32Array;
  }
  if (o.negatives !== undefined) {
    const g = checkFloat(OP, 'options.negatives', o.negatives);
    checkSameDtype(OP, 'options.negatives', g, a, 'z1');
    if (g.ndim !== 2 || g.shape[1] !== d) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a [M, ${d}] tensor (z1's feature size)`, `${OP}(options.negatives)`, shapeStr(g.shape));
    }
    if (g.device === 'cuda') dc.negatives = g;
    else kernel.negatives = g.data as FloatArray;
  }
  // Device labels are read back only when this check needs their values.
  const labels = dc.labels && sc.decoupled && !dc.negatives ? (dc.labels.toArray() as Int32Array) : kernel.labels ?? null;
  checkDecoupledNegatives(OP, sc.decoupled, n, labels, kernel.negatives || dc.negatives ? 1 : 0);
  return { shape: [n, d], kernel, reduction, rows: sc.both ? 2 * n : n, ...dc };
}

/** The CUDA bindings' options (the CPU binding's, native/napi/info_nce.cc). */
function cudaOpts(c: Checked): Record<string, unknown> {
  const k = c.kernel;
  return { n: c.shape[0], d: c.shape[1], m: c.negatives ? c.negatives.shape[0] : 0, temperature: k.temperature, normalize: k.normalize, both: k.direction === 'both', decoupled: k.decoupled };
}

// The device path returns the per-row losses; infoNCE reduces them with the tensor core.
function forwardCuda(ctx: FunctionCtx, z1: Tensor, z2: Tensor, c: Checked): Tensor {
  const losses = devOut('float32', c.rows), lse = devOut('float32', c.rows), lsePos = c.labels ? devOut('float32', c.rows) : null;
  fused(OP).cudaInfoNCEForward(dev(z1), dev(z2), dev(c.negatives ?? null), dev(c.labels ?? null), losses, lse, lsePos, cudaOpts(c));
  Object.assign(ctx, { z1, z2, lse, lsePos, c });
  return devTensor(losses, [c.rows]);
}

function backwardCuda(ctx: FunctionCtx, g: Tensor): Array<Tensor | null> {
  const c = ctx.c as Checked, z1 = ctx.z1 as Tensor;
  const dz1 = devOut('float32', z1.numel()), dz2 = devOut('float32', z1.numel());
  fused(OP).cudaInfoNCEBackward(dev(z1), dev(ctx.z2 as Tensor), dev(c.negatives ?? null), dev(c.labels ?? null), dev(g), ctx.lse, ctx.lsePos, dz1, dz2, cudaOpts(c));
  return [ctx.needsInputGrad[0] ? devTensor(dz1, c.shape) : null, ctx.needsInputGrad[1] ? devTensor(dz2, c.shape) : null];
}

const InfoNCEFn = defineFunction({
  name: 'infoNCE',
  forward(ctx: FunctionCtx, z1: Tensor, z2: Tensor, c: Checked): Tensor {
    if (z1.device === 'cuda') return forwardCuda(ctx, z1, z2, c);
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
    if (g.device === 'cuda') return backwardCuda(ctx, g);
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
  const c = check(z1, z2, options);
  if (z1.device !== 'cuda' || c.reduction === 'none') return InfoNCEFn(z1, z2, c);
  const rows = InfoNCEFn(z1, z2, { ...c, reduction: 'none' });
  return c.reduction === 'sum' ? rows.sum() : rows.mean();
}
