/**
 * Sinkhorn-Knopp (SwAV / MSN / PMSN): what the op table cannot say. Native vs the float64
 * reference at the same iteration count, the fused-vs-naive float32 error bound, marginals after
 * convergence (uniform and power-law priors), the epsilon = 1e-3 stability case where SwAV's exp
 * form overflows, the collective hook, async forms, the losses and their gradients, and errors.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { nativeAddonPath } from '../lib/backends/native';
import { msnLoss, sinkhorn as Fsinkhorn, swavLoss } from '../lib/ops/sinkhorn';
import { Tensor } from '../lib/index';
import { gradcheck } from '../lib/autograd/gradcheck';
import { msnLossKernel, priorMarginal, sinkhorn, sinkhornAsync, swavLossKernel } from '../lib/kernels/sinkhorn';
import { refMsnLoss, refSharpen, refSinkhorn, refSinkhornExp, refSwavLoss } from '../lib/backends/reference-sinkhorn';
import { tryNative, useReference } from '../lib/backends/native';
import { SelfsupError } from '../lib/errors';
import { getNumThreads, setNumThreads } from '../lib/info';
import { mulberry32 } from './ops/helpers';
import { expectThrows } from './helpers';

function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r() || 0.25;
  return a;
}
function probsRows(B: number, K: number, seed: number): Float32Array {
  const a = uniform(B * K, seed, 0.05, 1);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[b * K + k];
    for (let k = 0; k < K; k++) a[b * K + k] /= s;
  }
  return a;
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  return m;
}
/** Column sums of the plan (out[b,k] * r_b) and row sums of out. */
function marginals(out: ArrayLike<number>, B: number, K: number, r?: ArrayLike<number>): { cols: Float64Array; rows: Float64Array } {
  const cols = new Float64Array(K), rows = new Float64Array(B);
  let rs = 0;
  if (r) for (let b = 0; b < B; b++) rs += r[b];
  for (let b = 0; b < B; b++) {
    const rb = r ? r[b] / rs : 1 / B;
    for (let k = 0; k < K; k++) {
      cols[k] += out[b * K + k] * rb;
      rows[b] += out[b * K + k];
    }
  }
  return { cols, rows };
}

const ref = (S: Float32Array, B: number, K: number, o: Partial<Parameters<typeof refSinkhorn>[1]> = {}) =>
  refSinkhorn(S, { B, K, probs: false, epsilon: 0.05, iterations: 3, tolerance: 0, col: new Float64Array(K).fill(1 / K), row: null, wantError: true, ...o });

describe('sinkhorn kernel vs float64 reference', () => {
  const shapes: Array<[number, number]> = [[113, 59], [7, 1], [1, 5], [64, 257], [3, 8]];
  for (const [B, K] of shapes) {
    it(`logits ${B}x${K}, 3 iterations, within 2x of the naive float32 exp form`, () => {
      const S = uniform(B * K, B * 31 + K, -1, 1);
      const r = sinkhorn(S, [B, K], { returnInfo: true });
      const want = ref(S, B, K);
      const naive = refSinkhornExp(S, B, K, 0.05, 3, Math.fround);
      const exact = refSinkhornExp(S, B, K, 0.05, 3);
      expect(maxRel(exact, want.out)).toBeLessThan(1e-12); // same algorithm as SwAV's, in log domain
      const errOurs = maxRel(r.out, want.out), errNaive = maxRel(naive, want.out);
      expect(errOurs).toBeLessThanOrEqual(Math.max(2 * errNaive, 4e-7));
      expect(r.iterations).toBe(3);
      expect(Math.abs(r.marginalError - want.marginalError)).toBeLessThan(1e-5);
    });
  }
  it('probs input, power-law prior and a row marginal match the reference', () => {
    const B = 37, K = 23;
    const P = probsRows(B, K, 5);
    const row = Float64Array.from(uniform(B, 6, 0.5, 2));
    for (const prior of ['uniform', { powerLaw: 0.25 }, Float64Array.from(uniform(K, 7, 0.1, 1))] as const) {
      const r = sinkhorn(P, [B, K], { input: 'probs', prior, rowMarginal: row, iterations: 5, returnInfo: true });
      const want = ref(P, B, K, { probs: true, iterations: 5, col: priorMarginal(prior, K), row });
      expect(maxRel(r.out, want.out)).toBeLessThan(2e-5);
      const rl = sinkhorn(uniform(B * K, 8, -2, 2), [B, K], { prior, rowMarginal: row, iterations: 4, epsilon: 0.1 });
      const wl = ref(uniform(B * K, 8, -2, 2), B, K, { epsilon: 0.1, iterations: 4, col: priorMarginal(prior, K), row });
      expect(maxRel(rl.out, wl.out)).toBeLessThan(2e-5);
    }
  });
  it('iterations 0 is the row softmax; float64 input runs the float64 reference', () => {
    const B = 5, K = 9, S = uniform(B * K, 9, -1, 1);
    const r = sinkhorn(S, [B, K], { iterations: 0 });
    expect(maxRel(r.out, ref(S, B, K, { iterations: 0 }).out)).toBeLessThan(1e-5);
    const r64 = sinkhorn(Float64Array.from(S), [B, K], { iterations: 3 });
    expect(r64.out).toBeInstanceOf(Float64Array);
    expect(maxRel(r64.out, ref(S, B, K).out)).toBeLessThan(1e-13);
  });
});

describe('sinkhorn marginals and stability', () => {
  it('marginals match to 1e-5 after convergence (uniform and power-law priors)', () => {
    const B = 200, K = 50;
    const S = uniform(B * K, 11, -1, 1);
    for (const prior of ['uniform', { powerLaw: 0.25 }, { powerLaw: 1 }] as const) {
      const r = sinkhorn(S, [B, K], { tolerance: 1e-7, prior, epsilon: 0.05 });
      expect(r.marginalError).toBeLessThan(1e-7);
      expect(r.iterations).toBeLessThan(1000);
      const c = priorMarginal(prior, K);
      const { cols, rows } = marginals(r.out, B, K);
      for (let k = 0; k < K; k++) expect(Math.abs(cols[k] - c[k])).toBeLessThan(1e-5);
      for (let b = 0; b < B; b++) expect(Math.abs(rows[b] - 1)).toBeLessThan(1e-5);
      if (typeof prior === 'object') expect(cols[0] / cols[K - 1]).toBeCloseTo(Math.pow(K, prior.powerLaw), 3);
    }
  });
  it('epsilon 1e-3 with |scores| ~ 100 stays finite where the exp form gives Inf/NaN', () => {
    const B = 48, K = 40;
    const S = uniform(B * K, 12, -100, 100);
    const naive = refSinkhornExp(S, B, K, 1e-3, 3); // float64 exp form: exp(1e5) = Inf
    expect(naive.some((v) => !Number.isFinite(v))).toBe(true);
    const r = sinkhorn(S, [B, K], { epsilon: 1e-3, iterations: 3, returnInfo: true });
    expect(r.out.every((v) => Number.isFinite(v))).toBe(true);
    const want = ref(S, B, K, { epsilon: 1e-3, iterations: 3 });
    // S/eps ~ 1e5 carries float32 rounding of ~1e-2 in the exponent: compare the marginals.
    const { rows } = marginals(r.out, B, K);
    for (let b = 0; b < B; b++) expect(Math.abs(rows[b] - 1)).toBeLessThan(1e-5);
    expect(Math.abs(r.marginalError - want.marginalError)).toBeLessThan(2e-2);
    // Sinkhorn converges slowly at eps 1e-3 (a near-assignment problem): after 200 iterations the
    // marginal error must track the float64 log-domain reference's, not blow up.
    const long = sinkhorn(S, [B, K], { epsilon: 1e-3, iterations: 200, returnInfo: true });
    const wantLong = ref(S, B, K, { epsilon: 1e-3, iterations: 200 });
    expect(long.out.every((v) => Number.isFinite(v))).toBe(true);
    expect(Math.abs(long.marginalError - wantLong.marginalError)).toBeLessThan(1e-3);
  });
  it('rows with a range beyond the float exponent (S/eps spans ~200) match the reference normwise', () => {
    const B = 64, K = 96;
    const S = uniform(B * K, 18, -5, 5);
    for (const iterations of [3, 20]) {
      const r = sinkhorn(S, [B, K], { iterations, returnInfo: true });
      const want = ref(S, B, K, { iterations });
      let e = 0, m = 0;
      for (let i = 0; i < B * K; i++) {
        e = Math.max(e, Math.abs(r.out[i] - want.out[i]));
        m = Math.max(m, Math.abs(want.out[i]));
      }
      expect(e / m).toBeLessThan(1e-4);
      expect(Math.abs(r.marginalError - want.marginalError)).toBeLessThan(1e-4);
    }
  });
  it('results are bit-identical whatever the thread count (fixed row chunks, fixed merge order)', () => {
    // The native kernel runs one parallel region whose sweeps any thread may pick up chunk by
    // chunk (native/ops/sinkhorn/cpu.cc): the values must not depend on who ran what.
    const before = getNumThreads();
    const cases: Array<[number, number, number, number, number]> = [
      // B, K, epsilon, scale, iterations: SwAV-like, an odd K with row groups cut by the flush,
      // the eps 1e-3 regime (underflow fallbacks), and more chunks than rows per chunk.
      [256, 1000, 0.05, 1, 3], [301, 59, 0.05, 1, 7], [48, 40, 1e-3, 100, 20], [9, 3001, 0.05, 1, 3],
    ];
    try {
      for (const [B, K, epsilon, scale, iterations] of cases) {
        const S = uniform(B * K, 40 + K, -scale, scale);
        const run = (n: number) => {
          setNumThreads(n);
          return sinkhorn(S, [B, K], { epsilon, iterations, returnInfo: true });
        };
        const one = run(1);
        for (const n of [2, 3]) {
          const r = run(n);
          expect(r.iterations).toBe(one.iterations);
          expect(r.marginalError).toBe(one.marginalError);
          expect(Buffer.compare(Buffer.from(r.out.buffer), Buffer.from(one.out.buffer))).toBe(0);
        }
      }
    } finally {
      setNumThreads(before);
    }
  });
  it('F.sinkhorn returns a tensor without grad, or { plan, iterations, marginalError }', () => {
    const s = new Tensor(uniform(30, 13, -1, 1), [6, 5], { requiresGrad: true });
    const q = Fsinkhorn(s);
    expect(q.requiresGrad).toBe(false);
    expect(q.shape).toEqual([6, 5]);
    const info = Fsinkhorn(s, { tolerance: 1e-6, returnInfo: true, prior: new Tensor(Float32Array.of(1, 2, 3, 4, 5), [5]) });
    expect(info.plan.shape).toEqual([6, 5]);
    expect(info.marginalError).toBeLessThan(1e-6);
  });
});

describe('sinkhorn collective hook', () => {
  it('a 2-process all-reduce over identical halves equals one process on the doubled batch', () => {
    const B = 21, K = 13, S = uniform(B * K, 14, -1, 1);
    const doubled = new Float32Array(2 * B * K);
    doubled.set(S);
    doubled.set(S, B * K);
    let calls = 0;
    const collective = { allReduceSum: (buf: Float32Array) => { calls++; for (let i = 0; i < buf.length; i++) buf[i] *= 2; } };
    for (const input of ['logits', 'probs'] as const) {
      const X = input === 'probs' ? probsRows(B, K, 15) : S;
      const X2 = new Float32Array(2 * B * K);
      X2.set(X);
      X2.set(X, B * K);
      const a = sinkhorn(X, [B, K], { input, collective, returnInfo: true, prior: { powerLaw: 0.5 } });
      const b = sinkhorn(X2, [2 * B, K], { input, returnInfo: true, prior: { powerLaw: 0.5 } });
      expect(maxRel(a.out, b.out.subarray(0, B * K))).toBeLessThan(1e-5);
      expect(Math.abs(a.marginalError - b.marginalError)).toBeLessThan(1e-6);
    }
    expect(calls).toBeGreaterThan(3);
    // a returned array is used too; a throwing hook surfaces as a JS error, nothing crashes
    const ret = sinkhorn(S, [B, K], { collective: { allReduceSum: (buf) => buf.map((v) => 2 * v) } });
    expect(maxRel(ret.out, sinkhorn(doubled, [2 * B, K]).out.subarray(0, B * K))).toBeLessThan(1e-5);
    expect(() => sinkhorn(S, [B, K], { collective: { allReduceSum: () => { throw new Error('boom'); } } })).toThrow('boom');
  });
});

// Two worker threads, each with its own half of the batch, summing through a SharedArrayBuffer
// all-reduce (a stand-in for torch.distributed): must equal one process on the whole batch.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const addon = require(workerData.addon);
const { rank, B, K, probs, scores, sab } = workerData;
const ctl = new Int32Array(sab, 0, 4);          // [arrived, generation]
const data = new Float64Array(sab, 16);         // 2 slots of up to 2K + 8 numbers
const slot = 2 * K + 8;
let gen = 0;
function barrier() {
  gen++;
  if (Atomics.add(ctl, 0, 1) === 1) { Atomics.store(ctl, 0, 0); Atomics.store(ctl, 1, gen); Atomics.notify(ctl, 1); }
  else while (Atomics.load(ctl, 1) < gen) Atomics.wait(ctl, 1, gen - 1, 1000);
}
const allReduceSum = (buf) => {
  for (let i = 0; i < buf.length; i++) data[rank * slot + i] = buf[i];
  barrier();
  for (let i = 0; i < buf.length; i++) buf[i] = Math.fround(data[i]) + Math.fround(data[slot + i]);
  barrier();
};
const out = new Float32Array(B * K);
const col = new Float64Array(K).map((_, k) => Math.pow(k + 1, -0.5));
const info = addon.sinkhorn(scores, out, { B, K, probs, epsilon: 0.05, iterations: 4, tolerance: 0, colMarginal: col, rowMarginal: null, wantError: true, allReduceSum });
parentPort.postMessage({ out, info });
`;

describe('sinkhorn collective across worker threads', () => {
  it.skipIf(useReference() || !tryNative())('two ranks with different halves equal one process on the whole batch', async () => {
    const B = 19, K = 11;
    for (const probs of [false, true]) {
      const full = probs ? probsRows(2 * B, K, 30) : uniform(2 * B * K, 31, -1, 1);
      const sab = new SharedArrayBuffer(16 + 8 * 2 * (2 * K + 8));
      const run = (rank: number) => new Promise<{ out: Float32Array; info: { marginalError: number } }>((resolve, reject) => {
        const w = new Worker(WORKER, { eval: true, workerData: { addon: nativeAddonPath(), rank, B, K, probs, scores: full.slice(rank * B * K, (rank + 1) * B * K), sab } });
        w.once('message', (m) => { resolve(m); void w.terminate(); });
        w.once('error', reject);
      });
      const [a, b] = await Promise.all([run(0), run(1)]);
      const col = new Float64Array(K).map((_, k) => Math.pow(k + 1, -0.5));
      const one = sinkhorn(full, [2 * B, K], { input: probs ? 'probs' : 'logits', iterations: 4, prior: col, returnInfo: true });
      expect(maxRel(a.out, one.out.subarray(0, B * K))).toBeLessThan(2e-5);
      expect(maxRel(b.out, one.out.subarray(B * K))).toBeLessThan(2e-5);
      expect(Math.abs(a.info.marginalError - one.marginalError)).toBeLessThan(1e-5);
      expect(a.info.marginalError).toBe(b.info.marginalError);
    }
  });
});

describe('sinkhorn async and native checks', () => {
  it('sinkhornAsync matches the sync form and rejects a collective', async () => {
    const B = 33, K = 17, S = uniform(B * K, 16, -1, 1);
    const a = await sinkhornAsync(S, [B, K], { iterations: 4 });
    const b = sinkhorn(S, [B, K], { iterations: 4 });
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
    await expect(sinkhornAsync(S, [B, K], { collective: { allReduceSum: () => undefined } })).rejects.toThrow(SelfsupError);
  });
  it.skipIf(useReference() || !tryNative())('the native binding rejects bad arguments without crashing', () => {
    const fn = tryNative()!.sinkhorn as (...a: unknown[]) => unknown;
    const S = new Float32Array(6), out = new Float32Array(6), col = Float64Array.of(0.5, 0.5);
    const o = (over: Record<string, unknown> = {}) => ({
      B: 3, K: 2, probs: false, epsilon: 0.05, iterations: 3, tolerance: 0, colMarginal: col, rowMarginal: null, wantError: false, ...over,
    });
    expect(() => fn(S, out, o())).not.toThrow();
    expect(() => fn(S, out, o({ B: 4 }))).toThrow(/for scores/);
    expect(() => fn(S, out, o({ epsilon: 0 }))).toThrow(/for epsilon/);
    expect(() => fn(S, out, o({ colMarginal: Float64Array.of(1) }))).toThrow(/for colMarginal/);
    expect(() => fn(S, out, o({ colMarginal: Float64Array.of(-1, 2) }))).toThrow(/for prior/);
    expect(() => fn(S, out, o({ rowMarginal: Float64Array.of(1) }))).toThrow(/for rowMarginal/);
    expect(() => fn(S, S, o())).toThrow(/for out/);
    expect(() => fn(Float32Array.of(1, NaN, 0, 0, 0, 0), out, o())).toThrow(/for scores but received NaN at index 1/);
    expect(() => fn(Float32Array.of(1, -1, 1, 1, 1, 1), out, o({ probs: true }))).toThrow(/for scores but received -1 at index 1/);
    expect(() => fn(S, out, o({ allReduceSum: 'x' }))).toThrow(TypeError);
    expect(() => fn(S, out)).toThrow(/Expected an options object for options but received undefined/);
  });
});

describe('sinkhorn argument errors', () => {
  const S = uniform(12, 17, -1, 1);
  const cases: Array<[string, () => unknown, new (...a: never[]) => Error, RegExp]> = [
    ['K < 1', () => sinkhorn(new Float32Array(0), [4, 0]), RangeError, /K >= 1 for scores but received \[4, 0\]/],
    ['prior of wrong length', () => sinkhorn(S, [3, 4], { prior: Float64Array.of(1, 2, 3) }), SelfsupError, /length K = 4 for options.prior but received length 3/],
    ['negative prior', () => sinkhorn(S, [3, 4], { prior: Float64Array.of(1, -2, 3, 4) }), RangeError, /non-negative entries for options.prior but received -2 at index 1/],
    ['non-normalizable prior', () => sinkhorn(S, [3, 4], { prior: new Float64Array(4) }), RangeError, /normalizable prior .* for options.prior but received a sum of 0/],
    ['bad power law', () => sinkhorn(S, [3, 4], { prior: { powerLaw: -1 } }), RangeError, /for options.prior.powerLaw/],
    ['epsilon 0', () => sinkhorn(S, [3, 4], { epsilon: 0 }), RangeError, /> 0 for options.epsilon but received 0/],
    ['epsilon < 0', () => sinkhorn(S, [3, 4], { epsilon: -1 }), RangeError, /for options.epsilon but received -1/],
    ['non-finite scores', () => sinkhorn(Float32Array.of(1, Infinity, 0, 0), [2, 2]), RangeError, /for scores but received Infinity at index 1/],
    ['F: epsilon', () => Fsinkhorn(new Tensor(S, [3, 4]), { epsilon: 0 }), RangeError, /for sinkhorn\(options.epsilon\)/],
    ['F: prior tensor length', () => Fsinkhorn(new Tensor(S, [3, 4]), { prior: new Tensor(Float32Array.of(1, 2), [2]) }), SelfsupError, /for sinkhorn\(options.prior\) but received length 2/],
    ['F: K = 0', () => Fsinkhorn(new Tensor(new Float32Array(0), [3, 0])), RangeError, /for sinkhorn\(scores\) but received \[3, 0\]/],
    ['F: swav shapes', () => swavLoss(new Tensor(S, [3, 4]), new Tensor(S, [4, 3])), SelfsupError, /for swavLoss\(scores2\) but received \[4, 3\]/],
    ['F: msn prior', () => msnLoss(new Tensor(S.map(Math.abs), [3, 4]), new Tensor(S.map(Math.abs), [3, 4]), { prior: new Tensor(Float32Array.of(1, -1, 1, 1), [4]) }), RangeError, /for msnLoss\(options.prior\)/],
  ];
  for (const [label, fn, cls, msg] of cases) {
    it(label, () => {
      expectThrows(fn, cls, msg);
    });
  }
});

describe('SwAV and MSN / PMSN losses', () => {
  it('swavLoss matches the float64 reference (float32 and float64) and gradchecks', () => {
    const B = 9, K = 7;
    const s1 = uniform(B * K, 20, -1, 1), s2 = uniform(B * K, 21, -1, 1);
    const q1 = ref(s1, B, K).out, q2 = ref(s2, B, K).out;
    const want = refSwavLoss(s1, s2, q1, q2, B, K, 0.1);
    const got = swavLossKernel(s1, s2, [B, K]);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
    expect(maxRel(got.grad1, want.grad1)).toBeLessThan(1e-3);
    const t1 = new Tensor(Float64Array.from(s1), [B, K], { requiresGrad: true });
    const t2 = new Tensor(Float64Array.from(s2), [B, K], { requiresGrad: true });
    const l = swavLoss(t1, t2);
    expect(Math.abs(l.item() - want.loss)).toBeLessThan(1e-10);
    l.backward();
    expect(maxRel(t1.grad!.data, want.grad1)).toBeLessThan(1e-9);
    // Gradcheck with the codes held fixed (they are stop-gradient, so finite differences of the
    // full function would also move the codes).
    const codes: [Tensor, Tensor] = [new Tensor(q1, [B, K]), new Tensor(q2, [B, K])];
    expect(gradcheck((a, b) => swavLoss(a, b, { codes, temperature: 0.5 }), [t1, t2])).toBe(true);
  });
  for (const prior of ['uniform', { powerLaw: 0.25 }] as const) {
    it(`msnLoss (${typeof prior === 'string' ? 'MSN' : 'PMSN'}) matches the reference and gradchecks on the anchors`, () => {
      const Bt = 5, V = 2, K = 11;
      const a = probsRows(V * Bt, K, 22), t = probsRows(Bt, K, 23);
      const rho = priorMarginal(prior, K);
      const targets = ref(Float32Array.from(refSharpen(t, Bt, K, 0.25)), Bt, K, { probs: true, col: rho }).out;
      const want = refMsnLoss(a, targets, V * Bt, Bt, K, rho, 1);
      const got = msnLossKernel(a, t, [V * Bt, K], [Bt, K], { prior });
      expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThan(1e-5);
      expect(maxRel(got.grad, want.grad)).toBeLessThan(1e-4);
      const A = new Tensor(Float64Array.from(a), [V * Bt, K], { requiresGrad: true });
      const T = new Tensor(Float64Array.from(t), [Bt, K]);
      expect(gradcheck((x) => msnLoss(x, T, { prior }), [A])).toBe(true);
      if (prior === 'uniform') {
        // me-max: KL(abar || uniform) = sum abar log abar + log K (msn src/losses.py)
        let me = Math.log(K);
        const abar = new Float64Array(K);
        for (let i = 0; i < V * Bt; i++) for (let k = 0; k < K; k++) abar[k] += a[i * K + k] / (V * Bt);
        for (let k = 0; k < K; k++) me += abar[k] * Math.log(abar[k]);
        expect(got.regularizer).toBeCloseTo(me, 6);
      }
    });
  }
});

describe('sinkhorn float32 with |scores| / epsilon far past float32 resolution', () => {
  it('stays finite with its marginals (it returned NaN once |scores / epsilon| passed ~2^31)', () => {
    // one entry per row: the plan is 1 whatever epsilon (the row reference was the rounded
    // product, the exp argument the exact one: half an ulp of 6e10 overflowed exp)
    const one = sinkhorn(Float32Array.of(-7.513973712921143), [1, 1], { epsilon: 1.2235114121062637e-10, iterations: 4 });
    expect(Array.from(one.out)).toEqual([1]);
    let seed = 5;
    const rnd = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let t = 0; t < 200; t++) {
      const B = 1 + Math.floor(rnd() * 24), K = 1 + Math.floor(rnd() * 12), scale = [1, 10, 100][t % 3];
      const s = Float32Array.from({ length: B * K }, () => (rnd() * 2 - 1) * scale);
      const epsilon = 10 ** -(8 + rnd() * 28), iterations = 1 + (t % 4);
      const { out } = sinkhorn(s, [B, K], { epsilon, iterations });
      for (let b = 0; b < B; b++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const v = out[b * K + k];
          expect(v >= 0 && v <= 1, `B ${B} K ${K} epsilon ${epsilon}: out[${b}, ${k}] = ${v}`).toBe(true);
          sum += v;
        }
        expect(Math.abs(sum - 1), `B ${B} K ${K} epsilon ${epsilon}: row ${b} sums to ${sum}`).toBeLessThan(1e-5);
      }
    }
    // well-separated scores: the assignment limit, as float64 gives it
    const eye = Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    for (const epsilon of [1e-10, 1e-30]) {
      expect(Array.from(sinkhorn(eye, [4, 4], { epsilon, iterations: 3 }).out)).toEqual(Array.from(eye));
      expect(Array.from(sinkhorn(Float64Array.from(eye), [4, 4], { epsilon, iterations: 3 }).out)).toEqual(Array.from(eye));
    }
  });
});
