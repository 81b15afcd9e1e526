#!/usr/bin/env node
// The selfsup side of scripts/pingpong.py: reads one command per line on stdin ("<row> <reps>
// <plain|tidy>"), runs that row reps times, and answers one line of JSON with the times in ms.
// Run by pingpong.py, never alone.
'use strict';
const fs = require('fs');
const path = require('path');
const distPath = path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const s = require(distPath);
const { randn, F, tensor } = s;

const shp = [64, 196, 384];
const x = randn(shp, { seed: 1 }), y = randn(shp, { seed: 2 }), bias = randn([384], { seed: 3 });
const w = randn(shp, { seed: 4, requiresGrad: true }), g = randn(shp, { seed: 5 });
w.mul(2).backward(g);
const sw = randn(shp, { seed: 6, requiresGrad: true });
const [B, N, D, K] = [64, 196, 384, 49];
const xg = randn([B, N, D], { seed: 9, requiresGrad: true });
const idx = new Int32Array(B * K);
for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) idx[b * K + k] = (k * 4 + b) % N;
const it = tensor(idx, [B, K], { dtype: 'int32' });
const rows = {
  add: () => x.add(y),
  mul: () => x.mul(1.5),
  bias: () => x.add(bias),
  sum: () => x.sum(),
  'sum(-1)': () => x.sum(-1),
  'sum([0,1])': () => x.sum([0, 1]),
  softmax: () => x.softmax(-1),
  gradacc: () => w.mul(2).backward(g),
  'softmax-fb': () => { sw.grad = null; sw.softmax(-1).backward(g); },
  gather: () => { xg.grad = null; F.gatherTokens(xg, it).sum().backward(); },
};
// The fused ops through autograd (the user-path table's rows; run them with fewer --reps).
for (const [B, H, N, d] of [[8, 6, 197, 64], [4, 12, 197, 64], [1, 8, 1024, 64]]) {
  const o = { requiresGrad: true };
  const q = randn([B, H, N, d], { seed: 10, ...o }), k = randn([B, H, N, d], { seed: 11, ...o }), v = randn([B, H, N, d], { seed: 12, ...o });
  rows[`attention-B${B}H${H}N${N}`] = () => { q.grad = k.grad = v.grad = null; F.attention(q, k, v).sum().backward(); };
}
for (const [N, D] of [[256, 128], [1024, 256]]) {
  const z1 = randn([N, D], { seed: 13, requiresGrad: true }), z2 = randn([N, D], { seed: 14, requiresGrad: true });
  rows[`infoNCE-N${N}D${D}`] = () => { z1.grad = z2.grad = null; F.infoNCE(z1, z2).backward(); };
}

// The ViT training steps of `selfsup bench vit_step` (tiny-b64, s64-b32): zeroGrad, forward and
// backward inside tidy(), then AdamW, as the bench and `selfsup train` run a step. These rows
// manage their own scope (the optimizer's state must outlive it), so --mode does not wrap them.
const { VisionTransformer } = require(path.join(path.dirname(require.resolve(distPath)), 'nn', 'vit.js'));
const { AdamW } = require(path.join(path.dirname(require.resolve(distPath)), 'optim', 'adamw.js'));
const ownScope = new Set();
for (const [name, c] of [['vit-tiny-b64', { batch: 64, image: 32, dim: 192, heads: 3 }], ['vit-s64-b32', { batch: 32, image: 64, dim: 384, heads: 6 }]]) {
  let st = null;
  const init = () => {
    const model = new VisionTransformer({ imageSize: c.image, patchSize: 8, inChannels: 3, dim: c.dim, depth: 4, heads: c.heads, dtype: 'float32', seed: 0 });
    return { model, opt: new AdamW(model.parameters(), { lr: 1e-4 }), x: randn([c.batch, 3, c.image, c.image], { seed: 1 }) };
  };
  rows[name] = () => {
    st ??= init();
    s.tidy(() => { st.opt.zeroGrad(); st.model.forward(st.x).tokens.pow(2).mean().backward(); });
    st.opt.step();
  };
  rows[`${name}-fwd`] = () => {
    st ??= init();
    s.tidy(() => s.noGrad(() => st.model.forward(st.x).tokens.pow(2).mean().item()));
  };
  ownScope.add(name).add(`${name}-fwd`);
}

const buf = Buffer.alloc(1 << 16);
let pending = '';
function readLine() {
  for (;;) {
    const nl = pending.indexOf('\n');
    if (nl >= 0) { const line = pending.slice(0, nl); pending = pending.slice(nl + 1); return line; }
    let n;
    try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) { if (e.code === 'EAGAIN') continue; throw e; }
    if (n === 0) return null;
    pending += buf.toString('utf8', 0, n);
  }
}
process.stdout.write(JSON.stringify({ ready: Object.keys(rows) }) + '\n');
for (let line; (line = readLine()) !== null;) {
  const [name, repsStr, mode] = line.trim().split(/\s+/);
  const fn = rows[name], reps = Number(repsStr);
  const run = mode === 'tidy' && !ownScope.has(name) ? () => s.tidy(() => { fn(); }) : fn;
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    run();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.writeSync(1, JSON.stringify(ts) + '\n');
}
