// Memory scopes: tidy(), keep() and Tensor.dispose() on the CPU (lib/scope.ts, lib/storage.ts).
// A released tensor's buffer is detached, so every later use of it is a JS error, and its memory
// goes back to the storage pool for the next output of its size. Releasing must never change a
// result: training steps are compared bit for bit with the pool off, and tensors made before a
// scope (parameters, inputs, views of them) must come out of it untouched.
import '../lib/tensor-methods';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { F, SelfsupError, Tensor, keep, kernels, nn, optim, randn, tensor, tidy } from '../lib';
import { clearPool, poolStats, setPoolMinBytes, setRecycling } from '../lib/storage';
import { train } from '../lib/train/train';
import { RECIPES } from '../lib/train/registry';
import { setNumThreads } from '../lib/info';

const RELEASED = /whose memory was released \(dispose\(\) or tidy\(\)\)/;

let prevMin = 0;
beforeEach(() => {
  prevMin = setPoolMinBytes(1); // every array through the pool, whatever the test's sizes
  clearPool();
});
afterEach(() => {
  setPoolMinBytes(prevMin);
  setRecycling(true);
  clearPool();
});

describe('tidy', () => {
  it('releases what fn made and did not return; the result and its views survive', () => {
    const x = randn([4, 8], { seed: 1 });
    let inner: Tensor | undefined;
    let view: Tensor | undefined;
    const out = tidy(() => {
      inner = x.mul(2);
      view = inner.reshape([32]);
      const r = inner.add(1);
      return { r, also: [r.reshape([8, 4])] };
    });
    expect(() => inner!.sum()).toThrow(RELEASED);
    expect(() => view!.sum()).toThrow(RELEASED);
    expect(() => inner!.item()).toThrow(SelfsupError);
    const want = Array.from(x.data, (v) => Math.fround(Math.fround(v * 2) + 1));
    expect(Array.from(out.r.data)).toEqual(want);
    expect(Array.from(out.also[0].data)).toEqual(want);
    expect(poolStats().buffers).toBeGreaterThan(0); // inner's memory is waiting for reuse
  });

  it('never touches tensors made before the scope, nor views of them made inside', () => {
    const p = randn([16, 16], { seed: 2 }).mul(3); // library-allocated, born outside
    const before = Array.from(p.data);
    tidy(() => {
      const v = p.reshape([256]);
      v.mul(2).sum();
      p.transpose(0, 1).add(p);
    });
    expect(Array.from(p.data)).toEqual(before);
    expect(p.reshape([256]).sum().item()).toBeCloseTo(before.reduce((a, b) => a + b, 0), 3);
  });

  it('keeps .grad tensors that backward assigns inside, and keep()', () => {
    const w = randn([8, 8], { seed: 3, requiresGrad: true });
    let kept: Tensor | undefined;
    let dropped: Tensor | undefined;
    tidy(() => {
      const y = w.mul(w);
      kept = keep(y.mul(2));
      dropped = y.mul(3);
      y.sum().backward();
    });
    expect(Array.from(w.grad!.data)).toEqual(Array.from(w.data, (v) => Math.fround(2 * v)));
    expect(Array.from(kept!.data)).toEqual(Array.from(w.data, (v) => Math.fround(Math.fround(v * v) * 2)));
    expect(() => dropped!.sum()).toThrow(RELEASED);
    // A second step accumulates into the kept .grad in place.
    tidy(() => w.mul(w).sum().backward());
    expect(Array.from(w.grad!.data)).toEqual(Array.from(w.data, (v) => Math.fround(2 * Math.fround(2 * v))));
  });

  it('nests: what an inner tidy returns belongs to the outer one', () => {
    const x = randn([64], { seed: 4 });
    let a: Tensor | undefined;
    let b: Tensor | undefined;
    const c = tidy(() => {
      a = tidy(() => x.mul(2));
      b = a.add(1);
      expect(Array.from(a.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 2)));
      return b.mul(1);
    });
    expect(() => a!.sum()).toThrow(RELEASED);
    expect(() => b!.sum()).toThrow(RELEASED);
    expect(c.numel()).toBe(64);
  });

  it('releases on a throw and refuses async functions without releasing anything', () => {
    const x = randn([64], { seed: 5 });
    let t: Tensor | undefined;
    expect(() => tidy(() => {
      t = x.mul(2);
      throw new Error('boom');
    })).toThrow('boom');
    expect(() => t!.sum()).toThrow(RELEASED);
    let u: Tensor | undefined;
    expect(() => tidy((async () => {
      u = x.mul(2);
    }) as never)).toThrow(/Expected a synchronous function \(tidy cannot span an await\) for tidy\(fn\) but received a function that returned a Promise/);
    expect(u!.sum().item()).toBeCloseTo(2 * x.sum().item(), 3);
    expect(() => tidy(3 as never)).toThrow(/Expected a function for tidy\(fn\) but received 3/);
    expect(() => keep([1] as never)).toThrow(/Expected a Tensor for keep\(t\)/);
  });

  it('a raw kernel array that reuses a gradient buffer backward recycled inside the scope is left alone', () => {
    const w = randn([16, 32], { seed: 9, requiresGrad: true });
    let arr: Float32Array | undefined;
    tidy(() => {
      w.mul(2).mul(3).exp().sum().backward(); // intermediate gradients (tensors) go back to the pool mid-scope
      expect(poolStats().buffers).toBeGreaterThan(0);
      arr = kernels.gelu(w.data as Float32Array, [16, 32]); // same size: the pool hands one of them out again
    });
    expect(arr!.length).toBe(512); // not a tensor in its new life: not released with the old one
  });

  it('backward through a graph whose saved tensors were released is a JS error, not a crash', () => {
    const p = randn([32, 32], { seed: 6, requiresGrad: true });
    const w = randn([32, 32], { seed: 7, requiresGrad: true });
    const loss = tidy(() => F.gelu(p.matmul(w)).softmax(-1).mul(p).sum());
    expect(() => loss.backward()).toThrow(/detached buffer \(released by dispose\(\) or tidy\(\), or transferred\)/);
  });
});

describe('dispose', () => {
  it('hands the memory to the next output of its size, which computes the same bits', () => {
    const x = randn([32, 64], { seed: 8 }), y = randn([32, 64], { seed: 9 });
    const ref = Array.from(x.add(y).data);
    const t = x.mul(y);
    const view = t.reshape([2048]);
    const arr = t.toArray();
    t.dispose();
    expect(arr.length).toBe(0); // the array taken from it is detached too
    expect(() => view.sum()).toThrow(RELEASED);
    expect(poolStats().buffers).toBe(1);
    const again = x.add(y); // reuses the released buffer (normal stores: it is warm)
    expect(poolStats().buffers).toBe(0);
    expect(Array.from(again.data)).toEqual(ref);
  });

  it('leaves memory the library did not allocate alone', () => {
    const mine = new Float32Array(4096).fill(1);
    const t = new Tensor(mine, [4096]);
    t.dispose();
    expect(mine.length).toBe(4096);
    expect(t.sum().item()).toBe(4096);
    const sub = new Tensor(new Float32Array(8192).subarray(0, 4096), [4096]);
    sub.dispose();
    expect(sub.numel()).toBe(4096);
    expect(tensor([1, 2]).dispose()).toBeUndefined();
  });
});

describe('training inside tidy', () => {
  setNumThreads(2);

  /** Three ViT + AdamW steps; the losses and final parameters. */
  function steps(scoped: boolean): number[][] {
    const m = new nn.VisionTransformer({ imageSize: 16, patchSize: 4, dim: 32, depth: 2, heads: 2, seed: 5 });
    const opt = new optim.AdamW(m.parameters(), { lr: 1e-2 });
    const x = randn([4, 3, 16, 16], { seed: 6 });
    const losses: number[] = [];
    const step = () => {
      opt.zeroGrad();
      const l = m.forward(x).tokens.pow(2).mean();
      l.backward();
      return l;
    };
    for (let s = 0; s < 3; s++) {
      losses.push((scoped ? tidy(step) : step()).item());
      opt.step();
    }
    return [losses, ...m.parameters().map((p) => Array.from(p.data))];
  }

  it('gives the same bits as the unscoped steps, with the pool on and off', () => {
    const plain = steps(false);
    expect(steps(true)).toEqual(plain);
    setRecycling(false);
    expect(steps(true)).toEqual(plain);
  });

  it('every recipe: train() losses are the same with the pool on and off', async () => {
    for (const recipe of Object.keys(RECIPES)) {
      const go = () => train({ recipe, data: 'synthetic:size=16,bank=64,test=32', steps: 3, batch: 8, seed: 3, eval: [], flags: { dim: 32, depth: 1, heads: 2 } });
      setRecycling(true);
      clearPool();
      const on = await go();
      expect(poolStats().buffers, recipe).toBeGreaterThan(0); // the steps did release their memory
      setRecycling(false);
      const off = await go();
      expect(on.losses, recipe).toEqual(off.losses);
      expect(on.losses.every(Number.isFinite), recipe).toBe(true);
    }
  });
});
