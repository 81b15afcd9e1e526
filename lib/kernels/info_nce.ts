/**
 * Raw typed-array InfoNCE / NT-Xent kernels (zero-copy; no autograd). z1, z2 are row-major
 * [n, d] Float32Array or Float64Array. The kernel never forms the [2n, 2n] logits: memory is
 * O(n d) beyond the inputs (native/ops/info_nce).
 *
 *   const { losses, lse, lsePos } = infoNCEForward(z1, z2, [n, d], { temperature: 0.1 });
 *   const { dz1, dz2 } = infoNCEBackward(z1, z2, [n, d], { lse, lsePos }, gradRows, options);
 *
 * `losses` holds one loss per row: 2n rows (view 1 then view 2) for direction 'both', n for
 * 'oneWay'. Their mean is lightly's NTXentLoss; SimCLR's TF code reports twice that mean.
 */
import { native, useReference } from '../backends/native';
import { refInfoNCEBackward, refInfoNCEForward, type RefInfoNCEArgs } from '../backends/reference-info_nce';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { named } from './args';
import { checkArray, checkBoolean, checkNumber, checkOneOf, checkOptions, checkShape, type FloatArray } from '../validate';

export interface InfoNCEKernelOptions {
  /** Softmax temperature tau > 0 (default 0.1). Safe down to 0.01 and below (streaming LSE). */
  temperature?: number;
  /** L2-normalize z1, z2 (and negatives) first (default true; the gradient goes through it). */
  normalize?: boolean;
  /** 'both' (default): SimCLR NT-Xent over the 2n views; 'oneWay': rows z1, keys z2 (CLIP/MoCo). */
  direction?: 'both' | 'oneWay';
  /** DCL (Yeh et al. 2022): leave the positives out of the denominator (default false). */
  decoupled?: boolean;
  /** int32 [n]: every other view with the same label is a positive (solo-learn's indexes). */
  labels?: Int32Array;
  /** Extra negatives [m, d] (a MoCo-style queue; same array type as z1; no gradient). */
  negatives?: FloatArray;
}

export interface InfoNCEReduceOptions extends InfoNCEKernelOptions {
  reduction?: 'mean' | 'sum' | 'none';
}

export interface InfoNCEForwardResult<T extends FloatArray> {
  /** Per-row losses [R] (R = 2n for 'both', n for 'oneWay'). */
  losses: T;
  /** Per-row log-sum-exp of the denominator (saved for the backward). */
  lse: T;
  /** Per-row log-sum-exp over the positives when labels are given, else null. */
  lsePos: T | null;
}

/** The checked inputs and options: the reference kernels' arguments and the native options. */
export interface InfoNCEPlan extends RefInfoNCEArgs {
  /** Rows R = 2n ('both') or n ('oneWay'). */
  rows: number;
}

const KERNEL_KEYS = ['temperature', 'normalize', 'direction', 'decoupled', 'labels', 'negatives'] as const;

/** InfoNCE's scalar options, checked and defaulted. */
export interface InfoNCEScalars { temperature: number; normalize: boolean; both: boolean; decoupled: boolean }

/**
 * The rules of InfoNCE's scalar options and their defaults (temperature 0.1, normalize, direction
 * 'both', not decoupled), written once: the raw kernels (op ''), F.infoNCE and the tfjs adapter
 * call it with their op name for messages.
 */
export function planInfoNCEScalars(op: string, o: Pick<InfoNCEKernelOptions, 'temperature' | 'normalize' | 'direction' | 'decoupled'>): InfoNCEScalars {
  const at = (k: string) => named(op, `options.${k}`);
  return {
    temperature: o.temperature === undefined ? 0.1 : checkNumber(at('temperature'), o.temperature, { min: 0, minExclusive: true }),
    normalize: o.normalize === undefined ? true : checkBoolean(at('normalize'), o.normalize),
    both: (o.direction === undefined ? 'both' : checkOneOf(at('direction'), o.direction, ['both', 'oneWay'] as const)) === 'both',
    decoupled: o.decoupled === undefined ? false : checkBoolean(at('decoupled'), o.decoupled),
  };
}

/**
 * Decoupled (DCL) leaves the positives out of each row's denominator, so every row needs a
 * negative left: m extra negatives, or a batch row with another label (another sample when
 * unlabeled).
 */
export function checkDecoupledNegatives(op: string, decoupled: boolean, n: number, labels: Int32Array | null, m: number): void {
  if (!decoupled || m > 0) return;
  const none = labels ? labels.every((l) => l === labels[0]) : n < 2;
  if (none) {
    throw rangeError('at least one negative per row (decoupled leaves the positives out)', named(op, 'options.decoupled'),
      labels ? 'labels that are all equal and no negatives' : `n = ${n} and no negatives`, true);
  }
}

/** Validates inputs and options: the raw kernels' plan (the autograd op shares its rules). */
export function planInfoNCE(z1: unknown, z2: unknown, shape: unknown, options: unknown): InfoNCEPlan {
  const s = checkShape('shape', shape);
  if (s.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [n, d]', 'shape', shapeStr(s));
  const [n, d] = s;
  if (n < 1) throw rangeError('a batch of at least 1 row', 'z1', shapeStr(s), true);
  if (d < 1) throw rangeError('a feature size d >= 1', 'z1', shapeStr(s), true);
  const Z1 = checkArray<FloatArray>('z1', z1, ['float32', 'float64'], s);
  const kind = Z1 instanceof Float32Array ? 'float32' : 'float64';
  if (!(z2 instanceof Float32Array || z2 instanceof Float64Array) || z2.constructor !== Z1.constructor) {
    throw typeError(`a ${Z1.constructor.name} (same type as z1)`, 'z2', z2);
  }
  const Z2 = checkArray<FloatArray>('z2', z2, [kind], s);
  const o = checkOptions<InfoNCEKernelOptions>('options', options, KERNEL_KEYS);
  const scalars = planInfoNCEScalars('', o);
  let labels: Int32Array | null = null;
  if (o.labels !== undefined) labels = checkArray<Int32Array>('options.labels', o.labels, ['int32'], [n]);
  let negatives: FloatArray | null = null;
  let m = 0;
  if (o.negatives !== undefined) {
    negatives = checkArray<FloatArray>('options.negatives', o.negatives, [kind]);
    if (negatives.length % d !== 0) {
      throw rangeError(`a ${Z1.constructor.name} of length m * ${d} (shape [m, d])`, 'options.negatives', `length ${negatives.length}`, true);
    }
    m = negatives.length / d;
  }
  checkDecoupledNegatives('', scalars.decoupled, n, labels, m);
  return { z1: Z1, z2: Z2, negatives, labels, n, d, m, ...scalars, rows: scalars.both ? 2 * n : n };
}

function like<T extends FloatArray>(a: T, n: number): T {
  return new (a.constructor as Float32ArrayConstructor)(n) as T;
}

/** Per-row losses and the saved log-sum-exps. */
export function infoNCEForward<T extends FloatArray>(z1: T, z2: T, shape: [number, number], options?: InfoNCEKernelOptions): InfoNCEForwardResult<T> {
  const p = planInfoNCE(z1, z2, shape, options);
  const losses = like(z1, p.rows), lse = like(z1, p.rows);
  const lsePos = p.labels ? like(z1, p.rows) : null;
  if (useReference()) {
    const r = refInfoNCEForward(p);
    losses.set(r.losses);
    lse.set(r.lse);
    if (lsePos && r.lsePos) lsePos.set(r.lsePos);
  } else {
    native().infoNCEForward(p.z1, p.z2, p.negatives, p.labels, losses, lse, lsePos, p);
  }
  return { losses, lse, lsePos };
}

function checkSaved<T extends FloatArray>(p: InfoNCEPlan, saved: unknown, gradRows: unknown): { lse: T; lsePos: T | null; g: T } {
  const kind = p.z1 instanceof Float32Array ? 'float32' : 'float64';
  // `saved` is usually the forward's whole result, losses included.
  const sv = checkOptions<{ lse: T; lsePos: T | null; losses: T }>('saved', saved, ['lse', 'lsePos', 'losses']);
  const lse = checkArray<T>('saved.lse', sv.lse, [kind], [p.rows]);
  let lsePos: T | null = null;
  if (p.labels) lsePos = checkArray<T>('saved.lsePos', sv.lsePos, [kind], [p.rows]);
  const g = checkArray<T>('gradRows', gradRows, [kind], [p.rows]);
  return { lse, lsePos, g };
}

/** dL/dz1, dL/dz2 given dL/dlosses (gradRows [R]) and the forward's saved LSEs. */
export function infoNCEBackward<T extends FloatArray>(
  z1: T, z2: T, shape: [number, number],
  saved: { lse: T; lsePos: T | null }, gradRows: T, options?: InfoNCEKernelOptions,
): { dz1: T; dz2: T } {
  const p = planInfoNCE(z1, z2, shape, options);
  const { lse, lsePos, g } = checkSaved<T>(p, saved, gradRows);
  const dz1 = like(z1, p.n * p.d), dz2 = like(z1, p.n * p.d);
  if (useReference()) {
    const r = refInfoNCEBackward(p, g);
    dz1.set(r.dz1);
    dz2.set(r.dz2);
  } else {
    native().infoNCEBackward(p.z1, p.z2, p.negatives, p.labels, g, lse, lsePos, dz1, dz2, p);
  }
  return { dz1, dz2 };
}

/** The reduced loss ('mean' over rows by default): a number, or the per-row array for 'none'. */
export function infoNCE<T extends FloatArray>(z1: T, z2: T, shape: [number, number], options?: InfoNCEReduceOptions): number | T {
  const o = checkOptions<InfoNCEReduceOptions>('options', options, [...KERNEL_KEYS, 'reduction']);
  const reduction = o.reduction === undefined ? 'mean' : checkOneOf('options.reduction', o.reduction, ['mean', 'sum', 'none'] as const);
  const { reduction: _reduction, ...kernelOptions } = o;
  const { losses } = infoNCEForward(z1, z2, shape, kernelOptions);
  if (reduction === 'none') return losses;
  let s = 0;
  for (let i = 0; i < losses.length; i++) s += losses[i];
  return reduction === 'sum' ? s : s / losses.length;
}

/** Off-thread forward: inputs are copied at call time, results are fresh arrays. */
export async function infoNCEForwardAsync<T extends FloatArray>(z1: T, z2: T, shape: [number, number], options?: InfoNCEKernelOptions): Promise<InfoNCEForwardResult<T>> {
  const p = planInfoNCE(z1, z2, shape, options);
  if (useReference()) return infoNCEForward(z1, z2, shape, options);
  return native().infoNCEForwardAsync(p.z1 as T, p.z2 as T, p.negatives as T | null, p.labels, p);
}

/** Off-thread backward (inputs copied at call time). */
export async function infoNCEBackwardAsync<T extends FloatArray>(
  z1: T, z2: T, shape: [number, number],
  saved: { lse: T; lsePos: T | null }, gradRows: T, options?: InfoNCEKernelOptions,
): Promise<{ dz1: T; dz2: T }> {
  const p = planInfoNCE(z1, z2, shape, options);
  const { lse, lsePos, g } = checkSaved<T>(p, saved, gradRows);
  if (useReference()) return infoNCEBackward(z1, z2, shape, saved, gradRows, options);
  return native().infoNCEBackwardAsync(p.z1 as T, p.z2 as T, p.negatives as T | null, p.labels, g, lse, lsePos, p);
}
