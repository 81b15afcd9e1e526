/**
 * Raw typed-array matrix products (zero-copy: inputs are read in place, the result is written
 * into `out` when given). Shapes are row-major: a [...batchA, m, k] (or [..., k, m] with transA),
 * b [...batchB, k, n] (or [..., n, k] with transB). Batch dims must be equal, or one side must have
 * none / all ones (it is then broadcast). Result [...batch, m, n].
 */
import { native, useReference } from '../backends/native';
import { refMatmul } from '../backends/reference';
import { selfsupError, shapeStr, typeError } from '../errors';
import { uninitialized } from '../storage';
import { checkAllocation, checkArray, checkBoolean, checkOptions, checkShape, sizeOf, type FloatArray } from '../validate';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Written in place when given (must have the result's length and the inputs' type). */
  out?: FloatArray;
  /**
   * [n], added to every row of the result (F.linear's bias). The native GEMM adds it in its final
   * write of each C tile, so the bias costs no pass of its own over C.
   */
  bias?: FloatArray | null;
}

interface MatmulPlan {
  batch: number; m: number; n: number; k: number;
  transA: boolean; transB: boolean; strideA: number; strideB: number;
  outShape: number[];
}

function checkShapes(aShape: unknown, bShape: unknown): { sa: number[]; sb: number[] } {
  const sa = checkShape('aShape', aShape);
  const sb = checkShape('bShape', bShape);
  if (sa.length < 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape of rank >= 2', 'aShape', shapeStr(sa));
  if (sb.length < 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape of rank >= 2', 'bShape', shapeStr(sb));
  return { sa, sb };
}

function checkTrans(o: Partial<MatmulOptions>): { transA: boolean; transB: boolean } {
  return {
    transA: o.transA === undefined ? false : checkBoolean('options.transA', o.transA),
    transB: o.transB === undefined ? false : checkBoolean('options.transB', o.transB),
  };
}

/** Sizes, strides and the output shape from validated shapes (throws on mismatched dims). */
function planShapes(sa: number[], sb: number[], transA: boolean, transB: boolean): MatmulPlan {
  const ra = sa.length, rb = sb.length;
  const m = transA ? sa[ra - 1] : sa[ra - 2];
  const ka = transA ? sa[ra - 2] : sa[ra - 1];
  const kb = transB ? sb[rb - 1] : sb[rb - 2];
  const n = transB ? sb[rb - 2] : sb[rb - 1];
  if (ka !== kb) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `inner dimensions to agree (a has k=${ka})`, 'bShape', `${shapeStr(sb)} (k=${kb})`);
  }
  const batchA = sa.slice(0, -2), batchB = sb.slice(0, -2);
  const nA = sizeOf(batchA), nB = sizeOf(batchB);
  let batchShape: number[];
  if (nA === nB && (batchA.length === batchB.length || nA === 1)) batchShape = batchA.length >= batchB.length ? batchA : batchB;
  else if (nA === 1) batchShape = batchB;
  else if (nB === 1) batchShape = batchA;
  else throw selfsupError('ERR_SHAPE_MISMATCH', `batch dimensions equal to ${shapeStr(batchA)} or broadcastable`, 'bShape', shapeStr(sb));
  if (nA === nB && batchA.length !== batchB.length && nA !== 1 && shapeStr(batchA) !== shapeStr(batchB)) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `batch dimensions equal to ${shapeStr(batchA)}`, 'bShape', shapeStr(sb));
  }
  const batch = Math.max(nA, nB);
  const p: MatmulPlan = {
    batch, m, n, k: ka, transA, transB,
    strideA: nA === 1 ? 0 : m * ka, strideB: nB === 1 ? 0 : ka * n,
    outShape: [...batchShape, m, n],
  };
  return p;
}

function plan(a: unknown, aShape: unknown, b: unknown, bShape: unknown, options: unknown): { A: FloatArray; B: FloatArray; p: MatmulPlan; out?: FloatArray; bias: FloatArray | null } {
  const { sa, sb } = checkShapes(aShape, bShape);
  const A = checkArray<FloatArray>('a', a, ['float32', 'float64'], sa);
  const B = checkArray<FloatArray>('b', b, ['float32', 'float64'], sb);
  if (A.constructor !== B.constructor) throw typeError(`a ${A.constructor.name} (same type as a)`, 'b', B);
  const o = checkOptions<MatmulOptions>('options', options, ['transA', 'transB', 'out', 'bias']);
  const { transA, transB } = checkTrans(o);
  const p = planShapes(sa, sb, transA, transB);
  const n = p.n;
  let out: FloatArray | undefined;
  if (o.out !== undefined) {
    out = checkArray<FloatArray>('options.out', o.out, [A instanceof Float32Array ? 'float32' : 'float64'], p.outShape);
    if (out.buffer === A.buffer || out.buffer === B.buffer) {
      throw selfsupError('ERR_INVALID_ARGUMENT', 'an output buffer that does not alias a or b', 'options.out', 'an aliasing array');
    }
  } else {
    checkAllocation('matmul(out)', p.batch * p.m * p.n, A.BYTES_PER_ELEMENT, `shape ${shapeStr(p.outShape)}`);
  }
  let bias: FloatArray | null = null;
  if (o.bias !== undefined && o.bias !== null) {
    if (!(o.bias instanceof Float32Array || o.bias instanceof Float64Array) || o.bias.constructor !== A.constructor) {
      throw typeError(`a ${A.constructor.name} (same type as a)`, 'options.bias', o.bias);
    }
    bias = checkArray<FloatArray>('options.bias', o.bias, [A instanceof Float32Array ? 'float32' : 'float64'], [n]);
    if (out && bias.buffer === out.buffer) {
      throw selfsupError('ERR_INVALID_ARGUMENT', 'a bias that does not alias the output', 'options.bias', 'an aliasing array');
    }
  }
  return { A, B, p, out, bias };
}

/** Output shape of matmul for the given input shapes and options (validates them). */
export function matmulShape(aShape: number[], bShape: number[], options?: MatmulOptions): number[] {
  const { sa, sb } = checkShapes(aShape, bShape);
  const { transA, transB } = checkTrans(checkOptions<MatmulOptions>('options', options, ['transA', 'transB', 'out', 'bias']));
  return planShapes(sa, sb, transA, transB).outShape;
}

/** C = op(A) op(B). Returns `out` (or a new array of the inputs' type). */
export function matmul<T extends FloatArray>(a: T, aShape: number[], b: T, bShape: number[], options?: MatmulOptions): T {
  const { A, B, p, out, bias } = plan(a, aShape, b, bShape, options);
  const Ctor = A.constructor as Float32ArrayConstructor;
  // The native GEMM writes every element of C (beta = 0, plus the bias rows), so a new
  // C needs no zero-fill; the reference accumulates into it.
  const ref = useReference();
  const C = (out ?? (ref ? new Ctor(p.batch * p.m * p.n) : uninitialized(Ctor, p.batch * p.m * p.n))) as T;
  if (ref) {
    refMatmul(A, B, C, p.batch, p.m, p.n, p.k, p.transA, p.transB, p.strideA, p.strideB);
    if (bias) for (let r = 0; r < C.length; r += p.n) for (let j = 0; j < p.n; j++) C[r + j] += bias[j];
  } else {
    native().matmul(A, B, C, bias ?? null, p);
  }
  return C;
}

/** Off-thread form: runs on a worker thread of the addon; inputs are copied at call time. */
export async function matmulAsync<T extends FloatArray>(a: T, aShape: number[], b: T, bShape: number[], options?: MatmulOptions): Promise<T> {
  const { A, B, p, out, bias } = plan(a, aShape, b, bShape, options);
  if (useReference()) return matmul(a, aShape, b, bShape, options);
  const res = await native().matmulAsync(A as T, B as T, p);
  if (bias) for (let r = 0; r < res.length; r += p.n) for (let j = 0; j < p.n; j++) res[r + j] += bias[j];
  if (out) {
    // The caller kept `out` while the kernel ran; it may have been transferred in the meantime.
    checkArray<FloatArray>('options.out', out, [A instanceof Float32Array ? 'float32' : 'float64'], p.outShape);
    out.set(res);
    return out as T;
  }
  return res;
}
