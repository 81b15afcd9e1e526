/**
 * train(): the loss goes down, a resumed run reproduces the uninterrupted one bit for bit, the
 * float32 losses of simclr and vicreg match a float64 run, and bad input names the argument.
 * Tiny models (width 32, one block) on 16 px synthetic images: each run takes about a second.
 */
import '../lib/tensor-methods'; // the Tensor op methods, as the package entry attaches them
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { train, type TrainOptions } from '../lib/train/train';
import { RECIPES } from '../lib/train/registry';
import { readSafetensorsFile } from '../lib/nn/safetensors';
import { setNumThreads } from '../lib/info';
import { Tensor } from '../lib/tensor';
import { normwiseRelErr } from './helpers';

const TINY = { dim: 32, depth: 1, heads: 2 };
const DATA = 'synthetic:size=16,bank=200,test=100';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-train-'));
}

function run(o: Partial<TrainOptions>) {
  return train({ recipe: 'simclr', data: DATA, steps: 6, batch: 16, seed: 3, eval: [], flags: TINY, ...o });
}

describe('train', () => {
  setNumThreads(2); // bit-reproducibility is promised at a fixed thread count

  it('lowers the simclr loss over 40 steps and evaluates at the end', async () => {
    const r = await run({ steps: 40, batch: 32, eval: ['knn', 'linear', 'rankme'] });
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(r.losses).toHaveLength(40);
    expect(mean(r.losses.slice(-8))).toBeLessThan(mean(r.losses.slice(0, 8)) - 0.05);
    for (const v of [r.knnTop1!, r.linearTop1!]) expect(v >= 0 && v <= 1).toBe(true);
    expect(r.rankme!).toBeGreaterThan(1);
    expect(r.rankme!).toBeLessThanOrEqual(32);
    // Guillotine depths: each block, the backbone output, each projector layer.
    expect(r.probes.map((p) => p.depth)).toEqual(['backbone', 'block1', 'projector1', 'projector2']);
    expect(Object.keys(r.perFactor!)).toEqual(['object', 'color', 'size', 'rotation', 'position', 'background', 'lighting']);
  });

  for (const recipe of ['simclr', 'msn', 'ijepa']) {
    it(`${recipe}: resuming from a checkpoint reproduces the uninterrupted losses exactly`, async () => {
      const flags = recipe === 'ijepa' ? { ...TINY, stochasticPositions: true } : TINY;
      const full = await run({ recipe, flags, out: tmp() });
      const dir = tmp();
      const first = await run({ recipe, flags, out: dir, checkpointEvery: 3, stopAfter: 3 });
      expect(first.losses).toEqual(full.losses.slice(0, 3));
      const ck = readSafetensorsFile(path.join(dir, 'checkpoint.safetensors'));
      expect(JSON.parse(ck.metadata.selfsup).step).toBe(3);
      expect([...ck.tensors.keys()].some((k) => k.startsWith('optim.') && k.endsWith('.expAvg'))).toBe(true);
      const rest = await run({ recipe, flags, resume: dir });
      expect(rest.startStep).toBe(3);
      expect(rest.losses).toEqual(full.losses.slice(3));
      const log = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(log.filter((e) => e.type === 'step').map((e) => e.loss)).toEqual(full.losses);
    });
  }

  for (const recipe of ['simclr', 'vicreg']) {
    it(`${recipe}: float32 losses match a float64 run for 20 steps (normwise 1e-4)`, async () => {
      const o = { recipe, steps: 20, batch: 16 };
      const f32 = await run(o);
      const f64 = await run({ ...o, dtype: 'float64' });
      expect(normwiseRelErr(f32.losses, f64.losses)).toBeLessThan(1e-4);
    });
  }

  it('every recipe runs and returns finite losses', async () => {
    for (const recipe of Object.keys(RECIPES)) {
      const r = await run({ recipe, steps: 2, batch: 8 });
      expect(r.losses.every(Number.isFinite), recipe).toBe(true);
    }
  });

  it('names the argument on bad input', async () => {
    await expect(run({ recipe: 'simclrr' })).rejects.toThrow(/for recipe but received "simclrr"/);
    await expect(run({ steps: 0 })).rejects.toThrow(/for train options.steps/);
    await expect(run({ data: 'synthetic:colour=3' })).rejects.toThrow(/data synthetic:\.\.\. but received "colour=3"/);
    await expect(run({ data: path.join(tmp(), 'missing') })).rejects.toThrow(/sub-folder of images per class .* for data but received .*no such file/);
    const file = path.join(tmp(), 'a-file');
    fs.writeFileSync(file, '');
    await expect(run({ out: path.join(file, 'run') })).rejects.toThrow(/writable directory for out but received/);
    await expect(run({ resume: tmp() })).rejects.toThrow(/checkpoint.safetensors for resume/);
    await expect(run({ augment: { background: 2 } })).rejects.toThrow(/number in \[0, 1\] for train options.augment.background but received 2/);
    await expect(run({ augment: { hue: 0.7 } })).rejects.toThrow(/for train options.augment.hue but received 0.7/);
    await expect(run({ augment: { rotation: 10 } as never })).rejects.toThrow(/train options.augment/);
    await expect(run({ flags: { ...TINY, stem: 3 } })).rejects.toThrow(/even integer >= 2 \(or 0: no stem\) for train options.flags.stem but received 3/);
    await expect(run({ flags: { ...TINY, repNorm: 'layer' } })).rejects.toThrow(/'batch' or 'none' for train options.flags.repNorm but received "layer"/);
    await expect(run({ flags: { ...TINY, clsToken: 1 } })).rejects.toThrow(/a boolean for train options.flags.clsToken but received 1/);
    await expect(run({ flags: { ...TINY, projectorLayers: 0 } })).rejects.toThrow(/integer >= 1 for train options.flags.projectorLayers but received 0/);
    await expect(run({ flags: { ...TINY, projectorWidth: 2.5 } })).rejects.toThrow(/positive integer for train options.flags.projectorWidth but received 2.5/);
  });

  it('simclr ends its backbone in a BatchNorm: centered features, running statistics checkpointed; flags change the head and pooling', async () => {
    const ctx = { imageSize: 16, channels: 3, seed: 1, dtype: 'float32' as const, steps: 1, batch: 8, flags: TINY };
    const x = new Tensor(Float32Array.from({ length: 8 * 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.37) + 0.5), [8, 3, 16, 16]);
    // Column means of the backbone output over a batch (train mode): ~0 with the BatchNorm, not without.
    const colMean = (flags: Record<string, unknown>) => {
      const rep = RECIPES.simclr.build({ ...ctx, flags: { ...TINY, ...flags } }).features(x)[0].x;
      const [N, D] = rep.shape, d = rep.data;
      let worst = 0;
      for (let j = 0; j < D; j++) {
        let m = 0;
        for (let i = 0; i < N; i++) m += d[i * D + j] / N;
        worst = Math.max(worst, Math.abs(m));
      }
      return worst;
    };
    expect(colMean({})).toBeLessThan(1e-5);
    expect(colMean({ repNorm: 'none' })).toBeGreaterThan(1e-2);
    const dir = tmp();
    await run({ steps: 2, out: dir });
    const keys = [...readSafetensorsFile(path.join(dir, 'checkpoint.safetensors')).tensors.keys()];
    expect(keys).toContain('model.repNorm.running_mean');
    const m = RECIPES.simclr.build({ ...ctx, flags: { ...TINY, projectorLayers: 3, projectorWidth: 24, clsToken: false } });
    expect(m.features(x).map((d) => `${d.name}:${d.x.shape[1]}`)).toEqual(['backbone:32', 'block1:32', 'projector1:24', 'projector2:24', 'projector3:128']);
    expect((m.modules.backbone as unknown as { hasClsToken: boolean }).hasClsToken).toBe(false);
  });
});
