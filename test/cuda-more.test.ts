/**
 * The training ops beyond the model path on 'cuda' (docs/cuda.md, "What runs on the GPU"): the
 * device select (where, tril / triu), the compositions (var, std, norm, logsumexp, silu, smoothL1,
 * crossEntropy, normalize, cosineSimilarity, isnan, allclose, swavLoss, msnLoss, koleo), dropout
 * (the CPU's Philox mask drawn on the device), batchNorm, einsum, cumsum (a log-step scan), conv2d
 * (im2col / col2im as strided device copies), the
 * row gathers (embedding, indexSelect), the in-place EMA update and Adam with weight decay. Against the
 * host stand-in for the device without one (test/cuda-mock.ts: it checks the routing, autograd and
 * argument plumbing), on the CUDA kernels with one (scripts/gpu-check.sh). Each case compares cuda
 * with cpu (values and gradients) at awkward shapes, with the non-finite inputs a composition could
 * get wrong, and checks the bad-input errors name the argument.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  F, SelfsupError, Tensor, allclose, embedding, indexSelect, isnan, logsumexp, norm, optim, randn, std, tensor, tril, triu, where,
  variance, flip, repeat,
} from '../lib/index';
import { tryNative } from '../lib/backends/native';
import { RECIPES } from '../lib/train/registry';
import { isAvailable, setCudaBackendForTesting } from '../lib/cuda';
import { mockCuda } from './cuda-mock';
import { parity } from './cuda-parity-helper';
import { expectThrows } from './helpers';
import { compare } from './ops/helpers';

const real = tryNative();
const onDevice = isAvailable();
const r = (shape: number[], seed: number, scale = 1): Tensor => randn(shape, { seed }).mul(scale);
/** A host tensor of float32 values (NaN / inf allowed). */
const t32 = (values: number[], shape: number[]): Tensor => new Tensor(Float32Array.from(values), shape);
const err = (fn: () => unknown): SelfsupError => expectThrows(fn, SelfsupError) as SelfsupError;
/** Bitwise-equal values (NaN equal to NaN). */
const same = (a: Tensor, b: Tensor): void => expect(Array.from(a.toArray()).map(String)).toEqual(Array.from(b.toArray()).map(String));

describe.skipIf(!real)(`training ops on cuda (${onDevice ? 'the device' : 'the host stand-in'})`, () => {
  beforeAll(() => {
    if (!onDevice) setCudaBackendForTesting(mockCuda(real!));
  });
  afterAll(() => setCudaBackendForTesting(null));

  it('where moves elements: inf / NaN in the branch not taken never leak, gradients go to the chosen side', () => {
    const a = t32([1, Infinity, NaN, -2, 5, -Infinity, 7, 8, 9, 10, 11, 12], [3, 4]);
    const b = t32([NaN, 2, 3, Infinity, -5, 6, NaN, -8, 0, 1, 2, 3], [3, 4]);
    const c = tensor([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]).to('bool');
    same(where(c.to('cuda'), a.to('cuda'), b.to('cuda')), where(c, a, b));
    // Broadcast condition, operands of different shapes, a number operand; int32 and bool operands.
    const c2 = tensor([1, 0, 1, 1, 0, 0, 1]).to('bool').reshape([7, 1]);
    parity([r([1, 5], 1), r([7, 5], 2)], (x, y) => where(c2.to(x.device), x, y));
    parity([r([7, 5], 3)], (x) => where(c2.to(x.device), x, -3.5));
    same(where(c2.to('cuda'), tensor([1, 2, 3]).to('int32').to('cuda'), 0), where(c2, tensor([1, 2, 3]).to('int32'), 0));
    // Mixed devices name the argument.
    const e = err(() => where(c2.to('cuda'), r([7, 5], 4), 0));
    expect([e.code, /where\(a\)/.test(e.message)]).toEqual(['ERR_DEVICE_MISMATCH', true]);
    expect(err(() => where(c2, r([7, 5], 4).to('cuda'), 0)).message).toMatch(/the device of condition\) for where\(a\)/);
  });

  it('tril / triu keep inf and NaN out of the zeroed triangle, at any diagonal, batched', () => {
    const x = r([2, 5, 7], 5);
    const xd = x.data as Float32Array;
    xd[3] = Infinity, xd[9] = NaN, xd[40] = -Infinity;
    for (const k of [-3, -1, 0, 2, 9]) {
      same(tril(x.to('cuda'), k), tril(x, k));
      same(triu(x.to('cuda'), k), triu(x, k));
    }
    parity([r([3, 6, 4], 6)], (v) => tril(v, 1).mul(v));
    parity([r([6, 4], 7)], (v) => triu(v, -1).mul(v));
  });

  it('var / std / norm / logsumexp over dims, with their gradients', () => {
    const x = r([5, 7, 33], 8, 3);
    parity([x], (v) => variance(v, [0, 2]));
    parity([x], (v) => std(v, 1, { correction: 0, keepdim: true }));
    parity([r([37], 9)], (v) => std(v));
    for (const p of [2, 3, 1, 0.5]) parity([x], (v) => norm(v, p, [1]).mul(1), { fwd: 2e-5, grad: 2e-4 });
    parity([x], (v) => norm(v, Infinity, 2));
    parity([x], (v) => logsumexp(v, [0, 2], true));
    // Large values (the max shift) and a row of -inf (-inf, as the CPU), a row with +inf.
    const big = r([4, 9], 10, 40);
    parity([big], (v) => logsumexp(v, 1));
    const inf = t32([-Infinity, -Infinity, -Infinity, 1, Infinity, 2, 3, 4, 5], [3, 3]);
    same(logsumexp(inf.to('cuda'), 1), logsumexp(inf, 1));
  });

  it("norm's gradient is 0 at a zero norm and at x = 0 (p < 1 too), as on the CPU", () => {
    const x = t32([0, 0, 0, 1, -2, 0, 3, 0.5, -1], [3, 3]);
    for (const p of [2, 3, 0.5]) parity([x], (v) => norm(v, p, 1));
  });

  it('silu, smoothL1 (beta 0, at |d| = beta), normalize and cosineSimilarity', () => {
    parity([r([3, 1037], 11, 4)], (v) => F.silu(v));
    const a = r([9, 17], 12, 2), b = r([9, 17], 13, 2);
    for (const beta of [0, 0.5, 1, 3]) parity([a, b], (u, v) => F.smoothL1(u, v, { beta, reduction: 'sum' }));
    parity([a, b], (u, v) => F.smoothL1(u, v, { reduction: 'none' }));
    // |d| exactly beta: the CPU's gradient is sign(d) (the linear branch).
    parity([t32([1, -1, 0.25, 0], [4]), t32([0, 0, 0, 0], [4])], (u, v) => F.smoothL1(u, v, { beta: 1, reduction: 'none' }));
    parity([a], (v) => F.normalize(v, { dim: 1 }));
    parity([r([4, 5, 6], 14)], (v) => F.normalize(v, { p: 3, dim: -1, eps: 1e-3 }));
    parity([a, r([1, 17], 15)], (u, v) => F.cosineSimilarity(u, v, { dim: 1 }));
  });

  it('crossEntropy: class indices (ignoreIndex, label smoothing, -inf logits, [N, C, d]) and probabilities', () => {
    const logits = r([13, 7], 16, 3);
    const tgt = tensor([0, 6, 3, -100, 2, 2, 5, 1, -100, 4, 0, 6, 3]).to('int32');
    parity([logits], (v) => F.crossEntropy(v, tgt.to(v.device)));
    parity([logits], (v) => F.crossEntropy(v, tgt.to(v.device), { labelSmoothing: 0.1, reduction: 'sum' }));
    parity([logits], (v) => F.crossEntropy(v, tgt.to(v.device), { reduction: 'none' }));
    const tgt3 = tensor([0, 6, 3, 3, 2, 2, 5, 1, 3, 4, 0, 6, 3]).to('int32');
    parity([logits], (v) => F.crossEntropy(v, tgt3.to(v.device), { ignoreIndex: 3 }));
    // A masked (-inf) logit of another class: the one-hot select keeps it out (0 * -inf would be NaN).
    const masked = logits.clone();
    (masked.data as Float32Array)[1] = -Infinity;
    parity([masked], (v) => F.crossEntropy(v, tgt.to(v.device)));
    parity([r([3, 5, 4, 2], 17)], (v) => F.crossEntropy(v, tensor([[[0, 1], [4, 2], [3, 3], [1, 0]], [[2, 2], [0, 4], [1, 1], [3, 0]], [[4, 4], [0, 0], [2, 1], [1, 3]]]).to('int32').to(v.device)));
    parity([r([7], 18)], (v) => F.crossEntropy(v, tensor(3).to('int32').to(v.device)));
    const probs = F.softmax(r([6, 5], 19), 1);
    parity([r([6, 5], 20), probs], (v, p) => F.crossEntropy(v, p, { labelSmoothing: 0.2 }));
    // All positions ignored: 'mean' is 0 / 0 = NaN on both devices.
    const none = tensor([-100, -100]).to('int32');
    same(F.crossEntropy(r([2, 3], 21).to('cuda'), none.to('cuda')), F.crossEntropy(r([2, 3], 21), none));
    // A class index out of range: the CPU's message (first bad position), after one read-back.
    const bad = tensor([0, 7, 1]).to('int32');
    const cpuMsg = expectThrows(() => F.crossEntropy(r([3, 7], 22), bad), RangeError).message;
    expect(expectThrows(() => F.crossEntropy(r([3, 7], 22).to('cuda'), bad.to('cuda')), RangeError).message).toBe(cpuMsg);
    const m = err(() => F.crossEntropy(r([3, 7], 22).to('cuda'), tensor([0, 1, 2]).to('int32')));
    expect([m.code, /crossEntropy\(target\)/.test(m.message)]).toEqual(['ERR_DEVICE_MISMATCH', true]);
  });

  it('flip, repeat, isnan and allclose', () => {
    parity([r([3, 4, 5], 23)], (v) => flip(v, [0, 2]).mul(v));
    parity([r([4], 24)], (v) => flip(v, 0).mul(v));
    parity([r([2, 3], 25)], (v) => repeat(v, [2, 1, 3]));
    const x = t32([1, NaN, Infinity, -0, NaN], [5]);
    same(isnan(x.to('cuda')), isnan(x));
    expect(isnan(x.to('cuda')).device).toBe('cuda');
    same(isnan(tensor([1, 2]).to('int32').to('cuda')), tensor([0, 0]).to('bool'));
    const a = r([4, 5], 26);
    expect(allclose(a.to('cuda'), a.mul(1 + 1e-6).to('cuda'))).toBe(true);
    expect(allclose(a.to('cuda'), a.mul(1.001).to('cuda'))).toBe(false);
    expect(allclose(x.to('cuda'), x.to('cuda'))).toBe(false); // NaN is never close
    const inf = t32([Infinity, -Infinity, 1], [3]);
    expect(allclose(inf.to('cuda'), inf.to('cuda'))).toBe(true);
    // -inf against inf: |x - y| = inf <= atol + rtol inf; the device follows the CPU's formula.
    const flipped = t32([Infinity, Infinity, 1], [3]);
    expect(allclose(inf.to('cuda'), flipped.to('cuda'))).toBe(allclose(inf, flipped));
    expect(err(() => allclose(a.to('cuda'), a)).code).toBe('ERR_DEVICE_MISMATCH');
  });

  it("dropout draws the CPU's Philox mask on the device; a dropped inf gives 0", () => {
    for (const p of [0.1, 0.5, 0.9, 1]) parity([r([7, 1037], 56)], (x) => F.dropout(x, p, { seed: 1234 }));
    parity([r([3, 5], 57)], (x) => F.dropout(x, 0.3, { seed: 2 ** 40 + 7 }));
    const x = r([257], 58);
    (x.data as Float32Array).fill(Infinity, 0, 64);
    const yc = F.dropout(x, 0.5, { seed: 9 }), yg = F.dropout(x.to('cuda'), 0.5, { seed: 9 });
    same(yg, yc);
    expect(Array.from(yc.toArray()).slice(0, 64)).toContain(0);
    expect(F.dropout(x.to('cuda'), 0.5, { training: false }).device).toBe('cuda');
  });

  it('batchNorm (training: statistics, gradients, running stats in place; eval), einsum, cumsum and conv2d', () => {
    const x = r([6, 5, 3, 7], 59, 2).add(1), w = r([5], 60), b = r([5], 61);
    for (const training of [true, false]) {
      const rmC = r([5], 62), rvC = r([5], 63).abs().add(0.5);
      const rmG = rmC.to('cuda'), rvG = rvC.to('cuda');
      let first = true;
      parity([x, w, b], (v, ww, bb) => {
        const [rm, rv] = first ? [rmC, rvC] : [rmG, rvG];
        first = false;
        return F.batchNorm(v, rm, rv, { weight: ww, bias: bb, training, momentum: 0.3 });
      }, { fwd: 2e-5, grad: 2e-4 });
      const c = compare([...rmG.toArray(), ...rvG.toArray()], [...rmC.toArray(), ...rvC.toArray()], 1e-6, 1e-5);
      expect(c.ok, `running stats: ${c.msg}`).toBe(true);
    }
    parity([r([9, 4], 64)], (v) => F.batchNorm(v, null, null, { training: true }));
    expect(expectThrows(() => F.batchNorm(r([1, 4], 65).to('cuda'), null, null, { training: true }), RangeError).message).toMatch(/batchNorm\(x\)/);
    expect(err(() => F.batchNorm(x.to('cuda'), r([5], 62), r([5], 63))).message).toMatch(/batchNorm\(runningMean\)/);
    parity([r([3, 4, 5], 66), r([3, 5, 2], 67)], (a, c) => F.einsum('bij,bjk->bik', a, c));
    parity([r([4, 6], 68), r([6], 69)], (a, c) => F.einsum('ij,j->i', a, c));
    for (const [shape, dim] of [[[1037], 0], [[3, 70, 5], 1], [[4, 9], -1], [[2, 1], 1]] as const) {
      parity([r([...shape], 70)], (v) => v.cumsum(dim), { fwd: 1e-5, grad: 1e-4 });
    }
    // conv2d: overlapping windows (col2im adds taps), padding, per-axis stride, the patch path.
    const conv = (o: object) => (v: Tensor, ww: Tensor, bb: Tensor) => F.conv2d(v, ww, bb, o);
    parity([r([2, 3, 9, 8], 71), r([4, 3, 3, 3], 72), r([4], 73)], conv({ padding: 1 }), { fwd: 2e-5, grad: 2e-4 });
    parity([r([1, 2, 7, 11], 74), r([3, 2, 3, 5], 75), r([3], 76)], conv({ stride: [2, 3], padding: [2, 1] }), { fwd: 2e-5, grad: 2e-4 });
    parity([r([2, 3, 8, 8], 77), r([5, 3, 4, 4], 78), r([5], 79)], conv({ stride: 4 }));
    const e = err(() => tensor([1, 2]).to('int32').to('cuda').cumsum(0));
    expect([e.code, /cumsum\(x\)/.test(e.message)]).toEqual(['ERR_NO_DEVICE', true]);
  });

  it('the EMA update in place: lerp_, add_ (alpha), sub_, mul_, div_, copy_ on cuda tensors', () => {
    const target = r([37, 5], 27), online = r([37, 5], 28);
    const tc = target.clone(), tg = target.to('cuda'), og = online.to('cuda');
    for (let step = 0; step < 3; step++) {
      tc.lerp_(online, 0.004);
      tg.lerp_(og, 0.004);
    }
    expect(tg.device).toBe('cuda');
    const near = (got: Tensor, want: Tensor): void => {
      const c = compare(got.toArray(), want.toArray(), 1e-6, 1e-6);
      expect(c.ok, c.msg).toBe(true);
    };
    near(tg, tc);
    const bias = r([5], 29);
    tc.add_(bias, -0.5).sub_(2).mul_(online).div_(bias.abs().add(1));
    tg.add_(bias.to('cuda'), -0.5).sub_(2).mul_(og).div_(bias.abs().add(1).to('cuda'));
    near(tg, tc);
    tg.mul_(tensor(3)); // a 0-dim cpu tensor is a scalar (it moves to the device)
    tc.mul_(3);
    near(tg, tc);
    tg.copy_(online.to('float64')); // across devices and dtypes
    same(tg, online);
    tg.copy_(og.mul(2));
    same(tg, online.mul(2));
    const back = target.clone();
    back.copy_(og);
    same(back, online);
    const m = err(() => tg.add_(bias));
    expect([m.code, /add_\(other\)/.test(m.message)]).toEqual(['ERR_DEVICE_MISMATCH', true]);
    expect(err(() => tg.lerp_(online, 0.5)).message).toMatch(/lerp_\(end\)/);
    expect(err(() => target.clone().lerp_(og, 0.5)).code).toBe('ERR_DEVICE_MISMATCH');
  });

  it('Adam with weight decay (and maximize) steps cuda parameters like cpu ones', () => {
    for (const maximize of [false, true]) {
      const w0 = r([37, 5], 30), g0 = r([37, 5], 31);
      const pc = w0.clone().requiresGrad_(), pg = w0.to('cuda').requiresGrad_();
      const oc = new optim.Adam([pc], { lr: 1e-2, weightDecay: 0.1, maximize }), og = new optim.Adam([pg], { lr: 1e-2, weightDecay: 0.1, maximize });
      for (let step = 0; step < 3; step++) {
        pc.grad = g0.mul(step + 1);
        pg.grad = pc.grad.to('cuda');
        oc.step();
        og.step();
      }
      // The L2 term rounds to float32 before the fused step (the CPU keeps it in double).
      const c = compare(pg.toArray(), pc.toArray(), 1e-6, 1e-5);
      expect(c.ok, c.msg).toBe(true);
    }
  });

  it('swavLoss, msnLoss and koleo: values and gradients (codes from the Sinkhorn kernel)', () => {
    const tol = { fwd: 1e-5, grad: 1e-4 };
    parity([r([37, 11], 32), r([37, 11], 33)], (a, b) => F.swavLoss(a, b), tol);
    parity([r([16, 9], 34), r([16, 9], 35)], (a, b) => F.swavLoss(a, b, { temperature: 0.2, prior: { powerLaw: 0.5 }, iterations: 5 }), tol);
    const q = [F.softmax(r([16, 9], 36), 1), F.softmax(r([16, 9], 37), 1)];
    parity([r([16, 9], 38), r([16, 9], 39)], (a, b) => F.swavLoss(a, b, { codes: [q[0].to(a.device), q[1].to(a.device)] }), tol);
    const anchor = F.softmax(r([26, 7], 40), 1), targ = F.softmax(r([13, 7], 41), 1);
    parity([anchor], (a) => F.msnLoss(a, targ.to(a.device)), tol);
    parity([anchor], (a) => F.msnLoss(a, targ.to(a.device), { temperature: 0.5, meMaxWeight: 0.3, prior: { powerLaw: 0.25 } }), tol);
    parity([anchor], (a) => F.msnLoss(a, targ.to(a.device), { sinkhorn: false }), tol);
    // Targets with exact zeros: their log-prob terms are skipped (no 0 * log 0 in the value or the gradient).
    const zeros = targ.mul(tensor([[1, 0, 1, 1, 0, 1, 1]]));
    parity([anchor], (a) => F.msnLoss(a, zeros.to(a.device), { sinkhorn: false }), tol);
    parity([r([37, 13], 42)], (x) => F.koleo(x), tol);
    parity([r([2, 3], 43)], (x) => F.koleo(x, { eps: 1e-4 }), tol);
    // Bad target values: RangeError naming the argument; a collective has no cuda path.
    const neg = targ.clone();
    (neg.data as Float32Array)[3] = -0.1;
    expect(expectThrows(() => F.msnLoss(anchor.to('cuda'), neg.to('cuda')), RangeError).message).toMatch(/msnLoss\(targetProbs\)/);
    const coll = { allReduceSum: (b: Float32Array) => b };
    expect(err(() => F.swavLoss(r([4, 3], 44).to('cuda'), r([4, 3], 45).to('cuda'), { collective: coll })).code).toBe('ERR_UNSUPPORTED');
    expect(err(() => F.msnLoss(anchor.to('cuda'), targ.to('cuda'), { collective: coll })).message).toMatch(/msnLoss\(options\.collective\)/);
    expect(err(() => F.swavLoss(r([4, 3], 44).to('cuda'), r([4, 3], 45))).code).toBe('ERR_DEVICE_MISMATCH');
  });

  it('embedding (paddingIdx gets no gradient) and indexSelect along any dim; bad indices name the position', () => {
    const idx = tensor([[3, 0, 3], [4, 1, 0]]).to('int32');
    parity([r([5, 6], 47)], (w) => embedding(idx.to(w.device), w));
    parity([r([5, 6], 48)], (w) => embedding(idx.to(w.device), w, { paddingIdx: 3 }));
    const sel = tensor([2, 0, 2, 1]).to('int32');
    for (const dim of [0, 1, 2]) parity([r([3, 4, 5], 49 + dim)], (x) => indexSelect(x, dim, sel.to(x.device)));
    parity([r([7], 52)], (x) => indexSelect(x, 0, sel.to(x.device)));
    const bad = tensor([[0, 1], [5, 2]]).to('int32');
    const cpuMsg = expectThrows(() => embedding(bad, r([5, 6], 53)), RangeError).message;
    expect(expectThrows(() => embedding(bad.to('cuda'), r([5, 6], 53).to('cuda')), RangeError).message).toBe(cpuMsg);
    expect(err(() => indexSelect(r([3, 4], 54).to('cuda'), 0, sel)).message).toMatch(/indexSelect\(index\)/);
  });

  it('the float32-only paths refuse bfloat16 with ERR_UNSUPPORTED naming op and argument', () => {
    const h = r([6, 4], 55).to('cuda').to('bfloat16');
    for (const [fn, name] of [[() => F.koleo(h), 'koleo(x)'], [() => F.swavLoss(h, h), 'swavLoss(scores1)'], [() => embedding(tensor([1]).to('int32').to('cuda'), h), 'embedding(weight)']] as const) {
      const e = err(fn);
      expect([e.code, e.message.includes(name)]).toEqual(['ERR_UNSUPPORTED', true]);
    }
  });
});

// A whole training step of each recipe (lib/train/recipes) on 'cuda' against the same step on the
// CPU: forward over the views (masks drawn on the host and uploaded), backward, an optimizer step
// with the recipe's weight decay, the EMA update. The step is SGD with momentum: Adam's first step
// is lr times the sign of each gradient, so a gradient that is analytically 0 (a linear bias
// before a BatchNorm) turns float noise into +-lr on either device; AdamW on cuda is checked on
// its own (test/cuda.test.ts, bit for bit).
describe.skipIf(!real)(`recipe steps on cuda (${onDevice ? 'the device' : 'the host stand-in'})`, () => {
  beforeAll(() => {
    if (!onDevice) setCudaBackendForTesting(mockCuda(real!));
  });
  afterAll(() => setCudaBackendForTesting(null));

  const ctx = { imageSize: 16, channels: 3, seed: 5, dtype: 'float32' as const, steps: 10, batch: 8, flags: {} };
  function step(name: string, device: 'cpu' | 'cuda', flags = {}): { loss: number; grads: Array<Float32Array | null>; params: Float32Array[] } {
    const recipe = RECIPES[name];
    const model = recipe.build({ ...ctx, flags });
    if (device === 'cuda') Object.values(model.modules).forEach((m) => m.to('cuda'));
    const views = Array.from({ length: model.views }, (_, v) => r([ctx.batch, 3, 16, 16], 100 + v).to(device));
    const opt = new optim.SGD(model.params, { lr: 0.05, momentum: 0.9, weightDecay: recipe.optimizer.weightDecay });
    const loss = model.loss(views, { step: 0, seed: 77 });
    loss.backward();
    const grads = model.params.map((p) => (p.grad ? (p.grad.toArray() as Float32Array) : null));
    opt.step();
    model.afterStep?.({ step: 0, seed: 77 });
    const all = Object.values(model.modules).flatMap((m) => m.parameters());
    return { loss: loss.item(), grads, params: all.map((p) => p.toArray() as Float32Array) };
  }

  const maxAbs = (v: Float32Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  /**
   * Each tensor within `rel` of its own largest magnitude plus `floor`: elementwise, a gradient
   * summed over the batch or one that is analytically 0 (a bias before a BatchNorm) is float noise.
   * Gradients get 3e-3 of their scale plus 1e-5 of the largest gradient of the model: a small one
   * formed by cancellation (the last LayerNorm's before the projector's BatchNorm, ~1e-3 or ~1e-6
   * beside gradients of ~1) carries the float32 rounding of the device's BatchNorm composition
   * (the CPU sums its statistics in double); a wrong formula is off by O(1).
   */
  const closeToScale = (what: string, got: Float32Array | null, want: Float32Array | null, rel: number, floor: number): void => {
    expect(got === null, `${what}: null on both devices`).toBe(want === null);
    if (!got || !want) return;
    const scale = maxAbs(want);
    let worst = 0;
    for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
    expect(worst, `${what}: max difference ${worst} at scale ${scale}`).toBeLessThanOrEqual(floor + rel * scale);
  };

  for (const [name, flags] of [...Object.keys(RECIPES).map((n) => [n, {}] as const), ['ijepa', { stochasticPositions: true }] as const]) {
    it(`${name}${Object.keys(flags).length ? ' (StoP)' : ''}: loss, gradients and the stepped parameters (online and EMA target) match the CPU step`, () => {
      const c = step(name, 'cpu', flags), g = step(name, 'cuda', flags);
      expect(Math.abs(g.loss - c.loss), `loss ${g.loss} vs ${c.loss}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(c.loss)));
      const top = Math.max(...c.grads.map((x) => (x ? maxAbs(x) : 0)));
      g.grads.forEach((p, i) => closeToScale(`gradient ${i}`, p, c.grads[i], 3e-3, 1e-5 * top));
      expect(g.params.length).toBe(c.params.length);
      g.params.forEach((p, i) => closeToScale(`parameter ${i}`, p, c.params[i], 1e-5, 1e-6));
    });
  }
});
