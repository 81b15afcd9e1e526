/** eye, linspace, randint, randperm: values, dtypes, determinism, distribution and errors. */
import { describe, expect, it } from 'vitest';
import { eye, linspace, manualSeed, randint, randperm } from '../lib/index';
import { randomWords } from '../lib/random';
import { STREAM_RANDINT } from '../lib/factories';
import { expectThrows } from './helpers';

/** Pearson's chi-square statistic of observed counts against a uniform expectation. */
function chiSquare(counts: number[], expected: number): number {
  return counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
}

describe('eye', () => {
  it('is the identity, square or rectangular, in the requested dtype', () => {
    const i3 = eye(3);
    expect(i3.shape).toEqual([3, 3]);
    expect(i3.dtype).toBe('float32');
    expect(Array.from(i3.data)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const r = eye(2, 4, { dtype: 'int32' });
    expect(r.shape).toEqual([2, 4]);
    expect(r.dtype).toBe('int32');
    expect(Array.from(r.data)).toEqual([1, 0, 0, 0, 0, 1, 0, 0]);
    expect(Array.from(eye(3, 2).data)).toEqual([1, 0, 0, 1, 0, 0]);
    expect(eye(2, { dtype: 'float64' }).dtype).toBe('float64');
    expect(eye(2, null, { dtype: 'bool' }).dtype).toBe('bool');
    expect(eye(0).shape).toEqual([0, 0]);
    expect(eye(1, 0).shape).toEqual([1, 0]);
    expect(eye(2, { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('rejects bad sizes naming the argument', () => {
    expectThrows(() => eye(-1), RangeError, /for eye\(n\) but received -1/);
    expectThrows(() => eye(2, 1.5), RangeError, /for eye\(m\) but received 1\.5/);
    expectThrows(() => eye('3' as unknown as number), TypeError, /for eye\(n\)/);
    expectThrows(() => eye(2, 2, { dtype: 'half' as never }), RangeError, /for eye\(options\.dtype\)/);
  });
});

describe('linspace', () => {
  it('matches the float64 formula, ends exactly at end, handles 0 and 1 steps', () => {
    const x = linspace(-1, 2, 7, { dtype: 'float64' });
    expect(x.shape).toEqual([7]);
    for (let i = 0; i < 7; i++) expect(x.data[i]).toBeCloseTo(-1 + i * 0.5, 14);
    expect(x.data[6]).toBe(2);
    expect(x.data[0]).toBe(-1);
    const f = linspace(0, 1, 11);
    expect(f.dtype).toBe('float32');
    for (let i = 0; i < 11; i++) expect(f.data[i]).toBe(Math.fround(i / 10 < 0.5 ? i * 0.1 : 1 - (10 - i) * 0.1));
    expect(Array.from(linspace(3, 5, 1).data)).toEqual([3]);
    expect(linspace(3, 5, 0).shape).toEqual([0]);
    expect(Array.from(linspace(5, 1, 5).data)).toEqual([5, 4, 3, 2, 1]);
    expect(Array.from(linspace(0, 3, 4, { dtype: 'int32' }).data)).toEqual([0, 1, 2, 3]);
    expect(Array.from(linspace(-1, 1, 5, { dtype: 'int32' }).data)).toEqual([-1, 0, 0, 0, 1]);
  });

  it('rejects bad arguments naming them', () => {
    expectThrows(() => linspace(0, 1, -2), RangeError, /for linspace\(steps\) but received -2/);
    expectThrows(() => linspace(0, 1, 2.5), RangeError, /for linspace\(steps\)/);
    expectThrows(() => linspace(NaN, 1, 2), TypeError, /for linspace\(start\)/);
    expectThrows(() => linspace(0, Infinity, 2), TypeError, /for linspace\(end\)/);
    expectThrows(() => linspace(0, 1, 2, { dtype: 'bool' }), RangeError, /for linspace\(options\.dtype\)/);
  });
});

describe('randint', () => {
  it('is in [low, high), int32 by default, deterministic for a seed, and is the documented stream', () => {
    const a = randint(-3, 4, [5, 7], { seed: 11 });
    expect(a.shape).toEqual([5, 7]);
    expect(a.dtype).toBe('int32');
    for (const v of a.data) expect(v >= -3 && v < 4).toBe(true);
    expect(Array.from(randint(-3, 4, [5, 7], { seed: 11 }).data)).toEqual(Array.from(a.data));
    expect(Array.from(randint(-3, 4, [5, 7], { seed: 12 }).data)).not.toEqual(Array.from(a.data));
    // Element i = low + floor(u * range), u the 53-bit number of words (2i, 2i+1) of STREAM_RANDINT.
    const w = randomWords(11, STREAM_RANDINT, 0, 70);
    const want = Array.from({ length: 35 }, (_, i) => -3 + Math.floor((((w[2 * i] >>> 5) * 2 ** 26 + (w[2 * i + 1] >>> 6)) / 2 ** 53) * 7));
    expect(Array.from(a.data)).toEqual(want);
    expect(randint(10, [3], { seed: 1, dtype: 'float64' }).dtype).toBe('float64');
    expect(randint(0, 1, [4], { seed: 1 }).data).toEqual(new Int32Array(4));
    expect(randint(0, 5, [0, 3]).shape).toEqual([0, 3]);
  });

  it('unseeded draws follow manualSeed', () => {
    manualSeed(5);
    const a = randint(0, 1000, [16]);
    manualSeed(5);
    expect(Array.from(randint(0, 1000, [16]).data)).toEqual(Array.from(a.data));
  });

  it('is roughly uniform (chi-square over 10 classes, 100k draws)', () => {
    const x = randint(0, 10, [100_000], { seed: 3 });
    const counts = new Array<number>(10).fill(0);
    for (const v of x.data) counts[v]++;
    // 9 degrees of freedom: P(chi2 > 27.88) = 0.001 for a uniform source.
    expect(chiSquare(counts, 10_000)).toBeLessThan(27.88);
    // A large range still reaches both ends of the interval.
    const big = randint(-(2 ** 31), 2 ** 31, [4096], { seed: 4 });
    let lo = Infinity, hi = -Infinity;
    for (const v of big.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    expect(lo).toBeLessThan(-0.99 * 2 ** 31);
    expect(hi).toBeGreaterThan(0.99 * 2 ** 31);
  });

  it('rejects bad arguments naming them', () => {
    expectThrows(() => randint(5, 5, [2]), RangeError, /for randint\(high\) but received 5/);
    expectThrows(() => randint(0, 2.5, [2]), RangeError, /for randint\(high\)/);
    expectThrows(() => randint(0.5, 2, [2]), RangeError, /for randint\(low\)/);
    expectThrows(() => randint(0, 2, [2, -1]), RangeError, /for randint\(shape\)\[1\]/);
    expectThrows(() => randint(0, 2, 3 as unknown as number[]), TypeError, /for randint\(shape\)/);
    expectThrows(() => randint(0, 2 ** 33, [2]), RangeError, /a range within int32 for randint\(high\)/);
    expectThrows(() => randint(0, 2, [2], { seed: -1 }), RangeError, /for randint\(options\.seed\)/);
    expectThrows(() => randint(0, 2, [2], { dtype: 'bool' as never }), RangeError, /for randint\(options\.dtype\)/);
  });
});

describe('randperm', () => {
  it('is a permutation of 0..n-1, deterministic for a seed', () => {
    for (const n of [0, 1, 2, 7, 1000]) {
      const p = randperm(n, { seed: n });
      expect(p.shape).toEqual([n]);
      expect(p.dtype).toBe('int32');
      expect(Array.from(p.data).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    expect(Array.from(randperm(50, { seed: 9 }).data)).toEqual(Array.from(randperm(50, { seed: 9 }).data));
    expect(Array.from(randperm(50, { seed: 9 }).data)).not.toEqual(Array.from(randperm(50, { seed: 10 }).data));
    expect(randperm(4, { seed: 0, dtype: 'float32' }).dtype).toBe('float32');
  });

  it('puts every value at every position about equally often', () => {
    const n = 6, seeds = 3000;
    const counts = new Array<number>(n * n).fill(0);
    for (let s = 0; s < seeds; s++) randperm(n, { seed: s }).data.forEach((v, pos) => counts[v * n + pos]++);
    // (n-1)^2 = 25 degrees of freedom: P(chi2 > 52.62) = 0.001 for uniform permutations.
    expect(chiSquare(counts, seeds / n)).toBeLessThan(52.62);
  });

  it('rejects bad arguments naming them', () => {
    expectThrows(() => randperm(-1), RangeError, /for randperm\(n\) but received -1/);
    expectThrows(() => randperm(2.5), RangeError, /for randperm\(n\)/);
    expectThrows(() => randperm(3, { seed: 0.5 }), RangeError, /for randperm\(options\.seed\)/);
    expectThrows(() => randperm(3, { device: 'cuda' }), Error, /for randperm\(options\.device\)/);
  });
});
