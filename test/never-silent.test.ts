/**
 * Inputs that used to give a silently wrong result, or an error outside the package grammar:
 * non-typed-array data in the Tensor constructor, tensors whose buffer was transferred away,
 * sizes past what an array can hold, and misspelt or missing options.
 */
import { describe, expect, it } from 'vitest';
import { F, SelfsupError, Tensor, full, ones, rand, randn, tensor, zeros, arange, nn, optim } from '../lib/index';
import * as kernels from '../lib/kernels';
import { gatherTokens, gatherTokensBackward, matmul, matmulAsync, maskRandom, scatterTokens, sinkhornAsync } from '../lib/kernels';
import { maxElements } from '../lib/validate';
import { expectThrows } from './helpers';

/** Transfers the tensor's buffer away (as postMessage with a transfer list does). */
function detach(t: Tensor): Tensor {
  structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
  return t;
}

describe('Tensor constructor data', () => {
  it('rejects plain arrays, strings and other non-typed-array data (no bool tensor by default)', () => {
    expectThrows(() => new Tensor([1, 2, 3] as never, [3]), TypeError,
      /^Expected a Float32Array, Float64Array, Int32Array or Uint8Array for Tensor\(data\) but received \[1, 2, 3\]/, /use tensor\(data\)/);
    expectThrows(() => new Tensor('hello' as never, [5]), TypeError, /for Tensor\(data\) but received "hello"/);
    expectThrows(() => new Tensor(new Int8Array(2) as never, [2]), TypeError, /but received a Int8Array of length 2/);
    expectThrows(() => new Tensor(null as never, []), TypeError, /for Tensor\(data\) but received null/);
    expectThrows(() => new Tensor(new Float32Array(2), 2 as never), TypeError, /for Tensor\(shape\) but received 2/);
    // The typed arrays are still accepted, zero-copy.
    const d = new Uint8Array([1, 0]);
    expect(new Tensor(d, [2]).data).toBe(d);
    expect(new Tensor(new Float64Array(4), [2, 2]).dtype).toBe('float64');
  });
});

describe('tensors whose buffer was detached', () => {
  it('are refused by ops, printing, tolist and item instead of giving NaN or an empty tensor', () => {
    const msg = /^Expected a Tensor whose data holds its 4 elements \(shape \[2, 2\]\) for .* but received a Tensor whose memory was released \(dispose\(\) or tidy\(\)\) or whose buffer was transferred$/;
    const t = detach(tensor([[1, 2], [3, 4]]));
    const e = expectThrows(() => t.add(1), SelfsupError, msg, /add\(a\)/);
    expect((e as SelfsupError).code).toBe('ERR_INVALID_ARGUMENT');
    expectThrows(() => F.add(tensor([[1, 1], [1, 1]]), t), SelfsupError, /for add\(b\)/);
    expectThrows(() => t.sum(), SelfsupError, msg);
    expectThrows(() => t.exp(), SelfsupError, msg);
    expectThrows(() => t.matmul(tensor([[1, 0], [0, 1]])), SelfsupError, msg);
    expectThrows(() => F.softmax(t, -1), SelfsupError, msg);
    expectThrows(() => t.toString(), SelfsupError, msg, /toString\(this\)/);
    expectThrows(() => String(t), SelfsupError, msg);
    expectThrows(() => t.tolist(), SelfsupError, msg, /tolist\(this\)/);
    const s = detach(tensor(3));
    expectThrows(() => s.item(), SelfsupError, /holds its 1 elements .* for item\(this\)/);
    // An empty tensor has nothing to lose: it still prints.
    expect(String(detach(tensor([])))).toBe('tensor([])');
  });
});

describe('sizes past what an array can hold', () => {
  const max4 = maxElements(4);
  const tooBig = (name: string): RegExp => new RegExp(`^Expected a size of at most ${max4} elements for ${name.replace(/[()]/g, '\\$&')} but received \\d`);

  it('are refused by the factories before allocating, in the grammar', () => {
    expectThrows(() => zeros([2 ** 30, 2 ** 30, 2 ** 30]), RangeError, tooBig('zeros(shape)'), /shape \[1073741824, 1073741824, 1073741824\], float32\)$/);
    expectThrows(() => ones([2 ** 20, 2 ** 20]), RangeError, tooBig('ones(shape)'));
    expectThrows(() => full([2 ** 40], 3), RangeError, tooBig('full(shape)'));
    expectThrows(() => randn([2 ** 40]), RangeError, tooBig('randn(shape)'));
    expectThrows(() => rand([2 ** 40]), RangeError, tooBig('rand(shape)'));
    expectThrows(() => arange(2 ** 40), RangeError, tooBig('arange(end)'));
    expectThrows(() => zeros([2 ** 40], { dtype: 'float64' }), RangeError, new RegExp(`at most ${maxElements(8)} elements for zeros\\(shape\\)`));
  });

  it('are refused by the kernels before allocating an output (no V8 message, no 51 GB attempt)', () => {
    const src = new Float32Array(12), idx = new Int32Array([0, 1, 0, 1]);
    const t0 = Date.now();
    expectThrows(() => scatterTokens(src, [2, 2, 3], idx, 2 ** 31), RangeError, tooBig('scatterTokens(out)'), /\[B, N, D\] = \[2, 2147483648, 3\]\)$/);
    expectThrows(() => scatterTokens(src, [2, 2, 3], idx, 2 ** 40), RangeError, tooBig('scatterTokens(out)'));
    expect(Date.now() - t0).toBeLessThan(2000);
    expectThrows(() => F.scatterTokens(tensor(src).reshape(2, 2, 3), tensor(idx).reshape(2, 2), 2 ** 40), RangeError, tooBig('scatterTokens(out)'));
    // Duplicate indices are still found when the token count is far larger than the indices.
    expectThrows(() => scatterTokens(new Float32Array(0), [2, 2, 0], new Int32Array([0, 5, 7, 7]), 2 ** 40), SelfsupError, /7 twice in batch row 1/);
    expectThrows(() => gatherTokensBackward(new Float32Array(4), idx, [2, 2], 2 ** 40), RangeError, tooBig('gatherTokensBackward(dx)'));
    const big = new Float32Array(2 ** 16);
    expectThrows(() => gatherTokens(big, [4, 2 ** 14], new Int32Array(2 ** 17), [1, 2 ** 17]), RangeError, tooBig('gatherTokens(out)'), /\[B, K, D\] = \[1, 131072, 16384\]\)$/);
    expectThrows(() => matmul(big, [2 ** 16, 1], big, [1, 2 ** 16]), RangeError, tooBig('matmul(out)'), /shape \[65536, 65536\]\)$/);
    expectThrows(() => maskRandom({ batch: 2 ** 23, tokens: 2 ** 30, ratio: 0.5 }), RangeError, /for maskRandom\(restore\)/);
  });

  it('an output transferred while an async kernel ran is reported in the grammar', async () => {
    const out = new Float32Array(4);
    const p = matmulAsync(Float32Array.of(1, 2, 3, 4), [2, 2], Float32Array.of(1, 0, 0, 1), [2, 2], { out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(p).rejects.toThrow(/^Expected a live \(not detached\) Float32Array for options.out but received a detached buffer \(released by dispose\(\) or tidy\(\), or transferred\)$/);
    const so = new Float32Array(4);
    const q = sinkhornAsync(Float32Array.of(1, 2, 3, 4), [2, 2], { out: so });
    structuredClone(so.buffer, { transfer: [so.buffer] });
    await expect(q).rejects.toThrow(/^Expected a live \(not detached\) Float32Array for options.out but received a detached buffer \(released by dispose\(\) or tidy\(\), or transferred\)$/);
  });
});

describe('options', () => {
  const z = (): Tensor => randn([4, 8], { seed: 1 });

  it('a misspelt key is rejected with the known keys, in ops, kernels, modules and optimizers', () => {
    const e = expectThrows(() => F.infoNCE(z(), z(), { temprature: 0.1 } as never), TypeError);
    expect(e.message).toBe("Expected one of the options temperature, normalize, direction, decoupled, labels, negatives, reduction for infoNCE(options) but received 'temprature'");
    expectThrows(() => F.sinkhorn(z(), { epsilion: 0.1 } as never), TypeError, /for sinkhorn\(options\) but received 'epsilion'$/);
    expectThrows(() => F.vicreg(z(), z(), { simCoef: 1 } as never), TypeError, /one of the options simCoeff, stdCoeff, covCoeff, eps, covPath for vicreg\(options\)/);
    expectThrows(() => F.layerNorm(z(), [8], { epsilon: 1e-5 } as never), TypeError, /for layerNorm\(options\) but received 'epsilon'/);
    expectThrows(() => F.crossEntropy(z(), tensor([0, 1, 2, 3], null, { dtype: 'int32' }), { smoothing: 0.1 } as never), TypeError, /for crossEntropy\(options\)/);
    // Kernels (raw typed arrays) and the keys they share with their async and backward forms.
    const a = new Float32Array(32).map((_, i) => Math.sin(i));
    expectThrows(() => kernels.infoNCE(a, a, [4, 8], { temprature: 0.1 } as never), TypeError, /for options but received 'temprature'$/);
    expectThrows(() => kernels.matmul(a, [4, 8], a, [8, 4], { transpose: true } as never), TypeError, /one of the options transA, transB, out, bias for options/);
    expectThrows(() => kernels.sinkhorn(a, [4, 8], { iter: 3 } as never), TypeError, /received 'iter'$/);
    const q = new Float32Array(8);
    expectThrows(() => kernels.attention(q, [1, 1, 2, 4], q, [1, 1, 2, 4], q, [1, 1, 2, 4], { casual: true } as never), TypeError, /received 'casual'$/);
    expectThrows(() => kernels.attention(q, [1, 1, 2, 4], q, [1, 1, 2, 4], q, [1, 1, 2, 4], { dq: q } as never), TypeError, /received 'dq'$/);
    // Modules and optimizers.
    expectThrows(() => new nn.Linear(2, 3, { bais: false } as never), TypeError, /for Linear\(options\) but received 'bais'$/);
    expectThrows(() => new nn.VisionTransformer({ imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, mlp_ratio: 2 } as never), TypeError, /for VisionTransformer\(options\) but received 'mlp_ratio'$/);
    const w = randn([3], { requiresGrad: true });
    expectThrows(() => new optim.SGD([w], { lrr: 0.1 } as never), TypeError, /^Expected one of the options lr, momentum, dampening, weightDecay, nesterov, maximize for SGD\(options\) but received 'lrr'$/);
    expectThrows(() => new optim.AdamW([w], { weight_decay: 0 } as never), TypeError, /for AdamW\(options\) but received 'weight_decay'$/);
    const vit = new nn.VisionTransformer({ imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, seed: 3 });
    expectThrows(() => vit.forward(randn([1, 3, 8, 8]), { kepp: null } as never), TypeError, /one of the options mask, keep for VisionTransformer.forward\(options\) but received 'kepp'$/);
    // Known keys still work.
    expect(F.infoNCE(z(), z(), { temperature: 0.2, reduction: 'sum' }).shape).toEqual([]);
    expect(new optim.SGD([w], { lr: 0.1, momentum: 0.9 }).defaults.lr).toBe(0.1);
  });

  it('vicregBackward requires all three term weights (a missing one gave zero gradients)', () => {
    const x = new Float32Array(8).map((_, i) => Math.cos(i)), y = new Float32Array(8).map((_, i) => Math.sin(i));
    expectThrows(() => kernels.vicregBackward(x, y, [4, 2], { invariance: 1 } as never), TypeError, /^Expected a number for grads.variance but received undefined$/);
    expectThrows(() => kernels.vicregBackward(x, y, [4, 2], undefined as never), TypeError, /for grads but received undefined$/);
    expectThrows(() => kernels.vicregBackward(x, y, [4, 2], { loss: 1 } as never), TypeError, /one of the options invariance, variance, covariance for grads but received 'loss'$/);
    const { dx } = kernels.vicregBackward(x, y, [4, 2], { invariance: 1, variance: 0, covariance: 0 });
    expect(dx.some((v) => v !== 0)).toBe(true);
  });

  it('the Sinkhorn iteration bound is int32 max', () => {
    const s = new Float32Array(4);
    // The bad prior (checked after iterations) keeps a regression from running 2^31 iterations.
    const bad = { iterations: 2 ** 31, prior: 'bogus' as never };
    expectThrows(() => kernels.sinkhorn(s, [2, 2], bad), RangeError, /^Expected an integer >= 0 and <= 2147483647 for options.iterations but received 2147483648$/);
    expectThrows(() => F.sinkhorn(tensor(s).reshape(2, 2), bad), RangeError, /<= 2147483647 for sinkhorn\(options.iterations\)/);
  });
});
