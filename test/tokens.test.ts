/**
 * Tokens family beyond the op table: ragged index sets, backward kernels vs the float64 reference,
 * StoP noise (C++/TS stream agreement, statistics, fused vs materialized), fused vs naive float32
 * error, native argument re-checks, async forms.
 */
import { describe, expect, it } from 'vitest';
import * as K from '../lib/kernels/tokens';
import {
  refGatherTokens, refGatherTokensBackward, refScatterTokens, refScatterTokensBackward,
  refStochasticPositions, refStochasticPositionsBackward,
} from '../lib/backends/reference-tokens';
import { tryNative } from '../lib/backends/native';
import { normalFloat32 } from '../lib/random';
import { gatherTokens, stochasticPositions } from '../lib/ops/tokens';
import { Tensor } from '../lib/index';
import { matmul } from '../lib/ops/linalg';
import { mulberry32 } from './helpers';

const rng = mulberry32;
/** Non-zero values in +-[0.1, 1.5]. */
function rand(n: number, r: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.1 + 1.4 * r()));
}
function ints(n: number, hi: number, r: () => number): Int32Array {
  return Int32Array.from({ length: n }, () => Math.floor(r() * hi));
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

describe('tokens kernels vs the float64 reference', () => {
  const r = rng(17);
  const B = 3, N = 113, D = 59, Kk = 41;
  const x = rand(B * N * D, r), pos = rand(N * D, r), idx = ints(B * Kk, N, r);
  const lengths = Int32Array.from([41, 0, 17]);

  for (const dt of ['float32', 'float64'] as const) {
    const C = dt === 'float32' ? Float32Array : Float64Array;
    const tol = dt === 'float32' ? 1e-5 : 1e-12;

    it(`gather (+ positions, ragged, shared) and its backward (${dt})`, () => {
      for (const shared of [false, true]) {
        for (const L of [null, lengths]) {
          const X = C.from(shared ? pos : x);
          const xs = shared ? [N, D] : [B, N, D];
          const got = K.gatherTokens(X, xs, idx, [B, Kk], { addPositions: C.from(pos), lengths: L });
          const want = new Float64Array(B * Kk * D);
          refGatherTokens(Float64Array.from(X), idx, L, pos, want, B, N, D, Kk, shared);
          expect(maxRel(got, want)).toBeLessThanOrEqual(tol);
          const g = rand(B * Kk * D, r);
          const bw = K.gatherTokensBackward(C.from(g), idx, [B, Kk], N, { lengths: L, xShared: shared, wantPositions: true });
          const dx = new Float64Array(shared ? N * D : B * N * D), dpos = new Float64Array(N * D);
          refGatherTokensBackward(g, idx, L, dx, dpos, B, N, D, Kk, shared);
          expect(maxRel(bw.dx!, dx)).toBeLessThanOrEqual(tol * 10);
          expect(maxRel(bw.dpos!, dpos)).toBeLessThanOrEqual(tol * 10);
          if (L) expect(Array.from(got.slice(Kk * D, 2 * Kk * D)).every((v) => v === 0)).toBe(true); // padding row
        }
      }
    });

    it(`scatter with a mask token, ragged, and its backward (${dt})`, () => {
      const Ks = 29;
      const uidx = new Int32Array(B * Ks);
      for (let b = 0; b < B; b++) {
        const perm = Array.from({ length: N }, (_, i) => i).sort(() => r() - 0.5);
        for (let k = 0; k < Ks; k++) uidx[b * Ks + k] = perm[k];
      }
      const L = Int32Array.from([29, 3, 0]);
      const src = rand(B * Ks * D, r), fill = rand(D, r);
      const got = K.scatterTokens(C.from(src), [B, Ks, D], uidx, N, { fill: C.from(fill), lengths: L });
      const want = new Float64Array(B * N * D);
      refScatterTokens(src, uidx, L, fill, want, B, N, D, Ks);
      expect(maxRel(got, want)).toBeLessThanOrEqual(tol);
      const g = rand(B * N * D, r);
      const bw = K.scatterTokensBackward(C.from(g), [B, N, D], uidx, [B, Ks], { lengths: L, wantFill: true });
      const dsrc = new Float64Array(B * Ks * D), dfill = new Float64Array(D);
      refScatterTokensBackward(g, uidx, L, dsrc, dfill, B, N, D, Ks);
      expect(maxRel(bw.dsrc!, dsrc)).toBeLessThanOrEqual(tol);
      expect(maxRel(bw.dfill!, dfill)).toBeLessThanOrEqual(tol * 100);
    });

    it(`stochastic positions forward/backward, ragged, fused and materialized (${dt})`, () => {
      const Dp = 37, Din = 19, seed = 2 ** 33 + 5, std = 0.25;
      const P = rand(N * Dp, r), W = rand(Dp * Din, r), bias = rand(Dp, r);
      for (const L of [null, lengths]) {
        const fused = K.stochasticPositions(C.from(P), [N, Dp], idx, [B, Kk], C.from(W), [Dp, Din], C.from(bias), { std, seed, lengths: L });
        const mat = K.stochasticPositions(C.from(P), [N, Dp], idx, [B, Kk], C.from(W), [Dp, Din], C.from(bias), { std, seed, lengths: L, materializeNoise: true });
        expect(fused.noise).toBeNull();
        expect(Array.from(mat.out)).toEqual(Array.from(fused.out)); // same kernel, same noise
        const want = new Float64Array(B * Kk * Dp), noise = new Float64Array(B * Kk * Din);
        refStochasticPositions(P, idx, L, W, bias, want, noise, B, N, Dp, Kk, Din, std, seed);
        expect(maxRel(fused.out, want)).toBeLessThanOrEqual(dt === 'float32' ? 2e-5 : 1e-6);
        expect(maxRel(mat.noise!, noise)).toBeLessThanOrEqual(dt === 'float32' ? 1e-6 : 1e-6);
        const g = rand(B * Kk * Dp, r);
        const bw = K.stochasticPositionsBackward(C.from(g), [N, Dp], idx, [B, Kk], [Dp, Din], { std, seed, lengths: L });
        const bw2 = K.stochasticPositionsBackward(C.from(g), [N, Dp], idx, [B, Kk], [Dp, Din], { std, seed, lengths: L, noise: mat.noise });
        const dpos = new Float64Array(N * Dp), dw = new Float64Array(Dp * Din), db = new Float64Array(Dp);
        refStochasticPositionsBackward(g, idx, L, null, dpos, dw, db, B, N, Dp, Kk, Din, std, seed);
        for (const b of [bw, bw2]) {
          expect(maxRel(b.dpos!, dpos)).toBeLessThanOrEqual(tol * 10);
          expect(maxRel(b.dweight!, dw)).toBeLessThanOrEqual(dt === 'float32' ? 1e-4 : 1e-6);
          expect(maxRel(b.dbias!, db)).toBeLessThanOrEqual(tol * 100);
        }
      }
    });
  }
});

describe('large outputs (streaming-store path, unaligned rows)', () => {
  it('gather and its backward at [64, 196, 387], K = 170', () => {
    const r = rng(23);
    const B = 64, N = 196, D = 387, Kk = 170;
    const x = new Float32Array(B * N * D).map(() => r() - 0.5), idx = ints(B * Kk, N, r);
    const got = K.gatherTokens(x, [B, N, D], idx, [B, Kk]);
    const want = new Float32Array(B * Kk * D);
    refGatherTokens(x, idx, null, null, want, B, N, D, Kk, false);
    let bad = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++;
    expect(bad).toBe(0);
    const g = got; // reuse as the incoming gradient
    const { dx } = K.gatherTokensBackward(g, idx, [B, Kk], N);
    const wdx = new Float64Array(B * N * D);
    refGatherTokensBackward(g, idx, null, wdx, null, B, N, D, Kk, false);
    expect(maxRel(dx!, wdx)).toBeLessThanOrEqual(1e-6);
  });

  // Outputs of 16 MiB and more are streamed by whole 64-byte lines; rows straddle lines at every
  // offset, so each case runs at several element offsets of a NaN-filled destination (every element
  // must be overwritten) with repeated indices and padding rows.
  const cases = [
    // dx streamed, grad small: dx front to back. Forward not streamed.
    { C: Float32Array, B: 64, N: 196, D: 387, Kk: 40, tol: 1e-6 },
    // grad large too: dx rows in the order of grad, seams after; forward in the order of x.
    { C: Float64Array, B: 32, N: 196, D: 335, Kk: 200, tol: 1e-12 },
    // Rows shorter than a line (D = 3 floats): several rows per line.
    { C: Float32Array, B: 8, N: 180_000, D: 3, Kk: 180_000, tol: 1e-6 },
  ] as const;
  for (const { C, B, N, D, Kk, tol } of cases) {
    it(`${C.name} [${B}, ${N}, ${D}], K = ${Kk}: every element written at every offset`, () => {
      const r = rng(D);
      const x = new C(B * N * D).map(() => r() - 0.5), idx = ints(B * Kk, N, r);
      const lengths = Int32Array.from({ length: B }, (_, b) => (b % 5 === 1 ? Math.floor(Kk / 3) : Kk));
      const want = new Float64Array(B * Kk * D);
      refGatherTokens(x, idx, lengths, null, want, B, N, D, Kk, false);
      const g = new C(B * Kk * D).map(() => r() - 0.5);
      const wdx = new Float64Array(B * N * D);
      refGatherTokensBackward(g, idx, lengths, wdx, null, B, N, D, Kk, false);
      for (const off of [0, 1, 3, 5]) {
        const out = new C(B * Kk * D + 8).fill(NaN).subarray(off, off + B * Kk * D);
        K.gatherTokens(x, [B, N, D], idx, [B, Kk], { lengths, out });
        let bad = 0;
        for (let i = 0; i < want.length; i++) if (out[i] !== want[i]) bad++;
        expect(bad).toBe(0);
        const dxOut = new C(B * N * D + 8).fill(NaN).subarray(off, off + B * N * D);
        K.gatherTokensBackward(g, idx, [B, Kk], N, { lengths, dxOut });
        expect(maxRel(dxOut, wdx)).toBeLessThanOrEqual(tol);
      }
      // Without dxOut the array is allocated uninitialized: dirty the allocator first.
      for (let i = 0; i < 4; i++) Buffer.allocUnsafeSlow(B * N * D * C.BYTES_PER_ELEMENT).fill(0xff);
      const { dx } = K.gatherTokensBackward(g, idx, [B, Kk], N, { lengths });
      expect(maxRel(dx!, wdx)).toBeLessThanOrEqual(tol);
    });
  }
});

describe('stochastic positions noise', () => {
  it('is std * Philox normal keyed by (seed, b, k, i), the stream lib/random draws in TS', () => {
    const B = 2, Kk = 5, Din = 7, seed = 99;
    const { noise } = K.stochasticPositions(new Float32Array(4 * 3), [4, 3], new Int32Array(B * Kk), [B, Kk],
      new Float32Array(3 * Din).fill(0.1), [3, Din], null, { std: 0.2, seed, materializeNoise: true });
    for (let b = 0; b < B; b++) {
      const z = normalFloat32(seed, (3 << 24) + b, 0, Kk * Din);
      for (let i = 0; i < Kk * Din; i++) expect(Math.abs(noise![b * Kk * Din + i] - Math.fround(0.2) * z[i])).toBeLessThanOrEqual(1e-6);
    }
  });

  // The native generator evaluates Box-Muller with vector polynomials (AVX2) and falls back to
  // the scalar libm path near float32 rounding midpoints, so it must equal the scalar C++ stream
  // bit for bit and the TS stream within 1 float32 ulp. Millions of values, windows that start and
  // end at every alignment of the 4-word Philox block and the 32-value SIMD group.
  function ulps(a: number, b: number): number {
    const f = new Float32Array([a, b]);
    const i = new Int32Array(f.buffer);
    const key = (x: number) => (x < 0 ? -2147483648 - x : x);
    return Math.abs(key(i[0]) - key(i[1]));
  }
  it('equals lib/random normalFloat32 within 1 ulp on 4M values (std 1, every window alignment)', () => {
    for (const [B, Kk, Din, seed] of [[2, 1024, 2048, 7], [3, 61, 97, 2 ** 40 + 3], [1, 33, 5, 0], [2, 9, 1, 11]] as const) {
      const { noise } = K.stochasticPositions(new Float32Array(2 * 3), [2, 3], new Int32Array(B * Kk), [B, Kk],
        new Float32Array(3 * Din), [3, Din], null, { std: 1, seed, materializeNoise: true });
      let worst = 0, differ = 0;
      for (let b = 0; b < B; b++) {
        const z = normalFloat32(seed, (3 << 24) + b, 0, Kk * Din);
        for (let i = 0; i < Kk * Din; i++) {
          const d = ulps(noise![b * Kk * Din + i], z[i]);
          if (d > worst) worst = d;
          if (d > 0) differ++;
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(differ).toBeLessThanOrEqual(Math.max(2, (B * Kk * Din) / 1000)); // last-bit flips are rare
    }
  });

  it('regenerated in the backward (column slices, any thread split) equals the forward noise', () => {
    const r = rng(31);
    for (const [B, Kk, Din, Dp] of [[3, 147, 384, 8], [2, 50, 93, 5], [1, 400, 33, 3]] as const) {
      const N = 10, seed = 12345, std = 0.5;
      const idx = ints(B * Kk, N, r), lengths = Int32Array.from({ length: B }, (_, b) => (b === 1 ? 17 : Kk));
      for (const L of [null, lengths]) {
        const W = Float32Array.from(rand(Dp * Din, r)), P = Float32Array.from(rand(N * Dp, r));
        const mat = K.stochasticPositions(P, [N, Dp], idx, [B, Kk], W, [Dp, Din], null, { std, seed, lengths: L, materializeNoise: true });
        const g = Float32Array.from(rand(B * Kk * Dp, r));
        const regen = K.stochasticPositionsBackward(g, [N, Dp], idx, [B, Kk], [Dp, Din], { std, seed, lengths: L });
        const given = K.stochasticPositionsBackward(g, [N, Dp], idx, [B, Kk], [Dp, Din], { std, seed, lengths: L, noise: mat.noise });
        // dW = G^T n in float64 from the materialized noise.
        const want = new Float64Array(Dp * Din);
        for (let b = 0; b < B; b++) {
          const len = L ? L[b] : Kk;
          for (let k = 0; k < len; k++) {
            for (let o = 0; o < Dp; o++) {
              const gv = g[(b * Kk + k) * Dp + o];
              for (let i = 0; i < Din; i++) want[o * Din + i] += gv * mat.noise![(b * Kk + k) * Din + i];
            }
          }
        }
        expect(maxRel(regen.dweight!, want)).toBeLessThanOrEqual(1e-5);
        expect(maxRel(given.dweight!, want)).toBeLessThanOrEqual(1e-5);
        expect(Array.from(regen.dbias!)).toEqual(Array.from(given.dbias!));
        expect(Array.from(regen.dpos!)).toEqual(Array.from(given.dpos!));
      }
    }
  });

  it('has mean 0 and the requested std; a new seed gives new noise', () => {
    const { noise } = K.stochasticPositions(new Float32Array(196 * 8), [196, 8], new Int32Array(8 * 147), [8, 147],
      new Float32Array(8 * 64), [8, 64], null, { std: 0.25, seed: 1, materializeNoise: true });
    const n = noise!;
    let s = 0, s2 = 0;
    for (const v of n) { s += v; s2 += v * v; }
    const mean = s / n.length, sd = Math.sqrt(s2 / n.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(sd - 0.25)).toBeLessThan(0.01);
    const other = stochasticPositions(new Tensor(new Float32Array(6), [3, 2]), new Tensor(new Int32Array(2), [1, 2]),
      { projection: { weight: new Tensor(Float32Array.from([1, 0, 0, 1]), [2, 2]) }, materializeNoise: true });
    const other2 = stochasticPositions(new Tensor(new Float32Array(6), [3, 2]), new Tensor(new Int32Array(2), [1, 2]),
      { projection: { weight: new Tensor(Float32Array.from([1, 0, 0, 1]), [2, 2]) }, materializeNoise: true });
    expect(Array.from(other.noise.data)).not.toEqual(Array.from(other2.noise.data)); // fresh noise without a seed
  });
});

describe('fused float32 error vs the naive float32 composition', () => {
  it('gatherTokens + addPositions', () => {
    const r = rng(5);
    const B = 4, N = 50, D = 33, Kk = 20;
    const x = rand(B * N * D, r).map(Math.fround), pos = rand(N * D, r).map(Math.fround), idx = ints(B * Kk, N, r);
    const want = new Float64Array(B * Kk * D);
    refGatherTokens(x, idx, null, pos, want, B, N, D, Kk, false);
    const fused = gatherTokens(new Tensor(Float32Array.from(x), [B, N, D]), new Tensor(idx, [B, Kk]), { addPositions: new Tensor(Float32Array.from(pos), [N, D]) });
    const naive = gatherTokens(new Tensor(Float32Array.from(x), [B, N, D]), new Tensor(idx, [B, Kk])).add(gatherTokens(new Tensor(Float32Array.from(pos), [N, D]), new Tensor(idx, [B, Kk])));
    const ef = maxRel(fused.data, want), en = maxRel(naive.data, want);
    expect(ef).toBeLessThanOrEqual(2 * en + 1e-7);
  });

  it('stochasticPositions', () => {
    const r = rng(6);
    const N = 40, Dp = 24, Din = 31, B = 3, Kk = 17, seed = 4;
    const pos = rand(N * Dp, r).map(Math.fround), W = rand(Dp * Din, r).map(Math.fround), bias = rand(Dp, r).map(Math.fround), idx = ints(B * Kk, N, r);
    const want = new Float64Array(B * Kk * Dp);
    refStochasticPositions(pos, idx, null, W, bias, want, null, B, N, Dp, Kk, Din, 0.25, seed);
    const I = new Tensor(idx, [B, Kk]);
    const { out, noise } = stochasticPositions(new Tensor(Float32Array.from(pos), [N, Dp]), I,
      { std: 0.25, seed, projection: { weight: new Tensor(Float32Array.from(W), [Dp, Din]), bias: new Tensor(Float32Array.from(bias), [Dp]) }, materializeNoise: true });
    // naive: noise @ W^T + bias + pos[idx], each step rounded to float32
    const proj = matmul(noise, new Tensor(Float32Array.from(W), [Dp, Din]).transpose(0, 1)).add(new Tensor(Float32Array.from(bias), [Dp]));
    const naive = proj.add(gatherTokens(new Tensor(Float32Array.from(pos), [N, Dp]), I));
    expect(maxRel(out.data, want)).toBeLessThanOrEqual(2 * maxRel(naive.data, want) + 1e-7);
  });
});

describe('autograd: padding gets no gradient', () => {
  it('gatherTokens with lengths', () => {
    const x = new Tensor(Float64Array.from({ length: 2 * 4 * 3 }, (_, i) => 0.1 + i), [2, 4, 3], { requiresGrad: true });
    const idx = new Tensor(Int32Array.from([1, 2, 3, 0, 0, 0]), [2, 3]);
    const out = gatherTokens(x, idx, { lengths: new Tensor(Int32Array.from([2, 1]), [2]) });
    out.sum().backward();
    const g = Array.from(x.grad!.data);
    expect(g.slice(0, 12)).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(g.slice(12)).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe.skipIf(!tryNative())('native binding re-checks (bypassing TS)', () => {
  const a = () => tryNative()! as unknown as Record<string, (...args: unknown[]) => unknown>;
  it('out-of-range and negative indices never read outside the buffer', () => {
    const x = new Float32Array(2 * 5 * 3), out = new Float32Array(2 * 2 * 3);
    expect(() => a().tokensGather(x, Int32Array.from([0, 1, 2, 1 << 30]), null, null, out, { B: 2, N: 5, D: 3, K: 2, xShared: false })).toThrow(/idx\[1, 1\] \(batch row 1, position 1\)/);
    expect(() => a().tokensGather(x, Int32Array.from([0, -7, 2, 1]), null, null, out, { B: 2, N: 5, D: 3, K: 2, xShared: false })).toThrow(RangeError);
    expect(() => a().tokensGather(x, Int32Array.from([0, 1, 2]), null, null, out, { B: 2, N: 5, D: 3, K: 2, xShared: false })).toThrow(/for idx/);
    expect(() => a().tokensGather(x, Int32Array.from([0, 1, 2, 3]), Int32Array.from([2, 9]), null, out, { B: 2, N: 5, D: 3, K: 2, xShared: false })).toThrow(/lengths\[1\] = 9/);
    expect(() => a().tokensGatherBackward(out, Int32Array.from([0, 1, 2, 5]), null, x, null, { B: 2, N: 5, D: 3, K: 2, xShared: false })).toThrow(RangeError);
    expect(() => a().tokensScatter(out, Int32Array.from([0, 0, 2, 3]), null, null, x, { B: 2, N: 5, D: 3, K: 2 })).toThrow(/unique/);
    expect(() => a().stochasticPositions(new Float32Array(15), Int32Array.from([0, 9]), null, new Float32Array(6), null, new Float32Array(6), null, { B: 1, N: 5, Dp: 3, K: 2, Din: 2, std: 0.25, seed: 0 })).toThrow(/idx\[0, 1\]/);
    expect(() => a().maskRandom(new Int32Array(22), new Int32Array(0), new Int32Array(20), { B: 2, N: 10, keepCount: 11, seed: 0 })).toThrow(/keepCount/);
  });
});

describe('async', () => {
  it('gatherTokensAsync equals gatherTokens', async () => {
    const r = rng(8);
    const x = Float32Array.from(rand(2 * 9 * 5, r)), idx = ints(2 * 4, 9, r);
    const want = K.gatherTokens(x, [2, 9, 5], idx, [2, 4]);
    const got = await K.gatherTokensAsync(x, [2, 9, 5], idx, [2, 4]);
    expect(Array.from(got)).toEqual(Array.from(want));
    await expect(K.gatherTokensAsync(x, [2, 9, 5], Int32Array.from([0, 1, 2, 3, 4, 5, 6, 99]), [2, 4])).rejects.toThrow(/batch row 1, position 3/);
  });
});

describe('token kernels: outputs that overlap an input', () => {
  // x is [1, 6, 2] in the first 12 floats of buf, out [1, 3, 2] may overlap it
  const buf = () => Float32Array.from({ length: 24 }, (_, i) => i);
  const idx = Int32Array.from([5, 0, 3]);
  it('gatherTokens: rejected in the error grammar (it read back its own writes); disjoint views of one buffer are fine', () => {
    const b = buf(), x = b.subarray(0, 12);
    const want = K.gatherTokens(x.slice(), [1, 6, 2], idx, [1, 3]);
    expect(Array.from(want)).toEqual([10, 11, 0, 1, 6, 7]);
    expect(() => K.gatherTokens(x, [1, 6, 2], idx, [1, 3], { out: b.subarray(2, 8) }))
      .toThrow('Expected an output that does not overlap x for options.out but received an array overlapping x');
    const ib = new Int32Array(8);
    ib.set(idx);
    expect(() => K.gatherTokens(x, [1, 6, 2], ib.subarray(0, 3), [1, 3], { out: new Float32Array(ib.buffer, 8, 6) })).toThrow(/does not overlap idx/);
    expect(Array.from(K.gatherTokens(x, [1, 6, 2], idx, [1, 3], { out: b.subarray(12, 18) }))).toEqual(Array.from(want));
    // dense x and positions: out overlapping the positions table
    const pos = new Float32Array(12);
    expect(() => K.gatherTokens(x, [1, 6, 2], idx, [1, 3], { addPositions: pos, out: pos.subarray(6) })).toThrow(/overlap options.addPositions/);
  });
  it('scatterTokens and gatherTokensBackward: rejected too', () => {
    const b = buf(), src = b.subarray(0, 6);
    expect(() => K.scatterTokens(src, [1, 3, 2], idx, 6, { out: b.subarray(0, 12) }))
      .toThrow('Expected an output that does not overlap src for options.out but received an array overlapping src');
    expect(Array.from(K.scatterTokens(src, [1, 3, 2], idx, 6, { out: b.subarray(12, 24) }))).toEqual([2, 3, 0, 0, 0, 0, 4, 5, 0, 0, 0, 1]);
    const g = buf();
    expect(() => K.gatherTokensBackward(g.subarray(0, 6), idx, [1, 3], 6, { dxOut: g.subarray(4, 16) }))
      .toThrow('Expected an output that does not overlap grad for options.dxOut but received an array overlapping grad');
    const d = new Float32Array(24);
    expect(() => K.gatherTokensBackward(g.subarray(0, 6), idx, [1, 3], 6, { wantPositions: true, dxOut: d.subarray(0, 12), dposOut: d.subarray(8, 20) }))
      .toThrow(/does not overlap options.dxOut for options.dposOut/);
    const r = K.gatherTokensBackward(g.subarray(0, 6), idx, [1, 3], 6, { wantPositions: true, dxOut: d.subarray(0, 12), dposOut: d.subarray(12, 24) });
    expect(Array.from(r.dx!)).toEqual([2, 3, 0, 0, 0, 0, 4, 5, 0, 0, 0, 1]);
    expect(Array.from(r.dpos!)).toEqual([2, 3, 0, 0, 0, 0, 4, 5, 0, 0, 0, 1]);
  });
  it.skipIf(!tryNative())('the addon rejects overlapping outputs itself (callers bypassing lib/kernels)', () => {
    const nat = tryNative()! as Record<string, (...a: unknown[]) => unknown>;
    const b = buf();
    expect(() => nat.tokensGather(b.subarray(0, 12), idx, null, null, b.subarray(2, 8), { B: 1, N: 6, D: 2, K: 3, xShared: false })).toThrow(RangeError);
    expect(() => nat.tokensGather(b.subarray(0, 12), idx, null, null, b.subarray(2, 8), { B: 1, N: 6, D: 2, K: 3, xShared: false })).toThrow('Expected an output that does not overlap x for out but received an array overlapping x');
    expect(() => nat.tokensScatter(b.subarray(0, 6), idx, null, null, b.subarray(0, 12), { B: 1, N: 6, D: 2, K: 3 })).toThrow(/does not overlap src for out/);
    expect(() => nat.tokensGatherBackward(b.subarray(0, 6), idx, null, b.subarray(4, 16), null, { B: 1, N: 6, D: 2, K: 3, xShared: false })).toThrow(/does not overlap grad for dx/);
    expect(() => nat.tokensScatterBackward(b.subarray(0, 12), idx, null, b.subarray(6, 12), null, { B: 1, N: 6, D: 2, K: 3 })).toThrow(/does not overlap grad for dsrc/);
    const m = new Int32Array(16);
    expect(() => nat.maskRandom(m.subarray(0, 4), m.subarray(2, 6), m.subarray(8, 16), { B: 1, N: 8, keepCount: 4, seed: 0 })).toThrow(/does not overlap keep for masked/);
    nat.tokensGather(b.subarray(0, 12), idx, null, null, b.subarray(12, 18), { B: 1, N: 6, D: 2, K: 3, xShared: false });
    expect(Array.from(b.subarray(12, 18))).toEqual([10, 11, 0, 1, 6, 7]);
  });
});
