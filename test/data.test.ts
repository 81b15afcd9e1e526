/**
 * The synthetic PUG-like dataset (deterministic by seed, held-out (shape, texture) pairs only in
 * 'test', labels in range), the augmentations (deterministic, in [0, 1]) and image folders
 * (generated PNGs, a corrupt file skipped and counted, bad folders named).
 */
import '../lib/tensor-methods'; // the Tensor op methods, as the package entry attaches them
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SyntheticDataset, FACTORS, FACTOR_CLASSES, TEXTURES, render } from '../lib/data/synthetic';
import { augment, Rng, SIMCLR_AUGMENT } from '../lib/data/augment';
import { FolderSource, listImageFolder } from '../lib/data/folder';
import { parseSynthetic } from '../lib/data/source';
import { batchMaker, redrawMaker, stepViews, viewPlan, type Redraw } from '../lib/data/views';
import { train } from '../lib/train/train';

let sharp: ((input: Buffer, o: object) => { png(): { toFile(f: string): Promise<unknown> } }) | null = null;
try {
  sharp = require('sharp');
} catch {
  sharp = null; // optional dependency: the folder tests are skipped without it
}

describe('synthetic data', () => {
  const ds = new SyntheticDataset({ size: 16, seed: 5 });

  it('is a pure function of (seed, split, index)', () => {
    const a = ds.batch('train', 100, 8), b = new SyntheticDataset({ size: 16, seed: 5 }).batch('train', 100, 8);
    expect(a.images).toEqual(b.images);
    expect(ds.batch('train', 104, 2).images).toEqual(a.images.subarray(4 * 3 * 256, 6 * 3 * 256));
    const c = new SyntheticDataset({ size: 16, seed: 6 }).batch('train', 100, 8);
    expect(c.images).not.toEqual(a.images);
    expect(ds.batch('test', 100, 8).images).not.toEqual(a.images);
  });

  it('renders images in [0, 1] with every factor label in range', () => {
    const b = ds.batch('bank', 0, 400);
    expect(b.images.every((v) => v >= 0 && v <= 1)).toBe(true);
    const classes: Record<string, number> = { object: ds.classes, ...FACTOR_CLASSES };
    for (const f of FACTORS) {
      const seen = new Set(b.labels[f]);
      expect(Math.min(...seen)).toBe(0);
      expect(Math.max(...seen)).toBe(classes[f] - 1); // 400 draws reach every class
    }
  });

  it('holds out (shape, texture) pairs: test has only them, train and bank never', () => {
    const held = (s: number, t: number) => (s + t) % 4 === 0;
    for (const split of ['train', 'bank', 'test'] as const) {
      const b = ds.batch(split, 0, 300);
      for (let i = 0; i < 300; i++) expect(held(b.labels.object[i], b.labels.background[i])).toBe(split === 'test');
    }
    const open = new SyntheticDataset({ size: 16, heldOut: false }).batch('test', 0, 300);
    expect(new Set(Array.from(open.labels.background, (t, i) => `${open.labels.object[i]},${t}`)).size).toBe(5 * TEXTURES.length);
  });

  it('redraws the background and lighting of a view, keeping the object and the held-out split', () => {
    const big = new SyntheticDataset({ size: 32, seed: 2 });
    const scenes = Array.from({ length: 200 }, (_, i) => big.scene('train', i));
    let r = 7;
    const rand = () => ((r = (r * 1103515245 + 12345) % 2147483648) / 2147483648);
    const redrawn = scenes.map((s) => big.redrawBackground('train', s, rand));
    const objectKeys = ['shape', 'color', 'rgb', 'scale', 'rotation', 'cx', 'cy'] as const;
    redrawn.forEach((n, i) => {
      for (const k of objectKeys) expect(n[k]).toEqual(scenes[i][k]);
      expect(n.bg).not.toEqual(scenes[i].bg);
      expect(n.lightAngle).not.toBe(scenes[i].lightAngle);
      expect((n.shape + n.texture) % 4 === 0).toBe(false); // never a held-out pair in training
    });
    expect(new Set(redrawn.map((n) => n.texture)).size).toBe(TEXTURES.length);
    // Pixels: with the original lighting put back, the object's inside is unchanged and the
    // background is not (a circle, so "inside" is a disc a pixel smaller than the object).
    const i = scenes.findIndex((s) => s.shape === 0);
    const sc = scenes[i], light = { lightAngle: sc.lightAngle, lightStrength: sc.lightStrength, ambient: sc.ambient };
    const rows = [sc, { ...redrawn[i], ...light }].map((s) => {
      const out = new Float32Array(3 * 32 * 32);
      render(s, 32, out);
      return out;
    });
    const seen = rows[1];
    const fresh = big.batchNewBackgrounds('train', i, [null]);
    expect(fresh).toEqual(big.batch('train', i, 1).images); // null keeps the image
    let inside = 0, outsideChanged = 0, outside = 0;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const u = ((x + 0.5) / 32) * 2 - 1, v = ((y + 0.5) / 32) * 2 - 1;
      const d = Math.hypot(u - sc.cx, v - sc.cy) / sc.scale; // the circle has radius 0.9 in its frame
      for (let c = 0; c < 3; c++) {
        const k = c * 1024 + y * 32 + x;
        if (d < 0.9 - 2 / 32 / sc.scale) {
          expect(seen[k]).toBe(rows[0][k]);
          inside++;
        } else if (d > 0.9 + 2 / 32 / sc.scale) {
          outside++;
          if (Math.abs(seen[k] - rows[0][k]) > 1e-3) outsideChanged++;
        }
      }
    }
    expect(inside).toBeGreaterThan(30);
    expect(outsideChanged).toBeGreaterThan(0.9 * outside);
  });

  it('the background augmentation re-renders a view with probability `background`, from the synthetic data only', () => {
    const spec = { kind: 'synthetic' as const, options: { size: 16, seed: 3 } };
    const calls: Array<{ start: number; rand: Array<(() => number) | null> }> = [];
    const real = redrawMaker(spec)!;
    const redraw: Redraw = (start, rand) => {
      calls.push({ start, rand });
      return real(start, rand);
    };
    const raw = batchMaker(spec)(2, 8);
    const views = (background: number) => stepViews(raw, viewPlan([SIMCLR_AUGMENT, SIMCLR_AUGMENT], { background }, 0, 3, 16, 8), 2, redraw);
    const on = views(1);
    expect(calls.map((c) => c.start)).toEqual([16, 16]); // step 2 of batch 8, both views
    expect(calls.every((c) => c.rand.length === 8 && c.rand.every((f) => typeof f === 'function'))).toBe(true);
    expect(views(1)).toEqual(on);
    calls.length = 0;
    views(0.5);
    const drawn = calls.flatMap((c) => c.rand).filter((f) => f !== null).length;
    expect(drawn).toBeGreaterThan(0);
    expect(drawn).toBeLessThan(16);
    calls.length = 0;
    expect(views(0)).not.toEqual(on);
    expect(calls).toHaveLength(0);
    expect(redrawMaker({ kind: 'sample', images: new Float32Array(3 * 16 * 16), n: 1, per: 3 * 16 * 16, seed: 0 })).toBeUndefined();
  });

  it('parses synthetic:k=v options and names a bad key', () => {
    const d = parseSynthetic('synthetic:size=24,classes=3,bank=10,test=5,heldout=0', 0);
    expect([d.size, d.classes, d.bankSize, d.testSize, d.heldOut]).toEqual([24, 3, 10, 5, false]);
    expect(() => parseSynthetic('synthetic:size=abc', 0)).toThrow(/for data synthetic:size but received "abc"/);
    expect(() => parseSynthetic('synthetic:classes=9', 0)).toThrow(/SyntheticDataset options.classes/);
  });
});

describe('augmentations', () => {
  const img = new SyntheticDataset({ size: 16 }).batch('train', 0, 1).images;
  it('are deterministic per seed, differ across seeds, stay in [0, 1]', () => {
    const out = (k: number) => {
      const o = new Float32Array(img.length);
      augment(img, 16, 16, o, 16, new Rng(1, 21, k), { ...SIMCLR_AUGMENT, blurProb: 1, solarizeProb: 0.5 });
      return o;
    };
    expect(out(3)).toEqual(out(3));
    expect(out(3)).not.toEqual(out(4));
    for (let k = 0; k < 20; k++) expect(out(k).every((v) => v >= 0 && v <= 1)).toBe(true);
  });
  it('with every transform off and the full crop, return the image', () => {
    const o = new Float32Array(img.length);
    const none = { cropScale: [1, 1] as [number, number], jitter: 0, jitterProb: 0, grayProb: 0, blurProb: 0, solarizeProb: 0, flipProb: 0 };
    // scale 1 with aspect != 1 never fits; torchvision then falls back to the whole image.
    augment(img, 16, 16, o, 16, new Rng(0, 21, 0), none);
    let err = 0;
    for (let i = 0; i < img.length; i++) err = Math.max(err, Math.abs(o[i] - img[i]));
    expect(err).toBeLessThan(1e-6);
  });
  it('rotate turns the image about the crop center; hue 0.5 reaches any hue', () => {
    // A centered disc on a flat background is unchanged by any rotation (up to interpolation);
    // an off-center one is not.
    const S = 32, disc = (cx: number) => {
      const x = new Float32Array(3 * S * S);
      for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) {
        x[c * S * S + y * S + xx] = Math.hypot(xx + 0.5 - cx, y + 0.5 - S / 2) < 8 ? 0.9 : 0.1;
      }
      return x;
    };
    const off = { cropScale: [1, 1] as [number, number], jitter: 0, hue: null, jitterProb: 0, grayProb: 0, blurProb: 0, solarizeProb: 0, flipProb: 0, background: 0 };
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => m + Math.abs(v - b[i]), 0) / a.length;
    for (const cx of [S / 2, S / 2 + 8]) {
      const src = disc(cx), o = new Float32Array(src.length);
      augment(src, S, S, o, S, new Rng(0, 21, 1), { ...off, rotate: 180 });
      if (cx === S / 2) expect(diff(o, src)).toBeLessThan(0.02);
      else expect(diff(o, src)).toBeGreaterThan(0.05);
    }
    // Pure red through the hue shift alone: hue 0.5 spreads it over the wheel, 0.1 keeps it within 0.1 turn.
    const red = new Float32Array(3 * 16).fill(0);
    red.fill(1, 0, 16);
    const hues = (hue: number | null) => Array.from({ length: 200 }, (_, k) => {
      const o = new Float32Array(red.length);
      augment(red, 4, 4, o, 4, new Rng(0, 21, k), { ...off, jitter: 0, hue, jitterProb: 1 }); // jitter 0: the hue shift alone
      const [r, g, b] = [o[0], o[16], o[32]], mx = Math.max(r, g, b), d = mx - Math.min(r, g, b);
      const h = ((((mx === r ? (g - b) / d : mx === g ? 2 + (b - r) / d : 4 + (r - g) / d) / 6) % 1) + 1) % 1; // HSV hue in turns
      return Math.min(h, 1 - h); // distance from red
    });
    const spread = (h: number[]) => Math.max(...h);
    expect(spread(hues(0.5))).toBeGreaterThan(0.45);
    expect(spread(hues(0.1))).toBeLessThanOrEqual(0.1 + 1e-6);
    expect(spread(hues(0.1))).toBeGreaterThan(0.09);
    expect(spread(hues(null))).toBe(0); // the default 0.2 s with s = 0
  });
});

describe.skipIf(sharp === null)('image folders (sharp)', () => {
  async function makeFolder(): Promise<string> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-folder-'));
    // Two classes that a color feature separates: red and blue images with noise.
    for (const [name, rgb] of [['red', [200, 30, 30]], ['blue', [30, 30, 200]]] as const) {
      fs.mkdirSync(path.join(dir, name));
      for (let i = 0; i < 10; i++) {
        const px = Buffer.alloc(20 * 20 * 3);
        for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, rgb[j % 3] + ((j * 7919 + i * 104729) % 61) - 30));
        await sharp!(px, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(path.join(dir, name, `${i}.png`));
      }
    }
    fs.writeFileSync(path.join(dir, 'red', 'corrupt.png'), Buffer.from('not a png at all'));
    fs.writeFileSync(path.join(dir, 'blue', 'notes.txt'), 'ignored: not an image extension');
    return dir;
  }

  it('decodes in workers, splits 80/20 per class, skips and counts corrupt files', async () => {
    const dir = await makeFolder();
    const src = new FolderSource(dir, { seed: 0, size: 16 });
    expect(src.classNames).toEqual(['blue', 'red']);
    await src.prepare();
    expect(src.warnings).toHaveLength(1);
    expect(src.warnings[0]).toMatch(/skipped 1 of 21 image files .*corrupt\.png/);
    const bank = await src.bank(), val = await src.test();
    expect([bank.n, val.n]).toEqual([16, 4]);
    expect(Array.from(val.labels.object).sort()).toEqual([0, 0, 1, 1]);
    // Channel order: the red class has a high first channel.
    const redIdx = Array.from(bank.labels.object).indexOf(1);
    expect(bank.images[redIdx * 3 * 256]).toBeGreaterThan(0.5);
    expect((await src.trainBatch(2, 4))).toEqual(await src.trainBatch(2, 4));
  });

  it('trains from a folder; the warning reaches the caller', async () => {
    const dir = await makeFolder();
    const warnings: string[] = [];
    const r = await train({ recipe: 'simclr', data: dir, steps: 2, batch: 8, eval: ['knn'], flags: { dim: 32, depth: 1, heads: 2 }, onWarning: (w) => warnings.push(w) });
    expect(warnings[0]).toMatch(/skipped 1 of 21/);
    expect(r.knnTop1).toBeGreaterThanOrEqual(0);
    expect(r.perFactor).toBeNull();
  });

  it('names what is wrong with a bad folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-folder-'));
    expect(() => listImageFolder(dir)).toThrow(/for data but received .*\(0 class sub-folders\)/);
    fs.mkdirSync(path.join(dir, 'a'));
    fs.mkdirSync(path.join(dir, 'b'));
    fs.writeFileSync(path.join(dir, 'a', 'x.png'), '');
    expect(() => listImageFolder(dir)).toThrow(/no image files .* in "b"/);
    expect(() => listImageFolder(path.join(dir, 'a', 'x.png'))).toThrow(/not a directory/);
  });
});
