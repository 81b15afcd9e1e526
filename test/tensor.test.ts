import { describe, expect, it } from 'vitest';
import {
  F, SelfsupError, Tensor, arange, full, manualSeed, ones, rand, randn, tensor, zeros, DEFAULT_SEED,
} from '../lib/index';
import { normalFloat32 } from '../lib/random';
import { isAvailable } from '../lib/cuda';

const cudaUsable = isAvailable();

describe('factories', () => {
  it('tensor() from nested arrays, flat arrays, scalars and booleans', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe('float32');
    expect(a.ndim).toBe(2);
    expect(a.numel()).toBe(6);
    expect(a.toArray()).toBeInstanceOf(Float32Array);
    expect(a.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(tensor([1, 2, 3, 4], [2, 2]).shape).toEqual([2, 2]);
    const s = tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.toArray().length).toBe(1);
    expect(s.item()).toBe(3.5);
    const m = tensor([true, false], [2], { dtype: 'bool' });
    expect(m.dtype).toBe('bool');
    expect(m.toArray()).toBeInstanceOf(Uint8Array);
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(tensor([1, 2], null, { dtype: 'int32' }).toArray()).toBeInstanceOf(Int32Array);
    expect(tensor([]).shape).toEqual([0]);
  });

  it('uses a matching typed array zero-copy and converts otherwise', () => {
    const d = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor(d, [2, 3], { requiresGrad: true });
    expect(t.data).toBe(d);
    expect(t.requiresGrad).toBe(true);
    const u = tensor(d, [6], { dtype: 'float64' });
    expect(u.data).not.toBe(d);
    expect(Array.from(u.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor(new Float64Array(2)).dtype).toBe('float64');
  });

  it('rejects bad input naming the argument', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/for tensor\(data\)\[1\]/);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/Expected data of 4 elements for shape \[2, 2\] for tensor\(data\) but received 3 elements/);
    expect(() => tensor([1.5], null, { dtype: 'int32' })).toThrow(RangeError);
    expect(() => tensor([1], null, { dtype: 'float16' as never })).toThrow(/'float32' \| 'float64' \| 'int32' \| 'bool' for tensor\(options.dtype\) but received "float16"/);
    expect(() => tensor('abc' as never)).toThrow(TypeError);
    expect(() => zeros([2, -1])).toThrow(/Expected a non-negative integer for zeros\(shape\)\[1\] but received -1/);
    expect(() => zeros(3 as never)).toThrow(TypeError);
  });

  it.skipIf(cudaUsable)('cuda tensors throw ERR_NO_DEVICE with the reason when no CUDA device is usable', () => {
    let err: unknown;
    try {
      zeros([2], { device: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelfsupError);
    expect((err as SelfsupError).code).toBe('ERR_NO_DEVICE');
    expect((err as Error).message).toMatch(/no CUDA device is usable \(.+\)/);
    expect(() => tensor([1]).to('cuda')).toThrow(SelfsupError);
    expect(zeros([1]).device).toBe('cpu');
  });

  it('zeros, ones, full, arange', () => {
    expect(Array.from(zeros([2, 2]).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(ones([3], { dtype: 'float64' }).data)).toEqual([1, 1, 1]);
    expect(Array.from(full([2], 7, { dtype: 'int32' }).data)).toEqual([7, 7]);
    expect(Array.from(arange(5).data)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(arange(1, 2, 0.25, { dtype: 'float64' }).data)).toEqual([1, 1.25, 1.5, 1.75]);
    expect(() => arange(0, 1, 0)).toThrow(/for arange\(step\)/);
  });

  it('randn/rand are seeded Philox draws; float64 widens float32; unseeded calls are reproducible', () => {
    const a = randn([2, 3], { seed: 42 });
    expect(Array.from(a.data)).toEqual(Array.from(normalFloat32(42, 0, 0, 6)));
    const b = randn([2, 3], { seed: 42, dtype: 'float64' });
    expect(b.dtype).toBe('float64');
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    const u = rand([1000], { seed: 1 });
    expect(Math.min(...u.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u.data)).toBeLessThan(1);
    manualSeed(7);
    const x1 = randn([4]), x2 = randn([4]);
    manualSeed(7);
    expect(Array.from(randn([4]).data)).toEqual(Array.from(x1.data));
    expect(Array.from(randn([4]).data)).toEqual(Array.from(x2.data));
    expect(Array.from(x1.data)).not.toEqual(Array.from(x2.data));
    manualSeed(DEFAULT_SEED);
    expect(() => randn([2], { seed: -1 })).toThrow(/for randn\(options.seed\)/);
    expect(() => randn([2], { dtype: 'int32' as never })).toThrow(TypeError);
  });
});

describe('printing', () => {
  it('prints like PyTorch', () => {
    expect(String(tensor(3.5))).toBe('tensor(3.5000)');
    expect(String(tensor([1, 2, 3]))).toBe('tensor([1., 2., 3.])');
    expect(String(tensor([[0.1234, -1.2], [0.5, 2]]))).toBe('tensor([[ 0.1234, -1.2000],\n        [ 0.5000,  2.0000]])');
    expect(String(tensor([1, 2], null, { dtype: 'float64' }))).toBe('tensor([1., 2.], dtype=torch.float64)');
    expect(String(tensor([1, 2], null, { dtype: 'int32' }))).toBe('tensor([1, 2], dtype=torch.int32)');
    expect(String(tensor([true, false]))).toBe('tensor([ True, False])');
    expect(String(tensor([1.5], null, { requiresGrad: true }))).toBe('tensor([1.5000], requires_grad=True)');
    expect(String(tensor([1.5], null, { requiresGrad: true }).mul(2))).toBe('tensor([3.], grad_fn=<MulBackward>)');
    expect(String(zeros([0, 3]))).toBe('tensor([], size=(0, 3))');
    expect(String(zeros([0]))).toBe('tensor([])');
    expect(String(tensor([1e-5, 1]))).toBe('tensor([1.0000e-05, 1.0000e+00])');
  });

  it('summarizes large tensors with ...', () => {
    const s = String(arange(2000));
    expect(s).toBe('tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])');
    expect(String(arange(1001, 2002))).toBe('tensor([1001., 1002., 1003.,  ..., 1999., 2000., 2001.])');
    const m = String(zeros([100, 100]));
    expect(m.split('\n').length).toBe(7);
    expect(m).toContain('...');
  });
});

describe('shape ops and views', () => {
  it('reshape/view share data, infer -1, and name the argument in errors', () => {
    const x = arange(12);
    const y = x.reshape(3, -1);
    expect(y.shape).toEqual([3, 4]);
    expect(y.data).toBe(x.data);
    expect(x.view([2, 2, 3]).data).toBe(x.data);
    expect(x.reshape([4, 3]).shape).toEqual([4, 3]);
    expect(x.flatten().data).toBe(x.data);
    expect(x.reshape(1, 12, 1).squeeze().shape).toEqual([12]);
    expect(x.unsqueeze(-1).shape).toEqual([12, 1]);
    expect(() => x.reshape(5, -1)).toThrow(/for reshape\(shape\) but received \[5, -1\]/);
    expect(() => x.view(5, 2)).toThrow(/for view\(shape\)/);
    expect(() => x.unsqueeze(3)).toThrow(/Expected an integer in \[-2, 1\] for unsqueeze\(dim\) but received 3/);
  });

  it('transpose, permute, expand, slice and contiguous', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.transpose(0, 1).tolist()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(x.t().tolist()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(x.permute(1, 0).shape).toEqual([3, 2]);
    expect(x.contiguous()).toBe(x);
    expect(tensor([1, 2]).expand(2, 2).tolist()).toEqual([[1, 2], [1, 2]]);
    expect(x.slice(1, 1).tolist()).toEqual([[2, 3], [5, 6]]);
    expect(x.narrow(0, 1, 1).tolist()).toEqual([[4, 5, 6]]);
    expect(x.chunk(3, 1).map((c) => c.shape)).toEqual([[2, 1], [2, 1], [2, 1]]);
    expect(() => x.item()).toThrow(/for item\(\)/);
  });

  it('to(dtype) converts and stays differentiable between float dtypes', () => {
    const x = tensor([1.7, -2.5], null, { requiresGrad: true });
    const y = x.to('float64');
    expect(y.dtype).toBe('float64');
    y.mul(y).sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.data[0]).toBeCloseTo(3.4, 5);
    expect(Array.from(x.to('int32').data)).toEqual([1, -2]);
    expect(Array.from(tensor([0, 2]).to('bool').data)).toEqual([0, 1]);
  });
});

describe('method chaining', () => {
  it('x.matmul(w).relu().sub(y).pow(2).mean() trains a step', () => {
    const x = randn([8, 5], { seed: 1 });
    const w = randn([5, 3], { seed: 2, requiresGrad: true });
    const y = randn([8, 3], { seed: 3 });
    const loss = x.matmul(w).relu().sub(y).pow(2).mean();
    expect(loss.shape).toEqual([]);
    loss.backward();
    expect(w.grad!.shape).toEqual([5, 3]);
    expect(x.sum(1, true).shape).toEqual([8, 1]);
    expect(x.logSoftmax(-1).exp().sum(-1).toArray().every((v) => Math.abs(v - 1) < 1e-5)).toBe(true);
    const { values, indices } = x.max(1);
    expect(values.shape).toEqual([8]);
    expect(indices.dtype).toBe('int32');
    expect(F.crossEntropy(x, indices).item()).toBeGreaterThan(0);
    expect(x.var(0).shape).toEqual([5]);
    expect(x.std(null, { unbiased: false }).shape).toEqual([]);
    expect(x.norm().item()).toBeGreaterThan(0);
    expect(x).toBeInstanceOf(Tensor);
  });
});
