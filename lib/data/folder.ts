/**
 * Image folders: one sub-folder per class (`data/cat/*.jpg`, `data/dog/*.png`), decoded and
 * resized (center "cover" crop to size x size, RGB) by sharp, the libvips binding, an optional
 * dependency. Decoding runs in worker threads, all files once at start (then cached), so the file
 * list, the split and the skipped files are known before step 1 and a run is reproducible.
 *
 * A deterministic 80/20 split per class (by seed): the 80% are the training images and the
 * labelled bank (kNN memory, linear-probe training set), the 20% the validation images that
 * kNN and the probe report on. Files that fail to decode are skipped and counted in one warning.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SelfsupError } from '../errors';
import { Rng } from './augment';
import type { DataSource, LabelledSet } from './source';
import { sampleBatch, type BatchSpec } from './views';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);
const SPLIT_STREAM = 31;

export interface FolderOptions {
  seed: number;
  /** Side of the decoded square images (default 32). */
  size?: number;
  /** Fraction of each class held out for validation (default 0.2). */
  valFraction?: number;
  /** Decoding worker threads (default min(4, cores)). */
  workers?: number;
}

function bad(dir: string, why: string): SelfsupError {
  return new SelfsupError('ERR_INVALID_ARGUMENT', `Expected a folder with one sub-folder of images per class (at least 2) for data but received "${dir}" (${why})`);
}

/** Class folders and their image files, sorted, or an error saying what is wrong with `dir`. */
export function listImageFolder(dir: string): { classes: string[]; files: string[][] } {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw bad(dir, 'no such file or directory');
  }
  if (!st.isDirectory()) throw bad(dir, 'not a directory');
  const classes = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classes.length < 2) throw bad(dir, `${classes.length} class sub-folder${classes.length === 1 ? '' : 's'}`);
  const files = classes.map((c) => fs.readdirSync(path.join(dir, c)).filter((f) => IMAGE_EXT.has(path.extname(f).toLowerCase())).sort().map((f) => path.join(dir, c, f)));
  const empty = classes.filter((_, i) => files[i].length === 0);
  if (empty.length) throw bad(dir, `no image files (${[...IMAGE_EXT].join(', ')}) in ${empty.map((c) => `"${c}"`).join(', ')}`);
  return { classes, files };
}

// The decoding worker: sharp resolved by the parent (so it loads from the package's node_modules).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sharp = require(workerData.sharp);
sharp.concurrency(1);
parentPort.on('message', async ({ id, file, size }) => {
  try {
    const buf = await sharp(file).rotate().resize(size, size, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    if (buf.length !== size * size * 3) throw new Error('unexpected decoded size ' + buf.length);
    const out = new Float32Array(3 * size * size);
    const P = size * size;
    for (let i = 0; i < P; i++) for (let c = 0; c < 3; c++) out[c * P + i] = buf[i * 3 + c] / 255;
    parentPort.postMessage({ id, data: out }, [out.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});
`;

/** Decodes files to [3, size, size] float arrays in worker threads; null for files that fail. */
export async function decodeImages(files: string[], size: number, workers = Math.min(4, os.cpus().length)): Promise<Array<Float32Array | null>> {
  let sharpPath: string;
  try {
    sharpPath = require.resolve('sharp');
  } catch {
    throw new SelfsupError('ERR_UNSUPPORTED', 'Expected the optional dependency sharp for image-folder data but received nothing (npm install sharp)');
  }
  const out: Array<Float32Array | null> = new Array(files.length).fill(null);
  const pool = Array.from({ length: Math.max(1, Math.min(workers, files.length)) }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { sharp: sharpPath } }));
  let next = 0;
  try {
    await Promise.all(pool.map((w) => new Promise<void>((resolve, reject) => {
      const send = () => {
        if (next >= files.length) return resolve();
        const id = next++;
        w.postMessage({ id, file: files[id], size });
      };
      w.on('message', (m: { id: number; data?: Float32Array; error?: string }) => {
        out[m.id] = m.data ?? null;
        send();
      });
      w.on('error', reject);
      send();
    })));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return out;
}

export class FolderSource implements DataSource {
  readonly name: string;
  readonly imageSize: number;
  readonly channels = 3;
  readonly classes: Record<string, number>;
  readonly classNames: string[];
  readonly warnings: string[] = [];
  private readonly seed: number;
  private readonly valFraction: number;
  private readonly workers: number | undefined;
  private readonly files: string[][];
  private loaded: Promise<{ train: LabelledSet; val: LabelledSet }> | null = null;
  private train: LabelledSet | null = null;

  constructor(dir: string, options: FolderOptions) {
    const { classes, files } = listImageFolder(dir);
    this.name = dir;
    this.classNames = classes;
    this.files = files;
    this.classes = { object: classes.length };
    this.seed = options.seed;
    this.imageSize = options.size ?? 32;
    this.valFraction = options.valFraction ?? 0.2;
    this.workers = options.workers;
  }

  /** Decodes everything once; the split is per class, by a seeded shuffle of the sorted files. */
  load(): Promise<{ train: LabelledSet; val: LabelledSet }> {
    this.loaded ??= (async () => {
      const all = this.files.flat();
      const decoded = await decodeImages(all, this.imageSize, this.workers);
      const skipped = all.filter((_, i) => decoded[i] === null);
      if (skipped.length) {
        const names = skipped.slice(0, 5).map((f) => path.relative(this.name, f)).join(', ');
        this.warnings.push(`skipped ${skipped.length} of ${all.length} image files that could not be decoded (${names}${skipped.length > 5 ? ', ...' : ''})`);
      }
      const train: Array<[Float32Array, number]> = [], val: Array<[Float32Array, number]> = [];
      let k = 0;
      this.files.forEach((list, c) => {
        const good = list.map(() => decoded[k++]).filter((d): d is Float32Array => d !== null);
        const rng = new Rng(this.seed, SPLIT_STREAM, c);
        for (let i = good.length - 1; i > 0; i--) {
          const j = Math.floor(rng.next() * (i + 1));
          [good[i], good[j]] = [good[j], good[i]];
        }
        const nVal = good.length >= 2 ? Math.max(1, Math.round(good.length * this.valFraction)) : 0;
        good.forEach((img, i) => (i < nVal ? val : train).push([img, c]));
      });
      if (train.length < 2 || val.length < 1) {
        throw bad(this.name, `${train.length + val.length} decodable images; at least 2 per class are needed`);
      }
      this.train = pack(train, this.imageSize, true);
      return { train: this.train, val: pack(val, this.imageSize, false) };
    })();
    return this.loaded;
  }

  async prepare(): Promise<void> {
    await this.load();
  }

  async trainBatch(step: number, batch: number): Promise<Float32Array> {
    const { train } = await this.load();
    return sampleBatch(train.images, train.n, 3 * this.imageSize * this.imageSize, this.seed, step, batch);
  }

  /** The decoded training images live in a SharedArrayBuffer: prefetch workers sample them in place. */
  batchSpec(): BatchSpec | undefined {
    const t = this.train;
    return t ? { kind: 'sample', images: t.images, n: t.n, per: 3 * this.imageSize * this.imageSize, seed: this.seed } : undefined;
  }

  async bank(): Promise<LabelledSet> {
    return (await this.load()).train;
  }

  async test(): Promise<LabelledSet> {
    return (await this.load()).val;
  }
}

function pack(items: Array<[Float32Array, number]>, S: number, shared: boolean): LabelledSet {
  const per = 3 * S * S;
  const bytes = items.length * per * Float32Array.BYTES_PER_ELEMENT;
  const images = new Float32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const object = new Int32Array(items.length);
  items.forEach(([img, c], i) => {
    images.set(img, i * per);
    object[i] = c;
  });
  return { images, n: items.length, labels: { object } };
}
