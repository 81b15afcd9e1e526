import { describe, expect, it } from 'vitest';
import {
  F, Function, FunctionCtx, SelfsupError, Tensor, backward, defineFunction, enableGrad, grad, gradcheck, isGradEnabled, noGrad, randn, tensor, zeros,
} from '../lib/index';

const f64 = (shape: number[], seed: number) => randn(shape, { seed, dtype: 'float64', requiresGrad: true });

describe('engine', () => {
  it('computes gradients of a small graph and accumulates across backward calls', () => {
    const x = tensor([1, 2, 3], null, { requiresGrad: true });
    const y = x.mul(x).sum(); // dy/dx = 2x
    y.backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 4, 6]);
    x.mul(3).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([5, 7, 9]);
    expect(x.grad!.requiresGrad).toBe(false);
  });

  it('sums gradients over every path (diamond graph)', () => {
    const x = tensor([2], null, { dtype: 'float64', requiresGrad: true });
    const a = x.exp();
    const y = a.mul(a).add(a.mul(x)); // e^2x + x e^x
    y.backward();
    const v = 2;
    expect(x.grad!.item()).toBeCloseTo(2 * Math.exp(2 * v) + Math.exp(v) + v * Math.exp(v), 10);
  });

  it('refuses a second backward without retainGraph, allows it with', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.data[0]).toBeCloseTo(2 * Math.E, 5);
    let err: unknown;
    try {
      y.backward();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelfsupError);
    expect((err as SelfsupError).code).toBe('ERR_AUTOGRAD');
    expect((err as Error).message).toMatch(/retainGraph: true/);
  });

  it('requires a gradient for non-scalar outputs', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/Expected a grad tensor of shape \[2\].* for backward\(grad\) but received undefined/);
    expect(() => y.backward(zeros([3]))).toThrow(SelfsupError);
    y.backward(tensor([1, 10]));
    expect(Array.from(x.grad!.data)).toEqual([2, 20]);
  });

  it('refuses backward on a tensor that does not require grad', () => {
    expect(() => tensor([1]).backward()).toThrow(/requires grad.*for backward\(this\)/);
  });

  it('reduces gradients over broadcast dims', () => {
    const a = tensor([[1], [2], [3]], null, { requiresGrad: true }); // [3, 1]
    const b = tensor([1, 2, 3, 4], null, { requiresGrad: true }); // [4]
    a.mul(b).sum().backward();
    expect(a.grad!.shape).toEqual([3, 1]);
    expect(Array.from(a.grad!.data)).toEqual([10, 10, 10]);
    expect(Array.from(b.grad!.data)).toEqual([6, 6, 6, 6]);
    const s = tensor(2, null, { requiresGrad: true });
    s.mul(tensor([[1, 2], [3, 4]])).sum().backward();
    expect(s.grad!.shape).toEqual([]);
    expect(s.grad!.item()).toBe(10);
  });

  it('noGrad / enableGrad / isGradEnabled', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      const inner = enableGrad(() => x.mul(2));
      expect(inner.requiresGrad).toBe(true);
      return x.mul(2);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(() => noGrad(() => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('detach shares data and cuts the graph', () => {
    const x = tensor([1, 2], null, { requiresGrad: true });
    const d = x.mul(2).detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    const y = x.mul(d).sum();
    y.backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 4]); // d is a constant
    const v = x.detach();
    expect(v.data).toBe(x.data);
  });

  it('grad() returns gradients without touching .grad', () => {
    const x = f64([3], 1);
    const h = x.tanh();
    const y = h.mul(h).sum();
    const [gx, gh] = grad(y, [x, h], undefined, { retainGraph: true });
    expect(x.grad).toBeNull();
    for (let i = 0; i < 3; i++) {
      const t = Math.tanh(x.data[i]);
      expect(gh!.data[i]).toBeCloseTo(2 * t, 12);
      expect(gx!.data[i]).toBeCloseTo(2 * t * (1 - t * t), 12);
    }
  });

  it('handles long chains without recursion limits', () => {
    const x = tensor([1], null, { dtype: 'float64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 5000; i++) y = y.mul(1);
    y.sum().backward();
    expect(x.grad!.item()).toBe(1);
  });

  it('refuses in-place edits of leaves that require grad unless under noGrad', () => {
    const w = tensor([1, 2], null, { requiresGrad: true });
    expect(() => w.fill_(0)).toThrow(/noGrad\(\) around the in-place update for fill_\(this\)/);
    noGrad(() => w.zero_());
    expect(Array.from(w.data)).toEqual([0, 0]);
  });

  it('int and bool tensors cannot require grad', () => {
    expect(() => tensor([1], null, { dtype: 'int32', requiresGrad: true })).toThrow(TypeError);
    expect(() => {
      tensor([true]).requiresGrad = true;
    }).toThrow(/for requiresGrad/);
  });
});

describe('Function API', () => {
  it('defineFunction: forward/backward side by side, non-tensor args, null grads for int inputs', () => {
    const scaleRows = defineFunction({
      name: 'ScaleRows',
      forward(ctx, x: Tensor, idx: Tensor, s: number) {
        ctx.save(idx);
        ctx.s = s;
        const out = new Float64Array(x.data.length);
        const d = x.shape[1];
        for (let i = 0; i < x.shape[0]; i++) for (let j = 0; j < d; j++) out[i * d + j] = x.data[i * d + j] * (idx.data[i] + s);
        return new Tensor(out, x.shape);
      },
      backward(ctx, g) {
        const [idx] = ctx.saved;
        const d = g.shape[1];
        const gx = new Float64Array(g.data.length);
        for (let i = 0; i < g.shape[0]; i++) for (let j = 0; j < d; j++) gx[i * d + j] = g.data[i * d + j] * (idx.data[i] + ctx.s);
        return [new Tensor(gx, g.shape), null];
      },
    });
    const x = f64([3, 2], 2);
    const idx = tensor([0, 2, 1], null, { dtype: 'int32' });
    const y = scaleRows(x, idx, 0.5);
    expect(y.gradFn!.name).toBe('ScaleRowsBackward');
    expect(gradcheck((a) => scaleRows(a, idx, 0.5), [x])).toBe(true);
  });

  it('multiple outputs (array and record), unused outputs get zero gradients', () => {
    const pair = defineFunction({
      name: 'Pair',
      forward(ctx, x: Tensor) {
        ctx.save(x);
        return [x.mul(x), x.mul(x).mul(x)];
      },
      backward(ctx, gSq, gCube) {
        const [x] = ctx.saved;
        return [gSq.mul(x).mul(2).add(gCube.mul(x).mul(x).mul(3))];
      },
    });
    const x = f64([4], 3);
    const [sq, cube] = pair(x);
    expect(sq.outputNr).toBe(0);
    expect(cube.outputNr).toBe(1);
    cube.sum().backward(); // sq unused: its gradient is zeros
    for (let i = 0; i < 4; i++) expect(x.grad!.data[i]).toBeCloseTo(3 * x.data[i] ** 2, 12);
    expect(gradcheck((a) => pair(a), [f64([3], 4)])).toBe(true);

    const rec = defineFunction({
      name: 'Rec',
      forward(ctx, a: Tensor, b: Tensor) {
        ctx.save(a, b);
        return { prod: a.mul(b), diff: a.sub(b) };
      },
      backward(ctx, gProd, gDiff) {
        const [a, b] = ctx.saved;
        return [gProd.mul(b).add(gDiff), gProd.mul(a).sub(gDiff)];
      },
    });
    expect(gradcheck((a, b) => rec(a, b), [f64([2, 3], 5), f64([2, 3], 6)])).toBe(true);
  });

  it('class-based Function.apply', () => {
    class Cube extends Function {
      static forward(ctx: FunctionCtx, x: Tensor): Tensor {
        ctx.save(x);
        return x.pow(3);
      }
      static backward(ctx: FunctionCtx, g: Tensor): Tensor[] {
        const [x] = ctx.saved;
        return [g.mul(x.square()).mul(3)];
      }
    }
    const x = f64([5], 7);
    const y = Cube.apply<Tensor>(x);
    expect(y.gradFn!.name).toBe('CubeBackward');
    expect(gradcheck((a) => Cube.apply<Tensor>(a), [x])).toBe(true);
  });

  it('checks the shapes a backward returns', () => {
    const bad = defineFunction({
      name: 'BadShape',
      forward: (_ctx, x: Tensor) => x.mul(2),
      backward: (_ctx, g) => [g.sum()],
    });
    const x = tensor([1, 2], null, { requiresGrad: true });
    expect(() => bad(x).sum().backward()).toThrow(/Expected a gradient of shape \[2\] for BadShapeBackward \(gradient of input 0\) but received \[\]/);
    expect(x.grad).toBeNull(); // a failed pass leaves .grad untouched
  });
});

describe('gradcheck', () => {
  it('accepts correct gradients of composite expressions', () => {
    const a = f64([3, 4], 10), b = f64([4, 2], 11), c = f64([2], 12);
    expect(gradcheck((x, y, z) => F.logSoftmax(x.matmul(y).add(z).tanh(), -1), [a, b, c])).toBe(true);
  });

  it('REJECTS a planted wrong backward, naming the input, index and both values', () => {
    const wrongSin = defineFunction({
      name: 'WrongSin',
      forward(ctx, x: Tensor) {
        ctx.save(x);
        return new Tensor(x.data.map(Math.sin), x.shape);
      },
      backward(ctx, g) {
        const [x] = ctx.saved;
        // Planted bug: d/dx sin = cos, but this returns sin at the last element.
        return [new Tensor(g.data.map((v, i) => v * (i === x.numel() - 1 ? Math.sin(x.data[i]) : Math.cos(x.data[i]))), x.shape)];
      },
    });
    const x = f64([2, 2], 13);
    let err: unknown;
    try {
      gradcheck((t) => wrongSin(t).mul(1), [x]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelfsupError);
    expect((err as SelfsupError).code).toBe('ERR_AUTOGRAD');
    const msg = (err as Error).message;
    expect(msg).toMatch(/^Expected analytical gradient .* for gradcheck\(inputs\[0\]\) at index \[1, 1\] .* but received /);
    expect(msg).toContain(String(Math.sin(x.data[3])));
  });

  it('rejects a gradient that is off by a small factor', () => {
    const almost = defineFunction({
      name: 'Almost',
      forward: (_ctx, x: Tensor) => x.mul(x),
      backward: (ctx, g) => {
        void ctx;
        return [g.mul(2.01).mul(1)];
      },
    });
    const x = f64([3], 14);
    expect(() => gradcheck((t) => almost(t), [x])).toThrow(SelfsupError);
  });

  it('validates its inputs', () => {
    expect(() => gradcheck((t) => t.mul(2), [randn([2], { requiresGrad: true })])).toThrow(/float64 Tensor .* for gradcheck\(inputs\[0\]\)/);
    expect(() => gradcheck((t) => t.mul(2), [randn([2], { dtype: 'float64' })])).toThrow(/at least one input with requiresGrad/);
  });
});

describe('backward over several outputs of one node', () => {
  it('reaches the inputs when that node is fed by another node (each root starts it once)', () => {
    const x = randn([1, 2, 5, 4], { requiresGrad: true, seed: 3 });
    const q = x.mul(1.5); // a non-leaf input: the edges of the shared node lead to a node
    const r = F.attention(q, q, q, { returnLse: true });
    backward([r.out, r.lse], [randn([1, 2, 5, 4], { seed: 4 }), randn([1, 2, 5], { seed: 5 })]);
    const once = x.grad!.toArray();
    x.grad = null;
    const s = F.attention(x.mul(1.5), x.mul(1.5), x.mul(1.5), { returnLse: true });
    s.out.mul(randn([1, 2, 5, 4], { seed: 4 })).sum().add(s.lse.mul(randn([1, 2, 5], { seed: 5 })).sum()).backward();
    const again = x.grad!.toArray();
    once.forEach((v, i) => expect(v).toBeCloseTo(again[i], 5));
  });
});
