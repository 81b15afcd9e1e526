#!/usr/bin/env node
// The user-path timing table: what a user's code runs through the public API (Tensor methods, F,
// backward(), an optimizer), medians in ms. Point it at any build of the package to compare two
// versions in one session (same machine, same load):
//   node scripts/user-path.js [distIndex=dist/lib/index.js] [--json] [--tidy]
// With SELFSUP_ADDON=<addon> to choose the native build. Rows match bench/workloads/tensor.ts and
// the --vs autograd rows of the fused ops. --tidy runs each timed call inside tidy() (builds that
// have it), so what the call made goes back to the storage pool at once, as PyTorch frees it.
'use strict';
const path = require('path');
const args = process.argv.slice(2);
const json = args.includes('--json');
const dist = path.resolve(args.find((a) => !a.startsWith('--')) || path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const s = require(dist);
const { randn, F, tensor, noGrad } = s;

function time(fn, minMs = 400, minReps = 5) {
  for (let i = 0; i < 2; i++) fn();
  const ts = [];
  const start = Date.now();
  while (ts.length < minReps || Date.now() - start < minMs) {
    const t0 = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (ts.length > 2000) break;
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

const rows = [];
const scoped = args.includes('--tidy') && typeof s.tidy === 'function';
const row = (name, fn, opts) => rows.push({ name, ms: time(scoped ? () => s.tidy(() => { fn(); }) : fn, opts && opts.minMs) });

const shp = [64, 196, 384];
const x = randn(shp, { seed: 1 }), y = randn(shp, { seed: 2 }), bias = randn([384], { seed: 3 });
row('add [64,196,384]', () => x.add(y));
row('mul 1.5', () => x.mul(1.5));
row('add bias[384]', () => x.add(bias));
row('sum', () => x.sum());
row('sum(-1)', () => x.sum(-1));
row('sum([0,1])', () => x.sum([0, 1]));
row('softmax(-1)', () => x.softmax(-1));
const w = randn(shp, { seed: 4, requiresGrad: true }), g = randn(shp, { seed: 5 });
w.mul(2).backward(g);
row('grad accumulation w.mul(2).backward(g)', () => w.mul(2).backward(g));
const sw = randn(shp, { seed: 6, requiresGrad: true });
row('softmax(-1) fwd+bwd', () => { sw.grad = null; sw.softmax(-1).backward(g); });
const a4 = randn([4, 4], { seed: 7 }), b4 = randn([4, 4], { seed: 8 });
row('1000 x small add [4,4]', () => { for (let i = 0; i < 1000; i++) a4.add(b4); });

{
  const [B, N, D, K] = [64, 196, 384, 49];
  const xg = randn([B, N, D], { seed: 9, requiresGrad: true });
  const idx = new Int32Array(B * K);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) idx[b * K + k] = (k * 4 + b) % N;
  const it = tensor(idx, [B, K], { dtype: 'int32' });
  row('gatherTokens(x, idx).sum().backward() B64 N196 D384 K49', () => { xg.grad = null; F.gatherTokens(xg, it).sum().backward(); });
}
for (const [B, H, N, d] of [[8, 6, 197, 64], [4, 12, 197, 64], [1, 8, 1024, 64]]) {
  const o = { requiresGrad: true };
  const q = randn([B, H, N, d], { seed: 10, ...o }), k = randn([B, H, N, d], { seed: 11, ...o }), v = randn([B, H, N, d], { seed: 12, ...o });
  row(`attention(q,k,v).sum().backward() B${B} H${H} N${N} d${d}`, () => { q.grad = k.grad = v.grad = null; F.attention(q, k, v).sum().backward(); });
}
for (const [N, D] of [[256, 128], [1024, 256]]) {
  const z1 = randn([N, D], { seed: 13, requiresGrad: true }), z2 = randn([N, D], { seed: 14, requiresGrad: true });
  row(`infoNCE(a,b).backward() N${N} D${D}`, () => { z1.grad = z2.grad = null; F.infoNCE(z1, z2).backward(); });
}
{
  // A ViT step as a user writes it: 64x64 images, patch 8, dim 256, depth 3, batch 32, two views, InfoNCE, AdamW.
  const { VisionTransformer } = require(path.join(path.dirname(dist), 'nn', 'vit.js'));
  const { AdamW } = require(path.join(path.dirname(dist), 'optim', 'adamw.js'));
  const model = new VisionTransformer({ imageSize: 64, patchSize: 8, inChannels: 3, dim: 256, depth: 3, heads: 4, dtype: 'float32', seed: 0 });
  const opt = new AdamW(model.parameters(), { lr: 1e-4 });
  const v1 = randn([32, 3, 64, 64], { seed: 15 }), v2 = randn([32, 3, 64, 64], { seed: 16 });
  const pool = (t) => t.mean(1);
  row('ViT step: two views, InfoNCE, backward, AdamW (64px, p8, dim 256, depth 3, B32)', () => {
    opt.zeroGrad();
    const loss = F.infoNCE(pool(model.forward(v1).tokens), pool(model.forward(v2).tokens));
    loss.backward();
    opt.step();
  }, { minMs: 3000 });
  row('ViT forward only (same model, one view, noGrad)', () => noGrad(() => model.forward(v1)), { minMs: 2000 });
}

if (json) console.log(JSON.stringify({ dist, tidy: scoped, rows }, null, 1));
else for (const r of rows) console.log(`${r.ms.toFixed(3).padStart(10)} ms  ${r.name}`);
