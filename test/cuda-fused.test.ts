/**
 * The fused families on cuda tensors (F.attention, F.infoNCE, F.vicreg & terms, F.barlowTwins,
 * F.sinkhorn, the token ops, the ViT `keep` path) against a host-memory stand-in for the device
 * (test/cuda-mock.ts: the CUDA build's exports unwrapped onto the CPU kernels). What this checks
 * is the JS side: routing, device outputs, autograd through the CUDA backward exports, the
 * arguments and options each export receives, and the bad-input errors. With a real device
 * (scripts/gpu-check.sh) the same checks run on the CUDA kernels, with looser tolerances; the
 * kernels themselves are also checked by native/tests/cuda_*_test.cu.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { F, SelfsupError, Tensor, backward, nn, randn, tensor } from '../lib/index';
import { tryNative } from '../lib/backends/native';
import { cuda, isAvailable, setCudaBackendForTesting } from '../lib/cuda';
import { mockCuda } from './cuda-mock';
import { expectThrows } from './helpers';
import { compare } from './ops/helpers';
import { HALF_ROWS, checkRowOnCuda, opDb } from './ops/cuda-parity';
import { workloads as attentionW } from '../bench/workloads/attention';
import { workloads as infoNCEW } from '../bench/workloads/info_nce';
import { workloads as vicregW } from '../bench/workloads/vicreg';
import { workloads as sinkhornW } from '../bench/workloads/sinkhorn';
import { workloads as tokensW } from '../bench/workloads/tokens';

const real = tryNative();
/** A real GPU: no stand-in; the kernels' summation orders and roundings differ from the CPU's. */
const device = isAvailable();
const F32_TOL = device ? { fwd: [2e-4, 2e-3], grad: [1e-3, 5e-3] } : { fwd: [1e-5, 1e-4], grad: [1e-5, 1e-4] };

type Outs = Tensor | Tensor[] | Record<string, Tensor>;
const list = (o: Outs): Tensor[] => (o instanceof Tensor ? [o] : Array.isArray(o) ? o : Object.values(o));

/**
 * Runs fn on cpu leaves and on their cuda copies (moved with the differentiable `to`, so the
 * gradients come back to cpu leaves), then compares every float output and, after a backward with
 * the same random cotangents, every leaf's gradient. `ints` are non-differentiable inputs (moved
 * too). Returns the two runs' outputs.
 */
function parity(
  fn: (xs: Tensor[], ints: Tensor[]) => Outs, xs: Tensor[], ints: Tensor[] = [],
  tol = F32_TOL, dtype: 'float32' | 'bfloat16' | 'float16' = 'float32',
): { cpu: Tensor[]; gpu: Tensor[] } {
  // For 16-bit runs the cpu reference gets the same rounded inputs.
  const round = (t: Tensor) => (dtype === 'float32' ? t : t.to('cuda').to(dtype).to('float32').cpu());
  const lc = xs.map((x) => round(x).clone().requiresGrad_());
  const lg = xs.map((x) => round(x).clone().requiresGrad_());
  const cpu = list(fn(lc, ints));
  const gpu = list(fn(lg.map((l) => (dtype === 'float32' ? l.to('cuda') : l.to('cuda').to(dtype))), ints.map((i) => i.to('cuda'))));
  expect(gpu.length).toBe(cpu.length);
  gpu.forEach((g, k) => {
    expect(g.device, `output ${k} device`).toBe('cuda');
    expect(g.shape).toEqual(cpu[k].shape);
    const c = compare(g.toArray(), cpu[k].toArray(), tol.fwd[0], tol.fwd[1]);
    expect(c.ok, `output ${k}: ${c.msg}`).toBe(true);
  });
  const diff = cpu.map((c, k) => [c, gpu[k]] as const).filter(([c]) => c.requiresGrad);
  if (diff.length) {
    const cots = diff.map(([c], k) => randn(c.shape, { seed: 500 + k }));
    backward(diff.map(([c]) => c), cots);
    backward(diff.map(([, g]) => g), diff.map(([, g], k) => cots[k].to('cuda').to(g.dtype)));
    lc.forEach((l, i) => {
      expect(lg[i].grad === null, `leaf ${i} has a gradient on cuda iff on cpu`).toBe(l.grad === null);
      if (!l.grad) return;
      const c = compare(lg[i].grad!.toArray(), l.grad.toArray(), tol.grad[0], tol.grad[1]);
      expect(c.ok, `leaf ${i} gradient: ${c.msg}`).toBe(true);
    });
  }
  return { cpu, gpu };
}

function code(fn: () => unknown, pattern: RegExp): string {
  return (expectThrows(fn, SelfsupError, pattern) as SelfsupError).code;
}

describe.skipIf(!real)(`fused families on cuda tensors (${device ? 'a CUDA device' : 'host stand-in'})`, () => {
  beforeAll(() => {
    if (!device) setCudaBackendForTesting(mockCuda(real!));
  });
  afterAll(() => setCudaBackendForTesting(null));

  describe('F.attention', () => {
    it('GQA, causal with Nq != Nk, lse, float32: values and gradients match the cpu', () => {
      const q = randn([2, 4, 7, 33], { seed: 1 }), k = randn([2, 2, 11, 33], { seed: 2 }), v = randn([2, 2, 11, 33], { seed: 3 });
      parity(([a, b, c]) => F.attention(a, b, c, { causal: true, returnLse: true }), [q, k, v]);
      parity(([a, b, c]) => F.attention(a, b, c, { scale: 0.3 }), [q, k, v]);
    });

    it('bool key-padding, per-query bool and additive masks (on cuda too)', () => {
      const q = randn([2, 2, 5, 16], { seed: 4 }), k = randn([2, 2, 9, 16], { seed: 5 }), v = randn([2, 2, 9, 16], { seed: 6 });
      const pad = tensor(Array.from({ length: 18 }, (_, i) => (i % 9 < 6 ? 1 : 0)), [2, 9], { dtype: 'bool' });
      parity(([a, b, c], [m]) => F.attention(a, b, c, { mask: m, returnLse: true }), [q, k, v], [pad]);
      const perQuery = tensor(Array.from({ length: 45 }, (_, i) => (i % 9 <= Math.floor(i / 9) + 2 ? 1 : 0)), [1, 1, 5, 9], { dtype: 'bool' });
      parity(([a, b, c], [m]) => F.attention(a, b, c, { mask: m }), [q, k, v], [perQuery]);
      const add = randn([5, 9], { seed: 7 });
      parity(([a, b, c], [m]) => F.attention(a, b, c, { mask: m }), [q, k, v], [add]);
    });

    it('dropout: the same seed gives the cpu keep pattern (seed and p reach the kernel)', () => {
      const q = randn([1, 2, 6, 8], { seed: 8 }), k = randn([1, 2, 10, 8], { seed: 9 }), v = randn([1, 2, 10, 8], { seed: 10 });
      const { cpu, gpu } = parity(([a, b, c]) => F.attention(a, b, c, { dropout: 0.3, seed: 1234 }), [q, k, v]);
      const other = F.attention(q.to('cuda'), k.to('cuda'), v.to('cuda'), { dropout: 0.3, seed: 99 });
      expect(compare(other.toArray(), cpu[0].toArray(), 1e-5, 1e-4).ok).toBe(false);
      expect(gpu[0].device).toBe('cuda');
    });

    it('bfloat16 and float16 inputs; the lse is float32', () => {
      const q = randn([1, 3, 9, 64], { seed: 11 }), k = randn([1, 1, 13, 64], { seed: 12 }), v = randn([1, 1, 13, 64], { seed: 13 });
      for (const dt of ['bfloat16', 'float16'] as const) {
        // Same rounded inputs on both sides; the device output is rounded once more.
        // On a device P and dS are rounded too (docs/cuda.md's kernel tolerances).
        const m = device ? 3 : 1;
        const tol = dt === 'bfloat16' ? { fwd: [2e-2 * m, 2e-2 * m], grad: [3e-2 * m, 3e-2 * m] } : { fwd: [3e-3 * m, 3e-3 * m], grad: [5e-3 * m, 5e-3 * m] };
        parity(([a, b, c]) => {
          const r = F.attention(a, b, c, { causal: true, returnLse: true });
          if (a.device === 'cuda') {
            expect(r.out.dtype).toBe(dt);
            expect(r.lse.dtype).toBe('float32');
          }
          return [r.out.to('float32'), r.lse];
        }, [q, k, v], [], tol, dt);
      }
    });

    it("the op table's attention rows in bfloat16 and float16 (the GPU parity block's half rows)", () => {
      expect(HALF_ROWS.has('attention')).toBe(true);
      for (const row of opDb.filter((r) => r.name === 'attention')) {
        for (const dt of ['bfloat16', 'float16'] as const) expect(checkRowOnCuda(row, dt)).toBe('ran');
      }
    });

    it('bad input: device mix, mask dtype, float64', () => {
      const q = randn([1, 1, 3, 4]).to('cuda'), k = randn([1, 1, 3, 4]);
      expect(code(() => F.attention(q, k, k.to('cuda')), /attention\(k\)/)).toBe('ERR_DEVICE_MISMATCH');
      const cpuMask = tensor([1, 1, 0], [1, 3], { dtype: 'bool' });
      expect(code(() => F.attention(q, q, q, { mask: cpuMask }), /attention\(options\.mask\).*on 'cpu'/)).toBe('ERR_DEVICE_MISMATCH');
      const halfMask = randn([3, 3]).to('cuda').to('bfloat16');
      expect(code(() => F.attention(q, q, q, { mask: halfMask }), /attention\(options\.mask\)/)).toBe('ERR_DTYPE_MISMATCH');
      expect(() => randn([1, 1, 3, 4], { dtype: 'float64' }).to('cuda')).toThrow(/float64/);
      const wide = randn([1, 1, 2, 257]).to('cuda');
      expect(code(() => F.attention(wide, wide, wide), /head dim <= 256.*attention\(q\).*d = 257/)).toBe('ERR_UNSUPPORTED');
    });
  });

  describe('F.infoNCE', () => {
    it('both / oneWay, decoupled, labels, a bank of negatives, every reduction', () => {
      const z1 = randn([13, 37], { seed: 20 }), z2 = randn([13, 37], { seed: 21 }), bank = randn([5, 37], { seed: 22 });
      const labels = tensor(Array.from({ length: 13 }, (_, i) => i % 4), [13], { dtype: 'int32' });
      const cases: Array<[string, (x: Tensor[], i: Tensor[]) => Tensor]> = [
        ['default', ([a, b]) => F.infoNCE(a, b)],
        ['oneWay sum, tau 0.05, no normalize', ([a, b]) => F.infoNCE(a, b, { direction: 'oneWay', reduction: 'sum', temperature: 0.05, normalize: false })],
        ['decoupled none', ([a, b]) => F.infoNCE(a, b, { decoupled: true, reduction: 'none' })],
        ['labels + negatives', ([a, b], [l, g]) => F.infoNCE(a, b, { labels: l, negatives: g })],
        ['labels decoupled oneWay', ([a, b], [l]) => F.infoNCE(a, b, { labels: l, decoupled: true, direction: 'oneWay' })],
      ];
      for (const [, fn] of cases) parity(fn, [z1, z2], [labels, bank]);
    });

    it('bad input: device mix, bfloat16, all-equal labels with decoupled', () => {
      const a = randn([4, 3]).to('cuda');
      expect(code(() => F.infoNCE(a, randn([4, 3])), /infoNCE\(z2\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.infoNCE(a, a, { labels: tensor([0, 1, 0, 1], [4], { dtype: 'int32' }) }), /infoNCE\(options\.labels\).*on 'cpu'/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.infoNCE(a, a, { negatives: randn([2, 3]) }), /infoNCE\(options\.negatives\)/)).toBe('ERR_DEVICE_MISMATCH');
      const h = a.to('bfloat16');
      expect(code(() => F.infoNCE(h, h), /float32 CUDA kernels only.*infoNCE\(z1\)/)).toBe('ERR_UNSUPPORTED');
      const same = tensor([1, 1, 1, 1], [4], { dtype: 'int32' }).to('cuda');
      expect(() => F.infoNCE(a, a, { labels: same, decoupled: true })).toThrow(/infoNCE\(options\.decoupled\)/);
    });
  });

  describe('F.vicreg, its terms, F.barlowTwins', () => {
    it('both covariance paths at awkward shapes; all four outputs differentiable', () => {
      const x = randn([7, 19], { seed: 30 }), y = randn([7, 19], { seed: 31 }).mul(0.5);
      const tall = [randn([23, 5], { seed: 32 }), randn([23, 5], { seed: 33 })];
      for (const covPath of ['auto', 'gram', 'direct'] as const) {
        parity(([a, b]) => F.vicreg(a, b, { covPath, simCoeff: 3, eps: 1e-3 }), [x, y]);
        parity(([a, b]) => F.vicreg(a, b, { covPath }), tall);
        parity(([a]) => [F.varianceLoss(a, { eps: 1e-3 }), F.covarianceLoss(a, { covPath })], [x]);
        parity(([a, b]) => F.barlowTwins(a, b, { covPath, lambda: 0.02 }), [x, y]);
        parity(([a, b]) => F.barlowTwins(a, b, { covPath }), tall);
      }
    });

    it('bad input: device mix, float16', () => {
      const a = randn([4, 3]).to('cuda');
      expect(code(() => F.vicreg(a, randn([4, 3])), /vicreg\(y\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.barlowTwins(randn([4, 3]), a), /barlowTwins\(z2\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.varianceLoss(a.to('float16')), /float32 CUDA kernels only.*varianceLoss\(x\)/)).toBe('ERR_UNSUPPORTED');
      expect(code(() => F.barlowTwins(a.to('bfloat16'), a.to('bfloat16')), /barlowTwins\(z1\)/)).toBe('ERR_UNSUPPORTED');
    });
  });

  describe('F.sinkhorn', () => {
    it('logits and probs, priors, row marginals, tolerance: plans and info match the cpu', () => {
      const scores = randn([29, 11], { seed: 40 });
      const probs = scores.softmax(-1);
      const prior = tensor(Array.from({ length: 11 }, (_, k) => 1 / (k + 1)), [11]);
      const rows = tensor(Array.from({ length: 29 }, (_, b) => 1 + (b % 3)), [29]);
      const run = (s: Tensor, o: object) => {
        const c = F.sinkhorn(s, { ...o, returnInfo: true });
        const on = (t: unknown) => (t instanceof Tensor ? t.to('cuda') : t);
        const g = F.sinkhorn(s.to('cuda'), { ...Object.fromEntries(Object.entries(o).map(([k, v]) => [k, on(v)])), returnInfo: true });
        expect(g.plan.device).toBe('cuda');
        expect(g.plan.requiresGrad).toBe(false);
        const cmp = compare(g.plan.toArray(), c.plan.toArray(), device ? 1e-5 : 1e-6, device ? 1e-4 : 1e-5);
        expect(cmp.ok, cmp.msg).toBe(true);
        // A device's sums may cross the tolerance one iteration apart.
        expect(Math.abs(g.iterations - c.iterations)).toBeLessThanOrEqual(device ? 1 : 0);
        expect(g.marginalError).toBeCloseTo(c.marginalError, device ? 5 : 9);
      };
      run(scores, {});
      run(scores, { epsilon: 0.3, iterations: 7, prior: { powerLaw: 0.25 } });
      run(scores, { epsilon: 0.2, tolerance: 1e-6, prior, rowMarginal: rows });
      run(probs, { input: 'probs', iterations: 5 });
      const plain = F.sinkhorn(scores.to('cuda'));
      expect(plain).toBeInstanceOf(Tensor);
      expect(plain.shape).toEqual([29, 11]);
    });

    it('bad input: device mix, bfloat16, a collective', () => {
      const s = randn([4, 3]).to('cuda');
      expect(code(() => F.sinkhorn(s, { prior: tensor([1, 2, 3]) }), /sinkhorn\(options\.prior\).*on 'cpu'/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.sinkhorn(randn([4, 3]), { rowMarginal: tensor([1, 1, 1, 1]).to('cuda') }), /sinkhorn\(options\.rowMarginal\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.sinkhorn(s.to('bfloat16')), /sinkhorn\(scores\)/)).toBe('ERR_UNSUPPORTED');
      expect(code(() => F.sinkhorn(s, { collective: { allReduceSum: () => undefined } }), /sinkhorn\(options\.collective\)/)).toBe('ERR_UNSUPPORTED');
    });
  });

  describe('token ops', () => {
    // B = 3, N = 11, K = 5: unique indices per row; lengths make row 1 ragged.
    const idx = tensor([0, 4, 7, 10, 2, 3, 9, 1, 6, 5, 8, 1, 0, 6, 3], [3, 5], { dtype: 'int32' });
    const lengths = tensor([5, 2, 4], [3], { dtype: 'int32' });

    it('gatherTokens: per-batch and shared x, fused positions, ragged lengths', () => {
      const x = randn([3, 11, 13], { seed: 50 }), table = randn([11, 13], { seed: 51 }), pos = randn([11, 13], { seed: 52 });
      parity(([a, p], [i]) => F.gatherTokens(a, i, { addPositions: p }), [x, pos], [idx]);
      parity(([a], [i, l]) => F.gatherTokens(a, i, { lengths: l }), [x], [idx, lengths]);
      parity(([t], [i, l]) => F.gatherTokens(t, i, { lengths: l }), [table], [idx, lengths]);
    });

    it('scatterTokens: zeros or a mask token, ragged lengths', () => {
      const src = randn([3, 5, 7], { seed: 53 }), token = randn([7], { seed: 54 });
      parity(([s], [i]) => F.scatterTokens(s, i, 11), [src], [idx]);
      parity(([s, m], [i, l]) => F.scatterTokens(s, i, 11, { maskToken: m, lengths: l }), [src, token], [idx, lengths]);
    });

    it('stochasticPositions: the same seed gives the same noise; gradients to pos, weight and bias', () => {
      const pos = randn([11, 6], { seed: 55 }), w = randn([6, 4], { seed: 56 }), b = randn([6], { seed: 57 });
      parity(([p, W, B], [i, l]) => F.stochasticPositions(p, i, { projection: { weight: W, bias: B }, seed: 77, std: 0.5, lengths: l }), [pos, w, b], [idx, lengths]);
      const { cpu, gpu } = parity(([p, W], [i]) => {
        const r = F.stochasticPositions(p, i, { projection: { weight: W }, seed: 5, materializeNoise: true });
        return [r.out, r.noise];
      }, [pos, w], [idx]);
      expect(gpu[1].device).toBe('cuda');
      expect(compare(gpu[1].toArray(), cpu[1].toArray(), 0, 0).ok).toBe(true);
    });

    it('bad input: a cpu index with cuda values, an index out of range, float16, cpu lengths', () => {
      const x = randn([3, 11, 4]).to('cuda');
      expect(code(() => F.gatherTokens(x, idx), /gatherTokens\(idx\).*on 'cpu'/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.scatterTokens(randn([3, 5, 4]).to('cuda'), idx, 11), /scatterTokens\(idx\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.gatherTokens(x, idx.to('cuda'), { lengths }), /gatherTokens\(options\.lengths\)/)).toBe('ERR_DEVICE_MISMATCH');
      expect(code(() => F.gatherTokens(x.to('float16'), idx.to('cuda')), /gatherTokens\(x\)/)).toBe('ERR_UNSUPPORTED');
      const pos = randn([11, 4]).to('cuda');
      expect(code(() => F.stochasticPositions(pos, idx.to('cuda'), { projection: { weight: randn([4, 2]) } }), /options\.projection\.weight/)).toBe('ERR_DEVICE_MISMATCH');
      // Indices are checked by the kernel (on the device on a GPU): the message names idx, row and position.
      const bad = tensor([0, 1, 11, 2], [2, 2], { dtype: 'int32' }).to('cuda');
      expect(() => F.gatherTokens(randn([2, 11, 4]).to('cuda'), bad)).toThrow(/idx.*batch row 1, position 0/);
    });
  });

  it("the bench's --device cuda rows build cuda tensors and run the wired ops", () => {
    const all = [attentionW, infoNCEW, vicregW, sinkhornW, tokensW].flat();
    // The masks are made on the host (no device op): no cuda row.
    for (const w of all.filter((x) => x.op !== 'masks' && (x.quick || x.op === 'stop'))) {
      expect(w.autograd, `${w.op} ${w.name} has a cuda run`).toBeDefined();
      const before = cuda.memoryStats().allocatedBytes;
      const inst = w.autograd!({ dtype: 'float32', seed: 0, device: 'cuda' });
      expect(cuda.memoryStats().allocatedBytes, `${w.op} ${w.name}: inputs on the device`).toBeGreaterThan(before);
      for (const mode of w.modes) inst.run(mode);
    }
  });
});
