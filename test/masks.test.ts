/** masks.random / masks.multiBlock: shapes, validity, reachability, determinism, C++/TS agreement. */
import { describe, expect, it } from 'vitest';
import { masks } from '../lib/masks';
import { maskMultiBlock, maskRandom } from '../lib/kernels/tokens';
import { refMaskMultiBlock, refMaskRandom, type MultiBlockArgs } from '../lib/backends/reference-tokens';
import { tryNative } from '../lib/backends/native';

const rowsOf = (t: { data: ArrayLike<number>; shape: number[] }): number[][] =>
  Array.from({ length: t.shape[0] }, (_, b) => Array.from(t.data).slice(b * t.shape[1], (b + 1) * t.shape[1]));

const DEFAULTS: Omit<MultiBlockArgs, 'B' | 'seed'> = {
  H: 14, W: 14, encScale: [0.85, 1], predScale: [0.15, 0.2], aspectRatio: [0.75, 1.5],
  nEnc: 1, nPred: 4, minKeep: 10, allowOverlap: false, ragged: false,
};

describe('masks.random', () => {
  it('gives a permutation split into keep / masked with its inverse', () => {
    const { keep, masked, restore } = masks.random({ batch: 5, tokens: 37, ratio: 0.75, seed: 3 });
    expect(keep.shape).toEqual([5, 9]); // floor(37 * 0.25)
    expect(masked.shape).toEqual([5, 28]);
    expect(restore.shape).toEqual([5, 37]);
    expect(keep.dtype).toBe('int32');
    const k = rowsOf(keep), m = rowsOf(masked), r = rowsOf(restore);
    for (let b = 0; b < 5; b++) {
      const order = [...k[b], ...m[b]];
      expect([...order].sort((a, c) => a - c)).toEqual(Array.from({ length: 37 }, (_, i) => i));
      order.forEach((n, j) => expect(r[b][n]).toBe(j));
    }
    expect(k[0]).not.toEqual(k[1]); // each sample has its own permutation
  });

  it('is deterministic per seed and agrees with the TS reference', () => {
    const a = maskRandom({ batch: 4, tokens: 196, ratio: 0.6, seed: 12345 });
    const b = maskRandom({ batch: 4, tokens: 196, ratio: 0.6, seed: 12345 });
    const c = maskRandom({ batch: 4, tokens: 196, ratio: 0.6, seed: 12346 });
    expect(a).toEqual(b);
    expect(a.keep).not.toEqual(c.keep);
    const K = a.keepCount;
    const keep = new Int32Array(4 * K), masked = new Int32Array(4 * (196 - K)), restore = new Int32Array(4 * 196);
    refMaskRandom(4, 196, K, 12345, keep, masked, restore);
    expect(a.keep).toEqual(keep);
    expect(a.masked).toEqual(masked);
    expect(a.restore).toEqual(restore);
  });

  it('rejects bad options with the argument named', () => {
    expect(() => masks.random({ batch: 2, tokens: 10, ratio: 1.5, seed: 0 })).toThrow(/for options.ratio/);
    expect(() => masks.random({ batch: -1, tokens: 10, ratio: 0.5, seed: 0 })).toThrow(RangeError);
  });
});

describe('masks.multiBlock', () => {
  it('returns I-JEPA shaped context and target sets with valid, unique, disjoint indices', () => {
    const m = masks.multiBlock({ grid: [14, 14], batch: 16, seed: 1 });
    expect(m.contexts.length).toBe(1);
    expect(m.targets.length).toBe(4);
    const [ph, pw] = m.predBlock;
    const [eh, ew] = m.encBlock;
    for (const t of m.targets) expect(t.shape).toEqual([16, ph * pw]);
    expect(m.context.shape[0]).toBe(16);
    expect(m.context.shape[1]).toBe(Math.min(...Array.from(m.contextLengths[0].data)));
    expect(Array.from(m.relaxed.data).every((v) => v === 0)).toBe(true);
    // Block shapes within the scale / aspect ranges (up to rounding on a 14x14 grid).
    expect(ph * pw).toBeGreaterThanOrEqual(Math.floor(196 * 0.15) - 4);
    expect(ph * pw).toBeLessThanOrEqual(Math.ceil(196 * 0.2) + 6);
    expect(ph / pw).toBeGreaterThanOrEqual(0.75 * 0.75);
    expect(ph / pw).toBeLessThanOrEqual(1.5 * 1.3);
    expect(eh).toBe(ew); // context aspect ratio is fixed to 1 (reference)
    expect(eh * ew).toBeGreaterThanOrEqual(Math.floor(196 * 0.85) - 14);
    for (let b = 0; b < 16; b++) {
      const ctx = rowsOf(m.context)[b];
      expect(new Set(ctx).size).toBe(ctx.length);
      const all = new Set<number>();
      for (const t of m.targets) {
        const row = rowsOf(t)[b];
        expect(new Set(row).size).toBe(row.length);
        // A target is an exact ph x pw rectangle.
        const ys = row.map((n) => Math.floor(n / 14)), xs = row.map((n) => n % 14);
        expect(Math.max(...ys) - Math.min(...ys) + 1).toBe(ph);
        expect(Math.max(...xs) - Math.min(...xs) + 1).toBe(pw);
        row.forEach((n) => all.add(n));
      }
      for (const n of ctx) {
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThan(196);
        expect(all.has(n)).toBe(false); // allowOverlap: false
      }
    }
  });

  it('reaches every row and column over many seeds (facebookresearch/ijepa issues/40 fixed)', () => {
    const rowsT = new Set<number>(), colsT = new Set<number>(), rowsC = new Set<number>(), colsC = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const r = maskMultiBlock({ grid: [14, 14], batch: 8, seed, ragged: true });
      for (const n of r.targets) if (n >= 0) { rowsT.add(Math.floor(n / 14)); colsT.add(n % 14); }
      for (const n of r.context) if (n >= 0) { rowsC.add(Math.floor(n / 14)); colsC.add(n % 14); }
    }
    for (const s of [rowsT, colsT, rowsC, colsC]) expect(s.size).toBe(14);
  });

  it('is deterministic per seed', () => {
    const a = maskMultiBlock({ grid: [14, 14], batch: 8, seed: 42 });
    const b = maskMultiBlock({ grid: [14, 14], batch: 8, seed: 42 });
    const c = maskMultiBlock({ grid: [14, 14], batch: 8, seed: 43 });
    expect(a).toEqual(b);
    expect(a.targets).not.toEqual(c.targets);
  });

  it('ragged keeps every full mask, padded with -1', () => {
    const r = maskMultiBlock({ grid: [14, 14], batch: 12, seed: 5, ragged: true });
    const cut = maskMultiBlock({ grid: [14, 14], batch: 12, seed: 5 });
    const lens = Array.from(r.contextLengths);
    expect(r.kc).toBe(Math.max(...lens));
    expect(cut.kc).toBe(Math.min(...lens));
    for (let b = 0; b < 12; b++) {
      const row = Array.from(r.context.slice(b * r.kc, (b + 1) * r.kc));
      expect(row.filter((v) => v >= 0).length).toBe(lens[b]);
      expect(row.slice(lens[b]).every((v) => v === -1)).toBe(true);
      // The cut version is the prefix of the full mask (the reference keeps the first kc).
      expect(Array.from(cut.context.slice(b * cut.kc, (b + 1) * cut.kc))).toEqual(row.slice(0, cut.kc));
    }
  });

  it('never hangs on small grids (facebookresearch/ijepa issues/68): a clear error, or a relaxed constraint', () => {
    expect(() => masks.multiBlock({ grid: [4, 4], batch: 2, seed: 0 })).toThrow(/for minKeep but received 10/);
    expect(() => masks.multiBlock({ grid: [4, 4], batch: 2, seed: 0 })).toThrow(RangeError);
    // 6x6 grid, 3x4 targets, 5x5 context minus 4 targets: often <= minKeep, so target blocks are
    // dropped from the constraint (the reference's relaxation) and the loop ends.
    const m = masks.multiBlock({ grid: [6, 6], batch: 64, seed: 0, minKeep: 8, predScale: [0.3, 0.35] });
    expect(m.targets.length).toBe(4);
    expect(Array.from(m.contextLengths[0].data).every((v) => v > 8)).toBe(true);
    expect(Array.from(m.relaxed.data).some((v) => v > 0)).toBe(true);
  });

  it('agrees with the TypeScript port of the reference loop for the same seed', () => {
    const configs: Array<Partial<MultiBlockArgs>> = [
      {}, { ragged: true }, { allowOverlap: true }, { nEnc: 2, nPred: 3 },
      { H: 5, W: 7, minKeep: 2 }, { H: 16, W: 9, predScale: [0.1, 0.3], aspectRatio: [0.3, 3] },
    ];
    for (const cfg of configs) {
      for (const seed of [0, 7, 2 ** 40 + 3]) {
        const a: MultiBlockArgs = { ...DEFAULTS, B: 6, seed, ...cfg };
        const want = refMaskMultiBlock(a);
        const got = maskMultiBlock({
          grid: [a.H, a.W], batch: a.B, seed, encScale: a.encScale, predScale: a.predScale, aspectRatio: a.aspectRatio,
          nEnc: a.nEnc, nPred: a.nPred, minKeep: a.minKeep, allowOverlap: a.allowOverlap, ragged: a.ragged,
        });
        expect({ ...got }, JSON.stringify({ cfg, seed })).toEqual({ ...want });
      }
    }
  });

  it('async form resolves to the same masks', async () => {
    const want = maskMultiBlock({ grid: [14, 14], batch: 4, seed: 9 });
    const got = await masks.multiBlockAsync({ grid: [14, 14], batch: 4, seed: 9 });
    expect(Array.from(got.context.data)).toEqual(Array.from(want.context.slice(0, 4 * want.kc)));
  });

  it('validates options', () => {
    expect(() => masks.multiBlock({ grid: [14, 0], batch: 2, seed: 0 })).toThrow(/options.grid\[1\]/);
    expect(() => masks.multiBlock({ grid: [14, 14], batch: 2, seed: 0, predScale: [0.3, 0.2] })).toThrow(/options.predScale/);
    expect(() => masks.multiBlock({ grid: [14, 14], batch: 2, seed: -1 })).toThrow(RangeError);
  });

  it.skipIf(!tryNative())('native binding re-checks arguments', () => {
    const fn = tryNative()!.maskMultiBlock as (...a: unknown[]) => unknown;
    const o = (over: Record<string, unknown> = {}) => ({
      H: 14, W: 14, B: 2, seed: 0, encScale: [0.85, 1], predScale: [0.15, 0.2], aspectRatio: [0.75, 1.5], nEnc: 1, nPred: 4, minKeep: 10,
      allowOverlap: false, ragged: false, ...over,
    });
    expect(() => fn(o())).not.toThrow();
    expect(() => fn(o({ minKeep: -1 }))).toThrow(/for minKeep/);
    expect(() => fn(o({ predScale: [0.2, 0.15] }))).toThrow(/predScale/);
    expect(() => fn(o({ aspectRatio: [0.75] }))).toThrow(/Expected an Array of 2 numbers for aspectRatio/);
    expect(() => fn(o({ encScale: [0.85, NaN] }))).toThrow(/for encScale\[1\]/);
  });
});
