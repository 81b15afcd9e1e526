#!/usr/bin/env node
// In-process A/B of the user-path rows plain and inside tidy(): each row is timed both ways,
// alternating, three rounds of 100-call medians; prints the medians of the rounds as JSON
// ({"row|plain": ms, "row|tidy": ms}). Run scripts/tidy_ab_torch.py between runs for the peer:
//   node scripts/tidy-ab.js [distIndex=dist/lib/index.js]
'use strict';
const path = require('path');
const s = require(path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist', 'lib', 'index.js')));
const { randn, F, tensor } = s;
const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
function time(fn, reps) { for (let i = 0; i < 5; i++) fn(); const r = []; for (let i = 0; i < reps; i++) { const a = process.hrtime.bigint(); fn(); r.push(Number(process.hrtime.bigint() - a) / 1e6); } return med(r); }
const shp = [64, 196, 384];
const x = randn(shp, { seed: 1 }), y = randn(shp, { seed: 2 }), bias = randn([384], { seed: 3 });
const w = randn(shp, { seed: 4, requiresGrad: true }), g = randn(shp, { seed: 5 });
w.mul(2).backward(g);
const sw = randn(shp, { seed: 6, requiresGrad: true });
const a4 = randn([4, 4], { seed: 7 }), b4 = randn([4, 4], { seed: 8 });
const [B, N, D, K] = [64, 196, 384, 49];
const xg = randn([B, N, D], { seed: 9, requiresGrad: true });
const idx = new Int32Array(B * K);
for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) idx[b * K + k] = (k * 4 + b) % N;
const it = tensor(idx, [B, K], { dtype: 'int32' });
const rows = {
  'add': () => x.add(y), 'mul 1.5': () => x.mul(1.5), 'add bias': () => x.add(bias), 'sum': () => x.sum(), 'sum(-1)': () => x.sum(-1),
  'softmax': () => x.softmax(-1), 'grad accum': () => w.mul(2).backward(g), 'softmax fwd+bwd': () => { sw.grad = null; sw.softmax(-1).backward(g); },
  '1000 small adds': () => { for (let i = 0; i < 1000; i++) a4.add(b4); },
  'gatherTokens fwd+bwd': () => { xg.grad = null; F.gatherTokens(xg, it).sum().backward(); },
};
const res = {};
for (let r = 0; r < 3; r++) for (const [n, f] of Object.entries(rows)) for (const mode of ['plain', 'tidy']) {
  const fn = mode === 'plain' ? f : () => s.tidy(() => { f(); });
  (res[n + '|' + mode] ??= []).push(time(fn, 100));
}
const out = {};
for (const [k, v] of Object.entries(res)) out[k] = med(v);
console.log(JSON.stringify(out));
