/**
 * Type promotion of the binary elementwise ops across float32 / float64 / int32 / bool, against
 * PyTorch's rules (torch.result_type; int64 there is int32 here): result dtypes, values against a
 * float64 computation, gradients of mixed-precision operands, and the cases PyTorch refuses.
 */
import { describe, expect, it } from 'vitest';
import {
  add, div, eq, gradcheck, gt, maximum, minimum, mul, pow, promoteTypes, resultType, sub, tensor, where, type DType,
} from '../lib/index';
import { expectThrows } from './helpers';

const t = (values: number[], dtype: DType, shape: number[] = [values.length]) => tensor(values, shape, { dtype });

describe('resultType (torch.result_type)', () => {
  it('promotes tensors with dims by category, then by size', () => {
    // torch.promote_types over the four dtypes, in both argument orders.
    const table: Array<[DType, DType, DType]> = [
      ['bool', 'bool', 'bool'], ['bool', 'int32', 'int32'], ['bool', 'float32', 'float32'], ['bool', 'float64', 'float64'],
      ['int32', 'int32', 'int32'], ['int32', 'float32', 'float32'], ['int32', 'float64', 'float64'],
      ['float32', 'float32', 'float32'], ['float32', 'float64', 'float64'], ['float64', 'float64', 'float64'],
    ];
    for (const [a, b, want] of table) {
      expect(promoteTypes(a, b), `${a}, ${b}`).toBe(want);
      expect(promoteTypes(b, a), `${b}, ${a}`).toBe(want);
      expect(resultType(t([1], a), t([1], b)), `[1] ${a} with [1] ${b}`).toBe(want);
    }
  });

  it('lets 0-dim tensors and numbers raise the category only (as PyTorch)', () => {
    const zero = (v: number, d: DType) => tensor(v, null, { dtype: d });
    expect(resultType(t([1], 'float32'), zero(1, 'float64'))).toBe('float32'); // same category: the dims win
    expect(resultType(t([1], 'int32'), zero(1.5, 'float64'))).toBe('float64'); // higher category: its dtype
    expect(resultType(t([1], 'bool'), zero(1, 'int32'))).toBe('int32');
    expect(resultType(zero(1, 'float32'), zero(1, 'float64'))).toBe('float64'); // both 0-dim: plain promotion
    expect(resultType(t([1], 'float32'), 2.5)).toBe('float32');
    expect(resultType(t([1], 'float64'), 2.5)).toBe('float64');
    expect(resultType(t([1], 'int32'), 3)).toBe('int32');
    expect(resultType(t([1], 'int32'), 0.5)).toBe('float32'); // a float number: the default float dtype
    expect(resultType(t([1], 'bool'), 3)).toBe('int32');
    expect(resultType(t([1], 'bool'), 0.5)).toBe('float32');
    expect(resultType(zero(1, 'int32'), 0.5)).toBe('float32');
    expect(resultType(zero(1, 'float64'), 0.5)).toBe('float64');
  });
});

describe('binary ops on promoted operands', () => {
  it('compute float32 x float64 in float64, and int32 with floats in the float dtype', () => {
    const a = t([0.1, -2.5, 3], 'float32'), b = t([1e-9, 4, -0.5], 'float64');
    const s = add(a, b);
    expect(s.dtype).toBe('float64');
    // The float32 operand is widened exactly, then added in float64.
    expect(Array.from(s.data)).toEqual([Math.fround(0.1) + 1e-9, 1.5, 2.5]);
    const i = t([1, -2, 7], 'int32');
    const m = mul(i, t([0.5, 0.25, 2], 'float32'));
    expect(m.dtype).toBe('float32');
    expect(Array.from(m.data)).toEqual([0.5, -0.5, 14]);
    expect(sub(i, 0.5).dtype).toBe('float32');
    expect(Array.from(sub(i, 0.5).data)).toEqual([0.5, -2.5, 6.5]);
    expect(maximum(i, t([0, 0, 10], 'float64')).dtype).toBe('float64');
    expect(Array.from(minimum(t([true, false, true].map(Number), 'bool'), i).data)).toEqual([1, -2, 1]);
  });

  it('keeps integer arithmetic in int32 (wrapping like PyTorch), with true division to float32', () => {
    const i = t([7, -7, 2147483647], 'int32');
    const j = t([2, 2, 2], 'int32');
    expect(add(i, j).dtype).toBe('int32');
    expect(Array.from(add(i, j).data)).toEqual([9, -5, -2147483647]); // 2^31 - 1 + 2 wraps
    expect(Array.from(mul(i, j).data)).toEqual([14, -14, -2]);
    expect(Array.from(mul(t([65537], 'int32'), t([65537], 'int32')).data)).toEqual([131073]); // exact wrap of 2^32 + 2^17 + 1
    expect(Array.from(mul(i, 3).data)).toEqual([21, -21, 2147483645]);
    const q = div(i, j);
    expect(q.dtype).toBe('float32');
    expect(Array.from(q.data)).toEqual([3.5, -3.5, Math.fround(2147483647 / 2)]);
    expect(Array.from(pow(t([2, 3, -2], 'int32'), 3).data)).toEqual([8, 27, -8]);
    expect(pow(t([2], 'int32'), 0.5).dtype).toBe('float32');
  });

  it('treats bool + bool as or, bool * bool as and, and refuses bool - bool and bool ** bool (as PyTorch)', () => {
    const p = t([1, 1, 0, 0], 'bool'), q = t([1, 0, 1, 0], 'bool');
    expect(add(p, q).dtype).toBe('bool');
    expect(Array.from(add(p, q).data)).toEqual([1, 1, 1, 0]);
    expect(Array.from(mul(p, q).data)).toEqual([1, 0, 0, 0]);
    expect(Array.from(maximum(p, q).data)).toEqual([1, 1, 1, 0]);
    expect(Array.from(add(p, 2).data)).toEqual([3, 3, 2, 2]); // bool + int number: int32
    expect(Array.from(div(p, 2).data)).toEqual([0.5, 0.5, 0, 0]);
    expectThrows(() => sub(p, q), TypeError, /sub of two bool tensors is not defined.* for sub\(b\)/);
    expectThrows(() => pow(p, q), TypeError, /for pow\(b\)/);
    expectThrows(() => pow(t([2], 'int32'), -1), RangeError, /non-negative exponents .* for pow\(exponent\) but received -1/);
    expectThrows(() => add(t([1], 'int32'), 2 ** 31), RangeError, /Expected an int32 value \(the result dtype\) for add\(b\)/);
  });

  it('compare across dtypes in the promoted dtype; where promotes its two values', () => {
    const f32 = t([0.1, 1, 3], 'float32'), f64 = t([0.1, 1, 2], 'float64');
    expect(Array.from(eq(f32, f64).data)).toEqual([0, 1, 0]); // float32(0.1) != float64(0.1), as in PyTorch
    expect(Array.from(gt(t([1, 2, 3], 'int32'), 1.5).data)).toEqual([0, 1, 1]);
    expect(Array.from(eq(t([1, 0], 'bool'), t([1, 1], 'int32')).data)).toEqual([1, 0]);
    const w = where(t([1, 0, 1], 'bool'), t([1, 2, 3], 'int32'), 0.5);
    expect(w.dtype).toBe('float32');
    expect(Array.from(w.data)).toEqual([1, 0.5, 3]);
    expect(where(t([1, 0], 'bool'), t([1, 2], 'int32'), t([5, 6], 'int32')).dtype).toBe('int32');
  });

  it('gives each operand a gradient of its own dtype that matches the float64 computation', () => {
    const a32 = tensor([0.5, -1.25, 2], null, { dtype: 'float32', requiresGrad: true });
    const b64 = tensor([[1.5, -0.5, 0.25], [2, 1, -3]], null, { dtype: 'float64', requiresGrad: true });
    const y = mul(add(a32, b64), b64).sum(); // float64
    expect(y.dtype).toBe('float64');
    y.backward();
    expect(a32.grad!.dtype).toBe('float32');
    expect(b64.grad!.dtype).toBe('float64');
    // d/da sum((a + b) b) = sum over rows of b; d/db = a + 2b.
    expect(Array.from(a32.grad!.data)).toEqual([3.5, 0.5, -2.75]);
    const a = [0.5, -1.25, 2];
    expect(Array.from(b64.grad!.data)).toEqual([1.5, -0.5, 0.25, 2, 1, -3].map((b, i) => a[i % 3] + 2 * b));
    // Mixed-precision ops pass gradcheck on the float64 leaf (the float32 operand is a constant).
    const c = tensor([0.3, 0.7, -0.2], null, { dtype: 'float32' });
    const x = tensor([0.9, 0.4, 1.1], null, { dtype: 'float64', requiresGrad: true });
    gradcheck(() => div(pow(x, c), maximum(c, x)), [x]);
  });

  it('casts any dtype into the tensor for the in-place ops (lerp_ stays strict, as PyTorch)', () => {
    const x = t([1, 2, 3], 'float32');
    // A float64 other: computed in double, rounded once into float32 (PyTorch's cast of its float64 result).
    x.add_(t([1e-9, 0.1, -0.5], 'float64'));
    expect(Array.from(x.data)).toEqual([Math.fround(1 + 1e-9), Math.fround(2 + 0.1), 2.5]);
    x.mul_(t([2, 3, 4], 'int32'));
    expect(Array.from(x.data)).toEqual([Math.fround(1 + 1e-9) * 2, Math.fround(Math.fround(2.1) * 3), 10]);
    x.sub_(t([1, 0, 1], 'bool'), 2);
    expect(x.data[2]).toBe(8);
    expect(x.dtype).toBe('float32');
    const y = t([0.5, 0.25], 'float64');
    y.div_(t([0.1, 3], 'float32'));
    expect(Array.from(y.data)).toEqual([0.5 / Math.fround(0.1), 0.25 / 3]);
    expectThrows(() => t([1], 'float32').lerp_(t([1], 'float64'), 0.5), Error, /for lerp_\(b\)/);
    expectThrows(() => t([1], 'int32').add_(1), TypeError, /for add_\(this\)/);
  });
});
