// The storage pool: gradient buffers that backward allocated and no longer needs are reused by
// later allocations (lib/storage.ts, lib/autograd/engine.ts). Recycling must never change a
// result: every gradient here is compared bit for bit with recycling off, and tensors the user
// can still see (forward outputs, grad() results, what a gradient-ready hook kept) must keep
// their values after later steps reuse the pool.
import { afterEach, describe, expect, it } from 'vitest';
import { grad, nn, randn, type Tensor } from '../lib';
import { registerGradReadyHook } from '../lib/autograd/engine';
import { clearPool, poolStats, setRecycling } from '../lib/storage';

afterEach(() => setRecycling(true));

// 8 images of 16x16, patch 4: 17 tokens of dim 128, so the activations ([8, 17, 128] float32 =
// 68 KiB, the MLP's [136, 512]) are above the pool's 64 KiB minimum.
function vit(dtype: 'float32' | 'float64'): nn.VisionTransformer {
  return new nn.VisionTransformer({ imageSize: 16, patchSize: 4, dim: 128, depth: 2, heads: 4, seed: 5, dtype });
}

/** Gradients of two consecutive steps (the second one allocates from what the first recycled). */
function twoSteps(recycle: boolean, dtype: 'float32' | 'float64'): { grads: number[][][]; pooled: number; fresh: number } {
  setRecycling(recycle);
  clearPool();
  const m = vit(dtype);
  const x = randn([8, 3, 16, 16], { seed: 6, dtype });
  const grads: number[][][] = [];
  let pooled = 0, fresh = 0;
  const alloc = Buffer.allocUnsafeSlow;
  for (let s = 0; s < 2; s++) {
    for (const p of m.parameters()) p.grad = null;
    let n = 0;
    Buffer.allocUnsafeSlow = (k: number) => (n++, alloc(k));
    try {
      m.forward(x).tokens.pow(2).mean().backward();
    } finally {
      Buffer.allocUnsafeSlow = alloc;
    }
    if (s === 0) pooled = poolStats().buffers;
    else fresh = n;
    grads.push(m.parameters().map((p) => Array.from(p.grad!.data)));
  }
  return { grads, pooled, fresh };
}

describe('storage pool', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`ViT gradients are bit-identical with and without recycling (${dtype}), and the pool is used`, () => {
      const on = twoSteps(true, dtype), off = twoSteps(false, dtype);
      expect(on.grads).toEqual(off.grads);
      expect(on.grads[1]).toEqual(on.grads[0]); // same weights, same input: the same step twice
      expect(off.pooled).toBe(0);
      expect(on.pooled).toBeGreaterThan(0);
      expect(on.fresh).toBeLessThan(off.fresh);
    });
  }

  it('views, reshapes, a tensor used twice and .grad accumulation: the same gradients, user tensors intact', () => {
    const run = (recycle: boolean): { grads: number[][]; held: number[][] } => {
      setRecycling(recycle);
      clearPool();
      const a = randn([64, 256], { seed: 7, requiresGrad: true });
      const b = randn([256], { seed: 8, requiresGrad: true });
      const w = randn([64, 64], { seed: 9 }).mul(0.1);
      const grads: number[][] = [];
      const held: Tensor[] = [];
      const snap: number[][] = [];
      for (let s = 0; s < 3; s++) {
        const h = a.mul(b).tanh(); // [64, 256]
        const v = h.reshape([128, 128]).narrow(0, 10, 100).exp();
        const u = h.add(h).transpose(0, 1).softmax(-1); // h twice: Add passes one gradient to both
        // A reshape passes its gradient on to a matmul whose gradients have the same size: a
        // buffer recycled while the reshape's result still holds it would be the matmul's output.
        const r = u.matmul(w).reshape([-1]).exp();
        const loss = v.sum().add(r.sum()).add(h.reshape([-1]).mul(3).mean());
        held.push(h, v, u, r);
        snap.push(Array.from(h.data), Array.from(v.data), Array.from(u.data), Array.from(r.data));
        loss.backward(); // steps 1 and 2 accumulate into the existing .grad in place
        grads.push(Array.from(a.grad!.data), Array.from(b.grad!.data));
      }
      // Allocations after the last backward draw on the pool: the user's tensors must not change.
      for (let i = 0; i < 4; i++) randn([64, 256], { seed: 9 + i }).mul(2).add(1).exp();
      held.forEach((t, i) => expect(Array.from(t.data)).toEqual(snap[i]));
      return { grads, held: snap };
    };
    const on = run(true), off = run(false);
    expect(on.grads).toEqual(off.grads);
    expect(on.held).toEqual(off.held);
  });

  it('grad() results and what gradient-ready hooks keep are never recycled', () => {
    const x = randn([128, 128], { seed: 20, requiresGrad: true });
    const w = randn([128, 128], { seed: 21, requiresGrad: true });
    const mid = (): Tensor => x.matmul(w).tanh();
    const churn = (): void => {
      // Same-size allocations that would land on any buffer recycled by mistake.
      for (let i = 0; i < 4; i++) randn([128, 128], { seed: 30 + i }).mul(3).exp();
      mid().matmul(w).exp().sum().backward();
    };
    // grad() of an intermediate (a node's incoming gradient) and of leaves.
    const h = mid();
    const [gh, gx, gw] = grad(h.matmul(w).exp().sum(), [h, x, w]);
    const kept = [gh, gx, gw].map((g) => Array.from(g!.data));
    // A hook sees w's gradient before it is added into the existing w.grad.
    w.grad = randn([128, 128], { seed: 22 });
    let seen: Tensor | null = null;
    const hook = registerGradReadyHook(w, (g) => (seen ??= g));
    try {
      mid().matmul(w).exp().sum().backward();
      const atHook = Array.from(seen!.data);
      churn();
      expect(Array.from(seen!.data)).toEqual(atHook);
    } finally {
      hook.remove();
    }
    churn();
    expect([gh, gx, gw].map((g) => Array.from(g!.data))).toEqual(kept);
  });
});
