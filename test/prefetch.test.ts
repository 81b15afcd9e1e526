/**
 * Prefetch (lib/data/prefetch.ts): the views made ahead in worker threads are the main thread's
 * bit for bit, for synthetic and image-folder data; runs with prefetch 0 and 2 (and a periodic
 * evaluation) give the same losses; the workers end when a run fails, and a killed CLI run exits.
 * The workers run the compiled dist/ (npm test builds it first).
 */
import '../lib/tensor-methods'; // the Tensor op methods, as the package entry attaches them
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type TrainOptions } from '../lib/train/train';
import { Prefetcher, livePrefetchWorkers } from '../lib/data/prefetch';
import { viewPlan } from '../lib/data/views';
import { SIMCLR_AUGMENT, BYOL_AUGMENT } from '../lib/data/augment';
import { parseSynthetic, SyntheticSource, type DataSource } from '../lib/data/source';
import { FolderSource } from '../lib/data/folder';
import { setNumThreads } from '../lib/info';
import { runCli } from './helpers';

let sharp: ((input: Buffer, o: object) => { png(): { toFile(f: string): Promise<unknown> } }) | null = null;
try {
  sharp = require('sharp');
} catch {
  sharp = null; // optional dependency: the folder cases are skipped without it
}

const TINY = { dim: 32, depth: 1, heads: 2 };
const DATA = 'synthetic:size=16,bank=100,test=50';
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-prefetch-'));
const run = (o: Partial<TrainOptions>) => train({ recipe: 'simclr', data: DATA, steps: 6, batch: 8, seed: 4, eval: [], flags: TINY, ...o });

async function takeAll(src: DataSource, depth: number, first: number, end: number, workers?: number, shard: [number, number] = [0, 6]): Promise<Float32Array[][]> {
  const plan = viewPlan([SIMCLR_AUGMENT, BYOL_AUGMENT[1], null], { jitter: 0.7 }, 9, 3, src.imageSize, 6, ...shard);
  const p = new Prefetcher(src, plan, depth, first, end, workers);
  const out: Float32Array[][] = [];
  try {
    for (let s = first; s < end; s++) out.push(await p.take(s));
  } finally {
    await p.close();
  }
  return out;
}

/** Index of the first step whose views differ in any bit (-1: none); fast where toEqual's diff of megabytes is not. */
function firstDifference(a: Float32Array[][], b: Float32Array[][]): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return a.findIndex((views, s) => views.length !== b[s].length || views.some((v, k) => !bytes(v).equals(bytes(b[s][k]))));
}

async function pngFolder(n: number, size: number): Promise<string> {
  const dir = tmp();
  for (const [c, rgb] of [[0, [200, 40, 40]], [1, [40, 40, 200]]] as const) {
    fs.mkdirSync(path.join(dir, `class${c}`));
    for (let i = 0; i < n; i++) {
      const px = Buffer.alloc(size * size * 3);
      for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, rgb[j % 3] + ((j * 7919 + i * 104729) % 81) - 40));
      await sharp!(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(dir, `class${c}`, `${i}.png`));
    }
  }
  return dir;
}

describe('prefetch', () => {
  setNumThreads(2);

  it('synthetic: views made ahead in workers equal the main thread\'s, bit for bit, from any first step', async () => {
    const src = new SyntheticSource(parseSynthetic('synthetic:size=16', 2));
    const ref = await takeAll(src, 0, 3, 9);
    expect(ref.map((v) => v.length)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(firstDifference(await takeAll(src, 2, 3, 9), ref)).toBe(-1);
    expect(firstDifference(await takeAll(src, 3, 3, 9, 2), ref)).toBe(-1); // two workers, steps interleaved between them
    expect(firstDifference(ref.slice(1), ref.slice(0, -1))).toBe(0); // consecutive steps do differ
    // A data-parallel rank's shard (images 2-4 of 6): the full batch's views of those images.
    const per = 3 * 16 * 16;
    const shard = ref.map((views) => views.map((v) => v.slice(2 * per, 5 * per)));
    expect(firstDifference(await takeAll(src, 2, 3, 9, 1, [2, 3]), shard)).toBe(-1);
    expect(firstDifference(await takeAll(src, 0, 3, 9, 1, [2, 3]), shard)).toBe(-1);
    expect(livePrefetchWorkers()).toBe(0);
  });

  it.skipIf(sharp === null)('image folder: the workers sample the shared decoded images as the main thread does', async () => {
    const src = new FolderSource(await pngFolder(6, 24), { seed: 1, size: 16 });
    await src.prepare();
    const ref = await takeAll(src, 0, 0, 5);
    expect(firstDifference(await takeAll(src, 2, 0, 5), ref)).toBe(-1);
    const losses0 = (await run({ data: src, prefetch: 0 })).losses;
    expect((await run({ data: src, prefetch: 2 })).losses).toEqual(losses0);
  });

  it('a run gives the same losses with prefetch 0, 1 and 3 and with a periodic evaluation', async () => {
    const ref = (await run({ prefetch: 0 })).losses;
    expect((await run({ prefetch: 1 })).losses).toEqual(ref);
    const r = await run({ prefetch: 3, eval: ['knn', 'rankme'], evalEvery: 2 });
    expect(r.losses).toEqual(ref);
    expect(r.prefetch).toBe(3);
    expect(r.dataWaitSeconds).toBeGreaterThan(0);
  });

  it('ijepa (masks, EMA target): the same losses with prefetch 2 and a periodic evaluation as with neither', async () => {
    const o = { recipe: 'ijepa', flags: { ...TINY, stochasticPositions: true } };
    const ref = (await run({ ...o, prefetch: 0 })).losses;
    expect((await run({ ...o, prefetch: 2, eval: ['knn', 'rankme'], evalEvery: 2 })).losses).toEqual(ref);
  });

  it('a source without a worker spec is prefetched on the main thread, batches still in order', async () => {
    const inner = new SyntheticSource(parseSynthetic(DATA, 4));
    const asked: number[] = [];
    const custom: DataSource = {
      name: 'custom', imageSize: inner.imageSize, channels: 3, classes: inner.classes, warnings: [],
      trainBatch: (step, b) => (asked.push(step), inner.trainBatch(step, b)), bank: () => inner.bank(), test: () => inner.test(),
    };
    const r = await run({ data: custom, prefetch: 2 });
    expect(asked).toEqual([0, 1, 2, 3, 4, 5]);
    // A source without a spec cannot re-render backgrounds: the synthetic run without that augmentation.
    expect(r.losses).toEqual((await run({ prefetch: 0, augment: { background: 0 } })).losses);
  });

  it('the workers end when a run fails: an error in the step loop, and a worker that cannot start', async () => {
    await expect(run({ prefetch: 2, onStep: (p) => { if (p.step === 2) throw new Error('stop at step 2'); } })).rejects.toThrow('stop at step 2');
    expect(livePrefetchWorkers()).toBe(0);
    const inner = new SyntheticSource(parseSynthetic(DATA, 4));
    const broken: DataSource = Object.assign(Object.create(inner), { batchSpec: () => ({ kind: 'synthetic', options: { size: 3 } }) });
    await expect(run({ data: broken, prefetch: 2 })).rejects.toThrow(/SyntheticDataset options.size/);
    expect(livePrefetchWorkers()).toBe(0);
  });

  it('a CLI run killed during prefetch exits at once', async () => {
    const out = tmp();
    const bin = path.resolve(__dirname, '..', 'bin', 'selfsup.js');
    const child = spawn(process.execPath, [bin, 'train', '--recipe', 'simclr', '--data', 'synthetic:size=16,bank=50,test=50', '--steps', '100000', '--batch', '8', '--prefetch', '2', '--eval', 'none', '--out', out], { stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const log = path.join(out, 'log.jsonl');
    for (let i = 0; i < 300 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"type":"step"')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readFileSync(log, 'utf8')).toContain('"type":"step"');
    const t = Date.now();
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(Date.now() - t).toBeLessThan(5000);
  }, 30_000);

  it('names a bad prefetch or eval-every', async () => {
    await expect(run({ prefetch: -1 })).rejects.toThrow(/integer >= 0 for train options.prefetch but received -1/);
    await expect(run({ prefetch: 1.5 })).rejects.toThrow(/for train options.prefetch but received 1.5/);
    await expect(run({ evalEvery: 2, eval: ['linear'] })).rejects.toThrow(/knn or rankme .* for train options.evalEvery/);
    const bad = await runCli('train', ['--recipe', 'simclr', '--steps', '2', '--batch', '8', '--prefetch', 'two']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/integer >= 0 for --prefetch but received "two"/);
    const neg = await runCli('train', ['--recipe', 'simclr', '--steps', '2', '--batch', '8', '--eval-every', '-1']);
    expect(neg.err).toMatch(/integer >= 0 for --eval-every but received "-1"/);
  });
});
