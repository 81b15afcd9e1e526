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
import { SyntheticDataset, FACTORS, FACTOR_CLASSES, TEXTURES } from '../lib/data/synthetic';
import { augment, Rng, SIMCLR_AUGMENT } from '../lib/data/augment';
import { FolderSource, listImageFolder } from '../lib/data/folder';
import { parseSynthetic } from '../lib/data/source';
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
