#!/usr/bin/env node
// A/B timing of data prefetch in `selfsup train` (the measurements in docs/train.md, "Prefetch"):
// simclr with the default model, batch 128, evaluation off, on (a) an image folder of 512 PNGs at
// 64 px written with sharp into a temp dir (the synthetic renderer's images, one sub-folder per
// shape) and (b) the synthetic data, with prefetch 0 and 2. Each round runs every configuration in
// its own child process, so they interleave and share the machine's background load alike. Per
// configuration: the median step time and the share of the step time the main thread waits on
// data (steps after the first 3), median over the rounds, and the largest relative difference of
// the losses from prefetch 0's first run (the views are bit-identical, test/prefetch.test.ts; the
// loss value itself can differ by an ulp between processes at 2 threads, with or without prefetch).
// Usage: node scripts/prefetch-timing.js [rounds=3] [steps=25] [threads=2]   (needs dist/ and sharp)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const lib = path.join(__dirname, '..', 'dist', 'lib');

if (process.argv[2] === '--child') {
  const [data, prefetch, threads, steps] = process.argv.slice(3);
  const { train } = require(path.join(lib, 'index.js'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-prefetch-timing-'));
  train({ recipe: 'simclr', data, steps: +steps, batch: 128, seed: 0, eval: [], prefetch: +prefetch, threads: +threads, out }).then((r) => {
    const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const st = log.filter((e) => e.type === 'step').slice(3);
    const sum = (a) => a.reduce((x, y) => x + y, 0);
    const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    process.stdout.write(JSON.stringify({
      stepMs: 1000 * med(st.map((s) => s.stepSeconds)),
      waitShare: sum(st.map((s) => s.waitSeconds)) / sum(st.map((s) => s.stepSeconds)),
      losses: r.losses,
    }));
    fs.rmSync(out, { recursive: true, force: true });
  });
  return;
}

async function writeFolder(dir) {
  const { SyntheticDataset } = require(path.join(lib, 'data', 'synthetic.js'));
  const sharp = require('sharp');
  const S = 64, n = 512;
  const b = new SyntheticDataset({ size: S, seed: 7 }).batch('train', 0, n);
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(S * S * 3);
    for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.round(255 * b.images[i * 3 * S * S + c * S * S + p]);
    const cls = path.join(dir, `shape${b.labels.object[i]}`);
    fs.mkdirSync(cls, { recursive: true });
    await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toFile(path.join(cls, `${i}.png`));
  }
}

(async () => {
  const rounds = +(process.argv[2] ?? 3), steps = +(process.argv[3] ?? 25), threads = +(process.argv[4] ?? 2);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-prefetch-folder-'));
  await writeFolder(folder);
  const configs = [];
  for (const [name, data] of [['folder (512 PNG, 64 px)', folder], ['synthetic', 'synthetic']]) {
    for (const prefetch of [0, 2]) configs.push({ name, data, prefetch, runs: [] });
  }
  console.log(`cpu: ${os.cpus()[0].model} x ${os.cpus().length}; threads ${threads}; simclr, batch 128, ${steps} steps; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (let r = 0; r < rounds; r++) {
    for (const c of r % 2 ? [...configs].reverse() : configs) {
      const p = spawnSync(process.execPath, [__filename, '--child', c.data, String(c.prefetch), String(threads), String(steps)], { encoding: 'utf8', env: process.env });
      if (p.status !== 0) throw new Error(p.stderr);
      c.runs.push(JSON.parse(p.stdout));
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log('| data | prefetch | median step (ms) (each round) | main thread waiting on data | max rel. loss difference from prefetch 0 |');
  console.log('|---|---|---|---|---|');
  for (const c of configs) {
    const ref = configs.find((d) => d.data === c.data && d.prefetch === 0).runs[0].losses;
    const diff = Math.max(...c.runs.flatMap((x) => x.losses.map((l, i) => Math.abs(l - ref[i]) / Math.abs(ref[i]))));
    console.log(`| ${c.name} | ${c.prefetch} | ${med(c.runs.map((x) => x.stepMs)).toFixed(0)} (${c.runs.map((x) => x.stepMs.toFixed(0)).join(', ')}) | ${(100 * med(c.runs.map((x) => x.waitShare))).toFixed(1)}% | ${diff.toExponential(1)} |`);
  }
  console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  fs.rmSync(folder, { recursive: true, force: true });
})();
