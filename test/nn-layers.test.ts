/** nn.Conv2d, nn.Embedding, nn.SiLU, nn.Softmax: what the modules add over their functional ops. */
import { describe, expect, it } from 'vitest';
import { F, Tensor, nn, randint, randn, tensor } from '../lib/index';
import { expectThrows } from './helpers';

describe('nn.Conv2d', () => {
  it('is F.conv2d with its parameters, PyTorch init bounds and state-dict names', () => {
    const conv = new nn.Conv2d(3, 5, [3, 2], { stride: [2, 1], padding: 1, seed: 7 });
    expect(conv.weight.shape).toEqual([5, 3, 3, 2]);
    expect(conv.bias!.shape).toEqual([5]);
    const bound = 1 / Math.sqrt(3 * 3 * 2);
    for (const t of [conv.weight, conv.bias!]) {
      let lo = Infinity, hi = -Infinity;
      for (const v of t.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      expect(lo).toBeGreaterThanOrEqual(-bound);
      expect(hi).toBeLessThanOrEqual(bound);
      expect(hi - lo).toBeGreaterThan(bound); // spread over the interval, not a constant
    }
    const x = randn([2, 3, 7, 6], { seed: 1 });
    const y = conv.forward(x);
    expect(y.shape).toEqual([2, 5, 4, 7]);
    expect(Array.from(y.data)).toEqual(Array.from(F.conv2d(x, conv.weight, conv.bias, { stride: [2, 1], padding: 1 }).data));
    expect(Object.keys(conv.stateDict()).sort()).toEqual(['bias', 'weight']);
    expect(new nn.Conv2d(2, 2, 1, { bias: false }).bias).toBeNull();
    expect(new nn.Conv2d(1, 1, 3, { seed: 3 }).weight.data).toEqual(new nn.Conv2d(1, 1, 3, { seed: 3 }).weight.data);
  });

  it('as the ViT patch embedding (kernel = stride = patch) equals nn.PatchEmbed with the same weights', () => {
    const p = 4, dim = 8;
    const pe = new nn.PatchEmbed({ imageSize: [8, 12], patchSize: p, inChannels: 3, dim, seed: 2 });
    const conv = new nn.Conv2d(3, dim, p, { stride: p, dtype: 'float32' });
    // PatchEmbed flattens each patch in (c, i, j) order: its Linear weight is the conv weight [dim, C, p, p].
    conv.weight.data.set(pe.proj.weight.data);
    conv.bias!.data.set(pe.proj.bias!.data);
    const x = randn([2, 3, 8, 12], { seed: 3 });
    const viaConv = conv.forward(x).flatten(2).transpose(1, 2);
    const viaLinear = pe.forward(x);
    expect(viaConv.shape).toEqual([2, 6, dim]);
    expect(viaConv.allclose(viaLinear, 1e-5, 1e-6)).toBe(true);
  });

  it('trains: the weight gradient of a sum is the sum of the receptive fields', () => {
    const conv = new nn.Conv2d(1, 1, 2, { stride: 2, bias: true, dtype: 'float64' });
    const x = tensor(Float64Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
    conv.forward(x).sum().backward();
    // Windows at (0,0), (0,2), (2,0), (2,2): the gradient at kernel tap (i, j) sums x[2a + i, 2b + j].
    const want = [0, 1, 4, 5].map((o) => [0, 2, 8, 10].reduce((s, w) => s + w + o, 0));
    expect(Array.from(conv.weight.grad!.data)).toEqual(want);
    expect(Array.from(conv.bias!.grad!.data)).toEqual([4]);
  });

  it('rejects bad arguments naming them', () => {
    expectThrows(() => new nn.Conv2d(0, 2, 3), RangeError, /for Conv2d\(inChannels\) but received 0/);
    expectThrows(() => new nn.Conv2d(2, 2, [3]), TypeError, /for Conv2d\(kernelSize\)/);
    expectThrows(() => new nn.Conv2d(2, 2, 3, { stride: 0 }), RangeError, /for Conv2d\(options\.stride\) but received 0/);
    expectThrows(() => new nn.Conv2d(2, 2, 3, { padding: [1, -1] }), RangeError, /for Conv2d\(options\.padding\[1\]\) but received -1/);
    expectThrows(() => new nn.Conv2d(2, 2, 3, { dilation: 2 } as never), TypeError, /Conv2d\(options\)/);
    expectThrows(() => new nn.Conv2d(2, 2, 3).forward(randn([1, 3, 5, 5])), Error, /Expected a weight \[O, 3, kh, kw\] \(x has 3 channels\) for conv2d\(weight\)/);
  });
});

describe('nn.Embedding', () => {
  it('looks up N(0, 1) rows; the padding row is zero and gets no gradient', () => {
    const emb = new nn.Embedding(50, 16, { paddingIdx: -1, seed: 4 });
    expect(emb.paddingIdx).toBe(49);
    expect(emb.weight.data.subarray(49 * 16, 50 * 16).every((v) => v === 0)).toBe(true);
    const w = emb.weight.data.subarray(0, 49 * 16);
    const mean = w.reduce((a, v) => a + v, 0) / w.length;
    const sd = Math.sqrt(w.reduce((a, v) => a + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.1); // 784 N(0, 1) draws: sd of the mean ~0.036
    expect(Math.abs(sd - 1)).toBeLessThan(0.1);
    const ids = tensor([[3, 49], [3, 0]], null, { dtype: 'int32' });
    const out = emb.forward(ids);
    expect(out.shape).toEqual([2, 2, 16]);
    expect(Array.from(out.data.subarray(0, 16))).toEqual(Array.from(emb.weight.data.subarray(48, 64)));
    out.sum().backward();
    const g = emb.weight.grad!.data;
    expect(g[3 * 16]).toBe(2); // row 3 looked up twice
    expect(g[0]).toBe(1);
    expect(g.subarray(49 * 16).every((v) => v === 0)).toBe(true);
    expect(new nn.Embedding(4, 2).paddingIdx).toBeNull();
  });

  it('rejects bad arguments naming them', () => {
    expectThrows(() => new nn.Embedding(4, 2, { paddingIdx: 4 }), RangeError, /Expected an integer in \[-4, 3\] or null for Embedding options\.paddingIdx but received 4/);
    expectThrows(() => new nn.Embedding(4, 0), RangeError, /for Embedding\(embeddingDim\)/);
    expectThrows(() => new nn.Embedding(4, 2).forward(randint(0, 5, [3], { seed: 0, dtype: 'float32' })), TypeError, /for embedding\(input\)/);
    expectThrows(() => new nn.Embedding(4, 2).forward(tensor([4], null, { dtype: 'int32' })), RangeError, /Expected indices in \[0, 4\) for embedding\(input\) but received 4/);
  });
});

describe('nn.SiLU and nn.Softmax', () => {
  it('compute x sigmoid(x) and a softmax over the given dim', () => {
    const x = tensor([[-2, 0, 1.5], [3, -1, 0.25]], null, { dtype: 'float64' });
    const s = new nn.SiLU().forward(x);
    x.data.forEach((v, i) => expect(s.data[i]).toBeCloseTo(v / (1 + Math.exp(-v)), 14));
    const p = new nn.Softmax(0).forward(x);
    for (let j = 0; j < 3; j++) {
      const z = Math.exp(x.data[j]) + Math.exp(x.data[3 + j]);
      expect(p.data[j]).toBeCloseTo(Math.exp(x.data[j]) / z, 14);
    }
    expect(String(new nn.Softmax(-1))).toContain('dim=-1');
    expectThrows(() => new nn.Softmax(0.5), TypeError, /Expected an integer for Softmax\(dim\)/);
    expectThrows(() => new nn.Softmax(2).forward(x), RangeError, /for softmax\(dim\)/);
    expectThrows(() => new nn.SiLU().forward([1] as unknown as Tensor), TypeError, /SiLU\.forward\(x\)/);
  });
});
