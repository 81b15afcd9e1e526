// Version counters (PyTorch's _version) and the in-place arithmetic that bumps them: a tensor
// saved for backward and then written in place makes backward throw instead of returning a wrong
// gradient; optimizer steps count as in-place writes.
import { describe, expect, it } from 'vitest';
import { noGrad, randn, tensor, optim } from '../lib';

const grammar = /^Expected saved tensor \d+ of \w+Backward .* at version \d+ but received version \d+/;

describe('version counters', () => {
  it('fill_ on a tensor saved by Mul makes backward throw (it gave x.grad = [0, 0] silently before)', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    const y = x.mul(1), z = y.mul(y);
    expect(() => y.fill_(0)).toThrow(/for fill_\(this\)/); // y is in the graph: refused outright
    noGrad(() => y.fill_(0)); // forced past that guard, the version counter still catches it
    expect(() => z.sum().backward()).toThrow(grammar);
  });
  it('an optimizer step between forward and backward makes backward throw', () => {
    const w = randn([3, 2], { seed: 1, requiresGrad: true });
    // x requires grad, so MatMul saves w (dx = g w^T).
    const loss = randn([4, 3], { seed: 2, requiresGrad: true }).matmul(w).sum();
    w.grad = randn([3, 2], { seed: 3 });
    new optim.SGD([w], { lr: 0.1 }).step();
    expect(() => loss.backward()).toThrow(grammar);
  });
  it('in-place writes to tensors no backward needs are fine, and views share the counter', () => {
    const x = tensor([1, 2, 3, 4], null, { requiresGrad: true });
    const y = x.mul(2);
    const s = y.sum(); // Sum saves nothing
    y.detach().add_(1); // same storage, outside the graph
    s.backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 2, 2, 2]);
    const t = tensor([1, 2, 3, 4]);
    const v = t.reshape([2, 2]);
    expect(t.version).toBe(0);
    v.mul_(3);
    expect(t.version).toBe(1);
    expect(Array.from(t.data)).toEqual([3, 6, 9, 12]);
  });
});

describe('in-place arithmetic', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`add_ / sub_ / mul_ / div_ broadcast into the tensor's shape (${dtype})`, () => {
      const t = tensor([[1, 2, 3], [4, 5, 6]], null, { dtype });
      t.add_(tensor([10, 20, 30], null, { dtype }));
      expect(Array.from(t.data)).toEqual([11, 22, 33, 14, 25, 36]);
      t.sub_(tensor([[1], [2]], null, { dtype }), 2);
      expect(Array.from(t.data)).toEqual([9, 20, 31, 10, 21, 32]);
      t.mul_(2).div_(4);
      expect(Array.from(t.data)).toEqual([4.5, 10, 15.5, 5, 10.5, 16]);
      expect(t.version).toBe(4);
    });
  }
  it('lerp_ is the EMA update target + w (online - target)', () => {
    const target = tensor([0, 10, -4]), online = tensor([1, 0, 4]);
    target.lerp_(online, 0.25);
    expect(Array.from(target.data)).toEqual([0.25, 7.5, -2]);
  });
  it('errors: a shape that would grow the tensor, a leaf that requires grad outside noGrad', () => {
    const t = tensor([1, 2, 3]);
    expect(() => t.add_(tensor([[1, 2, 3], [4, 5, 6]]))).toThrow(/^Expected a shape that broadcasts to \[3\] .* for add_\(other\) but received \[2, 3\]/);
    const w = tensor([1, 2], null, { requiresGrad: true });
    expect(() => w.add_(1)).toThrow(/^Expected .* for add_\(this\) but received a leaf tensor that requires grad/);
    noGrad(() => w.add_(1));
    expect(Array.from(w.data)).toEqual([2, 3]);
  });
});

describe('in-place ops and the graph', () => {
  it('refuses an in-place op on a tensor computed by a recorded op (its graph would not see the write)', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.mul_(3)).toThrow(/^Expected a tensor that does not require grad.* for mul_\(this\) but received a tensor computed by MulBackward/);
    expect(() => y.fill_(0)).toThrow(/for fill_\(this\)/);
    y.detach().mul_(3); // a detached view is fine (and bumps the shared version)
    expect(() => y.sum().backward()).not.toThrow(); // Mul saved x, not y
    expect(Array.from(x.grad!.data)).toEqual([2, 2]);
  });
});
