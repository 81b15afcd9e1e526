/**
 * Elementwise ops with NumPy broadcasting. Binary ops run one strided row loop per op
 * (common.forEachRow coalesces same-shape operands into a single row); the gradient of a
 * broadcast operand is summed back over its broadcast dims (common.sumToShape). Binary operands
 * of different dtypes are promoted as PyTorch does (resultType below).
 */
import { defineOp as defineFunction } from '../autograd/function';
import { erf } from '../backends/reference-pointwise';
import { useReference } from '../backends/native';
import { rangeError, selfsupError, typeError } from '../errors';
import { gelu as kgelu, geluBackward as kgeluBackward } from '../kernels/pointwise';
import { Tensor, isFloatDType, isFloatingDType, type DType } from '../tensor';
import * as nc from './native-core';
import { whereRaw } from './select';
import { toDtype } from './shape';
import {
  type Arr, FLOATS, binaryOperands, broadcastShapes, broadcastStrides, checkFloat, checkTensor, contiguousStrides,
  castCuda, checkCudaFloat32, emptyLike, forEachRow, newArray, noCudaKernel, opts, optEnum, sizeOf, sumToShape, scalarLike, toCuda,
  zerosArray,
} from './common';

export { checkTensor, whereRaw };

type BinKernel = (o: Arr, oo: number, a: Arr, ao: number, as: number, b: Arr, bo: number, bs: number, n: number) => void;

/** out[i] = k(a[i], b[i]) over the broadcast shape. */
function binaryMap(a: Tensor, b: Tensor, k: BinKernel, outDtype: DType = a.dtype): Tensor {
  if (a.device !== b.device) [a, b] = sameDevice(a, b);
  const shape = broadcastShapes('', '', a.shape, b.shape);
  const out = nc.outArray(outDtype, sizeOf(shape), a.device); // every element is written below
  const ad = a.data, bd = b.data;
  // The native tensor core: one multithreaded SIMD pass (the loops below are the reference).
  const nop = NATIVE_BINARY.get(k);
  if (nop !== undefined && nc.binary(nop, out, shape, ad, a.shape, bd, b.shape)) return new Tensor(out, shape);
  if (a.device === 'cuda') throw noCudaKernel(k === kMulInt ? 'mul (int32)' : k === kOr ? 'add (bool)' : 'this elementwise kernel', 'a');
  // The transformer's residual adds: one monomorphic float32 loop (the generic row kernel sees
  // every array type and runs ~2x slower in V8).
  if (k === kAdd && ad instanceof Float32Array && bd instanceof Float32Array && out instanceof Float32Array && ad.length === out.length && bd.length === out.length) {
    addF32(out, ad, bd);
    return new Tensor(out, shape);
  }
  forEachRow(shape, [contiguousStrides(shape), broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)], (o, n, s) =>
    k(out, o[0], ad, o[1], s[1], bd, o[2], s[2], n),
  );
  return new Tensor(out, shape);
}

/**
 * Operands on two devices: a 0-dim host operand (a number made a tensor, PyTorch's CPU scalar)
 * moves to 'cuda'; anything else is ERR_DEVICE_MISMATCH.
 */
function sameDevice(a: Tensor, b: Tensor): [Tensor, Tensor] {
  // A float scalar takes a 16-bit float operand's dtype (the scalar does not promote, as in PyTorch).
  const to = (s: Tensor, other: Tensor) => toCuda(s, isFloatingDType(s.dtype) && isFloatingDType(other.dtype) ? other.dtype : s.dtype);
  if (a.device === 'cpu' && a.ndim === 0) return [to(a, b), b];
  if (b.device === 'cpu' && b.ndim === 0) return [a, to(b, a)];
  throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${a.device}' (the device of a)`, 'b', `a Tensor on '${b.device}'`);
}

function addF32(o: Float32Array, a: Float32Array, b: Float32Array): void {
  for (let i = 0, n = o.length; i < n; i++) o[i] = a[i] + b[i];
}
const kAdd: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] + b[bo + i * bs]; };
const kSub: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] - b[bo + i * bs]; };
const kMul: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] * b[bo + i * bs]; };
const kDiv: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] / b[bo + i * bs]; };
const kPow: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = Math.pow(a[ao + i * as], b[bo + i * bs]); };
const kMax: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => {
  for (let i = 0; i < n; i++) { const x = a[ao + i * as], y = b[bo + i * bs]; o[oo + i] = x > y || x !== x ? x : y; }
};
const kMin: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => {
  for (let i = 0; i < n; i++) { const x = a[ao + i * as], y = b[bo + i * bs]; o[oo + i] = x < y || x !== x ? x : y; }
};
/** Gradient share of `a` in maximum/minimum: 1 where a wins, 0.5 on ties (PyTorch splits ties). */
const kWinA: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => {
  for (let i = 0; i < n; i++) { const x = a[ao + i * as], y = b[bo + i * bs]; o[oo + i] = x > y ? 1 : x === y ? 0.5 : 0; }
};
/** int32 products wrap like C's int32 (Math.imul): a double product would round first above 2^53. */
const kMulInt: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = Math.imul(a[ao + i * as], b[bo + i * bs]); };
/** bool + bool is bool in PyTorch (True + True is True): a logical or. */
const kOr: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] || b[bo + i * bs] ? 1 : 0; };
const kGt: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] > b[bo + i * bs] ? 1 : 0; };
const kGe: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] >= b[bo + i * bs] ? 1 : 0; };
const kEq: BinKernel = (o, oo, a, ao, as, b, bo, bs, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as] === b[bo + i * bs] ? 1 : 0; };

const NATIVE_BINARY = new Map<BinKernel, nc.BinaryOpName>([
  [kAdd, 'add'], [kSub, 'sub'], [kMul, 'mul'], [kDiv, 'div'], [kPow, 'pow'], [kMax, 'maximum'], [kMin, 'minimum'],
  [kGt, 'gt'], [kGe, 'ge'], [kEq, 'eq'],
]);

/** Raw (untracked) helpers used by backward formulas of other files. */
export const raw = {
  add: (a: Tensor, b: Tensor) => binaryMap(a, b, kAdd),
  sub: (a: Tensor, b: Tensor) => binaryMap(a, b, kSub),
  mul: (a: Tensor, b: Tensor) => binaryMap(a, b, kMul),
  div: (a: Tensor, b: Tensor) => binaryMap(a, b, kDiv),
  eq: (a: Tensor, b: Tensor) => binaryMap(a, b, kEq, 'bool'),
  gt: (a: Tensor, b: Tensor) => binaryMap(a, b, kGt, 'bool'),
  scale(a: Tensor, s: number): Tensor {
    const out = new Tensor(nc.outArray(a.dtype, a.numel(), a.device), a.shape), x = a.data, y = out.data;
    if (nc.unary('affine', x, y, s, 0)) return out;
    for (let i = 0; i < x.length; i++) y[i] = x[i] * s;
    return out;
  },
};

// ---- binary, differentiable ---------------------------------------------------------------

/** a + b and a - b: the gradient is g (and -g for sub's b), summed back to each operand's shape. */
function addSubFn(name: string, k: BinKernel, bSign: 1 | -1) {
  return defineFunction({
    name,
    forward(ctx, a: Tensor, b: Tensor) {
      ctx.shapes = [a.shape, b.shape];
      return binaryMap(a, b, k);
    },
    backward(ctx, g) {
      const gb = ctx.needsInputGrad[1] ? sumToShape(bSign === 1 ? g : raw.scale(g, -1), ctx.shapes[1]) : null;
      return [ctx.needsInputGrad[0] ? sumToShape(g, ctx.shapes[0]) : null, gb];
    },
  });
}
const AddFn = addSubFn('Add', kAdd, 1);
const SubFn = addSubFn('Sub', kSub, -1);

const MulFn = defineFunction({
  name: 'Mul',
  forward(ctx, a: Tensor, b: Tensor) {
    // Each gradient needs only the other operand.
    ctx.save(ctx.needsInputGrad[1] ? a : null, ctx.needsInputGrad[0] ? b : null);
    ctx.shapes = [a.shape, b.shape];
    return binaryMap(a, b, kMul);
  },
  backward(ctx, g) {
    const [a, b] = ctx.saved;
    return [b ? sumToShape(raw.mul(g, b), ctx.shapes[0]) : null, a ? sumToShape(raw.mul(g, a), ctx.shapes[1]) : null];
  },
});

const DivFn = defineFunction({
  name: 'Div',
  forward(ctx, a: Tensor, b: Tensor) {
    ctx.save(a, b);
    return binaryMap(a, b, kDiv);
  },
  backward(ctx, g) {
    const [a, b] = ctx.saved;
    const ga = ctx.needsInputGrad[0] ? sumToShape(raw.div(g, b), a.shape) : null;
    const gb = ctx.needsInputGrad[1] ? sumToShape(raw.scale(raw.div(raw.mul(g, a), raw.mul(b, b)), -1), b.shape) : null;
    return [ga, gb];
  },
});

const PowFn = defineFunction({
  name: 'Pow',
  forward(ctx, a: Tensor, b: Tensor) {
    const y = binaryMap(a, b, kPow);
    ctx.save(a, b, y);
    return y;
  },
  backward(ctx, g) {
    const [a, b, y] = ctx.saved;
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (ctx.needsInputGrad[0]) {
      // d/da a^b = b a^(b-1); written without dividing by a so a = 0 stays finite.
      const bm1 = binaryMap(b, scalarLike(1, b), kSub);
      ga = sumToShape(raw.mul(g, raw.mul(b, binaryMap(a, bm1, kPow))), a.shape);
    }
    if (ctx.needsInputGrad[1] && a.device === 'cuda') {
      // log(a) with 0 at a = 0 (as below): log(a + (a == 0)); NaN for a < 0 comes from log itself.
      const la = log(binaryMap(a, castCuda(binaryMap(a, scalarLike(0, a), kEq, 'bool'), a.dtype), kAdd));
      gb = sumToShape(raw.mul(raw.mul(g, y), la), b.shape);
    } else if (ctx.needsInputGrad[1]) {
      const la = emptyLike(a);
      for (let i = 0; i < a.data.length; i++) la.data[i] = a.data[i] > 0 ? Math.log(a.data[i]) : a.data[i] === 0 ? 0 : NaN;
      gb = sumToShape(raw.mul(raw.mul(g, y), la), b.shape);
    }
    return [ga, gb];
  },
});

/** kWinA of (x, y); on 'cuda' from the native comparisons: (x > y) + 0.5 (x == y). */
function winShare(x: Tensor, y: Tensor): Tensor {
  if (x.device !== 'cuda') return binaryMap(x, y, kWinA);
  const gt = castCuda(binaryMap(x, y, kGt, 'bool'), x.dtype), eq = castCuda(binaryMap(x, y, kEq, 'bool'), x.dtype);
  return binaryMap(gt, raw.scale(eq, 0.5), kAdd);
}

function minMaxFn(name: string, k: BinKernel) {
  return defineFunction({
    name,
    forward(ctx, a: Tensor, b: Tensor) {
      ctx.save(a, b);
      return binaryMap(a, b, k);
    },
    backward(ctx, g) {
      const [a, b] = ctx.saved;
      // Share of a: 1 where a wins (for maximum: a > b; minimum: a < b, i.e. b > a), 0.5 on ties.
      const wa = name === 'Maximum' ? winShare(a, b) : winShare(b, a);
      const ga = ctx.needsInputGrad[0] ? sumToShape(raw.mul(g, wa), a.shape) : null;
      const gb = ctx.needsInputGrad[1] ? sumToShape(raw.mul(g, binaryMap(scalarLike(1, wa), wa, kSub)), b.shape) : null;
      return [ga, gb];
    },
  });
}
const MaximumFn = minMaxFn('Maximum', kMax);
const MinimumFn = minMaxFn('Minimum', kMin);

// ---- type promotion (torch.result_type) -------------------------------------------------------

const CATEGORY: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 2, bfloat16: 2, float16: 2 };

/** The smallest dtype holding both (torch.promote_types over this package's four dtypes). */
export function promoteTypes(a: DType, b: DType): DType {
  if (CATEGORY[a] !== CATEGORY[b]) return CATEGORY[a] > CATEGORY[b] ? a : b;
  if (a === 'float64' || b === 'float64') return 'float64';
  // Two different 16/32-bit floats: float32 (torch.promote_types: bfloat16 with float16 too).
  return a === b ? a : 'float32';
}

/** PyTorch's combine_categories: a lower-priority group only matters when its category is higher. */
function combine(higher: DType | null, lower: DType | null): DType | null {
  if (higher === null) return lower;
  if (lower === null || isFloatingDType(higher)) return higher;
  return higher === 'bool' || isFloatingDType(lower) ? promoteTypes(higher, lower) : higher;
}

/**
 * torch.result_type of binary operands (c10's ResultTypeState): tensors with dims decide, then
 * 0-dim tensors, then numbers, and a lower-priority operand changes the result only when its
 * category (bool < int < float) is higher: float32 [n] + float64 0-dim is float32, int32 [n] +
 * float64 0-dim is float64, int32 [n] + 0.5 is float32. A number is int32 when it is an integer
 * and float32 otherwise (JS cannot tell 2.0 from 2, so int32 [n] * 2.0 stays int32).
 */
export function resultType(a: Tensor | number, b: Tensor | number): DType {
  let dims: DType | null = null, zero: DType | null = null, nums: DType | null = null;
  const group = (x: Tensor | number): void => {
    if (!(x instanceof Tensor)) {
      const d: DType = Number.isInteger(x) ? 'int32' : 'float32';
      nums = nums === null ? d : promoteTypes(nums, d);
    } else if (x.ndim > 0) dims = dims === null ? x.dtype : promoteTypes(dims, x.dtype);
    else zero = zero === null ? x.dtype : promoteTypes(zero, x.dtype);
  };
  group(a);
  group(b);
  return combine(dims, combine(zero, nums)) as DType;
}

/**
 * Both operands in their result dtype (`toFloat`: at least float32, for true division). Tensors
 * convert through `to`, so a float32 operand of a float64 result gets a float32 gradient.
 */
function promoted(op: string, a: unknown, b: unknown, toFloat = false): [Tensor, Tensor] {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw typeError('a Tensor', `${op}(a)`, a);
  if (a instanceof Tensor) checkTensor(op, 'a', a);
  else if (typeof a !== 'number') throw typeError('a Tensor or a number', `${op}(a)`, a);
  if (b instanceof Tensor) checkTensor(op, 'b', b);
  else if (typeof b !== 'number') throw typeError('a Tensor or a number', `${op}(b)`, b);
  // The common cases, one float dtype already (a number never raises a float tensor's dtype): no conversion.
  if (a instanceof Tensor && b instanceof Tensor && a.dtype === b.dtype && (!toFloat || isFloatingDType(a.dtype))) return [a, b];
  if (a instanceof Tensor && typeof b === 'number' && isFloatingDType(a.dtype)) return [a, scalarLike(b, a)];
  if (b instanceof Tensor && typeof a === 'number' && isFloatingDType(b.dtype)) return [scalarLike(a, b), b];
  let dtype = resultType(a as Tensor | number, b as Tensor | number);
  if (toFloat && !isFloatDType(dtype)) dtype = 'float32';
  const as = (x: unknown, name: string): Tensor => {
    if (x instanceof Tensor) return toDtype(x, dtype);
    if (dtype === 'int32' && ((x as number) < -2147483648 || (x as number) > 2147483647)) throw rangeError('an int32 value (the result dtype)', `${op}(${name})`, x);
    return scalarOf(x as number, dtype);
  };
  return [as(a, 'a'), as(b, 'b')];
}

function scalarOf(v: number, dtype: DType): Tensor {
  const t = newArray(dtype, 1);
  t[0] = v;
  return new Tensor(t, []);
}

/**
 * A binary op over promoted operands: the autograd Function for float results, the plain kernel
 * `intKernel` for int32 and bool results (they never require grad); null: not defined there.
 */
function binary(op: string, fn: (a: Tensor, b: Tensor) => Tensor, a: Tensor | number, b: Tensor | number, intKernel: BinKernel | null, boolKernel: BinKernel | null = intKernel, toFloat = false): Tensor {
  const [A, B] = promoted(op, a, b, toFloat);
  broadcastShapes(op, 'b', A.shape, B.shape);
  if (isFloatingDType(A.dtype)) return fn(A, B);
  const k = A.dtype === 'bool' ? boolKernel : intKernel;
  if (k === null) throw typeError(`numeric operands (${op} of two bool tensors is not defined, as in PyTorch; convert with .int())`, `${op}(b)`, b);
  return binaryMap(A, B, k);
}

export function add(a: Tensor | number, b: Tensor | number): Tensor { return binary('add', AddFn, a, b, kAdd, kOr); }
export function sub(a: Tensor | number, b: Tensor | number): Tensor { return binary('sub', SubFn, a, b, kSub, null); }
export function mul(a: Tensor | number, b: Tensor | number): Tensor { return binary('mul', MulFn, a, b, kMulInt, kMul); }
/** True division: integer operands give float32, as PyTorch. */
export function div(a: Tensor | number, b: Tensor | number): Tensor { return binary('div', DivFn, a, b, null, null, true); }
// x ** p with a number p: the unary kernel, one libm pow per element (x * x for p = 2), and
// p x^(p-1) for the backward, each evaluated in double and rounded once; nothing to broadcast and
// only x saved, where the binary form would save a, b and y.
const PowScalarFn = defineFunction({
  name: 'PowScalar',
  forward(ctx, x: Tensor, p: number) {
    const y = new Tensor(nc.outArray(x.dtype, x.numel(), x.device), x.shape);
    if (!nc.unary('powScalar', x.data, y.data, p)) {
      const xd = x.data, yd = y.data;
      for (let i = 0; i < xd.length; i++) yd[i] = Math.pow(xd[i], p);
    }
    ctx.save(x);
    ctx.p = p;
    return y;
  },
  backward(ctx, g) {
    const [x] = ctx.saved;
    const p: number = ctx.p;
    const gx = new Tensor(nc.outArray(g.dtype, g.numel(), g.device), g.shape);
    if (!nc.unaryBackward('powScalar', g.data, x.data, gx.data, p)) {
      const xd = x.data, gd = g.data, gxd = gx.data;
      // 0 for p = 0 (PyTorch), even where x^(p-1) is infinite.
      for (let i = 0; i < xd.length; i++) gxd[i] = p === 0 ? 0 : gd[i] * p * Math.pow(xd[i], p - 1);
    }
    return [gx];
  },
});

/**
 * x ** exponent (number or broadcastable Tensor; the exponent's gradient uses log(x), NaN for x < 0).
 * int32 results need non-negative exponents (PyTorch refuses integers to negative powers).
 */
export function pow(x: Tensor | number, exponent: Tensor | number): Tensor {
  if (x instanceof Tensor && typeof exponent === 'number' && (x.dtype === 'float32' || x.dtype === 'float64')) {
    checkTensor('pow', 'a', x);
    // The exponent rounds to x's dtype, as the scalar operand of the binary form would.
    return PowScalarFn(x, x.dtype === 'float32' ? Math.fround(exponent) : exponent);
  }
  const [A, B] = promoted('pow', x, exponent);
  if (A.dtype === 'int32' && B.data.some((e) => e < 0)) throw rangeError('non-negative exponents for an int32 result (integers to negative powers are not defined)', 'pow(exponent)', exponent);
  return binary('pow', PowFn, A, B, kPow, null);
}
/** Elementwise max; ties split the gradient evenly like PyTorch. */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor { return binary('maximum', MaximumFn, a, b, kMax); }
export function minimum(a: Tensor | number, b: Tensor | number): Tensor { return binary('minimum', MinimumFn, a, b, kMin); }

// ---- comparisons (bool results, not differentiable) --------------------------------------

const CMP_DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];
/** Operands of any dtypes compare in their promoted dtype (float32 0.1 != float64 0.1, as PyTorch). */
function compare(op: string, a: Tensor | number, b: Tensor | number, k: BinKernel, swap = false): Tensor {
  const [A, B] = promoted(op, a, b);
  broadcastShapes(op, 'b', A.shape, B.shape);
  return swap ? binaryMap(B, A, k, 'bool') : binaryMap(A, B, k, 'bool');
}
export function gt(a: Tensor | number, b: Tensor | number): Tensor { return compare('gt', a, b, kGt); }
export function ge(a: Tensor | number, b: Tensor | number): Tensor { return compare('ge', a, b, kGe); }
export function lt(a: Tensor | number, b: Tensor | number): Tensor { return compare('lt', a, b, kGt, true); }
export function le(a: Tensor | number, b: Tensor | number): Tensor { return compare('le', a, b, kGe, true); }
export function eq(a: Tensor | number, b: Tensor | number): Tensor { return compare('eq', a, b, kEq); }

/** NaN test (bool); an int32 or bool tensor has no NaN. */
export function isnan(x: Tensor): Tensor {
  checkTensor('isnan', 'x', x);
  if (x.device === 'cuda') {
    // NaN is the one value unequal to itself: the device's `ne` comparison.
    if (!isFloatingDType(x.dtype)) return new Tensor(zerosArray('bool', x.numel(), 'cuda'), x.shape);
    const out = nc.outArray('bool', x.numel(), 'cuda');
    nc.binary('ne', out, x.shape, x.data, x.shape, x.data, x.shape);
    return new Tensor(out, x.shape);
  }
  const out = new Uint8Array(x.numel()), xd = x.data;
  if (isFloatDType(x.dtype)) for (let i = 0; i < out.length; i++) out[i] = xd[i] !== xd[i] ? 1 : 0;
  return new Tensor(out, x.shape);
}

const kClose = (rtol: number, atol: number): BinKernel => (o, oo, a, ao, as, b, bo, bs, n) => {
  for (let i = 0; i < n; i++) {
    const x = a[ao + i * as], y = b[bo + i * bs];
    // x === y first: equal infinities are close (their difference is NaN).
    o[oo + i] = x === y || Math.abs(x - y) <= atol + rtol * Math.abs(y) ? 1 : 0;
  }
};

/**
 * torch.allclose: |a - b| <= atol + rtol |b| everywhere (b broadcasts against a; NaN is never
 * close). A plain boolean, like PyTorch's Python bool.
 */
export function allclose(a: Tensor, b: Tensor | number, rtol = 1e-5, atol = 1e-8): boolean {
  checkTensor('allclose', 'a', a, CMP_DTYPES);
  for (const [name, v] of [['rtol', rtol], ['atol', atol]] as const) {
    if (typeof v !== 'number') throw typeError('a number', `allclose(${name})`, v);
    if (!(v >= 0)) throw rangeError('a number >= 0', `allclose(${name})`, v);
  }
  const [A, B] = binaryOperands('allclose', a, b, CMP_DTYPES);
  broadcastShapes('allclose', 'b', A.shape, B.shape);
  if (A.device === 'cuda') return allcloseDevice(A, B, rtol, atol);
  const close = binaryMap(A, B, kClose(rtol, atol), 'bool').data;
  for (let i = 0; i < close.length; i++) if (!close[i]) return false;
  return true;
}

/**
 * allclose of cuda tensors: the closeness mask in float32 device ops, its minimum read back (one
 * synchronization: the result is a host boolean). int32 operands compare as float32 (exact below
 * 2^24); the tolerance atol + rtol |b| is formed in float32 (double on the CPU).
 */
function allcloseDevice(A: Tensor, B: Tensor, rtol: number, atol: number): boolean {
  if (A.dtype === 'int32') [A, B] = [castCuda(A, 'float32'), castCuda(B, 'float32')];
  const diff = abs(binaryMap(A, B, kSub));
  const tol = emptyLike(B);
  nc.unary('affine', abs(B).data, tol.data, rtol, atol);
  const within = castCuda(binaryMap(tol, diff, kGe, 'bool'), A.dtype);
  const same = castCuda(binaryMap(A, B, kEq, 'bool'), A.dtype); // equal infinities are close
  const close = binaryMap(within, same, kMax);
  if (close.numel() === 0) return true;
  const lo = new Tensor(nc.outArray(close.dtype, 1, 'cuda'), []);
  nc.reduce('min', close.data, close.shape, close.shape.map(() => true), lo.data);
  return lo.item() === 1;
}

// ---- where ----------------------------------------------------------------------------------

const WhereFn = defineFunction({
  name: 'Where',
  forward(ctx, cond: Tensor, a: Tensor, b: Tensor) {
    const s1 = broadcastShapes('where', 'a', cond.shape, a.shape);
    const shape = broadcastShapes('where', 'b', s1, b.shape);
    ctx.save(cond);
    ctx.shapes = [a.shape, b.shape, shape];
    if (cond.device === 'cuda') return whereRaw(cond, a, b);
    const out = newArray(a.dtype, sizeOf(shape));
    const c = cond.data, ad = a.data, bd = b.data;
    forEachRow(shape, [contiguousStrides(shape), broadcastStrides(cond.shape, shape), broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)], (o, n, s) => {
      const oo = o[0], co = o[1], cs = s[1], ao = o[2], as = s[2], bo = o[3], bs = s[3];
      for (let i = 0; i < n; i++) out[oo + i] = c[co + i * cs] ? ad[ao + i * as] : bd[bo + i * bs];
    });
    return new Tensor(out, shape);
  },
  backward(ctx, g) {
    const [cond] = ctx.saved;
    const [sa, sb] = ctx.shapes as number[][];
    const pick = (take: boolean): Tensor => {
      if (g.device === 'cuda') {
        const zero = scalarLike(0, g);
        return take ? whereRaw(cond, g, zero) : whereRaw(cond, zero, g);
      }
      const m = binaryMap(g, cond, take ? (o, oo, x, xo, xs, c, co, cs, n) => { for (let i = 0; i < n; i++) o[oo + i] = c[co + i * cs] ? x[xo + i * xs] : 0; }
        : (o, oo, x, xo, xs, c, co, cs, n) => { for (let i = 0; i < n; i++) o[oo + i] = c[co + i * cs] ? 0 : x[xo + i * xs]; });
      return m;
    };
    return [null, ctx.needsInputGrad[1] ? sumToShape(pick(true), sa) : null, ctx.needsInputGrad[2] ? sumToShape(pick(false), sb) : null];
  },
});

/** `condition ? a : b` elementwise with broadcasting over all three (a and b promoted); condition is a bool Tensor. */
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const c = checkTensor('where', 'condition', condition, ['bool']);
  const [A, B] = promoted('where', a, b);
  const s1 = broadcastShapes('where', 'a', c.shape, A.shape);
  broadcastShapes('where', 'b', s1, B.shape);
  // A 0-dim cpu operand (a number made a tensor) moves to a cuda condition's device, as in binary ops.
  const on = (t: Tensor, name: string): Tensor => {
    if (t.device === c.device) return t;
    if (c.device === 'cuda' && t.ndim === 0) return toCuda(t);
    throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${c.device}' (the device of condition)`, `where(${name})`, `a Tensor on '${t.device}'`);
  };
  return WhereFn(c, on(A, 'a'), on(B, 'b'));
}

// ---- unary ----------------------------------------------------------------------------------

/**
 * A unary op from two loops: forward(x, y) fills y; backward(g, x, y, gx) fills gx. `save` says
 * whether backward reads the input, the output, or both (save exactly what it needs).
 */
function unary(
  name: string,
  save: 'x' | 'y' | 'xy',
  fwd: (x: Arr, y: Arr, n: number) => void,
  bwd: (g: Arr, x: Arr | null, y: Arr | null, gx: Arr, n: number) => void,
) {
  const op = name.charAt(0).toLowerCase() + name.slice(1);
  // The native tensor core runs both directions (same formulas; these loops are the reference).
  const nop = (op in nc.UnaryOp ? op : null) as nc.UnaryOpName | null;
  const Fn = defineFunction({
    name,
    forward(ctx, x: Tensor) {
      const y = new Tensor(nc.outArray(x.dtype, x.numel(), x.device), x.shape);
      if (nop === null || !nc.unary(nop, x.data, y.data)) fwd(x.data, y.data, x.data.length);
      ctx.save(save.includes('x') ? x : null, save.includes('y') ? y : null);
      return y;
    },
    backward(ctx, g) {
      const [x, y] = ctx.saved;
      const gx = new Tensor(nc.outArray(g.dtype, g.numel(), g.device), g.shape);
      const s = x ? x.data : y ? y.data : null;
      if (nop === null || !nc.unaryBackward(nop, g.data, s, gx.data)) bwd(g.data, x ? x.data : null, y ? y.data : null, gx.data, g.data.length);
      return [gx];
    },
  });
  return (x: Tensor): Tensor => Fn(checkFloat(op, 'x', x));
}

export const neg = unary('Neg', 'x', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = -x[i]; },
  (g, _x, _y, gx, n) => { for (let i = 0; i < n; i++) gx[i] = -g[i]; });
export const exp = unary('Exp', 'y', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.exp(x[i]); },
  (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = g[i] * Y[i]; });
export const log = unary('Log', 'x', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.log(x[i]); },
  (g, x, _y, gx, n) => { const X = x as Arr; for (let i = 0; i < n; i++) gx[i] = g[i] / X[i]; });
export const sqrt = unary('Sqrt', 'y', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.sqrt(x[i]); },
  (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = (0.5 * g[i]) / Y[i]; });
export const rsqrt = unary('Rsqrt', 'y', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = 1 / Math.sqrt(x[i]); },
  (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = -0.5 * g[i] * Y[i] * Y[i] * Y[i]; });
export const square = unary('Square', 'x', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = x[i] * x[i]; },
  (g, x, _y, gx, n) => { const X = x as Arr; for (let i = 0; i < n; i++) gx[i] = 2 * g[i] * X[i]; });
/** |x|; gradient sign(x), 0 at 0 (PyTorch). */
export const abs = unary('Abs', 'x', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.abs(x[i]); },
  (g, x, _y, gx, n) => { const X = x as Arr; for (let i = 0; i < n; i++) gx[i] = X[i] > 0 ? g[i] : X[i] < 0 ? -g[i] : 0; });
export const relu = unary('Relu', 'y', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0; },
  (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = Y[i] > 0 ? g[i] : 0; });
/** Logistic function, evaluated without overflow on both tails. */
export const sigmoid = unary('Sigmoid', 'y', (x, y, n) => {
  for (let i = 0; i < n; i++) { const v = x[i]; if (v >= 0) y[i] = 1 / (1 + Math.exp(-v)); else { const e = Math.exp(v); y[i] = e / (1 + e); } }
}, (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = g[i] * Y[i] * (1 - Y[i]); });
export const tanh = unary('Tanh', 'y', (x, y, n) => { for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]); },
  (g, _x, y, gx, n) => { const Y = y as Arr; for (let i = 0; i < n; i++) gx[i] = g[i] * (1 - Y[i] * Y[i]); });
/** x * sigmoid(x) (a.k.a. swish); on 'cuda' that product of device ops, differentiated through both. */
export function silu(x: Tensor): Tensor {
  if (x instanceof Tensor && x.device === 'cuda') return mul(checkFloat('silu', 'x', x), sigmoid(x));
  return siluHost(x);
}
const siluHost = unary('Silu', 'x', (x, y, n) => {
  for (let i = 0; i < n; i++) { const v = x[i]; y[i] = v >= 0 ? v / (1 + Math.exp(-v)) : (v * Math.exp(v)) / (1 + Math.exp(v)); }
}, (g, x, _y, gx, n) => {
  const X = x as Arr;
  for (let i = 0; i < n; i++) { const v = X[i]; const s = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)); gx[i] = g[i] * s * (1 + v * (1 - s)); }
});

export { erf };

/**
 * Phi(x) for float32 tensors, the native kernel's formula: the lower tail Phi(-a) = phi(a) m(a)
 * (a = |x|, clamped at 40) with the Mills ratio m(a) = t q(u), t = 3 / (3 + a), u = 2t - 1 (the
 * t-substitution of Schonfelder, Math. Comp. 32 (1978)); q is a degree-12 Chebyshev least-squares fit,
 * relative error 1.1e-9, so Phi keeps float32's relative accuracy where it is tiny (1 + erf cancels
 * there). Returns phi(x) in normalPdf32 too, for the gradient.
 */
let normalPdf32 = 0;
function normalCdf32(v: number): number {
  const a = Math.min(Math.abs(v), 40), t = 3 / (3 + a), u = 2 * t - 1;
  const q = 0.24302789681195067 + u * (0.16977732809340584 + u * (0.07667256331850258 + u * (0.015754321494273846 + u * (-0.003487459577054656 + u * (-0.0023240676206073177 + u * (0.00034153201639710765 + u * (0.0003482589983820903 + u * (-8.257843037486184e-5 + u * (-5.1288778147162816e-5 + u * (2.173031274996278e-5 + u * (5.067827613497715e-6 + u * -3.3044777793021356e-6)))))))))));
  const e = Math.exp(-0.5 * a * a);
  normalPdf32 = 0.3989422804014327 * e;
  const tail = e * t * q;
  return v > 0 ? 1 - tail : v !== v ? v : tail;
}

// One loop per dtype: a loop that sees both Float32Array and Float64Array goes polymorphic in V8.
// x Phi(x); x clamped at -40 (Phi = 0 there) so -Infinity gives -0, not NaN.
function geluFwd32(x: Float32Array, y: Float32Array): void {
  for (let i = 0, n = x.length; i < n; i++) { const v = x[i]; y[i] = Math.max(v, -40) * normalCdf32(v); }
}
// float64: the reference kernel (Phi through erfc; 1 + erf cancels on the lower tail).
function geluFwd64(x: Float64Array, y: Float64Array): void {
  kgelu(x, [x.length], { out: y });
}
// d/dx x Phi(x) = Phi(x) + x phi(x)
function geluBwd32(g: Float32Array, x: Float32Array, gx: Float32Array): void {
  for (let i = 0, n = x.length; i < n; i++) {
    const v = x[i], cdf = normalCdf32(v);
    gx[i] = g[i] * (cdf + Math.min(Math.max(v, -40), 40) * normalPdf32);
  }
}
function geluBwd64(g: Float64Array, x: Float64Array, gx: Float64Array): void {
  kgeluBackward(g, x, [x.length], { out: gx });
}

// Native backend: one multithreaded SIMD kernel each way (native/ops/pointwise); the loops above
// are the reference backend's.
const GeluFn = defineFunction({
  name: 'Gelu',
  forward(ctx, x: Tensor, tanhForm: boolean) {
    ctx.save(x);
    ctx.tanhForm = tanhForm;
    if (x.device === 'cuda') { // native/ops/pointwise/cuda.cu (float32)
      const y = emptyLike(x);
      nc.geluDevice(x.data, y.data, tanhForm ? 1 : 0);
      return y;
    }
    if (!useReference()) {
      const d = x.data as Float32Array | Float64Array;
      return new Tensor(kgelu(d, [d.length], { approximate: tanhForm ? 'tanh' : 'none' }), x.shape);
    }
    const y = emptyLike(x);
    if (tanhForm) geluTanhFwd(x.data, y.data, x.numel());
    else if (x.dtype === 'float32') geluFwd32(x.data as Float32Array, y.data as Float32Array);
    else geluFwd64(x.data as Float64Array, y.data as Float64Array);
    return y;
  },
  backward(ctx, g) {
    const [x] = ctx.saved;
    const tanhForm: boolean = ctx.tanhForm;
    if (g.device === 'cuda') {
      const gx = emptyLike(g);
      nc.geluBackwardDevice(g.data, x.data, gx.data, tanhForm ? 1 : 0);
      return [gx];
    }
    if (!useReference()) {
      const d = x.data as Float32Array | Float64Array;
      return [new Tensor(kgeluBackward(g.data as typeof d, d, [d.length], { approximate: tanhForm ? 'tanh' : 'none' }).dx, g.shape)];
    }
    const gx = emptyLike(g);
    if (tanhForm) geluTanhBwd(g.data, x.data, gx.data, x.numel());
    else if (g.dtype === 'float32') geluBwd32(g.data as Float32Array, x.data as Float32Array, gx.data as Float32Array);
    else geluBwd64(g.data as Float64Array, x.data as Float64Array, gx.data as Float64Array);
    return [gx];
  },
});
const K_TANH = 0.7978845608028654; // sqrt(2/pi)
function geluTanhFwd(x: Arr, y: Arr, n: number): void {
  for (let i = 0; i < n; i++) { const v = x[i]; y[i] = 0.5 * v * (1 + Math.tanh(K_TANH * (v + 0.044715 * v * v * v))); }
}
function geluTanhBwd(g: Arr, x: Arr, gx: Arr, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i], t = Math.tanh(K_TANH * (v + 0.044715 * v * v * v));
    gx[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K_TANH * (1 + 3 * 0.044715 * v * v));
  }
}

/** GELU: exact x*Phi(x) ('none', PyTorch's default) or the tanh approximation ('tanh'). */
export function gelu(x: Tensor, options?: { approximate?: 'none' | 'tanh' }): Tensor {
  const o = opts<{ approximate: 'none' | 'tanh' }>('gelu', options, ['approximate']);
  const mode = optEnum('gelu', 'options.approximate', o.approximate, ['none', 'tanh'] as const, 'none');
  checkFloat('gelu', 'x', x);
  checkCudaFloat32('gelu', 'x', x);
  return GeluFn(x, mode === 'tanh');
}

const ClampFn = defineFunction({
  name: 'Clamp',
  forward(ctx, x: Tensor, lo: number, hi: number) {
    const y = emptyLike(x), xd = x.data, yd = y.data;
    if (!nc.unary('clamp', xd, yd, lo, hi)) for (let i = 0; i < xd.length; i++) { const v = xd[i]; yd[i] = v < lo ? lo : v > hi ? hi : v; }
    ctx.save(x);
    ctx.lo = lo;
    ctx.hi = hi;
    return y;
  },
  backward(ctx, g) {
    const [x] = ctx.saved;
    const lo: number = ctx.lo, hi: number = ctx.hi;
    const gx = emptyLike(g), xd = x.data;
    // PyTorch passes the gradient where lo <= x <= hi (inclusive bounds).
    if (!nc.unaryBackward('clamp', g.data, xd, gx.data, lo, hi)) for (let i = 0; i < xd.length; i++) gx.data[i] = xd[i] >= lo && xd[i] <= hi ? g.data[i] : 0;
    return [gx];
  },
});

/** Clamps into [min, max]; either bound may be null/undefined (not both). */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  checkFloat('clamp', 'x', x);
  if (min !== undefined && min !== null && typeof min !== 'number') throw typeError('a number or null', 'clamp(min)', min);
  if (max !== undefined && max !== null && typeof max !== 'number') throw typeError('a number or null', 'clamp(max)', max);
  const lo = min ?? -Infinity, hi = max ?? Infinity;
  if ((min === undefined || min === null) && (max === undefined || max === null)) throw typeError('at least one of min and max', 'clamp(min)', min);
  return ClampFn(x, lo, hi);
}

export { FLOATS };
